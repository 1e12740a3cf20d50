r"""Geodesics, Levi-Civita connection and curvature of spectral metrics (:math:`g^N` and friends).

The deep-linear-network (DLN) metric :math:`g^N` and the other spectral metrics get their
geomstats geometry from here:

- :class:`HamiltonianExpSolver` — ``exp`` and ``geodesic`` by the co-metric Hamiltonian system
  (adaptive DOP853), full-rank and rank-r points; ``exp_with_derivative`` integrates the
  variational equations too;
- :class:`PowerSumField` — the co-metric of a power-sum kernel and its first derivative in the
  singular frame, in closed form (the Hamiltonian vector field and the Christoffel bilinear
  form; Daleckii–Krein divided differences, exact at repeated singular values);
- :class:`NewtonLogSolver` — ``log`` (hence ``dist``, ``squared_dist``, ladder transport) by a
  batched quasi-Newton iteration (closed-form Jacobian :math:`I - \Gamma_X(V, \cdot)`,
  Broyden updates, exact Jacobians from the variational equations when needed) from the best
  of the root-chart collocation guess (:func:`root_chart_collocation`: the geodesic boundary
  value problem in the chart :math:`U\Sigma^{1/N}V^\top` by Anderson-accelerated Picard
  iteration), a second-order guess and the root-chart guess (:func:`root_chart_velocity`),
  with :class:`RootLogSolver` (root finding, Levenberg–Marquardt) as its fallback;
- :class:`TangentCoordinates` — Riemannian-orthonormal tangent coordinates (batched), the
  unknowns of both log solvers;
- :class:`LeviCivitaMixin` — ``christoffels``, ``curvature``, ``riemann_tensor`` (hence
  geomstats' ``sectional_curvature``, ``ricci_tensor``, ``scalar_curvature``) in entry
  coordinates, and the distance between the components of :math:`GL_d`
  (:func:`check_connected`);
- :mod:`geodln.geodesics.operators` — differentiable co-metrics (finite and infinite depth,
  power-sum kernels, user hook).

:class:`~geodln.SpectralMetric` and :class:`~geodln.DLNMetric` install the solvers in their
constructor and inherit :class:`LeviCivitaMixin`.
"""

from geodln.geodesics.connection import LeviCivitaMixin
from geodln.geodesics.hamiltonian_exp import HamiltonianExpSolver
from geodln.geodesics.newton_log import NewtonLogSolver, check_connected, root_chart_velocity
from geodln.geodesics.operators import (
    DLNCometric,
    InfiniteDepthCometric,
    PowerSumCometric,
    cometric_operator,
    hamiltonian,
)
from geodln.geodesics.power_family import sym_power_family
from geodln.geodesics.power_sum_field import PowerSumField
from geodln.geodesics.root_chart_collocation import root_chart_collocation
from geodln.geodesics.root_log import RootLogSolver
from geodln.geodesics.tangent_coordinates import TangentCoordinates

__all__ = [
    "HamiltonianExpSolver",
    "RootLogSolver",
    "NewtonLogSolver",
    "LeviCivitaMixin",
    "PowerSumField",
    "check_connected",
    "root_chart_velocity",
    "root_chart_collocation",
    "TangentCoordinates",
    "PowerSumCometric",
    "DLNCometric",
    "InfiniteDepthCometric",
    "cometric_operator",
    "hamiltonian",
    "sym_power_family",
]
