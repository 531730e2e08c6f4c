"""Seeded mutations of valid files: every input ends in a ledgered load or a clean error.

The short form of ``bench/fuzz_load.py`` (which runs 10,000 cases, each in its own process,
and records the outcome counts in bench/RESULTS.md). Mutations and verdicts are defined in
``tests/fuzzing.py``. Each case runs under a time limit: a file of a few hundred rows that
takes seconds to load is a hang (quadratic work somewhere), not a slow machine.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fuzzing import FORMATS, MUTATIONS, base_frame, cases, make_case, run_case
from test_load import quiet_load

import iop_outcomes as iop

N_CASES = 2 * len(FORMATS) * len(MUTATIONS)  # every mutation in every format, twice
LIMIT_S = 20  # per case; a few hundred rows load in well under a second


class _Hang(Exception):
    pass


def _alarm(*_):
    raise _Hang


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_inputs_load_with_a_ledger_or_fail_cleanly(chunk, tmp_path):
    base = base_frame()
    verdicts, bad = Counter(), []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i, (seed, fmt, mutation) in enumerate(cases(N_CASES)):
            if i % 4 != chunk:
                continue
            src, planted = make_case(seed, fmt, mutation, tmp_path, base)
            signal.alarm(LIMIT_S)
            try:
                verdict, detail = run_case(src, planted)
            except _Hang:
                verdict, detail = "hang", f"over {LIMIT_S} s"
            finally:
                signal.alarm(0)
            verdicts[verdict] += 1
            if verdict not in ("loaded", "clean_error"):
                bad.append((seed, fmt, mutation, verdict, detail))
    finally:
        signal.signal(signal.SIGALRM, old)
    assert bad == [], bad
    assert verdicts["loaded"] > 0 and verdicts["clean_error"] > 0  # both kinds occur


def _csv_with(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


HEAD = "patient_id,instrument,assessment_date,total,note\n"


def test_a_one_megabyte_cell_and_ten_thousand_quoted_newlines_load(tmp_path):
    # linear-time reading: both inputs are small; a quadratic step would show as a hang here
    big = _csv_with(tmp_path, "big.csv", HEAD + f'p1,PHQ-9,2025-01-06,12,"{"x" * 1_000_000}"\n')
    res = iop.load(big)
    assert res.counts() == {"accepted": 1, "repaired": 0, "quarantined": 0}
    rows = "".join(f'p{i},PHQ-9,2025-01-06,{i % 28},"line one\nline two"\n' for i in range(10_000))
    many = _csv_with(tmp_path, "newlines.csv", HEAD + rows)
    res = iop.load(many)
    assert len(res.ledger) == 10_000 and res.counts()["accepted"] == 10_000
    assert res.data["note"].iloc[0] == "line one\nline two"


@pytest.mark.parametrize(
    ("value", "loaded_as"),
    [
        ("0x1", None),  # hexadecimal: not a decimal number
        ("1_0", None),  # Python's float() reads this as 10
        ("inf", None),
        ("١", None),  # an Arabic-Indic digit, which float() reads as 1
        (" 2 ", 2.0),  # surrounding spaces are formatting
        ("2.0", 2.0),
        ("NA", "missing"),  # the readers' missing-value spellings
        ("nan", "missing"),
    ],
)
def test_item_values_are_decimal_numbers_or_answer_texts(tmp_path, value, loaded_as):
    items = ",".join(["1"] * 8)
    text = (
        "patient_id,instrument,assessment_date,"
        + ",".join(f"item_{i}" for i in range(1, 10))
        + "\n"
    )
    text += f'p1,PHQ-9,2025-01-06,{items},"{value}"\n'
    text += f"p2,PHQ-9,2025-01-06,{items},1\n"
    for source in (_csv_with(tmp_path, "t.csv", text), pd.read_csv(tmp_path / "t.csv", dtype=str)):
        res = iop.load(source) if loaded_as is not None else quiet_load(source)
        first = res.ledger.iloc[0]
        if loaded_as is None:
            assert first["disposition"] == "quarantined"
            assert "is not a number or an answer text of PHQ-9" in first["reason"]
        elif loaded_as == "missing":  # prorated from the 8 answered items
            assert first["disposition"] == "repaired"
            assert res.data["item_9"].isna().iloc[0] and res.data["total"].iloc[0] == 9
        else:
            assert res.data["item_9"].iloc[0] == loaded_as


@pytest.mark.parametrize("flag", [True, False, np.True_])
def test_booleans_are_not_item_answers_or_totals(flag):
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "instrument": ["GAD-7", "GAD-7"],
            "assessment_date": ["2025-01-06", "2025-01-06"],
            **{f"item_{i}": pd.Series([1, 1], dtype=object) for i in range(1, 8)},
            "total": pd.Series([None, flag], dtype=object),
        }
    )
    df.loc[0, "item_3"] = flag
    res = quiet_load(df)
    assert list(res.ledger["disposition"]) == ["quarantined", "quarantined"]
    assert (
        "item_3 'True'" in res.ledger["reason"].iloc[0] or "'False'" in res.ledger["reason"].iloc[0]
    )
    assert "is not a number" in res.ledger["reason"].iloc[1]


@pytest.mark.parametrize("column", ["item_0", "item_10", "item_100000", "item_x"])
def test_item_columns_no_instrument_has(column):
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "instrument": ["PHQ-9", "PHQ-9"],
            "assessment_date": ["2025-01-06", "2025-01-06"],
            **{f"item_{i}": [1, 1] for i in range(1, 10)},
            column: [2, None],
        }
    )
    res = quiet_load(df)
    assert list(res.ledger["disposition"]) == ["quarantined", "accepted"]
    assert res.ledger["reason"].iloc[0].startswith(f"{column} given, but PHQ-9 has 9 items")
    assert res.ledger["column"].iloc[0] == column
    assert column not in res.data.columns
    # empty: ignored, and the summary says which column
    empty = quiet_load(df.assign(**{column: None}))
    assert empty.counts()["accepted"] == 2
    assert any(f"column {column} ignored" in r for r in empty.problems["reason"])


def test_integer_column_with_a_blank_and_ids_beyond_int64(tmp_path):
    text = "patient_id,instrument,assessment_date,total,age\n"
    text += "18446744073709551615,PHQ-9,2025-01-06,12,34\n9223372036854775808,PHQ-9,2025-01-07,9,\n"
    res = iop.load(_csv_with(tmp_path, "ids.csv", text))
    assert list(res.data["patient_id"]) == ["18446744073709551615", "9223372036854775808"]
    assert res.data["age"].iloc[0] == 34 and pd.isna(res.data["age"].iloc[1])
    df = pd.DataFrame(
        {
            "patient_id": np.array([2**64 - 1, 2**63], dtype=np.uint64),
            "instrument": "PHQ-9",
            "assessment_date": ["2025-01-06", "2025-01-07"],
            "total": [12, 9],
            "age": pd.array([34, None], dtype="Int64"),
        }
    )
    res = iop.load(df)
    assert list(res.data["patient_id"]) == ["18446744073709551615", "9223372036854775808"]


def test_dictionary_encoded_and_unhashable_cells(tmp_path):
    df = pd.DataFrame(
        {
            "patient_id": pd.Series(["a", " b"], dtype="category"),
            "instrument": pd.Series(["PHQ-9", "PHQ-9"], dtype="category"),
            "assessment_date": ["2025-01-06", "2025-01-07"],
            "total": [12, 9],
            "site": pd.Series([["North"], b"\xff"], dtype=object),
        }
    )
    res = quiet_load(df)
    assert list(res.data["patient_id"]) == ["a", "b"]
    p = tmp_path / "d.parquet"  # dictionary-encoded text in Parquet
    df.drop(columns="site").to_parquet(p)
    assert list(iop.load(p).data["patient_id"]) == ["a", "b"]


def test_dates_at_the_edges_of_pandas_range_and_weeks_beyond_five_years():
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d"],
            "instrument": "PHQ-9",
            "assessment_date": ["2025-01-06", "2025-01-06", "0001-01-01", "2025-02-30"],
            "total": [12, 8, 5, 5],
            # a 584-year episode overflowed the day arithmetic (Timestamp - 180 days)
            "admit_date": ["1678-01-01", "2025-01-01", "2025-01-01", "2025-01-01"],
            "discharge_date": ["2262-01-01", "2025-03-01", "2025-03-01", "2025-03-01"],
            "week": pd.Series(["0", "1e30", None, None], dtype=object),
        }
    )
    res = quiet_load(df)
    r = list(res.ledger["reason"].astype(str))
    assert r[0].startswith("admit_date 1678-01-01 is impossible (before 1990 or in the future)")
    assert "discharge_date 2262-01-01 is impossible" in r[0]
    assert (
        r[1]
        == "week '1e30' is not a number from 0 to 260; set to missing (the assessment_date is used)"
    )
    assert "'0001-01-01' is not a valid date (no such day, or outside 1677-09-22" in r[2]
    assert "'2025-02-30' is not a valid date (no such day" in r[3]
    assert list(res.ledger["disposition"]) == [
        "quarantined",
        "repaired",
        "quarantined",
        "quarantined",
    ]
    assert iop.io.mapping.normalize_timepoint("week 261") is None
    assert iop.io.mapping.normalize_timepoint("week 260") == "week_260"


@pytest.mark.parametrize("column", ["item_3", "total", "age", "week", "instrument"])
def test_embedded_nul_is_a_clean_problem(column):
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "instrument": ["GAD-7", "GAD-7"],
            "assessment_date": ["2025-01-06", "2025-01-06"],
            **{f"item_{i}": pd.Series([1, 1], dtype=object) for i in range(1, 8)},
            "age": pd.Series([30, 30], dtype=object),
            "week": pd.Series([1, 1], dtype=object),
        }
    )
    if column == "total":
        df["total"] = pd.Series(["7\x00", 7], dtype=object)
    else:
        df[column] = df[column].astype(object)
        df.loc[0, column] = f"{df.loc[1, column]}\x00"
    res = quiet_load(df)
    first = res.ledger.iloc[0]
    assert first["disposition"] in ("quarantined", "repaired")
    assert first["column"] == column and "\x00" in first["value"]
    assert res.ledger["disposition"].iloc[1] == "accepted"


@pytest.mark.parametrize("column", ["format", "discharge_status", "site", "timepoint"])
def test_undecodable_bytes_in_a_label_column_are_an_unknown_label(column):
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "instrument": "PHQ-9",
            "assessment_date": ["2025-01-06", "2025-01-07"],
            "total": [12, 9],
            column: pd.Series([b"\xff\xfe", None], dtype=object),
        }
    )
    res = quiet_load(df)
    assert len(res.ledger) == 2 and res.ledger["disposition"].iloc[1] == "accepted"
    assert res.ledger["disposition"].iloc[0] in ("accepted", "repaired")
