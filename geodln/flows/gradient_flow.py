r"""Gradient flows downstairs (:math:`\dot X = -A_{N,X}(\nabla E)`) and upstairs (factors).

Both entry points build a velocity field (:mod:`geodln.flows.fields`) and hand it to the same
driver (:func:`geodln.flows.ode.integrate`, scipy's ``solve_ivp``), so a comparison differs only
in the line that turns :math:`\nabla E` into a velocity.

Agreement (ACH18, Theorem 1; BRTW21): from balanced factors with product :math:`X_0`, the
upstairs flow's :math:`X(t)` equals the downstairs flow of the plain-sum :math:`g^N` of the same
depth, for any widths; the rank of X is conserved. For N = 1 and a rank-deficient start the two
legitimately differ if the downstairs flow is restricted to :math:`M_r` (``rank=r``): the
upstairs flow is then the Euclidean flow on all matrices, which leaves :math:`M_r`.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import check_matrix
from geodln.flows.fields import DownstairsField, UpstairsField
from geodln.flows.ode import integrate
from geodln.flows.stopping import StoppingRules
from geodln.losses import AutogradLoss, Loss

__all__ = ["downstairs_flow", "upstairs_flow", "as_loss", "check_on_rank"]

RANK_RTOL = 1e-8


def as_loss(loss, shape=None):
    """Return ``loss`` if it is a :class:`geodln.losses.Loss`; wrap a callable in AutogradLoss.

    Raises
    ------
    ValueError
        With the message ``loss is a plain callable: its matrix shape is unknown``; or ``loss
        must be a geodln.losses.Loss (MatrixCompletion, MatrixSensing, AutogradLoss) or a
        callable E(X), got …``.
    """
    if isinstance(loss, Loss):
        return loss
    if callable(loss) and not hasattr(loss, "euclidean_gradient"):
        if shape is None:
            raise ValueError("loss is a plain callable: its matrix shape is unknown")
        return AutogradLoss(loss, shape)
    if all(hasattr(loss, a) for a in ("shape", "_value", "_gradient")):
        return loss
    raise ValueError(
        "loss must be a geodln.losses.Loss (MatrixCompletion, MatrixSensing, AutogradLoss) or a "
        f"callable E(X), got {type(loss).__name__}"
    )


def check_on_rank(x, rank, name="X0"):
    """Raise ``ValueError`` if ``x`` has numerical rank above ``rank`` (relative ``1e-8``).

    Raises
    ------
    ValueError
        With the message ``… has rank > rank=… (sigma_… / sigma_1 = …); project it first (e.g.
        RankMatrices(m, n, rank).projection(X0))``.
    """
    if rank is None or rank >= min(x.shape):
        return
    s = np.linalg.svd(x, compute_uv=False)
    if s[rank] > RANK_RTOL * max(s[0], np.finfo(float).tiny):
        raise ValueError(
            f"{name} has rank > rank={rank} (sigma_{rank + 1} / sigma_1 = {s[rank] / s[0]:.2g}); "
            "project it first (e.g. RankMatrices(m, n, rank).projection(X0))"
        )


def downstairs_flow(loss, X0, depth=None, t_span=None, *, normalized=False, rank=None,
                    metric=None, method="RK45", rtol=1e-8, atol=1e-10, t_eval=None,
                    loss_tol=None, max_norm=None, stop=None, max_wall_time=None,
                    max_step=np.inf):
    r"""Riemannian gradient flow :math:`\dot X = -A_{N,X}(\nabla E(X))` on :math:`M_r`.

    The co-metric is :meth:`geodln.DLNMetric.sharp` (plain sum
    :math:`A_{N,X} = \sum_j (XX^\top)^{(N-j)/N} Z (X^\top X)^{(j-1)/N}` by default, CMV's
    :math:`A_{N,X}/N` with ``normalized=True``; CMV23, Lemma 2.4), or that of any user
    :class:`geodln.SpectralMetric` / :class:`geodln.spectral.SpectralKernel`.

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
        The loss; a plain callable ``E(X)`` (autograd-differentiable) is wrapped in
        :class:`geodln.losses.AutogradLoss`.
    X0 : array-like, shape=[m, n]
        Start point.
    depth : int or numpy.inf
        Depth N (``inf`` needs ``normalized=True``); not needed when ``metric`` is given.
    t_span : tuple of float
        ``(t0, t1)``.
    normalized : bool
        Use :math:`A_{N,X}/N` (time runs N times slower than upstairs).
    rank : int, optional
        Stay on :math:`M_r`: the co-metric is evaluated on the rank-r truncated SVD, so the
        velocity is tangent to :math:`M_r`. Default: ``min(m, n)`` (for N >= 2 the flow still
        conserves the rank of a rank-deficient X0, up to integrator error).
    metric : SpectralMetric or SpectralKernel, optional
        User metric instead of :math:`g^N`.
    method : str
        ``solve_ivp`` method ("RK45", "DOP853", "Radau", ...).
    rtol, atol : float
        Integrator tolerances.
    t_eval : array-like, optional
        Times to record (default: every accepted step).
    loss_tol : float, optional
        Stop when the loss is <= ``loss_tol``.
    max_norm : float, optional
        Stop when :math:`\|X\|_F \geq` ``max_norm`` (divergence guard; a state overflow always
        stops the run with status ``"diverged"``).
    stop : callable, optional
        ``stop(t, X, loss) -> bool``, checked after each accepted step.
    max_wall_time : float, optional
        Stop after this many seconds.
    max_step : float
        Largest integrator step.

    Returns
    -------
    trajectory : Trajectory
        ``mode="downstairs"``; ``n_rhs`` counts co-metric evaluations.

    Raises
    ------
    ValueError
        If ``X0`` is not a finite real array of matrices [..., m, n] of the expected shape.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505 (Riemannian gradient
       flow on rank-r matrices).

    Examples
    --------
    Scalar case d = 1: :math:`\dot x = -N x^{2-2/N}(x - 1)`; the flow converges to the target:

    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0], [0]), values=[1.0], shape=(1, 1))
    >>> traj = geodln.downstairs_flow(loss, np.array([[0.5]]), depth=2, t_span=(0.0, 20.0))
    >>> bool(abs(traj.final_X[0, 0] - 1.0) < 1e-6)
    True
    """
    m_n = np.shape(X0)[-2:] if np.ndim(X0) >= 2 else None
    loss = as_loss(loss, m_n)
    x0 = check_matrix(X0, "X0", shape=loss.shape, allow_batch=False)
    field = DownstairsField(loss, depth=depth, normalized=normalized, rank=rank, metric=metric)
    check_on_rank(x0, field.rank if field.rank < min(field.shape) else None)
    rules = StoppingRules(loss_tol, max_norm, stop, max_wall_time)
    return integrate(field, x0, t_span, rules, method=method, rtol=rtol, atol=atol,
                     t_eval=t_eval, max_step=max_step)


def upstairs_flow(loss, factors0, t_span=None, *, method="RK45", rtol=1e-8, atol=1e-10,
                  t_eval=None, loss_tol=None, max_norm=None, stop=None, max_wall_time=None,
                  max_step=np.inf):
    r"""Euclidean gradient flow of :math:`E\circ\phi` on the factors (the network's training).

    :math:`\dot W_p = -\nabla_{W_p}(E\circ\phi) = -W_{N:p+1}^\top\nabla E(X)W_{p-1:1}^\top`
    (:func:`geodln.factors.product_adjoint`, ACH18, Theorem 1), any widths. Conserves
    :math:`W_{p+1}^\top W_{p+1} - W_pW_p^\top` (ACH18, Theorem 1).

    Parameters
    ----------
    loss : geodln.losses.Loss or callable
    factors0 : list of array-like
        ``[W_1, ..., W_N]``, ``W_p`` of shape ``(d_p, d_{p-1})``, product of the loss's shape.
    t_span : tuple of float
    method, rtol, atol, t_eval, loss_tol, max_norm, stop, max_wall_time, max_step
        As in :func:`downstairs_flow`.

    Returns
    -------
    trajectory : Trajectory
        ``mode="upstairs"``, with ``balance_defect`` per record and the final ``factors``.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1 (end-to-end dynamics
       :math:`\dot X = -A_{N,X}(\nabla E)` of balanced factors).
    .. [2] BRTW21: Bah, Rauhut, Terstiege, Westdickenberg, arXiv:1910.05505 (Riemannian gradient
       flow on rank-r matrices).

    Examples
    --------
    From balanced factors the product follows the downstairs flow (ACH18, Theorem 1):

    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0], [0]), values=[1.0], shape=(1, 1))
    >>> factors = [np.array([[0.5]]), np.array([[1.0]])]  # not balanced: fine, any widths
    >>> traj = geodln.upstairs_flow(loss, factors, t_span=(0.0, 20.0))
    >>> bool(abs(traj.final_X[0, 0] - 1.0) < 1e-6)
    True
    """
    field_shape = None
    if isinstance(factors0, list | tuple) and factors0:
        field_shape = (np.shape(factors0[-1])[-2], np.shape(factors0[0])[-1])
    loss = as_loss(loss, field_shape)
    field = UpstairsField.from_factors(loss, factors0)
    rules = StoppingRules(loss_tol, max_norm, stop, max_wall_time)
    return integrate(field, factors0, t_span, rules, method=method, rtol=rtol, atol=atol,
                     t_eval=t_eval, max_step=max_step)
