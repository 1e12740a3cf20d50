"""compare_flows: agreement, deviation recomputed from the trajectories, result object."""

import json

import numpy as np
import pytest
from brute import brute_product

from geodln import At, Solver, compare_flows, init
from geodln.losses import random_completion, random_sensing


def test_compare_agrees_and_reports_costs():
    loss = random_sensing((4, 3), 2, 8, seed=0)[0]
    fs = init.balanced((4, 3), 3, 0.5, widths=(5, 2), seed=1)  # bottleneck: rank 2
    res = compare_flows(loss, fs, t_span=(0, 2), solver=Solver(rtol=1e-10, atol=1e-12),
                        record=At(np.linspace(0, 2, 11)), name="s")
    assert res.rank == 2 and res.depth == 3
    assert res.downstairs.metadata["rank"] == 2
    assert res.max_deviation <= 1e-7
    # recompute the deviation from the two trajectories
    np.testing.assert_array_equal(res.times, np.linspace(0, 2, 11))
    dev = [np.linalg.norm(a - b) / np.linalg.norm(a)
           for a, b in zip(res.upstairs.X, res.downstairs.X)]
    np.testing.assert_allclose(res.deviation, dev, rtol=1e-12)
    d = res.as_dict()
    json.dumps(d)
    assert d["rhs_up"] == res.upstairs.n_rhs > 0 and d["rhs_down"] == res.downstairs.n_rhs > 0
    assert d["final_loss_up"] == pytest.approx(d["final_loss_down"], rel=1e-6)
    assert d["time_up_s"] > 0 and d["time_down_s"] > 0
    text = res.summary()
    assert "max relative deviation" in text and "RHS" in text


def test_compare_from_matrix_start_and_depth_one():
    loss = random_completion((3, 3), 1, 0.8, seed=2)[0]
    x0 = init.gaussian_matrix((3, 3), 0.5, rank=1, seed=3)
    tight = Solver(rtol=1e-10, atol=1e-12)
    res = compare_flows(loss, x0, 1, (0, 1), solver=tight, record=At(np.linspace(0, 1, 5)))
    assert res.rank == 1 and res.max_deviation <= 1e-9  # N = 1: downstairs on all matrices
    lifted = init.from_matrix(x0, 2, widths=(4,), rank=1, seed=0)
    res2 = compare_flows(loss, lifted, 2, (0, 1), solver=tight, record=At(np.linspace(0, 1, 5)))
    np.testing.assert_allclose(brute_product(res2.upstairs.factors), res2.upstairs.final_X)
    assert res2.max_deviation <= 1e-7


def test_compare_validation():
    loss = random_completion((3, 3), 1, 0.8, seed=2)[0]
    unbalanced = init.gaussian_factors((3, 3, 3), 0.5, seed=0)
    with pytest.raises(ValueError, match="not balanced"):
        compare_flows(loss, unbalanced, t_span=(0, 1))
    with pytest.raises(ValueError, match="depth is required"):
        compare_flows(loss, np.eye(3), t_span=(0, 1))
    with pytest.raises(ValueError, match="depth=3 but start holds 2"):
        compare_flows(loss, init.balanced((3, 3), 2, 0.5, seed=0), 3, (0, 1))
    with pytest.raises(ValueError, match="loss is defined on"):
        compare_flows(loss, np.ones((2, 3)), 2, (0, 1))
    with pytest.raises(ValueError, match="zero"):
        compare_flows(loss, np.zeros((3, 3)), 2, (0, 1))
