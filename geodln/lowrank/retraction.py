r"""Truncated SVDs of low-rank sums: the metric-projection retraction onto :math:`M_r`.

A sum of a factored point and factored tangent vectors (possibly at *different* base points,
as in the stages of a Runge–Kutta step) is a matrix :math:`L R^\top` with k = r + 2r·(number
of vectors) columns. Its best rank-r approximation (Eckart–Young) costs two thin QRs,
:math:`L = Q_L R_L`, :math:`R = Q_R R_R`, and one SVD of the k×k core
:math:`R_L R_R^\top`: O((m + n) k² + k³), never an m×n array. For one tangent vector at the
base point k = 2r ("thin SVD of a 2r×2r core"): this is the metric-projection retraction of
Absil–Oseledets 2015 / Vandereycken 2013 §2.
"""

import numbers

import numpy as np

from geodln._checks import check_rank

__all__ = [
    "truncated_svd_of_product",
    "retract",
    "combine",
    "frobenius_norm_of_product",
]


def _thin_qr(a):
    q, r = np.linalg.qr(a, mode="reduced")
    return q, r


def truncated_svd_of_product(left, right, rank):
    r"""Best rank-``rank`` approximation of :math:`L R^\top` as a :class:`FactoredPoint`.

    Parameters
    ----------
    left : ndarray, shape=[m, k]
    right : ndarray, shape=[n, k]
    rank : int
        ``1 <= rank <= min(m, n)``; if ``rank > k`` the extra singular values are 0.

    Returns
    -------
    point : FactoredPoint
        Singular values non-increasing.
    """
    from geodln.lowrank.point import FactoredPoint

    m, n = left.shape[0], right.shape[0]
    rank = check_rank(rank, m, n)
    ql, rl = _thin_qr(left)
    qr_, rr = _thin_qr(right)
    cu, cs, cvt = np.linalg.svd(rl @ rr.T, full_matrices=False)
    u = ql @ cu[:, :rank]
    v = qr_ @ cvt[:rank].T
    s = cs[:rank]
    if s.shape[0] < rank:  # k < rank: pad with orthonormal directions and zero singular values
        u = _complete(u, rank)
        v = _complete(v, rank)
        s = np.concatenate([s, np.zeros(rank - s.shape[0])])
    return FactoredPoint(u, s, v, check=False)


def _complete(q, rank):
    """Append orthonormal columns to ``q`` (d×k) until it has ``rank`` columns."""
    d, k = q.shape
    extra = np.eye(d, rank - k) if k == 0 else np.random.default_rng(0).standard_normal(
        (d, rank - k)
    )
    extra = extra - q @ (q.T @ extra)
    qe, _ = np.linalg.qr(extra)
    return np.hstack([q, qe])


def combine(point, terms):
    r"""Factors ``(L, R)`` of :math:`X + \sum_i c_i Z_i` for tangent vectors at any base points.

    Parameters
    ----------
    point : FactoredPoint or None
        The point X (``None`` for a pure sum of tangent vectors).
    terms : list of (float, FactoredTangent, FactoredPoint)
        Coefficient, tangent vector and *its* base point.

    Returns
    -------
    left : ndarray, shape=[m, k]
    right : ndarray, shape=[n, k]
    """
    lefts, rights = [], []
    if point is not None:
        lefts.append(point.left())
        rights.append(point.v)
    for coef, vec, base in terms:
        if coef == 0:
            continue
        a, b = vec.low_rank_factors(base)
        lefts.append(coef * a)
        rights.append(b)
    return np.hstack(lefts), np.hstack(rights)


def retract(base_point, tangent_vec, step=1.0, rank=None):
    r"""Metric-projection retraction :math:`R_X(tZ) = P_{M_r}(X + tZ)` (thin SVD, 2r×2r core).

    Parameters
    ----------
    base_point : FactoredPoint
    tangent_vec : FactoredTangent
        Tangent at ``base_point``.
    step : float
        The factor t.
    rank : int, optional
        Target rank (default: the rank of ``base_point``).

    Returns
    -------
    point : FactoredPoint
    """
    if isinstance(step, bool | np.bool_) or not isinstance(step, numbers.Real) or not np.isfinite(
        step
    ):
        raise ValueError(f"step must be a finite real number, got {step!r}")
    left, right = combine(base_point, [(step, tangent_vec, base_point)])
    return truncated_svd_of_product(left, right, base_point.rank if rank is None else rank)


def frobenius_norm_of_product(left, right):
    r"""Return :math:`\|L R^\top\|_F` via two thin QRs (accurate under cancellation)."""
    if left.shape[1] == 0:
        return 0.0
    _, rl = _thin_qr(left)
    _, rr = _thin_qr(right)
    return float(np.linalg.norm(rl @ rr.T))
