"""Metric objects at base points of scale 1e±150 … 1e±300 (session 12, tester's reports).

Independent references: the DLN co-metric built by brute force from its definition
A_{N,X}(Z) = sum_j (XXᵀ)^{(N-j)/N} Z (XᵀX)^{(j-1)/N} in mpmath at 50 digits (matrix powers
from mpmath's symmetric eigendecomposition, no SVD frame, no kernel formula), closed forms,
and the exact homogeneity laws of a kernel of degree d (A_{cX} = c^{2d} A_X; d = 1 - 1/N):
|Z|_{cX} = c^{-d}|Z|_X, Gamma_{cX} = Gamma_X / c, R_{cX} = R_X / c^2, K(cX) = c^{2d-2} K(X),
with the powers of c evaluated in mpmath. Every call runs with warnings turned into errors.
"""

import warnings

import mpmath as mp
import numpy as np
import pytest

import geodln
import geodln.lowrank as lr
from geodln import DLNMetric, RankMatrices, SpectralMetric
from geodln.spectral import InfiniteDepthKernel

X2 = np.array([[2.0, 0.3], [0.1, 1.0]])
ZA = np.array([[0.7, -1.2], [0.4, 0.9]])
ZB = np.array([[-0.3, 0.5], [1.1, 0.2]])


def _quiet(func, *args):
    """Call with every warning an error (no RuntimeWarning may leak)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args)


def _mp_power(gram, p):
    """``gram**p`` for a symmetric PSD mpmath matrix (``p = 0`` gives the identity)."""
    if p == 0:
        return mp.eye(gram.rows)
    w, q = mp.eigsy(gram)
    d = mp.diag([max(v, mp.mpf(0)) ** p for v in w])
    return q * d * q.T


def _mp_cometric_matrix(x, depth, scale=1):
    """A_{N, scale*X} in row-major entry coordinates, by brute force from the definition."""
    mp.mp.dps = 50
    X = mp.matrix(x.tolist()) * mp.mpf(scale)
    m, n = x.shape
    left, right = X * X.T, X.T * X
    A = mp.zeros(m * n, m * n)
    for j in range(1, depth + 1):
        P = _mp_power(left, mp.mpf(depth - j) / depth)
        Q = _mp_power(right, mp.mpf(j - 1) / depth)
        for i in range(m):
            for k in range(n):
                for ii in range(m):
                    for kk in range(n):  # (P Z Q)_{ik} = sum P_{i,ii} Z_{ii,kk} Q_{kk,k}
                        A[i * n + k, ii * n + kk] += P[i, ii] * Q[kk, k]
    return A


def _mp_metric_on_tangent(A):
    """Pseudo-inverse of the symmetric PSD A (its kernel is the normal space of M_r)."""
    tol = mp.mpf("1e-30")
    w, q = mp.eigsy(A)
    top = max(abs(v) for v in w)
    d = mp.diag([1 / v if v > tol * top else 0 for v in w])
    return q * d * q.T


def _vec(z):
    return mp.matrix(z.reshape(-1).tolist())


def _mp_inner(Ainv, za, zb, a_scale=1, b_scale=1):
    return (_vec(za).T * Ainv * _vec(zb))[0, 0] * mp.mpf(a_scale) * mp.mpf(b_scale)


def _to_float(M):
    return np.array([[float(M[i, j]) for j in range(M.cols)] for i in range(M.rows)])


def _assert_entries(got, expected, rtol=1e-10):
    """inf exactly where the true value overflows, relative accuracy where it is finite."""
    assert not np.any(np.isnan(got))
    assert np.array_equal(np.isinf(got), np.isinf(expected)), (got, expected)
    finite = np.isfinite(expected) & (np.abs(expected) > 1e-290)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol)
    # entries whose true value is (numerically) 0 or underflows stay tiny, never inf or NaN
    top = np.max(np.abs(np.where(np.isfinite(expected), expected, 0.0)))
    assert np.all(np.abs(got[~finite & np.isfinite(expected)]) <= 1e-12 * top + 1e-290)


# -- item 1: factored inner product and norm --------------------------------------------------
def _factored_case():
    rng = np.random.default_rng(0)
    u = np.linalg.qr(rng.standard_normal((5, 2)))[0]
    v = np.linalg.qr(rng.standard_normal((4, 2)))[0]
    unit = lr.FactoredPoint(u, np.array([2.0, 1.0]), v)
    za = lr.project_to_tangent(rng.standard_normal((5, 4)), unit).to_dense(unit)
    zb = lr.project_to_tangent(rng.standard_normal((5, 4)), unit).to_dense(unit)
    return u, v, unit, za, zb


@pytest.mark.parametrize("scale,a_scale", [(1e-300, 1e-300), (1e-300, 1.0), (1e300, 1e300),
                                           (1.0, 1e-300), (1e-200, 1e-100), (1e150, 1e100),
                                           (1e300, 1.0)])
def test_factored_inner_product_and_norm_match_mpmath(scale, a_scale):
    u, v, unit, za, zb = _factored_case()
    point = lr.FactoredPoint(u, scale * np.array([2.0, 1.0]), v)
    x = unit.to_dense()
    ainv = _mp_metric_on_tangent(_mp_cometric_matrix(x, 3, scale))
    metric = lr.FactoredDLNMetric(3)
    got = _quiet(metric.inner_product, a_scale * za, zb, point)
    expected = float(_mp_inner(ainv, za, zb, a_scale))
    if np.isfinite(expected) and abs(expected) > 1e-290:
        np.testing.assert_allclose(got, expected, rtol=1e-10)
    else:  # g_X itself is out of range: inf of the right sign, or (below) 0
        assert got == expected or (abs(expected) <= 1e-290 and abs(got) <= 1e-290)
    got = _quiet(metric.norm, a_scale * za, point)
    expected = float(mp.sqrt(_mp_inner(ainv, za, za, a_scale, a_scale)))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # the dense metric agrees
    dense = DLNMetric(RankMatrices(5, 4, rank=2), depth=3)
    np.testing.assert_allclose(_quiet(dense.norm, a_scale * za, point.to_dense()), expected,
                               rtol=1e-10)


@pytest.mark.parametrize("scale,p_scale", [(1e300, 1e-50), (1e-300, 1e200), (1e300, 1e-200),
                                           (1e-200, 1e100), (1e250, 1e-150)])
def test_inner_coproduct_matches_mpmath(scale, p_scale):
    """tr(P_aᵀ A_X P_b) where A_X P_b overflows but the product is representable."""
    u, v, unit, za, zb = _factored_case()
    A = _mp_cometric_matrix(unit.to_dense(), 3, scale)
    expected = float(_mp_inner(A, za, zb, p_scale, p_scale))
    assert np.isfinite(expected) and abs(expected) > 1e-290
    point = lr.FactoredPoint(u, scale * np.array([2.0, 1.0]), v)
    got = _quiet(lr.FactoredDLNMetric(3).inner_coproduct, p_scale * za, p_scale * zb, point)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    dense = DLNMetric(RankMatrices(5, 4, rank=2), depth=3)
    got = _quiet(dense.inner_coproduct, p_scale * za, p_scale * zb, point.to_dense())
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_factored_norm_of_a_zero_vector_is_zero():
    _, _, unit, za, _ = _factored_case()
    assert _quiet(lr.FactoredDLNMetric(3).norm, 0.0 * za, unit) == 0.0


# -- item 2: dense norm (finite and infinite depth) -----------------------------------------
@pytest.mark.parametrize("depth", [2, 3, 7])
@pytest.mark.parametrize("scale,z_scale", [(1e300, 1.0), (1e-300, 1.0), (1e-300, 1e-300),
                                           (1e300, 1e300), (1e-250, 1e-250), (1e200, 1e-100),
                                           (1.0, 1e-200), (1.0, 1e200)])
def test_norm_matches_mpmath_where_the_squared_norm_is_out_of_range(depth, scale, z_scale):
    metric = DLNMetric(RankMatrices(2, 2), depth=depth)
    ainv = _mp_metric_on_tangent(_mp_cometric_matrix(X2, depth, scale))
    expected = float(mp.sqrt(_mp_inner(ainv, ZA, ZA, z_scale, z_scale)))
    got = _quiet(metric.norm, z_scale * ZA, scale * X2)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("scale", [1e-300, 1e-155, 1e-100, 1e160, 1e300])
def test_norm_of_the_identity_in_closed_form(scale):
    """|I|_{cI} = sqrt(2 / (N c^{2-2/N})) for N = 3 and sqrt(2)/c for N = inf."""
    finite = DLNMetric(RankMatrices(2, 2), depth=3)
    c = mp.mpf(scale)
    np.testing.assert_allclose(_quiet(finite.norm, np.eye(2), scale * np.eye(2)),
                               float(mp.sqrt(2 / (3 * c ** (mp.mpf(4) / 3)))), rtol=1e-12)
    infinite = SpectralMetric(RankMatrices(2, 2), InfiniteDepthKernel())
    np.testing.assert_allclose(_quiet(infinite.norm, np.eye(2), scale * np.eye(2)),
                               float(mp.sqrt(2) / c), rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_infinite_depth_norm_homogeneity(scale):
    """|Z|_{cX} = |Z|_X / c at infinite depth (logarithmic mean: degree 1)."""
    metric = SpectralMetric(RankMatrices(2, 2), InfiniteDepthKernel())
    unit = float(metric.norm(ZA, X2))
    np.testing.assert_allclose(_quiet(metric.norm, ZA, scale * X2),
                               float(mp.mpf(unit) / mp.mpf(scale)), rtol=1e-12)


# -- item 3: co-metric and metric matrices -------------------------------------------------
@pytest.mark.parametrize("x", [np.diag([2.0, 1.0]), X2])
@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e250, 1e-200])
def test_cometric_and_metric_matrix_match_mpmath(x, scale):
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    A = _mp_cometric_matrix(x, 3, scale)
    _assert_entries(_quiet(metric.cometric_matrix, scale * x), _to_float(A))
    _assert_entries(_quiet(metric.metric_matrix, scale * x), _to_float(A**-1))


def test_cometric_matrix_of_the_reported_point():
    """diag(2e300, 1e300), N = 3: inf on the diagonal, 0 elsewhere (no NaN, no warning)."""
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    got = _quiet(metric.cometric_matrix, np.diag([2e300, 1e300]))
    assert np.array_equal(got, np.where(np.eye(4) > 0, np.inf, 0.0))
    got = _quiet(metric.metric_matrix, np.diag([2e-300, 1e-300]))
    assert np.array_equal(got, np.where(np.eye(4) > 0, np.inf, 0.0))


def test_metric_matrix_still_refuses_a_singular_point():
    with pytest.raises(ValueError, match="metric is not defined"):
        DLNMetric(RankMatrices(2, 2), depth=3).metric_matrix(np.diag([1.0, 0.0]))


# -- item 4: connection and curvature --------------------------------------------------------
A_VEC = np.array([[1.0, 0.0], [0.0, 0.0]])
B_VEC = np.array([[0.0, 1.0], [1.0, 0.5]])
SCALES = [1e-300, 1e-180, 1e-160, 1e-100, 1e160, 1e300]


def _power(scale, exponent):
    return float(mp.mpf(scale) ** exponent)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("scale", SCALES)
def test_sectional_curvature_homogeneity(depth, scale):
    """K(cX) = c^{-2/N} K(X), for vectors of any size (a plane does not depend on it)."""
    metric = DLNMetric(RankMatrices(2, 2), depth=depth)
    unit = float(metric.sectional_curvature(A_VEC, B_VEC, X2))
    assert abs(unit) > 1e-3  # a curved plane: the law is not vacuous
    expected = unit * _power(scale, mp.mpf(-2) / depth)
    for a_scale, b_scale in [(1.0, 1.0), (scale, scale), (1e-150, 1e200)]:
        got = _quiet(metric.sectional_curvature, a_scale * A_VEC, b_scale * B_VEC, scale * X2)
        np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_curvature_map_and_christoffels_homogeneity(scale):
    """R_{cX}(a, b)c' = R_X(a, b)c' / c^2 (trilinear), Gamma_{cX} = Gamma_X / c."""
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    unit = metric.curvature(A_VEC, B_VEC, B_VEC, X2)
    tol = 1e-8 * np.max(np.abs(unit))
    # vectors of size c^(2/3) (their R overflows intermediate products unless scaled)
    t = _power(scale, mp.mpf(2) / 3)
    got = _quiet(metric.curvature, t * A_VEC, t * B_VEC, t * B_VEC, scale * X2)
    np.testing.assert_allclose(got, unit, rtol=1e-8, atol=tol)
    got = _quiet(metric.curvature, A_VEC, B_VEC, B_VEC, scale * X2)
    np.testing.assert_allclose(got, unit * _power(scale, -2), rtol=1e-8,
                               atol=tol * _power(scale, -2))
    gamma = metric.christoffels(X2)
    np.testing.assert_allclose(_quiet(metric.christoffels, scale * X2), gamma / scale,
                               rtol=1e-10, atol=1e-12 * np.max(np.abs(gamma)) / scale)


@pytest.mark.parametrize("exponent", [-500, 500])
def test_riemann_tensor_homogeneity(exponent):
    """R_{cX} = R_X / c^2 in entry coordinates, c = 2**±500 (R of size 2**∓1000)."""
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    unit = metric.riemann_tensor(X2)
    got = _quiet(metric.riemann_tensor, np.ldexp(X2, exponent))
    np.testing.assert_allclose(np.ldexp(got, 2 * exponent), unit, rtol=1e-6,
                               atol=1e-8 * np.max(np.abs(unit)))


def test_riemann_tensor_at_1e160_is_finite_and_scaled():
    """The reported OverflowError: R_{1e160 X} = 1e-320 R_X, subnormal (to one ulp 2**-1074)."""
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    unit = metric.riemann_tensor(X2)
    got = _quiet(metric.riemann_tensor, 1e160 * X2)
    assert np.all(np.isfinite(got)) and np.any(got != 0)
    expected = unit * float(mp.mpf(10) ** -320 * mp.mpf(2) ** 1074)
    np.testing.assert_allclose(np.ldexp(got, 1074), expected, rtol=0, atol=1.01)


def test_the_tester_reproduction_of_sectional_curvature():
    """Tester's r6: 1e-300 … 1e300 all give c^{-2/3} K(X), no exception blaming a vector."""
    metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3)
    k0 = float(metric.sectional_curvature(A_VEC, B_VEC, X2))
    for c in [1e-300, 1e-180, 1e-160, 1e160, 1e300]:
        got = _quiet(metric.sectional_curvature, A_VEC, B_VEC, c * X2)
        np.testing.assert_allclose(got, k0 * _power(c, mp.mpf(-2) / 3), rtol=1e-8)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("exponent", [-400, -200, 200, 400])
def test_inner_product_derivative_matrix_homogeneity(depth, exponent):
    """d g(cX) = c^{-2d-1} d g(X), c = 2**e: exact, inf where out of range, never NaN."""
    metric = DLNMetric(RankMatrices(2, 2), depth=depth)
    unit = metric.inner_product_derivative_matrix(X2)
    got = _quiet(metric.inner_product_derivative_matrix, np.ldexp(X2, exponent))
    power = -(2.0 * (1.0 - 1.0 / depth) + 1.0) * exponent
    assert not np.any(np.isnan(got))
    expected = np.array([float(mp.mpf(v) * mp.mpf(2) ** power) for v in unit.ravel()])
    expected = expected.reshape(unit.shape)
    big = np.abs(unit) > 1e-6 * np.max(np.abs(unit))
    assert np.array_equal(np.isinf(got[big]), np.isinf(expected[big]))
    ok = big & np.isfinite(expected) & (np.abs(expected) > 1e-290)
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-8)


def test_connection_at_infinite_depth_on_a_non_square_space_is_refused():
    """The metric is not defined there (k(a, 0) = 0): a ValueError, no divide-by-zero."""
    metric = SpectralMetric(RankMatrices(3, 2), InfiniteDepthKernel())
    x = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    for call in (lambda: metric.christoffels(x), lambda: metric.riemann_tensor(x),
                 lambda: metric.curvature(x, x, x, x)):
        with pytest.raises(ValueError, match="mixed blocks"):
            _quiet(call)


def test_infinite_depth_kernel_on_a_mixed_block_of_a_huge_point():
    """k(sigma^2, 0) = 0 at infinite depth also where sigma^2 overflows (was NaN)."""
    got = _quiet(InfiniteDepthKernel().values, np.array([1e160, 1e300]), np.zeros(2))
    assert got.tolist() == [0.0, 0.0]
    metric = SpectralMetric(RankMatrices(3, 2), InfiniteDepthKernel())
    x = 1e160 * np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    got = _quiet(metric.cometric_matrix, x)
    assert not np.any(np.isnan(got))
    assert np.isinf(got[0, 0]) and got[4, 4] == 0.0  # (3, 1) entry: a mixed block, k = 0


def test_kernel_without_degree_out_of_range_says_so():
    """No degree: no rescaling is possible; the error names the range, not a singular point."""
    kernel = geodln.CallableKernel(lambda a, b: 0.5 * (a + b))
    metric = SpectralMetric(RankMatrices(2, 2), kernel)
    for call in (lambda: metric.flat(ZA, 1e-300 * X2), lambda: metric.norm(ZA, 1e-300 * X2),
                 lambda: metric.metric_matrix(1e-300 * X2),
                 lambda: metric.metric_matrix(1e300 * X2)):
        with pytest.raises(ValueError, match="float range .* no homogeneity degree"):
            _quiet(call)
    with pytest.raises(ValueError, match="not defined"):  # a singular point still is one
        metric.metric_matrix(np.diag([1.0, 0.0]))
