r"""Prototyping new metrics: two spectral kernels against :math:`g^N` on the hyperbola experiment.

The workflow (CMV23, Lemma 2.4, Theorem 1.1 and Fig. 5): a spectral kernel :math:`k(a, b)` on
squared singular values is all a user supplies; geodln then gives

- the metric on :class:`~geodln.RankMatrices`: ``geodln.SpectralMetric(space, kernel)``
  (co-metric :math:`A_X`, ``sharp``/``flat``/``inner_product``);
- the downstairs gradient flow :math:`\dot X = -A_X(\nabla E)`:
  ``geodln.downstairs_flow(loss, X0, metric, t_span)``;
- the volume density :math:`\det A_X^{-1/2}`: ``geodln.volume.log_volume_density(X, kernel)``;
- geodesics, for kernels with a differentiable co-metric (the power-sum kernels, e.g. the two
  below): :class:`geodln.geodesics.hamiltonian_exp.HamiltonianExpSolver`.

The experiment is CMV's 2×2 diagonal completion (observed :math:`x_{11} = x_{22} = 1`, free
:math:`x_{12}, x_{21}`; rank-one minimizers on the hyperbola :math:`x_{12}x_{21} = 1`), started
from small Gaussian matrices (scale ``init_scale``), run with the downstairs flow of each metric
until the loss is below ``loss_tol`` (or ``t_max``). Reported per metric: the fraction of
outcomes within 0.25 of :math:`(\pm1, \pm1)` in :math:`(x_{12}, x_{21})`, the effective ranks,
and the point of the near-solution curve :math:`\{x_{12}x_{21} = 1 - \delta\}` where the volume
density is largest (our reading of CMV23, Fig. 5).

Metrics compared: :math:`g^N` (DLN kernel, N = 3 by default), the arithmetic-mean kernel
:math:`(a + b)/2` and the geometric-mean kernel :math:`\sqrt{ab}` of :mod:`geodln.spectral`.

Abbreviations: CMV = Cohen, Menon, Veraszto (CMV23).
"""

import os

import numpy as np

from geodln.experiments._common import save_figure_and_json
from geodln.flows import Solver, StoppingRules, downstairs_flow
from geodln.losses import MatrixCompletion
from geodln.measures import effective_rank
from geodln.metric import SpectralMetric
from geodln.spaces import RankMatrices
from geodln.spectral import ArithmeticMeanKernel, DLNKernel, GeometricMeanKernel
from geodln.volume import log_volume_density

__all__ = ["hyperbola_completion", "default_kernels", "corner_fraction", "run_metric",
           "volume_peak_on_hyperbola", "run"]

RADIUS = 0.25


def hyperbola_completion():
    r"""CMV's 2×2 diagonal completion, observed :math:`x_{11} = x_{22} = 1` (CMV23, Fig. 4).

    Returns
    -------
    loss : MatrixCompletion
        :math:`E(X) = \tfrac12[(x_{11} - 1)^2 + (x_{22} - 1)^2]` on 2×2 matrices.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4.

    Examples
    --------
    >>> from geodln.experiments.prototype_metrics import hyperbola_completion
    >>> loss = hyperbola_completion()
    >>> float(loss.value(np.array([[1.0, 2.0], [0.5, 1.0]]))), float(loss.value(np.zeros((2, 2))))
    (0.0, 1.0)
    """
    return MatrixCompletion(indices=([0, 1], [0, 1]), values=[1.0, 1.0], shape=(2, 2))


def default_kernels(depth=3):
    """Return ``{name: kernel}``: :math:`g^N` and the arithmetic- and geometric-mean kernels.

    Parameters
    ----------
    depth : int
        Depth N of the :math:`g^N` reference kernel.

    Returns
    -------
    kernels : dict
        Name -> :class:`geodln.spectral.SpectralKernel`.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Lemma 2.4 (the DLN kernel).

    Examples
    --------
    >>> from geodln.experiments.prototype_metrics import default_kernels
    >>> list(default_kernels(depth=3))
    ['g^N (N=3)', 'arithmetic mean', 'geometric mean']
    """
    return {
        f"g^N (N={depth})": DLNKernel(depth),
        "arithmetic mean": ArithmeticMeanKernel(1.0),
        "geometric mean": GeometricMeanKernel(1.0),
    }


def corner_fraction(outcomes, radius=RADIUS):
    r"""Fraction of outcomes within ``radius`` of :math:`(\pm1, \pm1)` in :math:`(x_{12}, x_{21})`.

    Parameters
    ----------
    outcomes : ndarray, shape=[R, 2, 2]
        Final points of R runs.
    radius : float
        Euclidean distance in the :math:`(x_{12}, x_{21})` plane.

    Returns
    -------
    fraction : float
        In [0, 1].

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 and Fig. 5.

    Examples
    --------
    >>> from geodln.experiments.prototype_metrics import corner_fraction
    >>> X = np.array([[[1.0, 1.1], [0.9, 1.0]], [[1.0, 3.0], [0.33, 1.0]]])
    >>> corner_fraction(X)
    0.5
    """
    off = np.stack([outcomes[..., 0, 1], outcomes[..., 1, 0]], axis=-1)
    corners = np.array([[1.0, 1.0], [-1.0, -1.0]])
    dist = np.min(np.linalg.norm(off[..., None, :] - corners, axis=-1), axis=-1)
    return float(np.mean(dist <= radius))


def run_metric(kernel, starts, t_max=2e3, loss_tol=1e-8):
    r"""Run the downstairs flow of the kernel's metric from each start.

    Parameters
    ----------
    kernel : SpectralKernel
        The metric's kernel :math:`k(\sigma_k^2, \sigma_l^2)`.
    starts : ndarray, shape=[R, 2, 2]
        Initial points.
    t_max : float
        Flow-time limit of each run.
    loss_tol : float
        Stop when the loss is below this value.

    Returns
    -------
    result : dict
        ``X`` [R, 2, 2] final points, ``loss`` [R], ``time`` [R], ``erank`` [R] (effective
        ranks, Roy–Vetterli).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 (the experiment).
    .. [2] RV07: Roy, Vetterli, EUSIPCO 2007 (effective rank).
    """
    loss = hyperbola_completion()
    metric = SpectralMetric(RankMatrices(2, 2), kernel)
    finals, losses, times = [], [], []
    for x0 in starts:
        traj = downstairs_flow(loss, x0, metric, (0.0, t_max),
                               solver=Solver("RK45", rtol=1e-7, atol=1e-10),
                               stop=StoppingRules(loss_tol=loss_tol))
        finals.append(traj.final_X)
        losses.append(traj.final_loss)
        times.append(traj.final_time)
    x = np.array(finals)
    return {"X": x, "loss": np.array(losses), "time": np.array(times),
            "erank": effective_rank(x)}


def volume_peak_on_hyperbola(kernel, delta=1e-3, n_points=801):
    r"""Locate the maximum of the volume density on the near-solution curve (det X = delta).

    The curve is :math:`\{x_{11}=x_{22}=1, x_{12}x_{21}=1-\delta\}`, parametrised by
    :math:`x_{12} = e^u\sqrt{1-\delta}`, :math:`x_{21} = e^{-u}\sqrt{1-\delta}`,
    :math:`u \in [-3, 3]` (the branch through (1, 1); the other is its mirror image).

    Parameters
    ----------
    kernel : SpectralKernel
        The metric's kernel.
    delta : float
        det X = delta (small: near the rank-one solutions).
    n_points : int
        Grid points in u.

    Returns
    -------
    peak : tuple of float or None
        ``(x12, x21)`` at the maximum; ``None`` if the density is constant on the curve (to
        1e-9 in log), as for the geometric-mean kernel (:math:`\det A = (\sigma_1\sigma_2)^4`).

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 5 (our reading: the volume
       density along the near-solution curve peaks at the corners (±1, ±1)).

    Examples
    --------
    >>> from geodln.experiments.prototype_metrics import volume_peak_on_hyperbola
    >>> from geodln.spectral import DLNKernel
    >>> x12, x21 = volume_peak_on_hyperbola(DLNKernel(3), n_points=61)
    >>> bool(abs(x12 - 1.0) < 0.01 and abs(x21 - 1.0) < 0.01)
    True
    """
    u = np.linspace(-3.0, 3.0, n_points)
    r = np.sqrt(1.0 - delta)
    x = np.zeros((n_points, 2, 2))
    x[:, 0, 0] = x[:, 1, 1] = 1.0
    x[:, 0, 1], x[:, 1, 0] = r * np.exp(u), r * np.exp(-u)
    logd = log_volume_density(x, kernel)
    if np.ptp(logd) < 1e-9:
        return None
    i = int(np.argmax(logd))
    return float(x[i, 0, 1]), float(x[i, 1, 0])


def run(out_dir, full=False, seed=0, depth=3, n_runs=None, init_scale=0.05):
    """Run the comparison; write ``prototype_metrics.json`` and ``prototype_metrics.png``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created).
    full : bool
        200 runs per metric instead of 12.
    seed : int
        Seed of the Gaussian starts.
    depth : int
        Depth of the :math:`g^N` reference.
    n_runs : int, optional
        Override the number of runs.
    init_scale : float
        Standard deviation of the Gaussian starts.

    Returns
    -------
    summary : dict
        Per metric: corner fraction, effective ranks, volume peak on the near-solution curve.

    References
    ----------
    .. [1] CMV23: Cohen, Menon, Veraszto, arXiv:2210.12497, Fig. 4 and Fig. 5.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    n_runs = n_runs or (200 if full else 12)
    starts = init_scale * np.random.default_rng(seed).standard_normal((n_runs, 2, 2))
    kernels = default_kernels(depth)
    summary = {"n_runs": n_runs, "seed": seed, "init_scale": init_scale, "metrics": {}}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    u = np.linspace(-2.5, 2.5, 200)
    for sgn in (1, -1):
        axes[0].plot(sgn * np.exp(u), sgn * np.exp(-u), color="0.7", lw=1)
    for name, kernel in kernels.items():
        res = run_metric(kernel, starts)
        peak = volume_peak_on_hyperbola(kernel)
        summary["metrics"][name] = {
            "kernel": repr(kernel),
            "corner_fraction": corner_fraction(res["X"]),
            "erank_mean": float(np.mean(res["erank"])),
            "erank_max": float(np.max(res["erank"])),
            "final_loss_max": float(np.max(res["loss"])),
            "converged_fraction": float(np.mean(res["loss"] <= 1.01e-8)),
            "volume_peak": peak,
        }
        axes[0].scatter(res["X"][:, 0, 1], res["X"][:, 1, 0], s=12, alpha=0.7,
                        label=f"{name}: corners {summary['metrics'][name]['corner_fraction']:.2f}")
        axes[1].hist(res["erank"], bins=20, range=(1.0, 1.5), alpha=0.5, label=name)
    axes[0].set(xlim=(-4, 4), ylim=(-4, 4), xlabel="x12", ylabel="x21",
                title="outcomes of the downstairs flow")
    axes[0].legend(fontsize=8)
    axes[1].set(xlabel="effective rank", ylabel="runs", title="effective rank of outcomes")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    save_figure_and_json(fig, out_dir, "prototype_metrics", summary, dpi=110)
    return summary
