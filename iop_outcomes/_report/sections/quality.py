"""Data quality section: the row ledger, repairs and quarantine reasons, the PHQ-9 item 9
safety screen, group labels that look like names."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..context import Ctx
from ..inputs import group_labels, name_columns, rows_read, safety_of
from ..populations import pop_key
from ..render import Section
from ..safety import name_like_values


def section_quality(ctx: Ctx, sec: Section, loaded: Any) -> None:
    counts = loaded.counts()
    n_read = rows_read(loaded)
    disp = pd.DataFrame(
        {
            "disposition": ["accepted", "repaired", "quarantined", "rows read"],
            "rows": [int(counts[k]) for k in ("accepted", "repaired", "quarantined")] + [n_read],
        }
    )
    disp["share"] = disp["rows"] / max(n_read, 1)
    sec.p(
        "Every row of the input file ends with exactly one disposition: accepted as it was, "
        "accepted with a recorded repair (for example a total prorated from answered items or "
        "a synonym mapped to the standard label), or quarantined with a reason. Quarantined "
        "rows are excluded from every analysis below. Counts here are questionnaire "
        "administrations (rows), not people."
    )
    t = ctx.add_table(
        sec,
        "ledger_dispositions",
        "Input rows by disposition",
        disp,
        percent=("share",),
        counts=["rows"],
        shares={"share": "rows"},
        total_row="rows read",
        keys={"rows": lambda r: pop_key("rows", None, None, f"ledger|{r['disposition']}")},
        method="iop.load validation and scoring (row ledger)",
    )
    ctx.facts["ledger"] = t.frame
    _name_like_groups(ctx, sec, loaded)
    summ = (
        ctx.run(sec, "Ledger summary", lambda: loaded.summary().to_frame())
        if hasattr(loaded, "summary")
        else None
    )
    summ = summ if summ is not None else pd.DataFrame()
    label = next((c for c in ("check", "reason") if c in summ.columns), None)
    if label is not None and "rows" in summ.columns:
        tab = summ[summ["disposition"].astype("object") != "accepted"][
            ["disposition", label, "rows"]
        ].copy()
        tab[label] = tab[label].astype("object").fillna("(none)").astype(str)
        if len(tab):
            ctx.add_table(
                sec,
                "ledger_reasons",
                "Repairs and quarantine reasons",
                tab.rename(columns={label: "reason"}),
                counts=["rows"],
                by="disposition",
                # each disposition's reasons add up to its rows in Table 1 (unless a row has
                # several): declared below with that count itself, hidden or not, rather than
                # assumed known within this table
                column_totals=False,
                keys={
                    "rows": lambda r: pop_key(
                        "rows", None, None, f"ledger|{r['disposition']}|{r['reason']}"
                    )
                },
                method="iop.load validation and scoring (row ledger)",
            )
            for d, sub in tab.groupby("disposition", sort=False, observed=True):
                ctx.identity(
                    pop_key("rows", None, None, f"ledger|{d}"),
                    [pop_key("rows", None, None, f"ledger|{d}|{r}") for r in sub[label]],
                )
    counts = ctx.run(sec, "PHQ-9 item 9 screen", lambda: safety_of(loaded))
    if counts is not None:
        n_rows, n_ep, k_ep = counts
        if n_rows and n_ep == 0:
            sec.p(
                "PHQ-9 item 9 (thoughts of death or self-harm) could not be counted: the data "
                "give totals without item responses."
            )
        elif n_rows:
            st = pd.DataFrame(
                {
                    "episodes": ["item 9 > 0 at least once", "item 9 always 0", "total"],
                    "n": [k_ep, n_ep - k_ep, n_ep],
                }
            )
            st["pct"] = st["n"] / max(n_ep, 1)
            sec.p(
                "PHQ-9 item 9 asks about thoughts of death or self-harm. Any answer above 0 is "
                "a positive screen that calls for the program's risk-assessment protocol; it is "
                "counted here and never imputed or dropped."
            )
            ctx.facts["safety"] = ctx.add_table(
                sec,
                "safety_item",
                "Episodes with a positive PHQ-9 item 9 response",
                st,
                percent=("pct",),
                counts=["n"],
                shares={"pct": "n"},
                total_row="total",
                keys={
                    "n": lambda r: pop_key(
                        "PHQ-9",
                        None,
                        None,
                        {"total": "safety_known", "item 9 always 0": "safety|neg"}.get(
                            r["episodes"], "safety|pos"
                        ),
                    )
                },
                method="safety_flag from iop.load: PHQ-9 item 9 > 0 (Simon et al. 2013)",
                digits=3,
            )


def _name_like_groups(ctx: Ctx, sec: Section, loaded: Any) -> None:
    """Ask about group labels that look like people's names, without repeating them (the
    shared report must not print a possible name a second time; ``LoadResult.summary()``,
    which stays inside the organisation, lists them)."""
    for col, values in group_labels(loaded, name_columns(ctx.cfg)).items():
        names = name_like_values(values.to_frame(col), [col]).get(col)
        if not names:
            continue
        n_all = int(values.nunique())
        msg = (
            f"{len(names)} of the {n_all} {col} values look like people's names (a title such "
            "as Dr or Mrs, or a first and last name). The report cannot know whether they are; "
            "if they are, rename them in the data before sharing this report: the tables show "
            f"{col} labels as given. iop.load(...).summary() lists the values."
        )
        sec.p(msg)
        if msg not in ctx.warnings:
            ctx.warnings.append(msg)
