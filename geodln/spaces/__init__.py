"""Manifolds of geodln: rank-r matrices and the balanced manifold of factor tuples."""

from geodln.spaces.balanced import BalancedManifold
from geodln.spaces.rank_matrices import RankMatrices

__all__ = ["RankMatrices", "BalancedManifold"]
