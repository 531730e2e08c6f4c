"""Small text formatting helpers for the report's running text.

>>> n_of("1,126", "1,200")
'1,126 of 1,200 episodes'
>>> safe_count(7, 11), safe_count(1200, 11), safe_count(1198, 5, rounded=True)
('<11', '1,200', '1,200')
>>> month_text("last assessment 2025-06-17")
'last assessment 2025-06'
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .._results import MISSING_GROUP


def fmt_n(v: Any, threshold: int | None) -> str:
    if isinstance(v, str):
        return "fewer than " + v[1:] if v.startswith("<") else "a suppressed number"
    return f"{int(v):,}"


def n_of(k: str, n: str) -> str:
    """'1,126 of 1,200 episodes', 'Of 240 episodes, fewer than 11', ... (counts as fmt_n
    gives them, hidden ones in words)."""
    k_hidden, n_hidden = not k[:1].isdigit(), not n[:1].isdigit()
    if n_hidden and k_hidden:
        return "A suppressed number of episodes"
    if n_hidden:
        return f"{k} episodes"
    if k_hidden:
        return f"Of {n} episodes, {k}"
    return f"{k} of {n} episodes"


def percent_text(v: Any) -> str:
    return f"{100 * float(v):.0f}%"


def group_labels(s: pd.Series) -> pd.Series:
    """Group labels as text, a missing group value as "(missing)" (as change_summary and
    retention label it), so that every table names a group the same way."""
    o = s.astype("object")
    return o.where(o.notna(), MISSING_GROUP).astype(str)


_DATE_RE = re.compile(r"\b(\d{4}-\d{2})-\d{2}(?:[ T][0-9:.]+)?\b")


def month_text(v: Any) -> str:
    """Parameter text with exact dates cut to the month (an exact date such as the last
    assessment in the data can belong to one person)."""
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        v = str(pd.Timestamp(v).date())
    return _DATE_RE.sub(r"\1", fmt_param(v))


def is_count_key(k: str) -> bool:
    k = str(k).lower()
    return k in ("n", "count", "k") or k.startswith("n_") or k.endswith("_n")


def safe_count(v: Any, threshold: int | None, *, rounded: bool = False) -> str:
    """A count for running text, small-cell suppressed like the tables (``rounded``: to the
    nearest 5, the ``"round5"`` policy)."""
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        return fmt_param(v)
    if threshold is not None and 1 <= float(v) < threshold:
        return f"<{threshold}"
    if rounded:
        return f"{int(np.floor(float(v) / 5 + 0.5) * 5):,}"
    return f"{int(v):,}" if float(v).is_integer() else fmt_param(v)


def disclosure_line(policy: str, threshold: int | None) -> str:
    """The disclosure-control policy in one line (the provenance block).

    >>> disclosure_line("cms", 11)
    'threshold 11 (counts 1-10 hidden)'
    >>> disclosure_line("round5", 5)
    'round5: counts rounded to the nearest 5, counts 1-4 shown as <5'
    """
    if threshold is None or policy == "none":
        return "OFF"
    if policy == "round5":
        return (
            f"round5: counts rounded to the nearest 5, counts 1-{threshold - 1} shown as "
            f"<{threshold}"
        )
    return f"threshold {threshold} (counts 1-{threshold - 1} hidden)"


def disclosure_sentence(policy: str, threshold: int | None) -> str:
    """The disclosure-control policy in one sentence a board member reads (the summary).

    >>> disclosure_sentence("round5", 5)[:60]
    'To protect privacy, every count is rounded to the nearest 5 '
    """
    if threshold is None or policy == "none":
        return "Small-cell suppression was turned OFF for this report."
    if policy == "round5":
        return (
            "To protect privacy, every count is rounded to the nearest 5 and counts from 1 to "
            f"{threshold - 1} are shown as '<{threshold}'; percentages are worked out from the "
            "rounded counts."
        )
    return (
        f"Counts from 1 to {threshold - 1} are hidden (shown as '<{threshold}') to protect privacy."
    )


def fmt_param(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_param(x) for x in v) + "]"
    return str(v)


def slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(s).lower()).strip("_")
