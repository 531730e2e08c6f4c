"""iop.load(source="redcap"): REDCap raw and label exports, against a tidy long file."""

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, IOPWarning, LoadError
from iop_outcomes.io.redcap import parse_choices, read_dictionary

HERE = Path(__file__).parent / "redcap"
EXPORT, DICTIONARY = HERE / "export_raw.csv", HERE / "dictionary.csv"

#: The fixture written by hand as the data contract's long file: one row per administration
#: (the weekly PHQ-9 instances are dated, without a timepoint; record 2's incomplete week-2
#: form is not there, nor are the rows without questionnaires).
TIDY = """\
patient_id,instrument,assessment_date,item_1,item_2,item_3,item_4,item_5,item_6,item_7,item_8,item_9,timepoint,total,age,site,format,admit_date,discharge_date,discharge_status,race_ethnicity
1,PHQ-9,2025-01-06,2,2,3,2,1,2,2,1,1,intake,16,34,North,in_person,2025-01-06,2025-02-14,completed,White
1,GAD-7,2025-01-06,2,2,2,1,2,1,2,,,intake,12,34,North,in_person,2025-01-06,2025-02-14,completed,White
1,PHQ-9,2025-01-13,2,2,2,2,1,1,2,1,0,,13,34,North,in_person,2025-01-06,2025-02-14,completed,White
1,PHQ-9,2025-01-20,1,2,2,1,1,1,1,1,0,,10,34,North,in_person,2025-01-06,2025-02-14,completed,White
1,PHQ-9,2025-02-14,1,1,1,1,0,1,1,0,0,discharge,6,34,North,in_person,2025-01-06,2025-02-14,completed,White
1,GAD-7,2025-02-14,1,1,1,0,1,0,1,,,discharge,5,34,North,in_person,2025-01-06,2025-02-14,completed,White
1,PHQ-9,2025-05-16,1,1,1,1,1,0,1,0,0,followup_3m,6,34,North,in_person,2025-01-06,2025-02-14,completed,White
2,PHQ-9,2025-01-13,3,3,2,3,2,2,3,2,1,intake,21,52,South,virtual,2025-01-13,2025-02-07,dropped_out,Black or African American; Hispanic or Latino
2,GAD-7,2025-01-13,3,2,3,2,2,2,3,,,intake,17,52,South,virtual,2025-01-13,2025-02-07,dropped_out,Black or African American; Hispanic or Latino
2,PHQ-9,2025-01-20,3,2,2,2,2,2,2,2,0,,17,52,South,virtual,2025-01-13,2025-02-07,dropped_out,Black or African American; Hispanic or Latino
10,PHQ-9,2025-02-03,2,1,2,2,1,1,1,1,0,intake,11,41,North,hybrid,2025-02-03,2025-03-14,completed,Asian
10,GAD-7,2025-02-03,2,2,1,1,1,1,1,,,intake,9,41,North,hybrid,2025-02-03,2025-03-14,completed,Asian
10,PHQ-9,2025-03-03,1,1,1,1,1,1,0,0,0,week_4,6,41,North,hybrid,2025-02-03,2025-03-14,completed,Asian
10,PHQ-9,2025-03-14,1,0,1,1,0,1,0,0,0,discharge,4,41,North,hybrid,2025-02-03,2025-03-14,completed,Asian
10,GAD-7,2025-03-14,1,1,0,1,0,0,1,,,discharge,4,41,North,hybrid,2025-02-03,2025-03-14,completed,Asian
"""
KEY = ["patient_id", "instrument", "assessment_date"]
COMPARED = [
    *KEY,
    "timepoint",
    "total",
    "severity",
    "safety_flag",
    *(f"item_{j}" for j in range(1, 10)),
    "age",
    "site",
    "format",
    "admit_date",
    "discharge_date",
    "discharge_status",
    "race_ethnicity",
]
LABELS = {
    "site": {"1": "North", "2": "South"},
    "format": {"1": "In person", "2": "Virtual", "3": "Hybrid"},
    "discharge_status": {"1": "Completed", "2": "Dropped out", "3": "Transferred"},
}
ANSWERS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
STATUS_WORDS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
EVENT_LABELS = {
    "baseline_arm_1": "Baseline (Arm 1: IOP)",
    "weekly_arm_1": "Weekly (Arm 1: IOP)",
    "discharge_arm_1": "Discharge (Arm 1: IOP)",
    "3_month_followup_arm_1": "3 month follow-up (Arm 1: IOP)",
    "baseline_arm_2": "Baseline (Arm 2: PHP)",
    "week_4_arm_2": "Week 4 (Arm 2: PHP)",
    "discharge_arm_2": "Discharge (Arm 2: PHP)",
}


def load(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        return iop.load(*args, **kw)


def redcap(**kw):
    return load(EXPORT, source="redcap", dictionary=DICTIONARY, **kw)


def tidy():
    return load(pd.read_csv(io.StringIO(TIDY), dtype=str))


def comparable(data: pd.DataFrame) -> pd.DataFrame:
    out = data[COMPARED].copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype) or c == "patient_id":
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    out["age"] = out["age"].astype(float)
    out["safety_flag"] = out["safety_flag"].astype(object)
    return out.sort_values(KEY, kind="mergesort").reset_index(drop=True)


def raw_export() -> pd.DataFrame:
    return pd.read_csv(EXPORT, dtype=str, keep_default_na=False)


def label_export() -> pd.DataFrame:
    """The fixture as REDCap's label export (labels as values, variable names as headers)."""
    df = raw_export()
    df["redcap_event_name"] = df["redcap_event_name"].map(EVENT_LABELS)
    df["redcap_repeat_instrument"] = df["redcap_repeat_instrument"].replace({"phq9": "PHQ-9"})
    for c, labels in LABELS.items():
        df[c] = df[c].map(lambda v, lab=labels: lab.get(v, v))
    for c in df.columns:
        if c[:5] in ("phq9_", "gad7_") and c[5:].isdigit():
            df[c] = df[c].map(lambda v: ANSWERS[int(v)] if v else v)
        elif c.endswith("_complete"):
            df[c] = df[c].map(lambda v: STATUS_WORDS.get(v, v))
        elif "___" in c:
            df[c] = df[c].map({"1": "Checked", "0": "Unchecked", "": ""})
    return df


def test_fixture_gives_the_scores_and_episodes_of_the_tidy_file():
    got, want = redcap(), tidy()
    pd.testing.assert_frame_equal(comparable(got.data), comparable(want.data))
    for inst in ("PHQ-9", "GAD-7"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = iop.episodes(got.data, instrument=inst)
            b = iop.episodes(want.data, instrument=inst)
        cols = [c for c in b.columns if c in a.columns and c != "redcap_repeat_instance"]
        assert list(a.columns.drop("redcap_repeat_instance", errors="ignore")) == list(b.columns)
        pd.testing.assert_frame_equal(
            a[cols].reset_index(drop=True), b[cols].reset_index(drop=True), check_dtype=False
        )
    ep = iop.episodes(got.data, instrument="PHQ-9").set_index("patient_id")
    assert ep.loc["1", ["baseline", "endpoint", "followup_3m"]].tolist() == [16, 6, 6]
    assert ep.loc["2", ["baseline", "endpoint"]].tolist() == [21, 17]  # week 2 was incomplete


def test_ledger_has_one_row_per_administration_with_export_rows_and_forms():
    res = redcap()
    led = res.ledger
    assert len(led) == 16 and res.counts() == {"accepted": 15, "repaired": 0, "quarantined": 1}
    pairs = list(zip(led["row"], led["column"].astype(str), strict=True))
    assert len(set(pairs)) == len(pairs)  # an administration is (export row, form)
    assert pairs[:3] == [(1, "phq9"), (1, "gad7"), (2, "phq9")]
    # rows 9 (record 2's discharge event: discharge fields only) and 13 (enrollment only)
    assert not {9, 13} & set(led["row"])
    assert sorted(set(led["row"])) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    notes = res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()
    assert any(
        n.startswith("2 REDCap export row(s) have no questionnaire administration") for n in notes
    )
    assert any("2 REDCap export row(s)" in n for n in res.summary().notes)
    assert (
        res.data["source_row"].to_numpy()
        == led.loc[led["disposition"] != "quarantined", "row"].to_numpy()
    ).all()


def test_incomplete_form_is_quarantined_unverified_is_loaded():
    res = redcap()
    q = res.ledger[res.ledger["disposition"] == "quarantined"].iloc[0]
    assert (q["row"], q["column"]) == (8, "phq9")
    assert q["reason"].startswith(
        "form marked incomplete in REDCap (phq9_complete = 0 (Incomplete))"
    )
    # the 3-month follow-up is marked unverified (1): loaded as given
    fu = res.data[res.data["timepoint"] == "followup_3m"]
    assert fu["total"].tolist() == [6] and res.ledger.loc[6, "disposition"] == "accepted"
    # a complete set of answers on a form marked incomplete is still quarantined, alone
    df = raw_export()
    df.loc[0, "gad7_complete"] = "0"
    res = load(df, source="redcap", dictionary=DICTIONARY)
    row = res.ledger[(res.ledger["row"] == 1) & (res.ledger["column"] == "gad7")].iloc[0]
    assert row["disposition"] == "quarantined"
    assert row["reason"] == "form marked incomplete in REDCap (gad7_complete = 0 (Incomplete))"
    with pytest.raises(LoadError, match="form marked incomplete"):
        iop.load(EXPORT, source="redcap", dictionary=DICTIONARY, strict=True)


def test_status_columns_checkbox_parts_and_redcap_columns_are_not_data():
    data = redcap().data
    assert not [c for c in data.columns if c.endswith("_complete") or "___" in c]
    assert not {"record_id", "redcap_event_name", "redcap_repeat_instrument"} & set(data.columns)
    assert data["patient_id"].tolist()[:1] == ["1"]
    assert data["patient_id"].cat.categories.dtype == "str"  # text ids (as codes: iop.load)
    weekly = data[data["redcap_repeat_instance"].notna()]
    assert weekly["redcap_repeat_instance"].tolist() == ["1", "2", "1"]
    assert weekly["timepoint"].isna().all()  # 'weekly_arm_1' is no timepoint: the date decides


def test_label_export_loads_as_the_raw_export():
    raw, lab = redcap(), load(label_export(), source="redcap", dictionary=DICTIONARY)
    pd.testing.assert_frame_equal(comparable(lab.data), comparable(raw.data))
    assert lab.counts() == raw.counts()
    # without the dictionary the answer texts are still the PHQ-9's / GAD-7's own
    nodict = load(label_export(), source="redcap")
    assert nodict.data["total"].tolist() == raw.data["total"].tolist()


def test_without_dictionary_fields_are_found_by_name_and_codes_stay_codes():
    res = load(EXPORT, source="redcap")  # format / discharge_status codes are no labels
    assert res.counts() == {"accepted": 0, "repaired": 15, "quarantined": 1}
    assert "format '1' is not a known label" in res.ledger.loc[0, "reason"]
    codes = {
        "format": {"1": "in_person", "2": "virtual", "3": "hybrid"},
        "discharge_status": {"1": "completed", "2": "dropped_out"},
    }
    res = load(EXPORT, source="redcap", mapping={"values": codes})
    assert res.counts() == {"accepted": 15, "repaired": 0, "quarantined": 1}
    assert res.data["total"].tolist() == redcap().data["total"].tolist()
    assert set(res.data["site"].astype(str)) == {"1", "2"}
    assert res.data["race_ethnicity"].astype(str).iloc[0] == "3"  # checked codes


def test_a_form_of_your_own_is_named_by_the_mapping():
    d = pd.read_csv(DICTIONARY, dtype=str, keep_default_na=False)
    d["Form Name"] = d["Form Name"].replace({"phq9": "weekly_mood"})
    d["Variable / Field Name"] = d["Variable / Field Name"].str.replace("phq9_", "mood_q")
    d.loc[d["Variable / Field Name"] == "mood_qdate", "Variable / Field Name"] = "mood_date"
    d.loc[d["Variable / Field Name"] == "mood_qtotal", "Variable / Field Name"] = "mood_total"
    df = raw_export()
    df.columns = [
        c.replace("phq9_complete", "weekly_mood_complete").replace("phq9_", "mood_q")
        for c in df.columns
    ]
    df = df.rename(columns={"mood_qdate": "mood_date", "mood_qtotal": "mood_total"})
    df["redcap_repeat_instrument"] = df["redcap_repeat_instrument"].replace({"phq9": "weekly_mood"})
    got = load(df, source="redcap", dictionary=d)  # 'weekly_mood' / 'mood' name no instrument
    assert set(got.data["instrument"]) == {"GAD-7"}
    mp = {"values": {"instrument": {"weekly_mood": "PHQ-9"}}}
    res = load(df, source="redcap", dictionary=d, mapping=mp)
    pd.testing.assert_frame_equal(comparable(res.data), comparable(redcap().data))
    assert set(res.ledger["column"].astype(str)) == {"weekly_mood", "gad7"}
    assert not (res.problems["severity"] == "warning").any()  # the mapping entry was used


def test_mapping_renames_record_level_fields():
    df = raw_export().rename(columns={"site": "clinic"})
    res = load(df, source="redcap", dictionary=None, mapping={"clinic": "site"})
    assert set(res.data["site"].astype(str)) == {"1", "2"}


def test_row_order_of_the_export_does_not_change_the_data():
    df = raw_export()
    rng = np.random.default_rng(3)
    shuffled = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    a = load(shuffled, source="redcap", dictionary=DICTIONARY)
    pd.testing.assert_frame_equal(comparable(a.data), comparable(redcap().data))


def test_numeric_frames_from_the_api_load_alike():
    df = pd.read_csv(EXPORT)  # record ids and codes as numbers, blanks as NaN
    res = load(df, source="redcap", dictionary=DICTIONARY)
    pd.testing.assert_frame_equal(comparable(res.data), comparable(redcap().data))


def test_parameters_are_checked():
    with pytest.raises(ConfigError, match="'source' parameter of iop.load must be 'redcap'"):
        iop.load(EXPORT, source="hl7v2")
    with pytest.raises(ConfigError, match="Got a DataFrame instead"):
        iop.load(EXPORT, source=pd.DataFrame({"a": [1]}))
    with pytest.raises(ConfigError, match="give source='redcap'"):
        iop.load(EXPORT, dictionary=DICTIONARY)
    with pytest.raises(ConfigError, match="cannot be combined"):
        iop.load(EXPORT, source="redcap", wide=True)
    with pytest.raises(LoadError, match="no questionnaire fields were found"):
        iop.load(pd.DataFrame({"record_id": [1], "age": [3]}), source="redcap")
    with pytest.raises(LoadError, match="not a REDCap data dictionary"):
        read_dictionary(pd.DataFrame({"a": [1]}))
    with pytest.raises(LoadError, match="data dictionary not found"):
        iop.load(EXPORT, source="redcap", dictionary=HERE / "nope.csv")


def test_choices_are_parsed():
    assert parse_choices("1, North | 2, South, East") == {"1": "North", "2": "South, East"}
    d = read_dictionary(DICTIONARY)
    assert d.fields["phq9_3"].form == "phq9" and d.fields["phq9_3"].choices["2"] == ANSWERS[2]
    assert d.fields["race_ethnicity"].choices["99"] == "Prefer not to say"


def test_study_file_data_table_names_the_export_and_its_dictionary(tmp_path):
    from iop_outcomes._report.config import load_config

    study = tmp_path / "study.toml"
    study.write_text('[data]\nsource = "redcap"\ndictionary = "dictionary.csv"\n')
    cfg = load_config(study)
    opts = cfg.load_options()
    assert (opts["source"], opts["dictionary"]) == ("redcap", str(tmp_path / "dictionary.csv"))
    assert (cfg.to_dict()["data_source"], cfg.to_dict()["dictionary"]) == (
        "redcap",
        "dictionary.csv",
    )
    assert not {"data_source", "dictionary"} & set(load_config().to_dict())
    with pytest.raises(ConfigError, match="The 'source' key in \\[data\\] must be \"redcap\""):
        load_config({"data": {"source": "hl7v2"}})


def test_cli_reads_a_redcap_export(tmp_path, capsys):
    from iop_outcomes.cli import EXIT_OK, EXIT_PROBLEMS, main

    argv = ["validate", str(EXPORT), "--source", "redcap", "--dictionary", str(DICTIONARY)]
    ledger = tmp_path / "ledger.csv"
    assert main([*argv, "--ledger-out", str(ledger)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Rows read 16 = accepted 15 + repaired 0 + quarantined 1." in out
    assert "2 REDCap export row(s) have no questionnaire administration" in out
    assert pd.read_csv(ledger)["column"].tolist()[:2] == ["phq9", "gad7"]
    assert main([*argv, "--strict"]) == EXIT_PROBLEMS
    capsys.readouterr()
    assert main(["summary", str(EXPORT), "--source", "redcap", "--json", "--by", "site"]) == 0
    assert '"rows_read": 16' in capsys.readouterr().out
    study = tmp_path / "study.toml"
    study.write_text(f'[data]\nsource = "redcap"\ndictionary = "{DICTIONARY.as_posix()}"\n')
    assert main(["summary", str(EXPORT), "--config", str(study), "--json"]) == EXIT_OK
    assert '"accepted": 15' in capsys.readouterr().out
    assert main(["validate", str(EXPORT), "--dictionary", str(DICTIONARY)]) == 3
    assert "applies to REDCap exports" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(12))
def test_ledger_invariant_on_damaged_exports(seed):
    """Blanked and garbled cells, shuffled rows: one ledger row per (export row, form) that has
    any of the form's fields, and the rows without any counted in the note."""
    rng = np.random.default_rng(seed)
    df = raw_export()
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    own = {
        "phq9": [f"phq9_{j}" for j in range(1, 10)] + ["phq9_date", "phq9_total"],
        "gad7": [f"gad7_{j}" for j in range(1, 8)] + ["gad7_date"],
    }
    for c in df.columns[1:]:
        hit = rng.random(len(df)) < 0.3
        df.loc[hit, c] = rng.choice(["", "", "x", "7", "0", "2025-13-01"], size=int(hit.sum()))
    res = load(df, source="redcap", dictionary=DICTIONARY)
    want = {
        (i + 1, form)
        for form, cols in own.items()
        for i in np.flatnonzero((df[cols] != "").any(axis=1).to_numpy())
    }
    pairs = list(zip(res.ledger["row"], res.ledger["column"].astype(str), strict=True))
    assert len(pairs) == len(set(pairs)) and set(pairs) == want
    assert sum(res.counts().values()) == len(res.ledger) == len(want)
    assert len(res.data) == res.counts()["accepted"] + res.counts()["repaired"]
    n_empty = len(df) - len({r for r, _ in want})
    notes = " ".join(res.problems.loc[res.problems["severity"] == "note", "reason"])
    assert (f"{n_empty:,} REDCap export row(s) have no questionnaire" in notes) == (n_empty > 0)


#: REDCap's "CSV (labels)" headers of the fixture, as the Data Exports page writes them.
LABEL_HEADERS = [
    "Record ID",
    "Event Name",
    "Repeat Instrument",
    "Repeat Instance",
    "Age at admission",
    "Program site",
    "Treatment format",
    "Admission date",
    "Race / ethnicity (all that apply) (choice=Asian)",
    "Race / ethnicity (all that apply) (choice=Black or African American)",
    "Race / ethnicity (all that apply) (choice=White)",
    "Race / ethnicity (all that apply) (choice=Hispanic or Latino)",
    "Race / ethnicity (all that apply) (choice=Prefer not to say)",
    "Complete?",
    "Date completed",
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself - or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite - being "
    "so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
    "PHQ-9 total score",
    "Complete?",
    "Date completed",
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
    "Complete?",
    "Discharge date",
    "Discharge status",
    "Complete?",
]


def test_label_headers_are_matched_to_the_dictionary_in_order(tmp_path):
    df = label_export()
    df.columns = LABEL_HEADERS
    path = tmp_path / "labels.csv"
    df.to_csv(path, index=False)
    res = load(path, source="redcap", dictionary=DICTIONARY)
    pd.testing.assert_frame_equal(comparable(res.data), comparable(redcap().data))
    assert res.counts() == redcap().counts()
    # an export of some forms only (no GAD-7): still in the dictionary's order
    some = df.iloc[:, [i for i, c in enumerate(df.columns) if i < 26 or i > 34]]
    assert set(load(some, source="redcap", dictionary=DICTIONARY).data["instrument"]) == {"PHQ-9"}
    wrong = df.rename(columns={"Program site": "Clinic"})
    with pytest.raises(LoadError, match="the header 'Clinic' is neither a variable name"):
        iop.load(wrong, source="redcap", dictionary=DICTIONARY)


def test_survey_timestamp_dates_a_form_without_a_date_field():
    d = pd.read_csv(DICTIONARY, dtype=str, keep_default_na=False)
    d = d[d["Variable / Field Name"] != "phq9_date"]
    df = raw_export().rename(columns={"phq9_date": "phq9_timestamp"})
    df.loc[df["phq9_timestamp"].ne(""), "phq9_timestamp"] += " 10:41:07"
    df.loc[8, "phq9_timestamp"] = "[not completed]"  # record 2's discharge event
    res = load(df, source="redcap", dictionary=d)
    pd.testing.assert_frame_equal(comparable(res.data), comparable(redcap().data))
    assert 9 not in set(res.ledger["row"])


def test_an_export_without_any_answers_is_a_clear_error():
    df = raw_export()
    df = df[[c for c in df.columns if not c.startswith(("phq9_", "gad7_"))] + ["phq9_1"]]
    df["phq9_1"] = ""
    with pytest.raises(LoadError, match="none of the export's 13 rows has an answer"):
        iop.load(df, source="redcap")


def test_item_problems_name_the_redcap_field_and_visit_options_do_not_mix():
    df = raw_export()
    df.loc[3, "gad7_3"] = "7"
    res = load(df, source="redcap", dictionary=DICTIONARY)
    row = res.ledger[(res.ledger["row"] == 4) & (res.ledger["column"] == "gad7")].iloc[0]
    assert row["disposition"] == "quarantined"
    assert row["reason"] == "item_3 (your column 'gad7_3') '7' is outside the GAD-7 item range 0-3"
    with pytest.raises(ConfigError, match="source='redcap' reads the export's forms"):
        iop.load(EXPORT, source="redcap", mapping={"options": {"instrument": "PHQ-9"}})


def test_items_without_numbers_are_the_forms_choice_fields_in_dictionary_order():
    words = ["interest", "down", "sleep", "tired", "appetite", "failure", "focus", "slow", "dead"]
    d = pd.read_csv(DICTIONARY, dtype=str, keep_default_na=False)
    rename = {f"phq9_{j}": f"phq_{w}" for j, w in enumerate(words, start=1)}
    d["Variable / Field Name"] = d["Variable / Field Name"].replace(rename)
    difficulty = d[d["Variable / Field Name"] == "phq_dead"].assign(
        **{"Variable / Field Name": "phq_difficult", "Field Label": "How difficult ..."}
    )
    at = int(np.flatnonzero(d["Variable / Field Name"] == "phq_dead")[0]) + 1
    d = pd.concat([d.iloc[:at], difficulty, d.iloc[at:]], ignore_index=True)
    df = raw_export().rename(columns=rename)
    df.insert(df.columns.get_loc("phq_dead") + 1, "phq_difficult", "1")
    res = load(df, source="redcap", dictionary=d)
    pd.testing.assert_frame_equal(comparable(res.data), comparable(redcap().data))
    assert "phq_difficult" not in res.data.columns
