"""Ensembles of independent trainings: parallel, seeded, written as they finish, resumable.

:func:`run_ensemble` runs ``K`` independent calls ``run_one(seed, index, **params)`` with
joblib (local processes by default, any joblib backend — including ``"dask"`` for a
``dask.distributed`` cluster — through ``backend=`` or a :func:`joblib.parallel_config`
context), shows a tqdm progress bar and writes each finished run to its own file
``run-000042.npz`` through :func:`geodln.storage.save_arrays` (atomic: a crash never leaves a
half-written file under the final name). The seeds are the children
``numpy.random.SeedSequence(entropy).spawn(K)``: run ``i`` always receives the child with
``spawn_key == (i,)``, whatever the order, the number of workers or the backend, so an ensemble
is reproducible from its recorded ``entropy`` and ``resume=True`` after an interruption only
runs the missing indices — nothing is lost, nothing runs twice, and the result is identical to
an uninterrupted run. :func:`load_ensemble` gathers the files (validated: truncated, foreign or
missing runs raise ``ValueError`` naming the file) into an :class:`Ensemble` of stacked arrays.

Layout of ``out_dir``::

    ensemble.json       entropy, number of runs, params, run function (geodln JSON, atomic)
    run-000000.npz ...  one file per finished run (geodln arrays, kind "ensemble-run")

Writes happen in the calling process, as results arrive, so a cluster needs no shared file
system. Two processes must not run the same ``out_dir`` at the same time (no lock is taken).
"""

import dataclasses
import glob
import json
import numbers
import os
import re
import time
from collections.abc import Mapping
from contextlib import nullcontext

import numpy as np
from joblib import Parallel, delayed
from joblib.parallel import get_active_backend, parallel_config
from tqdm.auto import tqdm

from geodln._checks import check_positive_int
from geodln.storage import load_arrays, load_json, save_arrays, save_json

__all__ = ["Ensemble", "run_ensemble", "load_ensemble", "ensemble_seeds"]

META_FILE = "ensemble.json"
META_KIND = "ensemble"
RUN_KIND = "ensemble-run"
_RUN_RE = re.compile(r"^run-(\d{6,})\.npz$")


def run_path(out_dir, index):
    """Path of the file of run ``index`` in ``out_dir``."""
    return os.path.join(os.fspath(out_dir), f"run-{index:06d}.npz")


def ensemble_seeds(entropy, n_runs):
    """Return the seeds of an ensemble: ``SeedSequence(entropy).spawn(n_runs)``.

    Parameters
    ----------
    entropy : int or sequence of int
        The recorded entropy of the root ``numpy.random.SeedSequence``.
    n_runs : int
        Number of runs K.

    Returns
    -------
    seeds : list of numpy.random.SeedSequence
        Child ``i`` has ``spawn_key == (i,)``.

    Raises
    ------
    ValueError
        If ``n_runs`` is not an integer >= 1 (bools are refused).
    """
    return np.random.SeedSequence(entropy).spawn(check_positive_int(n_runs, "n_runs"))


def _jsonable(obj):
    """Canonical JSON form of run parameters (arrays as lists, unknown objects as repr)."""

    def default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        return repr(o)

    return json.loads(json.dumps(obj, default=default, sort_keys=True))


def _as_arrays(result, index):
    """Turn what ``run_one`` returned into a dict of numeric/str ndarrays."""
    if hasattr(result, "to_arrays") and callable(result.to_arrays):
        result = result.to_arrays()
    elif all(hasattr(result, a) for a in ("times", "X", "loss")) and hasattr(result, "__dict__"):
        # a geodln Trajectory: its arrays (X, times, loss, measures...), status and cost;
        # the wall time is left out so that reruns give identical files
        arrays = {k: v for k, v in vars(result).items() if isinstance(v, np.ndarray)}
        for p, w in enumerate(getattr(result, "factors", None) or []):
            arrays[f"factor_{p}"] = w
        arrays["status"] = str(getattr(result, "status", ""))
        arrays["n_rhs"] = int(getattr(result, "n_rhs", 0))
        result = arrays
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = {
            f.name: getattr(result, f.name)
            for f in dataclasses.fields(result)
            if isinstance(getattr(result, f.name), np.ndarray | numbers.Number)
        }
    if not isinstance(result, Mapping):
        raise ValueError(
            f"run_one must return a dict of arrays/scalars or a Trajectory, got "
            f"{type(result).__name__} (run index {index})"
        )
    out = {}
    for key, value in result.items():
        if not isinstance(key, str) or key.startswith("__"):
            raise ValueError(f"run_one returned an invalid key {key!r} (run index {index})")
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ValueError(
                f"run_one returned {key!r} of dtype object (run index {index}); "
                "return numeric arrays or scalars"
            )
        out[key] = arr
    return out


def _execute(run_one, seed_seq, index, params, seed_type):
    """Worker: run one member and return its arrays (no file access in the worker)."""
    seed = np.random.default_rng(seed_seq) if seed_type == "generator" else seed_seq
    start = time.perf_counter()
    try:
        result = run_one(seed, index, **params)
    except BaseException as exc:
        exc.add_note(f"geodln.ensemble: raised by run index {index}")
        raise
    return index, _as_arrays(result, index), time.perf_counter() - start


def _finished_indices(out_dir):
    out = set()
    for name in os.listdir(out_dir):
        match = _RUN_RE.match(name)
        if match:
            out.add(int(match.group(1)))
    return out


def _remove_stale_temporaries(out_dir):
    """Delete ``.tmp-*`` leftovers of a writer killed mid-write (never a finished file)."""
    for tmp in glob.glob(os.path.join(out_dir, ".tmp-*")):
        os.unlink(tmp)


def _prepare(out_dir, n_runs, entropy, params, name, run_one, seed_type, resume):
    meta_path = os.path.join(out_dir, META_FILE)
    params_json = _jsonable(params)
    if os.path.exists(meta_path):
        if not resume:
            raise ValueError(
                f"out_dir {out_dir!r} already holds an ensemble; pass resume=True to finish it "
                "or choose another directory"
            )
        meta = load_json(meta_path, META_KIND)
        if entropy is not None and _jsonable(entropy) != meta["entropy"]:
            raise ValueError(
                f"entropy {entropy!r} differs from the entropy {meta['entropy']!r} recorded in "
                f"{meta_path}; resume with the recorded entropy (or entropy=None)"
            )
        if params_json != meta["params"]:
            raise ValueError(
                f"params {params_json!r} differ from the params {meta['params']!r} recorded in "
                f"{meta_path}: resuming would mix runs of different settings"
            )
        if meta.get("seed_type") != seed_type:
            raise ValueError(f"seed_type {seed_type!r} differs from the recorded one")
        if n_runs < meta["n_runs"]:
            raise ValueError(
                f"n_runs={n_runs} is smaller than the recorded n_runs={meta['n_runs']}"
            )
        entropy = meta["entropy"]
        if n_runs != meta["n_runs"]:
            meta["n_runs"] = n_runs
            save_json(meta_path, meta, META_KIND)
        _remove_stale_temporaries(out_dir)
        return meta
    if os.path.isdir(out_dir) and _finished_indices(out_dir):
        raise ValueError(f"out_dir {out_dir!r} holds run files but no {META_FILE}")
    if entropy is None:
        entropy = np.random.SeedSequence().entropy
    meta = {
        "name": name,
        "n_runs": n_runs,
        "entropy": _jsonable(entropy),
        "params": params_json,
        "seed_type": seed_type,
        "run_one": f"{getattr(run_one, '__module__', '?')}.{getattr(run_one, '__qualname__', '?')}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "numpy": np.__version__,
    }
    os.makedirs(out_dir, exist_ok=True)
    save_json(meta_path, meta, META_KIND)
    return meta


def run_ensemble(
    run_one,
    n_runs,
    out_dir,
    *,
    params=None,
    entropy=None,
    n_jobs=None,
    backend=None,
    resume=False,
    progress=True,
    name="ensemble",
    seed_type="generator",
):
    """Run ``n_runs`` independent seeded trainings in parallel, saving each as it finishes.

    Parameters
    ----------
    run_one : callable
        ``run_one(seed, index, **params)`` returning a dict of arrays/scalars (all runs should
        return the same keys), a :class:`geodln.flows.Trajectory` (stored as its arrays,
        ``status`` and ``n_rhs``; not its wall time) or an object with a ``to_arrays()``
        method.
        It must be picklable by cloudpickle (module-level functions, closures and lambdas are).
        ``seed`` is a ``numpy.random.Generator`` built on the run's ``SeedSequence`` (or the
        ``SeedSequence`` itself with ``seed_type="seed_sequence"``).
    n_runs : int
        Number of runs K.
    out_dir : str or os.PathLike
        Folder of the ensemble (created).
    params : dict, optional
        Keyword arguments passed to every call; recorded (as JSON) and checked on resume.
    entropy : int or sequence of int, optional
        Entropy of the root ``SeedSequence``; fresh OS entropy if None. Recorded in
        ``ensemble.json``; on resume the recorded value is used.
    n_jobs : int, optional
        Number of parallel workers. None: the ``n_jobs`` of an active
        :func:`joblib.parallel_config`, else all cores (-1).
    backend : str, optional
        joblib backend: None for the active ``parallel_config`` (default: local ``"loky"``
        processes), ``"dask"`` for the current ``dask.distributed.Client``, ``"threading"``,
        ``"sequential"``...
    resume : bool
        Finish an interrupted ensemble in ``out_dir``: runs whose file exists are skipped.
        Without it an existing ensemble in ``out_dir`` is an error.
    progress : bool
        Show a tqdm progress bar.
    name : str
        Label for the bar and the metadata.
    seed_type : {"generator", "seed_sequence"}
        What ``run_one`` receives as its first argument.

    Returns
    -------
    ensemble : Ensemble
        All K runs, loaded back from disk (see :func:`load_ensemble`).

    Raises
    ------
    ValueError
        Bad arguments; an existing ensemble without ``resume``; resume with other params or
        entropy; a run returning something that is not a dict of numeric arrays.
    """
    if not callable(run_one):
        raise ValueError(f"run_one must be callable, got {type(run_one).__name__}")
    n_runs = check_positive_int(n_runs, "n_runs")
    params = {} if params is None else dict(params)
    if seed_type not in ("generator", "seed_sequence"):
        raise ValueError(f"seed_type must be 'generator' or 'seed_sequence', got {seed_type!r}")
    if n_jobs is not None:
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
            raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}")
    else:
        n_jobs = get_active_backend()[1] or -1
    out_dir = os.fspath(out_dir)
    meta = _prepare(out_dir, n_runs, entropy, params, name, run_one, seed_type, resume)
    seeds = ensemble_seeds(meta["entropy"], n_runs)
    done = _finished_indices(out_dir) if resume else set()
    todo = [i for i in range(n_runs) if i not in done]
    bar = tqdm(total=n_runs, initial=n_runs - len(todo), desc=name, disable=not progress)
    try:
        if todo:
            tasks = (
                delayed(_execute)(run_one, seeds[i], i, params, seed_type) for i in todo
            )
            # parallel_config (unlike Parallel(backend=...)) registers the "dask" backend
            with parallel_config(backend=backend) if backend is not None else nullcontext():
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)
                for index, arrays, wall in results:
                    save_arrays(
                        run_path(out_dir, index),
                        arrays,
                        RUN_KIND,
                        metadata={
                            "index": index,
                            "entropy": meta["entropy"],
                            "spawn_key": list(seeds[index].spawn_key),
                            "wall_time": wall,
                        },
                    )
                    bar.update(1)
    finally:
        bar.close()
    return load_ensemble(out_dir)


@dataclasses.dataclass
class Ensemble:
    """Results of an ensemble, in run order.

    Attributes
    ----------
    runs : list of dict of ndarray
        The arrays of each run, ``runs[i]`` for run index ``i``.
    metadata : dict
        Content of ``ensemble.json`` (``entropy``, ``n_runs``, ``params``, ...).
    run_metadata : list of dict
        Per-run metadata (``index``, ``spawn_key``, ``wall_time``).
    out_dir : str
        Folder the ensemble was loaded from.
    """

    runs: list
    metadata: dict
    run_metadata: list
    out_dir: str

    def __len__(self):
        return len(self.runs)

    @property
    def indices(self):
        """Run indices of :attr:`runs` (all of ``0..K-1`` unless loaded with ``allow_partial``)."""
        return [m["index"] for m in self.run_metadata]

    @property
    def entropy(self):
        """Entropy of the root ``SeedSequence``."""
        return self.metadata["entropy"]

    @property
    def keys(self):
        """Keys present in every run."""
        if not self.runs:
            return []
        common = set(self.runs[0])
        for run in self.runs[1:]:
            common &= set(run)
        return sorted(common)

    def stack(self, key, pad=None):
        """Stack ``key`` over runs along a new axis 0.

        Parameters
        ----------
        key : str
            Array name.
        pad : float, optional
            For ragged arrays (e.g. trajectories of different lengths): pad every array at
            the end of each axis to the largest shape with this value. Without it ragged
            arrays raise ``ValueError``.

        Returns
        -------
        stacked : ndarray, shape=[K, ...]

        Raises
        ------
        ValueError
            With the message ``key … is missing from runs …``; or ``key … has different shapes
            across runs (…...); pass pad=<value> to pad them``.
        """
        missing = [i for i, run in enumerate(self.runs) if key not in run]
        if missing:
            raise ValueError(f"key {key!r} is missing from runs {missing[:5]}")
        arrays = [run[key] for run in self.runs]
        shapes = {a.shape for a in arrays}
        if len(shapes) == 1:
            return np.stack(arrays)
        if pad is None or len({a.ndim for a in arrays}) != 1:
            raise ValueError(
                f"key {key!r} has different shapes across runs ({sorted(shapes)[:3]}...); "
                "pass pad=<value> to pad them"
            )
        full = tuple(max(s) for s in zip(*shapes))
        out = np.full((len(arrays),) + full, pad, dtype=np.result_type(*arrays, float))
        for i, a in enumerate(arrays):
            out[(i,) + tuple(slice(0, s) for s in a.shape)] = a
        return out

    def __getitem__(self, key):
        """Stacked array ``key`` (see :meth:`stack`)."""
        return self.stack(key)


def load_ensemble(out_dir, allow_partial=False):
    """Load and validate the runs of an ensemble folder written by :func:`run_ensemble`.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The ensemble folder.
    allow_partial : bool
        Return only the finished runs of an interrupted ensemble instead of raising.

    Returns
    -------
    ensemble : Ensemble

    Raises
    ------
    ValueError
        No ensemble metadata; a run file truncated, not a geodln file, of another kind, or
        belonging to another ensemble (other entropy or index); runs missing (unless
        ``allow_partial``).
    """
    out_dir = os.fspath(out_dir)
    meta_path = os.path.join(out_dir, META_FILE)
    if not os.path.exists(meta_path):
        raise ValueError(f"{out_dir!r} is not an ensemble folder (no {META_FILE})")
    meta = load_json(meta_path, META_KIND)
    n_runs = meta["n_runs"]
    present = _finished_indices(out_dir)
    extra = sorted(i for i in present if i >= n_runs)
    if extra:
        raise ValueError(f"{out_dir!r} holds run files beyond n_runs={n_runs}: {extra[:5]}")
    missing = [i for i in range(n_runs) if i not in present]
    if missing and not allow_partial:
        raise ValueError(
            f"ensemble {out_dir!r} is incomplete: {len(missing)} of {n_runs} runs missing "
            f"(first {missing[:5]}); finish it with run_ensemble(..., resume=True)"
        )
    runs, run_meta = [], []
    for i in sorted(present):
        path = run_path(out_dir, i)
        arrays, rmeta = load_arrays(path, RUN_KIND)
        if rmeta.get("index") != i or rmeta.get("entropy") != meta["entropy"]:
            raise ValueError(
                f"{path} belongs to another ensemble (index {rmeta.get('index')!r}, entropy "
                f"{rmeta.get('entropy')!r}; expected index {i}, entropy {meta['entropy']!r})"
            )
        runs.append(arrays)
        run_meta.append(rmeta)
    return Ensemble(runs=runs, metadata=meta, run_metadata=run_meta, out_dir=out_dir)
