r"""The result of every flow and gradient-descent run: :class:`Trajectory`, with a batch axis.

A trajectory records the end-to-end matrix :math:`X(t)` at the recorded times and derives the
measures of :mod:`geodln.measures` from it (singular values, Roy–Vetterli (RV07) effective rank,
Frobenius and nuclear norms, sign and log-modulus of det for square X; computed on first use).
Upstairs runs add the balance defect :math:`\max_p\|W_{p+1}^\top W_{p+1} - W_pW_p^\top\|_F`
and the final factors. It also says why each run stopped (``status``, ``message``) and what it
cost (``n_rhs`` right-hand-side evaluations or steps, ``wall_time`` in seconds).

**Batches.** A run started from ``B`` points is one trajectory with a leading batch axis: every
member has its own recorded times (members stop at different times, so the record arrays are
padded with NaN after ``n_records[k]`` entries), ``status``, ``message`` and ``n_rhs``;
``final_X`` is ``[B, m, n]``; ``trajectory[k]`` is member k as a single-run trajectory and
iterating yields the members. A single run has no batch axis (``batch_size`` is None).

Files go through :mod:`geodln.storage` (atomic ``.npz``, no pickle, validated on load).
"""

import numpy as np

from geodln._checks import check_choice
from geodln.flows.stopping import STATUSES
from geodln.measures import (
    effective_rank_from_singular_values,
    frobenius_norm_from_singular_values,
)
from geodln.storage import (
    check_count,
    check_finite_for_status,
    check_record_array,
    check_seconds,
    load_record,
    save_arrays,
)

__all__ = ["Trajectory", "RunRecord", "STATUSES"]

KIND = "trajectory"
FINAL = ("completed", "loss_tol", "grad_tol", "max_norm", "diverged", "stopped", "max_steps",
         "wall_time", "failed")


class RunRecord:
    """Run information shared by :class:`Trajectory` and the records of :mod:`geodln.lowrank`.

    Attributes
    ----------
    mode, status, message : str
    n_rhs : int
    wall_time : float
    metadata : dict

    Examples
    --------
    A record class gets its run fields and the ``final_*`` properties from this base:

    >>> from geodln.flows.trajectory import RunRecord
    >>> class Record(RunRecord):
    ...     def __init__(self):
    ...         self.times, self.loss = np.array([0.0, 1.0]), np.array([2.0, 0.5])
    ...         self._set_run_info("downstairs", "completed", "", 12, 0.1)
    >>> rec = Record()
    >>> len(rec), rec.final_time, rec.final_loss, rec.status
    (2, 1.0, 0.5, 'completed')
    """

    def _set_run_info(self, mode, status, message, n_rhs, wall_time):
        check_choice(mode, "mode", ("downstairs", "upstairs"))
        if not isinstance(status, str) or status not in FINAL:
            raise ValueError(f"status must be one of {sorted(FINAL)}, got {status!r}")
        self.mode, self.status, self.message = mode, status, str(message)
        self.n_rhs = check_count(n_rhs, "n_rhs")
        self.wall_time = check_seconds(wall_time, "wall_time")

    def _run_meta(self, **extra):
        """Run information for the metadata record of :func:`geodln.storage.save_arrays`."""
        return {"mode": self.mode, "status": self.status, "message": self.message,
                "n_rhs": self.n_rhs, "wall_time": self.wall_time, **extra,
                "metadata": self.metadata}

    @staticmethod
    def _run_kwargs(meta):
        """Return the constructor keywords of a record written with :meth:`_run_meta`."""
        return {"mode": meta["mode"], "status": meta["status"],
                "message": meta.get("message", ""), "n_rhs": meta.get("n_rhs", 0),
                "wall_time": meta.get("wall_time", 0.0), "metadata": meta.get("metadata", {})}

    def __len__(self):
        return self.times.size

    @property
    def final_loss(self):
        """Last recorded loss value."""
        return float(self.loss[-1])

    @property
    def final_time(self):
        """Last recorded time."""
        return float(self.times[-1])


_RunRecord = RunRecord  # former private name, kept until geodln.lowrank moves to RunRecord


def _statuses(status, b):
    arr = np.asarray(status, dtype=str).reshape(-1)
    if arr.size == 1 and b != 1:
        arr = np.repeat(arr, b)
    if arr.shape != (b,):
        raise ValueError(f"status must hold one entry per member ({b}), got {arr.size}")
    for s in arr:
        if s not in FINAL:
            raise ValueError(f"status must be one of {sorted(FINAL)}, got {s!r}")
    return arr


class Trajectory:
    r"""Recorded run(s) of a flow (upstairs or downstairs) or of fixed-step gradient descent.

    Parameters
    ----------
    times : array-like, shape=[T] or [B, T]
        Recorded times (flow time; for gradient descent ``step * step_size``); batched
        records are padded with NaN after ``n_records[k]`` entries.
    X : array-like, shape=[T, m, n] or [B, T, m, n]
        End-to-end matrices at the recorded times (finite in the valid records).
    loss : array-like, shape=[T] or [B, T]
        Loss values at the recorded times.
    mode : {"downstairs", "upstairs"}
        Which dynamics produced the run.
    status : str or sequence of str
        Why each run stopped, keys of :data:`geodln.flows.stopping.STATUSES`.
    message : str or sequence of str, optional
        Human-readable reasons.
    n_rhs : int or array-like of int, shape=[B], optional
        Right-hand-side (velocity) evaluations, or steps for gradient descent, per member.
    wall_time : float, optional
        Seconds spent on the whole run (batch).
    records : dict, optional
        Further per-record arrays of the same leading shape as ``loss``: ``"steps"`` (int,
        gradient descent), ``"balance_defect"`` (upstairs), ``"n_records"`` ([B], batched),
        ``"factors"`` (list of final factors, ``[d_p, d_{p-1}]`` or ``[B, d_p, d_{p-1}]``),
        and user metrics (:class:`geodln.flows.recording.Every`) under ``"metrics"`` as a dict.
    metadata : dict, optional
        JSON-serialisable settings (depth, rank, method, tolerances, ...).

    Attributes
    ----------
    batch_size : int or None
        B for a batched run, None for a single run.
    n_records : ndarray of int, shape=[B]
        Valid records of each member (batched runs).
    singular_values : ndarray, shape=[..., T, min(m, n)]
    effective_rank, frobenius_norm, nuclear_norm : ndarray, shape=[..., T]
    det_sign, log_abs_det : ndarray, shape=[..., T], or None
        Square X only.

    Raises
    ------
    ValueError
        If shapes are inconsistent, a status is unknown, recorded X is not finite, or times
        decrease.

    Examples
    --------
    >>> tr = Trajectory([0.0, 1.0], np.stack([np.eye(2), 2 * np.eye(2)]), [1.0, 0.5],
    ...                 mode="downstairs")
    >>> tr.final_X.tolist(), tr.status, tr.batch_size
    ([[2.0, 0.0], [0.0, 2.0]], 'completed', None)
    """

    def __init__(self, times, X, loss, *, mode, status="completed", message="", n_rhs=0,
                 wall_time=0.0, records=None, metadata=None):
        if records is not None and not isinstance(records, dict):
            raise ValueError(f"records must be a dict, got {type(records).__name__}")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
        records = dict(records or {})
        times = check_record_array(times, "times")
        X = check_record_array(X, "X")
        loss = check_record_array(loss, "loss")
        if times.ndim not in (1, 2) or times.shape[-1] == 0:
            raise ValueError(f"times must be a non-empty [T] or [B, T] array, got {times.shape}")
        batched = times.ndim == 2
        if X.shape[:-2] != times.shape or X.ndim != times.ndim + 2:
            raise ValueError(f"X must have shape {times.shape} + (m, n) to match times, "
                             f"got {X.shape}")
        if loss.shape != times.shape:
            raise ValueError(f"loss must have shape {times.shape} to match times, got "
                             f"{loss.shape}")
        check_choice(mode, "mode", ("downstairs", "upstairs"))
        b = times.shape[0] if batched else 1
        t_len = times.shape[-1]
        n_rec = records.pop("n_records", None)
        if batched:
            n_rec = np.full(b, t_len) if n_rec is None else np.asarray(n_rec)
            if n_rec.shape != (b,) or n_rec.dtype.kind not in "iu" or np.any(n_rec < 1) \
                    or np.any(n_rec > t_len):
                raise ValueError(f"n_records must be {b} integers in [1, {t_len}]")
            n_rec = n_rec.astype(np.int64)
        else:
            n_rec = np.array([t_len], dtype=np.int64)
        valid = np.arange(t_len)[None, :] < n_rec[:, None]  # [b, T]
        tt = times.reshape(b, t_len)
        xx = X.reshape((b, t_len) + X.shape[-2:])
        if not np.all(np.isfinite(tt[valid])):
            raise ValueError("times contains NaN or inf entries in the recorded entries")
        with np.errstate(invalid="ignore"):
            steps_back = np.diff(np.where(valid, tt, np.inf), axis=-1)[valid[:, 1:]] < 0
        if np.any(steps_back):
            raise ValueError("times must be non-decreasing")
        if not np.all(np.isfinite(xx[valid])):
            raise ValueError("X contains NaN or inf entries in the recorded entries (a diverged "
                             "run keeps its last finite state)")
        self.mode = mode
        self.batch_size = b if batched else None
        self.n_records = n_rec
        self.times, self.X, self.loss = times, X, loss
        if not batched and not isinstance(status, str):
            raise ValueError(f"status must be a str for a single run, got {status!r}")
        statuses = _statuses(status, b)
        ll = loss.reshape(b, t_len)
        for k in range(b):
            check_finite_for_status(str(statuses[k]), loss=ll[k][valid[k]])
        messages = np.asarray(message, dtype=str).reshape(-1)
        if messages.size == 1 and b != 1:
            messages = np.repeat(messages, b)
        if messages.shape != (b,):
            raise ValueError(f"message must hold one entry per member ({b})")
        rhs = np.asarray(n_rhs, dtype=object).reshape(-1)
        if np.ndim(n_rhs) == 0 and b != 1:
            rhs = np.repeat(rhs, b)
        if rhs.shape != (b,):
            raise ValueError(f"n_rhs must hold one count per member ({b})")
        rhs = np.array([check_count(c, "n_rhs") for c in rhs], dtype=np.int64)
        if batched:
            self.status, self.message, self.n_rhs = statuses, messages, rhs
        else:
            self.status, self.message, self.n_rhs = str(statuses[0]), str(messages[0]), int(rhs[0])
        self.wall_time = check_seconds(wall_time, "wall_time")
        self.metadata = dict(metadata or {})
        steps = records.pop("steps", None)
        self.steps = None if steps is None else np.asarray(steps, dtype=np.int64)
        if self.steps is not None and self.steps.shape != times.shape:
            raise ValueError(f"steps must have shape {times.shape}, got {self.steps.shape}")
        bd = records.pop("balance_defect", None)
        self.balance_defect = None if bd is None else np.asarray(bd, dtype=float)
        if self.balance_defect is not None and self.balance_defect.shape != times.shape:
            raise ValueError(f"balance_defect must have shape {times.shape}, got "
                             f"{self.balance_defect.shape}")
        factors = records.pop("factors", None)
        self.factors = None if factors is None else [np.asarray(w, float) for w in factors]
        if self.factors is not None:
            end = self.factors[0]
            for w in self.factors[1:]:
                end = w @ end
            if end.shape[-2:] != X.shape[-2:] or end.shape[:-2] != times.shape[:-1]:
                raise ValueError(f"factors multiply to shape {end.shape}, expected "
                                 f"{times.shape[:-1] + X.shape[-2:]}")
        self.metrics = {}
        for name, val in dict(records.pop("metrics", None) or {}).items():
            val = np.asarray(val, dtype=float)
            if val.shape[:times.ndim] != times.shape:
                raise ValueError(f"metric {name!r} must have leading shape {times.shape}")
            self.metrics[name] = val
        if records:
            raise ValueError(f"unknown records {sorted(records)}")
        self._measures = None

    # -- members -------------------------------------------------------------------------------
    def __len__(self):
        """Members of a batched run; records of a single run."""
        return self.batch_size if self.batch_size is not None else self.times.size

    def __getitem__(self, k):
        """Member ``k`` of a batched run as a single-run :class:`Trajectory`."""
        if self.batch_size is None:
            raise ValueError("a single-run Trajectory has no members; index its arrays instead")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) \
                or not -self.batch_size <= k < self.batch_size:
            raise ValueError(f"member index must be an int in [0, {self.batch_size}), got {k!r}")
        k = int(k) % self.batch_size
        t = int(self.n_records[k])
        rec = {"metrics": {n: v[k, :t] for n, v in self.metrics.items()}}
        if self.steps is not None:
            rec["steps"] = self.steps[k, :t]
        if self.balance_defect is not None:
            rec["balance_defect"] = self.balance_defect[k, :t]
        if self.factors is not None:
            rec["factors"] = [w[k] for w in self.factors]
        return Trajectory(self.times[k, :t], self.X[k, :t], self.loss[k, :t], mode=self.mode,
                          status=self.status[k], message=self.message[k], n_rhs=self.n_rhs[k],
                          wall_time=self.wall_time, records=rec, metadata=self.metadata)

    def __iter__(self):
        if self.batch_size is None:
            raise ValueError("a single-run Trajectory has no members")
        return (self[k] for k in range(self.batch_size))

    def _last(self, a):
        if self.batch_size is None:
            return a[-1]
        return a[np.arange(self.batch_size), self.n_records - 1]

    @property
    def shape(self):
        """End-to-end shape ``(m, n)``."""
        return self.X.shape[-2:]

    @property
    def final_X(self):
        """Last recorded end-to-end matrix, ``[m, n]`` or ``[B, m, n]``."""
        return self._last(self.X)

    @property
    def final_loss(self):
        """Last recorded loss, float or ``[B]``."""
        out = self._last(self.loss)
        return float(out) if self.batch_size is None else out

    @property
    def final_time(self):
        """Last recorded time, float or ``[B]``."""
        out = self._last(self.times)
        return float(out) if self.batch_size is None else out

    # -- measures ------------------------------------------------------------------------------
    def _compute_measures(self):
        if self._measures is None:
            x = self.X
            finite = np.all(np.isfinite(x), axis=(-2, -1))
            safe = np.where(finite[..., None, None], x, 0.0)
            s = np.linalg.svd(safe, compute_uv=False)
            s[~finite] = np.nan
            with np.errstate(over="ignore", invalid="ignore"):
                er = effective_rank_from_singular_values(np.where(finite[..., None], s, 0.0))
                meas = {"singular_values": s,
                        "frobenius_norm": frobenius_norm_from_singular_values(s),
                        "nuclear_norm": np.sum(s, axis=-1),
                        "effective_rank": np.where(finite, er, np.nan),
                        "det_sign": None, "log_abs_det": None}
            if x.shape[-1] == x.shape[-2]:
                sign, logdet = np.linalg.slogdet(safe)
                meas["det_sign"] = np.where(finite, sign, np.nan)
                meas["log_abs_det"] = np.where(finite, logdet, np.nan)
            self._measures = meas
        return self._measures

    @property
    def singular_values(self):
        """Singular values of the records, ``[..., T, min(m, n)]``."""
        return self._compute_measures()["singular_values"]

    @property
    def frobenius_norm(self):
        """Frobenius norm of the records, ``[..., T]``."""
        return self._compute_measures()["frobenius_norm"]

    @property
    def nuclear_norm(self):
        """Nuclear norm of the records, ``[..., T]``."""
        return self._compute_measures()["nuclear_norm"]

    @property
    def effective_rank(self):
        """Roy–Vetterli effective rank of the records, ``[..., T]``."""
        return self._compute_measures()["effective_rank"]

    @property
    def det_sign(self):
        """Sign of det X (square X), ``[..., T]``, else None."""
        return self._compute_measures()["det_sign"]

    @property
    def log_abs_det(self):
        """Log |det X| (square X), ``[..., T]``, else None."""
        return self._compute_measures()["log_abs_det"]

    # -- text ----------------------------------------------------------------------------------
    def summary(self):
        """Readable description of the run (one paragraph per member, at most 5 shown)."""
        if self.batch_size is not None:
            counts = {s: int(np.sum(self.status == s)) for s in np.unique(self.status)}
            head = (f"{self.mode} batch of {self.batch_size} runs, X of shape {self.shape}, "
                    f"status counts {counts}, {self.wall_time:.3g} s")
            return "\n".join([head] + [self[k].summary() for k in range(min(5, len(self)))])
        lines = [
            f"{self.mode} trajectory, X of shape {self.shape}, {self.times.size} records, "
            f"t in [{self.times[0]:.4g}, {self.final_time:.4g}]",
            f"  status {self.status}: {self.message}",
            f"  loss {self.loss[0]:.4g} -> {self.final_loss:.4g}, "
            f"effective rank {self.effective_rank[0]:.3g} -> {self.effective_rank[-1]:.3g}",
            f"  cost: {self.n_rhs} RHS evaluations/steps, {self.wall_time:.3g} s",
        ]
        if self.balance_defect is not None:
            lines.append(f"  balance defect max {np.nanmax(self.balance_defect):.3g}")
        return "\n".join(lines)

    def __repr__(self):
        if self.batch_size is not None:
            return (f"Trajectory(mode={self.mode!r}, shape={self.shape}, "
                    f"batch_size={self.batch_size})")
        return (f"Trajectory(mode={self.mode!r}, shape={self.shape}, records={self.times.size}, "
                f"status={self.status!r}, final_loss={self.final_loss:.4g})")

    def to_arrays(self):
        """Return the run as a flat dict of arrays (what ``run_ensemble`` stores).

        Returns
        -------
        arrays : dict of str to ndarray
            Records, measures, extras, ``status`` and ``n_rhs`` (no wall time, so reruns give
            identical files).
        """
        out = {"times": self.times, "X": self.X, "loss": self.loss}
        if self.batch_size is not None:
            out["n_records"] = self.n_records
        for name in ("singular_values", "effective_rank", "frobenius_norm", "nuclear_norm",
                     "det_sign", "log_abs_det", "steps", "balance_defect"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for p, w in enumerate(self.factors or []):
            out[f"factor_{p}"] = w
        for name, value in self.metrics.items():
            out[f"metric_{name}"] = value
        out["status"] = np.asarray(self.status)
        out["n_rhs"] = np.asarray(self.n_rhs)
        return out

    # -- files ---------------------------------------------------------------------------------
    def save(self, path):
        """Write the trajectory to ``path`` (``.npz``) via :func:`geodln.storage.save_arrays`.

        Parameters
        ----------
        path : str or os.PathLike
            Target file (written atomically).
        """
        arrays = {"times": self.times, "X": self.X, "loss": self.loss}
        if self.batch_size is not None:
            arrays["n_records"] = self.n_records
        if self.balance_defect is not None:
            arrays["balance_defect"] = self.balance_defect
        if self.steps is not None:
            arrays["steps"] = self.steps
        for name, val in self.metrics.items():
            arrays[f"metric:{name}"] = val
        n_factors = 0 if self.factors is None else len(self.factors)
        for p, w in enumerate(self.factors or []):
            arrays[f"factor_{p}"] = w
        batched = self.batch_size is not None
        meta = {"mode": self.mode,
                "status": self.status.tolist() if batched else self.status,
                "message": self.message.tolist() if batched else self.message,
                "n_rhs": self.n_rhs.tolist() if batched else self.n_rhs,
                "wall_time": self.wall_time, "n_factors": n_factors, "batched": batched,
                "metric_names": sorted(self.metrics), "metadata": self.metadata}
        save_arrays(path, arrays, KIND, meta)

    @classmethod
    def load(cls, path):
        """Read a trajectory written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            File written by :meth:`save`.

        Returns
        -------
        trajectory : Trajectory

        Raises
        ------
        ValueError
            If the file is truncated, foreign, or its arrays are inconsistent.
        """
        return load_record(path, KIND, cls._from_arrays)

    @classmethod
    def _from_arrays(cls, arrays, meta):
        """Build from the arrays and metadata of a file (schema errors raise, see ``load``)."""
        batched = meta.get("batched", False)
        if not isinstance(batched, bool):
            raise ValueError(f"batched must be true or false, got {batched!r}")
        n_factors = check_count(meta.get("n_factors", 0), "n_factors")
        names = meta.get("metric_names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("metric_names must be a list of strings")
        records = {"metrics": {n: arrays[f"metric:{n}"] for n in names}}
        if n_factors:
            records["factors"] = [arrays[f"factor_{p}"] for p in range(n_factors)]
        for key in ("steps", "balance_defect", "n_records"):
            if key in arrays:
                records[key] = arrays[key]
        times = check_record_array(arrays["times"], "times", ndim=2 if batched else 1)
        return cls(times, arrays["X"], arrays["loss"], mode=meta["mode"],
                   status=meta["status"], message=meta.get("message", ""),
                   n_rhs=meta.get("n_rhs", 0), wall_time=meta.get("wall_time", 0.0),
                   records=records, metadata=meta.get("metadata", {}))

    @classmethod
    def stack(cls, members):
        """One batched trajectory from single-run trajectories of equal mode and shape.

        Parameters
        ----------
        members : sequence of Trajectory
            Single runs.

        Returns
        -------
        trajectory : Trajectory
            Batched, ``B = len(members)``; ``wall_time`` is the sum.

        Raises
        ------
        ValueError
            If ``members`` is empty or the runs differ in mode, shape or recorded extras.
        """
        members = list(members)
        if not members or any(not isinstance(m, cls) or m.batch_size is not None
                              for m in members):
            raise ValueError("members must be a non-empty list of single-run Trajectory objects")
        first = members[0]
        if any(m.mode != first.mode or m.shape != first.shape for m in members):
            raise ValueError("members must share mode and shape")
        lens = np.array([m.times.size for m in members])
        t_max = int(lens.max())

        def pad(name, fill=np.nan, dtype=float):
            arrs = [getattr(m, name) for m in members]
            if any(a is None for a in arrs):
                return None
            out = np.full((len(arrs), t_max) + arrs[0].shape[1:], fill, dtype=dtype)
            for i, a in enumerate(arrs):
                out[i, :a.shape[0]] = a
            return out

        records = {"n_records": lens}
        if first.steps is not None:
            records["steps"] = pad("steps", -1, np.int64)
        if first.balance_defect is not None:
            records["balance_defect"] = pad("balance_defect")
        if first.factors is not None:
            records["factors"] = [np.stack([m.factors[p] for m in members])
                                  for p in range(len(first.factors))]
        metrics = {}
        for name in first.metrics:
            arrs = [m.metrics[name] for m in members]
            out = np.full((len(arrs), t_max) + arrs[0].shape[1:], np.nan)
            for i, a in enumerate(arrs):
                out[i, :a.shape[0]] = a
            metrics[name] = out
        records["metrics"] = metrics
        return cls(pad("times"), pad("X"), pad("loss"), mode=first.mode,
                   status=[m.status for m in members], message=[m.message for m in members],
                   n_rhs=[m.n_rhs for m in members],
                   wall_time=sum(m.wall_time for m in members), records=records,
                   metadata=first.metadata)
