"""Linear mixed models of weekly scores, fitted by REML.

Two fitters of the same model: :func:`fit_vectorized`, lme4's profiled REML criterion computed
from per-episode sufficient statistics (Bates et al. 2015; scales to 10⁵-10⁶ episodes), and
:func:`fit_statsmodels`, statsmodels ``MixedLM`` (needed for a site level). :func:`gls_cov`
gives the fixed-effects covariance (X'V⁻¹X)⁻¹ for given variance components. The vectorized
fitter and ``gls_cov`` are shared with the missing-data sensitivity analysis.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import DataError

__all__ = ["RANDOM", "fit_vectorized", "fit_statsmodels", "gls_cov"]

#: Random-effects structures, in fallback order.
RANDOM = ("slope", "uncorrelated", "intercept")


# --------------------------------------------------------------------------------------------
# fixed-effects covariance (lme4's vcov): (X' V^-1 X)^-1, vectorized over episodes
# --------------------------------------------------------------------------------------------


def _cross_blocks(A: np.ndarray, B: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per-episode cross products A_e'B_e, shape (E, a, b), for rows sorted by episode.

    One column pair at a time (memory O(rows), not O(rows·a·b)).
    """
    out = np.empty((len(starts), A.shape[1], B.shape[1]))
    for i in range(A.shape[1]):
        for j in range(B.shape[1]):
            out[:, i, j] = np.add.reduceat(A[:, i] * B[:, j], starts)
    return out


def gls_cov(
    X: np.ndarray,
    Z: np.ndarray,
    ep_starts: np.ndarray,
    D: np.ndarray,
    scale: float,
    site_of_ep: np.ndarray | None = None,
    tau2: float = 0.0,
) -> np.ndarray:
    """Return (X' V^-1 X)^-1 for V = blockdiag(scale I + Z_e D Z_e') (+ tau2 11' per site).

    Rows must be sorted by episode; ``ep_starts`` are the first row of each episode.
    Woodbury per episode, written so that a singular ``D`` (boundary fit) is fine:
    (sI + Z D Z')^-1 = (I - Z (sI + D Z'Z)^-1 D Z') / s.
    A site random intercept adds tau2·11' per site, removed by Sherman-Morrison.
    """
    n, p = X.shape
    q = Z.shape[1]
    Xa = np.column_stack([X, np.ones(n)]) if site_of_ep is not None else X
    pa = Xa.shape[1]
    ztz = _cross_blocks(Z, Z, ep_starts)
    xtz = _cross_blocks(Xa, Z, ep_starts)
    m = scale * np.eye(q)[None] + np.einsum("ij,ejk->eik", D, ztz)
    rhs = np.einsum("ij,epj->eip", D, xtz)  # D Z'X, (E, q, pa)
    k = np.linalg.solve(m, rhs)  # stacked (E, q, q) solves
    corr = np.einsum("epq,eqr->epr", xtz, k)  # X'Z (sI + DZ'Z)^-1 D Z'X per episode
    if site_of_ep is None:
        a = (Xa.T @ Xa - corr.sum(axis=0)) / scale
    else:
        codes, inv = np.unique(site_of_ep, return_inverse=True)
        row_site = np.repeat(inv, np.diff(np.append(ep_starts, n)))
        gs = np.zeros((len(codes), pa, pa))
        np.add.at(gs, inv, corr)
        for s in range(len(codes)):  # loop over sites only (few)
            rows = Xa[row_site == s]
            gs[s] = (rows.T @ rows - gs[s]) / scale
        a = np.zeros((p, p))
        for s in range(len(codes)):  # loop over sites only (few)
            gv = gs[s, :p, p]
            c = gs[s, p, p]
            a += gs[s, :p, :p] - tau2 * np.outer(gv, gv) / (1 + tau2 * c)
    return np.linalg.inv(a)


# --------------------------------------------------------------------------------------------
# vectorized profiled REML (lme4's formulation) for large data
# --------------------------------------------------------------------------------------------


def _lambda(theta: np.ndarray, structure: str) -> np.ndarray:
    if structure == "slope":
        return np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    if structure == "uncorrelated":
        return np.array([[theta[0], 0.0], [0.0, theta[1]]])
    return np.array([[theta[0]]])


#: rows of a design given by blocks (:func:`_reml_suff`) built at a time: ~4 MB per column
BLOCK_ROWS = 1 << 19


def _blocks(X, starts: np.ndarray, n: int, block_rows: int | None = None):
    """The design by blocks of whole episodes: (first row, end row, first episode, end
    episode, the design's rows). ``X`` is an array (one block: itself) or ``(p, rows)`` with
    ``rows(lo, hi)`` building rows ``lo:hi``; then each block holds at most ``block_rows``
    rows (default :data:`BLOCK_ROWS`), or one episode if it is longer.

    >>> starts = np.array([0, 3, 5, 9])  # four episodes of 3, 2, 4 and 3 rows
    >>> [b[:4] for b in _blocks((1, lambda lo, hi: None), starts, 12, block_rows=4)]
    [(0, 3, 0, 1), (3, 5, 1, 2), (5, 9, 2, 3), (9, 12, 3, 4)]
    >>> [b[:4] for b in _blocks((1, lambda lo, hi: None), starts, 12, block_rows=6)]
    [(0, 5, 0, 2), (5, 9, 2, 3), (9, 12, 3, 4)]
    """
    if isinstance(X, np.ndarray):
        yield 0, n, 0, len(starts), X
        return
    _, rows = X
    block_rows = BLOCK_ROWS if block_rows is None else block_rows
    e0 = 0
    while e0 < len(starts):
        lo = int(starts[e0])
        within = int(np.searchsorted(starts, lo + block_rows, side="right"))  # starts ≤ lo + B
        if within == len(starts) and n - lo <= block_rows:
            e1 = len(starts)
        else:  # end at the last episode start that keeps the block within B rows
            e1 = max(within - 1, e0 + 1)
        hi = int(starts[e1]) if e1 < len(starts) else n
        yield lo, hi, e0, e1, rows(lo, hi)
        e0 = e1


def _reml_suff(y, X, Z, starts) -> dict:
    """Per-episode sufficient statistics Z'Z (``ZtZ``, shape (E, q, q)) and Z'[X y] (``R``:
    one contiguous (E, p + 1) array per column of Z), and the global [X y]'[X y] (``G``).

    ``X`` is the fixed-effects design (rows × p), or ``(p, rows)`` with ``rows(lo, hi)``
    building its rows lo:hi, for a design too large to hold: the sums are then taken over
    blocks of whole episodes (:func:`_blocks`; the per-episode sums are the same, the global
    ones added block by block). Built column by column (no copy of X; memory O(rows + E·q·p)
    beside X or one block of it); per-episode sums by reduceat, the global ones by BLAS (one
    thread: :func:`fit_vectorized`).
    """
    n = len(y)
    p = X.shape[1] if isinstance(X, np.ndarray) else X[0]
    q = Z.shape[1]
    R = [np.empty((len(starts), p + 1)) for _ in range(q)]
    G = np.zeros((p + 1, p + 1))
    for lo, hi, e0, e1, Xb in _blocks(X, starts, n):
        st = starts[e0:e1] - lo
        Zb, yb = Z[lo:hi], y[lo:hi]
        for i in range(q):
            for j in range(p):
                R[i][e0:e1, j] = np.add.reduceat(Zb[:, i] * Xb[:, j], st)
            R[i][e0:e1, p] = np.add.reduceat(Zb[:, i] * yb, st)
        G[:p, :p] += Xb.T @ Xb
        G[:p, p] += Xb.T @ yb
        G[p, p] += yb @ yb
    G[p, :p] = G[:p, p]
    return {"ZtZ": _cross_blocks(Z, Z, starts), "R": R, "G": G, "n": n, "p": p, "q": q}


def _reml_profile(theta, S, structure, full=False, grad=False):
    r"""REML deviance profiled over beta and sigma (Bates et al. 2015, eqs. 34 and 41).

    With relative covariance factor Λ(θ) (D = σ²ΛΛ') and per-episode
    M_e = I + Λ'Z_e'Z_eΛ, the Woodbury identity gives [X y]'H⁻¹[X y] =
    G − Σ_e U_e'M_e⁻¹U_e with U_e = Λ'Z_e'[X y] (H = I + ZΛΛ'Z', V = σ²H); then
    d(θ) = Σ log|M_e| + log|X'H⁻¹X| + (n − p)(1 + log(2π r²/(n − p))).

    ``grad=True`` returns ``(d, ∂d/∂θ)``. With P = H⁻¹ − H⁻¹X(X'H⁻¹X)⁻¹X'H⁻¹ and
    ∂H/∂θ_k = Z C_k Z', C_k = Λ_kΛ' + ΛΛ_k' (Λ_k = ∂Λ/∂θ_k), the standard REML score
    (Harville 1977; Lindstrom & Bates 1988; here profiled, r² = y'Py) is

    .. math::
        \partial d/\partial\theta_k = \operatorname{tr}(P\,ZC_kZ')
        - \frac{n-p}{r^2}\,(Py)'ZC_kZ'(Py) = \operatorname{tr}(Q C_k)
        = 2\,(Q\Lambda)_{[k]},

    Q = Σ_e [Z_e'H_e⁻¹Z_e − B_e(X'H⁻¹X)⁻¹B_e'] − (n − p)/r² Σ_e v_e v_e', where
    B_e = Z_e'H_e⁻¹X_e and v_e = Z_e'H_e⁻¹(y_e − X_eβ̂) = Z_e'P y: only the diagonal
    (per-episode) blocks of P enter the trace, so the gradient is a sum over episodes of
    q×q and q×p terms from the same sufficient statistics (a few times one deviance).

    ``full=True`` returns β̂, σ̂², D, the REML log-likelihood and the fixed-effects covariance
    σ̂²(X'H⁻¹X)⁻¹ = (X'V⁻¹X)⁻¹ (lme4's ``vcov``, σ²(R_X'R_X)⁻¹; Laird & Ware 1982).
    """
    L = _lambda(theta, structure)
    p, q, n = S["p"], S["q"], S["n"]
    zz, zxy = S["ZtZ"], S["R"]
    bad = (np.inf, np.full(len(theta), np.nan)) if grad else np.inf
    # closed-form 2x2 algebra on contiguous per-episode columns (stacked matmul of tiny
    # matrices is slow); the sums over episodes by BLAS, one thread (fit_vectorized). The
    # per-episode (E, p + 1) arrays are made for a block of episodes at a time (peak
    # memory: a few block-sized temporaries, not several (E, p + 1) arrays)
    h = S["G"]
    dets, ws = [], []
    for sl in _episode_blocks(len(zz)):
        det, u, w = _episode_terms(L, zz[sl], [z[sl] for z in zxy])
        for k in range(q):
            h = h - u[k].T @ w[k]
        del u
        dets.append(det)
        if grad:
            ws.append(w)
    det = dets[0] if len(dets) == 1 else np.concatenate(dets)
    xhx, xhy, yhy = h[:p, :p], h[:p, p], h[p, p]
    try:
        cf = np.linalg.cholesky(xhx)
    except np.linalg.LinAlgError:
        return bad if not full else None
    beta = np.linalg.solve(xhx, xhy)
    r2 = yhy - beta @ xhy
    if not np.all(det > 0) or r2 <= 0:
        return bad if not full else None
    dev = (
        np.sum(np.log(det))
        + 2 * np.sum(np.log(np.diag(cf)))
        + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
    )
    if grad:
        return float(dev), _reml_gradient(L, S, structure, ws, xhx, beta, r2)
    if not full:
        return float(dev)
    s2 = r2 / (n - p)
    return {
        "beta": beta,
        "scale": float(s2),
        "D": s2 * L @ L.T,
        "llf": float(-dev / 2),
        "vcov": s2 * np.linalg.inv(xhx),
    }


#: episodes per block of the per-episode algebra of :func:`_reml_profile` (its temporaries
#: are (block, p + 1) floats: ~20 MB each for p = 39)
EPISODE_BLOCK = 1 << 16


def _episode_blocks(n_ep: int) -> list[slice]:
    """Slices of at most :data:`EPISODE_BLOCK` episodes covering ``n_ep`` (one when fewer).

    >>> _episode_blocks(3)
    [slice(0, 3, None)]
    """
    b = EPISODE_BLOCK
    return [slice(i, min(i + b, n_ep)) for i in range(0, max(n_ep, 1), b)]


def _u(L: np.ndarray, zxy: list, k: int) -> np.ndarray:
    """U_e = Λ'Z_e'[X y], row k of Λ' (per episode: (E, p + 1))."""
    if len(zxy) == 1:
        return L[0, 0] * zxy[0]
    a, b, c = L[0, 0], L[1, 0], L[1, 1]
    return a * zxy[0] + b * zxy[1] if k == 0 else c * zxy[1]


def _m(L: np.ndarray, zz: np.ndarray) -> tuple:
    """M_e = I + Λ'Z_e'Z_eΛ per episode: (m00, m01, m11) (q = 2) or (m00,) (q = 1)."""
    if L.shape[0] == 1:
        return (1.0 + L[0, 0] * L[0, 0] * zz[:, 0, 0],)
    a, b, c = L[0, 0], L[1, 0], L[1, 1]
    s00, s01, s11 = zz[:, 0, 0], zz[:, 0, 1], zz[:, 1, 1]
    m00 = 1.0 + a * a * s00 + 2 * a * b * s01 + b * b * s11
    m01 = c * (a * s01 + b * s11)
    m11 = 1.0 + c * c * s11
    return m00, m01, m11


def _episode_terms(L: np.ndarray, zz: np.ndarray, zxy: list) -> tuple:
    """|M_e|, U_e and W_e = M_e⁻¹U_e (one (E, p + 1) array per column of Z) for a block."""
    m = _m(L, zz)
    if len(m) == 1:
        u0 = _u(L, zxy, 0)
        return m[0], [u0], [u0 / m[0][:, None]]
    m00, m01, m11 = m
    det = m00 * m11 - m01 * m01
    u0, u1 = _u(L, zxy, 0), _u(L, zxy, 1)
    w0 = (m11[:, None] * u0 - m01[:, None] * u1) / det[:, None]
    w1 = (m00[:, None] * u1 - m01[:, None] * u0) / det[:, None]
    return det, [u0, u1], [w0, w1]


def _reml_gradient(L, S, structure, ws, xhx, beta, r2):
    """∂d/∂θ of :func:`_reml_profile` from its per-episode pieces (formula there), summed
    over the blocks of episodes ``ws`` (the W_e of each block) were made for."""
    p, q, n = S["p"], S["q"], S["n"]
    coef = np.append(-beta, 1.0)  # [X y] @ coef = y - X beta
    xinv = np.linalg.inv(xhx)
    tsum = np.zeros((q, q))
    g = np.zeros((q, q))
    vv = np.zeros((q, q))
    for sl, w in zip(_episode_blocks(len(S["ZtZ"])), ws, strict=True):
        t, bf = _gradient_terms(L, S["ZtZ"][sl], [z[sl] for z in S["R"]], w)
        v = [bi @ coef for bi in bf]  # Z_e'P y per episode
        ci = [bi[:, :p] @ xinv for bi in bf]
        tsum += t
        for i in range(q):
            for j in range(i, q):
                g[i, j] += np.einsum("ep,ep->", ci[i], bf[j][:, :p])
                vv[i, j] += v[i] @ v[j]
    Q = np.empty((q, q))
    for i in range(q):
        for j in range(i, q):
            Q[i, j] = Q[j, i] = tsum[i, j] - g[i, j] - (n - p) / r2 * vv[i, j]
    gl = 2.0 * Q @ L
    if structure == "slope":
        return np.array([gl[0, 0], gl[1, 0], gl[1, 1]])
    if structure == "uncorrelated":
        return np.array([gl[0, 0], gl[1, 1]])
    return np.array([gl[0, 0]])


def _gradient_terms(L: np.ndarray, zz: np.ndarray, zxy: list, w: list) -> tuple:
    """For a block: Σ_e Z_e'H_e⁻¹Z_e (q × q) and B_e = Z_e'H_e⁻¹[X y] per episode."""
    m = _m(L, zz)
    if len(m) == 1:
        a = L[0, 0]
        s00 = zz[:, 0, 0]
        # Z'H^-1 [X y] = Z'[X y] - Z'Z Λ M^-1 Λ'Z'[X y]; Z'H^-1 Z = s - s² a² / m
        bf = [zxy[0] - (s00 * a)[:, None] * w[0]]
        return np.array([[np.sum(s00 - s00 * s00 * a * a / m[0])]]), bf
    a, b, c = L[0, 0], L[1, 0], L[1, 1]
    s00, s01, s11 = zz[:, 0, 0], zz[:, 0, 1], zz[:, 1, 1]
    lw0 = a * w[0]  # Λ W, W = M^-1 U
    lw1 = b * w[0] + c * w[1]
    bf = [
        zxy[0] - s00[:, None] * lw0 - s01[:, None] * lw1,
        zxy[1] - s01[:, None] * lw0 - s11[:, None] * lw1,
    ]
    del lw0, lw1
    # N = Λ M^-1 Λ' per episode (symmetric), Z'H^-1 Z = S - S N S
    m00, m01, m11 = m
    det = m00 * m11 - m01 * m01
    i00, i01, i11 = m11 / det, -m01 / det, m00 / det  # M^-1
    n00 = a * a * i00
    n01 = a * (b * i00 + c * i01)
    n11 = b * b * i00 + 2 * b * c * i01 + c * c * i11
    sn00 = s00 * n00 + s01 * n01
    sn01 = s00 * n01 + s01 * n11
    sn10 = s01 * n00 + s11 * n01
    sn11 = s01 * n01 + s11 * n11
    t00 = s00 - (sn00 * s00 + sn01 * s01)
    t01 = s01 - (sn00 * s01 + sn01 * s11)
    t11 = s11 - (sn10 * s01 + sn11 * s11)
    return np.array([[t00.sum(), t01.sum()], [t01.sum(), t11.sum()]]), bf


def _coordinate_probe(x, f, S, structure, bounds):
    """Deviance at x ± h·e_k (h = 1e-4·max(1, |x_k|)) within bounds; return the best point."""
    best_x, best_f = x, f
    for k in range(len(x)):
        h = 1e-4 * max(1.0, abs(x[k]))
        for step in (-h, h):
            z = np.array(x, float)
            z[k] += step
            lo = bounds[k][0]
            if lo is not None and z[k] < lo:
                continue
            fz = _reml_profile(z, S, structure)
            if fz < best_f:
                best_x, best_f = z, fz
    return best_x, best_f


def _canonical_theta(theta: np.ndarray, structure: str) -> np.ndarray:
    """θ with non-negative diagonal of Λ: ΛΛ' is unchanged by flipping the sign of a column
    of Λ, so the deviance is even in each column and the optimum can be sought unbounded."""
    t = np.array(theta, float)
    if structure == "slope":
        if t[0] < 0:
            t[:2] = -t[:2]
        t[2] = abs(t[2])
    else:
        t = np.abs(t)
    return t


def _nelder_mead(x0, S, structure, bounds, fatol):
    """Derivative-free simplex (simplex size 1e-8 in θ, function tolerance ``fatol``)."""
    from scipy import optimize

    opts = {"xatol": 1e-8, "fatol": fatol, "maxiter": 5000, "maxfev": 5000}
    return optimize.minimize(
        _reml_profile, x0, args=(S, structure), method="Nelder-Mead", bounds=bounds, options=opts
    )


def _quasi_newton(x0, S, structure, fatol):
    """L-BFGS-B on the analytic gradient, then Newton steps; returns (θ, dev, ok, nfev, msg).

    θ is unbounded here: ΛΛ' does not change when a column of Λ changes sign, so the
    deviance is even in each column and a boundary optimum (a variance of 0) is an interior
    minimum in θ (a bound would stop L-BFGS-B at θ_k = 0, where ∂d/∂θ_k = 0 by that
    symmetry); the diagonal is made non-negative at the end. L-BFGS-B stops at a projected
    gradient of 1e-6·|d|; its line search works on deviance differences, which rounding
    blurs near the optimum, so Newton steps on the gradient (Hessian by central differences
    of the analytic gradient, step 1e-5) finish the job until max|∂d/∂θ| ≤ 1e-10·|d|
    (``fatol``). A positive-definite Hessian there shows the point is a local minimum.
    """
    from scipy import optimize

    res = optimize.minimize(
        _reml_profile,
        x0,
        args=(S, structure, False, True),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 0.0, "gtol": 1e4 * fatol, "maxiter": 500, "maxfun": 1000},
    )
    nfev = int(res.nfev)
    x = np.asarray(res.x, float)
    f, g = _reml_profile(x, S, structure, grad=True)
    nfev += 1
    if not np.isfinite(f) or not np.all(np.isfinite(g)):
        return x, f, False, nfev, f"L-BFGS-B: {res.message}"
    k = len(x)
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(k)
        e[j] = h
        hess[:, j] = (
            _reml_profile(x + e, S, structure, grad=True)[1]
            - _reml_profile(x - e, S, structure, grad=True)[1]
        ) / (2 * h)
    nfev += 2 * k
    hess = (hess + hess.T) / 2
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return x, f, False, nfev, "the Hessian of the REML deviance is not positive definite"
    for _ in range(6):
        if np.max(np.abs(g)) <= fatol:
            break
        xn = x - np.linalg.solve(hess, g)
        fn, gn = _reml_profile(xn, S, structure, grad=True)
        nfev += 1
        if not (np.isfinite(fn) and np.max(np.abs(gn)) < np.max(np.abs(g))):
            break
        x, f, g = xn, fn, gn
    if np.max(np.abs(g)) > fatol:
        return x, f, False, nfev, f"gradient {np.max(np.abs(g)):.3g} after Newton steps"
    return _canonical_theta(x, structure), float(f), True, nfev, ""


def fit_vectorized(df, y, X, random, starts, optimizer="l-bfgs-b"):
    """Profiled REML over the relative covariance factor Λ(θ) (as lme4; Bates et al. 2015).

    ``optimizer="l-bfgs-b"`` (default): quasi-Newton with the analytic gradient, finished
    by Newton steps (:func:`_quasi_newton`; about 30 deviance evaluations). If that fails,
    Nelder-Mead is tried from its end point. ``"nelder-mead"``: the derivative-free simplex
    alone (about 250-350 evaluations; the fitter before issue 12, kept to check one against
    the other). A Nelder-Mead solution is checked by probing each coordinate (a step must not
    lower the deviance; if one does, it restarts from there). Then the fallback chain as for
    MixedLM (correlated → independent intercept and slope → intercept only).

    Returns (fit, random structure used, optimizer label, attempt history); ``fit["nfev"]``
    counts deviance evaluations (with or without gradient) for the structure used.

    The sums over rows and episodes are BLAS products on one thread (threadpoolctl): they
    are thin (rows × p with p ≤ ~40), where OpenBLAS's threads gain nothing and, on a busy
    machine, spin and make each evaluation several times slower.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_vectorized(df, y, X, random, starts, optimizer)


def _fit_vectorized(df, y, X, random, starts, optimizer):
    """:func:`fit_vectorized`, under its BLAS thread limit."""
    week = df["week"].to_numpy(float)
    history = []
    for r in RANDOM[RANDOM.index(random) :]:
        Z = np.ones((len(df), 1)) if r == "intercept" else np.column_stack([np.ones(len(df)), week])
        S = _reml_suff(y, X, Z, starts)
        x0 = {"slope": [1.0, 0.0, 1.0], "uncorrelated": [1.0, 1.0], "intercept": [1.0]}[r]
        bounds = {
            "slope": [(0, None), (None, None), (0, None)],
            "uncorrelated": [(0, None)] * 2,
            "intercept": [(0, None)],
        }[r]
        # function (and gradient) tolerance relative to the deviance's size (the deviance is
        # a sum over all rows, so its rounding noise grows with n)
        f0 = _reml_profile(np.asarray(x0), S, r)
        nfev = 1
        fatol = 1e-10 * max(1.0, abs(f0)) if np.isfinite(f0) else 1e-6
        label = "nelder-mead (vectorized REML)"
        ok = False
        if optimizer == "l-bfgs-b":
            x, fx, ok, n_qn, msg = _quasi_newton(np.asarray(x0), S, r, fatol)
            nfev += n_qn
            if ok:
                label = "l-bfgs-b + newton (vectorized REML)"
            else:  # Nelder-Mead from where it stopped (or the default start)
                x0 = _canonical_theta(x, r) if np.isfinite(fx) else x0
        if not ok:
            res = _nelder_mead(x0, S, r, bounds, fatol)
            nfev += res.nfev
            ok = bool(res.success) and np.isfinite(res.fun)
            msg = "" if ok else str(res.message)
            x = res.x
            if ok:  # local check: no coordinate step of 1e-4 may lower the deviance
                for _ in range(2):
                    x_best, f_best = _coordinate_probe(res.x, res.fun, S, r, bounds)
                    nfev += 2 * len(x0)
                    if f_best >= res.fun - 10 * fatol:
                        break
                    res = _nelder_mead(x_best, S, r, bounds, fatol)
                    nfev += res.nfev
                else:
                    ok, msg = False, "Nelder-Mead solution is not a local minimum"
                x = res.x
        history.append((r, label, ok, msg))
        if ok:
            out = _reml_profile(x, S, r, full=True)
            out["Z"] = Z
            out["theta"] = np.asarray(x, float)
            out["nfev"] = nfev + 1
            return out, r, label, history
    raise DataError(
        "The mixed model did not converge with any random-effects structure: "
        + " | ".join(f"{r}: {m}" for r, _, _, m in history)
    )


def fit_statsmodels(df, y, X, random, site, notes):
    """Fit MixedLM by REML with a fallback chain.

    Returns (result, random structure used, optimizer used, attempt history).
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

    chain_random = list(RANDOM[RANDOM.index(random) :])
    if site is not None and chain_random[0] == "slope":
        chain_random = chain_random[1:]
        notes.append(
            "With a site level, the episode random intercept and slope are independent "
            "variance components nested in site (statsmodels MixedLM), as R "
            "(1 + week || episode_id) + (1 | site)."
        )
    week = df["week"].to_numpy(float)
    ones = np.ones(len(df))
    site_mats: dict[str, list] = {}
    if site is not None:
        # per site (sorted, the order MixedLM uses): indicator matrix of its episodes and
        # indicator x week, as independent variance components within site
        sites = df["site"].to_numpy()
        eps = df["ep"].to_numpy()
        site_mats = {"ep": [], "ep_week": [], "names": []}
        for s in np.unique(sites):
            rows = np.flatnonzero(sites == s)
            codes, inv = np.unique(eps[rows], return_inverse=True)
            ind = np.zeros((len(rows), len(codes)))
            ind[np.arange(len(rows)), inv] = 1.0
            site_mats["ep"].append(ind)
            site_mats["ep_week"].append(ind * week[rows, None])
            site_mats["names"].append([str(c) for c in codes])
    history = []
    for r in chain_random:
        tried: list = []
        for opt in ("bfgs", "lbfgs", "powell"):
            free = None
            if site is None:
                exog_re = ones[:, None] if r == "intercept" else np.column_stack([ones, week])
                model = MixedLM(y, X, groups=df["ep"].to_numpy(), exog_re=exog_re)
                if r == "uncorrelated":
                    free = MixedLMParams.from_components(
                        fe_params=np.ones(X.shape[1]), cov_re=np.eye(2)
                    )
            else:
                comps = ["ep"] if r == "intercept" else ["ep", "ep_week"]
                spec = VCSpec(
                    comps,
                    [site_mats["names"]] * len(comps),
                    [site_mats[c] for c in comps],
                )
                model = MixedLM(
                    y, X, groups=df["site"].to_numpy(), exog_re=ones[:, None], exog_vc=spec
                )
                if list(map(str, model.group_labels)) != list(map(str, np.unique(sites))):
                    raise RuntimeError("internal: site order differs from MixedLM's groups")
            kw = {"gtol": 1e-8} if opt == "bfgs" else {}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    res = model.fit(reml=True, method=[opt], free=free, **kw)
                    ok = bool(res.converged) and bool(np.all(np.isfinite(res.fe_params)))
                    err = None
                except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - rare
                    res, ok, err = None, False, str(exc)
            msgs = sorted(
                {
                    str(w.message).split("\n")[0]
                    for w in caught
                    if issubclass(w.category, (SMConvergenceWarning, RuntimeWarning))
                }
            )
            history.append((r, opt, ok, err or "; ".join(msgs)))
            if res is not None and np.isfinite(res.llf) and np.all(np.isfinite(res.fe_params)):
                tried.append((float(res.llf), opt, res))
            if ok:
                # the strict-tolerance BFGS run often stops with "precision loss" at the
                # optimum: once any optimizer converges, report the attempt (same random
                # structure) with the highest REML log-likelihood
                best_llf, best_opt, best = max(tried, key=lambda t: t[0])
                if best_llf < float(res.llf) - 1e-8:  # pragma: no cover - defensive
                    best_opt, best = opt, res
                return best, r, best_opt, history
    raise DataError(
        "The mixed model did not converge with any random-effects structure or optimizer: "
        + " | ".join(f"{r}/{o}: {m}" for r, o, _, m in history)
    )
