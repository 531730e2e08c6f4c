"""Visit rows with several questionnaires side by side (issue 10): ``[instruments.<name>]``.

The fixture ``tests/fixtures/visits_ehr.csv`` is a hand-written EHR export (one row per visit,
PHQ-9 and GAD-7 items as numbers or answer texts, totals, MRN, names, notes); its mapping is
``tests/fixtures/visits_ehr.toml``. Loading it must give the same scores and episodes as the
same administrations written by hand in the tidy long format (``TIDY`` below).
"""

import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, IOPWarning, LoadError

FIXTURES = Path(__file__).parent / "fixtures"
VISITS, MAPPING = FIXTURES / "visits_ehr.csv", FIXTURES / "visits_ehr.toml"

# The same administrations, one row each, answer texts written as their numbers
# (Not at all 0, Several days 1, More than half the days 2, Nearly every day 3).
TIDY = """\
patient_id,instrument,assessment_date,admit_date,discharge_date,item_1,item_2,item_3,item_4,item_5,item_6,item_7,item_8,item_9,total
0100231,PHQ-9,2025-01-06,2025-01-06,2025-02-14,2,2,3,1,2,2,1,1,0,14
0100231,GAD-7,2025-01-06,2025-01-06,2025-02-14,2,2,1,2,1,1,2,,,11
0100231,PHQ-9,2025-01-13,2025-01-06,2025-02-14,2,1,2,1,1,1,1,0,0,9
0100231,GAD-7,2025-01-13,2025-01-06,2025-02-14,1,2,1,1,1,1,1,,,8
0100231,PHQ-9,2025-01-27,2025-01-06,2025-02-14,1,1,2,1,1,0,1,0,0,
0100231,GAD-7,2025-01-27,2025-01-06,2025-02-14,1,1,1,1,0,1,1,,,6
0100231,PHQ-9,2025-02-03,2025-01-06,2025-02-14,1,1,1,1,1,0,1,0,0,6
0100231,GAD-7,2025-02-03,2025-01-06,2025-02-14,1,1,1,0,1,1,0,,,5
0100231,PHQ-9,2025-02-14,2025-01-06,2025-02-14,1,0,1,1,0,0,1,0,0,4
0100231,GAD-7,2025-02-14,2025-01-06,2025-02-14,0,1,1,0,0,1,0,,,3
0100245,PHQ-9,2025-01-08,2025-01-08,2025-02-19,3,2,3,2,2,3,2,1,1,19
0100245,GAD-7,2025-01-08,2025-01-08,2025-02-19,2,2,2,3,1,2,2,,,14
0100245,PHQ-9,2025-01-14,2025-01-08,2025-02-19,2,2,2,2,1,3,2,1,0,15
0100245,GAD-7,2025-01-29,2025-01-08,2025-02-19,2,1,2,2,1,1,1,,,10
0100245,PHQ-9,2025-02-19,2025-01-08,2025-02-19,1,1,1,1,1,1,1,0,0,7
0100245,GAD-7,2025-02-19,2025-01-08,2025-02-19,1,1,1,1,0,1,1,,,6
0100262,PHQ-9,2025-01-13,2025-01-13,2025-02-21,3,2,3,3,1,2,2,1,0,17
0100262,GAD-7,2025-01-13,2025-01-13,2025-02-21,2,3,2,2,1,3,1,,,14
0100262,PHQ-9,2025-01-27,2025-01-13,2025-02-21,,,,,,,,,,12
0100262,GAD-7,2025-01-27,2025-01-13,2025-02-21,1,2,1,2,1,2,1,,,10
0100262,PHQ-9,2025-02-21,2025-01-13,2025-02-21,1,1,1,0,1,1,0,0,0,5
0100262,GAD-7,2025-02-21,2025-01-13,2025-02-21,1,1,0,1,0,1,0,,,4
0100270,PHQ-9,2025-01-21,2025-01-21,2025-03-07,2,3,2,2,2,2,2,1,0,16
0100270,GAD-7,2025-01-21,2025-01-21,2025-03-07,3,3,2,2,2,2,2,,,16
0100270,PHQ-9,2025-02-04,2025-01-21,2025-03-07,2,2,2,1,2,1,1,1,0,12
0100270,GAD-7,2025-02-04,2025-01-21,2025-03-07,2,2,2,1,1,2,1,,,11
0100270,PHQ-9,2025-02-18,2025-01-21,2025-03-07,1,2,1,1,1,1,1,0,0,8
0100270,GAD-7,2025-02-18,2025-01-21,2025-03-07,1,1,1,1,1,1,1,,,7
0100270,PHQ-9,2025-03-07,2025-01-21,2025-03-07,1,1,0,1,0,1,0,0,0,4
0100270,GAD-7,2025-03-07,2025-01-21,2025-03-07,1,1,1,0,0,1,0,,,4
0100288,PHQ-9,2025-02-03,2025-02-03,2025-02-24,2,2,2,2,2,2,1,1,1,15
0100288,GAD-7,2025-02-03,2025-02-03,2025-02-24,2,1,2,2,1,1,1,,,10
0100288,PHQ-9,2025-02-10,2025-02-03,2025-02-24,2,1,,2,1,2,1,1,0,
0100288,GAD-7,2025-02-10,2025-02-03,2025-02-24,2,1,1,2,1,1,1,,,9
0100288,PHQ-9,2025-02-24,2025-02-03,2025-02-24,1,2,1,2,1,1,1,0,0,9
0100288,GAD-7,2025-02-24,2025-02-03,2025-02-24,1,1,1,1,1,1,1,,,7
"""

SCORES = [
    "patient_id",
    "episode_id",
    "instrument",
    "assessment_date",
    "admit_date",
    "discharge_date",
    "total",
    "n_answered",
    "scoring_rule",
    "severity",
    "safety_flag",
]


def quiet_load(source, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        return iop.load(source, **kw)


def by_key(df, cols):
    key = ["patient_id", "instrument", "assessment_date"]
    return df[cols].sort_values(key, kind="mergesort").reset_index(drop=True)


@pytest.fixture(scope="module")
def visits():
    return quiet_load(VISITS, mapping=MAPPING)


def test_visit_file_scores_and_episodes_equal_the_tidy_long_file(visits, tmp_path):
    tidy_path = tmp_path / "tidy.csv"
    tidy_path.write_text(TIDY)
    tidy = quiet_load(tidy_path)
    assert tidy.counts() == visits.counts() == {"accepted": 35, "repaired": 1, "quarantined": 0}
    pd.testing.assert_frame_equal(by_key(visits.data, SCORES), by_key(tidy.data, SCORES))
    items = [f"item_{i}" for i in range(1, 10)]
    pd.testing.assert_frame_equal(
        by_key(visits.data, ["patient_id", "instrument", "assessment_date", *items]),
        by_key(tidy.data, ["patient_id", "instrument", "assessment_date", *items]),
    )
    ep_v = iop.episodes(visits.data, instrument=["PHQ-9", "GAD-7"])
    ep_t = iop.episodes(tidy.data, instrument=["PHQ-9", "GAD-7"])
    assert len(ep_t) == 10  # 5 patients x 2 instruments
    pd.testing.assert_frame_equal(ep_v[list(ep_t.columns)], ep_t)
    # the columns outside the contract are carried through
    assert {"patient_name", "visit_type", "clinician_notes"} <= set(visits.data.columns)


def test_the_shapes_of_the_fixture_load_as_documented(visits):
    d = visits.data.set_index(["source_row", "instrument"])
    assert d.loc[(8, "GAD-7"), "total"] == 10 and (8, "PHQ-9") not in d.index  # GAD-7 only
    assert 11 not in d.index.get_level_values(0)  # the no-show: nothing
    phq_total_only = d.loc[(12, "PHQ-9")]
    assert phq_total_only["scoring_rule"] == "total_given" and phq_total_only["total"] == 12
    # PHQ9 Date (answered on the portal the day before) wins over the visit date
    assert d.loc[(7, "PHQ-9"), "assessment_date"] == pd.Timestamp("2025-01-14")
    assert d.loc[(19, "PHQ-9"), "scoring_rule"] == "prorated"  # Q3 skipped: 10 x 9/8 = 11.25
    assert d.loc[(19, "PHQ-9"), "total"] == 11


def test_ledger_has_one_row_per_administration_and_the_note_counts_empty_visits(visits):
    led = visits.ledger
    n_visits = len(pd.read_csv(VISITS))
    n_admin = 36
    assert sum(visits.counts().values()) == n_admin == len(led) == len(visits.data)
    # every visit row yields administrations or is counted in the note
    rows_with_admin = set(led["row"])
    assert len(rows_with_admin) + 1 == n_visits and set(
        range(1, n_visits + 1)
    ) - rows_with_admin == {11}
    note = visits.problems.loc[visits.problems["severity"] == "note", "reason"].tolist()
    assert (
        "1 visit row(s) have no item or total of any instrument in [instruments] and produce no "
        "administration (the ledger has one row per administration)"
    ) in note
    assert led.loc[led["row"] == 1, "column"].astype(str).tolist() == [
        "PHQ9 Q1 … PHQ9 Q9, PHQ9 Total, PHQ9 Date",
        "GAD7 Q1 … GAD7 Q7, GAD7 Total",
    ]
    assert led["row"].is_monotonic_increasing
    rep = led[led["disposition"] == "repaired"]
    assert rep["row"].tolist() == [19]
    assert rep["reason"].iloc[0].startswith("total prorated from 8 of 9 items")


def _visit_frame():
    return pd.DataFrame(
        {
            "MRN": ["1", "1", "2", "3"],
            "Visit Date": ["2025-01-06", "2025-02-03", "2025-01-07", "2025-01-08"],
            **{f"PHQ9 Q{i}": ["Several days", 1, None, None] for i in range(1, 10)},
            "PHQ9 Total": [9, 9, 40, None],
            **{f"GAD7 Q{i}": [1, None, 2, None] for i in range(1, 8)},
            "GAD7 Total": [7, None, None, None],
            "Notes": ["a", "b", "c", "no-show"],
        }
    )


def _mapping(**instruments):
    return {
        "columns": {"MRN": "patient_id", "Visit Date": "assessment_date"},
        "instruments": instruments
        or {
            "PHQ-9": {"items": "PHQ9 Q{n}", "total": "PHQ9 Total"},
            "GAD-7": {"items": [f"GAD7 Q{i}" for i in range(1, 8)], "total": "GAD7 Total"},
        },
    }


def test_dispositions_sum_to_administrations_with_a_quarantined_one():
    res = quiet_load(_visit_frame(), mapping=_mapping())
    c = res.counts()
    # row 1: PHQ-9 and GAD-7; row 2: PHQ-9; row 3: PHQ-9 (total 40: quarantined) and GAD-7
    assert c == {"accepted": 4, "repaired": 0, "quarantined": 1} and len(res.ledger) == 5
    assert res.ledger["row"].tolist() == [1, 1, 2, 3, 3]
    q = res.ledger[res.ledger["disposition"] == "quarantined"]
    assert (
        q["row"].tolist() == [3]
        and "total 40 is outside the PHQ-9 range 0-27" in q["reason"].iloc[0]
    )
    assert q["column"].astype(str).tolist() == ["PHQ9 Q1 … PHQ9 Q9, PHQ9 Total"]


def test_a_fixed_instrument_for_a_file_of_one_questionnaire():
    df = pd.DataFrame(
        {
            "Client": ["a", "a"],
            "Date": ["2025-01-06", "2025-02-03"],
            "Score": [17, 9],
        }
    )
    m = {
        "columns": {"Client": "patient_id", "Date": "assessment_date", "Score": "total"},
        "options": {"instrument": "phq9"},
    }
    res = quiet_load(df, mapping=m)
    assert res.data["instrument"].astype(str).tolist() == ["PHQ-9", "PHQ-9"]
    assert res.ledger["row"].tolist() == [1, 2]
    # a file that has an instrument column keeps it; the option is noted as not used
    res = quiet_load(
        df.assign(Form=["GAD-7", "GAD-7"]),
        mapping=m | {"columns": m["columns"] | {"Form": "instrument"}},
    )
    assert res.data["instrument"].astype(str).tolist() == ["GAD-7", "GAD-7"]
    notes = res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()
    assert (
        "Mapping: [options] instrument = 'phq9' not used: the file has an instrument column ('Form')"
        in notes
    )


# ---------------------------------------------------------------- mapping mistakes


def _error(mapping, df=None):
    with pytest.raises(ConfigError) as exc:
        iop.load(_visit_frame() if df is None else df, mapping=mapping)
    return str(exc.value)


def test_unknown_instrument_name_is_an_error_with_the_nearest_names():
    msg = _error(_mapping(**{"PHQ-99": {"items": "PHQ9 Q{n}"}}))
    assert msg.startswith(
        "Mapping: [instruments.\"PHQ-99\"]: 'PHQ-99' is not a registered instrument. Did you mean "
        "'PHQ-9' or 'PHQ-8' or 'PHQ-2'? Use one of "
    )


def test_a_listed_column_not_in_the_file_is_an_error_naming_the_nearest_columns():
    msg = _error(_mapping(**{"PHQ-9": {"items": "PHQ9 Q{n}", "total": "PHQ9 Score"}}))
    assert msg == (
        "Mapping: [instruments] names column(s) not in <DataFrame>: 'PHQ9 Score' (nearest: "
        "'PHQ9 Total'). Correct the names in the mapping to the columns as "
        "written in the file."
    )
    msg = _error(_mapping(**{"GAD-7": {"items": "GAD-7 Q{n}"}}))
    assert "'GAD-7 Q1' (nearest: 'GAD7 Q1'" in msg and "'GAD-7 Q7' (nearest: 'GAD7 Q7'" in msg


def test_wrong_item_count_is_an_error():
    msg = _error(_mapping(**{"GAD-7": {"items": [f"GAD7 Q{i}" for i in range(1, 7)]}}))
    assert msg == (
        'Mapping: [instruments."GAD-7"] lists 6 item column(s); GAD-7 has 7 items. List them all, '
        "in item order (a column missing from your file cannot stand for an item; leave items "
        "out when the file has totals only)."
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"items": "PHQ9 Q"},
            "Mapping: [instruments.\"PHQ-9\"] items = 'PHQ9 Q': a pattern needs {n} where the item "
            'number goes (e.g. "PHQ9 Q{n}"), or give the list of item columns.',
        ),
        (
            {"item": "PHQ9 Q{n}"},
            "Mapping: [instruments.\"PHQ-9\"]: unknown key 'item'. Did you mean 'items'? Known "
            "keys: items, total, date.",
        ),
        ({}, 'Mapping: [instruments."PHQ-9"] needs items, a total, or both.'),
    ],
)
def test_other_instrument_table_mistakes(spec, message):
    assert _error(_mapping(**{"PHQ-9": spec})) == message


def test_section_and_option_together_or_a_column_we_fill_are_errors():
    m = _mapping() | {"options": {"instrument": "PHQ-9"}}
    assert _error(m).startswith(
        "Mapping: [options] instrument = 'PHQ-9' and [instruments] both say which questionnaire"
    )
    m = _mapping()
    m["columns"] = m["columns"] | {"Notes": "total"}
    assert "also has the column(s) 'Notes' read as total" in _error(m)
    assert _error({"options": {"instrument": "PHQ9x"}}).startswith(
        "Mapping: [options] instrument = \"PHQ9x\": 'PHQ9x' is not a registered instrument."
    )


def test_instruments_section_in_a_toml_file_names_the_file(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[instruments."GAD 7"]\nitems = "GAD7 Q{n}"\ntotal = "GAD7 Totl"\n')
    msg = _error(str(path))
    assert msg.startswith(f"Mapping file {str(path)!r}: [instruments] names column(s) not in")
    assert "'GAD7 Totl' (nearest: 'GAD7 Total'" in msg


def test_visit_rows_are_invariant_to_column_order():
    df = _visit_frame()
    a = quiet_load(df, mapping=_mapping())
    b = quiet_load(df[df.columns[::-1]], mapping=_mapping())
    cols = ["patient_id", "instrument", "assessment_date", "total", "scoring_rule", "source_row"]
    pd.testing.assert_frame_equal(a.data[cols], b.data[cols])
    pd.testing.assert_frame_equal(a.ledger, b.ledger)


def test_wide_and_visit_rows_together_are_an_error_and_notes_do_not_fail_strict():
    with pytest.raises(ConfigError, match="Use one of them"):
        iop.load(_visit_frame(), mapping=_mapping(), wide=True)
    # the fixture's note (the no-show) and its repair (a prorated total) do not fail strict=True
    res = iop.load(VISITS, mapping=MAPPING, strict=True)
    assert res.counts() == {"accepted": 35, "repaired": 1, "quarantined": 0}


_ANSWERS = [None, 0, 1, 2, 3, "Several days", "Nearly every day", 9]  # 9: out of range


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(_ANSWERS), min_size=9, max_size=9),
            st.sampled_from([None, 5, 12, 30]),
            st.lists(st.sampled_from(_ANSWERS), min_size=7, max_size=7),
            st.sampled_from([None, 4, 25]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_ledger_invariant_for_any_visit_rows(visit_rows):
    """Sum of dispositions = administrations (instruments with any item or total per row), and
    every visit row yields administrations or is counted in the note."""
    rows = []
    for i, (phq, phq_total, gad, gad_total) in enumerate(visit_rows):
        row = {"MRN": f"p{i % 3}", "Visit Date": f"2025-01-{i + 1:02d}"}
        row |= {f"PHQ9 Q{k}": v for k, v in enumerate(phq, start=1)} | {"PHQ9 Total": phq_total}
        row |= {f"GAD7 Q{k}": v for k, v in enumerate(gad, start=1)} | {"GAD7 Total": gad_total}
        rows.append(row)
    df = pd.DataFrame(rows, dtype=object)
    phq_any = [any(v is not None for v in p) or t is not None for p, t, _g, _u in visit_rows]
    gad_any = [any(v is not None for v in g) or u is not None for _p, _t, g, u in visit_rows]
    n_admin = sum(phq_any) + sum(gad_any)
    res = quiet_load(df, mapping=_mapping())
    assert sum(res.counts().values()) == n_admin == len(res.ledger)
    assert len(res.data) == res.counts()["accepted"] + res.counts()["repaired"]
    expected_rows = [i + 1 for i in range(len(visit_rows)) for a in (phq_any[i], gad_any[i]) if a]
    assert res.ledger["row"].tolist() == expected_rows
    n_empty = sum(not (p or g) for p, g in zip(phq_any, gad_any, strict=True))
    notes = res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()
    counted = [n for n in notes if "visit row(s) have no item or total" in n]
    assert counted == (
        [
            f"{n_empty} visit row(s) have no item or total of any instrument in "
            "[instruments] and produce no administration (the ledger has one row "
            "per administration)"
        ]
        if n_empty
        else []
    )


def test_item_problems_name_your_column_of_that_instrument():
    df = _visit_frame().astype(object)
    df.loc[0, "PHQ9 Q2"] = 7
    df.loc[2, "GAD7 Q3"] = "Sometimes"
    res = quiet_load(df, mapping=_mapping())
    q = res.ledger[res.ledger["disposition"] == "quarantined"]
    assert q["reason"].tolist() == [
        "item_2 (your column 'PHQ9 Q2') '7' is outside the PHQ-9 item range 0-3",
        "total 40 is outside the PHQ-9 range 0-27",
        "item_3 (your column 'GAD7 Q3') 'Sometimes' is not a number or an answer text of GAD-7",
    ]
    p = res.problems
    assert p.loc[p["value"] == "7", "column"].tolist() == ["PHQ9 Q2"]
    assert p.loc[p["value"] == "Sometimes", "column"].tolist() == ["GAD7 Q3"]
    assert "item_3 (your column 'GAD7 Q3') '…' is not a number" in str(res.summary())


def test_an_instrument_date_that_is_the_visit_date_column_keeps_the_date_of_the_others():
    m = _mapping()
    m["instruments"]["PHQ-9"]["date"] = "Visit Date"
    res = quiet_load(_visit_frame(), mapping=m)
    assert res.data["assessment_date"].notna().all() and len(res.data) == 4


def test_an_instrument_with_totals_only_and_named_by_an_alias():
    df = _visit_frame().drop(columns=[f"PHQ9 Q{i}" for i in range(1, 10)])
    m = _mapping(phq9={"total": "PHQ9 Total"}, gad7={"items": "GAD7 Q{n}", "total": "GAD7 Total"})
    res = quiet_load(df, mapping=m)
    led = res.ledger
    # row 1: PHQ-9 9 and GAD-7; row 2: PHQ-9 9; row 3: PHQ-9 40 (quarantined) and GAD-7
    assert led["row"].tolist() == [1, 1, 2, 3, 3]
    assert led["column"].astype(str).tolist()[:2] == ["PHQ9 Total", "GAD7 Q1 … GAD7 Q7, GAD7 Total"]
    phq = res.data[res.data["instrument"] == "PHQ-9"]
    assert phq["scoring_rule"].astype(str).tolist() == ["total_given", "total_given"]


# ------------------------------------------------------- the visit-wide Excel workbook
XLSX, XLSX_MAPPING = FIXTURES / "visits_ehr.xlsx", FIXTURES / "visits_ehr_xlsx.toml"

# visits_ehr.xlsx (written by tests/fixtures/make_visits_xlsx.py) by hand as a tidy long file:
# one row per administration, answer texts as their numbers, the PHQ9 Total where the export
# has one; the no-show visit (row 3) has no administration and the PHQ-9 declined on row 7
# none either.
TIDY_XLSX = """\
patient_id,instrument,assessment_date,admit_date,discharge_date,item_1,item_2,item_3,item_4,item_5,item_6,item_7,item_8,item_9,total
00481523,PHQ-9,2025-01-06,2025-01-06,2025-02-14,2,3,2,2,1,2,2,1,0,15
00481523,GAD-7,2025-01-06,2025-01-06,2025-02-14,2,2,3,2,1,2,1,,,
00481523,PHQ-9,2025-01-20,2025-01-06,2025-02-14,2,1,2,1,1,1,0,0,0,8
00481523,GAD-7,2025-01-20,2025-01-06,2025-02-14,1,1,2,1,0,1,1,,,
00481523,PHQ-9,2025-02-14,2025-01-06,2025-02-14,1,1,1,1,0,1,0,0,0,
00481523,GAD-7,2025-02-14,2025-01-06,2025-02-14,1,1,1,0,0,1,0,,,
00479910,PHQ-9,2025-01-13,2025-01-13,2025-02-28,3,3,2,3,2,3,2,2,1,21
00479910,GAD-7,2025-01-13,2025-01-13,2025-02-28,3,2,3,3,2,2,3,,,
00479910,PHQ-9,2025-01-27,2025-01-13,2025-02-28,,,,,,,,,,16
00479910,GAD-7,2025-01-27,2025-01-13,2025-02-28,2,2,2,2,1,2,2,,,
00479910,GAD-7,2025-02-10,2025-01-13,2025-02-28,2,1,2,1,1,1,1,,,
00479910,PHQ-9,2025-02-28,2025-01-13,2025-02-28,2,1,1,1,1,1,1,0,0,8
00479910,GAD-7,2025-02-28,2025-01-13,2025-02-28,1,1,1,1,1,1,1,,,
00502277,PHQ-9,2025-02-03,2025-02-03,2025-03-14,3,2,3,2,2,2,1,1,0,16
00502277,GAD-7,2025-02-03,2025-02-03,2025-03-14,2,3,2,2,2,2,2,,,
00502277,PHQ-9,2025-02-17,2025-02-03,2025-03-14,2,2,2,,1,2,1,1,0,
00502277,GAD-7,2025-02-17,2025-02-03,2025-03-14,2,2,1,2,1,1,2,,,
00502277,PHQ-9,2025-03-14,2025-02-03,2025-03-14,1,1,1,1,1,0,1,0,0,6
00502277,GAD-7,2025-03-14,2025-02-03,2025-03-14,1,1,1,1,0,1,1,,,
00510034,PHQ-9,2025-02-10,2025-02-10,,2,2,2,1,2,2,1,1,0,13
00510034,GAD-7,2025-02-10,2025-02-10,,2,2,2,1,1,2,1,,,
00510034,PHQ-9,2025-02-24,2025-02-10,,1,2,1,1,1,1,1,1,0,
00510034,GAD-7,2025-02-24,2025-02-10,,1,1,2,1,1,1,1,,,
"""


@pytest.fixture(scope="module")
def workbook():
    return quiet_load(XLSX, mapping=XLSX_MAPPING, sheet="PHQ-GAD visits", skip_rows=2)


def test_the_excel_fixture_is_what_its_script_writes():
    """The committed workbook is reproducible from make_visits_xlsx.py, byte for byte."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_xlsx", FIXTURES / "make_visits_xlsx.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert make.build() == XLSX.read_bytes()


def test_excel_visits_give_the_scores_and_episodes_of_the_tidy_long_file(workbook, tmp_path):
    tidy_path = tmp_path / "tidy.csv"
    tidy_path.write_text(TIDY_XLSX)
    tidy = quiet_load(tidy_path)
    # 13 visits: 23 administrations; one prorated PHQ-9 (Q4 skipped: 11 / 8 x 9 = 12.4 -> 12)
    assert workbook.counts() == tidy.counts() == {"accepted": 22, "repaired": 1, "quarantined": 0}
    pd.testing.assert_frame_equal(by_key(workbook.data, SCORES), by_key(tidy.data, SCORES))
    items = ["patient_id", "instrument", "assessment_date", *(f"item_{i}" for i in range(1, 10))]
    pd.testing.assert_frame_equal(by_key(workbook.data, items), by_key(tidy.data, items))
    # totals worked by hand from the workbook's cells (answer texts: Several days = 1, ...)
    got = by_key(workbook.data, ["patient_id", "instrument", "assessment_date", "total"])
    garcia = got[got["patient_id"] == "00481523"]
    # GAD-7 x3, then PHQ-9 x3 (by_key sorts by instrument: its categories are sorted)
    assert garcia["total"].tolist() == [13, 7, 4, 15, 8, 5]
    ep_x = iop.episodes(workbook.data, instrument=["PHQ-9", "GAD-7"])
    ep_t = iop.episodes(tidy.data, instrument=["PHQ-9", "GAD-7"])
    assert len(ep_t) == 8  # 4 patients x 2 instruments
    for c in ep_t.columns:  # column by column, so a difference names its column
        pd.testing.assert_series_equal(ep_x[c], ep_t[c], obj=f"episodes column {c!r}")
    phq = ep_x[ep_x["instrument"] == "PHQ-9"].set_index("patient_id")
    assert phq.loc["00481523", ["baseline", "endpoint", "change"]].tolist() == [15, 5, -10]
    assert phq.loc["00479910", ["baseline", "endpoint", "change"]].tolist() == [21, 8, -13]
    # identifiers and notes are carried through as written (MRN keeps its leading zeros)
    assert {"patient_name", "dob", "visit_type", "clinician_notes"} <= set(workbook.data.columns)
    assert workbook.data["patient_id"].str.startswith("00").all()


def test_excel_ledger_counts_administrations_from_the_header_row(workbook):
    led = workbook.ledger
    assert len(led) == 23 and led["row"].is_monotonic_increasing
    # rows count from the header (below the two title rows): the no-show is visit row 3
    assert sorted(set(range(1, 14)) - set(led["row"])) == [3]
    assert led.loc[led["row"] == 7, "column"].astype(str).tolist() == ["GAD7 Q1 … GAD7 Q7"]
    notes = workbook.problems.loc[workbook.problems["severity"] == "note", "reason"].tolist()
    assert any(n.startswith("1 visit row(s) have no item or total") for n in notes)
    # the first sheet is the export's cover: read by default, it lacks the mapping's columns,
    # and the error names the sheet that has them
    with pytest.raises(LoadError) as exc:
        quiet_load(XLSX, mapping=XLSX_MAPPING, skip_rows=2)
    assert str(exc.value) == (
        "'visits_ehr.xlsx': sheet 'Export info' (the first, read by default) lacks the required "
        "column(s) patient_id, assessment_date (or week or timepoint), 'PHQ9 Q1', 'PHQ9 Q2', "
        "'PHQ9 Q3', and 14 more of [instruments] (columns found: 'Run by', 'rpt_user'). Sheets "
        "found: 'Export info', 'PHQ-GAD visits'. 'PHQ-GAD visits' has the required columns and "
        "rows: choose it with sheet='PHQ-GAD visits' (iop.load) or --sheet 'PHQ-GAD visits' "
        "(command line)."
    )
