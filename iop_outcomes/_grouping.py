"""Groupings shared by the summaries: ``by=`` columns, and the ones derived when absent.

``admit_quarter`` comes from ``admit_date`` (``"2025Q1"``) and ``age_band`` from ``age``
(lower bounds :data:`DEFAULT_AGE_BANDS`, labels like ``"18-25"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .exceptions import ConfigError, DataError

__all__ = ["DEFAULT_AGE_BANDS", "DERIVED_GROUPINGS", "age_band", "age_band_labels", "group_columns"]

#: Lower bounds of the default age bands: <18, 18-25, 26-35, 36-50, 51-64, 65+.
DEFAULT_AGE_BANDS: tuple[int, ...] = (18, 26, 36, 51, 65)

#: Groupings computed when the column is absent: name -> the column they derive from.
DERIVED_GROUPINGS = {"admit_quarter": "admit_date", "age_band": "age"}


def age_band_labels(bounds: Sequence[float]) -> list[str]:
    def f(x):
        return str(int(x)) if float(x).is_integer() else str(x)

    labels = [f"<{f(bounds[0])}"]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        top = f(hi - 1) if float(lo).is_integer() and float(hi).is_integer() else f"<{f(hi)}"
        labels.append(f"{f(lo)}-{top}")
    labels.append(f"{f(bounds[-1])}+")
    return labels


def age_band(age: pd.Series, bounds, fn: str) -> pd.Series:
    try:
        bounds = [float(x) for x in bounds]
    except (TypeError, ValueError):
        raise ConfigError(
            f"The 'age_bands' parameter of {fn} must be increasing lower bounds, e.g. "
            f"{list(DEFAULT_AGE_BANDS)}. Got {bounds!r} instead."
        ) from None
    if len(bounds) < 1 or any(b2 <= b1 for b1, b2 in zip(bounds[:-1], bounds[1:], strict=True)):
        raise ConfigError(
            f"The 'age_bands' parameter of {fn} must be strictly increasing lower bounds, e.g. "
            f"{list(DEFAULT_AGE_BANDS)}. Got {bounds!r} instead."
        )
    a = pd.to_numeric(age, errors="coerce")
    edges = [-np.inf, *bounds, np.inf]
    return pd.cut(a, bins=edges, labels=age_band_labels(bounds), right=False)


def group_columns(df: pd.DataFrame, by, fn: str, age_bands) -> tuple[pd.DataFrame, list[str]]:
    """Return a frame of grouping columns (derived ones computed) and their names."""
    if by is None:
        return pd.DataFrame(index=df.index), []
    cols = [by] if isinstance(by, str) else list(by)
    if not all(isinstance(c, str) for c in cols):
        raise ConfigError(
            f"The 'by' parameter of {fn} must be a column name or a list of names. "
            f"Got {by!r} instead."
        )
    # results are always split by instrument already; repeated names count once
    cols = [c for c in dict.fromkeys(cols) if c != "instrument"]
    out = {}
    for c in cols:
        if c in df.columns:
            out[c] = df[c]
        elif c in DERIVED_GROUPINGS:
            if DERIVED_GROUPINGS[c] not in df.columns:
                raise DataError(
                    f"{fn}: by={c!r} is derived from {DERIVED_GROUPINGS[c]!r}, which the data lack."
                )
            if c == "admit_quarter":
                d = pd.to_datetime(df["admit_date"], errors="coerce")
                out[c] = d.dt.to_period("Q").astype(str).where(d.notna(), None)
            else:
                bounds = DEFAULT_AGE_BANDS if age_bands is None else age_bands
                out[c] = age_band(df["age"], bounds, fn)
        else:
            raise DataError(
                f"{fn}: cannot group by {c!r}: no such column. Columns present: "
                f"{[str(x) for x in df.columns]}; derived groupings: {list(DERIVED_GROUPINGS)}."
            )
    return pd.DataFrame(out, index=df.index), cols
