"""The compiled descent kernel against the numpy path and an independent hand-written GD.

Three implementations of upstairs gradient descent on a completion loss
E = 1/2 sum_Omega (X_ij - b_ij)^2 must agree member for member: the numba kernel
(``kernel="numba"``), the vectorised engine (``kernel="numpy"``) and a plain loop written here
from the chain rule (dE/dW_p = (W_N..W_{p+1})^T R (W_{p-1}..W_1)^T, R the masked residual).
"""

import numpy as np
import pytest

import geodln
from geodln.flows import Every, StoppingRules, UpstairsField, descent_kernel, gradient_descent
from geodln.flows.descent import descend
from geodln.losses import MatrixCompletion, razin_cohen_completion

needs_numba = pytest.mark.skipif(not descent_kernel.available(), reason="numba not installed")


def _hand_gd(factors, rows, cols, values, lr, n_steps):
    """Plain GD on 1/2 sum_Omega r^2, one member, every iterate of the end-to-end matrix."""
    ws = [np.array(w, float) for w in factors]
    xs = []

    def prod(seq, size):
        out = np.eye(size)
        for w in seq:
            out = w @ out
        return out

    for _ in range(n_steps + 1):
        x = prod(ws, ws[0].shape[1])
        xs.append(x)
        r = np.zeros_like(x)
        for i, j, b in zip(rows, cols, values):
            r[i, j] = x[i, j] - b
        grads = []
        for p in range(len(ws)):
            below = prod(ws[:p], ws[0].shape[1])
            above = prod(ws[p + 1:], ws[p].shape[0])
            grads.append(above.T @ r @ below.T)
        ws = [w - lr * g for w, g in zip(ws, grads)]
    return np.array(xs)


def _batch(widths, scales, seed):
    rng = np.random.default_rng(seed)
    members = [[s * rng.standard_normal((widths[p + 1], widths[p]))
                for p in range(len(widths) - 1)] for s in scales]
    return [np.stack([m[p] for m in members]) for p in range(len(widths) - 1)]


def _run(kernel, loss, factors, lr, n_steps, stop, every):
    field = UpstairsField.from_factors(loss, factors)
    return descend(field, field.pack(factors), lr, n_steps, stop, Every(every), kernel=kernel)


@needs_numba
@pytest.mark.parametrize("widths", [(2, 2, 2, 2), (2, 3, 1, 2), (3, 2, 4, 3)])
def test_kernel_equals_numpy_path_and_hand_written_gd(widths):
    """A batch mixing early, late, capped and diverging members: same statuses, steps, iterates."""
    m, n = widths[-1], widths[0]
    rng = np.random.default_rng(sum(widths))
    mask = rng.random((m, n)) < 0.6
    mask[0, 0] = True
    loss = MatrixCompletion(mask=mask, values=rng.standard_normal((m, n)))
    factors = _batch(widths, (0.7, 0.8, 0.9, 0.6, 1.0), seed=len(widths))
    lr = np.array([0.05, 0.01, 0.001, 0.04, 40.0])  # the last one diverges
    stop = StoppingRules(loss_tol=1e-6, check_every=7, patience=2)
    a = _run("numpy", loss, factors, lr, 900, stop, 10)
    b = _run("numba", loss, factors, lr, 900, stop, 10)
    assert a.metadata["kernel"] == "numpy" and b.metadata["kernel"] == "numba"
    np.testing.assert_array_equal(a.status, b.status)
    assert {"diverged", "completed", "loss_tol"} <= set(a.status), a.status
    np.testing.assert_array_equal(a.n_rhs, b.n_rhs)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(b.X, a.X, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(b.final_X, a.final_X, rtol=1e-12, atol=1e-13)
    for k in range(5):
        member = b[k]
        assert np.all(np.isfinite(member.X)) and np.all(np.isfinite(member.final_X))
        if member.status == "diverged":
            continue
        hand = _hand_gd([f[k] for f in factors], loss.rows, loss.cols, loss.values, lr[k],
                        int(member.n_rhs))
        np.testing.assert_allclose(member.X, hand[member.steps], rtol=1e-11, atol=1e-13)


@needs_numba
def test_kernel_rules_in_engine_order():
    """grad_tol, max_norm, max_steps and loss_tol fire as on the numpy path."""
    loss = razin_cohen_completion()
    factors = _batch((2, 2, 2, 2), (0.5, 0.5, 0.5, 0.5), seed=3)
    lr = np.array([0.05, 0.05, 0.05, 0.05])
    for stop in (StoppingRules(grad_tol=0.3), StoppingRules(max_norm=3.0),
                 StoppingRules(max_steps=123), StoppingRules(loss_tol=1e-2)):
        a = _run("numpy", loss, factors, lr, 5000, stop, 50)
        b = _run("numba", loss, factors, lr, 5000, stop, 50)
        np.testing.assert_array_equal(a.status, b.status)
        np.testing.assert_array_equal(a.n_rhs, b.n_rhs)
        np.testing.assert_allclose(b.final_X, a.final_X, rtol=1e-12, atol=1e-14, err_msg=repr(stop))
    assert set(b.status) == {"loss_tol"}


@needs_numba
def test_kernel_diverged_member_keeps_last_finite_state():
    loss = razin_cohen_completion()
    factors = _batch((2, 2, 2), (1.0, 1.0), seed=0)
    tr = gradient_descent(loss, factors, np.array([5.0, 0.01]), 200, mode="upstairs",
                          record=Every(1))
    assert tr.metadata["kernel"] == "numba"
    assert tr.status[0] == "diverged" and tr.status[1] == "completed"
    first = tr[0]
    assert np.all(np.isfinite(first.final_X))
    np.testing.assert_array_equal(first.X[-1], first.final_X)
    assert first.steps[-1] == first.n_rhs and len(np.unique(first.steps)) == len(first.steps)
    ref = descend(UpstairsField.from_factors(loss, factors), UpstairsField.from_factors(
        loss, factors).pack(factors), np.array([5.0, 0.01]), 200, StoppingRules(), Every(1),
        kernel="numpy")
    np.testing.assert_array_equal(ref.n_rhs, tr.n_rhs)
    np.testing.assert_allclose(ref[0].X, first.X, rtol=1e-12)


def test_numpy_fallback_when_numba_is_missing(monkeypatch):
    monkeypatch.setattr(descent_kernel, "numba", None)
    assert not descent_kernel.available()
    loss = razin_cohen_completion()
    tr = gradient_descent(loss, [0.5 * np.eye(2)] * 3, 0.05, 20, mode="upstairs")
    assert tr.metadata["kernel"] == "numpy" and tr.status == "completed"
    field = UpstairsField.from_factors(loss, [0.5 * np.eye(2)] * 3)
    with pytest.raises(ValueError, match="kernel='numba'.*numba"):
        descend(field, field.pack([0.5 * np.eye(2)] * 3), 0.05, 5, StoppingRules(), Every(1),
                kernel="numba")


def test_kernel_refuses_what_it_cannot_run():
    loss = razin_cohen_completion()
    field = geodln.flows.DownstairsField(loss, 3)
    with pytest.raises(ValueError, match="kernel='numba' does not apply"):
        descend(field, field.pack(np.eye(2)), 0.1, 3, StoppingRules(), Every(1), kernel="numba")
    with pytest.raises(ValueError, match="kernel"):
        descend(field, field.pack(np.eye(2)), 0.1, 3, StoppingRules(), Every(1), kernel="gpu")
    up = UpstairsField.from_factors(loss, [np.eye(2)] * 2)
    user = StoppingRules(stop=lambda t, x, e: e < 0.1)
    tr = descend(up, up.pack([np.eye(2)] * 2), 0.1, 50, user, Every(1))  # auto: numpy path
    assert tr.metadata["kernel"] == "numpy" and tr.status[0] == "stopped"


def test_patience_rule_and_its_validation():
    """RC's rule: the loss is checked every k steps and must stay below tol > patience times."""
    loss = razin_cohen_completion()
    fs = [0.5 * np.eye(2)] * 3
    tr = gradient_descent(loss, fs, 0.05, 10_000, mode="upstairs", record=Every(1),
                          stop=StoppingRules(loss_tol=1e-2, check_every=20, patience=3))
    first = int(np.flatnonzero(tr.loss <= 1e-2)[0])  # the loss decreases here
    assert np.all(np.diff(tr.loss) <= 0)
    want = (first + 19) // 20 * 20 + 3 * 20  # first check below tol, then 3 more checks
    assert tr.n_rhs == want and tr.status == "loss_tol"
    for bad in (dict(check_every=0), dict(patience=-1), dict(patience=True),
                dict(check_every=2.5)):
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name):
            StoppingRules(loss_tol=1.0, **bad)
    with pytest.raises(ValueError, match="gradient descent only"):
        geodln.downstairs_flow(loss, 0.5 * np.eye(2), 3, (0.0, 1.0),
                               stop=StoppingRules(loss_tol=1e-2, patience=2))


def test_per_member_step_size():
    loss = razin_cohen_completion()
    fs = _batch((2, 2, 2), (0.5, 0.5), seed=2)
    both = gradient_descent(loss, fs, np.array([0.01, 0.02]), 30, mode="upstairs")
    for k, lr in enumerate((0.01, 0.02)):
        alone = gradient_descent(loss, [f[k] for f in fs], lr, 30, mode="upstairs")
        np.testing.assert_allclose(both[k].X, alone.X, rtol=1e-13)
        np.testing.assert_allclose(both[k].times, lr * np.arange(31), rtol=1e-15)
    for bad in (np.array([0.01, -1.0]), np.array([0.01, np.nan]), np.array([0.01, 0.02, 0.03]),
                np.array([[0.01]]), np.array([True, False])):
        with pytest.raises(ValueError, match="step_size"):
            gradient_descent(loss, fs, bad, 3, mode="upstairs")
    with pytest.raises(ValueError, match="step_size"):
        gradient_descent(loss, [f[0] for f in fs], np.array([0.01]), 3, mode="upstairs")


@needs_numba
@pytest.mark.slow
def test_kernel_equals_numpy_path_over_a_long_run():
    """40 000 steps of RC's depth-3 GD from a balanced start: agreement to 1e-12, not bits."""
    loss = razin_cohen_completion()
    factors = [w[None] for w in geodln.init.balanced((2, 2), 3, 1e-2, seed=3, det_sign=1)]
    runs = {k: _run(k, loss, factors, 6e-3, 40_000, StoppingRules(), 50)
            for k in ("numpy", "numba")}
    a, b = runs["numpy"], runs["numba"]
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(b.X, a.X, rtol=1e-12, atol=1e-14 * np.abs(a.X).max())
