"""Tests of geodln.plotting.volume: the log-volume heat map over an affine slice (CMV Fig. 5).

The plotted image is checked pixel by pixel (at sampled grid points) against -1/2 log det of
the defining N-term sum A_{N,X} (tests/brute.py) at X = B + s D1 + t D2, and the drawn rank
locus against the hyperbola x12 x21 = 1 of the diagonal-completion plane.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from brute import brute_cometric_matrix  # noqa: E402

from geodln.entropy import log_orbit_volume  # noqa: E402
from geodln.plotting.volume import (  # noqa: E402
    SlicePlane,
    SliceStyle,
    diagonal_completion_slice,
    log_volume_on_slice,
    plot_log_volume_slice,
)
from geodln.spectral import ArithmeticMeanKernel  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _brute_log_density(x, depth, normalized=False):
    sign, logdet = np.linalg.slogdet(brute_cometric_matrix(x, depth, normalized))
    assert sign > 0
    return -0.5 * logdet


def test_diagonal_completion_slice_is_the_cmv_plane():
    base, dirs = diagonal_completion_slice()
    x = base + 0.3 * dirs[0] - 1.7 * dirs[1]
    np.testing.assert_array_equal(x, [[1.0, 0.3], [-1.7, 1.0]])


@pytest.mark.parametrize("depth,normalized", [(3, False), (5, True)])
def test_heat_map_values_against_brute_force(depth, normalized):
    res = 41
    fig, ax = plot_log_volume_slice(depth, normalized, plane=SlicePlane(resolution=res))
    assert isinstance(fig, matplotlib.figure.Figure)
    assert ax in fig.axes
    image = ax.images[0].get_array()
    assert image.shape == (res, res)
    s = t = np.linspace(-3.0, 3.0, res)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, res, size=(12, 2)):
        x = np.array([[1.0, s[j]], [t[i], 1.0]])  # row i is x21 = t[i], column j is x12 = s[j]
        if abs(np.linalg.det(x)) < 1e-12:
            assert np.ma.is_masked(image[i, j])
            continue
        np.testing.assert_allclose(
            image[i, j], _brute_log_density(x, depth, normalized), rtol=1e-10, atol=1e-10
        )
    # the image is oriented with x12 horizontal and x21 vertical, origin at the lower left
    assert ax.images[0].get_extent() == [-3.0, 3.0, -3.0, 3.0]
    assert ax.images[0].origin == "lower"


def test_rank_one_hyperbola_is_drawn():
    fig, ax = plot_log_volume_slice(5, plane=SlicePlane(resolution=301))
    contour = [c for c in ax.collections if hasattr(c, "get_paths") and c.get_paths()]
    verts = np.concatenate([p.vertices for c in contour for p in c.get_paths()])
    assert len(verts) > 50
    # linear interpolation of det = 1 - x12 x21 between grid points: error O(h^2)
    np.testing.assert_allclose(verts[:, 0] * verts[:, 1], 1.0, atol=5e-3)
    # both branches
    assert np.any(verts[:, 0] > 0) and np.any(verts[:, 0] < 0)


def test_generic_slice_kernel_and_points():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3, 3))
    dirs = rng.standard_normal((2, 3, 3))
    kernel = ArithmeticMeanKernel(1.0)
    s, t, vals = log_volume_on_slice(base, dirs, kernel, extent=(-1, 1, -0.5, 0.5), resolution=7)
    x = base + s[2] * dirs[0] + t[5] * dirs[1]
    a = 0.5 * (np.kron(x @ x.T, np.eye(3)) + np.kron(np.eye(3), x.T @ x))
    np.testing.assert_allclose(vals[5, 2], -0.5 * np.linalg.slogdet(a)[1], rtol=1e-10)
    fig, ax = plot_log_volume_slice(
        kernel, plane=SlicePlane(base, dirs, extent=(-1, 1, -0.5, 0.5), resolution=21),
        points=[[0.1, 0.2]]
    )
    assert ax.get_xlabel() == "s"
    assert len(ax.collections) >= 1


def test_entropy_quantity_and_non_square_slice():
    base, dirs = diagonal_completion_slice()
    s, t, vals = log_volume_on_slice(base, dirs, 3, quantity="entropy", resolution=5)
    x = base + s[1] * dirs[0] + t[3] * dirs[1]
    np.testing.assert_allclose(vals[3, 1], log_orbit_volume(x, 3), rtol=1e-14)
    fig, ax = plot_log_volume_slice(3, quantity="entropy", plane=SlicePlane(resolution=21))
    assert np.all(np.isfinite(ax.images[0].get_array()))  # the orbit volume is finite
    # a non-square slice: no rank locus by default
    rng = np.random.default_rng(2)
    fig, ax = plot_log_volume_slice(
        2, plane=SlicePlane(rng.standard_normal((2, 3)), rng.standard_normal((2, 2, 3)),
                            resolution=11)
    )
    assert ax.images


def test_infinite_depth_plot():
    fig, ax = plot_log_volume_slice(np.inf, True, plane=SlicePlane(resolution=21))
    assert "inf" in ax.get_title()


def test_bad_input():
    base, dirs = diagonal_completion_slice()
    with pytest.raises(ValueError, match="directions"):
        SlicePlane(base, dirs[0])
    with pytest.raises(ValueError, match="both"):
        SlicePlane(base=base)
    with pytest.raises(ValueError, match="quantity"):
        plot_log_volume_slice(3, quantity="volume")
    with pytest.raises(ValueError, match="extent"):
        SlicePlane(extent=(1, -1, 0, 1))
    with pytest.raises(ValueError, match="resolution"):
        SlicePlane(resolution=1)
    with pytest.raises(ValueError, match="points"):
        plot_log_volume_slice(3, plane=SlicePlane(resolution=5), points=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="square"):
        plot_log_volume_slice(3, plane=SlicePlane(np.ones((2, 3)), np.ones((2, 2, 3))),
                              style=SliceStyle(rank_locus=True))
    with pytest.raises(ValueError, match="depth"):
        plot_log_volume_slice(0, plane=SlicePlane(resolution=5))
    with pytest.raises(ValueError, match="vmax_quantile"):
        SliceStyle(vmax_quantile=1.5)
    with pytest.raises(ValueError, match="colorbar"):
        SliceStyle(colorbar=1)
    with pytest.raises(ValueError, match="plane"):
        plot_log_volume_slice(3, plane=(base, dirs))
    with pytest.raises(ValueError, match="style"):
        plot_log_volume_slice(3, plane=SlicePlane(resolution=5), style={"cmap": "gray"})
