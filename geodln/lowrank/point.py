r"""Factored rank-r points :math:`X = U\,\mathrm{diag}(\sigma)\,V^\top` (reference §1).

A point of :math:`M_r \subset \mathbb{R}^{m\times n}` is stored as :math:`U \in St(m, r)`,
:math:`\sigma \in \mathbb{R}^r_{\ge 0}` and :math:`V \in St(n, r)` (the pymanopt ``FixedRank``
convention, with ``V`` rather than ``Vᵀ``): O((m + n) r) memory instead of O(mn). The dense
matrix is formed only on request (:meth:`FactoredPoint.to_dense`), and
:meth:`FactoredPoint.to_frame` hands the same factors to :class:`geodln.svd_frame.SVDFrame`
without an SVD, so every kernel computation is shared with the dense code path.
"""

import numpy as np

from geodln._checks import as_generator, check_finite, check_matrix, check_rank
from geodln.svd_frame import SVDFrame

__all__ = ["FactoredPoint", "random_factored_point", "orthonormality_defect"]

ORTHO_TOL = 1e-8


def orthonormality_defect(q):
    r"""Return :math:`\max |Q^\top Q - I|` for ``q`` of shape [..., d, r]."""
    q = np.asarray(q, float)
    gram = np.swapaxes(q, -1, -2) @ q
    return float(np.max(np.abs(gram - np.eye(q.shape[-1])))) if q.size else 0.0


class FactoredPoint:
    r"""A rank-r point :math:`X = U \mathrm{diag}(\sigma) V^\top` kept in factored form.

    Parameters
    ----------
    u : array-like, shape=[m, r]
        Orthonormal columns (left singular vectors).
    s : array-like, shape=[r]
        Singular values, ``>= 0`` (any order; tiny values are allowed).
    v : array-like, shape=[n, r]
        Orthonormal columns (right singular vectors).
    check : bool
        Validate shapes, finiteness, signs and orthonormality (O((m + n) r²)).

    Raises
    ------
    ValueError
        If the shapes do not match, an entry is NaN/inf, a singular value is negative, the
        rank exceeds ``min(m, n)``, or ``u``/``v`` are not orthonormal to ``1e-8``.
    """

    def __init__(self, u, s, v, check=True):
        if check:
            u = check_matrix(u, "u", allow_batch=False)
            v = check_matrix(v, "v", allow_batch=False)
            s = check_finite(s, "s")
            r = u.shape[1]
            if s.shape != (r,):
                raise ValueError(f"s must have shape ({r},) to match u {u.shape}, got {s.shape}")
            if v.shape[1] != r:
                raise ValueError(f"v must have {r} columns to match u {u.shape}, got {v.shape}")
            check_rank(r, u.shape[0], v.shape[0], name="rank (columns of u)")
            if np.any(s <= 0):
                raise ValueError(
                    f"s must be > 0 (the singular values of a rank-{r} point), got {s!r}"
                )
            for name, q in (("u", u), ("v", v)):
                if orthonormality_defect(q) > ORTHO_TOL:
                    raise ValueError(f"{name} must have orthonormal columns (QᵀQ = I to 1e-8)")
        self.u = np.asarray(u, float)
        self.s = np.asarray(s, float)
        self.v = np.asarray(v, float)

    # -- shape --------------------------------------------------------------------------
    @property
    def shape(self):
        """``(m, n)`` of the dense matrix."""
        return (self.u.shape[0], self.v.shape[0])

    @property
    def rank(self):
        """The rank r (number of stored singular triplets)."""
        return self.s.shape[0]

    @property
    def full_rank(self):
        """Whether ``r = min(m, n)`` (no normal block)."""
        return self.rank == min(self.shape)

    # -- conversions --------------------------------------------------------------------
    @classmethod
    def from_dense(cls, x, rank=None):
        """Thin SVD of a dense ``x`` [m, n], truncated to ``rank`` (Eckart–Young projection).

        Raises
        ------
        ValueError
            If ``x`` is not a finite matrix or ``rank > min(m, n)``.
        """
        x = check_matrix(x, "x", allow_batch=False)
        m, n = x.shape
        rank = min(m, n) if rank is None else check_rank(rank, m, n)
        frame = SVDFrame(x, rank, check=False)
        return cls(frame.u, frame.s, frame.vt.T, check=False)

    @classmethod
    def from_frame(cls, frame):
        """Factored point sharing the arrays of an (unbatched) :class:`SVDFrame`."""
        return cls(frame.u, frame.s, np.swapaxes(frame.vt, -1, -2), check=False)

    @classmethod
    def from_product(cls, left, right, rank=None):
        r"""Return the truncated SVD of :math:`L R^\top` from ``left`` [m, k] and ``right`` [n, k].

        Two thin QRs and one k×k SVD: O((m + n) k² + k³), no m×n array.
        """
        left = check_matrix(left, "left", allow_batch=False)
        right = check_matrix(right, "right", allow_batch=False)
        if left.shape[1] != right.shape[1]:
            raise ValueError(
                f"left {left.shape} and right {right.shape} must have the same number of columns"
            )
        k = left.shape[1]
        rank = min(k, left.shape[0], right.shape[0]) if rank is None else check_rank(
            rank, left.shape[0], right.shape[0]
        )
        from geodln.lowrank.retraction import truncated_svd_of_product

        return truncated_svd_of_product(left, right, rank)

    def to_dense(self):
        """Return the dense matrix ``U diag(s) Vᵀ`` [m, n] (small problems only)."""
        return (self.u * self.s) @ self.v.T

    def to_frame(self):
        """Return the :class:`~geodln.svd_frame.SVDFrame` of this point (no SVD computed)."""
        return SVDFrame.from_factors(self.u, self.s, self.v.T)

    def left(self):
        """Return ``U diag(s)`` [m, r], so that ``X = left() @ v.T``."""
        return self.u * self.s

    # -- summaries ----------------------------------------------------------------------
    def frobenius_norm(self):
        r""":math:`\|X\|_F = \|\sigma\|_2`."""
        return float(np.linalg.norm(self.s))

    def entries(self, rows, cols, chunk=1 << 16):
        r"""Entries :math:`X_{ij} = \sum_k U_{ik}\sigma_k V_{jk}` at index arrays, O(k r).

        Parameters
        ----------
        rows, cols : array of int, shape=[k]
        chunk : int
            Entries per block (bounds the temporary memory to ``3 chunk r`` floats).

        Returns
        -------
        values : ndarray, shape=[k]
        """
        return entries_of_product(self.left(), self.v, rows, cols, chunk)

    def copy(self):
        """Deep copy."""
        return FactoredPoint(self.u.copy(), self.s.copy(), self.v.copy(), check=False)

    def __repr__(self):
        return f"FactoredPoint(shape={self.shape}, rank={self.rank})"


def entries_of_product(left, right, rows, cols, chunk=1 << 16):
    r"""Entries of :math:`L R^\top` at ``(rows[i], cols[i])`` in O(k r), in blocks of ``chunk``."""
    k = rows.shape[0]
    out = np.empty(k)
    for start in range(0, k, chunk):
        stop = min(start + chunk, k)
        out[start:stop] = np.einsum(
            "ij,ij->i", left[rows[start:stop]], right[cols[start:stop]]
        )
    return out


def random_factored_point(m, n, rank, seed=None, spectrum=None):
    """Haar-random ``U``, ``V`` with singular values ``spectrum`` (default: |Gaussian|, sorted).

    Parameters
    ----------
    m, n, rank : int
        Shape and rank (``rank <= min(m, n)``).
    seed : int or numpy Generator, optional
        Randomness.
    spectrum : array-like, shape=[rank], optional
        Singular values (ties and tiny values allowed).

    Returns
    -------
    point : FactoredPoint
    """
    rank = check_rank(rank, m, n)
    rng = as_generator(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, rank)))
    v, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    if spectrum is None:
        spectrum = np.sort(np.abs(rng.standard_normal(rank)))[::-1] + 0.1
    s = check_finite(spectrum, "spectrum")
    if s.shape != (rank,):
        raise ValueError(f"spectrum must have shape ({rank},), got {s.shape}")
    return FactoredPoint(u, s, v)
