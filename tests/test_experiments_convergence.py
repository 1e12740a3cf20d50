"""The convergence experiments at tiny size: files written, and the papers' claims as
qualitative checks (the full-size numbers are in the README, via the CLI).

The runs that take more than ~5 s are marked slow: the default suite executes the same four
experiments at tiny size, with the same claims asserted, through the notebook
``convergence_and_acceleration`` (tests/test_notebooks.py)."""

import importlib.util

import pytest

from geodln.experiments.reproduce import EXPERIMENTS, run_experiment

needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="scikit-learn (examples extra) not installed")


def test_registered():
    for name in ("saxe", "acgh", "ach-lp", "coupling"):
        assert name in EXPERIMENTS


def _run(name, tmp_path):
    return run_experiment(name, str(tmp_path / name), size="tiny", n_jobs=1, progress=False)


@pytest.mark.slow
def test_saxe_tiny(tmp_path):
    summary = _run("saxe", tmp_path)
    assert all(err < 1e-8 for err in summary["claims"]["aligned_max_rel_err"].values())
    assert "saxe_modes.png" in summary["files"]


@pytest.mark.slow
def test_acgh_tiny(tmp_path):
    claims = _run("acgh", tmp_path)["claims"]
    assert claims["bound_holds_at_step_max"]
    assert all(v >= 1 for k, v in claims["looseness_measured_rate_over_guaranteed"].items())
    neg = claims["negative_margin_final_loss"]
    assert neg["det<0 N=2"] >= 0.5 - 1e-9 and neg["det<0 N=3"] >= 0.5 - 1e-9
    assert neg["det>0 N=2"] < 1e-12


@needs_sklearn
def test_ach_lp_tiny(tmp_path):
    summary = _run("ach-lp", tmp_path)
    assert set(summary["claims"]["final_loss"]) == {
        "depth 1 GD", "depth 1 momentum", "depth 1 AdaGrad", "depth 1 AdaDelta", "depth 2 GD",
        "depth 3 GD"}
    assert "ach_lp.png" in summary["files"]


@pytest.mark.slow
def test_coupling_tiny(tmp_path):
    claims = _run("coupling", tmp_path)["claims"]["rank1_fraction"]
    assert claims["N=2 gaussian"][0] < claims["N=3 gaussian"][0]
    assert claims["N=3 diagonal"][0] == 0.0


@pytest.mark.slow
def test_coupling_reduced_rank1_iff_coupled(tmp_path):
    """SY26 at the reduced size (40 runs a configuration): the 95% intervals separate the
    coupled configuration (N = 3, Gaussian factors) from the decoupled ones."""
    summary = run_experiment("coupling", str(tmp_path / "c"), size="reduced", n_jobs=1,
                             progress=False)
    fr = summary["claims"]["rank1_fraction"]
    assert fr["N=3 gaussian"][1] > fr["N=2 gaussian"][2]
    assert fr["N=3 gaussian"][1] > fr["N=3 diagonal"][2]
