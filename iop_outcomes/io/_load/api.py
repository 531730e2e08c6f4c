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

import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..._dask import is_dask as _is_dask
from ..._validation import Interval, Options, validate_params
from ...exceptions import ConfigError, IOPWarning, LoadError
from .. import sql as _sql
from .._names import normalize_name
from ..fhir import read_fhir
from ..mapping import Mapping, read_mapping, wide_to_long
from ..readers import read_source
from ..redcap import redcap_to_long
from ..visits import applies as _visit_rows
from ..visits import name_item_columns, visits_to_long
from .convert import ID_COLUMNS, decimal_commas, decimal_option, id_codes
from .join import join_episodes
from .ledger import build_ledger, problems_frame, strict_message
from .result import LoadResult
from .score import harmonize_option, span
from .validate import Validator

__all__ = ["load", "LoadResult"]


@validate_params(
    {
        # checked inside, each with its own message (the reader, _source_kind,
        # the REDCap reader, the episodes reader, harmonize_option, the readers'
        # skip_rows check)
        "data": ["no_validation"],
        "source": ["no_validation"],
        "dictionary": ["no_validation"],
        "mapping": [dict, str, Path, Mapping, None],
        "episodes": ["no_validation"],
        "harmonize": ["no_validation"],
        "skip_rows": ["no_validation"],
        "strict": ["boolean"],
        "wide": ["boolean"],
        "missing_items": [
            Options("prorate", "complete"),
            Interval(int, 0, None, closed="left"),
            dict,
        ],
        "sheet": [str, Interval(int, 0, None, closed="left"), None],
        "name": [str, None],
        "table": [str, None],
        "query": [str, None],
        "engine": [Options("pandas", "dask")],
    }
)
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
    engine: str = "pandas",
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
    engine : {"pandas", "dask"}
        ``"dask"`` (implied by a Dask DataFrame as ``data``): ``data`` is a directory or glob
        of Parquet/CSV files (a partitioned Parquet dataset included) or a Dask DataFrame,
        shuffled by patient and loaded partition by partition with this same pipeline; the
        result holds lazy Dask DataFrames and a per-partition count that checks the ledger
        invariant. See :mod:`iop_outcomes._dask.load` and ``docs/scale.md``
        (``pip install "iop-outcomes[dask]"``).

    Returns
    -------
    LoadResult

    Raises
    ------
    LoadError
        When the input cannot be read (including a file with a header but no rows), or with
        ``strict=True`` when any row would be quarantined or a file-level warning applies.
    ConfigError
        When a parameter or the mapping is invalid.

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
    if engine == "dask" or _is_dask(data):  # the Dask path: this pipeline per partition
        return _load_dask(data, locals())
    sql = _sql.wanted(data, source, table, query)  # a database URL: io/sql.py reads it
    kind = _source_kind(None if sql and source == "sql" else source, dictionary, wide)
    short_form = harmonize_option(harmonize)
    mp = read_mapping(mapping)
    decimal = decimal_option(mp)
    reader = partial(_sql.read_sql, table=table, query=query) if sql else None
    raw = _read(
        data, reader, kind, mp, wide or kind or episodes is not None, sheet, name, skip_rows
    )
    df, origin, notes = _long_rows(raw, kind, mp, dictionary, wide)
    df, comma_cols, findings = _with_episodes(df, raw, mp, episodes, decimal)
    n = len(df)
    renamed = {k: c for k, c in mp.renamed(raw.frame.columns).items() if normalize_name(c) != k}
    source, sha256 = raw.name, raw.sha256
    del raw  # only df holds the input from here (columns replaced during checks can be freed)
    v = Validator(df, source, mp, missing_items, renamed, harmonize=short_form)
    del df  # the validator releases input columns as it converts them (peak memory)
    _mapping_findings(v, findings, origin if kind else None)
    clean = v.run()
    _file_notes(v, origin, notes, comma_cols, decimal, short_form)
    data, ledger, problems, quarantine = _outcome(v, clean, origin, source, n)
    del clean
    id_codes(data)
    file_level = [i for i in v.issues if i.severity == "warning"]
    if strict and (quarantine.any() or file_level):
        raise LoadError(strict_message(problems, source, n, int(quarantine.sum())), problems)
    if quarantine.any() or file_level:
        msg = f"{source}: {int(quarantine.sum()):,} of {n:,} rows quarantined"
        if file_level:
            msg += "; " + "; ".join(i.reason for i in file_level)
        # stacklevel 3: the caller of iop.load (validate_params' wrapper is between)
        warnings.warn(msg + ". See result.ledger / result.summary().", IOPWarning, stacklevel=3)
    return LoadResult(data, ledger, problems, source, sha256, v.settings)


def _load_dask(data, args: dict) -> LoadResult:
    """``load`` on Dask (:mod:`iop_outcomes._dask.load`); Dask is imported only here."""
    from ..._dask.load import load_dask

    keep = ("mapping", "strict", "missing_items", "harmonize", "sheet", "skip_rows", "name")
    refuse = ("source", "dictionary", "episodes", "wide", "table", "query")
    return load_dask(
        data,
        options={k: args[k] for k in keep},
        unsupported={k: args[k] for k in refuse},
        steps={"load": load, "read": _read, "visit_rows": _visit_rows, "result": LoadResult},
    )


def _read(data, reader, kind, mp, open_columns, sheet, name, skip_rows):
    """The input read by its reader (SQL, FHIR or a table); ``open_columns``: the required
    columns are not checked on the header (wide sheets, exports, an episodes table to join)."""
    if reader is None:  # FHIR is JSON: io/fhir.py reads it
        reader = read_fhir if kind == "fhir" else read_source
    if open_columns:
        missing = None
    elif _visit_rows(mp):
        missing = _visit_columns_missing(mp)
    else:

        def missing(header):
            return _missing_required([mp.target(c) for c in header])

    return reader(
        data,
        sheet=sheet,
        name=name,
        skip_rows=skip_rows,
        text_columns=lambda header: [c for c in header if kind or mp.target(c) in ID_COLUMNS],
        whole_numbers=lambda header: [c for c in header if mp.target(c).startswith("item_")],
        missing_columns=missing,
    )


def _long_rows(raw, kind, mp, dictionary, wide):
    """The input as one row per administration in the contract's columns: ``(frame, origin,
    notes)``; ``origin`` (``None`` for a table in the contract's layout) gives each row's
    source row and column (REDCap, FHIR, wide and visit rows)."""
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
    return df, origin, notes


def _with_episodes(df, raw, mp, episodes, decimal):
    """Decimal commas read, the episodes table joined, the required columns checked:
    ``(frame, columns whose decimal commas were read, the mapping's findings)``."""
    seen, where = list(raw.frame.columns), raw.name
    df, comma_cols = decimal_commas(df, decimal, raw.delimiter)
    if episodes is not None:
        df, ep_columns, ep_comma = join_episodes(df, episodes, mp, decimal)
        seen, where = seen + ep_columns, f"{raw.name} or the episodes table"
        comma_cols += [c for c in ep_comma if c not in comma_cols]
    df = df.reset_index(drop=True)
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
    return df, comma_cols, findings


def _mapping_findings(v: Validator, findings, export_origin) -> None:
    """The mapping's findings as file-level problems, and an export's own quarantines (e.g. a
    REDCap form marked incomplete), recorded before the row checks."""
    for severity, column, target, reason, fix in findings:
        if severity == "warning" and target in v.columns:  # nothing lost: a note
            severity, reason, fix = "note", f"{reason}; {target} is read from another column", ""
        v.warn_file(column, reason, fix, severity, yours=False)
    quarantine = () if export_origin is None else export_origin.attrs.get("quarantine", ())
    for mask, column, reason, fix, values in quarantine:
        v.add(mask, column, reason, fix, values=values)


def _file_notes(v: Validator, origin, notes, comma_cols, decimal, short_form) -> None:
    """The file-level notes recorded after the row checks (harmonisation left undone, the
    reader's notes, decimal commas, wide rows without scores)."""
    if v.unharmonised is not None and len(v.unharmonised[0]):
        pos, n_total_only, n_missing = v.unharmonised
        at = origin["source_row"].to_numpy()[pos] if origin is not None else pos + 1
        shown = ", ".join(str(r) for r in at[:5]) + (", ..." if len(at) > 5 else "")
        sf = short_form
        v.warn_file(
            "instrument",
            f"harmonize={sf.name!r}: {len(pos):,} {sf.subset_of} administration(s) stay "
            f"{sf.subset_of} ({n_total_only:,} given as a total only, {n_missing:,} with more "
            f"than {v.settings['max_missing'][sf.name]} of items {span(sf.subset_items)} "
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


def _outcome(v: Validator, clean: pd.DataFrame, origin, source: str, n: int):
    """Each row's disposition, the problems, the ledger (its invariant checked) and the
    loaded rows: ``(data, ledger, problems, quarantined rows)``. ``clean`` is emptied."""
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
    problems = name_item_columns(problems_frame(v.issues, source, rows, origin), origin)
    ledger = build_ledger(problems, source, rows, disposition, quarantine)
    if origin is not None:  # wide input: each ledger row is one score cell of the wide file
        ledger["column"] = pd.Categorical(origin["source_column"].to_numpy())
    counts = np.bincount(disposition, minlength=3)
    if counts.sum() != n or len(ledger) != n:  # the ledger invariant
        raise AssertionError(f"internal error: ledger accounts for {counts.sum()} of {n} rows")

    del v.df, v.dup_source  # free the rest of the input before the output is built
    data = _drop_rows(clean, quarantine)
    data["source_row"] = rows[~quarantine]
    return data, ledger, problems, quarantine


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
