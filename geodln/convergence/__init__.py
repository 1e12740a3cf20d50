r"""Convergence, acceleration and exact dynamics of deep linear networks.

Small modules, one concept each:

- :mod:`~geodln.convergence.mode_dynamics` — exact sigmoidal mode trajectories of aligned
  starts (Saxe, McClelland, Ganguli, SMG14);
- :mod:`~geodln.convergence.guarantees` — deficiency margin, approximate balancedness and the
  linear-rate guarantee of gradient descent (Arora, Cohen, Golowich, Hu, ACGH19);
- :mod:`~geodln.convergence.end_to_end` — the end-to-end update of gradient descent
  and its second-order refinement (Arora, Cohen, Hazan, ACH18);
- :mod:`~geodln.convergence.curl` — the curl of the end-to-end velocity field (ACH18's "depth
  is not a regulariser");
- :mod:`~geodln.convergence.lp_regression` — the ℓ_p regression loss of ACH18's experiments;
- :mod:`~geodln.convergence.coupling` — block-diagonal completion and the coupling diagnostic
  (Shin, Yun, SY26).
"""

from geodln.convergence.coupling import (
    block_diagonal_completion,
    block_masks,
    coupling_strength,
)
from geodln.convergence.curl import curl_asymmetry, end_to_end_velocity, velocity_jacobian
from geodln.convergence.end_to_end import (
    end_to_end_update,
    preconditioned_gradient,
    second_order_term,
)
from geodln.convergence.guarantees import (
    ACGHConditions,
    acgh_balancedness_bound,
    acgh_bound,
    acgh_conditions,
    acgh_rate,
    acgh_step_bound,
    deficiency_margin,
)
from geodln.convergence.lp_regression import LpRegression
from geodln.convergence.mode_dynamics import (
    aligned_start,
    mode_strength,
    mode_strengths,
    mode_time,
    transition_time,
)

__all__ = [
    "mode_time",
    "mode_strength",
    "transition_time",
    "mode_strengths",
    "aligned_start",
    "deficiency_margin",
    "acgh_balancedness_bound",
    "acgh_step_bound",
    "acgh_rate",
    "acgh_bound",
    "ACGHConditions",
    "acgh_conditions",
    "preconditioned_gradient",
    "second_order_term",
    "end_to_end_update",
    "end_to_end_velocity",
    "velocity_jacobian",
    "curl_asymmetry",
    "block_masks",
    "block_diagonal_completion",
    "coupling_strength",
    "LpRegression",
]
