"""Step-size guidance against explicit matrices of the co-metric and the Hessian."""

import numpy as np
import pytest

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
