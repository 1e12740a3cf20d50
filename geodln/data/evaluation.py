r"""Held-out error of a completion and early stopping on a validation set.

A completion :math:`\hat b_{ij} = \mu + a_i + c_j + X_{ij}` (offsets from
:mod:`geodln.data.offsets`, :math:`X` dense ``[..., m, n]`` or factored) is scored on entries
it was not trained on:

- RMSE :math:`\sqrt{\frac1{|T|}\sum_T (\hat b_{ij} - b_{ij})^2}`,
- MAE :math:`\frac1{|T|}\sum_T |\hat b_{ij} - b_{ij}|`,
- relative error :math:`\|\hat b_T - b_T\|_2 / \|b_T\|_2` on the held-out set :math:`T`
  (for image inpainting with :math:`T` = the unobserved pixels this is the usual relative
  reconstruction error).

Only the |T| predicted entries are formed (O(|T| r) on a factored point): cheap enough to
record along a trajectory. :class:`EarlyStopping` keeps the validation-best point of a run
(ACHL19 and RC20 train to a loss threshold instead; early stopping is the real-data
practice, and any experiment that uses it says so).
"""

import numpy as np

from geodln.data.offsets import Offsets
from geodln.data.ratings import Ratings

__all__ = ["HeldOutError", "held_out_error", "EarlyStopping"]

_METRICS = ("rmse", "mae", "relative_error")


def _norm(a):
    """Euclidean norm over the last axis, scaled so that no square overflows or underflows."""
    big = np.max(np.abs(a), axis=-1, keepdims=True)
    safe = np.where(big > 0, big, 1.0)
    return big[..., 0] * np.sqrt(np.sum((a / safe) ** 2, axis=-1))


class HeldOutError:
    """Held-out error metrics of a point on fixed entries (a callable for recording hooks).

    Parameters
    ----------
    ratings : Ratings
        Held-out (validation or test) entries with their true values.
    offsets : Offsets, optional
        Offsets added to the point's entries before scoring (default: none).

    Raises
    ------
    ValueError
        If ``ratings`` is empty or not a table, or ``offsets`` has another shape.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.data import ratings_from_arrays
    >>> test = ratings_from_arrays([0, 1], [1, 0], [2.0, -1.0], row_index=[0, 1],
    ...                            col_index=[0, 1])
    >>> err = HeldOutError(test)
    >>> round(err(np.array([[0.0, 2.0], [1.0, 0.0]]))["rmse"], 12)
    1.414213562373
    """

    def __init__(self, ratings, offsets=None):
        if not isinstance(ratings, Ratings) or ratings.n_observed == 0:
            raise ValueError("ratings must be a non-empty Ratings table")
        if offsets is not None and (
            not isinstance(offsets, Offsets) or offsets.shape != ratings.shape
        ):
            raise ValueError(f"offsets must be Offsets of shape {ratings.shape}")
        self.loss = ratings.to_loss()  # sorted (CSR) entries and a fast factored evaluation
        self.shape = ratings.shape
        self._base = (
            np.zeros(self.loss.n_observed) if offsets is None
            else offsets.predict(self.loss.rows, self.loss.cols)
        )

    def predictions(self, point):
        r"""Predicted values :math:`\hat b_{ij}` on the held-out entries.

        Parameters
        ----------
        point : array-like, shape=[..., m, n], or a factored point
            Dense end-to-end matrices (any batch shape), or a factored point accepted by
            :meth:`geodln.lowrank.SparseCompletion.predictions`.

        Returns
        -------
        predictions : ndarray, shape=[..., |T|]

        Raises
        ------
        ValueError
            If a dense ``point`` has the wrong trailing shape or non-finite entries.
        """
        if isinstance(point, np.ndarray | list) and np.ndim(point) >= 2:
            x = np.asarray(point, dtype=float)
            if x.shape[-2:] != self.shape:
                raise ValueError(f"point must have shape [..., {self.shape[0]}, "
                                 f"{self.shape[1]}], got {x.shape}")
            entries = x[..., self.loss.rows, self.loss.cols]
        else:
            entries = self.loss.predictions(point)
        if not np.all(np.isfinite(entries)):
            raise ValueError("point has non-finite entries on the held-out set")
        return entries + self._base

    def metric(self, name="rmse"):
        """Return one metric as a callable ``point -> float`` (for recording hooks).

        Parameters
        ----------
        name : {"rmse", "mae", "relative_error"}

        Returns
        -------
        metric : callable

        Raises
        ------
        ValueError
            If ``name`` is unknown.

        Examples
        --------
        >>> import numpy as np
        >>> from geodln.data import ratings_from_arrays
        >>> rmse = HeldOutError(ratings_from_arrays([0], [0], [2.0])).metric("rmse")
        >>> rmse(np.zeros((1, 1)))
        2.0
        """
        if name not in _METRICS:
            raise ValueError(f"name must be one of {_METRICS}, got {name!r}")
        return lambda point: self(point)[name]

    def __call__(self, point):
        """Return ``{"rmse", "mae", "relative_error"}`` (floats, or arrays [...] for a batch).

        Parameters
        ----------
        point : array-like or factored point
            See :meth:`predictions`.

        Returns
        -------
        metrics : dict of str to float or ndarray
        """
        err = self.predictions(point) - self.loss.values
        scale = _norm(self.loss.values)
        norm = _norm(err)
        out = {
            "rmse": norm / np.sqrt(err.shape[-1]),
            "mae": np.mean(np.abs(err), axis=-1),
            "relative_error": norm / scale if scale > 0 else np.full_like(norm, np.inf),
        }
        return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}


def held_out_error(point, ratings, offsets=None):
    """Held-out RMSE, MAE and relative error of a point (see :class:`HeldOutError`).

    Parameters
    ----------
    point : array-like, shape=[..., m, n], or a factored point
        The completion's interaction term :math:`X`.
    ratings : Ratings
        Held-out entries.
    offsets : Offsets, optional
        Offsets added to :math:`X`.

    Returns
    -------
    metrics : dict of str to float or ndarray of shape=[...]
        ``rmse``, ``mae``, ``relative_error``: floats for one point, arrays over the
        leading axes of a batch.

    Raises
    ------
    ValueError
        As :class:`HeldOutError` and :meth:`HeldOutError.predictions`.

    Examples
    --------
    >>> import numpy as np
    >>> from geodln.data import ratings_from_arrays
    >>> t = ratings_from_arrays([0], [0], [3.0])
    >>> held_out_error(np.array([[1.0]]), t)["mae"]
    2.0
    """
    return HeldOutError(ratings, offsets)(point)


class EarlyStopping:
    """Stop a run when a validation metric has not improved for ``patience`` evaluations.

    Call the object with each evaluated point (every k steps of a run); it returns True when
    the run should stop and keeps the best point seen, its step and its metric value.

    Parameters
    ----------
    metric : callable
        ``metric(point) -> float`` (smaller is better), e.g.
        ``lambda x: HeldOutError(validation)(x)["rmse"]``.
    patience : int
        Number of evaluations without improvement tolerated (>= 1).
    min_delta : float
        Improvement below this (absolute) does not count.
    relative_patience : float
        Also wait at least ``relative_patience · best_step`` steps after the best step (>= 0;
        default 0: the wait is ``patience`` evaluations only). Deep networks learn in
        plateaus whose length grows with the time already spent (incremental learning from a
        small start, SMG14 Eq. (15)): a wait proportional to the best step lets a run cross
        the next plateau instead of stopping on it.

    Attributes
    ----------
    best_point, best_step, best_value :
        The validation-best point (a copy), the step it was seen at, its metric.
    history : list of (step, value)
        Every evaluation.

    Raises
    ------
    ValueError
        If ``metric`` is not callable, ``patience`` is not an int >= 1, or ``min_delta`` or
        ``relative_patience`` is negative or not finite.

    Examples
    --------
    >>> stop = EarlyStopping(lambda x: abs(x - 3), patience=2)
    >>> [stop(step, float(step)) for step in range(7)]
    [False, False, False, False, False, True, True]
    >>> stop.best_step, stop.best_point
    (3, 3.0)

    With ``relative_patience=2`` the run also waits 2·3 steps after the best step 3:

    >>> stop = EarlyStopping(lambda x: abs(x - 3), patience=2, relative_patience=2.0)
    >>> [stop(step, float(step)) for step in range(11)][4:]
    [False, False, False, False, False, True, True]

    References
    ----------
    .. [1] SMG14: Saxe, McClelland, Ganguli, arXiv:1312.6120, Eq. (15) (mode learning times
       of deep linear networks, which set the plateau lengths).
    """

    def __init__(self, metric, patience=5, min_delta=0.0, relative_patience=0.0):
        if not callable(metric):
            raise ValueError("metric must be a callable point -> float")
        if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or (
            patience < 1
        ):
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(
            min_delta, int | float | np.integer | np.floating
        ) or not (
            np.isfinite(min_delta) and min_delta >= 0
        ):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        if isinstance(relative_patience, bool) or not isinstance(
            relative_patience, int | float | np.integer | np.floating
        ) or not (np.isfinite(relative_patience) and relative_patience >= 0):
            raise ValueError(
                f"relative_patience must be a finite number >= 0, got {relative_patience!r}"
            )
        self.metric, self.patience, self.min_delta = metric, int(patience), float(min_delta)
        self.relative_patience = float(relative_patience)
        self.best_point = self.best_step = None
        self.best_value = np.inf
        self.history = []
        self._waited = 0

    def stop_rule(self, every, step_size=1.0):
        """Return a ``stop(t, point, loss)`` rule for the integrators' ``stop=`` argument.

        The rule evaluates the validation metric every ``every`` steps (the step is
        ``round(t / step_size)``, ``t`` the time the GD entry points pass: ``step ·
        step_size``) and stops the run when :meth:`__call__` says so; the best point stays
        in this object.

        Parameters
        ----------
        every : int
            Evaluation interval in steps (>= 1).
        step_size : float
            The run's fixed step η (> 0), to turn times back into steps.

        Returns
        -------
        rule : callable
            ``rule(t, point, loss) -> bool``.

        Raises
        ------
        ValueError
            If ``every`` is not an int >= 1 or ``step_size`` is not a positive finite number.

        Examples
        --------
        >>> stop = EarlyStopping(lambda x: abs(x - 3), patience=2)
        >>> rule = stop.stop_rule(every=2, step_size=0.5)
        >>> [rule(0.5 * k, float(k), None) for k in range(7)]
        [False, False, False, False, False, False, True]
        >>> stop.best_step, stop.history
        (2, [(0, 3.0), (2, 1.0), (4, 1.0), (6, 3.0)])
        """
        if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        if isinstance(step_size, bool) or not isinstance(
                step_size, int | float | np.integer | np.floating) \
                or not (np.isfinite(step_size) and step_size > 0):
            raise ValueError(f"step_size must be a positive finite number, got {step_size!r}")
        every, eta = int(every), float(step_size)

        def rule(t, point, loss):
            if np.ndim(t) != 0:
                raise ValueError("stop: an EarlyStopping rule follows one run; it got the "
                                 f"times of a batch of {np.size(t)} runs (give each run its own "
                                 "EarlyStopping)")
            step = int(round(float(t) / eta))
            return step % every == 0 and self(step, point)

        return rule

    def __call__(self, step, point):
        """Evaluate ``point`` at ``step``; return True when the run should stop.

        Parameters
        ----------
        step : int or float
            Step count or time of the point.
        point : object
            The current point (copied when it is the best so far).

        Returns
        -------
        stop : bool
            A non-finite metric value (a diverged model) counts as no improvement.
        """
        value = float(self.metric(point))
        self.history.append((step, value))
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_step = value, step
            self.best_point = point.copy() if hasattr(point, "copy") else point
            self._waited = 0
            return False
        self._waited += 1
        if self._waited < self.patience:
            return False
        best = 0 if self.best_step is None else self.best_step  # no finite value seen yet
        return step - best >= self.relative_patience * best
