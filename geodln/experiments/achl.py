r"""Arora–Cohen–Hu–Luo (ACHL) Fig. 1 with ACHL's own protocol: depth helps completion.

ACHL (arXiv:1905.13655, Sec. 3 / Fig. 1) complete a 100×100 rank-5 matrix from |Ω| observed
entries with full-width deep factorisations :math:`X = W_N \cdots W_1` (depth 2, 3, 4)
trained by gradient descent from a small initialisation, against the minimum-nuclear-norm
completion, and plot the reconstruction error against |Ω|. Their code is
github.com/roosephu/deep_matrix_factorization (HEAD 3ad61e3); what we take from it, file by
file (:data:`PROTOCOL`):

- **Ground truth** (``gen_gt.py``, ``configs/mat-cmpl/gen_gt.toml``): n = 100, rank 5,
  :math:`W^* = UV^\top/\sqrt r` with Gaussian :math:`U, V \in \mathbb{R}^{n\times r}`, rescaled
  to :math:`\|W^*\|_F = n` (entries of root-mean-square 1).
- **Observations** (``gen_obs.py``): |Ω| entries drawn uniformly without replacement,
  noise-free. Their configs name |Ω| = 2000 and 5000 (``configs/mat-cmpl/{2000,5000}.toml``);
  the sweep here is :data:`SETTINGS` ``n_observed`` (2000 and 5000 plus points of ours in
  between and below).
- **Model** (``main.py``): depth N, every layer 100×100 (``hidden_sizes = [n] * (N + 1)``),
  no bias. **Init** ``gaussian``: every entry of every layer
  :math:`\mathcal N(0, s^2)`, :math:`s = \mathrm{init\_scale}^{1/N} n^{-1/2}`, so
  :math:`\|X(0)\|_F \approx \mathrm{init\_scale}\sqrt n`; ``init_scale`` = 1e-3 (their default).
- **Training loss** :math:`L = \frac{1}{|\Omega|}\sum_\Omega (X_{ij} - W^*_{ij})^2` (``mean``);
  **stopping**: :math:`L \le 10^{-6}` (``train_thres``) or ``n_iters`` = 10⁶ iterations.
- **Error** (``get_test_loss``): :math:`\frac{1}{n^2}\sum_{ij}(X_{ij} - W^*_{ij})^2` over *all*
  entries — with :math:`\|W^*\|_F = n` this is the squared relative Frobenius error; we report it
  (``test_error``) and its square root (``rel_error``).
- **Baseline** (``cvx_opt``): the minimum-nuclear-norm completion with cvxpy and SCS, by
  :func:`geodln.baselines.nuclear_norm_completion`. *Deviation:* ACHL constrain
  :math:`|X_{ij} - W^*_{ij}| \le 10^{-3}` on Ω; we interpolate exactly
  (:math:`X_{ij} = W^*_{ij}` on Ω, SCS tolerance 1e-9), which can only lower the baseline's
  error. cvxpy is the optional ``baselines`` extra (``pip install 'geodln[baselines]'``);
  without it the experiment skips the baseline rows and says so in ``summary["skipped"]``.

**Deviation (stated).** ACHL's README runs their ``GroupRMSprop`` (lr 1e-3: RMSprop with one
global adaptive step). We run **plain gradient descent** on the factors (the batched upstairs
GD of :func:`geodln.flows.gradient_descent`), on :math:`E = \tfrac12\sum_\Omega r^2 =
\tfrac{|\Omega|}{2}L` with the fixed step :math:`\eta = c/(N\sigma_1(W^*)^{2-2/N})`, c = 0.5 —
a fraction of the stability limit of the end-to-end step :math:`N\sigma^{2-2/N}\eta < 2` at the
solution (ACHL's optional ``SGD`` config runs plain GD at lr 0.01 on L, i.e. step
:math:`0.02/|\Omega|` on E, which needs far more than their 10⁶ iterations to leave a 1e-3
init at depth 4). Small-step GD follows the gradient flow whose limit ACHL's figure studies;
an adaptive step changes the speed along the path, not (to first order) the path. The
stopping rule is theirs (L ≤ 1e-6), with our step cap :data:`SETTINGS` ``max_steps``; a run
that hits it is reported (``status``) and left out of the medians.

Sizes: ``full`` — ACHL's 100×100, |Ω| ∈ {1000, 2000, 3000, 4000, 5000}, one problem (one
ground truth and one Ω per |Ω|, shared by every method), depths 2, 3, 4 and the
nuclear-norm baseline, at most 10⁵ GD steps; ``reduced`` — the same at |Ω| ∈ {2000, 5000}, one
problem; ``tiny`` — 20×20 rank 2 (test-suite smoke size; not ACHL's size).

Outputs: ``achl.png`` (median error against |Ω| per depth and the baseline, log scale, as
ACHL Fig. 1), ``achl_runs.csv`` (every run), ``summary.csv`` (per |Ω| and method),
``summary.json``.

References
----------
.. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Sec. 3 and Fig. 1.
"""

import os

import numpy as np

from geodln.experiments._common import ensemble, finish, save_figure, save_table, start_run

__all__ = ["PROTOCOL", "SETTINGS", "ground_truth", "observe", "achl_init", "train_depth",
           "run"]

NAME = "achl"
#: ACHL's protocol (roosephu/deep_matrix_factorization, HEAD 3ad61e3)
PROTOCOL = {
    "side": 100, "true_rank": 5, "init_scale": 1e-3, "train_thres": 1e-6,
    "n_iters": 1_000_000, "depths": (2, 3, 4),
    "loss": "train L = mean_Omega r^2; GD on E = 1/2 sum_Omega r^2 = |Omega| L / 2",
    "step": "eta = step_scale / (N sigma_1(W*)^(2 - 2/N))", "step_scale": 0.5,
    "error": "mean over all n^2 entries of (X - W*)^2",
}
PROBLEM_TAG = 0xAC41
SETTINGS = {
    "full": {"side": 100, "true_rank": 5, "n_observed": [1000, 2000, 3000, 4000, 5000],
             "n_problems": 1, "max_steps": 100_000},
    "reduced": {"side": 100, "true_rank": 5, "n_observed": [2000, 5000], "n_problems": 1,
                "max_steps": 100_000},
    "tiny": {"side": 20, "true_rank": 2, "n_observed": [200, 300], "n_problems": 1,
             "max_steps": 20_000},
}


def ground_truth(side, rank, rng):
    r"""ACHL's ground truth: :math:`UV^\top/\sqrt r`, rescaled to Frobenius norm ``side``.

    Parameters
    ----------
    side : int
        n (the matrix is n × n).
    rank : int
        r.
    rng : numpy.random.Generator

    Returns
    -------
    w : ndarray, shape=[n, n]

    Examples
    --------
    >>> from geodln.experiments.achl import ground_truth
    >>> w = ground_truth(10, 2, np.random.default_rng(0))
    >>> round(float(np.linalg.norm(w)), 12), int(np.linalg.matrix_rank(w))
    (10.0, 2)
    """
    u = rng.standard_normal((side, rank))
    v = rng.standard_normal((side, rank))
    w = u @ v.T / np.sqrt(rank)
    return w * (side / np.linalg.norm(w))


def observe(w, n_observed, rng):
    """Draw |Ω| = ``n_observed`` entries uniformly without replacement (ACHL's ``gen_obs``).

    Parameters
    ----------
    w : ndarray, shape=[n, n]
        The ground truth.
    n_observed : int
        |Ω|.
    rng : numpy.random.Generator

    Returns
    -------
    rows, cols : ndarray of int, shape=[|Ω|]
    values : ndarray, shape=[|Ω|]

    Examples
    --------
    >>> from geodln.experiments.achl import ground_truth, observe
    >>> rng = np.random.default_rng(0)
    >>> w = ground_truth(10, 2, rng)
    >>> rows, cols, values = observe(w, 20, rng)
    >>> len(set(zip(rows.tolist(), cols.tolist()))), bool(np.allclose(w[rows, cols], values))
    (20, True)
    """
    n = w.shape[1]
    flat = rng.choice(w.size, size=n_observed, replace=False)
    rows, cols = flat // n, flat % n
    return rows, cols, w[rows, cols]


def achl_init(side, depth, init_scale, rng):
    r"""ACHL's ``gaussian`` init: N layers n×n, entries :math:`\mathcal N(0, s^2)`.

    :math:`s = \mathrm{init\_scale}^{1/N} n^{-1/2}`.

    Parameters
    ----------
    side : int
        n.
    depth : int
        N.
    init_scale : float
        ACHL's ``init_scale`` (the scale of the end-to-end matrix).
    rng : numpy.random.Generator

    Returns
    -------
    factors : list of ndarray, shape=[n, n] each
        ``[W_1, ..., W_N]``.

    Examples
    --------
    >>> from geodln.experiments.achl import achl_init
    >>> [w.shape for w in achl_init(4, 3, 1e-3, np.random.default_rng(0))]
    [(4, 4), (4, 4), (4, 4)]
    """
    s = init_scale ** (1.0 / depth) / np.sqrt(side)
    return [s * rng.standard_normal((side, side)) for _ in range(depth)]


def step_size(depth, sigma1, scale=PROTOCOL["step_scale"]):
    r"""Return the fixed GD step on :math:`E = \tfrac12\sum_\Omega r^2`.

    :math:`\eta = c / (N\sigma_1^{2-2/N})` with c = ``scale``.
    """
    return scale / (depth * sigma1 ** (2.0 - 2.0 / depth))


def train_depth(rows, cols, values, w, depth, rng, max_steps):
    """Plain GD on full-width factors from ACHL's init, stopped by ACHL's rule.

    Parameters
    ----------
    rows, cols, values : ndarray, shape=[k]
        The observations.
    w : ndarray, shape=[n, n]
        Ground truth (for the error only).
    depth : int
    rng : numpy.random.Generator
        Draws the init.
    max_steps : int

    Returns
    -------
    result : dict
        ``test_error`` (ACHL's), ``rel_error``, ``train_loss`` (ACHL's mean), ``steps``,
        ``status`` (``loss_tol`` when ACHL's threshold was reached), ``erank``.
    """
    from geodln.flows import Every, StoppingRules, gradient_descent
    from geodln.losses import MatrixCompletion
    from geodln.measures import effective_rank

    side = w.shape[0]
    loss = MatrixCompletion(indices=(rows, cols), values=values, shape=w.shape)
    factors = achl_init(side, depth, PROTOCOL["init_scale"], rng)
    eta = step_size(depth, np.linalg.norm(w, 2))
    tol = PROTOCOL["train_thres"] * len(values) / 2.0  # L <= thres  <=>  E <= |Ω| thres / 2
    traj = gradient_descent(loss, factors, eta, max_steps, mode="upstairs",
                            stop=StoppingRules(loss_tol=tol, max_norm=1e8),
                            record=Every(max_steps))
    x = traj.final_X
    test = float(np.mean((x - w) ** 2))
    return {"test_error": test, "rel_error": float(np.linalg.norm(x - w) / np.linalg.norm(w)),
            "train_loss": float(2.0 * traj.final_loss / len(values)),
            "steps": int(traj.steps[-1]), "status": str(traj.status),
            "erank": float(effective_rank(x)), "step_size": eta}


def _problem(problem_entropy, n_problems, problem, side, rank, n_observed):
    rng = np.random.default_rng(np.random.SeedSequence(problem_entropy).spawn(n_problems)[problem])
    w = ground_truth(side, rank, rng)
    return w, observe(w, n_observed, rng)


def _member(rng, index, cases, problem_entropy, n_problems, side, rank, max_steps):
    """Ensemble member: one (problem, |Ω|, method) — a depth or ``0`` for the baseline."""
    from threadpoolctl import threadpool_limits

    problem, n_observed, depth = cases[index]
    w, (rows, cols, values) = _problem(problem_entropy, n_problems, problem, side, rank,
                                       n_observed)
    with threadpool_limits(1):
        if depth == 0:
            from geodln.baselines import nuclear_norm_completion
            from geodln.data import ratings_from_arrays
            from geodln.measures import effective_rank

            every = np.arange(w.shape[0])  # all rows/columns, in matrix order
            x = nuclear_norm_completion(ratings_from_arrays(rows, cols, values,
                                                            row_index=every, col_index=every))
            res = {"test_error": float(np.mean((x - w) ** 2)),
                   "rel_error": float(np.linalg.norm(x - w) / np.linalg.norm(w)),
                   "train_loss": float(np.mean((x[rows, cols] - values) ** 2)),
                   "steps": 0, "status": "loss_tol", "erank": float(effective_rank(x)),
                   "step_size": 0.0}
        else:
            res = train_depth(rows, cols, values, w, depth, rng, max_steps)
    return {**res, "problem": problem, "n_observed": n_observed, "depth": depth,
            "observed_rms": float(np.sqrt(np.mean(values**2)))}


def _rows(per_run, counts, methods):
    rows = []
    for k in counts:
        for d in methods:
            group = [r for r in per_run if r["n_observed"] == k and r["depth"] == d]
            ok = [r for r in group if r["status"] == "loss_tol"]
            if not group:
                continue
            err = np.array([r["test_error"] for r in ok]) if ok else np.array([np.nan])
            rows.append({
                "n_observed": k, "method": "min nuclear norm (cvxpy SCS)" if d == 0
                else f"depth {d}, GD on full-width factors", "depth": d,
                "n_runs": len(group), "n_converged": len(ok),
                "test_error_median": float(np.median(err)),
                "test_error_min": float(np.min(err)), "test_error_max": float(np.max(err)),
                "rel_error_median": float(np.median([r["rel_error"] for r in ok]))
                if ok else np.nan,
                "erank_median": float(np.median([r["erank"] for r in ok])) if ok else np.nan,
                "steps_median": float(np.median([r["steps"] for r in group])),
            })
    return rows


def _figure(rows, counts, methods, cfg):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    for i, d in enumerate(methods):
        sel = [r for r in rows if r["depth"] == d]
        ax.plot([r["n_observed"] for r in sel], [r["test_error_median"] for r in sel],
                marker="o", color="k" if d == 0 else f"C{i}", ls="--" if d == 0 else "-",
                label="min nuclear norm" if d == 0 else f"depth {d}")
    ax.set(yscale="log", xlabel="number of observed entries |Ω|",
           ylabel=r"error $\frac{1}{n^2}\|X - W^*\|_F^2$",
           title=f"ACHL protocol: {cfg['side']}×{cfg['side']}, rank {cfg['true_rank']}")
    ax.legend(fontsize=8)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce ACHL Fig. 1 with ACHL's protocol (error against |Ω|, depths 2–4, baseline).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        ACHL's size: 100×100, five |Ω| (default: the reduced CI size).
    seed : int
        Entropy of the problems and of the inits.
    n_jobs : int, optional
        Parallel workers (default: all cores).
    progress : bool
        Progress bar.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows`` (``summary.csv``), ``claims``, ``settings``, ``skipped``.
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    counts = cfg["n_observed"]
    from geodln.baselines import cvxpy_available

    have_cvx = cvxpy_available()
    methods = list(PROTOCOL["depths"]) + ([0] if have_cvx else [])
    cases = [[p, k, d] for p in range(cfg["n_problems"]) for k in counts
             for d in PROTOCOL["depths"]]
    params = {"cases": cases, "problem_entropy": [seed, PROBLEM_TAG],
              "n_problems": cfg["n_problems"], "side": cfg["side"], "rank": cfg["true_rank"],
              "max_steps": cfg["max_steps"]}
    ens = ensemble(_member, len(cases), out_dir, f"{size}-gd", seed, params, n_jobs, progress)
    runs = list(ens.runs)
    skipped = []
    if have_cvx:
        base_cases = [[p, k, 0] for p in range(cfg["n_problems"]) for k in counts]
        base = ensemble(_member, len(base_cases), out_dir, f"{size}-nuclear", seed,
                        dict(params, cases=base_cases), n_jobs, progress)
        runs += list(base.runs)
    else:
        skipped.append("minimum-nuclear-norm baseline: cvxpy is not installed "
                       "(pip install 'geodln[baselines]')")
    per_run = [{"problem": int(r["problem"]), "n_observed": int(r["n_observed"]),
                "depth": int(r["depth"]), "test_error": float(r["test_error"]),
                "rel_error": float(r["rel_error"]), "train_loss": float(r["train_loss"]),
                "steps": int(r["steps"]), "status": str(r["status"]),
                "erank": float(r["erank"]), "observed_rms": float(r["observed_rms"])}
               for r in runs]
    rows = _rows(per_run, counts, methods)
    save_table(os.path.join(out_dir, "achl_runs.csv"), per_run)
    save_figure(_figure(rows, counts, methods, cfg), os.path.join(out_dir, "achl.png"))
    med = {(r["n_observed"], r["depth"]): r["test_error_median"] for r in rows}
    claims = {
        "test_error_median": {("nuclear" if d == 0 else f"depth {d}"):
                              {str(k): med.get((k, d)) for k in counts} for d in methods},
        "deeper_is_better": {str(k): bool(all(med[(k, a)] >= med[(k, b)] for a, b in
                                             zip(PROTOCOL["depths"], PROTOCOL["depths"][1:])))
                             for k in counts},
        "unconverged_runs": [r for r in per_run if r["status"] != "loss_tol"],
    }
    if have_cvx:
        claims["depth_3_beats_nuclear"] = {str(k): bool(med[(k, 3)] < med[(k, 0)])
                                           for k in counts}
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims, "skipped": skipped,
               "settings": {"protocol": PROTOCOL, **cfg}}
    return finish(out_dir, NAME, summary, rows, started)
