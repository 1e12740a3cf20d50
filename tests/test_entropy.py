"""Tests of geodln.entropy: Menon-Yu orbit volume, entropy gradient, free energy (reference §5).

Independent references:
- c_d = vol(O_d) in the metric tr(xi^T eta): c_1 = 2 (two points), c_2 = 4 sqrt(2) pi from the
  length of the rotation circle measured as a polyline, c_3 from a quadrature of the
  Riemannian volume density of the exponential chart of SO(3) (numerical Jacobian of expm),
  and the known value vol(SO(3)) = 2^{9/2} pi^2, i.e. c_3 = 2^{11/2} pi^2 (SO(3) is RP^3 of
  radius 2 in the half-trace metric, volume 8 pi^2; the trace metric scales volumes by 2^{3/2});
- orbit volume: sqrt det of the Gram matrix of the orbit map
  Omega -> (Omega_p W_p - W_p Omega_{p-1})_p built numerically at a balanced lift with random
  frames, on an orthonormal basis of so(d)^{N-1}, times c_d^{N-1};
- entropy gradient: g^N(grad S, Z) = dS(Z) by central finite differences.
"""

import warnings

import numpy as np
import pytest
from brute import expm, numerical_jacobian, random_orthogonal
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gamma

from geodln.entropy import (
    entropy,
    entropy_gradient,
    free_energy,
    log_orbit_volume,
    log_orthogonal_group_volume,
)
from geodln.losses import MatrixCompletion
from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices

KNOWN_C = {1: 2.0, 2: 4 * np.sqrt(2) * np.pi, 3: 2**5.5 * np.pi**2}


# ------------------------------------------------------------------------------------------
# c_d
# ------------------------------------------------------------------------------------------
def test_c1_two_points():
    # O(1) = {+1, -1}: a 0-dimensional group, counting measure
    assert np.exp(log_orthogonal_group_volume(1)) == pytest.approx(2.0, rel=1e-14)


def test_c2_circle_length():
    theta = np.linspace(0.0, 2 * np.pi, 200001)
    cos, sin = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    length = np.sum(np.linalg.norm(np.diff(rot, axis=0), axis=(-2, -1)))  # Frobenius metric
    c2 = 2 * length  # two components: rotations and reflections
    np.testing.assert_allclose(c2, 4 * np.sqrt(2) * np.pi, rtol=1e-9)
    np.testing.assert_allclose(np.exp(log_orthogonal_group_volume(2)), c2, rtol=1e-9)


def _hat(a):
    return np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])


def test_c3_exponential_chart_quadrature():
    # vol(SO(3)) = int_{|a| < pi} sqrt det(J^T J) da for the chart a -> expm(hat(a)),
    # J the numerical Jacobian into R^9 (Frobenius metric); the density is isotropic
    rng = np.random.default_rng(0)
    nodes, weights = np.polynomial.legendre.leggauss(16)
    t = 0.5 * np.pi * (nodes + 1.0)
    w = 0.5 * np.pi * weights

    def density(a):
        jac = numerical_jacobian(lambda b: expm(_hat(b)), a, eps=1e-6)
        return np.sqrt(np.linalg.det(jac.T @ jac))

    dirs = rng.standard_normal((2, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    dens = np.array([density(ti * dirs[0]) for ti in t])
    for ti in t[::5]:  # isotropy: the density depends on |a| only
        np.testing.assert_allclose(density(ti * dirs[1]), dens[t == ti][0], rtol=1e-7)
    vol_so3 = np.sum(w * 4 * np.pi * t**2 * dens)
    np.testing.assert_allclose(vol_so3, 2**4.5 * np.pi**2, rtol=1e-7)
    np.testing.assert_allclose(np.exp(log_orthogonal_group_volume(3)), 2 * vol_so3, rtol=1e-7)


def test_cd_known_values_and_recursion():
    for d, c in KNOWN_C.items():
        np.testing.assert_allclose(np.exp(log_orthogonal_group_volume(d)), c, rtol=1e-13)
    # fibration O(d) -> S^{d-1}, U -> U e_1, fibre O(d-1): a horizontal xi = e e_1^T - e_1 e^T
    # has |xi|^2 = 2|e|^2 in the trace metric and moves U e_1 by |e|, so the base is the sphere
    # of radius sqrt 2 and c_d / c_{d-1} = 2^{(d-1)/2} |S^{d-1}|
    for d in range(2, 8):
        sphere = 2 * np.pi ** (d / 2) / gamma(d / 2)
        ratio = np.exp(log_orthogonal_group_volume(d) - log_orthogonal_group_volume(d - 1))
        np.testing.assert_allclose(ratio, sphere * 2 ** ((d - 1) / 2), rtol=1e-12)


# ------------------------------------------------------------------------------------------
# orbit volume against the Gram determinant of the orbit map
# ------------------------------------------------------------------------------------------
def _balanced_lift(x, depth, rng):
    u, s, vt = np.linalg.svd(x)
    frames = [vt.T] + [random_orthogonal(x.shape[0], rng) for _ in range(depth - 1)] + [u]
    lam = s ** (1.0 / depth)
    ws = [(frames[p + 1] * lam) @ frames[p].T for p in range(depth)]
    prod = np.eye(x.shape[0])
    for w in ws:
        prod = w @ prod
    np.testing.assert_allclose(prod, x, atol=1e-12)
    for a, b in zip(ws[:-1], ws[1:]):
        np.testing.assert_allclose(b.T @ b, a @ a.T, atol=1e-12)
    return ws


def _orbit_gram_log_volume(ws, c_d):
    d, depth = ws[0].shape[0], len(ws)
    basis = []
    for i in range(d):
        for j in range(i + 1, d):
            e = np.zeros((d, d))
            e[i, j], e[j, i] = 1 / np.sqrt(2), -1 / np.sqrt(2)  # unit in tr(xi^T eta)
            basis.append(e)
    columns = []
    for p in range(1, depth):  # Omega_p, p = 1..N-1; Omega_0 = Omega_N = 0
        for e in basis:
            omegas = [np.zeros((d, d))] * (depth + 1)
            omegas = list(omegas)
            omegas[p] = e
            tangent = [omegas[q + 1] @ ws[q] - ws[q] @ omegas[q] for q in range(depth)]
            columns.append(np.concatenate([t.ravel() for t in tangent]))
    jac = np.array(columns).T
    sign, logdet = np.linalg.slogdet(jac.T @ jac) if columns else (1.0, 0.0)
    assert sign > 0
    return (depth - 1) * np.log(c_d) + 0.5 * logdet


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("kind", ["random", "tie", "identity", "tiny"])
def test_orbit_volume_vs_gram_determinant(d, depth, kind):
    rng = np.random.default_rng(10 * d + depth)
    spectra = {
        "random": rng.uniform(0.3, 2.5, d),
        "tie": np.array([1.7, 1.7, 0.4][:d]),
        "identity": np.ones(d),
        "tiny": np.array([1.2, 0.8, 1e-3][-d:]),
    }
    s = spectra[kind]
    x = (random_orthogonal(d, rng) * s) @ random_orthogonal(d, rng).T
    expected = _orbit_gram_log_volume(_balanced_lift(x, depth, rng), KNOWN_C[d])
    np.testing.assert_allclose(log_orbit_volume(x, depth), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        log_orbit_volume(singular_values=s, depth=depth), expected, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(entropy(x, depth), expected, rtol=1e-9, atol=1e-9)


def test_orbit_volume_pair_factor_at_collision_and_zero():
    # sqrt(N) sigma^{1 - 1/N} per colliding pair; sigma_i^{1 - 1/N} when sigma_j = 0
    for depth in (2, 3, 6):
        c = (depth - 1) * log_orthogonal_group_volume(2)
        got = log_orbit_volume(singular_values=[1.3, 1.3], depth=depth)
        np.testing.assert_allclose(got - c, np.log(np.sqrt(depth) * 1.3 ** (1 - 1 / depth)))
        got0 = log_orbit_volume(singular_values=[1.3, 0.0], depth=depth)
        np.testing.assert_allclose(got0 - c, np.log(1.3 ** (1 - 1 / depth)), rtol=1e-13)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=4),
    st.integers(1, 10),
    st.integers(0, 3),
)
def test_orbit_volume_finite_at_ties_and_symmetric(s, depth, n_ties):
    s = np.array(s + s[:n_ties])  # repeated values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        val = log_orbit_volume(singular_values=s, depth=depth)
        perm = log_orbit_volume(singular_values=s[::-1], depth=depth)
    if depth == 1:
        assert val == 0.0  # the fiber is a point
    elif np.sum(s == 0) <= 1:
        assert np.isfinite(val)
    else:
        assert val == -np.inf  # two zero singular values: the formula's limit is 0
    assert not np.isnan(val)
    np.testing.assert_allclose(val, perm, rtol=1e-12)


def test_orbit_volume_continuous_through_collision():
    for depth in (2, 3, 5):
        base = log_orbit_volume(singular_values=[2.0, 1.0, 1.0], depth=depth)
        near = log_orbit_volume(singular_values=[2.0, 1.0 + 1e-9, 1.0], depth=depth)
        np.testing.assert_allclose(near, base, atol=1e-8)


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("depth", [2, 3, 7])
def test_orbit_volume_shrinks_under_scaling(d, depth):
    # S(tX) = S(X) + (1 - 1/N) d(d-1)/2 log t: vol(O_{tX}) -> 0 as t -> 0
    x = (random_orthogonal(d, 1) * np.linspace(2.0, 0.5, d)) @ random_orthogonal(d, 2).T
    ts = np.array([1.0, 1e-2, 1e-4, 1e-8])
    vals = np.array([log_orbit_volume(t * x, depth) for t in ts])
    slope = np.diff(vals) / np.diff(np.log(ts))
    np.testing.assert_allclose(slope, (1 - 1 / depth) * d * (d - 1) / 2, rtol=1e-8)
    assert np.all(np.diff(vals) < 0)


def test_orbit_volume_batched():
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((2, 4, 3, 3))
    got = log_orbit_volume(xs, 3)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got[1, 2], log_orbit_volume(xs[1, 2], 3), rtol=1e-14)


# ------------------------------------------------------------------------------------------
# entropy gradient
# ------------------------------------------------------------------------------------------
def _fd_entropy(x, z, depth, h=1e-5):
    return (entropy(x + h * z, depth) - entropy(x - h * z, depth)) / (2 * h)


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("kind", ["random", "identity", "tie"])
def test_entropy_gradient_vs_finite_differences(d, depth, kind):
    rng = np.random.default_rng(d * 10 + depth)
    if kind == "random":
        x = rng.standard_normal((d, d))
    elif kind == "identity":
        x = np.eye(d)
    else:
        s = np.concatenate([[1.5, 1.5], np.linspace(0.9, 0.4, d - 2)])
        x = (random_orthogonal(d, rng) * s) @ random_orthogonal(d, rng).T
    grad = entropy_gradient(x, depth)
    assert np.all(np.isfinite(grad))
    for normalized in (False, True):
        metric = DLNMetric(RankMatrices(d, d), depth, normalized=normalized)
        grad = entropy_gradient(x, depth, normalized=normalized)
        for _ in range(3):
            z = rng.standard_normal((d, d))
            np.testing.assert_allclose(
                metric.inner_product(grad, z, x), _fd_entropy(x, z, depth), rtol=1e-6, atol=1e-7
            )


def _reference_coefficients(s, depth):
    """s_k from the closed form of reference §5 (distinct sigma only)."""
    N = depth
    out = np.zeros_like(s)
    for k in range(s.size):
        for l in range(s.size):
            if l != k:
                out[k] += N * s[k] ** (3 - 2 / N) / (s[k] ** 2 - s[l] ** 2) - s[k] / (
                    s[k] ** (2 / N) - s[l] ** (2 / N)
                )
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.05, 5.0), min_size=2, max_size=4).filter(
        lambda v: np.min(np.diff(np.sort(v))) > 1e-2
    ),
    st.integers(2, 12),
)
def test_entropy_gradient_closed_form_distinct(s, depth):
    s = np.sort(np.array(s))[::-1]
    grad = entropy_gradient(np.diag(s), depth)
    np.testing.assert_allclose(np.diag(grad), _reference_coefficients(s, depth), rtol=1e-9)
    np.testing.assert_allclose(grad - np.diag(np.diag(grad)), 0.0, atol=1e-14)


def test_entropy_gradient_at_collision_limit():
    # the reference form cancels at a tie; the stable form is continuous there
    for depth in (2, 3, 8):
        tie = entropy_gradient(np.diag([2.0, 1.0, 1.0]), depth)
        near = entropy_gradient(np.diag([2.0, 1.0 + 1e-6, 1.0]), depth)
        np.testing.assert_allclose(tie, near, atol=1e-5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            zero = entropy_gradient(np.diag([2.0, 1.0, 0.0]), depth)
        assert np.all(np.isfinite(zero))


def test_entropy_gradient_batched():
    xs = np.random.default_rng(2).standard_normal((3, 3, 3))
    got = entropy_gradient(xs, 4)
    for k in range(3):
        np.testing.assert_allclose(got[k], entropy_gradient(xs[k], 4), rtol=1e-13)


# ------------------------------------------------------------------------------------------
# free energy
# ------------------------------------------------------------------------------------------
def test_free_energy_value_and_gradient():
    loss = MatrixCompletion(shape=(2, 2), indices=([0, 1], [0, 1]), values=[1.0, 1.0])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2))
    beta, depth = 2.5, 3
    f = free_energy(loss, beta, depth)
    np.testing.assert_allclose(f(x), loss.value(x) - entropy(x, depth) / beta, rtol=1e-14)
    g = free_energy(lambda y: loss.value(y), beta, depth)  # plain callable
    np.testing.assert_allclose(g.value(x), f.value(x), rtol=1e-14)
    metric = DLNMetric(RankMatrices(2, 2), depth)
    grad = f.riemannian_gradient(x)
    for _ in range(3):
        z = rng.standard_normal((2, 2))
        h = 1e-5
        fd = (f(x + h * z) - f(x - h * z)) / (2 * h)
        np.testing.assert_allclose(metric.inner_product(grad, z, x), fd, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="euclidean_gradient"):
        g.riemannian_gradient(x)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def test_bad_input():
    x = np.eye(3)
    with pytest.raises(ValueError, match="exactly one"):
        log_orbit_volume(depth=2)
    with pytest.raises(ValueError, match="exactly one"):
        log_orbit_volume(x, 2, singular_values=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="depth"):
        log_orbit_volume(x)
    with pytest.raises(ValueError, match="depth"):
        log_orbit_volume(x, 0)
    with pytest.raises(ValueError, match="depth"):
        log_orbit_volume(x, np.inf)
    with pytest.raises(ValueError, match="base_point"):
        log_orbit_volume(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="base_point"):
        log_orbit_volume(np.full((2, 2), np.nan), 2)
    with pytest.raises(ValueError, match="singular_values"):
        log_orbit_volume(singular_values=[1.0, -1.0], depth=2)
    with pytest.raises(ValueError, match="singular_values"):
        log_orbit_volume(singular_values=[1.0, np.nan], depth=2)
    with pytest.raises(ValueError, match="base_point"):
        entropy_gradient(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="depth"):
        entropy_gradient(x, -1)
    with pytest.raises(ValueError, match="dim"):
        log_orthogonal_group_volume(0)
    with pytest.raises(ValueError, match="beta"):
        free_energy(lambda y: 0.0, 0.0, 2)
    with pytest.raises(ValueError, match="loss"):
        free_energy(3.0, 1.0, 2)
