r"""Recorded Langevin paths and the argument handling shared by every Langevin scheme.

:class:`LangevinPath` holds the states of a batch of chains at the recorded times (matrices of
:mod:`geodln.langevin.riemannian` or singular values of :mod:`geodln.langevin.singular_values`)
and is saved through :mod:`geodln.storage`. The helpers here are the pieces every scheme shares:
the seed (int, ``SeedSequence`` or ``Generator``), the broadcast of a start to ``n_chains``
chains, the save schedule (every ``save_every`` steps, plus the last), and the energy argument
(``None``, a :class:`geodln.losses.Loss` or a callable returning :math:`\nabla E`); ``beta`` and
``step_size`` are checked by :func:`geodln._checks.check_positive_real`. The options objects
of the Langevin entry points live here too: :class:`Chains` (how many chains, how often they
are saved, the seed) and :class:`LangevinScheme` (which Riemannian Langevin equation and its
discretisation).

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23); MY = Menon, Yu (MY25).
"""


import numpy as np

from geodln._checks import as_generator, check_bool, check_choice, check_positive_int
from geodln.storage import (
    check_finite_for_status,
    check_record_array,
    check_times,
    load_record,
    save_arrays,
)

__all__ = [
    "LangevinPath",
    "Chains",
    "LangevinScheme",
    "as_generator",
    "broadcast_chains",
    "save_schedule",
    "gradient_function",
    "check_start_gradient",
    "integrate_chains",
    "ChainDivergence",
]

#: What stopped a chain run.
STATUSES = ("completed", "diverged")

KIND = "langevin-path"


def broadcast_chains(x0, n_chains, name, core_ndim=2):
    """Broadcast a start ``[d, d]`` (``[d]`` if ``core_ndim=1``) or ``[B, ...]`` to ``[B, ...]``.

    Parameters
    ----------
    x0 : ndarray, shape=[...] or [B, ...]
        The start, one state or a batch of ``n_chains`` states.
    n_chains : int or None
        Number of chains (None: 1, or the batch size of ``x0``).
    name : str
        Public name of ``x0`` for the error message.
    core_ndim : int
        Number of axes of one state.

    Returns
    -------
    chains : ndarray, shape=[B, ...]

    Raises
    ------
    ValueError
        If ``x0`` has the wrong number of axes or ``n_chains`` does not match its batch.

    Examples
    --------
    >>> import numpy as np
    >>> broadcast_chains(np.eye(2), 3, "X0").shape
    (3, 2, 2)
    """
    core = ", ".join(["d"] * core_ndim)
    if x0.ndim == core_ndim:
        b = 1 if n_chains is None else check_positive_int(n_chains, "n_chains")
        return np.broadcast_to(x0, (b,) + x0.shape).copy()
    if x0.ndim != core_ndim + 1:
        raise ValueError(f"{name} must have shape [{core}] or [n_chains, {core}], got {x0.shape}")
    if n_chains is not None and check_positive_int(n_chains, "n_chains") != x0.shape[0]:
        raise ValueError(f"n_chains={n_chains} does not match {name}.shape[0]={x0.shape[0]}")
    return x0.copy()


class Chains:
    """How a Langevin run is sampled: the number of chains, the save interval and the seed.

    The options object of every Langevin entry point (``chains=Chains(...)``).

    Parameters
    ----------
    n_chains : int, optional
        Number of independent chains when the start is a single point (default: the start's
        own batch, or 1).
    save_every : int, optional
        Record every this many steps (default: the start and the end only).
    seed : int, SeedSequence or numpy Generator, optional
        The noise (None: fresh OS entropy).

    Raises
    ------
    ValueError
        If ``n_chains`` or ``save_every`` is given and is not a positive integer, or ``seed`` is
        not a seed.

    Examples
    --------
    >>> from geodln.langevin import Chains
    >>> Chains(n_chains=4, save_every=10, seed=0)
    Chains(n_chains=4, save_every=10, seed=0)
    """

    def __init__(self, n_chains=None, save_every=None, seed=None):
        if n_chains is not None:
            check_positive_int(n_chains, "n_chains")
        if save_every is not None:
            check_positive_int(save_every, "save_every")
        if isinstance(seed, bool | np.bool_) or not (
                seed is None or isinstance(seed, int | np.integer | np.random.SeedSequence
                                           | np.random.Generator)):
            raise ValueError(f"seed must be None, an int, a SeedSequence or a Generator, got "
                             f"{seed!r}")
        self.n_chains, self.save_every, self.seed = n_chains, save_every, seed

    @classmethod
    def coerce(cls, chains):
        """Return ``chains`` as :class:`Chains` (None: the defaults).

        Raises
        ------
        ValueError
            If ``chains`` is neither None nor a :class:`Chains`.
        """
        if chains is None:
            return cls()
        if not isinstance(chains, cls):
            raise ValueError(f"chains must be a Chains(n_chains=..., save_every=..., seed=...), "
                             f"got {chains!r}")
        return chains

    def __repr__(self):
        return (f"Chains(n_chains={self.n_chains!r}, save_every={self.save_every!r}, "
                f"seed={self.seed!r})")


class LangevinScheme:
    r"""Which Riemannian Langevin equation, and how it is discretised.

    Parameters
    ----------
    method : {"root", "entries"}
        Euler–Maruyama in the root chart (default) or in the entries of X.
    normalized : bool
        CMV convention :math:`A/N` (time runs N times slower than with the plain sum).
    entropic : bool
        Add :math:`+\tfrac1\beta\mathrm{grad}_{g^N}\log\mathrm{vol}(O_X)` (free energy
        :math:`F_\beta = E - S/\beta`, Menon–Yu entropy of :mod:`geodln.entropy`).

    Raises
    ------
    ValueError
        If ``method`` is unknown or a flag is not a bool.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the normalised
       co-metric :math:`A_{N,X}/N` of ``normalized=True``).
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (the orbit volume behind
       ``entropic=True``).

    Examples
    --------
    >>> from geodln.langevin import LangevinScheme
    >>> LangevinScheme("entries", normalized=True)
    LangevinScheme(method='entries', normalized=True, entropic=False)
    """

    METHODS = ("root", "entries")

    def __init__(self, method="root", normalized=False, entropic=False):
        check_choice(method, "method", self.METHODS)
        self.method = method
        self.normalized = check_bool(normalized, "normalized")
        self.entropic = check_bool(entropic, "entropic")

    @classmethod
    def coerce(cls, scheme):
        """Return ``scheme`` as :class:`LangevinScheme` (a str is the method).

        Raises
        ------
        ValueError
            If ``scheme`` is neither a method name nor a :class:`LangevinScheme`.
        """
        if isinstance(scheme, cls):
            return scheme
        if isinstance(scheme, str):
            return cls(check_choice(scheme, "scheme", cls.METHODS))
        raise ValueError(f"scheme must be 'root', 'entries' or a LangevinScheme, got {scheme!r}")

    def __repr__(self):
        return (f"LangevinScheme(method={self.method!r}, normalized={self.normalized}, "
                f"entropic={self.entropic})")


def save_schedule(n_steps, save_every):
    """Return ``(n_steps, saved_steps)``: every ``save_every`` steps from 0, plus the last.

    Parameters
    ----------
    n_steps : int
        Number of steps, >= 1.
    save_every : int or None
        Recording interval (None: start and end only).

    Returns
    -------
    n_steps : int
    saved : list of int

    Raises
    ------
    ValueError
        If ``n_steps`` or ``save_every`` is not a positive integer.

    Examples
    --------
    >>> save_schedule(5, 2)
    (5, [0, 2, 4, 5])
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    save_every = n_steps if save_every is None else check_positive_int(save_every, "save_every")
    steps = list(range(0, n_steps + 1, save_every))
    if steps[-1] != n_steps:
        steps.append(n_steps)
    return n_steps, steps


def gradient_function(loss):
    """Return the Euclidean gradient ``X -> grad E(X)`` of the energy argument (or None).

    Parameters
    ----------
    loss : Loss, callable or None
        A :class:`geodln.losses.Loss` (its ``euclidean_gradient``), a callable returning the
        gradient, or None (no energy).

    Returns
    -------
    gradient : callable or None

    Raises
    ------
    ValueError
        If ``loss`` is none of these.

    Examples
    --------
    >>> gradient_function(None) is None
    True
    """
    if loss is None:
        return None
    if hasattr(loss, "euclidean_gradient"):
        grad = loss.euclidean_gradient
    elif callable(loss):
        grad = loss
    else:
        raise ValueError(
            "loss must be None, a geodln Loss (with euclidean_gradient) or a callable returning "
            f"the Euclidean gradient, got {type(loss).__name__}"
        )

    def guarded(x):
        # a chain whose X overflowed inside a step: report it as divergence, not as bad input
        if not np.all(np.isfinite(x)):
            return np.full(np.shape(x), np.nan)
        return grad(x)

    return guarded


class ChainDivergence(ArithmeticError):
    """Raised inside a scheme's step when it cannot continue (integration stops cleanly).

    The integrator catches it, keeps the last finite state and records the message in the
    path's ``status``/``message``; user code never sees it.

    Examples
    --------
    >>> from geodln.langevin.path import ChainDivergence
    >>> try:
    ...     raise ChainDivergence("chain 3: step produced inf")
    ... except ArithmeticError as exc:
    ...     print(type(exc).__name__, exc)
    ChainDivergence chain 3: step produced inf
    """


def check_start_gradient(gradient, x0):
    """Refuse an energy whose gradient is NaN/inf (or fails) at the start ``x0``.

    Parameters
    ----------
    gradient : callable or None
        The Euclidean gradient (see :func:`gradient_function`).
    x0 : ndarray, shape=[B, m, n]
        The start.

    Raises
    ------
    ValueError
        Naming ``loss``, if the gradient is not finite at the start or has the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> check_start_gradient(lambda x: np.nan * x, np.ones((1, 2, 2)))
    Traceback (most recent call last):
    ...
    ValueError: loss: its gradient at the start X0 is not finite (NaN or inf entries)
    """
    if gradient is None:
        return
    with np.errstate(all="ignore"):
        g = np.asarray(gradient(x0))
    if g.shape != x0.shape:
        raise ValueError(f"loss: its gradient has shape {g.shape}, expected {x0.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("loss: its gradient at the start X0 is not finite (NaN or inf entries)")


def _finite(state):
    if isinstance(state, list | tuple):
        return all(_finite(s) for s in state)
    return bool(np.all(np.isfinite(state)))


def _bad_chains(state):
    if isinstance(state, list | tuple):
        return sorted(set().union(*(_bad_chains(s) for s in state)))
    flat = np.reshape(state, (state.shape[0], -1))
    return [int(i) for i in np.flatnonzero(~np.all(np.isfinite(flat), axis=1))]


def integrate_chains(advance, state, record, n_steps, saved, step_size):
    """Run ``n_steps`` steps of a chain scheme, stopping cleanly on divergence.

    The Euler–Maruyama loop every Langevin scheme shares. Each step ``advance(state, step)``
    returns the next state (an array ``[B, ...]`` or a list/tuple of them); at the saved steps
    ``record(state)`` gives what is stored. If a step leaves the floating-point range (NaN/inf
    in the state or its record, or a ``LinAlgError``), the run stops: the last finite state is
    recorded (at its own time) and the status is ``"diverged"``, with a message naming the
    step, the chains and ``step_size``. Floating-point warnings are silenced inside the loop.

    Parameters
    ----------
    advance : callable
        ``advance(state, step) -> state``.
    state : ndarray, shape=[B, ...], or list of such arrays
        Finite start.
    record : callable
        ``record(state) -> ndarray or list of ndarray``.
    n_steps : int
        Number of steps.
    saved : list of int
        Steps to record (from :func:`save_schedule`).
    step_size : float
        Time step h.

    Returns
    -------
    times : ndarray, shape=[T]
    records : list
        One record per recorded time.
    status : {"completed", "diverged"}
    message : str

    Examples
    --------
    >>> import numpy as np
    >>> t, rec, status, msg = integrate_chains(lambda s, k: 1e100 * s, np.ones((1, 1)),
    ...                                        np.copy, 10, list(range(11)), 0.5)
    >>> status, float(t[-1]), rec[-1].item()
    ('diverged', 1.5, 1e+300)
    """
    saved_set = set(saved)
    times, records = [], []
    if 0 in saved_set:
        times.append(0.0)
        records.append(record(state))
    status, message, last, previous = "completed", "", 0, state
    with np.errstate(all="ignore"):
        for step in range(1, n_steps + 1):
            try:
                new = advance(state, step)
                ok = _finite(new)
                rec = record(new) if ok and step in saved_set else None
                ok = ok and (rec is None or _finite(rec))
            except (np.linalg.LinAlgError, ChainDivergence):
                new, ok = state, False
            if not ok:
                bad = _bad_chains(new) if new is not state else []
                status = "diverged"
                # the last state whose record is finite (a chart state can be finite while
                # its end-to-end matrix overflows): the current one, else the one before
                for k, candidate in ((last, state), (last - 1, previous)):
                    if k < 0 or (times and k * step_size <= times[-1]):
                        break
                    final = record(candidate)
                    if _finite(final):
                        times.append(k * step_size)
                        records.append(final)
                        break
                message = (
                    f"chains {bad or 'all'} left the floating-point range at step {step} "
                    f"(t = {step * step_size:.6g}): step_size={step_size} is too large for this "
                    "energy (Euler-Maruyama with a superlinear drift); reduce step_size. The "
                    f"path ends at the last finite state (t = {times[-1]:.6g})."
                )
                break
            previous, state, last = state, new, step
            if rec is not None:
                times.append(step * step_size)
                records.append(rec)
    return np.array(times), records, status, message


def run_info(metadata, status, message):
    """Return the metadata dict of a chain record with its ``status`` and ``message``.

    Parameters
    ----------
    metadata : dict or None
        Settings of the run; a ``status``/``message`` recorded there (a loaded file) wins.
    status : {"completed", "diverged"}
        Why the run stopped.
    message : str
        Human-readable reason.

    Returns
    -------
    metadata : dict

    Raises
    ------
    ValueError
        If ``metadata`` is not a dict or the status is unknown.

    Examples
    --------
    >>> run_info({"depth": 3}, "completed", "")["status"]
    'completed'
    """
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    meta = {"status": status, "message": message, **(metadata or {})}
    if not isinstance(meta["status"], str) or meta["status"] not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {meta['status']!r}")
    meta["message"] = str(meta["message"])
    return meta


class LangevinPath:
    """Recorded states of a batch of Langevin chains.

    Parameters
    ----------
    times : array-like, shape=[T]
        Recorded times (non-decreasing, finite).
    states : array-like, shape=[T, B, ...]
        States of the B chains at the recorded times (matrices ``[d, d]`` or singular values
        ``[d]``); finite unless the run diverged.
    metadata : dict, optional
        JSON-serialisable settings (depth, beta, step size, scheme, seed).
    status : {"completed", "diverged"}
        Why the run stopped (a diverged run ends at its last finite state).
    message : str
        Human-readable reason.

    Attributes
    ----------
    times, states : ndarray
    metadata : dict
        Includes ``status`` and ``message``.

    Raises
    ------
    ValueError
        If the arrays are not real, the times decrease or are not finite, the shapes disagree,
        ``metadata`` is not a dict, or a completed path holds NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> LangevinPath([0.0, 1.0], np.ones((2, 3, 2, 2))).final.shape
    (3, 2, 2)
    """

    def __init__(self, times, states, metadata=None, status="completed", message=""):
        self.metadata = run_info(metadata, status, message)
        self.times = check_times(times)
        self.states = check_record_array(states, "states")
        if self.states.ndim < 2 or self.states.shape[:1] != self.times.shape:
            raise ValueError(
                f"states must have shape [T, B, ...] with T = len(times) = {self.times.size}, "
                f"got {self.states.shape}"
            )
        check_finite_for_status(self.status, states=self.states)

    @property
    def status(self):
        """Why the run stopped: ``"completed"`` or ``"diverged"``."""
        return self.metadata["status"]

    @property
    def message(self):
        """Human-readable reason of :attr:`status`."""
        return self.metadata["message"]

    @property
    def final(self):
        """States at the last recorded time, shape [B, ...]."""
        return self.states[-1]

    def singular_values(self):
        """Singular values of the recorded states, shape [T, B, d] (non-increasing)."""
        if self.states.ndim == 3:  # already singular values
            return self.states
        return np.linalg.svd(self.states, compute_uv=False)

    def save(self, path):
        """Write to ``path`` (``.npz``) through :func:`geodln.storage.save_arrays`.

        Parameters
        ----------
        path : str or os.PathLike
            Target file.
        """
        save_arrays(path, {"times": self.times, "states": self.states}, KIND, self.metadata)

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file.

        Returns
        -------
        path : LangevinPath

        Raises
        ------
        ValueError
            If the file is unreadable, foreign, or violates the schema.
        """
        return load_record(path, KIND, lambda a, m: cls(a["times"], a["states"], m))

    def __repr__(self):
        return (
            f"LangevinPath(T={self.times.size}, chains={self.states.shape[1]}, "
            f"state shape={self.states.shape[2:]}, status={self.status!r})"
        )
