"""What every analysis of a Dask episode table does first: refuse assessment rows, apply the
library's instrument rule to the whole table (one small pass: the same errors as in memory),
and keep each partition's rows of that instrument."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "episode_table_only",
    "instrument_of",
    "instrument_rows",
    "distinct_texts",
    "texts_of",
    "rows_from_counts",
]


def texts_of(column: pd.Series) -> list[str]:
    """The distinct non-missing values of a column as texts, in order of appearance (a
    categorical column reads its codes, not each row's text).

    Examples
    --------
    >>> texts_of(pd.Series(["GAD-7", None, "PHQ-9", "GAD-7"], dtype="category"))
    ['GAD-7', 'PHQ-9']
    """
    return [str(v) for v in column.dropna().unique()]


def distinct_texts(frame, column: str) -> list[str]:
    """:func:`texts_of` a Dask DataFrame's column: one small pass, a few texts per partition.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> t = pd.DataFrame({"instrument": ["PHQ-9", "GAD-7", "PHQ-9"]})
    >>> distinct_texts(dd.from_pandas(t, npartitions=2), "instrument")
    ['PHQ-9', 'GAD-7']
    """
    from dask import compute, delayed

    parts = compute(*[delayed(texts_of)(p[column]) for p in frame.to_delayed()])
    return list(dict.fromkeys(t for p in parts for t in p))


def episode_table_only(episodes, func: str) -> None:
    """A ConfigError naming the route when ``episodes`` holds assessment rows (the in-memory
    functions build the episodes from them; on Dask ``iop.episodes`` does that first)."""
    from .._retention.prepare import ASSESSMENT_COLUMNS
    from ..exceptions import ConfigError

    cols = set(episodes.columns)
    if "baseline" not in cols and cols & set(ASSESSMENT_COLUMNS):
        raise ConfigError(
            f"iop.{func} on Dask takes an episode table; these are assessment rows. Build the "
            "episodes first (iop.episodes(data, instrument=...)) and pass them."
        )


def instrument_of(episodes, instrument, func: str):
    """The instrument's canonical name by the library's rule on the whole Dask table (``None``
    without an ``instrument`` column), or the rule's error.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> t = dd.from_pandas(pd.DataFrame({"instrument": ["PHQ-9", "GAD-7"]}), npartitions=2)
    >>> instrument_of(t, "phq9", "compare")
    'PHQ-9'
    """
    from .._instrument_rule import select_instrument

    if "instrument" in episodes.columns:
        found = distinct_texts(episodes, "instrument")
        return select_instrument(pd.DataFrame({"instrument": found}), instrument, func=func)[1]
    if instrument is not None:
        select_instrument(pd.DataFrame({"x": []}), instrument, func=func)  # its error
    return None


def instrument_rows(part: pd.DataFrame, name, func: str) -> pd.DataFrame | None:
    """A partition's rows of the instrument ``name`` (all of them when ``None``); ``None``
    when it holds none."""
    from .._instrument_rule import select_instrument
    from ..exceptions import DataError

    if len(part) == 0:
        return None
    if name is None:
        return part
    try:
        return select_instrument(part, name, func=func)[0]
    except DataError:  # none of the instrument's episodes in this partition
        return None


def rows_from_counts(parts: list, keys: list) -> pd.DataFrame:
    """One row per counted episode, rebuilt from the partitions' counts (tables of ``keys``
    and ``n``): the counts of equal keys summed, then each key combination repeated ``n``
    times (sorted by the keys; a missing value is a value).

    Examples
    --------
    >>> a = pd.DataFrame({"g": ["x", "y"], "b": [3.0, None], "n": [2, 1]})
    >>> rows_from_counts([a, a.iloc[:1]], ["g", "b"]).values.tolist()
    [['x', 3.0], ['x', 3.0], ['x', 3.0], ['x', 3.0], ['y', nan]]
    """
    counts = pd.concat(parts, ignore_index=True)
    counts = counts.groupby(keys, dropna=False, sort=True)["n"].sum()
    n = counts.to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {k: np.repeat(counts.index.get_level_values(k).to_numpy(), n) for k in keys}
    )
