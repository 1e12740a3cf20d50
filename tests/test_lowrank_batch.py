"""Batched factored geometry and descents vs per-member solo runs and dense references; faults.

References (independent): the defining N-term sum of A_{N,X} (tests/brute.py) and the dense
``geodln.DLNMetric.sharp`` per member, numpy's dense SVD of X + tZ per member, scipy CSR
products per member, the solo (B = 1) run of every member of a batch, and a dense numpy
held-out error for recorded metrics.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from brute import brute_A, brute_product, rel_err

import geodln
from geodln.flows import At, Every, StoppingRules
from geodln.lowrank import (
    FactoredDLNMetric,
    FactoredPoint,
    FlowOptions,
    NonFiniteError,
    bottleneck_factors,
    lowrank_flow,
    lowrank_gradient_descent,
    project_to_tangent,
    random_factored_point,
    random_sparse_completion,
    retract,
    truncated_svd_of_product,
    upstairs_gradient,
    upstairs_gradient_descent,
)

M, N, R, B = 9, 7, 2, 4


@pytest.fixture(scope="module")
def problem():
    return random_sparse_completion((M, N), R, fraction=0.6, seed=3)[0]


def batch_points(seed=0, spectra=None):
    spectra = np.array(spectra if spectra is not None else
                       [[1.0, 0.3], [2.0, 2.0], [0.5, 1e-6], [1.5, 0.9]])
    return random_factored_point(M, N, R, seed=seed, spectrum=spectra, batch=len(spectra))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_batched_sharp_equals_dense_metric_per_member(depth):
    x = batch_points()
    g = np.random.default_rng(1).standard_normal((B, M, N))
    out = FactoredDLNMetric(depth).sharp(g, x).to_dense(x)
    space = geodln.RankMatrices(M, N, R)
    dense = geodln.DLNMetric(space, depth)
    for b in range(B):
        xb = x[b].to_dense()
        ref = dense.sharp(g[b], xb)
        assert rel_err(out[b], ref) < 1e-10
        if depth >= 2:  # the defining sum annihilates the normal block by itself
            assert rel_err(out[b], brute_A(xb, g[b], depth)) < 1e-7


def test_batched_flat_inverts_sharp_and_inner_products(problem):
    x = batch_points()
    metric = FactoredDLNMetric(3)
    z = project_to_tangent(np.random.default_rng(2).standard_normal((B, M, N)), x)
    back = metric.sharp(metric.flat(z, x), x)
    assert rel_err(back.to_dense(x), z.to_dense(x)) < 1e-9
    norms = metric.squared_norm(z, x)
    assert norms.shape == (B,)
    for b in range(B):
        solo = FactoredPoint(x.u[b], x.s[b], x.v[b])
        zb = project_to_tangent(z.to_dense(x)[b], solo)
        assert np.isclose(norms[b], metric.squared_norm(zb, solo), rtol=1e-10)


def test_batched_losses_and_sparse_gradient_equal_per_member(problem):
    x = batch_points()
    value, grad = problem.value_and_gradient(x)
    assert value.shape == (B,)
    v = np.random.default_rng(3).standard_normal((B, N, 3))
    u = np.random.default_rng(4).standard_normal((B, M, 3))
    gv, gtu = grad @ v, grad.T @ u
    for b in range(B):
        xb = x[b].to_dense()
        mask = np.zeros((M, N))
        mask[problem.rows, problem.cols] = 1.0
        target = np.zeros((M, N))
        target[problem.rows, problem.cols] = problem.values
        dense_grad = mask * (xb - target)
        assert np.isclose(value[b], 0.5 * np.sum(dense_grad**2), rtol=1e-12)
        assert rel_err(gv[b], dense_grad @ v[b]) < 1e-12
        assert rel_err(gtu[b], dense_grad.T @ u[b]) < 1e-12
    assert rel_err(grad.toarray()[1], sp.csr_matrix(problem.euclidean_gradient(x[1])).toarray()) \
        < 1e-14


def test_batched_retraction_is_dense_truncated_svd():
    x = batch_points(seed=5)
    z = project_to_tangent(np.random.default_rng(6).standard_normal((B, M, N)), x)
    steps = np.array([0.1, -0.3, 1.0, 0.0])
    y = retract(x, z, steps)
    for b in range(B):
        dense = x[b].to_dense() + steps[b] * z.to_dense(x)[b]
        uu, ss, vt = np.linalg.svd(dense)
        assert np.allclose(y.s[b], ss[:R], rtol=1e-12)
        assert rel_err(y[b].to_dense(), (uu[:, :R] * ss[:R]) @ vt[:R]) < 1e-12
    # the generic route (rank > 2r or a wide core) agrees too
    p = truncated_svd_of_product(np.concatenate([x.left(), z.low_rank_factors(x)[0]], -1),
                                 np.concatenate([x.v, z.low_rank_factors(x)[1]], -1), R)
    ones = retract(x, z, 1.0)
    assert rel_err(p.to_dense(), ones.to_dense()) < 1e-12


def test_batched_gradient_descent_equals_solo_per_member(problem):
    # members: ordinary, converging early (loss_tol), diverging (large start, large step)
    spectra = [[1.0, 0.3], [0.9, 0.5], [60.0, 40.0], [1.2, 0.2]]
    x0 = batch_points(seed=7, spectra=spectra)
    stop = StoppingRules(loss_tol=0.05)
    eta, steps = 0.05, 60
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = lowrank_gradient_descent(problem, x0, 3, eta, steps, stop=stop,
                                         record=Every(5))
    assert len(batch) == B
    statuses = batch.status
    assert "diverged" in statuses and "loss_tol" in statuses and "completed" in statuses
    for b in range(B):
        solo = lowrank_gradient_descent(problem, x0[b], 3, eta, steps, stop=stop,
                                        record=Every(5))
        member = batch[b]
        assert member.status == solo.status
        assert np.array_equal(member.steps, solo.steps)
        assert np.allclose(member.singular_values, solo.singular_values, rtol=1e-10)
        assert rel_err(member.final_X.to_dense(), solo.final_X.to_dense()) < 1e-10
        assert np.all(np.isfinite(member.final_X.s)) and np.all(np.isfinite(member.loss))


def test_batched_upstairs_descent_equals_solo_and_dense(problem):
    x0 = batch_points(seed=8)
    factors = bottleneck_factors(x0, 3)
    eta, steps = 0.03, 10
    batch = upstairs_gradient_descent(problem, factors, eta, steps)
    for b in range(B):
        solo = upstairs_gradient_descent(problem, [w[b] for w in factors], eta, steps)
        assert batch[b].status == solo.status == "completed"
        assert np.allclose(batch[b].singular_values, solo.singular_values, rtol=1e-10)
        dense = geodln.gradient_descent(problem.to_dense_loss(), [w[b] for w in factors], eta,
                                        steps, mode="upstairs")
        assert rel_err(brute_product([w[b] for w in batch.factors]), dense.X[-1]) < 1e-10
    value, grads = upstairs_gradient(problem, factors)
    assert value.shape == (B,) and grads[0].shape == factors[0].shape


def test_recorded_metrics_on_factored_points(problem):
    rng = np.random.default_rng(9)
    rows, cols = rng.integers(0, M, 5), rng.integers(0, N, 5)
    truth = rng.standard_normal(5)

    def heldout(point):
        return float(np.sqrt(np.mean((point.entries(rows, cols) - truth) ** 2)))

    x0 = batch_points(seed=10)[0]
    tr = lowrank_gradient_descent(problem, x0, 2, 0.05, 6,
                                  record=Every(factors=True, metrics={"rmse": heldout}))
    dense = np.einsum("tir,tr,tjr->tij", tr.X.u, tr.X.s, tr.X.v)
    expected = np.sqrt(np.mean((dense[:, rows, cols] - truth) ** 2, axis=-1))
    assert np.allclose(tr.metrics["rmse"], expected, rtol=1e-12)


# -- faults: divergence never hangs, crashes or warns; the last finite state is kept ----------

@pytest.fixture(scope="module")
def completion_40x30():
    return random_sparse_completion((40, 30), 5, fraction=0.3, seed=0)[0]


@pytest.mark.parametrize("eta", [1.5, 2.0])
def test_lowrank_descent_divergence_ends_cleanly(completion_40x30, eta):
    loss = completion_40x30
    x0 = random_factored_point(40, 30, 5, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = lowrank_gradient_descent(loss, x0, 3, eta, 50)
    assert tr.status == "diverged"
    assert np.all(np.isfinite(tr.final_X.s)) and np.isfinite(tr.final_loss)
    assert np.all(np.isfinite(tr.singular_values)) and np.all(np.isfinite(tr.loss))
    assert np.array_equal(tr.steps, np.arange(len(tr)))  # full per-step record
    # the final state is the last finite one: one more step from it overflows
    assert np.isclose(loss.value(tr.final_X), tr.final_loss, rtol=1e-12)


def test_upstairs_descent_divergence_does_not_hang(completion_40x30):
    loss = completion_40x30
    x0 = random_factored_point(40, 30, 5, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), 5.0, 50)
    assert tr.status == "diverged"
    assert all(np.all(np.isfinite(w)) for w in tr.factors)
    assert np.all(np.isfinite(tr.loss)) and np.all(np.isfinite(tr.singular_values))
    assert np.isclose(loss.value(tr.final_X), tr.final_loss, rtol=1e-8)


def test_factorisations_refuse_non_finite_input():
    x = random_factored_point(6, 5, 2, seed=0)
    z = project_to_tangent(np.ones((6, 5)), x)
    with pytest.raises(ValueError, match="step"):
        retract(x, z, step=np.nan)
    with pytest.raises(ValueError, match="step"):
        retract(x, z, step=True)
    with pytest.raises(NonFiniteError, match="left"):
        truncated_svd_of_product(np.full((6, 2), np.nan), np.ones((5, 2)), 2)
    with pytest.raises(ValueError, match="left"):
        FactoredPoint.from_product(np.full((6, 2), np.inf), np.ones((5, 2)))
    with pytest.raises(ValueError, match="s must be > 0"):
        FactoredPoint(x.u, [1.0, 0.0], x.v)


def test_non_finite_start_loss_names_loss(problem):
    class NanLoss:
        def value_and_gradient(self, point):
            return np.full(point.batch_shape, np.nan) if point.batch_shape else np.nan, \
                np.zeros(point.batch_shape + point.shape)

    x0 = batch_points()[0]
    with pytest.raises(ValueError, match="loss"):
        lowrank_gradient_descent(NanLoss(), x0, 3, 0.1, 3)
    with pytest.raises(ValueError, match="loss"):
        lowrank_flow(NanLoss(), x0, 3, (0.0, 1.0))


def test_batched_flow_equals_solo(problem):
    x0 = batch_points(seed=11)[:2]
    batch = lowrank_flow(problem, x0, 3, (0.0, 0.5), options=FlowOptions(rtol=1e-8))
    for b in range(2):
        solo = lowrank_flow(problem, x0[b], 3, (0.0, 0.5), options=FlowOptions(rtol=1e-8))
        assert np.allclose(batch[b].singular_values, solo.singular_values, rtol=1e-12)
        assert batch[b].status == "completed"


@pytest.mark.parametrize("shape,rank", [((40, 30), 2), ((12, 9), 2)])
def test_flow_factored_and_dense_stage_sums_equal_dense_flow(shape, rank):
    # 40x30 rank 2: stage sums in factored form (r + 12r < 30); 12x9: dense stage sums
    m, n = shape
    loss = random_sparse_completion(shape, rank, fraction=0.5, seed=12)[0]
    x0 = random_factored_point(m, n, rank, seed=13, spectrum=[1.0, 0.4])
    t_eval = np.linspace(0.0, 1.0, 5)
    lr = lowrank_flow(loss, x0, 3, (0.0, 1.0),
                      record=At(t_eval, factors=True), options=FlowOptions(rtol=1e-11, atol=1e-13))
    metric = geodln.DLNMetric(geodln.RankMatrices(m, n, rank, equip=False), 3)
    dense = geodln.downstairs_flow(loss.to_dense_loss(), x0.to_dense(), metric, (0.0, 1.0),
                                   solver=geodln.Solver("DOP853", rtol=1e-12, atol=1e-14),
                                   record=geodln.At(t_eval))
    xs = np.einsum("tir,tr,tjr->tij", lr.X.u, lr.X.s, lr.X.v)
    assert max(rel_err(a, b) for a, b in zip(xs, dense.X)) < 1e-7


def test_bad_arguments_name_the_parameter(problem):
    x0 = batch_points()[0]
    with pytest.raises(ValueError, match="loss"):
        lowrank_gradient_descent(3.0, x0, 3, 0.1, 3)
    with pytest.raises(ValueError, match="loss"):
        lowrank_flow("loss", x0, 3, (0.0, 1.0))
    with pytest.raises(ValueError, match="metric"):
        lowrank_gradient_descent(problem, x0, True, 0.1, 3)
    with pytest.raises(ValueError, match="step_size"):
        lowrank_gradient_descent(problem, x0, 3, True, 3)
    with pytest.raises(ValueError, match="max_steps"):
        lowrank_flow(problem, x0, 3, (0.0, 1.0), options=FlowOptions(max_steps=0))
    with pytest.raises(ValueError, match="record"):
        lowrank_gradient_descent(problem, x0, 3, 0.1, 3, record=0)
    with pytest.raises(ValueError, match="stop"):
        lowrank_gradient_descent(problem, x0, 3, 0.1, 3, stop=1.0)
