"""Shared plumbing of the paper reproductions: sizes, output files, ensembles, timing.

Every experiment module exposes ``run(out_dir, full=False, seed=0, n_jobs=None, progress=True,
size=None) -> summary dict``. Sizes:

- ``"tiny"`` — seconds, for the test suite;
- ``"reduced"`` (default) — the CI size, a minute or two per experiment on 2 cores;
- ``"full"`` (``full=True``) — the paper-size runs behind ``geodln reproduce NAME --full``.

Runs go through :func:`geodln.ensemble.run_ensemble` into ``out_dir/runs/<part>`` with
``resume=True``: rerunning an experiment in the same folder reuses the finished runs (the
recorded params and entropy are checked, so a folder cannot mix two settings), an interrupted
one continues. Figures are PNG files written atomically; the summary is written as
``summary.json`` (via :func:`geodln.storage.save_json`) and the main table as ``summary.csv``.
"""

import csv
import io
import json
import os
import time

import numpy as np

from geodln.ensemble import EnsembleOptions, run_ensemble
from geodln.storage import atomic_write, save_json, save_text

SIZES = ("tiny", "reduced", "full")


def resolve_size(full, size):
    """Return the size name from the ``full`` flag and an optional explicit ``size``."""
    if size is None:
        return "full" if full else "reduced"
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if full and size != "full":
        raise ValueError(f"full=True contradicts size={size!r}")
    return size


def start_run(out_dir, full, seed, size):
    """Start an experiment's ``run``: return ``(started, size, seed, out_dir)``.

    ``started`` is the :func:`time.perf_counter` clock read by :func:`finish`; ``size`` and
    ``seed`` are validated (:func:`resolve_size`, :func:`check_seed`) and ``out_dir`` is
    created.
    """
    started = time.perf_counter()
    size = resolve_size(full, size)
    seed = check_seed(seed)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    return started, size, seed, out_dir


def check_seed(seed):
    """Return ``seed`` as a non-negative int (the experiments' entropy)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def ensemble(run_one, n_runs, out_dir, part, seed, params, n_jobs, progress, batch_size=None):
    """Run (or resume) one part of an experiment as a seeded ensemble.

    The entropy is ``[seed, crc(part)]`` so that parts draw independent streams. With
    ``batch_size``, ``run_one`` is a batch function (see :func:`geodln.ensemble.run_ensemble`).
    """
    tag = sum((i + 1) * ord(c) for i, c in enumerate(part))
    return run_ensemble(
        run_one,
        n_runs,
        os.path.join(out_dir, "runs", part),
        params=params,
        entropy=[seed, tag],
        resume=True,
        batch_size=batch_size,
        options=EnsembleOptions(n_jobs=n_jobs, progress=progress, name=part),
    )


def group_by_case(items, cases):
    """Group the members of an ensemble batch by their case (to integrate each group at once).

    Parameters
    ----------
    items : list of (int, object)
        The ``(index, seed)`` pairs of one batch (:func:`geodln.ensemble.run_ensemble`).
    cases : list
        ``cases[index]`` is the case of run ``index`` (a tuple or list).

    Returns
    -------
    groups : dict
        ``{tuple(case): [positions in items]}``, in order of first appearance.
    """
    groups = {}
    for k, (index, _) in enumerate(items):
        groups.setdefault(tuple(cases[index]), []).append(k)
    return groups


def save_figure(fig, path, dpi=120):
    """Write a matplotlib figure to ``path`` (PNG) atomically and close it."""
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi), "wb")
    finally:
        plt.close(fig)
    return path


def save_figure_and_json(fig, out_dir, stem, summary, dpi=110):
    """Write ``fig`` to ``out_dir/stem.png`` and ``summary`` as plain JSON to ``stem.json``.

    Both files are written atomically; the JSON is ``json.dumps(summary, indent=2)`` (no
    format tag, unlike :func:`geodln.storage.save_json`).
    """
    save_figure(fig, os.path.join(out_dir, f"{stem}.png"), dpi=dpi)
    save_text(os.path.join(out_dir, f"{stem}.json"), json.dumps(summary, indent=2))


def save_table(path, rows):
    """Write a list of flat dicts as CSV (atomically)."""
    if not rows:
        raise ValueError("no rows to write")
    keys = list(rows[0])
    for row in rows[1:]:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    save_text(path, buf.getvalue())
    return path


def finish(out_dir, name, summary, rows, started):
    """Add timing and file names to ``summary``; write ``summary.json`` and ``summary.csv``."""
    summary["experiment"] = name
    summary["wall_time_s"] = round(time.perf_counter() - started, 2)
    summary["files"] = sorted(
        f for f in os.listdir(out_dir) if f.endswith((".png", ".csv", ".json"))
    ) + ["summary.csv", "summary.json"]
    summary["files"] = sorted(set(summary["files"]))
    save_table(os.path.join(out_dir, "summary.csv"), rows)
    save_json(os.path.join(out_dir, "summary.json"), to_json(summary), "experiment-summary")
    return summary


def to_json(obj):
    """Recursively convert numpy scalars/arrays (and non-finite floats) to JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def value_at_loss(loss, values, level):
    """Interpolate ``values`` at the first crossing of ``loss`` below ``level`` (log-loss axis).

    Parameters
    ----------
    loss : ndarray, shape=[T]
        Decreasing-ish loss record.
    values : ndarray, shape=[T]
    level : float

    Returns
    -------
    value : float
        NaN if the loss never reaches ``level``.
    """
    loss = np.asarray(loss, float)
    below = np.flatnonzero(loss <= level * (1 + 1e-6))  # event-located stops sit at the level
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0 or not loss[i - 1] > level:
        return float(values[i])
    a, b = np.log(loss[i - 1]), np.log(loss[i])
    w = (np.log(level) - a) / (b - a)
    return float((1 - w) * values[i - 1] + w * values[i])
