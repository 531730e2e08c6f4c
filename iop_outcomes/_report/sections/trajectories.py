"""Weekly trajectories (linear mixed model) in the symptom change section."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from ..._trajectories import trajectories
from ..context import Ctx
from ..figures import as_drawn, fig_trajectories
from ..format import slug
from ..render import Section
from .common import study_reference


def section_trajectories(ctx: Ctx, sec: Section, loaded: Any, inst: str) -> None:
    if not ctx.cfg.trajectories_enabled:
        return
    g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in loaded.data.columns else None
    sec.html(f"<h3>Weekly trajectories ({html.escape(inst)})</h3>")
    sec.p(
        "All in-treatment scores, not only the first and last, modelled with a linear mixed "
        "model (random intercept and slope per episode). The lines are model-based mean scores "
        "by week; the table gives the fixed effects (the weekly slope and how it differs by "
        "group)."
    )
    if ctx.facts.get("model_sample"):  # on Dask, fitted on a sample of the episodes
        sec.p(ctx.facts["model_sample"])
    res = ctx.run(
        sec,
        "Trajectories",
        lambda: trajectories(
            loaded.data,
            instrument=inst,
            group=g,
            reference=study_reference(ctx, loaded.data, g),  # as the comparisons
            ci_level=ctx.cfg.ci_level,
        ),
    )
    if res is None:
        return
    tb = res.to_frame()
    keep = [c for c in ["term", "estimate", "ci_low", "ci_high", "pvalue"] if c in tb.columns]
    ctx.add_table(
        sec,
        f"trajectory_{slug(inst)}",
        f"{inst} weekly trajectory model: fixed effects",
        tb[keep],
        result=res,
    )
    means = getattr(res, "means", None)
    if isinstance(means, pd.DataFrame) and len(means) and {"week", "estimate"} <= set(means):
        fig_trajectories(ctx, sec, as_drawn(means, ["week", "estimate", "ci_low", "ci_high"]), inst)
