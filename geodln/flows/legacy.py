"""Thin compatibility for the keyword arguments of the flows before the options objects.

``depth=``, ``normalized=``, ``rank=`` become ``metric=``; ``method``, ``rtol``, ``atol``,
``max_step`` become ``solver=Solver(...)``; ``loss_tol``, ``max_norm``, ``max_wall_time`` (and a
callable ``stop``) become ``stop=StoppingRules(...)``; ``t_eval`` becomes ``record=At(...)`` and
``log_every`` ``record=Every(...)``. New code should use the options objects.
"""

from geodln.flows.ode import Solver
from geodln.flows.recording import At, Every
from geodln.flows.stopping import StoppingRules
from geodln.metric import DLNMetric
from geodln.spaces import RankMatrices

__all__ = ["translate"]

SOLVER_KEYS = ("method", "rtol", "atol", "max_step")
STOP_KEYS = ("loss_tol", "max_norm", "max_wall_time")
KNOWN = set(SOLVER_KEYS + STOP_KEYS + ("t_eval", "log_every", "depth", "normalized", "rank"))


def translate(function, shape, metric, solver, stop, record, legacy):
    """Return ``(metric, solver, stop, record)`` with the legacy keywords folded in.

    Parameters
    ----------
    function : str
        Name of the calling flow (for the error messages).
    shape : tuple of int or None
        End-to-end shape ``(m, n)``, needed to build a metric from ``normalized``/``rank``.
    metric, solver, stop, record
        The options the caller received (None when not given).
    legacy : dict
        The former keywords (``depth``, ``normalized``, ``rank``, ``rtol``, ``atol``,
        ``method``, ``max_step``, ``loss_tol``, ``t_eval``, ``log_every``, ...).

    Returns
    -------
    metric, solver, stop, record
        The options with the legacy keywords applied.

    Raises
    ------
    ValueError
        For an unknown keyword, or a legacy keyword given together with its options object.

    Examples
    --------
    >>> from geodln.flows.legacy import translate
    >>> translate("downstairs_flow", (2, 2), None, None, None, None, {"rtol": 1e-9, "depth": 3})
    (3, Solver('auto', rtol=1e-09, atol=1e-10), None, None)
    """
    unknown = set(legacy) - KNOWN
    if unknown:
        raise ValueError(f"{function}() got unexpected arguments {sorted(unknown)}")
    if any(k in legacy for k in SOLVER_KEYS):
        if solver is not None:
            raise ValueError(f"{function}: give solver=Solver(...) or {list(SOLVER_KEYS)}")
        solver = Solver(**{k: legacy[k] for k in SOLVER_KEYS if k in legacy})
    if any(k in legacy for k in STOP_KEYS):
        if isinstance(stop, StoppingRules):
            raise ValueError(f"{function}: give stop=StoppingRules(...) or {list(STOP_KEYS)}")
        stop = StoppingRules(stop=stop, **{k: legacy[k] for k in STOP_KEYS if k in legacy})
    if legacy.get("t_eval") is not None:
        record = At(legacy["t_eval"])
    if legacy.get("log_every") is not None:
        record = Every(legacy["log_every"])
    depth = legacy.get("depth")
    if depth is not None or legacy.get("normalized") or legacy.get("rank") is not None:
        if metric is None:
            metric = depth
        if shape is not None and (legacy.get("normalized") or legacy.get("rank") is not None) \
                and not hasattr(metric, "kernel"):
            if metric is None:
                raise ValueError(f"{function}: depth is required")
            metric = DLNMetric(RankMatrices(*shape, legacy.get("rank"), equip=False), metric,
                               normalized=bool(legacy.get("normalized")))
    return metric, solver, stop, record
