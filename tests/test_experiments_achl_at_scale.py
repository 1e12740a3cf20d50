"""ACHL experiment at tiny size: end to end through the ensemble runner, resume, exact error."""

import csv
import os

import numpy as np
import pytest

from geodln.cli import main
from geodln.ensemble import load_ensemble
from geodln.experiments import achl_at_scale as achl
from geodln.experiments.reproduce import EXPERIMENTS, run_experiment
from geodln.lowrank import FactoredPoint, SparseCompletion, random_factored_point
from geodln.storage import load_json

RUN_DIR = os.path.join("runs", "tiny-completion")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("achl_at_scale"))
    summary = run_experiment("achl-at-scale", out, size="tiny", n_jobs=1, progress=False)
    return out, summary


def _run_files(out):
    folder = os.path.join(out, RUN_DIR)
    return {f: os.stat(os.path.join(folder, f)).st_mtime_ns
            for f in os.listdir(folder) if f.startswith("run-")}


def test_registered():
    assert EXPERIMENTS["achl-at-scale"] == "geodln.experiments.achl_at_scale"


def test_tiny_outputs_and_summary(tiny):
    out, summary = tiny
    cfg = achl.SETTINGS["tiny"]
    for name in ["achl_at_scale.png", "achl_at_scale_runs.csv", "summary.csv", "summary.json"]:
        assert os.path.getsize(os.path.join(out, name)) > 0, name
        assert name in summary["files"]
    with open(os.path.join(out, "achl_at_scale.png"), "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    saved = load_json(os.path.join(out, "summary.json"), "experiment-summary")
    assert saved["size"] == summary["size"] == "tiny"
    assert saved["claims"] == summary["claims"]
    assert summary["wall_time_s"] > 0
    n_runs = len(cfg["oversampling"]) * cfg["n_problems"] * len(achl.DEPTHS)
    assert len(_run_files(out)) == n_runs
    with open(os.path.join(out, "achl_at_scale_runs.csv")) as fh:
        runs = list(csv.DictReader(fh))
    assert len(runs) == n_runs
    with open(os.path.join(out, "summary.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(summary["rows"]) <= len(cfg["oversampling"]) * len(achl.DEPTHS)
    # only converged runs enter the table; the others are listed apart
    n_failed = sum(r["status"] != "loss_tol" for r in runs)
    assert len(summary["claims"]["unconverged_runs"]) == n_failed
    assert sum(r["n_runs"] for r in summary["rows"]) == n_runs - n_failed
    # the converged fraction of a row counts every run of its (|Omega|, depth), from the runs table
    for row in summary["rows"]:
        same = [r for r in runs if int(r["n_observed"]) == row["n_observed"]
                and int(r["depth"]) == row["depth"]]
        assert row["converged_fraction"] == sum(r["status"] == "loss_tol" for r in same) / len(same)
    assert summary["claims"]["converged_fraction"] == (n_runs - n_failed) / n_runs
    for row in summary["rows"]:
        assert ("Euclidean" in row["method"]) == (row["depth"] == 1)
    dof = achl.TRUE_RANK * (2 * cfg["side"] - achl.TRUE_RANK)
    for row in summary["rows"]:
        assert row["n_observed"] in [round(o * dof) for o in cfg["oversampling"]]
        assert 0 < row["error_median"] < 2 and np.isfinite(row["error_median"])
        assert 1 <= row["erank_median"] <= cfg["work_rank"]
        assert row["rel_loss_max"] < 1e-2  # every run fitted the observed entries
    for run in runs:
        assert run["status"] in ("loss_tol", "failed")  # failed = step budget exhausted
        assert int(run["steps"]) <= cfg["max_steps"] + 1


def test_tiny_depth_helps_generalisation(tiny):
    # ACHL: depth >= 2 recovers the unobserved entries from fewer observations than depth 1
    # (every run, converged or not: at tiny size some hit the 500-step budget)
    out, _ = tiny
    with open(os.path.join(out, "achl_at_scale_runs.csv")) as fh:
        runs = list(csv.DictReader(fh))
    err = {}
    for r in runs:
        err.setdefault(r["depth"], {}).setdefault(r["n_observed"], []).append(float(r["error"]))
    err = {d: {k: float(np.median(v)) for k, v in by.items()} for d, by in err.items()}
    counts = sorted(err["1"], key=int)
    for k in counts:
        assert min(err[d][k] for d in ("2", "3", "4")) < 0.5 * err["1"][k]
    largest = counts[-1]
    for d in ("2", "3", "4"):
        assert err[d][largest] < min(0.05, err["1"][largest] / 5)
    assert max(err["1"].values()) > 0.1  # depth 1 does not recover within the tiny sweep
    assert err["3"][counts[0]] < 0.1


def test_same_problem_for_all_depths(tiny):
    # the problem comes from the problem seed (not the member seed):
    # all depths of one problem index train on the same truth and Ω, problems differ
    out, _ = tiny
    ens = load_ensemble(os.path.join(out, RUN_DIR))
    by_problem = {}
    for run in ens.runs:
        key = int(run["problem"])
        by_problem.setdefault(key, []).append((run["truth_sigma"], float(run["observed_sum"])))
    assert len(by_problem) == len(achl.SETTINGS["tiny"]["oversampling"])
    for runs in by_problem.values():
        assert len(runs) == len(achl.DEPTHS)
        for sigma, total in runs[1:]:
            np.testing.assert_array_equal(sigma, runs[0][0])
            assert total == runs[0][1]
    firsts = [runs[0][0] for runs in by_problem.values()]
    assert not np.allclose(firsts[0], firsts[1])


def test_resume_reuses_finished_runs(tiny, monkeypatch, capsys):
    out, first = tiny
    before = _run_files(out)
    calls = []
    original = achl.train

    def counting_train(*args, **kwargs):
        calls.append(kwargs.get("options"))
        return original(*args, **kwargs)

    # n_jobs=1 runs the members in this process, so the patched train is the one called
    monkeypatch.setattr(achl, "train", counting_train)
    assert main(["reproduce", "achl-at-scale", "--size", "tiny", "--out", out, "--quiet",
                 "--jobs", "1"]) == 0
    assert calls == []  # nothing recomputed
    assert _run_files(out) == before  # no run file rewritten
    assert "claims" in capsys.readouterr().out
    again = load_json(os.path.join(out, "summary.json"), "experiment-summary")
    assert again["claims"] == first["claims"]

    # an interruption: one member's file is missing -> only that member runs again, with the
    # same seed, so the result is identical
    lost = sorted(before)[3]
    os.unlink(os.path.join(out, RUN_DIR, lost))
    resumed = run_experiment("achl-at-scale", out, size="tiny", n_jobs=1, progress=False)
    assert len(calls) == 1
    after = _run_files(out)
    assert set(after) == set(before)
    assert all(after[f] == before[f] for f in before if f != lost)
    assert resumed["claims"]["error_median"] == first["claims"]["error_median"]

    partial = achl.summarize(out, size="tiny")
    assert partial["n_finished"] == partial["n_runs"] == len(before)
    assert partial["claims"]["error_median"] == first["claims"]["error_median"]


def test_unobserved_error_matches_dense_masked_norm():
    rng = np.random.default_rng(3)
    m, n = 23, 17
    truth = FactoredPoint.from_product(rng.standard_normal((m, 3)), rng.standard_normal((n, 3)))
    point = random_factored_point(m, n, 6, seed=rng)
    flat = rng.choice(m * n, size=150, replace=False)
    rows, cols = flat // n, flat % n
    dense_truth = truth.to_dense()
    loss = SparseCompletion((rows, cols), dense_truth[rows, cols], (m, n))
    mask = np.zeros((m, n), bool)
    mask[rows, cols] = True
    diff = point.to_dense() - dense_truth
    expected = np.linalg.norm(diff[~mask]) / np.linalg.norm(dense_truth[~mask])
    assert achl.unobserved_error(point, truth, loss) == pytest.approx(expected, rel=1e-12)
    # a point that agrees with the truth off Ω only up to a perturbation on Ω has error 0
    bumped = dense_truth.copy()
    bumped[rows[0], cols[0]] += 1.0
    near = FactoredPoint.from_dense(bumped)
    assert achl.unobserved_error(near, truth, loss) < 1e-6


def test_make_problem_truth_and_observations():
    loss, truth = achl.make_problem(30, 4, 200, np.random.default_rng(0))
    dense = truth.to_dense()
    s = np.linalg.svd(dense, compute_uv=False)
    assert s[0] == pytest.approx(1.0, rel=1e-12)
    assert s[3] > 1e-3 and s[4] < 1e-12  # rank exactly 4
    assert loss.n_observed == 200
    assert len(set(zip(loss.rows.tolist(), loss.cols.tolist()))) == 200
    np.testing.assert_allclose(loss.values, dense[loss.rows, loss.cols], atol=1e-14)
