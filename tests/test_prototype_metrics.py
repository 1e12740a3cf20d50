"""Prototyping workflow: a kernel -> metric, flow, volume; the hyperbola comparison.

Independent references: the arithmetic-mean co-metric written out as (XX^T Z + Z X^T X)/2 and
integrated with scipy directly; the volume density from the determinant of the brute-force
co-metric matrix; reference §8 for where the g^N volume peaks on the solution curve.
"""

import json

import numpy as np
from scipy.integrate import solve_ivp

import geodln
from geodln.experiments.prototype_metrics import (
    corner_fraction,
    default_kernels,
    hyperbola_completion,
    run,
    run_metric,
    volume_peak_on_hyperbola,
)
from geodln.spectral import ArithmeticMeanKernel, GeometricMeanKernel
from geodln.volume import log_volume_density


def test_arithmetic_mean_flow_matches_direct_ode():
    x0 = np.array([[0.2, -0.1], [0.05, 0.3]])
    loss = hyperbola_completion()

    def rhs(_, y):
        x = y.reshape(2, 2)
        g = loss.euclidean_gradient(x)
        return (-0.5 * (x @ x.T @ g + g @ x.T @ x)).ravel()

    ref = solve_ivp(rhs, (0, 5.0), x0.ravel(), rtol=1e-11, atol=1e-13).y[:, -1].reshape(2, 2)
    metric = geodln.SpectralMetric(geodln.RankMatrices(2, 2), ArithmeticMeanKernel(1.0))
    tight = geodln.Solver("RK45", rtol=1e-11, atol=1e-13)
    traj = geodln.downstairs_flow(loss, x0, metric, (0.0, 5.0), solver=tight)
    assert np.allclose(traj.final_X, ref, atol=1e-8)
    # the same kernel written by a user as a plain function gives the same flow
    user = geodln.CallableKernel(lambda a, b: 0.5 * (a + b), name="user arithmetic")
    traj2 = geodln.downstairs_flow(loss, x0,
                                   geodln.SpectralMetric(geodln.RankMatrices(2, 2), user),
                                   (0.0, 5.0), solver=tight)
    assert np.allclose(traj2.final_X, ref, atol=1e-8)


def test_volume_density_of_new_kernels_is_det_of_cometric():
    x = np.array([[1.0, 0.4], [-0.3, 0.6]])
    u, s, vt = np.linalg.svd(x)
    for kernel in (ArithmeticMeanKernel(1.0), GeometricMeanKernel(1.0)):
        cols = []
        for idx in range(4):
            z = np.zeros(4)
            z[idx] = 1.0
            m = u.T @ z.reshape(2, 2) @ vt.T
            lam = kernel(s[:, None] ** 2, s[None, :] ** 2)
            cols.append((u @ (lam * m) @ vt).ravel())
        det = np.linalg.det(np.array(cols).T)
        assert np.isclose(log_volume_density(x, kernel), -0.5 * np.log(det))


def test_volume_peaks():
    # reference §8: for g^N the density on {x12 x21 = 1 - delta} is largest at the corner
    for depth in (2, 3, 5):
        x12, x21 = volume_peak_on_hyperbola(geodln.DLNKernel(depth))
        assert abs(x12 - 1) < 0.01 and abs(x21 - 1) < 0.01
    # geometric mean: det A = (sigma_1 sigma_2)^4 = delta^4 is constant along the curve
    assert volume_peak_on_hyperbola(GeometricMeanKernel(1.0)) is None


def test_corner_fraction():
    pts = np.array([[[1, 1.1], [0.9, 1]], [[1, -1.0], [-1.2, 1]], [[1, 1.0], [-1.0, 1]],
                    [[1, 3.0], [0.33, 1]]])
    assert corner_fraction(pts) == 0.5


def test_run_metric_gn_converges_to_rank_one_near_corners():
    starts = 0.05 * np.random.default_rng(3).standard_normal((4, 2, 2))
    res = run_metric(default_kernels(3)["g^N (N=3)"], starts)
    assert np.all(res["loss"] <= 1.01e-8)
    # near the rank-one solutions x12 x21 = 1 (sigma_2 decays slowly: ~1e-2 at loss 1e-8)
    assert np.allclose(res["X"][:, 0, 1] * res["X"][:, 1, 0], 1.0, atol=0.05)
    assert np.all(res["erank"] < 1.05)
    assert corner_fraction(res["X"]) >= 0.75


def test_run_writes_outputs(tmp_path):
    summary = run(tmp_path, n_runs=4, seed=1)
    assert (tmp_path / "prototype_metrics.png").stat().st_size > 1000
    on_disk = json.loads((tmp_path / "prototype_metrics.json").read_text())
    assert set(on_disk["metrics"]) == set(default_kernels(3))
    assert on_disk == json.loads(json.dumps(summary))
    for row in on_disk["metrics"].values():
        assert 0.0 <= row["corner_fraction"] <= 1.0 and row["erank_mean"] >= 1.0
