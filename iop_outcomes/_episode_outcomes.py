"""One outcome per episode, taken from the library's own definitions (never re-derived).

Shared by :func:`iop_outcomes.funnel` and :func:`iop_outcomes.over_time`: both compare one
per-episode outcome across units or periods. Each named outcome comes from the function that
defines it:

===========================  =================================================================
outcome                      source
===========================  =================================================================
``recovery``                 :func:`~iop_outcomes.clinical_significance`,
``reliable improvement``     ``method="nhs-talking-therapies"`` (NHS England definitions;
``reliable recovery``        the joint PHQ-9 + GAD-7 rules only with an explicit
``reliable deterioration``   ``instrument=["PHQ-9", "GAD-7"]``, else the single measure the
                             instrument rule selects); its per-episode flags and denominators
``response``, ``remission``  :func:`~iop_outcomes.change_scores` (50 % reduction; endpoint
                             below the instrument's remission cut-off); a baseline of 0 counts
                             as not responding, as the shareable report does
``dropout``                  ``discharge_status`` (the retention data contract): dropped out
                             among closed episodes (completed, dropped out, transferred,
                             administrative); ongoing or unknown status is not counted
``change``                   :func:`~iop_outcomes.change_scores`: endpoint - baseline (a mean)
===========================  =================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._instrument_rule import select_instrument
from .exceptions import ConfigError, DataError

__all__ = ["OUTCOMES", "EpisodeOutcome", "episode_outcome"]

#: name -> (source, column, better_is, label)
OUTCOMES: dict[str, tuple[str, str, str, str]] = {
    "recovery": ("nhs", "recovery", "higher", "recovery rate"),
    "reliable improvement": ("nhs", "reliable_improvement", "higher", "reliable improvement rate"),
    "reliable recovery": ("nhs", "reliable_recovery", "higher", "reliable recovery rate"),
    "reliable deterioration": (
        "nhs",
        "reliable_deterioration",
        "lower",
        "reliable deterioration rate",
    ),
    "response": ("change", "response", "higher", "response rate (>= 50 % reduction)"),
    "remission": ("change", "remission", "higher", "remission rate"),
    "dropout": ("status", "discharge_status", "lower", "dropout rate"),
    "change": ("mean", "change", "lower", "mean change (endpoint - baseline)"),
}
_DEFINITIONS = {
    "nhs": "NHS Talking Therapies definitions via clinical_significance(method="
    "'nhs-talking-therapies'); denominators as defined there",
    "change": "change_scores(zero_baseline='not_responding'): episodes with paired scores",
    "status": "discharge_status == 'dropped_out' among closed episodes (completed, dropped_out, "
    "transferred, administrative)",
    "mean": "change_scores: endpoint - baseline among episodes with paired scores",
}


@dataclass
class EpisodeOutcome:
    """Per-episode outcome ``y`` (NaN = not in the denominator) beside the columns kept."""

    frame: pd.DataFrame
    name: str
    kind: str  # "proportion" or "mean"
    better_is: str
    label: str
    definition: str
    instrument: Any
    notes: list[str] = field(default_factory=list)


def _key(outcome: Any) -> str:
    return str(outcome).strip().lower().replace("_", " ").replace("-", " ")


def _bool_to_float(s: pd.Series) -> np.ndarray:
    return pd.array(s, dtype="boolean").to_numpy(dtype=float, na_value=np.nan)


def episode_outcome(
    data: Any,
    outcome: str,
    *,
    keep: Sequence[str],
    instrument: Any,
    func: str,
) -> EpisodeOutcome:
    """Outcome ``y`` per episode (one row per episode) with the columns ``keep``.

    The instrument rule (:func:`~iop_outcomes._validation.select_instrument`) applies to the
    score outcomes: ``instrument=None`` needs a table of one instrument; the NHS outcomes
    accept the list ``["PHQ-9", "GAD-7"]`` for the joint rules (never chosen silently).
    Dropout is an episode fact and reads every instrument's rows (one row per episode).

    Examples
    --------
    >>> import pandas as pd
    >>> ep = pd.DataFrame({"episode_id": ["a", "b", "c"], "site": ["N", "N", "S"],
    ...                    "discharge_status": ["completed", "dropped_out", "ongoing"]})
    >>> out = episode_outcome(ep, "dropout", keep=["site"], instrument=None, func="funnel")
    >>> out.frame["y"].tolist()
    [0.0, 1.0, nan]
    """
    from ._retention import STATUSES, as_episodes, one_row_per_episode, status_codes

    key = _key(outcome)
    if key not in OUTCOMES:
        raise ConfigError(
            f"The 'outcome' parameter of iop.{func} must be one of {list(OUTCOMES)}. "
            f"Got {outcome!r} instead."
        )
    source, col, better_is, label = OUTCOMES[key]
    ep = as_episodes(data, instrument, func=func, many=True)
    keep = list(dict.fromkeys(keep))
    missing = [c for c in keep if c not in ep.columns]
    if missing:
        raise DataError(
            f"{func} needs column(s) {missing}, which the episode table lacks. "
            f"Columns present: {sorted(map(str, ep.columns))}."
        )
    ep = ep.reset_index(drop=True)
    notes: list[str] = []
    if source != "status":
        ep, chosen = select_instrument(ep, instrument, func=func, many=source == "nhs")
        ep = ep.reset_index(drop=True)
        if isinstance(chosen, tuple) and set(chosen) != {"PHQ-9", "GAD-7"}:
            raise ConfigError(
                f"The 'instrument' parameter of iop.{func} takes a list only for the joint "
                f"NHS Talking Therapies rules, ['PHQ-9', 'GAD-7']. Got {instrument!r} instead."
            )
        instrument = list(chosen) if isinstance(chosen, tuple) else chosen
    if source == "nhs":
        from ._clinsig import clinical_significance

        res = clinical_significance(ep, method="nhs-talking-therapies", instrument=instrument)
        flags = res.episodes
        if "episode_id" not in flags.columns and flags.index.name == "episode_id":
            flags = flags.reset_index()  # the joint PHQ-9 + GAD-7 table is indexed by episode
        if "episode_id" in ep.columns and "episode_id" in flags.columns:
            base = ep
            if "instrument" in ep.columns and ep["episode_id"].duplicated().any():
                # joint table: covariates from the PHQ-9 row when there is one
                first = ep["instrument"].astype(str).str.upper().str.startswith("PHQ")
                base = ep.iloc[np.argsort(~first.to_numpy(), kind="stable")]
            base = base.drop_duplicates("episode_id")
            y = flags.drop_duplicates("episode_id").set_index("episode_id")[col]
            frame = base[["episode_id", *[c for c in keep if c != "episode_id"]]].copy()
            frame["y"] = _bool_to_float(y.reindex(frame["episode_id"].to_numpy()))
        else:
            if len(flags) != len(ep):
                raise DataError(
                    f"{func}: the episode table has no 'episode_id' column and holds several "
                    "rows per episode; add episode_id or pass one instrument's rows."
                )
            frame = ep[keep].copy()
            frame["y"] = _bool_to_float(flags[col].reset_index(drop=True))
        inst = res.params.get("instrument", instrument) if hasattr(res, "params") else instrument
    elif source in ("change", "mean"):
        from ._change import change_scores

        one = ep
        scored = change_scores(one, instrument=instrument, zero_baseline="not_responding")
        frame = one[keep].copy()
        if source == "mean":
            frame["y"] = pd.to_numeric(scored[col], errors="coerce").to_numpy(dtype=float)
        else:
            frame["y"] = _bool_to_float(scored[col])
        inst = instrument
        if inst is None and "instrument" in one.columns:
            vals = pd.unique(one["instrument"].dropna())
            inst = str(vals[0]) if len(vals) == 1 else None
    else:  # dropout: an episode fact, one row per episode
        one = one_row_per_episode(ep).reset_index(drop=True)
        if "discharge_status" not in one.columns:
            raise DataError(
                f"{func}(outcome='dropout') needs a 'discharge_status' column. "
                f"Columns present: {sorted(map(str, one.columns))}."
            )
        codes = status_codes(one, func)
        closed = np.isin(
            codes,
            [
                STATUSES.index(s)
                for s in ("completed", "dropped_out", "transferred", "administrative")
            ],
        )
        frame = one[keep].copy()
        frame["y"] = np.where(
            closed, (codes == STATUSES.index("dropped_out")).astype(float), np.nan
        )
        inst = None
    frame = frame.reset_index(drop=True)
    n_out = int(np.isnan(frame["y"].to_numpy(dtype=float)).sum())
    if n_out:
        notes.append(
            f"{n_out:,} of {len(frame):,} episode(s) are not in the denominator of {label} "
            f"({_DEFINITIONS[source]})."
        )
    return EpisodeOutcome(
        frame=frame,
        name=key,
        kind="mean" if source == "mean" else "proportion",
        better_is=better_is,
        label=label,
        definition=_DEFINITIONS[source],
        instrument=inst,
        notes=notes,
    )
