r"""Downstairs DLN gradient flow on factored rank-r points: a projected Runge–Kutta integrator.

The flow :math:`\dot X = -A_{N,X}(\nabla E(X))` (reference §2; ACH Thm 1, BRTW) is a *tangent*
field on :math:`M_r` (A maps onto :math:`T_X M_r`), so the exact solution from a rank-r start
stays rank r and no tangent-projection modelling error arises. We integrate it with
**projected explicit Runge–Kutta** methods (Kieri & Vandereycken, *Projection methods for
dynamical low-rank approximation of high-dimensional problems*, CMAM 19 (2019)): every stage
point is the metric projection (truncated SVD) of
:math:`X_n + h\sum_j a_{ij} K_j`, where :math:`K_j = -A_{Y_j}(\nabla E(Y_j))` is evaluated in
factored form at the stage point :math:`Y_j`; the step is
:math:`X_{n+1} = P_{M_r}(X_n + h\sum_j b_j K_j)`. Each sum is a matrix of rank ≤ r + 2r·s held
as ``(L, R)``, truncated by two thin QRs and a small SVD
(:mod:`geodln.lowrank.retraction`). The step size is controlled by the embedded pair
(Dormand–Prince 5(4) ``"RK45"`` or Bogacki–Shampine 3(2) ``"RK23"``, the tableaux and the
controller of :func:`scipy.integrate.solve_ivp`), with the error measured in the Frobenius
norm: accept when :math:`\|h\sum_j e_j K_j\|_F \le atol + rtol\,\|X\|_F`.

Why this scheme rather than projector splitting (KSL, Lubich–Oseledets 2014) or BUG
(Ceruti–Lubich 2022): those are robust to small singular values for *any* field but are first
(KSL: second with Strang splitting) order, so reaching 1e-6 agreement with the dense flow costs
thousands of steps; their advantage is robustness against the :math:`1/\sigma_r` curvature of
:math:`M_r`, which enters when the field has a large normal-to-range component at a small
:math:`\sigma_r`. The DLN field damps exactly those components: its mixed blocks carry the
eigenvalue :math:`\ell_k = \sigma_k^{2-2/N}` (reference §2), so the singular-vector velocity
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

import time

import numpy as np

from geodln._checks import check_finite, check_positive_int
from geodln.flows.stopping import StoppingRules
from geodln.lowrank.cometric import FactoredDLNMetric, FactoredSpectralMetric
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import combine, frobenius_norm_of_product, truncated_svd_of_product
from geodln.lowrank.trajectory import LowRankTrajectory

__all__ = ["lowrank_flow", "factored_velocity", "start_point", "TABLEAUX"]

#: Butcher tableaux (c, a, b, e, order of the error estimator) as in scipy's RK45 / RK23.
TABLEAUX = {
    "RK45": (
        np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1]),
        [
            [],
            [1 / 5],
            [3 / 40, 9 / 40],
            [44 / 45, -56 / 15, 32 / 9],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
        ],
        np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]),
        np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40]),
        4,
    ),
    "RK23": (
        np.array([0, 1 / 2, 3 / 4]),
        [[], [1 / 2], [0, 3 / 4]],
        np.array([2 / 9, 1 / 3, 4 / 9]),
        np.array([5 / 72, -1 / 12, -1 / 9, 1 / 8]),
        2,
    ),
}

SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


def metric_of(depth, normalized, metric):
    """Return the factored metric from ``depth``/``normalized`` or a (dense or factored) metric."""
    if metric is not None:
        if isinstance(metric, FactoredSpectralMetric):
            return metric
        return FactoredSpectralMetric.from_metric(metric)
    if depth is None:
        raise ValueError("give depth (or a metric)")
    return FactoredDLNMetric(depth, normalized)


def start_point(X0, rank):
    """Validate the start: a :class:`FactoredPoint` (``rank`` must match) or a dense matrix."""
    if isinstance(X0, FactoredPoint):
        if rank is not None and rank != X0.rank:
            raise ValueError(f"rank={rank} does not match the rank {X0.rank} of X0")
        return X0.copy()
    if isinstance(X0, np.ndarray):
        return FactoredPoint.from_dense(X0, rank)
    raise ValueError(f"X0 must be a FactoredPoint or a dense array, got {type(X0).__name__}")


def factored_velocity(loss, metric, point):
    r"""``(E(X), K)`` with :math:`K = -A_X(\nabla E(X))` as a :class:`FactoredTangent`."""
    value, grad = loss.value_and_gradient(point)
    return value, -1.0 * metric.sharp(grad, point)


class _Recorder:
    def __init__(self, store_factors):
        self.store = store_factors
        self.t, self.s, self.loss, self.u, self.v = [], [], [], [], []

    def add(self, t, point, loss):
        self.t.append(t)
        self.s.append(point.s.copy())
        self.loss.append(loss)
        if self.store:
            self.u.append(point.u.copy())
            self.v.append(point.v.copy())

    def result(self, final, **kwargs):
        uv = dict(u=np.array(self.u), v=np.array(self.v)) if self.store else {}
        return LowRankTrajectory(np.array(self.t), np.array(self.s), np.array(self.loss),
                                 final, **uv, **kwargs)


def check_rules(rules, stop, t, point, loss):
    """Apply :class:`geodln.flows.stopping.StoppingRules` (norm from σ) and a user rule."""
    hit = rules.check(t, point.s, loss)
    if hit is None and stop is not None and bool(stop(t, point, loss)):
        hit = ("stopped", f"user stopping rule fired at t={t:.6g}")
    return hit


def descent_schedule(step_size, n_steps, record_every, loss_tol, max_norm, max_wall_time):
    """Validate the arguments of a discrete descent; return ``(eta, n_steps, record_every, rules)``.

    Raises
    ------
    ValueError
        If ``step_size`` is not a positive finite number, or a count is invalid.
    """
    eta = float(step_size)
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"step_size must be a positive finite number, got {step_size!r}")
    n_steps = check_positive_int(n_steps, "n_steps", minimum=0)
    record_every = check_positive_int(record_every, "record_every")
    rules = StoppingRules(loss_tol, max_norm, None, max_wall_time)
    return eta, n_steps, record_every, rules


def lowrank_flow(loss, X0, depth=None, t_span=(0.0, 1.0), *, normalized=False, rank=None,
                 metric=None, method="RK45", rtol=1e-6, atol=1e-9, t_eval=None,
                 first_step=None, max_step=np.inf, max_steps=100000, loss_tol=None,
                 max_norm=None, stop=None, max_wall_time=None, store_factors=False):
    r"""Integrate :math:`\dot X = -A_{N,X}(\nabla E(X))` on :math:`M_r` in factored form.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
        Anything with ``value_and_gradient(point) -> (float, G)`` where ``G`` supports
        ``G @ V`` and ``G.T @ U`` (sparse matrix, :class:`LowRankOperator`, array).
    X0 : FactoredPoint or ndarray
        Start; a dense array is truncated to ``rank`` by an SVD (small problems).
    depth : int or numpy.inf
        Depth N of :math:`g^N` (not needed with ``metric``).
    t_span : tuple of float
        ``(t0, t1)`` with ``t1 > t0``.
    normalized : bool
        CMV's :math:`A_{N,X}/N` instead of the plain sum (reference §2).
    rank : int, optional
        Rank r (checked against ``X0``).
    metric : FactoredSpectralMetric or geodln.SpectralMetric, optional
        Any spectral metric instead of :math:`g^N`.
    method : {"RK45", "RK23"}
        Embedded projected Runge–Kutta pair.
    rtol, atol : float
        Tolerances on the Frobenius-norm local error estimate.
    t_eval : array-like, optional
        Record only at these times (the steps are shortened to land on them); default: every
        accepted step.
    first_step, max_step : float, optional
        Step-size bounds.
    max_steps : int
        Abort (status ``"failed"``) after this many attempted steps.
    loss_tol, max_norm, stop, max_wall_time
        Stopping rules as in :func:`geodln.downstairs_flow`; ``stop(t, point, loss)`` receives
        the :class:`FactoredPoint`. They are checked after each accepted step (no root
        finding: the run ends at the first step end where a rule holds).
    store_factors : bool
        Also record ``U``, ``V`` at each record (O(T (m + n) r) memory).

    Returns
    -------
    trajectory : LowRankTrajectory
    """
    clock = time.perf_counter()
    if method not in TABLEAUX:
        raise ValueError(f"method must be one of {sorted(TABLEAUX)}, got {method!r}")
    metric = metric_of(depth, normalized, metric)
    t0, t1 = (float(v) for v in check_finite(t_span, "t_span"))
    if not t1 > t0:
        raise ValueError(f"t_span must be (t0, t1) with t1 > t0, got {t_span!r}")
    max_steps = check_positive_int(max_steps, "max_steps")
    for name, val in (("rtol", rtol), ("atol", atol)):
        if not (np.isfinite(val) and val >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}")
    if rtol == 0 and atol == 0:
        raise ValueError("rtol and atol cannot both be 0")
    targets = None
    if t_eval is not None:
        targets = np.sort(check_finite(t_eval, "t_eval").reshape(-1))
        if targets.size == 0 or targets[0] < t0 or targets[-1] > t1:
            raise ValueError(f"t_eval must be non-empty and inside t_span {(t0, t1)}")
    rules = StoppingRules(loss_tol, max_norm, None, max_wall_time)
    if stop is not None and not callable(stop):
        raise ValueError("stop must be a callable stop(t, point, loss) -> bool")
    c, a, b, e, err_order = TABLEAUX[method]
    x = start_point(X0, rank)
    r = x.rank
    rec = _Recorder(store_factors)
    value, k_first = factored_velocity(loss, metric, x)
    n_rhs = 1
    t = t0
    tpos = 0
    if targets is None or targets[0] == t0:
        rec.add(t, x, value)
        tpos = 0 if targets is None else 1
    status, message = "completed", f"reached t1={t1:g}"
    hit = check_rules(rules, stop, t, x, value)
    if hit is not None:
        status, message = hit
    # initial step (Hairer–Wanner heuristic, Frobenius norms)
    if first_step is None:
        scale = atol + rtol * x.frobenius_norm()
        d0 = x.frobenius_norm() / scale
        d1 = k_first.frobenius_norm() / scale
        h = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    else:
        h = float(first_step)
    h = min(h, max_step, t1 - t0)
    n_attempts = 0
    rejected = False
    while hit is None and t < t1:
        n_attempts += 1
        if n_attempts > max_steps:
            status, message = "failed", f"max_steps={max_steps} exceeded at t={t:.6g}"
            break
        h = min(h, max_step, t1 - t)
        landing = None
        if targets is not None and tpos < targets.size and t + h >= targets[tpos]:
            h, landing = targets[tpos] - t, targets[tpos]
        if h <= 1e-14 * max(1.0, abs(t)):
            status, message = "failed", f"step size underflow at t={t:.6g}"
            break
        ks, pts = [k_first], [x]
        for i in range(1, len(c)):
            terms = [(h * a[i][j], ks[j], pts[j]) for j in range(i)]
            y = truncated_svd_of_product(*combine(x, terms), r)
            ks.append(factored_velocity(loss, metric, y)[1])
            pts.append(y)
        n_rhs += len(c) - 1
        terms = [(h * b[j], ks[j], pts[j]) for j in range(len(b))]
        x_new = truncated_svd_of_product(*combine(x, terms), r)
        value_new, k_new = factored_velocity(loss, metric, x_new)
        n_rhs += 1
        ks.append(k_new)
        pts.append(x_new)
        err_left, err_right = combine(None, [(h * e[j], ks[j], pts[j]) for j in range(len(e))])
        err = frobenius_norm_of_product(err_left, err_right)
        tol = atol + rtol * max(x.frobenius_norm(), x_new.frobenius_norm())
        err_norm = err / tol
        if err_norm <= 1.0 and np.isfinite(value_new):
            factor = MAX_FACTOR if err_norm == 0 else min(
                MAX_FACTOR, SAFETY * err_norm ** (-1.0 / (err_order + 1))
            )
            if rejected:
                factor = min(1.0, factor)
            t = landing if landing is not None else t + h
            x, k_first, value = x_new, k_new, value_new
            if targets is None:
                rec.add(t, x, value)
            elif landing is not None:
                rec.add(t, x, value)
                tpos += 1
            hit = check_rules(rules, stop, t, x, value)
            if hit is not None:
                status, message = hit
                if targets is not None and landing is None:
                    rec.add(t, x, value)
            h = h * factor
            rejected = False
        else:
            factor = MIN_FACTOR if not np.isfinite(err_norm) else max(
                MIN_FACTOR, SAFETY * err_norm ** (-1.0 / (err_order + 1))
            )
            h = h * factor
            rejected = True
    meta = {"method": method, "rtol": rtol, "atol": atol, "rank": r,
            "kernel": repr(metric.kernel), "n_steps": n_attempts,
            "integrator": "projected Runge-Kutta (Kieri-Vandereycken 2019)"}
    return rec.result(x, mode="downstairs", status=status, message=message, n_rhs=n_rhs,
                      wall_time=time.perf_counter() - clock, metadata=meta)
