r"""Razin–Cohen (RC) Fig. 1: the 2×2 completion whose unobserved entry runs to infinity.

Problem (Razin–Cohen, arXiv:2005.06398, Sec. 4.1): observed :math:`x_{12} = x_{21} = 1`,
:math:`x_{22} = 0`; :math:`x_{11}` free. Every solution has :math:`\det X = -1`. With
:math:`\det X(0) > 0` the sign of det is conserved by the downstairs flow, so the loss can only
go to 0 along near-rank-1 matrices :math:`\begin{pmatrix} a & 1 \\ 1 & 1/a\end{pmatrix}`:
:math:`|x_{11}| \approx 1/\sqrt{2E}\to\infty` (E the loss below), every norm diverges and the
effective rank tends to 1.

**RC's protocol, as run here** (all from RC's code, github.com/noamrazin/imp_reg_dl_not_norms;
the revision each convention comes from is named):

- **Loss.** :math:`E = \tfrac12\sum_\Omega (X_{ij} - b_{ij})^2`. RC's trainer
  (``trainers/dln_matrix_sensing_configurable_trainer.py`` at commit a0093b3, 2020-09-16, the
  revision that regenerated ``example_plots/dmf_orig_d{2,3,4}.png``, unchanged at HEAD
  c20e02c) trains on ``mse_loss(y_pred, y) * (len(y_pred) / 2)``, which is this E, and tracks
  ``sse_loss_div_2`` = E. (The first commit 058ff3d, 2020-05-14, trained on and stopped at the
  plain mean :math:`\tfrac13\sum r^2`; we do not follow it.)
- **Step.** Plain gradient descent (``torch.optim.SGD``, no momentum) on E with RC's learning
  rate as the step: :math:`W_p \leftarrow W_p - \mathrm{lr}\,\partial E/\partial W_p`
  (:data:`SETTINGS` ``step_factor`` = 1).
- **Stopping.** RC's ``StopOnZeroTrainLoss`` on ``sse_loss_div_2`` with tol 1e-4
  (``dmf_experiment_runner.py``), checked at every validation (every 50 epochs), stopping
  after more than ``patience`` = 10 consecutive checks below tol; at most 5·10⁶ epochs (the
  runner's default since 8d9cb6c). One epoch is one full-batch GD step. We check the loss at
  the current iterate every 50 steps (RC's tracked value is the loss of the epoch's forward
  pass, one step earlier: a difference of one step in 50).
- **Init** (``models/deep_linear_net.py``): "normal" is per-layer :math:`W_p = \alpha G_p`
  (``randn * alpha``), redrawn until :math:`\det X(0) \ge 0` (``enforce_pos_det``, set in
  ``dmf_multiple_experiments_runner.py``); "balanced" ("(b)" in the legends) draws
  :math:`X(0) = \alpha G` and splits it by its SVD into equal-singular-value factors.
  *Deviation:* RC's balanced init ignores ``enforce_pos_det`` (the plotted balanced runs all
  rise to 62, so they had det > 0); we redraw balanced starts until det > 0 too, and run
  det < 0 separately (contrast rows). Our balanced split uses random orthogonal hidden frames
  instead of RC's identity frames: GD is equivariant under
  :math:`W_p \mapsto Q_p W_p Q_{p-1}^\top`, so the iterates of X are the same.
- **Width** 2 (``create_same_dim_deep_linear_network``), float64 (RC: float32).
- **Fig. 1 settings**, from the legends of ``example_plots/dmf_orig_d{2,3,4}.png``
  (:data:`GD_CONFIGS`): depths 2 and 3 — lr 6e-3/α 1e-5 and lr 3e-3/α 1e-6; depth 4 — lr
  3e-3/α 1e-3 and lr 1.5e-3/α 1e-4; each normal and balanced. Plus RC's runner default
  (depth 3, lr 3e-3, α 8e-3, normal), which is not a Fig. 1 setting.
- **Read-out.** RC's plotter marks the first iterate below ½Σr² = 1.3·10⁻¹, …, 1.3·10⁻⁴; we
  report :math:`|x_{11}|` there (``x11_at_1.3e-k``) and at 10⁻⁴ (the stopping loss), next to
  the values read off RC's plots (:data:`PAPER_MARKERS`).

*Per-layer init at small α may not leave the origin within 5·10⁶ epochs.* From per-layer
scale α the factors grow like :math:`\dot a \sim a^{N-1}`, an escape time
:math:`\sim \alpha^{-(N-2)}/(N-2)` in units of lr·steps (depth ≥ 3); at depth 3 with α 1e-6
and lr 3e-3 that is ~3·10⁸ epochs. Such runs end at the epoch cap with loss ≈ 1 and are
reported with status ``epoch_cap``: RC's code at these settings does not produce the plotted
curve, whatever produced the figure.

**Downstairs flows** :math:`\dot X = -A_{N,X}(\nabla E)` (plain sum) at depths 2, 3, 4 from
:math:`X(0) = \alpha G` (α = 1e-3, det > 0 and det < 0), LSODA, stopped at E = 10⁻⁴ (det < 0:
10⁻⁸), and a sensitivity check over α ∈ {1e-2, 1e-3, 1e-4} at depth 3: the theory's
:math:`|x_{11}|\sqrt{2E}\to 1` independent of the init scale. **det X(0) < 0 contrast:** the
first depth-3 Fig. 1 setting from det < 0 (RC's ``enforce_neg_det``): :math:`|x_{11}|` stays
bounded.

Outputs: ``rc_fig1.png`` (|x11| vs ½Σr², log x-axis inverted, colour = iteration, one panel
per depth, as RC Fig. 1), ``rc_norms.png``, ``rc_det_contrast.png``, ``rc_downstairs.png``,
``summary.json`` and ``summary.csv`` (one row per GD run and per downstairs group).

References
----------
.. [1] RC20: Razin, Cohen, arXiv:2005.06398, Sec. 4 and Fig. 1.
"""

import os

import numpy as np

from geodln.experiments._common import ensemble, finish, save_figure, start_run, value_at_loss

NAME = "razin-cohen"

#: RC's protocol (commit a0093b3 / HEAD c20e02c of noamrazin/imp_reg_dl_not_norms)
PROTOCOL = {
    "loss": "E = 1/2 sum_Omega (X_ij - b_ij)^2  (RC: mse_loss * len/2 = sse_loss_div_2)",
    "step_factor": 1.0,  # GD step = RC's lr on E
    "stop_tol": 1e-4,  # StopOnZeroTrainLoss tol on sse_loss_div_2
    "check_every": 50,  # validate_every
    "patience": 10,  # stop after > patience consecutive checks below tol
    "max_epochs": 5_000_000,  # runner default epochs
    "width": 2,
}
#: loss levels of RC's plot markers (dmf_results_plotter.py: 1.3 * 10**-j)
MARKER_LOSSES = (1.3e-1, 1.3e-2, 1.3e-3, 1.3e-4)
#: (depth, lr, alpha, init) of RC's Fig. 1 panels (legends of example_plots/dmf_orig_d*.png)
GD_CONFIGS = [
    (2, 6e-3, 1e-5, "normal"), (2, 6e-3, 1e-5, "balanced"),
    (2, 3e-3, 1e-6, "normal"), (2, 3e-3, 1e-6, "balanced"),
    (3, 6e-3, 1e-5, "normal"), (3, 6e-3, 1e-5, "balanced"),
    (3, 3e-3, 1e-6, "normal"), (3, 3e-3, 1e-6, "balanced"),
    (4, 3e-3, 1e-3, "normal"), (4, 3e-3, 1e-3, "balanced"),
    (4, 1.5e-3, 1e-4, "normal"), (4, 1.5e-3, 1e-4, "balanced"),
]
#: RC's runner default (dmf_multiple_experiments_runner.py): not a Fig. 1 setting
RUNNER_DEFAULT = (3, 3e-3, 8e-3, "normal")
#: |x11| at the marker losses read off RC's example plots (approximate, by eye), per config
PAPER_MARKERS = {
    (2, 6e-3, 1e-5, "normal"): (0.6, 0.7, 0.73, 0.73),
    (2, 6e-3, 1e-5, "balanced"): (1.55, 6.0, 6.95, 6.97),
    (2, 3e-3, 1e-6, "normal"): (0.9, 1.15, 1.2, 1.2),
    (2, 3e-3, 1e-6, "balanced"): (1.55, 6.05, 7.15, 7.2),
    (3, 6e-3, 1e-5, "normal"): (1.5, 6.2, 19.6, 43),
    (3, 6e-3, 1e-5, "balanced"): (1.5, 6.2, 19.6, 62),
    (3, 3e-3, 1e-6, "normal"): (1.5, 6.2, 19.6, 62),
    (3, 3e-3, 1e-6, "balanced"): (1.5, 6.2, 19.6, 62),
    (4, 3e-3, 1e-3, "normal"): (1.5, 6.2, 19.6, 57),
    (4, 3e-3, 1e-3, "balanced"): (1.5, 6.2, 19.6, 62),
    (4, 1.5e-3, 1e-4, "normal"): (1.5, 6.2, 19.6, 62),
    (4, 1.5e-3, 1e-4, "balanced"): (1.5, 6.2, 19.6, 62),
}

SETTINGS = {
    "full": {"gd_configs": list(range(12)), "runner_default": True, "max_epochs": 5_000_000,
             "stop_tol": 1e-4, "flow_seeds": 8, "sens_seeds": 4, "contrast_tol": 1e-4},
    "reduced": {"gd_configs": [1, 3, 5, 9], "runner_default": False, "max_epochs": 2_000_000,
                "stop_tol": 3e-3, "flow_seeds": 4, "sens_seeds": 2, "contrast_tol": 3e-3},
    "tiny": {"gd_configs": [], "tiny_gd": [(3, 3e-2, 0.3, "normal")], "runner_default": False,
             "max_epochs": 200_000, "stop_tol": 1e-2, "flow_seeds": 1, "sens_seeds": 1,
             "contrast_tol": 1e-3},
}
FLOW_SCALE = 1e-3
NEG_FLOW_TOL = 1e-8
SENS_SCALES = [1e-2, 1e-4]
MAX_RECORDS = 20_000


def rc_problem():
    r"""Return ``(mask, target)`` of RC's 2×2 completion, each [2, 2].

    Returns
    -------
    mask : ndarray, shape=[2, 2]
        1 on the observed entries (1, 2), (2, 1), (2, 2) (1-based), 0 on the free (1, 1).
    target : ndarray, shape=[2, 2]
        The observed values :math:`b_{12} = b_{21} = 1`, :math:`b_{22} = 0` (0 elsewhere).

    Examples
    --------
    >>> from geodln.experiments.razin_cohen import rc_problem
    >>> mask, target = rc_problem()
    >>> mask
    array([[0., 1.],
           [1., 1.]])
    >>> target
    array([[0., 1.],
           [1., 0.]])
    """
    mask = np.array([[0.0, 1.0], [1.0, 1.0]])
    target = np.array([[0.0, 1.0], [1.0, 0.0]])
    return mask, target


def rc_loss(x):
    r"""RC's loss :math:`\tfrac12\sum_\Omega r^2` (``sse_loss_div_2``) of X [..., 2, 2].

    Parameters
    ----------
    x : array-like, shape=[..., 2, 2]
        End-to-end matrices.

    Returns
    -------
    loss : ndarray, shape=[...]
        Half the sum of squared residuals on the three observed entries.

    Examples
    --------
    At the identity the residuals are -1, -1 and 1:

    >>> from geodln.experiments.razin_cohen import rc_loss
    >>> float(rc_loss(np.eye(2)))
    1.5
    >>> float(rc_loss(np.array([[7.0, 1.0], [1.0, 0.0]])))  # any x11: a zero of the loss
    0.0
    """
    mask, target = rc_problem()
    return 0.5 * np.sum((mask * (np.asarray(x) - target)) ** 2, axis=(-2, -1))


def _rc_start(rng, depth, alpha, kind, det_sign):
    from geodln import init

    if kind == "balanced":
        fs = init.balanced((2, 2), depth, alpha, seed=rng, det_sign=det_sign)
    elif kind == "normal":
        fs = init.gaussian_factors((2,) * (depth + 1), alpha, seed=rng, det_sign=det_sign)
    else:
        raise ValueError(f"unknown init {kind!r}")
    return np.stack(fs)


def _gd_group_run(rng, index, groups, max_epochs, protocol):
    """RC's GD for a group of configurations on the engine's batched descent.

    The starts are drawn in the order of the group (one generator); each depth then runs as
    one batch of :func:`geodln.gradient_descent` (upstairs, a step per member, RC's stopping
    rule as ``StoppingRules(loss_tol, check_every, patience)``), in the compiled kernel when
    numba is installed. A stopped or diverged member keeps its last finite iterate. Records
    every ``check_every`` steps (thinned to at most ``MAX_RECORDS``) and at the stop.
    """
    from geodln.flows import Every, StoppingRules, gradient_descent
    from geodln.losses import razin_cohen_completion

    configs = groups[index]
    starts = [_rc_start(rng, d, a, k, s) for d, _, a, k, s in configs]
    every = protocol["check_every"]
    every *= max(1, max_epochs // every // MAX_RECORDS)
    stop = StoppingRules(loss_tol=protocol["stop_tol"], check_every=protocol["check_every"],
                         patience=protocol["patience"])
    members = [None] * len(configs)
    for depth in sorted({c[0] for c in configs}):
        idx = [i for i, c in enumerate(configs) if c[0] == depth]
        factors = [np.stack([starts[i][p] for i in idx]) for p in range(depth)]
        lr = np.array([configs[i][1] * protocol["step_factor"] for i in idx])
        traj = gradient_descent(razin_cohen_completion(), factors, lr, max_epochs,
                                mode="upstairs", stop=stop, record=Every(every))
        for j, i in enumerate(idx):
            members[i] = traj[j]
    t_len = max(len(m.steps) for m in members)
    steps = np.full((len(configs), t_len), -1, dtype=np.int64)
    xs = np.full((len(configs), t_len, 2, 2), np.nan)
    for i, m in enumerate(members):
        steps[i, :len(m.steps)], xs[i, :len(m.steps)] = m.steps, m.X
    status = np.array([_STATUS.get(m.status, m.status) for m in members])
    stop_step = np.array([-1 if m.status == "completed" else
                          int(m.n_rhs) + (m.status == "diverged") for m in members])
    return {"steps": steps, "X": xs, "counts": np.array([len(m.steps) for m in members]),
            "status": status, "stop_step": stop_step, "X0": xs[:, 0]}


#: engine status -> the name this experiment reports (RC's vocabulary)
_STATUS = {"loss_tol": "stopped", "completed": "epoch_cap"}


def _member_runs(res):
    """Split a stored GD group into per-member ``(steps, X)`` (also reads the former format)."""
    if "counts" not in res:  # before the engine port: one record grid shared by the group
        return [(res["steps"], x) for x in res["X"]]
    return [(res["steps"][i, :c], res["X"][i, :c]) for i, c in enumerate(res["counts"])]


def _flow_run(rng, index, cases):
    """One downstairs flow from X(0) = scale * G with the requested sign of det."""
    from geodln.flows import Solver, StoppingRules, downstairs_flow
    from geodln.init import gaussian_matrix
    from geodln.losses import razin_cohen_completion

    depth, det_sign, scale, loss_tol = cases[index]
    x0 = gaussian_matrix((2, 2), scale, seed=rng, det_sign=det_sign)
    traj = downstairs_flow(
        razin_cohen_completion(), x0, depth, (0.0, 1e12),
        solver=Solver("LSODA", rtol=1e-8, atol=1e-12),
        stop=StoppingRules(loss_tol=loss_tol, max_norm=1e6),
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
    depth, lr, alpha, kind, det_sign = cfg
    m = _measures(run)
    loss = run["loss"]
    final = float(loss[-1])
    crossed = np.sign(m["det"]) != np.sign(m["det"][0])
    paper = PAPER_MARKERS.get((depth, lr, alpha, kind)) if det_sign > 0 else None
    row = {
        "part": "gd", "depth": depth, "lr": lr, "alpha": alpha, "init": kind,
        "det_sign_0": det_sign, "status": str(run["status"]), "stop_step": int(run["stop_step"]),
        "final_loss": final,
    }
    for level, ref in zip(MARKER_LOSSES, paper or (None,) * len(MARKER_LOSSES)):
        row[f"x11_at_{level:.1e}"] = value_at_loss(loss, m["x11"], level)
        row[f"paper_x11_at_{level:.1e}"] = ref
    row.update({
        "x11_at_loss_1e-4": value_at_loss(loss, m["x11"], 1e-4),
        "x11_final": float(m["x11"][-1]),
        "x11_sqrt_2loss_final": float(m["x11"][-1] * np.sqrt(2 * final)),
        "x11_max": float(np.max(m["x11"])),
        "erank_final": float(m["erank"][-1]), "fro_final": float(m["fro"][-1]),
        "nuclear_final": float(m["nuc"][-1]), "det_final": float(m["det"][-1]),
        "det_crossed_zero": bool(np.any(crossed)),
        "step_det_crossed": int(run["steps"][np.argmax(crossed)]) if np.any(crossed) else -1,
    })
    return row


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
            loss = run["loss"]
            sc = _colored(ax, loss, m["x11"], run["steps"], cmaps[k % 4],
                          f"lr {cfg[1]:g}, α {cfg[2]:g}, {cfg[3]}")
            k += 1
        grid = np.geomspace(1e-4, 1, 50)
        ax.plot(grid, 1 / np.sqrt(2 * grid), "k--", lw=0.8, label=r"$1/\sqrt{2E}$")
        ax.set(xscale="log", yscale="log", xlabel=r"loss $E=\frac{1}{2}\sum r^2$",
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
        The twelve Fig. 1 configurations and RC's runner default under RC's protocol
        (:data:`PROTOCOL`: stop at ½Σr² < 1e-4, at most 5·10⁶ epochs) and 8 flows per
        (depth, sign); default: the reduced CI size.
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
    gd_cfgs = [tuple(GD_CONFIGS[i]) + (1,) for i in cfg["gd_configs"]]
    gd_cfgs += [tuple(c) + (1,) for c in cfg.get("tiny_gd", [])]
    if cfg["runner_default"]:
        gd_cfgs.append(RUNNER_DEFAULT + (1,))
    contrast = next(c for c in gd_cfgs if c[0] == 3)
    gd_cfgs.append(contrast[:4] + (-1,))
    protocol = dict(PROTOCOL, stop_tol=cfg["stop_tol"])
    groups = [gd_cfgs]  # one batch: per-step cost is overhead, not batch size
    gd = ensemble(_gd_group_run, len(groups), out_dir, f"{size}-gd", seed,
                  {"groups": groups, "max_epochs": cfg["max_epochs"], "protocol": protocol},
                  n_jobs, progress)
    gd_cfgs, gd_runs = [], []
    for group, res in zip(groups, gd.runs):
        for i, (c, (steps, x)) in enumerate(zip(group, _member_runs(res))):
            gd_cfgs.append(c)
            gd_runs.append({"steps": steps, "X": x, "loss": rc_loss(x),
                            "status": res["status"][i], "stop_step": res["stop_step"][i]})
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
               "settings": {"protocol": protocol, "gd_configs": gd_cfgs,
                            "max_epochs": cfg["max_epochs"], "flow_scale": FLOW_SCALE,
                            "sensitivity_scales": SENS_SCALES}}
    return finish(out_dir, NAME, summary, rows, started)


def _label(row):
    return f"N={row['depth']} lr {row['lr']:g} a {row['alpha']:g} {row['init']}"


def _claims(rows):
    """Check the paper's statements on this run's numbers."""
    flows = [r for r in rows if r["part"] == "downstairs"]
    deep_pos = [r for r in flows if r["depth"] >= 3 and r["det_sign_0"] > 0]
    neg = [r for r in rows if r["det_sign_0"] < 0]
    gd_pos = [r for r in rows if r["part"] == "gd" and r["det_sign_0"] > 0]
    return {
        "flow_x11_sqrt_2loss_range_depth_ge_3": [
            min(r["x11_sqrt_2loss_min"] for r in deep_pos),
            max(r["x11_sqrt_2loss_max"] for r in deep_pos)],
        "gd_x11_at_1.3e-4_vs_paper": [
            [_label(r), r["status"], r["x11_at_1.3e-04"], r["paper_x11_at_1.3e-04"]]
            for r in gd_pos],
        "gd_x11_at_loss_1e-4": [[_label(r), r["x11_at_loss_1e-4"]] for r in gd_pos],
        "gd_not_stopped": [_label(r) for r in gd_pos if r["status"] != "stopped"],
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
