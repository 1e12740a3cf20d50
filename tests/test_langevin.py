"""Brownian motion and Langevin dynamics on (M_d, g^N), downstairs and upstairs.

Independent references: the brute-force cometric matrix (tests/brute.py) and finite
differences for the Itô drifts; numerically integrated invariant densities built from the
volume module (CMV volume form) and the entropy module (orbit volume) for the long-run laws.

Tolerances of the goodness-of-fit tests: with n = 2000 independent chains (final states of
independent chains are i.i.d.) the KS distance has standard deviation ~0.5/sqrt(n) = 0.011 and
its 1e-3 critical value is 1.95/sqrt(n) = 0.044; we require p > 1e-3 (a fixed seed, so the test
is deterministic). The Euler-Maruyama bias measured at h = 0.005 is a KS distance ~0.01, well
inside. Negative controls check that the same tests reject a wrong law.
"""

import numpy as np
import pytest
from brute import brute_cometric_matrix, numerical_jacobian, psd_power
from scipy import stats

from geodln.entropy import log_orbit_volume
from geodln.factors import balanced_factors as _balanced_lift
from geodln.langevin import (
    Chains,
    FactorLangevinPath,
    LangevinPath,
    LangevinScheme,
    brownian_motion,
    cometric_sqrt_noise,
    coordinate_laplacian,
    factor_langevin,
    riemannian_langevin,
    root_chart_coefficients,
    root_coordinates,
    singular_value_langevin,
    svd,
)
from geodln.losses import MatrixCompletion
from geodln.spectral import DLNKernel
from geodln.svd_frame import SVDFrame
from geodln.volume import log_volume_form

BETA = 1.0
HALF_SQUARED_NORM = MatrixCompletion(mask=np.ones((2, 2), bool), values=np.zeros((2, 2)))
X0 = np.diag([1.2, 0.6])
P_MIN = 1e-3


def balanced_factors(x, depth, **kwargs):
    """Balanced lift; identity hidden frames unless a seed is given (deterministic starts)."""
    if "seed" not in kwargs:
        kwargs.setdefault("frames", "identity")
    return _balanced_lift(x, depth, **kwargs)


# ---------------------------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------------------------
def fd_laplacian_of_coordinates(cometric, y, eps=1e-5):
    """Delta y^j = sum_i d_i B^{ij} - 1/2 sum_i B^{ij} d_i log det B, by central differences."""
    d2 = y.size
    b0 = cometric(y)
    div = np.zeros(d2)
    dlogdet = np.zeros(d2)
    for i in range(d2):
        e = np.zeros(d2)
        e[i] = eps
        bp, bm = cometric(y + e.reshape(y.shape)), cometric(y - e.reshape(y.shape))
        div += (bp[i] - bm[i]) / (2 * eps)
        dlogdet[i] = (np.linalg.slogdet(bp)[1] - np.linalg.slogdet(bm)[1]) / (2 * eps)
    return (div - 0.5 * b0 @ dlogdet).reshape(y.shape)


def brute_power_map(y, depth):
    """X = Y (Y^T Y)^{(N-1)/2} with an eigh-based power (independent of geodln)."""
    return y @ psd_power(y.T @ y, (depth - 1) / 2)


def sigma_marginal_cdfs(depth, beta, orbit=False, n_grid=700):
    """CDFs of sigma_1, sigma_2 (d = 2) for the density e^{-beta E} vol-form [x vol(O_X)].

    E = |X|^2 / 2. Integrated on a grid in lambda = sigma^{1/N} (removes the integrable
    sigma^{1/N - 1} singularity), with the Jacobian N lambda^{N-1} per coordinate.
    """
    top = (6.0 / beta) ** (1 / (2 * depth)) * 1.6
    g = np.linspace(1e-5, top, n_grid)
    l1, l2 = np.meshgrid(g, g, indexing="ij")
    upper = l1 > l2
    s1, s2 = l1**depth, np.where(upper, l2, 0.5 * l1) ** depth
    sig = np.stack([s1, s2], axis=-1)
    logd = (
        log_volume_form(sig, depth)
        - beta * (s1**2 + s2**2) / 2
        + 2 * np.log(depth)
        + (depth - 1) * (np.log(l1) + np.log(l2))
    )
    if orbit:
        logd = logd + log_orbit_volume(singular_values=sig, depth=depth)
    logd = np.where(upper & np.isfinite(logd), logd, -np.inf)
    dens = np.exp(logd - logd.max())
    c1 = np.cumsum(dens.sum(axis=1))
    c2 = np.cumsum(dens.sum(axis=0))
    c1, c2 = c1 / c1[-1], c2 / c2[-1]
    return (
        lambda s: np.interp(np.asarray(s) ** (1 / depth), g, c1),
        lambda s: np.interp(np.asarray(s) ** (1 / depth), g, c2),
    )


def ks_pvalues(sv, cdfs):
    return [stats.kstest(sv[:, k], cdfs[k]).pvalue for k in range(2)]


# ---------------------------------------------------------------------------------------------
# Itô drifts and noise covariances
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth, d", [(2, 2), (3, 2), (4, 2), (3, 3)])
def test_coordinate_laplacian_matches_finite_differences(depth, d):
    rng = np.random.default_rng(depth + 10 * d)
    x = rng.standard_normal((d, d)) + 0.5 * np.eye(d)

    def cometric(y):
        return brute_cometric_matrix(y, depth)

    ref = fd_laplacian_of_coordinates(cometric, x)
    assert np.allclose(coordinate_laplacian(x, depth), ref, atol=1e-5 * (1 + np.abs(ref).max()))
    ref_cmv = fd_laplacian_of_coordinates(lambda y: brute_cometric_matrix(y, depth, True), x)
    assert np.allclose(coordinate_laplacian(x, depth, normalized=True), ref_cmv, atol=1e-5)


def test_coordinate_laplacian_finite_at_ties_and_zeros():
    for x in [np.eye(3), np.diag([1.0, 1.0, 0.0]), np.zeros((2, 2))]:
        for depth in (2, 3):
            out = coordinate_laplacian(x, depth)
            assert np.all(np.isfinite(out))
    # X = I: (N - 1) X (X^T X)^{-1/N} = (N - 1) I
    assert np.allclose(coordinate_laplacian(np.eye(3), 3), 2 * np.eye(3))


@pytest.mark.parametrize("depth, d", [(2, 2), (3, 2), (3, 3)])
def test_root_chart_cometric_and_drift(depth, d):
    """In Y = U Sigma^{1/N} V^T: cometric B = J^{-1} A J^{-T}, det B = N^{-d}, drift = div B."""
    rng = np.random.default_rng(3 + depth + d)
    y = rng.standard_normal((d, d)) + 0.3 * np.eye(d)

    def cometric_y(yy):
        jac = numerical_jacobian(lambda z: brute_power_map(z, depth), yy, eps=1e-6)
        a = brute_cometric_matrix(brute_power_map(yy, depth), depth)
        jinv = np.linalg.inv(jac)
        return jinv @ a @ jinv.T

    b_ref = cometric_y(y)
    u, lam, vt = np.linalg.svd(y)
    _, _, P, Q, bdiag = root_chart_coefficients(lam, depth)
    # the scheme's noise map G -> U (sqrt(P) sym(G) + sqrt(Q) skew(G)) V^T, squared
    cols = []
    for idx in range(d * d):
        g = np.zeros(d * d)
        g[idx] = 1.0
        g = g.reshape(d, d)
        core = np.sqrt(P) * 0.5 * (g + g.T) + np.sqrt(Q) * 0.5 * (g - g.T)
        cols.append((u @ core @ vt).ravel())
    m = np.array(cols).T
    assert np.allclose(m @ m.T, b_ref, atol=1e-6 * np.abs(b_ref).max())
    assert np.isclose(np.linalg.det(b_ref), depth ** (-d), rtol=1e-5)
    drift_ref = fd_laplacian_of_coordinates(cometric_y, y, eps=1e-4)
    drift = u @ np.diag(bdiag) @ vt
    assert np.allclose(drift, drift_ref, atol=2e-4 * (1 + np.abs(drift_ref).max()))


def test_root_chart_coefficients_finite_at_collisions():
    for lam in [np.array([1.0, 1.0]), np.array([1.0, 1.0 + 1e-9]), np.array([1.0, 0.0])]:
        out = root_chart_coefficients(lam, 3)
        assert all(np.all(np.isfinite(o)) for o in out)
    # limit at a collision: b_k = (1/N - N) / (2 lambda) from the skew pair only
    b = root_chart_coefficients(np.array([2.0, 2.0]), 3)[-1]
    assert np.allclose(b, (1 / 3 - 3) / 4)
    b_near = root_chart_coefficients(np.array([2.0, 2.0 - 1e-4]), 3)[-1]
    assert np.allclose(b_near, b, atol=1e-3)


def test_cometric_sqrt_noise_covariance_is_A():
    x = np.array([[1.3, -0.4], [0.2, 0.7]])
    frame = SVDFrame(x)
    kernel = DLNKernel(3)
    cols = []
    for idx in range(4):
        g = np.zeros(4)
        g[idx] = 1.0
        g = np.linalg.svd(x)[0].T @ g.reshape(2, 2) @ np.linalg.svd(x)[2].T  # any basis works
        cols.append(cometric_sqrt_noise(frame, kernel, g).ravel())
    m = np.array(cols).T
    assert np.allclose(m @ m.T, brute_cometric_matrix(x, 3), atol=1e-12)


def test_closed_form_svd_2x2():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 2, 2))
    x[0], x[1], x[2] = np.eye(2), 0.0, np.array([[0.0, 1.0], [1.0, 0.0]])
    u, s, vt = svd(x)
    assert np.allclose((u * s[..., None, :]) @ vt, x, atol=1e-14)
    assert np.allclose(s, np.linalg.svd(x, compute_uv=False), atol=1e-14)
    assert np.allclose(np.swapaxes(u, -1, -2) @ u, np.eye(2), atol=1e-14)


# ---------------------------------------------------------------------------------------------
# long-run laws
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [2, 3])
def test_stationary_singular_values_match_volume_form(depth):
    """E = |X|^2/2: the sigma law of Langevin tends to e^{-beta E} x CMV volume form."""
    cdfs = sigma_marginal_cdfs(depth, BETA)
    path = riemannian_langevin(
        HALF_SQUARED_NORM, X0, depth, BETA, 0.005, 600,
        chains=Chains(n_chains=2000, seed=11 + depth)
    )
    sv = path.singular_values()[-1]
    assert min(ks_pvalues(sv, cdfs)) > P_MIN
    # independent discretisation: the autonomous singular-value SDE of reference §6
    spath = singular_value_langevin(
        lambda s: s, np.linalg.svd(X0, compute_uv=False), depth, BETA, 0.005, 600,
        chains=Chains(n_chains=2000, seed=21 + depth),
    )
    assert min(ks_pvalues(spath.final, cdfs)) > P_MIN
    # negative control: the Lebesgue-weighted law e^{-beta E} dX (no g^N volume) is rejected
    wrong = sigma_marginal_cdfs(1, BETA)
    assert min(ks_pvalues(sv, wrong)) < 1e-6


def test_upstairs_balanced_langevin_pushes_forward_to_entropic_langevin():
    """Balanced-manifold Langevin, pushed forward by phi = entropic downstairs Langevin (N = 2)."""
    depth = 2
    up = factor_langevin(
        HALF_SQUARED_NORM, balanced_factors(X0, depth), BETA, 0.005, 600,
        chains=Chains(n_chains=2000, save_every=300, seed=5),
    )
    assert np.max(up.balance_defect) < 1e-9
    su = up.singular_values()
    down = riemannian_langevin(
        HALF_SQUARED_NORM, X0, depth, BETA, 0.005, 600,
        scheme=LangevinScheme(entropic=True),
        chains=Chains(n_chains=2000, save_every=300, seed=6),
    )
    sd = down.singular_values()
    # the processes agree at an intermediate time (t = 1.5) and at the end (t = 3)
    for k in (1, 2):
        for j in range(2):
            assert stats.ks_2samp(su[k, :, j], sd[k, :, j]).pvalue > P_MIN
    # the long-run law is e^{-beta E} vol(O_X) dvol_{g^N}
    assert min(ks_pvalues(su[-1], sigma_marginal_cdfs(depth, BETA, orbit=True))) > P_MIN
    # negative control: the law without the orbit volume is rejected
    assert min(ks_pvalues(su[-1], sigma_marginal_cdfs(depth, BETA))) < 1e-6


def test_free_factor_langevin_is_not_the_downstairs_langevin():
    """Free factor BM: E[phi(W_t)] = phi(W_0); downstairs BM drifts by (N-1) X^{1-2/N}."""
    depth, n, t_end = 2, 4000, 0.2
    start = np.eye(2)
    up = factor_langevin(
        None, balanced_factors(start, depth), BETA, 0.01, 20,
        constrained=False,
        chains=Chains(n_chains=n, seed=8),
    )
    xu = up.final
    se = xu.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(xu.mean(axis=0) - start) < 4.5 * se)
    assert np.max(up.balance_defect[-1]) > 0.1  # the balance residuals diffuse
    down = brownian_motion(start, depth, BETA, 0.01, 20, chains=Chains(n_chains=n, seed=9))
    xd = down.final
    se_d = xd.std(axis=0) / np.sqrt(n)
    # d/dt E[X] = (N - 1)/beta * X (X^T X)^{-1/N} = I at X = I: the mean trace moves by ~0.4
    gap = np.trace(xd.mean(axis=0)) - np.trace(xu.mean(axis=0))
    assert gap > 8 * np.sqrt(se[0, 0] ** 2 + se[1, 1] ** 2 + se_d[0, 0] ** 2 + se_d[1, 1] ** 2)
    assert abs(gap - 2 * t_end * (depth - 1) / BETA) < 0.15


# ---------------------------------------------------------------------------------------------
# API: validation, seeds, storage
# ---------------------------------------------------------------------------------------------
def test_seeded_and_reproducible(tmp_path):
    a = riemannian_langevin(HALF_SQUARED_NORM, X0, 3, 2.0, 0.01, 10,
                            chains=Chains(n_chains=5, seed=1))
    b = riemannian_langevin(HALF_SQUARED_NORM, X0, 3, 2.0, 0.01, 10,
                            chains=Chains(n_chains=5, seed=1))
    c = riemannian_langevin(HALF_SQUARED_NORM, X0, 3, 2.0, 0.01, 10,
                            chains=Chains(n_chains=5, seed=2))
    assert np.array_equal(a.states, b.states) and not np.allclose(a.states, c.states)
    a.save(tmp_path / "p.npz")
    back = LangevinPath.load(tmp_path / "p.npz")
    assert np.array_equal(back.states, a.states) and back.metadata["depth"] == 3
    up = factor_langevin(None, balanced_factors(X0, 2), 1.0, 0.01, 4,
                         chains=Chains(n_chains=3, seed=4))
    up.save(tmp_path / "u.npz")
    assert np.array_equal(FactorLangevinPath.load(tmp_path / "u.npz").X, up.X)


def test_normalized_is_time_rescaled():
    """CMV metric g = N g^N: the normalised process at time t is the plain one at time t / N."""
    p1 = riemannian_langevin(None, X0, 3, 1.0, 0.01, 30,
                             scheme=LangevinScheme(normalized=True),
                             chains=Chains(n_chains=4, seed=3))
    p2 = riemannian_langevin(None, X0, 3, 1.0, 0.01 / 3, 30, chains=Chains(n_chains=4, seed=3))
    assert np.allclose(p1.states, p2.states)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="beta"):
        brownian_motion(X0, 2, 0.0, 0.01, 2)
    with pytest.raises(ValueError, match="step_size"):
        brownian_motion(X0, 2, 1.0, -1.0, 2)
    with pytest.raises(ValueError, match="square"):
        brownian_motion(np.ones((2, 3)), 2, 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="X0"):
        brownian_motion(np.array([[np.nan, 0], [0, 1]]), 2, 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="n_chains"):
        brownian_motion(np.stack([X0, X0]), 2, 1.0, 0.1, 2, chains=Chains(n_chains=3))
    with pytest.raises(ValueError, match="scheme"):
        brownian_motion(X0, 2, 1.0, 0.1, 2, scheme="rk4")
    with pytest.raises(ValueError, match="depth"):
        brownian_motion(X0, 0, 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="sigma0"):
        singular_value_langevin(None, np.array([1.0, -1.0]), 2, 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="balanced"):
        factor_langevin(None, [np.eye(2), 2 * np.eye(2)], 1.0, 0.1, 2)
    path = riemannian_langevin(HALF_SQUARED_NORM, 50 * np.eye(2), 3, 1.0, 10.0, 50,
                               scheme="entries")
    assert path.status == "diverged" and "step_size" in path.message


def test_root_coordinates_round_trip():
    x = np.array([[0.5, -2.0], [1.0, 0.3]])
    y = root_coordinates(x, 3)
    assert np.allclose(brute_power_map(y, 3), x)
    assert np.sign(np.linalg.det(y)) == np.sign(np.linalg.det(x))


@pytest.mark.slow
@pytest.mark.parametrize("depth", [2, 4])
def test_stationary_law_d3_slow(depth):
    """d = 3: the root-chart scheme and the singular-value SDE agree on every sigma marginal."""
    loss = MatrixCompletion(mask=np.ones((3, 3), bool), values=np.zeros((3, 3)))
    x0 = np.diag([1.0, 0.7, 0.4])
    a = riemannian_langevin(loss, x0, depth, 1.0, 0.0025, 2000,
                            chains=Chains(n_chains=3000, seed=1))
    b = singular_value_langevin(
        lambda s: s, np.diag(x0), depth, 1.0, 0.0025, 2000, chains=Chains(n_chains=3000, seed=2)
    )
    sa = a.singular_values()[-1]
    for k in range(3):
        assert stats.ks_2samp(sa[:, k], b.final[:, k]).pvalue > P_MIN
