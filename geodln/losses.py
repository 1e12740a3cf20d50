r"""Training losses on the end-to-end matrix, with their Euclidean gradients: the loss protocol.

Every loss is a function :math:`E(X)` of the end-to-end matrix :math:`X \in \mathbb{R}^{m\times n}`
with the Razin–Cohen (RC20) convention :math:`E = \tfrac12 \sum (\text{residual})^2`.

**The loss protocol** (what every integrator of :mod:`geodln.flows` uses, and nothing else):

- ``loss.shape`` — ``(m, n)``;
- ``loss.value(X)`` — :math:`E(X)` for ``X`` of shape ``[..., m, n]``, returns ``[...]``;
- ``loss.euclidean_gradient(X)`` — :math:`\nabla E(X)`, ``[..., m, n]`` (dense here; the
  factored losses of :mod:`geodln.lowrank` return sparse or low-rank operators that their
  factored state consumes);
- ``loss.value_and_gradient(X)`` — optional, both at once (a shared residual); the base class
  provides it from the two methods above.

All three are batched over leading axes. The values are exact at any scale of the residuals
(the sum of squares is rescaled by a power of 2 when it would over- or underflow) and ``inf``,
without a numpy warning, only where the true value exceeds the float range; the integrators
then refuse the start with a ``ValueError`` that says the loss overflowed. A plain callable is
always :math:`E(X)` itself: wrap it with :func:`as_loss` (the flows do this for you), which
differentiates it with autograd.

- :class:`MatrixCompletion` — observed entries :math:`\Omega`,
  :math:`E(X) = \tfrac12\sum_{(i,j)\in\Omega}(X_{ij} - b_{ij})^2`;
- :class:`MatrixSensing` — measurement matrices :math:`A_i`,
  :math:`E(X) = \tfrac12\sum_i(\langle A_i, X\rangle - y_i)^2`;
- :class:`LeastSquares` — linear regression with inputs :math:`X_{in}` (one column per example)
  and targets :math:`Y`, :math:`E(X) = \tfrac12\|X X_{in} - Y\|_F^2` (Saxe, McClelland, Ganguli,
  SMG14; with whitened inputs, :math:`X_{in}X_{in}^\top = I`, it is
  :math:`\tfrac12\|X - \Sigma_{yx}\|_F^2` up to a constant);
- :class:`AutogradLoss` — any user callable :math:`E(X)` written with ``autograd.numpy``,
  gradient by reverse-mode autodiff.
"""


import autograd
import autograd.numpy as anp
import numpy as np

from geodln._checks import (
    as_array,
    as_generator,
    check_finite,
    check_fraction,
    check_matrix,
    check_positive_int,
    check_rank,
)

__all__ = [
    "Loss",
    "MatrixCompletion",
    "MatrixSensing",
    "AutogradLoss",
    "as_loss",
    "LeastSquares",
    "razin_cohen_completion",
    "random_completion",
    "random_sensing",
]


class Loss:
    """Base class of a loss :math:`E(X)` on m×n matrices.

    Subclasses set ``self.shape = (m, n)`` and implement :meth:`_value` and :meth:`_gradient`
    on validated float arrays ``[..., m, n]``.

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``.

    Examples
    --------
    A subclass needs the shape and the two private methods; validation, batching and
    ``value_and_gradient`` come from the base class.

    >>> from geodln.losses import Loss
    >>> class Trace(Loss):
    ...     shape = (2, 2)
    ...     def _value(self, x):
    ...         return np.trace(x, axis1=-2, axis2=-1)
    ...     def _gradient(self, x):
    ...         return np.broadcast_to(np.eye(2), x.shape)
    >>> float(Trace().value(np.diag([1.0, 2.0])))
    3.0
    """

    shape = None
    name = "loss"

    def check_point(self, x, name="X"):
        """Validate a point ``[..., m, n]`` against :attr:`shape` (``ValueError`` naming it).

        Raises
        ------
        ValueError
            If ``x`` is not a finite real array of matrices [..., m, n] of the expected shape.
        """
        return check_matrix(x, name, shape=self.shape)

    def value(self, x):
        """Loss value.

        Parameters
        ----------
        x : array-like, shape=[..., m, n]

        Returns
        -------
        value : float or ndarray, shape=[...]
        """
        return self._value(self.check_point(x))

    def euclidean_gradient(self, x):
        r"""Euclidean gradient :math:`\nabla E(X)`.

        Parameters
        ----------
        x : array-like, shape=[..., m, n]

        Returns
        -------
        grad : ndarray, shape=[..., m, n]
        """
        return self._gradient(self.check_point(x))

    def value_and_gradient(self, x):
        r"""Loss value and Euclidean gradient at once.

        Parameters
        ----------
        x : array-like, shape=[..., m, n]

        Returns
        -------
        value : float or ndarray, shape=[...]
        grad : ndarray, shape=[..., m, n]
        """
        return self._value_and_gradient(self.check_point(x))

    def __call__(self, x):
        """Alias of :meth:`value`."""
        return self.value(x)

    def trusted_value_and_gradient(self, x):
        r"""Loss value and Euclidean gradient of points that are already valid (no checks).

        The integrators validate a start once (:meth:`check_point`) and then call this on their
        own states at every right-hand side, where :meth:`value_and_gradient`'s validation would
        cost more than the arithmetic of a small problem. A subclass that overrides the public
        :meth:`value_and_gradient` (and not :meth:`_value`/:meth:`_gradient`) is called through
        it, so the result is always the public method's.

        Parameters
        ----------
        x : ndarray of float, shape=[..., m, n]
            Finite points of the loss's shape (not checked).

        Returns
        -------
        value : ndarray, shape=[...]
        grad : ndarray, shape=[..., m, n]

        Examples
        --------
        >>> from geodln.losses import razin_cohen_completion
        >>> value, grad = razin_cohen_completion().trusted_value_and_gradient(np.eye(2))
        >>> float(value), grad.tolist()
        (1.5, [[0.0, -1.0], [-1.0, 1.0]])
        """
        if _overrides(self, "value_and_gradient"):
            return self.value_and_gradient(x)
        return self._value_and_gradient(x)

    def trusted_value(self, x):
        r"""Loss value of points that are already valid (no checks).

        See :meth:`trusted_value_and_gradient`; a subclass overriding the public :meth:`value`
        is called through it.

        Parameters
        ----------
        x : ndarray of float, shape=[..., m, n]
            Finite points of the loss's shape (not checked).

        Returns
        -------
        value : ndarray, shape=[...]

        Examples
        --------
        >>> from geodln.losses import razin_cohen_completion
        >>> float(razin_cohen_completion().trusted_value(np.eye(2)))
        1.5
        """
        if _overrides(self, "value"):
            return self.value(x)
        return self._value(x)

    def trusted_gradient(self, x):
        r"""Euclidean gradient of points that are already valid (no checks).

        See :meth:`trusted_value_and_gradient`; a subclass overriding the public
        :meth:`euclidean_gradient` is called through it.

        Parameters
        ----------
        x : ndarray of float, shape=[..., m, n]
            Finite points of the loss's shape (not checked).

        Returns
        -------
        grad : ndarray, shape=[..., m, n]

        Examples
        --------
        >>> from geodln.losses import razin_cohen_completion
        >>> razin_cohen_completion().trusted_gradient(np.eye(2)).tolist()
        [[0.0, -1.0], [-1.0, 1.0]]
        """
        if _overrides(self, "euclidean_gradient"):
            return self.euclidean_gradient(x)
        return self._gradient(x)

    # unchecked versions used by the integrators on their own (already valid) states
    def _value_and_gradient(self, x):
        return self._value(x), self._gradient(x)

    def _value(self, x):
        raise NotImplementedError

    def _gradient(self, x):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape})"


def _residual(fitted, observed):
    """``fitted - observed``; ``±inf`` without a warning where the difference overflows."""
    with np.errstate(over="ignore"):
        return fitted - observed


def _half_sum_squares(r, axes):
    r""":math:`\tfrac12\sum r^2` over ``axes``, exact at any scale of the residuals.

    ``inf`` (no warning) only where the true value exceeds the float range: when the plain
    sum over- or underflows, the residuals are divided by the power of 2 of their largest
    entry first and the scale is restored exactly (``ldexp``).
    """
    with np.errstate(over="ignore", under="ignore"):
        value = 0.5 * np.sum(r * r, axis=axes)
    if np.all((value > 2.0**-968) & (value < 2.0**1000) | (value == 0.0) & ~np.any(r, axis=axes)):
        return value
    with np.errstate(invalid="ignore"):
        top = np.max(np.abs(r), axis=axes, keepdims=True)
        exponent = np.frexp(np.where(np.isfinite(top) & (top > 0), top, 1.0))[1]
        half = 0.5 * np.sum(np.square(np.ldexp(r, -exponent)), axis=axes)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(half, 2 * np.squeeze(exponent, axis=axes))


def _overrides(loss, name):
    """Whether ``type(loss)`` replaces :class:`Loss`'s public method ``name``."""
    return getattr(type(loss), name) is not getattr(Loss, name)


def _shape_arg(shape):
    if shape is None:
        return None
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"shape must be a pair (m, n), got {shape!r}")
    return (check_positive_int(shape[0], "shape[0]"), check_positive_int(shape[1], "shape[1]"))


class MatrixCompletion(Loss):
    r"""Matrix completion loss :math:`E(X) = \tfrac12\sum_{(i,j)\in\Omega}(X_{ij} - b_{ij})^2`.

    Give the observed set either as ``indices=(rows, cols)`` (or an array ``[k, 2]``) with
    ``values`` of length k, or as a boolean ``mask`` [m, n] with ``values`` either of length
    ``mask.sum()`` (row-major order) or a full [m, n] array read at the mask.

    Parameters
    ----------
    indices : tuple of array-like or array-like, optional
        ``(rows, cols)`` of the observed entries (0-based), or an integer array [k, 2].
    values : array-like, shape=[k]
        Observed values :math:`b_{ij}`.
    shape : tuple of int, optional
        ``(m, n)``; required with ``indices``, taken from ``mask`` otherwise.
    mask : array-like of bool, shape=[m, n], optional
        Observed entries.

    Raises
    ------
    ValueError
        If both or neither of ``indices`` and ``mask`` are given, an index is out of range or
        repeated, or ``values`` does not match.

    References
    ----------
    .. [1] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 and Fig. 1 (the 2×2 completion problem;
       loss :math:`\tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` as in their code).

    Examples
    --------
    :math:`E(X) = \tfrac12 \sum_\Omega (X_{ij} - b_{ij})^2`, gradient zero off :math:`\Omega`:

    >>> import geodln
    >>> loss = geodln.MatrixCompletion(indices=([0, 1], [1, 0]), values=[1.0, 2.0], shape=(2, 2))
    >>> X = np.array([[5.0, 0.0], [0.0, 5.0]])
    >>> float(loss.value(X))  # (0 - 1)^2 / 2 + (0 - 2)^2 / 2
    2.5
    >>> loss.euclidean_gradient(X)
    array([[ 0., -1.],
           [-2.,  0.]])
    """

    name = "completion"

    def __init__(self, indices=None, values=None, shape=None, mask=None):
        shape = _shape_arg(shape)
        if (indices is None) == (mask is None):
            raise ValueError("give exactly one of indices=(rows, cols) and mask")
        if values is None:
            raise ValueError("values is required")
        if mask is not None:
            mask = as_array(mask, "mask")
            if mask.dtype != bool or mask.ndim != 2:
                raise ValueError(f"mask must be a 2-d boolean array, got {mask.dtype} {mask.shape}")
            if shape is not None and tuple(shape) != mask.shape:
                raise ValueError(f"shape {shape} does not match mask.shape {mask.shape}")
            shape = mask.shape
            rows, cols = np.nonzero(mask)
            values = check_finite(values, "values")
            if values.shape == mask.shape:
                values = values[rows, cols]
            elif values.shape != (rows.size,):
                raise ValueError(
                    f"values must have shape {mask.shape} or ({rows.size},) for this mask, "
                    f"got {values.shape}"
                )
        else:
            if shape is None:
                raise ValueError("shape=(m, n) is required with indices")
            rows, cols = self._parse_indices(indices)
            values = check_finite(values, "values").reshape(-1)
            if values.shape != rows.shape:
                raise ValueError(
                    f"values must have one entry per observed index ({rows.size}), "
                    f"got shape {values.shape}"
                )
            m, n = shape
            if rows.size and (rows.min() < 0 or rows.max() >= m):
                raise ValueError(f"indices: row index out of range [0, {m})")
            if cols.size and (cols.min() < 0 or cols.max() >= n):
                raise ValueError(f"indices: column index out of range [0, {n})")
            flat = rows * n + cols
            if np.unique(flat).size != flat.size:
                raise ValueError("indices: duplicate observed entries")
        if rows.size == 0:
            raise ValueError("at least one entry must be observed")
        self.shape = tuple(int(s) for s in shape)
        self.rows = np.asarray(rows, dtype=np.intp)
        self.cols = np.asarray(cols, dtype=np.intp)
        self.values = np.asarray(values, dtype=float)

    @staticmethod
    def _parse_indices(indices):
        if isinstance(indices, tuple | list) and len(indices) == 2 and np.ndim(
                as_array(indices[0], "indices")) == 1:
            rows, cols = (as_array(a, "indices") for a in indices)
        else:
            arr = as_array(indices, "indices")
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(
                    f"indices must be (rows, cols) or an integer array [k, 2], got shape "
                    f"{arr.shape}"
                )
            rows, cols = arr[:, 0], arr[:, 1]
        if rows.shape != cols.shape:
            raise ValueError(f"indices: rows and cols differ in length ({rows.size}, {cols.size})")
        for a in (rows, cols):
            if a.size and not (
                np.issubdtype(a.dtype, np.integer)
                or (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)))
            ):
                raise ValueError("indices must be integers")
        return rows.astype(np.intp), cols.astype(np.intp)

    @property
    def mask(self):
        """Boolean mask [m, n] of the observed entries."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.rows, self.cols] = True
        return out

    @property
    def n_observed(self):
        """Number of observed entries."""
        return self.rows.size

    def residuals(self, x):
        """Residuals :math:`X_{ij} - b_{ij}` on the observed set, shape [..., k]."""
        return self.check_point(x)[..., self.rows, self.cols] - self.values

    def _value(self, x):
        return _half_sum_squares(_residual(x[..., self.rows, self.cols], self.values), (-1,))

    def _gradient(self, x):
        g = np.zeros(x.shape)
        g[..., self.rows, self.cols] = x[..., self.rows, self.cols] - self.values
        return g

    def _value_and_gradient(self, x):
        # one residual for both (Loss.value_and_gradient validates, then calls this)
        r = _residual(x[..., self.rows, self.cols], self.values)
        g = np.zeros(x.shape)
        g[..., self.rows, self.cols] = r
        return _half_sum_squares(r, (-1,)), g

    def __repr__(self):
        return f"MatrixCompletion(shape={self.shape}, n_observed={self.n_observed})"


class MatrixSensing(Loss):
    r"""Matrix sensing loss :math:`E(X) = \tfrac12\sum_i(\langle A_i, X\rangle - y_i)^2`.

    Parameters
    ----------
    A : array-like, shape=[k, m, n]
        Measurement matrices.
    y : array-like, shape=[k]
        Measurements.

    Raises
    ------
    ValueError
        If ``A`` is not a finite real array of matrices [..., m, n] of the expected shape; if
        ``y`` is not a finite real array; otherwise with the message ``A must have shape [k, m,
        n], got …``; or ``y must have shape (…,) to match A, got …``.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).

    Examples
    --------
    :math:`E(X) = \tfrac12 \sum_i (\langle A_i, X\rangle - y_i)^2`:

    >>> import geodln
    >>> A = np.stack([np.eye(2), np.array([[0.0, 1.0], [0.0, 0.0]])])
    >>> loss = geodln.MatrixSensing(A, y=[1.0, 0.0])
    >>> float(loss.value(np.diag([2.0, 1.0])))  # (3 - 1)^2 / 2 + (0 - 0)^2 / 2
    2.0
    """

    name = "sensing"

    def __init__(self, A, y):
        A = check_matrix(A, "A")
        if A.ndim != 3:
            raise ValueError(f"A must have shape [k, m, n], got {A.shape}")
        y = check_finite(y, "y")
        if y.shape != (A.shape[0],):
            raise ValueError(f"y must have shape ({A.shape[0]},) to match A, got {y.shape}")
        self.A = A
        self.y = y
        self.shape = A.shape[1:]

    def measure(self, x):
        r"""Measurements :math:`\langle A_i, X\rangle`, shape [..., k]."""
        return np.einsum("kij,...ij->...k", self.A, self.check_point(x))

    def _value(self, x):
        with np.errstate(over="ignore", invalid="ignore"):
            r = np.einsum("kij,...ij->...k", self.A, x) - self.y
        return _half_sum_squares(r, (-1,))

    def _gradient(self, x):
        r = np.einsum("kij,...ij->...k", self.A, x) - self.y
        return np.einsum("...k,kij->...ij", r, self.A)

    def __repr__(self):
        return f"MatrixSensing(shape={self.shape}, n_measurements={self.y.size})"


class AutogradLoss(Loss):
    """A user loss :math:`E(X)`; its Euclidean gradient comes from autograd.

    Parameters
    ----------
    func : callable
        ``func(X) -> scalar`` for one matrix [m, n], written with ``autograd.numpy``.
    shape : tuple of int
        ``(m, n)``.
    name : str, optional
        Label for tables.

    Raises
    ------
    ValueError
        With the message ``func must be callable, got …``; or ``shape=(m, n) is required``.

    Notes
    -----
    Batches ``[..., m, n]`` are evaluated one matrix at a time.

    Examples
    --------
    The Euclidean gradient comes from autograd:

    >>> import autograd.numpy as anp
    >>> import geodln
    >>> loss = geodln.AutogradLoss(lambda X: 0.5 * anp.sum(X**2), shape=(2, 2))
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> bool(np.allclose(loss.euclidean_gradient(X), X))
    True
    """

    def __init__(self, func, shape, name=None):
        if not callable(func):
            raise ValueError(f"func must be callable, got {type(func).__name__}")
        self.shape = _shape_arg(shape)
        if self.shape is None:
            raise ValueError("shape=(m, n) is required")
        self.func = func
        self._grad = autograd.grad(self._scalar)
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string or None, got {type(name).__name__}")
        self.name = name or getattr(func, "__name__", "user loss")

    def _scalar(self, x):
        val = self.func(x)
        if anp.ndim(val) != 0:
            raise ValueError(f"func must return a scalar, got shape {anp.shape(val)}")
        return val

    def _map(self, fn, x, out_shape):
        batch = x.shape[:-2]
        flat = x.reshape((-1,) + self.shape)
        res = np.stack([np.asarray(fn(xi), dtype=float) for xi in flat])
        return res.reshape(batch + out_shape) if batch else res[0]

    def _value(self, x):
        out = self._map(self._scalar, x, ())
        return float(out) if np.ndim(out) == 0 else out

    def _gradient(self, x):
        return self._map(self._grad, x, self.shape)

    def __repr__(self):
        return f"AutogradLoss({self.name!r}, shape={self.shape})"


def as_loss(loss, shape=None):
    """Return ``loss`` as an object of the loss protocol (see the module docstring).

    Parameters
    ----------
    loss : Loss or callable
        A loss object (anything with ``shape``, ``value`` and ``euclidean_gradient``), or a
        plain callable ``E(X) -> scalar`` written with ``autograd.numpy``, which is wrapped in
        :class:`AutogradLoss` (a plain callable is always the loss itself, never its gradient).
    shape : tuple of int, optional
        ``(m, n)``, needed to wrap a plain callable.

    Returns
    -------
    loss : Loss or protocol object

    Raises
    ------
    ValueError
        If ``loss`` is neither, or a plain callable is given without ``shape``.

    References
    ----------
    .. [1] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 and Fig. 1 (the 2×2 completion problem;
       loss :math:`\\tfrac12\\sum_\\Omega (X_{ij} - b_{ij})^2` as in their code).

    Examples
    --------
    >>> import autograd.numpy as anp
    >>> loss = as_loss(lambda x: 0.5 * anp.sum(x**2), (2, 2))
    >>> float(loss.value(np.eye(2)))
    1.0
    """
    if all(hasattr(loss, a) for a in ("shape", "value", "euclidean_gradient")):
        return loss
    if callable(loss):
        if shape is None:
            raise ValueError("loss is a plain callable: its matrix shape (m, n) is unknown")
        return AutogradLoss(loss, shape)
    raise ValueError(
        "loss must be a geodln.losses.Loss (MatrixCompletion, MatrixSensing, AutogradLoss), an "
        f"object with shape/value/euclidean_gradient, or a callable E(X); got {type(loss).__name__}"
    )


# -------------------------------------------------------------------------------------------
# ready-made problems
# -------------------------------------------------------------------------------------------
def razin_cohen_completion():
    r"""Build the Razin–Cohen 2×2 completion problem (RC20, Fig. 1).

    Observed (1-based) :math:`X_{12} = 1`, :math:`X_{21} = 1`, :math:`X_{22} = 0`;
    :math:`X_{11}` is free. Every global minimiser has :math:`\det X = -1`.

    Returns
    -------
    loss : MatrixCompletion

    References
    ----------
    .. [1] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 and Fig. 1 (the 2×2 completion problem;
       loss :math:`\tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` as in their code).

    Examples
    --------
    Every zero-loss matrix has :math:`\det X = -1`, whatever :math:`X_{11}`:

    >>> from geodln.losses import razin_cohen_completion
    >>> loss = razin_cohen_completion()
    >>> x = np.array([[5.0, 1.0], [1.0, 0.0]])
    >>> float(loss.value(x)), float(np.linalg.det(x))
    (0.0, -1.0)
    """
    return MatrixCompletion(indices=([0, 1, 1], [1, 0, 1]), values=[1.0, 1.0, 0.0], shape=(2, 2))


def _ground_truth(shape, rank, rng):
    m, n = shape
    left = rng.standard_normal((m, rank))
    right = rng.standard_normal((n, rank))
    x = left @ right.T
    return x * np.sqrt(rank) / np.linalg.norm(x)  # singular values of root-mean-square 1


def random_completion(shape, rank, fraction=0.5, seed=None):
    r"""Random low-rank completion problem: rank-``rank`` ground truth, :math:`\|X_*\|_F^2 = r`.

    The ground truth is :math:`L R^\top` (Gaussian L, R) rescaled so that its singular values
    have root-mean-square 1 (an O(1) time scale for the flows).

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    rank : int
        Rank of the ground truth.
    fraction : float
        Probability that an entry is observed (at least one entry is always observed).
    seed : int or numpy Generator, optional

    Returns
    -------
    loss : MatrixCompletion
    truth : ndarray, shape=[m, n]

    Raises
    ------
    ValueError
        If ``rank`` is not an integer rank in 1..min(m, n); if ``seed`` is not None, an integer
        seed or a ``numpy.random.Generator``; otherwise with the message ``fraction must be a
        number in (0, 1], got …`` (bools are not numbers).

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).
    .. [2] RC20: Razin, Cohen, arXiv:2005.06398, Section 3 and Fig. 1 (the 2×2 completion problem;
       loss :math:`\tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` as in their code).

    Examples
    --------
    The ground truth is a zero of the loss and has the asked rank and scale:

    >>> from geodln.losses import random_completion
    >>> loss, truth = random_completion((4, 5), 2, fraction=0.5, seed=0)
    >>> float(loss.value(truth)), int(np.linalg.matrix_rank(truth))
    (0.0, 2)
    >>> round(float(np.sum(truth**2)), 12)
    2.0
    """
    shape = _shape_arg(shape)
    rank = check_rank(rank, *shape)
    fraction = check_fraction(fraction, "fraction")
    rng = as_generator(seed)
    truth = _ground_truth(shape, rank, rng)
    mask = rng.random(shape) < fraction
    if not mask.any():
        mask[rng.integers(shape[0]), rng.integers(shape[1])] = True
    return MatrixCompletion(mask=mask, values=truth), truth


def random_sensing(shape, rank, n_measurements, seed=None):
    r"""Random Gaussian sensing problem with a rank-``rank`` ground truth, :math:`\|X_*\|_F^2 = r`.

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    rank : int
        Rank of the ground truth.
    n_measurements : int
        Number k of Gaussian measurement matrices (standard normal entries).
    seed : int or numpy Generator, optional

    Returns
    -------
    loss : MatrixSensing
    truth : ndarray, shape=[m, n]

    Raises
    ------
    ValueError
        If ``rank`` is not an integer rank in 1..min(m, n); if ``n_measurements`` is not an
        integer >= 1 (bools are refused); if ``seed`` is not None, an integer seed or a
        ``numpy.random.Generator``.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Abstract (deep matrix
       factorisation for matrix completion and sensing).

    Examples
    --------
    >>> from geodln.losses import random_sensing
    >>> loss, truth = random_sensing((3, 3), 1, 6, seed=0)
    >>> float(loss.value(truth)), float(loss.value(np.zeros((3, 3)))) > 0
    (0.0, True)
    """
    shape = _shape_arg(shape)
    rank = check_rank(rank, *shape)
    k = check_positive_int(n_measurements, "n_measurements")
    rng = as_generator(seed)
    truth = _ground_truth(shape, rank, rng)
    a = rng.standard_normal((k,) + shape)
    return MatrixSensing(a, np.einsum("kij,ij->k", a, truth)), truth


class LeastSquares(Loss):
    r"""Least-squares regression loss :math:`E(X) = \tfrac12\|X X_{in} - Y\|_F^2`.

    The network maps an input column :math:`x_\mu \in \mathbb{R}^n` to :math:`X x_\mu \in
    \mathbb{R}^m`; ``inputs`` holds the P examples as columns ([n, P]) and ``targets`` the
    outputs ([m, P]). The gradient is :math:`\nabla E(X) = (X X_{in} - Y) X_{in}^\top
    = X\Sigma_{xx} - \Sigma_{yx}` with the (unnormalised) correlations
    :math:`\Sigma_{xx} = X_{in}X_{in}^\top` and :math:`\Sigma_{yx} = Y X_{in}^\top`. With
    whitened inputs (:math:`\Sigma_{xx} = I`) the loss is :math:`\tfrac12\|X - \Sigma_{yx}\|_F^2`
    plus a constant, the setting of the exact solutions of [1]_.

    Values and gradients are computed from the residual :math:`X X_{in} - Y` (no cancellation
    between the expanded quadratic terms near a minimiser), vectorised over a batch
    ``[..., m, n]``.

    Parameters
    ----------
    inputs : array-like, shape=[n, P]
        Input examples as columns.
    targets : array-like, shape=[m, P]
        Target outputs as columns.

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``.
    input_correlation : ndarray, shape=[n, n]
        :math:`\Sigma_{xx} = X_{in}X_{in}^\top`.
    cross_correlation : ndarray, shape=[m, n]
        :math:`\Sigma_{yx} = Y X_{in}^\top`.

    Raises
    ------
    ValueError
        If ``inputs`` or ``targets`` is not a finite 2-d array, or their numbers of columns
        (examples) differ.

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Eq. (1)-(3).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.losses import LeastSquares
    >>> loss = LeastSquares(np.eye(2), np.array([[1.0, 2.0]]))
    >>> float(loss.value(np.zeros((1, 2))))
    2.5
    >>> loss.euclidean_gradient(np.zeros((1, 2)))
    array([[-1., -2.]])
    """

    name = "least squares"

    def __init__(self, inputs, targets):
        inputs = check_matrix(inputs, "inputs", allow_batch=False)
        targets = check_matrix(targets, "targets", allow_batch=False)
        if inputs.shape[1] != targets.shape[1]:
            raise ValueError(
                "inputs [n, P] and targets [m, P] must have the same number P of columns "
                f"(examples), got {inputs.shape} and {targets.shape}"
            )
        self.inputs = inputs
        self.targets = targets
        self.shape = (targets.shape[0], inputs.shape[0])
        self.input_correlation = inputs @ inputs.T
        self.cross_correlation = targets @ inputs.T

    @property
    def n_examples(self):
        """Number P of examples."""
        return self.inputs.shape[1]

    def residuals(self, x):
        r"""Residuals :math:`X X_{in} - Y`, shape [..., m, P]."""
        return self.check_point(x) @ self.inputs - self.targets

    def _value_and_gradient(self, x):
        # one residual for both (Loss.value_and_gradient validates, then calls this)
        with np.errstate(over="ignore", invalid="ignore"):
            r = x @ self.inputs - self.targets
            grad = r @ self.inputs.T
        return _half_sum_squares(r, (-2, -1)), grad

    def _value(self, x):
        with np.errstate(over="ignore", invalid="ignore"):
            r = x @ self.inputs - self.targets
        return _half_sum_squares(r, (-2, -1))

    def _gradient(self, x):
        return (x @ self.inputs - self.targets) @ self.inputs.T

    def __repr__(self):
        return f"LeastSquares(shape={self.shape}, n_examples={self.n_examples})"
