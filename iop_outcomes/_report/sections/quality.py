"""Data quality section: the row ledger, repairs and quarantine reasons, the PHQ-9 item 9
safety screen, group labels that look like names."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..._grouping import DERIVED_GROUPINGS
from ..context import Ctx
from ..populations import pop_key
from ..render import Section
from ..safety import name_like_values


def section_quality(ctx: Ctx, sec: Section, loaded: Any) -> None:
    ledger = loaded.ledger
    counts = ledger["disposition"].value_counts()
    n_read = int(len(ledger))
    disp = pd.DataFrame(
        {
            "disposition": ["accepted", "repaired", "quarantined", "rows read"],
            "rows": [int(counts.get(k, 0)) for k in ("accepted", "repaired", "quarantined")]
            + [n_read],
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
    _name_like_groups(ctx, sec, loaded.data)
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
    counts = ctx.run(sec, "PHQ-9 item 9 screen", lambda: _safety_counts(loaded.data))
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


def _safety_counts(data: pd.DataFrame) -> tuple[int, int, int] | None:
    """The PHQ-9 rows, the episodes (patients without episode ids) with a known item 9
    answer, and those with item 9 > 0 at least once; None without the columns.

    >>> d = pd.DataFrame({"instrument": ["PHQ-9", "PHQ-9", "PHQ-9", "PHQ-9", "GAD-7"],
    ...                   "episode_id": ["a", "a", "b", None, "b"],
    ...                   "safety_flag": [False, True, None, True, True]})
    >>> _safety_counts(d)
    (4, 1, 1)
    """
    if "safety_flag" not in data.columns or "instrument" not in data.columns:
        return None
    phq = data[(data["instrument"] == "PHQ-9").fillna(False).to_numpy(dtype=bool)]
    flag = phq["safety_flag"].astype("boolean")
    known = flag.notna().to_numpy(dtype=bool)
    key = "episode_id" if "episode_id" in phq.columns else "patient_id"
    codes, _ = pd.factorize(phq[key][known])  # a missing id: -1, not counted
    pos = flag.to_numpy(dtype=bool, na_value=False)[known][codes >= 0]
    codes = codes[codes >= 0]
    n_ep = int(codes.max()) + 1 if len(codes) else 0
    k_ep = int(np.bincount(codes[pos], minlength=n_ep).astype(bool).sum())
    return len(phq), n_ep, k_ep


#: Grouping columns whose labels are fixed categories, not names (see safety.NAME_CHECK_COLUMNS)
_CATEGORY_COLUMNS = frozenset({"format", "gender_identity", "race_ethnicity", "payer"})


def _name_like_groups(ctx: Ctx, sec: Section, data: pd.DataFrame) -> None:
    """Ask about group labels that look like people's names, without repeating them (the
    shared report must not print a possible name a second time; ``LoadResult.summary()``,
    which stays inside the organisation, lists them)."""
    cols = [
        c
        for c in dict.fromkeys([*ctx.cfg.groupings, ctx.cfg.comparison_group])
        if c not in DERIVED_GROUPINGS and c not in _CATEGORY_COLUMNS
    ]
    for col, names in name_like_values(data, cols).items():
        n_all = int(data[col].nunique())
        msg = (
            f"{len(names)} of the {n_all} {col} values look like people's names (a title such "
            "as Dr or Mrs, or a first and last name). The report cannot know whether they are; "
            "if they are, rename them in the data before sharing this report: the tables show "
            f"{col} labels as given. iop.load(...).summary() lists the values."
        )
        sec.p(msg)
        if msg not in ctx.warnings:
            ctx.warnings.append(msg)
