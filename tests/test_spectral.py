"""Spectral kernels against their definitions (reference §2).

References: the direct N-term sum sum_j a^{(N-j)/N} b^{(j-1)/N} (positive terms, no
cancellation, 0^0 = 1), and the logarithmic mean as the integral int_0^1 a^{1-t} b^t dt by
Gauss-Legendre quadrature.
"""

import numpy as np
import pytest

import geodln  # noqa: F401
from geodln.spectral import (
    CallableKernel,
    DLNKernel,
    EuclideanKernel,
    InfiniteDepthKernel,
    dln_kernel,
    log_mean,
)

# pairs (a, b) of squared singular values: generic, exact ties, near ties, zeros, tiny, huge
PAIRS = [
    (4.0, 1.0),
    (1.0, 4.0),
    (2.5, 2.5),
    (1.0, 1.0 + 1e-15),
    (1.0, 1.0 + 1e-9),
    (1.0, 1.0 - 1e-7),
    (3.0, 0.0),
    (0.0, 3.0),
    (1e-24, 1.0),
    (1e-24, 1e-24),
    (1e-24, 2e-24),
    (1e-300, 1e-300 * (1 + 1e-12)),
    (1e12, 1e-12),
    (7.3, 7.3 * (1 + 3e-16)),
]
DEPTHS = [1, 2, 3, 5, 8, 17]


def direct_sum(a, b, N):
    return sum(a ** ((N - j) / N) * b ** ((j - 1) / N) for j in range(1, N + 1))


def quad_log_mean(a, b, n_nodes=80):
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    t = 0.5 * (nodes + 1.0)
    return float(np.sum(0.5 * weights * a ** (1 - t) * b**t))


@pytest.mark.parametrize("N", DEPTHS)
@pytest.mark.parametrize("a,b", PAIRS)
def test_dln_kernel_matches_direct_sum(a, b, N):
    expected = direct_sum(a, b, N)
    got = float(dln_kernel(a, b, N))
    assert np.isfinite(got)
    assert abs(got - expected) <= 1e-13 * max(abs(expected), 1e-300)


def test_dln_kernel_zero_zero_and_depth_one():
    # 0^0 = 1 convention: k_1 = 1 everywhere; k_N(0, 0) = 0 for N >= 2
    assert dln_kernel(0.0, 0.0, 1) == 1.0
    assert dln_kernel(0.0, 0.0, 3) == 0.0
    assert np.all(dln_kernel(np.array([0.0, 2.0, 5.0]), np.array([0.0, 0.0, 5.0]), 1) == 1.0)


def test_dln_kernel_broadcasts_and_is_symmetric():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 3, (5, 1))
    b = rng.uniform(0, 3, (1, 4))
    k = dln_kernel(a, b, 4)
    assert k.shape == (5, 4)
    np.testing.assert_allclose(k, dln_kernel(b, a, 4), rtol=0, atol=0)
    ref = np.array([[direct_sum(x, y, 4) for y in b[0]] for x in a[:, 0]])
    np.testing.assert_allclose(k, ref, rtol=1e-13)


@pytest.mark.parametrize("a,b", [p for p in PAIRS if min(p) > 0 and max(p) / min(p) < 1e6])
def test_log_mean_matches_integral(a, b):
    expected = quad_log_mean(a, b)
    got = float(log_mean(a, b))
    assert abs(got - expected) <= 1e-13 * expected


def test_log_mean_special_values():
    assert log_mean(2.0, 2.0) == 2.0
    assert log_mean(3.0, 0.0) == 0.0
    assert log_mean(0.0, 0.0) == 0.0
    # closed form away from ties
    assert abs(log_mean(4.0, 1.0) - 3.0 / np.log(4.0)) < 1e-15


@pytest.mark.parametrize("a,b", [(4.0, 1.0), (2.0, 2.0), (9.0, 0.25), (1.0, 1.0 + 1e-8)])
def test_normalised_kernel_converges_at_rate_one_over_n(a, b):
    """k_N/N -> log mean, error O(1/N): check size at N = 1e4 and halving at 2e4."""
    lm = quad_log_mean(a, b)
    err1 = abs(direct_sum(a, b, 10_000) / 10_000 - lm)
    err2 = abs(direct_sum(a, b, 20_000) / 20_000 - lm)
    k1 = float(DLNKernel(10_000, normalized=True)(a, b))
    k2 = float(DLNKernel(20_000, normalized=True)(a, b))
    lm_code = float(InfiniteDepthKernel()(a, b))
    # the code's kernels agree with the direct sums
    assert abs(k1 - direct_sum(a, b, 10_000) / 10_000) <= 1e-11 * lm
    assert abs(k2 - direct_sum(a, b, 20_000) / 20_000) <= 1e-11 * lm
    # O(1/N): |k_N/N - L| <= C/N with C = max(a,b) * |log max(a,b)| + 1
    C = max(a, b) * (abs(np.log(max(a, b))) + 1.0)
    assert abs(k1 - lm_code) <= C / 10_000
    if err1 > 1e-12 * lm:
        assert 1.8 < abs(k1 - lm_code) / abs(k2 - lm_code) < 2.2
    assert err2 < err1 or err1 < 1e-12 * lm


def test_kernel_classes():
    a, b = np.array([4.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0])
    np.testing.assert_allclose(
        DLNKernel(3)(a, b), [direct_sum(x, y, 3) for x, y in zip(a, b)], rtol=1e-14
    )
    np.testing.assert_allclose(
        DLNKernel(3, normalized=True)(a, b),
        [direct_sum(x, y, 3) / 3 for x, y in zip(a, b)],
        rtol=1e-14,
    )
    np.testing.assert_allclose(DLNKernel(np.inf, normalized=True)(a, b), log_mean(a, b))
    assert np.all(EuclideanKernel()(a, b) == 1.0)
    user = CallableKernel(lambda x, y: x + y, name="sum")
    np.testing.assert_allclose(user(a, b), a + b)
    assert InfiniteDepthKernel().degenerate_on_mixed()
    assert not DLNKernel(2).degenerate_on_mixed()


def test_infinite_depth_requires_normalized():
    with pytest.raises(ValueError, match="normalized"):
        DLNKernel(np.inf)


@pytest.mark.parametrize("N", [1, 2, 3, 8, 32])
@pytest.mark.parametrize("normalized", [False, True])
def test_eigenvalues_matrix_matches_direct_sum(N, normalized):
    # the matrix form used by every co-metric evaluation (per-value logs, then pairwise),
    # at ties, near ties and zeros, against the direct N-term sum on the squares
    s2 = np.array([3.0, 1.0, 1.0, 1.0 + 1e-9, 1.0 + 1e-5, 1.02, 1e-3, 1e-3 * (1 + 1e-12),
                   1e-20, 0.0])
    kernel = DLNKernel(N, normalized=normalized)
    got, mixed = kernel.eigenvalues(np.sqrt(s2), shape=(10, 12))
    want = direct_sum(s2[:, None], s2[None, :], N) / (N if normalized else 1)
    assert np.all(np.isfinite(got))
    scale = np.where(want > 0, want, 1.0)
    assert np.max(np.abs(got - want) / scale) < 1e-12
    want_mixed = direct_sum(s2, np.zeros_like(s2), N) / (N if normalized else 1)
    assert np.max(np.abs(mixed - want_mixed) / np.where(want_mixed > 0, want_mixed, 1)) < 1e-12
    assert kernel.eigenvalues(np.sqrt(s2), shape=(10, 10))[1] is None


def test_eigenvalues_infinite_depth_matches_log_mean_quadrature():
    s2 = np.array([2.0, 1.0, 1.0, 1.0 + 1e-9, 1e-4, 0.0])
    got, mixed = InfiniteDepthKernel().eigenvalues(np.sqrt(s2), shape=(6, 7))
    assert np.all(mixed == 0.0)
    for i, a in enumerate(s2):
        for j, b in enumerate(s2):
            want = quad_log_mean(a, b) if min(a, b) > 0 else 0.0
            assert abs(got[i, j] - want) <= 1e-12 * max(want, 1.0)


def test_eigenvalues_batch():
    rng = np.random.default_rng(3)
    s2 = rng.random((4, 3))
    kernel = DLNKernel(5)
    got, _ = kernel.eigenvalues(np.sqrt(s2))
    assert got.shape == (4, 3, 3)
    for k in range(4):
        assert np.allclose(got[k], direct_sum(s2[k][:, None], s2[k][None, :], 5), rtol=1e-13)
