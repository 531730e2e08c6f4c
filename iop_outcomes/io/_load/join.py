"""The episodes table of :func:`iop_outcomes.load` (``episodes=``), joined to the assessments."""

from __future__ import annotations

import warnings

import pandas as pd

from ...exceptions import IOPWarning, LoadError
from ..readers import read_source
from .convert import ID_COLUMNS, as_text, decimal_commas


def join_episodes(df: pd.DataFrame, episodes, mp, decimal=None) -> tuple[pd.DataFrame, list, list]:
    """Join an episode-level table on ``episode_id`` (else ``patient_id``), keys compared as text.

    Returns the joined frame, the episode table's own column names (for the mapping checks) and
    the episode columns whose decimal commas were read (see :func:`decimal_commas`).
    """
    raw = read_source(
        episodes,
        name="episodes table",
        text_columns=lambda header: [c for c in header if mp.target(c) in ID_COLUMNS],
    )
    ep_columns = list(raw.frame.columns)
    ep = mp.apply(raw.frame, "episodes table")
    ep, comma_cols = decimal_commas(ep, decimal, raw.delimiter)
    key = (
        "episode_id" if "episode_id" in ep.columns and "episode_id" in df.columns else "patient_id"
    )
    if key not in ep.columns or key not in df.columns:
        raise LoadError(
            "The episodes table needs an 'episode_id' (or 'patient_id') column shared with the "
            f"assessments. Episode columns found: {list(ep.columns)}; assessment columns: "
            f"{list(df.columns)}."
        )
    ep = ep.assign(**{key: as_text(ep[key])})
    no_key = ep[key].isna()
    if no_key.any():
        warnings.warn(
            f"episodes table: {int(no_key.sum()):,} row(s) have no {key} and were not joined.",
            IOPWarning,
            stacklevel=5,  # the caller of iop.load
        )
        ep = ep.loc[~no_key]
    dup = ep[key].duplicated()
    if dup.any():
        d = ep.loc[dup, key].iloc[0]
        if key == "patient_id":
            raise LoadError(
                f"The episodes table has several rows for patient_id {d!r} (several episodes per "
                "patient), so assessments cannot be matched to an episode by patient_id alone. "
                "Give episode_id in both tables (the assessments and the episodes table)."
            )
        raise LoadError(
            f"The episodes table has more than one row for episode_id {d!r}; give one row per "
            "episode."
        )
    overlap = [c for c in ep.columns if c in df.columns and c != key]
    left = df.copy()
    left[key] = as_text(left[key])
    ep_keys = pd.Index(ep[key])
    in_ep = ep_keys.get_indexer(left[key]) >= 0
    n_orphan = int((~in_ep & left[key].notna().to_numpy()).sum())
    used = pd.Index(pd.unique(left[key].dropna()))
    n_unused = int((~ep_keys.isin(used)).sum())
    if n_orphan or n_unused:
        parts = []
        if n_orphan:
            parts.append(
                f"{n_orphan:,} assessment row(s) have no matching {key} in the episodes table "
                "(their episode columns stay empty)"
            )
        if n_unused:
            parts.append(f"{n_unused:,} episodes-table row(s) have no assessments")
        warnings.warn(
            f"episodes table joined on {key}: "
            + "; ".join(parts)
            + ". Check the ids in both tables.",
            IOPWarning,
            stacklevel=5,  # the caller of iop.load
        )
    out = left.merge(ep, on=key, how="left", validate="many_to_one", suffixes=("", "__ep"))
    for c in overlap:  # the episodes table wins; the assessments' own value where it has none
        e = out.pop(f"{c}__ep")
        out[c] = e.astype(object).where(e.notna(), out[c].astype(object))
    return out, ep_columns, comma_cols
