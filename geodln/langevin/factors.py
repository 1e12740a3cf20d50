r"""Upstairs Langevin dynamics on the factors of a deep linear network (GM24).

Two factor-space dynamics for an energy :math:`E(X)` of the end-to-end matrix
:math:`X = \phi(W) = W_N\cdots W_1`, batched over chains:

**Constrained (default): Langevin on the balanced manifold.** The Riemannian Langevin equation of
the balanced manifold :math:`\mathcal M = \{W_{p+1}^\top W_{p+1} = W_pW_p^\top\}` with the metric
induced by the Frobenius inner product, potential :math:`E\circ\phi`, generator
:math:`\tfrac1\beta\Delta_{\mathcal M} - \nabla(E\circ\phi)\cdot\nabla`, invariant law
:math:`\propto e^{-\beta E\circ\phi}\,d\sigma_{\mathcal M}`. Scheme:
Ciccotti–Lelièvre–Vanden-Eijnden projection (CPAM 61, 2008; Lelièvre–Rousset–Stoltz, *Free
energy computations* §3.3):

.. math:: W^{k+1} = W^k - h\nabla(E\circ\phi)(W^k) + \sqrt{2h/\beta}\,G
          + \textstyle\sum_p \nabla c_p(W^k)\,S_p, \qquad c(W^{k+1}) = 0,

with :math:`c_p = W_{p+1}^\top W_{p+1} - W_pW_p^\top` and symmetric Lagrange multipliers
:math:`S_p` found by Newton's method (the normal direction is
:math:`(2W_qS_{q-1} - 2S_qW_q)_q`); it is consistent with the projected diffusion above, the
mean-curvature drift coming from the projection.

*Limitation (N >= 3).* The scheme assumes the constraints are regular (the Gram matrix of the
:math:`\nabla c_p` uniformly invertible). Near rank-deficient X the balanced variety is
singular (d = 2: :math:`2^{N-1}` sheets cross along rank 1; the constraint differential loses
rank N−1, its smallest singular values are :math:`\propto\sigma_{\min}^{1/N}`). For N = 2 the
multiplier equation is linear (its quadratic term :math:`4S\,c(W^k)S` vanishes by balance) and
the scheme is accurate; for N >= 3 it is quadratic, Newton can land on a distant root, and the
projection adds a spurious push away from rank deficiency (measured, d = 2, N = 3, h = 0.005:
one-step mean increase of :math:`\lambda_2 = \sigma_2^{1/N}` from 0.1 is 0.027, against 0.002
with the chart scheme), so the chains under-sample small :math:`\sigma_{\min}`. Use
:func:`geodln.langevin.balanced_chart_langevin` (same dynamics, regular chart) there.

*Pushforward (derived here; checked numerically in the tests).* :math:`\phi:\mathcal M\to M_d` is
a Riemannian submersion onto :math:`(M_d, g^N)` (Menon–Yu) whose fibres are orbits
:math:`O_X` of the isometric action of :math:`O(d)^{N-1}` on the hidden layers. For such a
submersion :math:`\Delta_{\mathcal M}(f\circ\phi) = (\Delta_{g^N}f + g^N(\mathrm{grad}\,S,
\mathrm{grad}\,f))\circ\phi` with :math:`S = \log\mathrm{vol}(O_X)` (the mean curvature of the
fibres is :math:`-\mathrm{grad}\,S`, lifted). Hence :math:`X_t = \phi(W_t)` is itself a Markov
process: the downstairs Langevin equation of the free energy :math:`F_\beta = E - S/\beta` at
inverse temperature :math:`\beta` (:func:`geodln.langevin.riemannian_langevin` with
``entropic=True``), with invariant law :math:`\propto e^{-\beta E}\,\mathrm{vol}(O_X)\,
d\mathrm{vol}_{g^N}` (coarea formula). This is GM's statement with :math:`\kappa = 1`
(equal horizontal and vertical noise); reading GM's :math:`P` as the vertical projector, the
general-:math:`\kappa` statement of GM24 (downstairs temperature :math:`\kappa/\beta`) is
*not* simulated here and remains open.

**Free: Euclidean Langevin on the factors.** :math:`dW = -\nabla_W(E\circ\phi)\,dt +
\sqrt{2/\beta}\,dB` in :math:`\mathbb R^{\sum d_pd_{p-1}}` (``constrained=False``). Because
:math:`\phi` is multilinear and the factor noises are independent, Itô's formula has no
second-order term: :math:`dX = -D\phi D\phi^*(\nabla E)\,dt + \sqrt{2/\beta}\,D\phi(dB)`, so from a
balanced point the drift of X is :math:`-A_{N,X}\nabla E` *without* the downstairs Itô drift
:math:`\tfrac{N-1}\beta X(X^\top X)^{-1/N}`, and the balance residuals diffuse (they are
martingales for equal widths): the pushforward is **not** the downstairs Langevin law, and
:math:`E\circ\phi` is not confining upstairs (no invariant probability).

Abbreviations: GM = Menon, "The geometry of the deep linear network" (GM24).
"""

import numpy as np

from geodln._checks import (
    check_bool,
    check_nonnegative_real,
    check_positive_int,
    check_positive_real,
)
from geodln.factors import (
    balance_defect,
    balance_residuals,
    check_factors,
    product,
    product_adjoint,
)
from geodln.langevin.path import (
    ChainDivergence,
    Chains,
    as_generator,
    gradient_function,
    integrate_chains,
    run_info,
    save_schedule,
)
from geodln.storage import (
    check_count,
    check_finite_for_status,
    check_record_array,
    check_times,
    load_record,
    save_arrays,
)

__all__ = [
    "FactorLangevinPath",
    "factor_langevin",
    "balanced_projection_step",
    "finite_product_record",
]

KIND = "factor-langevin-path"


class FactorLangevinPath:
    """Recorded states of a batch of factor-space Langevin chains.

    Parameters
    ----------
    times : array-like, shape=[T]
        Recorded times (non-decreasing, finite).
    factors : list of array-like
        ``[W_1, ..., W_N]``, each of shape [T, B, d_p, d_{p-1}]; finite unless diverged.
    metadata : dict, optional
        JSON-serialisable settings.
    status : {"completed", "diverged"}
        Why the run stopped (a diverged run ends at its last finite state).
    message : str
        Human-readable reason.

    Attributes
    ----------
    X : ndarray, shape=[T, B, m, n]
        End-to-end matrices (pushforward by the product map).
    balance_defect : ndarray, shape=[T, B]
        Largest Frobenius norm of the balance residuals.

    Raises
    ------
    ValueError
        If the times decrease or are not finite, a factor is not a real [T, B, d_p, d_(p-1)]
        array, consecutive factors do not chain, or a completed path holds NaN/inf.

    References
    ----------
    .. [1] GM24: Menon, arXiv:2411.09004, Abstract (Langevin dynamics of the DLN).

    Examples
    --------
    >>> import numpy as np
    >>> path = FactorLangevinPath([0.0, 1.0], [np.ones((2, 1, 3, 2)), np.ones((2, 1, 1, 3))])
    >>> path.X.shape
    (2, 1, 1, 2)
    """

    def __init__(self, times, factors, metadata=None, status="completed", message=""):
        self.metadata = run_info(metadata, status, message)
        self.times = check_times(times)
        if not isinstance(factors, list | tuple) or not factors:
            raise ValueError("factors must be a non-empty list of arrays [T, B, d_p, d_(p-1)]")
        self.factors = [check_record_array(w, f"factors[{p}]") for p, w in enumerate(factors)]
        for p, w in enumerate(self.factors):
            if w.ndim != 4 or w.shape[:2] != self.factors[0].shape[:2] or w.shape[0] != len(
                self.times
            ):
                raise ValueError(
                    f"factors[{p}] must have shape [T, B, d_p, d_(p-1)] with T = "
                    f"{self.times.size}, got {w.shape}"
                )
            if p and w.shape[-1] != self.factors[p - 1].shape[-2]:
                raise ValueError(f"factors[{p}] does not chain with factors[{p - 1}]")
        for p, w in enumerate(self.factors):
            check_finite_for_status(self.status, **{f"factors[{p}]": w})
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's huge factors
            self.X = product(self.factors)
            self.balance_defect = balance_defect(self.factors)

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
        """End-to-end matrices at the last recorded time, shape [B, m, n]."""
        return self.X[-1]

    def singular_values(self):
        """Singular values of the end-to-end matrices, shape [T, B, min(m, n)]."""
        return np.linalg.svd(self.X, compute_uv=False)

    def save(self, path):
        """Write to ``path`` (``.npz``) through :func:`geodln.storage.save_arrays`.

        Parameters
        ----------
        path : str or os.PathLike
            Target file.
        """
        arrays = {"times": self.times}
        arrays.update({f"W{p + 1}": w for p, w in enumerate(self.factors)})
        save_arrays(path, arrays, KIND, dict(self.metadata, depth=len(self.factors)))

    @classmethod
    def load(cls, path):
        """Read a file written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file.

        Returns
        -------
        path : FactorLangevinPath

        Raises
        ------
        ValueError
            If the file is unreadable, foreign, or violates the schema.
        """

        def build(arrays, meta):
            depth = check_count(meta["depth"], "depth")
            return cls(arrays["times"], [arrays[f"W{p + 1}"] for p in range(depth)], meta)

        return load_record(path, KIND, build)

    def __repr__(self):
        return f"FactorLangevinPath(T={self.times.size}, chains={self.X.shape[1]})"


# ---------------------------------------------------------------------------------------------
# constraint c = geodln.factors.balance_residuals, its differential and its normal directions
# ---------------------------------------------------------------------------------------------
def finite_product_record(factors):
    """Copy of ``factors`` for a path record, or NaN if their product X overflows.

    Integration treats a NaN record as divergence (finite factors whose end-to-end matrix is
    not representable are not a usable state).

    Parameters
    ----------
    factors : list of ndarray
        ``[W_1, ..., W_N]``, each [B, d_p, d_(p-1)].

    Returns
    -------
    record : list of ndarray, shapes [B, d_p, d_(p-1)]

    References
    ----------
    .. [1] GM24: Menon, arXiv:2411.09004, Abstract (Langevin dynamics of the DLN).

    Examples
    --------
    >>> import numpy as np
    >>> rec = finite_product_record([np.full((1, 1, 1), 1e200), np.full((1, 1, 1), 1e200)])
    >>> bool(np.isnan(rec[0]).all())
    True
    """
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.all(np.isfinite(product(factors)))
    return [w.copy() if ok else np.full(w.shape, np.nan) for w in factors]


def _constraint_differential(ws, dws):
    out = []
    for p in range(len(ws) - 1):
        a, b, da, db = ws[p], ws[p + 1], dws[p], dws[p + 1]
        out.append(db.mT @ b + b.mT @ db - da @ a.mT - a @ da.mT)
    return out


def _normal(ws, multipliers):
    """Return :math:`\\sum_p \\nabla c_p(W)^* S_p`: component q is ``2 W_q S_{q-1} - 2 S_q W_q``."""
    out = [np.zeros_like(w) for w in ws]
    for p, s in enumerate(multipliers):  # s pairs factors p (below) and p + 1 (above)
        out[p + 1] = out[p + 1] + 2.0 * ws[p + 1] @ s
        out[p] = out[p] - 2.0 * s @ ws[p]
    return out


def _sym_basis(d):
    basis = []
    for i in range(d):
        for j in range(i, d):
            e = np.zeros((d, d))
            e[i, j] = e[j, i] = 1.0
            basis.append(e)
    return basis


def _upper(mats):
    idx = [np.triu_indices(m.shape[-1]) for m in mats]
    return np.concatenate([m[..., i, j] for m, (i, j) in zip(mats, idx)], axis=-1)


def balanced_projection_step(ws, proposal, tol=1e-12, max_iter=30):
    r"""Project ``proposal`` back onto the balanced manifold along the normals at ``ws``.

    Solve :math:`c(\tilde W + \sum_p \nabla c_p(W)^*S_p) = 0` for symmetric :math:`S_p` by
    Newton's method (batched).

    Parameters
    ----------
    ws : list of ndarray
        Current balanced factors ``[W_1..W_N]``, each [B, d_p, d_{p-1}].
    proposal : list of ndarray
        Unconstrained proposal, same shapes.
    tol : float
        Absolute tolerance on the balance residuals, relative to the squared factor scale.
    max_iter : int
        Newton iterations.

    Returns
    -------
    projected : list of ndarray, shapes [B, d_p, d_{p-1}]
    converged : ndarray of bool, shape=[B]
        Chains whose projection converged (near the rank-deficient stratum, where the balanced
        variety is singular, Newton can fail for a large step).

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).
    .. [2] BAL25: Lindsey, Menon, arXiv:2511.01137, Eq. (1.2) (the balanced variety, the level set
       of the balance constraints).

    Examples
    --------
    >>> from geodln.factors import balance_defect
    >>> from geodln.init import balanced
    >>> from geodln.langevin.factors import balanced_projection_step
    >>> ws = [w[None] for w in balanced((2, 2), 3, 1.0, seed=0)]  # one chain, [B, d, d]
    >>> projected, converged = balanced_projection_step(ws, [w + 1e-3 for w in ws])
    >>> converged, bool(balance_defect(projected)[0] < 1e-10)
    (array([ True]), True)
    """
    widths = [w.shape[-2] for w in ws[:-1]]
    bases = [_sym_basis(d) for d in widths]
    batch = ws[0].shape[:-2]
    n_unknowns = sum(len(b) for b in bases)
    scale = 1.0 + np.max(np.stack([np.sum(w**2, axis=(-2, -1)) for w in proposal]), axis=0)
    normals = []
    for p, basis in enumerate(bases):
        for e in basis:
            mult = [np.zeros(batch + (d, d)) for d in widths]
            mult[p] = np.broadcast_to(e, batch + e.shape).copy()
            normals.append(_normal(ws, mult))
    mu = np.zeros(batch + (n_unknowns,))
    new = [w.copy() for w in proposal]
    for _ in range(max_iter):
        res = _upper(balance_residuals(new))
        done = np.max(np.abs(res), axis=-1) <= tol * scale
        if np.all(done):
            break
        jac = np.stack([_upper(_constraint_differential(new, nrm)) for nrm in normals], axis=-1)
        jac = jac + np.where(done, 1.0, 0.0)[..., None, None] * np.eye(n_unknowns)
        try:
            delta = np.linalg.solve(jac, -res[..., None])[..., 0]
        except np.linalg.LinAlgError:
            delta = (np.linalg.pinv(jac) @ -res[..., None])[..., 0]
        mu = mu + np.where(done[..., None], 0.0, delta)
        new = [w.copy() for w in proposal]
        for i, nrm in enumerate(normals):
            for q in range(len(new)):
                new[q] = new[q] + mu[..., i, None, None] * nrm[q]
    res = _upper(balance_residuals(new))
    converged = np.all(np.isfinite(res), axis=-1) & (np.max(np.abs(res), axis=-1) <= tol * scale)
    return new, converged


def _constrained_step(ws, grad_e, h, beta, rng, level, counter):
    prop = [w + np.sqrt(2.0 * h / beta) * rng.standard_normal(w.shape) for w in ws]
    if grad_e is not None:
        grads = product_adjoint(ws, grad_e(product(ws)))
        prop = [w - h * g for w, g in zip(prop, grads)]
    new, ok = balanced_projection_step(ws, prop)
    if not np.all(ok):
        if level >= MAX_REFINE:
            raise ChainDivergence(
                "the projection onto the balanced manifold did not converge even with step "
                f"{h}: reduce step_size"
            )
        bad = ~ok
        counter[0] += int(bad.sum())
        sub = [w[bad] for w in ws]
        for _ in range(2):  # redo the failed chains with two half steps (fresh noise)
            sub = _constrained_step(sub, grad_e, h / 2, beta, rng, level + 1, counter)
        for q in range(len(new)):
            new[q][bad] = sub[q]
    return new


#: Largest number of step halvings for a chain whose projection fails.
MAX_REFINE = 8


def factor_langevin(
    loss,
    factors0,
    beta,
    step_size,
    n_steps,
    *,
    constrained=True,
    balance_tol=1e-8,
    chains=None,
):
    r"""Langevin dynamics of the factors (balanced-manifold or free), batched over chains.

    See the module docstring for the two dynamics and their pushforward laws.

    Parameters
    ----------
    loss : Loss, callable or None
        The energy E of the end-to-end matrix (its Euclidean gradient is pulled back by
        :func:`geodln.factors.product_adjoint`); ``None``: no potential.
    factors0 : list of array-like
        ``[W_1, ..., W_N]``, each [d_p, d_{p-1}] (broadcast to ``n_chains``) or
        [B, d_p, d_{p-1}]. Balanced (to ``balance_tol``) when ``constrained``.
    beta : float
        Inverse temperature.
    step_size : float
    n_steps : int
    constrained : bool
        ``True``: Langevin on the balanced manifold (projection scheme). ``False``: free
        Euclidean Langevin on the factors.
    balance_tol : float
        Relative balance defect accepted for ``factors0`` when ``constrained``.
    chains : Chains, optional
        Number of chains (when the start is a single point), save interval (default: start
        and end only) and seed (:class:`geodln.langevin.Chains`).

    Returns
    -------
    path : FactorLangevinPath

    Raises
    ------
    ValueError
        Bad arguments, unbalanced start (constrained), or divergence / failed projection.

    References
    ----------
    .. [1] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004, Abstract
       (stochastic gradient descent of the free energy by a Riemannian Langevin
       equation, outlined in the introduction).

    Examples
    --------
    >>> from geodln.init import balanced
    >>> from geodln.langevin import Chains, factor_langevin
    >>> ws = balanced((2, 2), 3, 1.0, seed=0)
    >>> path = factor_langevin(None, ws, 10.0, 1e-3, 4, chains=Chains(n_chains=2, seed=0))
    >>> path.status, path.X.shape
    ('completed', (2, 2, 2, 2))
    """
    chains = Chains.coerce(chains)
    n_chains, save_every, seed = chains.n_chains, chains.save_every, chains.seed
    ws = check_factors(factors0, "factors0")
    if ws[0].ndim == 2:
        b = 1 if n_chains is None else check_positive_int(n_chains, "n_chains")
        ws = [np.broadcast_to(w, (b,) + w.shape).copy() for w in ws]
    else:
        if any(w.ndim != 3 or w.shape[0] != ws[0].shape[0] for w in ws):
            raise ValueError("factors0 must all be [d_p, d_(p-1)] or all [B, d_p, d_(p-1)]")
        if n_chains is not None and check_positive_int(n_chains, "n_chains") != ws[0].shape[0]:
            raise ValueError(f"n_chains={n_chains} does not match factors0 batch {ws[0].shape[0]}")
        ws = [w.copy() for w in ws]
    beta, h = check_positive_real(beta, "beta"), check_positive_real(step_size, "step_size")
    n_steps, saved = save_schedule(n_steps, save_every)
    constrained = check_bool(constrained, "constrained")
    balance_tol = check_nonnegative_real(balance_tol, "balance_tol")
    if constrained and np.max(balance_defect(ws, relative=True)) > balance_tol:
        raise ValueError(
            "factors0 must be balanced (W_{p+1}^T W_{p+1} = W_p W_p^T) for constrained=True; "
            "use geodln.factors.balanced_factors or geodln.init.balanced"
        )
    grad_e = gradient_function(loss)
    rng = as_generator(seed)
    noise = np.sqrt(2.0 * h / beta)
    refined = [0]

    def advance(ws, _):
        if constrained and len(ws) > 1:
            return _constrained_step(ws, grad_e, h, beta, rng, 0, refined)
        prop = [w + noise * rng.standard_normal(w.shape) for w in ws]
        if grad_e is not None:
            x = product(ws)
            if not np.all(np.isfinite(x)):  # the end-to-end matrix overflowed
                return [np.full(w.shape, np.nan) for w in ws]
            grads = product_adjoint(ws, grad_e(x))
            prop = [w - h * g for w, g in zip(prop, grads)]
        return prop

    times, out, status, message = integrate_chains(
        advance, ws, finite_product_record, n_steps, saved, h
    )
    factors = [np.stack([rec[p] for rec in out]) for p in range(len(ws))]
    meta = {
        "scheme": "clv-projection" if constrained else "euler-maruyama-factors",
        "beta": beta,
        "step_size": h,
        "n_steps": n_steps,
        "constrained": bool(constrained),
        "refined_steps": refined[0],
        "loss": repr(loss),
    }
    return FactorLangevinPath(times, factors, meta, status=status, message=message)
