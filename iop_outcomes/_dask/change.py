"""``iop.change_summary`` on a Dask episode table: per-partition sufficient statistics,
combined on the client, then the in-memory formulas.

Each partition gives, per instrument and group, the counts, means, sample variances, sums of
squared and crossed deviations and the flags' counts (:func:`~iop_outcomes._change.summary.
group_moments`, the function the in-memory path uses); the client stacks them and combines
each group's partitions (Chan, Golub & LeVeque 1983:
:func:`~iop_outcomes._change.summary.combine_moments`), then builds the same table, printed
text and :class:`~iop_outcomes.ChangeSummaryResult` (``summary_result``, shared too). Means,
SDs, intervals and r equal the in-memory ones to rounding (1e-9 in the tests); counts exactly.

The instrument rule is applied to the whole table's instruments first (one small pass), so the
same ConfigError is raised as in memory; groups are sorted as in memory (categories in their
order, else values sorted, missing last); instruments in the order they first appear.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import require
from .groups import categories_of, sorted_groups
from .tables import distinct_texts

__all__ = ["change_summary_dask"]


def change_summary_dask(episodes, args: dict, fn, steps: dict):
    """:func:`iop_outcomes.change_summary` of a Dask episode table (``args``: its arguments;
    ``steps``: the in-memory pieces, handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"instrument": "PHQ-9", "format": ["virtual"] * 3 + ["in_person"] * 3,
    ...                    "baseline": [18, 15, 20, 16, 12, 22], "endpoint": [8, 9, 4, 12, 10, 11]})
    >>> res = iop.change_summary(dd.from_pandas(ep, npartitions=2), by="format")
    >>> res.to_frame()[["format", "n_paired", "mean_change", "response_k"]]
          format  n_paired  mean_change  response_k
    0    Overall         6    -8.166667           3
    1  in_person         3    -5.666667           1
    2    virtual         3   -10.666667           2
    """
    require("iop.change_summary")
    from dask import compute, delayed

    a = args
    score = steps["score"]
    found = _instruments(episodes)
    tiny = pd.DataFrame({"baseline": [np.nan] * len(found), "endpoint": np.nan})
    if "instrument" in episodes.columns:
        tiny["instrument"] = found
    sc = score(
        tiny, a["instrument"], a["mid"], a["remission_below"], fn, a["zero_baseline"], many=True
    )  # the instrument rule on the whole table: the same errors
    names = list(dict.fromkeys(i.name for i in sc.insts))
    part_args = (names, a, fn, steps)
    parts = compute(*[delayed(_partition)(p, *part_args) for p in episodes.to_delayed()])
    parts = [p for p in parts if p is not None]
    if not parts:
        from ..exceptions import DataError

        raise DataError(f"iop.change_summary: no episodes for instrument(s) {names}.")
    cols = parts[0]["cols"]
    combine = steps["combine"]
    overall = combine(pd.concat([p["overall"] for p in parts], ignore_index=True), ["instrument"])
    groups = None
    if cols:
        keys = ["instrument", *cols]
        stacked = pd.concat([p["groups"] for p in parts], ignore_index=True)
        groups = sorted_groups(combine(stacked, keys), keys, [p["cats"] for p in parts])
    order = list(dict.fromkeys(n for p in parts for n in p["order"]))
    overall = overall.reindex(pd.Index(sorted(overall.index), name="instrument"))
    rank = {n: i for i, n in enumerate(order)}  # the instruments as they first appear
    insts = sorted(sc.insts, key=lambda i: rank.get(i.name, len(rank)))
    return steps["result"](
        overall,
        groups,
        cols,
        order,
        insts,
        sum(p["n_unpaired"] for p in parts),
        sum(p["n"] for p in parts),
        parts[0]["derived_age"],
        a,
    )


def _instruments(episodes) -> list:
    if "instrument" not in episodes.columns:
        return ["?"]
    return distinct_texts(episodes, "instrument")


def _partition(part: pd.DataFrame, names: list, a: dict, fn, steps: dict):
    """The moments of one partition (``None`` when it holds none of the instruments)."""
    score, work_frame, moments = steps["score"], steps["work_frame"], steps["moments"]
    if len(part) == 0:
        return None
    here = set(part["instrument"].dropna().astype("str")) if "instrument" in part else None
    ws, cols, derived, insts = [], [], False, []
    for name in names:
        if here is not None and not _holds(here, name, score, a, fn):
            continue
        sc = score(part, name, a["mid"], a["remission_below"], fn, a["zero_baseline"], many=True)
        w, cols = work_frame(sc, a["by"], a["age_bands"])
        derived = "age_band" in cols and "age_band" not in sc.frame.columns
        ws.append(w)
        insts.extend(pd.unique(sc.inst_name))
    if not ws:
        return None
    w = pd.concat(ws) if len(ws) > 1 else ws[0]
    cats = categories_of(w, cols)
    return {
        "overall": moments(w, ["instrument"]).reset_index(),
        "groups": moments(w, ["instrument", *cols]).reset_index() if cols else None,
        "cols": cols,
        "cats": cats,
        "order": list(pd.unique(w["instrument"])),
        "n_unpaired": int(len(w) - w["paired"].sum()),
        "n": len(w),
        "derived_age": derived,
    }


def _holds(here: set, name: str, score, a: dict, fn) -> bool:
    """Whether the partition's instrument labels include ``name`` (by the instrument rule)."""
    from ..exceptions import DataError

    tiny = pd.DataFrame({"instrument": sorted(here), "baseline": np.nan, "endpoint": np.nan})
    try:
        score(tiny, name, a["mid"], a["remission_below"], fn, a["zero_baseline"], many=True)
    except DataError:
        return False
    return True
