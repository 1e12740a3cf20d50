r"""The balanced manifold :math:`\mathcal M_r` of rank-r factor tuples.

A point is a tuple :math:`W = (W_1, \dots, W_N)`, :math:`W_p \in \mathbb R^{d_p \times d_{p-1}}`
(``d_0 = n``, ``d_N = m``), with :math:`W_{p+1}^\top W_{p+1} = W_p W_p^\top` for
``p = 1..N-1`` and end-to-end matrix :math:`X = W_N \cdots W_1` of rank r. Every such tuple is

.. math:: W_p = Q_p \Lambda Q_{p-1}^\top, \quad \Lambda = \Sigma^{1/N},\ Q_0 = V,\ Q_N = U,\
          Q_p \in St(d_p, r),

so :math:`\dim \mathcal M_r = r(m + n - r) + \sum_{p=1}^{N-1} (d_p r - r(r+1)/2)` (for square
full rank this is the dimension count of Menon and Yu, MY [2]_). The parametrisation is the
balanced initialisation of Arora, Cohen, Golowich and Hu [1]_.

**Point representation.** geomstats' generic code expects vectors, so a point is the flat
concatenation of the row-major flattened ``W_1, ..., W_N`` (``point_ndim = 1``, shape
``[..., sum_p d_p d_{p-1}]``); :meth:`BalancedManifold.factors` and
:meth:`BalancedManifold.from_factors` convert.

**Tangent space.** When a hidden width exceeds r the balance equations are *not* a regular
level set (their Zariski tangent space is too big), so the tangent space is derived from the
Stiefel parametrisation. Pick orthogonal frames :math:`O_p = [Q_p, Q_p^\perp]` with
:math:`Q_p^\top W_p Q_{p-1} = \Lambda` and write
:math:`O_p^\top \dot W_p O_{p-1} = \begin{pmatrix} C_p & R_p \\ L_p & N_p \end{pmatrix}`
(core ``r×r``, sides, normal block). Differentiating the parametrisation gives

.. math:: T_W \mathcal M_r = \{ N_p = 0;\ L_p = R_{p+1}^\top\ (0 < p < N);\
          C_{p+1}^\top \Lambda + \Lambda C_{p+1} = C_p \Lambda + \Lambda C_p^\top \},

with :math:`L_N`, :math:`R_1` free. The core condition is the linearised balance equation of
the r×r cores (a regular level set) and decouples over index pairs ``k <= l``: the diagonal
entries :math:`(C_p)_{kk}` are equal for all p, and each off-diagonal pair
:math:`x_p = ((C_p)_{kl}, (C_p)_{lk})` satisfies
:math:`\lambda_k x_{p+1,1} + \lambda_l x_{p+1,2} = \lambda_l x_{p,1} + \lambda_k x_{p,2}`.
The orthogonal (Frobenius) projection :meth:`BalancedManifold.to_tangent` zeroes the normal
blocks, averages the paired side blocks and projects each core pair onto the kernel of its
(N-1)×2N constraint matrix (rows scaled by ``max(λ_k, λ_l)``, well conditioned for tiny and
repeated singular values). Block counting reproduces the dimension formula above; the tests
check it against the numerical rank of the Jacobian of the parametrisation.

References
----------
.. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
   initialisation :math:`W_p = Q_p \Sigma^{1/N} Q_{p-1}^\top`).
.. [2] MY25: Menon, Yu, "An entropy formula for the Deep Linear Network", arXiv:2509.09088
   (the balanced manifold, its group orbits and its dimension).
"""

import geomstats.backend as gs
import numpy as np
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.manifold import Manifold
from geomstats.geometry.riemannian_metric import RiemannianMetric

from geodln._checks import (
    as_generator,
    check_bool,
    check_depth,
    check_finite,
    check_positive_int,
    check_rank,
)
from geodln.factors import (
    balance_residuals,
    balanced_factors,
    check_factors,
    check_widths,
    widths_of,
)
from geodln.spaces.rank_matrices import RankMatrices
from geodln.svd_frame import RANK_RTOL

DEFAULT_ATOL = 1e-10
#: relative balance defect above which a point is rejected where a balanced point is required
CHECK_RTOL = 1e-6


def _t(a):
    return np.swapaxes(a, -1, -2)


class BalancedFrobeniusMetric(RiemannianMetric):
    r"""Frobenius metric of the factors, induced on :math:`\mathcal M_r`.

    :math:`\langle \dot W, \dot W' \rangle = \sum_p \mathrm{tr}(\dot W_p^\top \dot W'_p)`,
    i.e. the Euclidean product of the flat representations. (geomstats' ``EuclideanMetric``
    cannot be used: its ``metric_matrix`` is ``eye(dim)`` while points live in a space of
    larger dimension.) No exponential map is provided here.

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: the Frobenius metric of the
       factors restricted to the balanced manifold, the total space of the Riemannian
       submersion).

    Examples
    --------
    >>> from geodln.spaces.balanced import BalancedManifold
    >>> metric = BalancedManifold(2, 2, 2).metric
    >>> float(metric.inner_product(np.ones(8), np.arange(8.0)))
    28.0
    """

    def inner_product(self, tangent_vec_a, tangent_vec_b, base_point=None):
        r"""Frobenius inner product of two tangent vectors.

        Parameters
        ----------
        tangent_vec_a, tangent_vec_b : array-like, shape=[..., dim_total]
            Tangent vectors (flat).
        base_point : array-like, shape=[..., dim_total], optional
            Unused (the product does not depend on the point).

        Returns
        -------
        inner_prod : array-like, shape=[...]
            :math:`\sum_p \mathrm{tr}(\dot W_p^\top \dot W'_p)`.
        """
        return gs.sum(tangent_vec_a * tangent_vec_b, axis=-1)


class BalancedManifold(Manifold):
    r"""Balanced factor tuples of rank r, flat representation (see the module docstring).

    Parameters
    ----------
    depth : int
        Number of factors N >= 1.
    m, n : int
        Output and input widths (end-to-end matrix m×n).
    rank : int, optional
        Rank r, ``1 <= r <= min(m, n, widths)``. Default: ``min(m, n, *widths)``.
    widths : sequence of int, optional
        Hidden widths ``(d_1, ..., d_{N-1})``, each >= rank (bottlenecks allowed). Default: all
        equal to the rank.
    equip : bool
        Equip with the induced Frobenius metric :class:`BalancedFrobeniusMetric`.

    Attributes
    ----------
    dims : tuple of int
        ``(d_0, ..., d_N) = (n, d_1, ..., d_{N-1}, m)``.
    factor_shapes : list of tuple
        ``(d_p, d_{p-1})`` for p = 1..N.
    total_dim : int
        Length of a flat point, ``sum_p d_p d_{p-1}``.

    Raises
    ------
    ValueError
        If ``depth`` is not a finite integer >= 1, ``m`` or ``n`` is not an integer >= 1, a
        width is not an integer >= 1, ``rank`` is not in ``1..min(m, n)``, or the widths do not
        number N - 1 or are smaller than the rank.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1.
    .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.4)
       and Section 1.2 (balancedness constraints; the balanced manifold).
    .. [3] BAL25: Lindsey, Menon, arXiv:2511.01137, Eqs. (1.1)-(1.2) (fibers of the product
       map and the balanced variety, foliated by rank).

    Examples
    --------
    Depth 3, 4×3 end-to-end matrices of rank 2, hidden widths 5 and 2:

    >>> import geodln
    >>> space = geodln.BalancedManifold(3, 4, 3, rank=2, widths=(5, 2))
    >>> space.dims, space.total_dim
    ((3, 5, 2, 4), 33)
    >>> space.dim == 2 * (4 + 3 - 2) + (5 * 2 - 3) + (2 * 2 - 3)  # r(m+n-r) + sum(d_p r - 3)
    True
    >>> W = space.random_point(seed=0)
    >>> bool(space.belongs(W))
    True
    >>> [w.shape for w in space.factors(W)]
    [(5, 3), (2, 5), (4, 2)]
    """

    def __init__(self, depth, m, n, rank=None, widths=None, equip=True):
        self.depth = check_depth(depth, allow_inf=False)
        self.m = check_positive_int(m, "m")
        self.n = check_positive_int(n, "n")
        equip = check_bool(equip, "equip")
        if widths is not None:
            widths = (widths,) if np.isscalar(widths) else widths
            widths = check_widths(widths, self.depth, 1)
        if rank is None:
            rank = min((self.m, self.n) + (widths or ()))
        self.rank = check_rank(rank, self.m, self.n)
        if widths is None:
            widths = (self.rank,) * (self.depth - 1)
        self.widths = check_widths(widths, self.depth, self.rank)
        self.dims = (self.n,) + self.widths + (self.m,)
        self.factor_shapes = [(self.dims[p + 1], self.dims[p]) for p in range(self.depth)]
        self.total_dim = sum(a * b for a, b in self.factor_shapes)
        self._offsets = np.cumsum([0] + [a * b for a, b in self.factor_shapes])
        r = self.rank
        dim = r * (self.m + self.n - r) + sum(d * r - r * (r + 1) // 2 for d in self.widths)
        self.embedding_space = Euclidean(self.total_dim, equip=False)
        self.base_space = RankMatrices(self.m, self.n, self.rank, equip=False)
        super().__init__(dim=dim, shape=(self.total_dim,), intrinsic=False, equip=equip)

    @staticmethod
    def default_metric():
        """Return the induced Frobenius metric class."""
        return BalancedFrobeniusMetric

    def __repr__(self):
        return (
            f"BalancedManifold(depth={self.depth}, m={self.m}, n={self.n}, rank={self.rank}, "
            f"widths={self.widths})"
        )

    # -- representation --------------------------------------------------------------------
    def _check_flat(self, point, name):
        if not hasattr(point, "_value"):  # validate plain arrays; autograd boxes pass through
            point = check_finite(point, name)
            if point.ndim < 1 or point.shape[-1] != self.total_dim:
                raise ValueError(
                    f"{name} must have shape [..., {self.total_dim}] (flat factors "
                    f"{self.factor_shapes}), got shape {point.shape}"
                )
        return point

    def factors(self, point):
        """Split flat points into the factor list ``[W_1, ..., W_N]``.

        Parameters
        ----------
        point : array-like, shape=[..., total_dim]

        Returns
        -------
        factors : list of array, shapes [..., d_p, d_{p-1}]
        """
        point = self._check_flat(point, "point")
        batch = point.shape[:-1]
        return [
            gs.reshape(point[..., self._offsets[p] : self._offsets[p + 1]], batch + shape)
            for p, shape in enumerate(self.factor_shapes)
        ]

    def from_factors(self, factors, check=True, atol=CHECK_RTOL):
        """Concatenate a factor list ``[W_1, ..., W_N]`` into flat points.

        Parameters
        ----------
        factors : list of array-like, shapes [..., d_p, d_{p-1}]
        check : bool
            Validate shapes, finiteness and balance (relative defect, see
            :func:`geodln.factors.balance_defect`, at most ``atol``).
        atol : float
            Tolerance of the balance check.

        Returns
        -------
        point : ndarray, shape=[..., total_dim]

        Raises
        ------
        ValueError
            On wrong shapes, NaN/inf, or unbalanced factors (when ``check``).
        """
        if check:
            factors = check_factors(factors, "factors")
            if len(factors) != self.depth:
                raise ValueError(f"factors must hold {self.depth} matrices, got {len(factors)}")
            if widths_of(factors) != self.dims:
                raise ValueError(
                    f"factors have widths {widths_of(factors)}, expected {self.dims}"
                )
            defect = self._relative_defect(factors)
            if np.any(defect > atol):
                raise ValueError(
                    f"factors are not balanced: relative defect {np.max(defect):.2e} > {atol:g} "
                    "(W_(p+1)^T W_(p+1) must equal W_p W_p^T)"
                )
        batch = np.broadcast_shapes(*[np.shape(w)[:-2] for w in factors])
        return gs.concatenate(
            [
                gs.reshape(gs.broadcast_to(w, batch + np.shape(w)[-2:]), batch + (-1,))
                for w in factors
            ],
            axis=-1,
        )

    @staticmethod
    def _relative_defect(factors):
        """Max Frobenius norm of the balance residuals over ``max(1, max_p |W_p|_F^2)``."""
        res = balance_residuals(factors)
        if not res:
            return np.zeros(np.shape(factors[0])[:-2])
        d = np.max(np.stack([np.linalg.norm(r, axis=(-2, -1)) for r in res]), axis=0)
        scale = np.max(np.stack([np.sum(np.square(w), axis=(-2, -1)) for w in factors]), axis=0)
        return d / np.maximum(scale, 1.0)

    def check_point(self, point, name="base_point", atol=CHECK_RTOL):
        """Return the factors of ``point`` after checking shape, finiteness and balance.

        Raises
        ------
        ValueError
            Naming ``name`` if the point is malformed or not balanced (relative defect
            above ``atol``).
        """
        ws = self.factors(self._check_flat(point, name))
        defect = self._relative_defect(ws)
        if np.any(defect > atol):
            raise ValueError(
                f"{name} is not a balanced factor tuple: relative defect {np.max(defect):.2e} "
                f"> {atol:g} (W_(p+1)^T W_(p+1) must equal W_p W_p^T)"
            )
        return ws

    def product(self, point):
        r"""End-to-end matrix :math:`X = W_N \cdots W_1`, shape [..., m, n]."""
        ws = self.factors(point)
        x = ws[0]
        for w in ws[1:]:
            x = gs.matmul(w, x)
        return x

    # -- membership ------------------------------------------------------------------------
    def belongs(self, point, atol=DEFAULT_ATOL):
        r"""Check balance and rank of flat points.

        A point belongs if it has the right shape, finite entries,
        :math:`\max_p \|W_{p+1}^\top W_{p+1} - W_p W_p^\top\|_F \le` ``atol`` ·
        :math:`\max(1, \max_p \|W_p\|_F^2)`, and every factor has exactly ``rank`` singular
        values above ``atol``.

        Parameters
        ----------
        point : array-like, shape=[..., total_dim]
        atol : float
            Tolerance of both checks.

        Returns
        -------
        belongs : ndarray of bool, shape=[...]
        """
        point = np.asarray(point, dtype=float)
        if point.ndim < 1 or point.shape[-1] != self.total_dim:
            return np.zeros(point.shape[:-1] if point.ndim >= 1 else (), dtype=bool)
        finite = np.all(np.isfinite(point), axis=-1)
        ws = self.factors(np.where(finite[..., None], point, 0.0))
        ok = finite & (self._relative_defect(ws) <= atol)
        r = self.rank
        for w in ws:
            s = np.linalg.svd(w, compute_uv=False)
            ok = ok & (s[..., r - 1] > atol)
            if s.shape[-1] > r:
                ok = ok & (s[..., r] <= atol)
        return ok

    # -- sampling and lifts ------------------------------------------------------------------
    def lift(self, x, seed=None, frames=None):
        r"""Balanced lift of rank-r matrices (ACGH19, Procedure 1), as flat points.

        :math:`W_p = Q_p \Sigma^{1/N} Q_{p-1}^\top` with :math:`Q_0 = V`, :math:`Q_N = U`;
        the hidden frames are the first r columns of the identity (``seed=None``), Haar
        random (``seed`` given) or ``frames`` (see :func:`geodln.factors.balanced_factors`).

        Parameters
        ----------
        x : array-like, shape=[..., m, n]
            Matrices of rank ``rank``.
        seed : int or numpy Generator, optional
            Randomness of the frames (one Generator drives the whole batch).
        frames : sequence of array, optional
            Hidden frames ``Q_1..Q_{N-1}`` (unbatched, shared by the batch).

        Returns
        -------
        point : ndarray, shape=[..., total_dim]
            Balanced factors over each matrix, flat.

        Raises
        ------
        ValueError
            If ``x`` is not a finite [..., m, n] array, does not have rank ``rank``, or
            ``frames`` are not orthonormal frames of the hidden widths.
        """
        x = self.base_space._check(x, "x")
        s = np.linalg.svd(x, compute_uv=False)
        if np.any(s[..., self.rank - 1] <= 1e-14 * np.maximum(s[..., 0], 1e-300)):
            raise ValueError(f"x must have rank {self.rank}: a singular value <= rank is ~0")
        if s.shape[-1] > self.rank and np.any(s[..., self.rank] > RANK_RTOL * s[..., 0]):
            raise ValueError(f"x must have rank {self.rank}: singular value {self.rank + 1} is "
                             f"not ~0 (relative tolerance {RANK_RTOL:g}); the lift would "
                             "truncate it")
        gen = None if seed is None else np.random.default_rng(seed)
        batch = x.shape[:-2]
        flat = x.reshape((-1,) + x.shape[-2:])
        out = [
            np.concatenate(
                [
                    w.ravel()
                    for w in balanced_factors(
                        xi, self.depth, self.widths, self.rank, seed=gen,
                        frames="identity" if frames is None and gen is None else frames,
                    )
                ]
            )
            for xi in flat
        ]
        return np.array(out).reshape(batch + (self.total_dim,))

    def random_point(self, n_samples=1, bound=1.0, seed=None):
        """Balanced lift, with Haar-random frames, of random rank-r matrices.

        Parameters
        ----------
        n_samples : int
            Number of samples; 1 returns an unbatched point.
        bound : float
            Scale of the end-to-end matrix (see :meth:`RankMatrices.random_point`).
        seed : int, numpy Generator or None
            Randomness (None: numpy's global state).

        Returns
        -------
        samples : ndarray, shape=[..., total_dim]

        Raises
        ------
        ValueError
            If ``seed`` is not None, an int, a ``SeedSequence`` or a ``Generator``, or
            ``n_samples``/``bound`` are invalid (see :meth:`RankMatrices.random_point`).
        """
        rng = as_generator(seed, global_state=True)
        x = self.base_space.random_point(n_samples, bound, seed=rng)
        return self.lift(x, seed=rng)

    def random_tangent_vec(self, base_point, n_samples=1, seed=None):
        """Project standard Gaussian vectors onto the tangent space.

        Parameters
        ----------
        base_point : array-like, shape=[..., total_dim]
            Balanced W, flat.
        n_samples : int
            Number of samples; must match the batch of ``base_point`` if both are > 1.
        seed : int, numpy Generator or None
            Randomness (None: numpy's global state).

        Returns
        -------
        tangent_vec : ndarray, shape=[..., total_dim]
            Tangent vectors at ``base_point``.

        Raises
        ------
        ValueError
            If ``base_point`` is not a finite flat point of length ``total_dim``, or
            ``n_samples`` does not match its batch.
        """
        base_point = self._check_flat(base_point, "base_point")
        batch = base_point.shape[:-1]
        if n_samples > 1:
            if batch and batch != (n_samples,):
                raise ValueError(
                    f"n_samples={n_samples} does not match the base_point batch {batch}"
                )
            batch = (n_samples,)
        z = as_generator(seed, global_state=True).standard_normal(batch + (self.total_dim,))
        return self.to_tangent(z, base_point)

    # -- tangent space ---------------------------------------------------------------------
    def frames(self, base_point):
        r"""Orthogonal frames :math:`O_p = [Q_p, Q_p^\perp]` and :math:`\lambda = \sigma^{1/N}`.

        :math:`Q_0, \lambda, Q_1` come from the SVD of :math:`W_1`; for p >= 2,
        :math:`Q_p` is the polar factor of :math:`W_p Q_{p-1} = Q_p \Lambda`, so that
        :math:`Q_p^\top W_p Q_{p-1} = \Lambda` at balanced points (also at repeated singular
        values). Complements come from the same (full) SVDs.

        Parameters
        ----------
        base_point : array-like, shape=[..., total_dim]

        Returns
        -------
        frames : list of ndarray
            ``O_0, ..., O_N``, shapes [..., d_p, d_p].
        lam : ndarray, shape=[..., r]
        """
        ws = self.check_point(base_point)
        r = self.rank
        u1, s1, v1t = np.linalg.svd(ws[0], full_matrices=True)
        out = [_t(v1t), u1]
        q_prev = u1[..., :, :r]
        for w in ws[1:]:
            a, _, bt = np.linalg.svd(w @ q_prev, full_matrices=True)
            q = a[..., :, :r] @ bt
            out.append(np.concatenate([q, a[..., :, r:]], axis=-1))
            q_prev = q
        return out, s1[..., :r]

    def to_tangent(self, vector, base_point):
        r"""Orthogonal (Frobenius) projection onto :math:`T_W \mathcal M_r`.

        See the module docstring for the block form; exact at balanced points (for a point
        with a small balance defect it projects onto the tangent space of the balanced point
        with the same frames and :math:`\Lambda`).

        Parameters
        ----------
        vector : array-like, shape=[..., total_dim]
        base_point : array-like, shape=[..., total_dim]

        Returns
        -------
        tangent_vec : ndarray, shape=[..., total_dim]
        """
        vector = self._check_flat(vector, "vector")
        frames, lam = self.frames(base_point)
        vs = self.factors(vector)
        r, N = self.rank, self.depth
        blocks = [_t(frames[p + 1]) @ vs[p] @ frames[p] for p in range(N)]
        batch = np.broadcast_shapes(*[b.shape[:-2] for b in blocks], lam.shape[:-1])
        blocks = [np.array(np.broadcast_to(b, batch + b.shape[-2:])) for b in blocks]
        for b in blocks:  # normal blocks
            b[..., r:, r:] = 0.0
        for p in range(N - 1):  # side blocks: L_p = R_{p+1}^T (hidden layer p + 1)
            avg = 0.5 * (blocks[p][..., r:, :r] + _t(blocks[p + 1][..., :r, r:]))
            blocks[p][..., r:, :r] = avg
            blocks[p + 1][..., :r, r:] = _t(avg)
        if N > 1:
            core = np.stack([b[..., :r, :r] for b in blocks], axis=-3)
            core = _project_core(core, np.broadcast_to(lam, batch + (r,)))
            for p in range(N):
                blocks[p][..., :r, :r] = core[..., p, :, :]
        out = [frames[p + 1] @ blocks[p] @ _t(frames[p]) for p in range(N)]
        return self.from_factors(out, check=False)

    def is_tangent(self, vector, base_point, atol=DEFAULT_ATOL):
        """Check that ``vector`` equals its tangent projection to absolute tolerance ``atol``.

        Parameters
        ----------
        vector : array-like, shape=[..., total_dim]
        base_point : array-like, shape=[..., total_dim]
        atol : float

        Returns
        -------
        is_tangent : ndarray of bool, shape=[...]
        """
        vector = self._check_flat(vector, "vector")
        return np.all(np.abs(vector - self.to_tangent(vector, base_point)) <= atol, axis=-1)


def _project_core(core, lam):
    r"""Project stacked cores ``[..., N, r, r]`` onto the linearised balance kernel.

    Diagonal entries: mean over the layers. Off-diagonal pair (k, l), unknowns
    :math:`x = (c_1, c'_1, \dots, c_N, c'_N)` with :math:`c_p = (C_p)_{kl}`,
    :math:`c'_p = (C_p)_{lk}`: constraints
    :math:`\lambda_k c_{p+1} + \lambda_l c'_{p+1} - \lambda_l c_p - \lambda_k c'_p = 0`, scaled
    by :math:`\max(\lambda_k, \lambda_l)`; projection :math:`x - A^\top (AA^\top)^{-1} A x`
    (:math:`AA^\top` is tridiagonal with smallest eigenvalue
    :math:`\ge 2(1 - \cos(\pi/N))` after scaling).
    """
    core = np.array(core)
    N, r = core.shape[-3], core.shape[-1]
    diag_idx = np.arange(r)
    mean_diag = np.mean(core[..., :, diag_idx, diag_idx], axis=-2, keepdims=True)
    core[..., :, diag_idx, diag_idx] = mean_diag
    if r == 1:
        return core
    ki, li = np.triu_indices(r, k=1)
    lk, ll = lam[..., ki], lam[..., li]  # [..., P]
    scale = np.maximum(np.maximum(lk, ll), np.finfo(float).tiny)
    lk, ll = lk / scale, ll / scale
    c = core[..., :, ki, li]  # [..., N, P]
    cp = core[..., :, li, ki]
    x = np.stack([c, cp], axis=-1)  # [..., N, P, 2]
    x = np.moveaxis(x, -3, -2).reshape(x.shape[:-3] + (len(ki), 2 * N))  # [..., P, 2N]
    a = np.zeros(lk.shape + (N - 1, 2 * N))
    rows = np.arange(N - 1)
    a[..., rows, 2 * rows + 2] = lk[..., None]
    a[..., rows, 2 * rows + 3] = ll[..., None]
    a[..., rows, 2 * rows] = -ll[..., None]
    a[..., rows, 2 * rows + 1] = -lk[..., None]
    gram = a @ _t(a)
    y = np.linalg.solve(gram, (a @ x[..., None]))
    x = x - (_t(a) @ y)[..., 0]
    x = x.reshape(x.shape[:-1] + (N, 2))
    core[..., :, ki, li] = np.moveaxis(x[..., 0], -1, -2)
    core[..., :, li, ki] = np.moveaxis(x[..., 1], -1, -2)
    return core
