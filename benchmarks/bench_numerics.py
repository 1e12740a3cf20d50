"""Cost and accuracy of the scale-safe co-metric (the flows' hot path).

Timing: CPU time (``time.process_time``) of interleaved repeats, minimum over rounds, so that
both sides of each ratio are measured in the same run under the same load:

- one 2x2 point: ``SVDFrame(X, check=False).apply(kernel, Z)`` (the unvalidated fast path)
  and the downstairs velocity ``DownstairsField.velocity`` (matrix-completion gradient + the
  co-metric) against one ``numpy.linalg.svd`` of the same point; target <= 3x;
- a batch of 1000 2x2 points: the batched fast path against one batched SVD; target <= 3x.

Accuracy: largest relative error of ``DLNMetric.sharp`` and ``DLNMetric.inner_product`` at
``c * diag(1, 2, 3)`` for c from 1e-200 to 1e200, against the closed form
(lambda_kl = (a - b)/(a^(1/N) - b^(1/N)) evaluated with mpmath at 50 digits).
"""

import os
import time
import timeit

import mpmath
import numpy as np

import geodln
from benchmarks.timing import print_table, write_rows
from geodln.flows.fields import DownstairsField
from geodln.losses import MatrixCompletion
from geodln.spectral import DLNKernel
from geodln.svd_frame import SVDFrame

TARGET = 3.0


def _cpu_times(cases, number, rounds):
    """Minimum CPU seconds per call of each case, interleaved over ``rounds``."""
    best = {name: np.inf for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            t = timeit.Timer(fn, timer=time.process_time).timeit(number=number) / number
            best[name] = min(best[name], t)
    return best


def _timing_rows(quick):
    rng = np.random.default_rng(0)
    kernel = DLNKernel(3)
    x = rng.standard_normal((2, 2))
    z = rng.standard_normal((2, 2))
    loss = MatrixCompletion(mask=np.ones((2, 2), bool), values=rng.standard_normal((2, 2)))
    field = DownstairsField(loss, depth=3)
    y = field.pack(x)
    xb = rng.standard_normal((1000, 2, 2))
    zb = rng.standard_normal((1000, 2, 2))
    number, rounds = (300, 3) if quick else (3000, 7)
    single = _cpu_times(
        {
            "svd": lambda: np.linalg.svd(x),
            "cometric": lambda: SVDFrame(x, check=False).apply(kernel, z),
            "velocity": lambda: field.velocity(y),
        },
        number,
        rounds,
    )
    batch = _cpu_times(
        {
            "svd": lambda: np.linalg.svd(xb),
            "cometric": lambda: SVDFrame(xb, check=False).apply(kernel, zb),
        },
        max(number // 100, 3),
        rounds,
    )
    rows = []
    for label, times, key in (
        ("2x2 co-metric (fast path)", single, "cometric"),
        ("2x2 downstairs velocity", single, "velocity"),
        ("1000 x 2x2 co-metric (fast path)", batch, "cometric"),
    ):
        ratio = times[key] / times["svd"]
        rows.append({"case": label, "time_us": 1e6 * times[key],
                     "svd_us": 1e6 * times["svd"], "target_ratio": TARGET,
                     "measured_ratio": ratio, "met": "met" if ratio <= TARGET else "missed"})
    return rows


def _exact(c, depth):
    mpmath.mp.dps = 50
    s = [mpmath.mpf(c) * k for k in (3, 2, 1)]
    lam = []
    for a in s:
        for b in s:
            a2, b2 = a * a, b * b
            if a2 == b2:
                lam.append(depth * a2 ** (1 - mpmath.mpf(1) / depth))
            else:
                lam.append((a2 - b2) / (mpmath.root(a2, depth) - mpmath.root(b2, depth)))
    return float(max(lam)), float(mpmath.fsum(1 / v for v in lam))


def _accuracy_rows():
    rows = []
    z = np.ones((3, 3))
    d = np.diag([1.0, 2.0, 3.0])
    for depth in (2, 3, 8):
        metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth)
        worst_sharp = worst_inner = 0.0
        for exponent in range(-200, 201, 25):
            c = 10.0**exponent
            sharp_max, inner = _exact(c, depth)
            got_sharp = metric.sharp(z, c * d).max()
            got_inner = float(metric.inner_product(z, z, c * d))
            if 0 < sharp_max < np.inf:
                worst_sharp = max(worst_sharp, abs(got_sharp - sharp_max) / sharp_max)
            if 0 < inner < np.inf:
                worst_inner = max(worst_inner, abs(got_inner - inner) / inner)
        rows.append({"depth": depth, "scales": "1e-200..1e200",
                     "sharp_max_rel_err": worst_sharp, "inner_rel_err": worst_inner})
    return rows


def run(out_dir, quick=False):
    """Run the benchmark, write ``numerics.csv/json`` to ``out_dir`` and print the tables."""
    os.makedirs(out_dir, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = _timing_rows(quick)
    print_table(rows, ["case", "time_us", "svd_us", "target_ratio", "measured_ratio", "met"],
                title=f"co-metric cost vs one SVD (CPU time; load {load:.1f})")
    acc = _accuracy_rows()
    print_table(acc, ["depth", "scales", "sharp_max_rel_err", "inner_rel_err"],
                title="accuracy over the float range (vs mpmath, 50 digits)")
    write_rows(out_dir, "numerics", rows, extra={"accuracy": acc, "load": load})
    return rows
