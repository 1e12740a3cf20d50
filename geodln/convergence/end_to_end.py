r"""The end-to-end update of gradient descent on a deep linear network (ACH18).

Arora, Cohen, Hazan (ACH18) show that gradient descent on balanced factors
:math:`W_p \leftarrow W_p - \eta\nabla_{W_p}(E\circ\phi)` moves the end-to-end matrix by

.. math:: X \leftarrow X - \eta\,A_{N,X}(\nabla E(X)) + O(\eta^2),\qquad
          A_{N,X}(Z) = \sum_{j=1}^N (XX^\top)^{(N-j)/N} Z (X^\top X)^{(j-1)/N}

(ACH18 Eq. (10)-(11) and Theorem 1; the preconditioner is the co-metric of :math:`g^N`). The
exact factor step is the product :math:`\prod_p (W_p - \eta G_p)`, a polynomial of degree N in η.
For balanced factors its :math:`\eta^2` coefficient is again a function of X alone,

.. math:: B_{N,X}(G) = \sum_{N \ge p > q \ge 1} (XX^\top)^{(N-p)/N}\, G\,
          V\Sigma^{(N + 2(p-q-1))/N}U^\top\, G\, (X^\top X)^{(q-1)/N}

(:math:`X = U\Sigma V^\top`, powers 0 are identities), so :func:`end_to_end_update` offers the
first-order rule of ACH18 and its second-order refinement; the slope of the error against the
factor step over η is 2 and 3 respectively (tested).
"""

import numpy as np

from geodln._checks import check_depth, check_matrix, check_positive_real
from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices

__all__ = ["preconditioned_gradient", "second_order_term", "end_to_end_update"]


def _gram_power(u_full, s_full, power):
    """``u diag(s^(2 power)) u^T`` with ``power == 0`` the identity, batched."""
    if power == 0:
        return np.broadcast_to(np.eye(u_full.shape[-1]), u_full.shape).copy()
    return (u_full * (s_full ** (2.0 * power))[..., None, :]) @ np.swapaxes(u_full, -1, -2)


def _full_svd(x):
    u, s, vt = np.linalg.svd(x, full_matrices=True)
    m, n = x.shape[-2:]
    su = np.zeros(x.shape[:-2] + (m,))
    sv = np.zeros(x.shape[:-2] + (n,))
    k = min(m, n)
    su[..., :k] = s
    sv[..., :k] = s
    return u, su, np.swapaxes(vt, -1, -2), sv, s


def preconditioned_gradient(X, gradient, depth):
    r""":math:`A_{N,X}(G)`, the ACH18 preconditioning of a Euclidean gradient G at X.

    Parameters
    ----------
    X : array-like, shape=[..., m, n]
        End-to-end matrices.
    gradient : array-like, shape=[..., m, n]
        Euclidean gradients :math:`G = \nabla E(X)`.
    depth : int
        Depth N >= 1.

    Returns
    -------
    velocity : ndarray, shape=[..., m, n]
        :math:`A_{N,X}(G)` (plain sum; :meth:`geodln.DLNMetric.sharp`).

    Raises
    ------
    ValueError
        If X or gradient is not a finite real array of matching shape, or depth is invalid.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Eq. (10) and Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import preconditioned_gradient
    >>> preconditioned_gradient(np.diag([4.0, 1.0]), np.eye(2), 2)  # 2 sigma^(2 - 2/N)
    array([[8., 0.],
           [0., 2.]])
    """
    x = check_matrix(X, "X")
    g = check_matrix(gradient, "gradient", shape=x.shape[-2:])
    n = check_depth(depth, allow_inf=False)
    m_, n_ = x.shape[-2:]
    if n == 1:
        return np.broadcast_to(g, np.broadcast_shapes(x.shape, g.shape)).copy()
    metric = DLNMetric(RankMatrices(m_, n_, min(m_, n_)), n)
    return metric.sharp(g, x)


def second_order_term(X, gradient, depth):
    r"""Return the :math:`\eta^2` coefficient :math:`B_{N,X}(G)` of the balanced factor GD step.

    Parameters
    ----------
    X : array-like, shape=[..., m, n]
        End-to-end matrices (product of balanced factors).
    gradient : array-like, shape=[..., m, n]
        :math:`G = \nabla E(X)`.
    depth : int
        Depth N >= 1 (N = 1 gives 0).

    Returns
    -------
    term : ndarray, shape=[..., m, n]

    Raises
    ------
    ValueError
        If X or gradient is not a finite real array of matching shape, or depth is invalid.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 5 (the O(η²) terms of the
       end-to-end update).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import second_order_term
    >>> float(second_order_term(np.array([[4.0]]), np.array([[1.0]]), 2)[0, 0])  # w1 w2 = 4
    4.0
    """
    x = check_matrix(X, "X")
    g = check_matrix(gradient, "gradient", shape=x.shape[-2:])
    n = check_depth(depth, allow_inf=False)
    x, g = np.broadcast_arrays(x, g)
    out = np.zeros(x.shape)
    if n == 1:
        return out
    u, su, v, sv, s = _full_svd(x)
    k = s.shape[-1]
    left = {p: _gram_power(u, su, (n - p) / n) for p in range(2, n + 1)}
    right = {q: _gram_power(v, sv, (q - 1) / n) for q in range(1, n)}
    uk, vk = u[..., :, :k], v[..., :, :k]
    for p in range(2, n + 1):
        for q in range(1, p):
            mid = (vk * (s ** ((n + 2.0 * (p - q - 1)) / n))[..., None, :]) @ np.swapaxes(
                uk, -1, -2)
            out += left[p] @ g @ mid @ g @ right[q]
    return out


def end_to_end_update(X, gradient, step_size, depth, order=1):
    r"""One end-to-end gradient-descent step: ACH18's rule (order 1) or its refinement (2).

    ``order=1``: :math:`X - \eta A_{N,X}(G)` (ACH18 Eq. (11) without weight decay);
    ``order=2``: :math:`X - \eta A_{N,X}(G) + \eta^2 B_{N,X}(G)`
    (:func:`second_order_term`). From balanced factors with product X, plain GD on the
    factors with step η lands at distance :math:`O(\eta^{order+1})`.

    Parameters
    ----------
    X : array-like, shape=[..., m, n]
        End-to-end matrices.
    gradient : array-like, shape=[..., m, n]
        :math:`G = \nabla E(X)`.
    step_size : float
        η > 0.
    depth : int
        Depth N >= 1.
    order : {1, 2}
        Order in η.

    Returns
    -------
    X_next : ndarray, shape=[..., m, n]

    Raises
    ------
    ValueError
        If an argument is invalid or ``order`` is not 1 or 2.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Eq. (10)-(11), Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import end_to_end_update
    >>> x, g = np.array([[4.0]]), np.array([[1.0]])
    >>> end_to_end_update(x, g, 0.1, 2)  # 4 - 0.1 * N * sigma^(2 - 2/N) = 4 - 0.8
    array([[3.2]])
    >>> end_to_end_update(x, g, 0.1, 2, order=2)  # (2 - 0.2)^2: exact for this scalar case
    array([[3.24]])
    """
    eta = check_positive_real(step_size, "step_size")
    if isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    x = check_matrix(X, "X")
    out = x - eta * preconditioned_gradient(x, gradient, depth)
    if order == 2:
        out = out + eta**2 * second_order_term(x, gradient, depth)
    return out
