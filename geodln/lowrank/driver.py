r"""Arguments of the factored dynamics and the bridge to the engine's fixed-step descent.

The low-rank flow and descents (:mod:`geodln.lowrank.flow`, :mod:`geodln.lowrank.descent`,
:mod:`geodln.lowrank.upstairs`) run on the integrators of :mod:`geodln.flows` through the
factored fields (:mod:`geodln.lowrank.field`); this module holds what they share: the
translation of earlier keywords, argument checks, the per-member user stopping rule
(:func:`engine_rules`) and :func:`run_fixed_steps` (:func:`geodln.flows.descend` on a factored
field: per-member stopping, a member that diverges keeps its last finite state and record).
"""

import copy

import numpy as np

from geodln._checks import check_positive_int, check_step_sizes
from geodln.flows.descent import descend
from geodln.flows.recording import as_record
from geodln.flows.stopping import StoppingRules
from geodln.lowrank.point import FactoredPoint

__all__ = ["stopping_of", "engine_rules", "check_step_size", "check_n_steps",
           "run_fixed_steps", "factored_velocity", "as_batch", "check_loss"]


def stopping_of(stop):
    """Split ``stop`` into ``(rules, user_rule)``.

    Parameters
    ----------
    stop : None, StoppingRules or callable
        A callable is the user rule ``stop(t, point, loss) -> bool`` (point: one member's
        :class:`FactoredPoint`); a :class:`~geodln.flows.StoppingRules` gives ``loss_tol``,
        ``max_norm``, ``max_wall_time`` and its ``stop`` rule (called the same way).

    Returns
    -------
    rules : StoppingRules
        Without a user rule (the norm is computed from σ).
    user : callable or None

    Raises
    ------
    ValueError
        If ``stop`` is none of these.

    Examples
    --------
    >>> from geodln.lowrank.driver import stopping_of
    >>> stopping_of(None)
    (StoppingRules(), None)
    >>> rules, user = stopping_of(lambda t, point, loss: loss < 1e-3)
    >>> callable(user)
    True
    """
    if stop is None:
        return StoppingRules(), None
    if isinstance(stop, StoppingRules):
        rules = copy.copy(stop)
        rules.stop = None
        rules.start_clock()
        return rules, stop.stop
    if callable(stop):
        return StoppingRules(), stop
    raise ValueError(f"stop must be None, a StoppingRules or a callable stop(t, point, loss), "
                     f"got {stop!r}")


def check_step_size(step_size, batch=None):
    """Return ``step_size`` as one positive finite float or one per member (``ValueError``).

    The rule of :func:`geodln.gradient_descent`, shared through
    :func:`geodln._checks.check_step_sizes`: bools (Python or numpy) are not numbers; an array
    ``[B]`` gives each member of a batched start its own step.

    Parameters
    ----------
    step_size : float or array-like, shape=[B]
        :math:`\\eta`, as the caller gave it.
    batch : int or None
        Number of members of the batched start (None: an unbatched start, one step).

    Returns
    -------
    eta : float or ndarray, shape=[B]

    Raises
    ------
    ValueError
        With the message ``step_size must be a positive finite number…``, or ``step_size has
        k entries; a per-member step needs a batched start of as many members…``.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.lowrank.driver import check_step_size
    >>> check_step_size(0.1), check_step_size([0.1, 0.2], batch=2).tolist()
    (0.1, [0.1, 0.2])
    >>> check_step_size(np.True_)
    Traceback (most recent call last):
    ...
    ValueError: step_size must be a positive finite number, got np.True_
    """
    return check_step_sizes(step_size, "step_size", batch)


def check_n_steps(n_steps):
    """Return ``n_steps`` as an int >= 1 (the rule of every gradient-descent entry point).

    Parameters
    ----------
    n_steps : int
        Number of steps, as the caller gave it.

    Returns
    -------
    n_steps : int

    Raises
    ------
    ValueError
        If ``n_steps`` is None or not an integer >= 1 (bools are refused), as
        :func:`geodln.flows.gradient_descent`.

    Examples
    --------
    >>> from geodln.lowrank.driver import check_n_steps
    >>> check_n_steps(1), check_n_steps(3.0)
    (1, 3)
    """
    if n_steps is None:
        raise ValueError("n_steps is required (a positive int)")
    return check_positive_int(n_steps, "n_steps")


def as_batch(point):
    """Return ``(batched point [B, ...], was_single)``; only one batch axis is supported.

    Parameters
    ----------
    point : FactoredPoint
        One point or a batch ``[B]`` of points.

    Returns
    -------
    batched : FactoredPoint
        With one batch axis (B = 1 for a single point).
    was_single : bool
        Whether ``point`` had no batch axis.

    Raises
    ------
    ValueError
        If ``point`` has more than one batch axis.

    Examples
    --------
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> from geodln.lowrank.driver import as_batch
    >>> batched, single = as_batch(x)
    >>> batched.batch_shape, single
    ((1,), True)
    """
    if len(point.batch_shape) > 1:
        raise ValueError(f"X0 may have one batch axis, got batch shape {point.batch_shape}")
    if point.batch_shape:
        return point, False
    return FactoredPoint(point.u[None], point.s[None], point.v[None], check=False), True


def check_loss(loss, shape=None, start="X0"):
    """Return ``loss`` if it has ``value_and_gradient(point)`` (and the start's shape).

    Parameters
    ----------
    loss : object
        The loss the caller passed.
    shape : tuple of int, optional
        ``(m, n)`` of the start's end-to-end matrix, compared with ``loss.shape`` (when the
        loss has one).
    start : str
        Public name of the start in the message.

    Returns
    -------
    loss : object
        The same object.

    Raises
    ------
    ValueError
        Naming ``loss`` otherwise, or naming ``start`` and ``loss`` when their shapes differ.

    Examples
    --------
    >>> from geodln.lowrank import SparseCompletion
    >>> from geodln.lowrank.driver import check_loss
    >>> loss = SparseCompletion(([0], [0]), [1.0], (2, 2))
    >>> check_loss(loss) is loss
    True
    """
    if not callable(getattr(loss, "value_and_gradient", None)):
        raise ValueError("loss must be a factored loss with value_and_gradient(point) (e.g. "
                         f"geodln.lowrank.SparseCompletion), got {type(loss).__name__}")
    expected = getattr(loss, "shape", None)
    if shape is not None and expected is not None and tuple(shape) != tuple(expected):
        raise ValueError(f"{start} gives matrices of shape {tuple(shape)} but loss is defined on "
                         f"{tuple(expected)} matrices")
    return loss


def factored_velocity(loss, metric, point):
    r"""``(E(X), K)`` with :math:`K = -A_X(\nabla E(X))` as a factored tangent (batched).

    Parameters
    ----------
    loss : factored loss
        With ``value_and_gradient(point)``.
    metric : FactoredSpectralMetric
        Its ``sharp`` is the co-metric :math:`A_X`.
    point : FactoredPoint, batch shape [...]
        The points X.

    Returns
    -------
    value : ndarray, shape=[...]
        :math:`E(X)`.
    velocity : FactoredTangent
        :math:`-A_X(\nabla E(X))`, the velocity of the downstairs flow.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)`).

    Examples
    --------
    >>> from geodln.lowrank import random_factored_point, random_sparse_completion
    >>> from geodln.lowrank.cometric import FactoredDLNMetric
    >>> from geodln.lowrank.driver import factored_velocity
    >>> loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    >>> value, velocity = factored_velocity(loss, FactoredDLNMetric(3),
    ...                                     random_factored_point(8, 6, 2, seed=1, batch=2))
    >>> value.shape, type(velocity).__name__
    ((2,), 'FactoredTangent')
    """
    value, grad = loss.value_and_gradient(point)
    return value, -1.0 * metric.sharp(grad, point)


def engine_rules(stop):
    """Return ``stop`` as engine :class:`~geodln.flows.StoppingRules` for factored states.

    The user rule keeps its per-member form ``stop(t, point, loss) -> bool`` (``point`` one
    member's :class:`FactoredPoint`); the engine calls it on the running members.

    Parameters
    ----------
    stop : None, StoppingRules or callable
        See :func:`stopping_of`.

    Returns
    -------
    rules : StoppingRules
        A copy whose ``stop`` (if any) takes the engine's batched arguments.

    Raises
    ------
    ValueError
        If ``stop`` is not None, a StoppingRules or a callable.

    Examples
    --------
    >>> rules = engine_rules(lambda t, point, loss: loss < 1.0)
    >>> rules.stop(np.array([0.0, 1.0]), [None, None], np.array([2.0, 0.5])).tolist()
    [False, True]
    """
    rules, user = stopping_of(stop)
    if user is not None:
        def per_member(t, points, losses):
            return np.array([bool(user(float(t[i]), points[i], float(losses[i])))
                             for i in range(len(t))], dtype=bool)

        rules.stop = per_member
    return rules


def run_fixed_steps(field, y0, eta, n_steps, stop, record, single):
    """Fixed-step descent of a factored field on the engine (:func:`geodln.flows.descend`).

    Parameters
    ----------
    field : FactoredRecords
        The field (its ``record`` becomes ``record``).
    y0 : ndarray, shape=[B, d]
        Start states.
    eta : float
        Step size.
    n_steps : int
        Steps (>= 1).
    stop : None, StoppingRules or callable
        See :func:`engine_rules`.
    record : None, int or Every
        Recording interval and contents (:func:`geodln.flows.recording.as_record`).
    single : bool
        Return member 0 (the caller passed one point).

    Returns
    -------
    trajectory : Trajectory
        Factored (``state="factored"``), batched unless ``single``.

    Raises
    ------
    ValueError
        If the loss is not finite at a start, or ``record`` is not ``Every(k)``.

    Examples
    --------
    >>> from geodln.lowrank import random_sparse_completion, random_factored_point
    >>> from geodln.lowrank.cometric import as_factored_metric
    >>> from geodln.lowrank.field import FactoredField
    >>> loss, _ = random_sparse_completion((6, 5), 2, fraction=0.6, seed=0)
    >>> field = FactoredField(loss, as_factored_metric(3), (6, 5), 2)
    >>> y0 = field.pack(random_factored_point(6, 5, 2, seed=1, batch=2))
    >>> out = run_fixed_steps(field, y0, 0.02, 5, None, 5, False)
    >>> out.status.tolist(), out[0].steps.tolist()
    (['completed', 'completed'], [0, 5])
    """
    record = as_record(record)
    if record.times is not None:
        raise ValueError("record must be Every(k) for gradient descent (At(times) is for flows)")
    field.record = record
    rules = engine_rules(stop)
    out = descend(field, y0, eta, max(int(n_steps), 0), rules, record)
    return out[0] if single else out
