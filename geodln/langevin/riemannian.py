r"""Brownian motion and the Riemannian Langevin equation on :math:`(M_d, g^N)`.

Square, full-rank d×d matrices with the DLN metric :math:`g^N` (plain sum :math:`A_{N,X}` by
default, ACH18, Theorem 1; ``normalized=True`` is the CMV convention
:math:`A/N`). The Riemannian Langevin equation at inverse temperature :math:`\beta` for an
energy :math:`E` is the diffusion with generator

.. math:: \mathcal L f = \tfrac1\beta \Delta_{g^N} f - g^N(\mathrm{grad}\,E, \mathrm{grad} f),

whose invariant measure is :math:`\propto e^{-\beta E}\,d\mathrm{vol}_{g^N}` (GM24);
``loss=None`` is Brownian motion with generator :math:`\tfrac1\beta\Delta_{g^N}`.
:func:`riemannian_langevin` integrates it by Euler–Maruyama either in the root chart
(``scheme="root"``, default; :mod:`geodln.langevin.root_chart`) or in the entries of X
(``scheme="entries"``; :mod:`geodln.langevin.entries`, which derives the Itô drift
:math:`\Delta_{g^N}X = (N-1)X(X^\top X)^{-1/N}`).

**Boundary.** :math:`g^N` is incomplete and the process reaches singular matrices in finite
time (the density of :math:`\lambda` does not vanish at 0). All schemes continue through them:
X changes the sign of its determinant, :math:`\lambda` changes sign; the singular values are
those of the process reflected at 0, whose invariant density on :math:`\sigma_1 > \dots > \sigma_d
> 0` is :math:`e^{-\beta E}` times the CMV volume form.

**Entropic drift.** ``entropic=True`` adds :math:`+\tfrac1\beta\mathrm{grad}_{g^N} S`,
:math:`S = \log\mathrm{vol}(O_X)` (Menon–Yu, MY25, Theorem 4): the Langevin equation of the free
energy :math:`F_\beta = E - S/\beta`, invariant law :math:`\propto e^{-\beta E}\mathrm{vol}(O_X)
\,d\mathrm{vol}_{g^N}`. It is the law of the balanced-manifold Langevin dynamics pushed forward by
the product map (:mod:`geodln.langevin.factors`).

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import (
    check_bool,
    check_choice,
    check_depth,
    check_positive_real,
    check_square,
)
from geodln.langevin.entries import entries_step
from geodln.langevin.path import (
    Chains,
    LangevinPath,
    LangevinScheme,
    as_generator,
    broadcast_chains,
    check_start_gradient,
    gradient_function,
    integrate_chains,
    save_schedule,
)
from geodln.langevin.root_chart import from_root, root_coordinates, root_step

__all__ = ["riemannian_langevin", "brownian_motion"]


def _entropy_gradient_fn(depth, normalized):
    from geodln.entropy import entropy_gradient  # measures layer, imported lazily

    def grad_s(x):
        return entropy_gradient(x, depth, normalized)

    return grad_s


def riemannian_langevin(
    loss,
    X0,
    depth,
    beta,
    step_size,
    n_steps,
    *,
    scheme="root",
    chains=None,
):
    r"""Euler–Maruyama for the Riemannian Langevin equation on :math:`(M_d, g^N)`.

    :math:`dX = [-\mathrm{grad}_{g^N}E + \tfrac1\beta\Delta_{g^N}X]\,dt +
    \sqrt{2/\beta}\,A_{N,X}^{1/2}dW` (generator :math:`\tfrac1\beta\Delta_{g^N} -
    \mathrm{grad}E\cdot\nabla`, invariant law :math:`\propto e^{-\beta E}d\mathrm{vol}_{g^N}`);
    see :mod:`geodln.langevin.entries` for the derivation of the Itô drift and
    :mod:`geodln.langevin.root_chart` for the default scheme. Batched over chains.

    Parameters
    ----------
    loss : Loss, callable or None
        The energy E: a :class:`geodln.losses.Loss` (its ``euclidean_gradient`` is used, batched
        ``[B, d, d]``), or a callable returning :math:`\nabla E(X)` for a batch; ``None`` gives
        Brownian motion.
    X0 : array-like, shape=[d, d] or [B, d, d]
        Start (broadcast to ``n_chains`` chains if 2-d).
    depth : int
        N >= 1.
    beta : float
        Inverse temperature, > 0.
    step_size : float
        Time step h.
    n_steps : int
        Number of steps (final time ``n_steps * step_size``).
    scheme : {"root", "entries"} or LangevinScheme
        Euler–Maruyama in the root chart (default) or in the entries of X; a
        :class:`geodln.langevin.LangevinScheme` also sets ``normalized`` (CMV convention
        :math:`A/N`: time runs N times slower than with the plain sum) and ``entropic``
        (add :math:`+\tfrac1\beta\mathrm{grad}_{g^N}\log\mathrm{vol}(O_X)`: the free energy
        :math:`F_\beta = E - S/\beta`, Menon–Yu entropy of :mod:`geodln.entropy`).
    chains : Chains, optional
        Number of chains (when the start is a single point), save interval (default: start
        and end only) and seed (:class:`geodln.langevin.Chains`).

    Returns
    -------
    path : LangevinPath
        ``states`` of shape [T, B, d, d]. If the chains leave the floating-point range (a step
        too large for a superlinear gradient) the run stops there: ``path.status ==
        "diverged"``, the path ends at the last finite state and ``path.message`` names the
        step and ``step_size``.

    Raises
    ------
    ValueError
        If ``X0`` is not finite square matrices [d, d] or [B, d, d]; ``depth`` is not an
        integer >= 1; ``beta`` or ``step_size`` is not a positive finite number; ``n_steps``
        or ``save_every`` is not a positive integer; ``n_chains`` does not match ``X0``;
        ``scheme`` is unknown; ``loss`` is of the wrong type or its gradient at ``X0`` is not
        finite.

    References
    ----------
    .. [1] GM24: Menon, arXiv:2411.09004, Abstract (Riemannian Langevin equation on
       :math:`(M_d, g^N)`).

    Examples
    --------
    >>> from geodln.langevin import Chains, riemannian_langevin
    >>> from geodln.losses import razin_cohen_completion
    >>> path = riemannian_langevin(razin_cohen_completion(), np.eye(2), 2, 10.0, 1e-3, 5,
    ...                            chains=Chains(n_chains=3, seed=0))
    >>> path.status, path.states.shape  # [saved times, chains, d, d]
    ('completed', (2, 3, 2, 2))
    """
    chains = Chains.coerce(chains)
    n_chains, save_every, seed = chains.n_chains, chains.save_every, chains.seed
    scheme = LangevinScheme.coerce(scheme)
    normalized, entropic, scheme = scheme.normalized, scheme.entropic, scheme.method
    x = broadcast_chains(check_square(X0, "X0"), n_chains, "X0")
    depth = check_depth(depth, allow_inf=False)
    beta, h = check_positive_real(beta, "beta"), check_positive_real(step_size, "step_size")
    n_steps, saved = save_schedule(n_steps, save_every)
    check_choice(scheme, "scheme", ("root", "entries"))
    normalized = check_bool(normalized, "normalized")
    entropic = check_bool(entropic, "entropic")
    grad_e = gradient_function(loss)
    check_start_gradient(grad_e, x)
    grad_s = _entropy_gradient_fn(depth, normalized and scheme == "entries") if entropic else None
    rng = as_generator(seed)
    if scheme == "entries":
        step_fn = entries_step(grad_e, grad_s, depth, beta, h, normalized)
        state, to_x = x, np.copy
    else:
        # CMV generator = plain generator / N: the plain process at time t / N
        step_fn = root_step(grad_e, grad_s, depth, beta, h / depth if normalized else h)
        state, to_x = root_coordinates(x, depth), from_root(depth)
    times, out, status, message = integrate_chains(
        lambda s, _: step_fn(s, rng), state, to_x, n_steps, saved, h
    )
    meta = {
        "scheme": f"euler-maruyama-{scheme}",
        "depth": depth,
        "beta": beta,
        "step_size": h,
        "n_steps": n_steps,
        "normalized": check_bool(normalized, "normalized"),
        "entropic": bool(entropic),
        "loss": repr(loss),
    }
    return LangevinPath(times, np.stack(out), meta, status=status, message=message)


def brownian_motion(X0, depth, beta, step_size, n_steps, **kwargs):
    r"""Brownian motion of :math:`(M_d, g^N)` with generator :math:`\tfrac1\beta\Delta_{g^N}`.

    :func:`riemannian_langevin` with ``loss=None``; same keyword arguments.

    Parameters
    ----------
    X0 : array-like, shape=[d, d] or [B, d, d]
    depth : int
    beta : float
    step_size : float
    n_steps : int
    **kwargs
        ``scheme`` and ``chains`` (as in :func:`riemannian_langevin`).

    Returns
    -------
    path : LangevinPath

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).

    Examples
    --------
    >>> from geodln.langevin import Chains, brownian_motion
    >>> path = brownian_motion(np.eye(2), 3, 1.0, 1e-3, 4, chains=Chains(n_chains=2, seed=1))
    >>> path.status, path.times
    ('completed', array([0.   , 0.004]))
    """
    return riemannian_langevin(None, X0, depth, beta, step_size, n_steps, **kwargs)
