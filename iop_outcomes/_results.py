"""Result objects shared by every analysis.

A result holds numbers as a tidy :class:`pandas.DataFrame` (numeric, unrounded)
plus what produced them (``method``, parameters) and caveats (``notes``).
Formatting happens only when printing: ``str(result)`` gives a plain-text
table, ``result._repr_html_()`` a notebook table, ``result.to_frame()`` a copy
of the numbers (after statsmodels' and lifelines' result objects).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TableResult", "format_table", "format_p", "MISSING_GROUP"]

#: The label of a group whose grouping value is missing, in every result table.
MISSING_GROUP = "(missing)"


def format_p(p: float) -> str:
    """Format a p-value the way journals print it.

    Examples
    --------
    >>> format_p(0.0004), format_p(0.0312), format_p(0.5)
    ('< .001', '.031', '.500')
    """
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return ""
    if p < 0.001:
        return "< .001"
    return f"{p:.3f}".lstrip("0")


def fmt_value(col: str, v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if col in ("pvalue", "p_value") or col.endswith("_pvalue"):
        return format_p(float(v))
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if float(v).is_integer() and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{float(v):.{digits}f}"
    return str(v)


def format_table(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Return a string copy of ``df`` for display: p-values as ``< .001``,
    floats to ``digits`` places, integers with thousands separators."""
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        out[c] = [fmt_value(str(c), v, digits) for v in df[c].tolist()]
    return out


@dataclass(frozen=True)
class TableResult:
    """A table of results with its provenance and caveats.

    Parameters
    ----------
    table : DataFrame
        The numbers, one row per estimate (or group), numeric and unrounded.
    title : str
        What the table shows.
    method : str
        The method or definition that produced the numbers (always shown).
    params : dict
        Parameters used (reliability, SD, thresholds, windows, ...).
    notes : tuple of str
        Caveats printed under the table.
    roles : dict
        What each column counts, for small-cell rules (``iop.report`` reads them): ``"count"``
        (a count of episodes), ``"count of N"`` (a count among the ``N`` of column ``N``: the
        rest, ``N`` minus it, is a count too), ``"from A, B"`` (computed from those counts:
        it gives them back, as a rate or its interval does) and ``"statistic of A, B"`` (a
        mean, SD or effect size of those episodes: uninformative unless they are few).
        Columns without a role are labels or values that count nobody.
    """

    table: pd.DataFrame
    title: str = ""
    method: str = ""
    params: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    digits: int = 2
    roles: dict = field(default_factory=dict, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the numeric table (tidy, one row per estimate)."""
        return self.table.copy()

    def _footer(self) -> list[str]:
        lines = []
        if self.method:
            lines.append(f"Method: {self.method}")
        if self.params:
            shown = ", ".join(f"{k}={_fmt_param(v)}" for k, v in self.params.items())
            lines.append(f"Parameters: {shown}")
        lines.extend(self.notes)
        return lines

    def _display(self) -> tuple[pd.DataFrame, list[str]]:
        """The rows and columns printed, and lines said about what is left out (all, none)."""
        return self.table, []

    def summary(self) -> str:
        """Plain-text rendering: title, table, method, parameters, notes."""
        shown, cut = self._display()
        body = format_table(shown, self.digits).to_string(index=not _trivial_index(shown))
        parts = [self.title] if self.title else []
        return "\n".join([*parts, body, *cut, *self._footer()])

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        shown, cut = self._display()
        table = format_table(shown, self.digits).to_html(
            index=not _trivial_index(shown), border=0, classes="iop-table"
        )
        head = f"<p><strong>{html.escape(self.title)}</strong></p>" if self.title else ""
        foot = "".join(f"<br><small>{html.escape(s)}</small>" for s in [*cut, *self._footer()])
        return f"<div>{head}{table}{foot}</div>"


def _trivial_index(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.RangeIndex) and df.index.name is None


def _fmt_param(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
