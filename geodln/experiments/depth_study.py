r"""Depth comparison on real completion data: DLN dynamics of depth 1–4 against soft-impute.

The shared protocol of ``geodln reproduce movielens`` and ``geodln reproduce inpainting`` (our
protocol, not a paper's; every choice is listed here and in the summary's ``settings``):

1. offsets (:func:`geodln.data.fit_offsets`) fitted *beforehand* on the training entries; the
   dynamics complete the residuals;
2. for each depth N, downstairs Riemannian gradient descent of the deep linear network on the
   factored rank-``work_rank`` manifold, :math:`X \leftarrow R_X(-\eta A_{N,X}\nabla E)`
   (ACH18's end-to-end update to first order; exact image of balanced factor GD in the
   small-step limit, BRTW21), loss :math:`E = \tfrac12\sum_\Omega(X_{ij} - b_{ij})^2`, from
   :math:`X_0 = U(\alpha I)V^\top` with Haar frames and :math:`\alpha` = ``init_scale``;
   depth 1 is Euclidean GD on the rank-``work_rank`` matrices;
3. fixed step :math:`\eta_N = 2c/(L\,N\,s^{2-2/N})` (:func:`geodln.step_size.stable_step_size`;
   L = 1 for completion, :math:`s` = ``scale`` — the largest singular value the run is expected
   to reach, estimated as twice that of the validation-best soft-impute solution, whose
   nuclear-norm shrinkage makes it smaller than the unregularised fit), c = 0.5;
4. validation RMSE every ``eval_every`` steps; early stopping (:class:`geodln.data.EarlyStopping`)
   once ``patience`` evaluations have not improved AND ``relative_patience`` × (best step)
   steps have passed since the best step — deep networks learn in plateaus whose length grows
   with the time already spent (incremental learning from a small start), and a fixed wait
   stopped depths 3–4 on their first (rank-1) plateau; the validation-best point within the
   ``n_steps`` budget is scored on the test set;
5. baseline: soft-impute (MHT10) along the path :math:`\lambda = \lambda_{\max}\cdot`
   ``geomspace(0.9, 0.01, n_lambdas)`` (warm starts, ranks capped at ``4 work_rank``), ended
   once the validation RMSE has risen twice in a row; λ chosen on the validation set.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from geodln.baselines import soft_impute
from geodln.data import EarlyStopping, HeldOutError
from geodln.lowrank import FactoredPoint, lowrank_gradient_descent
from geodln.measures import effective_rank_from_singular_values
from geodln.step_size import stable_step_size

__all__ = [
    "StudySettings",
    "train_depth",
    "soft_impute_baseline",
    "compare_depths",
    "validation_figure",
    "replot_study",
    "save_study",
]


@dataclass(frozen=True)
class StudySettings:
    """Settings of a depth study (see the module docstring for their roles).

    Parameters
    ----------
    depths : tuple of int
    work_rank : int
    init_scale : float
    n_steps : int
        Step budget per depth (early stopping usually ends sooner).
    eval_every : int
    patience : int
    relative_patience : float
        Minimum wait after the best step, as a multiple of the best step.
    safety : float
        c in the step-size rule.
    n_lambdas : int
        Length of the soft-impute λ path.

    Examples
    --------
    >>> from geodln.experiments.depth_study import StudySettings
    >>> StudySettings(depths=(1, 2)).depths, StudySettings().n_lambdas
    ((1, 2), 15)
    """

    depths: tuple = (1, 2, 3, 4)
    work_rank: int = 20
    init_scale: float = 1e-3
    n_steps: int = 5000
    eval_every: int = 25
    patience: int = 8
    relative_patience: float = 3.0
    safety: float = 0.5
    n_lambdas: int = 15


def _start(shape, rank, scale, rng):
    m, n = shape
    u, _ = np.linalg.qr(rng.standard_normal((m, rank)))
    v, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    return FactoredPoint(u, np.full(rank, float(scale)), v)


def train_depth(split, offsets, depth, settings, scale, seed):
    """Train one depth with early stopping on validation RMSE; score the best point on test.

    Parameters
    ----------
    split : geodln.data.Split
        Residual-free tables (offsets are subtracted here).
    offsets : geodln.data.Offsets
    depth : int
    settings : StudySettings
    scale : float
        Expected largest singular value of the solution (sets the step).
    seed : int or numpy Generator
        Start frames.

    Returns
    -------
    row : dict
        ``depth``, ``step_size``, ``best_step``, ``steps_run``, ``validation_rmse``,
        ``test_rmse``, ``test_mae``, ``test_relative_error``, ``effective_rank``,
        ``wall_time_s``, ``status``.
    """
    clock = time.perf_counter()
    rng = np.random.default_rng(seed)
    loss = offsets.residuals(split.train).to_loss()
    val = HeldOutError(split.validation, offsets)
    test = HeldOutError(split.test, offsets)
    start = _start(split.train.shape, settings.work_rank, settings.init_scale, rng)
    dense_start = (start.u * start.s) @ start.v.T
    eta = stable_step_size(loss, dense_start, depth, reference=float(scale),
                           safety=settings.safety)
    stopper = EarlyStopping(val.metric("rmse"), patience=settings.patience,
                            relative_patience=settings.relative_patience)
    every = settings.eval_every

    traj = lowrank_gradient_descent(loss, start, depth, eta, settings.n_steps,
                                    stop=stopper.stop_rule(every, eta),
                                    record=settings.n_steps)
    best = stopper.best_point if stopper.best_point is not None else start
    scores = test(best)
    return {
        "depth": depth,
        "step_size": eta,
        "best_step": stopper.best_step,
        "steps_run": int(round(traj.times[-1] / eta)),
        "status": {"completed": "step budget", "stopped": "early-stopped"}.get(traj.status,
                                                                              traj.status),
        "validation_rmse": stopper.best_value,
        "test_rmse": scores["rmse"],
        "test_mae": scores["mae"],
        "test_relative_error": scores["relative_error"],
        "effective_rank": effective_rank_from_singular_values(best.s),
        "wall_time_s": round(time.perf_counter() - clock, 2),
        "history": stopper.history,
    }


def soft_impute_baseline(split, offsets, settings, max_rank=None):
    """Soft-impute along a λ path; λ chosen by validation RMSE, scored on test.

    Parameters
    ----------
    split : geodln.data.Split
    offsets : geodln.data.Offsets
    settings : StudySettings
        ``n_lambdas`` sets the path length.
    max_rank : int, optional
        Rank cap of the iterates (default ``4 * work_rank``).

    Returns
    -------
    row : dict
        ``method``, ``lambda``, ``rank``, ``validation_rmse``, test metrics, the largest
        singular value ``sigma_1`` of the chosen solution, ``wall_time_s``.
    """
    clock = time.perf_counter()
    train = offsets.residuals(split.train)
    max_rank = max_rank or 4 * settings.work_rank
    val, test = HeldOutError(split.validation, offsets), HeldOutError(split.test, offsets)
    top = soft_impute(train, lambdas=1, max_rank=1, max_iter=1).lambdas[0]  # λ_max
    scores = []

    def worse_twice(lam, factors):
        scores.append(val(factors)["rmse"])
        return len(scores) > 2 and scores[-1] > scores[-2] > scores[-3]

    path = soft_impute(train, lambdas=top * np.geomspace(0.9, 0.01, settings.n_lambdas),
                       max_rank=max_rank, tol=1e-5, max_iter=200, stop=worse_twice)
    k = int(np.argmin(scores))
    left, right = path.factors[k]
    # singular values of L Rᵀ = L (Q R_R)ᵀ are those of L R_Rᵀ (m × r)
    sigma = np.linalg.svd(left @ np.linalg.qr(right)[1].T, compute_uv=False)
    best = test(path.factors[k])
    return {
        "method": "soft-impute",
        "lambda": float(path.lambdas[k]),
        "rank": int(path.ranks[k]),
        "validation_rmse": scores[k],
        "test_rmse": best["rmse"],
        "test_mae": best["mae"],
        "test_relative_error": best["relative_error"],
        "sigma_1": float(sigma.max(initial=0.0)),
        "wall_time_s": round(time.perf_counter() - clock, 2),
    }


def compare_depths(split, offsets, settings, seed=0, progress=True):
    """Run the soft-impute baseline and every depth of ``settings`` on one split.

    Parameters
    ----------
    split : geodln.data.Split
    offsets : geodln.data.Offsets
    settings : StudySettings
    seed : int
    progress : bool
        A tqdm bar over the depths.

    Returns
    -------
    rows : list of dict
        One row per depth, then the baseline row.
    settings : dict
        The settings and the scale that set the step sizes.
    """
    from tqdm.auto import tqdm

    baseline = soft_impute_baseline(split, offsets, settings)
    # the unregularised DLN fit grows past the shrunk soft-impute solution: a margin of 2
    scale = 2.0 * max(baseline["sigma_1"], 1e-3)
    children = np.random.SeedSequence(seed).spawn(len(settings.depths))
    rows = [
        train_depth(split, offsets, depth, settings, scale, child)
        for depth, child in zip(tqdm(settings.depths, disable=not progress, desc="depths"),
                                children)
    ]
    rows.append(baseline)
    return rows, {**asdict(settings), "scale": scale}


def validation_figure(rows, metric_name="validation RMSE"):
    """Plot the validation curves of each depth with the early-stopping point, and the baseline.

    Parameters
    ----------
    rows : list of dict
        From :func:`compare_depths` (depth rows carry ``history``).
    metric_name : str
        Axis label.

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    starts, lows = [], []
    for row in rows:
        if "depth" not in row or not row["history"]:
            continue
        steps, values = zip(*row["history"])
        diverged = row.get("status") == "diverged"
        (line,) = ax.plot(steps, values,
                          label=f"depth {row['depth']}" + (" (diverged)" if diverged else ""))
        ax.plot([row["best_step"]], [row["validation_rmse"]], "o", color=line.get_color())
        if diverged:
            ax.plot([steps[-1]], [values[-1]], "x", color=line.get_color())
        starts += [v for v in values[:1] if np.isfinite(v)]
        lows += [v for v in (row["validation_rmse"],) if np.isfinite(v)]
    base = rows[-1]
    ax.axhline(base["validation_rmse"], color="k", ls="--",
               label=f"soft-impute (λ = {base['lambda']:.3g}, rank {base['rank']})")
    if starts and lows:
        # the interesting range: from below the best values to a little above the starts;
        # curves of overfitting runs leave through the top
        low = min(lows + [v for v in (base["validation_rmse"],) if np.isfinite(v)])
        span = max(starts) - low
        ax.set_ylim(low - 0.1 * span, max(starts) + 0.25 * span)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel(metric_name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def replot_study(out_dir, name, metric_name):
    """Redraw ``name.png`` from ``name.csv`` and ``name_history.csv`` (no rerun).

    Parameters
    ----------
    out_dir : str
        The folder :func:`save_study` wrote.
    name : str
        File stem.
    metric_name : str
        Axis label.

    Returns
    -------
    path : str
        The figure written.

    Raises
    ------
    ValueError
        If either table is missing or lacks the columns :func:`save_study` writes.
    """
    import csv
    import os

    from geodln.experiments._common import save_figure

    if not isinstance(out_dir, str | os.PathLike):
        raise ValueError(f"out_dir must be a folder path, got {out_dir!r}")
    try:
        with open(os.path.join(out_dir, f"{name}.csv"), newline="") as fh:
            rows = list(csv.DictReader(fh))
        with open(os.path.join(out_dir, f"{name}_history.csv"), newline="") as fh:
            history = list(csv.DictReader(fh))
        table = []
        for row in rows:
            if row.get("depth"):
                depth = int(row["depth"])
                table.append({
                    "depth": depth, "status": row["status"],
                    "best_step": int(row["best_step"]),
                    "validation_rmse": float(row["validation_rmse"]),
                    "history": [(int(h["step"]), float(h["validation"]))
                                for h in history if int(h["depth"]) == depth],
                })
            else:
                table.append({"validation_rmse": float(row["validation_rmse"]),
                              "lambda": float(row["lambda"]), "rank": int(row["rank"])})
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"out_dir: no readable {name}.csv / {name}_history.csv in "
                         f"{out_dir!r} ({type(exc).__name__}: {exc})") from None
    if not table or "depth" in table[-1] or not any("depth" in row for row in table):
        raise ValueError(f"out_dir: {name}.csv in {out_dir!r} must hold the depth rows and "
                         "the baseline row that save_study writes")
    return save_figure(validation_figure(table, metric_name),
                       os.path.join(out_dir, f"{name}.png"))


def save_study(out_dir, name, rows, metric_name):
    """Write ``name.png``, ``name.csv`` and ``name_history.csv``; return the rows without history.

    ``name_history.csv`` holds every recorded validation value (``depth``, ``step``,
    ``validation``), so the figure can be re-plotted without rerunning.

    Parameters
    ----------
    out_dir : str
    name : str
        File stem.
    rows : list of dict
        From :func:`compare_depths`.
    metric_name : str
        Axis label of the figure.

    Returns
    -------
    rows : list of dict
    """
    import os

    from geodln.experiments._common import save_figure, save_table

    save_figure(validation_figure(rows, metric_name), os.path.join(out_dir, f"{name}.png"))
    history = [{"depth": r["depth"], "step": int(step), "validation": float(value)}
               for r in rows if "depth" in r for step, value in r["history"]]
    if history:
        save_table(os.path.join(out_dir, f"{name}_history.csv"), history)
    rows = [{k: v for k, v in r.items() if k != "history"} for r in rows]
    save_table(os.path.join(out_dir, f"{name}.csv"), rows)
    return rows
