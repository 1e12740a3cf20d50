r"""The product map as a Riemannian submersion :math:`\mathcal M_r \to (M_r, g^N)` (MY25).

:math:`\phi(W) = W_N \cdots W_1` from the balanced manifold with its Frobenius metric onto
rank-r matrices. With :math:`D\phi_W(\dot W) = \sum_p W_{N:p+1} \dot W_p W_{p-1:1}` and its
adjoint :math:`D\phi_W^*(Y) = (W_{N:p+1}^\top Y W_{p-1:1}^\top)_p`, on balanced W
:math:`D\phi\, D\phi^* = A_{N,X}` (the **plain-sum** co-metric, not the CMV :math:`A/N`), so

- horizontal space :math:`\{D\phi^*(Y)\} \subset T_W\mathcal M_r`;
- horizontal lift of :math:`Z \in T_X M_r`: :math:`D\phi^*(A_{N,X}^{-1} Z)`, with
  :math:`\|D\phi^*(A^{-1}Z)\|_F^2 = g^N_X(Z, Z)` — Menon–Yu's theorem that :math:`g^N` is the
  quotient metric;
- horizontal projection :math:`D\phi^* A^{-1} D\phi` (orthogonal projector onto the horizontal
  space), vertical projection :math:`P_{T_W\mathcal M_r} - D\phi^* A^{-1} D\phi`
  (the fiber tangents, :math:`\ker D\phi \cap T_W \mathcal M_r`).

:func:`quotient_metric` equips a :class:`~geodln.RankMatrices` with geomstats'
``QuotientMetric`` over this bundle; its inner products equal :class:`~geodln.DLNMetric`'s.

That the product map is a Riemannian submersion onto :math:`(M_r, g^N)` is the theorem of
Menon and Yu (MY, [1]_); the identity :math:`D\phi\,D\phi^* = A_{N,X}` on balanced factors is
the computation behind the end-to-end dynamics of Arora, Cohen and Hazan [2]_.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).

References
----------
.. [1] MY25: Menon, Yu, "An entropy formula for the Deep Linear Network", arXiv:2509.09088,
   Abstract (the metric :math:`g^N` is obtained by Riemannian submersion of the balanced
   manifold).
.. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1.
"""

import numpy as np
from geomstats.geometry.fiber_bundle import FiberBundle
from geomstats.geometry.quotient_metric import QuotientMetric

from geodln._checks import check_matrix
from geodln.factors import product, product_adjoint, tangent_product
from geodln.metric import DLNMetric
from geodln.spaces.balanced import DEFAULT_ATOL, BalancedManifold
from geodln.spaces.rank_matrices import RankMatrices


class DLNBundle(FiberBundle):
    r"""Fiber bundle :math:`\phi: \mathcal M_r \to M_r`, :math:`W \mapsto W_N \cdots W_1`.

    The horizontal lift of :math:`Z \in T_X M_r` is :math:`D\phi_W^*(A_{N,X}^{-1}Z)` and its
    squared Frobenius norm is :math:`g^N_X(Z, Z)` (plain sum :math:`A_{N,X}`) [1]_.

    Parameters
    ----------
    total_space : BalancedManifold
        The balanced manifold (flat points, shape [..., total_dim]), with its Frobenius metric.

    Attributes
    ----------
    base : RankMatrices
        The base :math:`M_r` (not equipped).
    base_metric : DLNMetric
        :math:`g^N` with the plain-sum normalisation, used for :math:`A_{N,X}^{-1}`.

    Raises
    ------
    ValueError
        If ``total_space`` is not a :class:`~geodln.BalancedManifold`.

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: Riemannian submersion of the
       balanced manifold onto :math:`(M_d, g^N)`; full rank in the paper).
    .. [2] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Theorem 1
       (:math:`D\phi\,D\phi^* = A_{N,X}` on balanced factors).

    Examples
    --------
    The product of the lift is the point, and the horizontal lift is an isometry:

    >>> import geodln
    >>> bundle = geodln.DLNBundle(geodln.BalancedManifold(3, 4, 3, rank=2, widths=(5, 2)))
    >>> X = bundle.base.random_point(seed=0)
    >>> W = bundle.lift(X)
    >>> bool(np.allclose(bundle.riemannian_submersion(W), X))
    True
    >>> Z = bundle.base.to_tangent(np.arange(12.0).reshape(4, 3), X)
    >>> H = bundle.horizontal_lift(Z, fiber_point=W)
    >>> metric = geodln.DLNMetric(geodln.RankMatrices(4, 3, rank=2), depth=3)
    >>> bool(np.isclose(np.sum(H**2), metric.squared_norm(Z, X)))
    True
    """

    def __init__(self, total_space):
        if not isinstance(total_space, BalancedManifold):
            raise ValueError(
                f"total_space must be a BalancedManifold, got {type(total_space).__name__}"
            )
        super().__init__(total_space)
        self.base = RankMatrices(total_space.m, total_space.n, total_space.rank, equip=False)
        self.base_metric = DLNMetric(self.base, total_space.depth, normalized=False)

    def riemannian_submersion(self, point):
        r"""Product map :math:`\phi(W) = W_N \cdots W_1`.

        Parameters
        ----------
        point : array-like, shape=[..., total_dim]
            Balanced factors W, flat.

        Returns
        -------
        x : ndarray, shape=[..., m, n]
            The end-to-end matrix X.
        """
        return product(self._total_space.factors(point))

    def tangent_riemannian_submersion(self, tangent_vec, base_point):
        r"""Differential :math:`D\phi_W(\dot W) = \sum_p W_{N:p+1} \dot W_p W_{p-1:1}`.

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., total_dim]
            :math:`\dot W`, flat.
        base_point : array-like, shape=[..., total_dim]
            W, flat.

        Returns
        -------
        z : ndarray, shape=[..., m, n]
            :math:`D\phi_W(\dot W)`, a tangent vector at :math:`X = \phi(W)`.
        """
        space = self._total_space
        return tangent_product(space.factors(base_point), space.factors(tangent_vec))

    def lift(self, point):
        """Balanced lift with identity hidden frames (see :meth:`BalancedManifold.lift`).

        Parameters
        ----------
        point : array-like, shape=[..., m, n]
            X of rank r.

        Returns
        -------
        fiber_point : ndarray, shape=[..., total_dim]

        Raises
        ------
        ValueError
            If ``point`` is not a finite real array [..., m, n] of rank ``rank``.
        """
        space = self._total_space
        point = check_matrix(point, "point", shape=(space.m, space.n))
        try:
            return space.lift(point)
        except ValueError as exc:
            raise ValueError(str(exc).replace("x must", "point must", 1)) from None

    def horizontal_lift(self, tangent_vec, base_point=None, fiber_point=None):
        r"""Horizontal lift :math:`D\phi_W^*(A_{N,X}^{-1} Z)` (MY25).

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., m, n]
            :math:`Z \in T_X M_r` (a normal component is dropped).
        base_point : array-like, shape=[..., m, n], optional
            X; used only to build ``fiber_point`` by :meth:`lift` when that is not given.
        fiber_point : array-like, shape=[..., total_dim], optional
            A balanced W over X (checked for balance).

        Returns
        -------
        horizontal_vec : ndarray, shape=[..., total_dim]
            The horizontal vector, flat; its squared Frobenius norm is :math:`g^N_X(Z, Z)`.

        Raises
        ------
        ValueError
            If neither point is given, or ``fiber_point`` is not balanced.
        """
        if base_point is None and fiber_point is None:
            raise ValueError("either base_point or fiber_point must be given")
        if fiber_point is None:
            fiber_point = self.lift(base_point)
        space = self._total_space
        ws = space.check_point(fiber_point, "fiber_point")
        cotangent = self.base_metric.flat(tangent_vec, product(ws))
        return space.from_factors(product_adjoint(ws, cotangent), check=False)

    def horizontal_projection(self, tangent_vec, base_point):
        r"""Orthogonal projection :math:`D\phi^* A^{-1} D\phi` onto the horizontal space.

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., total_dim]
            A vector at W, flat.
        base_point : array-like, shape=[..., total_dim]
            Balanced W, flat.

        Returns
        -------
        horizontal : ndarray, shape=[..., total_dim]
            Its horizontal part.
        """
        z = self.tangent_riemannian_submersion(tangent_vec, base_point)
        return self.horizontal_lift(z, fiber_point=base_point)

    def vertical_projection(self, tangent_vec, base_point):
        r"""Orthogonal projection onto the vertical space (tangent projection minus horizontal).

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., total_dim]
            A vector at W, flat.
        base_point : array-like, shape=[..., total_dim]
            Balanced W, flat.

        Returns
        -------
        vertical : ndarray, shape=[..., total_dim]
            Its vertical part (tangent to the fiber over :math:`\phi(W)`).
        """
        tangent = self._total_space.to_tangent(tangent_vec, base_point)
        return tangent - self.horizontal_projection(tangent_vec, base_point)

    def is_horizontal(self, tangent_vec, base_point, atol=DEFAULT_ATOL):
        """Check tangency and ``|v - horizontal_projection(v)| <= atol`` entrywise.

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., total_dim]
            A vector at W, flat.
        base_point : array-like, shape=[..., total_dim]
            Balanced W, flat.
        atol : float
            Absolute tolerance, entrywise.

        Returns
        -------
        is_horizontal : ndarray of bool, shape=[...]
        """
        residual = np.asarray(tangent_vec) - self.horizontal_projection(tangent_vec, base_point)
        return self._is_tangent_with_small(tangent_vec, base_point, residual, atol, axis=-1)

    def is_vertical(self, tangent_vec, base_point, atol=DEFAULT_ATOL):
        """Check tangency and ``|D phi(v)| <= atol`` entrywise.

        Parameters
        ----------
        tangent_vec : array-like, shape=[..., total_dim]
            A vector at W, flat.
        base_point : array-like, shape=[..., total_dim]
            Balanced W, flat.
        atol : float
            Absolute tolerance, entrywise.

        Returns
        -------
        is_vertical : ndarray of bool, shape=[...]
        """
        z = self.tangent_riemannian_submersion(tangent_vec, base_point)
        return self._is_tangent_with_small(tangent_vec, base_point, z, atol, axis=(-2, -1))

    def _is_tangent_with_small(self, tangent_vec, base_point, residual, atol, axis):
        """Tangency of ``tangent_vec`` and ``|residual| <= atol`` entrywise over ``axis``."""
        return self._total_space.is_tangent(tangent_vec, base_point, atol) & np.all(
            np.abs(residual) <= atol, axis=axis
        )


def balanced_total_space(space, depth, widths=None):
    """Return a :class:`BalancedManifold` over ``space`` with its :class:`DLNBundle` attached.

    Parameters
    ----------
    space : RankMatrices
        The base :math:`M_r`.
    depth : int
        N >= 1.
    widths : sequence of int, optional
        Hidden widths (default: all equal to the rank).

    Returns
    -------
    total_space : BalancedManifold
        Equipped with the Frobenius metric; ``total_space.fiber_bundle`` is a
        :class:`DLNBundle`.

    Raises
    ------
    ValueError
        If ``space`` is not a :class:`~geodln.RankMatrices`, or ``depth``/``widths`` are
        invalid for it (see :class:`~geodln.BalancedManifold`).

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: the balanced manifold as the
       total space of the Riemannian submersion onto :math:`(M_d, g^N)`).
    .. [2] GEO25: Chen, "Geodesics in the Deep Linear Network", arXiv:2510.07324, Eq. (1.4)
       and Section 1.2 (the balancedness constraints and the balanced manifold).

    Examples
    --------
    >>> import geodln
    >>> from geodln.bundle import balanced_total_space
    >>> total = balanced_total_space(geodln.RankMatrices(3, 3), depth=2)
    >>> type(total.fiber_bundle).__name__, total.dim
    ('DLNBundle', 12)
    """
    if not isinstance(space, RankMatrices):
        raise ValueError(f"space must be a RankMatrices, got {type(space).__name__}")
    total = BalancedManifold(depth, space.m, space.n, rank=space.rank, widths=widths)
    total.fiber_bundle = DLNBundle(total)
    return total


def quotient_metric(space, depth, widths=None):
    """Equip ``space`` with geomstats' ``QuotientMetric`` over the DLN bundle and return it.

    By Menon–Yu's theorem the result has the inner products of
    ``DLNMetric(space, depth, normalized=False)`` (plain sum :math:`A_{N,X}`), computed the
    slow way: balanced lift, horizontal lift, Frobenius product upstairs. It is meant for
    cross-checks; ``exp``/``log`` need a total-space geodesic solver (not provided here).

    Parameters
    ----------
    space : RankMatrices
        The base; its ``metric`` is replaced (``space.equip_with_metric``).
    depth : int
        N >= 1.
    widths : sequence of int, optional
        Hidden widths of the balanced manifold (default: all equal to the rank).

    Returns
    -------
    metric : QuotientMetric
        ``space.metric``; its total space is ``metric._total_space``.

    Raises
    ------
    ValueError
        If ``space`` is not a :class:`~geodln.RankMatrices`, or ``depth``/``widths`` are
        invalid for it.

    References
    ----------
    .. [1] MY25: Menon, Yu, arXiv:2509.09088, Section 1 (overview: :math:`g^N` is the quotient
       metric of the balanced manifold under the product map).

    Examples
    --------
    >>> import geodln
    >>> from geodln.bundle import quotient_metric
    >>> space = geodln.RankMatrices(3, 3)
    >>> metric = quotient_metric(space, depth=3)
    >>> X, Z = np.diag([2.0, 1.0, 0.5]), np.eye(3)
    >>> direct = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=3).squared_norm(Z, X)
    >>> bool(np.isclose(metric.squared_norm(Z, X), direct))
    True
    """
    total = balanced_total_space(space, depth, widths)
    space.equip_with_metric(QuotientMetric, total_space=total)
    return space.metric
