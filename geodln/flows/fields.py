r"""The two velocity fields: downstairs (Riemannian, on :math:`M_r`) and upstairs (factors).

Both act on a flat state vector ``y`` (what the integrators see), share the loss, and differ
only in the one line that turns the Euclidean gradient :math:`\nabla E(X)` into a velocity
(the "data path"):

- :class:`DownstairsField`: state X, :math:`\dot X = -A_{X}(\nabla E(X))`, with
  :math:`A_X` the co-metric (``sharp``) of a :class:`geodln.SpectralMetric` — the DLN metric
  :math:`g^N` by default, plain sum :math:`A_{N,X}` or CMV :math:`A_{N,X}/N` (CMV23, Lemma 2.4);
- :class:`UpstairsField`: state :math:`(W_1, \dots, W_N)`,
  :math:`\dot W_p = -\nabla_{W_p}(E\circ\phi) = -W_{N:p+1}^\top \nabla E(X) W_{p-1:1}^\top`
  (:func:`geodln.factors.product_adjoint`, ACH18, Theorem 1).

On balanced factors the two give the same :math:`X(t)` (ACH18, Theorem 1; BRTW21) when
the downstairs metric is the plain-sum :math:`g^N` of the same depth.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import check_depth, check_matrix
from geodln.factors import (
    balance_defect,
    check_factors,
    product,
    product_adjoint,
    widths_of,
)
from geodln.metric import DLNMetric, SpectralMetric
from geodln.spaces import RankMatrices
from geodln.spectral import SpectralKernel

__all__ = ["VectorField", "DownstairsField", "UpstairsField"]


def _nan_like(y):
    return np.full(y.shape, np.nan)


class VectorField:
    """Common interface of the flows' velocity fields on a flat state vector.

    Attributes
    ----------
    loss : geodln.losses.Loss
    mode : str
    shape : tuple of int
        End-to-end shape ``(m, n)``.
    """

    mode = None

    def pack(self, start):
        """Flat state vector of a start point."""
        raise NotImplementedError

    def point(self, y):
        """End-to-end matrix [m, n] of a state."""
        raise NotImplementedError

    def points(self, ys):
        """End-to-end matrices [T, m, n] of states [T, dim]."""
        return np.stack([self.point(y) for y in ys]) if len(ys) else np.zeros((0,) + self.shape)

    def velocity(self, y):
        """Velocity of the gradient flow at state ``y`` (NaN if the state is not finite)."""
        raise NotImplementedError

    def step(self, y, step_size):
        """One explicit gradient-descent step of size ``step_size``."""
        return y + step_size * self.velocity(y)

    def record_extras(self, ys):
        """Extra per-record arrays and final objects for the :class:`Trajectory`."""
        return {}

    def metadata(self):
        """JSON-serialisable description of the field."""
        return {}


class DownstairsField(VectorField):
    r"""Riemannian gradient field :math:`-A_X(\nabla E(X))` on :math:`M_r`.

    Parameters
    ----------
    loss : geodln.losses.Loss
    depth : int or numpy.inf, optional
        Depth N of :class:`geodln.DLNMetric` (ignored when ``metric`` is given).
    normalized : bool
        CMV normalisation :math:`A_{N,X}/N` (needed for ``depth=inf``); the plain sum (default)
        is the one that matches the upstairs flow.
    rank : int, optional
        Rank r of the manifold :math:`M_r`; default ``min(m, n)`` (all matrices, the formula of
        :math:`A_{N,X}` is continuous there, so rank-deficient points are fine for N >= 2).
        With r < min(m, n) the co-metric uses the rank-r truncated SVD, so the velocity is in
        :math:`T M_r`, and gradient descent retracts by truncated SVD.
    metric : SpectralMetric or SpectralKernel, optional
        A user metric (any spectral kernel) instead of :math:`g^N`.

    Raises
    ------
    ValueError
        If ``depth`` is not an integer >= 1 (or ``numpy.inf`` where allowed); otherwise with the
        message ``depth is required when no metric is given``; or ``metric is defined on …
        matrices but the loss on …``; or ``rank=… conflicts with the metric's space rank …``; or
        ``metric must be a SpectralMetric or a SpectralKernel, got …``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    """

    mode = "downstairs"

    def __init__(self, loss, depth=None, normalized=False, rank=None, metric=None):
        self.loss = loss
        m, n = self.shape = tuple(loss.shape)
        if metric is None:
            if depth is None:
                raise ValueError("depth is required when no metric is given")
            depth = check_depth(depth)
            space = RankMatrices(m, n, rank, equip=False)
            metric = DLNMetric(space, depth, normalized=normalized)
        elif isinstance(metric, SpectralKernel):
            metric = SpectralMetric(RankMatrices(m, n, rank, equip=False), metric)
        elif isinstance(metric, SpectralMetric):
            space = metric._space
            if tuple(space.shape) != self.shape:
                raise ValueError(
                    f"metric is defined on {space.shape} matrices but the loss on {self.shape}"
                )
            if rank is not None and int(rank) != space.rank:
                raise ValueError(f"rank={rank} conflicts with the metric's space rank {space.rank}")
        else:
            raise ValueError(
                f"metric must be a SpectralMetric or a SpectralKernel, got {type(metric).__name__}"
            )
        self.metric = metric
        self.space = metric._space
        self.rank = self.space.rank

    def pack(self, start):
        """Validate X0 [m, n] and return it flattened.

        Raises
        ------
        ValueError
            If ``X0`` is not a finite real array of matrices [..., m, n] of the expected shape.
        """
        x = check_matrix(start, "X0", shape=self.shape, allow_batch=False)
        return x.reshape(-1).copy()

    def point(self, y):
        """Reshape the state to [m, n]."""
        return np.reshape(y, self.shape)

    def points(self, ys):
        """Reshape states [T, mn] to [T, m, n]."""
        return np.reshape(ys, (-1,) + self.shape)

    def velocity(self, y):
        """:math:`-A_X(\\nabla E(X))`."""
        if not np.all(np.isfinite(y)):
            return _nan_like(y)
        x = self.point(y)
        grad = self.loss._gradient(x)
        if not np.all(np.isfinite(grad)):
            return _nan_like(y)
        return -self.metric.sharp(grad, x).reshape(-1)

    def step(self, y, step_size):
        r""":math:`X \leftarrow X - \eta A_X(\nabla E)`, retracted to rank r by truncated SVD."""
        y_new = y + step_size * self.velocity(y)
        if self.rank < min(self.shape) and np.all(np.isfinite(y_new)):
            y_new = self.space.projection(self.point(y_new)).reshape(-1)
        return y_new

    def metadata(self):
        """Depth, normalisation, rank and kernel of the metric."""
        kernel = self.metric.kernel
        return {
            "depth": _json_depth(getattr(self.metric, "depth", None)),
            "normalized": bool(getattr(self.metric, "normalized", False)),
            "rank": int(self.rank),
            "kernel": repr(kernel),
        }


def _json_depth(depth):
    if depth is None:
        return None
    return "inf" if depth == np.inf else int(depth)


class UpstairsField(VectorField):
    r"""Euclidean gradient field of :math:`E\circ\phi` on the factors.

    Parameters
    ----------
    loss : geodln.losses.Loss
    widths : sequence of int
        All widths ``(d_0 = n, d_1, ..., d_N = m)``.

    Raises
    ------
    ValueError
        With the message ``factors0 multiply to shape (…, …) but the loss is defined on …
        matrices``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).
    """

    mode = "upstairs"

    def __init__(self, loss, widths):
        self.loss = loss
        self.shape = tuple(loss.shape)
        self.widths = tuple(int(w) for w in widths)
        if (self.widths[-1], self.widths[0]) != self.shape:
            raise ValueError(
                f"factors0 multiply to shape ({self.widths[-1]}, {self.widths[0]}) but the loss "
                f"is defined on {self.shape} matrices"
            )
        self.depth = len(self.widths) - 1
        self._shapes = [(self.widths[p + 1], self.widths[p]) for p in range(self.depth)]
        sizes = [a * b for a, b in self._shapes]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)])

    @classmethod
    def from_factors(cls, loss, factors, name="factors0"):
        """Field for the widths of ``factors`` (validated).

        Raises
        ------
        ValueError
            With the message ``… must be unbatched matrices``.
        """
        factors = check_factors(factors, name)
        if any(w.ndim != 2 for w in factors):
            raise ValueError(f"{name} must be unbatched matrices")
        return cls(loss, widths_of(factors))

    def pack(self, start):
        """Validate the factors and concatenate them into one vector.

        Raises
        ------
        ValueError
            With the message ``factors0 have widths …, expected …``.
        """
        factors = check_factors(start, "factors0")
        if widths_of(factors) != self.widths:
            raise ValueError(f"factors0 have widths {widths_of(factors)}, expected {self.widths}")
        return np.concatenate([w.reshape(-1) for w in factors])

    def factors(self, y):
        """Split a state into ``[W_1, ..., W_N]``."""
        return [
            np.reshape(y[self._offsets[p] : self._offsets[p + 1]], self._shapes[p])
            for p in range(self.depth)
        ]

    def point(self, y):
        """End-to-end matrix :math:`W_N\\cdots W_1`."""
        return product(self.factors(y))

    def velocity(self, y):
        """:math:`-(W_{N:p+1}^\\top \\nabla E(X) W_{p-1:1}^\\top)_p`, flattened."""
        if not np.all(np.isfinite(y)):
            return _nan_like(y)
        fs = self.factors(y)
        grad = self.loss._gradient(product(fs))
        if not np.all(np.isfinite(grad)):
            return _nan_like(y)
        return -np.concatenate([g.reshape(-1) for g in product_adjoint(fs, grad)])

    def record_extras(self, ys):
        """Balance defect at each record and the final factors."""
        defect = np.array([float(balance_defect(self.factors(y))) for y in ys])
        final = [w.copy() for w in self.factors(ys[-1])] if len(ys) else None
        return {"balance_defect": defect, "factors": final}

    def metadata(self):
        """Depth and widths."""
        return {"depth": self.depth, "widths": list(self.widths)}
