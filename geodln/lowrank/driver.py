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

from geodln._checks import check_positive_int
from geodln.flows.descent import descend
from geodln.flows.recording import Every
from geodln.flows.stopping import StoppingRules
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.trajectory import Record

__all__ = ["stopping_of", "engine_rules", "legacy_arguments", "check_step_size", "check_n_steps",
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


#: Keywords of earlier versions accepted by the descents and the flow (thin compatibility layer).
LEGACY_STOP = ("loss_tol", "max_norm", "max_wall_time")


def legacy_arguments(function, metric, stop, record, legacy, extra=()):
    """Map the keywords of earlier versions onto ``metric``/``stop``/``record``.

    Earlier signatures took ``depth``, ``normalized``, ``loss_tol``, ``max_norm``,
    ``max_wall_time``, ``record_every`` and ``store_factors``; they are still accepted and
    translated here (``extra`` names further keywords the caller handles itself).

    Parameters
    ----------
    function : str
        Name of the public function (for messages).
    metric, stop, record
        The new-style arguments as given.
    legacy : dict
        The extra keywords.
    extra : tuple of str
        Keywords the caller handles.

    Returns
    -------
    metric, stop, record

    Raises
    ------
    ValueError
        On an unknown keyword or a keyword given twice (old and new style).
    """
    known = {"depth", "normalized", "record_every", "store_factors", *LEGACY_STOP, *extra}
    unknown = set(legacy) - known
    if unknown:
        raise ValueError(f"unknown argument(s) {sorted(unknown)} of {function}")
    if "depth" in legacy or "normalized" in legacy:
        if metric is not None:
            raise ValueError(f"{function}: give metric or depth, not both")
        from geodln.lowrank.cometric import FactoredDLNMetric

        if legacy.get("depth") is None:
            raise ValueError(f"{function}: depth must be given with normalized")
        metric = FactoredDLNMetric(legacy["depth"], bool(legacy.get("normalized", False)))
    rules = {k: legacy[k] for k in LEGACY_STOP if legacy.get(k) is not None}
    if rules:
        if isinstance(stop, StoppingRules):
            raise ValueError(f"{function}: give stop=StoppingRules(...) or {sorted(rules)}, "
                             "not both")
        stop = StoppingRules(**rules, stop=stop)
    if "record_every" in legacy or legacy.get("store_factors"):
        if record is not None:
            raise ValueError(f"{function}: give record or record_every/store_factors, not both")
        record = Record(legacy.get("record_every", 1), bool(legacy.get("store_factors")))
    if metric is None:
        raise ValueError(f"{function}: metric (a depth N or a spectral metric) is required")
    return metric, stop, record


def check_step_size(step_size):
    """Return ``step_size`` as a positive finite float (``ValueError`` naming it otherwise).

    Raises
    ------
    ValueError
        With the message ``step_size must be a positive finite number, got …``.
    """
    if isinstance(step_size, bool):
        raise ValueError(f"step_size must be a positive finite number, got {step_size!r}")
    try:
        eta = float(step_size)
    except (TypeError, ValueError):
        raise ValueError(f"step_size must be a positive finite number, got {step_size!r}") \
            from None
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"step_size must be a positive finite number, got {step_size!r}")
    return eta


def check_n_steps(n_steps):
    """Return ``n_steps`` as an int >= 0.

    Raises
    ------
    ValueError
        If ``n_steps`` is not an integer >= 1 (bools are refused).
    """
    return check_positive_int(n_steps, "n_steps", minimum=0)


def as_batch(point):
    """Return ``(batched point [B, ...], was_single)``; only one batch axis is supported.

    Raises
    ------
    ValueError
        If ``point`` has more than one batch axis.
    """
    if len(point.batch_shape) > 1:
        raise ValueError(f"X0 may have one batch axis, got batch shape {point.batch_shape}")
    if point.batch_shape:
        return point, False
    return FactoredPoint(point.u[None], point.s[None], point.v[None], check=False), True


def check_loss(loss):
    """Return ``loss`` if it has ``value_and_gradient(point)`` (a factored loss).

    Raises
    ------
    ValueError
        Naming ``loss`` otherwise.
    """
    if not callable(getattr(loss, "value_and_gradient", None)):
        raise ValueError("loss must be a factored loss with value_and_gradient(point) (e.g. "
                         f"geodln.lowrank.SparseCompletion), got {type(loss).__name__}")
    return loss


def factored_velocity(loss, metric, point):
    r"""``(E(X), K)`` with :math:`K = -A_X(\nabla E(X))` as a factored tangent (batched)."""
    value, grad = loss.value_and_gradient(point)
    return value, -1.0 * metric.sharp(grad, point)


def engine_rules(stop):
    """Return ``stop`` as engine :class:`~geodln.flows.StoppingRules` for factored states.

    The user rule keeps its per-member form ``stop(t, point, loss) -> bool`` (``point`` one
    member's :class:`FactoredPoint`); the engine calls it on the running members.

    Raises
    ------
    ValueError
        If ``stop`` is not None, a StoppingRules or a callable.
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
        The field (its ``record`` is the :class:`Record`).
    y0 : ndarray, shape=[B, d]
        Start states.
    eta : float
        Step size.
    n_steps : int
        Steps (>= 0).
    stop : None, StoppingRules or callable
        See :func:`engine_rules`.
    record : Record
        Recording interval and contents.
    single : bool
        Return member 0 (the caller passed one point).

    Returns
    -------
    trajectory : LowRankTrajectory or LowRankBatch

    Raises
    ------
    ValueError
        If the loss is not finite at a start.
    """
    field.record = record
    rules = engine_rules(stop)
    out = descend(field, y0, eta, max(int(n_steps), 0), rules, Every(record.every))
    return out[0] if single else out
