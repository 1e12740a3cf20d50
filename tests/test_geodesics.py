"""Geodesics of g^N (geodln.geodesics) against independent computations.

References used here, none of which goes through geodln.geodesics:
- the explicit geodesic between endpoints with common singular vectors (reference §7),
  X(t) = U((1-t)S0^{1/N} + t S1^{1/N})^N V^T, length^2 = N |S1^{1/N} - S0^{1/N}|^2 (plain A);
  for infinite depth / the arithmetic-mean kernel (p = 1) its limit, log-linear singular values;
- geomstats' generic christoffel exp (tests/christoffel_reference.py);
- brute-force metric matrices (tests/brute.py) for the path energy and the operators;
- finite differences for the Daleckii-Krein VJP.
"""

import autograd
import numpy as np
import pytest
from brute import (
    brute_A,
    brute_A_svd,
    brute_cometric_matrix,
    matrix_with_spectrum,
    numerical_jacobian,
    random_orthogonal,
    random_stiefel,
)
from christoffel_reference import christoffel_space

from geodln import DLNMetric, RankMatrices, SpectralMetric
from geodln.geodesics import (
    DLNCometric,
    InfiniteDepthCometric,
    PowerSumCometric,
    hamiltonian,
    sym_power_family,
)
from geodln.spectral import ArithmeticMeanKernel, CallableKernel, InfiniteDepthKernel


def dln_space(m, n, depth, rank=None, normalized=False):
    space = RankMatrices(m, n, rank, equip=False)
    space.equip_with_metric(DLNMetric, depth=depth, normalized=normalized)
    return space


def explicit_geodesic(u, s0, s1, v, depth, t):
    lam = (1 - t) * s0 ** (1 / depth) + t * s1 ** (1 / depth)
    return (u * lam**depth) @ v.T


def explicit_velocity(u, s0, s1, v, depth):
    rate = s1 ** (1 / depth) - s0 ** (1 / depth)
    return (u * (depth * s0 ** ((depth - 1) / depth) * rate)) @ v.T


# -------------------------------------------------------------------------------------------
# building blocks: power family VJP, operators
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["identity", "orthogonal", "diag112", "random"])
def test_power_family_vjp_matches_finite_differences(point):
    rng = np.random.default_rng(3)
    x = {
        "identity": np.eye(3),
        "orthogonal": random_orthogonal(3, 4),
        "diag112": np.diag([1.0, 1.0, 2.0]),
        "random": rng.standard_normal((3, 3)) + 2 * np.eye(3),
    }[point]
    weights = rng.standard_normal((3, 3, 3))
    exps = (0.0, 1 / 3, 2 / 3)

    def f(xx):
        return autograd.numpy.sum(weights * sym_power_family(xx @ xx.T, exps))

    grad = autograd.grad(f)(x)
    fd = numerical_jacobian(lambda xx: f(xx), x).reshape(3, 3)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, fd, atol=1e-7)


@pytest.mark.parametrize("m,n,rank,depth", [(3, 3, 3, 2), (3, 3, 3, 4), (4, 3, 2, 3), (2, 5, 1, 3)])
def test_dln_cometric_matches_brute_sum(m, n, rank, depth):
    rng = np.random.default_rng(5)
    u, v = random_stiefel(m, rank, 1), random_stiefel(n, rank, 2)
    s = np.linspace(2.0, 0.5, rank)
    x = (u * s) @ v.T
    z = rng.standard_normal((m, n))
    op = DLNCometric(depth, rank=None if rank == min(m, n) else rank)
    np.testing.assert_allclose(op(x, z), brute_A_svd(u, s, v, z, depth), atol=1e-12)
    opn = DLNCometric(depth, normalized=True, rank=op.rank)
    np.testing.assert_allclose(opn(x, z), brute_A_svd(u, s, v, z, depth) / depth, atol=1e-12)


def test_infinite_depth_and_arithmetic_cometric_match_closed_forms():
    rng = np.random.default_rng(6)
    u, v = random_orthogonal(3, 7), random_orthogonal(3, 8)
    s = np.array([3.0, 1.0, 0.2])
    x = (u * s) @ v.T
    z = rng.standard_normal((3, 3))
    zhat = u.T @ z @ v
    a, b = s[:, None] ** 2, s[None, :] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        logmean = np.where(a == b, a, (a - b) / np.log(a / b))
    np.testing.assert_allclose(InfiniteDepthCometric()(x, z), u @ (logmean * zhat) @ v.T,
                               atol=1e-12)
    arith = PowerSumCometric([1.0, 0.0], [0.0, 1.0], [0.5, 0.5])
    np.testing.assert_allclose(arith(x, z), 0.5 * (x @ x.T @ z + z @ x.T @ x), atol=1e-12)


def test_hamiltonian_gradient_at_identity_matches_finite_differences():
    rng = np.random.default_rng(7)
    p = rng.standard_normal((3, 3))
    op = DLNCometric(3)
    grad = autograd.grad(lambda x: hamiltonian(op, x, p))(np.eye(3))
    fd = numerical_jacobian(lambda x: 0.5 * np.sum(p * brute_A(x, p, 3)), np.eye(3))
    np.testing.assert_allclose(grad, fd.reshape(3, 3), atol=1e-7)


# -------------------------------------------------------------------------------------------
# explicit geodesics (common singular vectors)
# -------------------------------------------------------------------------------------------
EXPLICIT_CASES = [
    # m, n, rank, depth, s0, s1, identity start
    (3, 3, 3, 2, [2.0, 1.0, 0.5], [1.0, 1.5, 1.2], False),
    (3, 3, 3, 3, [1.0, 1.0, 1.0], [2.0, 0.6, 1.4], True),  # X0 = I (repeated sigma)
    (4, 4, 4, 5, [1.0, 1.0, 0.8, 0.8], [0.5, 2.0, 1.0, 0.8], False),
    (3, 2, 2, 3, [1.5, 0.7], [0.9, 1.1], False),
    (4, 3, 2, 3, [2.0, 1.0], [1.0, 1.5], False),  # rank-deficient
]


@pytest.mark.parametrize("m,n,rank,depth,s0,s1,identity", EXPLICIT_CASES)
def test_exp_and_geodesic_follow_explicit_geodesic(m, n, rank, depth, s0, s1, identity):
    s0, s1 = np.array(s0), np.array(s1)
    if identity:
        u = v = np.eye(m)
    else:
        u, v = random_stiefel(m, rank, 11), random_stiefel(n, rank, 12)
    space = dln_space(m, n, depth, rank)
    x0 = explicit_geodesic(u, s0, s1, v, depth, 0.0)
    if identity:
        np.testing.assert_array_equal(x0, np.eye(m))
    vel = explicit_velocity(u, s0, s1, v, depth)
    # the explicit velocity is tangent and its g-norm is the closed-form length
    np.testing.assert_allclose(space.to_tangent(vel, x0), vel, atol=1e-12)
    length2 = depth * np.sum((s1 ** (1 / depth) - s0 ** (1 / depth)) ** 2)
    np.testing.assert_allclose(space.metric.squared_norm(vel, x0), length2, rtol=1e-12)

    end = space.metric.exp(vel, x0)
    assert np.max(np.abs(end - explicit_geodesic(u, s0, s1, v, depth, 1.0))) <= 1e-8
    times = np.array([0.0, 0.3, 0.75, 1.0, -0.2])
    path = space.metric.geodesic(x0, initial_tangent_vec=vel)(times)
    assert path.shape == (len(times), m, n)
    for t, pt in zip(times, path):
        assert np.max(np.abs(pt - explicit_geodesic(u, s0, s1, v, depth, t))) <= 1e-8


@pytest.mark.parametrize("m,n,rank,depth,s0,s1,identity", EXPLICIT_CASES[:2] + EXPLICIT_CASES[4:])
def test_log_and_dist_recover_explicit_geodesic(m, n, rank, depth, s0, s1, identity):
    s0, s1 = np.array(s0), np.array(s1)
    u, v = (np.eye(m), np.eye(m)) if identity else (
        random_stiefel(m, rank, 11), random_stiefel(n, rank, 12))
    space = dln_space(m, n, depth, rank)
    x0 = explicit_geodesic(u, s0, s1, v, depth, 0.0)
    x1 = explicit_geodesic(u, s0, s1, v, depth, 1.0)
    log = space.metric.log(x1, x0)
    np.testing.assert_allclose(log, explicit_velocity(u, s0, s1, v, depth), atol=1e-7)
    length = np.sqrt(depth * np.sum((s1 ** (1 / depth) - s0 ** (1 / depth)) ** 2))
    np.testing.assert_allclose(space.metric.dist(x0, x1), length, rtol=1e-7)
    np.testing.assert_allclose(space.metric.squared_dist(x0, x1), length**2, rtol=1e-7)
    # the geodesic through two points (log, then exp along t)
    mid = space.metric.geodesic(x0, end_point=x1)(0.5)
    np.testing.assert_allclose(mid[0], explicit_geodesic(u, s0, s1, v, depth, 0.5), atol=1e-7)


def test_normalized_metric_rescales_length():
    u, v = random_orthogonal(2, 1), random_orthogonal(2, 2)
    s0, s1, N = np.array([1.0, 2.0]), np.array([2.0, 0.5]), 3
    plain, cmv = dln_space(2, 2, N), dln_space(2, 2, N, normalized=True)
    x0, x1 = (u * s0) @ v.T, (u * s1) @ v.T
    length2 = N * np.sum((s1 ** (1 / N) - s0 ** (1 / N)) ** 2)
    # same geodesics (the metric is scaled by N), g_CMV = N g_plain
    vel = explicit_velocity(u, s0, s1, v, N)
    np.testing.assert_allclose(cmv.metric.exp(vel, x0), x1, atol=1e-8)
    np.testing.assert_allclose(plain.metric.squared_dist(x0, x1), length2, rtol=1e-7)
    np.testing.assert_allclose(cmv.metric.squared_dist(x0, x1), N * length2, rtol=1e-7)


@pytest.mark.parametrize("kernel", [InfiniteDepthKernel(), ArithmeticMeanKernel(1.0)])
def test_log_linear_geodesic_for_kernels_with_k_aa_equal_a(kernel):
    # Both kernels have k(a, a) = a: along common singular vectors g = sum dsigma^2/sigma^2,
    # so log sigma is linear in t (the N -> inf limit of the explicit geodesic).
    u, v = random_orthogonal(3, 21), random_orthogonal(3, 22)
    s0, s1 = np.array([2.0, 1.0, 0.5]), np.array([1.0, 1.0, 1.5])
    space = RankMatrices(3, 3, equip=False)
    space.equip_with_metric(SpectralMetric, kernel=kernel)
    x0 = (u * s0) @ v.T
    vel = (u * (s0 * np.log(s1 / s0))) @ v.T
    for t in (0.5, 1.0):
        expected = (u * np.exp((1 - t) * np.log(s0) + t * np.log(s1))) @ v.T
        assert np.max(np.abs(space.metric.exp(t * vel, x0) - expected)) <= 1e-8
    np.testing.assert_allclose(space.metric.squared_norm(vel, x0), np.sum(np.log(s1 / s0) ** 2),
                               rtol=1e-10)


# -------------------------------------------------------------------------------------------
# agreement with geomstats' generic christoffel exp
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d,depth,start", [
    (2, 2, "random"), (2, 3, "random"),
    # geomstats' autodiff Christoffel ODE on 3 x 3 takes tens of seconds
    pytest.param(3, 3, "random", marks=pytest.mark.slow),
    pytest.param(3, 2, "identity", marks=pytest.mark.slow)])
def test_exp_matches_generic_christoffel_exp(d, depth, start):
    rng = np.random.default_rng(31 + d + depth)
    x = np.eye(d) if start == "identity" else np.eye(d) + 0.3 * rng.standard_normal((d, d))
    vel = 0.3 * rng.standard_normal((d, d))
    reference = christoffel_space(d, depth, n_steps=40).metric.exp(vel, x)
    np.testing.assert_allclose(dln_space(d, d, depth).metric.exp(vel, x), reference, atol=1e-6)


def test_exp_is_batched():
    rng = np.random.default_rng(41)
    space = dln_space(3, 3, 3)
    x = np.eye(3) + 0.2 * rng.standard_normal((3, 3))
    vels = 0.3 * rng.standard_normal((4, 3, 3))
    batch = space.metric.exp(vels, x)
    assert batch.shape == (4, 3, 3)
    for vel, out in zip(vels, batch):
        np.testing.assert_allclose(out, space.metric.exp(vel, x), atol=1e-8)


# -------------------------------------------------------------------------------------------
# exp o log round trips
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("m,n,rank,depth", [(3, 3, 3, 3), (4, 3, 2, 2), (4, 3, 2, 3)])
def test_exp_log_round_trips(m, n, rank, depth):
    space = dln_space(m, n, depth, rank)
    x = matrix_with_spectrum(m, n, np.linspace(2.0, 0.7, rank), seed=51)[0]
    noise = np.random.default_rng(52).standard_normal((m, n))
    y = space.projection(x + 0.3 * noise)  # an end point not produced by exp
    assert space.belongs(y)
    log = space.metric.log(y, x)
    assert space.is_tangent(log, x, atol=1e-9)
    end = space.metric.exp(log, x)
    np.testing.assert_allclose(end, y, atol=1e-7)
    vel = 0.3 * space.random_tangent_vec(x, seed=53)
    np.testing.assert_allclose(space.metric.log(space.metric.exp(vel, x), x), vel, atol=1e-7)
    if rank < min(m, n):
        assert space.belongs(end, atol=1e-10)


# -------------------------------------------------------------------------------------------
# energy stationarity: perturbing the path with fixed end points raises its energy to 2nd order
# -------------------------------------------------------------------------------------------
def _discrete_energy(path, depth):
    """K * sum_k g_mid(Delta_k, Delta_k) with the brute-force metric matrix at midpoints."""
    k = len(path) - 1
    total = 0.0
    for a, b in zip(path[:-1], path[1:]):
        g = np.linalg.inv(brute_cometric_matrix(0.5 * (a + b), depth))
        delta = (b - a).ravel()
        total += delta @ g @ delta
    return k * total


def test_geodesic_energy_is_stationary():
    rng = np.random.default_rng(61)
    depth = 3
    space = dln_space(3, 3, depth)
    x = np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    vel = 0.4 * rng.standard_normal((3, 3))
    times = np.linspace(0.0, 1.0, 41)
    geo = space.metric.geodesic(x, initial_tangent_vec=vel)(times)
    bump = np.sin(np.pi * times)[:, None, None] * rng.standard_normal((3, 3))
    straight = x + times[:, None, None] * (geo[-1] - x)

    def variations(path, eps):
        e0 = _discrete_energy(path, depth)
        ep = _discrete_energy(path + eps * bump, depth)
        em = _discrete_energy(path - eps * bump, depth)
        return (ep - em) / (2 * eps), (ep + em - 2 * e0) / eps**2, e0

    eps = 0.02
    first, second, e_geo = variations(geo, eps)
    assert second > 0
    assert abs(first) < 1e-3 * second  # first variation ~ 0 (only O(1/K^2) discretisation)
    assert _discrete_energy(geo + eps * bump, depth) > e_geo
    # control: the straight segment has the same end points, a first variation (along the
    # same bump) over 100 times larger, and a larger energy
    first_s, second_s, e_straight = variations(straight, eps)
    assert abs(first_s) > 100 * abs(first)
    assert second_s > 0
    assert e_straight > e_geo


# -------------------------------------------------------------------------------------------
# ladder parallel transport (geomstats) on top of exp/log
# -------------------------------------------------------------------------------------------
def test_ladder_parallel_transport_preserves_norm():
    rng = np.random.default_rng(71)
    space = dln_space(2, 2, 2)
    metric = space.metric
    x = np.eye(2) + 0.2 * rng.standard_normal((2, 2))
    direction = 0.3 * rng.standard_normal((2, 2))
    vec = 0.2 * rng.standard_normal((2, 2))
    end = metric.exp(direction, x)
    out = metric.ladder_parallel_transport(vec, x, direction, n_rungs=3, scheme="pole")
    moved = out["transported_tangent_vec"]
    assert np.all(np.isfinite(moved))
    np.testing.assert_allclose(metric.norm(moved, end), metric.norm(vec, x), rtol=1e-2)
    # the velocity of the geodesic is parallel: transporting it gives -log_end(x)
    vel_end = metric.ladder_parallel_transport(direction, x, direction, n_rungs=3)
    np.testing.assert_allclose(vel_end["transported_tangent_vec"], -metric.log(x, end),
                               atol=2e-2 * np.abs(direction).max())


# -------------------------------------------------------------------------------------------
# incompleteness and bad input
# -------------------------------------------------------------------------------------------
def test_exp_raises_when_the_geodesic_reaches_a_singular_matrix():
    depth = 3
    space = dln_space(2, 2, depth)
    x = np.diag([1.0, 2.0])
    # sigma_1^{1/N}(t) = 1 - 3t reaches 0 at t = 1/3 on the explicit geodesic
    vel = np.diag([-3.0 * depth, 0.0])
    with pytest.raises(ValueError, match="singular"):
        space.metric.exp(vel, x)
    with pytest.raises(ValueError, match="singular"):
        space.metric.geodesic(x, initial_tangent_vec=vel)(np.array([0.1, 0.5]))
    # a shorter velocity on the same line stays regular (and matches the explicit geodesic)
    np.testing.assert_allclose(space.metric.exp(0.25 * vel, x), np.diag([0.25**3, 2.0]),
                               atol=1e-8)


def test_singular_points_raise_value_error():
    space = dln_space(2, 2, 2)
    singular = np.diag([1.0, 0.0])
    with pytest.raises(ValueError, match="base_point"):
        space.metric.exp(np.eye(2), singular)
    with pytest.raises(ValueError, match="point"):
        space.metric.log(singular, np.eye(2))
    with pytest.raises(ValueError, match="point_a"):
        space.metric.dist(singular, np.eye(2))


def test_bad_input_raises_value_error():
    space = dln_space(2, 2, 2)
    with pytest.raises(ValueError, match="tangent_vec"):
        space.metric.exp(np.ones((3, 2)), np.eye(2))
    with pytest.raises(ValueError, match="base_point"):
        space.metric.exp(np.ones((2, 2)), np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="point"):
        space.metric.log(np.ones(4), np.eye(2))


def test_kernel_without_differentiable_form_raises_not_implemented():
    space = RankMatrices(2, 2, equip=False)
    space.equip_with_metric(SpectralMetric, kernel=CallableKernel(lambda a, b: a + b + 1.0))
    with pytest.raises(NotImplementedError, match="cometric_operator"):
        space.metric.exp(np.eye(2), np.eye(2))
    rank_deficient = RankMatrices(3, 3, 1, equip=False)
    rank_deficient.equip_with_metric(DLNMetric, depth=np.inf, normalized=True)
    with pytest.raises(NotImplementedError, match="degenerate"):
        rank_deficient.metric.exp(np.zeros((3, 3)), np.outer([1.0, 0, 0], [1.0, 0, 0]))


def test_user_kernel_with_cometric_operator_gets_geodesics():
    class SumKernel(CallableKernel):
        """k(a, b) = a + b + 1 with its power-sum operator."""

        def __init__(self):
            super().__init__(lambda a, b: a + b + 1.0, name="sum")

        def cometric_operator(self, base_point, cotangent_vec, rank):
            return PowerSumCometric([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], rank=rank)(
                base_point, cotangent_vec)

    space = RankMatrices(2, 2, equip=False)
    space.equip_with_metric(SpectralMetric, kernel=SumKernel())
    u, v = random_orthogonal(2, 81), random_orthogonal(2, 82)
    # on common singular vectors g = sum dsigma^2/(2 sigma^2 + 1): sigma(t) = sinh(c t + d)/sqrt2
    s0, s1 = np.array([1.0, 0.5]), np.array([2.0, 0.3])
    a0, a1 = np.arcsinh(np.sqrt(2) * s0), np.arcsinh(np.sqrt(2) * s1)
    vel = (u * (np.cosh(a0) * (a1 - a0) / np.sqrt(2))) @ v.T
    np.testing.assert_allclose(space.metric.exp(vel, (u * s0) @ v.T), (u * s1) @ v.T, atol=1e-8)


def test_rank_deficient_space_rejects_points_of_higher_rank():
    space = dln_space(4, 3, 2, rank=2)
    full = matrix_with_spectrum(4, 3, [2.0, 1.0, 0.5], seed=91)[0]
    with pytest.raises(ValueError, match="rank 2"):
        space.metric.exp(np.zeros((4, 3)), full)
    low = matrix_with_spectrum(4, 3, [2.0, 1.0], seed=92)[0]
    with pytest.raises(ValueError, match="rank 2"):
        space.metric.log(full, low)


def test_log_continuation_recovers_explicit_geodesic():
    # force the direct hybr solve to fail: the homotopy on the end point must still find the
    # explicit geodesic's velocity
    from geodln.geodesics import RootLogSolver

    class FailFirst(RootLogSolver):
        calls = 0

        def _attempt(self, coords, point, base_point, init):
            FailFirst.calls += 1
            if FailFirst.calls == 1:
                return None, None, "forced failure"
            return super()._attempt(coords, point, base_point, init)

    depth = 2
    space = dln_space(3, 3, depth)
    solver = FailFirst(space, space.metric.exp_solver)
    u, v = random_orthogonal(3, 93), random_orthogonal(3, 94)
    s0, s1 = np.array([2.0, 1.0, 0.5]), np.array([0.8, 1.6, 1.0])
    x0, x1 = (u * s0) @ v.T, (u * s1) @ v.T
    log = solver.log(x1, x0)
    assert FailFirst.calls > 2
    np.testing.assert_allclose(log, explicit_velocity(u, s0, s1, v, depth), atol=1e-7)
