r"""Image inpainting: depth 1–4 of the DLN dynamics against soft-impute (our protocol).

Complete a grey-level photograph from a random quarter of its pixels — the standard image
test of implicit low-rank regularisation — with the protocol of
:mod:`geodln.experiments.depth_study` (factored downstairs GD at working rank
``work_rank``, small start, stable fixed step, early stopping on a validation tenth of the
observed pixels; soft-impute with λ chosen on the same validation pixels). No offsets: the
dynamics complete the grey levels themselves. The score is the relative error on the
unobserved pixels, :math:`\|\hat B_T - B_T\|/\|B_T\|`.

The image: ``--data PATH`` (any PNG/JPEG matplotlib can read), or by default scikit-learn's
sample photograph ``china.jpg`` (install the ``examples`` extra; it ships with scikit-learn,
nothing is downloaded), converted to grey (ITU-R BT.601) and block-averaged by
``downsample`` (full: 2, i.e. 213 × 320).

Sizes: ``tiny`` (test suite: depths 1–2, rank 4, 200 steps, downsampled by 8),
``reduced`` (depths 1–4, rank 30, 2 000 steps, by 4), ``full`` (depths 1–4, rank 50,
200 000 steps, by 2). Every size waits ``relative_patience`` = 3 times the best step before
stopping (see :mod:`geodln.experiments.depth_study`).
"""

import os

from geodln.data import downsample as block_average
from geodln.data import fit_offsets, grayscale, observe_pixels
from geodln.experiments._common import finish, start_run
from geodln.experiments.depth_study import StudySettings, compare_depths, save_study

__all__ = ["run", "SETTINGS", "NAME", "OBSERVED_FRACTION", "load_image"]

NAME = "inpainting"
OBSERVED_FRACTION = 0.25
VALIDATION_FRACTION = 0.1

SETTINGS = {
    "tiny": (8, StudySettings(depths=(1, 2), work_rank=4, n_steps=200, eval_every=10,
                              patience=4, n_lambdas=5)),
    "reduced": (4, StudySettings(depths=(1, 2, 3, 4), work_rank=30, n_steps=2000,
                                 eval_every=20, patience=6)),
    "full": (2, StudySettings(depths=(1, 2, 3, 4), work_rank=50, n_steps=200000,
                              eval_every=50, patience=10)),
}


def load_image(path=None):
    """Read an image file, or scikit-learn's ``china.jpg`` when ``path`` is None.

    Parameters
    ----------
    path : str or path-like, optional

    Returns
    -------
    grey : ndarray, shape=[m, n]
        Grey levels in [0, 1].

    Raises
    ------
    ValueError
        If the file cannot be read, or scikit-learn is missing for the default image.

    Examples
    --------
    >>> from geodln.experiments.inpainting import load_image
    >>> grey = load_image()
    >>> grey.shape, bool(grey.min() >= 0.0 and grey.max() <= 1.0)
    ((427, 640), True)
    """
    if path is None:
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            raise ValueError("data: the default image needs scikit-learn "
                             "(pip install 'geodln[examples]'), or pass an image path") from None
        return grayscale(load_sample_image("china.jpg"))
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(os.fspath(path))
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"data: cannot read an image from {path!r} ({exc})") from None
    return grayscale(img)


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None, data=None):
    """Inpaint an image with depths 1–4 and soft-impute (see the module docstring).

    Parameters
    ----------
    out_dir : str or os.PathLike
    full : bool
    seed : int
        Pixel mask and start frames.
    n_jobs : int, optional
        Unused (kept for the common experiment signature).
    progress : bool
    size : {"tiny", "reduced", "full"}, optional
    data : str or path-like, optional
        An image file (default: scikit-learn's ``china.jpg``).

    Returns
    -------
    summary : dict

    Raises
    ------
    ValueError
        If the image cannot be loaded.
    """
    grey = load_image(data)
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    factor, settings = SETTINGS[size]
    factor = min(factor, max(1, min(grey.shape) // 8))
    image = block_average(grey, factor)
    parts = observe_pixels(image, OBSERVED_FRACTION, seed=seed, validation=VALIDATION_FRACTION)
    offsets = fit_offsets(parts.train, kind="none")
    settings = StudySettings(**{**settings.__dict__,
                                "work_rank": min(settings.work_rank, min(image.shape) // 2)})
    rows, cfg = compare_depths(parts, offsets, settings, seed=seed, progress=progress)
    rows = save_study(out_dir, NAME, rows, "validation RMSE (grey levels)")
    dln = [r for r in rows if "depth" in r]
    best = min(dln, key=lambda r: r["test_relative_error"])
    claims = {
        "best_depth": best["depth"],
        "best_relative_error": best["test_relative_error"],
        "depth_1_relative_error": dln[0]["test_relative_error"],
        "soft_impute_relative_error": rows[-1]["test_relative_error"],
    }
    summary = {
        "size": size, "seed": seed, "rows": rows, "claims": claims,
        "settings": {**cfg, "image": "china.jpg (scikit-learn)" if data is None
                     else os.path.basename(os.fspath(data)),
                     "downsample": factor, "shape": list(image.shape),
                     "observed_fraction": OBSERVED_FRACTION,
                     "validation_fraction_of_observed": VALIDATION_FRACTION},
    }
    return finish(out_dir, NAME, summary, rows, started)
