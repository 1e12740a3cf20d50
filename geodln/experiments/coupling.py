r"""SY26 (Shin, Yun, arXiv:2603.04703): coupling, rank-1 convergence and loss of plasticity.

Problem: 2×2 completion with diagonal observations :math:`x_{11} = x_{22} = 1` (1×1 diagonal
blocks; the rank-1 completions form the hyperbola :math:`x_{12}x_{21} = 1`), trained by the
factor gradient flow (:func:`geodln.upstairs_flow`, RK45, rtol 1e-9, atol 1e-12) until the loss
is :math:`10^{-14}`.

1. **Rank 1 iff coupled** (SY26 abstract, claims (a)-(b)): three ensembles of small starts,
   (a) depth 2 from Gaussian factors (always decoupled), (b) depth N >= 3 from Gaussian factors
   (coupled), (c) depth N >= 3 from diagonal factors (decoupled). A run "converges to rank 1"
   when :math:`\sigma_2/\sigma_1 < 10^{-2}` at the end (numerical threshold: ours).
   Reported: the fraction with Clopper-Pearson 95% intervals
   (:func:`scipy.stats.binomtest`), the coupling diagnostic
   (:func:`geodln.convergence.coupling_strength`) at each start, and along one trajectory
   per configuration (:func:`coupling_trace`: exactly 0 throughout when decoupled).
2. **Loss of plasticity** (SY26 abstract, after Kleinman et al. 2024): ground truth
   :math:`M = \begin{pmatrix}1 & 2\\ 1/2 & 1\end{pmatrix}` (rank 1). Pre-train on the
   diagonal only, then resume from the pre-trained factors with :math:`x_{12} = 2` also
   observed (the rank-1 completion is then unique, :math:`x_{21} = 1/2`); compare with
   training from scratch on the three entries. Reported: the error on the held-out
   :math:`x_{21}` and :math:`\sigma_2/\sigma_1`, depth 2 vs 3, and the success fraction
   (:math:`|x_{21} - 1/2| < 0.05`) overall and among runs whose pre-trained :math:`x_{12}` has
   the truth's sign (a rank-1 pre-training outcome on the other branch of the hyperbola
   cannot reach the truth without leaving rank 1: a failure mode that is not plasticity
   loss).

Deviations: only SY26's abstract could be retrieved (not its text, figures or code), so
every setting here is ours: the init family (i.i.d. Gaussian factor entries of scale
α = 0.05, 2×2 factors), the 2×2 problem, the time horizon (loss 1e-14), the rank-1 threshold,
the plasticity protocol (truth, pre-training and resumed observations, success threshold) and
the ensemble sizes; the runs of one configuration are integrated as one batched flow
(:func:`geodln.upstairs_flow` with a step size per member). The comparison is
qualitative (SY26's statement: depth 2 and diagonal starts decoupled and not rank 1; depth >= 3
generic starts coupled and rank 1; depth 2 pre-trained decoupled loses plasticity, deeper
models do not).
"""

import os

import numpy as np

from geodln.experiments._common import ensemble, finish, save_figure, start_run

NAME = "coupling"
SCALE = 0.05
LOSS_TOL = 1e-14
T_MAX = 1e6
RANK1 = 1e-2
STRICTER = (1e-4, 1e-6)  # the rank-1 fraction is also reported at these thresholds
CHUNK = 50  # runs per batched flow (and per checkpointed ensemble member)
SUCCESS = 0.05  # |x21 - 1/2| below this: the held-out entry is recovered
TRUTH = np.array([[1.0, 2.0], [0.5, 1.0]])
SETTINGS = {
    "full": {"runs": 200, "depths": [2, 3, 4], "plasticity_runs": 100},
    "reduced": {"runs": 40, "depths": [2, 3], "plasticity_runs": 10},
    "tiny": {"runs": 4, "depths": [2, 3], "plasticity_runs": 2},
}


def _diag_loss():
    from geodln.convergence import block_diagonal_completion

    return block_diagonal_completion(np.eye(2), [1, 1], [1, 1])


def _flow(loss, factors):
    from geodln import Solver, StoppingRules, upstairs_flow

    return upstairs_flow(loss, factors, (0.0, T_MAX), solver=Solver(rtol=1e-9, atol=1e-12),
                         stop=StoppingRules(loss_tol=LOSS_TOL))


def _starts(rng, depth, kind, n):
    """``n`` small starts ``[W_1, ..., W_N]``, each ``[n, 2, 2]``: Gaussian or diagonal."""
    if kind == "diagonal":
        eye = np.eye(2)
        return [SCALE * rng.standard_normal((n, 2, 1)) * eye for _ in range(depth)]
    return [SCALE * rng.standard_normal((n, 2, 2)) for _ in range(depth)]


def _chunks(configs, n_runs):
    """Split ``n_runs`` runs of each configuration into batches of at most ``CHUNK``."""
    out = []
    for config in configs:
        sizes = [CHUNK] * (n_runs // CHUNK) + ([n_runs % CHUNK] if n_runs % CHUNK else [])
        out += [(*config, k) for k in sizes]
    return out


def _rank_run(rng, index, chunks):
    """Run one batch of the rank-1 ensemble, ``chunks[index] = (depth, kind, n)``."""
    from geodln.convergence import block_masks, coupling_strength
    from geodln.factors import product

    depth, kind, n = chunks[index]
    loss = _diag_loss()
    factors = _starts(rng, depth, kind, n)
    masks = block_masks([1, 1], [1, 1])
    c0 = coupling_strength(factors, loss.euclidean_gradient(product(factors)), masks)
    traj = _flow(loss, factors)
    s = np.linalg.svd(traj.final_X, compute_uv=False)
    return {"X": traj.final_X, "ratio": s[:, 1] / s[:, 0], "coupling0": np.ravel(c0),
            "loss": np.ravel(traj.final_loss),
            "converged": np.ravel(np.asarray(traj.status) == "loss_tol")}


def coupling_trace(depth, kind, seed, windows=12):
    """Return the coupling diagnostic along one trajectory of the factor flow.

    The flow is run over log-spaced windows (each resumed from the previous window's final
    factors) and :func:`geodln.convergence.coupling_strength` is evaluated at each window's
    end.

    Parameters
    ----------
    depth : int
        N.
    kind : str
        ``"diagonal"``: diagonal factors; anything else: dense Gaussian factors (both of
        scale ``SCALE``).
    seed : int
    windows : int
        Number of log-spaced windows.

    Returns
    -------
    times, strength : ndarray, shape=[windows + 1]

    Examples
    --------
    A diagonal start stays decoupled (SY26's claim (a)):

    >>> from geodln.experiments.coupling import coupling_trace
    >>> times, strength = coupling_trace(3, "diagonal", 0, windows=1)
    >>> float(np.max(np.abs(strength)))
    0.0
    """
    from geodln import Solver, upstairs_flow
    from geodln.convergence import block_masks, coupling_strength
    from geodln.factors import product

    rng = np.random.default_rng(seed)
    loss = _diag_loss()
    if kind == "diagonal":
        factors = [np.diag(SCALE * rng.standard_normal(2)) for _ in range(depth)]
    else:
        factors = [SCALE * rng.standard_normal((2, 2)) for _ in range(depth)]
    masks = block_masks([1, 1], [1, 1])
    edges = np.concatenate([[0.0], np.logspace(-1, 3, windows)])
    values = [coupling_strength(factors, loss.euclidean_gradient(product(factors)), masks)]
    for t0, t1 in zip(edges[:-1], edges[1:]):
        traj = upstairs_flow(loss, factors, (t0, t1), solver=Solver(rtol=1e-9, atol=1e-12))
        factors = list(traj.factors)
        grad = loss.euclidean_gradient(product(factors))
        values.append(coupling_strength(factors, grad, masks) if np.any(grad) else 0.0)
    return edges, np.asarray(values, float)


def _plasticity_run(rng, index, chunks):
    """Pre-train on the diagonal, resume with x12 observed; and from scratch on all three.

    ``chunks[index] = (depth, n)``: n runs integrated as one batch per phase.
    """
    from geodln.losses import MatrixCompletion

    depth, n = chunks[index]
    factors = _starts(rng, depth, "gaussian", n)
    pre = _flow(_diag_loss(), factors)
    full = MatrixCompletion(indices=([0, 0, 1], [0, 1, 1]), values=TRUTH[[0, 0, 1], [0, 1, 1]],
                            shape=(2, 2))
    resumed = _flow(full, list(pre.factors))
    scratch = _flow(full, factors)
    out = {"depth": np.full(n, depth)}
    for name, traj in (("pretrained", pre), ("resumed", resumed), ("scratch", scratch)):
        x = np.asarray(traj.final_X)
        s = np.linalg.svd(x, compute_uv=False)
        out[f"{name}_X"] = x
        out[f"{name}_ratio"] = s[:, 1] / s[:, 0]
        out[f"{name}_x21_error"] = np.abs(x[:, 1, 0] - TRUTH[1, 0])
    return out


def scale_sweep(n_runs, seed, scales=(0.05, 0.005, 0.0005)):
    r"""Run depth 2 from the same Gaussian shapes at decreasing scales α (batched flows).

    For N = 2 the early dynamics :math:`\dot X \approx (XX^\top)^{1/2} + (X^\top X)^{1/2}`
    (while the residual on the diagonal is ≈ -1) is homogeneous, so the outcome depends on
    the shape of the start, not on α: the rank-1 fraction of the depth-2 ensemble is not an
    artefact of a finite α.

    Parameters
    ----------
    n_runs : int
        Ensemble size per scale.
    seed : int
        Seed of the start shapes (the same shapes at every scale).
    scales : sequence of float
        The scales α of the starts.

    Returns
    -------
    rows : list of dict
        Per α: rank-1 fraction (σ₂/σ₁ < ``RANK1``) and the median ratio.
    """
    rows = []
    for alpha in scales:
        rng = np.random.default_rng([seed, 2])
        factors = [alpha / SCALE * w for w in _starts(rng, 2, "gaussian", n_runs)]
        traj = _flow(_diag_loss(), factors)
        s = np.linalg.svd(np.asarray(traj.final_X), compute_uv=False)
        ratio = s[:, 1] / s[:, 0]
        rows.append({"part": "scale", "depth": 2, "alpha": alpha, "n_runs": n_runs,
                     "rank1_fraction": float(np.mean(ratio < RANK1)),
                     "ratio_median": float(np.median(ratio))})
    return rows


def _ci(k, n):
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)


def _fig(rank_rows, ratios, plast_rows, traces):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), layout="constrained")
    ax = axes[2]
    for label, (times, values) in traces.items():
        ax.plot(times[1:], np.maximum(values[1:], 1e-17), marker="o", ms=3, label=label)
    ax.set(xscale="log", yscale="log", xlabel="t", ylabel="cross / own block velocity",
           title="coupling along one trajectory")
    ax.legend(fontsize=8)
    ax = axes[0]
    for i, r in enumerate(ratios.values()):
        ax.scatter(np.full(len(r), i) + 0.1 * np.random.default_rng(i).standard_normal(len(r)),
                   np.maximum(r, 1e-12), s=8, alpha=0.6)
    ax.axhline(RANK1, color="k", lw=0.8, ls="--")
    ax.set(yscale="log", xticks=range(len(ratios)), ylabel=r"$\sigma_2/\sigma_1$ at the end",
           title="rank 1 iff coupled (SY26)")
    ax.set_xticklabels(list(ratios), rotation=20, fontsize=8)
    ax = axes[1]
    labels = [f"N={r['depth']} {r['phase']}" for r in plast_rows]
    ax.bar(range(len(plast_rows)), [r["x21_error_median"] for r in plast_rows], color="C1")
    ax.set(xticks=range(len(plast_rows)), ylabel=r"median $|x_{21} - 1/2|$",
           title="loss of plasticity (SY26)")
    ax.set_xticklabels(labels, rotation=30, fontsize=8)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce SY26: rank-1 fractions (N = 2 vs N >= 3, diagonal starts) and plasticity.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs are kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        200 runs per configuration and depths 2, 3, 4 (default: reduced size, 40 runs).
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
    cases = [(2, "gaussian")]
    for d in cfg["depths"][1:]:
        cases += [(d, "gaussian"), (d, "diagonal")]
    chunks = _chunks(cases, cfg["runs"])
    ens = ensemble(_rank_run, len(chunks), out_dir, f"{size}-rank1", seed, {"chunks": chunks},
                   n_jobs, progress)
    rows, ratios = [], {}
    for key in cases:
        runs = [r for c, r in zip(chunks, ens.runs) if c[:2] == key]

        def cat(name, runs=runs):
            return np.concatenate([np.ravel(r[name]) for r in runs])

        ratio = cat("ratio")
        k = int(np.sum(ratio < RANK1))
        lo, hi = _ci(k, ratio.size)
        coupled = bool(key[0] >= 3 and key[1] == "gaussian")
        label = f"N={key[0]} {key[1]}"
        ratios[label] = ratio
        rows.append({"part": "rank1", "depth": key[0], "start": key[1], "coupled": coupled,
                     "n_runs": int(ratio.size), "rank1_fraction": k / ratio.size,
                     "ci_low": lo, "ci_high": hi, "ratio_median": float(np.median(ratio)),
                     "coupling0_median": float(np.median(cat("coupling0"))),
                     "coupling0_max": float(np.max(cat("coupling0"))),
                     "converged_fraction": float(np.mean(cat("converged"))),
                     **{f"rank1_fraction_{t:g}": float(np.mean(ratio < t))
                        for t in STRICTER}})
    plast_chunks = _chunks([(2,), (3,)], cfg["plasticity_runs"])
    plast = ensemble(_plasticity_run, len(plast_chunks), out_dir, f"{size}-plasticity", seed,
                     {"chunks": plast_chunks}, n_jobs, progress)
    plast_rows = []
    for depth in (2, 3):
        runs = [r for c, r in zip(plast_chunks, plast.runs) if c[0] == depth]
        pre_x = np.concatenate([np.reshape(r["pretrained_X"], (-1, 2, 2)) for r in runs])
        # sign of the pre-trained x12 against the truth's: a rank-1 pre-training outcome of
        # the wrong sign cannot be continued to the truth without leaving rank 1
        agree = np.sign(pre_x[:, 0, 1]) == np.sign(TRUTH[0, 1])
        for phase in ("resumed", "scratch"):
            err = np.concatenate([np.ravel(r[f"{phase}_x21_error"]) for r in runs])
            rat = np.concatenate([np.ravel(r[f"{phase}_ratio"]) for r in runs])
            ok = err < SUCCESS
            lo, hi = _ci(int(ok.sum()), ok.size)
            plast_rows.append({
                "part": "plasticity", "depth": depth, "phase": phase, "n_runs": int(ok.size),
                "x21_error_median": float(np.median(err)),
                "success_fraction": float(np.mean(ok)), "ci_low": lo, "ci_high": hi,
                "pretrained_sign_agrees_fraction": float(np.mean(agree)),
                "success_fraction_sign_agrees": float(np.mean(ok[agree])) if agree.any()
                else float("nan"),
                "ratio_median": float(np.median(rat)),
                "rank1_fraction": float(np.mean(rat < RANK1))})
    rows += plast_rows
    scale_rows = scale_sweep(min(cfg["runs"], 100), seed)
    rows += scale_rows
    traces = {f"N={d} {k}": coupling_trace(d, k, seed) for d, k in cases}
    for label, (_, values) in traces.items():
        rows.append({"part": "trace", "config": label, "coupling_max": float(np.max(values)),
                     "coupling_final": float(values[-1])})
    save_figure(_fig(rows, ratios, plast_rows, traces),
                os.path.join(out_dir, "coupling_rank1.png"))
    claims = {
        "rank1_fraction": {f"N={r['depth']} {r['start']}": [r["rank1_fraction"], r["ci_low"],
                                                           r["ci_high"]]
                           for r in rows if r["part"] == "rank1"},
        "rank1_fraction_at_stricter_thresholds": {
            f"N={r['depth']} {r['start']}": [r[f"rank1_fraction_{t:g}"] for t in STRICTER]
            for r in rows if r["part"] == "rank1"},
        "coupling_max_along_trajectory": {r["config"]: r["coupling_max"] for r in rows
                                          if r["part"] == "trace"},
        "plasticity_x21_error_median": {f"N={r['depth']} {r['phase']}": r["x21_error_median"]
                                        for r in plast_rows},
        "plasticity_success_fraction": {f"N={r['depth']} {r['phase']}": r["success_fraction"]
                                        for r in plast_rows},
        "plasticity_success_fraction_sign_agrees": {
            f"N={r['depth']} {r['phase']}": r["success_fraction_sign_agrees"]
            for r in plast_rows},
        "depth2_rank1_fraction_by_scale": {f"alpha={r['alpha']:g}": r["rank1_fraction"]
                                           for r in scale_rows},
    }
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {"alpha": SCALE, "loss_tol": LOSS_TOL, "rank1_threshold": RANK1,
                            **cfg}}
    return finish(out_dir, NAME, summary, rows, started)
