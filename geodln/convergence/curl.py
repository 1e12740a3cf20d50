r"""Curl of the end-to-end velocity field: depth is not a regulariser.

Arora, Cohen, Hazan (ACH18, Theorem 2) prove that for depth N >= 2 the end-to-end dynamics
:math:`\dot X = F(X) = -A_{N,X}(\nabla E(X))` is not the gradient flow (Euclidean, on the
entries of X) of any function: no regulariser R makes :math:`F = -\nabla(E + R)`. A smooth
field is a Euclidean gradient iff its Jacobian is symmetric (zero curl), so the numerical test
is the asymmetry of the Jacobian :math:`J = \partial\,\mathrm{vec}F / \partial\,\mathrm{vec}X`
in the Frobenius inner product: :math:`\|J - J^\top\|_F / \|J\|_F` vanishes (to round-off)
for N = 1, where :math:`F = -\nabla E`, and is of order one at generic X for N >= 2.
"""

import numpy as np

from geodln._checks import check_matrix, check_positive_real
from geodln.convergence.end_to_end import preconditioned_gradient

__all__ = ["end_to_end_velocity", "velocity_jacobian", "curl_asymmetry"]


def _gradient_of(loss):
    if not hasattr(loss, "euclidean_gradient") or not hasattr(loss, "shape"):
        raise ValueError(
            f"loss must be a geodln.losses.Loss with euclidean_gradient, got {type(loss).__name__}"
        )
    return loss.euclidean_gradient


def end_to_end_velocity(loss, X, depth):
    r"""Return the end-to-end velocity :math:`F(X) = -A_{N,X}(\nabla E(X))`, batched.

    Parameters
    ----------
    loss : geodln.losses.Loss
        The loss E.
    X : array-like, shape=[..., m, n]
        Points.
    depth : int
        Depth N >= 1.

    Returns
    -------
    velocity : ndarray, shape=[..., m, n]

    Raises
    ------
    ValueError
        If ``loss`` is not a Loss, X does not match its shape, or depth is invalid.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import end_to_end_velocity
    >>> from geodln.losses import LeastSquares
    >>> loss = LeastSquares(np.eye(1), np.array([[2.0]]))
    >>> end_to_end_velocity(loss, np.array([[1.0]]), 2)  # -2 * 1 * (1 - 2)
    array([[2.]])
    """
    grad = _gradient_of(loss)
    x = check_matrix(X, "X", shape=loss.shape)
    return -preconditioned_gradient(x, grad(x), depth)


def velocity_jacobian(loss, X, depth, step=1e-6):
    r"""Jacobian of :math:`\mathrm{vec}F` at X by central differences, batched.

    All :math:`2mn` perturbed points of the whole batch are evaluated in one vectorised call.

    Parameters
    ----------
    loss : geodln.losses.Loss
        The loss E.
    X : array-like, shape=[..., m, n]
        Points (generic: distinct non-zero singular values).
    depth : int
        Depth N >= 1.
    step : float
        Relative difference step (times :math:`\max(1, \|X\|_F)`).

    Returns
    -------
    jacobian : ndarray, shape=[..., m*n, m*n]
        ``jacobian[..., i, j]`` = derivative of entry i of vec F (row-major) along entry j.

    Raises
    ------
    ValueError
        If an argument is invalid (see :func:`end_to_end_velocity`) or ``step`` <= 0.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 2.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import velocity_jacobian
    >>> from geodln.losses import LeastSquares
    >>> loss = LeastSquares(np.eye(2), np.eye(2))
    >>> bool(np.allclose(velocity_jacobian(loss, np.diag([2.0, 1.0]), 1), -np.eye(4)))
    True
    """
    _gradient_of(loss)
    x = check_matrix(X, "X", shape=loss.shape)
    h = check_positive_real(step, "step") * np.maximum(
        1.0, np.linalg.norm(x, axis=(-2, -1)))[..., None, None, None]
    m, n = x.shape[-2:]
    d = m * n
    basis = np.eye(d).reshape(d, m, n)
    plus = x[..., None, :, :] + h * basis
    minus = x[..., None, :, :] - h * basis
    f = end_to_end_velocity(loss, np.concatenate([plus, minus], axis=-3), depth)
    diff = (f[..., :d, :, :] - f[..., d:, :, :]) / (2 * h)
    return np.swapaxes(diff.reshape(x.shape[:-2] + (d, d)), -1, -2)


def curl_asymmetry(loss, X, depth, step=1e-6):
    r"""Relative curl :math:`\|J - J^\top\|_F / \|J\|_F` of the end-to-end velocity field.

    Zero (to finite-difference error, ~1e-9) iff the field is locally a Euclidean gradient;
    ACH18 Theorem 2 predicts 0 for N = 1 and a non-zero value for N >= 2 at generic X.

    Parameters
    ----------
    loss : geodln.losses.Loss
        The loss E.
    X : array-like, shape=[..., m, n]
        Points.
    depth : int
        Depth N >= 1.
    step : float
        Relative difference step.

    Returns
    -------
    asymmetry : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If an argument is invalid (see :func:`velocity_jacobian`).

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 2.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import curl_asymmetry
    >>> from geodln.losses import LeastSquares
    >>> loss = LeastSquares(np.eye(2), np.array([[1.0, 2.0], [0.0, 1.0]]))
    >>> x = np.array([[1.0, 0.3], [0.2, 2.0]])
    >>> bool(curl_asymmetry(loss, x, 1) < 1e-8), bool(curl_asymmetry(loss, x, 3) > 1e-3)
    (True, True)
    """
    jac = velocity_jacobian(loss, X, depth, step)
    skew = np.linalg.norm(jac - np.swapaxes(jac, -1, -2), axis=(-2, -1))
    out = skew / np.maximum(np.linalg.norm(jac, axis=(-2, -1)), np.finfo(float).tiny)
    return out if out.ndim else float(out)
