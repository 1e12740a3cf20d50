"""Plots of trajectories and of upstairs-vs-downstairs comparisons.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot, no global backend state),
so they work headless; pass ``ax`` to draw into an existing axes instead.
"""

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "plot_trajectory",
    "plot_singular_values",
    "plot_loss",
    "plot_deviation",
    "plot_comparison",
    "comparison_figure",
]


def _axes(ax, ncols=1, size=(4.5, 3.5)):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(size[0] * ncols, size[1]), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _time_axis(ax, times, log_time):
    if log_time and np.any(times > 0):
        ax.set_xscale("symlog", linthresh=float(np.min(times[times > 0])))
        ax.set_xlim(left=float(np.min(times)))
    ax.set_xlabel("t")


def plot_singular_values(trajectory, ax=None, log_time=False, top=None, **style):
    """Singular values of X(t) against time, one line per singular value.

    Parameters
    ----------
    trajectory : Trajectory
    ax : matplotlib Axes, optional
    log_time : bool
        Symmetric-log time axis.
    top : int, optional
        Plot only the ``top`` largest singular values.
    **style
        Passed to ``ax.plot`` (e.g. ``color``, ``linestyle``, ``label``).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from geodln import downstairs_flow
    >>> from geodln.losses import razin_cohen_completion
    >>> tr = downstairs_flow(razin_cohen_completion(), 0.1 * np.eye(2), 2, (0.0, 1.0))
    >>> from geodln.plotting.trajectory import plot_singular_values
    >>> ax = plot_singular_values(tr, label="depth 2")
    >>> len(ax.lines), ax.get_yscale()
    (2, 'log')
    """
    _, ax = _axes(ax)
    label = style.pop("label", None)
    sv = trajectory.singular_values if top is None else trajectory.singular_values[:, :top]
    lines = ax.plot(trajectory.times, np.maximum(sv, np.finfo(float).tiny), **style)
    if label is not None and lines:
        lines[0].set_label(label)
    ax.set_yscale("log")
    ax.set_ylabel("singular values of X(t)")
    _time_axis(ax, trajectory.times, log_time)
    return ax


def plot_loss(trajectory, ax=None, log_time=False, **style):
    """Loss against time (log scale).

    Parameters
    ----------
    trajectory : Trajectory
        A recorded flow (its ``times`` and ``loss``).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    log_time : bool
        Symmetric-log time axis.
    **style
        Passed to ``ax.plot``.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from geodln import downstairs_flow
    >>> from geodln.losses import razin_cohen_completion
    >>> tr = downstairs_flow(razin_cohen_completion(), 0.1 * np.eye(2), 2, (0.0, 1.0))
    >>> from geodln.plotting.trajectory import plot_loss
    >>> plot_loss(tr, color="k").get_ylabel()
    'loss'
    """
    _, ax = _axes(ax)
    ax.plot(trajectory.times, np.maximum(trajectory.loss, np.finfo(float).tiny), **style)
    ax.set_yscale("log")
    ax.set_ylabel("loss")
    _time_axis(ax, trajectory.times, log_time)
    return ax


def plot_trajectory(trajectory, log_time=False):
    """Two panels: loss and singular values of X(t) against time.

    Parameters
    ----------
    trajectory : Trajectory
    log_time : bool

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> from geodln import downstairs_flow
    >>> from geodln.losses import razin_cohen_completion
    >>> tr = downstairs_flow(razin_cohen_completion(), 0.1 * np.eye(2), 2, (0.0, 1.0))
    >>> from geodln.plotting.trajectory import plot_trajectory
    >>> len(plot_trajectory(tr).axes)
    2
    """
    fig, (a, b) = _axes(None, ncols=2)
    plot_loss(trajectory, a, log_time)
    plot_singular_values(trajectory, b, log_time)
    fig.suptitle(f"{trajectory.mode} ({trajectory.status})")
    return fig


def plot_deviation(comparison, ax=None, log_time=False, **style):
    """Relative deviation of X(t), upstairs vs downstairs, against time.

    Parameters
    ----------
    comparison : FlowComparison
    ax : matplotlib Axes, optional
    log_time : bool
    **style
        Passed to ``ax.plot``.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from geodln import compare_flows
    >>> from geodln.losses import razin_cohen_completion
    >>> cmp = compare_flows(razin_cohen_completion(), 0.5 * np.eye(2), 2, (0.0, 1.0))
    >>> from geodln.plotting.trajectory import plot_deviation
    >>> plot_deviation(cmp).get_yscale()
    'log'
    """
    _, ax = _axes(ax)
    dev = np.maximum(comparison.deviation, 1e-17)
    ax.plot(comparison.times, dev, marker=".", **style)
    ax.set_yscale("log")
    ax.set_ylabel(r"$\|X_{up} - X_{down}\|_F / \|X_{up}\|_F$")
    _time_axis(ax, comparison.times, log_time)
    return ax


def plot_comparison(comparison, axes=None, log_time=False, top=8):
    """Singular values upstairs (solid) vs downstairs (dashed), and the deviation.

    Parameters
    ----------
    comparison : FlowComparison
    axes : pair of matplotlib Axes, optional
    log_time : bool
    top : int, optional
        Number of leading singular values drawn (None: all).

    Returns
    -------
    axes : pair of matplotlib Axes

    Examples
    --------
    >>> from geodln import compare_flows
    >>> from geodln.losses import razin_cohen_completion
    >>> cmp = compare_flows(razin_cohen_completion(), 0.5 * np.eye(2), 2, (0.0, 1.0))
    >>> from geodln.plotting.trajectory import plot_comparison
    >>> left, right = plot_comparison(cmp, top=2)
    >>> len(left.lines)  # two singular values, upstairs and downstairs
    4
    """
    if axes is None:
        _, axes = _axes(None, ncols=2)
    a, b = axes
    plot_singular_values(comparison.upstairs, a, log_time, top, color="C0", lw=1.8,
                         label="upstairs (factors)")
    plot_singular_values(comparison.downstairs, a, log_time, top, color="C1", ls="--", lw=1.2,
                         label="downstairs (X)")
    a.legend(fontsize="small")
    title = comparison.name or "problem"
    shown = "" if top is None or top >= min(comparison.shape) else f" (top {top} s.v.)"
    a.set_title(f"{title}, N={comparison.depth}{shown}", fontsize="medium")
    plot_deviation(comparison, b, log_time, color="C2")
    b.set_title(f"max deviation {comparison.max_deviation:.2g}", fontsize="medium")
    return axes


def comparison_figure(comparisons, log_time=None, top=8):
    """One row per comparison: singular values overlaid, and the deviation against time.

    Parameters
    ----------
    comparisons : list of FlowComparison
    log_time : list of bool or bool, optional
        Symmetric-log time axis per row (default: off).
    top : int, optional
        Number of leading singular values drawn per row.

    Returns
    -------
    fig : matplotlib Figure

    Raises
    ------
    ValueError
        If ``comparisons`` is empty.

    Examples
    --------
    >>> from geodln import compare_flows
    >>> from geodln.losses import razin_cohen_completion
    >>> cmp = compare_flows(razin_cohen_completion(), 0.5 * np.eye(2), 2, (0.0, 1.0))
    >>> from geodln.plotting.trajectory import comparison_figure
    >>> len(comparison_figure([cmp, cmp]).axes)
    4
    """
    n = len(comparisons)
    if n == 0:
        raise ValueError("comparisons must not be empty")
    if log_time is None or isinstance(log_time, bool):
        log_time = [bool(log_time)] * n
    fig = Figure(figsize=(10, 3.2 * n), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 2))
    for row, comp, lt in zip(axes, comparisons, log_time):
        plot_comparison(comp, row, lt, top)
    return fig
