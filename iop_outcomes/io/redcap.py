"""REDCap exports: records by events (and repeating instruments) to one row per administration.

A REDCap export (raw codes or labels, with the variable names as headers) has one row per
record and event (``redcap_event_name``: ``baseline_arm_1``, ``week_4_arm_1`` ...) and, for a
repeating instrument, one row per instance (``redcap_repeat_instrument``,
``redcap_repeat_instance``). :func:`redcap_to_long` turns it into the long format of the data
contract (``docs/data-format.md``, "REDCap exports"):

* ``record_id`` (else the first column) is the ``patient_id`` (kept as text);
  ``redcap_event_name`` is the ``timepoint`` (``_arm_N`` is dropped when read); a repeating
  instrument's row keeps its event as timepoint only when the event is a known timepoint (a
  ``weekly_arm_1`` event leaves the timepoint empty and the form's date decides);
* each instrument form (PHQ-9, GAD-7, ... : the data dictionary's Form Name, else the field
  names ``phq9_1`` ... ``phq9_9``; ``[values.instrument]`` in the mapping names a form of your
  own, e.g. ``weekly_mood = "PHQ-9"``) gives **one administration per export row that has any
  of its fields**: its numbered fields are the items, a ``*date*`` field the assessment date, a
  ``*_total`` / ``*_score`` field the total;
* the other fields (age, site, format, admit_date ...) are carried through; a field with one
  value per record (entered once, e.g. on the baseline event) is filled down to all of the
  record's rows;
* with the data dictionary, choice codes are decoded: item answers given as labels (a label
  export) become their numeric codes, other radio / dropdown / yes-no fields become their
  labels, and checkbox columns ``field___code`` become one column ``field`` holding the checked
  labels (``"Asian; White"``);
* ``<form>_complete`` (0 incomplete, 1 unverified, 2 complete; or the label export's words) is
  dropped from the data; an administration whose form is marked **incomplete** (0) is
  quarantined by :func:`iop_outcomes.load` ("form marked incomplete in REDCap").

The origin of each administration (export row, form) is returned for the ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import instruments as _inst
from .._validation import validate_params
from ..exceptions import ConfigError, LoadError
from ._names import ARM_SUFFIX, name_key, normalize_name
from .mapping import normalize_timepoint
from .readers import NULL_VALUES

__all__ = ["Dictionary", "read_dictionary", "redcap_to_long"]

#: REDCap's own columns (not fields of the project).
EVENT, REPEAT_FORM, REPEAT_INSTANCE = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
)
#: Form status codes and the label export's words.
STATUS = {"0": 0, "incomplete": 0, "1": 1, "unverified": 1, "2": 2, "complete": 2}
_CHOICE_TYPES = ("radio", "dropdown", "checkbox")
_FIXED_CHOICES = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}
#: The data dictionary's columns: the CSV header (Online Designer download) or the API's names.
_DICT_COLUMNS = {
    "field": ("variable / field name", "field_name"),
    "form": ("form name", "form_name"),
    "type": ("field type", "field_type"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "label": ("field label", "field_label"),
}
#: The labels REDCap gives its own columns in an export with label headers.
_SYSTEM_LABELS = [
    (EVENT, "Event Name"),
    (REPEAT_FORM, "Repeat Instrument"),
    (REPEAT_INSTANCE, "Repeat Instance"),
    ("redcap_data_access_group", "Data Access Group"),
    ("redcap_survey_identifier", "Survey Identifier"),
]
_ITEM = re.compile(r"^(?P<stem>.*?)_?(?:q|item)?_?(?P<n>\d+)$")
_NULL = frozenset(NULL_VALUES)


@dataclass(frozen=True)
class Field:
    """One field of the data dictionary: its form, type and choices (code -> label)."""

    name: str
    form: str
    type: str
    choices: dict
    label: str = ""


@dataclass(frozen=True)
class Dictionary:
    """A REDCap data dictionary: the fields in their order, and the file it came from."""

    fields: dict
    source: str

    def forms(self) -> dict[str, list[str]]:
        """``{form: [field, ...]}`` in dictionary order."""
        out: dict[str, list[str]] = {}
        for f in self.fields.values():
            out.setdefault(f.form, []).append(f.name)
        return out


def parse_choices(text: str) -> dict[str, str]:
    """``"0, Not at all | 1, Several days"`` as ``{"0": "Not at all", "1": "Several days"}``.

    Examples
    --------
    >>> parse_choices("0, Not at all | 1, Several days|2,  More than half the days")
    {'0': 'Not at all', '1': 'Several days', '2': 'More than half the days'}
    """
    out = {}
    for part in str(text).split("|"):
        code, sep, label = part.partition(",")
        if sep and code.strip():
            out[code.strip()] = label.strip()
    return out


@validate_params(
    {"dictionary": ["no_validation"]}  # a path or DataFrame, checked as it is read
)
def read_dictionary(dictionary) -> Dictionary:
    """Read a REDCap data dictionary (CSV file, DataFrame or :class:`Dictionary`).

    The columns used are "Variable / Field Name", "Form Name", "Field Type" and "Choices,
    Calculations, OR Slider Labels" (or the API's ``field_name``, ``form_name``,
    ``field_type``, ``select_choices_or_calculations``).
    """
    if isinstance(dictionary, Dictionary):
        return dictionary
    if isinstance(dictionary, pd.DataFrame):
        frame, name = dictionary, "<DataFrame>"
    elif isinstance(dictionary, (str, Path)):
        path, name = Path(dictionary), Path(dictionary).name
        if not path.is_file():
            raise LoadError(
                f"REDCap data dictionary not found: {str(path)!r}. Download it from the project's "
                "Dictionary page (or the API's metadata export) and give its path."
            )
        frame = None
        for enc in ("utf-8-sig", "cp1252"):
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
                break
            except UnicodeDecodeError:
                continue
            except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
                raise LoadError(
                    f"Cannot read the REDCap data dictionary {name!r}: {exc}."
                ) from None
    else:
        raise ConfigError(
            "The 'dictionary' parameter of iop.load must be a CSV file path, a DataFrame or None. "
            f"Got {type(dictionary).__name__} instead."
        )
    lower = {str(c).strip().lower(): c for c in frame.columns}
    cols, missing = {}, []
    for key, names in _DICT_COLUMNS.items():
        found = [lower[n] for n in names if n in lower]
        if found:
            cols[key] = found[0]
        elif key not in ("choices", "label"):
            missing.append(repr(names[0].title()))
    if missing:
        raise LoadError(
            f"{name!r} is not a REDCap data dictionary: column(s) {', '.join(missing)} missing. "
            f"Columns found: {[str(c) for c in frame.columns]}."
        )
    fields = {}
    for rec in frame.astype(object).itertuples(index=False):
        row = dict(zip(frame.columns, rec, strict=True))
        fname = str(row[cols["field"]]).strip().lower()
        if not fname or fname == "nan":
            continue
        ftype = str(row[cols["type"]]).strip().lower()
        choices = {}
        if ftype in _CHOICE_TYPES and "choices" in cols:
            choices = parse_choices(row[cols["choices"]])
        elif ftype in _FIXED_CHOICES:
            choices = dict(_FIXED_CHOICES[ftype])
        form = str(row[cols["form"]]).strip().lower()
        label = str(row[cols["label"]]) if "label" in cols else ""
        fields[fname] = Field(fname, form, ftype, choices, label)
    if not fields:
        raise LoadError(f"The REDCap data dictionary {name!r} lists no fields.")
    return Dictionary(fields, name)


@dataclass
class _Form:
    name: str
    instrument: str  # the value given to the validator (canonical, or your form name)
    n_items: int
    items: dict  # item number -> column
    date: str | None = None
    total: str | None = None
    status: str | None = None


def _text(s: pd.Series) -> pd.Series:
    """A column as stripped text (object), ``None`` where missing; ``2.0`` is ``'2'``."""

    def f(v):
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, (float, np.floating)):
            if np.isnan(v):
                return None
            return str(int(v)) if float(v).is_integer() else repr(float(v))
        t = str(v).strip()
        return None if t in _NULL else t

    # Arrow text (how the reader gives an export's columns) is factorized as it is: through
    # object values, hashing 10^6 Python strings per column took most of the read
    text = pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s)
    codes, uniques = pd.factorize(s if text else s.astype(object), use_na_sentinel=True)
    texts = np.array([f(v) for v in uniques] + [None], dtype=object)  # converted once per value
    return pd.Series(texts[codes], index=s.index, dtype=object)


def _resolver(mp):
    """``name -> (value for the validator, canonical instrument)`` or ``None``: your
    ``[values.instrument]`` label first, then the registry's spellings."""
    user = mp.values.get("instrument", {}) if mp is not None else {}

    def resolve(name: str):
        if name_key(name) in user:
            canon = _inst.canonical_name(user[name_key(name)])
            return (name, canon) if canon else None
        canon = _inst.canonical_name(name)
        return (canon, canon) if canon else None

    return resolve


def _form_of_items(name, fields, resolve, columns, status, d=None) -> _Form | None:
    """An instrument form from its fields, or ``None`` when it is no instrument.

    Items are the numbered fields (``phq9_3``, ``phq3``, ``phq9_q3``: item 3); with the
    dictionary, a form without numbered fields takes its first k radio / dropdown fields in
    the dictionary's order when it has k or k + 1 of them (the PHQ-9's difficulty question).
    """
    got = resolve(name)
    if got is None:  # the form's name is no instrument: try its numbered fields' stem
        stems = [m.group("stem") for f in fields if (m := _ITEM.match(f))]
        for stem in dict.fromkeys(stems):
            got = resolve(stem)
            if got:
                break
    if got is None:
        return None
    value, canon = got
    n_items = _inst.get(canon).n_items
    items, date, total = {}, None, None
    for f in fields:
        if f not in columns:
            continue
        m = _ITEM.match(f)
        if m and 1 <= int(m.group("n")) <= n_items and int(m.group("n")) not in items:
            items[int(m.group("n"))] = f
        elif date is None and "date" in f:
            date = f
        elif total is None and re.search(r"(?:total|score|tot)$", f):
            total = f
    if not items and d is not None:
        choice = [f for f in fields if f in columns and d.fields[f].type in ("radio", "dropdown")]
        if n_items <= len(choice) <= n_items + 1:
            items = {j + 1: f for j, f in enumerate(choice[:n_items])}
    if not items and total is None:
        return None
    return _Form(name, value, n_items, items, date, total, status)


def _forms(columns: list[str], d: Dictionary | None, mp) -> list[_Form]:
    """The instrument forms of an export (by the dictionary's forms, else by field names)."""
    resolve = _resolver(mp)
    present = set(columns)
    out = []
    if d is not None:
        for form, fields in d.forms().items():
            status = f"{form}_complete" if f"{form}_complete" in present else None
            got = _form_of_items(form, fields, resolve, present, status, d)
            if got:
                if got.date is None and f"{form}_timestamp" in present:  # a survey's own date
                    got.date = f"{form}_timestamp"
                out.append(got)
        return out
    stems: dict[str, list[str]] = {}
    for c in columns:
        m = _ITEM.match(c)
        if m and "___" not in c:
            stems.setdefault(m.group("stem"), []).append(c)
    for stem, fields in stems.items():
        extra = [c for c in columns if c.startswith(f"{stem}_") and c not in fields]
        status = f"{stem}_complete" if f"{stem}_complete" in present else None
        extra = [c for c in extra if c != status]
        got = _form_of_items(stem, fields + extra, resolve, present, status)
        if got:
            out.append(got)
    return out


def _decode(values: pd.Series, field: Field | None, item: bool) -> pd.Series:
    """Choice codes decoded with the dictionary: an item's answer label becomes its numeric
    code (a label export); another field's code becomes its label (a raw export)."""
    if field is None or not field.choices:
        return values
    if item:
        by_label = {name_key(lab): code for code, lab in field.choices.items() if _is_number(code)}
        return _per_value(
            values, lambda v: by_label.get(name_key(v), v) if isinstance(v, str) else v
        )
    return _per_value(values, lambda v: field.choices.get(v, v) if isinstance(v, str) else v)


def _per_value(values: pd.Series, f) -> pd.Series:
    """``values.map(f)`` with ``f`` called once per distinct value (an export of 10^6 rows
    holds a few answer codes; a call per cell took most of the load), missing kept missing."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    out = np.array([f(u) for u in uniques] + [None], dtype=object)
    return pd.Series(out[codes], index=values.index, dtype=object)


def _is_number(t: str) -> bool:
    return re.fullmatch(r"[+-]?\d+(?:\.\d+)?", t) is not None


def _checkboxes(t: pd.DataFrame, d: Dictionary | None) -> pd.DataFrame:
    """Checkbox columns ``field___code`` as one column ``field``: the checked choices' labels
    (codes without a dictionary) joined by ``'; '``, missing when none is checked."""
    groups: dict[str, list[str]] = {}
    for c in t.columns:
        base, sep, _code = c.partition("___")
        if sep and base:
            groups.setdefault(base, []).append(c)
    for base, cols in groups.items():
        field = d.fields.get(base) if d is not None else None
        choices = field.choices if field is not None else {}
        labels = []
        for c in cols:
            code = c.partition("___")[2]
            # REDCap writes a negative or dotted code with underscores ('-1' -> '_1')
            code = next((k for k in choices if re.sub(r"\W", "_", k.lower()) == code), code)
            labels.append(choices.get(code, code))
        checked = np.column_stack(
            [
                t[c]
                .map(
                    lambda v, lab=lab: (
                        isinstance(v, str) and (v.lower() in ("1", "checked") or v == lab)
                    )
                )
                .to_numpy(dtype=bool)
                for c, lab in zip(cols, labels, strict=True)
            ]
        )
        joined = [
            "; ".join(lab for lab, on in zip(labels, row, strict=True) if on) or None
            for row in checked
        ]
        t = t.drop(columns=cols)
        t[base] = pd.Series(joined, index=t.index, dtype=object)
    return t


def _plain(label: str) -> str:
    """A label as compared with an export header: no HTML tags, spaces collapsed, no case."""
    return " ".join(re.sub(r"<[^>]*>", " ", str(label)).split()).casefold()


def _raw_headers(columns: list, d: Dictionary | None, source: str) -> list:
    """The variable names of an export whose headers are REDCap's field labels.

    The export's columns follow the dictionary's order (the record id, REDCap's own columns,
    then per form its survey timestamp, fields - a checkbox once per choice, ``label
    (choice=Asian)`` - and ``Complete?``), so the headers are matched in that order; an export
    with variable names as headers is returned as it is.
    """
    names = [normalize_name(c) for c in columns]
    if d is None or EVENT in names:
        return names
    known = {*d.fields, *(n for n, _ in _SYSTEM_LABELS)}
    labels = {_plain(f.label) for f in d.fields.values()} | {"complete?"}
    raw = sum(n in known or n.endswith("_complete") or "___" in n for n in names)
    if raw >= sum(_plain(c) in labels or "(choice=" in str(c) for c in columns):
        return names
    first = next(iter(d.fields.values()))
    expected = [(first.name, first.label), *_SYSTEM_LABELS]
    for form, fields in d.forms().items():
        expected.append((f"{form}_timestamp", "Survey Timestamp"))
        for f in fields:
            fld = d.fields[f]
            if f == first.name:
                continue
            if fld.type == "checkbox":
                for code, lab in fld.choices.items():
                    code_name = re.sub(r"\W", "_", code.lower())
                    expected.append((f"{f}___{code_name}", f"{fld.label} (choice={lab})"))
            elif fld.type != "descriptive":
                expected.append((f, fld.label))
        expected.append((f"{form}_complete", "Complete?"))
    plain = [(name, _plain(lab)) for name, lab in expected]
    out, at = [], 0
    for c in columns:
        hit = next((i for i in range(at, len(plain)) if plain[i][1] == _plain(c)), None)
        if hit is None:
            raise LoadError(
                f"{source}: source='redcap', but the header {str(c)!r} is neither a variable "
                f"name of the data dictionary {d.source!r} nor, in the dictionary's order, one "
                "of its field labels. Export the data with the variable names as headers "
                "(REDCap: 'CSV / Microsoft Excel (raw data)', or labels with raw headers), or "
                "give the dictionary of this project."
            )
        out.append(plain[hit][0])
        at = hit + 1
    return out


@validate_params(
    {
        "df": ["frame"],
        "source": [str],
        "dictionary": ["no_validation"],  # read by read_dictionary, with its own errors
        "mapping": ["no_validation"],  # read by read_mapping
    }
)
def redcap_to_long(
    df: pd.DataFrame, source: str, dictionary=None, mapping=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per administration of a REDCap export (see the module docstring).

    Returns the long frame (contract names for the columns it builds; other fields under their
    own names, for the mapping to rename) and its origin: ``source_row`` (the export's 1-based
    row) and ``source_column`` (the form). ``origin.attrs`` holds ``notes`` (file-level notes)
    and ``quarantine`` (``(mask, column, reason, fix, values)`` for :func:`iop_outcomes.load`).
    """
    d = read_dictionary(dictionary) if dictionary is not None else None
    df = df.reset_index(drop=True)
    names = _raw_headers(list(df.columns), d, source)
    t = pd.DataFrame({n: _text(df.iloc[:, i]) for i, n in enumerate(names)})
    targets = [mapping.target(c) for c in names] if mapping is not None else names
    if "patient_id" in targets:
        rid = names[targets.index("patient_id")]
    else:
        rid = "record_id" if "record_id" in names else names[0]
    for c in t.columns:  # a survey not (yet) taken: '[not completed]'
        if c.endswith("_timestamp"):
            t[c] = t[c].where(~t[c].astype(str).str.startswith("["), None)
    t = _checkboxes(t, d)
    columns = list(t.columns)
    forms = _forms(columns, d, mapping)
    if not forms:
        raise LoadError(
            f"{source}: source='redcap', but no questionnaire fields were found. Columns found: "
            f"{columns[:20]}. Give the data dictionary (dictionary=..., --dictionary) so that a "
            "form named like an instrument ('phq9', 'gad7') is read, name the item fields like "
            "phq9_1 ... phq9_9, or name your form under [values.instrument] in the mapping "
            '(e.g. weekly_mood = "PHQ-9").'
        )
    n = len(t)
    used = {rid, EVENT, REPEAT_FORM}
    for fm in forms:
        used |= {*fm.items.values(), fm.date, fm.total, f"{fm.name}_timestamp"}
    form_fields = set()
    if d is not None:  # the instrument forms' other fields (difficulty, notes) are not carried
        inst_forms = {fm.name for fm in forms}
        form_fields = {f for f, fld in d.fields.items() if fld.form in inst_forms}
    status_cols = {c for c in columns if c.endswith("_complete")}
    carried = [c for c in columns if c not in used and c not in form_fields | status_cols]

    pid = t[rid]
    base = _record_fields(t, carried, pid, d)
    timepoint = _event_timepoints(t, mapping)
    parts, has_any = _form_rows(t, forms, d, pid, base, carried, timepoint)
    if not parts:
        raise LoadError(
            f"{source}: source='redcap', but none of the export's {n:,} rows has an answer, "
            f"date or total of the questionnaire forms ({', '.join(fm.name for fm in forms)}). "
            "Check that the export includes those forms' data."
        )
    long = pd.concat(parts, ignore_index=True)
    long = long.sort_values(["_row", "_order"], kind="mergesort").reset_index(drop=True)
    if "assessment_date" in long and long["assessment_date"].isna().all():
        long = long.drop(columns="assessment_date")
    if long["total"].isna().all():
        long = long.drop(columns="total")
    origin = _origin(long, forms, has_any)
    return long.drop(columns=["_status", "_status_col", "_row", "_form", "_order"]), origin


def _record_fields(t: pd.DataFrame, carried: list, pid: pd.Series, d) -> pd.DataFrame:
    """The record-level fields: decoded, and filled down when the record has one value."""
    base = pd.DataFrame(index=t.index)
    for c in carried:
        col = _decode(t[c], d.fields.get(c) if d else None, item=False)
        if c == REPEAT_INSTANCE:  # per row, never filled down
            base[c] = col
            continue
        per = col.groupby(pid, dropna=True)
        one = per.transform("nunique") <= 1
        filled = per.transform("first")
        base[c] = col.where(col.notna() | ~one, filled)
    return base


def _event_timepoints(t: pd.DataFrame, mapping) -> pd.Series | None:
    """The timepoint of each row: its event (without the arm), unless a repeating form's event
    is no timepoint; ``None`` without events."""
    timepoint = None
    if EVENT in t:
        ev = _per_value(
            t[EVENT], lambda v: re.sub(r"\s*\(arm \d+[^)]*\)\s*$", "", v, flags=re.I) if v else v
        )
        timepoint = ev
        if REPEAT_FORM in t:  # a repeating form's event is its timepoint only when it is one
            user = mapping.values.get("timepoint", {}) if mapping is not None else {}

            def known(v) -> bool:
                stripped = ARM_SUFFIX.sub("", str(v).strip().lower())
                return bool(
                    normalize_timepoint(v) or name_key(v) in user or name_key(stripped) in user
                )

            repeat = t[REPEAT_FORM].notna() & ~ev.map(known, na_action="ignore").fillna(False)
            timepoint = ev.where(~repeat.astype(bool), None)

    return timepoint


def _form_rows(t, forms, d, pid, base, carried, timepoint) -> tuple[list, np.ndarray]:
    """One frame of administrations per instrument form (rows with an answer, date or total
    of the form), and which export rows have any."""
    n = len(t)
    parts, has_any = [], np.zeros(n, dtype=bool)
    k_max = max(fm.n_items for fm in forms)
    for order, fm in enumerate(forms):
        own = [*fm.items.values(), *(c for c in (fm.date, fm.total) if c)]
        has = t[own].notna().any(axis=1).to_numpy()
        has_any |= has
        if not has.any():
            continue
        part = pd.DataFrame({"patient_id": pid[has].to_numpy()}, dtype=object)
        part["instrument"] = fm.instrument
        if timepoint is not None:
            part["timepoint"] = timepoint[has].to_numpy()
        if fm.date:
            part["assessment_date"] = t.loc[has, fm.date].to_numpy()
        for j in range(1, k_max + 1):
            c = fm.items.get(j)
            field = d.fields.get(c) if d and c else None
            part[f"item_{j}"] = _decode(t.loc[has, c], field, item=True).to_numpy() if c else None
        part["total"] = t.loc[has, fm.total].to_numpy() if fm.total else None
        for c in carried:
            part[c] = base.loc[has, c].to_numpy()
        st = t.loc[has, fm.status] if fm.status else pd.Series([None] * int(has.sum()))
        part["_status"] = _per_value(st, lambda s: STATUS.get(str(s).lower())).to_numpy()
        part["_status_col"] = fm.status
        part["_row"] = np.flatnonzero(has) + 1
        part["_form"] = fm.name
        part["_order"] = order
        parts.append(part)
    return parts, has_any


def _origin(long: pd.DataFrame, forms, has_any: np.ndarray) -> pd.DataFrame:
    """Each administration's export row and form, with the forms' item fields, the incomplete
    forms to quarantine and the note on rows without an administration."""
    origin = pd.DataFrame(
        {
            "source_row": long["_row"].to_numpy(),
            "source_column": long["_form"].to_numpy(),
            "instrument": long["_form"].to_numpy(),
        }
    )
    # item problems name your field: item_3 (your column 'phq9_3') (load's name_item_columns)
    origin.attrs["item_columns"] = {
        fm.name: {f"item_{j}": c for j, c in fm.items.items()} for fm in forms
    }
    incomplete = (long["_status"] == 0).to_numpy()
    status_text = long["_status_col"].astype(str) + " = 0 (Incomplete)"
    origin.attrs["quarantine"] = [
        (
            incomplete,
            "*",
            "form marked incomplete in REDCap ({value})",
            "Complete the form in REDCap and mark it Complete (2) or Unverified (1), then "
            "export again.",
            status_text,
        )
    ]
    n_empty = int((~has_any).sum())
    origin.attrs["notes"] = (
        [
            f"{n_empty:,} REDCap export row(s) have no questionnaire administration (e.g. "
            "enrollment-only event rows) and produce no ledger row (the ledger has one row per "
            "administration); their record-level fields are filled down to the record's other "
            "rows"
        ]
        if n_empty
        else []
    )
    origin.attrs["rows_without_scores"] = 0
    return origin
