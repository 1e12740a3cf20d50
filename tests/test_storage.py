"""Files: strict, versioned, never garbage (issue 13, section 3).

Forged files are built from a genuine trajectory file by rewriting one member with numpy's own
``savez`` (a valid zip with our metadata key), so each test changes exactly one thing.
"""

import json
import os
import stat
import zipfile

import numpy as np
import pytest

from geodln import Trajectory
from geodln.langevin import LangevinPath
from geodln.storage import (
    check_count,
    check_finite_for_status,
    check_times,
    load_arrays,
    load_json,
    save_arrays,
    save_json,
)

META = "__geodln_meta__"


def _genuine(tmp_path):
    x = np.stack([np.eye(2) * (1 + k) for k in range(4)])
    tr = Trajectory(np.arange(4.0), x, np.linspace(1, 0, 4), mode="downstairs", n_rhs=7,
                    metadata={"depth": 3})
    path = tmp_path / "genuine.npz"
    tr.save(path)
    return path


def _members(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _forge(tmp_path, path, meta=None, arrays=None, raw_meta=None):
    members = _members(path)
    record = json.loads(members[META].tobytes().decode())
    if meta is not None:
        meta(record)
    text = raw_meta if raw_meta is not None else json.dumps(record)
    members[META] = np.frombuffer(text.encode(), dtype=np.uint8)
    members.update(arrays or {})
    forged = tmp_path / "forged.npz"
    np.savez(forged, **members)
    return forged


def test_genuine_file_loads(tmp_path):
    back = Trajectory.load(_genuine(tmp_path))
    assert back.n_rhs == 7 and back.metadata == {"depth": 3}


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda r: r.update(metadata=[1, 2]), "metadata"),
        (lambda r: r.update(metadata=[1]), "metadata"),
        (lambda r: r["metadata"].update(n_rhs=float("inf")), "n_rhs"),
        (lambda r: r["metadata"].update(n_rhs=-3), "n_rhs"),
        (lambda r: r["metadata"].update(n_rhs=True), "n_rhs"),
        (lambda r: r["metadata"].update(wall_time=float("nan")), "wall_time"),
        (lambda r: r["metadata"].update(status=["completed"]), "status"),
        (lambda r: r["metadata"].update(metadata=[1]), "metadata"),
        (lambda r: r["metadata"].update(n_factors=float("inf")), "n_factors"),
        (lambda r: r["metadata"].pop("mode"), "mode"),
        (lambda r: r.update(version=99), "version 99"),
        (lambda r: r.update(version="1"), "version"),
        (lambda r: r.update(version=True), "version"),
        (lambda r: r.update(format="other"), "not a geodln file"),
        (lambda r: r.update(kind="ensemble-run"), "expected one of \\['trajectory'"),
    ],
)
def test_forged_metadata_raises_value_error(tmp_path, edit, match):
    forged = _forge(tmp_path, _genuine(tmp_path), meta=edit)
    with pytest.raises(ValueError, match=match):
        Trajectory.load(forged)


@pytest.mark.parametrize("raw", ["[1]", "[]", "1", '"x"', "null", "{", "\udcff"])
def test_metadata_record_that_is_not_an_object(tmp_path, raw):
    try:
        raw.encode()
    except UnicodeEncodeError:
        raw = "{\"a\": 1}"  # placeholder: non-UTF-8 bytes are tested below
    forged = _forge(tmp_path, _genuine(tmp_path), raw_meta=raw)
    with pytest.raises(ValueError, match="not a geodln file"):
        Trajectory.load(forged)


def test_metadata_record_not_utf8_or_not_bytes(tmp_path):
    path = _genuine(tmp_path)
    members = _members(path)
    members[META] = np.frombuffer(b"\xff\xfe{", dtype=np.uint8)
    np.savez(tmp_path / "a.npz", **members)
    with pytest.raises(ValueError, match="not a geodln file"):
        Trajectory.load(tmp_path / "a.npz")
    members[META] = np.zeros(3)
    np.savez(tmp_path / "b.npz", **members)
    with pytest.raises(ValueError, match="not a geodln file"):
        Trajectory.load(tmp_path / "b.npz")


def _x_with(value):
    x = np.stack([np.eye(2) * (1 + k) for k in range(4)])
    x[2, 0, 1] = value
    return x


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"X": _x_with(np.nan)}, "X contains NaN"),
        ({"X": _x_with(np.inf)}, "X contains NaN"),
        ({"loss": np.array([1.0, np.nan, 0.5, 0.1])}, "loss contains NaN"),
        ({"times": np.array([0.0, 2.0, 1.0, 3.0])}, "non-decreasing"),
        ({"times": np.array([0.0, np.nan, 2.0, 3.0])}, "times contains NaN"),
        ({"X": _x_with(0.0) + 1j}, "complex"),
        ({"X": np.array(["a", "b", "c", "d"])}, "X must be a real array"),
        ({"X": np.ones((4, 2))}, "X must have shape"),
        ({"times": np.arange(3.0)}, "X must have shape"),
        ({"loss": np.ones((4, 1))}, "loss must have shape"),
        ({"times": np.ones((4, 1))}, "times must have 1 axes"),
    ],
)
def test_forged_arrays_raise_value_error(tmp_path, arrays, match):
    forged = _forge(tmp_path, _genuine(tmp_path), arrays=arrays)
    with pytest.raises(ValueError, match=match):
        Trajectory.load(forged)


def test_object_array_is_refused_without_pickle(tmp_path):
    members = _members(_genuine(tmp_path))
    members["X"] = np.array([{"a": 1}], dtype=object)
    np.savez(tmp_path / "o.npz", **members)  # numpy pickles object arrays
    with pytest.raises(ValueError, match="corrupted"):
        Trajectory.load(tmp_path / "o.npz")


def test_nonfinite_loss_is_allowed_for_a_diverged_run_but_never_nonfinite_x(tmp_path):
    """A diverged run may end on a non-finite loss; X always holds the last finite state."""
    loss = np.array([1.0, 0.5, 0.2, np.inf])
    forged = _forge(tmp_path, _genuine(tmp_path), arrays={"loss": loss},
                    meta=lambda r: r["metadata"].update(status="diverged"))
    assert Trajectory.load(forged).status == "diverged"
    forged = _forge(tmp_path, _genuine(tmp_path), arrays={"X": _x_with(np.nan)},
                    meta=lambda r: r["metadata"].update(status="diverged"))
    with pytest.raises(ValueError, match="X contains NaN"):
        Trajectory.load(forged)


def _batched(tmp_path):
    tr = Trajectory.stack([
        Trajectory(np.arange(4.0), _x_with(0.0), np.linspace(1, 0, 4), mode="downstairs"),
        Trajectory(np.arange(2.0), _x_with(0.0)[:2], [1.0, 0.9], mode="downstairs",
                   status="diverged", n_rhs=3)])
    path = tmp_path / "batch.npz"
    tr.save(path)
    return path


def test_batched_file_round_trips(tmp_path):
    back = Trajectory.load(_batched(tmp_path))
    assert back.batch_size == 2 and back.status.tolist() == ["completed", "diverged"]
    assert back.n_records.tolist() == [4, 2] and back.n_rhs.tolist() == [0, 3]


@pytest.mark.parametrize(
    "edit,arrays,match",
    [
        (lambda r: r["metadata"].update(n_rhs=[0, float("inf")]), None, "n_rhs"),
        (lambda r: r["metadata"].update(n_rhs=[0]), None, "n_rhs"),
        (lambda r: r["metadata"].update(status=["completed", "exploded"]), None, "status"),
        (lambda r: r["metadata"].update(batched="yes"), None, "batched"),
        (None, {"n_records": np.array([4, 9])}, "n_records"),
        (None, {"n_records": np.array([4.0, 2.0])}, "n_records"),
        (None, {"times": np.array([[0.0, 1.0, 3.0, 2.0], [0.0, 1.0, np.nan, np.nan]])},
         "non-decreasing"),
        (None, {"loss": np.array([[1.0, np.nan, 0.5, 0.1], [1.0, 0.9, np.nan, np.nan]])},
         "loss contains NaN"),
        (None, {"times": np.arange(4.0)}, "times must have 2 axes"),
    ],
)
def test_forged_batched_file_raises_value_error(tmp_path, edit, arrays, match):
    forged = _forge(tmp_path, _batched(tmp_path), meta=edit, arrays=arrays)
    with pytest.raises(ValueError, match=match):
        Trajectory.load(forged)


def test_direct_construction_is_held_to_the_same_schema():
    x = _x_with(np.nan)
    with pytest.raises(ValueError, match="X contains NaN"):
        Trajectory(np.arange(4.0), x, np.ones(4), mode="downstairs", status="completed")
    with pytest.raises(ValueError, match="non-decreasing"):
        Trajectory([0.0, 1.0, 0.5, 2.0], _x_with(0.0), np.ones(4), mode="downstairs")
    with pytest.raises(ValueError, match="n_rhs"):
        Trajectory(np.arange(4.0), _x_with(0.0), np.ones(4), mode="downstairs", n_rhs=np.inf)
    with pytest.raises(ValueError, match="metadata"):
        Trajectory(np.arange(4.0), _x_with(0.0), np.ones(4), mode="downstairs", metadata=[1])
    with pytest.raises(ValueError, match="X must be a real array"):
        Trajectory(np.arange(4.0), _x_with(0.0) + 0j, np.ones(4), mode="downstairs")


def test_single_byte_flips_all_raise_value_error_or_load_identically(tmp_path):
    """Flip every byte of a small genuine file (one at a time): ValueError or a faithful load.

    A flip inside a zip member is caught by the CRC; a flip in a header, a name, a size or the
    compression method raises one of zipfile's many exceptions, all reported as ValueError.
    A flip in bytes that zip readers ignore (e.g. the timestamp) may load, but then identically.
    """
    path = _genuine(tmp_path)
    data = bytearray(path.read_bytes())
    reference = Trajectory.load(path)
    flipped = tmp_path / "flip.npz"
    loaded = failed = 0
    for pos in range(len(data)):
        forged = bytearray(data)
        forged[pos] ^= 0xFF
        flipped.write_bytes(bytes(forged))
        try:
            back = Trajectory.load(flipped)
        except ValueError:
            failed += 1
            continue
        loaded += 1
        np.testing.assert_array_equal(back.X, reference.X)
        np.testing.assert_array_equal(back.times, reference.times)
        np.testing.assert_array_equal(back.loss, reference.loss)
        assert (back.status, back.n_rhs, back.metadata) == (
            reference.status, reference.n_rhs, reference.metadata)
    assert failed > 0.8 * len(data)


def test_unknown_compression_method_is_a_value_error(tmp_path):
    """zipfile raises NotImplementedError for an unknown compression method."""
    path = _genuine(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        assert zf.infolist()[0].compress_type == zipfile.ZIP_STORED
    # the compression method of the first central-directory entry is at its offset 10
    central = bytes(data).index(b"PK\x01\x02")
    data[central + 10] = 99
    bad = tmp_path / "method.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        Trajectory.load(bad)


def test_missing_file_and_directory_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_arrays(tmp_path / "nope.npz", "trajectory")
    with pytest.raises(ValueError, match="cannot read"):
        load_arrays(tmp_path, "trajectory")
    with pytest.raises(ValueError, match="path"):
        load_arrays(3.5, "trajectory")


def test_langevin_path_is_validated(tmp_path):
    path = tmp_path / "p.npz"
    LangevinPath([0.0, 1.0], np.ones((2, 1, 2, 2))).save(path)
    forged = _forge(tmp_path, path, arrays={"times": np.array([1.0, 0.0])})
    with pytest.raises(ValueError, match="non-decreasing"):
        LangevinPath.load(forged)
    forged = _forge(tmp_path, path, arrays={"states": np.ones((2, 1, 2, 2)) * 1j})
    with pytest.raises(ValueError, match="complex"):
        LangevinPath.load(forged)


def test_save_refuses_complex_and_bad_metadata(tmp_path):
    with pytest.raises(ValueError, match="dtype complex"):
        save_arrays(tmp_path / "c.npz", {"X": np.ones(2) * 1j}, "trajectory")
    with pytest.raises(ValueError, match="metadata"):
        save_arrays(tmp_path / "c.npz", {"X": np.ones(2)}, "trajectory", metadata=[1])
    assert not os.listdir(tmp_path)


def test_json_version_is_checked(tmp_path):
    path = tmp_path / "a.json"
    save_json(path, {"a": 1}, "demo")
    record = json.loads(path.read_text())
    record["version"] = 99
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="version 99"):
        load_json(path, "demo")


def test_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save_arrays(tmp_path / "a.npz", {"x": np.ones(2)}, "demo")
        save_json(tmp_path / "b.json", {}, "demo")
    finally:
        os.umask(old)
    for name in ("a.npz", "b.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640


def test_schema_helpers():
    np.testing.assert_array_equal(check_times([0, 0, 1]), [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="non-empty"):
        check_times([])
    with pytest.raises(ValueError, match="n"):
        check_count(2.5, "n")
    check_finite_for_status("failed", X=np.array([np.inf]))
    with pytest.raises(ValueError, match="loss"):
        check_finite_for_status("loss_tol", loss=np.array([np.inf]))


def _lowrank(tmp_path, batch=None, factors=False):
    from geodln.flows import Every
    from geodln.lowrank import (
        lowrank_gradient_descent,
        random_factored_point,
        random_sparse_completion,
    )

    loss, _ = random_sparse_completion((8, 6), 2, fraction=0.5, seed=0)
    x0 = random_factored_point(8, 6, 2, seed=1, batch=batch)
    tr = lowrank_gradient_descent(loss, x0, 3, 0.02, 4, record=Every(factors=factors))
    path = tmp_path / "lowrank.npz"
    tr.save(path)
    return path


@pytest.mark.parametrize(
    "edit,arrays,match",
    [
        (lambda r: r["metadata"].update(n_rhs=float("inf")), None, "n_rhs"),
        (lambda r: r["metadata"].update(wall_time=-1.0), None, "wall_time"),
        (lambda r: r["metadata"].update(metadata=[1]), None, "metadata"),
        (lambda r: r["metadata"].pop("status"), None, "status"),
        (lambda r: r["metadata"].update(state="sparse"), None, "state"),
        (None, {"times": np.array([0.0, 0.1, 0.05, 0.3, 0.4])}, "non-decreasing"),
        (None, {"loss": np.array([1.0, np.nan, 0.5, 0.4, 0.3])}, "loss contains NaN"),
        (None, {"singular_values": np.ones((5, 2)) * np.inf}, "singular_values contains NaN"),
        (None, {"singular_values": -np.ones((5, 2))}, "singular_values must be >= 0"),
        (None, {"singular_values": np.ones((4, 2))}, "singular_values must have shape"),
        (None, {"final_s": np.array([1.0, 0.0])}, "s must be > 0"),
        (None, {"final_U": np.ones((8, 2))}, "orthonormal"),
    ],
)
def test_forged_factored_trajectory_raises_value_error(tmp_path, edit, arrays, match):
    path = _lowrank(tmp_path)
    assert Trajectory.load(path).state == "factored"
    forged = _forge(tmp_path, path, meta=edit, arrays=arrays)
    with pytest.raises(ValueError, match=match):
        Trajectory.load(forged)


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"U": np.full((5, 8, 2), np.nan)}, "X.u contains NaN"),
        ({"V": np.ones((4, 6, 2))}, "X must be a FactoredPoint of batch shape"),
        ({"V": np.linalg.qr(np.ones((5, 5, 2)))[0]}, "final_point has shape"),
        ({"U": None}, "give both U and V"),
    ],
)
def test_forged_factor_records_raise_value_error(tmp_path, arrays, match):
    path = _lowrank(tmp_path, factors=True)
    assert Trajectory.load(path).X.batch_shape == (5,)
    members = {k: v for k, v in arrays.items() if v is not None}
    forged = _forge(tmp_path, path, arrays=members)
    if any(v is None for v in arrays.values()):  # drop the array instead
        data = _members(forged)
        for key in arrays:
            data.pop(key)
        np.savez(forged, **data)
    with pytest.raises(ValueError, match=match):
        Trajectory.load(forged)


def _former_lowrank_file(path, u=True):
    """A file in the layout the former ``LowRankTrajectory.save`` wrote (kind
    ``lowrank_trajectory``), built here with plain numpy arrays and JSON."""
    rng = np.random.default_rng(3)
    times = np.array([0.0, 0.1, 0.2])
    us = np.linalg.qr(rng.standard_normal((3, 5, 2)))[0]
    vs = np.linalg.qr(rng.standard_normal((3, 4, 2)))[0]
    sigma = np.array([[2.0, 1.0], [2.5, 0.5], [3.0, 0.25]])
    arrays = {"times": times, "sigma": sigma, "loss": np.array([1.0, 0.6, 0.3]),
              "final_u": us[-1], "final_s": sigma[-1], "final_v": vs[-1],
              "steps": np.array([0, 1, 2]), "metric:rmse": np.array([0.9, 0.8, 0.7])}
    if u:
        arrays["u"], arrays["v"] = us, vs
    save_arrays(path, arrays, "lowrank_trajectory",
                {"mode": "downstairs", "status": "loss_tol", "message": "old", "n_rhs": 2,
                 "wall_time": 0.5, "metadata": {"step_size": 0.1}})
    return arrays


@pytest.mark.parametrize("with_factors", [True, False])
def test_files_of_the_former_lowrank_trajectory_load_as_factored(tmp_path, with_factors):
    path = tmp_path / "old.npz"
    arrays = _former_lowrank_file(path, u=with_factors)
    tr = Trajectory.load(path)
    assert (tr.state, tr.mode, tr.status, tr.message, tr.n_rhs) == (
        "factored", "downstairs", "loss_tol", "old", 2)
    assert tr.metadata == {"step_size": 0.1} and tr.wall_time == 0.5
    np.testing.assert_array_equal(tr.singular_values, arrays["sigma"])
    np.testing.assert_array_equal(tr.steps, arrays["steps"])
    np.testing.assert_array_equal(tr.metrics["rmse"], arrays["metric:rmse"])
    np.testing.assert_array_equal(tr.final_X.u, arrays["final_u"])
    dense_final = arrays["final_u"] @ np.diag(arrays["final_s"]) @ arrays["final_v"].T
    np.testing.assert_allclose(tr.final_X.to_dense(), dense_final, rtol=1e-14)
    np.testing.assert_allclose(tr.frobenius_norm, np.sqrt(np.sum(arrays["sigma"] ** 2, -1)),
                               rtol=1e-14)
    if with_factors:
        np.testing.assert_array_equal(tr.X.u, arrays["u"])
        np.testing.assert_array_equal(tr.X.v, arrays["v"])
    else:
        assert tr.X is None
    # and it is written back in the current layout
    tr.save(tmp_path / "new.npz")
    again = Trajectory.load(tmp_path / "new.npz")
    np.testing.assert_array_equal(again.singular_values, arrays["sigma"])


@pytest.mark.parametrize(
    "edit,arrays,match",
    [
        (lambda r: r["metadata"].pop("status"), None, "status"),
        (None, {"sigma": np.ones((3, 2)) * np.inf}, "singular_values contains NaN"),
        (None, {"final_s": np.array([1.0, 0.0])}, "s must be > 0"),
        (None, {"times": np.array([0.0, 0.2, 0.1])}, "non-decreasing"),
    ],
)
def test_forged_former_lowrank_files_raise_value_error(tmp_path, edit, arrays, match):
    path = tmp_path / "old.npz"
    _former_lowrank_file(path)
    forged = _forge(tmp_path, path, meta=edit, arrays=arrays)
    with pytest.raises(ValueError, match=match) as info:
        Trajectory.load(forged)
    assert "lowrank_trajectory file" in str(info.value)


@pytest.mark.parametrize("path", [123, None, 1.5, ["a.npz"]])
def test_save_to_a_non_path_names_path(path):
    import geodln
    from geodln.losses import razin_cohen_completion

    tr = geodln.downstairs_flow(razin_cohen_completion(), 0.5 * np.eye(2), 2, (0.0, 0.1))
    with pytest.raises(ValueError, match="path must be a str or os.PathLike"):
        tr.save(path)
