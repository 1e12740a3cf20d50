r"""Stopping rules shared by the ODE driver and fixed-step gradient descent.

A run stops when the loss falls below ``loss_tol``, when :math:`\|X\|_F` exceeds ``max_norm``
(divergence guard: Razin–Cohen trajectories go to infinity by design, RC20, Fig. 1), when the
state overflows (:math:`\|X\|_F >` :data:`OVERFLOW_NORM`, always on), when a user rule
``stop(t, X, loss) -> bool`` returns True, or when ``max_wall_time`` seconds have passed.

For :func:`scipy.integrate.solve_ivp` the loss and norm rules are continuous event functions
(the stopping time is located by root finding on the dense output); the user rule and the
wall-time limit are not functions of the state, so they are checked after each accepted step
and *latched*: once they fire at step end :math:`t_*`, the event function is :math:`+1` before
:math:`t_*` and :math:`-1` from :math:`t_*` on, and the run ends at that step.
"""

import time

import numpy as np

__all__ = ["StoppingRules", "OVERFLOW_NORM"]

#: Norm of X beyond which a run is declared diverged (even when ``max_norm`` is None).
OVERFLOW_NORM = 1e150


def _positive(value, name):
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number or None, got {value!r}")
    return value


class _Latch:
    """Event function for a condition checked at accepted steps only (see module doc)."""

    def __init__(self, condition):
        self.condition = condition
        self.t_fired = None

    def __call__(self, t, y):
        if self.t_fired is not None:
            return -1.0 if t >= self.t_fired else 1.0
        if self.condition(t, y):
            self.t_fired = t
            return -1.0
        return 1.0


class StoppingRules:
    """The stopping rules of one run.

    Parameters
    ----------
    loss_tol : float, optional
        Stop when the loss is <= ``loss_tol``.
    max_norm : float, optional
        Stop when :math:`\\|X\\|_F >=` ``max_norm``.
    stop : callable, optional
        ``stop(t, X, loss) -> bool``; stop when it returns True (checked at each recorded
        gradient-descent step and after each accepted integrator step).
    max_wall_time : float, optional
        Stop after this many seconds.

    Raises
    ------
    ValueError
        With the message ``loss_tol must be a finite number or None, got …``; or ``stop must be
        a callable stop(t, X, loss) -> bool, got …``.
    """

    def __init__(self, loss_tol=None, max_norm=None, stop=None, max_wall_time=None):
        self.loss_tol = None if loss_tol is None else float(loss_tol)
        if self.loss_tol is not None and not np.isfinite(self.loss_tol):
            raise ValueError(f"loss_tol must be a finite number or None, got {loss_tol!r}")
        self.max_norm = _positive(max_norm, "max_norm")
        if stop is not None and not callable(stop):
            raise ValueError(f"stop must be a callable stop(t, X, loss) -> bool, got {stop!r}")
        self.stop = stop
        self.max_wall_time = _positive(max_wall_time, "max_wall_time")
        self.start_clock()

    def start_clock(self):
        """Reset the wall-time reference."""
        self._t0 = time.perf_counter()

    def elapsed(self):
        """Seconds since :meth:`start_clock`."""
        return time.perf_counter() - self._t0

    def check(self, t, x, loss):
        """Return ``(status, message)`` if a rule fires at this state, else None."""
        norm = float(np.linalg.norm(x)) if np.all(np.isfinite(x)) else np.inf
        if not np.isfinite(norm) or norm > OVERFLOW_NORM or not np.isfinite(loss):
            return "diverged", f"state overflowed or became non-finite at t={t:.6g}"
        if self.loss_tol is not None and loss <= self.loss_tol:
            return "loss_tol", f"loss {loss:.3g} <= loss_tol={self.loss_tol:g} at t={t:.6g}"
        if self.max_norm is not None and norm >= self.max_norm:
            return "max_norm", f"||X||_F = {norm:.3g} >= max_norm={self.max_norm:g} at t={t:.6g}"
        if self.stop is not None and bool(self.stop(t, x, loss)):
            return "stopped", f"user stopping rule fired at t={t:.6g}"
        if self.max_wall_time is not None and self.elapsed() >= self.max_wall_time:
            return "wall_time", f"wall-time limit {self.max_wall_time:g} s reached at t={t:.6g}"
        return None

    def events(self, field):
        """Event functions for ``solve_ivp`` and the status each one reports.

        Returns
        -------
        events : list of callable
        statuses : list of str
        """
        loss = field.loss

        def norm_of(y):
            return float(np.linalg.norm(field.point(y)))

        events, statuses = [], []

        def add(event, direction, status):
            event.terminal, event.direction = True, direction
            events.append(event)
            statuses.append(status)

        def overflow(t, y):
            return norm_of(y) - OVERFLOW_NORM

        add(overflow, 1, "diverged")
        if self.loss_tol is not None:
            tol = self.loss_tol

            def below_tol(t, y):
                return float(loss._value(field.point(y))) - tol

            add(below_tol, -1, "loss_tol")
        if self.max_norm is not None:
            bound = self.max_norm

            def too_large(t, y):
                return norm_of(y) - bound

            add(too_large, 1, "max_norm")
        if self.stop is not None:
            rule = self.stop

            def user(t, y):
                x = field.point(y)
                return bool(rule(t, x, float(loss._value(x))))

            add(_Latch(user), -1, "stopped")
        if self.max_wall_time is not None:
            add(_Latch(lambda t, y: self.elapsed() >= self.max_wall_time), -1, "wall_time")
        return events, statuses
