"""Input validation shared by every public entry point: clear ``ValueError`` naming the argument."""

import numbers

import numpy as np


def check_depth(depth, name="depth", allow_inf=True):
    """Return ``depth`` as an ``int`` >= 1, or ``numpy.inf`` when allowed.

    Raises
    ------
    ValueError
        If ``depth`` is not a positive integer (or ``inf`` when ``allow_inf``).
    """
    if isinstance(depth, bool):
        raise ValueError(f"{name} must be an integer >= 1 or numpy.inf, got {depth!r}")
    if isinstance(depth, numbers.Real) and np.isposinf(depth):
        if not allow_inf:
            raise ValueError(f"{name} must be a finite integer >= 1 here, got inf")
        return np.inf
    if isinstance(depth, numbers.Integral) or (
        isinstance(depth, numbers.Real) and np.isfinite(depth) and float(depth).is_integer()
    ):
        if int(depth) >= 1:
            return int(depth)
    raise ValueError(
        f"{name} must be an integer >= 1" + (" or numpy.inf" if allow_inf else "")
        + f", got {depth!r}"
    )


def check_positive_int(value, name, minimum=1):
    """Return ``value`` as an ``int`` >= ``minimum`` or raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not isinstance(value, numbers.Integral | np.integer):
        if not (isinstance(value, numbers.Real) and float(value).is_integer()):
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_matrix(x, name, shape=None, allow_batch=True):
    """Return ``x`` as a float array of matrices ``[..., m, n]``, finite, of the given shape.

    Parameters
    ----------
    x : array-like
        The input.
    name : str
        Argument name used in the error message.
    shape : tuple of int, optional
        Expected trailing ``(m, n)``.
    allow_batch : bool
        Whether leading batch axes are allowed.

    Raises
    ------
    ValueError
        On wrong number of axes, wrong trailing shape, or NaN/inf entries.
    """
    arr = as_real_array(x, name)
    if arr.ndim < 2 or (not allow_batch and arr.ndim != 2):
        expected = "[..., m, n]" if allow_batch else "[m, n]"
        raise ValueError(f"{name} must have shape {expected}, got shape {arr.shape}")
    if shape is not None and tuple(arr.shape[-2:]) != tuple(shape):
        raise ValueError(
            f"{name} must have trailing shape {tuple(shape)}, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr


def as_real_array(x, name):
    """Return ``x`` as a float array, refusing what is not a real numeric array.

    Parameters
    ----------
    x : array-like
        The input.
    name : str
        Public argument name used in the error message.

    Returns
    -------
    array : ndarray of float

    Raises
    ------
    ValueError
        If ``x`` is ragged, complex, boolean (bools are not numbers), of dtype object or
        string, or not array-like.

    Examples
    --------
    >>> as_real_array([1, 2], "values")
    array([1., 2.])
    >>> as_real_array([1j], "values")
    Traceback (most recent call last):
    ...
    ValueError: values must be a real numeric array, got dtype complex128
    """
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real numeric array ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(float, copy=False)


def check_finite(x, name):
    """Return ``x`` as a float array with only finite entries, else raise ``ValueError``.

    Parameters
    ----------
    x : array-like
        The input.
    name : str
        Public argument name used in the error message.

    Returns
    -------
    array : ndarray of float

    Raises
    ------
    ValueError
        If ``x`` is not a real numeric array (see :func:`as_real_array`) or has NaN/inf.

    Examples
    --------
    >>> check_finite([1.0, float("nan")], "values")
    Traceback (most recent call last):
    ...
    ValueError: values contains NaN or inf entries
    """
    arr = as_real_array(x, name)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr


def check_rank(rank, m, n, name="rank"):
    """Return ``rank`` as an int with ``1 <= rank <= min(m, n)``."""
    rank = check_positive_int(rank, name)
    if rank > min(m, n):
        raise ValueError(f"{name} must be <= min(m, n) = {min(m, n)}, got {rank}")
    return rank


def check_square(x, name):
    """Return ``x`` as finite square matrices ``[..., d, d]`` (:func:`check_matrix` + square)."""
    x = check_matrix(x, name)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{name} must be square [..., d, d], got shape {x.shape}")
    return x


def check_positive_real(value, name):
    """Return ``value`` as a positive finite ``float`` or raise ``ValueError`` naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def as_generator(seed, name="seed"):
    """Return a numpy ``Generator`` from None, an int, a ``SeedSequence`` or a ``Generator``.

    A ``Generator`` is returned unchanged (numpy's ``default_rng`` semantics), so callers can
    thread one stream through several functions.

    Raises
    ------
    ValueError
        If ``seed`` is none of these.
    """
    if isinstance(seed, bool):
        raise ValueError(
            f"{name} must be None, an int, a SeedSequence or a Generator, got {seed!r}"
        )
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be None, an int, a SeedSequence or a Generator, got {seed!r}"
        ) from exc
