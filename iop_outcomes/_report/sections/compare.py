"""Comparison by the study's comparison group: contrasts, non-inferiority, pooled sites."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..._compare import compare, equivalence, pool_sites
from ..context import Ctx
from ..figures import fig_noninferiority
from ..figures_forest import fig_forest
from ..format import slug
from ..populations import pop_key
from ..render import Section
from .common import contrast_sides


def section_compare(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    g, ref = ctx.cfg.comparison_group, ctx.cfg.comparison_reference
    for inst, ep in eps.items():
        if g not in ep.columns:
            sec.p(f"{inst}: the data have no '{g}' column, so no comparison is possible.")
            continue
        published: dict[str, pd.DataFrame] = {}  # the tables as published, for the forest plot
        res = ctx.run(
            sec,
            f"Adjusted comparison ({inst})",
            lambda ep=ep: compare(ep, group=g, reference=ref, ci_level=ctx.cfg.ci_level),
        )
        if res is not None:
            published["compare"] = _compare_table(ctx, sec, res, inst, g, ref)
        margin = ctx.cfg.margin_for(inst)
        res = ctx.run(
            sec,
            f"Non-inferiority test ({inst})",
            lambda ep=ep, margin=margin: equivalence(
                ep, group=g, reference=ref, margin=margin, kind="non-inferiority"
            ),
        )
        if res is not None:
            published["noninf"] = _noninferiority_table(ctx, sec, res, inst, g, ref, margin)
        if "site" in ep.columns and ep["site"].nunique() > 1:
            res = ctx.run(
                sec,
                f"Site-level pooling ({inst})",
                lambda ep=ep: pool_sites(
                    ep, site="site", group=g, reference=ref, ci_level=ctx.cfg.ci_level
                ),
            )
            if res is not None:
                published["pooled"] = _pooled_table(ctx, sec, res, inst, g)
        if inst == ctx.cfg.primary_instrument and "compare" in published:
            fig_forest(
                ctx,
                sec,
                published["compare"],
                published.get("pooled"),
                published.get("noninf"),
                inst,
                g,
                ref,
            )


def _compare_table(ctx: Ctx, sec: Section, res: Any, inst: str, g: str, ref: str) -> pd.DataFrame:
    """The adjusted comparison of each group with the reference, as published."""
    tb = res.to_frame()
    keep = [
        c
        for c in [
            "contrast",
            "n_group",
            "n_reference",
            "estimate",
            "ci_low",
            "ci_high",
            "pvalue",
        ]
        if c in tb.columns
    ]
    t = ctx.add_table(
        sec,
        f"compare_{slug(inst)}",
        f"{inst}: adjusted difference in change, each {g} vs {ref}",
        tb[keep],
        # rows are contrasts, not parts of a total: a column adds up to nothing any
        # table publishes (sums over the groups are checked across tables)
        column_totals=False,
        keys={
            "n_group": lambda r, inst=inst: pop_key(
                inst, g, contrast_sides(r["contrast"])[0], "cmp_n"
            ),
            "n_reference": lambda r, inst=inst: pop_key(
                inst, g, contrast_sides(r["contrast"])[1], "cmp_n"
            ),
        },
        result=res,
        notes=(
            "Positive difference = less improvement than the reference on lower-is-better scales.",
        ),
    )
    ctx.facts.setdefault("compare", {})[inst] = t.frame
    return t.frame


def _noninferiority_table(
    ctx: Ctx, sec: Section, res: Any, inst: str, g: str, ref: str, margin: Any
) -> pd.DataFrame:
    """The non-inferiority test of each group against the reference, as published (and
    its figure for the primary instrument)."""
    tb = res.to_frame()
    keep = [
        c
        for c in [
            "contrast",
            "estimate",
            "ci_low",
            "ci_high",
            "ci_level",
            "margin",
            "pvalue",
            "conclusion",
        ]
        if c in tb.columns
    ]
    tb = tb[keep].copy()
    if "conclusion" in tb:
        tb["conclusion"] = np.where(tb["conclusion"].astype(bool), "non-inferior", "not shown")
    t = ctx.add_table(
        sec,
        f"noninferiority_{slug(inst)}",
        f"{inst}: non-inferiority of each {g} vs {ref}",
        tb,
        result=res,
        notes=(
            f"Margin {res.params.get('margin', margin)} points"
            + (
                " (configured)."
                if margin
                else " (library default; set [comparison] margin in the study file)."
            ),
        ),
    )
    ctx.facts.setdefault("equivalence", {})[inst] = t.frame
    if inst == ctx.cfg.primary_instrument:
        fig_noninferiority(ctx, sec, t.frame, inst, g, ref)
    return t.frame


def _pooled_table(ctx: Ctx, sec: Section, res: Any, inst: str, g: str) -> pd.DataFrame:
    """The group difference estimated within each site and pooled, as published."""
    tb = res.to_frame()
    keep = [
        c
        for c in [
            "contrast",
            "tau2_method",
            "k",
            "estimate",
            "ci_low",
            "ci_high",
            "I2",
            "tau2",
            "pi_low",
            "pi_high",
        ]
        if c in tb.columns
    ]
    tb = tb.rename(columns={"k": "sites"})
    keep = ["sites" if c == "k" else c for c in keep]
    return ctx.add_table(
        sec,
        f"pool_sites_{slug(inst)}",
        f"{inst}: the {g} difference estimated within each site and pooled (random effects)",
        tb[keep],
        result=res,
        notes=(
            "k = number of sites; I2 and tau2 describe how much the difference "
            "varies between sites; pi = prediction interval for a new site.",
        ),
    ).frame
