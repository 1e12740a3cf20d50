r"""Spectral kernels of metrics on rank-r matrices: the one place that knows their arithmetic.

Every metric in geodln is diagonal in the singular basis of its base point
:math:`X = U\Sigma V^\top`: the co-metric ("sharp" map) acts on the coordinates
:math:`(U^\top Z V)_{kl}` of a covector by multiplication with eigenvalues

.. math:: \lambda_{kl} = k(\sigma_k^2, \sigma_l^2),

where :math:`k` is a symmetric *spectral kernel* and :math:`\sigma_l = 0` for indices
beyond the rank (Cohen–Menon–Veraszto (CMV23), Lemma 2.4). For a rank-r point the three
blocks of :math:`T_X M_r` are then

- core ``U M Vᵀ``: eigenvalues :math:`k(\sigma_k^2, \sigma_l^2)`, :math:`k, l \le r`;
- mixed ``U_⊥ B Vᵀ`` and ``U C V_⊥ᵀ``: eigenvalues :math:`k(\sigma_k^2, 0)`;
- normal ``U_⊥ D V_⊥ᵀ``: annihilated (the co-metric maps onto :math:`T_X M_r`).

The deep-linear-network (DLN) kernel of depth N (plain sum, the convention of Arora–Cohen–
Hazan (ACH18), Bah–Rauhut–Terstiege–Westdickenberg (BRTW21), Menon (GM24), Menon–Yu (MY25)) is

.. math:: k_N(a, b) = \sum_{j=1}^N a^{(N-j)/N} b^{(j-1)/N}
          = \frac{a - b}{a^{1/N} - b^{1/N}}, \qquad k_N(a, a) = N a^{1 - 1/N},

the CMV normalisation divides it by N, and its N → ∞ limit is the logarithmic mean
:math:`(a - b)/(\log a - \log b)` (CMV23).

**Arithmetic.** Kernels are evaluated from the singular values themselves, never from their
squares (which overflow above :math:`\sigma \approx 10^{154}` and underflow below
:math:`10^{-162}`), and never through the closed forms, which cancel catastrophically at the
repeated singular values of identity and balanced starts. Every DLN value is

.. math:: k(\sigma_k^2, \sigma_l^2) = c\,\sigma_{hi}^{2(1-p)} / \varphi_p(w),\qquad
          w = 2\log(\sigma_{hi}/\sigma_{lo}),

with :math:`p = 1/N` (:math:`p = 0` at infinite depth), :math:`c \in \{N, 1\}` and the one
divided-difference helper :func:`divided_difference_ratio`
:math:`\varphi_p(w) = (1 - e^{-pw})/(p(1 - e^{-w}))`, evaluated with ``expm1``: a few ulps for
every :math:`w \in [0, \infty]`. The result is exact to a few ulps times :math:`|\log\sigma|`
wherever it is representable, and ``inf``/``0`` only when it is not. In particular
:math:`A_{cX} = c^{2 - 2/N} A_X` holds to rounding for every representable c.

A user defines a new metric by subclassing :class:`SpectralKernel` (or wrapping a function with
:class:`CallableKernel`) and passing it to :class:`geodln.SpectralMetric`. Declaring the
kernel's homogeneity ``degree`` (:math:`k(ca, cb) = c^d k(a, b)`) makes the generic methods
scale-safe (the larger argument is factored out before the user function is called).

Examples
--------
>>> import numpy as np
>>> from geodln.spectral import DLNKernel
>>> kernel = DLNKernel(3)
>>> K, ell = kernel.eigenvalues(np.array([1e160, 1e160]), shape=(2, 3))
>>> bool(np.allclose(K, 3e160 ** (4 / 3) / 3 ** (4 / 3) * 3, rtol=1e-13))
True
"""

import math

import numpy as np

from geodln._checks import (
    check_bool,
    check_depth,
    check_finite_real,
    check_symmetric_kernel,
)

__all__ = [
    "SpectralKernel",
    "DLNKernel",
    "InfiniteDepthKernel",
    "EuclideanKernel",
    "CallableKernel",
    "ArithmeticMeanKernel",
    "GeometricMeanKernel",
    "divided_difference_ratio",
    "power_divided_difference",
    "log_ratio",
    "dln_kernel",
    "log_mean",
]

# w below _W_TIE is a tie (phi = 1 to all digits)
_W_TIE = 1e-300
# unbatched points up to this rank take the Python-float path of DLNKernel.eigenvalues (a
# handful of pairs: per-call numpy overhead would dominate; same formula, same accuracy)
_SCALAR_MAX_RANK = 3


def divided_difference_ratio(w, p):
    r"""Scale-free part :math:`\varphi_p(w)` of the divided difference of :math:`x \mapsto x^p`.

    For :math:`hi \ge lo \ge 0` and :math:`w = \log(hi/lo)`,

    .. math:: \frac{hi^p - lo^p}{hi - lo} = p\,hi^{p-1}\,\varphi_p(w),\qquad
              \varphi_p(w) = \frac{1 - e^{-pw}}{p\,(1 - e^{-w})}
              = \frac{E(pw)}{E(w)},\quad E(x) = \frac{1 - e^{-x}}{x},

    with :math:`\varphi_p(0) = 1`, :math:`\varphi_p(\infty) = 1/p` for :math:`p > 0`, and the
    :math:`p \to 0` limit :math:`\varphi_0(w) = w/(1 - e^{-w})` (:math:`\varphi_0(\infty) =
    \infty`). Both quotients :math:`E` are formed with ``expm1``, so there is no cancellation
    at ties or near-ties: the relative error is a few ulps for every :math:`w \in [0, \infty]`.
    This is the only divided-difference formula in geodln: the DLN kernels, the logarithmic
    mean and the Daleckii–Krein derivative of matrix powers all call it.

    Parameters
    ----------
    w : array-like, shape=[...]
        :math:`\log(hi/lo) \ge 0`; ``inf`` for ``lo = 0``; NaN (from ``0/0``) is read as a tie.
    p : float
        The power (any real; :math:`p < 0` is allowed for finite ``w``).

    Returns
    -------
    phi : ndarray
        Same shape as ``w``.

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Section 11.1 (divided differences of
       powers without cancellation).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import divided_difference_ratio
    >>> divided_difference_ratio(np.array([0.0, np.inf]), 0.5).tolist()
    [1.0, 2.0]
    >>> a, b, p = 4.0, 1.0, 0.5
    >>> float(p * a ** (p - 1) * divided_difference_ratio(np.log(a / b), p))
    0.3333333333333333
    """
    y = np.fmin(-np.asarray(w, dtype=float), -_W_TIE)  # NaN -> a tie; -inf stays
    with np.errstate(invalid="ignore", over="ignore"):
        if p == 0:
            return y / np.expm1(y)  # phi_0(inf) = -inf / -1 = inf
        # E(p w) / E(w) = expm1(p y) / (p expm1(y)), y = -w: both expm1 are exact to a few ulps,
        # and at y = -1e-300 both equal their argument (ratio 1); at y = -inf: (-1)/(-p) = 1/p
        return np.expm1(p * y) / (p * np.expm1(y))


def log_ratio(hi, lo):
    r"""Return :math:`\log(hi/lo)` for :math:`hi \ge lo \ge 0`, accurate near ties.

    Evaluated as ``log1p((hi - lo)/lo)``: a few ulps relative even when ``hi/lo`` is
    :math:`1 + 10^{-15}`. ``inf`` where ``lo = 0 < hi``, ``nan`` where both are 0.

    Parameters
    ----------
    hi, lo : array-like
        Non-negative, ``hi >= lo`` elementwise (broadcast together).

    Returns
    -------
    w : ndarray, shape=[...] (broadcast of ``hi`` and ``lo``)

    Examples
    --------
    >>> from geodln.spectral import log_ratio
    >>> round(float(log_ratio(1.0 + 2.0**-52, 1.0)) / 2.0**-52, 12)
    1.0
    """
    hi = np.asarray(hi, dtype=float)
    lo = np.asarray(lo, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.log1p((hi - lo) / lo)


def power_divided_difference(a, b, p):
    r"""Return :math:`(a^p - b^p)/(a - b)`, and :math:`p a^{p-1}` at ``a = b``, for ``a, b >= 0``.

    :math:`p\,hi^{p-1}\varphi_p(\log(hi/lo))` with :func:`divided_difference_ratio`; 0 where
    both arguments are 0 or ``p = 0``. These are the Daleckii–Krein coefficients of
    :math:`S \mapsto S^p` (:mod:`geodln.matrix_power`).

    Parameters
    ----------
    a, b : array-like
        Eigenvalues, ``>= 0``, broadcast together.
    p : float
        The power.

    Returns
    -------
    dd : ndarray, shape=[...] (broadcast of ``a`` and ``b``)

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11 (Daleckii–Krein).

    Examples
    --------
    >>> from geodln.spectral import power_divided_difference
    >>> float(power_divided_difference(4.0, 1.0, 0.5))
    0.3333333333333333
    >>> float(power_divided_difference(4.0, 4.0, 0.5))
    0.25
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if p == 0:
        return np.zeros(shape)
    phi = divided_difference_ratio(log_ratio(hi, lo), p)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = p * np.where(hi > 0, hi, 1.0) ** (p - 1) * phi
    return np.where(hi > 0, out, 0.0)


def _dln_parameters(depth, normalized):
    """``(p, c)``: :math:`k = c\\,hi^{1-p}/\\varphi_p`, p = 1/N (0 at N = inf), c = N or 1."""
    if depth == np.inf:
        return 0.0, 1.0
    return 1.0 / depth, (1.0 if normalized else float(depth))


def dln_kernel(a, b, depth):
    r"""Evaluate :math:`k_N(a, b) = \sum_{j=1}^N a^{(N-j)/N} b^{(j-1)/N}` stably.

    :math:`k_N = N\,hi^{1-1/N}/\varphi_{1/N}(\log(hi/lo))` with
    :func:`divided_difference_ratio`; the ratio is 1 at ``a = b`` and N when ``lo = 0``.
    Convention :math:`0^0 = 1` (identity, not the range projector), so ``k_1 = 1`` everywhere.
    This takes *squared* singular values; :meth:`DLNKernel.values` takes the singular values
    themselves and is safe at any scale.

    Parameters
    ----------
    a, b : array-like
        Squared singular values, ``>= 0``, broadcast together.
    depth : int
        N >= 1.

    Returns
    -------
    lam : ndarray, shape=[...] (broadcast of ``a`` and ``b``)
        The plain-sum eigenvalues :math:`\lambda_{kl}` of :math:`A_{N,X}`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Raises
    ------
    ValueError
        If ``depth`` is not an integer >= 1 or numpy.inf.

    Examples
    --------
    >>> from geodln.spectral import dln_kernel
    >>> float(dln_kernel(4.0, 1.0, 2)), round(float(dln_kernel(2.0, 2.0, 3)), 12)  # 3 * 2**(2/3)
    (3.0, 4.762203155905)
    """
    p, c = _dln_parameters(check_depth(depth, allow_inf=False), False)
    return _kernel_from_squares(a, b, p, c)


def log_mean(a, b):
    r"""Logarithmic mean :math:`(a - b)/(\log a - \log b)`; ``L(a, a) = a``, ``L(a, 0) = 0``.

    This is the N → ∞ limit of :math:`k_N/N` (CMV23, infinite depth), evaluated as
    :math:`hi/\varphi_0(\log(hi/lo))` with :func:`divided_difference_ratio`.

    Parameters
    ----------
    a, b : array-like
        Squared singular values, ``>= 0``, broadcast together.

    Returns
    -------
    lam : ndarray, shape=[...] (broadcast of ``a`` and ``b``)

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Section 1 (infinite depth).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import log_mean
    >>> bool(np.isclose(log_mean(4.0, 1.0), 3.0 / np.log(4.0), rtol=1e-15))
    True
    """
    return _kernel_from_squares(a, b, 0.0, 1.0)


def _larger_and_phi(x, y, p, power):
    """``(max(x, y), phi_p(power * log(max/min)))`` elementwise."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    hi, lo = np.maximum(x, y), np.minimum(x, y)
    return hi, divided_difference_ratio(power * log_ratio(hi, lo), p)


def _kernel_from_squares(a, b, p, c):
    hi, phi = _larger_and_phi(a, b, p, 1.0)
    return c * hi ** (1.0 - p) / phi


class SpectralKernel:
    r"""Base class: a symmetric kernel :math:`k(a, b)` on squared singular values.

    Subclasses implement :meth:`__call__` (elementwise, broadcasting, for ``a, b >= 0``) and,
    for scale safety, set :attr:`degree`. Everything generic code needs is a method here:

    - :meth:`values` / :meth:`log_values`: :math:`k(\sigma_k^2, \sigma_l^2)` and its log from
      singular values (volumes use the log);
    - :meth:`eigenvalues`: the core matrix ``K`` [..., r, r] and the mixed values ``ell``
      [..., r] of a rank-r point (what :class:`~geodln.svd_frame.SVDFrame` multiplies by);
    - :meth:`degenerate_on_mixed`: whether :math:`k(a, 0) = 0`;
    - :meth:`differentiable_cometric`: the co-metric as an autograd-differentiable operator
      (for geodesics).

    The co-metric of the induced metric has eigenvalue :math:`k(\sigma_k^2, \sigma_l^2)` on
    ``u_k v_lᵀ`` (``sigma = 0`` beyond the rank). For a Riemannian metric on :math:`M_r` the
    kernel must be positive whenever one argument is positive; if :math:`k(a, 0) = 0` only
    full-rank points have a metric (the co-metric stays defined).

    Attributes
    ----------
    name : str
        Short label used in tables and plots.
    degree : float or None
        Homogeneity degree d, :math:`k(ca, cb) = c^d k(a, b)` for ``c > 0``, or ``None`` if
        unknown. With a degree the generic :meth:`values` and :meth:`log_values` call the
        kernel on arguments scaled to ``max = 1`` and restore the scale in floating point
        (exact at any scale); without one they call it on :math:`\sigma^2` directly (exact
        while :math:`\sigma^2` is a normal float).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.
    .. [2] GM24: Menon, arXiv:2411.09004, Section 1 (the Riemannian geometry of the DLN on the
       space of observables).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import SpectralKernel
    >>> class PowerMean(SpectralKernel):
    ...     degree = 1.0
    ...     def __call__(self, a, b):
    ...         return (0.5 * (np.sqrt(a) + np.sqrt(b))) ** 2
    >>> f"{float(PowerMean().values(3e150, 1e150)):.12e}"  # ((3e150 + 1e150) / 2)**2
    '4.000000000000e+300'
    >>> round(float(PowerMean().log_values(3e200, 1e200)), 6)  # log(4e400)
    922.420332
    """

    name = "kernel"
    degree = None

    def __call__(self, a, b):
        """Return :math:`k(a, b)` elementwise (a, b squared singular values)."""
        raise NotImplementedError

    # -- values from singular values -------------------------------------------------------
    def _scaled(self, s_k, s_l):
        """``(h, t)`` with ``h = max(s_k, s_l)`` (1 where 0) and ``t = k((s_k/h)², (s_l/h)²)``."""
        s_k = np.asarray(s_k, dtype=float)
        s_l = np.asarray(s_l, dtype=float)
        h = np.maximum(s_k, s_l)
        h = np.where(h > 0, h, 1.0)
        t = np.asarray(self((s_k / h) ** 2, (s_l / h) ** 2), dtype=float)
        return h, t

    def values(self, s_k, s_l):
        r"""Return :math:`k(\sigma_k^2, \sigma_l^2)` elementwise from singular values.

        Generic default: with :attr:`degree` d, :math:`h^{2d}\,k((\sigma_k/h)^2,
        (\sigma_l/h)^2)`, :math:`h = \max(\sigma_k, \sigma_l)`, computed as
        ``(t * h**d) * h**d`` (no intermediate overflow); without a degree, the kernel on the
        squares.

        Parameters
        ----------
        s_k, s_l : array-like
            Singular values ``>= 0`` (not squared), broadcast together.

        Returns
        -------
        lam : ndarray

        Examples
        --------
        >>> from geodln.spectral import EuclideanKernel
        >>> EuclideanKernel().values([1e-300, 2.0], 0.0).tolist()
        [1.0, 1.0]
        """
        if self.degree is None:
            s_k = np.asarray(s_k, dtype=float)
            s_l = np.asarray(s_l, dtype=float)
            with np.errstate(over="ignore", under="ignore"):
                return np.asarray(self(s_k**2, s_l**2), dtype=float)
        h, t = self._scaled(s_k, s_l)
        with np.errstate(over="ignore", under="ignore"):
            c = h**self.degree
            return (t * c) * c

    def log_values(self, s_k, s_l):
        r"""Return :math:`\log k(\sigma_k^2, \sigma_l^2)` elementwise, without over/underflow.

        Generic default: :math:`2d\log h + \log k((\sigma_k/h)^2, (\sigma_l/h)^2)` with a
        :attr:`degree`, else the log of the kernel on the squares. ``-inf`` where the kernel
        is 0.

        Parameters
        ----------
        s_k, s_l : array-like
            Singular values ``>= 0`` (not squared), broadcast together.

        Returns
        -------
        log_lam : ndarray

        Raises
        ------
        ValueError
            If the kernel returns negative or NaN values.

        Examples
        --------
        >>> from geodln.spectral import GeometricMeanKernel
        >>> float(GeometricMeanKernel().log_values(1e-300, 1e-300))
        -1381.5510557964274
        """
        if self.degree is None:
            s_k = np.asarray(s_k, dtype=float)
            s_l = np.asarray(s_l, dtype=float)
            with np.errstate(over="ignore", under="ignore"):
                val = np.asarray(self(s_k**2, s_l**2), dtype=float)
            scale = 0.0
        else:
            h, val = self._scaled(s_k, s_l)
            scale = 2.0 * self.degree * np.log(h)
        if np.any(val < 0) or np.any(np.isnan(val)):
            raise ValueError(f"kernel {self!r} returned negative or NaN values")
        with np.errstate(divide="ignore"):
            return scale + np.log(val)

    def eigenvalues(self, s, shape=None):
        r"""Co-metric eigenvalues of a rank-r point from its singular values.

        Parameters
        ----------
        s : array-like, shape=[..., r]
            The r leading singular values (any order, ``>= 0``).
        shape : tuple of int, optional
            ``(m, n)`` of the matrices; ``None`` or ``(r, r)`` means square full rank (no
            mixed blocks).

        Returns
        -------
        core : ndarray, shape=[..., r, r]
            :math:`K_{kl} = k(\sigma_k^2, \sigma_l^2)`.
        mixed : ndarray, shape=[..., r], or None
            :math:`\ell_k = k(\sigma_k^2, 0)`; ``None`` for square full-rank points.

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import ArithmeticMeanKernel
        >>> K, ell = ArithmeticMeanKernel().eigenvalues(np.array([2.0, 1.0]), shape=(3, 2))
        >>> K.tolist(), ell.tolist()
        ([[4.0, 2.5], [2.5, 1.0]], [2.0, 0.5])
        """
        s = np.asarray(s, dtype=float)
        core = np.asarray(self.values(s[..., :, None], s[..., None, :]), dtype=float)
        if _square_full_rank(s, shape):
            return core, None
        return core, np.asarray(self.values(s, np.zeros_like(s)), dtype=float)

    def degenerate_on_mixed(self):
        """Whether :math:`k(a, 0) = 0` for ``a > 0`` (mixed blocks of a rank-r point vanish).

        Returns
        -------
        degenerate : bool

        Examples
        --------
        >>> from geodln.spectral import DLNKernel, InfiniteDepthKernel
        >>> DLNKernel(3).degenerate_on_mixed(), InfiniteDepthKernel().degenerate_on_mixed()
        (False, True)
        """
        return bool(np.all(self.values(np.array([1.0, 2.0]), np.zeros(2)) == 0.0))

    def differentiable_cometric(self, rank=None, full_rank=True):
        r"""Co-metric :math:`(X, Z) \mapsto A_X(Z)` that autograd differentiates in X exactly.

        Geodesics need :math:`\partial_X \langle P, A_X(P)\rangle`. The generic default uses a
        user method ``cometric_operator(base_point, cotangent_vec, rank)`` written with
        ``autograd.numpy`` if the kernel has one; shipped kernels return a
        :class:`~geodln.geodesics.operators.PowerSumCometric`.

        Parameters
        ----------
        rank : int, optional
            Rank r of the base points.
        full_rank : bool
            Whether r = min(m, n).

        Returns
        -------
        operator : callable
            ``operator(base_point, cotangent_vec)``, batched ``[..., m, n]``.

        Raises
        ------
        NotImplementedError
            If the kernel has no differentiable form (a kernel given only by its values has
            no derivative in X that autograd could take), or the metric is not defined at
            rank-deficient points.

        References
        ----------
        .. [1] GEO25: "Geodesics in the DLN", arXiv:2510.07324 (co-metric Hamiltonian).

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> op = DLNKernel(2).differentiable_cometric()
        >>> x = np.diag([4.0, 1.0]); z = np.ones((2, 2))
        >>> np.round(op(x, z), 12).tolist()
        [[8.0, 5.0], [5.0, 2.0]]
        """
        custom = getattr(self, "cometric_operator", None)
        if callable(custom):
            keep = None if full_rank else rank
            return lambda x, z: custom(x, z, keep)
        raise NotImplementedError(
            f"no differentiable co-metric is known for {self!r}: geodesics need "
            "d/dX <P, A_X(P)>. Give the kernel a method cometric_operator(base_point, "
            "cotangent_vec, rank) written with autograd.numpy (e.g. a PowerSumCometric)."
        )

    def __repr__(self):
        return f"{type(self).__name__}()"


def _square_full_rank(s, shape):
    r = np.shape(s)[-1]
    return shape is None or (shape[0] == r and shape[1] == r)


def _power_sum(left, right, coefficients=None, rank=None):
    # lazy: geodln.geodesics imports this module (through geodln.matrix_power)
    from geodln.geodesics.operators import PowerSumCometric

    return PowerSumCometric(left, right, coefficients, rank)


class DLNKernel(SpectralKernel):
    r"""Kernel of the deep-linear-network metric :math:`g^N`.

    Parameters
    ----------
    depth : int or numpy.inf
        N >= 1; ``inf`` requires ``normalized=True`` (it is :class:`InfiniteDepthKernel`).
    normalized : bool
        ``False`` (default): plain sum :math:`A_{N,X}`, the exact quotient of the Frobenius
        metric on the balanced manifold (ACH18, BRTW21, GM24, MY25). ``True``: CMV23
        convention :math:`A_{N,X}/N`, which has a finite N → ∞ limit;
        :math:`g_{CMV} = N g_{plain}`.

    Raises
    ------
    ValueError
        If ``depth`` is not an integer >= 1 or ``inf``, or ``depth=inf`` without
        ``normalized=True``.

    Notes
    -----
    Homogeneous of degree :math:`1 - 1/N` in the squared singular values:
    :math:`A_{N,cX} = c^{2-2/N}A_{N,X}` (degree 1 at infinite depth). Values are
    :math:`c\,\sigma_{hi}^{2-2/N}/\varphi_{1/N}(2\log(\sigma_{hi}/\sigma_{lo}))` (see the module
    docstring): exact at any scale, at ties and at zeros.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import DLNKernel
    >>> kernel = DLNKernel(3)
    >>> float(kernel(2.0, 2.0)) == float(kernel.values(np.sqrt(2.0), np.sqrt(2.0)))
    True
    >>> f"{float(kernel.values(1e-200, 1e-200)):.6e}"  # 3 * (1e-200)**(4/3), representable
    '6.463304e-267'
    """

    def __init__(self, depth, normalized=False):
        self.depth = check_depth(depth)
        self.normalized = check_bool(normalized, "normalized")
        if self.depth == np.inf and not self.normalized:
            raise ValueError(
                "depth=inf requires normalized=True: the plain sum A_{N,X} diverges as "
                "N -> inf, only A/N (CMV convention) has a limit"
            )
        self.name = f"N={depth}" + (" (A/N)" if normalized and depth != np.inf else "")
        self._p, self._c = _dln_parameters(self.depth, self.normalized)
        self.degree = 1.0 - self._p

    def __call__(self, a, b):
        """Return :math:`\\lambda(a, b)` on squared singular values (divided by N if normalised)."""
        return _kernel_from_squares(a, b, self._p, self._c)

    def values(self, s_k, s_l):
        r"""Return :math:`k(\sigma_k^2, \sigma_l^2)` from singular values, exact at any scale.

        Parameters
        ----------
        s_k, s_l : array-like
            Singular values ``>= 0``, broadcast together.

        Returns
        -------
        lam : ndarray

        Examples
        --------
        >>> from geodln.spectral import DLNKernel
        >>> float(DLNKernel(2).values(2e150, 1e150))
        3e+150
        """
        hi, phi = _larger_and_phi(s_k, s_l, self._p, 2.0)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            out = self._c * hi ** (2.0 * self.degree) / phi
        # phi = inf only where the kernel vanishes (infinite depth, one argument 0): 0 also
        # where hi**(2 - 2/N) overflows (inf / inf)
        return np.where(phi == np.inf, 0.0, out)

    def log_values(self, s_k, s_l):
        r"""Return :math:`\log k(\sigma_k^2, \sigma_l^2)`, never over- or underflowing.

        :math:`\log c + 2(1 - p)\log\sigma_{hi} - \log\varphi_p(w)`; ``-inf`` where the
        kernel is 0 (both arguments 0 for N >= 2, one argument 0 at infinite depth).

        Parameters
        ----------
        s_k, s_l : array-like
            Singular values ``>= 0``, broadcast together.

        Returns
        -------
        log_lam : ndarray

        Examples
        --------
        >>> from geodln.spectral import DLNKernel
        >>> round(float(DLNKernel(2).log_values(1e-300, 1e-300)), 6)  # log(2e-300)
        -690.082381
        """
        hi, phi = _larger_and_phi(s_k, s_l, self._p, 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = 2.0 * self.degree * np.log(hi) if self.degree else np.zeros(hi.shape)
            return np.log(self._c) + scale - np.log(phi)

    def eigenvalues(self, s, shape=None):
        r"""Core and mixed co-metric eigenvalues from singular values (one flow step's work).

        Per-value logs and powers, then pairwise: :math:`w_{kl} = 2|\log\sigma_k -
        \log\sigma_l|` and :math:`K_{kl} = \max(c\,\sigma_k^{2q}, c\,\sigma_l^{2q})/
        \varphi_p(w_{kl})`, :math:`q = 1 - p`. The absolute error of ``w`` is
        :math:`O(\epsilon|\log\sigma|)` and :math:`|\partial_w\log\varphi_p| \le 1/2`, so the
        relative error is a few :math:`\epsilon(1 + |\log\sigma|)` (below :math:`10^{-13}` on
        :math:`[10^{-150}, 10^{150}]`). Mixed: :math:`\ell_k = c\,p\,\sigma_k^{2q}` (0 at
        infinite depth).

        Parameters
        ----------
        s : array-like, shape=[..., r]
            Singular values ``>= 0``.
        shape : tuple of int, optional
            ``(m, n)``; ``None`` or ``(r, r)``: square full rank (``mixed`` is ``None``).

        Returns
        -------
        core : ndarray, shape=[..., r, r]
        mixed : ndarray, shape=[..., r], or None

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> K, ell = DLNKernel(2).eigenvalues(np.array([2.0, 1.0]), shape=(2, 3))
        >>> np.round(K, 12).tolist(), ell.tolist()
        ([[4.0, 3.0], [3.0, 2.0]], [2.0, 1.0])
        """
        # K = max(c p s_k^2q, c p s_l^2q) / (p phi_p(w)), p phi_p = expm1(p y) / expm1(y),
        # y = -w: the same arithmetic as divided_difference_ratio, inlined with the constant
        # c p folded into the per-value powers (this is the flows' hot path: 13 ufunc calls)
        s = np.asarray(s, dtype=float)
        if s.ndim == 1 and s.shape[0] <= _SCALAR_MAX_RANK:
            return self._eigenvalues_scalar(s, shape)
        p = self._p
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            ls = np.log(s)
            y = np.abs(ls[..., :, None] - ls[..., None, :])
            y *= -2.0
            y = np.fmin(y, -_W_TIE, out=y)  # NaN (0 vs 0) -> a tie
            sp = s ** (2.0 * self.degree)
            if p == 0:
                ratio = np.expm1(y)
                ratio /= y  # 1/phi_0; 0 for a zero argument
            else:
                sp *= self._c * p
                ratio = np.expm1(y)
                ratio /= np.expm1(p * y)  # 1/(p phi_p); 1 for a zero argument
            core = np.maximum(sp[..., :, None], sp[..., None, :])
            core *= ratio
        if _square_full_rank(s, shape):
            return core, None
        return core, sp if p else np.zeros_like(sp)

    def _eigenvalues_scalar(self, s, shape):
        r"""Return :meth:`eigenvalues` of one point of rank <= 3 with Python floats.

        The same arithmetic as the vectorised path: per value :math:`\sigma^{2q}`, per pair
        ``expm1(y) / expm1(p y)`` with :math:`y = -2\log(\sigma_{hi}/\sigma_{lo})` from
        ``log1p``; no ufunc overhead (a few pairs per flow step).
        """
        values = s.tolist()
        r = len(values)
        p, c, two_q = self._p, self._c, 2.0 * self.degree
        powers = []
        for a in values:
            try:
                powers.append(a**two_q)
            except OverflowError:
                powers.append(math.inf)
        cp = c * p if p else 1.0
        core = [c * w for w in powers]  # the diagonal: k(a, a) = c a^q
        if r > 1:
            core = [core[k] if k == j else 0.0 for k in range(r) for j in range(r)]
            for k in range(r):
                for j in range(k + 1, r):
                    a, b = values[k], values[j]
                    hi, lo, w = (a, b, powers[k]) if a >= b else (b, a, powers[j])
                    if lo > 0.0:
                        y = min(-2.0 * math.log1p((hi - lo) / lo), -_W_TIE)
                        ratio = math.expm1(y) / (math.expm1(p * y) if p else y)
                    else:
                        ratio = 1.0 if p else 0.0
                    core[k * r + j] = core[j * r + k] = cp * w * ratio
        core = np.array(core).reshape(r, r)
        if shape is None or (shape[0] == r and shape[1] == r):
            return core, None
        return core, np.array([cp * w for w in powers]) if p else np.zeros(r)

    def degenerate_on_mixed(self):
        """Whether the kernel vanishes on the mixed blocks: only at infinite depth.

        Returns
        -------
        degenerate : bool

        Examples
        --------
        >>> from geodln.spectral import DLNKernel
        >>> DLNKernel(8).degenerate_on_mixed()
        False
        """
        return self._p == 0.0

    def differentiable_cometric(self, rank=None, full_rank=True):
        r"""Return :math:`A_{N,X}` as an autograd-differentiable sum of powers of Gram matrices.

        Finite N: :class:`~geodln.geodesics.operators.DLNCometric`
        :math:`\sum_j L^{(N-j)/N} Z R^{(j-1)/N}`; infinite depth:
        :class:`~geodln.geodesics.operators.InfiniteDepthCometric` (Gauss–Legendre).

        Parameters
        ----------
        rank : int, optional
            Rank r of the base points.
        full_rank : bool
            Whether r = min(m, n).

        Returns
        -------
        operator : callable

        Raises
        ------
        NotImplementedError
            Infinite depth or depth 1 at r < min(m, n) (no metric, resp. no power-sum form).

        References
        ----------
        .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
        .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Section 1 (infinite depth).

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import DLNKernel
        >>> op = DLNKernel(3).differentiable_cometric()
        >>> bool(np.allclose(op(np.eye(2), np.ones((2, 2))), 3 * np.ones((2, 2))))
        True
        """
        from geodln.geodesics.operators import DLNCometric, InfiniteDepthCometric

        if self.depth == np.inf:
            if not full_rank:
                raise NotImplementedError(
                    "the infinite-depth metric is degenerate at rank-deficient points "
                    "(its kernel vanishes on the mixed blocks): no geodesics on M_r, r < min(m, n)"
                )
            return InfiniteDepthCometric()
        if self.depth == 1 and not full_rank:
            raise NotImplementedError(
                "depth 1 (Euclidean metric restricted to M_r) at r < min(m, n): its co-metric "
                "is the tangent projection, which has no power-sum form"
            )
        return DLNCometric(self.depth, self.normalized, None if full_rank else rank)

    def __repr__(self):
        return f"DLNKernel(depth={self.depth}, normalized={self.normalized})"


class InfiniteDepthKernel(DLNKernel):
    """Infinite-depth (normalised) kernel: the logarithmic mean (CMV23).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Section 1 (infinite depth).

    Examples
    --------
    >>> from geodln.spectral import InfiniteDepthKernel
    >>> float(InfiniteDepthKernel().values(1e100, 1e100))
    1e+200
    """

    def __init__(self):
        super().__init__(np.inf, normalized=True)
        self.name = "N=inf"

    def __repr__(self):
        return "InfiniteDepthKernel()"


class EuclideanKernel(SpectralKernel):
    """Constant kernel 1: the Euclidean (Frobenius) metric restricted to :math:`M_r`.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (at depth N = 1 the
       end-to-end update is plain gradient descent: the Euclidean metric).

    Examples
    --------
    >>> from geodln.spectral import EuclideanKernel
    >>> float(EuclideanKernel().values(1e300, 0.0))
    1.0
    """

    name = "Euclidean"
    degree = 0.0

    def __call__(self, a, b):
        """Return ones."""
        return np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape)

    def differentiable_cometric(self, rank=None, full_rank=True):
        """Return the identity co-metric (full rank only), differentiable in X.

        Parameters
        ----------
        rank : int, optional
        full_rank : bool

        Returns
        -------
        operator : callable

        Raises
        ------
        NotImplementedError
            At r < min(m, n) (the tangent projection has no power-sum form).

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import EuclideanKernel
        >>> EuclideanKernel().differentiable_cometric()(np.eye(2), np.ones((2, 2))).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
        """
        if not full_rank:
            raise NotImplementedError(
                "the Euclidean kernel at r < min(m, n) has no power-sum co-metric"
            )
        return _power_sum([0.0], [0.0])


class ArithmeticMeanKernel(SpectralKernel):
    r"""Arithmetic-mean kernel :math:`(a^p + b^p)/2` (a prototyping example).

    With ``p = 1`` the co-metric is :math:`Z \mapsto (XX^\top Z + Z X^\top X)/2`, the N = 2
    DLN co-metric up to a factor 2 and the symmetric cross term. Homogeneous of degree p.

    Parameters
    ----------
    power : float
        The power p.

    Raises
    ------
    ValueError
        If ``power`` is not a finite real number (bools are not numbers).

    References
    ----------
    .. [1] BJL19: Bhatia, Jain, Lim, arXiv:1712.01504, Section 1, Eq. (1) (the Bures–Wasserstein
       distance, a Riemannian metric on positive definite matrices; these kernels are
       prototypes in the same family, not formulas of the paper).

    Examples
    --------
    >>> from geodln.spectral import ArithmeticMeanKernel
    >>> float(ArithmeticMeanKernel().values(3e150, 1e150))  # (9e300 + 1e300) / 2
    5e+300
    """

    def __init__(self, power=1.0):
        self.power = check_finite_real(power, "power")
        self.degree = self.power
        self.name = f"arith(p={self.power:g})"

    def __call__(self, a, b):
        """Return the arithmetic mean of ``a**p`` and ``b**p``."""
        return 0.5 * (np.asarray(a, float) ** self.power + np.asarray(b, float) ** self.power)

    def differentiable_cometric(self, rank=None, full_rank=True):
        r""":math:`(L^p Z + Z R^p)/2` as a power sum.

        Parameters
        ----------
        rank : int, optional
        full_rank : bool

        Returns
        -------
        operator : callable

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import ArithmeticMeanKernel
        >>> op = ArithmeticMeanKernel().differentiable_cometric()
        >>> np.round(op(np.diag([2.0, 1.0]), np.ones((2, 2))), 12).tolist()
        [[4.0, 2.5], [2.5, 1.0]]
        """
        p = self.power
        return _power_sum([p, 0.0], [0.0, p], [0.5, 0.5], None if full_rank else rank)


class GeometricMeanKernel(SpectralKernel):
    r"""Geometric-mean kernel :math:`(ab)^{p/2}` (a prototyping example).

    It vanishes on mixed blocks, so its metric lives on full-rank points only. Homogeneous of
    degree p; values are :math:`\sigma_k^p\sigma_l^p` (exact at any scale).

    Parameters
    ----------
    power : float
        The power p.

    Raises
    ------
    ValueError
        If ``power`` is not a finite real number (bools are not numbers).

    References
    ----------
    .. [1] BJL19: Bhatia, Jain, Lim, arXiv:1712.01504, Section 1, Eq. (1) (the Bures–Wasserstein
       distance, a Riemannian metric on positive definite matrices; these kernels are
       prototypes in the same family, not formulas of the paper).

    Examples
    --------
    >>> from geodln.spectral import GeometricMeanKernel
    >>> float(GeometricMeanKernel().values(1e200, 1e-200))
    1.0
    """

    def __init__(self, power=1.0):
        self.power = check_finite_real(power, "power")
        self.degree = self.power
        self.name = f"geom(p={self.power:g})"

    def __call__(self, a, b):
        """Return ``(a b)**(p/2)``."""
        return (np.asarray(a, float) * np.asarray(b, float)) ** (0.5 * self.power)

    def values(self, s_k, s_l):
        r"""Return :math:`\sigma_k^p\sigma_l^p`.

        Parameters
        ----------
        s_k, s_l : array-like
            Singular values ``>= 0``.

        Returns
        -------
        lam : ndarray

        Examples
        --------
        >>> from geodln.spectral import GeometricMeanKernel
        >>> float(GeometricMeanKernel(2.0).values(3.0, 1e-160))
        9e-320
        """
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(s_k, float) ** self.power * np.asarray(s_l, float) ** self.power

    def differentiable_cometric(self, rank=None, full_rank=True):
        r""":math:`L^{p/2} Z R^{p/2}` as a power sum (full rank only).

        Parameters
        ----------
        rank : int, optional
        full_rank : bool

        Returns
        -------
        operator : callable

        Raises
        ------
        NotImplementedError
            At r < min(m, n): the kernel vanishes on the mixed blocks.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import GeometricMeanKernel
        >>> op = GeometricMeanKernel().differentiable_cometric()
        >>> np.round(op(np.diag([4.0, 1.0]), np.ones((2, 2))), 12).tolist()
        [[16.0, 4.0], [4.0, 1.0]]
        """
        if not full_rank:
            raise NotImplementedError(
                "the geometric-mean kernel vanishes on the mixed blocks: no metric at "
                "rank-deficient points"
            )
        p = 0.5 * self.power
        return _power_sum([p], [p])


class CallableKernel(SpectralKernel):
    """Wrap a user function ``k(a, b)`` (numpy, elementwise) as a :class:`SpectralKernel`.

    Parameters
    ----------
    func : callable
        ``func(a, b) -> array`` on squared singular values, symmetric, positive when
        ``max(a, b) > 0``.
    name : str, optional
        Label for tables and plots.
    degree : float, optional
        Homogeneity degree, :math:`k(ca, cb) = c^d k(a, b)`: makes every method exact at any
        scale (see :attr:`SpectralKernel.degree`).

    Raises
    ------
    ValueError
        If ``func`` is not callable, not symmetric (``func(a, b) != func(b, a)`` at a few
        sample points: a co-metric's kernel is symmetric), or ``degree`` is not a finite number.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (spectral co-metrics).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import CallableKernel
    >>> kernel = CallableKernel(lambda a, b: 0.5 * (a + b), name="mean", degree=1)
    >>> f"{float(kernel.values(1e150, 1e150)):.12e}"
    '1.000000000000e+300'
    """

    def __init__(self, func, name=None, degree=None):
        if not callable(func):
            raise ValueError(f"func must be callable, got {type(func).__name__}")
        check_symmetric_kernel(func, "func")
        if degree is not None:
            degree = check_finite_real(degree, "degree")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string or None, got {type(name).__name__}")
        self.func = func
        self.degree = degree
        self.name = name or getattr(func, "__name__", "user kernel")

    def __call__(self, a, b):
        """Evaluate the wrapped function; refuse non-finite or non-numeric values.

        Parameters
        ----------
        a, b : array-like
            Squared singular values ``>= 0``, broadcast together.

        Returns
        -------
        values : ndarray
            ``func(a, b)`` as floats.

        Raises
        ------
        ValueError
            If ``func`` returns something that is not a real array broadcastable with
            ``a, b``, or NaN anywhere, or ``±inf`` where ``max(a, b) > 0`` while
            :attr:`degree` is set (the generic code then calls it on arguments scaled to
            ``max = 1``, where a valid kernel is finite; without a degree, ``inf`` is left
            as the overflow of a large value). The message names the ``kernel``.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.spectral import CallableKernel
        >>> CallableKernel(lambda a, b: a + b)(1.0, 2.0).tolist()
        3.0
        """
        a, b = np.asarray(a, float), np.asarray(b, float)
        try:
            out = np.asarray(self.func(a, b), dtype=float)
            shape = np.broadcast_shapes(out.shape, a.shape, b.shape)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"kernel {self!r}: func(a, b) must return real numbers "
                             f"broadcast with a and b ({exc})") from None
        bad = np.isnan(out)
        if self.degree is not None:
            big = np.broadcast_to(np.maximum(a, b) > 0, shape)
            bad = bad | (np.isinf(out) & big)
        if np.any(bad):
            where = np.argwhere(np.broadcast_to(bad, shape))[0]
            at = tuple(int(i) for i in where)
            a0 = float(np.broadcast_to(a, shape)[at])
            b0 = float(np.broadcast_to(b, shape)[at])
            hint = ("a kernel must be finite and positive where max(a, b) > 0"
                    if np.isfinite(a0) and np.isfinite(b0) else
                    "the squared singular values overflowed; give the kernel its homogeneity "
                    "degree (CallableKernel(func, degree=d)) to evaluate it at any scale")
            raise ValueError(
                f"kernel {self!r} returned non-finite values (NaN or inf), e.g. "
                f"func({a0:.6g}, {b0:.6g}) = {float(np.broadcast_to(out, shape)[at])}: {hint}"
            )
        return out

    def __repr__(self):
        return f"CallableKernel({self.name!r})"
