"""Measures: effective rank from its definition, norms and det against numpy."""

import numpy as np
import pytest

from geodln.measures import (
    det_sign,
    effective_rank,
    effective_rank_from_singular_values,
    frobenius_norm,
    log_abs_det,
    nuclear_norm,
    singular_values,
)


def _erank_by_definition(s):
    p = [x / sum(s) for x in s if x > 0]
    return float(np.exp(-sum(q * np.log(q) for q in p)))


def test_effective_rank_limits_and_definition():
    g = np.random.default_rng(0)
    u = g.standard_normal((5, 1))
    assert effective_rank(u @ u.T) == pytest.approx(1.0, abs=1e-7)
    assert effective_rank(np.eye(4) * 3.0) == pytest.approx(4.0)
    assert effective_rank(np.zeros((3, 3))) == 0.0
    x = g.standard_normal((5, 3))
    s = np.linalg.svd(x, compute_uv=False)
    assert effective_rank(x) == pytest.approx(_erank_by_definition(s), rel=1e-13)
    assert effective_rank_from_singular_values([2.0, 0.0, 0.0]) == pytest.approx(1.0)


def test_effective_rank_batched_and_scale_invariant():
    g = np.random.default_rng(1)
    xs = g.standard_normal((4, 3, 3))
    er = effective_rank(xs)
    assert er.shape == (4,)
    for i in range(4):
        assert er[i] == pytest.approx(effective_rank(7.0 * xs[i]), rel=1e-12)
        assert 1.0 <= er[i] <= 3.0


def test_norms_match_numpy():
    g = np.random.default_rng(2)
    x = g.standard_normal((4, 6))
    assert frobenius_norm(x) == pytest.approx(np.linalg.norm(x, "fro"))
    assert nuclear_norm(x) == pytest.approx(np.linalg.norm(x, "nuc"))
    eig = np.sort(np.linalg.eigvalsh(x @ x.T))[::-1]
    np.testing.assert_allclose(singular_values(x), np.sqrt(eig))


def test_det_sign_and_log_abs_det():
    g = np.random.default_rng(3)
    xs = g.standard_normal((6, 3, 3))
    dets = np.array([np.linalg.det(x) for x in xs])
    np.testing.assert_array_equal(det_sign(xs), np.sign(dets))
    np.testing.assert_allclose(log_abs_det(xs), np.log(np.abs(dets)), rtol=1e-12)
    assert det_sign(np.diag([1.0, 0.0])) == 0.0
    tiny = np.diag([1e-200, 1e-200])  # det underflows; log|det| does not
    assert log_abs_det(tiny) == pytest.approx(2 * np.log(1e-200))


def test_measure_validation():
    with pytest.raises(ValueError, match="square"):
        det_sign(np.ones((2, 3)))
    with pytest.raises(ValueError, match="x contains NaN"):
        frobenius_norm(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="non-negative"):
        effective_rank_from_singular_values([1.0, -1.0])
