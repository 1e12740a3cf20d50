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
