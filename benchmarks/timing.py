"""Small timing and output helpers shared by the benchmark modules."""

import csv
import json
import os
import time

import numpy as np


def time_call(fn, min_total=0.3, max_reps=500, min_reps=3):
    """Median wall time of ``fn()`` over repeats (after one warm-up call), in seconds."""
    fn()
    times, total = [], 0.0
    while (total < min_total or len(times) < min_reps) and len(times) < max_reps:
        start = time.perf_counter()
        fn()
        dt = time.perf_counter() - start
        times.append(dt)
        total += dt
    return float(np.median(times))


def write_rows(out_dir, name, rows, extra=None):
    """Write ``rows`` (list of dicts) as ``name.csv`` and ``name.json`` under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    if rows:
        keys = list(rows[0].keys())
        for row in rows[1:]:
            keys += [k for k in row if k not in keys]
        with open(os.path.join(out_dir, f"{name}.csv"), "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
        json.dump({"rows": rows, **(extra or {})}, fh, indent=2, default=float)


def print_table(rows, columns, title=None):
    """Print rows (dicts) as an aligned text table with the given columns."""
    if title:
        print(title)
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
              for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
