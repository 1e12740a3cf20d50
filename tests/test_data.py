"""Real-data workflow: readers, splits, offsets, held-out metrics, early stopping, images.

Each result is checked against an independent computation: dictionaries built from the
generated records, dense least squares with numpy, explicit loops.
"""

import numpy as np
import pytest

from geodln.data import (
    EarlyStopping,
    HeldOutError,
    Offsets,
    downsample,
    fit_offsets,
    grayscale,
    held_out_error,
    observe_pixels,
    random_split,
    ratings_from_arrays,
    read_movielens,
    read_movielens_split,
    read_table,
)


def _synthetic_records(seed=0, n_users=30, n_items=40, k=300):
    rng = np.random.default_rng(seed)
    users = rng.choice(np.arange(1, 200), n_users, replace=False)  # ids with gaps
    items = rng.choice(np.arange(1, 500), n_items, replace=False)
    pairs = set()
    while len(pairs) < k:
        pairs.add((int(rng.choice(users)), int(rng.choice(items))))
    pairs = sorted(pairs)
    ratings = rng.integers(1, 6, size=k)
    stamps = rng.integers(874724710, 893286638, size=k)
    return [(u, i, int(r), int(t)) for (u, i), r, t in zip(pairs, ratings, stamps)]


def _write(path, records):
    path.write_text("".join("\t".join(str(f) for f in rec) + "\n" for rec in records))
    return path


def test_movielens_round_trip(tmp_path):
    records = _synthetic_records()
    r = read_movielens(_write(tmp_path / "u.data", records))
    expected = {(u, i): float(v) for u, i, v, _ in records}
    got = {
        (int(r.row_ids[a]), int(r.col_ids[b])): v for a, b, v in zip(r.rows, r.cols, r.values)
    }
    assert got == expected
    assert r.shape == (len({u for u, *_ in records}), len({i for _, i, *_ in records}))
    assert list(r.row_ids) == sorted({u for u, *_ in records})


@pytest.mark.parametrize(
    "line, message",
    [
        ("1\t2\t3\n", "line 2: expected 4 fields"),
        ("1\tx\t3\t5\n", "line 2: user and item must be integers"),
        ("1\t2\t9\t5\n", "line 2: rating 9.0 is outside"),
        ("7\t8\t3\t5\n", "line 2: (user 7, item 8) already given on line 1"),
        ("1 2 3 5\n", "line 2: expected 4 fields"),
    ],
)
def test_movielens_rejects_malformed_lines(tmp_path, line, message):
    path = tmp_path / "bad.data"
    path.write_text("7\t8\t4\t881250949\n" + line)
    with pytest.raises(ValueError) as err:
        read_movielens(path)
    assert message in str(err.value)


def test_movielens_missing_file_names_path(tmp_path):
    with pytest.raises(ValueError, match="path"):
        read_movielens(tmp_path / "nope")


def test_read_table_and_duplicates(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("0 0 1.5\n3 1 -2\n")
    t = read_table(p)
    assert t.shape == (2, 2) and t.to_dense()[1, 1] == -2.0
    p.write_text("0 0 1.5\n0 0 2\n")
    with pytest.raises(ValueError, match="line 2"):
        read_table(p)
    with pytest.raises(ValueError, match="twice"):
        ratings_from_arrays([1, 1], [2, 2], [1.0, 2.0])


def test_movielens_split_files_share_coordinates(tmp_path):
    records = _synthetic_records(seed=1)
    train_recs, test_recs = records[::2], records[1::2]
    split = read_movielens_split(
        _write(tmp_path / "u1.base", train_recs), _write(tmp_path / "u1.test", test_recs),
        validation=0.25, seed=0,
    )
    assert split.train.shape == split.test.shape
    for table, recs in ((split.test, test_recs),):
        got = {(int(table.row_ids[a]), int(table.col_ids[b])): v
               for a, b, v in zip(table.rows, table.cols, table.values)}
        assert got == {(u, i): float(v) for u, i, v, _ in recs}
    n_train = len(train_recs)
    assert split.validation.n_observed == int(np.floor(0.25 * n_train))
    assert split.train.n_observed + split.validation.n_observed == n_train
    with pytest.raises(ValueError, match="test_path repeats"):
        read_movielens_split(_write(tmp_path / "a", records[:5]), _write(tmp_path / "b",
                                                                         records[4:6]))


def test_random_split_partitions():
    r = ratings_from_arrays(np.arange(100) // 10, np.arange(100) % 10, np.arange(100.0))
    s = random_split(r, (0.7, 0.2, 0.1), seed=3)
    keys = [set(zip(p.rows, p.cols)) for p in (s.train, s.validation, s.test)]
    assert [len(k) for k in keys] == [70, 20, 10]
    assert set.union(*keys) == set(zip(r.rows, r.cols))
    assert sum(len(k) for k in keys) == 100
    again = random_split(r, (0.7, 0.2, 0.1), seed=3)
    assert np.array_equal(again.test.values, s.test.values)
    for bad in [(0.5, 0.5), (0.8, 0.3, -0.1), (0.0, 0.5, 0.5), (True, 0, 0), "abc"]:
        with pytest.raises(ValueError, match="fractions"):
            random_split(r, bad)


def test_biases_are_the_least_squares_fit():
    rng = np.random.default_rng(0)
    m, n, k = 12, 9, 60
    flat = rng.choice(m * n, k, replace=False)
    rows, cols = np.divmod(flat, n)
    values = rng.normal(3, 1, k)
    r = ratings_from_arrays(rows, cols, values, row_index=np.arange(m), col_index=np.arange(n))
    off = fit_offsets(r)
    design = np.zeros((k, 1 + m + n))
    design[:, 0] = 1
    design[np.arange(k), 1 + r.rows] = 1
    design[np.arange(k), 1 + m + r.cols] = 1
    coef = np.linalg.lstsq(design, r.values, rcond=None)[0]
    np.testing.assert_allclose(off.predict(r.rows, r.cols), design @ coef, rtol=1e-9, atol=1e-9)
    lam = 2.0
    ridge = fit_offsets(r, regularization=lam)
    d = design[:, 1:]
    sol = np.linalg.solve(d.T @ d + lam * np.eye(m + n), d.T @ (r.values - r.values.mean()))
    np.testing.assert_allclose(np.r_[ridge.row_bias, ridge.col_bias], sol, atol=1e-8)
    assert fit_offsets(r, kind="mean").mean == pytest.approx(values.mean())
    res = off.residuals(r)
    np.testing.assert_allclose(res.values, r.values - off.predict(r.rows, r.cols))
    for bad in [dict(kind="x"), dict(regularization=-1.0), dict(regularization=True)]:
        with pytest.raises(ValueError):
            fit_offsets(r, **bad)


def test_held_out_metrics_match_numpy():
    rng = np.random.default_rng(2)
    m, n, rank = 15, 11, 3
    left, right = rng.standard_normal((m, rank)), rng.standard_normal((n, rank))
    x = left @ right.T
    flat = rng.choice(m * n, 40, replace=False)
    rows, cols = np.divmod(flat, n)
    truth = rng.standard_normal(40)
    test = ratings_from_arrays(rows, cols, truth, row_index=np.arange(m),
                               col_index=np.arange(n))
    off = Offsets(0.3, rng.standard_normal(m), rng.standard_normal(n))
    pred = np.array([x[i, j] + 0.3 + off.row_bias[i] + off.col_bias[j]
                     for i, j in zip(rows, cols)])
    err = pred - truth
    expected = {
        "rmse": np.sqrt(np.mean(err**2)),
        "mae": np.mean(np.abs(err)),
        "relative_error": np.sqrt(np.sum(err**2) / np.sum(truth**2)),
    }
    for point in (x, (left, right)):
        got = held_out_error(point, test, off)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-12)
    batch = HeldOutError(test, off)(np.stack([x, 2 * x]))
    assert batch["rmse"].shape == (2,)
    assert batch["rmse"][0] == pytest.approx(expected["rmse"], rel=1e-12)
    with pytest.raises(ValueError, match="point"):
        held_out_error(np.ones((3, 3)), test)


def test_held_out_metrics_at_extreme_scale():
    test = ratings_from_arrays([0, 1], [0, 1], [3e200, 4e200])
    got = held_out_error(np.zeros((2, 2)), test)
    assert got["relative_error"] == pytest.approx(1.0)
    assert got["rmse"] == pytest.approx(5e200 / np.sqrt(2))


def test_early_stopping_keeps_validation_best():
    path = [np.full((2, 2), v) for v in (5.0, 3.0, 1.5, 2.0, 2.5, 3.0, 4.0)]
    stop = EarlyStopping(lambda x: float(x[0, 0]), patience=3)
    stopped_at = None
    for step, point in enumerate(path):
        if stop(step, point):
            stopped_at = step
            break
    assert stopped_at == 5 and stop.best_step == 2
    np.testing.assert_array_equal(stop.best_point, path[2])
    assert stop.best_point is not path[2]
    assert [v for _, v in stop.history] == [5.0, 3.0, 1.5, 2.0, 2.5, 3.0]
    for bad in [dict(patience=0), dict(patience=True), dict(min_delta=-1.0)]:
        with pytest.raises(ValueError):
            EarlyStopping(lambda x: 0.0, **bad)


def test_early_stopping_relative_patience_crosses_a_plateau():
    # validation curve with a plateau: best 1.0 at step 10, flat until step 45, then 0.5
    steps = range(0, 100, 5)
    values = {s: (2.0 if s < 10 else 1.0 if s < 50 else 0.5) for s in steps}
    plain = EarlyStopping(lambda v: v, patience=2)
    stopped = next(s for s in steps if plain(s, values[s]))
    assert stopped == 20 and plain.best_value == 1.0  # two flat evaluations after step 10
    # waits until step - best >= 4 * best: crosses the plateau (40 >= 40 only at step 50,
    # where the value improves); after the new best 50 it would wait until step 250
    rel = EarlyStopping(lambda v: v, patience=2, relative_patience=4.0)
    decisions = [rel(s, values[s]) for s in steps]
    assert not any(decisions) and rel.best_step == 50 and rel.best_value == 0.5
    short = EarlyStopping(lambda v: v, patience=2, relative_patience=1.0)
    stopped = next(s for s in steps if short(s, values[s]))
    assert stopped == 20 and short.best_step == 10  # 20 - 10 >= 1 * 10: stops on the plateau
    for bad in [-1.0, float("nan"), float("inf"), True, "1"]:
        with pytest.raises(ValueError, match="relative_patience"):
            EarlyStopping(lambda v: v, relative_patience=bad)


def test_images():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3)).astype(np.uint8)
    grey = grayscale(rgb)
    expected = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    np.testing.assert_allclose(grey, expected, rtol=1e-12)
    small = downsample(grey, 3)
    loop = np.array([[grey[3 * i:3 * i + 3, 3 * j:3 * j + 3].mean() for j in range(2)]
                     for i in range(2)])
    np.testing.assert_allclose(small, loop, rtol=1e-12)
    s = observe_pixels(grey, 0.25, seed=0, validation=0.2)
    counts = [s.train.n_observed, s.validation.n_observed, s.test.n_observed]
    assert sum(counts) == 48 and counts[0] + counts[1] == 12 and counts[1] == 2
    full = np.full(grey.shape, np.nan)
    for part in (s.train, s.validation, s.test):
        assert np.all(np.isnan(full[part.rows, part.cols]))
        full[part.rows, part.cols] = part.values
    np.testing.assert_array_equal(full, grey)
    for bad in [np.ones((2, 2, 2)), np.full((2, 2), 2.0), np.ones((2, 2), bool)]:
        with pytest.raises(ValueError, match="image"):
            grayscale(bad)
    with pytest.raises(ValueError, match="fraction"):
        observe_pixels(grey, 1.0)


def test_early_stopping_rule_inside_factored_gd_keeps_the_validation_best_point():
    """The stop rule of EarlyStopping in lowrank GD picks the best of an independent replay."""
    from geodln.flows import Every
    from geodln.lowrank import (
        SparseCompletion,
        lowrank_gradient_descent,
        random_factored_point,
    )

    rng = np.random.default_rng(7)
    m, n = 14, 10
    truth = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n))
    noisy = truth + 0.8 * rng.standard_normal((m, n))  # noisy train: validation error turns up
    flat = rng.permutation(m * n)
    train, val = flat[:80], flat[80:120]
    loss = SparseCompletion(np.divmod(train, n), noisy.ravel()[train], (m, n))
    rows, cols = np.divmod(val, n)

    def val_rmse(x):  # independent numpy evaluation on dense matrices [..., m, n]
        return np.sqrt(np.mean((x[..., rows, cols] - truth[rows, cols]) ** 2, axis=-1))

    held = ratings_from_arrays(rows, cols, truth[rows, cols], row_index=np.arange(m),
                               col_index=np.arange(n))
    stop = EarlyStopping(HeldOutError(held).metric("rmse"), patience=4)
    x0 = random_factored_point(m, n, 6, seed=1, spectrum=np.full(6, 1e-2))
    eta, every = 0.05, 5
    run = lowrank_gradient_descent(loss, x0, 2, eta, 4000, stop=stop.stop_rule(every, eta))
    last = stop.history[-1][0]
    replay = lowrank_gradient_descent(loss, x0, 2, eta, last, record=Every(every, factors=True))
    steps = np.rint(replay.times / eta).astype(int)
    dense = replay.X.to_dense()
    scores = val_rmse(dense)
    upto = steps <= last
    assert run.status == "stopped" and last < 4000
    assert stop.best_step == steps[upto][np.argmin(scores[upto])]
    assert stop.best_value == pytest.approx(scores[upto].min(), rel=1e-10)
    np.testing.assert_allclose(stop.best_point.to_dense(), dense[steps == stop.best_step][0],
                               rtol=1e-10, atol=1e-12)


def test_early_stopping_nan_first_value_and_numpy_numbers():
    stop = EarlyStopping(lambda v: v, patience=2, min_delta=np.float32(0.0))
    assert [stop(s, float("nan")) for s in (0, 1, 2)] == [False, True, True]
    assert stop.best_step is None and stop.best_point is None
    rule = EarlyStopping(lambda v: v, patience=1).stop_rule(every=1, step_size=np.int64(1))
    assert rule(0.0, 1.0, None) is False
    with pytest.raises(ValueError, match="one run"):
        rule(np.zeros(3), np.ones(3), None)


def test_early_stopping_rule_with_dense_gradient_descent_single_run():
    import geodln

    loss = geodln.MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 1.0], shape=(2, 2))
    # metric: distance to the minimiser I; it falls every step, so the best is the last point
    stop = EarlyStopping(lambda x: float(np.sum((x - np.eye(2)) ** 2)), patience=1)
    traj = geodln.gradient_descent(loss, 0.1 * np.eye(2), 0.05, 20, metric=2,
                                   stop=stop.stop_rule(every=5, step_size=0.05))
    assert [s for s, _ in stop.history] == [0, 5, 10, 15, 20]
    assert stop.best_step == 20
    np.testing.assert_allclose(stop.best_point, traj.final_X, rtol=1e-15)


def test_readers_refuse_non_paths():
    from geodln.data import read_movielens

    for bad in (True, 0, None, 1.5, ["u.data"]):
        with pytest.raises(ValueError, match="path"):
            read_movielens(bad)
