r"""Fixed-step Riemannian gradient descent on factored rank-r points, batched.

:math:`X_{k+1} = R_{X_k}(-\eta\,A_{N,X_k}(\nabla E(X_k)))` with the metric-projection
retraction (the truncated SVD of :math:`X + \xi`, :func:`geodln.lowrank.retraction.retract`:
from rank 16 by Gram matrices, r×r inverses and one r×r SVD,
:func:`geodln.lowrank.tangent_truncation.truncate_tangent_step`, certified per member;
otherwise, and for uncertified members, from two thin QRs and a 2r×2r core). This is the
low-rank version of the dense downstairs step
:math:`X \leftarrow P_{M_r}(X - \eta A_{N,X}(\nabla E))` of :func:`geodln.gradient_descent`
(the discrete end-to-end update of ACH18, Arora, Cohen, Hazan, arXiv:1802.06509, Section 5),
and agrees with it to rounding. One step costs
O(|Ω| r + (m + n) r² + r³) per member for completion: no m×n array, independent of the depth.
A batch of B starts runs as one vectorised computation with per-member stopping: the engine's
fixed-step descent (:func:`geodln.flows.descend`) on the factored field
(:class:`geodln.lowrank.field.FactoredField`).
"""

import numpy as np

from geodln.lowrank.cometric import as_factored_metric
from geodln.lowrank.driver import (
    as_batch,
    check_loss,
    check_n_steps,
    check_step_size,
    run_fixed_steps,
)
from geodln.lowrank.field import FactoredField
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import finite_members
from geodln.step_size import default_step_size

__all__ = ["lowrank_gradient_descent"]


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
                             record=None):
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
    step_size : float or array-like, shape=[B], optional
        η > 0, or one step per member of a batched ``X0`` (as :func:`geodln.gradient_descent`;
        member i then runs exactly as it would alone with ``step_size[i]``). Default (None,
        with an int depth ``metric``):
        :func:`geodln.step_size.default_step_size`, the stable step at the start and at the
        estimated solution scale (recorded in ``metadata["step_size"]``).
    n_steps : int
        Number of steps (>= 1; required).
    stop : None, StoppingRules or callable, optional
        Stopping rules checked at every step: a :class:`geodln.flows.StoppingRules`
        (``loss_tol``, ``max_norm``, ``max_wall_time``, ``stop``) or a callable
        ``stop(t, point, loss) -> bool`` receiving one member's factored point.
    record : None, int or Every, optional
        Every step (None), every k steps (int) or :class:`geodln.flows.Every` (``factors=True``
        records U and V too; user metrics are evaluated on the factored point of a member).

    Returns
    -------
    trajectory : Trajectory
        Factored (``state="factored"``: σ at every record, ``final_X`` a
        :class:`FactoredPoint`), batched for a batched ``X0``; ``times = step * step_size``;
        ``steps`` holds the step indices. A diverging member ends with
        ``status="diverged"``, its last finite state and its full record.

    Raises
    ------
    ValueError
        If ``X0`` is not a finite FactoredPoint, ``loss`` is not defined on matrices of
        ``X0``'s shape, ``metric``, ``step_size`` (a per-member array needs a batched ``X0``
        of as many members), ``n_steps``, ``stop`` or ``record`` is invalid, or ``loss`` is
        not finite at ``X0``.

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
    if metric is None:
        raise ValueError("metric (a depth N or a spectral metric) is required")
    x0, single = as_batch(check_start(X0))
    check_loss(loss, x0.shape, "X0")
    if step_size is None:  # the stable step at the start and the solution's scale
        if isinstance(metric, bool) or not isinstance(metric, int | np.integer):
            raise ValueError(f"step_size is required with metric={metric!r} (the default step "
                             "is defined for a depth N)")
        step_size = default_step_size(loss, x0, int(metric))
    metric = as_factored_metric(metric)
    eta = check_step_size(step_size, None if single else x0.batch_shape[0])
    n_steps = check_n_steps(n_steps)
    field = FactoredField(loss, metric, x0.shape, x0.rank)
    return run_fixed_steps(field, field.pack(x0), eta, n_steps, stop, record, single)
