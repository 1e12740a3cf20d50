"""Langevin runs that diverge end cleanly (issue 13, section 1).

A step far too large for a superlinear drift makes Euler–Maruyama overflow. Every scheme must
stop with ``status == "diverged"``, keep the last finite state (finite records, non-decreasing
times) with a message blaming ``step_size``, and print no numpy warning. A loss whose gradient is
NaN at the start is bad input: ``ValueError`` naming ``loss``.
"""

import warnings

import numpy as np
import pytest

import geodln
from geodln import langevin
from geodln.factors import balanced_factors
from geodln.langevin import Chains

LOSS = geodln.losses.razin_cohen_completion()


def _quartic(x):
    """Gradient of E(X) = ||X||^4 / 4: superlinear, explodes under a large explicit step."""
    return np.sum(x * x, axis=(-2, -1), keepdims=True) * x


def _runs():
    yield "issue example (root chart)", lambda: langevin.riemannian_langevin(
        LOSS, np.eye(2), 3, 10.0, 10.0, 50)
    yield "entries", lambda: langevin.riemannian_langevin(
        LOSS, np.eye(2), 3, 10.0, 10.0, 50, scheme="entries")
    yield "root, batch", lambda: langevin.riemannian_langevin(
        _quartic, np.eye(2), 2, 10.0, 1.0, 50, chains=Chains(n_chains=3, save_every=1, seed=0))
    yield "free factors", lambda: langevin.factor_langevin(
        _quartic, balanced_factors(3 * np.eye(2), 3), 10.0, 1.0, 50, constrained=False)
    yield "balanced factors", lambda: langevin.factor_langevin(
        _quartic, balanced_factors(3 * np.eye(2), 3), 10.0, 1.0, 50, constrained=True)


@pytest.mark.parametrize("label,run", list(_runs()), ids=[r[0] for r in _runs()])
def test_divergence_ends_cleanly_without_warnings(label, run):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        path = run()
    assert path.status == "diverged", label
    assert "step_size" in path.message and "reduce" in path.message
    states = path.states if hasattr(path, "states") else path.X
    assert np.all(np.isfinite(states))
    assert np.all(np.diff(path.times) > 0) and path.times[0] == 0.0


def test_issue_example_keeps_a_finite_state_beyond_the_start():
    path = langevin.riemannian_langevin(LOSS, np.eye(2), 3, 10.0, 10.0, 50)
    assert path.times[-1] > 0  # the last finite state is kept, not only the start
    # the kept state is where the chain really was: its own X is finite and large
    assert np.all(np.isfinite(path.final)) and np.linalg.norm(path.final) > 10


def test_diverged_path_round_trips(tmp_path):
    path = langevin.riemannian_langevin(LOSS, np.eye(2), 3, 10.0, 10.0, 50)
    path.save(tmp_path / "p.npz")
    back = langevin.LangevinPath.load(tmp_path / "p.npz")
    assert (back.status, back.message) == (path.status, path.message)
    np.testing.assert_array_equal(back.states, path.states)


def test_stable_run_is_completed():
    path = langevin.riemannian_langevin(LOSS, np.eye(2), 3, 10.0, 1e-3, 20, chains=Chains(seed=1))
    assert path.status == "completed" and path.times[-1] == pytest.approx(0.02)


@pytest.mark.parametrize("scheme", ["root", "entries"])
def test_nan_gradient_at_start_names_loss(scheme):
    with pytest.raises(ValueError, match="loss"):
        langevin.riemannian_langevin(lambda x: np.nan * x, np.eye(2), 3, 10.0, 10.0, 50,
                                     scheme=scheme)


def test_gradient_of_wrong_shape_names_loss():
    with pytest.raises(ValueError, match="loss"):
        langevin.riemannian_langevin(lambda x: x[..., 0], np.eye(2), 3, 1.0, 0.1, 5)


@pytest.mark.parametrize("step_size", [True, np.nan, np.inf, 0.0, -1.0, "1"])
def test_bad_step_size_names_step_size(step_size):
    with pytest.raises(ValueError, match="step_size"):
        langevin.riemannian_langevin(LOSS, np.eye(2), 3, 1.0, step_size, 5)
