"""iop.load(source="fhir"): FHIR R4 Bulk Data NDJSON, Bundles and resource lists.

The fixture ``tests/fhir/export/`` is a hand-written Bulk Data export (one NDJSON file per
resource type) of four patients: QuestionnaireResponses answered with LOINC answer codes, with
an ordinalValue extension, with integers and with LHC-Forms nested linkIds; Observation panels
with components and with hasMember item Observations; item Observations without a panel;
total-only Observations; EpisodeOfCare and Encounter resources; and four unusable records (a
truncated JSON line, a PHQ-2 total code, an Observation without subject, an in-progress
response). ``tests/fhir/export_as_long.csv`` holds the same administrations written by hand in
the data contract's long format.
"""

import gzip
import importlib
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, LoadError
from iop_outcomes.io.fhir import fhir_to_long, read_fhir

HERE = Path(__file__).parent / "fhir"
EXPORT, TIDY = HERE / "export", HERE / "export_as_long.csv"
FILES = ["Patient", "EpisodeOfCare", "Encounter", "QuestionnaireResponse", "Observation"]


def _load(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(data, source="fhir", **kw)


def _resources() -> list:
    """The fixture's parsed resources (without its truncated line), in directory order."""
    out = []
    for p in sorted(EXPORT.glob("*.ndjson")):
        for line in p.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


@pytest.fixture(scope="module")
def res():
    return _load(EXPORT)


def test_fixture_dispositions_and_accounting(res):
    assert res.counts() == {"accepted": 17, "repaired": 0, "quarantined": 4}
    _, origin = fhir_to_long(EXPORT)
    acc = origin.attrs["accounting"]
    # 48 records = 21 ledger rows + 16 combined Observations + 11 context resources (by hand:
    # panel 2 lists 9 items and its total; 1003's seven GAD-7 item Observations are one
    # administration, its first item standing for the other six)
    assert acc == {
        "records": 48,
        "ledgered": 21,
        "members": 16,
        "context": {"Encounter": 2, "EpisodeOfCare": 5, "Patient": 4},
    }
    assert acc["records"] == acc["ledgered"] + acc["members"] + sum(acc["context"].values())
    assert sum(1 for p in EXPORT.glob("*.ndjson") for _ in p.open()) == 48
    notes = res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()
    assert any(n.startswith("16 item / total Observation(s) were combined") for n in notes)
    assert any("(Encounter 2, EpisodeOfCare 5, Patient 4)" in n for n in notes)


def test_quarantined_records_name_file_line_and_reason(res):
    q = res.ledger[res.ledger["disposition"] == "quarantined"]
    got = dict(zip(q["column"].astype(str), q["reason"].astype(str), strict=True))
    assert got["Observation.ndjson:5"].startswith(
        "not valid JSON: line 5 of Observation.ndjson (unexpected end of data"
    )
    assert got["Observation.ndjson:16 Observation/obs-1002-phq2"].startswith(
        "not a PHQ-9 / GAD-7 LOINC code: http://loinc.org|55758-7 (Patient Health Questionnaire "
        "2 item (PHQ-2) total score [Reported])"
    )
    assert got["Observation.ndjson:28 Observation/obs-nosubject"].startswith(
        "no Patient subject: no subject reference"
    )
    assert got["QuestionnaireResponse.ndjson:7 QuestionnaireResponse/qr-1003-phq-partial"] == (
        "status 'in-progress'; too many missing PHQ-9 items (2 of 9 answered; the rule allows 2 "
        "missing)"
    )
    # ledger rows are record numbers in directory order (Encounter, EpisodeOfCare, Observation,
    # Patient, QuestionnaireResponse): Observation.ndjson line 5 is record 2 + 5 + 5 = 12
    assert q["row"].tolist() == [12, 23, 35, 46]


def test_scores_by_hand(res):
    d = res.data.set_index(["patient_id", "instrument", "assessment_date"])["total"]
    day = pd.Timestamp
    by_hand = {  # sums of the answers written in the fixture
        ("1001", "PHQ-9", day("2025-01-06")): 2 + 3 + 2 + 2 + 1 + 2 + 1 + 1 + 0,  # LA codes
        ("1001", "GAD-7", day("2025-01-06")): 2 + 2 + 3 + 1 + 1 + 2 + 1,
        ("1002", "PHQ-9", day("2025-01-13")): 3 + 2 + 3 + 2 + 2 + 2 + 1 + 1 + 0,  # components
        ("1002", "PHQ-9", day("2025-02-21")): 1 + 1 + 2 + 1 + 1 + 0 + 1 + 0 + 0,  # hasMember
        ("1003", "PHQ-9", day("2025-02-03")): 2 + 2 + 2 + 1 + 1 + 1 + 1 + 1 + 0,  # ordinalValue
        ("1003", "GAD-7", day("2025-02-03")): 1 + 2 + 1 + 1 + 0 + 1 + 0,  # item Observations
        ("1004", "PHQ-9", day("2025-03-03")): 3 + 3 + 2 + 2 + 2 + 2 + 2 + 1 + 1,  # nested linkIds
        ("1004", "PHQ-9", day("2024-10-07")): 19,  # valueQuantity
    }
    for key, total in by_hand.items():
        assert d.loc[key] == total, key
    safety = res.data.loc[res.data["safety_flag"].fillna(False).astype(bool), "patient_id"]
    assert safety.tolist() == ["1004"]  # item 9 answered "Several days" (LA6569-3)


@pytest.mark.parametrize("instrument", ["PHQ-9", "GAD-7"])
def test_same_episodes_as_the_tidy_long_file(res, instrument):
    tidy = _load_tidy()
    a = iop.episodes(res.data, instrument=instrument)
    b = iop.episodes(tidy.data, instrument=instrument)
    assert len(a) == 5  # every episode, with or without this instrument
    a, b = (x.sort_values("episode_id").reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False)


def _load_tidy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(TIDY)


def test_episodes_from_encounter_period_and_dates(res):
    ep = res.data.drop_duplicates("episode_id").set_index("episode_id")
    # 1004 has two EpisodeOfCare: total Observations find theirs by date (no encounter)
    assert ep.loc["eoc-1004-a", "discharge_date"] == pd.Timestamp("2024-11-15")
    assert pd.isna(ep.loc["eoc-1004-b", "discharge_date"])  # open episode: no end
    fu = res.data[(res.data["patient_id"] == "1001") & (res.data["total"] == 3)]
    assert fu["episode_id"].tolist() == ["eoc-1001-a"]  # a follow-up after discharge


def test_directory_single_file_gzip_bundle_and_list_agree(tmp_path, res):
    lines = b"".join((EXPORT / f"{k}.ndjson").read_bytes() for k in FILES)
    one = tmp_path / "all.ndjson"
    one.write_bytes(lines)
    gz = tmp_path / "all.ndjson.gz"
    gz.write_bytes(gzip.compress(lines))
    resources = _resources()
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    for r in resources:  # Bundle references by urn:uuid fullUrl, resolved within the Bundle
        bundle["entry"].append(
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r}
        )
    text = json.dumps(bundle)
    for r in resources:
        text = text.replace(
            f'"reference": "{r["resourceType"]}/{r["id"]}"',
            f'"reference": "urn:uuid:{r["resourceType"]}-{r["id"]}"',
        )
    assert "urn:uuid:Patient-1001" in text
    bjson = tmp_path / "bundle.json"
    bjson.write_text(text)
    cols = ["patient_id", "episode_id", "instrument", "assessment_date", "total"]

    def key(r):
        return r.data[cols].sort_values(cols[:4]).reset_index(drop=True)

    for other in (_load(one), _load(gz), _load(bjson), _load(resources)):
        pd.testing.assert_frame_equal(key(other), key(res))
    assert _load(gz).sha256 == __import__("hashlib").sha256(gz.read_bytes()).hexdigest()
    assert _load(one).counts()["quarantined"] == 4
    assert _load(resources).counts()["quarantined"] == 3  # the truncated line is not a dict
    b = _load(bjson)
    assert b.ledger["column"].astype(str).iloc[0].startswith("bundle.json:entry ")


def test_answer_forms_and_unknown_answer_code():
    def qr(i, answer):
        return {
            "resourceType": "QuestionnaireResponse", "id": f"q{i}", "status": "completed",
            "subject": {"reference": f"https://ehr.example.org/fhir/Patient/p{i}/_history/2"},
            "authored": "2025-03-01",
            "item": [{"linkId": "69725-0", "answer": [answer]}]
            + [{"linkId": c, "answer": [{"valueInteger": 1}]}
               for c in ["68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]]
            + [{"linkId": "69726-8", "answer": [{"valueCoding": {"code": "LA6572-7"}}]}],
        }  # fmt: skip

    answers = [
        {"valueCoding": {"system": "http://loinc.org", "code": "LA6571-9"}},  # 3
        {
            "valueCoding": {
                "code": "x",
                "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": 2}
                ],
            }
        },  # fmt: skip
        {"valueCoding": {"code": "x9", "display": "More than half the days"}},  # 2 (answer text)
        {"valueDecimal": 1},
        {"valueString": "Nearly every day"},
        {"valueCoding": {"system": "http://loinc.org", "code": "LA9999-9"}},  # not an answer
    ]
    res = _load([qr(i, a) for i, a in enumerate(answers)])
    assert res.data["patient_id"].tolist() == ["p0", "p1", "p2", "p3", "p4"]
    assert res.data["total"].tolist() == [9, 8, 8, 7, 9]  # item 1 + six items of 1
    bad = res.ledger.iloc[5]
    assert bad["disposition"] == "quarantined" and "LA9999-9" in bad["reason"]


def test_panel_components_win_and_members_of_other_patients_are_not_taken():
    loinc = "http://loinc.org"

    def obs(id_, code, pid="1", **kw):
        return {"resourceType": "Observation", "id": id_, "status": "final",
                "code": {"coding": [{"system": loinc, "code": code}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": "2025-01-02T10:00:00Z", **kw}  # fmt: skip

    panel = obs(
        "p", "69737-5", component=[{"code": {"coding": [{"code": "69725-0"}]}, "valueInteger": 3}],
        hasMember=[{"reference": "Observation/m1"}, {"reference": "Observation/m2"},
                   {"reference": "Observation/m3"}, {"reference": "Observation/gone"}],
    )  # fmt: skip
    m1 = obs("m1", "69725-0", valueInteger=0)  # component wins over this member
    m2 = obs("m2", "70274-6", valueInteger=5)  # the total
    m3 = obs("m3", "68509-9", pid="2", valueInteger=2)  # another patient's: its own row
    long, origin = fhir_to_long([panel, m1, m2, m3])
    assert long["item_1"].tolist()[0] == 3 and long["total"].tolist()[0] == 5
    assert origin.attrs["accounting"]["members"] == 2
    assert long["patient_id"].tolist() == ["1", "2"]


def test_empty_panel_partial_date_and_context_only_inputs():
    panel = {"resourceType": "Observation", "id": "p", "status": "final",
             "code": {"coding": [{"code": "44249-1"}]}, "subject": {"reference": "Patient/1"},
             "effectiveDateTime": "2025-01"}  # fmt: skip
    res = _load([panel, {**panel, "id": "q", "effectiveDateTime": "2025-01-05"}])
    assert res.ledger["reason"].astype(str).str.split(";").str[0].tolist() == [
        "no full assessment date: effective '2025-01'",
        "no item or total value: panel Observation/q",
    ]
    with pytest.raises(LoadError, match="no QuestionnaireResponse or Observation"):
        _load([{"resourceType": "Patient", "id": "1"}])
    with pytest.raises(LoadError, match="has no resources"):
        fhir_to_long([])


def test_episode_periods_that_are_no_days():
    # an EpisodeOfCare starting on no day of the calendar gives no episode (counted in a note;
    # it used to crash the load); one ending on no day keeps its rows, quarantined by load as
    # a tidy file's discharge_date '2025-13-01' would be
    def eoc(i, start, end=None):
        return {"resourceType": "EpisodeOfCare", "id": f"e{i}", "patient": {
            "reference": f"Patient/{i}"}, "period": {"start": start, "end": end}}  # fmt: skip

    total = {"resourceType": "Observation", "status": "final", "valueInteger": 7,
             "code": {"coding": [{"code": "44261-6"}]}, "effectiveDateTime": "2025-03-01"}  # fmt: skip
    res = _load([eoc(1, "2025-02-30"), eoc(2, "2025-02-03", "2025-13-01"),
                 {**total, "id": "t1", "subject": {"reference": "Patient/1"}},
                 {**total, "id": "t2", "subject": {"reference": "Patient/2"}}])  # fmt: skip
    assert res.counts() == {"accepted": 1, "repaired": 0, "quarantined": 1}
    assert res.data["episode_id"].tolist() == ["Patient/1"]
    bad = res.ledger[res.ledger["disposition"] == "quarantined"].iloc[0]
    assert (bad["row"], bad["value"]) == (4, "2025-13-01")
    assert bad["reason"].startswith("discharge_date '2025-13-01' is not a valid date")
    assert any("1 EpisodeOfCare resource(s) lack" in n for n in res.summary().notes)


def test_wrong_inputs_and_options(tmp_path):
    with pytest.raises(
        ConfigError, match="'source' parameter of iop.load must be 'redcap', 'fhir'"
    ):
        iop.load(EXPORT, source="hl7")
    with pytest.raises(ConfigError, match="not to source='fhir'"):
        iop.load(EXPORT, source="fhir", dictionary="d.csv")
    with pytest.raises(ConfigError, match="cannot be combined"):
        iop.load(EXPORT, source="fhir", wide=True)
    with pytest.raises(LoadError, match="does not exist"):
        read_fhir(tmp_path / "missing.ndjson")
    with pytest.raises(LoadError, match="has no FHIR files"):
        read_fhir(tmp_path)
    with pytest.raises(LoadError, match="'export_raw.csv' is not a FHIR export"):
        iop.load(Path(__file__).parent / "redcap" / "export_raw.csv", source="fhir")
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(LoadError, match="b.json is not valid JSON"):
        read_fhir(tmp_path / "b.json")
    (tmp_path / "x.ndjson").write_text('[1, 2]\n\n"text"\n{"id": 1}\n')
    res = _load(tmp_path / "x.ndjson")
    assert res.ledger["row"].tolist() == [1, 2, 3]  # the blank line is not a record
    assert res.ledger["reason"].astype(str).str.split(";").str[0].tolist() == [
        "not a FHIR resource: a JSON list",
        "not a FHIR resource: a JSON str",
        "not a FHIR resource: a JSON object without resourceType",
    ]
    assert res.ledger["column"].astype(str).tolist() == ["x.ndjson:1", "x.ndjson:3", "x.ndjson:4"]


def _same_read(a, b):
    """Two reads give the same long frame, origin (with its attrs) and LoadResult."""
    for x, y in zip(a[:2], b[:2], strict=True):
        pd.testing.assert_frame_equal(x, y)
    assert repr(a[1].attrs) == repr(b[1].attrs)
    ra, rb = a[2], b[2]
    for k in ("data", "ledger", "problems"):
        pd.testing.assert_frame_equal(getattr(ra, k), getattr(rb, k))
    assert ra.sha256 == rb.sha256 and ra.counts() == rb.counts()


def test_parallel_read_is_the_one_process_read(tmp_path, monkeypatch):
    from iop_outcomes.io._fhir import parallel as fhir

    lines = b"".join((EXPORT / f"{k}.ndjson").read_bytes() for k in FILES)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:7", "resource": {"resourceType": "Patient", "id": "7"}},
        {"resource": {"resourceType": "Observation", "id": "b1", "status": "final",
                      "code": {"coding": [{"code": "44261-6"}]},
                      "subject": {"reference": "urn:uuid:7"}, "effectiveDateTime": "2025-01-02",
                      "valueInteger": 4}}, {"fullUrl": "x"}]}  # fmt: skip
    extra = b"\n[1, 2]\n\n" + json.dumps(bundle).encode() + b'\n{"id": 1}\n{"resourceType": "Ob'
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "all.ndjson").write_bytes(lines + extra)  # no newline at its end
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "a.ndjson.gz").write_bytes(gzip.compress(lines))
    (tmp_path / "gz" / "b.ndjson").write_bytes(extra + b"\n")
    used = []

    def spy(*args):
        chunks = read_parallel(*args)
        used.append(chunks is not None and len(chunks))
        return chunks

    read_parallel = fhir.read_parallel
    monkeypatch.setattr(fhir, "read_parallel", spy)
    for data in (EXPORT, tmp_path / "one", tmp_path / "one" / "all.ndjson", tmp_path / "gz"):
        one = (*fhir_to_long(data), _load(data))
        assert used[-2:] == [False, False]  # a small export: read in this process
        with monkeypatch.context() as m:
            m.setattr(fhir, "PARALLEL_MIN_BYTES", 0)  # forced on
            m.setattr(fhir, "_workers", lambda: 3)  # cut in 6 pieces: lines and a Bundle split
            many = (*fhir_to_long(data), _load(data))
        assert used[-1] >= 2 and used[-2] >= 2  # pieces read by worker processes
        _same_read(one, many)
        with monkeypatch.context() as m:  # no shared line counts: each piece counts its own
            m.setattr(fhir, "PARALLEL_MIN_BYTES", 0)
            m.setattr(fhir, "_workers", lambda: 3)
            m.setattr(fhir, "_COUNT_WAIT", 0.0)
            _same_read(one, (*fhir_to_long(data), _load(data)))
    assert one[1].attrs["accounting"]["records"] == 48 + 2 + 4  # the Bundle's three entries


def test_parallel_pieces_end_at_line_ends(tmp_path):
    # the jobs of the worker processes: ranges of the files in order, cut at line ends
    from iop_outcomes.io._fhir.parallel import _tasks

    p = tmp_path / "x.ndjson"
    p.write_bytes(b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 7)) for i in range(50)))
    q = tmp_path / "y.ndjson.gz"
    q.write_bytes(gzip.compress(b"{}\n" * 100))
    jobs = _tasks([p, q], 4)
    assert 4 <= len(jobs) <= 2 * 4 + 1 and all(jobs)  # about two jobs per worker
    tasks = [r for job in jobs for r in job]
    data = p.read_bytes()
    starts = [t[1] for t in tasks if t[0] == str(p)]
    assert starts[0] == 0 and len(starts) > 4 and starts == sorted(set(starts))
    assert all(data[s - 1 : s] == b"\n" for s in starts[1:])
    ends = [t[2] for t in tasks if t[0] == str(p)]
    assert ends == starts[1:] + [None]
    assert tasks[-1] == (str(q), 0, None)  # a gzip file: whole


def test_strict_names_the_problems():
    with pytest.raises(LoadError, match=r"Observation.ndjson:5.*not valid JSON"):
        iop.load(EXPORT, source="fhir", strict=True)


def test_cli_validate_fhir(capsys):
    from iop_outcomes.cli import main

    code = main(["validate", str(EXPORT), "--source", "fhir"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "quarantined" in out and "17" in out


# ------------------------------------------------------------------ the ledger invariant
_PHQ = iop.instruments.get("PHQ-9").loinc_items
_DAYS = ["2025-01-06", "2025-01-06T10:00:00+01:00", "2025-02", None, 7]


@st.composite
def _resource(draw, i: int):
    kind = draw(st.sampled_from(["qr", "total", "item", "panel", "context", "bad", "other"]))
    pid = draw(st.sampled_from(["1", "2", None]))
    subject = {"subject": {"reference": f"Patient/{pid}"}} if pid else {}
    day = draw(st.sampled_from(_DAYS))
    if kind == "qr":
        n = draw(st.integers(0, 9))
        items = [{"linkId": c, "answer": [{"valueInteger": draw(st.integers(0, 4))}]}
                 for c in _PHQ[:n]]  # fmt: skip
        status = draw(st.sampled_from(["completed", "in-progress"]))
        return {"resourceType": "QuestionnaireResponse", "id": str(i), "status": status,
                "authored": day, "item": items, **subject}  # fmt: skip
    if kind in ("total", "item", "panel", "other"):
        code = {"total": "44261-6", "item": draw(st.sampled_from(_PHQ)), "panel": "44249-1",
                "other": "8867-4"}[kind]  # fmt: skip
        r = {"resourceType": "Observation", "id": str(i), "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
             "effectiveDateTime": day, **subject}  # fmt: skip
        if kind != "panel":
            r["valueInteger"] = draw(st.integers(0, 30))
        else:
            r["hasMember"] = [{"reference": f"Observation/{j}"}
                              for j in draw(st.lists(st.integers(0, 12), max_size=4))]  # fmt: skip
        return r
    if kind == "context":
        return draw(st.sampled_from([
            {"resourceType": "Patient", "id": "1"},
            {"resourceType": "EpisodeOfCare", "id": f"e{i}", "patient": {"reference": "Patient/1"},
             "period": {"start": "2025-01-02", "end": "2025-02-20"}},
            {"resourceType": "Condition", "id": str(i)}]))  # fmt: skip
    return draw(st.sampled_from(["{not json", "[]", '{"id": 3}']))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_ledger_invariant_property(data):
    n = data.draw(st.integers(1, 12))
    lines = []
    for i in range(n):
        r = data.draw(_resource(i))
        lines.append(r if isinstance(r, str) else json.dumps(r))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.ndjson"
        path.write_text("\n".join(lines) + "\n")
        try:
            long, origin = fhir_to_long(path)
        except LoadError as exc:  # nothing to score: only context resources
            assert "no QuestionnaireResponse or Observation" in str(exc)
            return
        res = _load(path)
    acc = origin.attrs["accounting"]
    led = res.ledger
    # every record is accounted for exactly once: a ledger row, a combined member, or context
    assert acc["records"] == n
    assert acc["records"] == acc["ledgered"] + acc["members"] + sum(acc["context"].values())
    assert led["row"].nunique() == acc["ledgered"]
    assert len(led) == len(long) and set(led["row"]) <= set(range(1, n + 1))
    c = res.counts()
    assert c["accepted"] + c["repaired"] + c["quarantined"] == len(led)
    assert c["accepted"] + c["repaired"] == len(res.data)
    assert led["row"].is_monotonic_increasing
    assert np.all(led.loc[led["disposition"] == "quarantined", "reason"].notna())


def test_an_instrument_registered_as_a_copy_does_not_take_the_builtin_codes(monkeypatch):
    """An instrument registered from a copy of the PHQ-9 (with its LOINC codes, as a test of
    another module did) left FHIR responses read as that copy, depending on test order: a code
    claimed twice stays with the first registered, the built-in PHQ-9."""
    from iop_outcomes import instruments

    reg = importlib.import_module("iop_outcomes.instruments")
    monkeypatch.setattr(reg, "_REGISTRY", dict(reg._REGISTRY))
    for name in [a for a in vars(reg) if a.startswith("_ALIAS")]:
        monkeypatch.setattr(reg, name, dict(getattr(reg, name)))
    d = instruments.get("PHQ-9").__dict__.copy()
    d.update(name="COPY-OF-PHQ", aliases=())
    d["bands"] = [list(b) for b in d["bands"]]
    instruments.register({k: v for k, v in d.items() if v is not None}, replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iop.load(EXPORT, source="fhir")
    assert set(res.data["instrument"].astype(str)) == {"PHQ-9", "GAD-7"}
