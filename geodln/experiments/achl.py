r"""Implicit regularisation of depth at scale: the ACHL completion protocol on M_r, factored.

Arora–Cohen–Hu–Luo (ACHL, arXiv 1905.13655, §3 / Fig. 1) train deep matrix factorisations of
depth N from a small initialisation on a low-rank completion problem and report the error on
the *unobserved* entries against the number of observations: depth ≥ 2 generalises from far
fewer observations than depth 1, and more so as N grows. We run the same protocol downstairs
with the factored Riemannian GD of :mod:`geodln.lowrank` (plain-sum :math:`A_{N,X}`, the
exact quotient of the upstairs training, reference §2), so that 2000×2000 problems run in
seconds:

- ground truth :math:`X^*` of rank 5 (Gaussian factors, scaled to :math:`\sigma_1(X^*) = 1`),
  |Ω| entries observed uniformly without repetition, noise-free;
- working rank ``work_rank`` (20 ≫ 5, so the rank constraint alone does not regularise), start
  :math:`X_0 = U\,\alpha I\,V^\top` with Haar U, V and :math:`\alpha = 10^{-3}` (the small,
  balanced initialisation of ACHL, seen downstairs);
- the gradient flow :math:`\dot X = -A_{N,X}(\nabla E)`,
  :math:`E = \tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` (the small-step limit of ACHL's gradient
  descent), integrated by the projected RK23 of :func:`geodln.lowrank.lowrank_flow`
  (``rtol=1e-4``; the adaptive step crosses the long plateau near the small start cheaply),
  until :math:`E \le 10^{-8} E(0)` or ``max_steps`` steps (depth 1 is the Euclidean flow on
  :math:`M_r`);
- error on the unobserved entries, relative:
  :math:`\|P_{\Omega^c}(X - X^*)\|_F / \|P_{\Omega^c}X^*\|_F`, computed exactly from the
  factors (full Frobenius norm of a rank-(r+5) difference minus the observed part).

Caveats: ACHL train full-width factors upstairs with gradient descent; here the dynamics is
the downstairs image restricted to rank ≤ ``work_rank`` (exact for balanced starts of rank
``work_rank``, reference §3), in the gradient-flow limit (no finite-step effects). Runs that
hit ``max_steps`` before the loss tolerance are reported with their status.
"""

import json
import os
import time

import numpy as np

from geodln._checks import check_depth, check_positive_int
from geodln.lowrank import (
    FactoredPoint,
    SparseCompletion,
    lowrank_flow,
    sample_distinct_indices,
)
from geodln.lowrank.retraction import frobenius_norm_of_product
from geodln.storage import save_arrays

__all__ = ["run", "make_problem", "unobserved_error", "train"]


def make_problem(side, true_rank, n_observed, rng):
    """Rank-``true_rank`` truth (σ₁ = 1) and a :class:`SparseCompletion` on |Ω| = n_observed."""
    left = rng.standard_normal((side, true_rank))
    right = rng.standard_normal((side, true_rank))
    truth = FactoredPoint.from_product(left, right, true_rank)
    truth.s /= truth.s[0]
    rows, cols = sample_distinct_indices((side, side), n_observed, rng)
    return SparseCompletion((rows, cols), truth.entries(rows, cols), (side, side)), truth


def unobserved_error(point, truth, loss):
    r"""Relative error on the unobserved entries, exact, from the factors (no m×n array)."""
    full = frobenius_norm_of_product(np.hstack([point.left(), -truth.left()]),
                                     np.hstack([point.v, truth.v])) ** 2
    observed = float(np.sum(loss.residuals(point) ** 2))
    truth_unobs = truth.frobenius_norm() ** 2 - float(np.sum(loss.values**2))
    return float(np.sqrt(max(full - observed, 0.0) / max(truth_unobs, np.finfo(float).tiny)))


def train(loss, truth, depth, work_rank, rng, init_scale=1e-3, max_steps=3000,
          rel_loss_tol=1e-8, rtol=1e-4):
    """One run: the factored downstairs flow from a small start; return a dict of results."""
    m, n = loss.shape
    u, _ = np.linalg.qr(rng.standard_normal((m, work_rank)))
    v, _ = np.linalg.qr(rng.standard_normal((n, work_rank)))
    x0 = FactoredPoint(u, np.full(work_rank, init_scale), v, check=False)
    loss0 = loss.value(x0)
    traj = lowrank_flow(loss, x0, depth, (0.0, 1e12), method="RK23", rtol=rtol, atol=1e-12,
                        loss_tol=rel_loss_tol * loss0, max_steps=max_steps)
    final = traj.final
    return {"error": unobserved_error(final, truth, loss), "loss": traj.final_loss / loss0,
            "steps": int(traj.metadata["n_steps"]), "time": traj.final_time,
            "erank": float(traj.effective_rank[-1]), "seconds": traj.wall_time,
            "status": traj.status}


def run(out_dir, full=False, seed=0, depths=(1, 2, 3, 4), side=None, true_rank=5,
        work_rank=None, oversampling=None, n_seeds=None, max_steps=None):
    """Run the experiment; write ``achl.npz`` (geodln.storage), ``achl.json`` and ``achl.png``.

    Parameters
    ----------
    out_dir : str or os.PathLike
    full : bool
        2000×2000, work rank 20, |Ω|/dof in (1.5, 2, 3, 4, 6), 3 seeds, 3000 steps; otherwise
        200×200, work rank 10, (1.5, 3, 5), 1 seed, 600 steps (about a minute).
    seed : int
        Root seed; problems and starts use ``SeedSequence(seed).spawn``.
    depths : tuple of int
        Depths N.
    side, true_rank, work_rank, oversampling, n_seeds, max_steps : optional
        Overrides. ``oversampling`` lists |Ω| / (r(2·side − r)) (degrees of freedom of M_r).

    Returns
    -------
    summary : dict
        Settings, the per-run table and the wall time.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clock = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    side = check_positive_int(side or (2000 if full else 200), "side")
    work_rank = check_positive_int(work_rank or (20 if full else 10), "work_rank")
    true_rank = check_positive_int(true_rank, "true_rank")
    if not true_rank <= work_rank <= side:
        raise ValueError(f"need true_rank <= work_rank <= side, got {true_rank}, {work_rank}")
    depths = tuple(check_depth(d, allow_inf=False) for d in depths)
    oversampling = tuple(oversampling or ((1.5, 2, 3, 4, 6) if full else (1.5, 3, 5)))
    n_seeds = check_positive_int(n_seeds or (3 if full else 1), "n_seeds")
    max_steps = check_positive_int(max_steps or (3000 if full else 600), "max_steps")
    dof = true_rank * (2 * side - true_rank)
    counts = [min(int(round(o * dof)), side * side) for o in oversampling]
    rows = []
    for s_idx, child in enumerate(np.random.SeedSequence(seed).spawn(n_seeds)):
        prob_ss, *run_ss = child.spawn(1 + len(counts) * len(depths))
        prob_rng = np.random.default_rng(prob_ss)
        for i, k in enumerate(counts):
            loss, truth = make_problem(side, true_rank, k, prob_rng)
            for j, depth in enumerate(depths):
                rng = np.random.default_rng(run_ss[i * len(depths) + j])
                res = train(loss, truth, depth, work_rank, rng, max_steps=max_steps)
                rows.append({"seed": s_idx, "n_observed": k, "depth": depth, **res})
    err = np.array([[[r["error"] for r in rows if r["n_observed"] == k and r["depth"] == d]
                     for k in counts] for d in depths])  # [depth, count, seed]
    save_arrays(os.path.join(out_dir, "achl.npz"),
                {"error": err, "n_observed": np.array(counts), "depths": np.array(depths)},
                "achl_experiment",
                {"side": side, "true_rank": true_rank, "work_rank": work_rank, "seed": seed,
                 "n_seeds": n_seeds, "max_steps": max_steps})
    fig, ax = plt.subplots(figsize=(6, 4))
    for d, e in zip(depths, err):
        ax.errorbar(counts, e.mean(axis=1), yerr=e.std(axis=1), marker="o", capsize=3,
                    label=f"depth {d}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of observed entries")
    ax.set_ylabel("relative error on unobserved entries")
    ax.set_title(f"ACHL protocol, {side}×{side}, rank {true_rank} (factored, work rank "
                 f"{work_rank})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "achl.png"), dpi=120)
    plt.close(fig)
    summary = {"side": side, "true_rank": true_rank, "work_rank": work_rank,
               "oversampling": list(oversampling), "n_observed": counts,
               "depths": list(depths), "n_seeds": n_seeds, "seed": seed,
               "max_steps": max_steps, "rows": rows,
               "wall_time": time.perf_counter() - clock}
    tmp = os.path.join(out_dir, ".achl.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(summary, fh, indent=2)
    os.replace(tmp, os.path.join(out_dir, "achl.json"))
    return summary
