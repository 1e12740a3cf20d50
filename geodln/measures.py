r"""Scalar measures of end-to-end matrices: effective rank, norms, sign of the determinant.

Small functions on matrices ``[..., m, n]`` (or directly on their singular values
``[..., r]``), used by :class:`geodln.flows.Trajectory` and by experiments.

- effective rank (Roy–Vetterli, RV07): :math:`\exp(-\sum_k p_k \log p_k)`,
  :math:`p = \sigma / \|\sigma\|_1`, with :math:`0 \log 0 = 0`; it is 0 for the zero matrix;
- Frobenius norm :math:`\|\sigma\|_2` (scaled evaluation, as LAPACK ``nrm2``: no overflow
  at 1e200, no underflow at 1e-200), nuclear norm :math:`\|\sigma\|_1`;
- sign of :math:`\det X` (square matrices; 0 for a singular matrix) and :math:`\log|\det X|`
  (RC track it: with :math:`\det X(0) > 0` the sign is conserved by the flow, RC20, Fig. 1).

Abbreviations: RC = Razin, Cohen (RC20).
"""

import numpy as np

from geodln._checks import check_finite, check_matrix

__all__ = [
    "singular_values",
    "effective_rank",
    "effective_rank_from_singular_values",
    "frobenius_norm",
    "frobenius_norm_from_singular_values",
    "nuclear_norm",
    "det_sign",
    "log_abs_det",
]


def _float_if_scalar(out):
    """Return a 0-d result as a Python ``float``, a batched one unchanged."""
    return float(out) if np.ndim(out) == 0 else out


def singular_values(x):
    """Singular values in non-increasing order.

    Parameters
    ----------
    x : array-like, shape=[..., m, n]

    Returns
    -------
    s : ndarray, shape=[..., min(m, n)]

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array of matrices [..., m, n] of the expected shape.

    Examples
    --------
    >>> from geodln.measures import singular_values
    >>> singular_values(np.diag([1.0, 3.0]))
    array([3., 1.])
    >>> singular_values(np.zeros((5, 2, 3))).shape
    (5, 2)
    """
    return np.linalg.svd(check_matrix(x, "x"), compute_uv=False)


def effective_rank_from_singular_values(s):
    r"""Roy–Vetterli effective rank :math:`\exp(H(p))`, :math:`p = \sigma/\|\sigma\|_1`.

    Parameters
    ----------
    s : array-like, shape=[..., r]
        Non-negative singular values.

    Returns
    -------
    erank : float or ndarray, shape=[...]
        In ``[1, r]`` for a nonzero matrix (1 for rank one, r for equal singular values);
        0 for the zero matrix (convention, no NaN).

    Raises
    ------
    ValueError
        If ``s`` is not a finite real array; otherwise with the message ``s must have at least
        one axis (the singular values)``; or ``s must be non-negative singular values``.

    References
    ----------
    .. [1] RV07: Roy, Vetterli, "The effective rank: a measure of effective dimensionality",
       EUSIPCO 2007, Definition 2 (effective rank :math:`\exp H(p)`,
       :math:`p = \sigma/\|\sigma\|_1`).

    Examples
    --------
    >>> from geodln.measures import effective_rank_from_singular_values
    >>> round(effective_rank_from_singular_values([2.0, 2.0, 2.0]), 12)
    3.0
    >>> effective_rank_from_singular_values([[1.0, 0.0], [0.0, 0.0]])
    array([1., 0.])
    """
    s = check_finite(s, "s")
    if s.ndim == 0:
        raise ValueError("s must have at least one axis (the singular values)")
    if np.any(s < 0):
        raise ValueError("s must be non-negative singular values")
    total = np.sum(s, axis=-1, keepdims=True)
    p = np.where(total > 0, s / np.where(total > 0, total, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out = np.where(total[..., 0] > 0, np.exp(-np.sum(plogp, axis=-1)), 0.0)
    return _float_if_scalar(out)


def effective_rank(x):
    """Roy–Vetterli effective rank of matrices (see :func:`effective_rank_from_singular_values`).

    Parameters
    ----------
    x : array-like, shape=[..., m, n]

    Returns
    -------
    erank : float or ndarray, shape=[...]
        Dimensionless, in ``[1, min(m, n)]`` (0 for the zero matrix).

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array of matrices ``[..., m, n]``.

    References
    ----------
    .. [1] RV07: Roy, Vetterli, "The effective rank: a measure of effective dimensionality",
       EUSIPCO 2007, Definition 2.

    Examples
    --------
    >>> from geodln.measures import effective_rank
    >>> round(effective_rank(np.eye(4)), 12)
    4.0
    >>> round(effective_rank(np.diag([1.0, 1e-12])), 9)
    1.0
    """
    return effective_rank_from_singular_values(singular_values(x))


def frobenius_norm_from_singular_values(s):
    r"""Frobenius norm :math:`\|\sigma\|_2` of singular values, scaled (no over/underflow).

    :math:`a\,\|\sigma/a\|_2`, :math:`a = \max_k|\sigma_k|`; NaN entries propagate (a
    diverged record stays NaN).

    Parameters
    ----------
    s : array-like, shape=[..., r]

    Returns
    -------
    norm : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``s`` has no axis.

    Examples
    --------
    >>> from geodln.measures import frobenius_norm_from_singular_values
    >>> frobenius_norm_from_singular_values([3e300, 4e300])
    5e+300
    """
    s = np.asarray(s, dtype=float)
    if s.ndim == 0:
        raise ValueError("s must have at least one axis (the singular values)")
    with np.errstate(invalid="ignore"):
        scale = np.max(np.abs(s), axis=-1, keepdims=True)
        safe = np.where(scale > 0, scale, 1.0)
        out = safe[..., 0] * np.sqrt(np.sum((s / safe) ** 2, axis=-1))
    return _float_if_scalar(out)


def frobenius_norm(x):
    r"""Frobenius norm, without overflow or underflow (scaled evaluation).

    :math:`\|X\|_F = a\,\|X/a\|_F` with :math:`a = \max_{ij}|x_{ij}|`, as LAPACK's
    ``nrm2`` and ``scipy.linalg.norm`` do: exact to a few ulps for entries anywhere in the
    float range (``inf`` only when the norm itself exceeds the largest float).

    Parameters
    ----------
    x : array-like, shape=[..., m, n]

    Returns
    -------
    norm : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array ``[..., m, n]``.

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Appendix B (norms); LAPACK ``dnrm2``.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.measures import frobenius_norm
    >>> frobenius_norm(1e200 * np.eye(4)), frobenius_norm(1e-200 * np.eye(4))
    (2e+200, 2e-200)
    """
    x = check_matrix(x, "x")
    scale = np.max(np.abs(x), axis=(-2, -1), keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    out = safe[..., 0, 0] * np.sqrt(np.sum((x / safe) ** 2, axis=(-2, -1)))
    return _float_if_scalar(out)


def nuclear_norm(x):
    """Nuclear norm (sum of singular values).

    Parameters
    ----------
    x : array-like, shape=[..., m, n]

    Returns
    -------
    norm : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array of matrices ``[..., m, n]``.

    Examples
    --------
    >>> from geodln.measures import nuclear_norm
    >>> nuclear_norm(np.diag([3.0, -4.0]))
    7.0
    """
    out = np.sum(singular_values(x), axis=-1)
    return _float_if_scalar(out)


def _square(x):
    x = check_matrix(x, "x")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"x must be square for a determinant, got shape {x.shape}")
    return x


def det_sign(x):
    """Sign of :math:`\\det X` (+1, -1, or 0 when X is exactly singular).

    Parameters
    ----------
    x : array-like, shape=[..., d, d]

    Returns
    -------
    sign : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array of matrices, or is not square.

    References
    ----------
    .. [1] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 (the sign of :math:`\\det X` is conserved
       by the flow).

    Examples
    --------
    >>> from geodln.measures import det_sign
    >>> det_sign(np.array([[0.0, 1.0], [1.0, 0.0]]))
    -1.0
    >>> det_sign(np.stack([np.eye(2), np.zeros((2, 2))]))
    array([1., 0.])
    """
    sign, _ = np.linalg.slogdet(_square(x))
    return _float_if_scalar(sign)


def log_abs_det(x):
    """:math:`\\log|\\det X|` (``-inf`` for a singular matrix), accurate when det is tiny.

    Parameters
    ----------
    x : array-like, shape=[..., d, d]

    Returns
    -------
    logdet : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``x`` is not a finite real array of matrices, or is not square.

    References
    ----------
    .. [1] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 (the sign of :math:`\\det X` is conserved
       by the flow).

    Examples
    --------
    >>> from geodln.measures import log_abs_det
    >>> log_abs_det(1e-200 * np.eye(3))  # 3 log(1e-200), no underflow
    -1381.55...
    """
    _, logdet = np.linalg.slogdet(_square(x))
    return _float_if_scalar(logdet)
