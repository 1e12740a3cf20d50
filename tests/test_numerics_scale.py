"""Metric entry points over the whole floating-point range, against independent references.

References used here (none of them calls geodln's kernel code):

- mpmath at 50 digits: the DLN eigenvalues from their defining closed forms
  (a - b)/(a^(1/N) - b^(1/N)), N a^(1-1/N) at ties, (a - b)/(log a - log b) at infinite depth,
  evaluated on the exact squares of the singular values (mpmath has no exponent range, so
  sigma^2 = 1e300 is no problem there);
- points with an exactly known singular frame: X = P[:, :q] diag(c s) Q[:q, :] with signed
  permutation matrices P, Q (exact in floating point), so the coordinates of Z in the frame are
  a signed permutation of Z's entries and the co-metric is lambda_kl * C_kl entrywise;
- for factored (block) points: a random orthonormal frame given exactly to
  ``SVDFrame.from_factors`` (no SVD), so the blocks of the reference are exact.

Dense points with a generic orthogonal frame are checked by homogeneity laws and by an mpmath
SVD of the same float matrix: there the error of any backward-stable SVD is O(eps * cond(X)),
so those cases keep cond <= 1e3.
"""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import geodln
from geodln.flows import Trajectory
from geodln.measures import frobenius_norm
from geodln.spectral import (
    ArithmeticMeanKernel,
    CallableKernel,
    DLNKernel,
    EuclideanKernel,
    GeometricMeanKernel,
    InfiniteDepthKernel,
)
from geodln.svd_frame import SVDFrame

mpmath.mp.dps = 50
DEPTHS = [1, 2, 3, 5, 8, np.inf]
RTOL = 1e-12


# -- independent references ---------------------------------------------------------------
def mp_lambda(sk, sl, depth, normalized):
    """Co-metric eigenvalue k(sk^2, sl^2) from its defining closed form, 50 digits."""
    a, b = mpmath.mpf(float(sk)) ** 2, mpmath.mpf(float(sl)) ** 2
    if depth == np.inf:
        if a == 0 or b == 0:
            return mpmath.mpf(0)
        return a if a == b else (a - b) / (mpmath.log(a) - mpmath.log(b))
    N = int(depth)
    if N == 1:
        lam = mpmath.mpf(1)
    elif a == b:
        lam = N * a ** (1 - mpmath.mpf(1) / N)
    else:
        lam = (a - b) / (mpmath.root(a, N) - mpmath.root(b, N))
    return lam / N if normalized else lam


def mp_eigen_grid(sig, m, n, r, depth, normalized):
    """lambda_kl [m, n] as mpf (0 on the normal block k, l >= r); sig padded with zeros."""
    full = list(sig) + [0.0] * (max(m, n) - len(sig))
    grid = [[mp_lambda(full[k], full[l], depth, normalized) for l in range(n)] for k in range(m)]
    for k in range(r, m):
        for l in range(r, n):
            grid[k][l] = mpmath.mpf(0)
    return grid


def signed_permutation(rng, d):
    p = np.eye(d)[rng.permutation(d)]
    return p * rng.choice([-1.0, 1.0], size=d)[None, :]


def spectrum(rng, r, log_cond, repeat):
    """r singular values in [10**-log_cond, 1], the first ``repeat`` of them tied."""
    logs = np.sort(rng.uniform(-log_cond, 0.0, r))[::-1]
    logs[0] = 0.0
    s = 10.0**logs
    if repeat > 1:
        s[:repeat] = s[0]
    return s


def rel_err(got, want):
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = np.max(np.abs(want))  # normwise relative error, without overflow of the squares
    return float(np.linalg.norm((got / scale - want / scale).ravel())
                 / np.linalg.norm((want / scale).ravel()))


shapes = st.sampled_from([(3, 3, 3), (2, 4, 2), (4, 3, 3), (4, 3, 2), (5, 4, 1), (3, 5, 2)])


@st.composite
def exact_frame_cases(draw):
    m, n, r = draw(shapes)
    depth = draw(st.sampled_from(DEPTHS))
    if depth == np.inf:
        m = n = r = 3  # k(a, 0) = 0: the infinite-depth metric needs square full-rank points
    normalized = depth == np.inf or draw(st.booleans())
    log_c = draw(st.floats(-150.0, 150.0))
    log_cond = draw(st.floats(0.0, 8.0))
    repeat = draw(st.integers(1, r))
    seed = draw(st.integers(0, 2**31 - 1))
    return m, n, r, depth, normalized, log_c, log_cond, repeat, seed


def exact_point(m, n, r, log_c, log_cond, repeat, seed):
    rng = np.random.default_rng(seed)
    s = spectrum(rng, r, log_cond, repeat)
    c = 10.0**log_c
    sig = np.sort(c * s)[::-1]  # the exact float singular values of X
    P, Q = signed_permutation(rng, m), signed_permutation(rng, n)
    core = np.zeros((m, n))
    core[np.arange(r), np.arange(r)] = sig
    x = P @ core @ Q.T  # exact: each entry is +-sigma_k or 0
    z = rng.standard_normal((m, n))
    return sig, P, Q, x, z


@settings(max_examples=60, deadline=None)
@given(exact_frame_cases())
def test_sharp_flat_inner_product_against_mpmath(case):
    m, n, r, depth, normalized, log_c, log_cond, repeat, seed = case
    sig, P, Q, x, z = exact_point(m, n, r, log_c, log_cond, repeat, seed)
    metric = geodln.DLNMetric(geodln.RankMatrices(m, n, rank=r), depth, normalized=normalized)
    grid = mp_eigen_grid(sig, m, n, r, depth, normalized)
    C = P.T @ z @ Q  # exact coordinates of Z in the frame
    tangent = np.array([[k < r or l < r for l in range(n)] for k in range(m)])
    sharp_c = np.array([[float(grid[k][l] * mpmath.mpf(C[k, l])) for l in range(n)]
                        for k in range(m)])
    assert rel_err(metric.sharp(z, x), P @ sharp_c @ Q.T) <= RTOL
    flat_c = np.array([[float(mpmath.mpf(C[k, l]) / grid[k][l]) if tangent[k, l] else 0.0
                        for l in range(n)] for k in range(m)])
    assert rel_err(metric.flat(z, x), P @ flat_c @ Q.T) <= RTOL
    exact_sq = mpmath.fsum(
        mpmath.mpf(C[k, l]) ** 2 / grid[k][l]
        for k in range(m) for l in range(n) if tangent[k, l]
    )
    got = float(metric.squared_norm(z, x))
    assert abs(got - float(exact_sq)) <= RTOL * float(exact_sq)
    inner = float(metric.inner_product(z, x / np.abs(x).max() + z, x))
    w = P.T @ (x / np.abs(x).max() + z) @ Q
    exact_inner = mpmath.fsum(
        mpmath.mpf(C[k, l]) * mpmath.mpf(w[k, l]) / grid[k][l]
        for k in range(m) for l in range(n) if tangent[k, l]
    )
    scale = mpmath.fsum(
        abs(mpmath.mpf(C[k, l]) * mpmath.mpf(w[k, l])) / grid[k][l]
        for k in range(m) for l in range(n) if tangent[k, l]
    )
    assert abs(inner - float(exact_inner)) <= RTOL * float(scale)


@st.composite
def block_cases(draw):
    m, n, r = draw(shapes)
    depth = draw(st.sampled_from(DEPTHS))
    if depth == np.inf:
        m = n = r = 3  # k(a, 0) = 0: the infinite-depth metric needs square full-rank points
    normalized = depth == np.inf or draw(st.booleans())
    return (m, n, r, depth, normalized, draw(st.floats(-150.0, 150.0)),
            draw(st.floats(0.0, 8.0)), draw(st.integers(1, r)), draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=40, deadline=None)
@given(block_cases())
def test_factored_blocks_against_mpmath(case):
    """The block API (what the factored low-rank metric calls) at exact frames, entrywise."""
    m, n, r, depth, normalized, log_c, log_cond, repeat, seed = case
    rng = np.random.default_rng(seed)
    sig = 10.0**log_c * spectrum(rng, r, log_cond, repeat)
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    frame = SVDFrame.from_factors(u, sig, v.T)
    kernel = DLNKernel(depth, normalized)
    core = rng.standard_normal((r, r))
    left = rng.standard_normal((m, r)) if r < m else None
    right = rng.standard_normal((r, n)) if r < n else None
    c2, l2, r2 = frame.apply_blocks(kernel, core, left, right)
    ci, li, ri = frame.apply_inverse_blocks(kernel, core, left, right)
    for k in range(r):
        for j in range(r):
            lam = mp_lambda(sig[k], sig[j], depth, normalized)
            assert abs(c2[k, j] - float(lam * core[k, j])) <= RTOL * abs(float(lam * core[k, j]))
            want = float(core[k, j] / lam)
            assert abs(ci[k, j] - want) <= RTOL * abs(want)
        ell = mp_lambda(sig[k], 0.0, depth, normalized)
        for blk, out, inv, col in ((left, l2, li, True), (right, r2, ri, False)):
            if blk is None:
                continue
            vals = blk[:, k] if col else blk[k, :]
            got = out[:, k] if col else out[k, :]
            got_inv = inv[:, k] if col else inv[k, :]
            want = np.array([float(ell * t) for t in vals])
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)
            np.testing.assert_allclose(got_inv, [float(t / ell) for t in vals], rtol=RTOL, atol=0)


# -- homogeneity of every shipped kernel ------------------------------------------------------
KERNELS = [
    (DLNKernel(1), 0.0),
    (DLNKernel(2), 1.0),
    (DLNKernel(3), 4.0 / 3.0),
    (DLNKernel(5, normalized=True), 8.0 / 5.0),
    (DLNKernel(8), 14.0 / 8.0),
    (InfiniteDepthKernel(), 2.0),
    (EuclideanKernel(), 0.0),
    (ArithmeticMeanKernel(1.0), 2.0),
    (ArithmeticMeanKernel(0.5), 1.0),
    (GeometricMeanKernel(1.0), 2.0),
    (CallableKernel(lambda a, b: (0.5 * (np.sqrt(a) + np.sqrt(b))) ** 2, degree=1), 2.0),
]


@pytest.mark.parametrize("kernel,power", KERNELS, ids=[repr(k) for k, _ in KERNELS])
@settings(max_examples=15, deadline=None)
@given(log_c=st.floats(-150.0, 150.0), seed=st.integers(0, 2**31 - 1))
def test_homogeneity_of_each_kernel(kernel, power, log_c, seed):
    """sharp(Z, cX) = c^power sharp(Z, X) and flat(Z, cX) = c^-power flat(Z, X), c in range.

    power = 2 * degree (degree of the kernel in the squared singular values): 2 - 2/N for the
    DLN kernel. X has a generic orthogonal frame and condition number <= 1e3.
    """
    rng = np.random.default_rng(seed)
    m, n = 4, 3
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    x = (u * spectrum(rng, n, 3.0, 1 + seed % 2)) @ v.T
    z = rng.standard_normal((m, n))
    c = 10.0**log_c
    metric = geodln.SpectralMetric(geodln.RankMatrices(m, n), kernel)
    want = metric.sharp(z, x)
    assert rel_err(metric.sharp(z, c * x) / c**power, want) <= RTOL
    if not kernel.degenerate_on_mixed():
        # c**(-power) * flat: scale in two steps (each factor is representable)
        got = metric.flat(z, c * x) * c ** (0.5 * power) * c ** (0.5 * power)
        assert rel_err(got, metric.flat(z, x)) <= RTOL


@pytest.mark.parametrize("depth", [2, 3, 8])
def test_generic_frame_against_mpmath_svd(depth):
    """Generic orthogonal frame at 1e150 and 1e-150: mpmath SVD of the same float matrix."""
    rng = np.random.default_rng(depth)
    for log_c in (-150.0, 150.0):
        u, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        v, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        x = 10.0**log_c * (u * np.array([1.0, 0.3, 0.3])) @ v.T
        z = rng.standard_normal((3, 3))
        U, S, Vt = mpmath.svd_r(mpmath.matrix(x.tolist()))  # x = U diag(S) Vt
        C = U.T * mpmath.matrix(z.tolist()) * Vt.T
        lam = [[mp_lambda(float(S[k]), float(S[l]), depth, False) for l in range(3)]
               for k in range(3)]
        sharp = U * mpmath.matrix([[lam[k][l] * C[k, l] for l in range(3)] for k in range(3)])
        sharp = sharp * Vt
        want = np.array([[float(sharp[i, j]) for j in range(3)] for i in range(3)])
        metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth)
        assert rel_err(metric.sharp(z, x), want) <= RTOL
        sq = mpmath.fsum(C[k, l] ** 2 / lam[k][l] for k in range(3) for l in range(3))
        assert abs(float(metric.squared_norm(z, x)) - float(sq)) <= RTOL * float(sq)


# -- the reproducers of the issue ------------------------------------------------------------
def test_issue_reproducers_scale():
    M = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=3)
    D = np.diag([1.0, 2.0, 3.0])
    Z = np.ones((3, 3))
    for c in (1e160, 1e-160, 1e-200, 1e200 ** 0.5):
        grid = mp_eigen_grid(c * np.array([3.0, 2.0, 1.0]), 3, 3, 3, 3, False)
        sharp_max = float(max(max(row) for row in grid))  # Z = ones: entries are lambda_kl
        sq = float(mpmath.fsum(1 / lam for row in grid for lam in row))
        assert abs(M.sharp(Z, c * D).max() - sharp_max) <= RTOL * sharp_max
        assert abs(M.inner_product(Z, Z, c * D) - sq) <= RTOL * sq
        flat_max = float(max(1 / lam for row in grid for lam in row))
        assert abs(M.flat(Z, c * D).max() - flat_max) <= RTOL * flat_max
    # 2.8e214 is representable: the largest entry is 3 * (3e160)^(4/3)
    assert np.isfinite(M.sharp(Z, 1e160 * D)).all()


def test_out_of_range_values_are_inf_or_zero():
    M = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
    x = np.diag([1e300, 1e300])  # lambda = 2e300 * ... : sharp of 1e10 overflows exactly
    assert np.isinf(M.sharp(np.full((2, 2), 1e10), x)).any()
    assert np.all(M.flat(np.full((2, 2), 1e-30), x) == 0.0)  # 1e-30 / 2e300 underflows


def test_issue_reproducers_tolerances_and_rank():
    D = np.diag([1.0, 2.0, 3.0])
    assert geodln.RankMatrices(3, 3).belongs(1e-10 * D)
    rng = np.random.default_rng(0)
    P = rng.standard_normal((40, 2)) @ rng.standard_normal((2, 30))
    assert geodln.RankMatrices(40, 30, rank=2).belongs(1e6 * P)
    S = geodln.RankMatrices(4, 3, rank=2)
    M = geodln.DLNMetric(S, depth=3)
    X = np.random.default_rng(0).standard_normal((4, 3))
    assert not S.belongs(X)
    with pytest.raises(ValueError, match="base_point"):
        M.inner_product(X, X, X)


WRONG_RANK_CALLS = {
    "sharp": lambda M, X, Z: M.sharp(Z, X),
    "flat": lambda M, X, Z: M.flat(Z, X),
    "riemannian_gradient": lambda M, X, Z: M.riemannian_gradient(Z, X),
    "inner_product": lambda M, X, Z: M.inner_product(Z, Z, X),
    "inner_coproduct": lambda M, X, Z: M.inner_coproduct(Z, Z, X),
    "squared_norm": lambda M, X, Z: M.squared_norm(Z, X),
    "norm": lambda M, X, Z: M.norm(Z, X),
    "cometric_matrix": lambda M, X, Z: M.cometric_matrix(X),
    "frame": lambda M, X, Z: M.frame(X),
}


@pytest.mark.parametrize("method", sorted(WRONG_RANK_CALLS))
@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
def test_wrong_rank_base_point_raises_in_every_method(method, scale):
    S = geodln.RankMatrices(4, 3, rank=2)
    M = geodln.DLNMetric(S, depth=3)
    X = scale * np.random.default_rng(1).standard_normal((4, 3))
    Z = np.ones((4, 3))
    with pytest.raises(ValueError, match="base_point"):
        WRONG_RANK_CALLS[method](M, X, Z)
    # a batch with one bad point raises too
    good = scale * S.random_point(seed=2)
    with pytest.raises(ValueError, match="base_point"):
        WRONG_RANK_CALLS[method](M, np.stack([good, X]), Z)
    WRONG_RANK_CALLS[method](M, good, Z)  # and the good point alone is accepted


def test_metric_matrix_wrong_rank_and_singular():
    M = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3)
    with pytest.raises(ValueError, match="base_point"):
        M.metric_matrix(np.diag([1.0, 0.0]))
    got = M.metric_matrix(1e150 * np.eye(2))
    lam = float(mp_lambda(1e150, 1e150, 3, False))
    np.testing.assert_allclose(got, np.eye(4) / lam, rtol=RTOL, atol=0)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, log_c=st.floats(-150.0, 150.0), seed=st.integers(0, 2**31 - 1),
       log_cond=st.floats(0.0, 7.0))
def test_belongs_is_scale_invariant(shape, log_c, seed, log_cond):
    m, n, r = shape
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, min(m, n))))
    v, _ = np.linalg.qr(rng.standard_normal((n, min(m, n))))
    c = 10.0**log_c
    for rank in {1, r, min(m, n)}:
        s = np.zeros(min(m, n))
        s[:rank] = spectrum(rng, rank, log_cond, 1)
        x = (u * s) @ v.T
        for space_rank in {1, r, min(m, n)}:
            space = geodln.RankMatrices(m, n, rank=space_rank)
            assert bool(space.belongs(x)) == (rank == space_rank)
            assert bool(space.belongs(c * x)) == bool(space.belongs(x))
        space = geodln.RankMatrices(m, n, rank=rank)
        vec = space.random_tangent_vec(x, seed=seed)
        assert bool(space.is_tangent(c * vec, c * x))


def test_frobenius_norm_scaled():
    for c in (1e200, 1e-200, 1e-310):
        got = frobenius_norm(c * np.eye(3))
        want = float(mpmath.mpf(c) * mpmath.sqrt(3))
        assert abs(got - want) <= 4e-16 * want
    assert frobenius_norm(np.zeros((2, 2))) == 0.0
    X = np.stack([1e200 * np.eye(2), 1e-200 * np.eye(2)])
    traj = Trajectory(np.arange(2.0), X, np.zeros(2), mode="downstairs")
    np.testing.assert_allclose(traj.frobenius_norm, [np.sqrt(2) * 1e200, np.sqrt(2) * 1e-200],
                               rtol=1e-15)


@pytest.mark.parametrize("c, s", [(1e-100, 1e150), (1e100, 1e-150), (1e-150, 1.0), (1e150, 1.0)])
def test_norm_exact_where_the_squared_norm_under_or_overflows(c, s):
    # g^N is homogeneous: |cZ|_{sX} = |c| s^{-(N-1)/N} |Z|_X (A_{N,sX} = s^{2(N-1)/N} A_{N,X});
    # the reference |Z|_X is a brute-force sqrt(vec(Z)^T A^{-1} vec(Z)) at unit scale
    from brute import brute_A

    depth = 3
    metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=depth)
    x0 = np.array([[1.0, 0.2, 0.0], [0.1, 2.0, 0.3], [0.0, 0.4, 3.0]])
    z = np.arange(9.0).reshape(3, 3) - 4.0
    basis = np.eye(9).reshape(9, 3, 3)
    a = np.stack([brute_A(x0, e, depth).reshape(-1) for e in basis], axis=1)  # A as a 9x9 matrix
    ref = np.sqrt(z.reshape(-1) @ np.linalg.solve(a, z.reshape(-1)))
    expected = c * s ** (-(depth - 1) / depth) * ref
    got = metric.norm(c * z, s * x0)
    assert np.isfinite(got) and got > 0
    assert got == pytest.approx(expected, rel=1e-10)
