"""Tests of iop_outcomes.monitor: expected recovery curves and off-track alerts.

Reference values:
* quantile regression: R quantreg 5.94 ``rq(method = "br")`` on data simulated in R
  (tests/reference/monitor/fit_reference.R -> curves_data.csv, rq_coef.csv), and statsmodels
  ``QuantReg`` fitted here on the same data;
* flags: a hand-built caseload whose expected scores come from a reference grid that is bilinear
  in baseline and week, so every expected score and band is computed by hand below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes import _internal
from iop_outcomes._monitor import TERMS, _design, quantreg, recovery_curves
from iop_outcomes.cli import main
from iop_outcomes.exceptions import ConfigError, DataError

REF = Path(__file__).parent / "reference" / "monitor"


# --------------------------------------------------------------------------- quantile regression


@pytest.fixture(scope="module")
def rdata():
    return pd.read_csv(REF / "curves_data.csv")


@pytest.fixture(scope="module")
def rcoef():
    return pd.read_csv(REF / "rq_coef.csv")


@pytest.mark.parametrize("tau", [0.5, 0.75, 0.9])
def test_quantreg_matches_r_quantreg_continuous(rdata, rcoef, tau):
    """Continuous scores: the optimum is unique, so the coefficients equal R's."""
    X = _design(rdata["baseline"], rdata["week"])
    beta, loss = quantreg(X, rdata["score"].to_numpy(), tau)
    ref = rcoef[(rcoef["response"] == "score") & np.isclose(rcoef["tau"], tau)]
    ref = ref.set_index("term").loc[list(TERMS)]
    np.testing.assert_allclose(beta, ref["estimate"].to_numpy(), rtol=1e-6, atol=1e-7)
    assert loss == pytest.approx(ref["loss"].iloc[0], rel=1e-9)


@pytest.mark.parametrize("tau", [0.5, 0.75, 0.9])
def test_quantreg_integer_scores_reach_r_loss(rdata, rcoef, tau):
    """Tied integer totals: the minimiser may be a set; the minimum loss is R's."""
    X = _design(rdata["baseline"], rdata["week"])
    _, loss = quantreg(X, rdata["score_int"].to_numpy(), tau)
    ref = rcoef[(rcoef["response"] == "score_int") & np.isclose(rcoef["tau"], tau)]
    assert loss == pytest.approx(ref["loss"].iloc[0], rel=1e-9)


@pytest.mark.parametrize("tau", [0.5, 0.75])
def test_quantreg_against_statsmodels(rdata, tau):
    from statsmodels.regression.quantile_regression import QuantReg

    X = _design(rdata["baseline"], rdata["week"])
    y = rdata["score"].to_numpy()
    sm = QuantReg(y, X).fit(q=tau, max_iter=5000, p_tol=1e-10)
    beta, loss = quantreg(X, y, tau)
    r = y - X @ sm.params
    sm_loss = float(np.sum(r * (tau - (r < 0))))
    assert loss <= sm_loss + 1e-9  # an exact LP is never worse than IRLS
    assert loss == pytest.approx(sm_loss, rel=1e-6)
    np.testing.assert_allclose(beta, sm.params, rtol=1e-3, atol=1e-3)


def _assessments_from(rdata: pd.DataFrame, score: str = "score") -> pd.DataFrame:
    """The R data as assessment rows: baseline at admission (day 0), weekly scores after."""
    admit = pd.Timestamp("2024-01-01") + pd.to_timedelta(rdata["episode"].to_numpy() * 3, "D")
    post = pd.DataFrame(
        {
            "episode_id": "E" + rdata["episode"].astype(str),
            "assessment_date": admit + pd.to_timedelta(rdata["week"].to_numpy() * 7, "D"),
            "admit_date": admit,
            "total": rdata[score].to_numpy(float),
        }
    )
    base = post.drop_duplicates("episode_id").assign(
        assessment_date=lambda d: d["admit_date"],
        total=rdata.drop_duplicates("episode")["baseline"].to_numpy(float),
    )
    out = pd.concat([base, post], ignore_index=True)
    out["patient_id"] = out["episode_id"].str.replace("E", "P")
    out["instrument"] = "PHQ-9"
    out["discharge_date"] = out["admit_date"] + pd.Timedelta(days=8 * 7)
    out["discharge_status"] = "completed"
    return out


def test_recovery_curves_fit_equals_r(rdata, rcoef):
    """recovery_curves builds (baseline, week, score) from assessments and fits R's model."""
    c = recovery_curves(_assessments_from(rdata), upper=0.9)
    for name, tau in (("expected", 0.5), ("upper", 0.9)):
        ref = rcoef[(rcoef["response"] == "score") & np.isclose(rcoef["tau"], tau)]
        ref = ref.set_index("term").loc[list(TERMS), "estimate"].to_numpy()
        np.testing.assert_allclose(c.coef[name].to_numpy(), ref, rtol=1e-6, atol=1e-7)
    assert c.n_episodes == 150 and c.n_scores == 1200 and c.max_week == 8.0
    # the grid round trip: a saved table used as curves_table= reproduces the curves on its nodes
    tab = c.table()
    back = recovery_curves(curves_table=tab, instrument="PHQ-9", upper=0.9)
    pts = tab.sample(20, random_state=1)
    np.testing.assert_allclose(
        back.predict(pts["baseline"], pts["week"]).to_numpy(),
        pts[["expected", "upper"]].to_numpy(),
        atol=1e-12,
    )


def test_recovery_curves_as_of_uses_only_the_past(rdata):
    d = _assessments_from(rdata)
    cut = pd.Timestamp("2024-08-01")
    past = d.loc[d["discharge_date"] <= cut]
    a = recovery_curves(d, as_of=cut)
    b = recovery_curves(past)
    pd.testing.assert_frame_equal(a.coef, b.coef)
    assert a.n_episodes == past["episode_id"].nunique()
    with pytest.raises(DataError, match="too few"):
        recovery_curves(d, as_of="2024-01-20")


def test_upper_must_be_above_median():
    with pytest.raises(ConfigError, match="'upper' parameter"):
        recovery_curves(curves_table=GRID, instrument="PHQ-9", upper=0.4)


# --------------------------------------------------------------------------- hand-built caseload

#: expected = b - b w / 16, upper = expected + w / 2: bilinear in (b, w), so interpolation on
#: the corners is exact and each value below is computed by hand
GRID = pd.DataFrame(
    {
        "baseline": [0, 0, 27, 27],
        "week": [0, 8, 0, 8],
        "expected": [0.0, 0.0, 27.0, 13.5],
        "upper": [0.0, 4.0, 27.0, 17.5],
    }
)
ADMIT = pd.Timestamp("2025-01-06")
AS_OF = "2025-02-10"  # day 35 after ADMIT


def _ep(eid, scores, *, admit=ADMIT, discharge=None, item9=None, clinician="Dr A", inst="PHQ-9"):
    """One episode: ``scores`` is [(day, total), ...] counted from admission."""
    days = [d for d, _ in scores]
    return pd.DataFrame(
        {
            "patient_id": "P" + eid[1:],
            "episode_id": eid,
            "instrument": inst,
            "assessment_date": admit + pd.to_timedelta(days, "D"),
            "admit_date": admit,
            "discharge_date": pd.NaT if discharge is None else admit + pd.Timedelta(days=discharge),
            "total": [float(t) for _, t in scores],
            "item_9": item9 if item9 is not None else [0] * len(scores),
            "clinician": clinician,
        }
    )


def caseload() -> pd.DataFrame:
    return pd.concat(
        [
            _ep("E01", [(0, 20), (14, 14)]),  # on track
            _ep("E02", [(0, 20), (14, 19)]),  # 19 > upper 18.5 at week 2
            _ep("E03", [(0, 10), (7, 16)]),  # +6: reliable deterioration; above band
            _ep("E04", [(0, 10), (7, 15)]),  # +5: not reliable; above band (9.875)
            _ep("E05", [(0, 15), (28, 11)]),  # week 4, change -4: no reliable improvement
            _ep("E06", [(0, 15), (28, 9)]),  # week 4, change -6: reliable improvement
            _ep("E07", [(0, 12), (14, 8)], item9=[0, 1]),  # item 9 positive, latest
            _ep("E08", [(0, 12), (14, 8)], item9=[2, 0]),  # item 9 positive at baseline only
            _ep("E09", [(0, 18), (14, 12)], discharge=30, clinician="Dr B"),  # discharged day 30
            _ep("E10", [(0, 18), (14, 12), (42, 26)], clinician="Dr B"),  # day 42 > as_of
            _ep("E11", [(0, 18)], admit=ADMIT + pd.Timedelta(days=40)),  # admitted after as_of
            _ep("E12", [(21, 18), (28, 18)], clinician="Dr B"),  # first score day 21: no baseline
            _ep("E13", [(0, 18), (14, 12)], discharge=60, clinician="Dr B"),  # discharged later
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def res():
    return iop.monitor(caseload(), as_of=AS_OF, curves=GRID)


def _row(res, eid):
    return res.table.set_index("episode_id").loc[eid]


def test_open_episodes_and_exclusions(res):
    ids = res.table["episode_id"].tolist()
    assert ids == ["E01", "E02", "E03", "E04", "E05", "E06", "E07", "E08", "E10", "E13"]
    assert res.excluded["episode_id"].tolist() == ["E12"]
    assert "no baseline" in res.excluded["reason"].iloc[0]
    # E10's day-42 score and E11's admission score (day 40)
    assert any("2 assessment(s) dated after as_of were ignored" in n for n in res.notes)


def test_expected_and_band_by_hand(res):
    # E02: b 20, week 2: expected 20 - 40/16 = 17.5, upper 17.5 + 1 = 18.5
    r = _row(res, "E02")
    assert (r["week"], r["expected"], r["upper"]) == (2.0, 17.5, 18.5)
    # E05: b 15, week 4: 15 - 60/16 = 11.25, upper 13.25
    r = _row(res, "E05")
    assert (r["expected"], r["upper"]) == (11.25, 13.25)


def test_not_on_track(res):
    got = res.table.set_index("episode_id")["not_on_track"]
    assert got[["E02", "E03", "E04"]].all()  # 19 > 18.5; 16 and 15 > 9.875
    assert not got[["E01", "E05", "E06", "E07", "E08", "E10", "E13"]].any()
    assert (
        "PHQ-9 19 at week 2.0 is above the 75th percentile expected (18.5; median 17.5)"
        in (_row(res, "E02")["reasons"])
    )


def test_reliable_deterioration_uses_the_instrument_threshold(res):
    assert iop.instruments.get("PHQ-9").reliable_change == 6
    assert _row(res, "E03")["reliable_deterioration"]  # +6 >= 6
    assert not _row(res, "E04")["reliable_deterioration"]  # +5
    assert "(change +6, threshold 6 points)" in _row(res, "E03")["reasons"]
    assert res.params["threshold_points"] == 6
    # GAD-7: the instrument's own threshold (4 points), not PHQ-9's
    gad = pd.concat([_ep("G1", [(0, 10), (7, 14)], inst="GAD-7")], ignore_index=True)
    gref = GRID.assign(baseline=GRID["baseline"] * 21 / 27)
    g = iop.monitor(gad, as_of=AS_OF, curves=gref)
    assert g.params["threshold_points"] == iop.instruments.get("GAD-7").reliable_change == 4
    assert g.table.loc[0, "reliable_deterioration"]
    assert g.table["safety_item"].isna().all()  # GAD-7 has no safety item


@pytest.fixture
def registry_restored(monkeypatch):
    """Instruments registered in the test are forgotten afterwards."""
    from iop_outcomes import instruments

    monkeypatch.setattr(instruments, "_REGISTRY", dict(instruments._REGISTRY))
    monkeypatch.setattr(instruments, "_ALIASES", dict(instruments._ALIASES))


def test_threshold_without_a_published_one(registry_restored):
    """Jacobson-Truax 1.96 * SD * sqrt(2 (1 - r)) from the instrument; none: flags missing."""
    name = "TEST-MONITOR-JT"
    iop.instruments.register(
        {
            "name": name,
            "n_items": 9,
            "item_min": 0,
            "item_max": 3,
            "bands": [[0, 27, "any"]],
            "reliability": 0.8,
            "clinical_sd": 5.0,
        }
    )
    d = _ep("J1", [(0, 10), (7, 16)], inst=name).drop(columns="item_9")
    g = iop.monitor(d, as_of=AS_OF, curves=GRID)
    pts = 1.959964 * 5.0 * np.sqrt(2 * 0.2)  # 6.198 points, by hand
    assert g.params["threshold_points"] == pytest.approx(pts, rel=1e-6)
    assert not g.table.loc[0, "reliable_deterioration"]  # +6 < 6.198
    assert iop.monitor(d, as_of=AS_OF, curves=GRID, threshold=6).table.loc[
        0, "reliable_deterioration"
    ]
    assert iop.instruments.canonical_name(name) == name


def test_no_threshold_leaves_the_change_flags_missing():
    """PHQ-8 has neither a published threshold nor a clinical SD: the two flags are missing."""
    p8 = _ep("Q1", [(0, 10), (7, 16)], inst="PHQ-8").drop(columns="item_9")
    r8 = iop.monitor(p8, as_of=AS_OF, curves=GRID)
    assert r8.table[["reliable_deterioration", "no_reliable_improvement"]].isna().all().all()
    assert any("No reliable-change threshold for PHQ-8" in n for n in r8.notes)
    assert r8.table.loc[0, "not_on_track"]  # the curves still apply


def test_registry_restored_after_the_test():
    assert iop.instruments.canonical_name("TEST-MONITOR-JT") is None


def test_no_reliable_improvement_by_week(res):
    assert _row(res, "E05")["no_reliable_improvement"]  # week 4, -4
    assert not _row(res, "E06")["no_reliable_improvement"]  # week 4, -6
    assert not _row(res, "E01")["no_reliable_improvement"]  # week 2: too early
    later = iop.monitor(caseload(), as_of=AS_OF, curves=GRID, by_week=5)
    assert not later.table.set_index("episode_id").loc["E05", "no_reliable_improvement"]


def test_safety_item_in_latest_administration(res):
    assert _row(res, "E07")["safety_item"]
    assert not _row(res, "E08")["safety_item"]  # positive at baseline, 0 now
    assert (
        "safety: item 9 = 1 (above 0) in the latest PHQ-9 of 2025-01-20"
        in (_row(res, "E07")["reasons"])
    )


def test_as_of_handling(res):
    # E10: the day-42 score (26) is after as_of and ignored; latest is day 14
    r = _row(res, "E10")
    assert (r["latest"], r["week"], r["n_flags"]) == (12.0, 2.0, 0)
    # E13: discharged on day 60, after as_of: open then
    assert "E13" in set(res.table["episode_id"])
    # a later date: E09 and E13 discharged, E10's day-42 score is now its latest (18 -> 26)
    late = iop.monitor(caseload(), as_of=ADMIT + pd.Timedelta(days=45), curves=GRID)
    ids = set(late.table["episode_id"])
    assert "E09" not in ids and "E13" in ids and "E11" in ids
    assert late.table.set_index("episode_id").loc["E10", "latest"] == 26.0
    # the same as truncating the data by hand
    d = caseload()
    trunc = d.loc[d["assessment_date"] <= pd.Timestamp(AS_OF)]
    other = iop.monitor(trunc, as_of=AS_OF, curves=GRID)
    pd.testing.assert_frame_equal(
        res.table.drop(columns="days_since_latest"),
        other.table.drop(columns="days_since_latest"),
    )


def test_status_counts_and_row_order_invariance(res):
    t = res.table.set_index("episode_id")
    assert t.loc["E03", "n_flags"] == 2  # not on track, deterioration (week 1: before by_week)
    assert t.loc["E01", "status"] == "on track" and t.loc["E02", "status"] == "flagged"
    shuffled = caseload().sample(frac=1.0, random_state=3)
    again = iop.monitor(shuffled, as_of=AS_OF, curves=GRID)
    pd.testing.assert_frame_equal(res.table, again.table)


@pytest.mark.parametrize(
    "call, old, new",
    [
        (lambda **kw: iop.monitor(caseload(), as_of=AS_OF, **kw), "reference", "curves"),
        (lambda **kw: recovery_curves(instrument="PHQ-9", **kw), "reference", "curves_table"),
        (lambda **kw: recovery_curves(**kw), "data", "assessments"),
    ],
)
def test_renamed_keywords_raise_naming_the_new_one(call, old, new):
    with pytest.raises(ConfigError, match=rf"no parameter '{old}'; it is now called '{new}'"):
        call(**{old: GRID})


def test_plot_recovery_curve_takes_the_result():
    c = recovery_curves(curves_table=GRID, instrument="PHQ-9")
    with pytest.raises(ConfigError, match=r"no parameter 'curves'; it is now called 'result'"):
        iop.plots.plot_recovery_curve(curves=c, baseline=18)
    with pytest.raises(ConfigError, match=r"takes the curves of iop.recovery_curves"):
        iop.plots.plot_recovery_curve(GRID, baseline=18)


def test_bad_parameters_raise_the_template():
    with pytest.raises(ConfigError, match=r"The 'upper' parameter of iop.monitor must be a float"):
        iop.monitor(caseload(), as_of=AS_OF, curves=GRID, upper=0.5)
    with pytest.raises(ConfigError, match=r"The 'threshold' parameter of iop.monitor"):
        iop.monitor(caseload(), as_of=AS_OF, curves=GRID, threshold=0)
    with pytest.raises(ConfigError, match=r"The 'as_of' parameter of iop.monitor must be a date"):
        iop.monitor(caseload(), as_of=None, curves=GRID)


def test_one_instrument_rule():
    d = pd.concat([caseload(), _ep("G1", [(0, 10), (7, 14)], inst="GAD-7")], ignore_index=True)
    with pytest.raises(
        ConfigError, match=r"2 instruments \('GAD-7', 'PHQ-9'\).*instrument='GAD-7'"
    ):
        iop.monitor(d, as_of=AS_OF, curves=GRID)
    ok = iop.monitor(d, as_of=AS_OF, curves=GRID, instrument="PHQ-9")
    assert "G1" not in set(ok.table["episode_id"])


def test_bad_parameters():
    with pytest.raises(ConfigError, match="'as_of' parameter"):
        iop.monitor(caseload(), as_of="not a date", curves=GRID)
    with pytest.raises(ConfigError, match="'by_week' parameter"):
        iop.monitor(caseload(), as_of=AS_OF, curves=GRID, by_week=-1)
    with pytest.raises(ConfigError, match=r"lacks column\(s\) \['upper'\]"):
        iop.monitor(caseload(), as_of=AS_OF, curves=GRID.drop(columns="upper"))


# --------------------------------------------------------------------------- internal outputs


def test_written_files_are_marked_internal(res, tmp_path):
    paths = res.write(tmp_path)
    for p in paths.values():
        assert p.name.startswith("INTERNAL-identifiable-caseload-2025-02-10-PHQ-9")
    csv = pd.read_csv(paths["csv"])
    assert csv.columns[0] == _internal.MARKER_COLUMN
    assert (csv[_internal.MARKER_COLUMN] == _internal.MARKER_TEXT).all()
    assert len(csv) == len(res.table)
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count(f">{_internal.MARKER_TEXT}<") == 2  # top and bottom banner
    assert "position:fixed" in page  # repeated on every printed page
    assert f"name='{_internal.MARKER_COLUMN}'" in page
    # grouped by clinician
    assert page.index("Clinician: Dr A") < page.index("Clinician: Dr B")


def test_report_refuses_internal_files(res, tmp_path):
    paths = res.write(tmp_path)
    for p in paths.values():
        with pytest.raises(ConfigError, match="internal, identifiable output"):
            iop.report(p, out=tmp_path / "rep")
    # renamed: the marker inside the file still refuses it
    renamed = tmp_path / "scores.csv"
    renamed.write_bytes(paths["csv"].read_bytes())
    with pytest.raises(ConfigError, match="internal, identifiable output"):
        iop.report(renamed, out=tmp_path / "rep")
    with pytest.raises(ConfigError, match="internal, identifiable output"):
        iop.report(pd.read_csv(paths["csv"]), out=tmp_path / "rep")
    assert not (tmp_path / "rep").exists()
    plain = tmp_path / "plain.csv"
    caseload().to_csv(plain, index=False)
    assert not _internal.is_internal(plain)


def test_cli_monitor(tmp_path, capsys):
    data = tmp_path / "visits.csv"
    d = caseload()
    d["item_9"] = d["item_9"].astype(int)
    d.to_csv(data, index=False, date_format="%Y-%m-%d")
    ref = tmp_path / "reference.csv"
    GRID.to_csv(ref, index=False)
    out = tmp_path / "internal"
    rc = main(["monitor", str(data), "--as-of", AS_OF, "--out", str(out), "--curves", str(ref)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "10 open episodes as of 2025-02-10 (PHQ-9)" in printed
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "INTERNAL-identifiable-caseload-2025-02-10-PHQ-9.csv",
        "INTERNAL-identifiable-caseload-2025-02-10-PHQ-9.html",
    ]
    # the clinician column survives iop.load as a carried-through column
    assert "clinician" in pd.read_csv(out / files[0]).columns
    # the report command refuses the caseload (exit 3, the input could not be used)
    assert main(["report", str(out / files[0]), "--out", str(tmp_path / "rep"), "-q"]) == 3
    mixed = tmp_path / "mixed.csv"
    gad = _ep("G1", [(0, 10), (7, 14)], inst="GAD-7").assign(item_9=None)  # GAD-7 has 7 items
    pd.concat([d, gad]).to_csv(mixed, index=False, date_format="%Y-%m-%d")
    rc = main(["monitor", str(mixed), "--as-of", AS_OF, "--out", str(out), "--curves", str(ref)])
    assert rc == 3
    assert "--instrument and one of them" in capsys.readouterr().err


# --------------------------------------------------------------------------- synth truth


def test_synth_off_track_share_is_known_and_default_unchanged():
    a = iop.synth.generate(n_episodes=300, seed=9)
    b = iop.synth.generate(n_episodes=300, seed=9, off_track_share=0.0)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert "off_track" not in a.truth.episodes
    c = iop.synth.generate(n_episodes=300, seed=9, off_track_share=0.25)
    t = c.truth.episodes
    assert 0.18 < t["off_track"].mean() < 0.32
    change = t["true_phq_endpoint"] - t["true_phq_baseline"]
    assert change[t["off_track"]].mean() > -1 > change[~t["off_track"]].mean()
    with pytest.raises(ConfigError, match="off_track_share"):
        iop.synth.generate(n_episodes=10, off_track_share=1.5)


def test_plot_recovery_curve_structure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = recovery_curves(curves_table=GRID, instrument="PHQ-9")
    ax = iop.plots.plot_recovery_curve(
        c, baseline=20, scores=pd.DataFrame({"week": [0, 2, 4], "total": [20, 19, 12]})
    )
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_allclose(lines["expected (median)"].get_ydata()[-1], 10.0)  # 20 - 20*8/16
    np.testing.assert_allclose(lines["above the band"].get_ydata(), [19.0])  # 19 > 18.5
    plt.close(ax.figure)


def test_printing_a_caseload_shows_flagged_rows_first_and_says_what_is_left_out():
    sim = iop.synth.generate(n_episodes=300, seed=9)
    rows = iop.load(sim.data).data
    res = iop.monitor(rows, as_of="2024-09-30", instrument="PHQ-9")
    shown, cut = res._display()
    assert len(shown) == min(len(res.table), res.max_rows)
    flags = res.table["n_flags"].to_numpy()
    # flagged rows first: the shown rows carry the largest flag counts
    assert sorted(flags, reverse=True)[: len(shown)] == sorted(
        res.table.set_index("episode_id").loc[shown["episode_id"], "n_flags"], reverse=True
    )
    assert cut[0] == f"{len(res.table):,} open episodes, {int((flags > 0).sum()):,} with a flag."
    assert "00:00:00" not in str(res)
    curves = res.curves
    text = repr(curves)
    assert text.startswith("PHQ-9 expected recovery curves") and "<pre>" in curves._repr_html_()
    with pytest.raises(ConfigError, match="needs baseline="):
        curves.plot()
