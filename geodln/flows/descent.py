r"""Fixed-step gradient descent, upstairs (factors) or downstairs (end-to-end matrix).

- upstairs: plain GD on the factors, :math:`W_p \leftarrow W_p - \eta\nabla_{W_p}(E\circ\phi)`
  (what Razin–Cohen and ACH train);
- downstairs: :math:`X \leftarrow X - \eta A_{N,X}(\nabla E(X))` (ACH's end-to-end update),
  retracted to rank r by truncated SVD when ``rank < min(m, n)``.

The two agree to first order in :math:`\eta` per step only (ACH18, Section 5): the difference
of one step from the same balanced point is :math:`O(\eta^2)`.
Both use the same :class:`~geodln.flows.fields.VectorField` objects as the flows, the same
stopping rules, and return the same :class:`~geodln.flows.trajectory.Trajectory` (with
``times = step * step_size`` and the step indices in ``steps``).

Abbreviations: ACH = Arora, Cohen, Hazan (ACH18); CMV = Cohen, Menon, Veraszto (CMV23).
"""

import time

import numpy as np
from tqdm.auto import tqdm

from geodln._checks import check_depth, check_matrix, check_positive_int
from geodln.factors import balanced_factors, check_factors, product
from geodln.flows.fields import DownstairsField, UpstairsField
from geodln.flows.gradient_flow import as_loss, check_on_rank
from geodln.flows.stopping import StoppingRules
from geodln.flows.trajectory import Trajectory

__all__ = ["gradient_descent"]


def _is_factor_list(start):
    return isinstance(start, list | tuple)


def _start_shape(start):
    if _is_factor_list(start) and start:
        return (np.shape(start[-1])[-2], np.shape(start[0])[-1])
    return np.shape(start)[-2:] if np.ndim(start) >= 2 else None


def gradient_descent(loss, start, step_size, n_steps, *, mode="downstairs", depth=None,
                     normalized=False, rank=None, metric=None, widths=None, seed=None,
                     loss_tol=None, max_norm=None, stop=None, max_wall_time=None, log_every=1,
                     progress=False):
    r"""Fixed-step gradient descent upstairs or downstairs, with a per-step log.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
    start : array-like [m, n] or list of array-like
        An end-to-end matrix or factors ``[W_1, ..., W_N]``. Downstairs from factors uses their
        product (and ``depth = len(start)`` if not given); upstairs from a matrix uses its
        balanced lift of depth ``depth`` (hidden ``widths``, ``rank``, random frames from
        ``seed``; :func:`geodln.factors.balanced_factors`).
    step_size : float
        :math:`\eta > 0`.
    n_steps : int
        Number of steps (>= 1).
    mode : {"downstairs", "upstairs"}
    depth : int or numpy.inf, optional
        Depth N of the downstairs metric / of the lift.
    normalized : bool
        Downstairs: CMV normalisation :math:`A_{N,X}/N`.
    rank : int, optional
        Downstairs: stay on :math:`M_r` (velocity from the rank-r SVD, truncated-SVD
        retraction after each step).
    metric : SpectralMetric or SpectralKernel, optional
        Downstairs: user metric.
    widths, seed
        Upstairs from a matrix: hidden widths and frame randomness of the balanced lift.
    loss_tol, max_norm, stop, max_wall_time
        Stopping rules (:class:`~geodln.flows.stopping.StoppingRules`), checked after every
        step; ``stop(t, X, loss) -> bool`` with ``t = step * step_size``.
    log_every : int
        Record every ``log_every``-th step (the first and last are always recorded);
        ``1`` (default) is a complete per-step log.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    trajectory : Trajectory
        ``n_rhs`` is the number of steps taken.

    Raises
    ------
    ValueError
        If ``n_steps`` is not an integer >= 1 (bools are refused); if ``log_every`` is not an
        integer >= 1 (bools are refused); if ``start`` is not a finite real array of matrices
        [..., m, n] of the expected shape; if ``depth`` is not an integer >= 1 (or ``numpy.inf``
        where allowed); otherwise with the message ``mode must be 'downstairs' or 'upstairs',
        got …``; or ``step_size must be a positive number, got …``; or ``depth=… but start holds
        … factors``; or ``depth is required to lift a matrix start upstairs``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (gradient descent on the
       end-to-end matrix, first-order agreement with factor descent).

    Examples
    --------
    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0], [0]), values=[1.0], shape=(1, 1))
    >>> traj = geodln.gradient_descent(loss, np.array([[0.5]]), step_size=0.1, n_steps=200,
    ...                                depth=2)
    >>> bool(abs(traj.final_X[0, 0] - 1.0) < 1e-6)
    True
    """
    if mode not in ("downstairs", "upstairs"):
        raise ValueError(f"mode must be 'downstairs' or 'upstairs', got {mode!r}")
    try:
        step_size = float(step_size)
    except (TypeError, ValueError):
        raise ValueError(f"step_size must be a positive number, got {step_size!r}") from None
    if not np.isfinite(step_size) or step_size <= 0:
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")
    n_steps = check_positive_int(n_steps, "n_steps")
    log_every = check_positive_int(log_every, "log_every")
    loss = as_loss(loss, _start_shape(start))

    if mode == "downstairs":
        if _is_factor_list(start):
            factors = check_factors(start, "start")
            depth = len(factors) if depth is None else depth
            start = product(factors)
        x0 = check_matrix(start, "start", shape=loss.shape, allow_batch=False)
        field = DownstairsField(loss, depth=depth, normalized=normalized, rank=rank, metric=metric)
        check_on_rank(x0, field.rank if field.rank < min(field.shape) else None, "start")
        y = field.pack(x0)
    else:
        if _is_factor_list(start):
            factors = check_factors(start, "start")
            if depth is not None and check_depth(depth, allow_inf=False) != len(factors):
                raise ValueError(f"depth={depth} but start holds {len(factors)} factors")
        else:
            if depth is None:
                raise ValueError("depth is required to lift a matrix start upstairs")
            x0 = check_matrix(start, "start", shape=loss.shape, allow_batch=False)
            factors = balanced_factors(x0, depth, widths=widths, rank=rank, seed=seed)
        field = UpstairsField.from_factors(loss, factors, "start")
        y = field.pack(factors)

    rules = StoppingRules(loss_tol, max_norm, stop, max_wall_time)
    clock = time.perf_counter()
    x = field.point(y)
    value = float(loss._value(x))
    steps, ys, losses = [0], [y], [value]
    fired = rules.check(0.0, x, value)
    k = 0
    bar = tqdm(total=n_steps, disable=not progress, desc=f"GD {mode}", leave=False)
    with np.errstate(over="ignore", invalid="ignore"):
        while fired is None and k < n_steps:
            y = field.step(y, step_size)
            k += 1
            bar.update()
            x = field.point(y)
            value = float(loss._value(x)) if np.all(np.isfinite(x)) else np.nan
            fired = rules.check(k * step_size, x, value)
            if k % log_every == 0 or fired is not None or k == n_steps:
                steps.append(k)
                ys.append(y)
                losses.append(value)
    bar.close()
    wall = time.perf_counter() - clock
    status, message = fired if fired is not None else ("completed", f"ran {n_steps} steps")
    ys = np.stack(ys)
    steps = np.asarray(steps)
    meta = {"step_size": step_size, "n_steps": n_steps, "log_every": log_every,
            "integrator": "gradient_descent"}
    meta.update(field.metadata())
    return Trajectory(steps * step_size, field.points(ys), np.asarray(losses), mode=mode,
                      status=status, message=message, n_rhs=k, wall_time=wall,
                      steps=steps, metadata=meta, **field.record_extras(ys))
