"""Trajectory: derived measures against numpy, save/load round trip, corrupt files, plots."""

import numpy as np
import pytest

from geodln import At, Trajectory, init, upstairs_flow
from geodln.losses import random_completion
from geodln.plotting.trajectory import plot_trajectory
from geodln.storage import save_arrays


def _upstairs_run():
    loss = random_completion((3, 3), 2, 0.7, seed=0)[0]
    fs = init.gaussian_factors((3, 4, 3), 0.5, seed=1)
    return upstairs_flow(loss, fs, (0, 1), record=At(np.linspace(0, 1, 6)))


def test_measures_match_numpy():
    tr = _upstairs_run()
    for k in range(len(tr)):
        x = tr.X[k]
        s = np.linalg.svd(x, compute_uv=False)
        np.testing.assert_allclose(tr.singular_values[k], s, rtol=1e-12)
        assert tr.frobenius_norm[k] == pytest.approx(np.linalg.norm(x))
        assert tr.nuclear_norm[k] == pytest.approx(np.linalg.norm(x, "nuc"))
        p = s / s.sum()
        assert tr.effective_rank[k] == pytest.approx(np.exp(-np.sum(p * np.log(p))))
        assert tr.det_sign[k] == np.sign(np.linalg.det(x))
        assert tr.log_abs_det[k] == pytest.approx(np.log(abs(np.linalg.det(x))))
    assert tr.balance_defect.shape == (6,) and np.all(tr.balance_defect > 0)
    assert "upstairs" in tr.summary() and tr.status in tr.summary()


def test_non_square_has_no_det():
    tr = Trajectory([0.0], np.ones((1, 2, 3)), [0.0], mode="downstairs")
    assert tr.det_sign is None and tr.log_abs_det is None
    assert tr.effective_rank[0] == pytest.approx(1.0)


def test_save_load_round_trip(tmp_path):
    tr = _upstairs_run()
    tr.metadata["note"] = "round trip"
    path = tmp_path / "up.npz"
    tr.save(path)
    back = Trajectory.load(path)
    for name in ("times", "X", "loss", "balance_defect", "singular_values", "effective_rank"):
        np.testing.assert_array_equal(getattr(back, name), getattr(tr, name))
    for a, b in zip(back.factors, tr.factors):
        np.testing.assert_array_equal(a, b)
    assert (back.mode, back.status, back.message) == (tr.mode, tr.status, tr.message)
    assert (back.n_rhs, back.wall_time) == (tr.n_rhs, tr.wall_time)
    assert back.metadata["note"] == "round trip" and back.metadata["widths"] == [3, 4, 3]


def test_truncated_and_foreign_files_raise(tmp_path):
    tr = _upstairs_run()
    path = tmp_path / "t.npz"
    tr.save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        Trajectory.load(cut)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, times=np.zeros(2))
    with pytest.raises(ValueError, match="not a geodln file"):
        Trajectory.load(foreign)
    other = tmp_path / "other.npz"
    save_arrays(other, {"a": np.zeros(2)}, "ensemble")
    with pytest.raises(ValueError, match="expected one of \\['trajectory'"):
        Trajectory.load(other)
    broken = tmp_path / "broken.npz"
    save_arrays(broken, {"times": np.zeros(3), "X": np.zeros((2, 2, 2)), "loss": np.zeros(3)},
                "trajectory", {"mode": "upstairs", "status": "completed"})
    with pytest.raises(ValueError, match="not a valid trajectory"):
        Trajectory.load(broken)
    missing = tmp_path / "missing.npz"
    save_arrays(missing, {"times": np.zeros(3)}, "trajectory", {"mode": "upstairs"})
    with pytest.raises(ValueError, match="not a valid trajectory"):
        Trajectory.load(missing)


def test_constructor_validation():
    with pytest.raises(ValueError, match="X must"):
        Trajectory([0.0, 1.0], np.zeros((3, 2, 2)), [0.0, 0.0], mode="upstairs")
    with pytest.raises(ValueError, match="loss must"):
        Trajectory([0.0], np.zeros((1, 2, 2)), [0.0, 0.0], mode="upstairs")
    with pytest.raises(ValueError, match="mode"):
        Trajectory([0.0], np.zeros((1, 2, 2)), [0.0], mode="sideways")
    with pytest.raises(ValueError, match="status"):
        Trajectory([0.0], np.zeros((1, 2, 2)), [0.0], mode="upstairs", status="meh")


def test_plot_trajectory_writes_png(tmp_path):
    fig = plot_trajectory(_upstairs_run(), log_time=True)
    out = tmp_path / "t.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2 and fig.axes[1].get_lines()


# -- factored state ---------------------------------------------------------------------------
def _stiefel(rng, shape):
    return np.linalg.qr(rng.standard_normal(shape))[0]


def _factored_batch(rng, factors):
    """A batched factored trajectory built from numpy arrays: B = 2 members of 4 and 2 records
    (the second padded with NaN), shape 6x5, rank 2."""
    from geodln.lowrank import FactoredPoint

    b, t, m, n, r = 2, 4, 6, 5, 2
    u, v = _stiefel(rng, (b, t, m, r)), _stiefel(rng, (b, t, n, r))
    s = np.sort(rng.uniform(0.1, 3.0, (b, t, r)), axis=-1)[..., ::-1].copy()
    times = np.array([[0.0, 0.5, 1.0, 1.5], [0.0, 0.25, np.nan, np.nan]])
    loss = np.array([[4.0, 3.0, 2.0, 1.0], [5.0, 4.5, np.nan, np.nan]])
    counts = np.array([4, 2])
    for a in (u, v, s):
        a[1, 2:] = np.nan
    arrays = {"times": times, "loss": loss, "u": u, "s": s, "v": v, "counts": counts,
              "metric": np.where(np.isnan(loss), np.nan, 2.0 * loss),
              "steps": np.array([[0, 2, 4, 6], [0, 1, -1, -1]])}
    final = FactoredPoint(np.stack([u[0, 3], u[1, 1]]), np.stack([s[0, 3], s[1, 1]]),
                          np.stack([v[0, 3], v[1, 1]]))
    records = {"n_records": counts, "final_point": final, "steps": arrays["steps"],
               "metrics": {"twice_loss": arrays["metric"]}}
    if factors:
        x = FactoredPoint(u, s, v, check=False)
    else:
        x, records["singular_values"] = None, s
    tr = Trajectory(times, x, loss, mode="downstairs", status=["loss_tol", "diverged"],
                    message=["a", "b"], n_rhs=[6, 1], wall_time=0.25, records=records,
                    metadata={"n_steps": [6, 1], "rank": 2})
    return tr, arrays


@pytest.mark.parametrize("factors", [True, False])
def test_factored_batch_round_trip_against_the_arrays_it_was_built_from(tmp_path, factors):
    tr, a = _factored_batch(np.random.default_rng(0), factors)
    tr.save(tmp_path / "f.npz")
    back = Trajectory.load(tmp_path / "f.npz")
    assert (back.state, back.batch_size, back.shape, back.rank) == ("factored", 2, (6, 5), 2)
    np.testing.assert_array_equal(back.n_records, a["counts"])
    np.testing.assert_array_equal(back.times, a["times"])
    np.testing.assert_array_equal(back.loss, a["loss"])
    np.testing.assert_array_equal(back.singular_values, a["s"])
    np.testing.assert_array_equal(back.steps, a["steps"])
    np.testing.assert_array_equal(back.metrics["twice_loss"], a["metric"])
    assert back.status.tolist() == ["loss_tol", "diverged"] and back.n_rhs.tolist() == [6, 1]
    assert back.message.tolist() == ["a", "b"] and back.wall_time == 0.25
    last = [(0, 3), (1, 1)]
    for k, (bk, tk) in enumerate(last):
        np.testing.assert_array_equal(back.final_X.u[k], a["u"][bk, tk])
        np.testing.assert_array_equal(back.final_X.s[k], a["s"][bk, tk])
        np.testing.assert_array_equal(back.final_X.v[k], a["v"][bk, tk])
    if factors:
        np.testing.assert_array_equal(back.X.u, a["u"])
        np.testing.assert_array_equal(back.X.v, a["v"])
    else:
        assert back.X is None
    # measures from the recorded sigma against numpy on the dense products
    dense = np.einsum("btir,btr,btjr->btij", a["u"], a["s"], a["v"])
    for k, n_rec in enumerate(a["counts"]):
        x = dense[k, :n_rec]
        np.testing.assert_allclose(back.frobenius_norm[k, :n_rec],
                                   np.linalg.norm(x, axis=(-2, -1)), rtol=1e-13)
        np.testing.assert_allclose(back.nuclear_norm[k, :n_rec],
                                   np.linalg.norm(x, "nuc", axis=(-2, -1)), rtol=1e-13)
        sv = np.linalg.svd(x, compute_uv=False)[:, :2]
        p = sv / sv.sum(-1, keepdims=True)
        np.testing.assert_allclose(back.effective_rank[k, :n_rec],
                                   np.exp(-np.sum(p * np.log(p), -1)), rtol=1e-12)
    assert back.det_sign is None and back.log_abs_det is None
    # member k: its own records, unpadded, and its n_steps
    one = back[1]
    assert one.batch_size is None and one.status == "diverged" and one.metadata["n_steps"] == 1
    np.testing.assert_array_equal(one.times, a["times"][1, :2])
    np.testing.assert_array_equal(one.singular_values, a["s"][1, :2])
    np.testing.assert_array_equal(one.final_X.s, a["s"][1, 1])
    if factors:
        np.testing.assert_allclose(back[0].to_dense().X, dense[0], rtol=1e-13)
        np.testing.assert_allclose(one.to_dense().final_X, dense[1, 1], rtol=1e-13)
    restacked = Trajectory.stack(list(back))
    np.testing.assert_array_equal(restacked.singular_values, a["s"])
    np.testing.assert_array_equal(restacked.final_X.s, back.final_X.s)


def test_factored_constructor_validation():
    from geodln.lowrank import FactoredPoint

    tr, a = _factored_batch(np.random.default_rng(1), True)
    final = tr.final_X
    rec = {"n_records": a["counts"], "final_point": final}
    with pytest.raises(ValueError, match="singular_values must be >= 0"):
        Trajectory(a["times"], None, a["loss"], mode="downstairs", status="diverged",
                   records={**rec, "singular_values": -a["s"]})
    with pytest.raises(ValueError, match="singular_values contains NaN"):
        bad = a["s"].copy()
        bad[0, 1, 0] = np.inf
        Trajectory(a["times"], None, a["loss"], mode="downstairs", status="diverged",
                   records={**rec, "singular_values": bad})
    with pytest.raises(ValueError, match="needs records"):
        Trajectory(a["times"], None, a["loss"], mode="downstairs", records=rec)
    with pytest.raises(ValueError, match="final_point must have batch shape"):
        Trajectory(a["times"], None, a["loss"], mode="downstairs", status="diverged",
                   records={**rec, "singular_values": a["s"], "final_point": final[0]})
    with pytest.raises(ValueError, match="final_point must be real and finite|final_point.s"):
        nan_final = FactoredPoint(final.u, np.full((2, 2), np.nan), final.v, check=False)
        Trajectory(a["times"], None, a["loss"], mode="downstairs", status="diverged",
                   records={**rec, "singular_values": a["s"], "final_point": nan_final})
    with pytest.raises(ValueError, match="records of factored runs"):
        Trajectory([0.0], np.zeros((1, 2, 2)), [0.0], mode="downstairs",
                   records={"final_point": final})
    with pytest.raises(ValueError, match="factors must be"):
        Trajectory(a["times"], None, a["loss"], mode="upstairs", status="diverged",
                   records={**rec, "singular_values": a["s"],
                            "factors": [np.ones((2, 4, 2)), np.ones((2, 6, 4))]})


def test_batched_factored_run_member_k_equals_its_solo_run():
    """lowrank_flow on a batch of 3 starts (each its own step size): member k's records (U, σ,
    V at every step), status, steps and final point equal the run from start k alone."""
    from geodln.flows import Every
    from geodln.lowrank import lowrank_flow, random_factored_point, random_sparse_completion

    loss, _ = random_sparse_completion((9, 7), 2, fraction=0.6, seed=4)
    starts = random_factored_point(9, 7, 2, seed=5, batch=3)
    starts.s = starts.s * np.array([[1.0], [0.1], [3.0]])  # different scales, different steps
    rec = Every(2, factors=True, metrics={"s1": lambda p: float(np.max(p.s))})
    batch = lowrank_flow(loss, starts, 3, (0.0, 0.7), record=rec)
    assert batch.batch_size == 3 and batch.state == "factored"
    n_steps = []
    for k in range(3):
        solo = lowrank_flow(loss, starts[k], 3, (0.0, 0.7), record=rec)
        member = batch[k]
        assert member.status == solo.status and member.n_rhs == solo.n_rhs
        assert member.metadata["n_steps"] == solo.metadata["n_steps"]
        n_steps.append(solo.metadata["n_steps"])
        np.testing.assert_allclose(member.times, solo.times, rtol=1e-12)
        for name in ("u", "s", "v"):
            np.testing.assert_allclose(getattr(member.X, name), getattr(solo.X, name),
                                       rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(member.final_X.to_dense(), solo.final_X.to_dense(),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(member.metrics["s1"], solo.singular_values.max(-1),
                                   rtol=1e-12)
    assert len(set(n_steps)) > 1  # the members really took their own steps
