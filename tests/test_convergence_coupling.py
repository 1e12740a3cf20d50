"""SY26 coupling: exact zeros for depth 2 and block-diagonal starts, non-zero otherwise, and
block-diagonal starts staying block-diagonal under the flow (to round-off)."""

import numpy as np
import pytest

from geodln import Solver, gradient_descent, upstairs_flow
from geodln.convergence import block_diagonal_completion, block_masks, coupling_strength


def _brute_cross(factors, grad, masks):
    """Independent: per-factor chain rule, velocity of X from each block's residual alone."""
    n = len(factors)

    def velocity(g):
        out = 0.0
        for p in range(n):
            above = np.eye(factors[-1].shape[0])
            for w in factors[p + 1:][::-1]:
                above = above @ w
            below = np.eye(factors[p].shape[1])
            for w in factors[:p][::-1]:
                below = below @ w
            gp = above.T @ g @ below.T  # gradient of factor p
            out = out + above @ gp @ below
        return out

    own = cross = 0.0
    for mask in masks:
        gk = np.where(mask, grad, 0.0)
        own += np.sum(velocity(gk)[mask] ** 2)
        cross += np.sum(velocity(grad - gk)[mask] ** 2)
    return np.sqrt(cross / own)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_coupling_strength_matches_chain_rule(depth):
    g = np.random.default_rng(depth)
    masks = block_masks([1, 2], [2, 1])
    factors = [g.standard_normal((3, 3)) for _ in range(depth)]
    grad = np.where(masks.any(0), g.standard_normal((3, 3)), 0.0)
    value = coupling_strength(factors, grad, masks)
    if depth == 2:
        assert value == 0.0
    else:
        assert value == pytest.approx(_brute_cross(factors, grad, masks), rel=1e-12)
        assert value > 1e-3


def test_coupling_zero_for_block_diagonal_factors_and_batched():
    g = np.random.default_rng(1)
    masks = block_masks([1, 1], [1, 1])
    diag = [np.diag(g.standard_normal(2)) for _ in range(4)]
    grad = np.diag(g.standard_normal(2))
    assert coupling_strength(diag, grad, masks) == 0.0
    batch = [np.stack([d, d + 0.1 * g.standard_normal((2, 2))]) for d in diag]
    out = coupling_strength(batch, grad, masks)
    assert out.shape == (2,) and out[0] == 0.0 and out[1] > 0


@pytest.mark.parametrize("depth", [3, 4])
def test_block_diagonal_start_stays_decoupled(depth):
    """Diagonal factors under the flow and under GD: off-diagonal entries stay exactly 0."""
    loss = block_diagonal_completion(np.array([[1.0, 0.3], [0.7, 2.0]]), [1, 1], [1, 1])
    g = np.random.default_rng(depth)
    factors = [np.diag(0.1 + 0.1 * g.random(2)) for _ in range(depth)]
    traj = upstairs_flow(loss, factors, (0.0, 30.0), solver=Solver(rtol=1e-9, atol=1e-12))
    assert np.all(traj.X[:, 0, 1] == 0.0) and np.all(traj.X[:, 1, 0] == 0.0)
    np.testing.assert_allclose(np.diagonal(traj.final_X), [1.0, 2.0], rtol=1e-5)
    gd = gradient_descent(loss, factors, 0.05, 400, mode="upstairs")
    assert np.all(gd.X[:, 0, 1] == 0.0) and np.all(gd.X[:, 1, 0] == 0.0)
    # a generic start is coupled and fills the off-diagonal
    generic = [f + 0.05 * g.standard_normal((2, 2)) for f in factors]
    traj = upstairs_flow(loss, generic, (0.0, 30.0), solver=Solver(rtol=1e-9, atol=1e-12))
    assert abs(traj.final_X[0, 1]) > 1e-6


def test_bad_masks():
    with pytest.raises(ValueError, match="same number of blocks"):
        block_masks([1, 1], [2])
    with pytest.raises(ValueError, match="masks"):
        coupling_strength([np.eye(2)] * 3, np.eye(2), np.ones((2, 3, 3), bool))
    with pytest.raises(ValueError, match="tile"):
        block_diagonal_completion(np.eye(3), [1, 1], [1, 1])
