r"""Gradient dynamics upstairs (factors) and downstairs (end-to-end matrix on :math:`M_r`).

One batched engine (Arora–Cohen–Hazan, ACH18; Cohen–Menon–Veraszto, CMV23):

- :func:`downstairs_flow` — :math:`\dot X = -A_{N,X}(\nabla E)` (any depth incl. ∞, any rank,
  any spectral metric), for one start ``[m, n]`` or a batch ``[B, m, n]``;
- :func:`upstairs_flow` — :math:`\dot W_p = -\nabla_{W_p}(E\circ\phi)` (any widths, batched);
- :func:`gradient_descent` — fixed-step GD in either mode, batched, with a per-step log;
- :func:`compare_flows` — both flows from the same balanced start, deviation and costs;
- :class:`Trajectory` — the one result type: dense or factored (U, σ, V) states with a batch
  axis (save/load, measures, ``trajectory[k]``), also of the low-rank dynamics.

Options objects, the same for every entry point: ``metric=`` (an int N is the plain-sum DLN
metric :math:`g^N`), ``solver=`` (:class:`Solver`), ``stop=`` (:class:`StoppingRules`),
``record=`` (:class:`Every` or :class:`At`, with user ``metrics``).

Data path: loss → :math:`\nabla E` → velocity field (:mod:`~geodln.flows.fields`, the only
difference between the modes; the state/field/retraction protocol is documented there) →
integrator (:mod:`~geodln.flows.ode` for a single run, :mod:`~geodln.flows.runge_kutta` for a
batch, :mod:`~geodln.flows.descent` for gradient descent) → :class:`Trajectory`.
"""

from geodln.flows.compare import FlowComparison, compare_flows
from geodln.flows.descent import descend, gradient_descent
from geodln.flows.fields import DownstairsField, UpstairsField, VectorField, resolve_metric
from geodln.flows.gradient_flow import downstairs_flow, run_flow, upstairs_flow
from geodln.flows.ode import Solver
from geodln.flows.recording import At, Every
from geodln.flows.runge_kutta import Tableau, integrate_batch
from geodln.flows.stopping import STATUSES, StoppingRules
from geodln.flows.trajectory import Trajectory

__all__ = [
    "downstairs_flow",
    "upstairs_flow",
    "gradient_descent",
    "compare_flows",
    "FlowComparison",
    "Trajectory",
    "STATUSES",
    "StoppingRules",
    "Solver",
    "Every",
    "At",
    "VectorField",
    "DownstairsField",
    "UpstairsField",
    "resolve_metric",
    "run_flow",
    "integrate_batch",
    "descend",
    "Tableau",
]
