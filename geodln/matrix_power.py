r"""Fractional powers of symmetric PSD matrices with an exact derivative at repeated eigenvalues.

``autograd`` differentiates ``eigh`` with a formula that divides by eigenvalue gaps: NaN at
exactly repeated eigenvalues (X = I, orthogonal X: the usual DLN starts) and silently wrong at
nearly repeated ones (HIG08, Chapter 3). :func:`sym_power` is an autograd primitive
whose VJP is the Daleckii–Krein formula

.. math:: Df(S)[H] = Q\,(F \circ Q^\top H Q)\,Q^\top,\quad
          F_{ij} = \frac{f(\mu_i) - f(\mu_j)}{\mu_i - \mu_j},\quad F_{ii} = f'(\mu_i),

with the divided differences of :math:`f(\mu) = \mu^p` evaluated without cancellation.
"""

import numpy as np
from autograd.extend import defvjp, primitive

from geodln.spectral import _log_ratio


def power_divided_difference(a, b, p):
    r"""Return :math:`(a^p - b^p)/(a - b)` (and :math:`p a^{p-1}` at ``a = b``) for ``a, b >= 0``.

    Evaluated as :math:`hi^{p-1}\,\mathrm{expm1}(-p w)/\mathrm{expm1}(-w)`, :math:`w = \log(hi/lo)`.

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices, Chapter 3 (Fréchet derivative of a matrix function,
       Daleckiĭ–Kreĭn formula with divided differences).
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    w = _log_ratio(hi, lo)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(w > 0, np.expm1(-p * w) / np.expm1(-w), p)
        ratio = np.where(np.isinf(w), 1.0, ratio)
        out = np.where(hi > 0, np.where(hi > 0, hi, 1.0) ** (p - 1) * ratio, 0.0)
    return out


def _eig_psd(s):
    mu, q = np.linalg.eigh(s)
    return np.clip(mu, 0.0, None), q


def _power_values(mu, p):
    if p == 0:
        return np.ones_like(mu)
    return mu**p


@primitive
def sym_power(s, p):
    r"""Return :math:`S^p` for a symmetric PSD matrix ``s`` [..., d, d] (``S^0 = I``).

    Negative round-off eigenvalues are clipped to 0, and ``0**p = 0`` for ``p > 0``.

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices, Chapter 3 (Fréchet derivative of a matrix function,
       Daleckiĭ–Kreĭn formula with divided differences).
    """
    mu, q = _eig_psd(s)
    return (q * _power_values(mu, p)[..., None, :]) @ np.swapaxes(q, -1, -2)


def sym_power_derivative(s, p, h):
    """Daleckii–Krein derivative of ``S -> S^p`` at ``s`` in direction ``h`` (symmetrised).

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices, Chapter 3 (Fréchet derivative of a matrix function,
       Daleckiĭ–Kreĭn formula with divided differences).
    """
    if p == 0:
        return np.zeros(np.broadcast_shapes(np.shape(s), np.shape(h)))
    mu, q = _eig_psd(s)
    qt = np.swapaxes(q, -1, -2)
    hs = 0.5 * (h + np.swapaxes(h, -1, -2))
    f = power_divided_difference(mu[..., :, None], mu[..., None, :], p)
    return q @ (f * (qt @ hs @ q)) @ qt


defvjp(sym_power, lambda ans, s, p: lambda g: sym_power_derivative(s, p, g))
