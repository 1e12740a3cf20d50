r"""Matrix sensing with sparse or rank-one measurements, evaluated from factors.

:math:`E(X) = \tfrac12 \sum_i (\langle A_i, X\rangle - y_i)^2` (the convention of
:class:`geodln.MatrixSensing`), :math:`\nabla E = \sum_i r_i A_i`.

- :class:`SparseSensing`: the :math:`A_i` are sparse, given as the rows of a ``scipy.sparse``
  matrix of shape (k, m·n) (row-major ``vec``). X is evaluated only on the union S of their
  supports, O(|S|·r), and the gradient is a CSR matrix on S.
- :class:`RankOneSensing`: :math:`A_i = a_i b_i^\top` (structured measurements),
  :math:`\langle A_i, L R^\top\rangle = (a_i^\top L)(R^\top b_i)`, O(k (m + n) r); the gradient
  :math:`\sum_i r_i a_i b_i^\top` is kept as a rank-k :class:`LowRankOperator`.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from geodln._checks import check_finite, check_matrix
from geodln.lowrank.least_squares import (
    FactoredLeastSquares,
    check_shape,
    factors_of,
    sparse_gradient,
)
from geodln.lowrank.point import entries_of_product
from geodln.lowrank.tangent import LowRankOperator

__all__ = ["SparseSensing", "RankOneSensing"]


class SparseSensing(FactoredLeastSquares):
    r"""Sensing loss with sparse measurement matrices :math:`A_i`.

    Parameters
    ----------
    measurements : scipy.sparse matrix, shape=[k, m*n], or list of sparse [m, n]
        Row i is :math:`\mathrm{vec}(A_i)` in row-major order.
    values : array-like, shape=[k]
        Measurements :math:`y_i`.
    shape : tuple of int
        ``(m, n)``.

    Raises
    ------
    ValueError
        On shape mismatches or non-finite entries.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).

    Examples
    --------
    One measurement :math:`\langle A, X\rangle = X_{11} + X_{22} = 3`, fitted exactly:

    >>> import scipy.sparse
    >>> from geodln.lowrank.sensing import SparseSensing
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> loss = SparseSensing([scipy.sparse.csr_matrix(np.eye(3, 2))], [3.0], (3, 2))
    >>> float(loss.value(x))
    0.0
    """

    name = "sensing"

    def __init__(self, measurements, values, shape):
        self.shape = check_shape(shape)
        m, n = self.shape
        if isinstance(measurements, list | tuple):
            for i, a in enumerate(measurements):
                if tuple(a.shape) != (m, n):
                    raise ValueError(f"measurements[{i}] must have shape {(m, n)}, got {a.shape}")
            measurements = sp.vstack(
                [sp.csr_matrix(a).reshape(1, m * n) for a in measurements], format="csr"
            )
        if not sp.issparse(measurements):
            raise ValueError("measurements must be a scipy.sparse matrix [k, m*n] or a list")
        a = sp.csr_matrix(measurements)
        if a.shape[1] != m * n:
            raise ValueError(f"measurements must have m*n = {m * n} columns, got {a.shape[1]}")
        if not np.all(np.isfinite(a.data)):
            raise ValueError("measurements contains NaN or inf entries")
        values = check_finite(values, "values").reshape(-1)
        if values.shape != (a.shape[0],):
            raise ValueError(
                f"values must have one entry per measurement ({a.shape[0]}), got {values.size}"
            )
        a.sum_duplicates()
        support = np.unique(a.indices)
        self.support_rows = support // n
        self.support_cols = support % n
        remap = np.searchsorted(support, a.indices)
        self._compressed = sp.csr_matrix(
            (a.data, remap, a.indptr), shape=(a.shape[0], support.size)
        )
        self._compressed_t = self._compressed.T.tocsr()
        self.values = values
        counts = np.bincount(self.support_rows, minlength=m)
        self._indptr = np.concatenate([[0], np.cumsum(counts)])

    @property
    def n_measurements(self):
        """Number k of measurements."""
        return self.values.size

    def measure(self, point):
        r"""Measurements :math:`\langle A_i, X\rangle`, shape [k]."""
        left, right = factors_of(point)
        x_s = entries_of_product(left, right, self.support_rows, self.support_cols)
        if x_s.ndim == 1:
            return self._compressed @ x_s
        flat = x_s.reshape(-1, x_s.shape[-1])
        return (self._compressed @ flat.T).T.reshape(x_s.shape[:-1] + (-1,))

    def residuals(self, point):
        r"""Residuals :math:`\langle A_i, X\rangle - y_i`, shape [k]."""
        return self.measure(point) - self.values

    def gradient_from_residuals(self, res):
        r"""Sparse CSR Euclidean gradient :math:`\sum_i r_i A_i` on the support."""
        if res.ndim == 1:
            data = self._compressed_t @ res
        else:
            flat = res.reshape(-1, res.shape[-1])
            data = (self._compressed_t @ flat.T).T.reshape(res.shape[:-1] + (-1,))
        return sparse_gradient(data, self.support_cols, self._indptr, self.shape)

    def lipschitz_constant(self):
        r"""Largest Hessian eigenvalue :math:`\|\mathcal A\|_2^2` of the least-squares loss.

        The measurements touch only the support entries, so :math:`\mathcal A` is the stored
        ``k × |support|`` sparse matrix; its largest singular value comes from
        :func:`scipy.sparse.linalg.svds` (a dense SVD when it is tiny).

        Returns
        -------
        lipschitz : float

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> loss = SparseSensing(sp.csr_matrix([[3.0, 0, 0, 4.0]]), [1.0], (2, 2))
        >>> round(loss.lipschitz_constant(), 12)
        25.0
        """
        mat = self._compressed
        if min(mat.shape) <= 2:
            top = float(np.linalg.norm(mat.toarray(), 2))
        else:
            top = float(svds(mat, k=1, return_singular_vectors=False)[0])
        return top * top

    def __repr__(self):
        return f"SparseSensing(shape={self.shape}, n_measurements={self.n_measurements})"


class RankOneSensing(FactoredLeastSquares):
    r"""Sensing loss with rank-one measurements :math:`A_i = a_i b_i^\top`.

    Parameters
    ----------
    a : array-like, shape=[k, m]
    b : array-like, shape=[k, n]
    values : array-like, shape=[k]

    Raises
    ------
    ValueError
        If ``a`` is not a finite real array of matrices [..., m, n] of the expected shape; if
        ``b`` is not a finite real array of matrices [..., m, n] of the expected shape; if
        ``values`` is not a finite real array; otherwise with the message ``a and b must have
        the same number of rows (measurements), got … and …``; or ``values must have one entry
        per measurement (…), got …``.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).

    Examples
    --------
    :math:`A = e_1 e_1^\top` reads :math:`X_{11} = 2`; against y = 3 the loss is 1/2:

    >>> from geodln.lowrank.sensing import RankOneSensing
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> RankOneSensing(np.array([[1.0, 0.0, 0.0]]), np.array([[1.0, 0.0]]), [3.0]).value(x)
    0.5
    """

    name = "rank-one sensing"

    def __init__(self, a, b, values):
        self.a = check_matrix(a, "a", allow_batch=False)
        self.b = check_matrix(b, "b", allow_batch=False)
        if self.a.shape[0] != self.b.shape[0]:
            raise ValueError(
                f"a and b must have the same number of rows (measurements), got "
                f"{self.a.shape[0]} and {self.b.shape[0]}"
            )
        self.values = check_finite(values, "values").reshape(-1)
        if self.values.shape != (self.a.shape[0],):
            raise ValueError(
                f"values must have one entry per measurement ({self.a.shape[0]}), "
                f"got {self.values.size}"
            )
        self.shape = (self.a.shape[1], self.b.shape[1])

    def measure(self, point):
        r"""Measurements :math:`a_i^\top X b_i`, shape [k]."""
        left, right = factors_of(point)
        return np.einsum("...ir,...ir->...i", self.a @ left, self.b @ right)

    def residuals(self, point):
        """Residuals, shape [k]."""
        return self.measure(point) - self.values

    def gradient_from_residuals(self, res):
        r"""Gradient :math:`\sum_i r_i a_i b_i^\top` as a rank-k :class:`LowRankOperator`."""
        left = self.a.T * res[..., None, :]
        return LowRankOperator(left, np.broadcast_to(self.b.T, res.shape[:-1] + self.b.T.shape))

    def lipschitz_constant(self, n_iter=100, seed=0):
        r"""Largest Hessian eigenvalue :math:`\|\mathcal A\mathcal A^*\|_2` by power iteration.

        :math:`(\mathcal A\mathcal A^* r)_j = \sum_i r_i (a_j^\top a_i)(b_i^\top b_j)`,
        applied through the rank-k gradient operator (no k × k matrix is formed).

        Parameters
        ----------
        n_iter : int
            Power iterations.
        seed : int
            Start vector.

        Returns
        -------
        lipschitz : float

        Examples
        --------
        >>> import numpy as np
        >>> loss = RankOneSensing([[1.0, 0.0]], [[0.0, 2.0]], [1.0])  # A = a bᵀ, |A|_F = 2
        >>> round(loss.lipschitz_constant(), 12)
        4.0
        """
        rng = np.random.default_rng(seed)
        r = rng.standard_normal(self.values.size)
        lam = 0.0
        for _ in range(n_iter):
            op = self.gradient_from_residuals(r)
            w = self.measure((op.left, op.right))
            lam = float(np.linalg.norm(w))
            if lam == 0.0:
                break
            r = w / lam
        return lam

    def __repr__(self):
        return f"RankOneSensing(shape={self.shape}, n_measurements={self.values.size})"
