r"""Langevin dynamics on the balanced manifold in its singular-value chart (ACGH19; GM24).

Square factors, all widths d. A full-rank balanced W is
:math:`W_p = Q_p\Lambda Q_{p-1}^\top`, :math:`Q_0 = V`, :math:`Q_N = U`, :math:`Q_p\in O(d)`,
:math:`\Lambda = \mathrm{diag}(\lambda)`, :math:`\lambda = \sigma^{1/N}` (ACGH19, Procedure 1). The
chart :math:`(\lambda, Q_0, \dots, Q_N)` is used with *signed* :math:`\lambda`: it stays an
immersion where one :math:`\lambda_k` crosses 0 (rank d−1), where the balanced variety is
singular — for d = 2 it has :math:`2^{N-1}` sheets crossing there, one per sign pattern of the
second columns of the :math:`Q_p` (derived; the constraint differential loses rank N−1 there)
— and where the projection scheme of :mod:`geodln.langevin.factors` is biased for N >= 3.
A path of this chart stays on one sheet and continues through rank d−1 (the sign of
:math:`\det X` flips), exactly as the downstairs schemes of :mod:`geodln.langevin.riemannian`
continue through singular X.

**Metric (derived here; tested against the Gram matrix of the numerical Jacobian of the
chart).** With :math:`dQ_p = Q_p\Omega_p`, :math:`dW_p = Q_p(d\Lambda + \Omega_p\Lambda -
\Lambda\Omega_{p-1})Q_{p-1}^\top`; the diagonal and off-diagonal parts are Frobenius-orthogonal,
so with :math:`\omega^{ij}_p = (\Omega_p)_{ij}`, i < j,

.. math:: \textstyle\sum_p\|dW_p\|_F^2 = N\|d\lambda\|^2
          + \sum_{i<j}\omega^{ij\top}T_{ij}\,\omega^{ij},

:math:`T_{ij}` the (N+1)×(N+1) tridiagonal matrix with diagonal
:math:`(\lambda_i^2+\lambda_j^2)(1, 2, \dots, 2, 1)` and off-diagonal :math:`-2\lambda_i\lambda_j`
(its interior (N−1)×(N−1) block is the orbit Gram block of MY25, Theorem 4). The coefficients
depend on λ only and :math:`\omega` are coordinates of left-invariant (divergence-free) fields
on the unimodular group :math:`O(d)^{N+1}`, so the Laplacian of the balanced manifold is

.. math:: \Delta_{\mathcal M} = \tfrac1N\big(\Delta_\lambda + \nabla_\lambda\log\sqrt{g}\cdot
          \nabla_\lambda\big) + \textstyle\sum_{i<j}\sum_{p,q}(T_{ij}^{-1})_{pq}\,
          \xi^{ij}_p\xi^{ij}_q,\qquad \sqrt g = N^{d/2}\textstyle\prod_{i<j}\sqrt{\det T_{ij}},

(:math:`\xi^{ij}_p` the left-invariant field of :math:`E_{ij}-E_{ji}` on :math:`Q_p`), with no
first-order term in the rotations. The Langevin equation
:math:`dW = -\nabla(E\circ\phi)dt + \sqrt{2/\beta}\,dB_{\mathcal M}` (generator
:math:`\tfrac1\beta\Delta_{\mathcal M} - \nabla(E\circ\phi)\cdot\nabla`, the dynamics of
:mod:`geodln.langevin.factors` with ``constrained=True``) is integrated by

.. math:: \lambda \leftarrow \lambda + h\,\mathcal T\Big[-\tfrac1N\partial_\lambda(E\circ\phi)
          + \tfrac{1}{2N\beta}\textstyle\sum_{i<j}\partial_\lambda\log\det T_{ij}\Big]
          + \sqrt{2h/(N\beta)}\,\zeta,\qquad
          Q_p \leftarrow Q_p\exp(\Omega_p),\quad
          \omega^{ij} = -hT_{ij}^{-1}\partial_{\omega^{ij}}(E\circ\phi)
          + \sqrt{2h/\beta}\,T_{ij}^{-1/2}\zeta^{ij},

Euler–Maruyama in λ (drift tamed, :math:`\mathcal T b = b/(1+h|b|)`, as in
:func:`geodln.langevin.singular_value_langevin`, against the :math:`1/(\lambda_i\mp\lambda_j)`
repulsion at near collisions) and geometric Euler in the rotations (the rotation noise is
independent of the λ noise, so Itô and Stratonovich agree). Here
:math:`\partial_{\lambda_k}(E\circ\phi) = \sum_p (M_p)_{kk}` and
:math:`\partial_{\omega^{ij}_p}(E\circ\phi) = [p\ge1](\lambda_jM_p^{ij} - \lambda_iM_p^{ji})
- [p\le N-1](\lambda_iM_{p+1}^{ij} - \lambda_jM_{p+1}^{ji})`, :math:`M_p = Q_p^\top
\nabla_{W_p}(E\circ\phi)\,Q_{p-1}` (:func:`geodln.factors.product_adjoint`).

*Accuracy (measured, d = 2, N = 3, E = ½‖X‖², β = 1, t = 0.5, 20000 chains).* Against the
downstairs root-chart scheme the KS distance of the :math:`\sigma_2` laws is 0.022, 0.019, 0.010
at h = 0.005, 0.0025, 0.00125 (the last not significant, p = 0.33): a discretisation bias of
the tamed λ step near small :math:`\sigma_{\min}` that decreases with h;
:func:`geodln.langevin.singular_value_langevin` (the same tamed step on the downstairs
singular-value SDE) shows the same offset. Without taming the step blows up at near
collisions.

The chart is singular only at collisions :math:`\lambda_i = \pm\lambda_j` (where
:math:`\det T_{ij} = 0`: the ordinary SVD-coordinate singularity, repulsive) and where two λ
vanish together (rank d−2). For E depending on X only through its singular values, the
:math:`\lambda` equation is autonomous.
"""

import numpy as np

from geodln._checks import (
    check_depth,
    check_nonnegative_real,
    check_positive_int,
    check_positive_real,
)
from geodln.factors import balance_defect, check_factors, product, product_adjoint
from geodln.langevin.factors import FactorLangevinPath, finite_product_record
from geodln.langevin.path import (
    Chains,
    as_generator,
    gradient_function,
    integrate_chains,
    save_schedule,
)

__all__ = [
    "balanced_chart_coordinates",
    "balanced_chart_drift",
    "balanced_chart_factors",
    "balanced_chart_gram",
    "balanced_chart_langevin",
]


def balanced_chart_coordinates(factors):
    r"""Chart coordinates :math:`(\lambda, [Q_0, \dots, Q_N])` of full-rank balanced factors.

    :math:`W_1 = Q_1\Lambda Q_0^\top` (SVD), then :math:`Q_p = W_pQ_{p-1}\Lambda^{-1}`, which is
    orthogonal for any SVD of :math:`W_1` (ties included) because
    :math:`W_p^\top W_p = Q_{p-1}\Lambda^2Q_{p-1}^\top` by balance.

    Parameters
    ----------
    factors : list of ndarray
        Balanced ``[W_1..W_N]``, each [..., d, d], full rank.

    Returns
    -------
    lam : ndarray, shape=[..., d]
    frames : list of ndarray
        ``[Q_0, ..., Q_N]``, each [..., d, d].

    Raises
    ------
    ValueError
        If the factors do not have full rank (the chart needs :math:`\lambda_k \ne 0`).

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1
       (:math:`W_p = Q_p \Lambda Q_{p-1}^\top`).

    Examples
    --------
    >>> from geodln.factors import balanced_factors
    >>> from geodln.langevin.balanced_chart import balanced_chart_coordinates
    >>> lam, frames = balanced_chart_coordinates(balanced_factors(np.diag([8.0, 1.0]), depth=3))
    >>> bool(np.allclose(np.abs(lam), [2.0, 1.0])), len(frames)
    (True, 4)
    """
    u, lam, vt = np.linalg.svd(factors[0])
    if np.any(lam[..., -1] <= 1e-12 * np.maximum(lam[..., 0], 1e-300)):
        raise ValueError("factors must have full rank for the balanced chart")
    qs = [np.swapaxes(vt, -1, -2), u]
    for w in factors[1:]:
        qs.append((w @ qs[-1]) / lam[..., None, :])
    return lam, qs


def balanced_chart_factors(lam, frames):
    r"""Return the factors :math:`W_p = Q_p\,\mathrm{diag}(\lambda)\,Q_{p-1}^\top`, p = 1..N.

    Parameters
    ----------
    lam : ndarray, shape=[..., d]
        Signed chart coordinates.
    frames : list of ndarray
        ``[Q_0, ..., Q_N]``, each [..., d, d].

    Returns
    -------
    factors : list of ndarray, shapes [..., d, d]

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Procedure 1.

    Examples
    --------
    The chart inverts :func:`balanced_chart_coordinates`:

    >>> from geodln.init import balanced
    >>> from geodln.langevin.balanced_chart import (
    ...     balanced_chart_coordinates, balanced_chart_factors)
    >>> ws = balanced((2, 2), 3, 1.0, seed=0)
    >>> lam, frames = balanced_chart_coordinates(ws)
    >>> all(np.allclose(a, b) for a, b in zip(balanced_chart_factors(lam, frames), ws))
    True
    """
    return [
        (q * lam[..., None, :]) @ np.swapaxes(qm, -1, -2) for qm, q in zip(frames[:-1], frames[1:])
    ]


def _pair_matrices(depth):
    n = depth + 1
    diag = np.full(n, 2.0)
    diag[0] = diag[-1] = 1.0
    off = np.eye(n, k=1) + np.eye(n, k=-1)
    return np.diag(diag), off


def balanced_chart_gram(lam, depth):
    r"""Rotation blocks :math:`T_{ij}` of the Frobenius metric in the balanced chart.

    Parameters
    ----------
    lam : ndarray, shape=[..., d]
    depth : int
        N, in ``[1, 10**6]``.

    Returns
    -------
    gram : ndarray, shape=[..., d(d-1)/2, N+1, N+1]
        :math:`T_{ij} = (\lambda_i^2+\lambda_j^2)\,\mathrm{diag}(1, 2, \dots, 2, 1)
        - 2\lambda_i\lambda_j\,(\text{off-diagonal ones})`, pairs i < j in row-major order.
    pairs : tuple of ndarray, shapes [d(d-1)/2]
        Indices ``(i, j)`` of the pairs.

    Raises
    ------
    ValueError
        If ``depth`` is not an integer in ``[1, 10**6]`` (bools are not numbers).

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (its proof: the per-pair tridiagonal
       Gram blocks of the orbit).

    Examples
    --------
    Depth 2, :math:`\lambda = (2, 1)`: diagonal :math:`5\,(1, 2, 1)`, off-diagonal
    :math:`-2\cdot 2\cdot 1`:

    >>> from geodln.langevin.balanced_chart import balanced_chart_gram
    >>> gram, pairs = balanced_chart_gram(np.array([2.0, 1.0]), 2)
    >>> gram[0]
    array([[ 5., -4.,  0.],
           [-4., 10., -4.],
           [ 0., -4.,  5.]])
    """
    d = lam.shape[-1]
    i, j = np.triu_indices(d, k=1)
    dmat, off = _pair_matrices(check_depth(depth, "depth", allow_inf=False))
    a = (lam[..., i] ** 2 + lam[..., j] ** 2)[..., None, None]
    b = (lam[..., i] * lam[..., j])[..., None, None]
    return a * dmat - 2.0 * b * off, (i, j)


def _rotation(omega):
    """Return exp(omega) for skew [..., d, d]: closed forms for d = 2, 3, else eigh of i*omega."""
    d = omega.shape[-1]
    if d == 2:
        t = omega[..., 0, 1]
        c, s = np.cos(t), np.sin(t)
        return np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)
    if d == 3:  # Rodrigues: I + sin(t)/t W + (1 - cos t)/t^2 W^2, t = |w|
        t = np.sqrt(0.5 * np.sum(omega**2, axis=(-2, -1)))[..., None, None]
        a, b = np.sinc(t / np.pi), 0.5 * np.sinc(t / (2 * np.pi)) ** 2
        return np.eye(3) + a * omega + b * (omega @ omega)
    mu, vec = np.linalg.eigh(1j * omega)  # omega = V diag(-i mu) V^H
    return np.real((vec * np.exp(-1j * mu)[..., None, :]) @ np.conj(np.swapaxes(vec, -1, -2)))


def balanced_chart_drift(lam, frames, loss_gradient, depth, beta):
    r"""Drift of the balanced-manifold Langevin equation in the chart (module docstring).

    Parameters
    ----------
    lam : ndarray, shape=[..., d]
    frames : list of ndarray
        ``[Q_0, ..., Q_N]``, each [..., d, d].
    loss_gradient : callable or None
        :math:`X \mapsto \nabla E(X)` (batched), or None.
    depth : int
    beta : float

    Returns
    -------
    lam_drift : ndarray, shape=[..., d]
        :math:`-\tfrac1N\partial_\lambda(E\circ\phi) + \tfrac{1}{2N\beta}\sum_{i<j}
        \partial_\lambda\log\det T_{ij}` (untamed).
    omega_drift : ndarray, shape=[..., d(d-1)/2, N+1]
        :math:`-T_{ij}^{-1}\partial_{\omega^{ij}}(E\circ\phi)` (no Itô term).
    eig : tuple
        ``(evals, evecs)`` of the blocks :math:`T_{ij}` (the noise is
        :math:`\sqrt{2h/\beta}\,\mathrm{evecs}\,\mathrm{evals}^{-1/2}\zeta`).

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: the balanced manifold foliated
       by group orbits).

    Examples
    --------
    >>> from geodln.init import balanced
    >>> from geodln.langevin.balanced_chart import (
    ...     balanced_chart_coordinates, balanced_chart_drift)
    >>> lam, frames = balanced_chart_coordinates(balanced((2, 2), 3, 1.0, seed=0))
    >>> lam_drift, omega_drift, eig = balanced_chart_drift(lam, frames, None, 3, 10.0)
    >>> lam_drift.shape, omega_drift.shape  # d = 2: one pair, N + 1 = 4 rotation angles
    ((2,), (1, 4))
    """
    N = depth
    dmat, off = _pair_matrices(N)
    gram, (i, j) = balanced_chart_gram(lam, N)
    evals, evecs = np.linalg.eigh(gram)
    evals = np.maximum(evals, np.finfo(float).tiny)
    tinv = (evecs / evals[..., None, :]) @ np.swapaxes(evecs, -1, -2)
    # d log det T / d lambda_i = tr(T^{-1}(2 lambda_i D - 2 lambda_j O)), and i <-> j
    tr_d = np.einsum("...ab,ba->...", tinv, dmat)
    tr_o = np.einsum("...ab,ba->...", tinv, off)
    li, lj = lam[..., i], lam[..., j]
    dlam = np.zeros(lam.shape)
    np.add.at(dlam.T, i, (2 * li * tr_d - 2 * lj * tr_o).T)
    np.add.at(dlam.T, j, (2 * lj * tr_d - 2 * li * tr_o).T)
    lam_drift = dlam / (2.0 * N * beta)
    omega_drift = np.zeros(gram.shape[:-1])  # [..., pairs, N+1]
    if loss_gradient is not None:
        ws = balanced_chart_factors(lam, frames)
        grads = product_adjoint(ws, loss_gradient(product(ws)))
        m = [np.swapaxes(frames[p + 1], -1, -2) @ g @ frames[p] for p, g in enumerate(grads)]
        lam_drift = lam_drift - sum(np.diagonal(mp, axis1=-2, axis2=-1) for mp in m) / N
        cvec = np.zeros(gram.shape[:-1])
        for p in range(N + 1):
            if p >= 1:
                cvec[..., p] += lj * m[p - 1][..., i, j] - li * m[p - 1][..., j, i]
            if p <= N - 1:
                cvec[..., p] -= li * m[p][..., i, j] - lj * m[p][..., j, i]
        omega_drift = -(tinv @ cvec[..., None])[..., 0]
    return lam_drift, omega_drift, (evals, evecs)


def _chart_step(grad_e, depth, beta, h):
    N = depth

    def step(lam, qs, rng):
        d = lam.shape[-1]
        drift, omega_drift, (evals, evecs) = balanced_chart_drift(lam, qs, grad_e, N, beta)
        i, j = np.triu_indices(d, k=1)
        drift = drift / (1.0 + h * np.abs(drift))  # taming, as in singular_value_langevin
        lam_new = lam + h * drift + np.sqrt(2.0 * h / (N * beta)) * rng.standard_normal(lam.shape)
        zeta = rng.standard_normal(omega_drift.shape)
        noise = (evecs @ (zeta / np.sqrt(evals))[..., None])[..., 0]
        omega = h * omega_drift + np.sqrt(2.0 * h / beta) * noise  # [..., pairs, N+1]
        new_qs = []
        for p in range(N + 1):
            om = np.zeros(lam.shape[:-1] + (d, d))
            om[..., i, j] = omega[..., p]
            om[..., j, i] = -omega[..., p]
            new_qs.append(qs[p] @ _rotation(om))
        return lam_new, new_qs

    return step


def balanced_chart_langevin(
    loss,
    factors0,
    beta,
    step_size,
    n_steps,
    *,
    balance_tol=1e-8,
    chains=None,
):
    r"""Langevin dynamics on the balanced manifold, integrated in the balanced chart.

    Same dynamics as :func:`geodln.langevin.factor_langevin` with ``constrained=True``
    (generator :math:`\tfrac1\beta\Delta_{\mathcal M} - \nabla(E\circ\phi)\cdot\nabla`, metric
    induced by the Frobenius inner product of the factors), discretised in the chart of the
    module docstring, which stays regular through rank-deficient X. Square factors, all
    widths equal.

    Parameters
    ----------
    loss : Loss, callable or None
        The energy E of the end-to-end matrix.
    factors0 : list of array-like
        Balanced, full-rank ``[W_1, ..., W_N]``, each [d, d] (broadcast to ``n_chains``) or
        [B, d, d].
    beta : float
        Inverse temperature.
    step_size : float
    n_steps : int
    balance_tol : float
        Relative balance defect accepted for ``factors0``.
    chains : Chains, optional
        Number of chains (when the start is a single point), save interval (default: start
        and end only) and seed (:class:`geodln.langevin.Chains`).

    Returns
    -------
    path : FactorLangevinPath

    Raises
    ------
    ValueError
        Bad arguments, non-square or unequal widths, unbalanced or rank-deficient start, or
        divergence.

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: the balanced manifold foliated
       by group orbits).

    Examples
    --------
    >>> from geodln.init import balanced
    >>> from geodln.langevin import Chains, balanced_chart_langevin
    >>> ws = balanced((2, 2), 3, 1.0, seed=0)
    >>> path = balanced_chart_langevin(None, ws, 10.0, 1e-3, 4, chains=Chains(n_chains=2, seed=0))
    >>> path.status, path.X.shape  # [saved times, chains, m, n]
    ('completed', (2, 2, 2, 2))
    >>> bool(np.max(path.balance_defect) < 1e-10)
    True
    """
    chains = Chains.coerce(chains)
    n_chains, save_every, seed = chains.n_chains, chains.save_every, chains.seed
    ws = check_factors(factors0, "factors0")
    d = ws[0].shape[-1]
    if any(w.shape[-2:] != (d, d) for w in ws):
        raise ValueError("factors0 must be square with all widths equal for the balanced chart")
    if ws[0].ndim == 2:
        b = 1 if n_chains is None else check_positive_int(n_chains, "n_chains")
        ws = [np.broadcast_to(w, (b,) + w.shape).copy() for w in ws]
    elif any(w.ndim != 3 or w.shape[0] != ws[0].shape[0] for w in ws):
        raise ValueError("factors0 must all be [d, d] or all [B, d, d]")
    elif n_chains is not None and check_positive_int(n_chains, "n_chains") != ws[0].shape[0]:
        raise ValueError(f"n_chains={n_chains} does not match factors0 batch {ws[0].shape[0]}")
    beta, h = check_positive_real(beta, "beta"), check_positive_real(step_size, "step_size")
    n_steps, saved = save_schedule(n_steps, save_every)
    balance_tol = check_nonnegative_real(balance_tol, "balance_tol")
    if np.max(balance_defect(ws, relative=True)) > balance_tol:
        raise ValueError(
            "factors0 must be balanced (W_{p+1}^T W_{p+1} = W_p W_p^T); use "
            "geodln.factors.balanced_factors or geodln.init.balanced"
        )
    try:
        lam, qs = balanced_chart_coordinates(ws)
    except ValueError as err:
        raise ValueError(f"factors0: {err}") from None
    step_fn = _chart_step(gradient_function(loss), len(ws), beta, h)
    rng = as_generator(seed)
    times, out, status, message = integrate_chains(
        lambda state, _: step_fn(state[0], state[1], rng), (lam, qs),
        lambda state: finite_product_record(balanced_chart_factors(*state)), n_steps, saved, h
    )
    factors = [np.stack([rec[p] for rec in out]) for p in range(len(ws))]
    meta = {
        "scheme": "balanced-chart",
        "beta": beta,
        "step_size": h,
        "n_steps": n_steps,
        "constrained": True,
        "loss": repr(loss),
    }
    return FactorLangevinPath(times, factors, meta, status=status, message=message)
