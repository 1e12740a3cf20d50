"""The batched engine: every member equals its solo run, stops on its own, steps on its own.

Independent references: scipy's ``solve_ivp`` run member by member (the batched embedded
Runge–Kutta method must reproduce it), single-start gradient descent, a hand-written explicit
Euler loop, and the closed-form loss of the records.
"""

import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import geodln
from geodln import At, Every, Solver, StoppingRules, Trajectory
from geodln.flows import DownstairsField, downstairs_flow, gradient_descent, upstairs_flow
from geodln.losses import MatrixCompletion, razin_cohen_completion


def _hyperbola():
    return MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 1.0], shape=(2, 2))


def _mixed_starts():
    """Razin–Cohen starts that converge early, late, and diverge (det > 0 runs to max_norm)."""
    rng = np.random.default_rng(3)
    starts = []
    for scale, sign in ((0.5, -1), (1e-3, -1), (0.1, 1), (0.05, -1), (0.3, 1)):
        x = scale * rng.standard_normal((2, 2))
        if np.sign(np.linalg.det(x)) != sign:
            x[0] = -x[0]
        starts.append(x)
    return np.stack(starts)


RULES = StoppingRules(loss_tol=1e-8, max_norm=4.0)


@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_batched_rk_equals_solo_solve_ivp_for_each_member(method):
    loss = razin_cohen_completion()
    starts = _mixed_starts()
    solver = Solver(method, rtol=1e-9, atol=1e-12)
    grid = At(np.linspace(0.0, 40.0, 9))
    batch = downstairs_flow(loss, starts, 3, (0.0, 1e4), solver=solver, stop=RULES, record=grid)
    assert batch.final_X.shape == (5, 2, 2) and batch.batch_size == 5
    statuses = set(batch.status)
    assert {"loss_tol", "max_norm"} <= statuses  # converging and diverging members
    assert np.ptp(batch.final_time) > 1.0  # early and late
    field = DownstairsField(loss, 3)
    for k, x0 in enumerate(starts):
        solo = downstairs_flow(loss, x0, 3, (0.0, 1e4), solver=solver, stop=RULES, record=grid)
        member = batch[k]
        assert member.status == solo.status
        np.testing.assert_allclose(member.times, solo.times, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(member.X, solo.X, rtol=1e-7, atol=1e-9)
        # independent: scipy alone on the same right-hand side, to the member's stop time
        ref = solve_ivp(lambda t, y: field.velocity(y[None])[0], (0.0, member.final_time),
                        x0.ravel(), method=method, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(member.final_X.ravel(), ref.y[:, -1], rtol=1e-6, atol=1e-8)
    loss_tol = batch.status == "loss_tol"
    np.testing.assert_allclose(batch.final_loss[loss_tol], 1e-8, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(batch.final_X[batch.status == "max_norm"],
                                              axis=(-2, -1)), 4.0, rtol=1e-6)


def test_step_size_is_per_member():
    """A slow member takes no more steps in a batch with a fast one than alone."""
    loss = _hyperbola()
    fast, slow = 0.5 * np.eye(2), np.array([[1e-3, 0.0], [2e-3, 1e-3]])
    opts = dict(solver=Solver("RK45", rtol=1e-8, atol=1e-12),
                stop=StoppingRules(loss_tol=1e-10))
    both = downstairs_flow(loss, np.stack([fast, slow]), 4, (0.0, 1e6), **opts)
    alone = downstairs_flow(loss, slow[None], 4, (0.0, 1e6), **opts)
    fast_alone = downstairs_flow(loss, fast[None], 4, (0.0, 1e6), **opts)
    steps = both.metadata["n_steps"]
    assert steps[1] <= alone.metadata["n_steps"][0]
    assert steps[0] <= fast_alone.metadata["n_steps"][0] < steps[1]
    assert both.n_rhs[0] < both.n_rhs[1]


def test_upstairs_batch_equals_solo_and_conserves_balance():
    loss = geodln.losses.random_completion((3, 3), 1, 0.7, seed=1)[0]
    fs = [geodln.init.balanced((3, 3), 3, s, seed=i) for i, s in enumerate((0.3, 0.6, 1.0))]
    batched = [np.stack([f[p] for f in fs]) for p in range(3)]
    solver = Solver("RK45", rtol=1e-10, atol=1e-12)
    grid = At([0.0, 0.5, 1.0])
    batch = upstairs_flow(loss, batched, (0.0, 1.0), solver=solver, record=grid)
    assert batch.balance_defect.shape == (3, 3) and np.all(batch.balance_defect < 1e-8)
    for k, f in enumerate(fs):
        solo = upstairs_flow(loss, f, (0.0, 1.0), solver=solver, record=grid)
        np.testing.assert_allclose(batch[k].X, solo.X, rtol=1e-9, atol=1e-12)
        for a, b in zip(batch[k].factors, solo.factors):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_stiff_methods_run_member_by_member():
    loss = _hyperbola()
    starts = np.stack([0.1 * np.eye(2), 0.2 * np.eye(2)])
    batch = downstairs_flow(loss, starts, 2, (0.0, 5.0), solver="LSODA")
    solo = downstairs_flow(loss, starts[1], 2, (0.0, 5.0), solver="LSODA")
    np.testing.assert_array_equal(batch[1].X, solo.X)


def test_gd_batch_equals_solo_with_diverging_member():
    loss = razin_cohen_completion()
    starts = np.stack([0.1 * np.eye(2), np.array([[0.0, 0.9], [1.1, 0.1]]), 40.0 * np.eye(2)])
    rules = StoppingRules(loss_tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = gradient_descent(loss, starts, 0.05, 400, metric=3, stop=rules)
    assert batch.status.tolist()[2] == "diverged"
    for k in range(3):
        solo = gradient_descent(loss, starts[k], 0.05, 400, metric=3, stop=rules)
        member = batch[k]
        assert member.status == solo.status
        np.testing.assert_array_equal(member.steps, solo.steps)
        np.testing.assert_allclose(member.X, solo.X, rtol=1e-13, atol=1e-15)
    # independent: explicit Euler with the brute-force co-metric for the first member
    from brute import brute_A

    x = starts[0].copy()
    for _ in range(batch[0].n_rhs):
        x = x - 0.05 * brute_A(x, loss.euclidean_gradient(x), 3)
    np.testing.assert_allclose(batch[0].final_X, x, rtol=1e-10)
    assert np.all(np.isfinite(batch.final_X))


def test_default_single_run_does_not_stall_after_convergence():
    """A converged 2x2 flow to t = 1000 with the defaults: at most 1000 right-hand sides."""
    loss = _hyperbola()
    x0 = 0.1 * np.array([[1.0, 0.3], [-0.2, 0.8]])
    tr = downstairs_flow(loss, x0, 4, (0.0, 1000.0))
    assert tr.status == "completed" and tr.final_loss < 1e-12
    assert tr.n_rhs <= 1000


def test_record_metrics_and_every():
    loss = _hyperbola()
    starts = np.stack([0.1 * np.eye(2), 0.3 * np.eye(2)])
    rec = Every(3, metrics={"x11": lambda x: x[:, 0, 0], "fro": lambda x: np.linalg.norm(
        x, axis=(-2, -1))})
    batch = downstairs_flow(loss, starts, 2, (0.0, 3.0), solver="RK45", record=rec)
    for k in range(2):
        m = batch[k]
        np.testing.assert_allclose(m.metrics["x11"], m.X[:, 0, 0])
        np.testing.assert_allclose(m.metrics["fro"], np.linalg.norm(m.X, axis=(-2, -1)))
        steps = batch.metadata["n_steps"][k]
        assert len(m) == steps // 3 + 1 + (steps % 3 != 0)
    gd = gradient_descent(loss, starts, 0.1, 10, metric=2, record=rec)
    assert gd.steps[0].tolist() == [0, 3, 6, 9, 10]
    np.testing.assert_allclose(gd.loss[0], [loss.value(x) for x in gd.X[0]])


def test_batched_trajectory_round_trip(tmp_path):
    loss = razin_cohen_completion()
    batch = gradient_descent(loss, _mixed_starts(), 0.05, 50, metric=2,
                             stop=StoppingRules(loss_tol=1e-3),
                             record=Every(7, metrics={"x11": lambda x: x[:, 0, 0]}))
    path = tmp_path / "batch.npz"
    batch.save(path)
    back = Trajectory.load(path)
    assert back.batch_size == batch.batch_size
    np.testing.assert_array_equal(back.status, batch.status)
    np.testing.assert_array_equal(back.n_records, batch.n_records)
    for k in range(len(batch)):
        np.testing.assert_array_equal(back[k].X, batch[k].X)
        np.testing.assert_array_equal(back[k].steps, batch[k].steps)
        np.testing.assert_array_equal(back[k].metrics["x11"], batch[k].metrics["x11"])
    stacked = Trajectory.stack(list(batch))
    np.testing.assert_array_equal(stacked.final_X, batch.final_X)
    with pytest.raises(ValueError, match="member index"):
        batch[len(batch)]


def test_loss_nan_at_start_is_rejected():
    import autograd.numpy as anp

    def bad(x):
        return anp.sum(x) * np.nan

    with pytest.raises(ValueError, match="loss"):
        downstairs_flow(bad, np.eye(2), 2, (0.0, 1.0))
    with pytest.raises(ValueError, match="loss"):
        downstairs_flow(bad, np.stack([np.eye(2)] * 2), 2, (0.0, 1.0))
