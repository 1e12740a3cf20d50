"""Convex baselines for matrix completion: soft-impute and exact nuclear-norm completion."""

from geodln.baselines.nuclear_norm import cvxpy_available, nuclear_norm_completion
from geodln.baselines.soft_impute import SoftImputePath, soft_impute, soft_threshold_svd

__all__ = [
    "SoftImputePath",
    "soft_impute",
    "soft_threshold_svd",
    "nuclear_norm_completion",
    "cvxpy_available",
]
