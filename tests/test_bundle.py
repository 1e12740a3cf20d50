"""DLNBundle: Riemannian submersion of the balanced manifold onto (M_r, g^N) (reference §3).

Independent references: the balanced point and its vertical space come from the
parametrisation of tests/test_balanced.py (the fiber over X is parametrised by the hidden
frames with Q_0, Q_N, P fixed); g^N(Z, Z) from the brute N-term cometric matrix restricted to
an orthonormal basis of T_X M_r; D phi from an explicit Leibniz sum over brute products.
"""

import numpy as np
import pytest
from brute import (
    brute_cometric_matrix,
    brute_product,
    numerical_jacobian,
    numerical_rank,
    rel_err,
    rng,
    tangent_basis,
)
from test_balanced import build_point, polar

from geodln import BalancedManifold, DLNBundle, DLNMetric, RankMatrices
from geodln.bundle import balanced_total_space, quotient_metric

CONFIGS = [
    (3, 3, 3, 3, (3, 3)),
    (3, 4, 4, 2, (2, 2)),
    (3, 4, 3, 2, (3, 4)),
    (2, 3, 3, 2, (5,)),
    (4, 2, 5, 2, (3, 3, 2)),
    (1, 4, 3, 2, ()),
    (5, 3, 3, 3, (3, 4, 3, 3)),
]


def setup(depth, m, n, r, widths, s=None, seed=0):
    space = BalancedManifold(depth, m, n, rank=r, widths=widths)
    bundle = DLNBundle(space)
    s = [2.5, 1.2, 0.4][:r] if s is None else s
    W, frames, P, factors = build_point(depth, m, n, s, widths, seed=seed)
    return space, bundle, W, frames, P, factors


def brute_g(X, r, depth, Z):
    """g^N_X(Z, Z) = z^T (B A B^T)^{-1} z on an orthonormal basis B of T_X M_r."""
    m, n = X.shape
    B = tangent_basis(X, r).reshape(-1, m * n)
    G = B @ brute_cometric_matrix(X, depth) @ B.T if depth > 1 else np.eye(len(B))
    z = B @ Z.ravel()
    return float(z @ np.linalg.solve(G, z))


def brute_dphi(factors, tangent_factors):
    """sum_p W_N..W_{p+1} V_p W_{p-1}..W_1 with explicit products."""
    N = len(factors)
    total = 0.0
    for p in range(N):
        above = brute_product(factors[p + 1 :]) if p + 1 < N else np.eye(factors[-1].shape[0])
        below = brute_product(factors[:p]) if p > 0 else np.eye(factors[0].shape[1])
        total = total + above @ tangent_factors[p] @ below
    return total


def vertical_jacobian(depth, frames, P):
    """Jacobian of the hidden frames -> W at fixed Q_0, Q_N, P: spans the vertical space."""
    hidden = frames[1:-1]
    sizes = [q.size for q in hidden]

    def f(theta):
        i, qs = 0, [frames[0]]
        for q, sz in zip(hidden, sizes):
            qs.append(polar(q + theta[i : i + sz].reshape(q.shape)))
            i += sz
        qs.append(frames[-1])
        return np.concatenate([(qs[p + 1] @ P @ qs[p].T).ravel() for p in range(depth)])

    return numerical_jacobian(f, np.zeros(sum(sizes)), eps=1e-6)


@pytest.mark.parametrize("kind", ["distinct", "tied"])
@pytest.mark.parametrize("depth,m,n,r,widths", CONFIGS)
def test_horizontal_lift(depth, m, n, r, widths, kind):
    s = None if kind == "distinct" else [1.0] * r
    space, bundle, W, frames, P, factors = setup(depth, m, n, r, widths, s, seed=depth + r)
    X = brute_product(factors)
    np.testing.assert_allclose(bundle.riemannian_submersion(W), X, atol=1e-13)
    B = tangent_basis(X, r)
    Z = np.einsum("k,kij->ij", rng(1).standard_normal(len(B)), B)
    H = bundle.horizontal_lift(Z, fiber_point=W)
    # tangent to M_r
    assert space.is_tangent(H, W, atol=1e-12)
    # projects back to Z (explicit Leibniz sum)
    assert rel_err(brute_dphi(factors, space.factors(H)), Z) <= 1e-12
    # orthogonal to the vertical space (fiber tangents from the independent parametrisation)
    if depth > 1:
        Jv = vertical_jacobian(depth, frames, P)
        assert np.abs(Jv.T @ H).max() <= 1e-8 * np.linalg.norm(H) * np.abs(Jv).max()
    # Frobenius norm^2 = g^N(Z, Z) (Menon-Yu), plain-sum normalisation
    g = brute_g(X, r, depth, Z)
    assert abs(H @ H - g) <= 1e-12 * g
    assert bundle.is_horizontal(H, W)


@pytest.mark.parametrize("depth,m,n,r,widths", CONFIGS)
def test_vertical_and_horizontal_projections(depth, m, n, r, widths):
    space, bundle, W, frames, P, factors = setup(depth, m, n, r, widths, seed=11)
    eye = np.eye(space.total_dim)
    Pv = np.array([bundle.vertical_projection(e, W) for e in eye]).T
    Ph = np.array([bundle.horizontal_projection(e, W) for e in eye]).T
    Pt = np.array([space.to_tangent(e, W) for e in eye]).T
    dim_fiber = sum(d * r - r * (r + 1) // 2 for d in widths)
    np.testing.assert_allclose(Pv + Ph, Pt, atol=1e-12)
    for proj, rank in [(Pv, dim_fiber), (Ph, r * (m + n - r))]:
        np.testing.assert_allclose(proj @ proj, proj, atol=1e-11)
        np.testing.assert_allclose(proj, proj.T, atol=1e-11)
        if rank == 0:  # depth 1: trivial fiber
            assert np.abs(proj).max() <= 1e-12
        else:
            assert numerical_rank(proj, 1e-8) == rank
    if depth > 1:
        Jv = vertical_jacobian(depth, frames, P)
        assert numerical_rank(Jv, 1e-7) == dim_fiber
        assert np.abs(Pv @ Jv - Jv).max() <= 1e-8 * np.abs(Jv).max()
        col = Jv[:, np.argmax(np.linalg.norm(Jv, axis=0))]
        col = Pv @ col  # exactly vertical (removes the finite-difference error)
        assert bundle.is_vertical(col, W)
        assert not bundle.is_horizontal(col, W)
    v = space.random_tangent_vec(W, seed=3)
    h = bundle.horizontal_projection(v, W)
    assert bundle.is_horizontal(h, W)
    dphi_v = brute_dphi(factors, space.factors(v))
    assert rel_err(bundle.tangent_riemannian_submersion(h, W), dphi_v) <= 1e-11


@pytest.mark.parametrize("depth,m,n,r,widths", CONFIGS)
def test_quotient_metric_equals_dln_metric(depth, m, n, r, widths):
    base = RankMatrices(m, n, r)
    qm = quotient_metric(base, depth, widths)
    assert base.metric is qm
    dln = DLNMetric(RankMatrices(m, n, r, equip=False), depth)
    g = rng(depth + m)
    X = np.stack([base.random_point(seed=g) for _ in range(3)])
    Z1 = base.random_tangent_vec(X, n_samples=3, seed=g)
    Z2 = base.random_tangent_vec(X, n_samples=3, seed=g)
    got = qm.inner_product(Z1, Z2, X)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, dln.inner_product(Z1, Z2, X), rtol=1e-11)
    for i in range(3):
        assert abs(qm.squared_norm(Z1[i], X[i]) - brute_g(X[i], r, depth, Z1[i])) <= 1e-10 * (
            brute_g(X[i], r, depth, Z1[i])
        )
    # at a lift with random hidden frames (another point of the fiber) the result is the same
    W = qm._total_space.lift(X[0], seed=5)
    np.testing.assert_allclose(
        qm.inner_product(Z1[0], Z2[0], fiber_point=W), dln.inner_product(Z1[0], Z2[0], X[0]),
        rtol=1e-11,
    )


def test_lift_and_submersion():
    total = balanced_total_space(RankMatrices(4, 3, 2), 3, widths=(3, 5))
    bundle = total.fiber_bundle
    X = RankMatrices(4, 3, 2).random_point(4, seed=1)
    W = bundle.lift(X)
    assert W.shape == (4, total.total_dim) and np.all(total.belongs(W))
    for i in range(4):
        assert rel_err(bundle.riemannian_submersion(W[i]), X[i]) <= 1e-13
        assert rel_err(brute_product(total.factors(W[i])), X[i]) <= 1e-13
    Z = RankMatrices(4, 3, 2).random_tangent_vec(X, n_samples=4, seed=2)
    H = bundle.horizontal_lift(Z, base_point=X)
    assert H.shape == (4, total.total_dim)
    assert np.all(bundle.is_horizontal(H, W))
    np.testing.assert_allclose(bundle.tangent_riemannian_submersion(H, W), Z, atol=1e-12)


def test_lift_of_a_point_of_higher_rank_is_refused_not_truncated():
    # a rank-3 matrix on the rank-2 balanced manifold: the lift would drop sigma_3 silently
    from geodln.bundle import DLNBundle
    from geodln.spaces import BalancedManifold

    bundle = DLNBundle(BalancedManifold(3, 4, 3, rank=2, widths=(5, 2)))
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert np.linalg.svd(x, compute_uv=False)[2] > 0.1  # independent: x really has rank 3
    with pytest.raises(ValueError, match="point must have rank 2"):
        bundle.lift(x)
