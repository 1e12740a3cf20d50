r"""Spectral kernels of metrics on rank-r matrices and their stable evaluation.

Every metric in geodln is diagonal in the singular basis of its base point
:math:`X = U\Sigma V^\top`: the co-metric ("sharp" map) acts on the coordinates
:math:`(U^\top Z V)_{kl}` of a covector by multiplication with eigenvalues

.. math:: \lambda_{kl} = k(\sigma_k^2, \sigma_l^2),

where :math:`k` is a symmetric *spectral kernel* and :math:`\sigma_l = 0` for indices
beyond the rank (CMV23, Lemma 2.4, for the DLN kernel). For a rank-r point the three blocks of
:math:`T_X M_r` are then

- core ``U M Vᵀ``: eigenvalues :math:`k(\sigma_k^2, \sigma_l^2)`, :math:`k, l \le r`;
- mixed ``U_⊥ B Vᵀ`` and ``U C V_⊥ᵀ``: eigenvalues :math:`k(\sigma_k^2, 0)`;
- normal ``U_⊥ D V_⊥ᵀ``: annihilated (the co-metric maps onto :math:`T_X M_r`).

The deep-linear-network kernel of depth N (plain sum, ACH/BRTW/GM/MY convention) is

.. math:: k_N(a, b) = \sum_{j=1}^N a^{(N-j)/N} b^{(j-1)/N}
          = \frac{a - b}{a^{1/N} - b^{1/N}}, \qquad k_N(a, a) = N a^{1 - 1/N},

the CMV normalisation divides it by N, and its N → ∞ limit is the logarithmic mean
:math:`(a - b)/(\log a - \log b)` (CMV). The closed forms cancel catastrophically when
:math:`a \approx b`, which is the *normal* case here (identity and balanced starts); the
kernels below are evaluated in a form that is accurate to a few ulps for every
:math:`a, b \ge 0`, including exact ties and zeros.

A user defines a new metric by subclassing :class:`SpectralKernel` (or wrapping a function
with :class:`CallableKernel`) and passing it to :class:`geodln.SpectralMetric`.

Abbreviations: ACH = Arora, Cohen, Hazan (ACH18); BRTW = Bah, Rauhut, Terstiege, Westdickenberg
(BRTW21); CMV = Cohen, Menon, Veraszto (CMV23); GM = Menon, "The geometry of the deep linear
network" (GM24); MY = Menon, Yu (MY25).
"""

import numpy as np

from geodln._checks import check_depth

__all__ = [
    "SpectralKernel",
    "DLNKernel",
    "InfiniteDepthKernel",
    "EuclideanKernel",
    "CallableKernel",
    "ArithmeticMeanKernel",
    "GeometricMeanKernel",
    "dln_kernel",
    "log_mean",
]


def _ordered(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return np.maximum(a, b), np.minimum(a, b)


def _log_ratio(hi, lo):
    """``log(hi / lo)`` for ``hi >= lo >= 0``, accurate when the two are close; inf if lo = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(lo > 0, (hi - lo) / np.where(lo > 0, lo, 1.0), np.inf)
        return np.log1p(rel)


def dln_kernel(a, b, depth):
    r"""Evaluate :math:`k_N(a, b) = \sum_{j=1}^N a^{(N-j)/N} b^{(j-1)/N}` stably.

    With ``hi = max(a, b)``, ``lo = min(a, b)`` and :math:`u = \log(hi/lo)/N`,
    :math:`k_N = hi^{(N-1)/N}\,(1 - e^{-Nu})/(1 - e^{-u})`, evaluated with ``expm1`` and
    ``log1p``; the ratio tends to N at ``u = 0`` and to 1 when ``lo = 0``. Convention
    :math:`0^0 = 1` (identity, not the range projector), so ``k_1 = 1`` everywhere.

    Parameters
    ----------
    a, b : array-like
        Squared singular values, ``>= 0``, broadcast together.
    depth : int
        N >= 1.

    Returns
    -------
    lam : ndarray
        The plain-sum eigenvalues :math:`\lambda_{kl}` of :math:`A_{N,X}` (CMV Lemma 2.4).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    """
    N = depth
    hi, lo = _ordered(a, b)
    if N == 1:
        return np.ones(np.broadcast(hi, lo).shape)
    w = _log_ratio(hi, lo)
    u = w / N
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(u > 0, np.expm1(-N * u) / np.expm1(-u), float(N))
        ratio = np.where(np.isinf(u), 1.0, ratio)
        power = np.where(hi > 0, hi, 1.0) ** ((N - 1) / N)
    return np.where(hi > 0, power * ratio, 0.0)


def log_mean(a, b):
    r"""Logarithmic mean :math:`(a - b)/(\log a - \log b)`; ``L(a, a) = a``, ``L(a, 0) = 0``.

    This is the N → ∞ limit of :math:`k_N/N` (CMV, infinite depth); evaluated as
    :math:`hi \cdot (1 - e^{-w})/w`, :math:`w = \log(hi/lo)`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497 (infinite-depth limit of
       :math:`A_{N,X}/N`, logarithmic-mean eigenvalues).
    """
    hi, lo = _ordered(a, b)
    w = _log_ratio(hi, lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(w > 0, hi * (-np.expm1(-w)) / np.where(w > 0, w, 1.0), hi)
    return np.where(np.isinf(w), 0.0, val)


class SpectralKernel:
    r"""Base class: a symmetric kernel :math:`k(a, b)` on squared singular values.

    Subclasses implement :meth:`__call__` (elementwise, broadcasting, for ``a, b >= 0``).
    The co-metric of the induced metric has eigenvalue :math:`k(\sigma_k^2, \sigma_l^2)` on
    ``u_k v_lᵀ`` (``sigma = 0`` beyond the rank). For the metric to be a Riemannian metric on
    :math:`M_r` the kernel must be positive whenever at least one argument is positive;
    :meth:`degenerate_on_mixed` says whether ``k(a, 0) = 0`` (then only full-rank points have a
    metric, the co-metric stays defined).

    Attributes
    ----------
    name : str
        Short label used in tables and plots.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    A new metric needs only the kernel:

    >>> from geodln.spectral import SpectralKernel
    >>> class HarmonicMean(SpectralKernel):
    ...     name = "harmonic mean"
    ...     def __call__(self, a, b):
    ...         return 2 * a * b / (a + b)
    >>> HarmonicMean().pairwise([4.0, 1.0], [4.0, 1.0])
    array([[4. , 1.6],
           [1.6, 1. ]])
    """

    name = "kernel"

    def __call__(self, a, b):
        """Return :math:`k(a, b)` elementwise."""
        raise NotImplementedError

    def pairwise(self, a, b):
        """Matrix ``k(a_k, b_l)`` [..., r, q] of rows ``a`` [..., r] and columns ``b`` [..., q].

        The default evaluates :meth:`__call__` on the broadcast grid; kernels override it to
        share per-singular-value work across the r×q pairs (one co-metric per flow step).
        """
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        return np.asarray(self(a[..., :, None], b[..., None, :]), dtype=float)

    def degenerate_on_mixed(self):
        """Whether :math:`k(a, 0) = 0` for ``a > 0`` (mixed blocks of a rank-r point vanish)."""
        return bool(np.all(np.asarray(self(np.array([1.0, 4.0]), np.zeros(2))) == 0.0))

    def __repr__(self):
        return f"{type(self).__name__}()"


class DLNKernel(SpectralKernel):
    r"""Kernel of the deep-linear-network metric :math:`g^N` (ACH18, Theorem 1; CMV23, Lemma 2.4).

    Parameters
    ----------
    depth : int or numpy.inf
        N >= 1; ``inf`` requires ``normalized=True`` (it is :class:`InfiniteDepthKernel`).
    normalized : bool
        ``False`` (default): plain sum :math:`A_{N,X}`, the exact quotient of the Frobenius
        metric on the balanced manifold (ACH, BRTW, GM, MY). ``True``: CMV convention
        :math:`A_{N,X}/N`, which has a finite N → ∞ limit; :math:`g_{CMV} = N g_{plain}`.

    Raises
    ------
    ValueError
        If ``depth`` is not an integer >= 1 (or ``numpy.inf`` where allowed); otherwise with the
        message ``depth=inf requires normalized=True: the plain sum A_{N,X} diverges as N ->
        inf, only A/N (CMV convention) has a limit``.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    For N = 2, :math:`k(a, b) = (a - b)/(\sqrt a - \sqrt b) = \sqrt a + \sqrt b`:

    >>> import geodln
    >>> float(geodln.DLNKernel(2)(4.0, 1.0)), float(geodln.DLNKernel(2)(4.0, 4.0))
    (3.0, 4.0)
    """

    def __init__(self, depth, normalized=False):
        self.depth = check_depth(depth)
        self.normalized = bool(normalized)
        if self.depth == np.inf and not self.normalized:
            raise ValueError(
                "depth=inf requires normalized=True: the plain sum A_{N,X} diverges as "
                "N -> inf, only A/N (CMV convention) has a limit"
            )
        self.name = f"N={depth}" + (" (A/N)" if normalized and depth != np.inf else "")

    def __call__(self, a, b):
        """Return :math:`\\lambda(a, b)` (divided by N if normalised)."""
        if self.depth == np.inf:
            return log_mean(a, b)
        lam = dln_kernel(a, b, self.depth)
        return lam / self.depth if self.normalized else lam

    def pairwise(self, a, b):
        r"""Matrix :math:`k(a_k, b_l)` with logarithms and powers computed once per argument.

        Same stable form as :func:`dln_kernel` / :func:`log_mean`, but the ratio argument is
        :math:`w = |\log a_k - \log b_l|` from per-value logarithms: the error of ``w`` is
        :math:`O(\epsilon |\log a|)` absolute, and the ratio's derivative in ``w`` is bounded,
        so the result keeps a relative accuracy of a few :math:`\epsilon |\log a|`.
        """
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        N = self.depth
        shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1]) + (a.shape[-1], b.shape[-1])
        if N == 1:
            return np.ones(shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            la, lb = np.log(a), np.log(b)
            w = np.abs(la[..., :, None] - lb[..., None, :])  # inf: one zero; nan: both zero
            if N == np.inf:
                hi = np.maximum(a[..., :, None], b[..., None, :])
                return np.where(w > 0, hi * (-np.expm1(-w)) / w, hi)
            # separated pairs: the closed form (a - b)/(a^(1/N) - b^(1/N)) loses at most
            # log10(1/u) digits to cancellation, u = |log a - log b|/N; ties, near ties
            # (u < 1e-2) and zeros take the expm1 form below.
            xa, xb = np.exp(la / N), np.exp(lb / N)
            lam = (a[..., :, None] - b[..., None, :]) / (xa[..., :, None] - xb[..., None, :])
            close = ~(w >= 1e-2 * N) | ~np.isfinite(lam)
            if np.any(close):
                lam = np.broadcast_to(lam, shape).copy()
                idx = np.nonzero(np.broadcast_to(close, shape))
                w_c = np.broadcast_to(w, shape)[idx]
                top = (N - 1) / N
                pa = np.broadcast_to(np.exp(top * la)[..., :, None], shape)[idx]
                pb = np.broadcast_to(np.exp(top * lb)[..., None, :], shape)[idx]
                ratio = np.where(w_c > 0, np.expm1(-w_c) / np.expm1(-w_c / N), float(N))
                lam[idx] = np.maximum(pa, pb) * ratio
        return lam / N if self.normalized else lam

    def __repr__(self):
        return f"DLNKernel(depth={self.depth}, normalized={self.normalized})"


class InfiniteDepthKernel(DLNKernel):
    """Infinite-depth (normalised) kernel: the logarithmic mean (CMV).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497 (infinite-depth limit of
       :math:`A_{N,X}/N`, logarithmic-mean eigenvalues).

    Examples
    --------
    The logarithmic mean :math:`(a - b)/(\\log a - \\log b)`:

    >>> import geodln
    >>> value = geodln.InfiniteDepthKernel()(np.e**2, 1.0)
    >>> bool(np.isclose(value, (np.e**2 - 1) / 2))
    True
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
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    >>> import geodln
    >>> geodln.EuclideanKernel().pairwise([4.0, 1.0], [2.0, 0.0])
    array([[1., 1.],
           [1., 1.]])
    """

    name = "Euclidean"

    def __call__(self, a, b):
        """Return ones."""
        return np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape)


class ArithmeticMeanKernel(SpectralKernel):
    r"""Arithmetic-mean kernel :math:`(a^p + b^p)/2` (a prototyping example).

    With ``p = 1`` the co-metric is :math:`Z \mapsto (XX^\top Z + Z X^\top X)/2`, the N = 2
    DLN co-metric up to a factor 2 and the symmetric cross term.

    References
    ----------
    .. [1] BJL19: Bhatia, Jain, Lim, arXiv:1712.01504 (Bures–Wasserstein geometry; the N = 2
       operator :math:`XX^\top Z + Z X^\top X`).
    """

    def __init__(self, power=1.0):
        self.power = float(power)
        self.name = f"arith(p={self.power:g})"

    def __call__(self, a, b):
        """Return the arithmetic mean of ``a**p`` and ``b**p``."""
        return 0.5 * (np.asarray(a, float) ** self.power + np.asarray(b, float) ** self.power)


class GeometricMeanKernel(SpectralKernel):
    r"""Geometric-mean kernel :math:`(ab)^{p/2}` (a prototyping example).

    It vanishes on mixed blocks, so its metric lives on full-rank points only.

    References
    ----------
    .. [1] BJL19: Bhatia, Jain, Lim, arXiv:1712.01504 (Bures–Wasserstein geometry; the N = 2
       operator :math:`XX^\top Z + Z X^\top X`).
    """

    def __init__(self, power=1.0):
        self.power = float(power)
        self.name = f"geom(p={self.power:g})"

    def __call__(self, a, b):
        """Return ``(a b)**(p/2)``."""
        return (np.asarray(a, float) * np.asarray(b, float)) ** (0.5 * self.power)


class CallableKernel(SpectralKernel):
    """Wrap a user function ``k(a, b)`` (numpy, elementwise) as a :class:`SpectralKernel`.

    Parameters
    ----------
    func : callable
        ``func(a, b) -> array``, symmetric, positive when ``max(a, b) > 0``.
    name : str, optional
        Label for tables and plots.

    Raises
    ------
    ValueError
        With the message ``func must be callable, got …``.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    >>> import geodln
    >>> kernel = geodln.CallableKernel(lambda a, b: (a + b) / 2, name="arithmetic mean")
    >>> float(kernel(4.0, 2.0))
    3.0
    """

    def __init__(self, func, name=None):
        if not callable(func):
            raise ValueError(f"func must be callable, got {type(func).__name__}")
        self.func = func
        self.name = name or getattr(func, "__name__", "user kernel")

    def __call__(self, a, b):
        """Evaluate the wrapped function."""
        return np.asarray(self.func(np.asarray(a, float), np.asarray(b, float)), dtype=float)

    def __repr__(self):
        return f"CallableKernel({self.name!r})"
