"""Each example of issue 13, sections 1-2, as a test (bad arguments -> ValueError naming it)."""

import warnings

import numpy as np
import pytest

import geodln
from geodln import init, lowrank
from geodln.lowrank import FlowOptions

RC = geodln.losses.razin_cohen_completion()


def _point():
    return lowrank.random_factored_point(4, 3, 2, seed=0)


def _sparse():
    return lowrank.SparseCompletion(([0, 1, 2, 3], [0, 1, 2, 0]), [1.0, -1.0, 0.5, 2.0], (4, 3))


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: geodln.upstairs_flow(RC, [np.ones(2)], (0, 1)), "factors0"),
        (lambda: geodln.MatrixCompletion(indices=([0], [0]), values=[1j], shape=(2, 2)),
         "values"),
        (lambda: geodln.DLNMetric(None, depth=3), "space"),
        (lambda: lowrank.retract(_point(), lowrank.project_to_tangent(np.ones((4, 3)),
                                                                      _point()), step=np.nan),
         "step"),
        (lambda: geodln.RankMatrices(True, 3), "m"),
        (lambda: geodln.gradient_descent(RC, np.eye(2), True, 5, metric=3), "step_size"),
        (lambda: init.balanced((2, 2), 3, scale=True), "scale"),
        (lambda: geodln.RankMatrices(2, 2).random_point(bound=np.nan), "bound"),
        # n_grid became record=At(times) in the batched engine: the same fault, renamed
        (lambda: geodln.compare_flows(RC, init.balanced((2, 2), 2, 0.1, seed=0),
                                      t_span=(0, 1), record=0), "record"),
        (lambda: geodln.compare_flows(RC, init.balanced((2, 2), 2, 0.1, seed=0),
                                      t_span=(0, 1), record=geodln.At([0.5, 2.0])), "record"),
        (lambda: geodln.DLNBundle(geodln.BalancedManifold(3, 2, 2)).lift(np.nan * np.eye(2)),
         "point"),
        (lambda: lowrank.FactoredPoint(np.eye(3)[:, :2], [1.0, 0.0], np.eye(3)[:, :2]), "s"),
        (lambda: lowrank.lowrank_flow(_sparse(), _point(), 3, (0, 1),
                                      options=FlowOptions(max_steps=0)),
         "max_steps"),
    ],
    ids=["upstairs_flow-1d-factor", "MatrixCompletion-complex", "DLNMetric-None",
         "retract-nan-step", "RankMatrices-bool", "gradient_descent-bool-step",
         "balanced-bool-scale", "random_point-nan-bound", "compare_flows-record-0",
         "compare_flows-record-outside-t_span",
         "bundle-lift-nan", "FactoredPoint-zero-singular-value", "lowrank_flow-max_steps-0"],
)
def test_issue_example_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"(?<![\w-]){name}(?![\w-])"):
        call()


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_gradient_descent_divergence_keeps_the_last_finite_state(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        tr = geodln.gradient_descent(RC, np.eye(2), 1e6, 50, metric=3, mode=mode)
    assert tr.status == "diverged"
    assert np.all(np.isfinite(tr.X)) and np.isfinite(tr.final_loss)


def test_loss_nan_at_the_start_is_a_value_error_naming_loss():
    import autograd.numpy as anp

    from geodln.factors import balanced_factors

    bad = geodln.AutogradLoss(lambda x: anp.sum(x**2) * np.nan, (2, 2))
    x = np.array([[1.0, 0.2], [0.3, 0.8]])
    for call in (lambda: geodln.downstairs_flow(bad, x, 3, (0, 1)),
                 lambda: geodln.upstairs_flow(bad, balanced_factors(x, 3), (0, 1)),
                 lambda: geodln.gradient_descent(bad, x, 0.1, 5, metric=3)):
        with pytest.raises(ValueError, match="loss"):
            call()


class _Quartic(geodln.losses.Loss):
    """E(X) = -||X||_F^4 (closed-form gradient): its gradient flows blow up in finite time."""

    shape = (2, 2)

    def _value(self, x):
        return -np.sum(x * x, axis=(-2, -1)) ** 2

    def _gradient(self, x):
        return -4.0 * np.sum(x * x, axis=(-2, -1))[..., None, None] * x


def _blow_up():
    """The quartic loss; from the start below, the flows reach infinity at t* ~ 0.0122."""
    return _Quartic()


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_flow_blow_up_ends_with_the_last_finite_state_without_warnings(mode):
    """A finite-time blow-up: the ODE flows stop 'diverged', finite X and loss, no warnings.

    (scipy's event root finding used to raise 'f(a) and f(b) must have different signs' on the
    zero-length step LSODA takes at the blow-up.)
    """
    from geodln.factors import balanced_factors

    x = np.array([[1.0, 0.2], [0.3, 0.8]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = (geodln.downstairs_flow(_blow_up(), x, 3, (0, 10)) if mode == "downstairs" else
              geodln.upstairs_flow(_blow_up(), balanced_factors(x, 3), (0, 10)))
    assert tr.status == "diverged"
    assert np.all(np.isfinite(tr.X)) and np.all(np.isfinite(tr.loss))
    assert 0.005 < tr.final_time < 0.02  # stopped at the blow-up, not at t = 10


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_batched_flow_blow_up_ends_and_never_hangs(mode):
    """The batched Runge–Kutta integrator used to retry the smallest step forever."""
    from geodln.factors import balanced_factors

    x = np.array([[1.0, 0.2], [0.3, 0.8]])
    xs = np.stack([x, 2 * x])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = (geodln.downstairs_flow(_blow_up(), xs, 3, (0, 10)) if mode == "downstairs" else
              geodln.upstairs_flow(_blow_up(), balanced_factors(xs, 3), (0, 10)))
    assert tr.status.tolist() == ["diverged", "diverged"]  # not "failed": a blow-up
    for member in tr:
        assert np.all(np.isfinite(member.X)) and np.all(np.isfinite(member.loss))
        assert member.final_time < 0.02


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_rk45_single_run_blow_up_is_diverged_not_failed(mode):
    """solve_ivp's step-size underflow at a blow-up: the state changes by its own size within a
    few float spacings of t, so the run diverged (``is_blow_up``), it did not merely fail."""
    from geodln.factors import balanced_factors

    x = np.array([[1.0, 0.2], [0.3, 0.8]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = (geodln.downstairs_flow(_blow_up(), x, 3, (0, 10), solver="RK45")
              if mode == "downstairs" else
              geodln.upstairs_flow(_blow_up(), balanced_factors(x, 3), (0, 10), solver="RK45"))
    assert tr.status == "diverged"
    assert np.all(np.isfinite(tr.X)) and np.isfinite(tr.final_loss)


def test_is_blow_up_separates_a_singularity_from_a_slow_state():
    from geodln.flows.stopping import is_blow_up

    t = np.array([0.01, 0.01, 0.01, 1.0])
    # time scales 1e-16 (blow-up), 1 (bounded), a zero velocity (at rest), a NaN velocity
    got = is_blow_up(t, np.array([1e4, 1.0, 1.0, 1.0]), np.array([1e20, 1.0, 0.0, np.nan]))
    assert got.tolist() == [True, False, False, True]


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_gradient_descent_blow_up_keeps_a_finite_loss(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = geodln.gradient_descent(_blow_up(), np.eye(2), 0.5, 100, metric=3, mode=mode)
    assert tr.status == "diverged" and np.isfinite(tr.final_loss)
    assert np.all(np.isfinite(tr.X))


def test_factored_loss_nan_at_the_start_is_a_value_error_naming_loss():
    """The same example for the factored (low-rank) integrators."""
    loss, _ = lowrank.random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    x0 = lowrank.random_factored_point(8, 6, 2, seed=1)

    class NanLoss:
        shape = (8, 6)

        def value_and_gradient(self, point):
            value, grad = loss.value_and_gradient(point)
            return value * np.nan, grad

        def value(self, point):
            return loss.value(point) * np.nan

    for call in (lambda: lowrank.lowrank_gradient_descent(NanLoss(), x0, 3, 0.01, 3),
                 lambda: lowrank.lowrank_flow(NanLoss(), x0, 3, (0, 1)),
                 lambda: lowrank.upstairs_gradient_descent(
                     NanLoss(), lowrank.bottleneck_factors(x0, 3), 0.01, 3)):
        with pytest.raises(ValueError, match="loss"):
            call()
