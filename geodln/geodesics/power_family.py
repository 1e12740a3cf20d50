r"""Several fractional powers of one symmetric PSD matrix, with one ``eigh`` and an exact VJP.

The co-metric of :math:`g^N` is a sum of products of powers of :math:`L = XX^\top` and
:math:`R = X^\top X` (ACH18, Theorem 1). :func:`sym_power_family` returns all the
powers :math:`S^{p_1}, \dots, S^{p_k}` a co-metric needs from a single eigendecomposition, and
its autograd VJP is the sum of the Daleckii–Krein derivatives (HIG08, Chapter 3),

.. math:: \sum_i Df_i(S)^*[G_i] = Q\Big(\sum_i F^{(p_i)} \circ Q^\top G_i Q\Big)Q^\top,
          \qquad F^{(p)}_{ab} = \frac{\mu_a^p - \mu_b^p}{\mu_a - \mu_b},\;
          F^{(p)}_{aa} = p\,\mu_a^{p-1},

which is exact at repeated eigenvalues (X = I, orthogonal X). It is the batched counterpart
of :func:`geodln.matrix_power.sym_power` (same divided differences,
:func:`geodln.matrix_power.power_divided_difference`), with one ``eigh`` per call instead of
one per power.

``keep`` (optional) keeps only the ``keep`` largest eigenvalues and sets the others to exactly
0. This is how the powers of :math:`XX^\top` are taken at a rank-r point: ``eigh`` resolves the
zero eigenvalues only to :math:`\epsilon\|S\|`, and :math:`(10^{-16})^{1/3} \approx 5\cdot
10^{-6}` would corrupt the operator. With exact zeros
the divided difference between two zero eigenvalues is 0 (the derivative of :math:`S^p` in a
direction that is zero on the kernel, i.e. along :math:`T_X M_r`, is then exact).
"""

import numpy as np
from autograd.extend import defvjp, primitive

from geodln.matrix_power import power_divided_difference

_CACHE = []  # (array, keep, mu, q): the forward eigh of recent calls, reused by their VJPs
_CACHE_SIZE = 4


def _eig(s, keep):
    """Eigendecomposition for a forward call (always computed; remembered for the VJP)."""
    mu, q = _eig_uncached(s, keep)
    _CACHE.insert(0, (s, keep, mu, q))
    del _CACHE[_CACHE_SIZE:]
    return mu, q


def _eig_for_vjp(s, keep):
    """Return the forward's eigendecomposition of this very array object (else recompute)."""
    for entry in _CACHE:
        if entry[0] is s and entry[1] == keep:
            return entry[2], entry[3]
    return _eig_uncached(s, keep)


def _eig_uncached(s, keep):
    mu, q = np.linalg.eigh(s)
    mu = np.clip(mu, 0.0, None)
    if keep is not None and keep < mu.shape[-1]:
        # eigh sorts ascending: zero all but the last ``keep``
        mu = np.concatenate(
            [np.zeros(mu.shape[:-1] + (mu.shape[-1] - keep,)), mu[..., -keep:]], axis=-1
        )
    return mu, q


def _powers(mu, exponents):
    out = []
    for p in exponents:
        out.append(np.ones_like(mu) if p == 0 else mu**p)
    return np.stack(out, axis=0)


@primitive
def sym_power_family(s, exponents, keep=None):
    r"""Return the stack :math:`[S^{p_1}, \dots, S^{p_k}]` for a symmetric PSD ``s``.

    Parameters
    ----------
    s : array-like, shape=[..., d, d]
        Symmetric positive semi-definite matrices (negative round-off eigenvalues are
        clipped to 0).
    exponents : tuple of float
        Powers :math:`p_i \ge 0`; :math:`S^0 = I` (identity, not the range projector).
    keep : int, optional
        Keep only the ``keep`` largest eigenvalues, the others are set to exactly 0.

    Returns
    -------
    powers : ndarray, shape=[k, ..., d, d]

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices, Chapter 3 (Fréchet derivative of a matrix function,
       Daleckiĭ–Kreĭn formula with divided differences).
    """
    mu, q = _eig(s, keep)
    qt = np.swapaxes(q, -1, -2)
    return (q * _powers(mu, exponents)[..., None, :]) @ qt


def _family_vjp(ans, s, exponents, keep=None):
    def vjp(g):
        mu, q = _eig_for_vjp(s, keep)
        qt = np.swapaxes(q, -1, -2)
        total = 0.0
        for i, p in enumerate(exponents):
            if p == 0:
                continue
            gi = 0.5 * (g[i] + np.swapaxes(g[i], -1, -2))
            f = power_divided_difference(mu[..., :, None], mu[..., None, :], p)
            total = total + f * (qt @ gi @ q)
        if np.isscalar(total):
            return np.zeros(np.shape(s))
        return q @ total @ qt

    return vjp


defvjp(sym_power_family, _family_vjp)
