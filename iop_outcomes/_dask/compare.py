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
from .tables import instrument_of, instrument_rows

__all__ = ["compare_dask"]


def compare_dask(episodes, args: dict, comparison_result):
    """:func:`iop_outcomes.compare` of a Dask episode table (``args``: its arguments;
    ``comparison_result``: the in-memory path's result builder, handed over by it).

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
    from .._compare.design import Prepared, as_tuple, check_levels, compare_moments, is_factor
    from .._compare.estimators import welch_moments
    from .._validation import check_columns
    from ..exceptions import ConfigError

    a, func = args, "compare"
    if a["method"] not in ("welch", "ancova"):
        raise ConfigError(
            f"iop.compare(method={a['method']!r}) does not run on a Dask table yet; "
            "method='welch' and 'ancova' do. The episode table has one row per episode: "
            "compute the columns it needs into pandas (episodes[['baseline', 'endpoint', "
            f"{a['group']!r}, ...]].compute()) and pass that table."
        )
    group, covariates = a["group"], as_tuple(a["covariates"])
    cols = ["baseline", "endpoint", group, *covariates]
    check_columns(episodes, cols, func=func, what="episode table")
    if group in covariates:
        raise ConfigError(f"{func}: the group column {group!r} cannot also be a covariate.")
    name = instrument_of(episodes, a["instrument"], func)
    factors = {c: is_factor(episodes._meta[c]) for c in covariates}
    blocks = episodes.to_delayed()
    parts = compute(*[delayed(_partition)(b, name, group, cols, factors) for b in blocks])
    parts = [p for p in parts if p is not None]
    n_excluded = sum(p["n_excluded"] for p in parts)
    stacked = [p["moments"] for p in parts if len(p["moments"])]
    m = (
        compare_moments(combine_moments(pd.concat(stacked, ignore_index=True), [group]))
        if stacked
        else pd.DataFrame({"n": []})
    )
    levels = _levels(set(m.index), [p["cats"][group] for p in parts])
    reference, others = check_levels(levels, m["n"], group, a["reference"], func, True)
    p = Prepared(None, group, reference, others, covariates, n_excluded, name)
    ci_level, n_used = float(a["ci_level"]), int(m["n"].sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # zero-variance groups give NaN
        if a["method"] == "welch":
            fit = welch_moments(m, reference, others, ci_level)
        else:
            fit = _ancova(blocks, parts, m, p, name, cols, a["vcov"], ci_level)
    return comparison_result(fit, p, n_used, method=a["method"], ci_level=ci_level)


def _ancova(blocks, parts, m, p, name, cols, vcov: str, ci_level: float):
    """The ANCOVA from sums: the covariates' levels and means from the first pass
    (:func:`_covariates`), then each partition's cross-products of [X y] (the in-memory
    design: :func:`~iop_outcomes._compare.estimators.ancova_design`), the fit from their sum
    (:func:`~iop_outcomes._stats.ols_gram`) and, for HC3, a third pass for the sandwich's
    middle (:func:`~iop_outcomes._stats.hc3_meat`)."""
    from dask import compute, delayed

    from .._compare.design import ols_error
    from .._compare.estimators import ancova_results
    from .._stats import ols_gram

    spec, zgrid, notes = _covariates(parts, p.covariates)
    design = (p.group, p.reference, p.others, spec)
    sums = compute(*[delayed(_gram)(b, name, cols, design) for b in blocks])
    G = sum(s[0] for s in sums if s is not None)
    n = int(sum(s[1] for s in sums if s is not None))
    k = G.shape[0] - 1
    try:
        beta, cov, df_resid, rinv = ols_gram(G, n)
    except np.linalg.LinAlgError:
        raise ols_error(n, k, _names(design), "compare") from None
    if vcov == "HC3":
        meats = compute(*[delayed(_meat)(b, name, cols, design, beta, rinv) for b in blocks])
        cov = rinv @ sum(x for x in meats if x is not None) @ rinv.T
    mean_base = float((m["n"] * m["mean_baseline"]).sum() / m["n"].sum())
    return ancova_results(beta, cov, df_resid, m, mean_base, zgrid, p, ci_level, vcov, notes)


def _rows(part: pd.DataFrame, name, cols: list):
    """A partition's complete cases of the instrument (``None`` when it has none) and the
    number left out (:func:`~iop_outcomes._compare.design.complete_cases`)."""
    from .._compare.design import complete_cases

    part = instrument_rows(part, name, "compare")
    if part is None:
        return None, 0
    return complete_cases(part, cols, "compare")


def _partition(part: pd.DataFrame, name, group: str, cols: list, factors: dict):
    """The complete cases' moments per level of one partition, their count left out, the
    categorical columns' categories and each covariate's levels (a factor) or count, sum,
    minimum and maximum (numeric); ``None`` for a partition without rows."""
    from .._change.summary import group_moments
    from .._compare.design import covariate_summary, moment_rows

    d, n_excluded = _rows(part, name, cols)
    if d is None:
        return None
    cov = {}
    for c, factor in factors.items():
        x = d[c]
        if factor:
            cov[c] = set(pd.unique(x.dropna()))
        else:
            cov[c] = covariate_summary(x) if len(x) else (0, 0.0, 0.0, 0.0)
    return {
        "moments": group_moments(moment_rows(d, [group]), [group]).reset_index(),
        "n_excluded": n_excluded,
        "cats": categories_of(d, [group, *factors]),
        "covariates": cov,
    }


def _covariates(parts: list, covariates: tuple) -> tuple[list, np.ndarray, list]:
    """:func:`~iop_outcomes._compare.design.covariate_spec` of the whole table: each
    covariate's :func:`~iop_outcomes._compare.design.covariate_summary` from the partitions'
    (a factor's levels present, ordered as in memory; a numeric one's counts and sums
    added, extremes taken) through the same :func:`~iop_outcomes._compare.design.spec_of`."""
    from .._compare.design import spec_of

    summaries = {}
    for c in covariates:
        stats = [p["covariates"][c] for p in parts]
        if isinstance(stats[0], set):
            summaries[c] = _levels(set().union(*stats), [p["cats"][c] for p in parts])
        else:
            seen = [s for s in stats if s[0]]
            summaries[c] = (
                sum(s[0] for s in seen),
                sum(s[1] for s in seen),
                min(s[2] for s in seen),
                max(s[3] for s in seen),
            )
    return spec_of(summaries, covariates)


def _gram(part: pd.DataFrame, name, cols: list, design: tuple):
    """A partition's [X y]'[X y] and row count (``None`` without complete cases)."""
    from .._compare.estimators import ancova_design

    d, _ = _rows(part, name, cols)
    if d is None or len(d) == 0:
        return None
    y, X, _ = ancova_design(d, *design)
    Xy = np.column_stack([X, y])
    return Xy.T @ Xy, len(d)


def _meat(part: pd.DataFrame, name, cols: list, design: tuple, beta, rinv):
    """A partition's share of the HC3 sandwich's middle."""
    from .._compare.estimators import ancova_design
    from .._stats import hc3_meat

    d, _ = _rows(part, name, cols)
    if d is None or len(d) == 0:
        return None
    y, X, _ = ancova_design(d, *design)
    return hc3_meat(X, y, beta, rinv)


def _names(design: tuple) -> list:
    group, _, others, spec = design
    covs = [n for c, lv in spec for n in ([f"{c}[{x}]" for x in lv[1:]] if lv else [str(c)])]
    return ["(Intercept)", "baseline", *[f"{group}[{g}]" for g in others], *covs]


def _levels(present: set, cats: list) -> list:
    """The levels present, in the order :func:`~iop_outcomes._compare.design.level_order`
    gives in memory: the categories' order when the column is categorical, else sorted."""
    merged = merged_categories(cats)
    if merged is not None:
        return [c for c in merged if c in present]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)
