r"""Riemannian-orthonormal coordinates on the tangent spaces of a batch of rank-r matrices.

With a full SVD :math:`X = U\Sigma V^\top` and the co-metric eigenvalues :math:`\lambda_{kl}`
of a spectral metric (for :math:`g^N`, CMV23, Lemma 2.4), a tangent vector is

.. math:: Z = \sum_{(k, l)} c_{kl}\sqrt{\lambda_{kl}}\; u_k v_l^\top

over the pairs with k < r or l < r (the tangent space of :math:`M_r` in the singular frame),
so that :math:`\|c\|^2 = g_X(Z, Z)`. In these coordinates the derivative of
:math:`c \mapsto \exp_X(Z(c))` is the identity at c = 0, which is why the logarithm solvers
(:class:`~geodln.geodesics.NewtonLogSolver`, :class:`~geodln.geodesics.RootLogSolver`) write
their unknowns and residuals in them.
"""

import numpy as np

__all__ = ["TangentCoordinates"]


def _t(a):
    return np.swapaxes(a, -1, -2)


class TangentCoordinates:
    r"""Orthonormal tangent coordinates at a batch of base points (module docstring).

    Parameters
    ----------
    base_point : array-like, shape=[B, m, n]
        Base points X (rank ``rank``; a single point is a batch of one).
    rank : int
        r.
    kernel : SpectralKernel
        The kernel of the metric (its eigenvalues :math:`\lambda_{kl} = k(\sigma_k^2,
        \sigma_l^2)`, with :math:`\sigma = 0` beyond r).

    Attributes
    ----------
    dim : int
        :math:`r(m + n - r)`, the dimension of :math:`M_r`.

    Raises
    ------
    ValueError
        If ``base_point`` is not of shape [B, m, n], or with the message ``the metric is not
        defined at base_point (a co-metric eigenvalue is 0)``.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (eigenvalues of
       :math:`A_{N,X}` in the singular basis).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.spectral import DLNKernel
    >>> coords = TangentCoordinates(np.diag([1.0, 4.0])[None], 2, DLNKernel(2))
    >>> c = coords.to_coords(np.eye(2)[None])  # lambda_kk = 2 sigma_k: 2 and 8
    >>> bool(np.allclose(sorted(c[0] ** 2), [0, 0, 0.125, 0.5]))
    True
    >>> bool(np.allclose(coords.to_vector(c), np.eye(2)))
    True
    """

    def __init__(self, base_point, rank, kernel):
        x = np.asarray(base_point, dtype=float)
        if x.ndim != 3:
            raise ValueError(f"base_point must have shape [B, m, n], got {x.shape}")
        m, n = x.shape[-2:]
        u, s, vt = np.linalg.svd(x, full_matrices=True)
        sig = np.zeros(x.shape[:-2] + (max(m, n),))
        sig[..., :rank] = s[..., :rank]
        s2 = sig**2
        lam = np.asarray(kernel(s2[..., :m, None], s2[..., None, :n]), dtype=float)
        self.mask = (np.arange(m)[:, None] < rank) | (np.arange(n)[None, :] < rank)
        lam = lam[..., self.mask]
        if np.any(~(lam > 0)):
            raise ValueError(
                "the metric is not defined at base_point (a co-metric eigenvalue is 0)"
            )
        self.u, self.v, self.sqrt_lam = u, _t(vt), np.sqrt(lam)
        self.dim = int(self.mask.sum())

    def take(self, idx):
        """Return the coordinates at the base points ``idx`` (an index array into the batch).

        Parameters
        ----------
        idx : array-like of int

        Returns
        -------
        coords : TangentCoordinates
        """
        out = TangentCoordinates.__new__(TangentCoordinates)
        out.u, out.v, out.sqrt_lam = self.u[idx], self.v[idx], self.sqrt_lam[idx]
        out.mask, out.dim = self.mask, self.dim
        return out

    def _frames(self, extra):
        shape = (len(self.u),) + (1,) * extra
        return (self.u.reshape(shape + self.u.shape[1:]), self.v.reshape(shape + self.v.shape[1:]),
                self.sqrt_lam.reshape(shape + (self.dim,)))

    def to_coords(self, vector):
        """Coordinates of the tangent part of ``vector``.

        Parameters
        ----------
        vector : array-like, shape=[B, ..., m, n]

        Returns
        -------
        coords : ndarray, shape=[B, ..., dim]
        """
        vector = np.asarray(vector, dtype=float)
        u, v, sl = self._frames(vector.ndim - 3)
        return (_t(u) @ vector @ v)[..., self.mask] / sl

    def to_vector(self, coords):
        """Tangent vectors with coordinates ``coords``.

        Parameters
        ----------
        coords : array-like, shape=[B, ..., dim]

        Returns
        -------
        vector : ndarray, shape=[B, ..., m, n]
        """
        coords = np.asarray(coords, dtype=float)
        u, v, sl = self._frames(coords.ndim - 2)
        hat = np.zeros(coords.shape[:-1] + self.mask.shape)
        hat[..., self.mask] = coords * sl
        return u @ hat @ _t(v)

    def basis(self):
        """Return the orthonormal basis as matrices, ``[B, dim, m, n]``."""
        eye = np.broadcast_to(np.eye(self.dim), (len(self.u), self.dim, self.dim))
        return self.to_vector(eye)
