r"""Images as completion problems: grey levels, block downsampling, observed-pixel masks.

Image inpainting is the other standard test of implicit low-rank regularization on real data:
observe a random fraction of the pixels of a grey-level image :math:`B \in [0, 1]^{m\times n}`,
complete it with a deep linear network, and score the unobserved pixels. The image itself is
the user's (scikit-learn's ``load_sample_image("china.jpg")`` is a convenient one that ships
with that package); nothing is downloaded.
"""

import numpy as np

from geodln._checks import as_generator, check_positive_int
from geodln.data.ratings import Ratings
from geodln.data.splits import Split

__all__ = ["grayscale", "downsample", "observe_pixels"]

# ITU-R BT.601 luma weights
_LUMA = np.array([0.299, 0.587, 0.114])


def grayscale(image):
    """Grey levels in [0, 1] of an RGB(A) or grey image.

    Parameters
    ----------
    image : array-like, shape=[m, n] or [m, n, 3] or [m, n, 4]
        Integer images are read as 0–255, float images as 0–1.

    Returns
    -------
    grey : ndarray, shape=[m, n]
        ITU-R BT.601 luma of RGB images (alpha is ignored).

    Raises
    ------
    ValueError
        If ``image`` has another shape, is complex/bool, has NaN/inf, or float values outside
        [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> grayscale(np.full((1, 2, 3), 255, dtype=np.uint8))
    array([[1., 1.]])
    """
    img = np.asarray(image)
    if img.dtype == bool or np.iscomplexobj(img) or not np.issubdtype(img.dtype, np.number):
        raise ValueError(f"image must be a real numeric array, got dtype {img.dtype}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))) or img.size == 0:
        raise ValueError(f"image must have shape [m, n] or [m, n, 3|4], got {img.shape}")
    if np.issubdtype(img.dtype, np.integer):
        img = img.astype(float) / 255.0
    img = img.astype(float)
    if not np.all(np.isfinite(img)) or img.min() < 0 or img.max() > 1:
        raise ValueError("image: float grey levels must be finite and within [0, 1]")
    return img if img.ndim == 2 else img[..., :3] @ _LUMA


def downsample(grey, factor):
    """Average non-overlapping ``factor × factor`` blocks (trailing rows/columns dropped).

    Parameters
    ----------
    grey : array-like, shape=[m, n]
    factor : int
        Block size (>= 1).

    Returns
    -------
    small : ndarray, shape=[m // factor, n // factor]

    Raises
    ------
    ValueError
        If ``grey`` is not a 2-d array or ``factor`` is not an int >= 1 no larger than it.

    Examples
    --------
    >>> import numpy as np
    >>> downsample(np.arange(16.).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    g = np.asarray(grey, dtype=float)
    if g.ndim != 2:
        raise ValueError(f"grey must be a 2-d array, got shape {g.shape}")
    f = check_positive_int(factor, "factor")
    if f > min(g.shape):
        raise ValueError(f"factor must be <= {min(g.shape)}, got {f}")
    m, n = g.shape[0] // f, g.shape[1] // f
    return g[: m * f, : n * f].reshape(m, f, n, f).mean(axis=(1, 3))


def observe_pixels(grey, fraction, seed=None, validation=0.0):
    """Observe a uniformly random set of pixels; the rest is the test set.

    Parameters
    ----------
    grey : array-like, shape=[m, n]
        The image (e.g. from :func:`grayscale`).
    fraction : float
        Fraction of pixels observed, in (0, 1).
    seed : int, numpy Generator or None
        Randomness of the mask.
    validation : float
        Fraction of the *observed* pixels held out for validation (early stopping), in [0, 1).

    Returns
    -------
    split : Split
        ``train`` (observed, minus validation), ``validation``, ``test`` (unobserved pixels),
        all in pixel coordinates (row ids ``0..m-1``, column ids ``0..n-1``).

    Raises
    ------
    ValueError
        If ``grey`` is not a finite 2-d array, or a fraction is outside its range.

    Examples
    --------
    >>> import numpy as np
    >>> s = observe_pixels(np.ones((4, 5)), 0.5, seed=0)
    >>> s.train.n_observed, s.test.n_observed
    (10, 10)
    """
    g = np.asarray(grey, dtype=float)
    if g.ndim != 2 or g.size < 2 or not np.all(np.isfinite(g)):
        raise ValueError(f"grey must be a finite 2-d image, got shape {g.shape}")
    for name, value, low_open in (("fraction", fraction, True), ("validation", validation, False)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
            (0 < value < 1) if low_open else (0 <= value < 1)
        ):
            interval = "(0, 1)" if low_open else "[0, 1)"
            raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    rng = as_generator(seed)
    m, n = g.shape
    k = m * n
    perm = rng.permutation(k)
    n_obs = min(max(int(round(fraction * k)), 1), k - 1)
    n_val = int(np.floor(validation * n_obs))
    parts = np.split(perm, [n_obs - n_val, n_obs])
    ids = (np.arange(m), np.arange(n))

    def table(flat):
        flat = np.sort(flat)
        rows, cols = np.divmod(flat, n)
        return Ratings(rows, cols, g[rows, cols], (m, n), *ids)

    return Split(*(table(p) for p in parts))
