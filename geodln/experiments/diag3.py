r"""Two 3×3 completions with a continuum of rank-2 solutions, and the volumes on them.

The claim under test (Cohen–Menon–Veraszto, CMV, arXiv:2210.12497, Fig. 8 and the lecture
that describes it): in a 3×3 completion task whose minimal-rank completions are all rank 2,
500 trainings from small random starts end mostly near *one* rank-2 minimiser, and that
minimiser is where the volume is largest. CMV's observed entries and values are not published.
Their Fig. 8 plots the free entries :math:`(w_{12}, w_{31})` and :math:`(w_{31}, w_{23})`,
with the chosen minimiser near :math:`(w_{12}, w_{31}, w_{23}) \approx (1.1, -1.9, -0.25)`,
so at least :math:`w_{12}, w_{23}, w_{31}` are free. Both tasks below are **ours**; neither
is CMV's task, and no number here is CMV's.

**Task "corners" (ours, :data:`OBSERVED`).** Observe every entry except :math:`x_{13} = p`,
:math:`x_{31} = q`:

.. math:: X(p, q) = \begin{pmatrix} 1 & 0.6 & p \\ -0.4 & 1 & 0.8 \\ q & 0.3 & 1\end{pmatrix}.

No completion has rank 1 (the observed minor :math:`\begin{pmatrix}1 & 0.6\\-0.4 & 1
\end{pmatrix}` has determinant 1.24), and :math:`\det X = -x_{22}(p - p_0)(q - q_0) +
x_{22}k` with :math:`p_0 = x_{12}x_{23}/x_{22} = 0.48`, :math:`q_0 = x_{21}x_{32}/x_{22} =
-0.12`, :math:`k = 0.9424`: the rank-2 completions are the hyperbola
:math:`(p - p_0)(q - q_0) = k`, two branches :math:`p = p_0 + b\sqrt{k}e^{t}`,
:math:`q = q_0 + b\sqrt{k}e^{-t}`, :math:`b = \pm1`.

**Task "cyclic" (ours, :data:`CYCLIC_OBSERVED`), the free pattern inferred from CMV Fig. 8's
axes.** Free :math:`w_{12}, w_{23}, w_{31}`; observed the diagonal (1, 1, 1) and
:math:`w_{13} = 0.5`, :math:`w_{21} = -0.8`, :math:`w_{32} = 0.6` (values ours, chosen
unequal so that no cyclic symmetry pins the answer):

.. math:: X = \begin{pmatrix} 1 & w_{12} & 0.5 \\ -0.8 & 1 & w_{23} \\ w_{31} & 0.6 & 1
   \end{pmatrix}.

*Every completion has rank ≥ 2.* Each row and each column holds an observed non-zero entry,
so a rank-1 completion :math:`uv^\top` has all :math:`u_i, v_j \ne 0`, and then
:math:`x_{11}x_{22}x_{33} = \prod u_i \prod v_j = x_{13}x_{21}x_{32}`; here
:math:`1 \ne 0.5 \cdot (-0.8) \cdot 0.6 = -0.24` (:func:`cyclic_rank_one_obstruction`).
:math:`\det X` is affine in each free entry, so the rank-2 completions are the surface
:math:`\{\det X = 0\}` — a two-parameter family (the corners task has a one-parameter one).

**The runs** (both tasks, the same): downstairs flow of :math:`g^N` (CMV normalisation
:math:`A_{N,X}/N`; the outcome is the same for the plain metric), N = 3, 5, 10, from
:math:`X(0) = \alpha G`, α = 1e-3, to loss 1e-10 by the batched engine (Dormand–Prince RK45,
rtol 1e-8, atol 1e-12, a step size and a stopping rule per member, :data:`BATCH` runs per
ensemble task); at depths N ≥ :data:`STIFF_DEPTH` the converging runs turn stiff and the explicit
RK45 is limited by its stability region (a 250-member N = 10 batch had not finished after 50 min
wall, about 30 min of CPU), so those runs use one LSODA ``solve_ivp`` per member at the same
tolerances (about 0.45 s a run; the integrator the check below uses as its reference); 500 runs
per task and depth at
full size (100 reduced); robustness: α = 1e-2 at N = 5; integrator check: the first runs of
the corners task at N = 5 re-run alone with LSODA from the same starts
(``claims["batched_rk45_vs_solo_lsoda_max_abs_diff"]``).

**The analysis** (both tasks, the same, :func:`analyse_surface`): with f the k free entries
of an outcome (k = 2 or 3),

- *where outcomes cluster*: the mode :math:`f^*` of a Gaussian kernel density estimate of the
  outcomes' f, with a 95 % bootstrap box (per coordinate), and the fraction within 0.25;
- *the volumes on the solution set*, over a grid of the first k − 1 free entries with the last
  solved from :math:`\det X = 0` (it is affine in it): ``density_rank2``, the log density of
  :math:`d\mathrm{vol}_{g^N}` restricted to the rank-2 manifold :math:`M_2` w.r.t. its
  Euclidean volume (:func:`geodln.volume.log_volume_density` with ``rank=2``);
  ``density_det``, the full-rank log density w.r.t. Lebesgue measure on the near-solution set
  :math:`\{\det X = \delta\}`, δ = 1e-3; ``entropy``, the Menon–Yu orbit volume
  :math:`\log\mathrm{vol}(\mathcal{O}_X)` (:func:`geodln.entropy.log_orbit_volume`) on the
  rank-2 set;
- *the verdict per volume* (``surface_verdict_*``): ``supported`` if the volume's maximiser
  on the grid is interior and lies in the cluster's bootstrap box, ``not supported``
  otherwise; ``surface_gap_*`` is the log volume at the maximiser minus that at the cluster's
  projection on the solution set.

For the corners task the earlier one-dimensional reading along the dominant branch (mode of
t with a bootstrap interval against each volume's maximiser in t) is kept in the same rows
(``t_*`` and ``verdict_*`` columns; ``claims["verdict_*"]`` are these, for N = 5).
Figures: ``diag3_outcomes.png`` (corners task, N = 5: outcomes in the
(p, q)-plane), ``diag3_curve.png`` (its t histogram with the volumes), ``diag3_cyclic.png``
(cyclic task: outcomes in :math:`(w_{12}, w_{31})` and :math:`(w_{31}, w_{23})`, as CMV
Fig. 8, with the volume maximisers).

References
----------
.. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 8 and Thm 1.1.
.. [2] MY25: Menon, Yu, arXiv:2509.09088 (orbit volume).
"""

import os

import numpy as np

from geodln.experiments._common import (
    ensemble,
    finish,
    group_by_case,
    save_figure,
    start_run,
)

NAME = "diag3"
#: The observed entries (0-based); (0, 2) and (2, 0) are free.
OBSERVED = {(0, 0): 1.0, (0, 1): 0.6, (1, 0): -0.4, (1, 1): 1.0, (1, 2): 0.8, (2, 1): 0.3,
            (2, 2): 1.0}
#: The cyclic task (ours): w12, w23, w31 free (pattern inferred from CMV Fig. 8's axes).
CYCLIC_OBSERVED = {(0, 0): 1.0, (1, 1): 1.0, (2, 2): 1.0, (0, 2): 0.5, (1, 0): -0.8,
                   (2, 1): 0.6}
#: task name -> (observed entries, free entries in the order of the analysis)
TASKS = {
    "corners": (OBSERVED, ((0, 2), (2, 0))),
    "cyclic": (CYCLIC_OBSERVED, ((0, 1), (2, 0), (1, 2))),
}
DEPTHS = (3, 5, 10)
DEPTH = 5
SCALE = 1e-3
BOX = 4.0  # grid half-width of the free entries for the volume maximisers
DELTA = 1e-3
LOSS_TOL = 1e-10
T_GRID = np.linspace(-4.0, 4.0, 801)
SETTINGS = {
    "full": {"runs": 500, "sens_runs": 150, "bootstrap": 1000, "depths": [3, 5, 10],
             "grid": 161, "integrator_runs": 20},
    "reduced": {"runs": 100, "sens_runs": 30, "bootstrap": 300, "depths": [3, 5, 10],
                "grid": 81, "integrator_runs": 5},
    "tiny": {"runs": 8, "sens_runs": 0, "bootstrap": 50, "depths": [5], "grid": 21,
             "integrator_runs": 2},
}
#: runs per ensemble task (integrated together by the batched engine)
BATCH = 500
#: from this depth on, runs are integrated one by one with LSODA (stiff tails; see the docstring)
STIFF_DEPTH = 10
SENSITIVITY = [(DEPTH, 1e-2)]


def completion_problem():
    """Return the corners task (ours: seven observed entries, x13 and x31 free).

    Returns
    -------
    loss : geodln.losses.MatrixCompletion

    Examples
    --------
    >>> from geodln.experiments.diag3 import completion_problem
    >>> loss = completion_problem()
    >>> loss.shape, int(loss.mask.sum())  # seven observed entries of a 3 × 3 matrix
    ((3, 3), 7)
    """
    return task_problem("corners")


def hyperbola_parameters():
    r"""Return ``(p0, q0, k)`` of the rank-2 set :math:`(p - p_0)(q - q_0) = k` (module doc).

    Returns
    -------
    p0, q0, k : float
        Centre and product of the hyperbola of rank-2 completions in the free entries
        :math:`(p, q) = (x_{13}, x_{31})`.

    Raises
    ------
    ValueError
        With the message ``the chosen observed values give k <= 0 (no real hyperbola)``.

    Examples
    --------
    Every point of the hyperbola completes to a rank-2 matrix:

    >>> from geodln.experiments.diag3 import completion, hyperbola_parameters
    >>> p0, q0, k = hyperbola_parameters()
    >>> int(np.linalg.matrix_rank(completion(p0 + 1.0, q0 + k)))
    2
    """
    x = {ij: v for ij, v in OBSERVED.items()}
    x11, x12, x21, x22 = x[0, 0], x[0, 1], x[1, 0], x[1, 1]
    x23, x32, x33 = x[1, 2], x[2, 1], x[2, 2]
    p0, q0 = x12 * x23 / x22, x21 * x32 / x22
    const = x11 * (x22 * x33 - x23 * x32) - x12 * x21 * x33
    k = (x22 * const + x12 * x23 * x21 * x32) / x22**2
    if k <= 0:
        raise ValueError("the chosen observed values give k <= 0 (no real hyperbola)")
    return p0, q0, k


def completion(p, q):
    """Return the completions ``X(p, q)``, shape [..., 3, 3].

    Parameters
    ----------
    p, q : float or array-like
        The free entries :math:`x_{13}` and :math:`x_{31}` (broadcast together).

    Returns
    -------
    X : ndarray, shape=[..., 3, 3]
        The observed entries of the corners task with :math:`x_{13} = p`, :math:`x_{31} = q`.

    Examples
    --------
    >>> from geodln.experiments.diag3 import completion
    >>> completion(0.0, 0.0)
    array([[ 1. ,  0.6,  0. ],
           [-0.4,  1. ,  0.8],
           [ 0. ,  0.3,  1. ]])
    """
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    x = np.zeros(p.shape + (3, 3))
    for (i, j), v in OBSERVED.items():
        x[..., i, j] = v
    x[..., 0, 2], x[..., 2, 0] = p, q
    return x


def solution_curve(t, branch=1, delta=0.0):
    r"""Points of :math:`\{\det X = \delta\}` at parameter t on a branch (δ = 0: rank 2).

    Parameters
    ----------
    t : array-like, shape=[...]
    branch : {1, -1}
    delta : float

    Returns
    -------
    X : ndarray, shape=[..., 3, 3]

    Examples
    --------
    >>> from geodln.experiments.diag3 import solution_curve
    >>> x = solution_curve(np.array([0.5, 1.0]), branch=1)
    >>> bool(np.allclose(np.linalg.det(x), 0.0))
    True
    """
    p0, q0, k = hyperbola_parameters()
    c = np.sqrt(k - delta / OBSERVED[1, 1])
    t = np.asarray(t, float)
    return completion(p0 + branch * c * np.exp(t), q0 + branch * c * np.exp(-t))


def curve_coordinates(outcomes):
    """Return branch, parameter t and det of outcomes ``[R, 3, 3]`` (t NaN off the quadrants).

    Parameters
    ----------
    outcomes : array-like, shape=[R, 3, 3]
        Final matrices of an ensemble of the corners task.

    Returns
    -------
    branch : ndarray of int, shape=[R]
        +1 or -1.
    t : ndarray, shape=[R]
        Parameter of :func:`solution_curve` (NaN off the quadrants).
    det : ndarray, shape=[R]

    Examples
    --------
    Inverts :func:`solution_curve`:

    >>> from geodln.experiments.diag3 import curve_coordinates, solution_curve
    >>> branch, t, det = curve_coordinates(solution_curve(np.array([0.5, 1.0]), 1))
    >>> branch, t
    (array([1, 1]), array([0.5, 1. ]))
    """
    p0, q0, _ = hyperbola_parameters()
    dp, dq = outcomes[:, 0, 2] - p0, outcomes[:, 2, 0] - q0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dp * dq > 0, 0.5 * np.log(dp / dq), np.nan)
    return np.sign(dp).astype(int), t, np.linalg.det(outcomes)


def volumes_on_curve(t, branch, depth):
    """Return the three log volumes along the branch (see the module doc), each [len(t)].

    Parameters
    ----------
    t : array-like, shape=[T]
        Parameters of :func:`solution_curve`.
    branch : {1, -1}
    depth : int or numpy.inf
        Depth N of the metric.

    Returns
    -------
    volumes : dict of str to ndarray, shape=[T]
        ``density_rank2``, ``density_det`` and ``entropy`` (log values).

    Examples
    --------
    >>> from geodln.experiments.diag3 import volumes_on_curve
    >>> sorted(volumes_on_curve(np.array([0.5, 1.0]), 1, 3))
    ['density_det', 'density_rank2', 'entropy']
    """
    from geodln.entropy import log_orbit_volume
    from geodln.volume import log_volume_density

    x2 = solution_curve(t, branch)
    return {
        "density_rank2": log_volume_density(x2, depth, normalized=True, rank=2),
        "density_det": log_volume_density(solution_curve(t, branch, DELTA), depth,
                                          normalized=True),
        "entropy": log_orbit_volume(x2, depth),
    }


def task_problem(task):
    """Return the completion loss of a task (``"corners"`` or ``"cyclic"``).

    Parameters
    ----------
    task : {"corners", "cyclic"}

    Returns
    -------
    loss : geodln.losses.MatrixCompletion

    Raises
    ------
    ValueError
        If ``task`` is not one of :data:`TASKS`.

    Examples
    --------
    >>> from geodln.experiments.diag3 import task_problem
    >>> task_problem("cyclic")
    MatrixCompletion(shape=(3, 3), n_observed=6)
    """
    from geodln.losses import MatrixCompletion

    observed, _ = _task(task)
    idx = sorted(observed)
    return MatrixCompletion(indices=([i for i, _ in idx], [j for _, j in idx]),
                            values=[observed[ij] for ij in idx], shape=(3, 3))


def _task(task):
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    return TASKS[task]


def task_completion(task, free):
    """Return the completions with free entries ``free`` [..., k] (in :data:`TASKS` order).

    Parameters
    ----------
    task : {"corners", "cyclic"}
    free : array-like, shape=[..., k]
        Values of the task's k free entries.

    Returns
    -------
    X : ndarray, shape=[..., 3, 3]

    Examples
    --------
    >>> from geodln.experiments.diag3 import task_completion
    >>> task_completion("cyclic", np.array([0.1, 0.2, 0.3]))
    array([[ 1. ,  0.1,  0.5],
           [-0.8,  1. ,  0.3],
           [ 0.2,  0.6,  1. ]])
    """
    observed, entries = _task(task)
    free = np.asarray(free, float)
    x = np.zeros(free.shape[:-1] + (3, 3))
    for (i, j), v in observed.items():
        x[..., i, j] = v
    for c, (i, j) in enumerate(entries):
        x[..., i, j] = free[..., c]
    return x


def free_entries(task, x):
    """Return the free entries [..., k] of matrices ``x`` [..., 3, 3].

    Parameters
    ----------
    task : {"corners", "cyclic"}
    x : array-like, shape=[..., 3, 3]

    Returns
    -------
    free : ndarray, shape=[..., k]

    Examples
    --------
    Inverts :func:`task_completion`:

    >>> from geodln.experiments.diag3 import free_entries, task_completion
    >>> free_entries("cyclic", task_completion("cyclic", np.array([0.1, 0.2, 0.3])))
    array([0.1, 0.2, 0.3])
    """
    _, entries = _task(task)
    return np.stack([x[..., i, j] for i, j in entries], axis=-1)


def surface_point(task, head, delta=0.0):
    r"""Complete the first k − 1 free entries ``head`` [..., k-1] so that :math:`\det X = \delta`.

    :math:`\det X` is affine in the last free entry f: :math:`\det = a f + b`, so
    :math:`f = (\delta - b)/a`; NaN where :math:`|a| < 10^{-9}`.

    Parameters
    ----------
    task : {"corners", "cyclic"}
    head : array-like, shape=[..., k-1]
        The first k - 1 free entries.
    delta : float
        The determinant asked for (0: a rank-2 completion).

    Returns
    -------
    X : ndarray, shape=[..., 3, 3]

    Examples
    --------
    >>> from geodln.experiments.diag3 import surface_point
    >>> x = surface_point("cyclic", np.array([0.1, 0.2]))
    >>> bool(abs(np.linalg.det(x)) < 1e-12), int(np.linalg.matrix_rank(x))
    (True, 2)
    """
    head = np.asarray(head, float)
    zero = task_completion(task, np.concatenate([head, np.zeros(head.shape[:-1] + (1,))], -1))
    one = task_completion(task, np.concatenate([head, np.ones(head.shape[:-1] + (1,))], -1))
    b = np.linalg.det(zero)
    a = np.linalg.det(one) - b
    with np.errstate(divide="ignore", invalid="ignore"):
        last = np.where(np.abs(a) > 1e-9, (delta - b) / a, np.nan)
    return task_completion(task, np.concatenate([head, last[..., None]], -1))


def cyclic_rank_one_obstruction():
    r"""Return :math:`x_{11}x_{22}x_{33} - x_{13}x_{21}x_{32}` of the cyclic task (≠ 0: no rank 1).

    With every row and column holding a non-zero observed entry, a rank-1 completion
    :math:`uv^\top` forces both products to equal :math:`\prod u_i\prod v_j`.

    Returns
    -------
    gap : float
        Non-zero: the cyclic task has no rank-1 completion.

    Examples
    --------
    :math:`1 \cdot 1 \cdot 1 - 0.5 \cdot (-0.8) \cdot 0.6 = 1.24`:

    >>> from geodln.experiments.diag3 import cyclic_rank_one_obstruction
    >>> round(cyclic_rank_one_obstruction(), 12)
    1.24
    """
    o = CYCLIC_OBSERVED
    return o[0, 0] * o[1, 1] * o[2, 2] - o[0, 2] * o[1, 0] * o[2, 1]


def _integrate(task, x0, depth, method):
    """Downstairs flows of a 3×3 task from the starts ``x0 [b, 3, 3]`` (start and end recorded).

    ``"RK45"``: one batched embedded Runge–Kutta integration (a step size and stopping rule per
    member); ``"LSODA"``: one ``solve_ivp`` per member (the one-run-at-a-time reference).
    """
    from geodln.flows import Every, Solver, StoppingRules, downstairs_flow
    from geodln.metric import DLNMetric
    from geodln.spaces import RankMatrices

    metric = DLNMetric(RankMatrices(3, 3, equip=False), depth, normalized=True)
    return downstairs_flow(task_problem(task), x0, metric, (0.0, 1e8),
                           solver=Solver(method, rtol=1e-8, atol=1e-12),
                           stop=StoppingRules(loss_tol=LOSS_TOL), record=Every(2**53))


def _flow_batch(items, cases):
    """Run a batch of downstairs flows from small Gaussian starts (one ensemble task).

    Each run draws its start from its own seed (as a solo run would); the members of one case
    (task, depth, scale) are integrated together by the batched RK45 (one LSODA run per member
    from depth :data:`STIFF_DEPTH` on).
    """
    from geodln.init import gaussian_matrix

    starts = [gaussian_matrix((3, 3), cases[index][2], seed=rng) for index, rng in items]
    out = [None] * len(items)
    for (task, depth, _), ks in group_by_case(items, cases).items():
        method = "LSODA" if depth >= STIFF_DEPTH else "RK45"
        tr = _integrate(task, np.stack([starts[k] for k in ks]), depth, method)
        for j, k in enumerate(ks):
            out[k] = {"X0": starts[k], "X": tr.final_X[j], "loss": tr.final_loss[j],
                      "status": tr.status[j]}
    return out


def _solo_batch(items, starts, task, depth):
    """Solo LSODA runs from given starts (the integrator check; one ``solve_ivp`` per run)."""
    x0 = np.stack([np.asarray(starts)[index] for index, _ in items])
    return [{"X": x} for x in _integrate(task, x0, depth, "LSODA").final_X]


def _integrator_check(cases, ens, n, out_dir, size, seed, n_jobs, progress):
    """Largest deviation of the first ``n`` batched RK45 outcomes from solo LSODA runs.

    The runs are those of the corners task at N = 5 (or the first depth of the size), re-run
    from the same starts.
    """
    depth = DEPTH if (("corners", DEPTH, SCALE) in {tuple(c) for c in cases}) \
        else cases[0][1]
    picked = [r for c, r in zip(cases, ens.runs) if tuple(c) == ("corners", depth, SCALE)][:n]
    if not picked:
        return np.nan
    solo = ensemble(_solo_batch, len(picked), out_dir, f"{size}-lsoda", seed,
                    {"starts": np.stack([r["X0"] for r in picked]), "task": "corners",
                     "depth": depth}, n_jobs, progress, batch_size=BATCH)
    return max(float(np.max(np.abs(r["X"] - s["X"]))) for r, s in zip(picked, solo.runs))


def _kde_mode(f):
    """Return the sample point of highest Gaussian-KDE density, f [R, k]."""
    from scipy.stats import gaussian_kde

    if f.shape[0] <= f.shape[1] + 1 or np.linalg.matrix_rank(np.cov(f.T)) < f.shape[1]:
        return np.median(f, axis=0)
    return f[int(np.argmax(gaussian_kde(f.T)(f.T)))]


def surface_volumes(task, depth, n_grid):
    """Return the three log volumes on a grid of the task's solution set (see the module doc).

    Parameters
    ----------
    task : {"corners", "cyclic"}
    depth : int or numpy.inf
        Depth N of the metric.
    n_grid : int
        Grid points per free coordinate.

    Returns
    -------
    free : ndarray, shape=[G, k]
        Free entries of the grid's rank-2 solutions (inside the box ``|f| <= BOX``).
    volumes : dict of ndarray, shape=[G]
    interior : ndarray of bool, shape=[G]
        The grid point is not on the box's boundary.

    Examples
    --------
    >>> from geodln.experiments.diag3 import surface_volumes
    >>> free, volumes, interior = surface_volumes("cyclic", 3, 4)
    >>> free.shape, sorted(volumes)
    ((16, 3), ['density_det', 'density_rank2', 'entropy'])
    """
    from geodln.entropy import log_orbit_volume
    from geodln.volume import log_volume_density

    k = len(_task(task)[1])
    axis = np.linspace(-BOX, BOX, n_grid)
    head = np.stack(np.meshgrid(*([axis] * (k - 1)), indexing="ij"), -1).reshape(-1, k - 1)
    x2 = surface_point(task, head)
    xd = surface_point(task, head, DELTA)
    free = free_entries(task, x2)
    ok = np.all(np.isfinite(free), -1) & (np.abs(free[:, -1]) <= BOX)
    ok &= np.all(np.isfinite(free_entries(task, xd)), -1)
    x2, xd, free, head = x2[ok], xd[ok], free[ok], head[ok]
    edge = np.any(np.isclose(np.abs(head), BOX), -1) | np.isclose(np.abs(free[:, -1]), BOX,
                                                                  atol=2 * BOX / n_grid)
    vols = {
        "density_rank2": log_volume_density(x2, depth, normalized=True, rank=2),
        "density_det": log_volume_density(xd, depth, normalized=True),
        "entropy": log_orbit_volume(x2, depth),
    }
    return free, vols, ~edge


def analyse_surface(task, outcomes, depth, n_boot, rng, n_grid):
    """Cluster of the outcomes against the volume maximisers on the solution set (module doc).

    Parameters
    ----------
    task : {"corners", "cyclic"}
    outcomes : ndarray, shape=[R, 3, 3]
    depth : int
    n_boot : int
        Bootstrap resamples of the mode.
    rng : numpy.random.Generator
    n_grid : int
        Grid points per free coordinate.

    Returns
    -------
    row : dict
    """
    from geodln.measures import effective_rank

    f = free_entries(task, outcomes)
    det = np.linalg.det(outcomes)
    row = {"task": task, "depth": depth, "n_runs": len(outcomes),
           "near_rank2_fraction": float(np.mean(np.abs(det) < 0.05)),
           "erank_median": float(np.median(effective_rank(outcomes)))}
    names = [f"x{i + 1}{j + 1}" for i, j in _task(task)[1]]
    mode = _kde_mode(f)
    boot = np.array([_kde_mode(f[rng.integers(0, len(f), len(f))]) for _ in range(n_boot)])
    lo, hi = np.percentile(boot, 2.5, axis=0), np.percentile(boot, 97.5, axis=0)
    row["fraction_within_0.25_of_cluster"] = float(
        np.mean(np.linalg.norm(f - mode, axis=-1) < 0.25))
    for c, name in enumerate(names):
        row[f"cluster_{name}"] = float(mode[c])
        row[f"cluster_{name}_ci"] = (float(lo[c]), float(hi[c]))
    proj = surface_point(task, mode[:-1])
    free, vols, interior = surface_volumes(task, depth, n_grid)
    proj_vols = surface_volumes_at(task, depth, mode[:-1])
    for vname, v in vols.items():
        i = int(np.nanargmax(v))
        inside = bool(interior[i]) and bool(np.all((free[i] >= lo) & (free[i] <= hi)))
        row[f"surface_max_{vname}_at"] = [float(c) for c in free[i]]
        row[f"surface_max_{vname}_interior"] = bool(interior[i])
        row[f"surface_gap_{vname}"] = float(v[i] - proj_vols[vname])
        row[f"surface_verdict_{vname}"] = "supported" if inside else "not supported"
    row["cluster_projection_det"] = float(np.linalg.det(proj))
    return row


def surface_volumes_at(task, depth, head):
    """Return the three log volumes at the solution-set point over ``head`` [k-1] (floats).

    Parameters
    ----------
    task : {"corners", "cyclic"}
    depth : int or numpy.inf
        Depth N of the metric.
    head : array-like, shape=[k-1]
        The first k - 1 free entries (the last is solved for, :func:`surface_point`).

    Returns
    -------
    volumes : dict of str to float
        ``density_rank2``, ``density_det`` and ``entropy`` (log values).

    Examples
    --------
    >>> from geodln.experiments.diag3 import surface_volumes_at
    >>> sorted(surface_volumes_at("cyclic", 3, np.array([0.1, 0.2])))
    ['density_det', 'density_rank2', 'entropy']
    """
    from geodln.entropy import log_orbit_volume
    from geodln.volume import log_volume_density

    x2 = surface_point(task, np.asarray(head, float)[None])
    xd = surface_point(task, np.asarray(head, float)[None], DELTA)
    return {"density_rank2": float(log_volume_density(x2, depth, normalized=True, rank=2)[0]),
            "density_det": float(log_volume_density(xd, depth, normalized=True)[0]),
            "entropy": float(log_orbit_volume(x2, depth)[0])}


def _mode(t, grid):
    from scipy.stats import gaussian_kde

    if t.size < 3 or np.ptp(t) == 0:
        return float(np.median(t))
    return float(grid[np.argmax(gaussian_kde(t)(grid))])


def analyse(outcomes, depth, n_boot, rng):
    """Cluster location, bootstrap interval and volume maximisers on the dominant branch.

    Parameters
    ----------
    outcomes : ndarray, shape=[R, 3, 3]
        Final matrices of an ensemble of the corners task.
    depth : int or numpy.inf
        Depth N of the volumes.
    n_boot : int
        Bootstrap resamples of the cluster location.
    rng : numpy.random.Generator
        Randomness of the bootstrap.

    Returns
    -------
    row : dict
        Cluster location and its interval, the volume maximisers and the verdict numbers.
    """
    from geodln.measures import effective_rank

    branch, t, det = curve_coordinates(outcomes)
    near = np.abs(det) < 0.05
    er = effective_rank(outcomes)
    on = np.isfinite(t)
    counts = {b: int(np.sum(on & (branch == b))) for b in (1, -1)}
    dominant = 1 if counts[1] >= counts[-1] else -1
    tb = t[on & (branch == dominant)]
    row = {
        "depth": depth, "n_runs": len(outcomes), "near_rank2_fraction": float(np.mean(near)),
        "erank_median": float(np.median(er)),
        "branch_plus": counts[1], "branch_minus": counts[-1], "dominant_branch": dominant,
        "dominant_fraction": counts[dominant] / len(outcomes),
    }
    if tb.size == 0:
        return row
    grid = np.linspace(max(-4.0, tb.min() - 0.5), min(4.0, tb.max() + 0.5), 401)
    t_star = _mode(tb, grid)
    boot = [_mode(rng.choice(tb, tb.size), grid) for _ in range(n_boot)]
    lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    q25, q75 = np.percentile(tb, [25, 75])
    row.update({"t_mode": t_star, "t_mode_ci_low": lo, "t_mode_ci_high": hi,
                "t_median": float(np.median(tb)), "t_iqr": float(q75 - q25),
                "fraction_within_0.25_of_mode": float(np.mean(np.abs(tb - t_star) < 0.25))})
    vols = volumes_on_curve(T_GRID, dominant, depth)
    for name, v in vols.items():
        i = int(np.argmax(v))
        t_v = float(T_GRID[i])
        interior = 0 < i < T_GRID.size - 1
        row[f"t_max_{name}"] = t_v if interior else np.nan
        row[f"{name}_interior_max"] = bool(interior)
        row[f"{name}_gap_at_mode"] = float(v[i] - np.interp(t_star, T_GRID, v))
        row[f"verdict_{name}"] = (
            "supported" if interior and lo <= t_v <= hi else "not supported")
    other = t[on & (branch == -dominant)]
    if other.size >= 3:  # the minority branch: same comparison, rank-2 density only
        t_o = _mode(other, np.linspace(other.min() - 0.5, other.max() + 0.5, 401))
        v = volumes_on_curve(T_GRID, -dominant, depth)["density_rank2"]
        row["other_branch_t_mode"] = t_o
        row["other_branch_t_max_density_rank2"] = float(T_GRID[int(np.argmax(v))])
        row["other_branch_density_rank2_gap_at_mode"] = float(
            np.max(v) - np.interp(t_o, T_GRID, v))
    return row


def _fig_outcomes(outcomes, row):
    import matplotlib.pyplot as plt

    p0, q0, k = hyperbola_parameters()
    fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
    tt = np.linspace(-3, 3, 400)
    for b in (1, -1):
        ax.plot(p0 + b * np.sqrt(k) * np.exp(tt), q0 + b * np.sqrt(k) * np.exp(-tt),
                color="0.5", lw=0.8)
    ax.scatter(outcomes[:, 0, 2], outcomes[:, 2, 0], s=4, alpha=0.5, label="outcomes")
    marks = {"density_rank2": "v", "density_det": "s", "entropy": "D"}
    for name, marker in marks.items():
        t_v = row.get(f"t_max_{name}", np.nan)
        if np.isfinite(t_v):
            x = solution_curve(t_v, row["dominant_branch"])
            ax.scatter(x[0, 2], x[2, 0], marker=marker, s=60, facecolor="none",
                       edgecolor="C3", label=f"max of {name}")
    ax.set(xlim=(-3, 3), ylim=(-3, 3), xlabel="$p = x_{13}$", ylabel="$q = x_{31}$",
           title=f"3×3 completion, N={row['depth']}: outcomes and rank-2 solutions")
    ax.legend(fontsize=7)
    return fig


def _fig_cyclic(results):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results) or 1, 2, figsize=(9, 4 * max(1, len(results))),
                             layout="constrained", squeeze=False)
    marks = {"density_rank2": "v", "density_det": "s", "entropy": "D"}
    for (row, x), ax_row in zip(results, axes):
        f = free_entries("cyclic", x)  # order: w12, w31, w23
        for ax, (a, b) in zip(ax_row, ((0, 1), (1, 2))):
            ax.scatter(f[:, a], f[:, b], s=4, alpha=0.5, label="outcomes")
            for name, marker in marks.items():
                m = row[f"surface_max_{name}_at"]
                ax.scatter(m[a], m[b], marker=marker, s=60, facecolor="none", edgecolor="C3",
                           label=f"max of {name}")
            labels = ("$w_{12}$", "$w_{31}$", "$w_{23}$")
            ax.set(xlim=(-BOX, BOX), ylim=(-BOX, BOX), xlabel=labels[a], ylabel=labels[b],
                   title=f"cyclic task (ours), N = {row['depth']}")
        ax_row[0].legend(fontsize=7)
    return fig


def _fig_curve(outcomes, row):
    import matplotlib.pyplot as plt

    branch, t, _ = curve_coordinates(outcomes)
    tb = t[np.isfinite(t) & (branch == row["dominant_branch"])]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    ax.hist(tb, bins=50, range=(-3, 3), density=True, alpha=0.5, color="C0", label="outcomes")
    ax.axvspan(row.get("t_mode_ci_low", 0), row.get("t_mode_ci_high", 0), color="C0",
               alpha=0.15, label="95% CI of the mode")
    twin = ax.twinx()
    vols = volumes_on_curve(T_GRID, row["dominant_branch"], row["depth"])
    for (name, v), c in zip(vols.items(), ("C3", "C2", "C4")):
        twin.plot(T_GRID, v - np.max(v), color=c, label=name)
    twin.set(ylim=(-6, 0.5), ylabel="log volume − max")
    ax.set(xlim=(-3, 3), xlabel="t (position on the rank-2 branch)", ylabel="outcome density")
    ax.legend(loc="upper left", fontsize=7)
    twin.legend(loc="upper right", fontsize=7)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Run the two 3×3 volume experiments (both ours) and state the verdicts with numbers.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created); runs kept in ``out_dir/runs`` and reused on a rerun.
    full : bool
        500 runs per task and depth N = 3, 5, 10 (default: the reduced CI size, 100).
    seed : int
        Entropy of the ensembles (and of the bootstrap).
    n_jobs : int, optional
        Parallel workers (default: all cores).
    progress : bool
        Progress bars.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows`` (``summary.csv``: main run and robustness runs), ``claims`` (verdicts).
    """
    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    cases = [(task, d, SCALE) for task in TASKS for d in cfg["depths"]
             for _ in range(cfg["runs"])]
    cases += [(task, d, a) for task in TASKS for d, a in SENSITIVITY
              for _ in range(cfg["sens_runs"])]
    ens = ensemble(_flow_batch, len(cases), out_dir, f"{size}-batched", seed, {"cases": cases},
                   n_jobs, progress, batch_size=BATCH)
    integrator_diff = _integrator_check(cases, ens, cfg["integrator_runs"], out_dir, size, seed,
                                        n_jobs, progress)
    rng = np.random.default_rng([seed, 3])
    rows, outcomes = [], {}
    for case in dict.fromkeys(tuple(c) for c in cases):
        task, depth, scale = case
        runs = [r for c, r in zip(cases, ens.runs) if tuple(c) == case]
        x = np.stack([r["X"] for r in runs])
        outcomes[case] = x
        row = {"part": "main" if scale == SCALE else "robustness", "alpha": scale,
               "converged_fraction": float(np.mean([str(r["status"]) == "loss_tol"
                                                    for r in runs]))}
        row.update(analyse_surface(task, x, depth, cfg["bootstrap"], rng, cfg["grid"]))
        if task == "corners":  # the one-dimensional reading along the dominant branch
            row.update({k: v for k, v in analyse(x, depth, cfg["bootstrap"], rng).items()
                        if k not in row})
        rows.append(row)
    main_case = ("corners", DEPTH if DEPTH in cfg["depths"] else cfg["depths"][0], SCALE)
    mrow = next(r for r in rows if (r["task"], r["depth"], r["alpha"]) == main_case)
    save_figure(_fig_outcomes(outcomes[main_case], mrow),
                os.path.join(out_dir, "diag3_outcomes.png"))
    save_figure(_fig_curve(outcomes[main_case], mrow), os.path.join(out_dir, "diag3_curve.png"))
    cyc = [(r, outcomes[(r["task"], r["depth"], r["alpha"])]) for r in rows
           if r["task"] == "cyclic" and r["part"] == "main"]
    save_figure(_fig_cyclic(cyc), os.path.join(out_dir, "diag3_cyclic.png"))
    p0, q0, k = hyperbola_parameters()
    vnames = ("density_rank2", "density_det", "entropy")
    claims = {
        "majority_on_one_branch": mrow["dominant_fraction"],
        "cluster_t_mode": mrow.get("t_mode"),
        "cluster_ci": [mrow.get("t_mode_ci_low"), mrow.get("t_mode_ci_high")],
        **{f"t_max_{v}": mrow.get(f"t_max_{v}") for v in vnames},
        **{f"verdict_{v}": mrow.get(f"verdict_{v}") for v in vnames},
        "surface_verdicts": {f"{r['task']} N={r['depth']} alpha={r['alpha']:g}":
                             {v: r[f"surface_verdict_{v}"] for v in vnames} for r in rows},
        "robustness_verdicts": {f"{r['task']} N={r['depth']} alpha={r['alpha']:g}":
                                {v: r.get(f"verdict_{v}") for v in vnames}
                                for r in rows if r["part"] == "robustness"},
        "cyclic_rank_one_obstruction": cyclic_rank_one_obstruction(),
        "batched_rk45_vs_solo_lsoda_max_abs_diff": integrator_diff,
    }
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "note": "both tasks are ours: CMV's observed entries and values are not "
                       "published; the cyclic free pattern (w12, w23, w31) is inferred from "
                       "the axes of CMV Fig. 8",
               "settings": {"tasks": {t: {"observed": {f"{i + 1}{j + 1}": v
                                                       for (i, j), v in o.items()},
                                          "free": [f"{i + 1}{j + 1}" for i, j in fr]}
                                      for t, (o, fr) in TASKS.items()},
                            "hyperbola": {"p0": p0, "q0": q0, "k": k}, "depths": cfg["depths"],
                            "alpha": SCALE, "delta": DELTA, "loss_tol": LOSS_TOL,
                            "normalized": True, "box": BOX, **cfg}}
    return finish(out_dir, NAME, summary, rows, started)
