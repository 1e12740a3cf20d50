"""Tests of geodln.ensemble: seeding, interruption and resume, file validation, dask backend."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

from geodln.ensemble import ensemble_seeds, load_ensemble, run_ensemble, run_path
from geodln.storage import save_arrays

K = 10
ENTROPY = 20240611
#: execution options of the in-process tests (run_ensemble(..., options=...))
SEQUENTIAL = {"backend": "sequential", "progress": False}
QUIET = {"progress": False}


def draw(rng, index, size=3, calls=None, fail_at=(), sleep=0.0):
    """A run: a few random numbers, the index, and a call log (one marker file per call)."""
    if calls is not None:
        open(os.path.join(calls, f"{index}-{uuid.uuid4().hex}"), "w").close()
    if sleep:
        time.sleep(sleep)
    if index in fail_at and not os.path.exists(os.path.join(calls or "", "HEALED")):
        raise RuntimeError(f"simulated failure at {index}")
    return {"x": rng.standard_normal(size), "index": index, "norm": float(rng.random())}


def logged(calls):
    return sorted(int(name.split("-")[0]) for name in os.listdir(calls) if name != "HEALED")


def reference(tmp_path, n_runs=K):
    return run_ensemble(
        draw, n_runs, tmp_path / "reference", entropy=ENTROPY, options=SEQUENTIAL)


def independent_draws(n_runs):
    """What run i must receive: Generator(SeedSequence(entropy, spawn_key=(i,)))."""
    return np.stack([
        np.random.default_rng(np.random.SeedSequence(ENTROPY, spawn_key=(i,))).standard_normal(3)
        for i in range(n_runs)
    ])


def test_seeds_follow_spawn_keys_under_parallel_unordered_execution(tmp_path):
    ens = run_ensemble(
        draw, K, tmp_path / "e", entropy=ENTROPY, params={"sleep": 0.01},
        options=dict(n_jobs=2, progress=False))
    np.testing.assert_array_equal(ens["index"], np.arange(K))
    np.testing.assert_array_equal(ens["x"], independent_draws(K))
    assert [m["spawn_key"] for m in ens.run_metadata] == [[i] for i in range(K)]
    assert len({tuple(x) for x in ens["x"]}) == K
    assert ensemble_seeds(ENTROPY, 3)[2].spawn_key == (2,)


def test_entropy_is_recorded_and_reproduces(tmp_path):
    first = run_ensemble(draw, 4, tmp_path / "a", options=SEQUENTIAL)
    with open(tmp_path / "a" / "ensemble.json") as fh:
        recorded = json.load(fh)["data"]["entropy"]
    assert isinstance(recorded, int) and recorded == first.entropy
    again = run_ensemble(
        draw, 4, tmp_path / "b", entropy=recorded, options=SEQUENTIAL)
    np.testing.assert_array_equal(first["x"], again["x"])


def test_interrupt_then_resume_equals_uninterrupted_run(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    out = tmp_path / "e"
    params = {"calls": str(calls), "fail_at": [6]}
    with pytest.raises(RuntimeError, match="simulated failure at 6") as info:
        run_ensemble(
            draw, K, out, entropy=ENTROPY, params=params, options=SEQUENTIAL)
    assert any("run index 6" in note for note in getattr(info.value, "__notes__", []))
    assert sorted(int(p.name[4:10]) for p in out.glob("run-*.npz")) == list(range(6))
    with pytest.raises(ValueError, match="incomplete: 4 of 10"):
        load_ensemble(out)
    partial = load_ensemble(out, allow_partial=True)
    assert partial.indices == list(range(6))

    with pytest.raises(ValueError, match="resume=True"):
        run_ensemble(draw, K, out, params=params, options=SEQUENTIAL)

    (calls / "HEALED").touch()
    before = logged(calls)
    ens = run_ensemble(draw, K, out, params=params, resume=True, options=SEQUENTIAL)
    resumed = logged(calls)
    for i in before:
        resumed.remove(i)
    assert resumed == list(range(6, K))  # nothing run twice
    assert len(ens) == K and ens.indices == list(range(K))
    ref = reference(tmp_path)
    np.testing.assert_array_equal(ens["x"], ref["x"])
    np.testing.assert_array_equal(ens["norm"], ref["norm"])
    assert len({tuple(x) for x in ens["x"]}) == K


def test_keyboard_interrupt_in_main_process_keeps_finished_runs(tmp_path):
    out = tmp_path / "e"
    state = {"n": 0}

    def flaky(rng, index):
        state["n"] += 1
        if state["n"] == 4:
            raise KeyboardInterrupt
        return {"x": rng.standard_normal(3)}

    with pytest.raises(KeyboardInterrupt):
        run_ensemble(flaky, K, out, entropy=ENTROPY, options=SEQUENTIAL)
    assert len(list(out.glob("run-*.npz"))) == 3
    ens = run_ensemble(flaky, K, out, resume=True, options=SEQUENTIAL)
    assert state["n"] == 4 + K - 3
    np.testing.assert_array_equal(ens["x"], independent_draws(K))


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_ensemble import draw
from geodln.ensemble import run_ensemble
run_ensemble(draw, {k}, {out!r}, entropy={entropy},
             params={{"calls": {calls!r}, "sleep": 0.15}}, options=dict(n_jobs=2, progress=False))
"""


def test_killed_process_resumes_without_loss_or_duplicates(tmp_path):
    calls, out, n_runs = tmp_path / "calls", tmp_path / "e", 16
    calls.mkdir()
    script = SCRIPT.format(tests=os.path.dirname(__file__), k=n_runs, out=str(out),
                           entropy=ENTROPY, calls=str(calls))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while len(list(out.glob("run-*.npz"))) < 4:
            assert proc.poll() is None, "the ensemble subprocess ended before it was killed"
            assert time.time() < deadline, "the ensemble subprocess made no progress"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the process we started and its loky workers
        proc.wait()
    finished = sorted(int(p.name[4:10]) for p in out.glob("run-*.npz"))
    assert 4 <= len(finished) < n_runs
    before = os.listdir(calls)
    ens = run_ensemble(draw, n_runs, out, params={"calls": str(calls), "sleep": 0.15},
                       resume=True, options=dict(n_jobs=2, progress=False))
    new = sorted(int(n.split("-")[0]) for n in set(os.listdir(calls)) - set(before))
    assert new == sorted(set(range(n_runs)) - set(finished))  # only the missing runs ran
    assert not list(out.glob(".tmp-*"))
    np.testing.assert_array_equal(ens["index"], np.arange(n_runs))
    np.testing.assert_array_equal(ens["x"], independent_draws(n_runs))


def test_resume_refuses_other_settings_and_cleans_temporaries(tmp_path):
    out = tmp_path / "e"
    run_ensemble(draw, 3, out, entropy=ENTROPY, params={"size": 3}, options=SEQUENTIAL)
    with pytest.raises(ValueError, match="params"):
        run_ensemble(draw, 3, out, params={"size": 4}, resume=True, options=QUIET)
    with pytest.raises(ValueError, match="entropy"):
        run_ensemble(draw, 3, out, entropy=1, params={"size": 3}, resume=True, options=QUIET)
    with pytest.raises(ValueError, match="n_runs"):
        run_ensemble(draw, 2, out, params={"size": 3}, resume=True, options=QUIET)
    (out / ".tmp-abc.npz").write_bytes(b"half")
    ens = run_ensemble(draw, 5, out, params={"size": 3}, resume=True, options=SEQUENTIAL)
    assert not (out / ".tmp-abc.npz").exists()
    np.testing.assert_array_equal(ens["x"], independent_draws(5))


def test_corrupt_and_foreign_files_are_detected(tmp_path):
    run_ensemble(draw, 4, tmp_path / "a", entropy=ENTROPY, options=SEQUENTIAL)
    run_ensemble(draw, 4, tmp_path / "b", entropy=ENTROPY + 1, options=SEQUENTIAL)
    a2 = run_path(tmp_path / "a", 2)
    data = open(a2, "rb").read()
    open(a2, "wb").write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="run-000002.npz is truncated"):
        load_ensemble(tmp_path / "a")
    os.replace(run_path(tmp_path / "b", 2), a2)  # a file of another ensemble
    with pytest.raises(ValueError, match="belongs to another ensemble"):
        load_ensemble(tmp_path / "a")
    shutil.copyfile(run_path(tmp_path / "a", 1), a2)  # same ensemble, wrong index
    with pytest.raises(ValueError, match="index 1"):
        load_ensemble(tmp_path / "a")
    save_arrays(a2, {"x": np.zeros(3)}, "trajectory")
    with pytest.raises(ValueError, match="expected a 'ensemble-run'"):
        load_ensemble(tmp_path / "a")
    open(a2, "wb").write(b"not a zip file at all")
    with pytest.raises(ValueError, match="truncated or not a geodln"):
        load_ensemble(tmp_path / "a")
    open(tmp_path / "a" / "ensemble.json", "w").write('{"format": "geodln-json", "ver')
    with pytest.raises(ValueError, match="ensemble.json is truncated"):
        load_ensemble(tmp_path / "a")
    with pytest.raises(ValueError, match="not an ensemble folder"):
        load_ensemble(tmp_path / "nothing")


def test_dask_local_cluster_equals_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    local = run_ensemble(draw, 6, tmp_path / "local", entropy=ENTROPY,
                         options=dict(n_jobs=2, progress=False))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            remote = run_ensemble(draw, 6, tmp_path / "dask", entropy=ENTROPY,
                                  options=dict(backend="dask", progress=False))
    np.testing.assert_array_equal(remote["x"], local["x"])
    np.testing.assert_array_equal(remote["x"], independent_draws(6))


def test_ragged_runs_stack_with_padding_and_objects_with_to_arrays(tmp_path):
    class Traj:
        def __init__(self, n):
            self.n = n

        def to_arrays(self):
            return {"t": np.arange(self.n, dtype=float), "final": float(self.n)}

    ens = run_ensemble(lambda rng, i: Traj(i + 1), 3, tmp_path / "e", options=SEQUENTIAL)
    np.testing.assert_array_equal(ens["final"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="pad"):
        ens["t"]
    padded = ens.stack("t", pad=np.nan)
    assert padded.shape == (3, 3)
    np.testing.assert_array_equal(padded[1], [0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match="missing"):
        ens.stack("nope")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_runs": 0}, "n_runs"),
        ({"n_runs": 2.5}, "n_runs"),
        ({"options": {"n_jobs": 0}}, "n_jobs"),
        ({"options": {"seed_type": "int"}}, "seed_type"),
        ({"options": {"backend": "nope"}}, "backend"),
        ({"options": {"backend": 3}}, "backend"),
        ({"options": {"progress": "yes"}}, "progress"),
        ({"options": {"jobs": 2}}, "options"),
        ({"options": 2}, "options"),
        ({"run_one": 3}, "run_one"),
        ({"run_one": lambda rng, i: [1, 2]}, "dict of arrays"),
        ({"run_one": lambda rng, i: {"a": object()}}, "dtype object"),
        ({"entropy": 1.5}, "entropy"),
        ({"entropy": True}, "entropy"),
    ],
)
def test_bad_input(tmp_path, kwargs, match):
    args = {"run_one": draw, "n_runs": 2, "out_dir": tmp_path / "e", "options": SEQUENTIAL}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_ensemble(**args)


def _flow(rng, index):
    from geodln.flows import At, downstairs_flow
    from geodln.losses import razin_cohen_completion

    x0 = 0.1 * rng.standard_normal((2, 2))
    return downstairs_flow(razin_cohen_completion(), x0, 2, (0.0, 1.0),
                           record=At([0.0, 0.5, 1.0]))


def test_trajectories_are_stored_without_wall_time(tmp_path):
    ens = run_ensemble(_flow, 2, tmp_path / "e", entropy=ENTROPY, options=SEQUENTIAL)
    assert ens["X"].shape == (2, 3, 2, 2) and ens["times"].shape == (2, 3)
    assert list(ens["status"]) == ["completed", "completed"]
    assert "wall_time" not in ens.keys and "effective_rank" in ens.keys
    first = np.random.default_rng(np.random.SeedSequence(ENTROPY, spawn_key=(0,)))
    np.testing.assert_array_equal(ens["X"][0, 0], 0.1 * first.standard_normal((2, 2)))
    again = run_ensemble(_flow, 2, tmp_path / "f", entropy=ENTROPY, options=SEQUENTIAL)
    for key in ens.keys:
        np.testing.assert_array_equal(ens[key], again[key])


def test_run_ensemble_has_at_most_eight_parameters():
    """Execution settings live in EnsembleOptions (a public signature of <= 8 parameters)."""
    import inspect

    from geodln.ensemble import EnsembleOptions

    assert len(inspect.signature(run_ensemble).parameters) <= 8
    assert "batch_size" in inspect.signature(run_ensemble).parameters
    options = EnsembleOptions(n_jobs=2, backend="threading", progress=False, name="x")
    assert EnsembleOptions.coerce(options) is options
    assert EnsembleOptions.coerce({"n_jobs": 2, "backend": "threading", "progress": False,
                                   "name": "x"}) == options
