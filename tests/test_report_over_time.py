"""The report's "Outcomes over time" section (iop_outcomes/_report/sections/over_time.py)."""

from __future__ import annotations

import html
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._report.figures_over_time import _published
from iop_outcomes._report.sections.over_time import _choose_period

FAST = {
    "sensitivity": {"enabled": False},
    "trajectories": {"enabled": False},
}


def _data(keep) -> pd.DataFrame:
    """240 synthetic episodes (admitted 2024Q1 to 2025Q4) with the episodes whose admission
    date satisfies ``keep`` (a function of the dates)."""
    d = iop.synth.generate(n_episodes=240, seed=11).data
    return d[keep(pd.to_datetime(d["admit_date"])).to_numpy()].reset_index(drop=True)


def _report(data, **cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.report(data, config={**FAST, **cfg}, strict=True)


def _table(rep, key: str = "over_time_response"):
    found = [t for t in rep.tables if t.key == key]
    return found[0] if found else None


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float, np.integer, np.floating)) else np.nan


@pytest.fixture(scope="module")
def tiny():
    """Admissions over seven quarters, the last (2025Q3) holding one episode."""
    data = _data(lambda d: d < pd.Timestamp("2025-10-01"))
    return data, _report(data)


def _reference(data) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = iop.episodes(iop.load(data).data, instrument="PHQ-9")
        return iop.over_time(ep, outcome="response", instrument="PHQ-9").table


def test_choose_period():
    q = pd.Series(pd.date_range("2024-01-01", periods=4, freq="QS"))
    assert _choose_period(q)[0] == "quarter"
    m = pd.Series(pd.to_datetime(["2024-01-02", "2024-02-02", "2024-03-02"]))
    assert _choose_period(m) == (None, {"quarter": 1, "month": 3})


def test_section_rates_are_over_times(tiny):
    data, rep = tiny
    t = _table(rep)
    assert t is not None and "quarter of admission" in t.title
    ref = _reference(data)
    f = t.frame
    assert (
        f["period"].tolist()
        == ref["period"].tolist()
        == [f"{y}Q{q}" for y, q in [(2024, 1), (2024, 2), (2024, 3), (2024, 4), (2025, 1)]]
        + ["2025Q2", "2025Q3"]
    )
    est = np.array([_num(v) for v in f["rate"]])
    shown = np.isfinite(est)
    assert shown.sum() >= 4
    np.testing.assert_allclose(est[shown], ref["estimate"].to_numpy(dtype=float)[shown])
    for c in ("lcl", "ucl"):
        v = np.array([_num(x) for x in f[c]])
        ok = np.isfinite(v)
        np.testing.assert_allclose(v[ok], ref[c].to_numpy(dtype=float)[ok])
    # the periods' episodes are the rates table's response denominator
    rates = _table(rep, "rates_phq_9_format").frame
    r = rates[(rates["group"] == "Overall") & rates["measure"].str.startswith("response")]
    assert int(ref["n"].sum()) == int(r["n"].iloc[0])
    assert "over-time" in rep.html()


def _assert_not_recoverable(f: pd.DataFrame, col: str, total: float) -> None:
    """The periods' ``col`` add up to ``total`` (published in the rates table): a hidden small
    period must not come back by subtraction, alone or with other "<11" periods whose sum
    pins them (all 1, or all 10)."""
    vals = [_num(v) for v in f[col]]
    assert not any(1 <= v < 11 for v in vals if np.isfinite(v))  # nothing small is shown
    hidden = [v for v in f[col] if not np.isfinite(_num(v))]
    if not hidden:
        return
    rest = _num(total) - sum(v for v in vals if np.isfinite(v))
    assert len(hidden) >= 2
    if all(h == "<11" for h in hidden):
        assert rest not in (len(hidden), 10 * len(hidden))


def test_no_small_period_count_is_recoverable(tiny):
    data, rep = tiny
    f = _table(rep).frame
    ref = _reference(data)
    assert int(ref["n"].iloc[-1]) == 1  # the tiny quarter
    assert f["episodes"].iloc[-1] == "<11"
    rates = _table(rep, "rates_phq_9_format").frame
    r = rates[(rates["group"] == "Overall") & rates["measure"].str.startswith("response")]
    for col, total in (("episodes", r["n"].iloc[0]), ("count", r["k"].iloc[0])):
        _assert_not_recoverable(f, col, total)


def test_two_tiny_periods_are_not_pinned_by_their_sum():
    """Two quarters of one episode each, both "<11": their sum, 2, would say both are 1."""
    data = _data(lambda d: d.notna())
    ref = _reference(data)
    assert ref["n"].tolist()[-2:] == [1, 1]
    rep = _report(data)
    f = _table(rep).frame
    rates = _table(rep, "rates_phq_9_format").frame
    r = rates[(rates["group"] == "Overall") & rates["measure"].str.startswith("response")]
    for col, total in (("episodes", r["n"].iloc[0]), ("count", r["k"].iloc[0])):
        _assert_not_recoverable(f, col, total)


def test_figure_draws_only_what_the_table_publishes(tiny):
    data, rep = tiny
    t = _table(rep)
    ref = _reference(data)
    fig = [f for f in rep.figures if f.key == "over_time"][0]
    hidden = [i for i, v in enumerate(t.frame["rate"]) if not np.isfinite(_num(v))]
    assert hidden and "2025Q3" in fig.caption and "Not drawn" in fig.caption
    texts = [html.unescape(x) for x in re.findall(r"<!-- (.*?) -->", fig.svg, flags=re.S)]
    for i in hidden:
        n, k, p = int(ref["n"].iloc[i]), int(ref["observed"].iloc[i]), ref["estimate"].iloc[i]
        for text in texts:
            for s in {str(n), str(k), f"{p:.2f}", f"{p:.3f}", f"{100 * p:.1f}"}:
                assert not re.search(rf"(?<![\w.]){re.escape(s)}(?![\w.])", text), (s, text)
    # the drawn series: a gap wherever the table hides the rate
    res = iop.over_time(
        iop.episodes(iop.load(data).data, instrument="PHQ-9"),
        outcome="response",
        instrument="PHQ-9",
    )
    drawn, left_out = _published(t.frame, res)
    assert drawn["estimate"].isna().to_numpy()[hidden].all()
    assert not drawn["signal"].to_numpy()[hidden].any()
    assert set(left_out) == {t.frame["period"].iloc[i] for i in hidden}


def test_months_when_quarters_are_too_few():
    data = _data(lambda d: d < pd.Timestamp("2024-07-01"))  # two quarters, six months
    t = _table(_report(data))
    assert t is not None and "month of admission" in t.title
    assert t.frame["period"].tolist()[0] == "2024-01"


def test_absent_with_fewer_than_four_periods():
    data = _data(lambda d: d < pd.Timestamp("2024-04-01"))  # three months
    rep = _report(data)
    assert _table(rep) is None
    assert "No control chart: it needs admissions in at least 4" in rep.html()
    off = _report(data, over_time={"enabled": False})
    assert "over-time" not in off.html()


def test_config_outcome_checked():
    with pytest.raises(iop.ConfigError, match="over_time"):
        iop.report(_data(lambda d: d.notna()), config={"over_time": {"outcome": "change"}})
