"""Low-rank flows at scale: time per step and peak memory, factored vs thin/dense upstairs/dense.

Sections (``run(out_dir, quick=False)``):

- ``steps``: m = n in {2000, 10000} (quick: {300, 1000}), rank 5, 1% and 5% observed, depths 3
  and 10. One step of

  (a) factored downstairs Riemannian GD (sparse gradient, co-metric in factored form,
      retraction from a 2r×2r core) and one attempted step of the projected RK45 flow;
  (b) upstairs GD on bottleneck factors (all hidden widths r), sparse loss gradient, with the
      shared sparse product (``shared=True``) and the generic per-layer adjoint (``False``);
  (c) dense downstairs GD (geodln.DLNMetric.sharp + truncated-SVD retraction on the m×n X)
      and width-m upstairs GD (geodln.factors.product_adjoint on m×m factors), measured at the
      smaller size only (one step, no repeat) and *extrapolated* to the larger one by
      (m/m₀)³ in time (SVD / matmul) and (m/m₀)² in memory — flagged ``extrapolated``.

  Time: median wall time per step (timing.time_call) for (a), (b); for (c) the best of two
  timed calls (one for width-m upstairs at depth 10), under tracemalloc.
  Everything runs with a single BLAS thread (threadpoolctl): on a shared 2-core machine
  multi-threaded OpenBLAS on m×10 matrices is 10-20× slower than one thread (contention), and
  one thread for all methods keeps the comparison on equal resources.
  Memory: tracemalloc peak during the steps, including the live problem data (``peak_MB``),
  and the problem data alone (``data_MB``).
- ``moderate``: the working rank not small next to the matrix (213×320, 25 % observed, ranks
  20 and 50, depth 3, the image-inpainting size of issue 16): one factored GD step, one
  bottleneck upstairs GD step, one dense downstairs GD step, one projected RK45 step of
  ``lowrank_flow`` and the dense path's cost of one RK45 step (six dense co-metric
  evaluations, one SVD each). Median CPU time (``time.process_time``) of 15 calls.
- ``accuracy``: projected RK45/RK23 vs the dense downstairs flow (scipy DOP853, rtol 1e-12)
  on a 120×100 rank-5 completion problem, depth 3: relative error of X(T) vs rtol.

The run ends with a table target / measured / met-or-missed (ratios from this one run).
"""

import contextlib
import os
import time
import tracemalloc

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import geodln  # noqa: E402
from benchmarks.machine import describe, summary_line  # noqa: E402
from benchmarks.timing import print_table, time_call, write_rows  # noqa: E402
from geodln.factors import balanced_factors, product, product_adjoint  # noqa: E402
from geodln.lowrank import (  # noqa: E402
    FactoredDLNMetric,
    bottleneck_factors,
    lowrank_flow,
    random_factored_point,
    random_sparse_completion,
    retract,
    upstairs_gradient,
)
from geodln.lowrank.driver import factored_velocity  # noqa: E402

RANK = 5
ETA = 1e-4


def _blas_threads(n):
    """Context limiting BLAS threads to ``n`` (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n)


def _peak(fn, reps=3):
    """Peak traced bytes while running ``fn`` ``reps`` times (live data included)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(reps):
            fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return base, peak


def _problem(side, fraction, seed):
    tracemalloc.start()
    try:
        loss, _ = random_sparse_completion((side, side), RANK, fraction=fraction, seed=seed)
        x0 = random_factored_point(side, side, RANK, seed=seed + 1,
                                   spectrum=np.linspace(1.0, 0.1, RANK))
        data = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return loss, x0, data


def _factored_rows(side, fraction, depths, seed=0):
    loss, x0, data = _problem(side, fraction, seed)
    rows = []
    for depth in depths:
        metric = FactoredDLNMetric(depth)

        def gd_step(metric=metric):
            return retract(x0, factored_velocity(loss, metric, x0)[1], -ETA)

        def rk_step(depth=depth):
            return lowrank_flow(loss, x0, depth, (0.0, 1e6), first_step=ETA, max_steps=2)

        factors = bottleneck_factors(x0, depth)

        def up_step(shared, factors=factors):
            _, grads = upstairs_gradient(loss, factors, shared=shared)
            return [w - ETA * g for w, g in zip(factors, grads)]

        cases = [
            ("(a) factored downstairs GD", gd_step, 1),
            ("(a) factored downstairs RK45 step", rk_step, 2),
            ("(b) bottleneck upstairs GD (shared)", lambda: up_step(True), 1),
            ("(b) bottleneck upstairs GD (per-layer)", lambda: up_step(False), 1),
        ]
        for name, fn, per_call in cases:
            seconds = time_call(fn, min_total=1.0, max_reps=50) / per_call
            base, peak = _peak(fn, reps=1)
            rows.append({"m=n": side, "observed": fraction, "nnz": loss.n_observed,
                         "depth": depth, "method": name, "ms_per_step": 1e3 * seconds,
                         "peak_MB": (data + peak - base) / 1e6, "data_MB": data / 1e6,
                         "extrapolated": False})
    return rows


def _dense_rows(side, fraction, depths, seed=0):
    """Dense downstairs and width-m upstairs, one timed step each (expensive)."""
    loss, x0, _ = _problem(side, fraction, seed)
    dense_loss = loss.to_dense_loss()
    x = x0.to_dense()
    space = geodln.RankMatrices(side, side, RANK)
    rows = []
    for depth in depths:
        metric = geodln.DLNMetric(space, depth)

        def down_step(metric=metric):
            return space.projection(x - ETA * metric.sharp(dense_loss.euclidean_gradient(x), x))

        factors = balanced_factors(x, depth, widths=(side,) * (depth - 1), rank=RANK,
                                   frames="identity")

        def up_step(factors=factors):
            grads = product_adjoint(factors, dense_loss.euclidean_gradient(product(factors)))
            return [w - ETA * g for w, g in zip(factors, grads)]

        for name, fn in (("(c) dense downstairs GD", down_step),
                         ("(c) width-m upstairs GD", up_step)):
            reps = 1 if (depth > 3 and "upstairs" in name) else 2
            times = []
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                for _ in range(reps):
                    start = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - start)
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
            seconds = min(times)
            live = x.nbytes + (sum(w.nbytes for w in factors) if "upstairs" in name else 0)
            rows.append({"m=n": side, "observed": fraction, "nnz": loss.n_observed,
                         "depth": depth, "method": name, "ms_per_step": 1e3 * seconds,
                         "peak_MB": (peak + live) / 1e6, "data_MB": live / 1e6,
                         "extrapolated": False})
    return rows


def _extrapolate(rows, side):
    out = []
    for r in rows:
        f = side / r["m=n"]
        out.append({**r, "m=n": side, "nnz": int(round(r["nnz"] * f**2)),
                    "ms_per_step": r["ms_per_step"] * f**3, "peak_MB": r["peak_MB"] * f**2,
                    "data_MB": r["data_MB"] * f**2, "extrapolated": True})
    return out


def cpu_time_call(fn, reps=15):
    """Median *CPU* time of ``fn()`` (process time, one BLAS thread), after one warm-up call.

    On the shared 2-core machine wall time is dominated by other processes; the CPU time of a
    single-threaded call is what a quiet machine would show as wall time.
    """
    fn()
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def _moderate_rows(ranks, depth=3, shape=(213, 320), fraction=0.25, seed=0):
    """Factored vs upstairs vs dense at a working rank comparable to min(m, n)."""
    m, n = shape
    rows = []
    for rank in ranks:
        loss, _ = random_sparse_completion(shape, rank, fraction=fraction, seed=seed)
        x0 = random_factored_point(m, n, rank, seed=seed + 1,
                                   spectrum=np.linspace(1.0, 0.1, rank))
        metric = FactoredDLNMetric(depth)
        factors = bottleneck_factors(x0, depth)
        dense_loss = loss.to_dense_loss()
        x = x0.to_dense()
        space = geodln.RankMatrices(m, n, rank)
        dense_metric = geodln.DLNMetric(space, depth)

        def gd_step():
            return retract(x0, factored_velocity(loss, metric, x0)[1], -ETA)

        def up_step():
            _, grads = upstairs_gradient(loss, factors, shared=True)
            return [w - ETA * g for w, g in zip(factors, grads)]

        def dense_gd_step():
            return space.projection(x - ETA * dense_metric.sharp(dense_loss.euclidean_gradient(x),
                                                                 x))

        def rk_step():
            return lowrank_flow(loss, x0, depth, (0.0, 1e6), first_step=ETA, max_steps=1)

        def dense_rk_rhs():
            for _ in range(6):
                dense_metric.sharp(dense_loss.euclidean_gradient(x), x)

        for name, fn in (("factored downstairs GD", gd_step),
                         ("bottleneck upstairs GD (shared)", up_step),
                         ("dense downstairs GD", dense_gd_step),
                         ("factored RK45 step (lowrank_flow)", rk_step),
                         ("dense RK45 step (6 dense RHS)", dense_rk_rhs)):
            seconds = cpu_time_call(fn)
            rows.append({"shape": f"{m}x{n}", "rank": rank, "depth": depth, "method": name,
                         "ms_per_step": 1e3 * seconds})
    return rows


def _targets(rows, moderate):
    """Rows target / measured / met for the issue targets."""
    out = []

    def ms(table, **keys):
        match = [r for r in table if all(r[k] == v for k, v in keys.items())]
        return match[0]["ms_per_step"] if match else np.nan

    big = max(r["m=n"] for r in rows)
    for depth in sorted({r["depth"] for r in rows}):
        sub = [r for r in rows if r["m=n"] == big and r["depth"] == depth and not
               r["extrapolated"] and r["method"] == "(a) factored downstairs GD"]
        for r in sub:
            out.append({"target": f"factored GD step {big}^2 rank {RANK} N={depth} "
                                  f"({100 * r['observed']:g}% obs) <= 100 ms",
                        "measured": f"{r['ms_per_step']:.3g} ms",
                        "met": "met" if r["ms_per_step"] <= 100 else "missed"})
            out.append({"target": "  same, peak memory <= 300 MB",
                        "measured": f"{r['peak_MB']:.3g} MB",
                        "met": "met" if r["peak_MB"] <= 300 else "missed"})
    for rank in sorted({r["rank"] for r in moderate}):
        f = ms(moderate, rank=rank, method="factored downstairs GD")
        u = ms(moderate, rank=rank, method="bottleneck upstairs GD (shared)")
        out.append({"target": f"213x320 rank {rank} N=3: factored GD / upstairs GD <= 1",
                    "measured": f"{f / u:.2f} ({f:.3g} / {u:.3g} ms)",
                    "met": "met" if f <= u else "missed"})
        f = ms(moderate, rank=rank, method="factored RK45 step (lowrank_flow)")
        d = ms(moderate, rank=rank, method="dense RK45 step (6 dense RHS)")
        out.append({"target": f"213x320 rank {rank} N=3: factored RK45 step / dense <= 1",
                    "measured": f"{f / d:.2f} ({f:.3g} / {d:.3g} ms)",
                    "met": "met" if f <= d else "missed"})
    return out


def _accuracy_rows(quick, seed=0):
    loss, _ = random_sparse_completion((120, 100), RANK, fraction=0.3, seed=seed)
    x0 = random_factored_point(120, 100, RANK, seed=seed + 1,
                               spectrum=np.geomspace(1.0, 1e-3, RANK))
    t1 = 0.5
    start = time.perf_counter()
    on_rank = geodln.DLNMetric(geodln.RankMatrices(*x0.shape, RANK, equip=False), 3)
    ref = geodln.downstairs_flow(loss.to_dense_loss(), x0.to_dense(), on_rank, (0.0, t1),
                                 record=geodln.At([t1]),
                                 solver=geodln.Solver("DOP853", rtol=1e-12, atol=1e-14))
    dense_s = time.perf_counter() - start
    rows = []
    for method in ("RK23", "RK45"):
        for rtol in (1e-4, 1e-6, 1e-8) if quick else (1e-4, 1e-6, 1e-8, 1e-10):
            tr = lowrank_flow(loss, x0, 3, (0.0, t1), method=method, rtol=rtol, atol=1e-14)
            # (legacy keywords; the same as options=FlowOptions(method, rtol, 1e-14))
            err = np.linalg.norm(tr.final_X.to_dense() - ref.X[-1]) / np.linalg.norm(ref.X[-1])
            rows.append({"method": method, "rtol": rtol, "rel_err_X(T)": float(err),
                         "rhs_evals": tr.n_rhs, "seconds": tr.wall_time,
                         "dense_DOP853_seconds": dense_s})
    return rows


def _plot(rows, acc, out_dir):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    configs = sorted({(r["m=n"], r["observed"], r["depth"]) for r in rows})
    methods = sorted({r["method"] for r in rows})
    width = 0.8 / len(methods)
    for i, meth in enumerate(methods):
        vals, hatch = [], []
        for c in configs:
            match = [r for r in rows if (r["m=n"], r["observed"], r["depth"]) == c
                     and r["method"] == meth]
            vals.append(match[0]["ms_per_step"] if match else np.nan)
            hatch.append(bool(match and match[0]["extrapolated"]))
        bars = ax.bar(np.arange(len(configs)) + i * width, vals, width, label=meth)
        for bar, h in zip(bars, hatch):
            if h:
                bar.set_hatch("//")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(configs)) + 0.4)
    ax.set_xticklabels([f"{m}\n{100 * f:g}% N={d}" for m, f, d in configs], fontsize=7)
    ax.set_ylabel("ms per step (hatched: extrapolated)")
    ax.set_title(f"One step, rank {RANK} completion")
    ax.legend(fontsize=6)
    ax = axes[1]
    for meth in ("RK23", "RK45"):
        sub = [r for r in acc if r["method"] == meth]
        ax.loglog([r["rtol"] for r in sub], [r["rel_err_X(T)"] for r in sub], "o-", label=meth)
    ax.set_xlabel("rtol")
    ax.set_ylabel("relative error of X(T) vs dense DOP853")
    ax.set_title("Projected RK accuracy (120×100, rank 5, N=3)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "lowrank.png"), dpi=120)
    plt.close(fig)


def run(out_dir, quick=False):
    """Run the sections, write ``lowrank_steps`` and ``lowrank_accuracy`` CSV/JSON and a PNG."""
    os.makedirs(out_dir, exist_ok=True)
    sides = (300, 1000) if quick else (2000, 10000)
    fractions = (0.05,) if quick else (0.01, 0.05)
    depths = (3, 10)
    machine = describe()
    print("machine:", summary_line(), "| load average:", os.getloadavg())
    rows = []
    with _blas_threads(1):
        for side in sides:
            for fraction in fractions:
                rows += _factored_rows(side, fraction, depths)
        acc = _accuracy_rows(quick)
        moderate = _moderate_rows((20, 50))
        dense = []
        for fraction in fractions[:1]:
            dense += _dense_rows(sides[0], fraction, depths)
    rows += dense + _extrapolate(dense, sides[1])
    extra = {"machine": machine, "load_average": os.getloadavg(), "rank": RANK,
             "blas_threads": 1}
    write_rows(out_dir, "lowrank_steps", rows, extra)
    write_rows(out_dir, "lowrank_accuracy", acc, extra)
    write_rows(out_dir, "lowrank_moderate", moderate, extra)
    targets = _targets(rows, moderate)
    write_rows(out_dir, "lowrank_targets", targets, extra)
    print_table(rows, ["m=n", "observed", "nnz", "depth", "method", "ms_per_step", "peak_MB",
                       "data_MB", "extrapolated"], f"One step, rank {RANK} completion")
    print_table(acc, list(acc[0].keys()), "\nProjected RK vs dense DOP853 (rtol 1e-12)")
    print_table(moderate, ["shape", "rank", "depth", "method", "ms_per_step"],
                "\nModerate rank (213x320, 25% observed)")
    print_table(targets, ["target", "measured", "met"], "\nTargets (one run; load "
                f"{os.getloadavg()[0]:.2f})")
    _plot(rows, acc, out_dir)
    return {"steps": rows, "accuracy": acc, "moderate": moderate, "targets": targets}
