r"""Itô drift and noise of the Riemannian Langevin equation in the entries of X.

Square, full-rank d×d matrices with the DLN metric :math:`g^N` (plain sum :math:`A_{N,X}` by
default, ACH18, Theorem 1; ``normalized=True`` is the CMV convention
:math:`A/N`).

**Itô form in entry coordinates (derived here, tested against finite differences).** In the
entries of X the cometric is :math:`A_{N,X}` and :math:`\Delta f = \mathrm{tr}(A\,\nabla^2 f)
+ \langle b, \nabla f\rangle` with :math:`b = \Delta_{g^N}(X) = \mathrm{div}A -
\tfrac12 A\nabla\log\det A`. Differentiating the SVD (:math:`u_j^\top du_k =
(\sigma_k a_{jk} + \sigma_j a_{kj})/(\sigma_k^2-\sigma_j^2)`, :math:`a = U^\top dX V`) gives, for a
spectral kernel :math:`K_{kl} = k(\sigma_k^2, \sigma_l^2)`,
:math:`b = U\,\mathrm{diag}(\delta_k)V^\top`, :math:`\delta_k = \partial_{\sigma_k}K_{kk}
+ 2\sigma_k\sum_{l\ne k}(K_{kk}-K_{kl})/(\sigma_k^2-\sigma_l^2) - \tfrac12 K_{kk}\partial_{\sigma_k}
\log\det A`, and for the DLN kernel everything but one term cancels:

.. math:: \Delta_{g^N} X = (N-1)\,X (X^\top X)^{-1/N} = (N-1)\,U\,\Sigma^{1-2/N} V^\top

(divided by N in the CMV normalisation; :func:`coordinate_laplacian`). Its singular values follow
the autonomous SDE of GM24 (:math:`d\sigma_k = \tfrac1\beta[(N-1)\sigma_k^{1-2/N} +
2\sigma_k\sum_{l\ne k}(\sigma_k^{2/N}-\sigma_l^{2/N})^{-1}]dt + \sqrt{2N/\beta}\,
\sigma_k^{1-1/N}dB_k` for BM). ``scheme="entries"`` of
:func:`geodln.langevin.riemannian_langevin` is Euler–Maruyama in these coordinates,
:math:`X_{k+1} = X_k + h[-A_{N,X}(\nabla E) + \tfrac{N-1}{\beta}X(X^\top X)^{-1/N}] +
\sqrt{2h/\beta}\,U(\sqrt K\circ G)V^\top` (G standard Gaussian; :math:`U(\sqrt K\circ G)V^\top`
has the law of :math:`A^{1/2}\xi`, :func:`cometric_sqrt_noise`). Its diffusion coefficient is
only Hölder (:math:`\sigma^{1-1/N}`) at singular X, and it is measurably biased near them at
practical steps (the tests show it); it is kept for comparison with the root chart
(:mod:`geodln.langevin.root_chart`).

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import check_bool, check_depth, check_square
from geodln.spectral import DLNKernel
from geodln.svd_frame import SVDFrame

__all__ = ["coordinate_laplacian", "cometric_sqrt_noise"]


def _ito_diag(s, depth, normalized):
    """Diagonal of :math:`U^\\top \\Delta_{g^N}(X) V`: :math:`(N-1)\\sigma^{1-2/N}` (/N)."""
    if depth == 1:
        return np.zeros_like(s)
    expo = 1.0 - 2.0 / depth
    with np.errstate(divide="ignore"):
        val = np.where(s > 0, np.abs(s) ** expo, 1.0 if expo == 0 else 0.0)
    val = (depth - 1) * val
    return val / depth if normalized else val


def coordinate_laplacian(base_point, depth, normalized=False):
    r"""Laplace–Beltrami operator of :math:`g^N` applied to the entry functions of X.

    :math:`\Delta_{g^N} X = (N-1)\,X(X^\top X)^{-1/N}` (square, full rank; derived in the module
    docstring), divided by N when ``normalized`` (:math:`g_{CMV} = N g`). This is the Itô drift
    of Brownian motion with generator :math:`\Delta_{g^N}`. Finite at repeated and at zero
    singular values (N >= 2).

    Parameters
    ----------
    base_point : array-like, shape=[..., d, d]
    depth : int
        N >= 1.
    normalized : bool
        CMV convention :math:`A/N`.

    Returns
    -------
    lap : ndarray, shape=[..., d, d]

    Raises
    ------
    ValueError
        If ``base_point`` is not a finite square matrix [..., d, d] or ``depth`` is not a finite
        integer >= 1.

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}`).

    Examples
    --------
    :math:`(N-1)X(X^\top X)^{-1/N}` at N = 2, :math:`X = \mathrm{diag}(4, 1)`:
    :math:`\mathrm{diag}(4/\sqrt{16}, 1/\sqrt 1) = I`.

    >>> from geodln.langevin import coordinate_laplacian
    >>> coordinate_laplacian(np.diag([4.0, 1.0]), 2)
    array([[1., 0.],
           [0., 1.]])
    """
    x = check_square(base_point, "base_point")
    depth = check_depth(depth, allow_inf=False)
    normalized = check_bool(normalized, "normalized")
    frame = SVDFrame(x, check=False)
    return (frame.u * _ito_diag(frame.s, depth, normalized)[..., None, :]) @ frame.vt


def cometric_sqrt_noise(frame, kernel, gaussian):
    r"""Return :math:`U(\sqrt{K}\circ G)V^\top`, a sample of :math:`A_X^{1/2}\xi`.

    Parameters
    ----------
    frame : SVDFrame
        Frame of the (square, full-rank) base points ``[..., d, d]``.
    kernel : SpectralKernel
        The co-metric kernel.
    gaussian : ndarray, shape=[..., d, d]
        Standard Gaussian matrix G.

    Returns
    -------
    noise : ndarray, shape=[..., d, d]
        Gaussian with covariance :math:`A_X` (as a linear map on matrices) given X.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (:math:`A_{N,X}` is
       diagonal in the singular basis, so its square root is too).

    Examples
    --------
    N = 2 at :math:`X = \mathrm{diag}(2, 1)`: the kernel is :math:`\sigma_k + \sigma_l`
    (:math:`K = [[4, 3], [3, 2]]`), so a matrix of ones maps to :math:`\sqrt K`:

    >>> from geodln.langevin.entries import cometric_sqrt_noise
    >>> from geodln.spectral import DLNKernel
    >>> from geodln.svd_frame import SVDFrame
    >>> out = cometric_sqrt_noise(SVDFrame(np.diag([2.0, 1.0])), DLNKernel(2), np.ones((2, 2)))
    >>> bool(np.allclose(out, np.sqrt([[4.0, 3.0], [3.0, 2.0]])))
    True
    """
    K, _ = frame.eigenvalues(kernel)
    return frame.u @ (np.sqrt(np.maximum(K, 0.0)) * gaussian) @ frame.vt


def entries_step(grad_e, grad_s, depth, beta, h, normalized):
    """Return the Euler–Maruyama step ``step(x, rng)`` in the entries of X (module docstring).

    Parameters
    ----------
    grad_e, grad_s : callable or None
        Euclidean gradients of the energy and of the entropy (batched).
    depth : int
        N.
    beta, h : float
        Inverse temperature and time step.
    normalized : bool
        CMV convention A/N.

    Returns
    -------
    step : callable
        ``step(x [B, d, d], rng) -> x``.

    Examples
    --------
    >>> import numpy as np
    >>> step = entries_step(None, None, 2, 1.0, 1e-3, False)
    >>> step(np.eye(2)[None], np.random.default_rng(0)).shape
    (1, 2, 2)
    """
    kernel = DLNKernel(depth, normalized)
    noise_scale = np.sqrt(2.0 * h / beta)

    def step(x, rng):
        frame = SVDFrame(x, check=False)
        K, ell = frame.eigenvalues(kernel)
        drift = (frame.u * (_ito_diag(frame.s, depth, normalized) / beta)[..., None, :]) @ frame.vt
        if grad_e is not None:
            drift = drift - frame.apply(kernel, grad_e(x), eigenvalues=(K, ell))
        if grad_s is not None:
            drift = drift + grad_s(x) / beta
        gauss = rng.standard_normal(x.shape)
        return x + h * drift + noise_scale * (frame.u @ (np.sqrt(K) * gauss) @ frame.vt)

    return step
