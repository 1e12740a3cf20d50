"""BalancedManifold against an independent parametrisation (reference §1).

Points are built here, not by geodln: W_p = Q_p P Q_{p-1}^T with Q_0 = V, Q_N = U, hidden
frames Q_p in St(d_p, r) and P = Sigma^{1/N} (or any SPD r x r matrix). The map
(Q_0, ..., Q_N, P) -> W (Stiefel frames through a polar retraction, P symmetric) is a smooth
parametrisation of the balanced manifold, also at repeated singular values; the tangent space
is the image of its Jacobian (central differences), and its dimension is the Jacobian's
numerical rank.
"""

import numpy as np
import pytest
from brute import (
    brute_balance_residuals,
    brute_product,
    matrix_with_spectrum,
    numerical_jacobian,
    numerical_rank,
    random_stiefel,
    rel_err,
    rng,
)

from geodln import BalancedManifold

# (depth, m, n, rank, hidden widths): all equal to the rank, bottleneck, wider than the rank
CONFIGS = [
    (3, 3, 3, 3, (3, 3)),  # square, every width = rank (regular level set)
    (3, 4, 4, 2, (2, 2)),  # bottleneck: rank 2 in 4 x 4
    (3, 4, 3, 2, (3, 4)),  # hidden layers wider than the rank
    (2, 3, 3, 2, (5,)),
    (4, 2, 5, 2, (3, 3, 2)),
    (1, 4, 3, 2, ()),  # depth 1: the rank-r matrices themselves
    (2, 2, 2, 1, (3,)),
]


def polar(a):
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    return u @ vt


def build_point(depth, m, n, s, widths, seed=0):
    """Independent construction: frames, P = diag(s^(1/N)); returns flat point and parts."""
    g = rng(seed)
    _, U, s, V = matrix_with_spectrum(m, n, s, seed=g)
    r = len(s)
    frames = [V] + [random_stiefel(d, r, g) for d in widths] + [U]
    P = np.diag(s ** (1.0 / depth))
    factors = [frames[p + 1] @ P @ frames[p].T for p in range(depth)]
    return np.concatenate([w.ravel() for w in factors]), frames, P, factors


def parametrisation_jacobian(depth, frames, P):
    """Jacobian at 0 of theta -> W(polar(Q_p + dQ_p), P + sym(dP))."""
    shapes = [q.shape for q in frames]
    sizes = [a * b for a, b in shapes]
    r = P.shape[0]

    def f(theta):
        i, qs = 0, []
        for q, sh, sz in zip(frames, shapes, sizes):
            qs.append(polar(q + theta[i : i + sz].reshape(sh)))
            i += sz
        dP = theta[i:].reshape(r, r)
        Pt = P + 0.5 * (dP + dP.T)
        return np.concatenate([(qs[p + 1] @ Pt @ qs[p].T).ravel() for p in range(depth)])

    return numerical_jacobian(f, np.zeros(sum(sizes) + r * r), eps=1e-6)


def projector(space, W):
    return np.array([space.to_tangent(e, W) for e in np.eye(space.total_dim)]).T


def spectrum(r, kind):
    return {"distinct": [3.0, 1.7, 0.6][:r], "tied": [1.0] * r, "diag112": [2.0, 1.0, 1.0][:r]}[
        kind
    ]


@pytest.mark.parametrize("kind", ["distinct", "tied", "diag112"])
@pytest.mark.parametrize("depth,m,n,r,widths", CONFIGS)
def test_dim_and_tangent_projection(depth, m, n, r, widths, kind):
    space = BalancedManifold(depth, m, n, rank=r, widths=widths)
    W, frames, P, factors = build_point(depth, m, n, spectrum(r, kind), widths, seed=r + depth)
    assert space.belongs(W)
    J = parametrisation_jacobian(depth, frames, P)
    formula = r * (m + n - r) + sum(d * r - r * (r + 1) // 2 for d in widths)
    assert space.dim == formula == numerical_rank(J, 1e-7)
    Pm = projector(space, W)
    np.testing.assert_allclose(Pm @ Pm, Pm, atol=1e-12)  # idempotent
    np.testing.assert_allclose(Pm, Pm.T, atol=1e-12)  # orthogonal
    assert numerical_rank(Pm, 1e-8) == space.dim  # image has the right dimension
    assert np.abs(Pm @ J - J).max() <= 1e-8 * np.abs(J).max()  # image = T_W (Jacobian image)


@pytest.mark.parametrize("depth,m,n,r,widths", CONFIGS)
def test_lift_product_balance_and_belongs(depth, m, n, r, widths):
    space = BalancedManifold(depth, m, n, rank=r, widths=widths)
    W, frames, P, factors = build_point(depth, m, n, [2.5, 1.2, 0.4][:r], widths, seed=3)
    X = brute_product(factors)
    lifted = space.lift(X, frames=frames[1:-1])
    # the SVD of X is unique up to column signs, which the frames then absorb
    ws = space.factors(lifted)
    assert rel_err(brute_product(ws), X) <= 1e-13
    for res in brute_balance_residuals(ws):
        assert np.abs(res).max() <= 1e-13
    assert space.belongs(lifted)
    rand = space.lift(X, seed=4)
    assert space.belongs(rand)
    assert rel_err(brute_product(space.factors(rand)), X) <= 1e-13
    assert rel_err(rand, space.lift(X, seed=4)) == 0.0  # seeded


def test_belongs_rejects():
    space = BalancedManifold(3, 4, 3, rank=2, widths=(3, 4))
    W, *_ = build_point(3, 4, 3, [2.0, 1.0], (3, 4), seed=1)
    assert space.belongs(W)
    unbalanced = W.copy()
    unbalanced[0] += 1e-3
    assert not space.belongs(unbalanced)
    # the tolerance is explicit: a defect of ~1e-3 passes at atol = 0.1
    assert not space.belongs(unbalanced, atol=1e-10)
    assert space.belongs(unbalanced, atol=1e-1)
    # rank r - 1: a balanced tuple with a zero singular value does not belong
    W1, *_ = build_point(3, 4, 3, [2.0, 0.0], (3, 4), seed=1)
    assert not space.belongs(W1)
    # rank r + 1 (wider layers allow it): balanced, but the wrong rank
    space3 = BalancedManifold(3, 4, 3, rank=3, widths=(3, 4))
    W3, *_ = build_point(3, 4, 3, [2.0, 1.0, 0.5], (3, 4), seed=1)
    assert space3.belongs(W3) and not space.belongs(W3)
    assert not space.belongs(np.ones(5))
    bad = W.copy()
    bad[2] = np.inf
    assert not space.belongs(bad)
    np.testing.assert_array_equal(space.belongs(np.stack([W, unbalanced])), [True, False])


def test_factors_roundtrip_and_batches():
    space = BalancedManifold(3, 4, 3, rank=2, widths=(3, 4))
    pts = space.random_point(4, seed=0)
    assert pts.shape == (4, space.total_dim)
    assert np.all(space.belongs(pts))
    ws = space.factors(pts)
    assert [w.shape for w in ws] == [(4, 3, 3), (4, 4, 3), (4, 4, 4)]
    np.testing.assert_array_equal(space.from_factors(ws), pts)
    np.testing.assert_array_equal(space.random_point(4, seed=0), pts)
    single = space.random_point(seed=1)
    assert single.shape == (space.total_dim,)
    vecs = space.random_tangent_vec(pts, n_samples=4, seed=2)
    assert np.all(space.is_tangent(vecs, pts))
    # a batch of vectors at one point, and one vector at a batch of points
    assert space.to_tangent(vecs, pts[0]).shape == (4, space.total_dim)
    assert space.to_tangent(vecs[0], pts).shape == (4, space.total_dim)
    for i in range(4):
        np.testing.assert_allclose(
            space.to_tangent(vecs[i], pts[0]), space.to_tangent(vecs, pts[0])[i], atol=1e-14
        )


def test_is_tangent_rejects_ambient_vectors():
    space = BalancedManifold(2, 3, 3, rank=2, widths=(4,))
    W = space.random_point(seed=3)
    v = rng(4).standard_normal(space.total_dim)
    assert not space.is_tangent(v, W)
    assert space.is_tangent(space.to_tangent(v, W), W)


def test_frobenius_metric():
    space = BalancedManifold(2, 3, 3, rank=2, widths=(4,))
    W = space.random_point(seed=5)
    a, b = space.random_tangent_vec(W, seed=6), space.random_tangent_vec(W, seed=7)
    assert abs(space.metric.inner_product(a, b, W) - float(np.dot(a, b))) <= 1e-14
    assert abs(space.metric.squared_norm(a, W) - float(np.dot(a, a))) <= 1e-13


def test_tangent_at_tiny_singular_value_is_finite():
    space = BalancedManifold(3, 3, 3, rank=3)
    W, frames, P, _ = build_point(3, 3, 3, [1.0, 0.5, 1e-12], (3, 3), seed=9)
    v = rng(10).standard_normal(space.total_dim)
    t = space.to_tangent(v, W)
    assert np.all(np.isfinite(t))
    np.testing.assert_allclose(space.to_tangent(t, W), t, atol=1e-10)
