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
range: where an eigenvalue or a product leaves the float range, the methods evaluate from the
logarithms of the eigenvalues (``kernel.log_values``) in bands of binary orders and apply the
powers of 2 last, so a result is ``inf`` or 0 only where its exact value is out of range, never
NaN, and no numpy warning is emitted. 2×2 points use the closed-form
:func:`geodln.small_svd.svd_2x2` (exactly scaled, LAPACK for the rare members it cannot serve),
the hot path of the small-problem ensembles.
"""

import numpy as np

from geodln._checks import check_matrix, check_rank
from geodln.small_svd import svd_2x2

__all__ = ["SVDFrame", "RANK_RTOL", "banded_sum", "times_pow2"]

#: Relative rank tolerance: singular values ``<= RANK_RTOL * sigma_1`` count as zero.
RANK_RTOL = 1e-8

#: Width, in binary orders, of the bands of eigenvalues evaluated together when some
#: eigenvalue or product is out of the float range (:meth:`SVDFrame._banded`).
_BAND = 512

#: Smallest normal float: a smaller (subnormal) eigenvalue has lost significant bits.
_TINY = np.finfo(float).tiny


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
        eigenvalues = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        if not self._out_of_range(eigenvalues):
            K, ell = eigenvalues
            try:
                with np.errstate(over="raise", invalid="raise"):
                    return (
                        K * core,
                        None if left is None else left * ell[..., None, :],
                        None if right is None else ell[..., :, None] * right,
                    )
            except FloatingPointError:  # a product overflowed: exact scaled products below
                pass
        return _scaled_products(self._log2_eigenvalues(kernel, eigenvalues), (core, left, right))

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
            underflowed (positive singular values, a kernel with a homogeneity degree) is no
            error: the exact values are returned (``inf`` where out of range). Without a
            degree, an eigenvalue lost to a squared singular value out of the float range
            raises a ValueError saying so.

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
        eigenvalues = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        self._check_metric_defined(kernel, eigenvalues, left is not None or right is not None)
        if not self._out_of_range(eigenvalues):
            K, ell = eigenvalues
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    return (
                        core / K,
                        None if left is None else left / ell[..., None, :],
                        None if right is None else right / ell[..., :, None],
                    )
            except FloatingPointError:  # a quotient overflowed: exact scaled products below
                pass
        lk, ll = self._log2_eigenvalues(kernel, eigenvalues)
        return _scaled_products((-lk, None if ll is None else -ll), (core, left, right))

    def _check_metric_defined(self, kernel, eigenvalues, mixed):
        r"""Raise ValueError if a co-metric eigenvalue the metric needs is 0 (not by underflow).

        An eigenvalue that underflowed to 0 although every singular value within the rank is
        positive (e.g. :math:`\sigma^{2-2/N}` below the smallest float for N = 8,
        :math:`\sigma = 10^{-200}`, a kernel with a homogeneity degree) is not an error: the
        methods then evaluate from the logarithms of the eigenvalues, and out-of-range values
        come out as ``inf``.
        """
        K, ell = eigenvalues
        if np.all(K > 0) and (not mixed or np.all(ell > 0)):
            return
        degree = getattr(kernel, "degree", None)
        positive = np.all(self.s > 0)
        squares_out = np.any(self.s >= 2.0**511) or np.any(self.s < 2.0**-511)  # sigma^2 out
        if (degree is None and positive and squares_out
                and not (mixed and kernel.degenerate_on_mixed())):
            raise ValueError(
                "the co-metric eigenvalues at base_point leave the float range (squared "
                f"singular values out of range) and kernel {kernel!r} has no homogeneity "
                "degree to rescale them (give it one, e.g. CallableKernel(func, degree=d), to "
                "evaluate at any scale)"
            )
        if degree is None or not positive or (mixed and kernel.degenerate_on_mixed()):
            raise ValueError(
                "the metric is not defined at base_point: a co-metric eigenvalue is 0 "
                "(a zero singular value within the rank, or a kernel that vanishes on the "
                "mixed blocks of a rank-deficient point, e.g. infinite depth)"
            )

    def _out_of_range(self, eigenvalues):
        """Whether an eigenvalue over- or underflowed (inf, or 0 or subnormal at positive s)."""
        K, ell = eigenvalues
        for values in (K, ell):  # (ndarray methods: this runs once per co-metric call)
            if values is None:
                continue
            values = np.asarray(values)
            if not np.isfinite(values).all() or (
                    not (values >= _TINY).all() and (np.asarray(self.s) > 0).all()):
                return True
        return False

    def _log2_eigenvalues(self, kernel, eigenvalues):
        """``log2`` of the core and mixed eigenvalues, from the kernel's exact ``log_values``.

        ``-inf`` where an eigenvalue is 0 (a zero singular value); with ``kernel=None`` the
        logarithms of the given eigenvalues.
        """
        K, ell = eigenvalues
        with np.errstate(divide="ignore", over="ignore", under="ignore"):
            if kernel is None:
                return np.log2(K), None if ell is None else np.log2(ell)
            s = self.s
            lk = kernel.log_values(s[..., :, None], s[..., None, :]) / np.log(2.0)
            ll = None if ell is None else kernel.log_values(s, np.zeros_like(s)) / np.log(2.0)
        return np.asarray(lk, dtype=float), None if ll is None else np.asarray(ll, dtype=float)

    def _banded(self, logs, evaluate, shift):
        """:func:`banded_sum` (kept as a method for the frame's callers)."""
        return banded_sum(logs, evaluate, shift)

    def _banded_assemble(self, kernel, eigenvalues, blocks, inverse):
        """:meth:`assemble` of the blocks times the eigenvalues (or divided), exact at any range."""
        lk, ll = self._log2_eigenvalues(kernel, eigenvalues)
        if inverse:
            lk, ll = -lk, None if ll is None else -ll
        blocks, shift = _normalised(blocks)
        core, left, right = blocks

        def evaluate(mk, ml):
            return self.assemble(
                mk * core,
                None if left is None else left * ml[..., None, :],
                None if right is None else ml[..., :, None] * right,
            )

        return self._banded((lk, ll), evaluate, shift[..., None, None])

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
        if not self._out_of_range(eigenvalues):
            K, ell = eigenvalues
            try:
                with np.errstate(over="raise", invalid="raise"):
                    if blocks[1] is None and blocks[2] is None:  # square full rank
                        return self.u @ (K * blocks[0]) @ self.vt
                    core, left, right = blocks
                    return self.assemble(
                        K * core,
                        None if left is None else left * ell[..., None, :],
                        None if right is None else ell[..., :, None] * right,
                    )
            except FloatingPointError:  # an intermediate overflowed (inf * 0 = nan)
                pass
        return self._banded_assemble(kernel, eigenvalues, blocks, inverse=False)

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
        self._check_metric_defined(kernel, eigenvalues, blocks[1] is not None
                                   or blocks[2] is not None)
        if not self._out_of_range(eigenvalues):
            K, ell = eigenvalues
            core, left, right = blocks
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    return self.assemble(
                        core / K,
                        None if left is None else left / ell[..., None, :],
                        None if right is None else right / ell[..., :, None],
                    )
            except FloatingPointError:  # an intermediate overflowed (inf * 0 = nan)
                pass
        return self._banded_assemble(kernel, eigenvalues, blocks, inverse=True)

    def inner_product(self, kernel, z_a, z_b, eigenvalues=None):
        r"""Metric inner product :math:`\mathrm{tr}(Z_a^\top A_X^{-1} Z_b)` in block coordinates.

        :meth:`inner_product_blocks` on the blocks of ``z_a`` and ``z_b``; normal components
        are ignored.

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
        return self.inner_product_blocks(kernel, self.blocks(z_a), self.blocks(z_b), eigenvalues)

    def inner_product_blocks(self, kernel, blocks_a, blocks_b, eigenvalues=None,
                             inverse=True):
        r"""Metric inner product of two tangent vectors given by blocks ``(core, left, right)``.

        The blocks are Frobenius-orthogonal, so this is
        :math:`\sum \mathrm{core}_a\mathrm{core}_b/K + \sum \mathrm{left}_a\mathrm{left}_b/\ell
        + \sum \mathrm{right}_a\mathrm{right}_b/\ell` (a sum of positive terms for
        :math:`Z_a = Z_b`). Where an eigenvalue or a term leaves the float range, the terms are
        summed in bands of binary orders from the logarithms of the eigenvalues: ``inf`` or 0
        only where the exact value is out of range, never NaN, no numpy warning.

        Parameters
        ----------
        kernel : SpectralKernel
        blocks_a, blocks_b : tuple
            ``(core [..., r, r], left [..., m, r] or None, right [..., r, n] or None)``.
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.
        inverse : bool
            ``True`` (default): the metric, divide by the eigenvalues. ``False``: the
            co-metric inner product :math:`\mathrm{tr}(P_a^\top A_X P_b)`, multiply.

        Returns
        -------
        inner : ndarray, shape=[...]

        Raises
        ------
        ValueError
            If ``inverse`` and a needed co-metric eigenvalue is 0 (see
            :meth:`apply_inverse_blocks`).

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(1e-300 * np.diag([2.0, 1.0]))
        >>> blocks = (1e-300 * np.ones((2, 2)), None, None)
        >>> f"{frame.inner_product_blocks(DLNKernel(3), blocks, blocks):.6e}"  # K ~ 1e-400
        '8.572175e-201'
        """
        a, b = blocks_a, blocks_b
        eigenvalues = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        if inverse:
            self._check_metric_defined(kernel, eigenvalues, b[1] is not None or b[2] is not None)
        if not self._out_of_range(eigenvalues):
            K, ell = eigenvalues
            op = np.divide if inverse else np.multiply
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    total = np.sum(a[0] * op(b[0], K), axis=(-2, -1))
                    if a[1] is not None:
                        total = total + np.sum(a[1] * op(b[1], ell[..., None, :]), axis=(-2, -1))
                    if a[2] is not None:
                        total = total + np.sum(a[2] * op(b[2], ell[..., :, None]), axis=(-2, -1))
                    return total
            except FloatingPointError:  # a term overflowed: exact scaled terms below
                pass
        lk, ll = self._log2_eigenvalues(kernel, eigenvalues)
        if inverse:
            lk, ll = -lk, None if ll is None else -ll
        (a0, a1, a2), shift_a = _normalised(a)
        (b0, b1, b2), shift_b = _normalised(b)

        def evaluate(mk, ml):
            total = np.sum(a0 * b0 * mk, axis=(-2, -1))
            if a1 is not None:
                total = total + np.sum(a1 * b1 * ml[..., None, :], axis=(-2, -1))
            if a2 is not None:
                total = total + np.sum(a2 * b2 * ml[..., :, None], axis=(-2, -1))
            return total

        return self._banded((lk, ll), evaluate, shift_a + shift_b)

    def norm_blocks(self, kernel, blocks, eigenvalues=None):
        r"""Metric norm :math:`\sqrt{g_X(Z, Z)}` of a tangent vector given by its blocks.

        Every term :math:`z_i^2/\lambda_i` is formed as a mantissa and a binary exponent
        from the logarithms of the eigenvalues (``kernel.log_values``); the terms are summed
        relative to the largest and the square root of its power of 2 is applied last. So
        the norm is exact to a few ulps (times :math:`1 + |\log\sigma|` in the eigenvalues)
        wherever the norm itself is representable, also where :math:`g_X(Z, Z)` or a
        single eigenvalue under- or overflows; ``inf``/0 only where the norm is out of range.

        Parameters
        ----------
        kernel : SpectralKernel
        blocks : tuple
            ``(core [..., r, r], left [..., m, r] or None, right [..., r, n] or None)``.
        eigenvalues : tuple, optional
            ``(K, ell)`` from :meth:`eigenvalues`, to reuse.

        Returns
        -------
        norm : ndarray, shape=[...]

        Raises
        ------
        ValueError
            If a needed co-metric eigenvalue is 0 (see :meth:`apply_inverse_blocks`).

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        :math:`\sqrt{2/(3c^{4/3})}` for N = 3 at :math:`cI`, :math:`c = 10^{300}` (the
        squared norm, about 6.7e-401, underflows):

        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> frame = SVDFrame(1e300 * np.eye(2))
        >>> f"{frame.norm_blocks(DLNKernel(3), (np.eye(2), None, None)):.6e}"
        '8.164966e-201'
        """
        eigenvalues = self.eigenvalues(kernel) if eigenvalues is None else eigenvalues
        core, left, right = blocks
        self._check_metric_defined(kernel, eigenvalues, left is not None or right is not None)
        if not self._out_of_range(eigenvalues):  # the common case: sqrt of the plain sum
            total = self.inner_product_blocks(kernel, blocks, blocks, eigenvalues)
            # (terms below the smallest normal float then cost < 2**-100 of the total; a
            # total of 0 may be underflow: the logarithms below decide)
            if np.all((total >= 2.0**-960) & (total < np.inf)):
                return np.sqrt(total)
        lk, ll = self._log2_eigenvalues(kernel, eigenvalues)
        mants, logs = [], []
        for block, log2_lam in ((core, lk), (left, None if ll is None else ll[..., None, :]),
                                (right, None if ll is None else ll[..., :, None])):
            if block is None:
                continue
            mant, expo = np.frexp(block)
            with np.errstate(invalid="ignore"):
                log_term = np.where(mant != 0, 2.0 * expo - log2_lam, -np.inf)
            batch = log_term.shape[:-2]
            mants.append(np.broadcast_to(mant, log_term.shape).reshape(batch + (-1,)))
            logs.append(log_term.reshape(batch + (-1,)))
        batch = np.broadcast_shapes(*(v.shape[:-1] for v in logs))
        mant = np.concatenate([np.broadcast_to(v, batch + v.shape[-1:]) for v in mants], -1)
        log_term = np.concatenate([np.broadcast_to(v, batch + v.shape[-1:]) for v in logs], -1)
        top = np.max(log_term, axis=-1)
        finite_top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(under="ignore", invalid="ignore"):
            total = np.sum(mant**2 * np.exp2(log_term - finite_top[..., None]), axis=-1)
        out = times_pow2(np.sqrt(total), finite_top / 2)
        out = np.where(top == -np.inf, 0.0, out)
        return np.where(top == np.inf, np.inf, out)

    def norm(self, kernel, z, eigenvalues=None):
        r"""Metric norm :math:`\sqrt{g_X(Z, Z)}`, exact wherever it is representable.

        :meth:`norm_blocks` on the blocks of ``z`` (normal components are ignored).

        Parameters
        ----------
        kernel : SpectralKernel
        z : ndarray, shape=[..., m, n]
        eigenvalues : tuple, optional

        Returns
        -------
        norm : ndarray, shape=[...]

        Raises
        ------
        ValueError
            If a needed co-metric eigenvalue is 0.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> from geodln.svd_frame import SVDFrame
        >>> float(SVDFrame(np.diag([4.0, 4.0])).norm(DLNKernel(2), np.eye(2)))
        0.5
        """
        return self.norm_blocks(kernel, self.blocks(z), eigenvalues)

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


def banded_sum(logs, evaluate, shift=0.0):
    r"""``sum_b evaluate(m_b) * 2**(E_b + shift)`` over bands of the eigenvalue exponents.

    The eigenvalues :math:`2^{L}` (``logs``: log2 of the core and mixed ones) are split
    into bands of :data:`_BAND` binary orders; in band b the multipliers
    :math:`2^{L - E_b}` lie in :math:`[2^{-256}, 2^{256})`, ``evaluate`` (linear in the
    multipliers, on blocks normalised to entries <= 1) stays finite, and the exact power of
    2 is applied last: ``inf`` or 0 only where the true value is out of range, never NaN.

    Parameters
    ----------
    logs : tuple
        ``(lk, ll)``: arrays of log2 eigenvalues (``ll`` may be None); ``-inf`` for 0.
    evaluate : callable
        ``evaluate(mk, ml)``, linear in the multiplier arrays (shaped as ``lk``, ``ll``).
    shift : float or ndarray
        Extra power of 2 applied to every band (broadcast against the result).

    Returns
    -------
    total : ndarray, shape=[...]
        The shape of ``evaluate``'s result.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the eigenvalues).
    .. [2] HIG02: Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed. (SIAM, 2002),
       Chapter 2 (floating-point arithmetic: scaling by a power of 2 is exact in range).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.svd_frame import banded_sum
    >>> logs = (np.array([2000.0, -1.0]), None)
    >>> float(banded_sum(logs, lambda mk, ml: mk.sum(), shift=-2000.0))
    1.0
    """
    lk, ll = (None if v is None else np.where(v == np.inf, 4 * _BAND, v) for v in logs)
    finite = [v[np.isfinite(v)] for v in (lk, ll) if v is not None]
    bands = np.unique(np.floor(np.concatenate(finite) / _BAND))

    def multipliers(values, band, centre):
        if values is None:
            return None
        with np.errstate(invalid="ignore"):
            inside = np.floor(values / _BAND) == band
        return np.where(inside, np.exp2(np.where(inside, values - centre, 0.0)), 0.0)

    out = None
    for band in bands if bands.size else [0.0]:
        centre = (band + 0.5) * _BAND
        part = evaluate(multipliers(lk, band, centre), multipliers(ll, band, centre))
        part = times_pow2(part, centre + shift)
        with np.errstate(invalid="ignore", over="ignore"):
            out = part if out is None else np.where(np.isinf(part), part, out + part)
    return out


def times_pow2(x, shift):
    """``x * 2**shift`` elementwise (``shift`` broadcast against ``x``), exact and range-safe.

    The integer part of ``shift`` is applied by ``ldexp``: 0 stays 0, out-of-range values
    become ``±inf`` or 0 (never NaN, no warning); ``shift = -inf`` gives 0.

    Parameters
    ----------
    x : array-like, shape=[...]
    shift : array-like, shape=[...]
        Real (not necessarily integer) binary exponents, ``±inf`` allowed; broadcast with x.

    Returns
    -------
    out : ndarray, shape=[...]

    References
    ----------
    .. [1] HIG02: Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed. (SIAM, 2002),
       Chapter 2 (floating-point arithmetic: scaling by a power of 2 is exact in range).

    Examples
    --------
    >>> from geodln.svd_frame import times_pow2
    >>> f"{float(times_pow2(3.0, -2000 / 3)):.6e}"
    '6.172449e-201'
    """
    shift = np.asarray(shift, dtype=float)
    finite = np.isfinite(shift)
    safe = np.where(finite, shift, 0.0)
    whole = np.floor(safe)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = np.ldexp(x * np.exp2(safe - whole), whole.astype(np.int64))
    if not np.all(finite):
        out = np.where(shift == -np.inf, 0.0, out)
        out = np.where((shift == np.inf) & (x != 0), np.copysign(np.inf, x), out)
    return out


def _normalised(blocks):
    """Blocks divided by a per-point power of 2 (largest entry in [1/2, 1)), and its exponent."""
    top = None
    for b in blocks:
        if b is not None:
            t = np.max(np.abs(b), axis=(-2, -1))
            top = t if top is None else np.maximum(top, t)
    exponent = np.frexp(np.where(top > 0, top, 1.0))[1]
    return tuple(None if b is None else np.ldexp(b, -exponent[..., None, None])
                 for b in blocks), exponent


def _scaled_products(logs, blocks):
    """Blocks times the eigenvalues ``2**logs`` elementwise, exact for any exponents."""
    lk, ll = logs
    core, left, right = blocks
    mant, expo = np.frexp(core)
    out = [times_pow2(mant, expo + lk)]
    for b, axis in ((left, -2), (right, -1)):
        if b is None:
            out.append(None)
        else:
            mant, expo = np.frexp(b)
            out.append(times_pow2(mant, expo + np.expand_dims(ll, axis)))
    return tuple(out)
