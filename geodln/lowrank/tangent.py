r"""Factored tangent vectors of :math:`M_r` and the tangent projection of (sparse) covectors.

At :math:`X = U\Sigma V^\top` every :math:`Z \in T_X M_r = \{U_\perp^\top Z V_\perp = 0\}`
(reference §1) is

.. math:: Z = U M V^\top + U_p V^\top + U V_p^\top, \qquad U^\top U_p = 0,\; V^\top V_p = 0,

with :math:`M = U^\top Z V` (r×r), :math:`U_p = P_{U_\perp} Z V` (m×r),
:math:`V_p = P_{V_\perp} Z^\top U` (n×r) — the standard triple (pymanopt ``FixedRank``,
Vandereycken 2013). The three blocks are the core and the two mixed blocks of
:class:`geodln.svd_frame.SVDFrame` (``U_p`` is its ``left`` block, ``V_pᵀ`` its ``right``
block), so a spectral co-metric acts on them by the same eigenvalues.

:func:`project_to_tangent` computes the triple of the Frobenius projection of any covector
``G`` that supports ``G @ V`` and ``G.T @ U`` (dense array, ``scipy.sparse`` matrix,
:class:`LowRankOperator`) in the cost of those two products plus O((m + n) r²): a sparse
gradient with nnz entries is projected in O(nnz·r) without being densified.
"""

import numpy as np

__all__ = ["FactoredTangent", "project_to_tangent", "LowRankOperator"]


class FactoredTangent:
    r"""Tangent vector :math:`Z = U M V^\top + U_p V^\top + U V_p^\top` at a factored point.

    Parameters
    ----------
    m_core : array-like, shape=[r, r]
        :math:`M = U^\top Z V`.
    up : array-like, shape=[m, r]
        :math:`U_p`, with :math:`U^\top U_p = 0`.
    vp : array-like, shape=[n, r]
        :math:`V_p`, with :math:`V^\top V_p = 0`.

    Notes
    -----
    The orthogonality constraints are not re-checked here (they hold by construction for
    :func:`project_to_tangent`); :meth:`check` verifies them against a base point.
    """

    def __init__(self, m_core, up, vp):
        self.m_core = np.asarray(m_core, float)
        self.up = np.asarray(up, float)
        self.vp = np.asarray(vp, float)
        r = self.m_core.shape[-1]
        if self.m_core.shape != (r, r) or self.up.shape[-1] != r or self.vp.shape[-1] != r:
            raise ValueError(
                f"tangent blocks must be m_core [r, r], up [m, r], vp [n, r]; got "
                f"{self.m_core.shape}, {self.up.shape}, {self.vp.shape}"
            )

    @classmethod
    def from_dense(cls, tangent_vec, base_point):
        """Triple of the Frobenius projection of a dense ``tangent_vec`` [m, n] onto T_X M_r."""
        z = np.asarray(tangent_vec, float)
        if z.shape != base_point.shape:
            raise ValueError(
                f"tangent_vec must have shape {base_point.shape}, got {z.shape}"
            )
        if not np.all(np.isfinite(z)):
            raise ValueError("tangent_vec contains NaN or inf entries")
        return project_to_tangent(z, base_point)

    def to_dense(self, base_point):
        """Return the dense matrix :math:`Z` [m, n] (small problems only)."""
        u, v = base_point.u, base_point.v
        return (u @ self.m_core + self.up) @ v.T + u @ self.vp.T

    def check_shapes(self, base_point, name="tangent_vec"):
        """Raise ``ValueError`` (naming ``name``) unless the block shapes match ``base_point``."""
        m, n = base_point.shape
        r = base_point.rank
        if self.m_core.shape != (r, r) or self.up.shape != (m, r) or self.vp.shape != (n, r):
            raise ValueError(
                f"{name} blocks {self.m_core.shape}, {self.up.shape}, {self.vp.shape} do not "
                f"match base_point of shape {(m, n)} and rank {r}"
            )
        return self

    def check(self, base_point, atol=1e-10):
        """Raise ``ValueError`` unless the shapes match ``base_point`` and Uᵀ U_p = Vᵀ V_p = 0."""
        self.check_shapes(base_point)
        for name, arr in (("m_core", self.m_core), ("up", self.up), ("vp", self.vp)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"tangent_vec.{name} contains NaN or inf entries")
        scale = max(1.0, np.linalg.norm(self.up), np.linalg.norm(self.vp))
        if np.linalg.norm(base_point.u.T @ self.up) > atol * scale:
            raise ValueError("tangent_vec.up must satisfy Uᵀ U_p = 0")
        if np.linalg.norm(base_point.v.T @ self.vp) > atol * scale:
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
        return FactoredTangent(scalar * self.m_core, scalar * self.up, scalar * self.vp)

    __rmul__ = __mul__

    def __neg__(self):
        return -1.0 * self

    def frobenius_inner(self, other):
        r"""Frobenius product :math:`\mathrm{tr}(Z_1^\top Z_2)`: the blocks are orthogonal."""
        return float(
            np.sum(self.m_core * other.m_core)
            + np.sum(self.up * other.up)
            + np.sum(self.vp * other.vp)
        )

    def frobenius_norm(self):
        r""":math:`\|Z\|_F`."""
        return float(np.sqrt(self.frobenius_inner(self)))

    def low_rank_factors(self, base_point):
        r"""Return ``(A, B)`` [m, 2r], [n, 2r] with :math:`Z = A B^\top`: ``A = [U M + U_p, U]``."""
        u, v = base_point.u, base_point.v
        return np.hstack([u @ self.m_core + self.up, u]), np.hstack([v, self.vp])

    def __repr__(self):
        return f"FactoredTangent(m={self.up.shape[0]}, n={self.vp.shape[0]}, r={self.up.shape[1]})"


def project_to_tangent(covector, base_point):
    r"""Frobenius projection of ``covector`` onto :math:`T_X M_r`, as a factored triple.

    :math:`M = U^\top G V`, :math:`U_p = G V - U M`, :math:`V_p = G^\top U - V M^\top`
    (reference §1). Cost: the products ``G @ V`` and ``G.T @ U`` (O(nnz·r) for a sparse
    ``G``) plus O((m + n) r²); nothing of size m×n is formed.

    Parameters
    ----------
    covector : ndarray, scipy.sparse matrix or LowRankOperator, shape=[m, n]
        Anything with ``covector @ V`` and ``covector.T @ U``.
    base_point : FactoredPoint

    Returns
    -------
    tangent_vec : FactoredTangent
    """
    m, n = base_point.shape
    if tuple(covector.shape) != (m, n):
        raise ValueError(f"covector must have shape {(m, n)}, got {tuple(covector.shape)}")
    u, v = base_point.u, base_point.v
    gv = np.asarray(covector @ v)
    gtu = np.asarray(covector.T @ u)
    core = u.T @ gv
    return FactoredTangent(core, gv - u @ core, gtu - v @ core.T)


class LowRankOperator:
    r"""The m×n matrix :math:`L R^\top` kept as its factors (e.g. a rank-one-sensing gradient).

    Supports ``op @ B`` and ``op.T @ B`` in O((m + n) k b) for ``B`` with b columns.

    Parameters
    ----------
    left : ndarray, shape=[m, k]
    right : ndarray, shape=[n, k]
    """

    def __init__(self, left, right):
        self.left = np.asarray(left, float)
        self.right = np.asarray(right, float)
        self.shape = (self.left.shape[0], self.right.shape[0])

    def __matmul__(self, other):
        return self.left @ (self.right.T @ other)

    @property
    def T(self):  # noqa: N802  (numpy naming)
        r"""Transpose :math:`R L^\top`."""
        return LowRankOperator(self.right, self.left)

    def toarray(self):
        """Dense m×n array (small problems only)."""
        return self.left @ self.right.T
