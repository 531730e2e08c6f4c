"""Clinical significance: reliable change, cut-offs, NHS Talking Therapies outcomes, benchmarks.

Two public functions:

* :func:`clinical_significance` classifies each episode and counts the categories (with Wilson
  confidence intervals) overall or per group. Methods: the distribution approach's reliable
  change indices ``"jacobson-truax"`` (Jacobson & Truax 1991), ``"gulliksen-lord-novick"`` (Hsu
  1989), ``"edwards-nunnally"`` (Speer 1992), ``"hsu-linn-lord"`` (Hsu 1989),
  ``"nunnally-kotsch"`` (Nunnally & Kotsch 1983), ``"hageman-arrindell"`` (Hageman & Arrindell
  1999); ``"statistical"`` (cut-off crossing), ``"percentage"`` (percentage change),
  ``"anchor"`` (minimal important difference; ``target="group"`` for group means) and
  ``"combined"`` (MID and cut-off), as the R package clinicalsignificance (Claus et al. 2024);
  and ``"nhs-talking-therapies"`` (NHS England's published outcome definitions, single-measure
  or the joint PHQ-9 + GAD-7 rules).
* :func:`benchmarks` sets a program's NHS Talking Therapies rates beside the national figures
  shipped in ``iop_outcomes/data/nhs_talking_therapies_national.csv``.

Every result states the method, where the reliable-change threshold came from (``"sample"``,
``"reference"`` or ``"fixed"``), the reliability and SD used and the resulting threshold in
points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import instruments as _instruments
from ._results import TableResult, format_table
from ._stats import check_ci_level, wilson_ci, z_crit
from .exceptions import ConfigError, DataError

__all__ = [
    "clinical_significance",
    "benchmarks",
    "ClinicalSignificanceResult",
    "GroupAnchorResult",
]

_METHODS = {
    "jacobsontruax": "jacobson-truax",
    "jt": "jacobson-truax",
    "gulliksenlordnovick": "gulliksen-lord-novick",
    "gln": "gulliksen-lord-novick",
    "edwardsnunnally": "edwards-nunnally",
    "en": "edwards-nunnally",
    "nhstalkingtherapies": "nhs-talking-therapies",
    "nhstt": "nhs-talking-therapies",
    "nhs": "nhs-talking-therapies",
    "iapt": "nhs-talking-therapies",
    "hagemanarrindell": "hageman-arrindell",
    "ha": "hageman-arrindell",
    "hsulinnlord": "hsu-linn-lord",
    "hll": "hsu-linn-lord",
    "nunnallykotsch": "nunnally-kotsch",
    "nk": "nunnally-kotsch",
    "statistical": "statistical",
    "percentage": "percentage",
    "percentagechange": "percentage",
    "pct": "percentage",
    "anchor": "anchor",
    "anchorbased": "anchor",
    "combined": "combined",
}
_SAMPLE_ONLY = {"hsu-linn-lord", "hageman-arrindell"}
_METHOD_LABEL = {
    "jacobson-truax": "Jacobson-Truax (1991) reliable change index",
    "gulliksen-lord-novick": "Gulliksen-Lord-Novick reliable change index (Hsu 1989)",
    "edwards-nunnally": "Edwards-Nunnally reliable change (Speer 1992 formulation)",
    "nhs-talking-therapies": "NHS Talking Therapies outcome definitions (NHS England)",
    "hsu-linn-lord": "Hsu-Linn-Lord reliable change index (Hsu 1989)",
    "nunnally-kotsch": "Nunnally-Kotsch reliable change index (Nunnally & Kotsch 1983)",
    "hageman-arrindell": (
        "Hageman-Arrindell RC_indiv and CS_indiv (Hageman & Arrindell 1999), one-sided 5 %"
    ),
    "statistical": "Statistical approach: cut-off crossing alone (no reliable change index)",
    "percentage": "Percentage-change approach",
    "anchor": "Anchor-based approach: minimal important difference",
    "combined": "Combined approach: minimal important difference and cut-off",
}
_JT_CATEGORIES = ["recovered", "improved", "unchanged", "deteriorated"]
_NHS_OUTCOMES = [
    "at caseness",
    "not at caseness",
    "reliable improvement",
    "no reliable change",
    "reliable deterioration",
    "recovery",
    "reliable recovery",
]
_ID_COLUMNS = ("episode_id", "patient_id", "instrument")
_POPULATION_CAVEAT = (
    "Populations differ: NHS Talking Therapies is England's primary-care psychological therapy "
    "service for common mental-health problems (stepped care; mean first PHQ-9 14.2 in CBT "
    "courses, 2024-25), not intensive outpatient or partial hospitalization care. National "
    "rates are context, not a like-for-like comparison."
)


@dataclass(frozen=True, repr=False, eq=False)
class ClinicalSignificanceResult(TableResult):
    """Result of :func:`clinical_significance`.

    Attributes
    ----------
    table : DataFrame
        Counts and rates per outcome (and group): ``outcome``, ``count``, ``n`` (the
        denominator), ``estimate`` (= count / n), ``ci_low``, ``ci_high`` (Wilson), ``ci_level``,
        ``n_excluded``.
    episodes : DataFrame
        Per-episode classification. Single-measure methods: one row per analysed input row, with
        the input's index. NHS joint rules (PHQ-9 + GAD-7 rows paired by ``episode_id``): one row
        per episode, indexed by ``episode_id``.
    method, params, notes
        What produced the numbers: method, threshold source, reliability, SD, thresholds in
        points, cut-off; caveats.
    group_level : DataFrame or None
        ``"hageman-arrindell"`` with a cut-off: Hageman & Arrindell's group-level shares per
        group (or overall): ``n``, ``mean_change``, ``sd_change``, ``mean_post``, ``sd_post``,
        ``changed`` (share with a true improvement), ``functional`` (share with a true endpoint
        beyond the cut-off). ``None`` otherwise.
    """

    episodes: pd.DataFrame | None = None
    group_level: pd.DataFrame | None = None
    roles: dict = field(
        default_factory=lambda: {
            "count": "count",
            "n": "count",
            "n_excluded": "count",
            "estimate": "from count, n",
            "ci_low": "from count, n",
            "ci_high": "from count, n",
        },
        repr=False,
    )

    def summary(self) -> str:
        text = super().summary()
        if self.group_level is not None:
            text += "\n\nGroup level (Hageman & Arrindell 1999)\n" + format_table(
                self.group_level, 3
            ).to_string(index=False)
        return text

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if self.group_level is None:
            return html
        table = format_table(self.group_level, 3).to_html(
            index=False, border=0, classes="iop-table"
        )
        return (
            html
            + f"<div><p><strong>Group level (Hageman &amp; Arrindell 1999)</strong></p>{table}</div>"
        )


# --------------------------------------------------------------------------- helpers


def _key(s: Any) -> str:
    return re.sub(r"[\s_\-]+", "", str(s)).lower()


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def _canon(s: pd.Series) -> pd.Series:
    """Canonical instrument names for a column (looked up once per distinct value)."""
    codes, uniques = pd.factorize(s)
    names = np.array([_instruments.canonical_name(u) for u in uniques] + [None], dtype=object)
    return pd.Series(names[codes], index=s.index, dtype=object)


def _id_frame(df: pd.DataFrame, by_cols) -> pd.DataFrame:
    """The identifier and grouping columns of ``df``: the start of a per-episode table."""
    ep = pd.DataFrame(index=df.index)
    for c in _ID_COLUMNS:
        if c in df.columns:
            ep[c] = df[c]
    for c in by_cols:
        if c not in ep.columns:
            ep[c] = df[c]
    return ep


def _labels(conds, labels, default=None) -> pd.Categorical:
    """First matching label per row (like ``np.select``), as a Categorical built from codes.

    ``None`` in ``labels`` (or as ``default``) gives a missing value.
    """
    cats = list(dict.fromkeys(x for x in [*labels, default] if x is not None))
    code = {c: i for i, c in enumerate(cats)}
    codes = np.select(
        [np.asarray(c, dtype=bool) for c in conds],
        [-1 if lab is None else code[lab] for lab in labels],
        default=-1 if default is None else code[default],
    ).astype(np.int16)
    return pd.Categorical.from_codes(codes, categories=cats)


def _check_columns(df: pd.DataFrame, cols: list[str], func: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(
            f"The data passed to {func} lack column(s) {missing}. "
            f"Columns present: {list(df.columns)}. Pass pre=/post= to name your own columns."
        )


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    s = df[col]
    try:
        return pd.to_numeric(s, errors="raise").astype(float)
    except (ValueError, TypeError):
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        raise DataError(
            f"Column {col!r} must hold numeric scores; found non-numeric value(s) "
            f"{bad.astype(str).unique()[:5].tolist()} (e.g. at row {bad.index[0]!r})."
        ) from None


def _by_list(by: Any, df: pd.DataFrame) -> list[str]:
    if by is None:
        return []
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(
            f"The 'by' column(s) {missing} are not in the data. Columns present: {list(df.columns)}."
        )
    return cols


def _rates_table(
    flags: pd.DataFrame,
    denom: pd.DataFrame,
    outcomes: list[str],
    by: list[str],
    keys: pd.DataFrame,
    excluded: pd.Series,
    ci_level: float,
) -> pd.DataFrame:
    """Sum boolean outcome flags within groups; one tidy row per (group, outcome).

    ``flags`` holds one boolean column per outcome (False where not counted); ``denom`` one
    boolean column per outcome marking rows in that outcome's denominator; ``keys`` the group
    columns aligned with them; ``excluded`` marks rows counted in no denominator.
    """
    f = flags[outcomes].astype(bool).astype(np.int64)
    d = denom[outcomes].astype(bool).astype(np.int64)
    d.columns = [f"__n__{c}" for c in outcomes]
    work = pd.concat([f, d], axis=1)
    work["__excluded"] = excluded.astype(np.int64).to_numpy()
    if by:
        for c in by:
            work[c] = keys[c].to_numpy()
        summed = work.groupby(by, dropna=False, sort=True).sum()
    else:
        summed = work.sum().to_frame().T
    rows = []
    for o in outcomes:
        part = pd.DataFrame(
            {
                "outcome": o,
                "count": summed[o].to_numpy(),
                "n": summed[f"__n__{o}"].to_numpy(),
                "n_excluded": summed["__excluded"].to_numpy(),
            },
            index=summed.index if by else None,
        )
        rows.append(part)
    table = pd.concat(rows)
    if by:
        table = table.reset_index()
    table["count"] = table["count"].astype(np.int64)
    table["n"] = table["n"].astype(np.int64)
    table["n_excluded"] = table["n_excluded"].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["estimate"] = np.where(table["n"] > 0, table["count"] / table["n"], np.nan)
    lo, hi = wilson_ci(table["count"].to_numpy(), table["n"].to_numpy(), ci_level)
    table["ci_low"] = lo
    table["ci_high"] = hi
    table["ci_level"] = float(ci_level)
    order = {o: i for i, o in enumerate(outcomes)}
    table["__o"] = table["outcome"].map(order)
    table = table.sort_values([*by, "__o"], kind="stable").drop(columns="__o")
    cols = [*by, "outcome", "count", "n", "estimate", "ci_low", "ci_high", "ci_level", "n_excluded"]
    return table[cols].reset_index(drop=True)


def _resolve_single_instrument(df: pd.DataFrame, instrument: Any, func: str):
    """Return (rows to analyse, Instrument or None, notes)."""
    notes: list[str] = []
    has_col = "instrument" in df.columns
    if instrument is not None:
        inst = _instruments.get(instrument)
        if has_col:
            canon = _canon(df["instrument"])
            keep = canon == inst.name
            if not keep.any():
                raise DataError(
                    f"{func}: no rows with instrument {inst.name!r}. Instruments in the data: "
                    f"{sorted(df['instrument'].dropna().astype(str).unique().tolist())}."
                )
            if not keep.all():
                notes.append(
                    f"Analysed the {int(keep.sum()):,} {inst.name} rows; "
                    f"{int((~keep).sum()):,} rows of other instruments were left out."
                )
            df = df.loc[keep]
        return df, inst, notes
    if has_col:
        uniq = pd.unique(df["instrument"].dropna())
        canon_u = {u: _instruments.canonical_name(u) for u in uniq}
        names = sorted({v for v in canon_u.values() if v})
        unknown = sorted(str(u) for u, v in canon_u.items() if v is None)
        if len(names) == 1 and not unknown:
            return df, _instruments.get(names[0]), notes
        if len(names) + len(unknown) > 1:
            raise ConfigError(
                f"{func}: the data hold several instruments {names + unknown}; single-measure "
                "rules apply to one instrument. Pass instrument='PHQ-9' (for example) to choose one."
            )
    return df, None, notes


# --------------------------------------------------------------------------- distribution-based


def _prepare(df, *, instrument, by, pre, post, better_is, func="clinical_significance"):
    """Columns, instrument rows, groups, numeric scores and direction, checked once."""
    _check_columns(df, [pre, post], func)
    df, inst, notes = _resolve_single_instrument(df, instrument, func)
    by_cols = _by_list(by, df)
    x = _numeric(df, pre)
    y = _numeric(df, post)
    used = x.notna() & y.notna()
    if not used.any():
        raise DataError(f"{func}: no row has both {pre!r} and {post!r} scores.")
    if better_is is None:
        if inst is None:
            raise ConfigError(
                f"{func}: cannot tell which direction is improvement. Pass instrument='PHQ-9' "
                "(for example) or better_is='lower' / 'higher'."
            )
        better_is = inst.better_is
    if better_is not in ("lower", "higher"):
        raise ConfigError(
            f"The 'better_is' parameter of {func} must be 'lower' or 'higher'. Got {better_is!r} instead."
        )
    params: dict[str, Any] = {}
    if inst is not None:
        params["instrument"] = inst.name
    params["better_is"] = better_is
    return df, inst, notes, by_cols, x, y, used, better_is, params


def _positive(value, name: str, func: str = "clinical_significance") -> float:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not (np.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"The '{name}' parameter of {func} must be a positive number. Got {value!r} instead."
        )
    return float(value)


def _reliability_value(value, name: str, func: str = "clinical_significance") -> float:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0 <= value < 1
    ):
        raise ConfigError(
            f"The '{name}' parameter of {func} must be a number in [0, 1). Got {value!r} instead."
        )
    return float(value)


def _resolve_mid(mid, mid_deterioration, threshold, inst, func="clinical_significance"):
    """The minimal important difference in points: (improvement, deterioration, source)."""
    if threshold is not None:
        if isinstance(threshold, str) or isinstance(threshold, (bool, np.bool_)):
            raise ConfigError(
                f"The 'threshold' parameter of {func} with an anchor-based method must be a "
                f"positive number of points (the MID; or pass mid=). Got {threshold!r} instead."
            )
        if mid is not None:
            raise ConfigError(
                f"{func}: pass the minimal important difference once, as mid= (threshold= is an "
                "alias kept for earlier code)."
            )
        mid = threshold
    if mid is None:
        if inst is None or inst.mid is None:
            raise ConfigError(
                f"{func}: the anchor-based approach needs a minimal important difference. Pass "
                "mid=<points> or an instrument with a published MID (instrument='PHQ-9')."
            )
        mid, src = inst.mid, inst.mid_source
    else:
        src = "user-supplied"
    mid = _positive(mid, "mid", func)
    if mid_deterioration is None:
        mid_det = mid
    else:
        mid_det = _positive(mid_deterioration, "mid_deterioration", func)
    return mid, mid_det, src


def _distribution_based(
    df,
    *,
    method,
    instrument,
    reliability,
    sd,
    threshold,
    cutoff,
    by,
    ci_level,
    pre,
    post,
    better_is,
    clinical_mean,
    clinical_sd,
    functional_mean,
    functional_sd,
    harmed_category,
    cutoff_inclusive=None,
    reliability_post=None,
    mid=None,
    mid_deterioration=None,
):
    func = "clinical_significance"
    df, inst, notes, by_cols, x, y, used, better_is, base = _prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    n_used = int(used.sum())
    d = -1.0 if better_is == "lower" else 1.0  # sign of a beneficial change (post - pre)
    xu, yu = x[used], y[used]
    change = y - x
    anchor = method in ("anchor", "combined")
    params: dict[str, Any] = {"method": method}

    if anchor:
        source = "anchor"
        mid_i, mid_d, mid_src = _resolve_mid(mid, mid_deterioration, threshold, inst)
        rule = (
            f"improved: {'decrease' if d < 0 else 'increase'} >= {mid_i:g} points; deteriorated: "
            f"{'increase' if d < 0 else 'decrease'} >= {mid_d:g} points (inclusive)"
        )
        params.update(
            threshold_source="anchor",
            **base,
            reliability=None,
            sd=None,
            mid_improvement=mid_i,
            mid_deterioration=mid_d,
            threshold_points=mid_i,
            threshold_rule=rule,
        )
        notes.append(
            f"Minimal important difference {mid_i:g} points ({mid_src})"
            + (f", {mid_d:g} points for deterioration" if mid_d != mid_i else "")
            + f"; {rule}, as clinicalsignificance's anchor-based approach."
        )
        rci = pd.Series(np.nan, index=x.index)
        ben = d * change
        improved = used & (ben >= mid_i)
        deteriorated = used & (ben <= -mid_d)
        if method == "combined" and cutoff is None:
            cutoff = "required"
        elif method == "combined" and isinstance(cutoff, str) and cutoff.lower() == "none":
            raise ConfigError(
                "The 'cutoff' parameter of clinical_significance(method='combined') must be 'a', "
                "'b', 'c', a number of points or None; the combined approach needs a cut-off "
                f"(method='anchor' has none). Got {cutoff!r} instead."
            )
    else:
        improved, deteriorated, rci, source = _rci(
            method,
            params,
            base,
            notes,
            inst=inst,
            x=x,
            y=y,
            xu=xu,
            yu=yu,
            used=used,
            n_used=n_used,
            d=d,
            reliability=reliability,
            reliability_post=reliability_post,
            sd=sd,
            threshold=threshold,
            clinical_mean=clinical_mean,
        )

    # cut-off
    ha = params.get("se_measurement") if method == "hageman-arrindell" else None
    ha_post = (params["reliability_post"], params["se_post"]) if ha is not None else None
    cut_value, cut_inclusive, cut_params, cut_notes = _cutoff(
        cutoff,
        inst,
        better_is,
        xu,
        clinical_mean,
        clinical_sd,
        functional_mean,
        functional_sd,
        cutoff_inclusive,
        ha_se=ha,
    )
    params.update(cut_params)
    notes.extend(cut_notes)

    group_level = None
    ep = _id_frame(df, by_cols)
    ep["pre"] = x
    ep["post"] = y
    ep["change"] = change
    if not anchor:
        ep["rci"] = rci.where(used)
    ep["reliable_improvement" if not anchor else "improvement"] = improved.astype("boolean").where(
        used, pd.NA
    )
    ep["reliable_deterioration" if not anchor else "deterioration"] = deteriorated.astype(
        "boolean"
    ).where(used, pd.NA)
    if cut_value is not None:
        clinical_pre, functional_post = _sides(x, y, cut_value, better_is, cut_inclusive)
        if ha_post is not None:
            # Hageman & Arrindell (1999): the endpoint's estimated true score must lie beyond the
            # cut-off by more than its standard error times the one-sided critical value.
            r2, se2 = ha_post
            m_post = params["mean_post"]
            cs = (m_post + (y - m_post) * r2 - cut_value) / (np.sqrt(r2) * se2)
            crit = params["rci_critical"]
            functional_post = d * cs > crit
            ep["cs_indiv"] = cs.where(y.notna())
            ep["clinical_post"] = (d * cs < -crit).astype("boolean").where(y.notna(), pd.NA)
            params["cs_critical"] = crit
            hk = {"d": d, "r_dd": params["r_dd"], "r2": r2, "cut": cut_value}
            used_np = used.to_numpy(bool)
            group_level = _ha_group_level(df, by_cols, used_np, xu, yu, **hk)
            whole = _ha_group_level(df, [], used_np, xu, yu, **hk)
            params["group_changed"] = float(whole["changed"].iloc[0])
            params["group_functional"] = float(whole["functional"].iloc[0])
            notes.append(
                "Hageman-Arrindell CS_indiv = (M_post + (post - M_post) r_post - cut-off) / "
                f"(sqrt(r_post) SE_post): functional at the endpoint when beyond {crit:.6g} "
                "towards the functional side (one-sided 5 %). Group level (Hageman & Arrindell "
                f"1999, as clinicalsignificance): {params['group_changed']:.1%} of the group "
                f"with true improvement, {params['group_functional']:.1%} with a true endpoint "
                "on the functional side" + (" (per group: .group_level)." if by_cols else ".")
            )
        recovered = improved & clinical_pre & functional_post
        # clinicalsignificance (create_summary_table.cs_combined): !clinical_pre & !functional_post
        harmed = deteriorated & ~clinical_pre & ~functional_post
        ep["clinical_pre"] = clinical_pre.astype("boolean").where(x.notna(), pd.NA)
        ep["functional_post"] = functional_post.astype("boolean").where(y.notna(), pd.NA)
    else:
        if harmed_category:
            raise ConfigError(
                f"{func}: harmed=True needs a cut-off (clinical/functional norms or cutoff=)."
            )
        recovered = pd.Series(False, index=x.index)
        harmed = pd.Series(False, index=x.index)
    categories = [*_JT_CATEGORIES, "harmed"] if harmed_category else list(_JT_CATEGORIES)
    code = {c: i for i, c in enumerate(categories)}
    conds = [~used, recovered, improved]
    codes = [-1, code["recovered"], code["improved"]]
    if harmed_category:
        conds.append(harmed)
        codes.append(code["harmed"])
    conds.append(deteriorated)
    codes.append(code["deteriorated"])
    cat_codes = np.select(
        [np.asarray(c, dtype=bool) for c in conds], codes, default=code["unchanged"]
    ).astype(np.int8)
    ep["category"] = pd.Categorical.from_codes(cat_codes, categories=categories)
    if cut_value is not None:
        ep["harmed"] = harmed.astype("boolean").where(used, pd.NA)

    outcomes = list(categories)
    flags = pd.DataFrame({o: cat_codes == code[o] for o in outcomes}, index=ep.index)
    what = "change beyond the MID" if anchor else "reliable improvement"
    if cut_value is None:
        outcomes.remove("recovered")
        if method != "anchor":
            notes.append(
                "No cut-off (no clinical/functional norms given or registered): 'recovered' is "
                f"not assessed; 'improved' counts every {what}."
            )
    elif harmed_category:
        notes.append(
            "Five categories as the R package clinicalsignificance's combined approach: 'harmed' "
            "(deterioration, baseline not on the clinical side and endpoint not on the "
            "functional side of the cut-off) is taken out of 'deteriorated'."
        )
    else:
        notes.append(
            f"Of the deteriorated, {int(harmed.sum()):,} moved from the functional to the clinical "
            "side of the cut-off ('harmed' column of .episodes; harmed=True reports it as a "
            "category)."
        )
    denom = pd.DataFrame({o: used.to_numpy() for o in outcomes}, index=ep.index)
    table = _rates_table(flags, denom, outcomes, by_cols, ep, ~used, ci_level)
    n_excl = int((~used).sum())
    if n_excl:
        notes.append(f"{n_excl:,} row(s) without both {pre!r} and {post!r} were excluded.")
    notes.append(
        f"Rates: count / n paired episodes; {ci_level:.0%} Wilson score intervals."
        + (
            " One threshold for all groups (from the whole sample)."
            if by_cols and not anchor
            else ""
        )
    )
    title = f"Clinical significance: {_METHOD_LABEL[method]}"
    if inst is not None:
        title += f", {inst.name}"
    return ClinicalSignificanceResult(
        table=table,
        title=title,
        method=_METHOD_LABEL[method] + f"; threshold source: {source}",
        params=params,
        notes=tuple(notes),
        episodes=ep,
        group_level=group_level,
    )


def _ha_group_level(df, by_cols, used, xu, yu, *, d, r_dd, r2, cut) -> pd.DataFrame:
    r"""Hageman & Arrindell's (1999) group-level shares, overall or per group.

    ``changed`` = :math:`\Phi(d\,\bar\Delta / (SD_\Delta\sqrt{r_{dd}}))`, the estimated share
    with a true change in the better direction; ``functional`` =
    :math:`\Phi(-d\,(c - M_{post}) / (SD_{post}\sqrt{r_{post}}))`, the share whose true
    endpoint lies beyond the cut-off. Group means and SDs, with the whole sample's
    :math:`r_{dd}` and :math:`r_{post}` (as clinicalsignificance).
    """
    work = pd.DataFrame({"change": (yu - xu).to_numpy(float), "post": yu.to_numpy(float)})
    for c in by_cols:
        work[c] = df[c].to_numpy()[used]
    if by_cols:
        g = work.groupby(by_cols[0] if len(by_cols) == 1 else by_cols, dropna=False, sort=True)
        agg = g.agg(
            n=("change", "size"),
            mean_change=("change", "mean"),
            sd_change=("change", "std"),
            mean_post=("post", "mean"),
            sd_post=("post", "std"),
        ).reset_index()
    else:
        agg = pd.DataFrame(
            {
                "n": [len(work)],
                "mean_change": [work["change"].mean()],
                "sd_change": [work["change"].std()],
                "mean_post": [work["post"].mean()],
                "sd_post": [work["post"].std()],
            }
        )
    agg["n"] = agg["n"].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["changed"] = stats.norm.cdf(d * agg["mean_change"] / (agg["sd_change"] * np.sqrt(r_dd)))
        agg["functional"] = stats.norm.cdf(
            -d * (cut - agg["mean_post"]) / (agg["sd_post"] * np.sqrt(r2))
        )
    return agg


def _rci(
    method,
    params,
    base,
    notes,
    *,
    inst,
    x,
    y,
    xu,
    yu,
    used,
    n_used,
    d,
    reliability,
    reliability_post,
    sd,
    threshold,
    clinical_mean,
):
    """Reliable change by one of the distribution approach's RCIs.

    Fills ``params`` and ``notes``; returns (improved, deteriorated, rci, threshold source).
    """
    func = "clinical_significance"
    fixed_points = None
    if threshold is None:
        threshold = "sample"
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        if not threshold > 0:
            raise ConfigError(
                f"The 'threshold' parameter of {func} must be 'sample', 'reference', 'fixed' or a "
                f"positive number of points. Got {threshold!r} instead."
            )
        fixed_points, source = float(threshold), "fixed"
        points_source = "user-supplied fixed threshold"
    elif threshold in ("sample", "reference", "fixed"):
        source = threshold
    else:
        raise ConfigError(
            f"The 'threshold' parameter of {func} must be 'sample', 'reference', 'fixed' or a "
            f"positive number of points. Got {threshold!r} instead."
        )
    if method in _SAMPLE_ONLY and source != "sample":
        raise ConfigError(
            f"{func}: {method} uses the sample's own pre and post means and SDs; it needs "
            f"threshold='sample'. Got threshold={threshold!r} instead."
        )
    if reliability_post is not None and method not in ("nunnally-kotsch", "hageman-arrindell"):
        raise ConfigError(
            f"{func}: reliability_post= applies to 'nunnally-kotsch' and 'hageman-arrindell' "
            f"only; {method} uses one reliability."
        )

    crit = z_crit(0.95)
    params.update(threshold_source=source, **base)

    if source == "fixed":
        if method != "jacobson-truax":
            raise ConfigError(
                f"{func}: threshold='fixed' applies to method='jacobson-truax' only; "
                f"{method} needs a reliability and SD (threshold='sample' or 'reference')."
            )
        if reliability is not None or sd is not None:
            raise ConfigError(
                f"{func}: reliability= and sd= are not used with a fixed threshold; drop them or "
                "use threshold='reference'."
            )
        if fixed_points is None:
            if inst is None or inst.reliable_change is None:
                raise ConfigError(
                    f"{func}: threshold='fixed' needs a published reliable-change threshold; "
                    f"{'no instrument was given' if inst is None else inst.name + ' has none'}. "
                    "Pass threshold=<points> or instrument='PHQ-9'."
                )
            fixed_points = float(inst.reliable_change)
            points_source = inst.reliable_change_source
        params.update(
            reliability=None,
            sd=None,
            threshold_points=fixed_points,
            threshold_rule=f"|change| >= {fixed_points:g} points",
        )
        notes.append(f"Fixed reliable-change threshold {fixed_points:g} points ({points_source}).")
        ben = d * (y - x)
        rci = pd.Series(np.nan, index=x.index)
        return used & (ben >= fixed_points), used & (ben <= -fixed_points), rci, source

    # reliability
    r_src = "user-supplied"
    if reliability is None:
        if inst is None or inst.reliability is None:
            raise ConfigError(
                f"{func}: no reliability. Pass reliability=<0..1> or an instrument with a "
                "published reliability (instrument='PHQ-9')."
            )
        reliability, r_src = inst.reliability, inst.reliability_source
    r = _reliability_value(reliability, "reliability")
    if source == "sample":
        if sd is not None:
            raise ConfigError(
                f"{func}: sd= is a reference SD; it is used with threshold='reference' only "
                "(threshold='sample' takes the SD of the sample's own baselines)."
            )
        if n_used < 2:
            raise DataError(f"{func}: threshold='sample' needs >= 2 paired episodes.")
        sd_used = float(xu.std(ddof=1))
        sd_src = f"SD of the {n_used:,} paired baselines (ddof=1)"
        m_pre = float(xu.mean())
        if n_used < 30:
            notes.append(
                f"The threshold rests on the SD of only {n_used} baselines and will move with "
                "the sample; threshold='reference' or 'fixed' gives a stable threshold."
            )
    else:  # reference
        if sd is None:
            if inst is None or inst.clinical_sd is None:
                raise ConfigError(
                    f"{func}: threshold='reference' needs a reference SD. Pass sd=<points> or "
                    "an instrument with a published clinical SD (instrument='PHQ-9')."
                )
            sd, sd_src = inst.clinical_sd, f"clinical SD ({inst.clinical_source})"
        else:
            sd_src = "user-supplied"
        m_pre = None
        if method != "jacobson-truax":
            m_pre = (
                clinical_mean
                if clinical_mean is not None
                else (inst.clinical_mean if inst is not None else None)
            )
            if m_pre is None:
                raise ConfigError(
                    f"{func}: {method} with threshold='reference' needs a reference mean; "
                    "pass clinical_mean=."
                )
            m_pre = float(m_pre)
        sd_used = float(sd)
    if not sd_used > 0:
        raise DataError(f"{func}: the SD used for the threshold is {sd_used!r}; need > 0.")
    params.update(reliability=r, sd=sd_used)
    notes.append(f"Reliability {r:g} ({r_src}); SD {sd_used:.4g} ({sd_src}).")

    change = y - x
    if method == "jacobson-truax":
        s_diff = sd_used * np.sqrt(2.0 * (1.0 - r))
        rci = change / s_diff
        params.update(
            s_diff=s_diff,
            rci_critical=crit,
            threshold_points=crit * s_diff,
            threshold_rule=f"|RCI| > {crit:.6g} (strict), i.e. |change| > {crit * s_diff:.4g} points",
        )
    elif method in ("gulliksen-lord-novick", "hsu-linn-lord"):
        se_pred = sd_used * np.sqrt(1.0 - r**2)
        m_post = m_pre if method == "gulliksen-lord-novick" else float(yu.mean())
        rci = ((y - m_post) - r * (x - m_pre)) / se_pred
        params.update(mean_pre=m_pre)
        if method == "hsu-linn-lord":
            params.update(mean_post=m_post)
        params.update(
            se_prediction=se_pred,
            rci_critical=crit,
            threshold_points=crit * se_pred,
            threshold_rule=(
                f"|RCI| > {crit:.6g}; RCI = "
                + (
                    "((post - M) - r(pre - M))"
                    if method == "gulliksen-lord-novick"
                    else "((post - M_post) - r(pre - M_pre))"
                )
                + f" / (SD sqrt(1 - r^2)), i.e. regression-adjusted change beyond "
                f"{crit * se_pred:.4g} points"
            ),
        )
    elif method == "edwards-nunnally":
        se_meas = sd_used * np.sqrt(1.0 - r)
        rci = (y - (r * (x - m_pre) + m_pre)) / se_meas
        params.update(
            mean_pre=m_pre,
            se_measurement=se_meas,
            rci_critical=crit,
            threshold_points=crit * se_meas,
            threshold_rule=(
                f"post outside the estimated true pre score +/- {crit:.6g} SEm "
                f"(+/- {crit * se_meas:.4g} points)"
            ),
        )
    elif method == "nunnally-kotsch":
        if reliability_post is None:
            r2 = r
            notes.append(
                "reliability_post not given: the post reliability was set to the pre "
                "reliability (as clinicalsignificance does)."
            )
        else:
            r2 = _reliability_value(reliability_post, "reliability_post")
        se_nk = np.sqrt(r**2 * sd_used**2 * (1.0 - r) + sd_used**2 * (1.0 - r2))
        rci = (y - (r * (x - m_pre) + m_pre)) / se_nk
        params.update(
            mean_pre=m_pre,
            reliability_post=r2,
            se_change=se_nk,
            rci_critical=crit,
            threshold_points=crit * se_nk,
            threshold_rule=(
                f"|RCI| > {crit:.6g}; RCI = (post - [r(pre - M) + M]) / "
                "sqrt(r^2 SD^2 (1 - r) + SD^2 (1 - r_post)), i.e. post beyond the estimated "
                f"true pre score by more than {crit * se_nk:.4g} points"
            ),
        )
    else:  # hageman-arrindell
        crit = float(stats.norm.ppf(0.95))  # one-sided, as Hageman & Arrindell (1999)
        if n_used < 3:
            raise DataError(f"{func}: hageman-arrindell needs >= 3 paired episodes.")
        m_post = float(yu.mean())
        sd_post = float(yu.std(ddof=1))
        r12 = float(np.corrcoef(xu.to_numpy(float), yu.to_numpy(float))[0, 1])
        se = sd_used * np.sqrt(1.0 - r)
        if reliability_post is None:
            r2 = (sd_post**2 - se**2) / sd_post**2 if sd_post > 0 else np.nan
            r2_src = "derived as (SD_post^2 - SEm^2) / SD_post^2 (SEm constant over time)"
        else:
            r2 = _reliability_value(reliability_post, "reliability_post")
            r2_src = "user-supplied"
        if not (np.isfinite(r2) and r2 > 0):
            raise DataError(
                f"{func}: the post reliability for hageman-arrindell is {r2!r} (the SD of the "
                "endpoints is not larger than the standard error of measurement); need > 0. "
                "Pass reliability_post=."
            )
        se2 = sd_post * np.sqrt(1.0 - r2)
        num = sd_used**2 * r + sd_post**2 * r2 - 2 * sd_used * sd_post * r12
        den = sd_used**2 + sd_post**2 - 2 * sd_used * sd_post * r12
        r_dd = num / den if den > 0 else np.nan
        if not (np.isfinite(r_dd) and r_dd > 0):
            raise DataError(
                f"{func}: the reliability of the difference scores (r_dd) is {r_dd!r}; "
                "hageman-arrindell needs r_dd > 0 (change must vary more than measurement error)."
            )
        denom = np.sqrt(r_dd) * np.sqrt(se**2 + se2**2)
        rci = (change * r_dd + (m_post - m_pre) * (1.0 - r_dd)) / denom
        centre = -(m_post - m_pre) * (1.0 - r_dd) / r_dd
        params.update(
            mean_pre=m_pre,
            mean_post=m_post,
            sd_post=sd_post,
            r_pre_post=r12,
            reliability_post=float(r2),
            se_measurement=float(se),
            se_post=float(se2),
            r_dd=float(r_dd),
            rci_critical=crit,
            change_centre=float(centre),
            threshold_points=float(crit * denom / r_dd),
            threshold_rule=(
                f"|RC_indiv| > {crit:.6g} (one-sided 5 % each way); RC_indiv = [(post - pre) r_dd "
                "+ (M_post - M_pre)(1 - r_dd)] / (sqrt(r_dd) sqrt(SEm_pre^2 + SEm_post^2)), i.e. "
                f"change beyond {centre:.4g} +/- {crit * denom / r_dd:.4g} points"
            ),
        )
        notes.append(
            f"Hageman-Arrindell: r_xx pre {r:g}, post {r2:.4g} ({r2_src}); pre-post r = "
            f"{r12:.4g}; r_dd = {r_dd:.4g}; critical value {crit:.6g} (one-sided 5 %)."
        )
    improved = used & (d * rci > crit)
    deteriorated = used & (d * rci < -crit)
    return improved, deteriorated, rci, source


def _side_rule(value: float, better_is: str, inclusive: bool) -> str:
    """The cut-off rule in words, e.g. ``'clinical: score >= 10; functional: score < 10'``."""
    if better_is == "lower":
        return (
            f"clinical: score >= {value:.4g}; functional: score < {value:.4g}"
            if inclusive
            else f"clinical: score > {value:.4g}; functional: score < {value:.4g}"
        )
    return (
        f"clinical: score <= {value:.4g}; functional: score > {value:.4g}"
        if inclusive
        else f"clinical: score < {value:.4g}; functional: score > {value:.4g}"
    )


def _sides(x: pd.Series, y: pd.Series, cut: float, better_is: str, inclusive: bool):
    """(baseline on the clinical side, endpoint on the functional side) of the cut-off.

    Strict (``inclusive=False``): a score exactly at the cut-off is on neither side.
    Inclusive: a score at the cut-off is clinical (a caseness threshold "10 or more").
    """
    if better_is == "lower":
        return (x >= cut if inclusive else x > cut), y < cut
    return (x <= cut if inclusive else x < cut), y > cut


def _check_inclusive(cutoff_inclusive, func: str) -> None:
    if cutoff_inclusive is not None and not isinstance(cutoff_inclusive, (bool, np.bool_)):
        raise ConfigError(
            f"The 'cutoff_inclusive' parameter of {func} must be True, False or None. "
            f"Got {cutoff_inclusive!r} instead."
        )


def _cutoff(cutoff, inst, better_is, xu, cm, csd, fm, fsd, inclusive=None, ha_se=None):
    """Resolve the clinical cut-off. Returns (value or None, inclusive, params, notes).

    ``inclusive=None`` chooses the documented default: a user-supplied number is a caseness
    threshold (a score at the cut-off is clinical); computed cut-offs a, b, c are strict.
    ``cutoff="required"``: as ``None``, but falls back to cut-off a from the sample's baselines
    when no norms are known (clinicalsignificance's default for its statistical and combined
    approaches). ``ha_se``: the standard error of measurement for Hageman & Arrindell's (1999)
    true-score cut-offs.
    """
    notes: list[str] = []
    required = isinstance(cutoff, str) and cutoff == "required"
    if required:
        cutoff = None
    if isinstance(cutoff, str) and cutoff.lower() == "none":
        return None, None, {"cutoff": None}, notes
    if isinstance(cutoff, (int, float, np.integer, np.floating)) and not isinstance(
        cutoff, (bool, np.bool_)
    ):
        value = float(cutoff)
        if not np.isfinite(value):
            raise ConfigError(
                "The 'cutoff' parameter of clinical_significance must be 'a', 'b', 'c', 'none', "
                f"a finite number of points, or None (best available). Got {cutoff!r} instead."
            )
        inc = True if inclusive is None else bool(inclusive)
        rule = _side_rule(value, better_is, inc)
        how = (
            "a caseness threshold: a score at the cut-off counts as clinical"
            if inc
            else "strict: a score exactly at the cut-off is on neither side"
        )
        default = " (default for a user-supplied cut-off)" if inclusive is None else ""
        return (
            value,
            inc,
            {
                "cutoff": "user-supplied",
                "cutoff_value": value,
                "cutoff_inclusive": inc,
                "cutoff_rule": rule,
            },
            [f"Cut-off {value:g} points (user-supplied), {how}{default}: {rule}."],
        )
    if cutoff not in (None, "a", "b", "c"):
        raise ConfigError(
            "The 'cutoff' parameter of clinical_significance must be 'a', 'b', 'c', 'none', a "
            f"number of points, or None (best available). Got {cutoff!r} instead."
        )
    c_src = f_src = "user-supplied"
    if cm is None and inst is not None and inst.clinical_mean is not None:
        cm, c_src = inst.clinical_mean, inst.clinical_source
    if csd is None and inst is not None and inst.clinical_sd is not None:
        csd = inst.clinical_sd
    if fm is None and inst is not None and inst.norm_mean is not None:
        fm, f_src = inst.norm_mean, inst.norm_source
    if fsd is None and inst is not None and inst.norm_sd is not None:
        fsd = inst.norm_sd
    have_c = cm is not None and csd is not None
    have_f = fm is not None and fsd is not None
    if cutoff is None:
        if have_c and have_f:
            cutoff = "c"
        elif have_c or required:
            cutoff = "a"
        else:
            return None, None, {"cutoff": None}, notes
    if cutoff in ("a", "c") and not have_c:
        cm, csd = float(xu.mean()), float(xu.std(ddof=1))
        c_src = "the sample's baselines (no clinical norms given)"
    if cutoff in ("b", "c") and not have_f:
        raise ConfigError(
            f"clinical_significance: cut-off {cutoff!r} needs functional (general-population) "
            "norms: pass functional_mean= and functional_sd=, or use an instrument that has them."
        )
    sign = -1.0 if better_is == "lower" else 1.0  # towards the functional side
    ha_params: dict[str, float] = {}
    if ha_se is not None:
        # Hageman & Arrindell (1999): cut-offs between true-score distributions, SD * sqrt(r),
        # each population's reliability derived from one standard error of measurement.
        sc = sf = None
        if cutoff in ("a", "c"):
            r_c = 1.0 - ha_se**2 / csd**2
            if not r_c > 0:
                raise DataError(
                    "clinical_significance: the clinical SD is not larger than the standard "
                    "error of measurement; no true-score cut-off (Hageman-Arrindell)."
                )
            sc = csd * np.sqrt(r_c)
            ha_params["reliability_clinical"] = float(r_c)
        if cutoff in ("b", "c"):
            r_f = 1.0 - ha_se**2 / fsd**2
            if not r_f > 0:
                raise DataError(
                    "clinical_significance: the functional SD is not larger than the standard "
                    "error of measurement; no true-score cut-off (Hageman-Arrindell)."
                )
            sf = fsd * np.sqrt(r_f)
            ha_params["reliability_functional"] = float(r_f)
        if cutoff == "a":
            value = cm + sign * 2 * sc
            formula = f"a_true = M_clin {'-' if sign < 0 else '+'} 2 SD_clin sqrt(r_clin)"
        elif cutoff == "b":
            value = fm - sign * 2 * sf
            formula = f"b_true = M_func {'+' if sign < 0 else '-'} 2 SD_func sqrt(r_func)"
        else:
            value = (sc * fm + sf * cm) / (sc + sf)
            formula = (
                "c_true = (SD_clin sqrt(r_clin) M_func + SD_func sqrt(r_func) M_clin) / "
                "(SD_clin sqrt(r_clin) + SD_func sqrt(r_func))"
            )
        formula += ", r = 1 - SEm^2 / SD^2 (Hageman & Arrindell 1999)"
    elif cutoff == "a":
        value = cm + sign * 2 * csd
        formula = "a = M_clin - 2 SD_clin" if sign < 0 else "a = M_clin + 2 SD_clin"
    elif cutoff == "b":
        value = fm - sign * 2 * fsd
        formula = "b = M_func + 2 SD_func" if sign < 0 else "b = M_func - 2 SD_func"
    else:
        value = (csd * fm + fsd * cm) / (csd + fsd)
        formula = "c = (SD_clin M_func + SD_func M_clin) / (SD_clin + SD_func)"
    inc = False if inclusive is None else bool(inclusive)
    params = {
        "cutoff": cutoff,
        "cutoff_value": float(value),
        "cutoff_inclusive": inc,
        "cutoff_rule": _side_rule(float(value), better_is, inc),
    }
    if cutoff in ("a", "c"):
        params.update(clinical_mean=float(cm), clinical_sd=float(csd))
        notes.append(f"Clinical norms M = {cm:g}, SD = {csd:g} ({c_src}).")
    if cutoff in ("b", "c"):
        params.update(functional_mean=float(fm), functional_sd=float(fsd))
        notes.append(f"Functional norms M = {fm:g}, SD = {fsd:g} ({f_src}).")
    params.update(ha_params)
    notes.append(
        f"Cut-off {cutoff}: {formula} = {value:.4g} points; "
        + (
            "a score exactly at the cut-off is on neither side (strict, as the R package "
            "clinicalsignificance)."
            if not inc
            else "a score at the cut-off counts as clinical (cutoff_inclusive=True)."
        )
    )
    return float(value), inc, params, notes


# --------------------------------------------------------------------------- statistical, percentage

_THREE = ["improved", "unchanged", "deteriorated"]


def _three_categories(
    df,
    *,
    method,
    ep,
    used,
    improved,
    deteriorated,
    by_cols,
    ci_level,
    params,
    notes,
    inst,
    pre,
    post,
):
    """Improved / unchanged / deteriorated table and per-episode category (no 'recovered')."""
    code = {c: i for i, c in enumerate(_THREE)}
    cat_codes = np.select(
        [np.asarray(c, dtype=bool) for c in (~used, improved, deteriorated)],
        [-1, code["improved"], code["deteriorated"]],
        default=code["unchanged"],
    ).astype(np.int8)
    ep["category"] = pd.Categorical.from_codes(cat_codes, categories=_THREE)
    flags = pd.DataFrame({o: cat_codes == code[o] for o in _THREE}, index=ep.index)
    denom = pd.DataFrame({o: used.to_numpy() for o in _THREE}, index=ep.index)
    table = _rates_table(flags, denom, _THREE, by_cols, ep, ~used, ci_level)
    n_excl = int((~used).sum())
    if n_excl:
        notes.append(f"{n_excl:,} row(s) without both {pre!r} and {post!r} were excluded.")
    notes.append(f"Rates: count / n paired episodes; {ci_level:.0%} Wilson score intervals.")
    title = f"Clinical significance: {_METHOD_LABEL[method]}"
    if inst is not None:
        title += f", {inst.name}"
    return ClinicalSignificanceResult(
        table=table,
        title=title,
        method=_METHOD_LABEL[method],
        params=params,
        notes=tuple(notes),
        episodes=ep,
    )


def _statistical(
    df,
    *,
    instrument,
    cutoff,
    by,
    ci_level,
    pre,
    post,
    better_is,
    clinical_mean,
    clinical_sd,
    functional_mean,
    functional_sd,
    cutoff_inclusive,
):
    df, inst, notes, by_cols, x, y, used, better_is, base = _prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    params: dict[str, Any] = {"method": "statistical", "threshold_source": None, **base}
    params.update(reliability=None, sd=None)
    cut_value, inc, cut_params, cut_notes = _cutoff(
        "required" if cutoff is None else cutoff,
        inst,
        better_is,
        x[used],
        clinical_mean,
        clinical_sd,
        functional_mean,
        functional_sd,
        cutoff_inclusive,
    )
    if cut_value is None:
        raise ConfigError(
            "The 'cutoff' parameter of clinical_significance(method='statistical') must be 'a', "
            "'b', 'c', a number of points or None; the statistical approach needs a cut-off. "
            f"Got {cutoff!r} instead."
        )
    params.update(cut_params)
    notes.extend(cut_notes)
    clinical_pre, functional_post = _sides(x, y, cut_value, better_is, inc)
    improved = used & clinical_pre & functional_post
    deteriorated = used & ~clinical_pre & ~functional_post
    params["rule"] = (
        "improved: clinical at baseline and functional at endpoint; deteriorated: not clinical "
        "at baseline and not functional at endpoint; no reliable change index"
    )
    notes.append(
        "Statistical approach (clinicalsignificance's cs_statistical): improved = moved from the "
        "clinical to the functional side of the cut-off; deteriorated = baseline not clinical and "
        "endpoint not functional; the size of the change is not tested (no RCI)."
    )
    ep = _id_frame(df, by_cols)
    ep["pre"], ep["post"], ep["change"] = x, y, y - x
    ep["clinical_pre"] = clinical_pre.astype("boolean").where(x.notna(), pd.NA)
    ep["functional_post"] = functional_post.astype("boolean").where(y.notna(), pd.NA)
    return _three_categories(
        df,
        method="statistical",
        ep=ep,
        used=used,
        improved=improved,
        deteriorated=deteriorated,
        by_cols=by_cols,
        ci_level=ci_level,
        params=params,
        notes=notes,
        inst=inst,
        pre=pre,
        post=post,
    )


def _percentage(
    df, *, instrument, by, ci_level, pre, post, better_is, pct_improvement, pct_deterioration
):
    func = "clinical_significance"
    df, inst, notes, by_cols, x, y, used, better_is, base = _prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    p_imp = 0.5 if pct_improvement is None else _positive(pct_improvement, "pct_improvement")
    if p_imp > 1:
        raise ConfigError(
            f"The 'pct_improvement' parameter of {func} must be a fraction in (0, 1] (0.5 = 50 %). "
            f"Got {pct_improvement!r} instead."
        )
    p_det = (
        p_imp if pct_deterioration is None else _positive(pct_deterioration, "pct_deterioration")
    )
    neg = used & (x < 0)
    if neg.any():
        raise DataError(
            f"{func}: percentage change needs baselines >= 0; {int(neg.sum()):,} row(s) have a "
            f"negative {pre!r} (e.g. at row {neg[neg].index[0]!r})."
        )
    d = -1.0 if better_is == "lower" else 1.0
    change = y - x
    zero = used & (x == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (change / x).where(used & ~zero)
    ben = d * pct
    # baseline 0: no percentage exists; any change in the worse direction is deterioration,
    # any change in the better direction improvement (an unbounded relative change), none unchanged
    improved = used & ((~zero & (ben >= p_imp)) | (zero & (d * change > 0)))
    deteriorated = used & ((~zero & (ben <= -p_det)) | (zero & (d * change < 0)))
    dword, wword = ("decrease", "increase") if d < 0 else ("increase", "decrease")
    params: dict[str, Any] = {"method": "percentage", "threshold_source": None, **base}
    params.update(
        reliability=None,
        sd=None,
        pct_improvement=p_imp,
        pct_deterioration=p_det,
        threshold_rule=(
            f"improved: {dword} >= {p_imp:.0%} of baseline; deteriorated: {wword} >= "
            f"{p_det:.0%} of baseline (inclusive); baseline 0: any {wword} is deteriorated, any "
            f"{dword} improved"
        ),
        n_baseline_zero=int(zero.sum()),
    )
    notes.append(
        f"Percentage change = (endpoint - baseline) / baseline; improved when the {dword} is at "
        f"least {p_imp:.0%}, deteriorated when the {wword} is at least {p_det:.0%} (inclusive, "
        "as clinicalsignificance's cs_percentage)."
    )
    notes.append(
        f"Baseline 0 ({int(zero.sum()):,} episode(s)): no percentage exists (pct_change is "
        f"missing); an {wword} from 0 is counted as deteriorated, a {dword} as improved, no "
        "change as unchanged. (clinicalsignificance counts an increase from 0 as both improved "
        "and deteriorated when lower is better.)"
    )
    ep = _id_frame(df, by_cols)
    ep["pre"], ep["post"], ep["change"] = x, y, change
    ep["pct_change"] = pct
    return _three_categories(
        df,
        method="percentage",
        ep=ep,
        used=used,
        improved=improved,
        deteriorated=deteriorated,
        by_cols=by_cols,
        ci_level=ci_level,
        params=params,
        notes=notes,
        inst=inst,
        pre=pre,
        post=post,
    )


# --------------------------------------------------------------------------- anchor, groups


@dataclass(frozen=True, repr=False, eq=False)
class GroupAnchorResult(TableResult):
    """Result of ``clinical_significance(..., method="anchor", target="group")``.

    Attributes
    ----------
    table : DataFrame
        Within groups (one row per group, or one row): mean change ``estimate`` (endpoint −
        baseline, points), ``se``, ``ci_low``, ``ci_high`` (paired t interval), ``ci_level``,
        ``statistic`` (t), ``df``, ``pvalue``, ``n``, ``mid``, ``beneficial`` (estimate in the
        better direction) and ``category``.
    between : DataFrame or None
        Between groups (with ``by=`` naming one column): each group against the reference
        group on the endpoint score: ``reference``, ``comparison``, ``estimate`` (comparison
        mean − reference mean), ``se``, ``ci_low``, ``ci_high`` (Welch t interval),
        ``ci_level``, ``statistic``, ``df``, ``pvalue``, ``n_reference``, ``n_comparison``,
        ``mid``, ``beneficial`` (the comparison group scores better), ``category``.
    method, params, notes
        What produced the numbers.
    """

    between: pd.DataFrame | None = None

    def summary(self) -> str:
        text = super().summary()
        if self.between is not None:
            text += "\n\nBetween groups (endpoint scores)\n" + format_table(
                self.between, self.digits
            ).to_string(index=False)
        return text

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if self.between is None:
            return html
        table = format_table(self.between, self.digits).to_html(
            index=False, border=0, classes="iop-table"
        )
        return html + f"<div><p><strong>Between groups (endpoint scores)</strong></p>{table}</div>"


def _mid_category(est, lo, hi, mid, d, better_is):
    """clinicalsignificance's group categories, in the direction of benefit.

    ``B = d * est`` and its interval; MID ``mid`` > 0 points.
    """
    b, blo, bhi = d * est, min(d * lo, d * hi), max(d * lo, d * hi)
    if blo <= 0 <= bhi:
        return "statistically not significant"
    if bhi < mid:
        return "statistically significant but not clinically relevant"
    if blo > mid:
        return "large clinically significant effect"
    if b > mid:
        return "probably clinically significant effect"
    return (
        "not significantly less than the threshold"
        if better_is == "lower"
        else "not significantly greater than the threshold"
    )


def _t_row(values, ci_level):
    v = np.asarray(values, dtype=float)
    n = len(v)
    est = float(v.mean()) if n else np.nan
    if n < 2:
        return est, np.nan, np.nan, np.nan, np.nan, float(n - 1), np.nan, n
    se = float(v.std(ddof=1) / np.sqrt(n))
    df_ = float(n - 1)
    tq = float(stats.t.ppf(0.5 + ci_level / 2, df_))
    t = est / se if se > 0 else np.nan
    p = float(2 * stats.t.sf(abs(t), df_)) if se > 0 else np.nan
    return est, se, est - tq * se, est + tq * se, t, df_, p, n


def _welch_row(a, b, ci_level):
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    est = float(a.mean() - b.mean()) if na and nb else np.nan
    if na < 2 or nb < 2:
        return est, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se = float(np.sqrt(va + vb))
    df_ = float((va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1)))
    tq = float(stats.t.ppf(0.5 + ci_level / 2, df_))
    t = est / se if se > 0 else np.nan
    p = float(2 * stats.t.sf(abs(t), df_)) if se > 0 else np.nan
    return est, se, est - tq * se, est + tq * se, t, df_, p


def _anchor_group(
    df,
    *,
    instrument,
    by,
    ci_level,
    pre,
    post,
    better_is,
    mid,
    mid_deterioration,
    threshold,
    reference_group,
):
    func = "clinical_significance"
    df, inst, notes, by_cols, x, y, used, better_is, base = _prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    if mid_deterioration is not None:
        raise ConfigError(
            f"{func}: mid_deterioration= applies to target='individual'; the group-level "
            "anchor approach compares the mean change with mid= alone."
        )
    mid_i, _, mid_src = _resolve_mid(mid, None, threshold, inst)
    d = -1.0 if better_is == "lower" else 1.0
    change = (y - x)[used].to_numpy(float)
    rows = []
    if by_cols:
        keys = df.loc[used, by_cols].reset_index(drop=True)
        grouper = by_cols[0] if len(by_cols) == 1 else by_cols
        for key, pos in keys.groupby(grouper, dropna=False, sort=True).indices.items():
            key = key if isinstance(key, tuple) else (key,)
            rows.append((key, change[pos]))
    else:
        rows.append(((), change))
    recs = []
    for key, vals in rows:
        est, se, lo, hi, t, df_, p, n = _t_row(vals, ci_level)
        cat = _mid_category(est, lo, hi, mid_i, d, better_is) if np.isfinite(se) else None
        recs.append(
            {
                **dict(zip(by_cols, key, strict=True)),
                "estimate": est,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "ci_level": float(ci_level),
                "statistic": t,
                "df": df_,
                "pvalue": p,
                "n": int(n),
                "mid": mid_i,
                "beneficial": bool(d * est > 0),
                "category": cat,
            }
        )
    within = pd.DataFrame(recs)
    between = None
    if by_cols and reference_group is not None and len(by_cols) != 1:
        raise ConfigError(
            f"{func}: reference_group= needs by= to name one column; got by={by_cols!r}."
        )
    if len(by_cols) == 1:
        g = by_cols[0]
        has_post = y.notna() & df[g].notna()
        groups = sorted(pd.unique(df.loc[has_post, g]).tolist(), key=str)
        if reference_group is None:
            ref = groups[0] if groups else None
        elif reference_group in groups:
            ref = reference_group
        else:
            raise ConfigError(
                f"The 'reference_group' parameter of {func} must be one of {groups}. "
                f"Got {reference_group!r} instead."
            )
        brecs = []
        yv, gv, hp = y.to_numpy(float), df[g].to_numpy(), has_post.to_numpy(bool)
        b = yv[hp & (gv == ref)]
        for comp in groups:
            if comp == ref:
                continue
            a = yv[hp & (gv == comp)]
            est, se, lo, hi, t, df_, p = _welch_row(a, b, ci_level)
            cat = _mid_category(est, lo, hi, mid_i, d, better_is) if np.isfinite(se) else None
            brecs.append(
                {
                    "reference": ref,
                    "comparison": comp,
                    "estimate": est,
                    "se": se,
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_level": float(ci_level),
                    "statistic": t,
                    "df": df_,
                    "pvalue": p,
                    "n_reference": len(b),
                    "n_comparison": len(a),
                    "mid": mid_i,
                    "beneficial": bool(d * est > 0),
                    "category": cat,
                }
            )
        between = pd.DataFrame(brecs) if brecs else None
        if between is not None:
            notes.append(
                f"Between groups: each {g} against the reference {ref!r} on the endpoint score "
                f"({post!r}; every row with an endpoint, as clinicalsignificance's "
                "effect = 'between'), Welch t interval; estimate = comparison - reference."
            )
    elif by_cols:
        notes.append("Between-group comparisons need by= to name one column; none were made.")
    params: dict[str, Any] = {
        "method": "anchor",
        "target": "group",
        "threshold_source": "anchor",
        **base,
        "reliability": None,
        "sd": None,
        "mid_improvement": mid_i,
        "ci_method": "paired t (within), Welch t (between)",
    }
    if between is not None:
        params["reference_group"] = between["reference"].iloc[0]
    lower = better_is == "lower"
    notes.append(
        f"Minimal important difference {mid_i:g} points ({mid_src}). Within groups: mean change "
        f"(endpoint - baseline) of the paired episodes with its {ci_level:.0%} paired t interval "
        "(clinicalsignificance cs_anchor(target = 'group', bayesian = FALSE))."
    )
    notes.append(
        "Categories (in the better direction, B = mean benefit, interval [L, U]): interval "
        "covering 0 -> statistically not significant; U < MID -> statistically significant but "
        "not clinically relevant (also when significant in the worse direction: see "
        "'beneficial'); L > MID -> large clinically significant effect; B > MID -> probably "
        "clinically significant effect; otherwise not significantly "
        + ("less" if lower else "greater")
        + " than the threshold. (clinicalsignificance skips the 'not significant' rule when "
        "higher is better.)"
    )
    n_excl = int((~used).sum())
    if n_excl:
        notes.append(f"{n_excl:,} row(s) without both {pre!r} and {post!r} left out of within.")
    title = "Clinical significance: anchor-based approach, group level"
    if inst is not None:
        title += f", {inst.name}"
    return GroupAnchorResult(
        table=within,
        title=title,
        method=_METHOD_LABEL["anchor"] + "; target: group",
        params=params,
        notes=tuple(notes),
        digits=3,
        between=between,
    )


# --------------------------------------------------------------------------- NHS Talking Therapies


def _nhs(df, *, instrument, by, ci_level, pre, post):
    func = "clinical_significance(method='nhs-talking-therapies')"
    _check_columns(df, [pre, post], func)
    notes: list[str] = []
    joint = False
    if "instrument" in df.columns and instrument is None:
        canon = _canon(df["instrument"])
        present = set(canon.dropna().unique())
        if {"PHQ-9", "GAD-7"} <= present:
            joint = True
            if "episode_id" not in df.columns:
                raise DataError(
                    f"{func}: the table holds PHQ-9 and GAD-7 rows but no 'episode_id' column to "
                    "pair them by. Add episode_id, or pass instrument= to use one measure."
                )
            other = ~canon.isin(["PHQ-9", "GAD-7"])
            if other.any():
                notes.append(
                    f"{int(other.sum()):,} row(s) of other instruments "
                    f"({sorted(map(str, df.loc[other, 'instrument'].dropna().unique()))}) were "
                    "left out (the joint rules use PHQ-9 and GAD-7)."
                )
            df = df.loc[~other].assign(__inst=canon[~other])
    by_cols = _by_list(by, df)

    if joint:
        measures = [_instruments.get("PHQ-9"), _instruments.get("GAD-7")]
        # pair rows by episode with integer codes (first-appearance order), no reshaping
        codes, uniq = pd.factorize(df["episode_id"])
        if (codes < 0).any():
            raise DataError(f"{func}: {int((codes < 0).sum()):,} row(s) have no episode_id.")
        n_ep = len(uniq)
        mcode = (df["__inst"].to_numpy() == "GAD-7").astype(np.int64)
        key = codes.astype(np.int64) * 2 + mcode
        dup = np.bincount(key, minlength=2 * n_ep)[key] > 1
        if dup.any():
            ex = df.loc[dup, ["episode_id", "__inst"]].drop_duplicates().head(3)
            raise DataError(
                f"{func}: {int(dup.sum()):,} rows repeat an (episode_id, instrument) pair, e.g. "
                f"{ex.to_records(index=False).tolist()}. Give one row per episode and instrument."
            )
        pos = np.full((n_ep, 2), -1, dtype=np.int64)
        pos[codes, mcode] = np.arange(len(df))
        ep_index = pd.Index(uniq, name="episode_id")

        def per_episode(col: str, how: str = "first") -> pd.Series:
            """The PHQ-9 row's value, else the GAD-7 row's ('max': the larger of the two)."""
            vals = []
            for j in (0, 1):
                pj = pos[:, j]
                v = df[col].iloc[np.where(pj >= 0, pj, 0)].reset_index(drop=True)
                vals.append(v.where(pd.Series(pj >= 0)))
            if how == "max":
                a = pd.to_numeric(vals[0], errors="coerce").to_numpy(float)
                b = pd.to_numeric(vals[1], errors="coerce").to_numpy(float)
                return pd.Series(np.fmax(a, b), index=ep_index)
            out = vals[0].combine_first(vals[1])
            out.index = ep_index
            return out

        ep = pd.DataFrame(index=ep_index)
        if "patient_id" in df.columns:
            ep["patient_id"] = per_episode("patient_id")
        for c in by_cols:
            ep[c] = per_episode(c)
        x_all, y_all = _numeric(df, pre).to_numpy(), _numeric(df, post).to_numpy()
        first, last = {}, {}
        for j, m in enumerate(measures):
            pj = pos[:, j]
            ok = pj >= 0
            first[m.name] = pd.Series(np.where(ok, x_all[np.where(ok, pj, 0)], np.nan), ep_index)
            last[m.name] = pd.Series(np.where(ok, y_all[np.where(ok, pj, 0)], np.nan), ep_index)
        sessions = (
            per_episode("sessions_attended", "max") if "sessions_attended" in df.columns else None
        )
        n_treat = per_episode("n_in_treatment", "max") if "n_in_treatment" in df.columns else None
        status = per_episode("discharge_status") if "discharge_status" in df.columns else None
    else:
        df, inst, inst_notes = _resolve_single_instrument(df, instrument, func)
        notes.extend(inst_notes)
        if inst is None:
            raise ConfigError(
                f"{func}: name the measure: pass instrument='PHQ-9' (or 'GAD-7'), or give a table "
                "with an 'instrument' column holding PHQ-9 and GAD-7 rows for the joint rules."
            )
        measures = [inst]
        ep = _id_frame(df, by_cols)
        first = {inst.name: _numeric(df, pre)}
        last = {inst.name: _numeric(df, post)}
        sessions = df["sessions_attended"] if "sessions_attended" in df.columns else None
        n_treat = df["n_in_treatment"] if "n_in_treatment" in df.columns else None
        status = df["discharge_status"] if "discharge_status" in df.columns else None

    for m in measures:
        if m.better_is != "lower" or m.caseness_cutoff is None or m.reliable_change is None:
            raise ConfigError(
                f"{func}: {m.name} lacks what the NHS definitions need (lower-is-better scoring, "
                "a caseness cut-off and a reliable-change threshold)."
            )
        if not joint and m.name not in ("PHQ-9", "GAD-7"):
            notes.append(
                f"{m.name} is not an NHS Talking Therapies measure; its own caseness cut-off "
                f"({m.caseness_cutoff:g}) and reliable-change threshold ({m.reliable_change:g}) "
                "were used in the NHS rules."
            )

    idx = ep.index
    any_paired = pd.Series(False, index=idx)
    caseness = pd.Series(False, index=idx)
    improve = pd.Series(False, index=idx)
    deter = pd.Series(False, index=idx)
    below_all = pd.Series(True, index=idx)
    paired_by = {}
    for m in measures:
        f = pd.Series(first[m.name], index=idx, dtype=float)
        la = pd.Series(last[m.name], index=idx, dtype=float)
        s = _slug(m.name)
        ep[f"{s}_first"] = f
        ep[f"{s}_last"] = la
        ok = f.notna() & la.notna()
        paired_by[m.name] = ok
        any_paired |= ok
        caseness |= ok & (f >= m.caseness_cutoff)
        improve |= ok & ((f - la) >= m.reliable_change)
        deter |= ok & ((la - f) >= m.reliable_change)
        below_all &= ~ok | (la < m.caseness_cutoff)
    if len(measures) == 2:
        p, a = paired_by["PHQ-9"], paired_by["GAD-7"]
        used_lab = _labels([p & a, p, a], ["PHQ-9+GAD-7", "PHQ-9 only", "GAD-7 only"])
    else:
        used_lab = _labels([any_paired], [f"{measures[0].name} only"])
    ep["measures_used"] = used_lab

    # finished course
    finished = pd.Series(True, index=idx)
    by_sessions = by_count = ongoing = pd.Series(False, index=idx)
    if sessions is not None:
        sa = pd.to_numeric(pd.Series(sessions, index=idx), errors="coerce")
        by_sessions = sa.notna()
        finished = finished.where(~by_sessions, sa >= 2)
    if n_treat is not None:
        nt = pd.to_numeric(pd.Series(n_treat, index=idx), errors="coerce")
        by_count = nt.notna() & ~by_sessions
        finished = finished.where(~by_count, nt >= 2)
    if status is not None:
        st = pd.Series(status, index=idx)
        low = {u: str(u).strip().lower() == "ongoing" for u in pd.unique(st.dropna())}
        ongoing = st.map(low).fillna(False).astype(bool)
        finished &= ~ongoing
    ep["finished_course"] = finished.astype(bool)
    ep["finished_rule"] = _labels(
        [ongoing, by_sessions, by_count],
        [
            "ongoing (not ended)",
            "sessions_attended >= 2",
            "n_in_treatment >= 2 (attendance not recorded)",
        ],
        default="paired scores (attendance not recorded)",
    )
    counted = finished & any_paired

    rd = counted & deter
    ri = counted & improve & ~deter
    nc = counted & ~ri & ~rd
    case = counted & caseness
    not_case = counted & ~caseness
    rec = case & below_all
    rrec = rec & ri
    ep["caseness"] = caseness.astype("boolean").where(any_paired, pd.NA)
    ep["reliable_improvement"] = ri.astype("boolean").where(counted, pd.NA)
    ep["reliable_deterioration"] = rd.astype("boolean").where(counted, pd.NA)
    ep["reliable_change"] = _labels(
        [~counted, ri, rd],
        [None, "reliable improvement", "reliable deterioration"],
        default="no reliable change",
    )
    ep["recovery"] = rec.astype("boolean").where(case, pd.NA)
    ep["reliable_recovery"] = rrec.astype("boolean").where(case, pd.NA)
    ep["counted"] = counted.astype(bool)

    flags = pd.DataFrame(
        {
            "at caseness": case,
            "not at caseness": not_case,
            "reliable improvement": ri,
            "no reliable change": nc,
            "reliable deterioration": rd,
            "recovery": rec,
            "reliable recovery": rrec,
        }
    )
    rec_denom = counted & ~not_case  # finished courses minus those not at caseness
    denom = pd.DataFrame(
        {
            **{o: counted for o in _NHS_OUTCOMES[:5]},
            "recovery": rec_denom,
            "reliable recovery": rec_denom,
        }
    )
    table = _rates_table(flags, denom, _NHS_OUTCOMES, by_cols, ep, ~counted, ci_level)

    names = " + ".join(m.name for m in measures)
    params: dict[str, Any] = {
        "method": "nhs-talking-therapies",
        "rules": "joint PHQ-9 + GAD-7" if joint else f"single measure ({measures[0].name})",
        "threshold_source": "fixed",
    }
    for m in measures:
        s = _slug(m.name)
        params[f"{s}_caseness"] = f">= {m.caseness_cutoff:g}"
        params[f"{s}_reliable_change"] = f">= {m.reliable_change:g} points"
    params.update(reliability=None, sd=None, first_score=pre, last_score=post)

    n_in = len(idx)
    n_unfinished = int((~finished).sum())
    n_unpaired = int((finished & ~any_paired).sum())
    notes.append(
        "Definitions (NHS England Talking Therapies annual-report metadata): caseness = first "
        + " or ".join(f"{m.name} >= {m.caseness_cutoff:g}" for m in measures)
        + "; reliable improvement = a decrease of at least "
        + " or ".join(f"{m.reliable_change:g} ({m.name})" for m in measures)
        + (
            ", with no reliable deterioration on either measure; reliable deterioration = an "
            "increase of at least the same on either measure (so improving on one measure and "
            "deteriorating on the other counts as deterioration)"
            if joint
            else "; reliable deterioration = an increase of at least the same"
        )
        + "; recovery = at "
        "caseness at the first score and last "
        + " and ".join(f"{m.name} < {m.caseness_cutoff:g}" for m in measures)
        + "; reliable recovery = recovery and reliable improvement. Denominators: finished courses "
        "(recovery, reliable recovery: finished courses minus those not at caseness)."
    )
    rule_counts = ep["finished_rule"].value_counts()
    rule_counts = rule_counts[rule_counts > 0]
    notes.append(
        "Finished course: "
        + "; ".join(f"{r} for {c:,} episode(s)" for r, c in rule_counts.items())
        + ". NHS counts >= 2 attended treatment appointments; n_in_treatment counts scores, a "
        "proxy for attended contacts (first and last scores from different contacts)."
    )
    notes.append(
        f"First/last scores taken from {pre!r}/{post!r}. {n_in:,} episode(s): "
        f"{int(counted.sum()):,} counted, {n_unfinished:,} not a finished course, "
        f"{n_unpaired:,} finished but without paired scores."
    )
    if joint:
        vc = ep.loc[counted, "measures_used"].value_counts()
        partial = {k: int(v) for k, v in vc.items() if k != "PHQ-9+GAD-7" and v > 0}
        if partial:
            notes.append(
                "Episodes with only one paired measure were classified on that measure alone: "
                + ", ".join(f"{k}: {v:,}" for k, v in partial.items())
                + "."
            )
    else:
        notes.append(
            f"Only {measures[0].name} was available: the NHS definitions were applied to it "
            "alone (single-measure rules). National figures use PHQ-9 and an anxiety measure "
            "together, so these rates are not strictly comparable with them."
        )
    notes.append(f"{ci_level:.0%} Wilson score intervals.")
    return ClinicalSignificanceResult(
        table=table,
        title=f"NHS Talking Therapies outcomes ({names})",
        method=_METHOD_LABEL["nhs-talking-therapies"]
        + (", joint PHQ-9 + GAD-7 rules" if joint else f", single-measure rules ({names})"),
        params=params,
        notes=tuple(notes),
        episodes=ep,
    )


# --------------------------------------------------------------------------- public API


def clinical_significance(
    episodes: pd.DataFrame,
    *,
    method: str = "jacobson-truax",
    instrument: str | None = None,
    reliability: float | None = None,
    sd: float | None = None,
    threshold: str | float | None = None,
    cutoff: str | float | None = None,
    by: str | list[str] | None = None,
    ci_level: float = 0.95,
    pre: str = "baseline",
    post: str = "endpoint",
    better_is: str | None = None,
    clinical_mean: float | None = None,
    clinical_sd: float | None = None,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    harmed: bool = False,
    cutoff_inclusive: bool | None = None,
    reliability_post: float | None = None,
    mid: float | None = None,
    mid_deterioration: float | None = None,
    pct_improvement: float | None = None,
    pct_deterioration: float | None = None,
    target: str = "individual",
    reference_group: Any = None,
) -> ClinicalSignificanceResult | GroupAnchorResult:
    r"""Classify each episode's change and count the categories, overall or per group.

    Works on an episode table from :func:`iop_outcomes.episodes` or on any DataFrame with
    ``baseline`` and ``endpoint`` columns (rename with ``pre=``/``post=``).

    Parameters
    ----------
    episodes : DataFrame
        One row per episode (and instrument). For the joint NHS rules, PHQ-9 and GAD-7 rows with
        an ``instrument`` column, paired by ``episode_id``.
    method : str, default "jacobson-truax"
        Definition to apply (named in every output). Distribution approach (reliable change
        index): ``"jacobson-truax"``, ``"gulliksen-lord-novick"``, ``"edwards-nunnally"``,
        ``"hsu-linn-lord"``, ``"nunnally-kotsch"``, ``"hageman-arrindell"``. Without an RCI:
        ``"statistical"`` (cut-off crossing alone), ``"percentage"`` (percentage change),
        ``"anchor"`` (minimal important difference), ``"combined"`` (MID and cut-off, with
        *harmed*). Published service definitions: ``"nhs-talking-therapies"``. Short names
        ``"jt"``, ``"gln"``, ``"en"``, ``"hll"``, ``"nk"``, ``"ha"``, ``"nhs"`` work too.
    instrument : str, optional
        Instrument whose cited parameters (reliability, norms, thresholds, direction) to use; also
        selects that instrument's rows when the table holds several. Needed, or explicit
        ``reliability``/``better_is``/norms, when the data carry no ``instrument`` column.
    reliability : float, optional
        Reliability :math:`r_{xx}` for the RCI (default: the instrument's, cited).
    sd : float, optional
        Reference SD for ``threshold="reference"`` (default: the instrument's clinical SD).
    threshold : {"sample", "reference", "fixed"} or float, default "sample"
        Where the reliable-change threshold comes from. ``"sample"``: SD of the sample's own
        paired baselines (as the R packages do); ``"reference"``: the reference SD and
        reliability (``sd=``/``reliability=`` or the instrument's clinical SD and reliability);
        ``"fixed"``: the instrument's published fixed threshold (PHQ-9 6, GAD-7 4 points), or a
        number of points. The output states the source, reliability, SD and points.
        ``"hsu-linn-lord"`` and ``"hageman-arrindell"`` use the sample's pre and post means and
        SDs and accept ``"sample"`` only; ``"fixed"`` is for ``"jacobson-truax"``. With
        ``"anchor"``/``"combined"`` a number here is the MID (same as ``mid=``).
    cutoff : {"a", "b", "c", "none"} or float, optional
        Clinical cut-off (Jacobson & Truax 1991). Default: ``"c"`` when clinical and functional
        norms are known, ``"a"`` when only clinical norms are, otherwise none. A number is a
        cut-off in points, read as a caseness threshold (see ``cutoff_inclusive``).
    by : str or list of str, optional
        Columns to group the counts by.
    ci_level : float, default 0.95
        Level of the Wilson score intervals.
    pre, post : str
        Columns holding the first (baseline) and last (endpoint) scores.
    better_is : {"lower", "higher"}, optional
        Direction of improvement (default: the instrument's).
    clinical_mean, clinical_sd, functional_mean, functional_sd : float, optional
        Norms for the cut-offs (default: the instrument's clinical and general-population norms).
    harmed : bool, default False
        Report *harmed* as a fifth category, taken out of *deteriorated*, as the R package
        clinicalsignificance's combined approach does. Needs a cut-off.
    cutoff_inclusive : bool, optional
        Which side a score exactly at the cut-off is on. ``True``: it is clinical (caseness
        "10 or more": lower-is-better baseline :math:`\ge` cut-off is clinical, endpoint
        :math:`<` cut-off is functional; mirrored when higher is better). ``False``: strict, on
        neither side (baseline :math:`>` and endpoint :math:`<` the cut-off), as
        clinicalsignificance treats its computed cut-offs. Default ``None``: inclusive for a
        user-supplied number (a caseness threshold such as PHQ-9 10), strict for the computed
        cut-offs a, b, c. The rule used is stated in ``params["cutoff_rule"]`` and the notes.
    reliability_post : float, optional
        Reliability at the endpoint, for ``"nunnally-kotsch"`` (default: ``reliability``, as
        clinicalsignificance) and ``"hageman-arrindell"`` (default: derived from a constant
        standard error of measurement, :math:`1 - SE^2/SD_{post}^2`, as clinicalsignificance).
    mid, mid_deterioration : float, optional
        Minimal important difference in points for ``"anchor"`` and ``"combined"`` (default:
        the instrument's cited MID, e.g. PHQ-9 5 points); ``mid_deterioration`` defaults to
        ``mid``.
    pct_improvement, pct_deterioration : float, optional
        For ``"percentage"``: the fraction of the baseline score a change must reach to count
        as improvement (default 0.5 = 50 %) or deterioration (default: ``pct_improvement``).
    target : {"individual", "group"}, default "individual"
        ``"group"`` (with ``method="anchor"``): does each group's mean change, with its
        ``ci_level`` t interval, exceed the MID; with ``by=`` one column, each group's endpoint
        scores are also compared with a reference group's. Returns a
        :class:`GroupAnchorResult`.
    reference_group : optional
        The reference group for between-group comparisons (default: the first in sorted
        order, as clinicalsignificance).

    Returns
    -------
    ClinicalSignificanceResult or GroupAnchorResult
        ``.table`` (counts, rates, Wilson CIs per outcome and group), ``.episodes`` (per-episode
        classification), ``.params``, ``.notes``; ``to_frame()`` returns the table. With
        ``target="group"`` a :class:`GroupAnchorResult` (``.table`` within groups, ``.between``).

    Notes
    -----
    **Jacobson-Truax** (1991):

    .. math::
        RCI = \frac{x_{post} - x_{pre}}{S_{diff}}, \qquad
        S_{diff} = SD_{pre}\sqrt{2(1 - r_{xx})}

    A change is reliable when :math:`|RCI| > z_{0.975} = 1.959964` (strict, as the R package
    clinicalsignificance; the paper rounds to 1.96). With a fixed threshold a change is reliable
    when :math:`|x_{post} - x_{pre}| \ge` the threshold (inclusive, as the published "change of
    6 or more"). Cut-offs for lower-is-better scales (signs flip when higher is better):
    :math:`a = M_{clin} - 2SD_{clin}`, :math:`b = M_{func} + 2SD_{func}`,
    :math:`c = (SD_{clin}M_{func} + SD_{func}M_{clin})/(SD_{clin} + SD_{func})` (``b`` with the
    functional SD, as the paper and the clinicalsignificance source read for this module).
    Categories: *recovered* = reliable improvement, baseline on the clinical side and endpoint
    on the functional side of the cut-off; *improved* = other reliable improvement;
    *deteriorated* = reliable deterioration; *unchanged* = the rest. *harmed* (the R package
    clinicalsignificance's fifth category) = reliable deterioration with the baseline not on the
    clinical side and the endpoint not on the functional side; always a column of
    ``.episodes``, a category (taken out of *deteriorated*) only with ``harmed=True``.

    **Gulliksen-Lord-Novick** (Hsu 1989): :math:`RCI = ((x_{post} - M) - r(x_{pre} - M)) /
    (SD\sqrt{1 - r^2})`. **Edwards-Nunnally** (Speer 1992): :math:`RCI = (x_{post} - [r(x_{pre}
    - M) + M]) / (SD\sqrt{1 - r})`. ``M`` and ``SD`` are the sample's baseline mean and SD
    (``threshold="sample"``) or the reference values. **Hsu-Linn-Lord** (Hsu 1989):
    :math:`RCI = ((x_{post} - M_{post}) - r(x_{pre} - M_{pre})) / (SD\sqrt{1 - r^2})`.
    **Nunnally-Kotsch** (Nunnally & Kotsch 1983): :math:`RCI = (x_{post} - [r(x_{pre} - M) +
    M]) / \sqrt{r^2 SD^2 (1 - r) + SD^2 (1 - r_{post})}`. All reliable when
    :math:`|RCI| > 1.959964` (strict).

    **Hageman-Arrindell** (Hageman & Arrindell 1999), with :math:`SE = SD_{pre}\sqrt{1 - r}`,
    :math:`r_{post} = 1 - SE^2/SD_{post}^2` (or ``reliability_post``),
    :math:`SE_{post} = SD_{post}\sqrt{1 - r_{post}}` and :math:`r_{12}` the pre-post
    correlation:

    .. math::
        r_{dd} = \frac{SD_{pre}^2 r + SD_{post}^2 r_{post} - 2 SD_{pre} SD_{post} r_{12}}
                      {SD_{pre}^2 + SD_{post}^2 - 2 SD_{pre} SD_{post} r_{12}}, \qquad
        RC_{indiv} = \frac{(x_{post} - x_{pre}) r_{dd} + (M_{post} - M_{pre})(1 - r_{dd})}
                          {\sqrt{r_{dd}}\sqrt{SE^2 + SE_{post}^2}}

    (:math:`\sqrt{SE^2 + SE_{post}^2} = \sqrt{2SE^2}` with the default :math:`r_{post}`, as in
    the paper and clinicalsignificance). Reliable when :math:`|RC_{indiv}| > 1.644854`
    (one-sided 5 %, as the paper). Its cut-offs are between true-score distributions:
    :math:`a = M_{clin} - 2SD_{clin}\sqrt{r_{clin}}`, :math:`b = M_{func} +
    2SD_{func}\sqrt{r_{func}}`, :math:`c = (SD_{clin}\sqrt{r_{clin}}M_{func} +
    SD_{func}\sqrt{r_{func}}M_{clin}) / (SD_{clin}\sqrt{r_{clin}} + SD_{func}\sqrt{r_{func}})`,
    :math:`r_{pop} = 1 - SE^2/SD_{pop}^2`; an endpoint is functional when
    :math:`CS_{indiv} = (M_{post} + (x_{post} - M_{post})r_{post} - c) / (\sqrt{r_{post}}SE_{post})`
    lies beyond 1.644854 towards the functional side (``cs_indiv``, ``functional_post`` and
    ``clinical_post`` in ``.episodes``). *Recovered* = reliable improvement, clinical baseline and
    functional endpoint. The group-level proportions (``params["group_changed"]``: share with
    true improvement, :math:`\Phi(\bar d / (SD_d\sqrt{r_{dd}}))`; ``params["group_functional"]``:
    share with a true endpoint beyond the cut-off; per group in ``.group_level``) are given as
    clinicalsignificance does.

    **Statistical approach** (Jacobson & Truax 1991 cut-offs alone; clinicalsignificance
    ``cs_statistical``): *improved* = clinical at baseline and functional at endpoint;
    *deteriorated* = not clinical at baseline and not functional at endpoint; *unchanged* = the
    rest. No RCI: the size of the change is not tested. Default cut-off as above, else cut-off a
    from the sample's baselines (clinicalsignificance's default).

    **Percentage change** (clinicalsignificance ``cs_percentage``):
    :math:`(x_{post} - x_{pre}) / x_{pre}`; *improved* when it reaches ``pct_improvement`` in
    the better direction, *deteriorated* when it reaches ``pct_deterioration`` in the worse
    direction (inclusive; e.g. the HEDIS/CMS "response" is a 50 % reduction). A baseline of 0
    has no percentage change (``pct_change`` missing): any worsening from 0 counts as
    deteriorated, any improvement as improved, no change as unchanged (clinicalsignificance
    counts a rise from 0 as both improved and deteriorated when lower is better). Negative
    baselines are an error.

    **Anchor-based** (clinicalsignificance ``cs_anchor``): *improved* when the change in the
    better direction is :math:`\ge` the MID, *deteriorated* when the change in the worse
    direction is :math:`\ge` ``mid_deterioration`` (inclusive). **Combined** (``cs_combined``
    with an MID): the same with the cut-off: *recovered* = improved, clinical baseline and
    functional endpoint; *harmed* = deteriorated, baseline not clinical and endpoint not
    functional (always a category); default cut-off as above, else a from the sample.
    With ``target="group"``: the mean change with a paired t interval (between groups: the
    difference in endpoint means, comparison − reference, with a Welch interval, every row
    with an endpoint) judged against the MID in the better direction: interval covering 0 →
    *statistically not significant*; upper bound below the MID → *statistically significant but
    not clinically relevant* (also for a significant change in the worse direction;
    ``beneficial`` says which); lower bound above the MID → *large clinically significant
    effect*; estimate above the MID → *probably clinically significant effect*; otherwise *not
    significantly less* (lower is better) / *greater* (higher is better) *than the threshold*.
    These are clinicalsignificance's categories with ``bayesian = FALSE`` (it omits the first
    rule when higher is better).

    **NHS Talking Therapies** (NHS England, Talking Therapies annual-report metadata, as packaged
    in bennettoxford/nhstt): "referrals that finished a course of treatment (end date in the
    year and a minimum of two attended treatment appointments during the referral) ... that
    showed reliable improvement"; "... where the service user has moved to recovery"; "...
    showed reliable recovery (has moved to recovery and showed reliable improvement)". The
    construction implemented (first vs last scores):

    * caseness: PHQ-9 :math:`\ge` 10 or GAD-7 :math:`\ge` 8 at the first score;
    * reliable improvement: PHQ-9 decrease :math:`\ge` 6 or GAD-7 decrease :math:`\ge` 4, *and
      no reliable deterioration on either measure*;
    * reliable deterioration: PHQ-9 increase :math:`\ge` 6 or GAD-7 increase :math:`\ge` 4 on
      either measure. A course that improves on one measure and deteriorates on the other is
      therefore counted as reliable deterioration: the metadata text found does not spell this
      case out, but it follows from the two definitions and keeps improvement, no reliable
      change and deterioration mutually exclusive, as the published counts are;
    * recovery: at caseness at the start and last PHQ-9 < 10 and last GAD-7 < 8; reliable
      recovery: recovery and reliable improvement. Denominator for both: finished courses minus
      those not at caseness; for the rest: finished courses.
    * finished course: ``sessions_attended`` :math:`\ge` 2 where recorded, else
      ``n_in_treatment`` :math:`\ge` 2 (first and last scores from different contacts), else
      every episode with paired scores; ``discharge_status == "ongoing"`` is never finished.
    * Single measure (only PHQ-9, say): the same rules on that measure alone (stated in the
      notes; not strictly comparable with national figures). In a joint table, an episode with
      only one paired measure is classified on that measure (counted in the notes).

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). J Consult Clin Psychol 59:12-19.
    Hsu, L. M. (1989). Behav Assess 11:459-467. Speer, D. C. (1992). J Consult Clin Psychol
    60:402-408. Nunnally, J. C., & Kotsch, W. E. (1983). Br J Clin Psychol 22:83-93.
    Hageman, W. J., & Arrindell, W. A. (1999). Establishing clinically significant change:
    increment of precision and the distinction between individual and group level analysis.
    Behav Res Ther 37:1169-1193, doi:10.1016/S0005-7967(99)00032-7.
    Claus, B. B. et al. (2024). clinicalsignificance, J Stat Softw 111(1),
    doi:10.18637/jss.v111.i01. NHS England, NHS Talking Therapies for anxiety and depression
    annual reports, metadata.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [18, 15, 12, 20, 9], "endpoint": [6, 13, 19, 14, 2]})
    >>> res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed")
    >>> res.episodes["category"].tolist()
    ['recovered', 'unchanged', 'deteriorated', 'improved', 'recovered']
    >>> res.params["threshold_points"]
    6.0
    >>> nhs = iop.clinical_significance(ep, method="nhs-talking-therapies", instrument="PHQ-9")
    >>> nhs.table.set_index("outcome").loc["recovery", ["count", "n"]].tolist()
    [1, 4]

    A caseness threshold (PHQ-9 "10 or more"): a baseline of exactly 10 is clinical.

    >>> cut = iop.clinical_significance(
    ...     pd.DataFrame({"baseline": [10], "endpoint": [3]}),
    ...     instrument="PHQ-9",
    ...     threshold="fixed",
    ...     cutoff=10,
    ... )
    >>> cut.episodes["category"].tolist(), cut.params["cutoff_rule"]
    (['recovered'], 'clinical: score >= 10; functional: score < 10')

    Other approaches (each named in ``params["method"]``):

    >>> iop.clinical_significance(ep, method="anchor", instrument="PHQ-9").episodes[
    ...     "category"
    ... ].tolist()  # PHQ-9 MID 5 points
    ['improved', 'unchanged', 'deteriorated', 'improved', 'improved']
    >>> iop.clinical_significance(ep, method="percentage", instrument="PHQ-9").episodes[
    ...     "pct_change"
    ... ].round(2).tolist()
    [-0.67, -0.13, 0.58, -0.3, -0.78]
    >>> iop.clinical_significance(
    ...     ep, method="statistical", instrument="PHQ-9", cutoff=10
    ... ).episodes["category"].tolist()  # only 18 -> 6 crosses 10 from the clinical side
    ['improved', 'unchanged', 'unchanged', 'unchanged', 'unchanged']
    >>> grp = iop.clinical_significance(ep, method="anchor", target="group", instrument="PHQ-9")
    >>> grp.table[["estimate", "n", "category"]].round(2).to_dict("records")
    [{'estimate': -4.0, 'n': 5, 'category': 'statistically not significant'}]
    """
    if not isinstance(episodes, pd.DataFrame):
        raise DataError(
            "The 'episodes' parameter of clinical_significance must be a pandas DataFrame. "
            f"Got {type(episodes).__name__} instead."
        )
    m = _METHODS.get(_key(method))
    if m is None:
        raise ConfigError(
            "The 'method' parameter of clinical_significance must be one of "
            f"{sorted(set(_METHODS.values()))}. Got {method!r} instead."
        )
    check_ci_level(ci_level, "clinical_significance")
    _check_inclusive(cutoff_inclusive, "clinical_significance")
    if target not in ("individual", "group"):
        raise ConfigError(
            "The 'target' parameter of clinical_significance must be 'individual' or 'group'. "
            f"Got {target!r} instead."
        )
    if target == "group" and m != "anchor":
        raise ConfigError(
            "clinical_significance: target='group' applies to method='anchor' (the group-level "
            f"anchor-based approach). Got method={m!r}."
        )
    if m == "nhs-talking-therapies":
        unused = {
            "reliability": reliability,
            "sd": sd,
            "cutoff": cutoff,
            "better_is": better_is,
            "clinical_mean": clinical_mean,
            "clinical_sd": clinical_sd,
            "functional_mean": functional_mean,
            "functional_sd": functional_sd,
            "harmed": harmed or None,
            "cutoff_inclusive": cutoff_inclusive,
            "reliability_post": reliability_post,
            "mid": mid,
            "mid_deterioration": mid_deterioration,
            "pct_improvement": pct_improvement,
            "pct_deterioration": pct_deterioration,
            "reference_group": reference_group,
        }
        given = [k for k, v in unused.items() if v is not None]
        if threshold not in (None, "fixed"):
            given.append("threshold")
        if given:
            raise ConfigError(
                f"clinical_significance(method='nhs-talking-therapies') uses the published fixed "
                f"definitions; {given} do not apply. Use method='jacobson-truax' for other thresholds."
            )
        return _nhs(episodes, instrument=instrument, by=by, ci_level=ci_level, pre=pre, post=post)
    optional = {
        "reliability": reliability,
        "sd": sd,
        "threshold": threshold,
        "cutoff": cutoff,
        "clinical_mean": clinical_mean,
        "clinical_sd": clinical_sd,
        "functional_mean": functional_mean,
        "functional_sd": functional_sd,
        "harmed": harmed or None,
        "cutoff_inclusive": cutoff_inclusive,
        "reliability_post": reliability_post,
        "mid": mid,
        "mid_deterioration": mid_deterioration,
        "pct_improvement": pct_improvement,
        "pct_deterioration": pct_deterioration,
        "reference_group": reference_group,
    }
    cut_keys = {"cutoff", "clinical_mean", "clinical_sd", "functional_mean", "functional_sd"}
    cut_keys |= {"cutoff_inclusive"}
    rci_keys = {"reliability", "sd", "threshold", "harmed", *cut_keys}
    allowed = {
        "statistical": cut_keys,
        "percentage": {"pct_improvement", "pct_deterioration"},
        "anchor": (
            {"threshold", "mid", "reference_group"}
            if target == "group"
            else {"threshold", "mid", "mid_deterioration"}
        ),
        "combined": {"threshold", "mid", "mid_deterioration", "harmed", *cut_keys},
        "nunnally-kotsch": {*rci_keys, "reliability_post"},
        "hageman-arrindell": {*rci_keys, "reliability_post"},
    }.get(m, rci_keys)
    given = [k for k, v in optional.items() if v is not None and k not in allowed]
    if given:
        hint = {
            "anchor": " Use method='combined' for a cut-off with the MID.",
            "percentage": "",
            "statistical": "",
        }.get(m, "")
        raise ConfigError(
            f"clinical_significance(method={m!r}"
            + (", target='group'" if target == "group" else "")
            + f"): {given} do not apply.{hint}"
        )
    if m == "statistical":
        return _statistical(
            episodes,
            instrument=instrument,
            cutoff=cutoff,
            by=by,
            ci_level=ci_level,
            pre=pre,
            post=post,
            better_is=better_is,
            clinical_mean=clinical_mean,
            clinical_sd=clinical_sd,
            functional_mean=functional_mean,
            functional_sd=functional_sd,
            cutoff_inclusive=cutoff_inclusive,
        )
    if m == "percentage":
        return _percentage(
            episodes,
            instrument=instrument,
            by=by,
            ci_level=ci_level,
            pre=pre,
            post=post,
            better_is=better_is,
            pct_improvement=pct_improvement,
            pct_deterioration=pct_deterioration,
        )
    if m == "anchor" and target == "group":
        return _anchor_group(
            episodes,
            instrument=instrument,
            by=by,
            ci_level=ci_level,
            pre=pre,
            post=post,
            better_is=better_is,
            mid=mid,
            mid_deterioration=mid_deterioration,
            threshold=threshold,
            reference_group=reference_group,
        )
    return _distribution_based(
        episodes,
        method=m,
        instrument=instrument,
        reliability=reliability,
        sd=sd,
        threshold=threshold,
        cutoff="none" if m == "anchor" else cutoff,
        by=by,
        ci_level=ci_level,
        pre=pre,
        post=post,
        better_is=better_is,
        clinical_mean=clinical_mean,
        clinical_sd=clinical_sd,
        functional_mean=functional_mean,
        functional_sd=functional_sd,
        harmed_category=bool(harmed) or m == "combined",
        cutoff_inclusive=cutoff_inclusive,
        reliability_post=reliability_post,
        mid=mid,
        mid_deterioration=mid_deterioration,
    )


# --------------------------------------------------------------------------- benchmarks

_BENCH_OUTCOMES = [
    "recovery",
    "reliable improvement",
    "reliable recovery",
    "reliable deterioration",
]


def national_series() -> pd.DataFrame:
    """The NHS Talking Therapies national figures shipped with the package (long format).

    Columns: ``year``, ``outcome``, ``value`` (as published), ``unit`` (``"percent"`` for the
    outcome rates, ``"points"`` for the pre-post score means and SDs of finished CBT courses),
    ``numerator``, ``denominator`` (where published), ``finished_courses``, ``scope``,
    ``source``.

    Examples
    --------
    >>> s = national_series()
    >>> s.query("year == '2024-25' and outcome == 'recovery'")["value"].item()
    50.5
    >>> s.query("outcome == 'PHQ-9 first score mean'")["value"].item()
    14.2
    """
    path = resources.files(__package__).joinpath("data/nhs_talking_therapies_national.csv")
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, comment="#", dtype={"year": str})
    return df


def benchmarks(result_or_rates, *, year: str | None = "2024-25", ci_level: float | None = None):
    """Set a program's NHS Talking Therapies rates (with Wilson CIs) beside the national rates.

    Parameters
    ----------
    result_or_rates : ClinicalSignificanceResult, DataFrame or dict
        A result of ``clinical_significance(method="nhs-talking-therapies")`` (per group when it
        was grouped), a DataFrame with ``outcome``, ``count``, ``n`` (and optional group
        columns), or a dict ``{outcome: (count, n)}``. Outcomes compared: recovery, reliable
        improvement, reliable recovery, reliable deterioration.
    year : str or None, default "2024-25"
        Financial year of the national figures (``"2017-18"`` ... ``"2024-25"``); ``None`` for
        every year in the series.
    ci_level : float, optional
        Level of the program's Wilson intervals (default: the result's, else 0.95).

    Returns
    -------
    TableResult
        One row per (group,) outcome and year: the program's ``count``, ``n``, ``estimate``,
        ``ci_low``, ``ci_high``, the ``national_estimate`` (published percentage / 100) and
        ``national_finished_courses``; ``national_within_ci`` says whether the national rate
        lies inside the program's interval. The caveat that populations differ is printed.

    Examples
    --------
    >>> b = benchmarks({"recovery": (30, 50)}, year="2024-25")
    >>> row = b.table.iloc[0]
    >>> row["outcome"], round(float(row["estimate"]), 2), float(row["national_estimate"])
    ('recovery', 0.6, 0.505)
    """
    allnat = national_series()
    nat = allnat[allnat["unit"] == "percent"]
    if year is not None:
        years = nat["year"].unique().tolist()
        if year not in years:
            raise ConfigError(
                f"The 'year' parameter of benchmarks must be one of {years} or None. "
                f"Got {year!r} instead."
            )
        nat = nat[nat["year"] == year]
    notes: list[str] = []
    group_cols: list[str] = []
    level = 0.95
    if isinstance(result_or_rates, ClinicalSignificanceResult):
        if result_or_rates.params.get("method") != "nhs-talking-therapies":
            raise ConfigError(
                "benchmarks compares NHS Talking Therapies outcomes; pass a result of "
                "clinical_significance(..., method='nhs-talking-therapies'). "
                f"Got a {result_or_rates.params.get('method')!r} result instead."
            )
        prog = result_or_rates.table
        level = float(prog["ci_level"].iloc[0]) if len(prog) else 0.95
        fixed = {"outcome", "count", "n", "estimate", "ci_low", "ci_high", "ci_level", "n_excluded"}
        group_cols = [c for c in prog.columns if c not in fixed]
        if "single measure" in str(result_or_rates.params.get("rules", "")):
            notes.append(
                "The program's rates use one measure only; national rates use PHQ-9 and an "
                "anxiety measure together (single-measure recovery is easier to reach)."
            )
        prog = prog[[*group_cols, "outcome", "count", "n"]]
    elif isinstance(result_or_rates, dict):
        try:
            prog = pd.DataFrame(
                [(k, int(v[0]), int(v[1])) for k, v in result_or_rates.items()],
                columns=["outcome", "count", "n"],
            )
        except (TypeError, ValueError, IndexError):
            raise DataError(
                "benchmarks: a dict must map outcome -> (count, n), e.g. {'recovery': (30, 50)}."
            ) from None
    elif isinstance(result_or_rates, pd.DataFrame):
        _check_columns(result_or_rates, ["outcome", "count", "n"], "benchmarks")
        prog = result_or_rates.copy()
        fixed = {"outcome", "count", "n", "estimate", "ci_low", "ci_high", "ci_level", "n_excluded"}
        group_cols = [c for c in prog.columns if c not in fixed]
        prog = prog[[*group_cols, "outcome", "count", "n"]]
    else:
        raise DataError(
            "The 'result_or_rates' parameter of benchmarks must be a ClinicalSignificanceResult, "
            f"a DataFrame or a dict. Got {type(result_or_rates).__name__} instead."
        )
    if ci_level is not None:
        check_ci_level(ci_level, "benchmarks")
        level = float(ci_level)
    prog = prog.assign(outcome=prog["outcome"].astype(str).str.lower().str.strip())
    unknown = sorted(set(prog["outcome"]) - set(_BENCH_OUTCOMES) - set(_NHS_OUTCOMES))
    if unknown:
        raise DataError(
            f"benchmarks: unknown outcome(s) {unknown}; national figures exist for {_BENCH_OUTCOMES}."
        )
    prog = prog[prog["outcome"].isin(_BENCH_OUTCOMES)]
    if (prog["count"] > prog["n"]).any() or (prog["count"] < 0).any():
        raise DataError("benchmarks: every count must lie between 0 and n.")
    prog = prog.assign(
        count=prog["count"].astype(np.int64),
        n=prog["n"].astype(np.int64),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        prog["estimate"] = np.where(prog["n"] > 0, prog["count"] / prog["n"], np.nan)
    lo, hi = wilson_ci(prog["count"].to_numpy(), prog["n"].to_numpy(), level)
    prog["ci_low"], prog["ci_high"], prog["ci_level"] = lo, hi, level
    nat_small = nat[["year", "outcome", "value", "finished_courses"]].rename(
        columns={"finished_courses": "national_finished_courses"}
    )
    out = prog.merge(nat_small, on="outcome", how="left")
    out["national_estimate"] = out["value"] / 100.0
    out["national_within_ci"] = (out["national_estimate"] >= out["ci_low"]) & (
        out["national_estimate"] <= out["ci_high"]
    )
    out = out.drop(columns="value")
    order = {o: i for i, o in enumerate(_BENCH_OUTCOMES)}
    out = (
        out.assign(__o=out["outcome"].map(order))
        .sort_values([*group_cols, "__o", "year"], kind="stable")
        .drop(columns="__o")
        .reset_index(drop=True)
    )
    cols = [
        *group_cols,
        "outcome",
        "count",
        "n",
        "estimate",
        "ci_low",
        "ci_high",
        "ci_level",
        "year",
        "national_estimate",
        "national_finished_courses",
        "national_within_ci",
    ]
    src = nat["source"].iloc[0] if len(nat) else ""
    notes = [
        _POPULATION_CAVEAT,
        *notes,
        "National rates: England, NHS Talking Therapies annual reports, finished courses "
        f"(published percentages, rounded to 0.1 %). Source: {src}",
        f"Program rates: count / n with {level:.0%} Wilson score intervals; national rates are "
        "population figures (no interval shown).",
    ]
    pp = allnat[(allnat["unit"] == "points") & ((allnat["year"] == year) | (year is None))]
    for (yr, scope), part in pp.groupby(["year", "scope"], sort=True):
        v = dict(zip(part["outcome"], part["value"], strict=True))
        bits = [
            f"{m} {v[f'{m} first score mean']:g} ({v[f'{m} first score SD']:g}) -> "
            f"{v[f'{m} last score mean']:g} ({v[f'{m} last score SD']:g})"
            for m in ("PHQ-9", "GAD-7")
            if f"{m} first score mean" in v
        ]
        notes.append(f"National pre-post mean (SD), {scope}, {yr}: " + "; ".join(bits) + ".")
    return TableResult(
        table=out[cols],
        title="NHS Talking Therapies outcomes: program vs England",
        method="NHS Talking Therapies outcome definitions; national benchmark",
        params={"year": year if year is not None else "all"},
        notes=tuple(notes),
        digits=3,
        roles={
            "count": "count of n",
            "n": "count",
            **{c: "from count, n" for c in ("estimate", "ci_low", "ci_high")},
        },
    )
