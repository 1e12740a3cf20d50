r"""The singular frame of a rank-r point and the diagonal action of a spectral co-metric.

For :math:`X = U \Sigma V^\top` (thin SVD truncated to the rank r) and a kernel
:math:`k` (see :mod:`geodln.spectral`), the co-metric is

.. math::
    A_X(Z) = U (K \circ U^\top Z V) V^\top
           + P_{U_\perp} Z V\, \mathrm{diag}(\ell)\, V^\top
           + U\, \mathrm{diag}(\ell)\, U^\top Z P_{V_\perp},

with :math:`K_{kl} = k(\sigma_k^2, \sigma_l^2)` and :math:`\ell_k = k(\sigma_k^2, 0)`
(Cohen–Menon–Veraszto (CMV23), Lemma 2.4, with the rank-r mixed blocks; the normal block is
annihilated). One SVD per call, then O(mnr) work: the cost does not depend on the depth.
:math:`U_\perp`, :math:`V_\perp` are never formed.

The frame works on *blocks* ``(core [..., r, r], left [..., m, r], right [..., r, n])`` of a
tangent vector :math:`Z = U\,\mathrm{core}\,V^\top + \mathrm{left}\,V^\top + U\,\mathrm{right}`
(``left = P_{U_⊥} Z V``, ``right = U^\top Z P_{V_⊥}``); :meth:`SVDFrame.apply_blocks` and
:meth:`SVDFrame.apply_inverse_blocks` apply the co-metric and the metric to given blocks, so a
factored representation never needs the dense matrix.

**Validation and the fast path.** ``SVDFrame(X, rank)`` validates (finite entries, and rank
at most r up to the relative tolerance :data:`RANK_RTOL`); ``SVDFrame(X, rank, check=False)``
is the documented unvalidated fast path for callers that validated once (the flows call it on
every step). The kernel arithmetic is exact at any scale (:mod:`geodln.spectral`), and LAPACK's
SVD scales internally, so every method is exact for singular values anywhere in the float
range. 2×2 points use the closed-form :func:`geodln.small_svd.svd_2x2` (exactly scaled, LAPACK
for the rare members it cannot serve), the hot path of the small-problem ensembles.
"""

import numpy as np

from geodln._checks import check_matrix, check_rank
from geodln.small_svd import svd_2x2

__all__ = ["SVDFrame", "RANK_RTOL"]

#: Relative rank tolerance: singular values ``<= RANK_RTOL * sigma_1`` count as zero.
RANK_RTOL = 1e-8


class SVDFrame:
    r"""Thin, rank-truncated SVD of a batch of matrices ``[..., m, n]``.

    Parameters
    ----------
    base_point : array-like, shape=[..., m, n]
        The point X.
    rank : int, optional
        Truncation rank r (default ``min(m, n)``).
    check : bool
        ``True`` (default): validate ``base_point`` (finite) and ``rank``, and require rank at
        most r (:meth:`check_rank`). ``False``: the unvalidated fast path (no checks, X is
        truncated to rank r); for callers that validated their input once.

    Attributes
    ----------
    u : ndarray, shape=[..., m, r]
    s : ndarray, shape=[..., r]
        Singular values, non-increasing.
    vt : ndarray, shape=[..., r, n]
    discarded : ndarray, shape=[..., min(m, n) - r]
        Singular values beyond the rank (empty for ``from_factors`` frames).

    Raises
    ------
    ValueError
        With ``check=True``: ``base_point`` not a finite real array ``[..., m, n]``, ``rank``
        not in ``[1, min(m, n)]``, or ``base_point`` of rank > r (see :meth:`check_rank`).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.
    .. [2] VAN13: Vandereycken, arXiv:1209.3834, Section 2.1 (tangent space of :math:`M_r`).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import DLNKernel
    >>> from geodln.svd_frame import SVDFrame
    >>> frame = SVDFrame(1e160 * np.diag([1.0, 2.0, 3.0]))
    >>> out = frame.apply(DLNKernel(3), np.ones((3, 3)))
    >>> f"{out.max():.4e}"  # 3 * (3e160)**(4/3)
    '2.7965e+214'
    >>> SVDFrame(np.ones((2, 2)) + np.eye(2), rank=1)
    Traceback (most recent call last):
    ...
    ValueError: base_point has rank > 1: singular value ratio 0.333 > RANK_RTOL = 1e-08
    """

    def __init__(self, base_point, rank=None, check=True):
        if check:
            x = check_matrix(base_point, "base_point")
        else:
            x = np.asarray(base_point, dtype=float)
        m, n = x.shape[-2:]
        self.shape = (m, n)
        if rank is None:
            r = min(m, n)
        else:
            r = check_rank(rank, m, n) if check else int(rank)
        self.rank = r
        if (m, n) == (2, 2):  # the ensembles' hot path: closed form, no LAPACK call overhead
            u, s, vt = svd_2x2(x)
        else:
            u, s, vt = np.linalg.svd(x, full_matrices=False)
        self._all_s = s
        if r < s.shape[-1]:
            u, vt, s = u[..., :r], vt[..., :r, :], s[..., :r]
        self.u, self.s, self.vt = u, s, vt
        if check:
            self.check_rank()

    @classmethod
    def from_factors(cls, u, s, vt):
        """Build a frame from given ``U`` [..., m, r], ``sigma`` [..., r], ``Vᵀ`` [..., r, n].

        No SVD is computed and nothing is validated (the caller guarantees orthonormal
        columns of ``U`` and rows of ``Vᵀ``, and ``sigma >= 0``).

        Parameters
        ----------
        u : array-like, shape=[..., m, r]
        s : array-like, shape=[..., r]
        vt : array-like, shape=[..., r, n]

        Returns
        -------
        frame : SVDFrame

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame.from_factors(np.eye(3)[:, :1], np.array([2.0]), np.eye(2)[:1])
        >>> frame.matrix().tolist()
        [[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
        """
        frame = cls.__new__(cls)
        frame.u, frame.s = np.asarray(u, float), np.asarray(s, float)
        frame.vt = np.asarray(vt, float)
        frame.shape = (frame.u.shape[-2], frame.vt.shape[-1])
        frame.rank = frame.s.shape[-1]
        frame._all_s = frame.s
        return frame

    @property
    def discarded(self):
        """Singular values beyond the rank, [..., min(m, n) - r] (empty for ``from_factors``)."""
        return getattr(self, "_all_s", self.s)[..., self.rank :]

    def check_rank(self, name="base_point", rtol=RANK_RTOL):
        r"""Raise unless every point has rank at most r (:math:`\sigma_{r+1} \le rtol\,\sigma_1`).

        The tolerance is relative, so the check is invariant under :math:`X \mapsto cX`.

        Parameters
        ----------
        name : str
            Argument name used in the message.
        rtol : float
            Relative tolerance.

        Raises
        ------
        ValueError
            If a point has a singular value beyond r larger than ``rtol`` times its largest.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.svd_frame import SVDFrame
        >>> SVDFrame(1e-200 * np.outer([1.0, 2.0], [3.0, 1.0]), rank=1).rank
        1
        """
        if not self.discarded.shape[-1]:
            return
        top = self.s[..., 0]
        excess = self.discarded[..., 0] > rtol * top
        if np.any(excess):
            ratio = np.max(np.where(excess, self.discarded[..., 0] / np.where(excess, top, 1), 0))
            raise ValueError(
                f"{name} has rank > {self.rank}: singular value ratio "
                f"{float(ratio):.3g} > RANK_RTOL = {rtol:g}"
            )

    @property
    def full_rank(self):
        """Whether r = min(m, n) (no normal block)."""
        return self.rank == min(self.shape)

    def matrix(self):
        """Return ``U diag(s) Vᵀ``, shape [..., m, n].

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.svd_frame import SVDFrame
        >>> SVDFrame(np.diag([3.0, 1.0]), rank=1, check=False).matrix().tolist()
        [[3.0, 0.0], [0.0, 0.0]]
        """
        return (self.u * self.s[..., None, :]) @ self.vt

    def eigenvalues(self, kernel):
        """Return the core eigenvalues ``K`` [..., r, r] and mixed ones ``ell`` [..., r].

        ``ell`` is ``None`` for square full-rank points, which have no mixed blocks. This is
        :meth:`geodln.spectral.SpectralKernel.eigenvalues` at the frame's singular values.

        Parameters
        ----------
        kernel : SpectralKernel

        Returns
        -------
        core : ndarray, shape=[..., r, r]
        mixed : ndarray, shape=[..., r], or None

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> K, ell = SVDFrame(np.diag([2.0, 1.0])).eigenvalues(DLNKernel(2))
        >>> np.round(K, 12).tolist(), ell
        ([[4.0, 3.0], [3.0, 2.0]], None)
        """
        return kernel.eigenvalues(self.s, self.shape)

    def blocks(self, z):
        r"""Split ``z`` [..., m, n] into ``(core, left, right)`` (the normal block is dropped).

        ``core = Uᵀ Z V`` [..., r, r], ``left = P_{U_⊥} Z V`` [..., m, r] (``None`` if
        r = m), ``right = Uᵀ Z P_{V_⊥}`` [..., r, n] (``None`` if r = n).

        Parameters
        ----------
        z : ndarray, shape=[..., m, n]

        Returns
        -------
        core, left, right : ndarray or None

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(np.diag([2.0, 0.0]), rank=1, check=False)
        >>> core, left, right = frame.blocks(np.ones((2, 2)))
        >>> core.tolist(), left.tolist(), right.tolist()
        ([[1.0]], [[0.0], [1.0]], [[0.0, 1.0]])
        """
        ut = self.u.mT
        zv = z @ self.vt.mT
        core = ut @ zv
        left = right = None
        m, n = self.shape
        if self.rank < m:
            left = zv - self.u @ core
        if self.rank < n:
            right = ut @ z - core @ self.vt
        return core, left, right

    def assemble(self, core, left=None, right=None):
        r"""Return :math:`U\,\mathrm{core}\,V^\top + \mathrm{left}\,V^\top + U\,\mathrm{right}`.

        Parameters
        ----------
        core : ndarray, shape=[..., r, r]
        left : ndarray, shape=[..., m, r], optional
        right : ndarray, shape=[..., r, n], optional

        Returns
        -------
        z : ndarray, shape=[..., m, n]

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(np.diag([2.0, 1.0]))
        >>> z = np.arange(4.0).reshape(2, 2)
        >>> bool(np.allclose(frame.assemble(*frame.blocks(z)), z))
        True
        """
        out = self.u @ core @ self.vt
        if left is not None:
            out = out + left @ self.vt
        if right is not None:
            out = out + self.u @ right
        return out

    def apply_blocks(self, kernel, core, left=None, right=None, eigenvalues=None):
        r"""Co-metric on blocks: ``(K ∘ core, left · diag(ell), diag(ell) · right)``.

        Parameters
        ----------
        kernel : SpectralKernel
        core : ndarray, shape=[..., r, r]
        left : ndarray, shape=[..., m, r], optional
        right : ndarray, shape=[..., r, n], optional
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.

        Returns
        -------
        core, left, right : ndarray or None
            The blocks of :math:`A_X(Z)` (``None`` where the input block is ``None``).

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame.from_factors(np.eye(3)[:, :1], np.array([2.0]), np.eye(2)[:1])
        >>> blocks = np.ones((1, 1)), np.ones((3, 1)), np.ones((1, 2))
        >>> c, l, r = frame.apply_blocks(DLNKernel(2), *blocks)
        >>> c.tolist(), l.tolist(), r.tolist()
        ([[4.0]], [[2.0], [2.0], [2.0]], [[2.0, 2.0]])
        """
        K, ell = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        return (
            K * core,
            None if left is None else left * ell[..., None, :],
            None if right is None else ell[..., :, None] * right,
        )

    def apply_inverse_blocks(self, kernel, core, left=None, right=None, eigenvalues=None):
        r"""Metric on blocks: ``(core / K, left / ell, right / ell)``.

        Parameters
        ----------
        kernel : SpectralKernel
        core : ndarray, shape=[..., r, r]
        left : ndarray, shape=[..., m, r], optional
        right : ndarray, shape=[..., r, n], optional
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.

        Returns
        -------
        core, left, right : ndarray or None

        Raises
        ------
        ValueError
            If a needed co-metric eigenvalue is 0: the metric is not defined at base_point (a
            zero singular value within the rank, or a kernel vanishing on the mixed blocks of
            a rank-deficient point, e.g. infinite depth). An eigenvalue that merely
            underflowed (positive singular values, a kernel with a homogeneity degree) gives
            ``inf`` entries instead, the exact values being out of range.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(np.diag([2.0, 1.0]))
        >>> c, _, _ = frame.apply_inverse_blocks(DLNKernel(2), np.ones((2, 2)))
        >>> np.round(c, 12).tolist()
        [[0.25, 0.333333333333], [0.333333333333, 0.5]]
        """
        blocks, half = self._inverse_parts(kernel, (core, left, right), eigenvalues)
        if half is None:
            return blocks
        with np.errstate(over="ignore", invalid="ignore"):
            return tuple(
                None if b is None else (b * half[..., None, None]) * half[..., None, None]
                for b in blocks
            )

    def _inverse_parts(self, kernel, blocks, eigenvalues):
        r"""Blocks divided by the eigenvalues, and a per-point factor ``half`` (or ``None``).

        The metric is ``blocks * half**2``. ``half`` is needed only when an eigenvalue
        underflowed to 0 although every singular value within the rank is positive (e.g.
        :math:`\sigma^{2-2/N}` below the smallest float for N = 8, :math:`\sigma = 10^{-200}`):
        the eigenvalues are then taken at :math:`t\sigma` (t a power of 2 with
        :math:`t\sigma_1 \in [1/2, 1)`) and :math:`A_X^{-1} = t^{2d} A_{tX}^{-1}` (homogeneity
        of degree d), so out-of-range values come out as ``inf``, never as an error.
        """
        core, left, right = blocks
        K, ell = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        mixed = left is not None or right is not None
        half = None
        if not np.all(K > 0) or (mixed and not np.all(ell > 0)):
            degree = getattr(kernel, "degree", None)
            if (
                degree is None
                or not np.all(self.s > 0)
                or (mixed and kernel.degenerate_on_mixed())
            ):
                raise ValueError(
                    "the metric is not defined at base_point: a co-metric eigenvalue is 0 "
                    "(a zero singular value within the rank, or a kernel that vanishes on the "
                    "mixed blocks of a rank-deficient point, e.g. infinite depth)"
                )
            t = np.ldexp(1.0, -np.frexp(self.s[..., 0])[1])
            K, ell = kernel.eigenvalues(self.s * t[..., None], self.shape)
            with np.errstate(over="ignore"):
                half = t**degree
        return (
            core / K,
            None if left is None else left / ell[..., None, :],
            None if right is None else right / ell[..., :, None],
        ), half

    def scale_blocks(self, kernel, blocks, eigenvalues=None, inverse=False):
        r"""Apply the co-metric (or its inverse) to tangent blocks ``(core, left, right)``.

        :meth:`apply_blocks` (``inverse=False``) or :meth:`apply_inverse_blocks`
        (``inverse=True``) with the blocks as one tuple: the one place both the dense
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
            If ``inverse`` and a needed co-metric eigenvalue is 0 (see
            :meth:`apply_inverse_blocks`).

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(np.diag([2.0, 1.0]))
        >>> core, _, _ = frame.scale_blocks(DLNKernel(2), (np.eye(2), None, None))
        >>> np.round(core, 12).tolist()
        [[4.0, 0.0], [0.0, 2.0]]
        """
        if inverse:
            return self.apply_inverse_blocks(kernel, *blocks, eigenvalues=eigenvalues)
        return self.apply_blocks(kernel, *blocks, eigenvalues=eigenvalues)

    def apply(self, kernel, z, eigenvalues=None):
        """Co-metric (sharp) :math:`A_X(Z)` of the kernel.

        Parameters
        ----------
        kernel : SpectralKernel
        z : ndarray, shape=[..., m, n]
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]

        References
        ----------
        .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(np.diag([2.0, 1.0]))
        >>> np.round(frame.apply(DLNKernel(2), np.ones((2, 2))), 12).tolist()
        [[4.0, 3.0], [3.0, 2.0]]
        """
        eigenvalues = kernel.eigenvalues(self.s, self.shape) if eigenvalues is None else eigenvalues
        blocks = self.blocks(z)
        try:
            with np.errstate(over="raise", invalid="raise"):
                if blocks[1] is None and blocks[2] is None:  # square full rank
                    return self.u @ (eigenvalues[0] * blocks[0]) @ self.vt
                return self.assemble(*self.apply_blocks(kernel, *blocks, eigenvalues=eigenvalues))
        except FloatingPointError:  # an intermediate overflowed (inf * 0 = nan in a product)
            return self._rescaled(eigenvalues, blocks, inverse=False)

    def apply_inverse(self, kernel, z, eigenvalues=None):
        """Metric (flat) :math:`A_X^{-1}(Z)` on the tangent space; the normal part is dropped.

        Parameters
        ----------
        kernel : SpectralKernel
        z : ndarray, shape=[..., m, n]
        eigenvalues : tuple, optional

        Returns
        -------
        cotangent_vec : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            If a needed co-metric eigenvalue is 0 (see :meth:`apply_inverse_blocks`).

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(np.diag([2.0, 1.0]))
        >>> z = np.ones((2, 2))
        >>> bool(np.allclose(frame.apply_inverse(DLNKernel(2), frame.apply(DLNKernel(2), z)), z))
        True
        """
        eigenvalues = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        blocks = self.blocks(z)
        inverse, half = self._inverse_parts(kernel, blocks, eigenvalues)
        if half is not None:  # eigenvalues underflowed: scaled products, then the scale
            with np.errstate(over="ignore", invalid="ignore"):
                out = self.assemble(*inverse)
                return (out * half[..., None, None]) * half[..., None, None]
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                return self.assemble(*inverse)
        except FloatingPointError:  # an intermediate overflowed (inf * 0 = nan in a product)
            return self._rescaled(eigenvalues, blocks, inverse=True)

    def _rescaled(self, eigenvalues, blocks, inverse):
        """Co-metric (or metric) with the eigenvalues scaled by a power of 2 per point.

        Used only when the direct evaluation over- or underflowed in an intermediate
        (``inf * 0 = nan`` in the frame products): the scaled products stay finite, and the
        final multiplication gives ``inf`` exactly where the true value is out of range.
        """
        K, ell = eigenvalues
        top = np.max(K, axis=(-2, -1))
        if ell is not None:
            top = np.maximum(top, np.max(ell, axis=-1))
        if inverse:
            pos = np.where(K > 0, K, np.inf)
            top = np.min(pos, axis=(-2, -1))
            if ell is not None:
                top = np.minimum(top, np.min(np.where(ell > 0, ell, np.inf), axis=-1))
        top = np.where(np.isfinite(top) & (top > 0), top, 1.0)
        p = np.ldexp(1.0, np.frexp(top)[1])
        scaled = (K / p[..., None, None], None if ell is None else ell / p[..., None])
        with np.errstate(over="ignore", invalid="ignore"):
            if inverse:
                out = self.assemble(*self.apply_inverse_blocks(None, *blocks, eigenvalues=scaled))
                return out / p[..., None, None]
            out = self.assemble(*self.apply_blocks(None, *blocks, eigenvalues=scaled))
            return out * p[..., None, None]

    def inner_product(self, kernel, z_a, z_b, eigenvalues=None):
        r"""Metric inner product :math:`\mathrm{tr}(Z_a^\top A_X^{-1} Z_b)` in block coordinates.

        The blocks are Frobenius-orthogonal, so this is
        :math:`\sum \mathrm{core}_a\mathrm{core}_b/K + \sum \mathrm{left}_a\mathrm{left}_b/\ell
        + \sum \mathrm{right}_a\mathrm{right}_b/\ell` (a sum of positive terms for
        :math:`Z_a = Z_b`); normal components are ignored.

        Parameters
        ----------
        kernel : SpectralKernel
        z_a, z_b : ndarray, shape=[..., m, n]
        eigenvalues : tuple, optional

        Returns
        -------
        inner : ndarray, shape=[...]

        Raises
        ------
        ValueError
            If a needed co-metric eigenvalue is 0.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> float(SVDFrame(np.diag([2.0, 1.0])).inner_product(DLNKernel(2), np.eye(2), np.eye(2)))
        0.75
        """
        a = self.blocks(z_a)
        b, half = self._inverse_parts(kernel, self.blocks(z_b), eigenvalues)
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.sum(a[0] * b[0], axis=(-2, -1))
            for x, y in zip(a[1:], b[1:]):
                if x is not None:
                    total = total + np.sum(x * y, axis=(-2, -1))
            return total if half is None else (total * half) * half

    def to_tangent(self, z):
        r"""Orthogonal (Frobenius) projection onto :math:`T_X M_r`.

        :math:`T_X M_r = \{Z : U_\perp^T Z V_\perp = 0\}`.

        Parameters
        ----------
        z : ndarray, shape=[..., m, n]

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]

        References
        ----------
        .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2.1.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.svd_frame import SVDFrame
        >>> SVDFrame(np.diag([1.0, 0.0]), rank=1).to_tangent(np.ones((2, 2))).tolist()
        [[1.0, 1.0], [1.0, 0.0]]
        """
        return self.assemble(*self.blocks(z))
