r"""Brownian motion and the Riemannian Langevin equation on :math:`(M_d, g^N)`.

Square, full-rank d×d matrices with the DLN metric :math:`g^N` (plain sum :math:`A_{N,X}` by
default, reference ``dln-geometry.md`` §2; ``normalized=True`` is the CMV convention
:math:`A/N`). The Riemannian Langevin equation at inverse temperature :math:`\beta` for an
energy :math:`E` is the diffusion with generator

.. math:: \mathcal L f = \tfrac1\beta \Delta_{g^N} f - g^N(\mathrm{grad}\,E, \mathrm{grad} f),

whose invariant measure is :math:`\propto e^{-\beta E}\,d\mathrm{vol}_{g^N}` (reference §6);
``loss=None`` is Brownian motion with generator :math:`\tfrac1\beta\Delta_{g^N}`.

**Itô form in entry coordinates (derived here, tested against finite differences).** In the
entries of X the cometric is :math:`A_{N,X}` and :math:`\Delta f = \mathrm{tr}(A\,\nabla^2 f)
+ \langle b, \nabla f\rangle` with :math:`b = \Delta_{g^N}(X) = \mathrm{div}A -
\tfrac12 A\nabla\log\det A`. Differentiating the SVD (:math:`u_j^\top du_k =
(\sigma_k a_{jk} + \sigma_j a_{kj})/(\sigma_k^2-\sigma_j^2)`, :math:`a = U^\top dX V`) gives, for a
spectral kernel :math:`K_{kl} = k(\sigma_k^2, \sigma_l^2)`,
:math:`b = U\,\mathrm{diag}(\delta_k)V^\top`, :math:`\delta_k = \partial_{\sigma_k}K_{kk}
+ 2\sigma_k\sum_{l\ne k}(K_{kk}-K_{kl})/(\sigma_k^2-\sigma_l^2) - \tfrac12 K_{kk}\partial_{\sigma_k}
\log\det A`, and for the DLN kernel everything but one term cancels:

.. math:: \Delta_{g^N} X = (N-1)\,X (X^\top X)^{-1/N} = (N-1)\,U\,\Sigma^{1-2/N} V^\top

(divided by N in the CMV normalisation). Its singular values follow the autonomous SDE of
reference §6 (:math:`d\sigma_k = \tfrac1\beta[(N-1)\sigma_k^{1-2/N} +
2\sigma_k\sum_{l\ne k}(\sigma_k^{2/N}-\sigma_l^{2/N})^{-1}]dt + \sqrt{2N/\beta}\,
\sigma_k^{1-1/N}dB_k` for BM). ``scheme="entries"`` is Euler–Maruyama in these coordinates,
:math:`X_{k+1} = X_k + h[-A_{N,X}(\nabla E) + \tfrac{N-1}{\beta}X(X^\top X)^{-1/N}] +
\sqrt{2h/\beta}\,U(\sqrt K\circ G)V^\top` (G standard Gaussian; :math:`U(\sqrt K\circ G)V^\top`
has the law of :math:`A^{1/2}\xi`). Its diffusion coefficient is only Hölder
(:math:`\sigma^{1-1/N}`) at singular X, and it is measurably biased near them at practical
steps (the tests show it); it is kept for comparison.

**Root chart (default scheme).** In :math:`Y = U\Sigma^{1/N}V^\top` (singular values
:math:`\lambda = \sigma^{1/N}`, those of a balanced factor) the volume is constant,
:math:`d\mathrm{vol}_{g^N} = N^{d/2}dY`, so :math:`\Delta_{g^N} = \partial_i B^{ij}\partial_j`
with the pulled-back co-metric B, which acts on the symmetric/skew parts of each pair
:math:`(k, l)` of :math:`U^\top W V` by :math:`P = \delta^+/\delta^-`, :math:`Q = \delta^-/\delta^+`
(:math:`\delta^\mp = (\lambda_k^N\mp\lambda_l^N)/(\lambda_k\mp\lambda_l)`; :math:`1/N` on the
diagonal): smooth, bounded and non-degenerate also at singular and at repeated points
(:func:`root_chart_coefficients`, derivation in its docstring). Euler–Maruyama in Y is

.. math:: Y_{k+1} = Y_k + h\big[-D\psi(A_{N,X}\nabla E) + \tfrac1\beta\,\mathrm{div}B\big]
          + \sqrt{2h/\beta}\,U(\sqrt P\circ\mathrm{sym}\,G + \sqrt Q\circ\mathrm{skew}\,G)V^\top,

with :math:`X = Y(Y^\top Y)^{(N-1)/2}`; the pushed gradient is
:math:`U(\delta^+\circ\mathrm{sym}M + \delta^-\circ\mathrm{skew}M)V^\top`,
:math:`M = U^\top\nabla E\,V`.

**Singular-value coordinates.** For a spectral energy :math:`E(X) = f(\sigma)`, the singular
values are autonomous; in :math:`\lambda_k = \sigma_k^{1/N}` (the singular values of a balanced
factor) the diagonal part of :math:`g^N` is :math:`N\sum d\lambda_k^2`, the volume density is
:math:`|\mathrm{van}(\lambda^2)|` (CMV Thm 1.1 after the change of variables) and

.. math:: d\lambda_k = \Big[-\lambda_k^{N-1}\partial_{\sigma_k}f
          + \frac{1}{N\beta}\sum_{l\ne k}\frac{2\lambda_k}{\lambda_k^2-\lambda_l^2}\Big]dt
          + \sqrt{\tfrac{2}{N\beta}}\,dB_k ,

which :func:`singular_value_langevin` integrates (an independent discretisation of the same
law; the drift is tamed, :math:`b/(1 + h|b|)`, against the jumps of Euler–Maruyama at near
collisions).

**Boundary.** :math:`g^N` is incomplete and the process reaches singular matrices in finite
time (the density of :math:`\lambda` does not vanish at 0). All schemes continue through them:
X changes the sign of its determinant, :math:`\lambda` changes sign; the singular values are
those of the process reflected at 0, whose invariant density on :math:`\sigma_1 > \dots > \sigma_d
> 0` is :math:`e^{-\beta E}` times the CMV volume form.

**Entropic drift.** ``entropic=True`` adds :math:`+\tfrac1\beta\mathrm{grad}_{g^N} S`,
:math:`S = \log\mathrm{vol}(O_X)` (Menon–Yu, reference §5): the Langevin equation of the free
energy :math:`F_\beta = E - S/\beta`, invariant law :math:`\propto e^{-\beta E}\mathrm{vol}(O_X)
\,d\mathrm{vol}_{g^N}`. It is the law of the balanced-manifold Langevin dynamics pushed forward by
the product map (:mod:`geodln.langevin_factors`).
"""

import numbers

import numpy as np

from geodln._checks import check_depth, check_finite, check_matrix, check_positive_int
from geodln.spectral import DLNKernel, dln_kernel
from geodln.storage import load_arrays, save_arrays
from geodln.svd_frame import SVDFrame

__all__ = [
    "LangevinPath",
    "coordinate_laplacian",
    "cometric_sqrt_noise",
    "riemannian_langevin",
    "brownian_motion",
    "singular_value_langevin",
]

KIND = "langevin-path"


def as_generator(seed):
    """Return a numpy ``Generator`` from an int, a ``SeedSequence``, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, numbers.Integral | np.random.SeedSequence):
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be an int, a SeedSequence or a numpy Generator, got {seed!r}")


def check_beta(beta):
    """Return ``beta`` as a positive finite float (``ValueError`` naming ``beta``)."""
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not np.isfinite(beta):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    return float(beta)


def check_step_size(step_size):
    """Return ``step_size`` as a positive finite float."""
    if (
        isinstance(step_size, bool)
        or not isinstance(step_size, numbers.Real)
        or not np.isfinite(step_size)
        or step_size <= 0
    ):
        raise ValueError(f"step_size must be a positive finite number, got {step_size!r}")
    return float(step_size)


def svd(x):
    r"""Full SVD ``(U, s, Vᵀ)`` of square matrices [..., d, d]; closed form (vectorised) for d = 2.

    For 2×2 matrices :math:`M = R(\varphi)\,\mathrm{diag}(s_1, s_2)\,R(\theta)` with
    :math:`E, F, G, H = (a+d)/2, (a-d)/2, (c+b)/2, (c-b)/2`, :math:`s_{1,2} = \sqrt{E^2+H^2}
    \pm\sqrt{F^2+G^2}`, :math:`\theta, \varphi = (\arctan_2(H, E) \mp \arctan_2(G, F))/2`
    (the sign of :math:`s_2` is moved into :math:`V`); about 6x faster than batched LAPACK.
    """
    if x.shape[-1] != 2 or x.shape[-2] != 2:
        return np.linalg.svd(x)
    a, b, c, d = x[..., 0, 0], x[..., 0, 1], x[..., 1, 0], x[..., 1, 1]
    e, f, g, hh = (a + d) / 2, (a - d) / 2, (c + b) / 2, (c - b) / 2
    q, r = np.hypot(e, hh), np.hypot(f, g)
    a1, a2 = np.arctan2(g, f), np.arctan2(hh, e)
    th, ph = (a2 - a1) / 2, (a2 + a1) / 2
    cp, sp, ct, st = np.cos(ph), np.sin(ph), np.cos(th), np.sin(th)
    u = np.stack([np.stack([cp, -sp], -1), np.stack([sp, cp], -1)], -2)
    sign = np.where(q - r < 0, -1.0, 1.0)
    vt = np.stack([np.stack([ct, -st], -1), np.stack([sign * st, sign * ct], -1)], -2)
    return u, np.stack([q + r, np.abs(q - r)], -1), vt


def _check_square(x, name):
    x = check_matrix(x, name)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{name} must be square [..., d, d], got shape {x.shape}")
    return x


def _chains(x0, n_chains, name):
    """Broadcast a start ``[d, d]`` or ``[B, d, d]`` to ``[B, d, d]``."""
    if x0.ndim == 2:
        b = 1 if n_chains is None else check_positive_int(n_chains, "n_chains")
        return np.broadcast_to(x0, (b,) + x0.shape).copy()
    if x0.ndim != 3:
        raise ValueError(f"{name} must have shape [d, d] or [n_chains, d, d], got {x0.shape}")
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


def _ito_diag(s, depth, normalized):
    """Diagonal of :math:`U^\\top \\Delta_{g^N}(X) V`: :math:`(N-1)\\sigma^{1-2/N}` (/N)."""
    if depth == 1:
        return np.zeros_like(s)
    expo = 1.0 - 2.0 / depth
    with np.errstate(divide="ignore"):
        val = np.where(s > 0, np.abs(s) ** expo, 1.0 if expo == 0 else 0.0)
    val = (depth - 1) * val
    return val / depth if normalized else val


def coordinate_laplacian(base_point, depth, normalized=False):
    r"""Laplace–Beltrami operator of :math:`g^N` applied to the entry functions of X.

    :math:`\Delta_{g^N} X = (N-1)\,X(X^\top X)^{-1/N}` (square, full rank; derived in the module
    docstring), divided by N when ``normalized`` (:math:`g_{CMV} = N g`). This is the Itô drift
    of Brownian motion with generator :math:`\Delta_{g^N}`. Finite at repeated and at zero
    singular values (N >= 2).

    Parameters
    ----------
    base_point : array-like, shape=[..., d, d]
    depth : int
        N >= 1.
    normalized : bool
        CMV convention :math:`A/N`.

    Returns
    -------
    lap : ndarray, shape=[..., d, d]
    """
    x = _check_square(base_point, "base_point")
    depth = check_depth(depth, allow_inf=False)
    frame = SVDFrame(x, check=False)
    return (frame.u * _ito_diag(frame.s, depth, normalized)[..., None, :]) @ frame.vt


def cometric_sqrt_noise(frame, kernel, gaussian):
    r"""Return :math:`U(\sqrt{K}\circ G)V^\top`, a sample of :math:`A_X^{1/2}\xi`.

    Parameters
    ----------
    frame : SVDFrame
        Frame of the (square, full-rank) base points ``[..., d, d]``.
    kernel : SpectralKernel
        The co-metric kernel.
    gaussian : ndarray, shape=[..., d, d]
        Standard Gaussian matrix G.

    Returns
    -------
    noise : ndarray, shape=[..., d, d]
        Gaussian with covariance :math:`A_X` (as a linear map on matrices) given X.
    """
    K, _ = frame.eigenvalues(kernel)
    return frame.u @ (np.sqrt(np.maximum(K, 0.0)) * gaussian) @ frame.vt


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
    n_chains=None,
    normalized=False,
    entropic=False,
    save_every=None,
    seed=None,
    scheme="root",
):
    r"""Euler–Maruyama for the Riemannian Langevin equation on :math:`(M_d, g^N)`.

    :math:`dX = [-\mathrm{grad}_{g^N}E + \tfrac1\beta\Delta_{g^N}X]\,dt +
    \sqrt{2/\beta}\,A_{N,X}^{1/2}dW` (generator :math:`\tfrac1\beta\Delta_{g^N} -
    \mathrm{grad}E\cdot\nabla`, invariant law :math:`\propto e^{-\beta E}d\mathrm{vol}_{g^N}`);
    see the module docstring for the derivation of the Itô drift. Batched over chains.

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
    n_chains : int, optional
        Number of independent chains when ``X0`` is a single matrix.
    normalized : bool
        CMV convention :math:`A/N` (time runs N times slower than with the plain sum).
    entropic : bool
        Add :math:`+\tfrac1\beta\mathrm{grad}_{g^N}\log\mathrm{vol}(O_X)` (free energy
        :math:`F_\beta = E - S/\beta`, Menon–Yu entropy of :mod:`geodln.entropy`).
    save_every : int, optional
        Record every this many steps (default: start and end only).
    seed : int, SeedSequence or numpy Generator, optional

    Returns
    -------
    path : LangevinPath
        ``states`` of shape [T, B, d, d].

    Raises
    ------
    ValueError
        On bad arguments, or if the chains leave the floating-point range (step too large for
        a superlinear gradient: reduce ``step_size``).
    """
    x = _chains(_check_square(X0, "X0"), n_chains, "X0")
    depth = check_depth(depth, allow_inf=False)
    beta, h = check_beta(beta), check_step_size(step_size)
    n_steps, saved = _save_schedule(n_steps, save_every)
    if scheme not in ("root", "entries"):
        raise ValueError(f"scheme must be 'root' or 'entries', got {scheme!r}")
    grad_e = _gradient_fn(loss)
    grad_s = _entropy_gradient_fn(depth, normalized and scheme == "entries") if entropic else None
    rng = as_generator(seed)
    if scheme == "entries":
        step_fn = _entries_step(grad_e, grad_s, depth, beta, h, normalized)
        state, to_x = x, None
    else:
        # CMV generator = plain generator / N: the plain process at time t / N
        step_fn = _root_step(grad_e, grad_s, depth, beta, h / depth if normalized else h)
        state, to_x = root_coordinates(x, depth), _from_root(depth)
    out = [x.copy()] if saved[0] == 0 else []
    for step in range(1, n_steps + 1):
        state = step_fn(state, rng)
        if not np.all(np.isfinite(state)):
            raise ValueError(
                f"the chains left the floating-point range at step {step}: step_size={h} is "
                "too large for this energy (Euler-Maruyama with a superlinear drift); reduce it"
            )
        if _is_saved(step, saved):
            out.append(state.copy() if to_x is None else to_x(state))
    meta = {
        "scheme": f"euler-maruyama-{scheme}",
        "depth": depth,
        "beta": beta,
        "step_size": h,
        "n_steps": n_steps,
        "normalized": bool(normalized),
        "entropic": bool(entropic),
        "loss": repr(loss),
    }
    return LangevinPath(np.array(saved) * h, np.stack(out), meta)


def _entries_step(grad_e, grad_s, depth, beta, h, normalized):
    kernel = DLNKernel(depth, normalized)
    noise_scale = np.sqrt(2.0 * h / beta)

    def step(x, rng):
        frame = SVDFrame(x, check=False)
        K, ell = frame.eigenvalues(kernel)
        drift = (frame.u * (_ito_diag(frame.s, depth, normalized) / beta)[..., None, :]) @ frame.vt
        if grad_e is not None:
            drift = drift - frame.apply(kernel, grad_e(x), eigenvalues=(K, ell))
        if grad_s is not None:
            drift = drift + grad_s(x) / beta
        gauss = rng.standard_normal(x.shape)
        return x + h * drift + noise_scale * (frame.u @ (np.sqrt(K) * gauss) @ frame.vt)

    return step


def root_coordinates(x, depth):
    r"""Chart :math:`Y = X (X^\top X)^{(1-N)/(2N)} = U\Sigma^{1/N}V^\top` of square matrices.

    The inverse is :math:`X = Y (Y^\top Y)^{(N-1)/2}`; a homeomorphism of the square matrices
    preserving the sign of the determinant (the singular values of Y are those of a balanced
    factor). In this chart :math:`d\mathrm{vol}_{g^N} = N^{d/2}\,dY` (CMV volume form after
    :math:`\sigma = \lambda^N`).

    Parameters
    ----------
    x : array-like, shape=[..., d, d]
    depth : int

    Returns
    -------
    y : ndarray, shape=[..., d, d]
    """
    x = _check_square(x, "x")
    depth = check_depth(depth, allow_inf=False)
    u, s, vt = svd(x)
    return (u * (s ** (1.0 / depth))[..., None, :]) @ vt


def _from_root(depth):
    def to_x(y):
        u, lam, vt = svd(y)
        return (u * (lam**depth)[..., None, :]) @ vt

    return to_x


def root_chart_coefficients(lam, depth):
    r"""Pair coefficients of :math:`g^N` in the root chart, in the singular basis of Y.

    With :math:`\delta^\mp_{kl} = (\lambda_k^N \mp \lambda_l^N)/(\lambda_k \mp \lambda_l)`
    (so :math:`K_{kl} = \delta^-_{kl}\delta^+_{kl}` is the DLN kernel at
    :math:`\sigma = \lambda^N`), the pulled-back co-metric B acts on the symmetric part of
    :math:`U^\top W V` by :math:`P = \delta^+/\delta^-` and on its skew part by
    :math:`Q = \delta^-/\delta^+` (:math:`P = 1/N` on the diagonal, :math:`\det B = N^{-d}`),
    and the Itô drift :math:`\Delta_{g^N} Y = \mathrm{div}\,B = U\,\mathrm{diag}(b)V^\top`,
    :math:`b_k = \sum_{l\ne k}[(1/N - P_{kl})/(\lambda_k-\lambda_l) + (1/N -
    Q_{kl})/(\lambda_k+\lambda_l)]` (derived like :func:`coordinate_laplacian`; the first
    quotient tends to 0 at a collision since :math:`P = (1 + O((\lambda_k-\lambda_l)^2))/N`).

    Parameters
    ----------
    lam : ndarray, shape=[..., d]
        Singular values of Y (>= 0).
    depth : int

    Returns
    -------
    dplus, dminus, P, Q : ndarray, shape=[..., d, d]
    b : ndarray, shape=[..., d]
    """
    N = depth
    lk, ll = lam[..., :, None], lam[..., None, :]
    fk, fl = lk**N, ll**N
    dminus = dln_kernel(fk, fl, N) if N > 1 else np.ones(np.broadcast(lk, ll).shape)
    tot = lk + ll
    with np.errstate(divide="ignore", invalid="ignore"):
        dplus = np.where(tot > 0, (fk + fl) / np.where(tot > 0, tot, 1.0), 0.0 if N > 1 else 1.0)
        ok = (dminus > 0) & (dplus > 0)
        P = np.where(ok, dplus / np.where(ok, dminus, 1.0), 1.0 / N)
        Q = np.where(ok, dminus / np.where(ok, dplus, 1.0), float(N))
        gap = lk - ll
        hi = np.maximum(lk, ll)
        near = np.abs(gap) <= 1e-6 * np.where(hi > 0, hi, 1.0)
        first = np.where(near, 0.0, (1.0 / N - P) / np.where(near, 1.0, gap))
        second = np.where(tot > 0, (1.0 / N - Q) / np.where(tot > 0, tot, 1.0), 0.0)
    d = lam.shape[-1]
    eye = np.eye(d, dtype=bool)
    P = np.where(eye, 1.0 / N, P)
    Q = np.where(eye, 1.0 / N, Q)
    b = np.where(eye, 0.0, first + second).sum(axis=-1)
    return dplus, dminus, P, Q, b


def _root_step(grad_e, grad_s, depth, beta, h):
    N = depth
    noise_scale = np.sqrt(2.0 * h / beta)

    def step(y, rng):
        u, lam, vt = svd(y)
        v = np.swapaxes(vt, -1, -2)
        dplus, dminus, P, Q, b = root_chart_coefficients(lam, N)
        coef = b / beta  # Ito drift, diagonal in the singular basis
        drift_core = np.zeros(y.shape)
        x = (u * (lam**N)[..., None, :]) @ vt
        if grad_e is not None:
            m = np.swapaxes(u, -1, -2) @ grad_e(x) @ v
            mt = np.swapaxes(m, -1, -2)
            # -B grad_Y(E o phi) = -Dpsi(A grad E): delta^+ on sym, delta^- on skew parts
            drift_core = -(dplus * 0.5 * (m + mt) + dminus * 0.5 * (m - mt))
        if grad_s is not None:
            s_grad = np.swapaxes(u, -1, -2) @ grad_s(x) @ v
            diag = np.diagonal(s_grad, axis1=-2, axis2=-1)
            fprime = N * lam ** (N - 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = diag / np.where(fprime > 0, fprime, 1.0)
                coef = coef + np.where(fprime > 0, ratio, 0.0) / beta
        g = rng.standard_normal(y.shape)
        gt = np.swapaxes(g, -1, -2)
        noise = np.sqrt(P) * 0.5 * (g + gt) + np.sqrt(Q) * 0.5 * (g - gt)
        core = h * drift_core + noise_scale * noise
        idx = np.arange(lam.shape[-1])
        core[..., idx, idx] += h * coef
        return y + u @ core @ vt

    return step


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
        ``n_chains``, ``normalized``, ``entropic``, ``save_every``, ``seed``.

    Returns
    -------
    path : LangevinPath
    """
    return riemannian_langevin(None, X0, depth, beta, step_size, n_steps, **kwargs)


def singular_value_langevin(
    spectral_gradient,
    sigma0,
    depth,
    beta,
    step_size,
    n_steps,
    *,
    n_chains=None,
    normalized=False,
    save_every=None,
    seed=None,
):
    r"""Langevin dynamics of the singular values for a spectral energy :math:`E = f(\sigma)`.

    Euler–Maruyama in the signed coordinates :math:`\lambda_k = \pm\sigma_k^{1/N}` (module
    docstring): additive noise :math:`\sqrt{2h/(N\beta)}`, drift
    :math:`-\lambda_k^{N-1}\partial_{\sigma_k}f + \tfrac{1}{N\beta}\sum_{l\ne k}2\lambda_k/
    (\lambda_k^2-\lambda_l^2)` (reference §6 SDE after the change of variables). Returns the
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
    n_chains : int, optional
    normalized : bool
        CMV convention (the generator is divided by N: the plain process at time t/N).
    save_every : int, optional
    seed : int, SeedSequence or numpy Generator, optional

    Returns
    -------
    path : LangevinPath
        ``states`` = singular values, shape [T, B, d].
    """
    s0 = check_finite(sigma0, "sigma0")
    if s0.ndim not in (1, 2) or s0.shape[-1] < 1:
        raise ValueError(f"sigma0 must have shape [d] or [n_chains, d], got {s0.shape}")
    if np.any(s0 < 0):
        raise ValueError("sigma0 must be non-negative singular values")
    if s0.ndim == 1:
        b = 1 if n_chains is None else check_positive_int(n_chains, "n_chains")
        s0 = np.broadcast_to(s0, (b, s0.size))
    elif n_chains is not None and check_positive_int(n_chains, "n_chains") != s0.shape[0]:
        raise ValueError(f"n_chains={n_chains} does not match sigma0.shape[0]={s0.shape[0]}")
    depth = check_depth(depth, allow_inf=False)
    beta, h = check_beta(beta), check_step_size(step_size)
    n_steps, saved = _save_schedule(n_steps, save_every)
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

    out = [sig_of(lam)] if saved[0] == 0 else []
    for step in range(1, n_steps + 1):
        sq = lam**2
        diff = sq[..., :, None] - sq[..., None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            pair = np.where(off & (diff != 0), 2.0 * lam[..., :, None] / diff, 0.0)
        drift = pair.sum(axis=-1) / (N * beta)
        if spectral_gradient is not None:
            sig = np.abs(lam) ** N
            g = np.asarray(spectral_gradient(sig), dtype=float)
            drift = drift - np.sign(lam) * np.abs(lam) ** (N - 1) * g
        drift = drift / (1.0 + hh * np.abs(drift))  # taming (Hutzenthaler-Jentzen-Kloeden)
        lam = lam + hh * drift + np.sqrt(2.0 * hh / (N * beta)) * rng.standard_normal(lam.shape)
        if not np.all(np.isfinite(lam)):
            raise ValueError(
                f"the chains left the floating-point range at step {step}: reduce step_size={h}"
            )
        if _is_saved(step, saved):
            out.append(sig_of(lam))
    meta = {
        "scheme": "euler-maruyama-singular-values",
        "depth": N,
        "beta": beta,
        "step_size": h,
        "n_steps": n_steps,
        "normalized": bool(normalized),
    }
    return LangevinPath(np.array(saved) * h, np.stack(out), meta)
