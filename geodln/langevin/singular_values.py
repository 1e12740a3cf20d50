r"""Langevin dynamics of the singular values of :math:`(M_d, g^N)` for a spectral energy.

**Singular-value coordinates.** For a spectral energy :math:`E(X) = f(\sigma)`, the singular
values of the Riemannian Langevin process (:func:`geodln.langevin.riemannian_langevin`) are
autonomous; in :math:`\lambda_k = \sigma_k^{1/N}` (the singular values of a balanced factor) the
diagonal part of :math:`g^N` (plain sum :math:`A_{N,X}`, CMV23, Lemma 2.4) is
:math:`N\sum d\lambda_k^2`, the volume density is :math:`|\mathrm{van}(\lambda^2)|` (CMV Thm 1.1
after the change of variables) and

.. math:: d\lambda_k = \Big[-\lambda_k^{N-1}\partial_{\sigma_k}f
          + \frac{1}{N\beta}\sum_{l\ne k}\frac{2\lambda_k}{\lambda_k^2-\lambda_l^2}\Big]dt
          + \sqrt{\tfrac{2}{N\beta}}\,dB_k ,

which :func:`singular_value_langevin` integrates (an independent discretisation of the same
law as the matrix schemes, GM24; the drift is tamed, :math:`b/(1 + h|b|)`, against the
jumps of Euler–Maruyama at near collisions). The process continues through 0 (:math:`\lambda`
changes sign); the recorded singular values :math:`|\lambda|^N` are those of the process
reflected at 0.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import numpy as np

from geodln._checks import check_bool, check_depth, check_finite, check_positive_real
from geodln.langevin.path import (
    Chains,
    LangevinPath,
    as_generator,
    broadcast_chains,
    integrate_chains,
    save_schedule,
)

__all__ = ["singular_value_langevin"]


def singular_value_langevin(
    spectral_gradient,
    sigma0,
    depth,
    beta,
    step_size,
    n_steps,
    *,
    normalized=False,
    chains=None,
):
    r"""Langevin dynamics of the singular values for a spectral energy :math:`E = f(\sigma)`.

    Euler–Maruyama in the signed coordinates :math:`\lambda_k = \pm\sigma_k^{1/N}` (module
    docstring): additive noise :math:`\sqrt{2h/(N\beta)}`, drift
    :math:`-\lambda_k^{N-1}\partial_{\sigma_k}f + \tfrac{1}{N\beta}\sum_{l\ne k}2\lambda_k/
    (\lambda_k^2-\lambda_l^2)` (the singular-value SDE after the change of variables). Returns the
    singular values :math:`|\lambda|^N` sorted non-increasingly. The drift b is tamed,
    :math:`b/(1 + h|b|)` (Hutzenthaler–Jentzen–Kloeden; an :math:`O(h)` change that prevents the
    blow-up of Euler–Maruyama at near collisions). An exactly tied pair (a
    measure-zero start such as ``sigma0 = (1, 1)``) gets no repulsion on the first step; the
    noise separates it.

    Parameters
    ----------
    spectral_gradient : callable or None
        ``spectral_gradient(sigma) -> df/dsigma`` on arrays ``[B, d]``; ``None`` for Brownian
        motion.
    sigma0 : array-like, shape=[d] or [B, d]
        Initial singular values (>= 0).
    depth : int
        N >= 1.
    beta, step_size : float
    n_steps : int
    normalized : bool
        CMV convention (the generator is divided by N: the plain process at time t/N).
    chains : Chains, optional
        Number of chains (when the start is a single point), save interval (default: start
        and end only) and seed (:class:`geodln.langevin.Chains`).

    Returns
    -------
    path : LangevinPath
        ``states`` = singular values, shape [T, B, d].

    Raises
    ------
    ValueError
        If ``sigma0`` is not a finite, non-negative [d] or [n_chains, d] array, ``depth`` is not
        a finite integer >= 1, ``beta`` or ``step_size`` is not a positive number,
        ``spectral_gradient`` is neither callable nor None, or ``n_chains`` does not match.

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).
    .. [2] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Theorem 1.1 (the volume form, the
       invariant density of the singular values).

    Examples
    --------
    Brownian motion of the singular values (no potential), two chains:

    >>> from geodln.langevin import Chains, singular_value_langevin
    >>> path = singular_value_langevin(None, np.array([2.0, 1.0]), 2, 10.0, 1e-3, 5,
    ...                                chains=Chains(n_chains=2, seed=0))
    >>> path.status, path.states.shape  # [saved times, chains, d]
    ('completed', (2, 2, 2))
    """
    chains = Chains.coerce(chains)
    n_chains, save_every, seed = chains.n_chains, chains.save_every, chains.seed
    s0 = broadcast_chains(check_finite(sigma0, "sigma0"), n_chains, "sigma0", core_ndim=1)
    if s0.shape[-1] < 1:
        raise ValueError(f"sigma0 must have shape [d] or [n_chains, d], got {np.shape(sigma0)}")
    if np.any(s0 < 0):
        raise ValueError("sigma0 must be non-negative singular values")
    depth = check_depth(depth, allow_inf=False)
    beta, h = check_positive_real(beta, "beta"), check_positive_real(step_size, "step_size")
    n_steps, saved = save_schedule(n_steps, save_every)
    normalized = check_bool(normalized, "normalized")
    if spectral_gradient is not None and not callable(spectral_gradient):
        raise ValueError("spectral_gradient must be a callable sigma -> df/dsigma, or None")
    rng = as_generator(seed)
    N = depth
    hh = h / N if normalized else h  # CMV generator = plain generator / N
    lam = s0 ** (1.0 / N)
    d = lam.shape[-1]
    off = ~np.eye(d, dtype=bool)

    def sig_of(lam_):
        return -np.sort(-np.abs(lam_) ** N, axis=-1)

    def advance(lam, _):
        sq = lam**2
        diff = sq[..., :, None] - sq[..., None, :]
        pair = np.where(off & (diff != 0), 2.0 * lam[..., :, None] / diff, 0.0)
        drift = pair.sum(axis=-1) / (N * beta)
        if spectral_gradient is not None:
            sig = np.abs(lam) ** N
            g = np.asarray(spectral_gradient(sig), dtype=float)
            drift = drift - np.sign(lam) * np.abs(lam) ** (N - 1) * g
        drift = drift / (1.0 + hh * np.abs(drift))  # taming (Hutzenthaler-Jentzen-Kloeden)
        return lam + hh * drift + np.sqrt(2.0 * hh / (N * beta)) * rng.standard_normal(lam.shape)

    times, out, status, message = integrate_chains(advance, lam, sig_of, n_steps, saved, h)
    meta = {
        "scheme": "euler-maruyama-singular-values",
        "depth": N,
        "beta": beta,
        "step_size": h,
        "n_steps": n_steps,
        "normalized": check_bool(normalized, "normalized"),
    }
    return LangevinPath(times, np.stack(out), meta, status=status, message=message)
