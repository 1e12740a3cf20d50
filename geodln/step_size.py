r"""A stable fixed step for gradient descent on a deep linear network.

Downstairs GD, :math:`X \leftarrow X - \eta\,A_{N,X}(\nabla E(X))`, linearised at a point is the
iteration :math:`I - \eta\,A_{N,X} H` with :math:`H = \nabla^2 E`. It is stable when
:math:`\eta\,\lambda_{\max}(A_{N,X} H) < 2`, and
:math:`\lambda_{\max}(A H) \le \lambda_{\max}(A)\,\lambda_{\max}(H)`, so

.. math:: \eta = \frac{2\,c}{\lambda_{\max}(A_{N,X})\,L}, \qquad 0 < c < 1,

is safe near X, where :math:`L = \|H\|_2` is the loss's Lipschitz constant of the gradient and
:math:`\lambda_{\max}(A_{N,X}) = N\sigma_1^{2-2/N}` for the plain DLN metric (CMV23, Lemma 2.4).
The same quantity governs factor GD from a balanced start (ACGH19, Theorem 1 asks
:math:`\eta \lesssim 1/(L\,N\,\|X\|^{2-2/N})` along the run; ACH18, Sect. 5). Because
:math:`\sigma_1` grows as the run fits the data, the step is taken at the largest scale the run
is expected to reach: the start and, when given, a ``reference`` point of the solution's scale.
Both eigenvalues are computed by power iteration — on Hessian–vector products by central
differences of the gradient (exact for the quadratic losses of completion, sensing and least
squares) and on the metric's ``sharp`` map — so any loss and any spectral metric work.

Where a fixed step is needed and none is given (:func:`geodln.gradient_descent`,
:func:`geodln.lowrank.lowrank_gradient_descent`,
:func:`geodln.lowrank.upstairs_gradient_descent` with ``step_size=None``), the step is
:func:`default_step_size`: this formula at the start and at the scale
:func:`solution_scale` estimates for a minimiser. It is a heuristic proposal, recorded in
the trajectory's metadata: a run whose singular values grow far past that scale (e.g. the
diverging norms of Razin–Cohen's task) needs a smaller step, given explicitly. Batches get
one step, safe for every member (the smallest of the members' steps).
"""

import numpy as np

from geodln._checks import (
    as_generator,
    check_depth,
    check_matrix,
    check_positive_int,
    check_positive_real,
)

__all__ = ["stable_step_size", "gradient_lipschitz_constant", "cometric_norm",
           "solution_scale", "default_step_size"]


def _power_iteration(apply, shape, n_iter, seed):
    """Largest |eigenvalue| of a symmetric map on ``[..., m, n]`` arrays, per batch member."""
    n_iter = check_positive_int(n_iter, "n_iter", maximum=10**6)
    rng = as_generator(seed)
    v = rng.standard_normal(shape)
    v /= np.linalg.norm(v, axis=(-2, -1), keepdims=True)
    estimate = np.zeros(shape[:-2])
    for _ in range(n_iter):
        w = np.asarray(apply(v), dtype=float)
        estimate = np.linalg.norm(w, axis=(-2, -1))
        safe = np.where((estimate > 0) & np.isfinite(estimate), estimate, 1.0)
        v = w / safe[..., None, None]
        if not np.all((estimate > 0) & np.isfinite(estimate)):
            break
    return estimate if estimate.ndim else float(estimate)


def gradient_lipschitz_constant(loss, point, n_iter=50, seed=0):
    r"""Largest absolute Hessian eigenvalue :math:`\|\nabla^2 E(X)\|_2` by power iteration.

    Hessian–vector products are central differences of ``loss.euclidean_gradient``, exact
    (to rounding) for quadratic losses; the difference step is
    :math:`\max(10^{-4}\max(\|X\|_F, 1), 10^{-8}\|\nabla E(X)\|_F)`, so a gradient far larger
    than the point (data of size 1e100) is not lost to cancellation. A loss with a
    ``lipschitz_constant()`` method (the factored least-squares losses of
    :mod:`geodln.lowrank`, whose Hessian is known from their measurement operator) answers
    directly; ``point`` may then be a factored point.

    Parameters
    ----------
    loss : geodln loss
        Any object with ``euclidean_gradient(X)`` returning an ``[m, n]`` array.
    point : array-like, shape=[..., m, n]
        Where the Hessian is evaluated (a batch is evaluated member by member, in one
        vectorised power iteration).
    n_iter : int
        Power iterations.
    seed : int
        Start vector of the iteration (fixed for reproducibility).

    Returns
    -------
    lipschitz : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``point`` is not a finite matrix, ``loss`` has no usable gradient, ``n_iter`` is not
        an integer in ``[1, 10**6]`` or ``seed`` is not a seed (bools are not numbers).

    Examples
    --------
    >>> import numpy as np, geodln
    >>> loss = geodln.losses.razin_cohen_completion()
    >>> round(gradient_lipschitz_constant(loss, np.eye(2)), 8)
    1.0
    """
    if callable(getattr(loss, "lipschitz_constant", None)):
        return float(loss.lipschitz_constant())
    x = check_matrix(point, "point")
    if not callable(getattr(loss, "euclidean_gradient", None)):
        raise ValueError("loss must have a euclidean_gradient(X) method")
    def grad(y):
        g = loss.euclidean_gradient(y)
        g = g.toarray() if hasattr(g, "toarray") else np.asarray(g, dtype=float)
        return g

    scale = np.maximum(np.linalg.norm(x, axis=(-2, -1), keepdims=True), 1.0)
    # the difference of two gradients of size |g| carries a rounding error ~1e-16 |g| / eps: a
    # gradient far larger than the point (data of size 1e100) needs a larger step, exact for
    # a quadratic loss and an over-estimate (a safe, smaller GD step) otherwise
    with np.errstate(over="ignore", invalid="ignore"):
        g_norm = np.linalg.norm(grad(x), axis=(-2, -1), keepdims=True)
    eps = np.maximum(1e-4 * scale, 1e-8 * np.where(np.isfinite(g_norm), g_norm, 0.0))

    def hvp(v):
        return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)

    return _power_iteration(hvp, x.shape, n_iter, seed)


def _is_depth(metric):
    """Whether ``metric`` is a depth N (an int; out of ``[1, MAX_DEPTH]`` it is refused)."""
    if isinstance(metric, int | np.integer) and not isinstance(metric, bool):
        check_depth(metric, "metric", allow_inf=False)
        return True
    return False


def _top_singular_value(point):
    """σ₁ per member of a dense ``[..., m, n]`` batch or of a factored point (scaled, exact)."""
    s = getattr(point, "s", None)
    if s is not None and hasattr(point, "u"):
        return np.max(np.abs(np.asarray(s, dtype=float)), axis=-1)
    x = np.asarray(point, dtype=float)
    big = np.max(np.abs(x), axis=(-2, -1))
    safe = np.where(big > 0, big, 1.0)
    return big * np.linalg.norm(x / safe[..., None, None], ord=2, axis=(-2, -1))


def _depth_cometric_norm(depth, top):
    r""":math:`N\sigma_1^{2-2/N}` from :math:`\log\sigma_1` (no overflow where representable)."""
    top = np.asarray(top, dtype=float)
    with np.errstate(divide="ignore"):
        lam = np.exp(np.log(depth) + (2.0 - 2.0 / depth) * np.log(top))
    return np.where(top == 0, 1.0 if depth == 1 else 0.0, lam)


def cometric_norm(metric, point, n_iter=50, seed=0):
    r"""Largest eigenvalue of the co-metric :math:`A_X` (``metric.sharp``) on all of R^{m×n}.

    Parameters
    ----------
    metric : int or object
        A depth N (plain DLN metric, closed form :math:`N\sigma_1^{2-2/N}`) or an object with
        ``sharp(tangent_vec, base_point)`` (any spectral metric; power iteration).
    point : array-like, shape=[..., m, n], or FactoredPoint
        Where :math:`A_X` is evaluated (a factored point with a depth ``metric`` only).
    n_iter : int
        Power iterations (metric objects).
    seed : int
        Start vector of the power iteration.

    Returns
    -------
    lam_max : float or ndarray, shape=[...]
        One value per batch member.

    Raises
    ------
    ValueError
        If ``point`` is not a finite matrix, ``metric`` is neither a depth (an int in
        ``[1, 10**6]``) nor has ``sharp``, a factored point comes with a metric object, or
        ``n_iter`` is not an integer in ``[1, 10**6]`` (metric objects).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}`: :math:`k_N(\sigma_i^2, \sigma_j^2)`, largest at :math:`i = j = 1`).

    Examples
    --------
    >>> import numpy as np, geodln
    >>> metric = geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3)
    >>> x = np.diag([2.0, 1.0])
    >>> bool(np.isclose(cometric_norm(metric, x), 3 * 2 ** (4 / 3)))
    True
    >>> bool(np.isclose(cometric_norm(3, x), 3 * 2 ** (4 / 3)))
    True
    """
    factored = hasattr(point, "u") and hasattr(point, "s")
    if _is_depth(metric):
        # plain DLN kernel: the largest eigenvalue is k_N(σ1², σ1²) = N σ1^(2 − 2/N)
        # (CMV23, Lemma 2.4), evaluated from log σ1 so that no power overflows
        top = _top_singular_value(point if factored else check_matrix(point, "point"))
        lam = _depth_cometric_norm(int(metric), top)
        return float(lam) if np.ndim(lam) == 0 else lam
    if factored:
        raise ValueError("metric: a factored point needs a depth (int >= 1) here; pass "
                         "step_size explicitly for other metrics")
    x = check_matrix(point, "point")
    if not callable(getattr(metric, "sharp", None)):
        raise ValueError("metric must be a depth (int >= 1) or have a sharp(tangent_vec, "
                         "base_point) method")
    return _power_iteration(lambda v: np.asarray(metric.sharp(v, x)), x.shape, n_iter, seed)


def _frobenius(g):
    """Frobenius norm per member of a dense, scipy-sparse or low-rank gradient."""
    if hasattr(g, "left") and hasattr(g, "right"):  # LowRankOperator: ‖L Rᵀ‖² = tr(LᵀL RᵀR)
        gram = np.einsum("...ik,...il,...jk,...jl->...", g.left, g.left, g.right, g.right)
        return np.sqrt(np.maximum(gram, 0.0))
    if hasattr(g, "block") and hasattr(g, "batch"):  # BatchedSparse: members' data in CSR order
        data = np.asarray(g.block.data, dtype=float).reshape(g.batch, -1)
        return np.linalg.norm(data, axis=-1)
    if hasattr(g, "toarray") or hasattr(g, "tocsr"):
        data = g.data if hasattr(g, "data") else g.toarray()
        return float(np.linalg.norm(np.asarray(data, dtype=float).ravel()))
    g = np.asarray(g, dtype=float)
    big = np.max(np.abs(g), axis=(-2, -1))
    safe = np.where(big > 0, big, 1.0)
    return big * np.linalg.norm(g / safe[..., None, None], axis=(-2, -1))


def solution_scale(loss, start, lipschitz=None):
    r"""Scale of a minimiser, :math:`s = \sigma_1(X_0) + \|\nabla E(X_0)\|_F / L`.

    For a quadratic loss with Hessian :math:`H`, :math:`\|H\|_2 = L`, a minimiser
    :math:`X^*` satisfies :math:`\nabla E(X_0) = H(X_0 - X^*)`, so
    :math:`\|X^* - X_0\|_F \ge \|\nabla E(X_0)\|_F / L`, with equality when :math:`H` acts
    as :math:`L\,I` on the residual (completion, whitened least squares). The Frobenius norm
    over-estimates :math:`\sigma_1(X^*)` for a low-rank target (a safe direction for a step
    size); a sparse sample under-estimates it by about :math:`\sqrt{|\Omega|/(mn)}`.

    Parameters
    ----------
    loss : geodln loss
        With ``euclidean_gradient`` (dense, sparse or low-rank).
    start : array-like, shape=[..., m, n], or FactoredPoint
        Start of the run.
    lipschitz : float or array-like, shape=[...], optional
        :math:`L` if known, one value or one per member (default:
        :func:`gradient_lipschitz_constant`).

    Returns
    -------
    scale : float or ndarray, shape=[...]
        One value per batch member.

    Raises
    ------
    ValueError
        If ``start`` is not a finite matrix, ``lipschitz`` is not finite and >= 0, or the loss
        has no usable gradient there.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1 (the step must
       hold at the scale the run reaches).

    Examples
    --------
    >>> import numpy as np, geodln
    >>> loss = geodln.losses.razin_cohen_completion()
    >>> bool(np.isclose(solution_scale(loss, np.zeros((2, 2))), np.sqrt(2.0)))
    True
    """
    factored = hasattr(start, "u") and hasattr(start, "s")
    x = start if factored else check_matrix(start, "start")
    lip = gradient_lipschitz_constant(loss, x) if lipschitz is None else _check_lipschitz(lipschitz)
    grad = loss.euclidean_gradient(x)
    out = _top_singular_value(x) + _frobenius(grad) / np.where(np.asarray(lip) > 0, lip, np.inf)
    if not np.all(np.isfinite(out)):
        raise ValueError("loss: its gradient at the start is not finite")
    return float(out) if np.ndim(out) == 0 else out


def _check_lipschitz(lipschitz):
    """Return a given Lipschitz constant as finite non-negative floats (ValueError otherwise)."""
    try:
        lip = np.asarray(lipschitz, dtype=float)
    except (TypeError, ValueError):
        lip = None
    if lip is None or isinstance(lipschitz, bool) or lip.size == 0 or not np.all(
            np.isfinite(lip) & (lip >= 0)):
        raise ValueError(f"lipschitz must be finite numbers >= 0, got {lipschitz!r}")
    return lip


def stable_step_size(loss, start, metric, reference=None, safety=0.5, lipschitz=None):
    r"""Propose a stable fixed GD step :math:`\eta = 2c/(\lambda_{\max}(A_X)\,L)`.

    Parameters
    ----------
    loss : geodln loss
        With ``euclidean_gradient`` (or, for factored losses, ``lipschitz_constant``).
    start : array-like, shape=[..., m, n], or FactoredPoint
        Start of the run (end-to-end matrix; a batch gets the smallest member's step).
    metric : int or metric
        A depth N (the plain DLN metric :math:`g^N`) or any object with ``sharp``.
    reference : array-like, shape=[m, n], or float, optional
        A point of the scale the run will reach (e.g. a known solution), or just its largest
        singular value; the step is safe at the larger of the two co-metric norms.
    safety : float
        The factor c in (0, 1].
    lipschitz : float or array-like, shape=[...], optional
        :math:`L` if known (per member or one value; default:
        :func:`gradient_lipschitz_constant`).

    Returns
    -------
    step_size : float

    Raises
    ------
    ValueError
        If ``start``/``reference`` are not finite matrices of the loss's shape, ``metric`` is
        not a depth (an int in ``[1, 10**6]``; deeper is the limit N = inf, which has no finite
        stable step) or a metric, or ``safety`` is not in (0, 1].

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of A).
    .. [2] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1 (step condition).

    Examples
    --------
    >>> import numpy as np, geodln
    >>> loss = geodln.losses.razin_cohen_completion()
    >>> eta = stable_step_size(loss, 1e-2 * np.eye(2), 3, reference=np.ones((2, 2)))
    >>> 0 < eta < 1
    True
    """
    factored = hasattr(start, "u") and hasattr(start, "s")
    x = start if factored else check_matrix(start, "start")
    if isinstance(safety, bool):
        raise ValueError(f"safety must be a number in (0, 1], got {safety!r}")
    safety = check_positive_real(safety, "safety")
    if safety > 1:
        raise ValueError(f"safety must be in (0, 1], got {safety}")
    if not _is_depth(metric) and not callable(getattr(metric, "sharp", None)):
        raise ValueError("metric must be a depth (int >= 1) or a metric with sharp()")
    lam = np.max(cometric_norm(metric, x))
    if reference is not None:
        if np.ndim(reference) == 0:
            sigma = check_positive_real(reference, "reference")
            if _is_depth(metric):  # closed form N σ^(2 − 2/N) from log σ: no m × n array
                ref_lam = float(_depth_cometric_norm(int(metric), sigma))
            else:  # the start's singular vectors at the reference scale
                x0 = x[(0,) * (x.ndim - 2)]
                top = float(_top_singular_value(x0))
                ref = (x0 * (sigma / top) if top > 0
                       else sigma * np.eye(*x0.shape))
                ref_lam = float(np.max(cometric_norm(metric, ref)))
        else:
            shape = (x.shape if factored else x.shape[-2:])
            ref = check_matrix(reference, "reference", shape=tuple(shape[-2:]),
                               allow_batch=False)
            ref_lam = float(np.max(cometric_norm(metric, ref)))
        lam = max(lam, ref_lam)
    lip = float(np.max(gradient_lipschitz_constant(loss, x) if lipschitz is None
                       else _check_lipschitz(lipschitz)))
    if not (lam > 0 and lip > 0 and np.isfinite(lam * lip)):
        raise ValueError("start: the co-metric or the loss curvature vanishes there; pass a "
                         "reference point of the solution's scale")
    return float(2.0 * safety / (lam * lip))


def default_step_size(loss, start, metric, safety=0.5):
    r"""Return the step GD uses by default: :func:`stable_step_size` at :func:`solution_scale`.

    Parameters
    ----------
    loss : geodln loss
        As in :func:`stable_step_size`.
    start : array-like, shape=[..., m, n], or FactoredPoint
        Start of the run (a batch gets one step, safe for every member).
    metric : int or metric
        A depth N or a metric with ``sharp``.
    safety : float
        The factor c in (0, 1].

    Returns
    -------
    step_size : float

    Raises
    ------
    ValueError
        As :func:`stable_step_size`, or when the co-metric and the loss curvature vanish.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1.

    Examples
    --------
    >>> import numpy as np, geodln
    >>> loss = geodln.losses.razin_cohen_completion()
    >>> eta = default_step_size(loss, 1e-3 * np.eye(2), 3)
    >>> scale = 1e-3 + np.sqrt(2 + 1e-6)  # sigma_1(X0) + |P_Omega(X0 - M)|_F, L = 1
    >>> bool(np.isclose(eta, 1 / (3 * scale ** (4 / 3)), rtol=1e-9))
    True
    """
    factored = hasattr(start, "u") and hasattr(start, "s")
    x = start if factored else check_matrix(start, "start")
    lip = gradient_lipschitz_constant(loss, x)  # once, per member
    scale = float(np.max(solution_scale(loss, x, lipschitz=lip)))
    return stable_step_size(loss, x, metric, reference=scale, safety=safety, lipschitz=lip)
