"""Steps every clinical-significance method shares: instrument rows, scores, groups, rates."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .. import instruments as _instruments
from .._instrument_rule import select_instrument
from .._stats import wilson_ci
from .._validation import check_columns
from ..exceptions import ConfigError, DataError
from .results import ID_COLUMNS

# --------------------------------------------------------------------------- helpers


def method_key(s: Any) -> str:
    return re.sub(r"[\s_\-]+", "", str(s)).lower()


def slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def id_frame(df: pd.DataFrame, by_cols) -> pd.DataFrame:
    """The identifier and grouping columns of ``df``: the start of a per-episode table."""
    ep = pd.DataFrame(index=df.index)
    for c in ID_COLUMNS:
        if c in df.columns:
            ep[c] = df[c]
    for c in by_cols:
        if c not in ep.columns:
            ep[c] = df[c]
    return ep


def first_label(conds, labels, default=None) -> pd.Categorical:
    """First matching label per row (like ``np.select``), as a Categorical built from codes.

    ``None`` in ``labels`` (or as ``default``) gives a missing value.
    """
    cats = list(dict.fromkeys(x for x in [*labels, default] if x is not None))
    code = {c: i for i, c in enumerate(cats)}
    codes = np.select(
        [np.asarray(c, dtype=bool) for c in conds],
        [-1 if lab is None else code[lab] for lab in labels],
        default=-1 if default is None else code[default],
    ).astype(np.int16)
    return pd.Categorical.from_codes(codes, categories=cats)


def numeric_scores(df: pd.DataFrame, col: str) -> pd.Series:
    s = df[col]
    try:
        return pd.to_numeric(s, errors="raise").astype(float)
    except (ValueError, TypeError):
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        raise DataError(
            f"Column {col!r} must hold numeric scores; found non-numeric value(s) "
            f"{bad.astype(str).unique()[:5].tolist()} (e.g. at row {bad.index[0]!r})."
        ) from None


PRE_POST_HINT = "Pass pre=/post= to name your own columns."


def by_columns(by: Any, df: pd.DataFrame) -> list[str]:
    if by is None:
        return []
    cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(
            f"The 'by' column(s) {missing} are not in the data. Columns present: {list(df.columns)}."
        )
    return cols


def rates_table(
    flags: pd.DataFrame,
    denom: pd.DataFrame,
    outcomes: list[str],
    by: list[str],
    keys: pd.DataFrame,
    excluded: pd.Series,
    ci_level: float,
) -> pd.DataFrame:
    """Sum boolean outcome flags within groups; one tidy row per (group, outcome).

    ``flags`` holds one boolean column per outcome (False where not counted); ``denom`` one
    boolean column per outcome marking rows in that outcome's denominator; ``keys`` the group
    columns aligned with them; ``excluded`` marks rows counted in no denominator.
    """
    f = flags[outcomes].astype(bool).astype(np.int64)
    d = denom[outcomes].astype(bool).astype(np.int64)
    d.columns = [f"__n__{c}" for c in outcomes]
    work = pd.concat([f, d], axis=1)
    work["__excluded"] = excluded.astype(np.int64).to_numpy()
    if by:
        for c in by:
            work[c] = keys[c].to_numpy()
        summed = work.groupby(by, dropna=False, sort=True).sum()
    else:
        summed = work.sum().to_frame().T
    rows = []
    for o in outcomes:
        part = pd.DataFrame(
            {
                "outcome": o,
                "count": summed[o].to_numpy(),
                "n": summed[f"__n__{o}"].to_numpy(),
                "n_excluded": summed["__excluded"].to_numpy(),
            },
            index=summed.index if by else None,
        )
        rows.append(part)
    table = pd.concat(rows)
    if by:
        table = table.reset_index()
    return finish_rates(table, outcomes, by, ci_level)


def finish_rates(table: pd.DataFrame, outcomes: list[str], by: list[str], ci_level: float):
    """The rates and Wilson intervals of a table of ``count``, ``n`` and ``n_excluded`` per
    (group, outcome), in the groups' and outcomes' order (shared with the Dask path, which sums
    the partitions' counts first)."""
    table["count"] = table["count"].astype(np.int64)
    table["n"] = table["n"].astype(np.int64)
    table["n_excluded"] = table["n_excluded"].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["estimate"] = np.where(table["n"] > 0, table["count"] / table["n"], np.nan)
    lo, hi = wilson_ci(table["count"].to_numpy(), table["n"].to_numpy(), ci_level)
    table["ci_low"] = lo
    table["ci_high"] = hi
    table["ci_level"] = float(ci_level)
    order = {o: i for i, o in enumerate(outcomes)}
    table["__o"] = table["outcome"].map(order)
    table = table.sort_values([*by, "__o"], kind="stable").drop(columns="__o")
    cols = [*by, "outcome", "count", "n", "estimate", "ci_low", "ci_high", "ci_level", "n_excluded"]
    return table[cols].reset_index(drop=True)


def resolve_instrument(df: pd.DataFrame, instrument: Any, func: str = "clinical_significance"):
    """Return (rows to analyse, Instrument or None, notes) by the library's instrument rule.

    ``instrument=None``: the table must hold one instrument (or have no ``instrument``
    column); an unregistered name gives ``None`` (no cited parameters). A name keeps that
    instrument's rows and says how many others were left out.
    """
    notes: list[str] = []
    inst = _instruments.get(instrument) if instrument is not None else None
    kept, name = select_instrument(df, instrument, func=func)
    if instrument is None:
        known = _instruments.canonical_name(name) if name is not None else None
        return df, (_instruments.get(known) if known else None), notes
    dropped = len(df) - len(kept)
    if dropped:
        notes.append(
            f"Analysed the {len(kept):,} {inst.name} rows; {dropped:,} rows of other "
            "instruments were left out."
        )
    return kept, inst, notes


# --------------------------------------------------------------------------- distribution-based


def prepare(df, *, instrument, by, pre, post, better_is, func="clinical_significance"):
    """Columns, instrument rows, groups, numeric scores and direction, checked once."""
    check_columns(df, [pre, post], func=func, what="episode table", hint=PRE_POST_HINT)
    df, inst, notes = resolve_instrument(df, instrument, func)
    by_cols = by_columns(by, df)
    x = numeric_scores(df, pre)
    y = numeric_scores(df, post)
    used = x.notna() & y.notna()
    if not used.any():
        raise DataError(f"{func}: no row has both {pre!r} and {post!r} scores.")
    if better_is is None:
        if inst is None:
            raise ConfigError(
                f"{func}: cannot tell which direction is improvement. Pass instrument='PHQ-9' "
                "(for example) or better_is='lower' / 'higher'."
            )
        better_is = inst.better_is
    params: dict[str, Any] = {}
    if inst is not None:
        params["instrument"] = inst.name
    params["better_is"] = better_is
    return df, inst, notes, by_cols, x, y, used, better_is, params


def positive(value, name: str, func: str = "clinical_significance") -> float:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not (np.isfinite(value) and value > 0)
    ):
        raise ConfigError(
            f"The '{name}' parameter of {func} must be a positive number. Got {value!r} instead."
        )
    return float(value)


def reliability_value(value, name: str, func: str = "clinical_significance") -> float:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0 <= value < 1
    ):
        raise ConfigError(
            f"The '{name}' parameter of {func} must be a number in [0, 1). Got {value!r} instead."
        )
    return float(value)


def resolve_mid(mid, mid_deterioration, threshold, inst, func="clinical_significance"):
    """The minimal important difference in points: (improvement, deterioration, source)."""
    if threshold is not None:
        if isinstance(threshold, str) or isinstance(threshold, (bool, np.bool_)):
            raise ConfigError(
                f"The 'threshold' parameter of {func} with an anchor-based method must be a "
                f"positive number of points (the MID; or pass mid=). Got {threshold!r} instead."
            )
        if mid is not None:
            raise ConfigError(
                f"{func}: pass the minimal important difference once, as mid= (threshold= is an "
                "alias kept for earlier code)."
            )
        mid = threshold
    if mid is None:
        if inst is None or inst.mid is None:
            raise ConfigError(
                f"{func}: the anchor-based approach needs a minimal important difference. Pass "
                "mid=<points> or an instrument with a published MID (instrument='PHQ-9')."
            )
        mid, src = inst.mid, inst.mid_source
    else:
        src = "user-supplied"
    mid = positive(mid, "mid", func)
    if mid_deterioration is None:
        mid_det = mid
    else:
        mid_det = positive(mid_deterioration, "mid_deterioration", func)
    return mid, mid_det, src
