r"""Several fractional powers of one symmetric PSD matrix, with one ``eigh`` and an exact VJP.

The co-metric of :math:`g^N` is a sum of products of powers of :math:`L = XX^\top` and
:math:`R = X^\top X` (ACH18, Theorem 1). :func:`sym_power_family` returns all the
powers :math:`S^{p_1}, \dots, S^{p_k}` a co-metric needs from a single eigendecomposition, and
its autograd VJP is the sum of the Daleckii–Krein derivatives (HIG08, Chapter 3),

.. math:: \sum_i Df_i(S)^*[G_i] = Q\Big(\sum_i F^{(p_i)} \circ Q^\top G_i Q\Big)Q^\top,
          \qquad F^{(p)}_{ab} = \frac{\mu_a^p - \mu_b^p}{\mu_a - \mu_b},\;
          F^{(p)}_{aa} = p\,\mu_a^{p-1},

which is exact at repeated eigenvalues (X = I, orthogonal X). It is geodln's one
Daleckii–Krein primitive, defined in :mod:`geodln.matrix_power` and re-exported here
(the divided differences are :func:`geodln.spectral.power_divided_difference`).

``keep`` (optional) keeps only the ``keep`` largest eigenvalues and sets the others to exactly
0. This is how the powers of :math:`XX^\top` are taken at a rank-r point: ``eigh`` resolves the
zero eigenvalues only to :math:`\epsilon\|S\|`, and :math:`(10^{-16})^{1/3} \approx 5\cdot
10^{-6}` would corrupt the operator. With exact zeros
the divided difference between two zero eigenvalues is 0 (the derivative of :math:`S^p` in a
direction that is zero on the kernel, i.e. along :math:`T_X M_r`, is then exact).
"""

from geodln.matrix_power import sym_power_family

__all__ = ["sym_power_family"]
