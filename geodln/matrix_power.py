r"""Fractional powers of symmetric PSD matrices with an exact derivative at repeated eigenvalues.

``autograd`` differentiates ``eigh`` with a formula that divides by eigenvalue gaps: NaN at
exactly repeated eigenvalues (X = I, orthogonal X: the usual deep-linear-network starts) and
silently wrong at nearly repeated ones. :func:`sym_power_family` is geodln's one autograd
primitive for matrix functions: it returns several powers :math:`S^{p_1}, \dots, S^{p_k}` from
one ``eigh``, and its VJP is the Daleckii–Krein formula

.. math:: \sum_i Df_i(S)^*[G_i] = Q\Big(\sum_i F^{(p_i)} \circ Q^\top G_i Q\Big)Q^\top,\quad
          F^{(p)}_{ab} = \frac{\mu_a^p - \mu_b^p}{\mu_a - \mu_b},\quad
          F^{(p)}_{aa} = p\,\mu_a^{p-1},

with the divided differences of :func:`geodln.spectral.power_divided_difference` (no
cancellation at ties). The eigendecomposition of the forward pass is handed to the VJP as a
non-differentiated argument, so there is no cache and no second ``eigh``.

``keep`` (optional) keeps only the ``keep`` largest eigenvalues and sets the others to exactly
0: the powers of :math:`XX^\top` at a rank-r point. ``eigh`` resolves zero eigenvalues only to
:math:`\epsilon\|S\|`, and :math:`(10^{-16})^{1/3} \approx 5\cdot 10^{-6}` would corrupt the
operator; with exact zeros the divided difference between two zero eigenvalues is 0 (the
derivative along :math:`T_X M_r` is then exact).
"""

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from geodln.spectral import power_divided_difference

__all__ = ["sym_power", "sym_power_family", "sym_power_derivative"]


def _eig_psd(s, keep=None):
    mu, q = np.linalg.eigh(s)
    mu = np.clip(mu, 0.0, None)
    if keep is not None and keep < mu.shape[-1]:
        # eigh sorts ascending: zero all but the last ``keep``
        mu = np.concatenate(
            [np.zeros(mu.shape[:-1] + (mu.shape[-1] - keep,)), mu[..., -keep:]], axis=-1
        )
    return mu, q


def _powers(mu, exponents):
    with np.errstate(divide="ignore"):
        return np.stack([np.ones_like(mu) if p == 0 else mu**p for p in exponents], axis=0)


@primitive
def _power_family(s, mu, q, exponents):
    """Powers from a given eigendecomposition; differentiable in ``s`` only."""
    return (q * _powers(mu, exponents)[..., None, :]) @ np.swapaxes(q, -1, -2)


def _daleckii_krein(mu, q, exponents, g):
    """Sum over i of the Daleckii–Krein adjoint of ``S -> S^{p_i}`` applied to ``g[i]``."""
    qt = np.swapaxes(q, -1, -2)
    total = 0.0
    for i, p in enumerate(exponents):
        if p == 0:
            continue
        gi = 0.5 * (g[i] + np.swapaxes(g[i], -1, -2))
        f = power_divided_difference(mu[..., :, None], mu[..., None, :], p)
        total = total + f * (qt @ gi @ q)
    if np.isscalar(total):
        return np.zeros(q.shape)
    return q @ total @ qt


defvjp(
    _power_family,
    lambda ans, s, mu, q, exponents: lambda g: _daleckii_krein(mu, q, exponents, g),
)


def sym_power_family(s, exponents, keep=None):
    r"""Return the stack :math:`[S^{p_1}, \dots, S^{p_k}]` for a symmetric PSD ``s``.

    Differentiable by autograd in ``s`` (Daleckii–Krein VJP, exact at repeated eigenvalues).

    Parameters
    ----------
    s : array-like, shape=[..., d, d]
        Symmetric positive semi-definite matrices (negative round-off eigenvalues are
        clipped to 0).
    exponents : sequence of float
        Powers :math:`p_i`; :math:`S^0 = I` (identity, not the range projector). Negative
        powers need an invertible ``s``.
    keep : int, optional
        Keep only the ``keep`` largest eigenvalues, the others are set to exactly 0.

    Returns
    -------
    powers : ndarray, shape=[k, ..., d, d]

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11 (Daleckii–Krein).

    Examples
    --------
    >>> import numpy as np
    >>> from autograd import grad
    >>> from geodln.matrix_power import sym_power_family
    >>> sym_power_family(np.diag([4.0, 9.0]), (0.5, 0.0))[0].round(12).tolist()
    [[2.0, 0.0], [0.0, 3.0]]
    >>> g = grad(lambda s: sym_power_family(s, (0.5,))[0].trace())(np.eye(2))
    >>> g.tolist()  # d tr(S^(1/2)) = (1/2) S^(-1/2), exact at the repeated eigenvalue
    [[0.5, 0.0], [0.0, 0.5]]
    """
    exponents = tuple(float(p) for p in exponents)
    mu, q = _eig_psd(getval(s), keep)
    return _power_family(s, mu, q, exponents)


def sym_power(s, p):
    r"""Return :math:`S^p` for a symmetric PSD matrix ``s`` [..., d, d] (``S^0 = I``).

    Negative round-off eigenvalues are clipped to 0, and ``0**p = 0`` for ``p > 0``.
    Differentiable by autograd (one :func:`sym_power_family` call).

    Parameters
    ----------
    s : array-like, shape=[..., d, d]
    p : float

    Returns
    -------
    power : ndarray, shape=[..., d, d]

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.matrix_power import sym_power
    >>> sym_power(np.diag([8.0, 1.0]), 1 / 3).round(12).tolist()
    [[2.0, 0.0], [0.0, 1.0]]
    """
    return sym_power_family(s, (p,))[0]


def sym_power_derivative(s, p, h):
    """Daleckii–Krein derivative of ``S -> S^p`` at ``s`` in direction ``h`` (symmetrised).

    Parameters
    ----------
    s : array-like, shape=[..., d, d]
        Symmetric PSD.
    p : float
    h : array-like, shape=[..., d, d]

    Returns
    -------
    derivative : ndarray, shape=[..., d, d]

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.matrix_power import sym_power_derivative
    >>> sym_power_derivative(np.eye(2), 2.0, np.eye(2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    s = np.asarray(s, dtype=float)
    h = np.asarray(h, dtype=float)
    mu, q = _eig_psd(s)
    return _daleckii_krein(mu, q, (float(p),), h[None])
