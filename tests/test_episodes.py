"""Episode construction: window rules worked by hand on small constructed data."""

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._episodes import EpisodeRules, assessment_roles
from iop_outcomes.exceptions import ConfigError, DataError

ADMIT = pd.Timestamp("2025-03-03")
DC = pd.Timestamp("2025-04-14")  # day 42


def rows(ep, days, totals, *, patient=None, admit=ADMIT, discharge=DC, instrument="PHQ-9", **extra):
    n = len(days)
    return pd.DataFrame(
        {
            "patient_id": patient or ep.replace("E", "P"),
            "episode_id": ep,
            "instrument": instrument,
            "assessment_date": [admit + pd.Timedelta(days=d) for d in days],
            "total": np.asarray(totals, dtype=float),
            "admit_date": admit,
            "discharge_date": discharge,
            **{k: [v] * n for k, v in extra.items()},
        }
    )


def test_baseline_endpoint_followups_by_hand():
    # days: -3 (baseline, nearest admission), 7, 21, 42 (discharge), then 33, 95, 200 days after discharge
    d = rows(
        "E1",
        [-3, 7, 21, 42, 42 + 33, 42 + 95, 42 + 200],
        [18, 15, 12, 9, 10, 11, 13],
        format="virtual",
        site="North",
    )
    ep = iop.episodes(d)
    r = ep.iloc[0]
    assert (r["baseline"], r["endpoint"], r["change"]) == (18, 9, -9)
    assert r["baseline_date"] == ADMIT - pd.Timedelta(days=3) and r["endpoint_date"] == DC
    assert (r["followup_1m"], r["followup_3m"], r["followup_6m"]) == (10, 11, 13)
    assert np.isnan(r["followup_12m"])
    assert r["n_in_treatment"] == 4 and r["n_scores"] == 7 and r["pair_status"] == "paired"
    assert r["format"] == "virtual" and r["site"] == "North" and r["los_days"] == 42
    assert assessment_roles(d)["role"].tolist() == [
        "baseline",
        "treatment",
        "treatment",
        "endpoint",
        "followup_1m",
        "followup_3m",
        "followup_6m",
    ]


def test_baseline_window_edges_and_ties():
    # -14 and +7 are inside; -15 and +8 are not; a tie (-2 and +2) goes to the earlier score
    assert iop.episodes(rows("E1", [-14, 20], [20, 10]))["baseline"].iloc[0] == 20
    assert iop.episodes(rows("E1", [7, 20], [20, 10]))["baseline"].iloc[0] == 20
    assert np.isnan(iop.episodes(rows("E1", [-15, 20], [20, 10]))["baseline"].iloc[0])
    assert np.isnan(iop.episodes(rows("E1", [8, 20], [20, 10]))["baseline"].iloc[0])
    assert iop.episodes(rows("E1", [-2, 2, 20], [21, 19, 10]))["baseline"].iloc[0] == 21
    assert iop.episodes(rows("E1", [-5, 1, 20], [21, 19, 10]))["baseline"].iloc[0] == 19


def test_episode_without_baseline_is_kept_and_reported():
    d = rows("E1", [20, 30], [14, 10])
    ep = iop.episodes(d)
    assert ep["pair_status"].tolist() == ["no_baseline"] and np.isnan(ep["change"].iloc[0])
    assert assessment_roles(d)["role"].tolist() == ["no_baseline", "no_baseline"]


def test_endpoint_rules_last_in_treatment_vs_discharge_only():
    # dropout: last score day 20, discharge recorded day 30: no score within 7 days of discharge
    d = rows("E1", [0, 10, 20], [20, 16, 14], discharge=ADMIT + pd.Timedelta(days=30))
    assert iop.episodes(d)["endpoint"].iloc[0] == 14
    only = iop.episodes(d, rules={"endpoint": "discharge_only"})
    assert np.isnan(only["endpoint"].iloc[0]) and only["pair_status"].iloc[0] == "no_endpoint"
    # a score 7 days after discharge still counts (grace); 8 days does not
    assert iop.episodes(rows("E1", [0, 49], [20, 8]))["endpoint"].iloc[0] == 8
    late = iop.episodes(rows("E1", [0, 20, 50], [20, 12, 8]))
    assert late["endpoint"].iloc[0] == 12
    # discharge window: 3 days before to 7 days after the recorded discharge
    only = {"endpoint": "discharge_only"}
    dc30 = ADMIT + pd.Timedelta(days=30)
    for day, inside in [(27, True), (26, False), (37, True)]:
        got = iop.episodes(rows("E1", [0, 10, day], [20, 16, 14], discharge=dc30), rules=only)
        assert bool(got["endpoint"].iloc[0] == 14) is inside, day
    with pytest.raises(ConfigError, match="'endpoint' parameter of EpisodeRules"):
        EpisodeRules(endpoint="best")


def test_followup_window_edges():
    base = [0, 42]
    for after, col in [
        (14, "followup_1m"),
        (60, "followup_1m"),
        (61, "followup_3m"),
        (135, "followup_3m"),
        (136, "followup_6m"),
        (270, "followup_6m"),
        (271, "followup_12m"),
        (500, "followup_12m"),
    ]:
        ep = iop.episodes(rows("E1", [*base, 42 + after], [20, 10, 12]))
        assert ep[col].iloc[0] == 12, (after, col)
    ep = iop.episodes(rows("E1", [*base, 42 + 13], [20, 10, 12]))
    assert ep[[f"followup_{m}" for m in ("1m", "3m", "6m", "12m")]].isna().all(axis=None)


def test_nearest_followup_wins():
    ep = iop.episodes(rows("E1", [0, 42, 42 + 20, 42 + 31, 42 + 55], [20, 10, 11, 12, 13]))
    assert ep["followup_1m"].iloc[0] == 12


def test_several_episodes_per_patient_and_instruments():
    a = rows("E1", [0, 30], [20, 10], patient="P1")
    b = rows(
        "E2",
        [0, 30],
        [16, 6],
        patient="P1",
        admit=pd.Timestamp("2025-09-01"),
        discharge=pd.Timestamp("2025-10-06"),
    )
    g = rows("E1", [0, 30], [15, 9], patient="P1", instrument="GAD-7")
    ep = iop.episodes(pd.concat([a, b, g]), instrument=["PHQ-9", "GAD-7"])
    assert (
        ep[["episode_id", "instrument", "change"]].values.tolist()
        == [
            ["E1", "PHQ-9", -10],
            ["E2", "PHQ-9", -10],
            ["E1", "GAD-7", -6],
            ["E2", "GAD-7", np.nan],
        ]
        or ep.loc[3, "pair_status"] == "no_scores"
    )
    assert (
        ep.loc[(ep["episode_id"] == "E2") & (ep["instrument"] == "GAD-7"), "pair_status"].item()
        == "no_scores"
    )
    assert (ep["patient_id"] == "P1").all()


def test_timepoint_labels_without_dates():
    d = pd.DataFrame(
        {
            "patient_id": "p",
            "episode_id": "e",
            "instrument": "PHQ-9",
            "timepoint": ["intake", "week_2", "week_4", "discharge", "followup_3m"],
            "total": [19.0, 15, 12, 10, 11],
        }
    )
    ep = iop.episodes(d)
    assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0], ep["followup_3m"].iloc[0]) == (
        19,
        10,
        11,
    )
    only = iop.episodes(d.iloc[:3], rules={"endpoint": "discharge_only"})
    assert np.isnan(only["endpoint"].iloc[0])


def test_without_admit_date_first_assessment_is_admission():
    d = rows("E1", [0, 14, 28], [18, 13, 9]).drop(columns=["admit_date", "discharge_date"])
    ep = iop.episodes(d)
    assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0]) == (18, 9)


def test_invariant_to_row_order_and_loaded_data():
    sim = iop.synth.generate(n_episodes=120, seed=8)
    data = iop.load(sim.data).data
    a = iop.episodes(data, instrument="PHQ-9")
    b = iop.episodes(data.sample(frac=1, random_state=1), instrument="PHQ-9")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 120 and a["episode_id"].is_unique
    paired = a[a["pair_status"] == "paired"]
    assert (paired["change"] == paired["endpoint"] - paired["baseline"]).all()
    assert "Baseline: the score nearest admission" in a.attrs["rules_text"]


def test_errors_are_clear():
    with pytest.raises(DataError, match=r"column\(s\) \['total'\] in the assessments"):
        iop.episodes(pd.DataFrame({"episode_id": ["e"], "instrument": ["PHQ-9"]}))
    with pytest.raises(DataError, match=r"no rows for instrument\(s\) \['GAD-7'\]"):
        iop.episodes(rows("E1", [0, 30], [20, 10]), instrument="GAD-7")


def test_instrument_rule_two_instruments_need_a_choice():
    # issue 13: instrument=None means exactly one instrument; no silent choice of PHQ-9
    both = pd.concat(
        [rows("E1", [0, 30], [20, 10]), rows("E1", [0, 30], [15, 9], instrument="GAD-7")]
    )
    for func in (iop.episodes, iop.assessment_roles):
        with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
            func(both)
    ep = iop.episodes(both, instrument=["GAD-7", "PHQ-9"])
    assert ep[["instrument", "change"]].values.tolist() == [["GAD-7", -6], ["PHQ-9", -10]]
    one = iop.episodes(both, instrument="PHQ-9")
    assert one["instrument"].tolist() == ["PHQ-9"] and one["change"].tolist() == [-10]
    roles = iop.assessment_roles(both, instrument=["PHQ-9", "GAD-7"])
    assert sorted(roles["role"]) == ["baseline", "baseline", "endpoint", "endpoint"]


def test_old_keyword_names_raise():
    d = rows("E1", [0, 30], [20, 10])
    with pytest.raises(ConfigError, match="no parameter 'data'; it is now called 'assessments'"):
        iop.episodes(data=d)
    with pytest.raises(ConfigError, match="now called 'assessments'"):
        iop.assessment_roles(data=d)
    with pytest.raises(ConfigError, match="'assessments' parameter of iop.episodes"):
        iop.episodes([1, 2])


def test_discharge_only_prefers_the_discharge_label():
    # a dropout's last weekly score 2 days before discharge is not a discharge assessment when
    # the data carry timepoint labels; a labelled discharge score is, whatever its distance
    d = rows("E1", [0, 7, 14], [20, 16, 14], discharge=ADMIT + pd.Timedelta(days=16))
    d["timepoint"] = ["intake", "week_1", "week_2"]
    only = {"endpoint": "discharge_only"}
    assert np.isnan(iop.episodes(d, rules=only)["endpoint"].iloc[0])
    d.loc[2, "timepoint"] = "discharge"
    assert iop.episodes(d, rules=only)["endpoint"].iloc[0] == 14
    # without a discharge_date the label alone decides
    assert iop.episodes(d.drop(columns="discharge_date"), rules=only)["endpoint"].iloc[0] == 14


def test_episodes_without_dates_use_labels_beside_dated_ones():
    df = pd.DataFrame(
        {
            "patient_id": ["A", "A", "B", "B"],
            "episode_id": ["A", "A", "B", "B"],
            "instrument": "PHQ-9",
            "timepoint": ["intake", "discharge"] * 2,
            "assessment_date": pd.to_datetime(["2025-01-02", "2025-02-06", None, None]),
            "total": [20.0, 9, 18, 8],
        }
    )
    ep = iop.episodes(df).set_index("episode_id")
    assert ep.loc["A", "change"] == -11 and ep.loc["B", "change"] == -10
    d2 = df.copy()
    d2.loc[1, "assessment_date"] = pd.NaT  # an undated score inside a dated episode is reported
    assert assessment_roles(d2)["role"].tolist()[:2] == ["baseline", "undated"]


# ---------------------------------------------------------------- label rules (issue #16)
PUBLISHED = {
    "baseline": "label:intake",
    "endpoint": "label:discharge else last_in_treatment",
    "followup": "label",
}


def labelled(ep, days, totals, timepoints, **kw):
    d = rows(ep, days, totals, **kw)
    d["timepoint"] = timepoints
    return d


def test_defaults_are_the_date_windows_and_their_text_is_unchanged():
    assert EpisodeRules() == EpisodeRules(
        baseline="window", endpoint="last_in_treatment", followup="window"
    )
    assert not EpisodeRules().uses_labels
    assert EpisodeRules().describe() == (
        "Baseline: the score nearest admission from 14 days before to 7 days after it. "
        "Endpoint (last_in_treatment): the last score after baseline and no later than 7 days "
        "after discharge. Follow-ups: 1m: nearest to day 30 within days 14-60 after discharge; "
        "3m: nearest to day 91 within days 61-135 after discharge; 6m: nearest to day 182 within "
        "days 136-270 after discharge; 12m: nearest to day 365 within days 271-500 after "
        "discharge."
    )
    sim = iop.synth.generate(n_episodes=80, seed=5)
    data = iop.load(sim.data).data
    explicit = {"baseline": "window", "endpoint": "last_in_treatment", "followup": "window"}
    pd.testing.assert_frame_equal(
        iop.episodes(data, instrument="PHQ-9"),
        iop.episodes(data, instrument="PHQ-9", rules=explicit),
    )


def test_missing_intake_gives_no_baseline_unless_a_fallback_is_stated():
    # intake not done: the week-1 score (day 7) is inside the default baseline window
    d = labelled("E1", [7, 14, 42], [17, 14, 9], ["week_1", "week_2", "discharge"])
    assert iop.episodes(d)["baseline"].iloc[0] == 17  # the date rule takes week 1
    ep = iop.episodes(d, rules=PUBLISHED)
    assert np.isnan(ep["baseline"].iloc[0]) and ep["pair_status"].iloc[0] == "no_baseline"
    assert assessment_roles(d, rules=PUBLISHED)["role"].tolist() == ["no_baseline"] * 3
    fallback = {**PUBLISHED, "baseline": "label:intake else window"}
    assert iop.episodes(d, rules=fallback)[["baseline", "endpoint"]].iloc[0].tolist() == [17, 9]


def test_discharge_label_wins_over_a_weekly_score_on_the_same_day_whatever_the_row_order():
    d = labelled(
        "E1", [0, 21, 42, 42], [20, 14, 11, 9], ["intake", "week_3", "week_6", "discharge"]
    )
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [0, 3, 1, 2], [2, 0, 3, 1]):
        shuffled = d.iloc[order].reset_index(drop=True)
        ep = iop.episodes(shuffled, rules=PUBLISHED)
        assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0], ep["change"].iloc[0]) == (
            20,
            9,
            -11,
        )
        roles = assessment_roles(shuffled, rules=PUBLISHED).set_index("timepoint")["role"]
        assert roles["discharge"] == "endpoint" and roles["week_6"] == "treatment"


def test_endpoint_falls_back_only_when_the_rule_says_else():
    # a dropout: no discharge assessment; the last weekly score is day 14
    d = labelled("E1", [0, 7, 14], [20, 16, 14], ["intake", "week_1", "week_2"])
    strict = iop.episodes(d, rules={**PUBLISHED, "endpoint": "label:discharge"})
    assert np.isnan(strict["endpoint"].iloc[0]) and strict["pair_status"].iloc[0] == "no_endpoint"
    assert iop.episodes(d, rules=PUBLISHED)["endpoint"].iloc[0] == 14
    # the fallback is the date rule: a score 8+ days after discharge is not in treatment
    late = labelled("E1", [0, 7, 50], [20, 16, 12], ["intake", "week_1", "week_7"])
    assert iop.episodes(late, rules=PUBLISHED)["endpoint"].iloc[0] == 16


def test_followup_label_is_picked_whatever_its_date():
    # the 3-month follow-up was answered early, 50 days after discharge (the 1m window by date)
    d = labelled("E1", [0, 42, 42 + 50], [20, 9, 11], ["intake", "discharge", "followup_3m"])
    by_date = iop.episodes(d)
    assert by_date["followup_1m"].iloc[0] == 11 and np.isnan(by_date["followup_3m"].iloc[0])
    ep = iop.episodes(d, rules=PUBLISHED)
    assert ep["followup_3m"].iloc[0] == 11 and np.isnan(ep["followup_1m"].iloc[0])
    assert ep["followup_3m_date"].iloc[0] == DC + pd.Timedelta(days=50)
    # 'label else window': an unlabelled score fills a follow-up only when no label does, and
    # never a row labelled for another follow-up
    d2 = pd.concat([d, rows("E1", [42 + 30], [10])], ignore_index=True)
    mixed = iop.episodes(d2, rules={**PUBLISHED, "followup": "label else window"})
    assert (mixed["followup_1m"].iloc[0], mixed["followup_3m"].iloc[0]) == (10, 11)
    only_label = iop.episodes(d2, rules=PUBLISHED)
    assert np.isnan(only_label["followup_1m"].iloc[0])
    assert np.isnan(
        iop.episodes(d, rules={**PUBLISHED, "followup": "label else window"})["followup_1m"].iloc[0]
    )


def test_same_label_twice_earliest_baseline_latest_endpoint_lower_score_on_ties():
    d = labelled(
        "E1",
        [-5, 0, 7, 40, 42, 42 + 90, 42 + 95],
        [22, 20, 16, 10, 8, 12, 13],
        ["intake", "intake", "week_1", "discharge", "discharge", "followup_3m", "followup_3m"],
    )
    ep = iop.episodes(d, rules=PUBLISHED)
    assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0], ep["followup_3m"].iloc[0]) == (
        22,
        8,
        12,
    )
    # same-day duplicates: the lower score, in any row order
    tie = labelled("E1", [0, 0, 42], [21, 19, 9], ["intake", "intake", "discharge"])
    for order in ([0, 1, 2], [1, 0, 2], [2, 1, 0]):
        got = iop.episodes(tie.iloc[order], rules=PUBLISHED)["baseline"].iloc[0]
        assert got == 19, order


def test_label_baseline_ignores_the_date_window_but_endpoint_must_follow_it():
    # an intake 20 days before admission is outside the -14..+7 window: the label still decides
    d = labelled("E1", [-20, 7, 42], [21, 15, 9], ["intake", "week_1", "discharge"])
    assert iop.episodes(d)["baseline"].iloc[0] == 15
    ep = iop.episodes(d, rules=PUBLISHED)
    assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0]) == (21, 9)
    assert assessment_roles(d, rules=PUBLISHED)["role"].iloc[0] == "baseline"
    # a discharge-labelled score dated 20 days after discharge is still the endpoint, not 1m
    late = labelled("E1", [0, 21, 62], [20, 12, 9], ["intake", "week_3", "discharge"])
    ep = iop.episodes(late, rules=PUBLISHED)
    assert ep["endpoint"].iloc[0] == 9 and np.isnan(ep["followup_1m"].iloc[0])
    # a 'discharge' dated before the intake is no endpoint (change needs before and after)
    odd = labelled("E1", [5, 0], [20, 9], ["intake", "discharge"])
    strict = {**PUBLISHED, "endpoint": "label:discharge"}
    assert np.isnan(iop.episodes(odd, rules=strict)["endpoint"].iloc[0])


def test_labels_match_as_the_loader_reads_them():
    r = EpisodeRules(baseline="label: Baseline", endpoint="LABEL:post else last_in_treatment")
    assert (r.baseline, r.endpoint) == ("label:intake", "label:discharge else last_in_treatment")
    d = labelled("E1", [0, 7, 42, 42 + 90], [20, 15, 9, 11], ["Intake", "Week 1", "DC", "FU 3m"])
    ep = iop.episodes(d, rules=PUBLISHED)
    assert (ep["baseline"].iloc[0], ep["endpoint"].iloc[0], ep["followup_3m"].iloc[0]) == (
        20,
        9,
        11,
    )


def test_label_rules_without_dates():
    d = pd.DataFrame(
        {
            "episode_id": ["a"] * 4 + ["b"] * 3,
            "instrument": "PHQ-9",
            "timepoint": [
                "week_1",
                "week_2",
                "discharge",
                "followup_3m",
                "intake",
                "week_1",
                "week_2",
            ],
            "total": [17.0, 14, 9, 11, 20, 16, 14],
        }
    )
    ep = iop.episodes(d, rules=PUBLISHED).set_index("episode_id")
    assert np.isnan(ep.loc["a", "baseline"]) and ep.loc["a", "followup_3m"] == 11
    assert (ep.loc["b", "baseline"], ep.loc["b", "endpoint"]) == (20, 14)  # else last weekly
    strict = iop.episodes(d, rules={**PUBLISHED, "endpoint": "label:discharge"})
    assert strict.set_index("episode_id")["pair_status"].tolist() == ["no_baseline", "no_endpoint"]


def test_label_rules_invariant_to_row_order_and_agree_with_dates_on_complete_data():
    sim = iop.synth.generate(n_episodes=150, seed=11)
    data = iop.load(sim.data).data
    a = iop.episodes(data, instrument="PHQ-9", rules=PUBLISHED)
    b = iop.episodes(data.sample(frac=1, random_state=2), instrument="PHQ-9", rules=PUBLISHED)
    pd.testing.assert_frame_equal(a, b)
    # every synthetic episode has an intake inside the window and a discharge score that is
    # its last in-treatment score, so baseline and endpoint agree with the date rules
    dates = iop.episodes(data, instrument="PHQ-9")
    pd.testing.assert_series_equal(a["baseline"], dates["baseline"])
    pd.testing.assert_series_equal(a["endpoint"], dates["endpoint"])
    assert a.attrs["rules"]["baseline"] == "label:intake"
    assert a.attrs["rules_text"].startswith("Baseline: the score labelled 'intake'")


def test_describe_states_the_published_definition():
    assert EpisodeRules(**PUBLISHED).describe() == (
        "Baseline: the score labelled 'intake' (the earliest if several), whatever its date; "
        "none when the episode has no such score. Endpoint (label:discharge else "
        "last_in_treatment): the score labelled 'discharge' and dated after the baseline (the "
        "latest if several), whatever its date; for an episode without one, the last score "
        "after baseline and no later than 7 days after discharge. Follow-ups: the scores "
        "labelled 'followup_1m', 'followup_3m', 'followup_6m', 'followup_12m' (the earliest of "
        "each if several), whatever their dates, other than the baseline and endpoint scores; "
        "none when the episode has no such score."
    )


def test_label_rule_errors_are_clear():
    with pytest.raises(ConfigError) as e:
        EpisodeRules(baseline="label:intak")
    assert str(e.value) == (
        "The 'baseline' parameter of EpisodeRules must name an in-treatment timepoint label "
        "(intake, week_N or discharge, or a synonym the loader reads, such as 'baseline' or "
        "'post'). Got 'label:intak' instead."
    )
    with pytest.raises(ConfigError, match="'endpoint' parameter of EpisodeRules must name"):
        EpisodeRules(endpoint="label:followup_3m")
    with pytest.raises(ConfigError) as e:
        EpisodeRules(followup="label:followup_3m")
    assert str(e.value) == (
        "The 'followup' parameter of EpisodeRules must be 'window', or a label rule such as "
        "'label' or 'label else window'. Got 'label:followup_3m' instead."
    )
    with pytest.raises(ConfigError, match="'baseline' parameter of EpisodeRules must be 'window'"):
        EpisodeRules(baseline="intake")
    with pytest.raises(ConfigError, match=r"follow-ups \['2m'\]"):
        EpisodeRules(
            followup="label", followup_targets={"2m": 60}, followup_windows={"2m": (30, 90)}
        )
    with pytest.raises(DataError, match="no 'timepoint' column"):
        iop.episodes(rows("E1", [0, 30], [20, 10]), rules=PUBLISHED)


@pytest.mark.parametrize("rules", [None, {"endpoint": "label:discharge else last_in_treatment"}])
def test_last_in_treatment_same_day_tie_goes_to_discharge_then_lower_score(rules):
    d = labelled(
        "E1",
        [0, 21, 42, 42, 42],
        [20, 14, 11, 9, 10],
        ["intake", "week_3", "week_6", "discharge", None],
    )
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [0, 3, 1, 4, 2], [2, 0, 4, 3, 1]):
        shuffled = d.iloc[order].reset_index(drop=True)
        ep = iop.episodes(shuffled, rules=rules)
        assert (ep["endpoint"].iloc[0], ep["endpoint_date"].iloc[0]) == (9, DC)
        roles = assessment_roles(shuffled, rules=rules).set_index("total")["role"]
        assert roles[9] == "endpoint" and roles[11] == "treatment" and roles[10] == "treatment"
    # no discharge label on the last day: the lower score, in any order
    plain = d.assign(timepoint=["intake", "week_3", "week_6", None, None])
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 4, 0, 2, 3]):
        ep = iop.episodes(plain.iloc[order].reset_index(drop=True))
        assert ep["endpoint"].iloc[0] == 9


def test_last_in_treatment_tie_break_by_week_without_dates():
    d = pd.DataFrame(
        {
            "patient_id": "p",
            "episode_id": "e",
            "instrument": "PHQ-9",
            "timepoint": ["intake", "week_4", "week_4"],
            "total": [19.0, 12, 11],
        }
    )
    for order in ([0, 1, 2], [0, 2, 1], [2, 1, 0]):
        assert iop.episodes(d.iloc[order]).loc[0, "endpoint"] == 11


def test_endpoint_without_ties_is_unchanged():
    d = rows("E1", [0, 14, 28, 42], [18, 13, 15, 9])
    assert iop.episodes(d)["endpoint"].iloc[0] == 9
    assert iop.episodes(d.iloc[:3])["endpoint"].iloc[0] == 15


def test_same_day_ties_never_depend_on_row_order():
    """Episodes with same-day scores at every role (baseline, endpoint with and without a
    discharge label, follow-up), shuffled many times: the episode table never changes."""
    parts = [
        # two scores on the baseline day, a weekly and a discharge score on the discharge day
        labelled(
            "E1", [0, 0, 21, 42, 42], [20, 22, 14, 11, 9], [None, None, None, "week_6", "discharge"]
        ),
        # the discharge-day tie without labels, and two scores on a follow-up day
        labelled("E2", [-2, 21, 42, 42, 42 + 30, 42 + 30], [18, 13, 12, 10, 11, 14], [None] * 6),
        # a discharge label with the higher score still wins the day
        labelled("E3", [1, 42, 42], [16, 7, 12], ["intake", "week_6", "discharge"]),
    ]
    d = pd.concat(parts, ignore_index=True)
    first = iop.episodes(d)
    assert first.set_index("episode_id")["endpoint"].to_dict() == {"E1": 9, "E2": 10, "E3": 12}
    assert first.set_index("episode_id")["baseline"].to_dict() == {"E1": 20, "E2": 18, "E3": 16}
    assert first.set_index("episode_id")["followup_1m"].to_dict()["E2"] == 11
    rng = np.random.default_rng(10)
    for _ in range(25):
        shuffled = d.iloc[rng.permutation(len(d))].reset_index(drop=True)
        pd.testing.assert_frame_equal(iop.episodes(shuffled), first)


def test_episodes_and_roles_is_episodes_and_assessment_roles_from_one_pass():
    from iop_outcomes._episodes import episodes_and_roles

    d = pd.concat(
        [
            rows("E2", [-3, 7, 42, 42 + 95], [18, 15, 9, 11], site="North"),
            rows("E1", [0, 30], [20, 10], site="South"),
            rows("E1", [0, 30], [15, 9], instrument="GAD-7", site="South"),
        ]
    )
    r = EpisodeRules(endpoint="discharge_only")
    ep, roles = episodes_and_roles(d, instrument=["PHQ-9", "GAD-7"], rules=r)
    pd.testing.assert_frame_equal(ep, iop.episodes(d, instrument=["PHQ-9", "GAD-7"], rules=r))
    full = assessment_roles(d, instrument=["PHQ-9", "GAD-7"], rules=r)
    assert "site" in full and "site" not in roles  # cohort columns are not copied per row
    pd.testing.assert_frame_equal(roles, full[roles.columns])
    assert ep.attrs == iop.episodes(d, instrument=["PHQ-9", "GAD-7"], rules=r).attrs


def test_keys_are_matched_by_value_whatever_their_type_and_order():
    # the picks work on factorised codes: integer, categorical and string ids give the same
    # table, ordered by id (numeric order for integers), every instrument × episode row kept
    d = pd.concat(
        [
            rows("E10", [0, 14, 42], [20, 14, 8], site="North"),
            rows("E9", [-2, 42, 42 + 30], [17, 12, 13], site="South"),
            rows("E9", [0, 40], [12, 7], instrument="GAD-7", site="South"),
        ]
    ).sample(frac=1, random_state=3)
    by_str = iop.episodes(d, instrument=["PHQ-9", "GAD-7"])
    assert by_str["episode_id"].tolist() == ["E10", "E9", "E10", "E9"]  # string order
    # by hand: E10 20 → 8 (day 42); E9 17 (day -2) → 12 (day 42); GAD-7: E10 none, E9 12 → 7
    np.testing.assert_array_equal(by_str["change"], [-12.0, -5.0, np.nan, -5.0])
    as_int = d.assign(episode_id=d["episode_id"].str[1:].astype(int))
    by_int = iop.episodes(as_int, instrument=["PHQ-9", "GAD-7"])
    assert by_int["episode_id"].tolist() == [9, 10, 9, 10]  # numeric order
    back = by_int.assign(episode_id="E" + by_int["episode_id"].astype(str))
    want = by_str.set_index(["instrument", "episode_id"])
    got = back.set_index(["instrument", "episode_id"]).loc[want.index]
    pd.testing.assert_frame_equal(got, want, check_index_type=False)
    as_cat = d.assign(episode_id=d["episode_id"].astype("category"))
    by_cat = iop.episodes(as_cat, instrument=["PHQ-9", "GAD-7"])
    assert by_cat["episode_id"].astype(str).tolist() == ["E10", "E9", "E10", "E9"]
    pd.testing.assert_frame_equal(
        by_cat.drop(columns="episode_id"), by_str.drop(columns="episode_id")
    )
    gad_e10 = by_str[(by_str["instrument"] == "GAD-7") & (by_str["episode_id"] == "E10")]
    assert gad_e10["pair_status"].item() == "no_scores"


@pytest.mark.parametrize(
    "rules",
    [
        None,
        {"endpoint": "label:discharge else last_in_treatment", "baseline": "label:intake"},
        {"endpoint": "discharge_only"},
    ],
    ids=["defaults", "labels", "discharge_only"],
)
def test_episodes_with_discharge_equal_the_separate_passes(rules):
    # the report's one pass: the study's episodes, and the primary instrument's episodes and
    # roles under the discharge endpoint, as episodes()/assessment_roles() give them apart.
    # Dated episodes (a dropout without a discharge score, a completer, a follow-up), an
    # undated episode (labels) and an undated score in a dated episode.
    from iop_outcomes._episodes import discharge_rules, episodes_with_discharge

    dated = pd.concat(
        [
            rows("E1", [0, 14, 28, 41, 41 + 60], [20, 15, 12, 9, 10], site="South"),
            rows("E2", [-2, 10, 20], [18, 16, 14], discharge=ADMIT + pd.Timedelta(days=40)),
            rows("E1", [0, 41], [15, 9], instrument="GAD-7", site="South"),
            rows("E4", [1, 8, 15, 40], [16, 13, 11, 8]),
        ]
    )
    dated["timepoint"] = None
    dated.loc[dated["total"].eq(9) & dated["episode_id"].eq("E1"), "timepoint"] = "discharge"
    dated.loc[dated.index[0], "timepoint"] = "intake"
    undated = pd.DataFrame(
        {
            "patient_id": "P3",
            "episode_id": "E3",
            "instrument": "PHQ-9",
            "timepoint": ["intake", "week_2", "discharge"],
            "total": [21.0, 17, 12],
        }
    )
    d = pd.concat([dated, undated], ignore_index=True)
    d.loc[d["episode_id"].eq("E4") & d["total"].eq(11), "assessment_date"] = pd.NaT
    both = ["PHQ-9", "GAD-7"]
    ep, dis, roles = episodes_with_discharge(d, instrument=both, rules=rules, discharge="PHQ-9")
    pd.testing.assert_frame_equal(ep, iop.episodes(d, instrument=both, rules=rules))
    r_dis = discharge_rules(rules)
    pd.testing.assert_frame_equal(dis, iop.episodes(d, instrument="PHQ-9", rules=r_dis))
    assert dis.attrs == iop.episodes(d, instrument="PHQ-9", rules=r_dis).attrs
    apart = assessment_roles(d, instrument="PHQ-9", rules=r_dis)
    pd.testing.assert_frame_equal(roles, apart[["episode_id", "week", "total", "role"]])
    # the dropout E2 has no discharge score; its last in-treatment score is 14
    study_end = ep.set_index(["episode_id", "instrument"]).loc[("E2", "PHQ-9"), "endpoint"]
    assert study_end == 14 or r_dis == EpisodeRules(**(rules or {}))
    assert np.isnan(dis.set_index("episode_id").loc["E2", "endpoint"])


def test_episodes_with_discharge_label_rule_whose_discharge_rule_is_by_date():
    # found by a review: "label:discharge else last_in_treatment" reads labels, its discharge
    # rule (discharge_only) does not; a labelled baseline is set aside from the follow-ups
    # only under the first, so the discharge roles take a pass of their own and equal it
    from iop_outcomes._episodes import discharge_rules, episodes_with_discharge

    d = pd.DataFrame(
        {
            "episode_id": "E",
            "patient_id": "P",
            "instrument": "PHQ-9",
            "assessment_date": pd.to_datetime(["2025-05-27", "2025-06-01", "2025-06-20"]),
            "discharge_date": pd.Timestamp("2025-04-22"),
            "timepoint": ["intake", "discharge", None],
            "total": [5.0, 0.0, 20.0],
        }
    )
    r = {"endpoint": "label:discharge else last_in_treatment"}
    ep, dis, roles = episodes_with_discharge(d, instrument="PHQ-9", rules=r, discharge="PHQ-9")
    r_dis = discharge_rules(r)
    pd.testing.assert_frame_equal(ep, iop.episodes(d, instrument="PHQ-9", rules=r))
    pd.testing.assert_frame_equal(dis, iop.episodes(d, instrument="PHQ-9", rules=r_dis))
    apart = assessment_roles(d, instrument="PHQ-9", rules=r_dis)
    pd.testing.assert_frame_equal(roles, apart[["episode_id", "week", "total", "role"]])
