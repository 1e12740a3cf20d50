r"""Menon–Yu entropy: the volume of the fiber (group orbit) over a point, and its gradient.

Menon and Yu (MY, [1]_) define the Boltzmann entropy of a deep linear network as the logarithm
of the volume of the set of balanced factorisations of the end-to-end matrix. For a square
full-rank :math:`X = U\Sigma V^\top \in \mathbb{R}^{d\times d}` and depth N with all hidden
widths d, the balanced factorisations of X form one orbit
:math:`\mathcal{O}_X` of :math:`O_d^{N-1}` acting by
:math:`W_p \mapsto Q_p W_p Q_{p-1}^\top` (:math:`Q_0 = Q_N = I`). Its volume in the Frobenius
metric of the factors is ([1]_, Theorem 4)

.. math:: \mathrm{vol}(\mathcal{O}_X) = c_d^{N-1}\prod_{i<j}\sqrt{\lambda_{ij}},\qquad
          \lambda_{ij} = k_N(\sigma_i^2, \sigma_j^2)
          = \frac{\sigma_i^2 - \sigma_j^2}{\sigma_i^{2/N} - \sigma_j^{2/N}},

where :math:`\lambda_{ij}` is the *plain* DLN kernel (an off-diagonal eigenvalue of
:math:`A_{N,X}`) and

.. math:: c_d = \mathrm{vol}(O_d) = \frac{2^{d(d-1)/4}\, 2^d\, \pi^{d(d+1)/4}}
          {\prod_{k=1}^d\Gamma(k/2)}

is the volume of the whole orthogonal group (both components) in the metric
:math:`\mathrm{tr}(\xi^\top\eta)` induced from the Frobenius metric on
:math:`\mathbb{R}^{d\times d}` (:math:`c_1 = 2`, :math:`c_2 = 4\sqrt2\pi`,
:math:`c_3 = 2^{11/2}\pi^2`). *Convention:* this normalisation of :math:`c_d` is geodln's and is
stated here because a different normalisation only shifts S by a constant. Derivation: the orbit map
:math:`\Omega \mapsto (\Omega_p W_p - W_p\Omega_{p-1})_p` has, per pair (i, j), an
(N−1)×(N−1) tridiagonal Gram block (diagonal :math:`\lambda_i^2 + \lambda_j^2`, off-diagonal
:math:`-\lambda_i\lambda_j`, :math:`\lambda = \sigma^{1/N}`, on an orthonormal basis of
:math:`\mathfrak{so}(d)`) with determinant :math:`\lambda_{ij}`; the action is free at full
rank, so the orbit volume is :math:`c_d^{N-1}\sqrt{\det}`.

The entropy is :math:`S(X) = \log\mathrm{vol}(\mathcal{O}_X)`.

**Finite, not divergent.** The orbit volume is finite at repeated singular values (pair
factor :math:`\sqrt{N}\sigma^{1-1/N}`) and *shrinks* as singular values go to zero (pair
factor :math:`\to\sigma_i^{1-1/N}` as :math:`\sigma_j \to 0`; under :math:`X \to tX` it scales
like :math:`t^{(1-1/N)d(d-1)/2}`). It is the CMV volume form
(:func:`geodln.volume.log_volume_form`) of Cohen, Menon and Veraszto (CMV, [2]_) that
diverges as :math:`\sigma_{\min} \to 0`. Every function here returns the orbit volume / its
logarithm (in nats); none returns the CMV volume.

References
----------
.. [1] MY25: Menon, Yu, "An entropy formula for the Deep Linear Network", arXiv:2509.09088,
   Theorem 4 (orbit volume and entropy).
.. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Theorem 1.1 (volume form of
   :math:`g^N`).
"""

import numpy as np
from scipy.special import gammaln

from geodln._checks import (
    check_bool,
    check_depth,
    check_finite,
    check_matrix,
    check_positive_int,
    check_positive_real,
)
from geodln.spectral import DLNKernel, log_ratio
from geodln.svd_frame import SVDFrame
from geodln.volume import log_kernel

__all__ = [
    "log_orthogonal_group_volume",
    "log_orbit_volume",
    "entropy",
    "entropy_gradient",
    "FreeEnergy",
    "free_energy",
]


def log_orthogonal_group_volume(dim):
    r"""Return :math:`\log c_d`, the log volume of :math:`O_d` in the trace metric.

    The metric is :math:`\mathrm{tr}(\xi^\top\eta)`, induced from the Frobenius metric.

    :math:`c_d = 2^{d(d-1)/4}\,2^d\,\pi^{d(d+1)/4}/\prod_{k=1}^d\Gamma(k/2)`: the volume of the
    unit-sphere tower :math:`\prod_{k=1}^{d}|S^{k-1}|` (the volume of :math:`O_d` in the
    half-trace metric, Muirhead's form) times :math:`2^{d(d-1)/4}` for the trace metric.

    Parameters
    ----------
    dim : int
        d >= 1, the size of the matrices in :math:`O_d`.

    Returns
    -------
    log_c : float
        :math:`\log c_d` (natural logarithm of a volume in the trace metric).

    Raises
    ------
    ValueError
        If ``dim`` is not an integer >= 1 (bools are refused).

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (the constant :math:`c_d` of the entropy
       formula; normalisation as stated in the module docstring).

    Examples
    --------
    :math:`O_1 = \{\pm 1\}` has volume 2 and :math:`O_2` (two circles of length
    :math:`2\sqrt2\pi` in the trace metric) has volume :math:`4\sqrt2\pi`:

    >>> from geodln.entropy import log_orthogonal_group_volume
    >>> bool(np.isclose(log_orthogonal_group_volume(1), np.log(2.0)))
    True
    >>> bool(np.isclose(log_orthogonal_group_volume(2), np.log(4 * np.sqrt(2) * np.pi)))
    True
    """
    d = check_positive_int(dim, "dim")
    k = np.arange(1, d + 1)
    return float(
        (d * (d - 1) / 4 + d) * np.log(2.0)
        + d * (d + 1) / 4 * np.log(np.pi)
        - np.sum(gammaln(k / 2))
    )


def _square_spectrum(base_point, singular_values):
    """Return the singular values [..., d] from exactly one of the two inputs."""
    if (base_point is None) == (singular_values is None):
        raise ValueError("pass exactly one of base_point (a d x d matrix) and singular_values")
    if base_point is not None:
        x = check_matrix(base_point, "base_point")
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(
                "base_point must be square [..., d, d] (the Menon-Yu orbit volume is for "
                f"square full-rank factorisations with hidden widths d), got shape {x.shape}"
            )
        return np.linalg.svd(x, compute_uv=False)
    s = check_finite(singular_values, "singular_values")
    if s.ndim < 1 or s.shape[-1] == 0:
        raise ValueError(f"singular_values must have shape [..., d], d >= 1, got {s.shape}")
    if np.any(s < 0):
        raise ValueError("singular_values must be >= 0, got a negative entry")
    return s


def log_orbit_volume(base_point=None, depth=None, *, singular_values=None):
    r"""Log volume of the Menon–Yu orbit :math:`\mathcal{O}_X`, i.e. the entropy S(X).

    :math:`\log\mathrm{vol}(\mathcal{O}_X) = (N-1)\log c_d
    + \tfrac12\sum_{i<j}\log k_N(\sigma_i^2, \sigma_j^2)` ([1]_; :math:`c_d` as in
    :func:`log_orthogonal_group_volume`; :math:`k_N` the plain DLN kernel, evaluated stably by
    :func:`geodln.spectral.dln_kernel` through :func:`geodln.volume.log_kernel`). The orbit
    is taken in the Frobenius metric of the factors, so there is no normalisation option.
    Hidden widths are all d. At a singular X the value is the continuous extension from full
    rank (the Gram part); the orbit itself then has a finite stabiliser (e.g.
    :math:`\mathbb{Z}_2^{N-1}` for one zero singular value), which divides its volume.

    Parameters
    ----------
    base_point : array-like, shape=[..., d, d], optional
        X, square. Give either this or ``singular_values``.
    depth : int
        N >= 1 (finite: :math:`c_d^{N-1}` has no N → ∞ limit).
    singular_values : array-like, shape=[..., d], optional
        σ >= 0, any order.

    Returns
    -------
    log_vol : ndarray, shape=[...]
        :math:`\log\mathrm{vol}(\mathcal{O}_X)` in nats. Finite at repeated and at single zero
        singular values; ``-inf`` only when two or more singular values are 0 (the formula's
        limit: the orbit volume tends to 0).

    Raises
    ------
    ValueError
        If neither or both of ``base_point`` and ``singular_values`` are given; if
        ``base_point`` is not a finite square matrix [..., d, d]; if ``singular_values`` is
        empty, not finite or has a negative entry; if ``depth`` is missing, not an integer
        >= 1, or infinite.

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (orbit volume as a product over pairs
       of singular values).

    Examples
    --------
    For :math:`X = \mathrm{diag}(2, 1)` and N = 2 the formula is
    :math:`\log c_2 + \tfrac12\log\frac{4 - 1}{2 - 1}`:

    >>> from geodln.entropy import log_orbit_volume, log_orthogonal_group_volume
    >>> value = log_orbit_volume(np.diag([2.0, 1.0]), depth=2)
    >>> bool(np.isclose(value, log_orthogonal_group_volume(2) + 0.5 * np.log(3.0)))
    True

    A batch of points is one call; repeated singular values are a normal case:

    >>> log_orbit_volume(singular_values=[[2.0, 1.0], [1.0, 1.0]], depth=3).shape
    (2,)
    """
    if depth is None:
        raise ValueError("depth is required (an integer >= 1)")
    N = check_depth(depth, allow_inf=False)
    s = _square_spectrum(base_point, singular_values)
    d = s.shape[-1]
    iu = np.triu_indices(d, k=1)
    log_lam = log_kernel(DLNKernel(N), s[..., iu[0]], s[..., iu[1]])
    pairs = 0.5 * np.sum(log_lam, axis=-1)
    return (N - 1) * log_orthogonal_group_volume(d) + pairs


def entropy(base_point=None, depth=None, *, singular_values=None):
    r"""Menon–Yu entropy :math:`S(X) = \log\mathrm{vol}(\mathcal{O}_X)`.

    Same as :func:`log_orbit_volume`: the logarithm of the volume of the balanced
    factorisations of X (hidden widths d) in the Frobenius metric of the factors. It is finite
    at repeated singular values and tends to :math:`-\infty` (the orbit volume to 0) as the
    singular values go to 0; it is *not* the CMV volume form, which diverges there.

    Parameters
    ----------
    base_point : array-like, shape=[..., d, d], optional
        X, square. Give either this or ``singular_values``.
    depth : int
        N >= 1, finite.
    singular_values : array-like, shape=[..., d], optional
        σ >= 0, any order.

    Returns
    -------
    S : ndarray, shape=[...]
        The entropy in nats (natural logarithm).

    Raises
    ------
    ValueError
        If neither or both of ``base_point`` and ``singular_values`` are given; if
        ``base_point`` is not a finite square matrix [..., d, d]; if ``singular_values`` is
        empty, not finite or has a negative entry; if ``depth`` is missing, not an integer
        >= 1, or infinite.

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (entropy formula
       :math:`S(X) = (N-1)\log c_d + \tfrac12\sum_{i<j}\log k_N(\sigma_i^2, \sigma_j^2)`).

    Examples
    --------
    At depth 1 there is no hidden layer and the orbit is a point:

    >>> import geodln
    >>> float(geodln.entropy(np.diag([3.0, 2.0, 1.0]), depth=1))
    0.0

    Scaling X down shrinks the orbit (exponent :math:`(1 - 1/N)\,d(d-1)/2`):

    >>> X = np.array([[1.0, 0.3], [0.2, 0.5]])
    >>> drop = geodln.entropy(X, depth=3) - geodln.entropy(0.1 * X, depth=3)
    >>> bool(np.isclose(drop, (1 - 1 / 3) * 1 * np.log(10.0)))
    True
    """
    return log_orbit_volume(base_point, depth, singular_values=singular_values)


def _dlog_kernel(u, depth):
    r"""Return :math:`f(u) = N/(1 - e^{-Nu}) - 1/(1 - e^{-u})`, stably, for any real u.

    :math:`x\,\partial_x \log\sum_{i=0}^{N-1}x^i y^{N-1-i} = f(\log(x/y))`. Uses
    :math:`f(-u) = (N - 1) - f(u)`, the Bernoulli series
    :math:`f(u) = \sum_{n\ge1} B_n^+ (N^n - 1) u^{n-1}/n!` for :math:`N|u| < 0.05` and
    ``expm1`` otherwise; :math:`f(\pm\infty) = N - 1, 0`.
    """
    N = float(depth)
    a = np.abs(u)
    small = N * a < 0.05
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        closed = N / -np.expm1(-N * a) - 1.0 / -np.expm1(-a)
    b = np.where(small, a, 0.0)
    series = (
        (N - 1) / 2
        + (N**2 - 1) * b / 12
        - (N**4 - 1) * b**3 / 720
        + (N**6 - 1) * b**5 / 30240
        - (N**8 - 1) * b**7 / 1209600
    )
    fa = np.where(small, series, np.where(np.isinf(a), N - 1, closed))
    return np.where(u >= 0, fa, (N - 1) - fa)


def entropy_gradient(base_point, depth, normalized=False):
    r"""Riemannian gradient of the Menon–Yu entropy under :math:`g^N`.

    :math:`\mathrm{grad}_{g^N} S = U\,\mathrm{diag}(s_k)\,V^\top` with (plain :math:`A_{N,X}`;
    obtained by differentiating the entropy formula of [1]_ in the singular values and applying
    :math:`A_{N,X}`, whose eigenvalues on the diagonal block are :math:`N\sigma_k^{2-2/N}`
    [2]_; checked against finite differences in the test suite)

    .. math:: s_k = \sum_{l\ne k}\Big[\frac{N\sigma_k^{3-2/N}}{\sigma_k^2 - \sigma_l^2}
              - \frac{\sigma_k}{\sigma_k^{2/N} - \sigma_l^{2/N}}\Big]
              = \sigma_k^{1-2/N}\sum_{l\ne k} f\big(\tfrac2N\log(\sigma_k/\sigma_l)\big),

    :math:`f(u) = N/(1-e^{-Nu}) - 1/(1-e^{-u})`, evaluated in the second form, which is finite
    at repeated singular values (:math:`f(0) = (N-1)/2`) and at zeros. It is
    :math:`A_{N,X}(\nabla S)` with
    :math:`\nabla S = U\,\mathrm{diag}(\partial S/\partial\sigma)V^\top`.

    Parameters
    ----------
    base_point : array-like, shape=[..., d, d]
        X, square.
    depth : int
        N >= 1, finite (the gradient is 0 for N = 1).
    normalized : bool
        ``True``: gradient for the CMV metric :math:`g_{CMV} = N g^N` (divided by N).

    Returns
    -------
    grad : ndarray, shape=[..., d, d]
        :math:`\mathrm{grad}_{g^N} S(X)`, a tangent vector at X (nats per unit of g-length).

    Raises
    ------
    ValueError
        If ``base_point`` is not a finite square matrix [..., d, d] or ``depth`` is not a
        finite integer >= 1.

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (the entropy S).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    For :math:`X = \mathrm{diag}(2, 1)`, N = 2:
    :math:`s_1 = 2\cdot 4/3 - 2/1 = 2/3` and :math:`s_2 = 2/(1 - 4) - 1/(1 - 2) = 1/3`:

    >>> from geodln.entropy import entropy_gradient
    >>> grad = entropy_gradient(np.diag([2.0, 1.0]), depth=2)
    >>> bool(np.allclose(grad, np.diag([2 / 3, 1 / 3])))
    True
    """
    N = check_depth(depth, allow_inf=False)
    normalized = check_bool(normalized, "normalized")
    x = check_matrix(base_point, "base_point")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"base_point must be square [..., d, d], got shape {x.shape}")
    u, s, vt = np.linalg.svd(x)
    if N == 1:
        return np.zeros_like(x)
    sk, sl = s[..., :, None], s[..., None, :]
    hi, lo = np.maximum(sk, sl), np.minimum(sk, sl)
    with np.errstate(over="ignore"):
        w = np.where(hi > 0, log_ratio(hi, lo), 0.0)  # |log(sigma_k / sigma_l)|, inf if one is 0
    w = np.where(sk >= sl, w, -w)
    f = _dlog_kernel(2.0 * w / N, N)
    d = s.shape[-1]
    f = np.where(np.eye(d, dtype=bool), 0.0, f)
    coeff = s ** (1.0 - 2.0 / N) * np.sum(f, axis=-1)  # N >= 2: 0**0 = 1, 0**p = 0
    if normalized:
        coeff = coeff / N
    return (u * coeff[..., None, :]) @ vt


class FreeEnergy:
    r"""Free energy :math:`F_\beta(X) = E(X) - S(X)/\beta` (Menon–Yu entropy S, in nats).

    Its Riemannian gradient under :math:`g^N` is the drift of the downstairs Langevin equation
    at inverse temperature β ([1]_, Riemannian Langevin equation; [2]_).

    Parameters
    ----------
    loss : Loss or callable
        E: an object with ``value(X)`` (e.g. :class:`geodln.losses.Loss`) or a callable
        ``E(X)``. ``euclidean_gradient(X)`` is needed only for :meth:`riemannian_gradient`.
    beta : float
        Inverse temperature, > 0.
    depth : int
        N >= 1.
    normalized : bool
        Metric used by :meth:`riemannian_gradient`: plain :math:`g^N` or CMV :math:`N g^N`.

    Raises
    ------
    ValueError
        If ``loss`` has no ``value`` method and is not callable, ``beta`` is not a finite
        number > 0, or ``depth`` is not a finite integer >= 1.

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (free energy :math:`E - S/\beta`, descended by a Riemannian Langevin
       equation).
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (the entropy S).

    Examples
    --------
    >>> from geodln.entropy import FreeEnergy, entropy
    >>> F = FreeEnergy(lambda X: 0.5 * np.sum(X**2, axis=(-2, -1)), beta=2.0, depth=2)
    >>> X = np.diag([2.0, 1.0])
    >>> bool(np.isclose(F(X), 2.5 - entropy(X, 2) / 2.0))
    True
    """

    def __init__(self, loss, beta, depth, normalized=False):
        if not (hasattr(loss, "value") or callable(loss)):
            raise ValueError("loss must have a value(X) method or be callable")
        beta = check_positive_real(beta, "beta")
        self.loss = loss
        self.beta = beta
        self.depth = check_depth(depth, allow_inf=False)
        self.normalized = check_bool(normalized, "normalized")

    def _loss_value(self, x):
        return self.loss.value(x) if hasattr(self.loss, "value") else self.loss(x)

    def value(self, base_point):
        r"""Return :math:`E(X) - S(X)/\beta`, shape [...].

        Parameters
        ----------
        base_point : array-like, shape=[..., d, d]
            X, square.

        Returns
        -------
        value : ndarray, shape=[...]
            The free energy (units of E; S in nats).

        Raises
        ------
        ValueError
            If ``base_point`` is not a finite square matrix [..., d, d].
        """
        x = check_matrix(base_point, "base_point")
        return np.asarray(self._loss_value(x), float) - entropy(x, self.depth) / self.beta

    __call__ = value

    def riemannian_gradient(self, base_point):
        r"""Return :math:`\mathrm{grad}\,F = A(\nabla E) - \mathrm{grad}\,S/\beta` under the metric.

        Parameters
        ----------
        base_point : array-like, shape=[..., d, d]
            X, square.

        Returns
        -------
        grad : ndarray, shape=[..., d, d]
            :math:`A_{N,X}(\nabla E) - \mathrm{grad}_{g^N} S/\beta` (divided by N when
            ``normalized``).

        Raises
        ------
        ValueError
            If the loss has no ``euclidean_gradient`` or ``base_point`` is not a finite
            matrix.
        """
        if not hasattr(self.loss, "euclidean_gradient"):
            raise ValueError("riemannian_gradient needs a loss with euclidean_gradient(X)")
        x = check_matrix(base_point, "base_point")
        kernel = DLNKernel(self.depth, self.normalized)
        grad_e = SVDFrame(x, check=False).apply(kernel, self.loss.euclidean_gradient(x))
        grad_s = entropy_gradient(x, self.depth, self.normalized)
        return grad_e - grad_s / self.beta

    def __repr__(self):
        return f"FreeEnergy(beta={self.beta}, depth={self.depth}, normalized={self.normalized})"


def free_energy(loss, beta, depth, normalized=False):
    r"""Return the free energy :math:`F_\beta = E - S/\beta` as a :class:`FreeEnergy`.

    Parameters
    ----------
    loss : Loss or callable
        E (``value(X)`` or callable).
    beta : float
        Inverse temperature, > 0.
    depth : int
        N >= 1 (for the entropy S, the Menon–Yu orbit volume).
    normalized : bool
        Metric for the gradient (plain or CMV).

    Returns
    -------
    free_energy : FreeEnergy
        Callable: ``free_energy(X)`` is :math:`F_\beta(X)`.

    Raises
    ------
    ValueError
        If ``loss`` is neither callable nor has ``value``, ``beta`` is not a finite number
        > 0, or ``depth`` is not a finite integer >= 1.

    References
    ----------
    .. [1] GM24: Menon, arXiv:2411.09004, Abstract (free energy descended by a
       Riemannian Langevin equation).
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (the entropy S).

    Examples
    --------
    >>> import geodln
    >>> F = geodln.free_energy(lambda X: 0.0 * X[..., 0, 0], beta=1.0, depth=2)
    >>> X = np.diag([2.0, 1.0])
    >>> bool(np.isclose(F(X), -geodln.entropy(X, depth=2)))
    True
    """
    return FreeEnergy(loss, beta, depth, normalized)
