r"""Closed-form singular value decomposition of 2×2 matrices (the ensembles' hot path).

The papers' ensembles integrate thousands of 2×2 problems; LAPACK's SVD costs a few µs of
call overhead per matrix, more than the arithmetic. :func:`svd_2x2` computes the SVD of a batch
of 2×2 matrices with a handful of vectorised operations (or Python floats for one matrix):

1. a rotation :math:`R_1` (angle :math:`\arctan\frac{x_{21} - x_{12}}{x_{11} + x_{22}}`) makes
   :math:`S = R_1^\top X` symmetric;
2. one Jacobi rotation :math:`J` diagonalises S (Golub–Van Loan, GVL13, Algorithm 8.5.1, the
   symmetric Schur decomposition with the smaller root of the rotation's quadratic):
   :math:`S = J\,\mathrm{diag}(e_1, e_2)\,J^\top`;
3. :math:`X = (R_1 J)\,\mathrm{diag}(e)\,J^\top`; signs move into U, and the values are sorted.

Every matrix is first scaled by a power of two (exact) so that its largest entry lies in
[1/2, 1): no intermediate over- or underflows for entries anywhere in the float range. Diagonal
and anti-diagonal matrices give exact frames (rotations by 0 or ±π/2 are built from exact
ratios, never from trigonometric functions). Members whose smaller singular value would fall
below :data:`FALLBACK_RATIO` times the larger (relative precision lost in subnormal
arithmetic) or that hold non-finite entries are handed to ``numpy.linalg.svd``. The accuracy is
that of a backward-stable SVD: singular values to :math:`O(\epsilon\,\sigma_1)`, vectors to
:math:`O(\epsilon/\mathrm{gap})`.
"""

import math

import numpy as np

__all__ = ["svd_2x2", "apply_2x2", "FALLBACK_RATIO"]

#: Members with ``0 < sigma_2 < FALLBACK_RATIO * sigma_1`` use LAPACK (subnormal range).
FALLBACK_RATIO = 1e-280


def _rotations(a, b, c, d, hypot, copysign):
    """Return ``(c1, s1, cj, sj, e1, e2)``: :math:`R_1`, :math:`J` and the signed values.

    Plain arithmetic only, so it runs on Python floats and on arrays alike (``hypot`` and
    ``copysign`` from :mod:`math` or numpy).
    """
    p, q = a + d, c - b
    r = hypot(p, q)
    zero = r == 0
    c1, s1 = (p + zero) / (r + zero), q / (r + zero)
    s11 = c1 * a + s1 * c
    s12 = c1 * b + s1 * d
    s22 = c1 * d - s1 * b
    gap = s22 - s11
    den = abs(gap) + hypot(gap, 2.0 * s12)
    t = copysign(1.0, gap) * (2.0 * s12) / (den + (den == 0))
    cj = 1.0 / hypot(1.0, t)
    sj = t * cj
    return c1, s1, cj, sj, s11 - t * s12, s22 + t * s12


def _single_floats(vals):
    """SVD of one matrix from its 4 entries as Python lists ``(u, s, vt)``; None for LAPACK."""
    top = max(abs(v) for v in vals)
    if not math.isfinite(top) or top == 0.0:
        return None
    e = -math.frexp(top)[1]
    a, b, c, d = (math.ldexp(v, e) for v in vals)
    c1, s1, cj, sj, e1, e2 = _rotations(a, b, c, d, math.hypot, math.copysign)
    g1, g2 = math.copysign(1.0, e1), math.copysign(1.0, e2)
    u = [[(c1 * cj + s1 * sj) * g1, (c1 * sj - s1 * cj) * g2],
         [(s1 * cj - c1 * sj) * g1, (s1 * sj + c1 * cj) * g2]]
    vt = [[cj, -sj], [sj, cj]]
    sv = [abs(e1), abs(e2)]
    if sv[1] > sv[0]:
        u = [row[::-1] for row in u]
        vt, sv = vt[::-1], sv[::-1]
    if 0.0 < sv[1] < FALLBACK_RATIO * sv[0]:
        return None
    try:
        s = [math.ldexp(sv[0], -e), math.ldexp(sv[1], -e)]
    except OverflowError:  # a singular value beyond the float range: LAPACK's answer (inf)
        return None
    return u, s, vt


def _single(x):
    """Python-float path for one matrix; ``None`` where LAPACK must decide."""
    out = _single_floats(x.ravel().tolist())
    return None if out is None else tuple(np.array(a) for a in out)


def apply_2x2(kernel, x, z):
    r"""Co-metric :math:`A_X(Z) = U (K\circ U^\top Z V) V^\top` of one full-rank 2×2 point.

    The lean path of a single small run: the closed-form SVD and the 2×2 products in Python
    floats, the kernel's eigenvalues from :meth:`geodln.spectral.SpectralKernel.eigenvalues`.
    Returns ``None`` (the caller takes the general path, :meth:`geodln.svd_frame.SVDFrame.apply`,
    which rescales) when LAPACK must decide the SVD or an intermediate over- or underflows.

    Parameters
    ----------
    kernel : SpectralKernel
    x, z : ndarray, shape=[2, 2]
        The point and the covector.

    Returns
    -------
    tangent_vec : ndarray, shape=[2, 2], or None

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the eigenvalues
       :math:`K_{kl}` of the co-metric in the singular frame of X).

    Examples
    --------
    >>> from geodln.spectral import DLNKernel
    >>> import numpy as np
    >>> apply_2x2(DLNKernel(2), np.diag([2.0, 1.0]), np.ones((2, 2))).tolist()
    [[4.0, 3.0], [3.0, 2.0]]
    """
    svd = _single_floats(x.ravel().tolist())
    if svd is None:
        return None
    u, sv, vt = svd
    k = np.asarray(kernel.eigenvalues(np.array(sv))[0], float).tolist()
    (z00, z01), (z10, z11) = z.tolist()
    (u00, u01), (u10, u11) = u
    (v00, v01), (v10, v11) = vt  # rows of vt are the columns of V
    (k00, k01), (k10, k11) = k
    # core = K o (U^T Z V), then U core vt
    a0, a1 = z00 * v00 + z01 * v01, z10 * v00 + z11 * v01  # Z V, column 0
    b0, b1 = z00 * v10 + z01 * v11, z10 * v10 + z11 * v11  # Z V, column 1
    c00, c01 = k00 * (u00 * a0 + u10 * a1), k01 * (u00 * b0 + u10 * b1)
    c10, c11 = k10 * (u01 * a0 + u11 * a1), k11 * (u01 * b0 + u11 * b1)
    w00, w01 = u00 * c00 + u01 * c10, u00 * c01 + u01 * c11
    w10, w11 = u10 * c00 + u11 * c10, u10 * c01 + u11 * c11
    out = [[w00 * v00 + w01 * v10, w00 * v01 + w01 * v11],
           [w10 * v00 + w11 * v10, w10 * v01 + w11 * v11]]
    flat = out[0] + out[1]
    top = max(abs(v) for v in flat)
    if not (math.isfinite(top) and (top > 1e-290 or top == 0.0)):
        return None
    return np.array(out)


def svd_2x2(x):
    r"""Thin SVD of 2×2 matrices in closed form: ``(u [..., 2, 2], s [..., 2], vt [..., 2, 2])``.

    The same contract as ``numpy.linalg.svd(x, full_matrices=False)``: :math:`X = U\,
    \mathrm{diag}(s)\,V^\top`, s non-increasing and non-negative, U and V orthogonal; the
    singular vectors of a tied pair are some orthonormal pair (as with LAPACK).

    Parameters
    ----------
    x : ndarray, shape=[..., 2, 2]
        Real matrices (non-finite members are passed to LAPACK, which decides).

    Returns
    -------
    u : ndarray, shape=[..., 2, 2]
    s : ndarray, shape=[..., 2]
    vt : ndarray, shape=[..., 2, 2]

    References
    ----------
    .. [1] GVL13: Golub, Van Loan, Matrix Computations, 4th ed. (2013), Algorithm 8.5.1
       (symmetric Schur decomposition) and Section 8.6.4 with Problem P8.6.5 (2×2 SVD: a
       rotation that makes the matrix symmetric, then the symmetric Schur decomposition).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.small_svd import svd_2x2
    >>> u, s, vt = svd_2x2(np.array([[0.0, 2.0], [-3e200, 0.0]]))
    >>> s.tolist()
    [3e+200, 2.0]
    >>> bool(np.allclose(u * s[None, :] @ vt, [[0.0, 2.0], [-3e200, 0.0]], rtol=0, atol=1e-15))
    True
    """
    x = np.asarray(x, dtype=float)
    if x.size == 4:
        out = _single(x)
        if out is None:
            return np.linalg.svd(x, full_matrices=False)
        u, s, vt = out
        return u.reshape(x.shape), s.reshape(x.shape[:-1]), vt.reshape(x.shape)
    top = np.max(np.abs(x), axis=(-2, -1))
    good = np.isfinite(top) & (top > 0)
    e = -np.frexp(np.where(good, top, 1.0))[1]
    y = np.ldexp(x, e[..., None, None])
    if not good.all():  # zero or non-finite members: placeholders here, LAPACK below
        y = np.where(good[..., None, None], y, np.eye(2))
    c1, s1, cj, sj, e1, e2 = _rotations(y[..., 0, 0], y[..., 0, 1], y[..., 1, 0], y[..., 1, 1],
                                        np.hypot, np.copysign)
    g1, g2 = np.copysign(1.0, e1), np.copysign(1.0, e2)
    u = np.stack([(c1 * cj + s1 * sj) * g1, (c1 * sj - s1 * cj) * g2,
                  (s1 * cj - c1 * sj) * g1, (s1 * sj + c1 * cj) * g2], axis=-1).reshape(x.shape)
    vt = np.stack([cj, -sj, sj, cj], axis=-1).reshape(x.shape)
    s = np.abs(np.stack([e1, e2], axis=-1))
    swap = s[..., 1] > s[..., 0]
    if swap.any():
        u = np.where(swap[..., None, None], u[..., ::-1], u)
        vt = np.where(swap[..., None, None], vt[..., ::-1, :], vt)
        s = np.where(swap[..., None], s[..., ::-1], s)
    s = np.ldexp(s, -e[..., None])
    bad = ~good | ((s[..., 1] > 0) & (s[..., 1] < FALLBACK_RATIO * s[..., 0]))
    if bad.any():
        u[bad], s[bad], vt[bad] = np.linalg.svd(x[bad], full_matrices=False)
    return u, s, vt
