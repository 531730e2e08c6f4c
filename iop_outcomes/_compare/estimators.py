"""The estimators of :func:`iop_outcomes.compare`: Welch, ANCOVA and the propensity-score
weighted contrasts (IPTW, overlap, AIPW)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .. import _dist
from .._stats import hedges_j, logit_fit, mean_ci, z_crit
from ..exceptions import ConfigError, DataError, IOPWarning
from .design import (
    Prepared,
    contrast_label,
    covariate_columns,
    covariate_design,
    covariate_spec,
    dummy_matrix,
    fit_ols,
    full_rank,
    group_moments,
    level_label,
    t_row,
)

#: any such score triggers an overlap warning for "iptw" and "doubly_robust".
PS_EXTREME = 0.01
#: Kish effective sample size below this share of an arm's n triggers an overlap warning.
ESS_MIN_SHARE = 0.5
#: |standardized mean difference| above this after weighting is flagged as imbalance
#: (Austin 2009, Stat Med 28:3083: 0.1 as the conventional threshold).
SMD_THRESHOLD = 0.1


def _morris_var(d, J, rho, n1, n2):
    """Morris (2008) eq. 25 sampling variance of d_ppc2 (δ replaced by its estimate)."""
    N = n1 + n2
    a = (N / (n1 * n2)) * (1 - rho)
    return 2 * J**2 * a * ((N - 2) / (N - 4)) * (1 + d**2 / (2 * a)) - d**2


def welch(p: Prepared, ci_level: float):
    """:func:`welch_moments` of the prepared episodes' group moments."""
    return welch_moments(group_moments(p.data, p.group), p.reference, p.others, ci_level)


def welch_moments(m: pd.DataFrame, ref, others: list, ci_level: float):
    """The Welch comparison (the table, the means, the effect sizes, the method text and the
    notes) from the groups' moments (:func:`.design.group_moments`: in memory, or combined
    over the partitions of a Dask table)."""
    z = z_crit(ci_level)
    rows, es_rows = [], []
    r = m.loc[ref]
    for g in others:
        t = m.loc[g]
        n1, n2 = float(t["n"]), float(r["n"])
        diff = t["mean_change"] - r["mean_change"]
        v1, v2 = t["var_change"] / n1, r["var_change"] / n2
        se = np.sqrt(v1 + v2)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
            test = t_row(diff, se, df, ci_level)
        rows.append(
            dict(
                contrast=contrast_label(g, ref),
                group=g,
                reference=ref,
                **test,
                n_group=int(n1),
                n_reference=int(n2),
                method="welch",
            )
        )
        N = n1 + n2
        J = float(hedges_j(N - 2))
        # Hedges' g on change scores (pooled SD of change), metafor escalc("SMD") variance
        sp_change = np.sqrt(((n1 - 1) * t["var_change"] + (n2 - 1) * r["var_change"]) / (N - 2))
        g_change = J * diff / sp_change
        v_g = 1 / n1 + 1 / n2 + g_change**2 / (2 * N)
        # Morris (2008) d_ppc2: difference in mean change / pooled baseline SD
        sp_pre = np.sqrt(((n1 - 1) * t["var_baseline"] + (n2 - 1) * r["var_baseline"]) / (N - 2))
        sp_post = np.sqrt(((n1 - 1) * t["var_endpoint"] + (n2 - 1) * r["var_endpoint"]) / (N - 2))
        cov = ((n1 - 1) * t["cov_be"] + (n2 - 1) * r["cov_be"]) / (N - 2)
        rho = cov / (sp_pre * sp_post)
        d_ppc2 = J * diff / sp_pre
        v_m = _morris_var(d_ppc2, J, rho, n1, n2) if N > 4 else np.nan
        for measure, est, var, sd, note in (
            ("hedges_g_change", g_change, v_g, sp_change, "pooled SD of change; J(n1+n2-2)"),
            ("d_ppc2", d_ppc2, v_m, sp_pre, "pooled baseline SD; J(n1+n2-2); Morris 2008"),
        ):
            se_es = np.sqrt(var) if var >= 0 else np.nan
            es_rows.append(
                dict(
                    contrast=contrast_label(g, ref),
                    measure=measure,
                    estimate=est,
                    se=se_es,
                    ci_low=est - z * se_es,
                    ci_high=est + z * se_es,
                    ci_level=ci_level,
                    sd_used=sd,
                    rho=rho if measure == "d_ppc2" else np.nan,
                    ci_method="normal (" + note + ")",
                )
            )
    m = m.loc[[ref, *others]]  # the reference first, then the others in level order
    lo, hi = mean_ci(m["mean_change"], np.sqrt(m["var_change"]), m["n"], ci_level)
    means = pd.DataFrame(
        {
            "group": m.index,
            "n": m["n"].astype(int).to_numpy(),
            "mean_baseline": m["mean_baseline"].to_numpy(),
            "mean_endpoint": m["mean_endpoint"].to_numpy(),
            "mean_change": m["mean_change"].to_numpy(),
            "sd_change": np.sqrt(m["var_change"]).to_numpy(),
            "ci_low": np.asarray(lo),
            "ci_high": np.asarray(hi),
        }
    )
    method = (
        "Welch two-sample t on change (endpoint - baseline), unequal variances; "
        "standardized: Hedges' g on change (metafor SMD variance) and Morris (2008) d_ppc2"
    )
    return pd.DataFrame(rows), means, pd.DataFrame(es_rows), method, []


def ancova(p: Prepared, ci_level: float, func: str = "compare", vcov: str = "classical"):
    """The ANCOVA of the prepared episodes (:func:`ancova_design`, :func:`.design.fit_ols`,
    then :func:`ancova_results`)."""
    d = p.data
    spec, zgrid, notes = covariate_spec(d, p.covariates)
    y, X, names = ancova_design(d, p.group, p.reference, p.others, spec)
    beta, cov, df_resid, _ = fit_ols(y, X, func, names, vcov)
    mean_base = float(d["baseline"].to_numpy(float).mean())
    m = group_moments(d, p.group)
    return ancova_results(beta, cov, df_resid, m, mean_base, zgrid, p, ci_level, vcov, notes)


def ancova_design(d: pd.DataFrame, group: str, ref, others: list, spec: list) -> tuple:
    """The ANCOVA's response (endpoint), model matrix (intercept, baseline, the group's
    treatment dummies, the covariates' columns: :func:`.design.covariate_columns`) and column
    names for the complete cases ``d``."""
    y = d["endpoint"].to_numpy(float)
    dummies = dummy_matrix(d[group], [ref, *others])
    Z, znames = covariate_columns(d, spec)
    base = d["baseline"].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), base, dummies, Z])
    names = ["(Intercept)", "baseline", *[f"{group}[{g}]" for g in others], *znames]
    return y, X, names


def ancova_results(beta, cov, df_resid, m, mean_base, zgrid, p, ci_level, vcov, notes):
    """The ANCOVA's table, adjusted means, effect size, method text and notes from its fit
    (coefficients, covariance, residual df), the groups' moments (:func:`.design.
    group_moments`), the mean baseline and the covariates' reference grid (in memory, or
    from the sums of a Dask table's partitions)."""
    group, ref = p.group, p.reference
    tc = _dist.t.ppf(0.5 + ci_level / 2, df_resid)
    rows, es_rows = [], []
    for j, g in enumerate(p.others):
        k = 2 + j
        est, se = beta[k], np.sqrt(cov[k, k])
        n1, n2 = int(m.loc[g, "n"]), int(m.loc[ref, "n"])
        rows.append(
            dict(
                contrast=contrast_label(g, ref),
                group=g,
                reference=ref,
                **t_row(est, se, float(df_resid), ci_level),
                n_group=n1,
                n_reference=n2,
                method="ancova",
            )
        )
        N = n1 + n2
        sp = np.sqrt(
            ((n1 - 1) * m.loc[g, "var_endpoint"] + (n2 - 1) * m.loc[ref, "var_endpoint"]) / (N - 2)
        )
        J = float(hedges_j(N - 2))
        es_rows.append(
            dict(
                contrast=contrast_label(g, ref),
                measure="g_ancova",
                estimate=J * est / sp,
                se=J * se / sp,
                ci_low=J * (est - tc * se) / sp,
                ci_high=J * (est + tc * se) / sp,
                ci_level=ci_level,
                sd_used=sp,
                rho=np.nan,
                ci_method="adjusted CI / unadjusted pooled endpoint SD (SD treated as fixed)",
            )
        )
    # adjusted means at the emmeans reference grid
    mrows = []
    for g in [ref, *p.others]:
        L = np.concatenate([[1.0, mean_base], [1.0 if g == o else 0.0 for o in p.others], zgrid])
        est = float(L @ beta)
        se = float(np.sqrt(L @ cov @ L))
        mrows.append(
            dict(
                group=g,
                n=int(m.loc[g, "n"]),
                adjusted_mean_endpoint=est,
                se=se,
                ci_low=est - tc * se,
                ci_high=est + tc * se,
                adjusted_mean_change=est - mean_base,
                change_ci_low=est - tc * se - mean_base,
                change_ci_high=est + tc * se - mean_base,
                df=float(df_resid),
            )
        )
    cov_txt = ", ".join(p.covariates) if p.covariates else "none"
    method = (
        f"ANCOVA (OLS endpoint ~ baseline + {group} + covariates [{cov_txt}]); adjusted "
        "difference = difference in adjusted mean change; "
        + ("HC3 sandwich SEs" if vcov == "HC3" else "classical OLS SEs")
        + "; t intervals on residual df; "
        "adjusted means at mean baseline/covariates, factor covariates averaged with equal "
        "weights (as emmeans); g_ancova = J(n1+n2-2) x difference / unadjusted pooled SD of "
        "endpoint"
    )
    notes.append(f"Adjusted means are at mean baseline = {mean_base:.4g}.")
    return pd.DataFrame(rows), pd.DataFrame(mrows), pd.DataFrame(es_rows), method, notes


def _logit_fit(T: np.ndarray, Z: np.ndarray, func: str):
    """The propensity model: :func:`iop_outcomes._stats.logit_fit` and its fitted scores."""
    try:
        beta, _, converged = logit_fit(T, Z)
    except np.linalg.LinAlgError as exc:
        raise DataError(
            f"{func}: the propensity model is singular (collinear covariates or a "
            "covariate that separates the groups)."
        ) from exc
    return beta, 1 / (1 + np.exp(-(Z @ beta))), converged


def _smd_table(X, names, T, w, contrast):
    t1, t0 = T == 1, T == 0
    m1, m0 = X[t1].mean(0), X[t0].mean(0)
    v1, v0 = X[t1].var(0, ddof=1), X[t0].var(0, ddof=1)
    sd = np.sqrt((v1 + v0) / 2)
    wm1 = (w[t1, None] * X[t1]).sum(0) / w[t1].sum()
    wm0 = (w[t0, None] * X[t0]).sum(0) / w[t0].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        smd_b = np.where(sd > 0, (m1 - m0) / sd, np.nan)
        smd_a = np.where(sd > 0, (wm1 - wm0) / sd, np.nan)
    return pd.DataFrame(
        {
            "contrast": contrast,
            "covariate": names,
            "mean_group": m1,
            "mean_reference": m0,
            "smd_before": smd_b,
            "weighted_mean_group": wm1,
            "weighted_mean_reference": wm0,
            "smd_after": smd_a,
        }
    )


def _weights(e, T, kind):
    if kind == "overlap":
        return np.where(T == 1, 1 - e, e)
    return np.where(T == 1, 1 / e, 1 / (1 - e))


def _msandwich_var(Z, T, Y, e, w, mu1, mu0, kind):
    """Variance of mu1 - mu0 from the stacked estimating equations (logistic score,
    two weighted means), sandwich A^-1 B A^-T / n (Lunceford & Davidian 2004;
    Li, Morgan & Zaslavsky 2018)."""
    n, k = Z.shape
    r1 = T * (Y - mu1)
    r0 = (1 - T) * (Y - mu0)
    psi = np.column_stack([Z * (T - e)[:, None], w * r1, w * r0])
    B = psi.T @ psi / n
    A = np.zeros((k + 2, k + 2))
    A[:k, :k] = -(Z * (e * (1 - e))[:, None]).T @ Z / n
    if kind == "overlap":
        dw1 = -e * (1 - e)  # d(1-e)/d eta for treated
        dw0 = e * (1 - e)  # d(e)/d eta for controls
    else:
        dw1 = -(1 - e) / e  # d(1/e)/d eta
        dw0 = e / (1 - e)  # d(1/(1-e))/d eta
    A[k, :k] = (Z * (r1 * dw1)[:, None]).sum(0) / n
    A[k + 1, :k] = (Z * (r0 * dw0)[:, None]).sum(0) / n
    A[k, k] = -(w * T).sum() / n
    A[k + 1, k + 1] = -(w * (1 - T)).sum() / n
    Ainv = np.linalg.inv(A)
    V = Ainv @ B @ Ainv.T / n
    c = np.zeros(k + 2)
    c[k], c[k + 1] = 1.0, -1.0
    return float(c @ V @ c)


def weighted(p: Prepared, ci_level: float, kind: str, include_baseline: bool, func: str):
    d, group, ref = p.data, p.group, p.reference
    z = z_crit(ci_level)
    rows, mrows, bal, diag, notes, warn_msgs = [], [], [], [], [], []
    for g in p.others:
        label = contrast_label(g, ref)
        sub = d[d[group].isin([g, ref]).to_numpy()].reset_index(drop=True)
        T = (sub[group] == g).to_numpy(float)
        Y = sub["change"].to_numpy(float)
        Zc, znames, Z = _propensity_design(
            sub, p.covariates, include_baseline, kind, label, func, notes
        )
        beta, e, converged = _logit_fit(T, Z, func)
        if not converged:
            warn_msgs.append(f"{label}: the propensity model did not converge.")
        if np.any((e < 1e-8) | (e > 1 - 1e-8)):
            raise DataError(
                f"{func}: propensity scores of 0 or 1 for {label} (complete separation): "
                "the groups do not overlap on the covariates, so no weighted comparison "
                "is possible. Drop or coarsen the separating covariate."
            )
        n1, n0 = int(T.sum()), int((1 - T).sum())
        w, mu1, mu0, se = _weighted_means(Z, T, Y, e, kind)
        est = mu1 - mu0
        stat = est / se
        rows.append(
            dict(
                contrast=label,
                group=g,
                reference=ref,
                estimate=est,
                se=se,
                ci_low=est - z * se,
                ci_high=est + z * se,
                ci_level=ci_level,
                statistic=stat,
                df=np.inf,
                pvalue=2 * _dist.norm.sf(abs(stat)),
                n_group=n1,
                n_reference=n0,
                method=kind,
            )
        )
        for lv, mu, arm in ((g, mu1, T == 1), (ref, mu0, T == 0)):
            mrows.append(
                dict(
                    contrast=label,
                    group=lv,
                    n=int(arm.sum()),
                    weighted_mean_change=mu,
                    mean_change=float(Y[arm].mean()),
                    sum_weights=float(w[arm].sum()),
                )
            )
        bal.append(_smd_table(Zc, znames, T, w, label))
        row, msgs = _diagnostics(label, g, ref, kind, e, w, T, converged, bal[-1])
        diag.append(row)
        warn_msgs.extend(msgs)
    for msg in warn_msgs:
        warnings.warn(msg, IOPWarning, stacklevel=4)
    notes.extend(warn_msgs)
    return (
        pd.DataFrame(rows),
        pd.DataFrame(mrows),
        None,
        _weighted_method(kind, include_baseline, p.covariates),
        notes,
        pd.concat(bal, ignore_index=True),
        pd.DataFrame(diag),
    )


def _propensity_design(sub, covariates, include_baseline, kind, label, func, notes):
    """Covariates of the propensity model (baseline first when included) and its matrix."""
    Zc, znames, _, cnotes = covariate_design(sub, covariates)
    notes.extend(cnotes)
    if include_baseline:
        Zc = np.column_stack([sub["baseline"].to_numpy(float), Zc])
        znames = ["baseline", *znames]
    if Zc.shape[1] == 0:
        raise ConfigError(
            f"{func}: method {kind!r} needs covariates for the propensity score; pass "
            "covariates=[...] or include_baseline=True."
        )
    Z = np.column_stack([np.ones(len(sub)), Zc])
    if not full_rank(Z):
        raise DataError(
            f"{func}: the propensity model for {label} is rank deficient "
            f"(columns {['(Intercept)', *znames]})."
        )
    return Zc, znames, Z


def _weighted_means(Z, T, Y, e, kind):
    """Weights, weighted arm means and the SE of their difference (AIPW: influence function;
    IPTW / overlap: M-estimation sandwich)."""
    if kind == "doubly_robust":
        w = _weights(e, T, "iptw")
        m1 = _arm_predict(Z, Y, T == 1)
        m0 = _arm_predict(Z, Y, T == 0)
        phi1 = m1 + T * (Y - m1) / e
        phi0 = m0 + (1 - T) * (Y - m0) / (1 - e)
        mu1, mu0 = phi1.mean(), phi0.mean()
        infl = (phi1 - mu1) - (phi0 - mu0)
        return w, mu1, mu0, float(np.sqrt((infl**2).sum()) / len(Y))
    w = _weights(e, T, kind)
    mu1 = float((w * T * Y).sum() / (w * T).sum())
    mu0 = float((w * (1 - T) * Y).sum() / (w * (1 - T)).sum())
    return w, mu1, mu0, float(np.sqrt(_msandwich_var(Z, T, Y, e, w, mu1, mu0, kind)))


def _diagnostics(label, g, ref, kind, e, w, T, converged, balance):
    """The weighting diagnostics row of one contrast and its overlap / balance warnings."""
    n1, n0 = int(T.sum()), int((1 - T).sum())
    ess1 = w[T == 1].sum() ** 2 / (w[T == 1] ** 2).sum()
    ess0 = w[T == 0].sum() ** 2 / (w[T == 0] ** 2).sum()
    n_ext = int(((e < PS_EXTREME) | (e > 1 - PS_EXTREME)).sum())
    max_smd = float(np.nanmax(np.abs(balance["smd_after"].to_numpy())))
    row = dict(
        contrast=label,
        n_group=n1,
        n_reference=n0,
        ps_min=float(e.min()),
        ps_max=float(e.max()),
        n_extreme_ps=n_ext,
        ess_group=float(ess1),
        ess_reference=float(ess0),
        max_abs_smd_after=max_smd,
        max_weight=float(w.max()),
        converged=bool(converged),
    )
    msgs = []
    if kind in ("iptw", "doubly_robust") and n_ext:
        msgs.append(
            f"{label}: {n_ext} episode(s) have propensity scores outside "
            f"[{PS_EXTREME}, {1 - PS_EXTREME}] (weights > {1 / PS_EXTREME:.0f}); overlap is "
            "poor and inverse-probability weights are unstable. Consider "
            "method='overlap'."
        )
    for arm_name, ess, n_arm in ((g, ess1, n1), (ref, ess0, n0)):
        if ess < ESS_MIN_SHARE * n_arm:
            msgs.append(
                f"{label}: effective sample size of {level_label(arm_name)} after weighting is "
                f"{ess:.1f} of {n_arm} (< {ESS_MIN_SHARE:.0%}); few episodes dominate "
                "the weighted estimate."
            )
    if kind != "doubly_robust" and max_smd > SMD_THRESHOLD:
        msgs.append(
            f"{label}: covariate imbalance remains after weighting "
            f"(max |SMD| = {max_smd:.3f} > {SMD_THRESHOLD})."
        )
    return row, msgs


def _weighted_method(kind: str, include_baseline: bool, covariates) -> str:
    """The weighted method in words."""
    cov_txt = ", ".join((["baseline"] if include_baseline else []) + list(covariates))
    desc = {
        "iptw": "inverse-probability-of-treatment weights (ATE): 1/e for the group, "
        "1/(1-e) for the reference",
        "overlap": "overlap weights (ATO; Li, Morgan & Zaslavsky 2018): 1-e for the group, "
        "e for the reference",
        "doubly_robust": "augmented IPW (AIPW, ATE) with per-arm OLS outcome models on the "
        "same covariates (balance shown for the IPT weights)",
    }[kind]
    se_txt = (
        "influence-function SE (nuisance-model estimation ignored)"
        if kind == "doubly_robust"
        else "M-estimation sandwich SE including propensity-score estimation"
    )
    return (
        f"Propensity score: logistic regression of group on [{cov_txt}], fitted separately "
        f"for each contrast (group vs reference only); {desc}; weighted (Hajek) difference "
        f"in mean change; {se_txt}; normal (Wald) intervals. SMDs use the unweighted pooled "
        "SD sqrt((s1^2 + s0^2)/2) before and after weighting."
    )


def _arm_predict(Z, Y, arm):
    beta, *_ = np.linalg.lstsq(Z[arm], Y[arm], rcond=None)
    return Z @ beta
