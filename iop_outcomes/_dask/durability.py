"""``iop.durability`` on a Dask episode table: per partition, the number of episodes per
(group, baseline, endpoint, follow-up scores); the client rebuilds those values per episode
from the counts and runs the in-memory function.

Change to follow-up, reliable improvement kept and relapse are functions of each episode's
group and scores, so the counts carry everything (scores take a few dozen values; the rebuilt
table holds a few numbers per episode). Counts are exact; the mean change and its interval
are sums in another order, equal to rounding.
"""

from __future__ import annotations

import pandas as pd

from . import require
from .tables import episode_table_only, instrument_of, instrument_rows, rows_from_counts

__all__ = ["durability_dask"]


def durability_dask(episodes, args: dict, fn):
    """:func:`iop_outcomes.durability` of a Dask episode table (``fn``: the in-memory
    function, handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [18, 16, 20, 15], "endpoint": [8, 12, 6, 14],
    ...                    "followup_3m": [9, 11, 12, 13]})
    >>> d = iop.durability(dd.from_pandas(ep, npartitions=2), instrument="PHQ-9").to_frame()
    >>> d[["measure", "n", "count"]].values.tolist()[1:]
    [['kept_reliable_improvement', 2, 2], ['relapse', 2, 1]]
    """
    require("iop.durability")
    from dask import compute, delayed

    episode_table_only(episodes, "durability")
    inst = instrument_of(episodes, args["instrument"], "durability")
    cols = set(episodes.columns)
    by = args["by"]
    if by is not None and by not in cols:  # the in-memory error, on a row of the table's types
        tiny = episodes._meta_nonempty
        fn(tiny.assign(instrument=inst) if inst is not None else tiny, instrument=inst, by=by)
    scores = [c for c in episodes.columns if c in ("baseline", "endpoint")]
    scores += [c for c in episodes.columns if str(c).startswith("followup_")]
    keys = [*([by] if by is not None else []), *scores]
    parts = compute(*[delayed(_counts)(p, inst, keys) for p in episodes.to_delayed()])
    parts = [p for p in parts if p is not None]
    if not parts:  # no rows of the instrument: the in-memory error on an empty table
        return fn(episodes._meta, instrument=args["instrument"], by=by)
    rebuilt = rows_from_counts(parts, keys)
    if inst is not None:
        rebuilt.insert(0, "instrument", inst)
    return fn(rebuilt, instrument=args["instrument"], by=by, ci_level=args["ci_level"])


def _counts(part: pd.DataFrame, inst, keys: list) -> pd.DataFrame | None:
    """One partition's episodes of the instrument counted per (group, scores)."""
    part = instrument_rows(part, inst, "durability")
    if part is None:
        return None
    frame = pd.DataFrame({k: part[k] for k in keys})
    return frame.value_counts(dropna=False).rename("n").reset_index()
