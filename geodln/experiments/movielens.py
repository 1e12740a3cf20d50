r"""MovieLens-100K: does depth help on real ratings? (our protocol; ACHL19 Sect. 5 setting).

ACHL19 (Arora, Cohen, Hu, Luo, arXiv:1905.13655, Sect. 5) run deep matrix factorisation on
MovieLens-100K to show that its dynamics, not an explicit rank constraint, produce low-rank
solutions. This experiment is **ours**: it asks the practical question on that data set —
test RMSE of the DLN dynamics of depth 1–4 at the validation-best point, against soft-impute
(MHT10) — with the protocol of :mod:`geodln.experiments.depth_study`:

- data: the user's copy of MovieLens-100K (``--data`` = the ``ml-100k`` folder or a ``uK.base``
  file); the data set's own split ``uK.base`` / ``uK.test`` (``split``, default 1), 10 % of
  ``uK.base`` drawn at random (seeded) as the validation set; nothing is downloaded;
- offsets: global mean + user and item biases fitted beforehand by ridge least squares
  (λ = 5) on the training part;
- DLN: factored downstairs GD on rank-``work_rank`` matrices (20), start
  :math:`\alpha = 10^{-3}`, stable fixed step per depth, early stopping on validation RMSE.

Sizes: ``tiny`` (test suite, any small file: depths 1–2, rank 3, 200 steps), ``reduced``
(depths 1–4, 2 000 steps), ``full`` (depths 1–4, 200 000 steps; early stopping ends sooner).
"""

import os

from geodln.data import fit_offsets, read_movielens_split
from geodln.experiments._common import finish, start_run
from geodln.experiments.depth_study import StudySettings, compare_depths, save_study

__all__ = ["run", "SETTINGS", "NAME", "OFFSET_REGULARIZATION", "VALIDATION_FRACTION"]

NAME = "movielens"
OFFSET_REGULARIZATION = 5.0
VALIDATION_FRACTION = 0.1

SETTINGS = {
    "tiny": StudySettings(depths=(1, 2), work_rank=3, n_steps=200, eval_every=10, patience=4,
                          n_lambdas=5),
    "reduced": StudySettings(depths=(1, 2, 3, 4), work_rank=20, n_steps=2000, eval_every=20,
                             patience=6),
    "full": StudySettings(depths=(1, 2, 3, 4), work_rank=20, n_steps=200000, eval_every=50,
                          patience=10),
}


def split_paths(data, split=1):
    """Return ``(base, test)`` paths of split ``split`` from a folder or a ``uK.base`` path.

    Parameters
    ----------
    data : str or path-like
        The ``ml-100k`` folder, or the path of a ``uK.base`` file (its ``uK.test`` beside it).
    split : int
        K in 1..5 when ``data`` is a folder.

    Returns
    -------
    base, test : str

    Raises
    ------
    ValueError
        If ``data`` is missing, or the files do not exist.
    """
    if data is None:
        raise ValueError("data: pass the path of your MovieLens-100K folder (ml-100k) or of "
                         "a uK.base file; it is not shipped or downloaded")
    if not isinstance(data, str | os.PathLike):
        raise ValueError(f"data must be a path (str or os.PathLike), got {data!r}")
    data = os.fspath(data)
    if os.path.isdir(data):
        base = os.path.join(data, f"u{split}.base")
    else:
        base = data
    test = base[: -len(".base")] + ".test" if base.endswith(".base") else None
    if test is None:
        raise ValueError(f"data: expected the ml-100k folder or a uK.base file (its uK.test "
                         f"beside it), got {base!r}; the experiment needs the data set's own "
                         f"train/test split, not the whole u.data")
    if not (os.path.isfile(base) and os.path.isfile(test)):
        raise ValueError(f"data: expected {base!r} and its .test file {test!r} beside it")
    return base, test


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None, data=None,
        split=1):
    """Compare depths 1–4 and soft-impute on a MovieLens split (see the module docstring).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder.
    full : bool
        Full step budget.
    seed : int
        Validation draw and start frames.
    n_jobs : int, optional
        Unused (one process; kept for the common experiment signature).
    progress : bool
        Progress bar over the depths.
    size : {"tiny", "reduced", "full"}, optional
    data : str or path-like
        The ``ml-100k`` folder or a ``uK.base`` file.
    split : int
        Which of the data set's five splits (folder ``data`` only).

    Returns
    -------
    summary : dict

    Raises
    ------
    ValueError
        If ``data`` is missing or malformed (with the file and line).
    """
    base, test = split_paths(data, split)
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    settings = SETTINGS[size]
    parts = read_movielens_split(base, test, validation=VALIDATION_FRACTION, seed=seed)
    offsets = fit_offsets(parts.train, regularization=OFFSET_REGULARIZATION)
    rows, cfg = compare_depths(parts, offsets, settings, seed=seed, progress=progress)
    rows = save_study(out_dir, NAME, rows, "validation RMSE (ratings)")
    dln = [r for r in rows if "depth" in r]
    best = min(dln, key=lambda r: r["test_rmse"])
    claims = {
        "best_depth": best["depth"],
        "best_test_rmse": best["test_rmse"],
        "soft_impute_test_rmse": rows[-1]["test_rmse"],
        "deeper_beats_depth_1": bool(
            min(r["test_rmse"] for r in dln if r["depth"] > 1) < dln[0]["test_rmse"]
        ) if len(dln) > 1 else None,
    }
    summary = {
        "size": size, "seed": seed, "rows": rows, "claims": claims,
        "settings": {**cfg, "files": [os.path.basename(base), os.path.basename(test)],
                     "shape": list(parts.train.shape),
                     "n_train": parts.train.n_observed,
                     "n_validation": parts.validation.n_observed,
                     "n_test": parts.test.n_observed,
                     "offsets": f"mean + user/item biases, ridge {OFFSET_REGULARIZATION}"},
    }
    return finish(out_dir, NAME, summary, rows, started)
