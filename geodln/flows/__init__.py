r"""Gradient dynamics upstairs (factors) and downstairs (end-to-end matrix on :math:`M_r`).

- :func:`downstairs_flow` — :math:`\dot X = -A_{N,X}(\nabla E)` (any depth incl. ∞, any rank,
  any spectral metric);
- :func:`upstairs_flow` — :math:`\dot W_p = -\nabla_{W_p}(E\circ\phi)` (any widths);
- :func:`gradient_descent` — fixed-step GD in either mode, with a per-step log;
- :func:`compare_flows` — both flows from the same balanced start, deviation and costs;
- :class:`Trajectory` — the recorded result (save/load, measures).

Data path: loss → ∇E → velocity field (:mod:`~geodln.flows.fields`, the only
difference between the two modes) → shared driver (:mod:`~geodln.flows.ode` or
:mod:`~geodln.flows.descent`) → :class:`Trajectory`.
"""

from geodln.flows.compare import FlowComparison, compare_flows
from geodln.flows.descent import gradient_descent
from geodln.flows.fields import DownstairsField, UpstairsField, VectorField
from geodln.flows.gradient_flow import downstairs_flow, upstairs_flow
from geodln.flows.stopping import StoppingRules
from geodln.flows.trajectory import STATUSES, Trajectory

__all__ = [
    "downstairs_flow",
    "upstairs_flow",
    "gradient_descent",
    "compare_flows",
    "FlowComparison",
    "Trajectory",
    "STATUSES",
    "StoppingRules",
    "VectorField",
    "DownstairsField",
    "UpstairsField",
]
