"""Soft-impute and the exact nuclear-norm completion, against independent optimality checks."""

import numpy as np
import pytest

from geodln.baselines import cvxpy_available, nuclear_norm_completion, soft_impute
from geodln.data import ratings_from_arrays


def _problem(m=12, n=10, rank=2, k=70, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    flat = rng.choice(m * n, k, replace=False)
    rows, cols = np.divmod(flat, n)
    return ratings_from_arrays(rows, cols, truth[rows, cols], row_index=np.arange(m),
                               col_index=np.arange(n)), truth


def _kkt_gap(z, ratings, lam):
    """Distance of P_Ω(B − Z) from λ ∂‖Z‖_* (0 at the minimiser), relative to λ."""
    g = np.zeros(ratings.shape)
    g[ratings.rows, ratings.cols] = ratings.values - z[ratings.rows, ratings.cols]
    u, s, vt = np.linalg.svd(z)
    r = int(np.sum(s > 1e-6 * max(s[0], 1e-300)))
    u, v = u[:, :r], vt[:r].T
    on_support = u.T @ g @ v - lam * np.eye(r)          # must vanish
    off = g - u @ (u.T @ g @ v) @ v.T                   # spectral norm must be <= lam
    return max(np.abs(on_support).max(initial=0.0) / lam,
               max(np.linalg.norm(off, 2) / lam - 1.0, 0.0))


def test_soft_impute_satisfies_optimality_conditions():
    ratings, _ = _problem()
    path = soft_impute(ratings, lambdas=[3.0, 1.0, 0.3], tol=1e-14, max_iter=20000)
    for k, lam in enumerate(path.lambdas):
        assert _kkt_gap(path.dense(k), ratings, lam) < 1e-4
    assert np.all(np.diff(path.ranks) >= 0)


def test_soft_impute_default_path_starts_at_zero():
    ratings, _ = _problem(seed=1)
    path = soft_impute(ratings, lambdas=5, max_iter=50)
    assert path.ranks[0] == 0 and len(path.factors) == 5


@pytest.mark.skipif(not cvxpy_available(), reason="cvxpy with SCS not installed")
def test_soft_impute_agrees_with_cvxpy():
    ratings, _ = _problem(m=8, n=7, k=35, seed=3)
    lam = 0.5
    z_cvx = nuclear_norm_completion(ratings, regularization=lam)
    z_si = soft_impute(ratings, lambdas=[lam], tol=1e-14, max_iter=50000).dense(0)
    assert np.linalg.norm(z_si - z_cvx) <= 1e-4 * np.linalg.norm(z_cvx)


@pytest.mark.skipif(not cvxpy_available(), reason="cvxpy with SCS not installed")
def test_exact_nuclear_norm_interpolates_and_recovers():
    ratings, truth = _problem(m=10, n=10, rank=1, k=60, seed=4)
    z = nuclear_norm_completion(ratings)
    np.testing.assert_allclose(z[ratings.rows, ratings.cols], ratings.values, atol=1e-6)
    assert np.linalg.norm(z - truth) <= 1e-3 * np.linalg.norm(truth)


def test_bad_arguments():
    ratings, _ = _problem()
    for bad in [dict(lambdas=[1.0, 2.0]), dict(lambdas=[-1.0]), dict(max_rank=0),
                dict(tol=np.nan), dict(max_iter=0)]:
        with pytest.raises(ValueError):
            soft_impute(ratings, **bad)
    with pytest.raises(ValueError, match="ratings"):
        soft_impute(np.ones((2, 2)))


def test_soft_impute_stop_ends_the_path():
    ratings, _ = _problem(seed=2)
    seen = []
    path = soft_impute(ratings, lambdas=[3.0, 2.0, 1.0, 0.5],
                       stop=lambda lam, f: seen.append(lam) or len(seen) == 2)
    assert seen == [3.0, 2.0] and list(path.lambdas) == [3.0, 2.0] and len(path.factors) == 2
    with pytest.raises(ValueError, match="stop"):
        soft_impute(ratings, stop=1)
