"""Brute-force references shared by the test-suite (independent of geodln's code paths).

Nothing here imports geodln's kernels, SVD frames or factor code: every quantity is computed
from its definition (reference ``dln-geometry.md`` §2) with plain numpy.

- :func:`psd_power` — eigh-based fractional power of a symmetric PSD matrix, numerical-zero
  eigenvalues set to exactly 0, and ``S**0 = I`` (identity, not the range projector);
- :func:`brute_A` — the defining N-term sum
  ``A_{N,X}(Z) = sum_j (XX^T)^{(N-j)/N} Z (X^TX)^{(j-1)/N}`` (divided by N if normalised);
- :func:`brute_A_svd` — the same sum with the powers built from a *given* exact SVD (use it
  when X has singular values far below sqrt(eps) * sigma_max, e.g. sigma_min = 1e-12, where
  ``eigh(X X^T)`` cannot resolve sigma_min**2);
- :func:`brute_A_infinite` — ``int_0^1 (XX^T)^{1-s} Z (X^TX)^s ds`` by Gauss-Legendre;
- :func:`brute_cometric_matrix` — the matrix of A in row-major entry coordinates, built
  column by column by applying :func:`brute_A` to the unit matrices ``E_ij``;
- :func:`expm` — matrix exponential by its Taylor series (small matrices);
- :func:`numerical_jacobian` — central finite differences;
- :func:`tangent_basis` — orthonormal basis of ``T_X M_r`` from a full SVD;
- random helpers: :func:`rng`, :func:`random_orthogonal`, :func:`random_stiefel`,
  :func:`matrix_with_spectrum`, :func:`random_rank_matrix`.
"""

import numpy as np

ZERO_TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# randomness
# ---------------------------------------------------------------------------------------------
def rng(seed=0):
    """Return a numpy Generator (pass-through for Generators)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def random_orthogonal(d, seed=0):
    """Haar-random d x d orthogonal matrix (QR with sign fix)."""
    g = rng(seed).standard_normal((d, d))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))


def random_stiefel(rows, cols, seed=0):
    """Haar-random matrix with orthonormal columns, shape (rows, cols)."""
    return random_orthogonal(rows, seed)[:, :cols]


def signed_permutation(d, seed=0):
    """Random signed permutation matrix (exactly orthogonal in floating point)."""
    g = rng(seed)
    return np.eye(d)[g.permutation(d)] * g.choice([-1.0, 1.0], size=d)


def matrix_with_spectrum(m, n, singular_values, seed=0, exact_frames=False):
    """Return ``(X, U, s, V)`` with ``X = U diag(s) V^T`` for Haar-random U (m x r), V (n x r).

    ``singular_values`` may contain ties and zeros; they are used exactly as given. With
    ``exact_frames`` U and V are signed permutations, so that the stored X has exactly this
    SVD (with Haar frames, rounding X perturbs a sigma of 1e-12 by ~1e-16, i.e. 1e-4
    relative: the conditioning of the problem, not of the code under test).
    """
    g = rng(seed)
    s = np.asarray(singular_values, dtype=float)
    r = s.size
    if exact_frames:
        u = signed_permutation(m, g)[:, :r]
        v = signed_permutation(n, g)[:, :r]
    else:
        u = random_stiefel(m, r, g)
        v = random_stiefel(n, r, g)
    return (u * s) @ v.T, u, s, v


def random_rank_matrix(m, n, rank, seed=0, scale=1.0):
    """Gaussian ``L R^T`` with L (m x rank), R (n x rank): rank exactly ``rank`` a.s."""
    g = rng(seed)
    return scale * g.standard_normal((m, rank)) @ g.standard_normal((rank, n)) / np.sqrt(rank)


# ---------------------------------------------------------------------------------------------
# matrix powers and the operator A
# ---------------------------------------------------------------------------------------------
def psd_power(S, p, zero_tol=ZERO_TOL):
    """Return ``S**p`` for a symmetric PSD matrix via ``eigh``.

    Eigenvalues ``<= zero_tol * max(|eigenvalue|)`` are set to exactly 0 (a rank-deficient
    ``X X^T`` has eigenvalues ~1e-17 that ``**(1/4)`` would turn into ~6e-5). ``p == 0``
    returns the identity (not the range projector).
    """
    S = np.asarray(S, dtype=float)
    d = S.shape[-1]
    if p == 0:
        return np.eye(d)
    mu, q = np.linalg.eigh(0.5 * (S + S.T))
    scale = max(np.max(np.abs(mu)), np.finfo(float).tiny)
    mu = np.where(mu <= zero_tol * scale, 0.0, mu)
    return (q * mu**p) @ q.T


def brute_A(X, Z, depth, normalized=False, zero_tol=ZERO_TOL):
    """Defining N-term sum ``sum_{j=1}^N (XX^T)^{(N-j)/N} Z (X^TX)^{(j-1)/N}`` (eigh powers)."""
    X = np.asarray(X, dtype=float)
    Z = np.asarray(Z, dtype=float)
    N = int(depth)
    left, right = X @ X.T, X.T @ X
    total = np.zeros_like(Z)
    for j in range(1, N + 1):
        total = total + psd_power(left, (N - j) / N, zero_tol) @ Z @ psd_power(
            right, (j - 1) / N, zero_tol
        )
    return total / N if normalized else total


def _power_from_frame(q, mu, p):
    """``Q diag(mu**p) Q^T`` completed by the identity on the orthogonal complement if p == 0."""
    d = q.shape[0]
    if p == 0:
        return np.eye(d)
    return (q * mu**p) @ q.T


def brute_A_svd(U, s, V, Z, depth, normalized=False):
    """The N-term sum with powers ``(XX^T)^a = U diag(s^{2a}) U^T`` from a given exact SVD.

    ``(.)^0`` is the full identity, as in :func:`brute_A`.
    """
    s = np.asarray(s, dtype=float)
    N = int(depth)
    total = np.zeros_like(np.asarray(Z, dtype=float))
    for j in range(1, N + 1):
        a, b = (N - j) / N, (j - 1) / N
        total = total + _power_from_frame(U, s**2, a) @ Z @ _power_from_frame(V, s**2, b)
    return total / N if normalized else total


def brute_A_infinite(U, s, V, Z, n_nodes=60):
    """``int_0^1 (XX^T)^{1-t} Z (X^TX)^t dt`` by Gauss-Legendre quadrature (CMV, N = inf).

    Full-rank X only (given by its exact SVD); accurate when the spread of log sigma**2 is
    moderate (the integrand is an exponential in t).
    """
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    t = 0.5 * (nodes + 1.0)
    w = 0.5 * weights
    s2 = np.asarray(s, float) ** 2
    total = np.zeros_like(np.asarray(Z, dtype=float))
    for ti, wi in zip(t, w):
        total = total + wi * ((U * s2 ** (1 - ti)) @ U.T) @ Z @ ((V * s2**ti) @ V.T)
    return total


def brute_cometric_matrix(X, depth, normalized=False, zero_tol=ZERO_TOL):
    """Matrix of ``A_{N,X}`` in row-major entry coordinates, column by column.

    Column ``i*n + j`` is ``vec(A(E_ij))``.
    """
    X = np.asarray(X, dtype=float)
    m, n = X.shape
    mat = np.zeros((m * n, m * n))
    for idx in range(m * n):
        E = np.zeros(m * n)
        E[idx] = 1.0
        mat[:, idx] = brute_A(X, E.reshape(m, n), depth, normalized, zero_tol).ravel()
    return mat


def expm(a, terms=40):
    """Matrix exponential by its Taylor series (fast for the small matrices used here; exact to
    rounding for Frobenius norm <= 5, where the tail is below 1e-20)."""
    assert np.linalg.norm(a) <= 5.0
    out = term = np.eye(a.shape[0])
    for k in range(1, terms):
        term = term @ a / k
        out = out + term
    return out


# ---------------------------------------------------------------------------------------------
# tangent spaces and derivatives
# ---------------------------------------------------------------------------------------------
def tangent_basis(X, rank):
    """Orthonormal (Frobenius) basis of ``T_X M_r``, shape (r(m+n-r), m, n).

    ``{u_k v_l^T : k < r or l < r}`` from a full SVD of X (reference §1).
    """
    X = np.asarray(X, dtype=float)
    m, n = X.shape
    u, _, vt = np.linalg.svd(X, full_matrices=True)
    basis = [
        np.outer(u[:, k], vt[l]) for k in range(m) for l in range(n) if k < rank or l < rank
    ]
    return np.array(basis)


def numerical_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of ``f`` at ``x``, shape (f(x).size, x.size).

    ``f`` maps an array of ``x``'s shape to any array; both are flattened.
    """
    x = np.asarray(x, dtype=float)
    flat = x.ravel()
    f0 = np.asarray(f(x), dtype=float).ravel()
    jac = np.zeros((f0.size, flat.size))
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        fp = np.asarray(f((flat + step).reshape(x.shape)), dtype=float).ravel()
        fm = np.asarray(f((flat - step).reshape(x.shape)), dtype=float).ravel()
        jac[:, i] = (fp - fm) / (2 * eps)
    return jac


def numerical_rank(mat, rtol=1e-8):
    """Number of singular values above ``rtol * max singular value``."""
    s = np.linalg.svd(np.asarray(mat, dtype=float), compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > rtol * s[0]))


def rel_err(a, b):
    """``|a - b| / max(|b|, tiny)`` in Frobenius / absolute norm."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


# ---------------------------------------------------------------------------------------------
# factor tuples (independent of geodln.factors)
# ---------------------------------------------------------------------------------------------
def brute_product(factors):
    """``W_N ... W_1`` by an explicit loop."""
    out = np.eye(factors[0].shape[1])
    for w in factors:
        out = w @ out
    return out


def brute_balance_residuals(factors):
    """``[W_{p+1}^T W_{p+1} - W_p W_p^T]`` for p = 1..N-1."""
    return [b.T @ b - a @ a.T for a, b in zip(factors[:-1], factors[1:])]
