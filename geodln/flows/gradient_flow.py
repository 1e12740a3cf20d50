r"""Gradient flows downstairs (:math:`\dot X = -A_{N,X}(\nabla E)`) and upstairs (factors).

Both entry points build a velocity field (:mod:`geodln.flows.fields`) and hand it to one
integrator: ``solve_ivp`` for a single start (:func:`geodln.flows.ode.integrate`), the
per-member embedded Runge–Kutta method for a batch of starts
(:func:`geodln.flows.runge_kutta.integrate_batch`). A comparison of the two flows therefore
differs only in the line that turns :math:`\nabla E` into a velocity. A single downstairs run
of depth :math:`N \ge 2` with an explicit method (RK45, DOP853, RK23) also goes through the
per-member engine, which rejects a step that crosses the singular set (``sign det X``, the
rank); see :meth:`geodln.flows.fields.DownstairsField.domain_reference`.

Agreement (Arora–Cohen–Hazan, ACH18, Theorem 1; Bah–Rauhut–Terstiege–Westdickenberg, BRTW21):
from balanced factors with product :math:`X_0`, the upstairs flow's :math:`X(t)` equals the
downstairs flow of the plain-sum :math:`g^N` of the same depth, for any widths; the rank of X
is conserved.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import as_array
from geodln.factors import check_factors
from geodln.flows.fields import DownstairsField, UpstairsField
from geodln.flows.ode import Solver, check_t_span, integrate
from geodln.flows.recording import as_record
from geodln.flows.runge_kutta import BATCH_METHODS, integrate_batch
from geodln.flows.stopping import StoppingRules
from geodln.flows.trajectory import Trajectory
from geodln.losses import as_loss

__all__ = ["downstairs_flow", "upstairs_flow", "run_flow"]

RANK_RTOL = 1e-8


def run_flow(field, y0, batched, t_span, solver=None, stop=None, record=None):
    """Integrate ``field`` from validated states with the right integrator.

    Parameters
    ----------
    field : VectorField
        The velocity field.
    y0 : ndarray, shape=[B, d]
        Start states (``field.pack``).
    batched : bool
        Whether the user gave a batch (the result then keeps the batch axis).
    t_span : tuple of float
        ``(t0, t1)``.
    solver, stop, record
        As in :func:`downstairs_flow`.

    Returns
    -------
    trajectory : Trajectory

    Raises
    ------
    ValueError
        For invalid options (named).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\\dot X = -A_{N,X}(\\nabla E)` of balanced factors).
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505, Abstract
       (the factor flow is a Riemannian gradient flow on rank-r matrices).

    Examples
    --------
    >>> from geodln.flows.fields import DownstairsField
    >>> from geodln.losses import razin_cohen_completion
    >>> field = DownstairsField(razin_cohen_completion(), 2)  # depth 2
    >>> y0 = field.pack(np.stack([0.5 * np.eye(2), 0.3 * np.eye(2)]))  # two members
    >>> from geodln.flows.gradient_flow import run_flow
    >>> traj = run_flow(field, y0, True, (0.0, 1.0))
    >>> traj.status
    array(['completed', 'completed'], dtype='<U9')
    """
    t_span = check_t_span(t_span)
    solver = Solver.coerce(solver)
    rules = StoppingRules.coerce(stop)
    record = as_record(record)
    if not batched:
        return integrate(field, y0, t_span, rules, solver, record)
    if solver.method in BATCH_METHODS or solver.method == "auto":
        return integrate_batch(field, y0, t_span, rules, solver, record)
    return Trajectory.stack([integrate(field, y0[k:k + 1], t_span, rules, solver, record)
                             for k in range(y0.shape[0])])


def _check_on_rank(field, y0):
    r = field.rank
    if r >= min(field.shape):
        return
    s = np.linalg.svd(field.point(y0), compute_uv=False)
    bad = s[:, r] > RANK_RTOL * np.maximum(s[:, 0], np.finfo(float).tiny)
    if bad.any():
        raise ValueError(
            f"X0 has rank > {r}, the rank of the metric's manifold; project it first "
            "(e.g. RankMatrices(m, n, r).projection(X0))"
        )


def downstairs_flow(loss, X0, metric=None, t_span=None, *, solver=None, stop=None, record=None):
    r"""Riemannian gradient flow :math:`\dot X = -A_X(\nabla E(X))` on :math:`M_r`, batched.

    With ``metric=N`` the co-metric is the plain sum
    :math:`A_{N,X}(Z) = \sum_j (XX^\top)^{(N-j)/N} Z (X^\top X)^{(j-1)/N}` (the flow of the
    network's training from a balanced start); CMV's :math:`A_{N,X}/N` is the metric scaled by
    N (:func:`geodln.flows.fields.resolve_metric`); any spectral metric or kernel is accepted.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
        The loss; a plain callable is :math:`E(X)` (autograd-differentiated).
    X0 : array-like, shape=[m, n] or [B, m, n]
        Start point, or a batch of B starts (integrated together, a step size per member).
    metric : int, numpy.inf, SpectralMetric, SpectralKernel or ScalarProductMetric
        The metric; an int N is the plain-sum DLN metric :math:`g^N` on all m×n matrices, a
        metric on :class:`geodln.RankMatrices` of rank r keeps the velocity tangent to
        :math:`M_r`.
    t_span : tuple of float
        ``(t0, t1)``.
    solver : Solver or str, optional
        Method and tolerances (default ``Solver()``: ``"auto"``, rtol 1e-8, atol 1e-10).
    stop : StoppingRules or callable, optional
        Stopping rules (a callable is the user rule ``stop(t, X, loss)``).
    record : Every, At or int, optional
        What to record (default: every accepted step).

    Returns
    -------
    trajectory : Trajectory
        ``mode="downstairs"``; batched for a batched ``X0``; ``n_rhs`` counts velocity
        evaluations.

    Raises
    ------
    ValueError
        For an invalid argument (named), a start off the metric's rank, or a loss that is not
        finite at the start (naming ``loss``).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> from geodln.losses import razin_cohen_completion
    >>> tr = downstairs_flow(razin_cohen_completion(), 0.1 * np.eye(2), 2, (0.0, 1.0))
    >>> tr.status, tr.final_X.shape
    ('completed', (2, 2))
    """
    shape = as_array(X0, "X0").shape[-2:] if as_array(X0, "X0").ndim >= 2 else None
    loss = as_loss(loss, shape)
    if metric is None:
        raise ValueError("metric is required: a depth N (int or numpy.inf) or a metric object")
    field = DownstairsField(loss, metric)
    y0 = field.pack(X0)
    _check_on_rank(field, y0)
    return run_flow(field, y0, np.ndim(X0) == 3, t_span, solver, stop, record)


def upstairs_flow(loss, factors0, t_span=None, *, solver=None, stop=None, record=None):
    r"""Euclidean gradient flow of :math:`E\circ\phi` on the factors (the network's training).

    :math:`\dot W_p = -\nabla_{W_p}(E\circ\phi) = -W_{N:p+1}^\top\nabla E(X)W_{p-1:1}^\top`
    (:func:`geodln.factors.product_adjoint`), any widths. Conserves
    :math:`W_{p+1}^\top W_{p+1} - W_pW_p^\top`.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
        The loss on the end-to-end matrix.
    factors0 : list of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``(d_p, d_{p-1})`` or ``(B, d_p, d_{p-1})``.
    t_span : tuple of float
        ``(t0, t1)``.
    solver, stop, record
        As in :func:`downstairs_flow`.

    Returns
    -------
    trajectory : Trajectory
        ``mode="upstairs"``, with ``balance_defect`` per record and the final ``factors``.

    Raises
    ------
    ValueError
        For an invalid argument (named) or a loss that is not finite at the start.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

    Examples
    --------
    >>> from geodln.losses import razin_cohen_completion
    >>> tr = upstairs_flow(razin_cohen_completion(), [0.3 * np.eye(2)] * 2, (0.0, 1.0))
    >>> bool(tr.balance_defect.max() < 1e-8)
    True
    """
    factors0 = check_factors(factors0, "factors0")
    loss = as_loss(loss, (factors0[-1].shape[-2], factors0[0].shape[-1]))
    field = UpstairsField.from_factors(loss, factors0)
    y0 = field.pack(factors0)
    return run_flow(field, y0, np.ndim(factors0[0]) == 3, t_span, solver, stop, record)
