r"""Root chart :math:`Y = U\Sigma^{1/N}V^\top` of :math:`(M_d, g^N)` and its Langevin step.

The default scheme (``scheme="root"``) of :func:`geodln.langevin.riemannian_langevin`. In
:math:`Y = U\Sigma^{1/N}V^\top` (singular values :math:`\lambda = \sigma^{1/N}`, those of a
balanced factor; :func:`root_coordinates`) the volume is constant,
:math:`d\mathrm{vol}_{g^N} = N^{d/2}dY`, so :math:`\Delta_{g^N} = \partial_i B^{ij}\partial_j`
with the pulled-back co-metric B, which acts on the symmetric/skew parts of each pair
:math:`(k, l)` of :math:`U^\top W V` by :math:`P = \delta^+/\delta^-`, :math:`Q = \delta^-/\delta^+`
(:math:`\delta^\mp = (\lambda_k^N\mp\lambda_l^N)/(\lambda_k\mp\lambda_l)`; :math:`1/N` on the
diagonal): smooth, bounded and non-degenerate also at singular and at repeated points
(:func:`root_chart_coefficients`, derivation in its docstring). Euler–Maruyama in Y is

.. math:: Y_{k+1} = Y_k + h\big[-D\psi(A_{N,X}\nabla E) + \tfrac1\beta\,\mathrm{div}B\big]
          + \sqrt{2h/\beta}\,U(\sqrt P\circ\mathrm{sym}\,G + \sqrt Q\circ\mathrm{skew}\,G)V^\top,

with :math:`X = Y(Y^\top Y)^{(N-1)/2}`; the pushed gradient is
:math:`U(\delta^+\circ\mathrm{sym}M + \delta^-\circ\mathrm{skew}M)V^\top`,
:math:`M = U^\top\nabla E\,V`. Plain-sum normalisation of :math:`A_{N,X}` (ACH18,
Theorem 1); the CMV process is the plain one at time t/N.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import check_depth, check_finite, check_square
from geodln.spectral import dln_kernel

__all__ = ["svd", "root_coordinates", "root_chart_coefficients"]


def svd(x):
    r"""Full SVD ``(U, s, Vᵀ)`` of square matrices [..., d, d]; closed form (vectorised) for d = 2.

    For 2×2 matrices :math:`M = R(\varphi)\,\mathrm{diag}(s_1, s_2)\,R(\theta)` with
    :math:`E, F, G, H = (a+d)/2, (a-d)/2, (c+b)/2, (c-b)/2`, :math:`s_{1,2} = \sqrt{E^2+H^2}
    \pm\sqrt{F^2+G^2}`, :math:`\theta, \varphi = (\arctan_2(H, E) \mp \arctan_2(G, F))/2`
    (the sign of :math:`s_2` is moved into :math:`V`); about 6x faster than batched LAPACK.

    Parameters
    ----------
    x : ndarray, shape=[..., d, d]
        Square matrices.

    Returns
    -------
    u, s, vt : ndarray, shapes [..., 2, 2], [..., 2], [..., 2, 2]
        As :func:`numpy.linalg.svd` (``s`` non-increasing and non-negative).

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array of square matrices ``[..., d, d]``.

    References
    ----------
    .. [1] BLI96: Blinn, "Consider the lowly 2×2 matrix", IEEE Computer Graphics and
       Applications 16(2), 1996 (closed-form 2×2 SVD).

    Examples
    --------
    >>> from geodln.langevin.root_chart import svd
    >>> x = np.array([[2.0, 1.0], [0.5, -1.0]])
    >>> u, s, vt = svd(x)
    >>> bool(np.allclose((u * s) @ vt, x)), bool(np.allclose(s, np.linalg.svd(x)[1]))
    (True, True)
    """
    return _svd(check_square(x, "x"))


def _svd(x):
    """:func:`svd` without validation (the integrators' inner loop)."""
    if x.shape[-1] != 2 or x.shape[-2] != 2:
        return np.linalg.svd(x)
    a, b, c, d = x[..., 0, 0], x[..., 0, 1], x[..., 1, 0], x[..., 1, 1]
    e, f, g, hh = (a + d) / 2, (a - d) / 2, (c + b) / 2, (c - b) / 2
    q, r = np.hypot(e, hh), np.hypot(f, g)
    a1, a2 = np.arctan2(g, f), np.arctan2(hh, e)
    th, ph = (a2 - a1) / 2, (a2 + a1) / 2
    cp, sp, ct, st = np.cos(ph), np.sin(ph), np.cos(th), np.sin(th)
    u = np.stack([np.stack([cp, -sp], -1), np.stack([sp, cp], -1)], -2)
    sign = np.where(q - r < 0, -1.0, 1.0)
    vt = np.stack([np.stack([ct, -st], -1), np.stack([sign * st, sign * ct], -1)], -2)
    return u, np.stack([q + r, np.abs(q - r)], -1), vt


def root_coordinates(x, depth):
    r"""Chart :math:`Y = X (X^\top X)^{(1-N)/(2N)} = U\Sigma^{1/N}V^\top` of square matrices.

    The inverse is :math:`X = Y (Y^\top Y)^{(N-1)/2}`; a homeomorphism of the square matrices
    preserving the sign of the determinant (the singular values of Y are those of a balanced
    factor). In this chart :math:`d\mathrm{vol}_{g^N} = N^{d/2}\,dY` (CMV volume form after
    :math:`\sigma = \lambda^N`).

    Parameters
    ----------
    x : array-like, shape=[..., d, d]
    depth : int

    Returns
    -------
    y : ndarray, shape=[..., d, d]

    Raises
    ------
    ValueError
        If ``x`` is not a finite square matrix [..., d, d] or ``depth`` is not a finite integer
        >= 1.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1
       (:math:`U\Sigma^{1/N}V^\top`, the end factors of the balanced lift).

    Examples
    --------
    :math:`Y = U\Sigma^{1/N}V^\top`: at N = 3,
    :math:`\mathrm{diag}(8, 1) \mapsto \mathrm{diag}(2, 1)`.

    >>> from geodln.langevin.root_chart import root_coordinates
    >>> bool(np.allclose(root_coordinates(np.diag([8.0, 1.0]), 3), np.diag([2.0, 1.0])))
    True
    """
    x = check_square(x, "x")
    depth = check_depth(depth, allow_inf=False)
    u, s, vt = _svd(x)
    return (u * (s ** (1.0 / depth))[..., None, :]) @ vt


def from_root(depth):
    """Return the map ``Y -> X = U Lambda^N V^T`` from the root chart back to X.

    Parameters
    ----------
    depth : int
        N.

    Returns
    -------
    to_x : callable
        ``to_x(y [..., d, d]) -> x``.

    Examples
    --------
    >>> import numpy as np
    >>> from_root(3)(2.0 * np.eye(2))
    array([[8., 0.],
           [0., 8.]])
    """

    def to_x(y):
        u, lam, vt = _svd(y)
        return (u * (lam**depth)[..., None, :]) @ vt

    return to_x


def root_chart_coefficients(lam, depth):
    r"""Pair coefficients of :math:`g^N` in the root chart, in the singular basis of Y.

    With :math:`\delta^\mp_{kl} = (\lambda_k^N \mp \lambda_l^N)/(\lambda_k \mp \lambda_l)`
    (so :math:`K_{kl} = \delta^-_{kl}\delta^+_{kl}` is the DLN kernel at
    :math:`\sigma = \lambda^N`), the pulled-back co-metric B acts on the symmetric part of
    :math:`U^\top W V` by :math:`P = \delta^+/\delta^-` and on its skew part by
    :math:`Q = \delta^-/\delta^+` (:math:`P = 1/N` on the diagonal, :math:`\det B = N^{-d}`),
    and the Itô drift :math:`\Delta_{g^N} Y = \mathrm{div}\,B = U\,\mathrm{diag}(b)V^\top`,
    :math:`b_k = \sum_{l\ne k}[(1/N - P_{kl})/(\lambda_k-\lambda_l) + (1/N -
    Q_{kl})/(\lambda_k+\lambda_l)]` (derived like
    :func:`geodln.langevin.coordinate_laplacian`; the first quotient tends to 0 at a collision
    since :math:`P = (1 + O((\lambda_k-\lambda_l)^2))/N`).

    Parameters
    ----------
    lam : ndarray, shape=[..., d]
        Singular values of Y (>= 0).
    depth : int

    Returns
    -------
    dplus, dminus, P, Q : ndarray, shape=[..., d, d]
    b : ndarray, shape=[..., d]

    Raises
    ------
    ValueError
        If ``lam`` is not a finite non-negative array ``[..., d]`` or ``depth`` is not an
        integer >= 1.

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    N = 2, :math:`\lambda = (2, 1)`: :math:`\delta^-_{12} = (4 - 1)/(2 - 1) = 3`,
    :math:`\delta^+_{12} = (4 + 1)/(2 + 1) = 5/3`, and :math:`P = 1/N` on the diagonal.

    >>> from geodln.langevin.root_chart import root_chart_coefficients
    >>> dplus, dminus, P, Q, b = root_chart_coefficients(np.array([2.0, 1.0]), 2)
    >>> float(dminus[0, 1]), round(float(dplus[0, 1]), 12), float(P[0, 0])
    (3.0, 1.666666666667, 0.5)
    """
    lam = check_finite(lam, "lam")
    if lam.ndim < 1 or lam.shape[-1] < 1 or np.any(lam < 0):
        raise ValueError(f"lam must be non-negative numbers [..., d], got shape {lam.shape}")
    return _coefficients(lam, check_depth(depth, allow_inf=False))


def _coefficients(lam, depth):
    """:func:`root_chart_coefficients` without validation (the integrators' inner loop)."""
    N = depth
    lk, ll = lam[..., :, None], lam[..., None, :]
    fk, fl = lk**N, ll**N
    dminus = dln_kernel(fk, fl, N) if N > 1 else np.ones(np.broadcast(lk, ll).shape)
    tot = lk + ll
    with np.errstate(divide="ignore", invalid="ignore"):
        dplus = np.where(tot > 0, (fk + fl) / np.where(tot > 0, tot, 1.0), 0.0 if N > 1 else 1.0)
        ok = (dminus > 0) & (dplus > 0)
        P = np.where(ok, dplus / np.where(ok, dminus, 1.0), 1.0 / N)
        Q = np.where(ok, dminus / np.where(ok, dplus, 1.0), float(N))
        gap = lk - ll
        hi = np.maximum(lk, ll)
        near = np.abs(gap) <= 1e-6 * np.where(hi > 0, hi, 1.0)
        first = np.where(near, 0.0, (1.0 / N - P) / np.where(near, 1.0, gap))
        second = np.where(tot > 0, (1.0 / N - Q) / np.where(tot > 0, tot, 1.0), 0.0)
    d = lam.shape[-1]
    eye = np.eye(d, dtype=bool)
    P = np.where(eye, 1.0 / N, P)
    Q = np.where(eye, 1.0 / N, Q)
    b = np.where(eye, 0.0, first + second).sum(axis=-1)
    return dplus, dminus, P, Q, b


def root_step(grad_e, grad_s, depth, beta, h):
    """Return the Euler–Maruyama step ``step(y, rng)`` in the root chart (module docstring).

    Parameters
    ----------
    grad_e, grad_s : callable or None
        Euclidean gradients of the energy and of the entropy (batched, at X).
    depth : int
        N.
    beta, h : float
        Inverse temperature and time step.

    Returns
    -------
    step : callable
        ``step(y [B, d, d], rng) -> y``.

    Examples
    --------
    >>> import numpy as np
    >>> step = root_step(None, None, 2, 1.0, 1e-3)
    >>> step(np.eye(2)[None], np.random.default_rng(0)).shape
    (1, 2, 2)
    """
    N = depth
    noise_scale = np.sqrt(2.0 * h / beta)

    def step(y, rng):
        u, lam, vt = _svd(y)
        v = np.swapaxes(vt, -1, -2)
        dplus, dminus, P, Q, b = _coefficients(lam, N)
        coef = b / beta  # Ito drift, diagonal in the singular basis
        drift_core = np.zeros(y.shape)
        x = (u * (lam**N)[..., None, :]) @ vt
        if not np.all(np.isfinite(x)):  # X = phi(Y) overflowed: the chain left the range
            return np.full(y.shape, np.nan)
        if grad_e is not None:
            m = np.swapaxes(u, -1, -2) @ grad_e(x) @ v
            mt = np.swapaxes(m, -1, -2)
            # -B grad_Y(E o phi) = -Dpsi(A grad E): delta^+ on sym, delta^- on skew parts
            drift_core = -(dplus * 0.5 * (m + mt) + dminus * 0.5 * (m - mt))
        if grad_s is not None:
            s_grad = np.swapaxes(u, -1, -2) @ grad_s(x) @ v
            diag = np.diagonal(s_grad, axis1=-2, axis2=-1)
            fprime = N * lam ** (N - 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = diag / np.where(fprime > 0, fprime, 1.0)
                coef = coef + np.where(fprime > 0, ratio, 0.0) / beta
        g = rng.standard_normal(y.shape)
        gt = np.swapaxes(g, -1, -2)
        noise = np.sqrt(P) * 0.5 * (g + gt) + np.sqrt(Q) * 0.5 * (g - gt)
        core = h * drift_core + noise_scale * noise
        idx = np.arange(lam.shape[-1])
        core[..., idx, idx] += h * coef
        return y + u @ core @ vt

    return step
