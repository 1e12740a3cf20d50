"""Ensembles of small problems: the batched engine against one run at a time.

Measures (issue 10 targets), all ratios in one run on the machine recorded in ``machine.json``:

1. ``hyperbola``: CMV Fig. 4 task (2×2, observed x11 = x22 = 1, CMV's normalised metric,
   X(0) = 1e-3·G), depths 5, 10, 20, ∞, R runs each to loss 1e-10: wall time of the batched
   embedded RK45 on 2 joblib processes, one batch per depth (a step costs about the same for
   10 or 1000 members, so fewer, larger batches win). Target ≤ 10 s for 4 × 1000 runs on 2
   cores.
2. ``diag5``: the same completion at depth 5, R runs to loss 1e-10: batched vs one
   ``solve_ivp`` (RK45, same tolerances) per run; speed-up (target ≥ 30×) and the largest
   deviation of a member's final X from its solo run (target ≤ 1e-6).
3. ``velocity``: one downstairs velocity of a 2×2 point vs one ``numpy.linalg.svd`` of it
   (target ≤ 3×), and on a batch of 1000 2×2 points vs one batched SVD (target ≤ 3×).
4. ``gd``: per-step cost of gradient descent (Razin–Cohen 2×2, depth 3, upstairs and
   downstairs), single run and per member of a batch of 1000.
5. ``stall``: right-hand sides of one converged 2×2 run to t = 1000 with the defaults
   (target ≤ 1000) and with RK45.
6. ``compare``: the single runs of ``geodln compare`` (30×30 completion, rank 3, 30 %
   observed, N = 2, 4, 8, RK45, rtol 1e-8, atol 1e-10, 50 records): right-hand sides, time
   and time per right-hand side of each flow (the 2026-11-29 figure at N = 2 was 0.031 s for
   615 upstairs right-hand sides on a quiet machine).

Wall times on a shared machine are inflated by other processes; each row also gives the CPU
time of the process(es) (``time.process_time``), and the per-call ratios use the smallest CPU
time of several repeats on both sides.
"""

import os
import time

import numpy as np

import geodln  # noqa: F401  (selects the geomstats backend first)
from benchmarks.machine import describe
from benchmarks.timing import print_table, time_call, write_rows
from geodln import small_cometric
from geodln.flows import DownstairsField, Solver, StoppingRules, downstairs_flow, gradient_descent
from geodln.losses import MatrixCompletion, razin_cohen_completion
from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices

TOL = dict(rtol=1e-8, atol=1e-12)


def _hyperbola():
    return MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 1.0], shape=(2, 2))


def _cmv(depth):
    return DLNMetric(RankMatrices(2, 2, equip=False), depth, normalized=True)


def _starts(n, seed=0, scale=1e-3):
    return scale * np.random.default_rng(seed).standard_normal((n, 2, 2))


def _hyperbola_batch(depth, starts):
    """One batched RK45 integration of the hyperbola task (a joblib task)."""
    t0, c0 = time.perf_counter(), time.process_time()
    tr = downstairs_flow(_hyperbola(), starts, _cmv(depth), (0.0, 1e8),
                         solver=Solver("RK45", **TOL), stop=StoppingRules(loss_tol=1e-10),
                         record=10**9)
    return {"depth": str(depth), "runs": len(starts), "task_s": time.perf_counter() - t0,
            "task_cpu_s": time.process_time() - c0,
            "converged": int(np.sum(tr.status == "loss_tol")), "max_rhs": int(tr.n_rhs.max()),
            "mean_rhs": float(tr.n_rhs.mean()), "compiled": bool(small_cometric.AVAILABLE)}


def _cpu_call(fn, repeats=7, min_total=0.05):
    """Smallest CPU time of one ``fn()`` over ``repeats`` timed loops (after a warm-up)."""
    fn()
    number = 1
    while True:  # calls per loop: enough for the clock's resolution
        c0 = time.process_time()
        for _ in range(number):
            fn()
        if time.process_time() - c0 >= min_total or number >= 1 << 16:
            break
        number *= 4
    best = np.inf
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - c0) / number)
    return best


def bench_hyperbola(n_runs, n_jobs=2, chunks=1):
    """CMV Fig. 4 ensemble on ``n_jobs`` processes: each depth's runs in ``chunks`` batches.

    Returns the per-task rows and the wall time of the whole ensemble (including the start of
    the worker processes).
    """
    from joblib import Parallel, delayed

    starts = _starts(n_runs, seed=1)
    parts = np.array_split(np.arange(n_runs), chunks)
    tasks = [(d, starts[p]) for d in (5, 10, 20, np.inf) for p in parts]
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=n_jobs)(delayed(_hyperbola_batch)(d, x) for d, x in tasks)
    return rows, time.perf_counter() - t0


def bench_diag5(n_runs, n_solo):
    loss, stop = _hyperbola(), StoppingRules(loss_tol=1e-10)
    starts = _starts(n_runs, seed=2)
    solver = Solver("RK45", **TOL)
    t0 = time.perf_counter()
    batch = downstairs_flow(loss, starts, _cmv(5), (0.0, 1e8), solver=solver, stop=stop,
                            record=10**9)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    dev = 0.0
    for k in range(n_solo):  # a subset, extrapolated linearly to n_runs
        solo = downstairs_flow(loss, starts[k], _cmv(5), (0.0, 1e8), solver=solver, stop=stop,
                               record=10**9)
        dev = max(dev, float(np.max(np.abs(solo.final_X - batch.final_X[k]))))
    t_solo = (time.perf_counter() - t0) * n_runs / n_solo
    return {"runs": n_runs, "batched_s": t_batch, "solo_s (extrapolated)": t_solo,
            "solo runs timed": n_solo, "speedup": t_solo / t_batch, "max |dX| vs solo": dev}


def bench_velocity():
    loss = _hyperbola()
    field = DownstairsField(loss, 5)
    x1 = np.array([[0.3, 0.1], [-0.2, 0.7]])
    y1 = field.pack(x1)
    xb = np.random.default_rng(3).standard_normal((1000, 2, 2))
    yb = field.pack(xb)
    rows = []
    for name, y, x in (("one 2x2", y1, x1), ("batch of 1000 2x2", yb, xb)):
        t_vel = _cpu_call(lambda y=y: field.velocity(y))
        t_svd = _cpu_call(lambda x=x: np.linalg.svd(x))
        rows.append({"case": name, "velocity_us (cpu)": 1e6 * t_vel, "svd_us (cpu)": 1e6 * t_svd,
                     "velocity/svd": t_vel / t_svd,
                     "wall velocity/svd": (time_call(lambda y=y: field.velocity(y))
                                           / time_call(lambda x=x: np.linalg.svd(x)))})
    return rows


def bench_compare(depths=(2, 4, 8)):
    """The single runs of ``geodln compare`` (its default problem): RHS counts and times."""
    from geodln.flows import At, compare_flows
    from geodln.init import balanced
    from geodln.losses import random_completion

    loss, _ = random_completion((30, 30), 3, 0.3, seed=0)
    grid = np.linspace(0.0, 100.0, 50)
    seeds = np.random.SeedSequence(0).spawn(len(depths) + 1)
    rows = []
    for depth, ss in zip(depths, seeds):
        start = balanced((30, 30), depth, 1e-3, seed=np.random.default_rng(ss))
        c0, t0 = time.process_time(), time.perf_counter()
        res = compare_flows(loss, start, solver=Solver("RK45", rtol=1e-8, atol=1e-10),
                            t_span=(0.0, 100.0), record=At(grid))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        up, down = res.upstairs, res.downstairs
        rows.append({"N": depth, "compare_cpu_s": cpu, "compare_wall_s": wall,
                     "up_rhs": int(up.n_rhs), "up_wall_s": float(up.wall_time),
                     "up_us_per_rhs": 1e6 * float(up.wall_time) / int(up.n_rhs),
                     "down_rhs": int(down.n_rhs), "down_wall_s": float(down.wall_time),
                     "down_us_per_rhs": 1e6 * float(down.wall_time) / int(down.n_rhs)})
    return rows


def bench_gd(n_steps, n_batch):
    loss = razin_cohen_completion()
    rows = []
    fs = geodln.init.balanced((2, 2), 3, 0.1, seed=0, det_sign=1)
    for mode, start in (("upstairs", fs), ("downstairs", np.linalg.multi_dot(fs[::-1]))):
        t0 = time.perf_counter()
        gradient_descent(loss, start, 1e-3, n_steps, metric=3, mode=mode, record=n_steps)
        single = (time.perf_counter() - t0) / n_steps
        batch_start = ([np.stack([w] * n_batch) for w in fs] if mode == "upstairs"
                       else np.stack([start] * n_batch))
        t0 = time.perf_counter()
        gradient_descent(loss, batch_start, 1e-3, n_steps // 10, metric=3, mode=mode,
                         record=n_steps)
        per_member = (time.perf_counter() - t0) / (n_steps // 10) / n_batch
        rows.append({"mode": mode, "single_us_per_step": 1e6 * single,
                     f"batch{n_batch}_us_per_member_step": 1e6 * per_member,
                     "razin-cohen 1e6 steps single (s)": single * 1e6})
    return rows


def bench_stall():
    x0 = 0.1 * np.array([[1.0, 0.3], [-0.2, 0.8]])
    out = {}
    for name, solver in (("default (auto)", None), ("RK45", Solver("RK45"))):
        tr = downstairs_flow(_hyperbola(), x0, 4, (0.0, 1000.0), solver=solver)
        out[name] = tr.n_rhs
    return out


def run(out_dir, quick=False):
    """Run the ensemble benchmarks, print the target table and write ``ensembles.{csv,json}``.

    Parameters
    ----------
    out_dir : str
        Output folder.
    quick : bool
        Small sizes (a smoke run; the targets are stated for the full sizes).

    Returns
    -------
    rows : list of dict
        The target table.
    """
    n = 100 if quick else 1000
    out_dir = os.path.join(out_dir, "ensembles")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    hyper_rows, hyper_total = bench_hyperbola(n)
    hyper_cpu = sum(r["task_cpu_s"] for r in hyper_rows)
    print_table(hyper_rows, list(hyper_rows[0]),
                title=f"hyperbola ensemble (batched RK45, 2 processes): {hyper_total:.3g} s wall, "
                      f"{hyper_cpu:.3g} s CPU in the tasks")
    diag = bench_diag5(n, 10 if quick else 40)
    print_table([diag], list(diag), title="diag completion, depth 5")
    vel = bench_velocity()
    print_table(vel, list(vel[0]), title="downstairs velocity vs SVD")
    gd = bench_gd(2000 if quick else 20000, 100 if quick else 1000)
    print_table(gd, list(gd[0]), title="gradient descent per step")
    stall = bench_stall()
    cmp_rows = bench_compare()
    print_table(cmp_rows, list(cmp_rows[0]), title="geodln compare, single runs")
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = [
        {"target": f"hyperbola 4 depths x {n} runs to 1e-10", "goal": "<= 10 s",
         "measured": f"{hyper_total:.3g} s wall ({hyper_cpu:.3g} s CPU in the tasks, "
                     f"{hyper_cpu / 2:.3g} s on 2 free cores)", "met": hyper_total <= 10},
        {"target": f"diag depth 5, {n} runs: batched vs solo", "goal": ">= 30x",
         "measured": f"{diag['speedup']:.3g}x", "met": diag["speedup"] >= 30},
        {"target": "member vs solo final X", "goal": "<= 1e-6",
         "measured": f"{diag['max |dX| vs solo']:.2g}", "met": diag["max |dX| vs solo"] <= 1e-6},
        {"target": "velocity one 2x2 / svd", "goal": "<= 3",
         "measured": f"{vel[0]['velocity/svd']:.3g}", "met": vel[0]["velocity/svd"] <= 3},
        {"target": "velocity 1000 2x2 / batched svd", "goal": "<= 3",
         "measured": f"{vel[1]['velocity/svd']:.3g}", "met": vel[1]["velocity/svd"] <= 3},
        {"target": "converged 2x2 to t=1000, default RHS", "goal": "<= 1000",
         "measured": f"{stall['default (auto)']} (RK45: {stall['RK45']})",
         "met": stall["default (auto)"] <= 1000},
        {"target": "geodln compare N=2 upstairs (615 RHS in 2026-11-29)", "goal": "<= 0.031 s",
         "measured": f"{cmp_rows[0]['up_wall_s']:.3g} s wall, {cmp_rows[0]['up_rhs']} RHS "
                     f"({cmp_rows[0]['up_us_per_rhs']:.3g} us/RHS); whole compare "
                     f"{cmp_rows[0]['compare_cpu_s']:.3g} s CPU",
         "met": cmp_rows[0]["up_wall_s"] <= 0.031},
        {"target": "GD per step, upstairs depth 3, single run", "goal": "razin-cohen --full "
         "<= 120 s", "measured": f"{gd[0]['single_us_per_step']:.3g} us/step",
         "met": "see README"},
    ]
    print_table(rows, ["target", "goal", "measured", "met"],
                title=f"targets (1-min load average {load:.1f} at the start, {end_load:.1f} at "
                      f"the end; compiled co-metric: {small_cometric.AVAILABLE})")
    write_rows(out_dir, "ensembles", rows,
               extra={"machine": describe(), "load": load, "end_load": end_load,
                      "hyperbola": hyper_rows, "diag5": diag, "velocity": vel, "gd": gd,
                      "stall": stall, "compare": cmp_rows})
    return rows


if __name__ == "__main__":
    import sys

    run(sys.argv[1] if len(sys.argv) > 1 else "results/benchmarks", quick="--quick" in sys.argv)
