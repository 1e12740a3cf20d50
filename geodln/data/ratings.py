r"""Observed entries of a partially known matrix: the ratings table and its readers.

A :class:`Ratings` table is the data of a completion problem: observed entries
:math:`(i, j, b_{ij})`, :math:`(i, j) \in \Omega`, of an ``m × n`` matrix, with the external
identifiers of its rows and columns (user and item ids for a recommender data set). It is read
from MovieLens' ``u.data`` format (HK15) or from any (row, column, value) table, split into
train/validation/test (:mod:`geodln.data.splits`), and turned into the completion loss
:math:`E(X) = \tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` (the Razin–Cohen, RC20, convention
used throughout geodln) by :meth:`Ratings.to_loss`.

Nothing is downloaded: the user supplies the file.
"""

import os
from dataclasses import dataclass

import numpy as np

from geodln._checks import check_finite

__all__ = ["Ratings", "read_movielens", "read_table", "ratings_from_arrays"]


def _id_array(ids, name):
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of identifiers, got shape {ids.shape}")
    if ids.size != np.unique(ids).size:
        raise ValueError(f"{name} must not repeat an identifier")
    return ids


@dataclass(frozen=True)
class Ratings:
    r"""Observed entries of an ``m × n`` matrix with the identifiers of its rows and columns.

    Parameters
    ----------
    rows, cols : ndarray of int, shape=[k]
        0-based positions of the observed entries (each pair at most once).
    values : ndarray of float, shape=[k]
        Observed values :math:`b_{ij}` (e.g. ratings, grey levels).
    shape : tuple of int
        ``(m, n)``.
    row_ids, col_ids : ndarray, shape=[m] and [n]
        External identifiers: row ``i`` is ``row_ids[i]`` (a user id), column ``j`` is
        ``col_ids[j]`` (an item id).

    Raises
    ------
    ValueError
        If the arrays differ in length, an index is out of range, an entry is observed twice,
        a value is NaN/inf, or the identifier arrays do not match ``shape``.

    References
    ----------
    .. [1] HK15: Harper, Konstan, "The MovieLens datasets: history and context", ACM TiiS 5(4),
       2015, doi:10.1145/2827872 (the ``u.data`` format).

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.data import ratings_from_arrays
    >>> r = ratings_from_arrays([1, 1, 2], [10, 20, 10], [4.0, 3.0, 5.0])
    >>> r.shape, r.n_observed
    ((2, 2), 3)
    >>> r.to_dense()
    array([[ 4.,  3.],
           [ 5., nan]])
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple
    row_ids: np.ndarray
    col_ids: np.ndarray

    def __post_init__(self):
        rows = np.asarray(self.rows)
        cols = np.asarray(self.cols)
        if rows.ndim != 1 or cols.shape != rows.shape:
            raise ValueError(
                f"rows and cols must be 1-d of one length, got {rows.shape} and {cols.shape}"
            )
        if rows.size and not (np.issubdtype(rows.dtype, np.integer)
                              and np.issubdtype(cols.dtype, np.integer)):
            raise ValueError("rows and cols must hold integers")
        values = check_finite(self.values, "values").reshape(-1)
        if values.shape != rows.shape:
            raise ValueError(f"values must have {rows.size} entries, got {values.size}")
        m, n = (int(v) for v in self.shape)
        row_ids, col_ids = _id_array(self.row_ids, "row_ids"), _id_array(self.col_ids, "col_ids")
        if row_ids.size != m or col_ids.size != n:
            raise ValueError(
                f"row_ids/col_ids must have {m} and {n} entries, got {row_ids.size}, "
                f"{col_ids.size}"
            )
        if rows.size and (rows.min() < 0 or rows.max() >= m or cols.min() < 0
                          or cols.max() >= n):
            raise ValueError(f"rows/cols out of range for shape {(m, n)}")
        flat = rows.astype(np.int64) * n + cols
        if np.unique(flat).size != flat.size:
            raise ValueError("an entry (row, col) is observed twice")
        object.__setattr__(self, "rows", rows.astype(np.int64))
        object.__setattr__(self, "cols", cols.astype(np.int64))
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "shape", (m, n))
        object.__setattr__(self, "row_ids", row_ids)
        object.__setattr__(self, "col_ids", col_ids)

    @property
    def n_observed(self):
        """Number of observed entries |Ω|."""
        return int(self.rows.size)

    def subset(self, mask):
        """Return the entries selected by a boolean ``mask`` [k] or an index array.

        The shape and identifiers are kept, so subsets of one table share coordinates.

        Parameters
        ----------
        mask : array-like of bool, shape=[k], or array of int
            Which entries to keep.

        Returns
        -------
        ratings : Ratings

        Raises
        ------
        ValueError
            If a boolean ``mask`` does not have one entry per observation.
        """
        mask = np.asarray(mask)
        if mask.dtype == bool and mask.shape != self.rows.shape:
            raise ValueError(f"mask must have shape {self.rows.shape}, got {mask.shape}")
        return Ratings(self.rows[mask], self.cols[mask], self.values[mask], self.shape,
                       self.row_ids, self.col_ids)

    def with_values(self, values):
        """Return the same entries with other values (e.g. residuals after offsets).

        Parameters
        ----------
        values : array-like, shape=[k]
            New values.

        Returns
        -------
        ratings : Ratings
        """
        return Ratings(self.rows, self.cols, values, self.shape, self.row_ids, self.col_ids)

    def to_loss(self):
        r"""Return the completion loss :math:`\tfrac12\sum_\Omega (X_{ij} - b_{ij})^2` on Ω.

        Returns
        -------
        loss : geodln.lowrank.SparseCompletion
            A sparse loss usable by the factored (low-rank) and, through ``to_dense_loss()``,
            the dense dynamics.

        Raises
        ------
        ValueError
            If the table is empty.
        """
        from geodln.lowrank import SparseCompletion

        if self.n_observed == 0:
            raise ValueError("ratings: no observed entry to build a loss from")
        return SparseCompletion((self.rows, self.cols), self.values, self.shape)

    def to_dense(self, fill=np.nan):
        """Dense ``m × n`` array with the observed values and ``fill`` elsewhere.

        Parameters
        ----------
        fill : float
            Value of the unobserved entries.

        Returns
        -------
        matrix : ndarray, shape=[m, n]
        """
        out = np.full(self.shape, float(fill))
        out[self.rows, self.cols] = self.values
        return out


def ratings_from_arrays(row_ids, col_ids, values, *, row_index=None, col_index=None):
    """Build a :class:`Ratings` table from identifier and value arrays.

    Identifiers are mapped to 0-based positions in sorted order, unless ``row_index`` /
    ``col_index`` (arrays of all identifiers) are given — use these to put several tables
    (a train and a test file) into one coordinate system.

    Parameters
    ----------
    row_ids, col_ids : array-like, shape=[k]
        Identifiers of the row and column of each entry (any sortable dtype).
    values : array-like, shape=[k]
        Observed values.
    row_index, col_index : array-like, shapes [m] and [n], optional
        All row / column identifiers, in the order of the matrix's rows / columns.

    Returns
    -------
    ratings : Ratings

    Raises
    ------
    ValueError
        If the arrays differ in length, an identifier is missing from ``row_index`` /
        ``col_index``, or a (row, column) pair occurs twice.

    Examples
    --------
    >>> r = ratings_from_arrays(["u2", "u1"], ["a", "a"], [1.0, 2.0])
    >>> r.row_ids.tolist(), r.rows.tolist()
    (['u1', 'u2'], [1, 0])
    """
    row_ids, col_ids = np.asarray(row_ids), np.asarray(col_ids)
    values = np.asarray(values)
    if not (row_ids.ndim == col_ids.ndim == values.ndim == 1) or not (
        row_ids.size == col_ids.size == values.size
    ):
        raise ValueError(
            "row_ids, col_ids and values must be 1-d arrays of one length, got shapes "
            f"{row_ids.shape}, {col_ids.shape}, {values.shape}"
        )
    if np.iscomplexobj(values) or values.dtype == bool or not (
        values.size == 0 or np.issubdtype(values.dtype, np.number)
    ):
        raise ValueError(f"values must be real numbers, got dtype {values.dtype}")

    def positions(ids, index, name):
        index = np.unique(ids) if index is None else _id_array(index, name)
        order = np.argsort(index, kind="stable")
        pos = np.searchsorted(index, ids, sorter=order)
        pos = np.clip(pos, 0, max(index.size - 1, 0))
        found = order[pos] if index.size else pos
        if ids.size and (index.size == 0 or np.any(index[found] != ids)):
            raise ValueError(f"an identifier is missing from {name}")
        return found, index

    rows, row_index = positions(row_ids, row_index, "row_index")
    cols, col_index = positions(col_ids, col_index, "col_index")
    flat = rows.astype(np.int64) * max(col_index.size, 1) + cols
    uniq, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if np.any(counts > 1):
        k = int(np.flatnonzero(counts > 1)[0])
        dup = np.flatnonzero(flat == uniq[k])
        raise ValueError(
            f"entry (row {row_ids[dup[0]]!r}, col {col_ids[dup[0]]!r}) occurs twice "
            f"(records {dup[0]} and {dup[1]})"
        )
    return Ratings(rows, cols, values.astype(float), (row_index.size, col_index.size),
                   row_index, col_index)


def _parse(path, sep, n_fields, names, value_range):
    """Parse a delimited text file strictly; ``ValueError`` with the line number on any fault."""
    rows, cols, vals = [], [], []
    seen = {}
    # a path only: open() also takes integer file descriptors (True is 1: stdout)
    if not isinstance(path, str | bytes | os.PathLike):
        raise ValueError(f"path must be a file path (str or os.PathLike), got {path!r}")
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"path: cannot read {path!r} ({exc.strerror})") from exc
    with handle:
        for lineno, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            fields = text.split(sep) if sep is not None else text.split()
            if len(fields) != n_fields:
                raise ValueError(
                    f"{path}, line {lineno}: expected {n_fields} fields ({', '.join(names)}) "
                    f"separated by {sep!r}, got {len(fields)}: {text[:80]!r}"
                )
            try:
                row, col = int(fields[0]), int(fields[1])
                value = float(fields[2])
                if n_fields > 3:
                    int(fields[3])
            except ValueError:
                raise ValueError(
                    f"{path}, line {lineno}: {names[0]} and {names[1]} must be integers and "
                    f"{names[2]} a number, got {text[:80]!r}"
                ) from None
            if not np.isfinite(value) or (
                value_range is not None and not value_range[0] <= value <= value_range[1]
            ):
                raise ValueError(
                    f"{path}, line {lineno}: {names[2]} {value!r} is outside {value_range}"
                )
            if (row, col) in seen:
                raise ValueError(
                    f"{path}, line {lineno}: ({names[0]} {row}, {names[1]} {col}) already "
                    f"given on line {seen[(row, col)]}"
                )
            seen[(row, col)] = lineno
            rows.append(row)
            cols.append(col)
            vals.append(value)
    if not rows:
        raise ValueError(f"{path}: no entries")
    return np.array(rows), np.array(cols), np.array(vals)


def read_movielens(path, *, row_index=None, col_index=None, rating_range=(0.5, 5.0)):
    """Read a MovieLens ratings file (``user item rating timestamp``, tab-separated).

    This is the format of MovieLens-100K's ``u.data`` and of its split files ``u1.base`` …
    ``u5.test`` (HK15). The data is not shipped and nothing is downloaded: pass the path of a
    copy you obtained from GroupLens.

    Parameters
    ----------
    path : str or path-like
        The ratings file.
    row_index, col_index : array-like, shapes [m] and [n], optional
        All user / item ids in matrix order (default: the ids present, sorted). Pass the
        ``row_ids`` / ``col_ids`` of another table to share its coordinates.
    rating_range : tuple of float or None
        Accepted rating values (inclusive); ``None`` accepts any finite number.

    Returns
    -------
    ratings : Ratings
        Rows are users, columns items.

    Raises
    ------
    ValueError
        If the file cannot be read (``path``), a line does not have 4 tab-separated fields,
        a field is not a number, a rating is outside ``rating_range``, or a (user, item) pair
        occurs twice — each with the line number.

    References
    ----------
    .. [1] HK15: Harper, Konstan, doi:10.1145/2827872, Sect. 2 (MovieLens-100K layout).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "u.data")
    >>> _ = open(path, "w").write("1\\t10\\t4\\t881250949\\n2\\t10\\t3\\t881250950\\n")
    >>> read_movielens(path).to_dense()
    array([[4.],
           [3.]])
    """
    rows, cols, vals = _parse(path, "\t", 4, ("user", "item", "rating", "timestamp"),
                              rating_range)
    return ratings_from_arrays(rows, cols, vals, row_index=row_index, col_index=col_index)


def read_table(path, *, sep=None, row_index=None, col_index=None):
    """Read any ``row col value`` table (one observed entry per line, integer ids).

    Parameters
    ----------
    path : str or path-like
        Text file with three fields per line.
    sep : str or None
        Field separator (default: any white space).
    row_index, col_index : array-like, shapes [m] and [n], optional
        All row / column ids in matrix order (default: the ids present, sorted).

    Returns
    -------
    ratings : Ratings

    Raises
    ------
    ValueError
        If the file cannot be read, a line is malformed, a value is not finite, or an entry
        occurs twice — each with the line number.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.txt")
    >>> _ = open(path, "w").write("0 0 1.5\\n1 1 -2\\n")
    >>> read_table(path).values.tolist()
    [1.5, -2.0]
    """
    rows, cols, vals = _parse(path, sep, 3, ("row", "col", "value"), None)
    return ratings_from_arrays(rows, cols, vals, row_index=row_index, col_index=col_index)
