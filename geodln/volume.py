r"""Riemannian volume of spectral metrics on rank-r matrices: densities and SVD volume forms.

Two functions, one theorem each (CMV23, Theorem 1.1 and Lemma 2.7):

- :func:`log_volume_density` — the density of :math:`d\mathrm{vol}_g` with respect to the
  Euclidean volume at a point X: Lebesgue measure on the entries for full rank
  (:math:`\det A_X^{-1/2} = \prod_{k,l}\lambda_{kl}^{-1/2}`), the Euclidean (Hausdorff) volume
  of :math:`M_r` for rank r (:math:`\prod \lambda^{-1/2}` over the eigenvalues of
  :math:`A_X` on :math:`T_X M_r`);
- :func:`log_volume_form` — the same volume in SVD coordinates :math:`(\sigma, U, V)`:
  density times the SVD Jacobian (CMV Lemma 2.7, Theorem 1.1).

Both work for any :class:`~geodln.spectral.SpectralKernel` (pass it as ``depth``); for the DLN
kernel they reproduce CMV Theorem 1.1 (square, full rank)

.. math:: d\mathrm{vol}_{g^N} = N^{-d/2}\prod_k \sigma_k^{1/N - 1}\,
          |\mathrm{van}(\Sigma^{2/N})|\, d\Sigma\, dU\, dV \quad (\text{plain } A_{N,X}),

with constant :math:`N^{d(d-1)/2}` instead of :math:`N^{-d/2}` in the CMV normalisation
:math:`A/N`, the infinite-depth form :math:`\prod_k\sigma_k^{-1}|\mathrm{van}(\log\Sigma^2)|`,
and the rank-r m×n form (from CMV23,
Lemma 2.7). The kernel values are always taken from the stable
kernels of :mod:`geodln.spectral`, never from the closed forms, which cancel at repeated
singular values.

**Which volume diverges.** This is the Riemannian volume of :math:`(M_r, g^N)` (the CMV
volume). Its density diverges like :math:`\sigma_{\min}^{1/N-1}` as the smallest singular
value tends to 0 (integrably). The Menon–Yu *orbit* volume (:mod:`geodln.entropy`) is a
different object: it stays finite and tends to 0 there.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import check_finite, check_matrix, check_positive_int, check_rank
from geodln.spectral import DLNKernel, SpectralKernel
from geodln.svd_frame import RANK_RTOL

__all__ = [
    "log_volume_density",
    "log_volume_form",
    "log_kernel",
    "log_svd_jacobian",
    "resolve_kernel",
]

def resolve_kernel(depth, normalized=False):
    """Return the spectral kernel for ``depth`` (an int, ``numpy.inf`` or a kernel).

    Parameters
    ----------
    depth : int, numpy.inf or SpectralKernel
        Depth N >= 1 of the DLN metric (``inf`` requires ``normalized=True``), or any kernel.
    normalized : bool
        CMV normalisation :math:`A/N` (only with an integer or infinite depth).

    Returns
    -------
    kernel : SpectralKernel

    Raises
    ------
    ValueError
        With the message ``normalized=True applies to a numeric depth; pass a normalised kernel
        (e.g. DLNKernel(depth, normalized=True)) instead``, when ``depth`` is already a kernel
        and ``normalized`` is true; the messages of :class:`geodln.spectral.DLNKernel` for an
        invalid depth.

    Examples
    --------
    >>> from geodln.volume import resolve_kernel
    >>> resolve_kernel(3)
    DLNKernel(depth=3, normalized=False)
    >>> resolve_kernel(np.inf, normalized=True)
    DLNKernel(depth=inf, normalized=True)
    """
    if isinstance(depth, SpectralKernel):
        if normalized:
            raise ValueError(
                "normalized=True applies to a numeric depth; pass a normalised kernel "
                "(e.g. DLNKernel(depth, normalized=True)) instead"
            )
        return depth
    return DLNKernel(depth, normalized)


def log_kernel(kernel, s_i, s_j):
    r"""Return :math:`\log k(\sigma_i^2, \sigma_j^2)` elementwise, without over- or underflow.

    This is :meth:`geodln.spectral.SpectralKernel.log_values` (each kernel owns its
    arithmetic): for the DLN kernels the log is taken from the singular values themselves,
    :math:`\log c + 2(1 - 1/N)\log\sigma_{hi} - \log\varphi_{1/N}(w)`, so σ from the
    smallest to the largest floats is fine; a user kernel with a homogeneity ``degree`` is
    evaluated with the larger argument factored out. ``-inf`` where the kernel is 0.

    Parameters
    ----------
    kernel : SpectralKernel
        The kernel.
    s_i, s_j : array-like
        Singular values (not squared), ``>= 0``, broadcast together.

    Returns
    -------
    log_k : ndarray, shape=[...] (broadcast of ``s_i`` and ``s_j``)

    Raises
    ------
    ValueError
        If a user kernel returns negative or NaN values.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> from geodln.spectral import DLNKernel
    >>> from geodln.volume import log_kernel
    >>> round(float(log_kernel(DLNKernel(2), 1e-200, 1e-200)), 6)  # log(2e-200)
    -459.823871
    """
    return kernel.log_values(s_i, s_j)


def _log_det_cometric(s, kernel, m, n):
    r"""Return :math:`\log\det A_X|_{T_X M_r}` from the rank-r singular values ``s`` [..., r].

    Core block: :math:`\sum_{k,l\le r}\log k(\sigma_k^2, \sigma_l^2)`; the two mixed blocks
    add :math:`(m - r) + (n - r)` copies of :math:`\sum_k \log k(\sigma_k^2, 0)`
    (CMV23, Lemma 2.4). ``-inf`` entries mean a zero eigenvalue (a point of lower rank).
    """
    r = s.shape[-1]
    total = np.sum(log_kernel(kernel, s[..., :, None], s[..., None, :]), axis=(-2, -1))
    extra = (m - r) + (n - r)
    if extra:
        if kernel.degenerate_on_mixed():
            raise ValueError(
                f"the metric of {kernel!r} is degenerate at rank-{r} points of "
                f"{m}x{n} matrices (k(a, 0) = 0, e.g. infinite depth): it has no volume "
                "there; use rank = min(m, n) or a finite depth"
            )
        total = total + extra * np.sum(log_kernel(kernel, s, np.zeros_like(s)), axis=-1)
    return total


def log_volume_density(base_point, depth, normalized=False, rank=None):
    r"""Log density of :math:`d\mathrm{vol}_{g}` with respect to the Euclidean volume.

    Full rank (``rank = min(m, n)``): density with respect to Lebesgue measure on the
    entries, :math:`\det(A_X)^{-1/2} = \prod_{k \le m, l \le n} \lambda_{kl}^{-1/2}`
    (CMV23, Theorem 1.1). Rank r: density with respect to the Euclidean (Hausdorff) volume of
    :math:`M_r \subset \mathbb{R}^{m\times n}`, i.e. :math:`\sqrt{\det G}` for the Gram
    matrix G of :math:`g_X` on a Frobenius-orthonormal basis of :math:`T_X M_r`,
    which is :math:`\prod \lambda^{-1/2}` over the core eigenvalues
    :math:`\lambda_{kl}, k, l \le r`, and the mixed ones :math:`\lambda_{k0} = k(\sigma_k^2, 0)`
    with multiplicity :math:`(m - r) + (n - r)`.

    Parameters
    ----------
    base_point : array-like, shape=[..., m, n]
        The point X (rank r, up to a relative tolerance ``RANK_RTOL`` on the singular values
        beyond r).
    depth : int, numpy.inf or SpectralKernel
        Depth N of :math:`g^N` (``inf`` requires ``normalized=True``), or any spectral kernel.
    normalized : bool
        ``False``: plain :math:`A_{N,X}`; ``True``: CMV :math:`A_{N,X}/N` (the log density
        grows by :math:`\tfrac12 \dim M_r \log N`).
    rank : int, optional
        The rank r (default ``min(m, n)``).

    Returns
    -------
    log_density : ndarray, shape=[...]
        ``+inf`` when X has rank < r (the density diverges there, like
        :math:`\sigma_{\min}^{1/N - 1}` for :math:`g^N`).

    Raises
    ------
    ValueError
        Bad ``base_point`` (shape, NaN/inf), bad ``depth``/``rank``, a point of rank > r, or a
        kernel degenerate on the mixed blocks (infinite depth) with r < min(m, n).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Theorem 1.1 (volume form of
       :math:`g^N`).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    Scalar case: :math:`g^N = dx^2/(N x^{2-2/N})`, density :math:`(N x^{2-2/N})^{-1/2}`:

    >>> import geodln
    >>> value = geodln.log_volume_density(np.array([[4.0]]), depth=2)
    >>> bool(np.isclose(value, -0.5 * np.log(2 * 4.0)))
    True
    """
    x = check_matrix(base_point, "base_point")
    m, n = x.shape[-2:]
    r = min(m, n) if rank is None else check_rank(rank, m, n)
    kernel = resolve_kernel(depth, normalized)
    s = np.linalg.svd(x, compute_uv=False)
    if r < min(m, n):
        scale = np.maximum(s[..., :1], np.finfo(float).tiny)
        if np.any(s[..., r:] > RANK_RTOL * scale):
            raise ValueError(
                f"base_point has rank > {r} (singular value ratio "
                f"{float(np.max(s[..., r:] / scale)):.3g} > {RANK_RTOL:g}); pass its rank"
            )
    return -0.5 * _log_det_cometric(s[..., :r], kernel, m, n)


def _check_singular_values(singular_values, shape, rank):
    """Validate ``(singular_values, shape, rank)``; return ``(s_r, m, n, r)``."""
    s = check_finite(singular_values, "singular_values")
    if s.ndim < 1 or s.shape[-1] == 0:
        raise ValueError(
            f"singular_values must have shape [..., r] with r >= 1, got shape {s.shape}"
        )
    if np.any(s < 0):
        raise ValueError("singular_values must be >= 0, got a negative entry")
    length = s.shape[-1]
    if shape is None:
        m = n = length
    else:
        if not isinstance(shape, tuple | list) or len(shape) != 2:
            raise ValueError(f"shape must be a pair (m, n), got {shape!r}")
        m = check_positive_int(shape[0], "shape[0]")
        n = check_positive_int(shape[1], "shape[1]")
    q = min(m, n)
    r = length if rank is None else check_rank(rank, m, n)
    if length > q or length not in (r, q):
        raise ValueError(
            f"singular_values has {length} entries; expected rank = {r} entries "
            f"(or min(m, n) = {q} with zeros beyond the rank) for shape ({m}, {n})"
        )
    if np.any(s[..., r:] != 0):
        raise ValueError(f"singular_values has non-zero entries beyond rank = {r}")
    s = s[..., :r]
    if np.any(s == 0):
        raise ValueError(
            f"singular_values must be > 0 in the first rank = {r} entries (a zero singular "
            "value is a point of lower rank, where the volume form is not defined); pass the "
            "point's rank"
        )
    return s, m, n, r


def log_svd_jacobian(s, m, n):
    r"""Log Jacobian of the SVD chart of :math:`M_r` (CMV Lemma 2.7, rank-r version).

    :math:`dX = |\mathrm{van}(\Sigma^2)|\prod_k\sigma_k^{m+n-2r}\,d\Sigma\,dU\,dV`, with
    ``dX`` the Euclidean (Hausdorff) volume of :math:`M_r` and ``dU``, ``dV`` as in
    :func:`log_volume_form`. Ties give ``-inf``.

    Parameters
    ----------
    s : ndarray, shape=[..., r]
        Positive singular values.
    m, n : int
        Matrix shape.

    Returns
    -------
    log_jac : ndarray, shape=[...]

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.7 (Jacobian of the SVD).

    Examples
    --------
    Square full rank: the Jacobian is the Vandermonde :math:`|\sigma_1^2 - \sigma_2^2| = 3`.

    >>> from geodln.volume import log_svd_jacobian
    >>> float(np.exp(log_svd_jacobian(np.array([2.0, 1.0]), 2, 2)))
    3.0...
    """
    r = s.shape[-1]
    iu = np.triu_indices(r, k=1)
    diff = np.abs(s[..., :, None] - s[..., None, :])[..., iu[0], iu[1]]
    summ = (s[..., :, None] + s[..., None, :])[..., iu[0], iu[1]]
    with np.errstate(divide="ignore"):
        out = np.sum(np.log(diff) + np.log(summ), axis=-1)
    if m + n - 2 * r:
        out = out + (m + n - 2 * r) * np.sum(np.log(s), axis=-1)
    return out


def log_volume_form(singular_values, depth, normalized=False, shape=None, rank=None):
    r"""Log density of :math:`d\mathrm{vol}_g` in SVD coordinates :math:`(\sigma, U, V)`.

    For :math:`X = U\,\mathrm{diag}(\sigma)\,V^\top` of rank r in
    :math:`\mathbb{R}^{m\times n}`, :math:`U \in St(m, r)`, :math:`V \in St(n, r)`:

    .. math:: d\mathrm{vol}_g = \Big(\prod_{k,l\le r}\lambda_{kl}^{-1/2}
              \prod_{k\le r}\lambda_{k0}^{-(m+n-2r)/2}\Big)\,
              |\mathrm{van}(\Sigma^2)|\prod_k\sigma_k^{m+n-2r}\;
              d\sigma\, dU\, dV,

    i.e. :func:`log_volume_density` plus :func:`log_svd_jacobian` (CMV23,
    Lemma 2.7). For the DLN kernel this is CMV Theorem 1.1 for square full rank,
    :math:`N^{-d/2}\prod_k\sigma_k^{1/N-1}|\mathrm{van}(\Sigma^{2/N})|` (plain
    :math:`A_{N,X}`) or :math:`N^{d(d-1)/2}\prod_k\sigma_k^{1/N-1}|\mathrm{van}(\Sigma^{2/N})|`
    (CMV :math:`A/N`); :math:`\prod_k\sigma_k^{-1}|\mathrm{van}(\log\Sigma^2)|` at infinite
    depth; and for rank r,
    :math:`N^{-r/2}\prod_k\sigma_k^{(1-N+m+n-2r)/N}|\mathrm{van}(\Sigma^{2/N})|` (plain; the
    CMV normalisation multiplies by :math:`N^{r(m+n-r)/2}`).

    **Measure on U, V.** :math:`dU = \bigwedge_{j\le r}\bigwedge_{i>j} h_i^\top dh_j` with
    :math:`H = [U, U_\perp]` (Muirhead's form; for :math:`U \in O(d)` it is
    :math:`\bigwedge_{i<j}(U^\top dU)_{ij}`), likewise dV. This is the Riemannian volume of the
    *canonical* metric :math:`\mathrm{tr}(\Delta^\top(I - \tfrac12 UU^\top)\Delta)` on the
    Stiefel manifold; the embedded metric :math:`\mathrm{tr}(\Delta^\top\Delta)` has volume
    :math:`2^{r(r-1)/4}` times larger (for O(d): :math:`2^{d(d-1)/4}`). The chart is
    :math:`2^r : 1` (simultaneous sign flips of columns of U and V) on ordered σ.

    Parameters
    ----------
    singular_values : array-like, shape=[..., r] or [..., min(m, n)]
        σ, > 0 in the first r entries (zeros beyond the rank allowed), any order.
    depth : int, numpy.inf or SpectralKernel
        Depth N (``inf`` requires ``normalized=True``), or any spectral kernel.
    normalized : bool
        ``False``: plain :math:`A_{N,X}`; ``True``: CMV :math:`A_{N,X}/N`.
    shape : tuple of int, optional
        ``(m, n)`` (default ``(r, r)``).
    rank : int, optional
        r (default: the number of entries of ``singular_values``).

    Returns
    -------
    log_form : ndarray, shape=[...]
        ``-inf`` at repeated singular values (the form vanishes there).

    Raises
    ------
    ValueError
        Negative, NaN or zero (within the rank) singular values, entries not matching
        ``rank``/``shape``, bad ``depth``, or a kernel degenerate on the mixed blocks with
        r < min(m, n).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Theorem 1.1 (volume form of
       :math:`g^N`).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.7 (Jacobian of the SVD).

    Examples
    --------
    Square full rank, plain sum (CMV23, Theorem 1.1):
    :math:`N^{-d/2}\prod_k \sigma_k^{1/N-1}|\sigma_1^{2/N} - \sigma_2^{2/N}|`:

    >>> import geodln
    >>> value = geodln.log_volume_form([4.0, 1.0], depth=2)
    >>> expected = np.log(2.0**-1 * 4.0**-0.5 * 1.0**-0.5 * (4.0 - 1.0))
    >>> bool(np.isclose(value, expected))
    True
    """
    s, m, n, _ = _check_singular_values(singular_values, shape, rank)
    kernel = resolve_kernel(depth, normalized)
    return -0.5 * _log_det_cometric(s, kernel, m, n) + log_svd_jacobian(s, m, n)
