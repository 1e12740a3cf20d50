r"""Model offsets: a global mean and row/column (user/item) biases.

Recommender models write a rating as :math:`b_{ij} \approx \mu + a_i + c_j + X_{ij}`: a global
mean, a user bias, an item bias and the low-rank interaction :math:`X` that the deep linear
network learns (the standard baseline-predictor decomposition of collaborative filtering; see
Koren, Bell, Volinsky, IEEE Computer 42(8), 2009, Sect. "Adding biases"). geodln fits the
offsets *beforehand*, by (optionally ridge-regularised) least squares on the training entries,
and the dynamics then complete the residuals :math:`b_{ij} - \mu - a_i - c_j`; every loss, dense
or factored, is used unchanged. Predictions add the offsets back
(:func:`geodln.data.held_out_error`).
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from geodln.data.ratings import Ratings

__all__ = ["Offsets", "fit_offsets"]

_KINDS = ("none", "mean", "biases")


@dataclass(frozen=True)
class Offsets:
    r"""Additive offsets :math:`\mu + a_i + c_j` of a completion model.

    Parameters
    ----------
    mean : float
        Global mean :math:`\mu`.
    row_bias : ndarray, shape=[m]
        Row (user) biases :math:`a_i`.
    col_bias : ndarray, shape=[n]
        Column (item) biases :math:`c_j`.

    Examples
    --------
    >>> import numpy as np
    >>> o = Offsets(3.0, np.array([0.5, -0.5]), np.array([0.0, 1.0]))
    >>> o.predict(np.array([0, 1]), np.array([1, 0])).tolist()
    [4.5, 2.5]
    """

    mean: float
    row_bias: np.ndarray
    col_bias: np.ndarray

    @property
    def shape(self):
        """``(m, n)``."""
        return (self.row_bias.size, self.col_bias.size)

    def predict(self, rows, cols):
        r"""Offsets :math:`\mu + a_i + c_j` at the entries ``(rows[k], cols[k])``.

        Parameters
        ----------
        rows, cols : ndarray of int, shape=[k]

        Returns
        -------
        offsets : ndarray, shape=[k]
        """
        return self.mean + self.row_bias[rows] + self.col_bias[cols]

    def residuals(self, ratings):
        """Return the table with the offsets subtracted (what the dynamics then complete).

        Parameters
        ----------
        ratings : Ratings
            Entries in the coordinates the offsets were fitted in.

        Returns
        -------
        residual_ratings : Ratings

        Raises
        ------
        ValueError
            If ``ratings`` has another shape.
        """
        if not isinstance(ratings, Ratings) or ratings.shape != self.shape:
            raise ValueError(f"ratings must be a Ratings table of shape {self.shape}")
        return ratings.with_values(ratings.values - self.predict(ratings.rows, ratings.cols))


def fit_offsets(ratings, kind="biases", regularization=0.0):
    r"""Fit the offsets on training entries by least squares.

    ``kind="biases"`` minimises
    :math:`\sum_\Omega (b_{ij} - \mu - a_i - c_j)^2 + \lambda(\|a\|^2 + \|c\|^2)` with
    :math:`\mu` the mean of the observed values (for :math:`\lambda = 0` this gives the same
    fitted values as the joint least-squares fit of :math:`(\mu, a, c)`, because the constant
    column lies in the span of the row indicators; the minimum-norm :math:`(a, c)` is returned).
    ``"mean"`` fits :math:`\mu` alone; ``"none"`` returns zero offsets.

    Parameters
    ----------
    ratings : Ratings
        Training entries.
    kind : {"biases", "mean", "none"}
        Which offsets.
    regularization : float
        Ridge weight :math:`\lambda \ge 0` on the biases.

    Returns
    -------
    offsets : Offsets

    Raises
    ------
    ValueError
        If ``ratings`` is not a non-empty table, ``kind`` is unknown, or ``regularization`` is
        negative, NaN or a bool.

    Examples
    --------
    >>> from geodln.data import ratings_from_arrays
    >>> r = ratings_from_arrays([0, 0, 1], [0, 1, 0], [5.0, 3.0, 4.0])
    >>> round(fit_offsets(r, kind="mean").mean, 6)
    4.0
    """
    if not isinstance(ratings, Ratings) or ratings.n_observed == 0:
        raise ValueError("ratings must be a non-empty Ratings table")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if isinstance(regularization, bool) or not isinstance(regularization, int | float) or not (
        np.isfinite(regularization) and regularization >= 0
    ):
        raise ValueError(f"regularization must be a finite number >= 0, got {regularization!r}")
    m, n = ratings.shape
    if kind == "none":
        return Offsets(0.0, np.zeros(m), np.zeros(n))
    mean = float(np.mean(ratings.values))
    if kind == "mean":
        return Offsets(mean, np.zeros(m), np.zeros(n))
    k = ratings.n_observed
    design = sp.hstack([
        sp.csr_matrix((np.ones(k), (np.arange(k), ratings.rows)), shape=(k, m)),
        sp.csr_matrix((np.ones(k), (np.arange(k), ratings.cols)), shape=(k, n)),
    ]).tocsr()
    sol = lsqr(design, ratings.values - mean, damp=np.sqrt(float(regularization)),
               atol=1e-14, btol=1e-14, iter_lim=20 * (m + n))[0]
    return Offsets(mean, sol[:m], sol[m:])
