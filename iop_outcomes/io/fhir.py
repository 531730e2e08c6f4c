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
cut into about two jobs per CPU of equal estimated work (:func:`iop_outcomes.io._fhir.parallel._tasks`; uncompressed NDJSON
files cut at line ends, gzip and Bundle ``.json`` files whole), and worker processes (the
``fork`` start method, so on Linux) parse and walk them; each returns its administrations as
columns (:class:`Chunk`), merged in record order, so record numbers, ledger and results are
the one-process read's (``tests/test_fhir.py``). The files are hashed afterwards, in a thread,
while this process builds the table (the workers have both CPUs while they walk). Smaller
exports, parsed resources, one CPU, or no ``fork``: one process.
"""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from .._validation import validate_params
from ._fhir import parallel
from ._fhir.build import build_long
from ._fhir.records import Records
from ._fhir.walk import Chunk, Codes, Walk
from .readers import RawSource

__all__ = ["read_fhir", "fhir_to_long", "FhirSource"]


@dataclass(frozen=True)
class FhirSource(RawSource):
    """What :func:`read_fhir` returns: the long frame of :func:`fhir_to_long` as ``frame``,
    with its ``origin`` (record number and resource of each row)."""

    origin: pd.DataFrame | None = None


@validate_params({"data": ["no_validation"], "name": [str, None]})
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
    records = Records(data, name)
    codes = Codes.build()
    enabled = gc.isenabled()
    gc.disable()  # millions of small dicts and lists, none cyclic: the collector only costs time
    try:
        chunks = parallel.read_parallel(records, codes)
        if chunks is None:  # read in this process, which hashes the bytes as it reads them
            w = Walk(codes)
            records.n = w.run(records)
            long, origin = build_long(w.pack(records.n), records, codes)
        else:  # the files hashed on another CPU while this one builds (hashlib frees the GIL)
            with ThreadPoolExecutor(1) as hashing:
                hashed = hashing.submit(records.hash_files)
                long, origin = build_long(Chunk.merge(chunks), records, codes)
                hashed.result()
        origin.attrs["sha256"] = records.sha256
        return long, origin
    finally:
        if enabled:
            gc.enable()


@validate_params(
    {"data": ["no_validation"], "name": [str, None], "_reader_options": ["no_validation"]}
)
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
