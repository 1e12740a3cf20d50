"""Upstairs vs downstairs: cost per right-hand-side evaluation, per unit of flow time, at rank r.

Measures (issue 3, item 7), all in one run on the machine recorded in ``machine.json``:

1. ``rhs``: one velocity evaluation, downstairs (SVD + co-metric, :class:`DownstairsField`) vs
   upstairs (product + adjoint on the factors, :class:`UpstairsField`), full rank d×d, N in
   {2, 4, 8, 16, 32}, d in {10, 50, 200}; and the ratio of the downstairs evaluation to one
   ``numpy.linalg.svd`` of X (the floor).
2. ``flow``: wall time per unit of flow time and RHS evaluations of the two integrated flows
   from the same balanced start (``solve_ivp`` RK45, rtol 1e-6, over T = 1/N: the plain-sum
   flow runs ~N times faster, so this keeps the work per row comparable).
3. ``rank5``: 200×200, rank 5, 20% observed, depths 3 and 10 — downstairs on M_5 (dense
   state, one dense SVD per evaluation; and the factored state of :mod:`geodln.lowrank`) vs
   upstairs with bottleneck widths 5 vs upstairs with width-200 factors from a rank-5 balanced
   start.
4. ``torch``: a PyTorch factor-GD step (autograd backward through the product, as in the
   papers' code) vs geodln's upstairs and downstairs GD steps, when torch is installed.
"""

import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import geodln  # noqa: E402
from benchmarks.machine import describe  # noqa: E402
from benchmarks.timing import print_table, time_call, write_rows  # noqa: E402
from geodln import init  # noqa: E402
from geodln.factors import product  # noqa: E402
from geodln.flows.fields import DownstairsField, UpstairsField  # noqa: E402
from geodln.losses import random_completion  # noqa: E402
from geodln.lowrank import FactoredDLNMetric, FactoredPoint, SparseCompletion  # noqa: E402
from geodln.lowrank.driver import factored_velocity  # noqa: E402


def _problem(d, seed, fraction=0.3, rank=None):
    loss, _ = random_completion((d, d), rank or max(1, d // 10), fraction=fraction, seed=seed)
    return loss


def bench_rhs(dims, depths, seed=0):
    rows = []
    for d in dims:
        loss = _problem(d, seed)
        for N in depths:
            factors = init.balanced((d, d), N, scale=1.0, seed=seed)
            x0 = product(factors)
            down = DownstairsField(loss, N)
            up = UpstairsField.from_factors(loss, factors)
            yd, yu = down.pack(x0), up.pack(factors)
            t_down = time_call(lambda: down.velocity(yd))
            t_up = time_call(lambda: up.velocity(yu))
            t_svd = time_call(lambda: np.linalg.svd(x0))
            rows.append({"d": d, "N": N, "down_ms": 1e3 * t_down, "up_ms": 1e3 * t_up,
                         "svd_ms": 1e3 * t_svd, "up/down": t_up / t_down,
                         "down/svd": t_down / t_svd})
    for d in dims:
        sub = [r for r in rows if r["d"] == d]
        base = sub[0]["down_ms"]
        for r in sub:
            r["down/down(N=2)"] = r["down_ms"] / base
    return rows


def bench_flow(dims, depths, t_unit=1.0, seed=0, rtol=1e-6):
    rows = []
    for d in dims:
        loss = _problem(d, seed)
        for N in depths:
            # the plain-sum flow is ~N times faster (eigenvalues ~ N sigma^(2-2/N)), so both
            # flows are integrated over T = t_unit / N and the cost is reported per unit of T
            t_max = t_unit / N
            factors = init.balanced((d, d), N, scale=1.0, seed=seed)
            x0 = product(factors)
            t0 = time.perf_counter()
            solver = geodln.Solver("RK45", rtol=rtol, atol=1e-9)
            td = geodln.downstairs_flow(loss, x0, N, (0.0, t_max), solver=solver,
                                        record=geodln.At([t_max]))
            wd = time.perf_counter() - t0
            t0 = time.perf_counter()
            tu = geodln.upstairs_flow(loss, factors, (0.0, t_max), solver=solver,
                                      record=geodln.At([t_max]))
            wu = time.perf_counter() - t0
            dev = np.linalg.norm(td.X[-1] - tu.X[-1]) / np.linalg.norm(tu.X[-1])
            rows.append({"d": d, "N": N, "T": t_max, "down_s_per_T": wd / t_max,
                         "up_s_per_T": wu / t_max, "rhs_down": td.n_rhs, "rhs_up": tu.n_rhs,
                         "up/down": wu / wd, "rel_dev_X(T)": dev})
    return rows


def bench_rank5(d=200, rank=5, depths=(3, 10), fraction=0.2, t_unit=1.0, seed=0, rtol=1e-6):
    loss = _problem(d, seed, fraction=fraction, rank=rank)
    rows = []
    for N in depths:
        t_max = t_unit / N
        x_start = init.balanced((d, d), N, scale=1.0, rank=rank, seed=seed)
        x0 = product(x_start)
        bottleneck = init.from_matrix(x0, N, rank=rank, frames="identity")
        wide = init.from_matrix(x0, N, widths=(d,) * (N - 1), rank=rank, seed=seed)
        on_rank = geodln.DLNMetric(geodln.RankMatrices(d, d, rank, equip=False), N)
        down = DownstairsField(loss, on_rank)
        variants = {"down M_5": (down, down.pack(x0))}
        for name, fs in (("up bottleneck", bottleneck), ("up width-200", wide)):
            field = UpstairsField.from_factors(loss, fs)
            variants[name] = (field, field.pack(fs))
        times = {name: time_call(lambda f=f, y=y: f.velocity(y)) for name, (f, y) in
                 variants.items()}
        # the library's rank-r path: factored point, sparse loss, O((m+n) r^2) co-metric
        sparse, point = SparseCompletion.from_completion(loss), FactoredPoint.from_dense(x0, rank)
        factored = FactoredDLNMetric(N)
        times["down factored"] = time_call(lambda: factored_velocity(sparse, factored, point))
        row = {"N": N}
        row.update({f"{k} ms": 1e3 * v for k, v in times.items()})
        row["bottleneck/down"] = times["up bottleneck"] / times["down M_5"]
        row["width200/down"] = times["up width-200"] / times["down M_5"]
        row["bottleneck/factored"] = times["up bottleneck"] / times["down factored"]
        t0 = time.perf_counter()
        solver = geodln.Solver("RK45", rtol=rtol, atol=1e-9)
        td = geodln.downstairs_flow(loss, x0, on_rank, (0.0, t_max), solver=solver,
                                    record=geodln.At([t_max]))
        row["flow down s/T"] = (time.perf_counter() - t0) / t_max
        for name, fs in (("bottleneck", bottleneck), ("width-200", wide)):
            t0 = time.perf_counter()
            tu = geodln.upstairs_flow(loss, fs, (0.0, t_max), solver=solver,
                                      record=geodln.At([t_max]))
            row[f"flow up {name} s/T"] = (time.perf_counter() - t0) / t_max
            row[f"dev {name}"] = float(np.linalg.norm(td.X[-1] - tu.X[-1])
                                       / np.linalg.norm(tu.X[-1]))
        rows.append(row)
    return rows


def bench_torch(dims, depths, seed=0, lr=1e-3):
    try:
        import torch
    except ImportError:
        return None
    rows = []
    for d in dims:
        loss = _problem(d, seed)
        mask = torch.tensor(loss.mask, dtype=torch.float64)
        target = torch.zeros((d, d), dtype=torch.float64)
        target[torch.tensor(loss.mask)] = torch.tensor(loss.values, dtype=torch.float64)
        for N in depths:
            factors = init.balanced((d, d), N, scale=1.0, seed=seed)
            ws = [torch.tensor(w.copy(), requires_grad=True) for w in factors]

            def torch_step(ws=ws):
                x = ws[0]
                for w in ws[1:]:
                    x = w @ x
                value = 0.5 * ((x - target) * mask).pow(2).sum()
                for w in ws:
                    w.grad = None
                value.backward()
                with torch.no_grad():
                    for w in ws:
                        w -= lr * w.grad

            up = UpstairsField.from_factors(loss, factors)
            down = DownstairsField(loss, N)
            yu, yd = up.pack(factors), down.pack(product(factors))
            t_torch = time_call(torch_step)
            t_up = time_call(lambda: up.step(yu, lr))
            t_down = time_call(lambda: down.step(yd, lr))
            rows.append({"d": d, "N": N, "torch_ms": 1e3 * t_torch, "geodln_up_ms": 1e3 * t_up,
                         "geodln_down_ms": 1e3 * t_down, "torch/down": t_torch / t_down,
                         "torch_threads": torch.get_num_threads()})
    return rows


def _plot(rows, out_dir):
    fig, ax = plt.subplots(figsize=(6, 4))
    for d in sorted({r["d"] for r in rows}):
        sub = [r for r in rows if r["d"] == d]
        n = [r["N"] for r in sub]
        (line,) = ax.loglog(n, [r["up_ms"] for r in sub], "o-", label=f"upstairs d={d}")
        ax.loglog(n, [r["down_ms"] for r in sub], "s--", color=line.get_color(),
                  label=f"downstairs d={d}")
    ax.set_xlabel("depth N")
    ax.set_ylabel("time per RHS evaluation [ms]")
    ax.set_title("Cost of one velocity evaluation (full rank d×d)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "rhs_cost.png"), dpi=120)
    plt.close(fig)


def run(out_dir, quick=False):
    """Run all sections and write ``rhs``, ``flow``, ``rank5``, ``torch`` tables + a PNG."""
    os.makedirs(out_dir, exist_ok=True)
    dims = (10, 50) if quick else (10, 50, 200)
    depths = (2, 8) if quick else (2, 4, 8, 16, 32)
    machine = describe()
    rhs = bench_rhs(dims, depths)
    write_rows(out_dir, "rhs", rhs, {"machine": machine})
    print_table(rhs, ["d", "N", "down_ms", "up_ms", "svd_ms", "up/down", "down/svd",
                      "down/down(N=2)"], "Cost per RHS evaluation (full rank)")
    _plot(rhs, out_dir)
    flow = bench_flow((10, 50) if quick else (10, 50, 200), (2, 8) if quick else (2, 8, 32),
                      t_unit=0.2 if quick else 1.0)
    write_rows(out_dir, "flow", flow, {"machine": machine})
    print_table(flow, ["d", "N", "down_s_per_T", "up_s_per_T", "rhs_down", "rhs_up",
                       "up/down", "rel_dev_X(T)"], "\nPer unit of flow time (RK45, rtol 1e-6)")
    rank5 = bench_rank5(d=60 if quick else 200, t_unit=0.2 if quick else 1.0)
    write_rows(out_dir, "rank5", rank5, {"machine": machine})
    print_table(rank5, list(rank5[0].keys()), "\nRank 5, 20% observed")
    torch_rows = bench_torch(dims, (2, 8) if quick else (2, 8, 32))
    if torch_rows is None:
        print("\ntorch not installed: PyTorch comparison skipped (pip install torch)")
    else:
        write_rows(out_dir, "torch", torch_rows, {"machine": machine})
        print_table(torch_rows, list(torch_rows[0].keys()),
                    "\nOne GD step: PyTorch factor loop vs geodln")
    return {"rhs": rhs, "flow": flow, "rank5": rank5, "torch": torch_rows}
