"""The reporting period's accounting in the report: a table in Data quality (episodes by where
they fell relative to the period) and a sentence at the top of Participant flow. The period
itself (parsing, selecting episodes) is :mod:`iop_outcomes._report.period`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..period import PLACES, PeriodSelection, day_text, place_labels
from ..populations import pop_key


def section_period(ctx: Any, quality: Any, flow: Any, sel: PeriodSelection) -> None:
    """The accounting of the period: a table in Data quality (episodes by where they fell),
    and a sentence at the top of Participant flow.

    The table has no total row: the episodes in the period are the participant flow's
    "admitted", so a total would make a small count outside the period the difference of two
    published numbers, and complementary suppression would then hide the number admitted
    everywhere. Without it, a small count is hidden alone. Every episode is registered under
    its population, and the sum of them declared, for the cross-table check."""
    inst = ctx.cfg.primary_instrument
    labels = place_labels(sel.period.by)
    c = sel.counts(None)  # every episode: the flow's "admitted" counts them all
    pops = {"in": "admitted", "before": "period|before", "after": "period|after"}
    pops |= {"undated": "period|undated"}
    shown = c[(c["episodes"] > 0) | (c["place"] == "in")].copy()
    for p in c.loc[~c.index.isin(shown.index), "place"]:  # zeros left out, still counted
        ctx.register(pop_key(inst, None, None, pops[p]), 0, False)
    place = shown["place"].to_numpy()
    shown = pd.DataFrame({"episodes": shown["place"].map(labels), "n": shown["episodes"]})
    quality.p(
        f"Reporting period {sel.period.describe()}. Episodes outside it are not analysed in "
        "this report: the table counts them (episodes of any instrument, as the participant "
        "flow counts them); their questionnaire rows keep their disposition in the row ledger "
        "above."
    )
    of = dict(zip(shown["episodes"], place, strict=True))
    ctx.add_table(
        quality,
        "reporting_period",
        f"Episodes by reporting period ({sel.period.text})",
        shown,
        counts=["n"],
        column_totals=False,
        keys={"n": lambda r: pop_key(inst, None, None, pops[of[r["episodes"]]])},
        method="episodes placed by their "
        + ("discharge date" if sel.period.by == "discharge" else "admission date")
        + " (see docs/report.md, Reporting period)",
    )
    ctx.identity(
        pop_key(inst, None, None, "period|all"),
        [pop_key(inst, None, None, pops[p]) for p in PLACES],
    )
    verb = "discharged" if sel.period.by == "discharge" else "admitted"
    flow.p(
        f"This report covers the episodes {verb} in the reporting period {sel.period.text} "
        f"({day_text(sel.period.start)} to {day_text(sel.period.end)}). Episodes outside it are "
        "counted in the Data quality section and not analysed here."
    )
