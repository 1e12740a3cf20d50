"""Gradient descent on Razin–Cohen's (RC20) 2×2 networks: compiled kernel vs numpy vs a naive loop.

``python -m benchmarks.bench_descent [--quick]`` (a few minutes; ``--quick`` under a minute).
Per-step cost of upstairs GD at depth 3 on RC's completion (E = ½Σ_Ω r², lr 1e-3), one run
and a batch of 1000, for: the compiled kernel (``geodln.flows.descent_kernel``, numba), the
engine's numpy path (``descend(..., kernel="numpy")``) and a plain numpy loop as a researcher
would write it; the agreement of kernel and numpy path over a long run; and the wall time of
``geodln reproduce razin-cohen --full`` projected from measured costs (target ≤ 120 s on
2 cores). Timings are CPU seconds of this process (``time.process_time``) next to wall
seconds: on a shared machine the wall clock measures the load, not the code.
"""

import argparse
import os
import sys
import time

import numpy as np

from benchmarks.timing import print_table, write_rows
from geodln import init
from geodln.experiments import razin_cohen as rc
from geodln.flows import Every, StoppingRules, UpstairsField, descent_kernel
from geodln.flows.descent import descend
from geodln.losses import razin_cohen_completion

MASK, TARGET = rc.rc_problem()
#: epochs each member of the 2026-11-30 full run took (README table; cap 5e6 when not stopped)
FULL_RUN_EPOCHS = {2: [3250, 19900, 6850, 47900], 3: [5_000_000, 1_797_650, 5_000_000,
                                                      3_623_650, 3_642_800, 5_000_000],
                   4: [5_000_000, 1_419_150, 5_000_000, 2_846_900]}


def _clock(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _batch(b, depth=3, scale=0.5, seed=0):
    fs = [init.balanced((2, 2), depth, scale, seed=seed + i) for i in range(b)]
    return [np.stack([f[p] for f in fs]) for p in range(depth)]


def naive_gd(factors, lr, n_steps):
    """GD as a researcher writes it: numpy matmuls on the stacked factors, one step a loop."""
    ws = [w.copy() for w in factors]
    for _ in range(n_steps):
        below = [None, ws[0]]
        for w in ws[1:]:
            below.append(w @ below[-1])
        r = MASK * (below[-1] - TARGET)
        above, new = None, []
        for p in range(len(ws) - 1, -1, -1):
            left = r if above is None else np.swapaxes(above, -1, -2) @ r
            g = left if p == 0 else left @ np.swapaxes(below[p], -1, -2)
            new.append(ws[p] - lr * g)
            above = ws[p] if above is None else above @ ws[p]
        ws = new[::-1]
    return ws


def _engine(kernel, factors, n_steps, every=None):
    loss = razin_cohen_completion()
    field = UpstairsField.from_factors(loss, factors)
    return descend(field, field.pack(factors), 1e-3, n_steps, StoppingRules(),
                   Every(every or n_steps), kernel=kernel)


def per_step(quick):
    """Seconds per step (single run) and per member-step (batch of 1000)."""
    rows = []
    n_kernel, n_numpy, n_naive = (20_000, 100, 300) if quick else (400_000, 2_000, 5_000)
    for b in (1, 1000):
        factors = _batch(b)
        scale = 1 if b == 1 else 50
        row = {"batch": b}
        if descent_kernel.available():
            _engine("numba", factors, 10)  # compile / load the cache
            wall, cpu, _ = _clock(lambda: _engine("numba", factors, n_kernel // scale))
            row["kernel_us"] = cpu / (n_kernel // scale) / b * 1e6
            row["kernel_wall_us"] = wall / (n_kernel // scale) / b * 1e6
        wall, cpu, _ = _clock(lambda: _engine("numpy", factors, n_numpy // max(1, scale // 10)))
        row["numpy_path_us"] = cpu / (n_numpy // max(1, scale // 10)) / b * 1e6
        wall, cpu, _ = _clock(lambda: naive_gd(factors, 1e-3, n_naive // scale))
        row["naive_us"] = cpu / (n_naive // scale) / b * 1e6
        if "kernel_us" in row:
            row["numpy_path/kernel"] = row["numpy_path_us"] / row["kernel_us"]
            row["naive/kernel"] = row["naive_us"] / row["kernel_us"]
        rows.append(row)
    return rows


def agreement(quick):
    """Kernel vs numpy path from RC's depth-3 balanced start (lr 6e-3), records every 50."""
    rng = np.random.default_rng(3)
    w = rc._rc_start(rng, 3, 1e-2, "balanced", 1)
    factors = [w[p][None] for p in range(3)]
    n = 3_000 if quick else 40_000
    loss = razin_cohen_completion()
    field = UpstairsField.from_factors(loss, factors)
    out = {}
    for kernel in ("numpy", "numba"):
        out[kernel] = descend(field, field.pack(factors), 6e-3, n, StoppingRules(), Every(50),
                              kernel=kernel)
    a, b = out["numpy"], out["numba"]
    rel = np.max(np.abs(a.X - b.X) / np.maximum(np.abs(a.X), 1e-300))
    scale_rel = np.max(np.abs(a.X - b.X)) / np.max(np.abs(a.X))
    return {"steps": n, "final_loss": float(a.final_loss[0]),
            "max_entrywise_rel_diff": float(rel), "max_diff_over_max_entry": float(scale_rel),
            "bitwise_equal": bool(np.array_equal(a.X, b.X))}


def projection(quick):
    """Projected ``razin-cohen --full`` wall time from per-depth kernel costs and flow costs."""
    loss = razin_cohen_completion()
    gd_cpu = 0.0
    costs = {}
    for depth, epochs in FULL_RUN_EPOCHS.items():
        factors = _batch(len(epochs), depth, scale=0.5, seed=depth)
        n = 20_000 if quick else 200_000
        if not descent_kernel.available():
            costs[depth] = float("nan")
            continue
        field = UpstairsField.from_factors(loss, factors)
        descend(field, field.pack(factors), 1e-4, 10, StoppingRules(), Every(10))
        _, cpu, _ = _clock(lambda: descend(field, field.pack(factors), 1e-4, n,
                                           StoppingRules(), Every(250)))
        costs[depth] = cpu / (n * len(epochs))
        gd_cpu += costs[depth] * sum(epochs)
    rng = np.random.default_rng(0)
    cases = [(d, s, rc.FLOW_SCALE, 1e-4 if s > 0 else rc.NEG_FLOW_TOL) for d in (2, 3, 4)
             for s in (1, -1)]
    flow_cpu = 0.0
    for i, case in enumerate(cases):
        _, cpu, _ = _clock(lambda: rc._flow_run(rng, i, cases))
        # 8 flows per (depth, sign) and 4 per (alpha, sign) at depth 3 in the full run
        flow_cpu += cpu * (8 + (8 if case[0] == 3 else 0))
    wall = gd_cpu + flow_cpu / 2
    return {"gd_cpu_s": gd_cpu, "flows_cpu_s": flow_cpu, "projected_wall_2_cores_s": wall,
            **{f"kernel_ns_per_member_step_depth_{d}": c * 1e9 for d, c in costs.items()}}


def run(out_dir, quick=False):
    """Run the benchmark, print its tables and write ``descent.{csv,json}`` under ``out_dir``."""
    load = os.getloadavg()[0]
    print(f"numba kernel available: {descent_kernel.available()}; 1-min load {load:.1f}")
    rows = per_step(quick)
    print_table(rows, ["batch", "kernel_us", "kernel_wall_us", "numpy_path_us", "naive_us",
                       "numpy_path/kernel", "naive/kernel"],
                "upstairs GD, RC 2x2 depth 3: CPU microseconds per member-step")
    agree = agreement(quick)
    print("kernel vs numpy path:", agree)
    proj = projection(quick)
    print("razin-cohen --full projection:", {k: round(v, 2) for k, v in proj.items()})
    met = proj["projected_wall_2_cores_s"] <= 120
    print(f"target razin-cohen --full <= 120 s on 2 cores: projected "
          f"{proj['projected_wall_2_cores_s']:.0f} s (GD {proj['gd_cpu_s']:.0f} s in one "
          f"process + flows {proj['flows_cpu_s']:.0f} s CPU over 2 jobs; imports, figures and "
          f"process start not included) -> {'met' if met else 'missed'}")
    write_rows(out_dir, "descent", rows, {"agreement": agree, "projection": proj,
                                          "load_1min_start": load,
                                          "load_1min_end": os.getloadavg()[0]})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_descent")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="results/benchmarks/descent")
    args = parser.parse_args()
    run(args.out, quick=args.quick)
    sys.exit(0)
