r"""Spectral co-metrics (the DLN :math:`A_{N,X}` among them) acting on factored vectors.

In the singular frame of :math:`X = U\Sigma V^\top` a spectral co-metric is diagonal
(CMV23, Lemma 2.4; :mod:`geodln.svd_frame`): with
:math:`K_{kl} = k(\sigma_k^2, \sigma_l^2)` and :math:`\ell_k = k(\sigma_k^2, 0)`,

.. math::
    A_X(U M V^\top + U_p V^\top + U V_p^\top)
      = U (K \circ M) V^\top + (U_p\,\mathrm{diag}\,\ell) V^\top
        + U (V_p\,\mathrm{diag}\,\ell)^\top .

The three blocks are exactly the core and mixed blocks of
:meth:`geodln.svd_frame.SVDFrame.scale_blocks` (``U_p`` is its ``left`` block, ``V_pᵀ`` its
``right`` block), and a :class:`~geodln.lowrank.point.FactoredPoint` *is* an ``SVDFrame``: the
co-metric and the metric are evaluated once, by that method, for dense and factored points
alike (for the DLN kernel :math:`K_{kl} = (\sigma_k^2 - \sigma_l^2)/(\sigma_k^{2/N} -
\sigma_l^{2/N})`, :math:`\ell_k = \sigma_k^{2-2/N}`; CMV's :math:`A_{N,X}/N` when
normalized). Sharp, flat and the inner products cost O((m + n) r + r²) per member once the
eigenvalues (O(r²) kernel calls) are known: independent of the depth and of m·n. Every
argument may carry a batch axis.

References: ACH18 (Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1: the end-to-end flow),
CMV23 (Cohen, Menon, Veraszto, arXiv:2210.12497), VAN13 (Vandereycken, arXiv:1209.3834).

Abbreviations: BRTW = Bah, Rauhut, Terstiege, Westdickenberg (BRTW21); MY = Menon, Yu (MY25).
"""

import numbers

import numpy as np

from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.tangent import FactoredTangent, project_to_tangent
from geodln.spectral import DLNKernel, SpectralKernel

__all__ = ["FactoredSpectralMetric", "FactoredDLNMetric", "as_factored_metric"]


class FactoredSpectralMetric:
    r"""A spectral metric on :math:`M_r` for factored points and tangent vectors.

    The factored counterpart of :class:`geodln.SpectralMetric`; ``sharp`` is the co-metric
    :math:`A_X`, ``flat`` its inverse on :math:`T_X M_r`, ``inner_product`` is
    :math:`\mathrm{tr}(Z_1^\top A_X^{-1} Z_2)`.

    Parameters
    ----------
    kernel : SpectralKernel
        The kernel :math:`k(a, b)` on squared singular values.

    Raises
    ------
    ValueError
        With the message ``kernel must be a SpectralKernel, got …``.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    Depth 2 at :math:`X = \mathrm{diag}(2, 1)` in :math:`\mathbb{R}^{3\times 2}`: the kernel
    :math:`\sigma_k + \sigma_l` on the range block, :math:`\sigma_l` on the normal row:

    >>> from geodln.lowrank import project_to_tangent
    >>> from geodln.lowrank.cometric import FactoredSpectralMetric
    >>> from geodln.spectral import DLNKernel
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> z = project_to_tangent(np.ones((3, 2)), x)
    >>> FactoredSpectralMetric(DLNKernel(2)).sharp(z, x).to_dense(x)
    array([[4., 3.],
           [3., 2.],
           [2., 1.]])
    """

    def __init__(self, kernel):
        if not isinstance(kernel, SpectralKernel):
            raise ValueError(f"kernel must be a SpectralKernel, got {type(kernel).__name__}")
        self.kernel = kernel

    @classmethod
    def from_metric(cls, metric):
        """Factored version of a dense :class:`geodln.SpectralMetric` (same kernel).

        Raises
        ------
        ValueError
            With the message ``metric must be a geodln SpectralMetric (it has no kernel)``.
        """
        kernel = getattr(metric, "kernel", None)
        if not isinstance(kernel, SpectralKernel):
            raise ValueError("metric must be a geodln SpectralMetric (it has no kernel)")
        if isinstance(kernel, DLNKernel):
            return FactoredDLNMetric(kernel.depth, kernel.normalized)
        return FactoredSpectralMetric(kernel)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _point(base_point):
        if not isinstance(base_point, FactoredPoint):
            raise ValueError(
                f"base_point must be a FactoredPoint, got {type(base_point).__name__}"
            )
        return base_point

    def eigenvalues(self, base_point):
        """Core eigenvalues ``K`` [..., r, r] and mixed ones ``ell`` [..., r] at ``base_point``."""
        return self._point(base_point).eigenvalues(self.kernel)

    def _tangent(self, vec, base_point, name):
        if isinstance(vec, FactoredTangent):
            return vec.check_shapes(base_point, name)
        return project_to_tangent(vec, base_point)

    @staticmethod
    def _blocks(z, base_point):
        """SVDFrame blocks ``(core, left, right)`` of a factored tangent (None: no block)."""
        m, n = base_point.shape
        r = base_point.rank
        return (z.m_core, z.up if r < m else None,
                z.vp.mT if r < n else None)

    @staticmethod
    def _tangent_of(blocks, z):
        core, left, right = blocks
        return FactoredTangent(core, np.zeros_like(z.up) if left is None else left,
                               np.zeros_like(z.vp) if right is None
                               else right.mT)

    # -- co-metric and metric ------------------------------------------------------------------
    def sharp(self, cotangent_vec, base_point, eigenvalues=None):
        r"""Co-metric :math:`A_X(G)` in factored form.

        Parameters
        ----------
        cotangent_vec : FactoredTangent, ndarray, sparse matrix, BatchedSparse, LowRankOperator
            A covector; anything but a :class:`FactoredTangent` is first projected onto
            :math:`T_X M_r` (its normal block is annihilated by :math:`A_X` anyway).
        base_point : FactoredPoint
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.

        Returns
        -------
        tangent_vec : FactoredTangent
            :math:`A_X(G)` as ``(K∘M, U_p diag(ell), V_p diag(ell))``.

        Raises
        ------
        ValueError
            If ``base_point`` is not a FactoredPoint or the shapes do not match.
        """
        base_point = self._point(base_point)
        z = self._tangent(cotangent_vec, base_point, "cotangent_vec")
        return self._tangent_of(
            base_point.scale_blocks(self.kernel, self._blocks(z, base_point), eigenvalues), z
        )

    def riemannian_gradient(self, euclidean_grad, base_point, eigenvalues=None):
        r"""Riemannian gradient :math:`A_X(\nabla E)`; ``euclidean_grad`` may be sparse."""
        return self.sharp(euclidean_grad, base_point, eigenvalues)

    def flat(self, tangent_vec, base_point, eigenvalues=None):
        r"""Metric :math:`A_X^{-1}(Z)` on :math:`T_X M_r` in factored form.

        Raises
        ------
        ValueError
            If a needed co-metric eigenvalue is 0 (e.g. infinite depth at a rank-deficient
            point, or a zero singular value).
        """
        base_point = self._point(base_point)
        z = self._tangent(tangent_vec, base_point, "tangent_vec")
        return self._tangent_of(base_point.scale_blocks(
            self.kernel, self._blocks(z, base_point), eigenvalues, inverse=True), z)

    def inner_product(self, tangent_vec_a, tangent_vec_b, base_point):
        r"""Inner product :math:`g_X(Z_1, Z_2) = \mathrm{tr}(Z_1^\top A_X^{-1} Z_2)`.

        The three blocks are Frobenius-orthogonal, so this is
        :math:`\sum M_1 M_2 / K + \sum U_{p1} U_{p2}/\ell + \sum V_{p1} V_{p2}/\ell`.
        """
        base_point = self._point(base_point)
        a = self._tangent(tangent_vec_a, base_point, "tangent_vec_a")
        b = self._tangent(tangent_vec_b, base_point, "tangent_vec_b")
        return base_point.inner_product_blocks(
            self.kernel, self._blocks(a, base_point), self._blocks(b, base_point))

    def inner_coproduct(self, cotangent_vec_a, cotangent_vec_b, base_point):
        r"""Co-metric inner product :math:`\mathrm{tr}(G_1^T A_X G_2)`."""
        base_point = self._point(base_point)
        a = self._tangent(cotangent_vec_a, base_point, "cotangent_vec_a")
        b = self._tangent(cotangent_vec_b, base_point, "cotangent_vec_b")
        return base_point.inner_product_blocks(
            self.kernel, self._blocks(a, base_point), self._blocks(b, base_point), inverse=False)

    def squared_norm(self, vector, base_point):
        """Squared norm :math:`g_X(Z, Z)`."""
        return self.inner_product(vector, vector, base_point)

    def norm(self, vector, base_point):
        r"""Norm :math:`\sqrt{g_X(Z, Z)}` per member, exact wherever it is representable.

        Evaluated from the logarithms of the eigenvalues
        (:meth:`geodln.svd_frame.SVDFrame.norm_blocks`), so it is exact also where
        :math:`g_X(Z, Z)` under- or overflows.
        """
        base_point = self._point(base_point)
        z = self._tangent(vector, base_point, "vector")
        out = base_point.norm_blocks(self.kernel, self._blocks(z, base_point))
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self):
        return f"{type(self).__name__}({self.kernel!r})"


class FactoredDLNMetric(FactoredSpectralMetric):
    r"""The DLN metric :math:`g^N` on factored rank-r points (CMV23, Lemma 2.4).

    Parameters
    ----------
    depth : int or numpy.inf
        N >= 1; ``inf`` needs ``normalized=True``.
    normalized : bool
        ``False``: plain sum :math:`A_{N,X}` (ACH, BRTW, GM, MY; exact quotient of the
        Frobenius metric upstairs). ``True``: CMV's :math:`A_{N,X}/N`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    :math:`g(Z, Z) = \sum Z_{kl}^2 / K_{kl} = 1/4 + 2/3 + 1/2 + 1/2 + 1` for the matrix of ones
    (kernel values of :class:`FactoredSpectralMetric`'s example):

    >>> from geodln.lowrank import project_to_tangent
    >>> from geodln.lowrank.cometric import FactoredDLNMetric
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> z = project_to_tangent(np.ones((3, 2)), x)
    >>> bool(np.isclose(FactoredDLNMetric(2).inner_product(z, z, x), 35 / 12))
    True
    """

    def __init__(self, depth, normalized=False):
        kernel = DLNKernel(depth, normalized)
        super().__init__(kernel)
        self.depth = kernel.depth
        self.normalized = kernel.normalized

    def __repr__(self):
        return f"FactoredDLNMetric(depth={self.depth}, normalized={self.normalized})"


def as_factored_metric(metric):
    r"""Return the factored metric meant by ``metric``.

    Parameters
    ----------
    metric : int, numpy.inf, FactoredSpectralMetric, geodln.SpectralMetric or SpectralKernel
        An int (or ``inf``) is shorthand for the depth N of :math:`g^N` (plain sum
        :math:`A_{N,X}`); a dense :class:`geodln.SpectralMetric` or a kernel gives the same
        metric on factored points.

    Returns
    -------
    metric : FactoredSpectralMetric

    Raises
    ------
    ValueError
        If ``metric`` is none of these (or an invalid depth).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> as_factored_metric(3)
    FactoredDLNMetric(depth=3, normalized=False)
    """
    if isinstance(metric, FactoredSpectralMetric):
        return metric
    if isinstance(metric, SpectralKernel):
        return FactoredSpectralMetric(metric)
    if metric is None or isinstance(metric, bool):
        raise ValueError(f"metric must be a depth N >= 1, numpy.inf or a spectral metric, got "
                         f"{metric!r}")
    if isinstance(metric, numbers.Real):
        try:
            return FactoredDLNMetric(metric)
        except ValueError as exc:
            raise ValueError(f"metric (a depth): {exc}") from None
    return FactoredSpectralMetric.from_metric(metric)
