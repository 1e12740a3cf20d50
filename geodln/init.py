r"""Seeded initialisations of deep linear networks (factors and end-to-end matrices).

Factors are lists ``[W_1, ..., W_N]`` with ``W_p`` of shape ``(d_p, d_{p-1})``
(:mod:`geodln.factors`); the end-to-end matrix is :math:`X = W_N\cdots W_1`.

- :func:`gaussian_matrix` — :math:`X(0) = \alpha G` (G standard Gaussian), optionally truncated
  to rank r;
- :func:`balanced` — the balanced lift of :func:`gaussian_matrix` with random orthonormal frames
  (ACGH19, Procedure 1): exactly balanced, so upstairs and downstairs flows coincide (ACH Thm 1);
- :func:`gaussian_factors` — per-layer ``randn * alpha`` (Razin–Cohen "normal" init, only
  approximately balanced);
- :func:`scaled_identity` — :math:`W_p = \alpha I` (rectangular identities);
- :func:`from_matrix` / :func:`from_factors` — a user X (balanced lift) or user factors.

``det_sign=+1`` or ``-1`` (square end-to-end only) resamples until :math:`\operatorname{sign}\det
X(0)` matches, as Razin–Cohen's code does (it matters: the sign of det is conserved by the flow,
RC20, Fig. 1).

**Seed convention** (the same everywhere in geodln): ``seed`` is an int, a numpy ``Generator``
(or ``SeedSequence``), or None, which means fresh OS entropy. Deterministic hidden frames are
an explicit option (``frames="identity"``), never the meaning of ``seed=None``.

Abbreviations: ACH = Arora, Cohen, Hazan (ACH18).
"""

import numpy as np

from geodln._checks import (
    as_generator,
    check_depth,
    check_matrix,
    check_positive_int,
    check_positive_real,
    check_rank,
)
from geodln.factors import balanced_factors, check_factors, check_widths, product

__all__ = [
    "gaussian_matrix",
    "balanced",
    "gaussian_factors",
    "scaled_identity",
    "from_matrix",
    "from_factors",
]

MAX_RESAMPLES = 1000


def _check_scale(scale):
    return check_positive_real(scale, "scale")


def _check_det_sign(det_sign, m, n):
    if det_sign is None:
        return None
    if isinstance(det_sign, bool | np.bool_) or not isinstance(det_sign, int | np.integer) \
            or det_sign not in (1, -1):
        raise ValueError(f"det_sign must be +1, -1 or None, got {det_sign!r}")
    if m != n:
        raise ValueError(f"det_sign needs a square end-to-end matrix, got shape ({m}, {n})")
    return int(det_sign)


def _shape(shape):
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"shape must be a pair (m, n), got {shape!r}")
    return check_positive_int(shape[0], "shape[0]"), check_positive_int(shape[1], "shape[1]")


def _resample(draw, det_sign, what):
    """Call ``draw()`` until the sign of det of its end-to-end matrix is ``det_sign``."""
    for _ in range(MAX_RESAMPLES):
        out, x = draw()
        if det_sign is None or np.linalg.slogdet(x)[0] == det_sign:
            return out
    raise ValueError(f"could not draw {what} with det_sign={det_sign} in {MAX_RESAMPLES} tries")


def gaussian_matrix(shape, scale, rank=None, seed=None, det_sign=None):
    r"""Gaussian end-to-end matrix :math:`\alpha G`, truncated to rank r if asked.

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    scale : float
        :math:`\alpha > 0` (entries of G are standard normal).
    rank : int, optional
        Truncate to the best rank-r approximation (default: full rank).
    seed : int or numpy Generator, optional
    det_sign : {+1, -1, None}
        Resample until :math:`\operatorname{sign}\det X` matches (square, full rank only).

    Returns
    -------
    x : ndarray, shape=[m, n]

    Raises
    ------
    ValueError
        If ``shape`` is not a pair of positive integers; if ``scale`` is not a positive finite
        real; if ``rank`` is not an integer rank in 1..min(m, n); if ``det_sign`` is not +1,
        -1 or None, or is given for a non-square shape; if ``seed`` is not None, an integer
        seed or a ``numpy.random.Generator``; with the message ``det_sign needs a full-rank
        start (rank = min(m, n))``; if no draw of the asked sign is found in 1000 tries.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation).

    Examples
    --------
    >>> from geodln.init import gaussian_matrix
    >>> x = gaussian_matrix((3, 4), 1e-3, rank=2, seed=0)
    >>> x.shape, int(np.linalg.matrix_rank(x))
    ((3, 4), 2)
    >>> bool(np.linalg.det(gaussian_matrix((2, 2), 1.0, seed=1, det_sign=-1)) < 0)
    True
    """
    m, n = _shape(shape)
    scale = _check_scale(scale)
    rank = min(m, n) if rank is None else check_rank(rank, m, n)
    det_sign = _check_det_sign(det_sign, m, n)
    if det_sign is not None and rank < m:
        raise ValueError("det_sign needs a full-rank start (rank = min(m, n))")
    rng = as_generator(seed)

    def draw():
        x = scale * rng.standard_normal((m, n))
        if rank < min(m, n):
            u, s, vt = np.linalg.svd(x, full_matrices=False)
            x = (u[:, :rank] * s[:rank]) @ vt[:rank]
        return x, x

    return _resample(draw, det_sign, "a Gaussian matrix")


def balanced(shape, depth, scale, rank=None, widths=None, seed=None, det_sign=None):
    r"""Balanced near-zero start: the balanced lift of a Gaussian :math:`X(0) = \alpha G`.

    :math:`X(0)` is split by its SVD into :math:`W_p = Q_p \Sigma^{1/N} Q_{p-1}^\top` with
    Haar-random frames :math:`Q_p \in St(d_p, r)` (:func:`geodln.factors.balanced_factors`,
    ACGH19, Procedure 1), so :math:`W_{p+1}^\top W_{p+1} = W_p W_p^\top` exactly.

    Parameters
    ----------
    shape : tuple of int
        End-to-end shape ``(m, n)``.
    depth : int
        N >= 1.
    scale : float
        :math:`\alpha > 0`.
    rank : int, optional
        Rank r of :math:`X(0)` (default: ``min(m, n)`` and the narrowest hidden width);
        r < min(m, n) gives a start on :math:`M_r` (the flows then stay on it).
    widths : sequence of int, optional
        Hidden widths ``(d_1, ..., d_{N-1})``, each >= r (default: ``min(m, n)`` each).
    seed : int or numpy Generator, optional
    det_sign : {+1, -1, None}
        Resample until :math:`\operatorname{sign}\det X(0)` matches (square only).

    Returns
    -------
    factors : list of ndarray
        ``[W_1, ..., W_N]``; the end-to-end matrix is ``geodln.factors.product(factors)``.

    Raises
    ------
    ValueError
        If ``depth`` is not an integer >= 1; if ``shape`` is not a pair of positive integers;
        if ``rank`` is not an integer rank in 1..min(m, n); if ``widths`` is not N - 1
        positive integers each >= the rank; if ``scale`` or ``det_sign`` is invalid (as in
        :func:`gaussian_matrix`); if ``seed`` is not None, an integer seed or a
        ``numpy.random.Generator``.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation).

    Examples
    --------
    Exactly balanced: :math:`W_2^\top W_2 = W_1 W_1^\top`.

    >>> from geodln.init import balanced
    >>> w1, w2 = balanced((3, 3), 2, 0.1, seed=0)
    >>> bool(np.allclose(w2.T @ w2, w1 @ w1.T, rtol=0, atol=1e-15))
    True
    """
    m, n = _shape(shape)
    depth = check_depth(depth, allow_inf=False)
    if widths is None:
        widths = (min(m, n),) * (depth - 1)
    widths = check_widths(widths, depth, 1)
    rank_ = min((m, n) + widths) if rank is None else check_rank(rank, m, n)
    widths = check_widths(widths, depth, rank_)
    rng = as_generator(seed)
    x = gaussian_matrix((m, n), scale, rank=rank_, seed=rng, det_sign=det_sign)
    return balanced_factors(x, depth, widths=widths, rank=rank_, seed=rng)


def _full_widths(widths):
    if not isinstance(widths, tuple | list | np.ndarray) or len(widths) < 2:
        raise ValueError(
            f"widths must list all widths (d_0 = n, d_1, ..., d_N = m), at least two, "
            f"got {widths!r}"
        )
    return tuple(check_positive_int(w, f"widths[{i}]") for i, w in enumerate(widths))


def gaussian_factors(widths, scale, seed=None, det_sign=None):
    r"""Per-layer Gaussian factors :math:`W_p = \alpha\,G_p` (Razin–Cohen "normal" init).

    Only approximately balanced (the balance residuals are :math:`O(\alpha^2\sqrt{d})`).

    Parameters
    ----------
    widths : sequence of int
        All widths ``(d_0, d_1, ..., d_N)`` (``d_0 = n`` input, ``d_N = m`` output).
    scale : float
        :math:`\alpha > 0`.
    seed : int or numpy Generator, optional
    det_sign : {+1, -1, None}
        Resample all factors until :math:`\operatorname{sign}\det X(0)` matches (square only).

    Returns
    -------
    factors : list of ndarray, shapes [d_p, d_{p-1}]

    Raises
    ------
    ValueError
        If ``widths`` does not list at least two positive integers; if ``scale`` is not a
        positive finite real; if ``det_sign`` is not +1, -1 or None, or is given for a
        non-square end-to-end matrix; if ``seed`` is not None, an integer seed or a
        ``numpy.random.Generator``; if no draw of the asked sign is found in 1000 tries.

    References
    ----------
    .. [1] RC20: Razin, Cohen, arXiv:2005.06398, Fig. 1 (its "normal" runs start from
       per-layer Gaussian factors ``randn * alpha``, as the authors' code draws them).

    Examples
    --------
    >>> from geodln.init import gaussian_factors
    >>> fs = gaussian_factors((2, 4, 2), 1e-2, seed=0, det_sign=1)
    >>> [w.shape for w in fs]
    [(4, 2), (2, 4)]
    >>> bool(np.linalg.det(fs[1] @ fs[0]) > 0)
    True
    """
    widths = _full_widths(widths)
    scale = _check_scale(scale)
    det_sign = _check_det_sign(det_sign, widths[-1], widths[0])
    rng = as_generator(seed)

    def draw():
        fs = [scale * rng.standard_normal((a, b)) for b, a in zip(widths[:-1], widths[1:])]
        return fs, product(fs)

    return _resample(draw, det_sign, "Gaussian factors")


def scaled_identity(widths, scale=1.0):
    r"""Factors :math:`W_p = \alpha I_{d_p \times d_{p-1}}` (rectangular identities).

    Balanced when all widths are equal; the end-to-end matrix is :math:`\alpha^N` times the
    rectangular identity truncated to the narrowest width.

    Parameters
    ----------
    widths : sequence of int
        All widths ``(d_0, d_1, ..., d_N)``.
    scale : float
        :math:`\alpha > 0`.

    Returns
    -------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``(d_p, d_{p-1})``.

    Raises
    ------
    ValueError
        If ``widths`` does not list at least two positive integers, or ``scale`` is not a
        positive finite real.

    Examples
    --------
    >>> from geodln.init import scaled_identity
    >>> fs = scaled_identity((2, 3, 2), 0.5)
    >>> fs[1] @ fs[0]
    array([[0.25, 0.  ],
           [0.  , 0.25]])
    """
    widths = _full_widths(widths)
    scale = _check_scale(scale)
    return [scale * np.eye(widths[p + 1], widths[p]) for p in range(len(widths) - 1)]


def from_matrix(x, depth, widths=None, rank=None, seed=None, frames=None):
    """Balanced factors of a user end-to-end matrix (:func:`geodln.factors.balanced_factors`).

    Parameters
    ----------
    x : array-like, shape=[m, n] or [B, m, n]
        End-to-end matrix or batch.
    depth : int
        Depth N >= 1.
    widths : sequence of int, optional
        Hidden widths ``(d_1, ..., d_{N-1})`` (default: all equal to the rank).
    rank : int, optional
        Truncation rank (default ``min(m, n)``).
    seed : int, numpy Generator or None
        Randomness of the hidden frames (None: fresh OS entropy).
    frames : "identity" or sequence of array, optional
        Deterministic frames instead of random ones.

    Returns
    -------
    factors : list of ndarray, shapes [..., d_p, d_{p-1}]

    Raises
    ------
    ValueError
        If ``x`` is not a finite matrix or the lift's arguments are invalid.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation).

    Examples
    --------
    >>> from geodln.init import from_matrix
    >>> fs = from_matrix(np.eye(2), 3, frames="identity")
    >>> len(fs), fs[0].shape
    (3, (2, 2))
    """
    x = check_matrix(x, "x")
    return balanced_factors(x, depth, widths=widths, rank=rank, frames=frames, seed=seed)


def from_factors(factors):
    """Return validated float copies of user factors ``[W_1, ..., W_N]``.

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (consecutive widths
        must chain).

    Returns
    -------
    factors : list of ndarray, shapes [..., d_p, d_{p-1}]
        Float copies (the caller's arrays are never modified).

    Raises
    ------
    ValueError
        If ``factors`` is not a non-empty sequence of finite real matrices whose shapes chain
        (the messages of :func:`geodln.factors.check_factors`).

    Examples
    --------
    >>> from geodln.init import from_factors
    >>> fs = from_factors([[[1, 0]], [[2], [3]]])
    >>> [w.dtype.name for w in fs], (fs[1] @ fs[0]).shape
    (['float64', 'float64'], (2, 2))
    """
    return [np.array(w, dtype=float) for w in check_factors(factors)]
