"""Tests for iop_outcomes.trajectories and iop_outcomes.plots.trajectories.

Reference values: tests/reference/trajectories/ (fit_reference.R: lme4 1.1.31 lmer REML,
emmeans 1.8.4.1 with lmer.df = "asymptotic", geepack 1.3.9 geeglm; data from make_data.py).
Tolerances: fixed effects within 1e-4 SE of lme4, SEs / variance components / emmeans to
1e-4 relative (iterative fits; observed agreement is ~1e-7).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from tolerance import SUMS

import iop_outcomes as iop
from iop_outcomes._trajectories import TrajectoryResult, early_change, trajectories
from iop_outcomes._trajectories.prepare import example_data as _example_data
from iop_outcomes.exceptions import ConfigError, ConvergenceWarning, DataError
from iop_outcomes.plots.trajectories import (
    plot_early_change,
    plot_individual_trajectories,
    plot_trajectories,
)

REF = Path(__file__).parent / "reference" / "trajectories"
RTOL = 1e-4

SPECS = {
    "linear": {},
    "quadratic": {"time": "quadratic"},
    "piecewise": {"time": "piecewise", "knot": 2},
    "categorical": {"time": "categorical"},
    "uncorrelated": {"random": "uncorrelated"},
    "intercept": {"random": "intercept"},
    "site": {"site": "site", "random": "uncorrelated"},
}


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(REF / "sim_weekly.csv")


def _site_subset(sim):
    eps = sorted(sim["episode_id"].unique())[:60]
    return sim[sim["episode_id"].isin(eps)]


CASES = [(name, "statsmodels") for name in SPECS] + [
    (name, "vectorized") for name in SPECS if name != "site"
]
CASE_IDS = [f"{n}-{e}" for n, e in CASES]


@pytest.fixture(scope="module")
def all_fits(sim):
    out = {}
    for name, engine in CASES:
        data = _site_subset(sim) if name == "site" else sim
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            out[(name, engine)] = trajectories(data, engine=engine, **SPECS[name])
    return out


@pytest.fixture(scope="module")
def fits(all_fits):
    return {name: res for (name, engine), res in all_fits.items() if engine == "statsmodels"}


# ------------------------------------------------------------------ mixed model vs lme4


@pytest.mark.parametrize(("name", "engine"), CASES, ids=CASE_IDS)
def test_fixed_effects_match_lme4(all_fits, name, engine):
    ref = pd.read_csv(REF / "lme4_fixed.csv").query("model == @name").set_index("term")
    got = all_fits[(name, engine)].fixed.set_index("term")
    assert sorted(got.index) == sorted(ref.index)
    got = got.loc[ref.index]
    assert np.all(np.abs(got["estimate"] - ref["estimate"]) <= RTOL * ref["se"])
    np.testing.assert_allclose(got["se"], ref["se"], rtol=RTOL)
    z = 1.959963984540054
    np.testing.assert_allclose(got["ci_low"], got["estimate"] - z * got["se"], rtol=SUMS)


@pytest.mark.parametrize(("name", "engine"), CASES, ids=CASE_IDS)
def test_variance_components_match_lme4(all_fits, name, engine):
    ref = pd.read_csv(REF / "lme4_varcorr.csv").query("model == @name")
    var = all_fits[(name, engine)].variance
    for row in ref.itertuples():
        if row.grp == "Residual":
            level, term = "residual", ""
        elif row.grp == "site":
            level, term = "site", "Intercept"
        else:
            level = "episode"
            t1 = "Intercept" if row.var1 == "(Intercept)" else row.var1
            term = t1 if pd.isna(row.var2) else f"{t1}:{row.var2}"
        got = var[(var["level"] == level) & (var["term"] == term)]
        assert len(got) == 1, (level, term)
        np.testing.assert_allclose(got["variance"].iloc[0], row.vcov, rtol=RTOL)
        if pd.isna(row.var2):
            np.testing.assert_allclose(got["sd"].iloc[0], row.sdcor, rtol=RTOL)
        else:
            np.testing.assert_allclose(got["corr"].iloc[0], row.sdcor, rtol=RTOL)


@pytest.mark.parametrize(("name", "engine"), CASES, ids=CASE_IDS)
def test_means_match_emmeans(all_fits, name, engine):
    ref = pd.read_csv(REF / "emmeans.csv").query("model == @name")
    got = all_fits[(name, engine)].means.merge(
        ref, left_on=["week", "group"], right_on=["week", "format"], validate="1:1"
    )
    assert len(got) == len(ref) == 18
    np.testing.assert_allclose(got["estimate"], got["emmean"], rtol=RTOL)
    np.testing.assert_allclose(got["se"], got["SE"], rtol=RTOL)
    np.testing.assert_allclose(got["ci_low"], got["lower"], rtol=RTOL)
    np.testing.assert_allclose(got["ci_high"], got["upper"], rtol=RTOL)


@pytest.mark.parametrize(("name", "engine"), CASES, ids=CASE_IDS)
def test_change_matches_emmeans_contrasts(all_fits, name, engine):
    ref = pd.read_csv(REF / "emmeans_change.csv").query("model == @name")
    got = all_fits[(name, engine)].change(week=6).to_frame()
    assert got["group"].tolist() == ref["contrast"].tolist()
    assert np.all(np.abs(got["estimate"].to_numpy() - ref["estimate"]) <= RTOL * ref["SE"])
    np.testing.assert_allclose(got["se"], ref["SE"], rtol=RTOL)
    np.testing.assert_allclose(got["ci_low"], ref["lower"], rtol=RTOL, atol=RTOL * ref["SE"].max())
    np.testing.assert_allclose(got["pvalue"], ref["p.value"], rtol=1e-3, atol=1e-8)


@pytest.mark.parametrize("name", ["categorical", "uncorrelated", "intercept"])
def test_vectorized_fit_by_blocks_of_episodes_equals_one_block(all_fits, sim, name, monkeypatch):
    # the profiled REML's per-episode algebra runs over blocks of episodes (memory at
    # scale); blocks of 7 episodes give the fit of one block (each random structure)
    from iop_outcomes._trajectories import mixed

    monkeypatch.setattr(mixed, "EPISODE_BLOCK", 7)
    assert len(mixed._episode_blocks(sim["episode_id"].nunique())) > 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        got = trajectories(sim, engine="vectorized", **SPECS[name])
    ref = all_fits[(name, "vectorized")]
    for c in ("estimate", "se"):
        np.testing.assert_allclose(got.fixed[c], ref.fixed[c], rtol=1e-9, atol=1e-10)
    var, ref_var = got.to_frame("variance"), ref.to_frame("variance")
    np.testing.assert_allclose(var["variance"], ref_var["variance"], rtol=1e-8)


def test_loglik_matches_lme4(all_fits):
    ref = pd.read_csv(REF / "lme4_loglik.csv").set_index("model")["reml_loglik"]
    for (name, engine), res in all_fits.items():
        assert res.model_info["loglik"] == pytest.approx(ref[name], abs=1e-6), (name, engine)
        assert res.model_info["engine"] == engine


def test_change_is_difference_of_means(fits):
    # identity: change(k) per group = mean(k) - mean(0) from the means table
    res = fits["quadratic"]
    m = res.means.set_index(["group", "week"])["estimate"]
    ch = res.change(week=5).to_frame().set_index("group")
    for g in ("in_person", "virtual"):
        assert ch.loc[g, "estimate"] == pytest.approx(m[(g, 5.0)] - m[(g, 0.0)], abs=SUMS)
    diff = ch.loc["virtual - in_person", "estimate"]
    assert diff == pytest.approx(ch.loc["virtual", "estimate"] - ch.loc["in_person", "estimate"])


def test_linear_change_equals_slope_times_weeks(fits):
    res = fits["linear"]
    f = res.fixed.set_index("term")
    ch = res.change(week=4).to_frame().set_index("group")
    assert ch.loc["in_person", "estimate"] == pytest.approx(4 * f.loc["week", "estimate"])
    assert ch.loc["in_person", "se"] == pytest.approx(4 * f.loc["week", "se"])
    inter = f.loc["week:format[virtual]"]
    assert ch.loc["virtual - in_person", "se"] == pytest.approx(4 * inter["se"])


def test_categorical_change_rejects_unobserved_week(fits):
    with pytest.raises(ConfigError, match="one of the observed weeks"):
        fits["categorical"].change(week=2.5)


# ------------------------------------------------------------------ GEE


def _gls_sandwich(sim, alpha, kind):
    """Hand calculation: GEE solution and sandwich SE for a fixed working correlation."""
    d = sim.sort_values(["episode_id", "week"])
    v = (d["format"] == "virtual").to_numpy(float)
    w = d["week"].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), v, w, w * v])
    y = d["total"].to_numpy(float)
    blocks = [np.flatnonzero(d["episode_id"].to_numpy() == e) for e in d["episode_id"].unique()]

    def rinv(idx):
        if kind == "exchangeable":
            r = np.full((len(idx), len(idx)), alpha)
            np.fill_diagonal(r, 1.0)
        else:  # AR(1) over the order of observed scores (statsmodels' Autoregressive)
            j = np.arange(len(idx))
            r = alpha ** np.abs(j[:, None] - j[None, :])
        return np.linalg.inv(r)

    a = sum(X[i].T @ rinv(i) @ X[i] for i in blocks)
    b = np.linalg.solve(a, sum(X[i].T @ rinv(i) @ y[i] for i in blocks))
    res = y - X @ b
    meat = sum(X[i].T @ rinv(i) @ np.outer(res[i], res[i]) @ rinv(i) @ X[i] for i in blocks)
    ainv = np.linalg.inv(a)
    return b, np.sqrt(np.diag(ainv @ meat @ ainv))


def test_gee_independence_matches_geepack_exactly(sim):
    ref = pd.read_csv(REF / "geepack.csv").query("model == 'independence'").set_index("term")
    got = trajectories(sim, method="gee", corr="independence").fixed.set_index("term")
    got = got.loc[ref.index]
    np.testing.assert_allclose(got["estimate"], ref["estimate"], rtol=1e-8)
    np.testing.assert_allclose(got["se"], ref["se"], rtol=1e-8)


def test_gee_exchangeable_vs_geepack_and_hand(sim):
    ref = pd.read_csv(REF / "geepack.csv").query("model == 'exchangeable'").set_index("term")
    res = trajectories(sim, method="gee", corr="exchangeable")
    got = res.fixed.set_index("term").loc[ref.index]
    # the two moment estimators of alpha differ in their degrees-of-freedom corrections
    # (statsmodels vs geepack): estimates agree within a small fraction of an SE
    alpha = res.variance["variance"].iloc[0]
    assert alpha == pytest.approx(ref["alpha"].iloc[0], rel=5e-3)
    assert np.all(np.abs(got["estimate"] - ref["estimate"]) <= 2e-3 * ref["se"])
    np.testing.assert_allclose(got["se"], ref["se"], rtol=1e-3)
    # exact: GLS solution and sandwich at the reported alpha, computed by hand
    b, se = _gls_sandwich(sim, alpha, "exchangeable")
    order = ["Intercept", "format[virtual]", "week", "week:format[virtual]"]
    f = res.fixed.set_index("term").loc[order]
    np.testing.assert_allclose(f["estimate"], b, rtol=1e-6)
    np.testing.assert_allclose(f["se"], se, rtol=1e-6)


def test_gee_ar1_hand_check(sim):
    res = trajectories(sim, method="gee", corr="ar1")
    alpha = res.variance["variance"].iloc[0]
    assert 0 < alpha < 1
    b, se = _gls_sandwich(sim, alpha, "ar1")
    order = ["Intercept", "format[virtual]", "week", "week:format[virtual]"]
    f = res.fixed.set_index("term").loc[order]
    np.testing.assert_allclose(f["estimate"], b, rtol=1e-6)
    np.testing.assert_allclose(f["se"], se, rtol=1e-6)
    assert "ar1" in res.method


def test_gee_rejects_site(sim):
    with pytest.raises(ConfigError, match="method='mixed' only"):
        trajectories(sim, method="gee", site="site")


# ------------------------------------------------------------------ input handling


@pytest.fixture(scope="module")
def small():
    return _example_data()


def test_week_from_dates_equals_week_column(small):
    a = trajectories(small)
    d = small.drop(columns="week").assign(
        admit_date="2025-02-03",
        assessment_date=pd.Timestamp("2025-02-03") + pd.to_timedelta(small["week"] * 7, "D"),
    )
    b = trajectories(d)
    np.testing.assert_allclose(a.fixed["estimate"], b.fixed["estimate"], rtol=1e-9)


def test_followups_and_other_instruments_excluded(small):
    base = small.assign(
        admit_date="2025-02-03",
        discharge_date="2025-03-17",  # day 42 = week 6: all in-treatment scores kept
        assessment_date=pd.Timestamp("2025-02-03") + pd.to_timedelta(small["week"] * 7, "D"),
    )
    fu = (
        base.groupby("episode_id")
        .head(1)
        .assign(week=np.nan, assessment_date=pd.Timestamp("2025-06-20"), total=27)
    )
    gad = base.head(5).assign(instrument="GAD-7")
    tp = base.head(3).assign(timepoint="followup_3m", week=20)
    d = pd.concat([base, fu, gad, tp], ignore_index=True)
    res = trajectories(d, instrument="phq9")
    ref = trajectories(small)
    np.testing.assert_allclose(res.fixed["estimate"], ref.fixed["estimate"], rtol=1e-9)
    ex = res.model_info["excluded"]
    assert ex["after_discharge"] == small["episode_id"].nunique()
    assert ex["follow_up"] == 3 and ex["other_instrument"] == 5
    assert res.model_info["n_obs"] == len(small)
    assert any("follow-up" in n for n in res.notes)


def test_row_order_and_column_case_invariance(small):
    a = trajectories(small)
    shuffled = small.sample(frac=1, random_state=3).rename(
        columns={"episode_id": "Episode ID", "total": "TOTAL"}
    )
    b = trajectories(shuffled)
    np.testing.assert_allclose(a.fixed["estimate"], b.fixed["estimate"], rtol=1e-8)
    np.testing.assert_allclose(a.fixed["se"], b.fixed["se"], rtol=1e-6)


def test_missing_columns_listed_together(small):
    with pytest.raises(DataError) as err:
        trajectories(small.drop(columns=["total", "week"]), group="site")
    msg = str(err.value)
    assert "'total'" in msg and "'week'" in msg and "'site'" in msg and "Columns found" in msg


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"time": "cubic"}, "The 'time' parameter of iop.trajectories must be one of"),
        ({"method": "ols"}, "The 'method' parameter"),
        ({"ci_level": 95}, r"must be a float in the range \(0, 1\)\. Got 95 instead"),
        ({"ci_level": "0.9"}, r"must be a float in the range \(0, 1\)"),
        ({"max_week": -1}, "The 'max_week' parameter"),
        ({"knot": "2"}, "The 'knot' parameter"),
        ({"time": "piecewise", "knot": 40}, "inside the observed weeks"),
        ({"reference": "hybrid"}, "The 'reference' parameter"),
    ],
)
def test_bad_options(small, kw, match):
    with pytest.raises(ConfigError, match=match):
        trajectories(small, **kw)


def test_unknown_instrument_rows(small):
    with pytest.raises(DataError, match=r"no rows for instrument\(s\) \['GAD-7'\]"):
        trajectories(small, instrument="GAD-7")


def test_single_group_and_reference(small):
    one = trajectories(small, group=None)
    assert one.means["group"].unique().tolist() == ["all"]
    assert one.fixed["term"].tolist() == ["Intercept", "week"]
    rev = trajectories(small, reference="virtual")
    assert "format[in_person]" in rev.fixed["term"].tolist()
    assert rev.model_info["reference"] == "virtual"


def test_result_object(fits):
    res = fits["linear"]
    assert isinstance(res, TrajectoryResult)
    assert res.converged and res.model_info["fallback"] == "none"
    assert res.model_info["r_formula"] == "total ~ week * format + (1 + week | episode_id)"
    assert res.model_info["n_episodes"] == 100 and res.model_info["n_obs"] == 689
    s = str(res)
    assert "Fixed effects:" in s and "Method: Linear mixed model (REML" in s
    assert "<table" in res._repr_html_()
    assert list(res.to_frame("means").columns[:3]) == ["week", "group", "estimate"]
    with pytest.raises(ConfigError):
        res.to_frame("nope")
    assert res.to_frame().equals(res.fixed)


def test_public_name():
    assert iop.trajectories is trajectories


# ------------------------------------------------------------------ convergence fallback


def test_fallback_when_fits_fail(monkeypatch):
    from statsmodels.regression.mixed_linear_model import MixedLM

    small = _example_data(n_episodes=12)

    orig = MixedLM.fit

    def failing_fit(self, *args, **kwargs):
        res = orig(self, *args, **kwargs)
        if self.k_re == 2:  # pretend every correlated/uncorrelated slope fit fails
            res.converged = False
        return res

    monkeypatch.setattr(MixedLM, "fit", failing_fit)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = trajectories(small, engine="statsmodels")
    assert res.model_info["random"] == "intercept"
    assert res.model_info["fallback"] == "random='intercept', optimizer='bfgs'"
    assert len(res.model_info["attempts"]) == 7  # 3 optimizers x 2 structures, then success
    assert any("Used random='intercept'" in n for n in res.notes)
    ref = trajectories(small, random="intercept", engine="statsmodels")
    np.testing.assert_allclose(res.fixed["estimate"], ref.fixed["estimate"], rtol=SUMS)


# ------------------------------------------------------------------ early change


def test_early_change_hand_calculation():
    # episode: baseline, week-2, last score; improvement = baseline - score (PHQ-9 lower=better)
    # a: 20,12,10 -> share 8/10 = .8 (early); b: 18,16,8 -> 2/10 = .2;
    # c: 15,10,12 -> 5/3 = 1.67 (early); d: 10,12,14 -> got worse: not in n_used;
    # e: no week-2 score -> not complete
    d = pd.DataFrame(
        {
            "episode_id": list("aaabbbcccdddee"),
            "instrument": "PHQ-9",
            "week": [0, 2, 6, 0, 2, 5, 0, 2, 4, 0, 2, 7, 0, 6],
            "total": [20, 12, 10, 18, 16, 8, 15, 10, 12, 10, 12, 14, 20, 5],
            "format": ["x"] * 6 + ["y"] * 8,
        }
    )
    t = early_change(d).to_frame().set_index("group")
    assert t.loc["x", ["n", "n_complete", "n_used", "n_early"]].tolist() == [2, 2, 2, 1]
    assert t.loc["y", ["n", "n_complete", "n_used", "n_early"]].tolist() == [3, 2, 1, 1]
    assert t.loc["x", "estimate"] == 0.5
    assert t.loc["x", "share_of_change"] == pytest.approx((8 + 2) / 2 / ((10 + 10) / 2))
    # y: complete c and d: early (5 + -2)/2 = 1.5; total (3 + -4)/2 = -0.5
    assert t.loc["y", "share_of_change"] == pytest.approx(1.5 / -0.5)
    assert t.loc["x", "median_share"] == pytest.approx(0.5)
    from iop_outcomes._stats import wilson_ci

    lo, hi = wilson_ci(1, 2)
    assert t.loc["x", "ci_low"] == pytest.approx(float(lo))


def test_early_change_direction_higher_is_better():
    d = pd.DataFrame(
        {"episode_id": ["a"] * 3, "week": [0, 2, 6], "total": [10, 20, 30], "instrument": "X"}
    )
    t = early_change(d, instrument=None, group=None, better_is="higher").to_frame()
    assert t.loc[0, "n_used"] == 1 and t.loc[0, "estimate"] == 1.0
    assert t.loc[0, "share_of_change"] == pytest.approx(0.5)


def test_early_change_bad_week():
    with pytest.raises(
        ConfigError, match=r"The 'week' parameter of iop.early_change must be an int"
    ):
        early_change(_example_data(), week=0)


# ------------------------------------------------------------------ plots


def test_plot_trajectories_model_and_observed(fits):
    fig, ax = plt.subplots()
    out = fits["linear"].plot(ax=ax)
    assert out is ax
    assert len(ax.get_lines()) == 2  # one model line per group
    assert len(ax.collections) == 4  # 2 CI bands + 2 observed scatters
    x, y = ax.get_lines()[0].get_data()
    m = fits["linear"].means.query("group == 'in_person'")
    np.testing.assert_allclose(y, m["estimate"])
    plt.close(fig)


def test_plots_read_results_and_never_refit(small):
    # issue 13: plots take the result; assessment rows or analysis options raise ConfigError
    with pytest.raises(ConfigError, match="must be a TrajectoryResult .* DataFrame of shape"):
        plot_trajectories(small)
    with pytest.raises(ConfigError, match="must be a TrajectoryResult"):
        plot_individual_trajectories(small)
    with pytest.raises(ConfigError, match="must be an EarlyChangeResult"):
        plot_early_change(small)
    res = trajectories(small)
    with pytest.raises(ConfigError, match="no parameter 'instrument'.*iop.trajectories"):
        plot_trajectories(res, instrument="PHQ-9")
    with pytest.raises(TypeError):
        plot_trajectories(res, None)  # ax is keyword-only
    plt.close("all")


def test_plot_individual_is_seeded(small):
    res = trajectories(small)
    a = plot_individual_trajectories(res, n=8, seed=4, mean=False)
    b = plot_individual_trajectories(res, n=8, seed=4, mean=False)
    ya = [tuple(line.get_ydata()) for line in a.get_lines()]
    yb = [tuple(line.get_ydata()) for line in b.get_lines()]
    assert len(ya) == 8 and ya == yb
    with_mean = plot_individual_trajectories(res, n=8, seed=4)
    assert len(with_mean.get_lines()) == 10
    # the curves are the rows the model was fitted on
    chosen = small[small["episode_id"] == small["episode_id"].iloc[0]]
    assert res.rows["episode_id"].nunique() == small["episode_id"].nunique()
    assert len(res.rows) == res.model_info["n_obs"]
    assert chosen["total"].tolist() == (
        res.rows.query("episode_id == @chosen.episode_id.iloc[0]")["total"].tolist()
    )
    plt.close("all")


def test_plot_early_change(small):
    res = early_change(small)
    ax = plot_early_change(res)
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, res.table["estimate"])
    plt.close(ax.figure)


def test_missing_episode_id_excluded_and_site_nesting(small):
    d = small.copy()
    d.loc[d.index[:3], "episode_id"] = None
    res = trajectories(d, group=None)
    assert res.model_info["excluded"]["missing_episode_id"] == 3
    bad = small.assign(site=np.where(small["week"] < 3, "A", "B"))
    with pytest.raises(DataError, match="nested in sites"):
        trajectories(bad, site="site")


def test_categorical_reference_week_is_first_observed(small):
    # no week-0 scores: the reference (intercept) is the first observed week
    res = trajectories(small[small["week"] >= 1], time="categorical", group=None)
    assert res.fixed["term"].tolist()[:2] == ["Intercept", "week[2]"]
    assert res.means["week"].min() == 1


def test_vectorized_engine_rejects_site(sim):
    with pytest.raises(ConfigError, match="'engine' parameter"):
        trajectories(sim, site="site", engine="vectorized")


def test_vectorized_fallback_when_fit_fails(small, monkeypatch):
    import sys

    mod = sys.modules["iop_outcomes._trajectories.mixed"]
    orig = mod._reml_profile

    def broken(theta, S, structure, full=False, grad=False):
        if structure == "slope" and not full:
            return (np.nan, np.full(len(theta), np.nan)) if grad else np.nan
        return orig(theta, S, structure, full, grad)

    monkeypatch.setattr(mod, "_reml_profile", broken)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = trajectories(small, engine="vectorized")
    assert res.model_info["random"] == "uncorrelated"
    ref = trajectories(small, engine="vectorized", random="uncorrelated")
    np.testing.assert_allclose(res.fixed["estimate"], ref.fixed["estimate"], rtol=SUMS)


@pytest.mark.parametrize("engine", ["statsmodels", "vectorized"])
def test_singular_fit_matches_lme4_and_is_flagged(engine):
    d = pd.read_csv(REF / "sim_singular.csv")
    with pytest.warns(ConvergenceWarning, match="Boundary \\(singular\\) fit"):
        res = trajectories(d, engine=engine)
    assert res.model_info["singular"] and res.model_info["fallback"] == "none"
    ref = pd.read_csv(REF / "lme4_fixed.csv").query("model == 'singular'").set_index("term")
    got = res.fixed.set_index("term").loc[ref.index]
    assert np.all(np.abs(got["estimate"] - ref["estimate"]) <= RTOL * ref["se"])
    np.testing.assert_allclose(got["se"], ref["se"], rtol=RTOL)
    vc = pd.read_csv(REF / "lme4_varcorr.csv").query("model == 'singular'")
    var = res.variance.set_index("term")
    np.testing.assert_allclose(var.loc["Intercept", "variance"], vc["vcov"].iloc[0], rtol=RTOL)
    np.testing.assert_allclose(var.loc["", "variance"], vc["vcov"].iloc[3], rtol=RTOL)
    # on the boundary the slope variance is poorly determined: absolute tolerance
    assert var.loc["week", "variance"] == pytest.approx(vc["vcov"].iloc[1], abs=1e-5)
    assert var.loc["Intercept:week", "corr"] == pytest.approx(-1.0, abs=1e-6)
    ll = pd.read_csv(REF / "lme4_loglik.csv").set_index("model").loc["singular", "reml_loglik"]
    assert res.model_info["loglik"] == pytest.approx(ll, abs=1e-6)


def test_intake_scores_shortly_before_admission_count_as_week_zero():
    # an intake score 3 days before admission is the week-0 score (baseline window); one 20 days
    # before is not in-treatment data
    import pandas as pd

    import iop_outcomes as iop

    rows = []
    for i in range(40):
        admit = pd.Timestamp("2025-01-10")
        for days, y in [(-3, 18 - i % 5), (7, 15), (14, 13), (21, 11 + i % 3)]:
            rows.append(
                {
                    "episode_id": f"e{i}",
                    "instrument": "PHQ-9",
                    "total": float(y),
                    "assessment_date": admit + pd.Timedelta(days=days),
                    "admit_date": admit,
                    "format": "virtual" if i % 2 else "in_person",
                }
            )
    d = pd.DataFrame(rows)
    res = iop.trajectories(d, time="categorical")
    assert res.model_info["n_excluded"] == 0 and res.model_info["n_obs"] == 160
    early = d.copy()
    early.loc[early["assessment_date"] < early["admit_date"], "assessment_date"] -= pd.Timedelta(
        days=17
    )
    res2 = iop.trajectories(early, time="categorical")
    assert res2.model_info["excluded"]["before_admission"] == 40


# ------------------------------------------- the vectorized REML fitter (issue 12)


def _fitter_inputs(d, time="linear", knot=2):
    """(df, y, X, starts) as trajectories() hands them to the vectorized fitter."""
    import sys

    mod = sys.modules["iop_outcomes._trajectories.api"]
    seen = {}
    orig = mod.fit_vectorized

    def spy(df, y, X, random, starts, optimizer="l-bfgs-b"):
        seen.update(df=df, y=y, X=X, starts=starts)
        return orig(df, y, X, random, starts, optimizer)

    mod.fit_vectorized = spy
    try:
        trajectories(d, instrument="PHQ-9", engine="vectorized", time=time, knot=knot)
    finally:
        mod.fit_vectorized = orig
    return seen["df"], seen["y"], seen["X"], seen["starts"]


def _suff(sim, structure):
    from iop_outcomes._trajectories.mixed import _reml_suff

    df, y, X, starts = _fitter_inputs(sim)
    week = df["week"].to_numpy(float)
    Z = np.ones((len(df), 1)) if structure == "intercept" else np.column_stack([week * 0 + 1, week])
    return _reml_suff(y, X, Z, starts), X, Z, starts


@pytest.mark.parametrize(
    ("structure", "theta"),
    [
        ("slope", [0.8, -0.1, 0.3]),
        ("slope", [1.5, 0.05, 0.0]),  # on the boundary (slope variance 0)
        ("slope", [-0.7, 0.2, -0.4]),  # a column of Λ with negative sign (same ΛΛ')
        ("uncorrelated", [0.8, 0.3]),
        ("intercept", [0.7]),
    ],
)
def test_reml_gradient_equals_central_differences(sim, structure, theta):
    # the analytic gradient of the profiled REML deviance against central differences of the
    # deviance itself (step 1e-6: truncation error ~1e-12, rounding ~1e-16·|d|/1e-6 ~ 1e-7)
    from iop_outcomes._trajectories.mixed import _reml_profile

    S, *_ = _suff(sim, structure)
    theta = np.asarray(theta, float)
    f, g = _reml_profile(theta, S, structure, grad=True)
    assert f == _reml_profile(theta, S, structure)
    h = 1e-6
    num = np.array(
        [
            (
                _reml_profile(theta + h * e, S, structure)
                - _reml_profile(theta - h * e, S, structure)
            )
            / (2 * h)
            for e in np.eye(len(theta))
        ]
    )
    np.testing.assert_allclose(g, num, rtol=0, atol=1e-6 * np.max(np.abs(num)))


def test_deviance_is_even_in_each_column_of_lambda(sim):
    # why the fitter may search θ unbounded: ΛΛ' (so the deviance) ignores a column's sign
    from iop_outcomes._trajectories.mixed import _canonical_theta, _reml_profile

    S, *_ = _suff(sim, "slope")
    theta = np.array([0.9, -0.2, 0.35])
    f = _reml_profile(theta, S, "slope")
    for t in ([-0.9, 0.2, 0.35], [0.9, -0.2, -0.35], [-0.9, 0.2, -0.35]):
        assert _reml_profile(np.array(t), S, "slope") == pytest.approx(f, rel=SUMS)
        np.testing.assert_array_equal(_canonical_theta(np.array(t), "slope"), theta)


@pytest.mark.parametrize("structure", ["slope", "uncorrelated", "intercept"])
def test_profiled_vcov_equals_woodbury_gls_cov(sim, structure):
    # (X'V⁻¹X)⁻¹ two ways: σ²(X'H⁻¹X)⁻¹ from the profiled fit's sums, and _gls_cov's
    # per-episode Woodbury solve from D and σ² (lme4's vcov, checked against R in
    # test_fixed_effects_match_lme4)
    from iop_outcomes._trajectories.mixed import fit_vectorized as _fit_vectorized
    from iop_outcomes._trajectories.mixed import gls_cov as _gls_cov

    df, y, X, starts = _fitter_inputs(sim)
    fit, used, _, _ = _fit_vectorized(df, y, X, structure, starts)
    assert used == structure
    ref = _gls_cov(X, fit["Z"], starts, fit["D"], fit["scale"])
    np.testing.assert_allclose(fit["vcov"], ref, rtol=SUMS, atol=0)


def _both_optimizers(d, time="linear", knot=2):
    from iop_outcomes._trajectories.mixed import fit_vectorized as _fit_vectorized

    df, y, X, starts = _fitter_inputs(d, time, knot)
    return [_fit_vectorized(df, y, X, "slope", starts, opt) for opt in ("l-bfgs-b", "nelder-mead")]


def _assert_same_fit(new, old, var_rtol):
    (a, ra, la, _), (b, rb, lb, _) = new, old
    assert ra == rb == "slope"
    assert la.startswith("l-bfgs-b") and lb.startswith("nelder-mead")
    np.testing.assert_allclose(a["beta"], b["beta"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(a["vcov"])), np.sqrt(np.diag(b["vcov"])), rtol=1e-6)
    assert a["llf"] == pytest.approx(b["llf"], abs=1e-6)
    assert a["llf"] >= b["llf"] - 1e-6
    np.testing.assert_allclose(a["D"], b["D"], rtol=var_rtol, atol=var_rtol * np.max(b["D"]))
    assert a["scale"] == pytest.approx(b["scale"], rel=var_rtol)
    # the gradient method needs far fewer deviance evaluations (deterministic counts)
    assert a["nfev"] <= 40 < 150 <= b["nfev"]


@pytest.mark.parametrize("name", ["linear", "quadratic", "piecewise", "categorical"])
def test_quasi_newton_equals_nelder_mead_on_reference_data(sim, name):
    # the fitter before issue 12 (Nelder-Mead) and now (L-BFGS-B + Newton) on the lme4 data:
    # fixed effects, SEs and log-likelihood to 1e-6. Nelder-Mead stops where deviance
    # differences drown in rounding (|Δd| ~ 1e-12·|d|), so its variance components are only
    # good to a few 1e-6 relative; the new ones agree with statsmodels' strict BFGS to 2e-7
    # (next test) and with lme4 (test_variance_components_match_lme4)
    time = name
    _assert_same_fit(*_both_optimizers(sim, time), var_rtol=1e-5)


def test_vectorized_equals_statsmodels_to_1e6(all_fits):
    # two independent REML implementations (profiled lme4 criterion with an analytic
    # gradient; statsmodels MixedLM with BFGS at gradient tolerance 1e-8) on the lme4 data
    for name in SPECS:
        if name == "site":
            continue
        a, b = all_fits[(name, "vectorized")], all_fits[(name, "statsmodels")]
        np.testing.assert_allclose(a.fixed["estimate"], b.fixed["estimate"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(a.fixed["se"], b.fixed["se"], rtol=1e-6)
        np.testing.assert_allclose(a.variance["variance"], b.variance["variance"], rtol=1e-6)
        assert a.model_info["loglik"] == pytest.approx(b.model_info["loglik"], abs=1e-6)


@pytest.fixture(scope="module")
def synth_1k():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(iop.synth.generate(n_episodes=1000, seed=4).data).data


@pytest.mark.parametrize("time", ["linear", "categorical"])
def test_quasi_newton_equals_nelder_mead_on_synthetic_cohort(synth_1k, time):
    # 1,000 synthetic episodes (iop.synth, seed 4): as on the reference data; 10,000 and
    # more are compared in bench/bench_fits.py (bench/RESULTS.md, "Model fits")
    _assert_same_fit(*_both_optimizers(synth_1k, time), var_rtol=1e-5)


def test_quasi_newton_failure_falls_back_to_nelder_mead(sim, monkeypatch):
    import sys

    mod = sys.modules["iop_outcomes._trajectories.mixed"]

    def fails(x0, S, structure, fatol):
        return np.asarray(x0, float), np.inf, False, 1, "forced failure"

    monkeypatch.setattr(mod, "_quasi_newton", fails)
    res = trajectories(sim, engine="vectorized")
    assert res.model_info["optimizer"] == "nelder-mead (vectorized REML)"
    assert res.model_info["fallback"] == "none"
    ref = pd.read_csv(REF / "lme4_fixed.csv").query("model == 'linear'").set_index("term")
    got = res.fixed.set_index("term").loc[ref.index]
    assert np.all(np.abs(got["estimate"] - ref["estimate"]) <= RTOL * ref["se"])


# ------------------------------------------------------------------ issue 13: the vocabulary


@pytest.mark.parametrize("func", [trajectories, early_change])
def test_old_keyword_data_names_assessments(small, func):
    with pytest.raises(ConfigError, match="no parameter 'data'; it is now called 'assessments'"):
        func(data=small)


@pytest.mark.parametrize("func", [trajectories, early_change])
def test_instrument_rule_on_two_instruments(small, func):
    two = pd.concat([small, small.assign(instrument="GAD-7")], ignore_index=True)
    with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
        func(two)
    # naming one gives the one-instrument result (the GAD-7 rows counted as excluded)
    a, b = func(two, instrument="PHQ-9"), func(small)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_reference_defaults_to_first_category_else_sorted(small):
    # rule 2 (docs/api.md): reference=None is the first level in categorical order
    cat = small.assign(format=pd.Categorical(small["format"], ["virtual", "in_person"]))
    res = trajectories(cat)
    assert res.model_info["reference"] == "virtual"
    assert "format[in_person]" in res.fixed["term"].tolist()
    assert trajectories(small).model_info["reference"] == "in_person"  # sorted order
    ec = early_change(small, reference="virtual").to_frame()
    assert ec["group"].tolist() == ["virtual", "in_person"]
    with pytest.raises(ConfigError, match="The 'reference' parameter of iop.early_change"):
        early_change(small, reference="hybrid")
