r"""ACHL's depth effect at 2000×2000, on M_r with factored flows (ours, not ACHL's protocol).

Arora–Cohen–Hu–Luo (ACHL, arXiv:1905.13655, Sec. 3 / Fig. 1) complete a 100×100 rank-5
matrix with full-width deep factorisations trained by gradient descent; that protocol is
:mod:`geodln.experiments.achl` (``geodln reproduce achl``). This experiment asks the same
question at a scale where no m×n array fits: the downstairs flow of :mod:`geodln.lowrank`
(plain-sum :math:`A_{N,X}`, the exact image of balanced factor training) restricted to a
working rank, at 2000×2000.

- ground truth :math:`X^*` of rank 5 (Gaussian factors, scaled to :math:`\sigma_1(X^*) = 1`),
  |Ω| entries observed uniformly without repetition, noise-free; |Ω| = ρ · r(2n − r)
  (ρ = oversampling over the dimension of :math:`M_r`);
- working rank ``work_rank`` = 10, start :math:`X_0 = U\,\alpha I\,V^\top` (Haar U, V,
  end-to-end α = 1e-3 at every depth);
- the gradient flow :math:`\dot X = -A_{N,X}(\nabla E)`,
  :math:`E = \tfrac12\sum_\Omega (X_{ij} - b_{ij})^2`, by the projected RK23 of
  :func:`geodln.lowrank.lowrank_flow` (``rtol=1e-4``) until :math:`E \le 10^{-6} E(0)` or
  ``max_steps`` steps;
- **depth 1 is not ACHL's baseline**: it is the Euclidean gradient flow on :math:`M_{10}`
  (a rank-constrained completion, which helps depth 1); its rows are labelled
  ``"depth 1 = rank-10 Euclidean flow (ours)"``. ACHL's baseline, minimum nuclear norm, is in
  :mod:`geodln.experiments.achl`;
- error on the unobserved entries, relative:
  :math:`\|P_{\Omega^c}(X - X^*)\|_F / \|P_{\Omega^c}X^*\|_F`, exact from the factors
  (:func:`unobserved_error`).

Only converged runs (status ``loss_tol``) enter the table (``summary.csv``); a run that
exhausts ``max_steps`` is listed under ``claims["unconverged_runs"]`` with its numbers and is
left out of the medians. Sizes (``SETTINGS``; depths 1–4, rank 5):

- ``tiny`` — 100×100, ρ ∈ {2, 4}, 1 problem, 500 steps (seconds);
- ``reduced`` — 300×300, ρ ∈ {1.5, 2, 3, 4, 6}, 1 problem, 3000 steps;
- ``full`` — 2000×2000, ρ ∈ {3, 4, 6} (|Ω| = 59 925, 79 900, 119 850; 1.5–3 % observed),
  1 problem, at most 20 000 steps. Below ρ = 3 the deeper flows do not converge within tens of
  thousands of steps at this size (an earlier run with a 4000-step cap: errors > 1 at
  ρ ≤ 2), so those sample sizes are left out of the full table rather than reported
  unconverged.

Every (problem, |Ω|, depth) training is one member of a :func:`geodln.ensemble.run_ensemble`
ensemble in ``out_dir/runs/<size>-completion`` (written as it finishes, reused on a rerun).
The problem of member (p, |Ω|) is drawn from ``SeedSequence([seed, PROBLEM_TAG])`` — all
depths train on the *same* problem — and the start from the member's own ensemble seed. Each
member uses one BLAS thread.

Outputs: ``achl_at_scale.png`` (median unobserved error and final effective rank against |Ω|,
one curve per depth), ``summary.csv`` (one row per |Ω| and depth, converged runs),
``achl_at_scale_runs.csv`` (every run), ``summary.json``.

References
----------
.. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Sec. 3, Fig. 1.
"""

import os
from contextlib import nullcontext

import numpy as np

from geodln.ensemble import load_ensemble
from geodln.experiments._common import (
    check_seed,
    ensemble,
    finish,
    resolve_size,
    save_figure,
    save_table,
    start_run,
)
from geodln.flows import StoppingRules
from geodln.lowrank import (
    FactoredPoint,
    FlowOptions,
    SparseCompletion,
    lowrank_flow,
    sample_distinct_indices,
)
from geodln.lowrank.retraction import frobenius_norm_of_product

__all__ = ["run", "make_problem", "unobserved_error", "train", "flow_options", "summarize",
           "SETTINGS"]

NAME = "achl-at-scale"
DEPTH1_LABEL = "depth 1 = rank-10 Euclidean flow (ours)"
DEPTHS = (1, 2, 3, 4)
TRUE_RANK = 5
INIT_SCALE = 1e-3
REL_LOSS_TOL = 1e-6
RTOL = 1e-4
#: Unobserved error below which a run counts as a recovery (for the threshold claim).
RECOVERED = 0.1
#: Second entropy word of the problems' SeedSequence (the ensemble's differs).
PROBLEM_TAG = 0xAC4C
SETTINGS = {
    "tiny": {"side": 100, "work_rank": 10, "oversampling": [2, 4], "n_problems": 1,
             "max_steps": 500},
    "reduced": {"side": 300, "work_rank": 10, "oversampling": [1.5, 2, 3, 4, 6],
                "n_problems": 1, "max_steps": 3000},
    "full": {"side": 2000, "work_rank": 10, "oversampling": [3, 4, 6],
             "n_problems": 1, "max_steps": 20_000},
}


def make_problem(side, true_rank, n_observed, rng):
    """Rank-``true_rank`` truth (σ₁ = 1) and a :class:`SparseCompletion` on |Ω| = n_observed.

    Parameters
    ----------
    side : int
        The matrices are ``side × side``.
    true_rank : int
        Rank of the ground truth (Gaussian factors, rescaled to σ₁ = 1).
    n_observed : int
        Number of distinct observed entries, sampled uniformly.
    rng : numpy.random.Generator

    Returns
    -------
    loss : SparseCompletion
        Noise-free observations of the truth.
    truth : FactoredPoint

    Examples
    --------
    >>> from geodln.experiments.achl_at_scale import make_problem
    >>> loss, truth = make_problem(20, 2, 100, np.random.default_rng(0))
    >>> loss, float(truth.s[0])
    (SparseCompletion(shape=(20, 20), n_observed=100), 1.0)
    """
    left = rng.standard_normal((side, true_rank))
    right = rng.standard_normal((side, true_rank))
    truth = FactoredPoint.from_product(left, right, true_rank)
    truth.s /= truth.s[0]
    rows, cols = sample_distinct_indices((side, side), n_observed, rng)
    return SparseCompletion((rows, cols), truth.entries(rows, cols), (side, side)), truth


def unobserved_error(point, truth, loss):
    r"""Relative error on the unobserved entries, exact, from the factors (no m×n array).

    :math:`\|P_{\Omega^c}(X - X^*)\|_F^2 = \|X - X^*\|_F^2 - \sum_\Omega (X_{ij} - b_{ij})^2`
    (noise-free observations :math:`b = X^*|_\Omega`), the full norm from the rank-(r + r*)
    factors of :math:`X - X^*`; likewise
    :math:`\|P_{\Omega^c}X^*\|_F^2 = \|X^*\|_F^2 - \|b\|^2`.

    Parameters
    ----------
    point, truth : FactoredPoint
    loss : SparseCompletion
        Noise-free observations of ``truth``.

    Returns
    -------
    error : float
        :math:`\|P_{\Omega^c}(X - X^*)\|_F / \|P_{\Omega^c}X^*\|_F`.

    Examples
    --------
    Zero at the truth, of order one at an unrelated point:

    >>> from geodln.experiments.achl_at_scale import make_problem, unobserved_error
    >>> from geodln.lowrank import random_factored_point
    >>> loss, truth = make_problem(20, 2, 100, np.random.default_rng(0))
    >>> bool(unobserved_error(truth, truth, loss) < 1e-12)
    True
    >>> bool(0.5 < unobserved_error(random_factored_point(20, 20, 2, seed=1), truth, loss) < 2)
    True
    """
    full = frobenius_norm_of_product(np.hstack([point.left(), -truth.left()]),
                                     np.hstack([point.v, truth.v])) ** 2
    observed = float(np.sum(loss.residuals(point) ** 2))
    truth_unobs = truth.frobenius_norm() ** 2 - float(np.sum(loss.values**2))
    return float(np.sqrt(max(full - observed, 0.0) / max(truth_unobs, np.finfo(float).tiny)))


def flow_options(max_steps):
    """Return the integrator settings of a run: projected RK23, rtol ``RTOL``, atol 1e-12.

    Parameters
    ----------
    max_steps : int
        Step budget (a run that exhausts it ends ``"failed"``).

    Returns
    -------
    options : geodln.lowrank.FlowOptions

    Examples
    --------
    >>> opts = flow_options(3000)
    >>> opts.method, opts.rtol, opts.atol, opts.max_steps
    ('RK23', 0.0001, 1e-12, 3000)
    """
    return FlowOptions(method="RK23", rtol=RTOL, atol=1e-12, max_steps=max_steps)


def train(loss, truth, depth, work_rank, rng, init_scale=INIT_SCALE, rel_loss_tol=1e-8,
          options=None):
    r"""One run: the factored downstairs flow from a small start.

    Parameters
    ----------
    loss : SparseCompletion
    truth : FactoredPoint
    depth : int
        Depth N of the plain-sum metric :math:`g^N`.
    work_rank : int
        Rank of the start (and of the whole trajectory).
    rng : numpy.random.Generator
        Draws the Haar singular vectors of the start.
    init_scale : float
        End-to-end scale α of the start :math:`U \alpha I V^\top`.
    rel_loss_tol : float
        Stop when the loss is below ``rel_loss_tol`` times its initial value.
    options : geodln.lowrank.FlowOptions, optional
        The integrator (default :func:`flow_options` ``(3000)``: projected RK23, rtol
        ``RTOL``, atol 1e-12, a budget of 3000 steps).

    Returns
    -------
    result : dict
        ``error`` (unobserved), ``loss`` (relative), ``steps``, ``time``, ``erank``,
        ``sigma`` (final singular values), ``seconds``, ``status``.
    """
    m, n = loss.shape
    u, _ = np.linalg.qr(rng.standard_normal((m, work_rank)))
    v, _ = np.linalg.qr(rng.standard_normal((n, work_rank)))
    x0 = FactoredPoint(u, np.full(work_rank, init_scale), v, check=False)
    loss0 = loss.value(x0)
    options = flow_options(3000) if options is None else options
    traj = lowrank_flow(loss, x0, depth, (0.0, 1e12), options=options,
                        stop=StoppingRules(loss_tol=rel_loss_tol * loss0))
    final = traj.final_X
    return {"error": unobserved_error(final, truth, loss), "loss": traj.final_loss / loss0,
            "steps": int(traj.metadata["n_steps"]), "time": traj.final_time,
            "erank": float(traj.effective_rank[-1]), "sigma": final.s.copy(),
            "seconds": traj.wall_time, "status": traj.status}


def _blas_single_thread():
    """One BLAS thread per run (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with joblib/loky setups
        return nullcontext()
    return threadpool_limits(1)


def _completion_run(rng, index, cases, problem_entropy, n_problems, side, work_rank,
                    max_steps):
    """Ensemble member ``index``: build its problem, train, return the scalars of the run."""
    problem, n_observed, depth = cases[index]
    child = np.random.SeedSequence(problem_entropy).spawn(n_problems)[problem]
    with _blas_single_thread():
        loss, truth = make_problem(side, TRUE_RANK, n_observed, np.random.default_rng(child))
        res = train(loss, truth, depth, work_rank, rng, rel_loss_tol=REL_LOSS_TOL,
                    options=flow_options(max_steps))
    res.pop("seconds")  # wall time is in the run's metadata; files stay reproducible
    # fingerprint of the problem: the depths of one problem index must share it
    return {**res, "problem": problem, "n_observed": n_observed, "depth": depth,
            "truth_sigma": truth.s, "observed_sum": float(np.sum(loss.values))}


def _plan(cfg, seed):
    """Cases ``[problem, |Ω|, depth]`` (problem-major) and the ensemble params."""
    side = cfg["side"]
    dof = TRUE_RANK * (2 * side - TRUE_RANK)
    counts = [min(int(round(o * dof)), side * side) for o in cfg["oversampling"]]
    # problem index p·K + k: one problem per (replicate p, |Ω| number k), shared by the depths
    cases = [[p * len(counts) + i, k, d] for p in range(cfg["n_problems"])
             for i, k in enumerate(counts) for d in DEPTHS]
    params = {"cases": cases, "problem_entropy": [seed, PROBLEM_TAG],
              "n_problems": cfg["n_problems"] * len(counts), "side": side,
              "work_rank": cfg["work_rank"], "max_steps": cfg["max_steps"]}
    return counts, cases, params


def _rows(cfg, counts, runs, walls):
    """Per-run rows and per-(|Ω|, depth) rows (median/min/max over problems)."""
    side = cfg["side"]
    dof = TRUE_RANK * (2 * side - TRUE_RANK)
    per_run = [{"problem": int(r["problem"]), "n_observed": int(r["n_observed"]),
                "depth": int(r["depth"]), "error": float(r["error"]),
                "rel_loss": float(r["loss"]), "erank": float(r["erank"]),
                "sigma_6_over_sigma_1": float(r["sigma"][TRUE_RANK] / r["sigma"][0]),
                "steps": int(r["steps"]), "flow_time": float(r["time"]),
                "status": str(r["status"]), "wall_time_s": round(float(w), 2)}
               for r, w in zip(runs, walls)]
    rows = []
    for k in counts:
        for d in DEPTHS:
            every = [r for r in per_run if r["n_observed"] == k and r["depth"] == d]
            group = [r for r in every if r["status"] == "loss_tol"]  # the table: converged only
            if not group:
                continue
            err = np.array([r["error"] for r in group])
            rows.append({
                "n_observed": k, "oversampling": round(k / dof, 3),
                "observed_fraction": k / side**2, "depth": d,
                "method": DEPTH1_LABEL if d == 1 else f"depth {d}, downstairs flow on M_r",
                "n_runs": len(group),
                "error_median": float(np.median(err)), "error_min": float(err.min()),
                "error_max": float(err.max()),
                "erank_median": float(np.median([r["erank"] for r in group])),
                "sigma_6_over_sigma_1_median": float(
                    np.median([r["sigma_6_over_sigma_1"] for r in group])),
                "converged_fraction": len(group) / len(every),
                "rel_loss_max": max(r["rel_loss"] for r in group),
                "steps_median": float(np.median([r["steps"] for r in group])),
                "wall_time_s_median": float(np.median([r["wall_time_s"] for r in group])),
            })
    return per_run, rows


def _claims(counts, rows, per_run):
    """Depth ≥ 2 against depth 1 at each |Ω| (medians), and at the smaller half of |Ω|."""
    med = {(r["n_observed"], r["depth"]): r["error_median"] for r in rows}
    beats, ratio = {}, {}
    for k in counts:
        if (k, 1) not in med or not any((k, d) in med for d in DEPTHS[1:]):
            continue
        best = min(med[(k, d)] for d in DEPTHS[1:] if (k, d) in med)
        beats[str(k)] = bool(best < med[(k, 1)])
        ratio[str(k)] = med[(k, 1)] / max(best, np.finfo(float).tiny)
    small = [str(k) for k in counts[: max(1, len(counts) // 2)] if str(k) in beats]
    # ACHL Fig. 1 read as a threshold: the fewest observations with median error < RECOVERED
    threshold = {d: next((k for k in counts if med.get((k, d), np.inf) < RECOVERED), None)
                 for d in DEPTHS}
    deeper = [t for d, t in threshold.items() if d >= 2 and t is not None]
    return {
        "error_median": {str(d): {str(k): med[(k, d)] for k in counts if (k, d) in med}
                         for d in DEPTHS},
        "depth_ge_2_lower_error_than_depth_1": beats,
        "depth_ge_2_lower_error_than_depth_1_at_smaller_counts":
            bool(small) and all(beats[k] for k in small),
        "error_ratio_depth_1_over_best_deeper": ratio,
        "error_decreases_with_depth": {
            str(k): bool(all(med[(k, a)] > med[(k, b)] for a, b in zip(DEPTHS, DEPTHS[1:])))
            for k in counts if all((k, d) in med for d in DEPTHS)},
        f"recovery_threshold_n_observed_error_below_{RECOVERED:g}": {
            str(d): t for d, t in threshold.items()},
        "deeper_recovers_from_fewer_observations": bool(deeper) and (
            threshold[1] is None or min(deeper) < threshold[1]),
        "converged_fraction": float(np.mean([r["status"] == "loss_tol" for r in per_run])),
    }


def _figure(cfg, counts, rows):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for i, d in enumerate(DEPTHS):
        sel = [r for r in rows if r["depth"] == d]
        if not sel:
            continue
        x = np.array([r["n_observed"] for r in sel])
        y = np.array([r["error_median"] for r in sel])
        lo = y - np.array([r["error_min"] for r in sel])
        hi = np.array([r["error_max"] for r in sel]) - y
        conv = np.array([r["converged_fraction"] == 1.0 for r in sel])
        axes[0].errorbar(x, y, yerr=[lo, hi], color=f"C{i}", marker="o", capsize=3,
                         label=f"depth {d}")
        axes[0].plot(x[~conv], y[~conv], "o", mfc="white", color=f"C{i}", zorder=3)
        axes[1].plot(x, [r["erank_median"] for r in sel], marker="o", color=f"C{i}",
                     label=f"depth {d}")
    axes[0].set(yscale="log", xlabel="number of observed entries |Ω|",
                ylabel="relative error on unobserved entries")
    axes[0].legend(title="open marker: not every run reached the loss tol.", fontsize=8,
                   title_fontsize=7)
    axes[1].axhline(TRUE_RANK, color="0.5", ls="--", lw=0.8)
    axes[1].set(xlabel="number of observed entries |Ω|", ylabel="effective rank of final X")
    side = cfg["side"]
    fig.suptitle(f"depth effect at scale (ours), {side}×{side}, rank {TRUE_RANK}, factored flow on "
                 f"M_{cfg['work_rank']}, α = {INIT_SCALE:g}")
    return fig


def summarize(out_dir, size="full", seed=0):
    """Rows and claims from the *finished* runs of a (possibly interrupted) experiment.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The experiment folder.
    size : {"tiny", "reduced", "full"}
    seed : int
        The seed the experiment was run with (checked against the recorded entropy).

    Returns
    -------
    summary : dict
        ``n_finished``, ``n_runs``, ``rows`` (per |Ω| and depth), ``runs`` (per run),
        ``claims`` — over the finished runs only.

    Raises
    ------
    ValueError
        If ``size`` or ``seed`` is invalid, or ``seed`` does not match the folder's recorded
        problem entropy.
    """
    size = resolve_size(False, size)
    seed = check_seed(seed)
    cfg = SETTINGS[size]
    counts, cases, params = _plan(cfg, seed)
    ens = load_ensemble(os.path.join(os.fspath(out_dir), "runs", f"{size}-completion"),
                        allow_partial=True)
    if ens.metadata["params"]["problem_entropy"] != params["problem_entropy"]:
        raise ValueError(f"seed {seed} does not match the recorded problem entropy "
                         f"{ens.metadata['params']['problem_entropy']}")
    walls = [m["wall_time"] for m in ens.run_metadata]
    per_run, rows = _rows(cfg, counts, ens.runs, walls)
    claims = _claims(counts, rows, per_run)
    claims["unconverged_runs"] = [r for r in per_run if r["status"] != "loss_tol"]
    return {"size": size, "n_finished": len(ens.runs), "n_runs": len(cases), "rows": rows,
            "runs": per_run, "claims": claims}


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """ACHL's depth effect at scale (unobserved error against |Ω|, depths 1–4), factored flow.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        2000×2000 (default: the reduced CI size, 300×300).
    seed : int
        Entropy of the problems and of the ensemble.
    n_jobs : int, optional
        Parallel workers (default: all cores).
    progress : bool
        Progress bar.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows`` (``summary.csv``), ``claims``, ``settings``, ``size``, ``wall_time_s``,
        ``files``.
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    counts, cases, params = _plan(cfg, seed)
    ens = ensemble(_completion_run, len(cases), out_dir, f"{size}-completion", seed, params,
                   n_jobs, progress)
    walls = [m["wall_time"] for m in ens.run_metadata]
    per_run, rows = _rows(cfg, counts, ens.runs, walls)
    save_table(os.path.join(out_dir, "achl_at_scale_runs.csv"), per_run)
    save_figure(_figure(cfg, counts, rows), os.path.join(out_dir, "achl_at_scale.png"))
    claims = _claims(counts, rows, per_run)
    claims["unconverged_runs"] = [r for r in per_run if r["status"] != "loss_tol"]
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {**cfg, "n_observed": counts, "depths": list(DEPTHS),
                            "true_rank": TRUE_RANK, "init_scale": INIT_SCALE,
                            "rel_loss_tol": REL_LOSS_TOL, "rtol": RTOL, "method": "RK23",
                            "metric": "plain-sum A_N (normalized=False)",
                            "run_wall_time_s_total": round(float(np.sum(walls)), 1)}}
    return finish(out_dir, NAME, summary, rows, started)
