r"""Logarithm map of a spectral metric by a quasi-Newton method on :math:`\exp_X(V) = Y`, batched.

Unknowns and residuals are Riemannian-orthonormal tangent coordinates at X (full SVD
:math:`X = U\Sigma V^\top`, co-metric eigenvalues :math:`\lambda_{kl}`,
:math:`Z = \sum c_{kl}\sqrt{\lambda_{kl}}\,u_k v_l^\top` over the tangent pairs), so that
:math:`\|c\| = \|Z\|_g` and the Jacobian of :math:`c \mapsto \exp_X(Z(c))` is the identity at
c = 0. The deep-linear-network (DLN) metric :math:`g^N` is the quotient of the Frobenius metric
on balanced factors (Menon–Yu, MY25; Menon, GM24).

- **Initial guess**: the second-order correction of Y − X,
  :math:`V_0 = Y - X + \int_0^1 (1-t)\,\Gamma_{X + t(Y-X)}(Y-X, Y-X)\,dt` (three Gauss
  nodes, the closed-form Christoffel form of :class:`~geodln.geodesics.PowerSumField`),
  which inverts the Taylor expansion of exp to third order along the straight line. Where
  its shot misses by more than 5 % (long geodesics, ill-conditioned X) the *root chart*
  guess is tried too (DLN kernel, finite depth): with
  :math:`\rho(X) = U\Sigma^{1/N}V^\top`, the geodesic of endpoints with common singular
  vectors is :math:`X(t) = U((1-t)\Sigma_0^{1/N} + t\Sigma_1^{1/N})^N V^\top` (GEO25), a
  straight line in this chart, and the guess is the initial velocity of
  :math:`t \mapsto \rho^{-1}((1-t)\rho(X) + t\rho(Y))`.
- **Quasi-Newton steps** with the closed-form Jacobian of the third-order Taylor expansion of
  :math:`V \mapsto \exp_X(V)` (:math:`W - \Gamma(V, W) + \dots`, no integration; its error
  is :math:`O(|V|^3)`, so each step gains about three digits on typical geodesics), Broyden
  rank-one updates between shots, a fresh closed form when the error contracts by less than
  0.3, then exact Jacobians from the variational equations integrated with the Hamiltonian
  system (:meth:`~geodln.geodesics.HamiltonianExpSolver.exp_with_derivative`); exact
  Jacobians from the start when the first shot misses by more than 5 %. Steps are halved
  while a trial shot reaches a singular matrix or does not decrease the error. Shots run
  at a looser tolerance while the relative error exceeds 1e-5.
- **Batch.** All targets (and base points) are solved together: one batched exp per
  iteration over the members not yet converged; converged members leave the batch.
- **Budget.** At most ``max_iter`` iterations per member; members that fail are handed
  to :class:`~geodln.geodesics.RootLogSolver` (Levenberg–Marquardt with a homotopy on the
  end point) when ``fallback`` is true, else ``ValueError``.

**Connectivity.** On square full-rank spaces (:math:`GL_d`) no curve of invertible matrices
joins matrices whose determinants have opposite signs: ``log`` raises ``ValueError`` naming
``point`` (and :class:`~geodln.SpectralMetric` returns an infinite distance). ``log(X, X)``
is 0 without any integration.

References
----------
.. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
   (explicit geodesics in a special case: endpoints whose singular vectors agree).
.. [2] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: g^N as the quotient metric of
   the balanced manifold).
.. [3] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds (2008),
   Section 6.1 (Newton's method).
"""

import numpy as np
from geomstats.numerics.geodesic import LogSolver

from geodln._checks import check_depth, check_positive_int
from geodln.geodesics.hamiltonian_exp import RANK_TOL, broadcast_flat
from geodln.geodesics.root_chart_collocation import root_chart_collocation
from geodln.geodesics.root_log import RootLogSolver
from geodln.geodesics.tangent_coordinates import TangentCoordinates
from geodln.spectral import DLNKernel
from geodln.svd_frame import SVDFrame

__all__ = ["NewtonLogSolver", "root_chart_velocity", "check_connected"]

DEFAULT_TOL = 2e-11
FAR = 0.05  # relative error above which exact Jacobians are used from the start
NEAR = 1e-5  # relative error below which shots run at the exp solver's own tolerance
THIRD_ORDER_DIM = 40  # up to this dimension the closed-form Jacobian is third order
SHOT_EVALS = 400  # right-hand-side budget of a trial shot (regular geodesics need 40-150)
POOR = 0.3  # a contraction of the error by less than this factor refreshes the Jacobian
FALLBACK_EVALS = 40  # batched exps of the root-finding fallback (~10 s CPU at 2 x 3)
LONG = 0.6  # |V|_g/|X|_g above which the closed-form Jacobian is poor: exact from the start
POOR_EXACT = 0.8  # the same once Jacobians are exact (Broyden between exact Jacobians)
# Gauss-Legendre nodes on [0, 1] for the second-order guess
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(3)
_NODES, _WEIGHTS = 0.5 * (_NODES + 1.0), 0.5 * _WEIGHTS


def _t(a):
    return np.swapaxes(a, -1, -2)


class _BudgetExceeded(Exception):
    """The fallback used up its exps (not a ValueError: the root finder must not catch it)."""


class _BudgetedExp:
    """The exp solver with a budget on ``exp_batch`` calls (the fallback's evaluations)."""

    def __init__(self, exp_solver, budget):
        self._exp, self._budget, self.calls = exp_solver, budget, 0

    def exp_batch(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self._budget:
            raise _BudgetExceeded
        return self._exp.exp_batch(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._exp, name)


def root_chart_velocity(point, base_point, depth, rank=None):
    r"""Return the initial velocity of the root-chart geodesic from X to Y.

    It is exact for endpoints with common singular vectors.

    With :math:`\rho(X) = U\Sigma^{1/N}V^\top` and :math:`\phi(W) = U_W\Sigma_W^N V_W^\top` its
    inverse, returns :math:`D\phi_{\rho(X)}[\rho(Y) - \rho(X)]` (by a central difference with
    relative step 1e-4: a guess, not a log).

    Parameters
    ----------
    point, base_point : ndarray, shape=[..., m, n]
        End points Y and base points X (rank r).
    depth : int
        N.
    rank : int, optional
        r (default ``min(m, n)``).

    Returns
    -------
    tangent_vec : ndarray, shape=[..., m, n]

    Raises
    ------
    ValueError
        If ``depth`` is not an integer in ``[1, 10**6]`` (bools are not numbers).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.diag([1.0, 2.0]), np.diag([8.0, 1.0])
    >>> v = root_chart_velocity(y, x, depth=3)  # X(t) = diag((1 + t)^3, (2^(1/3)(1 - t) + t)^3)
    >>> bool(np.allclose(np.diag(v), [3.0, 3 * 2 ** (2 / 3) * (1 - 2 ** (1 / 3))], atol=1e-6))
    True
    """
    depth = check_depth(depth, "depth", allow_inf=False)

    def power(z, p):
        f = SVDFrame(z, rank, check=False)
        return (f.u * f.s[..., None, :] ** p) @ f.vt

    w0, w1 = power(base_point, 1.0 / depth), power(point, 1.0 / depth)
    h = 1e-4
    d = w1 - w0
    return (power(w0 + h * d, depth) - power(w0 - h * d, depth)) / (2 * h)


def check_connected(point, base_point, space):
    r"""Mask of pairs in the same connected component of a square full-rank space.

    Parameters
    ----------
    point, base_point : ndarray, shape=[..., m, n]
    space : RankMatrices

    Returns
    -------
    connected : ndarray of bool, shape=[...]
        ``sign(det Y) == sign(det X)`` for square full-rank spaces, else all True.

    Examples
    --------
    Full-rank 2 × 2 matrices form two components, :math:`\det > 0` and :math:`\det < 0`:

    >>> import geodln
    >>> from geodln.geodesics.newton_log import check_connected
    >>> points = np.stack([np.diag([2.0, 1.0]), np.diag([2.0, -1.0])])
    >>> check_connected(points, np.eye(2), geodln.RankMatrices(2, 2))
    array([ True, False])
    """
    batch = np.broadcast_shapes(np.shape(point)[:-2], np.shape(base_point)[:-2])
    if not (space.full_rank and space.m == space.n):
        return np.ones(batch, dtype=bool)
    sy = np.linalg.slogdet(point)[0]
    sx = np.linalg.slogdet(base_point)[0]
    return np.broadcast_to(sy == sx, batch)


class NewtonLogSolver(LogSolver):
    r"""geomstats ``LogSolver``: batched quasi-Newton iteration on :math:`\exp_X(V) = Y`.

    Parameters
    ----------
    space : RankMatrices
        The manifold.
    exp_solver : HamiltonianExpSolver
        The exp solver (its ``exp_batch``, ``exp_with_derivative`` and ``frame_field`` are
        used).
    tol : float
        Accepted residual :math:`\max|\exp_X(V) - Y| \le` ``tol`` :math:`\cdot\max(|X|, |Y|)`
        (entrywise maxima), measured with the exp solver's own tolerance.
    max_iter : int
        Iterations per member (the evaluation budget; each costs one batched exp, plus an
        integration of the variational equations when the cheap Jacobians stall).
    fallback : bool
        Hand members that fail to :class:`~geodln.geodesics.RootLogSolver`; otherwise raise.
    jac_rtol : float
        Integrator tolerance of the variational equations (exact Jacobians).
    far_rtol : float
        Integrator tolerance of the shots while the relative error exceeds 1e-5.
    fallback_evals : int
        Budget of the fallback: at most this many batched exps (residuals and
        finite-difference Jacobians) before ``log`` gives up with a ``ValueError`` (a cut
        point, where Newton cannot choose between two minimising geodesics, would otherwise
        keep the root finder busy for minutes).

    Raises
    ------
    ValueError
        If ``tol``, ``jac_rtol`` or ``far_rtol`` is not in (0, 1), ``max_iter`` is not an
        integer >= 0 or ``fallback_evals`` not an integer >= 1.

    References
    ----------
    .. [1] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds
       (2008), Section 6.1 (Newton's method).
    .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln import DLNMetric, RankMatrices
    >>> space = RankMatrices(2, 2, equip=False)
    >>> _ = space.equip_with_metric(DLNMetric, depth=2)
    >>> x, y = np.eye(2), np.diag([4.0, 0.25])
    >>> v = space.metric.log(y, x)  # commuting: X(t) = diag((1 + t)^2, (1 - t/2)^2)
    >>> bool(np.allclose(v, np.diag([2.0, -1.0]), atol=1e-8))
    True
    """

    def __init__(self, space, exp_solver, tol=DEFAULT_TOL, max_iter=30, fallback=True,
                 jac_rtol=1e-5, far_rtol=1e-7, fallback_evals=FALLBACK_EVALS):
        super().__init__(solves_bvp=False)
        self._space = space
        self.exp_solver = exp_solver
        for name, val in (("tol", tol), ("jac_rtol", jac_rtol), ("far_rtol", far_rtol)):
            if isinstance(val, bool) or not (0 < val < 1):
                raise ValueError(f"{name} must be in (0, 1), got {val!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) \
                or max_iter < 0:
            raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
        self.tol = float(tol)
        self.max_iter = int(max_iter)
        self.jac_rtol = float(jac_rtol)
        self.fallback = bool(fallback)
        self.far_rtol = float(far_rtol)
        self.fallback_evals = check_positive_int(fallback_evals, "fallback_evals")
        self.last_stats = {}

    # -- validation ----------------------------------------------------------------------
    def _validate(self, ys, xs):
        space, exp = self._space, self.exp_solver
        r = space.rank
        for name, arr in (("point", ys), ("base_point", xs)):
            s = np.linalg.svd(arr, compute_uv=False)
            ratio = s[:, r - 1] / np.where(s[:, 0] > 0, s[:, 0], 1.0)
            if np.any(~(ratio > exp.singular_tol)):
                raise ValueError(
                    f"{name} must have rank {r} (sigma_r > {exp.singular_tol:g} sigma_1), got "
                    f"sigma_r/sigma_1 = {np.min(ratio):.3g}"
                )
            if not space.full_rank:
                excess = s[:, r] / s[:, 0]
                if np.any(excess > RANK_TOL):
                    raise ValueError(
                        f"{name} must have rank {r}, got sigma_(r+1)/sigma_1 = "
                        f"{np.max(excess):.3g}"
                    )
        if not np.all(check_connected(ys, xs, space)):
            raise ValueError(
                "point and base_point lie in different connected components of GL(d) "
                "(det(point) and det(base_point) have opposite signs): no curve of "
                "invertible matrices joins them, log does not exist and the distance is inf"
            )

    # -- geomstats API -------------------------------------------------------------------
    def log(self, point, base_point):
        """Logarithm map :math:`\\log_X(Y)` for a batch of end points and/or base points.

        Parameters
        ----------
        point : array-like, shape=[..., m, n]
            End points Y.
        base_point : array-like, shape=[..., m, n]
            Base points X.

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            On invalid input, singular points, ``point`` in another connected component
            than ``base_point`` (opposite determinant signs, square full rank), or if no
            geodesic reaching ``point`` is found within the budget (``max_iter`` Newton
            iterations, then ``fallback_evals`` batched exps of the fallback): the message
            names ``point`` and what was tried.
        """
        batch, ys, xs = broadcast_flat(point, "point", base_point, self._space.shape)
        self._validate(ys, xs)
        out = np.zeros_like(ys)
        if not self._space.full_rank:
            xs = SVDFrame(xs, self._space.rank, check=False).matrix()
            ys = SVDFrame(ys, self._space.rank, check=False).matrix()
        todo = np.flatnonzero(np.any(ys != xs, axis=(-2, -1)))
        self.last_stats = {"members": len(ys), "iterations": 0, "jacobians": 0, "exps": 0,
                           "fallbacks": 0}
        if len(todo):
            vec, ok = self._newton(ys[todo], xs[todo])
            out[todo] = vec
            failed = todo[~ok]
            if len(failed):
                if not self.fallback:
                    raise ValueError(
                        f"log: Newton did not converge for {len(failed)} of {len(ys)} targets "
                        f"within max_iter={self.max_iter}; point may be beyond the domain of "
                        "exp (g^N is geodesically incomplete)"
                    )
                self.last_stats["fallbacks"] = len(failed)
                budget = _BudgetedExp(self.exp_solver, self.fallback_evals)
                slow = RootLogSolver(self._space, budget)
                try:
                    out[failed] = slow.log(ys[failed], xs[failed])
                except _BudgetExceeded:
                    stats = self.last_stats
                    raise ValueError(
                        f"log: no geodesic from base_point to point was found for "
                        f"{len(failed)} of {len(ys)} targets: Newton ({stats['iterations']} "
                        f"iterations, {stats['exps']} shots, {stats['jacobians']} exact "
                        "Jacobians, from the root-chart collocation, second-order and "
                        "root-chart guesses) did not converge, and the Levenberg-Marquardt "
                        f"fallback stopped at its budget of fallback_evals={self.fallback_evals}"
                        " batched exps; point may be a cut point of base_point (several "
                        "minimising geodesics, e.g. [[1, 0, 0], [0, -1, 0]] from "
                        "[[1, 0, 0], [0, 1, 0]]), beyond the domain of exp (g^N is "
                        "geodesically incomplete), or very far from base_point"
                    ) from None
        return out.reshape(batch + self._space.shape)

    # -- pieces --------------------------------------------------------------------------
    def _field(self, points):
        try:
            return self.exp_solver.frame_field(points)
        except NotImplementedError:
            return None

    def _candidates(self, ys, xs):
        """Return the initial guesses ``[C, B, m, n]`` and whether the first is expected close.

        DLN metric of finite depth on a full-rank space: root-chart collocation
        (:func:`~geodln.geodesics.root_chart_collocation.root_chart_collocation`, usually
        within 1e-6), then the others.

        The second-order guess inverts :math:`Y - X = V - \\int_0^1 (1 - t)\\,
        \\Gamma_{X(t)}(\\dot X, \\dot X)\\,dt` along the straight line (three Gauss
        nodes); the root-chart guess (:func:`root_chart_velocity`) is exact for commuting
        endpoints.
        """
        delta = ys - xs
        field = self._field(xs[None] + _NODES[:, None, None, None] * delta[None])
        if field is None:
            out = [delta]
        else:
            with np.errstate(all="ignore"):
                gam = field.christoffel(delta[None], delta[None])
                out = [delta + np.tensordot(_WEIGHTS * (1.0 - _NODES), gam, axes=1)]
        kernel = self.exp_solver.kernel
        if isinstance(kernel, DLNKernel) and kernel.depth != np.inf and kernel.depth > 1:
            with np.errstate(all="ignore"):
                out.append(root_chart_velocity(ys, xs, kernel.depth, self._space.rank))
            if field is not None and self._space.full_rank:
                def gamma(x, a, b):
                    return self._field(x).christoffel(a, b)

                out.insert(0, root_chart_collocation(ys, xs, kernel.depth, gamma))
                return np.stack(out), True
        return np.stack(out), False

    def _approx_jacobian(self, coords, xs, c):
        r"""Closed-form Jacobian of :math:`V \mapsto \exp_X(V)` from its Taylor expansion.

        :math:`\exp_X(V) = X + V - \tfrac12\Gamma(V, V) + \tfrac16(2\Gamma(V, \Gamma(V, V))
        - D\Gamma[V](V, V)) + O(|V|^4)` (Christoffel form at X), differentiated along W:
        :math:`W - \Gamma(V, W) + \tfrac16(2\Gamma(W, \Gamma(V, V)) + 4\Gamma(V, \Gamma(V, W))
        - D\Gamma[W](V, V) - 2D\Gamma[V](V, W))`, the derivatives of :math:`\Gamma` by
        central differences. Third order for small systems (``dim`` <= ``THIRD_ORDER_DIM``),
        second order otherwise; ``[B, dim, dim]``, the identity where no closed-form field
        exists or the result is not finite.
        """
        n, dim = len(xs), coords.dim
        eye = np.broadcast_to(np.eye(dim), (n, dim, dim)).copy()
        field = self._field(xs)
        if field is None:
            return eye
        basis = np.moveaxis(coords.basis(), 1, 0)  # [dim, B, m, n]
        v = coords.to_vector(c)
        with np.errstate(all="ignore"):
            g_vw = field.christoffel(v[None], basis)
            total = basis - g_vw
            if dim <= THIRD_ORDER_DIM:
                g_vv = field.christoffel(v, v)
                total = total + (2.0 * field.christoffel(basis, g_vv[None])
                                 + 4.0 * field.christoffel(v[None], g_vw)) / 6.0
                smin = field.singular_values[..., -1]
                size_w = np.max(np.abs(basis), axis=(-2, -1))  # [dim, B]
                h_w = (1e-3 * smin / size_w)[..., None, None]
                shifted = self._field(xs[None, None] + np.array([1.0, -1.0])[:, None, None,
                                                                            None, None]
                                      * (h_w * basis)[None])
                d_w = shifted.christoffel(v[None, None], v[None, None])
                total = total - (d_w[0] - d_w[1]) / (2.0 * h_w) / 6.0
                size_v = np.max(np.abs(v), axis=(-2, -1))
                h_v = np.where(size_v > 0, 1e-3 * smin / np.where(size_v > 0, size_v, 1.0),
                               0.0)[..., None, None]
                shifted = self._field(xs[None] + np.array([1.0, -1.0])[:, None, None, None]
                                      * (h_v * v)[None])
                d_v = shifted.christoffel(v[None, None], basis[:, None])  # [dim, 2, B, ...]
                safe = np.where(h_v > 0, h_v, 1.0)
                total = total - 2.0 * (d_v[:, 0] - d_v[:, 1]) / (2.0 * safe) / 6.0
            jac = np.swapaxes(coords.to_coords(np.moveaxis(total, 0, 1)), -1, -2)
        ok = np.all(np.isfinite(jac), axis=(1, 2))
        return np.where(ok[:, None, None], jac, eye)

    def _shoot(self, coords, c, xs, ys, rtol=None, derivative=False, derivative_rtol=None):
        """Shoot ``c`` [B, dim]; return residual coordinates, errors and Jacobians.

        Residual coordinates [B, dim], max abs error [B] (inf where the shot is singular), and
        with ``derivative`` the Jacobians [B, dim, dim] (NaN where singular).
        """
        exp = self.exp_solver
        vec = coords.to_vector(c)
        n = len(xs)
        jac = np.full((n, coords.dim, coords.dim), np.nan) if derivative else None

        def run(sl):
            if derivative:
                self.last_stats["jacobians"] += 1
                basis = coords.take(sl).basis()
                end, d_end = exp.exp_with_derivative(
                    vec[sl], xs[sl], basis, rtol=rtol,
                    derivative_rtol=self.jac_rtol if derivative_rtol is None else derivative_rtol)
                jac[sl] = np.swapaxes(coords.take(sl).to_coords(d_end), -1, -2)
                return end
            self.last_stats["exps"] += 1
            return exp.exp_batch(vec[sl], xs[sl], rtol=rtol, max_evals=SHOT_EVALS)

        finite = np.all(np.isfinite(vec), axis=(-2, -1))
        ends = np.full_like(xs, np.nan)
        idx = np.flatnonzero(finite)
        if len(idx):
            try:
                ends[idx] = run(idx)
            except ValueError:
                for i in idx:  # find the members whose shot is singular
                    try:
                        ends[i] = run(np.array([i]))[0]
                    except ValueError:
                        pass
        diff = ends - ys
        err = np.max(np.abs(diff), axis=(-2, -1))
        err = np.where(np.isfinite(err), err, np.inf)
        res = coords.to_coords(np.where(np.isfinite(diff), diff, 0.0))
        return res, err, jac

    def _shoot_groups(self, coords, c, xs, ys, precise, derivative=False):
        """Shoot with the solver's rtol where ``precise``, else ``far_rtol``."""
        n = len(xs)
        res = np.zeros((n, coords.dim))
        err = np.full(n, np.inf)
        jac = np.full((n, coords.dim, coords.dim), np.nan) if derivative else None
        for mask, rtol in ((precise, None), (~precise, self.far_rtol)):
            idx = np.flatnonzero(mask)
            if len(idx):
                r, e, j = self._shoot(coords.take(idx), c[idx], xs[idx], ys[idx], rtol=rtol,
                                      derivative=derivative)
                res[idx], err[idx] = r, e
                if derivative:
                    jac[idx] = j
        return res, err, jac

    # -- the iteration -------------------------------------------------------------------
    def _newton(self, ys, xs):
        r"""Quasi-Newton iteration; returns (tangent vectors [B, m, n], converged [B]).

        Start: the best of the candidate guesses (one batched shot). Jacobian: the closed
        form :math:`I - \Gamma_X(V, \cdot)` with Broyden updates; when the error contracts
        by less than ``POOR``, first a fresh closed form, then exact Jacobians (variational
        equations). Steps are halved while a trial shot is singular or does not decrease the
        error. Shots run at ``far_rtol`` while the error is above ``NEAR`` (relative), then
        at the exp solver's tolerance.
        """
        rank = self._space.rank
        kernel = self.exp_solver.kernel
        coords = TangentCoordinates(xs, rank, kernel)
        n = len(xs)
        scale = np.maximum(np.max(np.abs(ys), axis=(-2, -1)), np.max(np.abs(xs), axis=(-2, -1)))
        accept = self.tol * scale
        near = NEAR * scale
        # -- start: the second-order guess; the other candidates only where it is far off
        cands, first_close = self._candidates(ys, xs)
        c = coords.to_coords(cands[0])
        # the collocation guess is usually within NEAR: shot at once at the exp solver's
        # tolerance (a looser shot's residual is at the level of its integration error)
        res, err, _ = self._shoot(coords, c, xs, ys,
                                  rtol=None if first_close else self.far_rtol)
        precise = np.full(n, first_close) & (err <= near)
        c0 = c.copy()
        for cand in cands[1:]:
            idx = np.flatnonzero(~(err <= FAR * scale))
            if not len(idx):
                break
            sub = coords.take(idx)
            c_try = sub.to_coords(cand[idx])
            r_try, e_try, _ = self._shoot(sub, c_try, xs[idx], ys[idx], rtol=self.far_rtol)
            better = e_try < err[idx]
            take = idx[better]
            c[take], res[take], err[take] = c_try[better], r_try[better], e_try[better]
        bad = ~np.isfinite(err)
        if np.any(bad):  # every guess is beyond the domain of exp: start from V = 0
            c[bad] = 0.0
            res[bad] = -coords.take(np.flatnonzero(bad)).to_coords(ys[bad] - xs[bad])
            err[bad] = np.max(np.abs(ys[bad] - xs[bad]), axis=(-2, -1))
        precise &= np.isfinite(err) & (c == c0).all(axis=1)
        # a start within NEAR is shot again at the exp solver's tolerance: the looser shot's
        # residual is at the level of its integration error there
        close = np.flatnonzero((err <= near) & ~precise)
        if len(close):
            res[close], err[close], _ = self._shoot(coords.take(close), c[close], xs[close],
                                                    ys[close])
            precise[close] = True
        jac = self._approx_jacobian(coords, xs, c)
        level = np.zeros(n, dtype=int)  # 0 closed form + Broyden, 1 fresh closed form, 2+ exact
        done = np.zeros(n, dtype=bool)
        failed = np.zeros(n, dtype=bool)
        # far from the solution the second-order Jacobian is useless: exact Jacobians at once
        off = err > FAR * scale
        # |V|_g / |X|_g: scale-free length (A_{cX} = c^(2(N-1)/N) A_X for g^N)
        length = np.linalg.norm(c, axis=1) / np.linalg.norm(coords.to_coords(xs), axis=1)
        far = np.flatnonzero(off | (length > LONG))
        if len(far):
            level[far] = 2
            # long geodesics whose start is close keep the residual of the tighter shot
            self._exact_jacobian(coords, c, xs, ys, far, jac, res, err, failed,
                                 far=np.ones(len(far), bool), keep=~off[far])
        for _ in range(self.max_iter):
            active = np.flatnonzero(~done & ~failed)
            if not len(active):
                break
            self.last_stats["iterations"] += 1
            with np.errstate(all="ignore"):
                step = -np.linalg.solve(jac[active], res[active][..., None])[..., 0]
            step = np.where(np.isfinite(step), step, 0.0)
            factor = np.ones(len(active))
            accepted = np.zeros(len(active), dtype=bool)
            shot_precise = err[active] <= near[active]
            new_res, new_err = res[active].copy(), err[active].copy()
            for _halving in range(6):
                trial = np.flatnonzero(~accepted)
                if not len(trial):
                    break
                idx = active[trial]
                r_try, e_try, _ = self._shoot_groups(
                    coords.take(idx), c[idx] + factor[trial, None] * step[trial], xs[idx],
                    ys[idx], shot_precise[trial])
                good = e_try < err[idx]
                accepted[trial[good]] = True
                new_res[trial[good]], new_err[trial[good]] = r_try[good], e_try[good]
                factor[trial[~good]] *= 0.5
            # accepted steps: Broyden (good) update, or a fresh Jacobian if the contraction
            # is poor
            moved = active[accepted]
            ds = factor[accepted, None] * step[accepted]
            dr = new_res[accepted] - res[moved]
            with np.errstate(all="ignore"):
                upd = jac[moved] + np.einsum(
                    "bi,bj->bij", dr - np.einsum("bij,bj->bi", jac[moved], ds), ds
                ) / np.sum(ds * ds, axis=1)[:, None, None]
            ok_upd = np.all(np.isfinite(upd), axis=(1, 2))
            jac[moved[ok_upd]] = upd[ok_upd]
            poor = new_err[accepted] > np.where(level[moved] >= 2, POOR_EXACT, POOR) * err[moved]
            c[moved] += ds
            res[moved], err[moved] = new_res[accepted], new_err[accepted]
            precise[moved] = shot_precise[accepted]
            done[moved] = (err[moved] <= accept[moved]) & precise[moved]
            # members to refresh: poor contraction (fresh closed form, then exact Jacobians),
            # or no decrease at all (exact Jacobian; if it was exact already: fail)
            stalled = active[~accepted]
            floor = precise[stalled] & (err[stalled] <= 10.0 * accept[stalled])
            done[stalled[floor]] = True
            stalled = stalled[~floor]
            failed[stalled[level[stalled] >= 2]] = True
            stalled = stalled[level[stalled] < 2]
            level[stalled] = 2
            slow = moved[poor & ~done[moved]]
            level[slow] = np.minimum(level[slow] + 1, 2)
            refresh = np.concatenate([slow, stalled])
            cheap = refresh[level[refresh] == 1]
            if len(cheap):
                jac[cheap] = self._approx_jacobian(coords.take(cheap), xs[cheap], c[cheap])
            exact = refresh[level[refresh] >= 2]
            if len(exact):
                self._exact_jacobian(coords, c, xs, ys, exact, jac, res, err, failed,
                                     precise[exact], err[exact] > FAR * scale[exact])
        return coords.to_vector(c), done

    def _exact_jacobian(self, coords, c, xs, ys, idx, jac, res, err, failed, precise=None,
                        far=None, keep=None):
        """Integrate the variational equations at ``c[idx]``; update the arrays in place.

        While the error is large (not ``precise``) the shot runs at ``jac_rtol`` too; where it
        is ``far`` (relative error above 5 %) shot and Jacobian run at 1e-4 and 1e-3. Members
        in ``keep`` keep their residual (it came from a tighter shot).
        """
        precise = np.zeros(len(idx), bool) if precise is None else precise
        far = np.zeros(len(idx), bool) if far is None else far & ~precise
        r_j = np.zeros((len(idx), coords.dim))
        e_j = np.full(len(idx), np.inf)
        j_j = np.full((len(idx), coords.dim, coords.dim), np.nan)
        loose = max(self.far_rtol, self.jac_rtol)
        for mask, rtol, d_rtol in ((precise, None, self.jac_rtol),
                                   (~precise & ~far, loose, self.jac_rtol),
                                   (far, max(loose, 1e-4), max(self.jac_rtol, 1e-3))):
            sel = np.flatnonzero(mask)
            if len(sel):
                sub = idx[sel]
                r_j[sel], e_j[sel], j_j[sel] = self._shoot(
                    coords.take(sub), c[sub], xs[sub], ys[sub], rtol=rtol, derivative=True,
                    derivative_rtol=d_rtol)
        ok = np.all(np.isfinite(j_j), axis=(1, 2)) & np.isfinite(e_j)
        jac[idx[ok]] = j_j[ok]
        new = ok if keep is None else ok & ~keep
        res[idx[new]], err[idx[new]] = r_j[new], e_j[new]
        failed[idx[~ok]] = True
