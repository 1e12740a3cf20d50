r"""A 3×3 completion with a curve of rank-2 solutions, and the volume along it.

The claim (CMV23, Fig. 8): in a 3×3 completion task, 500 runs, "the majority end near one
rank-two minimiser", and that minimiser is where the volume is largest among the minimisers.
The observed set of the seed is unknown ([open]); diagonal-only observation cannot be it
(rank-1 completions exist). We choose and document one.

**The task.** Observe every entry except the corners :math:`x_{13} = p` and :math:`x_{31} = q`:

.. math:: X(p, q) = \begin{pmatrix} 1 & 0.6 & p \\ -0.4 & 1 & 0.8 \\ q & 0.3 & 1\end{pmatrix}.

- No completion has rank 1: the observed minor :math:`\begin{pmatrix}1 & 0.6\\-0.4 & 1
  \end{pmatrix}` has determinant 1.24 ≠ 0. So every completion has rank ≥ 2, all of the
  (p, q)-plane has zero loss, and the minimal-rank (rank-2) completions are
  :math:`\{\det X(p, q) = 0\}`.
- :math:`\det X` is affine in p and in q separately:
  :math:`\det X = -x_{22}(p - p_0)(q - q_0) + x_{22}k` with :math:`p_0 = x_{12}x_{23}/x_{22}`,
  :math:`q_0 = x_{21}x_{32}/x_{22}` and
  :math:`k = [x_{22}(x_{11}x_{22}x_{33} - x_{11}x_{23}x_{32} - x_{12}x_{21}x_{33})
  + x_{12}x_{23}x_{21}x_{32}]/x_{22}^2` — here :math:`p_0 = 0.48`, :math:`q_0 = -0.12`,
  :math:`k = 0.9424`. The rank-2 solutions form the hyperbola :math:`(p - p_0)(q - q_0) = k`,
  a continuum with two branches, parametrised by the branch :math:`b = \pm1` and
  :math:`t \in \mathbb{R}`: :math:`p = p_0 + b\sqrt{k}e^{t}`, :math:`q = q_0 + b\sqrt{k}e^{-t}`.
  The observed values are deliberately not symmetric, so neither the cluster nor the volume
  maximiser is pinned at a special point by a symmetry, and the comparison can fail.

**The runs.** Downstairs flow of :math:`g^N` (CMV normalisation; the outcome is the same for
the plain metric), N = 5, from :math:`X(0) = \alpha G`, α = 1e-3, LSODA to loss 1e-10; 500 runs
at full size (100 reduced). Robustness: N = 3 and N = 10, and α = 1e-2.

**The volumes along the solution curve** (all three are reported; each is said by name):

- ``density_rank2``: log density of :math:`d\mathrm{vol}_{g^N}` restricted to the rank-2
  manifold :math:`M_2`, w.r.t. its Euclidean (Hausdorff) volume, at the rank-2 solutions
  (:func:`geodln.volume.log_volume_density` with ``rank=2``);
- ``density_det``: the full-rank log density (w.r.t. Lebesgue measure) on the near-solution
  curve :math:`\{\det X = \delta\}`, δ = 1e-3 — the reading of CMV Fig. 5 used for the 2×2
  problem (CMV23, Fig. 5);
- ``entropy``: the Menon–Yu orbit volume :math:`\log\mathrm{vol}(\mathcal{O}_X)`
  (:func:`geodln.entropy.log_orbit_volume`) at the rank-2 solutions.

**The test.** On the branch holding most outcomes: the cluster location :math:`t^*` (mode of a
kernel density estimate of the outcomes' t) with a 95 % bootstrap interval, against the
maximiser :math:`t_V` of each volume on that branch. The claim is *supported* for a volume if
:math:`t_V` lies in the interval, *not supported* otherwise; the numbers are in
``summary.json`` whatever the verdict. Figures: ``diag3_outcomes.png`` (outcomes in the
(p, q)-plane, hyperbola, maximisers), ``diag3_curve.png`` (histogram of t with the volumes).

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import os

import numpy as np

from geodln.experiments._common import ensemble, finish, save_figure, start_run

NAME = "diag3"
#: The observed entries (0-based); (0, 2) and (2, 0) are free.
OBSERVED = {(0, 0): 1.0, (0, 1): 0.6, (1, 0): -0.4, (1, 1): 1.0, (1, 2): 0.8, (2, 1): 0.3,
            (2, 2): 1.0}
DEPTH = 5
SCALE = 1e-3
DELTA = 1e-3
LOSS_TOL = 1e-10
T_GRID = np.linspace(-4.0, 4.0, 801)
SETTINGS = {
    "full": {"runs": 500, "sens_runs": 150, "bootstrap": 1000},
    "reduced": {"runs": 100, "sens_runs": 30, "bootstrap": 300},
    "tiny": {"runs": 8, "sens_runs": 0, "bootstrap": 50},
}
SENSITIVITY = [(3, SCALE), (10, SCALE), (DEPTH, 1e-2)]


def completion_problem():
    """Return the 3×3 completion task (seven observed entries, corners free).

    Returns
    -------
    loss : geodln.losses.MatrixCompletion
    """
    from geodln.losses import MatrixCompletion

    idx = sorted(OBSERVED)
    return MatrixCompletion(indices=([i for i, _ in idx], [j for _, j in idx]),
                            values=[OBSERVED[ij] for ij in idx], shape=(3, 3))


def hyperbola_parameters():
    r"""Return ``(p0, q0, k)`` of the rank-2 set :math:`(p - p_0)(q - q_0) = k` (module doc).

    Raises
    ------
    ValueError
        With the message ``the chosen observed values give k <= 0 (no real hyperbola)``.
    """
    x = {ij: v for ij, v in OBSERVED.items()}
    x11, x12, x21, x22 = x[0, 0], x[0, 1], x[1, 0], x[1, 1]
    x23, x32, x33 = x[1, 2], x[2, 1], x[2, 2]
    p0, q0 = x12 * x23 / x22, x21 * x32 / x22
    const = x11 * (x22 * x33 - x23 * x32) - x12 * x21 * x33
    k = (x22 * const + x12 * x23 * x21 * x32) / x22**2
    if k <= 0:
        raise ValueError("the chosen observed values give k <= 0 (no real hyperbola)")
    return p0, q0, k


def completion(p, q):
    """Return the completions ``X(p, q)``, shape [..., 3, 3]."""
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    x = np.zeros(p.shape + (3, 3))
    for (i, j), v in OBSERVED.items():
        x[..., i, j] = v
    x[..., 0, 2], x[..., 2, 0] = p, q
    return x


def solution_curve(t, branch=1, delta=0.0):
    r"""Points of :math:`\{\det X = \delta\}` at parameter t on a branch (δ = 0: rank 2).

    Parameters
    ----------
    t : array-like
    branch : {1, -1}
    delta : float

    Returns
    -------
    X : ndarray, shape=[..., 3, 3]
    """
    p0, q0, k = hyperbola_parameters()
    c = np.sqrt(k - delta / OBSERVED[1, 1])
    t = np.asarray(t, float)
    return completion(p0 + branch * c * np.exp(t), q0 + branch * c * np.exp(-t))


def curve_coordinates(outcomes):
    """Return branch, parameter t and det of outcomes ``[R, 3, 3]`` (t NaN off the quadrants)."""
    p0, q0, _ = hyperbola_parameters()
    dp, dq = outcomes[:, 0, 2] - p0, outcomes[:, 2, 0] - q0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dp * dq > 0, 0.5 * np.log(dp / dq), np.nan)
    return np.sign(dp).astype(int), t, np.linalg.det(outcomes)


def volumes_on_curve(t, branch, depth):
    """Return the three log volumes along the branch (see the module doc), each [len(t)]."""
    from geodln.entropy import log_orbit_volume
    from geodln.volume import log_volume_density

    x2 = solution_curve(t, branch)
    return {
        "density_rank2": log_volume_density(x2, depth, normalized=True, rank=2),
        "density_det": log_volume_density(solution_curve(t, branch, DELTA), depth,
                                          normalized=True),
        "entropy": log_orbit_volume(x2, depth),
    }


def _flow_run(rng, index, cases):
    """One downstairs flow of the 3×3 task from a small Gaussian start."""
    from geodln.flows import downstairs_flow
    from geodln.init import gaussian_matrix

    depth, scale = cases[index]
    x0 = gaussian_matrix((3, 3), scale, seed=rng)
    traj = downstairs_flow(completion_problem(), x0, depth, (0.0, 1e8), normalized=True,
                           loss_tol=LOSS_TOL, method="LSODA", rtol=1e-8, atol=1e-12)
    return {"X": traj.final_X, "loss": traj.final_loss, "status": traj.status}


def _mode(t, grid):
    from scipy.stats import gaussian_kde

    if t.size < 3 or np.ptp(t) == 0:
        return float(np.median(t))
    return float(grid[np.argmax(gaussian_kde(t)(grid))])


def analyse(outcomes, depth, n_boot, rng):
    """Cluster location, bootstrap interval and volume maximisers on the dominant branch.

    Returns
    -------
    row : dict
    """
    from geodln.measures import effective_rank

    branch, t, det = curve_coordinates(outcomes)
    near = np.abs(det) < 0.05
    er = effective_rank(outcomes)
    on = np.isfinite(t)
    counts = {b: int(np.sum(on & (branch == b))) for b in (1, -1)}
    dominant = 1 if counts[1] >= counts[-1] else -1
    tb = t[on & (branch == dominant)]
    row = {
        "depth": depth, "n_runs": len(outcomes), "near_rank2_fraction": float(np.mean(near)),
        "erank_median": float(np.median(er)),
        "branch_plus": counts[1], "branch_minus": counts[-1], "dominant_branch": dominant,
        "dominant_fraction": counts[dominant] / len(outcomes),
    }
    if tb.size == 0:
        return row
    grid = np.linspace(max(-4.0, tb.min() - 0.5), min(4.0, tb.max() + 0.5), 401)
    t_star = _mode(tb, grid)
    boot = [_mode(rng.choice(tb, tb.size), grid) for _ in range(n_boot)]
    lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    q25, q75 = np.percentile(tb, [25, 75])
    row.update({"t_mode": t_star, "t_mode_ci_low": lo, "t_mode_ci_high": hi,
                "t_median": float(np.median(tb)), "t_iqr": float(q75 - q25),
                "fraction_within_0.25_of_mode": float(np.mean(np.abs(tb - t_star) < 0.25))})
    vols = volumes_on_curve(T_GRID, dominant, depth)
    for name, v in vols.items():
        i = int(np.argmax(v))
        t_v = float(T_GRID[i])
        interior = 0 < i < T_GRID.size - 1
        row[f"t_max_{name}"] = t_v if interior else np.nan
        row[f"{name}_interior_max"] = bool(interior)
        row[f"{name}_gap_at_mode"] = float(v[i] - np.interp(t_star, T_GRID, v))
        row[f"verdict_{name}"] = (
            "supported" if interior and lo <= t_v <= hi else "not supported")
    other = t[on & (branch == -dominant)]
    if other.size >= 3:  # the minority branch: same comparison, rank-2 density only
        t_o = _mode(other, np.linspace(other.min() - 0.5, other.max() + 0.5, 401))
        v = volumes_on_curve(T_GRID, -dominant, depth)["density_rank2"]
        row["other_branch_t_mode"] = t_o
        row["other_branch_t_max_density_rank2"] = float(T_GRID[int(np.argmax(v))])
        row["other_branch_density_rank2_gap_at_mode"] = float(
            np.max(v) - np.interp(t_o, T_GRID, v))
    return row


def _fig_outcomes(outcomes, row):
    import matplotlib.pyplot as plt

    p0, q0, k = hyperbola_parameters()
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    tt = np.linspace(-3, 3, 400)
    for b in (1, -1):
        ax.plot(p0 + b * np.sqrt(k) * np.exp(tt), q0 + b * np.sqrt(k) * np.exp(-tt),
                color="0.5", lw=0.8)
    ax.scatter(outcomes[:, 0, 2], outcomes[:, 2, 0], s=4, alpha=0.5, label="outcomes")
    marks = {"density_rank2": "v", "density_det": "s", "entropy": "D"}
    for name, marker in marks.items():
        t_v = row.get(f"t_max_{name}", np.nan)
        if np.isfinite(t_v):
            x = solution_curve(t_v, row["dominant_branch"])
            ax.scatter(x[0, 2], x[2, 0], marker=marker, s=60, facecolor="none",
                       edgecolor="C3", label=f"max of {name}")
    ax.set(xlim=(-3, 3), ylim=(-3, 3), xlabel="$p = x_{13}$", ylabel="$q = x_{31}$",
           title=f"3×3 completion, N={row['depth']}: outcomes and rank-2 solutions")
    ax.legend(fontsize=7)
    return fig


def _fig_curve(outcomes, row):
    import matplotlib.pyplot as plt

    branch, t, _ = curve_coordinates(outcomes)
    tb = t[np.isfinite(t) & (branch == row["dominant_branch"])]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    ax.hist(tb, bins=50, range=(-3, 3), density=True, alpha=0.5, color="C0", label="outcomes")
    ax.axvspan(row.get("t_mode_ci_low", 0), row.get("t_mode_ci_high", 0), color="C0",
               alpha=0.15, label="95% CI of the mode")
    twin = ax.twinx()
    vols = volumes_on_curve(T_GRID, row["dominant_branch"], row["depth"])
    for (name, v), c in zip(vols.items(), ("C3", "C2", "C4")):
        twin.plot(T_GRID, v - np.max(v), color=c, label=name)
    twin.set(ylim=(-6, 0.5), ylabel="log volume − max")
    ax.set(xlim=(-3, 3), xlabel="t (position on the rank-2 branch)", ylabel="outcome density")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="upper right", fontsize=7)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Run the 3×3 volume experiment and state the verdict with its numbers.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        500 runs at N = 5 (default: the reduced CI size, 100).
    seed : int
        Entropy of the ensembles (and of the bootstrap).
    n_jobs : int, optional
        Parallel workers (default: all cores).
    progress : bool
        Progress bars.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows`` (``summary.csv``: main run and robustness runs), ``claims`` (verdicts).
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    cases = [(DEPTH, SCALE)] * cfg["runs"]
    cases += [c for c in SENSITIVITY for _ in range(cfg["sens_runs"])]
    ens = ensemble(_flow_run, len(cases), out_dir, f"{size}-flows", seed, {"cases": cases},
                   n_jobs, progress)
    rng = np.random.default_rng([seed, 3])
    rows, main = [], None
    for case in dict.fromkeys(tuple(c) for c in cases):
        runs = [r for c, r in zip(cases, ens.runs) if tuple(c) == case]
        x = np.stack([r["X"] for r in runs])
        row = {"part": "main" if case == (DEPTH, SCALE) else "robustness", "alpha": case[1],
               "converged_fraction": float(np.mean([str(r["status"]) == "loss_tol"
                                                    for r in runs]))}
        row.update(analyse(x, case[0], cfg["bootstrap"], rng))
        rows.append(row)
        if main is None:
            main = (x, row)
    p0, q0, k = hyperbola_parameters()
    save_figure(_fig_outcomes(*main), os.path.join(out_dir, "diag3_outcomes.png"))
    save_figure(_fig_curve(*main), os.path.join(out_dir, "diag3_curve.png"))
    mrow = main[1]
    claims = {
        "majority_on_one_branch": mrow["dominant_fraction"],
        "cluster_t_mode": mrow.get("t_mode"),
        "cluster_ci": [mrow.get("t_mode_ci_low"), mrow.get("t_mode_ci_high")],
        **{f"t_max_{v}": mrow.get(f"t_max_{v}") for v in ("density_rank2", "density_det",
                                                          "entropy")},
        **{f"verdict_{v}": mrow.get(f"verdict_{v}") for v in ("density_rank2", "density_det",
                                                              "entropy")},
        "robustness_verdicts": {f"N={r['depth']} alpha={r['alpha']:g}":
                                {v: r.get(f"verdict_{v}") for v in ("density_rank2",
                                                                    "density_det", "entropy")}
                                for r in rows if r["part"] == "robustness"},
    }
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {"observed": {f"{i + 1}{j + 1}": v for (i, j), v in OBSERVED.items()},
                            "hyperbola": {"p0": p0, "q0": q0, "k": k}, "depth": DEPTH,
                            "alpha": SCALE, "delta": DELTA, "loss_tol": LOSS_TOL,
                            "normalized": True, **cfg}}
    return finish(out_dir, NAME, summary, rows, started)
