"""Real data for completion experiments: ratings tables, splits, images, offsets, evaluation.

- :class:`Ratings`, :func:`read_movielens`, :func:`read_table`, :func:`ratings_from_arrays` —
  observed entries with their row/column identifiers;
- :func:`random_split`, :func:`read_movielens_split`, :class:`Split` — train/validation/test;
- :func:`grayscale`, :func:`downsample`, :func:`observe_pixels` — images as completion problems;
- :func:`fit_offsets`, :class:`Offsets` — global mean and row/column biases;
- :class:`HeldOutError`, :func:`held_out_error`, :class:`EarlyStopping` — evaluation.
"""

from geodln.data.evaluation import EarlyStopping, HeldOutError, held_out_error
from geodln.data.images import downsample, grayscale, observe_pixels
from geodln.data.offsets import Offsets, fit_offsets
from geodln.data.ratings import Ratings, ratings_from_arrays, read_movielens, read_table
from geodln.data.splits import Split, random_split, read_movielens_split

__all__ = [
    "Ratings",
    "read_movielens",
    "read_table",
    "ratings_from_arrays",
    "Split",
    "random_split",
    "read_movielens_split",
    "grayscale",
    "downsample",
    "observe_pixels",
    "Offsets",
    "fit_offsets",
    "HeldOutError",
    "held_out_error",
    "EarlyStopping",
]
