"""Attrition bias: retained vs lost episodes compared on their baseline characteristics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._results import TableResult, format_table
from .._stats import check_ci_level
from ..exceptions import ConfigError, DataError
from .logistic import SeparationError, design, is_continuous, logit_or, perfect_fit
from .prepare import (
    STATUSES,
    as_episodes,
    keep_instrument,
    require,
    status_codes,
)


# --------------------------------------------------------------------------------------
# attrition bias
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AttritionResult(TableResult):
    """Retained vs lost: ``table`` (SMDs and tests per covariate / level) and ``model``
    (logistic model of non-response, odds ratios)."""

    model: pd.DataFrame = field(default_factory=pd.DataFrame)
    roles: dict = field(
        default_factory=lambda: {
            "n_retained": "count",
            "n_lost": "count",
            "mean_retained": "statistic of n_retained",
            "sd_retained": "statistic of n_retained",
            "mean_lost": "statistic of n_lost",
            "sd_lost": "statistic of n_lost",
        },
        repr=False,
    )

    def to_frame(self, which: str = "table") -> pd.DataFrame:
        """Copy of ``"table"`` (default) or ``"model"``."""
        if which == "model":
            return self.model.copy()
        if which != "table":
            raise ConfigError(
                f"The 'which' parameter of to_frame must be 'table' or 'model'. Got {which!r}."
            )
        return self.table.copy()

    def summary(self) -> str:
        parts = [super().summary()]
        if len(self.model):
            parts += [
                "",
                "Logistic model of non-response (odds ratio of being lost):",
                format_table(
                    self.model[["term", "estimate", "ci_low", "ci_high", "pvalue"]], 3
                ).to_string(index=False),
            ]
        return "\n".join(parts)


_DEFAULT_ATTRITION = (
    "baseline",
    "age",
    "gender_identity",
    "race_ethnicity",
    "payer",
    "format",
    "site",
)


def attrition(
    data: Any,
    *,
    retained: str = "followup_3m",
    covariates: tuple[str, ...] | None = None,
    instrument: str | None = None,
    model: bool = True,
    ci_level: float = 0.95,
) -> AttritionResult:
    r"""Baseline characteristics of retained vs lost episodes, and a model of non-response.

    An episode is retained when column ``retained`` is observed (``"endpoint"``, or a follow-up
    window such as ``"followup_3m"``). For a follow-up window only discharged episodes (status
    not ``ongoing``) are compared.

    Standardized mean differences (retained − lost; Austin 2009, as R ``tableone``):

    .. math::
        \text{continuous: } \frac{\bar x_r - \bar x_l}{\sqrt{(s_r^2 + s_l^2)/2}},\qquad
        \text{each level: } \frac{p_r - p_l}{\sqrt{(p_r(1-p_r) + p_l(1-p_l))/2}}

    Tests: Welch's t-test (continuous; R ``t.test``), Pearson chi-square without continuity
    correction across all levels (categorical; R ``chisq.test(correct = FALSE)``). The model is
    a logistic regression of being lost on all covariates (complete cases; categorical
    covariates as dummies against their most frequent level), odds ratios with Wald intervals.
    Numeric columns with at most two distinct values are treated as categorical.

    Parameters
    ----------
    data : DataFrame
        Episode table or loaded assessments.
    retained : str
        Column whose presence means retained.
    covariates : tuple of str, optional
        Baseline characteristics; default those present among ``baseline, age,
        gender_identity, race_ethnicity, payer, format, site``.
    instrument : str, optional
        Instrument, when the table holds several.
    model : bool
        Fit the logistic model of non-response.
    ci_level : float
        Confidence level of the odds-ratio intervals.

    References
    ----------
    Austin (2009). Commun Stat Simul Comput 38:1228-1234. Welch (1947). Biometrika 34:28-35.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [10, 14, 12, 20, 18, 16],
    ...                    "discharge_status": ["completed"] * 6,
    ...                    "followup_3m": [5, 6, 7, None, None, None]})
    >>> a = iop.attrition(ep, covariates=("baseline",), model=False)
    >>> round(float(a.table["smd"].iloc[0]), 4)   # (12 - 18) / sqrt((4 + 4) / 2)
    -3.0
    """
    fname = "attrition"
    ci_level = check_ci_level(ci_level, fname)
    ep = keep_instrument(as_episodes(data, fname, instrument), instrument, fname)
    ep = ep.reset_index(drop=True)
    require(ep, [retained], fname)
    if retained.startswith("followup_") and "discharge_status" in ep.columns:
        st = status_codes(ep, fname)
        ep = ep.loc[st != STATUSES.index("ongoing")].reset_index(drop=True)
    if covariates is None:
        covariates = tuple(c for c in _DEFAULT_ATTRITION if c in ep.columns)
    else:
        covariates = tuple(covariates)
        require(ep, list(covariates), fname)
    if not covariates:
        raise DataError(
            f"{fname}: no covariates to compare (none of {_DEFAULT_ATTRITION} present)."
        )
    kept = ep[retained].notna().to_numpy()
    if kept.all() or not kept.any():
        raise DataError(
            f"{fname}: all {len(ep)} episodes are {'retained' if kept.all() else 'lost'} on "
            f"{retained!r}; nothing to compare."
        )
    rows = []
    for c in covariates:
        s = ep[c]
        if is_continuous(s):
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            a, b = x[kept], x[~kept]
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            ma, mb = a.mean() if len(a) else np.nan, b.mean() if len(b) else np.nan
            sa = a.std(ddof=1) if len(a) > 1 else np.nan
            sb = b.std(ddof=1) if len(b) > 1 else np.nan
            smd = (ma - mb) / np.sqrt((sa**2 + sb**2) / 2)
            if len(a) > 1 and len(b) > 1:
                tt = stats.ttest_ind(a, b, equal_var=False)
                se = np.sqrt(sa**2 / len(a) + sb**2 / len(b))
                dfw = se**4 / (
                    (sa**2 / len(a)) ** 2 / (len(a) - 1) + (sb**2 / len(b)) ** 2 / (len(b) - 1)
                )
                stat, df_, p = float(tt.statistic), float(dfw), float(tt.pvalue)
            else:
                stat = df_ = p = np.nan
            rows.append(
                dict(
                    variable=c,
                    level="",
                    kind="continuous",
                    n_retained=len(a),
                    mean_retained=ma,
                    sd_retained=sa,
                    n_lost=len(b),
                    mean_lost=mb,
                    sd_lost=sb,
                    smd=smd,
                    test="Welch t",
                    statistic=stat,
                    df=df_,
                    pvalue=p,
                )
            )
        else:
            v = s.astype("object").where(s.notna(), None)
            ok = v.notna().to_numpy()
            lv = v[ok].astype(str).to_numpy()
            kk = kept[ok]
            levels = sorted(set(lv))
            ct = pd.crosstab(pd.Categorical(lv, categories=levels), kk).reindex(
                columns=[True, False], fill_value=0
            )
            ctab = ct.to_numpy().astype(float)  # levels × (retained, lost)
            nr, nl = ctab[:, 0].sum(), ctab[:, 1].sum()
            if len(levels) >= 2 and nr > 0 and nl > 0:
                chi, p, dof, _ = stats.chi2_contingency(ctab, correction=False)
            else:
                chi = p = dof = np.nan
            for i, lev in enumerate(levels):
                pr = ctab[i, 0] / nr if nr else np.nan
                pl = ctab[i, 1] / nl if nl else np.nan
                with np.errstate(invalid="ignore", divide="ignore"):
                    smd = (pr - pl) / np.sqrt((pr * (1 - pr) + pl * (1 - pl)) / 2)
                first = i == 0
                rows.append(
                    dict(
                        variable=c,
                        level=lev,
                        kind="categorical",
                        n_retained=int(ctab[i, 0]),
                        mean_retained=pr,
                        sd_retained=np.sqrt(pr * (1 - pr)),
                        n_lost=int(ctab[i, 1]),
                        mean_lost=pl,
                        sd_lost=np.sqrt(pl * (1 - pl)),
                        smd=smd,
                        test="Pearson chi-square" if first else "",
                        statistic=float(chi) if first else np.nan,
                        df=float(dof) if first else np.nan,
                        pvalue=float(p) if first else np.nan,
                    )
                )
    table = pd.DataFrame(rows)
    notes = [
        "Population: "
        + (
            "discharged episodes (status not ongoing)."
            if retained.startswith("followup_") and "discharge_status" in ep.columns
            else "all episodes in the table."
        ),
        "SMD = retained minus lost over sqrt((s_r^2 + s_l^2)/2) (Austin 2009); categorical: "
        "per level, proportions. |SMD| > 0.1 is a common flag of imbalance.",
        "Categorical rows: n = count, mean = proportion, sd = sqrt(p(1-p)); chi-square on the "
        "first level's row tests the whole variable (no continuity correction).",
    ]
    mtab = pd.DataFrame()
    if model:
        sub = ep.loc[:, list(covariates)]
        ok = sub.notna().all(axis=1).to_numpy()
        y = (~kept[ok]).astype(float)
        X, names, refs = design(sub.loc[ok], list(covariates))
        if ok.sum() > X.shape[1] and not perfect_fit(y, X):
            try:
                mtab = logit_or(y, X, names, ci_level)
                mtab["n_used"] = int(ok.sum())
                mtab["method"] = "logistic regression of being lost; Wald CI"
                mtab["ci_level"] = ci_level
            except SeparationError as e:
                notes.append(f"Logistic model of non-response not reported: {e}.")
        else:
            notes.append(
                "Logistic model of non-response not fitted (too few complete cases or "
                "no variation)."
            )
        if refs:
            notes.append(
                "Model reference levels: " + ", ".join(f"{k}={v}" for k, v in refs.items())
            )
        notes.append(f"Model: complete cases, n = {int(ok.sum())} of {len(ep)}.")
    return AttritionResult(
        table=table,
        title=f"Attrition: retained vs lost on {retained!r}",
        method="standardized mean differences; Welch t / Pearson chi-square; logistic model",
        params={
            "retained": retained,
            "n_retained": int(kept.sum()),
            "n_lost": int((~kept).sum()),
            "ci_level": ci_level,
        },
        notes=tuple(notes),
        digits=3,
        model=mtab,
    )
