"""The ledger invariant, property-tested for every source shape (issue 10).

Every source record is accounted for, by the rule documented for its shape
(``docs/data-format.md``, "Ledger"; the docstring of :func:`iop_outcomes.load`):

* tidy long: one ledger row per input row;
* wide (``wide=True``): one per non-empty score cell; wide rows without any are counted in a note;
* visit rows (``[instruments]``): one per administration (an instrument with any item or total
  on the row); visit rows without any are counted in a note;
* REDCap (``source="redcap"``): one per administration (a form with any of its item, date or
  total fields on the export row); export rows without any are counted in a note.

For random small inputs with blanks, missing-value spellings, junk, out-of-range values,
answer texts and repeated rows, each test checks: the ledger's rows are exactly the expected
source records; accepted + repaired + quarantined = ledger rows; accepted + repaired =
``len(result.data)`` and ``result.data["source_row"]`` are the rows kept; every quarantined or
repaired ledger row has a reason; the note counts the records that yield nothing.
"""

import warnings
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iop_outcomes as iop
from iop_outcomes.exceptions import IOPWarning
from iop_outcomes.io.readers import NULL_VALUES

DICTIONARY = Path(__file__).parent / "redcap" / "dictionary.csv"
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ITEM = st.sampled_from(
    [None, "", " ", "0", "1", "2", "3", 2, 3.0, "7", "-1", "x", "Several days",
     "nearly every day", "NA", "2.5", "."]
)  # fmt: skip
TOTAL = st.sampled_from([None, "", "5", "12", 14, "40", "abc", "9.5", "NA", " "])
DATE = st.sampled_from(["2025-01-06", "2025-01-13", "2025-02-30", "", "01/20/2025", None])
PID = st.sampled_from(["a", "b", "0012", "", None])


def given_cell(v) -> bool:
    """A cell holding something: not empty, not a missing-value spelling."""
    return v is not None and not (isinstance(v, str) and v.strip() in {"", *NULL_VALUES})


def load(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        return iop.load(df, **kw)


def with_repeats(rows_strategy):
    """Rows, some of them repeated (duplicate administrations)."""

    @st.composite
    def build(draw):
        rows = draw(rows_strategy)
        picks = draw(st.lists(st.integers(0, len(rows) - 1), max_size=3))
        return rows + [dict(rows[i]) for i in picks]

    return build()


def check(res, expected_rows: list[int], n_input: int) -> None:
    led = res.ledger
    assert sorted(led["row"].tolist()) == sorted(expected_rows)
    assert set(led["row"]) <= set(range(1, n_input + 1))
    c = res.counts()
    assert sum(c.values()) == len(led) == len(expected_rows)
    assert c["accepted"] + c["repaired"] == len(res.data)
    flagged = led[led["disposition"] != "accepted"]
    assert flagged["reason"].notna().all() and (flagged["reason"].astype(str) != "").all()
    kept = led.loc[led["disposition"] != "quarantined", "row"]
    assert sorted(res.data["source_row"].tolist()) == sorted(kept.tolist())


def note_count(res, text: str) -> int:
    """The count at the start of the file-level note containing ``text`` (0 without one)."""
    notes = [n for n in res.problems.loc[res.problems["severity"] == "note", "reason"] if text in n]
    assert len(notes) <= 1
    return int(notes[0].split(" ", 1)[0].replace(",", "")) if notes else 0


# ------------------------------------------------------------------------ tidy long
LONG_ROW = st.fixed_dictionaries(
    {
        "patient_id": PID,
        "instrument": st.sampled_from(["PHQ-9", "GAD-7", "phq9", "PHQ-8", "XYZ", "", None]),
        "assessment_date": DATE,
        **{f"item_{j}": ITEM for j in range(1, 10)},
        "total": TOTAL,
    }
)


@SETTINGS
@given(with_repeats(st.lists(LONG_ROW, min_size=1, max_size=8)), st.sampled_from([None, "PHQ-8"]))
def test_long_one_ledger_row_per_input_row(rows, harmonize):
    df = pd.DataFrame(rows, dtype=object)
    res = load(df, harmonize=harmonize)
    check(res, list(range(1, len(df) + 1)), len(df))
    assert res.ledger["row"].tolist() == list(range(1, len(df) + 1))


# ------------------------------------------------------------------------------ wide
WIDE_SCORES = ["phq9_intake", "phq9_discharge", "gad7_intake", "PHQ-9 FU3m"]
WIDE_ROW = st.fixed_dictionaries(
    {"patient_id": PID, **{c: TOTAL for c in WIDE_SCORES}, "phq9_intake_date": DATE}
)


@SETTINGS
@given(with_repeats(st.lists(WIDE_ROW, min_size=1, max_size=8)))
def test_wide_one_ledger_row_per_non_empty_score_cell(rows):
    df = pd.DataFrame(rows, dtype=object)
    res = load(df, wide=True)
    cells = [(i + 1, c) for i, r in enumerate(rows) for c in WIDE_SCORES if given_cell(r[c])]
    check(res, [r for r, _c in cells], len(df))
    got = list(zip(res.ledger["row"], res.ledger["column"].astype(str), strict=True))
    assert sorted(got) == sorted(cells)
    n_empty = len(df) - len({r for r, _c in cells})
    assert note_count(res, "wide row(s) have no scores at all") == n_empty


def test_wide_blank_cells_of_a_dataframe_are_no_scores_as_in_a_csv(tmp_path):
    """Found by the property above: a DataFrame's (or Excel sheet's) empty text and 'NA' score
    cells each made an assessment row, quarantined as 'no items and no total', where the same
    data read from a CSV made none."""
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "phq9_intake": ["14", "", "NA"],
            "phq9_discharge": ["6", " ", None],
        },
        dtype=object,
    )
    path = tmp_path / "wide.csv"
    df.to_csv(path, index=False)
    for source in (df, path):
        res = load(source, wide=True)
        assert res.ledger["row"].tolist() == [1, 1]
        assert res.counts() == {"accepted": 2, "repaired": 0, "quarantined": 0}
        assert note_count(res, "wide row(s) have no scores at all") == 2


# ------------------------------------------------------------------------ visit rows
PHQ_COLS = [f"PHQ9 Q{k}" for k in range(1, 10)] + ["PHQ9 Total"]
GAD_COLS = [f"GAD7 Q{k}" for k in range(1, 8)] + ["GAD7 Total"]
VISIT_ROW = st.fixed_dictionaries(
    {
        "MRN": PID,
        "Visit Date": DATE,
        **{c: (TOTAL if "Total" in c else ITEM) for c in PHQ_COLS + GAD_COLS},
        "Notes": st.sampled_from(["", "no-show", "Item 9 = 1, safety plan"]),
    }
)
VISIT_MAPPING = {
    "columns": {"MRN": "patient_id", "Visit Date": "assessment_date"},
    "instruments": {
        "PHQ-9": {"items": "PHQ9 Q{n}", "total": "PHQ9 Total"},
        "GAD-7": {"items": "GAD7 Q{n}", "total": "GAD7 Total"},
    },
}


@st.composite
def sparse_visits(draw):
    """Visit rows where whole questionnaires are often left empty (a no-show, one form)."""
    rows = draw(with_repeats(st.lists(VISIT_ROW, min_size=1, max_size=8)))
    for r in rows:
        for cols in (PHQ_COLS, GAD_COLS):
            if draw(st.booleans()):
                r.update(dict.fromkeys(cols, draw(st.sampled_from([None, "", "NA"]))))
    return rows


@SETTINGS
@given(sparse_visits())
def test_visits_one_ledger_row_per_administration(rows):
    df = pd.DataFrame(rows, dtype=object)
    res = load(df, mapping=VISIT_MAPPING)
    admin = [
        (i + 1, form)
        for i, r in enumerate(rows)
        for form, cols in (("PHQ9", PHQ_COLS), ("GAD7", GAD_COLS))
        if any(given_cell(r[c]) for c in cols)
    ]
    check(res, [r for r, _f in admin], len(df))
    got = list(zip(res.ledger["row"], res.ledger["column"].astype(str).str[:4], strict=True))
    assert got == admin  # in row order, then the mapping's order
    n_empty = len(df) - len({r for r, _f in admin})
    assert note_count(res, "visit row(s) have no item or total") == n_empty


# ---------------------------------------------------------------------------- REDCap
REDCAP_FORMS = {
    "phq9": ["phq9_date", *(f"phq9_{j}" for j in range(1, 10)), "phq9_total"],
    "gad7": ["gad7_date", *(f"gad7_{j}" for j in range(1, 8))],
}
REDCAP_ROW = st.fixed_dictionaries(
    {
        "record_id": st.sampled_from(["1", "2", "10", "0012"]),
        "redcap_event_name": st.sampled_from(
            ["baseline_arm_1", "week_2_arm_1", "discharge_arm_1", "weird_event_arm_1", ""]
        ),
        "age": st.sampled_from(["", "34", "200", "x"]),
        **{
            c: (DATE if c.endswith("date") else TOTAL if c.endswith("total") else ITEM)
            for cols in REDCAP_FORMS.values()
            for c in cols
        },
        "phq9_complete": st.sampled_from(["", "0", "1", "2"]),
        "gad7_complete": st.sampled_from(["", "0", "2", "Complete"]),
    }
)


@st.composite
def sparse_export(draw):
    rows = draw(with_repeats(st.lists(REDCAP_ROW, min_size=1, max_size=8)))
    for r in rows:
        for cols in REDCAP_FORMS.values():
            if draw(st.booleans()):
                r.update(dict.fromkeys(cols, ""))
    return rows


@settings(SETTINGS, max_examples=15)
@given(sparse_export(), st.booleans())
def test_redcap_one_ledger_row_per_administration(rows, with_dictionary):
    df = pd.DataFrame(rows, dtype=object)
    if not any(given_cell(r[c]) for r in rows for cols in REDCAP_FORMS.values() for c in cols):
        return  # an export without any answers is a LoadError (tests/test_redcap.py)
    kw = {"dictionary": DICTIONARY} if with_dictionary else {}
    res = load(df, source="redcap", **kw)
    admin = [
        (i + 1, form)
        for i, r in enumerate(rows)
        for form, cols in REDCAP_FORMS.items()
        if any(given_cell(r[c]) for c in cols)
    ]
    check(res, [r for r, _f in admin], len(df))
    got = list(zip(res.ledger["row"], res.ledger["column"].astype(str), strict=True))
    assert sorted(got) == sorted(admin)
    n_empty = len(df) - len({r for r, _f in admin})
    assert note_count(res, "REDCap export row(s) have no questionnaire") == n_empty
    # an administration on a form marked Incomplete (0) is quarantined, whatever else it holds
    status = {form: [r[f"{form}_complete"] for r in rows] for form in REDCAP_FORMS}
    led = res.ledger.assign(column=res.ledger["column"].astype(str))
    for row, form in admin:
        if status[form][row - 1] == "0":
            hit = led[(led["row"] == row) & (led["column"] == form)]
            assert hit["disposition"].astype(str).tolist() == ["quarantined"]
