r"""The result of every flow and gradient-descent run: :class:`Trajectory`, with a batch axis.

A trajectory records the state of the dynamics at the recorded times, the loss, why each run
stopped (``status``, ``message``) and what it cost (``n_rhs`` right-hand-side evaluations or
steps, ``wall_time`` in seconds). The state is one of two kinds (``state``):

- ``"dense"`` — the end-to-end matrix :math:`X(t)`, ``X`` of shape ``[T, m, n]``;
- ``"factored"`` — a rank-r point :math:`X = U\,\mathrm{diag}(\sigma)\,V^\top` held as factors
  (:class:`geodln.lowrank.FactoredPoint`, the pymanopt ``FixedRankEmbedded`` convention): the
  singular values :math:`\sigma(t)` ``[T, r]`` at every record, the final point, and, when the
  run was asked to record them (``Every(k, factors=True)``), ``U(t)`` and ``V(t)``
  (``X`` is then a :class:`~geodln.lowrank.FactoredPoint` with batch shape ``[T]``). Nothing of
  size m×n is formed, so a 10⁴×10⁴ run is recorded in O(T (m + n) r) memory at most.

The measures of :mod:`geodln.measures` derive from the records (singular values,
Roy–Vetterli (RV07) effective rank, Frobenius and nuclear norms; for dense square X also the
sign and log-modulus of det; computed on first use, from the recorded σ for factored runs).
Upstairs runs add the balance defect :math:`\max_p\|W_{p+1}^\top W_{p+1} - W_pW_p^\top\|_F`
and the final factors.

**Batches.** A run started from ``B`` points is one trajectory with a leading batch axis: every
member has its own recorded times (members stop at different times, so the record arrays are
padded with NaN after ``n_records[k]`` entries), ``status``, ``message`` and ``n_rhs``;
``final_X`` is ``[B, m, n]`` (a factored point of batch shape ``(B,)`` for factored runs);
``trajectory[k]`` is member k as a single-run trajectory and iterating yields the members. A
single run has no batch axis (``batch_size`` is None).

Files go through :mod:`geodln.storage` (atomic ``.npz``, no pickle, validated on load). Files
of the former kind ``lowrank_trajectory`` (written by ``LowRankTrajectory.save`` before the
result types were merged) still load, as factored trajectories.
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

__all__ = ["Trajectory", "STATUSES", "STATES"]

KIND = "trajectory"
#: The kind of the files written by the former ``LowRankTrajectory`` (still read).
LOWRANK_KIND = "lowrank_trajectory"
FINAL = ("completed", "loss_tol", "grad_tol", "max_norm", "diverged", "stopped", "max_steps",
         "wall_time", "failed")
#: What a trajectory records of the state.
STATES = ("dense", "factored")


def _factored_point():
    """Return :class:`geodln.lowrank.FactoredPoint` (imported on use: lowrank imports flows)."""
    from geodln.lowrank.point import FactoredPoint

    return FactoredPoint


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


def _per_member(values, b, name):
    arr = np.asarray(values, dtype=object).reshape(-1)
    if np.ndim(values) == 0 and b != 1:
        arr = np.repeat(arr, b)
    if arr.shape != (b,):
        raise ValueError(f"{name} must hold one entry per member ({b})")
    return arr


def _member_metadata(meta, k, b):
    """Metadata of member k: per-member lists of length B (``n_steps``) reduced to the member's."""
    out = dict(meta)
    steps = out.get("n_steps")
    if isinstance(steps, list) and len(steps) == b:
        out["n_steps"] = steps[k]
    return out


class Trajectory:
    r"""Recorded run(s) of a flow or of gradient descent, dense or factored, single or batched.

    Parameters
    ----------
    times : array-like, shape=[T] or [B, T]
        Recorded times (flow time; for gradient descent ``step * step_size``); batched
        records are padded with NaN after ``n_records[k]`` entries.
    X : array-like, shape=[T, m, n] or [B, T, m, n], or FactoredPoint or None
        The recorded states: dense end-to-end matrices (finite in the valid records); or, for
        a factored run, a :class:`geodln.lowrank.FactoredPoint` of batch shape ``[T]`` or
        ``[B, T]`` (``U``, ``σ``, ``V`` at every record); or None for a factored run that
        recorded only its singular values (then ``records`` holds ``"singular_values"`` and
        ``"final_point"``).
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
        user metrics (:class:`geodln.flows.recording.Every`) under ``"metrics"`` as a dict;
        factored runs: ``"singular_values"`` (``[..., T, r]``, when ``X`` is None) and
        ``"final_point"`` (the last state, a ``FactoredPoint`` of batch shape ``()`` or
        ``(B,)``; default: the last valid record of ``X``).
    metadata : dict, optional
        JSON-serialisable settings (depth, rank, method, tolerances, ...).

    Attributes
    ----------
    state : {"dense", "factored"}
        What ``X`` holds.
    batch_size : int or None
        B for a batched run, None for a single run.
    n_records : ndarray of int, shape=[B]
        Valid records of each member (batched runs).
    final_X : ndarray, shape=[m, n] or [B, m, n], or FactoredPoint
        The last state of each member (factored runs: a ``FactoredPoint``).
    singular_values : ndarray, shape=[..., T, k]
        Of the records (``k = min(m, n)`` dense, ``k = r`` factored).
    effective_rank, frobenius_norm, nuclear_norm : ndarray, shape=[..., T]
    det_sign, log_abs_det : ndarray, shape=[..., T], or None
        Dense square X only.

    Raises
    ------
    ValueError
        If shapes are inconsistent, a status is unknown, recorded states are not finite where
        the status promises a finite run, singular values are negative, or times decrease.

    References
    ----------
    .. [1] RV07: Roy, Vetterli, effective rank (EUSIPCO 2007), Definition 2 (the effective rank
       of the records).
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Section 2.1 (factored points
       :math:`U\,\mathrm{diag}(\sigma)\,V^\top` of the rank-r manifold).

    Examples
    --------
    >>> tr = Trajectory([0.0, 1.0], np.stack([np.eye(2), 2 * np.eye(2)]), [1.0, 0.5],
    ...                 mode="downstairs")
    >>> tr.final_X.tolist(), tr.status, tr.batch_size, tr.state
    ([[2.0, 0.0], [0.0, 2.0]], 'completed', None, 'dense')

    A factored run that recorded only its singular values (two members):

    >>> from geodln.lowrank import FactoredPoint
    >>> final = FactoredPoint(np.eye(3)[None, :, :1].repeat(2, 0), [[2.0], [3.0]],
    ...                       np.eye(2)[None, :, :1].repeat(2, 0))
    >>> tr = Trajectory([[0.0, 1.0], [0.0, 2.0]], None, [[1.0, 0.5], [1.0, 0.2]],
    ...                 mode="downstairs", records={"singular_values": [[[1.0], [2.0]],
    ...                 [[1.0], [3.0]]], "final_point": final})
    >>> tr.state, tr[1].final_X.s.tolist(), tr.frobenius_norm.tolist()
    ('factored', [3.0], [[1.0, 2.0], [1.0, 3.0]])
    """

    def __init__(self, times, X, loss, *, mode, status="completed", message="", n_rhs=0,
                 wall_time=0.0, records=None, metadata=None):
        if records is not None and not isinstance(records, dict):
            raise ValueError(f"records must be a dict, got {type(records).__name__}")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
        records = dict(records or {})
        times = check_record_array(times, "times")
        loss = check_record_array(loss, "loss")
        if times.ndim not in (1, 2) or times.shape[-1] == 0:
            raise ValueError(f"times must be a non-empty [T] or [B, T] array, got {times.shape}")
        batched = times.ndim == 2
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
        if not np.all(np.isfinite(tt[valid])):
            raise ValueError("times contains NaN or inf entries in the recorded entries")
        with np.errstate(invalid="ignore"):
            steps_back = np.diff(np.where(valid, tt, np.inf), axis=-1)[valid[:, 1:]] < 0
        if np.any(steps_back):
            raise ValueError("times must be non-decreasing")
        self.mode = mode
        self.batch_size = b if batched else None
        self.n_records = n_rec
        self.times, self.loss = times, loss
        self._set_state(X, records, valid)
        if loss.shape != times.shape:
            raise ValueError(f"loss must have shape {times.shape} to match times, got "
                             f"{loss.shape}")
        if not batched and not isinstance(status, str):
            raise ValueError(f"status must be a str for a single run, got {status!r}")
        statuses = _statuses(status, b)
        ll = loss.reshape(b, t_len)
        for k in range(b):
            check_finite_for_status(str(statuses[k]), loss=ll[k][valid[k]])
        messages = np.asarray(_per_member(message, b, "message"), dtype=str)
        rhs = np.array([check_count(c, "n_rhs") for c in _per_member(n_rhs, b, "n_rhs")],
                       dtype=np.int64)
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
        self.factors = self._check_factors(records.pop("factors", None))
        self.metrics = {}
        for name, val in dict(records.pop("metrics", None) or {}).items():
            val = np.asarray(val, dtype=float)
            if val.shape[:times.ndim] != times.shape:
                raise ValueError(f"metric {name!r} must have leading shape {times.shape}")
            self.metrics[str(name)] = val
        if records:
            raise ValueError(f"unknown records {sorted(records)}")
        self._measures = None

    # -- validation ----------------------------------------------------------------------------
    def _set_state(self, X, records, valid):
        """Validate and store the recorded states (dense X, or factored records and final)."""
        lead = self.times.shape
        final = records.pop("final_point", None)
        sigma = records.pop("singular_values", None)
        point_cls = None
        if X is None or (hasattr(X, "u") and hasattr(X, "s") and hasattr(X, "vt")):
            point_cls = _factored_point()
        if point_cls is None:
            if final is not None or sigma is not None:
                raise ValueError("final_point and singular_values are records of factored runs "
                                 "(X a FactoredPoint or None)")
            X = check_record_array(X, "X")
            if X.shape[:-2] != lead or X.ndim != len(lead) + 2:
                raise ValueError(f"X must have shape {lead} + (m, n) to match times, "
                                 f"got {X.shape}")
            xx = X.reshape(valid.shape + X.shape[-2:])
            if not np.all(np.isfinite(xx[valid])):
                raise ValueError("X contains NaN or inf entries in the recorded entries (a "
                                 "diverged run keeps its last finite state)")
            self.state, self.X, self._sigma, self._final = "dense", X, None, None
            return
        self.state = "factored"
        if X is not None:
            if not isinstance(X, point_cls):
                X = point_cls.from_frame(X)
            if sigma is not None:
                raise ValueError("give singular_values only when X is None (X holds them)")
            u = check_record_array(X.u, "X.u")
            sigma = X.s
            v = check_record_array(X.v, "X.v")
            if u.shape[:-2] != lead or v.shape[:-2] != lead:
                raise ValueError(f"X must be a FactoredPoint of batch shape {lead} to match "
                                 f"times, got {X.batch_shape}")
        elif sigma is None:
            raise ValueError("a factored run without recorded factors (X None) needs records "
                             "'singular_values' and 'final_point'")
        sigma = check_record_array(sigma, "singular_values")
        if sigma.ndim != len(lead) + 1 or sigma.shape[:-1] != lead or sigma.shape[-1] < 1:
            raise ValueError(f"singular_values must have shape {lead} + (r,), got {sigma.shape}")
        ss = sigma.reshape(valid.shape + sigma.shape[-1:])
        if not np.all(np.isfinite(ss[valid])):
            raise ValueError("singular_values contains NaN or inf entries in the recorded "
                             "entries (a diverged run keeps its last finite state)")
        if np.any(ss[valid] < 0):
            raise ValueError("singular_values must be >= 0")
        if X is not None:
            for name, arr in (("X.u", u), ("X.v", v)):
                if not np.all(np.isfinite(arr.reshape(valid.shape + arr.shape[-2:])[valid])):
                    raise ValueError(f"{name} contains NaN or inf entries in the recorded "
                                     "entries")
            X = point_cls(u, sigma, v, check=False)
        batch = lead[:-1]
        if final is None:
            if X is None:
                raise ValueError("final_point is required when X is None")
            rows = np.arange(valid.shape[0]), self.n_records - 1
            final = point_cls(u.reshape(valid.shape + u.shape[-2:])[rows].reshape(
                batch + u.shape[-2:]), ss[rows].reshape(batch + sigma.shape[-1:]),
                v.reshape(valid.shape + v.shape[-2:])[rows].reshape(batch + v.shape[-2:]),
                check=False)
        if not isinstance(final, point_cls):
            raise ValueError(f"final_point must be a FactoredPoint, got {type(final).__name__}")
        if final.batch_shape != batch or final.rank != sigma.shape[-1]:
            raise ValueError(f"final_point must have batch shape {batch} and rank "
                             f"{sigma.shape[-1]}, got {final.batch_shape} and {final.rank}")
        if X is not None and final.shape != X.shape:
            raise ValueError(f"final_point has shape {final.shape}, the records {X.shape}")
        for name in ("u", "s", "v"):
            arr = getattr(final, name)
            if np.asarray(arr).dtype.kind not in "biuf" or not np.all(np.isfinite(arr)):
                raise ValueError(f"final_point.{name} must be real and finite (the last finite "
                                 "state of a diverged run)")
        if np.any(final.s < 0):
            raise ValueError("final_point.s must be >= 0")
        self.X, self._sigma, self._final = X, sigma, final

    def _check_factors(self, factors):
        """Check final factors ``[W_1, ..., W_N]`` whose product has the shape of X (any batch)."""
        if factors is None:
            return None
        factors = [check_record_array(w, f"factors[{p}]") for p, w in enumerate(factors)]
        batch = self.times.shape[:-1]
        m, n = self.shape
        ok = bool(factors) and all(w.ndim == len(batch) + 2 and w.shape[:-2] == batch
                                   for w in factors)
        ok = ok and factors[0].shape[-1] == n and factors[-1].shape[-2] == m and all(
            a.shape[-2] == b.shape[-1] for a, b in zip(factors[:-1], factors[1:]))
        if not ok:
            raise ValueError(f"factors must be [W_1, ..., W_N] with W_p of shape {batch} + "
                             f"(d_p, d_(p-1)) and product of shape {(m, n)}, got "
                             f"{[w.shape for w in factors]}")
        return factors

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
        x = self.X
        if self.state == "factored":
            rec["final_point"] = self._final[k]
            if x is None:
                rec["singular_values"] = self._sigma[k, :t]
            else:
                x = _factored_point()(x.u[k, :t], x.s[k, :t], x.v[k, :t], check=False)
        else:
            x = x[k, :t]
        return Trajectory(self.times[k, :t], x, self.loss[k, :t], mode=self.mode,
                          status=self.status[k], message=self.message[k], n_rhs=self.n_rhs[k],
                          wall_time=self.wall_time, records=rec,
                          metadata=_member_metadata(self.metadata, k, self.batch_size))

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
        return self._final.shape if self.state == "factored" else self.X.shape[-2:]

    @property
    def rank(self):
        """Rank r of a factored run (columns of U); None for a dense run."""
        return self._sigma.shape[-1] if self.state == "factored" else None

    @property
    def final_X(self):
        """Last state: ``[m, n]``/``[B, m, n]`` dense, a ``FactoredPoint`` if factored."""
        return self._final if self.state == "factored" else self._last(self.X)

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
        if self._measures is not None:
            return self._measures
        if self.state == "factored":
            s = np.abs(self._sigma)
            finite = np.all(np.isfinite(s), axis=-1)
            safe = np.where(finite[..., None], s, 0.0)
            meas = {"singular_values": self._sigma, "det_sign": None, "log_abs_det": None}
        else:
            x = self.X
            finite = np.all(np.isfinite(x), axis=(-2, -1))
            safe_x = np.where(finite[..., None, None], x, 0.0)
            s = np.linalg.svd(safe_x, compute_uv=False)
            s[~finite] = np.nan
            safe = np.where(finite[..., None], s, 0.0)
            meas = {"singular_values": s, "det_sign": None, "log_abs_det": None}
            if x.shape[-1] == x.shape[-2]:
                sign, logdet = np.linalg.slogdet(safe_x)
                meas["det_sign"] = np.where(finite, sign, np.nan)
                meas["log_abs_det"] = np.where(finite, logdet, np.nan)
        with np.errstate(over="ignore", invalid="ignore"):
            meas["frobenius_norm"] = np.where(finite, frobenius_norm_from_singular_values(safe),
                                              np.nan)
            meas["nuclear_norm"] = np.where(finite, np.sum(safe, axis=-1), np.nan)
            meas["effective_rank"] = np.where(finite, effective_rank_from_singular_values(safe),
                                              np.nan)
        self._measures = meas
        return meas

    @property
    def singular_values(self):
        """Singular values of the records, ``[..., T, min(m, n)]`` (factored: ``[..., T, r]``)."""
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
        """Sign of det X (dense square X), ``[..., T]``, else None."""
        return self._compute_measures()["det_sign"]

    @property
    def log_abs_det(self):
        """Log |det X| (dense square X), ``[..., T]``, else None."""
        return self._compute_measures()["log_abs_det"]

    def to_dense(self, max_entries=10**7):
        """Return the trajectory with dense records ``X = U diag(σ) Vᵀ`` (small problems only).

        Parameters
        ----------
        max_entries : int
            Largest number of dense entries (``B·T·m·n``) to form.

        Returns
        -------
        trajectory : Trajectory
            ``state="dense"`` (``self`` if already dense).

        Raises
        ------
        ValueError
            If the factored run did not record its factors (``Every(k, factors=True)``), or
            the dense records would exceed ``max_entries``.

        Examples
        --------
        >>> from geodln.lowrank import FactoredPoint
        >>> pts = FactoredPoint(np.eye(2)[None, :, :1].repeat(2, 0), [[1.0], [2.0]],
        ...                     np.eye(2)[None, :, :1].repeat(2, 0))
        >>> Trajectory([0.0, 1.0], pts, [1.0, 0.5], mode="downstairs").to_dense().final_X
        array([[2., 0.],
               [0., 0.]])
        """
        if self.state == "dense":
            return self
        if self.X is None:
            raise ValueError("to_dense needs recorded factors (record=Every(k, factors=True))")
        m, n = self.shape
        if self.times.size * m * n > max_entries:
            raise ValueError(f"to_dense would store {self.times.size}x{m}x{n} dense entries > "
                             f"max_entries={max_entries}; use the factored records instead")
        with np.errstate(invalid="ignore"):
            x = (self.X.u * self.X.s[..., None, :]) @ np.swapaxes(self.X.v, -1, -2)
        rec = {"metrics": self.metrics, "steps": self.steps, "balance_defect": self.balance_defect,
               "factors": self.factors}
        if self.batch_size is not None:
            rec["n_records"] = self.n_records
        return Trajectory(self.times, x, self.loss, mode=self.mode, status=self.status,
                          message=self.message, n_rhs=self.n_rhs, wall_time=self.wall_time,
                          records={k: v for k, v in rec.items() if v is not None},
                          metadata=self.metadata)

    # -- text ----------------------------------------------------------------------------------
    def summary(self):
        """Readable description of the run (one paragraph per member, at most 5 shown)."""
        kind = "" if self.state == "dense" else f"factored rank-{self.rank} "
        if self.batch_size is not None:
            counts = {str(s): int(np.sum(self.status == s)) for s in np.unique(self.status)}
            head = (f"{self.mode} {kind}batch of {self.batch_size} runs, X of shape "
                    f"{self.shape}, status counts {counts}, {self.wall_time:.3g} s")
            return "\n".join([head] + [self[k].summary() for k in range(min(5, len(self)))])
        lines = [
            f"{self.mode} {kind}trajectory, X of shape {self.shape}, {self.times.size} records, "
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
        state = "" if self.state == "dense" else ", state='factored'"
        if self.batch_size is not None:
            return (f"Trajectory(mode={self.mode!r}, shape={self.shape}{state}, "
                    f"batch_size={self.batch_size})")
        return (f"Trajectory(mode={self.mode!r}, shape={self.shape}{state}, "
                f"records={self.times.size}, status={self.status!r}, "
                f"final_loss={self.final_loss:.4g})")

    def _state_arrays(self):
        """Return the recorded states as named arrays (``X``, or the factored records)."""
        if self.state == "dense":
            return {"X": self.X}
        out = {"singular_values": self._sigma, "final_U": self._final.u,
               "final_s": self._final.s, "final_V": self._final.v}
        if self.X is not None:
            out["U"], out["V"] = self.X.u, self.X.v
        return out

    def to_arrays(self):
        """Return the run as a flat dict of arrays (what ``run_ensemble`` stores).

        Returns
        -------
        arrays : dict of str to ndarray
            Records (``X``, or for a factored run ``singular_values``, ``final_U``/``final_s``/
            ``final_V`` and ``U``/``V`` when recorded), measures, extras, ``status`` and
            ``n_rhs`` (no wall time, so reruns give identical files).

        Examples
        --------
        >>> tr = Trajectory([0.0], np.eye(2)[None], [0.0], mode="downstairs")
        >>> sorted(tr.to_arrays())[:4]
        ['X', 'det_sign', 'effective_rank', 'frobenius_norm']
        """
        out = {"times": self.times, "loss": self.loss, **self._state_arrays()}
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

        Examples
        --------
        >>> import os, tempfile
        >>> tr = Trajectory([0.0, 1.0], np.ones((2, 2, 2)), [1.0, 0.5], mode="downstairs")
        >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
        >>> tr.save(path)
        >>> Trajectory.load(path).final_loss
        0.5
        """
        arrays = {"times": self.times, "loss": self.loss, **self._state_arrays()}
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
        meta = {"mode": self.mode, "state": self.state,
                "status": self.status.tolist() if batched else self.status,
                "message": self.message.tolist() if batched else self.message,
                "n_rhs": self.n_rhs.tolist() if batched else self.n_rhs,
                "wall_time": self.wall_time, "n_factors": n_factors, "batched": batched,
                "metric_names": sorted(self.metrics), "metadata": self.metadata}
        save_arrays(path, arrays, KIND, meta)

    @classmethod
    def load(cls, path):
        """Read a trajectory written by :meth:`save` (or by the former ``LowRankTrajectory``).

        Parameters
        ----------
        path : str or os.PathLike
            File written by :meth:`save`; files of kind ``lowrank_trajectory`` (the factored
            result type before it merged into :class:`Trajectory`) load as factored
            trajectories.

        Returns
        -------
        trajectory : Trajectory

        Raises
        ------
        ValueError
            If the file is truncated, foreign, of another version, or its arrays are
            inconsistent (see :func:`geodln.storage.load_record`).

        Examples
        --------
        >>> import os, tempfile
        >>> from geodln.storage import save_arrays
        >>> path = os.path.join(tempfile.mkdtemp(), "other.npz")
        >>> save_arrays(path, {"x": np.zeros(2)}, "langevin_path")
        >>> Trajectory.load(path)
        Traceback (most recent call last):
        ...
        ValueError: ... holds a 'langevin_path', expected one of ['trajectory', ...]
        """
        return load_record(path, (KIND, LOWRANK_KIND), cls._from_arrays)

    @classmethod
    def _from_arrays(cls, arrays, meta):
        """Build from the arrays and metadata of a file (schema errors raise, see ``load``)."""
        if meta.get("kind") == LOWRANK_KIND:
            return cls._from_lowrank_arrays(arrays, meta)
        batched = meta.get("batched", False)
        if not isinstance(batched, bool):
            raise ValueError(f"batched must be true or false, got {batched!r}")
        state = meta.get("state", "dense")
        if state not in STATES:
            raise ValueError(f"state must be one of {list(STATES)}, got {state!r}")
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
        x = arrays["X"] if state == "dense" else cls._factored_records(arrays, records, "U", "V")
        return cls(times, x, arrays["loss"], mode=meta["mode"],
                   status=meta["status"], message=meta.get("message", ""),
                   n_rhs=meta.get("n_rhs", 0), wall_time=meta.get("wall_time", 0.0),
                   records=records, metadata=meta.get("metadata", {}))

    @staticmethod
    def _factored_records(arrays, records, u_key, v_key, prefix="final_", s_key="s"):
        """Return the records of a factored file: the final point, and σ or the recorded factors."""
        point = _factored_point()
        final = [check_record_array(arrays[prefix + k], prefix + k)
                 for k in (u_key, s_key, v_key)]
        records["final_point"] = point(*final)
        if (u_key in arrays) != (v_key in arrays):
            raise ValueError(f"give both {u_key} and {v_key} or neither")
        sigma = arrays["singular_values" if "singular_values" in arrays else "sigma"]
        if u_key not in arrays:
            records["singular_values"] = sigma
            return None
        return point(check_record_array(arrays[u_key], u_key), check_record_array(sigma, "sigma"),
                     check_record_array(arrays[v_key], v_key), check=False)

    @classmethod
    def _from_lowrank_arrays(cls, arrays, meta):
        """Build a single factored run from a file of the former ``LowRankTrajectory``."""
        records = {"metrics": {k[len("metric:"):]: a for k, a in arrays.items()
                               if k.startswith("metric:")}}
        if "steps" in arrays:
            records["steps"] = arrays["steps"]
        x = cls._factored_records(arrays, records, "u", "v")
        return cls(check_record_array(arrays["times"], "times", ndim=1), x, arrays["loss"],
                   mode=meta["mode"], status=meta["status"], message=meta.get("message", ""),
                   n_rhs=meta.get("n_rhs", 0), wall_time=meta.get("wall_time", 0.0),
                   records=records, metadata=meta.get("metadata", {}))

    @classmethod
    def stack(cls, members):
        """One batched trajectory from single-run trajectories of equal mode, state and shape.

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
            If ``members`` is empty or the runs differ in mode, state, shape, rank or
            recorded extras.

        Examples
        --------
        >>> a = Trajectory([0.0, 1.0], np.ones((2, 2, 2)), [1.0, 0.5], mode="downstairs")
        >>> b = Trajectory([0.0], np.ones((1, 2, 2)), [1.0], mode="downstairs")
        >>> batch = Trajectory.stack([a, b])
        >>> batch.batch_size, batch.n_records.tolist(), batch[1].final_loss
        (2, [2, 1], 1.0)
        """
        members = list(members)
        if not members or any(not isinstance(m, cls) or m.batch_size is not None
                              for m in members):
            raise ValueError("members must be a non-empty list of single-run Trajectory objects")
        first = members[0]
        if any(m.mode != first.mode or m.shape != first.shape or m.state != first.state
               or m.rank != first.rank or (m.X is None) != (first.X is None) for m in members):
            raise ValueError("members must share mode, state, shape and rank")
        lens = np.array([m.times.size for m in members])
        t_max = int(lens.max())

        def pad(arrs, fill=np.nan, dtype=float):
            if any(a is None for a in arrs):
                return None
            out = np.full((len(arrs), t_max) + arrs[0].shape[1:], fill, dtype=dtype)
            for i, a in enumerate(arrs):
                out[i, :a.shape[0]] = a
            return out

        def field(name):
            return [getattr(m, name) for m in members]

        records = {"n_records": lens}
        if first.steps is not None:
            records["steps"] = pad(field("steps"), -1, np.int64)
        if first.balance_defect is not None:
            records["balance_defect"] = pad(field("balance_defect"))
        if first.factors is not None:
            records["factors"] = [np.stack([m.factors[p] for m in members])
                                  for p in range(len(first.factors))]
        records["metrics"] = {name: pad([m.metrics[name] for m in members])
                              for name in first.metrics}
        x = None
        if first.state == "dense":
            x = pad(field("X"))
        else:
            records["final_point"] = _factored_point().stack(field("final_X"))
            if first.X is None:
                records["singular_values"] = pad(field("singular_values"))
            else:
                x = _factored_point()(pad([m.X.u for m in members]),
                                      pad([m.X.s for m in members]),
                                      pad([m.X.v for m in members]), check=False)
        return cls(pad(field("times")), x, pad(field("loss")), mode=first.mode,
                   status=field("status"), message=field("message"), n_rhs=field("n_rhs"),
                   wall_time=sum(field("wall_time")), records=records, metadata=first.metadata)
