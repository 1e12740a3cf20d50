"""Property test of the whole public API with bad values (issue 13, "What must hold").

Every public callable of ``geodln.__all__``, ``geodln.init``, ``geodln.losses``,
``geodln.lowrank``, ``geodln.langevin`` and ``geodln.ensemble`` is found by introspection. For
each, a *valid* call is assembled from a table of valid values keyed by parameter name (a 2×2
world: matrices, depth 3, short time spans) with a few per-entry-point overrides; entry points
whose required parameters are not in the table (or whose valid call fails) are listed by
:func:`test_coverage` and must stay few. Hypothesis then replaces one parameter at a time by a
generated bad value (NaN, ±inf, bool, negative, zero, wrong shape, wrong dtype, complex, empty,
string) and the call must either

- raise ``ValueError`` whose message names a real parameter of that entry point, or
- succeed, and then return no NaN when every input was finite;

never any other exception. Bounded: 25 examples per entry point (derandomized
profile of ``conftest.py``): about 20 s on 2 busy cores, well under the 2-minute CI budget.
"""

import inspect
import re
import signal
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import geodln
from geodln import ensemble, init, langevin, losses, lowrank
from geodln.factors import balanced_factors

X = np.array([[1.0, 0.2], [0.3, 0.8]])
RC = losses.razin_cohen_completion()


def _point():
    return lowrank.random_factored_point(4, 3, 2, seed=0)


def _tangent():
    p = _point()
    return lowrank.project_to_tangent(np.arange(12.0).reshape(4, 3) / 10, p)


def _sparse():
    return lowrank.SparseCompletion(([0, 1, 2, 3], [0, 1, 2, 0]), [1.0, -1.0, 0.5, 2.0], (4, 3))


def _draw(rng, index=None):
    """An ensemble run function; called with one list of (index, rng) pairs, a batch one."""
    if index is None:
        return [{"x": g.standard_normal(2)} for _, g in rng]
    return {"x": rng.standard_normal(2)}


#: valid value for a parameter name (a factory, called afresh for every call)
VALID = {
    "loss": lambda: RC,
    "X0": lambda: X.copy(),
    "start": lambda: X.copy(),
    "x": lambda: X.copy(),
    "X": lambda: np.stack([X, X]),
    "point": lambda: X.copy(),
    "base_point": lambda: X.copy(),
    "depth": lambda: 3,
    "step_size": lambda: 0.01,
    "n_steps": lambda: 3,
    "t_span": lambda: (0.0, 0.1),
    "beta": lambda: 1.0,
    "scale": lambda: 0.1,
    "shape": lambda: (2, 2),
    "rank": lambda: 2,
    "widths": lambda: (2, 2, 2, 2),
    "factors0": lambda: balanced_factors(X, 3),
    "factors": lambda: balanced_factors(X, 3),
    "sigma0": lambda: np.array([1.0, 0.5]),
    "singular_values": lambda: np.array([1.0, 0.5]),
    "dim": lambda: 3,
    "m": lambda: 2,
    "n": lambda: 2,
    "n_runs": lambda: 2,
    "out_dir": lambda: tempfile.mkdtemp(prefix="geodln-fuzz-"),
    "run_one": lambda: _draw,
    "entropy": lambda: 1,
    "seed": lambda: 0,
    "times": lambda: np.array([0.0, 1.0]),
    "lam": lambda: np.array([[1.0, 0.5]]),
    "fraction": lambda: 0.5,
    "n_measurements": lambda: 3,
    "func": lambda: (lambda x: (x**2).sum()),
    "kernel": lambda: geodln.DLNKernel(3),
    "space": lambda: geodln.RankMatrices(2, 2, equip=False),
    "total_space": lambda: geodln.BalancedManifold(3, 2, 2),
    "spectral_gradient": lambda: (lambda s: s),
    "mode": lambda: "downstairs",
    "A": lambda: np.stack([np.eye(2), np.ones((2, 2))]),
    "y": lambda: np.array([1.0, 2.0]),
}

#: per-entry-point valid calls where the table does not fit (name -> kwargs factory)
OVERRIDES = {
    "Trajectory": lambda: dict(times=[0.0, 1.0], X=np.stack([X, X]), loss=[1.0, 0.5],
                               mode="downstairs"),
    "LangevinPath": lambda: dict(times=[0.0, 1.0], states=np.ones((2, 1, 2, 2))),
    "FactorLangevinPath": lambda: dict(times=[0.0], factors=[np.ones((1, 1, 2, 2))]),
    "MatrixCompletion": lambda: dict(indices=([0, 1], [0, 1]), values=[1.0, 2.0],
                                     shape=(2, 2)),
    "MatrixSensing": lambda: dict(A=np.stack([np.eye(2), np.ones((2, 2))]),
                                  y=np.array([1.0, 2.0])),
    "AutogradLoss": lambda: dict(func=lambda x: (x**2).sum(), shape=(2, 2)),
    "CallableKernel": lambda: dict(func=lambda a, b: a + b),
    "FactoredPoint": lambda: dict(u=np.eye(4)[:, :2], s=[2.0, 1.0], v=np.eye(3)[:, :2]),
    "SparseCompletion": lambda: dict(indices=([0, 1], [0, 1]), values=[1.0, 2.0],
                                     shape=(4, 3)),
    "retract": lambda: dict(base_point=_point(), tangent_vec=_tangent()),
    "project_to_tangent": lambda: dict(covector=np.ones((4, 3)), base_point=_point()),
    "random_factored_point": lambda: dict(m=4, n=3, rank=2, seed=0),
    "random_sparse_completion": lambda: dict(shape=(4, 3), rank=1, fraction=0.5, seed=0),
    "lowrank_flow": lambda: dict(loss=_sparse(), X0=_point(), metric=3, t_span=(0.0, 0.1)),
    "lowrank_gradient_descent": lambda: dict(loss=_sparse(), X0=_point(), metric=3,
                                             step_size=0.01, n_steps=3),
    "upstairs_gradient_descent": lambda: dict(
        loss=_sparse(), factors0=lowrank.bottleneck_factors(_point(), 3), step_size=0.01,
        n_steps=3),
    "upstairs_gradient": lambda: dict(loss=_sparse(),
                                      factors=lowrank.bottleneck_factors(_point(), 3)),
    "bottleneck_factors": lambda: dict(point=_point(), depth=3),
    "end_to_end_factors": lambda: dict(factors=lowrank.bottleneck_factors(_point(), 3)),
    "FactoredDLNMetric": lambda: dict(depth=3),
    "random_completion": lambda: dict(shape=(3, 3), rank=1, fraction=0.5, seed=0),
    "random_sensing": lambda: dict(shape=(3, 3), rank=1, n_measurements=4, seed=0),
    "from_matrix": lambda: dict(x=X.copy(), depth=3),
    "gaussian_matrix": lambda: dict(shape=(2, 2), scale=0.1, seed=0),
    "balanced": lambda: dict(shape=(2, 2), depth=3, scale=0.1, seed=0),
    "gaussian_factors": lambda: dict(widths=(2, 2, 2), scale=0.1, seed=0),
    "scaled_identity": lambda: dict(widths=(2, 2, 2)),
    "compare_flows": lambda: dict(loss=RC, start=init.balanced((2, 2), 2, 0.3, seed=0),
                                  t_span=(0.0, 0.1)),
    "gradient_descent": lambda: dict(loss=RC, start=X.copy(), step_size=0.01, n_steps=3,
                                     metric=3),
    "downstairs_flow": lambda: dict(loss=RC, X0=X.copy(), metric=3, t_span=(0.0, 0.1)),
    "upstairs_flow": lambda: dict(loss=RC, factors0=balanced_factors(X, 3),
                                  t_span=(0.0, 0.1)),
    "balanced_chart_langevin": lambda: dict(loss=None, factors0=balanced_factors(X, 3),
                                            beta=1.0, step_size=0.01, n_steps=3),
    "factor_langevin": lambda: dict(loss=None, factors0=balanced_factors(X, 3), beta=1.0,
                                    step_size=0.01, n_steps=3),
    "riemannian_langevin": lambda: dict(loss=RC, X0=X.copy(), depth=3, beta=1.0,
                                        step_size=0.01, n_steps=3),
    "run_ensemble": lambda: dict(run_one=_draw, n_runs=2,
                                 out_dir=tempfile.mkdtemp(prefix="geodln-fuzz-"),
                                 options={"backend": "sequential", "progress": False}),
    "ensemble_seeds": lambda: dict(entropy=1, n_runs=2),
    "free_energy": lambda: dict(loss=RC, beta=1.0, depth=3),
    "log_volume_form": lambda: dict(singular_values=np.array([1.0, 0.5]), depth=3),
    "log_orbit_volume": lambda: dict(base_point=X.copy(), depth=3),
    "entropy": lambda: dict(base_point=X.copy(), depth=3),
    "as_generator": lambda: dict(seed=0),
    "LeastSquares": lambda: dict(inputs=np.eye(2), targets=np.array([[1.0, 0.5],
                                                                      [0.0, 2.0]])),
    "as_factored_metric": lambda: dict(metric=3),
}

#: entry points that take no input worth fuzzing, or only callables/objects of their own
NOT_FUZZED = {"Loss", "SpectralKernel", "InfiniteDepthKernel", "EuclideanKernel",
              "razin_cohen_completion", "Ensemble", "FlowComparison", "load_ensemble",
              "DLNBundle", "cometric_sqrt_noise", "balanced_projection_step",
              "LowRankOperator", "FactoredTangent", "FactoredSpectralMetric",
              "sample_distinct_indices", "truncated_svd_of_product", "SparseSensing",
              "RankOneSensing", "brownian_motion", "SpectralMetric",
              # containers built by the integrators, and an exception class
              "BatchedSparse", "NonFiniteError"}


def _public(module, names=None):
    names = names if names is not None else getattr(module, "__all__", None) or [
        n for n in dir(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if obj is None or inspect.ismodule(obj) or not callable(obj):
            continue
        yield f"{module.__name__}.{name}", name, obj


def _entry_points():
    seen, out = set(), []
    for module, names in ((geodln, geodln.__all__), (init, None), (losses, None),
                          (lowrank, None), (langevin, None), (ensemble, None)):
        for label, name, obj in _public(module, names):
            if id(obj) in seen or name in NOT_FUZZED:
                continue
            seen.add(id(obj))
            out.append((label, name, obj))
    return out


def _valid_kwargs(name, obj):
    """A valid call of ``obj`` as keyword arguments, or None if the table cannot make one."""
    if name in OVERRIDES:
        return OVERRIDES[name]()
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    kwargs = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            if p.name not in VALID:
                return None
            kwargs[p.name] = VALID[p.name]()
    return kwargs


ENTRY_POINTS = _entry_points()


def _baseline(name, obj):
    kwargs = _valid_kwargs(name, obj)
    if kwargs is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj(**kwargs)
    except Exception:  # noqa: BLE001 - an entry point the table cannot call is reported below
        return None
    return kwargs


def test_coverage():
    """Most entry points get a valid call (the rest are listed, not silently skipped)."""
    missing = [label for label, name, obj in ENTRY_POINTS if _baseline(name, obj) is None]
    assert len(missing) <= 0.15 * len(ENTRY_POINTS), missing


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Run in a temporary directory: a fuzzed path such as ``"x"`` must not land in the repo."""
    monkeypatch.chdir(tmp_path)


BAD_VALUES = st.one_of(
    st.sampled_from([
        np.nan, np.inf, -np.inf, -1, 0, -0.5, True, False, 1j, "x", (), [],
        np.array([]), np.ones(7), np.ones((2, 3, 4, 5, 6)), np.full((2, 2), np.nan),
        np.full((2, 2), np.inf), np.ones((2, 2)) * 1j, np.array([["a", "b"], ["c", "d"]]),
        np.ones((2, 2), dtype=bool), np.zeros((2, 2)), 1e308, -1e308, 5e-324, 2**31, 2**70,
        -7, object(),
    ]),
    # positive finite floats up to 64 only: an integral float such as 7e15 is a valid size up to
    # the LAPACK limit 2**31 - 1 and would allocate petabytes (huge values are in the list above)
    st.floats(max_value=64.0, allow_nan=False, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=0),
)

#: seconds one call may take (a hang, e.g. an SVD of non-finite input, is a failure)
TIME_LIMIT = 20.0


class _Hung(BaseException):
    """Raised by the alarm: not an Exception, so library code cannot swallow it."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _has_nan(value, depth=0):
    if depth > 3:
        return False
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        return bool(np.isnan(value).any())
    if isinstance(value, float):
        return np.isnan(value)
    if isinstance(value, list | tuple):
        return any(_has_nan(v, depth + 1) for v in value)
    for attr in ("X", "times", "loss", "states", "final_X"):
        if hasattr(type(value), "__dict__") and attr in getattr(value, "__dict__", {}):
            if _has_nan(getattr(value, attr), depth + 1):
                return True
    return False


def _finite_input(value):
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001
        return True
    if arr.dtype.kind in "fc":
        return bool(np.all(np.isfinite(arr)))
    return True


@pytest.mark.parametrize("label,name,obj", ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS])
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_bad_values_raise_value_error_naming_a_parameter(label, name, obj, data):
    kwargs = _baseline(name, obj)
    if kwargs is None:
        pytest.skip(f"no valid call for {label} (see test_coverage)")
    params = [p for p in inspect.signature(obj).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    fuzzable = [p.name for p in params if p.name not in ("run_one", "func", "stop")]
    target = data.draw(st.sampled_from(fuzzable), label="parameter")
    bad = data.draw(BAD_VALUES, label="bad value")
    call = dict(kwargs, **{target: bad})

    def hung(signum, frame):
        raise _Hung(f"{label}({target}={bad!r}) did not return within {TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = obj(**call)
    except ValueError as exc:
        names = {p.name for p in params}
        words = set(_NAME.findall(str(exc)))
        assert names & words, (
            f"{label}({target}={bad!r}): ValueError names no parameter of "
            f"{sorted(names)}: {exc}")
        return
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{label}({target}={bad!r}) raised {type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if _finite_input(bad):
        assert not _has_nan(result), f"{label}({target}={bad!r}) returned NaN"
