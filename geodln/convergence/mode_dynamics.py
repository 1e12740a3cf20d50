r"""Exact learning dynamics of aligned modes (Saxe, McClelland, Ganguli; SMG14).

For whitened least squares, :math:`E(X) = \tfrac12\|X - S\|_F^2` with
:math:`S = \Sigma_{yx} = U\,\mathrm{diag}(s)\,V^\top`, a start aligned with S,
:math:`X_0 = U\,\mathrm{diag}(a_0)\,V^\top` (balanced factors upstairs), stays aligned under the
gradient flow of every depth N, and each mode strength :math:`a = u^\top X v` obeys the scalar
equation (eigenvalue :math:`N\sigma^{2-2/N}` of the plain-sum :math:`A_{N,X}` on
:math:`uv^\top`; Arora, Cohen, Hazan, ACH18, Thm 1 for the end-to-end flow)

.. math:: \dot a = N a^{2-2/N}\,(s - a).

With :math:`\rho = s^{1/N}` and :math:`v = (a/s)^{1/N}` the time to go from :math:`a_0` to
:math:`a` is :math:`t = \rho^{2-2N}\,[T_N(v) - T_N(v_0)]` with the closed form

.. math:: T_N(v) = \int \frac{dv}{v^{N-1}(1 - v^N)}
    = I_N(v) - \frac1N\log|1 - v| + \mathrm{Re}\sum_{k=1}^{N-1} c_k \log(v - \omega_k),

:math:`I_N(v) = v^{2-N}/(2-N)` (:math:`\log v` for N = 2), :math:`\omega_k = e^{2\pi i k/N}`
and :math:`c_k = P(\omega_k)/(N q'(\omega_k))` where :math:`q(v) = \sum_{j<N} v^j` and
:math:`P(v) = -1 + \sum_{k=1}^{N-2}(N-1-k)v^k` (partial fractions of the smooth part of
:math:`v/(1 - v^N)`). N = 1 gives :math:`a = s + (a_0 - s)e^{-t}`, N = 2 the logistic curve of
SMG14 Eq. (12) (with their :math:`\tau = 1`). The inverse :math:`a(t)` is found by a vectorised
bisection in :math:`y = \log|1 - v|` (the variable in which the sigmoid's tail is linear),
polished by Newton steps, so the strength is exact to a few ulps over the whole sigmoid.

Time units: the plain-sum metric (upstairs gradient flow of
:math:`\tfrac12\|W_N\cdots W_1 - S\|_F^2` at unit rate). With the normalised metric
(:math:`A_{N,X}/N`) time runs N times slower.
"""

import numbers

import numpy as np

from geodln._checks import check_depth, check_matrix

__all__ = ["mode_time", "mode_strength", "transition_time", "mode_strengths", "aligned_start"]

_BISECTIONS = 200


def _check_nonneg(x, name):
    arr = np.asarray(x)
    if arr.dtype == bool or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr


def _depth(depth):
    return check_depth(depth, allow_inf=False)


def _roots_and_weights(n):
    """Roots of unity :math:`\\omega_k` (k = 1..N-1) and partial-fraction weights :math:`c_k`."""
    k = np.arange(1, n)
    omega = np.exp(2j * np.pi * k / n)
    p_coef = np.zeros(max(n - 1, 1))
    p_coef[0] = -1.0
    for j in range(1, n - 1):
        p_coef[j] = n - 1 - j
    q_prime = np.zeros(max(n - 1, 1))  # derivative of 1 + v + ... + v^(N-1)
    for j in range(1, n):
        q_prime[j - 1] = j
    p_val = np.polynomial.polynomial.polyval(omega, p_coef)
    qp_val = np.polynomial.polynomial.polyval(omega, q_prime[: n - 1])
    return omega, p_val / (n * qp_val)


def _antiderivative(v, y, n):
    r""":math:`T_N` at v, with :math:`y = \log|1 - v|` given separately (exact near v = 1)."""
    if n == 1:
        return -y
    omega, c = _roots_and_weights(n)
    smooth = np.real(np.sum(c * np.log(v[..., None] - omega), axis=-1))
    power = np.log(v) if n == 2 else v ** (2 - n) / (2 - n)
    return power - y / n + smooth


def _prepare(target, start, depth):
    n = _depth(depth)
    s = _check_nonneg(target, "target")
    a0 = _check_nonneg(start, "start")
    if np.any(s < 0):
        raise ValueError("target (singular values of the target) must be >= 0")
    if n >= 2 and np.any(a0 < 0):
        raise ValueError(
            "start must be >= 0 for depth >= 2 (mode strengths of balanced aligned factors)"
        )
    s, a0 = np.broadcast_arrays(s, a0)
    return n, s, a0


def mode_time(strength, target, start, depth):
    r"""Time for an aligned mode to go from ``start`` to ``strength`` (closed form).

    Parameters
    ----------
    strength : array-like, shape=[...]
        Mode strength a reached; between ``start`` and ``target`` (either side).
    target : array-like, shape=[...]
        Target singular value :math:`s \geq 0`.
    start : array-like
        Initial strength :math:`a_0` (>= 0 for N >= 2). All three broadcast together.
    depth : int
        Depth N >= 1.

    Returns
    -------
    t : ndarray, shape=[...]
        Flow time (plain-sum metric, unit rate); ``inf`` if ``strength`` equals a target
        that ``start`` differs from, NaN if ``strength`` is not between start and target.

    Raises
    ------
    ValueError
        If an argument is not a finite real array, ``target`` < 0, ``start`` < 0 with
        N >= 2, or ``depth`` is not a positive integer.

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Eq. (11) (learning
       time at depth 2) and Eq. (15) (the mode equation at every depth; their
       :math:`N_l - 1` is our N).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import mode_time
    >>> t = mode_time(0.5, 1.0, 1e-3, 2)  # logistic: log(a (s - a0) / (a0 (s - a))) / (2 s)
    >>> bool(np.isclose(t, np.log(0.5 * 0.999 / (1e-3 * 0.5)) / 2))
    True
    """
    n, s, a0 = _prepare(target, start, depth)
    a = _check_nonneg(strength, "strength")
    a, s, a0 = np.broadcast_arrays(a, s, a0)
    out = np.full(a.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        between = ((a0 <= a) & (a <= s)) | ((s <= a) & (a <= a0))
        zero = s == 0
        # target 0: closed forms of a' = -N a^(3 - 2/N)
        if n == 1:
            tz = np.log(a0 / a)
        else:
            p = 2.0 - 2.0 / n
            tz = (a ** -p - a0 ** -p) / (p * n)
        m = zero & (a <= a0) & (a > 0)
        out[m] = tz[m]
        out[zero & (a == a0)] = 0.0
        pos = ~zero & between
        if np.any(pos):
            ss, aa, a00 = s[pos], a[pos], a0[pos]
            if n == 1:
                res = np.log(np.abs(a00 - ss) / np.abs(aa - ss))
            else:
                rho2 = ss ** ((2.0 - 2.0 * n) / n)
                v, v0 = (aa / ss) ** (1.0 / n), (a00 / ss) ** (1.0 / n)
                y, y0 = np.log(np.abs(1 - v)), np.log(np.abs(1 - v0))
                res = rho2 * (_antiderivative(v, y, n) - _antiderivative(v0, y0, n))
            res = np.where(aa == a00, 0.0, res)
            res = np.where((aa == ss) & (aa != a00), np.inf, res)
            res = np.where((a00 == 0) & (aa > 0), np.inf, res)
            out[pos] = res
    return out if out.ndim else float(out)


def _invert(t, s, a0, n):
    """Strengths at times t >= 0 for positive targets (vectorised bisection in y)."""
    rho2 = s ** ((2.0 - 2.0 * n) / n)
    v0 = (a0 / s) ** (1.0 / n)
    above = v0 > 1
    sign = np.where(above, 1.0, -1.0)
    y0 = np.log(np.abs(1 - v0))
    t0 = _antiderivative(v0, y0, n)

    def time_at(y):
        v = 1 + sign * np.exp(y)
        return rho2 * (_antiderivative(v, y, n) - t0)

    # T decreases in y with slope about -rho2/N far out: bracket [lo, y0]
    lo = y0 - n * t / rho2 - 40.0
    lo = np.maximum(lo, np.log(np.finfo(float).tiny))
    hi = y0.copy()
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        late = time_at(mid) > t
        lo = np.where(late, mid, lo)
        hi = np.where(late, hi, mid)
        if np.all(hi - lo <= 4 * np.spacing(np.abs(hi) + 1.0)):
            break
    y = 0.5 * (lo + hi)
    v = 1 + sign * np.exp(y)
    return s * v**n


def mode_strength(t, target, start, depth):
    r"""Strength :math:`a(t)` of an aligned mode under the depth-N gradient flow (closed form).

    Solves :math:`\dot a = N a^{2-2/N}(s - a)`, :math:`a(0) = a_0`, by inverting the closed-form
    time :func:`mode_time` (see the module docstring); exact to a few ulps over the whole
    sigmoid, including its tail where :math:`s - a` is far below :math:`s`.

    Parameters
    ----------
    t : array-like, shape=[...]
        Times >= 0.
    target : array-like, shape=[...]
        Target singular values :math:`s \geq 0`.
    start : array-like
        Initial strengths :math:`a_0` (>= 0 for N >= 2). ``t``, ``target`` and ``start``
        broadcast together.
    depth : int
        Depth N >= 1.

    Returns
    -------
    a : ndarray or float
        Mode strengths, broadcast shape.

    Raises
    ------
    ValueError
        If an argument is not a finite real array, ``t`` < 0, ``target`` < 0, ``start`` < 0
        with N >= 2, or ``depth`` is not a positive integer.

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Eq. (12) (sigmoidal
       time course at depth 2) and Eq. (15) (the mode equation at every depth; their
       :math:`N_l - 1` is our N).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import mode_strength
    >>> t = np.array([0.0, 1.0, 5.0])
    >>> a = mode_strength(t, 2.0, 0.01, 2)
    >>> logistic = 2.0 * np.exp(4 * t) / (np.exp(4 * t) - 1 + 2.0 / 0.01)
    >>> bool(np.allclose(a, logistic, rtol=1e-13))
    True
    """
    n, s, a0 = _prepare(target, start, depth)
    t = _check_nonneg(t, "t")
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
    t, s, a0 = np.broadcast_arrays(t, s, a0)
    out = np.empty(t.shape)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
        if n == 1:
            out[...] = s + (a0 - s) * np.exp(-t)
            return out if out.ndim else float(out)
        p = 2.0 - 2.0 / n
        zero = s == 0
        out[zero] = (a0[zero] ** -p + p * n * t[zero]) ** (-1.0 / p)
        fixed = ~zero & ((a0 == 0) | (a0 == s))
        out[fixed] = a0[fixed]
        live = ~zero & ~fixed
        if np.any(live):
            out[live] = _invert(t[live], s[live], a0[live], n)
    return out if out.ndim else float(out)


def transition_time(target, start, depth, fraction=0.5):
    r"""Time at which an aligned mode reaches ``fraction`` of its target (the learning time).

    For N = 2 and a small start this is SMG14's :math:`t \approx \log(s/a_0)/(2s)`: modes
    with larger singular values are learned first, in stages.

    Parameters
    ----------
    target : array-like, shape=[...]
        Target singular values :math:`s > 0`.
    start : array-like, shape=[...] (broadcast with ``target``)
        Initial strengths :math:`0 < a_0 < \text{fraction}\cdot s`.
    depth : int
        Depth N >= 1.
    fraction : float
        In (0, 1).

    Returns
    -------
    t : ndarray, shape=[...] (the broadcast shape), or float

    Raises
    ------
    ValueError
        If ``fraction`` is not in (0, 1) or an argument is invalid (see :func:`mode_time`).

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Eq. (11) and Fig. 3.

    Examples
    --------
    >>> from geodln.convergence import transition_time
    >>> t1, t2 = transition_time([3.0, 1.0], 1e-4, 3)
    >>> bool(t1 < t2)
    True
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not (
        0 < fraction < 1
    ):
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    s = _check_nonneg(target, "target")
    return mode_time(fraction * s, s, start, depth)


def mode_strengths(X, left, right):
    r"""Mode strengths :math:`a_k = u_k^\top X v_k` of points X in a fixed singular frame.

    Parameters
    ----------
    X : array-like, shape=[..., m, n]
        Points.
    left : array-like, shape=[m, k]
        Left singular vectors :math:`u_k` of the target.
    right : array-like, shape=[n, k]
        Right singular vectors :math:`v_k`.

    Returns
    -------
    a : ndarray, shape=[..., k]

    Raises
    ------
    ValueError
        If the shapes do not match or an entry is not finite.

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Eq. (4).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import mode_strengths
    >>> mode_strengths(np.diag([3.0, 2.0]), np.eye(2), np.eye(2))
    array([3., 2.])
    """
    x = check_matrix(X, "X")
    u = check_matrix(left, "left", allow_batch=False)
    v = check_matrix(right, "right", allow_batch=False)
    if u.shape[0] != x.shape[-2] or v.shape[0] != x.shape[-1] or u.shape[1] != v.shape[1]:
        raise ValueError(
            f"left [m, k] and right [n, k] must match X [..., m, n] = {x.shape}, got "
            f"{u.shape} and {v.shape}"
        )
    return np.einsum("ik,...ij,jk->...k", u, x, v)


def aligned_start(left, right, strengths):
    r"""Return the aligned point :math:`U\,\mathrm{diag}(a)\,V^\top` (batched over ``strengths``).

    Parameters
    ----------
    left : array-like, shape=[m, k]
    right : array-like, shape=[n, k]
    strengths : array-like, shape=[..., k]

    Returns
    -------
    X : ndarray, shape=[..., m, n]

    Raises
    ------
    ValueError
        If the shapes do not match or an entry is not finite.

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Section 2.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import aligned_start
    >>> aligned_start(np.eye(2), np.eye(2), [1e-3, 2e-3])
    array([[0.001, 0.   ],
           [0.   , 0.002]])
    """
    u = check_matrix(left, "left", allow_batch=False)
    v = check_matrix(right, "right", allow_batch=False)
    a = _check_nonneg(strengths, "strengths")
    if u.shape[1] != v.shape[1] or a.ndim < 1 or a.shape[-1] != u.shape[1]:
        raise ValueError(
            f"left [m, k], right [n, k] and strengths [..., k] must agree in k, got "
            f"{u.shape}, {v.shape}, {a.shape}"
        )
    return np.einsum("ik,...k,jk->...ij", u, a, v)
