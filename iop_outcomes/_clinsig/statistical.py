"""Approaches without a reliable change index: cut-off crossing and percentage change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError
from .common import id_frame, positive, prepare, rates_table
from .cutoff import resolve_cutoff, sides
from .results import METHOD_LABEL, ClinicalSignificanceResult

_THREE = ["improved", "unchanged", "deteriorated"]


def three_categories(
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
    table = rates_table(flags, denom, _THREE, by_cols, ep, ~used, ci_level)
    n_excl = int((~used).sum())
    if n_excl:
        notes.append(f"{n_excl:,} row(s) without both {pre!r} and {post!r} were excluded.")
    notes.append(f"Rates: count / n paired episodes; {ci_level:.0%} Wilson score intervals.")
    title = f"Clinical significance: {METHOD_LABEL[method]}"
    if inst is not None:
        title += f", {inst.name}"
    return ClinicalSignificanceResult(
        table=table,
        title=title,
        method=METHOD_LABEL[method],
        params=params,
        notes=tuple(notes),
        episodes=ep,
    )


def statistical(
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
    df, inst, notes, by_cols, x, y, used, better_is, base = prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    params: dict[str, Any] = {"method": "statistical", "threshold_source": None, **base}
    params.update(reliability=None, sd=None)
    cut_value, inc, cut_params, cut_notes = resolve_cutoff(
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
    clinical_pre, functional_post = sides(x, y, cut_value, better_is, inc)
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
    ep = id_frame(df, by_cols)
    ep["pre"], ep["post"], ep["change"] = x, y, y - x
    ep["clinical_pre"] = clinical_pre.astype("boolean").where(x.notna(), pd.NA)
    ep["functional_post"] = functional_post.astype("boolean").where(y.notna(), pd.NA)
    return three_categories(
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


def percentage(
    df, *, instrument, by, ci_level, pre, post, better_is, pct_improvement, pct_deterioration
):
    func = "clinical_significance"
    df, inst, notes, by_cols, x, y, used, better_is, base = prepare(
        df, instrument=instrument, by=by, pre=pre, post=post, better_is=better_is
    )
    p_imp = 0.5 if pct_improvement is None else positive(pct_improvement, "pct_improvement")
    if p_imp > 1:
        raise ConfigError(
            f"The 'pct_improvement' parameter of {func} must be a fraction in (0, 1] (0.5 = 50 %). "
            f"Got {pct_improvement!r} instead."
        )
    p_det = p_imp if pct_deterioration is None else positive(pct_deterioration, "pct_deterioration")
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
    ep = id_frame(df, by_cols)
    ep["pre"], ep["post"], ep["change"] = x, y, change
    ep["pct_change"] = pct
    return three_categories(
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
