r"""When a run stops: :class:`StoppingRules`, checked per member of a batch.

A member stops when its loss falls to ``loss_tol``, when the norm of its velocity (the
gradient of the flow) falls to ``grad_tol``, when :math:`\|X\|_F` reaches ``max_norm``
(divergence guard: Razin–Cohen (RC20) trajectories go to infinity by design), when it diverges
(always on, status ``"diverged"``), when a user rule ``stop(t, X, loss)`` returns True, after
``max_steps`` accepted steps, or after ``max_wall_time`` seconds. Stopped members freeze; the
others go on.

Divergence means that the run left the floating-point range, not that it grew large: its
state, its loss or its velocity is not representable (non-finite), its Frobenius norm exceeds
:data:`OVERFLOW_NORM` (a bound a factor 16 below the largest float, so a run heading to
overflow stops before it produces ``inf``), or it blows up in finite time (:func:`is_blow_up`).
States of any norm inside the range (1e-150, 1e150, 1e300, ...) run as normal states. Norms
are computed scaled (:func:`frobenius_norms`), so a norm is ``inf`` only when the true norm
overflows. The member keeps its last state whose state, loss and velocity are all finite.

For :func:`scipy.integrate.solve_ivp` the loss and norm rules are continuous event functions
(the stopping time is found by root finding on the dense output); the batched Runge–Kutta
method locates them the same way per member. The user rule, the gradient-norm rule and the
limits are checked after each accepted step (for ``solve_ivp`` they are *latched* event
functions: +1 before the step where they fire, -1 from then on).
"""

import copy
import time

import numpy as np

from geodln._checks import MAX_STEPS, check_positive_int, real_scalar
from geodln.measures import frobenius_norm_from_singular_values

__all__ = ["StoppingRules", "OVERFLOW_NORM", "STATUSES", "is_blow_up", "frobenius_norms"]

#: Frobenius norm of X beyond which a run is declared diverged (even when ``max_norm`` is
#: None): :math:`2^{1020} \approx 1.1\cdot10^{307}`, the largest float divided by 16 — the
#: top of the range, kept as a margin for the rounding of a step, not a limit on valid states.
OVERFLOW_NORM = 2.0**1020

#: Why a run stopped.
STATUSES = {
    "running": "still integrating (internal)",
    "completed": "reached the end of the time span / the number of steps",
    "loss_tol": "loss fell to loss_tol",
    "grad_tol": "the norm of the velocity fell to grad_tol (a critical point)",
    "max_norm": "the Frobenius norm of X reached max_norm (divergence guard)",
    "diverged": "the state, the loss or the velocity is not representable (non-finite, or the "
                "norm of X beyond OVERFLOW_NORM ~1.1e307, the top of the float range), or the "
                "run blew up in finite time; the last finite state is kept",
    "stopped": "the user stopping rule returned True",
    "max_steps": "the limit on accepted steps was reached",
    "wall_time": "the wall-time limit was reached",
    "failed": "the integrator failed (step size underflow or solver error)",
}


def _optional_positive(value, name, integer=False):
    if value is None:
        return None
    real = real_scalar(value)
    if real is None or not np.isfinite(real) or real <= 0 \
            or (integer and real > MAX_STEPS):
        what = "a positive integer" if integer else "a positive finite number"
        raise ValueError(f"{name} must be {what} or None, got {value!r}")
    if integer:
        if not float(value).is_integer():
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        return int(value)
    return float(value)


class StoppingRules:
    """The stopping rules of a run (each member of a batch is checked on its own).

    Parameters
    ----------
    loss_tol : float, optional
        Stop a member when its loss is <= ``loss_tol``.
    grad_tol : float, optional
        Stop when the Frobenius norm of the velocity (downstairs :math:`A_X(\\nabla E)`,
        upstairs the factor gradient) is <= ``grad_tol``.
    max_norm : float, optional
        Stop when :math:`\\|X\\|_F \\geq` ``max_norm``.
    stop : callable, optional
        ``stop(t, X, loss) -> bool``. Single runs: ``t`` float, ``X`` ``[m, n]``, ``loss``
        float. Batched runs: ``t`` ``[b]``, ``X`` ``[b, m, n]``, ``loss`` ``[b]`` for the
        ``b`` running members, returning a bool array ``[b]`` (elementwise expressions such as
        ``lambda t, X, loss: t > 5`` work for both).
    max_steps : int, optional
        Stop after this many accepted steps (status ``"max_steps"``).
    max_wall_time : float, optional
        Stop after this many seconds.
    check_every : int
        Gradient descent only: evaluate the ``loss_tol`` rule every ``check_every`` steps
        (default 1: after every step).
    patience : int
        Gradient descent only: the ``loss_tol`` rule fires once the loss has been
        ``<= loss_tol`` at more than ``patience`` consecutive checks (default 0: at the first).
        ``check_every=50, patience=10`` is Razin–Cohen's (RC20) ``StopOnZeroTrainLoss``.

    Raises
    ------
    ValueError
        If a tolerance or limit is not positive and finite, ``stop`` is not callable, or
        ``check_every`` is not a positive int or ``patience`` not an int >= 0.

    Examples
    --------
    >>> rules = StoppingRules(loss_tol=1e-10, max_norm=1e6)
    >>> rules.check(np.zeros(2), np.stack([np.eye(2), 1e7 * np.eye(2)]), np.array([1.0, 2.0]))
    array(['running', 'max_norm'], dtype='<U9')
    """

    def __init__(self, loss_tol=None, grad_tol=None, max_norm=None, stop=None, max_steps=None,
                 max_wall_time=None, check_every=1, patience=0):
        if loss_tol is not None and (real_scalar(loss_tol) is None
                                     or not np.isfinite(real_scalar(loss_tol))):
            raise ValueError(f"loss_tol must be a finite number or None, got {loss_tol!r}")
        self.loss_tol = None if loss_tol is None else float(loss_tol)
        self.grad_tol = _optional_positive(grad_tol, "grad_tol")
        self.max_norm = _optional_positive(max_norm, "max_norm")
        if stop is not None and not callable(stop):
            raise ValueError(f"stop must be a callable stop(t, X, loss) -> bool, got {stop!r}")
        self.stop = stop
        self.max_steps = _optional_positive(max_steps, "max_steps", integer=True)
        self.max_wall_time = _optional_positive(max_wall_time, "max_wall_time")
        self.check_every = check_positive_int(check_every, "check_every", maximum=MAX_STEPS)
        self.patience = check_positive_int(patience, "patience", minimum=0, maximum=MAX_STEPS)
        self.start_clock()

    @property
    def per_check(self):
        """Whether the loss rule is checked on a schedule (``check_every``/``patience`` set)."""
        return self.check_every != 1 or self.patience != 0

    @classmethod
    def coerce(cls, stop):
        """Return ``stop`` as StoppingRules (None: no rules; a callable: the user rule).

        Raises
        ------
        ValueError
            If ``stop`` is neither None, StoppingRules nor callable.
        """
        if stop is None:
            return cls()
        if isinstance(stop, cls):
            return stop
        if callable(stop):
            return cls(stop=stop)
        raise ValueError(f"stop must be a StoppingRules, a callable or None, got {stop!r}")

    def for_single_run(self):
        """Return these rules with the user rule called as a single run's rule.

        The batched engines check every run as a batch; for a single run the user rule
        ``stop`` must still receive ``t`` float, ``X`` ``[m, n]`` and ``loss`` float, as this
        class documents. The copy wraps it so; rules without a user rule are returned as is.

        Returns
        -------
        rules : StoppingRules

        Raises
        ------
        ValueError
            Never for valid rules (the user rule's own errors propagate).

        References
        ----------
        .. [1] HNW93: Hairer, Nørsett, Wanner, Solving ODEs I (2nd ed., 1993), Section II.4
           (the step-by-step integration these rules stop).

        Examples
        --------
        >>> import numpy as np
        >>> rules = StoppingRules(stop=lambda t, X, loss: isinstance(t, float) and X.ndim == 2)
        >>> single = rules.for_single_run()
        >>> single.check(np.zeros(1), np.eye(2)[None], np.ones(1)).tolist()
        ['stopped']
        """
        if self.stop is None:
            return self
        user = self.stop
        out = copy.copy(self)
        out.stop = lambda t, x, loss: np.array([bool(user(float(t[0]), x[0], float(loss[0])))])
        return out

    def start_clock(self):
        """Reset the wall-time reference."""
        self._t0 = time.perf_counter()

    def elapsed(self):
        """Seconds since :meth:`start_clock`."""
        return time.perf_counter() - self._t0

    def check(self, t, x, loss, velocity_norm=None, steps=None, batched=True, norm=None,
              streak=None):
        """Status of each member after a step: a rule's name, or ``"running"``.

        Parameters
        ----------
        t : ndarray, shape=[b]
        x : ndarray, shape=[b, m, n]
        loss : ndarray, shape=[b]
        velocity_norm : ndarray, shape=[b], optional
            Norms of the velocities (a non-finite one is a divergence).
        steps : ndarray of int, shape=[b], optional
            Accepted steps so far.
        batched : bool
            Call the user rule with arrays (True) or, for ``b = 1``, with scalars.
        norm : ndarray, shape=[b], optional
            Frobenius norms of the points (default: from ``x``; a factored state passes them
            and gives ``x`` in its own form, seen only by the user rule).
        streak : ndarray of int, shape=[b], optional
            Consecutive loss checks below ``loss_tol`` so far, updated in place (required with
            ``check_every``/``patience``, with ``steps``).

        Returns
        -------
        status : ndarray of str, shape=[b]

        Raises
        ------
        ValueError
            If ``check_every``/``patience`` are set and ``steps`` or ``streak`` is missing (a
            flow, which has no fixed steps).
        """
        t = np.asarray(t, float)
        loss = np.asarray(loss, float)
        out = np.full(t.shape, "running", dtype="<U9")
        norm = frobenius_norms(x) if norm is None else np.asarray(norm, float)
        bad = ~(norm <= OVERFLOW_NORM) | ~np.isfinite(loss)
        if velocity_norm is not None:
            bad |= ~np.isfinite(np.asarray(velocity_norm, float))
        out[bad] = "diverged"
        free = ~bad
        if self.loss_tol is not None:
            hit = free & (loss <= self.loss_tol)
            if self.per_check:
                if streak is None or steps is None:
                    raise ValueError("stop: check_every and patience apply to gradient descent "
                                     "only (fixed steps)")
                at = np.asarray(steps) % self.check_every == 0
                streak[...] = np.where(at & free, np.where(hit, streak + 1, 0), streak)
                hit = at & free & (streak > self.patience)
            out[hit], free = "loss_tol", free & ~hit
        if self.grad_tol is not None and velocity_norm is not None:
            hit = free & (np.asarray(velocity_norm) <= self.grad_tol)
            out[hit], free = "grad_tol", free & ~hit
        if self.max_norm is not None:
            hit = free & (norm >= self.max_norm)
            out[hit], free = "max_norm", free & ~hit
        if self.stop is not None and free.any():
            idx = np.flatnonzero(free)
            if batched:
                fired = np.broadcast_to(
                    np.asarray(self.stop(t[idx], x[idx], loss[idx]), dtype=bool), idx.shape)
            else:
                fired = np.array([bool(self.stop(float(t[i]), x[i], float(loss[i])))
                                  for i in idx], dtype=bool)
            out[idx[fired]] = "stopped"
            free[idx[fired]] = False
        if self.max_steps is not None and steps is not None:
            hit = free & (np.asarray(steps) >= self.max_steps)
            out[hit], free = "max_steps", free & ~hit
        if self.max_wall_time is not None and self.elapsed() >= self.max_wall_time:
            out[free] = "wall_time"
        return out

    def __repr__(self):
        fields = ("loss_tol", "grad_tol", "max_norm", "stop", "max_steps", "max_wall_time")
        set_ = [f"{k}={getattr(self, k)!r}" for k in fields if getattr(self, k) is not None]
        if self.per_check:
            set_ += [f"check_every={self.check_every}", f"patience={self.patience}"]
        return f"StoppingRules({', '.join(set_)})"


def frobenius_norms(x, axes=2):
    r"""Frobenius norms of the last ``axes`` axes, scaled: exact at any scale of the entries.

    :math:`a\,\|x/a\|_F` with :math:`a` the largest absolute entry (as LAPACK's ``dnrm2``),
    through :func:`geodln.measures.frobenius_norm_from_singular_values`: ``inf`` only when the
    true norm exceeds the float range, NaN for entries that are NaN or ``inf``, no warning.
    (``numpy.linalg.norm`` squares the entries and overflows from about 1e154.)

    Parameters
    ----------
    x : array-like, shape=[..., m, n] (``axes=2``) or [..., d] (``axes=1``)
        Matrices, or flat states/velocities.
    axes : {1, 2}
        How many trailing axes make one member.

    Returns
    -------
    norms : ndarray, shape=[...]

    References
    ----------
    .. [1] HIG08: Higham, Functions of Matrices (2008), Appendix B (norms); LAPACK ``dnrm2``.

    Examples
    --------
    >>> frobenius_norms(np.stack([1e200 * np.eye(2), 1e-200 * np.eye(2)])) / np.sqrt(2)
    array([1.e+200, 1.e-200])
    """
    x = np.asarray(x, dtype=float)
    flat = x.reshape(x.shape[:x.ndim - axes] + (-1,))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(frobenius_norm_from_singular_values(flat), dtype=float)


#: float spacings of t within which a state that changes by its own size is a blow-up
BLOW_UP_SPACINGS = 1000.0


def is_blow_up(t, state_norm, velocity_norm):
    r"""Whether a run whose step size underflowed at ``t`` is a finite-time blow-up.

    The state's own time scale :math:`\|y\| / \|\dot y\|` is below ``BLOW_UP_SPACINGS``
    float spacings of ``t``: the singularity is closer than floating point can resolve, so the
    run diverged (rather than failed on a stiff but bounded problem).

    Parameters
    ----------
    t : array-like, shape=[B]
        Times where the step size underflowed.
    state_norm, velocity_norm : array-like, shape=[B]
        Norms of the last finite state and of its velocity.

    Returns
    -------
    blow_up : ndarray of bool, shape=[B]

    Examples
    --------
    >>> is_blow_up(np.array([0.01, 0.01]), np.array([1e4, 1.0]), np.array([1e20, 1.0]))
    array([ True, False])
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        spacing = np.abs(np.nextafter(t, np.inf) - t)
        scale = np.asarray(state_norm, dtype=float) / np.asarray(velocity_norm, dtype=float)
        fast = ~(scale >= BLOW_UP_SPACINGS * spacing)  # NaN/inf velocity counts as fast
    return fast & ~(np.asarray(velocity_norm, dtype=float) == 0)


def describe(status, t):
    """One-line message for a member that stopped with ``status`` at time ``t``."""
    return f"{status}: {STATUSES.get(status, status)} (t={t:.6g})"
