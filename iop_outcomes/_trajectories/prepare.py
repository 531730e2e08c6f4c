"""Input handling for the trajectory models: the in-treatment rows of one instrument.

:func:`prepare` validates assessment rows once and returns them as a :class:`Prepared`
(columns ``ep, y, week, weekr`` and ``grp`` / ``site`` when used), with every excluded row
counted by reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._instrument_rule import select_instrument
from ..exceptions import ConfigError, DataError

__all__ = ["Prepared", "prepare", "example_data"]


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower()


@dataclass
class Prepared:
    df: pd.DataFrame  # columns: ep, y, week, weekr, grp?, site?
    instrument: str
    group: str | None
    site: str | None
    levels: list
    reference: Any
    n_rows: int
    excluded: dict
    notes: list


def prepare(
    assessments: pd.DataFrame,
    *,
    func: str,
    instrument: str | None,
    group: str | None,
    site: str | None,
    max_week: float | None,
    reference: Any = None,
) -> Prepared:
    """Validate the long data once and return the in-treatment rows of one instrument.

    Steps: find the columns → keep one instrument (the library's rule) → weeks since
    admission → drop rows that are not in-treatment scores (each reason counted) → the
    group levels, reference first.
    """
    cols, id_col, gcol, scol = _columns(assessments, func, group, site)
    n_rows = len(assessments)
    excluded: dict[str, int] = {}
    d, canon = _one_instrument(assessments, cols, instrument, func, excluded)
    y = pd.to_numeric(d[cols["total"]], errors="coerce").to_numpy(float)
    week, after = _weeks(d, cols)
    week, keep = _in_treatment(d, cols, week, after, y, id_col, excluded)
    out = pd.DataFrame({"ep": d[id_col].astype("string").to_numpy(object), "y": y, "week": week})
    if gcol is not None:
        out["grp"] = d[gcol].to_numpy(object)
        keep = _drop_missing(out["grp"], keep, "missing_group", excluded)
    if scol is not None:
        out["site"] = d[scol].astype("string").to_numpy(object)
        keep = _drop_missing(out["site"], keep, "missing_site", excluded)
    if max_week is not None:
        late = (week > max_week) & keep
        excluded["after_max_week"] = int(late.sum())
        keep &= ~late
    out = out.loc[keep].reset_index(drop=True)
    if out.empty:
        raise DataError(
            f"No usable in-treatment rows left for iop.{func} (exclusions: {excluded})."
        )
    out["ep"] = out["ep"].astype(str)
    out["weekr"] = np.rint(out["week"].to_numpy()).astype(int)
    out = out.sort_values(["ep", "week"], kind="mergesort").reset_index(drop=True)
    levels, ref = [], None
    if gcol is not None:
        levels, ref = _levels(out, assessments[gcol], group, reference, func)
    if scol is not None:
        _check_constant(out, "site", site, "episodes must be nested in sites")
    notes = []
    if id_col != cols.get("episode_id"):
        notes.append("No 'episode_id' column: each patient_id is treated as one episode.")
    text = _exclusion_text(excluded, max_week)
    if text:
        notes.append(text)
    return Prepared(
        df=out,
        instrument=canon or "",
        group=group if gcol is not None else None,
        site=site if scol is not None else None,
        levels=levels,
        reference=ref,
        n_rows=n_rows,
        excluded=excluded,
        notes=notes,
    )


def _columns(data: pd.DataFrame, func: str, group, site) -> tuple:
    """Map normalised names to the table's columns; list every missing column together."""
    cols: dict[str, str] = {}
    for c in data.columns:
        cols.setdefault(_norm(c), c)
    problems = []
    id_col = cols.get("episode_id", cols.get("patient_id"))
    if id_col is None:
        problems.append("'episode_id' (or 'patient_id')")
    if "total" not in cols:
        problems.append("'total'")
    if "week" not in cols and not ("assessment_date" in cols and "admit_date" in cols):
        problems.append("'week' (or both 'assessment_date' and 'admit_date')")
    gcol = scol = None
    if group is not None:
        gcol = cols.get(_norm(group))
        if gcol is None:
            problems.append(f"{group!r} (the 'group' parameter; pass group=None for one group)")
    if site is not None:
        scol = cols.get(_norm(site))
        if scol is None:
            problems.append(f"{site!r} (the 'site' parameter)")
    if problems:
        raise DataError(
            f"iop.{func} needs column(s) {', '.join(problems)}. "
            f"Columns found: {sorted(map(str, data.columns))}."
        )
    return cols, id_col, gcol, scol


def _one_instrument(d: pd.DataFrame, cols: dict, instrument, func: str, excluded: dict) -> tuple:
    """The rows of one instrument (:func:`~iop_outcomes._validation.select_instrument`)."""
    if "instrument" not in cols:
        return d, (None if instrument is None else select_instrument(d, instrument, func=func)[1])
    out, canon = select_instrument(d, instrument, func=func, column=cols["instrument"])
    if instrument is not None:
        excluded["other_instrument"] = len(d) - len(out)
    return out, canon


def _weeks(d: pd.DataFrame, cols: dict) -> tuple[np.ndarray, np.ndarray]:
    """Weeks since admission (``week``, else days / 7 from the dates) and the rows dated
    after discharge."""
    n = len(d)
    week = np.full(n, np.nan)
    if "week" in cols:
        week = pd.to_numeric(d[cols["week"]], errors="coerce").to_numpy(float)
    after = np.zeros(n, bool)
    if "assessment_date" in cols and "admit_date" in cols:
        adate = pd.to_datetime(d[cols["assessment_date"]], errors="coerce")
        sdate = pd.to_datetime(d[cols["admit_date"]], errors="coerce")
        from_dates = ((adate - sdate).dt.days / 7.0).to_numpy(float)
        week = np.where(np.isnan(week), from_dates, week)
        if "discharge_date" in cols:
            ddate = pd.to_datetime(d[cols["discharge_date"]], errors="coerce")
            after = (adate > ddate).fillna(False).to_numpy(bool)
    return week, after


def _in_treatment(d, cols, week, after, y, id_col, excluded) -> tuple:
    """The weeks and the mask of in-treatment scores with a score, a week and an episode id.

    Intake scores taken shortly before admission (within the baseline window of
    iop.EpisodeRules, 14 days by default) are the week-0 score, not pre-admission data.
    """
    from .. import EpisodeRules

    keep = np.ones(len(d), bool)
    if "timepoint" in cols:
        tp = d[cols["timepoint"]].astype("string").str.lower().str.startswith("followup")
        fu = tp.fillna(False).to_numpy(bool)
        excluded["follow_up"] = int(fu.sum())
        keep &= ~fu
    if "assessment_date" in cols and "discharge_date" in cols and "admit_date" in cols:
        excluded["after_discharge"] = int((after & keep).sum())
        keep &= ~after
    lead_weeks = EpisodeRules().baseline_window[0] / 7.0
    week = np.where((week < 0) & (week >= lead_weeks), 0.0, week)
    before = (week < 0) & keep
    excluded["before_admission"] = int(before.sum())
    keep &= ~before
    miss = (np.isnan(y) | np.isnan(week)) & keep
    excluded["missing_score_or_week"] = int(miss.sum())
    keep &= ~miss
    return week, _drop_missing(d[id_col], keep, "missing_episode_id", excluded)


def _drop_missing(values, keep: np.ndarray, reason: str, excluded: dict) -> np.ndarray:
    """``keep`` without the rows where ``values`` is missing (counted under ``reason``)."""
    miss = pd.isna(values).to_numpy(bool) & keep
    excluded[reason] = int(miss.sum())
    return keep & ~miss


def _levels(out: pd.DataFrame, source: pd.Series, group: str, reference, func: str) -> tuple:
    """Group levels: the reference, then the others in sorted order. The reference defaults to
    the first level in categorical order (a categorical column), else in sorted order."""
    out["grp"] = out["grp"].astype(str)
    present = set(out["grp"].unique())
    if isinstance(source.dtype, pd.CategoricalDtype):
        order = [str(c) for c in source.cat.categories if str(c) in present]
    else:
        order = sorted(present)
    if reference is None:
        ref = order[0]
    else:
        ref = str(reference)
        if ref not in order:
            raise ConfigError(
                f"The 'reference' parameter of iop.{func} must be one of the {group!r} levels "
                f"{order}. Got {reference!r} instead."
            )
    _check_constant(out, "grp", group, "it must be constant per episode")
    return [ref] + [g for g in sorted(order) if g != ref], ref


def _check_constant(out: pd.DataFrame, col: str, name: str, rule: str) -> None:
    """An episode-level column must not change within an episode."""
    n = out.groupby("ep", sort=False)[col].nunique()
    if (n > 1).any():
        kind = "group" if col == "grp" else "site"
        raise DataError(
            f"The {kind} column {name!r} changes within episode(s) "
            f"{list(n.index[n > 1][:5])}; {rule}."
        )


def _exclusion_text(excluded: dict, max_week: float | None) -> str:
    """One note counting the rows excluded, by reason."""
    text = []
    if excluded.get("follow_up") or excluded.get("after_discharge"):
        text.append(
            f"{excluded.get('follow_up', 0) + excluded.get('after_discharge', 0)} follow-up "
            "(post-discharge) score(s) excluded: only in-treatment scores are modelled"
        )
    if excluded.get("before_admission"):
        text.append(
            f"{excluded['before_admission']} score(s) dated more than 14 days before admission "
            "excluded (scores up to 14 days before count as week 0)"
        )
    if excluded.get("missing_score_or_week"):
        text.append(f"{excluded['missing_score_or_week']} row(s) without a score or week excluded")
    for k in ("missing_episode_id", "missing_group", "missing_site"):
        if excluded.get(k):
            text.append(f"{excluded[k]} row(s) with {k.replace('_', ' ')} excluded")
    if excluded.get("after_max_week"):
        text.append(f"{excluded['after_max_week']} score(s) after week {max_week:g} excluded")
    return "; ".join(text) + "." if text else ""


def example_data(n_episodes: int = 40, seed: int = 1) -> pd.DataFrame:
    """Small deterministic weekly PHQ-9 data set for examples (two formats, weeks 0-6)."""
    rng = np.random.default_rng(seed)
    e = np.repeat(np.arange(n_episodes), 7)
    w = np.tile(np.arange(7), n_episodes)
    virtual = (np.arange(n_episodes) % 2).astype(int)
    b0 = rng.normal(0, 3, n_episodes)
    b1 = rng.normal(0, 0.4, n_episodes)
    y = 17 - 1.2 * w + 0.05 * w**2 + 0.5 * virtual[e] + b0[e] + b1[e] * w + rng.normal(0, 2, e.size)
    keep = (w == 0) | (rng.random(e.size) > 0.15)
    return pd.DataFrame(
        {
            "episode_id": [f"E{i:03d}" for i in e[keep]],
            "instrument": "PHQ-9",
            "week": w[keep],
            "total": np.clip(np.rint(y[keep]), 0, 27),
            "format": np.where(virtual[e[keep]] == 1, "virtual", "in_person"),
        }
    )
