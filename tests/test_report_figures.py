"""The report's reader figures: Kaplan–Meier with numbers at risk, the Jacobson–Truax heat
map, the forest plot and the flow diagram — present, captioned, drawn from the published
numbers, and showing no number the tables hide.

Each figure is checked twice: through the matplotlib figure the report drew (recorded just
before it is written as SVG: positions, texts, lines) and through the SVG text nodes the
reader receives (matplotlib writes each text as glyph paths preceded by a comment holding the
text: ``<g id="text_3"> <!-- 1,200 -->``)."""

from __future__ import annotations

import html
import importlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._report.figures import min_cell

FAST = {
    "sensitivity": {"methods": ["completers"]},
    "trajectories": {"enabled": False},
}
NEW = ("participant_flow", "jacobson_truax_phq_9", "forest_phq_9", "dropout_km")
_context = importlib.import_module("iop_outcomes._report.context")


def _record(fig) -> dict:
    """What a figure shows: per axes its texts (x, y, text), lines, error bars, tick labels
    and whether its legend overlaps the axes."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        out.append(
            dict(
                texts=[(t.get_position()[0], t.get_position()[1], t.get_text()) for t in ax.texts],
                lines={ln.get_label(): ln.get_xydata().copy() for ln in ax.get_lines()},
                errorbars=[
                    c.lines[0].get_xydata().copy() for c in ax.containers if hasattr(c, "lines")
                ],
                yticklabels=[t.get_text() for t in ax.get_yticklabels()],
                ticks={t.get_text() for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]},
                legend_overlaps=(
                    leg is not None and leg.get_window_extent().overlaps(ax.get_window_extent())
                ),
            )
        )
    return {"axes": out}


def _build(sim, out, monkeypatch_ctx) -> tuple:
    drawn: list[dict] = []
    orig = _context.figure_to_svg

    def recording(fig):
        drawn.append(_record(fig))
        return orig(fig)

    monkeypatch_ctx.setattr(_context, "figure_to_svg", recording)
    rep = iop.report(sim, config=FAST, out=out, strict=True)
    monkeypatch_ctx.undo()
    return rep, {f.key: d for f, d in zip(rep.figures, drawn, strict=True)}


def _episodes(sim) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.episodes(iop.load(sim.data).data, instrument="PHQ-9")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo data (1,200 episodes), built with the fast configuration."""
    sim = iop.synth.demo()
    rep, drawn = _build(sim, tmp_path_factory.mktemp("fig_demo"), pytest.MonkeyPatch())
    return sim, rep, drawn


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """240 episodes: many cells of the flow and dropout tables hidden."""
    sim = iop.synth.generate(n_episodes=240, seed=11)
    rep, drawn = _build(sim, tmp_path_factory.mktemp("fig_small"), pytest.MonkeyPatch())
    return sim, rep, drawn


# a count: not part of "PHQ-9", "<11", "1-month", "90%" or a decimal
_NUMBER = re.compile(r"(?<![\d.<\w-])\d[\d,]*(?![\d.%]|-(?:month|week))")


def _svg_texts(svg: str) -> list[str]:
    """The text nodes of a matplotlib SVG written with ``svg.fonttype = "path"``: each line
    of a text is drawn as glyph paths after a comment holding it."""
    return [html.unescape(t) for t in re.findall(r"<!-- (.*?) -->", svg, flags=re.S)]


def _fig(rep, key):
    return next(f for f in rep.figures if f.key == key)


# --------------------------------------------------------------------------- presence
def test_each_figure_present_with_its_caption(demo):
    _, rep, _ = demo
    keys = [f.key for f in rep.figures]
    assert set(NEW) <= set(keys)
    html = rep.html()
    expect = {
        "dropout_km": [
            "not yet dropped out",
            "at least 11 episodes remain at risk",
            "11 more dropouts",
            "Censoring marks are not drawn",
            "read <11",
        ],
        "jacobson_truax_phq_9": [
            "cells of 4 × 4 score points",
            "Cells of 1–10 episodes are left blank",
            "clinical cut-off",
            "Not a scatter",
        ],
        "forest_phq_9": [
            "each format minus In person",
            "non-inferiority margin (2.5 points",
            "pooled (random effects, REML)",
        ],
        "participant_flow": ["paired episodes", "dropped out", "<11 and * mark counts"],
    }
    for key, phrases in expect.items():
        f = _fig(rep, key)
        for ph in phrases:
            assert ph in f.caption, (key, ph)
        assert f.caption.split(". ", 1)[1][:40] in html.replace("&#x27;", "'")


def test_legends_sit_outside_the_axes(demo):
    _, _, drawn = demo
    for key in ("dropout_km", "jacobson_truax_phq_9", "forest_phq_9"):
        axes = drawn[key]["axes"]
        assert not any(a["legend_overlaps"] for a in axes), key


# --------------------------------------------------------------------------- Kaplan–Meier
def _time_status(ep: pd.DataFrame) -> pd.DataFrame:
    t = ep["los_days"].astype(float)
    fill = t.isna()
    t[fill] = (ep["discharge_date"] - ep["admit_date"]).dt.days[fill]
    d = pd.DataFrame(
        {"format": ep["format"].astype(str), "time": t, "status": ep["discharge_status"]}
    )
    return d[d["time"].notna() & d["status"].notna()]


def _check_at_risk_row(texts: list[tuple[float, str]], times: np.ndarray, n: int) -> dict:
    """Check one group's printed numbers at risk against hand counts from the episodes'
    times: exact where printed, "<11" for 1–10, and "*" exactly where the exact count would
    differ from the last exact count printed (or the table's n) by 1–10."""
    last, seen = n, {"exact": 0, "<11": 0, "*": 0}
    for x, text in sorted(texts):
        k = int((times >= x).sum())  # at risk at day x: not yet out of treatment
        if 1 <= k <= 10:
            assert text == "<11", (x, k, text)
        elif 0 < last - k < 11:
            assert text == "*", (x, k, last, text)
        else:
            assert text == f"{k:,}", (x, k, text)
            last = k
        seen["exact" if text[:1].isdigit() else text] += 1
    return seen


def test_km_numbers_at_risk_equal_hand_counts(demo):
    sim, rep, drawn = demo
    d = _time_status(_episodes(sim))
    _, table_ax = drawn["dropout_km"]["axes"]
    names = table_ax["yticklabels"]
    assert names == ["In person", "Hybrid", "Virtual"]  # the study's reference first
    code = {"In person": "in_person", "Virtual": "virtual", "Hybrid": "hybrid"}
    svg_texts = _svg_texts(_fig(rep, "dropout_km").svg)
    n_table = rep.table("dropout_survival").set_index("group")["n"]
    total = 0
    for gi, name in enumerate(names):
        row = [(x, t) for x, y, t in table_ax["texts"] if int(y) == gi]
        times = d.loc[d["format"] == code[name], "time"].to_numpy()
        seen = _check_at_risk_row(row, times, int(n_table[code[name]]))
        total += seen["exact"]
        assert all(t in svg_texts for _, t in row)
    assert total >= 15


def test_km_at_risk_small_counts_read_lt11():
    """A hand-made episode table whose tails hold 1–10 episodes at risk: those read "<11",
    the curve stops while 11 remain, and a count 1–10 below the previous one reads "*"."""
    from iop_outcomes._report.config import StudyConfig
    from iop_outcomes._report.figures_km import fig_km
    from iop_outcomes._report.render import Section

    los = np.r_[np.arange(1, 61), 2 * np.arange(1, 31)].astype(float)  # a: 1..60, b: 2..60
    ep = pd.DataFrame(
        {
            "los_days": los,
            "discharge_status": np.where(np.arange(90) % 2 == 0, "dropped_out", "completed"),
            "format": ["a"] * 60 + ["b"] * 30,
        }
    )
    res = iop.dropout_survival(ep, group="format")
    drawn = []
    mp = pytest.MonkeyPatch()
    orig = _context.figure_to_svg
    mp.setattr(_context, "figure_to_svg", lambda fig: (drawn.append(_record(fig)), orig(fig))[1])
    ctx = _context.Ctx(StudyConfig(), strict=True)
    fig_km(ctx, Section("s", "S"), res, res.to_frame(), "PHQ-9", "format")
    mp.undo()
    curve_ax, table_ax = drawn[0]["axes"]
    seen = {"exact": 0, "<11": 0, "*": 0}
    for gi, g in enumerate(["a", "b"]):
        row = [(x, t) for x, y, t in table_ax["texts"] if int(y) == gi]
        mine = los[(ep["format"] == g).to_numpy()]
        got = _check_at_risk_row(row, mine, len(mine))
        seen = {k: seen[k] + got[k] for k in seen}
        # the curve ends while at least 11 remain at risk
        assert (mine >= curve_ax["lines"][g][:, 0].max()).sum() >= 11
    assert seen["<11"] >= 2 and seen["*"] >= 1 and seen["exact"] >= 4
    assert "<11" in _svg_texts(ctx.figures[0].svg)


def test_km_not_drawn_when_the_table_hides_every_group(small):
    _, rep, drawn = small
    drop = rep.table("dropout_survival")
    if all(isinstance(v, str) for v in drop["dropouts"]):
        assert "dropout_km" not in drawn
        assert "Kaplan–Meier figure of time to dropout is not drawn" in rep.html()


def _km_by_hand(times: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Product-limit estimate at each distinct event time (Kaplan & Meier 1958)."""
    ts = np.unique(times[event])
    s, out = 1.0, []
    for t in ts:
        n = (times >= t).sum()
        dd = ((times == t) & event).sum()
        s *= 1 - dd / n
        out.append(s)
    return ts, np.array(out)


def test_km_steps_are_the_fitted_curve_and_never_reveal_a_small_count(demo):
    sim, _, drawn = demo
    d = _time_status(_episodes(sim))
    curve_ax, _ = drawn["dropout_km"]["axes"]
    code = {"In person": "in_person", "Virtual": "virtual", "Hybrid": "hybrid"}
    for name, g in code.items():
        xy = curve_ax["lines"][name]
        # ax.step draws (t, S) pairs in order; the distinct times are the drawn steps
        t_drawn, idx = np.unique(xy[:, 0], return_index=True)
        s_drawn = xy[idx, 1] / 100
        sub = d[d["format"] == g]
        times = sub["time"].to_numpy()
        ev = (sub["status"].astype(str) == "dropped_out").to_numpy()
        ts, s = _km_by_hand(times, ev)
        assert t_drawn[0] == 0 and s_drawn[0] == 1
        prev = 0.0
        for t, sv in zip(t_drawn[1:], s_drawn[1:], strict=True):
            assert sv == pytest.approx(s[ts == t][0], abs=1e-9)  # the KM value at that time
            assert (times >= t).sum() >= 11  # enough at risk
            assert ((times > prev) & (times <= t) & ev).sum() >= 11  # enough dropouts per step
            prev = t


# --------------------------------------------------------------------------- Jacobson–Truax
def test_jt_heat_map_prints_no_count(demo, small):
    for _, rep, _ in (demo, small):
        texts = set(_svg_texts(_fig(rep, "jacobson_truax_phq_9").svg))
        allowed = {str(v) for v in range(0, 30, 5)} | {
            "baseline score (points)",
            "end score (points)",
            "11–24 episodes",
            "25–49 episodes",
            "50–99 episodes",
            "100–199 episodes",
            "200 or more episodes",
            "0–10 episodes",
            "no change",
            "clinical cut-off 7.04",
        }
        other = {t for t in texts if t not in allowed and not t.startswith("no reliable change")}
        assert other == set(), other


def test_jt_cells_hide_1_to_10(demo):
    from iop_outcomes._report.figures_jt import _jt_cells, _jt_grid

    e = _jt_grid(0, 27)
    pre = [1] * 10 + [14] * 11 + [26] * 30
    post = [1] * 10 + [2] * 11 + [26] * 30
    cells = _jt_cells(pre, post, e, 11)
    assert np.isnan(cells[0, 0])  # 10 episodes at (0-3, 0-3): blank
    assert cells[0, 3] == 0  # 11 at baseline 12-15, end 0-3: class 11–24
    assert cells[6, 6] == 1  # 30: class 25–49
    assert np.isfinite(cells).sum() == 2


# --------------------------------------------------------------------------- forest
def test_forest_points_equal_the_compare_table(demo):
    _, rep, drawn = demo
    (ax,) = drawn["forest_phq_9"]["axes"]
    cmp_ = rep.table("compare_phq_9")
    pooled = rep.table("pool_sites_phq_9")
    pooled = pooled[pooled["tau2_method"] == "REML"]
    adjusted, within = ax["errorbars"]
    assert adjusted[:, 0] == pytest.approx(cmp_["estimate"].astype(float).round(6).to_numpy())
    assert within[:, 0] == pytest.approx(pooled["estimate"].astype(float).round(6).to_numpy())
    assert ax["yticklabels"] == [
        "Hybrid − In person",
        "Virtual − In person",
        "Hybrid − In person, sites pooled",
        "Virtual − In person, sites pooled",
    ]
    ni = rep.table("noninferiority_phq_9")
    margin = ax["lines"]["non-inferiority margin 2.5 (library default)"]
    assert margin[0, 0] == float(ni["margin"].iloc[0]) == 2.5
    zero = [v for k, v in ax["lines"].items() if k.startswith("_") and (v[:, 0] == 0).all()]
    assert zero  # the line of no difference


# --------------------------------------------------------------------------- flow
def _flow_truth(sim) -> pd.DataFrame:
    res = iop.retention(_episodes(sim), group="format", tests=False, windows=("1m", "3m", "6m"))
    return res.flow


def test_flow_diagram_prints_the_table_as_published(demo, small):
    for _, rep, _ in (demo, small):
        t = rep.table("participant_flow")
        texts = "\n".join(_svg_texts(_fig(rep, "participant_flow").svg))
        # the study's reference first, then the other groups in sorted order
        labels = {"in_person": "In person", "hybrid": "Hybrid", "virtual": "Virtual"}
        for _, r in t.iterrows():
            cells = {c: (v if isinstance(v, str) else f"{int(v):,}") for c, v in r.items()}
            assert f": {cells['All']}\n" in texts + "\n"
            assert " · ".join(f"{lab} {cells[c]}" for c, lab in labels.items()) in texts
        assert "Admitted: " in texts and "Dropped out: " in texts


def test_no_hidden_flow_or_dropout_count_in_any_figure(small):
    """The true values of the cells the flow and dropout tables hide appear in no figure's
    text, unless the same number is published in that table too."""
    sim, rep, drawn = small
    truth = _flow_truth(sim)
    flow = rep.table("participant_flow")
    code = {"in_person": "in_person", "virtual": "virtual", "hybrid": "hybrid"}
    hidden = set()
    for _, r in flow.iterrows():
        for g in code:
            if isinstance(r[g], str):
                tr = truth[
                    (truth["stage"] == r["stage"])
                    & (truth["box"] == r["status"])
                    & (truth["group"].astype(str) == g)
                ]["n"]
                hidden.add(int(tr.sum()))
    drop = rep.table("dropout_survival")
    surv = iop.dropout_survival(_episodes(sim), group="format").table
    for c in ("n", "dropouts", "transfers", "censored"):
        for g, v in zip(drop["group"], drop[c], strict=True):
            if isinstance(v, str):
                hidden.add(int(surv.loc[surv["group"].astype(str) == g, c].iloc[0]))
    published = {
        int(v)
        for tb in (flow, drop)
        for c in tb.columns
        for v in tb[c]
        if isinstance(v, (int, float, np.integer)) and not isinstance(v, bool) and v == v
    }
    secret = {h for h in hidden if h not in published and h > 0}
    assert secret  # the check has something to look for
    for f in rep.figures:
        ticks = set().union(*(a["ticks"] for a in drawn[f.key]["axes"]))
        tokens = set()
        for text in _svg_texts(f.svg):
            if text not in ticks:  # axis scales (points, %, days), not counts
                tokens |= {int(x.replace(",", "")) for x in _NUMBER.findall(text)}
        assert not (tokens & secret), (f.key, tokens & secret)


def test_min_cell_follows_the_threshold():
    from types import SimpleNamespace as NS

    assert min_cell(NS(threshold=11)) == 11
    assert min_cell(NS(threshold=6)) == 6
    assert min_cell(NS(threshold=None)) == 1


# Byte-stable SVG: tests/test_report.py::test_deterministic_apart_from_timestamp compares two
# builds' HTML, which embeds every figure, and the committed demo regenerates identically.
