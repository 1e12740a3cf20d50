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
under :math:`P \mapsto P + N` with N normal (coisotropic reduction): the momentum is a class
modulo the normal space, represented here by its tangent part Q. The right-hand side is
evaluated at the truncated SVD of X and Q, and Q is kept tangent while the tangent space turns:
:math:`\dot Q = -P_{T_X}(\partial_X H) + DP_{T_X}[\dot X](Q)`, the last term normal
(:meth:`~geodln.geodesics.PowerSumField.hamiltonian_field`; without it the speed of the curve
drifts at second order and it is not a geodesic). The end point is projected back onto
:math:`M_r`.

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

from geodln._checks import check_matrix, check_positive_int, real_scalar
from geodln.geodesics.operators import PowerSumCometric, cometric_operator, hamiltonian
from geodln.geodesics.power_sum_field import PowerSumField
from geodln.svd_frame import SVDFrame

DEFAULT_RTOL = 1e-9
DEFAULT_SINGULAR_TOL = 1e-6
RANK_TOL = 1e-8  # sigma_(r+1)/sigma_1 above this: not a rank-r point


def broadcast_flat(vec, vec_name, base_point, shape):
    """Check ``vec`` and ``base_point`` ([..., m, n]) and flatten their broadcast batch.

    Parameters
    ----------
    vec : array-like, shape=[..., m, n]
        Tangent vectors (or points).
    vec_name : str
        Public name of ``vec`` for the error messages.
    base_point : array-like, shape=[..., m, n]
        Base points.
    shape : tuple of int
        ``(m, n)``.

    Returns
    -------
    batch : tuple of int
        The broadcast batch shape.
    vecs, points : ndarray, shape=[prod(batch), m, n]

    Raises
    ------
    ValueError
        If ``vec`` (named ``vec_name``) or ``base_point`` is not a finite real array of trailing
        shape ``shape``, or their batch shapes do not broadcast.

    Examples
    --------
    >>> from geodln.geodesics.hamiltonian_exp import broadcast_flat
    >>> batch, vecs, points = broadcast_flat(np.ones((3, 2, 2)), "tangent_vec", np.eye(2), (2, 2))
    >>> batch, vecs.shape, points.shape
    ((3,), (3, 2, 2), (3, 2, 2))
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
    field : {"auto", "closed_form", "autograd"}
        How :math:`\partial_X H` is computed: ``"closed_form"`` by the singular-frame
        formula of :class:`~geodln.geodesics.power_sum_field.PowerSumField` (power-sum
        co-metrics: every built-in kernel), ``"autograd"`` by one reverse pass through the
        co-metric operator (any kernel with a ``cometric_operator``); ``"auto"`` picks the
        closed form when the operator is a power sum. Both are exact at repeated singular
        values; the closed form is about ten times faster.

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
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (a general system of ODEs for the geodesics of :math:`g^N` between full-rank
       matrices; explicit solutions in a special case).

    Examples
    --------
    Depth 2, commuting endpoints: the geodesic is
    :math:`X(t) = ((1-t)X_0^{1/2} + tX_1^{1/2})^2` (GEO25), so the initial velocity
    :math:`2X_0^{1/2}(X_1^{1/2} - X_0^{1/2})` reaches :math:`X_1` at t = 1:

    >>> import geodln
    >>> from geodln.geodesics.hamiltonian_exp import HamiltonianExpSolver
    >>> from geodln.spectral import DLNKernel
    >>> solver = HamiltonianExpSolver(geodln.RankMatrices(2, 2), DLNKernel(2))
    >>> x0, x1 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    >>> v = 2 * np.sqrt(x0) @ (np.sqrt(x1) - np.sqrt(x0))
    >>> bool(np.allclose(solver.exp(v, x0), x1, rtol=1e-7))
    True
    """

    def __init__(self, space, kernel, rtol=DEFAULT_RTOL, method="DOP853",
                 singular_tol=DEFAULT_SINGULAR_TOL, max_evals=5000, field="auto"):
        super().__init__(solves_ivp=True)
        if field not in ("auto", "closed_form", "autograd"):
            raise ValueError(
                f"field must be 'auto', 'closed_form' or 'autograd', got {field!r}"
            )
        self.field = field
        self._space = space
        self.kernel = kernel
        if real_scalar(rtol) is None or not (0 < real_scalar(rtol) < 1):
            raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
        if real_scalar(singular_tol) is None or not (0 <= real_scalar(singular_tol) < 1):
            raise ValueError(f"singular_tol must be in [0, 1), got {singular_tol!r}")
        self.rtol = real_scalar(rtol)
        self.method = method
        self.singular_tol = real_scalar(singular_tol)
        self.max_evals = check_positive_int(max_evals, "max_evals")
        self._operator = None
        self._grad = None
        self._closed_form = False

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
            power_sum = isinstance(op, PowerSumCometric)
            if self.field == "closed_form" and not power_sum:
                raise NotImplementedError(
                    f"field='closed_form' needs a power-sum co-metric, got {op!r}"
                )
            self._closed_form = power_sum and self.field != "autograd"
        return self._operator

    def frame_field(self, base_point):
        """Return the closed-form co-metric field at ``base_point`` (power-sum co-metrics only).

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]

        Returns
        -------
        field : PowerSumField
        """
        op = self.operator
        if not isinstance(op, PowerSumCometric):
            raise NotImplementedError(
                f"no closed-form field for the co-metric {op!r} (not a power sum)"
            )
        rank = None if self.full_rank else self._space.rank
        return PowerSumField(op.left_exponents, op.right_exponents, op.coefficients,
                             base_point, rank)

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
        if self._closed_form:
            return self.frame_field(x).hamiltonian_field(p)
        if not self.full_rank:
            frame = SVDFrame(x, self._space.rank, check=False)
            x = frame.matrix()
            p = frame.to_tangent(p)
        # H is quadratic in P with A self-adjoint: dH/dP = A_X(P), so one reverse pass
        # gives both sides of the system
        d_x, x_dot = self._grad((x, p))
        p_dot = -d_x
        if not self.full_rank:
            p_dot = frame.to_tangent(p_dot) + _normal_turn(x, x_dot, p, self._space.rank)
        return x_dot, p_dot

    # -- input handling ------------------------------------------------------------------
    def _prepare(self, tangent_vec, base_point):
        batch, v, x = broadcast_flat(tangent_vec, "tangent_vec", base_point, self._space.shape)
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
    def _integrate(self, x, p, scale, t_eval, rtol=None, max_evals=None, variations=None,
                   var_rtol=None):
        """Integrate from t = 0 to the (same-signed, sorted) times ``t_eval``; return X(t).

        With ``variations`` (initial momentum perturbations ``[B, D, m, n]``), the variational
        equations are integrated alongside and ``(X(t), dX(t))`` is returned.
        """
        rtol = self.rtol if rtol is None else rtol
        max_evals = self.max_evals if max_evals is None else max_evals
        n_evals = [0]
        shape = x.shape
        size = x.size
        t_end = float(t_eval[-1])
        if variations is None and (t_end == 0.0 or not np.any(p)):
            return np.broadcast_to(x, (len(t_eval),) + shape).copy()
        x_scale = np.repeat(scale, x[0].size)
        p_max = np.max(np.abs(p.reshape(len(p), -1)), axis=1)
        p_scale = np.repeat(p_max, x[0].size)
        atol = [rtol * x_scale, rtol * np.where(p_scale > 0, p_scale, x_scale)]
        y0 = [x.ravel(), p.ravel()]
        if variations is not None:
            n_dir = variations.shape[1]
            vshape = variations.shape
            # dX(1) ~ |A dP0|, dP stays ~ |dP0|: tolerances per direction
            size_dp = np.max(np.abs(variations.reshape(len(x), n_dir, -1)), axis=2)
            size_dx = size_dp * np.max(np.abs(self.frame_field(x[:, None]).sharp(variations)
                                              ).reshape(len(x), n_dir, -1), axis=2) / size_dp
            tiny = np.finfo(float).tiny
            var_rtol = rtol if var_rtol is None else var_rtol
            atol += [var_rtol * np.repeat(np.maximum(size_dx, tiny).ravel(), x[0].size),
                     var_rtol * np.repeat(np.maximum(size_dp, tiny).ravel(), x[0].size)]
            y0 += [np.zeros(variations.size), variations.ravel()]
            p_ref = np.where(p_max > 0, p_max, 1.0)[:, None]
        atol = np.concatenate(atol)
        threshold = self.singular_tol * scale
        # exact Jacobi equations (second divided differences) on square full-rank spaces
        # (their products of powers are formed unscaled: moderate scales only)
        analytic = (variations is not None and self._closed_form and self.full_rank
                    and shape[-1] == shape[-2]
                    and np.all((scale > 1e-30) & (scale < 1e30)))

        def rhs(t, y):
            n_evals[0] += 1
            if n_evals[0] > max_evals:
                raise _Singular(t, budget=max_evals)
            xs = y[:size].reshape(shape)
            ps = y[size:2 * size].reshape(shape)
            if variations is None:
                x_dot, p_dot = self.vector_field(xs, ps)
                parts = [np.ravel(x_dot), np.ravel(p_dot)]
            elif analytic:
                dx = y[2 * size:2 * size + variations.size].reshape(vshape)
                dp = y[2 * size + variations.size:].reshape(vshape)
                field = self.frame_field(xs)
                x_dot, p_dot = field.hamiltonian_field(ps)
                d_xdot, d_pdot = field.hamiltonian_jvp(ps, np.moveaxis(dx, 1, 0),
                                                       np.moveaxis(dp, 1, 0))
                parts = [np.ravel(x_dot), np.ravel(p_dot),
                         np.ravel(np.moveaxis(d_xdot, 0, 1)), np.ravel(np.moveaxis(d_pdot, 0, 1))]
            else:
                dx = y[2 * size:2 * size + variations.size].reshape(vshape)
                dp = y[2 * size + variations.size:].reshape(vshape)
                # forward difference of the vector field along (dX, dP), step relative
                # to the state: the directional derivative to ~1e-8 (sqrt(eps)); the base
                # and perturbed states go through one batched evaluation
                size_k = np.maximum(np.max(np.abs(dx), axis=(2, 3)) / scale[:, None],
                                    np.max(np.abs(dp), axis=(2, 3)) / p_ref)
                h = 1.5e-8 / np.where(size_k > 0, size_k, 1.0)
                hb = h[:, :, None, None]
                fx, fp = self.vector_field(
                    np.concatenate([xs[:, None], xs[:, None] + hb * dx], axis=1
                                   ).reshape((-1,) + shape[1:]),
                    np.concatenate([ps[:, None], ps[:, None] + hb * dp], axis=1
                                   ).reshape((-1,) + shape[1:]))
                fx = fx.reshape((len(xs), n_dir + 1) + shape[1:])
                fp = fp.reshape((len(xs), n_dir + 1) + shape[1:])
                x_dot, p_dot = fx[:, 0], fp[:, 0]
                parts = [np.ravel(x_dot), np.ravel(p_dot),
                         np.ravel((fx[:, 1:] - x_dot[:, None]) / hb),
                         np.ravel((fp[:, 1:] - p_dot[:, None]) / hb)]
            out = np.concatenate(parts)
            if not np.all(np.isfinite(out)):
                raise _Singular(t)
            return out

        def singular(_, y):
            s = np.linalg.svd(y[:size].reshape(shape), compute_uv=False)
            return float(np.min(s[..., self._space.rank - 1] - threshold))

        singular.terminal = True
        singular.direction = -1
        y0 = np.concatenate(y0)
        # only the end point wanted: no dense output (it costs three more evaluations)
        end_only = len(t_eval) == 1 and float(t_eval[0]) == t_end
        try:
            sol = solve_ivp(rhs, (0.0, t_end), y0, method=self.method,
                            t_eval=None if end_only else t_eval,
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
        ys = sol.y[:, -1:] if end_only else sol.y
        out = np.moveaxis(ys[:size], -1, 0).reshape((len(t_eval),) + shape)
        if not self.full_rank:
            out = SVDFrame(out, self._space.rank, check=False).matrix()
        if variations is None:
            return out
        d_out = ys[2 * size:2 * size + variations.size, -1].reshape(vshape)
        return out, d_out

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

    def exp_with_derivative(self, tangent_vec, base_point, directions, rtol=None,
                            derivative_rtol=None):
        r"""Exp and its derivative :math:`D\exp_X(V)[W_k]` along directions, one integration.

        The variational equations of the Hamiltonian system are integrated with the
        geodesics (the directional derivative of the vector field by a forward difference
        with a step relative to the state, accurate to about 1e-8), all as one batched
        system.

        Parameters
        ----------
        tangent_vec : array-like, shape=[B, m, n]
            Initial velocities V.
        base_point : array-like, shape=[B, m, n]
            Base points X.
        directions : array-like, shape=[B, D, m, n]
            Perturbations :math:`W_k` of the initial velocity (tangent at X).
        rtol : float, optional
            Integrator tolerance (default: the solver's).
        derivative_rtol : float, optional
            Tolerance on the variational components (default ``rtol``; a looser value
            keeps the steps those of the geodesics).

        Returns
        -------
        end_point : ndarray, shape=[B, m, n]
            :math:`\exp_X(V)`.
        derivative : ndarray, shape=[B, D, m, n]
            :math:`D\exp_X(V)[W_k]`.

        Raises
        ------
        ValueError
            As :meth:`exp`.
        """
        batch, x, p, scale = self._prepare(tangent_vec, base_point)
        directions = np.asarray(directions, dtype=float)
        if directions.ndim != 4 or directions.shape[0] != len(x) or \
                directions.shape[2:] != self._space.shape:
            raise ValueError(
                f"directions must have shape [B, D, m, n] with B = {len(x)}, got "
                f"{directions.shape}"
            )
        frame = SVDFrame(x[:, None], self._space.rank, check=False)
        dp0 = frame.apply_inverse(self.kernel, directions)
        out, d_out = self._integrate(x, p, scale, np.array([1.0]), rtol=rtol, variations=dp0,
                                     var_rtol=derivative_rtol)
        return out[0].reshape(batch + self._space.shape), d_out

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


def _normal_turn(x, x_dot, p, rank):
    r"""Return the normal term :math:`DP_{T_X}[\dot X](P)` keeping a tangent momentum tangent.

    In the full singular frame of X (rank r, tangent blocks ``[:r, :r], [:r, r:], [r:, :r]``)
    it is :math:`\hat{\dot X}_{21}S^{-1}\hat P_{12} + \hat P_{21}S^{-1}\hat{\dot X}_{12}` on
    the normal block (see :meth:`PowerSumField.hamiltonian_field`).
    """
    u, s, vt = np.linalg.svd(x, full_matrices=True)
    v = np.swapaxes(vt, -1, -2)
    xd = np.swapaxes(u, -1, -2) @ x_dot @ v
    ph = np.swapaxes(u, -1, -2) @ p @ v
    inv_s = 1.0 / s[..., :rank, None]
    out = np.zeros_like(xd)
    out[..., rank:, rank:] = (xd[..., rank:, :rank] @ (inv_s * ph[..., :rank, rank:])
                              + ph[..., rank:, :rank] @ (inv_s * xd[..., :rank, rank:]))
    return u @ out @ vt


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
