"""Exact aligned-mode dynamics (SMG14): closed form against mpmath quadrature of the scalar ODE,
and the downstairs / upstairs flows from aligned starts against the closed form."""

import mpmath
import numpy as np
import pytest

from geodln import At, Solver, downstairs_flow, upstairs_flow
from geodln.convergence import (
    aligned_start,
    mode_strength,
    mode_strengths,
    mode_time,
    transition_time,
)
from geodln.factors import balanced_factors
from geodln.losses import LeastSquares


def _mp_time(a0, a, s, n):
    """Independent: mpmath quadrature of dt = da / (N a^(2-2/N) (s - a))."""
    mpmath.mp.dps = 30
    f = lambda x: 1 / (n * x ** (2 - mpmath.mpf(2) / n) * (s - x))  # noqa: E731
    return float(mpmath.quad(f, [a0, a]))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize(("s", "a0"), [(2.0, 1e-3), (0.5, 1e-6), (1.0, 3.0)])
def test_mode_time_matches_mpmath_quadrature(n, s, a0):
    targets = np.array([0.3, 0.9, 0.999]) * s if a0 < s else np.array([2.5, 1.2, 1.001]) * s
    for a in targets:
        ref = _mp_time(a0, a, s, n)
        assert mode_time(a, s, a0, n) == pytest.approx(ref, rel=1e-11)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_mode_strength_inverts_mode_time_over_whole_sigmoid(n):
    s, a0 = 1.5, 1e-4
    a = s * np.array([1e-3, 0.1, 0.5, 0.9, 1 - 1e-6, 1 - 1e-12])
    a = a[a > a0]
    t = mode_time(a, s, a0, n)
    np.testing.assert_allclose(mode_strength(t, s, a0, n), a, rtol=1e-12)
    # gap to the target is also exact (tail of the sigmoid)
    gap = s - mode_strength(t[-2], s, a0, n)
    assert gap == pytest.approx(s - a[-2], rel=1e-6)


def test_logistic_and_exponential_closed_forms():
    t = np.linspace(0, 6, 13)
    s, a0 = 2.0, 0.01
    logistic = s * np.exp(2 * s * t) / (np.exp(2 * s * t) - 1 + s / a0)  # SMG14 Eq. (7)
    np.testing.assert_allclose(mode_strength(t, s, a0, 2), logistic, rtol=1e-13)
    np.testing.assert_allclose(mode_strength(t, s, a0, 1), s + (a0 - s) * np.exp(-t),
                               rtol=1e-14)


def test_zero_target_and_fixed_points():
    t = np.array([0.0, 1.0, 10.0])
    # a' = -3 a^(7/3) for N = 3, s = 0: a = (a0^(-4/3) + 4 t)^(-3/4)
    np.testing.assert_allclose(mode_strength(t, 0.0, 0.5, 3),
                               (0.5 ** (-4 / 3) + 4 * t) ** (-0.75), rtol=1e-14)
    np.testing.assert_array_equal(mode_strength(t, 1.0, 0.0, 3), 0.0)
    np.testing.assert_array_equal(mode_strength(t, 1.0, 1.0, 3), 1.0)


def test_transition_times_order_modes():
    t = transition_time([4.0, 2.0, 1.0], 1e-4, 3)
    assert t[0] < t[1] < t[2]
    # N = 2 closed form: half-time log(s/a0 - 1) / (2 s)
    assert transition_time(2.0, 1e-3, 2) == pytest.approx(np.log(2.0 / 1e-3 - 1) / 4, rel=1e-13)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t": -1.0}, "t must be >= 0"),
        ({"start": -0.1}, "start must be >= 0"),
        ({"target": np.nan}, "target"),
        ({"depth": 0}, "depth"),
        ({"depth": True}, "depth"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"t": 1.0, "target": 1.0, "start": 0.1, "depth": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        mode_strength(**args)


def _aligned_problem():
    g = np.random.default_rng(0)
    u, _ = np.linalg.qr(g.standard_normal((2, 2)))
    v, _ = np.linalg.qr(g.standard_normal((3, 2)))
    s = np.array([2.0, 0.7])
    target = u @ np.diag(s) @ v.T
    return LeastSquares(np.eye(3), target), u, v, s


@pytest.mark.parametrize(("n", "a0", "t_end"), [(1, 1e-3, 20.0), (2, 1e-3, 12.0),
                                                (3, 1e-2, 20.0), (5, 5e-2, 30.0)])
def test_aligned_flows_follow_closed_form(n, a0, t_end):
    """Downstairs and upstairs flows from an aligned balanced start, to 1e-8 relative, over
    the whole sigmoid (plateau, transition and saturation are all inside [0, t_end])."""
    loss, u, v, s = _aligned_problem()
    starts = np.array([a0, 0.5 * a0])
    x0 = aligned_start(u, v, starts)
    times = np.linspace(0.0, t_end, 41)
    ref = mode_strength(times[:, None], s, starts, n)
    assert np.all(ref[-1] > 0.999 * s) and np.all(ref[0] < 0.1 * s)  # the whole sigmoid
    opts = {"solver": Solver("DOP853", rtol=1e-13, atol=1e-16), "record": At(times)}
    down = downstairs_flow(loss, x0, n, (0.0, t_end), **opts)
    np.testing.assert_allclose(mode_strengths(down.X, u, v), ref, rtol=1e-8)
    up = upstairs_flow(loss, balanced_factors(x0, n, seed=1), (0.0, t_end), **opts)
    np.testing.assert_allclose(mode_strengths(up.X, u, v), ref, rtol=1e-8)
