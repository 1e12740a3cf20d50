r"""Recorded Langevin paths and the argument handling shared by every Langevin scheme.

:class:`LangevinPath` holds the states of a batch of chains at the recorded times (matrices of
:mod:`geodln.langevin.riemannian` or singular values of :mod:`geodln.langevin.singular_values`)
and is saved through :mod:`geodln.storage`. The helpers here are the pieces every scheme shares:
the seed (int, ``SeedSequence`` or ``Generator``), the broadcast of a start to ``n_chains``
chains, the save schedule (every ``save_every`` steps, plus the last), and the energy argument
(``None``, a :class:`geodln.losses.Loss` or a callable returning :math:`\nabla E`); ``beta`` and
``step_size`` are checked by :func:`geodln._checks.check_positive_real`.
"""


import numpy as np

from geodln._checks import as_generator, check_positive_int
from geodln.storage import load_arrays, save_arrays

__all__ = ["LangevinPath", "as_generator"]

KIND = "langevin-path"


def _chains(x0, n_chains, name, core_ndim=2):
    """Broadcast a start ``[d, d]`` (``[d]`` if ``core_ndim=1``) or ``[B, ...]`` to ``[B, ...]``."""
    core = ", ".join(["d"] * core_ndim)
    if x0.ndim == core_ndim:
        b = 1 if n_chains is None else check_positive_int(n_chains, "n_chains")
        return np.broadcast_to(x0, (b,) + x0.shape).copy()
    if x0.ndim != core_ndim + 1:
        raise ValueError(f"{name} must have shape [{core}] or [n_chains, {core}], got {x0.shape}")
    if n_chains is not None and check_positive_int(n_chains, "n_chains") != x0.shape[0]:
        raise ValueError(f"n_chains={n_chains} does not match {name}.shape[0]={x0.shape[0]}")
    return x0.copy()


def _save_schedule(n_steps, save_every):
    n_steps = check_positive_int(n_steps, "n_steps")
    save_every = n_steps if save_every is None else check_positive_int(save_every, "save_every")
    steps = list(range(0, n_steps + 1, save_every))
    if steps[-1] != n_steps:
        steps.append(n_steps)
    return n_steps, steps


def _is_saved(step, saved):
    return step == saved[-1] or step % saved[1] == 0


def _gradient_fn(loss):
    if loss is None:
        return None
    if hasattr(loss, "euclidean_gradient"):
        return loss.euclidean_gradient
    if callable(loss):
        return loss
    raise ValueError(
        "loss must be None, a geodln Loss (with euclidean_gradient) or a callable returning "
        f"the Euclidean gradient, got {type(loss).__name__}"
    )


class LangevinPath:
    """Recorded states of a batch of Langevin chains.

    Parameters
    ----------
    times : array-like, shape=[T]
    states : array-like, shape=[T, B, ...]
        States of the B chains at the recorded times (matrices ``[d, d]`` or singular values
        ``[d]``).
    metadata : dict, optional
        JSON-serialisable settings (depth, beta, step size, scheme, seed).

    Attributes
    ----------
    times, states : ndarray
    metadata : dict

    Raises
    ------
    ValueError
        If ``states`` is not [T, B, ...] with T = ``len(times)``.
    """

    def __init__(self, times, states, metadata=None):
        self.times = np.asarray(times, dtype=float)
        self.states = np.asarray(states, dtype=float)
        if self.times.ndim != 1 or self.states.shape[:1] != self.times.shape:
            raise ValueError(
                f"states must have shape [T, B, ...] with T = len(times) = {self.times.size}, "
                f"got {self.states.shape}"
            )
        self.metadata = dict(metadata or {})

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
        """Write to ``path`` (``.npz``) through :func:`geodln.storage.save_arrays`."""
        save_arrays(path, {"times": self.times, "states": self.states}, KIND, self.metadata)

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`."""
        arrays, meta = load_arrays(path, KIND)
        return cls(arrays["times"], arrays["states"], meta)

    def __repr__(self):
        return (
            f"LangevinPath(T={self.times.size}, chains={self.states.shape[1]}, "
            f"state shape={self.states.shape[2:]})"
        )
