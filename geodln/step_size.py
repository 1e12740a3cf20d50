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
"""

import numpy as np

from geodln._checks import as_generator, check_matrix, check_positive_real

__all__ = ["stable_step_size", "gradient_lipschitz_constant", "cometric_norm"]


def _power_iteration(apply, shape, n_iter, seed):
    rng = as_generator(seed)
    v = rng.standard_normal(shape)
    v /= np.linalg.norm(v)
    estimate = 0.0
    for _ in range(n_iter):
        w = apply(v)
        estimate = float(np.linalg.norm(w))
        if estimate == 0.0 or not np.isfinite(estimate):
            return estimate
        v = w / estimate
    return estimate


def gradient_lipschitz_constant(loss, point, n_iter=50, seed=0):
    r"""Largest absolute Hessian eigenvalue :math:`\|\nabla^2 E(X)\|_2` by power iteration.

    Hessian–vector products are central differences of ``loss.euclidean_gradient``, exact
    (to rounding) for quadratic losses.

    Parameters
    ----------
    loss : geodln loss
        Any object with ``euclidean_gradient(X)`` returning an ``[m, n]`` array.
    point : array-like, shape=[m, n]
        Where the Hessian is evaluated.
    n_iter : int
        Power iterations.
    seed : int
        Start vector of the iteration (fixed for reproducibility).

    Returns
    -------
    lipschitz : float

    Raises
    ------
    ValueError
        If ``point`` is not a finite matrix or ``loss`` has no usable gradient.

    Examples
    --------
    >>> import numpy as np, geodln
    >>> loss = geodln.losses.razin_cohen_completion()
    >>> round(gradient_lipschitz_constant(loss, np.eye(2)), 8)
    1.0
    """
    x = check_matrix(point, "point", allow_batch=False)
    if not callable(getattr(loss, "euclidean_gradient", None)):
        raise ValueError("loss must have a euclidean_gradient(X) method")
    scale = max(np.linalg.norm(x), 1.0)
    eps = 1e-4 * scale

    def grad(y):
        g = loss.euclidean_gradient(y)
        g = g.toarray() if hasattr(g, "toarray") else np.asarray(g, dtype=float)
        return g

    def hvp(v):
        return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)

    return _power_iteration(hvp, x.shape, n_iter, seed)


def cometric_norm(metric, point, n_iter=50, seed=0):
    r"""Largest eigenvalue of the co-metric :math:`A_X` (``metric.sharp``) on all of R^{m×n}.

    Parameters
    ----------
    metric : int or object
        A depth N (plain DLN metric, closed form :math:`N\sigma_1^{2-2/N}`) or an object with
        ``sharp(tangent_vec, base_point)`` (any spectral metric; power iteration).
    point : array-like, shape=[m, n]
    n_iter : int
    seed : int

    Returns
    -------
    lam_max : float

    Raises
    ------
    ValueError
        If ``point`` is not a finite matrix or ``metric`` has no ``sharp``.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}`; the largest is :math:`N\sigma_1^{2-2/N}` for the plain sum).

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
    x = check_matrix(point, "point", allow_batch=False)
    if isinstance(metric, int | np.integer) and not isinstance(metric, bool) and metric >= 1:
        # plain DLN kernel: the largest eigenvalue is k_N(σ1², σ1²) = N σ1^(2 − 2/N)
        # (CMV23, Lemma 2.4), evaluated from log σ1 so that no power overflows
        top = _spectral_norm(x)
        if top == 0:
            return 1.0 if metric == 1 else 0.0
        return float(np.exp(np.log(metric) + (2.0 - 2.0 / metric) * np.log(top)))
    if not callable(getattr(metric, "sharp", None)):
        raise ValueError("metric must be a depth (int >= 1) or have a sharp(tangent_vec, "
                         "base_point) method")
    return _power_iteration(lambda v: np.asarray(metric.sharp(v, x)), x.shape, n_iter, seed)


def _spectral_norm(x):
    """Largest singular value, scaled so that no entry's square overflows or underflows."""
    big = np.max(np.abs(x))
    return 0.0 if big == 0 else float(big * np.linalg.norm(x / big, 2))


def stable_step_size(loss, start, metric, reference=None, safety=0.5):
    r"""Propose a stable fixed GD step :math:`\eta = 2c/(\lambda_{\max}(A_X)\,L)`.

    Parameters
    ----------
    loss : geodln loss
        With ``euclidean_gradient``.
    start : array-like, shape=[m, n]
        Start of the run (end-to-end matrix).
    metric : int or metric
        A depth N (the plain DLN metric :math:`g^N`) or any object with ``sharp``.
    reference : array-like, shape=[m, n], or float, optional
        A point of the scale the run will reach (e.g. a known solution), or — with a depth as
        ``metric`` — just its largest singular value; the step is safe at the larger of the
        two co-metric norms.
    safety : float
        The factor c in (0, 1].

    Returns
    -------
    step_size : float

    Raises
    ------
    ValueError
        If ``start``/``reference`` are not finite matrices of the loss's shape, ``metric`` is
        not a depth or a metric, or ``safety`` is not in (0, 1].

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
    x = check_matrix(start, "start", allow_batch=False)
    safety = check_positive_real(safety, "safety")
    if safety > 1:
        raise ValueError(f"safety must be in (0, 1], got {safety}")
    if isinstance(metric, bool) or (isinstance(metric, int | np.integer) and metric < 1):
        raise ValueError("metric must be a depth (int >= 1) or a metric with sharp()")
    lam = cometric_norm(metric, x)
    if reference is not None:
        if np.ndim(reference) == 0 and isinstance(metric, int | np.integer):
            # closed form N σ^(2 − 2/N) from log σ: no m × n array, no SVD
            sigma = check_positive_real(reference, "reference")
            lam = max(lam, float(np.exp(np.log(metric) + (2.0 - 2.0 / metric) * np.log(sigma))))
        else:
            ref = check_matrix(reference, "reference", shape=x.shape, allow_batch=False)
            lam = max(lam, cometric_norm(metric, ref))
    lip = gradient_lipschitz_constant(loss, x)
    if not (lam > 0 and lip > 0 and np.isfinite(lam * lip)):
        raise ValueError("start: the co-metric or the loss curvature vanishes there; pass a "
                         "reference point of the solution's scale")
    return 2.0 * safety / (lam * lip)
