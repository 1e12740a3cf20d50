r"""Upstairs vs downstairs from the same balanced start: :func:`compare_flows`.

Runs :func:`~geodln.flows.gradient_flow.upstairs_flow` on balanced factors and
:func:`~geodln.flows.gradient_flow.downstairs_flow` (plain-sum :math:`g^N`, same depth) on
their product, records both on a common time grid and reports the relative deviation

.. math:: \delta(t) = \|X_{up}(t) - X_{down}(t)\|_F \,/\, \|X_{up}(t)\|_F,

which is zero in exact arithmetic (Arora–Cohen–Hazan, ACH18, Theorem 1; BRTW21), together
with what each run cost (wall time, right-hand-side evaluations) and where it ended (final
loss, status).
"""

import numpy as np

from geodln._checks import check_depth, check_matrix, check_nonnegative_real, is_factor_list
from geodln.factors import balance_defect, balanced_factors, check_factors, product
from geodln.flows.fields import DownstairsField, UpstairsField
from geodln.flows.gradient_flow import run_flow
from geodln.flows.ode import check_t_span
from geodln.flows.recording import At, as_record
from geodln.losses import as_loss
from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices

__all__ = ["compare_flows", "FlowComparison", "numerical_rank"]

RANK_RTOL = 1e-10
BALANCE_TOL = 1e-8


def numerical_rank(x, rtol=RANK_RTOL):
    """Count the singular values above ``rtol * sigma_max`` (0 for the zero matrix).

    Parameters
    ----------
    x : array-like, shape=[m, n]
        A matrix.
    rtol : float
        Relative threshold, >= 0.

    Returns
    -------
    rank : int

    Raises
    ------
    ValueError
        If ``x`` is not a finite matrix or ``rtol`` is not a finite real number >= 0 (bools
        are not numbers).

    Examples
    --------
    >>> numerical_rank(np.diag([1.0, 1e-12]))
    1
    """
    rtol = check_nonnegative_real(rtol, "rtol")
    s = np.linalg.svd(check_matrix(x, "x", allow_batch=False), compute_uv=False)
    return int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0


class FlowComparison:
    """Result of :func:`compare_flows`.

    Attributes
    ----------
    upstairs, downstairs : Trajectory
        The two runs, recorded on the same time grid (plus each run's stopping point).
    times : ndarray, shape=[T]
        Times recorded by both runs.
    deviation : ndarray, shape=[T]
        Relative deviation :math:`\\|X_{up} - X_{down}\\|_F / \\|X_{up}\\|_F` at ``times``.
    max_deviation : float
        Largest entry of ``deviation``.
    depth : int
    rank : int
        Rank of the start (the downstairs flow runs on :math:`M_r` for N >= 2).
    name : str
        Problem label.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\\dot X = -A_{N,X}(\\nabla E)` of balanced factors).
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505, Abstract
       (the factor flow is a Riemannian gradient flow on rank-r matrices).

    Examples
    --------
    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 2.0], shape=(2, 2))
    >>> cmp = geodln.compare_flows(loss, 0.1 * np.eye(2), depth=2, t_span=(0.0, 2.0))
    >>> cmp.depth, cmp.upstairs.mode, cmp.downstairs.mode
    (2, 'upstairs', 'downstairs')
    """

    def __init__(self, upstairs, downstairs, depth, rank, name=""):
        self.upstairs, self.downstairs = upstairs, downstairs
        self.depth, self.rank, self.name = int(depth), int(rank), str(name)
        if upstairs.batch_size is None:
            self.times, self.deviation = self._deviation(upstairs, downstairs)
        else:
            pairs = [self._deviation(u, d) for u, d in zip(upstairs, downstairs)]
            t_len = max(p[0].size for p in pairs)
            self.times = np.full((len(pairs), t_len), np.nan)
            self.deviation = np.full((len(pairs), t_len), np.nan)
            for k, (t, dev) in enumerate(pairs):
                self.times[k, :t.size], self.deviation[k, :t.size] = t, dev
        self.max_deviation = float(np.nanmax(self.deviation)) if np.isfinite(
            self.deviation).any() else float("nan")

    @staticmethod
    def _deviation(up, down):
        common, iu, idn = np.intersect1d(up.times, down.times, return_indices=True)
        xu, xd = up.X[iu], down.X[idn]
        scale = np.maximum(np.linalg.norm(xu, axis=(-2, -1)), np.finfo(float).tiny)
        return common, np.linalg.norm(xu - xd, axis=(-2, -1)) / scale

    @property
    def shape(self):
        """End-to-end shape ``(m, n)``."""
        return self.upstairs.shape

    def as_dict(self):
        """Scalars of the comparison as a JSON-serialisable dict (one table row)."""
        up, down = self.upstairs, self.downstairs

        def plain(v):
            return v.tolist() if isinstance(v, np.ndarray) else v

        return {k: plain(v) for k, v in {
            "problem": self.name,
            "shape": list(self.shape),
            "depth": self.depth,
            "rank": self.rank,
            "max_rel_deviation": self.max_deviation,
            "t_final_up": up.final_time,
            "t_final_down": down.final_time,
            "time_up_s": up.wall_time,
            "time_down_s": down.wall_time,
            "rhs_up": up.n_rhs,
            "rhs_down": down.n_rhs,
            "final_loss_up": up.final_loss,
            "final_loss_down": down.final_loss,
            "status_up": up.status,
            "status_down": down.status,
        }.items()}

    def summary(self):
        """Readable multi-line summary."""
        d = self.as_dict()
        if self.upstairs.batch_size is not None:
            return (f"{self.name or 'problem'}: batch of {self.upstairs.batch_size}, depth "
                    f"{self.depth}, max relative deviation {self.max_deviation:.3g}")
        return "\n".join([
            f"{self.name or 'problem'}: {self.shape[0]}x{self.shape[1]}, depth {self.depth}, "
            f"rank {self.rank}",
            f"  max relative deviation of X(t): {d['max_rel_deviation']:.3g} "
            f"over {self.times.size} common times",
            f"  upstairs:   {d['time_up_s']:.3g} s, {d['rhs_up']} RHS evals, final loss "
            f"{d['final_loss_up']:.4g} ({d['status_up']})",
            f"  downstairs: {d['time_down_s']:.3g} s, {d['rhs_down']} RHS evals, final loss "
            f"{d['final_loss_down']:.4g} ({d['status_down']})",
        ])

    def __repr__(self):
        return (
            f"FlowComparison(name={self.name!r}, depth={self.depth}, "
            f"max_deviation={self.max_deviation:.3g})"
        )


def compare_flows(loss, start, depth=None, t_span=None, *, solver=None, stop=None, record=None,
                  name=""):
    r"""Run both flows from the same balanced start and compare :math:`X(t)`.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
        The loss.
    start : array-like or list of array-like
        ``X0`` ``[m, n]`` (any array-like, e.g. a nested list of rows; a batch ``[B, m, n]``
        as an ndarray), lifted to balanced factors of depth
        ``depth`` with identity hidden frames, or balanced factors ``[W_1, ..., W_N]`` (each
        ``[d_p, d_{p-1}]`` or ``[B, d_p, d_{p-1}]``; build other lifts with
        :func:`geodln.init.from_matrix`).
    depth : int, optional
        N >= 1 (default: the number of factors).
    t_span : tuple of float
        ``(t0, t1)``.
    solver, stop : optional
        Passed to both flows (:func:`geodln.downstairs_flow`).
    record : At, optional
        Common recording times (default: 101 equally spaced times of ``t_span``).
    name : str
        Problem label for tables.

    Returns
    -------
    result : FlowComparison

    Raises
    ------
    ValueError
        If the factors are not balanced (relative defect > 1e-8), ``depth`` disagrees with
        them, the start is zero, or any argument is invalid (named).

    Notes
    -----
    The downstairs flow uses the plain-sum :math:`A_{N,X}` (the exact submersion of the
    Frobenius metric upstairs). For N >= 2 it runs on :math:`M_r`, r the numerical rank of
    :math:`X_0` (the upstairs flow conserves it); for N = 1 the upstairs flow is the Euclidean
    flow of all m×n matrices, so the downstairs flow is run on full rank.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505, Abstract
       (the factor flow is a Riemannian gradient flow on rank-r matrices).

    Examples
    --------
    >>> from geodln.losses import razin_cohen_completion
    >>> res = compare_flows(razin_cohen_completion(), 0.5 * np.eye(2), 2, (0.0, 1.0))
    >>> bool(res.max_deviation < 1e-5)
    True
    """
    t_span = check_t_span(t_span)
    if is_factor_list(start):
        factors = check_factors(start, "start")
        if depth is not None and check_depth(depth, allow_inf=False) != len(factors):
            raise ValueError(f"depth={depth} but start holds {len(factors)} factors")
        depth = len(factors)
        defect = float(np.max(balance_defect(factors, relative=True)))
        if defect > BALANCE_TOL:
            raise ValueError(
                f"start: factors are not balanced (relative defect {defect:.2g} > "
                f"{BALANCE_TOL:g}); the flows agree only from balanced factors"
            )
    else:
        if depth is None:
            raise ValueError("depth is required for a matrix start")
        depth = check_depth(depth, allow_inf=False)
        x0 = check_matrix(start, "start")
        factors = balanced_factors(x0, depth, frames="identity")
    x0 = product(factors)
    batched = x0.ndim == 3
    loss = as_loss(loss, x0.shape[-2:])
    if tuple(x0.shape[-2:]) != tuple(loss.shape):
        raise ValueError(f"start has shape {x0.shape[-2:]} but the loss is defined on "
                         f"{loss.shape}")
    xs = x0.reshape((-1,) + x0.shape[-2:])
    ranks = [numerical_rank(x) for x in xs]
    if min(ranks) == 0:
        raise ValueError("start: the end-to-end matrix is zero (a critical point of both flows)")
    if len(set(ranks)) > 1:
        raise ValueError(f"start: the members have different ranks {sorted(set(ranks))}")
    r = ranks[0]
    record = At(np.linspace(*t_span, 101)) if record is None else as_record(record)
    if record.times is None:
        raise ValueError("record must be At(times) for a comparison (common recording times)")
    up_field = UpstairsField.from_factors(loss, factors, "start")
    up = run_flow(up_field, up_field.pack(factors), batched, t_span, solver, stop, record)
    m, n = x0.shape[-2:]
    down_rank = r if (depth >= 2 and r < min(m, n)) else None
    if down_rank is not None:  # exact rank-r start for M_r (drop the lift's rounding)
        u, s, vt = np.linalg.svd(x0, full_matrices=False)
        x0 = (u[..., :r] * s[..., None, :r]) @ vt[..., :r, :]
    down_field = DownstairsField(loss, DLNMetric(RankMatrices(m, n, down_rank, equip=False),
                                                 depth))
    down = run_flow(down_field, down_field.pack(x0), batched, t_span, solver, stop, record)
    return FlowComparison(up, down, depth, r, name=name)
