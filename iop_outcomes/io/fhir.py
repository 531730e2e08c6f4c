"""FHIR R4 exports: QuestionnaireResponse and Observation resources to one row per administration.

:func:`read_fhir` reads a FHIR R4 export — a Bulk Data ``$export`` NDJSON file (``.ndjson``,
``.ndjson.gz``), a directory of them (one file per resource type, as ``$export`` writes), a
Bundle or single resource (``.json``), or already-parsed resources (a list of dicts, or a
Bundle dict) — and :func:`fhir_to_long` turns the resources into the long format of the data
contract (``docs/data-format.md``, "FHIR exports"). :func:`iop_outcomes.load` does both with
``source="fhir"``.

What is read
------------
Codes are the instruments' LOINC codes, kept as data in ``instruments/builtin.toml``
(``loinc_panel``, ``loinc_total``, ``loinc_items``, ``loinc_answers``; a registered instrument
with these fields is read the same way):

======  ===========  ========  ======================================================
        panel        total     items, in item order
======  ===========  ========  ======================================================
PHQ-9   44249-1      44261-6   44250-9 44255-8 44259-0 44254-1 44251-7 44258-2 44252-5
                               44253-3 44260-8
GAD-7   69737-5      70274-6   69725-0 68509-9 69733-4 69734-2 69735-9 69689-8 69736-7
======  ===========  ========  ======================================================

Answers (LOINC answer list LL358-3): LA6568-5 "Not at all" = 0, LA6569-3 "Several days" = 1,
LA6570-1 "More than half the days" = 2, LA6571-9 "Nearly every day" = 3.

Sources checked: loinc.org/44261-6 and loinc.org/44249-1 (Regenstrief); loinc.org/69729-2 (the
PHQ-SADS panel, which lists every PHQ-9 and GAD-7 item code with its question text); the HL7
personal-health-record IG's GAD-7 QuestionnaireResponse example (linkIds 69725-0 … 69736-7);
the LL358-3 value set (LA6568-5 … LA6571-9) as published in public FHIR IGs. Every code's LOINC
mod-10 check digit was recomputed. Two codes of the brief this module was written from were
wrong and are *not* read: ``68509-6`` (GAD-7 item 2 is **68509-9**; 68509-6 fails the check
digit) and ``68510-4`` (not a GAD-7 item, fails the check digit; item 6 is **69689-8** and
item 7 is **69736-7**).

* **QuestionnaireResponse**: items (nested groups and answer items included) whose ``linkId``
  is an item or total code (``44250-9``, or a path ending in it such as LHC-Forms'
  ``/44249-1/44250-9``). The answer is ``valueCoding`` (an LA code above; else its
  ``ordinalValue`` / ``itemWeight`` extension; else its display text, read like any answer
  text), ``valueInteger``, ``valueDecimal``, ``valueQuantity.value`` or ``valueString``.
  Other items (the PHQ-9's difficulty question, items of other forms) are not read. One
  administration per instrument found (a form holding both a PHQ-9 and a GAD-7 gives two).
  ``authored`` is the assessment date; ``status`` ``in-progress``, ``stopped`` or
  ``entered-in-error`` quarantines the response.
* **Observation**: a **panel** (``44249-1`` / ``69737-5``) takes its items and total from its
  ``component`` list and from the item / total Observations its ``hasMember`` references
  (components win where both give an item); a **total** Observation (``44261-6`` /
  ``70274-6``) gives the total; an **item** Observation referenced by no panel is combined
  with the other item Observations of the same patient, instrument, ``effective`` time and
  encounter (a second answer to the same item starts another administration). Values are
  ``valueQuantity.value``, ``valueInteger``, ``valueCodeableConcept`` (as ``valueCoding``
  above) or ``valueString``; the date is ``effectiveDateTime`` (else ``effectivePeriod.start``,
  ``effectiveInstant``). ``status`` ``entered-in-error`` or ``cancelled`` quarantines it. Any
  other code is **quarantined** ("not a PHQ-9 / GAD-7 LOINC code"), never dropped.
* ``subject`` ``Patient/123`` (also an absolute URL, or a Bundle's ``urn:uuid:`` fullUrl) gives
  ``patient_id`` ``123``. Dates keep the day as written (the local day of a timestamp); a
  partial date (``2025-01``) is quarantined.
* **Episodes**: an **EpisodeOfCare** (``patient``, ``period.start`` / ``period.end``) is an
  episode: ``episode_id`` its id, ``admit_date`` / ``discharge_date`` its period. An
  administration belongs to (1) the EpisodeOfCare its ``encounter`` lists
  (``Encounter.episodeOfCare``) or its ``basedOn`` names; else (2) the ``encounter`` itself
  when it spans more than one day (an admission modelled as one Encounter; its period gives
  the dates); else (3) the patient's episode with the latest start no later than 14 days
  after the assessment (the baseline window), else the patient's first episode. A patient
  without any episode, when others have some, gets one episode ``Patient/<id>`` without dates.
  Without any EpisodeOfCare or multi-day Encounter in the export, there is no ``episode_id``
  column (one episode per patient, :func:`iop_outcomes.load`'s default).

The ledger rule
---------------
**One ledger row per administration and per unusable record.** ``row`` is the record number
in the input (1-based, across the files of a directory in name order; an NDJSON line or a
Bundle entry is a record; blank lines are not records), ``column`` names the file, line and
resource (``Observation.ndjson:3 Observation/phq9-p1``). Records that are quarantined: a line
that is not valid JSON (named by file and line), a JSON value that is not a resource, an
Observation with another code, a QuestionnaireResponse without a PHQ-9 / GAD-7 linkId, a
questionnaire resource without a Patient subject or a full date, or with a status above, a
panel with no values. Records with **no ledger row of their own**, each counted in a
file-level note: the item / total Observations combined into an administration (the
administration's row stands for them), and the context resources (Patient, EpisodeOfCare,
Encounter and other resource types). So ``records = ledger rows (distinct records) +
combined members + context records``; :func:`fhir_to_long` returns the counts in
``origin.attrs["accounting"]``.

Why a lean reader, not ``fhir.resources``: its pydantic models validate every element of
every resource and read about 100x slower than parsing the same lines with ``orjson``
(``bench/RESULTS.md``, "FHIR"); the few elements needed here are checked where they are read,
and a malformed resource is ledgered instead of raising. ``orjson`` is used when installed
(``pip install iop_outcomes[fhir]``), else ``json``.

In parallel: an export of at least ``PARALLEL_MIN_BYTES`` (16 MiB, about 20,000 lines) is
cut into about two jobs per CPU of equal estimated work (:func:`_tasks`; uncompressed NDJSON
files cut at line ends, gzip and Bundle ``.json`` files whole), and worker processes (the
``fork`` start method, so on Linux) parse and walk them; each returns its administrations as
columns (:class:`_Chunk`), merged in record order, so record numbers, ledger and results are
the one-process read's (``tests/test_fhir.py``). The files are hashed afterwards, in a thread,
while this process builds the table (the workers have both CPUs while they walk). Smaller
exports, parsed resources, one CPU, or no ``fork``: one process.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import multiprocessing as mp
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from .. import instruments as _inst
from ..exceptions import ConfigError, LoadError
from .readers import RawSource

try:  # orjson: several times faster than json on NDJSON lines
    import orjson as _json

    _dumps = _json.dumps
except ImportError:  # pragma: no cover - the standard library is the fallback
    import json as _json

    def _dumps(obj) -> bytes:
        return _json.dumps(obj, sort_keys=True, default=str).encode()


__all__ = ["read_fhir", "fhir_to_long", "FhirSource"]

#: The assessment may precede admission by this much and still belong to the episode (the
#: default baseline window of iop.EpisodeRules starts 14 days before admission).
DAYS_BEFORE_EPISODE = 14
#: Statuses that quarantine a questionnaire resource.
QR_BAD_STATUS = frozenset({"in-progress", "stopped", "entered-in-error"})
OBS_BAD_STATUS = frozenset({"entered-in-error", "cancelled"})
#: Resource types read for context (episodes); they have no ledger row.
CONTEXT_TYPES = ("Patient", "EpisodeOfCare", "Encounter")
_ORDINAL_URLS = ("ordinalValue", "itemWeight", "iso21090-CO-value")
_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz", ".jsonl", ".jsonl.gz")

# problem kinds: (reason template, fix); {value} is the record's own detail
_PROBLEMS = {
    "json": (
        "not valid JSON: {value}",
        "Repair or export the line again: each line of an NDJSON file must be one JSON resource.",
    ),
    "resource": (
        "not a FHIR resource: {value}",
        "Each line (Bundle entry) must be a JSON object with a resourceType.",
    ),
    "code": (
        "not a PHQ-9 / GAD-7 LOINC code: {value}",
        "Export only the questionnaire Observations (e.g. $export?_typeFilter=Observation?code="
        "44249-1,44261-6,69737-5,70274-6), or register the instrument with its LOINC codes "
        "(iop.instruments.register, loinc_panel / loinc_total / loinc_items).",
    ),
    "subject": (
        "no Patient subject: {value}",
        "Export the resource with its subject reference (Patient/<id>).",
    ),
    "date": (
        "no full assessment date: {value}",
        "Export the resource with its date (QuestionnaireResponse.authored, "
        "Observation.effectiveDateTime) as a full day (YYYY-MM-DD...).",
    ),
    "status": (
        "status {value}",
        "Only finished responses and observations are scored: complete or correct the "
        "resource in the source system and export it again.",
    ),
    "empty": (
        "no item or total value: {value}",
        "Export the panel with its components or the Observations its hasMember references.",
    ),
}


@dataclass(frozen=True)
class FhirSource(RawSource):
    """What :func:`read_fhir` returns: the long frame of :func:`fhir_to_long` as ``frame``,
    with its ``origin`` (record number and resource of each row)."""

    origin: pd.DataFrame | None = None


#: The fields of an administration, in the walk's columns (and, with its problem last, rows).
_FIELDS = ("rec", "label", "pid", "inst", "date", "enc", "ep", "values")
#: The fields of an item (or total) Observation.
_ITEM_FIELDS = ("rec", "label", "key", "pid", "inst", "n", "value", "date", "enc", "ep", "eff")


@dataclass
class _Codes:
    """Code tables from the instrument registry."""

    items: dict  # code -> (instrument, item number; 0 = total)
    panels: dict  # code -> instrument
    answers: dict  # instrument -> {LA code: value}
    n_items: dict  # instrument -> number of items
    width: int = 1  # values per administration: the total (0) and items 1..k
    links: dict = field(default_factory=dict)  # item code -> (inst, n, {answer code: value})

    @classmethod
    def build(cls) -> _Codes:
        items, panels, answers, n_items = {}, {}, {}, {}
        for name in _inst.names():
            ins = _inst.get(name)
            if not (ins.loinc_panel or ins.loinc_total or ins.loinc_items):
                continue
            # a code claimed twice (an instrument registered as a copy of another) stays with
            # the first registered, so the built-in PHQ-9 / GAD-7 keep their codes
            if ins.loinc_panel:
                panels.setdefault(ins.loinc_panel, name)
            if ins.loinc_total:
                items.setdefault(ins.loinc_total, (name, 0))
            for j, c in enumerate(ins.loinc_items, 1):
                items.setdefault(c, (name, j))
            answers[name] = dict(ins.loinc_answers)
            n_items[name] = ins.n_items
        links = {code: (inst, n, answers[inst]) for code, (inst, n) in items.items() if n}
        return cls(items, panels, answers, n_items, max(n_items.values(), default=0) + 1, links)


class _Bad:
    """A record that is not a resource: why."""

    __slots__ = ("kind", "detail")

    def __init__(self, kind: str, detail: str) -> None:
        self.kind, self.detail = kind, detail


# ------------------------------------------------------------------------------ reading
class _Records:
    """The records of an input, read as they are iterated (an NDJSON file is never held
    whole); a record is ``(file, where, resource or _Bad, alias)`` (``where``: the line, or a
    Bundle entry; ``alias``: a Bundle's fullUrl -> ``Type/id``). ``sha256`` (of the bytes read)
    is complete once iterated."""

    def __init__(self, data, name: str | None) -> None:
        self._hash = hashlib.sha256()
        self.n = 0
        if isinstance(data, dict):
            data = [data]
        if isinstance(data, (list, tuple)):
            self._hash.update(_dumps(list(data)))
            self.name, self._files, self._values = name or "<FHIR resources>", [], data
            return
        if not isinstance(data, (str, Path)):
            raise ConfigError(
                "With source='fhir', the data must be a path (an NDJSON or Bundle JSON file, or "
                "a directory of Bulk Data NDJSON files) or a list of resources. Got a "
                f"{type(data).__name__} instead."
            )
        path, self._values = Path(data), None
        if path.is_dir():
            self._files = sorted(p for p in path.iterdir() if p.name.lower().endswith(_SUFFIXES))
            if not self._files:
                raise LoadError(
                    f"{str(path)!r} has no FHIR files (.ndjson, .ndjson.gz, .json): give the "
                    "directory a Bulk Data $export wrote, or one of its files."
                )
        elif path.is_file():
            if not path.name.lower().endswith(_SUFFIXES):
                raise LoadError(
                    f"{path.name!r} is not a FHIR export: source='fhir' reads NDJSON (.ndjson, "
                    ".ndjson.gz; one resource per line), a Bundle or resource .json file, or the "
                    "directory of a Bulk Data export. For a table of scores, leave source out."
                )
            self._files = [path]
        else:
            raise LoadError(
                f"The FHIR export {str(path)!r} does not exist. Check the path (a .ndjson or "
                "Bundle .json file, or the directory of a Bulk Data export)."
            )
        self.name = name or path.name
        self._dir = path.is_dir()

    @property
    def files(self) -> list[Path]:
        """The files read (none for parsed resources)."""
        return list(self._files)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def hash_files(self) -> None:
        """Hash the files as iterating would (for the parallel read, which does not)."""
        for p in self._files:
            h = hashlib.sha256() if self._dir else self._hash
            with open(p, "rb") as fh:
                while block := fh.read(1 << 24):
                    h.update(block)
            if self._dir:
                self._hash.update(p.name.encode() + b"\0" + h.digest())

    def __iter__(self):
        if self._values is not None:
            for i, r in enumerate(self._values, 1):
                for rec in _entries(r, "<resources>", str(i)):
                    self.n += 1
                    yield rec
            return
        for p in self._files:
            h = hashlib.sha256() if self._dir else self._hash
            for rec in _file_records(p, h):
                self.n += 1
                yield rec
            if self._dir:  # a directory's hash: each file's name and hash, in name order
                self._hash.update(p.name.encode() + b"\0" + h.digest())


class _Hashing:
    """A binary file wrapper that hashes what is read."""

    def __init__(self, fh, h) -> None:
        self.fh, self.h = fh, h

    def read(self, n: int = -1) -> bytes:
        b = self.fh.read(n)
        self.h.update(b)
        return b


def _file_records(
    path: Path,
    h,
    start: int = 0,
    end: int | None = None,
    before: int | None = None,
    data: bytes | None = None,
):
    """The records of a file; of an NDJSON file, those of the lines in bytes ``[start, end)``
    (``start`` just after a newline; lines are numbered from the file's start: ``before``
    lines precede ``start``, counted here when not given). ``h``: the hash to update with the
    bytes read (``None``: none). ``data``: the bytes of the range, when already read."""
    fname = path.name
    loads = _json.loads
    gz = fname.lower().endswith(".gz")
    stem = fname.lower().removesuffix(".gz")
    with open(path, "rb") as raw_fh:
        fh = gzip.GzipFile(fileobj=_Hashing(raw_fh, h) if h is not None else raw_fh) if gz else None
        try:
            if stem.endswith(".json"):  # one JSON value: a Bundle, a resource or a list
                data = fh.read() if gz else raw_fh.read()
                if not gz and h is not None:
                    h.update(data)
                try:
                    value = loads(data)
                except ValueError as exc:
                    raise LoadError(
                        f"{fname} is not valid JSON ({exc}). A Bulk Data export (one resource "
                        "per line) must be named .ndjson."
                    ) from None
                for i, v in enumerate(value if isinstance(value, list) else [value], 1):
                    yield from _entries(v, fname, str(i))
                return
            src = fh if gz else raw_fh
            i, rest = before or 0, b""
            if before is not None:
                raw_fh.seek(start)
            while before is None and start and raw_fh.tell() < start:  # the lines before: counted
                skipped = raw_fh.read(min(1 << 24, start - raw_fh.tell()))
                if not skipped:
                    break
                i += skipped.count(b"\n")
            left = -1 if end is None else end - start
            given = [data, b""] if data is not None else None
            while True:  # blocks of lines: one hash update per block, not per line
                if given is not None:
                    block = given.pop(0)
                else:
                    block = src.read(1 << 24 if left < 0 else min(1 << 24, left))
                if left > 0:
                    left -= len(block)
                if not gz and h is not None:
                    h.update(block)
                lines = (rest + block).split(b"\n") if block else [rest]
                rest = lines.pop() if block else b""
                for line in lines:
                    i += 1
                    if not line or line.isspace():
                        continue
                    try:
                        r = loads(line)
                    except ValueError as exc:
                        yield fname, i, _Bad("json", f"line {i} of {fname} ({exc})"), None
                        continue
                    if type(r) is dict and r.get("resourceType") == "Bundle":
                        yield from _entries(r, fname, str(i))
                    else:
                        yield fname, i, r, None
                if not block:
                    break
        except (OSError, EOFError) as exc:  # a damaged gzip file
            raise LoadError(f"{fname}: not a readable gzip file ({exc}).") from None


def _entries(r, fname: str, where: str) -> list:
    """A Bundle's entries as records (``where`` ``entry k``, or ``<line> entry k`` for a
    Bundle on an NDJSON line); any other value as one record."""
    if not (isinstance(r, dict) and r.get("resourceType") == "Bundle"):
        return [(fname, where, r, None)]
    out, alias = [], {}
    at = "" if fname.lower().removesuffix(".gz").endswith(".json") else f"{where} "
    for k, e in enumerate(r.get("entry") or (), 1):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            out.append(
                (fname, f"{at}entry {k}", _Bad("resource", f"entry {k} has no resource"), None)
            )
            continue
        if isinstance(e.get("fullUrl"), str) and res.get("id") is not None:
            alias[e["fullUrl"]] = f"{res.get('resourceType')}/{res['id']}"
        out.append((fname, f"{at}entry {k}", res, alias))  # urn:uuid references: this Bundle
    return out


# ------------------------------------------------------------------------------ values
def _ref(x, alias=None) -> str | None:
    """A Reference's ``reference`` as ``Type/id`` (absolute URLs and history cut)."""
    ref = x.get("reference") if isinstance(x, dict) else None
    if not isinstance(ref, str) or not ref:
        return None
    if alias and ref in alias:
        return alias[ref]
    if ref.startswith("urn:uuid:"):
        return ref
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def _coding_value(c, table):
    if not isinstance(c, dict):
        return None
    code = c.get("code")
    v = table.get(code)
    if v is not None:
        return v
    for e in c.get("extension") or ():
        if isinstance(e, dict) and str(e.get("url", "")).endswith(_ORDINAL_URLS):
            for k in ("valueDecimal", "valueInteger"):
                if k in e:
                    return e[k]
    return c.get("display") or code


def _value(a, table):
    """The value of an answer / component / Observation (``value[x]``)."""
    if not isinstance(a, dict):
        return None
    v = a.get("valueCoding")
    if v is not None:
        return _coding_value(v, table)
    for k in ("valueInteger", "valueDecimal"):
        if k in a:
            return a[k]
    v = a.get("valueQuantity")
    if v is not None:
        return v.get("value") if isinstance(v, dict) else None
    v = a.get("valueCodeableConcept")
    if v is not None:
        if not isinstance(v, dict):
            return None
        for c in v.get("coding") or ():
            got = _coding_value(c, table)
            if got is not None:
                return got
        return v.get("text")
    return a.get("valueString")


def _day(v) -> str | None:
    """``YYYY-MM-DD`` of a FHIR date / dateTime as written; ``None`` if not a full day."""
    if isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-":
        return v[:10]
    return None


@lru_cache(maxsize=1 << 14)
def _real_day(day: str | None) -> str | None:
    """``day`` (a :func:`_day`) when it is a day of the calendar (not ``2025-02-30``)."""
    try:
        return day if day is not None and date.fromisoformat(day) else None
    except ValueError:
        return None


def _code_of(concept, codes: _Codes):
    """``(kind, instrument, n, shown)`` of a CodeableConcept: ``panel``, ``item`` or ``None``."""
    shown = []
    for c in (concept.get("coding") or ()) if isinstance(concept, dict) else ():
        if not isinstance(c, dict):
            continue
        code = c.get("code")
        hit = codes.items.get(code)
        if hit is not None:
            return "item", hit[0], hit[1], code
        inst = codes.panels.get(code)
        if inst is not None:
            return "panel", inst, None, code
        shown.append(
            f"{c.get('system', '')}|{code}" + (f" ({c['display']})" if "display" in c else "")
        )
    if not shown and isinstance(concept, dict) and concept.get("text"):
        shown.append(repr(concept["text"]))
    return None, None, None, ", ".join(shown) or "no code"


# ------------------------------------------------------------------------------ walking
class _Walk:
    """One pass over the records, collecting administrations, items and context."""

    def __init__(self, codes: _Codes) -> None:
        self.codes = codes
        # administrations, one list per field (appended as walked: the rows of a chunk are
        # never gathered into columns afterwards, which costs more than the appends)
        self.cols: tuple = tuple([] for _ in _FIELDS)
        self.add = tuple(c.append for c in self.cols)
        self.problems: list = []  # (row, (kind, detail)) of the rows that are not usable
        self.panels: list = []  # panel Observations: rows [*_FIELDS], completed by _combine
        self.members: list = []  # each panel's member references
        self.blank = [None] * codes.width  # values: [total, item_1, ..., item_k]
        self.items: list = []  # rows of _ITEM_FIELDS
        self.episodes: list = []  # (id, pid, start, end)
        self.encounters: dict = {}  # "Encounter/id" -> (eoc ref, pid, start, end)
        self.context: dict[str, int] = {}
        self.unused_episodes = 0
        self.alias: dict | None = None

    def bad(self, rec, label, kind, detail, pid=None, inst=None, date=None, values=None) -> None:
        self.row(rec, label, pid, inst, date, None, None, values, (kind, detail))

    def row(self, *fields) -> None:
        """Append an administration (``_FIELDS`` and its problem or ``None``)."""
        if fields[8] is not None:
            self.problems.append((len(self.cols[0]), fields[8]))
        for add, v in zip(self.add, fields[:8], strict=True):
            add(v)

    def subject(self, r, key="subject"):
        x = r.get(key)
        ref = x.get("reference") if type(x) is dict else None
        if type(ref) is str and ref.startswith("Patient/") and ref.count("/") == 1 and ref[8:]:
            return ref[8:], None  # the usual case, without _ref's general path
        ref = _ref(x, self.alias)
        if ref is None:
            return None, "no subject reference"
        if ref.startswith("urn:uuid:"):
            return ref[9:], None
        typ, _, pid = ref.rpartition("/")
        if typ != "Patient" or not pid:
            return None, f"subject {ref!r} is not a Patient"
        return pid, None

    def run(self, records) -> int:
        """Walk the records (numbered from 1); return how many there were."""
        rec = 0
        fast = self.fast_response
        for rec, (fname, line, r, alias) in enumerate(records, 1):
            self.alias = alias
            if type(r) is dict and r.get("resourceType") == "QuestionnaireResponse":
                label = f"{fname}:{line} QuestionnaireResponse/{r.get('id', '?')}"
                try:  # the usual response first, without the general walk
                    if fast(rec, label, r):
                        continue
                except (KeyError, TypeError, IndexError, AttributeError):
                    pass
                self.response(rec, label, r)
                continue
            if isinstance(r, _Bad):
                self.bad(rec, f"{fname}:{line}", r.kind, r.detail)
                continue
            if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
                what = (
                    "a JSON object without resourceType"
                    if isinstance(r, dict)
                    else f"a JSON {type(r).__name__}"
                )
                self.bad(rec, f"{fname}:{line}", "resource", what)
                continue
            rt = r["resourceType"]
            label = f"{fname}:{line} {rt}/{r.get('id', '?')}"
            if rt == "Observation":
                self.observation(rec, label, r)
            else:
                self.context[rt] = self.context.get(rt, 0) + 1
                if rt == "EpisodeOfCare":
                    self.episode_of_care(r)
                elif rt == "Encounter":
                    self.encounter(r)
        return rec

    def episode_of_care(self, r) -> None:
        pid, _ = self.subject(r, "patient")
        per = r.get("period") if isinstance(r.get("period"), dict) else {}
        start = _real_day(_day(per.get("start")))
        if pid is None or start is None or r.get("id") is None:
            self.unused_episodes += 1
            return
        self.episodes.append((str(r["id"]), pid, start, _day(per.get("end"))))

    def encounter(self, r) -> None:
        pid, _ = self.subject(r)
        per = r.get("period") if isinstance(r.get("period"), dict) else {}
        eoc = None
        for x in r.get("episodeOfCare") or ():
            eoc = _ref(x, self.alias)
            if eoc:
                break
        if r.get("id") is not None:
            self.encounters[f"Encounter/{r['id']}"] = (
                eoc,
                pid,
                _real_day(_day(per.get("start"))),
                _real_day(_day(per.get("end"))),
            )

    def common(self, r, rec, label, date_value, what, inst=None):
        """Subject and date checks; ``(pid, date, ok)``."""
        pid, why = self.subject(r)
        date = _day(date_value)
        if pid is None:
            self.bad(rec, label, "subject", why, inst=inst, date=date)
            return None, None, False
        if date is None:
            self.bad(rec, label, "date", f"{what} {date_value!r}", pid=pid, inst=inst)
            return None, None, False
        return pid, date, True

    def links(self, r):
        alias = self.alias
        enc = _ref(r.get("encounter"), alias)
        ep = None
        for x in r.get("basedOn") or ():
            ref = _ref(x, alias)
            if ref and ref.startswith("EpisodeOfCare/"):
                ep = ref[14:]
                break
        return enc, ep

    def item(self, it, stack, other):
        """An item of a QuestionnaireResponse, in general: ``(instrument, n, value)`` or None;
        its nested items are pushed on ``stack``, an unknown linkId appended to ``other``."""
        if type(it) is not dict:
            return None
        items = self.codes.items
        link = it.get("linkId")
        sub = it.get("item")
        if sub and type(sub) is list:
            stack.append(sub)
        ans = it.get("answer")
        a = ans[0] if ans and type(ans) is list else None
        if type(a) is not dict:
            a = None
        elif type(a.get("item")) is list:
            stack.append(a["item"])
        hit = items.get(link) if type(link) is str else None
        if hit is None and type(link) is str and "/" in link:
            hit = items.get(link.rpartition("/")[2])
        if hit is None:
            other.append(str(link))
            return None
        inst, n = hit
        return inst, n, (_value(a, self.codes.answers[inst]) if a is not None else None)

    def fast_response(self, rec, label, r) -> bool:
        """The usual response, handled without the general walk: flat items with LOINC linkIds
        and LOINC answer codes, one instrument, a completed status, ``Patient/<id>``, a full
        date. False (nothing recorded) when any of that does not hold."""
        links = self.codes.links
        d = self.blank.copy()
        inst = None
        for it in r["item"]:  # one loop, no intermediate list: the hottest code of the reader
            a = it["answer"][0]
            if "item" in it or "item" in a:
                return False
            i, n, table = links[it["linkId"]]
            d[n] = table[a["valueCoding"]["code"]]
            if i is not inst:
                if inst is not None:
                    return False
                inst = i
        if inst is None:
            return False
        ref = r["subject"]["reference"]
        day = r["authored"]
        if (
            r.get("status") in QR_BAD_STATUS
            or not ref.startswith("Patient/")
            or ref.count("/") != 1
            or len(ref) < 9
            or len(day) < 10
            or day[4] != "-"
            or day[7] != "-"
        ):
            return False
        enc = r.get("encounter")
        enc = _ref(enc, self.alias) if enc is not None else None
        ep = None
        if "basedOn" in r:
            ep = self.links(r)[1]
        add = self.add
        add[0](rec)
        add[1](label)
        add[2](ref[8:])
        add[3](inst)
        add[4](day[:10])
        add[5](enc)
        add[6](ep)
        add[7](d)
        return True

    def response(self, rec, label, r) -> None:
        """A QuestionnaireResponse, in general (:meth:`fast_response` did not take it)."""
        items, answers = self.codes.items, self.codes.answers
        found: dict = {}
        other = []
        top = r.get("item")
        stack = [top] if type(top) is list else []
        while stack:  # the hot loop; nested groups and answer items are pushed on the stack
            for it in stack.pop():
                try:  # the usual item: a LOINC linkId answered by a LOINC answer code
                    inst, n = items[it["linkId"]]
                    a = it["answer"][0]
                    val = answers[inst][a["valueCoding"]["code"]]
                    if "item" in it or "item" in a:
                        raise KeyError  # nested items: the general path below
                except (KeyError, TypeError, IndexError, AttributeError, ValueError):
                    got = self.item(it, stack, other)
                    if got is None:
                        continue
                    inst, n, val = got
                d = found.get(inst)
                if d is None:
                    d = found[inst] = self.blank.copy()
                d[n] = val
        status = r.get("status")
        if not found or status in QR_BAD_STATUS:
            pid, day = self.subject(r)[0], _day(r.get("authored"))
            if not found:
                shown = ", ".join(sorted(set(other))[:5]) or "no items"
                self.bad(rec, label, "code", f"no item or total linkId ({shown})", pid, None, day)
            for inst in sorted(found):
                self.bad(rec, label, "status", repr(status), pid, inst, day, found[inst])
            return
        pid, date, ok = self.common(r, rec, label, r.get("authored"), "authored", min(found))
        if not ok:
            return
        enc, ep = self.links(r)
        for inst in sorted(found):
            self.row(rec, label, pid, inst, date, enc, ep, found[inst], None)

    def observation(self, rec, label, r) -> None:
        kind, inst, n, shown = _code_of(r.get("code"), self.codes)
        eff = r.get("effectiveDateTime")
        if eff is None:
            per = r.get("effectivePeriod")
            eff = per.get("start") if isinstance(per, dict) else r.get("effectiveInstant")
        if kind is None:
            self.bad(rec, label, "code", shown, pid=self.subject(r)[0], date=_day(eff))
            return
        status = r.get("status")
        if status in OBS_BAD_STATUS:
            self.bad(rec, label, "status", repr(status), self.subject(r)[0], inst, _day(eff))
            return
        pid, date, ok = self.common(r, rec, label, eff, "effective", inst)
        if not ok:
            return
        enc, ep = self.links(r)
        table = self.codes.answers[inst]
        if kind == "item":
            key = f"Observation/{r['id']}" if r.get("id") is not None else None
            self.items.append([rec, label, key, pid, inst, n, _value(r, table), date, enc, ep, eff])
            return
        values = self.blank.copy()
        for comp in r.get("component") or ():
            if not isinstance(comp, dict):
                continue
            ckind, cinst, cn, _ = _code_of(comp.get("code"), self.codes)
            if ckind == "item" and cinst == inst:
                values[cn] = _value(comp, table)
        own = _value(r, table)
        if own is not None and values[0] is None:
            values[0] = own
        members = [m for m in (_ref(x, self.alias) for x in r.get("hasMember") or ()) if m]
        if members:  # completed by _combine, once every item Observation is known
            self.panels.append([rec, label, pid, inst, date, enc, ep, values, None])
            self.members.append(members)
        else:  # complete: a row now, in record order
            empty = all(v is None for v in values)
            problem = ("empty", f"panel {label.rpartition(' ')[2]}") if empty else None
            self.row(rec, label, pid, inst, date, enc, ep, values, problem)

    def pack(self, n: int) -> _Chunk:
        """What the walk of ``n`` records found, as columns (:class:`_Chunk`)."""
        cols = self.cols
        return _Chunk(
            n=n,
            rec=np.array(cols[0], dtype=np.int64),
            cols=[_objects(c) for c in cols[1:7]],
            values=_value_columns(cols[7], self.blank),
            problems=self.problems,
            panels=self.panels,
            members=self.members,
            items=_item_columns(self.items),
            episodes=self.episodes,
            encounters=self.encounters,
            context=self.context,
            unused_episodes=self.unused_episodes,
        )


@dataclass
class _Chunk:
    """The walk of some records (a file, or a range of an NDJSON file's lines) in columns:
    ``rec`` (record numbers, counted from 1 in the chunk), ``cols`` (label, patient,
    instrument, date, encounter, episode; object arrays), ``values`` (total, item 1 ... as
    arrays), ``problems`` (``(row, (kind, detail))`` of the unusable rows); the panels with
    members, their member references and the item Observations as rows (for :func:`_combine`);
    the context found. What a worker process returns: compact to pickle."""

    n: int
    rec: np.ndarray
    cols: list
    values: list
    problems: list
    panels: list
    members: list
    items: dict
    episodes: list
    encounters: dict
    context: dict
    unused_episodes: int

    @classmethod
    def merge(cls, chunks: list[_Chunk]) -> _Chunk:
        """The chunks of consecutive records as one, record numbers counted across them."""
        if len(chunks) == 1:
            return chunks[0]
        out = cls(0, None, [[] for _ in range(6)], [], [], [], [], [], [], {}, {}, 0)
        recs, values, rows = [], [[] for _ in chunks[0].values], 0
        for c in chunks:
            off = out.n
            recs.append(c.rec + off)
            for col, got in zip(out.cols, c.cols, strict=True):
                col.append(got)
            for col, got in zip(values, c.values, strict=True):
                col.append(got)
            out.problems.extend((i + rows, p) for i, p in c.problems)
            rows += len(c.rec)
            for row in c.panels:  # rows: record number first
                row[0] += off
            out.panels.extend(c.panels)
            out.members.extend(c.members)
            out.items.append({**c.items, "rec": c.items["rec"] + off})
            out.episodes.extend(c.episodes)
            out.encounters.update(c.encounters)
            for k, v in c.context.items():
                out.context[k] = out.context.get(k, 0) + v
            out.unused_episodes += c.unused_episodes
            out.n += c.n
        out.rec = np.concatenate(recs)
        out.cols = [np.concatenate(c) for c in out.cols]
        out.values = [np.concatenate(v) for v in values]
        out.items = {k: np.concatenate([c[k] for c in out.items]) for k in _ITEM_FIELDS}
        return out


def _value_columns(values: list, blank: list) -> list[np.ndarray]:
    """The value lists of administrations (``None``: none) as one array per position (total,
    item 1, ...): floats when all are numbers (``None`` -> NaN), else objects (see
    :func:`_numbers`)."""
    width = len(blank)
    flat = list(chain.from_iterable(v or blank for v in values))
    try:
        table = np.array(flat, dtype=float).reshape(-1, width)
    except (TypeError, ValueError):  # answer texts (or worse): column by column
        cols = list(zip(*[v or blank for v in values], strict=True)) or [()] * width
        return [_numbers(c) for c in cols]
    return [table[:, j].copy() for j in range(width)]


def _item_columns(rows: list) -> dict:
    """Item Observation rows (``_ITEM_FIELDS``) as columns: arrays of objects, ``rec`` and
    ``n`` as integers."""
    cols = list(zip(*rows, strict=True)) or [()] * len(_ITEM_FIELDS)
    out = {k: _objects(c) for k, c in zip(_ITEM_FIELDS, cols, strict=True)}
    out["rec"] = np.array(cols[0], dtype=np.int64)
    out["n"] = np.array(cols[5], dtype=np.int64)
    return out


def _combine(panels: list, members: list, items: dict, blank: list) -> tuple[int, list, dict]:
    """Attach item Observations to their panels (``members``), group the others;
    ``(members consumed, the administrations the groups make)``, the latter as columns
    (``rec``, ``label`` ... ``ep`` as in :class:`_Chunk` ``cols``, and ``values``)."""
    n_items = len(items["rec"])
    used = np.zeros(n_items, dtype=bool)
    n_used = 0
    if panels:
        key, pid, inst, n, value = (items[k] for k in ("key", "pid", "inst", "n", "value"))
        by_key = {k: i for i, k in enumerate(key.tolist()) if k is not None}
        for a, refs in zip(panels, members, strict=True):
            for ref in refs:
                i = by_key.get(ref)
                if i is None or used[i]:
                    continue
                if inst[i] != a[3] or pid[i] != a[2]:
                    continue  # another instrument or patient: not this panel's
                used[i] = True
                n_used += 1
                if a[7][n[i]] is None:
                    a[7][n[i]] = value[i]
        for a in panels:
            if all(v is None for v in a[7]):
                a[8] = ("empty", f"panel {a[1].rpartition(' ')[2]}")
    # The others, grouped by (patient, instrument, effective time, encounter); in a group, an
    # item goes to the first administration without a value for it, so the one whose
    # position is the number of earlier items of the group with a value for that item
    free = np.flatnonzero(~used)
    it = {k: v[free] for k, v in items.items()}
    group = _group_codes([it["pid"], it["inst"], it["eff"], it["enc"]])
    has = pd.notna(it["value"])
    per_item = pd.Series(has, dtype=np.int64).groupby([group, it["n"]], sort=False)
    rank = per_item.cumsum().to_numpy() - has
    admin = _group_codes([group, rank])
    n_admin = int(admin.max()) + 1 if len(admin) else 0
    first = np.zeros(n_admin, dtype=np.int64)  # the item that starts each administration
    first[admin[::-1]] = np.arange(len(admin))[::-1]
    made = {k: it[k][first] for k in ("rec", "label", "pid", "inst", "date", "enc", "ep")}
    made["values"] = []
    for j in range(len(blank)):
        col = np.full(n_admin, None, dtype=object)
        at = has & (it["n"] == j)
        col[admin[at]] = it["value"][at]
        made["values"].append(col)
    return n_used + len(free) - n_admin, made


def _group_codes(keys: list) -> np.ndarray:
    """Codes of the distinct combinations of the key arrays (``None`` a value like any other),
    numbered in order of first appearance."""
    code = np.zeros(len(keys[0]) if keys else 0, dtype=np.int64)
    for k in keys:
        c, u = pd.factorize(k, use_na_sentinel=False)
        code = pd.factorize(code * (len(u) + 1) + c)[0]
    return code


# ------------------------------------------------------------------------------ building
def fhir_to_long(data, name: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per administration of a FHIR R4 export (see the module docstring).

    Parameters
    ----------
    data : str, Path, list of dict or dict
        An NDJSON file (``.ndjson``, ``.ndjson.gz``), a Bundle or resource ``.json`` file, a
        directory of Bulk Data NDJSON files, or parsed resources (a list, or a Bundle dict).
    name : str, optional
        Source name for the ledger and messages (default: the file or directory name).

    Returns
    -------
    long : DataFrame
        Contract columns: ``patient_id``, ``instrument``, ``assessment_date``, ``item_1`` …,
        ``total`` and, when the export has episodes, ``episode_id``, ``admit_date``,
        ``discharge_date``. Unusable records are rows too (what is known of them), to be
        quarantined by :func:`iop_outcomes.load`.
    origin : DataFrame
        ``source_row`` (the record number) and ``source_column`` (file, line and resource) of
        each row; ``attrs``: ``quarantine`` (``(mask, column, reason, fix, values)``),
        ``notes``, ``accounting`` (``records``, ``ledgered``, ``members``, ``context``),
        ``source`` and ``sha256``.

    Examples
    --------
    >>> phq = {"resourceType": "Observation", "id": "t1", "status": "final",
    ...        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
    ...        "subject": {"reference": "Patient/p1"},
    ...        "effectiveDateTime": "2025-01-06T09:30:00-05:00", "valueInteger": 17}
    >>> vitals = {**phq, "id": "bp", "code": {"coding": [{"code": "8480-6"}]}}
    >>> long, origin = fhir_to_long([{"resourceType": "Patient", "id": "p1"}, phq, vitals])
    >>> long[["patient_id", "instrument", "assessment_date", "total"]]
      patient_id instrument assessment_date  total
    0         p1      PHQ-9      2025-01-06   17.0
    1         p1       None      2025-01-06    NaN
    >>> origin["source_row"].tolist(), origin.attrs["accounting"]["context"]
    ([2, 3], {'Patient': 1})
    >>> origin.attrs["quarantine"][0][2], origin.attrs["quarantine"][0][4][1]
    ('not a PHQ-9 / GAD-7 LOINC code: {value}', '|8480-6')
    """
    records = _Records(data, name)
    codes = _Codes.build()
    enabled = gc.isenabled()
    gc.disable()  # millions of small dicts and lists, none cyclic: the collector only costs time
    try:
        chunks = _read_parallel(records, codes)
        if chunks is None:  # read in this process, which hashes the bytes as it reads them
            w = _Walk(codes)
            records.n = w.run(records)
            long, origin = _build(w.pack(records.n), records, codes)
        else:  # the files hashed on another CPU while this one builds (hashlib frees the GIL)
            with ThreadPoolExecutor(1) as hashing:
                hashed = hashing.submit(records.hash_files)
                long, origin = _build(_Chunk.merge(chunks), records, codes)
                hashed.result()
        origin.attrs["sha256"] = records.sha256
        return long, origin
    finally:
        if enabled:
            gc.enable()


# ------------------------------------------------------------------------------ in parallel
#: An export of fewer bytes (about 20,000 NDJSON lines) is read in this process: starting
#: worker processes would cost more than they save.
PARALLEL_MIN_BYTES = 16 << 20
#: The largest piece of an NDJSON file a worker reads (bytes).
_MAX_PIECE = 64 << 20
#: A line costs about as much to walk as this many bytes cost to parse (fitted to the
#: benchmark export's job times: a byte of Patient lines of 65 bytes weighs 4.7, of
#: responses of 1,300 bytes 1.2).
_LINE_BYTES = 240
#: Splittable files: NDJSON, not compressed (a gzip stream is read from its start).
_SPLITTABLE = (".ndjson", ".jsonl")


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _tasks(files: list[Path], workers: int) -> list[list[tuple[str, int, int | None]]]:
    """Jobs for the worker processes: lists of ``(path, start, end)`` byte ranges, in record
    order, about ``2 * workers`` of them of equal estimated work. A file's bytes weigh
    ``1 + _LINE_BYTES / (its mean line length)`` (from its first 64 KiB): a line costs about as
    much to walk as ``_LINE_BYTES`` bytes to parse, so a file of short lines (Patient) weighs
    more per byte than one of long responses. Uncompressed NDJSON files are cut at line ends
    (a job weighs at most ``_MAX_PIECE``: a worker holds its cut ranges in memory); other
    files go whole. Consecutive small files share a job: each job costs a round trip."""
    sizes = [p.stat().st_size for p in files]
    weights = [_weight(p) for p in files]
    total = sum(s * w for s, w in zip(sizes, weights, strict=True))
    target = max(1.0, min(total / (2 * workers), float(_MAX_PIECE)))
    jobs: list[list] = [[]]
    room = target
    for p, size, w in zip(files, sizes, weights, strict=True):
        splittable = p.name.lower().endswith(_SPLITTABLE)
        with open(p, "rb") as fh:
            start = 0
            while True:
                if jobs[-1] and room <= 0:
                    jobs.append([])
                    room = target
                cut = None
                if splittable and (size - start) * w > room:
                    cut = _line_end(fh, start + max(1, min(int(room / w), _MAX_PIECE)), size)
                jobs[-1].append((str(p), start, cut))
                room -= ((size if cut is None else cut) - start) * w
                if cut is None:
                    break
                start, room = cut, 0.0  # the job is full: the rest of the file starts the next
    return [job for job in jobs if job]


def _weight(path: Path) -> float:
    """Work per byte of a file, relative to parsing (see :func:`_tasks`)."""
    if not path.name.lower().endswith(_SPLITTABLE):
        return 1.5  # compressed or one JSON value: not sampled
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = head.count(b"\n")
    return 1.0 + _LINE_BYTES * lines / len(head) if lines else 1.0


def _line_end(fh, target: int, size: int) -> int | None:
    """The offset just after the first newline at or after ``target`` (``None``: none before
    the end of the file, or it is the end)."""
    fh.seek(target)
    while True:
        window = fh.read(1 << 16)
        at = window.find(b"\n")
        if at >= 0:
            cut = fh.tell() - len(window) + at + 1
            return cut if cut < size else None
        if not window:
            return None


#: A worker process's view of the line counts of the pieces (-1: not counted yet), shared
#: memory set by :func:`_read_parallel` through the pool's initializer.
_PIECE_LINES = None
#: How long a piece waits for the line counts of the pieces before it before counting them
#: itself (seconds): they are counted first thing, so only a lost worker makes it wait.
_COUNT_WAIT = 30.0


def _share_counts(counts) -> None:
    global _PIECE_LINES
    _PIECE_LINES = counts


def _walk_ranges(job: list, codes: _Codes) -> _Chunk:
    """A worker process's job: walk the records of consecutive ranges of the export's files
    (``(path, start, end, k, earlier)``: range ``k``, after the ``earlier`` ranges of its
    file) as one chunk. A range that other ranges of its file follow is read and its lines
    counted first, and the count shared (before any walking, so no other worker waits on this
    one's walk); the lines before a range are the counts of the ``earlier`` ranges of its
    file, so no worker reads the bytes before its range."""
    gc.disable()
    data = {}
    for path, start, end, k, _ in job:
        if end is not None:
            with open(path, "rb") as fh:
                fh.seek(start)
                data[k] = fh.read(end - start)
            _PIECE_LINES[k] = data[k].count(b"\n")
    w = _Walk(codes)
    parts = (_range_records(*r, data.pop(r[3], None)) for r in job)
    return w.pack(w.run(chain.from_iterable(parts)))


def _range_records(path: str, start: int, end: int | None, k: int, earlier: list, data):
    """The records of range ``k`` of a file (``data``: its bytes, when read already)."""
    before = None if start else 0
    deadline = time.monotonic() + _COUNT_WAIT
    while before is None and earlier and time.monotonic() < deadline:
        got = [_PIECE_LINES[j] for j in earlier]
        if min(got) >= 0:
            before = sum(got)
        else:
            time.sleep(0.0005)
    yield from _file_records(Path(path), None, start, end, before, data)


def _read_parallel(records: _Records, codes: _Codes, min_bytes: int | None = None):
    """The chunks of an export walked by worker processes (each parses and walks its ranges
    of lines with orjson; the chunks are merged in record order, so the result is the one
    process's; the files are not hashed); ``None`` when it reads in one process:
    parsed resources, an export smaller than ``PARALLEL_MIN_BYTES``, one CPU, no ``fork``
    (the workers inherit the instrument registry), or a daemon process."""
    if min_bytes is None:
        min_bytes = PARALLEL_MIN_BYTES
    files = records.files
    workers = _workers()
    if (
        not files
        or workers < 2
        or "fork" not in mp.get_all_start_methods()
        or mp.current_process().daemon
        or sum(p.stat().st_size for p in files) < min_bytes
    ):
        return None
    jobs, ranges = [], []  # each range numbered across the jobs, with its file's earlier ones
    for job in _tasks(files, workers):
        jobs.append([])
        for path, start, end in job:
            earlier = [j for j, r in enumerate(ranges) if r[0] == path]
            jobs[-1].append((path, start, end, len(ranges), earlier))
            ranges.append((path, start, end))
    ctx = mp.get_context("fork")
    counts = ctx.Array("q", [-1] * len(ranges), lock=False)
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork in threaded processes
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = ProcessPoolExecutor(
            min(workers, len(jobs)), ctx, initializer=_share_counts, initargs=(counts,)
        )
        try:
            futures = [pool.submit(_walk_ranges, job, codes) for job in jobs]
        except Exception:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    try:
        chunks = [f.result() for f in futures]  # in record order, whichever finished first
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    records.n = sum(c.n for c in chunks)
    return chunks


def _build(m: _Chunk, records: _Records, codes: _Codes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long frame and origin of a walked export (:func:`fhir_to_long`)."""
    source = records.name
    if not records.n:
        raise LoadError(f"{source}: the FHIR export has no resources.")
    blank = [None] * codes.width
    n_members, made = _combine(m.panels, m.members, m.items, blank)
    extra = m.panels  # rows, appended with the groups' columns, then all in record order
    n_made = len(made["rec"])
    if not len(m.rec) and not extra and not n_made:
        found = ", ".join(f"{k} {v:,}" for k, v in sorted(m.context.items()))
        raise LoadError(
            f"{source}: the FHIR export has no QuestionnaireResponse or Observation resources "
            f"(found: {found}). Export them too (Bulk Data: $export?_type=QuestionnaireResponse,"
            "Observation,EpisodeOfCare,Patient)."
        )
    rec, cols, values, problems = m.rec, m.cols, m.values, m.problems
    if extra or n_made:
        n0 = len(rec)
        names = ("label", "pid", "inst", "date", "enc", "ep")
        rec = np.concatenate([rec, np.array([a[0] for a in extra], dtype=np.int64), made["rec"]])
        cols = [
            np.concatenate([c, _objects([a[j] for a in extra]), made[k]])
            for j, (k, c) in enumerate(zip(names, cols, strict=True), 1)
        ]
        more = list(zip(*[a[7] or blank for a in extra], strict=True)) or [()] * len(blank)
        values = [
            np.concatenate([v, _numbers(np.concatenate([_objects(x), y]))])
            for v, x, y in zip(values, more, made["values"], strict=True)
        ]
        problems = problems + [(n0 + k, a[8]) for k, a in enumerate(extra) if a[8] is not None]
        order = np.argsort(rec, kind="stable")  # stable: a form's instruments stay in order
        rec, cols, values = rec[order], [c[order] for c in cols], [v[order] for v in values]
        moved = np.empty(len(order), dtype=np.int64)
        moved[order] = np.arange(len(order))
        problems = sorted((int(moved[i]), p) for i, p in problems)
    label, pid, inst, date, enc, direct = cols
    n = len(rec)
    present = set(inst.tolist()) - {None}
    k_max = max((codes.n_items[i] for i in present), default=0)
    days = _days(date)
    long = pd.DataFrame(
        {
            "patient_id": pd.Series(pid, dtype="str"),
            "instrument": pd.Series(inst, dtype=object),
            "assessment_date": _dates(date, days),
        }
    )
    for j in range(1, k_max + 1):
        long[f"item_{j}"] = _numbers(values[j])
    long["total"] = _numbers(values[0])
    _episodes(long, m, enc, direct, days)
    origin = pd.DataFrame(
        {
            "source_row": rec,
            "source_column": pd.Series(label, dtype=object),
            "instrument": pd.Series(inst, dtype=object),
        }
    )
    quarantine = []
    for kind, (reason, fix) in _PROBLEMS.items():
        pos = [i for i, p in problems if p[0] == kind]
        if pos:
            mask = np.zeros(n, dtype=bool)
            mask[pos] = True
            detail = pd.Series([p[1] for _, p in problems if p[0] == kind], index=pos, dtype=object)
            quarantine.append((mask, "*", reason, fix, detail))
    origin.attrs["quarantine"] = quarantine
    n_context = sum(m.context.values())
    notes = []
    if n_members:
        notes.append(
            f"{n_members:,} item / total Observation(s) were combined into the administration "
            "of their panel (hasMember) or of their patient, date and instrument; they have no "
            "ledger row of their own (the administration's row stands for them)"
        )
    if n_context:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(m.context.items()))
        notes.append(
            f"{n_context:,} FHIR resource(s) carry context, not scores, and have no ledger row "
            f"({kinds}); EpisodeOfCare and multi-day Encounter periods give the episodes"
        )
    if m.unused_episodes:
        notes.append(
            f"{m.unused_episodes:,} EpisodeOfCare resource(s) lack an id, a Patient or a "
            "period.start that is a date (YYYY-MM-DD, a day of the calendar) and give no episode"
        )
    origin.attrs["notes"] = notes
    origin.attrs["rows_without_scores"] = 0
    origin.attrs["accounting"] = {
        "records": records.n,
        "ledgered": int(n and 1 + np.count_nonzero(np.diff(rec))),
        "members": n_members,
        "context": dict(sorted(m.context.items())),
    }
    origin.attrs["source"] = source
    if n != len(origin):  # pragma: no cover - internal
        raise AssertionError("internal error: FHIR rows and origin differ")
    return long, origin


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of the values (texts or ``None``)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _numbers(values) -> np.ndarray:
    """Item or total values as floats (``None`` -> NaN) when all are numbers, else as objects
    (answer texts and codes, checked and reported by :func:`iop_outcomes.load`)."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return np.array(values, dtype=object)


def _episodes(long: pd.DataFrame, w: _Chunk, enc, direct, days: np.ndarray) -> None:
    """``episode_id``, ``admit_date``, ``discharge_date`` (module docstring, "Episodes");
    ``days``: the assessment dates (:func:`_days`)."""
    eps = {e[0]: e for e in w.episodes}  # id -> (id, pid, start, end)
    enc_ep: dict = {}
    for ref, (eoc, pid, start, end) in w.encounters.items():
        if eoc and eoc.startswith("EpisodeOfCare/") and eoc[14:] in eps:
            enc_ep[ref] = eoc[14:]
        elif pid and start and end and end > start and ref[10:] not in eps:
            eps.setdefault(ref[10:], (ref[10:], pid, start, end))
            enc_ep[ref] = ref[10:]
    if not eps:
        return
    # episodes sorted by (patient, start), as positions; the last position (n_e) is "none"
    table = sorted(eps.values(), key=lambda e: (e[1], e[2], e[0]))
    n_e = len(table)
    e_ids, _, e_start, e_end = (_objects([*x, None]) for x in zip(*table, strict=True))
    where = {e_id: k for k, e_id in enumerate(e_ids[:n_e])}
    e_day = e_start[:n_e].astype("datetime64[D]").astype(np.int64)
    # patients as codes: the episodes' patients first (0, 1, ... in table order, as sorted)
    pid = long["patient_id"].to_numpy(dtype=object)
    code = pd.factorize(np.concatenate([_objects([e[1] for e in table]), pid]))[0]
    e_pat, a_pat = code[:n_e], code[n_e:].astype(np.int64)
    a_pat[a_pat > e_pat[-1]] = -1  # a patient without episodes
    a_ok = ~np.isnat(days)
    a_day = days.astype(np.int64)
    # the latest episode starting no later than DAYS_BEFORE_EPISODE after the assessment ...
    span = 1 << 32
    e_key = e_pat * span + (e_day - e_day.min())
    key = a_pat * span + (a_day - e_day.min() + DAYS_BEFORE_EPISODE)
    at = np.searchsorted(e_key, key, side="right") - 1
    hit = a_ok & (a_pat >= 0) & (at >= 0) & (e_pat[np.maximum(at, 0)] == a_pat)
    # ... else the patient's first episode
    first = np.searchsorted(e_pat, a_pat, side="left")
    pos = np.where(hit, at, np.where(a_pat >= 0, first, n_e))
    if enc_ep:  # encounter -> episode
        linked = _positions(enc, {ref: where[e] for ref, e in enc_ep.items()}, n_e)
        pos = np.where(linked < n_e, linked, pos)
    linked = _positions(direct, where, n_e)  # basedOn EpisodeOfCare
    pos = np.where(linked < n_e, linked, pos)
    has_pid = pd.notna(pid)
    pos[~has_pid] = n_e
    ep = e_ids[pos]
    none = (pos == n_e) & has_pid  # patients without episodes: one each
    if none.any():
        ep[none] = np.array([f"Patient/{p}" for p in pid[none]], dtype=object)
    long["episode_id"] = pd.Series(ep, dtype="str", index=long.index)
    long["admit_date"] = _dates(e_start, _days(e_start), pos)
    long["discharge_date"] = _dates(e_end, _days(e_end), pos)


def _positions(keys: np.ndarray, where: dict, missing: int) -> np.ndarray:
    """The position ``where`` gives each key (texts or ``None``; ``missing`` when absent)."""
    out = np.full(len(keys), missing, dtype=np.int64)
    given = np.flatnonzero(pd.notna(keys))
    if len(given):
        codes, uniques = pd.factorize(keys[given])
        out[given] = np.array([where.get(u, missing) for u in uniques], dtype=np.int64)[codes]
    return out


def _dates(texts: np.ndarray, days: np.ndarray, at: np.ndarray | None = None) -> pd.Series:
    """A date column (of ``texts[at]``): typed when every text is a day (``days``, their
    :func:`_days`), so that :func:`iop_outcomes.load` need not read them again; else the
    texts, for it to name the ones that are not."""
    typed = np.isnat(days).sum() == pd.isna(texts).sum()
    out = days.astype("datetime64[ns]") if typed else texts
    return pd.Series(out if at is None else out[at], dtype=None if typed else object)


def _days(dates: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` texts (or ``None``) as ``datetime64[D]`` (NaT: none, or no such day)."""
    codes, uniques = pd.factorize(dates)
    got = pd.to_datetime(uniques, format="%Y-%m-%d", errors="coerce").to_numpy()
    return np.append(got.astype("datetime64[D]"), np.datetime64("NaT"))[codes]


def read_fhir(data, *, name: str | None = None, **_reader_options) -> FhirSource:
    """Read a FHIR export into a :class:`FhirSource` (for :func:`iop_outcomes.load`).

    The table readers' options (``sheet``, ``skip_rows``, ...) do not apply to JSON and are
    ignored. See :func:`fhir_to_long`.

    Examples
    --------
    >>> src = read_fhir([{"resourceType": "QuestionnaireResponse", "id": "q1",
    ...     "status": "completed", "subject": {"reference": "Patient/7"},
    ...     "authored": "2025-02-03", "item": [{"linkId": "70274-6",
    ...     "answer": [{"valueInteger": 6}]}]}], name="demo")
    >>> src.name, len(src.frame), src.frame.loc[0, "instrument"], float(src.frame.loc[0, "total"])
    ('demo', 1, 'GAD-7', 6.0)
    """
    long, origin = fhir_to_long(data, name)
    return FhirSource(
        frame=long,
        name=origin.attrs["source"],
        sha256=origin.attrs["sha256"],
        kind="fhir",
        origin=origin,
    )
