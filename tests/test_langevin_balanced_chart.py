"""Balanced-manifold Langevin in the balanced (singular-value) chart, and the N = 3 pushforward.

Independent references: the Gram matrix of the finite-difference Jacobian of the chart map
(lambda, theta_0..theta_N) -> (W_1..W_N) with Q_p = Q_p^0 expm(theta_p) (Taylor expm from
tests/brute.py) for the metric; the Laplace-Beltrami operator of that numerical metric applied
to the chart coordinates by central differences (tests/test_langevin.py) and the numerical
gradient of E o phi for the drift; the verified projection scheme at N = 2; the downstairs
entropic Langevin (root chart + orbit-volume gradient of geodln.entropy) at N = 3.

KS tolerances as in tests/test_langevin.py: n = 2000 chains per sample, two-sample KS
distance 1e-3 critical value 1.95 * sqrt(2/n) = 0.062, we require p > 1e-3 (fixed seeds).
The residual discretisation bias between the chart scheme and the downstairs root-chart scheme
at h = 0.005 (d = 2, N = 3) was measured with 20000 chains at a KS distance of 0.02 on sigma_2
(0.01, not significant, at h = 0.00125), well inside; the projection scheme's N = 3 failure was
a median sigma_2 twice too large (0.108 vs 0.049 at t = 3). The negative controls (law without
the orbit volume, downstairs Langevin without the entropic drift) are rejected at p < 1e-6.
"""

import numpy as np
import pytest
from brute import expm, numerical_jacobian, random_orthogonal
from scipy import stats
from test_langevin import (
    BETA,
    HALF_SQUARED_NORM,
    P_MIN,
    X0,
    fd_laplacian_of_coordinates,
    ks_pvalues,
    sigma_marginal_cdfs,
)

from geodln.factors import balanced_factors as _balanced_lift
from geodln.langevin import Chains, LangevinScheme, factor_langevin, riemannian_langevin
from geodln.langevin.balanced_chart import (
    balanced_chart_coordinates,
    balanced_chart_drift,
    balanced_chart_factors,
    balanced_chart_gram,
    balanced_chart_langevin,
)


def balanced_factors(x, depth, **kwargs):
    """Balanced lift; identity hidden frames unless a seed is given (deterministic starts)."""
    if "seed" not in kwargs:
        kwargs.setdefault("frames", "identity")
    return _balanced_lift(x, depth, **kwargs)


def skew_basis(d):
    out = []
    for i in range(d):
        for j in range(i + 1, d):
            e = np.zeros((d, d))
            e[i, j], e[j, i] = 1.0, -1.0
            out.append(e)
    return out


def chart_map(lam0_len, frames0, depth):
    """y = (lambda, theta) -> concatenated factors, Q_p = Q_p^0 expm(sum theta E_ij - E_ji)."""
    d = lam0_len
    basis = skew_basis(d)
    npair = len(basis)

    def f(y):
        lam, th = y[:d], y[d:].reshape(depth + 1, npair)
        qs = [q @ expm(sum(t * e for t, e in zip(th[p], basis))) for p, q in enumerate(frames0)]
        ws = [qs[p + 1] @ np.diag(lam) @ qs[p].T for p in range(depth)]
        return np.concatenate([w.ravel() for w in ws])

    return f


def chart_gram(f, y):
    jac = numerical_jacobian(f, y, eps=1e-6)
    return jac.T @ jac


def test_chart_coordinates_round_trip():
    x = np.array([[0.5, -2.0, 0.1], [1.0, 0.3, 0.2], [0.0, 0.4, -1.1]])
    ws = balanced_factors(x, 3, seed=2)
    lam, qs = balanced_chart_coordinates(ws)
    for q in qs:
        assert np.allclose(q.T @ q, np.eye(3), atol=1e-12)
    back = balanced_chart_factors(lam, qs)
    assert all(np.allclose(a, b, atol=1e-12) for a, b in zip(back, ws))
    # a tie (X = I) is fine: any SVD of W_1 propagates
    lam, qs = balanced_chart_coordinates(balanced_factors(np.eye(3), 3, seed=1))
    assert np.allclose(lam, 1.0) and np.allclose(qs[2].T @ qs[2], np.eye(3))
    with pytest.raises(ValueError, match="full rank"):
        balanced_chart_coordinates(balanced_factors(np.diag([1.0, 0.0]), 2))


@pytest.mark.parametrize("depth, lam", [(2, [1.3, 0.4]), (3, [0.9, -0.05]), (3, [1.1, 0.7, -0.3])])
def test_gram_matches_numerical_metric(depth, lam):
    """Frobenius metric of the chart = N I on lambda, T_ij on (theta_0^ij..theta_N^ij)."""
    lam = np.array(lam)
    d = lam.size
    frames0 = [random_orthogonal(d, seed=10 + p) for p in range(depth + 1)]
    f = chart_map(d, frames0, depth)
    y = np.concatenate([lam, np.zeros((depth + 1) * d * (d - 1) // 2)])
    g = chart_gram(f, y)
    npair = d * (d - 1) // 2
    ref = np.zeros_like(g)
    ref[:d, :d] = depth * np.eye(d)
    gram, _ = balanced_chart_gram(lam, depth)
    for k in range(npair):
        idx = d + k + npair * np.arange(depth + 1)
        ref[np.ix_(idx, idx)] = gram[k]
    assert np.allclose(g, ref, atol=1e-7)


@pytest.mark.parametrize("depth, lam", [(3, [0.9, 0.35]), (3, [1.0, -0.02]), (2, [1.2, 0.5, -0.3])])
def test_drift_matches_generator_on_coordinates(depth, lam):
    """Scheme drift = (1/beta) Delta_M(y) - grad(E o phi)(y) on chart coordinates (FD)."""
    beta = 0.7
    lam = np.array(lam)
    d = lam.size
    frames0 = [random_orthogonal(d, seed=20 + p) for p in range(depth + 1)]
    f = chart_map(d, frames0, depth)
    npair = d * (d - 1) // 2
    y = np.concatenate([lam, np.zeros((depth + 1) * npair)])
    target = np.arange(d * d).reshape(d, d) / (d * d)  # non-spectral energy

    def energy(yy):
        ws = [w.reshape(d, d) for w in np.split(f(yy), depth)]
        x = ws[-1]
        for w in ws[-2::-1]:
            x = x @ w
        return 0.5 * np.sum((x - target) ** 2)

    def cometric(yy):
        return np.linalg.inv(chart_gram(f, yy))

    lap = fd_laplacian_of_coordinates(cometric, y, eps=1e-4)
    grad = numerical_jacobian(lambda yy: np.array([energy(yy)]), y, eps=1e-6)[0]
    ref = lap / beta - cometric(y) @ grad
    lam_drift, omega_drift, _ = balanced_chart_drift(
        lam, frames0, lambda x: x - target, depth, beta
    )
    got = np.concatenate([lam_drift, omega_drift.T.ravel()])
    assert np.allclose(got, ref, atol=1e-4 * (1 + np.abs(ref).max()))


def test_chart_scheme_matches_projection_scheme_at_depth_2():
    """N = 2, where the verified projection scheme works: same law of X and of the factor W_1."""
    depth = 2
    kw = dict(n_chains=2000, save_every=50)
    start = balanced_factors(X0, depth)
    chart = balanced_chart_langevin(HALF_SQUARED_NORM, start, BETA, 0.005, 600,
                                    chains=Chains(**kw, seed=5))
    proj = factor_langevin(HALF_SQUARED_NORM, start, BETA, 0.005, 600, chains=Chains(**kw, seed=7))
    assert np.max(chart.balance_defect) < 1e-10
    for k in (1, 12):  # t = 0.25 (far from equilibrium) and t = 3
        for a in range(2):
            for b in range(2):
                assert stats.ks_2samp(chart.X[k, :, a, b], proj.X[k, :, a, b]).pvalue > P_MIN
                w_chart, w_proj = chart.factors[0][k, :, a, b], proj.factors[0][k, :, a, b]
                assert stats.ks_2samp(w_chart, w_proj).pvalue > P_MIN


def test_balanced_langevin_pushes_forward_to_entropic_langevin_depth_3():
    """N = 3, d = 2: upstairs (chart scheme) pushed forward by phi = entropic downstairs law."""
    depth = 3
    kw = dict(n_chains=2000, save_every=50)
    up = balanced_chart_langevin(
        HALF_SQUARED_NORM, balanced_factors(X0, depth), BETA, 0.005, 600,
        chains=Chains(**kw, seed=5)
    )
    assert np.max(up.balance_defect) < 1e-10
    # the chains do cross the rank-deficient stratum (det X changes sign)
    assert 0.3 < np.mean(np.linalg.det(up.X[-1]) < 0) < 0.7
    down = riemannian_langevin(
        HALF_SQUARED_NORM, X0, depth, BETA, 0.005, 600,
        scheme=LangevinScheme(entropic=True),
        chains=Chains(**kw, seed=6)
    )
    su, sd = up.singular_values(), down.singular_values()
    for k in (1, 6, 12):  # t = 0.25, 1.5, 3
        for j in range(2):
            assert stats.ks_2samp(su[k, :, j], sd[k, :, j]).pvalue > P_MIN
        for a in range(2):
            for b in range(2):
                assert stats.ks_2samp(up.X[k, :, a, b], down.states[k, :, a, b]).pvalue > P_MIN
    # both tend to e^{-beta E} vol(O_X) dvol_{g^N}; the law without the orbit volume is rejected
    orbit = sigma_marginal_cdfs(depth, BETA, orbit=True)
    assert min(ks_pvalues(su[-1], orbit)) > P_MIN
    assert min(ks_pvalues(sd[-1], orbit)) > P_MIN
    assert min(ks_pvalues(su[-1], sigma_marginal_cdfs(depth, BETA))) < 1e-6
    # negative control at an intermediate time: the downstairs law without the entropic drift
    plain = riemannian_langevin(HALF_SQUARED_NORM, X0, depth, BETA, 0.005, 300,
                                chains=Chains(**kw, seed=6))
    assert min(stats.ks_2samp(su[6, :, j], plain.singular_values()[6, :, j]).pvalue
               for j in range(2)) < 1e-6


def test_bad_input_raises():
    good = balanced_factors(X0, 3)
    with pytest.raises(ValueError, match="balanced"):
        balanced_chart_langevin(None, [np.eye(2), 2 * np.eye(2)], 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="square"):
        balanced_chart_langevin(None, balanced_factors(np.ones((2, 3)), 2), 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="full rank"):
        balanced_chart_langevin(None, balanced_factors(np.diag([1.0, 0.0]), 3), 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="beta"):
        balanced_chart_langevin(None, good, 0.0, 0.1, 2)
    with pytest.raises(ValueError, match="n_chains"):
        balanced_chart_langevin(None, [np.stack([w, w]) for w in good], 1.0, 0.1, 2,
                                chains=Chains(n_chains=3))
    a = balanced_chart_langevin(HALF_SQUARED_NORM, good, 1.0, 0.01, 5,
                                chains=Chains(n_chains=3, seed=1))
    b = balanced_chart_langevin(HALF_SQUARED_NORM, good, 1.0, 0.01, 5,
                                chains=Chains(n_chains=3, seed=1))
    assert np.array_equal(a.X, b.X) and a.metadata["scheme"] == "balanced-chart"


def test_rotation_matches_taylor_expm():
    from geodln.langevin.balanced_chart import _rotation

    rng = np.random.default_rng(3)
    for d in (2, 3, 4):
        om = rng.standard_normal((4, d, d))
        om = 0.5 * (om - np.swapaxes(om, -1, -2))  # Frobenius norm < 5 (Taylor reference)
        om[0] *= 1e-9
        got = _rotation(om)
        assert np.allclose(got, np.stack([expm(a) for a in om]), atol=1e-12)


@pytest.mark.slow
def test_balanced_langevin_pushes_forward_depth_3_d3_slow():
    """N = 3, d = 3: every sigma marginal of the pushforward matches the entropic downstairs."""
    from geodln.losses import MatrixCompletion

    depth, x0 = 3, np.diag([1.0, 0.7, 0.4])
    loss = MatrixCompletion(mask=np.ones((3, 3), bool), values=np.zeros((3, 3)))
    kw = dict(n_chains=2000, save_every=600)
    h, n = 0.0025, 1200  # at h = 0.005 the d = 3 schemes differ on sigma_3 at 4000 chains
    up = balanced_chart_langevin(loss, balanced_factors(x0, depth), 1.0, h, n,
                                 chains=Chains(**kw, seed=5))
    down = riemannian_langevin(loss, x0, depth, 1.0, h, n,
                               scheme=LangevinScheme(entropic=True),
                               chains=Chains(**kw, seed=6))
    su, sd = up.singular_values(), down.singular_values()
    for k in (1, 2):  # t = 1.5 and t = 3
        for j in range(3):
            assert stats.ks_2samp(su[k, :, j], sd[k, :, j]).pvalue > P_MIN
    plain = riemannian_langevin(loss, x0, depth, 1.0, h, n, chains=Chains(**kw, seed=6))
    assert min(stats.ks_2samp(su[-1, :, j], plain.singular_values()[-1, :, j]).pvalue
               for j in range(3)) < 1e-6
