r"""ACH18 (Arora, Cohen, Hazan, arXiv:1802.06509) Section 8: acceleration by depth on ℓ_4.

Protocol (ACH18 Fig. 5-6 use the UCI "Gas Sensor Array Drift" data; we substitute
scikit-learn's ``load_diabetes``, 442 examples × 10 features, shipped with the library):
features and target standardised (zero mean, unit variance), linear model
:math:`x \mapsto Xx`, :math:`X \in \mathbb{R}^{1\times 10}`, loss
:math:`\frac{1}{4P}\sum_\mu (Xx_\mu - y_\mu)^4` (:class:`geodln.convergence.LpRegression`; the
authors write the sum :math:`\frac1p\sum_\mu`, which only rescales the learning rate by P,
absorbed by the tuned rates).

Methods, all from the same end-to-end start :math:`X_0` (i.i.d. N(0, 0.1²) entries: a
near-zero start as the authors use; the scale is ours):

- depth 1: plain GD; heavy-ball momentum (β = 0.9); AdaGrad (ε = 1e-8); AdaDelta (ρ = 0.95,
  ε = 1e-6, its step multiplied by the learning rate); ACH18 compare with AdaGrad and
  AdaDelta, momentum is the issue's addition;
- depths 2 and 3: plain GD on balanced factors whose hidden layers are single scalars
  (ACH18's "overparameterization by a single scalar"), lifted from :math:`X_0`.

Each method's learning rate is the best of the grid :math:`\{10^{-3}, \ldots, 1\}` (half
decades) by the number of steps to bring the excess loss (over the best loss any run found)
to :math:`10^{-6}` of its initial value (ACH18 tune each method's rate; the criterion is
ours). Reported: the steps to reach :math:`10^{-2}, 10^{-4}, 10^{-6}` of the initial excess,
and the final loss. The problem is convex at depth 1, so every method reaches the same
minimum; the question is how fast.
"""

import os

import numpy as np

from geodln.experiments._common import finish, save_figure, start_run

NAME = "ach-lp"
GRID = [10.0 ** e for e in np.arange(-3.0, 0.01, 0.5)]
SETTINGS = {"full": {"steps": 5000}, "reduced": {"steps": 2000}, "tiny": {"steps": 300}}
#: excess-loss levels (fractions of the initial excess over the best loss found) at which
#: the number of steps is reported; the rate of each method is tuned for the last one
LEVELS = (1e-2, 1e-4, 1e-6)


def diabetes_problem():
    """Standardised ``load_diabetes`` as (inputs [10, 442], targets [1, 442]).

    Returns
    -------
    inputs : ndarray, shape=[10, 442]
        Features, each with mean 0 and standard deviation 1 (one column per example).
    targets : ndarray, shape=[1, 442]

    Examples
    --------
    >>> from geodln.experiments.ach_lp import diabetes_problem
    >>> inputs, targets = diabetes_problem()
    >>> inputs.shape, targets.shape, bool(np.allclose(inputs.std(axis=1), 1.0))
    ((10, 442), (1, 442), True)
    """
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    y = (data.target - data.target.mean()) / data.target.std()
    return x.T, y[None, :]


def _depth1(loss, x0, eta, steps, method):
    x = x0.copy()
    vel = np.zeros_like(x)
    acc = np.zeros_like(x)
    out = [float(loss.value(x))]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            g = loss.euclidean_gradient(x)
            if method == "momentum":
                vel = 0.9 * vel - eta * g
                x = x + vel
            elif method == "adagrad":
                acc = acc + g * g
                x = x - eta * g / (np.sqrt(acc) + 1e-8)
            elif method == "adadelta":  # Zeiler 2012, rho = 0.95, eps = 1e-6, scaled by eta
                acc = 0.95 * acc + 0.05 * g * g
                dx = -np.sqrt(vel + 1e-6) / np.sqrt(acc + 1e-6) * g
                vel = 0.95 * vel + 0.05 * dx * dx
                x = x + eta * dx
            else:
                x = x - eta * g
            if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1e8:
                out.append(np.inf)
                break
            out.append(float(loss.value(x)))
    return np.array(out)


def _deep(loss, x0, eta, steps, depth):
    from geodln import StoppingRules, gradient_descent
    from geodln.factors import balanced_factors

    factors = balanced_factors(x0, depth, widths=[1] * (depth - 1), seed=0)
    traj = gradient_descent(loss, factors, eta, steps, mode="upstairs",
                            stop=StoppingRules(max_norm=1e8))
    out = np.asarray(traj.loss, float)
    if traj.status != "completed":
        out = np.append(out, np.inf)
    return out


def _steps_to(curve, floor, l0, level):
    """First step at which ``curve - floor <= level * (l0 - floor)`` (None if never)."""
    hit = np.flatnonzero(curve - floor <= level * (l0 - floor))
    return int(hit[0]) if hit.size else None


def _best(curves, floor, l0):
    """Pick the rate reaching the last of LEVELS in the fewest steps (ties: final loss)."""
    def key(eta):
        c = curves[eta]
        n = _steps_to(c, floor, l0, LEVELS[-1])
        final = c[-1] if np.isfinite(c[-1]) else np.inf
        return (n if n is not None else np.inf, final)

    eta = min(curves, key=key)
    return eta, curves[eta]


def _fig(results):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for name, (eta, curve) in results.items():
        ax.plot(np.arange(curve.size), curve, label=f"{name} (η = {eta:.3g})")
    ax.set(yscale="log", xlabel="step", ylabel=r"$\ell_4$ loss",
           title="ACH18: depth vs momentum/AdaGrad, ℓ4 regression (diabetes)")
    ax.legend(fontsize=8)
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce ACH18's ℓ_4 experiment on ``load_diabetes`` (needs scikit-learn).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created).
    full : bool
        5000 steps per method and rate (default: reduced, 2000).
    seed : int
        Entropy of the start.
    n_jobs : int, optional
        Unused.
    progress : bool
        Unused.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows``, ``claims`` and settings.

    Raises
    ------
    ImportError
        If scikit-learn (the ``examples`` extra) is not installed.
    """
    from geodln.convergence import LpRegression

    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    n_steps = SETTINGS[size]["steps"]
    inputs, targets = diabetes_problem()
    loss = LpRegression(inputs, targets, p=4)
    x0 = 0.1 * np.random.default_rng(seed).standard_normal(loss.shape)
    methods = {
        "depth 1 GD": lambda eta: _depth1(loss, x0, eta, n_steps, "gd"),
        "depth 1 momentum": lambda eta: _depth1(loss, x0, eta, n_steps, "momentum"),
        "depth 1 AdaGrad": lambda eta: _depth1(loss, x0, eta, n_steps, "adagrad"),
        "depth 1 AdaDelta": lambda eta: _depth1(loss, x0, eta, n_steps, "adadelta"),
        "depth 2 GD": lambda eta: _deep(loss, x0, eta, n_steps, 2),
        "depth 3 GD": lambda eta: _deep(loss, x0, eta, n_steps, 3),
    }
    all_curves = {name: {eta: f(eta) for eta in GRID} for name, f in methods.items()}
    floor = min(float(np.min(c[np.isfinite(c)])) for curves in all_curves.values()
                for c in curves.values() if np.isfinite(c).any())
    l0 = float(loss.value(x0))
    results = {name: _best(curves, floor, l0) for name, curves in all_curves.items()}
    rows = []
    for name, (eta, curve) in results.items():
        row = {"method": name, "best_step_size": float(eta), "final_loss": float(curve[-1]),
               "final_excess_over_best": float(curve[-1] - floor)}
        for level in LEVELS:
            row[f"steps_to_{level:g}"] = _steps_to(curve, floor, l0, level)
        rows.append(row)
    save_figure(_fig(results), os.path.join(out_dir, "ach_lp.png"))
    by = {r["method"]: r for r in rows}
    last = f"steps_to_{LEVELS[-1]:g}"

    def steps(method):
        n = by[method][last]
        return np.inf if n is None else n

    claims = {
        "final_loss": {r["method"]: r["final_loss"] for r in rows},
        "best_step_size": {r["method"]: r["best_step_size"] for r in rows},
        **{f"steps_to_{level:g}_excess": {r["method"]: r[f"steps_to_{level:g}"] for r in rows}
           for level in LEVELS},
        "depth_faster_than_depth1_gd": bool(min(steps("depth 2 GD"), steps("depth 3 GD"))
                                           < steps("depth 1 GD")),
    }
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {"steps": n_steps, "grid": GRID, "levels": list(LEVELS), "p": 4,
                            "data": "load_diabetes"}}
    return finish(out_dir, NAME, summary, rows, started)
