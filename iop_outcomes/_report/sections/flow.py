"""Participant flow section: every episode from admission to follow-up."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..._retention import retention
from ..context import Ctx
from ..figures_flow import fig_flow
from ..format import group_labels
from ..populations import flow_pop, pop_key
from ..render import Section
from .common import study_reference

_GROUP_LABEL_ALL = "All"


def _flow_wide(flow: pd.DataFrame) -> pd.DataFrame:
    f = flow.copy()
    f["group"] = group_labels(f["group"])
    wide = f.pivot_table(
        index=["stage", "box_order", "box"],
        columns="group",
        values="n",
        aggfunc="sum",
        sort=False,
        observed=True,
    )
    groups = [g for g in wide.columns if g not in ("(all)",)]
    overall = wide["(all)"] if not groups and "(all)" in wide.columns else None
    wide = wide[groups]
    # the groups add up to all episodes; without groups, the flow is the one of all episodes
    wide[_GROUP_LABEL_ALL] = wide.sum(axis=1) if overall is None else overall
    stage_order = {s: i for i, s in enumerate(dict.fromkeys(f["stage"]))}
    wide = wide.reset_index()
    wide["_o"] = wide["stage"].map(stage_order)
    wide = wide.sort_values(["_o", "box_order"]).drop(columns=["_o", "box_order"])
    wide = wide.rename(columns={"box": "status"})
    for g in [*groups, _GROUP_LABEL_ALL]:
        wide[g] = wide[g].fillna(0).astype(int)
    return wide.reset_index(drop=True), groups


def section_flow(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str) -> Any:
    group = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    windows = tuple(
        w
        for w in ("1m", "3m", "6m", "12m")
        if f"followup_{w}" in ep.columns and ep[f"followup_{w}"].notna().any()
    )
    res = ctx.run(
        sec,
        "Participant flow",
        lambda: retention(
            ep,
            group=group,
            reference=study_reference(ctx, ep, group),
            tests=False,
            windows=windows or ("1m",),
        ),
    )
    if res is None:
        return None
    full, groups = _flow_wide(res.flow)
    cols = [*groups, _GROUP_LABEL_ALL]
    # boxes that are 0 in every group say nothing to a reader: left out of the table, but
    # still counted (as the zeros they are) in the sums the cross-table check solves
    empty = (full[cols] == 0).all(axis=1).to_numpy() & (full["stage"] != "admitted").to_numpy()
    for _, r in full[empty].iterrows():
        for c in cols:
            ctx.register(pop_key(inst, group, c, flow_pop(r["stage"], r["status"])), 0, False)
    wide = full[~empty].reset_index(drop=True)
    left_out = [str(ctx.label(v)).lower() for v in full.loc[empty, "status"]]
    sec.p(
        f"Flow of {inst} episodes from admission to follow-up. Within each stage every episode "
        "is counted in exactly one row, so each stage's rows add up to the episodes admitted."
        + (
            f" Rows that are 0 in every group are left out ({', '.join(dict.fromkeys(left_out))})."
            if left_out
            else ""
        )
    )
    t = ctx.add_table(
        sec,
        "participant_flow",
        f"Participant flow ({inst})",
        wide,
        counts=[*groups, _GROUP_LABEL_ALL],
        by="stage",
        total_col=_GROUP_LABEL_ALL,
        # a stage's statuses add up to the episodes admitted: the identities declared below
        # say so with the admitted count itself (hidden or not), where the table alone would
        # assume an implicit total is known and hide a status beside every small one
        column_totals=False,
        keys={
            c: (lambda r, c=c: pop_key(inst, group, c, flow_pop(r["stage"], r["status"])))
            for c in [*groups, _GROUP_LABEL_ALL]
        },
        result=res,
    )
    # every stage adds up to the episodes admitted; responders + non-responders = eligible
    for c in [*groups, _GROUP_LABEL_ALL]:
        for stage, sub in full.groupby("stage", sort=False):
            if stage == "admitted":
                continue
            ctx.identity(
                pop_key(inst, group, c, "admitted"),
                [pop_key(inst, group, c, flow_pop(stage, b)) for b in sub["status"]],
            )
            if str(stage).startswith("followup_"):
                w = str(stage).removeprefix("followup_")
                ctx.identity(
                    pop_key(inst, group, c, f"fu_{w}_eligible"),
                    [
                        pop_key(inst, group, c, flow_pop(stage, b))
                        for b in ("responded", "eligible, no response")
                    ],
                )
    ctx.facts["flow"] = t.frame
    fig_flow(ctx, sec, t.frame, inst, groups)
    return res
