r"""Initial velocity of a deep-linear-network geodesic by collocation in the root chart.

For the deep-linear-network (DLN) metric :math:`g^N` the *root chart*
:math:`W = \rho(X) = U\Sigma^{1/N}V^\top` (inverse :math:`\phi(W) = U_W\Sigma_W^N V_W^\top`)
straightens the geodesics between endpoints with common singular vectors (GEO25): there
:math:`W(t)` is a straight line. In general the geodesic in this chart solves the boundary value
problem

.. math:: W'' = -\Gamma^W_W(W', W'), \qquad W(0) = \rho(X), \quad W(1) = \rho(Y),

with the Christoffel form of the pulled-back metric
:math:`\Gamma^W_W(a, a) = D\rho_{\phi(W)}\big[\Gamma_{\phi(W)}(D\phi_W a, D\phi_W a)
+ D^2\phi_W(a, a)\big]` (:math:`\Gamma` the closed form of
:class:`~geodln.geodesics.PowerSumField`; the derivatives of :math:`\phi` and :math:`\rho` by
central differences). It is small, so Picard iteration on the integral form

.. math:: W(t) = W_0 + t\,\Delta W - \int_0^1 g(t, s)\,\Gamma^W(W', W')(s)\,ds,
          \qquad g(t, s) = \min(s, t)(1 - \max(s, t)),

converges (Anderson-accelerated; the first iterate is the second-order guess
:math:`\Delta W + \int_0^1 (1 - s)\Gamma^W ds`). The right-hand side is collocated at K
Gauss–Legendre nodes (exact integrals of the Green's function against the interpolant). The
result, :math:`V = D\phi_{W_0}[W'(0)]`, is a guess for the logarithm (its accuracy is limited by
the differences, ~1e-7 relative); :class:`~geodln.geodesics.NewtonLogSolver` polishes it by
shooting.

References
----------
.. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
   (explicit geodesics in a special case: endpoints with common singular vectors).
.. [2] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (the metric :math:`g^N`).
"""

import functools

import numpy as np

__all__ = ["root_chart_collocation"]

NODES = 8
ITERATIONS = 14
ANDERSON_DEPTH = 4
STEP = 1e-4  # relative step of the central differences
SETTLED = 1e-8  # relative change of the velocity at which the iteration stops


@functools.lru_cache(maxsize=8)
def _collocation(k):
    """Nodes t [K] and the matrices of u(t_i), u'(t_i), u'(0) in terms of f(t_j) for u'' = f."""
    t, _ = np.polynomial.legendre.leggauss(k)
    t = 0.5 * (t + 1.0)
    gq, gw = np.polynomial.legendre.leggauss(48)

    def lagrange(s):
        out = np.ones((len(s), k))
        for j in range(k):
            for m in range(k):
                if m != j:
                    out[:, j] *= (s - t[m]) / (t[j] - t[m])
        return out

    u_mat, du_mat = np.zeros((k, k)), np.zeros((k, k))
    for i, ti in enumerate(t):  # u(t) = -int g(t, s) f(s) ds, split at the kink s = t
        for a, b, left in ((0.0, ti, True), (ti, 1.0, False)):
            s = a + (b - a) * 0.5 * (gq + 1.0)
            w = (b - a) * 0.5 * gw
            basis = lagrange(s)
            g = s * (1.0 - ti) if left else ti * (1.0 - s)
            dg = -s if left else 1.0 - s
            u_mat[i] -= (w * g) @ basis
            du_mat[i] -= (w * dg) @ basis
    s = 0.5 * (gq + 1.0)
    du0 = -(0.5 * gw * (1.0 - s)) @ lagrange(s)
    return t, u_mat, du_mat, du0


def _power(z, p):
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    return (u * s[..., None, :] ** p) @ vt


def _size(a):
    return np.max(np.abs(a), axis=(-2, -1), keepdims=True)


def _directional(fun, at, direction, second=False):
    """Central differences of ``fun`` at ``at`` along ``direction`` (steps relative to both)."""
    sa, sd = _size(at), _size(direction)
    h = STEP * sa / np.where(sd > 0, sd, 1.0)
    hi, lo = fun(at + h * direction), fun(at - h * direction)
    first = (hi - lo) / (2.0 * h)
    if not second:
        return first
    return first, (hi - 2.0 * fun(at) + lo) / (h * h)


def root_chart_collocation(point, base_point, depth, christoffel, nodes=NODES,
                           iterations=ITERATIONS):
    r"""Guess :math:`\log_X(Y)` for :math:`g^N` by collocating the geodesic in the root chart.

    Parameters
    ----------
    point, base_point : ndarray, shape=[B, m, n]
        End points Y and base points X (full rank, same connected component).
    depth : int
        N > 1.
    christoffel : callable
        ``christoffel(x, a, b)`` returns :math:`\Gamma_x(a, b)` for ``x, a, b`` [..., m, n]
        (e.g. through :meth:`~geodln.geodesics.PowerSumField.christoffel`).
    nodes : int
        Collocation nodes K.
    iterations : int
        Anderson-accelerated Picard iterations (at most; stops when the velocity settles).

    Returns
    -------
    tangent_vec : ndarray, shape=[B, m, n]
        The guess (NaN for members whose iteration is not finite).

    References
    ----------
    .. [1] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (explicit geodesics in a special case: endpoints with common singular vectors).

    Examples
    --------
    Commuting endpoints: the root-chart geodesic is a straight line, the guess exact
    (:math:`X(t) = \mathrm{diag}((1 + t)^3, (2^{1/3}(1 - t) + t)^3)`):

    >>> import numpy as np
    >>> from geodln.geodesics import PowerSumField
    >>> terms = ([2 / 3, 1 / 3, 0.0], [0.0, 1 / 3, 2 / 3], [1.0, 1.0, 1.0])
    >>> gamma = lambda x, a, b: PowerSumField(*terms, x).christoffel(a, b)
    >>> x, y = np.diag([1.0, 2.0])[None], np.diag([8.0, 1.0])[None]
    >>> v = root_chart_collocation(y, x, 3, gamma)
    >>> bool(np.allclose(np.diag(v[0]), [3.0, 3 * 2 ** (2 / 3) * (1 - 2 ** (1 / 3))], atol=1e-6))
    True
    """
    n_depth = float(depth)
    t, u_mat, du_mat, du0 = _collocation(int(nodes))

    def phi(w):
        return _power(w, n_depth)

    def rho(x):
        return _power(x, 1.0 / n_depth)

    w0, w1 = rho(base_point), rho(point)
    dw = w1 - w0
    batch = len(w0)

    def picard(f):  # f [K, B, m, n]: -Gamma^W(W', W') at the nodes of the current path
        w = w0 + t[:, None, None, None] * dw + np.tensordot(u_mat, f, axes=1)
        a = dw + np.tensordot(du_mat, f, axes=1)
        x = phi(w)
        z, d2 = _directional(phi, w, a, second=True)
        q = christoffel(x, z, z) + d2
        return -_directional(rho, x, q)

    def velocity(f):
        vw = dw + np.tensordot(du0, f, axes=1)
        return _directional(phi, w0, vw)

    with np.errstate(all="ignore"):
        f = np.zeros((len(t),) + w0.shape)
        hist_f, hist_g = [], []
        best = velocity(f)
        last = np.full(batch, np.inf)
        for _ in range(int(iterations)):
            g = picard(f) - f  # fixed-point residual
            flat_f = np.moveaxis(f, 1, 0).reshape(batch, -1)
            flat_g = np.moveaxis(g, 1, 0).reshape(batch, -1)
            hist_f, hist_g = (hist_f + [flat_f])[-ANDERSON_DEPTH - 1:], \
                (hist_g + [flat_g])[-ANDERSON_DEPTH - 1:]
            new = flat_f + flat_g
            if len(hist_f) > 1:  # Anderson (type II) mixing, per member
                d_f = np.diff(np.stack(hist_f, axis=-1), axis=-1)  # [B, M, depth]
                d_g = np.diff(np.stack(hist_g, axis=-1), axis=-1)
                gram = np.swapaxes(d_g, -1, -2) @ d_g
                reg = 1e-14 * np.trace(gram, axis1=-2, axis2=-1)[:, None, None]
                gam = np.linalg.solve(gram + reg * np.eye(gram.shape[-1]),
                                      np.swapaxes(d_g, -1, -2) @ flat_g[..., None])
                mixed = new - ((d_f + d_g) @ gam)[..., 0]
                new = np.where(np.all(np.isfinite(mixed), axis=1, keepdims=True), mixed, new)
            f = np.moveaxis(new.reshape((batch, len(t)) + w0.shape[1:]), 0, 1)
            vel = velocity(f)
            change = np.max(np.abs(vel - best), axis=(-2, -1)) / np.max(np.abs(vel),
                                                                         axis=(-2, -1))
            best = vel
            # settled at the level of the differences' noise, or no longer contracting
            if np.all(change <= SETTLED) or (np.all(change <= 1e3 * SETTLED)
                                             and np.all(change >= 0.5 * last)):
                break
            last = change
    return np.where(np.all(np.isfinite(best), axis=(-2, -1), keepdims=True), best, np.nan)
