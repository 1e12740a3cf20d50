r"""The result of a flow or a gradient-descent run: :class:`Trajectory`.

A trajectory records the end-to-end matrix :math:`X(t)` at the recorded times and derives the
measures of :mod:`geodln.measures` from it (singular values, Roy–Vetterli effective rank,
Frobenius and nuclear norms, sign and log-modulus of det for square X). Upstairs runs add the
balancedness defect :math:`\max_p\|W_{p+1}^\top W_{p+1} - W_pW_p^\top\|_F` at each recorded time
and the final factors. It also says why the run stopped (``status``, ``message``) and what it
cost (``n_rhs`` right-hand-side evaluations or steps, ``wall_time`` in seconds).

Files go through :mod:`geodln.storage` (atomic ``.npz``, no pickle, validated on load).
"""

import numpy as np

from geodln.measures import effective_rank_from_singular_values
from geodln.storage import load_arrays, save_arrays

__all__ = ["Trajectory", "STATUSES"]

KIND = "trajectory"

#: Why a run stopped.
STATUSES = {
    "completed": "reached the end of the time span / the number of steps",
    "loss_tol": "loss fell below loss_tol",
    "max_norm": "the Frobenius norm of X exceeded max_norm (divergence guard)",
    "diverged": "the state overflowed or became non-finite",
    "stopped": "the user stopping rule returned True",
    "wall_time": "the wall-time limit was reached",
    "failed": "the integrator failed",
}


class _RunRecord:
    """Run information and accessors shared by :class:`Trajectory` and the low-rank record."""

    def _set_run_info(self, mode, status, message, n_rhs, wall_time):
        if mode not in ("downstairs", "upstairs"):
            raise ValueError(f"mode must be 'downstairs' or 'upstairs', got {mode!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, got {status!r}")
        self.mode, self.status, self.message = mode, status, str(message)
        self.n_rhs, self.wall_time = int(n_rhs), float(wall_time)

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


class Trajectory(_RunRecord):
    r"""Recorded run of a flow (upstairs or downstairs) or of fixed-step gradient descent.

    Parameters
    ----------
    times : array-like, shape=[T]
        Recorded times (flow time; for gradient descent, ``step * step_size``).
    X : array-like, shape=[T, m, n]
        End-to-end matrices at the recorded times.
    loss : array-like, shape=[T]
        Loss values at the recorded times.
    mode : {"downstairs", "upstairs"}
        Which dynamics produced the run.
    status : str
        Why the run stopped, a key of :data:`STATUSES`.
    message : str
        Human-readable reason.
    n_rhs : int
        Right-hand-side (velocity) evaluations; for gradient descent, the number of steps.
    wall_time : float
        Seconds spent in the run.
    balance_defect : array-like, shape=[T], optional
        Upstairs runs: largest Frobenius norm of the balance residuals at each time.
    factors : list of array-like, optional
        Upstairs runs: the final factors ``[W_1, ..., W_N]``.
    steps : array-like of int, shape=[T], optional
        Gradient descent: the step index of each record.
    metadata : dict, optional
        JSON-serialisable settings (depth, rank, method, tolerances, ...).

    Attributes
    ----------
    singular_values : ndarray, shape=[T, min(m, n)]
    effective_rank, frobenius_norm, nuclear_norm : ndarray, shape=[T]
    det_sign, log_abs_det : ndarray, shape=[T], or None
        Square X only.

    Raises
    ------
    ValueError
        With the message ``times must be a non-empty 1-d array, got shape …``; or ``X must have
        shape […, m, n] to match times, got …``; or ``loss must have shape (…,) to match times,
        got …``; or ``balance_defect must have shape (…,), got …``; or ``factors multiply to
        shape …, not …``; or ``steps must have shape (…,), got …``.

    Examples
    --------
    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0], [0]), values=[1.0], shape=(1, 1))
    >>> traj = geodln.downstairs_flow(loss, np.array([[0.5]]), depth=2, t_span=(0.0, 1.0))
    >>> traj.X.shape[1:], traj.status
    ((1, 1), 'completed')
    """

    def __init__(
        self,
        times,
        X,
        loss,
        *,
        mode,
        status="completed",
        message="",
        n_rhs=0,
        wall_time=0.0,
        balance_defect=None,
        factors=None,
        steps=None,
        metadata=None,
    ):
        times = np.asarray(times, dtype=float)
        X = np.asarray(X, dtype=float)
        loss = np.asarray(loss, dtype=float)
        if times.ndim != 1 or times.size == 0:
            raise ValueError(f"times must be a non-empty 1-d array, got shape {times.shape}")
        T = times.size
        if X.ndim != 3 or X.shape[0] != T:
            raise ValueError(f"X must have shape [{T}, m, n] to match times, got {X.shape}")
        if loss.shape != (T,):
            raise ValueError(f"loss must have shape ({T},) to match times, got {loss.shape}")
        self._set_run_info(mode, status, message, n_rhs, wall_time)
        self.times, self.X, self.loss = times, X, loss
        self.metadata = dict(metadata or {})
        self.balance_defect = None
        if balance_defect is not None:
            self.balance_defect = np.asarray(balance_defect, dtype=float)
            if self.balance_defect.shape != (T,):
                raise ValueError(
                    f"balance_defect must have shape ({T},), got {self.balance_defect.shape}"
                )
        self.factors = None if factors is None else [np.asarray(w, float) for w in factors]
        if self.factors is not None:
            end = self.factors[-1]
            for w in self.factors[-2::-1]:
                end = end @ w
            if end.shape != X.shape[1:]:
                raise ValueError(f"factors multiply to shape {end.shape}, not {X.shape[1:]}")
        self.steps = None if steps is None else np.asarray(steps, dtype=np.int64)
        if self.steps is not None and self.steps.shape != (T,):
            raise ValueError(f"steps must have shape ({T},), got {self.steps.shape}")
        self._measures()

    def _measures(self):
        finite = np.all(np.isfinite(self.X), axis=(-2, -1))
        safe = np.where(finite[:, None, None], self.X, 0.0)
        s = np.linalg.svd(safe, compute_uv=False)
        s[~finite] = np.nan
        self.singular_values = s
        with np.errstate(over="ignore", invalid="ignore"):
            self.frobenius_norm = np.linalg.norm(s, axis=-1)
            self.nuclear_norm = np.sum(s, axis=-1)
            er = effective_rank_from_singular_values(np.where(finite[:, None], s, 0.0))
        self.effective_rank = np.where(finite, er, np.nan)
        self.det_sign = self.log_abs_det = None
        if self.X.shape[1] == self.X.shape[2]:
            sign, logdet = np.linalg.slogdet(safe)
            self.det_sign = np.where(finite, sign, np.nan)
            self.log_abs_det = np.where(finite, logdet, np.nan)

    # -- convenience ------------------------------------------------------------------------
    @property
    def shape(self):
        """End-to-end shape ``(m, n)``."""
        return self.X.shape[1:]

    @property
    def final_X(self):
        """Last recorded end-to-end matrix, shape [m, n]."""
        return self.X[-1]

    def summary(self):
        """One-paragraph readable description of the run."""
        lines = [
            f"{self.mode} trajectory, X of shape {self.shape}, {len(self)} records, "
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
        return (
            f"Trajectory(mode={self.mode!r}, shape={self.shape}, records={len(self)}, "
            f"status={self.status!r}, final_loss={self.final_loss:.4g})"
        )

    # -- files ---------------------------------------------------------------------------------
    def save(self, path):
        """Write the trajectory to ``path`` (``.npz``) via :func:`geodln.storage.save_arrays`.

        Parameters
        ----------
        path : str or os.PathLike
        """
        arrays = {"times": self.times, "X": self.X, "loss": self.loss}
        if self.balance_defect is not None:
            arrays["balance_defect"] = self.balance_defect
        if self.steps is not None:
            arrays["steps"] = self.steps
        n_factors = 0
        if self.factors is not None:
            n_factors = len(self.factors)
            for p, w in enumerate(self.factors):
                arrays[f"factor_{p}"] = w
        save_arrays(path, arrays, KIND, self._run_meta(n_factors=n_factors))

    @classmethod
    def load(cls, path):
        """Read a trajectory written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        trajectory : Trajectory

        Raises
        ------
        ValueError
            If the file is truncated, foreign, or its arrays are inconsistent.
        """
        arrays, meta = load_arrays(path, KIND)
        try:
            n_factors = int(meta.get("n_factors", 0))
            factors = [arrays[f"factor_{p}"] for p in range(n_factors)] or None
            return cls(
                arrays["times"],
                arrays["X"],
                arrays["loss"],
                balance_defect=arrays.get("balance_defect"),
                factors=factors,
                steps=arrays.get("steps"),
                **cls._run_kwargs(meta),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a valid trajectory file: missing {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"{path} is not a valid trajectory file: {exc}") from exc
