"""Tests for iop_outcomes.clinsig (clinical significance, NHS Talking Therapies, benchmarks).

Reference values: hand calculations written out below; the published clinicalsignificance
vignette result on ``antidepressants`` (Improved 274, Unchanged 237, Deteriorated 44 of 555);
an independent base-R implementation (tests/reference/clinsig/peer_base_r.R -> .json) on the
peer datasets, read from ../shared at test time (skipped when absent, never copied here); NHS
England 2024-25 national counts. Issue #16 methods (HLL, NK, HA, statistical, percentage, anchor,
combined, group-level anchor): the R package clinicalsignificance itself
(tests/reference/clinsig/clinicalsignificance_r.R -> .csv) and its published test snapshots.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from tolerance import SUMS

import iop_outcomes as iop
from iop_outcomes import ConfigError, DataError
from iop_outcomes._clinsig import ClinicalSignificanceResult, GroupAnchorResult, national_series
from iop_outcomes._clinsig.common import method_key
from iop_outcomes._clinsig.results import METHODS

matplotlib.use("Agg")

PEER = Path(__file__).resolve().parents[2] / "shared" / "peer-data" / "clinicalsignificance"
FIXTURE = Path(__file__).parent / "reference" / "clinsig" / "peer_base_r.json"
Z = 1.959963984540054  # qnorm(0.975)


def counts(res, by=None):
    t = res.table
    if by is None:
        return dict(zip(t["outcome"], t["count"], strict=True))
    return {k: dict(zip(g["outcome"], g["count"], strict=True)) for k, g in t.groupby(by)}


def row(res, outcome):
    return res.table.set_index("outcome").loc[outcome]


# --------------------------------------------------------------------------- peer datasets


def _peer(name):
    path = PEER / name
    if not path.exists():
        pytest.skip(f"peer data {path} not available")
    return pd.read_csv(path)


def _wide(df, id_, time, value, t_pre, t_post):
    a = df[df[time] == t_pre].set_index(id_)[value].rename("baseline")
    b = df[df[time] == t_post].set_index(id_)[value].rename("endpoint")
    return pd.concat([a, b], axis=1)


@pytest.fixture(scope="module")
def fixture_r():
    return json.loads(FIXTURE.read_text())


def test_antidepressants_reproduces_published_vignette():
    # clinicalsignificance vignette: JT, reliability 0.80, sample baseline SD (higher mom_di = worse)
    w = _wide(_peer("antidepressants.csv"), "patient", "measurement", "mom_di", "Before", "After")
    res = iop.clinical_significance(w, reliability=0.80, better_is="lower")
    c = counts(res)
    assert (c["improved"], c["unchanged"], c["deteriorated"]) == (274, 237, 44)
    assert "recovered" not in c  # no norms, no cut-off
    assert row(res, "improved")["n"] == 555
    assert row(res, "improved")["estimate"] == pytest.approx(0.4937, abs=5e-5)
    assert row(res, "unchanged")["estimate"] == pytest.approx(0.4270, abs=5e-5)
    assert row(res, "deteriorated")["estimate"] == pytest.approx(0.0793, abs=5e-5)
    assert res.params["threshold_source"] == "sample"
    assert res.params["reliability"] == 0.80


@pytest.mark.parametrize(
    "key, kwargs",
    [
        ("antidepressants_jt", {"method": "jacobson-truax"}),
        ("antidepressants_jt_cut_a", {"method": "jacobson-truax", "cutoff": "a"}),
        ("antidepressants_gln", {"method": "gulliksen-lord-novick"}),
        ("antidepressants_en", {"method": "edwards-nunnally"}),
    ],
)
def test_antidepressants_matches_base_r(fixture_r, key, kwargs):
    w = _wide(_peer("antidepressants.csv"), "patient", "measurement", "mom_di", "Before", "After")
    ref = fixture_r[key]
    res = iop.clinical_significance(w, reliability=0.80, better_is="lower", **kwargs)
    c = counts(res)
    for cat in ("improved", "unchanged", "deteriorated"):
        assert c[cat] == ref[cat], cat
    if "cutoff" in kwargs:
        assert c["recovered"] == ref["recovered"]
        assert res.episodes["harmed"].sum() == ref["harmed"]
        assert res.params["cutoff_value"] == pytest.approx(ref["cutoff_value"], rel=SUMS)
        # five categories as clinicalsignificance's combined approach
        c5 = counts(
            iop.clinical_significance(w, reliability=0.80, better_is="lower", harmed=True, **kwargs)
        )
        assert c5["harmed"] == ref["harmed"] == 8
        assert c5["deteriorated"] == ref["deteriorated"] - ref["harmed"]
        assert sum(c5.values()) == 555
    assert res.params["sd"] == pytest.approx(ref["sd_pre"], rel=SUMS)
    assert res.params["threshold_points"] == pytest.approx(ref["threshold_points"], rel=SUMS)
    assert res.episodes["rci"].sum() == pytest.approx(ref["sum_rci"], rel=SUMS)


@pytest.mark.parametrize("cut", ["c", "b"])
def test_jacobson_1989_higher_is_better_matches_base_r(fixture_r, cut):
    # DAS: higher = better adjustment; norms are illustrative inputs shared with the R script
    w = _wide(_peer("jacobson_1989.csv"), "subject", "time", "das", "pre", "post")
    ref = fixture_r[f"jacobson_1989_jt_cut_{cut}"]
    res = iop.clinical_significance(
        w,
        reliability=0.93,
        better_is="higher",
        cutoff=cut,
        clinical_mean=70.7,
        clinical_sd=23.8,
        functional_mean=114.8,
        functional_sd=17.8,
    )
    c = counts(res)
    for cat in ("recovered", "improved", "unchanged", "deteriorated"):
        assert c[cat] == ref[cat], cat
    assert res.episodes["harmed"].sum() == ref["harmed"]
    assert res.params["cutoff_value"] == pytest.approx(ref["cutoff_value"], rel=SUMS)
    # direction: raising DAS is improvement, so improvements outnumber deteriorations here
    assert c["recovered"] + c["improved"] > c["deteriorated"]


def test_direction_flip_swaps_improved_and_deteriorated():
    w = _wide(_peer("jacobson_1989.csv"), "subject", "time", "das", "pre", "post")
    hi = counts(iop.clinical_significance(w, reliability=0.93, better_is="higher"))
    lo = counts(iop.clinical_significance(w, reliability=0.93, better_is="lower"))
    assert hi["improved"] == lo["deteriorated"] and hi["deteriorated"] == lo["improved"]
    assert hi["unchanged"] == lo["unchanged"]


@pytest.mark.parametrize("method", ["jt", "gln", "en"])
def test_claus_2020_bdi_matches_base_r(fixture_r, method):
    d = _peer("claus_2020.csv")
    w = _wide(d, "id", "time", "bdi", 1, 4)
    key = {"jt": "jacobson-truax", "gln": "gulliksen-lord-novick", "en": "edwards-nunnally"}
    ref = fixture_r[f"claus_2020_bdi_{method}"]
    res = iop.clinical_significance(w, method=key[method], reliability=0.80, better_is="lower")
    c = counts(res)
    for cat in ("improved", "unchanged", "deteriorated"):
        assert c[cat] == ref[cat], cat
    assert row(res, "improved")["n"] == ref["n"] == 40  # 40 of 43 have both scores
    assert row(res, "improved")["n_excluded"] == 3
    assert res.params["sd"] == pytest.approx(ref["sd_pre"], rel=SUMS)


# --------------------------------------------------------------------------- Jacobson-Truax by hand


def test_jt_sample_threshold_hand_worked():
    # pre 10, 20, 30, 40: SD = sqrt(500/3) = 12.909944; r = 0.75 -> S_diff = SD*sqrt(0.5)
    # = 9.128709; threshold = 1.959964 * 9.128709 = 17.891942 points.
    ep = pd.DataFrame({"baseline": [10, 20, 30, 40], "endpoint": [-8.0, 2.2, 47.9, 40]})
    res = iop.clinical_significance(ep, reliability=0.75, better_is="lower")
    s_diff = np.sqrt(500 / 3) * np.sqrt(2 * 0.25)
    assert res.params["sd"] == pytest.approx(np.sqrt(500 / 3), rel=SUMS)
    assert res.params["s_diff"] == pytest.approx(s_diff, rel=SUMS)
    assert res.params["threshold_points"] == pytest.approx(17.891942, abs=1e-6)
    # changes -18 (> 17.89: improved), -17.8 (unchanged), +17.9 (deteriorated), 0
    assert res.episodes["rci"].tolist() == pytest.approx(
        [-18 / s_diff, -17.8 / s_diff, 17.9 / s_diff, 0.0]
    )
    assert res.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "deteriorated", "unchanged",
    ]  # fmt: skip


def test_jt_reference_threshold_boundary():
    # sd = 5, r = 0.8: S_diff = 5*sqrt(0.4) = 3.1622777; threshold = 6.1979 points (strict >)
    ep = pd.DataFrame(
        {"baseline": [20.0, 20.0, 20.0, 20.0], "endpoint": [13.80, 13.81, 26.19, 26.20]}
    )
    res = iop.clinical_significance(
        ep, reliability=0.8, sd=5, threshold="reference", better_is="lower", cutoff="none"
    )
    assert res.params["threshold_points"] == pytest.approx(Z * 5 * np.sqrt(0.4), rel=SUMS)
    assert res.params["threshold_points"] == pytest.approx(6.19795, abs=1e-5)
    assert res.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "unchanged", "deteriorated",
    ]  # fmt: skip


def test_jt_reference_defaults_to_instrument_clinical_sd_and_reliability():
    # PHQ-9 reference: clinical SD 6.1 (NHS TT 2024-25 CBT first scores), alpha 0.89
    # S_diff = 6.1*sqrt(2*0.11) = 2.861189; threshold = 5.607829 points
    ep = pd.DataFrame({"baseline": [15, 15, 15], "endpoint": [9, 10, 21]})
    res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="reference")
    assert res.params["sd"] == 6.1 and res.params["reliability"] == 0.89
    assert res.params["threshold_points"] == pytest.approx(Z * 6.1 * np.sqrt(0.22), rel=SUMS)
    assert res.params["threshold_points"] == pytest.approx(5.6078, abs=1e-4)
    cats = res.episodes["category"].astype(str).tolist()
    # -6 reliable (> 5.61) and ends below c = 7.04? no (9) -> improved; -5 unchanged; +6 deteriorated
    assert cats == ["improved", "unchanged", "deteriorated"]


@pytest.mark.parametrize(
    "instrument, pre, post, expected",
    [
        ("PHQ-9", 20, 14, "improved"),  # -6: reliable (>= 6)
        ("PHQ-9", 20, 15, "unchanged"),  # -5
        ("PHQ-9", 14, 20, "deteriorated"),  # +6
        ("PHQ-9", 15, 20, "unchanged"),  # +5
        ("GAD-7", 15, 11, "improved"),  # -4: reliable (>= 4)
        ("GAD-7", 15, 12, "unchanged"),  # -3
        ("GAD-7", 11, 15, "deteriorated"),  # +4
        ("GAD-7", 12, 15, "unchanged"),  # +3
    ],
)
def test_fixed_threshold_boundaries(instrument, pre, post, expected):
    ep = pd.DataFrame({"baseline": [pre], "endpoint": [post]})
    res = iop.clinical_significance(ep, instrument=instrument, threshold="fixed")
    assert res.episodes["category"].astype(str).item() == expected
    assert res.params["threshold_points"] == {"PHQ-9": 6.0, "GAD-7": 4.0}[instrument]
    assert res.params["reliability"] is None and res.params["sd"] is None


def test_user_fixed_threshold_number():
    ep = pd.DataFrame({"baseline": [20, 20], "endpoint": [15, 16]})
    res = iop.clinical_significance(ep, instrument="PHQ-9", threshold=5, cutoff="none")
    assert res.episodes["category"].astype(str).tolist() == ["improved", "unchanged"]
    assert res.params["threshold_source"] == "fixed"


def test_cutoffs_a_b_c_for_phq9_by_hand():
    # PHQ-9 clinical 14.2 (6.1), functional 2.91 (3.52):
    # a = 14.2 - 2*6.1 = 2.0; b = 2.91 + 2*3.52 = 9.95; c = (6.1*2.91 + 3.52*14.2)/9.62 = 7.041060
    ep = pd.DataFrame({"baseline": [20], "endpoint": [10]})
    vals = {
        k: iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed", cutoff=k).params[
            "cutoff_value"
        ]
        for k in "abc"
    }
    assert vals["a"] == pytest.approx(2.0)
    assert vals["b"] == pytest.approx(9.95)
    assert vals["c"] == pytest.approx((6.1 * 2.91 + 3.52 * 14.2) / 9.62)
    assert vals["c"] == pytest.approx(7.041060, abs=1e-6)
    # default cut-off is c when both norms are registered
    assert iop.clinical_significance(ep, instrument="PHQ-9", threshold=6).params["cutoff"] == "c"


def test_cutoff_strictness_recovered_and_harmed():
    # cut-off 10 (user) read strictly (cutoff_inclusive=False), fixed threshold 6; lower is better.
    ep = pd.DataFrame(
        {
            "baseline": [11, 10, 17, 17, 5, 9, 10],
            "endpoint": [3, 3, 9, 10, 12, 10, 16],
        }
    )
    kw = {"instrument": "PHQ-9", "threshold": "fixed", "cutoff": 10, "cutoff_inclusive": False}
    res = iop.clinical_significance(ep, **kw)
    assert res.params["cutoff_inclusive"] is False
    assert res.params["cutoff_rule"] == "clinical: score > 10; functional: score < 10"
    cats = res.episodes["category"].astype(str).tolist()
    # 11->3 recovered; 10->3 pre exactly at cut-off is not clinical -> improved;
    # 17->9 recovered; 17->10 post exactly at cut-off is not functional -> improved;
    # 5->12 deteriorated (functional -> clinical: harmed); 9->10 unchanged;
    # 10->16 deteriorated, harmed as clinicalsignificance defines it (pre not clinical, post not
    # functional), the pre score sitting exactly at the cut-off.
    assert cats == [
        "recovered", "improved", "recovered", "improved", "deteriorated", "unchanged",
        "deteriorated",
    ]  # fmt: skip
    assert res.episodes["harmed"].tolist() == [False, False, False, False, True, False, True]
    assert counts(res) == {"recovered": 2, "improved": 2, "unchanged": 1, "deteriorated": 2}
    res5 = iop.clinical_significance(ep, harmed=True, **kw)
    assert counts(res5) == {
        "recovered": 2, "improved": 2, "unchanged": 1, "deteriorated": 0, "harmed": 2,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="harmed"):
        iop.clinical_significance(ep, instrument="PHQ-9", threshold=6, cutoff="none", harmed=True)


def test_user_integer_cutoff_is_inclusive_caseness_by_default():
    # PHQ-9 caseness ">= 10": a baseline of exactly 10 is clinical, an endpoint of 10 is not
    # functional. Same episodes as above, default cutoff_inclusive (None -> inclusive).
    ep = pd.DataFrame(
        {
            "baseline": [11, 10, 17, 17, 5, 9, 10],
            "endpoint": [3, 3, 9, 10, 12, 10, 16],
        }
    )
    res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed", cutoff=10)
    cats = res.episodes["category"].astype(str).tolist()
    # 10->3 now recovered (10 is clinical); 10->16 deteriorated but not harmed (pre clinical)
    assert cats == [
        "recovered", "recovered", "recovered", "improved", "deteriorated", "unchanged",
        "deteriorated",
    ]  # fmt: skip
    assert res.episodes["clinical_pre"].tolist() == [True, True, True, True, False, False, True]
    assert res.episodes["harmed"].tolist() == [False, False, False, False, True, False, False]
    assert res.params["cutoff_inclusive"] is True
    assert res.params["cutoff_rule"] == "clinical: score >= 10; functional: score < 10"
    assert any("caseness threshold" in n and "default" in n for n in res.notes)
    # higher is better: a score at the cut-off is clinical too (<= cut-off)
    hi = pd.DataFrame({"baseline": [10, 10, 11], "endpoint": [20, 10, 20]})
    r = iop.clinical_significance(hi, better_is="higher", threshold=5, cutoff=10)
    assert r.episodes["clinical_pre"].tolist() == [True, True, False]
    assert r.episodes["category"].astype(str).tolist() == ["recovered", "unchanged", "improved"]
    assert r.params["cutoff_rule"] == "clinical: score <= 10; functional: score > 10"
    # computed cut-offs stay strict unless asked
    w = pd.DataFrame({"baseline": [10.0, 20, 30, 40], "endpoint": [1.0, 2, 3, 4]})
    a = iop.clinical_significance(w, reliability=0.8, better_is="lower", cutoff="a")
    assert a.params["cutoff_inclusive"] is False
    with pytest.raises(ConfigError, match="cutoff_inclusive"):
        iop.clinical_significance(ep, instrument="PHQ-9", cutoff=10, cutoff_inclusive="yes")


def test_cutoff_a_falls_back_to_sample_when_no_norms():
    ep = pd.DataFrame({"baseline": [10.0, 20, 30, 40], "endpoint": [1.0, 2, 3, 4]})
    res = iop.clinical_significance(ep, reliability=0.8, better_is="lower", cutoff="a")
    assert res.params["cutoff_value"] == pytest.approx(25 - 2 * np.sqrt(500 / 3))
    assert any("sample's baselines" in n for n in res.notes)
    with pytest.raises(ConfigError, match="functional"):
        iop.clinical_significance(ep, reliability=0.8, better_is="lower", cutoff="c")


def test_gln_and_en_hand_worked():
    # pre 10, 20, 30, 40 (M = 25, SD = 12.909944), r = 0.8
    # GLN: se = SD*sqrt(1 - 0.64) = 7.745967; RCI = ((post - 25) - 0.8(pre - 25)) / se
    # EN : se = SD*sqrt(0.2) = 5.773503; RCI = (post - (0.8(pre - 25) + 25)) / se
    pre = np.array([10.0, 20, 30, 40])
    post = np.array([0.0, 30, 10, 45])
    ep = pd.DataFrame({"baseline": pre, "endpoint": post})
    sd = np.sqrt(500 / 3)
    gln = iop.clinical_significance(ep, method="gln", reliability=0.8, better_is="lower")
    se_g = sd * 0.6
    assert gln.params["se_prediction"] == pytest.approx(se_g)
    exp_g = ((post - 25) - 0.8 * (pre - 25)) / se_g
    assert gln.episodes["rci"].to_numpy() == pytest.approx(exp_g)
    # exp_g = [-1.6136, 1.0328, -2.8401, 0.6455]
    assert gln.episodes["category"].astype(str).tolist() == [
        "unchanged", "unchanged", "improved", "unchanged",
    ]  # fmt: skip
    en = iop.clinical_significance(
        ep, method="edwards-nunnally", reliability=0.8, better_is="lower"
    )
    se_e = sd * np.sqrt(0.2)
    exp_e = (post - (0.8 * (pre - 25) + 25)) / se_e
    assert en.episodes["rci"].to_numpy() == pytest.approx(exp_e)
    # exp_e = [-2.1651, 1.3856, -3.8105, 0.8660]
    assert en.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "improved", "unchanged",
    ]  # fmt: skip


# --------------------------------------------------------------------------- NHS Talking Therapies


def nhs_joint_table():
    """Hand-worked episodes (PHQ-9 first->last, GAD-7 first->last) and what each must give."""
    spec = [
        # id, phq (first, last), gad (first, last), sessions
        ("E1", (15, 9), (6, 6), 5),  # PHQ -6: RI; caseness (15); recovery (9<10, 6<8); RR
        ("E2", (15, 10), (6, 6), 5),  # PHQ -5: no change; last PHQ 10 not < 10: no recovery
        ("E3", (8, 8), (12, 8), 5),  # GAD -4: RI; caseness (GAD 12); last GAD 8 not < 8
        ("E4", (8, 8), (12, 9), 5),  # GAD -3: no change; caseness; no recovery
        ("E5", (9, 3), (7, 2), 5),  # PHQ 9 / GAD 7 at first: NOT at caseness; RI (-6)
        ("E6", (10, 4), (7, 7), 5),  # PHQ exactly 10: caseness; RI; recovery; RR
        ("E7", (16, 9), (3, 7), 5),  # PHQ -7 but GAD +4: deterioration; recovery, not RR
        ("E8", (5, 11), (3, 3), 5),  # PHQ +6: deterioration; not at caseness
        ("E9", (5, 10), (3, 6), 5),  # PHQ +5, GAD +3: no change; not at caseness
        ("E10", (5, 5), (4, 8), 5),  # GAD +4: deterioration; not at caseness
        ("E11", (20, 5), (15, 3), 1),  # one attended session: not a finished course
        ("E12", (12, 5), None, 5),  # PHQ-9 only: caseness; RI; recovery; RR
        ("E13", (12, 11), (10, None), 5),  # GAD not paired -> PHQ-9 only; no change
    ]
    rows = []
    for eid, phq, gad, sess in spec:
        rows.append((eid, "PHQ-9", *phq, sess, "in_person" if eid < "E5" else "virtual"))
        if gad is not None:
            rows.append((eid, "GAD7", *gad, sess, "in_person" if eid < "E5" else "virtual"))
    return pd.DataFrame(
        rows,
        columns=["episode_id", "instrument", "baseline", "endpoint", "sessions_attended", "format"],
    )


def test_nhs_joint_rules_hand_worked():
    res = iop.clinical_significance(
        nhs_joint_table(), method="nhs-talking-therapies", instrument=["PHQ-9", "GAD-7"]
    )
    e = res.episodes
    assert res.params["rules"] == "joint PHQ-9 + GAD-7"
    assert list(e.index) == [f"E{i}" for i in range(1, 14)]
    assert e.loc["E11", "finished_course"] == False  # noqa: E712
    assert e["counted"].sum() == 12
    assert pd.isna(e.loc["E11", "reliable_change"])
    rc = e.loc[e["counted"], "reliable_change"].to_dict()
    assert rc == {
        "E1": "reliable improvement",
        "E2": "no reliable change",
        "E3": "reliable improvement",
        "E4": "no reliable change",
        "E5": "reliable improvement",
        "E6": "reliable improvement",
        "E7": "reliable deterioration",  # improved on PHQ-9, deteriorated on GAD-7
        "E8": "reliable deterioration",
        "E9": "no reliable change",
        "E10": "reliable deterioration",
        "E12": "reliable improvement",
        "E13": "no reliable change",
    }
    c = counts(res)
    assert c == {
        "at caseness": 8,  # E1 E2 E3 E4 E6 E7 E12 E13
        "not at caseness": 4,  # E5 E8 E9 E10
        "reliable improvement": 5,
        "no reliable change": 4,
        "reliable deterioration": 3,
        "recovery": 4,  # E1 E6 E7 E12
        "reliable recovery": 3,  # E1 E6 E12 (E7 is not reliably improved)
    }
    n = res.table.set_index("outcome")["n"].to_dict()
    assert n["reliable improvement"] == 12  # finished courses
    assert n["recovery"] == n["reliable recovery"] == 12 - 4  # finished minus not at caseness
    assert row(res, "recovery")["estimate"] == pytest.approx(4 / 8)
    assert row(res, "reliable improvement")["n_excluded"] == 1
    assert e.loc["E12", "measures_used"] == "PHQ-9 only"
    assert e.loc["E13", "measures_used"] == "PHQ-9 only"
    assert e.loc["E1", "measures_used"] == "PHQ-9+GAD-7"
    assert pd.isna(e.loc["E5", "recovery"])  # not at caseness: outside the recovery denominator
    assert any("PHQ-9 only: 2" in s for s in res.notes)
    assert "improving on one measure and deteriorating on the other" in str(res)


def test_nhs_joint_by_group_sums_to_total():
    tab = nhs_joint_table()
    total = counts(iop.clinical_significance(tab, method="nhs", instrument=["PHQ-9", "GAD-7"]))
    grouped = counts(
        iop.clinical_significance(tab, method="nhs", instrument=["PHQ-9", "GAD-7"], by="format"),
        by="format",
    )
    for k, v in total.items():
        assert grouped["in_person"][k] + grouped["virtual"][k] == v


def test_nhs_invariant_to_row_order():
    tab = nhs_joint_table()
    a = iop.clinical_significance(tab, method="nhs", instrument=["PHQ-9", "GAD-7"]).table
    b = iop.clinical_significance(
        tab.sample(frac=1, random_state=3), method="nhs", instrument=["PHQ-9", "GAD-7"]
    ).table
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    "phq, gad, caseness",
    [((9, 9), (7, 7), False), ((10, 10), (7, 7), True), ((9, 9), (8, 8), True)],
)
def test_nhs_caseness_boundaries(phq, gad, caseness):
    tab = pd.DataFrame(
        {
            "episode_id": [1, 1],
            "instrument": ["PHQ-9", "GAD-7"],
            "baseline": [phq[0], gad[0]],
            "endpoint": [phq[1], gad[1]],
        }
    )
    res = iop.clinical_significance(tab, method="nhs", instrument=["PHQ-9", "GAD-7"])
    assert bool(res.episodes["caseness"].iloc[0]) is caseness
    assert row(res, "at caseness")["count"] == int(caseness)


@pytest.mark.parametrize(
    "phq_last, gad_last, recovered",
    [(9, 7, True), (10, 7, False), (9, 8, False)],
)
def test_nhs_recovery_boundaries(phq_last, gad_last, recovered):
    tab = pd.DataFrame(
        {
            "episode_id": [1, 1],
            "instrument": ["PHQ-9", "GAD-7"],
            "baseline": [15, 12],
            "endpoint": [phq_last, gad_last],
        }
    )
    res = iop.clinical_significance(tab, method="nhs", instrument=["PHQ-9", "GAD-7"])
    assert row(res, "recovery")["count"] == int(recovered)
    assert row(res, "recovery")["n"] == 1


@pytest.mark.parametrize(
    "phq, gad, outcome",
    [
        ((16, 11), (5, 5), "no reliable change"),  # PHQ -5
        ((16, 10), (5, 5), "reliable improvement"),  # PHQ -6
        ((10, 15), (5, 5), "no reliable change"),  # PHQ +5
        ((10, 16), (5, 5), "reliable deterioration"),  # PHQ +6
        ((5, 5), (12, 9), "no reliable change"),  # GAD -3
        ((5, 5), (12, 8), "reliable improvement"),  # GAD -4
        ((5, 5), (8, 11), "no reliable change"),  # GAD +3
        ((5, 5), (8, 12), "reliable deterioration"),  # GAD +4
        ((20, 10), (4, 8), "reliable deterioration"),  # improve PHQ, deteriorate GAD
        ((10, 16), (14, 4), "reliable deterioration"),  # deteriorate PHQ, improve GAD
        ((16, 10), (12, 8), "reliable improvement"),  # improve both
    ],
)
def test_nhs_reliable_change_boundaries(phq, gad, outcome):
    tab = pd.DataFrame(
        {
            "episode_id": ["a", "a"],
            "instrument": ["phq9", "GAD 7"],  # spellings are canonicalised
            "baseline": [phq[0], gad[0]],
            "endpoint": [phq[1], gad[1]],
        }
    )
    res = iop.clinical_significance(
        tab, method="nhs-talking-therapies", instrument=["PHQ-9", "GAD-7"]
    )
    assert res.episodes["reliable_change"].iloc[0] == outcome
    assert row(res, outcome)["count"] == 1


def test_nhs_single_measure_fallback_phq9_only():
    # only PHQ-9 in the data: the same rules on PHQ-9 alone, said in the notes
    tab = pd.DataFrame(
        {
            "episode_id": [1, 2, 3, 4, 5],
            "instrument": "PHQ-9",
            "baseline": [10, 9, 16, 20, 12],
            "endpoint": [9, 3, 10, 26, 7],
        }
    )
    res = iop.clinical_significance(tab, method="nhs")
    assert res.params["rules"] == "single measure (PHQ-9)"
    # caseness: 10, 16, 20, 12 (not 9); RI: -6 (9->3), -6 (16->10); RD: +6; recovery among
    # caseness: 10->9 yes, 16->10 no, 20->26 no, 12->7 yes
    c = counts(res)
    assert c["at caseness"] == 4 and c["not at caseness"] == 1
    assert c["reliable improvement"] == 2 and c["reliable deterioration"] == 1
    assert c["no reliable change"] == 2
    assert c["recovery"] == 2 and row(res, "recovery")["n"] == 4
    assert c["reliable recovery"] == 0
    assert any("Only PHQ-9 was available" in s for s in res.notes)
    # same result with instrument= and no instrument column
    res2 = iop.clinical_significance(
        tab.drop(columns="instrument"), method="nhs", instrument="PHQ-9"
    )
    pd.testing.assert_frame_equal(res.table, res2.table)


def test_nhs_instrument_selects_one_measure_of_joint_table():
    res = iop.clinical_significance(nhs_joint_table(), method="nhs", instrument="GAD-7")
    assert res.params["rules"] == "single measure (GAD-7)"
    assert any("rows of other instruments were left out" in s for s in res.notes)


def test_nhs_finished_course_rules():
    tab = pd.DataFrame(
        {
            "baseline": [15, 15, 15, 15, 15],
            "endpoint": [5, 5, 5, 5, 5],
            "sessions_attended": [2, 1, np.nan, np.nan, 4],
            "n_in_treatment": [1, 5, 2, 1, 4],
            "discharge_status": ["completed", "completed", "dropped_out", "completed", "ongoing"],
        }
    )
    res = iop.clinical_significance(tab, method="nhs", instrument="PHQ-9")
    e = res.episodes
    # sessions_attended wins where recorded; else n_in_treatment >= 2; ongoing never finished
    assert e["finished_course"].tolist() == [True, False, True, False, False]
    assert e["finished_rule"].tolist() == [
        "sessions_attended >= 2",
        "sessions_attended >= 2",
        "n_in_treatment >= 2 (attendance not recorded)",
        "n_in_treatment >= 2 (attendance not recorded)",
        "ongoing (not ended)",
    ]
    assert row(res, "reliable improvement")["n"] == 2
    assert row(res, "reliable improvement")["n_excluded"] == 3


def test_nhs_without_attendance_uses_paired_scores_and_says_so():
    tab = pd.DataFrame({"baseline": [15, 12, np.nan], "endpoint": [5, np.nan, 4]})
    res = iop.clinical_significance(tab, method="nhs", instrument="PHQ-9")
    assert row(res, "reliable improvement")["n"] == 1
    assert "paired scores (attendance not recorded)" in str(res)
    assert "finished but without paired scores" in str(res)


# --------------------------------------------------------------------------- national series


def test_national_denominator_arithmetic_2024_25():
    s = national_series().set_index(["year", "outcome"])
    rec = s.loc[("2024-25", "recovery")]
    assert rec["denominator"] == 670_419 - 35_234
    assert 321_061 / (670_419 - 35_234) == pytest.approx(0.505461, abs=5e-7)
    assert round(100 * rec["numerator"] / rec["denominator"], 1) == rec["value"] == 50.5
    ri = s.loc[("2024-25", "reliable improvement")]
    assert round(100 * ri["numerator"] / ri["denominator"], 1) == ri["value"] == 67.5
    assert ri["denominator"] == ri["finished_courses"] == 670_419


def test_national_series_complete():
    s = national_series()
    assert set(s["unit"]) == {"percent", "points"}
    s = s[s["unit"] == "percent"]
    years = [f"{y}-{(y + 1) % 100:02d}" for y in range(2017, 2025)]
    assert sorted(s["year"].unique()) == years
    assert (s.groupby("year")["outcome"].nunique() == 4).all()
    assert s["source"].str.contains("NHS England").all()
    # reliable recovery cannot exceed recovery; deterioration is small
    w = s.pivot(index="year", columns="outcome", values="value")
    assert (w["reliable recovery"] <= w["recovery"]).all()
    assert w.loc["2020-21", "reliable improvement"] == 68.3


def test_national_prepost_rows_and_effect_size_arithmetic():
    s = national_series()
    pp = s[s["unit"] == "points"].set_index("outcome")["value"]
    assert pp["PHQ-9 first score mean"] == 14.2 and pp["PHQ-9 first score SD"] == 6.1
    assert pp["GAD-7 last score mean"] == 8.6 and pp["GAD-7 last score SD"] == 5.7
    # (first - last) / SD(first), CBT courses: PHQ-9 4.7 / 6.1 = 0.770; GAD-7 4.7 / 5.1 = 0.922
    es = (pp["PHQ-9 first score mean"] - pp["PHQ-9 last score mean"]) / pp["PHQ-9 first score SD"]
    assert es == pytest.approx(0.7705, abs=1e-4)
    b = iop.benchmarks({"recovery": (1, 2)})
    assert "PHQ-9 14.2 (6.1) -> 9.5 (6.6); GAD-7 13.3 (5.1) -> 8.6 (5.7)" in str(b)


# --------------------------------------------------------------------------- benchmarks


def test_benchmarks_from_result_with_wilson_ci():
    from statsmodels.stats.proportion import proportion_confint

    res = iop.clinical_significance(nhs_joint_table(), method="nhs", instrument=["PHQ-9", "GAD-7"])
    b = iop.benchmarks(res)
    t = b.table.set_index("outcome")
    assert list(t.index) == [
        "recovery", "reliable improvement", "reliable recovery", "reliable deterioration",
    ]  # fmt: skip
    assert t.loc["recovery", "count"] == 4 and t.loc["recovery", "n"] == 8
    lo, hi = proportion_confint(4, 8, method="wilson")
    assert t.loc["recovery", "ci_low"] == pytest.approx(lo, rel=SUMS)
    assert t.loc["recovery", "ci_high"] == pytest.approx(hi, rel=SUMS)
    assert t.loc["recovery", "national_estimate"] == pytest.approx(0.505)
    assert t.loc["reliable deterioration", "national_estimate"] == pytest.approx(0.058)
    assert bool(t.loc["recovery", "national_within_ci"]) is True
    text = str(b)
    assert "Populations differ" in text and "not intensive outpatient" in text


def test_benchmarks_dict_dataframe_groups_and_years():
    b = iop.benchmarks({"recovery": (30, 50), "Reliable Improvement": (40, 50)}, year=None)
    assert len(b.table) == 2 * 8
    tab = iop.clinical_significance(
        nhs_joint_table(), method="nhs", instrument=["PHQ-9", "GAD-7"], by="format"
    ).table
    g = iop.benchmarks(tab)
    assert set(g.table["format"]) == {"in_person", "virtual"}
    assert len(g.table) == 2 * 4


def test_benchmarks_rejects_wrong_inputs():
    ep = pd.DataFrame({"baseline": [20, 10], "endpoint": [10, 9]})
    jt = iop.clinical_significance(ep, instrument="PHQ-9")
    with pytest.raises(ConfigError, match="nhs-talking-therapies"):
        iop.benchmarks(jt)
    with pytest.raises(ConfigError, match="year"):
        iop.benchmarks({"recovery": (1, 2)}, year="2030-31")
    with pytest.raises(DataError, match="unknown outcome"):
        iop.benchmarks({"cured": (1, 2)})
    with pytest.raises(DataError, match="between 0 and n"):
        iop.benchmarks({"recovery": (3, 2)})


# --------------------------------------------------------------------------- result object, errors


def test_result_states_threshold_source_reliability_sd_points():
    ep = pd.DataFrame({"baseline": [20, 15, 18], "endpoint": [10, 14, 9]})
    for thr in ("sample", "reference", "fixed"):
        res = iop.clinical_significance(ep, instrument="PHQ-9", threshold=thr)
        assert isinstance(res, ClinicalSignificanceResult)
        for key in ("method", "threshold_source", "reliability", "sd", "threshold_points"):
            assert key in res.params
        text = str(res)
        assert f"threshold source: {thr}" in text
        assert "threshold_points=" in text
        assert "<table" in res._repr_html_()
        pd.testing.assert_frame_equal(res.to_frame(), res.table)
    assert res.episodes.index.equals(ep.index)


def test_by_groups_and_wilson():
    from statsmodels.stats.proportion import proportion_confint

    ep = pd.DataFrame(
        {
            "baseline": [20, 20, 20, 20, 20, 20],
            "endpoint": [5, 19, 27, 12, 20, 13],
            "site": ["x", "x", "x", "y", "y", "y"],
        }
    )
    res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed", by="site")
    t = res.table.set_index(["site", "outcome"])
    assert t.loc[("x", "recovered"), "count"] == 1
    assert t.loc[("y", "improved"), "count"] == 2  # -8, -7: improved (above c = 7.04)
    lo, hi = proportion_confint(2, 3, method="wilson")
    assert t.loc[("y", "improved"), "ci_low"] == pytest.approx(lo, rel=SUMS)
    assert t.loc[("y", "improved"), "ci_high"] == pytest.approx(hi, rel=SUMS)


def test_instrument_column_filtering_and_missing_scores():
    ep = pd.DataFrame(
        {
            "instrument": ["PHQ-9", "PHQ-9", "GAD-7", "PHQ-9"],
            "baseline": [20, 18, 15, np.nan],
            "endpoint": [10, 17, 5, 10],
        }
    )
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.clinical_significance(ep)
    res = iop.clinical_significance(ep, instrument="phq9", threshold="fixed")
    assert len(res.episodes) == 3
    assert row(res, "improved")["n"] == 2 and row(res, "improved")["n_excluded"] == 1
    assert pd.isna(res.episodes["category"].iloc[-1])


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"method": "bogus"}, ConfigError, "method"),
        ({}, ConfigError, "direction"),
        ({"better_is": "lower"}, ConfigError, "reliability"),
        ({"better_is": "lower", "reliability": 0.8, "sd": 5}, ConfigError, "sd="),
        ({"better_is": "lower", "reliability": 1.2}, ConfigError, "reliability"),
        ({"better_is": "sideways", "reliability": 0.8}, ConfigError, "better_is"),
        ({"better_is": "lower", "threshold": "fixed"}, ConfigError, "fixed"),
        ({"better_is": "lower", "threshold": "medium"}, ConfigError, "threshold"),
        ({"better_is": "lower", "reliability": 0.8, "cutoff": "z"}, ConfigError, "cutoff"),
        ({"better_is": "lower", "reliability": 0.8, "ci_level": 95}, ConfigError, "ci_level"),
        ({"method": "nhs"}, ConfigError, "instrument"),
        ({"method": "nhs", "instrument": "PHQ-9", "reliability": 0.8}, ConfigError, "do not apply"),
        ({"better_is": "lower", "reliability": 0.8, "by": "site"}, DataError, "site"),
    ],
)
def test_config_errors(kwargs, err, match):
    ep = pd.DataFrame({"baseline": [20, 10], "endpoint": [10, 9]})
    with pytest.raises(err, match=match):
        iop.clinical_significance(ep, **kwargs)


def test_data_errors():
    with pytest.raises(DataError, match=r"needs the column\(s\) \[.endpoint.\]"):
        iop.clinical_significance(pd.DataFrame({"baseline": [1]}), instrument="PHQ-9")
    with pytest.raises(ConfigError, match="'episodes' parameter .* must be a pandas DataFrame"):
        iop.clinical_significance([1, 2], instrument="PHQ-9")
    with pytest.raises(DataError, match="non-numeric"):
        iop.clinical_significance(
            pd.DataFrame({"baseline": ["a", 2], "endpoint": [1, 2]}), instrument="PHQ-9"
        )
    joint = nhs_joint_table()
    with pytest.raises(DataError, match="episode_id"):
        iop.clinical_significance(
            joint.drop(columns="episode_id"), method="nhs", instrument=["PHQ-9", "GAD-7"]
        )
    with pytest.raises(DataError, match="repeat"):
        iop.clinical_significance(
            pd.concat([joint, joint.iloc[:1]]), method="nhs", instrument=["PHQ-9", "GAD-7"]
        )


# --------------------------------------------------------------------------- plots


def test_plots_structure(tmp_path):
    import matplotlib.pyplot as plt

    ep = pd.DataFrame({"baseline": [18, 15, 12, 20, 9], "endpoint": [6, 13, 19, 14, 2]})
    res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="reference")
    fig, ax = plt.subplots()
    out = iop.plots.plot_jacobson_truax(res, ax=ax)
    assert out is ax
    assert ax.get_xlabel() == "Baseline score (pre)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(s.startswith("recovered (n = 2)") for s in labels)
    assert any("cut-off c = 7.04" in s for s in labels)
    assert any("±5.61 points" in s for s in labels)
    fig.savefig(tmp_path / "jt.png")
    plt.close(fig)

    ax = iop.plots.plot_change_distribution(res)
    xs = sorted(round(line.get_xdata()[0], 3) for line in ax.lines)
    assert xs == pytest.approx([-5.608, 5.608], abs=1e-3)
    plt.close(ax.figure)

    nhs = iop.clinical_significance(nhs_joint_table(), method="nhs", instrument=["PHQ-9", "GAD-7"])
    ax = iop.plots.plot_change_distribution(nhs, measure="GAD-7")
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [-4.0, 4.0]
    assert "GAD-7" in ax.get_xlabel()
    plt.close(ax.figure)
    with pytest.raises(ConfigError):
        iop.plots.plot_jacobson_truax(nhs)
    gln = iop.clinical_significance(ep, method="gln", instrument="PHQ-9")
    ax = iop.plots.plot_jacobson_truax(gln)
    plt.close(ax.figure)
    with pytest.raises(ConfigError):
        iop.plots.plot_change_distribution(gln)


def test_nhs_joint_episode_columns_combine_rows():
    # by-values and attendance may sit on either row of an episode; sessions take the larger
    tab = pd.DataFrame(
        {
            "episode_id": ["a", "a", "b", "b"],
            "instrument": ["GAD-7", "PHQ-9", "PHQ-9", "GAD-7"],
            "baseline": [12, 15, 15, 12],
            "endpoint": [5, 5, 5, 5],
            "site": [None, "north", "south", None],
            "sessions_attended": [np.nan, 3, 1, np.nan],
        }
    )
    res = iop.clinical_significance(tab, method="nhs", instrument=["PHQ-9", "GAD-7"], by="site")
    e = res.episodes
    assert list(e.index) == ["a", "b"]
    assert e["site"].tolist() == ["north", "south"]
    assert e["finished_course"].tolist() == [True, False]
    assert e["phq9_first"].tolist() == [15, 15] and e["gad7_first"].tolist() == [12, 12]
    with pytest.raises(DataError, match="no episode_id"):
        iop.clinical_significance(
            tab.assign(episode_id=[None, "a", "b", "b"]),
            method="nhs",
            instrument=["PHQ-9", "GAD-7"],
        )


def test_wilson_end_points_exact():
    ep = pd.DataFrame({"baseline": [20, 20, 20], "endpoint": [10, 11, 12]})
    t = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed").table
    t = t.set_index("outcome")
    assert t.loc["deteriorated", "ci_low"] == 0.0  # k = 0
    assert t.loc["improved", "ci_high"] == 1.0  # k = n = 3


def test_nhs_joint_matches_base_r_on_synthetic_episodes():
    # tests/reference/clinsig/nhs_base_r.R: independent base-R implementation of the rules
    ref_dir = Path(__file__).parent / "reference" / "clinsig"
    tab = pd.read_csv(ref_dir / "nhs_synthetic_episodes.csv")
    ref = pd.read_csv(ref_dir / "nhs_base_r.csv")
    overall = iop.clinical_significance(
        tab, method="nhs", instrument=["PHQ-9", "GAD-7"]
    ).table.assign(format="Overall")
    grouped = iop.clinical_significance(
        tab, method="nhs", instrument=["PHQ-9", "GAD-7"], by="format"
    ).table
    got = pd.concat([overall, grouped])[["format", "outcome", "count", "n"]]
    merged = ref.merge(got, on=["format", "outcome"], suffixes=("_r", "_py"), validate="1:1")
    assert len(merged) == len(ref) == 21
    assert (merged["count_r"] == merged["count_py"]).all(), merged
    assert (merged["n_r"] == merged["n_py"]).all(), merged


# --------------------------------------------------------------------------- issue #16: methods
# Reference values: tests/reference/clinsig/clinicalsignificance_r.R -> clinicalsignificance_r.csv,
# produced by the R package clinicalsignificance 2.1.0.9000 itself on its datasets (peer data read
# from ../shared at test time, skipped when absent).

R_CS = Path(__file__).parent / "reference" / "clinsig" / "clinicalsignificance_r.csv"


@pytest.fixture(scope="module")
def cs_r():
    ref = pd.read_csv(R_CS, keep_default_na=False, dtype={"group": str})
    return {
        case: {
            (g, q): float(v) for g, q, v in zip(d["group"], d["quantity"], d["value"], strict=True)
        }
        for case, d in ref.groupby("case")
    }


def _data(name):
    if name == "antidepressants":
        d = _peer("antidepressants.csv")
        w = _wide(d, "patient", "measurement", "mom_di", "Before", "After")
        return w.join(d.drop_duplicates("patient").set_index("patient")["condition"])
    if name.startswith("claus_2020"):
        col = name.rsplit("_", 1)[1]
        d = _peer("claus_2020.csv")
        w = _wide(d, "id", "time", col, 1, 4)
        return w.join(d.drop_duplicates("id").set_index("id")["treatment"])
    return _wide(_peer("jacobson_1989.csv"), "subject", "time", "das", "pre", "post")


AD = ("antidepressants", {"reliability": 0.80, "better_is": "lower"})
BDI = ("claus_2020_bdi", {"reliability": 0.80, "better_is": "lower"})
HAMD = ("claus_2020_hamd", {"reliability": 0.80, "better_is": "lower"})
DAS = ("jacobson_1989_das", {"reliability": 0.93, "better_is": "higher"})
# cut-off c with the sample's baselines as the clinical norms (clinicalsignificance's convention)
NORMS_BDI = {"cutoff": "c", "functional_mean": 8, "functional_sd": 7}
NORMS_DAS = {"cutoff": "c", "functional_mean": 114.8, "functional_sd": 17.8}


def _no_rel(spec):
    return spec[0], {k: v for k, v in spec[1].items() if k != "reliability"}


R_CASES = {
    # case: (dataset, keyword arguments of clinical_significance)
    **{
        f"{ds}_{m}": (ds, {**kw, "method": m, "cutoff": "none"})
        for ds, kw in (AD, BDI, DAS)
        for m in ("hll", "nk", "ha")
    },
    "antidepressants_nk_post85": (AD[0], {**AD[1], "method": "nk", "reliability_post": 0.85}),
    "claus_2020_hamd_ha_by_treatment": (HAMD[0], {**HAMD[1], "method": "ha", "by": "treatment"}),
    "claus_2020_hamd_hll_by_treatment": (HAMD[0], {**HAMD[1], "method": "hll", "by": "treatment"}),
    "antidepressants_ha_combined_a": (AD[0], {**AD[1], "method": "ha", "cutoff": "a"}),
    "claus_2020_bdi_ha_combined_a": (BDI[0], {**BDI[1], "method": "ha", "cutoff": "a"}),
    "claus_2020_bdi_ha_combined_c": (BDI[0], {**BDI[1], "method": "ha", **NORMS_BDI}),
    "jacobson_1989_das_ha_combined_c": (DAS[0], {**DAS[1], "method": "ha", **NORMS_DAS}),
    "claus_2020_hamd_ha_combined_c_by_treatment": (
        HAMD[0],
        {
            **HAMD[1],
            "method": "ha",
            "cutoff": "c",
            "functional_mean": 7,
            "functional_sd": 5,
            "by": "treatment",
        },
    ),
    "claus_2020_bdi_hll_combined_a": (BDI[0], {**BDI[1], "method": "hll", "cutoff": "a"}),
    "antidepressants_nk_combined_a": (AD[0], {**AD[1], "method": "nk", "cutoff": "a"}),
    "antidepressants_statistical_a": (AD[0], {"better_is": "lower", "method": "statistical"}),
    "claus_2020_bdi_statistical_c": (
        BDI[0],
        {"better_is": "lower", "method": "statistical", **NORMS_BDI},
    ),
    "jacobson_1989_das_statistical_c": (
        DAS[0],
        {"better_is": "higher", "method": "statistical", **NORMS_DAS},
    ),
    "claus_2020_hamd_statistical_c_by_treatment": (
        HAMD[0],
        {
            "better_is": "lower",
            "method": "statistical",
            "cutoff": "c",
            "functional_mean": 7,
            "functional_sd": 5,
            "by": "treatment",
        },
    ),
    "antidepressants_pct_50": (AD[0], {"better_is": "lower", "method": "percentage"}),
    "antidepressants_pct_30_20": (
        AD[0],
        {"better_is": "lower", "method": "pct", "pct_improvement": 0.3, "pct_deterioration": 0.2},
    ),
    "claus_2020_hamd_pct_50": (HAMD[0], {"better_is": "lower", "method": "percentage"}),
    "claus_2020_hamd_pct_50_30": (
        HAMD[0],
        {"better_is": "lower", "method": "percentage", "pct_deterioration": 0.3},
    ),
    "jacobson_1989_das_pct_20": (
        DAS[0],
        {"better_is": "higher", "method": "percentage", "pct_improvement": 0.2},
    ),
    "claus_2020_bdi_pct_40_by_treatment": (
        BDI[0],
        {"better_is": "lower", "method": "percentage", "pct_improvement": 0.4, "by": "treatment"},
    ),
    "antidepressants_anchor_8": (AD[0], {"better_is": "lower", "method": "anchor", "mid": 8}),
    "antidepressants_anchor_8_5": (
        AD[0],
        {"better_is": "lower", "method": "anchor", "mid": 8, "mid_deterioration": 5},
    ),
    "claus_2020_bdi_anchor_7": (BDI[0], {"better_is": "lower", "method": "anchor", "mid": 7}),
    "jacobson_1989_das_anchor_10": (
        DAS[0],
        {"better_is": "higher", "method": "anchor", "mid": 10},
    ),
    "claus_2020_bdi_anchor_7_by_treatment": (
        BDI[0],
        {"better_is": "lower", "method": "anchor", "mid": 7, "by": "treatment"},
    ),
    "antidepressants_combined_mid8_a": (
        AD[0],
        {"better_is": "lower", "method": "combined", "mid": 8},
    ),
    "claus_2020_bdi_combined_mid7_c": (
        BDI[0],
        {"better_is": "lower", "method": "combined", "mid": 7, **NORMS_BDI},
    ),
    "jacobson_1989_das_combined_mid10_c": (
        DAS[0],
        {"better_is": "higher", "method": "combined", "mid": 10, **NORMS_DAS},
    ),
}
_R_COUNTS = ("recovered", "improved", "unchanged", "deteriorated", "harmed")


@pytest.mark.parametrize("case", sorted(R_CASES))
def test_new_methods_match_clinicalsignificance(cs_r, case):
    ds, kw = R_CASES[case]
    ref = cs_r[case]
    res = iop.clinical_significance(_data(ds), **kw)
    by = kw.get("by")
    harmed_in_r = any(q == "harmed" for _, q in ref)
    if harmed_in_r and "harmed" not in counts(res):
        # clinicalsignificance's combined approach always reports 'harmed' as a category
        res = iop.clinical_significance(_data(ds), harmed=True, **kw)
    got = counts(res, by)
    for (g, q), v in ref.items():
        if q not in _R_COUNTS:
            continue
        assert (got[g] if by else got)[q] == v, (g, q)
    # identical totals: every paired episode in exactly one category
    assert res.table["count"].sum() == sum(v for (g, q), v in ref.items() if q in _R_COUNTS)
    p = res.params
    for q, key in (("cutoff_value", "cutoff_value"), ("r_dd", "r_dd")):
        if ("", q) in ref:
            assert p[key] == pytest.approx(ref[("", q)], rel=1e-9), q
    if ("", "se_prediction") in ref:
        assert p["se_prediction"] == pytest.approx(ref[("", "se_prediction")], rel=1e-9)
    if ("", "se_measurement") in ref:
        assert p["se_measurement"] == pytest.approx(ref[("", "se_measurement")], rel=1e-9)
    if ("", "critical_value") in ref:
        assert p["rci_critical"] == pytest.approx(ref[("", "critical_value")], rel=SUMS)
    if ("", "sum_abs_rci") in ref:
        rci = res.episodes["rci"].dropna()
        assert len(rci) == ref[("", "n_used")]
        assert rci.abs().sum() == pytest.approx(ref[("", "sum_abs_rci")], rel=1e-9)
        assert rci.sum() == pytest.approx(ref[("", "sum_rci")], rel=1e-9, abs=1e-9)
    if ("", "sum_cs_indiv") in ref:
        assert res.episodes["cs_indiv"].sum() == pytest.approx(ref[("", "sum_cs_indiv")], rel=1e-9)
        assert p["reliability_post"] == pytest.approx(ref[("", "reliability_post")], rel=1e-9)
        assert p["group_changed"] == pytest.approx(ref[("", "group_changed")], rel=1e-9)
        assert p["group_functional"] == pytest.approx(ref[("", "group_functional")], rel=1e-9)
    if by and any(q.startswith("group_") for _, q in ref):
        gl = res.group_level.set_index(by)
        for (g, q), v in ref.items():
            if q.startswith("group_"):
                assert gl.loc[g, q.removeprefix("group_")] == pytest.approx(v, rel=1e-9), (g, q)
    if ("", "sum_pct_change") in ref:
        assert res.episodes["pct_change"].sum() == pytest.approx(ref[("", "sum_pct_change")])
        assert p["n_baseline_zero"] == ref[("", "n_pre_zero")]
    method = METHODS.get(method_key(kw["method"]))
    assert p["method"] == method and method in str(res)


def test_statistical_cutoff_b_uses_functional_sd_unlike_clinicalsignificance(cs_r):
    # clinicalsignificance computes b = M_func + 2 SD_clin (sample baseline SD); we keep the
    # paper's b = M_func + 2 SD_func (as our Jacobson-Truax), so b differs by design.
    w = _data("claus_2020_bdi")
    norms = {**NORMS_BDI, "cutoff": "b"}
    res = iop.clinical_significance(w, method="statistical", better_is="lower", **norms)
    assert res.params["cutoff_value"] == pytest.approx(8 + 2 * 7)
    sd_pre = w.dropna()["baseline"].std()
    assert cs_r["claus_2020_bdi_statistical_b"][("", "cutoff_value")] == pytest.approx(
        8 + 2 * sd_pre, rel=1e-9
    )


def test_hageman_arrindell_statistical_matches_cs_indiv_classification(cs_r):
    # cs_statistical(cutoff_method = "HA"): improved = clinical at baseline and CS_indiv reliably
    # functional; deteriorated = not clinical at baseline and CS_indiv reliably clinical.
    w = _data("claus_2020_bdi")
    res = iop.clinical_significance(w, method="ha", **BDI[1], **NORMS_BDI)
    ref = cs_r["claus_2020_bdi_statistical_ha_c"]
    e = res.episodes.dropna(subset=["category"])
    imp = (e["clinical_pre"] & e["functional_post"]).sum()
    det = (~e["clinical_pre"] & e["clinical_post"]).sum()
    assert (imp, det, len(e) - imp - det) == (
        ref[("", "improved")],
        ref[("", "deteriorated")],
        ref[("", "unchanged")],
    )
    assert res.params["cutoff_value"] == pytest.approx(ref[("", "cutoff_value")], rel=1e-9)


_GROUP_CASES = {
    "antidepressants_group_within_mid8": (AD[0], {"better_is": "lower", "mid": 8}),
    "antidepressants_group_within_mid8_by_condition": (
        AD[0],
        {"better_is": "lower", "mid": 8, "group": "condition"},
    ),
    "claus_2020_bdi_group_within_mid7_by_treatment": (
        BDI[0],
        {"better_is": "lower", "mid": 7, "group": "treatment"},
    ),
    "claus_2020_bdi_group_within_mid2_by_treatment_90": (
        BDI[0],
        {"better_is": "lower", "mid": 2, "group": "treatment", "ci_level": 0.90},
    ),
    "jacobson_1989_das_group_within_mid10": (DAS[0], {"better_is": "higher", "threshold": 10}),
}


@pytest.mark.parametrize("case", sorted(_GROUP_CASES))
def test_anchor_group_within_matches_clinicalsignificance(cs_r, case):
    ds, kw = _GROUP_CASES[case]
    ref = cs_r[case]
    res = iop.clinical_significance(_data(ds), method="anchor", target="group", **kw)
    assert isinstance(res, GroupAnchorResult)
    t = res.table
    key = kw.get("group")
    groups = sorted({g for g, _ in ref})
    assert len(t) == len(groups)
    for g in groups:
        r = t.iloc[0] if key is None else t.set_index(key).loc[g]
        assert r["estimate"] == pytest.approx(ref[(g, "difference")], rel=1e-9)
        assert r["ci_low"] == pytest.approx(ref[(g, "lower")], rel=1e-9)
        assert r["ci_high"] == pytest.approx(ref[(g, "upper")], rel=1e-9)
        assert r["n"] == ref[(g, "n")]
        cat = [q for (gg, q) in ref if gg == g and q.startswith("category: ")]
        assert r["category"] == cat[0].removeprefix("category: ").lower()
    assert res.params["method"] == "anchor" and res.params["target"] == "group"
    assert "target: group" in str(res)


@pytest.mark.parametrize(
    "case, kw",
    [
        ("antidepressants_group_between_mid8", {"group": "condition", "mid": 8}),
        ("claus_2020_bdi_group_between_mid3", {"group": "treatment", "mid": 3}),
        (
            "claus_2020_bdi_group_between_mid3_ref_pa",
            {"group": "treatment", "mid": 3, "reference": "PA"},
        ),
    ],
)
def test_anchor_group_between_matches_clinicalsignificance(cs_r, case, kw):
    ds = "antidepressants" if case.startswith("anti") else "claus_2020_bdi"
    ref = cs_r[case]
    res = iop.clinical_significance(
        _data(ds), method="anchor", target="group", better_is="lower", **kw
    )
    b = res.between.assign(pair=lambda f: f["reference"] + " vs " + f["comparison"])
    b = b.set_index("pair")
    pairs = sorted({g for g, _ in ref})
    assert sorted(b.index) == pairs
    for g in pairs:
        assert b.loc[g, "estimate"] == pytest.approx(ref[(g, "difference")], rel=1e-9)
        assert b.loc[g, "ci_low"] == pytest.approx(ref[(g, "lower")], rel=1e-9)
        assert b.loc[g, "ci_high"] == pytest.approx(ref[(g, "upper")], rel=1e-9)
        assert b.loc[g, "n_reference"] == ref[(g, "n_reference")]
        assert b.loc[g, "n_comparison"] == ref[(g, "n_comparison")]
        cat = [q for (gg, q) in ref if gg == g and q.startswith("category: ")]
        assert b.loc[g, "category"] == cat[0].removeprefix("category: ").lower()
    assert "Between groups" in str(res)
    assert res._repr_html_().count("<table") == 2


# --------------------------------------------------------------------------- issue #16: by hand


def test_hll_and_nk_hand_worked():
    # pre 10, 20, 30, 40 (M_pre 25, SD 12.909944); post 0, 30, 10, 45 (M_post 21.25); r = 0.8
    pre = np.array([10.0, 20, 30, 40])
    post = np.array([0.0, 30, 10, 45])
    ep = pd.DataFrame({"baseline": pre, "endpoint": post})
    sd = np.sqrt(500 / 3)
    # HLL: RCI = ((post - 21.25) - 0.8 (pre - 25)) / (SD sqrt(1 - 0.64))
    hll = iop.clinical_significance(ep, method="hll", reliability=0.8, better_is="lower")
    exp = ((post - 21.25) - 0.8 * (pre - 25)) / (sd * 0.6)
    # = [-1.1295, 1.5169, -2.3560, 1.1295]
    assert hll.episodes["rci"].to_numpy() == pytest.approx(exp)
    assert hll.params["mean_post"] == 21.25
    assert hll.episodes["category"].astype(str).tolist() == [
        "unchanged", "unchanged", "improved", "unchanged",
    ]  # fmt: skip
    # NK, r_pre 0.8, r_post 0.9: se = sqrt(0.64 SD^2 0.2 + SD^2 0.1) = SD sqrt(0.228)
    nk = iop.clinical_significance(
        ep, method="nk", reliability=0.8, reliability_post=0.9, better_is="lower"
    )
    se = sd * np.sqrt(0.64 * 0.2 + 0.1)
    exp = (post - (0.8 * (pre - 25) + 25)) / se
    # = [-2.8685, 1.8358, -5.0484, 1.1474]
    assert nk.params["se_change"] == pytest.approx(se)
    assert nk.episodes["rci"].to_numpy() == pytest.approx(exp)
    assert nk.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "improved", "unchanged",
    ]  # fmt: skip
    # without reliability_post, NK uses the pre reliability (and says so)
    nk1 = iop.clinical_significance(ep, method="nk", reliability=0.8, better_is="lower")
    assert nk1.params["reliability_post"] == 0.8
    assert any("reliability_post not given" in n for n in nk1.notes)
    # NK with a reference mean and SD
    ref = iop.clinical_significance(
        ep, method="nk", reliability=0.8, threshold="reference", sd=10, clinical_mean=20,
        better_is="lower",
    )  # fmt: skip
    se_r = 10 * np.sqrt(0.64 * 0.2 + 0.2)
    assert ref.episodes["rci"].to_numpy() == pytest.approx((post - (0.8 * (pre - 20) + 20)) / se_r)


def test_hageman_arrindell_hand_worked():
    # pre 10, 20, 30, 40; post 4, 25, 10, 30 (M_post 17.25); r_xx = 0.8; lower is better
    pre = np.array([10.0, 20, 30, 40])
    post = np.array([4.0, 25, 10, 30])
    ep = pd.DataFrame({"baseline": pre, "endpoint": post})
    s1, s2 = np.sqrt(500 / 3), np.std(post, ddof=1)  # 12.9099, 12.2848
    r12 = np.corrcoef(pre, post)[0, 1]  # 0.663526
    se = s1 * np.sqrt(0.2)  # 5.7735
    r2 = (s2**2 - se**2) / s2**2  # 0.778148 (SEm constant over time)
    r_dd = (s1**2 * 0.8 + s2**2 * r2 - 2 * s1 * s2 * r12) / (s1**2 + s2**2 - 2 * s1 * s2 * r12)
    ha = iop.clinical_significance(
        ep, method="hageman-arrindell", reliability=0.8, better_is="lower", cutoff=20
    )
    p = ha.params
    assert p["reliability_post"] == pytest.approx(r2)
    assert p["r_dd"] == pytest.approx(r_dd)
    assert p["rci_critical"] == pytest.approx(1.6448536, abs=1e-7)  # one-sided 5 %
    assert r_dd == pytest.approx(0.3764614, abs=1e-7)
    rc = ((post - pre) * r_dd + (17.25 - 25) * (1 - r_dd)) / (np.sqrt(r_dd) * np.sqrt(2 * se**2))
    assert ha.episodes["rci"].to_numpy() == pytest.approx(rc)
    # CS_indiv with a user cut-off of 20 (inclusive: a baseline of 20 is clinical)
    cs = (17.25 + (post - 17.25) * r2 - 20) / (np.sqrt(r2) * se)
    assert ha.episodes["cs_indiv"].to_numpy() == pytest.approx(cs)
    e = ha.episodes
    assert e["clinical_pre"].tolist() == [False, True, True, True]
    assert e["functional_post"].tolist() == (-cs > p["rci_critical"]).tolist()
    imp = -rc > p["rci_critical"]
    rec = imp & e["clinical_pre"].to_numpy(bool) & (-cs > p["rci_critical"])
    assert (e["category"] == "recovered").to_numpy().tolist() == rec.tolist()
    # threshold stated in points of raw change around the shrunken centre
    centre = -(17.25 - 25) * (1 - r_dd) / r_dd
    assert p["change_centre"] == pytest.approx(centre)
    assert p["threshold_points"] == pytest.approx(
        1.6448536 * np.sqrt(2) * se / np.sqrt(r_dd), rel=1e-6
    )
    with pytest.raises(ConfigError, match="threshold='sample'"):
        iop.clinical_significance(
            ep, method="ha", reliability=0.8, better_is="lower", threshold="reference", sd=5
        )
    with pytest.raises(ConfigError, match="reliability_post"):
        iop.clinical_significance(ep, reliability=0.8, better_is="lower", reliability_post=0.9)


def test_hageman_arrindell_true_score_cutoffs_by_hand():
    # SEm = SD_pre sqrt(1 - r) with the sample SD; r_clin = 1 - SEm^2 / SD_clin^2 (= r when the
    # clinical norms are the sample's); a_true = M - 2 SD sqrt(r); c_true weights SD sqrt(r).
    pre = np.array([10.0, 20, 30, 40])
    post = np.array([4.0, 25, 10, 30])
    ep = pd.DataFrame({"baseline": pre, "endpoint": post})
    s1 = np.sqrt(500 / 3)
    se2 = s1**2 * 0.2
    kw = {"method": "ha", "reliability": 0.8, "better_is": "lower"}
    a = iop.clinical_significance(ep, cutoff="a", **kw)
    assert a.params["cutoff_value"] == pytest.approx(25 - 2 * s1 * np.sqrt(0.8))
    assert a.params["reliability_clinical"] == pytest.approx(0.8)
    c = iop.clinical_significance(ep, cutoff="c", functional_mean=5, functional_sd=6, **kw)
    rf = 1 - se2 / 36  # 0.074074
    sc, sf = s1 * np.sqrt(0.8), 6 * np.sqrt(rf)
    assert c.params["cutoff_value"] == pytest.approx((sc * 5 + sf * 25) / (sc + sf))
    b = iop.clinical_significance(ep, cutoff="b", functional_mean=5, functional_sd=6, **kw)
    assert b.params["cutoff_value"] == pytest.approx(5 + 2 * sf)
    with pytest.raises(DataError, match="functional SD"):
        iop.clinical_significance(ep, cutoff="c", functional_mean=5, functional_sd=5, **kw)


def test_statistical_boundaries_inclusive_and_strict():
    # user cut-off 10 (caseness >= 10): improved = clinical pre and functional post;
    # deteriorated = pre not clinical and post not functional; no RCI, any size of change
    ep = pd.DataFrame({"baseline": [10, 11, 9, 9, 10, 12], "endpoint": [9, 10, 10, 9, 10, 2]})
    res = iop.clinical_significance(ep, method="statistical", instrument="PHQ-9", cutoff=10)
    assert res.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "deteriorated", "unchanged", "unchanged", "improved",
    ]  # fmt: skip
    assert res.params["cutoff_rule"] == "clinical: score >= 10; functional: score < 10"
    assert res.params["threshold_source"] is None and res.params["reliability"] is None
    assert list(res.table["outcome"]) == ["improved", "unchanged", "deteriorated"]
    strict = iop.clinical_significance(
        ep, method="statistical", instrument="PHQ-9", cutoff=10, cutoff_inclusive=False
    )
    # 10 -> 9: pre at the cut-off is not clinical (strict) and post is functional: unchanged;
    # 10 -> 10: pre not clinical, post not functional: deteriorated, as clinicalsignificance
    assert strict.episodes["category"].astype(str).tolist() == [
        "unchanged", "unchanged", "deteriorated", "unchanged", "deteriorated", "improved",
    ]  # fmt: skip
    # default: the instrument's norms give cut-off c; with no norms, a from the sample
    assert res.params["cutoff"] == "user-supplied"
    assert (
        iop.clinical_significance(ep, method="statistical", instrument="PHQ-9").params["cutoff"]
        == "c"
    )
    s = iop.clinical_significance(ep, method="statistical", better_is="lower")
    assert s.params["cutoff"] == "a"
    assert s.params["cutoff_value"] == pytest.approx(
        ep["baseline"].mean() - 2 * ep["baseline"].std()
    )
    with pytest.raises(ConfigError, match="needs a cut-off"):
        iop.clinical_significance(ep, method="statistical", better_is="lower", cutoff="none")
    with pytest.raises(ConfigError, match="do not apply"):
        iop.clinical_significance(ep, method="statistical", better_is="lower", reliability=0.8)


def test_percentage_boundaries_and_baseline_zero():
    # lower is better; 50 % improvement, 30 % deterioration; inclusive
    ep = pd.DataFrame(
        {
            "baseline": [20, 20, 20, 20, 0, 0, 10],
            "endpoint": [10, 11, 26, 25, 3, 0, 5],
        }
    )
    res = iop.clinical_significance(
        ep, method="percentage", better_is="lower", pct_deterioration=0.3
    )
    e = res.episodes
    assert e["pct_change"].iloc[:4].tolist() == pytest.approx([-0.5, -0.45, 0.3, 0.25])
    assert e["pct_change"].iloc[4:6].isna().all()  # baseline 0: no percentage
    assert e["category"].astype(str).tolist() == [
        "improved", "unchanged", "deteriorated", "unchanged", "deteriorated", "unchanged",
        "improved",
    ]  # fmt: skip
    assert res.params["pct_improvement"] == 0.5 and res.params["pct_deterioration"] == 0.3
    assert res.params["n_baseline_zero"] == 2
    assert any("Baseline 0 (2 episode(s))" in n for n in res.notes)
    # higher is better: an increase is improvement; from 0 any increase is improvement
    hi = iop.clinical_significance(
        pd.DataFrame({"baseline": [10, 10, 0], "endpoint": [15, 5, 2]}),
        method="percentage", better_is="higher",
    )  # fmt: skip
    assert hi.episodes["category"].astype(str).tolist() == ["improved", "deteriorated", "improved"]
    with pytest.raises(ConfigError, match="pct_improvement"):
        iop.clinical_significance(ep, method="percentage", better_is="lower", pct_improvement=50)
    with pytest.raises(DataError, match="negative"):
        iop.clinical_significance(
            pd.DataFrame({"baseline": [-1.0], "endpoint": [2.0]}),
            method="percentage", better_is="lower",
        )  # fmt: skip


def test_anchor_and_combined_boundaries():
    # PHQ-9 MID 5 (instrument, cited); change of exactly 5 counts (inclusive)
    ep = pd.DataFrame({"baseline": [20, 20, 12, 5, 9, 12], "endpoint": [15, 16, 17, 10, 3, 4]})
    res = iop.clinical_significance(ep, method="anchor", instrument="PHQ-9")
    assert res.params["mid_improvement"] == 5 and res.params["threshold_source"] == "anchor"
    assert res.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "deteriorated", "deteriorated", "improved", "improved",
    ]  # fmt: skip
    assert list(res.table["outcome"]) == ["improved", "unchanged", "deteriorated"]
    assert not any("'recovered' is not" in n for n in res.notes)
    # threshold=<points> under 'anchor' is the MID (as it was under 'jacobson-truax')
    alias = iop.clinical_significance(ep, method="anchor", instrument="PHQ-9", threshold=5)
    assert alias.episodes["category"].equals(res.episodes["category"])
    # combined: MID + user cut-off 10 (inclusive) -> five categories with harmed
    comb = iop.clinical_significance(
        ep, method="combined", instrument="PHQ-9", mid=5, mid_deterioration=4, cutoff=10
    )
    # 20->15 improved (not below 10); 20->16 unchanged; 12->17 deteriorated (pre clinical);
    # 5->10 harmed (functional -> clinical); 9->3 improved (pre not clinical); 12->4 recovered
    assert comb.episodes["category"].astype(str).tolist() == [
        "improved", "unchanged", "deteriorated", "harmed", "improved", "recovered",
    ]  # fmt: skip
    assert list(comb.table["outcome"]) == [
        "recovered", "improved", "unchanged", "deteriorated", "harmed",
    ]  # fmt: skip
    assert comb.params["cutoff_inclusive"] is True
    with pytest.raises(ConfigError, match="do not apply"):
        iop.clinical_significance(ep, method="anchor", instrument="PHQ-9", cutoff=10)
    with pytest.raises(ConfigError, match="needs a cut-off"):
        iop.clinical_significance(ep, method="combined", instrument="PHQ-9", cutoff="none")
    with pytest.raises(ConfigError, match="mid"):
        iop.clinical_significance(ep, method="anchor", better_is="lower")
    with pytest.raises(ConfigError, match="once"):
        iop.clinical_significance(ep, method="anchor", better_is="lower", mid=5, threshold=5)
    with pytest.raises(ConfigError, match="'mid'"):
        iop.clinical_significance(ep, method="anchor", better_is="lower", mid=-1)


def test_anchor_group_hand_worked():
    # changes -6, -8, -10, -4 (n 4): mean -7, SD 2.581989, se 1.290994, t(3) 0.975 = 3.182446
    ep = pd.DataFrame(
        {
            "baseline": [20, 20, 20, 20, 15, 15, 15],
            "endpoint": [14, 12, 10, 16, 14, 13, 16],
            "site": ["a", "a", "a", "a", "b", "b", "b"],
        }
    )
    res = iop.clinical_significance(
        ep.iloc[:4], method="anchor", target="group", better_is="lower", mid=5
    )
    r = res.table.iloc[0]
    half = 3.182446305284263 * np.sqrt(20 / 3) / 2
    assert r["estimate"] == -7 and r["n"] == 4 and r["df"] == 3
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-7 - half, -7 + half))  # -11.11, -2.89
    # benefit B = 7 > MID 5 but its interval [2.89, 11.11] reaches below 5
    assert r["category"] == "probably clinically significant effect"
    r = iop.clinical_significance(
        ep.iloc[:4], method="anchor", target="group", better_is="lower", mid=8
    ).table.iloc[0]
    assert r["category"] == "not significantly less than the threshold"  # B 7 < 8 < U 11.11
    assert bool(r["beneficial"]) is True
    g = iop.clinical_significance(
        ep, method="anchor", target="group", better_is="lower", mid=1, group="site"
    )
    assert list(g.table["site"]) == ["a", "b"]
    b = g.between.iloc[0]
    # endpoint means: a 13, b 14.333; Welch: se^2 = 6.6667/4 + 2.3333/3
    assert (b["reference"], b["comparison"]) == ("a", "b")
    assert b["estimate"] == pytest.approx(14 + 1 / 3 - 13)
    assert b["se"] == pytest.approx(np.sqrt((20 / 3) / 4 + (7 / 3) / 3))
    assert bool(b["beneficial"]) is False
    assert b["category"] == "statistically not significant"
    # a duplicated index (e.g. after pd.concat) and row order change nothing
    shuffled = ep.iloc[[6, 0, 4, 1, 5, 2, 3]].set_axis([0, 0, 1, 1, 2, 2, 3])
    g2 = iop.clinical_significance(
        shuffled, method="anchor", target="group", better_is="lower", mid=1, group="site"
    )
    pd.testing.assert_frame_equal(g2.table, g.table)
    pd.testing.assert_frame_equal(g2.between, g.between)
    with pytest.raises(ConfigError, match="'reference' parameter"):
        iop.clinical_significance(
            ep, method="anchor", target="group", better_is="lower", mid=1, group="site",
            reference="z",
        )  # fmt: skip
    with pytest.raises(ConfigError, match="target"):
        iop.clinical_significance(ep, target="group", better_is="lower", reliability=0.8)
    with pytest.raises(ConfigError, match="target"):
        iop.clinical_significance(ep, method="anchor", target="groups", mid=5, better_is="lower")


def test_anchor_group_compares_group_with_reference():
    """Rule 2: the compared column is group= with reference=; by= only stratifies."""
    ep = pd.DataFrame(
        {
            "baseline": [20, 20, 20, 20, 15, 15, 15],
            "endpoint": [14, 12, 10, 16, 14, 13, 16],
            "site": ["a", "a", "a", "a", "b", "b", "b"],
        }
    )
    kw = {"method": "anchor", "target": "group", "better_is": "lower", "mid": 1}
    g = iop.clinical_significance(ep, **kw, group="site", reference="b")
    b = g.between.iloc[0]
    # endpoint means: a 13, b 14.333 (as in test_anchor_group_hand_worked, mirrored)
    assert (b["reference"], b["comparison"]) == ("b", "a")
    assert b["estimate"] == pytest.approx(13 - (14 + 1 / 3))
    assert b["se"] == pytest.approx(np.sqrt((20 / 3) / 4 + (7 / 3) / 3))
    assert bool(b["beneficial"]) is True
    assert (g.params["group"], g.params["reference"]) == ("site", "b")
    assert "reference_group" not in g.params
    # reference=None: the first level in categorical order (not sorted order) ...
    cat = ep.assign(site=pd.Categorical(ep["site"], categories=["b", "a"]))
    gc = iop.clinical_significance(cat, **kw, group="site")
    assert gc.params["reference"] == "b"
    pd.testing.assert_frame_equal(gc.between, g.between, check_dtype=False)
    # ... else sorted order
    assert iop.clinical_significance(ep, **kw, group="site").params["reference"] == "a"
    # a single level: within only, no between, said in the notes
    one = iop.clinical_significance(ep.iloc[:4], **kw, group="site")
    assert one.between is None and one.params["reference"] is None
    assert any("one level" in n for n in one.notes)


def test_anchor_group_keyword_errors():
    ep = pd.DataFrame(
        {"baseline": [20, 20, 15, 15], "endpoint": [14, 12, 14, 13], "site": list("aabb")}
    )
    kw = {"method": "anchor", "target": "group", "better_is": "lower", "mid": 1}
    # the old keyword names the new one
    with pytest.raises(ConfigError, match="'reference'"):
        iop.clinical_significance(ep, **kw, group="site", reference_group="b")
    # by= does not name the compared column any more
    with pytest.raises(ConfigError, match=r"group='site'"):
        iop.clinical_significance(ep, **kw, by="site")
    # reference= without group=
    with pytest.raises(ConfigError, match="needs group="):
        iop.clinical_significance(ep, **kw, reference="a")
    # group= / reference= with any other method or target
    for other in (
        {"method": "anchor", "mid": 1},
        {"method": "jacobson-truax", "reliability": 0.8},
        {"method": "combined", "mid": 1, "cutoff": 15},
        {"method": "percentage"},
    ):
        for extra in ({"group": "site"}, {"group": "site", "reference": "a"}):
            with pytest.raises(ConfigError, match="target='group'"):
                iop.clinical_significance(ep, better_is="lower", **other, **extra)
    with pytest.raises(ConfigError, match=r"\['group'\] do not apply"):
        iop.clinical_significance(ep, method="nhs", instrument="PHQ-9", group="site")
    # a missing column is a data error naming it
    with pytest.raises(DataError, match=r"\['clinic'\]"):
        iop.clinical_significance(ep, **kw, group="clinic")


def test_new_methods_plots_by_structure():
    import matplotlib.pyplot as plt

    ep = pd.DataFrame(
        {"baseline": [18, 15, 12, 20, 9, 22, 0], "endpoint": [6, 13, 19, 14, 2, 21, 3]}
    )
    for m in ("hll", "nk", "ha", "statistical", "percentage", "anchor", "combined"):
        res = iop.clinical_significance(ep, method=m, instrument="PHQ-9")
        ax = iop.plots.plot_jacobson_truax(res)
        assert ax.get_xlabel() == "Baseline score (pre)"
        assert m in ax.get_title() or res.params["method"] in ax.get_title()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        n_band = sum("MID" in s or "reliable" in s or "of baseline" in s for s in labels)
        assert n_band == (0 if m == "statistical" else 1), (m, labels)
        plt.close(ax.figure)
    comb = iop.clinical_significance(ep, method="combined", instrument="PHQ-9", mid_deterioration=3)
    ax = iop.plots.plot_change_distribution(comb)
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [-5.0, 3.0]
    assert "MID" in ax.get_title()
    plt.close(ax.figure)
    for m in ("statistical", "percentage", "ha"):
        with pytest.raises(ConfigError):
            iop.plots.plot_change_distribution(
                iop.clinical_significance(ep, method=m, instrument="PHQ-9")
            )
    grp = iop.clinical_significance(ep, method="anchor", target="group", instrument="PHQ-9")
    with pytest.raises(ConfigError):
        iop.plots.plot_jacobson_truax(grp)


# Published outputs: the package's own test snapshots (clinicalsignificance, commit 863dc77,
# tests/testthat/_snaps/cs_distribution.md, cs_combined.md, cs_percentage.md), claus_2020 HAMD,
# pre = 1, post = 4, reliability 0.8; combined with cut-off c, m_functional 8, sd_functional 8.
_SNAPSHOTS = [
    ({"method": "hll"}, {"improved": 12, "unchanged": 16, "deteriorated": 12}),
    (
        {"method": "nk", "reliability_post": 0.5},
        {"improved": 28, "unchanged": 11, "deteriorated": 1},
    ),
    ({"method": "ha"}, {"improved": 32, "unchanged": 7, "deteriorated": 1}),
    (
        {"method": "hll", "cutoff": "c", "harmed": True},
        {"recovered": 12, "improved": 0, "unchanged": 16, "deteriorated": 11, "harmed": 1},
    ),
    (
        {"method": "nk", "reliability_post": 0.5, "cutoff": "c", "harmed": True},
        {"recovered": 26, "improved": 2, "unchanged": 11, "deteriorated": 1, "harmed": 0},
    ),
    (
        {"method": "ha", "cutoff": "c", "harmed": True},
        {"recovered": 23, "improved": 9, "unchanged": 7, "deteriorated": 1, "harmed": 0},
    ),
]


@pytest.mark.parametrize("kw, expected", _SNAPSHOTS)
def test_claus_2020_hamd_reproduces_published_snapshots(kw, expected):
    w = _data("claus_2020_hamd")
    norms = {"functional_mean": 8, "functional_sd": 8} if "cutoff" in kw else {"cutoff": "none"}
    res = iop.clinical_significance(w, reliability=0.8, better_is="lower", **norms, **kw)
    assert counts(res) == expected
    if kw["method"] == "ha" and "cutoff" in kw:
        # "Groupcs Level Summary": Changed 0.90, Functional 0.76 (printed to 2 decimals)
        assert round(res.params["group_changed"], 2) == 0.90
        assert round(res.params["group_functional"], 2) == 0.76


def test_claus_2020_hamd_percentage_reproduces_published_snapshot():
    w = _data("claus_2020_hamd")
    for kw in ({}, {"pct_deterioration": 0.3}):
        res = iop.clinical_significance(w, method="percentage", better_is="lower", **kw)
        assert counts(res) == {"improved": 16, "unchanged": 24, "deteriorated": 0}


@pytest.mark.parametrize(
    "kw",
    [
        {"method": "hll"},
        {"method": "nk", "reliability_post": 0.7},
        {"method": "ha", "cutoff": 15},
        {"method": "statistical", "cutoff": 15},
        {"method": "percentage", "pct_improvement": 0.4},
        {"method": "anchor", "mid": 4},
        {"method": "combined", "mid": 4, "cutoff": 15},
    ],
)
def test_new_methods_invariant_to_row_order_and_duplicated_index(kw):
    rng = np.random.default_rng(16)
    n = 60
    pre = rng.integers(5, 27, n)
    ep = pd.DataFrame(
        {
            "baseline": pre,
            "endpoint": np.clip(pre - rng.integers(-6, 14, n), 0, 27),
            "site": rng.choice(["a", "b", "c"], n),
        }
    )
    base = {"reliability": 0.85} if kw["method"] in ("hll", "nk", "ha") else {}
    res = iop.clinical_significance(ep, better_is="lower", by="site", **base, **kw)
    perm = rng.permutation(n)
    other = ep.iloc[perm].set_axis(np.repeat(np.arange(n // 2), 2))
    res2 = iop.clinical_significance(other, better_is="lower", by="site", **base, **kw)
    pd.testing.assert_frame_equal(res.table, res2.table)
    cats = res.episodes["category"].astype(str).to_numpy()[perm]
    assert (res2.episodes["category"].astype(str).to_numpy() == cats).all()
    if res.group_level is not None:
        pd.testing.assert_frame_equal(res.group_level, res2.group_level)
        assert "Group level (Hageman & Arrindell 1999)" in str(res)
        assert res._repr_html_().count("<table") == 2


# --------------------------------------------------------------------------- the instrument rule


def test_two_instruments_need_a_choice():
    ep = pd.DataFrame({"instrument": ["PHQ-9", "GAD-7"], "baseline": [20, 15], "endpoint": [10, 5]})
    with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
        iop.clinical_significance(ep, threshold="fixed")
    # naming one keeps its rows and says how many were left out
    res = iop.clinical_significance(ep, instrument="GAD-7", threshold="fixed")
    assert res.params["instrument"] == "GAD-7" and len(res.episodes) == 1
    assert any("1 rows of other instruments were left out" in n for n in res.notes)
    with pytest.raises(DataError, match="no rows for instrument"):
        iop.clinical_significance(ep.iloc[:1], instrument="GAD-7", threshold="fixed")


def test_nhs_joint_rules_need_the_list():
    joint = nhs_joint_table()
    with pytest.raises(ConfigError, match=r"instrument=\['PHQ-9', 'GAD-7'\]"):
        iop.clinical_significance(joint, method="nhs")
    # with the list: the joint rules; with one name: that measure's single-measure rules
    both = iop.clinical_significance(joint, method="nhs", instrument=["GAD-7", "phq9"])
    assert both.params["rules"] == "joint PHQ-9 + GAD-7"
    one = iop.clinical_significance(joint, method="nhs", instrument="PHQ-9")
    assert one.params["rules"] == "single measure (PHQ-9)"
    # the list must be the joint pair, and it is only for the NHS rules
    with pytest.raises(ConfigError, match="joint pair"):
        iop.clinical_significance(joint, method="nhs", instrument=["PHQ-9", "PHQ-15"])
    with pytest.raises(ConfigError, match="nhs-talking-therapies"):
        iop.clinical_significance(joint, instrument=["PHQ-9", "GAD-7"], threshold="fixed")
    # asking for the joint rules on a table without GAD-7 rows is a data error, not a fallback
    phq = joint[joint["instrument"] == "PHQ-9"]
    with pytest.raises(DataError, match=r"no rows for instrument\(s\) \['GAD-7'\]"):
        iop.clinical_significance(phq, method="nhs", instrument=["PHQ-9", "GAD-7"])


def test_validation_layer_messages():
    ep = pd.DataFrame({"baseline": [20, 10], "endpoint": [10, 9]})
    with pytest.raises(ConfigError, match=r"'ci_level' parameter of iop.clinical_significance"):
        iop.clinical_significance(ep, instrument="PHQ-9", ci_level="0.9")
    with pytest.raises(ConfigError, match=r"'harmed' parameter .* must be True or False"):
        iop.clinical_significance(ep, instrument="PHQ-9", harmed="yes")
    with pytest.raises(ConfigError, match=r"'target' parameter"):
        iop.clinical_significance(ep, instrument="PHQ-9", target="cohort")
    with pytest.raises(ConfigError, match=r"'ci_level' parameter of iop.benchmarks"):
        iop.benchmarks({"recovery": (30, 50)}, ci_level=1.0)
    with pytest.raises(ConfigError, match=r"'result_or_rates' parameter of iop.benchmarks"):
        iop.benchmarks([30, 50])
    with pytest.raises(DataError, match=r"needs the column\(s\) \['n'\] in the rates table"):
        iop.benchmarks(pd.DataFrame({"outcome": ["recovery"], "count": [3]}))


def test_plots_take_the_result_only():
    import matplotlib.pyplot as plt

    ep = pd.DataFrame({"baseline": [18, 15, 12, 20], "endpoint": [6, 13, 19, 14]})
    res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed")
    fig, ax = plt.subplots()
    with pytest.raises(TypeError):
        iop.plots.plot_jacobson_truax(res, ax)  # ax is keyword-only
    with pytest.raises(ConfigError, match="never refit"):
        iop.plots.plot_jacobson_truax(ep)
    with pytest.raises(ConfigError, match="never refit"):
        iop.plots.plot_change_distribution(ep)
    with pytest.raises(ConfigError, match="'ax' parameter"):
        iop.plots.plot_change_distribution(res, ax="left")
    with pytest.raises(ConfigError, match="now called 'measure'"):
        iop.plots.plot_change_distribution(res, instrument="PHQ-9")
    grp = iop.clinical_significance(ep, method="anchor", target="group", instrument="PHQ-9")
    with pytest.raises(ConfigError, match="target='group'"):
        iop.plots.plot_jacobson_truax(grp)
    plt.close(fig)
