r"""Sparse matrix completion: observed index arrays, residuals from factors, sparse gradients.

:math:`E(X) = \tfrac12 \sum_{(i,j)\in\Omega} (X_{ij} - b_{ij})^2` (the Razin–Cohen convention
of :class:`geodln.MatrixCompletion`, RC20) with :math:`\Omega` given as index arrays —
no m×n mask. For :math:`X = L R^\top` (a :class:`FactoredPoint` gives ``L = U diag(σ)``,
``R = V``; a bottleneck factor tuple gives ``L = W_N⋯W_2``, ``R = W_1ᵀ``) the residuals cost
O(|Ω|·r) and the Euclidean gradient, :math:`\nabla E = \sum_\Omega (X_{ij} - b_{ij}) e_i e_j^\top`,
is returned as a ``scipy.sparse`` CSR matrix whose sparsity structure is built once.
"""


import numpy as np

from geodln._checks import (
    as_array,
    as_generator,
    check_finite,
    check_fraction,
    check_nonnegative_real,
    check_positive_int,
    check_rank,
)
from geodln.lowrank.least_squares import (
    FactoredLeastSquares,
    check_shape,
    factors_of,
    sparse_gradient,
)
from geodln.lowrank.point import FactoredPoint

__all__ = ["SparseCompletion", "random_sparse_completion", "sample_distinct_indices"]

#: Evaluate residuals through the dense product ``L Rᵀ`` when ``m n <= DENSE_RATIO |Ω|``
#: (and the batch holds at most ``DENSE_MAX_ENTRIES`` entries): a GEMM of m·n·r flops then
#: costs less than |Ω| gathered length-r dot products.
DENSE_RATIO = 8
DENSE_MAX_ENTRIES = 1 << 22


def _index_array(a, name):
    a = as_array(a, name)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-d integer array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a))):
            raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)


class SparseCompletion(FactoredLeastSquares):
    r"""Completion loss on observed entries given by index arrays (no dense mask).

    Parameters
    ----------
    indices : tuple of array-like
        ``(rows, cols)``, 0-based, each of length k; or an integer array [k, 2].
    values : array-like, shape=[k]
        Observed values :math:`b_{ij}`.
    shape : tuple of int
        ``(m, n)``.

    Raises
    ------
    ValueError
        If an index is out of range (``indices``), an entry is observed twice (``indices``),
        ``values`` has the wrong length or non-finite entries, or ``shape`` is invalid.

    Notes
    -----
    The observations are stored sorted in row-major (CSR) order; :attr:`rows`, :attr:`cols`,
    :attr:`values` are in that order.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).
    .. [2] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 and Fig. 1 (the 2×2 completion problem;
       loss :math:`\tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` as in their code).

    Examples
    --------
    >>> from geodln.lowrank.completion import SparseCompletion
    >>> from geodln.lowrank.point import FactoredPoint
    >>> x = FactoredPoint(np.eye(3)[:, :2], [2.0, 1.0], np.eye(2))  # diag(2, 1) in R^{3x2}
    >>> loss = SparseCompletion(([0, 1], [0, 1]), [1.0, 2.0], (3, 2))
    >>> float(loss.value_and_gradient(x)[0])  # (2 - 1)^2 / 2 + (1 - 2)^2 / 2
    1.0
    """

    name = "completion"

    def __init__(self, indices, values, shape):
        self.shape = check_shape(shape)
        m, n = self.shape
        if isinstance(indices, tuple | list) and len(indices) == 2:
            rows = _index_array(indices[0], "indices[0] (rows)")
            cols = _index_array(indices[1], "indices[1] (cols)")
        else:
            arr = as_array(indices, "indices")
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(
                    f"indices must be (rows, cols) or an integer array [k, 2], got {arr.shape}"
                )
            rows, cols = _index_array(arr[:, 0], "indices"), _index_array(arr[:, 1], "indices")
        if rows.shape != cols.shape:
            raise ValueError(
                f"indices: rows and cols differ in length ({rows.size} vs {cols.size})"
            )
        if rows.size == 0:
            raise ValueError("indices: at least one entry must be observed")
        values = check_finite(values, "values").reshape(-1)
        if values.shape != rows.shape:
            raise ValueError(
                f"values must have one entry per observed index ({rows.size}), got {values.size}"
            )
        if rows.min() < 0 or rows.max() >= m:
            raise ValueError(f"indices: row index out of range [0, {m})")
        if cols.min() < 0 or cols.max() >= n:
            raise ValueError(f"indices: column index out of range [0, {n})")
        flat = rows * n + cols
        order = np.argsort(flat, kind="stable")
        flat = flat[order]
        dup = np.flatnonzero(flat[1:] == flat[:-1])
        if dup.size:
            i, j = divmod(int(flat[dup[0]]), n)
            raise ValueError(
                f"indices: duplicate observed entries ({dup.size} repeats, e.g. ({i}, {j}))"
            )
        self.rows = rows[order].astype(np.int32 if max(m, n) < 2**31 else np.int64)
        self.cols = cols[order].astype(self.rows.dtype)
        self.values = values[order]
        self._flat = self.rows.astype(np.int64) * n + self.cols
        counts = np.bincount(self.rows, minlength=m)
        self._indptr = np.concatenate([[0], np.cumsum(counts)]).astype(self.rows.dtype)

    # -- conversions ----------------------------------------------------------------------
    @classmethod
    def from_completion(cls, loss):
        """Build from a dense-API :class:`geodln.MatrixCompletion` (same observed entries)."""
        return cls((loss.rows, loss.cols), loss.values, loss.shape)

    def to_dense_loss(self):
        """Return the equivalent :class:`geodln.MatrixCompletion` (for the dense flows)."""
        from geodln.losses import MatrixCompletion

        return MatrixCompletion(
            indices=(self.rows, self.cols), values=self.values, shape=self.shape
        )

    @property
    def n_observed(self):
        """Number of observed entries |Ω|."""
        return self.rows.size

    # -- evaluation ---------------------------------------------------------------------------
    def predictions(self, point):
        r"""Entries :math:`X_{ij}`, :math:`(i, j) \in \Omega`, of factored or dense points.

        Parameters
        ----------
        point : FactoredPoint, (L, R) pair or ndarray [..., m, n]
            One point or a batch.

        Returns
        -------
        values : ndarray, shape=[..., k]
            CSR order.

        Raises
        ------
        ValueError
            With the message ``point must have shape [..., …, …], got …``; or ``point has shape …,
            expected …``.
        """
        if isinstance(point, np.ndarray):
            if point.shape[-2:] != self.shape:
                raise ValueError(f"point must have shape [..., {self.shape[0]}, "
                                 f"{self.shape[1]}], got {point.shape}")
            return point[..., self.rows, self.cols]
        left, right = factors_of(point)
        if left.shape[-2] != self.shape[0] or right.shape[-2] != self.shape[1]:
            raise ValueError(
                f"point has shape {(left.shape[-2], right.shape[-2])}, expected {self.shape}"
            )
        m, n = self.shape
        batch = int(np.prod(left.shape[:-2]))
        if m * n <= DENSE_RATIO * self.n_observed and batch * m * n <= DENSE_MAX_ENTRIES:
            # dense observation fraction: one GEMM and a gather beat the per-entry products
            dense = left @ np.swapaxes(right, -1, -2)
            return np.take(dense.reshape(dense.shape[:-2] + (m * n,)), self._flat, axis=-1)
        return self._csr_entries(left, right)
    def _csr_entries(self, left, right, chunk=1 << 16):
        """Entries of ``L Rᵀ`` on Ω in CSR order, by blocks of rows of about ``chunk`` entries.

        The rows are sorted, so ``L[rows]`` is a sequential ``np.repeat`` (no gather); only
        ``R[cols]`` is gathered. Temporary memory O(chunk·r).
        """
        indptr = self._indptr
        out = np.empty(left.shape[:-2] + (self.n_observed,))
        bounds = np.searchsorted(indptr, np.arange(0, self.n_observed, chunk), side="right") - 1
        bounds = np.unique(np.concatenate([bounds, [self.shape[0]]]))
        counts = np.diff(indptr)
        for i0, i1 in zip(bounds[:-1], bounds[1:]):
            a, b = indptr[i0], indptr[i1]
            if a == b:
                continue
            lrep = np.repeat(left[..., i0:i1, :], counts[i0:i1], axis=-2)
            out[..., a:b] = np.einsum("...ij,...ij->...i", lrep,
                                      np.take(right, self.cols[a:b], axis=-2))
        return out

    def residuals(self, point):
        """Residuals :math:`X_{ij} - b_{ij}` on Ω, shape [k] (CSR order)."""
        return self.predictions(point) - self.values

    def gradient_from_residuals(self, res):
        r"""Sparse gradient :math:`\sum_\Omega r_{ij} e_i e_j^\top` (CSR; batched for [B, k])."""
        return sparse_gradient(res, self.cols, self._indptr, self.shape)

    def lipschitz_constant(self):
        r"""Largest Hessian eigenvalue: 1, the Hessian being the projection :math:`P_\Omega`.

        Returns
        -------
        lipschitz : float
            1.0 (0.0 without observations).

        Examples
        --------
        >>> SparseCompletion(([0], [1]), [2.0], (2, 2)).lipschitz_constant()
        1.0
        """
        return 1.0 if self.values.size else 0.0

    def __repr__(self):
        return f"SparseCompletion(shape={self.shape}, n_observed={self.n_observed})"


def sample_distinct_indices(shape, n_observed, rng):
    """``n_observed`` distinct uniformly random entries of an m×n matrix, memory O(n_observed).

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    n_observed : int
        Number of distinct entries, at most ``m * n``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    rows, cols : ndarray of int64, shape=[n_observed]

    Raises
    ------
    ValueError
        With the message ``n_observed must be <= m*n = …, got …``.

    Examples
    --------
    >>> from geodln.lowrank.completion import sample_distinct_indices
    >>> rows, cols = sample_distinct_indices((3, 4), 5, np.random.default_rng(0))
    >>> len(set(zip(rows.tolist(), cols.tolist()))), int(rows.max()) < 3, int(cols.max()) < 4
    (5, True, True)
    """
    m, n = shape
    total = m * n
    if n_observed > total:
        raise ValueError(f"n_observed must be <= m*n = {total}, got {n_observed}")
    if 4 * n_observed > total:  # dense regime: a permutation is cheap enough
        flat = rng.permutation(total)[:n_observed]
    else:
        flat = np.unique(rng.integers(0, total, size=int(1.2 * n_observed) + 16))
        while flat.size < n_observed:
            more = rng.integers(0, total, size=n_observed - flat.size + 16)
            flat = np.unique(np.concatenate([flat, more]))
        flat = rng.permutation(flat)[:n_observed]
    flat = np.sort(flat)
    return flat // n, flat % n


def random_sparse_completion(shape, rank, fraction=None, n_observed=None, seed=None,
                             noise=0.0):
    r"""Random completion problem with a factored rank-``rank`` ground truth, no dense arrays.

    Ground truth :math:`X^* = L R^\top`, Gaussian L (m×r), R (n×r), rescaled to entries of
    root-mean-square 1 (as :func:`geodln.losses.random_completion`); |Ω| distinct entries
    sampled uniformly.

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    rank : int
        Rank of the ground truth, ``<= min(m, n)``.
    fraction : float, optional
        Observed fraction in (0, 1] (exactly one of ``fraction``, ``n_observed``).
    n_observed : int, optional
        Number of observed entries.
    seed : int or numpy Generator, optional
    noise : float
        Standard deviation of additive Gaussian noise on the observed values.

    Returns
    -------
    loss : SparseCompletion
    truth : FactoredPoint

    Raises
    ------
    ValueError
        If ``rank`` is not an integer rank in 1..min(m, n); if ``n_observed`` is not an integer
        >= 1 (bools are refused); if ``seed`` is not None, an integer seed or a
        ``numpy.random.Generator``; otherwise with the message ``give exactly one of fraction
        and n_observed``; or ``fraction must be a number in (0, 1], got …`` (bools are not
        numbers).

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).
    .. [2] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 and Fig. 1 (the 2×2 completion problem;
       loss :math:`\tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` as in their code).

    Examples
    --------
    >>> from geodln.lowrank.completion import random_sparse_completion
    >>> loss, truth = random_sparse_completion((6, 5), 2, fraction=0.5, seed=0)
    >>> loss, truth
    (SparseCompletion(shape=(6, 5), n_observed=15), FactoredPoint(shape=(6, 5), rank=2))
    >>> bool(loss.value_and_gradient(truth)[0] < 1e-25)  # the truth fits (up to rounding)
    True
    """
    shape = check_shape(shape)
    m, n = shape
    rank = check_rank(rank, m, n)
    if (fraction is None) == (n_observed is None):
        raise ValueError("give exactly one of fraction and n_observed")
    if fraction is not None:
        fraction = check_fraction(fraction, "fraction")
        n_observed = max(1, int(round(fraction * m * n)))
    n_observed = check_positive_int(n_observed, "n_observed")
    rng = as_generator(seed)
    left = rng.standard_normal((m, rank))
    right = rng.standard_normal((n, rank))
    truth = FactoredPoint.from_product(left, right, rank)
    truth.s *= np.sqrt(m * n) / np.linalg.norm(truth.s)
    rows, cols = sample_distinct_indices(shape, n_observed, rng)
    values = truth.entries(rows, cols)
    noise = check_nonnegative_real(noise, "noise")
    if noise:
        values = values + noise * rng.standard_normal(values.shape)
    return SparseCompletion((rows, cols), values, shape), truth
