"""Load, validate and score assessments, accounting for every input row.

:func:`load` is the front door: it reads a file or DataFrame, maps columns
onto the data contract (``docs/data-format.md``), checks every row once
(lazily, pandera-style: all problems are collected, none stops the check),
scores the questionnaires and returns a :class:`LoadResult` whose ``ledger``
gives each input row exactly one disposition:

* ``accepted`` — loaded as given (formatting differences such as ``phq9`` for
  ``PHQ-9`` or ``In Person`` for ``in_person`` are not repairs);
* ``repaired`` — loaded with a recorded change (a prorated total, a built-in
  synonym such as ``telehealth`` → ``virtual``, a duplicate administration's
  first copy kept, an impossible age, an unrecognised timepoint of a dated
  row or an unknown format / discharge_status label set to missing, episode
  ids made unique per patient); a label mapped by the user's own
  ``[values.<column>]`` is declared, not repaired: such rows stay ``accepted``;
* ``quarantined`` — not loaded, with the reason and what to do.

``accepted + repaired + quarantined == rows read`` is checked on every load.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import instruments as _inst
from .._results import TableResult
from ..exceptions import ConfigError, IOPWarning, LoadError
from . import sql as _sql
from .fhir import read_fhir
from .mapping import (
    _ARM,
    CONTRACT_COLUMNS,
    FORMAT_LABELS,
    FORMAT_SYNONYMS,
    GROUP_COLUMNS,
    MAX_WEEK,
    STATUS_LABELS,
    STATUS_SYNONYMS,
    _did_you_mean,
    _entry,
    name_key,
    normalize_name,
    normalize_timepoint,
    read_mapping,
    wide_to_long,
)
from .readers import NULL_VALUES, factorize, read_source, unique_map
from .redcap import redcap_to_long
from .visits import applies as _visit_rows
from .visits import name_item_columns, visits_to_long

__all__ = ["load", "LoadResult"]

DISPOSITIONS = ["accepted", "repaired", "quarantined"]
MAX_LISTED = 50
#: assessments more than this far before admission / after discharge are impossible
DAYS_BEFORE_ADMIT = 180
DAYS_AFTER_DISCHARGE = 500


@dataclass
class _Issue:
    mask: np.ndarray  # positions in the frame
    column: str
    reason: str  # per-row text may use {value}
    fix: str
    severity: str  # "quarantine" | "repair" | "warning"
    values: pd.Series | None = None


@dataclass(frozen=True)
class LoadResult:
    """Result of :func:`load`.

    Attributes
    ----------
    data : DataFrame
        Accepted and repaired rows, typed, in the contract's columns, with
        ``total``, ``n_answered``, ``scoring_rule``, ``severity``,
        ``safety_flag`` and ``source_row``.
    ledger : DataFrame
        One row per input row: ``source``, ``row`` (1-based data row; the
        header is row 0), ``disposition``, ``reason`` (with the row's values),
        ``check`` (the first reason without its values, for counting), ``column``, ``value``.
    problems : DataFrame
        One row per problem found (a row may have several), with ``fix``.
    source, sha256 : str
        Input name and SHA-256 (file bytes, a hash of a DataFrame, or of a database result
        as an Arrow IPC stream; a database URL's password is never part of the name).
    settings : dict
        Scoring settings used (missing-item policy per instrument).
    """

    data: pd.DataFrame
    ledger: pd.DataFrame
    problems: pd.DataFrame
    source: str
    sha256: str
    settings: dict = field(default_factory=dict)

    @property
    def n_read(self) -> int:
        return len(self.ledger)

    def counts(self) -> dict[str, int]:
        """Rows per disposition (always all three keys)."""
        vc = self.ledger["disposition"].value_counts()
        return {d: int(vc.get(d, 0)) for d in DISPOSITIONS}

    def summary(self) -> TableResult:
        """Ledger summary: rows by disposition and reason."""
        led = self.ledger
        tab = (
            led.assign(check=led["check"].cat.add_categories([""]).fillna(""))
            .groupby(["disposition", "check"], observed=True, sort=False)
            .size()
            .rename("rows")
            .reset_index()
        )
        order = {d: i for i, d in enumerate(DISPOSITIONS)}
        tab = tab.sort_values(
            ["disposition", "rows", "check"],
            key=lambda s: s.map(order) if s.name == "disposition" else s,
            ascending=[True, False, True],
            kind="mergesort",
        ).reset_index(drop=True)
        tab["share"] = tab["rows"] / max(len(led), 1)
        c = self.counts()
        notes = [
            f"Rows read {self.n_read:,} = accepted {c['accepted']:,} + repaired {c['repaired']:,} "
            f"+ quarantined {c['quarantined']:,}."
        ]
        p = self.problems
        notes += [r for r in p.loc[p["severity"] == "note", "reason"]] if len(p) else []
        n_safety = (
            int(self.data["safety_flag"].fillna(False).sum()) if "safety_flag" in self.data else 0
        )
        if n_safety:
            notes.append(
                f"PHQ-9 item 9 (thoughts of death or self-harm) > 0 on {n_safety:,} accepted "
                "administrations: follow the program's risk-assessment protocol (Simon et al. 2013)."
            )
        from .._report.safety import name_like_values  # here: the report package imports load

        for col, names in name_like_values(self.data).items():
            notes.append(
                f"{col} values look like people's names: {', '.join(map(repr, names))}. If they "
                "are, rename them before sharing any output grouped by this column."
            )
        return TableResult(
            tab,
            title=f"Data quality: {self.source}",
            method="iop.load validation and scoring",
            params={k: v for k, v in self.settings.items() if k != "instruments"},
            notes=tuple(notes),
        )

    def __repr__(self) -> str:
        c = self.counts()
        return (
            f"LoadResult(source={self.source!r}, rows_read={self.n_read}, accepted={c['accepted']}, "
            f"repaired={c['repaired']}, quarantined={c['quarantined']})"
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def load(
    data,
    /,
    *,
    source: str | None = None,
    dictionary=None,
    mapping=None,
    strict: bool = False,
    episodes=None,
    wide: bool = False,
    missing_items: str | int | dict = "prorate",
    harmonize: str | None = None,
    sheet: str | int | None = 0,
    skip_rows: int = 0,
    name: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> LoadResult:
    """Load repeated-measures questionnaire data, validate every row and score it.

    Parameters
    ----------
    data : str, Path or DataFrame
        CSV (delimiter and UTF-8/BOM/Windows-1252 encoding detected), Excel
        ``.xlsx``, Parquet, SPSS ``.sav``, Stata ``.dta`` (value labels applied)
        or a DataFrame, in the long format of ``docs/data-format.md``; or a database URL
        with ``table=`` or ``query=`` (below).
    source : {None, "redcap", "fhir", "sql"}
        ``"redcap"``: a REDCap export (raw or label values, variable names as headers) read
        by :func:`iop_outcomes.io.redcap.redcap_to_long`: one administration per instrument
        form and export row, ``record_id`` as patient, ``redcap_event_name`` as timepoint,
        record-level fields filled down. The ledger has one row per administration (``row``
        is the export row, ``column`` the form); a form marked incomplete
        (``<form>_complete`` = 0) is quarantined; export rows without an administration are
        counted in a file-level note.

        ``"fhir"``: a FHIR R4 export read by :func:`iop_outcomes.io.fhir.read_fhir`: a Bulk
        Data NDJSON file (``.ndjson``, ``.ndjson.gz``), a directory of them, a Bundle
        ``.json`` or a list of resource dicts. QuestionnaireResponse and Observation
        resources with PHQ-9 / GAD-7 LOINC codes give the administrations, the ``subject``
        the patient, EpisodeOfCare (or multi-day Encounter) periods the episodes. The
        ledger has one row per administration and per unusable record (bad JSON line,
        unknown code, no subject or date: quarantined); ``row`` is the record number,
        ``column`` the file, line and resource. Item Observations combined into a panel and
        context resources (Patient, EpisodeOfCare, ...) are counted in file-level notes.
        ``"sql"``: ``data`` is a database URL (implied by a database URL's scheme or by
        ``table=`` / ``query=``; see those).
    dictionary : str, Path or DataFrame, optional
        With ``source="redcap"``: the project's data dictionary (CSV); its Form Names tell
        which fields belong to which instrument, and its choices decode codes and labels.
    mapping : dict, str or Path, optional
        Renames your columns onto the contract, adds value synonyms
        (``[values.<column>]`` for instrument, timepoint, format,
        discharge_status, site, program, cohort, gender_identity,
        race_ethnicity and payer) and options (``date_format``, ``decimal``); see
        :mod:`iop_outcomes.io.mapping`. Messages about a renamed column name your
        own column too. Labels your mapping declares are not repairs (such rows
        stay ``accepted``). Mistakes in the mapping are caught: an unknown
        section, option or label, or a target close to a contract column, raises
        :class:`~iop_outcomes.ConfigError`; an entry naming no column of the file
        (an error when its target is required) or a ``[values]`` entry matching no
        value is a file-level warning; a target outside the contract is a note.
        An unknown format or discharge_status label is set to missing (a repair).

        Visit rows (one row per visit, several questionnaires side by side):
        ``[instruments.<name>]`` tables name each instrument's ``items`` (a list or a
        pattern such as ``"PHQ9 Q{n}"``), ``total`` and ``date`` columns; each row gives one
        administration per instrument with any item or total on it, and the ledger has
        **one row per administration** (``row`` the visit row, ``column`` the instrument's
        columns; rows with none are counted in a file-level note). ``options.instrument``
        names the questionnaire of a file without an instrument column. See
        :mod:`iop_outcomes.io.visits` and ``docs/data-format.md``, "Visit rows".

        Decimal commas: in a ``;``-delimited CSV file, a numeric column (items, ``total``,
        ``week``, ``age``, attendance) whose values are all numbers with a decimal comma
        (``12,5``; whole numbers may stand among them) is read as numbers;
        ``options.decimal = ","`` reads such values in any input, ``"."`` turns the
        detection off. A note in ``problems`` names the columns read so.

        Dates: ISO values (with or without a time or UTC offset) are read as
        such; the other values of a column are read with ONE day/month order,
        the first of ``date_format`` (alone, when given) or ``%m/%d/%Y``,
        ``%d/%m/%Y``, ``%m/%d/%y``, ``%d/%m/%y``, ``%d.%m.%Y`` that reads all of
        them (else the one reading most; the rest are quarantined). When every
        value would read either way, a file-level warning says which order was
        assumed. Times are dropped (an assessment date is a day).

        Episodes: when an ``episode_id`` is used by more than one patient (ids
        numbered within patient, as REDCap does), episodes become
        ``'patient_id|episode_id'`` (a recorded repair). Without an
        ``episode_id`` column, a patient with several ``admit_date`` values has
        one episode per admission (``'patient_id|YYYY-MM-DD'``, a repair);
        otherwise one episode per patient.
    strict : bool
        If True, raise :class:`~iop_outcomes.LoadError` listing every problem
        (file, row, column, value, what to do) when any row would be
        quarantined or a file-level warning applies. If False (default), load
        the valid rows, record the rest in the ledger and warn.
    episodes : DataFrame or path, optional
        Episode-level table joined on ``episode_id`` (or ``patient_id`` when the
        assessments have no ``episode_id``); keys are compared as text (``12``,
        ``12.0`` and ``'12'`` match). Its columns win over the same columns in
        the assessments. An :class:`~iop_outcomes.IOPWarning` counts assessment
        rows without an episode row and episode rows without assessments.
    wide : bool
        The input has one row per episode with score columns such as
        ``phq9_intake``, ``gad7_fu3m`` or ``PHQ-9 Intake`` (``<instrument>_<timepoint>``,
        optional ``<score column>_date`` companions); it is reshaped to one
        row per non-empty score cell. The ledger then has **one row per
        non-empty score cell**, not per wide row: ``row`` is the wide row number
        (repeated for each of its scores) and ``column`` is the score's source
        column; wide rows with no score at all produce no ledger row and are
        counted in a file-level note (``result.problems``, ``result.summary()``).
    missing_items : {"prorate", "complete"}, int or dict
        Missing-item rule: ``"prorate"`` (default) prorates a total from the
        answered items (mean × number of items, rounded half up) when no more
        than the instrument's ``max_missing`` items are missing (PHQ-9: 2,
        Arrieta et al. 2017); ``"complete"`` requires every item; an int sets
        the allowed missing items for all instruments; a dict sets it per
        instrument. Item 9 of the PHQ-9 is never imputed: its safety flag stays
        missing when the item is missing.
    harmonize : {None, "PHQ-8"}
        ``"PHQ-8"``: score every PHQ-9 administration as a PHQ-8 from its items 1-8 (the PHQ-8
        is the PHQ-9 without item 9, the other items unchanged: Kroenke et al. 2009), so a
        PHQ-9 intake and a PHQ-8 discharge pair in :func:`~iop_outcomes.episodes`. The PHQ-9
        checks apply first (a total that disagrees with the items is still quarantined); then
        the PHQ-8's missing-item rule (``max_missing`` 1, or ``missing_items``) decides:
        complete items 1-8 are summed, one missing item is prorated (mean x 8, rounded half
        up). Each re-scored row is ``repaired`` with the reason (``PHQ-9 scored as PHQ-8 from
        items 1-8: PHQ-9 total 16 -> PHQ-8 total 15 ...``); item 9 stays in ``item_9`` and
        sets ``safety_flag`` as before. A PHQ-9 given as a total only, or with more items
        missing, cannot be re-scored (a PHQ-8 total is never derived from a PHQ-9 total): it
        stays a PHQ-9 (accepted as before) and a file-level note counts it and names its rows.
        Without ``harmonize``, a file holding both PHQ-8 and PHQ-9 gets a note with the
        counts suggesting ``harmonize="PHQ-8"``.
    sheet : str or int
        Excel sheet, by name or 0-based position (default: the first). When the sheet is
        empty or lacks the required columns, the :class:`~iop_outcomes.LoadError` names the
        workbook's sheets and the one that has them.
    skip_rows : int
        CSV and Excel: title rows above the header to skip (default 0). Ledger rows still
        count from the header (row 0).
    name : str, optional
        Source name used in the ledger and messages.
    table, query : str, optional
        With a database URL as ``data`` (``postgresql://user@host/db``,
        ``duckdb:///file.duckdb``, ``duckdb:///:memory:``, ``sqlite:///file.db``, any
        SQLAlchemy URL; ``source="sql"`` names one explicitly): the table (``schema.table``),
        read in primary-key order (all columns without a key), or the ``SELECT`` to run (give
        it an ``ORDER BY``). One ledger row per result row, ``row`` its 1-based position; the
        ledger's source is the URL without its password. See :mod:`iop_outcomes.io.sql` and
        ``docs/data-format.md``, "SQL databases" (``pip install "iop_outcomes[sql]"``).

    A file with a header but no rows raises :class:`~iop_outcomes.LoadError`.

    Returns
    -------
    LoadResult

    Examples
    --------
    >>> import pandas as pd, iop_outcomes as iop
    >>> df = pd.DataFrame({
    ...     "patient_id": ["a", "a", "b"], "instrument": ["PHQ-9", "phq9", "GAD-7"],
    ...     "assessment_date": ["2025-01-06", "2025-02-03", "2025-01-07"],
    ...     "total": [17, 9, 30]})
    >>> res = iop.load(df)  # doctest: +SKIP
    >>> with __import__("warnings").catch_warnings():
    ...     __import__("warnings").simplefilter("ignore")
    ...     res = iop.load(df)
    >>> res.counts()
    {'accepted': 2, 'repaired': 0, 'quarantined': 1}
    >>> res.data[["patient_id", "instrument", "total", "severity"]]
      patient_id instrument  total   severity
    0          a      PHQ-9   17.0  moderately severe
    1          a      PHQ-9    9.0               mild
    >>> res.ledger.loc[2, "reason"]
    'total 30 is outside the GAD-7 range 0-21'
    """
    sql = _sql.wanted(data, source, table, query)  # a database URL: io/sql.py reads it
    kind = _source_kind(None if sql and source == "sql" else source, dictionary, wide)
    source = data  # below, source is the input
    short_form = _harmonize_option(harmonize)
    mp = read_mapping(mapping)
    decimal = _decimal_option(mp)
    if sql:
        reader = partial(_sql.read_sql, table=table, query=query)
    else:  # FHIR is JSON: io/fhir.py reads it
        reader = read_fhir if kind == "fhir" else read_source
    raw = reader(
        source,
        sheet=sheet,
        name=name,
        skip_rows=skip_rows,
        text_columns=lambda header: [
            c for c in header if kind or mp.target(c) in ("patient_id", "episode_id")
        ],
        whole_numbers=lambda header: [c for c in header if mp.target(c).startswith("item_")],
        # a wide sheet has its score columns before reshaping; an episodes table may add columns
        missing_columns=None
        if wide or kind or episodes is not None
        else _visit_columns_missing(mp)
        if _visit_rows(mp)
        else lambda header: _missing_required([mp.target(c) for c in header]),
    )
    origin, notes = None, []
    if wide and _visit_rows(mp):
        raise ConfigError(
            "wide=True reshapes <instrument>_<timepoint> columns; the mapping's [instruments] "
            "(or options.instrument) describes visit rows. Use one of them."
        )
    if kind and _visit_rows(mp):
        raise ConfigError(
            f"source={kind!r} reads the export's forms (name a form of your own under "
            "[values.instrument]); the mapping's [instruments] (or options.instrument) describes "
            "visit rows. Use one of them."
        )
    if kind == "redcap":  # one row per administration; the mapping renames the other fields
        long, origin = redcap_to_long(raw.frame, raw.name, dictionary, mp)
        df = mp.apply(long, raw.name)
        notes = [("*", note) for note in origin.attrs["notes"]]
    elif kind == "fhir":  # one row per administration or unusable record (io/fhir.py)
        origin, df = raw.origin, mp.apply(raw.frame, raw.name)
        notes = [("*", note) for note in origin.attrs["notes"]]
    else:
        df = mp.apply(raw.frame, raw.name)
    if wide:
        df, origin = wide_to_long(df, raw.name)
        yours = {mp.target(c): str(c) for c in raw.frame.columns}  # the user's own column names
        origin["source_column"] = origin["source_column"].map(
            {c: yours.get(c, c) for c in pd.unique(origin["source_column"])}
        )
    elif _visit_rows(mp):  # visit rows: one administration per instrument (io/visits.py)
        df, origin, notes = visits_to_long(df, mp, list(raw.frame.columns), raw.name)
    seen, where = list(raw.frame.columns), raw.name
    df, comma_cols = _decimal_commas(df, decimal, raw.delimiter)
    if episodes is not None:
        df, ep_columns, ep_comma = _join_episodes(df, episodes, mp, decimal)
        seen, where = seen + ep_columns, f"{raw.name} or the episodes table"
        comma_cols += [c for c in ep_comma if c not in comma_cols]
    df = df.reset_index(drop=True)
    n = len(df)
    findings = mp.findings(seen, where)
    try:
        _check_required(df, raw.name)
    except LoadError as exc:  # a [columns] entry naming no column is the likely cause: say so
        cols = set(df.columns)
        lacking = {c for c in ("patient_id", "instrument") if c not in cols}
        if not cols & {"assessment_date", "week", "timepoint"}:
            lacking |= {"assessment_date", "week", "timepoint"}
        if "total" not in cols and not any(c.startswith("item_") for c in cols):
            lacking.add("total")
        cause = [
            f[3]
            for f in findings
            if f[0] == "warning"
            and (f[2] in lacking or ("total" in lacking and f[2][:5] == "item_"))
        ]
        if cause:
            msg = ". ".join(cause) + ". " + str(exc)
            raise ConfigError(msg[0].upper() + msg[1:]) from None
        raise

    renamed = {k: c for k, c in mp.renamed(raw.frame.columns).items() if normalize_name(c) != k}
    source, sha256 = raw.name, raw.sha256
    del raw  # only df holds the input from here (columns replaced during checks can be freed)
    v = _Validator(df, source, mp, missing_items, renamed, harmonize=short_form)
    del df  # the validator releases input columns as it converts them (peak memory)
    for severity, column, target, reason, fix in findings:
        if severity == "warning" and target in v.columns:  # nothing lost: a note
            severity, reason, fix = "note", f"{reason}; {target} is read from another column", ""
        v.warn_file(column, reason, fix, severity, yours=False)
    for mask, column, reason, fix, values in origin.attrs.get("quarantine", ()) if kind else ():
        v.add(mask, column, reason, fix, values=values)  # e.g. a REDCap form marked incomplete
    clean = v.run()
    if v.unharmonised is not None and len(v.unharmonised[0]):
        pos, n_total_only, n_missing = v.unharmonised
        at = origin["source_row"].to_numpy()[pos] if origin is not None else pos + 1
        shown = ", ".join(str(r) for r in at[:5]) + (", ..." if len(at) > 5 else "")
        sf = short_form
        v.warn_file(
            "instrument",
            f"harmonize={sf.name!r}: {len(pos):,} {sf.subset_of} administration(s) stay "
            f"{sf.subset_of} ({n_total_only:,} given as a total only, {n_missing:,} with more "
            f"than {v.settings['max_missing'][sf.name]} of items {_span(sf.subset_items)} "
            f"missing; row(s) {shown}): a {sf.name} total cannot be derived from a "
            f"{sf.subset_of} total, so they do not pair with {sf.name} scores",
            "",
            "note",
            yours=False,
        )
    for column, reason in notes:
        v.warn_file(column, reason, "", "note", yours=False)
    if comma_cols:
        how = "options.decimal = ','" if decimal == "," else "a ';'-delimited file"
        v.warn_file(
            "*",
            f"decimal commas read as numbers (12,5 = 12.5) in {', '.join(comma_cols)} ({how})",
            "",
            "note",
        )
    if origin is not None and origin.attrs.get("rows_without_scores"):
        k = origin.attrs["rows_without_scores"]
        v.warn_file(
            "*",
            f"{k:,} wide row(s) have no scores at all and produce no assessment rows (the ledger "
            "has one row per non-empty score cell)",
            "",
            "note",
        )

    # ---- dispositions -----------------------------------------------------
    quarantine = np.zeros(n, dtype=bool)
    repair = np.zeros(n, dtype=bool)
    for iss in v.issues:
        if iss.severity == "quarantine":
            quarantine |= iss.mask
        elif iss.severity == "repair":
            repair |= iss.mask
    repair &= ~quarantine
    disposition = np.where(quarantine, 2, np.where(repair, 1, 0))

    rows = origin["source_row"].to_numpy() if origin is not None else np.arange(1, n + 1)
    problems = name_item_columns(_problems_frame(v.issues, source, rows, origin), origin)
    ledger = _ledger(problems, source, rows, disposition, quarantine)
    if origin is not None:  # wide input: each ledger row is one score cell of the wide file
        ledger["column"] = pd.Categorical(origin["source_column"].to_numpy())
    counts = np.bincount(disposition, minlength=3)
    if counts.sum() != n or len(ledger) != n:  # the ledger invariant
        raise AssertionError(f"internal error: ledger accounts for {counts.sum()} of {n} rows")

    del v.df, v.dup_source  # free the rest of the input before the output is built
    data = _drop_rows(clean, quarantine)
    del clean
    data["source_row"] = rows[~quarantine]

    file_level = [i for i in v.issues if i.severity == "warning"]
    if strict and (quarantine.any() or file_level):
        raise LoadError(_strict_message(problems, source, n, int(quarantine.sum())), problems)
    if quarantine.any() or file_level:
        msg = f"{source}: {int(quarantine.sum()):,} of {n:,} rows quarantined"
        if file_level:
            msg += "; " + "; ".join(i.reason for i in file_level)
        warnings.warn(msg + ". See result.ledger / result.summary().", IOPWarning, stacklevel=2)
    return LoadResult(data, ledger, problems, source, sha256, v.settings)


# ---------------------------------------------------------------------------


def _drop_rows(df: pd.DataFrame, drop: np.ndarray) -> pd.DataFrame:
    """``df`` without the ``drop`` rows, index 0..n-1; built column by column, each taken from
    ``df`` as it is copied, so the frame never exists twice (peak memory). ``df`` is emptied."""
    if not drop.any():
        return df.reset_index(drop=True)
    keep = np.flatnonzero(~drop)
    cols = {c: df.pop(c).array.take(keep) for c in list(df.columns)}
    return pd.DataFrame(cols, copy=False)


def _source_kind(source, dictionary, wide) -> str | None:
    """The export format named by ``source=`` (``None``: the data contract's own layout)."""
    if source is not None and not (isinstance(source, str) and source in ("redcap", "fhir")):
        got = repr(source) if isinstance(source, str) else f"a {type(source).__name__}"
        raise ConfigError(
            "The 'source' parameter of iop.load must be 'redcap', 'fhir' or None (the data are "
            f"the first argument). Got {got} instead."
        )
    if dictionary is not None and source is None:
        raise ConfigError(
            "The 'dictionary' parameter of iop.load applies to REDCap exports: give "
            "source='redcap' (command line: --source redcap) with it."
        )
    if dictionary is not None and source == "fhir":
        raise ConfigError(
            "The 'dictionary' parameter of iop.load applies to REDCap exports, not to "
            "source='fhir' (FHIR resources carry LOINC codes)."
        )
    if source and wide:
        raise ConfigError(f"iop.load: source={source!r} and wide=True cannot be combined.")
    return source


def _missing_required(columns) -> list[str]:
    """The required contract columns that ``columns`` (contract names) lack."""
    cols = set(columns)
    missing = [c for c in ("patient_id", "instrument") if c not in cols]
    if not cols & {"assessment_date", "week", "timepoint"}:
        missing.append("assessment_date (or week or timepoint)")
    if "total" not in cols and not any(c.startswith("item_") for c in cols):
        missing.append("total (or item_1 ... item_k)")
    return missing


def _visit_columns_missing(mp):
    """For visit rows: the header's missing columns, the ``[instruments]`` columns among them
    (so that an Excel sheet without them is reported with the workbook's sheets, and the one
    that has them is named)."""
    listed = [
        c
        for spec in mp.instruments.values()
        for c in [*spec["items"], *(spec[k] for k in ("total", "date") if spec[k] is not None)]
    ]

    def missing(header) -> list[str]:
        have = {mp.target(c) for c in header}
        lack = [f"{c!r}" for c in listed if mp.target(c) not in have]
        if len(lack) > 3:
            lack = [*lack[:3], f"and {len(lack) - 3} more of [instruments]"]
        # filled by [instruments]; options.instrument names the questionnaire only
        filled = {"instrument", "total"} if mp.instruments else {"instrument"}
        return _missing_required(have | filled) + lack

    return missing


def _check_required(df: pd.DataFrame, source: str) -> None:
    missing = _missing_required(df.columns)
    if missing:
        raise LoadError(
            f"{source}: required column(s) missing: {', '.join(missing)}. Columns found: "
            f"{list(df.columns)}. Rename your columns with mapping={{'your column': 'patient_id', ...}} "
            "(see docs/data-format.md)."
        )


def _join_episodes(df: pd.DataFrame, episodes, mp, decimal=None) -> tuple[pd.DataFrame, list, list]:
    """Join an episode-level table on ``episode_id`` (else ``patient_id``), keys compared as text.

    Returns the joined frame, the episode table's own column names (for the mapping checks) and
    the episode columns whose decimal commas were read (see :func:`_decimal_commas`).
    """
    raw = read_source(
        episodes,
        name="episodes table",
        text_columns=lambda header: [
            c for c in header if mp.target(c) in ("patient_id", "episode_id")
        ],
    )
    ep_columns = list(raw.frame.columns)
    ep = mp.apply(raw.frame, "episodes table")
    ep, comma_cols = _decimal_commas(ep, decimal, raw.delimiter)
    key = (
        "episode_id" if "episode_id" in ep.columns and "episode_id" in df.columns else "patient_id"
    )
    if key not in ep.columns or key not in df.columns:
        raise LoadError(
            "The episodes table needs an 'episode_id' (or 'patient_id') column shared with the "
            f"assessments. Episode columns found: {list(ep.columns)}; assessment columns: "
            f"{list(df.columns)}."
        )
    ep = ep.assign(**{key: _as_text(ep[key])})
    no_key = ep[key].isna()
    if no_key.any():
        warnings.warn(
            f"episodes table: {int(no_key.sum()):,} row(s) have no {key} and were not joined.",
            IOPWarning,
            stacklevel=3,
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
    left[key] = _as_text(left[key])
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
            stacklevel=3,
        )
    out = left.merge(ep, on=key, how="left", validate="many_to_one", suffixes=("", "__ep"))
    for c in overlap:  # the episodes table wins; the assessments' own value where it has none
        e = out.pop(f"{c}__ep")
        out[c] = e.astype(object).where(e.notna(), out[c].astype(object))
    return out, ep_columns, comma_cols


#: Contract columns read as numbers (with the item columns ``item_N``).
NUMERIC_COLUMNS = (
    "total",
    "week",
    "age",
    "attendance_hours",
    "sessions_attended",
    "sessions_scheduled",
)
_COMMA_NUMBER = re.compile(r"\s*[+-]?\d+,\d+\s*", re.ASCII)
_WHOLE_NUMBER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)


def _decimal_option(mp) -> str | None:
    """``options.decimal`` of the mapping: ``"."``, ``","`` or None (detect)."""
    decimal = mp.options.get("decimal")
    if decimal not in (None, ".", ","):
        raise ConfigError(
            "The 'decimal' option of the mapping must be '.' or ',' (TOML: [options] decimal = "
            f'","). Got {decimal!r} instead.'
        )
    return decimal


def _decimal_commas(df: pd.DataFrame, decimal: str | None, delimiter: str | None):
    """Numbers written with a decimal comma (``12,5``) in the numeric contract columns.

    With ``decimal=","`` (``options.decimal`` in the mapping) every such value is read as a
    number. Without the option, a ``;``-delimited file's numeric column is read so when all
    its values are numbers with a decimal comma (whole numbers such as ``12`` may stand among
    them). A ``,``-delimited file has no decimal commas (``12,5`` is two fields), unless the
    option says so for quoted values. Returns the frame and the columns converted.
    """
    if decimal == "." or (decimal is None and delimiter != ";"):
        return df, []
    converted = []
    for c in df.columns:
        if not (c in NUMERIC_COLUMNS or re.fullmatch(r"item_\d+", str(c))):
            continue
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        codes, uniques = factorize(col)
        uniques = list(uniques)
        comma = [isinstance(u, str) and _COMMA_NUMBER.fullmatch(u) is not None for u in uniques]
        if not any(comma):
            continue
        numbers = all(
            k or (isinstance(u, str) and (_WHOLE_NUMBER.fullmatch(u) or u.strip() in _NULL_TEXT))
            for u, k in zip(uniques, comma, strict=True)
        )
        if not numbers and decimal is None:
            continue  # detected only when the whole column reads so
        texts = [
            u.strip().replace(",", ".") if k else u for u, k in zip(uniques, comma, strict=True)
        ]
        if numbers:  # a numeric column
            val = np.array([_number(t)[0] for t in texts] + [np.nan])
            new = pd.Series(val[codes], index=col.index)
        else:  # numbers and other text: as text, so the other values are reported as written
            new_codes, cats = pd.factorize(pd.Series(texts + [None], dtype=object))
            new = pd.Series(
                pd.Categorical.from_codes(
                    new_codes[codes], categories=pd.Index(cats, dtype=object)
                ),
                index=col.index,
            )
        df = df.assign(**{c: new})
        converted.append(str(c))
    return df, converted


def _text_id(x) -> str | None:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (float, np.floating)):
        return str(int(x)) if float(x).is_integer() else repr(float(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    t = str(x).strip()
    return t or None


def _as_text(s: pd.Series) -> pd.Series:
    """Identifiers as text, converted once per distinct value.

    Integral floats (Excel's ``12.0``) become ``'12'``; text is stripped; empty
    text is missing. The same conversion is used for every key that is joined.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):  # converted per category, not per row
        return _as_label(s).astype("str")
    if pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s):
        wide = "UInt64" if pd.api.types.is_unsigned_integer_dtype(s) else "Int64"  # ids >= 2^63
        return s.astype(wide).astype("str").where(s.notna(), None)
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        a = pa.array(s)  # no copy for pyarrow-backed text; checked by Arrow's regex engine
        if not pc.any(pc.or_(pc.match_substring_regex(a, r"^\s|\s$"), pc.equal(a, ""))).as_py():
            return s  # clean already: no copy of 10^7 strings
        out = s.str.strip()
        return out.where(out.notna() & (out != ""), None)
    return unique_map(s, _text_id).astype("str")


def _as_label(s: pd.Series) -> pd.Series:
    """A label column as a categorical of texts (same conversion as :func:`_as_text`).

    Categoricals (CSV labels arrive dictionary-encoded) are converted per category, never per row.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        texts = [_text_id(c) for c in s.cat.categories]
        # sorted, as astype("category") sorts: a CSV and a DataFrame of the same data load alike
        cats = pd.Index(sorted({t for t in texts if t is not None}), dtype="str")
        pos = {t: i for i, t in enumerate(cats)}
        remap = np.array([pos.get(t, -1) for t in texts] + [-1], dtype=np.int32)
        codes = s.cat.codes.to_numpy()
        new = remap[np.where(codes >= 0, codes, len(texts))]
        return pd.Series(pd.Categorical.from_codes(new, categories=cats), index=s.index)
    return _as_text(s).astype("category")


#: A number written as text: decimal digits, optional point, optional exponent. Nothing else
#: is read as a number (not ``0x1``, ``1_000``, ``inf``, ``١``, which Python's float() takes).
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NULL_TEXT = frozenset(NULL_VALUES)


def _number(v, labels: dict | None = None) -> tuple[float, bool]:
    """One cell as (number, given). Not-a-number cells are (NaN, True); blanks and the
    readers' missing-value spellings (``NA``, ``nan``, ``NULL``, ...) are (NaN, False)."""
    if isinstance(v, (bool, np.bool_)):  # True/False are not answers or scores
        return np.nan, True
    if isinstance(v, (int, np.integer)):
        try:
            return float(v), True
        except OverflowError:  # an integer beyond the float range
            return np.nan, True
    if isinstance(v, (float, np.floating)):
        return (float(v) if np.isfinite(v) else np.nan), not np.isnan(v)
    if not isinstance(v, str):  # bytes, lists, dates ... in an object column
        return np.nan, True
    s = v.strip()
    if s in _NULL_TEXT:
        return np.nan, False
    if labels:
        key = " ".join(s.lower().split())
        if key in labels:
            return float(labels[key]), True
    if _DECIMAL.fullmatch(s):
        return float(s), True
    return np.nan, True


def _numbers(raw: pd.Series, labels: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A column as (numbers, given), converted once per distinct value (see :func:`_number`).

    Numeric columns are taken as they are; text (and object) columns accept decimal numbers
    and, with ``labels``, the instrument's answer texts. The same rule holds for every input
    format, so a CSV and a DataFrame of the same values load alike.
    """
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        v = raw.to_numpy(dtype=float, na_value=np.nan, copy=True)
        given = ~np.isnan(v)
        v[np.isinf(v)] = np.nan  # 'inf' (which a CSV reader types as a float) is no score
        return v, given
    codes, uniques = factorize(raw)
    val = np.full(len(uniques) + 1, np.nan)  # the extra last slot serves code -1 (missing)
    given = np.zeros(len(uniques) + 1, dtype=bool)
    for i, u in enumerate(uniques):
        val[i], given[i] = _number(u, labels)
    return val[codes], given[codes]


def _day_numbers(dates: pd.Series) -> np.ndarray:
    """Dates as days since 1970 (float; NaN where there is no date)."""
    d = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return np.where(np.isnat(d), np.nan, d.astype(np.int64).astype(float))


class _Validator:
    def __init__(
        self, df: pd.DataFrame, source: str, mp, missing_items, renamed=None, harmonize=None
    ) -> None:
        self.renamed: dict[str, str] = renamed or {}  # contract name -> the user's column
        self.harmonize = harmonize  # the short form (Instrument) to score longer forms as
        #: harmonize: positions that stay the longer form, and how many by each cause
        self.unharmonised: tuple[np.ndarray, int, int] | None = None
        self.episode_codes: np.ndarray | None = None  # factorized episode_id, set by _episode_ids
        self.dup_candidates = np.ones(len(df), dtype=bool)  # narrowed before columns are released
        self.dup_source = df
        self.df = df
        self.n = len(df)
        self.source = source
        self.mp = mp
        self.missing_items = missing_items
        self.issues: list[_Issue] = []
        self.settings: dict = {}
        self.columns = set(df.columns)  # the input's columns (they are released during checks)
        self.values_seen: dict[str, list] = {}  # distinct values of each [values.X] column
        self.values_used: dict[str, set] = {}  # the [values.X] keys that matched a value

    def _yours(self, column: str, reason: str) -> tuple[str, str]:
        """Name the user's own column when the mapping renamed it (in the text and ``column``)."""
        orig = self.renamed.get(column)
        if not orig:
            return column, reason
        label = f"{column} (your column {orig!r})"
        reason = re.sub(
            rf"(?<![\w']){re.escape(column)}(?![\w'])", lambda _m: label, reason, count=1
        )
        return orig, reason

    def add(self, mask, column, reason, fix, severity="quarantine", values=None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            if values is not None and len(values) == len(mask):
                values = values[mask]  # keep only what the problem list needs
            column, reason = self._yours(column, reason)
            self.issues.append(_Issue(mask, column, reason, fix, severity, values))

    # -- helpers -------------------------------------------------------------
    def _user_label(self, col: str, v, key: str | None = None, seen: bool = True):
        """The label your ``[values.<col>]`` gives ``v`` (the match recorded), else ``None``.

        Called once per distinct value, which is also recorded (for the unused-entry check).
        """
        user = self.mp.values.get(col)
        if not user:
            return None
        if seen:
            self.values_seen.setdefault(col, []).append(v)
        key = name_key(v) if key is None else key
        if key in user:
            self.values_used.setdefault(col, set()).add(key)
            return user[key]
        return None

    def _mapped_note(self, col: str, n_rows: int) -> None:
        if n_rows:
            self.warn_file(
                col,
                f"{col}: {n_rows:,} row(s) relabelled by [values.{col}] in the {self.mp.where} "
                "(declared, so not counted as repairs)",
                "",
                "note",
            )

    def _labels(self, col: str, synonyms: dict[str, str], allowed: list[str]) -> pd.Series:
        """A labelled optional column: canonical labels; an unknown label is set to missing."""
        s = self.df[col]
        canon_keys = {name_key(a): a for a in allowed}

        def f(v):
            key = name_key(v)
            mine = self._user_label(col, v, key)
            if mine is not None:
                return ("mapped", mine)
            if key in canon_keys:
                return ("ok", canon_keys[key])
            if key in synonyms:
                return ("repair", synonyms[key])
            return ("bad", None)

        kind, val, repaired_text = _classify(s, f)
        present = s.notna().to_numpy()
        bad = present & (kind == "bad")
        where = f"[values.{col}] in the mapping"
        self.add(
            bad,
            col,
            f"{col} {{value!r}} is not a known label; set to missing (to keep it, add it under "
            f"{where})",
            f"Use {', '.join(allowed[:-1])} or {allowed[-1]}, or add the label under {where} "
            f'(e.g. "your label" = "{allowed[0]}").',
            "repair",
            values=s,
        )
        if bad.any():
            labels = pd.unique(s[bad].map(str))  # str() per cell: bytes, lists as written
            shown = ", ".join(repr(x) for x in labels[:5]) + (", ..." if len(labels) > 5 else "")
            self.warn_file(
                col,
                f"{col}: {int(bad.sum()):,} row(s) with a label that is not known ({shown}) loaded "
                f"with {col} missing; add the label(s) under {where}",
                "",
                "note",
            )
        rep = present & (kind == "repair")
        if rep.any():
            texts = pd.Series(repaired_text(rep), index=s.index[rep])
            self.add(rep, col, f"{col} {{value}}", "", "repair", values=texts)
        self._mapped_note(col, int((kind == "mapped").sum()))
        return pd.Series(val, index=s.index)

    def _relabel(self, col: str, s: pd.Series) -> pd.Series:
        """A grouping label column (categorical) relabelled by ``[values.<col>]``."""
        cats = list(s.cat.categories)
        mine = [self._user_label(col, c) for c in cats]
        new = [c if m is None else m for c, m in zip(cats, mine, strict=True)]
        if new == cats:
            return s
        final = pd.Index(sorted(set(new)), dtype="str")
        pos = {t: i for i, t in enumerate(final)}
        remap = np.array([pos[t] for t in new] + [-1], dtype=np.int32)
        codes = s.cat.codes.to_numpy()
        changed = np.array([m is not None for m in mine] + [False])
        c = np.where(codes >= 0, codes, len(cats))
        self._mapped_note(col, int(changed[c].sum()))
        return pd.Series(pd.Categorical.from_codes(remap[c], categories=final), index=s.index)

    def _unused_values(self) -> None:
        """A warning for each ``[values.X]`` entry that matched no value of the data."""
        for col, table in self.mp.values.items():
            written = self.mp.value_keys.get(col, {})
            seen = [str(x) for x in self.values_seen.get(col, [])]
            for key, label in table.items():
                if key in self.values_used.get(col, set()):
                    continue
                entry = f"{self.mp.where}: {_entry('values.' + col, written.get(key, key), label)}"
                if col not in self.columns:
                    reason = f"{entry} matched no value: the data have no {col} column"
                else:
                    reason = f"{entry} matched no value of {col}" + _did_you_mean(
                        written.get(key, key), seen, aside=True
                    )
                self.warn_file(
                    self.renamed.get(col, col),
                    reason,
                    f"Correct the label in the mapping to the value as written in the data, or "
                    f"remove the entry when the data have no such {col}.",
                    yours=False,
                )

    def warn_file(
        self, column: str, reason: str, fix: str, severity: str = "warning", yours: bool = True
    ) -> None:
        """A file-level problem (no rows flagged): a warning, or a ``note`` that never fails strict.

        ``yours`` names the user's own column in the text (not for mapping entries, which do).
        """
        if yours:
            column, reason = self._yours(column, reason)
        self.issues.append(_Issue(np.zeros(self.n, dtype=bool), column, reason, fix, severity))

    def _dates(self, col: str) -> pd.Series:
        """Parse a date column to days (times dropped; tz-aware values keep their local date).

        ISO values (``2025-03-14``, with or without a time or UTC offset) are read
        as such. The other values are read with ONE day/month order for the whole
        column: the first of ``options.date_format`` (alone, when given) or
        :data:`DATE_FORMATS` that reads every distinct value; failing that, the
        one that reads most, and the rest are quarantined.
        """
        s = self.df[col]
        if pd.api.types.is_datetime64_any_dtype(s):  # typed dates (Parquet, CSV, Excel, ...)
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_localize(None)  # local wall-clock time
            days = _to_days(s)
            bad = s.notna().to_numpy() & np.isnat(days)
            self.add(
                bad,
                col,
                f"{col} {{value!r}} is not a valid date (outside 1677-09-22 .. 2262-04-11)",
                "Correct the date, or leave it empty when it is not known.",
                values=pd.Series(
                    np.datetime_as_string(s.to_numpy()[bad], unit="D"), index=s.index[bad]
                ),
            )
            return pd.Series(days, index=s.index)
        user_fmt = self.mp.options.get("date_format")
        codes, uniques = factorize(s)
        u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
        parsed = np.full(len(u), np.datetime64("NaT"), dtype="datetime64[ns]")
        is_str = np.fromiter((isinstance(v, str) for v in u), dtype=bool, count=len(u))
        for i in np.nonzero(~is_str)[0]:  # datetime objects in a mixed column (Excel)
            parsed[i] = _day_of(u.iloc[i])
        misfit = np.zeros(len(u), dtype=bool)
        iso_shaped = np.zeros(len(u), dtype=bool)
        chosen = None
        if is_str.any():
            txt = u[is_str].astype("str").str.strip()
            pos = np.nonzero(is_str)[0]
            iso = txt.str.extract(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ].*)?$")
            basic = txt.str.extract(r"^(\d{4})(\d{2})(\d{2})$")
            iso = iso.where(iso[0].notna(), basic)
            is_iso = iso[0].notna().to_numpy()
            iso_shaped[pos[is_iso]] = True
            if is_iso.any():
                ymd = (iso[0] + "-" + iso[1] + "-" + iso[2])[is_iso]
                parsed[pos[is_iso]] = _to_days(
                    pd.to_datetime(ymd, format="%Y-%m-%d", errors="coerce")
                )
            rest = txt[~is_iso]
            rpos = pos[~is_iso]
            if len(rest):
                timed = user_fmt and any(d in user_fmt for d in ("%H", "%I", "%M", "%S"))
                tok = rest if timed else rest.str.replace(r"\s.*$", "", regex=True)
                cands = [user_fmt] if user_fmt else DATE_FORMATS
                results = [_parse_with(tok, f, guard=not user_fmt) for f in cands]
                n_ok = [int(r.notna().sum()) for r in results]
                full = [i for i, k in enumerate(n_ok) if k == len(rest)]
                best = full[0] if full else int(np.argmax(n_ok))
                chosen = cands[best]
                got = results[best]
                parsed[rpos] = _to_days(got)
                if not user_fmt:
                    other = np.logical_or.reduce([r.notna().to_numpy() for r in results])
                    misfit[rpos] = got.isna().to_numpy() & other
                    alt = _SWAPPED.get(chosen)
                    if n_ok[best] and alt is not None:
                        alt_got = _parse_with(tok, alt, guard=True)
                        differs = (alt_got != got).to_numpy() & got.notna().to_numpy()
                        if alt_got[got.notna()].notna().all() and differs.any():
                            ex = tok[differs].iloc[0]
                            self.warn_file(
                                col,
                                f"{col}: the day/month order cannot be told from the values (every "
                                f"day number is 12 or less, e.g. {ex!r}); read as "
                                f"{_FMT_WORDS[chosen]} ({chosen})",
                                f"If the dates are {_FMT_WORDS[alt]}, set options.date_format = "
                                f"'{alt}' in the mapping (TOML: [options] date_format = '{alt}').",
                            )
        vals = np.append(parsed, np.datetime64("NaT", "ns"))  # code -1 -> NaT
        out = pd.Series(vals[np.where(codes >= 0, codes, len(vals) - 1)], index=s.index)
        out = out.astype("datetime64[ns]")
        bad_u = np.append(np.isnat(parsed), False)
        misfit_u = np.append(misfit, False)
        c = np.where(codes >= 0, codes, len(vals) - 1)
        bad = bad_u[c] & ~misfit_u[c]
        mis = misfit_u[c]
        # written as YYYY-MM-DD but no such day (2025-02-30) or out of pandas' range (0001-01-01)
        impossible = bad & np.append(iso_shaped, False)[c]
        bad &= ~impossible
        self.add(
            impossible,
            col,
            f"{col} {{value!r}} is not a valid date (no such day, or outside 1677-09-22 .. "
            "2262-04-11)",
            "Correct the date, or leave it empty when it is not known.",
            values=s,
        )
        if user_fmt:
            hint = f" (expected format {user_fmt})"
        elif chosen:
            hint = f" (expected YYYY-MM-DD or {_FMT_EXAMPLE[chosen]})"
        else:
            hint = " (expected YYYY-MM-DD or MM/DD/YYYY)"
        self.add(
            bad,
            col,
            f"{col} {{value!r}} is not a valid date{hint}",
            "Correct the date, or set options.date_format in the mapping (e.g. '%d/%m/%Y').",
            values=s,
        )
        if mis.any():
            n_other, n_read = int(len(rest)), int(n_ok[best])
            self.add(
                mis,
                col,
                f"{col} {{value!r}} does not fit the date order used for this column: "
                f"{_FMT_WORDS[chosen]} ({chosen}), which reads {n_read} of "
                f"{n_other} distinct non-ISO values",
                "Correct the date (one order per column), or set options.date_format in the mapping.",
                values=s,
            )
        return out

    # -- the checks ------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        df = self.df
        out = pd.DataFrame(index=df.index)

        # identifiers
        pid = _as_text(df["patient_id"])
        self.add(
            pid.isna().to_numpy(),
            "patient_id",
            "patient_id is missing",
            "Fill in the patient identifier.",
        )
        out["patient_id"] = pid
        ids = pd.Series(pd.unique(pid.dropna()), dtype="str")
        numeric_ids = pd.Series(  # Arrow's regex engine: pandas' may fall back to Python per id
            pc.match_substring_regex(pa.array(ids), r"^\d+$").to_numpy(zero_copy_only=False)
        )
        if numeric_ids.any() and not numeric_ids.all() and len(ids) > 1:
            ex_num, ex_txt = ids[numeric_ids].iloc[0], ids[~numeric_ids].iloc[0]
            self.add(
                np.zeros(self.n, dtype=bool) | True,
                "patient_id",
                f"patient_id mixes numeric and text identifiers (e.g. {ex_num!r} and {ex_txt!r})",
                "Check that one id scheme is used; a person recorded under two schemes counts twice.",
                "warning",
            )
            self.issues[-1].mask = np.zeros(self.n, dtype=bool)

        # instrument
        inst_raw = df["instrument"]

        def canon(v):
            mine = self._user_label("instrument", v)
            if mine is not None:
                c = _inst.canonical_name(str(mine))
                return ("mapped", c) if c else ("bad", None)
            c = _inst.canonical_name(str(v))
            if c is None:
                return ("bad", None)
            return ("ok" if name_key(v) == name_key(c) else "repair", c)

        kind, inst_cat, repaired_text = _classify(inst_raw, canon)
        inst = pd.Series(inst_cat, index=df.index)
        self.add(
            kind == "na", "instrument", "instrument is missing", "Fill in the instrument name."
        )
        self.add(
            kind == "bad",
            "instrument",
            "unknown instrument {value!r}",
            f"Use one of {_inst.names()} (or a common spelling such as 'phq9'), or register it with "
            "iop.instruments.register().",
            values=inst_raw,
        )
        rep = kind == "repair"
        if rep.any():
            vals = pd.Series(repaired_text(rep), index=df.index[rep])
            self.add(rep, "instrument", "instrument {value}", "", "repair", values=vals)
        self._mapped_note("instrument", int((kind == "mapped").sum()))
        out["instrument"] = inst

        # dates and time
        for col in ("assessment_date", "admit_date", "discharge_date"):
            if col in df.columns:
                out[col] = self._dates(col)
        dated = (
            out["assessment_date"].notna().to_numpy()
            if "assessment_date" in out
            else np.zeros(self.n, dtype=bool)
        )
        if "week" in df.columns:
            wk, given = _numbers(df["week"])
            with np.errstate(invalid="ignore"):
                bad = given & ~((wk >= 0) & (wk <= MAX_WEEK))
            self.add(
                bad & ~dated,
                "week",
                f"week {{value!r}} is not a number from 0 to {MAX_WEEK}",
                "Give weeks since admission.",
                values=df["week"],
            )
            self.add(
                bad & dated,
                "week",
                f"week {{value!r}} is not a number from 0 to {MAX_WEEK}; set to missing (the "
                "assessment_date is used)",
                "",
                "repair",
                values=df["week"],
            )
            out["week"] = np.where(bad, np.nan, wk)
        if "timepoint" in df.columns:
            out["timepoint"] = self._timepoints(dated)
            if "week" not in out:
                w = out["timepoint"].str.extract(r"^week_(\d+)$", expand=False).astype("float64")
                out["week"] = w.where(out["timepoint"] != "intake", 0.0)
        time_cols = [c for c in ("assessment_date", "week", "timepoint") if c in out]
        no_time = np.logical_and.reduce([out[c].isna().to_numpy() for c in time_cols])
        self.add(
            no_time
            & ~np.logical_or.reduce([df[c].notna().to_numpy() for c in time_cols if c in df]),
            time_cols[0],
            f"no {' / '.join(time_cols)} given",
            "Give the assessment date (or week / timepoint).",
        )
        self._episode_ids(out)
        self._episode_dates(out)
        self._keep_duplicate_candidates(out)
        self._release("assessment_date", "admit_date", "discharge_date", "week", "timepoint")

        # labels
        if "format" in df.columns:
            out["format"] = self._labels("format", FORMAT_SYNONYMS, FORMAT_LABELS)
            self._release("format")
        if "discharge_status" in df.columns:
            out["discharge_status"] = self._labels(
                "discharge_status", STATUS_SYNONYMS, STATUS_LABELS
            )
            self._release("discharge_status")
        if "age" in df.columns:
            age, given = _numbers(df["age"])
            with np.errstate(invalid="ignore"):
                bad = given & ~((age >= 0) & (age <= 120))
            self.add(
                bad,
                "age",
                "age {value!r} is not a number from 0 to 120; set to missing",
                "",
                "repair",
                values=df["age"],
            )
            numeric = pd.api.types.is_numeric_dtype(df["age"])
            # an integer column stays one (a DataFrame's int64, a CSV's small nullable int)
            out["age"] = df["age"].where(~bad) if numeric else np.where(bad, np.nan, age)
            self._release("age")
        for col in ("attendance_hours", "sessions_attended", "sessions_scheduled"):
            if col in df.columns:
                x, given = _numbers(df[col])
                with np.errstate(invalid="ignore"):
                    bad = given & ~(x >= 0)
                self.add(
                    bad,
                    col,
                    f"{col} {{value!r}} is not a number >= 0; set to missing",
                    "",
                    "repair",
                    values=df[col],
                )
                out[col] = np.where(bad, np.nan, x)
                self._release(col)

        first_scoring_issue = len(self.issues)
        self._score(out)
        if self.harmonize is not None:
            self._harmonize(out, first_scoring_issue)
        else:
            self._short_and_long_forms_note(out)
        self._duplicates(out)

        # carry the rest through untouched
        for c in df.columns:
            if c not in out.columns:
                out[c] = df[c]
        for c in GROUP_COLUMNS:
            if c in out.columns:
                out[c] = _as_label(out[c])
                if c in self.mp.values:
                    out[c] = self._relabel(c, out[c])
        self._unused_values()
        out["instrument"] = out["instrument"].astype("category")
        items = sorted((c for c in out.columns if c.startswith("item_")), key=lambda c: int(c[5:]))
        lead = [c for c in CONTRACT_COLUMNS if c in out.columns]
        scored = ["n_answered", "scoring_rule", "severity", "safety_flag"]
        rest = [c for c in out.columns if c not in lead + items + scored]
        return out[lead + items + scored + rest]

    def _timepoints(self, dated: np.ndarray) -> pd.Series:
        """Canonical timepoint labels; ``[values.timepoint]`` in the mapping first.

        An unrecognised label is set to missing (a repair) when the row has a
        valid assessment date, and quarantined otherwise.
        """
        raw = self.df["timepoint"]

        def f(v):
            mine = self._user_label("timepoint", v)
            if mine is None:  # 'exit_arm_1' matches your 'exit'
                key = name_key(_ARM.sub("", str(v).strip().lower()))
                mine = self._user_label("timepoint", v, key, seen=False)
            if mine is not None:
                c = normalize_timepoint(mine)
                return ("mapped", c) if c else ("bad", None)
            c = normalize_timepoint(v)
            return ("ok", c) if c else ("bad", None)

        kind, cat, repaired_text = _classify(raw, f)
        bad = kind == "bad"
        labels = "intake, week_N, discharge, followup_1m / 3m / 6m / 12m"
        self.add(
            bad & ~dated,
            "timepoint",
            "unknown timepoint {value!r}",
            f"Use {labels}, or map your label under [values.timepoint] in the mapping "
            '(e.g. "fu_visit_1" = "followup_1m").',
            values=raw,
        )
        self.add(
            bad & dated,
            "timepoint",
            "timepoint {value!r} is not a recognised label; set to missing (the assessment_date "
            "is used). To keep it, map it under [values.timepoint] in the mapping",
            "",
            "repair",
            values=raw,
        )
        rep = kind == "repair"
        if rep.any():
            texts = pd.Series(repaired_text(rep), index=raw.index[rep])
            self.add(rep, "timepoint", "timepoint {value}", "", "repair", values=texts)
        self._mapped_note("timepoint", int((kind == "mapped").sum()))
        # categories sorted, so that sorting by timepoint orders as text does
        return pd.Series(cat.reorder_categories(sorted(cat.categories)), index=raw.index)

    def _episode_ids(self, out: pd.DataFrame) -> None:
        """``episode_id``: as given, made unique per patient when numbered within patient.

        Without an ``episode_id`` column, episodes are one per patient, or one per
        (patient, ``admit_date``) when a patient has several admission dates.
        """
        df = self.df
        pid = out["patient_id"]
        pc, pu = pd.factorize(pid, use_na_sentinel=True)
        pu = np.asarray(pu, dtype=object)
        if "episode_id" in df.columns:
            eid = _as_text(df["episode_id"])
            self.add(
                eid.isna().to_numpy() & (pc >= 0),
                "episode_id",
                "episode_id is missing",
                "Fill in the episode, or drop the episode_id column to use one episode per patient.",
            )
            ec, eu = pd.factorize(eid, use_na_sentinel=True)
            both = (pc >= 0) & (ec >= 0)
            first = np.full(len(eu) + 1, -1, dtype=np.int64)
            idx = np.nonzero(both)[0][::-1]
            first[ec[idx]] = pc[idx]  # the last write wins: each episode's first patient
            shared = both & (first[ec] != pc)
            if shared.any():
                n_shared = len(np.unique(ec[shared]))
                ex = str(eu[ec[np.nonzero(shared)[0][0]]])
                out["episode_id"] = _pair_text(pc, pu, ec, np.asarray(eu, dtype=object), both)
                self.add(
                    both,
                    "episode_id",
                    f"episode_id numbered within patient ({n_shared:,} episode_id value(s) are used "
                    f"by more than one patient, e.g. {ex!r}); read as 'patient_id|episode_id'",
                    "",
                    "repair",
                )
            else:
                out["episode_id"] = eid
                self.episode_codes = ec
            return
        out["episode_id"] = pid
        self.episode_codes = pc
        if "admit_date" not in out:
            return
        ad = out["admit_date"].to_numpy()
        ok = (pc >= 0) & ~np.isnat(ad)
        if not ok.any():
            return
        adi = ad.view("int64")
        first = np.zeros(len(pu) + 1, dtype=np.int64)
        idx = np.nonzero(ok)[0][::-1]
        first[pc[idx]] = adi[idx]
        several = np.zeros(len(pu) + 1, dtype=bool)
        several[pc[ok & (first[pc] != adi)]] = True
        if not several.any():
            return
        # a row without admit_date of such a patient: the admission on or before its assessment
        adi_ep = np.where(ok, adi, np.iinfo(np.int64).min)
        has_a = "assessment_date" in out
        a = out["assessment_date"].to_numpy() if has_a else np.full(self.n, np.datetime64("NaT"))
        need = (pc >= 0) & np.isnat(ad) & several[np.where(pc >= 0, pc, len(pu))] & ~np.isnat(a)
        if need.any():
            adm = pd.DataFrame({"p": pc[ok], "t": adi[ok]}).drop_duplicates().sort_values("t")
            q = pd.DataFrame({"p": pc[need], "t": a[need].view("int64"), "i": np.nonzero(need)[0]})
            q = q.sort_values("t")
            back = pd.merge_asof(q, adm.assign(adm=adm["t"]), on="t", by="p", direction="backward")
            fwd = pd.merge_asof(q, adm.assign(adm=adm["t"]), on="t", by="p", direction="forward")
            got = back["adm"].fillna(fwd["adm"]).to_numpy()
            adi_ep[q["i"].to_numpy()] = got.astype(np.int64)
        use = adi_ep != np.iinfo(np.int64).min
        dc, du = pd.factorize(adi_ep[use])
        days = pd.DatetimeIndex(du.astype("datetime64[ns]")).strftime("%Y-%m-%d")
        dcode = np.full(self.n, -1, dtype=np.int64)
        dcode[use] = dc
        new = _pair_text(pc, pu, dcode, np.asarray(days, dtype=object), use)
        out["episode_id"] = new.where(use, pid)
        self.episode_codes = None
        n_p = int(several.sum())
        self.add(
            ok & several[pc],
            "episode_id",
            f"no episode_id column and {n_p:,} patient(s) have several admit_date values: "
            "episode_id derived as 'patient_id|admit_date'",
            "Give an episode_id column to define episodes yourself.",
            "repair",
        )
        self.add(
            need,
            "episode_id",
            "admit_date missing for a patient with several admissions: assigned to the admission "
            "on or before its assessment_date (else the next one)",
            "Fill in admit_date, or give an episode_id column.",
            "repair",
        )

    def _episode_dates(self, out: pd.DataFrame) -> None:
        first, last = pd.Timestamp("1990-01-01"), pd.Timestamp.now().normalize()
        for col, ahead in (("admit_date", 1), ("discharge_date", 366)):
            if col in out:  # a 1678 admission made a 584-year episode
                d = out[col]
                bad = ((d < first) | (d > last + pd.Timedelta(days=ahead))).to_numpy()
                self.add(
                    bad,
                    col,
                    f"{col} {{value}} is impossible (before 1990 or "
                    + ("in the future)" if ahead == 1 else "more than a year ahead)"),
                    "Correct the date, or leave it empty when it is not known.",
                    values=_day_text(d, bad),
                )
        if "admit_date" in out and "discharge_date" in out:
            bad = (out["discharge_date"] < out["admit_date"]).to_numpy()
            self.add(
                bad,
                "discharge_date",
                "discharge_date {value} is before admit_date",
                "Check the episode's dates (admission and discharge may be swapped).",
                values=_day_text(out["discharge_date"], bad),
            )
        if "assessment_date" in out:
            a = out["assessment_date"]
            too_old = (a < pd.Timestamp("1990-01-01")) | (
                a > pd.Timestamp.now().normalize() + pd.Timedelta(days=1)
            )
            self.add(
                too_old.to_numpy(),
                "assessment_date",
                "assessment_date {value} is impossible (before 1990 or in the future)",
                "Correct the date.",
                values=_day_text(a, too_old.to_numpy()),
            )
            if "admit_date" in out:
                end = (
                    out["discharge_date"].fillna(out["admit_date"])
                    if "discharge_date" in out
                    else out["admit_date"]
                )
                # in whole days (floats, NaN for no date): a Timestamp shifted past pandas' range
                # (an admission in 1678 minus 180 days) overflowed
                ad, adm, ed = (_day_numbers(x) for x in (a, out["admit_date"], end))
                with np.errstate(invalid="ignore"):
                    early = ad < adm - DAYS_BEFORE_ADMIT
                    late = ad > ed + DAYS_AFTER_DISCHARGE
                self.add(
                    (early | late) & ~too_old.to_numpy(),
                    "assessment_date",
                    f"assessment_date {{value}} is far from its episode (allowed: {DAYS_BEFORE_ADMIT} days "
                    f"before admission to {DAYS_AFTER_DISCHARGE} days after discharge)",
                    "Check the date and the episode it belongs to.",
                    values=_day_text(a, (early | late) & ~too_old.to_numpy()),
                )

    def _score(self, out: pd.DataFrame) -> None:
        """Totals from items (or given), checked; all rows at once.

        Every instrument parameter (number of items, item range, missing items allowed) is
        looked up per row from the row's instrument code, so the checks and the scoring are
        array operations over all rows; messages that name an instrument are split by
        instrument only for the flagged rows.
        """
        df = self.df
        inst = out["instrument"]
        codes = inst.cat.codes.to_numpy()
        present_codes = np.unique(codes[codes >= 0])
        specs = {int(k): _inst.get(inst.cat.categories[k]) for k in present_codes}
        extra_items = self._foreign_items(specs, codes)  # item columns no instrument has
        item_cols = sorted(
            (c for c in df.columns if c.startswith("item_")), key=lambda c: int(c[5:])
        )
        k_max = max((int(c[5:]) for c in item_cols), default=0)
        for c in item_cols:  # whole-number float items (Parquet, Excel) as one byte (memory)
            x = df[c]
            if pd.api.types.is_float_dtype(x) and len(x):
                v = x.to_numpy(dtype=float, na_value=np.nan)
                ok = np.isnan(v) | ((v == np.round(v)) & (np.abs(v) <= 127))
                if ok.all():
                    df[c] = _nullable(v, np.int8)
                del v, ok
        policy = {ins.name: self._max_missing(ins) for ins in specs.values()}
        has_inst = codes >= 0

        def per_row(value, fill=0):
            """An instrument parameter for every row (``fill`` where there is no instrument)."""
            lut = np.full(len(inst.cat.categories) + 1, fill, dtype=np.int32)  # not float: memory
            for k, ins in specs.items():
                lut[k] = value(ins)
            return lut[np.where(has_inst, codes, len(lut) - 1)]

        n_items = per_row(lambda i: i.n_items)
        item_min, item_max = per_row(lambda i: i.item_min), per_row(lambda i: i.item_max)
        max_miss = per_row(lambda i: policy[i.name])

        def by_instrument(mask, make) -> None:
            """``make(ins, sub_mask)`` for each instrument among the flagged rows."""
            if mask.any():
                for k in np.unique(codes[mask]):
                    make(specs[int(k)], mask & (codes == k))

        def texts(mask, fmt, *arrays) -> pd.Series:
            """Value texts for the flagged rows, formatted once per distinct combination."""
            cols = [x[mask] for x in arrays]
            key = np.zeros(len(cols[0]), dtype=np.int64)
            for col in cols:  # one code per distinct combination (hash factorize, no sort)
                c, u = pd.factorize(col, use_na_sentinel=False)
                key = key * len(u) + c
            inv = pd.factorize(key)[0]
            first = np.unique(inv, return_index=True)[1]  # a row of each combination
            utxt = np.array([fmt.format(*(col[i] for col in cols)) for i in first], dtype=object)
            return pd.Series(utxt[inv], index=df.index[mask])

        has_total = "total" in df.columns
        given, total_given = _numbers(df["total"]) if has_total else (np.full(self.n, np.nan), None)
        total_missing = ~total_given if has_total else True
        if has_total:
            bad = total_given & np.isnan(given)
            self.add(
                bad,
                "total",
                "total {value!r} is not a number",
                "Correct the total or give items.",
                values=df["total"],
            )
            self._release("total")

        # ---- items: each column checked, written to the output as small integers and added to
        # the per-row count of answered items and their sum; item columns missing from the file
        # (a gap in item_1..item_k) are all missing
        fits_int8 = all(-128 < i.item_min and i.item_max < 128 for i in specs.values())
        item_dtype = np.int8 if fits_int8 else np.int32
        answered = np.zeros(self.n, dtype=np.int16)
        raw_sum = np.zeros(self.n)
        # the safety item (PHQ-9 item 9) is never imputed: missing stays missing
        safety_item = per_row(lambda i: i.safety_item or 0)
        safety_item[safety_item > n_items] = 0
        safety_pos = np.zeros(self.n, dtype=bool)
        safety_na = np.ones(self.n, dtype=bool)
        for j in set(range(k_max)) - {int(c[5:]) - 1 for c in item_cols}:
            out[f"item_{j + 1}"] = pd.arrays.IntegerArray(
                np.zeros(self.n, dtype=item_dtype), np.ones(self.n, dtype=bool)
            )
        for c in item_cols:
            j = int(c[5:]) - 1
            raw = df[c]
            numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
            if not numeric:  # answer texts are the instrument's own: read per instrument
                text_num = np.full(self.n, np.nan)
                text_present = np.zeros(self.n, dtype=bool)
                for k, ins in specs.items():
                    rows = codes == k
                    text_num[rows], text_present[rows] = _numbers(raw[rows], ins.answer_labels)
                other = ~np.isin(codes, list(specs))  # rows without a known instrument
                text_present[other] = _numbers(raw[other])[1]
            extra, bad_nan, bad_rng = (np.zeros(self.n, dtype=bool) for _ in range(3))
            vals, na = np.zeros(self.n, dtype=item_dtype), np.ones(self.n, dtype=bool)
            for lo in range(0, self.n, _BLOCK_ROWS):
                sl = slice(lo, lo + _BLOCK_ROWS)
                if numeric:
                    num = raw.array[sl].to_numpy(dtype=float, na_value=np.nan)
                    present = ~np.isnan(num)
                    # 'inf' is no answer (as in _numbers)
                    num = np.where(np.isinf(num), np.nan, num)
                else:
                    num, present = text_num[sl], text_present[sl]
                in_inst = j < n_items[sl]  # the row's instrument has this item
                extra[sl] = present & has_inst[sl] & ~in_inst
                bad_nan[sl] = present & in_inst & np.isnan(num)
                bad_rng[sl] = (
                    in_inst
                    & ~np.isnan(num)
                    & ((num < item_min[sl]) | (num > item_max[sl]) | (num != np.round(num)))
                )
                ok = in_inst & ~bad_rng[sl] & ~np.isnan(num)
                vals[sl] = np.where(ok, num, 0)
                na[sl] = ~ok
                answered[sl] += ok
                raw_sum[sl] += np.where(ok, num, 0.0)
            out[f"item_{j + 1}"] = pd.arrays.IntegerArray(vals, na)
            is_safety = safety_item == j + 1
            safety_pos[is_safety] = vals[is_safety] > 0
            safety_na[is_safety] = na[is_safety]
            del vals, na, is_safety
            if extra.any():
                extra_items.append((c, extra, df[c][extra]))
            by_instrument(
                bad_nan,
                lambda ins, m, c=c: self.add(
                    m,
                    c,
                    f"{c} {{value!r}} is not a number or an answer text of {ins.name}",
                    "Correct the response or leave it empty (missing).",
                    values=df[c],
                ),
            )
            by_instrument(
                bad_rng,
                lambda ins, m, c=c: self.add(
                    m,
                    c,
                    f"{c} {{value!r}} is outside the {ins.name} item range "
                    f"{ins.item_min}-{ins.item_max}",
                    "Correct the response or leave it empty (missing).",
                    values=df[c],
                ),
            )
            del raw
            self._release(c)

        self._extra_items(extra_items, codes, specs)

        # ---- totals (formulas in the module docs: sum; Arrieta et al. 2017 proration)
        g = given
        total = np.full(self.n, np.nan)
        rule = np.full(self.n, -1, dtype=np.int8)  # codes of RULES
        complete = has_inst & (answered == n_items)
        none = has_inst & (answered == 0)
        partial = has_inst & ~complete & ~none
        total[complete] = raw_sum[complete]
        rule[complete] = RULES.index("items_complete")
        prorate_ok = partial & (n_items - answered <= max_miss) & np.isnan(g)
        p = prorate_ok  # mean of the answered items x number of items, rounded half up
        total[p] = np.floor(raw_sum[p] / answered[p] * n_items[p] + 0.5)
        rule[prorate_ok] = RULES.index("prorated")
        # a total given beside incomplete items: accept when it is consistent with them
        gp = partial & ~np.isnan(g)
        consistent = np.zeros(self.n, dtype=bool)
        consistent[gp] = (g[gp] >= raw_sum[gp]) & (
            g[gp] <= raw_sum[gp] + (n_items[gp] - answered[gp]) * item_max[gp]
        )
        total[consistent] = g[consistent]
        rule[consistent] = RULES.index("total_given")
        total[none] = g[none]
        rule[none & ~np.isnan(g)] = RULES.index("total_given")

        mism = complete & ~np.isnan(g) & (g != raw_sum)
        self.add(
            mism,
            "total",
            "total {value} does not match the sum of items",
            "Correct the total or the items (or drop the total column to score from items).",
            values=texts(mism, "{:g} (items sum to {:g})", g, raw_sum),
        )
        bad_given = gp & ~consistent
        self.add(
            bad_given,
            "total",
            "total {value} cannot come from the answered items",
            "Correct the total or the items.",
            values=texts(bad_given, "{:g} (answered items sum to {:g})", g, raw_sum),
        )
        by_instrument(
            partial & ~prorate_ok & np.isnan(g),
            lambda ins, m: self.add(
                m,
                "item_*",
                f"too many missing {ins.name} items ({{value}}; the rule allows "
                f"{policy[ins.name]} missing)",
                "Complete the items, give a total, or change missing_items= (e.g. 'prorate' or "
                "an int).",
                values=texts(m, f"{{:.0f}} of {ins.n_items} answered", answered),
            ),
        )
        self.add(
            none & np.isnan(g) & total_missing,
            "total",
            "no items and no total",
            "Give the item responses or the total.",
        )
        total_min, total_max = n_items * item_min, n_items * item_max
        by_instrument(
            ~np.isnan(total) & ((total < total_min) | (total > total_max)),
            lambda ins, m: self.add(
                m,
                "total",
                f"total {{value}} is outside the {ins.name} range {ins.total_min}-{ins.total_max}",
                "Correct the total.",
                values=texts(m, "{:g}", total),
            ),
        )
        frac = ~np.isnan(total) & (total != np.round(total))
        self.add(
            frac,
            "total",
            "total {value} is not a whole number",
            "Give whole-number totals or the item responses.",
            values=texts(frac, "{:g}", total),
        )
        by_instrument(
            prorate_ok,
            lambda ins, m: self.add(
                m,
                "total",
                f"total prorated from {{value}} (mean of answered items x {ins.n_items}, rounded "
                "half up)",
                "",
                "repair",
                values=texts(m, f"{{:.0f}} of {ins.n_items} items", answered),
            ),
        )
        self.add(
            consistent,
            "total",
            "given total used; items incomplete ({value})",
            "",
            "repair",
            values=texts(consistent, "{:.0f} missing", n_items - answered),
        )

        # ---- outputs
        out["total"] = total
        out["n_answered"] = _nullable(np.where(has_inst & ~none, answered, np.nan), np.int16)
        out["scoring_rule"] = pd.Categorical.from_codes(rule, categories=RULES)
        out["severity"] = _severity(out["instrument"], out["total"])
        out["safety_flag"] = pd.arrays.BooleanArray(safety_pos & ~safety_na, safety_na)
        self.settings = {
            "missing_items": self.missing_items
            if not isinstance(self.missing_items, dict)
            else dict(self.missing_items),
            "max_missing": policy,
        }

    def _short_and_long_forms_note(self, out: pd.DataFrame) -> None:
        """A note when the data hold a short form and the longer form it is scored from
        (PHQ-8 and PHQ-9): they do not pair unless ``harmonize`` says so."""
        inst = out["instrument"]
        counts = inst.value_counts()
        for name in counts.index[counts > 0]:
            short = _inst.get(name)
            if short.subset_of is None or counts.get(short.subset_of, 0) == 0:
                continue
            self.warn_file(
                "instrument",
                f"the data hold both {short.name} ({int(counts[short.name]):,} administration(s)) "
                f"and {short.subset_of} ({int(counts[short.subset_of]):,}): different "
                f"instruments, which do not pair in episodes. To compare them, load with "
                f"harmonize={short.name!r} ({short.subset_of} scored as {short.name} from items "
                f"{_span(short.subset_items)}; command line --harmonize {short.name})",
                "",
                "note",
                yours=False,
            )

    def _harmonize(self, out: pd.DataFrame, first_scoring_issue: int) -> None:
        """Score the longer form's administrations as the short form (PHQ-9 as PHQ-8).

        The short form's total is the sum of its items within the longer form (PHQ-8 = PHQ-9
        items 1-8, Kroenke et al. 2009), with the short form's missing-item rule: prorated as
        mean of the answered items x number of items, rounded half up, when no more than its
        ``max_missing`` items are missing. Rows already quarantined, given as a total only, or
        with more items missing stay the longer form (:attr:`unharmonised`). The longer form's
        scoring repairs (a prorated or given total) no longer describe the row and are
        replaced by the harmonisation repair; its quarantines stand.
        """
        short = self.harmonize
        long_name = short.subset_of
        inst = out["instrument"]
        cats = list(inst.cat.categories)
        max_miss = self._max_missing(short)
        self.settings["harmonize"] = short.name
        self.settings["max_missing"][short.name] = max_miss
        if long_name not in cats:
            self.unharmonised = (np.zeros(0, dtype=np.int64), 0, 0)
            return
        q = np.zeros(self.n, dtype=bool)
        for iss in self.issues:
            if iss.severity == "quarantine":
                q |= iss.mask
        codes = inst.cat.codes.to_numpy()
        longer = (codes == cats.index(long_name)) & ~q
        answered = np.zeros(self.n, dtype=np.int16)
        item_sum = np.zeros(self.n)
        for j in short.subset_items:
            c = f"item_{j}"
            if c not in out:
                continue
            v = out[c].to_numpy(dtype=float, na_value=np.nan)
            ok = ~np.isnan(v)
            answered += ok
            item_sum += np.where(ok, v, 0.0)
        k = short.n_items
        can = longer & (k - answered <= max_miss)
        complete = can & (answered == k)
        prorated = can & ~complete
        new_total = np.where(
            complete, item_sum, np.floor(item_sum / np.maximum(answered, 1) * k + 0.5)
        )
        stay = longer & ~can
        no_items = stay & (answered == 0)
        self.unharmonised = (
            np.flatnonzero(stay),
            int(no_items.sum()),
            int((stay & ~no_items).sum()),
        )
        if not can.any():
            return
        for iss in self.issues[first_scoring_issue:]:  # the longer form's total repairs
            if iss.severity == "repair" and iss.column == "total" and (iss.mask & can).any():
                iss.mask = iss.mask & ~can
                if iss.values is not None:
                    iss.values = iss.values.reindex(np.flatnonzero(iss.mask))
        old_total = out["total"].to_numpy(dtype=float, na_value=np.nan)
        how = np.where(prorated, answered, -1)
        self.add(
            can,
            "instrument",
            f"{long_name} scored as {short.name} from items {_span(short.subset_items)}: "
            f"{{value}} (harmonize={short.name!r}; item {_missing_item(short)} kept for the "
            "safety flag)",
            "",
            "repair",
            values=_combination_texts(
                can,
                lambda t0, t1, a: (
                    f"{long_name} total {t0:g} -> {short.name} total {t1:g}"
                    + (f", prorated from {a:.0f} of {k} items" if a >= 0 else "")
                ),
                old_total,
                new_total,
                how,
            ),
        )
        if short.name not in cats:
            cats.append(short.name)
        codes = codes.copy()
        codes[can] = cats.index(short.name)
        out["instrument"] = pd.Series(
            pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype="str")),
            index=out.index,
        )
        out["total"] = np.where(can, new_total, old_total)
        n_ans = out["n_answered"].to_numpy(dtype=float, na_value=np.nan)
        out["n_answered"] = _nullable(np.where(can, answered, n_ans), np.int16)
        rule = out["scoring_rule"].cat.codes.to_numpy().copy()
        rule[complete] = RULES.index("items_complete")
        rule[prorated] = RULES.index("prorated")
        out["scoring_rule"] = pd.Categorical.from_codes(rule, categories=RULES)
        out["severity"] = _severity(out["instrument"], out["total"])
        n = int(can.sum())
        self.warn_file(
            "instrument",
            f"harmonize={short.name!r}: {n:,} {long_name} administration(s) scored as "
            f"{short.name} from items {_span(short.subset_items)} (repairs in the ledger; "
            f"{short.name} = {long_name} without item {_missing_item(short)}, Kroenke et al. "
            "2009)",
            "",
            "note",
            yours=False,
        )

    def _foreign_items(self, specs: dict, codes: np.ndarray) -> list:
        """Item columns that no instrument in the data has (``item_0``, ``item_10`` when the
        longest instrument has 9 items, ``item_100000``, ``item_x``), released before scoring so
        an absurd item number never sizes the item matrix. Returns ``(column, rows with a
        value, values)`` for :meth:`_extra_items`; an empty such column is ignored with a
        note."""
        longest = max((ins.n_items for ins in specs.values()), default=0)
        found = []
        for c in [c for c in self.df.columns if c.startswith("item_")]:
            k = c[5:]
            if k.isascii() and k.isdigit() and str(int(k)) == k and 1 <= int(k) <= longest:
                continue
            col = self.df[c]
            given = col.notna().to_numpy()
            if col.dtype == object or pd.api.types.is_string_dtype(col):
                given = given & col.astype("str").str.strip().ne("").to_numpy()
            if given.any():
                found.append((c, given, col[given]))
            else:
                names = ", ".join(f"{i.name} items 1-{i.n_items}" for i in specs.values())
                self.warn_file(
                    c,
                    f"column {c} ignored: it is empty, and no instrument in the data has that "
                    f"item ({names or 'no instrument'})",
                    "Remove the column, or map it to the right item.",
                    "note",
                )
            self._release(c)
        return found

    def _extra_items(self, extra: list, codes, specs) -> None:
        """Quarantine rows with a value in an item column their instrument does not have.

        Which total was meant is then ambiguous: a GAD-7 row with nine answers may be a PHQ-9
        under the wrong label, and an export numbered ``item_0`` ... ``item_8`` would be scored
        from the wrong items. (The PHQ-9's unscored difficulty question, when exported as
        ``item_10``, is best removed or left unmapped.)
        """
        for c, m, values in extra:
            vals = pd.Series(values.to_numpy(), index=np.flatnonzero(m))
            for code in np.unique(codes[m]):
                if code < 0:  # no known instrument: quarantined for that already
                    continue
                ins = specs[int(code)]
                sel = m & (codes == code)
                self.add(
                    sel,
                    c,
                    f"{c} given, but {ins.name} has {ins.n_items} items (item_1-item_{ins.n_items}), "
                    "so the total is ambiguous",
                    "Check the instrument, and map the item columns to item_1 ... item_n of the "
                    "instrument (or remove the extra column).",
                    values=vals.loc[np.flatnonzero(sel)],
                )

    def _max_missing(self, ins) -> int:
        mi = self.missing_items
        if isinstance(mi, dict):
            mi = mi.get(ins.name, "prorate")
        if mi == "prorate":
            return ins.max_missing
        if mi == "complete":
            return 0
        if isinstance(mi, (int, np.integer)) and not isinstance(mi, bool) and 0 <= mi < ins.n_items:
            return int(mi)
        raise ConfigError(
            "The 'missing_items' parameter of iop.load must be 'prorate', 'complete', an int in "
            f"0..{ins.n_items - 1} or a dict of those per instrument. Got {mi!r} instead."
        )

    def _duplicates(self, out: pd.DataFrame) -> None:
        """Duplicate administrations: same patient, episode, instrument and day.

        Rows are keyed on the assessment date when they have one, else on the
        timepoint, else on the week. A dated row's key includes its timepoint label
        when the file has one: ``week_4`` and ``discharge`` on the discharge day are
        two administrations. Rows of a day with the same label, or without one, are
        compared as before; a row without a label on a day with two or more
        different labels cannot be matched to either and is quarantined. Only
        totals are compared: an item-level row and a total-only row with the same
        total are one administration (the first is kept, as a repair; the others
        are quarantined); different totals are a conflict (all quarantined).
        """
        q = np.zeros(self.n, dtype=bool)
        for iss in self.issues:
            if iss.severity == "quarantine":
                q |= iss.mask
        live = ~q
        keyed = np.zeros(self.n, dtype=bool)
        for when, word in (
            ("assessment_date", "date"),
            ("timepoint", "timepoint"),
            ("week", "week"),
        ):
            if when not in out:
                continue
            m = live & ~keyed & out[when].notna().to_numpy()
            keyed |= m
            m &= self.dup_candidates  # the others have no twin
            if m.sum() > 1:
                if when == "assessment_date" and "timepoint" in out:
                    label = self._day_labels(out, m)
                    m &= label > -2  # unlabelled rows of a day with several labels: quarantined
                    self._duplicates_on(out, m, when, "date, timepoint", label)
                else:
                    self._duplicates_on(out, m, when, word)

    def _day_labels(self, out: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """Timepoint label codes (``-1`` none) of dated ``rows`` for the duplicate key.

        A row without a label takes its day's label when the day's other rows (same episode,
        instrument and date) agree on one, so it is compared with them as before; on a day with
        two or more different labels it could repeat either and is quarantined here (code -2).
        """
        label = np.full(self.n, -1, dtype=np.int64)
        pos = np.nonzero(rows)[0]
        lab = out["timepoint"].cat.codes.to_numpy()[pos].astype(np.int64)
        _, day = self._repeated(out, rows, "assessment_date")
        g = pd.DataFrame({"day": day, "lab": lab})
        known = g[g["lab"] >= 0].groupby("day")["lab"]
        n_lab = g["day"].map(known.nunique()).fillna(0).to_numpy()
        only = g["day"].map(known.min()).fillna(-1).to_numpy().astype(np.int64)
        blank = lab < 0
        lab = np.where(blank & (n_lab == 1), only, lab)
        ambiguous = blank & (n_lab > 1)
        label[pos] = np.where(ambiguous, -2, lab)
        if ambiguous.any():
            cats = np.asarray(out["timepoint"].cat.categories, dtype=object)
            day_labels = known.unique().map(lambda c: ", ".join(sorted(cats[list(c)])))
            m = np.zeros(self.n, dtype=bool)
            m[pos[ambiguous]] = True
            self.add(
                m,
                "timepoint",
                "no timepoint on a day with differently labelled administrations of the same "
                "patient, episode and instrument ({value}): it cannot be told which it repeats",
                "Give the row its timepoint label, or delete it if it repeats one of them.",
                values=pd.Series(
                    g["day"].map(day_labels).to_numpy()[ambiguous],
                    index=out.index[pos[ambiguous]],
                ),
            )
        return label

    def _repeated(self, out: pd.DataFrame, rows: np.ndarray, when: str, label=None):
        """For ``rows``: whether its (episode, instrument, ``when``) key occurs more than once
        among them, and the integer keys. ``label`` (codes for every row, -1 none) adds the
        timepoint label to the key.

        Episode ids are unique across patients by now (:meth:`_episode_ids`), so the episode
        stands for (patient, episode). The column codes are combined arithmetically into one
        integer (cheaper than hashing rows of text) and repeats found by sorting (files are
        usually grouped by episode, so the stable sort meets long sorted runs; a hash table of
        10^7 keys is slower).
        """
        rowkey, size = np.zeros(int(rows.sum()), dtype=np.int64), 1
        for c in ("episode_id", "instrument", when, *(() if label is None else ("label",))):
            if c == "episode_id" and self.episode_codes is not None:  # known from _episode_ids
                codes, n_c = self.episode_codes[rows].astype(np.int64), self.episode_codes.max() + 1
            elif c == "label":
                codes, n_c = label[rows], int(label.max()) + 1
            else:
                codes, n_c = _key_codes(out[c], rows)
            if size * (n_c + 1) >= 2**62:  # renumber densely before the product overflows
                rowkey, uniq = pd.factorize(rowkey)
                size = len(uniq)
            rowkey = rowkey * (n_c + 1) + (codes + 1)
            size *= n_c + 1
        order = np.argsort(rowkey, kind="stable")
        same = rowkey[order[1:]] == rowkey[order[:-1]]
        repeated = np.zeros(len(rowkey), dtype=bool)
        repeated[order[1:][same]] = True
        repeated[order[:-1][same]] = True
        return repeated, rowkey

    def _keep_duplicate_candidates(self, out: pd.DataFrame) -> None:
        """Keep the source values of the rows that may be duplicate administrations.

        A row is a candidate when another row shares its episode, instrument and day (else
        timepoint, else week), whatever else is wrong with either: a superset of the rows
        :meth:`_duplicates` compares later. Only their source values are kept, so the input
        columns can be released as they are converted (peak memory on large files).
        """
        cand = np.zeros(self.n, dtype=bool)
        unkeyed = np.ones(self.n, dtype=bool)
        keys = out
        if self.harmonize is not None:  # a PHQ-9 may become a PHQ-8: compare them as one
            keys = {
                c: out[c]
                for c in ("episode_id", "assessment_date", "timepoint", "week")
                if c in out
            } | {"instrument": _merged_forms(out["instrument"], self.harmonize)}
        for when in ("assessment_date", "timepoint", "week"):
            if when not in out:
                continue
            m = unkeyed & out[when].notna().to_numpy()
            unkeyed &= ~m
            if m.sum() > 1:
                cand[np.nonzero(m)[0][self._repeated(keys, m, when)[0]]] = True
        self.dup_candidates = cand
        self.dup_source = self.df.iloc[np.nonzero(cand)[0]].copy()

    def _release(self, *columns: str) -> None:
        """Drop converted input columns (their values live on in the output and the issues)."""
        for c in columns:
            if c in self.df.columns:
                del self.df[c]

    def _duplicates_on(
        self, out: pd.DataFrame, live: np.ndarray, when: str, word: str, label=None
    ) -> None:
        dup_any, rowkey = self._repeated(out, live, when, label)
        *head, last = ["patient", "episode", "instrument", *word.split(", ")]
        same_key = f"{', '.join(head)} and {last}"  # e.g. "..., instrument, date and timepoint"
        if not dup_any.any():
            return
        pos = np.nonzero(live)[0][dup_any]
        gid = pd.factorize(rowkey[dup_any])[0]
        tot = out["total"].to_numpy(dtype=float, na_value=np.nan)[pos]
        frame = pd.DataFrame({"gid": gid, "tot": np.where(np.isnan(tot), -1.0, tot)})
        conflicting = (frame.groupby("gid")["tot"].transform("nunique") > 1).to_numpy()
        first_row = frame.groupby("gid").cumcount().to_numpy() == 0
        firsts = pd.Series(pos[first_row], index=gid[first_row])
        ref = firsts.reindex(gid).to_numpy().astype(np.int64)  # position of each group's first
        # identical in every source column (not just the total)?
        raw = self.dup_source.loc[pos].astype("str").fillna("\x00")
        sig = pd.util.hash_pandas_object(raw, index=False).to_numpy()
        sig_first = pd.Series(sig[first_row], index=gid[first_row]).reindex(gid).to_numpy()
        identical = sig == sig_first
        others = _joined_by_group(pos + 1, gid)
        m = np.zeros(self.n, dtype=bool)
        m[pos[conflicting]] = True
        self.add(
            m,
            "total",
            f"conflicting duplicate administrations: same {same_key} with different totals "
            "(rows {value})",
            "Keep the correct administration and delete the other(s).",
            values=pd.Series(others[conflicting], index=out.index[pos[conflicting]]),
        )
        copy = ~conflicting & ~first_row
        for same, reason, fix in (
            (identical, "exact duplicate of row {value}", "Delete the repeated row."),
            (
                ~identical,
                f"duplicate administration (same patient, episode, instrument, {word} and total) "
                "of row {value}",
                "Delete the repeated administration (or correct its date if it is another one).",
            ),
        ):
            sel = copy & same
            m2 = np.zeros(self.n, dtype=bool)
            m2[pos[sel]] = True
            self.add(
                m2,
                "*",
                reason,
                fix,
                values=pd.Series((ref[sel] + 1).astype(str), index=out.index[pos[sel]]),
            )
        m3 = np.zeros(self.n, dtype=bool)
        m3[pos[~conflicting & first_row]] = True
        self.add(m3, "*", "kept the first of duplicate administrations", "", "repair")


def _harmonize_option(value):
    """The short form named by ``harmonize=`` (an Instrument with ``subset_of``), or None."""
    if value is None:
        return None
    name = _inst.canonical_name(value) if isinstance(value, str) else None
    if name is None or _inst.get(name).subset_of is None:
        forms = [n for n in _inst.names() if _inst.get(n).subset_of]
        raise ConfigError(
            f"The 'harmonize' parameter of iop.load must be {' or '.join(map(repr, forms))} (a "
            "short form scored from the items of a longer instrument) or None. Got "
            f"{value!r} instead."
        )
    return _inst.get(name)


def _span(items) -> str:
    """``(1, 2, ..., 8)`` as ``'1-8'``; other item lists as ``'1, 3, 5'``."""
    items = list(items)
    if items == list(range(items[0], items[-1] + 1)):
        return f"{items[0]}-{items[-1]}"
    return ", ".join(map(str, items))


def _missing_item(short) -> str:
    """The longer form's items that the short form leaves out (``'9'`` for the PHQ-8)."""
    n_long = _inst.get(short.subset_of).n_items
    return ", ".join(str(i) for i in range(1, n_long + 1) if i not in short.subset_items)


def _merged_forms(inst: pd.Series, short) -> pd.Series:
    """The instrument column with the longer form read as the short form (duplicate keys)."""
    cats = list(inst.cat.categories)
    if short.subset_of not in cats:
        return inst
    if short.name not in cats:
        cats.append(short.name)
    remap = np.arange(len(cats) + 1, dtype=np.int32)
    remap[cats.index(short.subset_of)] = cats.index(short.name)
    remap[-1] = -1
    codes = inst.cat.codes.to_numpy()
    return pd.Series(
        pd.Categorical.from_codes(remap[codes], categories=pd.Index(cats, dtype="str")),
        index=inst.index,
    )


def _combination_texts(mask: np.ndarray, fmt, *arrays) -> pd.Series:
    """``fmt(*values)`` for the masked rows, called once per distinct combination of values."""
    cols = [np.asarray(x)[mask] for x in arrays]
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for col in cols:
        c, u = pd.factorize(col, use_na_sentinel=False)
        key = key * len(u) + c
    inv = pd.factorize(key)[0]
    first = np.unique(inv, return_index=True)[1]
    utxt = np.array([fmt(*(col[i] for col in cols)) for i in first], dtype=object)
    return pd.Series(utxt[inv], index=np.flatnonzero(mask))


def _joined_by_group(values: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """For each element, ``", ".join`` of the values of its group (``gid`` = 0..k-1), in the
    order they appear. Vectorized per group size (a file of duplicated rows has millions of
    groups; a Python call per group took minutes)."""
    order = np.argsort(gid, kind="stable")
    g = gid[order]
    text = np.asarray(values).astype(str)[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    joined = np.empty(int(g.max()) + 1 if len(g) else 0, dtype=object)
    for k in np.unique(sizes):
        first = starts[sizes == k]
        acc = text[first]
        for i in range(1, k):
            acc = np.char.add(np.char.add(acc, ", "), text[first + i])
        joined[g[first]] = acc
    return joined[gid]


def _key_codes(s: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes ``0 .. n-1`` of ``s[rows]`` (-1 missing) and ``n``, equal codes for equal
    values: day numbers for dates, category codes for labels, factorized otherwise."""
    if pd.api.types.is_datetime64_any_dtype(s):
        days = s.to_numpy()[rows].astype("datetime64[D]").view(np.int64)
        nat = np.isnat(s.to_numpy()[rows])
        if nat.all():
            return np.full(len(days), -1, dtype=np.int64), 0
        lo, hi = days[~nat].min(), days[~nat].max()
        return np.where(nat, -1, days - lo), int(hi - lo + 1)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy()[rows].astype(np.int64), len(s.cat.categories)
    codes, uniq = factorize(s.iloc[np.nonzero(rows)[0]] if not rows.all() else s)
    return codes.astype(np.int64), len(uniq)


#: Rows per block where large arrays are processed blockwise (temporaries stay small, so no
#: fresh memory pages are touched for each of them on 10^7-row files).
_BLOCK_ROWS = 1 << 20

#: How a total was produced (``scoring_rule``), in category order.
RULES = ["items_complete", "prorated", "total_given"]


def _nullable(x: np.ndarray, dtype) -> pd.arrays.IntegerArray:
    """Whole numbers held as floats (NaN = missing) as a pandas nullable integer array."""
    na = np.isnan(x)
    return pd.arrays.IntegerArray(np.where(na, 0, x).astype(dtype), na)


def _severity(inst: pd.Series, total: pd.Series) -> pd.Series:
    labels: list[str] = []
    for name in _inst.names():
        for lab in _inst.get(name).band_labels:
            if lab not in labels:
                labels.append(lab)
    codes = np.full(len(total), -1, dtype=np.int16)
    t = total.to_numpy(dtype=float, na_value=np.nan)
    inst = inst.astype("category")
    inst_codes = inst.cat.codes.to_numpy()
    for code, name in enumerate(inst.cat.categories):
        ins = _inst.get(name)
        rows = (inst_codes == code) & ~np.isnan(t)
        if rows.any():
            his = np.array([hi for _, hi, _ in ins.bands], dtype=float)
            band = np.searchsorted(
                his, t[rows], side="left"
            )  # first band whose upper bound >= total
            gl = np.array([labels.index(b) for b in ins.band_labels] + [-1], dtype=np.int16)
            codes[np.nonzero(rows)[0]] = gl[np.minimum(band, len(his))]
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels), index=total.index)


def _classify(s: pd.Series, func):
    """Classify each distinct value once: ``func(v) -> (kind, canonical)``.

    Kinds: ``ok`` (as given), ``repair`` (a built-in synonym), ``mapped`` (the user's
    ``[values.<column>]``: declared, not a repair), ``bad``.

    Returns per-row ``kind`` ("na" for missing), the canonical values as a
    categorical, and ``texts(mask)``: the "'raw' read as 'canonical'" texts of
    the masked rows, all taken from the distinct values, so 10^7 rows cost no
    more than their few labels.
    """
    codes, uniques = factorize(s)
    res = [func(u) for u in uniques]
    kind_names = ["ok", "repair", "bad", "na", "mapped"]  # a categorical: one byte per row
    kinds_u = np.array([kind_names.index(r[0]) for r in res] + [3], dtype=np.int8)
    vals_u = [r[1] for r in res]
    cats = pd.Index(list(dict.fromkeys(v for v in vals_u if v is not None)), dtype="str")
    pos = {v: i for i, v in enumerate(cats)}
    vcode_u = np.array([pos.get(v, -1) for v in vals_u] + [-1], dtype=np.int32)
    text_u = np.array(
        [f"{u!r} read as {v!r}" for u, v in zip(uniques, vals_u, strict=True)] + [""], dtype=object
    )
    c = np.where(codes >= 0, codes, len(res))

    def texts(mask: np.ndarray) -> np.ndarray:
        return text_u[c[mask]]

    kind = pd.Categorical.from_codes(kinds_u[c], categories=kind_names)
    return kind, pd.Categorical.from_codes(vcode_u[c], categories=cats), texts


#: Day/month orders tried for non-ISO dates, in this order (one per column).
DATE_FORMATS = ["%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%d.%m.%Y"]
_SWAPPED = {
    "%m/%d/%Y": "%d/%m/%Y",
    "%d/%m/%Y": "%m/%d/%Y",
    "%m/%d/%y": "%d/%m/%y",
    "%d/%m/%y": "%m/%d/%y",
}
_FMT_WORDS = {
    "%m/%d/%Y": "month/day/year",
    "%d/%m/%Y": "day/month/year",
    "%m/%d/%y": "month/day/two-digit year",
    "%d/%m/%y": "day/month/two-digit year",
    "%d.%m.%Y": "day.month.year",
}
_FMT_EXAMPLE = {
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%y": "MM/DD/YY",
    "%d/%m/%y": "DD/MM/YY",
    "%d.%m.%Y": "DD.MM.YYYY",
}


def _parse_with(tok: pd.Series, fmt: str, guard: bool) -> pd.Series:
    """Parse text with one format (NaT where it does not fit); ``guard`` checks the year width."""
    got = pd.to_datetime(tok, format=fmt, errors="coerce")
    if getattr(got.dt, "tz", None) is not None:
        got = got.dt.tz_localize(None)
    if guard:
        width = tok.str.extract(r"[/.\-](\d+)$", expand=False).str.len()
        want = 4 if "%Y" in fmt else 2
        got = got.where((width == want).to_numpy())
    return got


def _to_days(x: pd.Series) -> np.ndarray:
    """Datetimes (tz-naive) as days (``datetime64[ns]``); days outside 1677-09-22 ..
    2262-04-11, the range the analyses can hold (e.g. a ``9999-12-31`` "open" sentinel), are
    NaT."""
    days = x.to_numpy().astype("datetime64[D]")  # floors to the day
    ok = (days >= _FIRST_DAY) & (days <= _LAST_DAY)
    return np.where(ok, days, np.datetime64("NaT", "D")).astype("datetime64[ns]")


_FIRST_DAY, _LAST_DAY = np.datetime64("1677-09-22"), np.datetime64("2262-04-11")


def _day_of(v) -> np.datetime64:
    """A date/datetime/Timestamp object as its (local) day; anything else NaT."""
    import datetime as _dt

    if isinstance(v, (_dt.date, np.datetime64, pd.Timestamp)) and not _isna(v):
        t = pd.Timestamp(v)
        if t.tzinfo is not None:
            t = t.tz_localize(None)
        if pd.Timestamp.min <= t <= pd.Timestamp.max:
            return np.datetime64(t.normalize().as_unit("ns"))
    return np.datetime64("NaT", "ns")


def _pair_text(ac, au, bc, bu, ok) -> pd.Series:
    """``f"{a}|{b}"`` for factorized codes, built once per distinct pair (NA where not ``ok``)."""
    nb = max(len(bu), 1)
    pair = ac.astype(np.int64) * nb + bc.astype(np.int64)
    codes, uniq = pd.factorize(pair[ok])
    texts = np.array([f"{au[v // nb]}|{bu[v % nb]}" for v in uniq], dtype=object)
    full = np.full(len(ac), -1, dtype=np.int64)
    full[ok] = codes
    vals = np.append(texts, None)[np.where(full >= 0, full, len(texts))]
    return pd.Series(vals, dtype="str")


def _day_text(dates: pd.Series, mask) -> pd.Series:
    return dates[np.asarray(mask, dtype=bool)].dt.strftime("%Y-%m-%d")


class _Cats:
    """Accumulates a categorical column piece by piece (scalars or arrays) as integer codes."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.codes: list[np.ndarray] = []

    def _id(self, v: str) -> int:
        return self.index.setdefault(v, len(self.index))

    def scalar(self, v: str, n: int) -> None:
        self.codes.append(np.full(n, self._id(v), dtype=np.int32))

    def array(self, a: np.ndarray) -> None:
        c, uniq = pd.factorize(pd.Series(a, dtype=object), use_na_sentinel=False)
        ids = np.array([self._id(str(u)) for u in uniq], dtype=np.int32)
        self.codes.append(ids[c] if len(c) else np.zeros(0, dtype=np.int32))

    def build(self, order: np.ndarray) -> pd.Categorical:
        codes = np.concatenate(self.codes) if self.codes else np.zeros(0, dtype=np.int32)
        return pd.Categorical.from_codes(
            codes[order], categories=pd.Index(list(self.index), dtype="str")
        )


_PROBLEM_TEXT = ["source", "column", "value", "severity", "reason", "check", "fix"]


def _problems_frame(issues: list[_Issue], source: str, rows: np.ndarray, origin) -> pd.DataFrame:
    """One row per (row, problem), sorted by row then check order; text columns categorical.

    Built from codes: an issue flagging every row of a large file costs integer
    arrays, not millions of Python strings.
    """
    cats = {c: _Cats() for c in _PROBLEM_TEXT}
    pos_l, order_l, row_l = [], [], []
    source_column = None
    for order, iss in enumerate(issues):
        pos = np.nonzero(iss.mask)[0]
        n = len(pos)
        if n == 0:
            continue
        if iss.values is not None:
            v = iss.values  # one value per flagged row (add() subsets full-length columns)
            vals = (
                v.to_numpy(dtype=object) if len(v) == n else v.reindex(pos).to_numpy(dtype=object)
            )
            codes, uniq = factorize(pd.Series(vals, dtype=object))
            utxt = np.array([str(u) for u in uniq] + [""], dtype=object)
            vtxt = utxt[np.where(codes >= 0, codes, len(uniq))]
            cats["value"].array(vtxt)
            if "{value" in iss.reason:
                cats["reason"].array(
                    np.array([_fill(iss.reason, u) for u in utxt])[
                        np.where(codes >= 0, codes, len(uniq))
                    ]
                )
            else:
                cats["reason"].scalar(iss.reason, n)
        else:
            cats["value"].scalar("", n)
            cats["reason"].scalar(_fill(iss.reason, ""), n)
        if origin is not None and iss.column in ("total", "*"):
            if source_column is None:  # converted once, not per issue (10^6 texts each time)
                source_column = origin["source_column"].to_numpy(dtype=object)
            cats["column"].array(source_column[pos])
        else:
            cats["column"].scalar(iss.column, n)
        for c, val in (
            ("source", source),
            ("severity", iss.severity),
            ("check", _fill(iss.reason, "…")),
            ("fix", iss.fix),
        ):
            cats[c].scalar(val, n)
        pos_l.append(pos)
        order_l.append(np.full(n, order, dtype=np.int64))
        row_l.append(np.asarray(rows)[pos])
    for iss in issues:  # file-level warnings and notes have no rows
        if iss.severity in ("warning", "note") and not iss.mask.any():
            for c, val in (
                ("source", source),
                ("column", iss.column),
                ("value", ""),
                ("severity", iss.severity),
                ("reason", iss.reason),
                ("check", iss.reason),
                ("fix", iss.fix),
            ):
                cats[c].scalar(val, 1)
            pos_l.append(np.array([-1]))
            order_l.append(np.array([-1]))
            row_l.append(np.array([0]))
    cat = lambda a: np.concatenate(a).astype(np.int64) if a else np.zeros(0, np.int64)  # noqa: E731
    pos, order_, row = cat(pos_l), cat(order_l), cat(row_l)
    srt = np.lexsort((order_, pos))
    frame = {"_pos": pos[srt], "_order": order_[srt]}
    for c in ("source", "row", "column", "value", "severity", "reason", "check", "fix"):
        frame[c] = row[srt] if c == "row" else cats[c].build(srt)
    return pd.DataFrame(frame)


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _fill(template: str, value: str) -> str:
    return template.replace("{value!r}", repr(value)).replace("{value}", value)


def _ledger(problems: pd.DataFrame, source: str, rows, disposition, quarantine) -> pd.DataFrame:
    """One row per input row; built from the problems' category codes (no per-row strings)."""
    n = len(disposition)
    p = problems[problems["_pos"] >= 0]
    pos = p["_pos"].to_numpy()
    sev = p["severity"].astype("str").to_numpy(dtype=object) if len(p) else np.array([])
    # quarantined rows: their quarantine reasons; repaired rows: their repairs
    relevant = np.where(quarantine[pos], sev == "quarantine", sev == "repair") if len(p) else []
    p = p.loc[np.asarray(relevant, dtype=bool)] if len(p) else p
    pos = p["_pos"].to_numpy()
    first = np.ones(len(pos), dtype=bool)
    first[1:] = pos[1:] != pos[:-1]  # problems are sorted by row

    def per_row(col: str) -> pd.Categorical:
        c = p[col].cat if len(p) else None
        codes = np.full(n, -1, dtype=np.int32)
        if c is None:
            return pd.Categorical.from_codes(codes, categories=pd.Index([], dtype="str"))
        codes[pos[first]] = c.codes.to_numpy()[first]
        return pd.Categorical.from_codes(codes, categories=c.categories)

    reason = per_row("reason")
    if len(pos) and not first.all():  # rows with several reasons: "a; b", per distinct combination
        rc = p["reason"].cat.codes.to_numpy().astype(np.int64)
        rcats = np.asarray(p["reason"].cat.categories, dtype=object)
        grp = np.cumsum(first) - 1  # the row (group) of each problem
        starts = np.nonzero(first)[0]
        level = np.arange(len(pos)) - starts[grp]
        ng, width = len(starts), len(rcats) + 1
        key = rc[first].copy()
        for lev in range(1, int(level.max()) + 1):
            sel = level == lev
            ext = np.full(ng, width - 1, dtype=np.int64)
            ext[grp[sel]] = rc[sel]
            key = pd.factorize(key * width + ext)[0].astype(np.int64)
        ukey, rep = np.unique(key, return_index=True)
        ends = np.append(starts[1:], len(pos))
        texts = ["; ".join(rcats[rc[starts[g] : ends[g]]]) for g in rep]
        codes = np.full(n, -1, dtype=np.int32)
        codes[pos[first]] = np.searchsorted(ukey, key)
        tcodes, tcats = pd.factorize(pd.Series(texts, dtype=object))
        codes[pos[first]] = tcodes[codes[pos[first]]]
        reason = pd.Categorical.from_codes(codes, categories=pd.Index(tcats, dtype="str"))
    return pd.DataFrame(
        {
            "source": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[source]),
            "row": rows,
            "disposition": pd.Categorical.from_codes(disposition, categories=DISPOSITIONS),
            "reason": reason,
            "check": per_row("check"),
            "column": per_row("column"),
            "value": per_row("value"),
        }
    )


def _strict_message(problems: pd.DataFrame, source: str, n: int, n_quarantined: int) -> str:
    p = problems[~problems["severity"].isin(["repair", "note"])]
    lines = [
        f"{source}: {len(p):,} problem(s) in {n:,} rows ({n_quarantined:,} rows would be quarantined). "
        "Fix them, or load with strict=False to keep the valid rows and see the rest in result.ledger:"
    ]
    for r in p.head(MAX_LISTED).itertuples(index=False):
        where = f"row {r.row}" if r.row else "file"
        fix = f" -> {r.fix}" if r.fix else ""
        lines.append(f"  {source}, {where}, column {r.column}: {r.reason}{fix}")
    if len(p) > MAX_LISTED:
        lines.append(
            f"  ... and {len(p) - MAX_LISTED:,} more (see the error's .problems DataFrame)."
        )
    return "\n".join(lines)


def _path_name(source) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else "<DataFrame>"
