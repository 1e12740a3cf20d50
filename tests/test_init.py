"""Initialisations: balance, rank, widths, det sign, seeding — checked by explicit products."""

import numpy as np
import pytest
from brute import brute_balance_residuals, brute_product, numerical_rank

from geodln import init


@pytest.mark.parametrize(
    "shape, depth, rank, widths",
    [((4, 4), 3, None, None), ((5, 3), 4, 2, (2, 6, 3)), ((3, 6), 2, 3, (5,)), ((4, 4), 1, 2, ())],
)
def test_balanced_is_balanced_with_requested_rank(shape, depth, rank, widths):
    fs = init.balanced(shape, depth, 0.3, rank=rank, widths=widths, seed=1)
    assert len(fs) == depth
    x = brute_product(fs)
    assert x.shape == shape
    assert numerical_rank(x) == (rank or min(shape))
    scale = max(np.linalg.norm(w) ** 2 for w in fs)
    for res in brute_balance_residuals(fs):
        assert np.linalg.norm(res) <= 1e-13 * scale
    if widths:
        assert [w.shape[0] for w in fs[:-1]] == list(widths)


def test_balanced_seeding():
    a = init.balanced((3, 3), 3, 0.1, seed=5)
    b = init.balanced((3, 3), 3, 0.1, seed=5)
    c = init.balanced((3, 3), 3, 0.1, seed=6)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a[0], c[0])


@pytest.mark.parametrize("sign", [1, -1])
def test_det_sign_control(sign):
    for seed in range(5):
        fs = init.balanced((3, 3), 3, 0.1, seed=seed, det_sign=sign)
        assert np.sign(np.linalg.det(brute_product(fs))) == sign
        gs = init.gaussian_factors((2, 3, 2), 0.5, seed=seed, det_sign=sign)
        assert np.sign(np.linalg.det(brute_product(gs))) == sign
        assert np.sign(np.linalg.det(init.gaussian_matrix((2, 2), 1.0, seed=seed,
                                                          det_sign=sign))) == sign


def test_gaussian_factors_shapes_and_scale():
    fs = init.gaussian_factors((30, 40, 20), 0.01, seed=0)
    assert [w.shape for w in fs] == [(40, 30), (20, 40)]
    allw = np.concatenate([w.ravel() for w in fs])
    assert np.std(allw) == pytest.approx(0.01, rel=0.05)


def test_scaled_identity_and_user_starts():
    fs = init.scaled_identity((3, 3, 3, 3), 0.5)
    np.testing.assert_allclose(brute_product(fs), 0.125 * np.eye(3))
    rect = init.scaled_identity((2, 4, 3), 2.0)
    np.testing.assert_allclose(brute_product(rect), 4.0 * np.eye(3, 2))
    g = np.random.default_rng(0)
    x = g.standard_normal((3, 4))
    lifted = init.from_matrix(x, 3, widths=(5, 3), seed=1)
    np.testing.assert_allclose(brute_product(lifted), x, atol=1e-13)
    copy = init.from_factors(lifted)
    assert copy[0] is not lifted[0]
    np.testing.assert_array_equal(copy[1], lifted[1])


def test_gaussian_matrix_rank():
    x = init.gaussian_matrix((6, 5), 1.0, rank=2, seed=0)
    assert numerical_rank(x) == 2


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: init.balanced((3, 3), 3, 0.1, widths=(3,)), "widths"),
        (lambda: init.balanced((3, 3), 3, 0.1, rank=3, widths=(3, 2)), "widths"),
        (lambda: init.balanced((3, 3), 0, 0.1), "depth"),
        (lambda: init.balanced((3, 3), 2, -1.0), "scale"),
        (lambda: init.balanced((3, 3), 2, 0.1, rank=4), "rank"),
        (lambda: init.balanced((2, 3), 2, 0.1, det_sign=1), "det_sign"),
        (lambda: init.balanced((3, 3), 2, 0.1, rank=2, det_sign=1), "det_sign"),
        (lambda: init.gaussian_factors((3,), 0.1), "widths"),
        (lambda: init.gaussian_factors((3, 3), 0.1, det_sign=2), "det_sign"),
        (lambda: init.scaled_identity((3, 0, 3)), "widths"),
        (lambda: init.from_matrix(np.full((2, 2), np.nan), 2), "x contains NaN"),
        (lambda: init.from_factors([np.ones((2, 3)), np.ones((2, 3))]), "factors"),
    ],
)
def test_init_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_balanced_default_rank_is_the_bottleneck():
    fs = init.balanced((5, 5), 3, 0.3, widths=(4, 2), seed=0)
    assert numerical_rank(brute_product(fs)) == 2
