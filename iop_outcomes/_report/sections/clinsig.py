"""Reliable and clinically significant change, NHS Talking Therapies benchmarks and quality
measures."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..._clinsig import benchmarks, clinical_significance
from ..context import Ctx
from ..figures import fig_clinsig
from ..figures_jt import fig_jt
from ..format import slug
from ..inputs import instruments_present, quality_of
from ..populations import pop_key
from ..render import Section
from .common import overall_and_by


def section_clinsig(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    sec.p(
        "Reliable change asks whether an episode's change is larger than measurement error "
        "alone would produce (the reliable change index); clinically significant change asks "
        "whether the endpoint score also crossed into the range of a non-clinical population. "
        "Recovered = reliable improvement and crossed the cut-off; improved = reliable "
        "improvement only; deteriorated = reliable worsening. The reliability, SD and cut-off "
        "used are listed in the methods section."
    )
    for inst, ep in eps.items():
        g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
        results, tb = overall_and_by(
            ctx,
            sec,
            f"Clinical significance ({inst})",
            lambda by, ep=ep, inst=inst: clinical_significance(
                ep, instrument=inst, by=by, ci_level=ctx.cfg.ci_level
            ),
            g,
        )
        if tb is None:
            continue
        res0 = results[0]
        keep = [
            c
            for c in ["group", "outcome", "count", "n", "estimate", "ci_low", "ci_high"]
            if c in tb.columns
        ]
        t = ctx.add_table(
            sec,
            f"clinsig_{slug(inst)}",
            f"{inst} reliable and clinically significant change"
            + (f", overall and by {g}" if g else "")
            + " (Jacobson–Truax)",
            tb[keep],
            percent=("estimate", "ci_low", "ci_high"),
            by="outcome",
            within="group",
            total_row="Overall",
            keys={
                "count": lambda r, g=g, inst=inst: pop_key(
                    inst, g, r["group"], f"cs|{r['outcome']}"
                ),
                "n": lambda r, g=g, inst=inst: pop_key(inst, g, r["group"], "cs_n"),
            },
            result=res0,
            digits=3,
        )
        if "outcome" in tb.columns:
            for gv, sub in tb.groupby("group", sort=False):
                ctx.identity(
                    pop_key(inst, g, gv, "cs_n"),
                    [pop_key(inst, g, gv, f"cs|{o}") for o in sub["outcome"]],
                )
        ctx.facts.setdefault("clinsig", {})[inst] = t.frame[t.frame["group"] == "Overall"]
        if g and inst == ctx.cfg.primary_instrument:
            fig_clinsig(ctx, sec, t.frame, inst, g)
        if inst == ctx.cfg.primary_instrument:
            overall = [r for r in results if g is None or g not in r.table.columns]
            fig_jt(ctx, sec, overall[0] if overall else None, t.frame, inst)
    _nhs_benchmarks(ctx, sec, eps)


def _nhs_benchmarks(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    if {"PHQ-9", "GAD-7"} <= set(eps):
        data, inst, label = (
            pd.concat([eps["PHQ-9"], eps["GAD-7"]]),
            ["PHQ-9", "GAD-7"],
            "PHQ-9 + GAD-7",
        )
    elif "PHQ-9" in eps:
        data, inst, label = eps["PHQ-9"], "PHQ-9", "PHQ-9"
    else:
        return
    sec.html("<h3>NHS Talking Therapies definitions and England's national rates</h3>")
    sec.p(
        "The same episodes scored with the outcome definitions of NHS Talking Therapies "
        "(England), beside the latest national rates. Populations, settings and treatments "
        "differ, so the national figure is context, not a target."
    )
    res = ctx.run(
        sec,
        "NHS Talking Therapies benchmark",
        lambda: benchmarks(
            clinical_significance(
                data, method="nhs-talking-therapies", instrument=inst, ci_level=ctx.cfg.ci_level
            )
        ),
    )
    if res is None:
        return
    tb = res.to_frame()
    keep = [
        c
        for c in [
            "outcome",
            "count",
            "n",
            "estimate",
            "ci_low",
            "ci_high",
            "year",
            "national_estimate",
        ]
        if c in tb.columns
    ]
    ctx.add_table(
        sec,
        "nhs_benchmark",
        f"NHS Talking Therapies outcomes ({label}) and national rates",
        tb[keep],
        percent=("estimate", "ci_low", "ci_high", "national_estimate"),
        column_totals=False,
        keys={
            "count": lambda r: pop_key("PHQ-9", None, None, f"nhs|{r['outcome']}"),
            "n": lambda r: pop_key(
                "PHQ-9",
                None,
                None,
                "nhs_n_caseness" if "recover" in str(r["outcome"]) else "nhs_n_all",
            ),
        },
        result=res,
        digits=3,
    )


def section_quality_measures(ctx: Ctx, sec: Section, loaded: Any) -> None:
    if "PHQ-9" not in instruments_present(loaded):
        return
    sec.html("<h3>US quality measures (PHQ-9)</h3>")
    res = ctx.run(sec, "Quality measures", lambda: quality_of(loaded))
    if res is None:
        return
    tb = res.to_frame()
    keep = [
        c
        for c in ["measure", "rate", "numerator", "denominator", "estimate", "ci_low", "ci_high"]
        if c in tb.columns
    ]
    ctx.add_table(
        sec,
        "quality_measures",
        "US depression quality measures computable from these data (HEDIS DRR-E, CMS159; PHQ-9)",
        tb[keep],
        percent=("estimate", "ci_low", "ci_high"),
        column_totals=False,
        keys={
            "numerator": lambda r: pop_key("PHQ-9", None, None, _qm_pop(r, "num")),
            "denominator": lambda r: pop_key("PHQ-9", None, None, _qm_pop(r, "den")),
        },
        result=res,
        digits=3,
    )


def _qm_pop(r: pd.Series, part: str) -> str:
    """Population of a quality-measure numerator or denominator (DRR-E: the denominator,
    follow-up PHQ-9 within it, and response and remission within those)."""
    measure, rate = str(r.get("measure", "")), str(r.get("rate", ""))
    if measure == "DRR-E":
        base = rate.removesuffix("_among_measured")
        if part == "den":
            return "qm|followup_phq9" if rate.endswith("_among_measured") else "qm|den"
        return f"qm|{base}"
    return f"qm|{measure}|{rate}|{part}"
