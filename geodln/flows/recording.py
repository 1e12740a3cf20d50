r"""What a run records: :class:`Every` (every k-th step) or :class:`At` (given times).

The one recording hook of every integrator, dense or factored. One name, ``every``, is the
recording interval (accepted steps of the adaptive methods, steps of gradient descent); the
first and the last state of a run are always recorded. Both options take user ``metrics``:
``{name: callable}``, stored in ``Trajectory.metrics[name]``. On a dense run each is called on
the recorded end-to-end matrices ``X`` of shape ``[T, m, n]`` and returns an array with leading
length ``T`` (a held-out error, a norm, a distance to a reference, ...); on a factored run
(:mod:`geodln.lowrank`, where no m×n array is ever formed) it is called on the factored point
of one member at one record and returns a float (e.g. a held-out error from
:meth:`geodln.lowrank.FactoredPoint.entries`, O(k r)). ``factors=True`` makes a factored run
record ``U`` and ``V`` at every record too (O(T (m + n) r) memory per member; the singular
values are always recorded).
"""

import numpy as np

from geodln._checks import MAX_STEPS, check_positive_int

__all__ = ["Every", "At", "as_record", "evaluate_metrics", "RecordBuffer"]


def _check_factors(factors):
    if not isinstance(factors, bool | np.bool_):
        raise ValueError(f"record factors must be True or False, got {factors!r}")
    return bool(factors)


def _check_metrics(metrics):
    if metrics is None:
        return {}
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and callable(f) for k, f in metrics.items()
    ):
        raise ValueError("record metrics must be a dict {name: callable(X) -> values}")
    reserved = {"times", "X", "loss", "steps", "balance_defect"}
    if reserved & set(metrics):
        raise ValueError(f"record metric names must not be one of {sorted(reserved)}")
    return dict(metrics)


class Every:
    """Record every ``every``-th accepted step (1: a complete log), plus the first and last.

    Parameters
    ----------
    every : int
        Recording interval in steps (>= 1).
    metrics : dict of str to callable, optional
        User metrics evaluated on the records: ``f(X [T, m, n]) -> [T, ...]`` on a dense
        run, ``f(point) -> float`` on the factored point of one member of a factored run.
    factors : bool
        Factored runs: also record ``U`` and ``V`` (``Trajectory.X`` is then a
        ``FactoredPoint`` of the records). Ignored by dense runs (they record X).

    Raises
    ------
    ValueError
        If ``every`` is not a positive integer, ``metrics`` is not a dict of callables or
        ``factors`` is not a bool.

    Examples
    --------
    >>> Every(10).every
    10
    >>> Every(5, metrics={"s1": lambda p: float(p.s.max())}, factors=True).factors
    True
    """

    times = None

    def __init__(self, every=1, metrics=None, factors=False):
        self.every = check_positive_int(every, "every", maximum=MAX_STEPS)
        self.metrics = _check_metrics(metrics)
        self.factors = _check_factors(factors)

    def __repr__(self):
        extra = ", factors=True" if self.factors else ""
        return f"Every({self.every}, metrics={sorted(self.metrics)}{extra})"


class At:
    """Record at the given times only (the flows' ``t_eval``), plus the stopping point.

    Parameters
    ----------
    times : array-like, shape=[T]
        Strictly increasing finite times inside the time span.
    metrics : dict of str to callable, optional
        As in :class:`Every`.
    factors : bool
        As in :class:`Every`.

    Raises
    ------
    ValueError
        If ``times`` is empty, not finite or not strictly increasing, or ``factors`` is not a
        bool.

    Examples
    --------
    >>> At([0.0, 0.5, 1.0]).times
    array([0. , 0.5, 1. ])
    """

    every = 1

    def __init__(self, times, metrics=None, factors=False):
        try:
            times = np.asarray(times, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"record times must be numbers, got {times!r}") from None
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
            raise ValueError("record times must be a non-empty 1-d array of finite times")
        if np.any(np.diff(times) <= 0):
            raise ValueError("record times must be strictly increasing")
        self.times = times
        self.metrics = _check_metrics(metrics)
        self.factors = _check_factors(factors)

    def __repr__(self):
        extra = ", factors=True" if self.factors else ""
        return f"At({self.times.size} times, metrics={sorted(self.metrics)}{extra})"


def as_record(record):
    """Return ``record`` as :class:`Every`/:class:`At` (None: every step; int k: ``Every(k)``).

    Parameters
    ----------
    record : Every, At, int or None
        What the caller passed as ``record=``.

    Returns
    -------
    record : Every or At

    Raises
    ------
    ValueError
        If ``record`` is none of these.

    Examples
    --------
    >>> from geodln.flows.recording import as_record
    >>> as_record(None), as_record(3)
    (Every(1, metrics=[]), Every(3, metrics=[]))
    """
    if record is None:
        return Every(1)
    if isinstance(record, Every | At):
        return record
    if isinstance(record, int | np.integer) and not isinstance(record, bool):
        return Every(check_positive_int(record, "record", maximum=MAX_STEPS))
    raise ValueError(f"record must be Every(k), At(times), an int or None, got {record!r}")


def evaluate_metrics(metrics, x):
    """Evaluate user metrics on recorded matrices ``x`` ``[..., T, m, n]`` (NaN rows skipped).

    Parameters
    ----------
    metrics : dict of str to callable
        ``name -> fn``; ``fn`` maps a stack of matrices ``[K, m, n]`` to one value (or one
        array) per matrix, ``[K, ...]``.
    x : ndarray, shape=[..., T, m, n]
        Recorded end-to-end matrices (rows with a non-finite entry give NaN).

    Returns
    -------
    values : dict of str to ndarray, shape=[..., T, ...]

    Raises
    ------
    ValueError
        With the message ``record metric … must return one value per recorded matrix (leading
        length …), got shape …``.

    Examples
    --------
    >>> from geodln.flows.recording import evaluate_metrics
    >>> x = np.stack([np.eye(2), 2.0 * np.eye(2), np.full((2, 2), np.nan)])
    >>> evaluate_metrics({"trace": lambda X: np.trace(X, axis1=-2, axis2=-1)}, x)
    {'trace': array([ 2.,  4., nan])}
    """
    out = {}
    if not metrics:
        return out
    lead = x.shape[:-2]
    flat = x.reshape((-1,) + x.shape[-2:])
    finite = np.all(np.isfinite(flat), axis=(-2, -1))
    for name, fn in metrics.items():
        val = np.asarray(fn(flat[finite]), dtype=float)
        if val.ndim == 0 or val.shape[0] != int(finite.sum()):
            raise ValueError(
                f"record metric {name!r} must return one value per recorded matrix "
                f"(leading length {int(finite.sum())}), got shape {val.shape}"
            )
        full = np.full((flat.shape[0],) + val.shape[1:], np.nan)
        full[finite] = val
        out[name] = full.reshape(lead + val.shape[1:])
    return out


class RecordBuffer:
    """Records of a batch, kept as per-step chunks ``(members, t, y)`` and padded at the end.

    Examples
    --------
    >>> buf = RecordBuffer()
    >>> buf.add([0, 1], [0.0, 0.0], np.zeros((2, 3)))
    >>> buf.add([1], [0.5], np.ones((1, 3)))
    >>> times, states, counts = buf.assemble(2)
    >>> counts.tolist(), times.shape
    ([1, 2], (2, 2))
    """

    def __init__(self):
        self.idx, self.t, self.y, self.order = [], [], [], []
        self.count = 0

    def add(self, idx, t, y):
        """Append records of members ``idx`` at times ``t`` with states ``y``."""
        if len(idx):
            self.idx.append(np.asarray(idx))
            self.t.append(np.array(t, float))
            self.y.append(np.array(y))
            self.order.append(np.arange(self.count, self.count + len(idx)))
            self.count += len(idx)

    def assemble(self, b):
        """Return ``(times [b, T], states [b, T, ...], counts [b])``, NaN-padded."""
        idx = np.concatenate(self.idx)
        t = np.concatenate(self.t)
        y = np.concatenate(self.y)
        order = np.lexsort((np.concatenate(self.order), idx))
        idx, t, y = idx[order], t[order], y[order]
        counts = np.bincount(idx, minlength=b)
        t_len = int(counts.max())
        pos = np.arange(idx.size) - np.repeat(np.cumsum(counts) - counts, counts)
        tt = np.full((b, t_len), np.nan)
        yy = np.full((b, t_len) + y.shape[1:], np.nan)
        tt[idx, pos] = t
        yy[idx, pos] = y
        return tt, yy, counts
