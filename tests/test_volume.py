"""Tests of geodln.volume: log volume densities and SVD volume forms (reference §4).

Independent references:
- full rank: -1/2 log det of the defining N-term sum A_{N,X} built column by column
  (tests/brute.py), and 1/2 log det of the metric matrix built column by column from
  ``DLNMetric.flat``;
- rank r: 1/2 log det of the metric Gram matrix on an orthonormal basis of T_X M_r (from
  ``DLNMetric.inner_product`` and from the brute-force A);
- volume form: the above plus log sqrt det(J^T J) of a numerical Jacobian of the SVD chart
  (sigma, U, V) -> X, with U, V in local coordinates through exp of skew matrices, so that the
  measure on U, V is Muirhead's form (the coordinates are (H^T dU)_{ij}, i > j);
- the closed forms of CMV Theorem 1.1, infinite depth, and the rank-r formula of reference §4,
  written out here directly in sigma.
"""

import warnings

import numpy as np
import pytest
from brute import (
    brute_A,
    brute_A_infinite,
    brute_cometric_matrix,
    expm,
    matrix_with_spectrum,
    numerical_jacobian,
    random_orthogonal,
    tangent_basis,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices
from geodln.spectral import ArithmeticMeanKernel, DLNKernel
from geodln.volume import log_volume_density, log_volume_form


def _logdet(mat):
    sign, val = np.linalg.slogdet(mat)
    assert sign > 0
    return val


def _random_point(m, n, seed, spectrum=None):
    rng = np.random.default_rng(seed)
    q = min(m, n)
    s = np.sort(rng.uniform(0.3, 2.5, q))[::-1] if spectrum is None else np.asarray(spectrum)
    return matrix_with_spectrum(m, n, s, seed=seed)


# ------------------------------------------------------------------------------------------
# log_volume_density
# ------------------------------------------------------------------------------------------
FULL_SHAPES = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (4, 2), (3, 1)]


@pytest.mark.parametrize("shape", FULL_SHAPES)
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("normalized", [False, True])
def test_density_full_rank_vs_metric_matrix(shape, depth, normalized):
    m, n = shape
    x = _random_point(m, n, seed=10 * m + n + depth)[0]
    got = log_volume_density(x, depth, normalized=normalized)
    # metric matrix column by column from DLNMetric.flat: vol = sqrt(det G)
    metric = DLNMetric(RankMatrices(m, n), depth, normalized=normalized)
    cols = []
    for idx in range(m * n):
        e = np.zeros(m * n)
        e[idx] = 1.0
        cols.append(metric.flat(e.reshape(m, n), x).ravel())
    gram = np.array(cols).T
    np.testing.assert_allclose(got, 0.5 * _logdet(gram), rtol=1e-10, atol=1e-10)
    # the defining N-term sum
    a = brute_cometric_matrix(x, depth, normalized)
    np.testing.assert_allclose(got, -0.5 * _logdet(a), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("spectrum", [(2.0, 2.0, 0.5), (1.0, 1.0, 1.0), (3.0, 1.0, 1.0)])
@pytest.mark.parametrize("depth", [2, 4])
def test_density_repeated_singular_values(spectrum, depth):
    x = _random_point(3, 3, seed=3, spectrum=spectrum)[0]
    got = log_volume_density(x, depth)
    assert np.isfinite(got)
    np.testing.assert_allclose(
        got, -0.5 * _logdet(brute_cometric_matrix(x, depth)), rtol=1e-10, atol=1e-10
    )


def test_density_identity_exact():
    # at X = I every eigenvalue of A_N is N: density N^{-d^2/2}
    for d, depth in [(2, 3), (3, 5), (4, 2)]:
        np.testing.assert_allclose(
            log_volume_density(np.eye(d), depth), -0.5 * d * d * np.log(depth), rtol=1e-14
        )


RANK_CASES = [(3, 3, 1), (3, 3, 2), (4, 3, 2), (2, 4, 1), (4, 4, 3)]


@pytest.mark.parametrize("m,n,r", RANK_CASES)
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("normalized", [False, True])
def test_density_rank_r_vs_gram(m, n, r, depth, normalized):
    rng = np.random.default_rng(m + 7 * n + 31 * r + depth)
    s = np.sort(rng.uniform(0.4, 2.0, r))[::-1]
    x = matrix_with_spectrum(m, n, s, seed=depth)[0]
    got = log_volume_density(x, depth, normalized=normalized, rank=r)
    basis = tangent_basis(x, r)
    assert len(basis) == r * (m + n - r)
    metric = DLNMetric(RankMatrices(m, n, r), depth, normalized=normalized)
    gram = np.array([[metric.inner_product(bi, bj, x) for bj in basis] for bi in basis])
    np.testing.assert_allclose(got, 0.5 * _logdet(gram), rtol=1e-9, atol=1e-9)
    # brute force: A restricted to T_X M_r (it maps T_X M_r onto itself), metric = its inverse
    gram_a = np.array(
        [[np.sum(bi * brute_A(x, bj, depth, normalized)) for bj in basis] for bi in basis]
    )
    np.testing.assert_allclose(got, -0.5 * _logdet(gram_a), rtol=1e-8, atol=1e-8)


def test_density_batched():
    xs = np.stack([_random_point(3, 2, seed=k)[0] for k in range(6)]).reshape(2, 3, 3, 2)
    got = log_volume_density(xs, 3)
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(got[i, j], log_volume_density(xs[i, j], 3), rtol=1e-14)


def test_density_user_kernel():
    # kernel (a + b)/2: A(Z) = (XX^T Z + Z X^T X)/2, a Kronecker sum
    for m, n in [(2, 2), (3, 2)]:
        x = _random_point(m, n, seed=m * n)[0]
        a = 0.5 * (np.kron(x @ x.T, np.eye(n)) + np.kron(np.eye(m), x.T @ x))
        got = log_volume_density(x, ArithmeticMeanKernel(1.0))
        np.testing.assert_allclose(got, -0.5 * _logdet(a), rtol=1e-10)


@pytest.mark.parametrize("d", [2, 3])
def test_density_infinite_depth(d):
    x, u, s, v = _random_point(d, d, seed=d)
    got = log_volume_density(x, np.inf, normalized=True)
    cols = []
    for idx in range(d * d):
        e = np.zeros(d * d)
        e[idx] = 1.0
        cols.append(brute_A_infinite(u, s, v, e.reshape(d, d)).ravel())
    np.testing.assert_allclose(got, -0.5 * _logdet(np.array(cols).T), rtol=1e-10)
    # N -> inf limit of the normalised density, error O(1/N)
    errs = [abs(log_volume_density(x, N, normalized=True) - got) for N in (100, 200, 400)]
    assert errs[0] > 0
    np.testing.assert_allclose(errs[1] / errs[0], 0.5, atol=0.02)
    np.testing.assert_allclose(errs[2] / errs[1], 0.5, atol=0.02)


@pytest.mark.parametrize("depth", [2, 3, 5, 10])
def test_density_diverges_like_sigma_power(depth):
    # density ~ sigma_min^{1/N - 1}: log-log slope 1/N - 1
    def f(eps):
        # diagonal: an SVD cannot resolve sigma = 1e-12 next to 1.5 in a rotated matrix
        return log_volume_density(np.diag([0.7, eps, 1.5]), depth)

    # the mixed eigenvalues carry a relative correction (eps/sigma_k)^{2/N}; allow for it
    e1, e2 = 1e-12, 1e-14
    slope = (f(e1) - f(e2)) / (np.log(e1) - np.log(e2))
    tol = 2 * sum((e1 / sk) ** (2.0 / depth) for sk in (1.5, 0.7)) / np.log(e1 / e2)
    np.testing.assert_allclose(slope, 1.0 / depth - 1.0, atol=tol + 1e-9)
    assert f(e2) > f(e1) > f(1e-4) > f(1e-2)


@pytest.mark.parametrize(
    "depth,normalized", [(2, False), (3, False), (5, True), (10, True), (np.inf, True)]
)
def test_density_largest_at_corners_of_hyperbola(depth, normalized):
    # CMV Fig. 5: on {x11 = x22 = 1} at fixed det = delta, the density peaks at (+-1, +-1)
    delta = 0.01
    tau = np.linspace(-2.0, 2.0, 401)
    c = np.sqrt(1.0 - delta)
    for sign in (1.0, -1.0):
        x12, x21 = sign * c * np.exp(tau), sign * c * np.exp(-tau)
        pts = np.zeros((tau.size, 2, 2))
        pts[:, 0, 0] = pts[:, 1, 1] = 1.0
        pts[:, 0, 1], pts[:, 1, 0] = x12, x21
        np.testing.assert_allclose(np.linalg.det(pts), delta, rtol=1e-10)
        vals = log_volume_density(pts, depth, normalized=normalized)
        k = int(np.argmax(vals))
        assert abs(tau[k]) <= 0.011
        assert vals[k] > vals[np.argmin(np.abs(tau - 0.5))] + 1e-3


# ------------------------------------------------------------------------------------------
# log_volume_form: the SVD chart
# ------------------------------------------------------------------------------------------
def _skew_from(coords, size, r):
    """Skew size x size matrix with free entries (i, j), j < r, i > j (Muirhead coordinates)."""
    s = np.zeros((size, size))
    k = 0
    for j in range(r):
        for i in range(j + 1, size):
            s[i, j] = coords[k]
            s[j, i] = -coords[k]
            k += 1
    return s


def _stiefel_dim(size, r):
    return size * r - r * (r + 1) // 2


def _log_svd_chart_jacobian(u_full, s, v_full, r):
    """log sqrt det(J^T J) of (sigma, a, b) -> H_U expm(S(a))[:, :r] diag(sigma) (...)^T."""
    m, n = u_full.shape[0], v_full.shape[0]
    da, db = _stiefel_dim(m, r), _stiefel_dim(n, r)

    def chart(theta):
        sig, a, b = theta[:r], theta[r : r + da], theta[r + da :]
        u = (u_full @ expm(_skew_from(a, m, r)))[:, :r]
        v = (v_full @ expm(_skew_from(b, n, r)))[:, :r]
        return (u * sig) @ v.T

    theta0 = np.concatenate([s, np.zeros(da + db)])
    jac = numerical_jacobian(chart, theta0, eps=1e-6)
    assert jac.shape == (m * n, r * (m + n - r))
    return 0.5 * _logdet(jac.T @ jac)


@pytest.mark.parametrize(
    "m,n,r", [(2, 2, 2), (3, 3, 3), (3, 3, 2), (2, 3, 1), (4, 3, 2), (3, 2, 2)]
)
@pytest.mark.parametrize("depth,normalized", [(1, False), (2, False), (3, True), (4, False)])
def test_volume_form_is_density_times_svd_jacobian(m, n, r, depth, normalized):
    rng = np.random.default_rng(100 * m + 10 * n + r + depth)
    s = np.sort(rng.uniform(0.4, 2.0, r))[::-1]
    u_full, v_full = random_orthogonal(m, rng), random_orthogonal(n, rng)
    x = (u_full[:, :r] * s) @ v_full[:, :r].T
    if r == min(m, n):
        log_density = -0.5 * _logdet(brute_cometric_matrix(x, depth, normalized))
    else:
        basis = tangent_basis(x, r)
        gram_a = np.array(
            [[np.sum(bi * brute_A(x, bj, depth, normalized)) for bj in basis] for bi in basis]
        )
        log_density = -0.5 * _logdet(gram_a)
    expected = log_density + _log_svd_chart_jacobian(u_full, s, v_full, r)
    got = log_volume_form(s, depth, normalized=normalized, shape=(m, n), rank=r)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-7)
    # also through log_volume_density of the matrix
    np.testing.assert_allclose(
        log_volume_density(x, depth, normalized, rank=r), log_density, rtol=1e-8, atol=1e-8
    )


def _van(a):
    a = np.asarray(a, float)
    return np.prod([abs(a[i] - a[j]) for i in range(a.size) for j in range(i + 1, a.size)])


def cmv_theorem_1_1(s, depth, normalized):
    """CMV Theorem 1.1, square full rank (reference §4)."""
    d = len(s)
    const = depth ** (d * (d - 1) / 2) if normalized else depth ** (-d / 2)
    return np.log(const * np.prod(s ** (1.0 / depth - 1.0)) * _van(s ** (2.0 / depth)))


def rank_r_form(s, depth, m, n, normalized):
    """Rank-r m x n formula of reference §4."""
    r = len(s)
    val = np.log(
        depth ** (-r / 2)
        * np.prod(s ** ((1.0 - depth + m + n - 2 * r) / depth))
        * _van(s ** (2.0 / depth))
    )
    return val + (0.5 * r * (m + n - r) * np.log(depth) if normalized else 0.0)


def infinite_depth_form(s):
    return np.log(np.prod(1.0 / s) * _van(np.log(s**2)))


spectra = st.lists(st.floats(0.05, 20.0), min_size=1, max_size=5).filter(
    lambda v: len(v) < 2 or np.min(np.diff(np.sort(v))) > 1e-3
)


@settings(max_examples=60, deadline=None)
@given(spectra, st.integers(1, 12), st.booleans())
def test_volume_form_cmv_theorem(s, depth, normalized):
    s = np.array(s)
    np.testing.assert_allclose(
        log_volume_form(s, depth, normalized), cmv_theorem_1_1(s, depth, normalized),
        rtol=1e-9, atol=1e-8,
    )


@settings(max_examples=60, deadline=None)
@given(spectra, st.integers(1, 9), st.integers(0, 3), st.integers(0, 3), st.booleans())
def test_volume_form_rank_r_formula(s, depth, dm, dn, normalized):
    s = np.array(s)
    r = len(s)
    m, n = r + dm, r + dn
    np.testing.assert_allclose(
        log_volume_form(s, depth, normalized, shape=(m, n), rank=r),
        rank_r_form(s, depth, m, n, normalized),
        rtol=1e-9, atol=1e-8,
    )


@settings(max_examples=40, deadline=None)
@given(spectra)
def test_volume_form_infinite_depth(s):
    s = np.array(s)
    np.testing.assert_allclose(
        log_volume_form(s, np.inf, normalized=True), infinite_depth_form(s), rtol=1e-9, atol=1e-8
    )


def test_volume_form_infinite_depth_limit():
    s = np.array([2.0, 1.1, 0.3])
    ref = log_volume_form(s, np.inf, normalized=True)
    errs = [abs(log_volume_form(s, N, normalized=True) - ref) for N in (50, 100, 200, 400)]
    ratios = np.array(errs[1:]) / np.array(errs[:-1])
    np.testing.assert_allclose(ratios, 0.5, atol=0.03)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.05, 5.0), min_size=2, max_size=4),
    st.integers(1, 8),
    st.booleans(),
)
def test_volume_form_ties_never_nan(s, depth, normalized):
    s = np.array(s + [s[0]])  # force a repeated value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        val = log_volume_form(s, depth, normalized)
        dens = log_volume_density(np.diag(s), depth, normalized)
    assert val == -np.inf  # the form vanishes at a collision
    assert np.isfinite(dens)


def test_volume_form_zeros_beyond_rank_and_batch():
    s = np.array([[2.0, 0.5, 0.0], [1.0, 0.3, 0.0]])
    got = log_volume_form(s, 3, shape=(3, 4), rank=2)
    assert got.shape == (2,)
    for k in range(2):
        np.testing.assert_allclose(got[k], rank_r_form(s[k, :2], 3, 3, 4, False), rtol=1e-12)
        np.testing.assert_allclose(
            got[k], log_volume_form(s[k, :2], 3, shape=(3, 4)), rtol=1e-14
        )


@pytest.mark.parametrize("depth", [2, 3, 7])
def test_volume_form_diverges_like_sigma_power(depth):
    def f(eps):
        return log_volume_form(np.array([1.3, 0.6, eps]), depth)

    e1, e2 = 1e-12, 1e-14
    slope = (f(e1) - f(e2)) / (np.log(e1) - np.log(e2))
    tol = 2 * sum((e1 / sk) ** (2.0 / depth) for sk in (1.3, 0.6)) / np.log(e1 / e2)
    np.testing.assert_allclose(slope, 1.0 / depth - 1.0, atol=tol + 1e-9)
    assert f(e2) > f(e1) > f(1e-4)


def test_volume_form_generic_kernel_matches_dln_kernel_instance():
    s = np.array([1.7, 0.9, 0.2])
    np.testing.assert_allclose(
        log_volume_form(s, DLNKernel(4, normalized=True)), log_volume_form(s, 4, True), rtol=0
    )


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(singular_values=[1.0, -0.5], depth=2), "singular_values"),
        (dict(singular_values=[1.0, np.nan], depth=2), "singular_values"),
        (dict(singular_values=[1.0, 0.0], depth=2), "singular_values"),
        (dict(singular_values=[1.0, 0.5, 0.2], depth=2, shape=(3, 3), rank=2), "singular_values"),
        (dict(singular_values=[1.0, 0.5], depth=2, shape=(3, 3), rank=1), "singular_values"),
        (dict(singular_values=[1.0, 0.5, 0.2, 0.1], depth=2, shape=(3, 5)), "singular_values"),
        (dict(singular_values=[], depth=2), "singular_values"),
        (dict(singular_values=[1.0, 0.5], depth=0), "depth"),
        (dict(singular_values=[1.0, 0.5], depth=1.5), "depth"),
        (dict(singular_values=[1.0, 0.5], depth=np.inf), "depth"),
        (dict(singular_values=[1.0, 0.5], depth=2, shape=(3, 3), rank=4), "rank"),
        (dict(singular_values=[1.0], depth=np.inf, normalized=True, shape=(2, 2)), "degenerate"),
        (dict(singular_values=[1.0, 0.5], depth=2, shape=(3,)), "shape"),
    ],
)
def test_volume_form_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_volume_form(**kwargs)


def test_density_bad_input():
    x = np.diag([2.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="base_point"):
        log_volume_density(np.full((2, 2), np.nan), 2)
    with pytest.raises(ValueError, match="base_point"):
        log_volume_density(np.ones(3), 2)
    with pytest.raises(ValueError, match="depth"):
        log_volume_density(x, 0)
    with pytest.raises(ValueError, match="rank"):
        log_volume_density(x, 2, rank=4)
    with pytest.raises(ValueError, match="rank > 1"):
        log_volume_density(x, 2, rank=1)
    with pytest.raises(ValueError, match="degenerate"):
        log_volume_density(np.diag([2.0, 0.0]), np.inf, normalized=True, rank=1)
    with pytest.raises(ValueError, match="normalized"):
        log_volume_density(x, DLNKernel(2), normalized=True)


def test_density_rank_deficient_point_is_plus_inf():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log_volume_density(np.diag([1.0, 0.0]), 3) == np.inf


@pytest.mark.parametrize("depth,normalized", [(2, False), (3, True), (np.inf, True)])
def test_tiny_singular_values_do_not_underflow(depth, normalized):
    # sigma = 1e-200: sigma^2 underflows, the log-domain evaluation must not
    s = np.array([1.0, 1e-200])
    log_s = np.log(s)
    if depth == np.inf:
        expected = -np.sum(log_s) + np.log(abs(2 * log_s[0] - 2 * log_s[1]))
    else:
        const = depth ** (1.0) if normalized else depth ** (-1.0)
        van = np.log1p(-(1e-200) ** (2 / depth))
        expected = np.log(const) + (1 / depth - 1) * np.sum(log_s) + van
    got = log_volume_form(s, depth, normalized)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isfinite(log_volume_density(np.diag(s), depth, normalized))


@settings(max_examples=80, deadline=None)
@given(
    st.floats(-690.0, 7.0), st.floats(-690.0, 7.0), st.integers(1, 40), st.booleans(),
    st.booleans(),
)
def test_log_kernel_vs_log_domain_sum(log_si, log_sj, depth, normalized, tie):
    # log of the defining N-term sum sum_j s_i^{2(N-j)/N} s_j^{2(j-1)/N}, by logsumexp
    from scipy.special import logsumexp

    from geodln.volume import log_kernel

    if tie:
        log_sj = log_si
    j = np.arange(1, depth + 1)
    expected = logsumexp(2 * (depth - j) / depth * log_si + 2 * (j - 1) / depth * log_sj)
    if normalized:
        expected -= np.log(depth)
    got = log_kernel(DLNKernel(depth, normalized), np.exp(log_si), np.exp(log_sj))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
