"""Groups across partitions: the order ``groupby(sort=True)`` gives in memory.

Each partition reports the categories of its categorical group columns
(:func:`categories_of`); :func:`sorted_groups` orders the combined groups as one in-memory
``groupby(..., sort=True, dropna=False)`` would: a categorical key by its categories (the
partitions' lists merged in order, sorted when each list was sorted, as the loader's
data-dependent categories are), any other key by value, missing last.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["categories_of", "sorted_groups"]


def categories_of(frame: pd.DataFrame, cols: list[str]) -> dict:
    """``{column: its categories, or None when not categorical}``."""
    return {
        c: list(frame[c].cat.categories)
        if isinstance(frame[c].dtype, pd.CategoricalDtype)
        else None
        for c in cols
    }


def merged_categories(lists: list) -> list | None:
    """The partitions' category lists as one (``None`` if any column was not categorical).

    Examples
    --------
    >>> merged_categories([["North", "South"], ["Central", "North"]])
    ['Central', 'North', 'South']
    >>> merged_categories([["in_person", "virtual", "hybrid"], ["in_person", "virtual", "hybrid"]])
    ['in_person', 'virtual', 'hybrid']
    """
    if not lists or any(x is None for x in lists):
        return None
    merged = list(dict.fromkeys(c for x in lists for c in x))
    return sorted(merged) if all(x == sorted(x) for x in lists) else merged


def sorted_groups(frame: pd.DataFrame, keys: list[str], cats: list[dict]) -> pd.DataFrame:
    """``frame`` (indexed by ``keys``) in the in-memory group order; ``cats``: each
    partition's :func:`categories_of` (``instrument`` is ordered by value)."""
    codes = []
    for k in keys:
        values = frame.index.get_level_values(k)
        merged = merged_categories([c.get(k) for c in cats]) if k != "instrument" else None
        if merged is None:
            merged = sorted(pd.unique(values.dropna()))
        c = pd.Categorical(values, categories=merged).codes.astype(np.int64)
        codes.append(np.where(c < 0, len(merged), c))
    return frame.iloc[np.lexsort(codes[::-1])]
