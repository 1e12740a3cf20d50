"""The integrator driver shared by both flows: :func:`scipy.integrate.solve_ivp` on a field.

:func:`integrate` takes a :class:`~geodln.flows.fields.VectorField` (downstairs or upstairs),
integrates ``y' = field.velocity(y)``, counts right-hand-side evaluations, applies the stopping
rules of :mod:`geodln.flows.stopping` as terminal events, and returns a
:class:`~geodln.flows.trajectory.Trajectory`. Integrator failures (e.g. a trajectory that blows
up between two guard checks) end the run with ``status="failed"`` and the trajectory so far.
"""

import time

import numpy as np
from scipy.integrate import solve_ivp

from geodln.flows.trajectory import Trajectory

__all__ = ["integrate", "check_t_span", "check_t_eval", "check_tolerance"]


def check_t_span(t_span):
    """Return ``(t0, t1)`` floats with ``t0 < t1`` or raise ``ValueError``.

    Raises
    ------
    ValueError
        With the message ``t_span must be a pair (t0, t1) of numbers, got …``; or ``t_span must
        be finite with t0 < t1, got …``.
    """
    try:
        t0, t1 = (float(t) for t in t_span)
    except (TypeError, ValueError):
        raise ValueError(f"t_span must be a pair (t0, t1) of numbers, got {t_span!r}") from None
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise ValueError(f"t_span must be finite with t0 < t1, got {t_span!r}")
    return t0, t1


def check_t_eval(t_eval, t_span):
    """Return ``t_eval`` as a sorted 1-d float array inside ``t_span`` (or None).

    Raises
    ------
    ValueError
        With the message ``t_eval must be a non-empty 1-d array of finite times``; or ``t_eval
        must be strictly increasing``; or ``t_eval must lie within t_span=…``.
    """
    if t_eval is None:
        return None
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
        raise ValueError("t_eval must be a non-empty 1-d array of finite times")
    if np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be strictly increasing")
    if t_eval[0] < t_span[0] or t_eval[-1] > t_span[1]:
        raise ValueError(f"t_eval must lie within t_span={t_span}")
    return t_eval


def check_tolerance(value, name):
    """Return a positive finite float or raise ``ValueError`` naming ``name``.

    Raises
    ------
    ValueError
        With the message ``… must be a positive number, got …``.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _status_of(sol, statuses):
    if sol.status == 0:
        return "completed", "reached the end of t_span"
    if sol.status == 1:
        for te, status in zip(sol.t_events, statuses):
            if len(te):
                return status, f"{status} event at t={te[-1]:.6g}"
    t_end = sol.t[-1] if sol.t.size else float("nan")
    return "failed", (f"integrator failed near t={t_end:.6g} ({sol.message}); a solution that "
                      "blows up in finite time ends this way, use max_norm to stop it earlier")


def integrate(field, start, t_span, rules, *, method="RK45", rtol=1e-8, atol=1e-10,
              t_eval=None, max_step=np.inf, metadata=None):
    """Integrate the gradient flow of ``field`` from ``start`` and record a trajectory.

    Parameters
    ----------
    field : VectorField
    start : array-like or list of array-like
        X0 (downstairs) or factors (upstairs), validated by ``field.pack``.
    t_span : tuple of float
        ``(t0, t1)``.
    rules : StoppingRules
    method : str
        Any :func:`scipy.integrate.solve_ivp` method.
    rtol, atol : float
        Integrator tolerances.
    t_eval : array-like, optional
        Record only these times (plus the stopping point, if a rule fires); default: every
        accepted step.
    max_step : float
        Largest step.
    metadata : dict, optional
        Extra settings stored in the trajectory.

    Returns
    -------
    trajectory : Trajectory
    """
    t_span = check_t_span(t_span)
    t_eval = check_t_eval(t_eval, t_span)
    rtol = check_tolerance(rtol, "rtol")
    atol = check_tolerance(atol, "atol")
    y0 = field.pack(start)
    meta = {"method": method, "rtol": rtol, "atol": atol, "t_span": list(t_span)}
    meta.update(field.metadata())
    meta.update(metadata or {})
    n_rhs = 0

    def rhs(t, y):
        nonlocal n_rhs
        n_rhs += 1
        return field.velocity(y)

    rules.start_clock()
    x0 = field.point(y0)
    fired = rules.check(t_span[0], x0, float(field.loss._value(x0)))
    clock = time.perf_counter()
    if fired is not None:
        ts, ys = np.array([t_span[0]]), y0[None]
        status, message = fired
    else:
        events, statuses = rules.events(field)
        with np.errstate(over="ignore", invalid="ignore"):
            sol = solve_ivp(rhs, t_span, y0, method=method, t_eval=t_eval, events=events,
                            rtol=rtol, atol=atol, max_step=max_step)
        ts, ys = sol.t, sol.y.T
        status, message = _status_of(sol, statuses)
        if sol.status == 1 and t_eval is not None:
            # append the stopping point (solve_ivp only returns t_eval points)
            stops = [(te[-1], ye[-1]) for te, ye in zip(sol.t_events, sol.y_events) if len(te)]
            t_stop, y_stop = max(stops, key=lambda pair: pair[0])
            if ts.size == 0 or t_stop > ts[-1]:
                ts = np.append(ts, t_stop)
                ys = np.concatenate([ys.reshape(-1, y0.size), y_stop[None]])
        if ts.size == 0:  # failed before the first t_eval point: keep the start
            ts, ys = np.array([t_span[0]]), y0[None]
    wall = time.perf_counter() - clock
    xs = field.points(ys)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.asarray(field.loss._value(xs), dtype=float).reshape(-1)
    extras = field.record_extras(ys)
    return Trajectory(ts, xs, losses, mode=field.mode, status=status, message=message,
                      n_rhs=n_rhs, wall_time=wall, metadata=meta, **extras)
