r"""Brownian motion and Langevin dynamics of deep linear networks (GM24).

Downstairs, on square full-rank matrices with the DLN metric :math:`g^N`, and upstairs, on the
factors; one module per piece of the math:

- :mod:`~geodln.langevin.riemannian` — the Riemannian Langevin equation on :math:`(M_d, g^N)`
  (generator :math:`\tfrac1\beta\Delta_{g^N} - \mathrm{grad}E\cdot\nabla`, invariant law
  :math:`\propto e^{-\beta E}d\mathrm{vol}_{g^N}`), boundary behaviour, entropic drift:
  :func:`riemannian_langevin`, :func:`brownian_motion`;
- :mod:`~geodln.langevin.entries` — Itô drift :math:`\Delta_{g^N}X = (N-1)X(X^\top X)^{-1/N}` and
  cometric square-root noise in the entries of X (``scheme="entries"``):
  :func:`coordinate_laplacian`, :func:`cometric_sqrt_noise`;
- :mod:`~geodln.langevin.root_chart` — the root chart :math:`Y = U\Sigma^{1/N}V^\top` and its
  coefficients (default scheme): :func:`root_coordinates`, :func:`root_chart_coefficients`,
  :func:`svd`;
- :mod:`~geodln.langevin.singular_values` — the singular-value SDE for a spectral energy:
  :func:`singular_value_langevin`;
- :mod:`~geodln.langevin.factors` — balanced-manifold (projection scheme) and free Langevin
  dynamics of the factors and their pushforward laws: :func:`factor_langevin`,
  :class:`FactorLangevinPath`, :func:`balanced_projection_step`;
- :mod:`~geodln.langevin.balanced_chart` — the same balanced-manifold Langevin dynamics
  integrated in the chart :math:`W_p = Q_p\Lambda Q_{p-1}^\top` (signed :math:`\Lambda`), regular
  through rank-deficient X (use it for N >= 3): :func:`balanced_chart_langevin`;
- :mod:`~geodln.langevin.path` — :class:`LangevinPath` (recorded chains, saved through
  :mod:`geodln.storage`) and the argument handling the schemes share.
"""

from geodln.langevin.balanced_chart import balanced_chart_langevin
from geodln.langevin.entries import cometric_sqrt_noise, coordinate_laplacian
from geodln.langevin.factors import (
    FactorLangevinPath,
    balanced_projection_step,
    factor_langevin,
)
from geodln.langevin.path import Chains, LangevinPath, LangevinScheme, as_generator
from geodln.langevin.riemannian import brownian_motion, riemannian_langevin
from geodln.langevin.root_chart import root_chart_coefficients, root_coordinates, svd
from geodln.langevin.singular_values import singular_value_langevin

__all__ = [
    "LangevinPath",
    "Chains",
    "LangevinScheme",
    "coordinate_laplacian",
    "cometric_sqrt_noise",
    "riemannian_langevin",
    "brownian_motion",
    "singular_value_langevin",
    "root_coordinates",
    "root_chart_coefficients",
    "svd",
    "as_generator",
    "FactorLangevinPath",
    "factor_langevin",
    "balanced_projection_step",
    "balanced_chart_langevin",
]
