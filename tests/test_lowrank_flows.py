"""Factored flows vs the dense downstairs flow, the upstairs flow on bottleneck factors, and GD.

References (independent code paths): geodln.downstairs_flow / gradient_descent (dense SVD of X,
scipy solve_ivp), a test-local scipy solve_ivp of the upstairs factor ODE with dense products
(tests/brute.py), and a test-local dense GD with the defining N-term sum of A_{N,X}.
"""

import numpy as np
import pytest
from brute import brute_A, brute_product, rel_err
from scipy.integrate import solve_ivp

import geodln
from geodln.factors import balance_defect
from geodln.flows import At, Every, StoppingRules, Trajectory
from geodln.lowrank import (
    FactoredPoint,
    FlowOptions,
    bottleneck_factors,
    lowrank_flow,
    lowrank_gradient_descent,
    random_factored_point,
    random_sparse_completion,
    upstairs_gradient_descent,
)

M, N_COLS, R = 14, 11, 2
T_EVAL = np.linspace(0.0, 1.5, 7)


def _on_rank(depth):
    """Plain-sum DLN metric on the rank-R matrices of the test's shape."""
    return geodln.DLNMetric(geodln.RankMatrices(M, N_COLS, R, equip=False), depth)


@pytest.fixture(scope="module")
def problem():
    loss, truth = random_sparse_completion((M, N_COLS), R, fraction=0.5, seed=0)
    return loss, truth


def factored_states(traj):
    return np.einsum("tir,tr,tjr->tij", traj.X.u, traj.X.s, traj.X.v)


def max_rel_err(xs, ys):
    return max(rel_err(x, y) for x, y in zip(xs, ys))


def upstairs_reference(loss, factors0, t_eval):
    """Upstairs gradient flow on the factors with dense products, scipy DOP853 (tight)."""
    shapes = [w.shape for w in factors0]
    sizes = np.cumsum([0] + [w.size for w in factors0])
    mask = np.zeros((M, N_COLS))
    target = np.zeros((M, N_COLS))
    mask[loss.rows, loss.cols] = 1.0
    target[loss.rows, loss.cols] = loss.values

    def unpack(y):
        return [y[a:b].reshape(s) for a, b, s in zip(sizes[:-1], sizes[1:], shapes)]

    def rhs(t, y):
        ws = unpack(y)
        g = mask * (brute_product(ws) - target)
        out = []
        for p in range(len(ws)):
            below = brute_product(ws[:p]) if p else np.eye(N_COLS)
            above = brute_product(ws[p + 1:]) if p + 1 < len(ws) else np.eye(M)
            out.append(-(above.T @ g @ below.T).ravel())
        return np.concatenate(out)

    y0 = np.concatenate([w.ravel() for w in factors0])
    sol = solve_ivp(rhs, (t_eval[0], t_eval[-1]), y0, method="DOP853", t_eval=t_eval,
                    rtol=1e-12, atol=1e-14)
    assert sol.success
    return np.array([brute_product(unpack(y)) for y in sol.y.T])


@pytest.mark.parametrize("depth,spectrum", [(3, [1.0, 0.3]), (2, [0.8, 0.5]),
                                            (4, [1.0, 1.0])])
def test_flow_matches_dense_downstairs_flow(problem, depth, spectrum):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=1, spectrum=spectrum)
    lr = lowrank_flow(loss, x0, depth, (0.0, T_EVAL[-1]),
                      record=At(T_EVAL, factors=True), options=FlowOptions(rtol=1e-11, atol=1e-13))
    assert lr.status == "completed" and np.allclose(lr.times, T_EVAL)
    dense = geodln.downstairs_flow(loss.to_dense_loss(), x0.to_dense(), _on_rank(depth),
                                   (0.0, T_EVAL[-1]), record=geodln.At(T_EVAL),
                                   solver=geodln.Solver("DOP853", rtol=1e-12, atol=1e-14))
    assert max_rel_err(factored_states(lr), dense.X) < 1e-6
    assert np.allclose(lr.singular_values, dense.singular_values[:, :R], rtol=1e-6)
    assert np.allclose(lr.loss, dense.loss, rtol=1e-6)


def test_flow_with_tiny_singular_value():
    """sigma_r = 1e-8 at depth 3: X agrees with the dense flow to 1e-6 relative, and the tiny
    sigma_r is tracked against the upstairs reference (which resolves it relatively) to the
    accuracy the Frobenius-norm error control gives (absolute ~ rtol ||X||, see lowrank.flow).
    """
    loss, _ = random_sparse_completion((M, N_COLS), R, fraction=0.5, seed=0)
    x0 = random_factored_point(M, N_COLS, R, seed=1, spectrum=[1.0, 1e-8])
    lr = lowrank_flow(loss, x0, 3, (0.0, T_EVAL[-1]),
                      record=At(T_EVAL, factors=True), options=FlowOptions(rtol=1e-10, atol=1e-13))
    assert np.all(np.isfinite(lr.singular_values)) and lr.status == "completed"
    dense = geodln.downstairs_flow(loss.to_dense_loss(), x0.to_dense(), _on_rank(3),
                                   (0.0, T_EVAL[-1]), record=geodln.At(T_EVAL),
                                   solver=geodln.Solver("DOP853", rtol=1e-12, atol=1e-14))
    assert max_rel_err(factored_states(lr), dense.X) < 1e-6
    ref = upstairs_reference(loss, bottleneck_factors(x0, 3), T_EVAL)
    s_ref = np.linalg.svd(ref, compute_uv=False)[:, :R]
    assert np.max(np.abs(lr.singular_values[:, 0] - s_ref[:, 0]) / s_ref[:, 0]) < 1e-6
    assert np.max(np.abs(lr.singular_values[:, 1] - s_ref[:, 1]) / s_ref[:, 1]) < 3e-3
    assert np.all(lr.singular_values[:, 1] > 0.9e-8)


@pytest.mark.parametrize("depth", [2, 3])
def test_flow_matches_upstairs_flow_with_bottleneck_widths(problem, depth):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=2, spectrum=[0.9, 0.2])
    lr = lowrank_flow(loss, x0, depth, (0.0, T_EVAL[-1]),
                      record=At(T_EVAL, factors=True), options=FlowOptions(rtol=1e-11, atol=1e-13))
    ref = upstairs_reference(loss, bottleneck_factors(x0, depth), T_EVAL)
    assert max_rel_err(factored_states(lr), ref) < 1e-6


def test_flow_error_decreases_with_tolerance(problem):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=3, spectrum=[1.0, 0.4])
    dense = geodln.downstairs_flow(loss.to_dense_loss(), x0.to_dense(), _on_rank(3), (0.0, 1.0),
                                   record=geodln.At([1.0]),
                                   solver=geodln.Solver("DOP853", rtol=1e-13, atol=1e-14))
    errs = {}
    for method in ("RK23", "RK45"):
        for rtol in (1e-4, 1e-8):
            tr = lowrank_flow(loss, x0, 3, (0.0, 1.0),
                              options=FlowOptions(method=method, rtol=rtol, atol=1e-14))
            errs[method, rtol] = rel_err(tr.final_X.to_dense(), dense.X[-1])
    for method in ("RK23", "RK45"):
        assert errs[method, 1e-8] < 1e-2 * errs[method, 1e-4]
        assert errs[method, 1e-8] < 1e-6


@pytest.mark.parametrize("depth", [1, 3])
def test_gradient_descent_matches_dense(problem, depth):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=4, spectrum=[1.0, 0.05])
    eta, steps = 0.02, 15
    lr = lowrank_gradient_descent(loss, x0, depth, eta, steps,
                                  record=Every(factors=True))
    dense = geodln.gradient_descent(loss.to_dense_loss(), x0.to_dense(), eta, steps,
                                    metric=_on_rank(depth))
    xs = factored_states(lr)
    assert max_rel_err(xs, dense.X) < 1e-10
    if depth == 1:
        return
    # test-local reference: X <- truncated SVD of X - eta * A_{N,X}(grad) (defining sum)
    mask = np.zeros((M, N_COLS))
    target = np.zeros((M, N_COLS))
    mask[loss.rows, loss.cols] = 1.0
    target[loss.rows, loss.cols] = loss.values
    x = x0.to_dense()
    for k in range(steps):
        u, s, vt = np.linalg.svd(x - eta * brute_A(x, mask * (x - target), depth))
        x = (u[:, :R] * s[:R]) @ vt[:R]
        assert rel_err(xs[k + 1], x) < 1e-10


def test_upstairs_descent_matches_dense_upstairs(problem):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=5, spectrum=[1.0, 0.3])
    factors = bottleneck_factors(x0, 3)
    eta, steps = 0.02, 12
    thin = upstairs_gradient_descent(loss, factors, eta, steps)
    dense = geodln.gradient_descent(loss.to_dense_loss(), factors, eta, steps, mode="upstairs")
    assert np.allclose(thin.singular_values, dense.singular_values[:, :R], rtol=1e-10, atol=1e-13)
    assert rel_err(brute_product(thin.factors), dense.X[-1]) < 1e-10
    # GD does not conserve balance exactly (the flow does); the defect equals the dense run's
    assert abs(thin.metadata["balance_defect"] - balance_defect(dense.factors)) < 1e-10


def test_trajectory_files_and_dense_conversion(problem, tmp_path):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=6, spectrum=[1.0, 0.5])
    tr = lowrank_gradient_descent(loss, x0, 3, 0.02, 5, record=Every(factors=True))
    path = tmp_path / "run.npz"
    tr.save(path)
    back = Trajectory.load(path)
    assert back.state == "factored"
    assert np.array_equal(back.singular_values, tr.singular_values)
    assert np.array_equal(back.X.u, tr.X.u) and np.array_equal(back.X.v, tr.X.v)
    assert back.status == tr.status and rel_err(back.final_X.to_dense(),
                                                tr.final_X.to_dense()) == 0
    dense = tr.to_dense()
    assert np.allclose(dense.singular_values[:, :R], tr.singular_values, rtol=1e-12)
    assert np.allclose(dense.effective_rank, tr.effective_rank, rtol=1e-10)
    bare = lowrank_gradient_descent(loss, x0, 3, 0.02, 2)
    with pytest.raises(ValueError, match="factors=True"):
        bare.to_dense()


def test_stopping_rules(problem):
    loss, truth = problem
    x0 = random_factored_point(M, N_COLS, R, seed=7, spectrum=[1.0, 0.5])
    start_loss = loss.value(x0)
    tr = lowrank_flow(loss, x0, 2, (0.0, 50.0), stop=StoppingRules(loss_tol=1e-3 * start_loss))
    assert tr.status == "loss_tol" and tr.final_loss <= 1e-3 * start_loss
    tr = lowrank_gradient_descent(loss, x0, 2, 0.01, 1000,
                                  stop=StoppingRules(max_norm=1.5 * x0.frobenius_norm()))
    assert tr.status == "max_norm" and tr.frobenius_norm[-1] >= 1.5 * x0.frobenius_norm()
    tr = lowrank_flow(loss, x0, 2, (0.0, 5.0), stop=lambda t, p, e: t > 0.1)
    assert tr.status == "stopped" and tr.final_time > 0.1


def test_flow_bad_input(problem):
    loss, _ = problem
    x0 = random_factored_point(M, N_COLS, R, seed=8)
    with pytest.raises(ValueError, match="t_span"):
        lowrank_flow(loss, x0, 3, (1.0, 0.0))
    with pytest.raises(ValueError, match="method"):
        lowrank_flow(loss, x0, 3, (0.0, 1.0), options=FlowOptions(method="Euler"))
    with pytest.raises(ValueError, match="metric"):  # the former depth= keyword is gone
        lowrank_flow(loss, x0, None, (0.0, 1.0))
    with pytest.raises(ValueError, match="options must be a FlowOptions"):
        lowrank_flow(loss, x0, 3, (0.0, 1.0), options={"rtol": 1e-6})
    with pytest.raises(ValueError, match="X0 must be a FactoredPoint"):
        lowrank_flow(loss, np.ones((M, N_COLS)), 3, (0.0, 1.0))
    with pytest.raises(ValueError, match="rank"):
        FactoredPoint.from_dense(np.ones((M, N_COLS)), rank=20)
    with pytest.raises(ValueError, match="record times"):
        lowrank_flow(loss, x0, 3, (0.0, 1.0), record=At([2.0]))
    with pytest.raises(ValueError, match="step_size"):
        lowrank_gradient_descent(loss, x0, 3, -1.0, 3)
    with pytest.raises(ValueError, match="depth"):
        lowrank_gradient_descent(loss, x0, 0, 0.1, 3)
    with pytest.raises(ValueError, match="X0"):
        lowrank_flow(loss, [[1.0]], 3, (0.0, 1.0))
    assert isinstance(x0, FactoredPoint)
