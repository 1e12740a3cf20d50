r"""The manifold :math:`M_r` of real m×n matrices of rank exactly r (VAN13, Section 2).

Embedded in ``Matrices(m, n)``, of dimension :math:`r(m + n - r)`, with tangent space
:math:`T_X M_r = \{Z : U_\perp^\top Z V_\perp = 0\}` for :math:`X = U \Sigma V^\top`.
Full rank (``rank = min(m, n)``) is the same class (an open subset of the matrices).
"""

import geomstats.backend as gs
import numpy as np
from geomstats.geometry.manifold import Manifold
from geomstats.geometry.matrices import Matrices

from geodln._checks import (
    as_generator,
    check_bool,
    check_matrix,
    check_positive_int,
    check_positive_real,
    check_rank,
)
from geodln.measures import frobenius_norm
from geodln.svd_frame import RANK_RTOL, SVDFrame

#: Relative tolerance of :meth:`RankMatrices.is_tangent` (in units of the vector's norm).
TANGENT_RTOL = 1e-10


def _tolerances(atol, rtol, default_rtol):
    """``(atol, rtol)``: defaults (0, default_rtol); only ``atol`` given: absolute (rtol = 0)."""
    if rtol is None:
        rtol = default_rtol if atol is None else 0.0
    return (0.0 if atol is None else float(atol)), float(rtol)


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
        equip = check_bool(equip, "equip")
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

    def belongs(self, point, atol=None, rtol=None):
        r"""Check that ``point`` is m×n, finite, of rank exactly r up to a relative tolerance.

        A singular value counts as zero when it is at most ``atol + rtol * sigma_1``. By
        default ``atol = 0`` and ``rtol = RANK_RTOL`` (1e-8, the tolerance every metric method
        uses), so the test is scale invariant: ``belongs(c X) == belongs(X)`` for every
        ``c > 0`` (LAPACK computes singular values with internal scaling, so this holds over
        the whole float range). Giving only ``atol`` (geomstats' convention) makes the
        threshold absolute (``rtol = 0``).

        Parameters
        ----------
        point : array-like, shape=[..., m, n]
        atol : float, optional
            Absolute part of the threshold (default 0).
        rtol : float, optional
            Relative part, in units of the largest singular value (default
            ``geodln.svd_frame.RANK_RTOL`` unless only ``atol`` is given, then 0).

        Returns
        -------
        belongs : ndarray of bool, shape=[...]

        Examples
        --------
        >>> import numpy as np
        >>> from geodln import RankMatrices
        >>> D = np.diag([1.0, 2.0, 3.0])
        >>> bool(RankMatrices(3, 3).belongs(1e-10 * D)), bool(RankMatrices(3, 3, rank=2).belongs(D))
        (True, False)
        """
        point = np.asarray(point, dtype=float)
        if point.ndim < 2 or point.shape[-2:] != self.shape:
            return np.zeros(point.shape[:-2] if point.ndim >= 2 else (), dtype=bool)
        finite = np.all(np.isfinite(point), axis=(-2, -1))
        safe = np.where(finite[..., None, None], point, 0.0)
        s = np.linalg.svd(safe, compute_uv=False)
        atol, rtol = _tolerances(atol, rtol, RANK_RTOL)
        threshold = atol + rtol * s[..., 0]
        ok = s[..., self.rank - 1] > threshold
        if not self.full_rank:
            ok = ok & (s[..., self.rank] <= threshold)
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

    def is_tangent(self, vector, base_point, atol=None, rtol=None):
        r"""Check :math:`U_\perp^T Z V_\perp = 0` to a relative tolerance.

        ``vector`` is tangent when :math:`\|Z - P_T(Z)\|_F \le` ``atol + rtol`` :math:`\|Z\|_F`
        (norms evaluated with scaling, :func:`geodln.measures.frobenius_norm`). By default
        ``atol = 0``, ``rtol = TANGENT_RTOL`` (1e-10): invariant under :math:`Z \mapsto cZ`
        and :math:`X \mapsto cX`. Giving only ``atol`` (geomstats' convention) makes the
        tolerance absolute.

        Parameters
        ----------
        vector : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]
        atol : float, optional
            Absolute part of the tolerance (default 0).
        rtol : float, optional
            Relative part (default ``TANGENT_RTOL`` unless only ``atol`` is given, then 0).

        Returns
        -------
        is_tangent : ndarray of bool, shape=[...]

        Raises
        ------
        ValueError
            If ``vector`` or ``base_point`` is not a finite array of shape [..., m, n].

        Examples
        --------
        >>> import numpy as np
        >>> from geodln import RankMatrices
        >>> space = RankMatrices(2, 2, rank=1)
        >>> x = np.diag([1e200, 0.0])
        >>> bool(space.is_tangent(np.array([[1.0, 1.0], [1.0, 0.0]]), x))
        True
        >>> bool(space.is_tangent(1e-300 * np.array([[0.0, 0.0], [0.0, 1.0]]), x))
        False
        """
        vector = self._check(vector, "vector")
        residual = vector - self.to_tangent(vector, base_point)
        atol, rtol = _tolerances(atol, rtol, TANGENT_RTOL)
        scale = np.asarray(frobenius_norm(vector))
        return np.asarray(frobenius_norm(residual)) <= atol + rtol * scale

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

        Raises
        ------
        ValueError
            If ``n_samples`` is not a positive integer or ``bound`` not a positive finite
            number.
        """
        n_samples = check_positive_int(n_samples, "n_samples")
        bound = check_positive_real(bound, "bound")
        rng = as_generator(seed, global_state=True)
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
            With the message ``n_samples=… does not match the base_point batch …``, or if
            ``n_samples`` is not a positive integer.
        """
        n_samples = check_positive_int(n_samples, "n_samples")
        base_point = self._check(base_point, "base_point")
        rng = as_generator(seed, global_state=True)
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
