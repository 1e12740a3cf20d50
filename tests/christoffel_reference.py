"""geomstats' generic geodesic route for g^N: a slow, independent reference for geodesics.

Christoffel symbols by autograd of ``DLNMetric.metric_matrix`` (the inverse of the Kronecker-sum
matrix of A, built with the Daleckii–Krein ``sym_power``; full rank, finite depth), the Koszul
formula of geomstats' ``RiemannianMetric.christoffels``, the geodesic ODE integrated by
geomstats' ``ExpODESolver`` + ``GSIVPIntegrator(rk4)``, and geomstats' ``LogShootingSolver``
for log. Nothing here uses geodln.geodesics.

geomstats 2.8's ``inner_product_derivative_matrix`` and ``geodesic_equation`` assume vector
points (``geomstats-notes.md`` §2.1); the overrides below flatten the m x n points row-major,
the coordinates of ``metric_matrix``.

Used by tests/test_geodesics.py and benchmarks/bench_geodesics.py.
"""

import autograd
import autograd.numpy as anp
import numpy as np
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.riemannian_metric import RiemannianMetric
from geomstats.numerics.geodesic import ExpODESolver, LogShootingSolver
from geomstats.numerics.ivp import GSIVPIntegrator
from geomstats.numerics.optimization import ScipyMinimize

from geodln import DLNMetric, RankMatrices


class ChristoffelDLNMetric(DLNMetric):
    """g^N with geomstats' generic christoffel exp and shooting log (full rank only)."""

    def __init__(self, space, depth, normalized=False, n_steps=20):
        super().__init__(space, depth, normalized)
        self.exp_solver = ExpODESolver(
            space, integrator=GSIVPIntegrator(n_steps=n_steps, step_type="rk4")
        )
        # second derivatives through sym_power's VJP are not available: finite differences
        self.log_solver = LogShootingSolver(
            space, optimizer=ScipyMinimize(method="L-BFGS-B", autodiff_jac=False)
        )

    def christoffels(self, base_point):
        """geomstats' generic Koszul formula (not geodln's closed form)."""
        return RiemannianMetric.christoffels(self, base_point)

    def squared_dist(self, point_a, point_b):
        """geomstats' generic squared distance (the shooting log)."""
        return RiemannianMetric.squared_dist(self, point_a, point_b)

    def dist(self, point_a, point_b):
        """geomstats' generic distance."""
        return RiemannianMetric.dist(self, point_a, point_b)

    def inner_product_derivative_matrix(self, base_point):
        """d g_ij / d x_k in row-major entry coordinates, derivative index last."""
        m, n = self._space.shape

        def flat_metric(xflat):
            return self.metric_matrix(anp.reshape(xflat, (m, n)))

        jac = autograd.jacobian(flat_metric)
        x = np.asarray(base_point, dtype=float)
        if x.ndim == 2:
            return jac(x.ravel())
        flat = x.reshape((-1, m * n))
        out = np.stack([jac(row) for row in flat])
        return out.reshape(x.shape[:-2] + (m * n,) * 3)

    def geodesic_equation(self, state):
        """(X, V) -> (V, -Gamma(V, V)) for matrix-shaped states [..., 2, m, n]."""
        m, n = self._space.shape
        position = state[..., 0, :, :]
        velocity = state[..., 1, :, :]
        gamma = self.christoffels(position)
        vflat = anp.reshape(velocity, velocity.shape[:-2] + (m * n,))
        acc = -anp.einsum("...kij,...i,...j->...k", gamma, vflat, vflat)
        acc = anp.reshape(acc, velocity.shape)
        return anp.stack([velocity, acc], axis=-3)


def christoffel_space(d, depth, n_steps=20):
    """A d x d full-rank space equipped with :class:`ChristoffelDLNMetric`."""
    space = RankMatrices(d, d, equip=False)
    space.equip_with_metric(ChristoffelDLNMetric, depth=depth, n_steps=n_steps)
    return space


# -------------------------------------------------------------------------------------------
# g^N on flattened points, fully differentiable by autograd (curvature reference)
# -------------------------------------------------------------------------------------------
class FlatDLNMetric(RiemannianMetric):
    """g^N on ``Euclidean(m * n)`` (row-major entries), geomstats' generic geometry throughout.

    The metric matrix is the inverse of the Kronecker sum sum_j L^{(N-j)/N} (x) R^{(j-1)/N}
    with the powers taken by ``autograd.numpy.linalg.eigh``, which autograd differentiates to
    any order at *distinct* eigenvalues: geomstats' christoffels, riemann_tensor, ricci_tensor,
    scalar and sectional curvature then run unchanged (vector points). Nothing here uses
    geodln. Use at points with well-separated singular values only.
    """

    def __init__(self, space, m, n, depth):
        super().__init__(space)
        self.m, self.n, self.depth = m, n, depth

    def metric_matrix(self, base_point):
        m, n, N = self.m, self.n, self.depth
        x = anp.reshape(base_point, (m, n))

        def power(s, p):
            if p == 0:
                return anp.eye(s.shape[0])
            w, q = anp.linalg.eigh(s)
            return anp.dot(q * w**p, q.T)

        left, right = anp.dot(x, x.T), anp.dot(x.T, x)
        total = 0.0
        for j in range(1, N + 1):
            total = total + anp.kron(power(left, (N - j) / N), power(right, (j - 1) / N))
        return anp.linalg.inv(total)


def flat_space(m, n, depth):
    """``Euclidean(m * n)`` equipped with :class:`FlatDLNMetric`."""
    space = Euclidean(m * n, equip=False)
    space.equip_with_metric(FlatDLNMetric, m=m, n=n, depth=depth)
    return space
