"""The factored path allocates no m×n array: run at a size where one would need 80 GB.

m = n = 6·10⁴ (a dense float64 m×n array is 2.9·10¹⁰ bytes = 29 GB, more than the 23 GB of the
development machine), rank 3, 10⁵ observed entries. Problem set-up, the sparse loss, Riemannian
GD, two projected Runge–Kutta (RK45) steps and thin upstairs GD run under tracemalloc (numpy and
scipy allocations are traced). The peak must stay below 200 MB, i.e. < 1/100 of one m×n array;
it is dominated by the RK45 stage sums, matrices of (m + n) × 13r (O((m + n) r), not O(mn)).
"""

import tracemalloc

import numpy as np

from geodln.lowrank import (
    FactoredDLNMetric,
    FlowOptions,
    bottleneck_factors,
    lowrank_flow,
    lowrank_gradient_descent,
    random_factored_point,
    random_sparse_completion,
    upstairs_gradient_descent,
)

SIDE = 60_000
LIMIT = 200e6


def test_factored_path_never_allocates_dense():
    dense_bytes = SIDE * SIDE * 8
    tracemalloc.start()
    try:
        loss, truth = random_sparse_completion((SIDE, SIDE), 3, n_observed=100_000, seed=0)
        x0 = random_factored_point(SIDE, SIDE, 3, seed=1, spectrum=[1.0, 0.5, 1e-6])
        value, grad = loss.value_and_gradient(x0)
        assert grad.shape == (SIDE, SIDE) and grad.nnz == 100_000
        tangent = FactoredDLNMetric(3).sharp(grad, x0)
        assert tangent.up.shape == (SIDE, 3)
        gd = lowrank_gradient_descent(loss, x0, 3, 1e-3, 3)
        flow = lowrank_flow(loss, x0, 3, (0.0, 1e-3), options=FlowOptions(max_steps=2))
        up = upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), 1e-3, 3)
        up2 = upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), 1e-3, 1, shared=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(gd.loss)) and gd.final_loss < gd.loss[0]
    assert np.all(np.isfinite(flow.loss)) and np.all(np.isfinite(up.loss))
    assert up2.status == "completed"
    assert peak < LIMIT, f"peak {peak / 1e6:.1f} MB"
    assert peak < dense_bytes / 100
