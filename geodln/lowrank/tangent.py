r"""Factored tangent vectors of :math:`M_r` (batched) and the tangent projection of covectors.

At :math:`X = U\Sigma V^\top` every :math:`Z \in T_X M_r = \{U_\perp^\top Z V_\perp = 0\}`
(VAN13, Section 2) is

.. math:: Z = U M V^\top + U_p V^\top + U V_p^\top, \qquad U^\top U_p = 0,\; V^\top V_p = 0,

with :math:`M = U^\top Z V` (r×r), :math:`U_p = P_{U_\perp} Z V` (m×r),
:math:`V_p = P_{V_\perp} Z^\top U` (n×r) — the standard triple (pymanopt ``FixedRank``,
Vandereycken 2013). The three blocks are the core and the two mixed blocks of
:class:`geodln.svd_frame.SVDFrame` (``U_p`` is its ``left`` block, ``V_pᵀ`` its ``right``
block), so a spectral co-metric acts on them by the same eigenvalues.

:func:`project_to_tangent` computes the triple of the Frobenius projection of any covector
``G`` that supports ``G @ V`` and ``G.T @ U`` (dense array, ``scipy.sparse`` matrix,
:class:`LowRankOperator`) in the cost of those two products plus O((m + n) r²): a sparse
gradient with nnz entries is projected in O(nnz·r) without being densified. Every array may
carry leading batch axes (``M [..., r, r]``, ``U_p [..., m, r]``, ``V_p [..., n, r]``), matching
a batched :class:`~geodln.lowrank.point.FactoredPoint`; a batch of sparse covectors sharing one
sparsity pattern is a :class:`BatchedSparse` (one block-diagonal CSR product per call).
"""

import numpy as np

from geodln._checks import check_finite
from geodln.lowrank.point import FactoredPoint

__all__ = ["FactoredTangent", "project_to_tangent", "LowRankOperator", "BatchedSparse"]


def _swap(a):
    return a.mT


def _sum_last2(a):
    out = np.sum(a, axis=(-2, -1))
    return float(out) if np.ndim(out) == 0 else out


class FactoredTangent:
    r"""Tangent vector :math:`Z = U M V^\top + U_p V^\top + U V_p^\top` at a factored point.

    Parameters
    ----------
    m_core : array-like, shape=[..., r, r]
        :math:`M = U^\top Z V`.
    up : array-like, shape=[..., m, r]
        :math:`U_p`, with :math:`U^\top U_p = 0`.
    vp : array-like, shape=[..., n, r]
        :math:`V_p`, with :math:`V^\top V_p = 0`.

    Raises
    ------
    ValueError
        With the message ``tangent blocks must be m_core [..., r, r], up [..., m, r], vp [...,
        n, r]; got …, …, …``.

    Notes
    -----
    The orthogonality constraints are not re-checked here (they hold by construction for
    :func:`project_to_tangent`); :meth:`check` verifies them against a base point.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> from geodln.lowrank.tangent import FactoredTangent
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> z = FactoredTangent(np.eye(2), np.zeros((3, 2)), np.zeros((2, 2)))  # Z = U I V^T
    >>> z.to_dense(x)
    array([[1., 0.],
           [0., 1.],
           [0., 0.]])
    """

    def __init__(self, m_core, up, vp):
        self.m_core = np.asarray(m_core, float)
        self.up = np.asarray(up, float)
        self.vp = np.asarray(vp, float)
        r = self.m_core.shape[-1]
        lead = self.m_core.shape[:-2]
        if (self.m_core.ndim < 2 or self.m_core.shape[-2] != r or self.up.shape[-1] != r
                or self.vp.shape[-1] != r or self.up.shape[:-2] != lead
                or self.vp.shape[:-2] != lead):
            raise ValueError(
                f"tangent blocks must be m_core [..., r, r], up [..., m, r], vp [..., n, r]; got "
                f"{self.m_core.shape}, {self.up.shape}, {self.vp.shape}"
            )

    @classmethod
    def from_dense(cls, tangent_vec, base_point):
        """Triple of the Frobenius projection of a dense ``tangent_vec`` [m, n] onto T_X M_r.

        Raises
        ------
        ValueError
            With the message ``tangent_vec must have shape …, got …``; or ``tangent_vec contains NaN
            or inf entries``.
        """
        z = np.asarray(tangent_vec, float)
        if z.shape != base_point.batch_shape + base_point.shape:
            raise ValueError(
                f"tangent_vec must have shape {base_point.batch_shape + base_point.shape}, "
                f"got {z.shape}"
            )
        if not np.all(np.isfinite(z)):
            raise ValueError("tangent_vec contains NaN or inf entries")
        return project_to_tangent(z, base_point)

    def to_dense(self, base_point):
        """Return the dense matrix :math:`Z` [..., m, n] (small problems only)."""
        u, v = base_point.u, base_point.v
        return (u @ self.m_core + self.up) @ _swap(v) + u @ _swap(self.vp)

    def check_shapes(self, base_point, name="tangent_vec"):
        """Raise ``ValueError`` (naming ``name``) unless the block shapes match ``base_point``.

        Raises
        ------
        ValueError
            With the message ``… blocks …, …, … do not match base_point of shape … and rank …``.
        """
        m, n = base_point.shape
        r = base_point.rank
        lead = base_point.batch_shape
        if (self.m_core.shape != lead + (r, r) or self.up.shape != lead + (m, r)
                or self.vp.shape != lead + (n, r)):
            raise ValueError(
                f"{name} blocks {self.m_core.shape}, {self.up.shape}, {self.vp.shape} do not "
                f"match base_point of shape {(m, n)} and rank {r}"
            )
        return self

    def check(self, base_point, atol=1e-10):
        """Raise ``ValueError`` unless the shapes match ``base_point`` and Uᵀ U_p = Vᵀ V_p = 0.

        Raises
        ------
        ValueError
            With the message ``tangent_vec.… contains NaN or inf entries``; or ``tangent_vec.up must
            satisfy Uᵀ U_p = 0``; or ``tangent_vec.vp must satisfy Vᵀ V_p = 0``.
        """
        self.check_shapes(base_point)
        for name, arr in (("m_core", self.m_core), ("up", self.up), ("vp", self.vp)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"tangent_vec.{name} contains NaN or inf entries")
        scale = max(1.0, np.linalg.norm(self.up), np.linalg.norm(self.vp))
        if np.linalg.norm(_swap(base_point.u) @ self.up) > atol * scale:
            raise ValueError("tangent_vec.up must satisfy Uᵀ U_p = 0")
        if np.linalg.norm(_swap(base_point.v) @ self.vp) > atol * scale:
            raise ValueError("tangent_vec.vp must satisfy Vᵀ V_p = 0")
        return self

    # -- linear structure (same base point) -------------------------------------------------
    def __add__(self, other):
        return FactoredTangent(
            self.m_core + other.m_core, self.up + other.up, self.vp + other.vp
        )

    def __sub__(self, other):
        return self + (-1.0) * other

    def __mul__(self, scalar):
        c = np.asarray(scalar, float)
        if c.ndim:  # one coefficient per batch member
            return FactoredTangent(c[..., None, None] * self.m_core,
                                   c[..., None, None] * self.up, c[..., None, None] * self.vp)
        return FactoredTangent(scalar * self.m_core, scalar * self.up, scalar * self.vp)

    __rmul__ = __mul__

    def __neg__(self):
        return -1.0 * self

    def frobenius_inner(self, other):
        r"""Frobenius product :math:`\mathrm{tr}(Z_1^\top Z_2)` per member (orthogonal blocks)."""
        return _sum_last2(self.m_core * other.m_core) + _sum_last2(self.up * other.up) \
            + _sum_last2(self.vp * other.vp)

    def frobenius_norm(self):
        r""":math:`\|Z\|_F` per member."""
        out = np.sqrt(self.frobenius_inner(self))
        return float(out) if np.ndim(out) == 0 else out

    def low_rank_factors(self, base_point):
        r"""Return ``(A, B)`` [..., m, 2r], [..., n, 2r] with :math:`Z = AB^\top`."""
        u, v = base_point.u, base_point.v
        return (np.concatenate([u @ self.m_core + self.up, u], axis=-1),
                np.concatenate([v, self.vp], axis=-1))

    def __repr__(self):
        return f"FactoredTangent(m={self.up.shape[0]}, n={self.vp.shape[0]}, r={self.up.shape[1]})"


def _transpose_matmul(covector, other):
    """``covectorᵀ @ other`` for arrays (batch-aware transpose) and operators with ``.T``."""
    if isinstance(covector, np.ndarray):
        return _swap(covector) @ other
    return covector.T @ other


def project_to_tangent(covector, base_point):
    r"""Frobenius projection of ``covector`` onto :math:`T_X M_r`, as a factored triple.

    :math:`M = U^\top G V`, :math:`U_p = G V - U M`, :math:`V_p = G^\top U - V M^\top`.
    Cost: the products ``G @ V`` and ``Gᵀ @ U`` (O(nnz·r) for a sparse ``G``) plus
    O((m + n) r²); nothing of size m×n is formed.

    Parameters
    ----------
    covector : ndarray [..., m, n], scipy.sparse matrix, BatchedSparse or LowRankOperator
        Anything with ``covector @ V`` (and ``covector.T @ U``); batch axes match
        ``base_point``.
    base_point : FactoredPoint

    Returns
    -------
    tangent_vec : FactoredTangent

    Raises
    ------
    ValueError
        If ``covector`` does not have the trailing shape ``(m, n)`` of ``base_point``.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2.3 (tangent projection).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.lowrank import random_factored_point
    >>> p = random_factored_point(5, 4, 2, seed=0)
    >>> g = np.arange(20.0).reshape(5, 4)
    >>> z = project_to_tangent(g, p)
    >>> bool(np.allclose(project_to_tangent(z.to_dense(p), p).to_dense(p), z.to_dense(p)))
    True
    """
    if not isinstance(base_point, FactoredPoint):
        raise ValueError(f"base_point must be a FactoredPoint, got {type(base_point).__name__}")
    if not hasattr(covector, "shape") or isinstance(covector, np.ndarray):
        covector = check_finite(covector, "covector")
    m, n = base_point.shape
    shape = tuple(np.shape(covector)) if isinstance(covector, np.ndarray) else \
        tuple(covector.shape)
    if shape[-2:] != (m, n):
        raise ValueError(f"covector must have shape [..., {m}, {n}], got {shape}")
    u, v = base_point.u, base_point.v
    gv = np.asarray(covector @ v)
    gtu = np.asarray(_transpose_matmul(covector, u))
    core = _swap(u) @ gv
    return FactoredTangent(core, gv - u @ core, gtu - v @ _swap(core))


class LowRankOperator:
    r"""The m×n matrix :math:`L R^\top` kept as its factors (e.g. a rank-one-sensing gradient).

    Supports ``op @ B`` and ``op.T @ B`` in O((m + n) k b) for ``B`` with b columns; ``left``
    and ``right`` may carry the same leading batch axes.

    Parameters
    ----------
    left : ndarray, shape=[..., m, k]
    right : ndarray, shape=[..., n, k]

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> import numpy as np
    >>> op = LowRankOperator(np.ones((3, 1)), np.arange(2.0)[:, None])
    >>> op.toarray()
    array([[0., 1.],
           [0., 1.],
           [0., 1.]])
    """

    def __init__(self, left, right):
        self.left = np.asarray(left, float)
        self.right = np.asarray(right, float)
        self.shape = self.left.shape[:-2] + (self.left.shape[-2], self.right.shape[-2])

    def __matmul__(self, other):
        return self.left @ (_swap(self.right) @ other)

    @property
    def T(self):  # noqa: N802  (numpy naming)
        r"""Transpose :math:`R L^\top`."""
        return LowRankOperator(self.right, self.left)

    def toarray(self):
        """Dense [..., m, n] array (small problems only)."""
        return self.left @ _swap(self.right)


class BatchedSparse:
    r"""A batch of B sparse m×n matrices held as one block-diagonal (B·m)×(B·n) CSR matrix.

    ``op @ V`` for ``V`` [B, n, k] is one sparse product (no Python loop over members);
    ``op.T`` is the batch of transposes.

    Parameters
    ----------
    block : scipy.sparse matrix, shape=[B*m, B*n]
        Block diagonal: member b occupies rows ``b*m:(b+1)*m``, columns ``b*n:(b+1)*n``.
    batch : int
        B.
    shape : tuple of int
        ``(m, n)`` of one member.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> op = BatchedSparse(sp.csr_matrix(np.diag([1.0, 2.0])), 2, (1, 1))
    >>> (op @ np.ones((2, 1, 3)))[:, 0, 0]
    array([1., 2.])
    """

    def __init__(self, block, batch, shape):
        self.block = block
        self.batch = int(batch)
        self.member_shape = (int(shape[0]), int(shape[1]))
        self.shape = (self.batch,) + self.member_shape

    def __matmul__(self, other):
        m, n = self.member_shape
        other = np.asarray(other, float)
        out = self.block @ other.reshape(self.batch * n, -1)
        return np.asarray(out).reshape(self.batch, m, -1)

    @property
    def T(self):  # noqa: N802  (numpy naming)
        """Batch of the transposes."""
        return BatchedSparse(self.block.T, self.batch, self.member_shape[::-1])

    def toarray(self):
        """Dense [B, m, n] array (small problems only)."""
        m, n = self.member_shape
        dense = self.block.toarray()
        return np.stack([dense[b * m:(b + 1) * m, b * n:(b + 1) * n] for b in range(self.batch)])
