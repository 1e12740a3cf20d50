r"""Best rank-r approximation of a tangent step :math:`X + tZ` by matrix products only.

At :math:`X = U\Sigma V^\top` (rank r) and :math:`Z = UMV^\top + U_pV^\top + UV_p^\top \in T_XM_r`
(:math:`U^\top U_p = 0`, :math:`V^\top V_p = 0`), the step is

.. math:: Y = X + tZ = U A V^\top + \bar U V^\top + U \bar V^\top, \qquad
          A = \Sigma + tM,\; \bar U = tU_p,\; \bar V = tV_p ,

a matrix of rank :math:`\le 2r`. Its truncated SVD (the metric-projection retraction of
VAN13, Vandereycken, arXiv:1209.3834) is usually computed from two thin QRs of
:math:`U_p, V_p` and the SVD of a 2r×2r core; on small and moderate matrices those LAPACK
calls, not the arithmetic, dominate a gradient step. This module computes the *same*
truncation without any factorisation of an m×r or 2r×2r matrix: Gram matrices, r×r
inverses and Cholesky factors, and one r×r SVD:

1. **Singular subspaces (Riccati equations).** The leading left and right singular subspaces
   of Y are spanned by :math:`W_L = U + \bar U\mathcal A^{-1}` and
   :math:`W_R = V + \bar V\mathcal B^{-\top}`, where the r×r matrices solve

   .. math:: \mathcal A = A + G_v\,\mathcal B^{-\top}, \qquad
             \mathcal B = A + \mathcal A^{-\top} G_u, \qquad
             G_u = \bar U^\top\bar U,\; G_v = \bar V^\top\bar V ,

   for then :math:`Y W_R = W_L\mathcal A` and :math:`Y^\top W_L = W_R\mathcal B^\top` (direct
   substitution, using :math:`U^\top\bar U = 0`, :math:`V^\top\bar V = 0`). These are the
   decoupling (Riccati) equations of the 2r×2r core written without its QR factors: only the
   Gram matrices of :math:`\bar U, \bar V` enter (STE73, Stewart, SIAM Rev. 15 (1973),
   Theorem 6.4: perturbed singular subspaces from a pair of coupled quadratic equations).
   They are solved by fixed-point iteration from :math:`\mathcal A = \mathcal B = A`, which
   contracts by about :math:`\|\bar U\|\|\bar V\|/\sigma_r^2` per sweep (a few sweeps
   for a gradient step), to rounding.
2. **The r×r SVD.** With :math:`N_L = W_L^\top W_L = I + \mathcal A^{-\top}G_u\mathcal
   A^{-1}` and :math:`N_R = W_R^\top W_R = I + \mathcal B^{-1}G_v\mathcal B^{-\top}` (both
   :math:`I + O(t^2)`, so their Cholesky factors :math:`N = L L^\top` are perfectly
   conditioned), :math:`W_L L_L^{-\top}` and :math:`W_R L_R^{-\top}` are orthonormal bases and
   Y maps the second onto the first through :math:`T = L_L^\top\mathcal A L_R^{-\top}`
   (r×r). One SVD :math:`T = a\,\mathrm{diag}(\sigma)\,b^\top` gives
   :math:`U_+ = W_L L_L^{-\top}a`, :math:`V_+ = W_R L_R^{-\top}b`, :math:`\sigma_+ = \sigma`.
3. **Certificate.** The discarded part of Y (the complement of the two subspaces) is, in the
   (non-orthonormal) complementary bases, :math:`R_u\mathcal D R_v^\top` with
   :math:`\mathcal D = \mathcal A^{-1}A\mathcal B^{-1} - \mathcal A^{-1} - \mathcal B^{-1}`
   and :math:`R_u^\top R_u = G_u`, :math:`R_v^\top R_v = G_v`; its Frobenius norm
   :math:`(\mathrm{tr}\,\mathcal D^\top G_u\mathcal D G_v)^{1/2}` bounds its largest
   singular value. The result is accepted only when this bound is below the smallest kept
   singular value, i.e. when the kept subspaces are provably the *leading* ones: the result is
   then the truncated SVD (Eckart–Young), not an approximation of it.

A member is *accepted* (``ok``) only if the Riccati iteration converged to rounding and the
certificate holds; otherwise (a step that moves a discarded singular value close to a kept
one, a (nearly) rank-deficient X, non-finite or overflowing input) the caller
computes it the general way (thin QRs and the 2r×2r SVD,
:func:`geodln.lowrank.retraction.retract_or_nan`). Everything is scaled by
:math:`\|A\|_F` first, so the range of the input does not matter. Every array may carry
leading batch axes; the work is batched numpy products and the r×r factorisations of
:mod:`geodln.lowrank.core_linalg` (LAPACK directly for a single member). The Gram matrices
of the Riccati sweep are reused: :math:`N_L = I + (\mathcal A^{-\top}G_u)\mathcal A^{-1}`
and :math:`N_R = I + \mathcal B^{-1}(G_v\mathcal B^{-\top})` cost one r×r product each.
"""

import numpy as np

from geodln._checks import check_positive_int
from geodln.lowrank.core_linalg import cholesky_lower, inverse, solve_lower, svd

__all__ = ["truncate_tangent_step"]

#: Largest number of Riccati sweeps before a member is left to the general path, and the
#: smallest per-sweep contraction of the change worth iterating on.
MAX_SWEEPS = 8
SLOW_CONTRACTION = 1e-2
_EPS = np.finfo(float).eps
#: Gram matrices of the unscaled normal blocks are used directly when their trace is in
#: [1/_SAFE, _SAFE]; outside, the blocks are rescaled first.
_SAFE = 1e200


def _swap(a):
    return a.mT


def _frob2(a):
    return np.einsum("...ij,...ij->...", a, a)


def truncate_tangent_step(u, s, v, tangent_blocks, step, rank):
    r"""Leading ``rank`` singular triplets of :math:`X + tZ`, and which members were accepted.

    Parameters
    ----------
    u : ndarray, shape=[..., m, r]
        Left singular vectors of X (orthonormal columns).
    s : ndarray, shape=[..., r]
        Singular values of X.
    v : ndarray, shape=[..., n, r]
        Right singular vectors of X.
    tangent_blocks : tuple of ndarray
        ``(M [..., r, r], U_p [..., m, r], V_p [..., n, r])`` of Z (``Uᵀ U_p = 0``,
        ``Vᵀ V_p = 0``).
    step : float or ndarray, shape=[...]
        The factor t (one per member allowed).
    rank : int
        ``1 <= rank <= r``.

    Returns
    -------
    u_new : ndarray, shape=[..., m, rank]
    s_new : ndarray, shape=[..., rank]
        Non-increasing.
    v_new : ndarray, shape=[..., n, rank]
    ok : ndarray of bool, shape=[...]
        Members computed and certified here; the others hold arbitrary values and must be
        computed another way.

    Raises
    ------
    ValueError
        If the shapes do not match, ``rank`` is not an integer in ``1..r`` (bools refused), or
        an argument is not a real array.

    References
    ----------
    .. [1] VAN13: Vandereycken, arXiv:1209.3834, Section 3 (metric-projection retraction).
    .. [2] STE73: Stewart, SIAM Rev. 15 (1973), Theorem 6.4 (perturbed singular subspaces
       from a pair of coupled quadratic equations).

    Examples
    --------
    A small step at a well-separated point is certified and equals the dense truncated SVD:

    >>> import numpy as np
    >>> from geodln.lowrank import random_factored_point, project_to_tangent
    >>> x = random_factored_point(8, 6, 2, seed=0, spectrum=[2.0, 1.0])
    >>> z = project_to_tangent(np.ones((8, 6)), x)
    >>> un, sn, vn, ok = truncate_tangent_step(x.u, x.s, x.v, (z.m_core, z.up, z.vp), 1e-2, 2)
    >>> y = x.to_dense() + 1e-2 * z.to_dense(x)
    >>> bool(ok), bool(np.allclose(sn, np.linalg.svd(y, compute_uv=False)[:2], rtol=1e-13))
    (True, True)
    """
    try:
        m_core, up, vp = (np.asarray(a, float) for a in tangent_blocks)
        u, s, v = np.asarray(u, float), np.asarray(s, float), np.asarray(v, float)
        t = np.asarray(step, float)
    except (TypeError, ValueError):
        raise ValueError("u, s, v, tangent_blocks and step must be real arrays") from None
    r = s.shape[-1] if s.ndim else 0
    lead = s.shape[:-1]
    if (r < 1 or u.shape[:-2] + u.shape[-1:] != lead + (r,) or v.shape[:-2] + v.shape[-1:]
            != lead + (r,) or m_core.shape != lead + (r, r) or up.shape != u.shape
            or vp.shape != v.shape or t.shape not in ((), lead)):
        raise ValueError(
            "u [..., m, r], s [..., r], v [..., n, r], tangent_blocks (M [..., r, r], U_p "
            "[..., m, r], V_p [..., n, r]) and step (scalar or [...]) must match; got "
            f"{u.shape}, {s.shape}, {v.shape}, {m_core.shape}, {up.shape}, {vp.shape}, {t.shape}")
    rank = check_positive_int(rank, "rank", maximum=r)
    tb = t[..., None, None] if t.ndim else t
    with np.errstate(all="ignore"):
        return _truncate(u, s, v, m_core, up, vp, tb, r, rank)


def _truncate(u, s, v, m_core, up, vp, tb, r, rank):
    eye = np.eye(r)
    idx = np.arange(r)
    a = tb * m_core
    a[..., idx, idx] += s
    c = np.sqrt(_frob2(a))  # scale: everything below is O(1)
    ok = np.isfinite(c) & (c > 0)
    ci = (1.0 / np.where(ok, c, 1.0))[..., None, None]
    a = a * ci
    w = tb * ci  # Ubar / c = w U_p, Vbar / c = w V_p
    gu = _swap(up) @ up  # (syrk)
    gv = _swap(vp) @ vp
    tr_u = gu.trace(axis1=-2, axis2=-1)
    tr_v = gv.trace(axis1=-2, axis2=-1)
    tr = tr_u + tr_v
    if not np.all((tr < _SAFE) & (tr > 1.0 / _SAFE) | (tr == 0)):
        # Gram matrices near over/underflow: scale the factors first (exact at any scale)
        up, vp, w = w * up, w * vp, np.ones_like(w)
        gu = _swap(up) @ up
        gv = _swap(vp) @ vp
        tr_u = gu.trace(axis1=-2, axis2=-1)
        tr_v = gv.trace(axis1=-2, axis2=-1)
    w2 = w * w
    gu = gu * w2
    gv = gv * w2
    ok &= np.isfinite((tr_u + tr_v) * w2[..., 0, 0])
    if not ok.all():  # LAPACK never sees a non-finite member
        if not ok.any():
            return u[..., :rank], s[..., :rank], v[..., :rank], ok
        a = np.where(ok[..., None, None], a, eye)
        gu = np.where(ok[..., None, None], gu, 0.0)
        gv = np.where(ok[..., None, None], gv, 0.0)
    try:
        aa, ai, bi, tu, tv, conv = _riccati(a, gu, gv)
        ok &= conv
        if not ok.any():
            return u[..., :rank], s[..., :rank], v[..., :rank], ok
        # orthonormal bases W_L L_L^{-T}, W_R L_R^{-T} of the two subspaces (Cholesky factors
        # of the Gram matrices N_L = I + ai^T G_u ai = I + tu ai, N_R = I + bi G_v bi^T =
        # I + bi tv), and T = L_L^T A L_R^{-T} (r x r)
        lower_l = cholesky_lower(eye + tu @ ai)
        lower_r = cholesky_lower(eye + bi @ tv)
        core = _swap(solve_lower(lower_r, _swap(aa) @ lower_l))
        finite = np.isfinite(core).all(axis=(-2, -1))
        if not finite.all():  # an overflowing member: the SVD never sees it
            ok &= finite
            core = np.where(finite[..., None, None], core, eye)
        cu, sig, cvt = svd(core)
    except np.linalg.LinAlgError:  # an exactly singular A: the general path decides
        return u[..., :rank], s[..., :rank], v[..., :rank], np.zeros_like(ok)
    # certificate: the discarded block is below the smallest kept singular value
    d = ai @ a @ bi - ai - bi
    discarded2 = np.einsum("...ij,...ij->...", gu @ d, d @ gv)
    ok &= discarded2 < (1.0 - 1e-6) * sig[..., -1] ** 2
    x = solve_lower(lower_l, cu[..., :rank], transposed=True)
    y = solve_lower(lower_r, _swap(cvt[..., :rank, :]), transposed=True)
    u_new = u @ x + up @ (w * (ai @ x))
    v_new = v @ y + vp @ (w * (_swap(bi) @ y))
    return u_new, sig[..., :rank] * c[..., None], v_new, ok


def _riccati(a, gu, gv):
    r"""Solve the Riccati pair (module docstring, item 1) by fixed-point sweeps.

    Returns ``(𝒜, 𝒜_prev⁻¹, ℬ⁻¹, 𝒜_prev⁻ᵀ G_u, G_v ℬ⁻ᵀ, converged)``.
    """
    scale2 = _frob2(a)
    aa = a
    previous = None
    for _ in range(MAX_SWEEPS):
        ai = inverse(aa)
        tu = _swap(ai) @ gu
        bi = inverse(a + tu)
        tv = gv @ _swap(bi)
        new = a + tv
        change2 = _frob2(new - aa)
        aa = new
        conv = change2 <= (16 * _EPS) ** 2 * scale2
        if (conv | ~np.isfinite(change2)).all():
            break
        # a sweep that shrinks the change by less than SLOW_CONTRACTION means a step close to
        # the gap sigma_r / sigma_(r+1): leave it to the general path instead of iterating on
        if previous is not None and np.all(conv | ~(change2 < SLOW_CONTRACTION ** 2
                                                      * previous)):
            break
        previous = change2
    # (ai is the inverse of the previous iterate: equal to inv(aa) to rounding at convergence)
    return aa, ai, bi, tu, tv, conv
