r"""CMV Fig. 4–5: 2×2 diagonal completion, outcomes on the hyperbola and the volume picture.

Problem (Cohen–Menon–Veraszto, CMV, arXiv:2210.12497, Figs. 4–5): observed :math:`x_{11} =
x_{22} = 1`, free :math:`x_{12}, x_{21}`. Every point of the plane :math:`\{x_{11} = x_{22} =
1\}` has zero loss; the rank-1 minimisers form the hyperbola :math:`x_{12}x_{21} = 1`. Small
random starts trained by the downstairs flow of :math:`g^N` end near the hyperbola's corners
:math:`(\pm1, \pm1)`, with the spread growing with N (CMV Fig. 4); CMV Fig. 5 shows the log
volume over the plane, highest at those corners.

What is run:

- the downstairs flow :math:`\dot X = -A_{N,X}(\nabla E)/N` (CMV normalisation; for finite N
  this only rescales time — :math:`g_{CMV} = N g_{plain}` — so the outcome is the same as for
  the plain metric or the balanced upstairs flow) at depths 5, 10, 20 and ∞ (logarithmic-mean
  kernel), from :math:`X(0) = \alpha G`, :math:`\alpha = 10^{-3}` (CMV's init scale is not
  published), integrated until the loss is :math:`10^{-10}` (the outcome then moves by ~1e-5:
  converged for the plots) by the batched engine: Dormand–Prince RK45 (rtol 1e-8, atol 1e-12)
  with a step size and a stopping rule per member, :data:`BATCH` runs per ensemble task
  (:func:`geodln.flows.integrate_batch`; each member equals its solo ``solve_ivp`` RK45 run up
  to rounding). CMV do not state their integrator; earlier versions of this experiment ran
  LSODA one run at a time;
- 3000 runs a depth at full size (CMV's histograms show on the order of 3000 runs a panel;
  100 reduced);
- robustness: the same at α = 1e-2 and 1e-4 (depths 5 and 20), and the batched RK45 against
  solo LSODA runs (a stiff-capable one-run-at-a-time reference, same starts) on a subset — the
  conclusions do not hinge on either choice (see ``summary.csv``, row ``integrator``).

Quantities (``summary.csv``), each fraction with a 95 % Clopper–Pearson interval
(:func:`binomial_interval`): the fraction of outcomes within 0.25 of :math:`(1, 1)` or
:math:`(-1, -1)`; effective ranks (Roy–Vetterli) and the fraction below 1.05; the position
along the hyperbola :math:`u = \tfrac12\log(x_{12}/x_{21})` (0 at the corners; its spread
grows with N), whose spread is the interquartile range with a distribution-free 95 % interval
from the binomial order-statistic intervals of the two quartiles (:func:`quantile_interval`);
and two rank correlations (Spearman) between volume and outcome density:

- **curve** (the primary one, our reading of CMV Fig. 5): the log volume density of
  :math:`g^N` (CMV normalisation, w.r.t. Lebesgue measure, :func:`geodln.volume.
  log_volume_density`) on the near-solution curve :math:`\{\det X = \delta\}`,
  :math:`\delta = 10^{-3}`, at the outcome's position u, against a kernel density estimate of
  the outcomes' u;
  Both are unimodal at u = 0, so this correlation is high whenever outcomes cluster at the
  corners; it does not mean that outcomes are *distributed like* the volume: the outcomes'
  spread (``u_iqr``, 0.02–0.1) is far narrower than the volume's peak (``volume_u_width_1nat``,
  the u-interval within one nat of the maximum).
- **plane**: the same log density evaluated at the outcome itself against a 2-D KDE of the
  outcomes. This one is dominated by how close to rank 1 each outcome ended (the density
  diverges on the hyperbola), so it says little about *where along* the hyperbola outcomes go.

Figures: ``hyperbola_outcomes.png`` (scatter per depth with the hyperbola and an inset
histogram of effective ranks, CMV Fig. 4), ``hyperbola_volume.png`` (log volume heat map with
the outcomes, CMV Fig. 5, via :func:`geodln.plotting.volume.plot_log_volume_slice`),
``hyperbola_position.png`` (histogram of u against the volume along the curve).

References
----------
.. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Figs. 4 and 5.
"""

import os

import numpy as np

from geodln.experiments._common import (
    ensemble,
    finish,
    group_by_case,
    save_figure,
    start_run,
)
from geodln.experiments.prototype_metrics import corner_fraction, hyperbola_completion

NAME = "hyperbola"
DEPTHS = [5, 10, 20, np.inf]
SCALE = 1e-3
DELTA = 1e-3
LOSS_TOL = 1e-10
RADIUS = 0.25
SETTINGS = {
    "full": {"runs": 3000, "sens_runs": 200, "sens_depths": [5, 20], "integrator_runs": 20},
    "reduced": {"runs": 100, "sens_runs": 40, "sens_depths": [5, 20], "integrator_runs": 5},
    "tiny": {"runs": 6, "sens_runs": 0, "sens_depths": [], "integrator_runs": 2},
}
SENS_SCALES = [1e-2, 1e-4]
#: runs per ensemble task (integrated together by the batched engine)
BATCH = 1000


def _depth_json(depth):
    return "inf" if depth == np.inf else int(depth)


def _depth_value(depth):
    return np.inf if depth == "inf" else int(depth)


def _cmv_metric(depth):
    """CMV's normalised metric A_{N,X}/N on 2x2 matrices."""
    from geodln.metric import DLNMetric
    from geodln.spaces import RankMatrices

    return DLNMetric(RankMatrices(2, 2, equip=False), _depth_value(depth), normalized=True)


def _integrate(x0, depth, method):
    """Downstairs flows of the diagonal completion from the starts ``x0 [b, 2, 2]``.

    ``"RK45"``: one batched embedded Runge–Kutta integration (a step size and stopping rule per
    member); ``"LSODA"``: one ``solve_ivp`` per member (the one-run-at-a-time reference). Only
    the start and the end of each run are recorded.
    """
    from geodln.flows import Every, Solver, StoppingRules, downstairs_flow

    return downstairs_flow(
        hyperbola_completion(), x0, _cmv_metric(depth), (0.0, 1e8),
        solver=Solver(method, rtol=1e-8, atol=1e-12), stop=StoppingRules(loss_tol=LOSS_TOL),
        record=Every(2**53),
    )


def _members(traj):
    """One result dict per member of a batched trajectory."""
    return [{"X": traj.final_X[k], "loss": traj.final_loss[k], "time": traj.final_time[k],
             "status": traj.status[k], "n_rhs": traj.n_rhs[k]} for k in range(len(traj))]


def _flow_batch(items, cases):
    """Run a batch of downstairs flows from small Gaussian starts (one ensemble task).

    Each run draws its start from its own seed (as a solo run would); the members of one case
    (depth, scale, method) are integrated together.
    """
    from geodln.init import gaussian_matrix

    starts = [gaussian_matrix((2, 2), cases[index][1], seed=rng) for index, rng in items]
    out = [None] * len(items)
    for (depth, _, method), ks in group_by_case(items, cases).items():
        x0 = np.stack([starts[k] for k in ks])
        for k, result in zip(ks, _members(_integrate(x0, depth, method))):
            out[k] = {"X0": starts[k], **result}
    return out


def curve_points(u, delta=DELTA):
    r"""Matrices of the near-solution curve :math:`x_{12} = r e^u, x_{21} = r e^{-u}`, det = δ.

    Parameters
    ----------
    u : array-like, shape=[k]
    delta : float

    Returns
    -------
    X : ndarray, shape=[k, 2, 2]

    Examples
    --------
    >>> from geodln.experiments.hyperbola import DELTA, curve_points
    >>> x = curve_points(np.array([0.0, 1.0]))
    >>> bool(np.allclose(np.linalg.det(x), DELTA)), bool(np.allclose(x[..., 0, 0], 1.0))
    (True, True)
    """
    u = np.asarray(u, float)
    r = np.sqrt(1.0 - delta)
    x = np.zeros(u.shape + (2, 2))
    x[..., 0, 0] = x[..., 1, 1] = 1.0
    x[..., 0, 1], x[..., 1, 0] = r * np.exp(u), r * np.exp(-u)
    return x


def position(outcomes):
    r"""Return the position :math:`u = \tfrac12\log(x_{12}/x_{21})` (NaN off the hyperbola).

    Parameters
    ----------
    outcomes : array-like, shape=[..., 2, 2]
        Final matrices of the hyperbola experiment.

    Returns
    -------
    u : ndarray, shape=[...]
        The position along :math:`x_{12}x_{21} \approx 1` (NaN where :math:`x_{12}x_{21} \le 0`).

    Examples
    --------
    Inverts :func:`curve_points`:

    >>> from geodln.experiments.hyperbola import curve_points, position
    >>> position(curve_points(np.array([0.0, 1.0])))
    array([0., 1.])
    """
    a, b = outcomes[:, 0, 1], outcomes[:, 1, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a * b > 0, 0.5 * np.log(a / b), np.nan)


def volume_correlations(outcomes, depth):
    """Spearman correlations between log volume and outcome density (curve and plane).

    Parameters
    ----------
    outcomes : ndarray, shape=[R, 2, 2]
        Final matrices of an ensemble.
    depth : int or numpy.inf
        Depth N of the volume (CMV normalisation).

    Returns
    -------
    result : dict
        ``rho_curve``, ``p_curve``, ``rho_plane``, ``p_plane`` and the number of outcomes used.
    """
    from scipy.stats import gaussian_kde, spearmanr

    from geodln.volume import log_volume_density

    out = {"rho_curve": np.nan, "p_curve": np.nan, "rho_plane": np.nan, "p_plane": np.nan}
    u = position(outcomes)
    ok = np.isfinite(u)
    out["n_on_hyperbola_quadrants"] = int(ok.sum())
    if ok.sum() >= 5 and np.ptp(u[ok]) > 0:
        dens = gaussian_kde(u[ok])(u[ok])
        vol = log_volume_density(curve_points(u[ok]), depth, normalized=True)
        out["rho_curve"], out["p_curve"] = (float(v) for v in spearmanr(vol, dens))
    # how peaked is the volume itself? the u-interval where it is within 1 nat of its maximum
    grid = np.linspace(-3, 3, 1201)
    v = log_volume_density(curve_points(grid), depth, normalized=True)
    inside = grid[v >= np.max(v) - 1.0]
    out["volume_u_width_1nat"] = float(inside[-1] - inside[0])
    pts = np.stack([outcomes[:, 0, 1], outcomes[:, 1, 0]])
    if outcomes.shape[0] >= 5 and np.linalg.matrix_rank(np.cov(pts)) == 2:
        dens2 = gaussian_kde(pts)(pts)
        vol2 = log_volume_density(outcomes, depth, normalized=True)
        finite = np.isfinite(vol2)
        out["rho_plane"], out["p_plane"] = (
            float(v) for v in spearmanr(vol2[finite], dens2[finite]))
    return out


def binomial_interval(successes, trials, confidence=0.95):
    """Clopper–Pearson interval of a binomial proportion (``scipy.stats.binomtest``).

    Parameters
    ----------
    successes, trials : int
    confidence : float

    Returns
    -------
    low, high : float

    Examples
    --------
    >>> from geodln.experiments.hyperbola import binomial_interval
    >>> low, high = binomial_interval(7, 10)
    >>> round(low, 4), round(high, 4)
    (0.3475, 0.9333)
    """
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence)
    return float(ci.low), float(ci.high)


def quantile_interval(values, q, confidence=0.95):
    r"""Distribution-free interval of the q-quantile from binomial order statistics.

    The sample order statistics :math:`x_{(l)} \le x_{(u)}` with
    :math:`P(l \le B < u) \ge` ``confidence``, :math:`B \sim \mathrm{Bin}(n, q)`.

    Parameters
    ----------
    values : ndarray, shape=[n]
    q : float
    confidence : float

    Returns
    -------
    low, high : float

    Examples
    --------
    The median of 0, 1, ..., 99 lies between the 40th and 61st order statistics:

    >>> from geodln.experiments.hyperbola import quantile_interval
    >>> quantile_interval(np.arange(100.0), 0.5)
    (39.0, 60.0)
    """
    from scipy.stats import binom

    x = np.sort(np.asarray(values, float))
    n = x.size
    lo = int(binom.ppf((1 - confidence) / 2, n, q))
    hi = int(binom.ppf((1 + confidence) / 2, n, q))
    return float(x[max(lo - 1, 0)]), float(x[min(hi, n - 1)])


def _row(part, depth, scale, method, runs):
    from geodln.measures import effective_rank

    x = np.stack([r["X"] for r in runs])
    er = effective_rank(x)
    u = position(x)
    uf = u[np.isfinite(u)]
    n = len(runs)
    corner = corner_fraction(x, RADIUS)
    low_er = int(np.sum(er < 1.05))
    row = {
        "part": part, "depth": str(_depth_json(depth)), "alpha": scale, "method": method,
        "n_runs": len(runs),
        "corner_fraction": corner,
        "corner_fraction_ci": binomial_interval(round(corner * n), n),
        "erank_median": float(np.median(er)),
        "erank_median_ci": quantile_interval(er, 0.5),
        "erank_fraction_below_1.05": low_er / n,
        "erank_fraction_below_1.05_ci": binomial_interval(low_er, n),
        "erank_max": float(np.max(er)),
        "u_iqr": float(np.subtract(*np.nanpercentile(u, [75, 25]))) if np.any(np.isfinite(u))
        else np.nan,
        "u_iqr_ci": _iqr_interval(uf) if uf.size >= 20 else (np.nan, np.nan),
        "fraction_near_hyperbola": float(np.mean(np.abs(x[:, 0, 1] * x[:, 1, 0] - 1) < 0.05)),
        "converged_fraction": float(np.mean([str(r["status"]) == "loss_tol" for r in runs])),
        "final_loss_max": float(max(r["loss"] for r in runs)),
    }
    return row, x, er


def _iqr_interval(u):
    """Conservative 95 % interval of the IQR from the quartiles' order-statistic intervals."""
    q25, q75 = quantile_interval(u, 0.25, 0.975), quantile_interval(u, 0.75, 0.975)
    return max(q75[0] - q25[1], 0.0), q75[1] - q25[0]


def _fig_outcomes(results):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4.2),
                             layout="constrained", squeeze=False)
    t = np.linspace(-3, 3, 400)
    for ax, (depth, x, er, row) in zip(axes[0], results):
        for sgn in (1, -1):
            ax.plot(sgn * np.exp(t), sgn * np.exp(-t), color="0.6", lw=0.8)
        ax.scatter(x[:, 0, 1], x[:, 1, 0], s=3, alpha=0.5, color="C0")
        ax.set(xlim=(-3, 3), ylim=(-3, 3), xlabel="$x_{12}$", ylabel="$x_{21}$",
               title=f"N = {_depth_json(depth)}: corners {row['corner_fraction']:.2f}")
        ax.set_aspect("equal")
        inset = ax.inset_axes([0.6, 0.06, 0.37, 0.3])  # the empty quadrant x12 > 0 > x21
        inset.hist(np.clip(er, 1.0, 1.2), bins=20, range=(1.0, 1.2), color="C1")
        inset.set_title("erank", fontsize=7)
        inset.tick_params(labelsize=6)
    fig.suptitle("2×2 diagonal completion: outcomes of the downstairs flow (CMV Fig. 4)")
    return fig


def _fig_volume(results):
    import matplotlib.pyplot as plt

    from geodln.plotting.volume import SlicePlane, SliceStyle, plot_log_volume_slice

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4.2),
                             layout="constrained", squeeze=False)
    for ax, (depth, x, _, _) in zip(axes[0], results):
        pts = np.stack([x[:, 0, 1], x[:, 1, 0]], axis=1)
        plot_log_volume_slice(depth, True, plane=SlicePlane(extent=(-3, 3, -3, 3),
                                                           resolution=161),
                              points=pts, ax=ax, style=SliceStyle(vmax_quantile=0.97))
        ax.set_title(f"log volume density, N = {_depth_json(depth)}", fontsize=9)
    fig.suptitle("log volume density of $g^N$ (A/N) on {x11 = x22 = 1} with outcomes "
                 "(CMV Fig. 5)")
    return fig


def _fig_position(results):
    import matplotlib.pyplot as plt

    from geodln.volume import log_volume_density

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.6),
                             layout="constrained", squeeze=False)
    grid = np.linspace(-1, 1, 201)
    for ax, (depth, x, _, _) in zip(axes[0], results):
        u = position(x)
        ax.hist(u[np.isfinite(u)], bins=80, range=(-1, 1), density=True, color="C0",
                alpha=0.6, label="outcomes")
        vol = log_volume_density(curve_points(grid), depth, normalized=True)
        twin = ax.twinx()
        twin.plot(grid, vol, color="C3", label=f"log density at det = {DELTA:g}")
        twin.set_ylabel("log volume density", color="C3")
        ax.set(xlabel=r"position on hyperbola $u=\frac{1}{2}\log(x_{12}/x_{21})$",
               ylabel="outcome density", title=f"N = {_depth_json(depth)}")
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce CMV Fig. 4–5 (outcomes on the hyperbola, log volume heat map) with numbers.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        3000 runs per depth (default: the reduced CI size, 100).
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
        ``rows`` (``summary.csv``), ``claims`` and settings.
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    cases = [(_depth_json(d), SCALE, "RK45") for d in DEPTHS for _ in range(cfg["runs"])]
    cases += [(_depth_json(d), a, "RK45") for a in SENS_SCALES for d in cfg["sens_depths"]
              for _ in range(cfg["sens_runs"])]
    main = ensemble(_flow_batch, len(cases), out_dir, f"{size}-batched", seed, {"cases": cases},
                    n_jobs, progress, batch_size=BATCH)
    # the integrator check re-runs the first starts of depth 5 alone with LSODA (same starts)
    rk_cases = [(_depth_json(DEPTHS[0]), SCALE, "LSODA")] * cfg["integrator_runs"]
    rk = _integrator_check(main, cases, rk_cases, out_dir, size, seed, n_jobs, progress)

    groups = {}
    for case, run_ in zip(cases, main.runs):
        groups.setdefault(tuple(case), []).append(run_)
    rows, results = [], []
    for (depth, scale, method), runs in groups.items():
        part = "main" if scale == SCALE else "init-scale"
        row, x, er = _row(part, _depth_value(depth), scale, method, runs)
        if part == "main":
            row.update(volume_correlations(x, _depth_value(depth)))
            results.append((_depth_value(depth), x, er, row))
        rows.append(row)
    rows.append(rk)
    save_figure(_fig_outcomes(results), os.path.join(out_dir, "hyperbola_outcomes.png"))
    save_figure(_fig_volume(results), os.path.join(out_dir, "hyperbola_volume.png"))
    save_figure(_fig_position(results), os.path.join(out_dir, "hyperbola_position.png"))
    main_rows = [r for r in rows if r["part"] == "main"]
    claims = {
        "corner_fraction": {r["depth"]: r["corner_fraction"] for r in main_rows},
        "corner_fraction_ci95": {r["depth"]: r["corner_fraction_ci"] for r in main_rows},
        "erank_fraction_below_1.05_ci95": {r["depth"]: r["erank_fraction_below_1.05_ci"]
                                           for r in main_rows},
        "spread_u_iqr_ci95": {r["depth"]: r["u_iqr_ci"] for r in main_rows},
        "erank_fraction_below_1.05": {r["depth"]: r["erank_fraction_below_1.05"]
                                      for r in main_rows},
        "spread_u_iqr": {r["depth"]: r["u_iqr"] for r in main_rows},
        "spearman_curve": {r["depth"]: r["rho_curve"] for r in main_rows},
        "spearman_plane": {r["depth"]: r["rho_plane"] for r in main_rows},
        "volume_u_width_1nat": {r["depth"]: r["volume_u_width_1nat"] for r in main_rows},
        "rk45_vs_lsoda_max_abs_diff": rk["max_abs_diff"],
    }
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {"depths": [_depth_json(d) for d in DEPTHS], "alpha": SCALE,
                            "loss_tol": LOSS_TOL, "delta": DELTA, "radius": RADIUS,
                            "normalized": True, **cfg}}
    return finish(out_dir, NAME, summary, rows, started)


def _integrator_check(main, cases, rk_cases, out_dir, size, seed, n_jobs, progress):
    """Re-run the first depth-5 starts alone with LSODA and compare with the batched RK45."""
    n = len(rk_cases)
    x0s = [r["X0"] for c, r in zip(cases, main.runs) if c[0] == rk_cases[0][0]
           and c[1] == SCALE][:n]
    ens = ensemble(_fixed_start_batch, n, out_dir, f"{size}-lsoda", seed,
                   {"starts": np.stack(x0s), "depth": rk_cases[0][0]}, n_jobs, progress,
                   batch_size=BATCH)
    ref = [r["X"] for c, r in zip(cases, main.runs) if c[0] == rk_cases[0][0]
           and c[1] == SCALE][:n]
    diff = max(float(np.max(np.abs(a["X"] - b))) for a, b in zip(ens.runs, ref))
    return {"part": "integrator", "depth": str(rk_cases[0][0]), "alpha": SCALE,
            "method": "batched RK45 vs solo LSODA", "n_runs": n, "max_abs_diff": diff}


def _fixed_start_batch(items, starts, depth):
    """Solo LSODA runs from given starts (the integrator check; one ``solve_ivp`` per run)."""
    x0 = np.stack([np.asarray(starts)[index] for index, _ in items])
    return [{"X": r["X"], "loss": r["loss"]} for r in _members(_integrate(x0, depth, "LSODA"))]
