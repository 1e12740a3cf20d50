"""Gradient flows: upstairs vs downstairs agreement, conservation laws, stopping, validation.

Independent references: the upstairs flow (factor gradients, a different code path) for the
downstairs flow; the brute-force N-term sum ``brute_A`` / quadrature ``brute_A_infinite`` for the
downstairs velocity; explicit balance residuals for the conservation law.
"""

import numpy as np
import pytest
from brute import brute_A, brute_A_infinite, brute_balance_residuals, brute_product

import geodln
from geodln import init
from geodln.flows import (
    At,
    DownstairsField,
    Solver,
    StoppingRules,
    downstairs_flow,
    upstairs_flow,
)
from geodln.losses import random_completion, random_sensing, razin_cohen_completion
from geodln.spectral import CallableKernel, EuclideanKernel

TIGHT = Solver("RK45", rtol=1e-10, atol=1e-12)


def _on_rank(shape, rank, depth, normalized=False):
    """The plain-sum (or CMV) DLN metric on rank-r matrices (all matrices for rank None)."""
    return geodln.DLNMetric(geodln.RankMatrices(*shape, rank, equip=False), depth,
                            normalized=normalized)


def _problem(kind, shape, seed):
    if kind == "completion":
        return random_completion(shape, 2, 0.6, seed=seed)[0]
    return random_sensing(shape, 2, 2 * shape[0] * shape[1], seed=seed)[0]


def _max_rel_dev(a, b):
    assert np.array_equal(a.times, b.times)
    num = np.linalg.norm(a.X - b.X, axis=(1, 2))
    return float(np.max(num / np.linalg.norm(a.X, axis=(1, 2))))


# (shape, depth, hidden widths, start rank)
CASES = [
    ((4, 4), 1, (), None),
    ((5, 3), 2, (3,), None),
    ((3, 6), 2, (6,), None),
    ((4, 5), 3, (6, 2), 2),  # bottleneck width 2, rank-2 start
    ((6, 4), 3, (5, 5), 2),  # wide factors, rank-deficient start
    ((4, 4), 5, (4, 3, 6, 4), 3),  # bottleneck 3 inside
    ((5, 5), 5, (5, 5, 5, 5), 3),
]


@pytest.mark.parametrize("kind", ["completion", "sensing"])
@pytest.mark.parametrize("shape, depth, widths, rank", CASES)
def test_upstairs_and_downstairs_agree(kind, shape, depth, widths, rank):
    loss = _problem(kind, shape, seed=depth)
    fs = init.balanced(shape, depth, 0.5, rank=rank, widths=widths, seed=depth + 10)
    x0 = brute_product(fs)
    t_eval = np.linspace(0.0, 2.0, 9)
    up = upstairs_flow(loss, fs, (0.0, 2.0), solver=TIGHT, record=At(t_eval))
    down = downstairs_flow(loss, x0, _on_rank(shape, rank, depth), (0.0, 2.0), solver=TIGHT,
                           record=At(t_eval))
    assert up.status == down.status == "completed"
    assert up.loss[-1] < 0.9 * up.loss[0]  # the run actually moved
    assert _max_rel_dev(up, down) <= 1e-7
    if rank is not None:  # both conserve the rank
        for tr in (up, down):
            s = tr.singular_values
            assert np.max(s[:, rank] / s[:, 0]) <= 1e-8
            assert np.min(s[:, rank - 1] / s[:, 0]) > 1e-3


def test_depth_one_rank_deficient_flows_legitimately_differ():
    """N = 1: upstairs is the Euclidean flow on all matrices; downstairs on M_r stays on M_r."""
    loss = _problem("completion", (4, 4), 0)
    x0 = init.gaussian_matrix((4, 4), 0.5, rank=2, seed=1)
    t_eval = np.linspace(0, 2, 5)
    up = upstairs_flow(loss, [x0], (0, 2), solver=TIGHT, record=At(t_eval))
    down_r = downstairs_flow(loss, x0, _on_rank((4, 4), 2, 1), (0, 2), solver=TIGHT,
                             record=At(t_eval))
    down_full = downstairs_flow(loss, x0, 1, (0, 2), solver=TIGHT, record=At(t_eval))
    assert up.singular_values[-1, 2] > 1e-2  # upstairs leaves M_2
    assert np.max(down_r.singular_values[:, 2]) < 1e-9  # downstairs on M_2 does not
    assert _max_rel_dev(up, down_full) <= 1e-9  # full-rank downstairs is the same flow


def test_upstairs_conserves_balance_residuals_of_unbalanced_factors():
    loss = _problem("sensing", (3, 4), 1)
    fs = init.gaussian_factors((4, 5, 2, 3), 0.7, seed=2)
    tr = upstairs_flow(loss, fs, (0.0, 3.0), solver=TIGHT)
    assert tr.loss[-1] < 0.5 * tr.loss[0]
    before = brute_balance_residuals(fs)
    after = brute_balance_residuals(tr.factors)
    scale = max(np.linalg.norm(w) ** 2 for w in tr.factors)
    assert max(np.linalg.norm(a - b) for a, b in zip(after, before)) <= 1e-8 * scale
    assert np.min(tr.balance_defect) > 0.1  # genuinely unbalanced the whole time
    np.testing.assert_allclose(brute_product(tr.factors), tr.final_X, atol=1e-14)


@pytest.mark.parametrize("depth, normalized", [(1, False), (2, False), (4, True), (np.inf, True)])
def test_downstairs_velocity_is_minus_brute_force_cometric(depth, normalized):
    loss = _problem("completion", (3, 4), 3)
    g = np.random.default_rng(0)
    u, _ = np.linalg.qr(g.standard_normal((3, 3)))
    v, _ = np.linalg.qr(g.standard_normal((4, 3)))
    s = np.array([2.0, 1.0, 1.0])  # repeated singular value
    x = (u * s) @ v.T
    grad = loss.euclidean_gradient(x)
    if depth == np.inf:
        ref = brute_A_infinite(u, s, v, grad)
    else:
        ref = brute_A(x, grad, depth, normalized=normalized)
    metric = _on_rank((3, 4), None, depth, normalized)
    vel = DownstairsField(loss, metric).velocity(x.reshape(1, -1))
    np.testing.assert_allclose(vel.reshape(3, 4), -ref, atol=1e-10)


def test_user_metric_kernel_gives_a_flow():
    loss = _problem("completion", (3, 3), 4)
    x0 = init.gaussian_matrix((3, 3), 0.5, seed=0)
    t_eval = np.linspace(0, 1, 5)
    euclid = downstairs_flow(loss, x0, EuclideanKernel(), (0, 1), solver=TIGHT,
                             record=At(t_eval))
    up = upstairs_flow(loss, [x0], (0, 1), solver=TIGHT, record=At(t_eval))
    assert _max_rel_dev(up, euclid) <= 1e-9
    # a user kernel a + b (co-metric Z -> XX^T Z + Z X^T X = brute N = 2 sum), via a metric object
    space = geodln.RankMatrices(3, 3)
    metric = geodln.SpectralMetric(space, CallableKernel(lambda a, b: a + b))
    user = downstairs_flow(loss, x0, metric, (0, 1), solver=TIGHT, record=At(t_eval))
    n2 = downstairs_flow(loss, x0, 2, (0, 1), solver=TIGHT, record=At(t_eval))
    assert user.loss[-1] < user.loss[0]
    assert _max_rel_dev(n2, user) > 1e-3  # a different metric, a different flow
    vel = DownstairsField(loss, metric).velocity(x0.reshape(1, -1)).reshape(3, 3)
    grad = loss.euclidean_gradient(x0)
    np.testing.assert_allclose(vel, -(x0 @ x0.T @ grad + grad @ x0.T @ x0), atol=1e-12)


def test_infinite_depth_normalized_flow_runs_and_decreases_loss():
    loss = _problem("sensing", (3, 3), 5)
    x0 = init.gaussian_matrix((3, 3), 0.5, seed=1)
    tr = downstairs_flow(loss, x0, np.inf, (0, 2))
    assert tr.status == "completed" and np.all(np.diff(tr.loss) <= 1e-12)
    assert tr.metadata["depth"] == "inf" and tr.metadata["normalized"]


def test_normalized_time_rescaling():
    """A/N runs N times slower: X_norm(N t) = X_plain(t), as a normalised or a scaled metric."""
    from geomstats.geometry.scalar_product_metric import ScalarProductMetric

    loss = _problem("completion", (3, 3), 6)
    x0 = init.gaussian_matrix((3, 3), 0.5, seed=2)
    plain = downstairs_flow(loss, x0, 3, (0, 1), solver=TIGHT, record=At([0, 0.5, 1]))
    norm = downstairs_flow(loss, x0, _on_rank((3, 3), None, 3, True), (0, 3), solver=TIGHT,
                           record=At([0, 1.5, 3]))
    np.testing.assert_allclose(norm.X, plain.X, atol=1e-9)
    space = geodln.RankMatrices(3, 3)
    space.equip_with_metric(geodln.DLNMetric, depth=3)
    scaled = downstairs_flow(loss, x0, ScalarProductMetric(space, 3.0), (0, 3), solver=TIGHT,
                             record=At([0, 1.5, 3]))
    np.testing.assert_allclose(scaled.X, plain.X, atol=1e-9)


# --------------------------------------------------------------------------------------------
# stopping rules
# --------------------------------------------------------------------------------------------
def test_loss_tol_event_is_located():
    loss = _problem("completion", (4, 4), 7)
    x0 = init.gaussian_matrix((4, 4), 0.5, seed=3)
    tr = downstairs_flow(loss, x0, 2, (0, 100), stop=StoppingRules(loss_tol=1e-3))
    assert tr.status == "loss_tol"
    assert tr.final_loss == pytest.approx(1e-3, rel=1e-6)
    assert tr.final_time < 100 and np.all(tr.loss[:-1] > 1e-3)


def test_user_stop_rule_and_t_eval_with_stop_point():
    loss = _problem("completion", (4, 4), 8)
    x0 = init.gaussian_matrix((4, 4), 0.5, seed=4)
    seen = []

    def stop(t, x, value):
        seen.append(t)
        return t > 0.7

    t_eval = np.linspace(0, 5, 11)
    tr = upstairs_flow(loss, init.from_matrix(x0, 2, seed=0), (0, 5), stop=stop,
                       record=At(t_eval))
    assert tr.status == "stopped"
    assert 0.7 < tr.final_time <= max(seen) + 1e-12
    np.testing.assert_array_equal(tr.times[:-1], t_eval[t_eval < tr.final_time])


def test_wall_time_limit():
    loss = _problem("completion", (4, 4), 9)
    x0 = init.gaussian_matrix((4, 4), 0.5, seed=5)
    tr = downstairs_flow(loss, x0, 3, (0, 1e9), stop=StoppingRules(max_wall_time=0.2),
                         solver=Solver("RK45", rtol=1e-12, atol=1e-14))
    assert tr.status == "wall_time" and tr.final_time < 1e9 and len(tr) > 1


def test_start_already_below_tolerance_returns_single_record():
    loss = razin_cohen_completion()
    x0 = np.array([[0.3, 1.0], [1.0, 0.0]])
    tr = downstairs_flow(loss, x0, 2, (0, 1), stop=StoppingRules(loss_tol=1e-6))
    assert tr.status == "loss_tol" and len(tr) == 1 and tr.n_rhs <= 1


# --------------------------------------------------------------------------------------------
# Razin-Cohen 2x2, depth 3 (reference §8)
# --------------------------------------------------------------------------------------------
def _rc_runs(sign, loss_tol):
    loss = razin_cohen_completion()
    fs = init.balanced((2, 2), 3, 0.1, seed=0, det_sign=sign)
    opts = dict(solver=Solver("BDF", rtol=1e-9, atol=1e-12),
                stop=StoppingRules(loss_tol=loss_tol, max_norm=1e4))
    down = downstairs_flow(loss, brute_product(fs), 3, (0, 1e6), **opts)
    up = upstairs_flow(loss, fs, (0, 1e6), **opts)
    return down, up


def test_razin_cohen_positive_det_diverges():
    for tr in _rc_runs(+1, 1e-4):
        assert tr.status == "loss_tol"
        assert np.all(tr.det_sign == 1)
        x11 = np.abs(tr.X[:, 0, 0])
        prod = x11 * np.sqrt(2 * tr.loss)
        late = tr.loss < 1e-2
        assert np.all(np.diff(x11[late]) > 0)  # |x11| keeps growing as the loss falls
        assert x11[-1] > 60  # ~ 1/sqrt(2e-4) = 70.7
        assert 0.999 < prod[-1] <= 1.0 + 1e-6
        assert prod[-1] > prod[np.argmax(tr.loss < 1e-2)] > prod[np.argmax(tr.loss < 1e-1)]


def test_razin_cohen_negative_det_stays_bounded():
    for tr in _rc_runs(-1, 1e-10):
        assert tr.status == "loss_tol"
        assert np.all(tr.det_sign == -1)
        assert np.max(np.abs(tr.X[:, 0, 0])) < 2.0
        assert tr.frobenius_norm[-1] < 3.0


def test_divergence_guard_keeps_trajectory():
    loss = razin_cohen_completion()
    fs = init.balanced((2, 2), 3, 0.1, seed=0, det_sign=1)
    tr = downstairs_flow(loss, brute_product(fs), 3, (0, 1e9), solver="BDF",
                         stop=StoppingRules(max_norm=20.0))
    assert tr.status == "max_norm" and "max_norm" in tr.message
    assert tr.frobenius_norm[-1] == pytest.approx(20.0, rel=1e-6)
    assert len(tr) > 10 and np.all(np.isfinite(tr.X))


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def test_flow_validation_names_the_argument():
    loss = _problem("completion", (3, 4), 0)
    x0 = np.ones((3, 4))
    with pytest.raises(ValueError, match="X0 must have trailing shape"):
        downstairs_flow(loss, np.ones((4, 3)), 2, (0, 1))
    with pytest.raises(ValueError, match="X0 contains NaN"):
        downstairs_flow(loss, np.full((3, 4), np.nan), 2, (0, 1))
    with pytest.raises(ValueError, match="metric"):
        downstairs_flow(loss, x0, 0, (0, 1))
    with pytest.raises(ValueError, match="metric is required"):
        downstairs_flow(loss, x0, None, (0, 1))
    with pytest.raises(ValueError, match="t_span"):
        downstairs_flow(loss, x0, 2, (1, 0))
    with pytest.raises(ValueError, match="t_span"):
        downstairs_flow(loss, x0, 2)
    with pytest.raises(ValueError, match="rtol"):
        downstairs_flow(loss, x0, 2, (0, 1), solver=Solver(rtol=-1))
    with pytest.raises(ValueError, match="record times"):
        downstairs_flow(loss, x0, 2, (0, 1), record=At([0, 2]))
    with pytest.raises(ValueError, match="rank"):
        downstairs_flow(loss, x0, _on_rank((3, 4), 4, 2), (0, 1))
    with pytest.raises(ValueError, match="X0 has rank > 1"):
        downstairs_flow(loss, np.eye(3, 4), _on_rank((3, 4), 1, 2), (0, 1))
    with pytest.raises(ValueError, match="metric"):
        downstairs_flow(loss, x0, "euclid", (0, 1))
    with pytest.raises(ValueError, match="max_norm"):
        downstairs_flow(loss, x0, 2, (0, 1), stop=StoppingRules(max_norm=-1))
    with pytest.raises(ValueError, match="stop"):
        downstairs_flow(loss, x0, 2, (0, 1), stop=3)
    with pytest.raises(ValueError, match="factors0"):
        upstairs_flow(loss, [np.ones((3, 3)), np.ones((4, 3))], (0, 1))
    with pytest.raises(ValueError, match="factors0"):
        upstairs_flow(loss, [np.ones((2, 4)), np.ones((3, 2))][::-1], (0, 1))
    with pytest.raises(ValueError, match=r"factors0\[0\] contains NaN"):
        upstairs_flow(loss, [np.full((2, 4), np.nan), np.ones((3, 2))], (0, 1))
    with pytest.raises(ValueError, match="loss is defined on"):
        upstairs_flow(loss, [np.ones((2, 3)), np.ones((3, 2))], (0, 1))
    with pytest.raises(ValueError, match="metric is defined on"):
        downstairs_flow(loss, x0, geodln.DLNMetric(geodln.RankMatrices(4, 3), 2), (0, 1))


def test_plain_callable_loss_is_wrapped():
    x0 = init.gaussian_matrix((2, 3), 0.5, seed=0)
    tr = downstairs_flow(lambda x: 0.5 * (x**2).sum(), x0, 2, (0, 1))
    assert tr.final_loss < tr.loss[0]


def test_finite_time_blow_up_ends_cleanly():
    import autograd.numpy as anp

    def energy(x):
        return -anp.sum(x**4)

    x0 = 0.5 * np.eye(2)
    for tr in (downstairs_flow(energy, x0, 2, (0, 10), solver="RK45"),
               upstairs_flow(energy, [np.sqrt(0.5) * np.eye(2)] * 2, (0, 10), solver="RK45")):
        assert tr.status == "diverged" and "blew up in finite time" in tr.message
        assert tr.final_time < 10 and tr.frobenius_norm[-1] > 1e3 * tr.frobenius_norm[0]
        assert np.all(np.isfinite(tr.X))
    guarded = downstairs_flow(energy, x0, 2, (0, 10), stop=StoppingRules(max_norm=100.0))
    assert guarded.status == "max_norm"
    assert guarded.frobenius_norm[-1] == pytest.approx(100.0, rel=1e-6)
