"""``iop.compare(method="welch")`` on a Dask episode table: the groups' moments per partition,
combined on the client, then the in-memory Welch formulas.

Each partition keeps its complete cases of the chosen instrument (:func:`~iop_outcomes.
_compare.design.complete_cases`, the in-memory step) and gives, per level of the group column,
the change summary's sufficient statistics (counts, means, sample variances, the baseline–
endpoint co-moment: :func:`~iop_outcomes._change.summary.group_moments`); the client combines
each level's partitions (Chan, Golub & LeVeque 1983: :func:`~iop_outcomes._change.summary.
combine_moments`), orders the levels as in memory (categories in their order, else sorted),
checks the reference as in memory (:func:`~iop_outcomes._compare.design.check_levels`) and runs
the same Welch formulas (:func:`~iop_outcomes._compare.estimators.welch_moments`) into the same
:class:`~iop_outcomes.ComparisonResult`. Estimates, SEs, df and effect sizes equal the in-memory
ones to rounding (1e-9 in the tests); counts exactly.

ANCOVA and the propensity-score methods are not distributed yet: they say so and name the
route (the episode table is one row per episode; its few columns fit in memory well beyond
what the assessment rows do).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import require
from .groups import categories_of, merged_categories

__all__ = ["compare_dask"]


def compare_dask(episodes, args: dict):
    """:func:`iop_outcomes.compare` of a Dask episode table (``args``: its arguments).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "format": ["in_person"] * 4 + ["virtual"] * 4,
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12]})
    >>> res = iop.compare(dd.from_pandas(ep, npartitions=3), method="welch")
    >>> float(res.table["estimate"].iloc[0]), int(res.params["n_used"])
    (-0.5, 8)
    """
    require("iop.compare")
    from dask import compute, delayed

    from .._change.summary import combine_moments
    from .._compare.api import comparison_result
    from .._compare.design import Prepared, check_levels, compare_moments
    from .._compare.estimators import welch_moments
    from .._instrument_rule import select_instrument
    from .._validation import check_columns
    from ..exceptions import ConfigError

    a, func = args, "compare"
    if a["method"] != "welch":
        raise ConfigError(
            f"iop.compare(method={a['method']!r}) does not run on a Dask table yet; "
            "method='welch' does. The episode table has one row per episode: compute the "
            "columns it needs into pandas (episodes[['baseline', 'endpoint', "
            f"{a['group']!r}, ...]].compute()) and pass that table."
        )
    group = a["group"]
    cols = ["baseline", "endpoint", group]
    check_columns(episodes, cols, func=func, what="episode table")
    name = None
    if "instrument" in episodes.columns:  # the instrument rule on the whole table
        found = list(episodes["instrument"].dropna().astype("str").unique().compute())
        name = select_instrument(pd.DataFrame({"instrument": found}), a["instrument"], func=func)[1]
    elif a["instrument"] is not None:
        select_instrument(pd.DataFrame({"x": []}), a["instrument"], func=func)  # its error
    parts = compute(*[delayed(_partition)(p, name, group, cols) for p in episodes.to_delayed()])
    parts = [p for p in parts if p is not None]
    n_excluded = sum(p["n_excluded"] for p in parts)
    stacked = [p["moments"] for p in parts if len(p["moments"])]
    m = (
        compare_moments(combine_moments(pd.concat(stacked, ignore_index=True), [group]))
        if stacked
        else pd.DataFrame({"n": []})
    )
    levels = _levels(m, [p["cats"] for p in parts], group)
    reference, others = check_levels(levels, m["n"], group, a["reference"], func, True)
    p = Prepared(None, group, reference, others, (), n_excluded, name)
    with np.errstate(divide="ignore", invalid="ignore"):  # zero-variance groups give NaN
        fit = welch_moments(m, reference, others, float(a["ci_level"]))
    return comparison_result(
        fit, p, int(m["n"].sum()), method="welch", ci_level=float(a["ci_level"])
    )


def _partition(part: pd.DataFrame, name, group: str, cols: list):
    """The complete cases' moments per level of one partition, their count left out and the
    group column's categories (``None`` for an empty partition)."""
    from .._change.summary import group_moments
    from .._compare.design import complete_cases, moment_rows
    from .._instrument_rule import select_instrument
    from ..exceptions import DataError

    if len(part) == 0:
        return None
    if name is not None:
        try:
            part = select_instrument(part, name, func="compare")[0]
        except DataError:  # none of the instrument's episodes in this partition
            return None
    d, n_excluded = complete_cases(part, cols, "compare")
    return {
        "moments": group_moments(moment_rows(d, [group]), [group]).reset_index(),
        "n_excluded": n_excluded,
        "cats": categories_of(d, [group]),
    }


def _levels(m, cats: list, group: str) -> list:
    """The levels present, in the order :func:`~iop_outcomes._compare.design.level_order`
    gives in memory: the categories' order when the column is categorical, else sorted."""
    present = set(m.index)
    merged = merged_categories([c[group] for c in cats])
    if merged is not None:
        return [c for c in merged if c in present]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)
