r"""The deep-linear-network co-metric of small square matrices in one compiled loop.

The papers' ensembles integrate thousands of 2×2 and 3×3 flows (Cohen–Menon–Veraszto, CMV23,
Fig. 4 and Fig. 8); there one right-hand side :math:`-A_{N,X}(\nabla E)` costs far less
arithmetic than the dozens of numpy calls of the general path
(:meth:`geodln.svd_frame.SVDFrame.apply`). :func:`dln_cometric_small` computes, for a batch of
full-rank square points, the co-metric of the DLN kernel (Arora–Cohen–Hazan, ACH18, Theorem 1;
CMV's normalised :math:`A_{N,X}/N` and its infinite-depth limit, CMV23 Lemma 2.4)

.. math:: A_X(Z) = U\,(K \circ U^\top Z V)\,V^\top,\qquad
   K_{kl} = \frac{c}{N}\,\frac{\sigma_k^2 - \sigma_l^2}{\sigma_k^{2/N} - \sigma_l^{2/N}}

(c = N for the plain sum, 1 for CMV's normalisation; the logarithmic mean at N = ∞),

member by member in one loop compiled by numba (the optional extra ``geodln[fast]``): the
closed-form 2×2 SVD of :mod:`geodln.small_svd` (same rotations, same power-of-two scaling) or
LAPACK's SVD for 3×3 and larger, the eigenvalues by the same arithmetic as
:meth:`geodln.spectral.DLNKernel.eigenvalues` (``log1p``/``expm1`` per pair), then the frame
products. Members it cannot do exactly (non-finite entries, a singular value below
:data:`geodln.small_svd.FALLBACK_RATIO` times the largest, an over- or underflowing
intermediate) are flagged and left to the general path, which rescales.

Without numba, or with the environment variable ``GEODLN_NO_JIT=1``, :data:`AVAILABLE` is
False and :func:`dln_cometric_small` returns ``None``: every caller then takes the numpy path
(which stays the tested reference).
"""

import math
import os

import numpy as np

from geodln.small_svd import FALLBACK_RATIO
from geodln.spectral import DLNKernel

try:  # the optional extra "fast"
    if os.environ.get("GEODLN_NO_JIT", "") not in ("", "0"):
        raise ImportError("disabled by GEODLN_NO_JIT")
    from numba import njit
except ImportError:  # pragma: no cover - depends on the environment
    njit = None

__all__ = ["AVAILABLE", "MAX_SIZE", "dln_cometric_small", "dln_kernel_parameters"]

#: Whether the compiled loop is available (numba installed and not disabled).
AVAILABLE = njit is not None
#: Largest n of the n×n points handled by the compiled loop.
MAX_SIZE = 8
#: Ties: the pair formula uses at most this log-gap (as the vectorised eigenvalues do).
_W_TIE = 1e-300
#: Smallest accepted non-zero magnitude of a result (below: the general, rescaling path).
_TINY = 1e-290


def dln_kernel_parameters(kernel):
    r"""Return ``(p, c)`` of a DLN kernel: :math:`K_{kl} = c\,p\,\sigma_{hi}^{2(1-p)}/\varphi_p`.

    ``p = 1/N`` (0 at infinite depth) and ``c = 1`` for CMV's normalised :math:`A_{N,X}/N`
    (and at infinite depth), ``c = N`` for the plain sum.

    Parameters
    ----------
    kernel : geodln.spectral.DLNKernel

    Returns
    -------
    p, c : float

    Raises
    ------
    ValueError
        If ``kernel`` is not a :class:`geodln.spectral.DLNKernel`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> from geodln.spectral import DLNKernel
    >>> dln_kernel_parameters(DLNKernel(4)), dln_kernel_parameters(DLNKernel(4, True))
    ((0.25, 4.0), (0.25, 1.0))
    """
    if not isinstance(kernel, DLNKernel):
        raise ValueError(f"kernel must be a geodln.spectral.DLNKernel, got {kernel!r}")
    if kernel.depth == np.inf:
        return 0.0, 1.0
    return 1.0 / kernel.depth, (1.0 if kernel.normalized else float(kernel.depth))


def dln_cometric_small(kernel, x, z):
    r"""Co-metric :math:`A_X(Z)` of a DLN kernel at full-rank n×n points, compiled (n ≤ 8).

    Parameters
    ----------
    kernel : SpectralKernel
        Only :class:`geodln.spectral.DLNKernel` (any depth, plain or normalised) is compiled.
    x, z : ndarray, shape=[B, n, n]
        Points and covectors (finite members; a non-finite member is flagged).

    Returns
    -------
    out : tuple ``(tangent_vec [B, n, n], ok [B] bool)`` or None
        ``tangent_vec[k]`` is :math:`A_{X_k}(Z_k)` where ``ok[k]``; members with ``ok`` False
        (non-finite, :math:`\sigma_n < 10^{-280}\sigma_1`, an over- or underflow) must be
        computed by the general path. ``None`` when the loop is unavailable (no numba, or
        ``GEODLN_NO_JIT`` set), the kernel is not a DLN kernel or the shape is not square
        n ≤ :data:`MAX_SIZE`.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import DLNKernel
    >>> res = dln_cometric_small(DLNKernel(2), np.diag([2.0, 1.0])[None], np.ones((1, 2, 2)))
    >>> res is None or bool(np.allclose(res[0][0], [[4.0, 3.0], [3.0, 2.0]]))
    True
    """
    if not AVAILABLE or not isinstance(kernel, DLNKernel):
        return None
    if x.ndim != 3 or x.shape[-1] != x.shape[-2] or x.shape[-1] > MAX_SIZE or x.shape != z.shape:
        return None
    p, c = dln_kernel_parameters(kernel)
    x = np.ascontiguousarray(x, dtype=float)
    z = np.ascontiguousarray(z, dtype=float)
    out = np.empty(x.shape)
    ok = np.empty(x.shape[0], dtype=np.bool_)
    _LOOP(x, z, p, c, 2.0 * (1.0 - p), out, ok)
    return out, ok


def _svd_2x2(x, u, s, vt):
    """Closed-form SVD of one 2×2 matrix into ``u, s, vt``; False where LAPACK must decide.

    The arithmetic of :func:`geodln.small_svd.svd_2x2` (power-of-two scaling, the symmetrising
    rotation, one Jacobi rotation), written out for the compiled loop.
    """
    a, b, c, d = x[0, 0], x[0, 1], x[1, 0], x[1, 1]
    top = max(max(abs(a), abs(b)), max(abs(c), abs(d)))
    if not (top > 0.0 and top < math.inf):
        return False
    e = -math.frexp(top)[1]
    a, b, c, d = math.ldexp(a, e), math.ldexp(b, e), math.ldexp(c, e), math.ldexp(d, e)
    p, q = a + d, c - b
    r = math.hypot(p, q)
    if r == 0.0:
        c1, s1 = 1.0, 0.0
    else:
        c1, s1 = p / r, q / r
    s11 = c1 * a + s1 * c
    s12 = c1 * b + s1 * d
    s22 = c1 * d - s1 * b
    gap = s22 - s11
    den = abs(gap) + math.hypot(gap, 2.0 * s12)
    t = math.copysign(1.0, gap) * (2.0 * s12) / (den if den != 0.0 else 1.0)
    cj = 1.0 / math.hypot(1.0, t)
    sj = t * cj
    e1, e2 = s11 - t * s12, s22 + t * s12
    g1, g2 = math.copysign(1.0, e1), math.copysign(1.0, e2)
    u00, u01 = (c1 * cj + s1 * sj) * g1, (c1 * sj - s1 * cj) * g2
    u10, u11 = (s1 * cj - c1 * sj) * g1, (s1 * sj + c1 * cj) * g2
    v00, v01, v10, v11 = cj, -sj, sj, cj
    a1, a2 = abs(e1), abs(e2)
    if a2 > a1:
        u00, u01, u10, u11 = u01, u00, u11, u10
        v00, v01, v10, v11 = v10, v11, v00, v01
        a1, a2 = a2, a1
    if 0.0 < a2 < FALLBACK_RATIO * a1:
        return False
    u[0, 0], u[0, 1], u[1, 0], u[1, 1] = u00, u01, u10, u11
    vt[0, 0], vt[0, 1], vt[1, 0], vt[1, 1] = v00, v01, v10, v11
    s[0], s[1] = math.ldexp(a1, -e), math.ldexp(a2, -e)
    return s[0] < math.inf


def _eigenvalues(s, p, c, two_q, k):
    """Co-metric eigenvalues ``k [n, n]`` of the DLN kernel at ``s`` (as ``_eigenvalues_scalar``).

    Returns False if a value is not finite (the general path rescales).
    """
    n = s.shape[0]
    cp = c * p if p != 0.0 else 1.0
    for i in range(n):
        w = s[i] ** two_q
        k[i, i] = c * w
        if not k[i, i] < math.inf:
            return False
        for j in range(i + 1, n):
            if s[i] >= s[j]:
                hi, lo = s[i], s[j]
            else:
                hi, lo = s[j], s[i]
            wh = hi ** two_q
            if lo > 0.0:
                y = min(-2.0 * math.log1p((hi - lo) / lo), -_W_TIE)
                ratio = math.expm1(y) / (math.expm1(p * y) if p != 0.0 else y)
            else:
                ratio = 1.0 if p != 0.0 else 0.0
            k[i, j] = k[j, i] = cp * wh * ratio
            if not k[i, j] < math.inf:
                return False
    return True


def _loop(x, z, p, c, two_q, out, ok):
    """Per-member co-metric of the batch (compiled): ``out``, ``ok`` written in place."""
    nb, n = x.shape[0], x.shape[1]
    u = np.empty((n, n))
    vt = np.empty((n, n))
    s = np.empty(n)
    k = np.empty((n, n))
    core = np.empty((n, n))
    tmp = np.empty((n, n))
    for b in range(nb):
        ok[b] = False
        if n == 2:
            if not _SVD2(x[b], u, s, vt):
                continue
        else:
            finite = True
            for i in range(n):
                for j in range(n):
                    if not abs(x[b, i, j]) < math.inf:
                        finite = False
            if not finite:
                continue
            uu, ss, vv = np.linalg.svd(x[b])
            if not (ss[0] < math.inf and (ss[n - 1] == 0.0
                                          or ss[n - 1] >= FALLBACK_RATIO * ss[0])):
                continue
            u[:, :] = uu
            s[:] = ss
            vt[:, :] = vv
        if not _EIG(s, p, c, two_q, k):
            continue
        # core = K o (U^T Z V); out = U core V^T
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += z[b, i, m] * vt[j, m]
                tmp[i, j] = acc  # (Z V)_ij
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += u[m, i] * tmp[m, j]
                core[i, j] = k[i, j] * acc
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += u[i, m] * core[m, j]
                tmp[i, j] = acc  # U core
        top = 0.0
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += tmp[i, m] * vt[m, j]
                out[b, i, j] = acc
                top = max(top, abs(acc))
        ok[b] = top < math.inf and (top > _TINY or top == 0.0)


if AVAILABLE:  # compiled lazily on first call, cached on disk by numba
    _SVD2 = njit(cache=True, nogil=True)(_svd_2x2)
    _EIG = njit(cache=True, nogil=True)(_eigenvalues)
    _LOOP = njit(cache=True, nogil=True)(_loop)
