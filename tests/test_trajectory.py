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
    with pytest.raises(ValueError, match="expected a 'trajectory'"):
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
