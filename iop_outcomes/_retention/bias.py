"""Attrition bias: retained vs lost episodes compared on their baseline characteristics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import _dist
from .._results import TableResult, format_table
from .._validation import Interval, check_columns, public_name, validate_params
from ..exceptions import ConfigError, DataError
from ..io import LoadResult
from .logistic import SeparationError, design, is_continuous, logit_or, perfect_fit
from .prepare import STATUSES, episode_table, status_codes


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


@validate_params(
    {
        "episodes": ["frame", LoadResult],
        "retained": [str],
        "covariates": ["columns", None],
        "instrument": ["instrument", None],
        "model": ["boolean"],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
    },
    renamed={"data": "episodes"},
)
def attrition(
    episodes: pd.DataFrame,
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
    episodes : DataFrame or LoadResult
        Episode table. Assessment rows are accepted too: a table without a ``baseline`` column
        that holds ``total`` (or ``assessment_date``, ``timepoint``) is taken as assessments
        and its episode table built with :func:`iop_outcomes.episodes` for ``instrument``.
    retained : str
        Column whose presence means retained.
    covariates : tuple of str, optional
        Baseline characteristics; default those present among ``baseline, age,
        gender_identity, race_ethnicity, payer, format, site``.
    instrument : str, optional
        Instrument whose episode rows are compared. ``None``: the table must hold exactly one
        (else a ConfigError names those found).
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
    func = "attrition"
    ep, _ = episode_table(episodes, instrument, func=func)
    check_columns(ep, [retained], func=func, what="episode table")
    discharged_only = retained.startswith("followup_") and "discharge_status" in ep.columns
    if discharged_only:
        st = status_codes(ep, func)
        ep = ep.loc[st != STATUSES.index("ongoing")].reset_index(drop=True)
    covariates = _attrition_covariates(ep, covariates, func)
    kept = ep[retained].notna().to_numpy()
    if kept.all() or not kept.any():
        raise DataError(
            f"{public_name(func)}: all {len(ep)} episodes are "
            f"{'retained' if kept.all() else 'lost'} on {retained!r}; nothing to compare."
        )
    rows = []
    for c in covariates:
        s = ep[c]
        if is_continuous(s):
            rows.append(_continuous_row(c, s, kept))
        else:
            rows += _categorical_rows(c, s, kept)
    table = pd.DataFrame(rows)
    notes = [
        "Population: "
        + (
            "discharged episodes (status not ongoing)."
            if discharged_only
            else "all episodes in the table."
        ),
        "SMD = retained minus lost over sqrt((s_r^2 + s_l^2)/2) (Austin 2009); categorical: "
        "per level, proportions. |SMD| > 0.1 is a common flag of imbalance.",
        "Categorical rows: n = count, mean = proportion, sd = sqrt(p(1-p)); chi-square on the "
        "first level's row tests the whole variable (no continuity correction).",
    ]
    mtab = _nonresponse_model(ep, covariates, kept, ci_level, notes) if model else pd.DataFrame()
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


def _attrition_covariates(ep: pd.DataFrame, covariates, func: str) -> tuple[str, ...]:
    """The covariates compared: those given (they must exist), else the default ones present."""
    if covariates is None:
        covariates = tuple(c for c in _DEFAULT_ATTRITION if c in ep.columns)
    else:
        covariates = (covariates,) if isinstance(covariates, str) else tuple(covariates)
        check_columns(ep, covariates, func=func, what="episode table")
    if not covariates:
        raise DataError(
            f"{public_name(func)}: no covariates to compare (none of {_DEFAULT_ATTRITION} present)."
        )
    return covariates


def _continuous_row(c: str, s: pd.Series, kept: np.ndarray) -> dict:
    """Retained vs lost on a continuous covariate: means, SDs, SMD, Welch t-test."""
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    a, b = x[kept], x[~kept]
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    ma, mb = a.mean() if len(a) else np.nan, b.mean() if len(b) else np.nan
    sa = a.std(ddof=1) if len(a) > 1 else np.nan
    sb = b.std(ddof=1) if len(b) > 1 else np.nan
    smd = (ma - mb) / np.sqrt((sa**2 + sb**2) / 2)
    if len(a) > 1 and len(b) > 1:
        tt_stat, tt_p, _ = _dist.welch_t(a, b)
        se = np.sqrt(sa**2 / len(a) + sb**2 / len(b))
        dfw = se**4 / ((sa**2 / len(a)) ** 2 / (len(a) - 1) + (sb**2 / len(b)) ** 2 / (len(b) - 1))
        stat, df_, p = float(tt_stat), float(dfw), float(tt_p)
    else:
        stat = df_ = p = np.nan
    return dict(
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


def _categorical_rows(c: str, s: pd.Series, kept: np.ndarray) -> list[dict]:
    """Retained vs lost per level of a categorical covariate: proportions, SMD; Pearson
    chi-square across all levels on the first level's row."""
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
        chi, p, dof, _ = _dist.pearson_chi2(ctab)
    else:
        chi = p = dof = np.nan
    rows = []
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
    return rows


def _nonresponse_model(ep, covariates, kept, ci_level: float, notes: list[str]) -> pd.DataFrame:
    """Logistic model of being lost on all covariates (complete cases); notes appended."""
    mtab = pd.DataFrame()
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
            "Logistic model of non-response not fitted (too few complete cases or no variation)."
        )
    if refs:
        notes.append("Model reference levels: " + ", ".join(f"{k}={v}" for k, v in refs.items()))
    notes.append(f"Model: complete cases, n = {int(ok.sum())} of {len(ep)}.")
    return mtab
