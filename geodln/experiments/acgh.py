r"""ACGH19 (Arora, Cohen, Golowich, Hu, arXiv:1810.02281): the linear-rate guarantee.

1. **Bound vs measured** (Theorem 1): random whitened problems
   :math:`\ell = \tfrac12\|W_N\cdots W_1 - \Phi\|_F^2`, :math:`\Phi = \mathrm{diag}(1.5, 1.2, 1)
   + 0.1 G` (3×3), starts :math:`X_0 = \Phi + 0.25\,\sigma_{\min}(\Phi) H/\|H\|_F` (deficiency
   margin about :math:`0.75\,\sigma_{\min}`), lifted to exactly balanced factors (δ = 0, hidden
   width 3); plain GD on the factors (:func:`geodln.gradient_descent`, upstairs) at the
   theorem's step :math:`\eta_{\max}` and at :math:`10^2, 10^4\,\eta_{\max}` (outside the
   theorem). Reported per run: whether the measured loss ever exceeds
   :math:`\ell(0)\exp(-\eta c^{2(N-1)/N}T)` (it must not at :math:`\eta_{\max}`), and the
   looseness: the measured decay exponent :math:`-\log(\ell(T)/\ell(0))/(\eta T)` over the
   guaranteed :math:`c^{2(N-1)/N}`.
2. **Negative deficiency margin** (Section 3.3): :math:`\Phi = I_2` (det > 0), start
   :math:`X_0 = \mathrm{diag}(0.5, -0.01)` (det < 0, margin < 0), balanced, depths 2 and 3,
   GD with η = 0.05: det X keeps its sign, so the loss stays above
   :math:`\tfrac12\sigma_{\min}(\Phi)^2 = 1/2` (the best rank-deficient loss) — no
   convergence; the same start with det > 0 converges.

At :math:`\eta_{\max}` (~1e-5 to 1e-7 here) the number of steps we can afford only
shows the first few per mille of the decay; the looseness of the rate is therefore measured
at the larger steps, where the bound (computed with the larger η) still held in every run.
"""

import os

import numpy as np

from geodln.experiments._common import ensemble, finish, save_figure, start_run

NAME = "acgh"
SETTINGS = {
    "full": {"runs": 50, "depths": [2, 3, 4], "steps": 20000},
    "reduced": {"runs": 10, "depths": [2, 3], "steps": 5000},
    "tiny": {"runs": 2, "depths": [2, 3], "steps": 500},
}
MULTIPLIERS = [1.0, 1e2, 1e4]


def _problem(rng):
    phi = np.diag([1.5, 1.2, 1.0]) + 0.1 * rng.standard_normal((3, 3))
    h = rng.standard_normal((3, 3))
    smin = np.linalg.svd(phi, compute_uv=False)[-1]
    return phi, phi + 0.25 * smin * h / np.linalg.norm(h)


def _bound_run(rng, index, depths, steps):
    """One random problem: GD at multiples of the theorem's step, loss against the bound."""
    from geodln import gradient_descent
    from geodln.convergence import acgh_bound, acgh_conditions
    from geodln.factors import balanced_factors
    from geodln.losses import LeastSquares

    depth = depths[index % len(depths)]
    phi, x0 = _problem(rng)
    factors = balanced_factors(x0, depth, seed=rng)
    cond = acgh_conditions(factors, phi)
    loss = LeastSquares(np.eye(3), phi)
    out = {"depth": depth, "margin": cond.margin, "delta": cond.delta,
           "delta_max": cond.delta_max, "step_max": cond.step_max, "rate": cond.rate,
           "satisfied": cond.satisfied}
    for mult in MULTIPLIERS:
        eta = mult * cond.step_max
        traj = gradient_descent(loss, factors, eta, steps, mode="upstairs",
                                log_every=max(1, steps // 200))
        bound = acgh_bound(traj.steps, float(traj.loss[0]), eta, cond.margin, depth)
        key = f"x{mult:g}"
        out[f"{key}_max_loss_over_bound"] = float(np.max(traj.loss / bound))
        decay = -np.log(traj.loss[-1] / traj.loss[0]) / (eta * steps)
        out[f"{key}_looseness"] = float(decay / cond.rate)
        out[f"{key}_loss"] = traj.loss
        out[f"{key}_bound"] = bound
        out[f"{key}_steps"] = traj.steps
    return out


def negative_margin(steps=3000):
    """Depths 2, 3 from det X0 < 0 (no convergence) and det X0 > 0 (convergence)."""
    from geodln import gradient_descent
    from geodln.convergence import deficiency_margin
    from geodln.factors import balanced_factors
    from geodln.losses import LeastSquares

    phi = np.eye(2)
    loss = LeastSquares(np.eye(2), phi)
    rows, curves = [], {}
    for label, x0 in (("det<0", np.diag([0.5, -0.01])), ("det>0", np.diag([0.5, 0.01]))):
        for depth in (2, 3):
            traj = gradient_descent(loss, balanced_factors(x0, depth, seed=0), 0.05, steps,
                                    mode="upstairs")
            rows.append({"part": "negative-margin", "start": label, "depth": depth,
                         "margin": float(deficiency_margin(x0, phi)),
                         "final_loss": float(traj.loss[-1]),
                         "min_loss": float(np.min(traj.loss)),
                         "det_sign_kept": bool(np.all(np.sign(np.linalg.det(traj.X))
                                                      == np.sign(np.linalg.det(x0))))})
            curves[(label, depth)] = (traj.steps, traj.loss)
    return rows, curves


def _fig(runs, neg_curves):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax = axes[0]
    for i, mult in enumerate(MULTIPLIERS):
        r = runs[0]
        key = f"x{mult:g}"
        ax.plot(r[f"{key}_steps"], r[f"{key}_loss"], color=f"C{i}",
                label=f"GD, η = {mult:g} η_max")
        ax.plot(r[f"{key}_steps"], r[f"{key}_bound"], color=f"C{i}", ls="--", lw=0.8)
    ax.set(yscale="log", xlabel="step", ylabel="loss",
           title="ACGH19 Thm 1: measured (—) vs bound (--)")
    ax.legend(fontsize=8)
    ax = axes[1]
    for (label, depth), (steps, loss) in neg_curves.items():
        ax.plot(steps, loss, label=f"{label}, N = {depth}")
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="step", ylabel="loss", title="negative deficiency margin")
    ax.legend(fontsize=8)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce ACGH19: bound vs measured GD decay, and the negative-margin failure.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs are kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        50 problems, depths 2-4, 20000 steps (default: reduced, 10 problems, 5000 steps).
    seed : int
        Entropy of the ensembles.
    n_jobs : int, optional
        Parallel workers (default: all cores).
    progress : bool
        Progress bars.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows``, ``claims`` and settings.
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    ens = ensemble(_bound_run, cfg["runs"] * len(cfg["depths"]), out_dir, f"{size}-bound",
                   seed, {"depths": cfg["depths"], "steps": cfg["steps"]}, n_jobs, progress)
    rows = []
    for depth in cfg["depths"]:
        runs = [r for r in ens.runs if int(r["depth"]) == depth]
        row = {"part": "bound", "depth": depth, "n_runs": len(runs),
               "all_satisfied": bool(all(bool(r["satisfied"]) for r in runs)),
               "step_max_median": float(np.median([r["step_max"] for r in runs])),
               "margin_median": float(np.median([r["margin"] for r in runs]))}
        for mult in MULTIPLIERS:
            key = f"x{mult:g}"
            row[f"{key}_max_loss_over_bound"] = float(max(r[f"{key}_max_loss_over_bound"]
                                                         for r in runs))
            row[f"{key}_looseness_median"] = float(np.median([r[f"{key}_looseness"]
                                                              for r in runs]))
        rows.append(row)
    neg_rows, neg_curves = negative_margin()
    rows += neg_rows
    save_figure(_fig(ens.runs, neg_curves), os.path.join(out_dir, "acgh_bound.png"))
    bound_rows = [r for r in rows if r["part"] == "bound"]
    claims = {
        "bound_holds_at_step_max": bool(all(r["x1_max_loss_over_bound"] <= 1 + 1e-12
                                            for r in bound_rows)),
        "max_loss_over_bound": {f"N={r['depth']} {k}": r[f"{k}_max_loss_over_bound"]
                                for r in bound_rows for k in ("x1", "x100", "x10000")},
        "looseness_measured_rate_over_guaranteed": {
            f"N={r['depth']} {k}": r[f"{k}_looseness_median"]
            for r in bound_rows for k in ("x1", "x100", "x10000")},
        "negative_margin_final_loss": {f"{r['start']} N={r['depth']}": r["final_loss"]
                                       for r in neg_rows},
    }
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {"multipliers": MULTIPLIERS, **cfg}}
    return finish(out_dir, NAME, summary, rows, started)
