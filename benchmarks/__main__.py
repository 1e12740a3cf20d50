"""Run the benchmark suite: ``python -m benchmarks [--out DIR] [--quick] [--only NAME ...]``.

Every module ``benchmarks/bench_*.py`` exposes ``run(out_dir, quick=False)``; each writes its
CSV/JSON and PNG files under ``out_dir/<name>/`` and prints its table. Ratios are measured in
one run on the machine described in ``out_dir/machine.json``.
"""

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time

import geodln  # noqa: F401  (selects the geomstats backend first)
from benchmarks.machine import describe, summary_line


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--out", default="results/benchmarks", help="output folder")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="bench names, e.g. flows")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "machine.json"), "w") as fh:
        json.dump(describe(), fh, indent=2)
    print("machine:", summary_line())
    here = os.path.dirname(__file__)
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([here])
                   if m.name.startswith("bench_"))
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            parser.error(f"unknown benchmarks {sorted(unknown)}; available: {names}")
        names = [n for n in names if n in args.only]
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        start = time.perf_counter()
        print(f"\n=== {name} ===")
        module.run(os.path.join(args.out, name), quick=args.quick)
        print(f"[{name}: {time.perf_counter() - start:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
