r"""Coupling of blocks in matrix completion with block-diagonal observations (SY26).

Shin and Yun (SY26) study completion where the observed entries form diagonal blocks
:math:`I_k \times J_k` (disjoint row sets :math:`I_k`, disjoint column sets :math:`J_k`). The
gradient :math:`G = \nabla E(X)` is then block-diagonal, :math:`G = \sum_k G_k`, and the factor
gradient flow moves X by (chain rule; :func:`geodln.factors.product_adjoint`)

.. math:: \dot X = -\sum_{p=1}^N L_p\,G\,R_p,\qquad
          L_p = W_{N:p+1}W_{N:p+1}^\top,\quad R_p = W_{p-1:1}^\top W_{p-1:1}.

The dynamics is **decoupled** when the velocity of each observed block depends on its own
residual only, :math:`P_k(L_pG_jR_p) = 0` for :math:`j \ne k`. For N = 2 every term has
:math:`L_p = I` or :math:`R_p = I`, so blocks never couple; for N >= 3 the middle terms couple
them unless the factors are block-diagonal (SY26: depth >= 3 is coupled unless the start is
diagonal), and convergence to rank 1 happens iff the dynamics is coupled. On balanced factors
the operator is :math:`A_{N,X}` (Arora, Cohen, Hazan, ACH18, Thm 1), so the diagnostic is a
function of X.

:func:`coupling_strength` measures the ratio of cross-block to own-block velocity on the
observed blocks, :math:`\big(\sum_k\|P_k T(G - G_k)\|_F^2 / \sum_k\|P_k T(G_k)\|_F^2\big)^{1/2}`
with :math:`T(G) = \sum_p L_p G R_p`; it is exactly 0 (not merely small) when decoupled.

**What is SY26's and what is ours.** Only SY26's abstract could be retrieved while this
module was written (Shin and Yun, "Implicit Bias and Loss of Plasticity in Matrix
Completion: Depth Promotes Low-Rankness", ICLR 2026). Its statements used here are (a)
networks of depth >= 3 exhibit coupling unless initialised diagonally and (b) convergence to
rank 1 happens iff the dynamics is coupled (for a family of initialisations), under gradient
flow with block-diagonal observations. The definition of decoupling above (derived from the
chain rule), the normalised diagnostic :func:`coupling_strength`, and the section or
theorem numbers of the paper are not taken from its text.
"""

import numpy as np

from geodln._checks import check_matrix, check_positive_int
from geodln.factors import check_factors, prefix_products, suffix_products
from geodln.losses import MatrixCompletion

__all__ = ["block_masks", "block_diagonal_completion", "coupling_strength"]


def _sizes(sizes, name):
    if isinstance(sizes, int | np.integer) and not isinstance(sizes, bool):
        sizes = [sizes]
    if not isinstance(sizes, list | tuple) or not sizes:
        raise ValueError(f"{name} must be a non-empty list of positive block sizes")
    return [check_positive_int(s, f"{name}[{i}]") for i, s in enumerate(sizes)]


def block_masks(row_sizes, col_sizes):
    """Boolean masks [K, m, n] of the diagonal blocks :math:`I_k \\times J_k`.

    Parameters
    ----------
    row_sizes : list of int
        Sizes of the row blocks :math:`|I_k|` (consecutive rows).
    col_sizes : list of int
        Sizes of the column blocks :math:`|J_k|`, same number K of blocks.

    Returns
    -------
    masks : ndarray of bool, shape=[K, m, n]
        ``m = sum(row_sizes)``, ``n = sum(col_sizes)``.

    Raises
    ------
    ValueError
        If a size is not a positive integer or the numbers of blocks differ.

    References
    ----------
    .. [1] SY26: Shin, Yun, arXiv:2603.04703 (ICLR 2026), abstract: block-diagonal
       observations.

    Examples
    --------
    >>> from geodln.convergence import block_masks
    >>> block_masks([1, 1], [1, 2]).astype(int)[1]
    array([[0, 0, 0],
           [0, 1, 1]])
    """
    rows = _sizes(row_sizes, "row_sizes")
    cols = _sizes(col_sizes, "col_sizes")
    if len(rows) != len(cols):
        raise ValueError(
            f"row_sizes and col_sizes must give the same number of blocks, got {len(rows)} "
            f"and {len(cols)}"
        )
    m, n = sum(rows), sum(cols)
    masks = np.zeros((len(rows), m, n), dtype=bool)
    r0 = c0 = 0
    for k, (r, c) in enumerate(zip(rows, cols)):
        masks[k, r0:r0 + r, c0:c0 + c] = True
        r0, c0 = r0 + r, c0 + c
    return masks


def block_diagonal_completion(target, row_sizes, col_sizes):
    """Completion loss observing the diagonal blocks of ``target``.

    Parameters
    ----------
    target : array-like, shape=[m, n]
        Matrix whose diagonal blocks are observed.
    row_sizes, col_sizes : list of int
        Block sizes (see :func:`block_masks`); they must sum to m and n.

    Returns
    -------
    loss : geodln.losses.MatrixCompletion

    Raises
    ------
    ValueError
        If the block sizes do not tile the shape of ``target``.

    References
    ----------
    .. [1] SY26: Shin, Yun, arXiv:2603.04703 (ICLR 2026), abstract: block-diagonal
       observations.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import block_diagonal_completion
    >>> block_diagonal_completion(np.ones((2, 2)), [1, 1], [1, 1]).n_observed
    2
    """
    x = check_matrix(target, "target", allow_batch=False)
    masks = block_masks(row_sizes, col_sizes)
    if masks.shape[1:] != x.shape:
        raise ValueError(
            f"block sizes tile a {masks.shape[1:]} matrix but target has shape {x.shape}"
        )
    return MatrixCompletion(mask=masks.any(axis=0), values=x)


def _operator_terms(factors):
    """[(L_p, R_p)] of the factor flow, batched over the factors' leading axes."""
    pre = prefix_products(factors)
    suf = suffix_products(factors)
    terms = []
    for s, p in zip(suf, pre):
        terms.append((s @ np.swapaxes(s, -1, -2), np.swapaxes(p, -1, -2) @ p))
    return terms


def coupling_strength(factors, gradient, masks):
    r"""Cross-block over own-block velocity of the factor flow on the observed blocks.

    Parameters
    ----------
    factors : list of array-like
        ``[W_1, ..., W_N]``, each ``[..., d_p, d_{p-1}]`` (batched alike).
    gradient : array-like, shape=[..., m, n]
        Euclidean gradient :math:`G = \nabla E(X)` at the product (supported on the blocks).
    masks : array-like of bool, shape=[K, m, n]
        Observed blocks (:func:`block_masks`).

    Returns
    -------
    strength : float or ndarray, shape=[...]
        0 exactly when decoupled (N <= 2, or block-diagonal factors); NaN where the
        own-block velocity vanishes (at a critical point).

    Raises
    ------
    ValueError
        If the factors do not chain, or gradient / masks do not match their product.

    References
    ----------
    .. [1] SY26: Shin, Yun, arXiv:2603.04703 (ICLR 2026), abstract, claims (a) and (b); the
       normalised ratio measured here is ours.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import block_masks, coupling_strength
    >>> masks = block_masks([1, 1], [1, 1])
    >>> g = np.diag([1.0, -1.0])
    >>> w = [np.array([[1.0, 0.5], [0.2, 1.0]])] * 2
    >>> float(coupling_strength(w, g, masks))  # depth 2: never coupled
    0.0
    >>> bool(coupling_strength(w * 2, g, masks) > 0)  # depth 4, non-diagonal factors
    True
    """
    factors = check_factors(factors, "factors")
    m, n = factors[-1].shape[-2], factors[0].shape[-1]
    g = check_matrix(gradient, "gradient", shape=(m, n))
    masks = np.asarray(masks)
    if masks.dtype != bool or masks.ndim != 3 or masks.shape[1:] != (m, n):
        raise ValueError(f"masks must be a boolean array [K, {m}, {n}], got {masks.shape}")
    own = np.zeros(np.broadcast_shapes(g.shape, factors[0].shape[:-2] + (m, n))[:-2])
    cross = np.zeros_like(own)
    terms = _operator_terms(factors)
    for mask_k in masks:
        g_k = np.where(mask_k, g, 0.0)
        v_own = sum(left @ g_k @ right for left, right in terms)
        v_cross = sum(left @ (g - g_k) @ right for left, right in terms)
        own = own + np.sum(np.where(mask_k, v_own, 0.0) ** 2, axis=(-2, -1))
        cross = cross + np.sum(np.where(mask_k, v_cross, 0.0) ** 2, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(cross / own)
    out = np.where(cross == 0, 0.0, out)
    return out if out.ndim else float(out)
