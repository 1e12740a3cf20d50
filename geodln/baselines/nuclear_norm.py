r"""Exact nuclear-norm completion with cvxpy (small problems; optional ``baselines`` extra).

Two convex programs, solved by SCS through cvxpy:

- interpolation, :math:`\min \|Z\|_*` s.t. :math:`Z_{ij} = b_{ij}` on :math:`\Omega` — the
  minimum-nuclear-norm completion that ACHL19 (Sect. 4, Fig. 1) compare deep matrix
  factorization with;
- the regularised problem :math:`\min \tfrac12\|P_\Omega(Z - B)\|_F^2 + \lambda\|Z\|_*` that
  soft-impute (:func:`geodln.baselines.soft_impute`) solves along a path — used to verify it.

Interior/conic solvers scale poorly: use these for matrices up to about 100 × 100.
"""

import numpy as np

from geodln._checks import check_positive_real
from geodln.data.ratings import Ratings

__all__ = ["nuclear_norm_completion", "cvxpy_available"]


def cvxpy_available():
    """Whether cvxpy (with the SCS solver) is importable.

    Returns
    -------
    available : bool

    Examples
    --------
    >>> isinstance(cvxpy_available(), bool)
    True
    """
    try:
        import cvxpy as cp
    except ImportError:
        return False
    return "SCS" in cp.installed_solvers()


def nuclear_norm_completion(ratings, regularization=None, eps=1e-9):
    r"""Minimum-nuclear-norm completion (exact or λ-regularised) with cvxpy + SCS.

    Parameters
    ----------
    ratings : Ratings
        Observed entries.
    regularization : float, optional
        :math:`\lambda > 0` for the regularised problem; None (default) interpolates the
        observations exactly.
    eps : float
        SCS's convergence tolerance (``eps_abs = eps_rel``).

    Returns
    -------
    z : ndarray, shape=[m, n]

    Raises
    ------
    ValueError
        If cvxpy/SCS are not installed (install ``geodln[baselines]``), ``ratings`` is not a
        non-empty table, ``regularization`` or ``eps`` is not a positive number, or the solver
        fails.

    References
    ----------
    .. [1] ACHL19: Arora, Cohen, Hu, Luo, arXiv:1905.13655, Sect. 4 (the nuclear-norm
       baseline of Fig. 1).
    .. [2] MHT10: Mazumder, Hastie, Tibshirani, JMLR 11 (2010), problem (10).

    Examples
    --------
    >>> from geodln.data import ratings_from_arrays
    >>> r = ratings_from_arrays([0, 0, 1], [0, 1, 0], [1.0, 1.0, 1.0])
    >>> z = nuclear_norm_completion(r)          # doctest: +SKIP
    >>> round(float(z[1, 1]), 4)                # doctest: +SKIP
    1.0
    """
    if not cvxpy_available():
        raise ValueError("nuclear_norm_completion needs cvxpy with SCS: "
                         "pip install 'geodln[baselines]'")
    import cvxpy as cp

    if not isinstance(ratings, Ratings) or ratings.n_observed == 0:
        raise ValueError("ratings must be a non-empty Ratings table")
    eps = check_positive_real(eps, "eps")
    z = cp.Variable(ratings.shape)
    picked = z[ratings.rows, ratings.cols]
    if regularization is None:
        problem = cp.Problem(cp.Minimize(cp.normNuc(z)), [picked == ratings.values])
    else:
        lam = check_positive_real(regularization, "regularization")
        problem = cp.Problem(
            cp.Minimize(0.5 * cp.sum_squares(picked - ratings.values) + lam * cp.normNuc(z))
        )
    try:
        problem.solve(solver=cp.SCS, eps_abs=eps, eps_rel=eps, max_iters=200_000)
    except cp.error.SolverError as exc:
        raise ValueError(f"ratings: SCS failed on this problem ({exc})") from exc
    if z.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(f"ratings: SCS returned status {problem.status!r}")
    return np.asarray(z.value, dtype=float)
