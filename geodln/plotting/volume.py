r"""Heat maps of the log volume density over a 2-D affine slice of matrices (CMV Fig. 5).

A slice is :math:`X(s, t) = B + s D_1 + t D_2` for a base matrix B and two direction matrices.
The CMV picture is the 2×2 diagonal-completion plane :math:`\{x_{11} = x_{22} = 1\}` with
coordinates :math:`(x_{12}, x_{21})` (:func:`diagonal_completion_slice`), on which the
rank-deficient matrices form the hyperbola :math:`x_{12}x_{21} = 1`, the set of rank-1
minimisers.

Which volume is plotted is explicit (CMV23, Theorem 1.1; MY25, Theorem 4):

- ``quantity="density"`` (default): :func:`geodln.volume.log_volume_density`, the log density
  of :math:`d\mathrm{vol}_{g^N}` with respect to Lebesgue measure on the entries,
  :math:`-\tfrac12\log\det A_{N,X}`. It diverges (to ``+inf``) on the rank-deficient locus.
- ``quantity="entropy"``: :func:`geodln.entropy.log_orbit_volume`, the Menon–Yu orbit volume
  (square slices, integer depth). It stays finite and is *smallest* near the locus.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import matplotlib.pyplot as plt
import numpy as np

from geodln._checks import check_bool, check_matrix, check_positive_int, real_scalar
from geodln.entropy import log_orbit_volume
from geodln.volume import log_volume_density, resolve_kernel

__all__ = ["diagonal_completion_slice", "log_volume_on_slice", "plot_log_volume_slice",
           "SlicePlane", "SliceStyle"]

_QUANTITIES = ("density", "entropy")


def diagonal_completion_slice():
    r"""Return the slice :math:`\{x_{11} = x_{22} = 1\}` of 2×2 matrices (CMV Fig. 4–5).

    Returns
    -------
    base : ndarray, shape=[2, 2]
        The identity.
    directions : ndarray, shape=[2, 2, 2]
        :math:`E_{12}` (coordinate :math:`x_{12}`) and :math:`E_{21}` (:math:`x_{21}`).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 and Fig. 5 (the 2×2
       diagonal completion problem and its plane of solutions).

    Examples
    --------
    >>> from geodln.plotting.volume import diagonal_completion_slice
    >>> base, (d1, d2) = diagonal_completion_slice()
    >>> base + 2.0 * d1 + 0.5 * d2  # x12 = 2, x21 = 0.5: on the hyperbola, rank 1
    array([[1. , 2. ],
           [0.5, 1. ]])
    """
    d1 = np.array([[0.0, 1.0], [0.0, 0.0]])
    d2 = np.array([[0.0, 0.0], [1.0, 0.0]])
    return np.eye(2), np.stack([d1, d2])


def _check_slice(base, directions):
    base = check_matrix(base, "base", allow_batch=False)
    directions = np.asarray(directions, dtype=float)
    if directions.shape != (2,) + base.shape:
        raise ValueError(
            f"directions must have shape (2, {base.shape[0]}, {base.shape[1]}), "
            f"got {directions.shape}"
        )
    check_matrix(directions, "directions")
    return base, directions


def _check_extent(extent):
    extent = tuple(float(e) for e in extent)
    if len(extent) != 4 or not np.all(np.isfinite(extent)) or not (
        extent[0] < extent[1] and extent[2] < extent[3]
    ):
        raise ValueError(f"extent must be finite (s_min, s_max, t_min, t_max), got {extent}")
    return extent


def slice_points(base, directions, s, t):
    """Return the matrices ``B + s D1 + t D2`` on the grid ``t`` (rows) × ``s`` (columns).

    Parameters
    ----------
    base : array-like, shape=[m, n]
    directions : array-like, shape=[2, m, n]
    s, t : array-like, 1-D
        Coordinates along ``directions[0]`` and ``directions[1]``.

    Returns
    -------
    points : ndarray, shape=[len(t), len(s), m, n]
    """
    base, directions = _check_slice(base, directions)
    s = np.asarray(s, float)[None, :, None, None]
    t = np.asarray(t, float)[:, None, None, None]
    return base + s * directions[0] + t * directions[1]


def log_volume_on_slice(
    base,
    directions,
    depth,
    normalized=False,
    extent=(-3.0, 3.0, -3.0, 3.0),
    resolution=201,
    quantity="density",
):
    """Evaluate a log volume on a regular grid of the slice ``B + s D1 + t D2``.

    Parameters
    ----------
    base : array-like, shape=[m, n]
        B.
    directions : array-like, shape=[2, m, n]
        D1, D2.
    depth : int, numpy.inf or SpectralKernel
        Depth N (``inf`` needs ``normalized=True``) or any kernel (``quantity="density"``).
    normalized : bool
        CMV normalisation :math:`A/N` (density only).
    extent : tuple of float
        ``(s_min, s_max, t_min, t_max)``.
    resolution : int
        Grid points per axis.
    quantity : {"density", "entropy"}
        Log volume density of :math:`g^N` (full rank, w.r.t. Lebesgue) or Menon–Yu entropy.

    Returns
    -------
    s, t : ndarray
        Grid coordinates, shapes ``[resolution]``.
    values : ndarray, shape=[resolution, resolution]
        ``values[i, j]`` at ``(s[j], t[i])``; ``±inf`` on the rank-deficient locus.

    Raises
    ------
    ValueError
        If ``quantity`` is not ``"density"`` or ``"entropy"``, ``resolution`` is not an integer
        >= 2, ``extent`` is not four finite numbers, ``base``/``directions`` are not finite
        ``[m, n]``/``[2, m, n]`` arrays, ``normalized`` is combined with ``"entropy"``, or
        ``depth`` is invalid for the chosen quantity.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Theorem 1.1 (volume form of
       :math:`g^N`) and Fig. 5.
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (orbit volume, ``quantity="entropy"``).

    Examples
    --------
    >>> from geodln.plotting.volume import diagonal_completion_slice, log_volume_on_slice
    >>> base, directions = diagonal_completion_slice()
    >>> s, t, values = log_volume_on_slice(base, directions, depth=3, resolution=5)
    >>> values.shape, float(s[0]), float(t[-1])
    ((5, 5), -3.0, 3.0)
    """
    if quantity not in _QUANTITIES:
        raise ValueError(f"quantity must be one of {_QUANTITIES}, got {quantity!r}")
    res = check_positive_int(resolution, "resolution", minimum=2)
    s0, s1, t0, t1 = _check_extent(extent)
    s, t = np.linspace(s0, s1, res), np.linspace(t0, t1, res)
    points = slice_points(base, directions, s, t)
    if quantity == "density":
        values = log_volume_density(points, depth, normalized=normalized)
    else:
        if normalized:
            raise ValueError("normalized applies to quantity='density' only")
        values = log_orbit_volume(points, depth)
    return s, t, values


class SlicePlane:
    r"""The affine slice :math:`X(s, t) = B + s D_1 + t D_2` and the grid a heat map is drawn on.

    Parameters
    ----------
    base, directions : array-like, optional
        B ``[m, n]`` and ``[D1, D2]`` ``[2, m, n]``; both None (default): the CMV 2×2
        diagonal-completion plane (:func:`diagonal_completion_slice`).
    extent : tuple of float
        ``(s_min, s_max, t_min, t_max)``.
    resolution : int
        Grid points per axis (>= 2).

    Raises
    ------
    ValueError
        If only one of ``base`` and ``directions`` is given, they are not finite ``[m, n]`` /
        ``[2, m, n]`` arrays, ``extent`` is not four finite increasing bounds, or
        ``resolution`` is not an integer >= 2.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 5 (the plane of solutions of
       the 2×2 diagonal completion).

    Examples
    --------
    >>> from geodln.plotting.volume import SlicePlane
    >>> plane = SlicePlane(extent=(-1, 1, -2, 2), resolution=5)
    >>> plane.default, plane.base.shape, plane.extent
    (True, (2, 2), (-1.0, 1.0, -2.0, 2.0))
    """

    def __init__(self, base=None, directions=None, extent=(-3.0, 3.0, -3.0, 3.0),
                 resolution=201):
        self.default = base is None and directions is None
        if self.default:
            base, directions = diagonal_completion_slice()
        elif base is None or directions is None:
            raise ValueError("pass both base and directions, or neither (diagonal-completion "
                             "plane)")
        self.base, self.directions = _check_slice(base, directions)
        self.extent = _check_extent(extent)
        self.resolution = check_positive_int(resolution, "resolution", minimum=2)

    @property
    def square(self):
        """Whether the slice's matrices are square."""
        return self.base.shape[0] == self.base.shape[1]


class SliceStyle:
    r"""How :func:`plot_log_volume_slice` draws: colours, colour bar, labels, the locus.

    Parameters
    ----------
    cmap : str
        Colormap.
    vmax_quantile : float
        Upper colour limit as a quantile of the finite values, in (0, 1] (the density blows
        up near the locus).
    colorbar : bool
        Add a colour bar.
    labels : tuple of str, optional
        Axis labels (default :math:`x_{12}`, :math:`x_{21}` for the default slice, else
        ``s``, ``t``).
    rank_locus : bool, optional
        Draw the zero set of :math:`\det X(s, t)` (square slices; default: when square).

    Raises
    ------
    ValueError
        If ``vmax_quantile`` is not a number in (0, 1], ``colorbar`` is not a bool or
        ``labels`` is not a pair of strings.

    Examples
    --------
    >>> from geodln.plotting.volume import SliceStyle
    >>> SliceStyle(vmax_quantile=0.97, colorbar=False).vmax_quantile
    0.97
    """

    def __init__(self, cmap="viridis", vmax_quantile=0.99, colorbar=True, labels=None,
                 rank_locus=None):
        q = real_scalar(vmax_quantile)
        if q is None or not 0 < q <= 1:
            raise ValueError(f"vmax_quantile must be in (0, 1], got {vmax_quantile!r}")
        self.cmap, self.vmax_quantile = cmap, float(q)
        self.colorbar = check_bool(colorbar, "colorbar")
        if labels is not None and (len(labels) != 2
                                   or not all(isinstance(x, str) for x in labels)):
            raise ValueError(f"labels must be a pair of strings, got {labels!r}")
        self.labels = None if labels is None else tuple(labels)
        self.rank_locus = None if rank_locus is None else check_bool(rank_locus, "rank_locus")


def plot_log_volume_slice(depth=5, normalized=False, *, plane=None, quantity="density",
                          points=None, ax=None, style=None):
    r"""Heat map of a log volume over an affine slice, with the rank-deficient locus drawn.

    Default slice: the CMV 2×2 diagonal-completion plane (:func:`diagonal_completion_slice`),
    where the locus is the hyperbola :math:`x_{12}x_{21} = 1` of rank-1 solutions (CMV Fig. 5).

    Parameters
    ----------
    depth : int, numpy.inf or SpectralKernel
        Depth N (``inf`` needs ``normalized=True``) or any spectral kernel.
    normalized : bool
        CMV normalisation :math:`A/N`.
    plane : SlicePlane, optional
        The slice, its extent and resolution (default ``SlicePlane()``: the
        diagonal-completion plane on ``[-3, 3]²``, 201 points per axis).
    quantity : {"density", "entropy"}
        :func:`geodln.volume.log_volume_density` (diverges on the locus) or the Menon–Yu
        entropy :func:`geodln.entropy.log_orbit_volume` (finite, small on the locus).
    points : array-like, shape=[k, 2], optional
        Slice coordinates ``(s, t)`` to scatter on top (e.g. training outcomes).
    ax : matplotlib Axes, optional
        Axes to draw in (default: a new figure).
    style : SliceStyle, optional
        Colormap, colour limit, colour bar, labels, rank locus (default ``SliceStyle()``).

    Returns
    -------
    fig : matplotlib Figure
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If ``plane`` or ``style`` is not a :class:`SlicePlane` / :class:`SliceStyle`, the rank
        locus is asked for a non-square slice, the log volume is infinite on the whole grid,
        ``points`` is not [k, 2], or any argument of :func:`log_volume_on_slice` is invalid.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 5 (log volume over the plane of
       solutions) and Theorem 1.1.
    .. [2] MY25: Menon, Yu, arXiv:2509.09088, Theorem 4 (``quantity="entropy"``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from geodln.plotting.volume import SlicePlane, plot_log_volume_slice
    >>> fig, ax = plot_log_volume_slice(3, plane=SlicePlane(resolution=21))
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('$x_{12}$', '$x_{21}$')
    """
    plane = SlicePlane() if plane is None else plane
    style = SliceStyle() if style is None else style
    if not isinstance(plane, SlicePlane):
        raise ValueError(f"plane must be a SlicePlane, got {type(plane).__name__}")
    if not isinstance(style, SliceStyle):
        raise ValueError(f"style must be a SliceStyle, got {type(style).__name__}")
    base, directions = plane.base, plane.directions
    rank_locus = plane.square if style.rank_locus is None else style.rank_locus
    if rank_locus and not plane.square:
        raise ValueError("rank_locus (the det = 0 set) needs a square slice")
    s, t, values = log_volume_on_slice(
        base, directions, depth, normalized, plane.extent, plane.resolution, quantity
    )
    finite = np.isfinite(values)
    if not np.any(finite):
        raise ValueError("the log volume is infinite on the whole grid; change extent")
    masked = np.ma.masked_invalid(values)
    vmin = float(np.min(values[finite]))
    vmax = float(np.quantile(values[finite], style.vmax_quantile))
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
    else:
        fig = ax.figure
    image = ax.imshow(
        masked,
        origin="lower",
        extent=(s[0], s[-1], t[0], t[-1]),
        aspect="auto",
        cmap=style.cmap,
        vmin=vmin,
        vmax=max(vmax, vmin + 1e-12),
        interpolation="nearest",
    )
    if style.colorbar:
        name = "log density" if quantity == "density" else "entropy S"
        fig.colorbar(image, ax=ax, label=name)
    if rank_locus:
        det = np.linalg.det(slice_points(base, directions, s, t))
        ax.contour(s, t, det, levels=[0.0], colors="white", linewidths=1.2)
    if points is not None:
        pts = np.asarray(points, float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"points must have shape (k, 2), got {pts.shape}")
        ax.scatter(pts[:, 0], pts[:, 1], s=4, c="red", alpha=0.5, linewidths=0)
    labels = style.labels
    if labels is None:
        labels = ("$x_{12}$", "$x_{21}$") if plane.default else ("s", "t")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    kname = resolve_kernel(depth, normalized).name
    ax.set_title(f"{'log volume density' if quantity == 'density' else 'entropy'} ({kname})")
    return fig, ax
