"""Losses: values against explicit sums, gradients against finite differences, validation."""

import autograd.numpy as anp
import numpy as np
import pytest
from brute import numerical_jacobian

from geodln.losses import (
    AutogradLoss,
    MatrixCompletion,
    MatrixSensing,
    random_completion,
    random_sensing,
    razin_cohen_completion,
)


def _completion(seed=0, shape=(4, 5)):
    g = np.random.default_rng(seed)
    mask = g.random(shape) < 0.5
    mask[0, 0] = True
    return MatrixCompletion(mask=mask, values=g.standard_normal(shape)), mask, g


def test_completion_value_is_half_sum_of_squares_over_observed():
    g = np.random.default_rng(1)
    vals = g.standard_normal(5)
    rows, cols = [0, 1, 2, 3, 3], [4, 0, 2, 1, 3]
    loss = MatrixCompletion(indices=(rows, cols), values=vals, shape=(4, 5))
    x = g.standard_normal((4, 5))
    expected = 0.0
    for r, c, v in zip(rows, cols, vals):
        expected += 0.5 * (x[r, c] - v) ** 2
    assert loss.value(x) == pytest.approx(expected, rel=1e-14)
    assert loss.n_observed == 5
    assert loss.mask.sum() == 5 and loss.mask[2, 2]


def test_completion_mask_and_indices_agree():
    g = np.random.default_rng(2)
    full = g.standard_normal((3, 4))
    mask = g.random((3, 4)) < 0.6
    mask[1, 1] = True
    rows, cols = np.nonzero(mask)
    a = MatrixCompletion(mask=mask, values=full)
    b = MatrixCompletion(indices=np.stack([rows, cols], axis=1), values=full[mask], shape=(3, 4))
    c = MatrixCompletion(mask=mask, values=full[mask])
    x = g.standard_normal((3, 4))
    assert a.value(x) == pytest.approx(b.value(x)) == pytest.approx(c.value(x))


@pytest.mark.parametrize("make", ["completion", "sensing", "autograd"])
def test_gradient_matches_finite_differences(make):
    g = np.random.default_rng(3)
    if make == "completion":
        loss, _, _ = _completion(3)
    elif make == "sensing":
        loss = MatrixSensing(g.standard_normal((6, 4, 5)), g.standard_normal(6))
    else:
        loss = AutogradLoss(lambda X: anp.sum(anp.sin(X) ** 2) + anp.sum(X[0] * X[1]) ** 2,
                            (4, 5))
    x = g.standard_normal((4, 5))
    fd = numerical_jacobian(lambda y: loss.value(y), x, eps=1e-6).reshape(4, 5)
    np.testing.assert_allclose(loss.euclidean_gradient(x), fd, atol=1e-7, rtol=1e-7)


@pytest.mark.parametrize("make", ["completion", "sensing", "autograd"])
def test_batched_evaluation_equals_loop(make):
    g = np.random.default_rng(4)
    if make == "completion":
        loss, _, _ = _completion(4)
    elif make == "sensing":
        loss = MatrixSensing(g.standard_normal((3, 4, 5)), g.standard_normal(3))
    else:
        loss = AutogradLoss(lambda X: anp.sum(X**4), (4, 5))
    xs = g.standard_normal((2, 3, 4, 5))
    vals = loss.value(xs)
    grads = loss.euclidean_gradient(xs)
    assert vals.shape == (2, 3) and grads.shape == (2, 3, 4, 5)
    for i in range(2):
        for j in range(3):
            assert vals[i, j] == pytest.approx(loss.value(xs[i, j]), rel=1e-13)
            np.testing.assert_allclose(grads[i, j], loss.euclidean_gradient(xs[i, j]), rtol=1e-13)


def test_sensing_value_is_half_sum_of_squared_residuals():
    g = np.random.default_rng(5)
    a, y = g.standard_normal((4, 3, 2)), g.standard_normal(4)
    loss = MatrixSensing(a, y)
    x = g.standard_normal((3, 2))
    expected = 0.5 * sum((np.trace(a[i].T @ x) - y[i]) ** 2 for i in range(4))
    assert loss.value(x) == pytest.approx(expected, rel=1e-13)
    assert loss.shape == (3, 2)


def test_razin_cohen_solutions_have_det_minus_one_and_zero_loss():
    loss = razin_cohen_completion()
    for a in [-3.0, 0.0, 0.7, 100.0]:
        x = np.array([[a, 1.0], [1.0, 0.0]])
        assert loss.value(x) == 0.0
        assert np.linalg.det(x) == pytest.approx(-1.0)
    assert loss.value(np.zeros((2, 2))) == pytest.approx(1.0)  # 0.5 * (1 + 1 + 0)


def test_random_problems_have_requested_rank_and_scale():
    loss, truth = random_completion((6, 5), 2, 0.5, seed=0)
    s = np.linalg.svd(truth, compute_uv=False)
    assert np.sum(s > 1e-10 * s[0]) == 2
    assert np.sum(s**2) == pytest.approx(2.0)
    assert loss.value(truth) == pytest.approx(0.0, abs=1e-28)
    sens, truth2 = random_sensing((4, 3), 1, 7, seed=1)
    assert sens.value(truth2) == pytest.approx(0.0, abs=1e-25)
    a, _ = random_completion((6, 5), 2, 0.5, seed=0)
    np.testing.assert_array_equal(a.mask, loss.mask)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(indices=([0, 4], [0, 1]), values=[1.0, 2.0], shape=(4, 4)), "row index"),
        (dict(indices=([0, 1], [0, -1]), values=[1.0, 2.0], shape=(4, 4)), "column index"),
        (dict(indices=([0, 0], [1, 1]), values=[1.0, 2.0], shape=(4, 4)), "duplicate"),
        (dict(indices=([0, 1], [1, 1]), values=[1.0], shape=(4, 4)), "values"),
        (dict(indices=([0, 1], [1, 1]), values=[1.0, 2.0]), "shape"),
        (dict(indices=([0, 1], [1, 1]), values=[1.0, np.nan], shape=(4, 4)), "values"),
        (dict(values=[1.0]), "indices"),
        (dict(indices=([0], [0]), mask=np.ones((2, 2), bool), values=[1.0]), "indices"),
        (dict(mask=np.ones((2, 2), bool), values=[1.0, 2.0]), "values"),
        (dict(mask=np.ones((2, 2)), values=np.ones((2, 2))), "mask"),
        (dict(mask=np.zeros((2, 2), bool), values=np.ones((2, 2))), "observed"),
    ],
)
def test_completion_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MatrixCompletion(**kwargs)


def test_sensing_and_autograd_validation():
    with pytest.raises(ValueError, match="A must"):
        MatrixSensing(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="y must"):
        MatrixSensing(np.ones((3, 2, 2)), np.ones(4))
    with pytest.raises(ValueError, match="func"):
        AutogradLoss(3.0, (2, 2))
    with pytest.raises(ValueError, match="shape"):
        AutogradLoss(anp.sum, (2,))
    with pytest.raises(ValueError, match="scalar"):
        AutogradLoss(lambda X: X, (2, 2)).value(np.ones((2, 2)))


def test_point_shape_mismatch_names_the_argument():
    loss, _, _ = _completion()
    with pytest.raises(ValueError, match="X must have trailing shape"):
        loss.value(np.ones((5, 4)))
    with pytest.raises(ValueError, match="X contains NaN"):
        loss.euclidean_gradient(np.full((4, 5), np.nan))
