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

Visit rows with several questionnaires side by side take ``[instruments.<name>]`` tables
(:mod:`iop_outcomes.io.visits`); ``[options] instrument = "PHQ-9"`` names the questionnaire of a
file without an instrument column.

Mistakes in a mapping are never silent (``docs/data-format.md``, "What the mapping checks").
:func:`read_mapping` raises :class:`~iop_outcomes.ConfigError` for what cannot be meant: an
unknown section or option, ``[values.X]`` for a column that takes no value synonyms, a value
synonym whose right-hand side is not a label of its column, and a ``[columns]`` target that is
not a contract column but close to one (``patiend_id``). :meth:`Mapping.findings` reports, per
input file, a ``[columns]`` entry whose column is not in the file (a warning) and a target that is
not a contract column (a note: the column is carried through as an extra column); ``iop.load``
adds a warning for a ``[values.X]`` entry that matched no value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import validate_params
from ..exceptions import ConfigError, LoadError
from ._names import (
    ARM_SUFFIX,
    did_you_mean,
    entry_text,
    name_key,
    nearest,
    normalize_name,
)
from .visits import read_instruments

__all__ = [
    "Mapping",
    "read_mapping",
    "normalize_name",
    "name_key",
    "CONTRACT_COLUMNS",
    "VALUE_COLUMNS",
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


#: Labels of the labelled optional columns (values outside them are set to missing on load).
FORMAT_LABELS = ["in_person", "virtual", "hybrid"]
STATUS_LABELS = ["completed", "dropped_out", "transferred", "administrative", "ongoing"]
#: Grouping and person-level label columns: any label, renamed by ``[values.<column>]``.
GROUP_COLUMNS = ["site", "program", "cohort", "gender_identity", "race_ethnicity", "payer"]
#: The columns ``[values.<column>]`` applies to.
VALUE_COLUMNS = ["instrument", "timepoint", "format", "discharge_status", *GROUP_COLUMNS]
#: The sections of a mapping and the keys of its ``[options]``.
SECTIONS = ("columns", "values", "instruments", "options")
OPTIONS = ("date_format", "decimal", "instrument")
#: Targets that are required (a missing source column for one of them is an error).
REQUIRED_TARGETS = ("patient_id", "instrument", "assessment_date", "week", "timepoint", "total")


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
FORMAT_SYNONYMS = {name_key(k): v for k, v in FORMAT_SYNONYMS.items()}

#: Discharge-status synonyms.
STATUS_SYNONYMS = {
    name_key(k): v
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
    s = ARM_SUFFIX.sub("", str(value).strip().lower())
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
    """Column renames, value synonyms and options for one input.

    ``values`` is keyed by the compared form of your label (:func:`name_key`);
    ``value_keys`` keeps each label as you wrote it, for messages; ``file`` is the
    mapping file (``None`` for a dict).
    """

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    file: str | None = None
    value_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``[instruments.<name>]``: visit rows (:mod:`iop_outcomes.io.visits`)
    instruments: dict[str, dict] = field(default_factory=dict)

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

    @property
    def where(self) -> str:
        """How messages name this mapping: ``mapping file 'm.toml'``, or ``mapping``."""
        return f"mapping file {self.file!r}" if self.file else "mapping"

    def findings(self, columns, source: str) -> list[tuple[str, str, str, str, str]]:
        """File-level findings of the ``[columns]`` entries for a file with these ``columns``.

        Returns ``(severity, your column, target, reason, fix)`` tuples: a ``warning`` for an
        entry whose column is not in the file (the data are read correctly without it; when its
        target is a required column, ``iop.load`` raises instead), a ``note`` for a target that is
        not a contract column (carried through as an extra column).

        Examples
        --------
        >>> m = Mapping({"Cleint ID": "patient_id", "Clinician": "clinician"})
        >>> for f in m.findings(["Client ID", "Clinician"], "s.csv"):
        ...     print(f[0], "|", f[3])
        warning | mapping: [columns] "Cleint ID" = "patient_id": no column 'Cleint ID' in s.csv (did you mean 'Client ID'?)
        note | mapping: [columns] "Clinician" = "clinician": 'clinician' is not a contract column; carried through as an extra column
        """
        names = [str(c) for c in columns]
        have = {normalize_name(c) for c in names}
        out = []
        for src, tgt in self.columns.items():
            t = normalize_name(tgt)
            entry = f"{self.where}: {entry_text('columns', src, tgt)}"
            if normalize_name(src) not in have:
                out.append(
                    (
                        "warning",
                        str(src),
                        t,
                        f"{entry}: no column {str(src)!r} in {source}"
                        + did_you_mean(src, names, aside=True),
                        "Correct the column name in the mapping, or remove the entry when this "
                        "file has no such column.",
                    )
                )
            elif not _is_contract(t):
                out.append(
                    (
                        "note",
                        str(src),
                        t,
                        f"{entry}: {t!r} is not a contract column; carried through as an extra "
                        "column",
                        "",
                    )
                )
        return out


def _is_contract(name: str) -> bool:
    """A contract column, an item column or a wide score column (``phq9_intake``)."""
    if name in CONTRACT_COLUMNS or re.fullmatch(r"item_\d+", name):
        return True
    from ..instruments import canonical_name

    m = _WIDE.match(name)
    return bool(m and canonical_name(m.group("inst")) and normalize_timepoint(m.group("tp")))


def _label_target(where: str, col: str, key, value):
    """The canonical label a ``[values.<col>]`` entry maps to; ConfigError when it is none."""
    entry = f"{where}: {entry_text('values.' + col, key, value)}"
    if col in GROUP_COLUMNS:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{entry}: the label must be text or a number.")
        return str(value)
    if not isinstance(value, str):
        raise ConfigError(f"{entry}: the label must be text. Got {type(value).__name__} instead.")
    if col == "instrument":
        from .. import instruments as _inst

        c = _inst.canonical_name(value)
        known = _inst.names()
        what = "a registered instrument"
        fix = f"Use one of {known}, or register it first with iop.instruments.register()."
    elif col == "timepoint":
        c = normalize_timepoint(value)
        known = ["intake", "discharge", "week_1", *(f"followup_{m}m" for m in FOLLOWUP_MONTHS)]
        what = "a timepoint"
        fix = (
            "Use intake, week_N, discharge, followup_1m, followup_3m, followup_6m or followup_12m."
        )
    else:
        labels, synonyms = (
            (FORMAT_LABELS, FORMAT_SYNONYMS)
            if col == "format"
            else (STATUS_LABELS, STATUS_SYNONYMS)
        )
        c = {name_key(a): a for a in labels}.get(name_key(value)) or synonyms.get(name_key(value))
        known = labels
        what = f"a {col} label"
        fix = f"Use {', '.join(labels[:-1])} or {labels[-1]}."
    if c is None:
        raise ConfigError(f"{entry}: {value!r} is not {what}.{did_you_mean(value, known)} {fix}")
    return c


@validate_params({"mapping": [dict, str, Path, Mapping, None]})
def read_mapping(mapping) -> Mapping:
    """Build a :class:`Mapping` from ``None``, a dict, a Mapping or a TOML file path.

    Parameters
    ----------
    mapping : dict, str, Path, Mapping or None
        ``None``: an empty mapping (the input already follows the contract). A flat dict
        ``{your column: contract column}`` renames columns. A dict with the sections
        ``columns`` (renames), ``values`` (``{column: {your label: contract label}}``
        value synonyms), ``instruments`` (visit-row layouts, :mod:`iop_outcomes.io.visits`)
        and ``options`` (``date_format``, ``decimal``, ``instrument``), or the path of a
        TOML file holding those sections (``docs/data-format.md``). A :class:`Mapping` is
        returned as it is.

    Returns
    -------
    Mapping

    Raises
    ------
    ConfigError
        Naming the entry, the file and the nearest valid names: for a file that is missing
        or not valid TOML, an unknown section or option, ``[values.X]`` for a column that
        takes no value synonyms, a value synonym to a label that does not exist, and a
        ``[columns]`` target close to a contract column but not one.

    Examples
    --------
    >>> read_mapping({"Client": "patient_id"}).columns
    {'Client': 'patient_id'}
    >>> read_mapping({"columns": {"Client": "patiend_id"}})
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: Mapping: [columns] "Client" = "patiend_id": 'patiend_id' is not a contract column. Did you mean 'patient_id'? ...
    """
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    file = None
    if isinstance(mapping, (str, Path)):
        file = str(mapping)
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
    where = f"Mapping file {file!r}" if file else "Mapping"
    if not any(isinstance(v, dict) for v in mapping.values()):  # flat: {your column: contract}
        bad = [k for k, v in mapping.items() if not isinstance(v, str)]
        if bad:
            raise ConfigError(
                f"Mapping entries must map a column name to a contract column name; {bad} do not. "
                "Use {'columns': {...}, 'values': {...}, 'options': {...}} for value synonyms and "
                "options."
            )
        return _checked(Mapping(dict(mapping), file=file), where)
    for k, v in mapping.items():
        if k in SECTIONS and not isinstance(v, dict):
            raise ConfigError(f"{where}: [{k}] must be a table. Got {type(v).__name__} instead.")
        if k not in SECTIONS and isinstance(v, dict):
            raise ConfigError(
                f"{where}: unknown section [{k}].{did_you_mean(k, SECTIONS, '[{}]')} A mapping "
                "has the sections [columns], [values.<column>], [instruments.<name>] and [options]."
            )
        if k not in SECTIONS:
            raise ConfigError(
                f"{where}: the entry {entry_text('', k, v)[3:]} is outside any section. Put column "
                "renames under [columns]."
            )
    cols = dict(mapping.get("columns", {}))
    bad = [k for k, v in cols.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(
            f"{where}: [columns] entries must map a column name to a contract column name; "
            f"{bad} do not."
        )
    values, keys = {}, {}
    for col, table in mapping.get("values", {}).items():
        c = normalize_name(col)
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: [values] holds one table per column, e.g. [values.format]; "
                f"{entry_text('values', col, table)[9:]} is not a table."
            )
        if c not in VALUE_COLUMNS:
            raise ConfigError(
                f"{where}: [values.{col}]: {c!r} is not a column that takes value synonyms."
                f"{did_you_mean(c, VALUE_COLUMNS, '[values.{}]')} [values.<column>] applies to "
                f"{', '.join(VALUE_COLUMNS)}."
            )
        values[c] = {name_key(a): _label_target(where, c, a, b) for a, b in table.items()}
        keys[c] = {name_key(a): str(a) for a in table}
    options = dict(mapping.get("options", {}))
    for k, v in options.items():
        if k not in OPTIONS:
            raise ConfigError(
                f"{where}: unknown option {entry_text('options', k, v)}.{did_you_mean(k, OPTIONS)} "
                f"Known options: {', '.join(OPTIONS)}."
            )
    fmt = options.get("date_format")
    if fmt is not None and not (isinstance(fmt, str) and "%" in fmt):
        raise ConfigError(
            f"{where}: [options] date_format must be a strptime format such as '%d/%m/%Y'. "
            f"Got {fmt!r} instead."
        )
    instruments = read_instruments(mapping.get("instruments", {}), options, where)
    return _checked(Mapping(cols, values, options, file, keys, instruments), where)


def _checked(m: Mapping, where: str) -> Mapping:
    """ConfigError for a ``[columns]`` target that is no contract column but close to one."""
    for src, tgt in m.columns.items():
        t = normalize_name(tgt)
        if _is_contract(t):
            continue
        near = nearest(t, CONTRACT_COLUMNS, cutoff=0.8)
        if near:
            raise ConfigError(
                f"{where}: {entry_text('columns', src, tgt)}: {t!r} is not a contract column."
                f"{did_you_mean(t, near)} Contract columns are listed in docs/data-format.md; "
                "to keep a column under a name of your own, leave it out of the mapping (columns "
                "outside the contract are carried through as they are)."
            )
    return m


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
    from .readers import given_cells

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
    given = {c: given_cells(df[c]) for c, *_ in score_cols}  # blanks and 'NA' are no score
    for col, inst, tp, _raw in score_cols:
        vals = df[col]
        keep = given[col]
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
    origin.attrs["rows_without_scores"] = int((~np.logical_or.reduce(list(given.values()))).sum())
    return long.drop(columns=["source_row", "source_column"]), origin
