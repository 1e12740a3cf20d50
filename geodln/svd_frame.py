r"""The singular frame of a rank-r point and the diagonal action of a spectral co-metric.

For :math:`X = U \Sigma V^\top` (thin SVD truncated to the rank r) and a kernel
:math:`k` (see :mod:`geodln.spectral`), the co-metric is

.. math::
    A_X(Z) = U (K \circ U^\top Z V) V^\top
           + P_{U_\perp} Z V\, \mathrm{diag}(\ell)\, V^\top
           + U\, \mathrm{diag}(\ell)\, U^\top Z P_{V_\perp},

with :math:`K_{kl} = k(\sigma_k^2, \sigma_l^2)` and :math:`\ell_k = k(\sigma_k^2, 0)`
(CMV23, Lemma 2.4, extended to the rank-r mixed blocks; the normal block is annihilated).
One SVD per call, then O(mnr) work: the cost does not depend on the depth. :math:`U_\perp`,
:math:`V_\perp` are never formed.
"""

import numpy as np

from geodln._checks import check_matrix


def _t(a):
    return np.swapaxes(a, -1, -2)


class SVDFrame:
    """Thin, rank-truncated SVD of a batch of matrices ``[..., m, n]``.

    Parameters
    ----------
    base_point : array-like, shape=[..., m, n]
        The point X.
    rank : int, optional
        Truncation rank r (default ``min(m, n)``).

    Attributes
    ----------
    u : ndarray, shape=[..., m, r]
    s : ndarray, shape=[..., r]
        Singular values, non-increasing.
    vt : ndarray, shape=[..., r, n]

    Raises
    ------
    ValueError
        If ``base_point`` is not a finite real array of matrices [..., m, n] of the expected
        shape.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    """

    def __init__(self, base_point, rank=None, check=True):
        x = check_matrix(base_point, "base_point") if check else np.asarray(base_point, float)
        m, n = x.shape[-2:]
        self.shape = (m, n)
        self.rank = min(m, n) if rank is None else int(rank)
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        r = self.rank
        self.u, self.s, self.vt = u[..., :r], s[..., :r], vt[..., :r, :]

    @classmethod
    def from_factors(cls, u, s, vt):
        """Build a frame from given ``U``, ``sigma``, ``Vᵀ`` (no SVD computed)."""
        frame = cls.__new__(cls)
        frame.u, frame.s = np.asarray(u, float), np.asarray(s, float)
        frame.vt = np.asarray(vt, float)
        frame.shape = (frame.u.shape[-2], frame.vt.shape[-1])
        frame.rank = frame.s.shape[-1]
        return frame

    @property
    def full_rank(self):
        """Whether r = min(m, n) (no normal block)."""
        return self.rank == min(self.shape)

    def matrix(self):
        """Return ``U diag(s) Vᵀ``."""
        return (self.u * self.s[..., None, :]) @ self.vt

    def eigenvalues(self, kernel):
        """Return the core eigenvalues ``K`` [..., r, r] and mixed ones ``ell`` [..., r].

        ``ell`` is ``None`` for square full-rank points, which have no mixed blocks.
        """
        s2 = self.s**2
        core = kernel.pairwise(s2, s2)
        if self.full_rank and self.shape[0] == self.shape[1]:
            return core, None  # square full rank: no mixed blocks
        mixed = kernel.pairwise(s2, np.zeros(s2.shape[:-1] + (1,)))[..., 0]
        return np.asarray(core, float), np.asarray(mixed, float)

    def _blocks(self, z):
        v = _t(self.vt)
        zv = z @ v
        core = _t(self.u) @ zv
        left = right = None
        m, n = self.shape
        if self.rank < m:
            left = zv - self.u @ core  # P_{U_perp} Z V, [..., m, r]
        if self.rank < n:
            right = _t(self.u) @ z - core @ self.vt  # U^T Z P_{V_perp}, [..., r, n]
        return core, left, right

    def _assemble(self, core, left, right):
        out = self.u @ core @ self.vt
        if left is not None:
            out = out + left @ self.vt
        if right is not None:
            out = out + self.u @ right
        return out

    def scale_blocks(self, kernel, blocks, eigenvalues=None, inverse=False):
        r"""Apply the co-metric (or its inverse) to tangent blocks ``(core, left, right)``.

        The co-metric is diagonal on the blocks of :math:`T_X M_r`: it multiplies the core
        :math:`U^\top Z V` [..., r, r] by ``K`` and the mixed blocks
        :math:`P_{U_\perp} Z V` [..., m, r] and :math:`U^\top Z P_{V_\perp}` [..., r, n] by
        ``ell`` (column- resp. row-wise). This is the one place both the dense
        (:meth:`apply`) and the factored (:mod:`geodln.lowrank`) co-metric are evaluated.

        Parameters
        ----------
        kernel : SpectralKernel
        blocks : tuple
            ``(core, left, right)``; ``left``/``right`` may be None (no such block).
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.
        inverse : bool
            Divide instead of multiply (the metric, flat).

        Returns
        -------
        blocks : tuple
            The scaled ``(core, left, right)``.

        Raises
        ------
        ValueError
            If ``inverse`` and a needed co-metric eigenvalue is 0.
        """
        K, ell = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        core, left, right = blocks
        if not inverse:
            return (
                K * core,
                None if left is None else left * ell[..., None, :],
                None if right is None else ell[..., :, None] * right,
            )
        if np.any(K <= 0) or ((left is not None or right is not None) and np.any(ell <= 0)):
            # (ell is only None when both left and right are None)
            raise ValueError(
                "the metric is not defined at base_point: a co-metric eigenvalue is 0 "
                "(singular base point for this rank, or a kernel that vanishes on the mixed "
                "blocks of a rank-deficient point, e.g. infinite depth)"
            )
        return (
            core / K,
            None if left is None else left / ell[..., None, :],
            None if right is None else right / ell[..., :, None],
        )

    def apply(self, kernel, z, eigenvalues=None):
        """Co-metric (sharp) :math:`A_X(Z)` of the kernel; ``z`` is [..., m, n]."""
        return self._assemble(*self.scale_blocks(kernel, self._blocks(z), eigenvalues))

    def apply_inverse(self, kernel, z, eigenvalues=None):
        """Metric (flat) :math:`A_X^{-1}(Z)` on the tangent space; the normal part is dropped."""
        return self._assemble(
            *self.scale_blocks(kernel, self._blocks(z), eigenvalues, inverse=True)
        )

    def to_tangent(self, z):
        r"""Orthogonal (Frobenius) projection onto :math:`T_X M_r`.

        :math:`T_X M_r = \{Z : U_\perp^T Z V_\perp = 0\}`.
        """
        core, left, right = self._blocks(z)
        return self._assemble(core, left, right)
