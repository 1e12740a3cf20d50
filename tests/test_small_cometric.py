"""The compiled small-matrix co-metric against independent computations.

References: brute-force sums of matrix powers (eigendecompositions of XX^T and X^TX), the
logarithmic mean at infinite depth from numpy's SVD, solve_ivp on a brute-force right-hand
side; and the numpy path of the same field (the compiled loop switched off).
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from geodln import small_cometric
from geodln.flows import Solver, StoppingRules, downstairs_flow
from geodln.flows.fields import DownstairsField
from geodln.losses import MatrixCompletion
from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices
from geodln.spectral import DLNKernel, InfiniteDepthKernel

needs_jit = pytest.mark.skipif(not small_cometric.AVAILABLE,
                               reason="numba not installed (optional extra 'fast')")


def _sym_power(a, power):
    w, v = np.linalg.eigh(a)
    return (v * np.clip(w, 0.0, None) ** power) @ v.T


def brute_cometric(x, z, depth, normalized):
    """sum_j (XX^T)^{(N-j)/N} Z (X^TX)^{(j-1)/N}, divided by N if normalised."""
    out = sum(_sym_power(x @ x.T, (depth - j) / depth) @ z @ _sym_power(x.T @ x, (j - 1) / depth)
              for j in range(1, depth + 1))
    return out / depth if normalized else out


def log_mean_cometric(x, z):
    """Infinite depth: K_kl = (s_k^2 - s_l^2) / log(s_k^2 / s_l^2), K_kk = s_k^2."""
    u, s, vt = np.linalg.svd(x)
    a = s**2
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (a[:, None] - a[None, :]) / np.log(a[:, None] / a[None, :])
    k[np.diag_indices_from(k)] = a
    return u @ (k * (u.T @ z @ vt.T)) @ vt


def _points(n, count, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, n, n)), rng.standard_normal((count, n, n))


@needs_jit
@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("depth,normalized", [(2, False), (3, False), (5, True), (10, True)])
def test_matches_the_sum_of_matrix_powers(n, depth, normalized):
    x, z = _points(n, 20, seed=n * depth)
    out, ok = small_cometric.dln_cometric_small(DLNKernel(depth, normalized), x, z)
    assert ok.all()
    for k in range(len(x)):
        ref = brute_cometric(x[k], z[k], depth, normalized)
        assert np.allclose(out[k], ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@needs_jit
@pytest.mark.parametrize("n", [2, 3])
def test_infinite_depth_is_the_logarithmic_mean(n):
    x, z = _points(n, 20, seed=7)
    out, ok = small_cometric.dln_cometric_small(InfiniteDepthKernel(), x, z)
    assert ok.all()
    for k in range(len(x)):
        ref = log_mean_cometric(x[k], z[k])
        assert np.allclose(out[k], ref, rtol=0, atol=1e-11 * np.abs(ref).max())


@needs_jit
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("scale", [1e-150, 1e-30, 1e30, 1e150])
def test_exact_at_any_scale(n, scale):
    # homogeneity A_{tX}(Z) = t^{2(N-1)/N} A_X(Z), the right side computed at scale 1
    depth = 4
    x, z = _points(n, 10, seed=3)
    out, ok = small_cometric.dln_cometric_small(DLNKernel(depth, True), scale * x, z)
    factor = scale ** (2 * (depth - 1) / depth)
    for k in range(len(x)):
        ref = brute_cometric(x[k], z[k], depth, True) * factor
        if ok[k]:
            assert np.allclose(out[k], ref, rtol=0, atol=1e-11 * np.abs(ref).max())
    # members it declines are left to the general path; at these scales it declines none
    assert ok.all()


@needs_jit
def test_declines_what_it_cannot_do_exactly():
    x = np.array([np.eye(2), [[np.nan, 0.0], [0.0, 1.0]], np.diag([1.0, 1e-300]),
                  np.diag([1e300, 1e300]), np.zeros((2, 2))])
    z = np.ones_like(x)
    _, ok = small_cometric.dln_cometric_small(DLNKernel(3), x, z)
    assert ok.tolist() == [True, False, False, False, False]
    x3 = np.stack([np.eye(3), np.diag([1.0, 1.0, np.inf])])
    _, ok3 = small_cometric.dln_cometric_small(DLNKernel(3), x3, np.ones_like(x3))
    assert ok3.tolist() == [True, False]


def test_unavailable_cases_return_none():
    from geodln.spectral import EuclideanKernel

    x = np.eye(2)[None]
    assert small_cometric.dln_cometric_small(EuclideanKernel(), x, x) is None
    big = np.eye(small_cometric.MAX_SIZE + 1)[None]
    assert small_cometric.dln_cometric_small(DLNKernel(2), big, big) is None
    with pytest.raises(ValueError, match="kernel must be"):
        small_cometric.dln_kernel_parameters(EuclideanKernel())


def _hyperbola():
    return MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 1.0], shape=(2, 2))


@pytest.mark.parametrize("n,metric", [(2, 5), (2, np.inf), (3, 3)])
def test_field_compiled_and_numpy_paths_agree(monkeypatch, n, metric):
    rng = np.random.default_rng(11)
    loss = MatrixCompletion(indices=(np.arange(n), np.arange(n)), values=np.ones(n),
                            shape=(n, n))
    x = rng.standard_normal((50, n, n))
    x[1] *= 1e200  # overflowing co-metric: the general path's inf/rescaling
    x[2] *= 1e-200
    x[3, 0, 0] = np.nan
    compiled = DownstairsField(loss, metric)
    monkeypatch.setattr(small_cometric, "AVAILABLE", False)
    plain = DownstairsField(loss, metric)
    y = compiled.pack(np.nan_to_num(x))
    y[3, 0] = np.nan
    v_c, v_p = compiled.velocity(y), plain.velocity(y)
    assert np.array_equal(np.isnan(v_c), np.isnan(v_p))
    fin = np.isfinite(v_p).all(axis=-1)
    assert np.allclose(v_c[fin], v_p[fin], rtol=1e-12, atol=0)
    assert np.array_equal(v_c[~fin], v_p[~fin], equal_nan=True)


def _cmv(depth):
    return DLNMetric(RankMatrices(2, 2, equip=False), depth, normalized=True)


def test_batch_equals_solo_runs_on_a_brute_force_rhs():
    # the hyperbola ensemble task at depth 5 (CMV's A/N), 6 members to loss 1e-10: each member
    # of the batch equals scipy's RK45 run alone on a right-hand side built from matrix powers
    depth, loss_tol = 5, 1e-10
    starts = 1e-3 * np.random.default_rng(5).standard_normal((6, 2, 2))
    batch = downstairs_flow(_hyperbola(), starts, _cmv(depth), (0.0, 1e8),
                            solver=Solver("RK45", rtol=1e-8, atol=1e-12),
                            stop=StoppingRules(loss_tol=loss_tol), record=2**53)
    mask = np.eye(2)

    def loss_of(x):
        r = mask * (x - 1.0)
        return 0.5 * np.sum(r * r)

    def rhs(t, y):
        x = y.reshape(2, 2)
        return -brute_cometric(x, mask * (x - 1.0), depth, True).ravel()

    def event(t, y):
        return loss_of(y.reshape(2, 2)) - loss_tol

    event.terminal = True
    for k, x0 in enumerate(starts):
        sol = solve_ivp(rhs, (0.0, 1e8), x0.ravel(), method="RK45", rtol=1e-8, atol=1e-12,
                        events=event)
        assert sol.status == 1 and batch.status[k] == "loss_tol"
        assert np.max(np.abs(batch.final_X[k] - sol.y_events[0][-1].reshape(2, 2))) < 1e-6
