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

The end-to-end dynamics of balanced factors is that of Arora, Cohen and Hazan (ACH, [1]_); the
balanced lift is the balanced initialisation of Arora, Cohen, Golowich and Hu (ACGH, [2]_).
Razin–Cohen (RC) and Arora–Cohen–Hu–Luo (ACHL) store the product transposed in their code.

References
----------
.. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics of
   balanced factors; the gradient :math:`D\phi_W^*(\nabla E)` of each factor).
.. [2] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
   initialisation).
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
    factors : list of array-like or array-like, shape=[N, d, d]
        ``W_p`` of shape ``[..., d_p, d_{p-1}]``; a stacked array of N square factors is
        accepted.
    name : str
        Argument name used in error messages.

    Returns
    -------
    factors : list of ndarray
        The factors as float arrays.

    Raises
    ------
    ValueError
        If ``factors`` is empty or not a list of finite matrices, or consecutive widths do not
        chain (``W_p.shape[-1] != W_{p-1}.shape[-2]``).

    Examples
    --------
    >>> from geodln.factors import check_factors
    >>> [w.shape for w in check_factors([np.ones((3, 2)), np.ones((4, 3))])]
    [(3, 2), (4, 3)]

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (factors
       :math:`W_p \in \mathbb R^{d_p \times d_{p-1}}` of a depth-N linear network).
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
    r"""Return the widths ``(d_0, d_1, ..., d_N)`` of a factor list.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]``.

    Returns
    -------
    widths : tuple of int
        ``(d_0, ..., d_N)``: input width n first, output width m last.

    Examples
    --------
    >>> from geodln.factors import widths_of
    >>> widths_of([np.ones((3, 2)), np.ones((4, 3))])
    (2, 3, 4)

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (widths
       :math:`d_0, \dots, d_N` of a depth-N linear network).
    """
    return (factors[0].shape[-1],) + tuple(w.shape[-2] for w in factors)


def product(factors):
    """End-to-end matrix :math:`X = W_N \\cdots W_1`.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]``.

    Returns
    -------
    x : ndarray, shape=[..., m, n]
        The product map :math:`\\phi(W)`.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (end-to-end matrix of a
       linear network).

    Examples
    --------
    >>> from geodln.factors import product
    >>> W1, W2 = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    >>> product([W1, W2])
    array([[3., 6.],
           [4., 8.]])
    """
    x = factors[0]
    for w in factors[1:]:
        x = w @ x
    return x


def prefix_products(factors):
    """Return ``[W_{0:1}, W_{1:1}, ..., W_{N-1:1}]`` where ``W_{p-1:1}`` is the product below p.

    The first entry is the identity of size ``d_0``.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.

    Returns
    -------
    prefixes : list of ndarray
        Entry p-1 has shape ``[..., d_{p-1}, d_0]``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (the products
       :math:`W_{p-1:1}` in the factor gradients).

    Examples
    --------
    >>> from geodln.factors import prefix_products
    >>> [q.shape for q in prefix_products([np.ones((3, 2)), np.ones((4, 3))])]
    [(2, 2), (3, 2)]
    """
    n = factors[0].shape[-1]
    out = [np.broadcast_to(np.eye(n), factors[0].shape[:-2] + (n, n))]
    for w in factors[:-1]:
        out.append(w @ out[-1])
    return out


def suffix_products(factors):
    """Return ``[W_{N:2}, ..., W_{N:N+1}]``: entry p-1 is the product above factor p.

    The last entry is the identity of size ``d_N``.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.

    Returns
    -------
    suffixes : list of ndarray
        Entry p-1 has shape ``[..., d_N, d_p]``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (the products
       :math:`W_{N:p+1}` in the factor gradients).

    Examples
    --------
    >>> from geodln.factors import suffix_products
    >>> [s.shape for s in suffix_products([np.ones((3, 2)), np.ones((4, 3))])]
    [(4, 3), (4, 4)]
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
    factors : list of ndarray
        W, ``W_p`` of shape ``[..., d_p, d_{p-1}]``.
    tangent_factors : list of ndarray
        :math:`\dot W`, same shapes.

    Returns
    -------
    z : ndarray, shape=[..., m, n]
        :math:`D\phi_W(\dot W)`.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (proof: the differential of
       the end-to-end matrix).

    Examples
    --------
    The differential agrees with a difference quotient of the product:

    >>> from geodln.factors import product, tangent_product
    >>> rng = np.random.default_rng(0)
    >>> W = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))]
    >>> V = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))]
    >>> h = 1e-6
    >>> quotient = (product([w + h * v for w, v in zip(W, V)]) - product(W)) / h
    >>> bool(np.allclose(tangent_product(W, V), quotient, atol=1e-5))
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
    factors : list of ndarray
        W, ``W_p`` of shape ``[..., d_p, d_{p-1}]``.
    cotangent : ndarray, shape=[..., m, n]
        Y.

    Returns
    -------
    adjoint : list of ndarray
        :math:`D\phi_W^*(Y)`, entry p-1 of shape ``[..., d_p, d_{p-1}]``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (factor gradients
       :math:`W_{N:p+1}^\top \nabla E\, W_{p-1:1}^\top`).

    Examples
    --------
    :math:`\langle D\phi_W(\dot W), Y\rangle = \langle \dot W, D\phi_W^*(Y)\rangle`:

    >>> from geodln.factors import product_adjoint, tangent_product
    >>> rng = np.random.default_rng(1)
    >>> W = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))]
    >>> V = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))]
    >>> Y = rng.standard_normal((4, 2))
    >>> lhs = np.sum(tangent_product(W, V) * Y)
    >>> rhs = sum(np.sum(v * a) for v, a in zip(V, product_adjoint(W, Y)))
    >>> bool(np.isclose(lhs, rhs))
    True
    """
    pre, suf = prefix_products(factors), suffix_products(factors)
    return [_t(s) @ cotangent @ _t(q) for s, q in zip(suf, pre)]


def balance_residuals(factors):
    """Return ``[W_{p+1}^T W_{p+1} - W_p W_p^T for p = 1..N-1]``.

    Every gradient flow of :math:`E \\circ \\phi` conserves these differences; they vanish on
    balanced factors.

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.

    Returns
    -------
    residuals : list of ndarray
        N - 1 matrices, entry p-1 of shape ``[..., d_p, d_p]`` (empty for N = 1).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (balancedness is preserved
       by gradient flow).

    Examples
    --------
    >>> from geodln.factors import balance_residuals, balanced_factors
    >>> W = balanced_factors(np.diag([3.0, 1.0]), depth=3)
    >>> [bool(np.allclose(r, 0.0)) for r in balance_residuals(W)]
    [True, True]
    """
    return [_t(b) @ b - a @ _t(a) for a, b in zip(factors[:-1], factors[1:])]


def balance_defect(factors, relative=False):
    """Largest Frobenius norm of the balance residuals (0 for N = 1).

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``.
    relative : bool
        Divide by the largest squared Frobenius norm of a factor.

    Returns
    -------
    defect : float or ndarray, shape=[...]
        :math:`\\max_p \\|W_{p+1}^\\top W_{p+1} - W_p W_p^\\top\\|_F` (relative if asked).

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definition 1 (approximate
       balancedness, measured by this defect).

    Examples
    --------
    >>> from geodln.factors import balance_defect
    >>> float(balance_defect([np.array([[1.0]]), np.array([[2.0]])]))  # |2*2 - 1*1|
    3.0
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
    """Haar-random matrix with orthonormal columns, shape (rows, cols).

    QR factorisation of a Gaussian matrix with the signs of R's diagonal moved into Q, which
    makes the law exactly Haar.

    Parameters
    ----------
    rows, cols : int
        Shape, ``rows >= cols``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    q : ndarray, shape=(rows, cols)
        :math:`Q^\\top Q = I`.

    References
    ----------
    .. [1] MEZ07: Mezzadri, "How to generate random matrices from the classical compact
       groups", Notices of the AMS 54(5), 2007, arXiv:math-ph/0609050.

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
        Hidden widths, each >= ``rank``.
    depth : int
        N; ``widths`` must have N - 1 entries.
    rank : int
        r, the rank that every hidden layer must carry.
    name : str
        Argument name used in error messages.

    Returns
    -------
    widths : tuple of int

    Raises
    ------
    ValueError
        If a width is not an integer >= 1, there are not ``depth - 1`` widths, or a width is
        smaller than ``rank``.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Section 3 (hidden widths at
       least the rank of the end-to-end matrix).

    Examples
    --------
    >>> from geodln.factors import check_widths
    >>> check_widths([5, 2], depth=3, rank=2)
    (5, 2)
    """
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
    :math:`Q_N = U` (thin SVD truncated to ``rank``), ACGH19, Procedure 1.

    Parameters
    ----------
    x : array-like, shape=[m, n]
        End-to-end matrix.
    depth : int
        N >= 1.
    widths : sequence of int, optional
        Hidden widths ``(d_1, ..., d_{N-1})``, each >= rank (default: all equal to the rank).
    rank : int, optional
        Rank r of the lift (default ``min(m, n)``); X is truncated to rank r.
    frames : sequence of array, optional
        Orthonormal frames ``Q_1..Q_{N-1}`` of shapes ``(d_p, r)``. Default: the first r
        columns of the identity if ``seed`` is None, else Haar-random frames.
    seed : int or numpy Generator, optional
        Randomness for the frames.

    Returns
    -------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``(d_p, d_{p-1})``.

    Raises
    ------
    ValueError
        If ``x`` is not a finite matrix, ``depth`` is not a finite integer >= 1, ``rank`` is
        not in ``1..min(m, n)``, ``widths`` are invalid (see :func:`check_widths`), or
        ``frames`` do not hold N - 1 matrices of shape ``(d_p, r)`` with orthonormal columns.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation from the SVD of the end-to-end matrix).

    Examples
    --------
    >>> from geodln.factors import balance_defect, balanced_factors, product
    >>> X = np.array([[2.0, 1.0], [0.0, 1.0]])
    >>> W = balanced_factors(X, depth=3, widths=(4, 3), seed=0)
    >>> [w.shape for w in W]
    [(4, 2), (3, 4), (2, 3)]
    >>> bool(np.allclose(product(W), X)), bool(balance_defect(W) < 1e-12)
    (True, True)
    """
    x = check_matrix(x, "x", allow_batch=False)
    depth = check_depth(depth, allow_inf=False)
    m, n = x.shape
    rank = min(m, n) if rank is None else check_rank(rank, m, n)
    widths = (rank,) * (depth - 1) if widths is None else check_widths(widths, depth, rank)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    u, s, v = u[:, :rank], s[:rank], vt[:rank].T
    lam = s ** (1.0 / depth)
    if frames is None:
        if seed is None:
            frames = [np.eye(d, rank) for d in widths]
        else:
            rng = as_generator(seed)
            frames = [random_stiefel(d, rank, rng) for d in widths]
    else:
        frames = [np.asarray(q, float) for q in frames]
        if len(frames) != depth - 1:
            raise ValueError(f"frames must hold {depth - 1} matrices, got {len(frames)}")
        for i, (q, d) in enumerate(zip(frames, widths)):
            if q.shape != (d, rank) or not np.allclose(q.T @ q, np.eye(rank), atol=1e-10):
                raise ValueError(f"frames[{i}] must be ({d}, {rank}) with orthonormal columns")
    qs = [v] + list(frames) + [u]
    return [(qs[p + 1] * lam) @ qs[p].T for p in range(depth)]
