"""Missing-data sensitivity section (in the retention section): the headline result under
methods that assume different reasons for missing endpoint scores."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..._sensitivity.api import sensitivity_of
from ..context import Ctx
from ..populations import ALL, PopKey, pop_key
from ..render import Section
from .common import contrast_sides


def section_sensitivity(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str, sens: Any) -> None:
    """Missing-data sensitivity of the primary result (methods from the study configuration),
    or a line saying it was turned off. ``sens``: the primary instrument's episodes with the
    discharge endpoint and their assessment roles, from the report's one episode pass."""
    g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    if not ctx.cfg.sensitivity_enabled:
        sec.p("Missing-data sensitivity analysis was turned off in the study configuration.")
        return
    sec.p(
        "Episodes without an end-of-treatment score are handled differently by different "
        "methods, and each rests on an assumption about why scores are missing. If the rows "
        "below agree, the headline result does not depend on that choice."
    )
    sampled = ctx.facts.get("model_sample")
    if sampled:  # on Dask, fitted on a sample of the episodes
        sec.p(sampled)
    res = ctx.run(
        sec,
        "Missing-data sensitivity",
        lambda: sensitivity_of(
            *sens,
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
            # each row's n_used + n_missing is the (published) number of episodes: a hidden
            # n_missing hides its n_used too; rows are methods, not parts of a total
            total_col=True,
            column_totals=False,
            keys={
                "n_used": lambda r: _sens_key(inst, g, r, "sens_n"),
                "n_missing": lambda r: _sens_key(inst, g, r, "sens_missing"),
            },
            result=res,
        )
        # each contrast's n_used is (at most) the union of its two groups; whole-cohort
        # counts repeated in contrast rows are tied to the whole-cohort ones. Fitted on a
        # sample, the groups are the sample's: the same ties, to populations of their own
        admitted = "sample_admitted" if sampled else "admitted"
        for _, r in tb.iterrows():
            for pop in ("sens_n", "sens_missing"):
                k = _sens_key(inst, g, r, pop)
                if k[1] != ALL:
                    ctx.identity(pop_key(inst, None, None, f"{pop}|{r['method']}"), [k])
            k = _sens_key(inst, g, r, "sens_n")
            if k[1] != ALL:
                a, b = contrast_sides(r["contrast"])
                ctx.identity(k, [pop_key(inst, g, a, admitted), pop_key(inst, g, b, admitted)])
            elif r["method"] == "completers":
                ctx.identity(
                    pop_key(inst, None, None, admitted),
                    [k, _sens_key(inst, g, r, "sens_missing")],
                )
        ctx.facts["sensitivity"] = res


def _sens_key(inst: str, g: str | None, r: pd.Series, pop: str) -> PopKey:
    c = r.get("contrast", "")
    if g is None or not isinstance(c, str) or not c.strip():
        return pop_key(inst, None, None, f"{pop}|{r['method']}")
    return pop_key(inst, f"{g}(contrast)", c, f"{pop}|{r['method']}")
