"""Ensembles shared by several processes, killed writers, batches (issue 13, section 4).

The run functions log every call (one marker file per call) so that "each run computed exactly
once" is checked by counting calls, independently of the files the runner writes.
"""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from test_ensemble import ENTROPY, QUIET, SEQUENTIAL, draw, independent_draws, logged

from geodln.ensemble import load_ensemble, run_ensemble

TESTS = os.path.dirname(__file__)


def draw_batch(items, size=3, calls=None, sleep=0.0):
    """Batch version of ``draw``: one call for several runs, the same numbers per run."""
    return [draw(rng, index, size=size, calls=calls, sleep=sleep) for index, rng in items]


SHARED = """
import sys
sys.path.insert(0, {tests!r})
from test_ensemble import draw
from geodln.ensemble import run_ensemble
ens = run_ensemble(draw, {k}, {out!r}, entropy={entropy}, resume=True,
                   params={{"calls": {calls!r}, "sleep": 0.3}},
                   options=dict({backend}, progress=False))
assert len(ens) == {k}
"""


def test_two_processes_sharing_a_directory_compute_each_run_once(tmp_path):
    calls, out, n_runs = tmp_path / "calls", tmp_path / "e", 10
    calls.mkdir()
    procs = []
    for backend in ('backend="sequential"', 'n_jobs=2'):
        script = SHARED.format(tests=TESTS, k=n_runs, out=str(out), entropy=ENTROPY,
                               calls=str(calls), backend=backend)
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                                      start_new_session=True))
    try:
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert codes == [0, 0]
    assert logged(calls) == list(range(n_runs))  # each run function called exactly once
    ens = load_ensemble(out)
    assert len(ens) == n_runs and ens.indices == list(range(n_runs))
    np.testing.assert_array_equal(ens["x"], independent_draws(n_runs))
    assert not list(out.glob(".tmp-*"))


KILLED_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
import numpy as np
from test_ensemble import draw
import geodln.storage
from geodln.ensemble import run_ensemble

real_savez = np.savez
def slow_savez(fh, **arrays):
    real_savez(fh, **arrays)
    fh.flush()
    if int(arrays["index"]) == 3:   # the fourth run: die while its temporary file is open
        open({marker!r}, "w").close()
        time.sleep(600)
geodln.storage.np.savez = slow_savez
run_ensemble(draw, {k}, {out!r}, entropy={entropy},
             params={{"calls": {calls!r}}}, options=dict(backend="sequential", progress=False))
"""


def test_process_killed_mid_write_resumes_with_nothing_lost(tmp_path):
    calls, out, marker, n_runs = tmp_path / "calls", tmp_path / "e", tmp_path / "m", 6
    calls.mkdir()
    script = KILLED_WRITER.format(tests=TESTS, k=n_runs, out=str(out), entropy=ENTROPY,
                                  calls=str(calls), marker=str(marker))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.time() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert sorted(p.name for p in out.glob("run-*.npz")) == [
        f"run-{i:06d}.npz" for i in range(3)]
    assert len(list(out.glob(".tmp-run-000003-*"))) == 1  # the dead writer's half file
    ens = run_ensemble(draw, n_runs, out, params={"calls": str(calls)}, resume=True,
                       options=SEQUENTIAL)
    assert not list(out.glob(".tmp-*"))
    assert logged(calls) == [0, 1, 2, 3, 3, 4, 5]  # only run 3 (lost mid-write) ran twice
    np.testing.assert_array_equal(ens["x"], independent_draws(n_runs))


def test_a_live_writers_temporary_file_is_never_deleted(tmp_path):
    """A second runner skips a run held by a live writer, keeps its temp file, then waits."""
    import threading

    from filelock import FileLock

    from geodln.ensemble import run_path
    from geodln.storage import save_arrays

    out, calls = tmp_path / "e", tmp_path / "calls"
    calls.mkdir()
    run_ensemble(draw, 2, out, entropy=ENTROPY,
                 params={"calls": str(calls)}, options=SEQUENTIAL)
    # the "other process": holds run 2's lock and is writing its temporary file
    lock = FileLock(str(out / ".locks" / "run-000002.lock"), thread_local=False)
    lock.acquire()
    tmp = out / ".tmp-run-000002-live.npz"
    tmp.write_bytes(b"half")
    seen = []

    def other_writer():
        time.sleep(1.5)
        seen.append(tmp.exists())  # the runner did not delete it
        rng = np.random.default_rng(np.random.SeedSequence(ENTROPY, spawn_key=(2,)))
        save_arrays(run_path(out, 2), draw(rng, 2), "ensemble-run",
                    {"index": 2, "entropy": ENTROPY, "spawn_key": [2], "wall_time": 0.0})
        tmp.unlink()
        lock.release()

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        ens = run_ensemble(draw, 4, out, resume=True,
                           params={"calls": str(calls)}, options=SEQUENTIAL)
    finally:
        thread.join()
    assert seen == [True]
    assert logged(calls) == [0, 1, 3]  # run 2 was the other writer's, computed once
    assert len(ens) == 4 and not list(out.glob(".tmp-*"))
    np.testing.assert_array_equal(ens["x"], independent_draws(4))


@pytest.mark.parametrize("batch_size", [1, 3, 10])
def test_batches_give_the_same_runs_as_single_calls(tmp_path, batch_size):
    calls = tmp_path / "calls"
    calls.mkdir()
    ens = run_ensemble(draw_batch, 7, tmp_path / "b", entropy=ENTROPY, batch_size=batch_size,
                       params={"calls": str(calls)},
                       options=dict(n_jobs=2, backend="threading", progress=False))
    assert logged(calls) == list(range(7))
    np.testing.assert_array_equal(ens["x"], independent_draws(7))
    np.testing.assert_array_equal(ens["index"], np.arange(7))


def test_batches_resume(tmp_path):
    out = tmp_path / "b"
    state = {"n": 0}

    def flaky(items):
        state["n"] += 1
        if state["n"] == 2:
            raise RuntimeError("boom")
        return [draw(rng, index) for index, rng in items]

    with pytest.raises(RuntimeError, match="boom"):
        run_ensemble(flaky, 6, out, entropy=ENTROPY, batch_size=2, options=SEQUENTIAL)
    assert len(list(out.glob("run-*.npz"))) == 2
    ens = run_ensemble(flaky, 6, out, batch_size=2, resume=True, options=SEQUENTIAL)
    np.testing.assert_array_equal(ens["x"], independent_draws(6))


@pytest.mark.parametrize(
    "run,match",
    [
        (lambda items: [{"x": 1.0}], "returned 1 results for 2 runs"),
        (lambda items: {"x": 1.0}, "list of one result per run"),
    ],
)
def test_batch_with_wrong_number_of_results(tmp_path, run, match):
    with pytest.raises(ValueError, match=match):
        run_ensemble(run, 2, tmp_path / "e", batch_size=2, options=SEQUENTIAL)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "2"])
def test_bad_batch_size(tmp_path, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        run_ensemble(draw_batch, 2, tmp_path / "e", batch_size=batch_size, options=QUIET)


def test_existing_file_as_out_dir(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        run_ensemble(draw, 2, afile, options=SEQUENTIAL)
    with pytest.raises(ValueError, match="out_dir"):
        run_ensemble(draw, 2, afile / "sub", options=SEQUENTIAL)
    assert afile.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="out_dir"):
        run_ensemble(draw, 2, ro / "e", options=SEQUENTIAL)


def test_run_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        run_ensemble(draw, 2, tmp_path / "e", entropy=ENTROPY, options=SEQUENTIAL)
    finally:
        os.umask(old)
    for path in list((tmp_path / "e").glob("run-*.npz")) + [tmp_path / "e" / "ensemble.json"]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


ORPHANS = """
import os, sys, time
sys.path.insert(0, {tests!r})
from geodln.ensemble import run_ensemble

def slow(rng, index, pids):
    open(os.path.join(pids, str(os.getpid())), "w").close()
    time.sleep(120)
    return {{"x": 1.0}}

run_ensemble(slow, 4, {out!r}, params={{"pids": {pids!r}}}, options=dict(n_jobs=2, progress=False))
"""


def test_workers_do_not_outlive_a_killed_parent(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = ORPHANS.format(tests=TESTS, out=str(tmp_path / "e"), pids=str(pids))
    # not a new session: kill only the parent, as a user's kill -9 would
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        deadline = time.time() + 120
        while len(os.listdir(pids)) < 2:
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    workers = [int(p) for p in os.listdir(pids)]
    killed_at = time.time()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie is dead
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().split()[2] != "Z"
        except OSError:
            return False

    try:
        while any(alive(pid) for pid in workers) and time.time() - killed_at < 10:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers), "workers outlived the parent by > 10 s"
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
