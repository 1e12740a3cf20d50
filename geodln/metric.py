r"""Spectral metrics on rank-r matrices; the deep-linear-network metric :math:`g^N`.

:class:`SpectralMetric` turns a spectral kernel (:mod:`geodln.spectral`) into a geomstats
``RiemannianMetric`` on :class:`~geodln.RankMatrices`: the co-metric (``sharp``) is diagonal
in the singular basis of the base point, the metric (``flat``) is its inverse on
:math:`T_X M_r`. :class:`DLNMetric` is the instance of the DLN kernel:

.. math:: g^N_X(Z_1, Z_2) = \mathrm{tr}(Z_1^\top A_{N,X}^{-1} Z_2), \qquad
          A_{N,X}(Z) = \sum_{j=1}^N (XX^\top)^{(N-j)/N} Z (X^\top X)^{(j-1)/N},

the quotient of the Frobenius metric of the balanced manifold under the product map (Menon–Yu,
MY25; ACH18, Theorem 1 for the flow). Every method costs one SVD and O(mnr) work,
independently of the depth.

Abbreviations: ACH = Arora, Cohen, Hazan (ACH18); BRTW = Bah, Rauhut, Terstiege, Westdickenberg
(BRTW21); CMV = Cohen, Menon, Veraszto (CMV23).
"""

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.riemannian_metric import RiemannianMetric

from geodln._checks import check_matrix
from geodln.geodesics import HamiltonianExpSolver, RootLogSolver
from geodln.matrix_power import sym_power
from geodln.spectral import DLNKernel, SpectralKernel
from geodln.svd_frame import SVDFrame


class SpectralMetric(RiemannianMetric):
    r"""Riemannian metric on :math:`M_r` whose co-metric is a spectral kernel.

    This is the extension point for prototyping: any symmetric kernel
    :math:`k(\sigma_k^2, \sigma_l^2)` positive off :math:`(0, 0)` defines a metric (see
    :mod:`geodln.spectral` for the block structure at rank-r points).

    Parameters
    ----------
    space : RankMatrices
        The manifold.
    kernel : SpectralKernel
        The kernel.

    Raises
    ------
    ValueError
        With the message ``kernel must be a SpectralKernel, got …``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    .. [3] MY25: Menon, Yu, arXiv:2509.09088 (:math:`g^N` is the quotient metric of the balanced
       manifold).

    Examples
    --------
    With the Euclidean kernel (:math:`k = 1`) the metric is the Frobenius inner product:

    >>> import geodln
    >>> metric = geodln.SpectralMetric(geodln.RankMatrices(2, 3), geodln.EuclideanKernel())
    >>> X = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    >>> Z = np.arange(6.0).reshape(2, 3)
    >>> bool(np.isclose(metric.squared_norm(Z, X), np.sum(Z**2)))
    True
    """

    def __init__(self, space, kernel):
        if not isinstance(kernel, SpectralKernel):
            raise ValueError(f"kernel must be a SpectralKernel, got {type(kernel).__name__}")
        super().__init__(space)
        self.kernel = kernel
        self._instantiate_solvers()

    def _instantiate_solvers(self):
        """Install the geodesic solvers (pattern of geomstats' ``PullbackMetric``).

        ``exp``/``geodesic``: :class:`~geodln.geodesics.HamiltonianExpSolver` (co-metric
        Hamiltonian, GEO25); ``log`` (hence ``dist``, ``squared_dist``, ladder parallel
        transport): :class:`~geodln.geodesics.RootLogSolver`. Kernels without a
        differentiable co-metric raise ``NotImplementedError`` when these are used.
        """
        self.exp_solver = HamiltonianExpSolver(self._space, self.kernel)
        self.log_solver = RootLogSolver(self._space, self.exp_solver)

    # -- helpers -------------------------------------------------------------------------
    def _frame(self, base_point):
        return SVDFrame(
            check_matrix(base_point, "base_point", shape=self._space.shape),
            self._space.rank,
            check=False,
        )

    def _vec(self, vec, name):
        return check_matrix(vec, name, shape=self._space.shape)

    # -- co-metric and metric --------------------------------------------------------------
    def sharp(self, cotangent_vec, base_point):
        r"""Co-metric :math:`A_X(Z)`: a Euclidean covector to the Riemannian vector.

        Equals the defining sum :math:`A_{N,X}(Z)` for the DLN kernel with N >= 2 (which
        annihilates the normal space of :math:`M_r`); for N = 1, and for every kernel, the
        normal block :math:`U_\perp^\top Z V_\perp` is dropped, so the image lies in
        :math:`T_X M_r` (for N = 1 this is the tangent projection: the Euclidean gradient).

        Parameters
        ----------
        cotangent_vec : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]
        """
        z = self._vec(cotangent_vec, "cotangent_vec")
        return self._frame(base_point).apply(self.kernel, z)

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
            If a co-metric eigenvalue is 0 (e.g. infinite depth at a rank-deficient point).
        """
        z = self._vec(tangent_vec, "tangent_vec")
        return self._frame(base_point).apply_inverse(self.kernel, z)

    def riemannian_gradient(self, euclidean_grad, base_point):
        """Riemannian gradient :math:`A_X(\\nabla E(X))` of a function with Euclidean gradient.

        Parameters
        ----------
        euclidean_grad : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        grad : ndarray, shape=[..., m, n]
        """
        return self.sharp(euclidean_grad, base_point)

    def inner_product(self, tangent_vec_a, tangent_vec_b, base_point):
        """Inner product :math:`\\mathrm{tr}(Z_1^T A_X^{-1} Z_2)`.

        Parameters
        ----------
        tangent_vec_a, tangent_vec_b : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        inner_prod : ndarray, shape=[...]
        """
        a = self._vec(tangent_vec_a, "tangent_vec_a")
        return np.sum(a * self.flat(tangent_vec_b, base_point), axis=(-2, -1))

    def inner_coproduct(self, cotangent_vec_a, cotangent_vec_b, base_point):
        """Co-metric inner product :math:`\\mathrm{tr}(P_1^T A_X P_2)`."""
        a = self._vec(cotangent_vec_a, "cotangent_vec_a")
        return np.sum(a * self.sharp(cotangent_vec_b, base_point), axis=(-2, -1))

    def squared_norm(self, vector, base_point):
        """Squared norm :math:`g_X(Z, Z)`."""
        return self.inner_product(vector, vector, base_point)

    def norm(self, vector, base_point):
        """Norm :math:`\\sqrt{g_X(Z, Z)}`."""
        return np.sqrt(self.squared_norm(vector, base_point))

    # -- matrices in entry coordinates ----------------------------------------------------
    def cometric_matrix(self, base_point):
        """Matrix of :math:`A_X` in row-major entry coordinates, shape [..., mn, mn].

        Built from the full SVD: :math:`(U \\otimes V)\\,\\mathrm{diag}(K)\\,(U \\otimes V)^T`.

        Raises
        ------
        ValueError
            If ``base_point`` is not a finite real array of matrices [..., m, n] of the expected
            shape.
        """
        x = check_matrix(base_point, "base_point", shape=self._space.shape)
        m, n = self._space.shape
        r = self._space.rank
        u, s, vt = np.linalg.svd(x, full_matrices=True)
        sig = np.zeros(x.shape[:-2] + (max(m, n),))
        sig[..., :r] = s[..., :r]
        s2 = sig**2
        lam = np.asarray(self.kernel(s2[..., :m, None], s2[..., None, :n]), float)
        lam = np.where(
            (np.arange(m)[:, None] >= r) & (np.arange(n)[None, :] >= r), 0.0, lam
        )
        v = np.swapaxes(vt, -1, -2)
        basis = np.einsum("...ik,...jl->...ijkl", u, v).reshape(x.shape[:-2] + (m * n, m * n))
        return (basis * lam.reshape(x.shape[:-2] + (1, m * n))) @ np.swapaxes(basis, -1, -2)

    def metric_matrix(self, base_point):
        """Matrix of :math:`A_X^{-1}` in row-major entry coordinates (full-rank points only).

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        mat : ndarray, shape=[..., mn, mn]

        Raises
        ------
        ValueError
            With the message ``metric_matrix is defined in entry coordinates only for full-rank
            spaces; this space has rank … < min(m, n)``.
        """
        if not self._space.full_rank:
            raise ValueError(
                "metric_matrix is defined in entry coordinates only for full-rank spaces; "
                f"this space has rank {self._space.rank} < min(m, n)"
            )
        return np.linalg.inv(self.cometric_matrix(base_point))


class DLNMetric(SpectralMetric):
    r"""The deep-linear-network metric :math:`g^N` on :math:`M_r` (ACH18; CMV23).

    Parameters
    ----------
    space : RankMatrices
        The manifold of rank-r m×n matrices.
    depth : int or numpy.inf
        Depth N >= 1; ``inf`` (logarithmic-mean kernel, CMV) requires ``normalized=True``.
        ``depth=1`` is the Euclidean metric restricted to :math:`M_r`.
    normalized : bool
        ``False`` (default): the plain sum :math:`A_{N,X}` (ACH, BRTW, GM, MY), the exact
        Riemannian submersion of the Frobenius metric upstairs. ``True``: the CMV
        convention :math:`A_{N,X}/N` (:math:`g_{CMV} = N g_{plain}`, flow time ×N).

    Notes
    -----
    Eigenvalues (CMV23, Lemma 2.4; rank-r blocks):
    :math:`\lambda_{kl} = (\sigma_k^2 - \sigma_l^2)/(\sigma_k^{2/N} - \sigma_l^{2/N})`,
    :math:`\lambda_{kk} = N\sigma_k^{2-2/N}`, mixed blocks :math:`\sigma_k^{2-2/N}`,
    evaluated stably at repeated and tiny singular values
    (:func:`geodln.spectral.dln_kernel`).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    .. [3] MY25: Menon, Yu, arXiv:2509.09088 (:math:`g^N` is the quotient metric of the balanced
       manifold).
    .. [4] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505 (Riemannian gradient
       flow on rank-r matrices).

    Examples
    --------
    At :math:`X = \mathrm{diag}(4, 1)`, N = 2, the unit matrix :math:`E_{11}` is an eigenvector
    of :math:`A_{N,X}` with eigenvalue :math:`N\sigma_1^{2-2/N} = 8`, so its squared length is
    1/8; with CMV's normalisation :math:`A/N` it is 2/8:

    >>> import geodln
    >>> X, E11 = np.diag([4.0, 1.0]), np.array([[1.0, 0.0], [0.0, 0.0]])
    >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2)
    >>> bool(np.isclose(metric.squared_norm(E11, X), 1 / 8))
    True
    >>> cmv = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=2, normalized=True)
    >>> bool(np.isclose(cmv.squared_norm(E11, X), 2 / 8))
    True
    """

    def __init__(self, space, depth, normalized=False):
        kernel = DLNKernel(depth, normalized)
        super().__init__(space, kernel)
        self.depth = kernel.depth
        self.normalized = kernel.normalized

    def cometric_matrix(self, base_point):
        r"""Matrix of :math:`A_{N,X}` in row-major entry coordinates, differentiable in X.

        For finite N this is the Kronecker sum
        :math:`\sum_j (XX^\top)^{(N-j)/N} \otimes (X^\top X)^{(j-1)/N}` with the
        Daleckii–Krein powers of :mod:`geodln.matrix_power`, so autograd (geomstats'
        christoffels) differentiates it exactly, also at repeated singular values. Full-rank
        spaces only for finite N > 1 (the sum does not annihilate the normal block when N = 1);
        otherwise the SVD form is used.

        Raises
        ------
        ValueError
            If ``base_point`` is not a finite real array of matrices [..., m, n] of the expected
            shape.
        """
        if self.depth == np.inf or not self._space.full_rank or self.depth == 1:
            return super().cometric_matrix(base_point)
        x = base_point
        m, n = self._space.shape
        if not hasattr(x, "_value"):  # plain array: validate; autograd boxes pass through
            x = check_matrix(x, "base_point", shape=self._space.shape)
        N = self.depth
        xt = anp.swapaxes(x, -1, -2)
        left, right = anp.matmul(x, xt), anp.matmul(xt, x)
        total = 0.0
        for j in range(1, N + 1):
            # for m != n the larger Gram matrix is singular: its tiny round-off eigenvalues
            # must not be raised to a power (reference §2 trap), so use
            # (XX^T)^a = X (X^TX)^(a-1) X^T (a > 0) through the smaller, invertible Gram matrix
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
        """Matrix of :math:`A_{N,X}^{-1}` in entry coordinates (full rank), differentiable."""
        if not self._space.full_rank:
            return super().metric_matrix(base_point)
        return anp.linalg.inv(self.cometric_matrix(base_point))

    def __repr__(self):
        return (
            f"DLNMetric(RankMatrices({self._space.m}, {self._space.n}, {self._space.rank}), "
            f"depth={self.depth}, normalized={self.normalized})"
        )
