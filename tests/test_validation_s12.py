"""Validation gaps found in session 12: each bad input gets a ``ValueError`` naming its argument.

Bools (Python or numpy) are not numbers; ragged nested lists, mismatched batches and shapes,
directories given as file paths and non-symmetric kernels are refused by the shared checks
of ``geodln._checks`` with the public argument's name. Per-member step sizes of the two
low-rank gradient descents are checked against running each member alone.
"""

import numpy as np
import pytest

import geodln
from geodln import losses
from geodln.langevin import riemannian_langevin
from geodln.lowrank import (
    FactoredPoint,
    SparseCompletion,
    bottleneck_factors,
    lowrank_flow,
    lowrank_gradient_descent,
    random_factored_point,
    random_sparse_completion,
    upstairs_gradient_descent,
)
from geodln.step_size import stable_step_size

RAGGED = [[0.1], [0.1, 0.2]]


def _problem():
    loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    return loss, random_factored_point(8, 6, 2, seed=1)


# -- 1: numpy bools are not step sizes ---------------------------------------------------------
@pytest.mark.parametrize("flag", [np.bool_(True), True])
@pytest.mark.parametrize("which", ["lowrank", "upstairs"])
def test_bool_step_size_is_refused(flag, which):
    loss, x0 = _problem()
    with pytest.raises(ValueError, match="step_size"):
        if which == "lowrank":
            lowrank_gradient_descent(loss, x0, 3, flag, 2)
        else:
            upstairs_gradient_descent(loss, bottleneck_factors(x0, 3), flag, 2)


# -- 2: a bool is not a fraction -----------------------------------------------------------------
@pytest.mark.parametrize("flag", [True, np.bool_(True)])
def test_bool_fraction_is_refused(flag):
    with pytest.raises(ValueError, match="fraction"):
        random_sparse_completion((8, 6), 2, fraction=flag, seed=0)
    with pytest.raises(ValueError, match="fraction"):
        losses.random_completion((3, 3), 1, fraction=flag, seed=0)


# -- 3: a depth beyond the supported range is named, not a TypeError from numpy ------------------
@pytest.mark.parametrize("depth", [10**30, 10**6 + 1, 0])
def test_stable_step_size_out_of_range_depth_names_metric(depth):
    with pytest.raises(ValueError, match="metric"):
        stable_step_size(losses.razin_cohen_completion(), 0.1 * np.eye(2), depth)


# -- 4: a directory is not a file path -------------------------------------------------------
def test_trajectory_save_to_a_directory_names_path(tmp_path):
    tr = geodln.gradient_descent(losses.razin_cohen_completion(), 0.1 * np.eye(2), 0.1, 2,
                                 metric=2)
    with pytest.raises(ValueError, match="path"):
        tr.save(tmp_path)
    with pytest.raises(ValueError, match="path"):
        tr.save(str(tmp_path / "sub") + "/")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="path"):
        tr.save(tmp_path / "file" / "run.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no temporary file left


# -- 5: a start of the wrong shape for the loss is named by its public name -------------------
def test_lowrank_start_shape_mismatch_names_the_start():
    loss, _ = _problem()  # defined on 8 x 6 matrices
    wrong = random_factored_point(9, 6, 2, seed=1)
    with pytest.raises(ValueError, match="X0"):
        lowrank_gradient_descent(loss, wrong, 3, 0.01, 2)
    with pytest.raises(ValueError, match="X0"):
        lowrank_gradient_descent(loss, wrong, 3, None, 2)  # before the default step's loss call
    with pytest.raises(ValueError, match="X0"):
        lowrank_flow(loss, wrong, 3, (0.0, 0.1))
    with pytest.raises(ValueError, match="factors0"):
        upstairs_gradient_descent(loss, bottleneck_factors(wrong, 3), 0.01, 2)


# -- 6: ragged nested lists are named -------------------------------------------------------
@pytest.mark.parametrize("name,call", [
    ("step_size", lambda: lowrank_gradient_descent(*_problem(), 3, RAGGED, 2)),
    ("mask", lambda: losses.MatrixCompletion(mask=[[True], [True, False]],
                                             values=np.ones((2, 2)))),
    ("indices", lambda: losses.MatrixCompletion(([0, [1, 2]], [0, 1]), [1.0, 2.0], (2, 2))),
    ("indices", lambda: SparseCompletion(([0, [1, 2]], [0, 1]), [1.0, 2.0], (2, 2))),
    ("values", lambda: losses.MatrixCompletion(([0, 1], [0, 1]), RAGGED, (2, 2))),
    ("X0", lambda: riemannian_langevin(losses.razin_cohen_completion(), RAGGED, depth=3,
                                       beta=1.0, step_size=0.01, n_steps=2)),
    ("u", lambda: FactoredPoint(RAGGED, [1.0], np.eye(2)[:, :1])),
    ("widths", lambda: geodln.init.gaussian_factors(widths=[2, [2, 3]], scale=0.1, seed=0)),
    ("base_point", lambda: geodln.DLNMetric(geodln.RankMatrices(2, 2), depth=3).sharp(
        np.eye(2), [[1.0, 0.0], [0.0]])),
])
def test_ragged_input_names_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()


# -- 7: batches that do not broadcast are named --------------------------------------------------
@pytest.mark.parametrize("method,names", [
    ("sharp", ("cotangent_vec", "base_point")),
    ("flat", ("tangent_vec", "base_point")),
    ("inner_product", ("tangent_vec_a", "base_point")),
])
def test_mismatched_batches_name_both_arguments(method, names):
    metric = geodln.DLNMetric(geodln.RankMatrices(3, 3), depth=3)
    base = np.stack([np.diag([3.0, 2.0, 1.0])] * 3)  # batch 3
    vec = np.ones((2, 3, 3))  # batch 2
    args = (vec, vec, base) if method == "inner_product" else (vec, base)
    with pytest.raises(ValueError, match=f"{names[0]}.*{names[1]}"):
        getattr(metric, method)(*args)
    # a batch of 1 or none broadcasts as before: member i is the unbatched call
    out = getattr(metric, method)(*(a[:1] if a.shape[0] == 2 else a for a in args))
    solo = getattr(metric, method)(*(a[0] for a in args[:-1]), base[1])
    np.testing.assert_allclose(out[1], solo, rtol=1e-12)


# -- 8: the kernel of a co-metric is symmetric ----------------------------------------------
def test_non_symmetric_callable_kernel_is_refused():
    def skewed(a, b):
        return a + 2 * b

    with pytest.raises(ValueError, match="func must be symmetric.*skewed"):
        geodln.CallableKernel(skewed)
    geodln.CallableKernel(lambda a, b: a + b + np.sqrt(a * b))  # symmetric: accepted


# -- 9: a step size per member in the low-rank gradient descents -----------------------------
@pytest.mark.parametrize("which", ["lowrank", "upstairs"])
def test_per_member_step_sizes_match_solo_runs(which):
    loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    batch = random_factored_point(8, 6, 2, seed=1, batch=2)
    etas = [0.01, 0.03]

    def run(start, step):
        if which == "lowrank":
            return lowrank_gradient_descent(loss, start, 3, step, 6)
        return upstairs_gradient_descent(loss, bottleneck_factors(start, 3), step, 6)

    together = run(batch, np.array(etas))
    for i, eta in enumerate(etas):
        alone = run(batch[i], eta)
        np.testing.assert_allclose(together.loss[i], alone.loss, rtol=1e-12)
        np.testing.assert_allclose(together.times[i], eta * np.arange(7), rtol=1e-12)
    assert together.loss[1, -1] < together.loss[0, -1]  # the larger step went further
    with pytest.raises(ValueError, match="step_size"):
        run(batch, [0.01, 0.02, 0.03])  # not one per member
    with pytest.raises(ValueError, match="step_size"):
        run(batch[0], [0.01, 0.02])  # a per-member step needs a batched start


# -- 1 (everywhere): numpy bools are refused by the other scalar parameters too ----------------
def _bool_calls(flag):
    from geodln import discretisation
    from geodln.convergence.guarantees import acgh_bound
    from geodln.geodesics import (
        DLNCometric,
        HamiltonianExpSolver,
        InfiniteDepthCometric,
        root_chart_velocity,
    )
    from geodln.langevin.balanced_chart import balanced_chart_gram
    from geodln.lowrank.flow import FlowOptions
    from geodln.lowrank.retraction import truncated_svd_of_dense
    from geodln.step_size import gradient_lipschitz_constant

    x = np.diag([2.0, 1.0])
    space = geodln.RankMatrices(2, 2)
    return [
        ("depth", lambda: DLNCometric(flag)),
        ("n_nodes", lambda: InfiniteDepthCometric(flag)),
        ("depth", lambda: root_chart_velocity(x, x, flag)),
        ("singular_tol", lambda: HamiltonianExpSolver(space, geodln.DLNKernel(2),
                                                      singular_tol=flag)),
        ("depth", lambda: balanced_chart_gram(np.array([2.0, 1.0]), flag)),
        ("rank", lambda: truncated_svd_of_dense(np.diag([3.0, 2.0, 1.0]), flag)),
        ("n_iter", lambda: gradient_lipschitz_constant(losses.razin_cohen_completion(), x,
                                                       n_iter=flag)),
        ("seed", lambda: discretisation.run("unused-out-dir", seed=flag)),
        ("initial_loss", lambda: acgh_bound(100, flag, 0.01, 1.0, 3)),
        ("rtol", lambda: FlowOptions(rtol=flag)),
    ]


@pytest.mark.parametrize("flag", [np.bool_(True), np.bool_(False), True])
@pytest.mark.parametrize("index", range(10))
def test_bools_are_not_numbers_in_scalar_parameters(flag, index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name, call = _bool_calls(flag)[index]
    with pytest.raises(ValueError, match=name):
        call()
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_loading_a_directory_names_path(tmp_path):
    from geodln.storage import load_json

    for load in (geodln.Trajectory.load, lambda p: load_json(p, "demo")):
        with pytest.raises(ValueError, match="cannot read path"):
            load(tmp_path)
        with pytest.raises(ValueError, match="cannot read path"):
            load(tmp_path / "missing.npz")
# -- 5, 6 in geodln.flows (needs the flows patch): the engine's entry points name their arguments
def test_flows_entry_points_name_their_arguments():
    rc = losses.razin_cohen_completion()
    with pytest.raises(ValueError, match="start"):  # widths multiply to 3 x 2, loss is 2 x 2
        geodln.gradient_descent(rc, [np.ones((3, 2)), np.ones((3, 3))], 0.1, 2, mode="upstairs")
    with pytest.raises(ValueError, match="step_size"):
        geodln.gradient_descent(rc, 0.1 * np.eye(2), RAGGED, 2, metric=2)
    with pytest.raises(ValueError, match="X0"):
        geodln.downstairs_flow(rc, RAGGED, 3, (0.0, 0.1))


@pytest.mark.parametrize("call", [
    lambda flag: geodln.spectral.ArithmeticMeanKernel(flag),
    lambda flag: geodln.spectral.GeometricMeanKernel(flag),
    lambda flag: geodln.flows.compare.numerical_rank(np.eye(2), flag),
])
@pytest.mark.parametrize("flag", [np.bool_(True), True, "2"])
def test_kernel_powers_and_rank_tolerance_are_numbers(call, flag):
    with pytest.raises(ValueError, match="power|rtol"):
        call(flag)
