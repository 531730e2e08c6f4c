"""The distribution approach: reliable change, cut-off and the Jacobson-Truax categories.

Also the individual anchor-based and combined approaches (change beyond the MID instead of an RCI),
which share the categories and the cut-off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from ..exceptions import ConfigError
from .common import id_frame, prepare, rates_table, resolve_mid
from .cutoff import resolve_cutoff, sides
from .rci import reliable_change
from .results import JT_CATEGORIES, METHOD_LABEL, ClinicalSignificanceResult


def distribution_based(
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
    sample=None,
):
    """The distribution (RCI), anchor and combined approaches: a pipeline of named steps.

    ``sample``: on Dask, the whole table's paired pre and post scores summarised
    (``sample.x``, ``sample.y`` give ``mean()`` and ``std(ddof=1)``; ``sample.n``), so that a
    partition's thresholds are the whole sample's (:mod:`iop_outcomes._dask.clinsig`).
    """
    df, inst, notes, by_cols, x, y, used, better_is, base = prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    n_used = int(used.sum())
    d = -1.0 if better_is == "lower" else 1.0  # sign of a beneficial change (post - pre)
    xu, yu = x[used], y[used]
    if sample is not None:
        xu, yu, n_used = sample.x, sample.y, sample.n
    anchor = method in ("anchor", "combined")
    params: dict[str, Any] = {"method": method}
    if anchor:
        improved, deteriorated, rci, source = _beyond_mid(
            method, params, base, notes, inst, x, y, used, d, mid, mid_deterioration, threshold
        )
        cutoff = _combined_cutoff(method, cutoff)
    else:
        improved, deteriorated, rci, source = reliable_change(
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
    ha = params.get("se_measurement") if method == "hageman-arrindell" else None
    cut_value, cut_inclusive, cut_params, cut_notes = resolve_cutoff(
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
    ep = _episode_frame(df, by_cols, x, y, used, anchor, rci, improved, deteriorated)
    recovered, harmed, group_level = _apply_cutoff(
        params,
        notes,
        ep,
        df,
        by_cols,
        x,
        y,
        xu,
        yu,
        used,
        d,
        improved,
        deteriorated,
        cut_value=cut_value,
        inclusive=cut_inclusive,
        better_is=better_is,
        hageman=ha is not None,
        harmed_category=harmed_category,
    )
    categories, flags = _categories(
        ep, used, recovered, improved, deteriorated, harmed, harmed_category, cut_value
    )
    outcomes = list(categories)
    if cut_value is None:
        outcomes.remove("recovered")
    notes.extend(_category_notes(method, anchor, cut_value, harmed_category, harmed))
    return _result(
        method,
        inst,
        source,
        params,
        notes,
        ep,
        flags,
        outcomes,
        used,
        group_level,
        by_cols=by_cols,
        ci_level=ci_level,
        pre=pre,
        post=post,
        anchor=anchor,
    )


def _result(
    method,
    inst,
    source,
    params,
    notes,
    ep,
    flags,
    outcomes,
    used,
    group_level,
    *,
    by_cols,
    ci_level,
    pre,
    post,
    anchor,
):
    """The rates table (Wilson intervals), the closing notes and the result object."""
    denom = pd.DataFrame({o: used.to_numpy() for o in outcomes}, index=ep.index)
    table = rates_table(flags, denom, outcomes, by_cols, ep, ~used, ci_level)
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
    title = f"Clinical significance: {METHOD_LABEL[method]}"
    if inst is not None:
        title += f", {inst.name}"
    return ClinicalSignificanceResult(
        table=table,
        title=title,
        method=METHOD_LABEL[method] + f"; threshold source: {source}",
        params=params,
        notes=tuple(notes),
        episodes=ep,
        group_level=group_level,
    )


def _beyond_mid(method, params, base, notes, inst, x, y, used, d, mid, mid_det, threshold):
    """Anchor-based change: improved / deteriorated when the change reaches the MID."""
    mid_i, mid_d, mid_src = resolve_mid(mid, mid_det, threshold, inst)
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
    ben = d * (y - x)
    return used & (ben >= mid_i), used & (ben <= -mid_d), rci, "anchor"


def _combined_cutoff(method, cutoff):
    """The combined approach needs a cut-off: None asks for the best available or a."""
    if method == "combined" and cutoff is None:
        return "required"
    if method == "combined" and isinstance(cutoff, str) and cutoff.lower() == "none":
        raise ConfigError(
            "The 'cutoff' parameter of clinical_significance(method='combined') must be 'a', "
            "'b', 'c', a number of points or None; the combined approach needs a cut-off "
            f"(method='anchor' has none). Got {cutoff!r} instead."
        )
    return cutoff


def _episode_frame(df, by_cols, x, y, used, anchor, rci, improved, deteriorated):
    """The per-episode table: identifiers, scores, change, index and the change flags."""
    ep = id_frame(df, by_cols)
    ep["pre"] = x
    ep["post"] = y
    ep["change"] = y - x
    if not anchor:
        ep["rci"] = rci.where(used)
    ep["reliable_improvement" if not anchor else "improvement"] = improved.astype("boolean").where(
        used, pd.NA
    )
    ep["reliable_deterioration" if not anchor else "deterioration"] = deteriorated.astype(
        "boolean"
    ).where(used, pd.NA)
    return ep


def _apply_cutoff(
    params,
    notes,
    ep,
    df,
    by_cols,
    x,
    y,
    xu,
    yu,
    used,
    d,
    improved,
    deteriorated,
    *,
    cut_value,
    inclusive,
    better_is,
    hageman,
    harmed_category,
):
    """(recovered, harmed, group-level table or None): the sides of the cut-off per episode."""
    if cut_value is None:
        if harmed_category:
            raise ConfigError(
                "clinical_significance: harmed=True needs a cut-off (clinical/functional norms "
                "or cutoff=)."
            )
        none = pd.Series(False, index=x.index)
        return none, none.copy(), None
    group_level = None
    clinical_pre, functional_post = sides(x, y, cut_value, better_is, inclusive)
    if hageman:
        functional_post, group_level = _ha_functional(
            params, notes, ep, df, by_cols, x, y, xu, yu, used, d, cut_value
        )
    recovered = improved & clinical_pre & functional_post
    # clinicalsignificance (create_summary_table.cs_combined): !clinical_pre & !functional_post
    harmed = deteriorated & ~clinical_pre & ~functional_post
    ep["clinical_pre"] = clinical_pre.astype("boolean").where(x.notna(), pd.NA)
    ep["functional_post"] = functional_post.astype("boolean").where(y.notna(), pd.NA)
    return recovered, harmed, group_level


def _ha_functional(params, notes, ep, df, by_cols, x, y, xu, yu, used, d, cut_value):
    """Hageman & Arrindell (1999): functional endpoint by CS_indiv; group-level shares."""
    # the endpoint's estimated true score must lie beyond the cut-off by more than its
    # standard error times the one-sided critical value
    r2, se2 = params["reliability_post"], params["se_post"]
    m_post = params["mean_post"]
    cs = (m_post + (y - m_post) * r2 - cut_value) / (np.sqrt(r2) * se2)
    crit = params["rci_critical"]
    functional_post = d * cs > crit
    ep["cs_indiv"] = cs.where(y.notna())
    ep["clinical_post"] = (d * cs < -crit).astype("boolean").where(y.notna(), pd.NA)
    params["cs_critical"] = crit
    hk = {"d": d, "r_dd": params["r_dd"], "r2": r2, "cut": cut_value}
    used_np = used.to_numpy(bool)
    group_level = ha_group_level(df, by_cols, used_np, xu, yu, **hk)
    whole = ha_group_level(df, [], used_np, xu, yu, **hk)
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
    return functional_post, group_level


def _categories(ep, used, recovered, improved, deteriorated, harmed, harmed_category, cut_value):
    """The per-episode category (first match wins) and one boolean flag column per category."""
    categories = [*JT_CATEGORIES, "harmed"] if harmed_category else list(JT_CATEGORIES)
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
    flags = pd.DataFrame({o: cat_codes == code[o] for o in categories}, index=ep.index)
    return categories, flags


def _category_notes(method, anchor, cut_value, harmed_category, harmed) -> list[str]:
    """What the categories mean with or without a cut-off and with or without 'harmed'."""
    what = "change beyond the MID" if anchor else "reliable improvement"
    if cut_value is None:
        if method == "anchor":
            return []
        return [
            "No cut-off (no clinical/functional norms given or registered): 'recovered' is "
            f"not assessed; 'improved' counts every {what}."
        ]
    if harmed_category:
        return [
            "Five categories as the R package clinicalsignificance's combined approach: 'harmed' "
            "(deterioration, baseline not on the clinical side and endpoint not on the "
            "functional side of the cut-off) is taken out of 'deteriorated'."
        ]
    return [
        f"Of the deteriorated, {int(harmed.sum()):,} moved from the functional to the clinical "
        "side of the cut-off ('harmed' column of .episodes; harmed=True reports it as a "
        "category)."
    ]


def ha_group_level(df, by_cols, used, xu, yu, *, d, r_dd, r2, cut) -> pd.DataFrame:
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
        agg["changed"] = _dist.norm.cdf(d * agg["mean_change"] / (agg["sd_change"] * np.sqrt(r_dd)))
        agg["functional"] = _dist.norm.cdf(
            -d * (cut - agg["mean_post"]) / (agg["sd_post"] * np.sqrt(r2))
        )
    return agg
