"""``iop.severity_shift`` on a Dask episode table: per partition, the number of episodes per
(instrument, group, baseline score, endpoint score); the client rebuilds one row per episode
with those four values from the counts and runs the in-memory function.

Severity bands, the transition counts, row percentages and the notes are functions of each
episode's instrument, group and two scores, so the counts carry everything (scores take a few
dozen values, so the counts are small; the rebuilt table holds four values per episode) and
the result is exactly the in-memory one. Derived groupings (``admit_quarter``, ``age_band``)
are derived in each partition, as in memory row by row.
"""

from __future__ import annotations

import pandas as pd

from . import require
from .tables import episode_table_only, rows_from_counts

__all__ = ["severity_shift_dask"]


def severity_shift_dask(episodes, args: dict, fn, group_columns):
    """:func:`iop_outcomes.severity_shift` of a Dask episode table (``fn``: the in-memory
    function; ``group_columns``: its grouping rule, both handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [22, 16, 12, 12], "endpoint": [9, 16, 3, 15]})
    >>> res = iop.severity_shift(dd.from_pandas(ep, npartitions=2), instrument="PHQ-9")
    >>> res.matrix().loc["moderate", ["minimal", "moderately severe", "Total"]].tolist()
    [1, 1, 2]
    """
    require("iop.severity_shift")
    from dask import compute, delayed

    episode_table_only(episodes, "severity_shift")
    by, bands = args["by"], args["age_bands"]
    cols = group_columns(episodes._meta, by, "iop.severity_shift", bands)[1]  # its errors
    keys = [k for k in ("instrument",) if k in episodes.columns] + cols
    work = (by, bands, keys, group_columns)
    parts = compute(*[delayed(_counts)(p, *work) for p in episodes.to_delayed()])
    rebuilt = rows_from_counts(parts, [*keys, "baseline", "endpoint"])
    return fn(
        rebuilt,
        instrument=args["instrument"],
        by=cols or None,
        normalize=args["normalize"],
        age_bands=bands,
    )


def _counts(part: pd.DataFrame, by, bands, keys: list, group_columns) -> pd.DataFrame:
    """One partition's episodes counted per (instrument, groups, baseline, endpoint)."""
    groups = group_columns(part, by, "iop.severity_shift", bands)[0]
    frame = pd.DataFrame(index=part.index)
    for k in keys:
        frame[k] = (groups[k] if k in groups else part[k]).astype(object)
    frame["baseline"], frame["endpoint"] = part["baseline"], part["endpoint"]
    return frame.value_counts(dropna=False).rename("n").reset_index()
