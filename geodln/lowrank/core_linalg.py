r"""Dense factorisations of the small r×r cores of a factored step, batched, low call overhead.

The factored gradient step (:mod:`geodln.lowrank.tangent_truncation`) factorises only r×r
matrices: inverses, Cholesky factors, triangular solves and one SVD. At the ranks where the
factored path competes with upstairs descent (r = 20–50) a ``numpy.linalg`` call spends
10–40 µs in argument handling and dispatch on top of its arithmetic, as much as the
arithmetic itself at r = 20. Every function here takes the usual leading batch axes
``[..., r, r]``: a batch of several members is one numpy call (LAPACK looped in C); a single
member (no batch axes, or a batch of one) goes straight to the LAPACK routines of
:mod:`scipy.linalg.lapack` (``getrf``/``getri``, ``potrf``, ``trtrs``, ``gesdd``) — the same
arithmetic (GVL13, Golub, Van Loan, Matrix Computations, Sections 3.4, 4.2 and 8.6) without
the dispatch. A failed factorisation raises :class:`numpy.linalg.LinAlgError` either way.
The caller keeps non-finite members away (LAPACK's SVD may not terminate on NaN).
"""

import numpy as np
from scipy.linalg import lapack

__all__ = ["inverse", "cholesky_lower", "solve_lower", "svd"]


def _single(a):
    """Return the one member of ``a`` as a 2-d array, or None for a batch of several."""
    if a.ndim == 2:
        return a
    return a.reshape(a.shape[-2:]) if a.size == a.shape[-1] * a.shape[-2] else None


def _info(info, what):
    if info != 0:
        raise np.linalg.LinAlgError(f"{what} failed (LAPACK info {info})")


def inverse(a):
    """Inverse of each member of ``a`` [..., r, r] (LU with partial pivoting).

    Parameters
    ----------
    a : ndarray, shape=[..., r, r]

    Returns
    -------
    inverse : ndarray, shape=[..., r, r]

    Raises
    ------
    numpy.linalg.LinAlgError
        If a member is exactly singular.

    References
    ----------
    .. [1] GVL13: Golub, Van Loan, Matrix Computations (4th ed., 2013), Section 3.4,
       Algorithm 3.4.1 (LU factorisation with partial pivoting, PA = LU).

    Examples
    --------
    >>> from geodln.lowrank.core_linalg import inverse
    >>> a = np.array([[2.0, 1.0], [0.0, 4.0]])
    >>> bool(np.allclose(inverse(a) @ a, np.eye(2)))
    True
    >>> bool(np.allclose(inverse(np.stack([a, 2 * a])) @ np.stack([a, 2 * a]), np.eye(2)))
    True
    """
    one = _single(a)
    if one is None:
        return np.linalg.inv(a)
    lu, piv, info = lapack.dgetrf(one)
    _info(info, "LU factorisation")
    inv, info = lapack.dgetri(lu, piv, overwrite_lu=1)
    _info(info, "inverse")
    return inv.reshape(a.shape)


def cholesky_lower(a):
    """Lower Cholesky factor L (``a = L Lᵀ``) of each symmetric positive definite member.

    Parameters
    ----------
    a : ndarray, shape=[..., r, r]
        Symmetric positive definite (only the lower triangle is read).

    Returns
    -------
    lower : ndarray, shape=[..., r, r]
        Zero above the diagonal.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a member is not positive definite.

    References
    ----------
    .. [1] GVL13: Golub, Van Loan, Matrix Computations (4th ed., 2013), Section 4.2
       (the Cholesky factorisation).

    Examples
    --------
    >>> from geodln.lowrank.core_linalg import cholesky_lower
    >>> cholesky_lower(np.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 0.],
           [1., 2.]])
    """
    one = _single(a)
    if one is None:
        return np.linalg.cholesky(a)
    lower, info = lapack.dpotrf(one, lower=1, clean=1)
    _info(info, "Cholesky factorisation")
    return lower.reshape(a.shape)


def solve_lower(lower, b, transposed=False):
    """``lower⁻¹ b`` (or ``lower⁻ᵀ b``) for lower-triangular members, batched.

    Parameters
    ----------
    lower : ndarray, shape=[..., r, r]
        Lower triangular, non-singular.
    b : ndarray, shape=[..., r, k]
    transposed : bool
        Solve with ``lowerᵀ`` instead.

    Returns
    -------
    x : ndarray, shape=[..., r, k]

    Raises
    ------
    numpy.linalg.LinAlgError
        If a member is singular.

    References
    ----------
    .. [1] GVL13: Golub, Van Loan, Matrix Computations (4th ed., 2013), Section 3.1
       (triangular systems).

    Examples
    --------
    >>> from geodln.lowrank.core_linalg import solve_lower
    >>> low = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> solve_lower(low, np.array([[2.0], [3.0]]))
    array([[1.],
           [2.]])
    >>> solve_lower(low, np.array([[2.0], [3.0]]), transposed=True)
    array([[-0.5],
           [ 3. ]])
    """
    one = _single(lower)
    if one is None or b.shape[:-2] != lower.shape[:-2]:
        return np.linalg.solve(np.swapaxes(lower, -1, -2) if transposed else lower, b)
    x, info = lapack.dtrtrs(one, b.reshape(b.shape[-2:]), lower=1, trans=1 if transposed else 0)
    _info(info, "triangular solve")
    return x.reshape(b.shape)


def svd(a):
    """Full SVD ``(u, s, vt)`` of each member, singular values non-increasing (``gesdd``).

    Parameters
    ----------
    a : ndarray, shape=[..., r, r]
        Finite.

    Returns
    -------
    u : ndarray, shape=[..., r, r]
    s : ndarray, shape=[..., r]
    vt : ndarray, shape=[..., r, r]

    Raises
    ------
    numpy.linalg.LinAlgError
        If LAPACK's divide-and-conquer SVD does not converge.

    References
    ----------
    .. [1] GVL13: Golub, Van Loan, Matrix Computations (4th ed., 2013), Section 8.6
       (computing the SVD).

    Examples
    --------
    >>> from geodln.lowrank.core_linalg import svd
    >>> u, s, vt = svd(np.array([[0.0, 2.0], [3.0, 0.0]]))
    >>> s
    array([3., 2.])
    >>> bool(np.allclose((u * s) @ vt, [[0.0, 2.0], [3.0, 0.0]]))
    True
    """
    one = _single(a)
    if one is None:
        return np.linalg.svd(a)
    # gesdd of the (Fortran-ordered) transpose: a = (v s uᵀ)ᵀ, no copy of a C-ordered member
    vt_t, s, u_t, info = lapack.dgesdd(one.T, compute_uv=1, full_matrices=1)
    _info(info, "SVD")
    lead = a.shape[:-2]
    return (u_t.T.reshape(lead + u_t.shape), s.reshape(lead + s.shape),
            vt_t.T.reshape(lead + vt_t.shape))
