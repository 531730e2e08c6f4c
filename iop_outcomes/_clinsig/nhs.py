"""NHS Talking Therapies outcome definitions (single measure, or joint PHQ-9 + GAD-7).

The joint rules run only when asked for by name, ``instrument=["PHQ-9", "GAD-7"]``; a table
holding both measures with ``instrument=None`` is an error (the library's instrument rule: no
silent choice between one measure and the joint rules).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import instruments as _instruments
from .._instrument_rule import canonical_names, select_instrument
from .._validation import check_columns
from ..exceptions import ConfigError, DataError
from .common import (
    PRE_POST_HINT,
    by_columns,
    first_label,
    id_frame,
    numeric_scores,
    rates_table,
    resolve_instrument,
    slug,
)
from .results import METHOD_LABEL, NHS_OUTCOMES, ClinicalSignificanceResult

JOINT = ("PHQ-9", "GAD-7")


def nhs_outcomes(df, *, instrument, by, ci_level, pre, post):
    """NHS Talking Therapies outcomes: rows -> per-episode scores -> flags -> rates table."""
    func = "clinical_significance(method='nhs-talking-therapies')"
    check_columns(df, [pre, post], func=func, what="episode table", hint=PRE_POST_HINT)
    notes: list[str] = []
    joint = isinstance(instrument, (list, tuple))
    if joint:
        df = _joint_rows(df, instrument, func, notes)
        by_cols = by_columns(by, df)
        measures, ep, first, last, extra = _pair_joint(df, by_cols, pre, post, func)
    else:
        _refuse_silent_joint(df, instrument, func)
        by_cols = by_columns(by, df)
        measures, ep, first, last, extra = _single_measure(df, instrument, by_cols, pre, post, func)
        notes.extend(extra.pop("notes"))
    _check_measures(measures, joint, func, notes)
    paired = _score_flags(ep, measures, first, last)
    finished = _finished_course(ep, **extra)
    flags, denom, counted = _outcome_flags(ep, paired, finished)
    table = rates_table(flags, denom, NHS_OUTCOMES, by_cols, ep, ~counted, ci_level)
    names = " + ".join(m.name for m in measures)
    params = _nhs_params(measures, joint, pre, post)
    notes.extend(_nhs_notes(ep, measures, joint, finished, counted, paired["any"], pre, post))
    notes.append(f"{ci_level:.0%} Wilson score intervals.")
    return ClinicalSignificanceResult(
        table=table,
        title=f"NHS Talking Therapies outcomes ({names})",
        method=METHOD_LABEL["nhs-talking-therapies"]
        + (", joint PHQ-9 + GAD-7 rules" if joint else f", single-measure rules ({names})"),
        params=params,
        notes=tuple(notes),
        episodes=ep,
    )


def _refuse_silent_joint(df, instrument, func) -> None:
    """instrument=None on a table with PHQ-9 and GAD-7 rows: say how to ask for the joint rules."""
    if instrument is not None or "instrument" not in df.columns:
        return
    raw = df["instrument"].dropna()
    canon = canonical_names(raw)
    present = set(canon.dropna())
    if set(JOINT) <= present:
        shown = sorted(present | set(raw[canon.isna()].astype(str)))
        raise ConfigError(
            f"iop.{func}: the table holds {len(shown)} instruments ({shown}) and "
            "instrument=None asks for exactly one. Pass instrument=['PHQ-9', 'GAD-7'] for the "
            "joint NHS Talking Therapies rules, or instrument='PHQ-9' (or 'GAD-7') for the "
            "single-measure rules."
        )


def _joint_rows(df, instrument, func, notes):
    """The PHQ-9 and GAD-7 rows of a joint table, with their canonical name in ``__inst``."""
    wanted = [_instruments.canonical_name(str(i)) or str(i) for i in instrument]
    if sorted(wanted) != sorted(JOINT):
        raise ConfigError(
            f"The 'instrument' parameter of iop.{func} must be one instrument name or the joint "
            f"pair ['PHQ-9', 'GAD-7']. Got {instrument!r} instead."
        )
    select_instrument(df, list(JOINT), func=func, many=True)  # both present, else DataError
    if "episode_id" not in df.columns:
        raise DataError(
            f"{func}: the table holds PHQ-9 and GAD-7 rows but no 'episode_id' column to "
            "pair them by. Add episode_id, or pass instrument= to use one measure."
        )
    canon = canonical_names(df["instrument"])
    other = ~canon.isin(JOINT)
    if other.any():
        notes.append(
            f"{int(other.sum()):,} row(s) of other instruments "
            f"({sorted(map(str, df.loc[other, 'instrument'].dropna().unique()))}) were "
            "left out (the joint rules use PHQ-9 and GAD-7)."
        )
    return df.loc[~other].assign(__inst=canon[~other])


def _pair_joint(df, by_cols, pre, post, func):
    """One row per episode from its PHQ-9 and GAD-7 rows (integer codes, no reshaping)."""
    measures = [_instruments.get("PHQ-9"), _instruments.get("GAD-7")]
    codes, uniq = pd.factorize(df["episode_id"])
    if (codes < 0).any():
        raise DataError(f"{func}: {int((codes < 0).sum()):,} row(s) have no episode_id.")
    n_ep = len(uniq)
    mcode = (df["__inst"].to_numpy() == "GAD-7").astype(np.int64)
    key = codes.astype(np.int64) * 2 + mcode
    dup = np.bincount(key, minlength=2 * n_ep)[key] > 1
    if dup.any():
        ex = df.loc[dup, ["episode_id", "__inst"]].drop_duplicates().head(3)
        raise DataError(
            f"{func}: {int(dup.sum()):,} rows repeat an (episode_id, instrument) pair, e.g. "
            f"{ex.to_records(index=False).tolist()}. Give one row per episode and instrument."
        )
    pos = np.full((n_ep, 2), -1, dtype=np.int64)
    pos[codes, mcode] = np.arange(len(df))
    ep_index = pd.Index(uniq, name="episode_id")

    def per_episode(col: str, how: str = "first") -> pd.Series:
        """The PHQ-9 row's value, else the GAD-7 row's ('max': the larger of the two)."""
        vals = []
        for j in (0, 1):
            pj = pos[:, j]
            v = df[col].iloc[np.where(pj >= 0, pj, 0)].reset_index(drop=True)
            vals.append(v.where(pd.Series(pj >= 0)))
        if how == "max":
            a = pd.to_numeric(vals[0], errors="coerce").to_numpy(float)
            b = pd.to_numeric(vals[1], errors="coerce").to_numpy(float)
            return pd.Series(np.fmax(a, b), index=ep_index)
        out = vals[0].combine_first(vals[1])
        out.index = ep_index
        return out

    ep = pd.DataFrame(index=ep_index)
    if "patient_id" in df.columns:
        ep["patient_id"] = per_episode("patient_id")
    for c in by_cols:
        ep[c] = per_episode(c)
    x_all, y_all = numeric_scores(df, pre).to_numpy(), numeric_scores(df, post).to_numpy()
    first, last = {}, {}
    for j, m in enumerate(measures):
        pj = pos[:, j]
        ok = pj >= 0
        first[m.name] = pd.Series(np.where(ok, x_all[np.where(ok, pj, 0)], np.nan), ep_index)
        last[m.name] = pd.Series(np.where(ok, y_all[np.where(ok, pj, 0)], np.nan), ep_index)
    extra = {
        "sessions": (
            per_episode("sessions_attended", "max") if "sessions_attended" in df.columns else None
        ),
        "n_treat": per_episode("n_in_treatment", "max") if "n_in_treatment" in df.columns else None,
        "status": per_episode("discharge_status") if "discharge_status" in df.columns else None,
    }
    return measures, ep, first, last, extra


def _single_measure(df, instrument, by_cols, pre, post, func):
    """One measure's rows as they are (one row per input row)."""
    df, inst, inst_notes = resolve_instrument(df, instrument, func)
    if inst is None:
        raise ConfigError(
            f"{func}: name the measure: pass instrument='PHQ-9' (or 'GAD-7'), or "
            "instrument=['PHQ-9', 'GAD-7'] with PHQ-9 and GAD-7 rows for the joint rules."
        )
    ep = id_frame(df, by_cols)
    first = {inst.name: numeric_scores(df, pre)}
    last = {inst.name: numeric_scores(df, post)}
    extra = {
        "sessions": df["sessions_attended"] if "sessions_attended" in df.columns else None,
        "n_treat": df["n_in_treatment"] if "n_in_treatment" in df.columns else None,
        "status": df["discharge_status"] if "discharge_status" in df.columns else None,
        "notes": inst_notes,
    }
    return [inst], ep, first, last, extra


def _check_measures(measures, joint, func, notes) -> None:
    """Each measure has what the NHS rules need; a non-NHS measure is named in the notes."""
    for m in measures:
        if m.better_is != "lower" or m.caseness_cutoff is None or m.reliable_change is None:
            raise ConfigError(
                f"{func}: {m.name} lacks what the NHS definitions need (lower-is-better scoring, "
                "a caseness cut-off and a reliable-change threshold)."
            )
        if not joint and m.name not in JOINT:
            notes.append(
                f"{m.name} is not an NHS Talking Therapies measure; its own caseness cut-off "
                f"({m.caseness_cutoff:g}) and reliable-change threshold ({m.reliable_change:g}) "
                "were used in the NHS rules."
            )


def _score_flags(ep, measures, first, last) -> dict[str, pd.Series]:
    """First/last score columns and the per-episode flags over the measures (any / all)."""
    idx = ep.index
    out = {
        "any": pd.Series(False, index=idx),
        "caseness": pd.Series(False, index=idx),
        "improve": pd.Series(False, index=idx),
        "deter": pd.Series(False, index=idx),
        "below_all": pd.Series(True, index=idx),
    }
    paired_by = {}
    for m in measures:
        f = pd.Series(first[m.name], index=idx, dtype=float)
        la = pd.Series(last[m.name], index=idx, dtype=float)
        s = slug(m.name)
        ep[f"{s}_first"] = f
        ep[f"{s}_last"] = la
        ok = f.notna() & la.notna()
        paired_by[m.name] = ok
        out["any"] |= ok
        out["caseness"] |= ok & (f >= m.caseness_cutoff)
        out["improve"] |= ok & ((f - la) >= m.reliable_change)
        out["deter"] |= ok & ((la - f) >= m.reliable_change)
        out["below_all"] &= ~ok | (la < m.caseness_cutoff)
    if len(measures) == 2:
        p, a = paired_by["PHQ-9"], paired_by["GAD-7"]
        used_lab = first_label([p & a, p, a], ["PHQ-9+GAD-7", "PHQ-9 only", "GAD-7 only"])
    else:
        used_lab = first_label([out["any"]], [f"{measures[0].name} only"])
    ep["measures_used"] = used_lab
    return out


def _finished_course(ep, *, sessions, n_treat, status) -> pd.Series:
    """Finished course: sessions_attended >= 2, else n_in_treatment >= 2; never 'ongoing'."""
    idx = ep.index
    finished = pd.Series(True, index=idx)
    by_sessions = by_count = ongoing = pd.Series(False, index=idx)
    if sessions is not None:
        sa = pd.to_numeric(pd.Series(sessions, index=idx), errors="coerce")
        by_sessions = sa.notna()
        finished = finished.where(~by_sessions, sa >= 2)
    if n_treat is not None:
        nt = pd.to_numeric(pd.Series(n_treat, index=idx), errors="coerce")
        by_count = nt.notna() & ~by_sessions
        finished = finished.where(~by_count, nt >= 2)
    if status is not None:
        st = pd.Series(status, index=idx)
        low = {u: str(u).strip().lower() == "ongoing" for u in pd.unique(st.dropna())}
        ongoing = st.map(low).fillna(False).astype(bool)
        finished &= ~ongoing
    ep["finished_course"] = finished.astype(bool)
    ep["finished_rule"] = first_label(
        [ongoing, by_sessions, by_count],
        [
            "ongoing (not ended)",
            "sessions_attended >= 2",
            "n_in_treatment >= 2 (attendance not recorded)",
        ],
        default="paired scores (attendance not recorded)",
    )
    return finished


def _outcome_flags(ep, paired, finished):
    """Per-episode outcome columns; (flags, denominators, counted) for the rates table."""
    counted = finished & paired["any"]
    rd = counted & paired["deter"]
    ri = counted & paired["improve"] & ~paired["deter"]
    nc = counted & ~ri & ~rd
    caseness = paired["caseness"]
    case = counted & caseness
    not_case = counted & ~caseness
    rec = case & paired["below_all"]
    rrec = rec & ri
    ep["caseness"] = caseness.astype("boolean").where(paired["any"], pd.NA)
    ep["reliable_improvement"] = ri.astype("boolean").where(counted, pd.NA)
    ep["reliable_deterioration"] = rd.astype("boolean").where(counted, pd.NA)
    ep["reliable_change"] = first_label(
        [~counted, ri, rd],
        [None, "reliable improvement", "reliable deterioration"],
        default="no reliable change",
    )
    ep["recovery"] = rec.astype("boolean").where(case, pd.NA)
    ep["reliable_recovery"] = rrec.astype("boolean").where(case, pd.NA)
    ep["counted"] = counted.astype(bool)
    flags = pd.DataFrame(
        {
            "at caseness": case,
            "not at caseness": not_case,
            "reliable improvement": ri,
            "no reliable change": nc,
            "reliable deterioration": rd,
            "recovery": rec,
            "reliable recovery": rrec,
        }
    )
    rec_denom = counted & ~not_case  # finished courses minus those not at caseness
    denom = pd.DataFrame(
        {
            **{o: counted for o in NHS_OUTCOMES[:5]},
            "recovery": rec_denom,
            "reliable recovery": rec_denom,
        }
    )
    return flags, denom, counted


def _nhs_params(measures, joint, pre, post) -> dict[str, Any]:
    """The rules used, per measure, as the result's params."""
    params: dict[str, Any] = {
        "method": "nhs-talking-therapies",
        "rules": "joint PHQ-9 + GAD-7" if joint else f"single measure ({measures[0].name})",
        "threshold_source": "fixed",
    }
    for m in measures:
        s = slug(m.name)
        params[f"{s}_caseness"] = f">= {m.caseness_cutoff:g}"
        params[f"{s}_reliable_change"] = f">= {m.reliable_change:g} points"
    params.update(reliability=None, sd=None, first_score=pre, last_score=post)
    return params


def _nhs_notes(ep, measures, joint, finished, counted, any_paired, pre, post) -> list[str]:
    """The definitions, the finished-course rules used and the counts, in words."""
    notes = [
        "Definitions (NHS England Talking Therapies annual-report metadata): caseness = first "
        + " or ".join(f"{m.name} >= {m.caseness_cutoff:g}" for m in measures)
        + "; reliable improvement = a decrease of at least "
        + " or ".join(f"{m.reliable_change:g} ({m.name})" for m in measures)
        + (
            ", with no reliable deterioration on either measure; reliable deterioration = an "
            "increase of at least the same on either measure (so improving on one measure and "
            "deteriorating on the other counts as deterioration)"
            if joint
            else "; reliable deterioration = an increase of at least the same"
        )
        + "; recovery = at "
        "caseness at the first score and last "
        + " and ".join(f"{m.name} < {m.caseness_cutoff:g}" for m in measures)
        + "; reliable recovery = recovery and reliable improvement. Denominators: finished courses "
        "(recovery, reliable recovery: finished courses minus those not at caseness)."
    ]
    rule_counts = ep["finished_rule"].value_counts()
    rule_counts = rule_counts[rule_counts > 0]
    notes.append(
        "Finished course: "
        + "; ".join(f"{r} for {c:,} episode(s)" for r, c in rule_counts.items())
        + ". NHS counts >= 2 attended treatment appointments; n_in_treatment counts scores, a "
        "proxy for attended contacts (first and last scores from different contacts)."
    )
    n_unfinished = int((~finished).sum())
    n_unpaired = int((finished & ~any_paired).sum())
    notes.append(
        f"First/last scores taken from {pre!r}/{post!r}. {len(ep.index):,} episode(s): "
        f"{int(counted.sum()):,} counted, {n_unfinished:,} not a finished course, "
        f"{n_unpaired:,} finished but without paired scores."
    )
    if joint:
        vc = ep.loc[counted, "measures_used"].value_counts()
        partial = {k: int(v) for k, v in vc.items() if k != "PHQ-9+GAD-7" and v > 0}
        if partial:
            notes.append(
                "Episodes with only one paired measure were classified on that measure alone: "
                + ", ".join(f"{k}: {v:,}" for k, v in partial.items())
                + "."
            )
    else:
        notes.append(
            f"Only {measures[0].name} was available: the NHS definitions were applied to it "
            "alone (single-measure rules). National figures use PHQ-9 and an anxiety measure "
            "together, so these rates are not strictly comparable with them."
        )
    return notes
