"""Small text formatting helpers for the report's running text.

>>> _n_of("1,126", "1,200")
'1,126 of 1,200 episodes'
>>> _safe_count(7, 11), _safe_count(1200, 11)
('<11', '1,200')
>>> _month("last assessment 2025-06-17")
'last assessment 2025-06'
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .._results import MISSING_GROUP


def _fmt_n(v: Any, threshold: int | None) -> str:
    if isinstance(v, str):
        return "fewer than " + v[1:] if v.startswith("<") else "a suppressed number"
    return f"{int(v):,}"


def _n_of(k: str, n: str) -> str:
    """'1,126 of 1,200 episodes', 'Of 240 episodes, fewer than 11', ... (counts as _fmt_n
    gives them, hidden ones in words)."""
    k_hidden, n_hidden = not k[:1].isdigit(), not n[:1].isdigit()
    if n_hidden and k_hidden:
        return "A suppressed number of episodes"
    if n_hidden:
        return f"{k} episodes"
    if k_hidden:
        return f"Of {n} episodes, {k}"
    return f"{k} of {n} episodes"


def _pct(v: Any) -> str:
    return f"{100 * float(v):.0f}%"


def _labels(s: pd.Series) -> pd.Series:
    """Group labels as text, a missing group value as "(missing)" (as change_summary and
    retention label it), so that every table names a group the same way."""
    o = s.astype("object")
    return o.where(o.notna(), MISSING_GROUP).astype(str)


_DATE_RE = re.compile(r"\b(\d{4}-\d{2})-\d{2}(?:[ T][0-9:.]+)?\b")


def _month(v: Any) -> str:
    """Parameter text with exact dates cut to the month (an exact date such as the last
    assessment in the data can belong to one person)."""
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        v = str(pd.Timestamp(v).date())
    return _DATE_RE.sub(r"\1", _fmt_param(v))


def _is_count_key(k: str) -> bool:
    k = str(k).lower()
    return k in ("n", "count", "k") or k.startswith("n_") or k.endswith("_n")


def _safe_count(v: Any, threshold: int | None) -> str:
    """A count for running text, small-cell suppressed like the tables."""
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        return _fmt_param(v)
    if threshold is not None and 1 <= float(v) < threshold:
        return f"<{threshold}"
    return f"{int(v):,}" if float(v).is_integer() else _fmt_param(v)


def _fmt_param(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt_param(x) for x in v) + "]"
    return str(v)


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(s).lower()).strip("_")
