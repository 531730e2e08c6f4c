"""Input handling shared by the retention analyses: the episode table (built from assessment
rows when needed), discharge status codes, group codes, numeric and date columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._results import MISSING_GROUP
from ..exceptions import ConfigError, DataError

#: Discharge statuses of the data contract, in flow order.
STATUSES = ("completed", "dropped_out", "transferred", "administrative", "ongoing")
CLOSED = ("completed", "dropped_out", "transferred", "administrative")
#: Days after discharge at which each follow-up window closes (the upper ends of the default
#: ``EpisodeRules.followup_windows``: 1 m 14–60 d, 3 m 61–135 d, 6 m 136–270 d, 12 m 271–500 d).
#: With ``as_of``, an episode counts toward a window's response rate only once it has closed.
WINDOW_DAYS = {"1m": 60, "3m": 135, "6m": 270, "12m": 500}
ALL = "(all)"


# --------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------
def as_frame(data: Any, fname: str) -> pd.DataFrame:
    if hasattr(data, "data") and isinstance(data.data, pd.DataFrame):  # LoadResult
        data = data.data
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"The 'data' parameter of {fname} must be a pandas DataFrame (episode table or "
            f"loaded assessments). Got {type(data).__name__} instead."
        )
    return data


def as_episodes(
    data: Any, fname: str, instrument: str | None = None, any_instrument: bool = False
) -> pd.DataFrame:
    """Return an episode table; build it from assessment rows when needed (with
    ``any_instrument``, every instrument, for analyses of episode facts only)."""
    df = as_frame(data, fname)
    cols = set(df.columns)
    if "baseline" not in cols and cols & {"total", "assessment_date", "timepoint", "item_1"}:
        from ..episodes import episodes as _episodes  # lazy: written alongside this module

        if instrument is not None or any_instrument:
            kw = {"instrument": instrument}
        else:
            kw = {}  # the episodes module's default instrument
        built = _episodes(df, **kw)
        df = built.to_frame() if hasattr(built, "to_frame") else built
        if not isinstance(df, pd.DataFrame) and hasattr(built, "table"):
            df = built.table
    return df


def keep_instrument(ep: pd.DataFrame, instrument: str | None, fname: str) -> pd.DataFrame:
    """Keep one instrument's rows (episode tables hold one row per episode and instrument)."""
    if "instrument" not in ep.columns:
        return ep
    present = pd.unique(ep["instrument"].dropna())
    if instrument is None:
        if len(present) > 1:
            raise ConfigError(
                f"The episode table passed to {fname} holds several instruments "
                f"({', '.join(map(str, present))}); pass instrument=... to choose one."
            )
        return ep
    from .. import instruments as _inst

    name = _inst.canonical_name(instrument) if hasattr(_inst, "canonical_name") else instrument
    keep = ep["instrument"].astype(str).map(_canon_or_self) == name
    if not keep.any():
        raise DataError(
            f"No rows for instrument {instrument!r} in the episode table. "
            f"Present: {', '.join(map(str, present))}."
        )
    return ep.loc[keep.to_numpy()]


def _canon_or_self(name: str) -> str:
    from .. import instruments as _inst

    try:
        return _inst.canonical_name(name)
    except Exception:  # unknown instrument names stay as given
        return name


def instrument_of(ep: pd.DataFrame) -> str | None:
    if "instrument" not in ep.columns:
        return None
    vals = pd.unique(ep["instrument"].dropna())
    return str(vals[0]) if len(vals) == 1 else None


def one_row_per_episode(ep: pd.DataFrame) -> pd.DataFrame:
    """Episode facts (status, dates, length of stay) do not depend on the instrument."""
    if "episode_id" in ep.columns and ep["episode_id"].duplicated().any():
        return ep.drop_duplicates("episode_id")
    return ep


def require(ep: pd.DataFrame, needed: list[str], fname: str) -> None:
    missing = [c for c in needed if c not in ep.columns]
    if missing:
        raise DataError(
            f"{fname} needs column(s) {missing} in the episode table. "
            f"Columns present: {sorted(map(str, ep.columns))}."
        )


def status_codes(ep: pd.DataFrame, fname: str) -> np.ndarray:
    """Discharge status as integer codes: index into :data:`STATUSES`, ``len(STATUSES)`` for
    unknown (missing). Spelling is normalised (case, spaces); other values raise."""
    unknown = len(STATUSES)
    if "discharge_status" not in ep.columns:
        return np.full(len(ep), unknown, dtype=np.int64)
    codes, uniq = pd.factorize(ep["discharge_status"])  # missing -> -1; vectorized over rows
    norm = [str(v).strip().lower().replace(" ", "_").replace("-", "_") for v in uniq]
    bad = sorted(set(norm) - set(STATUSES))
    if bad:
        raise DataError(
            f"The 'discharge_status' column passed to {fname} has value(s) {bad}; "
            f"allowed: {list(STATUSES)} (or missing)."
        )
    lut = np.array([STATUSES.index(v) for v in norm] + [unknown], dtype=np.int64)
    return lut[codes]  # code -1 picks the trailing 'unknown'


def group_codes(ep: pd.DataFrame, by: str | None, fname: str) -> tuple[np.ndarray, list[str]]:
    """Integer group codes and their labels; missing labels become '(missing)'."""
    if by is None:
        return np.zeros(len(ep), dtype=np.int64), [ALL]
    if not isinstance(by, str):
        raise ConfigError(
            f"The 'by' parameter of {fname} must be a column name or None. Got {by!r} instead."
        )
    if by not in ep.columns:
        raise DataError(
            f"The 'by' column {by!r} passed to {fname} is not in the episode table. "
            f"Columns present: {sorted(map(str, ep.columns))}."
        )
    col = ep[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        labels = [str(c) for c in col.cat.categories]
    else:
        try:
            codes, uniq = pd.factorize(col, sort=True)
        except TypeError:  # mixed label types cannot be sorted: keep order of appearance
            codes, uniq = pd.factorize(col, sort=False)
        codes = codes.astype(np.int64)
        labels = [str(u) for u in uniq]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels = [*labels, MISSING_GROUP]
    return codes, labels


def numeric(ep: pd.DataFrame, col: str) -> np.ndarray:
    if col not in ep.columns:
        return np.full(len(ep), np.nan)
    return pd.to_numeric(ep[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def dates(ep: pd.DataFrame, col: str) -> pd.Series:
    if col not in ep.columns:
        return pd.Series(pd.NaT, index=ep.index, dtype="datetime64[ns]")
    return pd.to_datetime(ep[col], errors="coerce")
