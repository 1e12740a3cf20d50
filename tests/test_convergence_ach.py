"""ACH18: end-to-end update vs the exact factor GD step (slopes over eta), and the curl test."""

import numpy as np
import pytest
from brute import numerical_jacobian

from geodln.convergence import (
    curl_asymmetry,
    end_to_end_update,
    end_to_end_velocity,
    velocity_jacobian,
)
from geodln.factors import balanced_factors
from geodln.losses import LeastSquares


def _factor_gd_step(factors, grad, eta):
    """Independent: plain GD on the factors, explicit chain rule, then the product."""
    n = len(factors)
    new = []
    for p in range(n):
        left = np.eye(factors[-1].shape[0])
        for w in factors[p + 1:][::-1]:
            left = left @ w
        right = np.eye(factors[p].shape[1])
        for w in factors[:p][::-1]:
            right = right @ w
        new.append(factors[p] - eta * left.T @ grad @ right.T)
    out = new[-1]
    for w in new[-2::-1]:
        out = out @ w
    return out


@pytest.mark.parametrize(("m", "n", "depth", "rank"), [(3, 3, 2, 3), (3, 4, 3, 3),
                                                       (4, 3, 4, 2), (2, 2, 5, 2)])
def test_end_to_end_update_matches_factor_step_to_order(m, n, depth, rank):
    g = np.random.default_rng(depth)
    x = g.standard_normal((m, rank)) @ g.standard_normal((rank, n))
    grad = g.standard_normal((m, n))
    factors = balanced_factors(x, depth, seed=3)
    etas = np.array([4e-3, 2e-3, 1e-3])
    for order in (1, 2):
        errs = [np.linalg.norm(_factor_gd_step(factors, grad, eta)
                               - end_to_end_update(x, grad, eta, depth, order)) for eta in etas]
        if depth == 2 and order == 2:  # the product is quadratic in eta: exact
            assert max(errs) < 1e-12 * np.linalg.norm(x)
            continue
        slopes = np.diff(np.log(errs)) / np.diff(np.log(etas))
        np.testing.assert_allclose(slopes, order + 1, atol=0.02)


def test_end_to_end_update_batched():
    g = np.random.default_rng(7)
    xs, gs = g.standard_normal((3, 2, 3)), g.standard_normal((3, 2, 3))
    out = end_to_end_update(xs, gs, 0.01, 3, order=2)
    for x, gr, o in zip(xs, gs, out):
        np.testing.assert_allclose(o, end_to_end_update(x, gr, 0.01, 3, order=2), rtol=1e-13)


def _problem():
    g = np.random.default_rng(11)
    loss = LeastSquares(g.standard_normal((3, 7)), g.standard_normal((2, 7)))
    return loss, g.standard_normal((2, 3))


def test_jacobian_matches_independent_differences():
    loss, x = _problem()
    for depth in (1, 3):
        ref = numerical_jacobian(lambda y, d=depth: end_to_end_velocity(loss, y, d), x, eps=1e-6)
        np.testing.assert_allclose(velocity_jacobian(loss, x, depth), ref, rtol=1e-6,
                                   atol=1e-6 * np.abs(ref).max())


def _circulation(loss, x, depth, e1, e2, radius=1e-3, k=256):
    """Independent: line integral of F around a small circle in the plane (e1, e2), over its
    area; equals <e2, J e1> - <e1, J e2> (the curl component) as radius -> 0."""
    th = np.linspace(0, 2 * np.pi, k, endpoint=False)
    pts = x + radius * (np.cos(th)[:, None, None] * e1 + np.sin(th)[:, None, None] * e2)
    f = end_to_end_velocity(loss, pts, depth)
    tangent = -np.sin(th)[:, None, None] * e1 + np.cos(th)[:, None, None] * e2
    line = np.sum(f * tangent) * radius * (2 * np.pi / k)
    return line / (np.pi * radius**2)


def test_curl_zero_for_depth_one_and_nonzero_beyond():
    loss, x = _problem()
    g = np.random.default_rng(12)
    e1 = g.standard_normal(x.shape)
    e1 /= np.linalg.norm(e1)
    e2 = g.standard_normal(x.shape)
    e2 -= np.sum(e1 * e2) * e1
    e2 /= np.linalg.norm(e2)
    scale = np.linalg.norm(velocity_jacobian(loss, x, 1))
    assert abs(_circulation(loss, x, 1, e1, e2)) < 1e-6 * scale
    assert curl_asymmetry(loss, x, 1) < 1e-8
    for depth in (2, 3, 5):
        circ = _circulation(loss, x, depth, e1, e2)
        jac = velocity_jacobian(loss, x, depth)
        curl = e2.ravel() @ jac @ e1.ravel() - e1.ravel() @ jac @ e2.ravel()
        assert circ == pytest.approx(curl, rel=1e-4, abs=1e-8)
        assert abs(circ) > 1e-3 * np.linalg.norm(jac)
        assert curl_asymmetry(loss, x, depth) > 1e-2


def test_curl_batched():
    loss, _ = _problem()
    xs = np.random.default_rng(13).standard_normal((3, 2, 3))
    out = curl_asymmetry(loss, xs, 2)
    assert out.shape == (3,)
    assert out[1] == pytest.approx(curl_asymmetry(loss, xs[1], 2), rel=1e-10)
