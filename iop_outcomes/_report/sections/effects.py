"""Effect sizes section (repeated-measures d, variant per row)."""

from __future__ import annotations

import pandas as pd

from ..._effectsize import rm_d
from ..context import Ctx
from ..format import slug
from ..populations import pop_key
from ..render import Section
from .common import overall_and_by


def section_effects(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    sec.p(
        "Standardised pre–post effect sizes. Several variants exist and give different numbers "
        "for the same data; each row names its variant. d_av divides the mean change by the "
        "average of the baseline and endpoint SDs; d_z by the SD of the change scores; "
        "g applies Hedges' small-sample correction."
    )
    for inst, ep in eps.items():
        g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
        parts = []
        for method in ("g_av", "d_z", "d_rm"):
            results, tb = overall_and_by(
                ctx,
                sec,
                f"Effect size {method} ({inst})",
                lambda by, method=method, ep=ep: rm_d(
                    ep, method=method, by=by, ci_level=ctx.cfg.ci_level
                ),
                g,
            )
            for res in results:
                ctx.methods.append(
                    (f"{inst} effect size {method}", res.method, dict(res.params), tuple(res.notes))
                )
            if tb is not None:
                parts.append(tb)
        if not parts:
            continue
        tb = pd.concat(parts, ignore_index=True)
        keep = [
            c
            for c in [
                "method",
                "group",
                "n_used",
                "estimate",
                "ci_low",
                "ci_high",
                "ci_method",
                "r",
            ]
            if c in tb.columns
        ]
        t = ctx.add_table(
            sec,
            f"effect_sizes_{slug(inst)}",
            f"{inst} pre–post effect sizes",
            tb[keep],
            counts=["n_used"],
            by="method",
            total_row="Overall",
            small_n={c: "n_used" for c in ("estimate", "ci_low", "ci_high", "r") if c in keep},
            keys={
                "n_used": lambda r, g=g, inst=inst: pop_key(
                    inst, g, r["group"], f"es_n|{r['method']}"
                )
            },
            method="iop.rm_d; variant per row (see methods)",
            digits=2,
        )
        ctx.facts.setdefault("effects", {})[inst] = t.frame
