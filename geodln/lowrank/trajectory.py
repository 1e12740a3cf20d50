r"""Result of a factored (low-rank) run: singular values and loss over time, no dense X.

Storing :math:`X(t)` densely is impossible at 10⁴×10⁴, so :class:`LowRankTrajectory` keeps
the singular values :math:`\sigma(t)` (from which the effective rank and the norms follow),
the loss, the final factored point, and optionally the factors ``U(t), σ(t), V(t)`` at every
record (``store_factors=True`` in the flows). :meth:`LowRankTrajectory.to_trajectory` builds
the dense :class:`geodln.flows.Trajectory` from stored factors for small problems, so the two
code paths can be compared with the same tools. Files go through :mod:`geodln.storage`.
"""

import numpy as np

from geodln._checks import check_positive_int
from geodln.flows.trajectory import RunRecord, Trajectory
from geodln.lowrank.point import FactoredPoint
from geodln.measures import (
    effective_rank_from_singular_values,
    frobenius_norm_from_singular_values,
)
from geodln.storage import (
    check_finite_for_status,
    check_record_array,
    check_times,
    load_record,
    save_arrays,
)

__all__ = ["LowRankTrajectory", "LowRankBatch", "Record"]

KIND = "lowrank_trajectory"


class LowRankTrajectory(RunRecord):
    """Recorded factored run.

    Parameters
    ----------
    times : array-like, shape=[T]
        Recorded times (gradient descent: ``step * step_size``).
    sigma : array-like, shape=[T, r]
        Singular values at the recorded times (non-increasing).
    loss : array-like, shape=[T]
        Loss values.
    final : FactoredPoint
        The last point.
    mode : {"downstairs", "upstairs"}
        Which dynamics produced the run.
    status : str
        Key of :data:`geodln.flows.trajectory.STATUSES`.
    message : str
        Readable reason for stopping.
    n_rhs : int
        Velocity evaluations (gradient descent: steps).
    wall_time : float
        Seconds.
    u, v : array-like, shape=[T, m, r] and [T, n, r], optional
        Stored singular vectors.
    steps : array-like of int, shape=[T], optional
        Gradient descent step indices.
    metadata : dict, optional
        JSON-serialisable settings.
    metrics : dict of str to array-like, optional
        Recorded user metrics (see :class:`Record`), each of shape [T].

    Attributes
    ----------
    effective_rank, frobenius_norm, nuclear_norm : ndarray, shape=[T]

    Raises
    ------
    ValueError
        With the message ``times must be a non-empty 1-d array, got shape …``; or ``sigma must
        have shape […, r], got …``; or ``loss must have shape (…,), got …``; or ``final must be
        a FactoredPoint, got …``; or ``give both u and v or neither``; or ``u and v must have …
        records, got …, …``; or ``metrics[…] must have shape (…,), got …``; or if times
        decrease or are not finite, ``sigma``/``loss`` are complex or hold NaN/inf while the
        status promises a finite run, or ``n_rhs``/``wall_time``/``metadata`` are invalid (the
        schema helpers of :mod:`geodln.storage`).

    Examples
    --------
    >>> from geodln.lowrank import (lowrank_gradient_descent, random_factored_point,
    ...                             random_sparse_completion)
    >>> loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    >>> traj = lowrank_gradient_descent(loss, random_factored_point(8, 6, 2, seed=1), 3, 0.02, 5)
    >>> type(traj).__name__, traj.sigma.shape, traj.status  # 6 records of 2 singular values
    ('LowRankTrajectory', (6, 2), 'completed')
    """

    def __init__(self, times, sigma, loss, final, *, mode, status="completed", message="",
                 n_rhs=0, wall_time=0.0, u=None, v=None, steps=None, metadata=None,
                 metrics=None):
        self.times = check_times(times)
        self.sigma = check_record_array(sigma, "sigma")
        self.loss = check_record_array(loss, "loss")
        T = self.times.size
        if self.sigma.ndim != 2 or self.sigma.shape[0] != T:
            raise ValueError(f"sigma must have shape [{T}, r], got {self.sigma.shape}")
        if self.loss.shape != (T,):
            raise ValueError(f"loss must have shape ({T},), got {self.loss.shape}")
        self._set_run_info(mode, status, message, n_rhs, wall_time)
        check_finite_for_status(self.status, sigma=self.sigma, loss=self.loss)
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
        if not isinstance(final, FactoredPoint):
            raise ValueError(f"final must be a FactoredPoint, got {type(final).__name__}")
        self.final = final
        self.u = None if u is None else np.asarray(u, float)
        self.v = None if v is None else np.asarray(v, float)
        if (self.u is None) != (self.v is None):
            raise ValueError("give both u and v or neither")
        if self.u is not None and (self.u.shape[0] != T or self.v.shape[0] != T):
            raise ValueError(f"u and v must have {T} records, got {self.u.shape}, {self.v.shape}")
        self.steps = None if steps is None else np.asarray(steps, np.int64)
        self.metadata = dict(metadata or {})
        self.metrics = {str(k): np.asarray(a, float) for k, a in (metrics or {}).items()}
        for name, arr in self.metrics.items():
            if arr.shape != (T,):
                raise ValueError(f"metrics[{name!r}] must have shape ({T},), got {arr.shape}")
        finite = np.all(np.isfinite(self.sigma), axis=-1)
        s = np.where(finite[:, None], np.abs(self.sigma), 0.0)
        self.frobenius_norm = np.where(finite, frobenius_norm_from_singular_values(s), np.nan)
        self.nuclear_norm = np.where(finite, np.sum(s, axis=-1), np.nan)
        self.effective_rank = np.where(finite, effective_rank_from_singular_values(s), np.nan)

    @property
    def shape(self):
        """``(m, n)`` of the end-to-end matrix."""
        return self.final.shape

    def point(self, i):
        """Return the factored point of record ``i`` (needs stored factors).

        Raises
        ------
        ValueError
            With the message ``this trajectory has no stored factors (run with
            store_factors=True)``.
        """
        if self.u is None:
            raise ValueError("this trajectory has no stored factors (run with store_factors=True)")
        return FactoredPoint(self.u[i], self.sigma[i], self.v[i], check=False)

    def dense(self, i=-1):
        """Dense X of record ``i`` (small problems; needs stored factors for ``i != -1``)."""
        if self.u is None and i in (-1, len(self) - 1):
            return self.final.to_dense()
        return self.point(i).to_dense()

    def to_trajectory(self, max_entries=10**7):
        """Dense :class:`geodln.flows.Trajectory` of the stored records (small problems only).

        Raises
        ------
        ValueError
            Without stored factors, or if ``T·m·n`` exceeds ``max_entries``.
        """
        if self.u is None:
            raise ValueError("to_trajectory needs stored factors (run with store_factors=True)")
        m, n = self.shape
        if len(self) * m * n > max_entries:
            raise ValueError(
                f"to_trajectory would store {len(self)}x{m}x{n} dense entries > max_entries="
                f"{max_entries}; use the factored records instead"
            )
        x = np.einsum("tir,tr,tjr->tij", self.u, self.sigma, self.v)
        return Trajectory(self.times, x, self.loss, mode=self.mode, status=self.status,
                          message=self.message, n_rhs=self.n_rhs, wall_time=self.wall_time,
                          records={"steps": self.steps}, metadata=self.metadata)

    def summary(self):
        """Readable description."""
        return (
            f"{self.mode} low-rank trajectory, X {self.shape} rank {self.final.rank}, "
            f"{len(self)} records, t in [{self.times[0]:.4g}, {self.final_time:.4g}]\n"
            f"  status {self.status}: {self.message}\n"
            f"  loss {self.loss[0]:.4g} -> {self.final_loss:.4g}, effective rank "
            f"{self.effective_rank[0]:.3g} -> {self.effective_rank[-1]:.3g}\n"
            f"  cost: {self.n_rhs} RHS evaluations/steps, {self.wall_time:.3g} s"
        )

    def __repr__(self):
        return (
            f"LowRankTrajectory(mode={self.mode!r}, shape={self.shape}, records={len(self)}, "
            f"status={self.status!r}, final_loss={self.final_loss:.4g})"
        )

    # -- files -----------------------------------------------------------------------------------
    def save(self, path):
        """Write to ``path`` (``.npz``) with :func:`geodln.storage.save_arrays`."""
        arrays = {"times": self.times, "sigma": self.sigma, "loss": self.loss,
                  "final_u": self.final.u, "final_s": self.final.s, "final_v": self.final.v}
        if self.u is not None:
            arrays["u"], arrays["v"] = self.u, self.v
        if self.steps is not None:
            arrays["steps"] = self.steps
        for name, arr in self.metrics.items():
            arrays["metric:" + name] = arr
        save_arrays(path, arrays, KIND, self._run_meta())

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save` (``ValueError`` if foreign or inconsistent).

        Raises
        ------
        ValueError
            With the message ``… is not a valid lowrank_trajectory file: …`` for any schema
            violation (see :func:`geodln.storage.load_record`).
        """
        def build(arrays, meta):
            final = FactoredPoint(arrays["final_u"], arrays["final_s"], arrays["final_v"])
            metrics = {k[len("metric:"):]: a for k, a in arrays.items()
                       if k.startswith("metric:")}
            return cls(arrays["times"], arrays["sigma"], arrays["loss"], final,
                       u=arrays.get("u"), v=arrays.get("v"), steps=arrays.get("steps"),
                       metrics=metrics, **cls._run_kwargs(meta))

        return load_record(path, KIND, build)


class Record:
    r"""What a factored run records, and how often.

    Parameters
    ----------
    every : int
        Record every this many steps (gradient descent) or accepted steps (flows); the first
        and the last state of every member are always recorded.
    factors : bool
        Also record ``U`` and ``V`` (O(T (m + n) r) memory per member).
    metrics : dict of str to callable, optional
        User metrics ``name -> f(point) -> float`` evaluated on the *factored* point of one
        member at each record (e.g. a held-out error from :meth:`FactoredPoint.entries`:
        O(k r), never an m×n array).

    Raises
    ------
    ValueError
        If ``every`` is not a positive integer or a metric is not callable.

    Examples
    --------
    >>> rec = Record(every=10, metrics={"sigma_1": lambda p: float(p.s.max())})
    >>> rec.every
    10
    """

    def __init__(self, every=1, factors=False, metrics=None):
        self.every = check_positive_int(every, "record.every")
        if not isinstance(factors, bool | np.bool_):
            raise ValueError(f"record.factors must be a bool, got {factors!r}")
        self.factors = bool(factors)
        if metrics is not None and not isinstance(metrics, dict):
            raise ValueError(f"record.metrics must be a dict of callables or None, got "
                             f"{type(metrics).__name__}")
        self.metrics = dict(metrics or {})
        for name, fn in self.metrics.items():
            if not callable(fn):
                raise ValueError(f"record.metrics[{name!r}] must be callable f(point) -> float")

    @classmethod
    def of(cls, record):
        """Return ``record`` as a :class:`Record` (None: every step; int k: every k steps).

        Raises
        ------
        ValueError
            If ``record`` is none of None, a positive int or a :class:`Record`.
        """
        if record is None:
            return cls()
        if isinstance(record, Record):
            return record
        return cls(every=check_positive_int(record, "record"))


class LowRankBatch:
    """The result of a batched factored run: B member trajectories and the final batch.

    Parameters
    ----------
    members : list of LowRankTrajectory
        One per member (own times, status, records).
    final : FactoredPoint
        The final points, batch shape ``(B,)``.

    Attributes
    ----------
    status : list of str
        Per member.
    final_loss : ndarray, shape=[B]

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.lowrank import random_sparse_completion, random_factored_point
    >>> from geodln.lowrank import lowrank_gradient_descent
    >>> loss, _ = random_sparse_completion((6, 5), 2, fraction=0.6, seed=0)
    >>> x0 = random_factored_point(6, 5, 2, seed=1, batch=3)
    >>> out = lowrank_gradient_descent(loss, x0, 3, 0.01, 5)
    >>> len(out), out[0].status
    (3, 'completed')
    """

    def __init__(self, members, final):
        self.members = list(members)
        self.final = final

    def __len__(self):
        return len(self.members)

    def __getitem__(self, k):
        return self.members[k]

    def __iter__(self):
        return iter(self.members)

    @property
    def status(self):
        """Status of each member."""
        return [m.status for m in self.members]

    @property
    def final_loss(self):
        """Final loss of each member, [B]."""
        return np.array([m.final_loss for m in self.members])

    def __repr__(self):
        return f"LowRankBatch(members={len(self)}, status={self.status})"
