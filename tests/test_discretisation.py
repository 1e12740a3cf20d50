"""Discretisation: GD vs the flow as the step grows (first-order slope, outcomes).

The reference is always an independent tight-tolerance ODE solve (DOP853, rtol 1e-12) of the
flow; the slope of log(deviation) vs log(step) must be ~1 (explicit Euler is first order).
"""

import json

import numpy as np
import pytest

from geodln.discretisation import (
    ReferenceFlow,
    corner_fraction,
    final_point_deviation,
    hyperbola_loss,
    loglog_slope,
    outcome_deviation,
    run,
)
from geodln.losses import razin_cohen_completion

ETAS = np.array([0.004, 0.008, 0.016])
X0 = np.array([[0.3, -0.6], [0.8, 0.1]])


@pytest.mark.parametrize("mode", ["downstairs", "upstairs"])
def test_final_point_first_order(mode):
    res = final_point_deviation(hyperbola_loss(), X0, 3, ETAS, 2.0, mode=mode)
    assert np.allclose(res["times"], 2.0)
    assert 0.9 < loglog_slope(ETAS, res["deviation"]) < 1.1
    # halving the step halves the error (global error C * eta, C fixed)
    ratios = res["deviation"][1:] / res["deviation"][:-1]
    assert np.all(np.abs(ratios - 2.0) < 0.2)
    assert res["relative"][0] < 1e-2


def test_razin_cohen_outcome_first_order():
    x_rc = np.array([[0.1, 0.02], [-0.03, 0.1]])
    res = outcome_deviation(razin_cohen_completion(), x_rc, 3, ETAS, 3e-2,
                            lambda X: np.abs(X[..., 0, 0]),
                            reference=ReferenceFlow(max_time=2000.0))
    # at loss 3e-2 the flow's |x11| is ~3.9, approaching 1/sqrt(2 * loss) = 4.08 from below
    assert 3.5 < res["reference"] < 1 / np.sqrt(2 * 3e-2)
    assert 0.85 < loglog_slope(ETAS, res["deviation"]) < 1.15


def test_corner_fraction_counts():
    pts = np.array([
        [[1, 1.1], [0.9, 1]],      # near (1, 1)
        [[1, -0.95], [-1.1, 1]],   # near (-1, -1)
        [[1, 1.0], [-1.0, 1]],     # opposite signs: not a corner
        [[1, 3.0], [0.33, 1]],     # on the hyperbola, far from the corners
    ])
    assert corner_fraction(pts) == 0.5
    assert corner_fraction(pts, radius=0.01) == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="step_sizes"):
        final_point_deviation(hyperbola_loss(), X0, 3, [-0.1], 1.0)
    with pytest.raises(ValueError, match="mode"):
        final_point_deviation(hyperbola_loss(), X0, 3, [0.1], 1.0, mode="sideways")
    with pytest.raises(ValueError, match="t_final"):
        final_point_deviation(hyperbola_loss(), X0, 3, [0.1], -1.0)
    with pytest.raises(ValueError, match="deviations"):
        loglog_slope([0.1, 0.2], [0.0, 1.0])


def test_run_writes_outputs(tmp_path):
    summary = run(tmp_path, full=False, seed=0)
    assert (tmp_path / "discretisation.png").stat().st_size > 1000
    on_disk = json.loads((tmp_path / "discretisation.json").read_text())
    for key in ("final_point_downstairs", "final_point_upstairs", "razin_cohen_downstairs"):
        assert 0.85 < on_disk[key]["slope"] < 1.15
    assert on_disk["hyperbola"]["flow_corner_fraction"] == summary["hyperbola"][
        "flow_corner_fraction"]
