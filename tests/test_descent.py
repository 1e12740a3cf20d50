"""Fixed-step gradient descent: one step against explicit formulas, O(eta^2) agreement, logs."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from brute import brute_A, brute_product, numerical_rank

import geodln
from geodln import Every, StoppingRules, gradient_descent, init
from geodln.losses import random_completion, random_sensing, razin_cohen_completion


def _sensing(shape=(3, 4), seed=0):
    return random_sensing(shape, 2, 10, seed=seed)[0]


def test_downstairs_step_is_x_minus_eta_brute_A():
    loss = _sensing()
    x0 = init.gaussian_matrix((3, 4), 0.5, seed=1)
    eta = 1e-2
    tr = gradient_descent(loss, x0, eta, 1, metric=3)
    expected = x0 - eta * brute_A(x0, loss.euclidean_gradient(x0), 3)
    np.testing.assert_allclose(tr.final_X, expected, atol=1e-13)
    assert tr.steps.tolist() == [0, 1] and tr.times.tolist() == [0.0, eta]


def test_upstairs_step_uses_autograd_factor_gradient():
    loss = _sensing()
    fs = init.gaussian_factors((4, 5, 3), 0.5, seed=2)
    a, y = loss.A, loss.y

    def composite(ws):  # E(W2 W1) written from scratch
        x = ws[1] @ ws[0]
        r = anp.einsum("kij,ij->k", a, x) - y
        return 0.5 * anp.sum(r**2)

    grads = autograd.grad(composite)(fs)
    eta = 1e-2
    tr = gradient_descent(loss, fs, eta, 1, mode="upstairs")
    for w_new, w, g in zip(tr.factors, fs, grads):
        np.testing.assert_allclose(w_new, w - eta * g, atol=1e-13)


@pytest.mark.parametrize(
    "depth, widths, rank", [(2, (4,), None), (3, (5, 4), None), (4, (4, 4, 4), 2)]
)
def test_one_step_difference_is_second_order_in_eta(depth, widths, rank):
    loss = _sensing((4, 4), seed=depth)
    fs = init.balanced((4, 4), depth, 0.7, rank=rank, widths=widths, seed=3)
    x0 = brute_product(fs)
    probe = 1e-8
    unit = (gradient_descent(loss, fs, probe, 1, mode="upstairs").final_X - x0) / probe
    # first step moves X by 2% of |X0|, then halve
    etas = 0.02 * np.linalg.norm(x0) / np.linalg.norm(unit) * 0.5 ** np.arange(5)
    diffs = []
    for eta in etas:
        up = gradient_descent(loss, fs, eta, 1, mode="upstairs")
        metric = geodln.DLNMetric(geodln.RankMatrices(4, 4, rank, equip=False), depth)
        down = gradient_descent(loss, fs, eta, 1, mode="downstairs", metric=metric)
        step = np.linalg.norm(up.final_X - up.X[0])
        diffs.append(np.linalg.norm(up.final_X - down.final_X))
        assert diffs[-1] < 0.2 * step  # first order agrees
    slope = np.polyfit(np.log(etas), np.log(diffs), 1)[0]
    assert 1.9 < slope < 2.1


def test_downstairs_rank_r_descent_stays_on_m_r():
    loss = random_completion((5, 5), 2, 0.6, seed=0)[0]
    x0 = init.gaussian_matrix((5, 5), 0.5, rank=2, seed=1)
    on_m2 = geodln.DLNMetric(geodln.RankMatrices(5, 5, 2, equip=False), 1)
    tr = gradient_descent(loss, x0, 0.05, 40, metric=on_m2)
    assert tr.loss[-1] < tr.loss[0]
    assert all(numerical_rank(x, rtol=1e-12) == 2 for x in tr.X)
    full = gradient_descent(loss, x0, 0.05, 40, metric=1)  # Euclidean GD leaves M_2
    assert numerical_rank(full.final_X) > 2


def test_record_every_and_complete_log():
    loss = _sensing()
    x0 = init.gaussian_matrix((3, 4), 0.5, seed=4)
    full = gradient_descent(loss, x0, 1e-2, 10, metric=2)
    assert len(full) == 11 and full.steps.tolist() == list(range(11)) and full.n_rhs == 10
    sparse = gradient_descent(loss, x0, 1e-2, 10, metric=2, record=Every(4))
    assert sparse.steps.tolist() == [0, 4, 8, 10]
    np.testing.assert_allclose(sparse.X, full.X[[0, 4, 8, 10]], atol=1e-15)
    np.testing.assert_allclose(sparse.loss, [loss.value(x) for x in full.X[[0, 4, 8, 10]]])


def test_stop_rule_and_loss_tol_in_descent():
    loss = _sensing()
    x0 = init.gaussian_matrix((3, 4), 0.5, seed=5)
    tr = gradient_descent(loss, x0, 1e-2, 1000, metric=2, stop=lambda t, x, v: t >= 0.05)
    assert tr.status == "stopped" and tr.steps[-1] == 5
    tr = gradient_descent(loss, x0, 1e-2, 10**5, metric=2, stop=StoppingRules(loss_tol=1e-3),
                          record=1000)
    assert tr.status == "loss_tol" and tr.final_loss <= 1e-3 and tr.loss[-2] > 1e-3


def test_razin_cohen_gd_upstairs_positive_det_grows():
    """GD from a balanced det > 0 start, both modes: |x11| grows as the loss falls (RC, §8)."""
    loss = razin_cohen_completion()
    fs = init.balanced((2, 2), 3, 0.1, seed=0, det_sign=1)
    for mode in ("upstairs", "downstairs"):
        tr = gradient_descent(loss, fs, 0.02, 20000, mode=mode,
                              stop=StoppingRules(loss_tol=1e-2), record=50)
        assert tr.status == "loss_tol"
        assert np.all(tr.det_sign == 1)
        x11 = np.abs(tr.X[:, 0, 0])
        assert x11[-1] > 6 and np.all(np.diff(x11[tr.loss < 0.1]) > 0)
        assert abs(tr.final_X[0, 0]) * np.sqrt(2 * tr.final_loss) > 0.95


def test_descent_validation():
    loss = _sensing()
    x0 = np.ones((3, 4))
    with pytest.raises(ValueError, match="step_size"):
        gradient_descent(loss, x0, -0.1, 3, metric=2)
    with pytest.raises(ValueError, match="step_size"):
        gradient_descent(loss, x0, True, 3, metric=2)
    with pytest.raises(ValueError, match="n_steps"):
        gradient_descent(loss, x0, 0.1, 0, metric=2)
    with pytest.raises(ValueError, match="mode"):
        gradient_descent(loss, x0, 0.1, 3, mode="sideways", metric=2)
    with pytest.raises(ValueError, match="start contains NaN"):
        gradient_descent(loss, np.full((3, 4), np.nan), 0.1, 3, metric=2)
    with pytest.raises(ValueError, match="start must have trailing shape"):
        gradient_descent(loss, np.ones((4, 3)), 0.1, 3, metric=2)
    with pytest.raises(ValueError, match="metric must be the depth"):
        gradient_descent(loss, x0, 0.1, 3, mode="upstairs")
    with pytest.raises(ValueError, match="metric is required"):
        gradient_descent(loss, x0, 0.1, 3)
    with pytest.raises(ValueError, match="every"):
        gradient_descent(loss, x0, 0.1, 3, metric=2, record=Every(0))
    with pytest.raises(ValueError, match="loss is not finite at the start"):
        gradient_descent(lambda x: anp.sum(x) * np.nan, x0, 0.1, 3, metric=2)


def test_downstairs_from_factors_uses_product():
    loss = _sensing()
    fs = init.balanced((3, 4), 3, 0.5, seed=6)
    a = gradient_descent(loss, fs, 1e-2, 3)
    b = gradient_descent(loss, brute_product(fs), 1e-2, 3, metric=3)
    np.testing.assert_allclose(a.X, b.X, atol=1e-14)
    assert a.metadata["depth"] == 3


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_divergence_keeps_last_finite_state_without_warnings(mode):
    """A step size far too large: status diverged, last finite state and record, no warnings."""
    import warnings

    loss = razin_cohen_completion()
    start = [np.eye(2)] * 3 if mode == "upstairs" else np.eye(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = gradient_descent(loss, start, 1e6, 50, metric=3, mode=mode)
    assert tr.status == "diverged"
    assert np.all(np.isfinite(tr.X)) and np.all(np.isfinite(tr.loss))
    assert tr.steps[-1] == tr.n_rhs < 50
    # the kept state is the last iterate before the overflow: one more step leaves the floats
    again = gradient_descent(loss, tr.final_X if mode == "downstairs" else tr.factors, 1e6, 1,
                             metric=3, mode=mode)
    assert again.status == "diverged" and again.n_rhs == 0
