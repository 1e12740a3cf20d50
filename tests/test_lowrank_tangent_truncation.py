"""The products-only truncation of a tangent step (geodln.lowrank.tangent_truncation).

Every expected value is an independent dense computation: ``numpy.linalg.svd`` of the dense
m×n matrix X + tZ, truncated (Eckart–Young), or the QR + 2r×2r-core path of the retraction.
"""

import numpy as np
import pytest

from geodln.lowrank import (
    FactoredDLNMetric,
    lowrank_gradient_descent,
    project_to_tangent,
    random_factored_point,
    random_sparse_completion,
    retraction,
)
from geodln.lowrank.driver import factored_velocity
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import retract_by_core_svd, retract_or_nan
from geodln.lowrank.tangent import FactoredTangent
from geodln.lowrank.tangent_truncation import truncate_tangent_step


def dense_truncation(y, rank):
    u, s, vt = np.linalg.svd(y)
    return (u[..., :, :rank] * s[..., None, :rank]) @ vt[..., :rank, :], s[..., :rank]


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def step_problem(m, n, r, spectrum, seed=0, scale=1.0):
    x = random_factored_point(m, n, r, seed=seed, spectrum=np.asarray(spectrum) * scale)
    g = np.random.default_rng(seed + 1).standard_normal((m, n)) * scale
    return x, project_to_tangent(g, x)


@pytest.mark.parametrize("m,n,r", [(40, 30, 5), (30, 45, 12), (20, 24, 11), (12, 9, 8)])
@pytest.mark.parametrize("t", [1e-4, 1e-2, -3e-2])
def test_equals_dense_truncated_svd(m, n, r, t):
    x, z = step_problem(m, n, r, np.linspace(2.0, 1.0, r))
    y = x.to_dense() + t * z.to_dense(x)
    for rank in (r, r - 1):
        un, sn, vn, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up, z.vp), t, rank)
        assert bool(ok)
        expected, s_exp = dense_truncation(y, rank)
        assert rel((un * sn) @ vn.T, expected) < 1e-12
        assert np.allclose(sn, s_exp, rtol=1e-12)
        assert np.all(np.diff(sn) <= 0)
        assert np.abs(un.T @ un - np.eye(rank)).max() < 1e-13
        assert np.abs(vn.T @ vn - np.eye(rank)).max() < 1e-13


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_exact_at_extreme_scales(scale):
    x, z = step_problem(30, 20, 4, [4.0, 3.0, 2.0, 1.0], seed=3, scale=scale)
    t = 1e-2
    un, sn, vn, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up, z.vp), t, 4)
    assert bool(ok)
    y = x.to_dense() / scale + t * z.to_dense(x) / scale
    expected, s_exp = dense_truncation(y, 4)
    assert np.allclose(sn / scale, s_exp, rtol=1e-12)
    assert rel((un * (sn / scale)) @ vn.T, expected) < 1e-12


def test_uncertified_members_are_flagged_and_retraction_falls_back(monkeypatch):
    """A batch mixing a small step, a step past the gap and a repeated-value point."""
    monkeypatch.setattr(retraction, "PRODUCTS_ROUTE_MIN_RANK", 1)
    m, n, r = 25, 18, 3
    x0, z0 = step_problem(m, n, r, [3.0, 2.0, 1.0], seed=5)
    x1, z1 = step_problem(m, n, r, [1.0, 0.5, 0.01], seed=6)  # step 0.3 crosses sigma_r
    x2, z2 = step_problem(m, n, r, [1.0, 1.0, 1.0], seed=7)  # repeated singular values
    x = FactoredPoint.stack([x0, x1, x2])
    z = FactoredTangent(*(np.stack(a) for a in zip((z0.m_core, z0.up, z0.vp),
                                                   (z1.m_core, z1.up, z1.vp),
                                                   (z2.m_core, z2.up, z2.vp))))
    t = np.array([1e-3, 0.3, 1e-3])
    _, _, _, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up, z.vp), t, r)
    assert ok.tolist()[0] and not ok.tolist()[1]
    out = retract_or_nan(x, z, t)
    core = retract_by_core_svd(x, z, t)
    assert np.abs(out.s - core.s).max() < 1e-12 * out.s.max()
    for k in range(3):
        y = x[k].to_dense() + t[k] * FactoredTangent(z.m_core[k], z.up[k], z.vp[k]).to_dense(x[k])
        expected, _ = dense_truncation(y, r)
        assert rel(out[k].to_dense(), expected) < 1e-12


def test_non_finite_members_not_accepted():
    x, z = step_problem(15, 12, 2, [2.0, 1.0], seed=8)
    up = z.up.copy()
    up[0, 0] = np.nan
    _, _, _, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, up, z.vp), 1e-2, 2)
    assert not bool(ok)
    _, _, _, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up, z.vp), np.inf, 2)
    assert not bool(ok)


def test_gradient_descent_step_equals_dense_downstairs_step():
    """One factored GD step at the benchmark's size equals the dense step computed by hand."""
    m, n, r, eta = 60, 90, 20, 1e-3
    loss, _ = random_sparse_completion((m, n), r, fraction=0.25, seed=0)
    x0 = random_factored_point(m, n, r, seed=1, spectrum=np.linspace(1.0, 0.1, r))
    tr = lowrank_gradient_descent(loss, x0, 3, eta, 3, record=1)
    # independent dense recursion: X <- P_r(X - eta A_{3,X}(grad)), A by the defining sum
    x = x0.to_dense()
    mask = np.zeros((m, n))
    mask[loss.rows, loss.cols] = 1.0
    b = np.zeros((m, n))
    b[loss.rows, loss.cols] = loss.values
    for _ in range(3):
        g = mask * (x - b)
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        u, s, v = u[:, :r], s[:r], vt[:r].T  # x has rank r exactly
        a = sum(_power(u, s, (3 - j) / 3) @ g @ _power(v, s, (j - 1) / 3) for j in (1, 2, 3))
        x, _ = dense_truncation(x - eta * a, r)
    assert rel(tr.final_X.to_dense(), x) < 1e-10


def _power(q, s, p):
    """(Q diag(s^2) Q^T)^p of a rank-r Gram matrix; the identity for p = 0."""
    return (q * s ** (2 * p)) @ q.T if p else np.eye(len(q))


def test_factored_velocity_step_matches_general_path():
    """The fast path and the QR/2r-core path agree on a completion gradient step."""
    loss, _ = random_sparse_completion((50, 70), 10, fraction=0.3, seed=2)
    x = random_factored_point(50, 70, 10, seed=3, spectrum=np.geomspace(1.0, 0.05, 10))
    _, k = factored_velocity(loss, FactoredDLNMetric(3), x)
    un, sn, vn, ok = truncate_tangent_step(x.u, x.s, x.v, (k.m_core, k.up, k.vp), 1e-3, 10)
    assert bool(ok)
    expected, _ = dense_truncation(x.to_dense() + 1e-3 * k.to_dense(x), 10)
    assert rel((un * sn) @ vn.T, expected) < 1e-12


def test_bad_input_raises_value_error():
    x, z = step_problem(10, 8, 3, [3.0, 2.0, 1.0], seed=9)
    blocks = (z.m_core, z.up, z.vp)
    with pytest.raises(ValueError, match="rank"):
        truncate_tangent_step(x.u, x.s, x.v, blocks, 0.1, 4)
    with pytest.raises(ValueError, match="rank"):
        truncate_tangent_step(x.u, x.s, x.v, blocks, 0.1, True)
    with pytest.raises(ValueError, match="must match"):
        truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up[:5], z.vp), 0.1, 3)
    with pytest.raises(ValueError, match="must match"):
        truncate_tangent_step(x.u, x.s, x.v, blocks, np.ones(2), 3)
    with pytest.raises(ValueError, match="real arrays"):
        truncate_tangent_step(x.u, x.s, x.v, blocks, "a", 3)


@pytest.mark.parametrize("batch", [None, 1, 2])
@pytest.mark.parametrize("scale", [1e-150, 1e-3, 1e150])
def test_tied_singular_values_one_member_and_batches(batch, scale):
    """The inpainting start U (c I) Vᵀ: all σ tied; LAPACK directly (one member) or batched."""
    m, n, r, t = 40, 50, 18, 1e-2
    x = random_factored_point(m, n, r, seed=11, spectrum=np.full(r, scale), batch=batch)
    g = np.random.default_rng(12).standard_normal(x.batch_shape + (m, n)) * scale
    z = project_to_tangent(g, x)
    un, sn, vn, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up, z.vp), t, r)
    assert np.all(ok)
    y = (x.to_dense() + t * z.to_dense(x)) / scale
    expected, s_exp = dense_truncation(y, r)
    assert np.allclose(sn / scale, s_exp, rtol=1e-12)
    assert rel((un * (sn / scale)[..., None, :]) @ np.swapaxes(vn, -1, -2), expected) < 1e-12
    eye = np.eye(r)
    assert np.abs(np.swapaxes(un, -1, -2) @ un - eye).max() < 1e-13
    assert np.abs(np.swapaxes(vn, -1, -2) @ vn - eye).max() < 1e-13
