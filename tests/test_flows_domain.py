"""The downstairs flow of depth N >= 2 never steps across the singular set.

The exact flow Xdot = -A_{N,X}(grad E) cannot reach det X = 0 (a singular value obeys
sigma' ~ sigma^(2-2/N)), so det X keeps its sign and a kept singular value stays positive.
References here are independent of the engine: the scalar ODE of a decoupled singular value
integrated in log sigma by scipy at tight tolerances, and the upstairs (factor) flow.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import geodln
from geodln.flows import At, Solver
from geodln.flows.compare import compare_flows
from geodln.flows.fields import DownstairsField

LOSS = geodln.MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, -1.0], shape=(2, 2))
TIGHT = dict(rtol=1e-8, atol=1e-10)


def log_sigma_reference(sigma0, b, depth, times):
    """sigma(t) of sigma' = -N sigma^(2-2/N) (sigma - b), sigma > 0, integrated in log sigma."""
    def rhs(t, u):
        s = np.exp(u)
        return -depth * np.exp((1.0 - 2.0 / depth) * u) * (s - b)

    sol = solve_ivp(rhs, (0.0, times[-1]), [np.log(sigma0)], t_eval=times, method="DOP853",
                    rtol=1e-12, atol=1e-12)
    assert sol.status == 0
    return np.exp(sol.y[0])


def check_against_reference(tr, sigma0, b, depth, entry, floor=1e-6, rtol=1e-5):
    """Entry ``entry`` of X(t) is positive and follows the log-sigma reference above ``floor``."""
    x = tr.X[:, entry[0], entry[1]]
    assert np.all(x >= 0), x.min()
    ref = log_sigma_reference(sigma0, b, depth, tr.times)
    big = ref > floor
    np.testing.assert_allclose(x[big], ref[big], rtol=rtol)
    assert np.all(x[~big] < 10 * floor)


@pytest.mark.parametrize("method", ["RK45", "DOP853", "RK23", "auto"])
def test_reproduction_keeps_det_sign(method):
    grid = At(np.r_[0.0, np.geomspace(1e-2, 1e3, 60)])
    tr = geodln.downstairs_flow(LOSS, 1e-3 * np.eye(2), 2, (0, 1e3),
                                solver=Solver(method, **TIGHT), record=grid)
    assert tr.status == "completed"
    assert np.linalg.det(tr.final_X) > 0
    assert tr.final_X[1, 1] >= 0 and tr.final_X[1, 1] < 1e-8
    assert abs(tr.final_X[0, 0] - 1) < 1e-6
    assert abs(tr.loss[-1] - 0.5) < 1e-8
    assert np.all(np.linalg.det(tr.X) >= 0)
    check_against_reference(tr, 1e-3, -1.0, 2, (1, 1))
    check_against_reference(tr, 1e-3, 1.0, 2, (0, 0))
    if method == "auto":  # LSODA crosses; the run falls back to RK45 from the start
        assert "singular set" in tr.metadata["auto_fallback"]


def test_reproduction_agrees_with_upstairs_flow():
    grid = At(np.linspace(0.0, 12.0, 25))
    w = np.sqrt(1e-3) * np.eye(2)
    up = geodln.upstairs_flow(LOSS, [w, w], (0, 12.0), solver=Solver("DOP853", rtol=1e-12,
                                                                      atol=1e-30), record=grid)
    down = geodln.downstairs_flow(LOSS, 1e-3 * np.eye(2), 2, (0, 12.0),
                                  solver=Solver("RK45", **TIGHT), record=grid)
    assert np.all(up.X[:, 1, 1] > 0)
    big = up.X[:, 1, 1] > 1e-7
    np.testing.assert_allclose(down.X[big], up.X[big], rtol=1e-5, atol=1e-12)
    assert np.all(down.X[:, 1, 1] >= 0)


@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_batch_members_with_opposite_det_signs(method):
    # det > 0 and det < 0 members; each entry driven towards the opposite sign decays to 0
    # keeping its sign (two entries decaying at the same rate would cross in the same step,
    # which no sign-of-det test can see: the members have one decaying entry each)
    starts = 1e-3 * np.stack([np.diag([1.0, 1.0]), np.diag([1.0, -1.0]), np.diag([-1.0, -1.0]),
                              np.diag([0.5, 2.0]), np.diag([-2.0, -1.0])])
    grid = At(np.r_[0.0, np.geomspace(1e-2, 200.0, 40)])
    solver = Solver(method, **TIGHT)
    batch = geodln.downstairs_flow(LOSS, starts, 2, (0, 200.0), solver=solver, record=grid)
    targets = np.array([1.0, -1.0])
    for k, x0 in enumerate(starts):
        member = batch[k]
        assert member.status == "completed"
        assert np.all(np.sign(np.linalg.det(member.X)) * np.sign(np.linalg.det(x0)) >= 0)
        for i in range(2):
            s0, b = x0[i, i], targets[i]
            sign = np.sign(s0)  # an entry keeps its sign: |x| follows the reference with sign*b
            flipped = member.X[:, i, i] * sign
            ref = log_sigma_reference(abs(s0), sign * b, 2, member.times)
            assert np.all(flipped >= 0)
            big = ref > 1e-6
            np.testing.assert_allclose(flipped[big], ref[big], rtol=1e-5)
        # members follow their solo run (a batch of one, same engine; the solo 2x2 run takes
        # the closed-form co-metric, hence rounding-level differences)
        solo = geodln.downstairs_flow(LOSS, x0[None], 2, (0, 200.0), solver=solver, record=grid)
        np.testing.assert_allclose(member.X, solo[0].X, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("depth", [2, 3])
def test_three_by_three_full_observation(depth):
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    eig = np.array([1.0, 2.0, -1.0])
    target = q @ np.diag(eig) @ q.T
    idx = np.nonzero(np.ones((3, 3)))
    loss = geodln.MatrixCompletion(indices=idx, values=target[idx], shape=(3, 3))
    t1 = 100.0
    grid = At(np.r_[0.0, np.geomspace(1e-2, t1, 40)])
    for method in ("RK45", "DOP853"):
        tr = geodln.downstairs_flow(loss, 1e-2 * np.eye(3), depth, (0, t1),
                                    solver=Solver(method, **TIGHT), record=grid)
        assert tr.status == "completed"
        # X stays Q diag(sigma) Q^T: each eigenvalue follows the scalar reference; det X keeps
        # its sign while the decaying eigenvalue is resolved (in this rotated basis it is lost
        # in rounding below ~eps * 2)
        resolved = log_sigma_reference(1e-2, -1.0, depth, tr.times) > 1e-12
        assert np.all(np.linalg.det(tr.X[resolved]) > 0)
        lam = np.einsum("ia,tij,ja->ta", q, tr.X, q)
        np.testing.assert_allclose(lam[-1, :2], eig[:2], rtol=1e-6)
        for a in range(3):
            ref = log_sigma_reference(1e-2, eig[a], depth, tr.times)
            assert np.all(lam[:, a] >= -1e-12)
            big = ref > 1e-5
            np.testing.assert_allclose(lam[big, a], ref[big], rtol=1e-4)


def test_rectangular_rank_never_drops():
    # 2x3, rank 2: the second singular value is driven towards -1 and must stay at 0+
    idx = np.nonzero(np.ones((2, 3)))
    target = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    loss = geodln.MatrixCompletion(indices=idx, values=target[idx], shape=(2, 3))
    x0 = 1e-3 * np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    grid = At(np.r_[0.0, np.geomspace(1e-2, 100.0, 40)])
    for method in ("RK45", "DOP853"):
        for start in (x0, x0[None]):
            tr = geodln.downstairs_flow(loss, start, 2, (0, 100.0),
                                        solver=Solver(method, **TIGHT), record=grid)
            tr = tr if start.ndim == 2 else tr[0]
            assert tr.status == "completed"
            check_against_reference(tr, 1e-3, -1.0, 2, (1, 1))
            check_against_reference(tr, 1e-3, 1.0, 2, (0, 0))


@pytest.mark.parametrize("method", ["LSODA", "BDF"])
def test_implicit_methods_report_the_crossing(method):
    tr = geodln.downstairs_flow(LOSS, 1e-3 * np.eye(2), 2, (0, 1e3),
                                solver=Solver(method, **TIGHT))
    if tr.status == "failed":
        assert "singular set" in tr.message
    else:  # an implicit run that does not cross must be right
        assert tr.status == "completed"
    assert np.all(np.linalg.det(tr.X) > 0)


def test_in_domain_at_extreme_scale_and_depth_one():
    field = DownstairsField(LOSS, 2)
    y0 = field.pack(np.stack([np.diag([1e-200, 1e-200])] * 2))
    y1 = field.pack(np.stack([np.diag([1e-200, 1e-201]), np.diag([1e-200, -1e-201])]))
    ref = field.domain_reference(y0)
    assert ref.tolist() == [1.0, 1.0]  # det underflows, its sign does not
    assert field.in_domain(y0, y1, ref).tolist() == [True, False]
    assert DownstairsField(LOSS, 1).domain_reference(y0) is None  # Euclidean: no domain
    assert DownstairsField(LOSS, np.inf).domain_reference(y0) is not None


def test_compare_size_one_depth_two():
    # the CLI problem `geodln compare --size 1 --rank 1 --no-rc --depths 2`
    loss = geodln.MatrixCompletion(indices=([0], [0]), values=[-1.0], shape=(1, 1))
    grid = At(np.linspace(0.0, 100.0, 50))
    res = compare_flows(loss, [[1.4e-3]], depth=2, t_span=(0, 100.0),
                        solver=Solver("RK45", rtol=1e-8, atol=1e-120), record=grid)
    assert res.max_deviation < 1e-6
    loose = geodln.downstairs_flow(loss, [[1.4e-3]], 2, (0, 100.0),
                                   solver=Solver("RK45", **TIGHT), record=grid)
    assert np.all(loose.X > 0)


def test_single_explicit_run_follows_scipy_where_nothing_crosses():
    # single explicit runs of a depth >= 2 downstairs flow go through the batched engine (its
    # domain check); far from the singular set they follow scipy's own solve_ivp run
    field = DownstairsField(LOSS, 3)
    x0 = np.array([[0.5, 0.1], [-0.2, 0.4]])
    times = np.linspace(0.0, 5.0, 11)
    for method in ("RK45", "DOP853"):
        ref = solve_ivp(lambda t, y: field.velocity(y[None])[0], (0.0, 5.0), x0.ravel(),
                        method=method, t_eval=times, **TIGHT)
        tr = geodln.downstairs_flow(LOSS, x0, 3, (0.0, 5.0), solver=Solver(method, **TIGHT),
                                    record=At(times))
        assert tr.metadata["integrator"].startswith("batched")
        np.testing.assert_allclose(tr.X.reshape(len(times), 4), ref.y.T, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method", ["DOP853", "RK45"])
def test_lower_rank_start_on_a_full_rank_field_runs(method):
    # SMG14's aligned start: rank 3 on the 4 x 5 matrices (rank 4); its missing singular value
    # sits at rounding level, so there is no component to keep and no step is refused
    from geodln import At, Solver, downstairs_flow
    from geodln.convergence import aligned_start, mode_strength, mode_strengths, mode_time
    from geodln.losses import LeastSquares

    g = np.random.default_rng(0)
    u = np.linalg.qr(g.standard_normal((4, 3)))[0]
    v = np.linalg.qr(g.standard_normal((5, 3)))[0]
    s, a0 = np.array([3.0, 2.0, 1.0]), np.full(3, 1e-2)
    loss = LeastSquares(np.eye(5), u @ np.diag(s) @ v.T)
    t_end = float(np.max(mode_time(s * (1 - 1e-4), s, a0, 2)))
    times = np.linspace(0.0, t_end, 12)
    tr = downstairs_flow(loss, aligned_start(u, v, a0), 2, (0.0, t_end),
                         solver=Solver(method, rtol=1e-12, atol=1e-15), record=At(times))
    assert tr.status == "completed" and tr.X.shape == (12, 4, 5)
    ref = mode_strength(times[:, None], s, a0, 2)  # SMG14's closed form
    np.testing.assert_allclose(mode_strengths(tr.X, u, v), ref, rtol=1e-7)
