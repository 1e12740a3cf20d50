"""Factored points, tangent vectors, co-metric and retraction vs dense / brute-force references.

References: the defining N-term sum of A_{N,X} with eigh powers (tests/brute.py), the dense
DLNMetric / SpectralMetric (a different code path: SVD of the dense X), Gram matrices in an
orthonormal tangent basis built from a full SVD, and numpy's dense SVD for the retraction.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from brute import (
    brute_A,
    brute_A_svd,
    brute_cometric_matrix,
    matrix_with_spectrum,
    rel_err,
    tangent_basis,
)

from geodln import DLNMetric, RankMatrices, SpectralMetric
from geodln.lowrank import (
    FactoredDLNMetric,
    FactoredPoint,
    FactoredSpectralMetric,
    FactoredTangent,
    LowRankOperator,
    project_to_tangent,
    random_factored_point,
    retract,
    truncated_svd_of_product,
)
from geodln.spectral import ArithmeticMeanKernel, EuclideanKernel, InfiniteDepthKernel

CASES = [  # (m, n, spectrum): ties, tiny values, full rank both ways
    (7, 5, [2.0, 0.5]),
    (5, 8, [1.5, 1.5, 0.3]),
    (6, 6, [3.0, 1.0, 1.0, 0.2]),
    (4, 4, [2.0, 1.0, 0.5, 0.25]),
    (6, 3, [1.0, 0.7, 0.1]),
    (3, 6, [1.0, 1.0, 1.0]),
]


def dense_projection(x_u, x_v, z):
    """P_U Z + Z P_V - P_U Z P_V (reference §1), from the singular vectors."""
    pu, pv = x_u @ x_u.T, x_v @ x_v.T
    return pu @ z + z @ pv - pu @ z @ pv


def make(m, n, spectrum, seed=0):
    x, u, s, v = matrix_with_spectrum(m, n, spectrum, seed=seed)
    return x, FactoredPoint(u, s, v)


@pytest.mark.parametrize("m,n,spectrum", CASES)
def test_tangent_roundtrip_is_projection(m, n, spectrum):
    x, point = make(m, n, spectrum)
    z = np.random.default_rng(1).standard_normal((m, n))
    tan = FactoredTangent.from_dense(z, point)
    expected = dense_projection(point.u, point.v, z)
    assert rel_err(tan.to_dense(point), expected) < 1e-13
    assert np.abs(point.u.T @ tan.up).max() < 1e-13
    assert np.abs(point.v.T @ tan.vp).max() < 1e-13
    # Frobenius inner product of factored triples = dense trace
    w = FactoredTangent.from_dense(np.random.default_rng(2).standard_normal((m, n)), point)
    assert abs(tan.frobenius_inner(w) - np.sum(tan.to_dense(point) * w.to_dense(point))) < 1e-12


@pytest.mark.parametrize("m,n,spectrum", CASES)
@pytest.mark.parametrize("depth", [2, 3, 5])
def test_sharp_equals_defining_sum(m, n, spectrum, depth):
    x, point = make(m, n, spectrum)
    g = np.random.default_rng(3).standard_normal((m, n))
    metric = FactoredDLNMetric(depth)
    out = metric.sharp(g, point).to_dense(point)
    assert rel_err(out, brute_A(x, g, depth)) < 1e-12
    # the normalised (CMV) version is A/N
    outn = FactoredDLNMetric(depth, normalized=True).sharp(g, point).to_dense(point)
    assert rel_err(outn, brute_A(x, g, depth) / depth) < 1e-12


@pytest.mark.parametrize("depth", [2, 4])
def test_sharp_tiny_singular_values(depth):
    # sigma_min = 1e-12: eigh of XX^T cannot resolve it, use the SVD-built brute sum
    m, n, s = 8, 6, np.array([1.0, 1e-6, 1e-12])
    _, u, s, v = matrix_with_spectrum(m, n, s, seed=4)
    point = FactoredPoint(u, s, v)
    g = np.random.default_rng(5).standard_normal((m, n))
    out = FactoredDLNMetric(depth).sharp(g, point).to_dense(point)
    assert rel_err(out, brute_A_svd(u, s, v, g, depth)) < 1e-12
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("m,n,spectrum", CASES)
@pytest.mark.parametrize("depth", [1, 3])
def test_sharp_flat_inner_equal_dense_metric(m, n, spectrum, depth):
    x, point = make(m, n, spectrum)
    r = len(spectrum)
    dense = DLNMetric(RankMatrices(m, n, r), depth)
    fact = FactoredDLNMetric.from_metric(dense)
    rng = np.random.default_rng(6)
    g = rng.standard_normal((m, n))
    za = dense_projection(point.u, point.v, rng.standard_normal((m, n)))
    zb = dense_projection(point.u, point.v, rng.standard_normal((m, n)))
    assert rel_err(fact.sharp(g, point).to_dense(point), dense.sharp(g, x)) < 1e-12
    assert rel_err(fact.flat(za, point).to_dense(point), dense.flat(za, x)) < 1e-12
    ip = fact.inner_product(FactoredTangent.from_dense(za, point), zb, point)
    assert abs(ip - dense.inner_product(za, zb, x)) < 1e-12 * max(1.0, abs(ip))
    cp = fact.inner_coproduct(g, za, point)
    assert abs(cp - dense.inner_coproduct(g, za, x)) < 1e-12 * max(1.0, abs(cp))


@pytest.mark.parametrize("m,n,spectrum", CASES[:4])
@pytest.mark.parametrize("depth", [2, 3])
def test_inner_product_equals_gram_inverse(m, n, spectrum, depth):
    """g(a, b) = (Bᵀa)ᵀ (Bᵀ C B)⁻¹ (Bᵀb) with C the brute co-metric matrix, B a tangent basis."""
    x, point = make(m, n, spectrum)
    basis = tangent_basis(x, len(spectrum)).reshape(-1, m * n).T  # [mn, dim]
    gram = basis.T @ brute_cometric_matrix(x, depth) @ basis
    rng = np.random.default_rng(7)
    ca, cb = rng.standard_normal((2, basis.shape[1]))
    za, zb = (basis @ ca).reshape(m, n), (basis @ cb).reshape(m, n)
    expected = ca @ np.linalg.solve(gram, cb)
    got = FactoredDLNMetric(depth).inner_product(za, zb, point)
    assert abs(got - expected) < 1e-10 * abs(expected) + 1e-12
    assert FactoredDLNMetric(depth).squared_norm(za, point) > 0


@pytest.mark.parametrize(
    "kernel", [InfiniteDepthKernel(), EuclideanKernel(), ArithmeticMeanKernel(0.5)]
)
def test_other_kernels_equal_dense_spectral_metric(kernel):
    x, point = make(6, 6, [2.0, 1.0, 1.0, 0.2, 0.1, 0.05])  # full rank: inf depth is defined
    dense = SpectralMetric(RankMatrices(6, 6), kernel)
    fact = FactoredSpectralMetric(kernel)
    rng = np.random.default_rng(8)
    za, zb = rng.standard_normal((2, 6, 6))
    assert rel_err(fact.sharp(za, point).to_dense(point), dense.sharp(za, x)) < 1e-12
    ip = fact.inner_product(za, zb, point)
    assert abs(ip - dense.inner_product(za, zb, x)) < 1e-12 * max(1, abs(ip))


def test_infinite_depth_flat_undefined_at_rank_deficient_point():
    _, point = make(6, 5, [1.0, 0.5])
    with pytest.raises(ValueError, match="eigenvalue is 0"):
        FactoredSpectralMetric(InfiniteDepthKernel()).flat(np.ones((6, 5)), point)


def test_sparse_and_low_rank_covectors_project_like_dense():
    _, point = make(30, 20, [3.0, 2.0, 1.0])
    g = sp.random(30, 20, density=0.1, random_state=9, format="csr")
    a = project_to_tangent(g, point).to_dense(point)
    assert rel_err(a, dense_projection(point.u, point.v, g.toarray())) < 1e-13
    rng = np.random.default_rng(10)
    op = LowRankOperator(rng.standard_normal((30, 4)), rng.standard_normal((20, 4)))
    b = project_to_tangent(op, point).to_dense(point)
    assert rel_err(b, dense_projection(point.u, point.v, op.toarray())) < 1e-13
    # sharp of a sparse covector = sharp of its dense version
    metric = FactoredDLNMetric(3)
    c = metric.sharp(g, point).to_dense(point)
    assert rel_err(c, brute_A(point.to_dense(), g.toarray(), 3)) < 1e-12


@pytest.mark.parametrize("m,n,spectrum", CASES)
def test_retraction_is_truncated_svd(m, n, spectrum):
    x, point = make(m, n, spectrum)
    r = len(spectrum)
    z = dense_projection(point.u, point.v, np.random.default_rng(11).standard_normal((m, n)))
    for t in (1e-3, 0.3, 2.0):
        y = retract(point, FactoredTangent.from_dense(z, point), t)
        u, s, vt = np.linalg.svd(x + t * z)
        expected = (u[:, :r] * s[:r]) @ vt[:r]
        assert rel_err(y.to_dense(), expected) < 1e-12
        assert np.allclose(y.s, s[:r], rtol=1e-12, atol=1e-14)
        assert np.abs(y.u.T @ y.u - np.eye(r)).max() < 1e-13


def test_truncated_svd_of_product_and_conversions():
    rng = np.random.default_rng(12)
    left, right = rng.standard_normal((9, 4)), rng.standard_normal((7, 4))
    p = truncated_svd_of_product(left, right, 2)
    s = np.linalg.svd(left @ right.T, compute_uv=False)
    assert np.allclose(p.s, s[:2], rtol=1e-12)
    # rank larger than the number of columns: zero singular values, orthonormal padding
    q = truncated_svd_of_product(left[:, :1], right[:, :1], 3)
    assert np.allclose(q.s[1:], 0) and np.abs(q.u.T @ q.u - np.eye(3)).max() < 1e-12
    # dense <-> factored <-> SVDFrame <-> RankMatrices
    space = RankMatrices(9, 7, 3)
    x = space.random_point(seed=13)
    fp = FactoredPoint.from_dense(x, 3)
    assert rel_err(fp.to_dense(), x) < 1e-13
    assert rel_err(fp.to_frame().matrix(), x) < 1e-13
    assert bool(space.belongs(fp.to_dense()))
    assert rel_err(FactoredPoint.from_frame(space.frame(x)).to_dense(), x) < 1e-13
    rp = random_factored_point(9, 7, 3, seed=14, spectrum=[1.0, 1.0, 1e-9])
    assert bool(RankMatrices(9, 7, 3).belongs(rp.to_dense(), atol=1e-12))


def test_bad_input_raises_value_error():
    rng = np.random.default_rng(15)
    u, _ = np.linalg.qr(rng.standard_normal((5, 2)))
    v, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="u must have orthonormal"):
        FactoredPoint(2 * u, [1.0, 1.0], v)
    with pytest.raises(ValueError, match="s must be > 0"):
        FactoredPoint(u, [1.0, -1.0], v)
    with pytest.raises(ValueError, match="s must have shape"):
        FactoredPoint(u, [1.0], v)
    with pytest.raises(ValueError, match="NaN"):
        FactoredPoint(u, [1.0, np.nan], v)
    with pytest.raises(ValueError, match="rank"):
        FactoredPoint.from_dense(np.ones((3, 4)), rank=5)
    with pytest.raises(ValueError, match="rank"):
        random_factored_point(3, 4, 4)
    point = FactoredPoint(u, [1.0, 0.5], v)
    with pytest.raises(ValueError, match="covector must have shape"):
        FactoredDLNMetric(3).sharp(np.ones((4, 5)), point)
    with pytest.raises(ValueError, match="base_point must be a FactoredPoint"):
        FactoredDLNMetric(3).sharp(np.ones((5, 4)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="depth"):
        FactoredDLNMetric(0)
    with pytest.raises(ValueError, match="kernel"):
        FactoredSpectralMetric("dln")
