r"""The manifold :math:`M_r` of real m×n matrices of rank exactly r (VAN13, Section 2).

Embedded in ``Matrices(m, n)``, of dimension :math:`r(m + n - r)`, with tangent space
:math:`T_X M_r = \{Z : U_\perp^\top Z V_\perp = 0\}` for :math:`X = U \Sigma V^\top`.
Full rank (``rank = min(m, n)``) is the same class (an open subset of the matrices).
"""

import geomstats.backend as gs
import numpy as np
from geomstats.geometry.manifold import Manifold
from geomstats.geometry.matrices import Matrices

from geodln._checks import as_generator, check_matrix, check_positive_int, check_rank
from geodln.svd_frame import SVDFrame

DEFAULT_ATOL = 1e-10


def _rng(seed):
    """Return a numpy ``Generator``; ``seed=None`` draws from numpy's global state.

    The global state keeps ``geomstats.backend.random.seed`` (used by geomstats' test cases)
    in control when no seed is given.
    """
    if seed is None:
        return np.random.default_rng(np.random.randint(0, 2**63 - 1))
    return as_generator(seed)


class RankMatrices(Manifold):
    r"""Manifold of m×n real matrices of rank exactly ``rank``.

    Parameters
    ----------
    m, n : int
        Matrix shape.
    rank : int, optional
        The rank r, ``1 <= r <= min(m, n)`` (default: full rank).
    equip : bool
        Equip with the default metric, the Euclidean (Frobenius) metric restricted to
        :math:`M_r` (``DLNMetric`` with ``depth=1``). Use
        ``space.equip_with_metric(DLNMetric, depth=N)`` for :math:`g^N`.

    Raises
    ------
    ValueError
        If ``m`` is not an integer >= 1 (bools are refused); if ``n`` is not an integer >= 1
        (bools are refused); if ``rank`` is not an integer rank in 1..min(m, n).

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (geometry of the manifold of fixed-rank
       matrices: factored points, tangent vectors, projection).

    Examples
    --------
    >>> import geodln
    >>> space = geodln.RankMatrices(4, 3, rank=2)
    >>> space.dim == 2 * (4 + 3 - 2)  # r (m + n - r)
    True
    >>> X = space.random_point(seed=0)
    >>> int(np.linalg.matrix_rank(X)), bool(space.belongs(X))
    (2, True)
    """

    def __init__(self, m, n, rank=None, equip=True):
        self.m = check_positive_int(m, "m")
        self.n = check_positive_int(n, "n")
        self.rank = min(self.m, self.n) if rank is None else check_rank(rank, self.m, self.n)
        self.embedding_space = Matrices(self.m, self.n, equip=False)
        super().__init__(
            dim=self.rank * (self.m + self.n - self.rank),
            shape=(self.m, self.n),
            intrinsic=False,
            equip=equip,
        )

    @staticmethod
    def default_metric():
        """Return the default metric: Euclidean on :math:`M_r` (depth 1)."""
        from geodln.metric import DLNMetric

        return DLNMetric, {"depth": 1}

    @property
    def full_rank(self):
        """Whether ``rank == min(m, n)``."""
        return self.rank == min(self.m, self.n)

    def _check(self, x, name):
        return check_matrix(x, name, shape=self.shape)

    def frame(self, base_point):
        """Return the :class:`~geodln.svd_frame.SVDFrame` of ``base_point`` at this rank."""
        return SVDFrame(self._check(base_point, "base_point"), self.rank, check=False)

    def belongs(self, point, atol=DEFAULT_ATOL):
        """Check that ``point`` is m×n, finite, with exactly ``rank`` singular values > ``atol``.

        Parameters
        ----------
        point : array-like, shape=[..., m, n]
        atol : float
            Absolute threshold separating zero from nonzero singular values.

        Returns
        -------
        belongs : ndarray of bool, shape=[...]
        """
        point = np.asarray(point, dtype=float)
        if point.ndim < 2 or point.shape[-2:] != self.shape:
            return np.zeros(point.shape[:-2] if point.ndim >= 2 else (), dtype=bool)
        finite = np.all(np.isfinite(point), axis=(-2, -1))
        safe = np.where(finite[..., None, None], point, 0.0)
        s = np.linalg.svd(safe, compute_uv=False)
        ok = s[..., self.rank - 1] > atol
        if not self.full_rank:
            ok = ok & (s[..., self.rank] <= atol)
        return ok & finite

    def projection(self, point):
        """Closest rank-r matrix in Frobenius norm (truncated SVD, Eckart–Young).

        Parameters
        ----------
        point : array-like, shape=[..., m, n]

        Returns
        -------
        projected : ndarray, shape=[..., m, n]
        """
        return SVDFrame(self._check(point, "point"), self.rank, check=False).matrix()

    def to_tangent(self, vector, base_point):
        """Orthogonal projection of ``vector`` onto :math:`T_X M_r`.

        :math:`P(Z) = P_U Z + Z P_V - P_U Z P_V` with the column/row spaces of X.

        Parameters
        ----------
        vector : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]
        """
        vector = self._check(vector, "vector")
        return self.frame(base_point).to_tangent(vector)

    def is_tangent(self, vector, base_point, atol=DEFAULT_ATOL):
        """Check :math:`U_\\perp^T Z V_\\perp = 0` to absolute tolerance ``atol``."""
        vector = self._check(vector, "vector")
        residual = vector - self.to_tangent(vector, base_point)
        return np.all(np.abs(residual) <= atol, axis=(-2, -1))

    def random_point(self, n_samples=1, bound=1.0, seed=None):
        """Sample ``L Rᵀ`` with Gaussian ``L`` (m×r), ``R`` (n×r), entries of std ``bound``.

        Parameters
        ----------
        n_samples : int
            Number of samples; 1 returns an unbatched ``[m, n]`` array (geomstats convention).
        bound : float
            Scale of the factors.
        seed : int, numpy Generator or None
            Randomness (None: numpy's global state).

        Returns
        -------
        samples : ndarray, shape=[..., m, n]
        """
        rng = _rng(seed)
        left = rng.standard_normal((n_samples, self.m, self.rank))
        right = rng.standard_normal((n_samples, self.n, self.rank))
        out = bound * left @ np.swapaxes(right, -1, -2) / np.sqrt(self.rank)
        return out[0] if n_samples == 1 else out

    def random_tangent_vec(self, base_point, n_samples=1, seed=None):
        """Project a standard Gaussian matrix onto :math:`T_X M_r`.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]
        n_samples : int
        seed : int, numpy Generator or None

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            With the message ``n_samples=… does not match the base_point batch …``.
        """
        base_point = self._check(base_point, "base_point")
        rng = _rng(seed)
        batch = base_point.shape[:-2]
        if n_samples > 1:
            if batch and batch != (n_samples,):
                raise ValueError(
                    f"n_samples={n_samples} does not match the base_point batch {batch}"
                )
            batch = (n_samples,)
        z = rng.standard_normal(batch + self.shape)
        return self.to_tangent(z, base_point)

    def regularize(self, point):
        """Return a copy of ``point``."""
        return gs.copy(point)
