"""Flows and descent at the edges of the float range: "diverged" means leaving the range.

Independent expectations:

- homogeneity of the DLN dynamics: for :math:`E_c(X) = \\tfrac12\\|P_\\Omega(X - cB)\\|^2`
  and a start :math:`cX_0`, :math:`\\nabla E_c(cX) = c\\nabla E(X)` and :math:`A_{N,X}` is
  homogeneous of degree :math:`2 - 2/N` in X, so the downstairs flow is
  :math:`X_c(t) = c\\,X(c^{2-2/N}t)`; the upstairs factors scale by :math:`c^{1/N}` with the
  same time change, and gradient descent with step :math:`\\eta c^{-(2-2/N)}` takes the
  scaled steps. Each scaled run is compared with the unscaled run (c = 1) of the same entry
  point, at c = 1e150 and 1e-150 (where the velocity :math:`\\sim c^{3-2/N}` is representable);
- closed forms at depth 1 (the velocity is the residual on the observed entries, the other
  entries stay put): states of norm 1e250–1e300 with a normal residual run normally, and a
  step above the stable one diverges at the first step whose loss overflows (located from the
  closed form in logarithms), keeping the state before it.
"""

import math
import warnings

import numpy as np
import pytest

import geodln
from geodln.factors import balanced_factors
from geodln.flows import Every, Solver, StoppingRules
from geodln.flows.descent import descend
from geodln.flows.fields import UpstairsField
from geodln.flows.stopping import OVERFLOW_NORM, frobenius_norms
from geodln.losses import MatrixCompletion
from geodln.lowrank import (
    FactoredPoint,
    FlowOptions,
    SparseCompletion,
    lowrank_flow,
    lowrank_gradient_descent,
)

ROWS, COLS = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 2])
VALUES = np.array([1.0, 0.5, -0.3, 0.8])
X0 = np.array([[0.3, 0.1, 0.02], [0.05, 0.2, 0.1], [0.01, 0.1, 0.25]])
SCALES = [1e150, 1e-150]


def _loss(c):
    return MatrixCompletion((ROWS, COLS), c * VALUES, (3, 3))


def _time(c, depth):
    """The time change of the flow: t_c = t / c**(2 - 2/N)."""
    return c ** -(2.0 - 2.0 / depth)


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error")
    return ctx


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("method", ["LSODA", "RK45"])
def test_downstairs_flow_is_homogeneous(c, depth, method):
    """X_c(t) = c X(c^(2-2/N) t) for the single run (solve_ivp) at norms 1e150 and 1e-150."""
    ref = geodln.downstairs_flow(_loss(1.0), X0, depth, (0.0, 2.0), solver=Solver(method))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = geodln.downstairs_flow(_loss(c), c * X0, depth, (0.0, 2.0 * _time(c, depth)),
                                     solver=Solver(method, atol=1e-10 * c))
    assert got.status == ref.status == "completed"
    assert frobenius_norms(got.final_X) > 0.5 * c
    assert _rel(got.final_X / c, ref.final_X) < 1e-6
    assert got.final_loss == pytest.approx(c**2 * ref.final_loss, rel=1e-6)


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("depth", [1, 2])
def test_batched_downstairs_flow_is_homogeneous(c, depth):
    """The per-member Runge–Kutta integrator on a batch of scaled starts."""
    starts = np.stack([X0, X0 + 0.1 * np.eye(3)])
    ref = geodln.downstairs_flow(_loss(1.0), starts, depth, (0.0, 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = geodln.downstairs_flow(_loss(c), c * starts, depth,
                                     (0.0, 2.0 * _time(c, depth)),
                                     solver=Solver("RK45", atol=1e-10 * c))
    assert got.status.tolist() == ["completed", "completed"]
    for k in range(2):
        assert _rel(got[k].final_X / c, ref[k].final_X) < 1e-6


@pytest.mark.parametrize("c", [1e100, 1e-100])
def test_depth_three_downstairs_flow_is_homogeneous_where_its_velocity_is_representable(c):
    """At depth 3 the velocity scales as c^(7/3): 1e233 at c = 1e100 (1e350 at 1e150)."""
    ref = geodln.downstairs_flow(_loss(1.0), X0, 3, (0.0, 2.0), solver=Solver("RK45"))
    got = geodln.downstairs_flow(_loss(c), c * X0, 3, (0.0, 2.0 * _time(c, 3)),
                                 solver=Solver("RK45", atol=1e-10 * c))
    assert got.status == "completed"
    assert _rel(got.final_X / c, ref.final_X) < 1e-6


def test_depth_three_downstairs_velocity_beyond_the_range_is_a_divergence_at_the_start():
    """c = 1e150, depth 3: the true velocity (~1e349) overflows; the start is kept."""
    c = 1e150
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = geodln.downstairs_flow(_loss(c), c * X0, 3, (0.0, _time(c, 3)))
    assert tr.status == "diverged" and "velocity" in tr.message
    np.testing.assert_array_equal(tr.final_X, c * X0)


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_upstairs_flow_is_homogeneous(c, depth):
    """Factors c^(1/N) W_p, time t / c^(2-2/N): the same end-to-end path times c."""
    factors = balanced_factors(X0, depth)
    ref = geodln.upstairs_flow(_loss(1.0), factors, (0.0, 2.0), solver="RK45")
    scaled = [c ** (1.0 / depth) * w for w in factors]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = geodln.upstairs_flow(_loss(c), scaled, (0.0, 2.0 * _time(c, depth)),
                                   solver=Solver("RK45", atol=1e-10 * c ** (1.0 / depth)))
    assert got.status == "completed"
    assert _rel(got.final_X / c, ref.final_X) < 1e-6


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("depth", [1, 2])
def test_downstairs_descent_is_homogeneous(c, depth):
    """Gradient descent with the step eta c^-(2-2/N): the iterates scale by c (1e-10)."""
    ref = geodln.gradient_descent(_loss(1.0), X0, 0.1, 30, metric=depth)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = geodln.gradient_descent(_loss(c), c * X0, 0.1 * _time(c, depth), 30,
                                      metric=depth)
    assert got.status == "completed" and got.n_rhs == 30
    assert _rel(got.X / c, ref.X) < 1e-10


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_upstairs_descent_is_homogeneous_compiled_and_numpy(c, depth, kernel):
    """The compiled kernel and the numpy path, factors c^(1/N) W_p, step eta c^-(2-2/N)."""
    from geodln.flows import descent_kernel

    if kernel == "numba" and not descent_kernel.available():
        pytest.skip("numba is not installed")
    factors = balanced_factors(X0, depth)
    ref = geodln.gradient_descent(_loss(1.0), factors, 0.1, 30, mode="upstairs")
    field = UpstairsField.from_factors(_loss(c), [c ** (1.0 / depth) * w for w in factors])
    y0 = field.pack([c ** (1.0 / depth) * w for w in factors])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = descend(field, y0, 0.1 * _time(c, depth), 30, StoppingRules(), Every(1),
                      kernel=kernel)
    assert got.metadata["kernel"] == kernel
    assert got.status.tolist() == ["completed"]
    assert _rel(got[0].X / c, ref.X) < 1e-10


def _factored(x, c):
    u, s, vt = np.linalg.svd(x)
    return FactoredPoint(u[:, :2], c * s[:2], vt[:2].T)


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("depth", [1, 2])
def test_factored_descent_and_flow_are_homogeneous(c, depth):
    """Rank-2 factored states (geodln.lowrank), descent and flow, against c = 1."""
    def loss(scale):
        return SparseCompletion((ROWS, COLS), scale * VALUES, (3, 3))

    ref = lowrank_gradient_descent(loss(1.0), _factored(X0, 1.0), depth, 0.1, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = lowrank_gradient_descent(loss(c), _factored(X0, c), depth,
                                       0.1 * _time(c, depth), 30)
    assert got.status == "completed"
    assert _rel(got.final_X.to_dense() / c, ref.final_X.to_dense()) < 1e-10
    ref = lowrank_flow(loss(1.0), _factored(X0, 1.0), depth, (0.0, 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = lowrank_flow(loss(c), _factored(X0, c), depth, (0.0, 2.0 * _time(c, depth)),
                           options=FlowOptions(atol=1e-10 * c))
    assert got.status == "completed"
    assert _rel(got.final_X.to_dense() / c, ref.final_X.to_dense()) < 1e-6


HUGE = 1e300  # an unobserved entry: the norm of the state, far beyond the former 1e150


def _huge_start():
    x = X0.copy()
    x[0, 0] = HUGE  # (0, 0) is not observed
    return x


def _closed_form(x0, factor):
    """Depth 1: observed entries move to B by ``factor``, the others stay."""
    x = x0.copy()
    x[ROWS, COLS] = VALUES + factor * (x0[ROWS, COLS] - VALUES)
    return x


def test_depth_one_states_of_norm_1e300_run_descent_and_flows():
    x0 = _huge_start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gd = geodln.gradient_descent(_loss(1.0), x0, 0.1, 25, metric=1)
        up = geodln.gradient_descent(_loss(1.0), [x0], 0.1, 25, mode="upstairs")
        flow = geodln.downstairs_flow(_loss(1.0), x0, 1, (0.0, 3.0),
                                      solver=Solver("RK45", rtol=1e-10, atol=1e-12))
    want_gd = _closed_form(x0, 0.9**25)
    for tr in (gd, up):
        assert tr.status == "completed" and tr.n_rhs == 25
        assert tr.final_X[0, 0] == HUGE
        np.testing.assert_allclose(tr.final_X[ROWS, COLS], want_gd[ROWS, COLS], rtol=1e-12)
    assert flow.status == "completed" and flow.final_X[0, 0] == HUGE
    want = _closed_form(x0, math.exp(-3.0))
    np.testing.assert_allclose(flow.final_X[ROWS, COLS], want[ROWS, COLS], rtol=1e-8)


def test_a_step_above_the_stable_one_diverges_at_the_loss_overflow_with_its_last_state():
    """Depth 1, eta = 5: the residual is multiplied by -4 per step; the run ends 'diverged'
    at the first step whose loss (1/2) 16^k |r0|^2 exceeds the float range, keeping step k-1.
    """
    c, eta = 1e150, 5.0
    r0 = X0[ROWS, COLS] - VALUES
    log_loss0 = math.log(0.5) + 2 * math.log(c) + math.log(float(np.sum(r0**2)))
    first_over = math.ceil((math.log(np.finfo(float).max) - log_loss0) / math.log(16.0))
    assert (math.log(np.finfo(float).max) - log_loss0) / math.log(16.0) % 1 > 0.05
    for mode, start in (("downstairs", c * X0), ("upstairs", [c * X0])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tr = geodln.gradient_descent(_loss(c), start, eta, 100, metric=1, mode=mode)
        assert tr.status == "diverged", mode
        assert tr.n_rhs == first_over - 1, mode
        assert np.all(np.isfinite(tr.X)) and np.isfinite(tr.final_loss)
        want = c * _closed_form(X0, (1 - eta) ** (first_over - 1))
        np.testing.assert_allclose(tr.final_X, want, rtol=1e-10, atol=1e-10 * c)
    field = UpstairsField.from_factors(_loss(c), [c * X0])  # the numpy path of the same run
    tr = descend(field, field.pack([c * X0]), eta, 100, StoppingRules(), Every(1),
                 kernel="numpy")[0]
    assert tr.status == "diverged" and tr.n_rhs == first_over - 1
    np.testing.assert_allclose(tr.final_X, want, rtol=1e-10, atol=1e-10 * c)


def test_factored_descent_above_the_stable_step_diverges_with_a_finite_last_state():
    c = 1e150
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = lowrank_gradient_descent(SparseCompletion((ROWS, COLS), c * VALUES, (3, 3)),
                                      _factored(X0, c), 1, 5.0, 200)
    assert tr.status == "diverged" and 1 < tr.n_rhs < 200
    assert np.all(np.isfinite(tr.final_X.s)) and np.isfinite(tr.final_loss)
    assert tr.final_X.s.max() > 1e3 * c  # it grew far past the former bound before stopping


def test_a_flow_heading_to_overflow_stops_before_inf():
    """E = -1/2 |X|^2 (depth 1): X(t) = e^t X0, E leaves the range at |X| = sqrt(2 max float)
    (t ~ 10.2 from |X0| ~ 5e149, where the former bound 1e150 stopped at t ~ 0.7): the run
    ends 'diverged' just before, with a finite state and loss (single and batched runs)."""
    from geodln.losses import Loss

    class Repulsive(Loss):
        def __init__(self):
            self.shape = (3, 3)

        def _value(self, x):
            with np.errstate(over="ignore"):
                return -0.5 * frobenius_norms(x) ** 2

        def _gradient(self, x):
            return -x

    x0 = 1e150 * X0
    t_out = math.log(math.sqrt(2) * math.sqrt(np.finfo(float).max) / float(frobenius_norms(x0)))
    for start in (x0, np.stack([x0, x0])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tr = geodln.downstairs_flow(Repulsive(), start, 1, (0.0, 2 * t_out),
                                        solver="RK45")
        for member in (tr,) if start.ndim == 2 else tuple(tr):
            assert member.status == "diverged"
            assert np.all(np.isfinite(member.X)) and np.all(np.isfinite(member.loss))
            assert 0.9 * t_out < member.final_time < t_out


def test_a_linear_flow_stops_at_the_overflow_bound():
    """E = -x_00: X(t) = X0 + t e_00 with a finite loss up to the top of the range; the run
    stops where |X| reaches OVERFLOW_NORM (located on the dense output), not before."""
    from geodln.losses import Loss

    class Linear(Loss):
        def __init__(self):
            self.shape = (3, 3)

        def _value(self, x):
            return -x[..., 0, 0]

        def _gradient(self, x):
            g = np.zeros_like(x)
            g[..., 0, 0] = -1.0
            return g

    for start, solver in ((X0, "RK45"), (X0, "LSODA"), (np.stack([X0, 2 * X0]), "RK45")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tr = geodln.downstairs_flow(Linear(), start, 1, (0.0, 1e308), solver=solver)
        for member in (tr,) if start.ndim == 2 else tuple(tr):
            assert member.status == "diverged"
            norm = float(frobenius_norms(member.final_X))
            assert norm <= OVERFLOW_NORM * (1 + 1e-12) and np.isfinite(member.final_loss)
            # the batched method locates the bound; solve_ivp keeps its last step inside it
            assert norm > (0.5 if start.ndim == 3 else 1e-3) * OVERFLOW_NORM


@pytest.mark.parametrize("entry", ["downstairs_flow", "upstairs_flow", "gd", "lowrank"])
def test_a_start_whose_loss_overflows_is_refused(entry):
    """c = 1e200: the residuals' squares (~1e400) overflow E itself; the clear message."""
    c = 1e200
    with pytest.raises(ValueError, match="loss overflowed at the start"):
        if entry == "downstairs_flow":
            geodln.downstairs_flow(_loss(c), c * X0, 2, (0.0, 1.0))
        elif entry == "upstairs_flow":
            geodln.upstairs_flow(_loss(c), balanced_factors(c * X0, 2), (0.0, 1.0))
        elif entry == "gd":
            geodln.gradient_descent(_loss(c), c * X0, 1e-200, 5, metric=2)
        else:
            lowrank_gradient_descent(SparseCompletion((ROWS, COLS), c * VALUES, (3, 3)),
                                     _factored(X0, c), 2, 1e-200, 5)


def test_stopping_rules_diverge_only_outside_the_float_range():
    rules = StoppingRules()
    x = np.stack([1e300 * np.eye(3), 1e-300 * np.eye(3), 1e300 * np.eye(3),
                  np.full((3, 3), 1.5e308), 1e300 * np.eye(3)])
    loss = np.array([1.0, 1.0, np.inf, 1.0, 1.0])
    velocity = np.array([1e300, 1e-300, 1.0, 1.0, np.nan])
    got = rules.check(np.zeros(5), x, loss, velocity)
    assert got.tolist() == ["running", "running", "diverged", "diverged", "diverged"]
    # the scaled norm: exact where the sum of squares overflows or underflows
    assert frobenius_norms(x[:2]).tolist() == pytest.approx([1e300 * 3**0.5, 1e-300 * 3**0.5],
                                                          rel=1e-15)
    assert 1e307 < OVERFLOW_NORM < np.finfo(float).max


def test_the_compiled_kernel_has_the_same_bound():
    """numba freezes the kernel's constant into its cache: it is written in its own file."""
    from geodln.flows import descent_kernel

    assert vars(descent_kernel)["_OVERFLOW_NORM"] == OVERFLOW_NORM


def test_gradient_norm_rule_of_a_single_flow_at_1e_170():
    """Depth 1: |v(t)| = e^-t |v(0)|; grad_tol = 1e-3 |v(0)| fires at t* = log 1000, at any
    scale (the plain sum of squares of a velocity ~1e-170 underflows to 0)."""
    c = 1e-170
    r0 = float(np.linalg.norm(X0[ROWS, COLS] - VALUES))
    t_star = math.log(1000.0)
    runs = []
    for scale in (1.0, c):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            runs.append(geodln.downstairs_flow(
                _loss(scale), scale * X0, 1, (0.0, 50.0),
                solver=Solver("RK45", atol=1e-10 * scale),
                stop=StoppingRules(grad_tol=1e-3 * scale * r0)))
    for tr in runs:
        assert tr.status == "grad_tol"
        assert t_star * (1 - 1e-6) < tr.final_time < 2 * t_star
    assert runs[1].final_time == pytest.approx(runs[0].final_time, rel=1e-6)
