"""Defects found by a newcomer in a fresh-clone trial (session 12), one concept per test.

Expected values are independent of the code under test: closed forms computed here with
scipy, mpmath at 50 digits, or the documented exception.
"""

import numpy as np
import pytest
import scipy.linalg

from geodln import RankMatrices
from geodln.flows import compare_flows, downstairs_flow, gradient_descent
from geodln.losses import MatrixCompletion
from geodln.lowrank import (
    bottleneck_factors,
    lowrank_gradient_descent,
    random_factored_point,
    random_sparse_completion,
    upstairs_gradient_descent,
)
from geodln.metric import SpectralMetric
from geodln.spectral import CallableKernel

START = [[1.0, 0.2], [0.0, 1.0]]
B = np.array([[0.0, 1.0], [1.0, 0.0]])
OBSERVED = np.array([[False, True], [True, True]])


def _completion():
    return MatrixCompletion(mask=OBSERVED, values=B)


def _gradient(x):
    return np.where(OBSERVED, x - B, 0.0)


# -- item 2: a nested-list start is an array-like like any other ---------------------------
def test_gradient_descent_nested_list_start_downstairs_one_step():
    """One downstairs step X - eta A_{2,X}(grad E), A_2(Z) = (XX^T)^(1/2) Z + Z (X^TX)^(1/2)."""
    x = np.array(START)
    g = _gradient(x)
    a = scipy.linalg.sqrtm(x @ x.T).real @ g + g @ scipy.linalg.sqrtm(x.T @ x).real
    expected = x - 0.01 * a
    tr = gradient_descent(_completion(), START, 0.01, 1, metric=2)
    np.testing.assert_allclose(tr.final_X, expected, rtol=1e-12, atol=1e-14)


def test_gradient_descent_nested_list_start_upstairs_one_step():
    """The balanced lift with identity frames is W_1 = S^(1/2) V^T, W_2 = U S^(1/2)."""
    x = np.array(START)
    u, s, vt = np.linalg.svd(x)
    w1, w2 = np.sqrt(s)[:, None] * vt, u * np.sqrt(s)
    g = _gradient(w2 @ w1)
    expected = (w2 - 0.01 * g @ w1.T) @ (w1 - 0.01 * w2.T @ g)
    tr = gradient_descent(_completion(), START, 0.01, 1, metric=2, mode="upstairs")
    np.testing.assert_allclose(tr.final_X, expected, rtol=1e-12, atol=1e-14)


def test_nested_list_start_accepted_by_every_dense_entry_point():
    """downstairs_flow, gradient_descent and compare_flows read a list of rows as X0."""
    loss, x = _completion(), np.array(START)
    flow = downstairs_flow(loss, START, 2, (0.0, 0.1))
    np.testing.assert_array_equal(flow.final_X, downstairs_flow(loss, x, 2, (0.0, 0.1)).final_X)
    gd = gradient_descent(loss, tuple(map(tuple, START)), 0.01, 2, metric=2)
    np.testing.assert_array_equal(gd.final_X, gradient_descent(loss, x, 0.01, 2, metric=2).final_X)
    assert compare_flows(loss, START, 2, (0.0, 0.1)).max_deviation < 1e-6


def test_ragged_list_start_names_start():
    with pytest.raises(ValueError, match="start"):
        gradient_descent(_completion(), [[1.0, 0.2], [0.0]], 0.01, 2, metric=2)


# -- item 3: one rule for n_steps in every gradient-descent entry point --------------------
@pytest.mark.parametrize("n_steps", [0, None, True, 1.5])
def test_every_gradient_descent_refuses_fewer_than_one_step(n_steps):
    loss, _ = random_sparse_completion((6, 5), 2, fraction=0.6, seed=0)
    x0 = random_factored_point(6, 5, 2, seed=1)
    with pytest.raises(ValueError, match="n_steps"):
        lowrank_gradient_descent(loss, x0, 3, 0.01, n_steps)
    with pytest.raises(ValueError, match="n_steps"):
        upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), 0.01, n_steps)
    with pytest.raises(ValueError, match="n_steps"):
        gradient_descent(_completion(), np.eye(2), 0.01, n_steps, metric=2)


def test_every_gradient_descent_takes_a_single_step():
    loss, _ = random_sparse_completion((6, 5), 2, fraction=0.6, seed=0)
    x0 = random_factored_point(6, 5, 2, seed=1)
    for tr in (lowrank_gradient_descent(loss, x0, 3, 0.01, 1),
               upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), 0.01, 1),
               gradient_descent(_completion(), np.eye(2), 0.01, 1, metric=2)):
        assert tr.steps.tolist() == [0, 1]


# -- item 4: a custom kernel returning NaN is named as the culprit -------------------------
def _nan_kernel(degree):
    return CallableKernel(lambda a, b: np.where(a + b > 0, np.nan, 0.0) + a + b,
                          name="broken", degree=degree)


@pytest.mark.parametrize("degree", [None, 1.0])
@pytest.mark.parametrize("call", ["sharp", "flat", "flow"])
def test_callable_kernel_returning_nan_is_reported_as_such(degree, call):
    kernel = _nan_kernel(degree)
    x, z = np.array(START), np.ones((2, 2))
    run = {
        "sharp": lambda: SpectralMetric(RankMatrices(2, 2), kernel).sharp(z, x),
        "flat": lambda: SpectralMetric(RankMatrices(2, 2), kernel).flat(z, x),
        "flow": lambda: downstairs_flow(_completion(), x, kernel, (0.0, 0.1)),
    }[call]
    with pytest.raises(ValueError, match=r"kernel CallableKernel\('broken'\) returned non-finite"):
        run()


def test_callable_kernel_inf_on_scaled_arguments_is_refused():
    """With a degree the kernel sees arguments <= 1: an inf there is the kernel's fault."""
    kernel = CallableKernel(lambda a, b: 1.0 / (a - b) ** 2, name="pole", degree=-2.0)
    with np.errstate(divide="ignore"), pytest.raises(ValueError, match="non-finite"):
        kernel.values(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
