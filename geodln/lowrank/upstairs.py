r"""Upstairs gradient descent on thin factors with a sparse loss gradient (no m×n array).

For factors :math:`W = (W_1, \dots, W_N)` with bottleneck widths (e.g. all hidden widths r)
the end-to-end matrix is :math:`X = L R^\top` with :math:`L = W_N \cdots W_2` (m×d₁) and
:math:`R = W_1^\top` (n×d₁), so a sparse loss evaluates its residuals in O(|Ω| d₁). The
upstairs gradient is :math:`\nabla_{W_p} = W_{N:p+1}^\top G\, W_{p-1:1}^\top`
(:func:`geodln.factors.product_adjoint`, reference §3) with a sparse
:math:`G = \nabla E(X)`:

- ``shared=False`` — the generic adjoint: one sparse product :math:`G W_{p-1:1}^\top` per layer
  (N sparse products, O(N |Ω| d)); what a straightforward sparse port of
  ``product_adjoint`` does;
- ``shared=True`` (default) — reuse :math:`G W_1^\top` for every layer,
  :math:`G W_{p-1:1}^\top = (G W_1^\top)(W_{p-1:2})^\top`, plus :math:`G^\top L`: two sparse
  products whatever N, then O(N (m + n) d²) dense work.

:func:`bottleneck_factors` is the balanced lift of a factored point with every hidden width
equal to r (:math:`W_1 = \Lambda V^\top`, :math:`W_p = \Lambda`, :math:`W_N = U\Lambda`,
:math:`\Lambda = \Sigma^{1/N}`; reference §1 with :math:`Q_p = I_r`).
"""

import time

import numpy as np

from geodln._checks import check_depth
from geodln.factors import balance_defect, check_factors
from geodln.lowrank.flow import _Recorder, check_rules, descent_schedule
from geodln.lowrank.point import FactoredPoint

__all__ = ["bottleneck_factors", "end_to_end_factors", "upstairs_gradient",
           "upstairs_gradient_descent"]


def bottleneck_factors(point, depth):
    r"""Balanced factors of ``point`` with all hidden widths equal to its rank.

    Parameters
    ----------
    point : FactoredPoint
    depth : int
        N >= 2 (depth 1 would be the dense m×n matrix itself).

    Returns
    -------
    factors : list of ndarray
        ``[W_1 (r×n), W_2..W_{N-1} (r×r), W_N (m×r)]``.
    """
    if not isinstance(point, FactoredPoint):
        raise ValueError(f"point must be a FactoredPoint, got {type(point).__name__}")
    depth = check_depth(depth, allow_inf=False)
    if depth < 2:
        raise ValueError("depth must be >= 2 for thin factors (depth 1 is the dense matrix)")
    lam = point.s ** (1.0 / depth)
    return ([lam[:, None] * point.v.T] + [np.diag(lam) for _ in range(depth - 2)]
            + [point.u * lam])


def end_to_end_factors(factors):
    """``(L, R)`` with ``X = L Rᵀ``: ``L = W_N ⋯ W_2``, ``R = W_1ᵀ``."""
    left = factors[-1]
    for w in factors[-2:0:-1]:
        left = left @ w
    return left, factors[0].T


def upstairs_gradient(loss, factors, shared=True):
    r"""``(E(X), [∇_{W_1}, ..., ∇_{W_N}])`` for a sparse loss, never forming X.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
        Anything with ``value_and_gradient((L, R))``.
    factors : list of ndarray
        ``[W_1, ..., W_N]``, N >= 2.
    shared : bool
        Reuse one sparse product for all layers (see the module docstring).

    Returns
    -------
    value : float
    grads : list of ndarray
    """
    depth = len(factors)
    left, right = end_to_end_factors(factors)
    value, g = loss.value_and_gradient((left, right))
    # suffixes S_p = W_N ... W_{p+1} (S_N = I is implicit), prefixes P_p = W_{p-1} ... W_1
    suffix = [None] * depth
    acc = None
    for p in range(depth - 1, 0, -1):  # suffix[p-1] = W_N ... W_{p+1} for 0-based p-1
        acc = factors[p] if acc is None else acc @ factors[p]
        suffix[p - 1] = acc
    grads = [np.asarray(g.T @ suffix[0]).T]  # W_1: S_1ᵀ G = (Gᵀ S_1)ᵀ
    if shared:
        gw1 = np.asarray(g @ factors[0].T)  # G W_1ᵀ, m×d_1
        mid = None  # W_{p-1} ... W_2, so that G P_pᵀ = (G W_1ᵀ) midᵀ
        for p in range(1, depth):
            gp = gw1 if mid is None else gw1 @ mid.T
            grads.append(gp if p == depth - 1 else suffix[p].T @ gp)
            if p < depth - 1:
                mid = factors[p] if mid is None else factors[p] @ mid
    else:
        prefix = factors[0]
        for p in range(1, depth):
            gp = np.asarray(g @ prefix.T)
            grads.append(gp if p == depth - 1 else suffix[p].T @ gp)
            if p < depth - 1:  # (W_N @ prefix would be the dense m×n product)
                prefix = factors[p] @ prefix
    return value, grads


def upstairs_gradient_descent(loss, factors0, step_size=1e-2, n_steps=100, *, shared=True,
                              record_every=1, loss_tol=None, max_norm=None, stop=None,
                              max_wall_time=None, store_factors=False):
    r"""Plain gradient descent :math:`W_p \leftarrow W_p - \eta \nabla_{W_p}(E\circ\phi)`.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
    factors0 : list of ndarray
        ``[W_1, ..., W_N]`` (N >= 2), e.g. :func:`bottleneck_factors`.
    step_size : float
        η > 0.
    n_steps : int
        Number of steps.
    shared : bool
        See :func:`upstairs_gradient`.
    record_every : int
        Record every this many steps (first and last always).
    loss_tol, max_norm, stop, max_wall_time
        Stopping rules (``stop(t, point, loss)`` gets the factored X).
    store_factors : bool
        Record the singular vectors of X.

    Returns
    -------
    trajectory : LowRankTrajectory
        Singular values of X (rank ``d₁``) from a thin QR/SVD of ``L Rᵀ``; the final
        balancedness defect and the final factors' shapes in ``metadata``.
    """
    clock = time.perf_counter()
    factors = [w.copy() for w in check_factors(factors0, "factors0")]
    if len(factors) < 2:
        raise ValueError("factors0 must hold at least 2 factors")
    eta, n_steps, record_every, rules = descent_schedule(
        step_size, n_steps, record_every, loss_tol, max_norm, max_wall_time
    )
    rank = min(w.shape[0] for w in factors[:-1])
    rec = _Recorder(store_factors)
    steps = []

    def snapshot(k, value):
        point = FactoredPoint.from_product(*end_to_end_factors(factors), rank=rank)
        return point, check_rules(rules, stop, k * eta, point, value)

    value, grads = upstairs_gradient(loss, factors, shared)
    point, hit = snapshot(0, value)
    rec.add(0.0, point, value)
    steps.append(0)
    k = 0
    while hit is None and k < n_steps:
        for w, g in zip(factors, grads):
            w -= eta * g
        k += 1
        value, grads = upstairs_gradient(loss, factors, shared)
        last = k % record_every == 0 or k == n_steps
        if last or rules.loss_tol is not None or rules.max_norm is not None or stop is not None:
            point, hit = snapshot(k, value)
        if last or hit is not None:
            rec.add(k * eta, point, value)
            steps.append(k)
    status, message = ("completed", f"ran {n_steps} steps") if hit is None else hit
    meta = {"step_size": eta, "widths": [int(w.shape[1]) for w in factors]
            + [int(factors[-1].shape[0])], "shared": bool(shared),
            "balance_defect": float(balance_defect(factors))}
    traj = rec.result(point, mode="upstairs", status=status, message=message, n_rhs=k + 1,
                      wall_time=time.perf_counter() - clock, steps=np.array(steps),
                      metadata=meta)
    traj.factors = factors
    return traj
