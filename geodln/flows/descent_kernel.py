r"""Compiled gradient descent on small factor networks under a completion loss (numba).

The papers' descent experiments train tiny networks for millions of steps: Razin–Cohen (RC20)
train 2×2 factors of depth 2–4 on a three-entry completion for up to 5·10⁶ epochs. The
vectorised engine (:func:`geodln.flows.descend`) pays ~10 numpy calls of fixed overhead per
step whatever the batch; this module runs the same iteration

.. math:: W_p \leftarrow W_p - \eta_b\,\big(W_{N:p+1}^\top\,\nabla E(X)\,W_{p-1:1}^\top\big),
   \qquad E(X) = \tfrac12\sum_{(i,j)\in\Omega}(X_{ij} - b_{ij})^2,

for every member ``b`` of a batch in one compiled call, member after member, each with its own
step :math:`\eta_b`, its own stopping and its own records. It is used by
:func:`~geodln.flows.descent.descend` when numba is installed (the ``fast`` extra), the field
is upstairs, the loss is a :class:`~geodln.losses.MatrixCompletion` and every width is at most
:data:`MAX_WIDTH`; otherwise (or with the environment variable ``GEODLN_NO_JIT=1``) the numpy
path of ``descend`` runs. Both follow one semantics:

- the rules of :class:`~geodln.flows.stopping.StoppingRules` in its order (``diverged`` when
  :math:`\|X\|_F` is not finite or exceeds
  :data:`~geodln.flows.stopping.OVERFLOW_NORM` (the top of the float range), or the loss or
  an entry of the velocity is not finite — the member keeps its last finite state —; the
  norms and the loss are summed plainly and, where that sum over- or underflows, again with
  the entries scaled by the largest one, so they are exact at any scale as on the numpy
  path; then ``loss_tol`` with ``check_every``/``patience``,
  ``grad_tol``, ``max_norm``, ``max_steps``; a user ``stop`` callable needs the numpy path;
  ``max_wall_time`` is checked between chunks of steps);
- a record every ``every`` steps, at a member's stop and at its last finite state.

The products are formed in the order the numpy path forms them (prefix :math:`W_p\cdots W_1`,
suffix :math:`W_N\cdots W_{p+1}`, the gradient :math:`(S^\top G)P^\top`), without fused
multiply-adds; the numpy path multiplies through BLAS, which may fuse, so the two agree to
rounding, not bit for bit: 6e-15 relative over 4·10⁴ steps from RC's depth-3 balanced start
(the tests require 1e-12), and RC's full Fig. 1 run (up to 5·10⁶ steps) reproduces the
numpy-path results to 1e-8 relative in every tabulated value.

References
----------
.. [1] RC20: Razin, Cohen, arXiv:2005.06398, Section 4 and Fig. 1 (GD on the factors of the
   2×2 completion problem).
.. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs. (1.2)-(1.3)
   (the gradient of :math:`E\circ\phi` with respect to each factor, which the update follows).
"""

import math
import os

import numpy as np

try:  # the optional "fast" extra; GEODLN_NO_JIT=1 turns every compiled path off
    if os.environ.get("GEODLN_NO_JIT", "") not in ("", "0"):
        raise ImportError("disabled by GEODLN_NO_JIT")
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

__all__ = ["MAX_WIDTH", "available", "run_chunk", "STATUS_CODES"]

#: Largest layer width the kernel takes (wider networks are BLAS work: the numpy path wins).
MAX_WIDTH = 8

#: Kernel status codes, in :class:`~geodln.flows.stopping.StoppingRules` order.
STATUS_CODES = ("running", "completed", "diverged", "loss_tol", "grad_tol", "max_norm",
                "max_steps")

#: :data:`geodln.flows.stopping.OVERFLOW_NORM`, written here: numba freezes globals into the
#: cached machine code and re-compiles only when this file changes (a test checks the two agree)
_OVERFLOW_NORM = 2.0**1020
#: sums of squares between these bounds are exact to rounding (else: recomputed scaled)
_SUM_LO, _SUM_HI = 2.0**-968, 2.0**1000


def available():
    """Whether the compiled kernel can run (numba is importable).

    Returns
    -------
    available : bool

    Examples
    --------
    >>> from geodln.flows import descent_kernel
    >>> isinstance(descent_kernel.available(), bool)
    True
    """
    return numba is not None


def _mm(a, ao, n, k, b, bo, m, out, oo):
    """``out[oo:] = A @ B`` for row-major A (n×k) at ``a[ao:]``, B (k×m) at ``b[bo:]``."""
    for i in range(n):
        for j in range(m):
            s = a[ao + i * k] * b[bo + j]
            for q in range(1, k):
                s = s + a[ao + i * k + q] * b[bo + q * m + j]
            out[oo + i * m + j] = s


def _mm_tn(a, ao, k, n, b, bo, m, out, oo):
    """``out[oo:] = A^T @ B`` for A (k×n) at ``a[ao:]``, B (k×m) at ``b[bo:]``."""
    for i in range(n):
        for j in range(m):
            s = a[ao + i] * b[bo + j]
            for q in range(1, k):
                s = s + a[ao + q * n + i] * b[bo + q * m + j]
            out[oo + i * m + j] = s


def _mm_nt_neg(a, ao, n, k, b, bo, m, out, oo):
    """``out[oo:] = -(A @ B^T)`` for A (n×k) at ``a[ao:]``, B (m×k) at ``b[bo:]``."""
    for i in range(n):
        for j in range(m):
            s = a[ao + i * k] * b[bo + j * k]
            for q in range(1, k):
                s = s + a[ao + i * k + q] * b[bo + j * k + q]
            out[oo + i * m + j] = -s


def _sum_squares(a, ao, n, plain):
    r"""``(sum of the squares of a[ao:ao+n]) = (s, scale)`` with the true sum ``s * scale**2``.

    ``plain`` is the plain sum, kept (scale 1) where it is a normal float far from overflow;
    otherwise the entries are divided by the largest absolute one first (``inf``/NaN entries
    give a non-finite result).
    """
    if plain > _SUM_LO and plain < _SUM_HI:
        return plain, 1.0
    top = 0.0
    for j in range(n):
        top = max(top, abs(a[ao + j]))
    if not (top > 0.0 and math.isfinite(top)):  # all zero (plain = 0) or non-finite entries
        return plain, 1.0
    s = 0.0
    for j in range(n):
        r = a[ao + j] / top
        s = s + r * r
    return s, top


def _evaluate(y, widths, offsets, rows, cols, vals, pre, suf, grad, tmp, v):
    r"""Return the loss at the factors ``y`` [D]; write the velocity into ``v`` [D].

    Flat row-major buffers of ``wmax**2`` per layer: ``pre`` holds
    :math:`W_{p+1}\cdots W_1` (the last is X), ``suf`` :math:`W_N\cdots W_{p+2}`.
    """
    depth = widths.shape[0] - 1
    n, m = widths[0], widths[depth]
    ws = pre.shape[0] // depth
    for j in range(widths[1] * n):
        pre[j] = y[j]
    for p in range(1, depth):
        _mm(y, offsets[p], widths[p + 1], widths[p], pre, (p - 1) * ws, n, pre, p * ws)
    xo = (depth - 1) * ws
    loss = 0.0
    for j in range(m * n):
        grad[j] = 0.0
    for q in range(rows.shape[0]):
        r = pre[xo + rows[q] * n + cols[q]] - vals[q]
        grad[rows[q] * n + cols[q]] = r
        loss = loss + r * r
    total, scale = _sum_squares(grad, 0, m * n, loss)  # exact at any residual scale
    loss = (0.5 * total * scale) * scale
    so = (depth - 1) * ws
    for j in range(m * m):
        suf[so + j] = 0.0
    for i in range(m):
        suf[so + i * m + i] = 1.0
    for p in range(depth - 2, -1, -1):
        _mm(suf, (p + 1) * ws, m, widths[p + 2], y, offsets[p + 1], widths[p + 1], suf, p * ws)
    for p in range(depth):
        _mm_tn(suf, p * ws, m, widths[p + 1], grad, 0, n, tmp, 0)
        if p == 0:
            for j in range(widths[1] * n):
                v[j] = -tmp[j]
        else:
            _mm_nt_neg(tmp, 0, widths[p + 1], n, pre, (p - 1) * ws, widths[p], v, offsets[p])
    return loss


def _run_chunk(y, v, loss, steps, streak, status, eta, widths, offsets, rows, cols, vals,
               fparams, iparams, rec_y, rec_step, rec_count):
    """Advance every running member to step ``end`` (see :func:`run_chunk`)."""
    loss_tol, grad_tol, max_norm = fparams[0], fparams[1], fparams[2]
    check_every, patience, max_steps = iparams[0], iparams[1], iparams[2]
    end, n_steps, every = iparams[3], iparams[4], iparams[5]
    has_tol, has_grad = not math.isnan(loss_tol), not math.isnan(grad_tol)
    has_norm, has_max = not math.isnan(max_norm), max_steps > 0
    b, d = y.shape
    depth = widths.shape[0] - 1
    wmax = 1
    for p in range(depth + 1):
        wmax = max(wmax, widths[p])
    pre = np.empty(depth * wmax * wmax)
    suf = np.empty(depth * wmax * wmax)
    grad = np.empty(wmax * wmax)
    tmp = np.empty(wmax * wmax)
    y_new = np.empty(d)
    v_new = np.empty(d)
    m, n = widths[depth], widths[0]
    for i in range(b):
        if status[i] != 0:
            continue
        yi, vi, h = y[i], v[i], eta[i]
        k = steps[i]
        while k < end:
            for j in range(d):
                y_new[j] = yi[j] + vi[j] * h
            e = _evaluate(y_new, widths, offsets, rows, cols, vals, pre, suf, grad, tmp, v_new)
            xo = (depth - 1) * wmax * wmax
            nx = 0.0
            for j in range(m * n):
                nx = nx + pre[xo + j] * pre[xo + j]
            total, scale = _sum_squares(pre, xo, m * n, nx)
            nx = math.sqrt(total) * scale
            k_new = k + 1
            code = 0
            nv = 0.0
            for j in range(d):
                nv = nv + v_new[j] * v_new[j]
            total, scale = _sum_squares(v_new, 0, d, nv)
            nv = math.sqrt(total) * scale
            if not (nx <= _OVERFLOW_NORM and math.isfinite(e) and math.isfinite(nv)):
                code = 2
            if code == 0 and has_tol:
                if k_new % check_every == 0:
                    if e <= loss_tol:
                        streak[i] += 1
                    else:
                        streak[i] = 0
                    if streak[i] > patience:
                        code = 3
            if code == 0 and has_grad:
                if nv <= grad_tol:
                    code = 4
            if code == 0 and has_norm and nx >= max_norm:
                code = 5
            if code == 0 and has_max and k_new >= max_steps:
                code = 6
            if code == 2:  # keep the last finite state, record it once
                status[i] = 2
                c = rec_count[i]
                if c == 0 or rec_step[i, c - 1] != k:
                    rec_y[i, c] = yi
                    rec_step[i, c] = k
                    rec_count[i] = c + 1
                break
            for j in range(d):
                yi[j] = y_new[j]
                vi[j] = v_new[j]
            loss[i] = e
            k = k_new
            if code == 0 and k >= n_steps:
                code = 1
            if code != 0 or k % every == 0:
                c = rec_count[i]
                rec_y[i, c] = yi
                rec_step[i, c] = k
                rec_count[i] = c + 1
            if code != 0:
                status[i] = code
                break
        steps[i] = k


if numba is not None:
    # inlined into the step loop at numba-IR level (2.5x faster than calls); no fastmath: the
    # rounding is that of the plain sums written above
    _mm = numba.njit(inline="always")(_mm)
    _mm_tn = numba.njit(inline="always")(_mm_tn)
    _mm_nt_neg = numba.njit(inline="always")(_mm_nt_neg)
    _sum_squares = numba.njit(inline="always")(_sum_squares)
    _evaluate = numba.njit(inline="always")(_evaluate)
    _run_chunk = numba.njit(cache=True)(_run_chunk)


def run_chunk(state, problem, rules, end, n_steps, every):
    """Advance the running members of a batch to step ``end`` in one compiled call.

    Parameters
    ----------
    state : dict
        ``y`` [B, D] factors (packed as :class:`~geodln.flows.fields.UpstairsField` packs
        them), ``v`` [B, D] their velocities, ``loss`` [B], ``steps`` [B] (int64), ``streak``
        [B] (int64, consecutive loss checks below ``loss_tol``), ``status`` [B] (int64 codes of
        :data:`STATUS_CODES`), ``eta`` [B] step sizes; updated in place.
    problem : tuple
        ``(widths, offsets, rows, cols, values)``: int64 widths ``(d_0, ..., d_N)``, int64
        offsets of the factors in ``y``, the observed entries and their values.
    rules : StoppingRules
        The stopping rules (``stop`` and ``max_wall_time`` are not applied here).
    end : int
        Step at which the chunk ends (``<= n_steps``).
    n_steps : int
        Last step of the run (status ``completed``).
    every : int
        Recording interval in steps.

    Returns
    -------
    rec_y : ndarray, shape=[B, T, D]
        Records of the chunk (``rec_count[b]`` valid rows per member).
    rec_step : ndarray of int, shape=[B, T]
    rec_count : ndarray of int, shape=[B]

    Raises
    ------
    ValueError
        If numba is not installed.

    Examples
    --------
    Two RC networks of depth 2 (W_1, W_2 each 2×2), 100 steps with record every 50:

    >>> from geodln.flows import StoppingRules, descent_kernel
    >>> if descent_kernel.available():
    ...     y = np.tile(0.5 * np.eye(2).ravel(), (2, 2))
    ...     problem = (np.array([2, 2, 2]), np.array([0, 4, 8]), np.array([0, 1, 1]),
    ...                np.array([1, 0, 1]), np.array([1.0, 1.0, 0.0]))
    ...     v = np.zeros((2, 8))  # a first evaluation fills v; here one step of size 0
    ...     st = dict(y=y, v=v, loss=np.zeros(2), steps=np.zeros(2, np.int64),
    ...               streak=np.zeros(2, np.int64), status=np.zeros(2, np.int64),
    ...               eta=np.array([0.1, 0.05]))
    ...     recs = descent_kernel.run_chunk(st, problem, StoppingRules(), 100, 100, 50)
    ...     print(st["steps"].tolist(), recs[2].tolist())
    ... else:
    ...     print([100, 100], [2, 2])
    [100, 100] [2, 2]
    """
    if numba is None:
        raise ValueError("the compiled descent kernel needs numba (pip install 'geodln[fast]')")
    widths, offsets, rows, cols, vals = problem
    b, d = state["y"].shape
    span = max(end - int(np.min(state["steps"][state["status"] == 0], initial=end)), 0)
    cap = span // every + 2
    rec_y = np.empty((b, cap, d))
    rec_step = np.full((b, cap), -1, dtype=np.int64)
    rec_count = np.zeros(b, dtype=np.int64)
    fparams = np.array([np.nan if value is None else value
                        for value in (rules.loss_tol, rules.grad_tol, rules.max_norm)])
    iparams = np.array([rules.check_every, rules.patience,
                        -1 if rules.max_steps is None else rules.max_steps,
                        end, n_steps, every], dtype=np.int64)
    _run_chunk(state["y"], state["v"], state["loss"], state["steps"], state["streak"],
               state["status"], state["eta"], widths, offsets, rows, cols, vals, fparams,
               iparams, rec_y, rec_step, rec_count)
    return rec_y, rec_step, rec_count
