"""Sparse losses from factors vs the dense losses of geodln.losses and plain numpy.

References: dense X formed in the test, geodln.MatrixCompletion / MatrixSensing (dense code
path), explicit loops, and geodln.factors.product_adjoint with a dense gradient for the thin
upstairs gradient.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from brute import brute_product, rel_err

from geodln import MatrixCompletion, MatrixSensing
from geodln.factors import product_adjoint
from geodln.lowrank import (
    FactoredPoint,
    RankOneSensing,
    SparseCompletion,
    SparseSensing,
    bottleneck_factors,
    random_factored_point,
    random_sparse_completion,
    sample_distinct_indices,
    upstairs_gradient,
)


def problem(m=23, n=17, k=80, seed=0):
    rng = np.random.default_rng(seed)
    flat = rng.choice(m * n, size=k, replace=False)
    rows, cols = flat // n, flat % n
    values = rng.standard_normal(k)
    return rows, cols, values


def test_completion_matches_dense_loss():
    m, n = 23, 17
    rows, cols, values = problem(m, n)
    loss = SparseCompletion((rows, cols), values, (m, n))
    dense_loss = MatrixCompletion(indices=(rows, cols), values=values, shape=(m, n))
    point = random_factored_point(m, n, 3, seed=1)
    x = point.to_dense()
    # explicit loop reference
    ref_value = 0.5 * sum((x[i, j] - b) ** 2 for i, j, b in zip(rows, cols, values))
    ref_grad = np.zeros((m, n))
    for i, j, b in zip(rows, cols, values):
        ref_grad[i, j] = x[i, j] - b
    value, grad = loss.value_and_gradient(point)
    assert sp.issparse(grad) and grad.nnz == len(rows)
    assert abs(value - ref_value) < 1e-12 * ref_value
    assert abs(value - dense_loss.value(x)) < 1e-12 * ref_value
    assert rel_err(grad.toarray(), ref_grad) < 1e-14
    assert rel_err(grad.toarray(), dense_loss.euclidean_gradient(x)) < 1e-14
    assert abs(loss.value(x) - ref_value) < 1e-12 * ref_value  # dense input accepted
    assert abs(loss.value((point.left(), point.v)) - ref_value) < 1e-12 * ref_value
    # conversions both ways keep the observations
    back = SparseCompletion.from_completion(loss.to_dense_loss())
    assert np.array_equal(back.rows, loss.rows) and np.array_equal(back.values, loss.values)


def test_completion_chunked_entries():
    point = random_factored_point(50, 40, 2, seed=2)
    rows, cols = sample_distinct_indices((50, 40), 500, np.random.default_rng(3))
    x = point.to_dense()
    assert np.allclose(point.entries(rows, cols, chunk=7), x[rows, cols], rtol=1e-13)


def test_completion_validation():
    rows, cols, values = problem()
    with pytest.raises(ValueError, match="indices: row index out of range"):
        SparseCompletion((rows + 23, cols), values, (23, 17))
    with pytest.raises(ValueError, match="indices: column index out of range"):
        SparseCompletion((rows, cols - 20), values, (23, 17))
    r2, c2 = np.append(rows, rows[0]), np.append(cols, cols[0])
    with pytest.raises(ValueError, match="indices: duplicate"):
        SparseCompletion((r2, c2), np.append(values, 1.0), (23, 17))
    with pytest.raises(ValueError, match="values"):
        SparseCompletion((rows, cols), values[:-1], (23, 17))
    with pytest.raises(ValueError, match="values"):
        SparseCompletion((rows, cols), np.where(values > 0, np.inf, values), (23, 17))
    with pytest.raises(ValueError, match="indices"):
        SparseCompletion((rows, cols + 0.5), values, (23, 17))
    with pytest.raises(ValueError, match="shape"):
        SparseCompletion((rows, cols), values, (23,))
    with pytest.raises(ValueError, match="rank"):
        random_sparse_completion((5, 4), 5, fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="fraction"):
        random_sparse_completion((5, 4), 2, fraction=1.5, seed=0)
    loss = SparseCompletion((rows, cols), values, (23, 17))
    with pytest.raises(ValueError, match="shape"):
        loss.value(random_factored_point(22, 17, 2, seed=0))


def test_random_sparse_completion_distinct_and_normalised():
    loss, truth = random_sparse_completion((40, 30), 3, fraction=0.2, seed=4)
    flat = loss.rows.astype(np.int64) * 30 + loss.cols
    assert np.unique(flat).size == flat.size == round(0.2 * 1200)
    x = truth.to_dense()
    assert abs(np.sqrt(np.mean(x**2)) - 1.0) < 1e-12
    assert np.allclose(loss.values, x[loss.rows, loss.cols], rtol=1e-12)
    assert np.linalg.matrix_rank(x) == 3


def test_sparse_sensing_matches_dense():
    m, n, k = 9, 7, 25
    rng = np.random.default_rng(5)
    mats = [sp.random(m, n, density=0.15, random_state=i, format="csr") for i in range(k)]
    y = rng.standard_normal(k)
    loss = SparseSensing(mats, y, (m, n))
    dense = MatrixSensing(np.stack([a.toarray() for a in mats]), y)
    point = random_factored_point(m, n, 2, seed=6)
    x = point.to_dense()
    value, grad = loss.value_and_gradient(point)
    assert abs(value - dense.value(x)) < 1e-12 * max(1, value)
    assert rel_err(grad.toarray(), dense.euclidean_gradient(x)) < 1e-13
    with pytest.raises(ValueError, match="values"):
        SparseSensing(mats, y[:-1], (m, n))
    with pytest.raises(ValueError, match="measurements"):
        SparseSensing(sp.csr_matrix((k, m * n + 1)), y, (m, n))


def test_rank_one_sensing_matches_dense():
    m, n, k = 8, 6, 30
    rng = np.random.default_rng(7)
    a, b, y = rng.standard_normal((k, m)), rng.standard_normal((k, n)), rng.standard_normal(k)
    loss = RankOneSensing(a, b, y)
    dense = MatrixSensing(np.einsum("ki,kj->kij", a, b), y)
    point = random_factored_point(m, n, 3, seed=8)
    x = point.to_dense()
    value, grad = loss.value_and_gradient(point)
    assert abs(value - dense.value(x)) < 1e-12 * max(1, value)
    assert rel_err(grad.toarray(), dense.euclidean_gradient(x)) < 1e-13
    with pytest.raises(ValueError, match="a and b"):
        RankOneSensing(a, b[:-1], y)


@pytest.mark.parametrize("depth", [2, 3, 5])
@pytest.mark.parametrize("shared", [True, False])
def test_thin_upstairs_gradient_matches_dense_adjoint(depth, shared):
    m, n = 23, 17
    rows, cols, values = problem(m, n)
    loss = SparseCompletion((rows, cols), values, (m, n))
    rng = np.random.default_rng(9)
    widths = [n] + [3 + p for p in range(depth - 1)] + [m]  # unequal bottleneck widths
    factors = [rng.standard_normal((widths[p + 1], widths[p])) / 2 for p in range(depth)]
    x = brute_product(factors)
    value, grads = upstairs_gradient(loss, factors, shared=shared)
    g_dense = MatrixCompletion(indices=(rows, cols), values=values, shape=(m, n))
    ref = product_adjoint(factors, g_dense.euclidean_gradient(x))
    assert abs(value - g_dense.value(x)) < 1e-12 * value
    for g, r in zip(grads, ref):
        assert rel_err(g, r) < 1e-12


def test_bottleneck_factors_are_balanced_lift():
    point = random_factored_point(12, 9, 3, seed=10, spectrum=[2.0, 1.0, 1e-6])
    for depth in (2, 4):
        factors = bottleneck_factors(point, depth)
        assert rel_err(brute_product(factors), point.to_dense()) < 1e-13
        for a, b in zip(factors[:-1], factors[1:]):
            assert np.abs(b.T @ b - a @ a.T).max() < 1e-13
    with pytest.raises(ValueError, match="depth"):
        bottleneck_factors(point, 1)
    with pytest.raises(ValueError, match="FactoredPoint"):
        bottleneck_factors(point.to_dense(), 3)
    assert isinstance(point, FactoredPoint)
