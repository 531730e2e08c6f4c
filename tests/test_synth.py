"""Synthetic cohorts: determinism, contract, and calibration targets (shared/DOMAIN.md)."""

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, IOPWarning


@pytest.fixture(scope="module")
def big():
    sim = iop.synth.generate(n_episodes=3000, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        data = iop.load(sim.data).data
    return sim, data, iop.episodes(data, instrument="PHQ-9"), iop.episodes(data, instrument="GAD-7")


def test_deterministic_and_seed_sensitive():
    a = iop.synth.generate(n_episodes=150, seed=9)
    b = iop.synth.generate(n_episodes=150, seed=9)
    c = iop.synth.generate(n_episodes=150, seed=10)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data.equals(c.data)
    assert a.data.to_csv(index=False) == b.data.to_csv(index=False)


def test_output_is_in_the_contract_and_loads_cleanly():
    sim = iop.synth.generate(n_episodes=200, seed=1)
    res = iop.load(sim.data)
    c = res.counts()
    assert c["quarantined"] / res.n_read < 0.01  # only rare rows with > max_missing items
    assert set(res.data["format"].astype(str)) == {"in_person", "virtual", "hybrid"}
    assert set(sim.truth.episodes["episode_id"]) == set(sim.data["episode_id"])


def test_parameters_validated():
    with pytest.raises(ConfigError, match="'dropout' parameter"):
        iop.synth.generate(n_episodes=10, dropout="sometimes")
    with pytest.raises(ConfigError, match="format_mix"):
        iop.synth.generate(n_episodes=10, format_mix={"in_person": 0.5, "virtual": 0.2})


def test_baseline_severity_calibrated(big):
    _, _, phq, gad = big
    # DOMAIN.md: PHQ-9 baseline about 15-17 (SD 5-6), GAD-7 about 13 (SD 5). n = 3000: SE of mean ~0.1
    assert 15.4 < phq["baseline"].mean() < 16.6 and 5.0 < phq["baseline"].std() < 6.5
    assert 12.4 < gad["baseline"].mean() < 13.6 and 4.5 < gad["baseline"].std() < 5.8


def test_pre_post_effect_and_correlation_in_published_range(big):
    _, _, phq, _ = big
    p = phq.dropna(subset=["baseline", "endpoint"])
    d_z = -p["change"].mean() / p["change"].std()
    r = p["baseline"].corr(p["endpoint"])
    assert 0.6 < d_z < 1.5  # IOP/PHP pre-post d roughly 0.6-1.5
    assert 0.2 < r < 0.75


def test_completion_and_virtual_not_worse(big):
    sim, *_ = big
    e = sim.truth.episodes
    done = (e["discharge_status"] == "completed").groupby(e["format"]).mean()
    assert 0.60 < (e["discharge_status"] == "completed").mean() < 0.78
    assert done["virtual"] > done["in_person"] - 0.02


def test_followup_response_falls_and_scores_drift_up(big):
    _, _, phq, _ = big
    resp = [phq[f"followup_{m}"].notna().mean() for m in ("1m", "3m", "6m")]
    assert 0.38 < resp[0] < 0.58 and resp[0] > resp[1] > resp[2] and resp[2] < 0.34
    drift = [(phq[f"followup_{m}"] - phq["endpoint"]).mean() for m in ("1m", "6m")]
    assert drift[1] > drift[0] > -0.5 and drift[1] > 0.3


def test_weekly_curve_decelerates(big):
    _, data, _, _ = big
    ph = data[(data["instrument"] == "PHQ-9") & data["timepoint"].str.match(r"^(intake|week_\d+)$")]
    m = ph.groupby("week")["total"].mean()
    early, late = m[0] - m[2], m[4] - m[6]
    assert early > 2 * late > 0


def test_items_are_realistic(big):
    sim, data, _, _ = big
    items = (
        data.loc[
            (data["instrument"] == "PHQ-9") & (data["timepoint"] == "intake"),
            [f"item_{i}" for i in range(1, 10)],
        ]
        .astype(float)
        .dropna()
    )
    k = 9
    alpha = k / (k - 1) * (1 - items.var().sum() / items.sum(axis=1).var())
    assert 0.75 < alpha < 0.92  # Kroenke 2001 reports 0.86-0.89
    miss = (
        sim.data.loc[sim.data["instrument"] == "PHQ-9", [f"item_{i}" for i in range(1, 9)]]
        .isna()
        .mean()
        .mean()
    )
    assert 0.003 < miss < 0.03
    assert sim.data.loc[sim.data["instrument"] == "PHQ-9", "item_9"].notna().all()  # kept raw
    intake9 = data.loc[(data["instrument"] == "PHQ-9") & (data["timepoint"] == "intake"), "item_9"]
    assert (
        0.2 < (intake9 > 0).mean() < 0.4
    )  # the least endorsed item: a minority positive at intake


def test_truth_records_format_effects_and_dropout_mechanism():
    sim = iop.synth.generate(
        n_episodes=400,
        seed=2,
        dropout="mnar",
        true_change={"in_person": -7.0, "virtual": -5.0, "hybrid": -6.0},
    )
    t = sim.truth
    assert t.params.dropout == "mnar" and t.format_change["virtual"] == -5.0
    assert abs(sum(t.site_effects.values())) < 1e-9  # centred site effects
    s = t.sample_format_change()
    assert s["in_person"] < s["virtual"]


def test_mar_dropout_depends_on_observed_severity():
    sim = iop.synth.generate(n_episodes=4000, seed=3, dropout="mar", dropout_slope=1.0)
    e = sim.truth.episodes
    hi = e["true_phq_baseline"] > 18
    drop = e["discharge_status"] != "completed"
    assert drop[hi].mean() > drop[~hi].mean() + 0.05
    sim0 = iop.synth.generate(n_episodes=4000, seed=3, dropout="mcar")
    e0 = sim0.truth.episodes
    d0 = e0["discharge_status"] != "completed"
    assert (
        abs(d0[e0["true_phq_baseline"] > 18].mean() - d0[e0["true_phq_baseline"] <= 18].mean())
        < 0.05
    )


def test_readmissions_give_several_episodes_per_patient():
    sim = iop.synth.generate(n_episodes=1000, seed=4)
    per = sim.data.groupby("patient_id")["episode_id"].nunique()
    assert (per > 1).sum() > 10
    t = sim.truth.episodes.sort_values(["patient_id", "episode_id"])
    assert np.all(np.asarray(t.groupby("patient_id").size()) >= 1)


def test_demo_is_the_bundled_dataset():
    demo = iop.synth.demo()
    assert demo.data["episode_id"].nunique() == 1200
    assert set(demo.data["site"]) == {"North", "Central", "South"}


def test_messy_faults_are_what_the_log_says():
    sim = iop.synth.generate(n_episodes=200, seed=5, messy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = iop.load(sim.data)
    led = res.ledger
    log = sim.truth.messy
    rows = log["row"].to_numpy()
    disp = (
        pd.Series(led["disposition"].astype(str).to_numpy()[rows])
        .groupby(log["kind"].to_numpy())
        .agg(set)
    )
    for kind in (
        "instrument_unknown",
        "item_out_of_range",
        "item_not_numeric",
        "date_unparseable",
        "dates_swapped",
        "duplicate_exact_copy",
    ):
        assert disp[kind] == {"quarantined"}, kind
    # an unknown format label is set to missing; the row keeps its scores
    assert "accepted" not in disp["format_typo"], disp["format_typo"]
    # a spelling ('phq9') loads as is; a synonym (LOINC code) is a recorded repair - unless the same
    # row carries another injected fault (e.g. its episode's dates were swapped)
    probs = res.problems.assign(reason=res.problems["reason"].astype(str))
    for kind, text in (
        ("instrument_spelling", None),
        ("instrument_synonym", "'44261-6' read as 'PHQ-9'"),
    ):
        r = log.loc[log["kind"] == kind, "row"].to_numpy() + 1
        p = probs[probs["row"].isin(r) & probs["reason"].str.contains("instrument")]
        if text is None:
            assert p.empty
        else:
            assert len(p) == len(r) and p["reason"].str.contains(text, regex=False).all()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"n_episodes": 0},
            "The 'n_episodes' parameter of iop.synth.generate must be an int in the "
            "range [1, inf). Got 0 instead.",
        ),
        ({"n_episodes": "5"}, "must be an int in the range [1, inf). Got '5' instead."),
        (
            {"seed": -1},
            "The 'seed' parameter of iop.synth.generate must be an int in the range [0, inf)",
        ),
        ({"seed": 1.5}, "Got 1.5 instead."),
    ],
)
def test_generate_parameters_are_validated(kw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        iop.synth.generate(**kw)


def test_demo_truth_has_a_known_share_of_off_track_episodes():
    """Issue 14: the demo's truth marks its drawn non-responders, so alerts can be checked."""
    demo = iop.synth.demo()
    assert iop.synth.DEMO_PARAMS["off_track_share"] == 0.1
    t = demo.truth.episodes
    share = t["off_track"].mean()
    # binomial(1200, 0.1): SD of the share 0.0087; 4 SDs either side
    assert abs(share - 0.1) < 4 * (0.1 * 0.9 / len(t)) ** 0.5
    # drawn non-responders change far less than the rest (true change ~ N(+1, 2.5) vs N(-7, 5))
    change = t["true_phq_endpoint"] - t["true_phq_baseline"]
    assert change[t["off_track"]].mean() > change[~t["off_track"]].mean() + 4
    # the committed truth file carries the same column
    committed = pd.read_csv(Path(__file__).parents[1] / "data/demo/truth_episodes.csv")
    assert committed["off_track"].sum() == int(t["off_track"].sum())
