r"""Fixed-step Riemannian gradient descent on factored rank-r points.

:math:`X_{k+1} = R_{X_k}(-\eta\,A_{N,X_k}(\nabla E(X_k)))` with the metric-projection
retraction (truncated SVD of :math:`X + \xi`, computed from a 2r×2r core,
:func:`geodln.lowrank.retraction.retract`). This is the low-rank version of the dense
downstairs step :math:`X \leftarrow P_{M_r}(X - \eta A_{N,X}(\nabla E))` of
:func:`geodln.gradient_descent` (ACH's discrete update, reference §2), and agrees with it to
rounding. One step costs O(|Ω| r + (m + n) r² + r³) for completion: no m×n array, independent
of the depth.
"""

import time

import numpy as np

from geodln.lowrank.flow import (
    _Recorder,
    check_rules,
    descent_schedule,
    factored_velocity,
    metric_of,
    start_point,
)
from geodln.lowrank.retraction import retract

__all__ = ["lowrank_gradient_descent"]


def lowrank_gradient_descent(loss, X0, depth=None, step_size=1e-2, n_steps=100, *,
                             normalized=False, rank=None, metric=None, record_every=1,
                             loss_tol=None, max_norm=None, stop=None, max_wall_time=None,
                             store_factors=False):
    r"""Riemannian gradient descent :math:`X \leftarrow R_X(-\eta A_{N,X}(\nabla E))`.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
        Anything with ``value_and_gradient(point)``.
    X0 : FactoredPoint or ndarray
        Start (a dense array is truncated to ``rank``).
    depth : int or numpy.inf
        Depth N (not needed with ``metric``).
    step_size : float
        η > 0.
    n_steps : int
        Number of steps.
    normalized : bool
        CMV's :math:`A_{N,X}/N`.
    rank : int, optional
        Rank r (checked against ``X0``).
    metric : FactoredSpectralMetric or geodln.SpectralMetric, optional
        Any spectral metric instead of :math:`g^N`.
    record_every : int
        Record every this many steps (the first and the last state are always recorded).
    loss_tol, max_norm, stop, max_wall_time
        Stopping rules, checked at every step (``stop(t, point, loss)``).
    store_factors : bool
        Record ``U``, ``V`` too.

    Returns
    -------
    trajectory : LowRankTrajectory
        ``times = step * step_size``; ``steps`` holds the step indices.
    """
    clock = time.perf_counter()
    metric = metric_of(depth, normalized, metric)
    eta, n_steps, record_every, rules = descent_schedule(
        step_size, n_steps, record_every, loss_tol, max_norm, max_wall_time
    )
    if stop is not None and not callable(stop):
        raise ValueError("stop must be a callable stop(t, point, loss) -> bool")
    x = start_point(X0, rank)
    rec = _Recorder(store_factors)
    steps = []
    value, vel = factored_velocity(loss, metric, x)
    rec.add(0.0, x, value)
    steps.append(0)
    status, message = "completed", f"ran {n_steps} steps"
    hit = check_rules(rules, stop, 0.0, x, value)
    k = 0
    while hit is None and k < n_steps:
        x = retract(x, vel, eta)
        k += 1
        value, vel = factored_velocity(loss, metric, x)
        hit = check_rules(rules, stop, k * eta, x, value)
        if k % record_every == 0 or k == n_steps or hit is not None:
            rec.add(k * eta, x, value)
            steps.append(k)
    if hit is not None:
        status, message = hit
    meta = {"step_size": eta, "rank": x.rank, "kernel": repr(metric.kernel),
            "retraction": "metric projection (truncated SVD of a 2r x 2r core)"}
    return rec.result(x, mode="downstairs", status=status, message=message, n_rhs=k + 1,
                      wall_time=time.perf_counter() - clock, steps=np.array(steps),
                      metadata=meta)
