r"""Velocity fields on batched states: the state/field protocol of the dynamics engine.

A *state* is a batch of ``B`` points of the dynamics. The integrators of :mod:`geodln.flows`
(:func:`~geodln.flows.ode.integrate` with ``solve_ivp``, the per-member embedded Runge–Kutta
method :func:`~geodln.flows.runge_kutta.integrate_batch`, fixed-step
:func:`~geodln.flows.descent.descend`) never do arithmetic on states themselves: they call the
field. **The protocol** (implemented here for flat arrays ``[B, d]``; the factored rank-r state
of :mod:`geodln.lowrank` overrides the state methods):

- ``field.mode`` (``"downstairs"``/``"upstairs"``), ``field.shape`` ``(m, n)``, ``field.loss``;
- ``field.pack(start) -> Y`` — validated batched state of a start (``[B, ...]`` inputs);
- ``field.point(Y) -> X`` ``[B, m, n]`` — end-to-end matrices (recorded, given to stop rules);
- ``field.velocity(Y) -> K`` — gradient-flow velocity, non-finite for a non-finite member;
- ``field.combine(Y, h, weights, Ks) -> Y'`` — :math:`R(Y + h\sum_j w_j K_j)` per member
  (``h`` ``[B]``; ``weights`` a tableau row ``[s]`` or per member ``[s, B]``), R the retraction;
- ``field.retract(Y) -> Y`` — the retraction/projection hook, applied after every Runge–Kutta
  stage and every gradient-descent step (identity for vector spaces);
- ``field.error_norm(Y, Y_new, h, Ks, tableau, rtol, atol) -> [B]`` — scaled local error
  (scipy's RMS norm of ``h E^T K / (atol + rtol max(|Y|, |Y_new|))`` for flat arrays);
- ``field.take(Y, index)`` / ``field.put(Y, index, Y_sub)`` — member subsets (states and
  velocities);
- ``field.velocity_norm(K) -> [B]`` — Frobenius norm of a velocity (gradient-norm stopping);
- ``field.loss_value(Y) -> [B]`` and ``field.value_and_velocity(Y) -> ([B], K)``;
- ``field.point_norm(Y) -> [B]`` — Frobenius norms of the end-to-end points (stopping rules);
- ``field.initial_step(Y, K, t_left, order, rtol, atol, max_step) -> ([B], n_rhs)`` — the
  first step of the adaptive methods (scipy's heuristic for flat arrays);
- ``field.record_row(Y)`` — what a record stores (the state itself for flat arrays; the
  factored fields keep σ, loss and metrics, never an m×n array);
- ``field.trajectory(times, rows, counts, Y_final, record=..., **run_info)`` — the result
  (a :class:`~geodln.flows.trajectory.Trajectory` for flat arrays; it calls
  ``field.record_extras(rows)`` / ``field.final_extras(Y)`` for extra records such as the
  balance defect and the final factors).

Two fields act on flat arrays:

- :class:`DownstairsField`: state X, :math:`\dot X = -A_X(\nabla E(X))`, the co-metric
  (``sharp``) of a :class:`geodln.SpectralMetric` — the plain-sum DLN metric :math:`g^N`
  (Arora–Cohen–Hazan, ACH18, Theorem 1), Cohen–Menon–Veraszto's (CMV23) :math:`A_{N,X}/N`
  (a metric scaled by N, see :func:`resolve_metric`), or any user kernel;
- :class:`UpstairsField`: factors :math:`(W_1, \dots, W_N)`,
  :math:`\dot W_p = -\nabla_{W_p}(E\circ\phi) = -W_{N:p+1}^\top \nabla E(X) W_{p-1:1}^\top`
  (:func:`geodln.factors.product_adjoint`).

On balanced factors the two give the same :math:`X(t)` (ACH18 Theorem 1; Bah, Rauhut,
Terstiege, Westdickenberg, BRTW21) when the downstairs metric is the plain-sum :math:`g^N` of
the same depth.
"""

import math
import numbers

import numpy as np
from geomstats.geometry.scalar_product_metric import ScalarProductMetric

from geodln import small_cometric
from geodln._checks import check_depth, check_matrix
from geodln.factors import balance_defect, check_factors, product, product_adjoint, widths_of
from geodln.flows.recording import evaluate_metrics
from geodln.flows.stopping import frobenius_norms
from geodln.flows.trajectory import Trajectory
from geodln.metric import DLNMetric, SpectralMetric
from geodln.small_svd import apply_2x2
from geodln.spaces import RankMatrices
from geodln.spectral import DLNKernel, SpectralKernel
from geodln.svd_frame import SVDFrame

__all__ = ["VectorField", "DownstairsField", "UpstairsField", "resolve_metric"]


def resolve_metric(metric, shape, rank=None):
    r"""Return ``(spectral_metric, scale)`` for the ``metric=`` argument of the flows.

    The downstairs velocity is :math:`-A_X(\nabla E)/c` where :math:`A_X` is the co-metric of
    ``spectral_metric`` and ``c = scale`` (a metric :math:`c\,g` has co-metric :math:`A/c`).

    Parameters
    ----------
    metric : int, numpy.inf, SpectralMetric, SpectralKernel or ScalarProductMetric
        An int N is shorthand for the plain-sum :class:`geodln.DLNMetric` of depth N (the
        metric whose flow is the upstairs flow); ``numpy.inf`` for CMV's infinite-depth limit
        (which only exists normalised, :math:`A_{\infty,X} = \lim A_{N,X}/N`). A kernel is
        placed on :class:`geodln.RankMatrices`; a geomstats ``ScalarProductMetric`` wrapping a
        spectral metric scales it (CMV's :math:`A_{N,X}/N` is ``ScalarProductMetric(g^N, N)``,
        i.e. :math:`N g^N`; equivalently ``DLNMetric(space, N, normalized=True)``).
    shape : tuple of int
        ``(m, n)``.
    rank : int, optional
        Rank of the manifold :math:`M_r` for the shorthands (default ``min(m, n)``).

    Returns
    -------
    spectral_metric : SpectralMetric
    scale : float

    Raises
    ------
    ValueError
        If ``metric`` is none of the above or lives on matrices of another shape.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the normalised metric).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (the plain sum).

    Examples
    --------
    >>> metric, scale = resolve_metric(3, (2, 2))
    >>> metric.depth, scale
    (3, 1.0)
    """
    m, n = shape
    scale = 1.0
    if isinstance(metric, ScalarProductMetric):
        scale = float(metric.scale)
        metric = metric.underlying_metric
    if isinstance(metric, numbers.Real) and not isinstance(metric, bool):
        depth = check_depth(metric, "metric")
        return DLNMetric(RankMatrices(m, n, rank, equip=False), depth,
                         normalized=depth == np.inf), scale
    if isinstance(metric, SpectralKernel):
        return SpectralMetric(RankMatrices(m, n, rank, equip=False), metric), scale
    if isinstance(metric, SpectralMetric):
        if tuple(metric._space.shape) != (m, n):
            raise ValueError(
                f"metric is defined on {tuple(metric._space.shape)} matrices but the loss on "
                f"{(m, n)}"
            )
        return metric, scale
    raise ValueError(
        "metric must be a depth (int >= 1 or numpy.inf), a geodln.SpectralMetric, a "
        f"SpectralKernel or a ScalarProductMetric of one; got {metric!r}"
    )


def _det_sign(x):
    """Sign of det of each matrix ``[..., r, r]`` (exact at any scale, 0 if singular)."""
    return np.linalg.slogdet(x)[0]


def _vanishes_at_zero(kernel):
    """Whether a spectral kernel is 0 at a pair of zero singular values (rank preserving)."""
    try:
        with np.errstate(all="ignore"):
            value = float(np.asarray(kernel.values(np.zeros(1), np.zeros(1))).reshape(-1)[0])
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return False
    return value == 0.0


def _trusted(loss, what):
    """Return the loss's unchecked method for the integrators' own (validated) states.

    ``what`` is ``"value"``, ``"gradient"`` or ``"value_and_gradient"``; a loss without the
    ``trusted_*`` methods of :class:`geodln.losses.Loss` is called through its public ones.
    """
    fn = getattr(loss, "trusted_" + what, None)
    if fn is not None:
        return fn
    if what == "value":
        return loss.value
    if what == "gradient":
        return loss.euclidean_gradient
    if hasattr(loss, "value_and_gradient"):
        return loss.value_and_gradient
    return lambda x: (loss.value(x), loss.euclidean_gradient(x))


class VectorField:
    """Base of the gradient-flow fields: the state protocol on flat arrays ``[B, d]``.

    Subclasses implement :meth:`pack`, :meth:`point` and :meth:`velocity`; the state methods
    below work for any flat-array state (see the module docstring for the protocol).

    Attributes
    ----------
    loss : geodln.losses.Loss
        The loss (its public methods only).
    mode : str
        ``"downstairs"`` or ``"upstairs"``.
    shape : tuple of int
        End-to-end shape ``(m, n)``.

    Examples
    --------
    A subclass on the flat entries of X (the Euclidean flow, velocity ``-grad E(X)``):

    >>> from geodln.flows.fields import VectorField
    >>> from geodln.losses import razin_cohen_completion
    >>> class Euclidean(VectorField):
    ...     mode, shape = "downstairs", (2, 2)
    ...     loss = razin_cohen_completion()
    ...     def pack(self, start):
    ...         return np.reshape(start, (-1, 4)).astype(float)
    ...     def point(self, y):
    ...         return y.reshape(-1, 2, 2)
    ...     def velocity(self, y):
    ...         return -self.loss.euclidean_gradient(self.point(y)).reshape(-1, 4)
    >>> field = Euclidean()
    >>> y = field.pack(np.eye(2))
    >>> field.combine(y, np.array([0.5]), np.ones(1), field.velocity(y)[None]).reshape(2, 2)
    array([[1. , 0.5],
           [0.5, 0.5]])
    """

    mode = None
    #: Whether :meth:`in_domain` depends on the step end only (then the single-run
    #: integrator can test every stage against the start's reference).
    pointwise_domain = False

    def pack(self, start):
        """Return the validated state ``[B, d]`` of a batched start."""
        raise NotImplementedError

    def point(self, y):
        """End-to-end matrices ``[B, m, n]`` of a state ``[B, d]``."""
        raise NotImplementedError

    def velocity(self, y):
        """Velocity ``[B, d]`` of the gradient flow (NaN rows for non-finite members)."""
        raise NotImplementedError

    def retract(self, y):
        """Retraction hook applied after every stage/step (identity for vector spaces)."""
        return y

    def combine(self, y, h, weights, ks):
        r"""Return ``retract(y + h * sum_j weights[j] * ks[j])`` for every member.

        Parameters
        ----------
        y : ndarray, shape=[b, d]
            States.
        h : ndarray, shape=[b]
            Per-member step sizes.
        weights : ndarray, shape=[s] or [s, b]
            Tableau row (shared) or per-member weights (dense output).
        ks : ndarray, shape=[s, b, d]
            Velocities.

        Returns
        -------
        y_new : ndarray, shape=[b, d]
        """
        weights = np.asarray(weights, float)
        if weights.ndim == 1:  # one matrix-vector product over the stages
            dy = (weights @ ks.reshape(ks.shape[0], -1)).reshape(ks.shape[1:])
        else:
            dy = np.einsum("sb,sbd->bd", weights, ks)
        dy *= h[:, None]
        dy += y
        return self.retract(dy)

    def error_norm(self, y, y_new, h, ks, tableau, rtol, atol):
        """Scaled local error of each member, as ``solve_ivp`` measures it (flat states).

        Parameters
        ----------
        y, y_new : ndarray, shape=[b, d]
            States at the start and end of the step.
        h : ndarray, shape=[b]
            Step sizes.
        ks : ndarray, shape=[n_stages + 1, b, d]
            Stage velocities (the last one at ``y_new``).
        tableau : geodln.flows.runge_kutta.Tableau
            Error weights ``E`` (or ``E5``, ``E3`` for DOP853).
        rtol, atol : float
            Tolerances.

        Returns
        -------
        err : ndarray, shape=[b]
            Accept the step where ``err < 1``.
        """
        scale = atol + np.maximum(np.abs(y), np.abs(y_new)) * rtol
        if tableau.E is not None:
            err = (tableau.E @ ks.reshape(ks.shape[0], -1)).reshape(ks.shape[1:])
            err *= h[:, None]
            err /= scale
            return np.sqrt(np.einsum("bd,bd->b", err, err) / err.shape[-1])
        err5 = np.tensordot(tableau.E5, ks, axes=1) / scale
        err3 = np.tensordot(tableau.E3, ks, axes=1) / scale
        n5, n3 = np.sum(err5 * err5, axis=-1), np.sum(err3 * err3, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.abs(h) * n5 / np.sqrt((n5 + 0.01 * n3) * y.shape[-1])
        return np.where((n5 == 0) & (n3 == 0), 0.0, out)

    @staticmethod
    def _finite_only(fn, y):
        """``fn`` on the members of ``y`` with finite entries; NaN rows for the others."""
        finite = np.all(np.isfinite(y), axis=-1)
        out = np.full(y.shape, np.nan)
        if finite.any():
            out[finite] = fn(y[finite])
        return out

    def take(self, obj, index):
        """Members ``index`` of a state or velocity."""
        return obj[index]

    def put(self, obj, index, sub):
        """Write members ``index`` of ``obj`` (in place) and return it."""
        obj[index] = sub
        return obj

    def velocity_norm(self, k):
        """Frobenius norm of each member's velocity, ``[B]`` (scaled: no overflow)."""
        return frobenius_norms(k, axes=1)

    def value_and_velocity(self, y):
        """Loss ``[B]`` and velocity of each member (one loss call where the loss allows)."""
        return self.loss_value(y), self.velocity(y)

    def loss_value(self, y):
        """Loss of each member ``[B]`` (NaN for a non-finite member)."""
        x = self.point(y)
        finite = np.all(np.isfinite(x), axis=(-2, -1))
        out = np.full(x.shape[0], np.nan)
        if finite.all():
            out[:] = _trusted(self.loss, "value")(x)
        elif finite.any():
            out[finite] = _trusted(self.loss, "value")(x[finite])
        return out

    def point_norm(self, y, x=None):
        """Frobenius norm of each member's end-to-end point, ``[B]`` (``x``: ``point(y)``)."""
        x = self.point(y) if x is None else x
        return frobenius_norms(x)

    def initial_step(self, y0, f0, t_left, order, rtol, atol, max_step):
        """First step of each member (scipy's ``select_initial_step``); ``(h [B], n_rhs)``.

        Parameters
        ----------
        y0, f0 : ndarray, shape=[B, d]
            States and their velocities.
        t_left : float
            Length of the time span.
        order : int
            Order of the error estimator.
        rtol, atol, max_step : float
            Tolerances and the largest step.

        References
        ----------
        .. [1] HW96: Hairer, Wanner, Solving ODEs II (1996); scipy's ``select_initial_step``.
        """
        def rms(v):  # scaled: no overflow of the squares for states near the range's top
            with np.errstate(over="ignore", invalid="ignore"):
                return frobenius_norms(v, axes=1) / np.sqrt(v.shape[-1])

        scale = atol + np.abs(y0) * rtol
        d0, d1 = rms(y0 / scale), rms(f0 / scale)
        h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
        h0 = np.minimum(h0, t_left)
        f1 = self.velocity(self.combine(y0, h0, np.ones(1), f0[None]))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            change = rms((f1 - f0) / scale)
            d2 = change / h0
            small = (d1 <= 1e-15) & (d2 <= 1e-15)
            h1 = np.where(small, np.maximum(1e-6, h0 * 1e-3),
                          (0.01 / np.maximum(d1, d2)) ** (1.0 / (order + 1)))
            # d2 beyond the float range (a fast flow near the range's top): the same h1 in logs
            log_h1 = (np.log(0.01) - np.maximum(np.log(d1), np.log(change) - np.log(h0))) \
                / (order + 1)
            h1 = np.where(np.isinf(d2) & np.isfinite(change), np.exp(log_h1), h1)
        h1 = np.where(np.isfinite(h1), h1, 1e-6)
        return np.minimum(np.minimum(100 * h0, h1), min(t_left, max_step)), 1

    def domain_reference(self, y0):
        """Per-member reference of the invariant domain of the flow, or None (no domain).

        The base field has no domain constraint; see :meth:`DownstairsField.domain_reference`.
        """
        return None

    def in_domain(self, y_old, y_new, reference):
        """Whether each step ``y_old -> y_new`` stays in the invariant domain, ``[b]`` bool.

        ``reference`` is the members' part of :meth:`domain_reference` (never None here).
        """
        return np.ones(y_new.shape[0], dtype=bool)

    def record_row(self, y):
        """Return what a record keeps of states ``[b, d]`` (here: the states)."""
        return y

    def trajectory(self, times, rows, counts, final, *, record, steps=None, **run_info):
        """Build the :class:`Trajectory` of a batch from its records.

        Parameters
        ----------
        times : ndarray, shape=[B, T]
            Record times (NaN-padded).
        rows : ndarray, shape=[B, T, d]
            Recorded rows (:meth:`record_row`), NaN-padded.
        counts : ndarray of int, shape=[B]
            Records per member.
        final : ndarray, shape=[B, d]
            Final states.
        record : Every or At
            The recording options (user metrics).
        steps : ndarray of int, shape=[B, T], optional
            Step of each record (gradient descent).
        **run_info
            ``status``, ``message``, ``n_rhs``, ``wall_time``, ``metadata``.

        Returns
        -------
        trajectory : Trajectory
        """
        valid = np.arange(times.shape[1])[None, :] < counts[:, None]
        xs = np.where(valid[..., None, None], self.point(rows), np.nan)
        losses = np.full(times.shape, np.nan)
        losses[valid] = self.loss_value(rows[valid])
        recs = {"n_records": counts}
        if steps is not None:
            recs["steps"] = np.where(valid, steps, -1).astype(np.int64)
        recs["metrics"] = evaluate_metrics(record.metrics, xs)
        recs.update(self.record_extras(np.where(valid[..., None], rows, np.nan)))
        recs.update(self.final_extras(final))
        return Trajectory(times, xs, losses, mode=self.mode, records=recs, **run_info)

    def record_extras(self, ys):
        """Extra per-record arrays (``[..., T]``) for the Trajectory."""
        return {}

    def final_extras(self, y):
        """Extra final objects (e.g. upstairs factors) of final states ``[..., d]``."""
        return {}

    def metadata(self):
        """JSON-serialisable description of the field."""
        return {}


class DownstairsField(VectorField):
    r"""Riemannian gradient field :math:`-A_X(\nabla E(X))/c` on :math:`M_r`, batched.

    Parameters
    ----------
    loss : geodln.losses.Loss
    metric : int, numpy.inf, SpectralMetric, SpectralKernel or ScalarProductMetric
        See :func:`resolve_metric`.
    rank : int, optional
        Rank of :math:`M_r` for the shorthand metrics (default ``min(m, n)``).
    project : bool
        Retract every state to rank r by truncated SVD (gradient descent on :math:`M_r`).

    Raises
    ------
    ValueError
        If the metric is invalid (see :func:`resolve_metric`).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

    Examples
    --------
    >>> from geodln.losses import razin_cohen_completion
    >>> field = DownstairsField(razin_cohen_completion(), 2)
    >>> field.velocity(field.pack(np.eye(2))).shape
    (1, 4)
    """

    mode = "downstairs"

    def __init__(self, loss, metric, rank=None, project=False):
        self.loss = loss
        self.shape = tuple(loss.shape)
        self.metric, self.scale = resolve_metric(metric, self.shape, rank)
        self.space = self.metric._space
        self.rank = self.space.rank
        self.kernel = self.metric.kernel
        self.project = bool(project) and self.rank < min(self.shape)
        self._lean = self.shape == (2, 2) and self.rank == 2
        m, n = self.shape
        self.keeps_rank = _vanishes_at_zero(self.kernel)
        self.square_full_rank = m == n == self.rank
        self.pointwise_domain = self.keeps_rank and self.square_full_rank
        # the compiled loop: DLN kernels at full-rank square points up to MAX_SIZE (numba)
        self._compiled = (small_cometric.AVAILABLE and m == n == self.rank
                          and m <= small_cometric.MAX_SIZE
                          and isinstance(self.kernel, DLNKernel))

    def pack(self, start, name="X0"):
        """Validate X0 ``[m, n]`` or ``[B, m, n]``; return the state ``[B, m*n]``.

        ``name`` is the public argument named in error messages.

        Raises
        ------
        ValueError
            If ``X0`` is not a finite real array of matrices [..., m, n] of the expected shape;
            otherwise with the message ``X0 must have shape [m, n] or [B, m, n], got …``.
        """
        x = check_matrix(start, name, shape=self.shape)
        if x.ndim > 3:
            raise ValueError(f"{name} must have shape [m, n] or [B, m, n], got {x.shape}")
        return x.reshape(-1, self.shape[0] * self.shape[1]).copy()

    def point(self, y):
        """Reshape the state to ``[..., m, n]``."""
        return np.reshape(y, y.shape[:-1] + self.shape)

    def _velocity_at(self, x, grad):
        if self._compiled:
            res = small_cometric.dln_cometric_small(self.kernel, x, grad)
            if res is not None:
                v, ok = res
                v *= -1.0 / self.scale
                if not ok.all():  # non-finite or extreme members: the general path
                    v[~ok] = self._velocity_general(x[~ok], grad[~ok])
                return v.reshape(x.shape[0], -1)
        if self._lean and x.shape[0] == 1:  # one 2×2 run: the lean closed-form path
            v = apply_2x2(self.kernel, x[0], grad[0])
            if v is not None:
                return (v.reshape(1, 4) * (-1.0 / self.scale))
        return self._velocity_general(x, grad).reshape(x.shape[0], -1)

    def _velocity_general(self, x, grad):
        """:math:`-A_X(\nabla E)/c` by :class:`SVDFrame` (rescaling), NaN for bad members."""
        bad = ~np.all(np.isfinite(grad), axis=(-2, -1))
        if bad.any():
            grad = np.where(bad[:, None, None], 0.0, grad)
        v = -SVDFrame(x, self.rank, check=False).apply(self.kernel, grad)
        if bad.any():
            v[bad] = np.nan
        if self.scale != 1.0:
            v = v / self.scale
        return v

    def velocity(self, y):
        """:math:`-A_X(\\nabla E(X))/c` for every member, ``[B, m*n]``."""
        if not (math.isfinite(y.sum()) or np.isfinite(y).all()):
            return self._finite_only(self.velocity, y)
        x = self.point(y)
        return self._velocity_at(x, _trusted(self.loss, "gradient")(x))

    def value_and_velocity(self, y):
        """Loss ``[B]`` and velocity from one ``loss.value_and_gradient`` call."""
        finite = np.all(np.isfinite(y), axis=-1)
        if not finite.all():
            val, out = np.full(y.shape[0], np.nan), np.full(y.shape, np.nan)
            if finite.any():
                val[finite], out[finite] = self.value_and_velocity(y[finite])
            return val, out
        x = self.point(y)
        value, grad = _trusted(self.loss, "value_and_gradient")(x)
        return np.asarray(value, float).reshape(-1), self._velocity_at(x, grad)

    def retract(self, y):
        """Truncated-SVD retraction to rank r when ``project`` (else identity)."""
        if not self.project:
            return y
        finite = np.all(np.isfinite(y), axis=-1)
        out = y.copy()
        if finite.any():
            x = self.point(y[finite])
            out[finite] = SVDFrame(x, self.rank, check=False).matrix().reshape(x.shape[0], -1)
        return out

    def domain_reference(self, y0):
        r"""Return the reference of the invariant domain of each member, or None (none).

        When the co-metric vanishes on the singular set (:attr:`keeps_rank`: the DLN metrics
        of depth :math:`N \ge 2` and :math:`N = \infty`), a kept singular value obeys
        :math:`\dot\sigma \propto \sigma^{2-2/N}` and never reaches 0, so the exact flow stays
        in the component of its start: ``sign det X = sign det X0`` for a square full-rank
        start, rank exactly r on :math:`M_r` otherwise. The integrators reject a trial step
        that leaves it (:meth:`in_domain`).

        Parameters
        ----------
        y0 : ndarray, shape=[B, m*n]
            Start states.

        Returns
        -------
        reference : ndarray, shape=[B], or None
            ``sign det X0`` for a square full-rank field, ones otherwise; 0 (no constraint)
            for a start of lower numerical rank than the field's (r-th singular value at most
            max(m, n)·eps times the first, the tolerance of ``numpy.linalg.matrix_rank``: its
            missing singular values sit at rounding level, where their sign is not
            determined); None when the flow has no invariant domain.

        References
        ----------
        .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (the end-to-end flow
           :math:`\dot X = -A_{N,X}(\nabla E)`; along it
           :math:`\tfrac{d}{dt}\log|\det X| = -N\,\mathrm{tr}(\Sigma^{(N-2)/N}U^\top\nabla E\,V)`
           stays finite).
        .. [2] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 (det X cannot change sign under
           the flow of a deep matrix factorisation).

        Examples
        --------
        >>> from geodln.losses import razin_cohen_completion
        >>> field = DownstairsField(razin_cohen_completion(), 2)
        >>> field.domain_reference(field.pack(np.diag([1.0, -2.0]))).tolist()
        [-1.0]
        >>> DownstairsField(razin_cohen_completion(), 1).domain_reference(field.pack(np.eye(2)))
        """
        if not self.keeps_rank:
            return None
        x = self.point(y0)
        with np.errstate(all="ignore"):
            sv = np.linalg.svd(x, compute_uv=False)
        # numerical rank at rounding level (numpy.linalg.matrix_rank's default tolerance)
        full = sv[..., self.rank - 1] > max(x.shape[-2:]) * np.finfo(float).eps * sv[..., 0]
        if not self.square_full_rank:
            return full.astype(float)
        return np.where(full, _det_sign(x), 0.0)

    def in_domain(self, y_old, y_new, reference):
        r"""Whether each trial step ``y_old -> y_new`` stays in the invariant domain.

        Square full-rank field: ``sign det X_new`` equals the reference (exact at any scale:
        the sign of an LU factorisation). Otherwise the step end is compressed onto the
        rank-r singular frame :math:`(U_r, V_r)` of ``X_old``: :math:`\det(U_r^\top X_{new}
        V_r)` is :math:`\prod_{i \le r}\sigma_i > 0` at ``X_old``, continuous along the step,
        invariant under rotations inside the frame (repeated singular values), and changes
        sign exactly when a kept singular value passes through 0 in the step — the
        rectangular analogue of a change of ``sign det X`` (for a square full-rank X the two
        tests coincide). A non-finite member counts as inside (its error estimate rejects it).

        Parameters
        ----------
        y_old, y_new : ndarray, shape=[b, m*n]
            States at the start and end of the trial step.
        reference : ndarray, shape=[b]
            The members' :meth:`domain_reference`.

        Returns
        -------
        inside : ndarray of bool, shape=[b]

        Examples
        --------
        >>> from geodln.losses import razin_cohen_completion
        >>> field = DownstairsField(razin_cohen_completion(), 2)
        >>> y0 = field.pack(np.stack([np.diag([1.0, 1e-12]), np.diag([1.0, 1e-12])]))
        >>> y1 = field.pack(np.stack([np.diag([1.0, 1e-13]), np.diag([1.0, -1e-13])]))
        >>> field.in_domain(y0, y1, field.domain_reference(y0)).tolist()
        [True, False]
        """
        inside = np.ones(y_new.shape[0], dtype=bool)
        finite = np.all(np.isfinite(y_new), axis=-1) & np.all(np.isfinite(y_old), axis=-1)
        if not finite.any():
            return inside
        x_new = self.point(y_new[finite])
        if self.square_full_rank:
            ref = reference[finite]
            inside[finite] = (_det_sign(x_new) == ref) | (ref == 0)
            return inside
        u, _, vt = np.linalg.svd(self.point(y_old[finite]))
        r = self.rank
        core = np.swapaxes(u[..., :r], -1, -2) @ x_new @ np.swapaxes(vt[..., :r, :], -1, -2)
        inside[finite] = (_det_sign(core) > 0) | (reference[finite] == 0)
        return inside

    def metadata(self):
        """Depth, normalisation, scale, rank and kernel of the metric."""
        depth = getattr(self.metric, "depth", None)
        return {
            "depth": None if depth is None else ("inf" if depth == np.inf else int(depth)),
            "normalized": bool(getattr(self.metric, "normalized", False)),
            "metric_scale": self.scale,
            "rank": int(self.rank),
            "kernel": repr(self.kernel),
        }


class UpstairsField(VectorField):
    r"""Euclidean gradient field of :math:`E\circ\phi` on batched factors.

    Parameters
    ----------
    loss : geodln.losses.Loss
    widths : sequence of int
        All widths ``(d_0 = n, d_1, ..., d_N = m)``.
    name : str
        Public name of the factors in the error message (``"factors0"``, ``"start"``).

    Raises
    ------
    ValueError
        If the widths do not multiply to the loss's shape (naming ``name``).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs. (1.2)-(1.3)
       (the gradient flow of :math:`E\circ\phi` on the factors, written out by the chain rule).

    Examples
    --------
    >>> from geodln.losses import razin_cohen_completion
    >>> field = UpstairsField(razin_cohen_completion(), (2, 2, 2))
    >>> field.pack([np.eye(2), np.eye(2)]).shape
    (1, 8)
    """

    mode = "upstairs"

    def __init__(self, loss, widths, name="factors0"):
        self.loss = loss
        self.shape = tuple(loss.shape)
        self.widths = tuple(int(w) for w in widths)
        if (self.widths[-1], self.widths[0]) != self.shape:
            raise ValueError(
                f"{name} multiply to shape ({self.widths[-1]}, {self.widths[0]}) but the loss "
                f"is defined on {self.shape} matrices"
            )
        self.depth = len(self.widths) - 1
        self._shapes = [(self.widths[p + 1], self.widths[p]) for p in range(self.depth)]
        self._offsets = np.concatenate([[0], np.cumsum([a * b for a, b in self._shapes])])

    @classmethod
    def from_factors(cls, loss, factors, name="factors0"):
        """Field for the widths of ``factors`` ``[W_1, ..., W_N]`` (validated, batched or not).

        Raises
        ------
        ValueError
            With the message ``…: factors must be matrices or share one batch axis [B, d, d']``.
        """
        factors = check_factors(factors, name)
        batch = {w.shape[:-2] for w in factors}
        if len(batch) != 1 or len(next(iter(batch))) > 1:
            raise ValueError(f"{name}: factors must be matrices or share one batch axis [B, d, d']")
        return cls(loss, widths_of(factors), name)

    def pack(self, start, name="factors0"):
        """Validate factors (each ``[d_p, d_{p-1}]`` or ``[B, d_p, d_{p-1}]``); state ``[B, D]``.

        ``name`` is the public argument named in error messages.

        Raises
        ------
        ValueError
            With the message ``factors0 have widths …, expected …``; or ``factors0 must all be
            unbatched or share one batch axis [B, ...]``.
        """
        factors = check_factors(start, name)
        if widths_of(factors) != self.widths:
            raise ValueError(f"{name} have widths {widths_of(factors)}, expected {self.widths}")
        batch = factors[0].shape[:-2]
        if any(w.shape[:-2] != batch for w in factors) or len(batch) > 1:
            raise ValueError(f"{name} must all be unbatched or share one batch axis [B, ...]")
        b = batch[0] if batch else 1
        return np.concatenate([w.reshape(b, -1) for w in factors], axis=-1)

    def factors(self, y):
        """Split states ``[..., D]`` into ``[W_1, ..., W_N]``, each ``[..., d_p, d_{p-1}]``."""
        lead = y.shape[:-1]
        return [
            y[..., self._offsets[p]: self._offsets[p + 1]].reshape(lead + self._shapes[p])
            for p in range(self.depth)
        ]

    def point(self, y):
        """End-to-end matrices :math:`W_N\\cdots W_1`, ``[..., m, n]``."""
        return product(self.factors(y))

    def velocity(self, y):
        """:math:`-(W_{N:p+1}^\\top \\nabla E(X) W_{p-1:1}^\\top)_p`, ``[B, D]``."""
        if not (math.isfinite(y.sum()) or np.isfinite(y).all()):
            return self._finite_only(self.velocity, y)
        fs = self.factors(y)
        with np.errstate(over="ignore", invalid="ignore"):
            x = product(fs)
            if not math.isfinite(x.sum()):
                ok = np.isfinite(x).all(axis=(-2, -1))
                if not ok.all():  # the product overflowed: no velocity for those members
                    out = np.full(y.shape, np.nan)
                    if ok.any():
                        out[ok] = self.velocity(y[ok])
                    return out
            grad = _trusted(self.loss, "gradient")(x)
            return self._pack_gradients(product_adjoint(fs, grad), y.shape, -1.0)

    def _pack_gradients(self, grads, shape, sign):
        """``sign * [G_1, ..., G_N]`` packed into one state array of ``shape``."""
        out = np.empty(shape)
        for p, g in enumerate(grads):
            np.multiply(g.reshape(shape[0], -1), sign,
                        out=out[:, self._offsets[p]: self._offsets[p + 1]])
        return out

    def value_and_velocity(self, y):
        """Loss ``[B]`` and velocity with one product and one ``value_and_gradient`` call."""
        fs = self.factors(y)
        with np.errstate(over="ignore", invalid="ignore"):
            x = product(fs)
        if not math.isfinite(x.sum()) and not np.isfinite(x).all():
            return super().value_and_velocity(y)
        value, grad = _trusted(self.loss, "value_and_gradient")(x)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._pack_gradients(product_adjoint(fs, grad), y.shape, -1.0)
        return np.asarray(value, float).reshape(-1), out

    def record_extras(self, ys):
        """Balance defect at each record ``[..., T]`` and the final factors."""
        with np.errstate(over="ignore", invalid="ignore"):
            defect = np.asarray(balance_defect(self.factors(ys)), float)
        return {"balance_defect": defect}

    def final_extras(self, y):
        """Return the final factors ``[W_1, ..., W_N]`` (copies) of final states ``[..., D]``."""
        return {"factors": [w.copy() for w in self.factors(y)]}

    def metadata(self):
        """Depth and widths."""
        return {"depth": self.depth, "widths": list(self.widths)}
