r"""Razin–Cohen Fig. 1: the 2×2 completion whose unobserved entry runs to infinity.

Problem (RC20, Section 3 and Fig. 1): observed :math:`x_{12} = x_{21} = 1`, :math:`x_{22} = 0`;
:math:`x_{11}` free; loss :math:`E = \tfrac12\sum_\Omega (X_{ij} - b_{ij})^2`. Every solution
has :math:`\det X = -1`. With :math:`\det X(0) > 0` the sign of det is conserved by the flow
(:math:`\tfrac{d}{dt}\log|\det X| = -N\,\mathrm{tr}(\Sigma^{(N-2)/N}U^\top\nabla E V)`), so the
loss can only go to 0 along near-rank-1 matrices
:math:`X \approx \begin{pmatrix} a & 1 \\ 1 & 1/a\end{pmatrix}`: :math:`|x_{11}| \approx
1/\sqrt{2E}\to\infty`, every norm diverges and the effective rank tends to 1 — implicit
regularisation that no norm explains.

What is run (settings from RC's code and paper, RC20, Fig. 1):

- **upstairs gradient descent** on factors of width 2 (their setting), per configuration
  (depth, learning rate, init scale :math:`\alpha`, init): depth 2 — lr 6e-3/α 1e-5 and
  lr 3e-3/α 1e-6, each balanced and "normal"; depth 3 — lr 3e-3/α 8e-3 "normal" (RC's code
  default); depth 4 — lr 3e-3/α 1e-3 and lr 1.5e-3/α 1e-4, balanced. "normal" is per-layer
  :math:`W_p = \alpha G_p` (:func:`geodln.init.gaussian_factors`); "balanced" draws
  :math:`X(0) = \alpha G` and splits it (:func:`geodln.init.balanced`, RC's
  ``use_balanced_init``: α is then the end-to-end scale). Each start is resampled until
  :math:`\det X(0) > 0`.
- **Conventions made explicit.** RC's code minimises the *mean* squared error over the three
  observed entries, :math:`E_{RC} = \tfrac13\sum r^2 = \tfrac23 E`; we run GD on E with step
  :math:`\eta = \tfrac23\,\mathrm{lr}`, which is *the same iteration*, and report
  :math:`|x_{11}|` at :math:`E_{RC} = 10^{-4}` (RC's stopping rule and their plotted loss) and
  at :math:`E = 10^{-4}` (ours; the runs stop there). The prediction
  :math:`|x_{11}| \approx 1/\sqrt{2E}` gives 57.7 and 70.7 at these two points.
- **Depth 4 uses the balanced init** (α = end-to-end scale). With per-layer α = 1e-3 the
  end-to-end start is :math:`\sim\alpha^4 = 10^{-12}` and the escape time from the origin,
  :math:`\sigma_0^{-(1-2/N)}/(N-2)`, is :math:`\sim 5\cdot10^5` time units, i.e.
  :math:`\sim 10^8` steps — beyond the 5·10⁶ epochs of RC's code — so RC's depth-4 panel can
  only have been produced from a balanced start.
- **Unbalanced starts need not keep det > 0.** The sign of det is conserved by the
  downstairs flow, i.e. by the upstairs flow from *balanced* factors (all factors then share
  their singular values, so none can become singular alone). RC's per-layer start is not
  balanced, and at depth 3 with α = 8e-3 the imbalance :math:`O(\alpha^2)` is as large as the
  factors' own Gram matrices: a single factor can pass through a singular matrix and det X
  changes sign early in training. The upstairs *flow* (LSODA, rtol 1e-10) does it too (3 of
  4 seeds checked), so it is not a step-size artefact, and conditioning the start on every
  factor having det > 0 (init ``"normal, factor dets > 0"``) does not prevent it. The run
  then behaves like a det < 0 run (below) and ends with a smaller :math:`|x_{11}|`. Each GD
  row records ``det_crossed_zero``; at full size three more seeds of the depth-3 setting and
  two conditioned starts are run.
- **downstairs flow** :math:`\dot X = -A_{N,X}(\nabla E)` (plain sum, ACH18, Theorem 1) at depths
  2, 3, 4 from :math:`X(0) = \alpha G` (α = 1e-3, det > 0 and det < 0), integrated with LSODA
  (the late phase is stiff: RK45 needs ~4·10⁶ evaluations where LSODA needs ~2·10³),
  stopped at :math:`E = 10^{-4}`; and a sensitivity check over α ∈ {1e-2, 1e-3, 1e-4} at
  depth 3, showing that :math:`|x_{11}|\sqrt{2E}\to 1` does not depend on the init scale.
- **det X(0) < 0 contrast**: the same GD (depth 3) and flows from :math:`\det X(0) < 0`,
  the flows run on to :math:`E = 10^{-8}`. Every solution then has det = −1 at a *finite*
  :math:`x_{11}`, and :math:`|x_{11}|` settles (it changes by a few per cent between
  :math:`E = 10^{-4}` and :math:`10^{-8}`, where a det > 0 run grows 100-fold). But the limit
  is not small for small inits: the second singular value must first escape from the init
  scale, and until it does the run follows the same near-rank-1 path as a det > 0 run. At RC's
  own GD setting (per-layer α = 8e-3, :math:`X(0)\sim 10^{-6}`) a det < 0 run is
  indistinguishable from a det > 0 one down to :math:`E \approx 2\cdot10^{-4}`
  (:math:`|x_{11}| \approx 48`); the flows at α ∈ {1e-2, 1e-3, 1e-4} show the limit growing
  as α shrinks (``summary.json``, ``det_negative_flow_depth3_x11_limit_max_by_alpha``).

Outputs: ``rc_fig1.png`` (|x11| vs loss, log x-axis inverted, colour = iteration, one panel
per depth, as RC Fig. 1), ``rc_norms.png`` (Frobenius/nuclear norm and effective rank vs loss),
``rc_det_contrast.png``, ``rc_downstairs.png`` (:math:`|x_{11}|\sqrt{2E}` vs E),
``summary.json`` and ``summary.csv`` (one row per GD configuration and per downstairs group).
"""

import os

import numpy as np

from geodln.experiments._common import ensemble, finish, save_figure, start_run, value_at_loss

NAME = "razin-cohen"
RC_MSE_FACTOR = 2.0 / 3.0  # E_RC = (1/3) sum r^2 = (2/3) E with E = (1/2) sum r^2
PAPER = {
    2: "saturates: near 7 (balanced init) or near 1 (normal init)",
    3: "62-70",
    4: "57-70",
}

#: (depth, RC learning rate, alpha, init) of RC's Fig. 1 panels (RC20, Fig. 1)
GD_CONFIGS = [
    (2, 6e-3, 1e-5, "balanced"),
    (2, 6e-3, 1e-5, "normal"),
    (2, 3e-3, 1e-6, "balanced"),
    (2, 3e-3, 1e-6, "normal"),
    (3, 3e-3, 8e-3, "normal"),
    (4, 3e-3, 1e-3, "balanced"),
    (4, 1.5e-3, 1e-4, "balanced"),
]

SETTINGS = {
    # gd: list of (depth, lr, alpha, init, det_sign, loss_tol); flows: seeds per (depth, sign)
    "full": {"gd_loss_tol": {2: 1e-4, 3: 1e-4, 4: 1e-4}, "gd_configs": list(range(7)),
             "max_steps": 20_000_000, "flow_seeds": 16, "sens_seeds": 4, "contrast_tol": 1e-4,
             "depth3_replicates": 3, "depth3_posfactors": 2},
    "reduced": {"gd_loss_tol": {2: 1e-4, 3: 3e-3, 4: 3e-3}, "gd_configs": [0, 1, 4, 5],
                "max_steps": 2_000_000, "flow_seeds": 4, "sens_seeds": 2, "contrast_tol": 3e-3},
    "tiny": {"gd_loss_tol": {2: 1e-2, 3: 1e-2, 4: 1e-2}, "gd_configs": [],
             "tiny_gd": [(3, 3e-2, 0.3, "normal")], "max_steps": 200_000, "flow_seeds": 1,
             "sens_seeds": 1, "contrast_tol": 1e-3},
}
FLOW_SCALE = 1e-3
NEG_FLOW_TOL = 1e-8
SENS_SCALES = [1e-2, 1e-4]
MAX_RECORDS = 20_000


def _gd_run(rng, index, configs, max_steps):
    """One upstairs GD run of RC's setting (module level: picklable for the workers)."""
    from geodln import init
    from geodln.flows import gradient_descent
    from geodln.losses import razin_cohen_completion

    depth, lr, alpha, kind, det_sign, loss_tol = configs[index]
    if kind == "balanced":
        factors = init.balanced((2, 2), depth, alpha, seed=rng, det_sign=det_sign)
    elif kind == "normal":
        factors = init.gaussian_factors((2,) * (depth + 1), alpha, seed=rng, det_sign=det_sign)
    elif kind == "normal, factor dets > 0":  # RC's init, further conditioned (see doc)
        for _ in range(1000):
            factors = init.gaussian_factors((2,) * (depth + 1), alpha, seed=rng,
                                            det_sign=det_sign)
            if all(np.linalg.det(w) > 0 for w in factors):
                break
    else:
        raise ValueError(f"unknown init {kind!r}")
    traj = gradient_descent(
        razin_cohen_completion(), factors, RC_MSE_FACTOR * lr, max_steps, mode="upstairs",
        loss_tol=loss_tol, max_norm=1e6, log_every=max(1, max_steps // MAX_RECORDS),
    )
    return {"steps": traj.steps, "X": traj.X, "loss": traj.loss, "status": traj.status,
            "balance_defect": traj.balance_defect,
            "factor_det_signs0": np.sign([np.linalg.det(w) for w in factors])}


def _flow_run(rng, index, cases):
    """One downstairs flow from X(0) = scale * G with the requested sign of det."""
    from geodln.flows import downstairs_flow
    from geodln.init import gaussian_matrix
    from geodln.losses import razin_cohen_completion

    depth, det_sign, scale, loss_tol = cases[index]
    x0 = gaussian_matrix((2, 2), scale, seed=rng, det_sign=det_sign)
    traj = downstairs_flow(
        razin_cohen_completion(), x0, depth, (0.0, 1e12), loss_tol=loss_tol, max_norm=1e6,
        method="LSODA", rtol=1e-8, atol=1e-12,
    )
    return {"times": traj.times, "X": traj.X, "loss": traj.loss, "status": traj.status}


def _measures(run):
    from geodln.measures import effective_rank, frobenius_norm, nuclear_norm

    x = run["X"]
    return {
        "x11": np.abs(x[:, 0, 0]),
        "fro": frobenius_norm(x),
        "nuc": nuclear_norm(x),
        "erank": effective_rank(x),
        "det": np.linalg.det(x),
    }


def _gd_row(cfg, run):
    depth, lr, alpha, kind, det_sign, loss_tol = cfg
    m = _measures(run)
    loss = run["loss"]
    final = float(loss[-1])
    return {
        "part": "gd", "depth": depth, "lr": lr, "alpha": alpha, "init": kind,
        "det_sign_0": det_sign, "loss_tol": loss_tol, "status": str(run["status"]),
        "steps": int(run["steps"][-1]), "final_loss": final,
        "x11_at_rc_mse_1e-4": value_at_loss(loss * RC_MSE_FACTOR, m["x11"], 1e-4),
        "x11_at_loss_1e-4": value_at_loss(loss, m["x11"], 1e-4),
        "x11_final": float(m["x11"][-1]),
        "x11_sqrt_2loss_final": float(m["x11"][-1] * np.sqrt(2 * final)),
        "x11_max": float(np.max(m["x11"])),
        "erank_final": float(m["erank"][-1]), "fro_final": float(m["fro"][-1]),
        "nuclear_final": float(m["nuc"][-1]), "det_final": float(m["det"][-1]),
        "det_crossed_zero": bool(np.any(np.sign(m["det"]) != np.sign(m["det"][0]))),
        "step_det_crossed": int(run["steps"][np.argmax(np.sign(m["det"]) != np.sign(m["det"][0]))])
        if np.any(np.sign(m["det"]) != np.sign(m["det"][0])) else -1,
        "paper_x11": PAPER.get(depth, "") if det_sign > 0 else "bounded (det<0)",
    }


def _flow_rows(cases, ens, tag):
    rows = []
    groups = {}
    for case, run in zip(cases, ens.runs):
        groups.setdefault(tuple(case), []).append(run)
    for (depth, det_sign, scale, tol), runs in groups.items():
        x11_at = [value_at_loss(r["loss"], _measures(r)["x11"], 1e-4) for r in runs]
        prod = [float(_measures(r)["x11"][-1] * np.sqrt(2 * r["loss"][-1])) for r in runs]
        rows.append({
            "part": tag, "depth": depth, "det_sign_0": det_sign, "alpha": scale,
            "loss_tol": tol, "n_runs": len(runs),
            "statuses": ";".join(sorted({str(r["status"]) for r in runs})),
            "x11_at_loss_1e-4_median": float(np.nanmedian(x11_at)),
            "x11_sqrt_2loss_min": float(np.min(prod)), "x11_sqrt_2loss_max": float(np.max(prod)),
            "x11_max": float(max(np.max(_measures(r)["x11"]) for r in runs)),
            "x11_final_max": float(max(_measures(r)["x11"][-1] for r in runs)),
            "x11_growth_after_1e-4_max": float(max(
                _measures(r)["x11"][-1] / value_at_loss(r["loss"], _measures(r)["x11"], 1e-4)
                for r in runs)),
            "erank_final_max": float(max(_measures(r)["erank"][-1] for r in runs)),
            "det_final_signs": ";".join(
                sorted({f"{np.sign(np.linalg.det(r['X'][-1])):+.0f}" for r in runs})),
        })
    return rows


def _colored(ax, loss, y, c, cmap, label):
    ax.plot(loss, y, color="0.8", lw=0.6, zorder=1)
    sc = ax.scatter(loss, y, c=c, cmap=cmap, s=4, zorder=2, label=label)
    return sc


def _fig1(gd_cfgs, gd_runs):
    import matplotlib.pyplot as plt

    depths = sorted({c[0] for c in gd_cfgs if c[4] > 0})
    fig, axes = plt.subplots(1, max(1, len(depths)), figsize=(4.6 * max(1, len(depths)), 4),
                             squeeze=False, layout="constrained")
    cmaps = ["viridis", "plasma", "cividis", "magma"]
    for ax, depth in zip(axes[0], depths):
        k = 0
        for cfg, run in zip(gd_cfgs, gd_runs):
            if cfg[0] != depth or cfg[4] < 0:
                continue
            m = _measures(run)
            loss = run["loss"] * RC_MSE_FACTOR
            sc = _colored(ax, loss, m["x11"], run["steps"], cmaps[k % 4],
                          f"lr {cfg[1]:g}, α {cfg[2]:g}, {cfg[3]}")
            k += 1
        grid = np.geomspace(1e-4, 1, 50)
        ax.plot(grid, 1 / np.sqrt(3 * grid), "k--", lw=0.8, label=r"$1/\sqrt{3E_{RC}}$")
        ax.set(xscale="log", yscale="log", xlabel="loss (RC's mean squared error)",
               ylabel=r"$|x_{11}|$", title=f"depth {depth}, det X(0) > 0")
        ax.invert_xaxis()
        ax.legend(fontsize=7)
        fig.colorbar(sc, ax=ax, label="iteration")
    return fig


def _fig_norms(gd_cfgs, gd_runs, flow_cases, flow_runs):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
    for cfg, run in zip(gd_cfgs, gd_runs):
        if cfg[4] < 0:
            continue
        m = _measures(run)
        label = f"GD N={cfg[0]} lr {cfg[1]:g} α {cfg[2]:g} {cfg[3]}"
        for ax, key in zip(axes, ("fro", "nuc", "erank")):
            ax.plot(run["loss"], m[key], lw=1, label=label)
    seen = set()
    for case, run in zip(flow_cases, flow_runs):
        if case[1] < 0 or case[2] != FLOW_SCALE or case[0] in seen:
            continue
        seen.add(case[0])
        m = _measures(run)
        for ax, key in zip(axes, ("fro", "nuc", "erank")):
            ax.plot(run["loss"], m[key], "--", lw=1, label=f"flow N={case[0]}")
    for ax, name in zip(axes, ("Frobenius norm", "nuclear norm", "effective rank")):
        ax.set(xscale="log", xlabel=r"loss $E=\frac{1}{2}\sum r^2$", ylabel=name)
        if name != "effective rank":
            ax.set_yscale("log")
        ax.invert_xaxis()
    axes[0].legend(fontsize=6)
    fig.suptitle("Razin–Cohen 2×2, det X(0) > 0: norms diverge, effective rank → 1")
    return fig


def _fig_contrast(gd_cfgs, gd_runs, flow_cases, flow_runs):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    for cfg, run in zip(gd_cfgs, gd_runs):
        if cfg[0] == 3:
            ax.plot(run["loss"], _measures(run)["x11"], lw=1.5,
                    color="C0" if cfg[4] > 0 else "C3",
                    label=f"GD N=3, det X(0) {'>' if cfg[4] > 0 else '<'} 0")
    for sign, color in ((1, "C0"), (-1, "C3")):
        first = True
        for case, run in zip(flow_cases, flow_runs):
            if case[0] == 3 and case[1] == sign and case[2] == FLOW_SCALE:
                ax.plot(run["loss"], _measures(run)["x11"], "--", color=color, lw=0.7,
                        alpha=0.7, label=f"flow N=3, det X(0) {'>' if sign > 0 else '<'} 0"
                        if first else None)
                first = False
    grid = np.geomspace(1e-4, 1, 50)
    ax.plot(grid, 1 / np.sqrt(2 * grid), "k:", lw=0.8, label=r"$1/\sqrt{2E}$")
    ax.set(xscale="log", yscale="log", xlabel=r"loss $E$", ylabel=r"$|x_{11}|$",
           title="sign of det X(0) decides: unbounded vs bounded")
    ax.invert_xaxis()
    ax.legend(fontsize=7)
    return fig


def _fig_downstairs(flow_cases, flow_runs):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    colors = {2: "C2", 3: "C0", 4: "C1"}
    labelled = set()
    for case, run in zip(flow_cases, flow_runs):
        depth, sign, scale, _ = case
        if sign < 0:
            continue
        m = _measures(run)
        key = (depth, scale)
        style = "-" if scale == FLOW_SCALE else ":"
        ax.plot(run["loss"], m["x11"] * np.sqrt(2 * run["loss"]), style,
                color=colors.get(depth, "k"), lw=0.8, alpha=0.8,
                label=None if key in labelled else f"N={depth}, α={scale:g}")
        labelled.add(key)
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set(xscale="log", xlabel=r"loss $E$", ylabel=r"$|x_{11}|\sqrt{2E}$",
           title="downstairs flow, det X(0) > 0")
    ax.invert_xaxis()
    ax.legend(fontsize=7)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce Razin–Cohen Fig. 1 (and the norms, det-sign and downstairs companions).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs are kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        All seven GD configurations to loss 1e-4 and 16 flows per (depth, sign) (tens of
        minutes on 2 cores); default: the reduced CI size.
    seed : int
        Entropy of the ensembles.
    n_jobs : int, optional
        Parallel workers (default: all cores).
    progress : bool
        Progress bars.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size (``"tiny"`` is the test-suite smoke size, with a larger init and lr).

    Returns
    -------
    summary : dict
        ``rows`` (the table of ``summary.csv``), ``claims`` (the checks of the paper's
        statements with their numbers), settings and wall time.
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    tol = cfg["gd_loss_tol"]
    gd_cfgs = [(d, lr, a, k, 1, tol[d]) for d, lr, a, k in
               [GD_CONFIGS[i] for i in cfg["gd_configs"]] + cfg.get("tiny_gd", [])]
    contrast = next(c for c in gd_cfgs if c[0] == 3)
    gd_cfgs.append(contrast[:4] + (-1, cfg["contrast_tol"]))
    gd = ensemble(_gd_run, len(gd_cfgs), out_dir, f"{size}-gd", seed,
                  {"configs": gd_cfgs, "max_steps": cfg["max_steps"]}, n_jobs, progress)
    gd_runs = list(gd.runs)
    # more seeds of RC's depth-3 setting: discrete GD can flip the sign of det (see doc)
    n_rep = cfg.get("depth3_replicates", 0)
    if n_rep:
        rep_cfgs = [contrast] * n_rep
        rep = ensemble(_gd_run, n_rep, out_dir, f"{size}-gd-depth3", seed,
                       {"configs": rep_cfgs, "max_steps": cfg["max_steps"]}, n_jobs, progress)
        gd_cfgs = gd_cfgs + rep_cfgs
        gd_runs += rep.runs
    n_pos = cfg.get("depth3_posfactors", 0)
    if n_pos:
        pos_cfgs = [contrast[:3] + ("normal, factor dets > 0",) + contrast[4:]] * n_pos
        pos = ensemble(_gd_run, n_pos, out_dir, f"{size}-gd-depth3-posfactors", seed,
                       {"configs": pos_cfgs, "max_steps": cfg["max_steps"]}, n_jobs, progress)
        gd_cfgs = gd_cfgs + pos_cfgs
        gd_runs += pos.runs
    # det < 0 flows run on to 1e-8: |x11| must settle (bounded), not grow like 1/sqrt(2E)
    flow_cases = [(d, s, FLOW_SCALE, 1e-4 if s > 0 else NEG_FLOW_TOL) for d in (2, 3, 4)
                  for s in (1, -1) for _ in range(cfg["flow_seeds"])]
    flow_cases += [(3, s, a, 1e-4 if s > 0 else NEG_FLOW_TOL) for a in SENS_SCALES
                   for s in (1, -1) for _ in range(cfg["sens_seeds"])]
    flows = ensemble(_flow_run, len(flow_cases), out_dir, f"{size}-flow", seed,
                     {"cases": flow_cases}, n_jobs, progress)

    rows = [_gd_row(c, r) for c, r in zip(gd_cfgs, gd_runs)]
    rows += _flow_rows(flow_cases, flows, "downstairs")
    save_figure(_fig1(gd_cfgs, gd_runs), os.path.join(out_dir, "rc_fig1.png"))
    save_figure(_fig_norms(gd_cfgs, gd_runs, flow_cases, flows.runs),
                os.path.join(out_dir, "rc_norms.png"))
    save_figure(_fig_contrast(gd_cfgs, gd_runs, flow_cases, flows.runs),
                os.path.join(out_dir, "rc_det_contrast.png"))
    save_figure(_fig_downstairs(flow_cases, flows.runs),
                os.path.join(out_dir, "rc_downstairs.png"))
    summary = {"size": size, "seed": seed, "rows": rows, "claims": _claims(rows),
               "settings": {"gd_configs": gd_cfgs, "flow_scale": FLOW_SCALE,
                            "sensitivity_scales": SENS_SCALES, "rc_mse_factor": RC_MSE_FACTOR,
                            "max_steps": cfg["max_steps"]}}
    return finish(out_dir, NAME, summary, rows, started)


def _label(row):
    return f"N={row['depth']} lr {row['lr']:g} a {row['alpha']:g} {row['init']}"


def _claims(rows):
    """Check the paper's statements on this run's numbers."""
    flows = [r for r in rows if r["part"] == "downstairs"]
    deep_pos = [r for r in flows if r["depth"] >= 3 and r["det_sign_0"] > 0]
    neg = [r for r in rows if r["det_sign_0"] < 0]
    gd_deep = [r for r in rows if r["part"] == "gd" and r["depth"] >= 3 and r["det_sign_0"] > 0]
    return {
        "flow_x11_sqrt_2loss_range_depth_ge_3": [
            min(r["x11_sqrt_2loss_min"] for r in deep_pos),
            max(r["x11_sqrt_2loss_max"] for r in deep_pos)],
        "gd_x11_sqrt_2loss_depth_ge_3": [r["x11_sqrt_2loss_final"] for r in gd_deep],
        "gd_x11_at_rc_mse_1e-4": [[_label(r), r["x11_at_rc_mse_1e-4"]] for r in rows
                                  if r["part"] == "gd" and r["det_sign_0"] > 0],
        "det_negative_x11_max": max(r["x11_max"] for r in neg),
        "gd_det_crossed_zero": [[_label(r) + f" det0 {r['det_sign_0']:+d}",
                                 r["det_crossed_zero"]] for r in rows if r["part"] == "gd"],
        "det_negative_flow_x11_growth_from_1e-4_to_1e-8_max": max(
            r["x11_growth_after_1e-4_max"] for r in neg if r["part"] == "downstairs"),
        "det_negative_flow_depth3_x11_limit_max_by_alpha": {
            f"{r['alpha']:g}": r["x11_final_max"] for r in neg
            if r["part"] == "downstairs" and r["depth"] == 3},
        "erank_final_max_depth_ge_3": max(r["erank_final_max"] for r in deep_pos),
    }
