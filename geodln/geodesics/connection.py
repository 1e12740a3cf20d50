r"""Levi-Civita connection, curvature and distance of a spectral metric (mixed into the metric).

:class:`LeviCivitaMixin` gives :class:`~geodln.SpectralMetric` (hence the deep-linear-network
(DLN) metric :math:`g^N` of :class:`~geodln.DLNMetric`) the geomstats methods that 2.8's generic
code cannot provide for matrix-shaped points:

- ``christoffels(base_point)``: :math:`\Gamma^k_{ij}` in row-major entry coordinates
  (``k = row * n + col``), shape ``[..., mn, mn, mn]``, contravariant index first (geomstats'
  convention), for full-rank points. Closed form from the co-metric: the bilinear form
  :math:`\Gamma_X(V, W)` of :class:`~geodln.geodesics.power_sum_field.PowerSumField` on pairs of
  unit matrices (Daleckii–Krein divided differences, exact at repeated singular values);
- ``inner_product_derivative_matrix``: :math:`\partial_k g_{ij} = \Gamma_{i,jk} + \Gamma_{j,ik}`
  (metric compatibility) with :math:`\Gamma_{l,ij} = g_{lm}\Gamma^m_{ij}`;
- ``curvature(a, b, c, base_point)``: :math:`R(a, b)c = \nabla_a\nabla_b c - \nabla_b\nabla_a c`
  for constant fields, :math:`= D_a\Gamma(b, c) - D_b\Gamma(a, c) + \Gamma(a, \Gamma(b, c))
  - \Gamma(b, \Gamma(a, c))`, with the directional derivatives of the exact
  :math:`\Gamma` by a fourth-order central difference in X (step :math:`2\cdot10^{-3}
  \sigma_{\min}(X)`; relative error about :math:`10^{-10}`): O(d³) work, no curvature tensor is
  formed. ``sectional_curvature(a, b, base_point)`` is :math:`\langle R(\hat a, \hat b)\hat b,
  \hat a\rangle` on a g-orthonormal basis of the plane (Gram–Schmidt in the metric), and
  raises ``ValueError`` where ``a`` and ``b`` span no plane (geomstats' generic formula
  returns 0 there); geomstats' generic ``directional_curvature`` runs on ``curvature``;
- ``riemann_tensor(base_point)``: geomstats' formula (``Connection.riemann_tensor``) with the
  Jacobian of the Christoffel symbols by the same difference scheme; ``ricci_tensor`` and
  ``scalar_curvature`` are geomstats' generic code on it. Memory :math:`O((mn)^4)`: small
  matrices only (mn ≲ 30);
- ``squared_dist`` / ``dist``: on a square full-rank space, points whose determinants have
  opposite signs lie in different components of :math:`GL_d` and their distance is
  ``inf`` (by convention; ``log`` raises there); identical points have distance 0 at once.

Depth 1 is the Euclidean metric: Christoffel symbols and curvature vanish (the divided
differences of :math:`\mu^0` are 0).

For a kernel with a homogeneity degree d (:math:`A_{cX} = c^{2d}A_X`; :math:`d = 1 - 1/N` for
:math:`g^N`) the dilation :math:`X \mapsto cX` is a homothety of the metric, so
:math:`\Gamma_{cX} = \Gamma_X / c`, :math:`R_{cX} = R_X / c^2` (for the same vectors) and the
sectional curvature is :math:`K_{cX} = c^{2d-2}K_X` (:math:`c^{-2/N}K_X` for :math:`g^N`).
``christoffels``, ``curvature``, ``sectional_curvature`` and ``riemann_tensor`` are evaluated
at the point scaled by a power of 2 to unit size, with the tangent vectors scaled to unit size
too (R is trilinear, K does not depend on their size), and rescaled exactly last: valid for
base points and vectors anywhere in the float range (entries 1e-300 … 1e300), ``inf``/0 only
where the exact value is out of range, no numpy warning. For a kernel without a degree nothing
is rescaled (the range is that of the kernel's own arithmetic).

References
----------
.. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the co-metric in the
   singular frame).
.. [2] HIG08: Higham, Functions of Matrices (2008), Theorem 3.11 (Daleckii–Krein).
.. [3] GM24: Menon, "The geometry of the deep linear network", arXiv:2411.09004.
"""

import numpy as np

from geodln._checks import check_matrix
from geodln.geodesics.newton_log import check_connected
from geodln.svd_frame import times_pow2

__all__ = ["LeviCivitaMixin", "PLANE_RTOL"]

#: tangent vectors whose angle in the metric has sine <= PLANE_RTOL span no plane (to working
#: precision, the orthogonalised second vector would be rounding error)
PLANE_RTOL = 1e-10

_STENCIL = ((-2.0, 1.0 / 12.0), (-1.0, -8.0 / 12.0), (1.0, 8.0 / 12.0), (2.0, -1.0 / 12.0))
_REL_STEP = 2e-3


class LeviCivitaMixin:
    """Christoffel symbols, curvature and component-aware distance (see module docstring).

    Mixed into :class:`~geodln.SpectralMetric`; uses its ``exp_solver.frame_field``.

    Examples
    --------
    Depth 1 is the Euclidean metric: no Christoffel symbols, no curvature.

    >>> import geodln
    >>> space = geodln.RankMatrices(2, 2)
    >>> x = np.diag([2.0, 1.0])
    >>> e1, e2 = np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> euclid = geodln.DLNMetric(space, depth=1)
    >>> float(np.max(np.abs(euclid.christoffels(x)))), float(euclid.sectional_curvature(e1, e2, x))
    (0.0, 0.0)
    >>> geodln.DLNMetric(space, depth=2).christoffels(x).shape  # 4 coordinates of M_2
    (4, 4, 4)
    """

    # -- helpers -------------------------------------------------------------------------
    def _full_rank_point(self, base_point, what):
        space = self._space
        if not space.full_rank:
            raise ValueError(
                f"{what} are given in entry coordinates, which are coordinates of M_r only for "
                f"full-rank spaces; this space has rank {space.rank} < min(m, n)"
            )
        kernel = getattr(self, "kernel", None)
        if space.m != space.n and kernel is not None and kernel.degenerate_on_mixed():
            raise ValueError(
                f"{what} are not defined: the metric is not defined on this {space.m}x{space.n} "
                f"space (kernel {kernel!r} vanishes on the mixed blocks of a non-square "
                "point, e.g. infinite depth)"
            )
        x = check_matrix(base_point, "base_point", shape=space.shape)
        s = np.linalg.svd(x, compute_uv=False)
        if np.any(~(s[..., -1] > self.exp_solver.singular_tol * s[..., 0])):
            raise ValueError("base_point must be a full-rank matrix (sigma_min > 0)")
        return x, s[..., -1]

    def _unit_scaled(self, x):
        r"""``(2**-e X, e)`` with the largest entry of :math:`2^{-e}X` in [1/2, 1), per point.

        For a kernel with a homogeneity degree the dilation :math:`X \mapsto cX` is a
        homothety of the metric (:math:`g_{cX}(cZ, cZ) = c^{2-2d} g_X(Z, Z)`), so it preserves
        the Levi-Civita connection: :math:`\Gamma_X = 2^{-e}\Gamma_{2^{-e}X}` and
        :math:`R_X = 4^{-e}R_{2^{-e}X}` for constant fields. The connection is evaluated at the
        scaled point (exact at any scale); without a degree, ``e = 0``.
        """
        if getattr(getattr(self, "kernel", None), "degree", None) is None:
            return x, np.zeros(x.shape[:-2], dtype=int)
        top = np.max(np.abs(x), axis=(-2, -1))
        exponent = np.frexp(np.where(top > 0, top, 1.0))[1]
        return np.ldexp(x, -exponent[..., None, None]), exponent

    def _field(self, x):
        return self.exp_solver.frame_field(x)

    def _gamma(self, x, a, b):
        """Gamma_X(a, b) with broadcasting ([..., m, n] each)."""
        return self._field(x).christoffel(a, b)

    def _directional(self, x, sigma_min, direction, func):
        """Fourth-order central difference of ``func(X)`` along ``direction`` at X."""
        scale = np.max(np.abs(direction), axis=(-2, -1))
        h = _REL_STEP * sigma_min / np.where(scale > 0, scale, 1.0)
        total = 0.0
        for k, w in _STENCIL:
            total = total + w * func(x + k * h[..., None, None] * direction)
        return total / h.reshape(h.shape + (1,) * (np.ndim(total) - h.ndim))

    # -- connection ----------------------------------------------------------------------
    def christoffels(self, base_point):
        r"""Christoffel symbols :math:`\Gamma^k_{ij}` in row-major entry coordinates.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]
            Full-rank point.

        Returns
        -------
        gamma : ndarray, shape=[..., mn, mn, mn]
            ``gamma[..., k, i, j]`` (contravariant index first, as geomstats).

        Raises
        ------
        ValueError
            If the space is not full rank, or ``base_point`` is invalid or singular, or the
            kernel vanishes on the mixed blocks of a non-square space (infinite depth: the
            metric is not defined there).
        NotImplementedError
            If the kernel has no power-sum co-metric.

        References
        ----------
        .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln import DLNMetric, RankMatrices
        >>> metric = DLNMetric(RankMatrices(2, 2), depth=2)
        >>> metric.christoffels(np.eye(2)).shape
        (4, 4, 4)
        """
        x, _ = self._full_rank_point(base_point, "christoffels")
        x, exponent = self._unit_scaled(x)
        m, n = self._space.shape
        d = m * n
        batch = x.shape[:-2]
        unit = np.eye(d).reshape((d,) + (1,) * len(batch) + (m, n))
        field = self._field(x)
        out = np.stack([field.christoffel(unit[i], unit) for i in range(d)])  # [i, j, ..., m, n]
        out = out.reshape((d, d) + batch + (d,))
        out = np.moveaxis(out, -1, 0).transpose(tuple(range(3, 3 + len(batch))) + (0, 1, 2))
        with np.errstate(over="ignore", under="ignore"):  # Gamma_X = 2**-e Gamma_{2**-e X}
            return np.ldexp(out, -exponent[..., None, None, None])

    def inner_product_derivative_matrix(self, base_point):
        r"""Return :math:`\partial_k g_{ij}`, the derivative of the metric matrix.

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]
            Full-rank point.

        Returns
        -------
        derivative : ndarray, shape=[..., mn, mn, mn]
            ``[..., i, j, k]`` with the derivation index last (geomstats' convention).

        Raises
        ------
        ValueError
            As :meth:`christoffels`.
        """
        x, _ = self._full_rank_point(base_point, "inner_product_derivative_matrix")
        # d g(cX) = c**(-2d - 1) d g(X) (degree d): evaluated at unit size, rescaled last
        x, exponent = self._unit_scaled(x)
        gamma = self.christoffels(x)
        lowered = np.einsum("...lm,...mij->...lij", self.metric_matrix(x), gamma)
        out = lowered + np.swapaxes(lowered, -3, -2)
        degree = getattr(self.kernel, "degree", None)
        if degree is None:
            return out
        return times_pow2(out, -(2.0 * degree + 1.0) * exponent[..., None, None, None])

    # -- curvature -----------------------------------------------------------------------
    def curvature(self, tangent_vec_a, tangent_vec_b, tangent_vec_c, base_point):
        r"""Riemann curvature map :math:`R(a, b)c`.

        :math:`R(a, b)c = \nabla_a\nabla_b c - \nabla_b\nabla_a c - \nabla_{[a,b]}c`
        (geomstats' convention).

        Parameters
        ----------
        tangent_vec_a, tangent_vec_b, tangent_vec_c : array-like, shape=[..., m, n]
        base_point : array-like, shape=[..., m, n]
            Full-rank point.

        Returns
        -------
        curvature : ndarray, shape=[..., m, n]

        Raises
        ------
        ValueError
            As :meth:`christoffels`, or for invalid tangent vectors.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln import DLNMetric, RankMatrices
        >>> metric = DLNMetric(RankMatrices(2, 2), depth=1)  # Euclidean: flat
        >>> a, b = np.eye(2), np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> float(np.max(np.abs(metric.curvature(a, b, b, np.diag([1.0, 2.0])))))
        0.0
        """
        x, smin = self._full_rank_point(base_point, "curvature")
        shape = self._space.shape
        a = check_matrix(tangent_vec_a, "tangent_vec_a", shape=shape)
        b = check_matrix(tangent_vec_b, "tangent_vec_b", shape=shape)
        c = check_matrix(tangent_vec_c, "tangent_vec_c", shape=shape)
        x, exponent = self._unit_scaled(x)
        smin = np.ldexp(smin, -exponent)
        a, b, c, x = np.broadcast_arrays(a, b, c, x)
        smin = np.broadcast_to(smin, x.shape[:-2])
        # R is trilinear in (a, b, c): evaluate on vectors scaled to unit size, rescale last
        (a, e_a), (b, e_b), (c, e_c) = _entry_scaled(a), _entry_scaled(b), _entry_scaled(c)
        exponent = e_a + e_b + e_c - 2 * np.broadcast_to(exponent, x.shape[:-2])
        field = self._field(x)
        g_bc, g_ac = field.christoffel(b, c), field.christoffel(a, c)
        d_a = self._directional(x, smin, a, lambda y: self._gamma(y, b, c))
        d_b = self._directional(x, smin, b, lambda y: self._gamma(y, a, c))
        out = d_a - d_b + field.christoffel(a, g_bc) - field.christoffel(b, g_ac)
        # R_X(a, b)c = 2**(e_a + e_b + e_c - 2e) R_{2**-e X}(2**-e_a a, 2**-e_b b) 2**-e_c c
        return times_pow2(out, exponent[..., None, None])

    def sectional_curvature(self, tangent_vec_a, tangent_vec_b, base_point=None):
        r"""Sectional curvature :math:`K(a, b)` of the plane spanned by ``a`` and ``b``.

        :math:`K = \langle R(a, b)b, a\rangle / (|a|^2|b|^2 - \langle a, b\rangle^2)`,
        evaluated as :math:`\langle R(\hat a, \hat b)\hat b, \hat a\rangle` with
        :math:`\hat a, \hat b` the Gram–Schmidt orthonormalisation of ``a, b`` in the metric
        at ``base_point`` (same value, no cancellation in the denominator, independent of the
        scale of ``a`` and ``b``). Batched: every member is checked and evaluated.

        Parameters
        ----------
        tangent_vec_a, tangent_vec_b : array-like, shape=[..., m, n]
            Tangent vectors at ``base_point``, linearly independent in every member.
        base_point : array-like, shape=[..., m, n]
            Full-rank point.

        Returns
        -------
        sectional_curvature : ndarray, shape=[...]

        Raises
        ------
        ValueError
            If ``tangent_vec_a`` and ``tangent_vec_b`` do not span a plane in some member (one
            of them is zero, or they are parallel: the sine of their angle in the metric is
            at most :data:`PLANE_RTOL`), naming the members; if the kernel has no homogeneity
            degree and the metric at ``base_point`` leaves the float range (no rescaling is
            possible then); or as :meth:`curvature`.

        Examples
        --------
        A batch of two planes at one point; parallel vectors span none:

        >>> import numpy as np
        >>> from geodln import DLNMetric, RankMatrices
        >>> metric = DLNMetric(RankMatrices(2, 2), depth=2)
        >>> x, e = np.diag([2.0, 1.0]), np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])])
        >>> metric.sectional_curvature(e, e[::-1], x).shape
        (2,)
        >>> metric.sectional_curvature(e[0], -3.0 * e[0], x)
        Traceback (most recent call last):
        ...
        ValueError: tangent_vec_a and tangent_vec_b must span a plane at base_point: ...
        """
        x, _ = self._full_rank_point(base_point, "sectional_curvature")
        shape = self._space.shape
        a = check_matrix(tangent_vec_a, "tangent_vec_a", shape=shape)
        b = check_matrix(tangent_vec_b, "tangent_vec_b", shape=shape)
        # K(cX) = c**(2d - 2) K(X) (homothety, degree d), and K does not depend on the scale
        # of a and b: everything is evaluated at unit size and K rescaled exactly last
        x, exponent = self._unit_scaled(x)
        a, b, x = np.broadcast_arrays(a, b, x)
        (a, _), (b, _) = _entry_scaled(a), _entry_scaled(b)
        self._field(x)  # NotImplementedError first for a kernel without a co-metric operator
        aa, bb = self.squared_norm(a, x), self.squared_norm(b, x)
        nonzero = np.any(a != 0, axis=(-2, -1)) & np.any(b != 0, axis=(-2, -1))
        if np.any(nonzero & ~((aa > 0) & (aa < np.inf) & (bb > 0) & (bb < np.inf))):
            raise ValueError(
                "the metric at base_point leaves the float range and kernel "
                f"{self.kernel!r} has no homogeneity degree to rescale it (give it one, "
                "e.g. CallableKernel(func, degree=d), for base points of any scale)"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(aa > 0, self.inner_product(a, b, x) / aa, 0.0)
        b_perp = b - c[..., None, None] * a
        pp = self.squared_norm(b_perp, x)
        flat = ~(aa > 0) | ~(pp > PLANE_RTOL**2 * bb)
        if np.any(flat):
            where = ""
            if flat.ndim:
                members = [tuple(i) if len(i) > 1 else i[0] for i in np.argwhere(flat)[:5].tolist()]
                where = f" in member(s) {members}"
            raise ValueError(
                "tangent_vec_a and tangent_vec_b must span a plane at base_point: they are "
                f"linearly dependent (parallel, or one is zero){where} (sine of their angle "
                f"in the metric <= {PLANE_RTOL:g})"
            )
        a_hat = a / np.sqrt(aa)[..., None, None]
        b_hat = b_perp / np.sqrt(pp)[..., None, None]
        unit = self.inner_product(self.curvature(a_hat, b_hat, b_hat, x), a_hat, x)
        degree = getattr(self.kernel, "degree", None)
        if degree is None:
            return unit
        return times_pow2(unit, (2.0 * degree - 2.0) * np.broadcast_to(exponent, unit.shape))

    def riemann_tensor(self, base_point):
        r"""Riemann tensor :math:`R_{ijk}^l` in entry coordinates (geomstats' index convention).

        Parameters
        ----------
        base_point : array-like, shape=[..., m, n]
            Full-rank point (small: the tensor has :math:`(mn)^4` entries).

        Returns
        -------
        riemann : ndarray, shape=[..., mn, mn, mn, mn]
            ``[..., i, j, k, l]`` :math:`= dx^l(R(E_j, E_k)E_i)`.

        Raises
        ------
        ValueError
            As :meth:`christoffels`.
        """
        x, smin = self._full_rank_point(base_point, "riemann_tensor")
        x, exponent = self._unit_scaled(x)  # R_X = 4**-e R_{2**-e X} in entry coordinates
        smin = np.ldexp(smin, -exponent)
        m, n = self._space.shape
        d = m * n
        gamma = self.christoffels(x)
        unit = np.eye(d).reshape((d, m, n))
        # jac[..., a, b, c, e] = d Gamma^a_bc / d x_e (derivation index last)
        jac = np.stack([
            self._directional(x, smin, np.broadcast_to(unit[e], x.shape), self.christoffels)
            for e in range(d)], axis=-1)
        # geomstats 2.8 Connection.riemann_tensor, with this Jacobian
        prod = np.einsum("...ijk,...klm->...ijlm", gamma, gamma)
        out = (np.einsum("...ijlm->...lmji", jac) - np.einsum("...ijlm->...ljmi", jac)
               + np.einsum("...ijlm->...mjli", prod) - np.einsum("...ijlm->...lmji", prod))
        return times_pow2(out, -2 * exponent[..., None, None, None, None])

    # -- distance ------------------------------------------------------------------------
    def squared_dist(self, point_a, point_b):
        """Squared geodesic distance; ``inf`` between components of :math:`GL_d`.

        Parameters
        ----------
        point_a, point_b : array-like, shape=[..., m, n]

        Returns
        -------
        sq_dist : ndarray, shape=[...]
            0 for identical points (no integration), ``inf`` when ``det`` signs differ on
            a square full-rank space.

        Raises
        ------
        ValueError
            On invalid or singular points, or if no geodesic is found (see ``log``).

        Examples
        --------
        >>> import numpy as np
        >>> from geodln import DLNMetric, RankMatrices
        >>> metric = DLNMetric(RankMatrices(2, 2), depth=3)
        >>> float(metric.squared_dist(np.diag([1.0, 2.0]), np.diag([1.0, -2.0])))
        inf
        """
        shape = self._space.shape
        a = check_matrix(point_a, "point_a", shape=shape)
        b = check_matrix(point_b, "point_b", shape=shape)
        a, b = np.broadcast_arrays(a, b)
        batch = a.shape[:-2]
        a, b = a.reshape((-1,) + shape), b.reshape((-1,) + shape)
        r = self._space.rank
        for name, arr in (("point_a", a), ("point_b", b)):
            s = np.linalg.svd(arr, compute_uv=False)
            if np.any(~(s[:, r - 1] > self.exp_solver.singular_tol * s[:, 0])):
                raise ValueError(f"{name} must have rank {r} (it is singular)")
        out = np.full(len(a), np.inf)
        same = np.all(a == b, axis=(-2, -1))
        out[same] = 0.0
        todo = np.flatnonzero(~same & check_connected(b, a, self._space))
        if len(todo):
            log = self.log(b[todo], a[todo])
            out[todo] = self.squared_norm(log, a[todo])
        return out.reshape(batch)

    def dist(self, point_a, point_b):
        """Geodesic distance (``inf`` between components of :math:`GL_d`, see ``squared_dist``).

        Parameters
        ----------
        point_a, point_b : array-like, shape=[..., m, n]

        Returns
        -------
        dist : ndarray, shape=[...]

        Raises
        ------
        ValueError
            As ``squared_dist``.
        """
        return np.sqrt(self.squared_dist(point_a, point_b))


def _entry_scaled(z):
    """``(2**-e z, e)``: ``z`` over the power of 2 of its largest entry per member (0 stays 0)."""
    top = np.max(np.abs(z), axis=(-2, -1))
    exponent = np.frexp(np.where(top > 0, top, 1.0))[1]
    return np.ldexp(z, -exponent[..., None, None]), exponent
