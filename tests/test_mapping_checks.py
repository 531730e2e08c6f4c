"""Mapping mistakes are caught, never silent (issue 10): one hand-written case per rule.

Each message is a snapshot (the whole text), and every load checks the ledger invariant: one
ledger row per input row, ``accepted + repaired + quarantined == rows read``.
"""

import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_load import frame

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, IOPWarning, LoadError


def load(df, **kw):
    """iop.load without warnings, checking the ledger invariant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = iop.load(df, **kw)
    return invariant(res, len(df))


def invariant(res, n):
    c = res.counts()
    assert c["accepted"] + c["repaired"] + c["quarantined"] == n == len(res.ledger)
    assert res.ledger["row"].tolist() == list(range(1, n + 1))
    assert len(res.data) == c["accepted"] + c["repaired"]
    return res


def toml(tmp_path, text, name="m.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def file_level(res):
    p = res.problems[res.problems["row"] == 0]
    return list(zip(p["severity"], p["column"].astype(str), p["reason"], p["fix"], strict=True))


# ---------------------------------------------------------------- errors (ConfigError)


def test_unknown_section_is_an_error_naming_the_file_and_the_nearest_section(tmp_path):
    m = toml(tmp_path, '[columns]\nClient = "patient_id"\n[valeus.format]\nZoom = "virtual"\n')
    with pytest.raises(ConfigError) as exc:
        iop.load(frame(), mapping=m)
    assert str(exc.value) == (
        f"Mapping file {str(m)!r}: unknown section [valeus]. Did you mean [values]? A mapping has "
        "the sections [columns], [values.<column>], [instruments.<name>] and [options]."
    )


def test_unknown_option_is_an_error(tmp_path):
    m = toml(tmp_path, '[options]\ndate_fromat = "%d/%m/%Y"\n')
    with pytest.raises(ConfigError) as exc:
        iop.load(frame(), mapping=m)
    assert str(exc.value) == (
        f'Mapping file {str(m)!r}: unknown option [options] "date_fromat" = "%d/%m/%Y". Did you '
        "mean 'date_format'? Known options: date_format, decimal, instrument."
    )


def test_date_format_that_is_no_format_is_an_error():
    with pytest.raises(ConfigError) as exc:
        iop.load(frame(), mapping={"options": {"date_format": "DD/MM/YYYY"}})
    assert str(exc.value) == (
        "Mapping: [options] date_format must be a strptime format such as '%d/%m/%Y'. Got "
        "'DD/MM/YYYY' instead."
    )


def test_entry_outside_any_section_is_an_error(tmp_path):
    m = toml(tmp_path, '"Client ID" = "patient_id"\n[values.format]\nZoom = "virtual"\n')
    with pytest.raises(ConfigError) as exc:
        iop.load(frame(), mapping=m)
    assert str(exc.value) == (
        f'Mapping file {str(m)!r}: the entry "Client ID" = "patient_id" is outside any section. '
        "Put column renames under [columns]."
    )


def test_values_for_a_column_without_labels_is_an_error(tmp_path):
    m = toml(tmp_path, '[values.fromat]\nZoom = "virtual"\n')
    with pytest.raises(ConfigError) as exc:
        iop.load(frame(), mapping=m)
    assert str(exc.value) == (
        f"Mapping file {str(m)!r}: [values.fromat]: 'fromat' is not a column that takes value "
        "synonyms. Did you mean [values.format]? [values.<column>] applies to instrument, "
        "timepoint, format, discharge_status, site, program, cohort, gender_identity, "
        "race_ethnicity, payer."
    )


@pytest.mark.parametrize(
    ("column", "label", "message"),
    [
        (
            "format",
            "virutal",
            "'virutal' is not a format label. Did you mean 'virtual'? Use in_person, virtual or "
            "hybrid.",
        ),
        (
            "discharge_status",
            "complted",
            "'complted' is not a discharge_status label. Did you mean 'completed'? Use completed, "
            "dropped_out, transferred, administrative or ongoing.",
        ),
        (
            "instrument",
            "PHQ-99",
            # the list names every registered instrument (other tests in the same worker may
            # have registered their own), so it is filled in when the test runs
            "'PHQ-99' is not a registered instrument. Did you mean 'PHQ-9' or 'PHQ-8' or 'PHQ-2'? "
            "Use one of {registered}, or register it first with iop.instruments.register().",
        ),
        (
            "timepoint",
            "follow up",
            "'follow up' is not a timepoint. Did you mean 'followup_6m' or 'followup_3m' or "
            "'followup_1m'? Use intake, week_N, discharge, followup_1m, "
            "followup_3m, followup_6m or followup_12m.",
        ),
    ],
)
def test_value_synonym_to_a_label_that_does_not_exist_is_an_error(column, label, message):
    with pytest.raises(ConfigError) as exc:
        iop.load(frame(), mapping={"values": {column: {"Mine": label}}})
    message = message.replace("{registered}", repr(iop.instruments.names()))
    assert str(exc.value) == f'Mapping: [values.{column}] "Mine" = "{label}": {message}'


def test_target_close_to_a_contract_column_is_an_error(tmp_path):
    m = toml(tmp_path, '[columns]\n"Client ID" = "patiend_id"\n')
    df = frame().rename(columns={"patient_id": "Client ID"})
    with pytest.raises(ConfigError) as exc:
        iop.load(df, mapping=m)
    assert str(exc.value) == (
        f'Mapping file {str(m)!r}: [columns] "Client ID" = "patiend_id": \'patiend_id\' is not a '
        "contract column. Did you mean 'patient_id'? Contract columns are listed in "
        "docs/data-format.md; to keep a column under a name of your own, leave it out of the "
        "mapping (columns outside the contract are carried through as they are)."
    )
    # an optional column's typo is caught the same way (it would otherwise be an extra column)
    with pytest.raises(ConfigError, match="Did you mean 'discharge_status'"):
        iop.load(frame(Reason=["done"] * 4), mapping={"Reason": "discharge_staus"})


def test_missing_source_column_of_a_required_target_is_an_error(tmp_path):
    m = toml(tmp_path, '[columns]\n"Cleint ID" = "patient_id"\n')
    df = frame().rename(columns={"patient_id": "Client ID"})
    with pytest.raises(ConfigError) as exc:
        iop.load(df, mapping=m, name="scores.csv")
    assert str(exc.value) == (
        f'Mapping file {str(m)!r}: [columns] "Cleint ID" = "patient_id": no column \'Cleint ID\' '
        "in scores.csv (did you mean 'Client ID'?). scores.csv: required column(s) missing: "
        "patient_id. Columns found: ['client_id', 'instrument', 'assessment_date', 'total']. "
        "Rename your columns with mapping={'your column': 'patient_id', ...} (see "
        "docs/data-format.md)."
    )


# ---------------------------------------------------------------- warnings and notes (file level)


def test_missing_source_column_of_an_optional_target_is_a_warning(tmp_path):
    m = toml(tmp_path, '[columns]\n"Discharge Reasn" = "discharge_status"\n')
    df = frame(**{"Discharge Reason": ["done"] * 4})
    with pytest.warns(IOPWarning) as rec:
        res = invariant(iop.load(df, mapping=m, name="scores.csv"), 4)
    reason = (
        f'mapping file {str(m)!r}: [columns] "Discharge Reasn" = "discharge_status": no column '
        "'Discharge Reasn' in scores.csv (did you mean 'Discharge Reason'?)"
    )
    assert str(rec[0].message) == (
        f"scores.csv: 0 of 4 rows quarantined; {reason}. See result.ledger / result.summary()."
    )
    assert file_level(res) == [
        (
            "warning",
            "Discharge Reasn",
            reason,
            "Correct the column name in the mapping, or remove the entry when this file has no "
            "such column.",
        )
    ]
    assert res.counts()["accepted"] == 4  # the data are read correctly
    with pytest.raises(LoadError, match="no column 'Discharge Reasn'"):
        iop.load(df, mapping=m, strict=True)


def test_missing_source_column_is_a_note_when_its_target_comes_from_another_column():
    """A mapping serving several exports: 'MRN' in one, 'Client ID' in this one."""
    df = frame().rename(columns={"patient_id": "Client ID"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", IOPWarning)
        res = iop.load(df, mapping={"MRN": "patient_id", "Client ID": "patient_id"}, strict=True)
    invariant(res, 4)
    assert file_level(res) == [
        (
            "note",
            "MRN",
            'mapping: [columns] "MRN" = "patient_id": no column \'MRN\' in <DataFrame>; '
            "patient_id is read from another column",
            "",
        )
    ]


def test_target_outside_the_contract_is_a_note_and_the_column_is_carried_through():
    df = frame(Clinician=["Dr A", "Dr A", "Dr B", "Dr B"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", IOPWarning)  # a note warns of nothing
        res = invariant(iop.load(df, mapping={"Clinician": "clinician"}, strict=True), 4)
    assert res.data["clinician"].tolist() == ["Dr A", "Dr A", "Dr B", "Dr B"]
    assert file_level(res) == [
        (
            "note",
            "Clinician",
            'mapping: [columns] "Clinician" = "clinician": \'clinician\' is not a contract '
            "column; carried through as an extra column",
            "",
        )
    ]
    assert file_level(res)[0][2] in res.summary().notes


def test_values_entry_that_matched_no_value_is_a_warning(tmp_path):
    m = toml(tmp_path, '[values.format]\nZom = "virtual"\n"Clinic A" = "in_person"\n')
    df = frame(format=["zoom", "virtual", "Clinic A", "virtual"])
    res = load(df, mapping=m)
    fix = (
        "Correct the label in the mapping to the value as written in the data, or remove the "
        "entry when the data have no such format."
    )
    assert [f for f in file_level(res) if f[0] == "warning"] == [
        (
            "warning",
            "format",
            f'mapping file {str(m)!r}: [values.format] "Zom" = "virtual" matched no value of '
            "format (did you mean 'zoom'?)",
            fix,
        )
    ]
    with pytest.raises(LoadError, match='"Zom" = "virtual" matched no value'):
        iop.load(df, mapping=m, strict=True)
    # the data have no such column at all
    res = load(frame(), mapping={"values": {"site": {"1": "North"}}})
    assert file_level(res) == [
        (
            "warning",
            "site",
            'mapping: [values.site] "1" = "North" matched no value: the data have no site column',
            "Correct the label in the mapping to the value as written in the data, or remove the "
            "entry when the data have no such site.",
        )
    ]


# ---------------------------------------------------------------- unknown optional labels


def test_unknown_discharge_status_keeps_the_rows_and_sets_the_label_missing():
    """One unknown status value used to quarantine most of a file (88 % in the report)."""
    n = 25
    df = pd.DataFrame(
        {
            "patient_id": [f"p{i // 5}" for i in range(n)],
            "instrument": "PHQ-9",
            "assessment_date": pd.date_range("2025-01-06", periods=n, freq="D").strftime(
                "%Y-%m-%d"
            ),
            "total": [10] * n,
            "discharge_status": ["Discharged to PCP"] * 22 + ["completed"] * 3,
        }
    )
    res = load(df)
    assert res.counts() == {"accepted": 3, "repaired": 22, "quarantined": 0}
    assert res.data["total"].notna().all() and res.data["discharge_status"].isna().sum() == 22
    assert res.ledger["reason"].iloc[0] == (
        "discharge_status 'Discharged to PCP' is not a known label; set to missing (to keep it, "
        "add it under [values.discharge_status] in the mapping)"
    )
    note = (
        "discharge_status: 22 row(s) with a label that is not known ('Discharged to PCP') loaded "
        "with discharge_status missing; add the label(s) under [values.discharge_status] in the "
        "mapping"
    )
    assert file_level(res) == [("note", "discharge_status", note, "")]
    s = res.summary()
    assert note in s.notes
    assert s.to_frame()["rows"].tolist() == [3, 22]
    # strict mode does not fail on a repair
    invariant(iop.load(df, strict=True), n)


def test_unknown_instrument_is_still_quarantined():
    res = load(
        frame(instrument=["PHQ-9", "BDI", "PHQ-9", "PHQ-9"], format=["zoom"] + ["virtual"] * 3)
    )
    assert res.ledger["disposition"].astype(str).tolist() == [
        "repaired",
        "quarantined",
        "accepted",
        "accepted",
    ]
    assert res.ledger["reason"].iloc[1] == "unknown instrument 'BDI'"


# ---------------------------------------------------------------- [values.X] on grouping columns


@pytest.mark.parametrize("as_csv", [False, True])
def test_values_relabel_grouping_columns(tmp_path, as_csv):
    df = frame(site=[1, 2, 3, 1], payer=["MCD", "mcd", "Comm", None])
    m = {
        "values": {
            "site": {"1": "North", "2": "Central", "3": "South"},
            "payer": {"MCD": "Medicaid"},
        }
    }
    if as_csv:
        df.to_csv(tmp_path / "s.csv", index=False)
        df = tmp_path / "s.csv"
    res = invariant(iop.load(df, mapping=m), 4)
    assert res.data["site"].astype(str).tolist() == ["North", "Central", "South", "North"]
    assert list(res.data["site"].cat.categories) == ["Central", "North", "South"]
    assert res.data["payer"].astype(object).fillna("-").tolist() == [
        "Medicaid",
        "Medicaid",
        "Comm",
        "-",
    ]
    assert res.counts() == {"accepted": 4, "repaired": 0, "quarantined": 0}
    assert [f[2] for f in file_level(res)] == [
        "site: 4 row(s) relabelled by [values.site] in the mapping (declared, so not counted as "
        "repairs)",
        "payer: 2 row(s) relabelled by [values.payer] in the mapping (declared, so not counted as "
        "repairs)",
    ]


# ---------------------------------------------------------------- declared labels are accepted


def test_labels_mapped_by_your_mapping_stay_accepted_builtin_synonyms_are_repairs(tmp_path):
    m = toml(
        tmp_path,
        '[columns]\n"Client ID" = "patient_id"\nMode = "format"\n'
        '[values.format]\nZoom = "virtual"\n"Clinic A" = "in_person"\n',
    )
    df = frame(Mode=["Zoom", "Clinic A", "telehealth", "Zoom"]).rename(
        columns={"patient_id": "Client ID"}
    )
    res = invariant(iop.load(df, mapping=m), 4)
    assert res.data["format"].astype(str).tolist() == ["virtual", "in_person", "virtual", "virtual"]
    assert res.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "accepted",
        "repaired",
        "accepted",
    ]
    assert (
        res.ledger["reason"].iloc[2] == "format (your column 'Mode') 'telehealth' read as 'virtual'"
    )
    s = res.summary()
    assert "Rows read 4 = accepted 3 + repaired 1 + quarantined 0." in s.notes
    assert (
        f"format (your column 'Mode'): 3 row(s) relabelled by [values.format] in the mapping file "
        f"{str(m)!r} (declared, so not counted as repairs)" in s.notes
    )


# ---------------------------------------------------------------- what is not a mistake


def test_sources_in_the_episodes_table_and_wide_targets_are_not_flagged():
    a = frame(episode_id=["e1", "e1", "e2", "e2"])
    ep = pd.DataFrame({"Episode": ["e1", "e2"], "Status": ["completed", "dropped_out"]})
    m = {"Episode": "episode_id", "Status": "discharge_status"}
    res = load(a.rename(columns={"episode_id": "Episode"}), mapping=m, episodes=ep)
    assert file_level(res) == []
    assert res.data["discharge_status"].astype(str).tolist()[:2] == ["completed"] * 2
    wide = pd.DataFrame({"Client": ["a", "b"], "PHQ-9 at intake": [17, 12], "PHQ9 end": [8, 5]})
    m = {"Client": "patient_id", "PHQ-9 at intake": "phq9_intake", "PHQ9 end": "phq9_discharge"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", IOPWarning)
        res = iop.load(wide, wide=True, mapping=m, strict=True)
    assert len(res.ledger) == 4 and file_level(res) == []


def test_documented_mapping_example_is_checked_clean(tmp_path):
    from pathlib import Path

    from iop_outcomes.io.mapping import read_mapping

    m = read_mapping(Path(__file__).resolve().parents[1] / "docs" / "mapping.toml")
    assert m.findings(list(m.columns), "x.csv") == []


# ---------------------------------------------------------------- property: declared vs repaired


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_only_builtin_synonyms_and_unknown_labels_are_repairs(data):
    n = data.draw(st.integers(1, 12))
    fmt = data.draw(
        st.lists(
            st.sampled_from(["Zoom", "virtual", "telehealth", "zoomish", None]),
            min_size=n,
            max_size=n,
        )
    )
    site = data.draw(st.lists(st.sampled_from([1, 2, "x", None]), min_size=n, max_size=n))
    values = {}
    if data.draw(st.booleans()):
        values["format"] = {"Zoom": "virtual"}
    if data.draw(st.booleans()):
        values["site"] = {"1": "North"}
    df = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],  # one row each: no duplicates
            "instrument": "PHQ-9",
            "assessment_date": "2025-01-06",
            "total": 10,
            "format": fmt,
            "site": site,
        }
    ).astype({"format": object, "site": object})
    res = load(df, mapping={"values": values} if values else None)
    mapped = "format" in values
    want = [
        "repaired" if f in ("telehealth", "zoomish") or (f == "Zoom" and not mapped) else "accepted"
        for f in fmt
    ]
    assert res.ledger["disposition"].astype(str).tolist() == want
    got_fmt = res.data["format"].astype(object).fillna("-").tolist()
    assert got_fmt == [
        "virtual" if f in ("virtual", "telehealth") or (f == "Zoom" and mapped) else "-"
        for f in fmt
    ]
    if "site" in values:
        assert res.data["site"].astype(object).fillna("-").tolist() == [
            "North" if s == 1 else "-" if s is None else str(s) for s in site
        ]
