"""Missing-data sensitivity: the headline change and the format comparison under five
ways of handling patients whose discharge score is missing.

Programs lose a third or more of patients before discharge; whether those losses bias the
headline numbers depends on *why* they left. No single method settles that, so
:func:`missing_data_sensitivity` reports the same two estimands side by side under
five methods, each with its assumption stated in plain words:

==========  ===========================================================================
completers  episodes with an observed discharge score only (valid if missing completely
            at random, MCAR)
locf        last observation carried forward: a missing discharge score is replaced by
            the last in-treatment score (baseline if there is none)
bocf        baseline observation carried forward: a missing discharge score is replaced
            by the baseline score (no change)
mi          multiple imputation by chained equations (Bayesian linear regression draws)
            over baseline, the weekly in-treatment scores, the discharge score, the group
            and the covariates; pooled with Rubin's rules (valid under MAR)
mixed       linear mixed model of all in-treatment weekly scores (valid under MAR)
==========  ===========================================================================

The two estimands are (1) the mean change ``endpoint − baseline`` over all analysed
episodes and (2) the difference in mean change between each ``group`` level and the
``reference`` level (optionally baseline-adjusted, ANCOVA).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ._results import TableResult, format_table
from ._stats import ols, z_crit
from .exceptions import ConfigError, ConvergenceWarning, DataError

__all__ = ["missing_data_sensitivity", "rubin_pool", "SensitivityResult", "ASSUMPTIONS"]

METHODS = ("completers", "locf", "bocf", "mi", "mixed")

#: Plain-words assumption of each method (printed with every result).
ASSUMPTIONS = {
    "completers": "assumes those lost are like those retained (missing completely at random, MCAR)",
    "locf": "assumes no change after the last score — biased when people drop out while "
    "still improving or worsening",
    "bocf": "assumes lost patients returned to baseline (conservative: no change for anyone lost)",
    "mi": "assumes missing at random (MAR) given the variables in the imputation model",
    "mixed": "valid under missing at random (MAR); uses all observed weekly scores",
}

_LABELS = {
    "completers": "Completers only",
    "locf": "LOCF",
    "bocf": "BOCF",
    "mi": "Multiple imputation",
    "mixed": "Mixed model",
}

_WEEKLY_METHODS = ("locf", "mixed")


# --------------------------------------------------------------------------------------
# Rubin's rules
# --------------------------------------------------------------------------------------
def rubin_pool(estimates, variances, *, dfcom=np.inf, ci_level: float = 0.95) -> pd.DataFrame:
    """Pool completed-data estimates with Rubin's rules (Barnard–Rubin degrees of freedom).

    Parameters
    ----------
    estimates, variances : array-like, shape (m,) or (m, k)
        Completed-data estimates :math:`\\hat Q_\\ell` and their squared standard errors
        :math:`U_\\ell` from each of the ``m`` imputed data sets (columns = parameters).
    dfcom : float or array-like, default inf
        Complete-data degrees of freedom (``n − p`` for a regression with ``p`` coefficients;
        ``n − 1`` for a mean). ``inf`` gives Rubin's (1987) large-sample df.
    ci_level : float
        Confidence level of the t interval.

    Returns
    -------
    DataFrame
        One row per parameter: ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``,
        ``statistic`` (t for H0: Q = 0), ``pvalue``, ``ubar``, ``b``, ``t``, ``riv``,
        ``lambda``, ``fmi``, ``m``.

    Notes
    -----
    .. math::
        \\bar Q = \\frac1m\\sum_\\ell \\hat Q_\\ell,\\quad
        \\bar U = \\frac1m\\sum_\\ell U_\\ell,\\quad
        B = \\frac1{m-1}\\sum_\\ell(\\hat Q_\\ell-\\bar Q)^2,\\quad
        T = \\bar U + (1 + 1/m)B

    with :math:`r = (1+1/m)B/\\bar U` (relative increase in variance),
    :math:`\\lambda = (1+1/m)B/T`, :math:`\\nu_{old} = (m-1)/\\lambda^2`,
    :math:`\\nu_{obs} = \\frac{\\nu_{com}+1}{\\nu_{com}+3}\\nu_{com}(1-\\lambda)` and
    :math:`\\nu = \\nu_{old}\\nu_{obs}/(\\nu_{old}+\\nu_{obs})` (Barnard & Rubin 1999;
    :math:`\\nu = \\nu_{old}` when :math:`\\nu_{com} = \\infty`). As R ``mice::pool``,
    :math:`\\lambda` is floored at 1e-4 in the df formula, and the fraction of missing
    information is :math:`\\gamma = (r + 2/(\\nu+3))/(r+1)`. Interval:
    :math:`\\bar Q \\pm t_{\\nu}\\sqrt{T}`.

    References
    ----------
    Rubin DB (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley, pp. 76–77.
    Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation.
    *Biometrika* 86:948–955. van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd
    ed., §2.3–2.4. Verified against ``mice::pool`` and ``mice::pool.scalar`` (mice 3.15.0).

    Examples
    --------
    >>> r = rubin_pool([-5.10, -4.85, -5.32, -4.97, -5.21],
    ...                [0.090, 0.084, 0.095, 0.088, 0.091], dfcom=199)
    >>> round(float(r.estimate[0]), 3), round(float(r.t[0]), 5), round(float(r.df[0]), 3)
    (-5.09, 0.13142, 30.525)
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim == 1:
        q = q[:, None]
        u = u[:, None]
    if q.shape != u.shape:
        raise ConfigError(
            "The 'variances' parameter of rubin_pool must have the shape of 'estimates'. "
            f"Got {u.shape} and {q.shape} instead."
        )
    m = q.shape[0]
    if m < 2:
        raise ConfigError(f"rubin_pool needs at least 2 imputations. Got m={m} instead.")
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=float), (q.shape[1],))
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        lam_df = np.maximum(lam, 1e-4)
        dfold = (m - 1) / lam_df**2
        dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam_df)
        df = np.where(np.isfinite(dfcom), dfold * dfobs / (dfold + dfobs), dfold)
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
        se = np.sqrt(t)
        crit = stats.t.ppf(0.5 + ci_level / 2, df)
        stat = qbar / se
        p = 2 * stats.t.sf(np.abs(stat), df)
    return pd.DataFrame(
        {
            "estimate": qbar,
            "se": se,
            "ci_low": qbar - crit * se,
            "ci_high": qbar + crit * se,
            "df": df,
            "statistic": stat,
            "pvalue": p,
            "ubar": ubar,
            "b": b,
            "t": t,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
            "m": m,
        }
    )


# --------------------------------------------------------------------------------------
# Complete-data estimators (vectorized)
# --------------------------------------------------------------------------------------
def _mean_se(y: np.ndarray):
    n = y.size
    if n < 2:
        return np.nan, np.nan, n - 1
    return float(y.mean()), float(y.std(ddof=1) / np.sqrt(n)), n - 1


@dataclass
class _Design:
    """The analysis set: one row per episode, arrays aligned."""

    baseline: np.ndarray  # (n,)
    endpoint: np.ndarray  # (n,) NaN when no discharge score
    last: np.ndarray | None  # last in-treatment score (LOCF), NaN -> baseline
    group: np.ndarray  # (n,) int codes, -1 = not in a compared level / missing
    levels: list  # group labels; levels[0] is the reference
    cov: np.ndarray  # (n, c) covariate design (dummies), centred
    cov_names: list
    weekly: np.ndarray | None  # (n, W-1) intermediate weekly scores on the grid
    episode_id: np.ndarray


def _group_dummies(group: np.ndarray, n_levels: int) -> np.ndarray:
    return (group[:, None] == np.arange(1, n_levels)[None, :]).astype(float)


def _estimates(
    change: np.ndarray, d: _Design, adjust: bool, baseline: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Complete-data estimates for a vector of changes (NaN rows are dropped).

    Returns (estimates, variances, dfcom, n_used) over the parameters
    [mean change, diff level 1 vs ref, diff level 2 vs ref, ...].
    """
    base = d.baseline if baseline is None else baseline
    ok = ~np.isnan(change)
    est, var, dfc, nused = [], [], [], []
    mu, se, df = _mean_se(change[ok])
    est.append(mu)
    var.append(se**2)
    dfc.append(df)
    nused.append(int(ok.sum()))
    k = len(d.levels)
    if k >= 2:
        ing = ok & (d.group >= 0)
        y = change[ing]
        X = [np.ones(y.size), *_group_dummies(d.group[ing], k).T]
        if adjust:
            X.append(base[ing] - base[ing].mean())
            X.extend(d.cov[ing].T)
        X = np.column_stack(X)
        counts = np.bincount(d.group[ing], minlength=k)
        if (counts < 1).any() or y.size <= X.shape[1]:
            b = np.full(k - 1, np.nan)
            v = np.full(k - 1, np.nan)
            dfr = y.size - X.shape[1]
        else:
            try:
                beta, cov, dfr, _ = ols(y, X)
                b, v = beta[1:k], np.diag(cov)[1:k]
            except np.linalg.LinAlgError:
                b = v = np.full(k - 1, np.nan)
                dfr = y.size - X.shape[1]
        est.extend(b)
        var.extend(v)
        dfc.extend([dfr] * (k - 1))
        nused.extend([int(ing.sum())] * (k - 1))
    return np.array(est), np.array(var), np.array(dfc, dtype=float), np.array(nused)


# --------------------------------------------------------------------------------------
# Multiple imputation by chained equations (Bayesian linear regression, "norm")
# --------------------------------------------------------------------------------------
def _norm_draw(y, X, rng, ridge=1e-5):
    """One posterior draw (beta*, sigma*) of a normal linear regression.

    Algorithm 3.1 of van Buuren (2018) / ``mice.impute.norm``: sigma*^2 = SSR / chi2(n - q),
    beta* = beta_hat + sigma* L z with L L' = (X'X + ridge·diag(X'X))^-1.
    """
    n, q = X.shape
    xtx = X.T @ X
    xtx = xtx + np.diag(np.diag(xtx)) * ridge
    beta = np.linalg.solve(xtx, X.T @ y)
    resid = y - X @ beta
    df = max(n - q, 1)
    sigma = np.sqrt(float(resid @ resid) / rng.chisquare(df))
    v = np.linalg.inv(xtx)
    v = (v + v.T) / 2
    chol = np.linalg.cholesky(v)
    beta_star = beta + sigma * (chol @ rng.standard_normal(q))
    return beta_star, sigma


def _mice_impute(
    Y: np.ndarray, predictors: np.ndarray, n_iter: int, rng: np.random.Generator
) -> np.ndarray:
    """Impute the NaNs of ``Y`` (n × p outcome columns, ordered by time) by chained equations.

    ``predictors`` (n × c) are complete. Initialisation is a monotone pass (column j on the
    complete predictors and columns < j); then ``n_iter`` sweeps of full conditionals
    (column j on everything else). When the missingness is monotone in column order the
    initial pass is already a proper draw and no sweeps are run.
    """
    Y = Y.copy()
    miss = np.isnan(Y)
    p = Y.shape[1]
    n = Y.shape[0]
    ones = np.ones((n, 1))
    todo = [j for j in range(p) if miss[:, j].any()]
    for j in todo:  # monotone initial pass
        X = np.hstack([ones, predictors, Y[:, :j]])
        obs = ~miss[:, j]
        beta, sigma = _norm_draw(Y[obs, j], X[obs], rng)
        mis = miss[:, j]
        Y[mis, j] = X[mis] @ beta + sigma * rng.standard_normal(int(mis.sum()))
    monotone = bool((np.diff(miss.astype(np.int8), axis=1) >= 0).all())
    if monotone:
        return Y
    for _ in range(n_iter):
        for j in todo:
            others = np.delete(Y, j, axis=1)
            X = np.hstack([ones, predictors, others])
            obs = ~miss[:, j]
            beta, sigma = _norm_draw(Y[obs, j], X[obs], rng)
            mis = miss[:, j]
            Y[mis, j] = X[mis] @ beta + sigma * rng.standard_normal(int(mis.sum()))
    return Y


# --------------------------------------------------------------------------------------
# Mixed model
# --------------------------------------------------------------------------------------
def _time_basis(t: np.ndarray, W: float, time: str):
    """Fixed-effect time basis f(t) with f(0) = 0, and its value at the endpoint week W."""
    if time == "categorical":
        wk = np.round(t).astype(np.int64)
        weeks = [w for w in range(1, int(W) + 1) if (wk == w).any()]
        if int(W) not in weeks:
            raise DataError(
                f"The mixed model (time='categorical') needs scores in endpoint week {W:g}; none "
                "were found. Pass endpoint_week= or time='quadratic'."
            )
        F = np.column_stack([(wk == w).astype(float) for w in weeks])
        at_w = np.array([float(w == int(W)) for w in weeks])
        return F, at_w, [f"week{w}" for w in weeks]
    powers = (1, 2) if time == "quadratic" else (1,)
    F = np.column_stack([t**k for k in powers])
    return F, np.array([float(W) ** k for k in powers]), [f"t^{k}" for k in powers]


def _fit_reml_statsmodels(y, X, t, idx):
    """REML by statsmodels ``MixedLM`` (random intercept and slope in t per episode).

    The fitter used before issue 12, kept only to check the vectorized fitter against an
    independent implementation (``_mixed(..., engine="statsmodels")``; it loops over episodes
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


def _mixed(
    long: pd.DataFrame,
    d: _Design,
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
    g = d.group[idx]
    F, at_w, fnames = _time_basis(t, endpoint_week, time)
    nb = F.shape[1]
    cols, names = [np.ones_like(t)], ["Intercept"]
    cols.extend(F.T)
    names.extend(fnames)
    for j in range(1, k):
        gj = (g == j).astype(float)
        cols.append(gj)
        names.append(f"g{j}")
        cols.extend((gj[:, None] * F).T)
        names.extend(f"g{j}:{f}" for f in fnames)
    c = d.cov[idx]
    for j in range(c.shape[1]):
        cols.append(c[:, j])
        names.append(f"c{j}")
        cols.extend((c[:, j][:, None] * F).T)
        names.extend(f"c{j}:{f}" for f in fnames)
    X = np.column_stack(cols)
    # profiled REML over the relative covariance factor, vectorized over episodes (the
    # trajectories fitter; lme4's formulation), with its fallback chain slope -> uncorrelated
    # -> intercept. The fixed-effects covariance is (X'V⁻¹X)⁻¹ = σ²(X'H⁻¹X)⁻¹ at the REML
    # estimates, as lme4's vcov() (Laird & Ware 1982; Bates et al. 2015), from the
    # fit's own per-episode sums: no numerical Hessian. engine="statsmodels" (MixedLM, which
    # loops over episodes in Python) is kept to check the two against each other.
    from .trajectories import _fit_vectorized, _gls_cov

    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    if engine == "statsmodels":
        beta, D, scale, problem = _fit_reml_statsmodels(y, X, t, idx)
        if problem:  # pragma: no cover - rare
            warnings.warn(
                f"Mixed model (missing-data sensitivity): {problem}; its rows may be unreliable.",
                ConvergenceWarning,
                stacklevel=3,
            )
        Z = np.column_stack([np.ones_like(t), t])
        vcov = _gls_cov(X, Z, starts, D, scale)
    else:
        fit, structure, _opt, _history = _fit_vectorized(
            pd.DataFrame({"week": t}), y, X, "slope", starts
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
            for j in range(c.shape[1]):
                L[pos[f"c{j}:{fnames[b]}"]] = cmeans[j] * at_w[b]
        return L

    def cmean(sel):
        return d.cov[sel].mean(axis=0) if c.shape[1] else np.zeros(0)

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


# --------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SensitivityResult(TableResult):
    """Side-by-side estimates under each missing-data method.

    ``table`` has one row per estimand × method with ``estimand``, ``contrast``, ``method``,
    ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``df``, ``n_used``,
    ``n_missing`` (episodes whose discharge score was missing), ``fmi`` (MI only) and
    ``assumption``. ``imputations`` holds the completed-data estimates of every imputation.
    """

    imputations: pd.DataFrame | None = None
    roles: dict = field(
        default_factory=lambda: {
            "n_used": "count",
            "n_missing": "count",
            "estimate": "statistic of n_used",
            "ci_low": "statistic of n_used",
            "ci_high": "statistic of n_used",
        },
        repr=False,
    )

    def summary(self) -> str:
        shown = self.table.drop(
            columns=["assumption", "ci_level", "n_missing", "n_excluded"], errors="ignore"
        )
        if "fmi" in shown and shown["fmi"].isna().all():
            shown = shown.drop(columns="fmi")
        parts = [self.title] if self.title else []
        for (est, con), block in shown.groupby(["estimand", "contrast"], sort=False):
            label = est if not con else f"{est}: {con}"
            parts.append("")
            parts.append(label)
            body = block.drop(columns=["estimand", "contrast"]).reset_index(drop=True)
            body["method"] = body["method"].map(lambda m: _LABELS.get(m, m))
            parts.append(format_table(body, self.digits).to_string(index=False))
        parts.append("")
        parts.append("Assumptions:")
        for m in dict.fromkeys(self.table["method"]):
            parts.append(f"  {_LABELS.get(m, m)}: {ASSUMPTIONS.get(m, '')}")
        parts.extend(self._footer())
        return "\n".join(parts)

    def plot(self, *, estimand: str | None = None, ax=None):
        """Forest plot (:func:`iop_outcomes.plots.sensitivity.plot_sensitivity`)."""
        from .plots.sensitivity import plot_sensitivity

        return plot_sensitivity(self, estimand=estimand, ax=ax)

    def _repr_html_(self) -> str:
        import html

        shown = self.table.drop(columns=["assumption"], errors="ignore")
        body = format_table(shown, self.digits).to_html(index=False, border=0)
        head = f"<p><strong>{html.escape(self.title)}</strong></p>" if self.title else ""
        ass = "".join(
            f"<br><small>{html.escape(_LABELS.get(m, m))}: {html.escape(ASSUMPTIONS[m])}</small>"
            for m in dict.fromkeys(self.table["method"])
            if m in ASSUMPTIONS
        )
        foot = "".join(f"<br><small>{html.escape(s)}</small>" for s in self._footer())
        return f"<div>{head}{body}<small>Assumptions:</small>{ass}{foot}</div>"


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------
def _as_frame(data, name: str) -> pd.DataFrame:
    if hasattr(data, "data") and isinstance(data.data, pd.DataFrame):
        return data.data
    if isinstance(data, pd.DataFrame):
        return data
    raise DataError(
        f"The {name!r} parameter of missing_data_sensitivity must be a DataFrame or the "
        f"result of iop.load(). Got {type(data).__name__} instead."
    )


def _canonical(instrument: str) -> str:
    from .instruments import canonical_name

    return canonical_name(instrument) or instrument


def _discharge_rules(rules):
    """The caller's episode rules with the endpoint rule set to ``discharge_only``."""
    from ._episodes import EpisodeRules, coerce_rules

    r = coerce_rules(rules)
    # a label endpoint without a last_in_treatment fallback ("label:discharge") is kept
    if r.endpoint != "discharge_only" and (
        "last_in_treatment" in r.endpoint.split(" else ") or not r.endpoint.startswith("label:")
    ):
        r = EpisodeRules(**{**r.to_dict(), "endpoint": "discharge_only"})
    return r


def _weekly(assessments: pd.DataFrame, instrument: str, rules) -> pd.DataFrame:
    """In-treatment scores with their role (``iop.episodes.assessment_roles``).

    Columns ``episode_id``, ``_t`` (weeks since admission), ``_y`` (total) and ``_role``
    (``baseline``, ``treatment`` or ``endpoint``), sorted by episode and time.
    """
    from ._episodes import assessment_roles

    roles = assessment_roles(assessments, instrument=_canonical(instrument), rules=rules)
    roles = roles[roles["role"].isin(["baseline", "treatment", "endpoint"])]
    out = pd.DataFrame(
        {
            "episode_id": roles["episode_id"].to_numpy(),
            "_t": pd.to_numeric(roles["week"], errors="coerce").to_numpy(dtype=float),
            "_y": pd.to_numeric(roles["total"], errors="coerce").to_numpy(dtype=float),
            "_role": roles["role"].astype(str).to_numpy(),
        }
    )
    out = out.dropna(subset=["_t", "_y"])
    return out.sort_values(["episode_id", "_t"], kind="stable").reset_index(drop=True)


def _check_options(methods, group, reference, n_imputations, ci_level, time, adjust):
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ConfigError(
            "The 'methods' parameter of missing_data_sensitivity must be a non-empty subset of "
            f"{METHODS}. Got {methods!r} instead."
        )
    if not (0 < ci_level < 1):
        raise ConfigError(
            "The 'ci_level' parameter of missing_data_sensitivity must be in (0, 1). "
            f"Got {ci_level!r} instead."
        )
    if "mi" in methods and (not isinstance(n_imputations, int | np.integer) or n_imputations < 2):
        raise ConfigError(
            "The 'n_imputations' parameter of missing_data_sensitivity must be an integer >= 2. "
            f"Got {n_imputations!r} instead."
        )
    if time not in ("categorical", "linear", "quadratic"):
        raise ConfigError(
            "The 'time' parameter of missing_data_sensitivity must be 'categorical', 'linear' "
            "or 'quadratic'. "
            f"Got {time!r} instead."
        )
    if not isinstance(adjust, bool):
        raise ConfigError(
            f"The 'adjust' parameter of missing_data_sensitivity must be True or False. "
            f"Got {adjust!r} instead."
        )
    return methods


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------
def missing_data_sensitivity(
    data,
    *,
    episodes: pd.DataFrame | None = None,
    instrument: str = "PHQ-9",
    group: str | None = "format",
    reference: str | None = "in_person",
    methods: Sequence[str] = METHODS,
    covariates: Sequence[str] = (),
    adjust: bool = False,
    rules=None,
    completed: Sequence[str] | None = ("completed",),
    endpoint_week: float | None = None,
    time: str = "categorical",
    n_imputations: int = 20,
    n_iterations: int = 10,
    seed: int | np.random.Generator | None = None,
    ci_level: float = 0.95,
    progress: bool | None = None,
) -> SensitivityResult:
    r"""Headline change and format comparison under five missing-data methods, side by side.

    Parameters
    ----------
    data : DataFrame or LoadResult
        The loaded assessment rows (``episode_id``, ``instrument``, ``total`` and ``week`` or
        ``assessment_date`` + ``admit_date``) — needed for LOCF and the mixed model and used
        by MI as auxiliary information. May instead be an episode table (has ``baseline`` and
        ``endpoint`` and no ``total``): then only ``completers``, ``bocf`` and ``mi`` (without
        weekly scores) can run.
    episodes : DataFrame, optional
        Episode table (docs/data-format.md) whose ``endpoint`` is the **discharge score**
        (``iop.episodes(..., rules=EpisodeRules(endpoint="discharge_only"))``): missing for
        episodes without an observed discharge score. Built from ``data`` with that rule when
        omitted. Do not pass a table built with the ``last_in_treatment`` rule: its endpoint is
        already LOCF.
    instrument : str
        Instrument analysed (rows of other instruments are ignored).
    rules : EpisodeRules or dict, optional
        Episode window rules (``iop.episodes``); the endpoint rule is always
        ``"discharge_only"``, except that a label endpoint without a ``last_in_treatment``
        fallback (``"label:discharge"``) is kept. Default: the rules recorded on ``episodes``
        (``attrs``), else the library defaults.
    completed : sequence of str or None, default ("completed",)
        ``discharge_status`` values that count as finishing treatment. The discharge-only
        rule takes any score near the discharge date, which for a dropout is usually the
        last score before leaving, not an end-of-treatment score; for episodes with another
        status the endpoint is therefore treated as missing (and that score as their last
        in-treatment score). Episodes with an unknown status keep their endpoint. ``None``:
        take the episode table's endpoint as is.
    group, reference : str
        Column compared and its reference level; the difference is ``level − reference`` for
        every other level. ``group=None`` gives the headline change only.
    methods : sequence of str
        Any of ``"completers"``, ``"locf"``, ``"bocf"``, ``"mi"``, ``"mixed"``.
    covariates : sequence of str
        Episode-level columns (numeric or categorical) added to the imputation model and to
        the mixed model (centred, with time interactions) to make MAR more plausible; with
        ``adjust=True`` they also adjust the comparison. Episodes missing a covariate are
        excluded from every method (``n_excluded``).
    adjust : bool, default False
        Baseline-adjust the format comparison (ANCOVA: change on group + baseline +
        covariates) in completers/LOCF/BOCF/MI; in the mixed model the difference is then
        taken at the overall covariate means. Default: unadjusted difference in mean change.
    endpoint_week : float, optional
        Week of the end of treatment, the time point of the mixed model's change and the
        width of MI's weekly grid. Default: the median week of the observed discharge scores.
    time : {"categorical", "quadratic", "linear"}
        Mean trajectory in the mixed model: a free mean per rounded week and group
        (``"categorical"``, default, as in MMRM analyses) or a polynomial in weeks; random
        intercept and slope either way.
    n_imputations, n_iterations : int
        Number of imputed data sets and chained-equation sweeps (sweeps are skipped when the
        missingness is monotone).
    seed : int or numpy Generator, optional
        Seed for MI; the same seed gives the same numbers.
    ci_level : float
        Confidence level.
    progress : bool, optional
        Show a tqdm bar over imputations (``None``: only on an interactive terminal).

    Returns
    -------
    SensitivityResult
        ``.table``: one row per estimand × method (see :class:`SensitivityResult`).

    Notes
    -----
    The analysis set is every finished episode (``discharge_status`` not ``ongoing``) with a
    baseline score and, when used, a group and covariates. Let :math:`Y_0` be the baseline
    and :math:`Y_E` the end-of-treatment score: the episode's ``endpoint`` under the
    ``discharge_only`` rule, kept only when ``discharge_status`` is in ``completed`` (or
    unknown). "Completers" are the episodes with an observed :math:`Y_E`.

    - completers: episodes with observed :math:`Y_E`;

      .. math::
          \bar\Delta = \frac1n\sum_i (Y_{E,i} - Y_{0,i}),\quad
          SE = s_\Delta/\sqrt n,\quad \bar\Delta \pm t_{n-1}\,SE

      The difference is the OLS coefficient of the group indicator in
      :math:`\Delta_i = \beta_0 + \beta_g G_i\,[+\,\gamma Y_{0,i} + \ldots]` (classical
      SE, :math:`n - p` df); unadjusted it is the difference in mean change with the pooled
      variance.
    - LOCF: a missing :math:`Y_E` is replaced by the last in-treatment score (the baseline
      if there is none); BOCF: by :math:`Y_0`. Then as completers over all episodes. Their
      SEs treat filled-in values as observed, so they are too small.
    - MI: the wide matrix [:math:`Y_0`, weekly scores of weeks 1 … W−1 (rounded weeks, mean
      within a week), :math:`Y_E`] is imputed by chained equations given group dummies and
      covariates. Each incomplete column :math:`y` is drawn from its regression on the
      others :math:`X` (van Buuren 2018, Algorithm 3.1, as ``mice.impute.norm``):
      :math:`\dot\sigma^2 = SSR/\chi^2_{n_{obs}-q}`,
      :math:`\dot\beta = \hat\beta + \dot\sigma L z` with :math:`LL' = (X'X)^{-1}`,
      :math:`y_{mis} = X_{mis}\dot\beta + \dot\sigma\varepsilon`. Each completed set is
      analysed as above and pooled by :func:`rubin_pool` (Barnard–Rubin df with the
      complete-data df). Only scores in the ``treatment`` role of
      ``iop.episodes.assessment_roles`` (neither baseline nor discharge score) enter the
      weekly grid.
    - mixed: REML linear mixed model (lme4's profiled formulation, vectorized) of the baseline, treatment and
      discharge scores up to week W + 0.5, with random intercept and slope in weeks and
      fixed effects time × group (+ centred covariates × time), time being a mean per
      rounded week by default; model-based mean change from week 0 to W =
      ``endpoint_week``; Wald (normal) intervals from the fixed-effects covariance
      :math:`(X'V^{-1}X)^{-1}` at the REML estimates (as ``lme4::vcov``). Its estimand is the
      change to week W, the others' the change to discharge (the same when treatment has a
      fixed length). The fit is vectorized over episodes (profiled REML, as
      :func:`iop_outcomes.trajectories`), like the other methods (1,000,000 episodes × 20
      imputations in well under a minute).

    References
    ----------
    Little RJA, Rubin DB (2019). *Statistical Analysis with Missing Data*, 3rd ed. Wiley.
    van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd ed. CRC Press.
    National Research Council (2010). *The Prevention and Treatment of Missing Data in
    Clinical Trials*. National Academies Press (on LOCF/BOCF).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"episode_id": range(8), "baseline": [18, 16, 20, 15, 17, 19, 14, 21],
    ...                    "endpoint": [10, np.nan, 12, 9, np.nan, 11, 8, 15],
    ...                    "format": ["in_person", "virtual"] * 4})
    >>> res = iop.missing_data_sensitivity(ep, methods=("completers", "bocf"))
    >>> res.table[["estimand", "method", "estimate", "n_used"]].round(3)
                        estimand      method  estimate  n_used
    0                mean change  completers    -7.000       6
    1                mean change        bocf    -5.250       8
    2  difference in mean change  completers     0.667       6
    3  difference in mean change        bocf     0.500       8
    """
    methods = _check_options(methods, group, reference, n_imputations, ci_level, time, adjust)
    frame = _as_frame(data, "data")
    notes: list[str] = []
    is_episode_table = "baseline" in frame.columns and "endpoint" in frame.columns
    if episodes is not None:
        ep = _as_frame(episodes, "episodes")
        assessments = frame
    elif is_episode_table and "total" not in frame.columns:
        ep, assessments = frame, None
    else:
        from ._episodes import episodes as _episodes

        rules = _discharge_rules(rules)
        ep, assessments = _episodes(frame, instrument=_canonical(instrument), rules=rules), frame
    ep_rule = (ep.attrs.get("rules") or {}).get("endpoint")
    if "last_in_treatment" in str(ep_rule).split(" else "):
        raise DataError(
            f"The episode table was built with the {ep_rule!r} endpoint rule, whose "
            "endpoint is already carried forward for dropouts; missing_data_sensitivity needs "
            "the discharge score: build it with rules=EpisodeRules(endpoint='discharge_only') "
            "or pass the assessment rows only."
        )
    if ep_rule is None:
        notes.append(
            "Completers = episodes whose 'endpoint' is present in the episode table given "
            "(assumed to be a discharge score)."
        )
    elif str(ep_rule).startswith("label:"):
        notes.append(
            f"Completers = episodes with an endpoint under the {ep_rule!r} endpoint rule of "
            "iop.episodes (the score with that timepoint label)"
            + (f" and discharge_status in {list(completed)} (or unknown)." if completed else ".")
        )
    else:
        notes.append(
            "Completers = episodes with a discharge score under the 'discharge_only' endpoint "
            "rule of iop.episodes (dated rows: the score nearest the discharge date within the "
            "discharge window; undated rows: the score labelled 'discharge')"
            + (f" and discharge_status in {list(completed)} (or unknown)." if completed else ".")
        )
    if assessments is not None and "total" not in assessments.columns:
        assessments = None
    need = [m for m in methods if m in _WEEKLY_METHODS]
    if assessments is None and need:
        raise DataError(
            f"Methods {need} need the weekly in-treatment scores, but only an episode table was "
            "given. Pass the assessment rows as data (and the episode table as episodes=), or "
            "choose methods=('completers', 'bocf', 'mi')."
        )
    if assessments is not None:
        rules = _discharge_rules(rules if rules is not None else ep.attrs.get("rules"))
    covariates = list(covariates)
    required = ["episode_id", "baseline", "endpoint", *([group] if group else []), *covariates]
    missing = [c for c in required if c not in ep.columns]
    if missing:
        raise DataError(
            f"The episode table lacks column(s) {missing} needed by missing_data_sensitivity. "
            f"Columns present: {list(ep.columns)}."
        )
    if "instrument" in ep.columns:
        canon = _canonical(instrument)
        inst = ep["instrument"].astype("string")
        if ((inst == canon) | (inst == instrument)).any():
            ep = ep[(inst == canon) | (inst == instrument)]
        else:
            raise DataError(
                f"The episode table has no rows for instrument {instrument!r}; instruments "
                f"present: {sorted(ep['instrument'].dropna().unique().tolist())}."
            )
    if ep["episode_id"].duplicated().any():
        raise DataError(
            "The episode table has more than one row per episode_id for this instrument; pass "
            "one row per episode."
        )
    n_total = len(ep)

    # ---- analysis set
    keep = pd.to_numeric(ep["baseline"], errors="coerce").notna()
    reasons = {"no baseline score": int((~keep).sum())}
    if "discharge_status" in ep.columns:
        ongoing = ep["discharge_status"].astype("string").str.lower().eq("ongoing").fillna(False)
        reasons["episode ongoing"] = int((keep & ongoing).sum())
        keep &= ~ongoing
    if covariates:
        cov_ok = ep[covariates].notna().all(axis=1)
        reasons["missing covariate"] = int((keep & ~cov_ok).sum())
        keep &= cov_ok
    ep = ep[keep.to_numpy()]
    # a fixed episode order makes MI draws independent of the input's row order
    ep = ep.iloc[np.argsort(ep["episode_id"].astype(str).to_numpy(), kind="stable")]
    ep = ep.reset_index(drop=True)
    n_excluded = n_total - len(ep)
    if len(ep) < 3:
        raise DataError(
            f"missing_data_sensitivity needs at least 3 analysable episodes; got {len(ep)} "
            f"(excluded: {reasons})."
        )
    excl = ", ".join(f"{v} {k}" for k, v in reasons.items() if v)
    if excl:
        notes.append(f"Excluded {n_excluded} of {n_total} episodes: {excl}.")

    baseline = pd.to_numeric(ep["baseline"], errors="coerce").to_numpy(dtype=float)
    endpoint = pd.to_numeric(ep["endpoint"], errors="coerce").to_numpy(dtype=float)
    voided = np.zeros(len(ep), bool)
    if completed is not None and "discharge_status" in ep.columns:
        status = ep["discharge_status"].astype("string").str.lower()
        ok_status = status.isin([str(c).lower() for c in completed]) | status.isna()
        voided = ~np.isnan(endpoint) & ~ok_status.to_numpy(dtype=bool)
        if voided.any():
            endpoint = np.where(voided, np.nan, endpoint)
            notes.append(
                f"{int(voided.sum())} episodes not discharged as {list(completed)} had a score "
                "near discharge; it is treated as their last in-treatment score, not as an "
                "end-of-treatment score (set completed=None to keep it)."
            )
    if group:
        gv = ep[group].astype("string")
        observed = sorted(gv.dropna().unique().tolist())
        if reference is None:
            reference = observed[0] if observed else None
        if reference not in observed:
            raise ConfigError(
                f"The 'reference' parameter of missing_data_sensitivity must be a level of "
                f"{group!r} present in the data {observed}. Got {reference!r} instead."
            )
        levels = [reference, *[lv for lv in observed if lv != reference]]
        codes = {lv: i for i, lv in enumerate(levels)}
        gcode = gv.map(codes).fillna(-1).to_numpy(dtype=int)
        if (gcode < 0).any():
            notes.append(
                f"{int((gcode < 0).sum())} episodes without a {group!r} value enter the "
                "headline change only."
            )
    else:
        levels, gcode = [], np.full(len(ep), -1)
    if covariates:
        cdf = pd.get_dummies(ep[covariates], drop_first=True, dtype=float)
        cov = cdf.to_numpy(dtype=float)
        cov = cov - cov.mean(axis=0)
        keepc = cov.std(axis=0) > 0
        cov, cov_names = cov[:, keepc], [c for c, k in zip(cdf.columns, keepc, strict=True) if k]
    else:
        cov, cov_names = np.zeros((len(ep), 0)), []

    # ---- weekly scores
    long = None
    last = None
    weekly = None
    W = endpoint_week
    if assessments is not None:
        wk = _weekly(assessments, instrument, rules)
        row_of = pd.Series(np.arange(len(ep)), index=ep["episode_id"].to_numpy())
        wk["_row"] = wk["episode_id"].map(row_of)
        wk = wk.dropna(subset=["_row"])
        wk["_row"] = wk["_row"].astype(np.int64)
        wk.loc[(wk["_role"] == "endpoint") & voided[wk["_row"].to_numpy()], "_role"] = "treatment"
        long = wk
        before_end = wk[wk["_role"] != "endpoint"]
        lastrow = before_end.groupby("_row", sort=False).tail(1)
        last = np.full(len(ep), np.nan)
        last[lastrow["_row"].to_numpy()] = lastrow["_y"].to_numpy()
        if W is None:
            end_weeks = wk.loc[wk["_role"] == "endpoint", "_t"]
            if end_weeks.empty:
                raise DataError(
                    "No episode has an observed discharge score; the endpoint week cannot be "
                    "set. Pass endpoint_week=."
                )
            W = float(np.round(end_weeks.median()))
        if W < 1:
            raise ConfigError(
                "The 'endpoint_week' parameter of missing_data_sensitivity must be >= 1. "
                f"Got {W!r} instead."
            )
        # intermediate grid for MI: 'treatment' rows (neither baseline nor discharge score)
        grid = wk[wk["_role"] == "treatment"].copy()
        grid["_w"] = np.round(grid["_t"]).astype(np.int64)
        grid = grid[(grid["_w"] >= 1) & (grid["_w"] <= int(W) - 1)]
        n_w = max(int(W) - 1, 0)
        weekly = np.full((len(ep), n_w), np.nan)
        if n_w and len(grid):
            agg = grid.groupby(["_row", "_w"], sort=False)["_y"].mean()
            r = agg.index.get_level_values(0).to_numpy()
            c = agg.index.get_level_values(1).to_numpy() - 1
            weekly[r, c] = agg.to_numpy()
        # drop grid weeks with too few observations to regress on
        okw = (~np.isnan(weekly)).sum(axis=0) >= max(10, 2 + len(levels) + cov.shape[1])
        if (~okw).any():
            notes.append(
                f"MI weekly grid: weeks {list(np.flatnonzero(~okw) + 1)} dropped (too few scores)."
            )
        weekly = weekly[:, okw]
        notes.append(
            f"Weekly scores: roles from iop.episodes.assessment_roles; endpoint week W = {W:g} "
            "(mixed model change 0 → W; MI grid weeks 1 … W−1)."
        )

    d = _Design(
        baseline=baseline,
        endpoint=endpoint,
        last=last,
        group=gcode,
        levels=levels,
        cov=cov,
        cov_names=cov_names,
        weekly=weekly,
        episode_id=ep["episode_id"].to_numpy(),
    )
    n_missing = int(np.isnan(endpoint).sum())
    if n_missing == len(ep):
        raise DataError(
            "No analysed episode has an observed discharge score (endpoint); nothing to "
            "compare the methods on."
        )

    contrasts = [f"{lv} − {levels[0]}" for lv in levels[1:]]
    rows = []
    imputations = None

    def add(method, est, se, lo, hi, df, nused, fmi=None):
        for i in range(len(est)):
            rows.append(
                {
                    "estimand": "mean change" if i == 0 else "difference in mean change",
                    "contrast": "" if i == 0 else contrasts[i - 1],
                    "method": method,
                    "estimate": float(est[i]),
                    "se": float(se[i]),
                    "ci_low": float(lo[i]),
                    "ci_high": float(hi[i]),
                    "ci_level": ci_level,
                    "df": float(df[i]),
                    "n_used": int(nused[i]),
                    "n_missing": n_missing,
                    "n_excluded": n_excluded,
                    "fmi": np.nan if fmi is None else float(fmi[i]),
                    "assumption": ASSUMPTIONS[method],
                }
            )

    def add_t(method, change):
        est, var, dfc, nused = _estimates(change, d, adjust)
        se = np.sqrt(var)
        with np.errstate(invalid="ignore"):
            crit = stats.t.ppf(0.5 + ci_level / 2, np.where(dfc > 0, dfc, np.nan))
        add(method, est, se, est - crit * se, est + crit * se, dfc, nused)

    for method in methods:
        if method == "completers":
            add_t(method, endpoint - baseline)
        elif method == "bocf":
            add_t(method, np.where(np.isnan(endpoint), baseline, endpoint) - baseline)
        elif method == "locf":
            carried = np.where(np.isnan(last), baseline, last)
            add_t(method, np.where(np.isnan(endpoint), carried, endpoint) - baseline)
        elif method == "mi":
            pooled, imputations, mi_note = _run_mi(
                d, adjust, n_imputations, n_iterations, seed, progress
            )
            notes.append(mi_note)
            add(
                method,
                *(pooled[c].to_numpy() for c in ("estimate", "se", "ci_low", "ci_high", "df")),
                _nused_all(d),
                pooled["fmi"].to_numpy(),
            )
        elif method == "mixed":
            est, se, lo, hi, nused = _mixed(long, d, W, adjust, ci_level, time)
            add(method, est, se, lo, hi, np.full(len(est), np.inf), nused)

    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(methods)}
    table["_o"] = table["method"].map(order)
    table["_e"] = (table["estimand"] != "mean change").astype(int)
    table = (
        table.sort_values(["_e", "contrast", "_o"], kind="stable")
        .drop(columns=["_o", "_e"])
        .reset_index(drop=True)
    )
    inst_name = _canonical(instrument)
    diff = "baseline-adjusted difference" if adjust else "difference"
    title = f"Missing-data sensitivity: {inst_name} change (endpoint − baseline)"
    if levels:
        title += f" and {diff} by {group} (vs {levels[0]})"
    better = "lower"
    try:
        from .instruments import get as _get

        better = _get(instrument).better_is
    except Exception:  # unknown instrument: no direction note
        better = None
    if better == "lower":
        notes.append("Negative change = improvement (lower scores are better).")
    elif better == "higher":
        notes.append("Positive change = improvement (higher scores are better).")
    if adjust and "mixed" in methods and levels:
        notes.append(
            "adjust=True: the mixed model's difference is taken at the overall covariate "
            "means; it is not baseline-adjusted (baseline is one of the modelled scores)."
        )
    notes.append(
        f"{n_missing} of {len(ep)} analysed episodes have no discharge score. "
        "LOCF/BOCF standard errors treat filled-in scores as observed (too small). "
        "Mixed-model intervals are Wald (normal)."
    )
    params = {"instrument": inst_name, "ci_level": ci_level, "adjust": adjust}
    if group:
        params.update(group=group, reference=levels[0])
    if covariates:
        params["covariates"] = ",".join(covariates)
    if "mi" in methods:
        params.update(n_imputations=n_imputations, seed=seed)
    return SensitivityResult(
        table=table,
        title=title,
        method="missing-data sensitivity: " + ", ".join(_LABELS[m] for m in methods),
        params=params,
        notes=tuple(notes),
        imputations=imputations,
    )


def _nused_all(d: _Design) -> np.ndarray:
    k = len(d.levels)
    return np.array([d.baseline.size] + [int((d.group >= 0).sum())] * max(k - 1, 0))


def _run_mi(d: _Design, adjust, n_imputations, n_iterations, seed, progress):
    from tqdm.auto import tqdm

    k = len(d.levels)
    preds = [d.cov]
    if k >= 2:
        # episodes without a group level get their own indicator column
        gd = _group_dummies(d.group, k)
        if (d.group < 0).any():
            gd = np.column_stack([gd, (d.group < 0).astype(float)])
        preds.insert(0, gd)
    P = np.column_stack(preds) if preds else np.zeros((d.baseline.size, 0))
    weekly = d.weekly if d.weekly is not None else np.zeros((d.baseline.size, 0))
    Y = np.column_stack([d.baseline, weekly, d.endpoint])
    ss = seed if isinstance(seed, np.random.SeedSequence) else None
    if isinstance(seed, np.random.Generator):
        ss = np.random.SeedSequence(int(seed.integers(2**63)))
    elif ss is None:
        ss = np.random.SeedSequence(seed)
    children = ss.spawn(n_imputations)
    ests, vars_, dfc = [], [], None
    for i in tqdm(
        range(n_imputations),
        desc="Multiple imputation",
        unit="imp",
        disable=(None if progress is None else not progress),
    ):
        rng = np.random.default_rng(children[i])
        Yc = _mice_impute(Y, P, n_iterations, rng)
        e, v, dfc, _ = _estimates(Yc[:, -1] - Yc[:, 0], d, adjust, baseline=Yc[:, 0])
        ests.append(e)
        vars_.append(v)
    ests, vars_ = np.vstack(ests), np.vstack(vars_)
    pooled = rubin_pool(ests, vars_, dfcom=dfc)
    names = ["mean change"] + [f"difference: {lv} − {d.levels[0]}" for lv in d.levels[1:]]
    imp = pd.DataFrame(
        {
            "imputation": np.repeat(np.arange(1, n_imputations + 1), len(names)),
            "parameter": np.tile(names, n_imputations),
            "estimate": ests.ravel(),
            "variance": vars_.ravel(),
        }
    )
    inputs = ["baseline", f"{weekly.shape[1]} weekly scores", "discharge score"]
    if k >= 2:
        inputs.append("group")
    if d.cov_names:
        inputs.append("covariates (" + ", ".join(d.cov_names) + ")")
    note = (
        f"MI: {n_imputations} imputations by chained equations (Bayesian linear regression "
        f"draws) on {', '.join(inputs)}; Rubin's rules with Barnard–Rubin df."
    )
    return pooled, imp, note
