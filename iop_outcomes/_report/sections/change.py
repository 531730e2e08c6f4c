"""Symptom change section: change summaries, response/remission/MCID rates, severity shift."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..._change import change_summary, severity_shift
from ..context import Ctx
from ..figures import fig_change
from ..format import group_labels, slug
from ..inputs import has_grouping
from ..populations import pop_key
from ..render import Section


def section_change(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    for inst, ep in eps.items():
        groupings = [g for g in ctx.cfg.groupings if has_grouping(ep, g)]
        by = groupings[0] if groupings else None
        for g in groupings or [None]:
            res = ctx.run(
                sec,
                f"Change summary ({inst})",
                lambda g=g, ep=ep: change_summary(
                    ep, by=g, ci_level=ctx.cfg.ci_level, zero_baseline="not_responding"
                ),
                by=g,
            )
            if res is None:
                continue
            tb = res.table.copy()
            gcol = g or "group"
            if g is None:
                tb[gcol] = "Overall"
            tb = tb.rename(columns={g: "group"} if g else {gcol: "group"})
            tb["group"] = group_labels(tb["group"])
            tb["n_unpaired"] = tb["n_episodes"] - tb["n_paired"]
            cols = [
                "group",
                "n_episodes",
                "n_paired",
                "n_unpaired",
                "baseline_mean",
                "baseline_sd",
                "endpoint_mean",
                "endpoint_sd",
                "mean_change",
                "change_ci_low",
                "change_ci_high",
                "pvalue",
                "r_pre_post",
            ]
            title = f"{inst} symptom change" + (f" by {g}" if g else "")
            t = ctx.add_table(
                sec,
                f"change_{slug(inst)}_{g or 'overall'}",
                title,
                tb[cols],
                counts=["n_unpaired"],  # made here: the result declares the others
                total_row="Overall",
                total_col="n_episodes",
                keys={
                    c: (lambda r, g=g, inst=inst, pop=pop: pop_key(inst, g, r["group"], pop))
                    for c, pop in (
                        ("n_episodes", "admitted"),
                        ("n_paired", "paired"),
                        ("n_unpaired", "unpaired"),
                    )
                },
                result=res,
                notes=("Change = endpoint − baseline; negative values are improvement.",),
            )
            for gv in tb["group"]:
                ctx.identity(
                    pop_key(inst, g, gv, "admitted"),
                    [pop_key(inst, g, gv, "paired"), pop_key(inst, g, gv, "unpaired")],
                )
            if g == by:
                ctx.facts.setdefault("change", {})[inst] = t.frame
                if inst == ctx.cfg.primary_instrument:
                    fig_change(ctx, sec, t.frame, inst, g)
            _rates(ctx, sec, inst, g, by, res, tb)
        _severity_shift(ctx, sec, inst, ep)


def _rates(ctx: Ctx, sec: Section, inst: str, g: Any, by: Any, res: Any, tb: pd.DataFrame) -> None:
    """Response, remission and MCID improvement rates of one change summary ``res`` (whose
    table, with text group labels, is ``tb``)."""
    rows = []
    for flag, label in (
        ("response", "response (≥50% reduction)"),
        ("remission", "remission"),
        ("mcid", "MCID improvement"),
    ):
        if f"{flag}_k" not in res.table.columns:
            continue
        d = pd.DataFrame(
            {
                "group": tb["group"],
                "measure": label,
                "k": res.table[f"{flag}_k"].to_numpy(),
                "n": res.table[f"{flag}_n"].to_numpy(),
                "rate": res.table[f"{flag}_rate"].to_numpy(),
                "ci_low": res.table[f"{flag}_ci_low"].to_numpy(),
                "ci_high": res.table[f"{flag}_ci_high"].to_numpy(),
            }
        )
        d["_flag"] = flag
        rows.append(d)
    if rows:
        rt = pd.concat(rows, ignore_index=True)
        flags = dict(zip(rt["measure"], rt["_flag"], strict=False))
        rt = rt[["measure", "group", "k", "n", "rate", "ci_low", "ci_high"]]
        t2 = ctx.add_table(
            sec,
            f"rates_{slug(inst)}_{g or 'overall'}",
            f"{inst} response, remission and MCID improvement" + (f" by {g}" if g else ""),
            rt,
            percent=("rate", "ci_low", "ci_high"),
            counts=["k", "n"],
            by="measure",
            total_row="Overall",
            complements={"k": "n"},
            # rate = k / n gives either count back from the other
            derived={c: ["k", "n"] for c in ("rate", "ci_low", "ci_high")},
            keys={
                c: (
                    lambda r, c=c, g=g, inst=inst, flags=flags: pop_key(
                        inst, g, r["group"], f"rate_{c}|{flags[r['measure']]}"
                    )
                )
                for c in ("k", "n")
            },
            digits=3,
            method="proportions with Wilson score intervals "
            f"({100 * ctx.cfg.ci_level:g}%); definitions in the methods section",
        )
        if g == by:
            ctx.facts.setdefault("rates", {})[inst] = t2.frame


def _severity_shift(ctx: Ctx, sec: Section, inst: str, ep: pd.DataFrame) -> None:
    """Severity band at baseline by severity band at endpoint (whole cohort)."""
    res = ctx.run(sec, f"Severity shift ({inst})", lambda ep=ep: severity_shift(ep))
    if res is not None:
        tb = res.table.copy()
        wide = tb.pivot_table(
            index="baseline_band",
            columns="endpoint_band",
            values="n",
            aggfunc="sum",
            sort=False,
            observed=True,
        )
        order = list(dict.fromkeys(tb["endpoint_band"].astype("object")))
        wide = (
            wide.reindex(
                index=list(dict.fromkeys(tb["baseline_band"].astype("object"))), columns=order
            )
            .fillna(0)
            .astype(int)
        )
        wide["total"] = wide.sum(axis=1)
        wide = wide.reset_index().rename(columns={"baseline_band": "baseline band"})
        wide.columns = [str(c) for c in wide.columns]
        cols = [*order, "total"]
        ctx.add_table(
            sec,
            f"severity_shift_{slug(inst)}",
            f"{inst} severity band at baseline (rows) and endpoint (columns)",
            wide,
            counts=[str(c) for c in cols],
            total_col="total",
            keys={
                str(c): (
                    lambda r, c=c, inst=inst: pop_key(
                        inst,
                        None,
                        None,
                        f"shift_total|{r['baseline band']}"
                        if c == "total"
                        else f"shift|{r['baseline band']}|{c}",
                    )
                )
                for c in cols
            },
            result=res,
        )
        ctx.identity(
            pop_key(inst, None, None, "paired"),
            [pop_key(inst, None, None, f"shift_total|{b}") for b in wide["baseline band"]],
        )
        for _, r in wide.iterrows():  # rows add up to their total
            b = r["baseline band"]
            ctx.identity(
                pop_key(inst, None, None, f"shift_total|{b}"),
                [pop_key(inst, None, None, f"shift|{b}|{e}") for e in order],
            )
        for e in order:  # endpoint bands: column totals published nowhere, but sums
            ctx.identity(
                pop_key(inst, None, None, f"shift_col|{e}"),
                [pop_key(inst, None, None, f"shift|{b}|{e}") for b in wide["baseline band"]],
            )
