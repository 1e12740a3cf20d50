"""Tests of the paper reproductions at tiny size: outputs exist, numbers agree with the math."""

import csv
import os

import numpy as np
import pytest

from geodln.cli import main
from geodln.experiments import diag3, hyperbola, razin_cohen
from geodln.experiments._common import value_at_loss
from geodln.experiments.reproduce import run_experiment
from geodln.storage import load_json


def _outputs(out, pngs):
    for name in pngs + ["summary.json", "summary.csv"]:
        path = os.path.join(out, name)
        assert os.path.getsize(path) > 0, name
    for name in pngs:
        with open(os.path.join(out, name), "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    summary = load_json(os.path.join(out, "summary.json"), "experiment-summary")
    with open(os.path.join(out, "summary.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(summary["rows"])
    return summary


@pytest.fixture(scope="module")
def rc(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("rc"))
    assert main(["reproduce", "razin-cohen", "--size", "tiny", "--out", out, "--quiet",
                 "--jobs", "1"]) == 0
    return out, _outputs(out, ["rc_fig1.png", "rc_norms.png", "rc_det_contrast.png",
                               "rc_downstairs.png"])


@pytest.fixture(scope="module")
def hyp(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("hyp"))
    hyperbola.run(out, size="tiny", n_jobs=1, progress=False)
    return out, _outputs(out, ["hyperbola_outcomes.png", "hyperbola_volume.png",
                               "hyperbola_position.png"])


def test_razin_cohen_unobserved_entry_follows_rank_one_asymptotics(rc):
    _, summary = rc
    claims = summary["claims"]
    # det X(0) > 0, depth >= 3: X -> [[a, 1], [1, 1/a]] with E = 1/(2a^2), so |x11| sqrt(2E) -> 1
    lo, hi = claims["flow_x11_sqrt_2loss_range_depth_ge_3"]
    assert 0.99 < lo <= hi < 1.01
    assert claims["erank_final_max_depth_ge_3"] < 1.001
    for value in claims["gd_x11_sqrt_2loss_depth_ge_3"]:
        assert 0.9 < value < 1.05
    flows = [r for r in summary["rows"] if r["part"] == "downstairs"]
    for row in flows:
        if row["depth"] >= 3 and row["det_sign_0"] > 0 and row["alpha"] == razin_cohen.FLOW_SCALE:
            assert row["x11_at_loss_1e-4_median"] == pytest.approx(1 / np.sqrt(2e-4), rel=0.01)
            assert row["det_final_signs"] == "+1"  # the sign of det is conserved
    # det X(0) < 0: every solution has det = -1; |x11| settles instead of growing 100-fold
    assert claims["det_negative_flow_x11_growth_from_1e-4_to_1e-8_max"] < 1.1
    for row in flows:
        if row["det_sign_0"] < 0:
            assert row["det_final_signs"] == "-1"


def test_cli_reuses_finished_runs(rc, capsys):
    out, first = rc
    assert main(["reproduce", "razin-cohen", "--size", "tiny", "--out", out, "--quiet",
                 "--jobs", "1"]) == 0
    again = load_json(os.path.join(out, "summary.json"), "experiment-summary")
    assert again["claims"] == first["claims"]
    assert again["wall_time_s"] < first["wall_time_s"] + 5
    assert "claims" in capsys.readouterr().out
    assert main(["reproduce", "razin-cohen", "--size", "tiny", "--out", out, "--seed", "7",
                 "--quiet", "--jobs", "1"]) == 2  # another seed cannot mix into this folder


def test_hyperbola_outcomes_cluster_at_the_corners(hyp):
    _, summary = hyp
    main_rows = {r["depth"]: r for r in summary["rows"] if r["part"] == "main"}
    assert set(main_rows) == {"5", "10", "20", "inf"}
    for depth in ("5", "10"):
        assert main_rows[depth]["corner_fraction"] >= 0.5
        assert main_rows[depth]["erank_median"] < 1.05
        assert main_rows[depth]["converged_fraction"] == 1.0
        assert main_rows[depth]["final_loss_max"] <= 1.01 * hyperbola.LOSS_TOL
    # the outcome does not depend on the integrator
    assert summary["claims"]["rk45_vs_lsoda_max_abs_diff"] < 1e-5


def test_hyperbola_curve_parametrisation():
    u = np.linspace(-2, 2, 9)
    x = hyperbola.curve_points(u, delta=1e-3)
    np.testing.assert_allclose(np.linalg.det(x), 1e-3, atol=1e-12)
    np.testing.assert_allclose(x[:, 0, 0], 1.0)
    np.testing.assert_allclose(x[:, 1, 1], 1.0)
    np.testing.assert_allclose(hyperbola.position(x), u, atol=1e-12)
    mirrored = x * np.array([[1, -1], [-1, 1]])
    np.testing.assert_allclose(hyperbola.position(mirrored), u, atol=1e-12)


def test_diag3_solution_set_is_a_curve_of_rank_two_completions():
    loss = diag3.completion_problem()
    for branch in (1, -1):
        t = np.linspace(-2, 2, 7)
        x = diag3.solution_curve(t, branch)
        np.testing.assert_allclose(loss.value(x), 0.0, atol=1e-24)
        np.testing.assert_allclose(np.linalg.det(x), 0.0, atol=1e-12)
        s = np.linalg.svd(x, compute_uv=False)
        assert np.all(s[:, 1] > 1e-3)  # exactly rank 2
        b, t_back, _ = diag3.curve_coordinates(x)
        assert np.all(b == branch)
        np.testing.assert_allclose(t_back, t, atol=1e-10)
        near = diag3.solution_curve(t, branch, delta=1e-3)
        np.testing.assert_allclose(np.linalg.det(near), 1e-3, atol=1e-12)
    # no completion of rank 1: the observed 2x2 minor is invertible
    minor = np.array([[diag3.OBSERVED[i, j] for j in (0, 1)] for i in (0, 1)])
    assert abs(np.linalg.det(minor)) > 0.5
    # the rank-2 set is the whole det = 0 curve: a brute-force grid sees det change sign
    # exactly across the hyperbola
    p0, q0, k = diag3.hyperbola_parameters()
    p, q = np.meshgrid(np.linspace(-3, 3, 41), np.linspace(-3, 3, 41))
    det = np.linalg.det(diag3.completion(p, q))
    np.testing.assert_allclose(det, -(p - p0) * (q - q0) + k, atol=1e-12)


def test_diag3_run_and_rerun(tmp_path):
    out = str(tmp_path / "d3")
    summary = diag3.run(out, size="tiny", n_jobs=1, progress=False)
    _outputs(out, ["diag3_outcomes.png", "diag3_curve.png"])
    row = summary["rows"][0]
    assert row["part"] == "main" and row["n_runs"] == diag3.SETTINGS["tiny"]["runs"]
    assert row["near_rank2_fraction"] >= 0.75  # outcomes end at rank-2 solutions
    assert row["branch_plus"] + row["branch_minus"] <= row["n_runs"]
    for name in ("density_rank2", "density_det", "entropy"):
        assert summary["claims"][f"verdict_{name}"] in ("supported", "not supported")
    again = diag3.run(out, size="tiny", n_jobs=1, progress=False)
    assert again["claims"] == summary["claims"]


def test_value_at_loss_interpolates_in_log_loss():
    loss = np.array([1.0, 1e-2, 1e-4])
    vals = np.array([0.0, 2.0, 4.0])
    assert value_at_loss(loss, vals, 1e-3) == pytest.approx(3.0)
    assert value_at_loss(loss, vals, 1e-4) == pytest.approx(4.0)
    assert np.isnan(value_at_loss(loss, vals, 1e-6))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "nope"}, "unknown experiment"),
        ({"name": "diag3", "size": "huge"}, "size"),
        ({"name": "diag3", "seed": -1}, "seed"),
        ({"name": "diag3", "full": True, "size": "tiny"}, "contradicts"),
    ],
)
def test_bad_input(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_experiment(out_dir=str(tmp_path / "x"), progress=False, **kwargs)


def test_razin_cohen_conditioned_start_has_positive_factor_determinants():
    rng = np.random.default_rng(0)
    cfg = [(3, 3e-2, 0.3, "normal, factor dets > 0", 1, 1e-1)]
    for _ in range(3):
        run = razin_cohen._gd_run(rng, 0, cfg, 50)
        np.testing.assert_array_equal(run["factor_det_signs0"], [1, 1, 1])
        assert np.linalg.det(run["X"][0]) > 0
    with pytest.raises(ValueError, match="unknown init"):
        razin_cohen._gd_run(rng, 0, [(3, 3e-2, 0.3, "other", 1, 1e-1)], 5)
