"""Small-core factorisations (geodln.lowrank.core_linalg): one member and batches as numpy."""

import numpy as np
import pytest

from geodln.lowrank.core_linalg import cholesky_lower, inverse, solve_lower, svd


@pytest.mark.parametrize("lead", [(), (1,), (3,), (2, 1)])
def test_agree_with_numpy_for_one_member_and_batches(lead):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(lead + (7, 7))
    spd = np.swapaxes(a, -1, -2) @ a + np.eye(7)
    b = rng.standard_normal(lead + (7, 3))
    assert np.allclose(inverse(a) @ a, np.eye(7), atol=1e-12)
    low = cholesky_lower(spd)
    assert np.allclose(low, np.linalg.cholesky(spd), atol=1e-13)
    assert np.allclose(np.triu(low, 1), 0.0)
    assert np.allclose(low @ solve_lower(low, b), b, atol=1e-12)
    assert np.allclose(np.swapaxes(low, -1, -2) @ solve_lower(low, b, transposed=True), b,
                       atol=1e-12)
    u, s, vt = svd(a)
    assert u.shape == a.shape and vt.shape == a.shape and s.shape == lead + (7,)
    assert np.allclose(s, np.linalg.svd(a, compute_uv=False), rtol=1e-13)
    assert np.allclose((u * s[..., None, :]) @ vt, a, atol=1e-12)
    assert np.allclose(np.swapaxes(u, -1, -2) @ u, np.eye(7), atol=1e-13)
    assert np.all(np.diff(s, axis=-1) <= 0)


@pytest.mark.parametrize("lead", [(), (1,), (2,)])
def test_failures_raise_linalg_error(lead):
    singular = np.zeros(lead + (3, 3))
    with pytest.raises(np.linalg.LinAlgError):
        inverse(singular)
    with pytest.raises(np.linalg.LinAlgError):
        cholesky_lower(-np.broadcast_to(np.eye(3), lead + (3, 3)).copy())
