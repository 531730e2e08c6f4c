"""``iop.rm_d`` on a Dask episode table, from per-partition sufficient statistics.

Two passes over the partitions, both small per-group totals sent to the client:

1. per group: complete pairs, excluded rows and the sums of pre and post — the groups (in the
   order of the in-memory ``groupby(sort=True)``) and their means, the centres;
2. per group: the totals n, Σxc, Σyc, Σxc², Σyc², Σxc·yc of the pairs centred at those means
   (:func:`~iop_outcomes._effectsize.repeated.centred_sums`, the in-memory function), which
   add across partitions.

Then the in-memory code: the moments (``moments_fit``), the effect sizes, the analytic or
noncentral-t intervals and the result (``fit_result``): the same table and printed text, the
closed forms to rounding (1e-9 in the tests). Bootstrap intervals resample episodes and do
not distribute by sums: they raise a ConfigError naming the route.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError
from . import require
from .groups import categories_of, merged_categories, sorted_groups
from .tables import distinct_texts

__all__ = ["rm_d_dask"]


def rm_d_dask(episodes, args: dict, fn, steps: dict):
    """:func:`iop_outcomes.rm_d` of a Dask episode table (``args``: its arguments; ``steps``:
    the in-memory pieces, handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [20, 18, 15, 22, 17, 19, 14, 21, 16, 23],
    ...                    "endpoint": [12, 10, 11, 15, 9, 14, 10, 13, 12, 20]})
    >>> res = iop.rm_d(dd.from_pandas(ep, npartitions=3), method="b")
    >>> round(float(res.to_frame()["estimate"].iloc[0]), 4)  # metafor 3.8-1, as in memory
    1.7809
    """
    require("iop.rm_d")
    from dask import compute, delayed

    from .._effectsize.formulas import norm_method

    a = args
    key = norm_method(a["method"])
    steps["options"](key, a["method"], a["ci_method"], a["cluster"])
    if a["ci_method"] not in ("analytic", "ncp"):
        raise ConfigError(
            f"iop.rm_d on a Dask DataFrame: ci_method={a['ci_method']!r} resamples episodes, "
            "which does not distribute by sums. Use ci_method='analytic' (or 'ncp' for d_z), "
            "or compute the episode table (one row per episode) and bootstrap it in memory, or "
            "bootstrap a stratified sample (by site and format) stating its size."
        )
    names, by_cols = _rule(episodes, a, steps)
    rows, pre, post = steps["rows"], a["pre"], a["post"]
    cols = [c for c in by_cols if c != "instrument"]
    missing = [c for c in [pre, post, *cols] if c not in episodes.columns]
    if missing:
        from .._validation import check_columns

        check_columns(episodes._meta, [pre, post, *cols], func=fn, what="episode table")
    parts = episodes.to_delayed()
    first = [delayed(_totals)(p, names, a, by_cols, rows) for p in parts]
    first = [t for t in compute(*first) if t is not None]
    if not first:
        raise DataError(f"iop.rm_d: no episodes for instrument(s) {names}.")
    stacked = pd.concat([t["sums"] for t in first], ignore_index=True)
    keys_ = by_cols or ["_all"]
    totals = stacked.groupby(keys_, dropna=False, observed=True, sort=False).sum()
    totals = sorted_groups(totals, keys_, [t["cats"] for t in first])
    n_used = totals["n_used"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.nan_to_num(totals["sx"].to_numpy() / n_used)
        cy = np.nan_to_num(totals["sy"].to_numpy() / n_used)
    keys = _keys_frame(totals, by_cols, first)
    centred = [
        delayed(_centred)(p, names, a, by_cols, rows, keys, cx, cy, steps["sums"]) for p in parts
    ]
    moments = sum(m for m in compute(*centred) if m is not None)
    m = steps["moments"](moments, cx, cy, n_used, totals["n_excl"].to_numpy(dtype=np.int64))
    return steps["result"](key, m, keys, by_cols, None, a)


def _rule(episodes, a: dict, steps: dict) -> tuple[list, list]:
    """The instrument rule on the whole table's instruments: (names, group columns)."""
    if "instrument" not in episodes.columns:
        return [None], steps["rows"](episodes._meta, a["instrument"], a["by"])[1]
    found = distinct_texts(episodes, "instrument")
    tiny = pd.DataFrame({"instrument": found})
    kept, by_cols = steps["rows"](tiny, a["instrument"], a["by"])
    return list(dict.fromkeys(kept["instrument"].astype("str"))), by_cols


def _rows(part: pd.DataFrame, names: list, a: dict, by_cols: list, rows):
    """The partition's rows of the chosen instruments (``None`` if it has none)."""
    if len(part) == 0:
        return None
    if names == [None]:
        return rows(part, a["instrument"], a["by"])[0]
    keep = part["instrument"].astype("str").isin(names).to_numpy()  # the table's spellings
    return part.loc[keep] if keep.any() else None


def _pairs(d: pd.DataFrame, a: dict):
    x = d[a["pre"]].to_numpy(dtype=float, na_value=np.nan)
    y = d[a["post"]].to_numpy(dtype=float, na_value=np.nan)
    return x, y, np.isfinite(x) & np.isfinite(y)


def _totals(part, names, a, by_cols, rows):
    """Pass 1: per group, pairs used, rows excluded and the sums of pre and post."""
    d = _rows(part, names, a, by_cols, rows)
    if d is None or len(d) == 0:
        return None
    x, y, valid = _pairs(d, a)
    w = pd.DataFrame(
        {
            "n_used": valid.astype(np.int64),
            "n_excl": (~valid).astype(np.int64),
            "sx": np.where(valid, x, 0.0),
            "sy": np.where(valid, y, 0.0),
        }
    )
    if by_cols:
        for c in by_cols:
            w[c] = d[c].to_numpy()
        sums = w.groupby(by_cols, dropna=False, observed=True, sort=False).sum().reset_index()
    else:
        sums = w.sum().to_frame().T.assign(_all=0)
    return {"sums": sums, "cats": categories_of(d, by_cols)}


def _keys_frame(totals: pd.DataFrame, by_cols: list, first: list) -> pd.DataFrame:
    """The groups as the in-memory ``keys`` frame (categorical columns restored)."""
    if not by_cols:
        return pd.DataFrame(index=[0])
    keys = totals.index.to_frame(index=False)
    for c in by_cols:
        merged = merged_categories([t["cats"].get(c) for t in first])
        if merged is not None:
            keys[c] = pd.Categorical(keys[c], categories=merged)
    return keys


def _centred(part, names, a, by_cols, rows, keys, cx, cy, centred_sums):
    """Pass 2: the partition's pairs centred at the groups' means, totalled per group."""
    d = _rows(part, names, a, by_cols, rows)
    if d is None or len(d) == 0:
        return None
    x, y, valid = _pairs(d, a)
    if by_cols:
        pos = pd.Series(np.arange(len(keys)))
        index = pd.MultiIndex.from_frame(keys.astype(object))
        mine = pd.MultiIndex.from_frame(d[by_cols].astype(object).reset_index(drop=True))
        codes = pos.set_axis(index).reindex(mine).to_numpy()
    else:
        codes = np.zeros(len(d))
    codes = codes.astype(np.int64)
    return centred_sums(x[valid], y[valid], codes[valid], len(keys), cx, cy)[0]
