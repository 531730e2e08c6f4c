"""Column mapping, value synonyms and wide-to-long reshaping.

A mapping renames a user's columns onto the data contract and may add value
synonyms and options. As a dict::

    {"columns": {"Client ID": "patient_id", "Date": "assessment_date"},
     "values": {"format": {"zoom": "virtual"}},
     "options": {"date_format": "%d/%m/%Y"}}

or flat (``{"Client ID": "patient_id"}``), or the same as a TOML file::

    [columns]
    "Client ID" = "patient_id"
    [values.format]
    zoom = "virtual"
    [options]
    date_format = "%d/%m/%Y"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..exceptions import ConfigError, LoadError

__all__ = [
    "Mapping",
    "read_mapping",
    "normalize_name",
    "CONTRACT_COLUMNS",
    "FORMAT_SYNONYMS",
    "STATUS_SYNONYMS",
    "normalize_timepoint",
    "wide_to_long",
]

#: Contract columns in output order (item columns and extras follow).
CONTRACT_COLUMNS = [
    "patient_id",
    "episode_id",
    "instrument",
    "assessment_date",
    "timepoint",
    "week",
    "total",
    "admit_date",
    "discharge_date",
    "discharge_status",
    "format",
    "site",
    "program",
    "cohort",
    "age",
    "gender_identity",
    "race_ethnicity",
    "payer",
    "attendance_hours",
    "sessions_attended",
    "sessions_scheduled",
]


def _k(s: str) -> str:
    return re.sub(r"[\s_\-./]+", "", str(s)).lower()


#: Delivery-format synonyms (keys compared without case, spaces, '-', '_').
FORMAT_SYNONYMS = {
    **dict.fromkeys(
        ["inperson", "facetoface", "f2f", "onsite", "office", "clinic", "inoffice", "onpremises"],
        "in_person",
    ),
    **dict.fromkeys(
        [
            "virtual",
            "telehealth",
            "telemedicine",
            "telehealthvideo",
            "remote",
            "online",
            "video",
            "vIOP",
        ],
        "virtual",
    ),
    **dict.fromkeys(["hybrid", "blended", "mixed"], "hybrid"),
}
FORMAT_SYNONYMS = {_k(k): v for k, v in FORMAT_SYNONYMS.items()}

#: Discharge-status synonyms.
STATUS_SYNONYMS = {
    _k(k): v
    for k, v in {
        "completed": "completed",
        "complete": "completed",
        "graduated": "completed",
        "successful": "completed",
        "successfully completed": "completed",
        "dropped_out": "dropped_out",
        "dropout": "dropped_out",
        "drop out": "dropped_out",
        "dropped": "dropped_out",
        "ama": "dropped_out",
        "left against medical advice": "dropped_out",
        "lost to contact": "dropped_out",
        "disengaged": "dropped_out",
        "transferred": "transferred",
        "transfer": "transferred",
        "step up": "transferred",
        "step down": "transferred",
        "referred": "transferred",
        "administrative": "administrative",
        "admin": "administrative",
        "administrative discharge": "administrative",
        "ongoing": "ongoing",
        "active": "ongoing",
        "in treatment": "ongoing",
        "current": "ongoing",
    }.items()
}


def normalize_name(col: str) -> str:
    """Contract form of a column name: lower case, separators as ``_``.

    Examples
    --------
    >>> normalize_name(" Patient ID "), normalize_name("Item-3"), normalize_name("item3")
    ('patient_id', 'item_3', 'item_3')
    """
    s = re.sub(r"[\s\-./]+", "_", str(col).strip().lstrip("\ufeff")).lower().strip("_")
    m = re.fullmatch(r"item_?(\d+)", s)
    return f"item_{int(m.group(1))}" if m else s


#: Follow-up months of the contract (other follow-up labels are not guessed at).
FOLLOWUP_MONTHS = (1, 3, 6, 12)
#: Largest week since admission a row may carry: five years, beyond any IOP/PHP episode and its
#: 12-month follow-up, so that a mistyped week (``week_2025``, ``1e30``) is caught, not modelled.
MAX_WEEK = 260
_FU = r"(?:followup|fu|fup|f/u)"
_MO = r"(?:m|mo|mos|mon|month|months)"
_TP_PATTERNS = [
    (
        re.compile(r"^(?:intake|baseline|admission|admit|pre|pretreatment|week0|wk0|w0|t0)$"),
        "intake",
    ),
    (re.compile(r"^(?:discharge|dc|post|posttreatment|end|endoftreatment|final)$"), "discharge"),
    (re.compile(r"^(?:week|wk|w)(\d+)$"), "week_{}"),
    # 3m, fu3m, 3mfu, 3 month follow up, 1-month follow-up, 3mo FU, followup 6 months, 6 months
    (re.compile(rf"^{_FU}?(\d+){_MO}{_FU}?$"), "followup_{}m"),
    # Month 3, follow-up month 6
    (re.compile(rf"^{_FU}?(?:mo|month)(\d+){_FU}?$"), "followup_{}m"),
]
_ARM = re.compile(r"[_\s]*arm[_\s]*\d+$")


def normalize_timepoint(value) -> str | None:
    """Canonical timepoint label, or ``None`` when not recognised.

    Case, spaces, ``-`` and ``_`` do not matter; a REDCap ``_arm_N`` suffix is
    dropped. Follow-ups must name 1, 3, 6 or 12 months; bare ``FU1`` / ``FU2``
    (a visit number, not a month) are not recognised.

    Examples
    --------
    >>> [normalize_timepoint(v) for v in ["Baseline", "Week 3", "FU 3m", "follow-up 6 months", "xx"]]
    ['intake', 'week_3', 'followup_3m', 'followup_6m', None]
    >>> [normalize_timepoint(v) for v in ["3_month_followup_arm_1", "Month 3", "3mo FU", "FU1", "2 months"]]
    ['followup_3m', 'followup_3m', 'followup_3m', None, None]
    """
    s = _ARM.sub("", str(value).strip().lower())
    s = re.sub(r"[\s\-_.]+", "", s)
    for pat, out in _TP_PATTERNS:
        m = pat.match(s)
        if m:
            if not m.groups():
                return out
            k = int(m.group(1))
            if out.startswith("followup") and k not in FOLLOWUP_MONTHS:
                return None
            if out.startswith("week") and k > MAX_WEEK:
                return None
            return out.format(k)
    return None


@dataclass(frozen=True)
class Mapping:
    """Column renames, value synonyms and options for one input."""

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)

    def target(self, column) -> str:
        """The contract name a source column gets (mapping first, else its normalised name)."""
        lookup = {normalize_name(k): normalize_name(v) for k, v in self.columns.items()}
        n = normalize_name(column)
        return lookup.get(n, n)

    def renamed(self, columns) -> dict[str, str]:
        """``{contract name: your column}`` for the columns the mapping renamed.

        Examples
        --------
        >>> Mapping({"phq9_2": "item_2"}).renamed(["phq9_2", "Total"])
        {'item_2': 'phq9_2'}
        """
        lookup = {normalize_name(k): normalize_name(v) for k, v in self.columns.items()}
        return {lookup[normalize_name(c)]: str(c) for c in columns if normalize_name(c) in lookup}

    def apply(self, df: pd.DataFrame, source: str) -> pd.DataFrame:
        """Rename columns onto the contract (case-insensitive) and normalise names."""
        new = [self.target(c) for c in df.columns]
        dups = sorted({c for c in new if new.count(c) > 1})
        if dups:
            orig = {
                d: [str(c) for c, n in zip(df.columns, new, strict=True) if n == d] for d in dups
            }
            raise LoadError(
                f"{source}: several columns map to the same name: {orig}. "
                "Rename or drop the extra column(s), or fix the mapping."
            )
        return df.set_axis(new, axis=1)  # copy-on-write: no data copied


def read_mapping(mapping) -> Mapping:
    """Build a :class:`Mapping` from ``None``, a dict, a Mapping or a TOML file path.

    Examples
    --------
    >>> read_mapping({"Client": "patient_id"}).columns
    {'Client': 'patient_id'}
    """
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, (str, Path)):
        try:
            with open(mapping, "rb") as fh:
                mapping = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"Mapping file not found: {str(mapping)!r}.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Mapping file {str(mapping)!r} is not valid TOML: {exc}.") from None
    if not isinstance(mapping, dict):
        raise ConfigError(
            "The 'mapping' parameter of iop.load must be a dict, a TOML file path or None. "
            f"Got {type(mapping).__name__} instead."
        )
    if set(mapping) <= {"columns", "values", "options"} and mapping:
        cols = dict(mapping.get("columns", {}))
        values = {
            normalize_name(k): {_k(a): b for a, b in v.items()}
            for k, v in mapping.get("values", {}).items()
        }
        return Mapping(cols, values, dict(mapping.get("options", {})))
    bad = [k for k, v in mapping.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(
            f"Mapping entries must map a column name to a contract column name; {bad} do not. "
            "Use {'columns': {...}, 'values': {...}, 'options': {...}} for value synonyms and options."
        )
    return Mapping(dict(mapping))


_WIDE = re.compile(r"^(?P<inst>[a-z]+_?\d+)_(?P<tp>.+?)(?P<date>_date)?$")


def wide_to_long(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reshape a wide file (one row per episode) to long.

    Score columns are ``<instrument>_<timepoint>`` (``phq9_intake``,
    ``gad7_fu3m``, ``phq9_week_4``, ``PHQ-9 Intake``) with optional
    ``<instrument>_<timepoint>_date`` companions; other columns are
    episode-level and repeated. Each non-empty score cell becomes one
    assessment row. Returns the long frame and the origin of each long row
    (``source_row``: the 1-based wide row, ``source_column``: the score
    column); ``origin.attrs["rows_without_scores"]`` counts wide rows with no
    score at all (they produce no long row).
    """
    from ..instruments import canonical_name

    df = df.reset_index(drop=True)  # row numbers are positions, whatever the index was
    score_cols = []
    for c in df.columns:
        m = _WIDE.match(c)
        if (
            m
            and not m.group("date")
            and canonical_name(m.group("inst"))
            and normalize_timepoint(m.group("tp"))
        ):
            score_cols.append(
                (
                    c,
                    canonical_name(m.group("inst")),
                    normalize_timepoint(m.group("tp")),
                    m.group("tp"),
                )
            )
    if not score_cols:
        raise LoadError(
            f"{source}: wide=True, but no score columns named like 'phq9_intake' or 'gad7_fu3m' were "
            f"found. Columns found: {list(df.columns)}. Rename score columns to <instrument>_<timepoint> "
            "(timepoints: intake, week_N, discharge, fu1m/fu3m/fu6m/fu12m) with the mapping."
        )
    used = {c for c, *_ in score_cols}
    date_cols = {f"{c}_date" for c in used}
    base = [c for c in df.columns if c not in used and c not in date_cols]
    parts = []
    for col, inst, tp, _raw in score_cols:
        vals = df[col]
        keep = vals.notna().to_numpy()
        part = df.loc[keep, base].copy()
        part["instrument"] = inst
        part["timepoint"] = tp
        part["total"] = vals[keep].to_numpy()
        dcol = f"{col}_date"
        part["assessment_date"] = df.loc[keep, dcol].to_numpy() if dcol in df.columns else pd.NaT
        part["source_row"] = df.index.to_numpy()[keep] + 1
        part["source_column"] = col
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    long = long.sort_values(["source_row", "source_column"], kind="mergesort").reset_index(
        drop=True
    )
    if long["assessment_date"].isna().all():
        long = long.drop(columns="assessment_date")
    origin = long[["source_row", "source_column"]].copy()
    origin.attrs["rows_without_scores"] = int(
        df[[c for c, *_ in score_cols]].isna().all(axis=1).sum()
    )
    return long.drop(columns=["source_row", "source_column"]), origin
