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
