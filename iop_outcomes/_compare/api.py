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
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._dask import is_dask
from .._stats import mean_ci
from .._validation import Interval, Options, validate_params
from ..exceptions import ConfigError, DataError, IOPWarning
from .design import (
    METHODS,
    as_tuple,
    covariate_design,
    drop_small_groups,
    dummy_matrix,
    fit_ols,
    level_order,
    prepare,
    t_row,
)
from .estimators import ancova, weighted, welch
from .results import ComparisonResult, DoseResponseResult, SubgroupResult

__all__ = ["compare", "subgroups", "dose_response", "compare_within"]

_LEVEL = [Interval(float, 0, 1, closed="neither")]


@validate_params(
    {
        "episodes": ["frame", "dask_frame"],
        "group": [str],
        "reference": ["no_validation"],
        "method": [Options(*METHODS)],
        "covariates": ["columns"],
        "ci_level": _LEVEL,
        "instrument": ["instrument", None],
        "include_baseline": ["boolean"],
        "vcov": [Options("classical", "HC3")],
    }
)
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
    ci_level = float(ci_level)
    if vcov != "classical" and method != "ancova":
        raise ConfigError(
            f"compare: vcov={vcov!r} applies to method='ancova' only (the weighted methods "
            "already use sandwich SEs; Welch allows unequal variances)."
        )
    if method == "welch" and as_tuple(covariates):
        raise ConfigError(
            "compare: method='welch' is unadjusted and takes no covariates; use "
            "method='ancova' or a propensity-score method to adjust."
        )
    if is_dask(episodes):  # group moments per partition, combined (_dask/compare.py)
        return compare_dask(episodes, locals())
    p = prepare(
        episodes,
        group=group,
        reference=reference,
        covariates=covariates,
        func=func,
        instrument=instrument,
    )
    balance = diagnostics = None
    with np.errstate(divide="ignore", invalid="ignore"):  # zero-variance groups give NaN
        if method == "welch":
            table, means, es, mdesc, notes = welch(p, ci_level)
        elif method == "ancova":
            table, means, es, mdesc, notes = ancova(p, ci_level, func, vcov)
        else:
            table, means, es, mdesc, notes, balance, diagnostics = weighted(
                p, ci_level, method, include_baseline, func
            )
    return comparison_result(
        (table, means, es, mdesc, notes),
        p,
        len(p.data),
        method=method,
        ci_level=ci_level,
        balance=balance,
        diagnostics=diagnostics,
    )


def comparison_result(
    fit: tuple, p, n_used: int, *, method: str, ci_level: float, balance=None, diagnostics=None
) -> ComparisonResult:
    """The :class:`ComparisonResult` of an estimator's ``(table, means, effect sizes, method
    text, notes)`` for the prepared episodes ``p`` (their group, reference, covariates,
    exclusions and instrument; in memory or combined over a Dask table's partitions)."""
    table, means, es, mdesc, notes = fit
    notes = list(dict.fromkeys(notes))
    notes.append(
        "Estimate = group - reference in mean change (endpoint - baseline); no multiplicity "
        "adjustment across contrasts."
    )
    params = dict(
        group=p.group,
        reference=p.reference,
        covariates=list(p.covariates),
        ci_level=ci_level,
        n_used=n_used,
        n_excluded=p.n_excluded,
    )
    if p.instrument is not None:
        params["instrument"] = p.instrument
    return ComparisonResult(
        table=table,
        title=f"Comparison of change by {p.group} (method: {method})",
        method=mdesc,
        params=params,
        notes=tuple(notes),
        means=means,
        effect_sizes=es,
        balance=balance,
        diagnostics=diagnostics,
    )


def compare_dask(episodes, args: dict):
    """:func:`compare` on Dask (:mod:`iop_outcomes._dask.compare`; Dask imported there)."""
    from .._dask.compare import compare_dask as run

    return run(episodes, args, comparison_result)


def compare_within(d, col, levels, label, dropped, notes, **kwargs):
    """Yield ``(level, compare(subset, **kwargs))`` for each level of ``col``. Groups with
    < 2 episodes are dropped first and levels where ``compare`` fails are skipped, each with
    a note starting ``f"{label}{level!r}"``."""
    for lv in levels:
        sub = d[(d[col] == lv).to_numpy()]
        sub, small = drop_small_groups(sub, kwargs["group"], kwargs["reference"])
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


@validate_params(
    {
        "episodes": ["frame"],
        "group": [str],
        "reference": ["no_validation"],
        "by": [str],
        "method": [Options(*METHODS)],
        "covariates": ["columns"],
        "ci_level": _LEVEL,
        "instrument": ["instrument", None],
    }
)
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

    Parameters
    ----------
    episodes : DataFrame
        Episode table with ``baseline``, ``endpoint``, the ``group`` column and the ``by``
        column (or what it is derived from; see ``by``). Episodes missing one of them or a
        covariate are excluded (counted in ``params``).
    group : str
        Column holding the cohort (default ``"format"``).
    reference : scalar or None
        The level the others are compared with within each subgroup (default
        ``"in_person"``); ``None``: the first level of ``group`` (categorical order, else
        sorted).
    by : str
        Column whose levels are the subgroups (default ``"age_band"``). ``"age_band"`` and
        ``"admit_quarter"`` are derived from ``age`` (bands ``<18``, ``18-25``, ``26-35``,
        ``36-50``, ``51-64``, ``65+``) and ``admit_date`` when the table lacks them, as in
        :func:`change_summary`. Subgroups follow its categorical order, else sorted order.
    method : {"ancova", "welch", "iptw", "overlap", "doubly_robust"}
        The :func:`compare` method used within each subgroup (default ``"ancova"``). The F
        test of effect modification is given for ``"welch"`` and ``"ancova"`` only.
    covariates : str or sequence of str
        Adjustment covariates of each subgroup's :func:`compare` and of the ANCOVA F test
        (default none); the ``by`` column is dropped from them.
    ci_level : float
        Confidence level of the subgroup intervals, strictly between 0 and 1 (default 0.95).
    instrument : str, optional
        ``None`` (default): the table must hold exactly one instrument (else a ConfigError
        names those found); a name keeps that instrument's rows.

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
    ci_level = float(ci_level)
    if isinstance(by, str) and by not in episodes.columns:
        # derived groupings (age_band, admit_quarter) exactly as change_summary derives them
        from .._grouping import DERIVED_GROUPINGS, group_columns

        if by in DERIVED_GROUPINGS:
            episodes = episodes.assign(**{by: group_columns(episodes, by, func, None)[0][by]})
    covariates = tuple(c for c in as_tuple(covariates) if c != by)
    p = prepare(
        episodes,
        group=group,
        reference=reference,
        covariates=covariates,
        extra=(by,),
        func=func,
        instrument=instrument,
    )
    d = p.data
    reference = p.reference
    levels = level_order(d[by])
    rows, es_rows, notes = [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IOPWarning)
        for lv, res in compare_within(
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
        warnings.warn(str(w.message), w.category, stacklevel=3)
    if not rows:
        raise DataError(f"{func}: no subgroup of {by!r} has enough episodes in both groups.")
    table = pd.concat(rows, ignore_index=True)
    inter = []
    if method in ("welch", "ancova"):
        inter += _interaction_f(d, group, reference, p.others, by, levels, method, covariates)
    inter += _cochran_q(table)
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


@validate_params(
    {
        "episodes": ["frame"],
        "dose": [str],
        "covariates": ["columns"],
        "per": [Interval(float, 0, None, closed="neither")],
        "bins": [Interval(int, 1, None, closed="left")],
        "ci_level": _LEVEL,
        "instrument": ["instrument", None],
    }
)
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

    Parameters
    ----------
    episodes : DataFrame
        Episode table with ``baseline``, ``endpoint``, the ``dose`` column and any
        ``covariates``; episodes missing one of them are excluded (counted in ``params``).
    dose : str
        Numeric column of attended treatment, e.g. hours or sessions (default
        ``"attendance_hours"``); at least 3 episodes with differing values are needed.
    covariates : str or sequence of str
        Further adjustment covariates besides ``baseline`` (numeric used as is;
        text/categorical/bool as factors; default none).
    per : float
        Units of dose the slope is reported per, greater than 0 (default 1.0; ``per=10``
        gives change per 10 hours).
    bins : int
        Number of quantile bands of dose for ``.bins``, at least 1 (default 5; fewer when
        tied doses make quantiles coincide).
    ci_level : float
        Confidence level of the slope's and the bands' t intervals, strictly between 0 and
        1 (default 0.95).
    instrument : str, optional
        ``None`` (default): the table must hold exactly one instrument (else a ConfigError
        names those found); a name keeps that instrument's rows.

    Returns
    -------
    DoseResponseResult
        ``.table``: one row for the slope (``term``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``ci_level``, ``statistic``, ``df``, ``pvalue``, ``n_used``,
        ``method``); ``.bins``: one row per dose band (``band``, ``n``, ``mean_dose``,
        ``mean_change``, ``sd_change``, ``ci_low``, ``ci_high``).

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
    ci_level = float(ci_level)
    p = prepare(
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
    Z, znames, _, notes = covariate_design(d, p.covariates)
    X = np.column_stack([np.ones(len(d)), x, d["baseline"].to_numpy(float), Z])
    names = ["(Intercept)", dose, "baseline", *znames]
    beta, cov, df_resid, _ = fit_ols(d["change"].to_numpy(float), X, func, names)
    est, se = beta[1] * per, np.sqrt(cov[1, 1]) * per
    table = pd.DataFrame(
        [
            dict(
                term=f"{dose} (per {per:g})",
                **t_row(est, se, float(df_resid), ci_level),
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


def _interaction_f(d, group, reference, others, by, levels, method, covariates) -> list[dict]:
    """F test of the group x by interaction: nested OLS models, as R anova(reduced, full)."""
    G = dummy_matrix(d[group], [reference, *others])
    B = dummy_matrix(d[by], levels)
    base = [np.ones(len(d)), G, B]
    if method == "ancova":
        y = d["endpoint"].to_numpy(float)
        Zc, _, _, _ = covariate_design(d, covariates)
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
        return [
            dict(
                test=f"F test ({group} x {by})",
                contrast="all",
                statistic=F,
                df1=float(df1),
                df2=float(df2),
                pvalue=float(_dist.f.sf(F, df1, df2)),
                model=(
                    "endpoint ~ baseline + group * by + covariates"
                    if method == "ancova"
                    else "change ~ group * by"
                ),
            )
        ]
    return []


def _cochran_q(table: pd.DataFrame) -> list[dict]:
    """Cochran's Q of the subgroup estimates per contrast (inverse-variance weights)."""
    rows = []
    for contrast, t in table.groupby("contrast", sort=False):
        t = t[np.isfinite(t["se"]) & (t["se"] > 0)]
        if len(t) < 2:
            continue
        w = 1 / t["se"].to_numpy() ** 2
        est = t["estimate"].to_numpy()
        Q = float((w * (est - (w * est).sum() / w.sum()) ** 2).sum())
        rows.append(
            dict(
                test="Cochran Q",
                contrast=contrast,
                statistic=Q,
                df1=float(len(t) - 1),
                df2=np.nan,
                pvalue=float(_dist.chi2.sf(Q, len(t) - 1)),
                model="heterogeneity of subgroup estimates (inverse-variance)",
            )
        )
    return rows
