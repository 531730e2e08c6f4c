"""Control charts over time (iop.over_time): p-chart against Montgomery's textbook example,
Laney p' on a hand-worked series, X-bar / individuals limits by hand, run rules on
constructed series."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._over_time import special_causes
from iop_outcomes.exceptions import ConfigError, DataError


def _dropout_series(counts, ns, start="2020-01-01", freq="MS") -> pd.DataFrame:
    """Episodes admitted on the first day of successive periods: counts[t] of ns[t] dropped out."""
    dates = pd.date_range(start, periods=len(counts), freq=freq)
    rows = []
    for d, k, n in zip(dates, counts, ns, strict=True):
        rows += [(d, "dropped_out")] * k + [(d, "completed")] * (n - k)
    return pd.DataFrame(rows, columns=["admit_date", "discharge_status"])


# Montgomery DC, Introduction to Statistical Quality Control (6th/7th ed.), Example 7.1 (frozen
# orange juice cans): 30 samples of n = 50, 347 nonconforming; p-bar = 0.2313,
# UCL = 0.4102, LCL = 0.0524 (printed to 4 places); samples 15 and 23 plot above the UCL.
MONTGOMERY_7_1 = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18]
MONTGOMERY_7_1 += [24, 15, 9, 12, 7, 13, 9, 6]


def test_p_chart_montgomery_example_7_1():
    ep = _dropout_series(MONTGOMERY_7_1, [50] * 30)
    r = iop.over_time(ep, period="month", outcome="dropout", chart="p")
    t = r.table
    assert sum(MONTGOMERY_7_1) == 347
    assert t["centre"].iloc[0] == pytest.approx(0.2313, abs=5e-5)
    assert t["ucl"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert t["lcl"].iloc[0] == pytest.approx(0.0524, abs=5e-5)
    outside = t.index[t["rules"].str.contains("outside")].tolist()
    assert [i + 1 for i in outside] == [15, 23]
    # dropout: lower is better, so points above the limit are concerns
    assert set(t.loc[outside, "direction"]) == {"concern"}


def test_laney_sigma_z_hand_worked():
    counts, ns = [20, 35, 18, 40, 25], [100, 120, 90, 110, 100]
    # p-bar = 138 / 520 = 0.265385; sigma_t = sqrt(p-bar (1 - p-bar) / n_t)
    pbar = 138 / 520
    z = [(k / n - pbar) / np.sqrt(pbar * (1 - pbar) / n) for k, n in zip(counts, ns, strict=True)]
    # z = -1.4808, 0.6521, -1.4048, 2.3338, -0.3484 (to 4 places)
    assert np.round(z, 4).tolist() == [-1.4808, 0.6521, -1.4048, 2.3338, -0.3484]
    mr = [abs(z[i] - z[i - 1]) for i in range(1, 5)]  # 2.1329 2.0569 3.7387 2.6823
    sigma_z = sum(mr) / 4 / 1.128  # Laney (2002): average moving range / 1.128 = 2.3517
    assert sigma_z == pytest.approx(2.3517, abs=1e-4)
    ep = _dropout_series(counts, ns, freq="QS")
    r = iop.over_time(ep, outcome="dropout", chart="laney")
    assert r.sigma_z == pytest.approx(sigma_z, rel=4e-4)  # d2 = 2/sqrt(pi) = 1.12838 exactly
    t = r.table
    sig = np.sqrt(pbar * (1 - pbar) / np.array(ns)) * r.sigma_z
    assert np.allclose(t["ucl"], pbar + 3 * sig)
    assert np.allclose(t["lcl"], np.clip(pbar - 3 * sig, 0, 1))  # sigma_z 2.35: floored at 0
    p = iop.over_time(ep, outcome="dropout", chart="p")
    assert p.sigma_z == pytest.approx(r.sigma_z)
    assert np.allclose(p.table["ucl"], pbar + 3 * np.sqrt(pbar * (1 - pbar) / np.array(ns)))


def test_xbar_and_individuals_by_hand():
    groups = {
        "2024-01-15": [-6, -4, -8, -2],
        "2024-04-15": [-5, -7, -3],
        "2024-07-15": [-9, -5, -6, -4, -6],
        "2024-10-15": [-3, -5],
        "2025-01-15": [-8, -6, -7],
    }
    rows = []
    for d, ch in groups.items():
        rows += [(pd.Timestamp(d), 15.0, 15.0 + c) for c in ch]
    ep = pd.DataFrame(rows, columns=["admit_date", "baseline", "endpoint"])
    r = iop.over_time(ep, outcome="change", instrument="PHQ-9")
    assert r.chart == "xbar"
    vals = [np.array(v, dtype=float) for v in groups.values()]
    grand = np.concatenate(vals).mean()
    sp = np.sqrt(sum((len(v) - 1) * v.var(ddof=1) for v in vals) / sum(len(v) - 1 for v in vals))
    n = np.array([len(v) for v in vals])
    t = r.table
    assert t["centre"].iloc[0] == pytest.approx(grand)
    assert np.allclose(t["ucl"], grand + 3 * sp / np.sqrt(n))
    assert np.allclose(t["estimate"], [v.mean() for v in vals])
    ind = iop.over_time(ep, outcome="change", instrument="PHQ-9", chart="individuals")
    means = np.array([v.mean() for v in vals])
    mrbar = np.abs(np.diff(means)).mean()
    assert np.allclose(ind.table["ucl"], means.mean() + 3 * mrbar / (2 / np.sqrt(np.pi)))


# ----------------------------------------------------------------------------- run rules
def test_shift_rule_needs_seven_nhs_eight_western_electric():
    six = [1, 1, 1, 1, 1, 1, -1, 1, -1]
    seven = [1, 1, 1, 1, 1, 1, 1, -1, 1]
    eight = [-1, -1, -1, -1, -1, -1, -1, -1, 1]
    assert not special_causes(six, 0.0, 1.0)["shift"].any()
    assert special_causes(seven, 0.0, 1.0)["shift"].tolist() == [True] * 7 + [False] * 2
    assert not special_causes(seven, 0.0, 1.0, rules="western-electric")["shift"].any()
    we = special_causes(eight, 0.0, 1.0, rules="western-electric")
    assert we["shift"].tolist() == [True] * 8 + [False]
    on_line = [1, 1, 1, 0, 1, 1, 1, 1]  # a point on the centre line breaks the run
    assert not special_causes(on_line, 0.0, 1.0)["shift"].any()


def test_trend_rule_seven_points():
    assert special_causes([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 0.3, 1.0)["trend"].all()
    six = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.4]
    assert not special_causes(six, 0.3, 1.0)["trend"].any()
    tie = [0, 0.1, 0.2, 0.2, 0.4, 0.5, 0.6, 0.7]  # equal successive values break a trend
    assert not special_causes(tie, 0.3, 1.0)["trend"].any()
    down = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.5]
    assert special_causes(down, 0.5, 1.0)["trend"].tolist() == [True] * 7 + [False]
    assert not special_causes(down, 0.5, 1.0, rules="western-electric")["trend"].any()


def test_two_of_three_and_four_of_five():
    s = special_causes([0, 2.5, 0.5, 2.2, 0, -2.5, 0, 2.1], 0.0, 1.0)
    assert s["two_of_three"].tolist() == [False, True, False, True] + [False] * 4
    opposite = special_causes([2.5, -2.5, 0.0], 0.0, 1.0)  # not on the same side
    assert not opposite["two_of_three"].any()
    w = special_causes([1.5, 1.2, 0.3, 1.1, 1.4, 0, 0], 0.0, 1.0, rules="western-electric")
    assert w["four_of_five"].tolist() == [True, True, False, True, True, False, False]
    assert not special_causes([1.5, 1.2, 0.3, 1.1, 1.4], 0.0, 1.0)["four_of_five"].any()
    # one short of each: a single point beyond 2 sigma in 3; 3 of 5 beyond 1 sigma
    assert not special_causes([0, 2.5, 0.5, 1.9, 0], 0.0, 1.0)["two_of_three"].any()
    three = special_causes([1.5, 1.2, 0.3, 0.9, 1.4], 0.0, 1.0, rules="western-electric")
    assert not three["four_of_five"].any()


def test_signals_on_a_constructed_program_series():
    # 8 quarters of 200 episodes, a rate near 0.40 and one quarter at 0.59: p-bar = 680/1600
    # = 0.425, sigma = sqrt(0.425 * 0.575 / 200) = 0.03496, UCL = 0.5299; no run of 7 on one
    # side, no 7-point trend, no 2 of 3 beyond 2 sigma (0.4949) other than the outside point
    counts = [80, 84, 76, 82, 118, 78, 83, 79]
    r = iop.over_time(_dropout_series(counts, [200] * 8, freq="QS"), outcome="dropout")
    t = r.table
    assert t["ucl"].iloc[0] == pytest.approx(0.425 + 3 * np.sqrt(0.425 * 0.575 / 200))
    assert t["signal"].tolist() == [False] * 4 + [True] + [False] * 3
    assert t["rules"].iloc[4] == "outside" and t["direction"].iloc[4] == "concern"


# ----------------------------------------------------------------------------- messages, plot
def test_needs_four_periods():
    ep = _dropout_series([3, 4, 5], [20, 20, 20], freq="QS")
    with pytest.raises(DataError, match=r"at least 4 quarters with episodes.*have 3"):
        iop.over_time(ep, outcome="dropout")


def test_gaps_and_bad_arguments():
    ep = _dropout_series([3, 4, 5, 4, 6], [20] * 5, freq="QS")
    ep = ep[ep["admit_date"] != ep["admit_date"].unique()[2]]
    r = iop.over_time(ep, outcome="dropout")
    assert len(r.table) == 5 and pd.isna(r.table["estimate"].iloc[2])
    assert any("without episodes" in n for n in r.notes)
    with pytest.raises(ConfigError, match="'chart' parameter of iop.over_time"):
        iop.over_time(ep, outcome="dropout", chart="xbar")
    with pytest.raises(ConfigError, match="'period' parameter of iop.over_time"):
        iop.over_time(ep, outcome="dropout", period="week")


def test_plot_structure():
    import matplotlib.pyplot as plt

    r = iop.over_time(_dropout_series(MONTGOMERY_7_1, [50] * 30), period="month", outcome="dropout")
    ax = r.plot()
    assert len(ax.get_xticklabels()) == 30
    marked = ax.collections[0].get_offsets()
    # samples 15 and 23 outside; 21-23 (0.40, 0.36, 0.48) are also 2 of 3 beyond 2 sigma
    assert marked[:, 0].tolist() == [14, 20, 21, 22]
    assert marked[:, 0].tolist() == np.flatnonzero(r.table["signal"]).tolist()
    plt.close("all")


def test_the_note_on_episodes_in_treatment_only_when_some_are():
    ep = _dropout_series([3, 4, 5, 4, 6], [20] * 5, freq="QS")  # every episode closed
    note = "may hold episodes still in treatment"
    assert not any(note in n for n in iop.over_time(ep, outcome="dropout").notes)
    ep.loc[ep.index[-1], "discharge_status"] = "ongoing"
    assert any(note in n for n in iop.over_time(ep, outcome="dropout").notes)


def test_roles_tell_the_report_what_each_column_counts():
    """A rate chart's n and events are counts (the non-events too); the rate, z and limits give
    them back; a mean-change chart's sum and mean are statistics of its n episodes."""
    from iop_outcomes._report.context import _role_args

    r = iop.over_time(_dropout_series([2, 3, 4, 5], [20] * 4), period="month", outcome="dropout")
    args = _role_args(r.roles, r.table.columns)
    assert args["counts"] == ["n", "observed"] and args["complements"] == {"observed": "n"}
    assert args["derived"]["estimate"] == ["n", "observed"]
    assert {c: args["derived"][c] for c in ("lcl", "ucl")} == {"lcl": ["n"], "ucl": ["n"]}
    dates = pd.date_range("2024-01-01", periods=4, freq="QS").repeat(5)
    ep = pd.DataFrame({"admit_date": dates, "baseline": 18.0, "endpoint": [9.0, 10.0] * 10})
    m = iop.over_time(ep, outcome="change", instrument="PHQ-9")
    margs = _role_args(m.roles, m.table.columns)
    assert margs["counts"] == ["n"] and margs["small_n"]["estimate"] == "n"


def test_instrument_rule_and_bad_parameters():
    """instrument=None on a PHQ-9 + GAD-7 table raises naming both and the joint list; the
    declared constraints give the template."""
    dates = pd.date_range("2024-01-01", periods=5, freq="QS").repeat(4)
    one = pd.DataFrame(
        {
            "episode_id": [f"E{i}" for i in range(len(dates))],
            "admit_date": dates,
            "baseline": 15.0,
            "endpoint": 8.0,
        }
    )
    both = pd.concat([one.assign(instrument="PHQ-9"), one.assign(instrument="GAD-7")])
    with pytest.raises(ConfigError, match=r"holds 2 instruments .*or a list of them"):
        iop.over_time(both, outcome="recovery")
    with pytest.raises(ConfigError, match=r"holds 2 instruments"):
        iop.over_time(both, outcome="change")
    with pytest.raises(ConfigError, match=r"The 'min_periods' parameter of iop.over_time"):
        iop.over_time(one, outcome="change", min_periods=1)
    with pytest.raises(ConfigError, match=r"The 'rules' parameter of iop.over_time must be one"):
        iop.over_time(one, outcome="change", rules="westgard")
