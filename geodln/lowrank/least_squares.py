r"""Shared part of the factored least-squares losses :math:`E = \tfrac12\|r(X)\|^2`.

Completion (:mod:`geodln.lowrank.completion`) and sensing (:mod:`geodln.lowrank.sensing`)
differ only in their residual map :math:`r(X)` and in how the gradient
:math:`\nabla E = \sum_i r_i A_i` is kept (sparse CSR, a :class:`BatchedSparse` block-diagonal
CSR for a batch of points, or a low-rank operator). Points are factored (``X = L Rᵀ``, from a
:class:`~geodln.lowrank.point.FactoredPoint` or an ``(L, R)`` pair), with optional leading
batch axes; the value is then one number per member.
"""

import numpy as np
import scipy.sparse as sp

from geodln._checks import check_positive_int
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.tangent import BatchedSparse

__all__ = ["FactoredLeastSquares", "factors_of", "check_shape", "sparse_gradient"]


def check_shape(shape, name="shape"):
    """Return ``shape`` as a pair of positive ints ``(m, n)``.

    Parameters
    ----------
    shape : tuple or list
        The shape the caller gave.
    name : str
        Argument name for the error messages.

    Returns
    -------
    shape : tuple of int

    Raises
    ------
    ValueError
        If ``shape`` is not a pair of positive integers.

    Examples
    --------
    >>> from geodln.lowrank.least_squares import check_shape
    >>> check_shape([3, 2])
    (3, 2)
    """
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"{name} must be a pair (m, n), got {shape!r}")
    return (check_positive_int(shape[0], f"{name}[0]"),
            check_positive_int(shape[1], f"{name}[1]"))


def factors_of(point):
    """Return ``(L, R)`` with ``X = L Rᵀ`` for a FactoredPoint or a ``(L, R)`` pair.

    Parameters
    ----------
    point : FactoredPoint or tuple of array-like, shapes ([..., m, r], [..., n, r])
        :math:`X = U\\,\\mathrm{diag}(s)\\,V^\\top` or a pair ``(L, R)``.

    Returns
    -------
    left : ndarray, shape=[..., m, r]
    right : ndarray, shape=[..., n, r]

    Raises
    ------
    ValueError
        If ``point`` is neither.

    Examples
    --------
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> from geodln.lowrank.least_squares import factors_of
    >>> left, right = factors_of(x)
    >>> left @ right.T
    array([[2., 0.],
           [0., 1.],
           [0., 0.]])
    """
    if isinstance(point, FactoredPoint):
        return point.left(), point.v
    if isinstance(point, tuple) and len(point) == 2:
        return np.asarray(point[0], float), np.asarray(point[1], float)
    raise ValueError(
        "point must be a FactoredPoint or a pair (left, right) with X = left @ right.T, "
        f"got {type(point).__name__}"
    )


def sparse_gradient(data, indices, indptr, shape):
    r"""CSR matrix of one member, or a :class:`BatchedSparse` for ``data`` [B, nnz].

    Parameters
    ----------
    data : ndarray, shape=[nnz] or [B, nnz]
        Values in CSR order.
    indices, indptr : ndarray of int, shapes [nnz] and [m + 1]
        The CSR structure of one member (shared by the batch).
    shape : tuple of int
        ``(m, n)``.

    Returns
    -------
    gradient : scipy.sparse.csr_matrix or BatchedSparse

    Examples
    --------
    >>> from geodln.lowrank.least_squares import sparse_gradient
    >>> g = sparse_gradient(np.array([1.0, 2.0]), np.array([0, 1]), np.array([0, 1, 2]), (2, 2))
    >>> g.toarray()
    array([[1., 0.],
           [0., 2.]])
    """
    if data.ndim == 1:
        return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
    m, n = shape
    batch = int(np.prod(data.shape[:-1]))
    nnz = indices.shape[0]
    offsets = np.arange(batch, dtype=np.int64)
    big_indices = (indices[None, :] + offsets[:, None] * n).reshape(-1)
    big_indptr = np.concatenate(
        [(indptr[:-1][None, :] + offsets[:, None] * nnz).reshape(-1), [batch * nnz]]
    )
    block = sp.csr_matrix((data.reshape(-1), big_indices, big_indptr),
                          shape=(batch * m, batch * n), copy=False)
    return BatchedSparse(block, batch, shape)


class FactoredLeastSquares:
    r"""Base of the factored losses :math:`E = \tfrac12 \|r\|^2`.

    Subclasses define ``residuals(point)`` [..., k] and ``gradient_from_residuals(res)``.

    Examples
    --------
    The completion loss is one; its value is half the squared residual norm:

    >>> from geodln.lowrank import SparseCompletion
    >>> from geodln.lowrank.least_squares import FactoredLeastSquares
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> loss = SparseCompletion(([0, 1], [0, 1]), [1.0, 2.0], (3, 2))
    >>> isinstance(loss, FactoredLeastSquares), loss.residuals(x), loss.value(x)
    (True, array([ 1., -1.]), 1.0)
    """

    def value(self, point):
        r"""Loss value :math:`\tfrac12 \|r\|^2` (float, or [batch] for a batch of points)."""
        res = self.residuals(point)
        out = 0.5 * np.sum(res * res, axis=-1)
        return float(out) if np.ndim(out) == 0 else out

    def value_and_gradient(self, point):
        """``(value, gradient)`` with one residual evaluation."""
        res = self.residuals(point)
        out = 0.5 * np.sum(res * res, axis=-1)
        return (float(out) if np.ndim(out) == 0 else out), self.gradient_from_residuals(res)

    def euclidean_gradient(self, point):
        """Euclidean gradient (see ``gradient_from_residuals``)."""
        return self.gradient_from_residuals(self.residuals(point))
