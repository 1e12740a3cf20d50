"""Defects found by a newcomer in a fresh-clone trial (session 12), one concept per test.

Expected values are independent of the code under test: closed forms computed here with
scipy, mpmath at 50 digits, or the documented exception.
"""

import inspect
import warnings

import mpmath as mp
import numpy as np
import pytest
import scipy.linalg

from geodln import DLNMetric, RankMatrices
from geodln.flows import compare_flows, downstairs_flow, gradient_descent
from geodln.langevin import Chains, brownian_motion, riemannian_langevin
from geodln.losses import MatrixCompletion
from geodln.lowrank import (
    FactoredDLNMetric,
    FactoredPoint,
    bottleneck_factors,
    lowrank_flow,
    lowrank_gradient_descent,
    random_factored_point,
    random_sparse_completion,
    upstairs_gradient_descent,
)
from geodln.metric import SpectralMetric
from geodln.spectral import CallableKernel
from geodln.step_size import gradient_lipschitz_constant

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


# -- item 5: the sectional curvature of a degenerate plane is an error ---------------------
A_VEC = np.array([[1.0, 0.3], [0.2, -0.5]])
B_VEC = np.array([[0.0, 1.0], [0.4, 0.1]])
BASE = np.diag([2.0, 1.0])


@pytest.mark.parametrize("b", [2.0 * A_VEC, -1e-7 * A_VEC, np.zeros((2, 2))],
                         ids=["parallel", "antiparallel-small", "zero"])
def test_sectional_curvature_of_dependent_vectors_raises(b):
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    with pytest.raises(ValueError, match="tangent_vec_a and tangent_vec_b must span a plane"):
        metric.sectional_curvature(A_VEC, b, BASE)
    with pytest.raises(ValueError, match="span a plane"):
        metric.sectional_curvature(b, A_VEC, BASE)


def test_sectional_curvature_checks_every_member():
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    a = np.stack([A_VEC, A_VEC, A_VEC])
    b = np.stack([B_VEC, 3.0 * A_VEC, B_VEC])
    with pytest.raises(ValueError, match=r"member\(s\) \[1\]"):
        metric.sectional_curvature(a, b, BASE)


def test_sectional_curvature_depends_on_the_plane_only():
    """K(a, b) = K(2a, -3b + 5a): the textbook quotient <R(a,b)b,a> / (|a|^2|b|^2 - <a,b>^2)."""
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    r = metric.curvature(A_VEC, B_VEC, B_VEC, BASE)
    num = metric.inner_product(r, A_VEC, BASE)
    den = (metric.squared_norm(A_VEC, BASE) * metric.squared_norm(B_VEC, BASE)
           - metric.inner_product(A_VEC, B_VEC, BASE) ** 2)
    got = metric.sectional_curvature(np.stack([A_VEC, 2.0 * A_VEC, 1e-150 * A_VEC]),
                                     np.stack([B_VEC, -3.0 * B_VEC + 5.0 * A_VEC, 1e150 * B_VEC]),
                                     BASE)
    np.testing.assert_allclose(got, num / den, rtol=1e-8)
    assert abs(num / den) > 0.1  # a curved plane: the check is not vacuous


# -- items 6 and 7: out-of-range values are inf (no warning), representable ones exact -------
def _mp_cometric(x, z, depth, inverse):
    """A_{N,X}(Z) (or its inverse on the tangent space) at 50 digits, from mpmath's SVD."""
    mp.mp.dps = 50
    U, S, V = mp.svd_r(mp.matrix(x.tolist()))
    C = U.T * mp.matrix(z.tolist()) * V.T
    m, n = x.shape
    out = mp.matrix(m, n)
    for k in range(m):
        for l in range(n):
            a, b = S[k] ** 2, S[l] ** 2
            lam = sum(a ** (mp.mpf(depth - j) / depth) * b ** (mp.mpf(j - 1) / depth)
                      for j in range(1, depth + 1))
            out[k, l] = C[k, l] / lam if inverse else C[k, l] * lam
    R = U * out * V
    return np.array([[float(R[i, j]) for j in range(n)] for i in range(m)])


def _assert_matches(got, expected):
    assert np.array_equal(np.isinf(got), np.isinf(expected)), (got, expected)
    assert np.array_equal(np.sign(got), np.sign(expected)), (got, expected)
    finite = np.isfinite(expected) & (expected != 0)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10)


X3 = np.array([[1.0, 0.2, -0.3], [0.4, -1.1, 0.5], [0.0, 0.3, 0.9]])
Z3 = np.array([[0.7, -1.2, 0.4], [0.1, 0.9, -0.6], [-0.8, 0.2, 1.3]])


@pytest.mark.parametrize("depth", [2, 3, 5])
@pytest.mark.parametrize("scale,z_scale", [(1e300, 1.0), (1e300, 1e-200), (1e-300, 1e200),
                                           (1e-150, 1e200), (1e150, 1e150)])
def test_sharp_and_flat_at_extreme_scales_match_mpmath(depth, scale, z_scale):
    metric = DLNMetric(RankMatrices(3, 3), depth=depth)
    x, z = scale * X3, z_scale * Z3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sharp, flat = metric.sharp(z, x), metric.flat(z, x)
    _assert_matches(sharp, _mp_cometric(x, z, depth, inverse=False))
    _assert_matches(flat, _mp_cometric(x, z, depth, inverse=True))


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_sharp_of_a_point_with_huge_and_unit_singular_values(depth):
    """X = diag(1e300, 1): the (2, 2) entry 3 * N is exact next to overflowing ones."""
    metric = DLNMetric(RankMatrices(2, 2), depth=depth)
    x, z = np.diag([1e300, 1.0]), np.array([[1.0, -2.0], [0.5, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = metric.sharp(z, x)
    _assert_matches(got, _mp_cometric(x, z, depth, inverse=False))
    assert got[1, 1] == pytest.approx(3.0 * depth, rel=1e-12)


def test_flat_and_norm_overflow_to_inf_without_warning():
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    x, z = 1e-150 * np.array(START), 1e200 * np.array([[1.0, 0.3], [0.5, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        flat = metric.flat(z, x)
        sq = metric.squared_norm(z, x)
    _assert_matches(flat, _mp_cometric(x, z, 3, inverse=True))
    assert sq == np.inf


def test_completion_loss_is_exact_near_the_top_of_the_range():
    """E = (r1^2 + r2^2) / 2 with r = 1.5e154: the plain sum of squares overflows, E does not."""
    loss = MatrixCompletion(indices=([0, 1], [1, 0]), values=[1.5e154, -1.5e154], shape=(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        value = float(loss.value(np.zeros((2, 2))))
        huge = float(loss.value(np.zeros((2, 2)) + 1e200))
    mp.mp.dps = 50
    assert value == pytest.approx(float(mp.mpf(1.5e154) ** 2), rel=1e-14)
    assert huge == np.inf


@pytest.mark.parametrize("run", ["descent", "descent-default-step", "flow"])
def test_overflowing_completion_loss_is_named(run):
    loss = MatrixCompletion(mask=OBSERVED, values=1e200 * np.array([[0.0, 2.0], [3.0, 1.0]]))
    call = {
        "descent": lambda: gradient_descent(loss, np.eye(2), 0.1, 3, metric=2),
        "descent-default-step": lambda: gradient_descent(loss, np.eye(2), None, 3, metric=2),
        "flow": lambda: downstairs_flow(loss, np.eye(2), 2, (0.0, 1.0)),
    }[run]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"loss overflowed at the start.*`values`"):
            call()


# -- item 1: the Langevin start is X0, as in the other dynamics entry points ---------------
def test_riemannian_langevin_names_its_start_x0_like_the_flows():
    for func in (riemannian_langevin, brownian_motion, downstairs_flow,
                 lowrank_gradient_descent, lowrank_flow):
        assert "X0" in inspect.signature(func).parameters, func.__name__
    with pytest.raises(ValueError, match="X0 must be square"):
        riemannian_langevin(None, X0=np.ones((2, 3)), depth=2, beta=1.0, step_size=1e-3,
                            n_steps=2, chains=Chains(n_chains=2, seed=0))


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_connection_at_extreme_scales_follows_the_homothety(scale):
    """X -> cX is a homothety of g^N: Gamma_cX = Gamma_X / c, K_cX = c^(2d - 2) K_X, d = 2/3."""
    metric = DLNMetric(RankMatrices(2, 2), depth=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        gamma = metric.christoffels(scale * BASE)
        k = metric.sectional_curvature(A_VEC, B_VEC, scale * BASE)
    np.testing.assert_allclose(gamma * scale, metric.christoffels(BASE), rtol=1e-12, atol=1e-15)
    expected = float(metric.sectional_curvature(A_VEC, B_VEC, BASE)) * scale ** (4 / 3 - 2)
    assert k == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("data_scale", [1e100, 1e150])
def test_hessian_norm_of_completion_with_huge_data(data_scale):
    """The Hessian of a completion loss is the projection onto the observed set: norm 1."""
    loss = MatrixCompletion(mask=OBSERVED, values=data_scale * np.array([[0.0, 2.0], [3.0, 1.0]]))
    assert gradient_lipschitz_constant(loss, np.eye(2)) == pytest.approx(1.0, rel=1e-6)
    tr = gradient_descent(loss, np.eye(2), None, 2, metric=2)  # default step: no false error
    assert tr.status == "completed"


def test_norms_overflow_to_inf_without_warning_dense_and_factored():
    """|Z|_X^2 ~ 1e600 / sigma: not representable, so inf, and no RuntimeWarning leaks."""
    z = 1e300 * np.array([[1.0, 0.3, 0.0], [0.5, -1.0, 0.2], [0.0, 0.1, 0.7]])
    point = random_factored_point(3, 3, 2, seed=0)
    point = FactoredPoint(point.u, 1e-150 * point.s, point.v)
    dense = DLNMetric(RankMatrices(3, 3), depth=2)
    factored = FactoredDLNMetric(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert float(dense.norm(z, 1e-150 * X3)) == np.inf
        tangent = factored.sharp(z, point)
        assert float(factored.squared_norm(1e150 * tangent, point)) == np.inf


def test_kernel_without_degree_at_overflowing_squares_asks_for_the_degree():
    kernel = CallableKernel(lambda a, b: np.sqrt(a) * np.sqrt(b) / (a + b), name="ratio")
    metric = SpectralMetric(RankMatrices(2, 2), kernel)
    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match="degree"):
        metric.sharp(np.ones((2, 2)), np.diag([1e200, 1.0]))
