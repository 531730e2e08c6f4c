"""Tests of iop_outcomes.change (change scores, summaries, severity shift, quality measures)
and iop_outcomes.plots.change.

Reference values: hand calculations written out below, and R 4.2.2 base ``stats`` output in
tests/reference/change/ (script ``change_summary.R`` beside the CSVs).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, DataError, IOPWarning

REF = Path(__file__).parent / "reference" / "change"


# --------------------------------------------------------------------------- change_scores
def test_change_scores_hand_worked_boundaries():
    ep = pd.DataFrame(
        {
            "baseline": [22, 21, 10, 12, 12, 12, 0, 8, np.nan, 15],
            "endpoint": [11, 11, 4, 7, 8, 5, 2, 4, 3, np.nan],
        },
        index=[10, 3, 7, 1, 2, 9, 4, 5, 6, 8],  # non-default index, kept as is
    )
    out = iop.change_scores(ep, instrument="PHQ-9")
    assert list(out.index) == list(ep.index)
    # change = endpoint - baseline
    np.testing.assert_array_equal(
        out["change"].to_numpy(), [-11, -10, -6, -5, -4, -7, 2, -4, np.nan, np.nan]
    )
    # pct change: 100 * -11/22 = -50; -10/21 = -47.619...; baseline 0 -> NaN
    assert out["pct_change"].iloc[0] == -50.0
    assert out["pct_change"].iloc[1] == pytest.approx(-1000 / 21)
    assert np.isnan(out["pct_change"].iloc[6])
    # response: (22-11)/22 = 0.5 exactly -> True; (21-11)/21 = 0.476 -> False;
    # (10-4)/10 = 0.6 -> True; (12-7)/12 = .417 -> False; baseline 0 -> NA; missing -> NA
    resp = out["response"]
    assert resp.iloc[0] is True or bool(resp.iloc[0]) is True
    assert bool(resp.iloc[1]) is False
    assert bool(resp.iloc[2]) is True
    assert bool(resp.iloc[3]) is False
    assert resp.isna().tolist() == [False] * 6 + [True, False, True, True]
    # remission: endpoint < 5: 4 -> True, 5 -> False
    assert bool(out["remission"].iloc[2]) is True  # endpoint 4
    assert bool(out["remission"].iloc[5]) is False  # endpoint 5
    # remission needs only the endpoint: baseline missing, endpoint 3 -> True
    assert bool(out["remission"].iloc[8]) is True
    assert pd.isna(out["remission"].iloc[9])
    # MCID (PHQ-9 5 points, Lowe 2004): 12 -> 7 is exactly 5 -> True; 12 -> 8 is 4 -> False
    assert bool(out["mcid_improved"].iloc[3]) is True
    assert bool(out["mcid_improved"].iloc[4]) is False
    assert pd.isna(out["mcid_improved"].iloc[8])
    assert str(out["response"].dtype) == "boolean"


def test_bands_at_every_phq9_and_gad7_edge():
    scores = [0, 4, 5, 9, 10, 14, 15, 19, 20, 27]
    ep = pd.DataFrame({"baseline": scores, "endpoint": scores})
    out = iop.change_scores(ep, instrument="PHQ-9")
    assert out["baseline_band"].tolist() == [
        "minimal",
        "minimal",
        "mild",
        "mild",
        "moderate",
        "moderate",
        "moderately severe",
        "moderately severe",
        "severe",
        "severe",
    ]
    assert out["baseline_band"].cat.ordered
    assert out["baseline_band"].max() == "severe"
    g = iop.change_scores(
        pd.DataFrame({"baseline": [14, 15, 21], "endpoint": [4, 5, 0]}), instrument="GAD-7"
    )
    assert g["baseline_band"].tolist() == ["moderate", "severe", "severe"]
    assert g["endpoint_band"].tolist() == ["minimal", "mild", "minimal"]
    # out of range -> no band
    o = iop.change_scores(pd.DataFrame({"baseline": [28], "endpoint": [-1]}), instrument="PHQ-9")
    assert o["baseline_band"].isna().all() and o["endpoint_band"].isna().all()


def test_multiple_instruments_use_their_own_thresholds():
    # 10 -> 6 is a 4-point drop: MCID for GAD-7 (4, Toussaint 2020), not for PHQ-9 (5).
    ep = pd.DataFrame(
        {
            "instrument": ["PHQ-9", "GAD-7", "phq9", "gad 7"],
            "baseline": [10, 10, 16, 16],
            "endpoint": [6, 6, 16, 16],
        }
    )
    out = iop.change_scores(ep, instrument=["PHQ-9", "GAD-7"])
    assert out["mcid_improved"].tolist() == [False, True, False, False]
    # bands: GAD-7 16 is "severe", PHQ-9 16 "moderately severe"; union of categories ordered
    assert out["baseline_band"].tolist()[2:] == ["moderately severe", "severe"]
    assert list(out["baseline_band"].cat.categories) == [
        "minimal",
        "mild",
        "moderate",
        "moderately severe",
        "severe",
    ]


def test_overrides_and_float_noise_tolerance():
    # Non-integer totals: 8.2 - 3.2 is 4.999999999999999 in floating point; the 1e-9 tolerance
    # keeps this a 5-point (MCID) improvement.
    b, e = 8.2, 3.2
    assert b - e < 5.0
    out = iop.change_scores(pd.DataFrame({"baseline": [b], "endpoint": [e]}), instrument="PHQ-9")
    assert bool(out["mcid_improved"].iloc[0]) is True
    o2 = iop.change_scores(
        pd.DataFrame({"instrument": ["PHQ-9", "GAD-7"], "baseline": [12, 12], "endpoint": [6, 6]}),
        instrument=["PHQ-9", "GAD-7"],
        mid={"PHQ-9": 7},
        remission_below=7,
    )
    assert o2["mcid_improved"].tolist() == [False, True]  # PHQ-9 needs 7 now; GAD-7 keeps 4
    assert o2["remission"].tolist() == [True, True]


def test_recomputes_change_and_warns_on_disagreement():
    ep = pd.DataFrame({"baseline": [10, 12], "endpoint": [5, 6], "change": [-5, 99]})
    with pytest.warns(IOPWarning, match="disagrees"):
        out = iop.change_scores(ep, instrument="PHQ-9")
    assert out["change"].tolist() == [-5, -6]


def test_higher_is_better_instrument():
    iop.instruments.register(
        {
            "name": "TEST-WELL",
            "n_items": 5,
            "item_min": 0,
            "item_max": 5,
            "better_is": "higher",
            "mid": 10,
            "bands": [[0, 12, "poor"], [13, 25, "good"]],
        },
        replace=True,
    )
    ep = pd.DataFrame({"baseline": [8, 8], "endpoint": [18, 17]})
    with pytest.warns(IOPWarning, match="higher-is-better"):
        out = iop.change_scores(ep, instrument="TEST-WELL")
    assert out["mcid_improved"].tolist() == [True, False]  # +10 vs +9
    assert out["response"].isna().all() and out["remission"].isna().all()
    with pytest.warns(IOPWarning):
        sh = iop.severity_shift(ep, instrument="TEST-WELL")
    assert any("less severe band 2" in n for n in sh.notes)  # poor -> good is better


def test_input_errors():
    ep = pd.DataFrame({"baseline": [10], "endpoint": [5]})
    with pytest.raises(DataError, match="instrument"):
        iop.change_scores(ep)
    with pytest.raises(DataError, match=r"\['endpoint'\]"):
        iop.change_scores(pd.DataFrame({"baseline": [1]}), instrument="PHQ-9")
    with pytest.raises(ConfigError, match="'episodes' parameter of iop.change_scores must be a"):
        iop.change_scores([1, 2], instrument="PHQ-9")
    with pytest.raises(DataError, match="numeric"):
        iop.change_scores(pd.DataFrame({"baseline": ["ten"], "endpoint": [5]}), instrument="PHQ-9")
    with pytest.raises(DataError, match="unknown instrument"):
        iop.change_scores(ep.assign(instrument="BDI-XYZ"))
    with pytest.raises(DataError, match=r"no rows for instrument\(s\) \['PHQ-9'\]"):
        iop.change_scores(ep.assign(instrument="GAD-7"), instrument="PHQ-9")
    with pytest.raises(ConfigError):
        iop.change_scores(ep, instrument="nope")
    with pytest.raises(DataError, match="cannot group by 'site'"):
        iop.change_summary(ep, instrument="PHQ-9", by="site")
    with pytest.raises(DataError, match="admit_date"):
        iop.change_summary(ep, instrument="PHQ-9", by="admit_quarter")
    with pytest.raises(ConfigError, match="ci_level"):
        iop.change_summary(ep, instrument="PHQ-9", ci_level=95)


# --------------------------------------------------------------------------- change_summary
def test_change_summary_matches_r():
    ep = pd.read_csv(REF / "change_input.csv")
    ref = pd.read_csv(REF / "change_summary_expected.csv")
    got = iop.change_summary(ep, by="format").to_frame()
    assert got["format"].tolist() == ref["format"].tolist()
    for col in ref.columns[1:]:
        rtol = 1e-6 if col == "pvalue" else 1e-9
        np.testing.assert_allclose(
            got[col].to_numpy(dtype=float), ref[col].to_numpy(dtype=float), rtol=rtol, err_msg=col
        )


def test_change_summary_hand_worked():
    # virtual: 18->8, 15->9, 20->4: changes -10, -6, -16; mean -32/3; SD:
    #   deviations 2/3, 14/3, -16/3 -> SS = (4 + 196 + 256)/9 = 456/9; var = 456/18; sd = 5.0332
    # response: 10/18 = .56 yes, 6/15 = .4 no, 16/20 = .8 yes -> 2/3
    ep = pd.DataFrame(
        {
            "instrument": "PHQ-9",
            "format": ["virtual"] * 3 + ["in_person"] * 3,
            "baseline": [18, 15, 20, 16, 12, 22],
            "endpoint": [8, 9, 4, 12, 10, 11],
        }
    )
    t = iop.change_summary(ep, by="format").to_frame().set_index("format")
    v = t.loc["virtual"]
    assert v["mean_change"] == pytest.approx(-32 / 3)
    assert v["sd_change"] == pytest.approx(np.sqrt(456 / 18))
    assert v["se_change"] == pytest.approx(np.sqrt(456 / 18) / np.sqrt(3))
    # t(2) 97.5% quantile = 4.302653 (tables); CI = mean -/+ 4.302653 * se
    half = 4.302652729911275 * np.sqrt(456 / 18) / np.sqrt(3)
    assert v["change_ci_low"] == pytest.approx(-32 / 3 - half)
    assert v["change_ci_high"] == pytest.approx(-32 / 3 + half)
    assert (v["response_k"], v["response_n"]) == (2, 3)
    # in_person: 22 -> 11 is exactly 50 % -> counts
    assert t.loc["in_person", "response_k"] == 1
    assert t.loc["Overall", "n_paired"] == 6


def test_change_summary_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    ep = pd.read_csv(REF / "change_input.csv")
    t = iop.change_summary(ep, ci_level=0.9).to_frame().iloc[0]
    lo, hi = proportion_confint(t["response_k"], t["response_n"], alpha=0.1, method="wilson")
    assert t["response_ci_low"] == pytest.approx(lo)
    assert t["response_ci_high"] == pytest.approx(hi)


def test_change_summary_derived_groupings_and_missing():
    ep = pd.DataFrame(
        {
            "instrument": "PHQ-9",
            "baseline": [20, 18, 16, 14, 12, 10, 15],
            "endpoint": [10, 9, 8, 7, 6, 5, np.nan],
            "age": [17, 18, 25.9, 26, 64, 65, np.nan],
            "admit_date": [
                "2025-01-01",
                "2025-03-31",
                "2025-04-01",
                "2025-12-31",
                None,
                "2024-11-02",
                "2025-02-02",
            ],
            "site": ["A", "A", None, "B", "B", "B", "A"],
        }
    )
    ab = iop.change_summary(ep, by="age_band").to_frame()
    assert ab["age_band"].tolist() == [
        "Overall",
        "<18",
        "18-25",
        "26-35",
        "51-64",
        "65+",
        "(missing)",
    ]
    assert ab["n_episodes"].tolist() == [7, 1, 2, 1, 1, 1, 1]
    assert ab.loc[6, "n_paired"] == 0 and np.isnan(ab.loc[6, "mean_change"])
    custom = iop.change_summary(ep, by="age_band", age_bands=[18, 40]).to_frame()
    assert custom["age_band"].tolist()[1:] == ["<18", "18-39", "40+", "(missing)"]
    q = iop.change_summary(ep, by="admit_quarter").to_frame()
    assert q["admit_quarter"].tolist() == [
        "Overall",
        "2024Q4",
        "2025Q1",
        "2025Q2",
        "2025Q4",
        "(missing)",
    ]
    assert q["n_episodes"].tolist() == [7, 1, 3, 1, 1, 1]
    two = iop.change_summary(ep, by=["site", "admit_quarter"]).to_frame()
    assert two.loc[0, "site"] == "Overall" and two.loc[0, "admit_quarter"] == "Overall"
    assert "(missing)" in two["site"].tolist()


def test_change_summary_invariant_to_row_order_and_prints():
    ep = pd.read_csv(REF / "change_input.csv")
    a = iop.change_summary(ep, by="format")
    b = iop.change_summary(ep.sample(frac=1, random_state=3), by="format")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    s = str(a)
    assert "Overall" in s and "Wilson" in s and "t interval" in s
    assert "2 of 20 episode(s) lack one or both scores" in s
    assert "<table" in a._repr_html_()
    long = a.to_long()
    assert set(long["statistic"]) >= {"mean_change", "response_rate", "r_pre_post"}
    row = long[(long["statistic"] == "mean_change") & (long["format"] == "Overall")].iloc[0]
    assert row["estimate"] == pytest.approx(-7.5) and row["n"] == 18


def test_change_summary_two_instruments_get_separate_overall_rows():
    ep = pd.DataFrame(
        {
            "instrument": ["PHQ-9", "PHQ-9", "GAD-7", "GAD-7"],
            "baseline": [20, 10, 15, 9],
            "endpoint": [10, 6, 5, 9],
        }
    )
    t = iop.change_summary(ep, instrument=["PHQ-9", "GAD-7"]).to_frame()
    assert t["instrument"].tolist() == ["PHQ-9", "GAD-7"]
    assert t["mean_change"].tolist() == [-7.0, -5.0]
    one = iop.change_summary(ep, instrument="GAD-7").to_frame()
    assert one["instrument"].tolist() == ["GAD-7"] and one["mean_change"].tolist() == [-5.0]


def test_instrument_rule_two_instruments_need_a_choice():
    # issue 13: instrument=None on a two-instrument table raises (no silent split or pooling)
    ep = pd.DataFrame(
        {
            "instrument": ["PHQ-9", "PHQ-9", "GAD-7", "GAD-7"],
            "baseline": [20, 10, 15, 9],
            "endpoint": [10, 6, 5, 9],
        }
    )
    for func in (iop.change_scores, iop.change_summary, iop.severity_shift):
        with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
            func(ep)
    sh = iop.severity_shift(ep, instrument=["PHQ-9", "GAD-7"])
    assert sorted(sh.to_frame()["instrument"].unique()) == ["GAD-7", "PHQ-9"]
    # listed in the order asked for, whatever row comes first
    for order in (["PHQ-9", "GAD-7"], ["gad7", "PHQ-9"]):
        for rows in (ep, ep.iloc[::-1]):
            got = iop.severity_shift(rows, instrument=order).to_frame()["instrument"].unique()
            want = [iop.instruments.canonical_name(i) for i in order]
            assert list(got) == want
    assert int(sh.matrix("GAD-7").loc["severe", "Total"]) == 1  # GAD-7 15 is severe (15-21)
    with pytest.raises(ConfigError, match="draws one instrument"):
        iop.plots.plot_severity_shift(sh)


def test_old_keyword_names_raise():
    ep = pd.read_csv(REF / "change_input.csv")
    res = iop.severity_shift(ep)
    with pytest.raises(ConfigError, match="now called 'stratum'"):
        iop.plots.plot_severity_shift(res, group="virtual")
    with pytest.raises(ConfigError, match="now called 'stratum'"):
        res.matrix(group="virtual")
    with pytest.raises(ConfigError, match="now called 'result'"):
        iop.plots.plot_change_by_group(data=iop.change_summary(ep))


# --------------------------------------------------------------------------- severity_shift
def test_severity_shift_counts_and_row_percentages():
    # PHQ-9: severe->mild, mod sev->mod sev, moderate->minimal, moderate->mod severe,
    # moderate->moderate, plus one unpaired episode (excluded)
    ep = pd.DataFrame(
        {
            "baseline": [22, 16, 12, 12, 11, 13],
            "endpoint": [9, 16, 3, 15, 14, np.nan],
            "format": ["v", "v", "p", "p", "p", "p"],
        }
    )
    res = iop.severity_shift(ep, instrument="PHQ-9")
    m = res.matrix()
    assert m.loc["moderate", "Total"] == 3
    assert m.loc["moderate", ["minimal", "moderate", "moderately severe"]].tolist() == [1, 1, 1]
    assert m.loc["severe", "mild"] == 1 and m.to_numpy()[:, :-1].sum() == 5
    pct = res.matrix(normalize=True)
    assert pct.loc["moderate", "minimal"] == pytest.approx(100 / 3)
    assert np.isnan(pct.loc["minimal", "minimal"])  # empty row
    tidy = res.to_frame()
    assert len(tidy) == 25 and tidy["n"].sum() == 5
    # less severe: severe->mild, moderate->minimal = 2; same: 2; more severe: 1
    assert any("less severe band 2 (40.0%)" in n and "more severe band 1" in n for n in res.notes)
    g = iop.severity_shift(ep, instrument="PHQ-9", by="format")
    assert g.matrix(stratum="p").loc["moderate", "Total"] == 3
    assert g.matrix(stratum="v").loc["severe", "mild"] == 1
    assert "format = p" in str(g)
    assert "row %" in str(iop.severity_shift(ep, instrument="PHQ-9", normalize=True))


# --------------------------------------------------------------------------- quality measures
def _phq(rows):
    return pd.DataFrame(rows, columns=["patient_id", "assessment_date", "total"]).assign(
        instrument="PHQ-9", assessment_date=lambda d: pd.to_datetime(d["assessment_date"])
    )


def test_drr_e_window_boundaries_day_119_120_240_241():
    # index 2025-01-01. Day 119 = 2025-04-30 (Jan 31 + Feb 28 + Mar 31 = 90 days to Apr 1,
    # +29 = Apr 30); day 120 = 2025-05-01; day 240 = 2025-08-29 (May 1 + 31 + 30 + 31 + 29);
    # day 241 = 2025-08-30.
    assert pd.Timestamp("2025-01-01") + pd.Timedelta(days=120) == pd.Timestamp("2025-05-01")
    assert pd.Timestamp("2025-01-01") + pd.Timedelta(days=240) == pd.Timestamp("2025-08-29")
    a = _phq(
        [
            ("d119", "2025-01-01", 20),
            ("d119", "2025-04-30", 2),
            ("d120", "2025-01-01", 20),
            ("d120", "2025-05-01", 2),
            ("d240", "2025-01-01", 20),
            ("d240", "2025-08-29", 2),
            ("d241", "2025-01-01", 20),
            ("d241", "2025-08-30", 2),
        ]
    )
    res = iop.quality_measures(a, measure="DRR-E", as_of="2026-01-01")
    det = res.detail.set_index("patient_id")
    assert det["followup_measured"].to_dict() == {
        "d119": False,
        "d120": True,
        "d240": True,
        "d241": False,
    }
    t = res.to_frame().set_index("rate")
    assert (t.loc["followup_phq9", "numerator"], t.loc["followup_phq9", "denominator"]) == (2, 4)
    assert t.loc["remission", "numerator"] == 2


def test_drr_e_index_remission_and_response_boundaries():
    a = _phq(
        [
            ("nine", "2025-01-01", 9),  # not elevated: never an index
            ("nine", "2025-06-01", 1),
            ("ten", "2025-01-01", 10),  # elevated; follow-up 5: exactly 50 % -> response,
            ("ten", "2025-06-01", 5),  # 5 is not < 5 -> no remission
            ("four", "2025-01-01", 12),
            ("four", "2025-06-01", 4),  # 4 < 5 -> remission; 4 <= 6 -> response
            ("half", "2025-01-01", 13),
            ("half", "2025-06-01", 7),  # 7 > 6.5 -> no response
            ("last", "2025-01-01", 20),
            ("last", "2025-05-10", 3),  # earlier in window: remission ...
            ("last", "2025-07-10", 12),  # ... but the most recent score counts: none
            ("none", "2025-01-01", 15),  # no follow-up: in denominator, not numerator
        ]
    )
    res = iop.quality_measures(a, measure="DRR-E", as_of="2026-01-01")
    det = res.detail.set_index("patient_id")
    assert "nine" not in det.index
    assert det.loc["ten", ["remission", "response"]].tolist() == [False, True]
    assert det.loc["four", ["remission", "response"]].tolist() == [True, True]
    assert det.loc["half", ["remission", "response"]].tolist() == [False, False]
    assert det.loc["last", "followup_score"] == 12
    assert bool(det.loc["last", "remission"]) is False
    assert pd.isna(det.loc["none", "remission"])
    t = res.to_frame().set_index("rate")
    # denominator 5 (ten, four, half, last, none); remission 1 (four); response 2 (ten, four)
    assert t.loc["remission", ["numerator", "denominator"]].tolist() == [1, 5]
    assert t.loc["response", ["numerator", "denominator"]].tolist() == [2, 5]
    assert t.loc["followup_phq9", ["numerator", "denominator"]].tolist() == [4, 5]
    assert t.loc["response_among_measured", ["numerator", "denominator"]].tolist() == [2, 4]
    # Wilson CI for 2/5 (R: prop.test(2, 5, correct = FALSE)$conf.int = 0.1176208 0.7692757)
    assert t.loc["response", "ci_low"] == pytest.approx(0.1176208, abs=1e-7)
    assert t.loc["response", "ci_high"] == pytest.approx(0.7692757, abs=1e-7)


def test_drr_e_pending_windows_are_not_zero():
    a = _phq([("p1", "2025-01-01", 18), ("p2", "2025-06-01", 18), ("p2", "2025-06-02", 18)])
    res = iop.quality_measures(a, measure="DRR-E", as_of="2025-08-29")  # p1 window just closed
    t = res.to_frame().set_index("rate")
    assert t.loc["remission", ["numerator", "denominator", "n_index", "n_pending"]].tolist() == [
        0,
        1,
        2,
        1,
    ]
    res2 = iop.quality_measures(a, measure="DRR-E")  # as_of = last date 2025-06-02
    t2 = res2.to_frame()
    assert t2["estimate"].isna().all() and (t2["denominator"] == 0).all()
    assert "Data do not reach" in str(res2)


def test_cms159_window_boundaries_and_incomplete_data():
    # index 2024-03-15; + 12 months = 2025-03-15; -60 days = 2025-01-14
    # (Mar 15 -> Mar 1 = 14 d, -> Feb 1 = 28 d, -> Jan 14 = 18 d: 60); +60 days = 2025-05-14
    # (Mar 15 -> Apr 15 = 31 d, -> May 14 = 29 d: 60). Both ends inclusive.
    a = _phq(
        [
            ("early", "2024-03-15", 15),
            ("early", "2025-01-13", 2),
            ("start", "2024-03-15", 15),
            ("start", "2025-01-14", 2),
            ("end", "2024-03-15", 15),
            ("end", "2025-05-14", 2),
            ("late", "2024-03-15", 15),
            ("late", "2025-05-15", 2),
        ]
    )
    res = iop.quality_measures(a, measure="CMS159", as_of="2025-12-31")
    det = res.detail.set_index("patient_id")
    assert det.loc["start", "window_start"] == pd.Timestamp("2025-01-14")
    assert det.loc["start", "window_end"] == pd.Timestamp("2025-05-14")
    assert det["remission"].fillna(False).astype(bool).to_dict() == {
        "early": False,
        "start": True,
        "end": True,
        "late": False,
    }
    t = res.to_frame().set_index("rate")
    assert t.loc["remission", ["numerator", "denominator"]].tolist() == [2, 4]
    assert "response" not in t.index  # CMS159 has no response rate
    # data ending before 12 months + 60 days: no rate, and the output says so
    short = iop.quality_measures(a[a["assessment_date"] < "2025-01-01"], measure="cms159v13")
    ts = short.to_frame()
    assert ts["estimate"].isna().all()
    assert "Data do not reach the end of any follow-up window" in short.notes[0]


def test_quality_measures_units_intake_groups_and_filters():
    a = pd.DataFrame(
        {
            "patient_id": ["a", "a", "a", "a", "b", "b"],
            "episode_id": ["a1", "a1", "a2", "a2", "b1", "b1"],
            "instrument": ["PHQ-9", "phq9", "PHQ-9", "PHQ-9", "GAD-7", "GAD-7"],
            "assessment_date": [
                "2024-01-01",
                "2024-06-01",
                "2025-01-01",
                "2025-06-01",
                "2025-01-01",
                "2025-06-01",
            ],
            "total": [18, 12, 16, 3, 18, 2],
            "site": ["X", "X", "Y", "Y", "X", "X"],
        }
    )
    by_patient = iop.quality_measures(a, as_of="2026-01-01")
    assert len(by_patient.detail) == 1  # GAD-7 rows ignored; one index per patient
    assert by_patient.detail.loc[0, "index_date"] == pd.Timestamp("2024-01-01")
    by_ep = iop.quality_measures(a, unit="episode", as_of="2026-01-01", by="site")
    assert by_ep.detail["episode_id"].tolist() == ["a1", "a2"]
    t = by_ep.to_frame()
    rem = t[t["rate"] == "remission"].set_index("site")
    assert rem.loc["Overall", ["numerator", "denominator"]].tolist() == [1, 2]
    assert rem.loc["Y", ["numerator", "denominator"]].tolist() == [1, 1]
    intake = iop.quality_measures(a, as_of="2026-01-01", intake_period=("2024-06-02", "2025-12-31"))
    assert intake.detail.loc[0, "index_date"] == pd.Timestamp("2025-01-01")
    with pytest.raises(ConfigError, match="DRR-E"):
        iop.quality_measures(a, measure="HEDIS-X")
    with pytest.raises(DataError, match="episode_id"):
        iop.quality_measures(a.drop(columns="episode_id"), unit="episode")


def test_quality_measures_invariant_to_row_order():
    rng = np.random.default_rng(7)
    n = 400
    a = pd.DataFrame(
        {
            "patient_id": rng.integers(0, 80, n).astype(str),
            "instrument": "PHQ-9",
            "assessment_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 500, n), unit="D"),
            "total": rng.integers(0, 28, n),
        }
    )
    r1 = iop.quality_measures(a, as_of="2026-01-01").to_frame()
    r2 = iop.quality_measures(a.sample(frac=1, random_state=1), as_of="2026-01-01").to_frame()
    pd.testing.assert_frame_equal(r1, r2)


# --------------------------------------------------------------------------- plots
def test_plots_structure(tmp_path):
    ep = pd.read_csv(REF / "change_input.csv")
    ax = iop.severity_shift(ep).plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Baseline", "Endpoint"]
    heights = {}
    for p in ax.patches:
        heights[p.get_x()] = heights.get(p.get_x(), 0) + p.get_height()
    assert all(h == pytest.approx(100) for h in heights.values())
    ax.figure.savefig(tmp_path / "bars.png")
    plt.close("all")
    fig, axis = plt.subplots()
    out = iop.plots.plot_severity_shift(iop.severity_shift(ep), kind="heatmap", ax=axis)
    assert out is axis and len(out.images) == 1
    plt.close("all")
    ax = iop.plots.plot_change_by_group(iop.change_summary(ep, by="format"))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["virtual (n=9)", "in_person (n=9)", "Overall (n=18)"]
    plt.close("all")
    with pytest.raises(ConfigError, match="'kind' parameter"):
        iop.plots.plot_severity_shift(iop.severity_shift(ep), kind="pie")
    with pytest.raises(ConfigError, match="must be a SeverityShiftResult"):
        iop.plots.plot_severity_shift(ep)
    ax = iop.plots.plot_severity_shift(iop.severity_shift(ep, by="format"), stratum="virtual")
    assert "n = 9" in ax.get_title()
    plt.close("all")


def test_by_instrument_is_implicit():
    ep = pd.read_csv(REF / "change_input.csv")
    a = iop.change_summary(ep, by=["instrument", "format", "format"]).to_frame()
    b = iop.change_summary(ep, by="format").to_frame()
    pd.testing.assert_frame_equal(a, b)


def _reference_measure(a: pd.DataFrame, measure: str, as_of: pd.Timestamp) -> dict:
    """Plain per-patient loop (independent of the vectorized merge logic), same documented rules:
    index = earliest PHQ-9 > 9 (highest score that day); follow-up = latest date in the window
    (highest score that day); windows via datetime + relativedelta (calendar months)."""
    import datetime as dt

    from dateutil.relativedelta import relativedelta

    out = {}
    for pid, g in a.groupby("patient_id"):
        recs = sorted(zip(g["assessment_date"].dt.date, g["total"], strict=True))
        elev = [(d, s) for d, s in recs if s > 9]
        if not elev:
            continue
        d0 = min(d for d, _ in elev)
        s0 = max(s for d, s in elev if d == d0)
        if measure == "DRR-E":
            lo, hi = d0 + dt.timedelta(days=120), d0 + dt.timedelta(days=240)
        else:
            year = d0 + relativedelta(months=12)
            lo, hi = year - dt.timedelta(days=60), year + dt.timedelta(days=60)
        inside = [(d, s) for d, s in recs if lo <= d <= hi]
        fu = None
        if inside:
            last = max(d for d, _ in inside)
            fu = max(s for d, s in inside if d == last)
        out[pid] = {
            "pending": hi > as_of.date(),
            "measured": fu is not None,
            "remission": fu is not None and fu < 5,
            "response": fu is not None and 2 * fu <= s0,
        }
    return out


@pytest.mark.parametrize("measure", ["DRR-E", "CMS159"])
def test_quality_measures_match_a_plain_loop(measure):
    rng = np.random.default_rng(11)
    n = 600
    a = pd.DataFrame(
        {
            "patient_id": rng.integers(0, 120, n).astype(str),
            "instrument": "PHQ-9",
            # 2024-01-01 .. ~2025-10: crosses 2024-02-29 and both windows' edges
            "assessment_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 660, n), unit="D"),
            "total": rng.integers(0, 28, n),
        }
    )
    as_of = pd.Timestamp("2025-06-30")
    ref = _reference_measure(a, measure, as_of)
    res = iop.quality_measures(a, measure=measure, as_of=as_of)
    det = res.detail.set_index("patient_id")
    assert set(det.index) == set(ref)
    scored = {k: v for k, v in ref.items() if not v["pending"]}
    assert len(scored) > 20 and len(scored) < len(ref)  # both kinds present
    for pid, r in ref.items():
        row = det.loc[pid]
        assert (row["status"] == "pending") == r["pending"]
        assert bool(row["followup_measured"]) == r["measured"]
        assert bool(row["remission"] if pd.notna(row["remission"]) else False) == r["remission"]
    t = res.to_frame().set_index("rate")
    assert t.loc["remission", "denominator"] == len(scored)
    assert t.loc["remission", "numerator"] == sum(v["remission"] for v in scored.values())
    assert t.loc["followup_phq9", "numerator"] == sum(v["measured"] for v in scored.values())
    if measure == "DRR-E":
        assert t.loc["response", "numerator"] == sum(v["response"] for v in scored.values())


def test_cms159_leap_day_index_uses_calendar_months():
    # CQL: date + 12 months from 2024-02-29 is 2025-02-28; -60 days = 2024-12-30
    # (Feb 28 -> Jan 31 = 28 d, -> Dec 31 = 31 d, -> Dec 30 = 1 d); +60 days = 2025-04-29
    # (Feb 28 -> Mar 28 = 28 d, -> Apr 28 = 31 d, -> Apr 29 = 1 d).
    a = _phq([("x", "2024-02-29", 14), ("x", "2025-04-29", 4)])
    det = iop.quality_measures(a, measure="CMS159").detail.iloc[0]
    assert det["window_start"] == pd.Timestamp("2024-12-30")
    assert det["window_end"] == pd.Timestamp("2025-04-29")
    assert det["status"] == "scored" and bool(det["remission"]) is True


def test_zero_baseline_counted_as_not_responding_shares_the_paired_denominator():
    """Hand count: 5 paired episodes, two of them starting at 0 (ending at 0 and at 2).
    Responders (2(b - e) >= b with b > 0): 20->10 (exactly 50 %) and 12->5; 16->9 is not.
    Default: the two zero baselines are NA, response 2 of 3. "not_responding": 2 of 5, the
    denominator of remission (endpoint < 5: the endpoints 0 and 2, 2 of 5)."""
    ep = pd.DataFrame(
        {"instrument": "PHQ-9", "baseline": [20, 12, 16, 0, 0], "endpoint": [10, 5, 9, 0, 2]}
    )
    flags = iop.change_scores(ep, zero_baseline="not_responding")["response"].tolist()
    assert flags == [True, True, False, False, False]
    assert iop.change_scores(ep)["response"].isna().tolist() == [False, False, False, True, True]
    t = iop.change_summary(ep).to_frame().iloc[0]
    assert (t["response_k"], t["response_n"], t["remission_n"]) == (2, 3, 5)
    t = iop.change_summary(ep, zero_baseline="not_responding").to_frame().iloc[0]
    assert (t["response_k"], t["response_n"], t["remission_k"], t["remission_n"]) == (2, 5, 2, 5)
    assert t["response_rate"] == pytest.approx(2 / 5)
    with pytest.raises(iop.ConfigError, match="zero_baseline"):
        iop.change_summary(ep, zero_baseline="zero")
