r"""Co-metric operators :math:`Z \mapsto A_X(Z)` that autograd differentiates in X exactly.

The Hamiltonian geodesic solver (:mod:`geodln.geodesics.hamiltonian_exp`) needs
:math:`\partial_X \tfrac12\langle P, A_X(P)\rangle`. The SVD form of :math:`A_X` used by
:class:`~geodln.svd_frame.SVDFrame` has NaN or silently wrong autograd derivatives at repeated
singular values (HIG08, Chapter 3), so the operators here are written as sums of
products of powers of :math:`L = XX^\top` and :math:`R = X^\top X`, taken with
:func:`~geodln.geodesics.power_family.sym_power_family` (one ``eigh`` per factor, Daleckii–Krein
VJP, exact at X = I).

- :class:`DLNCometric`: :math:`A_{N,X}(Z) = \sum_{j=1}^N L^{(N-j)/N} Z R^{(j-1)/N}` (ACH18,
  Theorem 1; plain sum, or divided by N with ``normalized=True``, CMV).
- :class:`InfiniteDepthCometric`: :math:`A_\infty(Z) = \int_0^1 L^{1-s} Z R^s\,ds` (CMV23,
  Section 2), by Gauss–Legendre quadrature. On the eigenpair :math:`(\mu, \nu)` the integrand is
  :math:`\mu e^{s \log(\nu/\mu)}`; with 16 nodes the relative quadrature error is below
  :math:`10^{-14}` while :math:`|\log(\sigma_k^2/\sigma_l^2)| \le 20`.
- :class:`PowerSumCometric`: any :math:`\sum_i c_i L^{a_i} Z R^{b_i}`; it covers the
  arithmetic-mean (:math:`(a^p + b^p)/2`), geometric-mean (:math:`(ab)^{p/2}`) and Euclidean
  kernels of :mod:`geodln.spectral`.

:func:`cometric_operator` asks the kernel for its operator
(:meth:`geodln.spectral.SpectralKernel.differentiable_cometric`: each kernel class knows its
own power-sum form). A user kernel gets geodesics by defining a method
``cometric_operator(base_point, cotangent_vec, rank)`` written with ``autograd.numpy``
(differentiable in ``base_point``, batched ``[..., m, n]``, equal to the kernel's co-metric);
otherwise :func:`cometric_operator` raises ``NotImplementedError`` (a kernel given only by its
values :math:`k(a, b)` has no derivative in X that autograd could take).

At a rank-r point (r < min(m, n)) the powers keep only the r largest eigenvalues of L and R
(the others are set to exactly 0), so that the operator annihilates the normal block exactly
(plain-sum convention :math:`(\cdot)^0 = I`).

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import autograd.numpy as anp
import numpy as np

from geodln._checks import check_bool, check_depth, check_positive_int
from geodln.geodesics.power_family import sym_power_family

__all__ = [
    "PowerSumCometric",
    "DLNCometric",
    "InfiniteDepthCometric",
    "cometric_operator",
    "hamiltonian",
]

#: most Gauss–Legendre nodes of :class:`InfiniteDepthCometric` (16 already give ~1e-15)
MAX_NODES = 1000


def _t(a):
    return anp.swapaxes(a, -1, -2)


class PowerSumCometric:
    r"""Co-metric :math:`A_X(Z) = \sum_i c_i\, L^{a_i} Z R^{b_i}` of a power-sum kernel.

    Here :math:`L = XX^\top`, :math:`R = X^\top X`. Its spectral kernel is
    :math:`k(a, b) = \sum_i c_i a^{a_i} b^{b_i}` on squared singular
    values (with :math:`0^0 = 1`).

    Parameters
    ----------
    left_exponents, right_exponents : sequence of float
        The powers :math:`a_i, b_i \ge 0` (same length).
    coefficients : sequence of float, optional
        The :math:`c_i` (default all 1).
    rank : int, optional
        Rank r of the base points: only the r largest eigenvalues of L and R are kept.

    Raises
    ------
    ValueError
        With the message ``left_exponents and right_exponents must be non-empty and of equal
        length, got … and …``; or ``exponents must be >= 0``; or ``coefficients must have length
        …, got …``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    :math:`L^{1/2}Z + ZR^{1/2}` (depth 2) multiplies :math:`u_1v_2^\top` by
    :math:`\sigma_1 + \sigma_2 = 3`:

    >>> from geodln.geodesics.operators import PowerSumCometric
    >>> x = np.diag([2.0, 1.0])
    >>> z = np.array([[0.0, 1.0], [0.0, 0.0]])  # u_1 v_2^T
    >>> PowerSumCometric([0.5, 0.0], [0.0, 0.5])(x, z)
    array([[0., 3.],
           [0., 0.]])
    """

    def __init__(self, left_exponents, right_exponents, coefficients=None, rank=None):
        left = tuple(float(a) for a in left_exponents)
        right = tuple(float(b) for b in right_exponents)
        if len(left) != len(right) or not left:
            raise ValueError(
                "left_exponents and right_exponents must be non-empty and of equal length, "
                f"got {len(left)} and {len(right)}"
            )
        if min(left + right) < 0:
            raise ValueError("exponents must be >= 0")
        coefficients = (1.0,) * len(left) if coefficients is None else coefficients
        self.coefficients = tuple(float(c) for c in coefficients)
        if len(self.coefficients) != len(left):
            raise ValueError(
                f"coefficients must have length {len(left)}, got {len(self.coefficients)}"
            )
        self.left_exponents, self.right_exponents = left, right
        self.rank = rank

    def __call__(self, base_point, cotangent_vec):
        r"""Return :math:`A_X(Z)`; autograd-differentiable in ``base_point``.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]
        cotangent_vec : array-like, shape=[..., m, n]

        Returns
        -------
        image : array-like, shape=[..., m, n]
        """
        x = base_point
        # stacks of powers in term order, [k, ..., m, m] and [k, ..., n, n]: a handful of
        # autograd nodes whatever the number of terms
        lpow = sym_power_family(anp.matmul(x, _t(x)), self.left_exponents, self.rank)
        rpow = sym_power_family(anp.matmul(_t(x), x), self.right_exponents, self.rank)
        terms = anp.matmul(anp.matmul(lpow, cotangent_vec), rpow)
        coef = np.reshape(self.coefficients, (-1,) + (1,) * (anp.ndim(terms) - 1))
        return anp.sum(coef * terms, axis=0)


class DLNCometric(PowerSumCometric):
    r"""The DLN co-metric :math:`\sum_{j=1}^N L^{(N-j)/N} Z R^{(j-1)/N}` (ACH18, Theorem 1).

    Parameters
    ----------
    depth : int
        N >= 1 (finite).
    normalized : bool
        Divide by N (CMV convention).
    rank : int, optional
        Rank of the base points (see :class:`PowerSumCometric`).

    Raises
    ------
    ValueError
        If ``depth`` is not an integer in ``[1, 10**6]`` (bools are not numbers) or
        ``normalized`` is not a bool.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    >>> from geodln.geodesics.operators import DLNCometric
    >>> x = np.diag([2.0, 1.0])
    >>> z = np.array([[0.0, 1.0], [0.0, 0.0]])  # u_1 v_2^T
    >>> DLNCometric(2)(x, z)
    array([[0., 3.],
           [0., 0.]])
    >>> DLNCometric(2, normalized=True)(x, z)
    array([[0. , 1.5],
           [0. , 0. ]])
    """

    def __init__(self, depth, normalized=False, rank=None):
        N = check_depth(depth, "depth", allow_inf=False)
        normalized = check_bool(normalized, "normalized")
        coef = 1.0 / N if normalized else 1.0
        super().__init__(
            [(N - j) / N for j in range(1, N + 1)],
            [(j - 1) / N for j in range(1, N + 1)],
            [coef] * N,
            rank,
        )
        self.depth = N
        self.normalized = bool(normalized)


class InfiniteDepthCometric(PowerSumCometric):
    r"""Infinite-depth co-metric :math:`\int_0^1 L^{1-s} Z R^s\,ds` by Gauss–Legendre (CMV).

    Parameters
    ----------
    n_nodes : int
        Quadrature nodes, 1 to ``MAX_NODES`` = 1000 (default 16; see the module docstring for
        the error).

    Raises
    ------
    ValueError
        If ``n_nodes`` is not an integer in ``[1, 1000]`` (bools are not numbers).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}/N`; their N → ∞ limit is the logarithmic mean of
       :math:`\sigma_k^2, \sigma_l^2`).

    Examples
    --------
    The eigenvalue on :math:`u_1v_2^\top` is the logarithmic mean
    :math:`(\sigma_1^2 - \sigma_2^2)/\log(\sigma_1^2/\sigma_2^2) = 3/\log 4`:

    >>> from geodln.geodesics.operators import InfiniteDepthCometric
    >>> x = np.diag([2.0, 1.0])
    >>> z = np.array([[0.0, 1.0], [0.0, 0.0]])  # u_1 v_2^T
    >>> out = InfiniteDepthCometric()(x, z)
    >>> bool(np.isclose(out[0, 1], 3 / np.log(4), rtol=1e-12))
    True
    """

    def __init__(self, n_nodes=16):
        n_nodes = check_positive_int(n_nodes, "n_nodes", maximum=MAX_NODES)
        nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
        s = 0.5 * (nodes + 1.0)
        super().__init__(1.0 - s, s, 0.5 * weights, rank=None)
        self.n_nodes = int(n_nodes)


def cometric_operator(kernel, rank=None, full_rank=True):
    """Return a differentiable co-metric operator for a spectral kernel.

    The kernel decides: this is
    :meth:`geodln.spectral.SpectralKernel.differentiable_cometric` (the DLN kernels of finite
    and infinite depth, the arithmetic/geometric-mean and Euclidean kernels return power sums;
    a user kernel with a ``cometric_operator(base_point, cotangent_vec, rank)`` method gets
    that method).

    Parameters
    ----------
    kernel : SpectralKernel
        The kernel.
    rank : int, optional
        Rank r of the base points.
    full_rank : bool
        Whether r = min(m, n).

    Returns
    -------
    operator : callable
        ``operator(base_point, cotangent_vec)``, autograd-differentiable in ``base_point``.

    Raises
    ------
    NotImplementedError
        If the kernel has no known differentiable form, or if the metric is not defined (or
        the form is not available) at rank-deficient points: infinite depth, the
        geometric-mean kernel and depth 1 (Euclidean metric on M_r) at r < min(m, n).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices, from the co-metric
       Hamiltonian; explicit solutions in a special case).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.geodesics.operators import cometric_operator
    >>> from geodln.spectral import DLNKernel
    >>> op = cometric_operator(DLNKernel(2))
    >>> np.round(op(np.diag([2.0, 1.0]), np.ones((2, 2))), 12).tolist()
    [[4.0, 3.0], [3.0, 2.0]]
    """
    method = getattr(kernel, "differentiable_cometric", None)
    if not callable(method):
        raise NotImplementedError(
            f"{kernel!r} is not a SpectralKernel: no differentiable co-metric is known"
        )
    return method(rank, full_rank)


def hamiltonian(operator, base_point, cotangent_vec):
    r"""Co-metric Hamiltonian :math:`H(X, P) = \tfrac12\langle P, A_X(P)\rangle` (GEO25).

    Parameters
    ----------
    operator : callable
        A co-metric operator (see :func:`cometric_operator`).
    base_point, cotangent_vec : array-like, shape=[..., m, n]

    Returns
    -------
    energy : array-like, shape=[...]

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).

    Examples
    --------
    :math:`\tfrac12\langle P, A_X(P)\rangle = \tfrac12 \cdot 3` for the example of
    :class:`DLNCometric`:

    >>> from geodln.geodesics.operators import DLNCometric, hamiltonian
    >>> x = np.diag([2.0, 1.0])
    >>> z = np.array([[0.0, 1.0], [0.0, 0.0]])  # u_1 v_2^T
    >>> float(hamiltonian(DLNCometric(2), x, z))
    1.5
    """
    return 0.5 * anp.sum(cotangent_vec * operator(base_point, cotangent_vec), axis=(-2, -1))
