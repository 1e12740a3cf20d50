"""Real-data experiments at tiny size on synthetic files written in the real formats."""

import json

import numpy as np
import pytest

from geodln.experiments.depth_study import StudySettings, train_depth
from geodln.experiments.reproduce import run_experiment
from geodln.flows import Every


def _write_movielens(folder, seed=0, users=40, items=50, rank=2):
    rng = np.random.default_rng(seed)
    truth = 3 + rng.standard_normal((users, rank)) @ rng.standard_normal((rank, items)) / 2
    ratings = np.clip(np.rint(truth), 1, 5).astype(int)
    flat = rng.choice(users * items, 900, replace=False)
    rows, cols = np.divmod(flat, items)
    lines = [f"{i + 1}\t{j + 1}\t{ratings[i, j]}\t{880000000 + k}\n"
             for k, (i, j) in enumerate(zip(rows, cols))]
    (folder / "u1.base").write_text("".join(lines[:720]))
    (folder / "u1.test").write_text("".join(lines[720:]))
    return folder


def test_movielens_tiny(tmp_path):
    data = _write_movielens(tmp_path)
    summary = run_experiment("movielens", str(tmp_path / "out"), size="tiny",
                             data=str(data), progress=False)
    rows = summary["rows"]
    assert [r.get("depth") for r in rows[:-1]] == [1, 2]
    assert rows[-1]["method"] == "soft-impute"
    s = summary["settings"]
    assert s["n_train"] + s["n_validation"] == 720 and s["n_test"] == 180
    for r in rows[:-1]:
        # the step is the documented rule 2c / (L N s^(2 - 2/N)) with L = 1 for completion
        n = r["depth"]
        assert r["step_size"] == pytest.approx(2 * 0.5 / (n * s["scale"] ** (2 - 2 / n)),
                                               rel=1e-6)
        assert np.isfinite(r["test_rmse"]) and r["test_rmse"] < 2.0
    on_disk = json.dumps(json.loads((tmp_path / "out" / "summary.json").read_text()))
    assert '"experiment": "movielens"' in on_disk
    # the saved validation history re-plots the figure without a rerun, and agrees with
    # the table: each depth's best value is the minimum of its recorded history
    import csv

    from geodln.experiments.depth_study import replot_study

    with open(tmp_path / "out" / "movielens_history.csv", newline="") as fh:
        history = list(csv.DictReader(fh))
    for r in rows[:-1]:
        values = [float(h["validation"]) for h in history if int(h["depth"]) == r["depth"]]
        assert min(values) == pytest.approx(r["validation_rmse"], rel=1e-12)
    (tmp_path / "out" / "movielens.png").unlink()
    replot_study(str(tmp_path / "out"), "movielens", "validation RMSE")
    assert (tmp_path / "out" / "movielens.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="out_dir"):
        replot_study(str(tmp_path / "nowhere"), "movielens", "validation RMSE")


def test_movielens_needs_data(tmp_path):
    with pytest.raises(ValueError, match="data"):
        run_experiment("movielens", str(tmp_path / "o"), size="tiny", progress=False)
    with pytest.raises(ValueError, match="data"):
        run_experiment("movielens", str(tmp_path / "o"), size="tiny", progress=False,
                       data=str(tmp_path / "missing"))


def test_inpainting_tiny(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 96)
    img = np.clip(0.5 + 0.4 * np.outer(np.sin(3 * x), np.cos(2 * x[:80]))
                  + 0.02 * rng.standard_normal((96, 80)), 0, 1)
    path = tmp_path / "img.png"
    mpimg.imsave(path, img, cmap="gray", vmin=0, vmax=1)
    summary = run_experiment("inpainting", str(tmp_path / "out"), size="tiny",
                             data=str(path), progress=False)
    rows = summary["rows"]
    assert summary["settings"]["shape"] == [12, 10]
    assert all(0 <= r["test_relative_error"] < 1 for r in rows)


def test_train_depth_returns_validation_best(tmp_path):
    import geodln.lowrank as lr
    from geodln.data import fit_offsets, read_movielens_split

    data = _write_movielens(tmp_path, seed=3)
    split = read_movielens_split(data / "u1.base", data / "u1.test", validation=0.2, seed=0)
    offsets = fit_offsets(split.train)
    settings = StudySettings(depths=(2,), work_rank=3, n_steps=300, eval_every=10,
                             patience=1000, n_lambdas=3)
    row = train_depth(split, offsets, 2, settings, scale=20.0, seed=7)
    # independent re-run: same start (Haar frames from the seed), plain loop of GD steps,
    # validation RMSE from dense predictions every 10 steps
    rng = np.random.default_rng(7)
    m, n = split.train.shape
    u = np.linalg.qr(rng.standard_normal((m, 3)))[0]
    v = np.linalg.qr(rng.standard_normal((n, 3)))[0]
    traj = lr.lowrank_gradient_descent(offsets.residuals(split.train).to_loss(),
                                       lr.FactoredPoint(u, np.full(3, 1e-3), v), metric=2,
                                       step_size=row["step_size"], n_steps=300,
                                       record=Every(10, factors=True))
    val = split.validation
    truth = val.values - offsets.predict(val.rows, val.cols)
    rmse = []
    for k in range(len(traj.times)):
        x = traj.X[k].to_dense()
        rmse.append(np.sqrt(np.mean((x[val.rows, val.cols] - truth) ** 2)))
    k_best = int(np.argmin(rmse))
    assert row["best_step"] == int(round(traj.times[k_best] / row["step_size"]))
    assert row["validation_rmse"] == pytest.approx(rmse[k_best], rel=1e-9)


def test_replot_study_refuses_bad_folders_and_tables(tmp_path):
    from geodln.experiments.depth_study import replot_study

    with pytest.raises(ValueError, match="out_dir"):
        replot_study(None, "movielens", "RMSE")
    (tmp_path / "s.csv").write_text("depth,status,best_step,validation_rmse,lambda,rank\n")
    (tmp_path / "s_history.csv").write_text("depth,step,validation\n")
    with pytest.raises(ValueError, match="baseline row"):
        replot_study(str(tmp_path), "s", "RMSE")
    # a NaN validation value (a diverged run) still plots
    (tmp_path / "s.csv").write_text(
        "depth,status,best_step,validation_rmse,lambda,rank\n"
        "2,diverged,0,nan,,\n"
        ",,,0.5,0.1,3\n")
    (tmp_path / "s_history.csv").write_text("depth,step,validation\n2,0,nan\n2,10,nan\n")
    assert replot_study(str(tmp_path), "s", "RMSE").endswith("s.png")
