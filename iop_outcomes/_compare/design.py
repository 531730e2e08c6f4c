"""Shared design steps of the comparisons: preparing the episode rows, model matrices, labels,
the shared t row and the OLS fit said in the analysis' terms. Public inside the package
(:func:`iop_outcomes.funnel` uses :func:`covariate_design` and :func:`full_rank`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._change.summary import group_moments as change_moments
from .._instrument_rule import select_instrument
from .._stats import ols
from .._validation import check_columns, public_name
from ..exceptions import ConfigError, DataError

#: The estimators of :func:`iop_outcomes.compare`.
METHODS = ("welch", "ancova", "iptw", "overlap", "doubly_robust")


def as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, str):
        return (x,)
    return tuple(x)


def level_order(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().unique())
        return [c for c in s.cat.categories if c in present]
    vals = pd.unique(s.dropna())
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def is_factor(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


@dataclass
class Prepared:
    data: pd.DataFrame  # complete cases; columns baseline, endpoint, change, group, covariates
    group: str | None
    reference: Any
    others: list
    covariates: tuple
    n_excluded: int
    instrument: Any


def prepare(
    episodes,
    *,
    group: str | None,
    reference,
    covariates=(),
    extra=(),
    func: str,
    instrument=None,
    need_groups: bool = True,
) -> Prepared:
    covariates = as_tuple(covariates)
    extra = as_tuple(extra)
    cols = ["baseline", "endpoint"] + ([group] if group else []) + list(covariates) + list(extra)
    check_columns(episodes, cols, func=func, what="episode table")
    if group is not None and group in covariates:
        raise ConfigError(f"{func}: the group column {group!r} cannot also be a covariate.")
    df, instrument = select_instrument(episodes, instrument, func=func)
    d, n_excluded = complete_cases(df, cols, func)
    others: list = []
    if group is not None:
        reference, others = check_levels(
            level_order(d[group]), d[group].value_counts(), group, reference, func, need_groups
        )
    return Prepared(d, group, reference, others, covariates, n_excluded, instrument)


def complete_cases(df: pd.DataFrame, cols: list, func: str) -> tuple[pd.DataFrame, int]:
    """The rows of ``df`` with every one of ``cols`` (numeric scores checked), ``change``
    added, and how many were left out."""
    d = df[list(dict.fromkeys(cols))].copy()
    for c in ("baseline", "endpoint"):
        if not pd.api.types.is_numeric_dtype(d[c]):
            conv = pd.to_numeric(d[c], errors="coerce")
            bad = conv.isna() & d[c].notna()
            if bad.any():
                raise DataError(
                    f"{func}: column {c!r} must hold numeric scores; found non-numeric "
                    f"value(s) such as {d.loc[bad, c].iloc[0]!r}."
                )
            d[c] = conv
        d[c] = d[c].astype(float)
    keep = d.notna().all(axis=1).to_numpy()
    n_excluded = int((~keep).sum())
    d = d.loc[keep].reset_index(drop=True)
    d["change"] = d["endpoint"] - d["baseline"]
    return d, n_excluded


def check_levels(levels: list, counts, group: str, reference, func: str, need_groups: bool):
    """The reference (the first level when None) and the other levels of ``group`` among the
    complete cases (``levels`` in order, ``counts`` per level), or the error that says why
    they cannot be compared."""
    if not levels:
        raise DataError(
            f"{func}: no episode has a baseline, an endpoint and a {group!r} value; nothing to "
            "compare."
        )
    if reference is None:
        reference = levels[0]  # rule 2: the first level (categorical, else sorted order)
    if reference not in levels:
        default = (
            " (the compare family's default, for group='format')"
            if reference == "in_person"
            else ""
        )
        raise ConfigError(
            f"The 'reference' parameter of {public_name(func)} must be a level of {group!r} with "
            f"complete data. Got {reference!r}{default}; levels present: {levels}. Pass "
            f"reference={levels[0]!r} (or another level), or reference=None for the first."
        )
    others = [lv for lv in levels if lv != reference]
    if need_groups and not others:
        raise DataError(
            f"{func}: column {group!r} has only the reference level {reference!r} among "
            "complete cases; a comparison needs at least two groups."
        )
    small = [lv for lv in [reference, *others] if counts.get(lv, 0) < 2]
    if need_groups and small:
        raise DataError(
            f"{func}: every group needs at least 2 complete episodes; too few in {small} "
            f"(counts: {counts.to_dict()})."
        )
    return reference, others


def covariate_design(d: pd.DataFrame, covariates: Sequence[str]):
    """Numeric covariates as they are; factors as treatment dummies (first level dropped).

    Returns the matrix, column names, the emmeans-style reference-grid values (numeric
    covariates at their mean; each factor averaged over its levels with equal weights)
    and notes about dropped constant columns (:func:`covariate_spec`, then
    :func:`covariate_columns`).
    """
    spec, grid, notes = covariate_spec(d, covariates)
    X, names = covariate_columns(d, spec)
    return X, names, grid, notes


def covariate_spec(d: pd.DataFrame, covariates: Sequence[str]) -> tuple[list, np.ndarray, list]:
    """The covariates kept, each ``(column, its levels)`` (levels ``None`` for a numeric
    one), the reference-grid values of their columns and the notes about constant ones
    dropped (:func:`spec_of` the columns' :func:`covariate_summary`)."""
    return spec_of({c: covariate_summary(d[c]) for c in covariates}, covariates)


def covariate_summary(s: pd.Series) -> list | tuple:
    """What :func:`spec_of` needs of a covariate: a factor's levels in order, or a numeric
    one's count, sum, minimum and maximum (a Dask table adds its partitions' up)."""
    if is_factor(s):
        return level_order(s)
    x = s.to_numpy(dtype=float)
    return len(x), float(x.sum()), float(x.min()), float(x.max())


def spec_of(summaries: dict, covariates: Sequence[str]) -> tuple[list, np.ndarray, list]:
    """:func:`covariate_spec` from each covariate's :func:`covariate_summary`: a factor with
    fewer than 2 levels or a numeric covariate with no spread is dropped, with a note;
    the reference grid holds 1/levels for each of a factor's dummies (equal weights, as
    emmeans) and a numeric covariate's mean."""
    spec, grid, notes = [], [], []
    for c in covariates:
        summary = summaries[c]
        if isinstance(summary, list):
            if len(summary) < 2:
                notes.append(constant_note(c))
                continue
            spec.append((c, summary))
            grid.extend([1.0 / len(summary)] * (len(summary) - 1))
        else:
            n, total, lo, hi = summary
            if hi - lo == 0:
                notes.append(constant_note(c))
                continue
            spec.append((c, None))
            grid.append(total / n)
    return spec, np.asarray(grid, dtype=float), notes


def constant_note(c) -> str:
    return f"Covariate {c!r} is constant in the data used and was dropped."


def covariate_columns(d: pd.DataFrame, spec: list) -> tuple[np.ndarray, list]:
    """The covariates' model columns (:func:`covariate_spec`) for the rows of ``d``."""
    cols, names = [], []
    for c, levels in spec:
        if levels is not None:
            D = dummy_matrix(d[c], levels)
            for j, lv in enumerate(levels[1:]):
                cols.append(D[:, j])
                names.append(f"{c}[{lv}]")
        else:
            cols.append(d[c].to_numpy(dtype=float))
            names.append(str(c))
    X = np.column_stack(cols) if cols else np.empty((len(d), 0))
    return X, names


def dummy_matrix(s: pd.Series, levels: Sequence) -> np.ndarray:
    """Treatment-coded 0/1 columns for ``levels[1:]`` (factorized once; fast on text)."""
    codes, uniques = pd.factorize(s)
    pos = {u: i for i, u in enumerate(uniques)}
    out = np.zeros((len(s), max(len(levels) - 1, 0)))
    for j, lv in enumerate(levels[1:]):
        k = pos.get(lv)
        if k is not None:
            out[:, j] = codes == k
    return out


def full_rank(X: np.ndarray) -> bool:
    """Full column rank by the QR diagonal relative to column norms (tolerance 1e-9)."""
    if X.shape[1] == 0:
        return True
    r = np.linalg.qr(X, mode="r")
    norms = np.linalg.norm(X, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(np.diag(r)) / norms
    return bool(np.all(norms > 0) and np.all(rel > 1e-9))


def drop_small_groups(sub: pd.DataFrame, group: str, reference, min_n: int = 2):
    """Drop non-reference groups with fewer than ``min_n`` episodes (for per-stratum fits)."""
    counts = sub[group].value_counts()
    small = [lv for lv, c in counts.items() if c < min_n and lv != reference]
    if small:
        sub = sub[~sub[group].isin(small).to_numpy()]
    return sub, small


def level_label(level) -> str:
    return str(level)


def contrast_label(g, ref) -> str:
    return f"{level_label(g)} - {level_label(ref)}"


def group_moments(d: pd.DataFrame, group) -> pd.DataFrame:
    """Per-group n, means, variances (ddof=1) and baseline–endpoint covariance, groups in the
    order they first appear.

    ``group`` is a column name or a list of them. The sufficient statistics are the change
    summary's (:func:`iop_outcomes._change.summary.group_moments`, which a Dask table
    combines over its partitions), read as these columns by :func:`compare_moments`."""
    keys = [group] if isinstance(group, str) else list(group)
    mom = change_moments(moment_rows(d, keys), keys)
    first = pd.MultiIndex.from_frame(d[keys].drop_duplicates()) if len(keys) > 1 else None
    order = first if first is not None else pd.Index(pd.unique(d[keys[0]]), name=keys[0])
    return compare_moments(mom).reindex(order)


def moment_rows(d: pd.DataFrame, keys: list) -> pd.DataFrame:
    """Complete cases as the change summary's moment rows: every one paired, no flags."""
    w = pd.DataFrame(
        {
            "b": d["baseline"].to_numpy(float),
            "e": d["endpoint"].to_numpy(float),
            "d": d["change"].to_numpy(float),
            "paired": True,
            **{f: np.nan for f in ("response", "remission", "mcid")},
        }
    )
    for k in keys:
        w[k] = d[k].to_numpy()
    return w


def compare_moments(mom: pd.DataFrame) -> pd.DataFrame:
    """The change summary's moments per group as the comparisons read them."""
    n = mom["n_paired"]
    out = pd.DataFrame(
        {
            "mean_baseline": mom["b_mean"],
            "mean_endpoint": mom["e_mean"],
            "mean_change": mom["d_mean"],
            "n": n,
            "var_baseline": mom["b_var"],
            "var_endpoint": mom["e_var"],
            "var_change": mom["d_var"],
            "cov_be": mom["xy"] / (n - 1),
        }
    )
    return out


def t_row(est, se, df, ci_level: float) -> dict:
    """Estimate, SE, two-sided t interval, t statistic and p-value on ``df`` degrees of freedom
    (the shared columns of the Welch, ANCOVA and dose-response rows)."""
    tc = _dist.t.ppf(0.5 + ci_level / 2, df)
    stat = est / se
    return dict(
        estimate=est,
        se=se,
        ci_low=est - tc * se,
        ci_high=est + tc * se,
        ci_level=ci_level,
        statistic=stat,
        df=df,
        pvalue=2 * _dist.t.sf(abs(stat), df),
    )


def fit_ols(y: np.ndarray, X: np.ndarray, func: str, names: Sequence[str], vcov: str = "classical"):
    """:func:`iop_outcomes._stats.ols`, with the failure said in the analysis' terms."""
    try:
        return ols(y, X, vcov=vcov)
    except np.linalg.LinAlgError:
        raise ols_error(*X.shape, names, func) from None


def ols_error(n: int, k: int, names: Sequence[str], func: str) -> DataError:
    """Why an OLS fit of ``n`` rows and ``k`` columns (``names``) failed, in the analysis'
    terms."""
    if n - k < 1:
        return DataError(f"{func}: {n} episodes are too few for a model with {k} parameters.")
    return DataError(
        f"{func}: the model matrix is rank deficient (columns: {list(names)}); a "
        "covariate is constant or collinear with the group or another covariate."
    )
