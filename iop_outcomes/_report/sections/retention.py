"""Retention and follow-up section: follow-up response, dropout, attrition, durability."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..._retention import attrition, dropout_survival, durability
from ..context import Ctx
from ..figures import fig_followup
from ..figures_km import fig_km
from ..format import group_labels
from ..populations import pop_key
from ..render import Section
from .common import study_reference


def section_retention(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str, ret: Any) -> None:
    """Follow-up response (from the participant flow's ``ret``), dropout, attrition and
    durability of gains."""
    g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    _followup_response(ctx, sec, inst, ret, g)
    _dropout(ctx, sec, ep, inst, g)
    _attrition(ctx, sec, ep, inst)
    _durability(ctx, sec, ep, inst)


def _followup_response(ctx: Ctx, sec: Section, inst: str, ret: Any, fgroup: str | None) -> None:
    """Follow-up response by window and group, from the participant flow's retention result."""
    if ret is not None and len(getattr(ret, "followup", [])):
        fu = ret.followup.copy()
        fu["group"] = group_labels(fu["group"]).replace({"(all)": "Overall"})
        keep = ["window", "group", "n_eligible", "n_responded", "estimate", "ci_low", "ci_high"]
        fu = fu[[c for c in keep if c in fu.columns]]
        t = ctx.add_table(
            sec,
            "followup_response",
            f"Follow-up response ({inst})",
            fu,
            percent=("estimate", "ci_low", "ci_high"),
            by="window",
            total_row="Overall",
            keys={
                "n_eligible": lambda r: pop_key(
                    inst, fgroup, r["group"], f"fu_{r['window']}_eligible"
                ),
                "n_responded": lambda r: pop_key(
                    inst, fgroup, r["group"], f"fu_{r['window']}_responded"
                ),
            },
            result=ret,
            digits=3,
            notes=tuple(str(d) for d in ret.followup.get("denominator", pd.Series()).unique()[:1]),
        )
        ctx.facts["followup"] = t.frame
        fig_followup(ctx, sec, t.frame, inst)


def _dropout(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str, g: str | None) -> None:
    """Dropout during treatment (Kaplan–Meier): dropouts, transfers, censored, median stay."""
    res = ctx.run(
        sec,
        "Dropout (Kaplan–Meier)",
        lambda: dropout_survival(ep, group=g, reference=study_reference(ctx, ep, g)),
    )
    if res is not None:
        tb = res.to_frame()
        tb["group"] = group_labels(tb["group"])
        keep = [
            c
            for c in [
                "group",
                "n",
                "dropouts",
                "transfers",
                "censored",
                "median_los",
                "los_ci_low",
                "los_ci_high",
            ]
            if c in tb.columns
        ]
        t = ctx.add_table(
            sec,
            "dropout_survival",
            f"Dropout during treatment ({inst} episodes)",
            tb[keep],
            # n = dropouts + censored; transfers are among the censored (or compete): these
            # row sums are checked with the other tables' counts (see disclosure.hidden_populations)
            keys={
                c: (lambda r, pop=pop: pop_key(inst, g, r["group"], pop))
                for c, pop in (
                    ("n", "admitted"),
                    ("dropouts", "dropped_out"),
                    ("transfers", "transferred"),
                    ("censored", "censored"),
                )
            },
            result=res,
        )
        fig_km(ctx, sec, res, t.frame, inst, g)
        for gv in tb["group"]:
            ctx.identity(
                pop_key(inst, g, gv, "admitted"),
                [pop_key(inst, g, gv, "dropped_out"), pop_key(inst, g, gv, "censored")],
            )
            ctx.identity(
                pop_key(inst, g, gv, "censored"),
                [
                    pop_key(inst, g, gv, p)
                    for p in (
                        "completed",
                        "transferred",
                        "flow|discharge|administrative",
                        "flow|discharge|ongoing",
                        "flow|discharge|status unknown",
                    )
                ],
            )


def _attrition(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str) -> None:
    """Attrition: episodes that answered the 3-month (else 1-month) follow-up vs those that
    did not, compared on their characteristics."""
    fu_cols = [w for w in ("followup_3m", "followup_1m") if w in ep.columns and ep[w].notna().any()]
    if fu_cols:
        res = ctx.run(sec, "Attrition", lambda: attrition(ep, retained=fu_cols[0], instrument=inst))
        if res is not None:
            tb = res.to_frame()
            if "kind" in tb.columns:
                tb = tb[tb["kind"].astype("object") == "continuous"]
            keep = [
                c
                for c in [
                    "variable",
                    "n_retained",
                    "mean_retained",
                    "sd_retained",
                    "n_lost",
                    "mean_lost",
                    "sd_lost",
                    "smd",
                    "pvalue",
                ]
                if c in tb.columns
            ]
            w = fu_cols[0].removeprefix("followup_")
            for v in tb.get("variable", pd.Series(dtype=object)):
                ctx.identity(
                    pop_key(inst, None, None, "admitted"),
                    [
                        pop_key(inst, None, None, f"attr_ret|{w}|{v}"),
                        pop_key(inst, None, None, f"attr_lost|{w}|{v}"),
                    ],
                )
            if len(tb):
                ctx.add_table(
                    sec,
                    "attrition",
                    f"Who answered the {fu_cols[0].removeprefix('followup_')} follow-up "
                    f"({inst}): responders vs non-responders",
                    tb[keep],
                    total_col=True,
                    column_totals=False,
                    keys={
                        "n_retained": lambda r: pop_key(
                            inst, None, None, f"attr_ret|{w}|{r['variable']}"
                        ),
                        "n_lost": lambda r: pop_key(
                            inst, None, None, f"attr_lost|{w}|{r['variable']}"
                        ),
                    },
                    result=res,
                    notes=(
                        "smd = standardised mean difference (retained − lost); |smd| > 0.1 "
                        "suggests follow-up responders differ from non-responders.",
                    ),
                )


def _durability(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str) -> None:
    """Durability of gains after discharge (rates and the mean change from endpoint)."""
    res = ctx.run(sec, "Durability of gains", lambda: durability(ep, instrument=inst))
    if res is not None:
        tb = res.to_frame()
        keep = [
            c
            for c in ["window", "measure", "n", "count", "estimate", "ci_low", "ci_high"]
            if c in tb.columns
        ]
        ctx.add_table(
            sec,
            "durability",
            f"Durability after discharge ({inst})",
            tb[keep],
            percent=("estimate", "ci_low", "ci_high"),
            # rates, and one mean change (points): percentages in the rates' rows only
            percent_rows=(tb["measure"].astype(str) != "change_from_endpoint").to_numpy(),
            by="measure",
            keys={
                c: (
                    lambda r, pop=pop: pop_key(
                        inst, None, None, f"{pop}|{r['window']}|{r['measure']}"
                    )
                )
                for c, pop in (("n", "dur_n"), ("count", "dur_k"))
            },
            result=res,
            digits=3,
        )
