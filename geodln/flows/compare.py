r"""Upstairs vs downstairs from the same balanced start: :func:`compare_flows`.

Runs :func:`~geodln.flows.gradient_flow.upstairs_flow` on balanced factors and
:func:`~geodln.flows.gradient_flow.downstairs_flow` (plain-sum :math:`g^N`, same depth) on
their product, records both on a common time grid and reports the relative deviation

.. math:: \delta(t) = \|X_{up}(t) - X_{down}(t)\|_F \,/\, \|X_{up}(t)\|_F,

which is zero in exact arithmetic (ACH18, Theorem 1; BRTW21), together with what each run
cost (wall time, right-hand-side evaluations) and where it ended (final loss, status).
"""

import numpy as np

from geodln._checks import check_depth, check_matrix
from geodln.factors import balance_defect, balanced_factors, check_factors, product
from geodln.flows.gradient_flow import as_loss, downstairs_flow, upstairs_flow
from geodln.flows.ode import check_t_span

__all__ = ["compare_flows", "FlowComparison", "numerical_rank"]

RANK_RTOL = 1e-10


def numerical_rank(x, rtol=RANK_RTOL):
    """Count the singular values above ``rtol * sigma_max`` (0 for the zero matrix)."""
    s = np.linalg.svd(np.asarray(x, float), compute_uv=False)
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
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505 (Riemannian gradient
       flow on rank-r matrices).

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
        common, iu, idn = np.intersect1d(upstairs.times, downstairs.times, return_indices=True)
        xu, xd = upstairs.X[iu], downstairs.X[idn]
        scale = np.maximum(np.linalg.norm(xu, axis=(-2, -1)), np.finfo(float).tiny)
        self.times = common
        self.deviation = np.linalg.norm(xu - xd, axis=(-2, -1)) / scale
        self.max_deviation = float(np.max(self.deviation)) if common.size else float("nan")

    @property
    def shape(self):
        """End-to-end shape ``(m, n)``."""
        return self.upstairs.shape

    def as_dict(self):
        """Scalars of the comparison as a JSON-serialisable dict (one table row)."""
        up, down = self.upstairs, self.downstairs
        return {
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
        }

    def summary(self):
        """Readable multi-line summary."""
        d = self.as_dict()
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


def compare_flows(loss, start, depth=None, t_span=None, *, widths=None, rank=None, seed=None,
                  n_grid=101, t_eval=None, method="RK45", rtol=1e-8, atol=1e-10, loss_tol=None,
                  max_norm=None, stop=None, max_wall_time=None, balance_tol=1e-8, name=""):
    r"""Run both flows from the same balanced start and compare :math:`X(t)`.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
    start : array-like [m, n] or list of array-like
        ``X0`` (lifted to balanced factors of depth ``depth`` with hidden ``widths``, rank
        ``rank`` and random frames from ``seed``) or balanced factors ``[W_1, ..., W_N]``.
    depth : int, optional
        N >= 1 (default: the number of factors).
    t_span : tuple of float
    widths, rank, seed
        For a matrix start: the balanced lift (:func:`geodln.factors.balanced_factors`).
    n_grid : int
        Number of equally spaced common times (ignored if ``t_eval`` is given).
    t_eval : array-like, optional
        Common recording times.
    method, rtol, atol, loss_tol, max_norm, stop, max_wall_time
        Passed to both flows.
    balance_tol : float
        Largest relative balance defect accepted for a factor start.
    name : str
        Problem label for tables.

    Returns
    -------
    result : FlowComparison

    Raises
    ------
    ValueError
        If ``depth`` is not an integer >= 1 (or ``numpy.inf`` where allowed); if ``start`` is
        not a finite real array of matrices [..., m, n] of the expected shape; otherwise with
        the message ``depth=… but start holds … factors``; or ``start: factors are not balanced
        (relative defect … > balance_tol=…); the flows agree only from balanced factors``; or
        ``depth is required for a matrix start``; or ``start has shape … but the loss is defined
        on …``; or ``start: the end-to-end matrix is zero (a critical point of both flows)``.

    Notes
    -----
    The downstairs flow uses the plain-sum :math:`A_{N,X}` (the exact submersion of the
    Frobenius metric upstairs). For N >= 2 it runs on :math:`M_r`, r the numerical rank of
    :math:`X_0` (the upstairs flow conserves it); for N = 1 the upstairs flow is the Euclidean
    flow of all m×n matrices, so the downstairs flow is run on full rank.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505 (Riemannian gradient
       flow on rank-r matrices).

    Examples
    --------
    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 2.0], shape=(2, 2))
    >>> cmp = geodln.compare_flows(loss, 0.1 * np.eye(2), depth=3, t_span=(0.0, 5.0))
    >>> bool(cmp.max_deviation < 1e-5)  # relative deviation of X(t), up vs down
    True
    """
    t_span = check_t_span(t_span)
    if isinstance(start, list | tuple):
        factors = check_factors(start, "start")
        if depth is not None and check_depth(depth, allow_inf=False) != len(factors):
            raise ValueError(f"depth={depth} but start holds {len(factors)} factors")
        depth = len(factors)
        defect = float(balance_defect(factors, relative=True))
        if defect > balance_tol:
            raise ValueError(
                f"start: factors are not balanced (relative defect {defect:.2g} > "
                f"balance_tol={balance_tol:g}); the flows agree only from balanced factors"
            )
    else:
        if depth is None:
            raise ValueError("depth is required for a matrix start")
        depth = check_depth(depth, allow_inf=False)
        x0 = check_matrix(start, "start", allow_batch=False)
        factors = balanced_factors(x0, depth, widths=widths, rank=rank, seed=seed)
    x0 = product(factors)
    loss = as_loss(loss, x0.shape)
    if x0.shape != tuple(loss.shape):
        raise ValueError(f"start has shape {x0.shape} but the loss is defined on {loss.shape}")
    r = numerical_rank(x0)
    if r == 0:
        raise ValueError("start: the end-to-end matrix is zero (a critical point of both flows)")
    down_rank = r if (depth >= 2 and r < min(x0.shape)) else None
    if t_eval is None:
        t_eval = np.linspace(t_span[0], t_span[1], int(n_grid))
    common = dict(method=method, rtol=rtol, atol=atol, t_eval=t_eval, loss_tol=loss_tol,
                  max_norm=max_norm, stop=stop, max_wall_time=max_wall_time)
    up = upstairs_flow(loss, factors, t_span, **common)
    if down_rank is not None:  # exact rank-r start for M_r (drop the lift's rounding)
        u, s, vt = np.linalg.svd(x0, full_matrices=False)
        x0 = (u[:, :r] * s[:r]) @ vt[:r]
    down = downstairs_flow(loss, x0, depth, t_span, rank=down_rank, **common)
    return FlowComparison(up, down, depth, r, name=name)
