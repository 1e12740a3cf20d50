r"""The :math:`\ell_p` regression loss of ACH18's acceleration experiments.

:math:`E(X) = \frac{1}{pP}\sum_{\mu=1}^P \|X x_\mu - y_\mu\|_p^p` for inputs :math:`x_\mu`
(columns of ``inputs``, [n, P]) and targets :math:`y_\mu` (columns of ``targets``, [m, P]);
:math:`\nabla E(X) = \frac1P\,(\mathrm{sign}(R)\,|R|^{p-1})\,X_{in}^\top` with
:math:`R = XX_{in} - Y`. Arora, Cohen, Hazan (ACH18, Section 8) train depth-1 and deeper
linear models on this loss with p = 4 to show acceleration by depth.
"""

import numbers

import numpy as np

from geodln.losses import LeastSquares

__all__ = ["LpRegression"]


class LpRegression(LeastSquares):
    r"""Mean :math:`\ell_p` regression loss :math:`\frac{1}{pP}\sum_\mu\|Xx_\mu - y_\mu\|_p^p`.

    Parameters
    ----------
    inputs : array-like, shape=[n, P]
        Input examples as columns.
    targets : array-like, shape=[m, P]
        Targets as columns.
    p : float
        Exponent, >= 2 (twice differentiable loss).

    Raises
    ------
    ValueError
        If the arrays are not finite 2-d arrays with the same number of columns, or p < 2.

    References
    ----------
    .. [1] ACH18: Arora, Cohen, Hazan, arXiv:1802.06509, Section 8 (ℓ_p regression, p = 4).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import LpRegression
    >>> loss = LpRegression(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]), p=4)
    >>> float(loss.value(np.array([[1.0]])))  # (1 + 16) / (4 * 2)
    2.125
    >>> loss.euclidean_gradient(np.array([[1.0]]))  # (1 * 1 + 8 * 2) / 2
    array([[8.5]])
    """

    name = "lp regression"

    def __init__(self, inputs, targets, p=4.0):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p >= 2:
            raise ValueError(f"p must be a number >= 2, got {p!r}")
        super().__init__(inputs, targets)
        self.p = float(p)

    def value_and_gradient(self, x):
        """Loss value and Euclidean gradient in one call (shapes as for a single call)."""
        x = self.check_point(x)
        return self._value(x), self._gradient(x)

    def _value(self, x):
        r = x @ self.inputs - self.targets
        return np.sum(np.abs(r) ** self.p, axis=(-2, -1)) / (self.p * self.inputs.shape[1])

    def _gradient(self, x):
        r = x @ self.inputs - self.targets
        return (np.sign(r) * np.abs(r) ** (self.p - 1)) @ self.inputs.T / self.inputs.shape[1]

    def __repr__(self):
        return f"LpRegression(shape={self.shape}, p={self.p:g}, n_examples={self.inputs.shape[1]})"
