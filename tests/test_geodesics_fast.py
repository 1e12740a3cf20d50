"""Fast log (Newton), connectivity, Christoffel symbols and curvature of g^N.

Independent references: the explicit geodesic of commuting endpoints; today's root-finding
log (RootLogSolver, Levenberg-Marquardt with finite-difference Jacobians); central finite
differences of ``metric_matrix`` through the Koszul formula (brute-force Kronecker sums in
tests/brute.py); geomstats' generic christoffels / riemann_tensor / sectional_curvature on the
flattened metric with eigh powers (tests/christoffel_reference.py, nothing from geodln).
"""

import time

import numpy as np
import pytest
from brute import brute_cometric_matrix, random_orthogonal
from christoffel_reference import flat_space

from geodln import DLNMetric, RankMatrices
from geodln.geodesics import (
    NewtonLogSolver,
    PowerSumField,
    RootLogSolver,
    check_connected,
    root_chart_collocation,
    root_chart_velocity,
)


def dln_space(m, n, depth, rank=None):
    space = RankMatrices(m, n, rank, equip=False)
    space.equip_with_metric(DLNMetric, depth=depth)
    return space


# -------------------------------------------------------------------------------------------
# Newton log
# -------------------------------------------------------------------------------------------
def test_log_is_the_explicit_geodesic_for_commuting_endpoints_batched():
    depth = 3
    space = dln_space(3, 3, depth)
    u, v = random_orthogonal(3, 1), random_orthogonal(3, 2)
    s0 = np.array([2.0, 1.0, 0.5])
    s1 = np.array([[1.0, 1.5, 1.2], [3.0, 0.2, 0.6], [2.0, 1.0, 0.5001]])
    x0 = (u * s0) @ v.T
    x1 = np.stack([(u * s) @ v.T for s in s1])
    log = space.metric.log(x1, x0)
    rate = s1 ** (1 / depth) - s0 ** (1 / depth)
    expected = np.stack([(u * (depth * s0 ** ((depth - 1) / depth) * r)) @ v.T for r in rate])
    np.testing.assert_allclose(log, expected, atol=1e-8)
    # the root-chart guess alone is already exact here (to its finite-difference error)
    np.testing.assert_allclose(root_chart_velocity(x1, x0, depth), expected, atol=1e-6)


@pytest.mark.parametrize("m,n,rank,depth", [(2, 2, 2, 3), (3, 3, 3, 2), (4, 4, 4, 3),
                                            (3, 2, 2, 3), (4, 3, 2, 3)])
def test_newton_log_round_trips_and_matches_root_finding(m, n, rank, depth):
    space = dln_space(m, n, depth, rank)
    rng = np.random.default_rng(10 + m + n + depth)
    x = space.projection(np.eye(m, n) + 0.3 * rng.standard_normal((m, n)) / np.sqrt(m))
    vel = 0.3 * space.random_tangent_vec(x, n_samples=3, seed=11) / np.sqrt(m)
    ys = space.metric.exp(vel, x)
    log = space.metric.log(ys, x)
    # a batch shares the integrator's steps: members agree with their own exp to the
    # accuracy of exp (rtol 1e-9); a single target round-trips to 1e-10 (relative)
    for y, lv in zip(ys, log):
        assert np.max(np.abs(space.metric.exp(lv, x) - y)) <= 1e-9 * max(1.0, np.abs(y).max())
    single = space.metric.log(ys[1], x)
    assert np.max(np.abs(space.metric.exp(single, x) - ys[1])) <= 1e-10 * np.abs(ys[1]).max()
    np.testing.assert_allclose(log, vel, atol=1e-8)
    slow = RootLogSolver(space, space.metric.exp_solver).log(ys[0], x)
    np.testing.assert_allclose(log[0], slow, atol=1e-6)


@pytest.mark.parametrize("m,n,rank,depth", [(4, 3, 2, 2), (4, 3, 2, 3), (3, 5, 1, 3)])
def test_rank_deficient_geodesics_have_constant_speed_and_symmetric_distance(m, n, rank, depth):
    # a geodesic has constant speed |X'(t)|_g (checked by central differences of the path);
    # a momentum left to drift off the turning tangent space of M_r breaks this at second order
    space = dln_space(m, n, depth, rank)
    rng = np.random.default_rng(5 + m + rank)
    centre = np.zeros((m, n))
    centre[np.arange(rank), np.arange(rank)] = 1.0
    a, b = space.projection(centre + 0.3 * rng.standard_normal((2, m, n)) / 2)
    metric = space.metric
    v = metric.log(b, a)
    path = metric.geodesic(initial_point=a, initial_tangent_vec=v)
    h = 1e-4
    speeds = []
    for t in (0.25, 0.5, 0.75):
        p0, p1 = path(np.array([t - h, t + h]))
        mid = path(np.array([t]))[0]
        vel = space.to_tangent((p1 - p0) / (2 * h), mid)
        speeds.append(metric.squared_norm(vel, mid))
    sq = metric.squared_norm(v, a)
    np.testing.assert_allclose(speeds, sq, rtol=1e-6)
    np.testing.assert_allclose(metric.squared_dist(b, a), metric.squared_dist(a, b), rtol=1e-8)


@pytest.mark.parametrize("m,n,rank", [(3, 3, 3), (4, 3, 2)])
def test_log_is_exact_at_any_scale(m, n, rank):
    # X -> cX maps geodesics to geodesics (A_{cX} = c^(2(N-1)/N) A_X), so log_{cX}(cY) is
    # c log_X(Y) at every representable scale
    space = dln_space(m, n, 3, rank)
    rng = np.random.default_rng(17)
    centre = np.zeros((m, n))
    centre[np.arange(rank), np.arange(rank)] = 1.0
    a, b = space.projection(centre + 0.2 * rng.standard_normal((2, m, n)))
    if m == n:
        b[0] *= np.sign(np.linalg.det(a) * np.linalg.det(b))
    ref = space.metric.log(b, a)
    for c in (1e-120, 1e120):
        np.testing.assert_allclose(space.metric.log(c * b, c * a) / c, ref,
                                   atol=1e-11 * np.abs(ref).max())


def test_newton_log_batches_base_points_and_points():
    space = dln_space(2, 2, 2)
    rng = np.random.default_rng(3)
    xs = np.eye(2) + 0.2 * rng.standard_normal((4, 2, 2))
    vel = 0.2 * rng.standard_normal((4, 2, 2))
    ys = space.metric.exp(vel, xs)
    np.testing.assert_allclose(space.metric.log(ys, xs), vel, atol=1e-8)


def test_newton_failure_falls_back_or_raises():
    space = dln_space(2, 2, 2)
    x = np.diag([1.0, 2.0])
    y = space.metric.exp(np.array([[0.1, 0.2], [-0.1, 0.05]]), x)
    strict = NewtonLogSolver(space, space.metric.exp_solver, max_iter=0, fallback=False)
    with pytest.raises(ValueError, match="did not converge"):
        strict.log(y, x)
    patient = NewtonLogSolver(space, space.metric.exp_solver, max_iter=0, fallback=True)
    vec = patient.log(y, x)
    assert patient.last_stats["fallbacks"] == 1
    np.testing.assert_allclose(space.metric.exp(vec, x), y, atol=1e-7)


# -------------------------------------------------------------------------------------------
# connectivity
# -------------------------------------------------------------------------------------------
def test_opposite_determinants_are_infinitely_far_and_have_no_log():
    space = dln_space(2, 2, 3)
    x, y = np.diag([1.0, 2.0]), np.diag([1.0, -2.0])
    start = time.perf_counter()
    assert space.metric.dist(x, y) == np.inf
    assert space.metric.squared_dist(np.stack([x, x]), np.stack([y, x])).tolist() == [np.inf, 0.0]
    assert time.perf_counter() - start < 30.0  # generous; the benchmark measures ~1 ms
    with pytest.raises(ValueError, match="point"):
        space.metric.log(y, x)


def test_rectangular_spaces_have_no_determinant_rule():
    # full-rank 2 x 3 matrices form a connected set: the left 2 x 2 minor changes sign (1 to
    # -0.5) along a geodesic that turns through the third column. (The symmetric pair with
    # end point [[1, 0, 0], [0, -1, 0]] has two minimising geodesics, one per sign of the third
    # column: a cut point, where Newton cannot choose.)
    wide = dln_space(2, 3, 2)
    a = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    b = np.array([[1.0, 0.0, 0.0], [0.0, -0.5, 1.0]])
    assert check_connected(b, a, wide)
    vec = wide.metric.log(b, a)
    assert abs(vec[1, 2]) > 0.1  # the geodesic leaves the left 2 x 2 block
    np.testing.assert_allclose(wide.metric.exp(vec, a), b, atol=1e-9)
    assert np.isfinite(wide.metric.dist(a, b))
    assert wide.metric.log_solver.last_stats["fallbacks"] == 0


def test_identical_points_return_zero_at_once():
    space = dln_space(4, 3, 3, rank=2)
    x = space.random_point(seed=1)
    start = time.perf_counter()
    assert space.metric.dist(x, x) == 0.0
    assert np.all(space.metric.log(x, x) == 0.0)
    assert time.perf_counter() - start < 30.0  # generous; the benchmark measures ~1 ms


def test_exp_to_the_boundary_still_raises():
    space = dln_space(2, 2, 3)
    with pytest.raises(ValueError, match="singular"):
        space.metric.exp(np.diag([-9.0, 0.0]), np.diag([1.0, 2.0]))


# -------------------------------------------------------------------------------------------
# Christoffel symbols
# -------------------------------------------------------------------------------------------
def koszul_christoffels(x, depth, eps=1e-6):
    """Gamma^k_ij from central differences of the brute-force metric matrix (Koszul)."""
    d = x.size
    g = np.linalg.inv(brute_cometric_matrix(x, depth))
    dg = np.zeros((d, d, d))  # dg[i, j, k] = d_k g_ij
    for k in range(d):
        e = np.zeros(d)
        e[k] = eps
        gp = np.linalg.inv(brute_cometric_matrix(x + e.reshape(x.shape), depth))
        gm = np.linalg.inv(brute_cometric_matrix(x - e.reshape(x.shape), depth))
        dg[:, :, k] = (gp - gm) / (2 * eps)
    cometric = np.linalg.inv(g)
    return 0.5 * (np.einsum("lk,jli->kij", cometric, dg) + np.einsum("lk,lij->kij", cometric, dg)
                  - np.einsum("lk,ijl->kij", cometric, dg))


@pytest.mark.parametrize("point,depth", [("identity", 3), ("diag112", 2), ("diag112", 4),
                                         ("random", 3), ("rect", 2)])
def test_christoffels_match_koszul_finite_differences(point, depth):
    rng = np.random.default_rng(21)
    x = {"identity": np.eye(3), "diag112": np.diag([1.0, 1.0, 2.0]),
         "random": np.eye(3) + 0.3 * rng.standard_normal((3, 3)),
         "rect": np.array([[1.0, 0.2, 0.0], [0.1, 0.7, 0.3]])}[point]
    space = dln_space(*x.shape, depth)
    gamma = space.metric.christoffels(x)
    assert gamma.shape == (x.size,) * 3
    np.testing.assert_allclose(gamma, koszul_christoffels(x, depth), atol=2e-7)
    # batched, and symmetric in the lower indices
    both = space.metric.christoffels(np.stack([x, 2.0 * x]))
    np.testing.assert_allclose(both[0], gamma, atol=1e-14)
    np.testing.assert_allclose(both[1], gamma / 2.0, atol=1e-12)  # Gamma is -1-homogeneous
    np.testing.assert_allclose(gamma, np.swapaxes(gamma, -1, -2), atol=1e-14)
    deriv = space.metric.inner_product_derivative_matrix(x)
    assert deriv.shape == (x.size,) * 3


def test_depth_one_is_flat():
    space = dln_space(2, 3, 1)
    x = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0]])
    assert np.all(space.metric.christoffels(x) == 0.0)
    a, b = np.random.default_rng(0).standard_normal((2, 2, 3))
    assert space.metric.sectional_curvature(a, b, x) == 0.0
    sq = dln_space(2, 2, 1)
    assert np.all(sq.metric.riemann_tensor(np.diag([1.0, 3.0])) == 0.0)


def test_christoffels_reject_rank_deficient_spaces():
    space = dln_space(3, 3, 2, rank=2)
    with pytest.raises(ValueError, match="full-rank"):
        space.metric.christoffels(np.diag([1.0, 2.0, 0.0]))


# -------------------------------------------------------------------------------------------
# curvature
# -------------------------------------------------------------------------------------------
def _reference_riemann(x, depth):
    """geomstats' generic riemann_tensor on the flattened metric (autograd, eigh powers)."""
    ref = flat_space(*x.shape, depth)
    tensor = ref.metric.riemann_tensor(x.ravel())
    ref.metric.riemann_tensor = lambda base_point=None: tensor  # reuse in its generic methods
    return ref, tensor


@pytest.mark.parametrize("d,depth", [(2, 2), (2, 3)])
def test_curvature_matches_generic_geomstats_2x2(d, depth):
    rng = np.random.default_rng(31 + depth)
    x = np.diag([1.5, 0.6]) + 0.2 * rng.standard_normal((d, d))
    ref, tensor = _reference_riemann(x, depth)
    metric = dln_space(d, d, depth).metric
    np.testing.assert_allclose(metric.riemann_tensor(x), tensor, atol=1e-8 * np.abs(tensor).max())
    for _ in range(3):
        a, b = rng.standard_normal((2, d, d))
        k_ref = ref.metric.sectional_curvature(a.ravel(), b.ravel(), x.ravel())
        np.testing.assert_allclose(metric.sectional_curvature(a, b, x), k_ref, rtol=1e-8)
    np.testing.assert_allclose(metric.scalar_curvature(x), ref.metric.scalar_curvature(x.ravel()),
                               rtol=1e-8)


@pytest.mark.slow
def test_curvature_matches_generic_geomstats_3x3():
    rng = np.random.default_rng(41)
    x = np.diag([2.0, 1.0, 0.5]) + 0.2 * rng.standard_normal((3, 3))
    ref, tensor = _reference_riemann(x, 3)
    metric = dln_space(3, 3, 3).metric
    a, b = rng.standard_normal((2, 3, 3))
    k_ref = ref.metric.sectional_curvature(a.ravel(), b.ravel(), x.ravel())
    np.testing.assert_allclose(metric.sectional_curvature(a, b, x), k_ref, rtol=1e-8)
    np.testing.assert_allclose(metric.ricci_tensor(x), ref.metric.ricci_tensor(x.ravel()),
                               atol=1e-8 * np.abs(ref.metric.ricci_tensor(x.ravel())).max())


@pytest.mark.parametrize("point", ["identity", "random"])
def test_sectional_curvature_symmetries(point):
    rng = np.random.default_rng(51)
    x = np.eye(3) if point == "identity" else np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    metric = dln_space(3, 3, 3).metric
    a, b = rng.standard_normal((2, 3, 3))
    k = metric.sectional_curvature(a, b, x)
    np.testing.assert_allclose(metric.sectional_curvature(b, a, x), k, rtol=1e-9)
    # any basis of span{a, b}
    a2, b2 = 2.0 * a - 0.7 * b, 0.3 * a + 1.1 * b
    np.testing.assert_allclose(metric.sectional_curvature(a2, b2, x), k, rtol=1e-8)
    # batched evaluation agrees
    ks = metric.sectional_curvature(np.stack([a, a2]), np.stack([b, b2]), x)
    np.testing.assert_allclose(ks, [k, k], rtol=1e-8)
    # dilation X -> cX pulls g^N back to c^(2/N) g^N (A is homogeneous of degree 2(N-1)/N),
    # so K at cX is c^(-2/N) times K at X
    c, N = 2.0, 3
    np.testing.assert_allclose(metric.sectional_curvature(a, b, c * x),
                               k * c ** (-2.0 / N), rtol=1e-8)


# -------------------------------------------------------------------------------------------
# Jacobi equations, root-chart collocation, long ill-conditioned geodesics
# -------------------------------------------------------------------------------------------
def _dln_terms(depth):
    return ([(depth - j) / depth for j in range(1, depth + 1)],
            [(j - 1) / depth for j in range(1, depth + 1)], [1.0] * depth)


@pytest.mark.parametrize("kind", ["generic", "identity", "tie", "near_tie"])
@pytest.mark.parametrize("depth", [2, 3, 5])
def test_hamiltonian_jvp_matches_central_differences(kind, depth):
    # the closed-form linearisation (second divided differences) against a fourth-order
    # central difference of the Hamiltonian field itself
    rng = np.random.default_rng(depth)
    d = 4
    q1, q2 = random_orthogonal(d, 1), random_orthogonal(d, 2)
    if kind == "generic":
        x = np.eye(d) + 0.3 * rng.standard_normal((2, d, d))
    elif kind == "identity":
        x = np.stack([np.eye(d)] * 2)
    elif kind == "tie":
        x = np.stack([q1 @ np.diag([2.0, 1.0, 1.0, 0.5]) @ q2] * 2)
    else:
        x = np.stack([q1 @ np.diag([2.0, 1.0 + 1e-5, 1.0, 1.0 - 3e-4]) @ q2] * 2)
    p = rng.standard_normal((2, d, d))
    e, q = rng.standard_normal((2, 3, 2, d, d))
    terms = _dln_terms(depth)
    d_xdot, d_pdot = PowerSumField(*terms, x).hamiltonian_jvp(p, e, q)
    h = 1e-4
    for k in range(3):
        vals = [PowerSumField(*terms, x + s * e[k]).hamiltonian_field(p + s * q[k])
                for s in (2 * h, h, -h, -2 * h)]
        for i, got in enumerate((d_xdot[k], d_pdot[k])):
            fd = (-vals[0][i] + 8 * vals[1][i] - 8 * vals[2][i] + vals[3][i]) / (12 * h)
            np.testing.assert_allclose(got, fd, atol=1e-9 * np.abs(fd).max())


def test_root_chart_collocation_is_exact_for_commuting_endpoints_and_close_otherwise():
    depth = 3
    space = dln_space(3, 3, depth)
    field = space.metric.exp_solver.frame_field

    def gamma(x, a, b):
        return field(x).christoffel(a, b)

    u, v = random_orthogonal(3, 4), random_orthogonal(3, 5)
    s0, s1 = np.array([2.0, 1.0, 0.5]), np.array([1.0, 3.0, 0.4])
    x, y = u @ np.diag(s0) @ v.T, u @ np.diag(s1) @ v.T
    # X(t) = U((1 - t) S0^(1/N) + t S1^(1/N))^N V^T, velocity N S0^((N-1)/N)(S1^(1/N) - S0^(1/N))
    c0, c1 = s0 ** (1 / depth), s1 ** (1 / depth)
    exact = u @ np.diag(depth * c0 ** (depth - 1) * (c1 - c0)) @ v.T
    guess = root_chart_collocation(y[None], x[None], depth, gamma)[0]
    np.testing.assert_allclose(guess, exact, atol=1e-6)
    # a long geodesic between non-commuting endpoints: the guess is within 1e-5 of the log
    rng = np.random.default_rng(8)
    x = np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    vel = 0.5 * rng.standard_normal((3, 3))
    y = space.metric.exp(vel, x)
    guess = root_chart_collocation(y[None], x[None], depth, gamma)[0]
    np.testing.assert_allclose(guess, vel, atol=1e-5 * np.abs(vel).max())


def test_long_ill_conditioned_log_round_trips_with_one_exact_jacobian():
    # the benchmark's hard case at d = 6: cond(X) ~ 10, |V|_g / |X|_g > 1
    space = dln_space(6, 6, 3)
    rng = np.random.default_rng([2024, 6])
    x = np.eye(6) + 0.3 * rng.standard_normal((6, 6))
    vel = 0.3 * rng.standard_normal((6, 6))
    y = space.metric.exp(vel, x)
    out = space.metric.log(y, x)
    assert np.max(np.abs(space.metric.exp(out, x) - y)) <= 1e-10
    np.testing.assert_allclose(out, vel, atol=1e-8)
    stats = space.metric.log_solver.last_stats
    assert stats["fallbacks"] == 0 and stats["jacobians"] <= 2 and stats["exps"] <= 4


def test_cut_point_log_stops_at_its_budget_and_says_what_was_tried():
    # two minimising geodesics from diag(1, 1) to diag(1, -1) on 2 x 3 (the rotations of the
    # (2, 2) and (2, 3) entries either way): Newton cannot choose; the fallback has a budget
    space = dln_space(2, 3, 3)
    x = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    solver = NewtonLogSolver(space, space.metric.exp_solver, max_iter=2, fallback_evals=3)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="point.*fallback_evals=3 batched exps.*cut point"):
        solver.log(y, x)
    assert time.perf_counter() - start < 120.0  # generous: a few seconds on a quiet machine
    with pytest.raises(ValueError, match="fallback_evals"):
        NewtonLogSolver(space, space.metric.exp_solver, fallback_evals=0)
