r"""Low-rank (factored) geometry and flows of the DLN at scale: nothing of size m×n is formed.

Every point, tangent vector, loss and descent accepts a leading batch axis (B runs in one
vectorised computation, per-member stopping).

- :class:`FactoredPoint` — :math:`X = U\,\mathrm{diag}(\sigma)\,V^\top` (an
  :class:`geodln.svd_frame.SVDFrame`: one co-metric code path with the dense metric), and
  :class:`FactoredTangent` — :math:`Z = U M V^\top + U_p V^\top + U V_p^\top`
  (:func:`project_to_tangent` projects dense, sparse or low-rank covectors);
- :class:`FactoredSpectralMetric` / :class:`FactoredDLNMetric` — sharp, flat and inner
  products of any spectral metric (the DLN :math:`g^N` among them) in O((m + n) r + r²);
- :func:`retract` / :func:`truncated_svd_of_product` — metric projection onto :math:`M_r`;
- losses from factors: :class:`SparseCompletion` (index arrays, sparse CSR gradient),
  :class:`SparseSensing`, :class:`RankOneSensing`, :func:`random_sparse_completion`;
- dynamics: :func:`lowrank_flow` (projected Runge–Kutta), :func:`lowrank_gradient_descent`
  (Riemannian GD with retraction), :func:`upstairs_gradient_descent` on thin factors
  (:func:`bottleneck_factors`); options :class:`FlowOptions`, ``stop=`` and ``record=``
  (:class:`geodln.flows.StoppingRules`, :class:`geodln.flows.Every` with ``factors=True`` to
  keep U and V); the result is the engine's :class:`geodln.flows.Trajectory` with a factored
  state (``state="factored"``: σ at every record, ``final_X`` a :class:`FactoredPoint`,
  ``trajectory[k]`` member k of a batch).
"""

from geodln.lowrank.cometric import (
    FactoredDLNMetric,
    FactoredSpectralMetric,
    as_factored_metric,
)
from geodln.lowrank.completion import (
    SparseCompletion,
    random_sparse_completion,
    sample_distinct_indices,
)
from geodln.lowrank.descent import lowrank_gradient_descent
from geodln.lowrank.flow import FlowOptions, lowrank_flow
from geodln.lowrank.point import FactoredPoint, NonFiniteError, random_factored_point
from geodln.lowrank.retraction import retract, truncated_svd_of_product
from geodln.lowrank.sensing import RankOneSensing, SparseSensing
from geodln.lowrank.tangent import (
    BatchedSparse,
    FactoredTangent,
    LowRankOperator,
    project_to_tangent,
)
from geodln.lowrank.upstairs import (
    bottleneck_factors,
    end_to_end_factors,
    upstairs_gradient,
    upstairs_gradient_descent,
)

__all__ = [
    "FactoredPoint",
    "FactoredTangent",
    "LowRankOperator",
    "FactoredSpectralMetric",
    "FactoredDLNMetric",
    "SparseCompletion",
    "SparseSensing",
    "RankOneSensing",
    "FlowOptions",
    "BatchedSparse",
    "NonFiniteError",
    "as_factored_metric",
    "bottleneck_factors",
    "end_to_end_factors",
    "lowrank_flow",
    "lowrank_gradient_descent",
    "project_to_tangent",
    "random_factored_point",
    "random_sparse_completion",
    "retract",
    "sample_distinct_indices",
    "truncated_svd_of_product",
    "upstairs_gradient",
    "upstairs_gradient_descent",
]
