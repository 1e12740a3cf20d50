r"""Upstairs gradient descent on thin factors with a sparse loss gradient (no m×n array).

For factors :math:`W = (W_1, \dots, W_N)` with bottleneck widths (e.g. all hidden widths r)
the end-to-end matrix is :math:`X = L R^\top` with :math:`L = W_N \cdots W_2` (m×d₁) and
:math:`R = W_1^\top` (n×d₁), so a sparse loss evaluates its residuals in O(|Ω| d₁). The
upstairs gradient is :math:`\nabla_{W_p} = W_{N:p+1}^\top G\, W_{p-1:1}^\top`
(:func:`geodln.factors.product_adjoint`, ACH18, Theorem 1) with a sparse
:math:`G = \nabla E(X)`:

- ``shared=False`` — the generic adjoint: one sparse product :math:`G W_{p-1:1}^\top` per layer
  (N sparse products, O(N |Ω| d)); what a straightforward sparse port of
  ``product_adjoint`` does;
- ``shared=True`` (default) — reuse :math:`G W_1^\top` for every layer,
  :math:`G W_{p-1:1}^\top = (G W_1^\top)(W_{p-1:2})^\top`, plus :math:`G^\top L`: two sparse
  products whatever N, then O(N (m + n) d²) dense work.

:func:`bottleneck_factors` is the balanced lift of a factored point with every hidden width
equal to r (:math:`W_1 = \Lambda V^\top`, :math:`W_p = \Lambda`, :math:`W_N = U\Lambda`,
:math:`\Lambda = \Sigma^{1/N}`; the balanced lift with :math:`Q_p = I_r`).

Factors are packed one way, as the engine's factor-tuple state: a list ``[W_1, ..., W_N]``
with ``W_p`` of shape ``[d_p, d_{p-1}]`` or, for a batch of B runs, ``[B, d_p, d_{p-1}]``.
Gradient descent on them is the engine's batched fixed-step descent
(:func:`geodln.flows.descend`) on :class:`ThinFactorField`.

References: GEO25 (Chen, arXiv:2510.07324, Eqs. (1.2)-(1.3): the factor gradient by the chain rule);
ACHL19 (Arora, Cohen, Hu, Luo, arXiv:1905.13655: deep matrix completion trained this way).
"""

import numpy as np

from geodln._checks import check_bool, check_depth
from geodln.factors import balance_defect, check_factors
from geodln.flows.recording import Every
from geodln.lowrank.driver import (
    check_loss,
    check_n_steps,
    check_step_size,
    run_fixed_steps,
)
from geodln.lowrank.field import FactoredRecords
from geodln.lowrank.point import FactoredPoint
from geodln.lowrank.retraction import finite_members, truncated_svd_or_nan
from geodln.step_size import default_step_size

__all__ = ["bottleneck_factors", "end_to_end_factors", "upstairs_gradient",
           "upstairs_gradient_descent", "ThinFactorField"]


def _swap(a):
    return np.swapaxes(a, -1, -2)


def bottleneck_factors(point, depth):
    r"""Balanced factors of ``point`` with all hidden widths equal to its rank.

    Parameters
    ----------
    point : FactoredPoint
        One point or a batch.
    depth : int
        N >= 2 (depth 1 would be the dense m×n matrix itself).

    Returns
    -------
    factors : list of ndarray
        ``[W_1 (r×n), W_2..W_{N-1} (r×r), W_N (m×r)]`` (with the batch axes of ``point``).

    Raises
    ------
    ValueError
        If ``point`` is not a FactoredPoint or ``depth`` is not an integer >= 2.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation).

    Examples
    --------
    >>> from geodln.lowrank import random_factored_point
    >>> ws = bottleneck_factors(random_factored_point(5, 4, 2, seed=0), 3)
    >>> [w.shape for w in ws]
    [(2, 4), (2, 2), (5, 2)]
    """
    if not isinstance(point, FactoredPoint):
        raise ValueError(f"point must be a FactoredPoint, got {type(point).__name__}")
    depth = check_depth(depth, allow_inf=False)
    if depth < 2:
        raise ValueError("depth must be >= 2 for thin factors (depth 1 is the dense matrix)")
    lam = point.s ** (1.0 / depth)
    eye = np.eye(point.rank)
    return ([lam[..., :, None] * point.vt] + [lam[..., None, :] * eye for _ in range(depth - 2)]
            + [point.u * lam[..., None, :]])


def end_to_end_factors(factors):
    """``(L, R)`` with ``X = L Rᵀ``: ``L = W_N ⋯ W_2``, ``R = W_1ᵀ`` (batched).

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``[..., d_p, d_{p-1}]``.

    Returns
    -------
    left : ndarray, shape=[..., m, d_1]
    right : ndarray, shape=[..., n, d_1]

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\\dot X = -A_{N,X}(\\nabla E)` of balanced factors).
    .. [2] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1 (balanced
       initialisation).

    Raises
    ------
    ValueError
        If ``factors`` is not a chained list of at least 2 finite real matrices.

    Examples
    --------
    >>> from geodln.lowrank import random_factored_point
    >>> from geodln.lowrank.upstairs import bottleneck_factors, end_to_end_factors
    >>> ws = bottleneck_factors(random_factored_point(5, 4, 2, seed=0), 3)
    >>> left, right = end_to_end_factors(ws)
    >>> bool(np.allclose(left @ right.T, ws[2] @ ws[1] @ ws[0]))
    True
    """
    factors = _check_factor_list(factors, "factors")
    left = factors[-1]
    for w in factors[-2:0:-1]:
        left = left @ w
    return left, _swap(factors[0])


def _check_factor_list(factors, name):
    """Chained finite factors ``[W_1, ..., W_N]`` with N >= 2 (``ValueError`` naming ``name``)."""
    factors = check_factors(list(factors) if isinstance(factors, tuple) else factors, name)
    if len(factors) < 2:
        raise ValueError(f"{name} must hold at least 2 factors, got {len(factors)}")
    return factors


def upstairs_gradient(loss, factors, shared=True):
    r"""``(E(X), [∇_{W_1}, ..., ∇_{W_N}])`` for a sparse loss, never forming X.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
        Anything with ``value_and_gradient((L, R))`` (batched).
    factors : list of ndarray
        ``[W_1, ..., W_N]``, N >= 2, each ``[..., d_p, d_{p-1}]``.
    shared : bool
        Reuse one sparse product for all layers (see the module docstring).

    Returns
    -------
    value : float or ndarray, shape=[B]
    grads : list of ndarray, shapes of the factors

    Raises
    ------
    ValueError
        If ``loss`` has no ``value_and_gradient``, ``factors`` is not a chained list of at
        least 2 finite real matrices, or ``shared`` is not a bool.

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.3)
       (the gradient of :math:`E\circ\phi` with respect to each factor, by the chain rule).

    Examples
    --------
    >>> from geodln.lowrank import random_sparse_completion, random_factored_point
    >>> loss, _ = random_sparse_completion((5, 4), 2, fraction=0.5, seed=0)
    >>> value, grads = upstairs_gradient(loss, bottleneck_factors(
    ...     random_factored_point(5, 4, 2, seed=1), 3))
    >>> [g.shape for g in grads]
    [(2, 4), (2, 2), (5, 2)]
    """
    check_loss(loss)
    shared = check_bool(shared, "shared")
    factors = _check_factor_list(factors, "factors")
    depth = len(factors)
    # suffixes S_p = W_N ... W_{p+1} (S_N = I is implicit), prefixes P_p = W_{p-1} ... W_1;
    # the end-to-end left factor W_N ... W_2 is the first suffix (formed once)
    suffix = [None] * depth
    acc = None
    for p in range(depth - 1, 0, -1):  # suffix[p-1] = W_N ... W_{p+1} for 0-based p-1
        acc = factors[p] if acc is None else acc @ factors[p]
        suffix[p - 1] = acc
    value, g = loss.value_and_gradient((suffix[0], _swap(factors[0])))
    grads = [_swap(np.asarray(_transpose_matmul(g, suffix[0])))]  # W_1: (Gᵀ S_1)ᵀ
    if shared:
        gw1 = np.asarray(g @ _swap(factors[0]))  # G W_1ᵀ, m×d_1
        mid = None  # W_{p-1} ... W_2, so that G P_pᵀ = (G W_1ᵀ) midᵀ
        for p in range(1, depth):
            gp = gw1 if mid is None else gw1 @ _swap(mid)
            grads.append(gp if p == depth - 1 else _swap(suffix[p]) @ gp)
            if p < depth - 1:
                mid = factors[p] if mid is None else factors[p] @ mid
    else:
        prefix = factors[0]
        for p in range(1, depth):
            gp = np.asarray(g @ _swap(prefix))
            grads.append(gp if p == depth - 1 else _swap(suffix[p]) @ gp)
            if p < depth - 1:  # (W_N @ prefix would be the dense m×n product)
                prefix = factors[p] @ prefix
    return value, grads


def _transpose_matmul(g, other):
    return _swap(g) @ other if isinstance(g, np.ndarray) else g.T @ other


class ThinFactorField(FactoredRecords):
    r"""Upstairs gradient field on thin factors with a sparse gradient, batched.

    Parameters
    ----------
    loss : factored loss
        ``value_and_gradient((L, R))`` on end-to-end factor pairs.
    widths : sequence of int
        ``(d_0 = n, d_1, ..., d_N = m)``.
    shared : bool
        See :func:`geodln.lowrank.upstairs.upstairs_gradient`.
    record : Every, optional
        What each record keeps (default ``Every(1)``).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eqs. (1.2)-(1.3)
       (the gradient flow of :math:`E\circ\phi` on the factors, written out by the chain rule).
    .. [2] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Section 2.

    Examples
    --------
    >>> from geodln.lowrank import bottleneck_factors, random_factored_point
    >>> from geodln.lowrank import random_sparse_completion
    >>> loss, _ = random_sparse_completion((6, 5), 2, fraction=0.6, seed=0)
    >>> ws = bottleneck_factors(random_factored_point(6, 5, 2, seed=1, batch=3), 3)
    >>> field = ThinFactorField(loss, (5, 2, 2, 6))
    >>> field.velocity(field.pack(ws)).shape
    (3, 26)
    """

    mode = "upstairs"

    def __init__(self, loss, widths, shared=True, record=None):
        self.loss, self.shared = loss, bool(shared)
        self.widths = tuple(int(w) for w in widths)
        self.shape = (self.widths[-1], self.widths[0])
        self.rank = min(self.widths)
        self.record = Every() if record is None else record
        self._shapes = [(self.widths[p + 1], self.widths[p]) for p in range(len(widths) - 1)]
        self._offsets = np.cumsum([a * b for a, b in self._shapes])[:-1]

    def pack(self, factors):
        """Flat states ``[B, D]`` of batched factors ``[W_1, ..., W_N]``."""
        b = factors[0].shape[0]
        return np.concatenate([w.reshape(b, -1) for w in factors], axis=-1)

    def factors(self, y):
        """Split states ``[..., D]`` into ``[W_1, ..., W_N]``."""
        lead = y.shape[:-1]
        return [a.reshape(lead + s) for a, s in zip(np.split(y, self._offsets, axis=-1),
                                                     self._shapes)]

    def point(self, y):
        """Factored end-to-end points (thin QRs and a small SVD; NaN for non-finite members)."""
        return truncated_svd_or_nan(*end_to_end_factors(self.factors(y)), self.rank)

    def loss_value(self, y):
        """Loss of each member from the end-to-end factors ``(L, R)``."""
        out = np.full(y.shape[0], np.nan)
        ok = np.all(np.isfinite(y), axis=-1)
        if ok.any():
            lr = end_to_end_factors(self.factors(y[ok]))
            ok_lr = finite_members(lr[0]) & finite_members(lr[1])
            vals = np.full(int(ok.sum()), np.nan)
            if ok_lr.any():
                vals[ok_lr] = np.atleast_1d(self.loss.value((lr[0][ok_lr], lr[1][ok_lr])))
            out[ok] = vals
        return out

    def value_and_velocity(self, y):
        """Loss ``[B]`` and :math:`-\\nabla_{W_p}(E\\circ\\phi)` (flat) of each member."""
        value = np.full(y.shape[0], np.nan)
        out = np.full(y.shape, np.nan)
        ok = np.all(np.isfinite(y), axis=-1)
        if ok.any():
            val, grads = upstairs_gradient(self.loss, self.factors(y[ok]), self.shared)
            value[ok] = np.atleast_1d(val)
            out[ok] = -np.concatenate([g.reshape(int(ok.sum()), -1) for g in grads], axis=-1)
        return value, out

    def velocity(self, y):
        """Flat :math:`-\\nabla_{W_p}(E\\circ\\phi)`, ``[B, D]``."""
        return self.value_and_velocity(y)[1]

    def final_extras(self, y):
        """Return the final factors ``[W_1, ..., W_N]``."""
        return {"factors": [w.copy() for w in self.factors(y)]}

    def metadata(self):
        """Widths and the gradient scheme."""
        return {"widths": list(self.widths), "shared": self.shared}


def upstairs_gradient_descent(loss, factors0, step_size=None, n_steps=None, *, shared=True,
                              stop=None, record=None):
    r"""Plain gradient descent :math:`W_p \leftarrow W_p - \eta \nabla_{W_p}(E\circ\phi)`.

    Parameters
    ----------
    loss : SparseCompletion, SparseSensing, RankOneSensing or compatible
    factors0 : list of ndarray
        ``[W_1, ..., W_N]`` (N >= 2), each ``[d_p, d_{p-1}]`` or a batch
        ``[B, d_p, d_{p-1}]``, e.g. :func:`bottleneck_factors`.
    step_size : float or array-like, shape=[B], optional
        η > 0, or one step per member of batched factors (member i then runs exactly as it
        would alone with ``step_size[i]``). Default (None):
        :func:`geodln.step_size.default_step_size` of depth N at the
        product of the factors (recorded in ``metadata["step_size"]``).
    n_steps : int
        Number of steps (>= 1; required).
    shared : bool
        See :func:`upstairs_gradient`.
    stop : None, StoppingRules or callable, optional
        As in :func:`geodln.lowrank.lowrank_gradient_descent` (the point is the factored X).
    record : None, int or Every, optional
        As in :func:`geodln.lowrank.lowrank_gradient_descent`.

    Returns
    -------
    trajectory : Trajectory
        Factored, ``mode="upstairs"``. Singular values of X (rank ``min d_p``) from thin QRs
        and a small SVD of ``L Rᵀ``; ``factors`` holds the final factors and
        ``metadata["balance_defect"]`` their balancedness defect. A diverging member ends
        ``"diverged"`` with its last finite factors and its record.

    Raises
    ------
    ValueError
        If ``factors0`` is not a chained list of at least 2 finite matrices (same batch) whose
        product has the loss's shape, ``step_size`` is not a positive number or one per member
        of batched factors, another argument is invalid, or ``loss`` is not finite at the
        start.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Section 2 (deep matrix
       factorisation trained by gradient descent on the factors).

    Examples
    --------
    >>> import geodln.lowrank as lr
    >>> loss = lr.random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)[0]
    >>> ws = bottleneck_factors(lr.random_factored_point(8, 6, 2, seed=1), 3)
    >>> tr = upstairs_gradient_descent(loss, ws, 0.02, 20)
    >>> tr.status, bool(tr.final_loss < tr.loss[0])
    ('completed', True)
    """
    check_loss(loss)
    shared = check_bool(shared, "shared")
    factors = _check_factor_list(factors0, "factors0")
    lead = {w.shape[:-2] for w in factors}
    if len(lead) != 1 or len(next(iter(lead))) > 1:
        raise ValueError("factors0 must share one batch axis (or none), got shapes "
                         f"{[w.shape for w in factors]}")
    single = factors[0].ndim == 2
    check_loss(loss, (factors[-1].shape[-2], factors[0].shape[-1]), "factors0")
    state = [w[None].copy() if single else w.copy() for w in factors]
    if step_size is None:  # the stable step of depth N at the product and the solution scale
        step_size = default_step_size(loss, FactoredPoint.from_product(
            *end_to_end_factors(state)), len(factors))
    eta = check_step_size(step_size, None if single else factors[0].shape[0])
    n_steps = check_n_steps(n_steps)
    field = ThinFactorField(loss, [factors[0].shape[-1]] + [w.shape[-2] for w in factors],
                            shared)
    out = run_fixed_steps(field, field.pack(state), eta, n_steps, stop, record, False)
    final = [w[0] for w in out.factors] if single else out.factors
    out.metadata = {**out.metadata,
                    "balance_defect": np.asarray(balance_defect(final), float).tolist()}
    return out[0] if single else out
