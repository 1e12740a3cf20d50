"""geomstats' shipped test-case mixins on geodln's spaces, metric and bundle (notes §4.2).

The generic checks (membership of random points, shapes, vectorisation, tangency of
projections, bundle identities, metric comparisons, exp/log/dist identities, symmetries of the
Riemann tensor) complement the independent tests in the other files. Geodesic tests draw their
points near the identity (g^N is geodesically incomplete, and GL(d) has two components: far or
opposite-determinant random points have no log).
"""

import numpy as np
from geomstats.test.data import TestData
from geomstats.test.parametrizers import DataBasedParametrizer
from geomstats.test.random import RandomDataGenerator
from geomstats.test_cases.geometry.fiber_bundle import FiberBundleTestCase
from geomstats.test_cases.geometry.manifold import ManifoldTestCase
from geomstats.test_cases.geometry.quotient_metric import QuotientMetricTestCase
from geomstats.test_cases.geometry.riemannian_metric import (
    RiemannianMetricComparisonTestCase,
    RiemannianMetricTestCase,
)

from geodln import BalancedManifold, DLNMetric, RankMatrices
from geodln.bundle import balanced_total_space, quotient_metric

ATOL = 1e-8


class ManifoldData(TestData):
    tolerances = {}

    def not_belongs_test_data(self):
        return self.generate_random_data()

    def random_point_belongs_test_data(self):
        return self.generate_random_data()

    def random_point_shape_test_data(self):
        return self.generate_shape_data()

    def to_tangent_vec_test_data(self):
        return self.generate_vec_data()

    def to_tangent_is_tangent_test_data(self):
        return self.generate_random_data()

    def random_tangent_vec_is_tangent_test_data(self):
        return self.generate_random_data()

    def random_tangent_vec_shape_test_data(self):
        return self.generate_shape_data()


class RankMatricesData(ManifoldData):
    def belongs_test_data(self):
        x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
        full = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
        return self.generate_tests(
            [
                dict(point=x, expected=True, atol=ATOL),
                dict(point=full, expected=False, atol=ATOL),
                dict(point=np.stack([x, full]), expected=np.array([True, False]), atol=ATOL),
            ]
        )

    def is_tangent_test_data(self):
        x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        normal = np.zeros((4, 3))
        normal[3, 2] = 1.0  # U_perp D V_perp^T
        side = np.zeros((4, 3))
        side[3, 0] = 1.0  # U_perp B V^T
        return self.generate_tests(
            [
                dict(vector=normal, base_point=x, expected=False, atol=ATOL),
                dict(vector=side, base_point=x, expected=True, atol=ATOL),
            ]
        )

    def to_tangent_test_data(self):
        x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        vec = np.arange(12.0).reshape(4, 3)
        expected = vec.copy()
        expected[2:, 2] = 0.0  # the normal block of this X is rows 2-3, column 2
        return self.generate_tests([dict(vector=vec, base_point=x, expected=expected, atol=ATOL)])


class TestRankMatricesDeficient(ManifoldTestCase, metaclass=DataBasedParametrizer):
    space = RankMatrices(4, 3, 2)
    testing_data = RankMatricesData()


class TestRankMatricesFull(ManifoldTestCase, metaclass=DataBasedParametrizer):
    space = RankMatrices(3, 3)
    testing_data = ManifoldData()


class TestBalancedManifoldWide(ManifoldTestCase, metaclass=DataBasedParametrizer):
    space = BalancedManifold(3, 4, 3, rank=2, widths=(3, 4))
    testing_data = ManifoldData()


class TestBalancedManifoldSquare(ManifoldTestCase, metaclass=DataBasedParametrizer):
    space = BalancedManifold(2, 3, 3)
    testing_data = ManifoldData()


class BundleData(TestData):
    tolerances = {}

    def riemannian_submersion_vec_test_data(self):
        return self.generate_vec_data()

    def riemannian_submersion_belongs_to_base_test_data(self):
        return self.generate_random_data()

    def lift_vec_test_data(self):
        return self.generate_vec_data()

    def lift_belongs_to_total_space_test_data(self):
        return self.generate_random_data()

    def riemannian_submersion_after_lift_test_data(self):
        return self.generate_random_data()

    def tangent_riemannian_submersion_vec_test_data(self):
        return self.generate_vec_data()

    def tangent_riemannian_submersion_is_tangent_test_data(self):
        return self.generate_random_data()

    def horizontal_projection_vec_test_data(self):
        return self.generate_vec_data()

    def horizontal_projection_is_horizontal_test_data(self):
        return self.generate_random_data()

    def vertical_projection_vec_test_data(self):
        return self.generate_vec_data()

    def vertical_projection_is_vertical_test_data(self):
        return self.generate_random_data()

    def tangent_riemannian_submersion_after_vertical_projection_test_data(self):
        return self.generate_random_data()

    def is_horizontal_vec_test_data(self):
        return self.generate_vec_data()

    def is_vertical_vec_test_data(self):
        return self.generate_vec_data()

    def horizontal_lift_vec_test_data(self):
        return self.generate_vec_data()

    def horizontal_lift_is_horizontal_test_data(self):
        return self.generate_random_data()

    def tangent_riemannian_submersion_after_horizontal_lift_test_data(self):
        return self.generate_random_data()


class TestDLNBundleWide(FiberBundleTestCase, metaclass=DataBasedParametrizer):
    base = RankMatrices(4, 3, 2)
    total_space = balanced_total_space(base, 3, widths=(3, 4))
    testing_data = BundleData()


class TestDLNBundleSquare(FiberBundleTestCase, metaclass=DataBasedParametrizer):
    base = RankMatrices(3, 3)
    total_space = balanced_total_space(base, 4)
    testing_data = BundleData()


class ComparisonData(TestData):
    tolerances = {}

    def inner_product_random_test_data(self):
        return self.generate_random_data()

    def squared_norm_random_test_data(self):
        return self.generate_random_data()

    def norm_random_test_data(self):
        return self.generate_random_data()


def _dln_space(m, n, r, depth):
    space = RankMatrices(m, n, r, equip=False)
    space.equip_with_metric(DLNMetric, depth=depth)
    return space


def _quotient_space(m, n, r, depth, widths=None):
    space = RankMatrices(m, n, r, equip=False)
    quotient_metric(space, depth, widths)
    return space


class TestDLNvsQuotientFull(RiemannianMetricComparisonTestCase, metaclass=DataBasedParametrizer):
    space = _dln_space(3, 3, 3, 3)
    other_space = _quotient_space(3, 3, 3, 3)
    data_generator = RandomDataGenerator(space, amplitude=4.0)
    testing_data = ComparisonData()


class TestDLNvsQuotientDeficient(
    RiemannianMetricComparisonTestCase, metaclass=DataBasedParametrizer
):
    space = _dln_space(4, 3, 2, 3)
    other_space = _quotient_space(4, 3, 2, 3, widths=(3, 4))
    data_generator = RandomDataGenerator(space, amplitude=4.0)
    testing_data = ComparisonData()


class MetricData(TestData):
    tolerances = {}

    def inner_product_is_symmetric_test_data(self):
        return self.generate_random_data()

    def norm_is_positive_test_data(self):
        return self.generate_random_data()


class FullRankMetricData(MetricData):
    def metric_matrix_is_spd_test_data(self):
        return self.generate_random_data()


class TestDLNMetric(RiemannianMetricTestCase, metaclass=DataBasedParametrizer):
    space = _dln_space(3, 2, 2, 3)
    testing_data = FullRankMetricData()


class TestDLNMetricDeficient(RiemannianMetricTestCase, metaclass=DataBasedParametrizer):
    space = _dln_space(4, 4, 2, 5)
    testing_data = MetricData()


class NearIdentityGenerator(RandomDataGenerator):
    """Random points X = P_r(I_r + 0.3 G / sqrt(m)) with det > 0, and short tangent vectors.

    I_r is the m x n identity with its first r diagonal entries only, so that points of a
    rank-r space lie near one another (P_r of the full identity picks arbitrary r-planes).
    """

    def random_point(self, n_samples=1):
        m, n = self.space.shape
        rng = np.random.default_rng(np.random.randint(2**31))
        centre = np.diag(np.arange(min(m, n)) < self.space.rank).astype(float)
        centre = np.pad(centre, ((0, m - min(m, n)), (0, n - min(m, n))))
        x = centre + 0.3 * rng.standard_normal((n_samples, m, n)) / np.sqrt(m)
        if m == n and self.space.full_rank:
            x[np.linalg.det(x) < 0, 0] *= -1.0
        x = self.space.projection(x)
        return x[0] if n_samples == 1 else x

    def random_tangent_vec(self, base_point):
        vec = self.space.random_tangent_vec(base_point)
        return 0.2 * vec / np.max(np.abs(vec))


class GeodesicData(TestData):
    tolerances = {
        "exp_after_log": {"atol": 1e-8},
        "log_after_exp": {"atol": 1e-8},
        "dist_is_log_norm": {"atol": 1e-8},
        "squared_dist_is_symmetric": {"atol": 1e-8},
    }

    def exp_belongs_test_data(self):
        return self.generate_random_data()

    def log_is_tangent_test_data(self):
        return self.generate_random_data()

    def exp_after_log_test_data(self):
        return self.generate_random_data()

    def log_after_exp_test_data(self):
        return self.generate_random_data()

    def squared_dist_is_symmetric_test_data(self):
        return self.generate_random_data()

    def squared_dist_is_positive_test_data(self):
        return self.generate_random_data()

    def dist_is_log_norm_test_data(self):
        return self.generate_random_data()

    def geodesic_ivp_belongs_test_data(self):
        return self.generate_random_data_with_time()

    def exp_geodesic_ivp_test_data(self):
        return self.generate_random_data()


class CurvatureData(GeodesicData):
    tolerances = {
        **GeodesicData.tolerances,
        "covariant_riemann_tensor_is_skew_symmetric_1": {"atol": 1e-7},
        "covariant_riemann_tensor_is_skew_symmetric_2": {"atol": 1e-7},
        "covariant_riemann_tensor_bianchi_identity": {"atol": 1e-7},
        "covariant_riemann_tensor_is_interchange_symmetric": {"atol": 1e-7},
    }

    def covariant_riemann_tensor_is_skew_symmetric_1_test_data(self):
        return self.generate_random_data()

    def covariant_riemann_tensor_is_skew_symmetric_2_test_data(self):
        return self.generate_random_data()

    def covariant_riemann_tensor_bianchi_identity_test_data(self):
        return self.generate_random_data()

    def covariant_riemann_tensor_is_interchange_symmetric_test_data(self):
        return self.generate_random_data()


class TestDLNGeodesics(RiemannianMetricTestCase, metaclass=DataBasedParametrizer):
    space = _dln_space(2, 2, 2, 3)
    data_generator = NearIdentityGenerator(space)
    testing_data = CurvatureData()


class TestDLNGeodesicsDeficient(RiemannianMetricTestCase, metaclass=DataBasedParametrizer):
    space = _dln_space(4, 3, 2, 2)
    data_generator = NearIdentityGenerator(space)
    testing_data = GeodesicData()


class TestQuotientMetric(QuotientMetricTestCase, metaclass=DataBasedParametrizer):
    space = _quotient_space(4, 3, 2, 2, widths=(5,))
    testing_data = MetricData()
