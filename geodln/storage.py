"""Safe, atomic, versioned array files: ``.npz`` without pickle, JSON metadata, strict loading.

Every file geodln writes (trajectories, Langevin paths, ensemble runs, tables, figures) goes
through :func:`atomic_write`: written to a temporary file in the same folder, flushed and
fsynced, then renamed over the target, so a crash never leaves a half-written file under the
final name; the file gets the permissions ``0o666 & ~umask`` like any file the user creates.

**File format** (``format = "geodln-arrays"``, ``version = 1``). A ``.npz`` (zip) archive of
``.npy`` members, one per named array, plus the member ``__geodln_meta__``: the UTF-8 bytes of the
JSON object ``{"format", "version", "kind", "metadata"}`` stored as a ``uint8`` array. ``kind``
names what the file holds (``"trajectory"``, ``"ensemble-run"``...), ``metadata`` is a JSON
object of settings. Arrays are real (bool, integer or float) or unicode strings; no pickle.

**Strict loading.** :func:`load_arrays` refuses anything else with ``ValueError`` naming the
path: not a zip archive, a corrupted or truncated archive (every zip/npz library error —
``BadZipFile``, CRC mismatch, ``NotImplementedError`` for an unknown compression method,
``OverflowError``, ``EOFError``... — is turned into ``ValueError``), pickled or complex arrays,
a metadata record that is not a JSON object of the right shape, another ``format``, a
``version`` this library does not read, another ``kind``. The record types then validate their
own schema with the public helpers below (:func:`check_record_array`, :func:`check_times`,
:func:`check_finite_for_status`, :func:`check_count`, :func:`check_seconds`,
:func:`load_record`), which the constructors also use, so an object built directly is held to
the same rules as one loaded from a file.

**Versioning.** ``VERSION`` is increased whenever the layout of a kind changes incompatibly;
files of another version are refused with a message saying which version this library reads
(no silent reinterpretation).
"""

import json
import os
import tempfile

import numpy as np

from geodln._checks import real_scalar

__all__ = [
    "FORMAT",
    "VERSION",
    "JSON_FORMAT",
    "FINITE_STATUSES",
    "atomic_write",
    "save_arrays",
    "load_arrays",
    "load_record",
    "save_json",
    "load_json",
    "save_text",
    "check_record_array",
    "check_times",
    "check_finite_for_status",
    "check_count",
    "check_seconds",
]

FORMAT = "geodln-arrays"
VERSION = 1
JSON_FORMAT = "geodln-json"
_META_KEY = "__geodln_meta__"
_ZIP_MAGIC = b"PK\x03\x04"

#: Run statuses that promise a finite record (everything but a divergence or a failure).
FINITE_STATUSES = frozenset({"completed", "loss_tol", "grad_tol", "max_norm", "stopped",
                             "max_steps", "wall_time"})

#: dtype kinds a stored array may have: bool, signed/unsigned integer, float, unicode string
_STORED_KINDS = "biufU"


def _umask():
    """Return the process umask without changing it (read from /proc when available)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # portable fallback: read by setting, then restore at once
    os.umask(mask)
    return mask


def atomic_write(path, writer, mode="wb", prefix=".tmp-"):
    """Write ``path`` atomically: ``writer(fh)`` fills a temporary file renamed over ``path``.

    The temporary file ``<prefix>XXXX<suffix>`` lives in the target folder (created if
    missing), is flushed and fsynced, given the permissions ``0o666 & ~umask`` and moved with
    :func:`os.replace`; on any error it is removed and the error re-raised, so the target is
    never left half-written.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    writer : callable
        ``writer(fh)`` writes the content to the open file object ``fh``.
    mode : {"wb", "w"}
        Binary or text.
    prefix : str
        Prefix of the temporary file name (ensembles use it to tell whose temporary file it
        is).

    Raises
    ------
    ValueError
        If ``mode`` is not ``"wb"`` or ``"w"``, ``path`` is not a str or os.PathLike, names
        an existing directory (or ends with a separator), or a component of its folder is
        a file.

    Examples
    --------
    >>> import os, tempfile
    >>> from geodln.storage import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write(path, lambda fh: fh.write("hello"), mode="w")
    >>> open(path).read()
    'hello'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    if not isinstance(path, str | bytes | os.PathLike):
        raise ValueError(f"path must be a str or os.PathLike, got {path!r}")
    path = os.fspath(path)
    text = os.fsdecode(path)
    if not text or text.endswith(("/", os.sep)) or os.path.isdir(path):
        raise ValueError(f"path must name a file, got {path!r} (a directory)")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"path {path!r}: its folder {folder!r} is a file, not a directory") \
            from None
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, mode) as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_arrays(path, arrays, kind, metadata=None, prefix=".tmp-"):
    """Atomically write ``arrays`` and JSON ``metadata`` to ``path`` (``.npz``, no pickle).

    Parameters
    ----------
    path : str or os.PathLike
        Target file; a ``.npz`` suffix is expected.
    arrays : dict of str to array-like (any shape)
        Real (bool, integer, float) or string arrays.
    kind : str
        What the file holds (e.g. ``"trajectory"``), checked by :func:`load_arrays`.
    metadata : dict, optional
        JSON-serialisable metadata.
    prefix : str
        Prefix of the temporary file (see :func:`atomic_write`).

    Raises
    ------
    ValueError
        If a key is reserved or not a string, an array is of dtype object or complex,
        ``metadata`` is not a dict, or ``path`` is not a file path (:func:`atomic_write`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from geodln.storage import load_arrays, save_arrays
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> save_arrays(path, {"x": np.arange(3.0)}, "demo", {"note": "hi"})
    >>> arrays, meta = load_arrays(path, "demo")
    >>> arrays["x"], meta["note"]
    (array([0., 1., 2.]), 'hi')
    """
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    meta = {"format": FORMAT, "version": VERSION, "kind": str(kind), "metadata": metadata or {}}
    payload = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or key == _META_KEY:
            raise ValueError(f"arrays key {key!r} is reserved or not a string")
        arr = np.asarray(value)
        if arr.dtype.kind not in _STORED_KINDS:
            raise ValueError(
                f"arrays[{key!r}] has dtype {arr.dtype}; only real numeric or string arrays "
                "are stored"
            )
        payload[key] = arr
    payload[_META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    atomic_write(path, lambda fh: np.savez(fh, **payload), mode="wb", prefix=prefix)


def _read_npz(path):
    """Read every member of the archive; any library error becomes ``ValueError``."""
    try:
        with open(path, "rb") as fh:  # np.load would take other bytes for a pickle
            head = fh.read(4)
    except OSError as exc:
        raise ValueError(f"cannot read path {path}: {exc}") from exc
    if head != _ZIP_MAGIC:
        raise ValueError(f"{path} is truncated or not a geodln .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.array(data[k]) for k in data.files}
    except Exception as exc:  # noqa: BLE001 - zipfile/numpy raise a dozen types on bad bytes
        raise ValueError(
            f"{path} is truncated, corrupted or not a geodln .npz file "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def load_arrays(path, kind):
    """Load a file written by :func:`save_arrays`; return ``(arrays, metadata)``.

    Validates the container: a zip archive whose members all read (CRC checked), a metadata
    record that is a JSON object with ``format == FORMAT``, ``version == VERSION`` (an int),
    ``kind == kind`` and a ``metadata`` object, and arrays that are real or string (never
    complex, never object). What the arrays must contain is checked by the caller's record
    type (see :func:`load_record`).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str or tuple of str
        The expected kind, or the kinds accepted (a record type that still reads the files of
        a former kind).

    Returns
    -------
    arrays : dict of str to ndarray (the shapes saved)
    metadata : dict
        The metadata record; when ``kind`` is a tuple, its key ``"kind"`` names the kind of
        the file (unless the writer already used that key).

    Raises
    ------
    ValueError
        If the file cannot be read, is truncated or corrupted, is not a geodln file, has
        another version or kind, or holds complex/object arrays or a malformed metadata record.

    Examples
    --------
    >>> import os, tempfile
    >>> from geodln.storage import load_arrays, save_arrays
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> save_arrays(path, {"t": [0.0, 1.0]}, "demo")
    >>> load_arrays(path, "other")
    Traceback (most recent call last):
    ...
    ValueError: ... holds a 'demo', expected a 'other'
    """
    try:
        path = os.fspath(path)
    except TypeError as exc:
        raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}") from exc
    raw = _read_npz(path)
    if _META_KEY not in raw:
        raise ValueError(f"{path} is not a geodln file (no metadata record)")
    record = raw.pop(_META_KEY)
    try:
        if record.dtype != np.uint8 or record.ndim != 1:
            raise ValueError("metadata record is not a byte string")
        meta = json.loads(record.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not a geodln file (unreadable metadata: {exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a geodln file (metadata record is not a JSON object)")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a geodln file (format {meta.get('format')!r})")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != VERSION:
        raise ValueError(
            f"{path} has format version {version!r}; this geodln reads version {VERSION}"
        )
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if meta.get("kind") not in kinds:
        expected = f"a {kind!r}" if len(kinds) == 1 else f"one of {list(kinds)}"
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, expected {expected}")
    metadata = meta.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: metadata must be a JSON object, got {type(metadata).__name__}")
    if isinstance(kind, tuple):
        metadata = {"kind": meta["kind"], **metadata}
    for key, arr in raw.items():
        if arr.dtype.kind not in _STORED_KINDS:
            raise ValueError(
                f"{path}: array {key!r} has dtype {arr.dtype}; geodln stores real numeric or "
                "string arrays only"
            )
    return raw, metadata


def load_record(path, kind, build):
    """Load ``path`` and build a record from it; any schema violation becomes ``ValueError``.

    ``build(arrays, metadata)`` constructs the object (typically calling the class's
    validating constructor). A missing array or metadata field (``KeyError``), a value of the
    wrong type (``TypeError``, ``OverflowError`` for ``inf`` where an int is expected...) or a
    constructor's ``ValueError`` is reported as ``ValueError("<path> is not a valid <kind>
    file: ...")``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str or tuple of str
        The expected kind (or the kinds accepted, see :func:`load_arrays`).
    build : callable
        ``build(arrays, metadata) -> object``.

    Returns
    -------
    record : object
        What ``build`` returned.

    Raises
    ------
    ValueError
        If :func:`load_arrays` refuses the file or ``build`` fails on its content.

    Examples
    --------
    >>> import os, tempfile
    >>> from geodln.storage import check_times, load_record, save_arrays
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> save_arrays(path, {"t": [0.0, 1.0]}, "demo")
    >>> load_record(path, "demo", lambda a, m: check_times(a["t"]))
    array([0., 1.])
    >>> load_record(path, "demo", lambda a, m: a["missing"])
    Traceback (most recent call last):
    ...
    ValueError: ... is not a valid demo file: missing 'missing'
    """
    arrays, meta = load_arrays(path, kind)
    name = meta.get("kind", kind) if isinstance(kind, tuple) else kind
    try:
        return build(arrays, meta)
    except KeyError as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid {name} file: missing {exc}") from exc
    except (TypeError, ValueError, OverflowError, AttributeError, IndexError) as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid {name} file: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# schema helpers shared by the record types (Trajectory, LangevinPath, ensemble runs...)
# ---------------------------------------------------------------------------------------------
def check_record_array(value, name, ndim=None, integer=False, allow_nonfinite=True):
    """Return ``value`` as a real ``float64`` (or ``int64``) array after checking its schema.

    Parameters
    ----------
    value : array-like (any shape)
        The array.
    name : str
        Name used in the error message.
    ndim : int, optional
        Required number of axes.
    integer : bool
        Require integer values (returned as ``int64``).
    allow_nonfinite : bool
        Accept NaN/inf entries (a diverged run's record); otherwise refuse them.

    Returns
    -------
    array : ndarray (the shape of ``value``)

    Raises
    ------
    ValueError
        If ``value`` is complex, of dtype object or string, has another number of axes,
        non-integer values where ``integer``, or NaN/inf where not allowed.

    Examples
    --------
    >>> from geodln.storage import check_record_array
    >>> check_record_array([1, 2], "steps", ndim=1, integer=True)
    array([1, 2])
    >>> check_record_array([1j], "X")
    Traceback (most recent call last):
    ...
    ValueError: X must be a real array, got dtype complex128
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real array, got {type(value).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {arr.shape}")
    if integer:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError(f"{name} must hold integers")
        return arr.astype(np.int64)
    arr = arr.astype(float)
    if not allow_nonfinite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr


def check_times(times, name="times"):
    """Return the recorded times as a non-empty, finite, non-decreasing 1-d float array.

    Parameters
    ----------
    times : array-like, shape=[T]
        Recorded times.
    name : str
        Name used in the error message.

    Returns
    -------
    times : ndarray, shape=[T]

    Raises
    ------
    ValueError
        If ``times`` is not a real 1-d non-empty array, has NaN/inf entries or decreases.

    Examples
    --------
    >>> from geodln.storage import check_times
    >>> check_times([0.0, 0.5, 1.0])
    array([0. , 0.5, 1. ])
    >>> check_times([0.0, 2.0, 1.0])
    Traceback (most recent call last):
    ...
    ValueError: times must be non-decreasing; times[2] = 1.0 < times[1] = 2.0
    """
    t = check_record_array(times, name, ndim=1, allow_nonfinite=False)
    if t.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {t.shape}")
    bad = np.flatnonzero(np.diff(t) < 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise ValueError(
            f"{name} must be non-decreasing; {name}[{k}] = {float(t[k])!r} < {name}[{k - 1}] = "
            f"{float(t[k - 1])!r}"
        )
    return t


def check_finite_for_status(status, **arrays):
    """Refuse NaN/inf in ``arrays`` when ``status`` promises a finite record.

    A run whose status is in :data:`FINITE_STATUSES` (``"completed"``, ``"loss_tol"``...) must
    have only finite recorded values; ``"diverged"`` and ``"failed"`` records may end on
    non-finite values.

    Parameters
    ----------
    status : str
        The run status.
    **arrays : array-like (any shape)
        Named arrays to check (e.g. ``X=..., loss=...``).

    Raises
    ------
    ValueError
        If ``status`` promises a finite record and an array has NaN/inf entries.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.storage import check_finite_for_status
    >>> check_finite_for_status("diverged", X=np.array([np.nan]))
    >>> check_finite_for_status("completed", X=np.array([np.nan]))
    Traceback (most recent call last):
    ...
    ValueError: X contains NaN or inf entries but status is 'completed'
    """
    if status not in FINITE_STATUSES:
        return
    for name, value in arrays.items():
        if value is None:
            continue
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError(f"{name} contains NaN or inf entries but status is {status!r}")


def check_count(value, name):
    """Return ``value`` as an ``int`` >= 0 (a count such as ``n_rhs``).

    Parameters
    ----------
    value : int
        The count (an integral float is accepted; bools, NaN, inf and fractions are not).
    name : str
        Name used in the error message.

    Returns
    -------
    count : int

    Raises
    ------
    ValueError
        If ``value`` is not a non-negative integer.

    Examples
    --------
    >>> from geodln.storage import check_count
    >>> check_count(3.0, "n_rhs")
    3
    >>> check_count(float("inf"), "n_rhs")
    Traceback (most recent call last):
    ...
    ValueError: n_rhs must be an integer >= 0, got inf
    """
    real = real_scalar(value)
    ok = real is not None and np.isfinite(real) and real.is_integer()
    if not ok or not 0 <= int(value) <= 2**53:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_seconds(value, name):
    """Return ``value`` as a finite ``float`` >= 0 (a duration such as ``wall_time``).

    Parameters
    ----------
    value : float
        The duration in seconds.
    name : str
        Name used in the error message.

    Returns
    -------
    seconds : float

    Raises
    ------
    ValueError
        If ``value`` is not a finite non-negative real number (bools are refused).

    Examples
    --------
    >>> from geodln.storage import check_seconds
    >>> check_seconds(1, "wall_time")
    1.0
    """
    real = real_scalar(value)
    if real is None or not np.isfinite(real) or real < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return real


# ---------------------------------------------------------------------------------------------
# JSON and text files
# ---------------------------------------------------------------------------------------------
def save_json(path, data, kind):
    """Atomically write JSON-serialisable ``data`` to ``path`` with a format tag and ``kind``.

    The file is human-readable (``{"format", "version", "kind", "data"}``); like
    :func:`save_arrays` it is written to a temporary file and renamed over the target.

    Parameters
    ----------
    path : str or os.PathLike
        Target file (``.json``).
    data : object
        JSON-serialisable content.
    kind : str
        What the file holds, checked by :func:`load_json`.

    Examples
    --------
    >>> import os, tempfile
    >>> from geodln.storage import load_json, save_json
    >>> path = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> save_json(path, {"n": 1}, "demo")
    >>> load_json(path, "demo")
    {'n': 1}
    """
    text = json.dumps(
        {"format": JSON_FORMAT, "version": VERSION, "kind": kind, "data": data}, indent=2
    )
    save_text(path, text)


def save_text(path, text):
    """Atomically write the string ``text`` to ``path`` (temporary file, then rename).

    Parameters
    ----------
    path : str or os.PathLike
        Target file (e.g. a ``.csv`` table).
    text : str
        Content.

    Examples
    --------
    >>> import os, tempfile
    >>> from geodln.storage import save_text
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> save_text(path, "a,b\\n1,2\\n")
    >>> open(path).read()
    'a,b\\n1,2\\n'
    """
    atomic_write(path, lambda fh: fh.write(text), mode="w")


def load_json(path, kind):
    """Load a file written by :func:`save_json` and return its ``data``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str
        The expected kind.

    Returns
    -------
    data : object

    Raises
    ------
    ValueError
        If the file cannot be read, is not valid JSON, not a geodln JSON file, has another
        version or holds another ``kind``.

    Examples
    --------
    >>> import os, tempfile
    >>> from geodln.storage import load_json, save_json
    >>> path = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> save_json(path, [1, 2], "demo")
    >>> load_json(path, "demo")
    [1, 2]
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except OSError as exc:
        raise ValueError(f"cannot read path {path}: {exc}") from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(
            f"{path} is truncated, unreadable or not a geodln JSON file: {exc}"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != JSON_FORMAT:
        raise ValueError(f"{path} is not a geodln JSON file")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != VERSION:
        raise ValueError(
            f"{path} has format version {version!r}; this geodln reads version {VERSION}"
        )
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, expected a {kind!r}")
    return meta.get("data")
