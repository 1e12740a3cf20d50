"""``geodln reproduce NAME [--full] [--out DIR] [--seed S]``: run a paper reproduction.

Experiments (each a module of :mod:`geodln.experiments` with ``run(out_dir, full, seed, n_jobs,
progress, size)``):

- ``razin-cohen`` — Razin–Cohen Fig. 1 (:mod:`geodln.experiments.razin_cohen`);
- ``hyperbola`` — CMV Fig. 4–5 (:mod:`geodln.experiments.hyperbola`);
- ``diag3`` — the 3×3 volume experiment (:mod:`geodln.experiments.diag3`);
- ``achl`` — Arora–Cohen–Hu–Luo (ACHL) Fig. 1 with their protocol: 100×100 rank 5, full-width
  factors, minimum-nuclear-norm baseline (:mod:`geodln.experiments.achl`);
- ``achl-at-scale`` — the depth effect at 2000×2000 with factored low-rank flows (ours;
  :mod:`geodln.experiments.achl_at_scale`);
- ``saxe`` — SMG14 exact sigmoidal mode dynamics (:mod:`geodln.experiments.saxe`);
- ``acgh`` — ACGH19 convergence guarantee vs measured GD (:mod:`geodln.experiments.acgh`);
- ``ach-lp`` — ACH18 acceleration by depth on ℓ_4 regression (:mod:`geodln.experiments.ach_lp`);
- ``coupling`` — SY26 coupling, rank 1 iff coupled, plasticity
  (:mod:`geodln.experiments.coupling`);
- ``movielens`` — depths 1–4 vs soft-impute on MovieLens-100K (``--data``, ours);
- ``inpainting`` — depths 1–4 vs soft-impute on a photograph (ours).

The default size is the reduced CI size; ``--full`` runs the paper size. Runs are saved as they
finish under ``OUT/runs`` and reused when the command is repeated (an interrupted ``--full``
run resumes where it stopped).

Abbreviations: ACHL = Arora, Cohen, Hu, Luo (ACHL19); CMV = Cohen, Menon, Veraszto (CMV23).
"""

import importlib
import inspect
import os

from geodln.cli import format_summary, nonnegative_int, output_dir, register_subcommand
from geodln.experiments._common import to_json

__all__ = ["EXPERIMENTS", "run_experiment"]

#: command name -> module of geodln.experiments
EXPERIMENTS = {
    "razin-cohen": "geodln.experiments.razin_cohen",
    "hyperbola": "geodln.experiments.hyperbola",
    "diag3": "geodln.experiments.diag3",
    "achl": "geodln.experiments.achl",
    "achl-at-scale": "geodln.experiments.achl_at_scale",
    "saxe": "geodln.experiments.saxe",
    "acgh": "geodln.experiments.acgh",
    "ach-lp": "geodln.experiments.ach_lp",
    "coupling": "geodln.experiments.coupling",
    "movielens": "geodln.experiments.movielens",
    "inpainting": "geodln.experiments.inpainting",
}


def run_experiment(name, out_dir=None, full=False, seed=0, n_jobs=None, progress=True,
                   size=None, data=None):
    """Run the experiment ``name`` and return its summary dict.

    Parameters
    ----------
    name : str
        One of :data:`EXPERIMENTS`.
    out_dir : str, optional
        Output folder (default ``results/<name>-<size>``).
    full, seed, n_jobs, progress, size
        Passed to the experiment's ``run``.
    data : str, optional
        A data path, for the experiments that read one (``movielens``, ``inpainting``).

    Returns
    -------
    summary : dict

    Raises
    ------
    ValueError
        With the message ``unknown experiment …; choose one of …``; or ``data: experiment …
        reads no data file``.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    module = importlib.import_module(EXPERIMENTS[name])
    if out_dir is None:
        out_dir = os.path.join("results", f"{name}-{'full' if full else size or 'reduced'}")
    extra = {} if data is None else {"data": data}
    if extra and "data" not in inspect.signature(module.run).parameters:
        raise ValueError(f"data: experiment {name!r} reads no data file")
    return module.run(out_dir, full=full, seed=seed, n_jobs=n_jobs, progress=progress,
                      size=size, **extra)


def _add_arguments(parser):
    parser.add_argument("name", choices=sorted(EXPERIMENTS), help="experiment to reproduce")
    parser.add_argument("--full", action="store_true",
                        help="paper size (minutes to hours: see the README for each wall time); "
                             "default: reduced size")
    parser.add_argument("--size", choices=["tiny", "reduced", "full"], default=None,
                        help="explicit size (tiny: seconds, smoke test)")
    parser.add_argument("--out", type=output_dir, default=None,
                        help="output folder (default results/NAME-SIZE); rerunning reuses runs")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="entropy of the ensembles")
    parser.add_argument("--jobs", type=int, default=None,
                        help="parallel workers (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--data", default=None,
                        help="data path: the ml-100k folder or a uK.base file (movielens), an "
                             "image file (inpainting; default scikit-learn's china.jpg)")


def _run(args):
    summary = run_experiment(args.name, args.out, full=args.full, seed=args.seed,
                             n_jobs=args.jobs, progress=not args.quiet, size=args.size,
                             data=args.data)
    out = args.out or os.path.join(
        "results", f"{args.name}-{'full' if args.full else args.size or 'reduced'}")
    claims = to_json(summary.get("claims", {}))
    print(format_summary(f"geodln reproduce {args.name} ({summary['size']}): "
                         f"{summary['wall_time_s']:.1f} s; claims:", claims))
    print(f"wrote {', '.join(summary['files'])} to {out}/ (full record: summary.json)")
    return 0


register_subcommand("reproduce", _add_arguments, _run,
                    help="reproduce a paper experiment: " + ", ".join(EXPERIMENTS))
