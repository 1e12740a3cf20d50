r"""Splits of observed entries into training, validation and test sets.

Implicit-regularization claims are about the *unobserved* entries, so a real-data experiment
fits on one part of :math:`\Omega` and measures on another (ACHL19, Sect. 5, hold out
MovieLens ratings). :func:`random_split` draws a seeded partition of one table;
:func:`read_movielens_split` reads a data set's own split files (MovieLens' ``u1.base`` /
``u1.test``) into one coordinate system and can carve a validation set off the training part.
"""

from dataclasses import dataclass

import numpy as np

from geodln._checks import as_generator
from geodln.data.ratings import Ratings, ratings_from_arrays, read_movielens

__all__ = ["Split", "random_split", "read_movielens_split"]


@dataclass(frozen=True)
class Split:
    """Training, validation and test entries of one matrix (disjoint, same coordinates).

    Parameters
    ----------
    train, validation, test : Ratings
        The three parts (``validation`` or ``test`` may be empty tables).

    Examples
    --------
    >>> from geodln.data import ratings_from_arrays, random_split
    >>> r = ratings_from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 1], [1., 2., 3., 4., 5.])
    >>> s = random_split(r, (0.6, 0.2, 0.2), seed=0)
    >>> s.train.n_observed, s.validation.n_observed, s.test.n_observed
    (3, 1, 1)
    """

    train: Ratings
    validation: Ratings
    test: Ratings


def _fractions(fractions):
    try:
        f = np.asarray(fractions, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be three numbers, got {fractions!r}") from None
    if (
        f.shape != (3,)
        or (isinstance(fractions, tuple | list) and any(isinstance(x, bool) for x in fractions))
        or not np.all(np.isfinite(f))
        or np.any(f < 0)
        or f[0] <= 0
        or not np.isclose(f.sum(), 1.0)
    ):
        raise ValueError(
            "fractions must be (train, validation, test) >= 0 summing to 1 with train > 0, "
            f"got {fractions!r}"
        )
    return f


def random_split(ratings, fractions=(0.8, 0.1, 0.1), seed=None):
    """Partition the observed entries uniformly at random.

    Parameters
    ----------
    ratings : Ratings
        The observed entries.
    fractions : tuple of float
        ``(train, validation, test)``, non-negative, summing to 1, train > 0. Counts are
        rounded down for validation and test; the rest goes to training.
    seed : int, numpy Generator or None
        Randomness (None: fresh entropy).

    Returns
    -------
    split : Split

    Raises
    ------
    ValueError
        If ``ratings`` is not a :class:`Ratings` table, ``fractions`` is invalid, or ``seed``
        is not a valid seed.

    Examples
    --------
    >>> from geodln.data import ratings_from_arrays
    >>> r = ratings_from_arrays(range(10), range(10), range(10))
    >>> s = random_split(r, (0.5, 0.0, 0.5), seed=1)
    >>> s.train.n_observed + s.test.n_observed
    10
    """
    if not isinstance(ratings, Ratings):
        raise ValueError(f"ratings must be a Ratings table, got {type(ratings).__name__}")
    f = _fractions(fractions)
    rng = as_generator(seed)
    k = ratings.n_observed
    perm = rng.permutation(k)
    n_val, n_test = int(np.floor(f[1] * k)), int(np.floor(f[2] * k))
    n_train = k - n_val - n_test
    if n_train < 1:
        raise ValueError(f"fractions leave no training entry out of {k}")
    parts = np.split(perm, [n_train, n_train + n_val])
    return Split(*(ratings.subset(np.sort(p)) for p in parts))


def read_movielens_split(train_path, test_path, *, validation=0.0, seed=None):
    """Read a MovieLens split (``u1.base`` / ``u1.test``) into one coordinate system.

    Rows and columns are the users and items present in either file (sorted ids), so the test
    entries index the same matrix as the training entries.

    Parameters
    ----------
    train_path, test_path : str or path-like
        The data set's own split files (MovieLens format, see
        :func:`geodln.data.read_movielens`).
    validation : float
        Fraction of the training file moved, at random, to a validation set (0 ≤ · < 1).
    seed : int, numpy Generator or None
        Randomness of the validation draw.

    Returns
    -------
    split : Split

    Raises
    ------
    ValueError
        If a file is malformed (with its line number), an entry is in both files, or
        ``validation`` is not in [0, 1).

    References
    ----------
    .. [1] HK15: Harper, Konstan, doi:10.1145/2827872 (the five 80/20 splits of ML-100K).

    Examples
    --------
    Item 30 appears only in the test file; both parts index the same 2 × 3 matrix:

    >>> import os, tempfile
    >>> from geodln.data import read_movielens_split
    >>> folder = tempfile.mkdtemp()
    >>> train, test = os.path.join(folder, "u1.base"), os.path.join(folder, "u1.test")
    >>> _ = open(train, "w").write("1\\t10\\t4\\t0\\n2\\t20\\t3\\t0\\n1\\t20\\t5\\t0\\n")
    >>> _ = open(test, "w").write("2\\t30\\t1\\t0\\n")
    >>> split = read_movielens_split(train, test)
    >>> split.train.shape, split.train.n_observed, split.test.n_observed
    ((2, 3), 3, 1)
    """
    if isinstance(validation, bool) or not isinstance(validation, int | float) or not (
        0 <= validation < 1
    ):
        raise ValueError(f"validation must be a fraction in [0, 1), got {validation!r}")
    first = read_movielens(train_path)
    second = read_movielens(test_path)
    users = np.union1d(first.row_ids, second.row_ids)
    items = np.union1d(first.col_ids, second.col_ids)
    train, test = (
        ratings_from_arrays(r.row_ids[r.rows], r.col_ids[r.cols], r.values,
                            row_index=users, col_index=items)
        for r in (first, second)
    )
    n = train.shape[1]
    overlap = np.intersect1d(train.rows * n + train.cols, test.rows * n + test.cols)
    if overlap.size:
        i, j = divmod(int(overlap[0]), n)
        raise ValueError(
            f"test_path repeats a training entry (user {users[i]}, item {items[j]})"
        )
    if validation == 0:
        return Split(train, train.subset(np.zeros(train.n_observed, bool)), test)
    inner = random_split(train, (1 - validation, validation, 0.0), seed=seed)
    return Split(inner.train, inner.validation, test)
