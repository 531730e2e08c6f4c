"""Tests for iop_outcomes._retention (retention, dropout_survival, attrition, durability) and
iop_outcomes.plots.retention.

Reference values:
* tests/reference/retention/km_fixtures.R — R 4.2.2, survival 3.5.3: survfit (conf.type =
  "log-log"), quantile.survfit medians, survdiff, summary(times=), multi-state survfit
  (Aalen–Johansen with infinitesimal-jackknife SE).
* tests/reference/retention/models_fixtures.R — R 4.2.2 stats: chisq.test(correct = FALSE),
  glm(binomial) with confint.default, t.test (Welch).
* Hand counts on small constructed frames (written out below).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tolerance import SUMS

import iop_outcomes as iop
from iop_outcomes._retention.flow import flow_codes
from iop_outcomes._retention.prepare import status_codes
from iop_outcomes.exceptions import ConfigError, DataError

matplotlib.use("Agg")

R = importlib.import_module("iop_outcomes._retention")

REF = Path(__file__).parent / "reference" / "retention"


def _close(a, b, tol=1e-9):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def km_data():
    return pd.read_csv(REF / "km_data.csv")


# ----------------------------------------------------------------------------------------
# Kaplan–Meier, medians, log-rank, Aalen–Johansen against R survival 3.5.3
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("transfers", "fixture", "cols"),
    [
        (
            "censor",
            "km_curve.csv",
            ["n_risk", "n_event", "n_censor", "estimate", "se", "se_log", "ci_low", "ci_high"],
        ),
        ("competing", "aj_curve.csv", ["n_risk", "estimate", "se", "ci_low", "ci_high"]),
    ],
)
def test_curve_matches_r(km_data, transfers, fixture, cols):
    res = R.dropout_survival(km_data, group="format", transfers=transfers)
    ref = pd.read_csv(REF / fixture)
    got = res.curve
    assert (
        got[["group", "time"]]
        .astype({"time": float})
        .equals(ref[["group", "time"]].astype({"time": float}))
    )
    for c in cols:
        _close(got[c], ref[c], 1e-10)


def test_other_ci_level_matches_r(km_data):
    res = R.dropout_survival(km_data, group="format", ci_level=0.90)
    ref = pd.read_csv(REF / "km_curve90.csv")
    for c in ("ci_low", "ci_high"):
        _close(res.curve[c], ref[c], 1e-10)
    med = ref.groupby("group", sort=True)[["median_low", "median_high"]].first()
    tab = res.table.set_index("group").loc[med.index]
    _close(tab["median_dropout_ci_low"], med["median_low"])
    _close(tab["median_dropout_ci_high"], med["median_high"])


def test_medians_match_r(km_data):
    res = R.dropout_survival(km_data, group="format")
    ref = pd.read_csv(REF / "km_median.csv")
    tab = res.table.set_index("group").loc[ref["group"]]
    _close(tab["median_dropout"], ref["median"])
    _close(tab["median_dropout_ci_low"], ref["ci_low"])
    _close(tab["median_dropout_ci_high"], ref["ci_high"])
    assert tab["n"].tolist() == ref["n"].tolist()
    assert tab["dropouts"].tolist() == ref["events"].tolist()
    los = pd.read_csv(REF / "los_median.csv")
    _close(tab["median_los"], los["median"])
    _close(tab["los_ci_low"], los["ci_low"])
    _close(tab["los_ci_high"], los["ci_high"])
    los_curve = pd.read_csv(REF / "los_curve.csv")
    for c in ("estimate", "se", "ci_low", "ci_high"):
        _close(res.los_curve[c], los_curve[c], 1e-10)


def test_median_midpoint_rule_matches_r():
    # S = 0.5 exactly from t = 3 to the last time 6: R's quantile.survfit gives (3 + 6) / 2
    ep = pd.DataFrame(
        {
            "los_days": [1, 2, 3, 4, 5, 6],
            "discharge_status": ["dropped_out"] * 3 + ["completed"] * 3,
        }
    )
    ref = pd.read_csv(REF / "km_tie.csv").iloc[0]
    row = R.dropout_survival(ep, group=None).table.iloc[0]
    _close(
        [row["median_dropout"], row["median_dropout_ci_low"], row["median_dropout_ci_high"]],
        [ref["median"], ref["ci_low"], ref["ci_high"]],
    )
    assert row["median_dropout"] == 4.5


def test_logrank_and_at_risk_match_r(km_data):
    res = R.dropout_survival(km_data, group="format", times=[0, 7, 14, 21, 28, 35])
    ref = pd.read_csv(REF / "km_logrank.csv")
    lr = res.logrank.set_index("group").loc[ref["group"]]
    _close(lr["statistic"], ref["statistic"])
    _close(lr["pvalue"], ref["pvalue"])
    assert (lr["df"] == ref["df"].to_numpy()).all()
    _close(lr["observed"], ref["observed"])
    _close(lr["expected"], ref["expected"])
    ar = pd.read_csv(REF / "km_atrisk.csv")
    got = res.at_risk.merge(ar, on=["group", "time"], suffixes=("", "_r"))
    assert len(got) == len(ar)
    assert (got["n_risk"] == got["n_risk_r"]).all()
    _close(got["estimate"], got["estimate_r"])


def test_km_hand_example():
    # hand: S(3) = 5/6; S(5) = 5/6 * 4/5 = 2/3 (n=5, d=1, c=1); S(10) = 2/3 * 1/2 = 1/3
    ep = pd.DataFrame(
        {
            "los_days": [3, 5, 5, 8, 10, 12],
            "discharge_status": [
                "dropped_out",
                "completed",
                "dropped_out",
                "completed",
                "dropped_out",
                "transferred",
            ],
        }
    )
    c = R.dropout_survival(ep, group=None).curve
    _close(c["estimate"], [5 / 6, 2 / 3, 2 / 3, 1 / 3, 1 / 3])
    # Greenwood on the log scale at t = 5: 1/(6*5) + 1/(5*4)
    assert math.isclose(c["se_log"].iloc[1], math.sqrt(1 / 30 + 1 / 20))
    # competing transfers: the 12-day transfer is a competing event, not a dropout
    cc = R.dropout_survival(ep, group=None, transfers="competing")
    assert cc.curve["n_competing"].sum() == 1
    assert math.isclose(cc.curve["estimate"].iloc[-1], 1 - 1 / 3)  # no censoring before
    assert "competing" in str(cc)


def test_km_row_order_and_label_invariance(km_data):
    a = R.dropout_survival(km_data, group="format")
    shuffled = km_data.sample(frac=1, random_state=3).rename(columns={"format": "modality"})
    b = R.dropout_survival(shuffled, group="modality")
    pd.testing.assert_frame_equal(a.curve, b.curve)
    assert a.logrank["statistic"].iloc[0] == pytest.approx(b.logrank["statistic"].iloc[0])


def test_los_from_dates_and_exclusions():
    ep = pd.DataFrame(
        {
            "admit_date": ["2025-01-01", "2025-01-01", "2025-01-05", None],
            "discharge_date": ["2025-01-11", "2025-01-21", None, None],
            "discharge_status": ["dropped_out", "completed", "ongoing", "completed"],
        }
    )
    res = R.dropout_survival(ep, group=None, as_of="2025-01-25")
    assert res.curve["time"].tolist() == [10.0, 20.0]
    assert res.table["n"].iloc[0] == 3
    assert any("1 episode(s)" in n for n in res.notes)


def test_survival_to_frame(km_data):
    res = R.dropout_survival(km_data)
    assert res.to_frame().equals(res.table)
    assert res.to_frame("curve").equals(res.curve)
    assert "<table" in res._repr_html_()
    with pytest.raises(ConfigError, match="'which' parameter"):
        res.to_frame("x")


def test_attendance():
    ep = pd.DataFrame(
        {
            "los_days": [10, 20, 30, 40],
            "discharge_status": ["completed"] * 4,
            "format": ["a", "a", "b", "b"],
            "sessions_attended": [8, 6, 10, 3],
            "sessions_scheduled": [10, 12, 10, 6],
        }
    )
    att = R.dropout_survival(ep).attendance.set_index("group")
    assert att.loc["a", "attendance_rate"] == pytest.approx((0.8 + 0.5) / 2)
    assert att.loc["a", "pooled_rate"] == pytest.approx(14 / 22)
    assert att.loc["b", "attendance_rate"] == pytest.approx((1.0 + 0.5) / 2)


def test_no_dropouts_and_all_censored():
    ep = pd.DataFrame(
        {
            "los_days": [5, 9, 12, 20],
            "discharge_status": ["completed"] * 3 + ["ongoing"],
            "format": ["a", "a", "b", "b"],
        }
    )
    res = R.dropout_survival(ep)
    assert (res.curve["estimate"] == 1).all()
    assert res.table["median_dropout"].isna().all()
    assert np.isnan(res.logrank["statistic"].iloc[0])
    # length of stay: the ongoing episode is censored at 20 days
    los = res.los_curve.loc[res.los_curve["group"] == "b"]
    assert los["estimate"].tolist() == [0.5, 0.5]


def test_survival_errors(km_data):
    with pytest.raises(ConfigError, match="'transfers' parameter"):
        R.dropout_survival(km_data, transfers="drop")
    with pytest.raises(DataError, match=r"needs the column\(s\) \['cohort'\]"):
        R.dropout_survival(km_data, group="cohort")
    bad = km_data.assign(discharge_status="finished")
    with pytest.raises(DataError, match="finished"):
        R.dropout_survival(bad)
    with pytest.raises(ConfigError, match="'times' parameter"):
        R.dropout_survival(km_data, times=[-1, 7])
    with pytest.raises(DataError, match="length of stay"):
        R.dropout_survival(km_data.assign(los_days=np.nan))


# ----------------------------------------------------------------------------------------
# flow and follow-up response: hand counts
# ----------------------------------------------------------------------------------------
def _hand_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "episode_id": [f"e{i}" for i in range(1, 11)],
            "format": ["A"] * 5 + ["B"] * 5,
            "baseline": [15, 18, np.nan, 12, 20, 14, 16, 11, 17, 13],
            "n_in_treatment": [5, 1, 0, 3, 4, 6, 2, 3, 4, 2],
            "endpoint": [7, np.nan, np.nan, 10, 12, 5, np.nan, 4, 9, 8],
            "discharge_status": [
                "completed",
                "dropped_out",
                "dropped_out",
                "transferred",
                "ongoing",
                "completed",
                "administrative",
                "completed",
                None,
                None,
            ],
            "discharge_date": pd.to_datetime(
                [
                    "2025-01-01",
                    "2025-01-10",
                    "2025-02-01",
                    "2025-05-20",
                    None,
                    "2025-05-01",
                    "2025-03-01",
                    "2025-05-25",
                    "2025-04-01",
                    None,
                ]
            ),
            "followup_1m": [8, np.nan, np.nan, np.nan, np.nan, 6, np.nan, np.nan, 10, np.nan],
            "followup_3m": [9, np.nan, 12, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
        }
    )


# Hand counts. as_of = 2025-06-15; the 1m window closes 60 days and the 3m window 135 days
# after discharge: 1m closed if discharged <= 2025-04-16, 3m closed if discharged <= 2025-01-31.
HAND = {
    ("A", "baseline"): [4, 1],
    ("A", "in_treatment"): [3, 2],  # e1, e4, e5 (e2 has n_in_treatment 1, e3 no baseline)
    ("A", "discharge"): [1, 2, 1, 0, 1, 0],
    ("A", "endpoint"): [2, 2, 1],  # scored e1, e4; not e2, e3; e5 ongoing
    ("A", "followup_1m"): [1, 2, 1, 1],  # e1; e2, e3; e4 (05-20) open; e5
    ("A", "followup_3m"): [1, 1, 2, 1],  # e1; e2; e3 (02-01, early responder), e4 open; e5
    ("B", "baseline"): [5, 0],
    ("B", "in_treatment"): [5, 0],
    ("B", "discharge"): [2, 0, 0, 1, 0, 2],  # e9, e10 status unknown
    ("B", "endpoint"): [3, 1, 1],  # e6, e8, e9 (date, no status); e7; e10 no date
    ("B", "followup_1m"): [1, 1, 2, 1],  # e9 (04-01); e7 (03-01); e6 (05-01), e8 open; e10
    ("B", "followup_3m"): [0, 0, 4, 1],  # e6, e7, e8, e9 open; e10
}


def test_flow_hand_counts_with_as_of():
    res = R.retention(_hand_frame(), windows=("1m", "3m"), as_of="2025-06-15", tests=False)
    flow = res.flow
    for (grp, stage), counts in HAND.items():
        got = flow.loc[(flow["group"] == grp) & (flow["stage"] == stage)].sort_values("box_order")
        assert got["n"].tolist() == counts, (grp, stage)
    fu = res.followup.set_index(["group", "window"])
    assert fu.loc[("A", "1m"), ["n_eligible", "n_responded"]].tolist() == [3, 1]
    assert fu.loc[("A", "3m"), ["n_eligible", "n_responded"]].tolist() == [2, 1]
    assert fu.loc[("B", "1m"), ["n_eligible", "n_responded"]].tolist() == [2, 1]
    assert fu.loc[("B", "3m"), ["n_eligible", "n_responded"]].tolist() == [0, 0]
    assert np.isnan(fu.loc[("B", "3m"), "estimate"]) and np.isnan(fu.loc[("B", "3m"), "ci_low"])
    assert fu.loc[("(all)", "1m"), ["n_eligible", "n_responded"]].tolist() == [5, 2]
    # Wilson by hand for 1 of 3 (z = 1.959964): (p + z²/2n ± z√(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    z, n, p = 1.959963984540054, 3, 1 / 3
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    row = fu.loc[("A", "1m")]
    assert row["estimate"] == pytest.approx(1 / 3)
    assert row["ci_low"] == pytest.approx(centre - half, abs=SUMS)
    assert row["ci_high"] == pytest.approx(centre + half, abs=SUMS)
    assert row["ci_low"] == pytest.approx(0.0614919, abs=1e-6)


def test_window_days_match_episode_rules():
    episodes = pytest.importorskip("iop_outcomes._episodes")
    rules = episodes.EpisodeRules()
    assert {k: v[1] for k, v in rules.followup_windows.items()} == R.WINDOW_DAYS


def test_flow_without_as_of_all_discharged_eligible():
    res = R.retention(_hand_frame(), windows=("1m",), tests=False)
    got = res.flow.loc[(res.flow["group"] == "A") & (res.flow["stage"] == "followup_1m"), "n"]
    assert got.tolist() == [1, 3, 0, 1]
    assert "all discharged" in res.followup["denominator"].iloc[0]


def test_flow_by_none_and_missing_group_labels():
    df = _hand_frame()
    df.loc[0, "format"] = None
    res = R.retention(df, windows=("1m",), tests=False)
    assert "(missing)" in res.groups
    one = R.retention(df, group=None, windows=("1m",), tests=False)
    assert one.groups == ("(all)",)
    assert one.flow.loc[one.flow["stage"] == "admitted", "n"].tolist() == [10]


def test_result_printing_and_tables():
    res = R.retention(_hand_frame(), windows=("1m", "3m"), as_of="2025-06-15")
    text = str(res)
    assert "Participant flow" in text and "Wilson" in text and "as_of = 2025-06-15" in text
    assert res._repr_html_().startswith("<div>") and "Wilson" in res._repr_html_()
    assert res.to_frame("followup").equals(res.followup)
    wide = res.flow_wide()
    assert list(wide.columns) == ["A", "B"]
    assert wide.loc[("discharge", "completed"), "B"] == 2
    with pytest.raises(ConfigError, match="'which' parameter"):
        res.to_frame("nope")


def test_public_name_is_callable():
    # iop.retention is the function re-exported by the private package iop_outcomes._retention
    assert iop.retention is R.retention
    assert isinstance(iop.retention(_hand_frame(), tests=False), R.RetentionResult)


def test_retention_errors():
    with pytest.raises(ConfigError, match="'windows' parameter"):
        R.retention(_hand_frame(), windows=("2m",))
    with pytest.raises(ConfigError, match="'ci_level' parameter"):
        R.retention(_hand_frame(), ci_level=95)
    with pytest.raises(ConfigError, match="'episodes' parameter of iop.retention must be a pandas"):
        R.retention([1, 2, 3])
    two = pd.concat(
        [_hand_frame().assign(instrument="PHQ-9"), _hand_frame().assign(instrument="GAD-7")]
    )
    with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
        R.retention(two)
    res = R.retention(two, instrument="phq9", tests=False)
    assert res.flow.loc[res.flow["stage"] == "admitted", "n"].sum() == 10


@st.composite
def _episode_frames(draw):
    n = draw(st.integers(1, 40))
    statuses = [*R.STATUSES, None]
    return pd.DataFrame(
        {
            "format": draw(
                st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n)
            ),
            "baseline": draw(
                st.lists(st.one_of(st.none(), st.integers(0, 27)), min_size=n, max_size=n)
            ),
            "endpoint": draw(
                st.lists(st.one_of(st.none(), st.integers(0, 27)), min_size=n, max_size=n)
            ),
            "n_in_treatment": draw(st.lists(st.integers(0, 8), min_size=n, max_size=n)),
            "discharge_status": draw(st.lists(st.sampled_from(statuses), min_size=n, max_size=n)),
            "discharge_date": pd.to_datetime(
                draw(
                    st.lists(
                        st.one_of(
                            st.none(),
                            st.dates(
                                pd.Timestamp("2024-01-01").date(), pd.Timestamp("2025-12-31").date()
                            ),
                        ),
                        min_size=n,
                        max_size=n,
                    )
                )
            ),
            "followup_1m": draw(
                st.lists(st.one_of(st.none(), st.integers(0, 27)), min_size=n, max_size=n)
            ),
            "followup_6m": draw(
                st.lists(st.one_of(st.none(), st.integers(0, 27)), min_size=n, max_size=n)
            ),
        }
    ).astype({"baseline": float, "endpoint": float, "followup_1m": float, "followup_6m": float})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=_episode_frames(), as_of=st.sampled_from([None, "2025-06-30"]))
def test_flow_invariant_every_episode_in_one_box(df, as_of):
    res = R.retention(df, windows=("1m", "6m"), as_of=as_of, tests=False)
    flow = res.flow
    sizes = df["format"].fillna("(missing)").value_counts()
    for (grp, _stage), sub in flow.groupby(["group", "stage"]):
        assert sub["n"].sum() == sizes[grp]
        assert (sub["n"] >= 0).all()
    # per-episode check: each episode's box code is exactly one valid box per stage
    codes = flow_codes(
        df.reset_index(drop=True),
        status_codes(df.reset_index(drop=True), "t"),
        ("1m", "6m"),
        None if as_of is None else pd.Timestamp(as_of),
    )
    for stage, c in codes.items():
        nbox = len(R.FLOW_BOXES.get(stage, R.FOLLOWUP_BOXES))
        assert c.shape == (len(df),) and ((c >= 0) & (c < nbox)).all()
    fu = res.followup
    assert (fu["n_responded"] <= fu["n_eligible"]).all()
    assert (fu["n_eligible"] <= fu["n_admitted"]).all()


# ----------------------------------------------------------------------------------------
# comparisons between formats and attrition against R
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models_data():
    return pd.read_csv(REF / "models_data.csv")


def test_response_tests_match_r(models_data):
    res = R.retention(models_data, windows=("3m",))
    t = res.tests
    chi = t.loc[t["test"] == "Pearson chi-square"].iloc[0]
    ref = pd.read_csv(REF / "resp_chisq.csv").iloc[0]
    assert chi["statistic"] == pytest.approx(ref["statistic"], rel=SUMS)
    assert chi["pvalue"] == pytest.approx(ref["pvalue"], rel=1e-9)
    assert chi["df"] == ref["df"] and chi["n_used"] == ref["n"]
    glm = pd.read_csv(REF / "resp_glm.csv").iloc[1:]  # drop the intercept
    ors = t.loc[t["test"] == "logistic odds ratio"]
    assert ors["term"].tolist() == [
        "format[in_person] vs hybrid",
        "format[virtual] vs hybrid",
        "baseline",
        "age",
    ]
    # odds ratios agree to ~1e-12; R's glm stops at a deviance tolerance of 1e-8, so its
    # standard errors (hence CIs and p-values) agree to ~1e-7 relative
    for c in ("estimate", "ci_low", "ci_high", "pvalue"):
        _close(ors[c], glm[c], 1e-6)
    assert (ors["n_used"] == glm["n_used"].to_numpy()).all()


def test_attrition_matches_r(models_data):
    a = R.attrition(models_data, covariates=("baseline", "age", "gender_identity", "format"))
    tab = a.table
    welch = pd.read_csv(REF / "attr_welch.csv")
    for _, r in welch.iterrows():
        row = tab.loc[tab["variable"] == r["variable"]].iloc[0]
        assert row["statistic"] == pytest.approx(r["statistic"], rel=SUMS)
        assert row["df"] == pytest.approx(r["df"], rel=SUMS)
        assert row["pvalue"] == pytest.approx(r["pvalue"], rel=1e-9)
    chi = pd.read_csv(REF / "attr_chisq.csv")
    for _, r in chi.iterrows():
        row = tab.loc[(tab["variable"] == r["variable"]) & (tab["test"] != "")].iloc[0]
        assert row["statistic"] == pytest.approx(r["statistic"], rel=SUMS)
        assert row["pvalue"] == pytest.approx(r["pvalue"], rel=1e-9)
    glm = pd.read_csv(REF / "attr_glm.csv")
    m = a.model
    assert m["term"].tolist() == [
        "(intercept)",
        "baseline",
        "age",
        "gender_identity[man]",
        "gender_identity[nonbinary]",
        "format[hybrid]",
        "format[virtual]",
    ]
    for c in ("estimate", "ci_low", "ci_high", "pvalue"):
        _close(m[c], glm[c], 1e-6)
    assert "gender_identity=woman" in str(a) and "format=in_person" in str(a)


def test_smd_by_hand():
    ep = pd.DataFrame(
        {
            "baseline": [10, 12, 14, 15, 19, 20],
            "gender_identity": ["woman", "woman", "man", "woman", "man", "man"],
            "discharge_status": ["completed"] * 6,
            "followup_3m": [5, 6, 7, None, None, None],
        }
    )
    a = R.attrition(ep, model=False).table.set_index(["variable", "level"])
    # retained 10,12,14: mean 12, var 4; lost 15,19,20: mean 18, var 7 → (12-18)/√((4+7)/2)
    assert a.loc[("baseline", ""), "smd"] == pytest.approx(-6 / math.sqrt(5.5))
    # woman: 2/3 retained vs 1/3 lost → (1/3)/√((2/9 + 2/9)/2) = 1/√2
    assert a.loc[("gender_identity", "woman"), "smd"] == pytest.approx(1 / math.sqrt(2))
    assert a.loc[("gender_identity", "man"), "smd"] == pytest.approx(-1 / math.sqrt(2))
    with pytest.raises(DataError, match="nothing to compare"):
        R.attrition(ep.assign(followup_3m=1.0))


# ----------------------------------------------------------------------------------------
# durability
# ----------------------------------------------------------------------------------------
def test_durability_by_hand():
    ep = pd.DataFrame(
        {
            "baseline": [18, 16, 20, 15, 22],
            "endpoint": [8, 12, 6, 14, 9],
            "followup_3m": [9, 11, 15, 13, np.nan],
            "followup_6m": [np.nan, 10, 9, 16, 17],
        }
    )
    d = R.durability(ep, instrument="PHQ-9").to_frame().set_index(["window", "measure"])
    # 3m: changes 1, -1, 9, -1 → mean 2
    assert d.loc[("3m", "change_from_endpoint"), "estimate"] == pytest.approx(2.0)
    assert d.loc[("3m", "change_from_endpoint"), "n"] == 4
    sd = np.std([1, -1, 9, -1], ddof=1)
    assert d.loc[("3m", "change_from_endpoint"), "sd"] == pytest.approx(sd)
    # reliable improvement (>= 6) at endpoint: e1 (10), e3 (14) [e5 has no 3m]; at 3m:
    # e1 18-9 = 9 kept, e3 20-15 = 5 lost → 1 of 2
    assert d.loc[("3m", "kept_reliable_improvement"), ["n", "count"]].tolist() == [2, 1]
    # not a case at endpoint (< 10): e1 (8), e3 (6); at 3m e3 = 15 ≥ 10 → relapse 1 of 2
    assert d.loc[("3m", "relapse"), ["n", "count"]].tolist() == [2, 1]
    # 6m: endpoint non-cases e3 (6→9), e5 (9→17) → 1 of 2; kept RI: e3 20-9=11, e5 22-17=5
    assert d.loc[("6m", "relapse"), ["n", "count"]].tolist() == [2, 1]
    assert d.loc[("6m", "kept_reliable_improvement"), ["n", "count"]].tolist() == [2, 1]
    res = R.durability(ep, instrument="PHQ-9")
    assert "6" in str(res) and "reliable_change=6" in str(res)
    with pytest.raises(ConfigError, match="'instrument' parameter"):
        R.durability(ep)


def test_durability_by_group():
    ep = pd.DataFrame(
        {
            "baseline": [18, 16, 20, 15],
            "endpoint": [8, 12, 6, 14],
            "followup_1m": [9, 11, 15, 13],
            "format": ["a", "a", "b", "b"],
            "instrument": "PHQ-9",
        }
    )
    d = R.durability(ep, by="format").to_frame()
    ch = d.loc[d["measure"] == "change_from_endpoint"].set_index("group")
    assert ch.loc["a", "estimate"] == pytest.approx(0.0)
    assert ch.loc["b", "estimate"] == pytest.approx(4.0)


# ----------------------------------------------------------------------------------------
# assessment rows → episode table (the lead's episodes module)
# ----------------------------------------------------------------------------------------
def test_accepts_assessment_rows():
    episodes = pytest.importorskip("iop_outcomes._episodes")
    pytest.importorskip("iop_outcomes.io._load")
    rows = (
        importlib.import_module("iop_outcomes.io._load")
        .load(iop.synth.generate(n_episodes=120, seed=7).data)
        .data
    )
    ep = episodes.episodes(rows, instrument="PHQ-9")
    for fn in (R.dropout_survival, R.retention):
        from_rows = fn(rows, instrument="PHQ-9")
        direct = fn(ep, instrument="PHQ-9")
        pd.testing.assert_frame_equal(from_rows.to_frame(), direct.to_frame())
    # the instrument rule: rows of two instruments need instrument=... (no silent choice)
    for fn in (R.retention, R.dropout_survival, R.attrition, R.durability):
        with pytest.raises(ConfigError, match="holds 2 instruments"):
            fn(rows)
    res = R.retention(rows, instrument="PHQ-9", tests=False)
    assert res.params["instrument"] == "PHQ-9"
    assert res.flow.loc[res.flow["stage"] == "admitted", "n"].sum() == ep["episode_id"].nunique()
    a = R.attrition(rows, instrument="PHQ-9", covariates=("baseline", "format"))
    assert (
        a.params["n_retained"] + a.params["n_lost"] == (ep["discharge_status"] != "ongoing").sum()
    )
    d = R.durability(rows, instrument="PHQ-9").to_frame()
    both = (ep["endpoint"].notna() & ep["followup_1m"].notna()).sum()
    assert (
        d.loc[(d["window"] == "1m") & (d["measure"] == "change_from_endpoint"), "n"].item() == both
    )
    # the episode table's endpoint is the last score after baseline: scored → measured after
    f = res.flow.groupby(["stage", "box"])["n"].sum()
    assert (
        f[("in_treatment", "measured after baseline")]
        >= (ep["endpoint"].notna() & ep["baseline"].notna()).sum()
    )


# ----------------------------------------------------------------------------------------
# plots (structure; Agg backend)
# ----------------------------------------------------------------------------------------
def test_plot_flow_structure():
    import matplotlib.pyplot as plt

    from iop_outcomes.plots.retention import plot_flow

    res = R.retention(_hand_frame(), windows=("1m", "3m"), as_of="2025-06-15", tests=False)
    ax = res.plot_flow()
    texts = [t.get_text() for t in ax.texts]
    assert "A" in texts and "B" in texts
    assert texts.count("Admitted\nn = 5") == 2
    assert any(t.startswith("Completed: 1 (20%)\nDropped out: 2 (40%)") for t in texts)
    assert any("Follow-up 1m: responded\nn = 1 = 33% of 3 eligible" == t for t in texts)
    assert any("window still open: 2" in t for t in texts)
    _, ax2 = plt.subplots()
    assert plot_flow(res, ax=ax2) is ax2
    with pytest.raises(
        ConfigError, match="'result' parameter of iop.plots.plot_flow must be a Ret"
    ):
        plot_flow(_hand_frame())  # plots read results; they never run the analysis
    with pytest.raises(TypeError):
        plot_flow(res, ax2)  # ax is keyword-only
    plt.close("all")


def test_plot_km_and_followup_structure(km_data):
    import matplotlib.pyplot as plt

    from iop_outcomes.plots.retention import plot_followup_response, plot_km

    res = R.dropout_survival(km_data, times=[0, 14, 28])
    ax = res.plot()
    labels = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert labels == ["hybrid", "in_person", "virtual"]
    texts = [t.get_text() for t in ax.texts]
    assert "At risk" in texts and "60" in texts and "12" in texts  # numbers at risk at day 0
    assert list(ax.get_xticks()) == [0, 14, 28]
    ax = plot_km(R.dropout_survival(km_data, transfers="competing"), curve="dropout")
    assert "Aalen" in ax.get_title()
    ax = plot_km(res, curve="los")
    assert "Length of stay" in ax.get_title()
    with pytest.raises(ConfigError, match="'curve' parameter"):
        plot_km(res, curve="x")
    fu = R.retention(_hand_frame(), windows=("1m", "3m"), tests=False)
    ax = plot_followup_response(fu)
    assert len(ax.patches) == 4  # 2 windows × 2 groups
    # without as_of: A 1m 1/4, A 3m 2/4, B 1m 2/4, B 3m 0/4 (hand counts above)
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx([0.0, 25.0, 50.0, 50.0])
    plt.close("all")


# ----------------------------------------------------------------------------------------
# the issue-13 vocabulary: group/reference, episodes first, one instrument rule, old names
# ----------------------------------------------------------------------------------------
def test_reference_level_odds_ratios_match_r_by_identity(models_data):
    # R's fit has hybrid as the reference; relevelling to in_person gives, by the
    # invariance of the logistic model to the dummy coding, OR(h vs i) = 1 / OR(i vs h) and
    # OR(v vs i) = OR(v vs h) / OR(i vs h); covariate odds ratios do not change
    glm = pd.read_csv(REF / "resp_glm.csv").iloc[1:].reset_index(drop=True)
    or_ih, or_vh = glm["estimate"].iloc[0], glm["estimate"].iloc[1]
    res = R.retention(models_data, windows=("3m",), reference="in_person")
    ors = res.tests.loc[res.tests["test"] == "logistic odds ratio"]
    assert ors["term"].tolist() == [
        "format[hybrid] vs in_person",
        "format[virtual] vs in_person",
        "baseline",
        "age",
    ]
    _close(ors["estimate"], [1 / or_ih, or_vh / or_ih, *glm["estimate"].iloc[2:]], 1e-6)
    assert res.groups[0] == "in_person" and res.params["reference"] == "in_person"
    chi = res.tests.loc[res.tests["test"] == "Pearson chi-square", "statistic"].item()
    ref = pd.read_csv(REF / "resp_chisq.csv").iloc[0]
    assert chi == pytest.approx(ref["statistic"], rel=SUMS)  # omnibus: reference-free


def test_survival_reference_orders_groups_only(km_data):
    a = R.dropout_survival(km_data, group="format")
    b = R.dropout_survival(km_data, group="format", reference="virtual")
    assert a.groups == ("hybrid", "in_person", "virtual")
    assert b.groups == ("virtual", "hybrid", "in_person")
    assert b.table["group"].tolist() == ["virtual", "hybrid", "in_person"]
    assert b.logrank["statistic"].iloc[0] == pytest.approx(a.logrank["statistic"].iloc[0])
    pd.testing.assert_frame_equal(
        a.curve.loc[a.curve["group"] == "virtual"].reset_index(drop=True),
        b.curve.loc[b.curve["group"] == "virtual"].reset_index(drop=True),
    )


def test_reference_errors(km_data):
    with pytest.raises(ConfigError, match=r"'reference' parameter of iop.dropout_survival must"):
        R.dropout_survival(km_data, group="format", reference="telehealth")
    with pytest.raises(ConfigError, match="needs group="):
        R.retention(_hand_frame(), group=None, reference="A")
    with pytest.raises(DataError, match=r"\['cohort'\]"):
        R.durability(_hand_frame().assign(instrument="PHQ-9"), by="cohort")


@pytest.mark.parametrize(
    ("fn", "old", "new"),
    [
        ("retention", "by", "group"),
        ("dropout_survival", "by", "group"),
        ("retention", "data", "episodes"),
        ("dropout_survival", "data", "episodes"),
        ("attrition", "data", "episodes"),
        ("durability", "data", "episodes"),
    ],
)
def test_old_keywords_raise_naming_the_new_one(fn, old, new):
    with pytest.raises(ConfigError, match=f"no parameter '{old}'; it is now called '{new}'"):
        getattr(iop, fn)(**{old: _hand_frame()} if old == "data" else {old: "format"})


def test_instrument_rule_on_two_instrument_episode_table():
    two = pd.concat(
        [_hand_frame().assign(instrument="PHQ-9"), _hand_frame().assign(instrument="GAD-7")]
    )
    for fn in (iop.retention, iop.dropout_survival, iop.attrition, iop.durability):
        with pytest.raises(ConfigError, match="instrument=None asks for exactly one"):
            fn(two)
    one = iop.dropout_survival(two.assign(los_days=10), instrument="GAD-7")
    assert one.table["n"].sum() == 8  # e1-e10 less e9, e10 (no discharge status)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ci_level": "0.95"}, "'ci_level' parameter of iop.retention must be a float"),
        ({"tests": "yes"}, "'tests' parameter of iop.retention must be True or False"),
        ({"as_of": "not a date"}, "'as_of' parameter of iop.retention must be a date"),
        ({"windows": "1m"}, "'windows' parameter of iop.retention must be"),
        ({"group": 3}, "'group' parameter of iop.retention must be"),
    ],
)
def test_retention_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        iop.retention(_hand_frame(), **kwargs)


def test_plots_take_results_only(km_data):
    from iop_outcomes.plots.retention import plot_followup_response, plot_km

    flow = R.retention(_hand_frame(), tests=False, windows=("1m",))
    with pytest.raises(ConfigError, match="must be a SurvivalResult"):
        plot_km(flow)
    with pytest.raises(ConfigError, match="must be a RetentionResult"):
        plot_followup_response(R.dropout_survival(km_data))
    with pytest.raises(ConfigError, match="'include_all' parameter"):
        plot_followup_response(flow, include_all="no")
