"""``iop.retention`` on a Dask episode table: per partition, the number of episodes in each
combination of group, flow boxes and the logistic model's covariate values; the client
rebuilds each episode's group, boxes and covariates from those counts and runs the in-memory
flow table, follow-up response (Wilson intervals), chi-square and logistic tests.

The flow, the response rates and the tests are functions of the counts per group, box and
covariate values, so the counts carry everything (the client holds a few numbers per episode,
as :mod:`.survival` does; a covariate with many distinct values, such as age, makes more keys
but never more than the episodes); the tables are exactly the in-memory ones. Episodes must
each sit in one partition (the one-row-per-episode check runs per partition).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import require
from .groups import categories_of, merged_categories
from .tables import episode_table_only, instrument_of, instrument_rows

__all__ = ["retention_dask"]


def retention_dask(episodes, args: dict, steps: dict):
    """:func:`iop_outcomes.retention` of a Dask episode table (``args``: its arguments;
    ``steps``: the in-memory pieces, handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [12, 15, None], "endpoint": [6, None, None],
    ...                    "n_in_treatment": [5, 1, 0],
    ...                    "discharge_status": ["completed", "dropped_out", "ongoing"],
    ...                    "followup_1m": [7, None, None]})
    >>> r = iop.retention(dd.from_pandas(ep, npartitions=2), group=None, windows=("1m",))
    >>> round(float(r.followup["estimate"].iloc[0]), 3)
    0.5
    """
    require("iop.retention")
    from dask import compute, delayed

    from .._retention.prepare import group_codes
    from ..exceptions import DataError

    a, func = args, "retention"
    meta = episodes._meta
    cols = set(meta.columns)
    episode_table_only(episodes, func)
    group = a["group"]
    covariates = (a["covariates"],) if isinstance(a["covariates"], str) else a["covariates"]
    # the logistic model's covariates travel in the counts' keys (their distinct values)
    covs = [c for c in covariates if c in cols and c != group] if a["tests"] else []
    group_codes(meta, group, a["reference"] if group is None else None, func=func)  # errors
    inst = instrument_of(episodes, a["instrument"], func)
    absent = [w for w in a["windows"] if f"followup_{w}" not in cols]
    windows = tuple(w for w in a["windows"] if w not in absent)
    blocks = episodes.to_delayed()
    parts = compute(
        *[delayed(_partition)(b, inst, group, covs, windows, a["as_of"], steps) for b in blocks]
    )
    parts = [p for p in parts if p is not None]
    if not parts:
        raise DataError(f"iop.retention: no episodes for instrument {inst!r}.")
    cov_keys = [f"covariate:{c}" for c in covs]  # beside the stages (one is "baseline")
    stages = list(parts[0]["counts"].columns.drop(["value", "n", *cov_keys]))
    counts = pd.concat([p["counts"] for p in parts], ignore_index=True)
    counts = counts.groupby(["value", *stages, *cov_keys], dropna=False, sort=True)["n"].sum()
    n = counts.to_numpy(dtype=np.int64)
    codes = {
        s: np.repeat(counts.index.get_level_values(s).to_numpy(dtype=np.int64), n) for s in stages
    }

    def rebuilt(key: str) -> object:
        """A column of the episodes from the counts (categorical as in the partitions)."""
        v = np.repeat(counts.index.get_level_values(key).to_numpy(dtype=object), n)
        column = group if key == "value" else key.removeprefix("covariate:")
        merged = merged_categories([p["cats"][column] for p in parts])
        if merged is not None:
            return pd.Categorical(v, categories=merged)
        if pd.api.types.is_numeric_dtype(meta[column]):
            return pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(dtype=float)
        return v

    frame = pd.DataFrame(
        {c: rebuilt(k) for c, k in zip(covs, cov_keys, strict=True)},
        index=pd.RangeIndex(int(n.sum())),
    )
    if group is not None:
        frame[group] = rebuilt("value")
    g, labels = group_codes(frame, group, a["reference"], func=func)
    # the response tests read the covariates' columns (rebuilt), the notes the table's columns
    return steps["retention"](frame, meta.columns, g, labels, codes, windows, absent, inst, a)


def _partition(part: pd.DataFrame, inst, group, covs: list, windows: tuple, as_of, steps):
    """One partition's episodes counted per (group value, box of each flow stage, value of
    each covariate of the logistic model)."""
    part = instrument_rows(part, inst, "retention")
    if part is None:
        return None
    ep = part.reset_index(drop=True)
    steps["one_row"](ep, "retention")
    codes = steps["codes"](ep, windows, as_of)
    value = ep[group].astype(object).to_numpy() if group is not None else np.zeros(len(ep))
    keys = {"value": value, **codes}
    keys.update({f"covariate:{c}": ep[c].astype(object).to_numpy() for c in covs})
    counts = pd.DataFrame(keys).value_counts(dropna=False).rename("n").reset_index()
    return {"counts": counts, "cats": categories_of(ep, [c for c in (group, *covs) if c])}
