r"""Geodesics of spectral metrics (:math:`g^N` and friends) as geomstats solvers.

- :class:`HamiltonianExpSolver` — ``exp`` and ``geodesic`` by the co-metric Hamiltonian system
  (GEO25), full-rank and rank-r points;
- :class:`RootLogSolver` — ``log`` (hence ``dist``, ``squared_dist``, ladder transport) by
  root-finding on :math:`\exp_X(V) - Y`;
- :mod:`geodln.geodesics.operators` — differentiable co-metrics (finite and infinite depth,
  power-sum kernels, user hook);
- :mod:`geodln.geodesics.power_family` — the matrix powers a co-metric needs, from one
  eigendecomposition, with Daleckii–Krein derivatives.

geomstats' generic route (Christoffel symbols by automatic differentiation of the metric
matrix) is kept only as a slow reference for the tests and the geodesics benchmark
(``tests/christoffel_reference.py``); it is not part of the package.

:class:`~geodln.SpectralMetric` and :class:`~geodln.DLNMetric` install the two solvers in their
constructor.
"""

from geodln.geodesics.hamiltonian_exp import HamiltonianExpSolver
from geodln.geodesics.operators import (
    DLNCometric,
    InfiniteDepthCometric,
    PowerSumCometric,
    cometric_operator,
    hamiltonian,
)
from geodln.geodesics.power_family import sym_power_family
from geodln.geodesics.root_log import RootLogSolver, TangentCoordinates

__all__ = [
    "HamiltonianExpSolver",
    "RootLogSolver",
    "TangentCoordinates",
    "PowerSumCometric",
    "DLNCometric",
    "InfiniteDepthCometric",
    "cometric_operator",
    "hamiltonian",
    "sym_power_family",
]
