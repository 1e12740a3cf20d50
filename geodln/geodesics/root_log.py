r"""Logarithm map of a spectral metric by root-finding on :math:`\exp_X(V) - Y`.

Unknowns and residuals are written in Riemannian-orthonormal tangent coordinates at X: with
a full SVD :math:`X = U\Sigma V^\top` and the co-metric eigenvalues :math:`\lambda_{kl}`
(CMV23, Lemma 2.4), a tangent vector is
:math:`Z = \sum c_{kl}\sqrt{\lambda_{kl}}\, u_k v_l^\top` over the pairs with k < r or l < r,
so :math:`\|c\|^2 = g_X(Z, Z)` and the Jacobian of :math:`c \mapsto` coordinates of
:math:`\exp_X(Z) - Y` is the identity at c = 0. At a rank-r point the residual is the tangent part
of :math:`\exp_X(Z) - Y`, a square system of size :math:`r(m + n - r)`; the full residual is
checked at the end.

The system is solved by MINPACK (Levenberg–Marquardt ``lm`` by default, or Powell's ``hybr``,
through geomstats' ``ScipyRoot``) from :math:`V_0 = P_{T_X}(Y - X)`, with a forward
finite-difference Jacobian
computed as **one batched exp** of the ``dim + 1`` perturbed shots (all members share the
integrator's steps, so the differences are smooth in the perturbation). This is the route
measured in the geodesics benchmark, with the Jacobian
batched. If this direct solve fails, a homotopy on the end point (from the reachable
:math:`\exp_X(V_0)` to Y) is tried.
"""

import numpy as np
from geomstats.numerics.geodesic import LogSolver
from geomstats.numerics.optimization import ScipyRoot

from geodln.geodesics.hamiltonian_exp import RANK_TOL, broadcast_flat
from geodln.geodesics.tangent_coordinates import TangentCoordinates
from geodln.svd_frame import SVDFrame

DEFAULT_TOL = 1e-7


class RootLogSolver(LogSolver):
    r"""geomstats ``LogSolver``: :math:`\log_X(Y)` as the root of :math:`\exp_X(V) - Y`.

    Parameters
    ----------
    space : RankMatrices
        The manifold.
    exp_solver : HamiltonianExpSolver
        The exp solver (its ``exp_batch`` is used for the batched Jacobian).
    method : {"lm", "hybr"}
        MINPACK solver through geomstats' ``ScipyRoot``: Levenberg–Marquardt (default; one
        batched Jacobian per iteration, fewest exps on long geodesics) or Powell's hybrid
        method (Broyden updates between Jacobians; cheaper on short geodesics).
    tol : float
        Accepted residual: :math:`\max|\exp_X(V) - Y| \le` ``tol`` :math:`\cdot \max(1,
        \max|Y|)`, else ``ValueError``.
    jac_rtol : float
        Integrator tolerance for the finite-difference Jacobian (it only steers the Newton
        steps; the residual is always evaluated at the solver's full accuracy).
    fd_step : float
        Forward-difference step in the orthonormal coordinates.
    xtol : float
        Relative step tolerance of the solver.
    maxfev : int
        Maximum residual evaluations (``hybr``) or iterations (``lm``) per solve.
    max_evals : int
        Right-hand-side budget of each trial shot: shots that crawl towards a singular
        matrix are rejected (the solver then shortens its step).
    factor : float
        MINPACK initial step bound ``factor`` (small values keep the first trial shots close
        to the initial guess, away from singular matrices).
    max_continuation : int
        If the direct solve fails, at most this many solves of a homotopy on the end
        point (from the reachable :math:`\exp_X(P_{T_X}(Y - X))` to Y); 0 disables it.

    Raises
    ------
    ValueError
        With the message ``method must be 'lm' or 'hybr', got …``.

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    Inverts the exp solver:

    >>> import geodln
    >>> from geodln.geodesics.hamiltonian_exp import HamiltonianExpSolver
    >>> from geodln.geodesics.root_log import RootLogSolver
    >>> from geodln.spectral import DLNKernel
    >>> space = geodln.RankMatrices(2, 2)
    >>> exp_solver = HamiltonianExpSolver(space, DLNKernel(2))
    >>> x, v = np.diag([2.0, 1.0]), np.array([[0.0, 0.1], [0.0, 0.0]])
    >>> y = exp_solver.exp(v, x)
    >>> bool(np.allclose(RootLogSolver(space, exp_solver).log(y, x), v, atol=1e-8))
    True
    """

    def __init__(self, space, exp_solver, method="lm", tol=DEFAULT_TOL, jac_rtol=1e-6,
                 fd_step=1e-6, xtol=1e-12, maxfev=40, max_evals=2000, factor=10.0,
                 max_continuation=32):
        super().__init__(solves_bvp=False)
        self._space = space
        self.exp_solver = exp_solver
        self.tol = float(tol)
        self.jac_rtol = float(jac_rtol)
        self.fd_step = float(fd_step)
        self.max_evals = int(max_evals)
        self.max_continuation = int(max_continuation)
        if method == "lm":
            options = {"xtol": xtol, "ftol": 1e-14, "maxiter": maxfev, "factor": factor}
        elif method == "hybr":
            options = {"xtol": xtol, "maxfev": maxfev, "factor": factor}
        else:
            raise ValueError(f"method must be 'lm' or 'hybr', got {method!r}")
        self.method = method
        self.optimizer = ScipyRoot(method=method, options=options)

    def log(self, point, base_point):
        """Logarithm map :math:`\\log_X(Y)`, the initial velocity of the geodesic from X to Y.

        Parameters
        ----------
        point : array-like, shape=[..., m, n]
            End point Y.
        base_point : array-like, shape=[..., m, n]
            Base point X.

        Returns
        -------
        tangent_vec : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            On invalid input, singular points, or if no geodesic from X reaching Y is found
            (e.g. Y beyond the domain of exp: :math:`g^N` is geodesically incomplete).
        """
        batch, ys, xs = broadcast_flat(point, "point", base_point, self._space.shape)
        out = np.stack([self._log_single(y_, x_) for y_, x_ in zip(ys, xs)])
        return out.reshape(batch + self._space.shape)

    def _log_single(self, point, base_point):
        space = self._space
        exp = self.exp_solver
        for name, arr in (("point", point), ("base_point", base_point)):
            s = np.linalg.svd(arr, compute_uv=False)
            if not s[space.rank - 1] > exp.singular_tol * s[0]:
                raise ValueError(
                    f"{name} must have rank {space.rank} (sigma_r > {exp.singular_tol:g} "
                    f"sigma_1), got sigma_r/sigma_1 = {s[space.rank - 1] / max(s[0], 1e-300):.3g}"
                )
        if not space.full_rank:
            s = np.linalg.svd(point, compute_uv=False)
            if s[space.rank] > RANK_TOL * s[0]:
                raise ValueError(
                    f"point must have rank {space.rank}, got sigma_(r+1)/sigma_1 = "
                    f"{s[space.rank] / s[0]:.3g}"
                )
        coords = _SingleCoordinates(TangentCoordinates(base_point[None], space.rank, exp.kernel))
        init = coords.to_coords(point - base_point)
        vec, err, message = self._attempt(coords, point, base_point, init)
        if err is None and self.max_continuation > 0:
            vec, err, message = self._continuation(coords, point, base_point, init)
        if err is None:
            raise ValueError(
                f"log: no geodesic from base_point to point was found ({message}); point may "
                "be beyond the domain of exp (g^N is geodesically incomplete) or too far "
                "from base_point"
            )
        return vec

    def _attempt(self, coords, point, base_point, init):
        """Run the root-finder from ``init``; return (vector, residual or None, message)."""
        exp = self.exp_solver

        def residual(c):
            try:
                end = exp.exp_batch(coords.to_vector(c), base_point, max_evals=self.max_evals)
            except ValueError:  # the shot left the manifold: push the solver back
                return 1e6 * (1.0 + np.abs(c))
            return coords.to_coords(end - point)

        def jacobian(c):
            dim = coords.dim
            shots = c[None, :] + np.vstack([np.zeros(dim), self.fd_step * np.eye(dim)])
            try:
                ends = exp.exp_batch(
                    coords.to_vector(shots), base_point, rtol=self.jac_rtol,
                    max_evals=self.max_evals,
                )
            except ValueError as err:
                raise _ShotFailed(str(err)) from None
            vals = coords.to_coords(ends)
            return ((vals[1:] - vals[0]) / self.fd_step).T

        try:
            res = self.optimizer.root(residual, init, fun_jac=jacobian)
        except _ShotFailed as err:
            return None, None, f"a Jacobian shot failed: {err}"
        vec = coords.to_vector(np.asarray(res.x, dtype=float))
        try:
            end = exp.exp(vec, base_point)
        except ValueError as err:
            return vec, None, str(err)
        err = float(np.max(np.abs(end - point)))
        if not err <= self.tol * max(1.0, np.max(np.abs(point))):
            why = " ".join(str(res.message).split())
            return vec, None, f"residual {err:.3g}, {self.method}: {why}"
        return vec, err, "converged"

    def _continuation(self, coords, point, base_point, init):
        r"""Homotopy on the end point, from a reachable ``exp_X(V_0)`` to ``point``.

        The targets are the (rank-r projected) points of the segment from
        :math:`Y_0 = \exp_X(V_0)` to Y; each is solved warm-started at the previous
        solution, with the step in the homotopy parameter halved on failure.
        """
        exp = self.exp_solver
        c_prev = np.asarray(init, dtype=float)
        start = None
        for _ in range(30):  # shrink V_0 until its shot is regular
            try:
                start = exp.exp(coords.to_vector(c_prev), base_point)
                break
            except ValueError:
                c_prev = 0.5 * c_prev
        if start is None:
            return None, None, "no regular initial shot"
        s_prev, step, n_solves = 0.0, 0.25, 0
        vec, err, message = None, None, "continuation did not start"
        while s_prev < 1.0 and n_solves < self.max_continuation:
            s = min(1.0, s_prev + step)
            target = start + s * (point - start)
            if not self._space.full_rank:
                target = SVDFrame(target, self._space.rank, check=False).matrix()
            n_solves += 1
            vec, err, message = self._attempt(coords, target, base_point, c_prev)
            if err is None:
                step *= 0.5
                if step < 1.0 / 256:
                    break
                continue
            s_prev, c_prev, step = s, coords.to_coords(vec), min(2.0 * step, 1.0 - s)
        if s_prev < 1.0:
            return vec, None, f"continuation stopped at {s_prev:.3g} of the way ({message})"
        return vec, err, message


class _ShotFailed(Exception):
    pass


class _SingleCoordinates:
    """:class:`TangentCoordinates` at one base point, vectors ``[..., m, n]``."""

    def __init__(self, coords):
        self.coords, self.dim = coords, coords.dim

    def to_coords(self, vector):
        return self.coords.to_coords(np.asarray(vector, dtype=float)[None])[0]

    def to_vector(self, coords):
        return self.coords.to_vector(np.asarray(coords, dtype=float)[None])[0]
