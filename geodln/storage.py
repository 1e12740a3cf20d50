"""Safe, atomic array files: ``.npz`` without pickle, JSON metadata, clear errors.

Every file geodln writes (trajectories, ensemble runs) goes through :func:`save_arrays`:
written to a temporary file in the same folder, flushed, then renamed over the target, so a
crash never leaves a half-written file under the final name. :func:`load_arrays` refuses
pickled objects, checks a format tag and the expected ``kind``, and turns a truncated or foreign
file into a ``ValueError`` that names the path.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "geodln-arrays"
VERSION = 1
_META_KEY = "__geodln_meta__"


def _atomic_write(path, writer, mode, suffix):
    """Write ``path`` atomically: ``writer(fh)`` fills a temporary file that is renamed over it.

    The temporary file lives in the target folder (created if missing), is flushed and
    fsynced, then moved with :func:`os.replace`; on any error it is removed and the error
    re-raised, so the target is never left half-written.

    Parameters
    ----------
    path : str
        Target file.
    writer : callable
        ``writer(fh)`` writes the content to the open file object ``fh``.
    mode : str
        ``"wb"`` (binary) or ``"w"`` (text).
    suffix : str
        Suffix of the temporary file name.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, mode) as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_arrays(path, arrays, kind, metadata=None):
    """Atomically write ``arrays`` and JSON ``metadata`` to ``path`` (``.npz``).

    Parameters
    ----------
    path : str or os.PathLike
        Target file; a ``.npz`` suffix is expected.
    arrays : dict of str to array-like
        Numeric arrays (object arrays are refused).
    kind : str
        What the file holds (e.g. ``"trajectory"``), checked by :func:`load_arrays`.
    metadata : dict, optional
        JSON-serialisable metadata.

    Raises
    ------
    ValueError
        With the message ``arrays key … is reserved``; or ``arrays[…] has dtype object; only
        numeric arrays are stored``.
    """
    path = os.fspath(path)
    meta = {"format": FORMAT, "version": VERSION, "kind": kind, "metadata": metadata or {}}
    payload = {}
    for key, value in arrays.items():
        if key == _META_KEY:
            raise ValueError(f"arrays key {key!r} is reserved")
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"arrays[{key!r}] has dtype object; only numeric arrays are stored")
        payload[key] = arr
    payload[_META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    _atomic_write(path, lambda fh: np.savez(fh, **payload), mode="wb", suffix=".npz")


def load_arrays(path, kind):
    """Load a file written by :func:`save_arrays`; return ``(arrays, metadata)``.

    Raises
    ------
    ValueError
        If the file is truncated, not a geodln file, or holds another ``kind``.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:  # np.load would take other bytes for a pickle
        if fh.read(4) != b"PK\x03\x04":
            raise ValueError(f"{path} is truncated or not a geodln .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if _META_KEY not in data.files:
                raise ValueError(f"{path} is not a geodln file (no metadata record)")
            meta = json.loads(bytes(data[_META_KEY]).decode())
            arrays = {k: data[k] for k in data.files if k != _META_KEY}
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is truncated or not a geodln .npz file: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a geodln file (format {meta.get('format')!r})")
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, expected a {kind!r}")
    return arrays, meta.get("metadata", {})


JSON_FORMAT = "geodln-json"


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
    """
    path = os.fspath(path)
    _atomic_write(path, lambda fh: fh.write(text), mode="w", suffix=os.path.splitext(path)[1])


def load_json(path, kind):
    """Load a file written by :func:`save_json` and return its ``data``.

    Raises
    ------
    ValueError
        If the file is not valid JSON, not a geodln JSON file, or holds another ``kind``.
    """
    path = os.fspath(path)
    try:
        with open(path) as fh:
            meta = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is truncated or not a geodln JSON file: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != JSON_FORMAT:
        raise ValueError(f"{path} is not a geodln JSON file")
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, expected a {kind!r}")
    return meta.get("data")
