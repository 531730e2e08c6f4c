"""The reporting period: which episodes a report covers (its accounting in the report:
:mod:`.sections.period`).

A period is written as a year (``2025``), a quarter (``2025-Q1``), a month (``2025-01``), a
day (``2025-01-01``) or a range of any two of them (``2025-Q1..2025-Q4``,
``2025-01-01..2025-03-31``); both ends are included.

Which episodes a period selects (``period_by``):

* ``"discharge"`` (default): episodes **discharged** in the period (``discharge_date`` within
  it), the definition of NHS Talking Therapies' outcome statistics, which report the
  "finished courses of treatment" of referrals that *ended* in the period (NHS England, NHS
  Talking Therapies for anxiety and depression, monthly and annual reports: definitions). An
  outcome report describes episodes whose treatment has ended, so every selected episode has
  had the chance of a discharge score. Episodes without a discharge date (still in treatment,
  or not recorded) belong to no discharge period.
* ``"admission"``: episodes **admitted** in the period (``admit_date``; without it, the
  episode's first assessment, the admission rule of :func:`iop_outcomes.episodes`), the
  intake-period definition of HEDIS DRR-E (NCQA, Depression Remission or Response for
  Adolescents and Adults: index episode start date in the intake period). Episodes admitted
  late in the period may not have ended yet.

An episode's dates are read from all its rows, whatever the instrument (the earliest
``admit_date``, the latest ``discharge_date``), so an episode is in or out of the period as a
whole. Episodes outside the period are not analysed, and never dropped silently: the Data
quality section counts them by where they fall (before, after, no date), and every row stays
in the row ledger with its disposition (:meth:`PeriodSelection.counts` also gives their rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError

__all__ = ["Period", "parse_period", "PERIOD_BY"]

#: the episode date that places an episode in a period
PERIOD_BY = ("discharge", "admission")

_FORMS = (
    "a year (2025), a quarter (2025-Q1), a month (2025-01), a day (2025-01-01) or a range of "
    "them written with '..' (2025-Q1..2025-Q4, 2025-01-01..2025-03-31)"
)
_TOKEN = re.compile(r"^(?P<y>\d{4})(?:-(?:[Qq](?P<q>[1-4])|(?P<m>\d{2})(?:-(?P<d>\d{2}))?))?$")


@dataclass(frozen=True)
class Period:
    """A reporting period: first and last day (both included) and how episodes are placed.

    Examples
    --------
    >>> p = parse_period("2025-Q1..2025-Q2")
    >>> p.start.date(), p.end.date(), p.by
    (datetime.date(2025, 1, 1), datetime.date(2025, 6, 30), 'discharge')
    >>> p.describe()
    '2025-Q1..2025-Q2 (1 January 2025 to 30 June 2025): episodes discharged in the period'
    """

    text: str
    start: pd.Timestamp
    end: pd.Timestamp
    by: str = "discharge"

    def describe(self) -> str:
        """The period in words, as the first page states it."""
        verb = "discharged" if self.by == "discharge" else "admitted"
        dates = f"{day_text(self.start)} to {day_text(self.end)}"
        return f"{self.text} ({dates}): episodes {verb} in the period"


def day_text(t: pd.Timestamp) -> str:
    return f"{t.day} {t:%B %Y}"


def _bounds(token: str, what: str, source: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of one period token (``2025``, ``2025-Q1``, ``2025-01``, a day)."""
    m = _TOKEN.match(token.strip())
    if m is None:
        raise ConfigError(f"The 'period' {source} must be {_FORMS}. Got {what!r} instead.")
    y = int(m["y"])
    if m["q"]:
        start = pd.Timestamp(y, 3 * int(m["q"]) - 2, 1)
        return start, start + pd.offsets.QuarterEnd(0)
    if m["m"] is None:
        return pd.Timestamp(y, 1, 1), pd.Timestamp(y, 12, 31)
    month = int(m["m"])
    if not 1 <= month <= 12:
        raise ConfigError(
            f"The 'period' {source} names month {month:02d}, which does not exist: months are "
            f"01 to 12 (e.g. {y}-01). Got {what!r} instead."
        )
    if m["d"] is None:
        start = pd.Timestamp(y, month, 1)
        return start, start + pd.offsets.MonthEnd(0)
    try:
        day = pd.Timestamp(y, month, int(m["d"]))
    except ValueError:
        raise ConfigError(
            f"The 'period' {source} names {token.strip()}, a day that does not exist in the "
            f"calendar. Got {what!r} instead."
        ) from None
    return day, day


def parse_period(text: str | Period, *, by: str = "discharge", source: str = "parameter") -> Period:
    """Read a reporting period.

    Parameters
    ----------
    text : str
        ``2025`` (a year), ``2025-Q1`` (a quarter), ``2025-01`` (a month), ``2025-01-01``
        (a day) or a range ``A..B`` of any two of these: from the first day of ``A`` to the
        last day of ``B``.
    by : {"discharge", "admission"}
        The episode date that places an episode in the period (see the module docstring).
    source : str
        Where the period was given, for error messages ("parameter", "option --period",
        "key in [report] of study.toml").

    Returns
    -------
    Period

    Examples
    --------
    >>> p = parse_period("2025-01..2025-03")
    >>> str(p.start.date()), str(p.end.date())
    ('2025-01-01', '2025-03-31')
    >>> str(parse_period("2024").end.date()), str(parse_period("2024-02").end.date())
    ('2024-12-31', '2024-02-29')
    >>> parse_period("2025-Q5")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ConfigError: The 'period' parameter must be a year (2025), a quarter (2025-Q1), ...
    """
    if isinstance(text, Period):
        return replace(text, by=by) if by != text.by else text
    if by not in PERIOD_BY:
        raise ConfigError(
            f"The 'period_by' {source} must be one of {list(PERIOD_BY)} (the episode date that "
            f"places an episode in the period). Got {by!r} instead."
        )
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"The 'period' {source} must be {_FORMS}. Got {text!r} instead.")
    parts = [p.strip() for p in text.strip().split("..")]
    if len(parts) > 2 or not all(parts):
        raise ConfigError(
            f"The 'period' {source} must be {_FORMS}: one '..' between two ends. "
            f"Got {text!r} instead."
        )
    start = _bounds(parts[0], text, source)[0]
    end = _bounds(parts[-1], text, source)[1]
    if start > end:
        raise ConfigError(
            f"The 'period' {source} starts after it ends ({day_text(start)} is after {day_text(end)}): "
            f"write the earlier end first, e.g. {parts[-1]}..{parts[0]}. Got {text!r} instead."
        )
    norm = "..".join(p.upper() if "q" in p.lower() else p for p in parts)
    return Period(text=norm, start=start, end=end, by=by)


#: where an episode falls, in table order: label by period_by
PLACES = ("in", "before", "after", "undated")


def place_labels(by: str) -> dict[str, str]:
    verb = "discharged" if by == "discharge" else "admitted"
    return {
        "in": f"{verb} in the period (analysed)",
        "before": f"{verb} before the period",
        "after": f"{verb} after the period",
        "undated": "no discharge date (still in treatment, or not recorded)"
        if by == "discharge"
        else "no admission or assessment date",
    }


@dataclass(frozen=True)
class PeriodSelection:
    """The outcome of :func:`select_period`: where every episode of the data falls."""

    period: Period
    #: episode_id -> one of "in", "before", "after", "undated"
    place: pd.Series
    #: all accepted rows (before the selection), for the accounting
    data: pd.DataFrame

    def counts(self, instrument: str | None) -> pd.DataFrame:
        """Episodes (with a score of ``instrument``; all when ``None``, as the participant
        flow counts them) and questionnaire rows (every instrument) by where the episode
        falls, in :data:`PLACES` order."""
        d = self.data
        eid = d["episode_id"].astype("object")
        rows = eid.map(self.place).value_counts()
        if instrument is not None:
            eid = eid[(d["instrument"].astype("object") == instrument).to_numpy()]
        eps = self.place.loc[pd.unique(eid)].value_counts()
        return pd.DataFrame(
            {
                "place": list(PLACES),
                "episodes": [int(eps.get(p, 0)) for p in PLACES],
                "rows": [int(rows.get(p, 0)) for p in PLACES],
            }
        )


def _episode_place(data: pd.DataFrame, period: Period) -> pd.Series:
    """Where each episode falls relative to the period (vectorized over rows)."""
    eid = data["episode_id"].astype("object")

    def per_episode(col: str, how: str) -> pd.Series:
        if col not in data.columns:
            return pd.Series(pd.NaT, index=pd.unique(eid), dtype="datetime64[ns]")
        d = pd.to_datetime(data[col], errors="coerce")
        return d.groupby(eid, sort=False, observed=True).agg(how).reindex(pd.unique(eid))

    if period.by == "discharge":
        when = per_episode("discharge_date", "max")
    else:
        when = per_episode("admit_date", "min")
        when = when.fillna(per_episode("assessment_date", "min"))
    days = when.dt.normalize()
    place = np.select(
        [days.isna().to_numpy(), (days < period.start).to_numpy(), (days > period.end).to_numpy()],
        ["undated", "before", "after"],
        default="in",
    )
    return pd.Series(place, index=when.index, name="place")


def select_period(loaded: Any, period: Period) -> tuple[Any, PeriodSelection]:
    """Keep the rows of the episodes in ``period``; say where every other episode fell.

    Returns the load result with ``data`` reduced to the selected episodes (its ledger, one
    row per source record, is unchanged) and the :class:`PeriodSelection`.

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> rows = pd.DataFrame({
    ...     "episode_id": ["a", "a", "b", "c"], "instrument": "PHQ-9",
    ...     "discharge_date": pd.to_datetime(["2025-02-01", "2025-02-01", "2025-05-02", None]),
    ... })
    >>> kept, sel = select_period(SimpleNamespace(data=rows), parse_period("2025-Q1"))
    >>> list(kept.data["episode_id"]), sel.place.to_dict()
    (['a', 'a'], {'a': 'in', 'b': 'after', 'c': 'undated'})
    """
    data = loaded.data
    if "episode_id" not in data.columns:
        raise DataError(
            "A reporting period selects episodes, but the data have no 'episode_id' column. "
            "Add it (docs/data-format.md) or leave out the period."
        )
    place = _episode_place(data, period)
    sel = PeriodSelection(period=period, place=place, data=data)
    keep = data["episode_id"].astype("object").map(place).to_numpy() == "in"
    if not keep.any():
        c = sel.counts(None).set_index("place")["episodes"]
        labels = place_labels(period.by)
        where = "; ".join(f"{labels[p]}: {c[p]:,}" for p in PLACES[1:] if c[p])
        col = "discharge_date" if period.by == "discharge" else "admit_date"
        raise DataError(
            f"The reporting period {period.text} ({day_text(period.start)} to {day_text(period.end)}) "
            f"selects no episode of the data ({where or 'no episodes'}). Check the period, the "
            f"'{col}' column, or choose period_by = "
            f"{'admission' if period.by == 'discharge' else 'discharge'!r}."
        )
    kept = data.loc[keep].reset_index(drop=True)
    if hasattr(loaded, "__dataclass_fields__"):
        out = replace(loaded, data=kept)
    else:
        import copy

        out = copy.copy(loaded)
        out.data = kept
    return out, sel
