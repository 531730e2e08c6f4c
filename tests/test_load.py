"""iop.load: readers, mapping, every bad-input class, scoring, and the ledger invariant."""

import hashlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, IOPWarning, LoadError

PHQ_TEXT = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def frame(**over):
    """A small valid long frame: two patients, PHQ-9 totals."""
    d = {
        "patient_id": ["p1", "p1", "p2", "p2"],
        "instrument": ["PHQ-9"] * 4,
        "assessment_date": ["2025-01-06", "2025-02-17", "2025-01-08", "2025-02-19"],
        "total": [18, 9, 14, 12],
    }
    d.update(over)
    return pd.DataFrame(d)


def quiet_load(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        return iop.load(*args, **kw)


def reasons(res):
    return res.ledger.loc[res.ledger["disposition"] != "accepted", "reason"].tolist()


# ---------------------------------------------------------------- readers


def test_dataframe_round_trip():
    res = iop.load(frame())
    assert res.counts() == {"accepted": 4, "repaired": 0, "quarantined": 0}
    assert res.data["total"].tolist() == [18, 9, 14, 12]
    assert res.data["severity"].astype(str).tolist() == [
        "moderately severe",
        "mild",
        "moderate",
        "moderate",
    ]
    assert res.data["scoring_rule"].astype(str).tolist() == ["total_given"] * 4
    assert res.ledger["row"].tolist() == [1, 2, 3, 4]
    assert list(res.ledger.columns[:4]) == ["source", "row", "disposition", "reason"]


def test_label_categories_do_not_depend_on_row_order():
    """Labels are categories in sorted order, whatever row comes first: the same rows in
    another order load alike, and the default reference group (the first level) is the same."""
    rows = frame(
        format=["virtual", "in person", "hybrid", "virtual"],
        discharge_status=["Dropped out", "completed", None, "completed"],
    )
    one = quiet_load(rows).data
    other = quiet_load(rows.iloc[::-1].reset_index(drop=True)).data
    for col in ("format", "discharge_status", "instrument"):
        assert list(one[col].cat.categories) == list(other[col].cat.categories)
    assert list(one["format"].cat.categories) == ["hybrid", "in_person", "virtual"]
    assert list(one["discharge_status"].cat.categories) == ["completed", "dropped_out"]


@pytest.mark.parametrize(
    ("sep", "encoding"),
    [(",", "utf-8"), (";", "utf-8-sig"), ("\t", "utf-8"), (",", "cp1252"), ("|", "utf-8")],
)
def test_csv_dialects_and_encodings(tmp_path, sep, encoding):
    df = frame(site=["Café Nord", "Café Nord", "Süd", "Süd"])
    path = tmp_path / "scores.csv"
    df.to_csv(path, sep=sep, index=False, encoding=encoding)
    res = iop.load(path)
    assert res.counts()["accepted"] == 4
    assert res.data["site"].astype(str).tolist() == ["Café Nord", "Café Nord", "Süd", "Süd"]
    assert res.source == "scores.csv" and len(res.sha256) == 64


@pytest.mark.parametrize(("encoding", "newline"), [("utf-8", "\n"), ("cp1252", "\r\n")])
def test_large_csv_read_in_pieces_loads_exactly_as_in_one_piece(
    tmp_path, monkeypatch, encoding, newline
):
    """Large CSVs are parsed in line-aligned pieces; the result must not depend on the cut."""
    from iop_outcomes.io import readers

    d = iop.synth.generate(n_episodes=60, seed=5).data
    n = len(d)
    d["patient_id"] = "00" + d["patient_id"].astype(str)  # leading zeros must survive
    d["note"] = [None] * (n // 2) + ["café"] * (n - n // 2)  # empty in the first pieces
    d["extra"] = [None] * (n // 2) + list(range(n - n // 2))  # null-typed, then integers
    d["late"] = [1] * (n - 1) + [1.5]  # integers, then a decimal in the last piece
    # free-text notes with line breaks (and quotes) inside quoted fields: a piece must never
    # end inside one, wherever the cut falls
    d["memo"] = [f'line {i}\n"{i}" more\n' * (i % 7) if i % 5 else None for i in range(n)]
    path = tmp_path / "big.csv"
    d.to_csv(path, index=False, encoding=encoding, lineterminator=newline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = iop.load(path)
        monkeypatch.setattr(readers, "CSV_PIECE_BYTES", 2048)  # dozens of pieces
        cut = iop.load(path)
    assert path.stat().st_size > 20 * 2048
    assert cut.sha256 == whole.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    pd.testing.assert_frame_equal(cut.data, whole.data)
    pd.testing.assert_frame_equal(cut.ledger, whole.ledger)
    assert cut.data["patient_id"].str.startswith("00").all()
    assert cut.data["note"].astype(str).iloc[-1] == "café"
    assert cut.data["late"].iloc[-1] == 1.5 and cut.data["extra"].iloc[-1] == n - n // 2 - 1
    assert len(cut.data) == n and cut.data["memo"].iloc[3] == 'line 3\n"3" more\n' * 3


def test_scoring_in_row_blocks_equals_scoring_in_one_block(monkeypatch):
    import sys

    d = iop.synth.generate(n_episodes=80, seed=3, messy=True).data
    d = d.astype({f"item_{k}": object for k in (2, 5)})
    d.loc[d.index[::7], "item_2"] = "Several days"  # answer texts
    d.loc[d.index[3::11], "item_5"] = 9  # out of range
    whole = quiet_load(d)
    monkeypatch.setattr(sys.modules["iop_outcomes.io._load.score"], "_BLOCK_ROWS", 37)
    blocks = quiet_load(d)
    assert len(d) > 20 * 37
    pd.testing.assert_frame_equal(blocks.data, whole.data)
    pd.testing.assert_frame_equal(blocks.problems, whole.problems)


def test_excel_parquet(tmp_path):
    df = frame()
    df.to_excel(tmp_path / "s.xlsx", index=False)
    df.to_parquet(tmp_path / "s.parquet")
    for f in ("s.xlsx", "s.parquet"):
        res = iop.load(tmp_path / f)
        assert res.data["total"].tolist() == [18, 9, 14, 12], f


def test_parquet_in_many_row_groups_loads_as_the_frame(tmp_path):
    """Parquet is streamed by row group and compacted per batch; labels arrive as dictionaries."""
    d = iop.synth.generate(n_episodes=60, seed=4).data
    d.to_parquet(tmp_path / "p.parquet", row_group_size=97)
    got, want = quiet_load(tmp_path / "p.parquet").data, quiet_load(d).data
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert isinstance(got["site"].dtype, pd.CategoricalDtype)


def test_spss_and_stata_value_labels(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    df = pd.DataFrame(
        {
            "patient_id": ["p1", "p2"],
            "instrument": ["PHQ-9", "PHQ-9"],
            "assessment_date": ["2025-01-06", "2025-01-08"],
            "total": [10.0, 4.0],
            "format": [1.0, 2.0],
        }
    )
    labels = {"format": {1.0: "Face-to-face", 2.0: "Telehealth"}}
    pyreadstat.write_sav(df, tmp_path / "s.sav", variable_value_labels=labels)
    pyreadstat.write_dta(df, tmp_path / "s.dta", variable_value_labels=labels)
    for f in ("s.sav", "s.dta"):
        res = iop.load(tmp_path / f)
        assert res.data["format"].astype(str).tolist() == ["in_person", "virtual"], f
        assert res.counts()["repaired"] == 2  # synonyms mapped and recorded


def test_file_errors(tmp_path):
    with pytest.raises(LoadError, match="File not found"):
        iop.load(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(LoadError, match="unsupported file type '.json'"):
        iop.load(tmp_path / "x.json")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(LoadError, match="Cannot read 'bad.parquet' as Parquet"):
        iop.load(tmp_path / "bad.parquet")
    with pytest.raises(LoadError, match="must be a file path or a pandas DataFrame"):
        iop.load(42)


# ---------------------------------------------------------------- mapping, shapes


def test_missing_required_columns_names_them_and_lists_found():
    df = frame().drop(columns=["instrument"]).rename(columns={"patient_id": "client"})
    with pytest.raises(LoadError) as exc:
        iop.load(df)
    msg = str(exc.value)
    assert "required column(s) missing: patient_id, instrument" in msg
    assert "'client'" in msg and "mapping=" in msg


def test_mapping_dict_and_toml(tmp_path):
    df = frame().rename(columns={"patient_id": "Client ID", "assessment_date": "Date Given"})
    df["Mode"] = ["zoom", "zoom", "Clinic", "Clinic"]
    # 'zoom' is unknown without a synonym: the rows keep their scores, format is set to missing
    res = iop.load(
        df,
        mapping={"Client ID": "patient_id", "date given": "assessment_date", "Mode": "format"},
    )
    assert res.counts() == {"accepted": 0, "repaired": 4, "quarantined": 0}
    assert res.data["format"].astype(object).fillna("-").tolist() == [
        "-",
        "-",
        "in_person",
        "in_person",
    ]
    assert reasons(res)[0] == (
        "format (your column 'Mode') 'zoom' is not a known label; set to missing (to keep it, add "
        "it under [values.format] in the mapping)"
    )
    toml = tmp_path / "m.toml"
    toml.write_text(
        '[columns]\n"Client ID" = "patient_id"\n"Date Given" = "assessment_date"\nMode = "format"\n'
        '[values.format]\nzoom = "virtual"\n'
    )
    res = iop.load(df, mapping=toml)
    assert res.data["format"].astype(str).tolist() == [
        "virtual",
        "virtual",
        "in_person",
        "in_person",
    ]
    # your own [values.format] is declared, not a repair; the built-in 'Clinic' synonym is one
    assert res.ledger["disposition"].astype(str).tolist() == ["accepted"] * 2 + ["repaired"] * 2
    assert reasons(res) == ["format (your column 'Mode') 'Clinic' read as 'in_person'"] * 2


def test_case_insensitive_columns_and_cosmetic_spellings_are_not_repairs():
    df = frame(instrument=["phq9", "PHQ 9", "Phq-9", "PHQ-9"]).rename(columns=str.upper)
    res = iop.load(df)
    assert res.counts()["accepted"] == 4
    assert set(res.data["instrument"].astype(str)) == {"PHQ-9"}


def test_instrument_synonym_is_a_recorded_repair():
    res = iop.load(frame(instrument=["44261-6"] * 4))
    assert res.counts()["repaired"] == 4
    assert reasons(res)[0] == "instrument '44261-6' read as 'PHQ-9'"


def test_wide_file_reshaped_to_long():
    wide = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "format": ["virtual", "in_person"],
            "phq9_intake": [17, 12],
            "phq9_discharge": [8, np.nan],
            "gad7_fu3m": [6, 9],
        }
    )
    res = iop.load(wide, wide=True)
    d = res.data.sort_values(["patient_id", "instrument", "timepoint"]).reset_index(drop=True)
    assert len(d) == 5 and res.n_read == 5  # one ledger row per non-empty score cell
    assert d[["patient_id", "instrument", "timepoint", "total"]].values.tolist() == [
        ["a", "GAD-7", "followup_3m", 6],
        ["a", "PHQ-9", "discharge", 8],
        ["a", "PHQ-9", "intake", 17],
        ["b", "GAD-7", "followup_3m", 9],
        ["b", "PHQ-9", "intake", 12],
    ]


# ---------------------------------------------------------------- items and scoring


def test_items_as_numbers_and_as_answer_text_score_the_same():
    items = [1, 2, 3, 0, 1, 2, 3, 0, 1]  # PHQ manual: sum of item scores = 13
    num = pd.DataFrame(
        [
            {
                "patient_id": "p",
                "instrument": "PHQ-9",
                "assessment_date": "2025-01-02",
                **{f"item_{i + 1}": v for i, v in enumerate(items)},
            }
        ]
    )
    txt = num.copy()
    for i, v in enumerate(items):
        txt[f"item_{i + 1}"] = PHQ_TEXT[v].upper() if i == 0 else PHQ_TEXT[v]
    for df in (num, txt):
        res = iop.load(df)
        row = res.data.iloc[0]
        assert row["total"] == 13 and row["severity"] == "moderate"
        assert row["scoring_rule"] == "items_complete" and row["n_answered"] == 9
        assert bool(row["safety_flag"]) is True  # item 9 = 1 ("Several days")


def _phq(items, **extra):
    d = {"patient_id": "p", "instrument": "PHQ-9", "assessment_date": "2025-01-02"}
    d.update({f"item_{i + 1}": v for i, v in enumerate(items)})
    d.update(extra)
    return pd.DataFrame([d])


def test_prorating_follows_arrieta_and_is_recorded():
    # 8 answered items sum to 12: 12 / 8 * 9 = 13.5 -> 14 (rounded half up)
    res = iop.load(_phq([1, 2, 1, 2, 1, 2, 1, np.nan, 2]))
    row = res.data.iloc[0]
    assert row["total"] == 14 and row["scoring_rule"] == "prorated" and row["n_answered"] == 8
    assert res.ledger.loc[0, "disposition"] == "repaired"
    assert "total prorated from 8 of 9 items" in res.ledger.loc[0, "reason"]
    # 7 answered sum to 7: 7 / 7 * 9 = 9
    assert iop.load(_phq([1, 1, 1, 1, 1, 1, 1, np.nan, np.nan])).data["total"].iloc[0] == 9


def test_missing_item_rule_is_a_setting():
    df = _phq([1, 2, 1, 2, 1, 2, 1, np.nan, 2])
    res = quiet_load(df, missing_items="complete")
    assert res.counts()["quarantined"] == 1
    assert (
        "too many missing PHQ-9 items (8 of 9 answered; the rule allows 0 missing)"
        in reasons(res)[0]
    )
    three_missing = _phq([1, 2, 1, np.nan, np.nan, np.nan, 1, 1, 0])
    assert quiet_load(three_missing).counts()["quarantined"] == 1
    assert quiet_load(three_missing, missing_items=3).data["total"].iloc[0] == 9  # 6 / 6 * 9
    with pytest.raises(iop.ConfigError, match="missing_items"):
        iop.load(df, missing_items="guess")


def test_safety_item_never_imputed():
    res = iop.load(_phq([1, 2, 1, 2, 1, 2, 1, 2, np.nan]))
    row = res.data.iloc[0]
    assert (
        row["scoring_rule"] == "prorated" and pd.isna(row["safety_flag"]) and pd.isna(row["item_9"])
    )
    assert bool(iop.load(_phq([0] * 8 + [0])).data["safety_flag"].iloc[0]) is False
    assert "item 9" in iop.load(_phq([0] * 8 + [2])).summary().summary()


@pytest.mark.parametrize(
    ("items", "extra", "message"),
    [
        ([1, 2, 5, 0, 0, 0, 0, 0, 0], {}, "item_3 '5' is outside the PHQ-9 item range 0-3"),
        (
            [1, 2, "often", 0, 0, 0, 0, 0, 0],
            {},
            "item_3 'often' is not a number or an answer text of PHQ-9",
        ),
        ([1, 2, 1.5, 0, 0, 0, 0, 0, 0], {}, "item_3 '1.5' is outside the PHQ-9 item range 0-3"),
        (
            [1, 1, 1, 1, 1, 1, 1, 1, 1],
            {"total": 12},
            "total 12 (items sum to 9) does not match the sum of items",
        ),
        ([np.nan] * 9, {"total": 30}, "total 30 is outside the PHQ-9 range 0-27"),
        ([np.nan] * 9, {"total": 12.5}, "total 12.5 is not a whole number"),
        ([np.nan] * 9, {"total": "high"}, "total 'high' is not a number"),
        (
            [1, 1, 1, 1, 1, 1, 1, np.nan, np.nan],
            {"total": 30},
            "total 30 (answered items sum to 7) cannot come from the answered items",
        ),
    ],
)
def test_bad_items_and_totals_are_quarantined_with_a_clear_reason(items, extra, message):
    res = quiet_load(_phq(items, **extra))
    assert res.counts()["quarantined"] == 1
    assert message in reasons(res)[0]


def test_total_beside_incomplete_items_is_used_when_consistent():
    res = iop.load(_phq([1, 1, 1, 1, 1, 1, 1, np.nan, np.nan], total=10))
    assert res.data["total"].iloc[0] == 10 and res.data["scoring_rule"].iloc[0] == "total_given"


def test_gad7_row_with_phq_only_items():
    df = pd.DataFrame(
        [
            {
                "patient_id": "p",
                "instrument": "GAD-7",
                "assessment_date": "2025-01-02",
                **{f"item_{i}": 1 for i in range(1, 10)},
            }
        ]
    )
    res = quiet_load(df)
    assert "item_8 given, but GAD-7 has 7 items" in reasons(res)[0]


# ---------------------------------------------------------------- row-level checks


def test_unknown_instrument_and_format_and_status():
    df = frame(
        instrument=["PHQ-9", "BDI", "PHQ-9", "PHQ-9"],
        format=["virtual", "virtual", "zoom", "telehealth"],
        discharge_status=["completed", "graduated", "completed", "eloped"],
    )
    res = quiet_load(df)
    r = res.ledger["reason"].tolist()
    assert r[0] is None or pd.isna(r[0])
    assert "unknown instrument 'BDI'" in r[1]
    # an unknown optional label is set to missing; the row keeps its scores (a repair)
    assert r[2] == (
        "format 'zoom' is not a known label; set to missing (to keep it, add it under "
        "[values.format] in the mapping)"
    )
    assert r[3] == (
        "format 'telehealth' read as 'virtual'; discharge_status 'eloped' is not a known label; set "
        "to missing (to keep it, add it under [values.discharge_status] in the mapping)"
    )
    assert res.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "quarantined",
        "repaired",
        "repaired",
    ]
    assert res.data["format"].astype(object).fillna("-").tolist() == ["virtual", "-", "virtual"]
    status = res.data["discharge_status"].astype(object).fillna("-").tolist()
    assert status == ["completed", "completed", "-"]
    fix = res.problems.loc[res.problems["reason"].str.startswith("format 'zoom'"), "fix"].iloc[0]
    assert fix == (
        "Use in_person, virtual or hybrid, or add the label under [values.format] in the mapping "
        '(e.g. "your label" = "in_person").'
    )


@pytest.mark.parametrize("kind", ["csv", "text", "date objects"])
def test_dates_beyond_the_analysable_range_are_quarantined_not_a_crash(tmp_path, kind):
    import datetime

    far = {"text": "9999-12-31", "csv": "9999-12-31", "date objects": datetime.date(9999, 12, 31)}
    near = "2025-02-20" if kind != "date objects" else datetime.date(2025, 2, 20)
    df = frame(discharge_date=[near, far[kind], near, near])
    if kind == "csv":  # typed dates: pyarrow reads the column as dates
        df.to_csv(tmp_path / "d.csv", index=False)
        df = tmp_path / "d.csv"
    res = quiet_load(df)
    assert res.ledger["disposition"].astype(str).tolist()[:2] == ["accepted", "quarantined"]
    reason = res.ledger.loc[1, "reason"]
    assert reason.startswith("discharge_date '9999-12-31' is not a valid date"), reason
    assert res.data["discharge_date"].dtype == "datetime64[ns]"


def test_dates_unparseable_impossible_and_far_from_episode():
    df = frame(
        assessment_date=["2025-13-45", "2025-02-17", "1975-01-01", "2024-06-01"],
        admit_date=["2025-01-05", "2025-01-05", "2025-01-05", "2025-01-05"],
        discharge_date=["2025-02-20", "2024-12-01", "2025-02-20", "2025-02-20"],
    )
    res = quiet_load(df)
    r = res.ledger["reason"].tolist()
    assert "assessment_date '2025-13-45' is not a valid date" in r[0]
    assert "discharge_date 2024-12-01 is before admit_date" in r[1]
    assert "assessment_date 1975-01-01 is impossible" in r[2]
    assert "is far from its episode" in r[3]


def test_us_dates_and_custom_date_format():
    res = iop.load(frame(assessment_date=["01/06/2025", "02/17/2025", "01/08/2025", "02/19/2025"]))
    assert res.data["assessment_date"].iloc[1] == pd.Timestamp("2025-02-17")
    res = iop.load(
        frame(assessment_date=["06/01/2025", "17/02/2025", "08/01/2025", "19/02/2025"]),
        mapping={"options": {"date_format": "%d/%m/%Y"}},
    )
    assert res.data["assessment_date"].iloc[1] == pd.Timestamp("2025-02-17")


def test_duplicates_exact_and_conflicting():
    df = pd.concat(
        [frame(), frame().iloc[[0]], frame(total=[18, 9, 14, 20]).iloc[[3]]], ignore_index=True
    )
    res = quiet_load(df)
    disp = res.ledger["disposition"].astype(str).tolist()
    assert disp == ["repaired", "accepted", "accepted", "quarantined", "quarantined", "quarantined"]
    assert res.ledger.loc[4, "reason"] == "exact duplicate of row 1"
    assert "conflicting duplicate administrations" in res.ledger.loc[3, "reason"]
    assert "rows 4, 6" in res.ledger.loc[5, "reason"]
    assert len(res.data) == 3


def test_mixed_id_types_warn_and_fail_strict():
    df = frame(patient_id=["1001", "1001", "A-17", "A-17"])
    with pytest.warns(IOPWarning, match="mixes numeric and text identifiers"):
        iop.load(df)
    with pytest.raises(LoadError, match="mixes numeric and text identifiers"):
        iop.load(df, strict=True)


def test_excel_float_ids_become_text():
    res = iop.load(frame(patient_id=[12.0, 12.0, 13.0, 13.0]))
    assert res.data["patient_id"].tolist() == ["12", "12", "13", "13"]


def test_age_out_of_range_repaired_to_missing():
    res = iop.load(frame(age=[34, 34, 430, 430]))
    assert res.data["age"].isna().tolist() == [False, False, True, True]
    assert "age '430' is not a number from 0 to 120; set to missing" in reasons(res)


# ---------------------------------------------------------------- strict vs lenient


def test_strict_lists_every_problem_with_row_column_value_and_fix():
    df = frame(total=[18, 99, 14, 40], instrument=["PHQ-9", "PHQ-9", "XYZ", "PHQ-9"])
    with pytest.raises(LoadError) as exc:
        iop.load(df, strict=True, name="intake.csv")
    msg = str(exc.value)
    assert msg.startswith("intake.csv: 3 problem(s) in 4 rows (3 rows would be quarantined)")
    assert (
        "intake.csv, row 2, column total: total 99 is outside the PHQ-9 range 0-27 -> Correct the total."
        in msg
    )
    assert "row 3, column instrument: unknown instrument 'XYZ'" in msg
    assert len(exc.value.problems) == 3


def test_strict_message_is_capped():
    df = pd.concat([frame(total=[99] * 4)] * 30, ignore_index=True)
    df["assessment_date"] = pd.date_range("2025-01-01", periods=len(df)).strftime("%Y-%m-%d")
    with pytest.raises(LoadError, match=r"\.\.\. and 70 more"):
        iop.load(df, strict=True)


def test_lenient_warns_and_keeps_valid_rows():
    with pytest.warns(IOPWarning, match="1 of 4 rows quarantined"):
        res = iop.load(frame(total=[18, 9, 14, 99]))
    assert len(res.data) == 3 and res.data["source_row"].tolist() == [1, 2, 3]


def test_summary_and_ledger_export(tmp_path):
    res = quiet_load(frame(total=[18, 9, 14, 99]))
    text = str(res.summary())
    assert "Rows read 4 = accepted 3 + repaired 0 + quarantined 1." in text
    assert "<table" in res._repr_html_()
    res.ledger.to_csv(tmp_path / "ledger.csv", index=False)
    back = pd.read_csv(tmp_path / "ledger.csv")
    assert back["disposition"].tolist() == ["accepted"] * 3 + ["quarantined"]


# ---------------------------------------------------------------- the invariant


def test_synthetic_messy_faults_all_accounted_for():
    sim = iop.synth.generate(n_episodes=150, seed=11, messy=True)
    res = quiet_load(sim.data)
    c = res.counts()
    assert sum(c.values()) == len(sim.data) == res.n_read
    led = res.ledger
    injected = sim.truth.messy
    kinds = led.iloc[injected["row"].to_numpy()].assign(kind=injected["kind"].to_numpy())
    must_quarantine = {
        "instrument_unknown",
        "item_out_of_range",
        "item_not_numeric",
        "date_unparseable",
        "dates_swapped",
        "duplicate_exact_copy",
        "duplicate_conflicting_copy",
    }
    q = kinds[kinds["kind"].isin(must_quarantine)]
    assert (q["disposition"] == "quarantined").all()
    typo = kinds[kinds["kind"] == "format_typo"]  # format set to missing, the scores kept
    assert (typo["disposition"] != "accepted").all()
    syn = kinds[kinds["kind"] == "format_synonym"]
    assert (syn["disposition"] != "accepted").all()


cell = st.one_of(
    st.none(),
    st.integers(-2, 5),
    st.sampled_from(["", "Several days", "nearly every day", "x", "2", "1.5", "NaN"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 25),
    data=st.data(),
)
def test_ledger_invariant_on_random_messy_frames(n, data):
    draw = data.draw
    rows = []
    for _ in range(n):
        row = {
            "patient_id": draw(st.sampled_from(["a", "b", "7", None, 3])),
            "instrument": draw(st.sampled_from(["PHQ-9", "gad7", "PHQ 8", "bdi", None, "44261-6"])),
            "assessment_date": draw(
                st.sampled_from(["2025-01-01", "2025-01-08", "01/15/2025", "bad", None])
            ),
            "format": draw(st.sampled_from(["virtual", "Telehealth", "onsite", "zoom", None])),
        }
        for i in range(1, draw(st.integers(0, 9)) + 1):
            row[f"item_{i}"] = draw(cell)
        if draw(st.booleans()):
            row["total"] = draw(st.one_of(st.none(), st.integers(-1, 30), st.just("many")))
        rows.append(row)
    df = pd.DataFrame(rows)
    if "total" not in df and not any(c.startswith("item_") for c in df):
        df["total"] = 5
    df = df.astype(object)
    res = quiet_load(df)
    c = res.counts()
    assert c["accepted"] + c["repaired"] + c["quarantined"] == len(df) == len(res.ledger)
    assert len(res.data) == c["accepted"] + c["repaired"]
    assert res.ledger["row"].tolist() == list(range(1, len(df) + 1))
    q = res.ledger["disposition"] == "quarantined"
    assert res.ledger.loc[q, "reason"].notna().all()
    assert res.data["total"].notna().all()


def test_documented_example_file_loads_with_text_answers():
    from pathlib import Path

    res = iop.load(Path(__file__).resolve().parents[1] / "docs" / "example.csv")
    assert res.counts() == {"accepted": 8, "repaired": 0, "quarantined": 0}
    # GAD-7 intake given as answer text: 3 + 2 + 1 + 1 + 0 + 2 + 1 = 10
    assert res.data["total"].tolist() == [16, 10, 9, 6, 4, 7, 18, 15]


# ---------------------------------------------------------------- episodes and dates (review fixes)


def test_episode_ids_numbered_within_patient_are_made_unique():
    df = frame(episode_id=[1, 1, 1, 1])  # REDCap style: episode 1 of p1 and episode 1 of p2
    res = iop.load(df)
    assert res.data["episode_id"].tolist() == ["p1|1", "p1|1", "p2|1", "p2|1"]
    assert res.counts()["repaired"] == 4
    assert reasons(res)[0] == (
        "episode_id numbered within patient (1 episode_id value(s) are used by more than one "
        "patient, e.g. '1'); read as 'patient_id|episode_id'"
    )
    # ids unique across patients are kept as given, with no repair
    res = iop.load(frame(episode_id=["e1", "e1", "e2", "e2"]))
    assert res.data["episode_id"].tolist() == ["e1", "e1", "e2", "e2"]
    assert res.counts()["accepted"] == 4


def test_episodes_derived_from_admit_dates_without_episode_id():
    df = frame(
        patient_id=["p1"] * 4,
        assessment_date=["2025-01-02", "2025-02-01", "2025-06-02", "2025-07-01"],
        admit_date=["2025-01-01", "2025-01-01", "2025-06-01", "2025-06-01"],
    )
    res = iop.load(df)
    assert res.data["episode_id"].tolist() == ["p1|2025-01-01"] * 2 + ["p1|2025-06-01"] * 2
    assert reasons(res)[0] == (
        "no episode_id column and 1 patient(s) have several admit_date values: "
        "episode_id derived as 'patient_id|admit_date'"
    )
    # a row without admit_date joins the admission on or before its assessment date
    df.loc[3, "admit_date"] = None
    res = iop.load(df)
    assert res.data["episode_id"].iloc[3] == "p1|2025-06-01"
    assert res.ledger["reason"].iloc[3] == (
        "admit_date missing for a patient with several admissions: assigned to the admission on "
        "or before its assessment_date (else the next one)"
    )
    # one admission per patient: one episode per patient, as before
    res = iop.load(frame(admit_date=["2025-01-01"] * 2 + ["2025-01-05"] * 2))
    assert res.data["episode_id"].tolist() == ["p1", "p1", "p2", "p2"]
    assert res.counts()["accepted"] == 4


def test_date_order_is_decided_per_column():
    # 13/02 is only day-first, so the whole column is day/month/year (01/02 is 1 February)
    res = iop.load(frame(assessment_date=["01/02/2025", "13/02/2025", "2025-03-01", "20/03/2025"]))
    assert res.data["assessment_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-02-01",
        "2025-02-13",
        "2025-03-01",
        "2025-03-20",
    ]
    # no order reads every value: the best one is used and the rest quarantined, saying so
    res = quiet_load(frame(assessment_date=["01/02/2025", "13/02/2025", "12/25/2025", "1/30/2025"]))
    assert res.ledger["disposition"].astype(str).tolist()[1] == "quarantined"
    assert reasons(res) == [
        "assessment_date '13/02/2025' does not fit the date order used for this column: "
        "month/day/year (%m/%d/%Y), which reads 3 of 4 distinct non-ISO values"
    ]
    # a two-digit year is not read as year 25 AD
    res = iop.load(frame(assessment_date=["1/2/25", "1/20/25", "2/3/25", "2/14/25"]))
    assert res.data["assessment_date"].iloc[1] == pd.Timestamp("2025-01-20")


def test_ambiguous_date_order_is_a_file_level_warning():
    df = frame(assessment_date=["01/02/2025", "03/04/2025", "05/06/2025", "07/08/2025"])
    with pytest.warns(IOPWarning, match="day/month order cannot be told"):
        res = iop.load(df)
    assert res.data["assessment_date"].iloc[0] == pd.Timestamp("2025-01-02")
    p = res.problems
    assert p["severity"].tolist() == ["warning"] and p["row"].tolist() == [0]
    assert "read as month/day/year (%m/%d/%Y)" in p["reason"].iloc[0]
    assert "options.date_format = '%d/%m/%Y'" in p["fix"].iloc[0]
    with pytest.raises(LoadError, match="day/month order"):
        iop.load(df, strict=True)
    # the user's order: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", IOPWarning)
        res = iop.load(df, mapping={"options": {"date_format": "%d/%m/%Y"}})
    assert res.data["assessment_date"].iloc[0] == pd.Timestamp("2025-02-01")


def test_times_and_time_zones_keep_the_local_day():
    df = frame(
        assessment_date=[
            "2025-01-06T23:30:00-05:00",
            "2025-02-17 14:30",
            "01/28/2025 9:15",
            "2025-02-19T01:00:00Z",
        ]
    )
    res = iop.load(df)
    assert res.data["assessment_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-06",
        "2025-02-17",
        "2025-01-28",
        "2025-02-19",
    ]
    days = ["2025-01-06 23:30", "2025-02-17 23:30", "2025-01-08 23:30", "2025-02-19 23:30"]
    aware = pd.Series(pd.to_datetime(days)).dt.tz_localize("US/Eastern")
    res = iop.load(frame(assessment_date=aware))
    assert res.data["assessment_date"].iloc[0] == pd.Timestamp("2025-01-06")
    assert res.data["assessment_date"].dt.tz is None


# ---------------------------------------------------------------- CSV encodings and id text


def test_csv_windows1252_byte_after_the_sniffed_block(tmp_path):
    rows = ["patient_id,instrument,assessment_date,total,site"]
    rows += [f"p{i},PHQ-9,2025-01-{i % 28 + 1:02d},{i % 27},North clinic" for i in range(3000)]
    rows.append("p9999,PHQ-9,2025-01-05,12,Clínica Sur")
    path = tmp_path / "late.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    assert path.stat().st_size > 1 << 16
    res = iop.load(path)
    assert res.counts()["accepted"] == 3001
    assert res.data["site"].iloc[-1] == "Clínica Sur"


def test_csv_utf16_and_empty_files(tmp_path):
    path = tmp_path / "u16.csv"
    text = "Patient ID\tInstrument\tAssessment Date\tTotal\nA\tPHQ-9\t2025-01-02\t20\n"
    path.write_bytes(text.encode("utf-16"))  # with BOM, as Excel's "Unicode text"
    res = iop.load(path)
    assert res.data[["patient_id", "total"]].values.tolist() == [["A", 20]]
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(LoadError, match="'empty.csv' is empty"):
        iop.load(tmp_path / "empty.csv")
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(LoadError, match="'blank.csv' is empty"):
        iop.load(tmp_path / "blank.csv")


def test_csv_ids_keep_leading_zeros_also_when_renamed(tmp_path):
    path = tmp_path / "z.csv"
    path.write_text(
        "MRN,Episode,instrument,assessment_date,total\n"
        "0012,01,PHQ-9,2025-01-02,20\n0012,01,PHQ-9,2025-02-02,10\n0340,02,PHQ-9,2025-01-03,9\n"
    )
    res = iop.load(path, mapping={"MRN": "patient_id", "Episode": "episode_id"})
    assert res.data["patient_id"].tolist() == ["0012", "0012", "0340"]
    assert res.data["episode_id"].tolist() == ["01", "01", "02"]


# ---------------------------------------------------------------- episodes table join


def _assess():
    return pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 3],
            "episode_id": [10, 10, 20, 30],
            "instrument": "PHQ-9",
            "assessment_date": ["2025-01-02", "2025-02-01", "2025-01-03", "2025-01-04"],
            "total": [20, 10, 15, 12],
            "site": ["x", "x", "y", "z"],
        }
    )


@pytest.mark.parametrize("key_type", [str, int, float])
@pytest.mark.parametrize("with_site", [True, False])
def test_episode_table_join_normalises_keys_and_warns_with_counts(key_type, with_site):
    ep = pd.DataFrame(
        {
            "episode_id": pd.Series([10, 20, 40]).astype(key_type),
            "admit_date": ["2025-01-01", "2025-01-02", "2025-01-05"],
            "site": ["North", "South", "East"],
        }
    )
    if not with_site:
        ep = ep.drop(columns="site")
    with pytest.warns(IOPWarning) as rec:
        res = iop.load(_assess(), episodes=ep)
    msg = " ".join(str(w.message) for w in rec)
    assert (
        "episodes table joined on episode_id: 1 assessment row(s) have no matching episode_id "
        "in the episodes table (their episode columns stay empty); 1 episodes-table row(s) have "
        "no assessments" in msg
    )
    d = res.data
    assert d["admit_date"].notna().tolist() == [True, True, True, False]
    assert d["site"].astype(str).tolist() == (
        ["North", "North", "South", "z"] if with_site else ["x", "x", "y", "z"]
    )


def test_episode_table_by_patient_with_several_episodes_asks_for_episode_id():
    a = _assess().drop(columns="episode_id")
    ep = pd.DataFrame({"patient_id": ["1", "1"], "admit_date": ["2025-01-01", "2025-06-01"]})
    with pytest.raises(LoadError) as exc:
        iop.load(a, episodes=ep)
    msg = str(exc.value)
    assert "several rows for patient_id '1' (several episodes per patient)" in msg
    assert "Give episode_id in both tables" in msg


# ---------------------------------------------------------------- timepoints and auxiliary columns


@pytest.mark.parametrize(
    ("label", "canonical"),
    [
        ("3 month follow up", "followup_3m"),
        ("1-month follow-up", "followup_1m"),
        ("3mo FU", "followup_3m"),
        ("Month 3", "followup_3m"),
        ("6 months", "followup_6m"),
        ("fu12m", "followup_12m"),
        ("baseline_arm_1", "intake"),
        ("week_2_arm_1", "week_2"),
        ("3_month_followup_arm_1", "followup_3m"),
        ("FU1", None),  # a visit number, not a month: ambiguous
        ("FU2", None),
        ("2 months", None),  # not a contract follow-up
        ("24 month follow-up", None),
    ],
)
def test_timepoint_spellings(label, canonical):
    from iop_outcomes.io.mapping import normalize_timepoint

    assert normalize_timepoint(label) == canonical


def test_timepoint_and_instrument_value_synonyms_from_the_mapping():
    df = frame(
        timepoint=["screen", "exit_arm_1", "screen", "discharge_arm_2"], instrument=["PHQ9 v2"] * 4
    ).drop(columns="assessment_date")
    m = {
        "values": {
            "timepoint": {"screen": "intake", "exit": "discharge"},
            "instrument": {"PHQ9 v2": "PHQ-9"},
        }
    }
    res = iop.load(df, mapping=m)
    assert res.data["timepoint"].tolist() == ["intake", "discharge", "intake", "discharge"]
    assert set(res.data["instrument"].astype(str)) == {"PHQ-9"}
    # labels mapped by your own mapping are declared, not repairs ('exit_arm_1' matches 'exit';
    # a REDCap arm suffix alone is formatting)
    assert res.counts() == {"accepted": 4, "repaired": 0, "quarantined": 0}
    assert res.problems["reason"].tolist() == [
        "instrument: 4 row(s) relabelled by [values.instrument] in the mapping (declared, so not "
        "counted as repairs)",
        "timepoint: 3 row(s) relabelled by [values.timepoint] in the mapping (declared, so not "
        "counted as repairs)",
    ]


def test_unrecognised_timepoint_is_set_missing_with_a_date_and_quarantined_without():
    df = frame(timepoint=["intake", "FU1", "intake", "FU1"])
    df.loc[3, "assessment_date"] = None
    res = quiet_load(df)
    assert res.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "repaired",
        "accepted",
        "quarantined",
    ]
    assert res.ledger["reason"].iloc[1] == (
        "timepoint 'FU1' is not a recognised label; set to missing (the assessment_date is used). "
        "To keep it, map it under [values.timepoint] in the mapping"
    )
    assert pd.isna(res.data["timepoint"].iloc[1])
    assert res.ledger["reason"].iloc[3] == "unknown timepoint 'FU1'"
    fix = res.problems.loc[res.problems["row"] == 4, "fix"].iloc[0]
    assert "[values.timepoint]" in fix


def test_bad_auxiliary_columns_are_set_missing_not_quarantined():
    df = frame(attendance_hours=["12,5", 30, 30, 30], week=[0, "x", 0, 5])
    res = iop.load(df)
    assert res.counts() == {"accepted": 2, "repaired": 2, "quarantined": 0}
    assert (
        res.ledger["reason"].iloc[0]
        == "attendance_hours '12,5' is not a number >= 0; set to missing"
    )
    assert res.ledger["reason"].iloc[1] == (
        "week 'x' is not a number from 0 to 260; set to missing (the assessment_date is used)"
    )
    assert res.data["attendance_hours"].isna().tolist() == [True, False, False, False]
    # without a date, the week is the time axis: the row is quarantined
    res = quiet_load(frame(week=[0, "x", 0, 5]).drop(columns="assessment_date"))
    assert res.ledger["reason"].iloc[1] == "week 'x' is not a number from 0 to 260"
    assert res.ledger["disposition"].iloc[1] == "quarantined"


def test_unknown_format_and_status_are_set_missing_and_point_to_the_mapping():
    res = quiet_load(frame(format=["zoomish"] * 4, discharge_status=["eloped"] * 4))
    assert res.counts() == {"accepted": 0, "repaired": 4, "quarantined": 0}
    assert res.data["total"].tolist() == [18, 9, 14, 12]
    assert res.data[["format", "discharge_status"]].isna().all().all()
    fixes = res.problems.drop_duplicates("check")["fix"].tolist()
    assert any("[values.format] in the mapping" in f for f in fixes)
    assert any("[values.discharge_status] in the mapping" in f for f in fixes)


# ---------------------------------------------------------------- duplicates


def test_duplicate_compares_totals_only_and_names_what_matched():
    items = [2, 2, 2, 2, 2, 2, 2, 2, 0]  # total 16
    d = {"patient_id": "p", "instrument": "PHQ-9", "assessment_date": "2025-01-02"}
    with_items = {**d, **{f"item_{i + 1}": v for i, v in enumerate(items)}}
    df = pd.DataFrame(
        [with_items, {**d, "total": 16, "assessment_date": "01/02/2025 10:30"}, {**d, "total": 16}]
    )
    res = quiet_load(df)
    assert res.ledger["disposition"].astype(str).tolist() == [
        "repaired",
        "quarantined",
        "quarantined",
    ]
    assert res.ledger["reason"].tolist() == [
        "kept the first of duplicate administrations",
        "duplicate administration (same patient, episode, instrument, date and total) of row 1",
        "duplicate administration (same patient, episode, instrument, date and total) of row 1",
    ]
    assert (
        res.data["total"].tolist() == [16] and res.data["scoring_rule"].iloc[0] == "items_complete"
    )


def test_duplicates_without_dates_are_keyed_on_timepoint():
    df = pd.DataFrame(
        {
            "patient_id": "A",
            "instrument": "PHQ-9",
            "timepoint": ["intake", "discharge", "Discharge", "followup_3m", "3 months"],
            "total": [20, 9, 9, 11, 14],
        }
    )
    res = quiet_load(df)
    assert res.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "repaired",
        "quarantined",
        "quarantined",
        "quarantined",
    ]
    # 'Discharge' is spelt differently: the same administration, not an exact copy
    assert res.ledger["reason"].iloc[2] == (
        "duplicate administration (same patient, episode, instrument, timepoint and total) of row 2"
    )
    assert res.ledger["reason"].iloc[3] == (
        "conflicting duplicate administrations: same patient, episode, instrument and timepoint "
        "with different totals (rows 4, 5)"
    )


def test_wide_file_ledger_is_per_score_cell_with_source_rows_and_columns():
    wide = pd.DataFrame(
        {
            "Client": ["a", "b", "c"],
            "PHQ-9 Intake": [17, np.nan, 40],
            "PHQ-9 Discharge": [8, np.nan, 10],
            "GAD-7 FU3m": [6, np.nan, np.nan],
        },
        index=["x", "y", "z"],  # a string index must not leak into row numbers
    )
    res = quiet_load(wide, wide=True, mapping={"Client": "patient_id"})
    led = res.ledger
    assert led["row"].tolist() == [1, 1, 1, 3, 3]
    assert led["column"].astype(str).tolist() == [
        "GAD-7 FU3m",
        "PHQ-9 Discharge",
        "PHQ-9 Intake",
        "PHQ-9 Discharge",
        "PHQ-9 Intake",
    ]
    assert led["disposition"].astype(str).tolist()[-1] == "quarantined"
    assert led["reason"].iloc[-1] == "total 40 is outside the PHQ-9 range 0-27"
    note = res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()
    assert note == [
        "1 wide row(s) have no scores at all and produce no assessment rows (the ledger has one "
        "row per non-empty score cell)"
    ]
    assert note[0] in str(res.summary())
    # a note is not a problem: strict mode only fails on the out-of-range total
    with pytest.raises(LoadError, match="1 problem"):
        iop.load(wide, wide=True, mapping={"Client": "patient_id"}, strict=True)
    res = iop.load(
        wide.iloc[:1].reset_index(drop=True).set_index(pd.Index([7])),
        wide=True,
        mapping={"Client": "patient_id"},
        strict=True,
    )
    assert res.ledger["row"].tolist() == [1, 1, 1]


def test_messages_name_the_users_own_column_when_renamed():
    df = _phq([1, 7, 1, 1, 1, 1, 1, 1, 0]).rename(
        columns={f"item_{i}": f"phq9_{i}" for i in range(1, 10)} | {"assessment_date": "Visit"}
    )
    df.loc[0, "Visit"] = "2025-13-01"
    m = {f"phq9_{i}": f"item_{i}" for i in range(1, 10)} | {"Visit": "assessment_date"}
    res = quiet_load(df, mapping=m)
    p = res.problems.set_index("column")["reason"]
    assert p["phq9_2"] == "item_2 (your column 'phq9_2') '7' is outside the PHQ-9 item range 0-3"
    assert p["Visit"].startswith(
        "assessment_date (your column 'Visit') '2025-13-01' is not a valid date"
    )
    assert res.ledger["column"].iloc[0] == "Visit"
    # unrenamed columns keep the contract name alone
    res = quiet_load(_phq([1, 7, 1, 1, 1, 1, 1, 1, 0]))
    assert res.problems["reason"].iloc[0] == "item_2 '7' is outside the PHQ-9 item range 0-3"


def test_mixed_date_objects_and_blank_text_do_not_crash():
    import datetime as dt

    df = frame(
        assessment_date=[dt.datetime(2025, 1, 6, 14, 30), "", "01/08/2025", "2025-02-19"],
    ).astype({"assessment_date": object})
    res = quiet_load(df)
    assert res.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "quarantined",
        "accepted",
        "accepted",
    ]
    assert res.ledger["reason"].iloc[1].startswith("assessment_date '' is not a valid date")
    assert res.data["assessment_date"].iloc[0] == pd.Timestamp("2025-01-06")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 20), data=st.data())
def test_ledger_invariant_with_episodes_timepoints_and_dates(n, data):
    draw = data.draw
    pick = lambda xs: draw(st.sampled_from(xs))  # noqa: E731
    cols = {
        "patient_id": ["a", "b", "0012", None, 7.0],
        "instrument": ["PHQ-9", "gad7", "bdi"],
        "total": [3, 12, 30, None, "x"],
        "assessment_date": [
            "2025-01-02",
            "01/02/2025",
            "13/01/2025",
            "2025-01-02T23:00+02:00",
            "",
            None,
        ],
        "episode_id": [1, 2, "e1", None],
        "timepoint": ["intake", "FU1", "week 2", "3 months", "Month 6", None],
        "admit_date": ["2025-01-01", "2025-02-01", None],
        "week": [0, "x", None, 2],
        "attendance_hours": [10, "12,5", None],
    }
    keep = [c for c in cols if c in ("patient_id", "instrument", "total") or draw(st.booleans())]
    if not {"assessment_date", "timepoint", "week"} & set(keep):
        keep.append("timepoint")
    df = pd.DataFrame({c: [pick(cols[c]) for _ in range(n)] for c in keep}).astype(object)
    for strict in (False, True):
        try:
            res = quiet_load(df, strict=strict)
        except LoadError:
            assert strict
            continue
        c = res.counts()
        assert c["accepted"] + c["repaired"] + c["quarantined"] == n == len(res.ledger)
        assert len(res.data) == c["accepted"] + c["repaired"]
        assert res.ledger["row"].tolist() == list(range(1, n + 1))
        assert res.data["episode_id"].notna().all() and res.data["total"].notna().all()


def test_documented_mapping_example_parses():
    from pathlib import Path

    from iop_outcomes.io.mapping import read_mapping

    m = read_mapping(Path(__file__).resolve().parents[1] / "docs" / "mapping.toml")
    assert m.columns["Client ID"] == "patient_id" and m.columns["Q2"] == "item_2"
    assert m.values["format"]["zoom"] == "virtual" and m.options["date_format"] == "%m/%d/%Y"
    assert m.values["discharge_status"]["steppeduptophp"] == "transferred"


def test_csv_and_dataframe_of_the_same_data_load_alike(tmp_path):
    sim = iop.synth.generate(n_episodes=60, seed=2)
    path = tmp_path / "sim.csv"
    sim.data.to_csv(path, index=False, date_format="%Y-%m-%d")
    a = quiet_load(path).data
    b = quiet_load(sim.data).data
    for c in ("site", "format", "payer", "instrument", "severity"):
        assert list(a[c].cat.categories) == list(b[c].cat.categories), c
        assert a[c].astype(str).tolist() == b[c].astype(str).tolist(), c
    assert a["total"].tolist() == b["total"].tolist()
    assert a["patient_id"].tolist() == b["patient_id"].tolist()


def test_rows_listed_per_duplicate_group_match_a_plain_join():
    """The 'rows 3, 8, 11' texts of duplicate groups are built per group size, vectorized."""
    import importlib

    joined_by_group = importlib.import_module("iop_outcomes.io._load.duplicates")._joined_by_group
    rng = np.random.default_rng(0)
    gid = pd.factorize(rng.integers(0, 40, 120))[0]  # groups of sizes 1..8, interleaved
    rows = np.sort(rng.choice(10_000, 120, replace=False)) + 1
    want = [", ".join(str(r) for r in rows[gid == g]) for g in gid]
    assert joined_by_group(rows, gid).tolist() == want


# ------------------------------------------------- same-day administrations with their labels


def _same_day(timepoints, totals):
    days = ["2025-01-06"] + ["2025-02-17"] * (len(timepoints) - 1)
    return pd.DataFrame(
        {
            "patient_id": "A",
            "instrument": "PHQ-9",
            "assessment_date": days,
            "timepoint": timepoints,
            "total": totals,
        }
    )


def _ledger_ok(res, n):
    c = res.counts()
    assert sum(c.values()) == n == len(res.ledger) and len(res.data) == n - c["quarantined"]
    assert res.ledger["row"].tolist() == list(range(1, n + 1))


def test_same_day_administrations_with_different_labels_are_two_not_a_conflict():
    df = _same_day(["intake", "week_6", "discharge"], [20, 12, 9])
    res = iop.load(df)  # no warning: nothing quarantined
    _ledger_ok(res, 3)
    assert res.counts() == {"accepted": 3, "repaired": 0, "quarantined": 0}
    assert res.data["timepoint"].astype(str).tolist() == ["intake", "week_6", "discharge"]
    # the episode keeps its discharge score as the endpoint, whatever the row order
    for order in ([0, 1, 2], [0, 2, 1], [2, 1, 0]):
        ep = iop.episodes(iop.load(df.iloc[order]).data)
        assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0]) == (20, 9)


def test_same_day_same_or_missing_label_stay_duplicates_with_the_key_in_the_message():
    df = _same_day(
        ["intake", "discharge", "Discharge", None, "week_5", "week_5"], [20, 9, 9, 9, 12, 13]
    )
    df.loc[4:, "assessment_date"] = "2025-02-10"  # week_5 twice on another day
    res = quiet_load(df)
    _ledger_ok(res, 6)
    assert res.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "repaired",
        "quarantined",
        "quarantined",
        "quarantined",
        "quarantined",
    ]
    assert reasons(res) == [
        "kept the first of duplicate administrations",
        "duplicate administration (same patient, episode, instrument, date, timepoint and total) "
        "of row 2",
        "duplicate administration (same patient, episode, instrument, date, timepoint and total) "
        "of row 2",
        "conflicting duplicate administrations: same patient, episode, instrument, date and "
        "timepoint with different totals (rows 5, 6)",
        "conflicting duplicate administrations: same patient, episode, instrument, date and "
        "timepoint with different totals (rows 5, 6)",
    ]


def test_unlabelled_row_beside_one_label_is_its_duplicate_beside_two_it_is_ambiguous():
    one = quiet_load(_same_day(["intake", "discharge", None], [20, 9, 11]))
    _ledger_ok(one, 3)
    assert one.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "quarantined",
        "quarantined",
    ]
    assert "rows 2, 3" in one.ledger["reason"].iloc[1]
    two = quiet_load(_same_day(["intake", "week_6", "discharge", None], [20, 12, 9, 9]))
    _ledger_ok(two, 4)
    assert two.ledger["disposition"].astype(str).tolist() == [
        "accepted",
        "accepted",
        "accepted",
        "quarantined",
    ]
    assert two.ledger["reason"].iloc[3] == (
        "no timepoint on a day with differently labelled administrations of the same patient, "
        "episode and instrument (discharge, week_6): it cannot be told which it repeats"
    )
    assert two.ledger["column"].iloc[3] == "timepoint"


def test_files_without_timepoints_keep_the_date_key():
    df = _same_day(["intake", "week_6", "discharge"], [20, 12, 9]).drop(columns="timepoint")
    res = quiet_load(df)
    _ledger_ok(res, 3)
    assert res.ledger["reason"].iloc[1] == (
        "conflicting duplicate administrations: same patient, episode, instrument and date with "
        "different totals (rows 2, 3)"
    )


# ------------------------------------------------------- header-only files, sheets, title rows


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".dta"])
def test_header_only_file_is_a_clear_error(tmp_path, suffix):
    df = frame().iloc[:0]
    path = tmp_path / f"visits{suffix}"
    if suffix in (".csv", ".tsv"):
        df.to_csv(path, index=False, sep="," if suffix == ".csv" else "\t")
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.astype({"total": float}).to_stata(path, write_index=False)
    with pytest.raises(LoadError) as e:
        iop.load(path)
    assert str(e.value) == (
        f"'visits{suffix}' has a header but no rows: the columns 'patient_id', 'instrument', "
        "'assessment_date', 'total' and no data below them. Check that the export finished (and "
        "that its filter matched any rows)."
    )


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "visits.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"Note": ["exported by the EHR"]}).to_excel(
            xw, sheet_name="Notes", index=False
        )
        frame().to_excel(xw, sheet_name="PHQ scores", index=False)
        frame().iloc[:0].to_excel(xw, sheet_name="Empty", index=False)
        pd.DataFrame().to_excel(xw, sheet_name="Blank", index=False)
    return path


CHOOSE = (
    "Sheets found: 'Notes', 'PHQ scores', 'Empty', 'Blank'. 'PHQ scores' has the required "
    "columns and rows: choose it with sheet='PHQ scores' (iop.load) or --sheet 'PHQ scores' "
    "(command line)."
)


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        (
            0,
            "'visits.xlsx': sheet 'Notes' (the first, read by default) lacks the required "
            "column(s) patient_id, instrument, assessment_date (or week or timepoint), total (or "
            "item_1 ... item_k) (columns found: 'Note'). " + CHOOSE,
        ),
        (
            "Empty",
            "'visits.xlsx': sheet 'Empty' has a header but no rows (columns 'patient_id', "
            "'instrument', 'assessment_date', 'total'). " + CHOOSE,
        ),
        ("Blank", "'visits.xlsx': sheet 'Blank' is empty. " + CHOOSE),
        (
            "Scores",
            "'visits.xlsx' has no sheet 'Scores'. Sheets found: 'Notes', 'PHQ scores', 'Empty', "
            "'Blank'. Choose one by name or 0-based position, e.g. sheet='Notes' (iop.load) or "
            "--sheet Notes (command line), or sheet=0 / --sheet 0 for the first.",
        ),
        (
            4,
            "'visits.xlsx' has no sheet 4. Sheets found: 'Notes', 'PHQ scores', 'Empty', "
            "'Blank'. Choose one by name or 0-based position, e.g. sheet='Notes' (iop.load) or "
            "--sheet Notes (command line), or sheet=0 / --sheet 0 for the first.",
        ),
    ],
)
def test_excel_wrong_sheet_names_the_sheets_and_how_to_choose(workbook, sheet, message):
    with pytest.raises(LoadError) as e:
        iop.load(workbook, sheet=sheet)
    assert str(e.value) == message


@pytest.mark.parametrize("sheet", ["PHQ scores", 1, "1"])
def test_excel_sheet_by_name_or_position(workbook, sheet):
    res = iop.load(workbook, sheet=sheet)
    assert res.counts()["accepted"] == 4 == len(res.ledger)
    assert res.data["total"].tolist() == [18, 9, 14, 12]


def test_excel_sheet_check_follows_the_mapping(tmp_path):
    path = tmp_path / "renamed.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"x": [1]}).to_excel(xw, sheet_name="Cover", index=False)
        frame().rename(columns={"patient_id": "Client"}).to_excel(
            xw, sheet_name="Data", index=False
        )
    with pytest.raises(LoadError, match="lacks the required column"):
        iop.load(path, sheet="Data")
    res = iop.load(path, mapping={"Client": "patient_id"}, sheet="Data")
    assert res.counts()["accepted"] == 4
    with pytest.raises(LoadError, match="'Data' has the required columns"):
        iop.load(path, mapping={"Client": "patient_id"})


def test_skip_rows_above_the_header_in_csv_and_excel(tmp_path):
    csv_path = tmp_path / "titled.csv"
    body = frame().to_csv(index=False, sep=";")
    csv_path.write_text('Clinic report; "Q1, 2025"\nexported 2025-04-01\n' + body)
    res = iop.load(csv_path, skip_rows=2)
    assert res.counts()["accepted"] == 4 == len(res.ledger)
    assert res.ledger["row"].tolist() == [1, 2, 3, 4]  # still counted from the header
    assert res.data["total"].tolist() == [18, 9, 14, 12]
    assert res.sha256 == hashlib.sha256(csv_path.read_bytes()).hexdigest()  # the whole file
    xlsx = tmp_path / "titled.xlsx"
    with pd.ExcelWriter(xlsx) as xw:
        frame().to_excel(xw, sheet_name="Data", index=False, startrow=2)
        pd.DataFrame({"Clinic report": []}).to_excel(xw, sheet_name="Data", index=False)
    res = iop.load(xlsx, skip_rows=2)
    assert res.counts()["accepted"] == 4 == len(res.ledger)
    assert res.data["patient_id"].tolist() == ["p1", "p1", "p2", "p2"]
    with pytest.raises(LoadError, match="skip_rows= / --skip-rows"):
        iop.load(xlsx)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "must be an int >= 0 (the number of title rows above the header). Got -1 instead."),
        ("2", "must be an int >= 0 (the number of title rows above the header). Got '2' instead."),
        (True, "must be an int >= 0 (the number of title rows above the header). Got True"),
    ],
)
def test_skip_rows_is_checked(tmp_path, value, message):
    path = tmp_path / "v.csv"
    frame().to_csv(path, index=False)
    with pytest.raises(LoadError, match=re.escape(message)):
        iop.load(path, skip_rows=value)


def test_skip_rows_errors_name_the_file(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("title\n")
    with pytest.raises(LoadError) as e:
        iop.load(path, skip_rows=3)
    assert str(e.value) == (
        "'v.csv' has no header row after skipping 3 row(s). Check skip_rows / --skip-rows: it "
        "counts the title rows above the header."
    )
    frame().to_parquet(tmp_path / "v.parquet")
    with pytest.raises(LoadError) as e:
        iop.load(tmp_path / "v.parquet", skip_rows=1)
    assert str(e.value) == (
        "The 'skip_rows' parameter of iop.load (--skip-rows) applies to CSV and Excel files. Got "
        "skip_rows=1 for 'v.parquet', a Parquet file, instead."
    )
    with pytest.raises(LoadError) as e:
        iop.load(path, sheet="PHQ")
    assert str(e.value) == (
        "The 'sheet' parameter of iop.load (--sheet) applies to Excel files. Got sheet='PHQ' for "
        "'v.csv', a CSV file, instead."
    )


# ------------------------------------------------------------------ decimal commas

EURO = (
    "patient_id;instrument;assessment_date;"
    + ";".join(f"item_{i}" for i in range(1, 10))
    + ";total;age;attendance_hours;site\n"
    "p1;PHQ-9;06.01.2025;2,0;2,0;1,0;2,0;2,0;1,0;2,0;2,0;0,0;14,0;34,5;12,5;Nord, Süd\n"
    "p1;PHQ-9;17.02.2025;1,0;1,0;1,0;1,0;1,0;1,0;1,0;1,0;0,0;8,0;34,5;30;Nord, Süd\n"
    "p2;PHQ-9;08.01.2025;3;1,0;1;1;1;1;1;1;0;10;41;7,25;Ost\n"
)


def test_decimal_commas_in_a_semicolon_file_are_read_as_numbers(tmp_path):
    path = tmp_path / "euro.csv"
    path.write_text(EURO, encoding="utf-8")
    res = iop.load(path)
    _ledger_ok(res, 3)
    assert res.counts() == {"accepted": 3, "repaired": 0, "quarantined": 0}
    d = res.data
    assert d["item_1"].tolist() == [2, 1, 3] and d["item_2"].tolist() == [2, 1, 1]
    assert d["total"].tolist() == [14, 8, 10] and d["scoring_rule"].iloc[0] == "items_complete"
    assert d["age"].tolist() == [34.5, 34.5, 41]
    assert d["attendance_hours"].tolist() == [12.5, 30, 7.25]
    assert d["site"].astype(str).tolist() == ["Nord, Süd", "Nord, Süd", "Ost"]  # text stays text
    assert d["assessment_date"].iloc[1] == pd.Timestamp("2025-02-17")
    notes = res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()
    assert notes == [
        "decimal commas read as numbers (12,5 = 12.5) in item_1, item_2, item_3, item_4, item_5, "
        "item_6, item_7, item_8, item_9, total, age, attendance_hours (a ';'-delimited file)"
    ]
    # the same values with decimal points load the same
    dots = iop.load(_write(tmp_path / "dots.csv", EURO.replace(",0;", ".0;")))
    pd.testing.assert_series_equal(dots.data["total"], d["total"])


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_decimal_comma_detected_only_when_the_whole_column_reads_so(tmp_path):
    text = EURO.replace("34,5;12,5", "34,5;12,5 h")
    res = quiet_load(_write(tmp_path / "mixed.csv", text))
    _ledger_ok(res, 3)
    # attendance is not converted (one value is not a number): its comma values stay text,
    # set to missing as before, while the other columns are read
    assert res.counts()["repaired"] == 2
    assert reasons(res) == [
        "attendance_hours '12,5 h' is not a number >= 0; set to missing",
        "attendance_hours '7,25' is not a number >= 0; set to missing",
    ]
    assert res.data["age"].tolist() == [34.5, 34.5, 41]  # other columns still converted


def test_comma_delimited_files_are_unchanged_unless_the_mapping_says_decimal_comma(tmp_path):
    text = (
        "patient_id,instrument,assessment_date,total,age,attendance_hours\n"
        'p1,PHQ-9,2025-01-06,"12,0","34,5","12,5"\n'
        'p2,PHQ-9,2025-01-07,"12,5x",30,4\n'
    )
    path = _write(tmp_path / "comma.csv", text)
    plain = quiet_load(path)
    _ledger_ok(plain, 2)
    assert reasons(plain) == [
        "total '12,0' is not a number",
        "total '12,5x' is not a number",
    ]
    opt = quiet_load(path, mapping={"options": {"decimal": ","}})
    _ledger_ok(opt, 2)
    assert opt.data[["total", "age", "attendance_hours"]].values.tolist() == [[12.0, 34.5, 12.5]]
    assert reasons(opt) == ["total '12,5x' is not a number"]  # reported as written
    notes = opt.problems.loc[opt.problems["severity"] == "note", "reason"].tolist()
    assert notes == [
        "decimal commas read as numbers (12,5 = 12.5) in total, age, attendance_hours "
        "(options.decimal = ',')"
    ]
    # an unquoted 12,5 in a comma-delimited file is two fields, as before
    bad = _write(
        tmp_path / "two.csv",
        "patient_id,instrument,assessment_date,total\np,PHQ-9,2025-01-06,12,5\n",
    )
    with pytest.raises(LoadError, match="Cannot parse 'two.csv' as a ','-delimited file"):
        iop.load(bad)


def test_decimal_option_on_a_dataframe_and_decimal_point_turns_detection_off(tmp_path):
    df = frame(total=["18,0", "9", "14,0", "12"], age=["30,5", "30,5", "41", None])
    res = iop.load(df, mapping={"options": {"decimal": ","}})
    _ledger_ok(res, 4)
    assert res.data["total"].tolist() == [18, 9, 14, 12]
    assert res.data["age"].tolist()[:3] == [30.5, 30.5, 41]
    off = quiet_load(_write(tmp_path / "euro.csv", EURO), mapping={"options": {"decimal": "."}})
    _ledger_ok(off, 3)
    assert off.counts()["quarantined"] == 3  # items '2,0' are not numbers when told so


def test_decimal_option_is_checked():
    with pytest.raises(ConfigError) as e:
        iop.load(frame(), mapping={"options": {"decimal": "comma"}})
    assert str(e.value) == (
        "The 'decimal' option of the mapping must be '.' or ',' (TOML: [options] decimal = \",\"). "
        "Got 'comma' instead."
    )


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [
        ("utf-8", "\n"),
        ("utf-8-sig", "\r\n"),
        ("cp1252", "\r\n"),
        ("utf-16", "\r\n"),
        ("utf-8", "\r"),
    ],
)
def test_skip_rows_in_every_csv_encoding_and_line_end(tmp_path, encoding, newline):
    lines = ["Clinic report – Q1", "exported 2025-04-01", *frame().to_csv(index=False).splitlines()]
    path = tmp_path / "titled.csv"
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    res = iop.load(path, skip_rows=2)
    assert res.counts()["accepted"] == 4 == len(res.ledger)
    assert res.data["total"].tolist() == [18, 9, 14, 12]
    assert res.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "column", ["week", "age", "attendance_hours", "sessions_attended", "sessions_scheduled"]
)
def test_nullable_integers_in_every_optional_numeric_column(tmp_path, column):
    """Issue 10: an integer ``age`` column with one blank cell crashed ("Boolean array
    expected", exit 4). A blank in an integer column of a CSV, and pandas' nullable Int64 with
    NA in a DataFrame, load as numbers with a missing value; no row is lost."""
    values = pd.array([3, None, 5], dtype="Int64")
    df = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "instrument": "PHQ-9",
            "assessment_date": ["2025-01-06", "2025-02-03", "2025-01-07"],
            "total": [17, 9, 12],
            column: values,
        }
    )
    path = tmp_path / "scores.csv"
    df.to_csv(path, index=False)  # the NA is written as a blank cell
    for data in (df, path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = iop.load(data)
        assert res.counts() == {"accepted": 3, "repaired": 0, "quarantined": 0}
        got = pd.to_numeric(res.data[column].astype("Float64"), errors="coerce")
        assert got.iloc[[0, 2]].tolist() == [3, 5] and pd.isna(got.iloc[1])


# ------------------------------------------------------------------ parameters (issue 13)
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"strict": "yes"}, "The 'strict' parameter of iop.load must be True or False. Got 'yes'"),
        ({"wide": 1}, "The 'wide' parameter of iop.load must be True or False. Got 1 instead."),
        (
            {"missing_items": 1.5},
            "The 'missing_items' parameter of iop.load must be one of 'prorate', 'complete', an "
            "int in the range [0, inf) or an instance of 'dict'. Got 1.5 instead.",
        ),
        ({"mapping": 5}, "The 'mapping' parameter of iop.load must be an instance of 'dict'"),
        ({"name": 3}, "The 'name' parameter of iop.load must be an instance of 'str' or None."),
        ({"sheet": -1}, "an int in the range [0, inf) or None. Got -1 instead."),
        ({"table": 7}, "The 'table' parameter of iop.load must be an instance of 'str' or None"),
    ],
)
def test_parameters_are_validated_before_reading(kw, message):
    df = pd.DataFrame(
        {"patient_id": ["a"], "instrument": ["PHQ-9"], "assessment_date": ["2025-01-06"]}
        | {"total": [5]}
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        iop.load(df, **kw)
    assert "strict" in iop.load.__iop_constraints__  # declared on the function
