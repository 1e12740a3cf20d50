"""LeastSquares loss: value against an explicit sum over examples, gradient against finite
differences, batching, the whitened identity and validation."""

import numpy as np
import pytest
from brute import numerical_jacobian

from geodln.losses import LeastSquares


def _problem(seed=0, m=3, n=4, p=7):
    g = np.random.default_rng(seed)
    return LeastSquares(g.standard_normal((n, p)), g.standard_normal((m, p))), g


def test_value_is_half_sum_over_examples():
    loss, g = _problem(1)
    x = g.standard_normal(loss.shape)
    expected = 0.0
    for mu in range(loss.n_examples):
        r = x @ loss.inputs[:, mu] - loss.targets[:, mu]
        expected += 0.5 * float(r @ r)
    assert float(loss.value(x)) == pytest.approx(expected, rel=1e-13)


def test_gradient_matches_finite_differences_batched():
    loss, g = _problem(2)
    xs = g.standard_normal((3,) + loss.shape)
    grads = loss.euclidean_gradient(xs)
    assert grads.shape == xs.shape
    for b in range(3):
        fd = numerical_jacobian(lambda y: loss.value(y), xs[b], eps=1e-6).reshape(loss.shape)
        np.testing.assert_allclose(grads[b], fd, rtol=1e-7, atol=1e-7 * np.abs(fd).max())
    values, grads2 = loss.value_and_gradient(xs)
    np.testing.assert_array_equal(grads2, grads)
    np.testing.assert_allclose(values, [loss.value(x) for x in xs], rtol=1e-15)


def test_whitened_inputs_give_distance_to_cross_correlation():
    g = np.random.default_rng(3)
    q, _ = np.linalg.qr(g.standard_normal((9, 4)))  # 4 orthonormal rows of length 9
    inputs, targets = q.T, g.standard_normal((2, 9))
    loss = LeastSquares(inputs, targets)
    np.testing.assert_allclose(loss.input_correlation, np.eye(4), atol=1e-14)
    x = g.standard_normal((2, 4))
    sigma = targets @ inputs.T
    const = 0.5 * np.sum(targets**2) - 0.5 * np.sum(sigma**2)
    assert float(loss.value(x)) == pytest.approx(0.5 * np.sum((x - sigma) ** 2) + const,
                                                 rel=1e-12)
    np.testing.assert_allclose(loss.euclidean_gradient(x), x - sigma, atol=1e-13)


def test_value_exact_at_the_minimiser_scale():
    # exact fit: residual exactly zero, no cancellation between expanded terms
    g = np.random.default_rng(4)
    inputs = g.standard_normal((3, 5)) * 1e150
    w = g.standard_normal((2, 3)) * 1e-150
    loss = LeastSquares(inputs, w @ inputs)
    assert float(loss.value(w)) <= 1e-28 * float(np.sum((w @ inputs) ** 2))


@pytest.mark.parametrize(
    ("inputs", "targets", "match"),
    [
        (np.ones((2, 3)), np.ones((1, 4)), "same number P"),
        (np.ones(3), np.ones((1, 3)), "inputs"),
        (np.ones((2, 3)), np.full((1, 3), np.nan), "targets"),
    ],
)
def test_bad_input(inputs, targets, match):
    with pytest.raises(ValueError, match=match):
        LeastSquares(inputs, targets)


def test_bad_point():
    loss, _ = _problem(5)
    with pytest.raises(ValueError, match="X"):
        loss.value(np.ones((4, 3)))
