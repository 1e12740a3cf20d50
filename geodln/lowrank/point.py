r"""Factored rank-r points :math:`X = U\,\mathrm{diag}(\sigma)\,V^\top`, with a batch axis.

A point of :math:`M_r \subset \mathbb{R}^{m\times n}` is stored as :math:`U \in St(m, r)`,
:math:`\sigma \in \mathbb{R}^r_{\ge 0}` and :math:`V \in St(n, r)` (the pymanopt
``FixedRankEmbedded`` convention, with ``V`` rather than ``Vᵀ``): O((m + n) r) memory instead
of O(mn). Every array may carry leading batch axes: ``U [..., m, r]``, ``σ [..., r]``,
``V [..., n, r]``; a batch of B points is one object and every operation acts on all of them
in one vectorised call.

:class:`FactoredPoint` *is* a :class:`geodln.svd_frame.SVDFrame` (the thin SVD frame of the
dense code path) built from given factors instead of an SVD, so the co-metric and the metric
of every spectral kernel are evaluated by the same code for dense and factored points
(:meth:`geodln.svd_frame.SVDFrame.scale_blocks`). The dense matrix is formed only on request
(:meth:`FactoredPoint.to_dense`).
"""

import numpy as np

from geodln._checks import (
    as_array,
    as_generator,
    check_bool,
    check_finite,
    check_matrix,
    check_positive_int,
    check_rank,
)
from geodln.svd_frame import SVDFrame

__all__ = ["FactoredPoint", "random_factored_point", "orthonormality_defect",
           "entries_of_product", "NonFiniteError"]

ORTHO_TOL = 1e-8


class NonFiniteError(ValueError):
    """Raised when a factorisation is asked of NaN/inf factors (a diverged state).

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> from geodln.lowrank.point import NonFiniteError
    >>> from geodln.lowrank.retraction import truncated_svd_of_product
    >>> try:
    ...     truncated_svd_of_product(np.full((3, 1), np.nan), np.ones((2, 1)), 1)
    ... except NonFiniteError as exc:
    ...     print(exc)
    left contains NaN or inf entries (a diverged state?)
    """


def orthonormality_defect(q):
    r"""Return :math:`\max |Q^\top Q - I|` over a batch ``q`` of shape [..., d, r].

    Parameters
    ----------
    q : array-like, shape=[..., d, r]

    Returns
    -------
    defect : float

    Examples
    --------
    >>> import numpy as np
    >>> float(orthonormality_defect(np.eye(3)[:, :2]))
    0.0
    """
    q = np.asarray(q, float)
    gram = np.swapaxes(q, -1, -2) @ q
    return float(np.max(np.abs(gram - np.eye(q.shape[-1])))) if q.size else 0.0


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _array(x, name):
    arr = as_array(x, name)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueError(f"{name} must be a real array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got a complex array")
    return check_finite(arr, name)


class FactoredPoint(SVDFrame):
    r"""A batch of rank-r points :math:`X = U \mathrm{diag}(\sigma) V^\top` in factored form.

    Parameters
    ----------
    u : array-like, shape=[..., m, r]
        Orthonormal columns (left singular vectors).
    s : array-like, shape=[..., r]
        Singular values, ``> 0`` (any order; tiny values are allowed).
    v : array-like, shape=[..., n, r]
        Orthonormal columns (right singular vectors).
    check : bool
        Validate shapes, finiteness, signs and orthonormality (O((m + n) r²)).

    Attributes
    ----------
    u, s, v, vt : ndarray
        The factors (``vt`` is a view of ``v`` transposed: the :class:`SVDFrame` layout).
    batch_shape : tuple
        The leading batch axes (``()`` for one point).

    Raises
    ------
    ValueError
        If an argument is not a real array, the shapes or batch axes do not match, an entry is
        NaN/inf, a singular value is not positive (a rank-r point has r positive singular
        values), the rank exceeds ``min(m, n)``, or ``u``/``v`` are not orthonormal to 1e-8.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2.1 (factored points of
       :math:`M_r`).
    .. [2] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds
       (2008), Chapter 3 (first-order geometry of matrix manifolds).

    Examples
    --------
    >>> import numpy as np
    >>> p = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))
    >>> p.shape, p.rank, p.batch_shape
    ((3, 2), 2, ())
    >>> p.to_dense()
    array([[2., 0.],
           [0., 1.],
           [0., 0.]])
    """

    def __init__(self, u, s, v, check=True):
        if check_bool(check, "check"):
            u, s, v = _array(u, "u"), _array(s, "s"), _array(v, "v")
            if u.ndim < 2 or v.ndim < 2 or s.ndim < 1:
                raise ValueError(
                    f"u, s, v must have shapes [..., m, r], [..., r], [..., n, r]; got "
                    f"{u.shape}, {s.shape}, {v.shape}"
                )
            r = u.shape[-1]
            if r < 1:
                raise ValueError(f"u must have at least one column, got shape {u.shape}")
            if s.shape != u.shape[:-2] + (r,):
                raise ValueError(f"s must have shape {u.shape[:-2] + (r,)} to match u "
                                 f"{u.shape}, got {s.shape}")
            if v.shape[:-2] != u.shape[:-2] or v.shape[-1] != r:
                raise ValueError(f"v must have shape {u.shape[:-2] + (v.shape[-2], r)} to match"
                                 f" u {u.shape}, got {v.shape}")
            check_rank(r, u.shape[-2], v.shape[-2], name="rank (columns of u)")
            if np.any(s <= 0):
                raise ValueError("s must be > 0 (the r singular values of a rank-r point)")
            for name, q in (("u", u), ("v", v)):
                if orthonormality_defect(q) > ORTHO_TOL:
                    raise ValueError(f"{name} must have orthonormal columns (QᵀQ = I to 1e-8)")
        self.u = np.asarray(u, float)
        self.s = np.asarray(s, float)
        self.v = np.asarray(v, float)
        self.shape = (self.u.shape[-2], self.v.shape[-2])
        self.rank = self.s.shape[-1]

    # the SVDFrame layout keeps Vᵀ; here it is a view of V
    @property
    def vt(self):
        """``Vᵀ`` [..., r, n] (a view)."""
        return _swap(self.v)

    @vt.setter
    def vt(self, value):
        self.v = _swap(np.asarray(value, float))

    # -- shape --------------------------------------------------------------------------
    @property
    def batch_shape(self):
        """Leading batch axes (``()`` for a single point)."""
        return self.s.shape[:-1]

    def __len__(self):
        if not self.batch_shape:
            raise TypeError("a single FactoredPoint has no length (no batch axis)")
        return self.batch_shape[0]

    def __getitem__(self, index):
        """Member(s) of the batch: ``point[k]`` is one point, ``point[mask]`` a sub-batch."""
        if not self.batch_shape:
            raise IndexError("a single FactoredPoint cannot be indexed (no batch axis)")
        return FactoredPoint(self.u[index], self.s[index], self.v[index], check=False)

    @classmethod
    def stack(cls, points):
        """Stack single points (same shape and rank) into a batch along a new first axis.

        Raises
        ------
        ValueError
            If ``points`` is empty or the shapes differ.
        """
        points = list(points)
        if not points or not all(isinstance(p, FactoredPoint) for p in points):
            raise ValueError("points must be a non-empty sequence of FactoredPoint")
        if len({(p.shape, p.rank, p.batch_shape) for p in points}) != 1:
            raise ValueError("points must share shape, rank and batch shape to be stacked")
        return cls(np.stack([p.u for p in points]), np.stack([p.s for p in points]),
                   np.stack([p.v for p in points]), check=False)

    def where(self, mask, other):
        """Member-wise select: ``self`` where ``mask`` [batch] is True, else ``other``."""
        mask = np.asarray(mask, bool)
        return FactoredPoint(np.where(mask[..., None, None], self.u, other.u),
                             np.where(mask[..., None], self.s, other.s),
                             np.where(mask[..., None, None], self.v, other.v), check=False)

    def is_finite(self):
        """Boolean [batch]: whether every factor entry of the member is finite."""
        return (np.all(np.isfinite(self.s), axis=-1)
                & np.all(np.isfinite(self.u), axis=(-2, -1))
                & np.all(np.isfinite(self.v), axis=(-2, -1)))

    # -- conversions --------------------------------------------------------------------
    @classmethod
    def from_dense(cls, x, rank=None):
        """Thin SVD of dense ``x`` [..., m, n], truncated to ``rank`` (Eckart–Young projection).

        Raises
        ------
        ValueError
            If ``x`` is not a finite real matrix, ``rank > min(m, n)``, or the truncated
            point has a zero singular value (``x`` has rank < ``rank``).
        """
        frame = SVDFrame(check_matrix(x, "x"), rank, check=False)  # truncation intended
        if rank is not None:
            check_rank(rank, *frame.shape)
        if np.any(frame.s <= 0):
            raise ValueError(f"x has rank < {frame.rank}: its rank-{frame.rank} truncation has "
                             "a zero singular value")
        return cls(frame.u, frame.s, _swap(frame.vt), check=False)

    @classmethod
    def from_product(cls, left, right, rank=None):
        r"""Return the truncated SVD of :math:`L R^\top` (``L`` [..., m, k], ``R`` [..., n, k]).

        Two thin QRs and one k×k SVD: O((m + n) k² + k³), no m×n array.

        Raises
        ------
        ValueError
            If ``left``/``right`` are not finite, their column counts or batch axes differ,
            or ``rank`` is invalid.
        """
        from geodln.lowrank.retraction import truncated_svd_of_product

        left, right = _array(left, "left"), _array(right, "right")
        if left.ndim < 2 or right.ndim < 2 or left.shape[-1] != right.shape[-1] \
                or left.shape[:-2] != right.shape[:-2]:
            raise ValueError(f"left {left.shape} and right {right.shape} must be [..., m, k] "
                             "and [..., n, k] with the same k and batch axes")
        m, n, k = left.shape[-2], right.shape[-2], left.shape[-1]
        rank = min(k, m, n) if rank is None else check_rank(rank, m, n)
        return truncated_svd_of_product(left, right, rank)

    @classmethod
    def from_frame(cls, frame):
        """Factored point sharing the arrays of an :class:`SVDFrame` (no SVD computed)."""
        return cls(frame.u, frame.s, _swap(frame.vt), check=False)

    def to_dense(self):
        """Return the dense matrix ``U diag(s) Vᵀ`` [..., m, n] (small problems only)."""
        return self.left() @ self.vt

    def matrix(self):
        """Alias of :meth:`to_dense` (the :class:`SVDFrame` name)."""
        return self.to_dense()

    def to_frame(self):
        """Return this point (it is its own :class:`~geodln.svd_frame.SVDFrame`)."""
        return self

    def left(self):
        """Return ``U diag(s)`` [..., m, r], so that ``X = left() @ v.T``."""
        return self.u * self.s[..., None, :]

    # -- summaries ----------------------------------------------------------------------
    def frobenius_norm(self):
        r""":math:`\|X\|_F = \|\sigma\|_2` per member (float for a single point)."""
        out = np.linalg.norm(self.s, axis=-1)
        return float(out) if out.ndim == 0 else out

    def entries(self, rows, cols, chunk=1 << 16):
        r"""Entries :math:`X_{ij} = \sum_k U_{ik}\sigma_k V_{jk}` at index arrays, O(k r).

        Parameters
        ----------
        rows, cols : array of int, shape=[k]
        chunk : int
            Entries per block (bounds the temporary memory to ``3 chunk r`` per member).

        Returns
        -------
        values : ndarray, shape=[..., k]
        """
        return entries_of_product(self.left(), self.v, rows, cols, chunk)

    def copy(self):
        """Deep copy."""
        return FactoredPoint(self.u.copy(), self.s.copy(), self.v.copy(), check=False)

    def __repr__(self):
        batch = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        return f"FactoredPoint(shape={self.shape}, rank={self.rank}{batch})"


def entries_of_product(left, right, rows, cols, chunk=1 << 16):
    r"""Entries of :math:`L R^\top` at ``(rows[i], cols[i])`` in O(k r), in blocks of ``chunk``.

    Parameters
    ----------
    left : ndarray, shape=[..., m, r]
    right : ndarray, shape=[..., n, r]
    rows, cols : ndarray of int, shape=[k]
    chunk : int

    Returns
    -------
    values : ndarray, shape=[..., k]

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    :math:`L = (1, 1, 1)^\top`, :math:`R = (0, 1)^\top`: entry (i, j) of :math:`LR^\top` is
    :math:`R_j`.

    >>> from geodln.lowrank.point import entries_of_product
    >>> entries_of_product(np.ones((3, 1)), np.array([[0.0], [1.0]]), np.array([0, 2]),
    ...                    np.array([1, 0]))
    array([1., 0.])
    """
    k = rows.shape[0]
    out = np.empty(left.shape[:-2] + (k,))
    for start in range(0, k, chunk):
        stop = min(start + chunk, k)
        out[..., start:stop] = np.einsum(
            "...ij,...ij->...i", left[..., rows[start:stop], :], right[..., cols[start:stop], :]
        )
    return out


def random_factored_point(m, n, rank, seed=None, spectrum=None, batch=None):
    """Haar-random ``U``, ``V`` with singular values ``spectrum`` (default: |Gaussian|, sorted).

    Parameters
    ----------
    m, n, rank : int
        Shape and rank (``rank <= min(m, n)``).
    seed : int or numpy Generator, optional
        Randomness (None: fresh entropy).
    spectrum : array-like, shape=[rank] or [batch, rank], optional
        Positive singular values (ties and tiny values allowed).
    batch : int, optional
        Number of points B (a batch ``[B, ...]``); default one point.

    Returns
    -------
    point : FactoredPoint
        Batch shape ``()`` or ``(batch,)``.

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``rank > min(m, n)``, or ``spectrum`` has the
        wrong shape or a non-positive entry.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> p = random_factored_point(5, 4, 2, seed=0, spectrum=[2.0, 1.0])
    >>> p.shape, p.rank
    ((5, 4), 2)
    >>> random_factored_point(5, 4, 2, seed=0, batch=3).batch_shape
    (3,)
    """
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    rank = check_rank(rank, m, n)
    lead = () if batch is None else (check_positive_int(batch, "batch"),)
    rng = as_generator(seed)
    u, _ = np.linalg.qr(rng.standard_normal(lead + (m, rank)))
    v, _ = np.linalg.qr(rng.standard_normal(lead + (n, rank)))
    if spectrum is None:
        s = -np.sort(-np.abs(rng.standard_normal(lead + (rank,))), axis=-1)
    else:
        s = _array(spectrum, "spectrum")
        if s.shape not in ((rank,), lead + (rank,)):
            raise ValueError(f"spectrum must have shape ({rank},) or {lead + (rank,)}, got "
                             f"{s.shape}")
        s = np.broadcast_to(s, lead + (rank,)).copy()
    if np.any(s <= 0):
        raise ValueError("spectrum must hold positive singular values")
    return FactoredPoint(u, s, v, check=False)
