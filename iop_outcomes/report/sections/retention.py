"""Retention and follow-up section: follow-up response, dropout, attrition, durability."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..context import _Ctx
from ..figures import _fig_followup
from ..format import _labels
from ..populations import _ALL, _Key, _key
from ..render import (
    Section,
)
from .common import _contrast_sides


def _section_retention(
    ctx: _Ctx, sec: Section, ep: pd.DataFrame, inst: str, ret: Any, loaded: Any
) -> None:
    import iop_outcomes as iop

    fgroup = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    if ret is not None and len(getattr(ret, "followup", [])):
        fu = ret.followup.copy()
        fu["group"] = _labels(fu["group"]).replace({"(all)": "Overall"})
        keep = ["window", "group", "n_eligible", "n_responded", "estimate", "ci_low", "ci_high"]
        fu = fu[[c for c in keep if c in fu.columns]]
        t = ctx.add_table(
            sec,
            "followup_response",
            f"Follow-up response ({inst})",
            fu,
            counts=["n_eligible", "n_responded"],
            by="window",
            total_row="Overall",
            complements={"n_responded": "n_eligible"},
            derived={c: ["n_responded", "n_eligible"] for c in ("estimate", "ci_low", "ci_high")},
            keys={
                "n_eligible": lambda r: _key(
                    inst, fgroup, r["group"], f"fu_{r['window']}_eligible"
                ),
                "n_responded": lambda r: _key(
                    inst, fgroup, r["group"], f"fu_{r['window']}_responded"
                ),
            },
            result=ret,
            digits=3,
            notes=tuple(str(d) for d in ret.followup.get("denominator", pd.Series()).unique()[:1]),
        )
        ctx.facts["followup"] = t.frame
        _fig_followup(ctx, sec, t.frame, inst)
    g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    res = ctx.run(sec, "Dropout (Kaplan–Meier)", lambda: iop.dropout_survival(ep, by=g))
    if res is not None:
        tb = res.to_frame()
        tb["group"] = _labels(tb["group"])
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
        ctx.add_table(
            sec,
            "dropout_survival",
            f"Dropout during treatment ({inst} episodes)",
            tb[keep],
            # n = dropouts + censored; transfers are among the censored (or compete): these
            # row sums are checked with the other tables' counts (see _hidden_populations)
            counts=[c for c in ("dropouts", "transfers", "censored", "n") if c in keep],
            small_n={c: "n" for c in ("median_los", "los_ci_low", "los_ci_high") if c in keep},
            keys={
                c: (lambda r, pop=pop: _key(inst, g, r["group"], pop))
                for c, pop in (
                    ("n", "admitted"),
                    ("dropouts", "dropped_out"),
                    ("transfers", "transferred"),
                    ("censored", "censored"),
                )
            },
            result=res,
        )
        for gv in tb["group"]:
            ctx.identity(
                _key(inst, g, gv, "admitted"),
                [_key(inst, g, gv, "dropped_out"), _key(inst, g, gv, "censored")],
            )
            ctx.identity(
                _key(inst, g, gv, "censored"),
                [
                    _key(inst, g, gv, p)
                    for p in (
                        "completed",
                        "transferred",
                        "flow|discharge|administrative",
                        "flow|discharge|ongoing",
                        "flow|discharge|status unknown",
                    )
                ],
            )
    fu_cols = [w for w in ("followup_3m", "followup_1m") if w in ep.columns and ep[w].notna().any()]
    if fu_cols:
        res = ctx.run(
            sec, "Attrition", lambda: iop.attrition(ep, retained=fu_cols[0], instrument=inst)
        )
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
                    _key(inst, None, None, "admitted"),
                    [
                        _key(inst, None, None, f"attr_ret|{w}|{v}"),
                        _key(inst, None, None, f"attr_lost|{w}|{v}"),
                    ],
                )
            if len(tb):
                ctx.add_table(
                    sec,
                    "attrition",
                    f"Who answered the {fu_cols[0].removeprefix('followup_')} follow-up "
                    f"({inst}): responders vs non-responders",
                    tb[keep],
                    counts=[c for c in ("n_retained", "n_lost") if c in keep],
                    total_col=True,
                    column_totals=False,
                    keys={
                        "n_retained": lambda r: _key(
                            inst, None, None, f"attr_ret|{w}|{r['variable']}"
                        ),
                        "n_lost": lambda r: _key(
                            inst, None, None, f"attr_lost|{w}|{r['variable']}"
                        ),
                    },
                    small_n={
                        c: ("n_retained" if c.endswith("retained") else "n_lost")
                        for c in ("mean_retained", "sd_retained", "mean_lost", "sd_lost")
                        if c in keep
                    },
                    result=res,
                    notes=(
                        "smd = standardised mean difference (retained − lost); |smd| > 0.1 "
                        "suggests follow-up responders differ from non-responders.",
                    ),
                )
    res = ctx.run(sec, "Durability of gains", lambda: iop.durability(ep, instrument=inst))
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
            counts=["n", "count"],
            by="measure",
            complements={"count": "n"},
            derived={
                "estimate": ["n", "count"],
                "ci_low": ["n", "count"],
                "ci_high": ["n", "count"],
            },
            keys={
                c: (
                    lambda r, pop=pop: _key(inst, None, None, f"{pop}|{r['window']}|{r['measure']}")
                )
                for c, pop in (("n", "dur_n"), ("count", "dur_k"))
            },
            result=res,
            digits=3,
        )
    if not ctx.cfg.sensitivity_enabled:
        sec.p("Missing-data sensitivity analysis was turned off in the study configuration.")
        return
    sec.p(
        "Episodes without an end-of-treatment score are handled differently by different "
        "methods, and each rests on an assumption about why scores are missing. If the rows "
        "below agree, the headline result does not depend on that choice."
    )
    res = ctx.run(
        sec,
        "Missing-data sensitivity",
        lambda: iop.missing_data_sensitivity(
            loaded,
            rules=ep.attrs.get("rules"),  # the study's [episodes] rules, discharge endpoint
            instrument=inst,
            group=g,
            reference=ctx.cfg.comparison_reference,
            methods=ctx.cfg.sensitivity_methods,
            n_imputations=ctx.cfg.n_imputations,
            seed=ctx.cfg.seed,
            ci_level=ctx.cfg.ci_level,
            progress=False,
        ),
    )
    if res is not None:
        tb = res.to_frame()
        keep = [
            c
            for c in [
                "estimand",
                "contrast",
                "method",
                "n_used",
                "n_missing",
                "estimate",
                "ci_low",
                "ci_high",
                "assumption",
            ]
            if c in tb.columns
        ]
        ctx.add_table(
            sec,
            "missing_data_sensitivity",
            f"Missing-data sensitivity ({inst})",
            tb[keep],
            counts=[c for c in ("n_used", "n_missing") if c in keep],
            # each row's n_used + n_missing is the (published) number of episodes: a hidden
            # n_missing hides its n_used too; rows are methods, not parts of a total
            total_col=True,
            column_totals=False,
            small_n={c: "n_used" for c in ("estimate", "ci_low", "ci_high") if c in keep},
            keys={
                "n_used": lambda r: _sens_key(inst, g, r, "sens_n"),
                "n_missing": lambda r: _sens_key(inst, g, r, "sens_missing"),
            },
            result=res,
        )
        # each contrast's n_used is (at most) the union of its two groups; whole-cohort
        # counts repeated in contrast rows are tied to the whole-cohort ones
        for _, r in tb.iterrows():
            for pop in ("sens_n", "sens_missing"):
                k = _sens_key(inst, g, r, pop)
                if k[1] != _ALL:
                    ctx.identity(_key(inst, None, None, f"{pop}|{r['method']}"), [k])
            k = _sens_key(inst, g, r, "sens_n")
            if k[1] != _ALL:
                a, b = _contrast_sides(r["contrast"])
                ctx.identity(k, [_key(inst, g, a, "admitted"), _key(inst, g, b, "admitted")])
            elif r["method"] == "completers":
                ctx.identity(
                    _key(inst, None, None, "admitted"), [k, _sens_key(inst, g, r, "sens_missing")]
                )
        ctx.facts["sensitivity"] = res


def _sens_key(inst: str, g: str | None, r: pd.Series, pop: str) -> _Key:
    c = r.get("contrast", "")
    if g is None or not isinstance(c, str) or not c.strip():
        return _key(inst, None, None, f"{pop}|{r['method']}")
    return _key(inst, f"{g}(contrast)", c, f"{pop}|{r['method']}")
