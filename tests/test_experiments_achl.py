"""ACHL's protocol (geodln reproduce achl): settings, one GD step, baseline, tiny run."""

import os

import numpy as np
import pytest

from geodln.experiments import achl
from geodln.experiments.reproduce import EXPERIMENTS, run_experiment


def test_registered():
    assert EXPERIMENTS["achl"] == "geodln.experiments.achl"
    assert EXPERIMENTS["achl-at-scale"] == "geodln.experiments.achl_at_scale"


def test_protocol_is_achls():
    p = achl.PROTOCOL
    assert (p["side"], p["true_rank"], p["init_scale"], p["train_thres"]) == (100, 5, 1e-3, 1e-6)
    assert p["depths"] == (2, 3, 4)
    full = achl.SETTINGS["full"]
    assert (full["side"], full["true_rank"]) == (100, 5)
    assert {2000, 5000} <= set(full["n_observed"])  # the |Ω| of ACHL's configs


def test_ground_truth_normalisation_and_observations():
    rng = np.random.default_rng(0)
    w = achl.ground_truth(100, 5, rng)
    assert np.linalg.norm(w) == pytest.approx(100.0, rel=1e-12)  # ||W*||_F = n
    s = np.linalg.svd(w, compute_uv=False)
    assert s[4] / s[0] > 1e-3 and s[5] / s[0] < 1e-12  # rank 5
    rows, cols, values = achl.observe(w, 2000, rng)
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 2000  # without replacement
    np.testing.assert_array_equal(values, w[rows, cols])
    assert 0.8 <= np.sqrt(np.mean(values**2)) <= 1.2  # ACHL's gen_obs assertion


def test_init_scale_is_end_to_end_frobenius():
    # ACHL's gaussian init: ||X(0)||_F ~ init_scale sqrt(n), asserted within 0.8-1.2 by ACHL
    for depth in (2, 3, 4):
        fs = achl.achl_init(100, depth, 1e-3, np.random.default_rng(depth))
        x = np.linalg.multi_dot(fs[::-1])
        assert 0.8 <= np.linalg.norm(x) / (1e-3 * np.sqrt(100)) <= 1.2


def test_one_gd_step_is_plain_gd_on_half_sum_of_squares():
    """One step of the experiment's GD against an independent formula (autograd of ½Σr²)."""
    import autograd.numpy as anp
    from autograd import grad

    from geodln.flows import gradient_descent
    from geodln.losses import MatrixCompletion

    rng = np.random.default_rng(1)
    side, depth = 6, 3
    w = achl.ground_truth(side, 2, rng)
    rows, cols, values = achl.observe(w, 20, rng)
    fs = achl.achl_init(side, depth, 0.5, rng)
    eta = achl.step_size(depth, np.linalg.norm(w, 2))
    assert eta == pytest.approx(achl.PROTOCOL["step_scale"]
                                / (depth * np.linalg.norm(w, 2) ** (2 - 2 / depth)))

    def half_sse(flat):
        ws = anp.reshape(flat, (depth, side, side))
        x = ws[0]
        for p in range(1, depth):
            x = anp.dot(ws[p], x)
        return 0.5 * anp.sum((x[rows, cols] - values) ** 2)

    flat = np.stack(fs).reshape(-1)
    expected = np.reshape(flat - eta * grad(half_sse)(flat), (depth, side, side))
    loss = MatrixCompletion(indices=(rows, cols), values=values, shape=(side, side))
    traj = gradient_descent(loss, fs, eta, 1, mode="upstairs")
    np.testing.assert_allclose(traj.final_X, np.linalg.multi_dot(list(expected[::-1])),
                               rtol=1e-10, atol=1e-14)
    # ACHL's stopping threshold on the mean loss L = 2E/|Ω|
    assert 2 * half_sse(flat) / len(values) == pytest.approx(
        np.mean((np.linalg.multi_dot(fs[::-1])[rows, cols] - values) ** 2))


def test_nuclear_norm_baseline_known_case():
    pytest.importorskip("cvxpy")
    from geodln.baselines import nuclear_norm_completion
    from geodln.data import ratings_from_arrays

    # rank-1 all-ones 3x3 with the corner (2, 2) hidden: the min-nuclear-norm completion is 1
    rows, cols = np.nonzero(np.ones((3, 3)))
    keep = ~((rows == 2) & (cols == 2))
    every = np.arange(3)
    x = nuclear_norm_completion(ratings_from_arrays(rows[keep], cols[keep], np.ones(8),
                                                    row_index=every, col_index=every))
    assert x[2, 2] == pytest.approx(1.0, abs=1e-4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("achl"))
    return out, run_experiment("achl", out, size="tiny", n_jobs=1, progress=False)


def test_tiny_run(tiny):
    out, summary = tiny
    for name in ("achl.png", "achl_runs.csv", "summary.csv", "summary.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    gd_rows = [r for r in summary["rows"] if r["depth"] > 0]
    assert {r["depth"] for r in gd_rows} == {2, 3, 4}
    for r in gd_rows:
        assert r["n_converged"] == r["n_runs"]  # ACHL's threshold reached
        assert r["test_error_median"] < 0.05
    if achl_has_cvxpy():
        assert not summary["skipped"]
        assert any(r["depth"] == 0 for r in summary["rows"])
    else:
        assert "cvxpy" in summary["skipped"][0]


def achl_has_cvxpy():
    from geodln.baselines import cvxpy_available

    return cvxpy_available()


def test_skips_baseline_without_cvxpy(tiny, monkeypatch):
    import geodln.baselines

    out, _ = tiny  # the GD runs are reused from the folder; only the baseline changes
    monkeypatch.setattr(geodln.baselines, "cvxpy_available", lambda: False)
    summary = achl.run(out, size="tiny", n_jobs=1, progress=False)
    assert "cvxpy is not installed" in summary["skipped"][0]
    assert all(r["depth"] > 0 for r in summary["rows"])
