"""Bad input raises ValueError naming the argument (issue 2)."""

import numpy as np
import pytest

from geodln import BalancedManifold, DLNBundle, DLNMetric, RankMatrices
from geodln.bundle import balanced_total_space, quotient_metric
from geodln.factors import balanced_factors

NAN = np.array([[1.0, np.nan, 0.0], [0.0, 1.0, 0.0]])
INF = np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 0.0]])
X23 = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 2.0]])


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"m": 0, "n": 3}, "m"),
        ({"m": 3, "n": -1}, "n"),
        ({"m": 2.5, "n": 3}, "m"),
        ({"m": 3, "n": 3, "rank": 4}, "rank"),
        ({"m": 3, "n": 3, "rank": 0}, "rank"),
        ({"m": 3, "n": 3, "rank": 1.5}, "rank"),
    ],
)
def test_rank_matrices_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RankMatrices(**kwargs)


@pytest.mark.parametrize("depth", [0, -1, 2.5, "3", True, np.nan, -np.inf])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match="depth"):
        DLNMetric(RankMatrices(2, 3, equip=False), depth)
    with pytest.raises(ValueError, match="depth"):
        BalancedManifold(depth, 2, 3)


def test_infinite_depth_needs_normalized():
    with pytest.raises(ValueError, match="normalized"):
        DLNMetric(RankMatrices(2, 3, equip=False), np.inf)
    with pytest.raises(ValueError, match="depth"):
        BalancedManifold(np.inf, 2, 3)


@pytest.mark.parametrize(
    "method,args,name",
    [
        ("sharp", (np.ones((3, 2)), X23), "cotangent_vec"),
        ("sharp", (np.ones(6), X23), "cotangent_vec"),
        ("sharp", (INF, X23), "cotangent_vec"),
        ("sharp", (np.ones((2, 3)), NAN), "base_point"),
        ("sharp", (np.ones((2, 3)), np.ones((3, 3))), "base_point"),
        ("flat", (NAN, X23), "tangent_vec"),
        ("flat", (np.ones((2, 3)), INF), "base_point"),
        ("inner_product", (np.ones((2, 2)), np.ones((2, 3)), X23), "tangent_vec_a"),
        ("riemannian_gradient", (np.ones((2, 3)), np.ones((2, 3, 1))), "base_point"),
    ],
)
def test_metric_bad_arrays(method, args, name):
    metric = DLNMetric(RankMatrices(2, 3, equip=False), 3)
    with pytest.raises(ValueError, match=name):
        getattr(metric, method)(*args)


@pytest.mark.parametrize(
    "method,args,name",
    [
        ("to_tangent", (np.ones((3, 2)), X23), "vector"),
        ("to_tangent", (np.ones((2, 3)), NAN), "base_point"),
        ("projection", (INF,), "point"),
        ("random_tangent_vec", (np.ones(6),), "base_point"),
    ],
)
def test_rank_matrices_bad_arrays(method, args, name):
    with pytest.raises(ValueError, match=name):
        getattr(RankMatrices(2, 3, 2), method)(*args)


@pytest.mark.parametrize(
    "args,kwargs,name",
    [
        ((3, 2, 3), {"rank": 3}, "rank"),  # rank > min(m, n)
        ((3, 4, 4), {"rank": 3, "widths": (3, 2)}, "widths"),  # rank > a hidden width
        ((3, 4, 4), {"widths": (3,)}, "widths"),  # wrong number of widths
        ((3, 4, 4), {"widths": (3, 0)}, "widths"),
        ((2, 0, 4), {}, "m"),
    ],
)
def test_balanced_manifold_arguments(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        BalancedManifold(*args, **kwargs)


def test_default_rank_is_the_bottleneck():
    assert BalancedManifold(3, 4, 4, widths=(3, 2)).rank == 2


@pytest.fixture
def balanced():
    space = BalancedManifold(3, 3, 2, rank=2, widths=(3, 2))
    return space, space.random_point(seed=0)


def test_balanced_bad_points(balanced):
    space, W = balanced
    unbalanced = W.copy()
    unbalanced[0] += 0.1
    with pytest.raises(ValueError, match="point"):
        space.factors(np.ones(space.total_dim + 1))
    with pytest.raises(ValueError, match="point"):
        space.factors(np.full(space.total_dim, np.nan))
    with pytest.raises(ValueError, match="vector"):
        space.to_tangent(np.ones(3), W)
    with pytest.raises(ValueError, match="vector"):
        space.to_tangent(np.full(space.total_dim, np.inf), W)
    with pytest.raises(ValueError, match="base_point.*balanced"):
        space.to_tangent(np.ones(space.total_dim), unbalanced)
    with pytest.raises(ValueError, match="factors.*balanced"):
        space.from_factors(space.factors(unbalanced))
    with pytest.raises(ValueError, match="factors"):
        space.from_factors(space.factors(W)[:2])
    with pytest.raises(ValueError, match="factors"):
        space.from_factors([np.ones((3, 2)), np.ones((2, 2)), np.ones((3, 3))])
    with pytest.raises(ValueError, match="^x "):
        space.lift(np.ones((2, 3)))
    with pytest.raises(ValueError, match="^x "):
        space.lift(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="x must have rank"):
        space.lift(np.ones((3, 2)))  # rank 1 < 2


def test_bundle_requires_balanced(balanced):
    space, W = balanced
    bundle = DLNBundle(space)
    unbalanced = W.copy()
    unbalanced[0] += 0.1
    Z = np.ones((3, 2))
    with pytest.raises(ValueError, match="fiber_point"):
        bundle.horizontal_lift(Z, fiber_point=unbalanced)
    with pytest.raises(ValueError, match="base_point"):
        bundle.horizontal_lift(Z)
    with pytest.raises(ValueError, match="tangent_vec"):
        bundle.horizontal_lift(np.ones((2, 3)), fiber_point=W)
    with pytest.raises(ValueError, match="base_point"):
        bundle.vertical_projection(np.ones(space.total_dim), unbalanced)
    with pytest.raises(ValueError, match="total_space"):
        DLNBundle(RankMatrices(3, 2))
    with pytest.raises(ValueError, match="space"):
        quotient_metric(space, 3)
    with pytest.raises(ValueError, match="space"):
        balanced_total_space("not a space", 3)


def test_balanced_factors_arguments():
    X = np.arange(6.0).reshape(3, 2) + np.eye(3, 2)
    with pytest.raises(ValueError, match="depth"):
        balanced_factors(X, 0)
    with pytest.raises(ValueError, match="rank"):
        balanced_factors(X, 2, rank=3)
    with pytest.raises(ValueError, match="widths"):
        balanced_factors(X, 3, widths=(1, 2), rank=2)
