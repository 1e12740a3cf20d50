r"""Downstairs DLN gradient flow on factored rank-r points: a projected Runge–Kutta integrator.

The flow :math:`\dot X = -A_{N,X}(\nabla E(X))` (ACH18, Theorem 1; BRTW21) is a *tangent*
field on :math:`M_r` (A maps onto :math:`T_X M_r`), so the exact solution from a rank-r start
stays rank r and no tangent-projection modelling error arises. We integrate it with
**projected explicit Runge–Kutta** methods (Kieri & Vandereycken, *Projection methods for
dynamical low-rank approximation of high-dimensional problems*, CMAM 19 (2019)): every stage
point is the metric projection (truncated SVD) of
:math:`X_n + h\sum_j a_{ij} K_j`, where :math:`K_j = -A_{Y_j}(\nabla E(Y_j))` is evaluated in
factored form at the stage point :math:`Y_j`; the step is
:math:`X_{n+1} = P_{M_r}(X_n + h\sum_j b_j K_j)`. Each sum is a matrix of rank ≤ r + 2r·s held
as ``(L, R)``, truncated by two thin QRs and a small SVD
(:mod:`geodln.lowrank.retraction`). The integrator is the engine's
per-member embedded Runge–Kutta method (:func:`geodln.flows.integrate_batch`: Dormand–Prince
5(4) ``"RK45"`` or Bogacki–Shampine 3(2) ``"RK23"``, tableaux read from scipy, scipy's
step-size controller, event location of the stopping rules on the dense output) on the
factored field :class:`geodln.lowrank.field.FactoredField`, whose retraction is applied after
every stage, with the error measured in the Frobenius norm: accept when
:math:`\|h\sum_j e_j K_j\|_F \le atol + rtol\,\max(\|X\|_F, \|X_{new}\|_F)`. A batch of
starts is integrated together, a step size per member.

Why this scheme rather than projector splitting (KSL, Lubich–Oseledets 2014) or BUG
(Ceruti–Lubich 2022): those are robust to small singular values for *any* field but are first
(KSL: second with Strang splitting) order, so reaching 1e-6 agreement with the dense flow costs
thousands of steps; their advantage is robustness against the :math:`1/\sigma_r` curvature of
:math:`M_r`, which enters when the field has a large normal-to-range component at a small
:math:`\sigma_r`. The DLN field damps exactly those components: its mixed blocks carry the
eigenvalue :math:`\ell_k = \sigma_k^{2-2/N}` (CMV23, Lemma 2.4), so the singular-vector velocity
:math:`\dot U = U_p\Sigma^{-1}` has size :math:`O(\sigma_k^{1-2/N})`, bounded as
:math:`\sigma_k \to 0` for N ≥ 2, and the curvature term of a projected step is
:math:`O(h^2 \sigma^{3-4/N})`. For N ≥ 2 the projected RK keeps its full order down to tiny
singular values; for N = 1 (Euclidean field) it is a plain projected method without that
guarantee. Measured (``tests/test_lowrank_flows.py``): X(t) agrees with the dense flow and the
upstairs flow on bottleneck factors to < 1e-6 relative at rtol 1e-10–1e-11, also with
:math:`\sigma_r = 10^{-8}`; a tiny :math:`\sigma_r` itself is resolved only to the
*absolute* accuracy of the Frobenius-norm error control (≈ rtol·‖X‖, and eps·σ₁ per step from
the truncated SVD), i.e. 3e-3 relative for :math:`\sigma_r = 10^{-8}` at rtol 1e-10 — the
dense flow has the same limitation; only the upstairs (factor) integration resolves it
relatively. ``benchmarks/bench_lowrank.py`` records error vs rtol (RK45: 6e-8 at rtol 1e-8).

Cost per stage: one sparse gradient (O(|Ω| r) for completion), two sparse products, the
kernel on r×r eigenvalues, and a QR of an m×k and an n×k matrix (k ≤ 13r for RK45): no m×n
array, cost independent of the depth.
"""

import numpy as np

from geodln._checks import (
    check_finite,
    check_nonnegative_real,
    check_positive_int,
    check_positive_real,
    real_scalar,
)
from geodln.flows.ode import Solver
from geodln.flows.recording import as_record
from geodln.flows.runge_kutta import integrate_batch
from geodln.lowrank.cometric import as_factored_metric
from geodln.lowrank.descent import check_start
from geodln.lowrank.driver import as_batch, check_loss, engine_rules
from geodln.lowrank.field import FactoredField

__all__ = ["lowrank_flow", "FlowOptions", "METHODS"]

#: The embedded pairs of the factored flow (a single error estimator each).
METHODS = ("RK45", "RK23")


class FlowOptions:
    """Integrator settings of :func:`lowrank_flow`.

    Parameters
    ----------
    method : {"RK45", "RK23"}
        Embedded projected Runge–Kutta pair.
    rtol, atol : float
        Tolerances on the Frobenius-norm local error estimate (>= 0, not both 0).
    first_step : float, optional
        Initial step (default: the Hairer–Wanner heuristic).
    max_step : float
        Largest step.
    max_steps : int
        Stop a member (status ``"failed"``) after this many accepted steps.

    Raises
    ------
    ValueError
        If a setting is invalid.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\\dot X = -A_{N,X}(\\nabla E)` of balanced factors).
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> FlowOptions(method="RK23", rtol=1e-8).method
    'RK23'
    """

    def __init__(self, method="RK45", rtol=1e-6, atol=1e-9, first_step=None, max_step=np.inf,
                 max_steps=100000):
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        rtol, atol = check_nonnegative_real(rtol, "rtol"), check_nonnegative_real(atol, "atol")
        if rtol == 0 and atol == 0:
            raise ValueError("rtol and atol cannot both be 0")
        if first_step is not None:
            first_step = check_positive_real(first_step, "first_step")
        if real_scalar(max_step) is None or not real_scalar(max_step) > 0:
            raise ValueError(f"max_step must be > 0, got {max_step!r}")
        self.method, self.rtol, self.atol = method, float(rtol), float(atol)
        self.first_step, self.max_step = first_step, float(max_step)
        self.max_steps = check_positive_int(max_steps, "max_steps")


def lowrank_flow(loss, X0, metric=None, t_span=(0.0, 1.0), *, options=None, stop=None,
                 record=None):
    r"""Integrate :math:`\dot X = -A_{X}(\nabla E(X))` on :math:`M_r` in factored form.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
        Anything with ``value_and_gradient(point) -> (float, G)`` where ``G`` supports
        ``G @ V`` and ``G.T @ U`` (sparse matrix, :class:`LowRankOperator`, array).
    X0 : FactoredPoint
        Start: one point, or a batch ``[B, ...]`` (integrated together, each member with its
        own step size and stopping).
    metric : int, numpy.inf, FactoredSpectralMetric, geodln.SpectralMetric or SpectralKernel
        An int is the depth N of :math:`g^N` (plain sum :math:`A_{N,X}`).
    t_span : tuple of float
        ``(t0, t1)`` with ``t1 > t0``.
    options : FlowOptions, optional
        Method, tolerances and step bounds.
    stop : None, StoppingRules or callable, optional
        As in :func:`geodln.lowrank.lowrank_gradient_descent`, checked after each accepted
        step; the loss and norm rules are located inside the step on the dense output.
    record : None, int, Every or At, optional
        Every accepted step (None), every k accepted steps (int, ``Every(k)``), or only at
        given times (``At(times)``: the dense output, retracted to :math:`M_r`, plus the
        stopping point); ``factors=True`` records U and V too, user metrics are evaluated on
        the factored point of a member.

    Returns
    -------
    trajectory : Trajectory
        Factored (``state="factored"``), batched for a batched ``X0``. A run whose state stops
        being finite ends ``status="diverged"`` with its last finite
        state and record.

    Raises
    ------
    ValueError
        If an argument is invalid, ``loss`` is not defined on matrices of ``X0``'s shape, or
        ``loss`` is not finite at ``X0``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (the end-to-end flow).
    .. [2] HNW93: Hairer, Nørsett, Wanner, Solving ODEs I (2nd ed., 1993), Section II.4 (error
       estimate of an embedded pair and step-size control, as :mod:`scipy.integrate` applies
       them to the Dormand–Prince 5(4) pair of DP80).

    Examples
    --------
    >>> from geodln.lowrank import random_sparse_completion, random_factored_point
    >>> loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    >>> x0 = random_factored_point(8, 6, 2, seed=1)
    >>> tr = lowrank_flow(loss, x0, 3, (0.0, 0.5))
    >>> tr.status, bool(tr.final_loss < tr.loss[0])
    ('completed', True)
    """
    options = FlowOptions() if options is None else options
    if not isinstance(options, FlowOptions):
        raise ValueError(f"options must be a FlowOptions, got {options!r}")
    metric = as_factored_metric(metric)
    x0, single = as_batch(check_start(X0))
    check_loss(loss, x0.shape, "X0")
    t_span = check_finite(t_span, "t_span")
    if t_span.shape != (2,):
        raise ValueError(f"t_span must be a pair (t0, t1), got shape {t_span.shape}")
    t0, t1 = (float(v) for v in t_span)
    if not t1 > t0:
        raise ValueError(f"t_span must be (t0, t1) with t1 > t0, got {t_span!r}")
    record = as_record(record)
    if record.times is not None and (record.times[0] < t0 or record.times[-1] > t1):
        raise ValueError(f"record times must lie inside t_span {(t0, t1)}")
    rules = engine_rules(stop)
    budget = rules.max_steps is None
    if budget:  # the options' step budget: a member that exhausts it has "failed"
        rules.max_steps = options.max_steps
    field = FactoredField(loss, metric, x0.shape, x0.rank, record)
    solver = Solver(options.method, rtol=options.rtol, atol=options.atol,
                    max_step=options.max_step, first_step=options.first_step)
    out = integrate_batch(field, field.pack(x0), (t0, t1), rules, solver, record)
    if budget:  # the options' step budget: a member that exhausts it has "failed"
        hit = out.status == "max_steps"
        out.status = np.where(hit, "failed", out.status)
        out.message = np.array([f"max_steps={options.max_steps} exceeded at t={t:.6g}" if h
                                else msg for h, msg, t in zip(hit, out.message,
                                                              out.final_time)])
    return out[0] if single else out
