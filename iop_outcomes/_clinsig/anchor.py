"""The group-level anchor-based approach (mean change against the MID)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._compare.design import level_order
from .._validation import check_columns
from ..exceptions import ConfigError
from .common import prepare, resolve_mid
from .results import METHOD_LABEL, GroupAnchorResult


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
    tq = float(_dist.t.ppf(0.5 + ci_level / 2, df_))
    t = est / se if se > 0 else np.nan
    p = float(2 * _dist.t.sf(abs(t), df_)) if se > 0 else np.nan
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
    tq = float(_dist.t.ppf(0.5 + ci_level / 2, df_))
    t = est / se if se > 0 else np.nan
    p = float(2 * _dist.t.sf(abs(t), df_)) if se > 0 else np.nan
    return est, se, est - tq * se, est + tq * se, t, df_, p


def _within(df, x, y, used, by_cols, ci_level, mid_i, d, better_is) -> pd.DataFrame:
    """Mean change per group (or overall) with its paired t interval and MID category."""
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
                **_t_fields(est, se, lo, hi, t, df_, p, ci_level),
                "n": int(n),
                "mid": mid_i,
                "beneficial": bool(d * est > 0),
                "category": cat,
            }
        )
    return pd.DataFrame(recs)


def _t_fields(est, se, lo, hi, t, df_, p, ci_level) -> dict:
    """The columns of a t row (:func:`_t_row`, :func:`_welch_row`), in table order."""
    return {
        "estimate": est,
        "se": se,
        "ci_low": lo,
        "ci_high": hi,
        "ci_level": float(ci_level),
        "statistic": t,
        "df": df_,
        "pvalue": p,
    }


def _reference_level(levels, reference, func):
    """The reference level: ``reference`` if it is one of ``levels``, else the first level."""
    if reference is None:
        return levels[0] if levels else None
    if reference in levels:
        return reference
    raise ConfigError(
        f"The 'reference' parameter of {func} must be one of {levels} (the levels of group= "
        f"with an endpoint score). Got {reference!r} instead."
    )


def _between(df, y, group, reference, ci_level, mid_i, d, better_is, post, notes):
    """Each group's endpoint mean against the reference group's (Welch), or None.

    Levels in categorical order (a categorical column), else sorted; the reference defaults to
    the first (clinicalsignificance takes the first in sorted order).
    """
    func = "clinical_significance"
    if group is None:
        return None
    has_post = y.notna() & df[group].notna()
    levels = level_order(df.loc[has_post, group])
    ref = _reference_level(levels, reference, func)
    brecs = []
    yv, gv, hp = y.to_numpy(float), df[group].to_numpy(), has_post.to_numpy(bool)
    b = yv[hp & (gv == ref)]
    for comp in levels:
        if comp == ref:
            continue
        a = yv[hp & (gv == comp)]
        est, se, lo, hi, t, df_, p = _welch_row(a, b, ci_level)
        cat = _mid_category(est, lo, hi, mid_i, d, better_is) if np.isfinite(se) else None
        brecs.append(
            {
                "reference": ref,
                "comparison": comp,
                **_t_fields(est, se, lo, hi, t, df_, p, ci_level),
                "n_reference": len(b),
                "n_comparison": len(a),
                "mid": mid_i,
                "beneficial": bool(d * est > 0),
                "category": cat,
            }
        )
    if not brecs:
        notes.append(
            f"group={group!r} has one level with an endpoint score; no between-group "
            "comparison was made."
        )
        return None
    notes.append(
        f"Between groups: each {group} against the reference {ref!r} on the endpoint score "
        f"({post!r}; every row with an endpoint, as clinicalsignificance's "
        "effect = 'between'), Welch t interval; estimate = comparison - reference."
    )
    return pd.DataFrame(brecs)


def anchor_group(
    df,
    *,
    instrument,
    group,
    reference,
    ci_level,
    pre,
    post,
    better_is,
    mid,
    mid_deterioration,
    threshold,
):
    """The group-level anchor approach: within groups, between groups, params and notes.

    ``group`` names the compared column (within: one row per level; between: each level
    against ``reference``).
    """
    func = "clinical_significance"
    if group is not None:
        check_columns(df, [group], func=func, what="episode table")
    df, inst, notes, by_cols, x, y, used, better_is, base = prepare(
        df, instrument=instrument, by=group, pre=pre, post=post, better_is=better_is
    )
    if mid_deterioration is not None:
        raise ConfigError(
            f"{func}: mid_deterioration= applies to target='individual'; the group-level "
            "anchor approach compares the mean change with mid= alone."
        )
    mid_i, _, mid_src = resolve_mid(mid, None, threshold, inst)
    d = -1.0 if better_is == "lower" else 1.0
    within = _within(df, x, y, used, by_cols, ci_level, mid_i, d, better_is)
    between = _between(df, y, group, reference, ci_level, mid_i, d, better_is, post, notes)
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
    if group is not None:
        params["group"] = group
        params["reference"] = None if between is None else between["reference"].iloc[0]
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
        method=METHOD_LABEL["anchor"] + "; target: group",
        params=params,
        notes=tuple(notes),
        digits=3,
        between=between,
    )


# --------------------------------------------------------------------------- NHS Talking Therapies
