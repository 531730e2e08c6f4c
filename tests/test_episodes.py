"""Episode construction: window rules worked by hand on small constructed data."""

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.episodes import EpisodeRules, assessment_roles
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
    ep = iop.episodes(pd.concat([a, b, g]), instrument=None)
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
    a = iop.episodes(data)
    b = iop.episodes(data.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 120 and a["episode_id"].is_unique
    paired = a[a["pair_status"] == "paired"]
    assert (paired["change"] == paired["endpoint"] - paired["baseline"]).all()
    assert "Baseline: the score nearest admission" in a.attrs["rules_text"]


def test_errors_are_clear():
    with pytest.raises(DataError, match=r"lack column\(s\) \['total'\]"):
        iop.episodes(pd.DataFrame({"episode_id": ["e"], "instrument": ["PHQ-9"]}))
    with pytest.raises(DataError, match=r"No \['GAD-7'\] scores"):
        iop.episodes(rows("E1", [0, 30], [20, 10]), instrument="GAD-7")


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
