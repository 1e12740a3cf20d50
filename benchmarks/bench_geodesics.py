"""Geodesics of g^N: Hamiltonian exp / root-finding log vs geomstats' generic christoffel path.

Fast path: ``DLNMetric.exp`` / ``.log`` (geodln.geodesics: co-metric Hamiltonian, DOP853 with
rtol 1e-10; hybr root-finding with a batched finite-difference Jacobian).
Generic path (tests/christoffel_reference.py): christoffels by autograd of
``DLNMetric.metric_matrix``, geomstats ``ExpODESolver`` + ``GSIVPIntegrator(rk4, 20 steps)``,
and ``LogShootingSolver`` (L-BFGS-B, finite-difference gradient: second derivatives through
the Daleckii-Krein VJP are not available) for log.

The generic calls run in a child process with a wall-time cap (``generic_cap`` seconds); a
capped time is reported as a lower bound (``>cap``), and the speed-up as a lower bound too.
Points: X = I + 0.3 G/sqrt(d), V = 0.3 G'/sqrt(d) (seeded Gaussians; the 1/sqrt(d) keeps the
operator norm of the perturbation about 0.6 for every d), depth 3; the log target is the fast
exp of V, and its error is |log - V|. A "hard" row at the largest d drops the 1/sqrt(d):
X = I + 0.3 G is then close to singular (sigma_min/sigma_max ~ 0.03 at d = 10) and the geodesic
long, which is where the root-finding needs many Jacobians.

``python -m benchmarks --only geodesics`` or ``run(out_dir, quick=False)``.
"""

import multiprocessing as mp
import os
import sys
import time

import numpy as np

import geodln  # noqa: F401  (backend first)
from benchmarks.timing import print_table, time_call, write_rows
from geodln import DLNMetric, RankMatrices

DEPTH = 3
SEED = 2024


def _reference_module():
    # the generic route lives next to the tests that validate against it
    tests = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import christoffel_reference

    return christoffel_reference


def _problem(d, seed=SEED, hard=False):
    """X = I + 0.3 G/sqrt(d), V = 0.3 G'/sqrt(d) (hard: without the 1/sqrt(d))."""
    rng = np.random.default_rng([seed, d])
    scale = 0.3 if hard else 0.3 / np.sqrt(d)
    x = np.eye(d) + scale * rng.standard_normal((d, d))
    v = scale * rng.standard_normal((d, d))
    return x, v


def _fast_space(d):
    space = RankMatrices(d, d, equip=False)
    space.equip_with_metric(DLNMetric, depth=DEPTH)
    return space


def _generic_job(kind, d, queue):
    ref = _reference_module()
    space = ref.christoffel_space(d, DEPTH, n_steps=20)
    x, v = _problem(d)
    start = time.perf_counter()
    if kind == "exp":
        out = space.metric.exp(v, x)
    else:
        y = _fast_space(d).metric.exp(v, x)  # same target as the fast log
        start = time.perf_counter()
        out = space.metric.log(y, x)
    queue.put((time.perf_counter() - start, np.asarray(out)))


def _run_capped(kind, d, cap):
    """Run a generic exp/log in a child process; return (seconds or None if capped, result)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_generic_job, args=(kind, d, queue))
    proc.start()
    proc.join(cap)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None, None
    if queue.empty():
        return None, None
    return queue.get()


def _fmt_time(t, cap):
    return f">{cap:.0f}" if t is None else f"{t:.3g}"


def run(out_dir, quick=False):
    """Run the benchmark, write ``geodesics.csv/json`` and ``geodesics.png`` to ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    sizes = (2,) if quick else (2, 3, 4)
    big = (6,) if quick else (10,)
    generic_cap = 30.0 if quick else 180.0
    rows = []
    cases = [(d, False) for d in sizes + big] + [(big[-1], True)]
    for d, hard in cases:
        x, v = _problem(d, hard=hard)
        metric = _fast_space(d).metric
        t_exp = time_call(lambda: metric.exp(v, x), min_total=0.5, max_reps=20)
        y = metric.exp(v, x)
        t_log = time_call(lambda: metric.log(y, x), min_total=0.5, max_reps=5, min_reps=2)
        log_err = float(np.max(np.abs(metric.log(y, x) - v)))
        sig = np.linalg.svd(x, compute_uv=False)
        row = {"d": d, "problem": "hard" if hard else "typical", "depth": DEPTH,
               "cond_x": float(sig[0] / sig[-1]), "g_norm_v": float(metric.norm(v, x)),
               "fast_exp_s": t_exp, "fast_log_s": t_log, "fast_log_err": log_err}
        if d in sizes and not hard:
            g_exp, y_generic = _run_capped("exp", d, generic_cap)
            g_log, v_generic = _run_capped("log", d, generic_cap)
            row.update(
                generic_exp_s=_fmt_time(g_exp, generic_cap),
                generic_log_s=_fmt_time(g_log, generic_cap),
                exp_diff_vs_generic=(float(np.max(np.abs(y_generic - y)))
                                     if y_generic is not None else ""),
                generic_log_err=(float(np.max(np.abs(v_generic - v)))
                                 if v_generic is not None else ""),
                exp_speedup=(f"{g_exp / t_exp:.0f}" if g_exp is not None
                             else f">{generic_cap / t_exp:.0f}"),
                log_speedup=(f"{g_log / t_log:.0f}" if g_log is not None
                             else f">{generic_cap / t_log:.0f}"),
            )
        rows.append(row)
        print(f"  d={d} ({row['problem']}) done", flush=True)
    extra = {"generic_cap_s": generic_cap, "quick": quick,
             "targets": {"speedup_d4": 100, "exp_d10_s": 0.5, "log_d10_s": 5.0}}
    write_rows(out_dir, "geodesics", rows, extra)
    columns = ["d", "problem", "cond_x", "g_norm_v", "fast_exp_s", "generic_exp_s",
               "exp_speedup", "exp_diff_vs_generic",
               "fast_log_s", "generic_log_s", "log_speedup", "fast_log_err", "generic_log_err"]
    print_table(rows, columns, title=f"geodesics of g^N, depth {DEPTH} (times in s)")
    _plot(rows, os.path.join(out_dir, "geodesics.png"), generic_cap)
    return rows


def _plot(rows, path, cap):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def val(r, key):
        v = r.get(key, "")
        if isinstance(v, str):
            return float(v[1:]) if v.startswith(">") else (float(v) if v else np.nan)
        return float(v)

    fig, ax = plt.subplots(figsize=(6, 4))
    rows = [r for r in rows if r["problem"] == "typical"]
    ds = [r["d"] for r in rows]
    for key, style, label in [("fast_exp_s", "o-", "exp (Hamiltonian)"),
                              ("fast_log_s", "s-", "log (root-finding)"),
                              ("generic_exp_s", "o--", "exp (christoffel, rk4x20)"),
                              ("generic_log_s", "s--", f"log (shooting; capped at {cap:.0f} s)")]:
        ys = [val(r, key) for r in rows]
        ax.plot(ds, ys, style, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("d (d x d matrices)")
    ax.set_ylabel("wall time [s]")
    ax.set_title(f"geodesics of $g^N$, N = {DEPTH}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
