r"""Logarithm map of a spectral metric by Newton's method on :math:`\exp_X(V) = Y`, batched.

Unknowns and residuals are Riemannian-orthonormal tangent coordinates at X (full SVD
:math:`X = U\Sigma V^\top`, co-metric eigenvalues :math:`\lambda_{kl}`,
:math:`Z = \sum c_{kl}\sqrt{\lambda_{kl}}\,u_k v_l^\top` over the tangent pairs), so that
:math:`\|c\| = \|Z\|_g` and the Jacobian of :math:`c \mapsto \exp_X(Z(c))` is the identity at
c = 0. The deep-linear-network (DLN) metric :math:`g^N` is the quotient of the Frobenius metric
on balanced factors (Menon–Yu, MY25; Menon, GM24).

- **Initial guess** (DLN kernel, finite depth): the geodesic of the *root chart*
  :math:`\rho(X) = U\Sigma^{1/N}V^\top`. For endpoints with common singular vectors the
  geodesic is :math:`X(t) = U((1-t)\Sigma_0^{1/N} + t\Sigma_1^{1/N})^N V^\top` (GEO25), a
  straight line in this chart; for general endpoints the guess is the initial velocity of
  :math:`t \mapsto \rho^{-1}((1-t)\rho(X) + t\rho(Y))`, exact for commuting endpoints. Other
  kernels start from :math:`P_{T_X}(Y - X)`.
- **Newton steps** with the derivative of exp from the variational equations integrated with
  the Hamiltonian system
  (:meth:`~geodln.geodesics.HamiltonianExpSolver.exp_with_derivative`), at a looser
  tolerance; between Jacobians, Broyden rank-one updates; a new Jacobian when the residual
  contracts by less than ``refresh``; backtracking (halved steps) when a trial shot reaches a
  singular matrix or does not decrease the residual.
- **Batch.** All targets (and base points) are solved together: one batched exp per Newton
  iteration over the members not yet converged; converged members leave the batch.
- **Budget.** At most ``max_iter`` Newton iterations per member; members that fail are handed
  to :class:`~geodln.geodesics.RootLogSolver` (Levenberg–Marquardt with a homotopy on the
  end point) when ``fallback`` is true, else ``ValueError``.

**Connectivity.** On square full-rank spaces (:math:`GL_d`) no curve of invertible matrices
joins matrices whose determinants have opposite signs: ``log`` raises ``ValueError`` naming
``point`` (and :class:`~geodln.SpectralMetric` returns an infinite distance). ``log(X, X)``
is 0 without any integration.

References
----------
.. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract and
   Section 1 (explicit geodesics in a special case: endpoints whose singular vectors agree).
.. [2] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: g^N as the quotient metric of
   the balanced manifold).
.. [3] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds (2008),
   Section 6.1 (Newton's method).
"""

import numpy as np
from geomstats.numerics.geodesic import LogSolver

from geodln.geodesics.hamiltonian_exp import RANK_TOL, broadcast_flat
from geodln.geodesics.root_log import RootLogSolver
from geodln.spectral import DLNKernel
from geodln.svd_frame import SVDFrame

__all__ = ["NewtonLogSolver", "root_chart_velocity", "check_connected"]

DEFAULT_TOL = 1e-11


def _t(a):
    return np.swapaxes(a, -1, -2)


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

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract and
       Section 1 (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.diag([1.0, 2.0]), np.diag([8.0, 1.0])
    >>> v = root_chart_velocity(y, x, depth=3)  # X(t) = diag((1 + t)^3, (2^(1/3)(1 - t) + t)^3)
    >>> bool(np.allclose(np.diag(v), [3.0, 3 * 2 ** (2 / 3) * (1 - 2 ** (1 / 3))], atol=1e-6))
    True
    """
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


class _Coordinates:
    """Batched orthonormal tangent coordinates at base points ``[B, m, n]``."""

    def __init__(self, base_point, rank, kernel):
        m, n = base_point.shape[-2:]
        u, s, vt = np.linalg.svd(base_point, full_matrices=True)
        sig = np.zeros(base_point.shape[:-2] + (max(m, n),))
        sig[..., :rank] = s[..., :rank]
        s2 = sig**2
        lam = np.asarray(kernel(s2[..., :m, None], s2[..., None, :n]), dtype=float)
        self.mask = (np.arange(m)[:, None] < rank) | (np.arange(n)[None, :] < rank)
        lam = lam[..., self.mask]
        if np.any(~(lam > 0)):
            raise ValueError("the metric is not defined at base_point (a co-metric eigenvalue "
                             "is 0)")
        self.u, self.v, self.sqrt_lam = u, _t(vt), np.sqrt(lam)
        self.dim = int(self.mask.sum())

    def take(self, idx):
        out = _Coordinates.__new__(_Coordinates)
        out.u, out.v, out.sqrt_lam = self.u[idx], self.v[idx], self.sqrt_lam[idx]
        out.mask, out.dim = self.mask, self.dim
        return out

    def to_coords(self, vector):
        """[B, ..., m, n] -> [B, ..., dim] (tangent part)."""
        extra = vector.ndim - 3
        u = self.u.reshape(self.u.shape[:1] + (1,) * extra + self.u.shape[1:])
        v = self.v.reshape(self.v.shape[:1] + (1,) * extra + self.v.shape[1:])
        sl = self.sqrt_lam.reshape(self.sqrt_lam.shape[:1] + (1,) * extra + (self.dim,))
        return (_t(u) @ vector @ v)[..., self.mask] / sl

    def to_vector(self, coords):
        """[B, ..., dim] -> [B, ..., m, n]."""
        extra = coords.ndim - 2
        u = self.u.reshape(self.u.shape[:1] + (1,) * extra + self.u.shape[1:])
        v = self.v.reshape(self.v.shape[:1] + (1,) * extra + self.v.shape[1:])
        sl = self.sqrt_lam.reshape(self.sqrt_lam.shape[:1] + (1,) * extra + (self.dim,))
        hat = np.zeros(coords.shape[:-1] + self.mask.shape)
        hat[..., self.mask] = coords * sl
        return u @ hat @ _t(v)


class NewtonLogSolver(LogSolver):
    r"""geomstats ``LogSolver``: batched Newton iteration on :math:`\exp_X(V) = Y`.

    Parameters
    ----------
    space : RankMatrices
        The manifold.
    exp_solver : HamiltonianExpSolver
        The exp solver (its ``exp_batch`` and ``exp_with_derivative`` are used).
    tol : float
        Accepted residual :math:`\max|\exp_X(V) - Y| \le` ``tol`` :math:`\cdot\max|Y|`.
    max_iter : int
        Newton iterations per member (the evaluation budget; each costs one batched exp,
        plus a Jacobian integration when the contraction is poor).
    jac_rtol : float
        Integrator tolerance of the Jacobian (variational) integrations.
    refresh : float
        A new Jacobian is integrated when the residual contracts by less than this factor
        (otherwise a Broyden update is used).
    fallback : bool
        Hand members that fail to :class:`~geodln.geodesics.RootLogSolver`.
    far_rtol : float
        Integrator tolerance of the shots while the error exceeds ``near`` (relative).
    near : float
        Relative error below which shots are plain exps at the exp solver's tolerance.
    dense_dim : int
        Up to this manifold dimension every far shot also integrates the Jacobian (exact
        Newton); above it Jacobians are integrated only when Broyden's updates contract
        poorly (each costs about ``dim`` exps of work).

    References
    ----------
    .. [1] AMS08: Absil, Mahony, Sepulchre, Optimization Algorithms on Matrix Manifolds
       (2008), Section 6.1.
    .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract and
       Section 1 (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).

    Raises
    ------
    ValueError
        If ``tol`` is not in (0, 1) or another option is out of range.

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

    def __init__(self, space, exp_solver, tol=DEFAULT_TOL, max_iter=25, jac_rtol=1e-6,
                 refresh=0.1, fallback=True, far_rtol=1e-7, near=1e-5, dense_dim=30):
        super().__init__(solves_bvp=False)
        self._space = space
        self.exp_solver = exp_solver
        if not (0 < tol < 1):
            raise ValueError(f"tol must be in (0, 1), got {tol!r}")
        self.tol = float(tol)
        self.max_iter = int(max_iter)
        self.jac_rtol = float(jac_rtol)
        self.refresh = float(refresh)
        self.fallback = bool(fallback)
        self.far_rtol = float(far_rtol)
        self.near = float(near)
        self.dense_dim = int(dense_dim)
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
            geodesic reaching ``point`` is found within the budget (and the fallback).
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
                slow = RootLogSolver(self._space, self.exp_solver)
                out[failed] = slow.log(ys[failed], xs[failed])
        return out.reshape(batch + self._space.shape)

    # -- Newton --------------------------------------------------------------------------
    def _initial(self, ys, xs):
        kernel = self.exp_solver.kernel
        if isinstance(kernel, DLNKernel) and kernel.depth != np.inf and kernel.depth > 1:
            rank = self._space.rank
            return root_chart_velocity(ys, xs, kernel.depth, rank)
        return ys - xs

    def _shoot(self, coords, c, xs, ys, rtol=None, derivative=False):
        """Shoot ``c`` [B, dim]; return residual coordinates, errors and Jacobians.

        Residual coordinates [B, dim], max abs error [B] (inf where the shot is singular), and
        with ``derivative`` the Jacobians [B, dim, dim] (NaN rows where singular).
        """
        exp = self.exp_solver
        vec = coords.to_vector(c)
        n = len(xs)
        jac = np.full((n, coords.dim, coords.dim), np.nan) if derivative else None

        def run(sl):
            if derivative:
                self.last_stats["jacobians"] += 1
                basis = coords.take(sl).to_vector(
                    np.broadcast_to(np.eye(coords.dim), (len(xs[sl]),) + (coords.dim,) * 2))
                end, d_end = exp.exp_with_derivative(vec[sl], xs[sl], basis, rtol=rtol,
                                                     derivative_rtol=self.jac_rtol)
                jac[sl] = np.swapaxes(coords.take(sl).to_coords(d_end), -1, -2)
                return end
            self.last_stats["exps"] += 1
            return exp.exp_batch(vec[sl], xs[sl], rtol=rtol)

        try:
            ends = run(np.arange(n))
        except ValueError:
            ends = np.full_like(xs, np.nan)
            for i in range(n):  # find the members whose shot is singular
                try:
                    ends[i] = run(np.array([i]))[0]
                except ValueError:
                    pass
        diff = ends - ys
        err = np.max(np.abs(diff), axis=(-2, -1))
        err = np.where(np.isfinite(err), err, np.inf)
        res = coords.to_coords(np.where(np.isfinite(diff), diff, 0.0))
        return res, err, jac

    def _newton(self, ys, xs):
        r"""Damped Newton iteration; returns (tangent vectors [B, m, n], converged [B]).

        Far from the solution (error above ``near`` times the scale) every shot integrates
        the variational equations too (exact Newton at a looser tolerance, with halved steps
        when the error does not decrease); near it, shots are plain exps at the solver's
        tolerance with Broyden updates of the last Jacobian, and a new Jacobian when the
        error contracts by less than ``refresh``.
        """
        exp = self.exp_solver
        coords = _Coordinates(xs, self._space.rank, exp.kernel)
        scale = np.maximum(np.max(np.abs(ys), axis=(-2, -1)), np.max(np.abs(xs), axis=(-2, -1)))
        accept = self.tol * scale
        near = self.near * scale
        n = len(xs)
        c = coords.to_coords(self._initial(ys, xs))
        res, err, jac = self._shoot(coords, c, xs, ys, rtol=self.far_rtol, derivative=True)
        bad = ~np.isfinite(err) | np.any(~np.isfinite(jac), axis=(1, 2))
        if np.any(bad):  # the guess is beyond the domain of exp: start from c = 0 (J = I)
            idx = np.flatnonzero(bad)
            c[idx] = 0.0
            res[idx] = -coords.take(idx).to_coords(ys[idx] - xs[idx])
            err[idx] = np.max(np.abs(ys[idx] - xs[idx]), axis=(-2, -1))
            jac[idx] = np.eye(coords.dim)
        precise = np.zeros(n, dtype=bool)  # err was measured at the solver's rtol
        done = np.zeros(n, dtype=bool)
        failed = np.zeros(n, dtype=bool)
        keep = np.ones(n, dtype=bool)  # the Jacobian is good enough for the next step
        for _ in range(self.max_iter):
            active = np.flatnonzero(~done & ~failed)
            if not len(active):
                break
            self.last_stats["iterations"] += 1
            step = -np.linalg.solve(jac[active], res[active][..., None])[..., 0]
            factor = np.ones(len(active))
            accepted = np.zeros(len(active), dtype=bool)
            new = {"res": res[active].copy(), "err": err[active].copy(),
                   "jac": np.full((len(active), coords.dim, coords.dim), np.nan)}
            is_near = err[active] <= near[active]
            # exact Newton while far (for small systems: the variational equations cost
            # little more than the shot); otherwise only where the Jacobian is stale
            far = ~is_near if coords.dim <= self.dense_dim else np.zeros(len(active), bool)
            for _halving in range(6):
                for group, derivative in ((far | ~keep[active], True),
                                          (~far & keep[active], False)):
                    trial = np.flatnonzero(~accepted & group)
                    if not len(trial):
                        continue
                    idx = active[trial]
                    rtol = None if not derivative or np.all(is_near[trial]) else self.far_rtol
                    r_try, e_try, j_try = self._shoot(
                        coords.take(idx), c[idx] + factor[trial, None] * step[trial],
                        xs[idx], ys[idx], rtol=rtol, derivative=derivative)
                    good = e_try < err[idx]
                    if derivative:
                        good &= np.all(np.isfinite(j_try), axis=(1, 2))
                        new["jac"][trial[good]] = j_try[good]
                    accepted[trial[good]] = True
                    new["res"][trial[good]], new["err"][trial[good]] = r_try[good], e_try[good]
                    factor[trial[~good]] *= 0.5
                if np.all(accepted):
                    break
            stalled = active[~accepted]
            # no decrease: converged at the noise floor, retry with a new Jacobian, or fail
            floor = (err[stalled] <= accept[stalled]) & precise[stalled]
            done[stalled[floor]] = True
            retry = stalled[~floor]
            failed[retry[~keep[retry]]] = True
            keep[retry] = False
            moved = active[accepted]
            ds = factor[accepted, None] * step[accepted]
            got = np.all(np.isfinite(new["jac"][accepted]), axis=(1, 2))
            # Broyden (good) update where no new Jacobian was integrated
            dr = new["res"][accepted] - res[moved]
            upd = jac[moved] + np.einsum(
                "bi,bj->bij", dr - np.einsum("bij,bj->bi", jac[moved], ds), ds
            ) / np.sum(ds * ds, axis=1)[:, None, None]
            jac[moved] = np.where(got[:, None, None], new["jac"][accepted], upd)
            keep[moved] = got | (new["err"][accepted] <= self.refresh * err[moved])
            c[moved] += ds
            res[moved], err[moved] = new["res"][accepted], new["err"][accepted]
            precise[moved] = is_near[accepted]
            done[moved] = (err[moved] <= accept[moved]) & precise[moved]
        return coords.to_vector(c), done
