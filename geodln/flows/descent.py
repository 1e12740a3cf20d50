r"""Fixed-step gradient descent, batched: one implementation for every state.

:func:`descend` runs :math:`Y \leftarrow R(Y + \eta\,V(Y))` for a batch of members with the
field's velocity V and retraction R (:mod:`geodln.flows.fields`):

- upstairs: plain GD on the factors, :math:`W_p \leftarrow W_p - \eta\nabla_{W_p}(E\circ\phi)`
  (what Razin–Cohen (RC20) and Arora–Cohen–Hazan (ACH18) train);
- downstairs: :math:`X \leftarrow X - \eta A_{N,X}(\nabla E(X))` (ACH18's end-to-end update),
  retracted to rank r by truncated SVD on :math:`M_r`;
- factored rank-r states (:mod:`geodln.lowrank`) plug in their own field and retraction.

The upstairs and downstairs steps agree to first order in :math:`\eta` only: the difference of
one step from the same balanced point is :math:`O(\eta^2)` (ACH18, Section 3). Every member
stops on its own (:class:`~geodln.flows.stopping.StoppingRules`, checked after every step);
a member whose step overflows ends with ``status="diverged"`` and keeps its last finite state
and record. :func:`gradient_descent` is the public entry point.
"""

import time

import numpy as np
from tqdm.auto import tqdm

from geodln._checks import (
    check_choice,
    check_matrix,
    check_positive_int,
    check_start_loss,
    check_step_sizes,
    is_factor_list,
)
from geodln.factors import balanced_factors, check_factors, product
from geodln.flows import descent_kernel
from geodln.flows.fields import DownstairsField, UpstairsField
from geodln.flows.recording import RecordBuffer, as_record
from geodln.flows.stopping import StoppingRules, describe
from geodln.losses import MatrixCompletion, as_loss
from geodln.step_size import default_step_size

__all__ = ["gradient_descent", "descend"]


def descend(field, y0, step_size, n_steps, rules, record, kernel="auto"):
    """Fixed-step gradient descent of ``B`` members with per-member stopping.

    Parameters
    ----------
    field : VectorField
        Velocity and retraction (state protocol of :mod:`geodln.flows.fields`).
    y0 : ndarray, shape=[B, d]
        Validated start states.
    step_size : float or ndarray, shape=[B]
        :math:`\\eta > 0`, one for the batch or one per member.
    n_steps : int
        Largest number of steps of a member.
    rules : StoppingRules
        Checked for every member after every step.
    record : Every
        Record every ``record.every``-th step (first and last always).
    kernel : {"auto", "numba", "numpy"}
        ``"numba"``: the compiled kernel of :mod:`geodln.flows.descent_kernel` (upstairs field,
        completion loss, widths <= ``MAX_WIDTH``, no user ``stop`` callable); ``"numpy"``: the
        vectorised path (any field); ``"auto"``: the kernel where it applies and numba is
        installed. Both give the same iterates up to rounding.

    Returns
    -------
    trajectory : Trajectory
        Batched; ``times = steps * step_size``, ``n_rhs`` the steps taken by each member.

    Raises
    ------
    ValueError
        If the loss is not finite at a start (naming ``loss``), or ``kernel="numba"`` where
        the kernel does not apply or numba is missing.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Eq. (10) and Theorem 1 (the end-to-end
       update rule).

    Examples
    --------
    >>> from geodln.flows.fields import DownstairsField
    >>> from geodln.losses import razin_cohen_completion
    >>> field = DownstairsField(razin_cohen_completion(), 2)  # depth 2
    >>> y0 = field.pack(np.stack([0.5 * np.eye(2), 0.3 * np.eye(2)]))  # two members
    >>> from geodln.flows import StoppingRules
    >>> from geodln.flows.descent import descend
    >>> from geodln.flows.recording import Every
    >>> traj = descend(field, y0, 0.1, 10, StoppingRules(), Every(5))
    >>> traj.times[0]  # steps 0, 5, 10 times the step size
    array([0. , 0.5, 1. ])
    """
    b = y0.shape[0]
    check_choice(kernel, "kernel", ("auto", "numba", "numpy"))
    eta = np.broadcast_to(np.asarray(step_size, float), (b,)).copy()
    problem = _kernel_problem(field, rules, kernel)
    rules.start_clock()
    clock = time.perf_counter()
    y = y0.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        loss, v = field.value_and_velocity(y)
    check_start_loss(loss)
    steps = np.zeros(b, dtype=np.int64)
    streak = np.zeros(b, dtype=np.int64)
    status = rules.check(steps * eta, field.point(y), loss, field.velocity_norm(v), steps,
                         norm=field.point_norm(y), streak=streak)
    status = status.astype("<U9")
    records = RecordBuffer()
    records.add(np.arange(b), steps, field.record_row(y))
    bar = tqdm(total=n_steps, disable=not getattr(record, "progress", False),
               desc=f"GD {field.mode}", leave=False)
    state = dict(y=y, v=v, loss=loss, steps=steps, streak=streak, status=status, eta=eta)
    if problem is None:
        _numpy_steps(field, state, n_steps, rules, record.every, records, bar)
    else:
        _kernel_steps(problem, state, n_steps, rules, record.every, records, bar)
    status = state["status"]
    bar.close()
    status[status == "running"] = "completed"  # n_steps = 0, or the last step finished nobody
    wall = time.perf_counter() - clock
    ss, rows, counts = records.assemble(b)
    # a diverged member recorded its last finite state twice when it fell on the grid: drop it
    rows, ss, counts = _dedupe(ss, rows, counts)
    messages = [describe(s, k * h) + f" after {k} steps" for s, k, h in zip(status, steps, eta)]
    meta = {"step_size": float(eta[0]) if np.all(eta == eta[0]) else eta.tolist(),
            "n_steps": int(n_steps), "every": record.every, "integrator": "gradient_descent",
            "kernel": "numpy" if problem is None else "numba"}
    meta.update(field.metadata())
    return field.trajectory(ss * eta[:, None], rows, counts, y, record=record, steps=ss,
                            status=status, message=messages, n_rhs=steps, wall_time=wall,
                            metadata=meta)


def _numpy_steps(field, state, n_steps, rules, every, records, bar):
    """Run the vectorised path of :func:`descend` (any field), updating ``state`` in place."""
    y, v, steps, streak, status, eta = (state[k] for k in
                                        ("y", "v", "steps", "streak", "status", "eta"))
    b = y.shape[0]
    running = status == "running"
    done_steps = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while running.any() and done_steps < n_steps:
            all_running = running.all()
            idx = slice(None) if all_running else np.flatnonzero(running)
            y_new = field.combine(y[idx], eta[idx], np.ones(1), v[idx][None])
            loss_new, v_new = field.value_and_velocity(y_new)
            new_steps = steps[idx] + 1
            x_new = field.point(y_new)
            new_streak = streak[idx]
            new_status = rules.check(new_steps * eta[idx], x_new, loss_new,
                                     field.velocity_norm(v_new), new_steps,
                                     norm=field.point_norm(y_new, x_new), streak=new_streak)
            done_steps += 1
            bar.update()
            members = np.arange(b) if all_running else idx
            diverged = new_status == "diverged"
            if diverged.any():  # keep the last finite state (already recorded below)
                gone = members[diverged]
                status[gone], running[gone] = "diverged", False
                records.add(gone, steps[gone], field.record_row(y[gone]))
                keep = ~diverged
                members, y_new, v_new = members[keep], y_new[keep], v_new[keep]
                new_status, new_steps = new_status[keep], new_steps[keep]
                new_streak = new_streak[keep]
            y[members], v[members], steps[members] = y_new, v_new, new_steps
            streak[members] = new_streak
            finished = new_status != "running"
            if done_steps >= n_steps:
                new_status[~finished] = "completed"
                finished[:] = True
            status[members[finished]] = new_status[finished]
            running[members[finished]] = False
            rec = finished | (new_steps % every == 0)
            if rec.any():
                records.add(members[rec], new_steps[rec], field.record_row(y_new[rec]))


#: steps per compiled call: bounds the record buffer and sets how often progress, the
#: wall-time limit and KeyboardInterrupt are seen
KERNEL_CHUNK = 1 << 16


def _kernel_problem(field, rules, kernel):
    """Arguments of the compiled kernel, or None where the numpy path runs."""
    reason = None
    if kernel == "numpy":
        return None
    if not descent_kernel.available():
        reason = "numba is not installed (pip install 'geodln[fast]')"
    elif type(field) is not UpstairsField or type(field.loss) is not MatrixCompletion:
        reason = "the kernel takes upstairs fields with a MatrixCompletion loss"
    elif max(field.widths) > descent_kernel.MAX_WIDTH:
        reason = f"the kernel takes widths <= {descent_kernel.MAX_WIDTH}"
    elif rules.stop is not None:
        reason = "a user stop callable needs the numpy path"
    if reason is not None:
        if kernel == "numba":
            raise ValueError(f"kernel='numba' does not apply: {reason}")
        return None
    loss = field.loss
    widths = np.asarray(field.widths, np.int64)
    offsets = np.concatenate([[0], np.cumsum(widths[1:] * widths[:-1])]).astype(np.int64)
    return (widths, offsets,
            loss.rows.astype(np.int64), loss.cols.astype(np.int64),
            loss.values.astype(float))


def _kernel_steps(problem, state, n_steps, rules, every, records, bar):
    """Run the compiled path of :func:`descend` in chunks of :data:`KERNEL_CHUNK` steps."""
    codes = descent_kernel.STATUS_CODES
    status = state["status"]
    kstate = dict(state, status=np.array([codes.index(s) if s in codes else 1 for s in status],
                                         dtype=np.int64))
    kstate["y"] = np.ascontiguousarray(state["y"])
    kstate["v"] = np.ascontiguousarray(state["v"])
    members = np.arange(status.size)
    done = 0
    while done < n_steps and np.any(kstate["status"] == 0):
        end = min(done + KERNEL_CHUNK, n_steps)
        rec_y, rec_step, rec_count = descent_kernel.run_chunk(kstate, problem, rules, end,
                                                              n_steps, every)
        for c in range(int(rec_count.max(initial=0))):
            has = rec_count > c
            records.add(members[has], rec_step[has, c], rec_y[has, c])
        bar.update(end - done)
        done = end
        if rules.max_wall_time is not None and rules.elapsed() >= rules.max_wall_time:
            out = kstate["status"] == 0
            kstate["status"][out] = codes.index("completed")
            status[out] = "wall_time"
            records.add(members[out], kstate["steps"][out], kstate["y"][out])
    for key in ("y", "v", "loss", "steps", "streak"):
        state[key][...] = kstate[key]
    running = status == "running"
    status[running] = np.array(codes)[kstate["status"][running]]


def _dedupe(ss, yy, counts):
    """Drop a repeated last record (same step twice) of each member."""
    b = ss.shape[0]
    rows = np.arange(b)
    last, prev = counts - 1, np.maximum(counts - 2, 0)
    dup = (counts >= 2) & (ss[rows, last] == ss[rows, prev])
    if dup.any():
        ss[rows[dup], last[dup]] = np.nan
        yy[rows[dup], last[dup]] = np.nan
        counts = counts - dup
        t_len = int(counts.max())
        ss, yy = ss[:, :t_len], yy[:, :t_len]
    return yy, ss, counts


def gradient_descent(loss, start, step_size=None, n_steps=None, *, metric=None, mode="downstairs",
                     stop=None, record=None):
    r"""Fixed-step gradient descent upstairs or downstairs, batched, with a per-step log.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
        The loss (a plain callable is :math:`E(X)`, differentiated by autograd).
    start : array-like or list of array-like
        End-to-end matrix ``[m, n]`` (any array-like, e.g. a nested list of rows) / batch
        ``[B, m, n]`` (an ndarray), or factors ``[W_1, ..., W_N]`` (a list or tuple of
        matrices, each ``[d_p, d_{p-1}]`` or ``[B, d_p, d_{p-1}]``). Downstairs from factors
        uses their product; upstairs from a matrix uses its balanced lift with identity frames
        (:func:`geodln.factors.balanced_factors`) of depth ``metric``.
    step_size : float or array-like, shape=[B], optional
        :math:`\eta > 0`, or one step per member of a batched start. Default (None):
        :func:`geodln.step_size.default_step_size`, the stable step at the start and at the
        estimated solution scale for the depth (or the metric's co-metric), one step for the
        whole batch; recorded in ``metadata["step_size"]``. It is a proposal: pass a step
        when the run's singular values will grow far beyond the data's scale.
    n_steps : int
        Largest number of steps (>= 1; required).
    metric : int, numpy.inf or metric object, optional
        Downstairs: the metric (an int N is the plain-sum DLN metric of depth N; see
        :func:`geodln.flows.fields.resolve_metric`); a metric on rank-r matrices makes GD
        retract to :math:`M_r` by truncated SVD. Default: the number of factors of a factor
        start. Upstairs from a matrix: the depth of the lift.
    mode : {"downstairs", "upstairs"}
        Which dynamics.
    stop : StoppingRules or callable, optional
        Stopping rules checked after every step (a callable is the user rule ``stop(t, X,
        loss)`` with ``t = step * step_size``).
    record : Every or int, optional
        Record every k-th step (default 1: a complete per-step log); ``Every(k, metrics=...)``
        adds user metrics, ``Every(k).progress = True`` shows a tqdm bar.

    Returns
    -------
    trajectory : Trajectory
        Single run for an unbatched start, batched otherwise; ``steps`` holds the step of each
        record, ``n_rhs`` the steps taken; ``metadata["kernel"]`` says which path ran.

    Notes
    -----
    Upstairs descent of a :class:`~geodln.losses.MatrixCompletion` loss on factors of width
    at most 8 runs in the compiled kernel of :mod:`geodln.flows.descent_kernel` when numba is
    installed (``pip install 'geodln[fast]'``; each member runs on its own, ~50 ns a step for
    RC's 2×2 depth-3 network), otherwise on the vectorised numpy path; the two agree to
    rounding.

    Raises
    ------
    ValueError
        For an invalid argument (named), a start of the wrong shape, or a loss that is not
        finite at the start (naming ``loss``).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Eq. (10) and Theorem 1 (the end-to-end
       update rule, ``mode="downstairs"``).
    .. [2] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 (upstairs GD on the 2×2 completion).
    .. [3] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs. (1.2)-(1.3)
       (the gradient flow on the factors that ``mode="upstairs"`` discretises).

    Examples
    --------
    >>> from geodln.losses import razin_cohen_completion
    >>> tr = gradient_descent(razin_cohen_completion(), 0.1 * np.eye(2), 0.1, 50, metric=2)
    >>> tr.status, int(tr.steps[-1])
    ('completed', 50)
    """
    check_choice(mode, "mode", ("downstairs", "upstairs"))
    if n_steps is None:
        raise ValueError("n_steps is required (a positive int)")
    n_steps = check_positive_int(n_steps, "n_steps")
    rules = StoppingRules.coerce(stop)
    record = as_record(record)
    if record.times is not None:
        raise ValueError("record must be Every(k) for gradient descent (At(times) is for flows)")
    is_factors = is_factor_list(start)
    if is_factors:
        factors = check_factors(start, "start")
        shape = (factors[-1].shape[-2], factors[0].shape[-1])
    else:
        start = check_matrix(start, "start")
        shape = start.shape[-2:]
    loss = as_loss(loss, shape)
    if mode == "downstairs":
        if is_factors:
            metric = len(factors) if metric is None else metric
            start = product(factors)
        if metric is None:
            raise ValueError("metric is required downstairs (an int depth N or a metric)")
        field = DownstairsField(loss, metric, project=True)
        y0 = field.pack(start, "start")
        _check_rank(field, y0)
        batched = np.ndim(start) == 3
    else:
        if not is_factors:
            if metric is None or isinstance(metric, bool) or not isinstance(metric, int):
                raise ValueError("metric must be the depth (int) to lift a matrix start "
                                 "upstairs")
            factors = balanced_factors(start, metric, frames="identity")
        field = UpstairsField.from_factors(loss, factors, "start")
        y0 = field.pack(factors, "start")
        batched = factors[0].ndim == 3
    if not batched:
        rules = rules.for_single_run()
    if step_size is None:
        eta = _default_step(loss, field, y0, metric if mode == "downstairs" else len(factors))
    else:
        eta = check_step_sizes(step_size, batch=y0.shape[0] if batched else None)
    traj = descend(field, y0, eta, n_steps, rules, record)
    return traj if batched else traj[0]


class _ScaledCometric:
    """``sharp`` of the field's metric with its scale (the co-metric GD applies)."""

    def __init__(self, field):
        self.field = field

    def sharp(self, tangent_vec, base_point):
        return self.field.metric.sharp(tangent_vec, base_point) / self.field.scale


def _default_step(loss, field, y0, metric):
    """Return the stable default step (one for the batch) at the start's end-to-end matrix."""
    x = field.point(y0)
    with np.errstate(over="ignore", invalid="ignore"):
        check_start_loss(loss.value(x))  # an overflowed loss is the error, not the step
    if isinstance(metric, int | np.integer) and not isinstance(metric, bool):
        return default_step_size(loss, x, int(metric))
    return default_step_size(loss, x, _ScaledCometric(field))


def _check_rank(field, y0):
    """Raise ValueError if a start is not on the field's rank-r manifold."""
    r = field.rank
    if r >= min(field.shape):
        return
    s = np.linalg.svd(field.point(y0), compute_uv=False)
    bad = s[:, r] > 1e-8 * np.maximum(s[:, 0], np.finfo(float).tiny)
    if bad.any():
        raise ValueError(
            f"X0 has rank > {r}, the rank of the metric's manifold (sigma_(r+1)/sigma_1 = "
            f"{float(np.max(s[bad, r] / s[bad, 0])):.2g}); project it first "
            "(e.g. RankMatrices(m, n, r).projection(X0))"
        )
