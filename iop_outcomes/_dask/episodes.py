"""``iop.episodes`` on a Dask DataFrame of assessments: shuffled by episode, then the in-memory
:func:`iop_outcomes.episodes` on each partition.

1. The instrument rule is applied to the whole table first (its distinct instruments, one
   small pass), so ``instrument=None`` raises the same ConfigError as in memory when the table
   holds two instruments, and every partition builds the same instruments.
2. The rows are shuffled by ``episode_id``: every episode's rows are in one partition (the
   baseline, endpoint and follow-up windows and the episode's attributes need all of them).
   The ``data`` of a Dask load (``iop.load(..., engine="dask")``, also after its
   ``persist()``) is already grouped by patient, so it is not shuffled again.
3. ``map_partitions`` of the in-memory function. A partition without any row of a chosen
   instrument gets a placeholder episode for it (removed from the output), so its episodes
   still have their ``no_scores`` rows, as in memory.

The result is a Dask DataFrame, one row per episode and instrument, equal after ``compute()``
and sorting by instrument and ``episode_id`` to the in-memory table (``attrs`` with the rules
are not carried by Dask; ``iop.EpisodeRules(...).describe()`` gives the same text).
"""

from __future__ import annotations

import pandas as pd

from . import by_patient, require
from .tables import distinct_texts, texts_of

__all__ = ["episodes_dask"]

#: the placeholder episode of a partition lacking an instrument (never in the output)
_PLACEHOLDER = "\x00iop-placeholder"


def episodes_dask(assessments, rules, instrument, episodes, instrument_rows):
    """The episode table of a Dask DataFrame of assessments, as a Dask DataFrame.

    ``rules`` are the checked :class:`~iop_outcomes.EpisodeRules`; ``episodes`` and
    ``instrument_rows`` are the in-memory function and its instrument rule, handed over by
    :func:`iop_outcomes.episodes` (so this module imports neither).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> rows = pd.DataFrame({"episode_id": ["e1", "e1", "e2", "e2"], "patient_id": "p",
    ...     "instrument": "PHQ-9", "total": [18.0, 9.0, 15.0, 14.0],
    ...     "assessment_date": pd.to_datetime(["2025-01-06", "2025-02-03"] * 2)})
    >>> ep = iop.episodes(dd.from_pandas(rows, npartitions=2, sort=False))
    >>> got = ep.compute().sort_values("episode_id").reset_index(drop=True)
    >>> got[["episode_id", "baseline", "endpoint", "change"]]
      episode_id  baseline  endpoint  change
    0         e1      18.0       9.0    -9.0
    1         e2      15.0      14.0    -1.0
    """
    require("iop.episodes")
    from .._validation import check_columns

    r = rules
    check_columns(
        assessments._meta,
        ["episode_id", "instrument", "total"],
        func=episodes,
        what="assessments",
        hint="Pass iop.load(...).data.",
    )
    found = distinct_texts(assessments, "instrument")
    table = pd.DataFrame({"episode_id": "e", "instrument": list(found), "total": 0.0})
    names = instrument_rows(table, instrument, episodes)[1]
    template = assessments._meta_nonempty.iloc[:1]
    meta = _episodes_part(assessments._meta, names, r, template, episodes)
    # a Dask load's rows are already grouped by patient, so each episode is in one partition
    shuffled = assessments if by_patient(assessments) else assessments.shuffle(on="episode_id")
    return shuffled.map_partitions(
        _episodes_part, names, r, template, episodes, meta=meta, enforce_metadata=False
    )


def _episodes_part(part: pd.DataFrame, names: list, rules, template: pd.DataFrame, episodes):
    """``episodes`` (:func:`iop_outcomes.episodes`) of one partition (every episode's rows are
    in it)."""
    present = set(texts_of(part["instrument"]))
    absent = [n for n in names if n not in present]
    if absent:  # a placeholder row per missing instrument, so the rule finds its rows
        fill = (part if len(part) else template).iloc[:1]
        extra = pd.concat(
            [fill.astype({"instrument": "object"}).assign(instrument=n) for n in absent],
            ignore_index=True,
        )
        extra["episode_id"] = _PLACEHOLDER
        if "patient_id" in extra:
            extra["patient_id"] = _PLACEHOLDER
        extra["total"] = 0.0
        part = pd.concat([part.astype({"instrument": "object"}), extra], ignore_index=True)
    out = episodes(part, instrument=names if len(names) > 1 else names[0], rules=rules)
    if absent:
        out = out.loc[out["episode_id"] != _PLACEHOLDER].reset_index(drop=True)
    return out
