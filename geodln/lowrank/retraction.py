r"""Truncated SVDs of low-rank sums: the metric-projection retraction onto :math:`M_r`.

A sum of a factored point and factored tangent vectors (possibly at *different* base points,
as in the stages of a Runge–Kutta step) is a matrix :math:`L R^\top` with k = r + 2r·(number
of vectors) columns. Its best rank-r approximation (Eckart–Young) costs two thin QRs,
:math:`L = Q_L R_L`, :math:`R = Q_R R_R`, and one SVD of the k×k core
:math:`R_L R_R^\top`: O((m + n) k² + k³), never an m×n array — unless k ≥ min(m, n), when the
dense product and its SVD are cheaper and are used instead.

For one tangent vector at the base point, :func:`retract` uses the block structure of
:math:`T_X M_r`: with :math:`U_p = Q_u R_u`, :math:`V_p = Q_v R_v` (two thin QRs of width r),

.. math:: X + tZ = [U\; Q_u] \begin{pmatrix} \Sigma + tM & tR_v^\top \\ tR_u & 0
          \end{pmatrix} [V\; Q_v]^\top ,

and the SVD of the 2r×2r core gives the metric projection (VAN13, Vandereycken,
arXiv:1209.3834, Section 3; Absil–Oseledets 2015) — :func:`retract_by_core_svd`. For a
rank-r result :func:`retract_or_nan` first computes the same truncation without any QR or
2r×2r SVD (:func:`geodln.lowrank.tangent_truncation.truncate_tangent_step`: Riccati
equations of the singular subspaces, Gram matrices, one r×r SVD, certified per member) and
uses the core route only for the members that route does not certify. Every array may carry
batch axes; the factorisations are batched LAPACK calls.

Non-finite input is refused *before* any factorisation (LAPACK may hang or raise on NaN):
:class:`~geodln.lowrank.point.NonFiniteError`, a ``ValueError``.
"""

import numpy as np

from geodln._checks import check_rank
from geodln.lowrank.point import FactoredPoint, NonFiniteError
from geodln.lowrank.tangent_truncation import truncate_tangent_step

__all__ = [
    "truncated_svd_of_product",
    "truncated_svd_or_nan",
    "truncated_svd_of_dense",
    "retract",
    "retract_or_nan",
    "retract_by_core_svd",
    "finite_members",
    "combine",
    "frobenius_norm_of_product",
]


#: Below this rank the QR + 2r×2r-core route is the cheaper one (its LAPACK calls are small;
#: the products-only route costs a fixed number of array operations): the two tie at about
#: r = 20–30 at 213×320 (``python -m benchmarks.bench_lowrank --moderate``).
PRODUCTS_ROUTE_MIN_RANK = 16


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _require_finite(name, *arrays):
    for a in arrays:
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"{name} contains NaN or inf entries (a diverged state?)")


def truncated_svd_of_product(left, right, rank):
    r"""Best rank-``rank`` approximation of :math:`L R^\top` as a :class:`FactoredPoint`.

    Parameters
    ----------
    left : ndarray, shape=[..., m, k]
    right : ndarray, shape=[..., n, k]
    rank : int
        ``1 <= rank <= min(m, n)``; if ``rank > k`` the extra singular values are 0.

    Returns
    -------
    point : FactoredPoint
        Singular values non-increasing.

    Raises
    ------
    ValueError
        If ``rank`` is invalid, or (:class:`NonFiniteError`) ``left``/``right`` hold NaN/inf.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 3 (metric projection).

    Examples
    --------
    >>> import numpy as np
    >>> p = truncated_svd_of_product(np.ones((3, 1)), np.ones((2, 1)), 1)
    >>> bool(np.isclose(p.s[0], np.sqrt(6.0)))
    True
    """
    m, n = left.shape[-2], right.shape[-2]
    rank = check_rank(rank, m, n)
    _require_finite("left", left)
    _require_finite("right", right)
    return _truncated_svd(left, right, rank)


def truncated_svd_or_nan(left, right, rank):
    """:func:`truncated_svd_of_product` per member; members with NaN/inf factors get NaN.

    LAPACK is never called on a non-finite member (it may hang); their singular values and
    vectors in the result are NaN, so a batched driver can freeze them as diverged.

    Parameters
    ----------
    left : ndarray, shape=[..., m, k]
    right : ndarray, shape=[..., n, k]
    rank : int

    Returns
    -------
    point : FactoredPoint

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Abstract (metric projection, the
       truncated SVD, as a retraction on fixed-rank matrices).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds, Section 4.1
       (retractions).

    Examples
    --------
    The second member diverged: it gets NaN, the first its exact singular value
    :math:`\\|L\\|\\|R\\| = \\sqrt 6`.

    >>> from geodln.lowrank.retraction import truncated_svd_or_nan
    >>> left = np.stack([np.ones((3, 1)), np.full((3, 1), np.nan)])
    >>> p = truncated_svd_or_nan(left, np.ones((2, 2, 1)), 1)
    >>> bool(np.isclose(p.s[0, 0], np.sqrt(6))), bool(np.isnan(p.s[1, 0]))
    (True, True)
    """
    ok = finite_members(left) & finite_members(right)
    if np.all(ok):
        return _truncated_svd(left, right, rank)
    left = np.where(ok[..., None, None], left, 0.0)
    right = np.where(ok[..., None, None], right, 0.0)
    return _poison(_truncated_svd(left, right, rank), ok)


def truncated_svd_of_dense(x, rank):
    """Rank-``rank`` truncated SVD of dense ``x`` [..., m, n]; NaN for non-finite members.

    The fall-back of the factored code when the factor count is not small next to
    ``min(m, n)``: one dense SVD, as the dense path pays (LAPACK never sees NaN/inf).

    Parameters
    ----------
    x : ndarray, shape=[..., m, n]
    rank : int
        In ``1..min(m, n)``.

    Returns
    -------
    point : FactoredPoint

    Raises
    ------
    ValueError
        If ``rank`` is not an integer in ``1..min(m, n)`` (bools are not numbers).

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Abstract (metric projection, the
       truncated SVD, as a retraction on fixed-rank matrices).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds, Section 4.1
       (retractions).

    Examples
    --------
    >>> from geodln.lowrank.retraction import truncated_svd_of_dense
    >>> truncated_svd_of_dense(np.diag([3.0, 2.0, 1.0]), 2).s
    array([3., 2.])
    """
    rank = check_rank(rank, *x.shape[-2:])
    ok = finite_members(x)
    if not np.all(ok):
        x = np.where(ok[..., None, None], x, 0.0)
    cu, cs, cvt = np.linalg.svd(x, full_matrices=False)
    point = FactoredPoint(cu[..., :rank], cs[..., :rank], _swap(cvt[..., :rank, :]),
                          check=False)
    return point if np.all(ok) else _poison(point, ok)


def finite_members(a, core_ndim=2):
    """Boolean [batch]: whether every entry of each member of ``a`` is finite.

    Parameters
    ----------
    a : array-like, shape=[..., core]
        Members with a core of ``core_ndim`` trailing axes.
    core_ndim : int
        Number of trailing axes of one member (2 for matrices).

    Returns
    -------
    finite : ndarray of bool, shape=[...]

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Abstract (metric projection, the
       truncated SVD, as a retraction on fixed-rank matrices).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds, Section 4.1
       (retractions).

    Examples
    --------
    >>> from geodln.lowrank.retraction import finite_members
    >>> finite_members(np.stack([np.ones((2, 2)), np.full((2, 2), np.nan)]))
    array([ True, False])
    """
    a = np.asarray(a)
    return np.all(np.isfinite(a), axis=tuple(range(a.ndim - core_ndim, a.ndim)))


def _poison(point, ok):
    """Set the members of ``point`` where ``ok`` is False to NaN."""
    nan = ~ok
    return FactoredPoint(np.where(nan[..., None, None], np.nan, point.u),
                         np.where(nan[..., None], np.nan, point.s),
                         np.where(nan[..., None, None], np.nan, point.v), check=False)


def _truncated_svd(left, right, rank):
    m, n = left.shape[-2], right.shape[-2]
    k = left.shape[-1]
    if k >= min(m, n):  # the dense product is the cheaper route
        return truncated_svd_of_dense(left @ _swap(right), rank)
    ql, rl = np.linalg.qr(left)
    qr_, rr = np.linalg.qr(right)
    core = rl @ _swap(rr)
    ok = finite_members(core)
    if not np.all(ok):  # products of huge finite factors overflowed
        core = np.where(ok[..., None, None], core, 0.0)
    cu, cs, cvt = np.linalg.svd(core, full_matrices=False)
    u = ql @ cu[..., :rank]
    v = qr_ @ _swap(cvt[..., :rank, :])
    s = cs[..., :rank]
    if s.shape[-1] < rank:  # k < rank: pad with orthonormal directions and zero singular values
        u = _complete(u, rank)
        v = _complete(v, rank)
        s = np.concatenate([s, np.zeros(s.shape[:-1] + (rank - s.shape[-1],))], axis=-1)
    point = FactoredPoint(u, s, v, check=False)
    return point if np.all(ok) else _poison(point, ok)


def _complete(q, rank):
    """Append orthonormal columns to ``q`` [..., d, k] until it has ``rank`` columns."""
    d, k = q.shape[-2:]
    extra = np.random.default_rng(0).standard_normal((d, rank - k))
    extra = np.broadcast_to(extra, q.shape[:-2] + extra.shape)
    if k:
        extra = extra - q @ (_swap(q) @ extra)
    qe, _ = np.linalg.qr(extra)
    return np.concatenate([q, qe], axis=-1)


def combine(point, terms):
    r"""Factors ``(L, R)`` of :math:`X + \sum_i c_i Z_i` for tangent vectors at any base points.

    Parameters
    ----------
    point : FactoredPoint or None
        The point X (``None`` for a pure sum of tangent vectors).
    terms : list of (float or ndarray [batch], FactoredTangent, FactoredPoint)
        Coefficient (one per member allowed), tangent vector and *its* base point.

    Returns
    -------
    left : ndarray, shape=[..., m, k]
    right : ndarray, shape=[..., n, k]

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Abstract (metric projection, the
       truncated SVD, as a retraction on fixed-rank matrices).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds, Section 4.1
       (retractions).

    Examples
    --------
    For a full-rank point the tangent space is everything: :math:`X + Z/2` exactly.

    >>> from geodln.lowrank import project_to_tangent
    >>> from geodln.lowrank.retraction import combine
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> z = project_to_tangent(np.ones((3, 2)), x)
    >>> left, right = combine(x, [(0.5, z, x)])
    >>> left @ right.T
    array([[2.5, 0.5],
           [0.5, 1.5],
           [0.5, 0.5]])
    """
    lefts, rights = [], []
    if point is not None:
        lefts.append(point.left())
        rights.append(point.v)
    for coef, vec, base in terms:
        c = np.asarray(coef, float)
        if c.ndim == 0 and c == 0:
            continue
        a, b = vec.low_rank_factors(base)
        lefts.append((c[..., None, None] if c.ndim else c) * a)
        rights.append(b)
    return np.concatenate(lefts, axis=-1), np.concatenate(rights, axis=-1)


def retract(base_point, tangent_vec, step=1.0, rank=None):
    r"""Metric-projection retraction :math:`R_X(tZ) = P_{M_r}(X + tZ)` (2r×2r core SVD).

    Parameters
    ----------
    base_point : FactoredPoint
    tangent_vec : FactoredTangent
        Tangent at ``base_point``.
    step : float or array-like, shape=[batch]
        The factor t (one per member allowed).
    rank : int, optional
        Target rank (default: the rank of ``base_point``).

    Returns
    -------
    point : FactoredPoint

    Raises
    ------
    ValueError
        If ``step`` is not a finite real number (array), ``rank`` is invalid, or
        (:class:`NonFiniteError`) the point or the tangent vector holds NaN/inf.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 3 (retraction by metric projection).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds
       (2008), Definition 4.1.1 (retraction).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.lowrank import random_factored_point, project_to_tangent
    >>> p = random_factored_point(6, 5, 2, seed=0)
    >>> z = project_to_tangent(np.ones((6, 5)), p)
    >>> q = retract(p, z, 1e-3)
    >>> q.rank
    2
    """
    if not isinstance(base_point, FactoredPoint):
        raise ValueError(f"base_point must be a FactoredPoint, got {type(base_point).__name__}")
    if not all(hasattr(tangent_vec, a) for a in ("m_core", "up", "vp", "check_shapes")):
        raise ValueError("tangent_vec must be a FactoredTangent (see project_to_tangent), got "
                         f"{type(tangent_vec).__name__}")
    tangent_vec.check_shapes(base_point, "tangent_vec")
    if isinstance(step, bool | np.bool_) or (isinstance(step, np.ndarray)
                                             and step.dtype.kind not in "iuf"):
        raise ValueError(f"step must be a finite real number, got {step!r}")
    try:
        t = np.asarray(step, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"step must be a finite real number, got {step!r}") from None
    if not np.all(np.isfinite(t)):
        raise ValueError(f"step must be a finite real number, got {step!r}")
    if t.ndim and t.shape != base_point.batch_shape:
        raise ValueError(f"step must be a number or one per member {base_point.batch_shape}, "
                         f"got shape {t.shape}")
    rank = base_point.rank if rank is None else check_rank(rank, *base_point.shape)
    _require_finite("base_point", base_point.u, base_point.s, base_point.v)
    _require_finite("tangent_vec", tangent_vec.m_core, tangent_vec.up, tangent_vec.vp)
    out = retract_or_nan(base_point, tangent_vec, t, rank)
    if not np.all(np.isfinite(out.s)):
        raise NonFiniteError("the step overflowed: X + step * tangent_vec is not finite")
    return out


def retract_or_nan(base_point, tangent_vec, step, rank=None):
    """:func:`retract` per member; members whose step is not finite get NaN factors.

    LAPACK is never called on a non-finite member (it may hang on NaN); a batched driver
    freezes the NaN members as diverged.

    Parameters
    ----------
    base_point : FactoredPoint
    tangent_vec : FactoredTangent
    step : float or ndarray, shape=[batch]
    rank : int, optional

    Returns
    -------
    point : FactoredPoint

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Abstract (metric projection, the
       truncated SVD, as a retraction on fixed-rank matrices).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds, Section 4.1
       (retractions).

    Examples
    --------
    >>> from geodln.lowrank import project_to_tangent
    >>> from geodln.lowrank.retraction import retract_or_nan
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> z = project_to_tangent(np.ones((3, 2)), x)
    >>> bool(np.allclose(retract_or_nan(x, z, 0.1).to_dense(), x.to_dense() + 0.1))
    True
    """
    r = base_point.rank
    rank = r if rank is None else rank
    t = np.asarray(step, float)
    if rank > r or r < PRODUCTS_ROUTE_MIN_RANK:
        return retract_by_core_svd(base_point, tangent_vec, t, rank)
    # products-only truncation (Riccati equations + an r x r SVD), certified per member;
    # the members it does not certify take the general path (thin QRs, 2r x 2r core SVD)
    u, s, v, ok = truncate_tangent_step(base_point.u, base_point.s, base_point.v,
                                        (tangent_vec.m_core, tangent_vec.up, tangent_vec.vp),
                                        t, rank)
    if np.all(ok):
        return FactoredPoint(u, s, v, check=False)
    if not np.any(ok):
        return retract_by_core_svd(base_point, tangent_vec, t, rank)
    rest = ~ok
    other = retract_by_core_svd(
        base_point[rest], type(tangent_vec)(tangent_vec.m_core[rest], tangent_vec.up[rest],
                                            tangent_vec.vp[rest]),
        t[rest] if t.ndim else t, rank)
    u[rest], s[rest], v[rest] = other.u, other.s, other.v
    return FactoredPoint(u, s, v, check=False)


def retract_by_core_svd(base_point, tangent_vec, step, rank=None):
    r""":func:`retract_or_nan` the general way: two thin QRs and the SVD of the 2r×2r core.

    The path :func:`retract_or_nan` takes for the members that
    :func:`geodln.lowrank.tangent_truncation.truncate_tangent_step` does not certify (and for
    ``rank > r``); also the reference the faster route is measured against. Members with
    non-finite input get NaN.

    Parameters
    ----------
    base_point : FactoredPoint
    tangent_vec : FactoredTangent
    step : float or ndarray, shape=[batch]
    rank : int, optional

    Returns
    -------
    point : FactoredPoint

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 3 (retraction by metric projection
       through the 2r×2r core).

    Examples
    --------
    >>> from geodln.lowrank import project_to_tangent
    >>> from geodln.lowrank.retraction import retract_by_core_svd
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> z = project_to_tangent(np.ones((3, 2)), x)
    >>> bool(np.allclose(retract_by_core_svd(x, z, 0.1).to_dense(), x.to_dense() + 0.1))
    True
    """
    t = np.asarray(step, float)
    r = base_point.rank
    rank = r if rank is None else rank
    m, n = base_point.shape
    if rank > 2 * r or 2 * r >= min(m, n):
        ok = (finite_members(base_point.u) & finite_members(base_point.v)
              & finite_members(base_point.s, 1) & finite_members(tangent_vec.m_core)
              & finite_members(tangent_vec.up) & finite_members(tangent_vec.vp)
              & np.isfinite(t))
        if not np.all(ok):
            base_point = base_point.where(ok, _unit_like(base_point))
            tangent_vec = type(tangent_vec)(*(
                np.where(ok[..., None, None] & np.isfinite(a), a, 0.0)
                for a in (tangent_vec.m_core, tangent_vec.up, tangent_vec.vp)))
            t = np.where(ok, t, 0.0)
        out = _truncated_svd(*combine(base_point, [(t, tangent_vec, base_point)]), rank)
        return out if np.all(ok) else _poison(out, ok)
    # Householder QR never iterates, so NaN/inf in the inputs only propagates into the core;
    # the one check that matters is the core's, before its (iterative) SVD
    tb = t[..., None, None] if t.ndim else t
    qu, ru = np.linalg.qr(tangent_vec.up)
    qv, rv = np.linalg.qr(tangent_vec.vp)
    core = np.zeros(base_point.batch_shape + (2 * r, 2 * r))
    core[..., :r, :r] = tb * tangent_vec.m_core
    idx = np.arange(r)
    core[..., idx, idx] += base_point.s
    core[..., :r, r:] = tb * _swap(rv)
    core[..., r:, :r] = tb * ru
    ok = finite_members(core)
    if not np.all(ok):
        core = np.where(ok[..., None, None], core, 0.0)
    cu, cs, cvt = np.linalg.svd(core)
    cv = _swap(cvt[..., :rank, :])
    u = base_point.u @ cu[..., :r, :rank] + qu @ cu[..., r:, :rank]
    v = base_point.v @ cv[..., :r, :] + qv @ cv[..., r:, :]
    out = FactoredPoint(u, cs[..., :rank], v, check=False)
    return out if np.all(ok) else _poison(out, ok)


def _unit_like(point):
    """Return a finite placeholder point (identity frames, unit singular values)."""
    m, n = point.shape
    r = point.rank
    lead = point.batch_shape
    return FactoredPoint(np.broadcast_to(np.eye(m, r), lead + (m, r)), np.ones(lead + (r,)),
                         np.broadcast_to(np.eye(n, r), lead + (n, r)), check=False)


def frobenius_norm_of_product(left, right):
    r"""Return :math:`\|L R^\top\|_F` per member via two thin QRs (accurate under cancellation).

    Parameters
    ----------
    left : ndarray, shape=[..., m, k]
    right : ndarray, shape=[..., n, k]

    Returns
    -------
    norm : float or ndarray, shape=[...]

    Examples
    --------
    >>> from geodln.lowrank.retraction import frobenius_norm_of_product
    >>> bool(np.isclose(frobenius_norm_of_product(np.ones((3, 1)), np.ones((2, 1))), np.sqrt(6)))
    True
    """
    if left.shape[-1] == 0:
        out = np.zeros(left.shape[:-2])
    elif not (np.all(np.isfinite(left)) and np.all(np.isfinite(right))):
        out = np.full(left.shape[:-2], np.inf)
    elif left.shape[-1] >= min(left.shape[-2], right.shape[-2]):  # dense product is cheaper
        out = np.linalg.norm(left @ _swap(right), axis=(-2, -1))
    else:
        _, rl = np.linalg.qr(left)
        _, rr = np.linalg.qr(right)
        out = np.linalg.norm(rl @ _swap(rr), axis=(-2, -1))
    return float(out) if np.ndim(out) == 0 else out
