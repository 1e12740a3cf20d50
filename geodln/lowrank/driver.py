r"""The fixed-step descent loop shared by factored downstairs GD and thin-factor upstairs GD.

One loop, a batch of B members, per-member stopping: a member that meets a stopping rule or
diverges is frozen (its last *finite* state and its record are kept) while the others go on.
A step whose result is not finite is never passed to a factorisation (LAPACK may hang on NaN,
see :func:`geodln.lowrank.retraction.retract_or_nan`), and numpy floating-point warnings are
silenced inside the loop: divergence is reported through ``status="diverged"``, not warnings.

The dynamics enter through a *problem* object with the methods

- ``evaluate(state) -> (value [B], direction)`` (loss and descent direction at every member),
- ``advance(state, direction, eta) -> state`` (one step; NaN members where it overflows),
- ``finite(state) -> bool [B]``,
- ``select(mask, new, old)`` for states and directions (``old=None``: zero where not mask),
- ``point(state) -> FactoredPoint`` (the end-to-end point, for rules and records),
- ``n_members(state) -> B``.
"""

import copy
import inspect
import time

import numpy as np

from geodln._checks import check_positive_int
from geodln.flows.stopping import StoppingRules
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.trajectory import FactoredRecorder, Record

__all__ = ["stopping_of", "check_rules", "legacy_arguments", "check_step_size", "check_n_steps",
           "fixed_step_descent", "factored_velocity", "as_batch", "first_value", "check_loss"]


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

    Examples
    --------
    >>> from geodln.lowrank.driver import legacy_arguments
    >>> legacy_arguments("lowrank_gradient_descent", None, None, None,
    ...                  {"depth": 3, "loss_tol": 1e-6})
    (FactoredDLNMetric(depth=3, normalized=False), StoppingRules(loss_tol=1e-06), None)
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

    Parameters
    ----------
    step_size : float
        :math:`\\eta`, as the caller gave it.

    Returns
    -------
    eta : float

    Raises
    ------
    ValueError
        With the message ``step_size must be a positive finite number, got …``.

    Examples
    --------
    >>> from geodln.lowrank.driver import check_step_size
    >>> check_step_size(0.1)
    0.1
    >>> check_step_size(True)
    Traceback (most recent call last):
    ...
    ValueError: step_size must be a positive finite number, got True
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
        If ``n_steps`` is not an integer >= 0 (bools are refused).

    Examples
    --------
    >>> from geodln.lowrank.driver import check_n_steps
    >>> check_n_steps(0), check_n_steps(3)
    (0, 3)
    """
    return check_positive_int(n_steps, "n_steps", minimum=0)


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


def first_value(value, name="loss"):
    """Check the loss at the start is finite for every member.

    Parameters
    ----------
    value : float or array-like, shape=[B]
        Loss values at the start.
    name : str
        Name used in the error message.

    Returns
    -------
    value : ndarray, shape=[B]

    Raises
    ------
    ValueError
        Naming ``loss`` if a start value is NaN/inf.

    Examples
    --------
    >>> from geodln.lowrank.driver import first_value
    >>> first_value(2.0)
    array([2.])
    >>> first_value([1.0, np.inf])
    Traceback (most recent call last):
    ...
    ValueError: loss is not finite at the start point (members [1])
    """
    value = np.atleast_1d(np.asarray(value, float))
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} is not finite at the start point (members "
                         f"{np.flatnonzero(~np.isfinite(value)).tolist()})")
    return value


def check_loss(loss):
    """Return ``loss`` if it has ``value_and_gradient(point)`` (a factored loss).

    Parameters
    ----------
    loss : object
        The loss the caller passed.

    Returns
    -------
    loss : object
        The same object.

    Raises
    ------
    ValueError
        Naming ``loss`` otherwise.

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


def check_rules(rules, user, t, point, loss, step=None):
    """Apply ``rules`` (norm from σ) and the user rule to one member; ``(status, msg)`` or None.

    Works with both forms of :meth:`geodln.flows.StoppingRules.check`: the per-run one
    returning ``(status, message)`` or None, and the batched one returning a status array.

    Parameters
    ----------
    rules : StoppingRules
        Rules without the user callable (see :func:`stopping_of`).
    user : callable or None
        ``user(t, point, loss) -> bool``.
    t : float
        Time (or ``step * step_size``).
    point : FactoredPoint
        One member.
    loss : float
        Its loss.
    step : int, optional
        Its step count (for ``max_steps``).

    Returns
    -------
    hit : tuple of str or None
        ``(status, message)`` when a rule fires, else None.

    Examples
    --------
    >>> from geodln.flows import StoppingRules
    >>> from geodln.lowrank import random_factored_point
    >>> from geodln.lowrank.driver import check_rules
    >>> x = random_factored_point(8, 6, 2, seed=1)
    >>> check_rules(StoppingRules(loss_tol=1.0), None, 0.0, x, 0.5)
    ('loss_tol', 'loss_tol at t=0')
    >>> check_rules(StoppingRules(), None, 0.0, x, 0.5) is None
    True
    """
    s = np.asarray(point.s, float)
    if "velocity_norm" in inspect.signature(rules.check).parameters:  # batched rules
        status = str(rules.check(np.array([t]), s[None, None, :], np.array([loss]),
                                 steps=None if step is None else np.array([step]))[0])
        hit = None if status == "running" else (status, f"{status} at t={t:.6g}")
    else:
        hit = rules.check(t, s, loss)
    if hit is None and user is not None and bool(user(t, point, loss)):
        hit = ("stopped", f"user stopping rule fired at t={t:.6g}")
    return hit


def fixed_step_descent(problem, state, eta, n_steps, *, stop=None, record=None,
                       single=False):
    r"""Run ``n_steps`` fixed steps of size ``eta`` on a batch; per-member stopping.

    Parameters
    ----------
    problem : object
        See the module docstring.
    state : object
        Batched start state (B members).
    eta : float
        Step size :math:`\eta > 0`.
    n_steps : int
        Number of steps (>= 0).
    stop : None, StoppingRules or callable
        See :func:`stopping_of`; checked at every step.
    record : None, int or Record
        See :class:`~geodln.lowrank.trajectory.Record`.
    single : bool
        The caller passed one point: return one trajectory instead of a batch.

    Returns
    -------
    result : dict
        ``recorder`` (:class:`FactoredRecorder`), ``state`` (final), ``point`` (final
        end-to-end points), ``statuses``, ``n_steps`` (per member), ``wall_time``.

    Raises
    ------
    ValueError
        If the loss is not finite at the start.

    Examples
    --------
    >>> from geodln.lowrank import random_factored_point, random_sparse_completion
    >>> from geodln.lowrank.cometric import FactoredDLNMetric
    >>> from geodln.lowrank.descent import FactoredDescent
    >>> from geodln.lowrank.driver import fixed_step_descent
    >>> loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    >>> x0 = random_factored_point(8, 6, 2, seed=1, batch=2)
    >>> out = fixed_step_descent(FactoredDescent(loss, FactoredDLNMetric(3)), x0, 0.02, 5,
    ...                          record=5)
    >>> out["n_steps"], out["point"].batch_shape
    (array([5, 5]), (2,))
    """
    clock = time.perf_counter()
    rules, user = stopping_of(stop)
    rec = Record.of(record)
    check_loss(problem.loss)
    n_members = problem.n_members(state)
    recorder = FactoredRecorder(rec, () if single else (n_members,))
    statuses = [("completed", f"ran {n_steps} steps")] * n_members
    taken = np.zeros(n_members, dtype=np.int64)
    value, direction = problem.evaluate(state)
    value = first_value(value)
    point = problem.point(state)
    active = np.ones(n_members, bool)
    with np.errstate(all="ignore"):
        for b in range(n_members):
            member = point[b]
            recorder.add(b, 0.0, member, value[b], step=0)
            hit = check_rules(rules, user, 0.0, member, value[b], step=0)
            if hit is not None:
                statuses[b], active[b] = hit, False
        needs_point = user is not None or any(
            getattr(rules, name, None) is not None
            for name in ("loss_tol", "max_norm", "max_wall_time", "max_steps", "grad_tol"))
        k = 0
        while k < n_steps and np.any(active):
            k += 1
            t = k * eta
            new = problem.advance(state, problem.select(active, direction, None), eta)
            new_value, new_direction = problem.evaluate(new)
            new_value = np.atleast_1d(np.asarray(new_value, float))
            good = active & problem.finite(new) & np.isfinite(new_value)
            for b in np.flatnonzero(active & ~good):
                statuses[b] = ("diverged", f"the state overflowed or became non-finite at "
                                           f"step {k} (t={t:.6g}); last finite state kept")
            state = problem.select(good, new, state)
            direction = problem.select(good, new_direction, direction)
            value = np.where(good, new_value, value)
            taken[good] = k
            active = good
            record_now = k % rec.every == 0 or k == n_steps
            if not (record_now or needs_point):
                # cheap path: only the overflow guard on the loss value
                continue
            point = problem.point(state)
            for b in np.flatnonzero(active):
                member = point[b]
                hit = check_rules(rules, user, t, member, value[b], step=k)
                if hit is not None:
                    statuses[b], active[b] = hit, False
                if record_now or hit is not None:
                    recorder.add(b, t, member, value[b], step=k)
    point = problem.point(state)
    for b in range(n_members):  # every member's last state is recorded
        recorder.add(b, float(taken[b] * eta), point[b], value[b], step=int(taken[b]))
    return {"recorder": recorder, "state": state, "point": point if not single else point[0],
            "statuses": statuses, "n_steps": taken, "wall_time": time.perf_counter() - clock}
