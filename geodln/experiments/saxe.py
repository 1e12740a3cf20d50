r"""SMG14 (Saxe, McClelland, Ganguli, arXiv:1312.6120): exact sigmoidal mode dynamics.

1. **Aligned starts** (SMG14 Eqs. (8)-(12) at depth 2, Eq. (15) at every depth): whitened
   regression :math:`E(X) = \tfrac12\|X - S\|_F^2` (:class:`geodln.losses.LeastSquares` with
   identity inputs), :math:`S = U\mathrm{diag}(3, 2, 1)V^\top` (4×5, random frames); the start
   :math:`X_0 = U\mathrm{diag}(a_0)V^\top` is lifted to balanced factors. Downstairs
   (:func:`geodln.downstairs_flow`) and upstairs (:func:`geodln.upstairs_flow`) flows
   (DOP853, rtol 1e-13) at depths 1, 2, 3, 5 against the closed form
   (:func:`geodln.convergence.mode_strength`): maximum relative error over the sigmoid.
2. **Random small start on real data** (SMG14 Fig. 3 uses a hierarchical toy data set; we
   substitute scikit-learn's ``load_digits``, 1797 8×8 images): inputs centred and
   PCA-whitened to k = 20 components (:math:`X_{in}X_{in}^\top = I`), targets the centred
   one-hot labels (10×1797), so :math:`S = YX_{in}^\top` has 9 non-zero singular values.
   A depth-N network (N = 2, 3; hidden width 20) from i.i.d. Gaussian factors of scale
   ``init_scale`` is trained by the upstairs flow; each mode's strength
   :math:`u_\alpha^\top X(t) v_\alpha` is tracked and its measured half-time (first
   crossing of :math:`s_\alpha/2`) is put side by side with the aligned-start prediction
   :func:`geodln.convergence.transition_time` from :math:`a_0 = |u_\alpha^\top X_0 v_\alpha|`
   (the prediction ignores the initial misalignment, as SMG14's small-init analysis does).
   Reported: whether the modes are learned in order of s, the Spearman rank correlation of
   predicted and measured half-times, and their ratios. The 9 singular values of digits lie
   within a factor ~1.7 while the random initial projections spread over orders of
   magnitude, so the order of learning is set by the projections (through the prediction)
   more than by s — unlike SMG14's toy hierarchy with well-separated singular values.

Needs the optional ``examples`` extra (scikit-learn) for part 2; without it part 2 is skipped
and reported as such.
"""

import os

import numpy as np

from geodln.experiments._common import finish, save_figure, start_run

NAME = "saxe"
SETTINGS = {
    "full": {"depths": [1, 2, 3, 5], "points": 400, "digit_depths": [2, 3], "components": 20,
             "init_scale": 0.05},
    "reduced": {"depths": [1, 2, 3, 5], "points": 100, "digit_depths": [2, 3],
                "components": 20, "init_scale": 0.05},
    "tiny": {"depths": [2, 3], "points": 30, "digit_depths": [2], "components": 10,
             "init_scale": 0.05},
}
A0 = 1e-2


def aligned_part(depths, points, seed):
    """Flows from aligned starts against the closed form; rows and curves per depth.

    Parameters
    ----------
    depths : sequence of int
        Depths N compared.
    points : int
        Recorded times per flow.
    seed : int
        Seed of the aligned starts.

    Returns
    -------
    rows : list of dict
        Per depth: largest relative error of the mode strengths of the downstairs and the
        upstairs flow against the closed form, and the wall times.
    curves : dict
        ``depth -> (times, closed form, measured mode strengths)``, for the figure.
    s : ndarray, shape=[3]
        The target's singular values.
    """
    from geodln import At, Solver, downstairs_flow, upstairs_flow
    from geodln.convergence import aligned_start, mode_strength, mode_strengths, mode_time
    from geodln.factors import balanced_factors
    from geodln.losses import LeastSquares

    g = np.random.default_rng(seed)
    u, _ = np.linalg.qr(g.standard_normal((4, 3)))
    v, _ = np.linalg.qr(g.standard_normal((5, 3)))
    s = np.array([3.0, 2.0, 1.0])
    loss = LeastSquares(np.eye(5), u @ np.diag(s) @ v.T)
    a0 = A0 * np.array([1.0, 1.0, 1.0])
    x0 = aligned_start(u, v, a0)
    rows, curves = [], {}
    for n in depths:
        # integrate until the slowest mode is within 1e-4 of its target
        t_end = float(np.max(mode_time(s * (1 - 1e-4), s, a0, n)))
        times = np.linspace(0.0, t_end, points)
        ref = mode_strength(times[:, None], s, a0, n)
        opts = {"solver": Solver("DOP853", rtol=1e-13, atol=1e-16), "record": At(times)}
        down = downstairs_flow(loss, x0, n, (0.0, t_end), **opts)
        up = upstairs_flow(loss, balanced_factors(x0, n, seed=seed), (0.0, t_end), **opts)
        err_d = float(np.max(np.abs(mode_strengths(down.X, u, v) / ref - 1)))
        err_u = float(np.max(np.abs(mode_strengths(up.X, u, v) / ref - 1)))
        rows.append({"part": "aligned", "depth": n, "t_end": t_end,
                     "max_rel_err_downstairs": err_d, "max_rel_err_upstairs": err_u,
                     "wall_downstairs_s": down.wall_time, "wall_upstairs_s": up.wall_time})
        curves[n] = (times, ref, mode_strengths(down.X, u, v))
    return rows, curves, s


def digits_data(components):
    r"""Whitened ``load_digits`` inputs [k, P] and centred one-hot targets [10, P].

    Parameters
    ----------
    components : int
        k, the number of principal components kept (whitened: :math:`X X^\top = I_k`).

    Returns
    -------
    inputs : ndarray, shape=[k, P]
    targets : ndarray, shape=[10, P]
        One-hot labels minus their mean.

    Examples
    --------
    >>> from geodln.experiments.saxe import digits_data
    >>> inputs, targets = digits_data(5)
    >>> inputs.shape, bool(np.allclose(inputs @ inputs.T, np.eye(5)))
    ((5, 1797), True)
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.T.astype(float)
    x = x - x.mean(axis=1, keepdims=True)
    u, sig, _ = np.linalg.svd(x, full_matrices=False)
    inputs = (u[:, :components] / sig[:components]).T @ x  # rows orthonormal: X X^T = I
    y = np.eye(10)[data.target].T
    return inputs, y - y.mean(axis=1, keepdims=True)


def digits_part(depths, components, init_scale, seed):
    """Stage-like learning on digits from a small random start; measured vs predicted.

    Parameters
    ----------
    depths : sequence of int
        Depths N compared.
    components : int
        Principal components of the inputs (:func:`digits_data`).
    init_scale : float
        Scale of the random start.
    seed : int

    Returns
    -------
    rows : list of dict
        Per depth and mode: measured against predicted learning times.
    curves : dict
        ``depth -> (times, mode strengths, singular values, predicted)``, for the figure.
    """
    from geodln import At, Solver, upstairs_flow
    from geodln.convergence import mode_strengths, transition_time
    from geodln.losses import LeastSquares

    inputs, targets = digits_data(components)
    loss = LeastSquares(inputs, targets)
    u, s, vt = np.linalg.svd(loss.cross_correlation, full_matrices=False)
    keep = s > 1e-8 * s[0]
    u, s, v = u[:, keep], s[keep], vt[keep].T
    rows, curves = [], {}
    g = np.random.default_rng(seed)
    for n in depths:
        widths = [components] + [components] * (n - 1) + [10]
        factors = [init_scale * g.standard_normal((widths[p + 1], widths[p]))
                   for p in range(n)]
        x0 = factors[-1]
        for w in factors[-2::-1]:
            x0 = x0 @ w
        a0 = np.abs(mode_strengths(x0, u, v))
        predicted = transition_time(s, a0, n)
        t_end = 1.5 * float(np.max(predicted))
        times = np.linspace(0.0, t_end, 600)
        traj = upstairs_flow(loss, factors, (0.0, t_end), solver=Solver(rtol=1e-8, atol=1e-11),
                             record=At(times))
        a = mode_strengths(traj.X, u, v)
        for k in range(s.size):
            above = np.flatnonzero(np.abs(a[:, k]) >= s[k] / 2)
            measured = float(traj.times[above[0]]) if above.size else float("nan")
            rows.append({"part": "digits", "depth": n, "mode": k + 1, "s": float(s[k]),
                         "a0": float(a0[k]), "t_half_predicted": float(predicted[k]),
                         "t_half_measured": measured,
                         "ratio": measured / float(predicted[k])})
        curves[n] = (traj.times, a, s, predicted)
    return rows, curves


def _fig(aligned_curves, s, digit_curves):
    import matplotlib.pyplot as plt

    ncol = 1 + len(digit_curves)
    fig, axes = plt.subplots(1, ncol, figsize=(5 * ncol, 4), layout="constrained",
                             squeeze=False)
    ax = axes[0, 0]
    for i, (n, (t, ref, meas)) in enumerate(aligned_curves.items()):
        ax.plot(t / t[-1], meas / s, color=f"C{i}", lw=2, alpha=0.5)
        ax.plot(t / t[-1], ref / s, color="k", lw=0.6, ls="--")
        ax.plot([], [], color=f"C{i}", label=f"N = {n}")
    ax.set(xlabel="t / t_end", ylabel="a / s", title="aligned start: flow vs closed form")
    ax.legend(fontsize=8)
    for ax, (n, (t, a, sv, pred)) in zip(axes[0, 1:], digit_curves.items()):
        for k in range(sv.size):
            ax.plot(t, np.abs(a[:, k]) / sv[k], color=f"C{k % 10}", lw=1.2)
            ax.axvline(pred[k], color=f"C{k % 10}", lw=0.6, ls=":")
        ax.set(xlabel="t", ylabel="|a| / s", title=f"digits, N = {n}: modes (dotted: predicted)")
    fig.suptitle("SMG14: sigmoidal mode dynamics")
    return fig


def run(out_dir, full=False, seed=0, n_jobs=None, progress=True, size=None):
    """Reproduce SMG14: aligned closed form vs both flows; stage-like learning on digits.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created).
    full : bool
        Paper size (more time points); default: reduced.
    seed : int
        Entropy of the frames and of the random start.
    n_jobs : int, optional
        Unused (single runs).
    progress : bool
        Unused.
    size : {"tiny", "reduced", "full"}, optional
        Explicit size.

    Returns
    -------
    summary : dict
        ``rows``, ``claims`` and settings.
    """
    from scipy.stats import spearmanr

    started, size, seed, out_dir = start_run(out_dir, full, seed, size)
    cfg = SETTINGS[size]
    rows, curves, s = aligned_part(cfg["depths"], cfg["points"], seed)
    claims = {"aligned_max_rel_err": {str(r["depth"]): max(r["max_rel_err_downstairs"],
                                                           r["max_rel_err_upstairs"])
                                      for r in rows}}
    try:
        digit_rows, digit_curves = digits_part(cfg["digit_depths"], cfg["components"],
                                               cfg["init_scale"], seed)
    except ImportError:
        digit_rows, digit_curves = [], {}
        claims["digits"] = "skipped: scikit-learn (the examples extra) is not installed"
    else:
        for n in cfg["digit_depths"]:
            sub = [r for r in digit_rows if r["depth"] == n]
            meas = np.array([r["t_half_measured"] for r in sub])
            order_ok = bool(np.all(np.diff(meas[np.isfinite(meas)]) >= 0))
            pred = np.array([r["t_half_predicted"] for r in sub])
            ok = np.isfinite(meas)
            claims[f"digits_N{n}"] = {
                "modes_learned_in_order_of_s": order_ok,
                "s_max_over_s_min": float(sub[0]["s"] / sub[-1]["s"]),
                "spearman_predicted_vs_measured": float(spearmanr(pred[ok], meas[ok])[0]),
                "median_measured_over_predicted": float(np.nanmedian([r["ratio"]
                                                                      for r in sub])),
                "measured_over_predicted_range": [float(np.nanmin([r["ratio"] for r in sub])),
                                                  float(np.nanmax([r["ratio"] for r in sub]))],
            }
        rows += digit_rows
    save_figure(_fig(curves, s, digit_curves), os.path.join(out_dir, "saxe_modes.png"))
    summary = {"size": size, "seed": seed, "rows": rows, "claims": claims,
               "settings": {"a0": A0, **cfg}}
    return finish(out_dir, NAME, summary, rows, started)
