"""Input handling shared by the retention analyses.

The first argument of every analysis is ``episodes``: the episode table of
``docs/data-format.md`` (one row per episode and instrument). Assessment rows (``iop.load(...).data``)
are accepted too and told apart by their columns: a table **without** a ``baseline`` column that
holds ``total`` (or ``assessment_date``, ``timepoint``, ``item_1``) is taken as assessment rows
and turned into the episode table with :func:`iop_outcomes.episodes`, for the instrument chosen
by the library's one rule (``instrument=None`` needs exactly one instrument in the rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._instrument_rule import select_instrument
from .._results import MISSING_GROUP
from .._validation import check_columns, public_name
from ..exceptions import ConfigError, DataError
from ..io import LoadResult

#: Discharge statuses of the data contract, in flow order.
STATUSES = ("completed", "dropped_out", "transferred", "administrative", "ongoing")
CLOSED = ("completed", "dropped_out", "transferred", "administrative")
#: Days after discharge at which each follow-up window closes (the upper ends of the default
#: ``EpisodeRules.followup_windows``: 1 m 14–60 d, 3 m 61–135 d, 6 m 136–270 d, 12 m 271–500 d).
#: With ``as_of``, an episode counts toward a window's response rate only once it has closed.
WINDOW_DAYS = {"1m": 60, "3m": 135, "6m": 270, "12m": 500}
ALL = "(all)"


#: Columns that mark a table of assessment rows (it has no ``baseline`` column).
ASSESSMENT_COLUMNS = frozenset({"total", "assessment_date", "timepoint", "item_1"})


# --------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------
def is_assessments(frame: pd.DataFrame) -> bool:
    """True for assessment rows: no ``baseline`` column, and ``total`` (or ``assessment_date``,
    ``timepoint``, ``item_1``) present. Anything else is taken as an episode table."""
    cols = set(frame.columns)
    return "baseline" not in cols and bool(cols & ASSESSMENT_COLUMNS)


def as_episodes(data: Any, instrument: Any, *, func: str, many: bool = False) -> pd.DataFrame:
    """The episode table: ``data`` itself, or built from assessment rows with
    :func:`iop_outcomes.episodes` for the instrument the library's rule chooses
    (:func:`~iop_outcomes._validation.select_instrument`: ``None`` needs exactly one
    instrument in the rows; no silent choice). A ``LoadResult`` stands for its ``.data``."""
    frame = data.data if isinstance(data, LoadResult) else data
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(
            f"The 'episodes' parameter of {public_name(func)} must be a pandas DataFrame (an "
            f"episode table or assessment rows). Got {type(frame).__name__} instead."
        )
    if not is_assessments(frame):
        return frame
    _, name = select_instrument(frame, instrument, func=func, many=many)
    from .. import episodes as build_episodes  # the public function (lazy: no import circle)

    return build_episodes(frame, instrument=list(name) if isinstance(name, tuple) else name)


def episode_table(data: Any, instrument: Any, *, func: str) -> tuple[pd.DataFrame, Any]:
    """One instrument's episode rows (the rule of :func:`select_instrument`), index reset, and
    the instrument's canonical name (``None`` when the table has no ``instrument`` column)."""
    ep = as_episodes(data, instrument, func=func)
    ep, name = select_instrument(ep, instrument, func=func)
    return ep.reset_index(drop=True), name


def one_row_per_episode(ep: pd.DataFrame) -> pd.DataFrame:
    """Episode facts (status, dates, length of stay) do not depend on the instrument."""
    if "episode_id" in ep.columns and ep["episode_id"].duplicated().any():
        return ep.drop_duplicates("episode_id")
    return ep


def status_codes(ep: pd.DataFrame, func: str) -> np.ndarray:
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
            f"The 'discharge_status' column passed to {public_name(func)} has value(s) {bad}; "
            f"allowed: {list(STATUSES)} (or missing)."
        )
    lut = np.array([STATUSES.index(v) for v in norm] + [unknown], dtype=np.int64)
    return lut[codes]  # code -1 picks the trailing 'unknown'


def group_codes(
    ep: pd.DataFrame, group: str | None, reference: Any, *, func: str, param: str = "group"
) -> tuple[np.ndarray, list[str]]:
    """Integer group codes and their labels; missing labels become '(missing)' (last).

    Levels are in categorical order, else sorted; ``reference`` (a level) is moved first, as
    R's ``relevel``; ``None`` keeps the first level as the reference."""
    if group is None:
        if reference is not None:
            raise ConfigError(
                f"The 'reference' parameter of {public_name(func)} names a level of the "
                f"'group' column, so it needs group=... . Got reference={reference!r} with "
                "group=None."
            )
        return np.zeros(len(ep), dtype=np.int64), [ALL]
    check_columns(ep, [group], func=func, what="episode table", hint=f"Choose {param}=... or None.")
    col = ep[group]
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
    if reference is None:
        return codes, labels
    return _relevel(codes, labels, reference, group, func)


def _relevel(
    codes: np.ndarray, labels: list[str], reference: Any, group: str, func: str
) -> tuple[np.ndarray, list[str]]:
    """Move the ``reference`` level first (codes renumbered to match)."""
    levels = [lab for lab in labels if lab != MISSING_GROUP]
    if str(reference) not in levels:
        shown = ", ".join(repr(v) for v in levels)
        raise ConfigError(
            f"The 'reference' parameter of {public_name(func)} must be a level of the "
            f"{group!r} column ({shown}) or None. Got {reference!r} instead."
        )
    r = labels.index(str(reference))
    order = [r, *(i for i in range(len(labels)) if i != r)]
    new_code = np.empty(len(labels), dtype=np.int64)
    new_code[order] = np.arange(len(labels))
    return new_code[codes], [labels[i] for i in order]


def numeric(ep: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` as floats (NaN where missing or not a number; all NaN when absent)."""
    if col not in ep.columns:
        return np.full(len(ep), np.nan)
    return pd.to_numeric(ep[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def dates(ep: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as datetimes (NaT where missing or unreadable; all NaT when absent)."""
    if col not in ep.columns:
        return pd.Series(pd.NaT, index=ep.index, dtype="datetime64[ns]")
    return pd.to_datetime(ep[col], errors="coerce")
