r"""Factor tuples of a deep linear network and the product map.

Factors are stored as a list ``[W_1, ..., W_N]`` with ``W_p`` of shape ``[..., d_p, d_{p-1}]``
(input width ``d_0 = n``, output width ``d_N = m``), so that the end-to-end matrix is
:math:`X = \phi(W) = W_N \cdots W_1`. (Razin–Cohen and ACHL code store the transpose.)

- :func:`product` — :math:`\phi(W)`;
- :func:`tangent_product` — :math:`D\phi_W(\dot W) = \sum_p W_{N:p+1} \dot W_p W_{p-1:1}`;
- :func:`product_adjoint` — :math:`D\phi_W^*(Y) = (W_{N:p+1}^\top Y W_{p-1:1}^\top)_p`, which
  is also the Euclidean gradient of :math:`E \circ \phi` for :math:`Y = \nabla E(X)`;
- :func:`balance_residuals` — :math:`W_{p+1}^\top W_{p+1} - W_p W_p^\top` (conserved by every
  gradient flow of :math:`E \circ \phi`);
- :func:`balanced_factors` — the balanced lift :math:`W_p = Q_p \Sigma^{1/N} Q_{p-1}^\top`,
  :math:`Q_0 = V`, :math:`Q_N = U`, :math:`Q_p \in St(d_p, r)` free.

Abbreviations: ACHL = Arora, Cohen, Hu, Luo (ACHL19).
"""

import numpy as np

from geodln._checks import (
    as_generator,
    check_depth,
    check_matrix,
    check_positive_int,
    check_rank,
)


def _t(a):
    return np.swapaxes(a, -1, -2)


def check_factors(factors, name="factors"):
    r"""Validate a factor list ``[W_1, ..., W_N]``: finite matrices with chained shapes.

    Parameters
    ----------
    factors : sequence of array-like, or ndarray
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]``; a stacked array
        ``[N, d, d]`` (or ``[N, B, d, d]``) of equal square factors is accepted.
    name : str
        Argument name used in the error messages.

    Returns
    -------
    factors : list of ndarray, shapes [..., d_p, d_{p-1}]
        Float arrays.

    Raises
    ------
    ValueError
        If ``…[…]`` is not a finite real array of matrices [..., m, n] of the expected shape;
        otherwise with the message ``… must be a non-empty list [W_1, ..., W_N] of matrices``;
        or ``…[…] has shape … but …[…] has … rows: widths must chain (W_p is d_p x d_(p-1))``.

    Examples
    --------
    >>> from geodln.factors import check_factors
    >>> [w.shape for w in check_factors([np.ones((3, 2)), np.ones((4, 3))])]
    [(3, 2), (4, 3)]
    >>> check_factors([np.ones((3, 2)), np.ones((4, 2))])
    Traceback (most recent call last):
    ...
    ValueError: factors[1] has shape (4, 2) but factors[0] has 3 rows: widths must chain ...
    """
    if isinstance(factors, np.ndarray) and factors.ndim >= 3 and factors.dtype != object:
        factors = list(np.moveaxis(factors, -3, 0)) if factors.ndim == 3 else list(factors)
    if not isinstance(factors, list | tuple) or len(factors) == 0:
        raise ValueError(f"{name} must be a non-empty list [W_1, ..., W_N] of matrices")
    out = [check_matrix(w, f"{name}[{p}]") for p, w in enumerate(factors)]
    for p in range(1, len(out)):
        if out[p].shape[-1] != out[p - 1].shape[-2]:
            raise ValueError(
                f"{name}[{p}] has shape {out[p].shape} but {name}[{p - 1}] has "
                f"{out[p - 1].shape[-2]} rows: widths must chain (W_p is d_p x d_(p-1))"
            )
    return out


def widths_of(factors):
    """Return the widths ``(d_0, d_1, ..., d_N)`` of a factor list.

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).

    Returns
    -------
    widths : tuple of int
        ``(n, d_1, ..., d_{N-1}, m)``: input width first.

    Examples
    --------
    >>> from geodln.factors import widths_of
    >>> widths_of([np.ones((3, 2)), np.ones((4, 3))])
    (2, 3, 4)
    """
    return (factors[0].shape[-1],) + tuple(w.shape[-2] for w in factors)


def product(factors):
    r"""End-to-end matrix :math:`X = W_N \cdots W_1`, shape [..., m, n].

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).

    Returns
    -------
    x : ndarray, shape=[..., m, n]
        The product (batched over leading axes).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.1)
       (the product map :math:`\phi(W) = W_N\cdots W_1`).

    Examples
    --------
    >>> from geodln.factors import product
    >>> product([np.diag([1.0, 2.0]), np.array([[0.0, 1.0], [1.0, 0.0]])])
    array([[0., 2.],
           [1., 0.]])
    """
    x = factors[0]
    for w in factors[1:]:
        x = w @ x
    return x


def prefix_products(factors):
    r"""Return ``[W_{0:1}, W_{1:1}, ..., W_{N-1:1}]`` where ``W_{p-1:1}`` is the product below p.

    The first entry is the identity of size ``d_0``.

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).

    Returns
    -------
    prefixes : list of ndarray
        N arrays; entry p-1 is :math:`W_{p-1}\cdots W_1`, shape ``[..., d_{p-1}, d_0]``.

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs.
       (1.2)-(1.3) (the gradient flow of :math:`E\circ\phi` written out by the chain rule:
       the partial products above and below each factor).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).

    Examples
    --------
    >>> from geodln.factors import prefix_products
    >>> pre = prefix_products([2.0 * np.eye(2), 3.0 * np.eye(2), 5.0 * np.eye(2)])
    >>> [float(p[0, 0]) for p in pre]
    [1.0, 2.0, 6.0]
    """
    n = factors[0].shape[-1]
    out = [np.broadcast_to(np.eye(n), factors[0].shape[:-2] + (n, n))]
    for w in factors[:-1]:
        out.append(w @ out[-1])
    return out


def suffix_products(factors):
    r"""Return ``[W_{N:2}, ..., W_{N:N+1}]``: entry p-1 is the product above factor p.

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).

    Returns
    -------
    suffixes : list of ndarray
        N arrays; entry p-1 is :math:`W_N\cdots W_{p+1}`, shape ``[..., d_N, d_p]`` (the last
        is the identity).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs.
       (1.2)-(1.3) (the gradient flow of :math:`E\circ\phi` written out by the chain rule:
       the partial products above and below each factor).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).

    Examples
    --------
    >>> from geodln.factors import suffix_products
    >>> suf = suffix_products([2.0 * np.eye(2), 3.0 * np.eye(2), 5.0 * np.eye(2)])
    >>> [float(s[0, 0]) for s in suf]
    [15.0, 5.0, 1.0]
    """
    m = factors[-1].shape[-2]
    out = [np.broadcast_to(np.eye(m), factors[-1].shape[:-2] + (m, m))]
    for w in reversed(factors[1:]):
        out.append(out[-1] @ w)
    return out[::-1]


def tangent_product(factors, tangent_factors):
    r"""Differential of the product map, :math:`\sum_p W_{N:p+1} \dot W_p W_{p-1:1}`.

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).
    tangent_factors : sequence of ndarray
        :math:`(\dot W_1, ..., \dot W_N)`, same shapes as ``factors``.

    Returns
    -------
    x_dot : ndarray, shape=[..., m, n]
        :math:`D\phi_W(\dot W)`.

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs.
       (1.2)-(1.3) (the gradient flow of :math:`E\circ\phi` written out by the chain rule:
       the partial products above and below each factor).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).

    Examples
    --------
    Agrees with a central finite difference of :func:`product`:

    >>> from geodln.factors import product, tangent_product
    >>> rng = np.random.default_rng(0)
    >>> ws = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    >>> vs = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    >>> h = 1e-6
    >>> fd = (product([w + h * v for w, v in zip(ws, vs)])
    ...       - product([w - h * v for w, v in zip(ws, vs)])) / (2 * h)
    >>> bool(np.allclose(tangent_product(ws, vs), fd, rtol=1e-8, atol=1e-8))
    True
    """
    pre, suf = prefix_products(factors), suffix_products(factors)
    return sum(s @ v @ q for s, v, q in zip(suf, tangent_factors, pre))


def product_adjoint(factors, cotangent):
    r"""Adjoint of the differential, :math:`(W_{N:p+1}^\top Y W_{p-1:1}^\top)_p`.

    For ``cotangent`` :math:`= \nabla E(X)` this is the Euclidean gradient of
    :math:`E \circ \phi` with respect to each factor (the upstairs gradient).

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).
    cotangent : ndarray, shape=[..., m, n]
        Y, e.g. :math:`\nabla E(X)`.

    Returns
    -------
    gradients : list of ndarray
        ``[G_1, ..., G_N]``, ``G_p`` of the shape of ``W_p``.

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs.
       (1.2)-(1.3) (the gradient flow of :math:`E\circ\phi` written out by the chain rule:
       the partial products above and below each factor).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).

    Examples
    --------
    The adjoint identity :math:`\langle D\phi(\dot W), Y\rangle = \sum_p\langle\dot W_p,
    D\phi^*(Y)_p\rangle`:

    >>> from geodln.factors import product_adjoint, tangent_product
    >>> rng = np.random.default_rng(1)
    >>> ws = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))]
    >>> vs = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))]
    >>> y = rng.standard_normal((4, 2))
    >>> lhs = np.sum(tangent_product(ws, vs) * y)
    >>> rhs = sum(np.sum(v * g) for v, g in zip(vs, product_adjoint(ws, y)))
    >>> bool(np.isclose(lhs, rhs))
    True
    """
    # G_p = L_p P_p^T with L_p = W_{N:p+1}^T Y (from the top down, L_N = Y) and
    # P_p = W_{p-1:1} (from the bottom up, P_1 = I): 3N - 4 products, no identity matrices
    n = len(factors)
    lefts = [cotangent] * n
    for p in range(n - 1, 0, -1):
        lefts[p - 1] = _t(factors[p]) @ lefts[p]
    out = [lefts[0]] + [None] * (n - 1)
    below = None
    for p in range(1, n):
        below = factors[0] if below is None else factors[p - 1] @ below
        out[p] = lefts[p] @ _t(below)
    batch = np.broadcast_shapes(np.shape(cotangent)[:-2], *(w.shape[:-2] for w in factors))
    for p, (g, w) in enumerate(zip(out, factors)):
        if g.shape != batch + w.shape[-2:]:  # mixed batch axes (or N = 1): broadcast, own it
            out[p] = np.array(np.broadcast_to(g, batch + w.shape[-2:]))
    return out


def balance_residuals(factors):
    r"""Return ``[W_{p+1}^T W_{p+1} - W_p W_p^T for p = 1..N-1]``.

    Parameters
    ----------
    factors : sequence of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]`` (leading batch axes
        broadcast).

    Returns
    -------
    residuals : list of ndarray
        N - 1 arrays, entry p-1 of shape ``[..., d_p, d_p]`` (empty for N = 1).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.4)
       (the balancedness constraints, invariant under the gradient flow).
    .. [2] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definition 1 (approximate
       balancedness: every residual at most δ in Frobenius norm).

    Examples
    --------
    >>> from geodln.factors import balance_residuals
    >>> balance_residuals([np.diag([1.0, 2.0]), np.diag([1.0, 3.0])])
    [array([[0., 0.],
           [0., 5.]])]
    """
    return [_t(b) @ b - a @ _t(a) for a, b in zip(factors[:-1], factors[1:])]


def balance_defect(factors, relative=False):
    r"""Largest Frobenius norm of the balance residuals (0 for N = 1).

    Parameters
    ----------
    factors : list of ndarray, shapes [..., d_p, d_{p-1}]
    relative : bool
        Divide by the largest squared Frobenius norm of a factor.

    Returns
    -------
    defect : float or ndarray, shape=[...]

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.4)
       (the balancedness constraints, invariant under the gradient flow).
    .. [2] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definition 1 (approximate
       balancedness: every residual at most δ in Frobenius norm).

    Examples
    --------
    The balanced lift has defect 0 to rounding; a rescaled factor does not:

    >>> from geodln.factors import balance_defect, balanced_factors
    >>> ws = balanced_factors(np.diag([3.0, 1.0]), 3, seed=0)
    >>> bool(balance_defect(ws, relative=True) < 1e-14)
    True
    >>> float(balance_defect([np.eye(2), 2.0 * np.eye(2)]))  # ||4I - I||_F = 3 sqrt(2)
    4.242640687119...
    """
    res = balance_residuals(factors)
    if not res:
        return np.zeros(factors[0].shape[:-2])
    d = np.max(np.stack([np.linalg.norm(r, axis=(-2, -1)) for r in res]), axis=0)
    if relative:
        scale = np.max(np.stack([np.sum(w**2, axis=(-2, -1)) for w in factors]), axis=0)
        d = d / np.maximum(scale, np.finfo(float).tiny)
    return d


def random_stiefel(rows, cols, rng):
    r"""Haar-random matrix with orthonormal columns, shape (rows, cols).

    QR of a Gaussian matrix with the signs of R's diagonal moved into Q (so the law is Haar).

    Parameters
    ----------
    rows, cols : int
        Shape, ``rows >= cols``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    q : ndarray, shape=[rows, cols]
        :math:`Q^\top Q = I`.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation with random orthogonal frames).

    Examples
    --------
    >>> from geodln.factors import random_stiefel
    >>> q = random_stiefel(4, 2, np.random.default_rng(0))
    >>> bool(np.allclose(q.T @ q, np.eye(2)))
    True
    """
    g = rng.standard_normal((rows, cols))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


def check_widths(widths, depth, rank, name="widths"):
    """Validate hidden widths ``(d_1, ..., d_{N-1})`` against depth and rank.

    Parameters
    ----------
    widths : sequence of int
        The N - 1 hidden widths.
    depth : int
        N.
    rank : int
        Each width must be at least this.
    name : str
        Argument name used in the error messages.

    Returns
    -------
    widths : tuple of int

    Raises
    ------
    ValueError
        If ``…[…]`` is not an integer >= 1 (bools are refused); otherwise with the message ``…
        must list the … hidden widths d_1..d_(N-1) for depth=…, got …``; or ``…[…] = … is
        smaller than the rank …``.

    Examples
    --------
    >>> from geodln.factors import check_widths
    >>> check_widths([3, 2], 3, 2)
    (3, 2)
    >>> check_widths([3, 1], 3, 2)
    Traceback (most recent call last):
    ...
    ValueError: widths[1] = 1 is smaller than the rank 2
    """
    if isinstance(widths, str) or not isinstance(widths, tuple | list | np.ndarray) \
            or np.ndim(widths) != 1:
        raise ValueError(f"{name} must be a sequence of {depth - 1} integers, got {widths!r}")
    widths = tuple(check_positive_int(w, f"{name}[{i}]") for i, w in enumerate(widths))
    if len(widths) != depth - 1:
        raise ValueError(
            f"{name} must list the {depth - 1} hidden widths d_1..d_(N-1) for depth={depth}, "
            f"got {len(widths)}"
        )
    for i, w in enumerate(widths):
        if w < rank:
            raise ValueError(f"{name}[{i}] = {w} is smaller than the rank {rank}")
    return widths


def balanced_factors(x, depth, widths=None, rank=None, frames=None, seed=None):
    r"""Balanced lift of X: factors with product X and :math:`W_{p+1}^T W_{p+1} = W_p W_p^T`.

    :math:`W_p = Q_p \Lambda Q_{p-1}^\top`, :math:`\Lambda = \Sigma^{1/N}`, :math:`Q_0 = V`,
    :math:`Q_N = U` (thin SVD truncated to ``rank``), with free frames
    :math:`Q_p \in St(d_p, r)` for the hidden layers.

    Parameters
    ----------
    x : array-like, shape=[m, n] or [B, m, n]
        End-to-end matrix (or a batch).
    depth : int
        N >= 1.
    widths : sequence of int, optional
        Hidden widths ``(d_1, ..., d_{N-1})``, each >= rank (default: all equal to the rank).
    rank : int, optional
        Rank r of the lift (default ``min(m, n)``); X is truncated to rank r.
    frames : "identity", sequence of array, or None
        The hidden frames: ``None`` (default) draws Haar-random frames from ``seed``;
        ``"identity"`` uses the first r columns of the identity (deterministic); or give
        ``Q_1..Q_{N-1}`` of shapes ``(d_p, r)`` with orthonormal columns.
    seed : int, numpy Generator or None
        Randomness of the frames (None: fresh OS entropy).

    Returns
    -------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, each ``[d_p, d_{p-1}]`` (``[B, d_p, d_{p-1}]`` for a batch).

    Raises
    ------
    ValueError
        If ``depth``, ``rank``, ``widths`` or ``frames`` are invalid.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (balancedness at
       initialisation).
    .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.4)
       (the balancedness constraints).

    Examples
    --------
    >>> fs = balanced_factors(np.diag([4.0, 1.0]), 2, frames="identity")
    >>> np.allclose(fs[1] @ fs[0], np.diag([4.0, 1.0]))
    True
    """
    x = check_matrix(x, "x")
    if x.ndim > 3:
        raise ValueError(f"x must have shape [m, n] or [B, m, n], got {x.shape}")
    depth = check_depth(depth, allow_inf=False)
    m, n = x.shape[-2:]
    batch = x.shape[:-2]
    rank = min(m, n) if rank is None else check_rank(rank, m, n)
    widths = (rank,) * (depth - 1) if widths is None else check_widths(widths, depth, rank)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    u, s, v = u[..., :rank], s[..., :rank], _t(vt[..., :rank, :])
    lam = s ** (1.0 / depth)
    if isinstance(frames, str):
        if frames != "identity":
            raise ValueError(f"frames must be None, 'identity' or a list of matrices, "
                             f"got {frames!r}")
        frames = [np.broadcast_to(np.eye(d, rank), batch + (d, rank)) for d in widths]
    elif frames is None:
        rng = as_generator(seed)
        frames = []
        for d in widths:
            g = rng.standard_normal(batch + (d, rank))
            q, r = np.linalg.qr(g)
            diag = np.diagonal(r, axis1=-2, axis2=-1)
            frames.append(q * np.sign(np.where(diag == 0, 1.0, diag))[..., None, :])
    else:
        if isinstance(frames, np.ndarray) or not isinstance(frames, list | tuple):
            raise ValueError("frames must be None, 'identity' or a list of matrices")
        frames = [np.asarray(q, float) for q in frames]
        if len(frames) != depth - 1:
            raise ValueError(f"frames must hold {depth - 1} matrices, got {len(frames)}")
        for i, (q, d) in enumerate(zip(frames, widths)):
            eye = np.eye(rank)
            if q.shape[-2:] != (d, rank) or not np.allclose(_t(q) @ q, eye, atol=1e-10):
                raise ValueError(f"frames[{i}] must be ({d}, {rank}) with orthonormal columns")
    qs = [v] + list(frames) + [u]
    return [(qs[p + 1] * lam[..., None, :]) @ _t(qs[p]) for p in range(depth)]
