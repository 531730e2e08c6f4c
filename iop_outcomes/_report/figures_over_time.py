"""The control chart of the "Outcomes over time" section, drawn from its suppressed table."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..plots.over_time import plot_over_time
from .figures import as_drawn, drawn_when_writing
from .render import Section, subplots

if TYPE_CHECKING:
    from .context import Ctx


def _published(t: pd.DataFrame, res: Any) -> tuple[pd.DataFrame, list[str]]:
    """The chart's table (the columns of :class:`iop_outcomes.over_time.OverTimeResult`) as
    the report publishes it: a period whose episodes, rate or limits the suppressed table ``t``
    (columns ``period``, ``episodes``, ``rate``, ``lcl``, ``ucl``) hides is a gap (no point, no limit, no signal mark), the rest
    rounded as the table files print them. Also the periods left out."""
    published = {"episodes": "n", "rate": "estimate", "lcl": "lcl", "ucl": "ucl"}
    num = {
        mine: pd.to_numeric(t[theirs], errors="coerce").astype(float)
        for theirs, mine in published.items()
    }
    shown = np.logical_and.reduce([v.notna().to_numpy() for v in num.values()])
    has = res.table["n"].notna().to_numpy()  # a period without episodes is a gap anyway
    drawn = res.table[["period"]].copy()
    for c in ("estimate", "lcl", "ucl"):
        drawn[c] = np.where(shown, num[c].to_numpy(), np.nan)
    drawn["centre"] = float(res.table["centre"].iloc[0])
    drawn = as_drawn(drawn, ["estimate", "lcl", "ucl", "centre"])
    drawn["signal"] = res.table["signal"].to_numpy() & shown
    drawn["direction"] = res.table["direction"].to_numpy()
    left_out = [str(p) for p, s, h in zip(t["period"], shown, has, strict=True) if h and not s]
    return drawn, left_out


@drawn_when_writing
def fig_over_time(ctx: Ctx, sec: Section, t: pd.DataFrame, res: Any, inst: str) -> None:
    """:func:`iop_outcomes.plots.plot_over_time` of what table ``t`` publishes."""
    drawn, left_out = _published(t, res)
    fig, ax = subplots(figsize=(6.4, 3.4), dpi=100)
    plot_over_time(dataclasses.replace(res, table=drawn), ax=ax)
    ax.set_title("")
    ax.spines[["top", "right"]].set_visible(False)
    period = res.params.get("period", "period")
    gaps = (
        f" Not drawn: {', '.join(left_out)} (its numbers are hidden in the table, small counts)."
        if left_out
        else ""
    )
    ctx.add_figure(
        sec,
        "over_time",
        f"{res.title} ({inst}), {res.chart} chart",
        fig,
        caption=f"{res.title[0].upper()}{res.title[1:]} ({inst}): one point per {period}, the "
        "centre line (the rate over all the periods) and 3-sigma control limits, which are "
        "wider for periods with fewer episodes. Coloured points are special-cause signals "
        f"(orange: concern; blue: improvement).{gaps}",
    )
