r"""Fixed-step Riemannian gradient descent on factored rank-r points, batched.

:math:`X_{k+1} = R_{X_k}(-\eta\,A_{N,X_k}(\nabla E(X_k)))` with the metric-projection
retraction (truncated SVD of :math:`X + \xi` from a 2r×2r core,
:func:`geodln.lowrank.retraction.retract`). This is the low-rank version of the dense
downstairs step :math:`X \leftarrow P_{M_r}(X - \eta A_{N,X}(\nabla E))` of
:func:`geodln.gradient_descent` (the discrete end-to-end update of ACH18, Arora, Cohen, Hazan,
arXiv:1802.06509, Section 5), and agrees with it to rounding. One step costs
O(|Ω| r + (m + n) r² + r³) per member for completion: no m×n array, independent of the depth.
A batch of B starts runs as one vectorised computation with per-member stopping
(:mod:`geodln.lowrank.driver`).
"""

import numpy as np

from geodln.lowrank.cometric import as_factored_metric
from geodln.lowrank.driver import (
    as_batch,
    check_n_steps,
    check_step_size,
    factored_velocity,
    fixed_step_descent,
    legacy_arguments,
)
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import finite_members, retract_or_nan
from geodln.lowrank.tangent import FactoredTangent
from geodln.step_size import default_step_size

__all__ = ["lowrank_gradient_descent", "FactoredDescent"]


class FactoredDescent:
    """The downstairs factored problem for :func:`geodln.lowrank.driver.fixed_step_descent`.

    Parameters
    ----------
    loss : factored loss
        ``value_and_gradient(point)`` on batched factored points.
    metric : FactoredSpectralMetric

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (gradient descent on the
       end-to-end matrix, first-order agreement with factor descent).
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Abstract and Section 1 (metric projection, the
       truncated SVD, as a retraction on fixed-rank matrices).

    Examples
    --------
    Two members, five steps of the shared fixed-step loop:

    >>> from geodln.lowrank import random_factored_point, random_sparse_completion
    >>> loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    >>> from geodln.lowrank.cometric import FactoredDLNMetric
    >>> from geodln.lowrank.descent import FactoredDescent
    >>> from geodln.lowrank.driver import fixed_step_descent
    >>> x0 = random_factored_point(8, 6, 2, seed=1, batch=2)
    >>> out = fixed_step_descent(FactoredDescent(loss, FactoredDLNMetric(3)), x0, 0.02, 5)
    >>> out["statuses"], out["n_steps"]
    ([('completed', 'ran 5 steps'), ('completed', 'ran 5 steps')], array([5, 5]))
    """

    def __init__(self, loss, metric):
        self.loss, self.metric = loss, metric

    def evaluate(self, state):
        """``(values [B], velocity)`` at the batch ``state``."""
        return factored_velocity(self.loss, self.metric, state)

    def advance(self, state, direction, eta):
        """Retracted step; NaN members where it is not finite."""
        return retract_or_nan(state, direction, eta)

    @staticmethod
    def finite(state):
        """Members with finite factors."""
        return state.is_finite()

    @staticmethod
    def select(mask, new, old):
        """Member-wise choice (points or tangents); ``old=None`` means zero."""
        if isinstance(new, FactoredPoint):
            return new.where(mask, old)
        m = np.asarray(mask, bool)[:, None, None]
        if old is None:
            return FactoredTangent(*(np.where(m, a, 0.0) for a in (new.m_core, new.up, new.vp)))
        return FactoredTangent(np.where(m, new.m_core, old.m_core), np.where(m, new.up, old.up),
                               np.where(m, new.vp, old.vp))

    @staticmethod
    def point(state):
        """Return the state (it is the point)."""
        return state

    @staticmethod
    def n_members(state):
        """Batch size B."""
        return state.batch_shape[0]


def check_start(X0):
    """Return ``X0`` if it is a finite :class:`FactoredPoint`.

    Raises
    ------
    ValueError
        If ``X0`` is not a FactoredPoint or holds NaN/inf.
    """
    if not isinstance(X0, FactoredPoint):
        raise ValueError(
            f"X0 must be a FactoredPoint (use FactoredPoint.from_dense(x, rank) for a dense "
            f"start), got {type(X0).__name__}"
        )
    if not np.all(finite_members(X0.u) & finite_members(X0.v) & finite_members(X0.s, 1)):
        raise ValueError("X0 contains NaN or inf entries")
    return X0


def lowrank_gradient_descent(loss, X0, metric=None, step_size=None, n_steps=None, *, stop=None,
                             record=None, **legacy):
    r"""Riemannian gradient descent :math:`X \leftarrow R_X(-\eta A_{X}(\nabla E))`, batched.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
        Anything with ``value_and_gradient(point)`` on (batched) factored points.
    X0 : FactoredPoint
        Start, one point or a batch ``[B, ...]`` (each member runs with its own stopping).
    metric : int, numpy.inf, FactoredSpectralMetric, geodln.SpectralMetric or SpectralKernel
        An int is the depth N of :math:`g^N` (plain sum :math:`A_{N,X}`); see
        :func:`geodln.lowrank.cometric.as_factored_metric`.
    step_size : float, optional
        η > 0. Default (None, with an int depth ``metric``):
        :func:`geodln.step_size.default_step_size`, the stable step at the start and at the
        estimated solution scale (recorded in ``metadata["step_size"]``).
    n_steps : int
        Number of steps (>= 0).
    stop : None, StoppingRules or callable, optional
        Stopping rules checked at every step: a :class:`geodln.flows.StoppingRules`
        (``loss_tol``, ``max_norm``, ``max_wall_time``, ``stop``) or a callable
        ``stop(t, point, loss) -> bool`` receiving one member's factored point.
    record : None, int or Record, optional
        Every step (None), every k steps (int) or a
        :class:`~geodln.lowrank.trajectory.Record` (factors, user metrics evaluated on
        factored points).

    Returns
    -------
    trajectory : LowRankTrajectory or LowRankBatch
        ``times = step * step_size``; ``steps`` holds the step indices. A diverging member
        ends with ``status="diverged"``, its last finite state and its full record.

    Raises
    ------
    ValueError
        If ``X0`` is not a finite FactoredPoint, ``metric``, ``step_size``, ``n_steps``,
        ``stop`` or ``record`` is invalid, or ``loss`` is not finite at ``X0``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 and Section 5.
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Algorithm 1 (Riemannian descent on
       :math:`M_r` with the metric-projection retraction).

    Examples
    --------
    >>> from geodln.lowrank import random_sparse_completion, random_factored_point
    >>> loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    >>> x0 = random_factored_point(8, 6, 2, seed=1)
    >>> tr = lowrank_gradient_descent(loss, x0, 3, 0.02, 20)
    >>> tr.status, bool(tr.final_loss < tr.loss[0])
    ('completed', True)
    """
    metric, stop, record = legacy_arguments("lowrank_gradient_descent", metric, stop, record,
                                            legacy)
    x0, single = as_batch(check_start(X0))
    if step_size is None:  # the stable step at the start and the solution's scale
        if isinstance(metric, bool) or not isinstance(metric, int | np.integer):
            raise ValueError(f"step_size is required with metric={metric!r} (the default step "
                             "is defined for a depth N)")
        step_size = default_step_size(loss, x0, int(metric))
    metric = as_factored_metric(metric)
    eta, n_steps = check_step_size(step_size), check_n_steps(n_steps)
    out = fixed_step_descent(FactoredDescent(loss, metric), x0, eta, n_steps, stop=stop,
                             record=record, single=single)
    meta = {"step_size": eta, "rank": x0.rank, "kernel": repr(metric.kernel),
            "retraction": "metric projection (truncated SVD of a 2r x 2r core)"}
    return out["recorder"].result(
        out["point"], out["statuses"], mode="downstairs", n_rhs=(out["n_steps"] + 1).tolist(),
        wall_time=out["wall_time"], metadata=meta)
