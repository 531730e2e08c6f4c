"""The mixed-model method: model-based mean change from the weekly scores (REML)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._stats import z_crit
from ..exceptions import ConvergenceWarning, DataError
from .estimates import Design

__all__ = ["mixed_change"]


# --------------------------------------------------------------------------------------
# Mixed model
# --------------------------------------------------------------------------------------
def _time_basis(t: np.ndarray, W: float, time: str):
    """Fixed-effect time basis f(t) with f(0) = 0 (a function of the weeks, for any rows),
    its value at the endpoint week W and its column names.

    >>> f, at_w, names = _time_basis(np.array([0.0, 1.2, 2.0, 1.0]), 2, "categorical")
    >>> f(np.array([1.0, 2.4, 0.0])), at_w, names
    (array([[1., 0.],
           [0., 1.],
           [0., 0.]]), array([0., 1.]), ['week1', 'week2'])
    """
    if time == "categorical":
        present = set(np.unique(np.round(t)).tolist())
        weeks = [w for w in range(1, int(W) + 1) if w in present]
        if int(W) not in weeks:
            raise DataError(
                f"The mixed model (time='categorical') needs scores in endpoint week {W:g}; none "
                "were found. Pass endpoint_week= or time='quadratic'."
            )

        def f(tt: np.ndarray) -> np.ndarray:
            wk = np.round(tt).astype(np.int64)
            return (wk[:, None] == np.asarray(weeks)[None, :]).astype(float)

        at_w = np.array([float(w == int(W)) for w in weeks])
        return f, at_w, [f"week{w}" for w in weeks]
    powers = (1, 2) if time == "quadratic" else (1,)

    def f(tt: np.ndarray) -> np.ndarray:
        return np.column_stack([tt**k for k in powers])

    return f, np.array([float(W) ** k for k in powers]), [f"t^{k}" for k in powers]


def _design_matrix(F: np.ndarray, fnames: list, g: np.ndarray, k: int, c: np.ndarray):
    """The mixed model's fixed-effects design and its column names: intercept, f(t), per
    non-reference group j its dummy and dummy × f(t), per centred covariate its value and
    value × f(t).

    Written column by column into one preallocated array: the matrix is the largest object of
    the fit (rows × (1 + nb)(k + covariates) floats), so no list of its columns is held beside
    it (peak memory). The intercept's f(t) columns are 1 × f(t) = f(t), exactly.

    Examples
    --------
    >>> F = np.array([[0.0], [1.0], [2.0]])
    >>> X, names = _design_matrix(F, ["t^1"], np.array([0, 1, 1]), 2, np.zeros((3, 0)))
    >>> names
    ['Intercept', 't^1', 'g1', 'g1:t^1']
    >>> X
    array([[1., 0., 0., 0.],
           [1., 1., 1., 1.],
           [1., 2., 1., 2.]])
    """
    nb = F.shape[1]
    n_blocks = 1 + max(k - 1, 0) + c.shape[1]  # intercept, group dummies, covariates
    X = np.empty((F.shape[0], (1 + nb) * n_blocks))
    names: list = []

    def put(name: str, v: np.ndarray, label: str) -> None:  # v and v × f(t)
        at = len(names)
        X[:, at] = v
        np.multiply(v[:, None], F, out=X[:, at + 1 : at + 1 + nb])
        names.extend([name, *(f"{label}{f}" for f in fnames)])

    put("Intercept", np.ones(len(F)), "")
    for j in range(1, k):
        put(f"g{j}", (g == j).astype(float), f"g{j}:")
    for j in range(c.shape[1]):
        put(f"c{j}", c[:, j], f"c{j}:")
    return X, names


def _fit_reml_statsmodels(y, X, t, idx):
    """REML by statsmodels ``MixedLM`` (random intercept and slope in t per episode).

    The fitter used before issue 12, kept only to check the vectorized fitter against an
    independent implementation (``mixed_change(..., engine="statsmodels")``; it loops over episodes
    in Python, ~4 ms each). L-BFGS, then BFGS (gradient tolerance 1e-8) started from its
    solution; the higher REML likelihood wins; Powell as the last resort. Returns (β̂, D, σ̂², problem or "").
    """
    import statsmodels.api as sm

    model = sm.MixedLM(y, X, groups=idx, exog_re=np.column_stack([np.ones_like(t), t]))
    fits, msgs = [], []
    start = None
    for method in ("lbfgs", "bfgs"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                kw = {"start_params": start} if start is not None else {}
                if method == "bfgs":  # tight, to check the vectorized fit to ~1e-7
                    kw["gtol"] = 1e-8
                f = model.fit(reml=True, method=[method], **kw)
            except (np.linalg.LinAlgError, ValueError) as e:  # pragma: no cover - rare
                msgs.append(f"{method}: {e}")
                continue
        bad = [str(w.message) for w in caught if "onverg" in str(w.message)]
        if f.converged and not bad and np.isfinite(f.llf):
            fits.append(f)
        else:
            msgs.extend(bad or [f"{method}: not converged"])
        start = f.params_object
    problem = ""
    if fits:
        f = max(fits, key=lambda f: f.llf)
    else:  # pragma: no cover - rare
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = model.fit(reml=True, method=["powell"])
        problem = "the REML fit did not converge (" + "; ".join(msgs)[:200] + ")"
    return np.asarray(f.fe_params), np.asarray(f.cov_re, float), float(f.scale), problem


def mixed_change(
    long: pd.DataFrame,
    d: Design,
    endpoint_week: float,
    adjust: bool,
    ci_level: float,
    time: str,
    engine: str = "vectorized",
):
    """Linear mixed model of weekly scores; model-based mean change from week 0 to W.

    Rows: in-treatment scores with week ≤ W + 0.5. Fixed effects: time basis f(t) (week
    dummies for ``time='categorical'``, else t, t²), group dummies and group × f(t), centred
    covariates and covariates × f(t); random intercept and slope in t per episode (REML,
    profiled over the relative covariance factor and vectorized over episodes, as the
    trajectories fitter: lme4's formulation, Bates et al. 2015). With f(0) = 0 the change 0 → W for group g is
    ``Σ_k f_k(W)·(β_k + β_{g,k} + Σ_c x̄_{g,c} β_{c,k})``, x̄_{g,c} being group g's mean of the
    centred covariate c, so the estimand is the group's own mean change, as in the other
    methods. The overall change weights the groups by their share of episodes. With
    ``adjust=True`` the group difference is taken at the overall covariate means.
    """
    k = len(d.levels)
    long = long[long["_t"] <= endpoint_week + 0.5]
    if k >= 2:
        long = long[d.group[long["_row"].to_numpy()] >= 0]
    long = long.sort_values(["_row", "_t"], kind="stable")
    idx = long["_row"].to_numpy()
    t = long["_t"].to_numpy(dtype=float)
    y = long["_y"].to_numpy(dtype=float)
    basis, at_w, fnames = _time_basis(t, endpoint_week, time)
    nb = len(fnames)

    def rows(lo: int, hi: int) -> np.ndarray:  # the design's rows lo:hi
        at = idx[lo:hi]
        return _design_matrix(basis(t[lo:hi]), fnames, d.group[at], k, d.cov[at])[0]

    names = _design_matrix(basis(t[:0]), fnames, d.group[:0], k, d.cov[:0])[1]
    # profiled REML over the relative covariance factor, vectorized over episodes (the
    # trajectories fitter; lme4's formulation), with its fallback chain slope -> uncorrelated
    # -> intercept. The fixed-effects covariance is (X'V⁻¹X)⁻¹ = σ²(X'H⁻¹X)⁻¹ at the REML
    # estimates, as lme4's vcov() (Laird & Ware 1982; Bates et al. 2015), from the
    # fit's own per-episode sums: no numerical Hessian. engine="statsmodels" (MixedLM, which
    # loops over episodes in Python) is kept to check the two against each other.
    from .._trajectories.mixed import fit_vectorized, gls_cov

    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    if engine == "statsmodels":
        X = rows(0, len(t))
        beta, D, scale, problem = _fit_reml_statsmodels(y, X, t, idx)
        if problem:  # pragma: no cover - rare
            warnings.warn(
                f"Mixed model (missing-data sensitivity): {problem}; its rows may be unreliable.",
                ConvergenceWarning,
                stacklevel=3,
            )
        Z = np.column_stack([np.ones_like(t), t])
        vcov = gls_cov(X, Z, starts, D, scale)
    else:
        # the design by blocks of episodes (its largest object: rows × p floats, ~2 GB for
        # a million episodes' weekly scores by week and group), never held whole
        fit, structure, _opt, _history = fit_vectorized(
            pd.DataFrame({"week": t}), y, (len(names), rows), "slope", starts
        )
        if structure != "slope":
            warnings.warn(
                "Mixed model (missing-data sensitivity): the random intercept-and-slope model "
                f"did not converge; fitted with random={structure!r} instead.",
                ConvergenceWarning,
                stacklevel=3,
            )
        beta = np.asarray(fit["beta"])
        vcov = np.asarray(fit["vcov"])
    pos = {nm: i for i, nm in enumerate(names)}

    used = np.zeros(d.baseline.size, bool)
    used[np.unique(idx)] = True

    def change_vec(gweights: np.ndarray, cmeans: np.ndarray) -> np.ndarray:
        L = np.zeros(beta.size)
        for b in range(nb):
            L[pos[fnames[b]]] = at_w[b]
            for j in range(1, k):
                L[pos[f"g{j}:{fnames[b]}"]] = gweights[j] * at_w[b]
            for j in range(d.cov.shape[1]):
                L[pos[f"c{j}:{fnames[b]}"]] = cmeans[j] * at_w[b]
        return L

    def cmean(sel):
        return d.cov[sel].mean(axis=0) if d.cov.shape[1] else np.zeros(0)

    ing = used & (d.group >= 0)
    share = np.bincount(d.group[ing], minlength=k) / max(ing.sum(), 1) if k >= 2 else None
    Ls = [change_vec(share if k >= 2 else np.zeros(1), cmean(used))]
    nused = [int(used.sum())]
    for j in range(1, k):
        e_j, e_0 = np.eye(k)[j], np.eye(k)[0]
        if adjust:
            cm_g = cm_r = cmean(used)
        else:
            cm_g, cm_r = cmean(used & (d.group == j)), cmean(used & (d.group == 0))
        Ls.append(change_vec(e_j, cm_g) - change_vec(e_0, cm_r))
        nused.append(int((used & ((d.group == j) | (d.group == 0))).sum()))
    L = np.vstack(Ls)
    est = L @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, vcov, L))
    z = z_crit(ci_level)
    return est, se, est - z * se, est + z * se, np.array(nused)
