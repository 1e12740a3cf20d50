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
system.

**Batches.** With ``batch_size=b`` the run function is a *batch* function: it receives a list
of up to ``b`` pairs ``(index, seed)`` and returns one result per pair (in order), so a batched
integrator (one vectorised call for many small problems) can serve many runs at once; batches
are spread over the joblib processes (or the dask cluster). Seeds, resume and one file per run
are exactly as with one run per call: run ``i`` receives the same seed either way.

**Locking: several processes may share one ``out_dir``.** Rerunning the command while a first
process is still working (or on another machine sharing the folder) is safe. Creating or
checking ``ensemble.json`` happens under the directory lock ``.locks/ensemble.lock``; before a
run is dispatched the calling process takes the run's lock ``.locks/run-000042.lock``
(:class:`filelock.FileLock`, an OS advisory lock released automatically if the holder dies) and
holds it until the run's file is written; a run whose lock is held elsewhere is skipped and,
once every other run is done, waited for (then taken over if its holder died without writing
it). So every run is computed exactly once, however many processes share the folder, and
each returns the complete ensemble. A temporary file ``.tmp-run-000042-*`` is only deleted by
the holder of that run's lock (a writer killed mid-write leaves it; it is never another live
process's file). Worker processes watch the calling process and exit within about a second of
its death. Files get the permissions ``0o666 & ~umask``.
"""

import dataclasses
import glob
import json
import numbers
import os
import re
import threading
import time
from collections.abc import Mapping
from contextlib import nullcontext

import numpy as np
from filelock import FileLock, Timeout
from joblib import Parallel, delayed
from joblib.parallel import BACKENDS, get_active_backend, parallel_config
from tqdm.auto import tqdm

from geodln._checks import check_bool, check_choice, check_positive_int
from geodln.storage import load_arrays, load_json, save_arrays, save_json

__all__ = ["Ensemble", "EnsembleOptions", "run_ensemble", "load_ensemble", "ensemble_seeds"]

META_FILE = "ensemble.json"
META_KIND = "ensemble"
RUN_KIND = "ensemble-run"
LOCK_DIR = ".locks"
_RUN_RE = re.compile(r"^run-(\d{6,})\.npz$")
_POLL = 0.2  # seconds between checks for a run held by another process


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
        If ``n_runs`` is not an integer >= 1 (bools are refused) or ``entropy`` is not a
        non-negative int or a sequence of them.

    Examples
    --------
    Run ``i`` of an ensemble draws from ``SeedSequence(entropy).spawn(K)[i]``, so any run can
    be redone alone:

    >>> from geodln.ensemble import ensemble_seeds
    >>> seeds = ensemble_seeds(7, 3)
    >>> seeds[2].spawn_key
    (2,)
    >>> a = np.random.default_rng(seeds[2]).standard_normal()
    >>> bool(a == np.random.default_rng(ensemble_seeds(7, 3)[2]).standard_normal())
    True
    """
    n_runs = check_positive_int(n_runs, "n_runs", maximum=10**9)
    return _seed_sequence(entropy).spawn(n_runs)


def _seed_sequence(entropy):
    """``SeedSequence(entropy)``, refusing bools, floats and the like with ``ValueError``."""
    flat = np.ravel(np.asarray(entropy, dtype=object)) if entropy is not None else []
    if any(isinstance(e, bool | np.bool_) for e in flat):
        raise ValueError(f"entropy must be a non-negative int or a sequence of them, got "
                         f"{entropy!r}")
    try:
        return np.random.SeedSequence(entropy)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(
            f"entropy must be a non-negative int or a sequence of them, got {entropy!r}"
        ) from exc


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


_WATCHDOG = {"started": False}
_WATCHDOG_LOCK = threading.Lock()


def _watch_parent(parent_pid):
    """In a worker process started by ``parent_pid``: exit within ~1 s of the parent's death.

    A no-op in the calling process itself (threading/sequential backends) and in workers that
    are not its children (a dask cluster's workers belong to their nanny).
    """
    if os.getpid() == parent_pid or os.getppid() != parent_pid:
        return
    with _WATCHDOG_LOCK:
        if _WATCHDOG["started"]:
            return
        _WATCHDOG["started"] = True

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:  # re-parented: the caller died (e.g. SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="geodln-parent-watchdog", daemon=True).start()


def _make_seed(seed_seq, seed_type):
    return np.random.default_rng(seed_seq) if seed_type == "generator" else seed_seq


def _execute(run_one, items, params, seed_type, batched, parent_pid):
    """Worker: run one batch of members and return their arrays (no file access here)."""
    _watch_parent(parent_pid)
    start = time.perf_counter()
    pairs = [(index, _make_seed(seq, seed_type)) for index, seq in items]
    indices = [index for index, _ in items]
    try:
        if batched:
            results = run_one(pairs, **params)
            if isinstance(results, Mapping) or not hasattr(results, "__len__"):
                raise ValueError(
                    f"run_one (batched) must return a list of one result per run, got "
                    f"{type(results).__name__} (run indices {indices})"
                )
            results = list(results)
            if len(results) != len(pairs):
                raise ValueError(
                    f"run_one (batched) returned {len(results)} results for {len(pairs)} runs "
                    f"(run indices {indices})"
                )
        else:
            (index, seed), = pairs
            results = [run_one(seed, index, **params)]
    except BaseException as exc:
        where = f"run index {indices[0]}" if len(indices) == 1 else f"run indices {indices}"
        exc.add_note(f"geodln.ensemble: raised by {where}")
        raise
    wall = (time.perf_counter() - start) / len(pairs)
    return [(i, _as_arrays(r, i), wall) for i, r in zip(indices, results)]


def _finished_indices(out_dir):
    out = set()
    for name in os.listdir(out_dir):
        match = _RUN_RE.match(name)
        if match:
            out.add(int(match.group(1)))
    return out


def _temp_prefix(index):
    return f".tmp-run-{index:06d}-"


def _lock(out_dir, name):
    """Return a :class:`filelock.FileLock` on ``out_dir/.locks/<name>.lock`` (any thread)."""
    folder = os.path.join(out_dir, LOCK_DIR)
    os.makedirs(folder, exist_ok=True)
    return FileLock(os.path.join(folder, f"{name}.lock"), thread_local=False)


def _claim(out_dir, index):
    """Take run ``index``: its lock, or None if another process holds it or it is done.

    Returns ``(lock, state)`` with state ``"claimed"``, ``"busy"`` or ``"done"``. Holding the
    lock, leftover temporaries of this run are a dead writer's and are removed.
    """
    lock = _lock(out_dir, f"run-{index:06d}")
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return None, "busy"
    if os.path.exists(run_path(out_dir, index)):
        lock.release()
        return None, "done"
    for tmp in glob.glob(os.path.join(out_dir, _temp_prefix(index) + "*")):
        os.unlink(tmp)
    return lock, "claimed"


def _remove_stale_temporaries(out_dir):
    """Under the directory lock: delete ``.tmp-*`` leftovers that belong to no run.

    Run temporaries (``.tmp-run-*``) are left to the holder of the run's lock.
    """
    for tmp in glob.glob(os.path.join(out_dir, ".tmp-*")):
        if not os.path.basename(tmp).startswith(".tmp-run-"):
            os.unlink(tmp)


def _check_out_dir(out_dir):
    try:
        out_dir = os.fspath(out_dir)
    except TypeError as exc:
        raise ValueError(
            f"out_dir must be a str or os.PathLike, got {type(out_dir).__name__}"
        ) from exc
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} exists and is not a directory")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out_dir {out_dir!r} cannot be created: {exc}") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"out_dir {out_dir!r} is not writable")
    return out_dir


def _prepare(out_dir, n_runs, entropy, params, name, run_one, seed_type, resume):
    with _lock(out_dir, "ensemble"):
        return _prepare_locked(out_dir, n_runs, entropy, params, name, run_one, seed_type,
                               resume)


def _prepare_locked(out_dir, n_runs, entropy, params, name, run_one, seed_type, resume):
    meta_path = os.path.join(out_dir, META_FILE)
    params_json = _jsonable(params)
    if os.path.exists(meta_path):
        if not resume:
            raise ValueError(
                f"out_dir {out_dir!r} already holds an ensemble; pass resume=True to finish it "
                "or choose another directory"
            )
        meta = load_json(meta_path, META_KIND)
        if not isinstance(meta, dict) or not all(
            k in meta for k in ("entropy", "params", "n_runs")
        ):
            raise ValueError(f"{meta_path} is not a valid ensemble record")
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
        if n_runs != meta["n_runs"]:
            meta["n_runs"] = n_runs
            save_json(meta_path, meta, META_KIND)
        _remove_stale_temporaries(out_dir)
        return meta
    if _finished_indices(out_dir):
        raise ValueError(f"out_dir {out_dir!r} holds run files but no {META_FILE}")
    if entropy is None:
        entropy = np.random.SeedSequence().entropy
    _seed_sequence(entropy)
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
    _remove_stale_temporaries(out_dir)
    save_json(meta_path, meta, META_KIND)
    return meta


@dataclasses.dataclass(frozen=True)
class EnsembleOptions:
    """How :func:`run_ensemble` executes: workers, backend, progress bar, labels, seed type.

    Parameters
    ----------
    n_jobs : int, optional
        Number of parallel workers. None: the ``n_jobs`` of an active
        :func:`joblib.parallel_config`, else all cores (-1).
    backend : str, optional
        joblib backend: None for the active ``parallel_config`` (default: local ``"loky"``
        processes), ``"dask"`` for the current ``dask.distributed.Client``, ``"threading"``,
        ``"sequential"``...
    progress : bool
        Show a tqdm progress bar.
    name : str
        Label for the bar and the metadata.
    seed_type : {"generator", "seed_sequence"}
        What ``run_one`` receives as seed.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0, a bool or not an integer; ``backend`` is not None or the name of a
        joblib backend; ``progress`` is not a bool; ``name`` is not a string; ``seed_type`` is
        unknown.

    Examples
    --------
    >>> EnsembleOptions(backend="sequential", progress=False).n_jobs is None
    True
    >>> EnsembleOptions(n_jobs=0)
    Traceback (most recent call last):
    ...
    ValueError: n_jobs must be a non-zero integer or None, got 0
    """

    n_jobs: int | None = None
    backend: str | None = None
    progress: bool = True
    name: str = "ensemble"
    seed_type: str = "generator"

    def __post_init__(self):
        n_jobs = self.n_jobs
        if n_jobs is not None:
            if isinstance(n_jobs, bool | np.bool_) or not isinstance(n_jobs, numbers.Integral) \
                    or n_jobs == 0 or abs(int(n_jobs)) > 2**31:
                raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}")
            object.__setattr__(self, "n_jobs", int(n_jobs))
        backends = sorted(BACKENDS) + ["dask"]
        if self.backend is not None and (not isinstance(self.backend, str)
                                         or self.backend not in backends):
            raise ValueError(f"backend must be None or one of {backends}, got {self.backend!r}")
        object.__setattr__(self, "progress", check_bool(self.progress, "progress"))
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {self.name!r}")
        check_choice(self.seed_type, "seed_type", ("generator", "seed_sequence"))

    @classmethod
    def coerce(cls, options):
        """Return ``options`` as EnsembleOptions (None: defaults; a dict: its fields).

        Parameters
        ----------
        options : EnsembleOptions, dict or None
            The options.

        Returns
        -------
        options : EnsembleOptions

        Raises
        ------
        ValueError
            If ``options`` is none of these, a dict has an unknown key, or a field is invalid.

        Examples
        --------
        >>> EnsembleOptions.coerce({"progress": False}).progress
        False
        """
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        if isinstance(options, Mapping):
            fields = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(str(k) for k in options if k not in fields)
            if unknown:
                raise ValueError(f"options has unknown keys {unknown}; expected some of "
                                 f"{sorted(fields)}")
            return cls(**options)
        raise ValueError(f"options must be an EnsembleOptions, a dict or None, got "
                         f"{type(options).__name__}")


def _check_options(run_one, n_runs, params, options, batch_size):
    if not callable(run_one):
        raise ValueError(f"run_one must be callable, got {type(run_one).__name__}")
    n_runs = check_positive_int(n_runs, "n_runs", maximum=10**9)
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict or None, got {type(params).__name__}")
    params = {} if params is None else dict(params)
    if any(not isinstance(k, str) for k in params):
        raise ValueError("params must have string keys (they are keyword arguments)")
    options = EnsembleOptions.coerce(options)
    n_jobs = options.n_jobs if options.n_jobs is not None else (get_active_backend()[1] or -1)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    return n_runs, params, options, int(n_jobs), batch_size


def run_ensemble(
    run_one,
    n_runs,
    out_dir,
    *,
    params=None,
    entropy=None,
    resume=False,
    batch_size=None,
    options=None,
):
    """Run ``n_runs`` independent seeded trainings in parallel, saving each as it finishes.

    Parameters
    ----------
    run_one : callable
        One run per call (``batch_size=None``): ``run_one(seed, index, **params)`` returning a
        dict of arrays/scalars (all runs should return the same keys), a
        :class:`geodln.flows.Trajectory` (stored as its arrays, ``status`` and ``n_rhs``; not
        its wall time) or an object with a ``to_arrays()`` method. With ``batch_size``:
        ``run_one(items, **params)`` with ``items`` a list of ``(index, seed)`` pairs,
        returning a list of such results, one per pair, in order.
        It must be picklable by cloudpickle (module-level functions, closures and lambdas are).
        ``seed`` is a ``numpy.random.Generator`` built on the run's ``SeedSequence`` (or the
        ``SeedSequence`` itself with ``seed_type="seed_sequence"``).
    n_runs : int
        Number of runs K.
    out_dir : str or os.PathLike
        Folder of the ensemble (created). Several processes may share it (module docstring).
    params : dict, optional
        Keyword arguments passed to every call; recorded (as JSON) and checked on resume.
    entropy : int or sequence of int, optional
        Entropy of the root ``SeedSequence``; fresh OS entropy if None. Recorded in
        ``ensemble.json``; on resume the recorded value is used.
    resume : bool
        Finish an interrupted ensemble in ``out_dir`` (or join a process working on it): runs
        whose file exists are skipped. Without it an existing ensemble in ``out_dir`` is an
        error.
    batch_size : int, optional
        Group runs into in-process batches of this many runs (``run_one`` is then a batch
        function, see above). None: one run per call.
    options : EnsembleOptions or dict, optional
        Execution options: ``n_jobs``, ``backend``, ``progress``, ``name``, ``seed_type``
        (:class:`EnsembleOptions`; a dict of its fields is accepted).

    Returns
    -------
    ensemble : Ensemble
        All K runs, loaded back from disk (see :func:`load_ensemble`).

    Raises
    ------
    ValueError
        If ``run_one`` is not callable; ``n_runs`` or ``batch_size`` is not a positive
        integer; ``options`` is not valid (see :class:`EnsembleOptions`);
        ``params`` is not a dict with string keys; ``entropy`` is not valid for a
        ``SeedSequence``; ``out_dir`` is an existing file or cannot be created/written; an
        ensemble exists in ``out_dir`` without ``resume``; resuming with other params, entropy,
        seed type or fewer runs; a run returns something that is not a dict of numeric arrays
        (or a batch returns the wrong number of results).

    Examples
    --------
    >>> import tempfile
    >>> from geodln.ensemble import run_ensemble
    >>> def draw(rng, index):
    ...     return {"x": rng.standard_normal(2)}
    >>> ens = run_ensemble(draw, 3, tempfile.mkdtemp(), entropy=1,
    ...                    options={"backend": "sequential", "progress": False})
    >>> ens["x"].shape
    (3, 2)
    >>> def draw_batch(items):  # one vectorised call for several runs
    ...     return [{"x": rng.standard_normal(2)} for index, rng in items]
    >>> same = run_ensemble(draw_batch, 3, tempfile.mkdtemp(), entropy=1, batch_size=2,
    ...                     options={"backend": "sequential", "progress": False})
    >>> bool((same["x"] == ens["x"]).all())
    True
    """
    n_runs, params, options, n_jobs, batch_size = _check_options(
        run_one, n_runs, params, options, batch_size
    )
    backend, progress, name, seed_type = (options.backend, options.progress, options.name,
                                          options.seed_type)
    out_dir = _check_out_dir(out_dir)
    meta = _prepare(out_dir, n_runs, entropy, params, name, run_one, seed_type, resume)
    seeds = ensemble_seeds(meta["entropy"], n_runs)
    remaining = sorted(set(range(n_runs)) - _finished_indices(out_dir))
    bar = tqdm(total=n_runs, initial=n_runs - len(remaining), desc=name, disable=not progress)
    held = {}  # index -> lock of the runs this process is computing
    try:
        while remaining:
            busy = []
            _run_claimed(run_one, remaining, busy, held, seeds, params, meta, out_dir,
                         n_jobs, backend, seed_type, batch_size, bar)
            remaining = [i for i in busy if not os.path.exists(run_path(out_dir, i))]
            if remaining:
                # every run left is being computed by another process: wait for one of them
                lock = _lock(out_dir, f"run-{remaining[0]:06d}")
                while True:
                    try:
                        lock.acquire(timeout=_POLL)
                        lock.release()
                        break
                    except Timeout:
                        continue
            bar.n = n_runs - len(remaining)  # runs finished by the other processes
            bar.refresh()
    finally:
        for lock in held.values():
            lock.release()
        bar.close()
    return load_ensemble(out_dir)


def _run_claimed(run_one, remaining, busy, held, seeds, params, meta, out_dir, n_jobs,
                 backend, seed_type, batch_size, bar):
    """Claim, dispatch and save the runs of ``remaining`` that no other process holds."""
    parent = os.getpid()
    size = batch_size or 1

    def tasks():  # consumed lazily by joblib: a run is claimed just before it is dispatched
        batch = []
        for index in remaining:
            lock, state = _claim(out_dir, index)
            if state == "busy":
                busy.append(index)
            elif state == "done":
                bar.update(1)
            else:
                held[index] = lock
                batch.append((index, seeds[index]))
                if len(batch) == size:
                    yield delayed(_execute)(run_one, batch, params, seed_type,
                                            batch_size is not None, parent)
                    batch = []
        if batch:
            yield delayed(_execute)(run_one, batch, params, seed_type, batch_size is not None,
                                    parent)

    # parallel_config (unlike Parallel(backend=...)) registers the "dask" backend
    with parallel_config(backend=backend) if backend is not None else nullcontext():
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks())
        for finished in results:
            for index, arrays, wall in finished:
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
                    prefix=_temp_prefix(index),
                )
                held.pop(index).release()
                bar.update(1)


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

    Examples
    --------
    >>> import tempfile
    >>> from geodln.ensemble import run_ensemble
    >>> ens = run_ensemble(lambda rng, index: {"x": np.full(2, index)}, 3, tempfile.mkdtemp(),
    ...                    entropy=0, options={"backend": "sequential", "progress": False})
    >>> len(ens), ens.indices, ens.keys
    (3, [0, 1, 2], ['x'])
    >>> ens["x"]
    array([[0, 0],
           [1, 1],
           [2, 2]])
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

    Examples
    --------
    >>> import tempfile
    >>> from geodln.ensemble import load_ensemble, run_ensemble
    >>> folder = tempfile.mkdtemp()
    >>> _ = run_ensemble(lambda rng, index: {"x": rng.standard_normal(2)}, 2, folder,
    ...                  entropy=5, options={"backend": "sequential", "progress": False})
    >>> again = load_ensemble(folder)
    >>> again.entropy, again["x"].shape
    (5, (2, 2))
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
