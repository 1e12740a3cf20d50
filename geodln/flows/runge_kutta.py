r"""Batched embedded Runge–Kutta integration with a step size per member.

:func:`integrate_batch` integrates ``B`` independent runs of one field at once: every stage is
one batched velocity evaluation of the running members, but each member has its own time, step
size, error control, stopping rules and records, so a member that needs small steps does not
slow the others and a finished member freezes while the batch continues. The method is the one
of :func:`scipy.integrate.solve_ivp` applied to each member alone — Dormand–Prince 5(4)
(``"RK45"``, DP80), Dormand–Prince 8(5,3) (``"DOP853"``) or Bogacki–Shampine 3(2) (``"RK23"``),
their tableaux read from the public class attributes of :class:`scipy.integrate.RK45`,
:class:`~scipy.integrate.DOP853`, :class:`~scipy.integrate.RK23` (``A``, ``B``, ``C``, ``E``
or ``E3``/``E5``, ``P`` or ``A_EXTRA``/``C_EXTRA``/``D``, ``order``,
``error_estimator_order``) — with scipy's initial step, error norm and step-size controller, so
each member follows its solo ``solve_ivp`` run up to rounding.

Stopping (:class:`~geodln.flows.stopping.StoppingRules`): the loss, norm and overflow rules are
located inside the step by root finding on the dense output (as ``solve_ivp`` events); the
gradient-norm, user, step-count and wall-time rules act at step ends. Records: every k-th
accepted step (:class:`~geodln.flows.recording.Every`) or the dense output at given times
(:class:`~geodln.flows.recording.At`).

Invariant domain (``isoutofdomain`` of DifferentialEquations.jl): when the field has one
(``field.domain_reference``, e.g. ``sign det X`` for the downstairs flow of depth N >= 2,
whose co-metric vanishes on the singular set), a trial step whose end leaves it
(``field.in_domain``) is rejected whatever its error estimate and retried with the step shrunk
by the largest factor (0.2), per member; the others are not affected. A sign that still
changes after :data:`MAX_DOMAIN_REJECTIONS` such shrinkings is rounding noise (the smallest
singular value below the resolution of the largest in a non-diagonal basis): the step is then
taken and the member's message says so. Without this, once a
decaying singular value is below ``atol`` the error control no longer sees it and a step can
cross the singular set into the other component.

Manifold states: every stage point, step end and dense-output point is built by
``field.combine(y, h, weights, ks)`` :math:`= R(y + h\sum_j w_j k_j)` with the field's
retraction R (projected Runge–Kutta; identity for vector spaces), and the error norm by
``field.error_norm``; see :mod:`geodln.flows.fields` for the protocol.
"""

import time

import numpy as np
from scipy.integrate import DOP853, RK23, RK45

from geodln._checks import check_start_loss
from geodln.flows.recording import RecordBuffer
from geodln.flows.stopping import OVERFLOW_NORM, describe, frobenius_norms, is_blow_up

__all__ = ["Tableau", "integrate_batch", "BATCH_METHODS"]

SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0
#: Consecutive rejections of a member's steps for leaving the invariant domain (each shrinks
#: the step 5-fold, 8 by 0.2**8 ~ 3e-6) after which its sign change is taken as rounding noise.
MAX_DOMAIN_REJECTIONS = 8
#: Event location ends when an iterate moves by less than this fraction of the step.
SETTLED = 1e-11
BATCH_METHODS = {"RK45": RK45, "DOP853": DOP853, "RK23": RK23}


class Tableau:
    """Butcher tableau, error estimator and dense output of a scipy explicit RK method.

    Parameters
    ----------
    method : {"RK45", "DOP853", "RK23"}
        Name of the scipy class whose public attributes are read.

    Raises
    ------
    ValueError
        If ``method`` is not one of these.

    References
    ----------
    .. [1] DP80: Dormand, Prince, J. Comput. Appl. Math. 6 (1980), embedded RK formulae.

    Examples
    --------
    >>> tab = Tableau("RK45")
    >>> tab.n_stages, tab.error_exponent
    (6, -0.2)
    """

    def __init__(self, method):
        if method not in BATCH_METHODS:
            raise ValueError(f"method must be one of {sorted(BATCH_METHODS)} for a batch, "
                             f"got {method!r}")
        cls = BATCH_METHODS[method]
        self.method = method
        s = self.n_stages = int(cls.n_stages)
        self.A = np.asarray(cls.A, float)[:s, :s]
        self.B = np.asarray(cls.B, float)
        self.C = np.asarray(cls.C, float)[:s]
        self.order = int(cls.order)
        self.error_estimator_order = int(cls.error_estimator_order)
        self.error_exponent = -1.0 / (self.error_estimator_order + 1)
        if method == "DOP853":
            self.E = None
            self.E5, self.E3 = np.asarray(cls.E5, float), np.asarray(cls.E3, float)
            self.A_EXTRA = np.asarray(cls.A_EXTRA, float)
            self.C_EXTRA = np.asarray(cls.C_EXTRA, float)
            self.D = np.asarray(cls.D, float)
            n_ext = self.A_EXTRA.shape[1]
            cb = np.zeros(n_ext)
            cb[:s] = self.B
            e0, en = np.eye(n_ext)[0], np.eye(n_ext)[s]
            # the dense output of scipy's DOP853 as coefficients of h * K_extended
            self._F = np.vstack([cb, e0 - cb, 2 * cb - en - e0, self.D])
        else:
            self.E = np.asarray(cls.E, float)
            self.P = np.asarray(cls.P, float)

    def dense_weights(self, x):
        """Weights ``w [n_K, b]`` with ``y(t_old + x h) = y_old + h sum_j w_j K_j``.

        Parameters
        ----------
        x : ndarray, shape=[b]
            Fractions of the step in [0, 1].
        """
        x = np.asarray(x, float)
        if self.method == "DOP853":
            w = np.zeros((self._F.shape[1], x.size))
            for i, f in enumerate(self._F[::-1]):
                w += f[:, None]
                w *= x if i % 2 == 0 else 1 - x
            return w
        powers = np.cumprod(np.tile(x, (self.P.shape[1], 1)), axis=0)  # [p, b]: x, x^2, ...
        return self.P @ powers


def integrate_batch(field, y0, t_span, rules, solver, record, method=None):
    """Integrate ``B`` runs of ``field`` with a step size and stopping rules per member.

    Parameters
    ----------
    field : VectorField
        The velocity field (state protocol of :mod:`geodln.flows.fields`).
    y0 : ndarray, shape=[B, d]
        Validated start states.
    t_span : tuple of float
        ``(t0, t1)``, shared by the members.
    rules : StoppingRules
        Applied to each member.
    solver : Solver
        Tolerances (``method`` "auto" means RK45).
    record : Every or At
        What to record.
    method : str, optional
        Overrides ``solver.method`` ("RK45", "DOP853", "RK23").

    Returns
    -------
    trajectory : Trajectory
        Batched (``batch_size = B``).

    Raises
    ------
    ValueError
        If a member's loss is not finite at the start (naming ``loss``) or the method has no
        batched form.

    References
    ----------
    .. [1] DP80: Dormand, Prince, J. Comput. Appl. Math. 6 (1980), embedded RK formulae.
    .. [2] HNW93: Hairer, Nørsett, Wanner, Solving ODEs I (2nd ed., 1993), Section II.4 (error
       estimate of the embedded pair, step-size control and initial step, as in
       :mod:`scipy.integrate`).

    Examples
    --------
    >>> from geodln.flows.fields import DownstairsField
    >>> from geodln.losses import razin_cohen_completion
    >>> field = DownstairsField(razin_cohen_completion(), 2)  # depth 2
    >>> y0 = field.pack(np.stack([0.5 * np.eye(2), 0.3 * np.eye(2)]))  # two members
    >>> from geodln.flows import Solver, StoppingRules
    >>> from geodln.flows.recording import At
    >>> from geodln.flows.runge_kutta import integrate_batch
    >>> traj = integrate_batch(field, y0, (0.0, 1.0), StoppingRules(), Solver(), At([0.0, 1.0]))
    >>> traj.times.shape, traj.status.tolist()
    ((2, 2), ['completed', 'completed'])
    """
    method = method or (solver.method if solver.method != "auto" else "RK45")
    tab = Tableau(method)
    t0, t1 = t_span
    rtol, atol = solver.rtol, solver.atol
    b = y0.shape[0]
    at = record.times
    if at is not None and (at[0] < t0 or at[-1] > t1):
        raise ValueError(f"record times must lie within t_span={t_span}")
    meta = {"method": method, "rtol": rtol, "atol": atol, "t_span": [t0, t1],
            "integrator": "batched embedded Runge-Kutta (step size per member)"}
    meta.update(field.metadata())

    rules.start_clock()
    clock = time.perf_counter()
    y = y0.copy()
    loss = field.loss_value(y)
    check_start_loss(loss)
    f = field.velocity(y)
    n_rhs = np.ones(b, dtype=np.int64)
    t = np.full(b, t0)
    steps = np.zeros(b, dtype=np.int64)
    status = rules.check(t, field.point(y), loss, field.velocity_norm(f), steps,
                         norm=field.point_norm(y))
    status = status.astype("<U9")
    records = _Records(field)
    next_at = np.zeros(b, dtype=np.int64)
    if at is None:
        records.add(np.arange(b), t, y)
    else:
        first = at[0] == t0
        if first:
            records.add(np.arange(b), t, y)
            next_at[:] = 1
    running = status == "running"
    stopped_now = np.flatnonzero(~running)
    if at is not None and stopped_now.size and not at[0] == t0:
        records.add(stopped_now, t[stopped_now], y[stopped_now])
    h_abs = np.zeros(b)
    if running.any():
        idx = np.flatnonzero(running)
        if solver.first_step is not None:
            h_abs[idx] = min(solver.first_step, t1 - t0)
        else:
            h_abs[idx], extra = field.initial_step(y[idx], f[idx], t1 - t0,
                                                   tab.error_estimator_order, rtol, atol,
                                                   solver.max_step)
            n_rhs[idx] += extra
    rejected = np.zeros(b, dtype=bool)
    nonfinite = np.zeros(b, dtype=bool)
    domain = field.domain_reference(y0)  # None: no invariant domain to keep
    streak = np.zeros(b, dtype=np.int64)  # consecutive steps rejected for the domain only
    overrides = np.zeros(b, dtype=np.int64)
    n_k = tab.n_stages + 1
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while running.any():
            idx = np.flatnonzero(running)
            tt, yy, ff = t[idx], y[idx], f[idx]
            min_step = 10 * np.abs(np.nextafter(tt, np.inf) - tt)
            # a step rejected down below the spacing of floats ends the member (tested before
            # the clip, which would otherwise retry the smallest step forever): "diverged" if
            # the state became non-finite for every step size, else "failed"
            tiny = rejected[idx] & (h_abs[idx] < min_step)
            ha = np.clip(h_abs[idx], min_step, solver.max_step)
            if tiny.any():
                blow = nonfinite[idx[tiny]] | is_blow_up(
                    tt[tiny], frobenius_norms(yy[tiny], axes=1),
                    field.velocity_norm(ff[tiny]))
                status[idx[tiny]] = np.where(blow, "diverged", "failed")
                running[idx[tiny]] = False
                records.add(idx[tiny], tt[tiny], yy[tiny])
                continue
            t_new = np.minimum(tt + ha, t1)
            h = t_new - tt
            ks = np.empty((n_k,) + ff.shape)
            ks[0] = ff
            for s in range(1, tab.n_stages):
                stage = field.combine(yy, h, tab.A[s, :s], ks[:s])
                ks[s] = field.velocity(stage)
            y_new = field.combine(yy, h, tab.B, ks[:tab.n_stages])
            f_new = field.velocity(y_new)
            ks[-1] = f_new
            n_rhs[idx] += tab.n_stages
            err = field.error_norm(yy, y_new, h, ks, tab, rtol, atol)
            nonfinite[idx] = ~np.isfinite(err)
            ok = err < 1
            if domain is not None:  # a step end outside the invariant domain is rejected
                out = (err < 1) & ~field.in_domain(yy, y_new, domain[idx])
                # ... unless shrinking the step MAX_DOMAIN_REJECTIONS times did not help: the
                # sign is then rounding noise (sigma_min below eps * sigma_1 in a non-diagonal
                # basis); the step is taken, counted and the member's reference follows it
                give_up = out & (streak[idx] >= MAX_DOMAIN_REJECTIONS)
                if give_up.any():
                    gi = idx[give_up]
                    overrides[gi] += 1
                    domain[gi] = field.domain_reference(y_new[give_up])
                    out &= ~give_up
                streak[idx] = np.where(out, streak[idx] + 1, 0)
                ok &= ~out
                err = np.where(out, np.inf, err)  # shrink by MIN_FACTOR
            fac_ok = np.where(err == 0, MAX_FACTOR,
                              np.minimum(MAX_FACTOR, SAFETY * err ** tab.error_exponent))
            fac_ok = np.where(rejected[idx], np.minimum(1.0, fac_ok), fac_ok)
            fac_bad = np.where(np.isfinite(err),
                               np.maximum(MIN_FACTOR, SAFETY * err ** tab.error_exponent),
                               MIN_FACTOR)
            h_abs[idx] = np.abs(h) * np.where(ok, fac_ok, fac_bad)
            rejected[idx] = ~ok
            if not ok.any():
                continue
            acc = np.flatnonzero(ok)
            members = idx[acc]
            t_old, y_old = tt[acc], yy[acc]
            t[members], y[members], f[members] = t_new[acc], y_new[acc], f_new[acc]
            steps[members] += 1
            h_acc = h[acc]
            dense = _StepDense(field, tab, y_old, h_acc, (ks, acc), n_rhs, members)

            # -- records at given times (dense output) ------------------------------------
            if at is not None:
                pending = np.flatnonzero(next_at[members] < at.size)
                while pending.size:
                    tgt = at[next_at[members[pending]]]
                    due = tgt <= t_new[acc][pending]
                    if not due.any():
                        break
                    sub = pending[due]
                    x = (tgt[due] - t_old[sub]) / h_acc[sub]
                    records.add(members[sub], tgt[due], dense(sub, x))
                    next_at[members[sub]] += 1
                    pending = sub[next_at[members[sub]] < at.size]
            # -- stopping ----------------------------------------------------------------
            loss_new = field.loss_value(y[members])
            y_members = y[members]
            x_new = field.point(y_members)
            new_status = rules.check(t[members], x_new, loss_new,
                                     field.velocity_norm(f[members]), steps[members],
                                     norm=field.point_norm(y_members, x_new))
            continuous = np.flatnonzero((new_status == "loss_tol") | (new_status == "max_norm")
                                        | (new_status == "diverged"))
            if continuous.size:
                frac, found = _locate(field, rules, new_status[continuous], dense, continuous)
                hit = continuous[found]
                t[members[hit]] = t_old[hit] + frac[found] * h_acc[hit]
                y[members[hit]] = dense(hit, frac[found])
                # a divergence not located on the norm (the loss or the velocity left the
                # float range first), or located where the loss is not finite, keeps the
                # step's start: the last state with finite state, loss and velocity
                div = continuous[new_status[continuous] == "diverged"]
                if div.size:
                    back = div[~np.isfinite(field.loss_value(y[members[div]]))
                               | ~np.isin(div, hit)]
                    t[members[back]], y[members[back]] = t_old[back], y_old[back]
            done = new_status != "running"
            done |= t[members] >= t1
            new_status[(new_status == "running") & done] = "completed"
            status[members[done]] = new_status[done]
            running[members[done]] = False
            if at is None:
                rec = done | (steps[members] % record.every == 0)
                records.add(members[rec], t[members[rec]], y[members[rec]])
            elif done.any():
                fin = members[done]
                stop_early = status[fin] != "completed"
                records.add(fin[stop_early], t[fin[stop_early]], y[fin[stop_early]])
    wall = time.perf_counter() - clock
    tt, rows, counts = records.assemble(b)
    meta["n_steps"] = steps.tolist()
    message = [describe(s, ti) for s, ti in zip(status, t)]
    if overrides.any():
        meta["domain_overrides"] = overrides.tolist()
        for k in np.flatnonzero(overrides):
            message[k] += (f"; the sign of det X (or of a kept singular value) changed "
                           f"{overrides[k]} times at rounding level: the smallest singular "
                           "value fell below the resolution of the largest, the component of "
                           "the result is not determined in floating point")
    return field.trajectory(tt, rows, counts, y, record=record, status=status,
                            message=message,
                            n_rhs=n_rhs, wall_time=wall, metadata=meta)


class _Records(RecordBuffer):
    """A record buffer that keeps ``field.record_row`` of the states."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def add(self, idx, t, y):
        """Record members ``idx`` at times ``t`` (states ``y``)."""
        if len(idx):
            super().add(idx, t, self.field.record_row(y))


class _StepDense:
    """Dense output of the members accepted in one step: ``dense(sub, x)`` at fractions x."""

    def __init__(self, field, tab, y_old, h, ks, n_rhs, members):
        # ks: the stage velocities of the accepted members, or (all stages, accepted index)
        # taken only when the dense output is needed (records at given times, events)
        self.field, self.tab, self.y_old, self.h, self._ks = field, tab, y_old, h, ks
        self.n_rhs, self.members, self.extended = n_rhs, members, None

    @property
    def ks(self):
        """Stage velocities ``[n_K, b, d]`` of the accepted members."""
        if isinstance(self._ks, tuple):
            ks, acc = self._ks
            self._ks = ks if acc.size == ks.shape[1] else ks[:, acc]
        return self._ks

    def __call__(self, sub, x):
        ks = self.ks
        if self.tab.E is None:
            if self.extended is None:
                self.extended = _extend_dop853(self.field, self.tab, self.y_old, self.h, ks,
                                               self.n_rhs, self.members)
            ks = self.extended
        return self.field.combine(self.y_old[sub], self.h[sub], self.tab.dense_weights(x),
                                  ks[:, sub])


def _extend_dop853(field, tab, y_old, h, ks, n_rhs, members):
    """Compute the three extra stages of scipy's DOP853 dense output for accepted members."""
    n_ext = tab.A_EXTRA.shape[1]
    ext = np.empty((n_ext,) + ks.shape[1:])
    ext[:ks.shape[0]] = ks
    for s, a in enumerate(tab.A_EXTRA, start=ks.shape[0]):
        ext[s] = field.velocity(field.combine(y_old, h, a[:s], ext[:s]))
    n_rhs[members] += tab.A_EXTRA.shape[0]
    return ext


def _event_values(field, rules, status, dense, sub, x):
    """Event function of each member ``sub`` at step fractions ``x`` (root = the stop)."""
    y = dense(sub, x)
    out = np.empty(sub.size)
    loss = status == "loss_tol"
    if loss.any():
        out[loss] = field.loss_value(y[loss]) - rules.loss_tol
    if not loss.all():
        norm = field.point_norm(y[~loss])
        bound = np.where(status[~loss] == "max_norm", rules.max_norm or np.inf, OVERFLOW_NORM)
        out[~loss] = np.where(np.isfinite(norm), norm, np.inf) - bound
    return out


def _locate(field, rules, status, dense, sub, max_iter=200):
    """Locate the stopping event inside the accepted step of members ``sub``, all at once.

    The event function (loss minus ``loss_tol``, or norm minus the bound) is evaluated on the
    dense output; its sign change in ``[0, 1]`` is bracketed and shrunk by the Illinois variant
    of regula falsi (superlinear, a bisection step whenever an iterate leaves the bracket),
    vectorised over the members, until the bracket is ``4 eps`` wide, the iterate moves by less
    than :data:`SETTLED` of the step (the event function's own rounding, e.g. of a loss near
    ``loss_tol``, moves the root by about that much) or the event value is zero to rounding
    (``8 eps`` times the bound) — as accurate as ``solve_ivp``'s event location, which
    uses ``brentq`` one event at a time.

    Returns
    -------
    frac : ndarray, shape=[len(sub)]
        Step fractions of the events.
    found : ndarray of bool
        Members with a bracketed sign change (the others stop at the step's end).
    """
    def g(idx, x):
        return _event_values(field, rules, status[idx], dense, sub[idx], x)

    k = sub.size
    lo, hi = np.zeros(k), np.ones(k)
    g_lo, g_hi = g(np.arange(k), lo), g(np.arange(k), hi)
    found = np.isfinite(g_lo) & np.isfinite(g_hi) & (g_lo * g_hi < 0)
    side = np.zeros(k, dtype=np.int8)
    xtol = 4 * np.finfo(float).eps
    bounds = np.where(status == "loss_tol", rules.loss_tol or 0.0,
                      np.where(status == "max_norm", rules.max_norm or 0.0, OVERFLOW_NORM))
    gtol = 8 * np.finfo(float).eps * np.abs(bounds)
    last = np.full(k, np.nan)
    active = np.flatnonzero(found)
    for _ in range(max_iter):
        active = active[(hi[active] - lo[active]) > xtol]
        if not active.size:
            break
        a, b, ga, gb = lo[active], hi[active], g_lo[active], g_hi[active]
        x = (a * gb - b * ga) / (gb - ga)
        outside = ~((x > a) & (x < b))
        x[outside] = 0.5 * (a[outside] + b[outside])
        gx = g(active, x)
        settled = np.abs(x - last[active]) <= SETTLED  # moves only by the event's rounding
        last[active] = x
        same_lo = np.sign(gx) == np.sign(ga)
        exact = (np.abs(gx) <= gtol[active]) | settled  # zero to rounding
        move_lo, move_hi = same_lo & ~exact, ~same_lo & ~exact
        ml, mh = active[move_lo], active[move_hi]
        # Illinois: halve the value kept at the endpoint that did not move twice in a row
        g_hi[ml[side[ml] == -1]] *= 0.5
        g_lo[mh[side[mh] == 1]] *= 0.5
        lo[ml], g_lo[ml], side[ml] = x[move_lo], gx[move_lo], -1
        hi[mh], g_hi[mh], side[mh] = x[move_hi], gx[move_hi], 1
        ex = active[exact]
        lo[ex] = hi[ex] = x[exact]
    # a divergence stops below the bound (lo), the others at the closer end of the bracket
    frac = np.where((np.abs(g_lo) <= np.abs(g_hi)) | (status == "diverged"), lo, hi)
    return frac, found
