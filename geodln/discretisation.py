r"""How fixed-step gradient descent departs from the gradient flow as the step size grows.

Gradient descent with step :math:`\eta` is the explicit Euler scheme of the flow, upstairs
(:math:`W_p \leftarrow W_p - \eta\nabla_{W_p}(E\circ\phi)`) and downstairs
(:math:`X \leftarrow X - \eta A_{N,X}(\nabla E)`); on a fixed time interval its global error
is :math:`O(\eta)` (first order; ACH's per-step agreement, ACH18, Theorem 1). This module measures

- the deviation of the final end-to-end matrix at matched time :math:`t = k\eta` from a
  tight-tolerance ODE solution (:func:`final_point_deviation`);
- the deviation of an implicit-regularization outcome evaluated at a fixed loss level, e.g.
  Razin–Cohen's :math:`|x_{11}|` (:func:`outcome_deviation`); the crossing of the level is
  interpolated linearly in :math:`\log E` between the bracketing records (an
  :math:`O(\eta^2)` error), so the remaining deviation is the scheme's;
- the hyperbola corner fraction of a small ensemble vs :math:`\eta` (:func:`corner_fraction`);

and fits log-log slopes (:func:`loglog_slope`, expected ≈ 1). :func:`run` writes a figure and
a JSON summary.

Abbreviations: ACH = Arora, Cohen, Hazan (ACH18); CMV = Cohen, Menon, Veraszto (CMV23).
"""

import os

import numpy as np

from geodln._checks import (
    check_bool,
    check_depth,
    check_finite,
    check_matrix,
    check_positive_int,
    check_positive_real,
)
from geodln.factors import balanced_factors
from geodln.flows import At, Solver, StoppingRules, downstairs_flow, gradient_descent, upstairs_flow
from geodln.losses import MatrixCompletion, razin_cohen_completion
from geodln.storage import save_text

__all__ = [
    "final_point_deviation",
    "outcome_deviation",
    "ReferenceFlow",
    "corner_fraction",
    "loglog_slope",
    "hyperbola_loss",
    "run",
]

MODES = ("downstairs", "upstairs")


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"mode must be 'downstairs' or 'upstairs', got {mode!r}")
    return mode


def _check_step_sizes(step_sizes):
    eta = check_finite(step_sizes, "step_sizes")
    if eta.ndim != 1 or eta.size < 1 or np.any(eta <= 0):
        raise ValueError(f"step_sizes must be a 1-d array of positive numbers, got {step_sizes!r}")
    return eta


def _flow(loss, x0, depth, t_final, mode, rtol, atol, t_eval=None, loss_tol=None):
    opts = dict(solver=Solver("DOP853", rtol=rtol, atol=atol),
                stop=StoppingRules(loss_tol=loss_tol),
                record=None if t_eval is None else At(t_eval))
    if mode == "downstairs":
        return downstairs_flow(loss, x0, depth, (0.0, t_final), **opts)
    return upstairs_flow(loss, balanced_factors(x0, depth, frames="identity"), (0.0, t_final),
                         **opts)


def _gd(loss, x0, depth, eta, n_steps, mode, loss_tol=None):
    start = x0 if mode == "downstairs" else balanced_factors(x0, depth, frames="identity")
    return gradient_descent(loss, start, eta, n_steps, mode=mode, metric=depth,
                            stop=StoppingRules(loss_tol=loss_tol))


def _save_figure_and_json(fig, out_dir, stem, summary, dpi=110):
    """Write ``fig`` to ``out_dir/stem.png`` and ``summary`` to ``stem.json`` (atomically)."""
    import io
    import json

    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    tmp = os.path.join(out_dir, f".tmp-{stem}-{os.getpid()}.png")
    with open(tmp, "wb") as fh:
        fh.write(buf.getvalue())
    os.replace(tmp, os.path.join(out_dir, f"{stem}.png"))
    save_text(os.path.join(out_dir, f"{stem}.json"), json.dumps(summary, indent=2))


def final_point_deviation(loss, X0, depth, step_sizes, t_final, *, mode="downstairs",
                          rtol=1e-12, atol=1e-14):
    r"""Frobenius deviation of GD from the flow at matched time :math:`t = k\eta`.

    For each :math:`\eta`, :math:`k = \mathrm{round}(t_{final}/\eta)` steps are taken and
    compared with the flow at :math:`k\eta` (DOP853 at ``rtol``, ``atol``: the reference).

    Parameters
    ----------
    loss : geodln.losses.Loss
    X0 : array-like, shape=[m, n]
        Start (lifted to balanced factors upstairs).
    depth : int
        N >= 1.
    step_sizes : array-like, shape=[K]
    t_final : float
    mode : {"downstairs", "upstairs"}
    rtol, atol : float
        Tolerances of the reference ODE solve.

    Returns
    -------
    result : dict
        ``step_sizes``, ``times`` (the matched times), ``deviation``
        (:math:`\|X_{GD} - X_{flow}\|_F`), ``relative`` (divided by :math:`\|X_{flow}\|_F`).

    Raises
    ------
    ValueError
        If ``X0`` is not a finite real array of matrices [..., m, n] of the expected shape; if
        ``depth`` is not an integer >= 1 (or ``numpy.inf`` where allowed); otherwise with the
        message ``t_final must be a positive number, got …``; or ``the reference flow stopped
        early (…: …)``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (gradient descent on the
       end-to-end matrix, first-order agreement with factor descent).

    Examples
    --------
    Gradient descent is a first-order scheme: halving the step halves the deviation.

    >>> from geodln.discretisation import final_point_deviation, hyperbola_loss, loglog_slope
    >>> x0 = np.array([[0.3, 0.1], [0.2, 0.4]])
    >>> res = final_point_deviation(hyperbola_loss(), x0, 2, [0.1, 0.05], 1.0)
    >>> round(loglog_slope(res["step_sizes"], res["deviation"]), 1)
    1.0
    """
    mode = _check_mode(mode)
    x0 = check_matrix(X0, "X0", allow_batch=False)
    depth = check_depth(depth, allow_inf=False)
    eta = _check_step_sizes(step_sizes)
    if not np.isfinite(t_final) or t_final <= 0:
        raise ValueError(f"t_final must be a positive number, got {t_final!r}")
    n_steps = np.maximum(1, np.round(t_final / eta)).astype(int)
    times = n_steps * eta
    grid, where = np.unique(times, return_inverse=True)
    ref = _flow(loss, x0, depth, float(grid[-1]), mode, rtol, atol, t_eval=grid)
    if ref.X.shape[0] != grid.size:
        raise ValueError(f"the reference flow stopped early ({ref.status}: {ref.message})")
    ref_x = ref.X[where]
    dev = np.empty(eta.size)
    for i, (e, k) in enumerate(zip(eta, n_steps)):
        dev[i] = np.linalg.norm(_gd(loss, x0, depth, e, int(k), mode).final_X - ref_x[i])
    return {
        "step_sizes": eta,
        "times": times,
        "deviation": dev,
        "relative": dev / np.linalg.norm(ref_x, axis=(-2, -1)),
    }


def _at_level(losses, values, level):
    """Interpolate ``values`` linearly in log-loss at the first crossing of ``level``."""
    below = np.nonzero(losses <= level)[0]
    if below.size == 0 or below[0] == 0:
        raise ValueError(f"the loss never crosses loss_level={level} after the start")
    j = below[0]
    l0, l1 = np.log(losses[j - 1]), np.log(losses[j])
    w = (np.log(level) - l0) / (l1 - l0)
    return (1 - w) * values[j - 1] + w * values[j]


class ReferenceFlow:
    """Settings of the gradient flow that :func:`outcome_deviation` compares descent with.

    Parameters
    ----------
    max_time : float
        Time limit of the runs (GD takes at most ``max_time / eta`` steps), > 0.
    rtol, atol : float
        Reference ODE tolerances (DOP853), > 0.
    n_eval : int
        Records of the reference flow (a fine grid; the crossing is interpolated), >= 2.

    Raises
    ------
    ValueError
        If a setting is not a positive finite number (``n_eval``: an integer >= 2).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (gradient descent on the
       end-to-end matrix against the flow it discretises).

    Examples
    --------
    >>> from geodln.discretisation import ReferenceFlow
    >>> ReferenceFlow(max_time=50.0, n_eval=200).n_eval
    200
    """

    def __init__(self, max_time=1e3, rtol=1e-12, atol=1e-14, n_eval=4000):
        self.max_time = check_positive_real(max_time, "max_time")
        self.rtol = check_positive_real(rtol, "rtol")
        self.atol = check_positive_real(atol, "atol")
        self.n_eval = check_positive_int(n_eval, "n_eval", minimum=2)


def outcome_deviation(loss, X0, depth, step_sizes, loss_level, outcome, *, mode="downstairs",
                      reference=None):
    r"""Deviation of ``outcome(X)`` at the loss level ``loss_level``: GD vs flow.

    Parameters
    ----------
    loss : geodln.losses.Loss
    X0 : array-like, shape=[m, n]
    depth : int
    step_sizes : array-like, shape=[K]
    loss_level : float
        The fixed loss at which the outcome is read (interpolated in log-loss).
    outcome : callable
        ``outcome(X) -> float`` on a batch ``[T, m, n]`` (returns ``[T]``), e.g.
        ``lambda X: abs(X[..., 0, 0])``.
    mode : {"downstairs", "upstairs"}
    reference : ReferenceFlow, optional
        Time limit, tolerances and grid of the reference flow (default ``ReferenceFlow()``:
        ``max_time`` 1000, rtol 1e-12, atol 1e-14, 4000 records).

    Returns
    -------
    result : dict
        ``step_sizes``, ``reference`` (flow outcome), ``outcomes`` (GD), ``deviation``.

    Raises
    ------
    ValueError
        If ``X0`` is not a finite real array of matrices [..., m, n] of the expected shape, or
        ``reference`` is not a :class:`ReferenceFlow`.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (gradient descent on the
       end-to-end matrix, first-order agreement with factor descent).

    Examples
    --------
    :math:`x_{12}` when the loss first reaches 0.01, GD against the flow:

    >>> from geodln.discretisation import ReferenceFlow, hyperbola_loss, outcome_deviation
    >>> x0 = np.array([[0.3, 0.1], [0.2, 0.4]])
    >>> res = outcome_deviation(hyperbola_loss(), x0, 2, [0.1, 0.05], 1e-2,
    ...                         lambda X: X[..., 0, 1],
    ...                         reference=ReferenceFlow(max_time=50.0, n_eval=200))
    >>> bool(np.all(res["deviation"] < 1e-3)), bool(res["deviation"][1] < res["deviation"][0])
    (True, True)
    """
    mode = _check_mode(mode)
    reference = ReferenceFlow() if reference is None else reference
    if not isinstance(reference, ReferenceFlow):
        raise ValueError(f"reference must be a ReferenceFlow, got {reference!r}")
    max_time, rtol, atol = reference.max_time, reference.rtol, reference.atol
    n_eval = reference.n_eval
    x0 = check_matrix(X0, "X0", allow_batch=False)
    eta = _check_step_sizes(step_sizes)
    stop = 0.5 * loss_level
    ref = _flow(loss, x0, depth, max_time, mode, rtol, atol, loss_tol=stop)
    t_eval = np.linspace(0.0, ref.final_time, n_eval)
    ref = _flow(loss, x0, depth, ref.final_time, mode, rtol, atol, t_eval=t_eval)
    reference = float(_at_level(ref.loss, outcome(ref.X), loss_level))
    outs = np.empty(eta.size)
    for i, e in enumerate(eta):
        traj = _gd(loss, x0, depth, e, int(np.ceil(max_time / e)), mode, loss_tol=stop)
        outs[i] = _at_level(traj.loss, outcome(traj.X), loss_level)
    return {
        "step_sizes": eta,
        "reference": reference,
        "outcomes": outs,
        "deviation": np.abs(outs - reference),
    }


def loglog_slope(step_sizes, deviations):
    """Least-squares slope of ``log(deviation)`` against ``log(step_size)``.

    Parameters
    ----------
    step_sizes, deviations : array-like, shape=[K]

    Returns
    -------
    slope : float

    Raises
    ------
    ValueError
        If ``deviations`` is not a finite real array; otherwise with the message ``deviations
        must be positive and match step_sizes``.

    Examples
    --------
    >>> from geodln.discretisation import loglog_slope
    >>> round(loglog_slope([0.1, 0.01, 0.001], [3e-2, 3e-4, 3e-6]), 12)
    2.0
    """
    x = np.log(_check_step_sizes(step_sizes))
    y = check_finite(deviations, "deviations")
    if y.shape != x.shape or np.any(y <= 0):
        raise ValueError("deviations must be positive and match step_sizes")
    return float(np.polyfit(x, np.log(y), 1)[0])


def hyperbola_loss():
    r"""CMV's 2×2 diagonal completion: observed :math:`x_{11} = x_{22} = 1` (CMV23, Fig. 4).

    Returns
    -------
    loss : geodln.losses.MatrixCompletion
        :math:`E(X) = \tfrac12[(x_{11} - 1)^2 + (x_{22} - 1)^2]`; its zero set of rank one is the
        hyperbola :math:`x_{12}x_{21} = 1`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 (2×2 diagonal completion).

    Examples
    --------
    >>> from geodln.discretisation import hyperbola_loss
    >>> x = np.array([[1.0, 2.0], [0.5, 1.0]])  # on the hyperbola: rank one, zero loss
    >>> float(hyperbola_loss().value(x)), int(np.linalg.matrix_rank(x))
    (0.0, 1)
    """
    return MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 1.0], shape=(2, 2))


def corner_fraction(outcomes, radius=0.25):
    r"""Fraction of outcomes within ``radius`` of :math:`(\pm1, \pm1)` in :math:`(x_{12}, x_{21})`.

    Parameters
    ----------
    outcomes : array-like, shape=[R, 2, 2]
        Final matrices of an ensemble.
    radius : float

    Returns
    -------
    fraction : float

    Raises
    ------
    ValueError
        If ``outcomes`` is not a finite real array of matrices [..., m, n] of the expected
        shape.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 (2×2 diagonal completion).

    Examples
    --------
    >>> from geodln.discretisation import corner_fraction
    >>> near = np.array([[1.0, 1.1], [0.9, 1.0]])      # near the corner (1, 1)
    >>> far = np.array([[1.0, 4.0], [0.25, 1.0]])      # on the hyperbola, far from a corner
    >>> corner_fraction(np.stack([near, far, -near]))  # -near: x12, x21 near (-1, -1)
    0.6666666666666666
    """
    x = check_matrix(outcomes, "outcomes", shape=(2, 2))
    off = np.stack([x[..., 0, 1], x[..., 1, 0]], axis=-1)
    dist = np.linalg.norm(np.abs(off) - 1.0, axis=-1)
    same_sign = np.sign(off[..., 0]) == np.sign(off[..., 1])
    return float(np.mean((dist <= radius) & same_sign))


def _hyperbola_ensemble(step_sizes, depth, n_runs, scale, t_final, seed):
    rng = np.random.default_rng(seed)
    starts = scale * rng.standard_normal((n_runs, 2, 2))
    loss = hyperbola_loss()
    flow = _flow(loss, starts, depth, t_final, "downstairs", 1e-9, 1e-12).final_X
    gd = [_gd(loss, starts, depth, e, int(round(t_final / e)), "downstairs").final_X
          for e in step_sizes]
    return corner_fraction(flow), [corner_fraction(g) for g in gd], flow, gd


def run(out_dir, full=False, seed=0):
    """Run the discretisation experiment; write ``discretisation.json`` and ``.png``.

    Parameters
    ----------
    out_dir : str or os.PathLike
    full : bool
        More step sizes and a larger hyperbola ensemble.
    seed : int
        Seed of the start and of the hyperbola ensemble (an integer >= 0).

    Returns
    -------
    summary : dict
        Slopes and deviations (also written as JSON).

    Raises
    ------
    ValueError
        If ``full`` is not a bool or ``seed`` is not an integer >= 0 (bools are not numbers).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (gradient descent on the
       end-to-end matrix, first-order agreement with factor descent).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 (2×2 diagonal completion).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = check_bool(full, "full")
    seed = check_positive_int(seed, "seed", minimum=0, maximum=2**128 - 1)
    os.makedirs(out_dir, exist_ok=True)
    etas = np.geomspace(2e-3, 3.2e-2, 5) if full else np.array([4e-3, 1.6e-2])
    rng = np.random.default_rng(seed)
    x0 = 0.5 * rng.standard_normal((2, 2))
    loss = hyperbola_loss()
    depth = 3
    summary = {"step_sizes": etas.tolist(), "depth": depth, "seed": seed}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for mode in MODES:
        res = final_point_deviation(loss, x0, depth, etas, 2.0, mode=mode)
        summary[f"final_point_{mode}"] = {
            "deviation": res["deviation"].tolist(),
            "slope": loglog_slope(etas, res["deviation"]),
        }
        axes[0].loglog(etas, res["deviation"], "o-", label=f"{mode} (slope "
                       f"{summary[f'final_point_{mode}']['slope']:.2f})")
    axes[0].set(xlabel="step size", ylabel="|X_GD - X_flow| at t = 2", title="final point")
    axes[0].legend()
    rc = razin_cohen_completion()
    x_rc = np.array([[0.1, 0.02], [-0.03, 0.1]])
    for mode in MODES:
        res = outcome_deviation(rc, x_rc, 3, etas, 3e-2, lambda X: np.abs(X[..., 0, 0]),
                                mode=mode, reference=ReferenceFlow(max_time=2000.0))
        summary[f"razin_cohen_{mode}"] = {
            "reference_abs_x11": res["reference"],
            "deviation": res["deviation"].tolist(),
            "slope": loglog_slope(etas, res["deviation"]),
        }
        axes[1].loglog(etas, res["deviation"], "o-", label=f"{mode} (slope "
                       f"{summary[f'razin_cohen_{mode}']['slope']:.2f})")
    axes[1].set(xlabel="step size", ylabel="| |x11|_GD - |x11|_flow |",
                title="Razin-Cohen |x11| at loss 3e-2 (N=3)")
    axes[1].legend()
    big = np.array([0.05, 0.2, 0.5, 0.8] if full else [0.05, 0.4])
    flow_frac, gd_frac, _, _ = _hyperbola_ensemble(big, depth, 40 if full else 8, 0.05, 30.0,
                                                   seed)
    summary["hyperbola"] = {"step_sizes": big.tolist(), "flow_corner_fraction": flow_frac,
                            "gd_corner_fraction": gd_frac}
    axes[2].plot(big, gd_frac, "o-", label="GD")
    axes[2].axhline(flow_frac, color="k", ls="--", label="flow")
    axes[2].set(xlabel="step size", ylabel="corner fraction", title="hyperbola (N=3)",
                ylim=(-0.05, 1.05))
    axes[2].legend()
    fig.tight_layout()
    _save_figure_and_json(fig, out_dir, "discretisation", summary, dpi=110)
    return summary



