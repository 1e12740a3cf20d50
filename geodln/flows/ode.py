"""Single runs through :func:`scipy.integrate.solve_ivp`, and the solver options :class:`Solver`.

:func:`integrate` takes a :class:`~geodln.flows.fields.VectorField` and one start, integrates
``y' = field.velocity(y)``, counts right-hand-side evaluations, turns the
:class:`~geodln.flows.stopping.StoppingRules` into terminal events and returns a single-run
:class:`~geodln.flows.trajectory.Trajectory`.

The default method ``"auto"`` does not stall once a run has converged: a converged gradient
flow is stiff (the Hessian's large eigenvalues bound an explicit step, while nothing moves), so
explicit RK45 takes thousands of tiny steps to reach a late end time. ``"auto"`` uses LSODA
(Adams/BDF with automatic stiffness detection; its finite-difference Jacobian costs d
right-hand sides) for states of at most :data:`AUTO_LSODA_MAX_DIM` entries, and RK45 above
(where a dense finite-difference Jacobian would be too expensive; use ``grad_tol`` to stop a
large converged run). Batched starts use the per-member embedded Runge–Kutta method of
:mod:`geodln.flows.runge_kutta` instead.
"""

import time

import numpy as np
from scipy.integrate import solve_ivp

from geodln._checks import check_positive_real, check_start_loss, real_scalar
from geodln.flows.recording import evaluate_metrics
from geodln.flows.runge_kutta import integrate_batch
from geodln.flows.stopping import OVERFLOW_NORM, describe, frobenius_norms, is_blow_up
from geodln.flows.trajectory import Trajectory

__all__ = ["Solver", "integrate", "check_t_span", "AUTO_LSODA_MAX_DIM"]

#: Largest state size for which ``method="auto"`` picks LSODA for a single run.
AUTO_LSODA_MAX_DIM = 64
METHODS = ("auto", "RK45", "DOP853", "RK23", "LSODA", "Radau", "BDF")
#: Explicit Runge–Kutta methods: a NaN velocity rejects the trial step (invariant domains).
EXPLICIT = ("RK45", "DOP853", "RK23")
LEFT_DOMAIN = ("stepped across the singular set (det X changed sign, which the exact flow "
               "cannot do); the run ends at its last state inside; use an explicit method "
               "(RK45, DOP853, RK23), whose steps that leave it are rejected")


def check_t_span(t_span):
    """Return ``(t0, t1)`` floats with ``t0 < t1`` or raise ``ValueError`` naming ``t_span``.

    Parameters
    ----------
    t_span : tuple of float
        ``(t0, t1)``.

    Returns
    -------
    t_span : tuple of float

    Raises
    ------
    ValueError
        If it is not a pair of finite numbers with ``t0 < t1``.

    Examples
    --------
    >>> check_t_span((0, 2))
    (0.0, 2.0)
    """
    try:
        t0, t1 = (float(t) for t in t_span)
    except (TypeError, ValueError):
        raise ValueError(f"t_span must be a pair (t0, t1) of numbers, got {t_span!r}") from None
    if isinstance(t_span[0], bool) or isinstance(t_span[1], bool):
        raise ValueError(f"t_span must be a pair (t0, t1) of numbers, got {t_span!r}")
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise ValueError(f"t_span must be finite with t0 < t1, got {t_span!r}")
    return t0, t1


def _tolerance(value, name):
    return check_positive_real(value, name)


class Solver:
    """Options of the adaptive integrators.

    Parameters
    ----------
    method : str
        ``"auto"`` (default: LSODA for small single runs, RK45 otherwise and for batches),
        ``"RK45"``/``"DOP853"``/``"RK23"`` (batched with a step size per member, or
        ``solve_ivp`` for a single run — except downstairs runs of depth N >= 2, which use the
        batched engine for its rejection of steps that cross the singular set),
        ``"LSODA"``/``"Radau"``/``"BDF"`` (``solve_ivp``; batches run member by member; a
        downstairs run of depth N >= 2 that crosses the singular set ends ``"failed"``).
    rtol, atol : float
        Relative and absolute tolerances. ``atol`` is in the units of the state: for a problem
        at scale c (states of norm ~c, e.g. 1e150 or 1e-150) pass ``atol`` times c, so the
        error control is the one of the unscaled problem.
    max_step : float
        Largest step (default unbounded).
    first_step : float, optional
        First step (default: scipy's Hairer–Wanner estimate).

    Raises
    ------
    ValueError
        If a method is unknown or a tolerance is not positive.

    Examples
    --------
    >>> Solver("DOP853", rtol=1e-10).method
    'DOP853'
    """

    def __init__(self, method="auto", rtol=1e-8, atol=1e-10, max_step=np.inf, first_step=None):
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.rtol = _tolerance(rtol, "rtol")
        self.atol = _tolerance(atol, "atol")
        if real_scalar(max_step) is None or not real_scalar(max_step) > 0:
            raise ValueError(f"max_step must be a positive number, got {max_step!r}")
        self.max_step = float(max_step)
        self.first_step = None if first_step is None else _tolerance(first_step, "first_step")

    @classmethod
    def coerce(cls, solver):
        """Return ``solver`` as Solver (None: defaults; a string: that method).

        Raises
        ------
        ValueError
            If ``solver`` is none of these.
        """
        if solver is None:
            return cls()
        if isinstance(solver, cls):
            return solver
        if isinstance(solver, str):
            try:
                return cls(solver)
            except ValueError as exc:
                raise ValueError(f"solver: {exc}") from None
        raise ValueError(f"solver must be a Solver, a method name or None, got {solver!r}")

    def single_method(self, dim):
        """Return the ``solve_ivp`` method for a single run with ``dim`` state entries."""
        if self.method == "auto":
            return "LSODA" if dim <= AUTO_LSODA_MAX_DIM else "RK45"
        return self.method

    def metadata(self, method):
        """JSON-serialisable description."""
        return {"method": method, "rtol": self.rtol, "atol": self.atol}

    def __repr__(self):
        return f"Solver({self.method!r}, rtol={self.rtol:g}, atol={self.atol:g})"


class _Latch:
    """Event function for a condition checked at step ends (see geodln.flows.stopping)."""

    terminal, direction = True, -1

    def __init__(self, condition):
        self.condition = condition
        self.t_fired = None

    def __call__(self, t, y):
        if self.t_fired is not None:  # 0 at the firing time: a root even for a zero-length step
            return 0.0 if t == self.t_fired else (-1.0 if t > self.t_fired else 1.0)
        if self.condition(t, y):
            self.t_fired = t
            return -1.0
        return 1.0


def _events(field, rules, cache):
    """Event functions of the stopping rules for ``solve_ivp`` and their statuses."""
    events, statuses = [], []

    def add(fn, direction, status):
        fn.terminal, fn.direction = True, direction
        events.append(fn)
        statuses.append(status)

    def norm_of(y):
        n = float(field.point_norm(y[None])[0])  # scaled: inf only past the float range
        return n if np.isfinite(n) else np.inf

    # a latch, not a root: past the overflow bound the dense output may be inf/NaN on both
    # sides of the step, where scipy's root finding would raise instead of stopping
    add(_Latch(lambda t, y: norm_of(y) > OVERFLOW_NORM), -1, "diverged")
    if rules.loss_tol is not None:
        tol = rules.loss_tol
        add(lambda t, y: float(field.loss_value(y[None])[0]) - tol, -1, "loss_tol")
    if rules.max_norm is not None:
        bound = rules.max_norm
        add(lambda t, y: norm_of(y) - bound, 1, "max_norm")
    if rules.grad_tol is not None:
        def small_velocity(t, y):
            k = cache["f"] if cache["y"] is not None and np.array_equal(cache["y"], y) \
                else field.velocity(y[None])[0]
            return float(field.velocity_norm(k[None])[0]) <= rules.grad_tol  # scaled

        add(_Latch(small_velocity), -1, "grad_tol")
    if rules.stop is not None:
        def user(t, y):
            x = field.point(y[None])
            return bool(rules.stop(t, x[0], float(field.loss_value(y[None])[0])))

        add(_Latch(user), -1, "stopped")
    if rules.max_steps is not None:
        seen = {"t": -np.inf, "n": 0}

        def steps(t, y):
            if t > seen["t"]:
                seen["t"], seen["n"] = t, seen["n"] + 1
            return seen["n"] >= rules.max_steps

        add(_Latch(steps), -1, "max_steps")
    if rules.max_wall_time is not None:
        add(_Latch(lambda t, y: rules.elapsed() >= rules.max_wall_time), -1, "wall_time")
    return events, statuses


def _lsoda_first_step(y0, f0, t_span, solver):
    r"""LSODA's own first step, computed scaled, where ODEPACK's formula over- or underflows.

    ODEPACK's LSODA starts with :math:`h_0 = (1/(\tau w_0^2) + \tau\|f_0/w\|_\infty^2)^{-1/2}`
    (:math:`\tau` = rtol clipped to [100 u, 1e-3], :math:`w_0 = \max(|t_0|, |t_1|)`, error
    weights :math:`w = \mathrm{rtol}|y_0| + \mathrm{atol}`), capped by the span and
    ``max_step``. For states or velocities near the top of the float range over short spans
    (a flow of norm 1e150 runs on a time scale :math:`c^{-(2-2/N)}`) the square overflows,
    :math:`h_0 = 0` and LSODA never advances. Returns None where the formula is finite (LSODA
    computes it itself, unchanged), else the same value evaluated without overflow.
    """
    t0, t1 = t_span
    tdist, w0 = abs(t1 - t0), np.float64(max(abs(t0), abs(t1)))
    tol = np.float64(min(max(solver.rtol, 100 * np.finfo(float).eps), 1e-3))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        s = np.max(np.abs(f0) / (solver.rtol * np.abs(y0) + solver.atol))
        plain = 1.0 / np.sqrt(1.0 / (tol * w0 * w0) + tol * s**2)
        if np.isfinite(plain) and plain > 0:
            return None
        p, q = np.sqrt(tol) * w0, 1.0 / (np.sqrt(tol) * s)  # h0 = 1/sqrt(1/p^2 + 1/q^2)
        small, large = min(p, q), max(p, q)
        h0 = small / np.hypot(1.0, small / large)
    if not (np.isfinite(h0) and h0 > 0):
        return None
    return float(min(h0, tdist, solver.max_step))


def integrate(field, y0, t_span, rules, solver, record):
    """Integrate the gradient flow of ``field`` from one state with ``solve_ivp``.

    Parameters
    ----------
    field : VectorField
        The velocity field (state protocol of :mod:`geodln.flows.fields`).
    y0 : ndarray, shape=[1, d]
        Validated start state (``field.pack``).
    t_span : tuple of float
        ``(t0, t1)``.
    rules : StoppingRules
        Stopping rules (terminal events).
    solver : Solver
        Method and tolerances.
    record : Every or At
        What to record.

    Returns
    -------
    trajectory : Trajectory
        A single run (no batch axis).

    Raises
    ------
    ValueError
        If the loss is not finite at the start (naming ``loss``) or the record times leave
        ``t_span``.

    Examples
    --------
    >>> from geodln.flows import Solver, StoppingRules
    >>> from geodln.flows.fields import DownstairsField
    >>> from geodln.flows.ode import integrate
    >>> from geodln.flows.recording import At
    >>> from geodln.losses import razin_cohen_completion
    >>> field = DownstairsField(razin_cohen_completion(), 2)
    >>> traj = integrate(field, field.pack(0.5 * np.eye(2)), (0.0, 1.0), StoppingRules(),
    ...                  Solver(), At([0.0, 0.5, 1.0]))
    >>> traj.status, traj.times
    ('completed', array([0. , 0.5, 1. ]))
    """
    t0, t1 = t_span
    y_start = y0[0]
    method = solver.single_method(y_start.size)
    t_eval = record.times
    if t_eval is not None and (t_eval[0] < t0 or t_eval[-1] > t1):
        raise ValueError(f"record times must lie within t_span={t_span}")
    meta = {**solver.metadata(method), "t_span": [t0, t1], "integrator": "solve_ivp"}
    meta.update(field.metadata())
    loss0 = float(field.loss_value(y0)[0])
    check_start_loss(loss0)
    n_rhs = 0
    cache = {"y": None, "f": None}
    domain = field.domain_reference(y0)
    if domain is not None and domain[0] == 0:
        domain = None  # a start of lower rank than the field's: no component to keep
    if domain is not None and method in EXPLICIT:
        # scipy's solve_ivp has no rejection hook: the batched engine rejects a step that
        # leaves the invariant domain (the same method, tableau and step-size control)
        return integrate_batch(field, y0, t_span, rules, solver, record, method=method)[0]
    last_inside = {"t": t0, "y": y0}
    crossed = False

    def rhs(t, y):
        nonlocal n_rhs
        n_rhs += 1
        f = field.velocity(y[None])[0]
        cache["y"], cache["f"] = y, f
        return f

    rules.start_clock()
    clock = time.perf_counter()
    k0 = field.velocity(y0)
    n_rhs += 1
    status = rules.check(np.array([t0]), field.point(y0), np.array([loss0]),
                         field.velocity_norm(k0), np.array([0]), batched=False)[0]
    if status != "running":
        ts, ys = np.array([t0]), y0
    else:
        events, statuses = _events(field, rules, cache)
        if domain is not None:  # implicit methods: detect only
            def left(t, y):  # called once at each accepted step end
                if field.in_domain(last_inside["y"], y[None], domain)[0]:
                    last_inside["t"], last_inside["y"] = t, y[None].copy()
                    return False
                return True

            events.append(_Latch(left))
            statuses.append("left_domain")
        opts = {"max_step": solver.max_step}
        if solver.first_step is not None:
            opts["first_step"] = solver.first_step
        elif method == "LSODA":
            first = _lsoda_first_step(y_start, k0[0], (t0, t1), solver)
            if first is not None:
                opts["first_step"] = first
        with np.errstate(over="ignore", invalid="ignore"):
            sol = solve_ivp(rhs, (t0, t1), y_start, method=method, t_eval=t_eval,
                            events=events, rtol=solver.rtol, atol=solver.atol, **opts)
        ts, ys = sol.t, sol.y.T
        if sol.status == 0:
            status = "completed"
        elif sol.status == 1:
            fired = [(te[-1], s, ye[-1]) for te, s, ye in zip(sol.t_events, statuses,
                                                              sol.y_events) if len(te)]
            t_stop, status, y_stop = min(fired, key=lambda item: item[0])
            if t_eval is not None and (ts.size == 0 or t_stop > ts[-1]):
                ts = np.append(ts, t_stop)
                ys = np.concatenate([ys.reshape(-1, y_start.size), y_stop[None]])
        else:
            status = "failed"
        if status == "left_domain":
            if solver.method == "auto":  # LSODA crossed: the explicit method that cannot
                retry = Solver("RK45", solver.rtol, solver.atol, solver.max_step,
                               solver.first_step)
                out = integrate(field, y0, t_span, rules, retry, record)
                out.metadata["auto_fallback"] = f"{method} {LEFT_DOMAIN.split(';')[0]}"
                return out
            keep = ts < last_inside["t"]  # end at the last step end inside the domain
            ts = np.append(ts[keep], last_inside["t"])
            ys = np.concatenate([ys.reshape(-1, y_start.size)[keep], last_inside["y"]])
            status, crossed = "failed", True
        if ts.size == 0:
            ts, ys = np.array([t0]), y0
        keep = np.all(np.isfinite(ys), axis=-1)  # a blow-up keeps the last finite state
        with np.errstate(over="ignore", invalid="ignore"):
            keep[keep] &= np.isfinite(field.loss_value(ys[keep]))  # ... and its finite loss
            keep[keep] &= field.point_norm(ys[keep]) <= OVERFLOW_NORM  # ... inside the range
        if not keep.all():
            ts, ys = ts[keep], ys[keep]
            status = "diverged"
        if status == "diverged" and ts.size == 0:
            ts, ys = np.array([t0]), y0
        if status == "failed" and ts.size:  # step size underflow: a blow-up is a divergence
            with np.errstate(over="ignore", invalid="ignore"):
                f_last = field.velocity(ys[-1:])
            if is_blow_up(ts[-1:], frobenius_norms(ys[-1:], axes=1),
                          field.velocity_norm(f_last))[0]:
                status = "diverged"
        if record.times is None and record.every > 1 and ts.size > 2:
            idx = np.unique(np.r_[np.arange(0, ts.size, record.every), ts.size - 1])
            ts, ys = ts[idx], ys[idx]
    wall = time.perf_counter() - clock
    xs = field.point(ys)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = field.loss_value(ys)
    records = field.record_extras(ys)
    records["metrics"] = evaluate_metrics(record.metrics, xs)
    if field.mode == "upstairs":
        records["factors"] = [w.copy() for w in field.factors(ys[-1])]
    message = describe(status, ts[-1])
    if crossed:
        message += f" ({method} {LEFT_DOMAIN})"
    elif status == "failed":
        message += (f" ({sol.message}); a solution that blows up in finite time ends this way, "
                    "use StoppingRules(max_norm=...) to stop it earlier")
    return Trajectory(ts, xs, losses, mode=field.mode, status=status, message=message,
                      n_rhs=n_rhs, wall_time=wall, records=records, metadata=meta)
