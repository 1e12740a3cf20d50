"""RankMatrices against independent computations (reference §1).

dim: numerical rank of the Jacobian of (L, R) -> L R^T; tangent projection: the projector
built from an orthonormal basis {u_k v_l^T : k < r or l < r} of a full SVD; projection:
Eckart-Young residual.
"""

import numpy as np
import pytest
from brute import (
    matrix_with_spectrum,
    numerical_jacobian,
    numerical_rank,
    random_rank_matrix,
    rel_err,
    rng,
    tangent_basis,
)

from geodln import RankMatrices

SHAPES = [(3, 3, 3), (4, 3, 3), (2, 5, 2), (4, 4, 2), (5, 3, 1), (3, 4, 2)]


@pytest.mark.parametrize("m,n,r", SHAPES)
def test_dim_is_rank_of_parametrisation_jacobian(m, n, r):
    space = RankMatrices(m, n, r)
    g = rng(m + n + r)
    L0, R0 = g.standard_normal((m, r)), g.standard_normal((n, r))

    def f(theta):
        L = theta[: m * r].reshape(m, r)
        R = theta[m * r :].reshape(n, r)
        return L @ R.T

    J = numerical_jacobian(f, np.concatenate([L0.ravel(), R0.ravel()]))
    assert space.dim == r * (m + n - r) == numerical_rank(J, 1e-7)


@pytest.mark.parametrize("m,n,r", SHAPES)
def test_to_tangent_is_orthogonal_projector(m, n, r):
    space = RankMatrices(m, n, r)
    X = random_rank_matrix(m, n, r, seed=1)
    P = np.array([space.to_tangent(e.reshape(m, n), X).ravel() for e in np.eye(m * n)]).T
    B = tangent_basis(X, r).reshape(-1, m * n)
    np.testing.assert_allclose(P, B.T @ B, atol=1e-12)
    assert numerical_rank(P) == space.dim
    np.testing.assert_allclose(P @ P, P, atol=1e-12)


@pytest.mark.parametrize("m,n,r", SHAPES)
def test_curve_velocities_are_tangent(m, n, r):
    space = RankMatrices(m, n, r)
    g = rng(5)
    L, R, dL, dR = (g.standard_normal(s) for s in [(m, r), (n, r), (m, r), (n, r)])
    X = L @ R.T
    eps = 1e-6
    V = ((L + eps * dL) @ (R + eps * dR).T - (L - eps * dL) @ (R - eps * dR).T) / (2 * eps)
    assert space.is_tangent(V, X, atol=1e-8)
    assert space.is_tangent(space.random_tangent_vec(X, seed=3), X)


def test_normal_vector_is_not_tangent():
    space = RankMatrices(4, 3, 2)
    X = random_rank_matrix(4, 3, 2, seed=2)
    u, _, vt = np.linalg.svd(X)
    normal = np.outer(u[:, 3], vt[2])
    assert not space.is_tangent(normal, X)
    np.testing.assert_allclose(space.to_tangent(normal, X), 0.0, atol=1e-14)


def test_belongs_with_explicit_tolerance():
    space = RankMatrices(4, 3, 2)
    X = random_rank_matrix(4, 3, 2, seed=3)
    assert space.belongs(X)
    assert not space.belongs(random_rank_matrix(4, 3, 3, seed=4))
    assert not space.belongs(random_rank_matrix(4, 3, 1, seed=4))
    near, *_ = matrix_with_spectrum(4, 3, [2.0, 1.0, 1e-9], seed=5)
    assert space.belongs(near)  # sigma_3 / sigma_1 = 5e-10 <= RANK_RTOL = 1e-8
    assert not space.belongs(near, rtol=1e-10)
    assert space.belongs(near, atol=1e-8)  # only atol: an absolute threshold
    assert not space.belongs(near, atol=1e-10)
    assert not space.belongs(np.ones((3, 4)))
    bad = X.copy()
    bad[0, 0] = np.nan
    assert not space.belongs(bad)
    batch = np.stack([X, random_rank_matrix(4, 3, 3, seed=6)])
    np.testing.assert_array_equal(space.belongs(batch), [True, False])


@pytest.mark.parametrize("m,n,r", [(4, 3, 2), (5, 5, 3), (3, 6, 1)])
def test_projection_is_eckart_young(m, n, r):
    space = RankMatrices(m, n, r)
    Y = rng(7).standard_normal((m, n))
    P = space.projection(Y)
    s = np.linalg.svd(Y, compute_uv=False)
    assert space.belongs(P)
    assert abs(np.sum((Y - P) ** 2) - np.sum(s[r:] ** 2)) <= 1e-12
    np.testing.assert_allclose(space.projection(P), P, atol=1e-12)


def test_random_point_shapes_and_seed():
    space = RankMatrices(4, 3, 2)
    x = space.random_point(seed=1)
    assert x.shape == (4, 3) and space.belongs(x)
    xs = space.random_point(5, seed=1)
    assert xs.shape == (5, 4, 3) and np.all(space.belongs(xs))
    np.testing.assert_array_equal(space.random_point(5, seed=1), xs)
    vs = space.random_tangent_vec(xs, n_samples=5, seed=2)
    assert vs.shape == (5, 4, 3) and np.all(space.is_tangent(vs, xs))


def test_full_rank_tangent_is_everything():
    space = RankMatrices(3, 4)
    assert space.rank == 3 and space.full_rank and space.dim == 12
    X = random_rank_matrix(3, 4, 3, seed=8)
    Z = rng(9).standard_normal((3, 4))
    assert rel_err(space.to_tangent(Z, X), Z) <= 1e-14
