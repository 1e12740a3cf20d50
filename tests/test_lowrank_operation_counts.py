"""The benchmark's multiply-add counts (benchmarks.bench_lowrank.operation_counts) against a tally.

The tally is independent of the count formulas: it runs the library's actual factored GD step
and upstairs steps on arrays of an ndarray subclass that records the shapes of every matrix
product (and a sparse gradient that records nnz × columns of every sparse product), and
adds up the multiply-adds of the products that involve m or n — the r×r work is left out.
"""

import importlib

import numpy as np
import pytest

from benchmarks.bench_lowrank import (
    _handwritten_upstairs_step,
    arithmetic_floor_ratio,
    operation_counts,
)
from geodln.lowrank import (
    FactoredDLNMetric,
    SparseCompletion,
    bottleneck_factors,
    random_factored_point,
    random_sparse_completion,
    upstairs_gradient,
)
from geodln.lowrank.driver import factored_velocity
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import retract_or_nan

M, N, R, FRACTION = 60, 90, 16, 0.25  # r >= 16: the products-only truncation runs


class Tally(np.ndarray):
    """An ndarray that records ``(a.shape, b.shape, syrk)`` of every matmul it takes part in."""

    log = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = [i.view(np.ndarray) if isinstance(i, Tally) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Tally) else o
                                  for o in kwargs["out"])
        if ufunc is np.matmul and method == "__call__":
            a, b = args
            Tally.log.append((a.shape, b.shape, bool(np.shares_memory(a, b))))
        out = getattr(ufunc, method)(*args, **kwargs)
        return out.view(Tally) if isinstance(out, np.ndarray) else out


class _KeepSubclass:
    """A numpy namespace whose ``asarray`` keeps ndarray subclasses (so the tally survives)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def asarray(a, dtype=None):
        return np.asanyarray(a, dtype)


class CountingGradient:
    """Sparse gradient that records nnz × columns of each product with it or its transpose."""

    def __init__(self, g):
        self.g, self.shape = g, g.shape

    def __matmul__(self, other):
        Tally.log.append(("sparse", self.g.nnz, np.shape(other)[-1]))
        return np.asarray(self.g @ np.asarray(other)).view(Tally)

    @property
    def T(self):  # noqa: N802
        return CountingGradient(self.g.T)


class CountingCompletion(SparseCompletion):
    def gradient_from_residuals(self, res):
        return CountingGradient(super().gradient_from_residuals(res))


@pytest.fixture
def tally(monkeypatch):
    for name in ("geodln.lowrank.tangent", "geodln.lowrank.point", "geodln.lowrank.retraction",
                 "geodln.lowrank.tangent_truncation", "geodln.lowrank.completion",
                 "geodln.lowrank.least_squares", "geodln.lowrank.upstairs", "geodln.factors",
                 "geodln._checks", "geodln.svd_frame"):
        monkeypatch.setattr(importlib.import_module(name), "np", _KeepSubclass())
    Tally.log = []
    loss, _ = random_sparse_completion((M, N), R, fraction=FRACTION, seed=0)
    loss = CountingCompletion((loss.rows, loss.cols), loss.values, (M, N))
    x0 = random_factored_point(M, N, R, seed=1, spectrum=np.linspace(1.0, 0.1, R))
    return loss, x0


def madds(log):
    """Multiply-adds of the logged products that involve m or n (r x r products left out)."""
    total = 0
    for a, b, same in log:
        if a == "sparse":
            total += b * same
        elif {M, N} & set(a + b):
            inner, outer = a[-1], a[-2] * b[-1]
            total += inner * (R * (R + 1) // 2 if same and a[-2] == b[-1] else outer)
    return total


def tallied(fn, loss, *args):
    Tally.log = []
    fn(loss, *args)
    return madds(Tally.log)


def counted(*keys):
    counts = operation_counts(M, N, R, (M * N) // 4)
    return sum(v for k in keys for item, v in counts[k].items() if "r x r" not in item
               and "M^T M" not in item)


def test_factored_step_performs_the_floor_plus_the_explicit_tangent_blocks(tally):
    loss, x0 = tally
    assert loss.n_observed == (M * N) // 4
    x = FactoredPoint(*(a.view(Tally) for a in (x0.u, x0.s, x0.v)), check=False)

    def step(loss, x):
        return retract_or_nan(x, factored_velocity(loss, FactoredDLNMetric(3), x)[1],
                              np.asarray(1e-3))

    assert tallied(step, loss, x) == counted("shared", "floor", "factored_extra")


def test_upstairs_steps_library_and_hand_written(tally):
    loss, x0 = tally
    factors = [w.view(Tally) for w in bottleneck_factors(x0, 3)]
    # the library's step forms W3 W2 once, like the hand-written one
    assert tallied(lambda lo, ws: upstairs_gradient(lo, ws), loss, factors) == counted(
        "shared", "upstairs")
    assert tallied(_handwritten_upstairs_step, loss, factors) == counted("shared", "upstairs")


def test_floor_ratio_is_the_quotient_of_the_sums():
    c = operation_counts(213, 320, 50, 17040)
    total = {k: sum(v.values()) for k, v in c.items()}
    # 213 x 320 with 25 % observed: residuals through the dense m n r product
    assert c["shared"]["residuals on Omega"] == 213 * 320 * 50
    assert c["floor"]["U' = [U, G V] T1"] == 2 * 213 * 50 ** 2
    assert arithmetic_floor_ratio(213, 320, 50, 17040) == pytest.approx(
        (total["shared"] + total["floor"]) / (total["shared"] + total["upstairs"]))
