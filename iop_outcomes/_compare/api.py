"""Cohort comparisons: crude, adjusted and weighted contrasts, equivalence, subgroups,
random-effects pooling over sites, and dose–response.

Every function takes an episode-level DataFrame with ``baseline`` and ``endpoint``
(docs/data-format.md) and a group column. Change is ``endpoint − baseline``, so on PHQ-9
and GAD-7 a *negative* change is improvement, and a *negative* contrast
``group − reference`` means the group improved more than the reference.

Estimates, their standard errors and the method that produced them are numeric columns
of ``result.table`` (shared vocabulary: ``estimate``, ``se``, ``ci_low``, ``ci_high``,
``statistic``, ``df``, ``pvalue``); formatting happens only when printing.

Methods of :func:`compare`
--------------------------
``"welch"``
    Difference in mean change with a Welch (unequal-variance) t interval, plus two
    standardized effect sizes: Hedges' g on change scores and Morris (2008) d_ppc2.
``"ancova"``
    OLS ``endpoint ~ baseline + group + covariates``; adjusted (estimated marginal) means
    per group and adjusted differences with t intervals, as R ``emmeans`` on ``lm``.
``"iptw"``, ``"overlap"``
    Propensity score by logistic regression on baseline and covariates; inverse
    probability (ATE) or overlap (ATO) weights; weighted (Hájek) difference in mean change
    with an M-estimation sandwich standard error that accounts for estimating the
    propensity score; balance table before and after weighting.
``"doubly_robust"``
    Augmented IPW (AIPW) with per-arm linear outcome models; influence-function SE.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .. import instruments as _instruments
from .._results import TableResult, format_table
from .._stats import hedges_j, logit_fit, mean_ci, ols, z_crit
from ..exceptions import ConfigError, DataError, IOPWarning

__all__ = [
    "compare",
    "equivalence",
    "subgroups",
    "pool_sites",
    "dose_response",
    "ComparisonResult",
    "EquivalenceResult",
    "SubgroupResult",
    "PoolResult",
    "DoseResponseResult",
]

METHODS = ("welch", "ancova", "iptw", "overlap", "doubly_robust")
_WEIGHTED = ("iptw", "overlap", "doubly_robust")

#: Propensity scores outside [PS_EXTREME, 1 - PS_EXTREME] give IPT weights above 100;
#: any such score triggers an overlap warning for "iptw" and "doubly_robust".
PS_EXTREME = 0.01
#: Kish effective sample size below this share of an arm's n triggers an overlap warning.
ESS_MIN_SHARE = 0.5
#: |standardized mean difference| above this after weighting is flagged as imbalance
#: (Austin 2009, Stat Med 28:3083: 0.1 as the conventional threshold).
SMD_THRESHOLD = 0.1
#: Default equivalence / non-inferiority margin as a share of the instrument's MID.
MARGIN_SHARE_OF_MID = 0.5


# --------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, str):
        return (x,)
    return tuple(x)


def _check_ci_level(ci_level, func: str, name: str = "ci_level") -> float:
    ok = isinstance(ci_level, (int, float, np.floating)) and not isinstance(ci_level, bool)
    if not ok or not 0 < float(ci_level) < 1:
        raise ConfigError(
            f"The {name!r} parameter of {func} must be a float in (0, 1). Got {ci_level!r} instead."
        )
    return float(ci_level)


def _check_choice(value, choices, name: str, func: str):
    if value not in choices:
        raise ConfigError(
            f"The {name!r} parameter of {func} must be one of {list(choices)}. "
            f"Got {value!r} instead."
        )
    return value


def _need_columns(df, cols: Sequence[str], func: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"{func} needs an episode-level pandas DataFrame. Got {type(df).__name__} instead."
        )
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise DataError(
            f"{func} needs column(s) {missing}, which the data lack. "
            f"Columns present: {list(map(str, df.columns))}."
        )


def _select_instrument(df: pd.DataFrame, instrument, func: str) -> tuple[pd.DataFrame, Any]:
    """Keep one instrument's rows; refuse to mix instruments silently."""
    if "instrument" not in df.columns:
        return df, instrument
    present = pd.unique(df["instrument"].dropna())
    if instrument is None:
        if len(present) > 1:
            raise DataError(
                f"{func}: the data hold several instruments {sorted(map(str, present))}; "
                "scores of different instruments cannot be compared. Pass instrument='PHQ-9' "
                "(or filter the episode table)."
            )
        return df, (present[0] if len(present) else None)
    canon = _instruments.canonical_name(str(instrument)) or str(instrument)
    lookup = {v: (_instruments.canonical_name(str(v)) or str(v)) for v in present}
    keep = [v for v, c in lookup.items() if c == canon]
    out = df[df["instrument"].isin(keep).to_numpy()]
    if len(out) == 0:
        raise DataError(
            f"{func}: no rows for instrument {instrument!r}. "
            f"Instruments present: {sorted(map(str, present))}."
        )
    return out, canon


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    vals = pd.unique(s.dropna())
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def _is_factor(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


@dataclass
class _Prepared:
    data: pd.DataFrame  # complete cases; columns baseline, endpoint, change, group, covariates
    group: str | None
    reference: Any
    others: list
    covariates: tuple
    n_excluded: int
    instrument: Any


def _prepare(
    episodes,
    *,
    group: str | None,
    reference,
    covariates=(),
    extra=(),
    func: str,
    instrument=None,
    need_groups: bool = True,
) -> _Prepared:
    covariates = _as_tuple(covariates)
    extra = _as_tuple(extra)
    cols = ["baseline", "endpoint"] + ([group] if group else []) + list(covariates) + list(extra)
    _need_columns(episodes, cols, func)
    if group is not None and group in covariates:
        raise ConfigError(f"{func}: the group column {group!r} cannot also be a covariate.")
    df, instrument = _select_instrument(episodes, instrument, func)
    d = df[list(dict.fromkeys(cols))].copy()
    for c in ("baseline", "endpoint"):
        if not pd.api.types.is_numeric_dtype(d[c]):
            conv = pd.to_numeric(d[c], errors="coerce")
            bad = conv.isna() & d[c].notna()
            if bad.any():
                raise DataError(
                    f"{func}: column {c!r} must hold numeric scores; found non-numeric "
                    f"value(s) such as {d.loc[bad, c].iloc[0]!r}."
                )
            d[c] = conv
        d[c] = d[c].astype(float)
    keep = d.notna().all(axis=1).to_numpy()
    n_excluded = int((~keep).sum())
    d = d.loc[keep].reset_index(drop=True)
    d["change"] = d["endpoint"] - d["baseline"]
    others: list = []
    if group is not None:
        levels = _levels(d[group])
        if reference not in levels:
            raise ConfigError(
                f"The 'reference' parameter of {func} must be a level of {group!r} with "
                f"complete data. Got {reference!r}; levels present: {levels}."
            )
        others = [lv for lv in levels if lv != reference]
        if need_groups and not others:
            raise DataError(
                f"{func}: column {group!r} has only the reference level {reference!r} among "
                "complete cases; a comparison needs at least two groups."
            )
        counts = d[group].value_counts()
        small = [lv for lv in [reference, *others] if counts.get(lv, 0) < 2]
        if need_groups and small:
            raise DataError(
                f"{func}: every group needs at least 2 complete episodes; too few in {small} "
                f"(counts: {counts.to_dict()})."
            )
    return _Prepared(d, group, reference, others, covariates, n_excluded, instrument)


def _covariate_design(d: pd.DataFrame, covariates: Sequence[str]):
    """Numeric covariates as they are; factors as treatment dummies (first level dropped).

    Returns the matrix, column names, the emmeans-style reference-grid values (numeric
    covariates at their mean; each factor averaged over its levels with equal weights)
    and notes about dropped constant columns.
    """
    cols, names, grid, notes = [], [], [], []
    for c in covariates:
        s = d[c]
        if _is_factor(s):
            levels = _levels(s)
            if len(levels) < 2:
                notes.append(f"Covariate {c!r} is constant in the data used and was dropped.")
                continue
            D = _dummies(s, levels)
            for j, lv in enumerate(levels[1:]):
                cols.append(D[:, j])
                names.append(f"{c}[{lv}]")
                grid.append(1.0 / len(levels))
        else:
            x = s.to_numpy(dtype=float)
            if np.ptp(x) == 0:
                notes.append(f"Covariate {c!r} is constant in the data used and was dropped.")
                continue
            cols.append(x)
            names.append(str(c))
            grid.append(float(x.mean()))
    X = np.column_stack(cols) if cols else np.empty((len(d), 0))
    return X, names, np.asarray(grid, dtype=float), notes


def _dummies(s: pd.Series, levels: Sequence) -> np.ndarray:
    """Treatment-coded 0/1 columns for ``levels[1:]`` (factorized once; fast on text)."""
    codes, uniques = pd.factorize(s)
    pos = {u: i for i, u in enumerate(uniques)}
    out = np.zeros((len(s), max(len(levels) - 1, 0)))
    for j, lv in enumerate(levels[1:]):
        k = pos.get(lv)
        if k is not None:
            out[:, j] = codes == k
    return out


def _full_rank(X: np.ndarray) -> bool:
    """Full column rank by the QR diagonal relative to column norms (tolerance 1e-9)."""
    if X.shape[1] == 0:
        return True
    r = np.linalg.qr(X, mode="r")
    norms = np.linalg.norm(X, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(np.diag(r)) / norms
    return bool(np.all(norms > 0) and np.all(rel > 1e-9))


def _drop_small_groups(sub: pd.DataFrame, group: str, reference, min_n: int = 2):
    """Drop non-reference groups with fewer than ``min_n`` episodes (for per-stratum fits)."""
    counts = sub[group].value_counts()
    small = [lv for lv, c in counts.items() if c < min_n and lv != reference]
    if small:
        sub = sub[~sub[group].isin(small).to_numpy()]
    return sub, small


def _label(level) -> str:
    return str(level)


def _contrast_label(g, ref) -> str:
    return f"{_label(g)} - {_label(ref)}"


# --------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class _SectionedResult(TableResult):
    """A TableResult whose summary adds one titled table per entry of ``_SECTIONS``
    (title, attribute, digits; ``None`` digits = the result's own) and whose ``plot``
    calls ``iop_outcomes.plots.compare.<_PLOT>``."""

    _SECTIONS: ClassVar[tuple[tuple[str, str, int | None], ...]] = ()
    _PLOT: ClassVar[str] = "plot_forest"

    def summary(self) -> str:
        parts = [super().summary()]
        for title, attr, digits in self._SECTIONS:
            df = getattr(self, attr)
            if df is not None and len(df):
                shown = format_table(df, self.digits if digits is None else digits)
                parts += ["", title, shown.to_string(index=False)]
        return "\n".join(parts)

    def plot(self, ax=None, **kwargs):
        from ..plots import compare as _p

        return getattr(_p, self._PLOT)(self, ax=ax, **kwargs)


@dataclass(frozen=True, repr=False)
class ComparisonResult(_SectionedResult):
    """Result of :func:`compare`: one row per contrast (group − reference).

    Attributes
    ----------
    table : DataFrame
        ``contrast, group, reference, estimate, se, ci_low, ci_high, ci_level, statistic,
        df, pvalue, n_group, n_reference, method``.
    means : DataFrame
        Per-group means (``"welch"``), adjusted means (``"ancova"``) or weighted means.
    effect_sizes : DataFrame or None
        Standardized contrasts with the measure named in ``measure``.
    balance : DataFrame or None
        Covariate balance before/after weighting (weighted methods).
    diagnostics : DataFrame or None
        Propensity-score range, effective sample sizes, max |SMD| (weighted methods).
    """

    means: pd.DataFrame | None = None
    effect_sizes: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    diagnostics: pd.DataFrame | None = None
    roles: dict = field(
        default_factory=lambda: {
            "n_group": "count",
            "n_reference": "count",
            "estimate": "statistic of n_group, n_reference",
            "ci_low": "statistic of n_group, n_reference",
            "ci_high": "statistic of n_group, n_reference",
            "pvalue": "statistic of n_group, n_reference",
        },
        repr=False,
    )
    _SECTIONS = (
        ("Group means", "means", None),
        ("Standardized effect sizes", "effect_sizes", None),
        ("Covariate balance (standardized mean differences)", "balance", 3),
        ("Weighting diagnostics", "diagnostics", 3),
    )

    def plot(self, kind: str | None = None, ax=None, **kwargs):
        """``kind="forest"`` (default) for the contrasts, ``"love"`` for the balance."""
        from ..plots import compare as _p

        kind = kind or "forest"
        if kind == "love":
            return _p.plot_love(self, ax=ax, **kwargs)
        if kind == "forest":
            return _p.plot_forest(self, ax=ax, **kwargs)
        raise ConfigError(f"The 'kind' parameter must be 'forest' or 'love'. Got {kind!r}.")


@dataclass(frozen=True, repr=False)
class EquivalenceResult(_SectionedResult):
    """Result of :func:`equivalence`; ``verdicts`` holds one plain-language sentence per
    contrast."""

    verdicts: tuple[str, ...] = ()
    comparison: ComparisonResult | None = None
    _PLOT = "plot_equivalence"

    def summary(self) -> str:
        return "\n".join([super().summary(), "", *self.verdicts])


@dataclass(frozen=True, repr=False)
class SubgroupResult(_SectionedResult):
    """Result of :func:`subgroups`: one row per subgroup and contrast, plus
    ``interaction`` (tests of effect modification)."""

    interaction: pd.DataFrame | None = None
    effect_sizes: pd.DataFrame | None = None
    _SECTIONS = (
        ("Standardized effect sizes by subgroup", "effect_sizes", None),
        ("Effect modification", "interaction", 3),
    )


@dataclass(frozen=True, repr=False)
class PoolResult(_SectionedResult):
    """Result of :func:`pool_sites`: ``table`` holds the pooled estimates (one row per
    contrast and tau² estimator), ``sites`` the per-site effects."""

    sites: pd.DataFrame | None = None
    _SECTIONS = (("Per-site effects", "sites", None),)


@dataclass(frozen=True, repr=False)
class DoseResponseResult(_SectionedResult):
    """Result of :func:`dose_response`: the slope of change on dose (``table``) and binned
    means (``bins``)."""

    bins: pd.DataFrame | None = None
    _SECTIONS = (("Mean change by dose band", "bins", None),)
    _PLOT = "plot_dose_response"


# --------------------------------------------------------------------------------------
# welch
# --------------------------------------------------------------------------------------


def _group_moments(d: pd.DataFrame, group) -> pd.DataFrame:
    """Per-group n, means, variances (ddof=1) and baseline–endpoint covariance.

    ``group`` is a column name or a list of them."""
    keys = [group] if isinstance(group, str) else list(group)
    by = [d[k] for k in keys] if len(keys) > 1 else d[keys[0]]
    g = d.groupby(by, observed=True, sort=False)
    out = g[["baseline", "endpoint", "change"]].mean()
    out.columns = ["mean_baseline", "mean_endpoint", "mean_change"]
    out["n"] = g.size()
    var = g[["baseline", "endpoint", "change"]].var(ddof=1)
    out["var_baseline"] = var["baseline"]
    out["var_endpoint"] = var["endpoint"]
    out["var_change"] = var["change"]
    cb = d["baseline"] - g["baseline"].transform("mean")
    ce = d["endpoint"] - g["endpoint"].transform("mean")
    out["cov_be"] = (cb * ce).groupby(by, observed=True).sum() / (out["n"] - 1)
    return out


def _morris_var(d, J, rho, n1, n2):
    """Morris (2008) eq. 25 sampling variance of d_ppc2 (δ replaced by its estimate)."""
    N = n1 + n2
    a = (N / (n1 * n2)) * (1 - rho)
    return 2 * J**2 * a * ((N - 2) / (N - 4)) * (1 + d**2 / (2 * a)) - d**2


def _t_row(est, se, df, ci_level: float) -> dict:
    """Estimate, SE, two-sided t interval, t statistic and p-value on ``df`` degrees of freedom
    (the shared columns of the Welch, ANCOVA and dose-response rows)."""
    tc = stats.t.ppf(0.5 + ci_level / 2, df)
    stat = est / se
    return dict(
        estimate=est,
        se=se,
        ci_low=est - tc * se,
        ci_high=est + tc * se,
        ci_level=ci_level,
        statistic=stat,
        df=df,
        pvalue=2 * stats.t.sf(abs(stat), df),
    )


def _welch(p: _Prepared, ci_level: float):
    d, group, ref = p.data, p.group, p.reference
    m = _group_moments(d, group)
    z = z_crit(ci_level)
    rows, es_rows = [], []
    r = m.loc[ref]
    for g in p.others:
        t = m.loc[g]
        n1, n2 = float(t["n"]), float(r["n"])
        diff = t["mean_change"] - r["mean_change"]
        v1, v2 = t["var_change"] / n1, r["var_change"] / n2
        se = np.sqrt(v1 + v2)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
            test = _t_row(diff, se, df, ci_level)
        rows.append(
            dict(
                contrast=_contrast_label(g, ref),
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
                    contrast=_contrast_label(g, ref),
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
    order = {lv: i for i, lv in enumerate([ref, *p.others])}
    means = means.sort_values("group", key=lambda s: s.map(order)).reset_index(drop=True)
    method = (
        "Welch two-sample t on change (endpoint - baseline), unequal variances; "
        "standardized: Hedges' g on change (metafor SMD variance) and Morris (2008) d_ppc2"
    )
    return pd.DataFrame(rows), means, pd.DataFrame(es_rows), method, []


# --------------------------------------------------------------------------------------
# ancova
# --------------------------------------------------------------------------------------


def _ols(y: np.ndarray, X: np.ndarray, func: str, names: Sequence[str], vcov: str = "classical"):
    """:func:`iop_outcomes._stats.ols`, with the failure said in the analysis' terms."""
    try:
        return ols(y, X, vcov=vcov)
    except np.linalg.LinAlgError:
        n, k = X.shape
        if n - k < 1:
            raise DataError(
                f"{func}: {n} episodes are too few for a model with {k} parameters."
            ) from None
        raise DataError(
            f"{func}: the model matrix is rank deficient (columns: {list(names)}); a "
            "covariate is constant or collinear with the group or another covariate."
        ) from None


def _ancova(p: _Prepared, ci_level: float, func: str = "compare", vcov: str = "classical"):
    d, group, ref = p.data, p.group, p.reference
    y = d["endpoint"].to_numpy(float)
    dummies = _dummies(d[group], [ref, *p.others])
    Z, znames, zgrid, notes = _covariate_design(d, p.covariates)
    base = d["baseline"].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), base, dummies, Z])
    names = ["(Intercept)", "baseline", *[f"{group}[{g}]" for g in p.others], *znames]
    beta, cov, df_resid, _ = _ols(y, X, func, names, vcov)
    tc = stats.t.ppf(0.5 + ci_level / 2, df_resid)
    m = _group_moments(d, group)
    rows, es_rows = [], []
    for j, g in enumerate(p.others):
        k = 2 + j
        est, se = beta[k], np.sqrt(cov[k, k])
        n1, n2 = int(m.loc[g, "n"]), int(m.loc[ref, "n"])
        rows.append(
            dict(
                contrast=_contrast_label(g, ref),
                group=g,
                reference=ref,
                **_t_row(est, se, float(df_resid), ci_level),
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
                contrast=_contrast_label(g, ref),
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
    mean_base = float(base.mean())
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


# --------------------------------------------------------------------------------------
# propensity-score weighting
# --------------------------------------------------------------------------------------


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


def _weighted(p: _Prepared, ci_level: float, kind: str, include_baseline: bool, func: str):
    d, group, ref = p.data, p.group, p.reference
    z = z_crit(ci_level)
    rows, mrows, bal, diag, notes, warn_msgs = [], [], [], [], [], []
    for g in p.others:
        sub = d[d[group].isin([g, ref]).to_numpy()].reset_index(drop=True)
        T = (sub[group] == g).to_numpy(float)
        Y = sub["change"].to_numpy(float)
        Zc, znames, _, cnotes = _covariate_design(sub, p.covariates)
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
        if not _full_rank(Z):
            raise DataError(
                f"{func}: the propensity model for {_contrast_label(g, ref)} is rank deficient "
                f"(columns {['(Intercept)', *znames]})."
            )
        beta, e, converged = _logit_fit(T, Z, func)
        label = _contrast_label(g, ref)
        if not converged:
            warn_msgs.append(f"{label}: the propensity model did not converge.")
        if np.any((e < 1e-8) | (e > 1 - 1e-8)):
            raise DataError(
                f"{func}: propensity scores of 0 or 1 for {label} (complete separation): "
                "the groups do not overlap on the covariates, so no weighted comparison "
                "is possible. Drop or coarsen the separating covariate."
            )
        n1, n0 = int(T.sum()), int((1 - T).sum())
        if kind == "doubly_robust":
            w = _weights(e, T, "iptw")
            m1 = _arm_predict(Z, Y, T == 1)
            m0 = _arm_predict(Z, Y, T == 0)
            phi1 = m1 + T * (Y - m1) / e
            phi0 = m0 + (1 - T) * (Y - m0) / (1 - e)
            mu1, mu0 = phi1.mean(), phi0.mean()
            infl = (phi1 - mu1) - (phi0 - mu0)
            se = float(np.sqrt((infl**2).sum()) / len(Y))
        else:
            w = _weights(e, T, kind)
            mu1 = float((w * T * Y).sum() / (w * T).sum())
            mu0 = float((w * (1 - T) * Y).sum() / (w * (1 - T)).sum())
            se = float(np.sqrt(_msandwich_var(Z, T, Y, e, w, mu1, mu0, kind)))
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
                pvalue=2 * stats.norm.sf(abs(stat)),
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
        ess1 = w[T == 1].sum() ** 2 / (w[T == 1] ** 2).sum()
        ess0 = w[T == 0].sum() ** 2 / (w[T == 0] ** 2).sum()
        n_ext = int(((e < PS_EXTREME) | (e > 1 - PS_EXTREME)).sum())
        max_smd = float(np.nanmax(np.abs(bal[-1]["smd_after"].to_numpy())))
        diag.append(
            dict(
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
        )
        if kind in ("iptw", "doubly_robust") and n_ext:
            warn_msgs.append(
                f"{label}: {n_ext} episode(s) have propensity scores outside "
                f"[{PS_EXTREME}, {1 - PS_EXTREME}] (weights > {1 / PS_EXTREME:.0f}); overlap is "
                "poor and inverse-probability weights are unstable. Consider "
                "method='overlap'."
            )
        for arm_name, ess, n_arm in ((g, ess1, n1), (ref, ess0, n0)):
            if ess < ESS_MIN_SHARE * n_arm:
                warn_msgs.append(
                    f"{label}: effective sample size of {_label(arm_name)} after weighting is "
                    f"{ess:.1f} of {n_arm} (< {ESS_MIN_SHARE:.0%}); few episodes dominate "
                    "the weighted estimate."
                )
        if kind != "doubly_robust" and max_smd > SMD_THRESHOLD:
            warn_msgs.append(
                f"{label}: covariate imbalance remains after weighting "
                f"(max |SMD| = {max_smd:.3f} > {SMD_THRESHOLD})."
            )
    for msg in warn_msgs:
        warnings.warn(msg, IOPWarning, stacklevel=3)
    notes.extend(warn_msgs)
    cov_txt = ", ".join((["baseline"] if include_baseline else []) + list(p.covariates))
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
    method = (
        f"Propensity score: logistic regression of group on [{cov_txt}], fitted separately "
        f"for each contrast (group vs reference only); {desc}; weighted (Hajek) difference "
        f"in mean change; {se_txt}; normal (Wald) intervals. SMDs use the unweighted pooled "
        "SD sqrt((s1^2 + s0^2)/2) before and after weighting."
    )
    return (
        pd.DataFrame(rows),
        pd.DataFrame(mrows),
        None,
        method,
        notes,
        pd.concat(bal, ignore_index=True),
        pd.DataFrame(diag),
    )


def _arm_predict(Z, Y, arm):
    beta, *_ = np.linalg.lstsq(Z[arm], Y[arm], rcond=None)
    return Z @ beta


# --------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------


def compare(
    episodes: pd.DataFrame,
    *,
    group: str = "format",
    reference: Any = "in_person",
    method: str = "ancova",
    covariates: Sequence[str] | str = (),
    ci_level: float = 0.95,
    instrument: str | None = None,
    include_baseline: bool = True,
    vcov: str = "classical",
) -> ComparisonResult:
    r"""Compare change between cohorts (e.g. virtual vs in-person), one row per contrast.

    Each non-reference level of ``group`` is contrasted with ``reference``; the estimate is
    ``group − reference`` in mean change (``endpoint − baseline``), so on lower-is-better
    instruments a negative estimate favours ``group``. Episodes missing ``baseline``,
    ``endpoint``, the group or a covariate are excluded (counted in ``params``).

    Parameters
    ----------
    episodes : DataFrame
        Episode table with ``baseline``, ``endpoint`` and the ``group`` column.
    group : str
        Column holding the cohort (default ``"format"``).
    reference : scalar
        Reference level (default ``"in_person"``).
    method : {"ancova", "welch", "iptw", "overlap", "doubly_robust"}
        See the module docstring. ``"ancova"`` is the default: it adjusts for baseline
        severity, which differs between self-selected cohorts, and is the most precise.
    covariates : sequence of str
        Adjustment covariates (numeric used as is; text/categorical/bool as factors).
    ci_level : float
        Confidence level of all intervals.
    instrument : str, optional
        Keep only this instrument's rows (required when the table mixes instruments).
    include_baseline : bool
        For the propensity-score methods: include ``baseline`` in the propensity and
        outcome models (default True).
    vcov : {"classical", "HC3"}
        ANCOVA covariance: classical OLS (as R ``lm`` / ``emmeans``) or the HC3
        heteroscedasticity-consistent sandwich (as ``emmeans(fit, "group",
        vcov. = sandwich::vcovHC(fit, type = "HC3"))``), t intervals on the residual df
        either way. Use HC3 when the spread of endpoints differs between cohorts.

    Returns
    -------
    ComparisonResult
        ``.table``, ``.means``, ``.effect_sizes``, ``.balance``, ``.diagnostics``.

    Notes
    -----
    Welch: :math:`\hat\Delta = \bar c_1 - \bar c_0`,
    :math:`SE = \sqrt{s_1^2/n_1 + s_0^2/n_0}`, Welch–Satterthwaite df (as R ``t.test``).
    Hedges' g on change: :math:`g = J(n_1+n_0-2)\,\hat\Delta / s_{p,change}` with variance
    :math:`1/n_1 + 1/n_0 + g^2/(2(n_1+n_0))` (metafor ``escalc("SMD")``).
    Morris (2008) d_ppc2:

    .. math::
        d_{ppc2} = J(n_1+n_0-2)\,\frac{\bar c_1 - \bar c_0}{s_{p,pre}},\quad
        \sigma^2 = 2J^2 (1-\rho)\frac{n_1+n_0}{n_1 n_0}\frac{n_1+n_0-2}{n_1+n_0-4}
        \left(1 + \frac{d^2}{2(1-\rho)(n_1+n_0)/(n_1 n_0)}\right) - d^2

    with :math:`\rho` the pooled within-group baseline–endpoint correlation.
    ANCOVA: OLS :math:`Y_{end} = \beta_0 + \beta_1 Y_{base} + \sum_g \gamma_g D_g + \ldots`;
    :math:`\hat\gamma_g` is the adjusted difference; ``g_ancova`` divides it by the
    unadjusted pooled within-group SD of the endpoint and multiplies by J (What Works
    Clearinghouse Procedures Handbook v5.0, 2022). Propensity weights: IPTW
    :math:`w = T/e + (1-T)/(1-e)`; overlap :math:`w = T(1-e) + (1-T)e`, which balances the
    propensity-model covariate means exactly (Li et al. 2018).

    With a format effect that differs between patients the methods answer different
    questions: IPTW and AIPW estimate the average effect over the patients of the two
    groups compared (ATE), overlap weights the effect where both formats are plausible
    (ATO), ANCOVA a variance-weighted average; with a common effect they agree
    (bench/VALIDATION.md).

    References
    ----------
    Welch (1947), Biometrika 34:28. Hedges (1981), J Educ Stat 6:107. Morris (2008),
    Organ Res Methods 11:364. Lunceford & Davidian (2004), Stat Med 23:2937.
    Li, Morgan & Zaslavsky (2018), JASA 113:390. Austin (2009), Stat Med 28:3083.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "format": ["in_person"] * 4 + ["virtual"] * 4,
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12]})
    >>> res = iop.compare(ep, method="welch")
    >>> float(res.table["estimate"].iloc[0])
    -0.5
    """
    func = "compare"
    _check_choice(method, METHODS, "method", func)
    ci_level = _check_ci_level(ci_level, func)
    _check_choice(vcov, ("classical", "HC3"), "vcov", func)
    if vcov != "classical" and method != "ancova":
        raise ConfigError(
            f"compare: vcov={vcov!r} applies to method='ancova' only (the weighted methods "
            "already use sandwich SEs; Welch allows unequal variances)."
        )
    p = _prepare(
        episodes,
        group=group,
        reference=reference,
        covariates=covariates,
        func=func,
        instrument=instrument,
    )
    if method == "welch" and p.covariates:
        raise ConfigError(
            "compare: method='welch' is unadjusted and takes no covariates; use "
            "method='ancova' or a propensity-score method to adjust."
        )
    balance = diagnostics = None
    with np.errstate(divide="ignore", invalid="ignore"):  # zero-variance groups give NaN
        if method == "welch":
            table, means, es, mdesc, notes = _welch(p, ci_level)
        elif method == "ancova":
            table, means, es, mdesc, notes = _ancova(p, ci_level, func, vcov)
        else:
            table, means, es, mdesc, notes, balance, diagnostics = _weighted(
                p, ci_level, method, include_baseline, func
            )
    notes = list(dict.fromkeys(notes))
    notes.append(
        "Estimate = group - reference in mean change (endpoint - baseline); no multiplicity "
        "adjustment across contrasts."
    )
    params = dict(
        group=group,
        reference=reference,
        covariates=list(p.covariates),
        ci_level=ci_level,
        n_used=len(p.data),
        n_excluded=p.n_excluded,
    )
    if p.instrument is not None:
        params["instrument"] = p.instrument
    return ComparisonResult(
        table=table,
        title=f"Comparison of change by {group} (method: {method})",
        method=mdesc,
        params=params,
        notes=tuple(notes),
        means=means,
        effect_sizes=es,
        balance=balance,
        diagnostics=diagnostics,
    )


# --------------------------------------------------------------------------------------
# equivalence / non-inferiority
# --------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:.0f}"


def equivalence(
    episodes: pd.DataFrame,
    *,
    group: str = "format",
    reference: Any = "in_person",
    margin: float | None = None,
    method: str = "ancova",
    kind: str = "non-inferiority",
    instrument: str | None = None,
    covariates: Sequence[str] | str = (),
    alpha: float = 0.05,
    vcov: str = "classical",
) -> EquivalenceResult:
    r"""Non-inferiority or equivalence of each group to the reference by one-sided tests.

    The difference :math:`D` (group − reference in mean change; adjusted for baseline when
    ``method="ancova"``) is tested against the margin :math:`\delta > 0`. With lower scores
    better, a *positive* D means the group improved less (is worse).

    * Non-inferiority: :math:`H_0: D \ge \delta` vs :math:`H_1: D < \delta`,
      :math:`t = (D - \delta)/SE`, p = lower-tail probability. Non-inferior when the
      upper bound of the one-sided :math:`1-\alpha` interval (= upper limit of the
      two-sided :math:`1-2\alpha` CI) is below :math:`\delta`.
    * Equivalence (TOST, Schuirmann 1987): both :math:`H_{01}: D \le -\delta` and
      :math:`H_{02}: D \ge \delta` rejected at :math:`\alpha`; p = max of the two; the
      :math:`1-2\alpha` CI lies inside :math:`(-\delta, \delta)`.

    For higher-is-better instruments the direction of "worse" flips (``better_is``).

    Parameters
    ----------
    margin : float, optional
        Margin in score points. Default: half the instrument's minimal important
        difference (``MARGIN_SHARE_OF_MID`` × ``instrument.mid``; PHQ-9 MID 5 → 2.5
        points, GAD-7 MID 4 → 2.0). Rationale: the MID is the smallest change an
        *individual* notices (Löwe et al. 2004); a difference between group means must be
        smaller than that to call the formats clinically interchangeable. Set your own
        margin before seeing the data and report it.
    method : {"ancova", "welch", "iptw", "overlap", "doubly_robust"}
        How D and its SE are estimated (see :func:`compare`).
    kind : {"non-inferiority", "equivalence"}
    instrument : str, optional
        Instrument whose MID sets the default margin and whose ``better_is`` sets the
        direction; inferred from an ``instrument`` column holding one instrument.
    alpha : float
        One-sided level of each test (default 0.05, the TOST convention; CONSORT-style
        non-inferiority with a two-sided 95 % CI is ``alpha=0.025``).
    covariates, vcov
        Passed to :func:`compare` (``vcov="HC3"`` for ANCOVA with sandwich SEs).

    Returns
    -------
    EquivalenceResult
        ``.table`` (estimate, se, df, ci_low/ci_high at 1 − 2α, margin, statistic, pvalue,
        conclusion) and ``.verdicts`` (plain-language sentences).

    References
    ----------
    Schuirmann (1987), J Pharmacokinet Biopharm 15:657. Lakens (2017), Soc Psychol
    Personal Sci 8:355. Piaggio et al. (2012), CONSORT non-inferiority extension, JAMA
    308:2594. Löwe et al. (2004), Med Care 42:1194.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "format": ["in_person"] * 4 + ["virtual"] * 4,
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12]})
    >>> res = iop.equivalence(ep, method="welch", instrument="PHQ-9")
    >>> float(res.table["margin"].iloc[0])
    2.5
    >>> print(res.verdicts[0])
    virtual is non-inferior to in-person within 2.5 PHQ-9 points (upper bound of the one-sided 95% CI 1.5 < 2.5; p = .015).
    """
    func = "equivalence"
    _check_choice(method, METHODS, "method", func)
    _check_choice(kind, ("non-inferiority", "equivalence"), "kind", func)
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ConfigError(
            f"The 'alpha' parameter of {func} must be a float in (0, 0.5). Got {alpha!r} instead."
        )
    _need_columns(episodes, ["baseline", "endpoint", group], func)
    _, inst_name = _select_instrument(episodes, instrument, func)
    inst = None
    if inst_name is not None:
        try:
            inst = _instruments.get(str(inst_name))
        except Exception:  # unknown instrument: fine if a margin is given
            inst = None
    if margin is None:
        if inst is None or inst.mid is None:
            raise ConfigError(
                f"{func}: no margin given and no instrument with a minimal important "
                f"difference to derive one (instrument: {inst_name!r}). Pass margin= in score "
                "points or instrument='PHQ-9'."
            )
        margin = MARGIN_SHARE_OF_MID * float(inst.mid)
        margin_src = (
            f"default margin = {MARGIN_SHARE_OF_MID} x MID ({inst.mid:g}) of {inst.name}; "
            f"MID source: {inst.mid_source}"
        )
    else:
        if not isinstance(margin, (int, float)) or isinstance(margin, bool) or margin <= 0:
            raise ConfigError(
                f"The 'margin' parameter of {func} must be a positive number of score points. "
                f"Got {margin!r} instead."
            )
        margin = float(margin)
        margin_src = "margin set by the user"
    better = inst.better_is if inst is not None else "lower"
    s = 1.0 if better == "lower" else -1.0
    unit = f"{inst.name} points" if inst is not None else "points"
    comp = compare(
        episodes,
        group=group,
        reference=reference,
        method=method,
        covariates=covariates,
        ci_level=1 - 2 * alpha,
        instrument=inst_name if "instrument" in episodes.columns else None,
        vcov=vcov,
    )
    rows, verdicts = [], []
    conf = f"{1 - alpha:.0%}"
    for r in comp.table.itertuples(index=False):
        D, se, df = float(r.estimate), float(r.se), float(r.df)
        dist = stats.norm if not np.isfinite(df) else stats.t(df)
        crit = dist.ppf(1 - alpha)
        gl, rl = _label(r.group).replace("_", "-"), _label(r.reference).replace("_", "-")
        if kind == "non-inferiority":
            stat = (s * D - margin) / se
            pval = float(dist.cdf(stat))
            bound = s * D + crit * se  # worse-direction bound on the "s" scale
            ok = bool(bound < margin)
            shown = s * bound  # back on the D scale
            side = "upper" if s > 0 else "lower"
            rel = ("<" if s > 0 else ">") if ok else ("≥" if s > 0 else "≤")
            mshown = s * margin
            if ok:
                v = (
                    f"{gl} is non-inferior to {rl} within {_fmt(margin)} {unit} ({side} bound "
                    f"of the one-sided {conf} CI {_fmt(shown)} {rel} {_fmt(mshown)}; "
                    f"{_p(pval)})."
                )
            else:
                v = (
                    f"Non-inferiority of {gl} to {rl} within {_fmt(margin)} {unit} is not "
                    f"shown ({side} bound of the one-sided {conf} CI {_fmt(shown)} {rel} "
                    f"{_fmt(mshown)}; {_p(pval)})."
                )
            tests = dict(statistic=stat, pvalue=pval)
        else:
            t_lo = (D + margin) / se
            t_hi = (D - margin) / se
            p_lo = float(dist.sf(t_lo))
            p_hi = float(dist.cdf(t_hi))
            pval = max(p_lo, p_hi)
            ok = bool(pval < alpha)
            ci = f"{1 - 2 * alpha:.0%} CI {_fmt(r.ci_low)} to {_fmt(r.ci_high)}"
            if ok:
                v = (
                    f"{gl} is equivalent to {rl} within ±{_fmt(margin)} {unit} ({ci}, inside "
                    f"±{_fmt(margin)}; TOST {_p(pval)})."
                )
            else:
                v = (
                    f"Equivalence of {gl} and {rl} within ±{_fmt(margin)} {unit} is not shown "
                    f"({ci}, not inside ±{_fmt(margin)}; TOST {_p(pval)})."
                )
            tests = dict(
                lower_statistic=t_lo,
                lower_pvalue=p_lo,
                upper_statistic=t_hi,
                upper_pvalue=p_hi,
                pvalue=pval,
            )
        rows.append(
            dict(
                contrast=r.contrast,
                group=r.group,
                reference=r.reference,
                estimate=D,
                se=se,
                df=df,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                ci_level=1 - 2 * alpha,
                margin=margin,
                **tests,
                conclusion=ok,
                kind=kind,
                method=method,
            )
        )
        verdicts.append(v)
    notes = [
        margin_src,
        f"Direction: {better} scores are better ({'positive' if s > 0 else 'negative'} "
        "difference = group worse).",
        *comp.notes,
    ]
    test = "one-sided test" if kind == "non-inferiority" else "two one-sided tests (TOST)"
    return EquivalenceResult(
        table=pd.DataFrame(rows),
        title=f"{kind.capitalize()} of change by {group} (margin {_fmt(margin)} {unit})",
        method=f"{test} at alpha = {alpha:g} on the {method} difference; {comp.method}",
        params=dict(comp.params, margin=margin, alpha=alpha, kind=kind, better_is=better),
        notes=tuple(dict.fromkeys(notes)),
        verdicts=tuple(verdicts),
        comparison=comp,
    )


def _p(p: float) -> str:
    """'p = .015' or 'p < .001'."""
    from .._results import format_p

    f = format_p(p)
    return f"p {f}" if f.startswith("<") else f"p = {f}"


# --------------------------------------------------------------------------------------
# subgroups
# --------------------------------------------------------------------------------------


def _compare_within(d, col, levels, label, dropped, notes, **kwargs):
    """Yield ``(level, compare(subset, **kwargs))`` for each level of ``col``. Groups with
    < 2 episodes are dropped first and levels where ``compare`` fails are skipped, each with
    a note starting ``f"{label}{level!r}"``."""
    for lv in levels:
        sub = d[(d[col] == lv).to_numpy()]
        sub, small = _drop_small_groups(sub, kwargs["group"], kwargs["reference"])
        if small:
            notes.append(f"{label}{lv!r}: group(s) {small} have < 2 episodes.")
        try:
            res = compare(sub, **kwargs)
        except (DataError, ConfigError) as exc:
            notes.append(f"{label}{lv!r} {dropped}: {exc}")
            continue
        yield lv, res


def _rss_rank(y, X):
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    return float(resid @ resid), int(rank)


def subgroups(
    episodes: pd.DataFrame,
    *,
    group: str = "format",
    reference: Any = "in_person",
    by: str = "age_band",
    method: str = "ancova",
    covariates: Sequence[str] | str = (),
    ci_level: float = 0.95,
    instrument: str | None = None,
) -> SubgroupResult:
    r"""The group contrast within each subgroup (age band, gender identity, site, ...),
    with tests of effect modification.

    Each subgroup is analysed on its own with :func:`compare` (same ``method`` and
    ``covariates``). Subgroups lacking the reference or a compared group, or with fewer
    than 2 episodes in an arm, are listed in ``notes`` and skipped.

    Effect modification is tested two ways (``.interaction``):

    * ``"F test (group x by)"`` for ``method`` in {"welch", "ancova"}: nested OLS models
      with and without the group × subgroup product terms (``change ~ group + by`` for
      welch; ``endpoint ~ baseline + group + by + covariates`` for ancova), as R
      ``anova(lm_reduced, lm_full)``:
      :math:`F = \frac{(RSS_r - RSS_f)/(df_r - df_f)}{RSS_f/df_f}`.
    * ``"Cochran Q"`` per contrast: heterogeneity of the subgroup estimates,
      :math:`Q = \sum w_i(\hat\theta_i - \bar\theta_w)^2`, :math:`w_i = 1/SE_i^2`,
      :math:`\chi^2_{k-1}` (any method).

    Returns
    -------
    SubgroupResult
        ``.table``: ``subgroup`` plus the :func:`compare` columns; ``.interaction``.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "format": ["in_person", "virtual"] * 6,
    ...     "age_band": ["18-25"] * 6 + ["26-64"] * 6,
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21, 16, 18, 15, 17],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12, 11, 9, 10, 11]})
    >>> res = iop.subgroups(ep, by="age_band", method="welch")
    >>> res.table[["subgroup", "estimate"]].round(3).values.tolist()
    [['18-25', 1.333], ['26-64', -3.0]]
    """
    func = "subgroups"
    _check_choice(method, METHODS, "method", func)
    ci_level = _check_ci_level(ci_level, func)
    if isinstance(by, str) and by not in episodes.columns:
        # derived groupings (age_band, admit_quarter) exactly as change_summary derives them
        from .._grouping import DERIVED_GROUPINGS, group_columns

        if by in DERIVED_GROUPINGS:
            episodes = episodes.assign(**{by: group_columns(episodes, by, func, None)[0][by]})
    covariates = tuple(c for c in _as_tuple(covariates) if c != by)
    p = _prepare(
        episodes,
        group=group,
        reference=reference,
        covariates=covariates,
        extra=(by,),
        func=func,
        instrument=instrument,
    )
    d = p.data
    levels = _levels(d[by])
    rows, es_rows, notes = [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IOPWarning)
        for lv, res in _compare_within(
            d,
            by,
            levels,
            f"Subgroup {by}=",
            "skipped",
            notes,
            group=group,
            reference=reference,
            method=method,
            covariates=covariates,
            ci_level=ci_level,
        ):
            t = res.table.copy()
            t.insert(0, "subgroup", lv)
            missing = [g for g in p.others if g not in set(t["group"])]
            for g in missing:
                notes.append(f"Subgroup {by}={lv!r} has no {g!r} episodes for that contrast.")
            rows.append(t)
            if res.effect_sizes is not None and len(res.effect_sizes):
                e = res.effect_sizes.copy()
                e.insert(0, "subgroup", lv)
                es_rows.append(e)
    for w in caught:
        notes.append(f"Subgroup warning: {w.message}")
        warnings.warn(str(w.message), w.category, stacklevel=2)
    if not rows:
        raise DataError(f"{func}: no subgroup of {by!r} has enough episodes in both groups.")
    table = pd.concat(rows, ignore_index=True)
    inter = []
    # F test of the group x by interaction in the pooled OLS model
    if method in ("welch", "ancova"):
        G = _dummies(d[group], [reference, *p.others])
        B = _dummies(d[by], levels)
        base = [np.ones(len(d)), G, B]
        if method == "ancova":
            y = d["endpoint"].to_numpy(float)
            Zc, _, _, _ = _covariate_design(d, covariates)
            base = [np.ones(len(d)), d["baseline"].to_numpy(float), G, B, Zc]
        else:
            y = d["change"].to_numpy(float)
        Xr = np.column_stack(base)
        prods = [G[:, [i]] * B[:, [j]] for i in range(G.shape[1]) for j in range(B.shape[1])]
        Xf = np.column_stack([Xr, *prods]) if prods else Xr
        rss_r, rank_r = _rss_rank(y, Xr)
        rss_f, rank_f = _rss_rank(y, Xf)
        df1, df2 = rank_f - rank_r, len(y) - rank_f
        if df1 > 0 and df2 > 0:
            F = ((rss_r - rss_f) / df1) / (rss_f / df2)
            inter.append(
                dict(
                    test=f"F test ({group} x {by})",
                    contrast="all",
                    statistic=F,
                    df1=float(df1),
                    df2=float(df2),
                    pvalue=float(stats.f.sf(F, df1, df2)),
                    model=(
                        "endpoint ~ baseline + group * by + covariates"
                        if method == "ancova"
                        else "change ~ group * by"
                    ),
                )
            )
    for contrast, t in table.groupby("contrast", sort=False):
        t = t[np.isfinite(t["se"]) & (t["se"] > 0)]
        if len(t) < 2:
            continue
        w = 1 / t["se"].to_numpy() ** 2
        est = t["estimate"].to_numpy()
        Q = float((w * (est - (w * est).sum() / w.sum()) ** 2).sum())
        inter.append(
            dict(
                test="Cochran Q",
                contrast=contrast,
                statistic=Q,
                df1=float(len(t) - 1),
                df2=np.nan,
                pvalue=float(stats.chi2.sf(Q, len(t) - 1)),
                model="heterogeneity of subgroup estimates (inverse-variance)",
            )
        )
    params = dict(
        group=group,
        reference=reference,
        by=by,
        covariates=list(covariates),
        ci_level=ci_level,
        n_used=len(d),
        n_excluded=p.n_excluded,
    )
    return SubgroupResult(
        table=table,
        title=f"Contrast of change by {group} within subgroups of {by} (method: {method})",
        method=(
            f"compare(method={method!r}) within each subgroup; interaction by nested-model F "
            "test and Cochran's Q"
        ),
        params=params,
        notes=tuple(dict.fromkeys(notes)),
        interaction=pd.DataFrame(inter),
        effect_sizes=pd.concat(es_rows, ignore_index=True) if es_rows else None,
    )


# --------------------------------------------------------------------------------------
# random-effects pooling over sites
# --------------------------------------------------------------------------------------


def _tau2_dl(y, v):
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    Q = float((w * (y - mu) ** 2).sum())
    C = w.sum() - (w**2).sum() / w.sum()
    return max(0.0, (Q - (len(y) - 1)) / C), True, 0


def _tau2_reml(y, v, tol=1e-12, max_iter=1000):
    """REML by Fisher scoring with step halving at the boundary (as metafor ``rma.uni``)."""
    tau2 = _tau2_dl(y, v)[0]
    for it in range(max_iter):
        w = 1 / (v + tau2)
        sw = w.sum()
        mu = (w * y).sum() / sw
        Py = w * (y - mu)
        trP = sw - (w**2).sum() / sw
        trPP = (w**2).sum() - 2 * (w**3).sum() / sw + ((w**2).sum() / sw) ** 2
        adj = (float(Py @ Py) - trP) / trPP
        while tau2 + adj < 0:
            adj /= 2
            if abs(adj) < tol:
                adj = -tau2
                break
        tau2 += adj
        if abs(adj) < tol:
            return max(tau2, 0.0), True, it + 1
    return max(tau2, 0.0), False, max_iter


def _meta(y, v, tau2_method, ci_level, pi_method, test="z"):
    y, v = np.asarray(y, float), np.asarray(v, float)
    k = len(y)
    tau2, conv, iters = (_tau2_dl if tau2_method == "DL" else _tau2_reml)(y, v)
    w = 1 / (v + tau2)
    mu = float((w * y).sum() / w.sum())
    if test == "knha":  # Hartung-Knapp(-Sidik-Jonkman): scaled SE, t(k-1)
        df = float(k - 1)
        se = float(np.sqrt((w * (y - mu) ** 2).sum() / ((k - 1) * w.sum())))
        z = float(stats.t.ppf(0.5 + ci_level / 2, df))
        pval = float(2 * stats.t.sf(abs(mu / se), df))
    else:
        df = np.inf
        se = float(1 / np.sqrt(w.sum()))
        z = z_crit(ci_level)
        pval = float(2 * stats.norm.sf(abs(mu / se)))
    wf = 1 / v
    mu_fe = (wf * y).sum() / wf.sum()
    Q = float((wf * (y - mu_fe) ** 2).sum())
    vt = (k - 1) * wf.sum() / (wf.sum() ** 2 - (wf**2).sum())
    I2 = 100 * tau2 / (tau2 + vt)
    H2 = (tau2 + vt) / vt
    if pi_method == "higgins2009":
        crit = stats.t.ppf(0.5 + ci_level / 2, k - 2) if k >= 3 else np.nan
    else:  # as metafor's predict(): the CI's critical value
        crit = z
    half = crit * np.sqrt(tau2 + se**2)
    return dict(
        tau2_method=tau2_method,
        k=k,
        estimate=mu,
        se=se,
        ci_low=mu - z * se,
        ci_high=mu + z * se,
        ci_level=ci_level,
        statistic=mu / se,
        df=df,
        pvalue=pval,
        test=test,
        tau2=tau2,
        tau=float(np.sqrt(tau2)),
        I2=I2,
        H2=H2,
        Q=Q,
        Q_df=float(k - 1),
        Q_pvalue=float(stats.chi2.sf(Q, k - 1)) if k > 1 else np.nan,
        pi_low=mu - half,
        pi_high=mu + half,
        pi_method=pi_method,
        converged=conv,
    )


def pool_sites(
    episodes: pd.DataFrame,
    *,
    site: str = "site",
    group: str | None = None,
    reference: Any = "in_person",
    method: str = "welch",
    covariates: Sequence[str] | str = (),
    tau2_methods: Sequence[str] = ("REML", "DL"),
    test: str = "z",
    pi_method: str = "higgins2009",
    ci_level: float = 0.95,
    instrument: str | None = None,
) -> PoolResult:
    r"""Random-effects pooling of per-site effects, with tau², I², Q and a prediction
    interval.

    Per-site effect :math:`y_i` with sampling variance :math:`v_i`:

    * ``group=None``: mean pre–post change, :math:`v_i = s^2_{change}/n_i`
      (metafor ``escalc("MC")``);
    * ``group`` given: the :func:`compare` contrast within each site (``method`` "welch":
      difference in mean change, :math:`v_i = s_1^2/n_1 + s_0^2/n_0`; or "ancova").

    Pooling: :math:`\hat\mu = \sum w_i y_i / \sum w_i`, :math:`w_i = 1/(v_i + \hat\tau^2)`,
    :math:`SE = (\sum w_i)^{-1/2}`, Wald z interval (``test="z"``, metafor's default) or,
    with ``test="knha"``, the Hartung–Knapp–Sidik–Jonkman SE
    :math:`\sqrt{\sum w_i (y_i - \hat\mu)^2 / ((k-1)\sum w_i)}` with :math:`t_{k-1}`
    (recommended with few sites; metafor ``test="knha"``). :math:`\hat\tau^2` by
    DerSimonian–Laird
    :math:`\max(0, (Q-(k-1))/(\sum w - \sum w^2/\sum w))` and/or REML (Fisher scoring, as
    metafor ``rma(method="REML")``). :math:`I^2 = \hat\tau^2/(\hat\tau^2 + \tilde v)` with
    :math:`\tilde v = (k-1)\sum w/((\sum w)^2 - \sum w^2)` (Higgins & Thompson 2002;
    metafor's definition). Prediction interval (``pi_method="higgins2009"``):
    :math:`\hat\mu \pm t_{k-2}\sqrt{\hat\tau^2 + SE^2}` (Higgins, Thompson & Spiegelhalter
    2009); ``"metafor"`` uses the CI's critical value (z, or :math:`t_{k-1}` with knha) as
    metafor's ``predict()``.

    Sites with fewer than 2 episodes (in any arm) are excluded and listed in ``notes``.

    References
    ----------
    DerSimonian & Laird (1986), Control Clin Trials 7:177. Viechtbauer (2005), J Educ
    Behav Stat 30:261. Hartung & Knapp (2001), Stat Med 20:3875. Higgins & Thompson (2002), Stat Med 21:1539. Higgins, Thompson &
    Spiegelhalter (2009), J R Stat Soc A 172:137.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "site": list("AAAABBBBCCCC"),
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21, 16, 18, 15, 17],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12, 11, 9, 10, 8]})
    >>> res = iop.pool_sites(ep, tau2_methods=["DL"])
    >>> round(float(res.table["estimate"].iloc[0]), 4), float(res.table["tau2"].iloc[0])
    (-6.8847, 0.0)
    """
    func = "pool_sites"
    ci_level = _check_ci_level(ci_level, func)
    _check_choice(pi_method, ("higgins2009", "metafor"), "pi_method", func)
    _check_choice(test, ("z", "knha"), "test", func)
    tau2_methods = _as_tuple(tau2_methods)
    for m in tau2_methods:
        _check_choice(m, ("REML", "DL"), "tau2_methods", func)
    if group is not None:
        _check_choice(method, ("welch", "ancova"), "method", func)
    p = _prepare(
        episodes,
        group=group,
        reference=reference,
        covariates=covariates if group is not None else (),
        extra=(site,),
        func=func,
        instrument=instrument,
    )
    d = p.data
    notes: list[str] = []
    if group is None:
        g = d.groupby(site, observed=True)["change"]
        s = pd.DataFrame({"n": g.size(), "estimate": g.mean(), "sd": g.std(ddof=1)})
        small = s.index[s["n"] < 2].tolist()
        s = s[s["n"] >= 2]
        s["se"] = s["sd"] / np.sqrt(s["n"])
        sites = pd.DataFrame(
            {
                "site": s.index,
                "contrast": "mean change",
                "estimate": s["estimate"].to_numpy(),
                "se": s["se"].to_numpy(),
                "n": s["n"].astype(int).to_numpy(),
            }
        )
        if small:
            notes.append(f"Sites with < 2 episodes excluded: {small}.")
        effect = "mean pre-post change (endpoint - baseline), v = s^2/n"
    elif method == "welch":
        m = _group_moments(d, [site, group])
        ref_m = m.xs(reference, level=1) if reference in m.index.get_level_values(1) else None
        parts = []
        for g in p.others:
            if ref_m is None or g not in m.index.get_level_values(1):
                continue
            j = m.xs(g, level=1).merge(
                ref_m, left_index=True, right_index=True, how="outer", suffixes=("_g", "_r")
            )
            ok = (j["n_g"] >= 2) & (j["n_r"] >= 2)
            bad = sorted(map(str, j.index[~ok]))
            if bad:
                notes.append(
                    f"{_contrast_label(g, reference)}: sites without >= 2 episodes in both "
                    f"groups excluded: {bad}."
                )
            j = j[ok].sort_index()
            parts.append(
                pd.DataFrame(
                    {
                        "site": j.index,
                        "contrast": _contrast_label(g, reference),
                        "estimate": (j["mean_change_g"] - j["mean_change_r"]).to_numpy(),
                        "se": np.sqrt(
                            j["var_change_g"] / j["n_g"] + j["var_change_r"] / j["n_r"]
                        ).to_numpy(),
                        "n_group": j["n_g"].astype(int).to_numpy(),
                        "n_reference": j["n_r"].astype(int).to_numpy(),
                        "n": (j["n_g"] + j["n_r"]).astype(int).to_numpy(),
                    }
                )
            )
        if not parts or sum(len(x) for x in parts) == 0:
            raise DataError(f"{func}: no site has enough episodes in both groups.")
        sites = pd.concat(parts, ignore_index=True)
        effect = "welch contrast of change (group - reference) within site, v = s1^2/n1 + s0^2/n0"
    else:
        parts = []
        for lv, res in _compare_within(
            d,
            site,
            _levels(d[site]),
            "Site ",
            "excluded",
            notes,
            group=group,
            reference=reference,
            method=method,
            covariates=p.covariates,
            ci_level=ci_level,
        ):
            t = res.table[["contrast", "estimate", "se", "n_group", "n_reference"]].copy()
            t.insert(0, "site", lv)
            t["n"] = t["n_group"] + t["n_reference"]
            parts.append(t)
        if not parts:
            raise DataError(f"{func}: no site has enough episodes in both groups.")
        sites = pd.concat(parts, ignore_index=True)
        effect = f"{method} contrast of change (group - reference) within site"
    z = z_crit(ci_level)
    sites["ci_low"] = sites["estimate"] - z * sites["se"]
    sites["ci_high"] = sites["estimate"] + z * sites["se"]
    pooled = []
    for contrast, t in sites.groupby("contrast", sort=False):
        t = t[np.isfinite(t["se"]) & (t["se"] > 0)]
        if len(t) < 2:
            notes.append(f"{contrast}: fewer than 2 sites; nothing to pool.")
            continue
        for m in tau2_methods:
            row = _meta(
                t["estimate"].to_numpy(), t["se"].to_numpy() ** 2, m, ci_level, pi_method, test
            )
            if not row["converged"]:
                notes.append(f"{contrast}: REML did not converge; tau2 is the last iterate.")
            pooled.append({"contrast": contrast, **row})
            if len(t) < 3 and pi_method == "higgins2009":
                notes.append(f"{contrast}: prediction interval needs >= 3 sites (t with k-2 df).")
    # weights (%) under the first tau2 method, for the forest plot
    if pooled:
        first = {r["contrast"]: r["tau2"] for r in pooled if r["tau2_method"] == tau2_methods[0]}
        wts = 1 / (sites["se"] ** 2 + sites["contrast"].map(first))
        sites["weight_pct"] = 100 * wts / wts.groupby(sites["contrast"]).transform("sum")
    params = dict(
        site=site,
        group=group,
        ci_level=ci_level,
        n_used=len(d),
        n_excluded=p.n_excluded,
        k_sites=int(sites["site"].nunique()),
    )
    if group is not None:
        params["reference"] = reference
    return PoolResult(
        table=pd.DataFrame(pooled),
        title=f"Random-effects pooling over {site}",
        method=(
            f"Per-site effect: {effect}; inverse-variance random-effects pooling, tau^2 by "
            f"{' and '.join(tau2_methods)}; "
            + ("Wald z CI" if test == "z" else "Hartung-Knapp SE with t(k-1) CI")
            + "; prediction interval "
            + ("t(k-2) (Higgins 2009)" if pi_method == "higgins2009" else "as metafor predict()")
        ),
        params=params,
        notes=tuple(dict.fromkeys(notes)),
        sites=sites,
    )


# --------------------------------------------------------------------------------------
# dose-response
# --------------------------------------------------------------------------------------


def dose_response(
    episodes: pd.DataFrame,
    *,
    dose: str = "attendance_hours",
    covariates: Sequence[str] | str = (),
    per: float = 1.0,
    bins: int = 5,
    ci_level: float = 0.95,
    instrument: str | None = None,
) -> DoseResponseResult:
    r"""Change in score per unit of attended treatment, adjusted for baseline.

    OLS :math:`\text{change} = \beta_0 + \beta_1\,\text{dose} + \beta_2\,\text{baseline}
    + \ldots + \varepsilon`; the reported slope is :math:`\beta_1 \times` ``per`` (e.g.
    ``per=10`` for change per 10 hours) with a t interval on the residual df (as R ``lm``).
    Because baseline is in the model, the slope is the same as with ``endpoint`` as the
    outcome. On lower-is-better instruments a negative slope means more attendance goes
    with more improvement. The association is observational: sicker or improving patients
    may attend differently.

    ``bins`` quantile bands of dose give mean change with t intervals (``.bins``) for a
    plot of the shape.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "attendance_hours": [20, 40, 60, 80, 30, 50, 70, 90],
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [14, 9, 11, 6, 13, 12, 6, 9]})
    >>> res = iop.dose_response(ep, per=10, bins=2)
    >>> round(float(res.table["estimate"].iloc[0]), 4)
    -1.0816
    """
    func = "dose_response"
    ci_level = _check_ci_level(ci_level, func)
    if not isinstance(per, (int, float)) or per <= 0:
        raise ConfigError(f"The 'per' parameter of {func} must be a positive number. Got {per!r}.")
    p = _prepare(
        episodes,
        group=None,
        reference=None,
        covariates=covariates,
        extra=(dose,),
        func=func,
        instrument=instrument,
    )
    d = p.data
    if not pd.api.types.is_numeric_dtype(d[dose]):
        raise DataError(f"{func}: column {dose!r} must be numeric (hours or sessions).")
    x = d[dose].to_numpy(float)
    if len(d) < 3 or np.ptp(x) == 0:
        raise DataError(f"{func}: {dose!r} needs at least 3 episodes with varying values.")
    Z, znames, _, notes = _covariate_design(d, p.covariates)
    X = np.column_stack([np.ones(len(d)), x, d["baseline"].to_numpy(float), Z])
    names = ["(Intercept)", dose, "baseline", *znames]
    beta, cov, df_resid, _ = _ols(d["change"].to_numpy(float), X, func, names)
    est, se = beta[1] * per, np.sqrt(cov[1, 1]) * per
    table = pd.DataFrame(
        [
            dict(
                term=f"{dose} (per {per:g})",
                **_t_row(est, se, float(df_resid), ci_level),
                n_used=len(d),
                method="ols",
            )
        ]
    )
    q = pd.qcut(d[dose], q=bins, duplicates="drop")
    g = d.groupby(q, observed=True)
    bt = pd.DataFrame(
        {
            "n": g.size(),
            "mean_dose": g[dose].mean(),
            "mean_change": g["change"].mean(),
            "sd_change": g["change"].std(ddof=1),
        }
    )
    lo, hi = mean_ci(bt["mean_change"], bt["sd_change"], bt["n"], ci_level)
    bt["ci_low"], bt["ci_high"] = np.asarray(lo), np.asarray(hi)
    bt.insert(0, "band", [str(iv) for iv in bt.index])
    bt = bt.reset_index(drop=True)
    cov_txt = ", ".join(["baseline", *p.covariates])
    return DoseResponseResult(
        table=table,
        title=f"Dose-response: change vs {dose}",
        method=f"OLS change ~ {dose} + {cov_txt}; t interval on residual df",
        params=dict(dose=dose, per=per, ci_level=ci_level, n_used=len(d), n_excluded=p.n_excluded),
        notes=tuple(notes) + ("Observational association, not a causal dose effect.",),
        bins=bt,
    )
