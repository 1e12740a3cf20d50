"""The closed-form 2×2 SVD against LAPACK and exact frames, over the whole float range."""

import numpy as np
import pytest

from geodln.small_svd import FALLBACK_RATIO, svd_2x2


def _check(x, u, s, vt, rtol=4e-15):
    ref = np.linalg.svd(x, compute_uv=False)  # LAPACK, independent
    top = ref[..., :1]
    np.testing.assert_allclose(s / top, ref / top, rtol=0, atol=rtol)
    assert np.all(s[..., 0] >= s[..., 1]) and np.all(s >= 0)
    rec = (u * s[..., None, :]) @ vt
    np.testing.assert_allclose(rec / top[..., None], x / top[..., None], rtol=0, atol=rtol)
    eye = np.broadcast_to(np.eye(2), u.shape)
    np.testing.assert_allclose(u.mT @ u, eye, rtol=0, atol=rtol)
    np.testing.assert_allclose(vt @ vt.mT, eye, rtol=0, atol=rtol)


@pytest.mark.parametrize("log_scale", [-300.0, -150.0, 0.0, 150.0, 300.0])
def test_random_batches_at_any_scale(log_scale):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 2, 2)) * 10.0**log_scale
    x[::5, 0, 1] = 0.0  # triangular
    x[::7, 1] = x[::7, 0]  # rank one
    x[::11] = 2.0 * np.eye(2) * 10.0**log_scale  # tied singular values
    _check(x, *svd_2x2(x))
    for k in range(12):  # one matrix at a time: the Python-float path agrees
        u, s, vt = svd_2x2(x[k])
        _check(x[k], u, s, vt)


def test_entries_spanning_the_float_range():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 2, 2)) * 10.0 ** rng.uniform(-300, 300, (400, 2, 2))
    _check(x, *svd_2x2(x))


def test_diagonal_and_antidiagonal_frames_are_exact():
    cases = [np.diag([3.0, 1e-200]), np.diag([-1e-150, 2e150]), np.array([[0.0, 2.0], [-5.0, 0.0]]),
             np.array([[0.0, -1e-300], [7e-310, 0.0]])]
    for x in cases:
        for u, s, vt in (svd_2x2(x), (a[0] for a in svd_2x2(x[None]))):
            want = np.sort(np.abs(x[x != 0]))[::-1]
            assert s.tolist() == want.tolist()  # exact singular values
            assert set(np.abs(u).ravel()) <= {0.0, 1.0} and set(np.abs(vt).ravel()) <= {0.0, 1.0}
            assert np.array_equal((u * s) @ vt, x)


def test_extreme_ratio_and_bad_members_fall_back_to_lapack():
    x = np.stack([np.diag([1e150, 1e-160]), np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2))])
    u, s, vt = svd_2x2(x)
    assert s[0].tolist() == [1e150, 1e-160]  # below FALLBACK_RATIO: LAPACK, exact
    assert 1e-160 / 1e150 < FALLBACK_RATIO
    _check(x[1], u[1], s[1], vt[1])
    assert s[2].tolist() == [0.0, 0.0]
    x[2] = [[1.0, np.nan], [0.0, 1.0]]  # LAPACK decides for a non-finite member ...
    try:
        u, s, vt = svd_2x2(x)
    except np.linalg.LinAlgError:
        return
    _check(x[1], u[1], s[1], vt[1])  # ... and the other members are untouched


def test_batch_shapes():
    x = np.random.default_rng(2).standard_normal((3, 4, 2, 2))
    u, s, vt = svd_2x2(x)
    assert u.shape == (3, 4, 2, 2) and s.shape == (3, 4, 2) and vt.shape == (3, 4, 2, 2)
    _check(x, u, s, vt)
    u, s, vt = svd_2x2(x[:1, :1])
    assert u.shape == (1, 1, 2, 2) and s.shape == (1, 1, 2)


@pytest.mark.parametrize("depth", [1, 2, 3, 7, np.inf])
def test_lean_cometric_of_one_point_against_lapack_frame(depth):
    from geodln.small_svd import apply_2x2
    from geodln.spectral import DLNKernel

    kernel = DLNKernel(depth, normalized=depth == np.inf)
    rng = np.random.default_rng(3)
    for _ in range(100):
        x = rng.standard_normal((2, 2)) * 10.0 ** rng.uniform(-100, 100)
        z = rng.standard_normal((2, 2))
        got = apply_2x2(kernel, x, z)
        u, s, vt = np.linalg.svd(x)  # LAPACK frame, independent of the closed form
        want = u @ (kernel.eigenvalues(s)[0] * (u.T @ z @ vt.T)) @ vt
        assert got is not None
        np.testing.assert_allclose(got / np.abs(want).max(), want / np.abs(want).max(),
                                   rtol=0, atol=1e-11)
    # a diagonal point: the co-metric is K_ij z_ij entrywise, exactly
    s = np.array([3.0, 0.5])
    z = rng.standard_normal((2, 2))
    np.testing.assert_allclose(apply_2x2(kernel, np.diag(s), z), kernel.eigenvalues(s)[0] * z,
                               rtol=1e-14)


def test_lean_cometric_hands_hard_cases_back():
    from geodln.small_svd import apply_2x2
    from geodln.spectral import DLNKernel

    kernel = DLNKernel(3)
    assert apply_2x2(kernel, np.diag([1e150, 1e-160]), np.ones((2, 2))) is None  # LAPACK SVD
    assert apply_2x2(kernel, np.zeros((2, 2)), np.ones((2, 2))) is None
    assert apply_2x2(kernel, np.diag([1e300, 1e299]), np.ones((2, 2))) is None  # overflow
