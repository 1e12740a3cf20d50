r"""Exponential map of a spectral metric by the co-metric Hamiltonian system.

Geodesics of :math:`(M_r, g)` with co-metric :math:`A_X` are the projections of the flow of

.. math:: H(X, P) = \tfrac12\langle P, A_X(P)\rangle, \qquad
          \dot X = A_X(P), \qquad \dot P = -\partial_X H(X, P),

started at :math:`P_0 = A_{X_0}^{-1}(V)` (the ``flat`` of the initial velocity; GEO25).
No inverse of A is needed along the way. :math:`\partial_X H` is one
autograd reverse pass per right-hand side, batched over all geodesics, through the power-sum
form of :mod:`geodln.geodesics.operators` (Daleckii–Krein derivatives: exact at repeated
singular values, so X = I is a normal starting point; HIG08, Chapter 3).

**Rank-r points.** For r < min(m, n) the operator annihilates the normal block, so H is invariant
under :math:`P \mapsto P + N` with N normal: the ambient flow started on :math:`M_r` projects to
the geodesic flow of :math:`M_r` (coisotropic reduction). Numerically
it drifts off :math:`M_r`; here the right-hand side is evaluated at the truncated SVD of X and
the tangent part of P (a gauge choice along the null directions, which does not change the
X-trajectory), and the result is projected back onto :math:`M_r`.

**Integration.** Adaptive Dormand–Prince 8(5,3) (``scipy.integrate.solve_ivp``, ``DOP853``) on
the whole batch as one system, with relative tolerance ``rtol`` and absolute tolerances scaled by
the size of X and P. The default ``rtol=1e-9`` gives errors of about 1e-9 on the explicit
common-singular-vector geodesics (measured in ``tests/test_geodesics.py``).

**Incompleteness.** :math:`g^N` is geodesically incomplete: a geodesic can reach a matrix of
rank < r in finite time, where P blows up. The integration stops with a ``ValueError`` as soon as
:math:`\sigma_r(X(t)) < \text{singular\_tol}\cdot\sigma_1(X_0)` (default ``1e-6``), when the
right-hand side is not finite, when the step size collapses near a singular matrix (more than
``max_evals`` right-hand sides; a regular exp needs about 100–300), or if the solver fails; it
never returns NaN.
"""

import autograd.numpy as anp
import numpy as np
from autograd import grad
from geomstats.numerics.geodesic import ExpSolver
from scipy.integrate import solve_ivp

from geodln._checks import check_matrix, check_positive_int
from geodln.geodesics.operators import cometric_operator, hamiltonian
from geodln.svd_frame import SVDFrame

DEFAULT_RTOL = 1e-9
DEFAULT_SINGULAR_TOL = 1e-6
RANK_TOL = 1e-8  # sigma_(r+1)/sigma_1 above this: not a rank-r point


def _broadcast_flat(vec, vec_name, base_point, shape):
    """Check ``vec`` and ``base_point`` ([..., m, n]) and flatten their broadcast batch.

    Returns
    -------
    batch : tuple of int
        The broadcast batch shape.
    vecs, points : ndarray, shape=[prod(batch), m, n]
    """
    v = check_matrix(vec, vec_name, shape=shape)
    x = check_matrix(base_point, "base_point", shape=shape)
    batch = np.broadcast_shapes(v.shape[:-2], x.shape[:-2])
    v = np.broadcast_to(v, batch + shape).reshape((-1,) + shape)
    x = np.broadcast_to(x, batch + shape).reshape((-1,) + shape)
    return batch, v, x


class HamiltonianExpSolver(ExpSolver):
    r"""geomstats ``ExpSolver`` integrating the co-metric Hamiltonian system of a spectral metric.

    Parameters
    ----------
    space : RankMatrices
        The manifold (shape ``(m, n)`` and ``rank`` are read from it).
    kernel : SpectralKernel
        The kernel of the metric (:class:`~geodln.spectral.DLNKernel` for :math:`g^N`, plain or
        normalised A as the kernel says).
    rtol : float
        Relative tolerance of the adaptive integrator.
    method : str
        ``scipy.integrate.solve_ivp`` method (default ``"DOP853"``).
    singular_tol : float
        The geodesic is declared singular when :math:`\sigma_r(X(t))` falls below
        ``singular_tol`` times :math:`\sigma_1(X_0)`.
    max_evals : int
        Budget of right-hand-side evaluations per integration (a regular exp needs about
        100). Near a singular matrix the step size collapses; past the budget the geodesic
        is declared singular (``ValueError``) instead of crawling.

    Raises
    ------
    ValueError
        If ``max_evals`` is not an integer >= 1 (bools are refused); otherwise with the message
        ``rtol must be in (0, 1), got …``; or ``singular_tol must be in [0, 1), got …``.

    Notes
    -----
    The differentiable co-metric is built lazily by
    :func:`~geodln.geodesics.operators.cometric_operator`; kernels without one raise
    ``NotImplementedError`` at the first ``exp``. The solver integrates in numpy (scipy), so
    ``exp`` is not itself differentiable by autograd; :class:`RootLogSolver` uses
    finite-difference Jacobians.

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324 (geodesic
       equations of :math:`g^N`).
    """

    def __init__(self, space, kernel, rtol=DEFAULT_RTOL, method="DOP853",
                 singular_tol=DEFAULT_SINGULAR_TOL, max_evals=5000):
        super().__init__(solves_ivp=True)
        self._space = space
        self.kernel = kernel
        if not (0 < rtol < 1):
            raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
        if not (0 <= singular_tol < 1):
            raise ValueError(f"singular_tol must be in [0, 1), got {singular_tol!r}")
        self.rtol = float(rtol)
        self.method = method
        self.singular_tol = float(singular_tol)
        self.max_evals = check_positive_int(max_evals, "max_evals")
        self._operator = None
        self._grad = None

    # -- operator ------------------------------------------------------------------------
    @property
    def full_rank(self):
        """Whether the space is full rank."""
        return self._space.rank == min(self._space.shape)

    @property
    def operator(self):
        """The differentiable co-metric (built on first use)."""
        if self._operator is None:
            self._operator = cometric_operator(self.kernel, self._space.rank, self.full_rank)
            op = self._operator
            self._grad = grad(lambda xp: anp.sum(hamiltonian(op, xp[0], xp[1])))
        return self._operator

    def vector_field(self, base_point, cotangent_vec):
        r"""Return :math:`(\dot X, \dot P) = (A_X(P), -\partial_X H)` for a batch of states.

        Parameters
        ----------
        base_point, cotangent_vec : ndarray, shape=[..., m, n]

        Returns
        -------
        x_dot, p_dot : ndarray, shape=[..., m, n]
        """
        self.operator  # noqa: B018  (builds self._grad on first use)
        x, p = base_point, cotangent_vec
        if not self.full_rank:
            frame = SVDFrame(x, self._space.rank, check=False)
            x = frame.matrix()
            p = frame.to_tangent(p)
        # H is quadratic in P with A self-adjoint: dH/dP = A_X(P), so one reverse pass
        # gives both sides of the system
        d_x, x_dot = self._grad((x, p))
        p_dot = -d_x
        if not self.full_rank:
            p_dot = frame.to_tangent(p_dot)
        return x_dot, p_dot

    # -- input handling ------------------------------------------------------------------
    def _prepare(self, tangent_vec, base_point):
        batch, v, x = _broadcast_flat(tangent_vec, "tangent_vec", base_point, self._space.shape)
        frame = SVDFrame(x, self._space.rank, check=False)
        scale = frame.s[..., 0]
        bad = ~(frame.s[..., -1] > self.singular_tol * scale)
        if np.any(bad):
            raise ValueError(
                f"base_point must have rank {self._space.rank} with sigma_r > singular_tol * "
                f"sigma_1 (singular_tol={self.singular_tol:g}); got sigma_r/sigma_1 = "
                f"{np.min(frame.s[..., -1] / np.where(scale > 0, scale, 1.0)):.3g}: g is not "
                "defined at singular matrices"
            )
        if not self.full_rank:
            s_all = np.linalg.svd(x, compute_uv=False)
            excess = s_all[..., self._space.rank] / scale
            if np.any(excess > RANK_TOL):
                raise ValueError(
                    f"base_point must have rank {self._space.rank}: got sigma_(r+1)/sigma_1 = "
                    f"{np.max(excess):.3g} > {RANK_TOL:g}"
                )
            x = frame.matrix()
            v = frame.to_tangent(v)
        self.operator  # noqa: B018  (raise NotImplementedError before any work)
        p = frame.apply_inverse(self.kernel, v)
        return batch, x, p, scale

    # -- integration ---------------------------------------------------------------------
    def _integrate(self, x, p, scale, t_eval, rtol=None, max_evals=None):
        """Integrate from t = 0 to the (same-signed, sorted) times ``t_eval``; return X(t)."""
        rtol = self.rtol if rtol is None else rtol
        max_evals = self.max_evals if max_evals is None else max_evals
        n_evals = [0]
        shape = x.shape
        size = x.size
        t_end = float(t_eval[-1])
        if t_end == 0.0 or not np.any(p):
            return np.broadcast_to(x, (len(t_eval),) + shape).copy()
        x_scale = np.repeat(scale, x[0].size)
        p_scale = np.repeat(np.max(np.abs(p.reshape(len(p), -1)), axis=1), x[0].size)
        atol = rtol * np.concatenate([x_scale, np.where(p_scale > 0, p_scale, x_scale)])
        threshold = self.singular_tol * scale

        def rhs(t, y):
            n_evals[0] += 1
            if n_evals[0] > max_evals:
                raise _Singular(t, budget=max_evals)
            xs = y[:size].reshape(shape)
            ps = y[size:].reshape(shape)
            x_dot, p_dot = self.vector_field(xs, ps)
            out = np.concatenate([np.ravel(x_dot), np.ravel(p_dot)])
            if not np.all(np.isfinite(out)):
                raise _Singular(t)
            return out

        def singular(_, y):
            s = np.linalg.svd(y[:size].reshape(shape), compute_uv=False)
            return float(np.min(s[..., self._space.rank - 1] - threshold))

        singular.terminal = True
        singular.direction = -1
        y0 = np.concatenate([x.ravel(), p.ravel()])
        try:
            sol = solve_ivp(rhs, (0.0, t_end), y0, method=self.method, t_eval=t_eval,
                            rtol=rtol, atol=atol, events=singular)
        except _Singular as err:
            raise _incomplete(err.t, err.budget) from None
        if sol.status == 1:
            raise _incomplete(sol.t_events[0][0])
        if sol.status != 0:
            raise ValueError(
                f"exp: the geodesic integration failed before t={t_end:g} ({sol.message}); "
                "the geodesic probably approaches a singular matrix (g^N is geodesically "
                "incomplete): use a shorter tangent_vec"
            )
        out = np.moveaxis(sol.y[:size], -1, 0).reshape((len(t_eval),) + shape)
        if not self.full_rank:
            out = SVDFrame(out, self._space.rank, check=False).matrix()
        return out

    def _path(self, batch, x, p, scale, t):
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if t.ndim != 1 or not np.all(np.isfinite(t)):
            raise ValueError(f"t must be a finite scalar or 1-d array, got shape {t.shape}")
        out = np.empty((len(t),) + x.shape)
        pos, neg = t >= 0, t < 0
        for mask, sign in ((pos, 1.0), (neg, -1.0)):
            if not np.any(mask):
                continue
            times = sign * t[mask]
            order = np.argsort(times)
            res = self._integrate(x, sign * p, scale, times[order])
            idx = np.flatnonzero(mask)[order]
            out[idx] = res
        out = np.moveaxis(out, 0, 1)  # [batch, n_times, m, n]
        return out.reshape(batch + (len(t),) + self._space.shape)

    # -- geomstats API -------------------------------------------------------------------
    def exp(self, tangent_vec, base_point):
        """Exponential map :math:`\\exp_X(V)`: the geodesic from X with velocity V at time 1.

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., m, n]
            Tangent vector (its normal component is dropped at rank-deficient points).
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        end_point : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            On invalid input, a singular ``base_point``, or a geodesic that reaches a
            singular matrix before t = 1 (incompleteness).
        NotImplementedError
            If the kernel has no differentiable co-metric.
        """
        batch, x, p, scale = self._prepare(tangent_vec, base_point)
        out = self._integrate(x, p, scale, np.array([1.0]))[0]
        return out.reshape(batch + self._space.shape)

    def exp_batch(self, tangent_vec, base_point, rtol=None, max_evals=None):
        """Exp of a batch as one system (shared steps), with an optional looser ``rtol``.

        Used for finite-difference Jacobians: all members share the same step sequence, so
        differences of members are smooth in the perturbation.

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]
        rtol : float, optional
            Integrator tolerance (default: the solver's).
        max_evals : int, optional
            Right-hand-side budget (default: the solver's).

        Returns
        -------
        end_point : ndarray, shape=[..., m, n]
        """
        batch, x, p, scale = self._prepare(tangent_vec, base_point)
        out = self._integrate(x, p, scale, np.array([1.0]), rtol=rtol, max_evals=max_evals)[0]
        return out.reshape(batch + self._space.shape)

    def geodesic_ivp(self, tangent_vec, base_point):
        """Geodesic :math:`t \\mapsto \\exp_X(tV)` as a callable (one integration per call).

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        path : callable
            ``path(t)`` for a scalar or 1-d ``t`` (negative times allowed) returns
            ``[..., n_times, m, n]``.
        """
        batch, x, p, scale = self._prepare(tangent_vec, base_point)
        return lambda t: self._path(batch, x, p, scale, t)


class _Singular(Exception):
    def __init__(self, t, budget=None):
        super().__init__(t)
        self.t = t
        self.budget = budget


def _incomplete(t, budget=None):
    if budget is None:
        how = f"reaches a (numerically) singular matrix at t = {t:.4g}"
    else:
        how = f"is stuck near a singular matrix at t = {t:.4g} after {budget} steps"
    return ValueError(
        f"exp: the geodesic {how}: the metric is geodesically incomplete and exp is not "
        "defined for this tangent_vec; use a shorter tangent_vec"
    )
