r"""Spectral metrics on rank-r matrices; the deep-linear-network metric :math:`g^N`.

:class:`SpectralMetric` turns a spectral kernel (:mod:`geodln.spectral`) into a geomstats
``RiemannianMetric`` on :class:`~geodln.RankMatrices`: the co-metric (``sharp``) is diagonal
in the singular basis of the base point, the metric (``flat``) is its inverse on
:math:`T_X M_r`. :class:`DLNMetric` is the instance of the DLN kernel:

.. math:: g^N_X(Z_1, Z_2) = \mathrm{tr}(Z_1^\top A_{N,X}^{-1} Z_2), \qquad
          A_{N,X}(Z) = \sum_{j=1}^N (XX^\top)^{(N-j)/N} Z (X^\top X)^{(j-1)/N},

the quotient of the Frobenius metric of the balanced manifold under the product map (Menon–Yu
(MY25); Cohen–Menon–Veraszto (CMV23) for its eigenvalues; Arora–Cohen–Hazan (ACH18)
Theorem 1 for the flow). Every method costs one SVD and
O(mnr) work, independently of the depth.

**Numerics.** Every method is exact to a few ulps times :math:`1 + |\log\sigma|` in the
kernel values, for singular values anywhere in the float range (the kernels are evaluated
from the singular values, :mod:`geodln.spectral`; LAPACK's SVD scales internally), and
returns ``inf``/``0`` only where the exact value is not representable (never NaN, and no numpy
``RuntimeWarning`` leaks: out-of-range results are a documented outcome, not an error). This
holds for ``sharp``, ``flat``, the inner products, ``norm`` (summed from the logarithms of the
eigenvalues: exact where :math:`g_X(Z, Z)` itself under- or overflows) and the entry-coordinate
matrices ``cometric_matrix``/``metric_matrix`` (evaluated in bands of binary orders where an
eigenvalue is out of range). A
``base_point`` of
rank > r (a singular value beyond r above ``geodln.svd_frame.RANK_RTOL`` times the largest)
raises ``ValueError`` instead of being truncated. The flows use the unvalidated fast path
``SVDFrame(X, rank, check=False).apply(kernel, Z)`` after validating once.
"""

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.riemannian_metric import RiemannianMetric

from geodln._checks import check_batch_shapes, check_matrix
from geodln.geodesics import HamiltonianExpSolver, LeviCivitaMixin, NewtonLogSolver
from geodln.matrix_power import sym_power
from geodln.spectral import DLNKernel, SpectralKernel
from geodln.svd_frame import SVDFrame, banded_sum


class SpectralMetric(LeviCivitaMixin, RiemannianMetric):
    r"""Riemannian metric on :math:`M_r` whose co-metric is a spectral kernel.

    This is the extension point for prototyping: any symmetric kernel
    :math:`k(\sigma_k^2, \sigma_l^2)` positive off :math:`(0, 0)` defines a metric (see
    :mod:`geodln.spectral` for the block structure at rank-r points).

    Christoffel symbols, curvature and the component-aware distance come from
    :class:`~geodln.geodesics.LeviCivitaMixin`.

    Parameters
    ----------
    space : RankMatrices
        The manifold.
    kernel : SpectralKernel
        The kernel.

    Raises
    ------
    ValueError
        If ``space`` is not a :class:`~geodln.RankMatrices`; if ``kernel`` is not a
        :class:`~geodln.spectral.SpectralKernel`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> import numpy as np
    >>> import geodln
    >>> kernel = geodln.CallableKernel(lambda a, b: 0.5 * (a + b), degree=1)
    >>> metric = geodln.SpectralMetric(geodln.RankMatrices(2, 2), kernel)
    >>> metric.sharp(np.ones((2, 2)), np.diag([2.0, 1.0])).tolist()
    [[4.0, 2.5], [2.5, 1.0]]
    """

    def __init__(self, space, kernel):
        if not all(hasattr(space, a) for a in ("m", "n", "rank", "dim")):
            raise ValueError(f"space must be a RankMatrices, got {type(space).__name__}")
        if not isinstance(kernel, SpectralKernel):
            raise ValueError(f"kernel must be a SpectralKernel, got {type(kernel).__name__}")
        super().__init__(space)
        self.kernel = kernel
        self._instantiate_solvers()

    def _instantiate_solvers(self):
        """Install the geodesic solvers (pattern of geomstats' ``PullbackMetric``).

        ``exp``/``geodesic``: :class:`~geodln.geodesics.HamiltonianExpSolver` (co-metric
        Hamiltonian, GEO25); ``log`` (hence ``dist``, ``squared_dist``, ladder parallel
        transport): :class:`~geodln.geodesics.NewtonLogSolver` (batched Newton from the
        root-chart guess, :class:`~geodln.geodesics.RootLogSolver` as its fallback).
        Kernels without a differentiable co-metric raise ``NotImplementedError`` when these
        are used.
        """
        self.exp_solver = HamiltonianExpSolver(self._space, self.kernel)
        self.log_solver = NewtonLogSolver(self._space, self.exp_solver)

    # -- helpers -------------------------------------------------------------------------
    def frame(self, base_point):
        """Return the validated :class:`~geodln.svd_frame.SVDFrame` of ``base_point``.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        frame : SVDFrame

        Raises
        ------
        ValueError
            If ``base_point`` is not a finite array ``[..., m, n]`` of the space's shape, or
            has rank > r (a singular value beyond r above ``RANK_RTOL`` times the largest).

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(4, 3, rank=2), depth=3)
        >>> metric.frame(np.ones((4, 3))).s.round(12).tolist()
        [3.464101615138, 0.0]
        """
        frame = SVDFrame(
            check_matrix(base_point, "base_point", shape=self._space.shape),
            self._space.rank,
            check=False,
        )
        frame.check_rank("base_point")
        return frame

    def _vec(self, vec, name):
        return check_matrix(vec, name, shape=self._space.shape)

    # -- co-metric and metric --------------------------------------------------------------
    def sharp(self, cotangent_vec, base_point):
        r"""Co-metric :math:`A_X(Z)`: a Euclidean covector to the Riemannian vector.

        Equals the defining sum :math:`A_{N,X}(Z)` for the DLN kernel with N >= 2 (which
        annihilates the normal space of :math:`M_r`); for N = 1, and for every kernel, the
        normal block :math:`U_\perp^\top Z V_\perp` is dropped, so the image lies in
        :math:`T_X M_r` (for N = 1 this is the tangent projection: the Euclidean gradient).
        Exact at any scale of ``base_point`` (kernel values from the singular values,
        :mod:`geodln.spectral`); the co-metric extends continuously to points of rank < r,
        which are accepted.

        Parameters
        ----------
        cotangent_vec : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            If an argument is not a finite array of the space's shape, or ``base_point`` has
            rank > r (relative tolerance ``geodln.svd_frame.RANK_RTOL``).

        References
        ----------
        .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
        .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=3)
        >>> out = metric.sharp(np.ones((3, 3)), 1e160 * np.diag([1.0, 2.0, 3.0]))
        >>> f"{out.max():.6e}"
        '2.796509e+214'
        """
        check_batch_shapes(cotangent_vec=cotangent_vec, base_point=base_point)
        z = self._vec(cotangent_vec, "cotangent_vec")
        return self.frame(base_point).apply(self.kernel, z)

    def flat(self, tangent_vec, base_point):
        r"""Metric :math:`A_X^{-1}(Z)` on :math:`T_X M_r` (normal components are ignored).

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        cotangent_vec : ndarray, shape=[..., m, n]
            In :math:`T_X M_r`; ``flat(sharp(Z)) = P_T(Z)``.

        Raises
        ------
        ValueError
            If an argument is not a finite array of the space's shape, ``base_point`` has rank
            > r, or a co-metric eigenvalue is 0 (rank < r, or infinite depth at a
            rank-deficient point: the metric is not defined at base_point), or the kernel has
            no homogeneity degree and its values at ``base_point`` leave the float range.

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
        >>> np.round(metric.flat(np.ones((2, 2)), np.diag([2.0, 1.0])), 12).tolist()
        [[0.25, 0.333333333333], [0.333333333333, 0.5]]
        """
        check_batch_shapes(tangent_vec=tangent_vec, base_point=base_point)
        z = self._vec(tangent_vec, "tangent_vec")
        return self.frame(base_point).apply_inverse(self.kernel, z)

    def riemannian_gradient(self, euclidean_grad, base_point):
        """Riemannian gradient :math:`A_X(\\nabla E(X))` of a function with Euclidean gradient.

        Parameters
        ----------
        euclidean_grad : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        grad : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            As :meth:`sharp`.

        References
        ----------
        .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
        >>> np.round(metric.riemannian_gradient(np.eye(2), np.diag([2.0, 1.0])), 12).tolist()
        [[4.0, 0.0], [0.0, 2.0]]
        """
        z = self._vec(euclidean_grad, "euclidean_grad")
        return self.frame(base_point).apply(self.kernel, z)

    def inner_product(self, tangent_vec_a, tangent_vec_b, base_point):
        """Inner product :math:`\\mathrm{tr}(Z_1^T A_X^{-1} Z_2)`.

        Evaluated in the singular frame (:meth:`geodln.svd_frame.SVDFrame.inner_product`):
        for ``a = b`` a sum of positive terms, exact to a few ulps at any scale.

        Parameters
        ----------
        tangent_vec_a, tangent_vec_b : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        inner_prod : ndarray, shape=[...]

        Raises
        ------
        ValueError
            As :meth:`flat`.

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=3)
        >>> z = np.ones((3, 3))
        >>> f"{metric.inner_product(z, z, 1e160 * np.diag([1.0, 2.0, 3.0])):.6e}"
        '6.504498e-214'
        """
        check_batch_shapes(tangent_vec_a=tangent_vec_a, tangent_vec_b=tangent_vec_b,
                           base_point=base_point)
        a = self._vec(tangent_vec_a, "tangent_vec_a")
        b = self._vec(tangent_vec_b, "tangent_vec_b")
        return self.frame(base_point).inner_product(self.kernel, a, b)

    def inner_coproduct(self, cotangent_vec_a, cotangent_vec_b, base_point):
        """Co-metric inner product :math:`\\mathrm{tr}(P_1^T A_X P_2)`.

        Summed in the singular frame (:meth:`geodln.svd_frame.SVDFrame.inner_product_blocks`),
        exact where :math:`A_X P_2` overflows but the product is representable.

        Parameters
        ----------
        cotangent_vec_a, cotangent_vec_b : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        inner_coprod : ndarray, shape=[...]

        Raises
        ------
        ValueError
            As :meth:`sharp`.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
        >>> float(metric.inner_coproduct(np.eye(2), np.eye(2), np.diag([2.0, 1.0])))
        6.0
        """
        check_batch_shapes(cotangent_vec_a=cotangent_vec_a, cotangent_vec_b=cotangent_vec_b,
                           base_point=base_point)
        a = self._vec(cotangent_vec_a, "cotangent_vec_a")
        b = self._vec(cotangent_vec_b, "cotangent_vec_b")
        frame = self.frame(base_point)
        return frame.inner_product_blocks(self.kernel, frame.blocks(a), frame.blocks(b),
                                          inverse=False)

    def squared_norm(self, vector, base_point):
        """Squared norm :math:`g_X(Z, Z)`.

        Parameters
        ----------
        vector : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        sq_norm : ndarray, shape=[...]

        Raises
        ------
        ValueError
            As :meth:`flat`.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
        >>> float(metric.squared_norm(np.eye(2), np.diag([2.0, 1.0])))
        0.75
        """
        z = self._vec(vector, "vector")
        return self.frame(base_point).inner_product(self.kernel, z, z)

    def norm(self, vector, base_point):
        """Norm :math:`\\sqrt{g_X(Z, Z)}`.

        Parameters
        ----------
        vector : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        norm : ndarray, shape=[...]

        Raises
        ------
        ValueError
            As :meth:`flat`.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
        >>> float(metric.norm(np.eye(2), np.diag([4.0, 4.0])))
        0.5

        Exact wherever the norm is representable, also where :math:`g_X(Z, Z)` itself
        under- or overflows (the terms are summed from the logarithms of the eigenvalues,
        :meth:`geodln.svd_frame.SVDFrame.norm`):

        >>> float(metric.norm(1e-200 * np.eye(2), np.diag([4.0, 4.0])))
        5e-201
        >>> deep = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3)
        >>> f"{deep.norm(np.eye(2), 1e300 * np.eye(2)):.6e}"  # g_X(Z, Z) underflows
        '8.164966e-201'
        """
        z = self._vec(vector, "vector")
        return self.frame(base_point).norm(self.kernel, z)

    # -- matrices in entry coordinates ----------------------------------------------------
    def _entry_eigenvalues(self, base_point):
        """Full SVD: the basis ``u_i v_jᵀ``, eigenvalues [..., 1, mn] and their log2 (lazy).

        Returns ``(basis, lam, log2_lam)`` with ``lam`` 0 on the normal block and
        ``log2_lam()`` computing ``log2`` of the eigenvalues from the kernel's exact
        ``log_values`` (``-inf`` on the normal block).
        """
        x = check_matrix(base_point, "base_point", shape=self._space.shape)
        SVDFrame(x, self._space.rank, check=False).check_rank("base_point")
        m, n = self._space.shape
        r = self._space.rank
        u, s, vt = np.linalg.svd(x, full_matrices=True)
        sig = np.zeros(x.shape[:-2] + (max(m, n),))
        sig[..., :r] = s[..., :r]
        sk, sl = sig[..., :m, None], sig[..., None, :n]
        normal = (np.arange(m)[:, None] >= r) & (np.arange(n)[None, :] >= r)
        with np.errstate(over="ignore", under="ignore"):
            lam = np.asarray(self.kernel.values(sk, sl), float)
        lam = np.where(normal, 0.0, lam)
        v = np.swapaxes(vt, -1, -2)
        basis = np.einsum("...ik,...jl->...ijkl", u, v).reshape(x.shape[:-2] + (m * n, m * n))
        shape = x.shape[:-2] + (1, m * n)

        def log2_lam():
            with np.errstate(divide="ignore", over="ignore", under="ignore"):
                logs = np.asarray(self.kernel.log_values(sk, sl), float) / np.log(2.0)
            return np.where(normal, -np.inf, logs).reshape(shape)

        return basis, lam.reshape(shape), log2_lam

    @staticmethod
    def _entry_matrix(basis, lam, log2_lam, positive):
        """``basis diag(lam) basisᵀ``; from ``log2_lam`` in bands where ``lam`` is out of range.

        ``lam`` is out of range where it is not finite, or not normal (below the smallest
        normal float) although its ``log2`` is finite (``positive``: the exact value is > 0).
        """
        small = positive & ~(np.abs(lam) >= np.finfo(float).tiny)
        if np.all(np.isfinite(lam)) and not np.any(small):
            return (basis * lam) @ np.swapaxes(basis, -1, -2)

        def evaluate(mult, _):
            return (basis * mult) @ np.swapaxes(basis, -1, -2)

        return banded_sum((log2_lam, None), evaluate)

    def cometric_matrix(self, base_point):
        """Matrix of :math:`A_X` in row-major entry coordinates, shape [..., mn, mn].

        Built from the full SVD: :math:`(U \\otimes V)\\,\\mathrm{diag}(K)\\,(U \\otimes V)^T`;
        where an eigenvalue leaves the float range the sum is evaluated in bands of binary
        orders from the logarithms of the eigenvalues (``inf`` only where an entry overflows,
        never NaN).

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        mat : ndarray, shape=[..., mn, mn]

        Raises
        ------
        ValueError
            As :meth:`sharp`.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.SpectralMetric(geodln.RankMatrices(2, 2), geodln.EuclideanKernel())
        >>> metric.cometric_matrix(np.diag([2.0, 1.0])).round(12).tolist() == np.eye(4).tolist()
        True
        >>> deep = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3)
        >>> np.diag(deep.cometric_matrix(np.diag([2e300, 1e300]))).tolist()  # N sigma^(4/3)
        [inf, inf, inf, inf]
        """
        basis, lam, log2_lam = self._entry_eigenvalues(base_point)
        if np.all(np.isfinite(lam)) and np.all((lam == 0) | (lam >= np.finfo(float).tiny)):
            return (basis * lam) @ np.swapaxes(basis, -1, -2)
        logs = log2_lam()
        return self._entry_matrix(basis, lam, logs, np.isfinite(logs))

    def metric_matrix(self, base_point):
        """Matrix of :math:`A_X^{-1}` in row-major entry coordinates (full-rank points only).

        :math:`(U \\otimes V)\\,\\mathrm{diag}(1/K)\\,(U \\otimes V)^T` (no matrix inverse:
        normwise exact however ill-conditioned the co-metric).

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        mat : ndarray, shape=[..., mn, mn]

        Raises
        ------
        ValueError
            If the space is not full rank, ``base_point`` is not a finite array of its shape,
            or a co-metric eigenvalue is 0 (a singular base_point). An eigenvalue that merely
            underflows (e.g. ``diag(2e-300, 1e-300)`` at N = 3) is no error: the entries are
            exact, ``inf`` where they overflow. For a kernel without a homogeneity degree
            whose values at the squared singular values leave the float range, a ValueError
            says so.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(1, 1), depth=2)
        >>> metric.metric_matrix(np.array([[1e150]])).tolist()
        [[5e-151]]
        """
        if not self._space.full_rank:
            raise ValueError(
                "metric_matrix is defined in entry coordinates only for full-rank spaces; "
                f"this space has rank {self._space.rank} < min(m, n)"
            )
        basis, lam, log2_lam = self._entry_eigenvalues(base_point)
        if np.all(np.isfinite(lam)) and np.all(lam >= np.finfo(float).tiny):
            with np.errstate(over="ignore"):
                inverse = 1.0 / lam
            if np.all(np.isfinite(inverse)):
                return (basis * inverse) @ np.swapaxes(basis, -1, -2)
        logs = log2_lam()
        if not np.all(np.isfinite(logs)):
            sig = np.linalg.svd(np.asarray(base_point, float), compute_uv=False)
            if (getattr(self.kernel, "degree", None) is None and np.all(sig > 0)
                    and (np.any(sig >= 2.0**511) or np.any(sig < 2.0**-511))):
                raise ValueError(
                    "the co-metric eigenvalues at base_point leave the float range and kernel "
                    f"{self.kernel!r} has no homogeneity degree to rescale them (give it one, "
                    "e.g. CallableKernel(func, degree=d), to evaluate at any scale)"
                )
            raise ValueError(
                "the metric is not defined at base_point: a co-metric eigenvalue is 0 "
                "(a singular base_point, or a kernel vanishing on its mixed blocks)"
            )
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            inverse = 1.0 / lam
        return self._entry_matrix(basis, inverse, -logs, np.isfinite(logs))


class DLNMetric(SpectralMetric):
    r"""The deep-linear-network metric :math:`g^N` on :math:`M_r`.

    Parameters
    ----------
    space : RankMatrices
        The manifold of rank-r m×n matrices.
    depth : int or numpy.inf
        Depth N >= 1; ``inf`` (logarithmic-mean kernel, CMV23) requires ``normalized=True``.
        ``depth=1`` is the Euclidean metric restricted to :math:`M_r`.
    normalized : bool
        ``False`` (default): the plain sum :math:`A_{N,X}` (ACH18, BRTW21, GM24, MY25), the
        exact Riemannian submersion of the Frobenius metric upstairs. ``True``: the CMV23
        convention :math:`A_{N,X}/N` (:math:`g_{CMV} = N g_{plain}`, flow time ×N).

    Raises
    ------
    ValueError
        If ``depth`` is not an integer in [1, 10**6] or ``numpy.inf`` (bools are refused); if
        ``depth=inf`` without ``normalized=True``; if ``space`` is not a
        :class:`~geodln.RankMatrices`.

    Notes
    -----
    Eigenvalues (CMV23 Lemma 2.4, with the rank-r mixed blocks):
    :math:`\lambda_{kl} = (\sigma_k^2 - \sigma_l^2)/(\sigma_k^{2/N} - \sigma_l^{2/N})`,
    :math:`\lambda_{kk} = N\sigma_k^{2-2/N}`, mixed blocks :math:`\sigma_k^{2-2/N}`, evaluated
    from the singular values by :class:`geodln.spectral.DLNKernel` (exact at repeated, tiny
    and huge singular values: :math:`A_{N,cX} = c^{2-2/N}A_{N,X}` to rounding).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.
    .. [3] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: :math:`g^N` is obtained by
       Riemannian submersion of the balanced manifold).

    Examples
    --------
    >>> import numpy as np
    >>> import geodln
    >>> metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=3)
    >>> z = np.ones((3, 3))
    >>> f"{metric.inner_product(z, z, 1e-200 * np.diag([1.0, 2.0, 3.0])):.6e}"
    '6.504498e+266'
    """

    def __init__(self, space, depth, normalized=False):
        kernel = DLNKernel(depth, normalized)
        super().__init__(space, kernel)
        self.depth = kernel.depth
        self.normalized = kernel.normalized

    def cometric_matrix(self, base_point):
        r"""Matrix of :math:`A_{N,X}` in row-major entry coordinates, differentiable in X.

        For a plain array this is the SVD form of :meth:`SpectralMetric.cometric_matrix`
        (exact at any scale). For an autograd box (geomstats' christoffels differentiate
        it) and finite N > 1 on a full-rank space it is the Kronecker sum
        :math:`\sum_j (XX^\top)^{(N-j)/N} \otimes (X^\top X)^{(j-1)/N}` with the
        Daleckii–Krein powers of :mod:`geodln.matrix_power`, which autograd differentiates
        exactly, also at repeated singular values.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        mat : ndarray, shape=[..., mn, mn]

        Raises
        ------
        ValueError
            As :meth:`SpectralMetric.sharp`.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(1, 2), depth=2)
        >>> metric.cometric_matrix(np.array([[3.0, 0.0]])).round(12).tolist()
        [[6.0, 0.0], [0.0, 3.0]]
        """
        boxed = hasattr(base_point, "_value")
        if not boxed or self.depth == np.inf or not self._space.full_rank or self.depth == 1:
            return super().cometric_matrix(base_point)
        x = base_point
        m, n = self._space.shape
        N = self.depth
        xt = anp.swapaxes(x, -1, -2)
        left, right = anp.matmul(x, xt), anp.matmul(xt, x)
        total = 0.0
        for j in range(1, N + 1):
            # for m != n the larger Gram matrix is singular: its tiny round-off eigenvalues
            # must not be raised to a power, so use (XX^T)^a = X (X^TX)^(a-1) X^T (a > 0)
            # through the smaller, invertible Gram matrix
            a, b = (N - j) / N, (j - 1) / N
            if m > n and a > 0:
                p = anp.matmul(anp.matmul(x, sym_power(right, a - 1)), xt)
            else:
                p = sym_power(left, a)
            if n > m and b > 0:
                q = anp.matmul(anp.matmul(xt, sym_power(left, b - 1)), x)
            else:
                q = sym_power(right, b)
            kron = anp.einsum("...ij,...lk->...iljk", p, q)
            total = total + anp.reshape(kron, anp.shape(x)[:-2] + (m * n, m * n))
        return total / N if self.normalized else total

    def metric_matrix(self, base_point):
        r"""Matrix of :math:`A_{N,X}^{-1}` in entry coordinates (full rank), differentiable.

        Plain arrays: the SVD form of :meth:`SpectralMetric.metric_matrix` (exact at any
        scale); autograd boxes: the inverse of the differentiable :meth:`cometric_matrix`.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        mat : ndarray, shape=[..., mn, mn]

        Raises
        ------
        ValueError
            As :meth:`SpectralMetric.metric_matrix`.

        Examples
        --------
        >>> import numpy as np
        >>> import geodln
        >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3)
        >>> bool(np.allclose(metric.metric_matrix(np.eye(2)), np.eye(4) / 3))
        True
        """
        if not hasattr(base_point, "_value") or not self._space.full_rank:
            return super().metric_matrix(base_point)
        return anp.linalg.inv(self.cometric_matrix(base_point))

    def __repr__(self):
        return (
            f"DLNMetric(RankMatrices({self._space.m}, {self._space.n}, {self._space.rank}), "
            f"depth={self.depth}, normalized={self.normalized})"
        )
