"""Helpers shared by several sections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ..context import Ctx
from ..format import group_labels
from ..render import Section


def overall_and_by(ctx: Ctx, sec: Section, what: str, fn: Callable[[Any], Any], g):
    """Run ``fn(by)`` overall and, when ``g`` is given, by ``g``.

    Returns the results that ran and one table of them with a text ``group`` column
    (``"Overall"`` or the level of ``g``), or ``None`` when none ran.
    """
    results, parts = [], []
    for by in [None, g] if g else [None]:
        res = ctx.run(sec, what, lambda by=by: fn(by), by=by)
        if res is None:
            continue
        tb = res.to_frame().copy()
        if by is None:
            tb.insert(0, "group", "Overall")
        else:
            tb = tb.rename(columns={by: "group"})
        results.append(res)
        parts.append(tb)
    if not parts:
        return results, None
    tb = pd.concat(parts, ignore_index=True)
    tb["group"] = group_labels(tb["group"])
    return results, tb


def contrast_sides(label: Any) -> tuple[str, str]:
    """``"virtual - in_person"`` (or with a minus sign) -> ``("virtual", "in_person")``."""
    for sep in (" − ", " - "):
        if sep in str(label):
            a, b = str(label).split(sep, 1)
            return a.strip(), b.strip()
    return str(label), ""


def study_reference(ctx: Ctx, rows: pd.DataFrame, group: str | None) -> str | None:
    """The study's reference group (``[comparison] reference``) when ``group`` has that level,
    else ``None`` (the analysis's own default): tables and figures list it first, and models
    contrast with it, as the comparison sections do.

    Examples
    --------
    >>> from iop_outcomes._report.config import StudyConfig
    >>> ctx = Ctx(StudyConfig(), strict=True)
    >>> rows = pd.DataFrame({"format": ["virtual", "in_person"]})
    >>> study_reference(ctx, rows, "format"), study_reference(ctx, rows.iloc[:1], "format")
    ('in_person', None)
    """
    ref = ctx.cfg.comparison_reference
    if group is None or group not in rows.columns:
        return None
    return ref if (rows[group].astype(object) == ref).any() else None
