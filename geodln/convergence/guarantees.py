r"""Linear-convergence guarantee of gradient descent on deep linear networks (ACGH19).

Arora, Cohen, Golowich, Hu (ACGH19) train :math:`W_N\cdots W_1` by gradient descent on whitened
least squares, :math:`\ell = \tfrac12\|W_N\cdots W_1 - \Phi\|_F^2` (the loss above its minimum),
and prove linear convergence under two conditions on the start:

- **approximate balancedness** (Definition 1): the factors are δ-balanced,
  :math:`\|W_{j+1}^\top W_{j+1} - W_jW_j^\top\|_F \le \delta` for all j
  (:func:`geodln.factors.balance_defect` computes the smallest such δ);
- **deficiency margin** (Definition 2): the end-to-end matrix X has margin c > 0 w.r.t. Φ if
  :math:`\|X - \Phi\|_F \le \sigma_{\min}(\Phi) - c` (:func:`deficiency_margin`). By
  Eckart–Young, :math:`\sigma_{\min}(\Phi)` is the distance from Φ to the rank-deficient
  matrices, so c > 0 says that the initial loss is below the loss of every rank-deficient
  matrix, and then :math:`\sigma_{\min}(X) \ge c`.

Theorem 1 of ACGH19, as implemented here: if the hidden widths are at least
:math:`\min(d_0, d_N)`, the start has margin c > 0, is δ-balanced with
:math:`\delta \le c^2 / (256\,N^3\,\|\Phi\|_F^{2(N-1)/N})` and the step satisfies
:math:`\eta \le c^{(4N-2)/N} / (6144\,N^3\,\|\Phi\|_F^{(6N-4)/N})`, then for every ε > 0 the loss
after :math:`T \ge \log(\ell(0)/\varepsilon) / (\eta\,c^{2(N-1)/N})` steps is at most ε — i.e.
:math:`\ell(T) \le \ell(0)\exp(-\eta\,c^{2(N-1)/N}\,T)` for every T (:func:`acgh_bound`).
**Status of the constants.** The three conditions (hidden widths, approximate balancedness,
deficiency margin), Definitions 1-2 and the linear rate were checked against a public text
of ACGH19 (ICLR 2019 version), whose display formulas are however missing. That text
confirms the constant 6144 of the step condition (Eq. (7): the proof of Theorem 2 uses
"2^4 · 6144 < 10^5" to meet it) and that the δ of Theorem 1 is a fixed expression in c, N
and :math:`\|\Phi\|_F`. The constant 256 of the balancedness condition and the exponents of c
and :math:`\|\Phi\|_F` in both conditions are our reading of Theorem 1 and remain unverified.
They enter only :func:`acgh_balancedness_bound` and :func:`acgh_step_bound` (and hence
:func:`acgh_conditions`); :func:`acgh_rate` and :func:`acgh_bound` do not depend on them.
The necessity of the margin is Claim 5 of ACGH19 (Appendix C: 0-balanced starts without a
margin that fail under any step, for even depth).
Empirically the bound is loose (see the ``acgh`` experiment): GD stayed below it even at
:math:`10^4` times the step of :func:`acgh_step_bound`.

The continuous-time counterpart (Bah, Rauhut, Terstiege, Westdickenberg, BRTW21) is the
Riemannian gradient flow of :math:`g^N` (:func:`geodln.downstairs_flow`).
"""

import dataclasses

import numpy as np

from geodln._checks import (
    check_depth,
    check_finite,
    check_matrix,
    check_nonnegative_real,
    check_positive_real,
)
from geodln.factors import balance_defect, check_factors, product

__all__ = [
    "deficiency_margin",
    "acgh_balancedness_bound",
    "acgh_step_bound",
    "acgh_rate",
    "acgh_bound",
    "ACGHConditions",
    "acgh_conditions",
]


def deficiency_margin(X, target):
    r"""Deficiency margin :math:`c = \sigma_{\min}(\Phi) - \|X - \Phi\|_F` (ACGH19 Def. 2).

    The largest c for which X has deficiency margin c with respect to Φ; X qualifies for
    the guarantee iff the value is > 0. It is the radius left between X and the set of
    rank-deficient matrices, measured from Φ.

    Parameters
    ----------
    X : array-like, shape=[..., m, n]
        End-to-end matrices.
    target : array-like, shape=[..., m, n]
        Target Φ (broadcast against X).

    Returns
    -------
    margin : float or ndarray, shape=[...]
        Negative when X is farther from Φ than the nearest rank-deficient matrix.

    Raises
    ------
    ValueError
        If X or target is not a finite real array [..., m, n] of matching trailing shape.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definition 2.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import deficiency_margin
    >>> float(deficiency_margin(np.diag([1.2, 0.9]), np.eye(2)))  # 1 - sqrt(0.04 + 0.01)
    0.7763932022500211
    >>> bool(deficiency_margin(np.diag([1.0, -1.0]), np.eye(2)) < 0)
    True
    """
    x = check_matrix(X, "X")
    phi = check_matrix(target, "target", shape=x.shape[-2:])
    sigma_min = np.linalg.svd(phi, compute_uv=False)[..., -1]
    out = sigma_min - np.linalg.norm(x - phi, axis=(-2, -1))
    return out if out.ndim else float(out)


def _norms(target, margin, depth):
    phi = check_matrix(target, "target")
    n = check_depth(depth, allow_inf=False)
    c = check_positive_real(margin, "margin")
    return np.linalg.norm(phi, axis=(-2, -1)), c, n


def acgh_balancedness_bound(target, margin, depth):
    r"""Largest δ allowed by ACGH19 Theorem 1: :math:`c^2/(256 N^3 \|\Phi\|_F^{2(N-1)/N})`.

    Parameters
    ----------
    target : array-like, shape=[..., m, n]
        Target Φ.
    margin : float
        Deficiency margin c > 0 of the start.
    depth : int
        Depth N >= 1.

    Returns
    -------
    delta : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``margin`` is not positive, ``depth`` not a positive integer or ``target`` invalid.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import acgh_balancedness_bound
    >>> float(acgh_balancedness_bound(np.eye(1), 0.5, 2))  # 0.25 / (256 * 8)
    0.0001220703125
    """
    norm, c, n = _norms(target, margin, depth)
    return c**2 / (256.0 * n**3 * norm ** (2.0 * (n - 1) / n))


def acgh_step_bound(target, margin, depth):
    r"""Largest step allowed by ACGH19 Theorem 1.

    :math:`\eta_{\max} = c^{(4N-2)/N} / (6144\,N^3\,\|\Phi\|_F^{(6N-4)/N})`.

    Parameters
    ----------
    target : array-like, shape=[..., m, n]
        Target Φ.
    margin : float
        Deficiency margin c > 0.
    depth : int
        Depth N >= 1.

    Returns
    -------
    step : float or ndarray, shape=[...]

    Raises
    ------
    ValueError
        If ``margin`` is not positive, ``depth`` not a positive integer or ``target`` invalid.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1, Eq. (7).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import acgh_step_bound
    >>> float(acgh_step_bound(np.eye(1), 1.0, 1))  # 1 / 6144
    0.00016276041666666666
    """
    norm, c, n = _norms(target, margin, depth)
    return c ** ((4.0 * n - 2) / n) / (6144.0 * n**3 * norm ** ((6.0 * n - 4) / n))


def acgh_rate(margin, depth):
    r"""Guaranteed decay rate per unit of :math:`\eta t`: :math:`c^{2(N-1)/N}`.

    Parameters
    ----------
    margin : float
        Deficiency margin c > 0.
    depth : int
        Depth N >= 1.

    Returns
    -------
    rate : float

    Raises
    ------
    ValueError
        If ``margin`` is not positive or ``depth`` not a positive integer.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1.

    Examples
    --------
    >>> from geodln.convergence import acgh_rate
    >>> acgh_rate(0.25, 2)
    0.25
    """
    c = check_positive_real(margin, "margin")
    n = check_depth(depth, allow_inf=False)
    return c ** (2.0 * (n - 1) / n)


def acgh_bound(steps, initial_loss, step_size, margin, depth):
    r"""Guaranteed loss after T steps: :math:`\ell(0)\exp(-\eta\,c^{2(N-1)/N}\,T)`.

    Parameters
    ----------
    steps : array-like, shape=[...]
        Iteration counts T >= 0.
    initial_loss : float
        :math:`\ell(0) = \tfrac12\|X(0) - \Phi\|_F^2` (>= 0).
    step_size : float
        η > 0.
    margin : float
        Deficiency margin c > 0 of the start.
    depth : int
        Depth N >= 1.

    Returns
    -------
    bound : ndarray, shape=[...] (that of ``steps``), or float

    Raises
    ------
    ValueError
        If an argument is out of range (negative, ragged or non-numeric steps, a loss that is
        not a finite number >= 0 — bools are not numbers —, non-positive step or margin,
        non-integer depth).

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Theorem 1.

    Examples
    --------
    >>> from geodln.convergence import acgh_bound
    >>> float(acgh_bound(100, 1.0, 0.01, 1.0, 3))  # exp(-1)
    0.36787944117144233
    """
    t = check_finite(steps, "steps")
    if np.any(t < 0):
        raise ValueError("steps must be finite and >= 0")
    initial_loss = check_nonnegative_real(initial_loss, "initial_loss")
    eta = check_positive_real(step_size, "step_size")
    out = float(initial_loss) * np.exp(-eta * acgh_rate(margin, depth) * t)
    return out if out.ndim else float(out)


@dataclasses.dataclass(frozen=True)
class ACGHConditions:
    r"""The quantities of ACGH19 Theorem 1 at a start, and whether they hold.

    Attributes
    ----------
    margin : float
        Deficiency margin c of the start (:func:`deficiency_margin`).
    delta : float
        Balancedness δ of the start (:func:`geodln.factors.balance_defect`).
    delta_max : float
        Largest δ allowed (NaN if c <= 0).
    step_max : float
        Largest step allowed (NaN if c <= 0).
    rate : float
        :math:`c^{2(N-1)/N}` (NaN if c <= 0).
    widths_ok : bool
        Hidden widths >= min(input, output) dimension.
    satisfied : bool
        c > 0, δ <= δ_max, widths ok (and the step, if one was given, <= step_max).

    Examples
    --------
    Returned by :func:`acgh_conditions`; the margin of :math:`X = \mathrm{diag}(1.9, 1.1)`
    for :math:`\Phi = \mathrm{diag}(2, 1)` is :math:`\sigma_{\min}(\Phi) - \|X - \Phi\|_F =
    1 - \sqrt{0.02}`:

    >>> from geodln.convergence import acgh_conditions
    >>> from geodln.factors import balanced_factors
    >>> start = balanced_factors(np.diag([1.9, 1.1]), 3, seed=0)
    >>> cond = acgh_conditions(start, np.diag([2.0, 1.0]))
    >>> bool(np.isclose(cond.margin, 1 - np.sqrt(0.02))), cond.widths_ok, bool(cond.delta < 1e-12)
    (True, True, True)
    """

    margin: float
    delta: float
    delta_max: float
    step_max: float
    rate: float
    widths_ok: bool
    satisfied: bool


def acgh_conditions(factors, target, step_size=None):
    r"""Check the hypotheses of ACGH19 Theorem 1 at a start ``[W_1, ..., W_N]``.

    Parameters
    ----------
    factors : list of array-like
        ``[W_1, ..., W_N]`` (one start; ``W_p`` of shape (d_p, d_{p-1})).
    target : array-like, shape=[m, n]
        Target Φ, m = d_N, n = d_0.
    step_size : float, optional
        Step η to check against the bound.

    Returns
    -------
    conditions : ACGHConditions

    Raises
    ------
    ValueError
        If the factors are not a chain of finite matrices, their product does not match
        ``target``'s shape, or ``step_size`` is not positive.

    References
    ----------
    .. [1] ACGH19: Arora, Cohen, Golowich, Hu, arXiv:1810.02281, Definitions 1-2, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.convergence import acgh_conditions
    >>> from geodln.factors import balanced_factors
    >>> phi = np.diag([2.0, 1.0])
    >>> cond = acgh_conditions(balanced_factors(np.diag([1.9, 1.1]), 3, seed=0), phi)
    >>> cond.satisfied, round(cond.margin, 4)
    (True, 0.8586)
    """
    factors = check_factors(factors, "factors")
    phi = check_matrix(target, "target", allow_batch=False)
    x = product(factors)
    if x.shape != phi.shape:
        raise ValueError(f"product of factors has shape {x.shape}, target {phi.shape}")
    n = len(factors)
    c = float(deficiency_margin(x, phi))
    delta = float(balance_defect(factors))
    hidden = [w.shape[-2] for w in factors[:-1]]
    widths_ok = all(d >= min(phi.shape) for d in hidden)
    if c > 0:
        delta_max = float(acgh_balancedness_bound(phi, c, n))
        step_max = float(acgh_step_bound(phi, c, n))
        rate = acgh_rate(c, n)
    else:
        delta_max = step_max = rate = float("nan")
    ok = c > 0 and delta <= delta_max and widths_ok
    if step_size is not None:
        ok = ok and check_positive_real(step_size, "step_size") <= step_max
    return ACGHConditions(c, delta, delta_max, step_max, rate, widths_ok, bool(ok))
