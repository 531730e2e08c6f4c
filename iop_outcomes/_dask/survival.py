"""``iop.dropout_survival`` on a Dask episode table: per partition, the number of episodes at
each (group, day, discharge status) and the attendance sums per group; the client rebuilds
the analysed episodes' days, status codes and groups from those counts and runs the in-memory
Kaplan–Meier, Aalen–Johansen, log-rank, medians and numbers at risk.

Every statistic of time to dropout is a function of the counts of episodes per group, day and
status (the event and at-risk counts per time), so the counts carry everything; the client
holds one small integer per analysed episode to run the in-memory functions unchanged (8 bytes
an episode: 40 MB for 5 million). The curves, medians, log-rank and numbers at risk are
therefore exactly the in-memory ones; attendance means, SDs and pooled rates combine over
partitions (Chan, Golub & LeVeque 1983) and agree to rounding (1e-9 in the tests).

Episodes must each sit in one partition (as :func:`iop_outcomes.episodes` on Dask leaves
them): the in-memory step that keeps one row per episode runs per partition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import require
from .groups import categories_of, merged_categories
from .tables import episode_table_only, instrument_of, instrument_rows

__all__ = ["dropout_survival_dask"]


def dropout_survival_dask(episodes, args: dict, steps: dict):
    """:func:`iop_outcomes.dropout_survival` of a Dask episode table (``args``: its
    arguments; ``steps``: the in-memory pieces, handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"los_days": [3, 5, 5, 8, 10, 12],
    ...                    "discharge_status": ["dropped_out", "completed", "dropped_out",
    ...                                         "completed", "dropped_out", "completed"]})
    >>> r = iop.dropout_survival(dd.from_pandas(ep, npartitions=2), group=None)
    >>> r.curve[["time", "n_risk", "n_event", "estimate"]].round(4)
       time  n_risk  n_event  estimate
    0   3.0       6        1    0.8333
    1   5.0       5        1    0.6667
    2   8.0       3        0    0.6667
    3  10.0       2        1    0.3333
    4  12.0       1        0    0.3333
    """
    require("iop.dropout_survival")
    from dask import compute, delayed

    from .._retention.prepare import MISSING_GROUP, group_codes

    a, func = args, "dropout_survival"
    episode_table_only(episodes, func)
    group, meta = a["group"], episodes._meta
    group_codes(meta, group, a["reference"] if group is None else None, func=func)  # its errors
    name = instrument_of(episodes, a["instrument"], func)
    blocks = episodes.to_delayed()
    parts = compute(*[delayed(_partition)(b, name, group, a["as_of"], steps) for b in blocks])
    parts = [p for p in parts if p is not None]
    if not parts:
        from ..exceptions import DataError

        raise DataError(f"iop.dropout_survival: no episodes for instrument {name!r}.")
    counts = pd.concat([p["counts"] for p in parts], ignore_index=True)
    counts = counts.groupby(["value", "time", "status"], dropna=False, sort=True)["n"].sum()
    n = counts.to_numpy(dtype=np.int64)
    time = np.repeat(counts.index.get_level_values("time").to_numpy(dtype=float), n)
    st = np.repeat(counts.index.get_level_values("status").to_numpy(dtype=np.int64), n)
    values = np.repeat(counts.index.get_level_values("value").to_numpy(dtype=object), n)
    steps["check"](time, np.ones(len(time), dtype=bool), func)
    if group is None:
        g, labels = group_codes(pd.DataFrame(index=range(len(time))), None, None, func=func)
    else:
        merged = merged_categories([p["cats"][group] for p in parts])
        col = pd.Categorical(values, categories=merged) if merged is not None else values
        g, labels = group_codes(pd.DataFrame({group: col}), group, a["reference"], func=func)
    code = {lab: i for i, lab in enumerate(labels)}

    def code_of(v) -> int:
        return 0 if group is None else code[MISSING_GROUP if pd.isna(v) else str(v)]

    att = []
    for p in parts:
        q = p["attendance"].copy()
        q["g"] = [code_of(v) for v in q.pop("value")]
        att.append(q)
    attendance = steps["attendance_table"](
        steps["combine_attendance"](att), labels, float(a["ci_level"])
    )
    n_excluded = sum(p["n_excluded"] for p in parts)
    return steps["survival"](time, st, g, labels, n_excluded, attendance, a)


def _partition(part: pd.DataFrame, name, group, as_of, steps: dict):
    """One partition's episodes counted per (group value, day, status code), its attendance
    sums per group value, the episodes left out and the group's categories."""
    part = instrument_rows(part, name, "dropout_survival")
    if part is None:
        return None
    ep, time, status, ok = steps["facts"](part.reset_index(drop=True), as_of, "dropout_survival")
    kept = ep.loc[ok].reset_index(drop=True)
    value = kept[group] if group is not None else pd.Series(0, index=kept.index)
    counts = (
        pd.DataFrame(
            {"value": value.astype(object).to_numpy(), "time": time[ok], "status": status[ok]}
        )
        .value_counts(dropna=False)
        .rename("n")
        .reset_index()
    )
    codes, uniques = pd.factorize(value.astype(object), use_na_sentinel=False)
    att = steps["attendance_parts"](kept, codes)
    att.insert(0, "value", np.asarray(uniques, dtype=object)[att.pop("g").to_numpy()])
    return {
        "counts": counts,
        "attendance": att,
        "n_excluded": int((~ok).sum()),
        "cats": categories_of(kept, [group]) if group is not None else {},
    }
