"""Step-size guidance against explicit matrices of the co-metric and the Hessian."""

import numpy as np
import pytest
import scipy.sparse

import geodln
from geodln.step_size import cometric_norm, gradient_lipschitz_constant, stable_step_size
from tests.brute import brute_cometric_matrix


def _completion(seed=0):
    return geodln.losses.random_completion((4, 3), 2, fraction=0.6, seed=seed)[0]


def _hessian(loss, m, n):
    """Dense Hessian of a quadratic loss from gradients at unit matrices (exact)."""
    g0 = loss.euclidean_gradient(np.zeros((m, n)))
    cols = []
    for k in range(m * n):
        e = np.zeros(m * n)
        e[k] = 1
        cols.append((loss.euclidean_gradient(e.reshape(m, n)) - g0).ravel())
    return np.array(cols).T


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_cometric_norm_is_largest_eigenvalue(depth):
    x = np.random.default_rng(depth).standard_normal((4, 3))
    metric = geodln.DLNMetric(geodln.RankMatrices(4, 3), depth=depth)
    expected = np.linalg.eigvalsh(brute_cometric_matrix(x, depth)).max()
    assert cometric_norm(metric, x, n_iter=300) == pytest.approx(expected, rel=1e-6)
    assert cometric_norm(depth, x) == pytest.approx(expected, rel=1e-12)
    # closed form at extreme scale: no overflow where the value is representable
    big = cometric_norm(depth, 1e150 * x)
    assert big == pytest.approx(expected * 1e150 ** (2 - 2 / depth), rel=1e-12)


def test_lipschitz_constant_of_completion_and_sensing():
    loss = _completion()
    assert gradient_lipschitz_constant(loss, np.ones((4, 3))) == pytest.approx(1.0, rel=1e-9)
    sensing = geodln.losses.random_sensing((3, 3), 1, 5, seed=0)[0]
    h = _hessian(sensing, 3, 3)
    expected = np.abs(np.linalg.eigvalsh((h + h.T) / 2)).max()
    got = gradient_lipschitz_constant(sensing, np.ones((3, 3)), n_iter=500)
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("depth", [2, 3])
def test_proposed_step_is_linearly_stable(depth):
    loss = _completion(seed=depth)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    eta = stable_step_size(loss, x, depth)
    a = brute_cometric_matrix(x, depth)
    h = _hessian(loss, 4, 3)
    radius = np.abs(np.linalg.eigvals(np.eye(12) - eta * a @ h)).max()
    assert radius <= 1.0 + 1e-9
    # and it is not needlessly small: within the factor 2·safety of the sharp bound
    lam_ah = np.abs(np.linalg.eigvals(a @ h)).max()
    assert eta * lam_ah >= 0.1


def test_stable_step_size_errors():
    loss = _completion()
    with pytest.raises(ValueError, match="safety"):
        stable_step_size(loss, np.eye(4, 3), 3, safety=2.0)
    with pytest.raises(ValueError, match="metric"):
        stable_step_size(loss, np.eye(4, 3), True)
    with pytest.raises(ValueError, match="start"):
        stable_step_size(loss, np.full((4, 3), np.nan), 3)


# --- the default step of the GD entry points (issue 16, item 5) ------------------------------

def _dense_hessian_of_factored(loss, m, n):
    """Hessian of a factored least-squares loss from its dense twin or its measurements."""
    if hasattr(loss, "to_dense_loss"):
        return _hessian(loss.to_dense_loss(), m, n)
    # rank-one sensing: rows vec(a_i b_iᵀ)
    rows = np.einsum("ki,kj->kij", loss.a, loss.b).reshape(loss.a.shape[0], -1)
    return rows.T @ rows


def test_factored_lipschitz_constants_equal_the_hessian_norm():
    from geodln.lowrank import RankOneSensing, SparseCompletion, SparseSensing

    rng = np.random.default_rng(3)
    completion = SparseCompletion(([0, 1, 2, 2], [1, 0, 2, 1]), [1.0, 2.0, 3.0, 4.0], (3, 4))
    assert completion.lipschitz_constant() == pytest.approx(
        np.abs(np.linalg.eigvalsh(_hessian(completion.to_dense_loss(), 3, 4))).max(), rel=1e-12)
    a = rng.standard_normal((5, 12))  # five dense measurement matrices of 3 x 4
    sensing = SparseSensing(scipy.sparse.csr_matrix(a), rng.standard_normal(5), (3, 4))
    h = a.T @ a
    assert sensing.lipschitz_constant() == pytest.approx(
        np.abs(np.linalg.eigvalsh((h + h.T) / 2)).max(), rel=1e-10)
    rank_one = RankOneSensing(rng.standard_normal((6, 3)), rng.standard_normal((6, 4)),
                              rng.standard_normal(6))
    h = _dense_hessian_of_factored(rank_one, 3, 4)
    assert rank_one.lipschitz_constant(n_iter=500) == pytest.approx(
        np.linalg.eigvalsh(h).max(), rel=1e-8)


def test_solution_scale_bounds_the_distance_to_the_minimiser():
    sensing, truth = geodln.losses.random_sensing((4, 3), 2, 12, seed=1)
    x0 = 1e-2 * np.random.default_rng(0).standard_normal((4, 3))
    from geodln.step_size import solution_scale

    scale = solution_scale(sensing, x0)
    top = np.linalg.norm(x0, 2)
    # ‖∇E(X0)‖_F / L ≤ ‖X0 − X*‖_F for any minimiser X* (here the noise-free truth)
    assert scale - top <= np.linalg.norm(x0 - truth) * (1 + 1e-9)
    # completion: H = P_Ω, so the estimate is exactly σ1(X0) + ‖P_Ω(X0 − M)‖_F
    loss = _completion()
    x0 = np.ones((4, 3))
    observed = np.zeros((4, 3), bool)
    observed[loss.rows, loss.cols] = True
    expected = np.linalg.norm(x0, 2) + np.linalg.norm(observed * (x0 - _dense_target(loss)))
    assert solution_scale(loss, x0) == pytest.approx(expected, rel=1e-9)


def _dense_target(loss):
    target = np.zeros(loss.shape)
    target[loss.rows, loss.cols] = loss.values
    return target


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_gradient_descent_default_step_is_the_stable_step_and_is_stable(mode):
    from geodln.step_size import default_step_size

    loss = _completion(seed=5)
    x0 = 1e-2 * np.random.default_rng(1).standard_normal((4, 3))
    tr = geodln.gradient_descent(loss, x0, n_steps=3000, metric=3, mode=mode)
    eta = default_step_size(loss, x0, 3)
    assert tr.metadata["step_size"] == pytest.approx(eta, rel=1e-12)
    explicit = geodln.gradient_descent(loss, x0, eta, 3000, metric=3, mode=mode)
    np.testing.assert_allclose(tr.X[-1], explicit.X[-1], rtol=1e-10, atol=1e-14)
    # it fits, and it is linearly stable at the point reached (independent matrices)
    assert tr.final_loss < 1e-6 * tr.loss[0]
    a = brute_cometric_matrix(tr.X[-1], 3)
    radius = np.abs(np.linalg.eigvals(np.eye(12) - eta * a @ _hessian(loss, 4, 3))).max()
    assert radius <= 1.0 + 1e-9


def test_batched_default_step_is_safe_for_every_member():
    from geodln.step_size import default_step_size

    loss = _completion(seed=2)
    starts = np.stack([1e-2 * np.eye(4, 3), 0.5 * np.ones((4, 3)), np.eye(4, 3)])
    solo = [default_step_size(loss, x, 3) for x in starts]
    assert default_step_size(loss, starts, 3) == pytest.approx(min(solo), rel=1e-12)
    tr = geodln.gradient_descent(loss, starts, n_steps=5, metric=3)
    assert tr.metadata["step_size"] == pytest.approx(min(solo), rel=1e-12)


def test_lowrank_descents_default_to_the_stable_step():
    from geodln.lowrank import (
        bottleneck_factors,
        lowrank_gradient_descent,
        random_factored_point,
        random_sparse_completion,
        upstairs_gradient_descent,
    )
    from geodln.step_size import default_step_size

    loss, _ = random_sparse_completion((12, 9), 2, fraction=0.6, seed=0)
    x0 = random_factored_point(12, 9, 2, seed=1, spectrum=[1e-2, 1e-2])
    dense = x0.to_dense()
    # the factored default equals the dense default on the same problem (L = 1 exactly)
    eta = default_step_size(loss.to_dense_loss(), dense, 3)
    tr = lowrank_gradient_descent(loss, x0, 3, n_steps=2000)
    assert tr.metadata["step_size"] == pytest.approx(eta, rel=1e-6)
    assert tr.final_loss < 1e-8 * tr.loss[0]
    up = upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), n_steps=2000)
    assert up.metadata["step_size"] == pytest.approx(eta, rel=1e-6)
    assert up.final_loss < 1e-6 * up.loss[0]
    with pytest.raises(ValueError, match="step_size"):
        lowrank_gradient_descent(loss, x0, np.inf, n_steps=5)


def test_gradient_descent_requires_n_steps():
    with pytest.raises(ValueError, match="n_steps"):
        geodln.gradient_descent(_completion(), np.eye(4, 3), 0.1, metric=2)


def test_a_given_lipschitz_constant_is_used_and_checked():
    from geodln.step_size import default_step_size, solution_scale

    loss = _completion(seed=3)
    x = np.ones((4, 3))
    # completion: L = 1 exactly, so passing it changes nothing
    assert stable_step_size(loss, x, 3, lipschitz=1.0) == pytest.approx(
        stable_step_size(loss, x, 3), rel=1e-9)
    assert default_step_size(loss, x, 3) == pytest.approx(
        stable_step_size(loss, x, 3, reference=solution_scale(loss, x)), rel=1e-9)
    for bad in (np.nan, -1.0, "x", True, []):
        with pytest.raises(ValueError, match="lipschitz"):
            stable_step_size(loss, x, 3, lipschitz=bad)
        with pytest.raises(ValueError, match="lipschitz"):
            solution_scale(loss, x, lipschitz=bad)
