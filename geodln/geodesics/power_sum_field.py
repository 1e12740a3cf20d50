r"""A power-sum co-metric and its first derivative in the singular frame, in closed form.

For a co-metric :math:`A_X(Z) = \sum_i c_i L^{a_i} Z R^{b_i}` (:math:`L = XX^\top`,
:math:`R = X^\top X`; the deep-linear-network (DLN) co-metric :math:`A_{N,X}` has
:math:`a_i = (N-i)/N`, :math:`b_i = (i-1)/N`, ACH18 Thm 1), write the full SVD
:math:`X = U\hat S V^\top` with :math:`\mu = \sigma^2` (padded with zeros to m) and
:math:`\nu = \sigma^2` (padded to n), and hats for coordinates in that frame,
:math:`\hat Z = U^\top Z V`. Then

.. math::
    \widehat{A_X(Z)} = K \circ \hat Z, \qquad K_{jl} = \sum_i c_i \mu_j^{a_i}\nu_l^{b_i},

and the Daleckii–Krein formula (HIG08 Thm 3.11) gives the derivative of the powers through the
first divided differences :math:`F^{(p)}(\mu_j, \mu_k) = (\mu_j^p - \mu_k^p)/(\mu_j - \mu_k)`
(:math:`p\mu^{p-1}` on ties, evaluated without cancellation). With the two tensors

.. math::
    T^L_{jkl} = \sum_i c_i F^{(a_i)}(\mu_j, \mu_k)\,\nu_l^{b_i}, \qquad
    T^R_{jkl} = \sum_i c_i F^{(b_i)}(\nu_j, \nu_k)\,\mu_l^{a_i},

- the derivative of the co-metric along :math:`\dot X` is
  :math:`\widehat{DA_X[\dot X](Q)}_{jl} = \sum_k T^L_{jkl}\,\widehat{dL}_{jk}\hat Q_{kl}
  + \sum_k T^R_{klj}\,\hat Q_{jk}\widehat{dR}_{kl}` with
  :math:`\widehat{dL} = \hat{\dot X}\hat S^\top + \hat S\hat{\dot X}^\top`,
  :math:`\widehat{dR} = \hat S^\top\hat{\dot X} + \hat{\dot X}^\top\hat S`;
- the X-gradient of the Hamiltonian :math:`H = \tfrac12\langle P, A_X P\rangle` is
  :math:`\widehat{\partial_X H} = M^L \hat S + \hat S M^R`,
  :math:`M^L_{jk} = \sum_l \hat P_{jl}\hat P_{kl}T^L_{jkl}`,
  :math:`M^R_{jk} = \sum_l \hat P_{lj}\hat P_{lk}T^R_{jkl}`;
- the Levi-Civita connection (from :math:`\ddot X = DA_X[\dot X](P) + A_X(\dot P)` along the
  Hamiltonian flow) is the symmetric bilinear form

  .. math:: \Gamma_X(V, W) = -\tfrac12\big(DA_X[V](A_X^{-1}W) + DA_X[W](A_X^{-1}V)\big)
            + A_X\big(G_X(A_X^{-1}V, A_X^{-1}W)\big),

  :math:`G_X` the polarisation of :math:`\partial_X H`, so that geodesics solve
  :math:`\ddot X + \Gamma_X(\dot X, \dot X) = 0`.

One SVD and :math:`O(k\,m n \max(m, n))` work per point for k power terms, no autodiff: this is
the right-hand side of :class:`~geodln.geodesics.HamiltonianExpSolver` and the source of the
Christoffel symbols. Exact at repeated singular values (X = I) because only divided
differences of powers appear. At a rank-r point the eigenvalues beyond r are exactly 0
(convention :math:`0^0 = 1`, the plain-sum identity) and the normal block of P is dropped, as in
:mod:`geodln.geodesics.operators`.

References
----------
.. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
.. [2] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11 (Daleckii–Krein).
.. [3] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.
"""

import functools

import numpy as np

__all__ = ["PowerSumField"]


def _t(a):
    return np.swapaxes(a, -1, -2)


class _DividedDifferences:
    r"""First divided differences :math:`(a^p - b^p)/(a - b)` on a grid, for several p at once.

    The p-independent work (``hi``, ``lo``, :math:`w = \log(hi/lo)`) is shared; each power is
    :math:`hi^{p-1}\,\mathrm{expm1}(-pw)/\mathrm{expm1}(-w)` (:math:`p\,hi^{p-1}` on ties, 1
    when lo = 0, 0 when hi = 0), the cancellation-free form of
    :func:`geodln.matrix_power.power_divided_difference`.
    """

    def __init__(self, values):
        a, b = values[..., :, None], values[..., None, :]
        hi, lo = np.maximum(a, b), np.minimum(a, b)
        self.w = np.where(lo > 0, np.log1p((hi - lo) / np.where(lo > 0, lo, 1.0)), np.inf)
        self.em1 = np.expm1(-self.w)
        self.log_hi = np.log(np.where(hi > 0, hi, 1.0))
        self.positive = hi > 0
        self.tie = ~(self.w > 0)
        self.zero_lo = np.isinf(self.w)

    def stack(self, powers):
        """Divided differences for each power, ``[k, ..., d, d]`` (callers hold ``errstate``)."""
        p = np.reshape(np.asarray(powers, dtype=float), (-1,) + (1,) * self.w.ndim)
        ratio = np.where(self.tie, p, np.expm1(-p * self.w) / np.where(self.tie, 1.0, self.em1))
        ratio = np.where(self.zero_lo, 1.0, ratio)
        return np.where(self.positive, np.exp((p - 1.0) * self.log_hi) * ratio, 0.0)


class _Spec:
    """Point-independent data of a power sum on m x n matrices of rank r (cached)."""

    def __init__(self, left_exponents, right_exponents, coefficients, m, n, r):
        self.a = np.asarray(left_exponents, dtype=float)
        self.b = np.asarray(right_exponents, dtype=float)
        self.c = np.asarray(coefficients, dtype=float)
        self.mask = (np.arange(m)[:, None] < r) | (np.arange(n)[None, :] < r)
        self.diag = np.arange(min(m, n))
        self.left = np.flatnonzero(self.a != 0)
        self.right = np.flatnonzero(self.b != 0)
        self.c_left, self.c_right = self.c[self.left], self.c[self.right]
        if m == n:
            union = np.unique(np.concatenate([self.a[self.left], self.b[self.right]]))
            self.powers_l = self.powers_r = union
        else:
            self.powers_l = np.unique(self.a[self.left])
            self.powers_r = np.unique(self.b[self.right])
        self.index_l = np.searchsorted(self.powers_l, self.a[self.left])
        self.index_r = np.searchsorted(self.powers_r, self.b[self.right])
        # every distinct nonzero power of either side; index len(powers_all): zero power
        nonzero = np.unique(np.concatenate([self.a, self.b]))
        self.powers_all = nonzero[nonzero != 0]
        self.index_a = np.where(self.a != 0, np.searchsorted(self.powers_all, self.a),
                                len(self.powers_all))
        self.index_b = np.where(self.b != 0, np.searchsorted(self.powers_all, self.b),
                                len(self.powers_all))


@functools.lru_cache(maxsize=16)
def _triple_order(n):
    """Index arrays (largest, middle, smallest value) of the triples (j, k, l) of a sorted grid.

    Singular values come in descending order, so the smallest index holds the largest value.
    """
    grid = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    trip = np.sort(np.stack(grid), axis=0)
    return trip[0], trip[1], trip[2]


def _second_divided(values, first, powers):
    r"""Second divided differences :math:`f[x_j, x_k, x_l]` of :math:`f = x^p`, [P, ..., n, n, n].

    ``values`` [..., n] in descending order, ``first`` their first divided differences
    ``[P, ..., n, n]``. Where the largest and smallest of the three differ by more than 1e-3
    (relative), :math:`(f[x_{hi}, x_{mid}] - f[x_{mid}, x_{lo}])/(x_{hi} - x_{lo})`
    (cancellation error below 1e-12); otherwise the Taylor expansion about the mean
    :math:`\bar x`, :math:`f''(\bar x)/2 + f^{(4)}(\bar x)\,h_2/24` with :math:`h_2` the
    complete homogeneous polynomial of degree 2 in the deviations (error ~1e-10).
    """
    n = values.shape[-1]
    hi, mid, lo = _triple_order(n)
    x_hi, x_mid, x_lo = values[..., hi], values[..., mid], values[..., lo]
    f_a = first[..., hi, mid]
    f_b = first[..., mid, lo]
    gap = x_hi - x_lo
    close = gap <= 1e-3 * x_hi
    divided = (f_a - f_b) / np.where(close, 1.0, gap)
    mean = (x_hi + x_mid + x_lo) / 3.0
    d1, d2, d3 = x_hi - mean, x_mid - mean, x_lo - mean
    h2 = d1 * d1 + d2 * d2 + d3 * d3 + d1 * d2 + d1 * d3 + d2 * d3
    p = np.reshape(np.asarray(powers, dtype=float), (-1,) + (1,) * mean.ndim)
    taylor = (p * (p - 1.0) / 2.0 * mean ** (p - 2.0)
              + p * (p - 1.0) * (p - 2.0) * (p - 3.0) / 24.0 * mean ** (p - 4.0) * h2)
    return np.where(close, taylor, divided)


def _lmul(a, m):
    """Return ``a @ m[i]`` for every i (``a`` [..., n, n], ``m`` [D, ..., n, n]), one product."""
    m = np.broadcast_to(m, m.shape[:1] + a.shape[:-2] + m.shape[-2:])
    wide = np.moveaxis(m, 0, -2)  # [..., n, D, n]
    out = a @ wide.reshape(wide.shape[:-2] + (-1,))
    return np.moveaxis(out.reshape(wide.shape), -2, 0)


def _rmul(m, a):
    """Return ``m[i] @ a`` for every i (``m`` [D, ..., n, n], ``a`` [..., n, n]), one product."""
    m = np.broadcast_to(m, m.shape[:1] + a.shape[:-2] + m.shape[-2:])
    tall = np.moveaxis(m, 0, -3)  # [..., D, n, n]
    out = tall.reshape(tall.shape[:-3] + (-1, tall.shape[-1])) @ a
    return np.moveaxis(out.reshape(tall.shape), -3, 0)


def _second_frechet(f2, coefficients, base, direction):
    r"""Frame coordinates of :math:`\sum_i c_i D^2 f_i[Z, W_i]` for D directions Z.

    :math:`\sum_k f_{i,jkl}(Z_{jk}W_{i,kl} + W_{i,jk}Z_{kl})`, the sum over the terms taken
    first so that each half is one batched matrix product. ``f2`` [k, ..., n, n, n],
    ``coefficients`` [k, ..., 1, 1, 1], ``base`` (:math:`W_i`) [k, ..., n, n], ``direction``
    [D, ..., n, n]; returns [D, ..., n, n].
    """
    g = np.sum(coefficients * f2 * base[..., None, :, :], axis=0)  # [..., j, k, l]
    h = np.sum(coefficients * f2 * base[..., :, :, None], axis=0)
    a = np.moveaxis(np.moveaxis(direction, 0, -2) @ g, -2, 0)  # sum_k Z_jk g_jkl
    h_t = np.swapaxes(h, -1, -3)  # [..., l, k, j]
    b = _t(np.moveaxis(np.moveaxis(_t(direction), 0, -2) @ h_t, -2, 0))  # sum_k h_jkl Z_kl
    return a + b


@functools.lru_cache(maxsize=64)
def _spec(left_exponents, right_exponents, coefficients, m, n, r):
    return _Spec(left_exponents, right_exponents, coefficients, m, n, r)


class PowerSumField:
    r"""The co-metric of a power-sum kernel and its first X-derivative at a batch of points.

    All sums over the k power terms are stacked matrix products
    (:math:`\widehat{\partial_X H}` needs :math:`\sum_i c_i F^{(a_i)} \circ (\hat P
    \nu^{b_i}\hat P^\top)` and its right counterpart): :math:`O(k\,mn\max(m, n))` work per
    point in a fixed number of numpy calls, whatever k.

    Parameters
    ----------
    left_exponents, right_exponents : sequence of float
        The powers :math:`a_i, b_i \ge 0` of :math:`XX^\top` and :math:`X^\top X`.
    coefficients : sequence of float
        The weights :math:`c_i`.
    base_point : array-like, shape=[..., m, n]
        The points X (finite; not validated here).
    rank : int, optional
        Rank r of the points (default ``min(m, n)``): singular values beyond r are set to 0.

    Attributes
    ----------
    u : ndarray, shape=[..., m, m]
    v : ndarray, shape=[..., n, n]
        Full singular frames (:math:`X = U\hat S V^\top`).
    s_hat : ndarray, shape=[..., m, n]
        The rectangular diagonal :math:`\hat S` (rank-truncated).
    eigenvalues : ndarray, shape=[..., m, n]
        :math:`K_{jl}` (0 on the normal block of a rank-deficient point).
    tangent_mask : ndarray of bool, shape=[m, n]
        Pairs (j, l) with j < r or l < r (the tangent space in the frame).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the co-metric is diagonal
       in the singular basis :math:`u_k v_l^\top`; here for any power-sum kernel).
    .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Abstract
       (the geodesic ODEs, which need :math:`\partial_X` of the co-metric).
    .. [3] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11 (Daleckii–Krein).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.diag([1.0, 2.0])
    >>> field = PowerSumField([0.5, 0.0], [0.0, 0.5], [1.0, 1.0], x)  # depth 2
    >>> z = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> bool(np.allclose(field.sharp(z), (x @ x.T) ** 0.5 @ z + z @ (x.T @ x) ** 0.5))
    True
    """

    def __init__(self, left_exponents, right_exponents, coefficients, base_point, rank=None):
        x = np.asarray(base_point, dtype=float)
        m, n = x.shape[-2:]
        r = min(m, n) if rank is None else int(rank)
        spec = _spec(tuple(left_exponents), tuple(right_exponents), tuple(coefficients), m, n, r)
        u, s, vt = np.linalg.svd(x, full_matrices=True)
        batch = x.shape[:-2]
        if r < min(m, n):
            s = s.copy()
            s[..., r:] = 0.0
        k = min(m, n)
        s2 = s * s
        if m == n:
            mu = nu = s2
        else:
            mu = np.zeros(batch + (m,))
            nu = np.zeros(batch + (n,))
            mu[..., :k] = s2
            nu[..., :k] = s2
        s_hat = np.zeros(batch + (m, n))
        s_hat[..., spec.diag, spec.diag] = s
        self.shape, self.rank = (m, n), r
        self.u, self.v, self.s_hat, self.singular_values = u, _t(vt), s_hat, s[..., :r]
        self.tangent_mask = spec.mask
        self._deficient = r < k
        ones = (1,) * len(batch)
        kshape = (-1,) + ones + (1,)
        # 0 ** 0 = 1: the plain-sum convention at rank-deficient points
        self._mu_pow = mu[None] ** spec.a.reshape(kshape)  # [k, ..., m]
        self._nu_pow = nu[None] ** spec.b.reshape(kshape)  # [k, ..., n]
        K = (np.moveaxis(spec.c.reshape(kshape) * self._mu_pow, 0, -1)
             @ np.moveaxis(self._nu_pow, 0, -2))
        self.eigenvalues = np.where(spec.mask, K, 0.0) if self._deficient else K
        self._left, self._right = spec.left, spec.right
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # terms with a zero power contribute no derivative on that side; on a square
            # space the two sides share the grid mu = nu, hence one stack of powers
            dd_mu = _DividedDifferences(mu)
            stack_mu = dd_mu.stack(spec.powers_l)
            if m == n:
                stack_nu = stack_mu
            else:
                stack_nu = _DividedDifferences(nu).stack(spec.powers_r)
        self._fl = spec.c_left.reshape(kshape + (1,)) * stack_mu[spec.index_l]
        self._fr = spec.c_right.reshape(kshape + (1,)) * stack_nu[spec.index_r]
        self._spec, self._mu = spec, mu

    # -- frame -----------------------------------------------------------------------------
    def to_frame(self, z):
        r"""Coordinates :math:`U^\top Z V` (tangent part only), ``z`` [..., m, n]."""
        hat = _t(self.u) @ z @ self.v
        if self._deficient:
            hat = np.where(self.tangent_mask, hat, 0.0)
        return hat

    def from_frame(self, hat):
        r"""Matrix :math:`U \hat Z V^\top` of frame coordinates ``hat`` [..., m, n]."""
        return self.u @ hat @ _t(self.v)

    # -- co-metric -------------------------------------------------------------------------
    def sharp(self, cotangent_vec):
        """Co-metric :math:`A_X(Z)` of ``cotangent_vec`` [..., m, n]."""
        return self.from_frame(self.eigenvalues * self.to_frame(cotangent_vec))

    def flat(self, tangent_vec):
        """Metric :math:`A_X^{-1}(Z)` of the tangent part of ``tangent_vec`` [..., m, n]."""
        return self.from_frame(self._divide(self.to_frame(tangent_vec)))

    def _divide(self, hat):
        safe = np.where(self.tangent_mask, self.eigenvalues, 1.0)
        return np.where(self.tangent_mask, hat / safe, 0.0)

    # -- derivatives in the frame ------------------------------------------------------------
    def _expand(self, stack, hat, core=2):
        """Broadcast the term stack ``[k, batch, core...]`` against ``hat`` [..., m, n]."""
        extra = hat.ndim - 2 - (stack.ndim - 1 - core)
        if extra <= 0:
            return stack
        k = stack.shape[0]
        return stack.reshape((k,) + (1,) * extra + stack.shape[1:])

    def _gradient_hat(self, p_hat, q_hat):
        r"""Frame coordinates of the polarised X-gradient of ``<P, A_X Q>/2``.

        :math:`M^L = \sum_i c_i F^{(a_i)}(\mu)\circ \mathrm{sym}(\hat P\nu^{b_i}\hat Q^\top)`,
        :math:`M^R = \sum_i c_i F^{(b_i)}(\nu)\circ\mathrm{sym}(\hat P^\top\mu^{a_i}\hat Q)`,
        gradient :math:`M^L\hat S + \hat S M^R`.
        """
        same = p_hat is q_hat
        ref = p_hat if p_hat.ndim >= q_hat.ndim else q_hat
        out = 0.0
        if len(self._left):
            nu_b = self._expand(self._nu_pow[self._left], ref, 1)[..., None, :]
            fl = self._expand(self._fl, ref)
            prod = (p_hat * nu_b) @ _t(q_hat)
            if not same:
                prod = 0.5 * (prod + _t(prod))
            out = np.sum(fl * prod, axis=0) @ self.s_hat
        if len(self._right):
            mu_a = self._expand(self._mu_pow[self._right], ref, 1)[..., :, None]
            fr = self._expand(self._fr, ref)
            prod = _t(p_hat) @ (mu_a * q_hat)
            if not same:
                prod = 0.5 * (prod + _t(prod))
            out = out + self.s_hat @ np.sum(fr * prod, axis=0)
        return out if not np.isscalar(out) else np.zeros(np.broadcast_shapes(
            p_hat.shape, q_hat.shape))

    def _derivative_hat(self, xdot_hat, q_hat):
        r"""Frame coordinates of :math:`DA_X[\dot X](Q)` (both arguments in frame coordinates).

        Left part :math:`\sum_i c_i ((F^{(a_i)}\circ\widehat{dL})\hat Q)\,\nu^{b_i}`, right
        part :math:`\sum_i c_i\,\mu^{a_i}(\hat Q(F^{(b_i)}\circ\widehat{dR}))`.
        """
        s = self.s_hat
        out = np.zeros(np.broadcast_shapes(xdot_hat.shape, q_hat.shape))
        ref = out
        if len(self._left):
            dl = xdot_hat @ _t(s) + s @ _t(xdot_hat)
            fl = self._expand(self._fl, ref)
            nu_b = self._expand(self._nu_pow[self._left], ref, 1)[..., None, :]
            out = out + np.sum(((fl * dl) @ q_hat) * nu_b, axis=0)
        if len(self._right):
            dr = _t(s) @ xdot_hat + _t(xdot_hat) @ s
            fr = self._expand(self._fr, ref)
            mu_a = self._expand(self._mu_pow[self._right], ref, 1)[..., :, None]
            out = out + np.sum(mu_a * (q_hat @ (fr * dr)), axis=0)
        return out

    # -- public quantities -------------------------------------------------------------------
    def hamiltonian_field(self, cotangent_vec):
        r"""Hamilton's equations :math:`(\dot X, \dot P) = (A_X P, -\partial_X H)`.

        At a rank-deficient point the momentum is kept tangent: with
        :math:`Q = P_{T_X}(P)`, :math:`\dot Q = -P_{T_X}(\partial_X H) +
        DP_{T_X}[\dot X](Q)`, whose last term is normal; in the singular frame (blocks
        ``[:r, :r], [:r, r:], [r:, :r]`` tangent) it is
        :math:`\hat{\dot X}_{21}S^{-1}\hat Q_{12} + \hat Q_{21}S^{-1}\hat{\dot X}_{12}` on the
        normal block. Without it the momentum drifts off the tangent space as the tangent
        space turns, and the curve is not a geodesic (its speed drifts at second order).

        Parameters
        ----------
        cotangent_vec : array-like, shape=[..., m, n]
            The momentum P (its normal part is dropped at rank-deficient points).

        Returns
        -------
        x_dot, p_dot : ndarray, shape=[..., m, n]
        """
        p_hat = self.to_frame(cotangent_vec)
        xdot_hat = self.eigenvalues * p_hat
        x_dot = self.from_frame(xdot_hat)
        grad = self._gradient_hat(p_hat, p_hat)
        if not self._deficient:
            return x_dot, -self.from_frame(grad)
        r = self.rank
        grad = -np.where(self.tangent_mask, grad, 0.0)
        inv_s = 1.0 / self.singular_values[..., :, None]
        grad[..., r:, r:] = (xdot_hat[..., r:, :r] @ (inv_s * p_hat[..., :r, r:])
                             + p_hat[..., r:, :r] @ (inv_s * xdot_hat[..., :r, r:]))
        return x_dot, self.from_frame(grad)

    def hamiltonian_jvp(self, cotangent_vec, d_point, d_cotangent):
        r"""Directional derivative of Hamilton's equations along :math:`(E, Q) = (dX, dP)`.

        The variational (Jacobi) equations of the Hamiltonian flow, in closed form and without
        a finite difference: with :math:`L = XX^\top`, :math:`R = X^\top X`,
        :math:`\partial_X H = 2G_L X + 2X G_R`,
        :math:`G_L = \tfrac12\sum_i c_i\,Df_{a_i}(L)[P R^{b_i} P^\top]` (and :math:`G_R`
        alike), the derivative of :math:`\partial_X H` needs the second Fréchet derivatives
        of the powers, :math:`\widehat{D^2 f(L)[Z_1, Z_2]}_{jl} = \sum_k
        f[\mu_j, \mu_k, \mu_l](\hat Z_{1,jk}\hat Z_{2,kl} + \hat Z_{2,jk}\hat Z_{1,kl})`
        (second divided differences, Daleckii–Krein; a Taylor expansion where the three
        eigenvalues agree to 1e-3, so exact at repeated singular values). One SVD for all
        directions. Square full-rank points only.

        Parameters
        ----------
        cotangent_vec : array-like, shape=[..., n, n]
            The momentum P at the field's points.
        d_point, d_cotangent : array-like, shape=[D, ..., n, n]
            Perturbations E of X and Q of P (D directions, leading axis).

        Returns
        -------
        d_x_dot, d_p_dot : ndarray, shape=[D, ..., n, n]
            :math:`DA_X[E](P) + A_X(Q)` and :math:`-D(\partial_X H)[E, Q]`.

        Raises
        ------
        NotImplementedError
            At rectangular or rank-deficient points.

        References
        ----------
        .. [1] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11 (Daleckii–Krein;
           the second derivative by second divided differences likewise).
        .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324,
           Abstract (the system of ODEs for geodesics whose linearisation this is).

        Examples
        --------
        Against a central difference of :meth:`hamiltonian_field` (depth 3, X = I + small):

        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = np.eye(3) + 0.2 * rng.standard_normal((3, 3))
        >>> p, e, q = rng.standard_normal((3, 3, 3))
        >>> terms = ([2 / 3, 1 / 3, 0.0], [0.0, 1 / 3, 2 / 3], [1.0, 1.0, 1.0])
        >>> dxd, dpd = PowerSumField(*terms, x).hamiltonian_jvp(p, e[None], q[None])
        >>> h = 1e-5
        >>> hi = PowerSumField(*terms, x + h * e).hamiltonian_field(p + h * q)
        >>> lo = PowerSumField(*terms, x - h * e).hamiltonian_field(p - h * q)
        >>> bool(np.allclose(dpd[0], (hi[1] - lo[1]) / (2 * h), atol=1e-7))
        True
        """
        m, n = self.shape
        if m != n or self._deficient:
            raise NotImplementedError("hamiltonian_jvp: square full-rank points only")
        spec = self._spec
        u, v = self.u, self.v
        p_hat = _t(u) @ np.asarray(cotangent_vec, dtype=float) @ v  # [..., n, n]
        batch = p_hat.shape[:-2]
        ut = _t(u)
        e_hat = _lmul(ut, _rmul(np.asarray(d_point, dtype=float), v))  # [D, ..., n, n]
        q_hat = _lmul(ut, _rmul(np.asarray(d_cotangent, dtype=float), v))
        sig = np.diagonal(self.s_hat, axis1=-2, axis2=-1)  # [..., n]
        es = e_hat * sig[..., None, :]  # E S
        se = sig[..., :, None] * e_hat  # S E
        d_l = es + _t(es)  # U^T dL U = E S + S E^T
        d_r = se + _t(se)  # V^T dR V = S E + E^T S
        c = spec.c
        k = len(c)
        cc = c.reshape((k,) + (1,) * (len(batch) + 2))
        # per-term first and second divided differences (zero power: zero derivative)
        first, second = self._divided_stacks()
        fa, fb = first[spec.index_a], first[spec.index_b]  # [k, ..., n, n]
        f2a, f2b = second[spec.index_a], second[spec.index_b]  # [k, ..., n, n, n]
        mu_a, nu_b = self._mu_pow, self._nu_pow  # [k, ..., n]
        p_k = np.broadcast_to(p_hat, (k,) + p_hat.shape)
        pn = p_hat * nu_b[..., None, :]  # P nu^b   [k, ..., n, n]
        mp = mu_a[..., :, None] * p_hat  # mu^a P
        w = pn @ _t(p_hat)  # W_i = P nu^b P^T
        z = _t(p_hat) @ mp  # Z_i = P^T mu^a P
        m_l = np.sum(cc * fa * w, axis=0)  # 2 G_L
        m_r = np.sum(cc * fb * z, axis=0)  # 2 G_R
        # [D, k, ..., n, n]: directions on axis 0, terms on axis 1
        fdr = fb * d_r[:, None]  # Df_b(R)[dR]
        fdl = fa * d_l[:, None]  # Df_a(L)[dL]
        q_k = q_hat[:, None]
        qpn = _rmul(q_k, _t(pn))  # Q nu^b P^T
        d_w = qpn + _t(qpn) + _rmul(_lmul(p_k, fdr), _t(p_k))
        pmq = _lmul(_t(mp), q_k)  # P^T mu^a Q
        d_z = pmq + _t(pmq) + _lmul(_t(p_k), _rmul(fdl, p_k))
        dg_l = _second_frechet(f2a, cc[..., None], w, d_l) + np.sum(cc * fa * d_w, axis=1)
        dg_r = _second_frechet(f2b, cc[..., None], z, d_r) + np.sum(cc * fb * d_z, axis=1)
        d_pdot = -(dg_l * sig[..., None, :] + _lmul(m_l, e_hat) + _rmul(e_hat, m_r)
                   + sig[..., :, None] * dg_r)
        d_xdot = self.eigenvalues * q_hat + np.sum(cc * (_rmul(fdl, pn) + _lmul(mp, fdr)),
                                                   axis=1)
        vt = _t(v)
        return _lmul(u, _rmul(d_xdot, vt)), _lmul(u, _rmul(d_pdot, vt))

    def _divided_stacks(self):
        """First and second divided differences of each distinct power, zero power last."""
        powers = self._spec.powers_all
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            first = _DividedDifferences(self._mu).stack(powers)  # [P, ..., n, n]
            second = _second_divided(self._mu, first, powers)
        return (np.concatenate([first, np.zeros((1,) + first.shape[1:])]),
                np.concatenate([second, np.zeros((1,) + second.shape[1:])]))

    def christoffel(self, tangent_vec_a, tangent_vec_b):
        r"""Return the Levi-Civita bilinear form :math:`\Gamma_X(V, W)` (module docstring).

        Geodesics satisfy :math:`\ddot X = -\Gamma_X(\dot X, \dot X)`; in entry coordinates
        :math:`\Gamma_X(E_i, E_j)_k = \Gamma^k_{ij}`. Full-rank points.

        Parameters
        ----------
        tangent_vec_a, tangent_vec_b : array-like, shape=[..., m, n]

        Returns
        -------
        gamma : ndarray, shape=[..., m, n]
        """
        va, vb = self.to_frame(tangent_vec_a), self.to_frame(tangent_vec_b)
        pa, pb = self._divide(va), self._divide(vb)
        out = (-0.5 * (self._derivative_hat(va, pb) + self._derivative_hat(vb, pa))
               + self.eigenvalues * self._gradient_hat(pa, pb))
        return self.from_frame(out)
