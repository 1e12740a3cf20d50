"""ACGH19 guarantee: deficiency margin against brute-force distance to the singular matrices,
the bound against measured gradient descent, and a negative-margin start that fails."""

import numpy as np
import pytest
from scipy.optimize import minimize

from geodln import gradient_descent
from geodln.convergence import (
    acgh_bound,
    acgh_conditions,
    acgh_step_bound,
    deficiency_margin,
)
from geodln.factors import balanced_factors
from geodln.losses import LeastSquares


def _brute_distance_to_singular(phi, seed):
    """min ||Y - Phi||_F over rank-1 Y = r (cos a, sin a)^T (cos b, sin b), many starts."""
    g = np.random.default_rng(seed)

    def f(p):
        r, a, b = p
        y = r * np.outer([np.cos(a), np.sin(a)], [np.cos(b), np.sin(b)])
        return np.linalg.norm(y - phi)

    best = np.inf
    for _ in range(30):
        res = minimize(f, [g.normal() * 2, g.uniform(0, 2 * np.pi), g.uniform(0, 2 * np.pi)],
                       method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-14,
                                                      "maxiter": 4000})
        best = min(best, res.fun)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deficiency_margin_matches_brute_force_2x2(seed):
    g = np.random.default_rng(seed)
    phi = g.standard_normal((2, 2)) + 2 * np.eye(2)
    x = phi + 0.3 * g.standard_normal((2, 2))
    brute = _brute_distance_to_singular(phi, seed) - np.linalg.norm(x - phi)
    assert deficiency_margin(x, phi) == pytest.approx(brute, abs=1e-7)
    # inside the ball every matrix keeps sigma_min >= c (ACGH19 Sec. 3)
    c = deficiency_margin(x, phi)
    if c > 0:
        assert np.linalg.svd(x, compute_uv=False)[-1] >= c - 1e-12


def test_deficiency_margin_batched():
    g = np.random.default_rng(5)
    phi = np.diag([2.0, 1.0])
    xs = phi + 0.1 * g.standard_normal((4, 2, 2))
    out = deficiency_margin(xs, phi)
    assert out.shape == (4,)
    for x, c in zip(xs, out):
        assert c == pytest.approx(deficiency_margin(x, phi), rel=1e-15)


@pytest.mark.parametrize(("depth", "seed"), [(2, 0), (3, 1), (4, 2)])
def test_gd_loss_never_exceeds_acgh_bound(depth, seed):
    """A batch of 4 starts per target (one vectorised GD run): the loss of every member stays
    below its own bound at the theorem's step (the batch's smallest), and also at 1e4 times
    it (outside the theorem; the bound happens to hold here too)."""
    g = np.random.default_rng(seed)
    phi = np.diag([1.5, 1.0, 0.8]) + 0.1 * g.standard_normal((3, 3))
    starts = [balanced_factors(phi + 0.2 * g.standard_normal((3, 3)), depth, seed=seed)
              for _ in range(4)]
    conds = [acgh_conditions(f, phi) for f in starts]
    assert all(c.margin > 0 and c.satisfied for c in conds)
    factors = [np.stack(ws) for ws in zip(*starts)]
    loss = LeastSquares(np.eye(3), phi)
    n_steps = 1000
    for eta in (min(c.step_max for c in conds), 1e4 * min(c.step_max for c in conds)):
        traj = gradient_descent(loss, factors, eta, n_steps, mode="upstairs")
        losses = np.asarray(traj.loss).reshape(4, -1)
        steps = np.broadcast_to(np.asarray(traj.steps, float), losses.shape)
        for b, c in enumerate(conds):
            # the bound from its own formula, written out here: l(0) exp(-eta c^(2(N-1)/N) T)
            bound = losses[b, 0] * np.exp(-eta * c.margin ** (2 * (depth - 1) / depth)
                                          * steps[b])
            np.testing.assert_allclose(acgh_bound(steps[b], losses[b, 0], eta, c.margin,
                                                  depth), bound, rtol=1e-14)
            assert np.all(losses[b] <= bound * (1 + 1e-12))
            assert losses[b, -1] < losses[b, 0]


def test_negative_margin_start_does_not_converge():
    """det X0 < 0 for a target with det > 0: the balanced flow keeps the sign of det, so the
    loss cannot go below the best rank-deficient loss sigma_min(Phi)^2 / 2 (ACGH19 abstract:
    violating the margin condition may lead to convergence failure); a start with det > 0
    at the same distance scale converges (both in one batched run per depth)."""
    phi = np.diag([1.0, 1.0])
    x_bad, x_good = np.diag([0.5, -0.01]), np.diag([0.5, 0.8])
    assert deficiency_margin(x_bad, phi) < 0 < deficiency_margin(x_good, phi)
    loss = LeastSquares(np.eye(2), phi)
    for depth in (2, 3):
        pair = [balanced_factors(x, depth, seed=0) for x in (x_bad, x_good)]
        traj = gradient_descent(loss, [np.stack(ws) for ws in zip(*pair)], 0.05, 1500,
                                mode="upstairs")
        losses = np.asarray(traj.loss).reshape(2, -1)
        xs = np.asarray(traj.X).reshape(2, -1, 2, 2)
        assert np.all(losses[0] >= 0.5 * 1.0**2 - 1e-9)
        assert np.all(np.linalg.det(xs[0]) < 0)
        assert losses[1, -1] < 1e-10


def test_step_bound_formula():
    # c^((4N-2)/N) / (6144 N^3 ||Phi||^((6N-4)/N)) at N = 2, c = 0.5, ||Phi|| = 2
    assert acgh_step_bound(np.diag([2.0, 0.0]), 0.5, 2) == pytest.approx(
        0.5**3 / (6144 * 8 * 2.0**4), rel=1e-15)


@pytest.mark.parametrize(("kwargs", "match"), [({"margin": 0.0}, "margin"),
                                               ({"margin": True}, "margin"),
                                               ({"depth": 1.5}, "depth")])
def test_bad_input(kwargs, match):
    args = {"target": np.eye(2), "margin": 0.5, "depth": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        acgh_step_bound(**args)
