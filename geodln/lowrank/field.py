r"""Factored rank-r states on the dynamics engine: the fields of the low-rank flows and descents.

The integrators of :mod:`geodln.flows` (the per-member embedded Runge–Kutta method
:func:`geodln.flows.integrate_batch`, fixed-step :func:`geodln.flows.descend`) work on any
state that follows the field protocol of :mod:`geodln.flows.fields`. Two fields put the
factored dynamics of the deep linear network (DLN) on them, so the low-rank flow and descents
share the engine's step-size control, stopping, event location and recording:

- :class:`FactoredField` — the downstairs flow :math:`\dot X = -A_X(\nabla E(X))` on
  :math:`M_r` (Arora–Cohen–Hazan, ACH18, Theorem 1; Bah–Rauhut–Terstiege–Westdickenberg,
  BRTW21) with X held as :math:`U\,\mathrm{diag}(\sigma)\,V^\top`. The state of a member is
  the flat array ``[U (m r), σ (r), V (n r)]``; a velocity is the tangent vector
  :math:`K = U M V^\top + U_p V^\top + U V_p^\top` *with its base frame*,
  ``[M (r²), U_p (m r), V_p (n r), U (m r), V (n r)]``, so a Runge–Kutta sum of stage
  velocities taken at different points is a matrix of rank ≤ r + 2rs held as factors. The
  retraction is the metric projection (truncated SVD, two thin QRs and a small SVD,
  :func:`geodln.lowrank.retraction.truncated_svd_or_nan`) after every stage and step: the
  projected Runge–Kutta method of Kieri and Vandereycken (KV19). The local error is
  :math:`\|h\sum_j e_j K_j\|_F / (atol + rtol\max(\|X\|_F, \|X_{new}\|_F))` (Frobenius norm
  of the factored sum), the first step the Hairer–Wanner heuristic in the same norms.
- :class:`geodln.lowrank.upstairs.ThinFactorField` — upstairs gradient descent on thin
  factors (built on :class:`FactoredRecords`, defined next to the sparse factor gradient).

Both record σ, the loss and the user metrics of the recording options
(:class:`geodln.flows.Every` / :class:`geodln.flows.At`, evaluated on the factored point; with
``factors=True`` also U and V) — never an m×n array — and return a factored
:class:`geodln.flows.Trajectory` (``state="factored"``, batched).
"""

import numpy as np

from geodln.flows.fields import VectorField
from geodln.flows.recording import Every
from geodln.flows.stopping import frobenius_norms
from geodln.flows.trajectory import Trajectory
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import (
    frobenius_norm_of_product,
    retract_or_nan,
    truncated_svd_or_nan,
)
from geodln.lowrank.tangent import FactoredTangent
from geodln.measures import frobenius_norm_from_singular_values

__all__ = ["FactoredField", "FactoredRecords"]


def _slices(sizes):
    """Consecutive slices of the given lengths."""
    ends = np.cumsum(sizes).tolist()
    return [slice(a, b) for a, b in zip([0] + ends[:-1], ends)]


class FactoredRecords(VectorField):
    """Records and results of the factored fields (base class, flat states).

    A record keeps ``[loss, σ, metrics..., (U, V)]`` of a member (:meth:`record_row`, never an
    m×n array); :meth:`trajectory` builds a factored :class:`geodln.flows.Trajectory`.
    Subclasses set ``loss``, ``shape``, ``rank``, ``record`` (:class:`geodln.flows.Every` or
    :class:`geodln.flows.At`) and ``point(y)`` (a batched :class:`FactoredPoint`).

    Examples
    --------
    >>> from geodln.lowrank.upstairs import ThinFactorField
    >>> issubclass(FactoredField, FactoredRecords), issubclass(ThinFactorField, FactoredRecords)
    (True, True)
    """

    record = None

    def point_norm(self, y, x=None):
        """:math:`\\|X\\|_F = \\|\\sigma\\|_2` of each member (``x``: ``point(y)``)."""
        x = self.point(y) if x is None else x
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(frobenius_norm_from_singular_values(x.s), float)

    def loss_value(self, y):
        """Loss of each member ``[B]`` (NaN for a non-finite member)."""
        out = np.full(y.shape[0], np.nan)
        ok = np.all(np.isfinite(y), axis=-1)
        if ok.any():
            x = self.point(y[ok])
            value = getattr(self.loss, "value", None)
            out[ok] = np.atleast_1d(value(x) if callable(value)
                                    else self.loss.value_and_gradient(x)[0])
        return out

    def record_row(self, y):
        """Return ``[loss, σ, metrics..., (U, V)]`` of each member (one row each)."""
        b = y.shape[0]
        x = self.point(y)
        cols = [self.loss_value(y)[:, None], x.s]
        for fn in self.record.metrics.values():
            cols.append(np.array([[float(fn(x[i])) if np.all(np.isfinite(x.s[i])) else np.nan]
                                  for i in range(b)]).reshape(b, 1))
        if self.record.factors:
            cols += [x.u.reshape(b, -1), x.v.reshape(b, -1)]
        return np.concatenate(cols, axis=-1)

    def trajectory(self, times, rows, counts, final, *, record, steps=None, **run_info):
        """Return the batched factored :class:`geodln.flows.Trajectory` of the records.

        ``record`` is the integrator's copy of the recording options (the field evaluates its
        own, ``self.record``); the other arguments are those of
        :meth:`geodln.flows.fields.VectorField.trajectory`.
        """
        m, n = self.shape
        r = self.rank
        b, t_len = times.shape
        names = list(self.record.metrics)
        valid = np.arange(t_len)[None, :] < counts[:, None]
        rows = np.where(valid[..., None], rows, np.nan)
        sigma = rows[..., 1:1 + r]
        recs = {"n_records": counts, "final_point": self.point(final),
                "metrics": {name: rows[..., 1 + r + i] for i, name in enumerate(names)}}
        if steps is not None:
            recs["steps"] = np.where(valid, steps, -1).astype(np.int64)
        recs.update(self.final_extras(final))
        x = None
        if self.record.factors:
            off = 1 + r + len(names)
            x = FactoredPoint(rows[..., off:off + m * r].reshape(b, t_len, m, r), sigma,
                              rows[..., off + m * r:off + (m + n) * r].reshape(b, t_len, n, r),
                              check=False)
        else:
            recs["singular_values"] = sigma
        return Trajectory(times, x, rows[..., 0], mode=self.mode, records=recs, **run_info)


class FactoredField(FactoredRecords):
    r"""Downstairs gradient field :math:`-A_X(\nabla E(X))` on factored rank-r points, batched.

    Parameters
    ----------
    loss : factored loss
        ``value(point)`` and ``value_and_gradient(point)`` on batched
        :class:`~geodln.lowrank.FactoredPoint` (e.g. :class:`geodln.lowrank.SparseCompletion`).
    metric : FactoredSpectralMetric
        The co-metric (``sharp``) in factored form.
    shape : tuple of int
        ``(m, n)``.
    rank : int
        r.
    record : Every or At, optional
        What each record keeps (default ``Every(1)``: σ and the loss at every step).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
    .. [2] KV19: Kieri, Vandereycken, Comput. Methods Appl. Math. 19 (2019), projection
       methods for dynamical low-rank approximation (projected Runge–Kutta).
    .. [3] VAN13: Vandereycken, arXiv:1209.3834, Section 2 (tangent vectors of :math:`M_r`).

    Examples
    --------
    >>> from geodln.lowrank import random_sparse_completion, random_factored_point
    >>> from geodln.lowrank.cometric import as_factored_metric
    >>> loss, _ = random_sparse_completion((6, 5), 2, fraction=0.6, seed=0)
    >>> field = FactoredField(loss, as_factored_metric(3), (6, 5), 2)
    >>> y = field.pack(random_factored_point(6, 5, 2, seed=1, batch=4))
    >>> y.shape, field.velocity(y).shape
    ((4, 24), (4, 48))
    """

    mode = "downstairs"

    def __init__(self, loss, metric, shape, rank, record=None):
        self.loss, self.metric = loss, metric
        self.shape, self.rank = tuple(shape), int(rank)
        self.record = Every() if record is None else record
        m, n = self.shape
        r = self.rank
        self._state = _slices([m * r, r, n * r])
        self._velocity = _slices([r * r, m * r, n * r, m * r, n * r])

    def pack(self, point):
        """Flat states ``[B, (m + n) r + r]`` of a batched :class:`FactoredPoint`."""
        b = point.s.shape[0]
        return np.concatenate([point.u.reshape(b, -1), point.s, point.v.reshape(b, -1)], axis=-1)

    def point(self, y):
        """Return the batched :class:`FactoredPoint` of states ``[B, d]`` (no copy)."""
        m, n = self.shape
        r = self.rank
        u, s, v = (y[..., sl] for sl in self._state)
        lead = y.shape[:-1]
        return FactoredPoint(u.reshape(lead + (m, r)), s, v.reshape(lead + (n, r)), check=False)

    def _parts(self, k):
        """``(M, U_p, V_p, U, V)`` of packed velocities."""
        m, n = self.shape
        r = self.rank
        lead = k.shape[:-1]
        mc, up, vp, u, v = (k[..., sl] for sl in self._velocity)
        return (mc.reshape(lead + (r, r)), up.reshape(lead + (m, r)), vp.reshape(lead + (n, r)),
                u.reshape(lead + (m, r)), v.reshape(lead + (n, r)))

    def _factors(self, k):
        """Return ``(A, B)`` with :math:`K = A B^\\top` for packed velocities."""
        mc, up, vp, u, v = self._parts(k)
        return np.concatenate([u @ mc + up, u], axis=-1), np.concatenate([v, vp], axis=-1)

    def _pack_velocity(self, tangent, x):
        b = x.s.shape[0]
        out = np.concatenate([tangent.m_core.reshape(b, -1), tangent.up.reshape(b, -1),
                              tangent.vp.reshape(b, -1), x.u.reshape(b, -1),
                              x.v.reshape(b, -1)], axis=-1)
        out[:, :self._velocity[2].stop] *= -1.0  # -A(grad E), negated in place
        return out

    def value_and_velocity(self, y):
        """Loss ``[B]`` and packed velocity from one ``loss.value_and_gradient`` call."""
        ok = np.isfinite(y).all(axis=-1)
        if ok.all():  # no member diverged: no copies of the running states
            x = self.point(y)
            val, grad = self.loss.value_and_gradient(x)
            return (np.asarray(np.atleast_1d(val), float),
                    self._pack_velocity(self.metric.sharp(grad, x), x))
        value = np.full(y.shape[0], np.nan)
        out = np.full((y.shape[0], self._velocity[-1].stop), np.nan)
        if ok.any():
            x = self.point(y[ok])
            val, grad = self.loss.value_and_gradient(x)
            value[ok] = np.atleast_1d(val)
            out[ok] = self._pack_velocity(self.metric.sharp(grad, x), x)
        return value, out

    def velocity(self, y):
        """Packed :math:`-A_X(\\nabla E(X))` with its base frame, ``[B, r² + 2(m + n) r]``."""
        return self.value_and_velocity(y)[1]

    def velocity_norm(self, k):
        """:math:`\\|K\\|_F = (\\|M\\|^2 + \\|U_p\\|^2 + \\|V_p\\|^2)^{1/2}` per member."""
        mc, up, vp, _, _ = self._parts(k)
        parts = np.stack([frobenius_norms(a) for a in (mc, up, vp)], axis=-1)
        return frobenius_norms(parts, axes=1)  # scaled: no overflow

    def _sum(self, coefs, ks, point=None):
        """Factors ``(L, R)`` of ``X + sum_j coefs[j] K_j`` (``coefs`` [s, b])."""
        lefts, rights = [], []
        if point is not None:
            lefts.append(point.u * point.s[..., None, :])
            rights.append(point.v)
        for c, k in zip(coefs, ks):
            if not np.any(c):
                continue
            a, b = self._factors(k)
            lefts.append(c[:, None, None] * a)
            rights.append(b)
        return np.concatenate(lefts, axis=-1), np.concatenate(rights, axis=-1)

    def combine(self, y, h, weights, ks):
        r"""Return the metric projection :math:`P_{M_r}(X + h\sum_j w_j K_j)` of each member.

        One term at the member's own point (a gradient-descent step) uses the 2r×2r-core
        retraction; otherwise the factored sum is truncated by thin QRs and a small SVD.
        """
        w = np.asarray(weights, float)
        coefs = (w[:, None] if w.ndim == 1 else w) * h[None, :]
        x = self.point(y)
        if ks.shape[0] == 1:
            mc, up, vp, u, v = self._parts(ks[0])
            if np.array_equal(u, x.u) and np.array_equal(v, x.v):
                return self.pack(retract_or_nan(x, FactoredTangent(mc, up, vp), coefs[0]))
        return self.pack(truncated_svd_or_nan(*self._sum(coefs, ks, x), self.rank))

    def error_norm(self, y, y_new, h, ks, tableau, rtol, atol):
        """Frobenius norm of :math:`h\\sum_j e_j K_j` over ``atol + rtol max(|X|, |X_new|)``.

        Raises
        ------
        ValueError
            For a tableau without a single error estimator (DOP853).
        """
        if tableau.E is None:
            raise ValueError("the factored flow supports the methods RK45 and RK23")
        coefs = tableau.E[:, None] * h[None, :]
        err = np.full(y.shape[0], np.inf)
        ok = np.all(np.isfinite(ks), axis=(0, 2))
        if ok.any():
            err[ok] = frobenius_norm_of_product(*self._sum(coefs[:, ok], ks[:, ok]))
        tol = atol + rtol * np.fmax(self.point_norm(y), self.point_norm(y_new))
        return err / tol

    def initial_step(self, y0, f0, t_left, order, rtol, atol, max_step):
        """Hairer–Wanner first step in Frobenius norms (no extra velocity evaluation)."""
        norm = self.point_norm(y0)
        scale = atol + rtol * norm
        d0, d1 = norm / scale, self.velocity_norm(f0) / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where((d0 < 1e-5) | ~(d1 >= 1e-5), 1e-6, 0.01 * d0 / d1)
        return np.minimum(h, min(max_step, t_left)), 0

    def metadata(self):
        """Rank and kernel of the metric."""
        return {"rank": self.rank, "kernel": repr(self.metric.kernel),
                "retraction": "metric projection (truncated SVD)"}
