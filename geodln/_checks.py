"""Input validation shared by every public entry point: clear ``ValueError`` naming the argument."""

import numbers

import numpy as np

#: largest finite depth accepted (a deeper network is the infinite-depth limit ``numpy.inf``)
MAX_DEPTH = 10**6

#: largest count accepted for sizes, numbers of steps, runs or chains: LAPACK's 32-bit index limit
#: (a matrix dimension beyond it cannot be factorised; a count beyond it would run for days)
MAX_COUNT = 2**31 - 1

#: largest recording interval or step limit (``Every(2**53)`` means "first and last only")
MAX_STEPS = 2**62


def real_scalar(value):
    """Return ``value`` as a Python float if it is a real non-bool scalar, else None.

    Integers too large for a float become ``±inf`` (never an ``OverflowError``).

    Parameters
    ----------
    value : object
        Candidate number.

    Returns
    -------
    value : float or None

    Examples
    --------
    >>> real_scalar(3), real_scalar(True), real_scalar(10**400)
    (3.0, None, inf)
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return float("inf") if value > 0 else float("-inf")


def check_depth(depth, name="depth", allow_inf=True):
    """Return ``depth`` as an ``int`` in ``[1, MAX_DEPTH]``, or ``numpy.inf`` when allowed.

    Parameters
    ----------
    depth : int or numpy.inf
        Number of factors N.
    name : str
        Public argument name used in the error message.
    allow_inf : bool
        Whether the infinite-depth limit is accepted.

    Returns
    -------
    depth : int or float
        ``int`` N, or ``numpy.inf``.

    Raises
    ------
    ValueError
        If ``depth`` is a bool, not an integer, < 1, > ``MAX_DEPTH`` (use ``numpy.inf``), or
        ``inf`` when not ``allow_inf``.

    Examples
    --------
    >>> check_depth(3.0), check_depth(float("inf"))
    (3, inf)
    """
    value = real_scalar(depth)
    if value is not None and value == float("inf") and not isinstance(depth, numbers.Integral):
        if not allow_inf:
            raise ValueError(f"{name} must be a finite integer >= 1 here, got inf")
        return np.inf
    expected = f"{name} must be an integer in [1, {MAX_DEPTH}]" + (
        " or numpy.inf" if allow_inf else "")
    if value is None or not np.isfinite(value) or not value.is_integer():
        raise ValueError(f"{expected}, got {depth!r}")
    if not 1 <= int(depth) <= MAX_DEPTH:
        raise ValueError(f"{expected}, got {depth!r}")
    return int(depth)


def check_bool(value, name):
    """Return ``value`` as a ``bool``; only ``True``/``False`` (Python or numpy) are accepted.

    Parameters
    ----------
    value : bool
        The flag.
    name : str
        Public argument name used in the error message.

    Returns
    -------
    flag : bool

    Raises
    ------
    ValueError
        If ``value`` is not a bool (numbers, arrays and strings are refused).

    Examples
    --------
    >>> check_bool(True, "normalized")
    True
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {_short(value)}")
    return bool(value)


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices`` (compared safely: arrays never match).

    Parameters
    ----------
    value : object
        The option.
    name : str
        Public argument name used in the error message.
    choices : sequence
        Allowed values (strings, None...).

    Returns
    -------
    value : object

    Raises
    ------
    ValueError
        If ``value`` is not one of ``choices``.

    Examples
    --------
    >>> check_choice("root", "scheme", ("root", "entries"))
    'root'
    """
    if isinstance(value, str | type(None)) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {_short(value)}")


def _short(value):
    """Return a short repr for error messages (arrays by shape and dtype)."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_positive_int(value, name, minimum=1, maximum=MAX_COUNT):
    """Return ``value`` as an ``int`` in ``[minimum, maximum]`` or raise ``ValueError``.

    Parameters
    ----------
    value : int
        The count (an integral float is accepted; bools, NaN, inf and fractions are not).
    name : str
        Public argument name used in the error message.
    minimum, maximum : int
        Accepted range (default ``[1, 2**31 - 1]``).

    Returns
    -------
    value : int

    Raises
    ------
    ValueError
        If ``value`` is not an integer in the range.

    Examples
    --------
    >>> check_positive_int(3.0, "n_steps")
    3
    """
    ok = not isinstance(value, bool | np.bool_) and (
        isinstance(value, numbers.Integral)
        or (real_scalar(value) is not None and np.isfinite(real_scalar(value))
            and real_scalar(value).is_integer())
    )
    if not ok or not minimum <= int(value) <= maximum:
        big = real_scalar(value)
        upper = f" and <= {maximum}" if big is not None and big > maximum else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {_short(value)}")
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


def as_array(x, name):
    """Return ``numpy.asarray(x)``; a ragged or unconvertible input raises ``ValueError``.

    numpy's own error for nested lists of unequal lengths ("inhomogeneous shape") does not say
    which argument was ragged: this one names it.

    Parameters
    ----------
    x : array-like
        The input.
    name : str
        Public argument name used in the error message.

    Returns
    -------
    array : ndarray
        Of numpy's dtype for ``x`` (no conversion to float; see :func:`as_real_array`).

    Raises
    ------
    ValueError
        If ``x`` is ragged (nested sequences of unequal lengths) or numpy cannot convert it.

    Examples
    --------
    >>> as_array([[1, 2], [3, 4]], "X0").shape
    (2, 2)
    >>> as_array([[1.0], [1.0, 2.0]], "X0")
    Traceback (most recent call last):
    ...
    ValueError: X0 must be a rectangular array (nested sequences of equal lengths), ...
    """
    try:
        return np.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a rectangular array (nested sequences of equal "
                         f"lengths), got {_short(x)} ({exc})") from None


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
    arr = as_array(x, name)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(float, copy=False)


def is_factor_list(start):
    """Whether a start is a factor list ``[W_1, ..., W_N]`` rather than one matrix array-like.

    A list or tuple is a factor list when one of its elements is itself a matrix (an
    array-like with at least 2 axes); a nested list of numbers such as ``[[1.0, 0.2], [0.0,
    1.0]]`` (the rows of one matrix) is a matrix, converted like any array-like. A batch of
    matrices must therefore be an ndarray ``[B, m, n]``: a list of matrices is read as factors.

    Parameters
    ----------
    start : object
        The start as the caller gave it.

    Returns
    -------
    is_factors : bool

    Examples
    --------
    >>> is_factor_list([[1.0, 0.2], [0.0, 1.0]]), is_factor_list([np.eye(2), np.eye(2)])
    (False, True)
    """
    if not isinstance(start, list | tuple):
        return False

    def axes(element):
        try:
            return np.ndim(element)
        except (TypeError, ValueError):  # a ragged element: let the factor check name it
            return 2

    return len(start) == 0 or any(axes(w) >= 2 for w in start)


def check_start_loss(loss_values, start="X0"):
    """Raise ``ValueError`` naming ``loss`` if the loss is not finite at a start.

    An infinite value of a finite start is an overflow of the true loss (beyond ~1.8e308; for a
    completion loss, observed values ~1e200 give residuals whose squares overflow): the message
    says so and names the data to rescale. NaN is reported as such.

    Parameters
    ----------
    loss_values : array-like, shape=[B] or []
        E at the start of each member.
    start : str
        Public name of the start in the message.

    Raises
    ------
    ValueError
        If some value is NaN or ``±inf``.

    Examples
    --------
    >>> check_start_loss([1.0, float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: loss overflowed at the start of member(s) [1]: E(X0) = inf ...
    """
    values = np.atleast_1d(np.asarray(loss_values, dtype=float))
    bad = ~np.isfinite(values)
    if not np.any(bad):
        return
    where = f" of member(s) {np.flatnonzero(bad)[:5].tolist()}" if values.size > 1 else ""
    first = float(values[bad][0])
    if np.isinf(first):
        raise ValueError(
            f"loss overflowed at the start{where}: E({start}) = {first} (the true value exceeds "
            "the float range ~1.8e308). Rescale the data the loss is built from (e.g. the "
            f"observed `values` of a MatrixCompletion, the targets) and {start} by a common "
            "factor c: E scales by c**2"
        )
    raise ValueError(f"loss is not finite at the start{where} (E({start}) = {first})")


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
    """Return ``value`` as a positive finite ``float`` or raise ``ValueError`` naming ``name``.

    Parameters
    ----------
    value : float
        The number (bools are not numbers).
    name : str
        Public argument name used in the error message.

    Returns
    -------
    value : float

    Raises
    ------
    ValueError
        If ``value`` is not a real number in ``(0, inf)``.

    Examples
    --------
    >>> check_positive_real(2, "step_size")
    2.0
    """
    real = real_scalar(value)
    if real is None or not np.isfinite(real) or real <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {_short(value)}")
    return real


def check_finite_real(value, name):
    """Return ``value`` as a finite ``float`` or raise ``ValueError`` naming ``name``.

    Parameters
    ----------
    value : float
        The number (bools, Python or numpy, are not numbers; strings are not either).
    name : str
        Public argument name used in the error message.

    Returns
    -------
    value : float

    Raises
    ------
    ValueError
        If ``value`` is not a finite real number.

    Examples
    --------
    >>> check_finite_real(-0.5, "power")
    -0.5
    >>> check_finite_real("2", "power")
    Traceback (most recent call last):
    ...
    ValueError: power must be a finite real number, got '2'
    """
    real = real_scalar(value)
    if real is None or not np.isfinite(real):
        raise ValueError(f"{name} must be a finite real number, got {_short(value)}")
    return real


def check_nonnegative_real(value, name, allow_inf=False):
    """Return ``value`` as a ``float`` >= 0 (finite unless ``allow_inf``), else ``ValueError``.

    Parameters
    ----------
    value : float
        The number (bools are not numbers).
    name : str
        Public argument name used in the error message.
    allow_inf : bool
        Accept ``+inf`` (e.g. "no bound").

    Returns
    -------
    value : float

    Raises
    ------
    ValueError
        If ``value`` is not a real number >= 0, is NaN, or is inf when not allowed.

    Examples
    --------
    >>> check_nonnegative_real(0, "noise")
    0.0
    """
    real = real_scalar(value)
    if real is None or np.isnan(real) or real < 0 or (np.isinf(real) and not allow_inf):
        kind = "number >= 0" + (" or inf" if allow_inf else " (finite)")
        raise ValueError(f"{name} must be a real {kind}, got {_short(value)}")
    return real


def as_generator(seed, name="seed", *, global_state=False):
    """Return a numpy ``Generator`` from None, an int, a ``SeedSequence`` or a ``Generator``.

    A ``Generator`` is returned unchanged (numpy's ``default_rng`` semantics), so callers can
    thread one stream through several functions.

    Parameters
    ----------
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        The seed.
    name : str
        Public name of the argument (for the error message).
    global_state : bool
        What ``seed=None`` means: fresh OS entropy (False, the default) or a draw from numpy's
        global state (True; the spaces use it so that ``geomstats.backend.random.seed``, which
        geomstats' test cases call, keeps their random points reproducible).

    Returns
    -------
    generator : numpy.random.Generator

    Raises
    ------
    ValueError
        If ``seed`` is none of these.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln._checks import as_generator
    >>> float(as_generator(0).random()) == float(np.random.default_rng(0).random())
    True
    >>> np.random.seed(1); a = as_generator(None, global_state=True).random()
    >>> np.random.seed(1); b = as_generator(None, global_state=True).random()
    >>> bool(a == b)
    True
    """
    if isinstance(seed, bool | np.bool_):
        raise ValueError(
            f"{name} must be None, an int, a SeedSequence or a Generator, got {seed!r}"
        )
    if seed is None and global_state:
        return np.random.default_rng(np.random.randint(0, 2**63 - 1))
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be None, an int, a SeedSequence or a Generator, got {seed!r}"
        ) from exc


def check_fraction(value, name):
    """Return ``value`` as a ``float`` in ``(0, 1]`` or raise ``ValueError`` naming ``name``.

    Parameters
    ----------
    value : float
        A fraction (bools, Python or numpy, are not numbers).
    name : str
        Public argument name used in the error message.

    Returns
    -------
    value : float

    Raises
    ------
    ValueError
        If ``value`` is not a real number in ``(0, 1]``.

    Examples
    --------
    >>> check_fraction(0.5, "fraction")
    0.5
    >>> check_fraction(True, "fraction")
    Traceback (most recent call last):
    ...
    ValueError: fraction must be a number in (0, 1], got True
    """
    real = real_scalar(value)
    if real is None or not 0 < real <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {_short(value)}")
    return real


def check_step_sizes(step_size, name="step_size", batch=None):
    """Return one step ``η > 0`` (a float) or one per member (a 1-d float array).

    Parameters
    ----------
    step_size : float or array-like, shape=[B]
        The step(s), as the caller gave them (bools are not numbers).
    name : str
        Public argument name used in the error message.
    batch : int or None
        Number of members of the batched start, or None for an unbatched start (which takes
        one step only).

    Returns
    -------
    eta : float or ndarray, shape=[B]

    Raises
    ------
    ValueError
        If ``step_size`` is not a positive finite number or a 1-d array of them (ragged, bool,
        complex...), or an array does not have one entry per member of the batch.

    Examples
    --------
    >>> check_step_sizes(0.1)
    0.1
    >>> check_step_sizes([0.1, 0.2], batch=2).tolist()
    [0.1, 0.2]
    >>> check_step_sizes([0.1, 0.2])
    Traceback (most recent call last):
    ...
    ValueError: step_size has 2 entries; a per-member step needs a batched start ... (got one)
    """
    arr = as_array(step_size, name)
    if arr.ndim == 0:
        return check_positive_real(arr.item() if arr.dtype.kind in "iuf" else step_size, name)
    if (arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf"
            or not np.all(np.isfinite(arr)) or np.any(arr <= 0)):
        raise ValueError(f"{name} must be a positive finite number or a 1-d array of them "
                         f"(one per member), got {_short(step_size)}")
    if batch is None or arr.size != batch:
        raise ValueError(f"{name} has {arr.size} entries; a per-member step needs a batched "
                         f"start of as many members (got {'one' if batch is None else batch})")
    return arr.astype(float)


def check_batch_shapes(**arrays):
    """Raise ``ValueError`` naming the arguments whose batch axes ``[...]`` do not broadcast.

    Each argument is a matrix or a batch of matrices ``[..., m, n]``; their leading batch
    shapes must broadcast together (equal, or 1, or absent), as numpy's own rules would
    apply them later, but with an error that names the arguments.

    Parameters
    ----------
    **arrays : array-like, shape=[..., m, n]
        The arguments by their public names.

    Raises
    ------
    ValueError
        If an argument is ragged, or two batch shapes do not broadcast.

    Examples
    --------
    >>> check_batch_shapes(tangent_vec=np.ones((2, 3, 3)), base_point=np.ones((3, 3)))
    >>> check_batch_shapes(tangent_vec=np.ones((2, 3, 3)), base_point=np.ones((3, 3, 3)))
    Traceback (most recent call last):
    ...
    ValueError: tangent_vec has batch shape (2,) and base_point batch shape (3,): ...
    """
    batches = {name: as_array(x, name).shape[:-2] for name, x in arrays.items()}
    names = list(batches)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            try:
                np.broadcast_shapes(batches[first], batches[second])
            except ValueError:
                raise ValueError(
                    f"{first} has batch shape {batches[first]} and {second} batch shape "
                    f"{batches[second]}: the batch axes [...] of [..., m, n] must be equal "
                    "(or 1, or absent)") from None


def check_symmetric_kernel(func, name="func"):
    """Raise ``ValueError`` naming ``name`` if ``func(a, b) != func(b, a)`` at sample points.

    The kernel :math:`k(\\sigma_i^2, \\sigma_j^2)` of a spectral co-metric multiplies the
    entry :math:`(i, j)` of :math:`U^\\top Z V`; symmetry in its two arguments is what makes
    the co-metric self-adjoint (CMV23, Lemma 2.4). The check evaluates ``func`` on a few
    positive sample pairs; where it raises or returns non-finite values nothing is decided
    here (the kernel's own evaluation reports that when it is used).

    Parameters
    ----------
    func : callable
        ``func(a, b) -> array``, elementwise on arrays of squared singular values.
    name : str
        Public argument name used in the error message.

    Raises
    ------
    ValueError
        If ``func`` is not symmetric (relative difference above 1e-8) at a sample pair.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

    Examples
    --------
    >>> check_symmetric_kernel(lambda a, b: a * b)
    >>> check_symmetric_kernel(lambda a, b: a + 2 * b)
    Traceback (most recent call last):
    ...
    ValueError: func must be symmetric, func(a, b) = func(b, a) (the kernel of a co-metric), ...
    """
    a = np.array([0.25, 1.0, 3.5, 0.01])
    b = np.array([2.0, 0.5, 1.0, 7.0])
    try:
        with np.errstate(all="ignore"):
            ab = np.asarray(func(a, b), dtype=float)
            ba = np.asarray(func(b, a), dtype=float)
            ab, ba = np.broadcast_arrays(ab, ba, a)[:2]
    except Exception:  # noqa: BLE001 - a failing kernel is reported where it is evaluated
        return
    ok = np.isfinite(ab) & np.isfinite(ba)
    bad = ok & (np.abs(ab - ba) > 1e-8 * np.maximum(np.abs(ab), np.abs(ba)))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        label = getattr(func, "__name__", type(func).__name__)
        raise ValueError(
            f"{name} must be symmetric, {name}(a, b) = {name}(b, a) (the kernel of a "
            f"co-metric), but {label}({a[i]:g}, {b[i]:g}) = {ab[i]:.6g} and "
            f"{label}({b[i]:g}, {a[i]:g}) = {ba[i]:.6g}")
