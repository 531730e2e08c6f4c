"""iop.load(..., harmonize="PHQ-8"): PHQ-9 administrations scored as PHQ-8 from items 1-8.

The PHQ-8 is the PHQ-9 without item 9, the other eight items unchanged (Kroenke et al. 2009,
J Affect Disord 114:163-173), so a PHQ-9's PHQ-8 total is the sum of its items 1-8. Every
expected value below is worked by hand in the comment beside it.
"""

import json
import warnings

import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.cli import main
from iop_outcomes.exceptions import ConfigError, IOPWarning

ITEMS = [f"item_{j}" for j in range(1, 10)]


def load(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        return iop.load(df, **kw)


def rows(*records):
    """(patient, instrument, date, items (list, None for blank), total) -> a long DataFrame."""
    out = []
    for pid, inst, date, items, total in records:
        items = list(items) + [None] * (9 - len(items))
        out.append(
            {"patient_id": pid, "instrument": inst, "assessment_date": date}
            | dict(zip(ITEMS, items, strict=True))
            | {"total": total}
        )
    return pd.DataFrame(out).astype({c: "Int64" for c in ITEMS} | {"total": "Float64"})


# intake PHQ-9: items 3,2,2,1,2,1,2,1,1 -> PHQ-9 total 15; items 1-8 sum to 14 = PHQ-8 total
INTAKE = ("a", "PHQ-9", "2025-01-06", [3, 2, 2, 1, 2, 1, 2, 1, 1], None)
# discharge PHQ-8: 1+1+1+0+1+0+1+0 = 5
DISCHARGE = ("a", "PHQ-8", "2025-02-14", [1, 1, 1, 0, 1, 0, 1, 0], None)


def notes(res):
    return res.problems.loc[res.problems["severity"] == "note", "reason"].tolist()


def test_phq9_intake_and_phq8_discharge_pair_when_harmonised():
    df = rows(INTAKE, DISCHARGE)
    plain = load(df)
    assert plain.data["total"].tolist() == [15, 5]  # PHQ-9 15, PHQ-8 5: two instruments
    ep9 = iop.episodes(plain.data, instrument="PHQ-9")
    assert ep9.loc[0, "pair_status"] == "no_endpoint"  # they do not pair
    res = load(df, harmonize="PHQ-8")
    d = res.data
    assert d["instrument"].astype(str).tolist() == ["PHQ-8", "PHQ-8"]
    assert d["total"].tolist() == [14, 5]
    assert d["scoring_rule"].astype(str).tolist() == ["items_complete", "items_complete"]
    assert d["n_answered"].tolist() == [8, 8]
    assert d["severity"].astype(str).tolist() == ["moderate", "mild"]  # PHQ-8 bands 10-14, 5-9
    # item 9 is kept and still sets the safety flag (never part of the PHQ-8 total)
    assert d.loc[0, "item_9"] == 1 and bool(d.loc[0, "safety_flag"]) is True
    ep = iop.episodes(d, instrument="PHQ-8")
    assert ep.loc[0, ["baseline", "endpoint", "change"]].tolist() == [14, 5, -9]  # 5 - 14
    assert ep.loc[0, "pair_status"] == "paired"
    # the ledger marks the harmonised row as a repair, with both totals
    led = res.ledger
    assert led["disposition"].astype(str).tolist() == ["repaired", "accepted"]
    assert led.loc[0, "reason"] == (
        "PHQ-9 scored as PHQ-8 from items 1-8: PHQ-9 total 15 -> PHQ-8 total 14 "
        "(harmonize='PHQ-8'; item 9 kept for the safety flag)"
    )
    assert led.loc[0, "column"] == "instrument"
    assert (
        "harmonize='PHQ-8': 1 PHQ-9 administration(s) scored as PHQ-8 from items 1-8 (repairs "
        "in the ledger; PHQ-8 = PHQ-9 without item 9, Kroenke et al. 2009)"
    ) in notes(res)
    assert res.settings["harmonize"] == "PHQ-8" and res.settings["max_missing"]["PHQ-8"] == 1


def test_prorating_follows_the_phq8_rule_on_items_1_to_8():
    df = rows(
        # item 3 skipped: PHQ-9 prorated 16 / 8 x 9 = 18; PHQ-8 14 / 7 x 8 = 16
        ("p", "PHQ-9", "2025-01-06", [2, 2, None, 2, 2, 2, 2, 2, 2], None),
        # item 9 skipped: the PHQ-9 is prorated (8 of 9), the PHQ-8 complete: 1+1+1+1+1+1+0+0
        ("q", "PHQ-9", "2025-01-06", [1, 1, 1, 1, 1, 1, 0, 0, None], None),
        # item 8 skipped: 6 / 7 x 8 = 6.857 -> 7 (half up)
        ("r", "PHQ-9", "2025-01-06", [1, 1, 1, 1, 1, 1, 0, None, 0], None),
        # items 2 and 5 skipped: a PHQ-9 (2 of 9 may be prorated: 12 / 7 x 9 = 15.43 -> 15),
        # but 2 of the PHQ-8's 8 is more than its 1: it stays a PHQ-9
        ("s", "PHQ-9", "2025-01-06", [2, None, 2, 2, None, 2, 2, 2, 0], None),
    )
    res = load(df, harmonize="PHQ-8")
    d = res.data.set_index("patient_id")
    assert d["instrument"].astype(str).tolist() == ["PHQ-8", "PHQ-8", "PHQ-8", "PHQ-9"]
    assert d["total"].tolist() == [16, 6, 7, 15]
    assert d["scoring_rule"].astype(str).tolist() == [
        "prorated",
        "items_complete",
        "prorated",
        "prorated",
    ]
    assert d["n_answered"].tolist() == [7, 8, 7, 7]
    assert pd.isna(d.loc["q", "safety_flag"])  # item 9 missing: unknown, never imputed
    led = res.ledger.set_index("row")
    assert led.loc[1, "reason"] == (
        "PHQ-9 scored as PHQ-8 from items 1-8: PHQ-9 total 18 -> PHQ-8 total 16, prorated from "
        "7 of 8 items (harmonize='PHQ-8'; item 9 kept for the safety flag)"
    )  # the PHQ-9's own proration no longer describes the row: replaced
    # the PHQ-9 was prorated from 8 of 9 items: 6 / 8 x 9 = 6.75 -> 7; the PHQ-8 is complete
    assert "PHQ-9 total 7 -> PHQ-8 total 6 (harmonize" in led.loc[2, "reason"]
    # r: PHQ-9 6 / 8 x 9 = 6.75 -> 7 as well; PHQ-8 6 / 7 x 8 = 6.86 -> 7
    assert "PHQ-9 total 7 -> PHQ-8 total 7, prorated from 7 of 8 items" in led.loc[3, "reason"]
    assert led.loc[4, "disposition"] == "repaired"  # its PHQ-9 proration, as without harmonize
    assert led.loc[4, "reason"].startswith("total prorated from 7 of 9 items")
    assert (
        "harmonize='PHQ-8': 1 PHQ-9 administration(s) stay PHQ-9 (0 given as a total only, 1 "
        "with more than 1 of items 1-8 missing; row(s) 4): a PHQ-8 total cannot be derived "
        "from a PHQ-9 total, so they do not pair with PHQ-8 scores"
    ) in notes(res)


def test_the_phq8_missing_item_rule_can_be_set_like_any_other():
    df = rows(("p", "PHQ-9", "2025-01-06", [2, 2, None, 2, 2, 2, 2, 2, 2], None))
    res = load(df, harmonize="PHQ-8", missing_items={"PHQ-8": 0})
    assert res.data["instrument"].astype(str).tolist() == ["PHQ-9"]  # 1 missing > 0 allowed
    assert res.data["total"].tolist() == [18]  # PHQ-9 prorated by its own rule (2 allowed)


def test_a_phq9_total_alone_is_never_turned_into_a_phq8_total():
    df = rows(INTAKE, ("a", "PHQ-9", "2025-01-27", [], 12), DISCHARGE)
    res = load(df, harmonize="PHQ-8")
    d = res.data
    assert d["instrument"].astype(str).tolist() == ["PHQ-8", "PHQ-9", "PHQ-8"]
    assert d["total"].tolist() == [14, 12, 5]
    assert res.counts() == {"accepted": 2, "repaired": 1, "quarantined": 0}
    assert (
        "harmonize='PHQ-8': 1 PHQ-9 administration(s) stay PHQ-9 (1 given as a total only, 0 "
        "with more than 1 of items 1-8 missing; row(s) 2): a PHQ-8 total cannot be derived "
        "from a PHQ-9 total, so they do not pair with PHQ-8 scores"
    ) in notes(res)


def test_phq9_checks_come_first_and_quarantined_rows_are_not_harmonised():
    bad = ("b", "PHQ-9", "2025-01-06", [3, 2, 2, 1, 2, 1, 2, 1, 1], 20)  # items sum to 15
    res = load(rows(bad, INTAKE), harmonize="PHQ-8")
    assert res.ledger["disposition"].astype(str).tolist() == ["quarantined", "repaired"]
    assert (
        res.ledger.loc[0, "reason"] == "total 20 (items sum to 15) does not match the sum of items"
    )


def test_a_phq9_and_a_phq8_of_the_same_day_are_one_administration_once_harmonised():
    same = ("a", "PHQ-8", "2025-01-06", [3, 2, 2, 1, 2, 1, 2, 1], None)  # 14, as INTAKE's PHQ-8
    plain = load(rows(INTAKE, same))
    assert plain.counts() == {"accepted": 2, "repaired": 0, "quarantined": 0}
    res = load(rows(INTAKE, same), harmonize="PHQ-8")
    assert res.counts() == {"accepted": 0, "repaired": 1, "quarantined": 1}
    assert res.ledger.loc[1, "reason"].startswith("duplicate administration")
    other = ("a", "PHQ-8", "2025-01-06", [3, 3, 3, 1, 2, 1, 2, 1], None)  # 16: a conflict
    res = load(rows(INTAKE, other), harmonize="PHQ-8")
    assert res.counts()["quarantined"] == 2


def test_a_file_with_both_forms_says_so_and_suggests_harmonize():
    res = load(rows(INTAKE, DISCHARGE, ("c", "PHQ-9", "2025-01-08", [1] * 9, None)))
    assert (
        "the data hold both PHQ-8 (1 administration(s)) and PHQ-9 (2): different instruments, "
        "which do not pair in episodes. To compare them, load with harmonize='PHQ-8' (PHQ-9 "
        "scored as PHQ-8 from items 1-8; command line --harmonize PHQ-8)"
    ) in notes(res)
    assert any("harmonize='PHQ-8'" in n for n in res.summary().notes)
    assert not any("both" in n for n in notes(load(rows(INTAKE))))  # one form: no note


def test_ledger_invariant_and_row_order():
    df = rows(INTAKE, DISCHARGE, ("a", "PHQ-9", "2025-01-27", [], 12), ("x", "PHQ-9", "", [], 9))
    res = load(df, harmonize="phq8")  # any spelling of the instrument
    c = res.counts()
    assert sum(c.values()) == len(res.ledger) == len(df)
    assert c["accepted"] + c["repaired"] == len(res.data)
    back = load(df.iloc[::-1].reset_index(drop=True), harmonize="PHQ-8")
    key = ["patient_id", "assessment_date"]
    a = res.data.sort_values(key).reset_index(drop=True)[["instrument", "total"]]
    b = back.data.sort_values(key).reset_index(drop=True)[["instrument", "total"]]
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("value", ["PHQ-9", "GAD-7", "phq-88", 8])
def test_harmonize_takes_a_short_form_only(value):
    with pytest.raises(ConfigError, match="The 'harmonize' parameter of iop.load must be 'PHQ-8'"):
        iop.load(rows(INTAKE), harmonize=value)


def test_command_line_and_study_file(tmp_path, capsys):
    path = tmp_path / "scores.csv"
    rows(INTAKE, DISCHARGE).to_csv(path, index=False)
    assert main(["validate", str(path), "--harmonize", "PHQ-8"]) == 0
    out = capsys.readouterr().out
    assert "PHQ-9 scored as PHQ-8 from items 1-8" in out
    assert main(["summary", str(path), "--harmonize", "PHQ-8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary["change"]) == ["PHQ-8"]  # the PHQ-8 stands in for the PHQ-9
    assert main(["validate", str(path), "--harmonize", "PHQ-2"]) == 3
    assert "must be 'PHQ-8'" in capsys.readouterr().err
    study = tmp_path / "study.toml"
    study.write_text('instruments = ["PHQ-9", "GAD-7"]\n[data]\nharmonize = "PHQ-8"\n')
    from iop_outcomes._report.config import load_config

    cfg = load_config(study)
    assert cfg.instruments == ("PHQ-8", "GAD-7") and cfg.primary_instrument == "PHQ-8"
    assert cfg.load_options()["harmonize"] == "PHQ-8"
    assert cfg.to_dict()["harmonize"] == "PHQ-8"


def test_visit_rows_with_a_phq9_and_a_phq8_column_set_pair_when_harmonised():
    """An EHR that moved from the PHQ-9 to the PHQ-8 between intake and discharge."""
    visits = pd.DataFrame(
        {
            "MRN": ["0042", "0042"],
            "Visit Date": ["2025-01-06", "2025-02-14"],
            **{f"PHQ9 Q{k}": [v, None] for k, v in enumerate([3, 2, 2, 1, 2, 1, 2, 1, 1], 1)},
            **{f"PHQ8 Q{k}": [None, v] for k, v in enumerate([1, 1, 1, 0, 1, 0, 1, 0], 1)},
        }
    )
    mapping = {
        "columns": {"MRN": "patient_id", "Visit Date": "assessment_date"},
        "instruments": {"PHQ-9": {"items": "PHQ9 Q{n}"}, "PHQ-8": {"items": "PHQ8 Q{n}"}},
    }
    res = load(visits, mapping=mapping, harmonize="PHQ-8")
    assert res.ledger["row"].tolist() == [1, 2]
    assert res.ledger["column"].astype(str).tolist() == ["PHQ9 Q1 … PHQ9 Q9", "PHQ8 Q1 … PHQ8 Q8"]
    ep = iop.episodes(res.data, instrument="PHQ-8")
    assert ep.loc[0, ["baseline", "endpoint", "change"]].tolist() == [14, 5, -9]
