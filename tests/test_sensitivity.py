"""Tests for iop_outcomes.sensitivity (missing-data sensitivity) and its forest plot.

Reference values: hand calculations written out below; R ``mice::pool`` / ``pool.scalar``
(mice 3.15.0) for Rubin's rules and R ``lme4`` (1.1-31) for the mixed model, fixtures in
tests/reference/sensitivity/ with the scripts that made them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._sensitivity import ASSUMPTIONS, rubin_pool
from iop_outcomes.exceptions import ConfigError, DataError

REF = Path(__file__).parent / "reference" / "sensitivity"


def _row(res, method, estimand="mean change", contrast=None):
    t = res.table
    sel = (t["method"] == method) & (t["estimand"] == estimand)
    if contrast is not None:
        sel &= t["contrast"] == contrast
    assert sel.sum() == 1
    return t[sel].iloc[0]


# ----------------------------------------------------------------------------------------
# Rubin's rules
# ----------------------------------------------------------------------------------------
def test_rubin_hand_calculation():
    # Q = 1, 2, 3; U = 1, 1, 1 (m = 3)
    # Qbar = 2; Ubar = 1; B = ((1-2)^2 + 0 + (3-2)^2) / 2 = 1; T = 1 + (1 + 1/3) * 1 = 7/3
    # r = (4/3) / 1 = 4/3; lambda = (4/3) / (7/3) = 4/7; nu_old = 2 / (4/7)^2 = 6.125
    # dfcom = 10: nu_obs = 11/13 * 10 * (1 - 4/7) = 330/91 = 3.626374
    #             nu = 6.125 * 3.626374 / (6.125 + 3.626374) = 22.211538 / 9.751374 = 2.277786
    r = rubin_pool([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert r.estimate[0] == pytest.approx(2.0)
    assert r.t[0] == pytest.approx(7 / 3)
    assert r.se[0] == pytest.approx(np.sqrt(7 / 3))
    assert r.riv[0] == pytest.approx(4 / 3)
    assert r["lambda"][0] == pytest.approx(4 / 7)
    assert r.df[0] == pytest.approx(6.125)
    r10 = rubin_pool([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], dfcom=10)
    assert r10.df[0] == pytest.approx(6.125 * (330 / 91) / (6.125 + 330 / 91))
    assert r10.df[0] == pytest.approx(2.277786, abs=1e-6)


@pytest.mark.parametrize("case", ["A", "B", "C"])
def test_rubin_matches_mice_pool_scalar(case):
    inp = pd.read_csv(REF / "rubin_scalar_inputs.csv")
    ref = pd.read_csv(REF / "rubin_scalar.csv").set_index("case").loc[case]
    x = inp[inp["case"] == case]
    r = rubin_pool(x["Q"], x["U"], dfcom=float(ref["dfcom"])).iloc[0]
    for ours, theirs in [
        ("estimate", "qbar"),
        ("ubar", "ubar"),
        ("b", "b"),
        ("t", "t"),
        ("df", "df"),
        ("riv", "riv"),
        ("lambda", "lambda"),
        ("fmi", "fmi"),
    ]:
        assert r[ours] == pytest.approx(ref[theirs], rel=1e-9), ours


def test_rubin_matches_mice_pool_lm():
    fits = pd.read_csv(REF / "rubin_lm_fits.csv")
    ref = pd.read_csv(REF / "rubin_lm_pool.csv").set_index("term")
    q = fits.pivot(index="imputation", columns="term", values="estimate")[ref.index]
    u = fits.pivot(index="imputation", columns="term", values="variance")[ref.index]
    r = rubin_pool(q.to_numpy(), u.to_numpy(), dfcom=ref["dfcom"].to_numpy())
    r.index = ref.index
    for col in ["estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi", "se"]:
        np.testing.assert_allclose(r[col], ref[col], rtol=1e-9, err_msg=col)
    np.testing.assert_allclose(r["ci_low"], ref["ci_low"], rtol=1e-9)
    np.testing.assert_allclose(r["ci_high"], ref["ci_high"], rtol=1e-9)
    np.testing.assert_allclose(r["pvalue"], ref["pvalue"], rtol=1e-7)


def test_rubin_input_errors():
    with pytest.raises(ConfigError, match="at least 2 imputations"):
        rubin_pool([1.0], [1.0])
    with pytest.raises(ConfigError, match="shape"):
        rubin_pool([1.0, 2.0], [1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------------------
# Single-imputation methods on an episode table (hand calculations)
# ----------------------------------------------------------------------------------------
@pytest.fixture
def tiny():
    return pd.DataFrame(
        {
            "episode_id": range(8),
            "baseline": [18, 16, 20, 15, 17, 19, 14, 21],
            "endpoint": [10, np.nan, 12, 9, np.nan, 11, 8, 15],
            "format": ["in_person", "virtual"] * 4,
        }
    )


def test_completers_and_bocf_by_hand(tiny):
    res = iop.missing_data_sensitivity(tiny, methods=("completers", "bocf"))
    # completers: changes -8, -8, -6, -8, -6, -6 -> mean -7; SS = 6, var = 1.2,
    # se = sqrt(1.2 / 6) = 0.447214; t(5, .975) = 2.570582 -> -7 -/+ 1.149600
    c = _row(res, "completers")
    assert c.estimate == pytest.approx(-7.0)
    assert c.se == pytest.approx(np.sqrt(0.2))
    assert c.ci_low == pytest.approx(-7 - 2.570582 * np.sqrt(0.2), abs=1e-6)
    assert c.ci_high == pytest.approx(-7 + 2.570582 * np.sqrt(0.2), abs=1e-6)
    assert (c.n_used, c.df, c.n_missing) == (6, 5, 2)
    # difference virtual - in_person among completers: in_person -8, -8, -6 (mean -22/3),
    # virtual -6, -8, -6 (mean -20/3) -> 2/3; SS 8/3 + 8/3, s2 = (16/3) / 4 = 4/3,
    # se = sqrt(4/3 * (1/3 + 1/3)) = 0.942809, df 4
    d = _row(res, "completers", "difference in mean change")
    assert d.contrast == "virtual − in_person"
    assert d.estimate == pytest.approx(2 / 3)
    assert d.se == pytest.approx(np.sqrt(8 / 9))
    assert d.df == 4
    # BOCF: changes -8, 0, -8, -6, 0, -8, -6, -6 -> mean -5.25, SS 79.5, var 79.5/7,
    # se = sqrt(79.5 / 7 / 8) = 1.191486; difference: in_person -5.5, virtual -5 -> 0.5
    b = _row(res, "bocf")
    assert b.estimate == pytest.approx(-5.25)
    assert b.se == pytest.approx(np.sqrt(79.5 / 56))
    assert b.n_used == 8
    assert _row(res, "bocf", "difference in mean change").estimate == pytest.approx(0.5)


def test_assumptions_printed(tiny):
    res = iop.missing_data_sensitivity(
        tiny, methods=("completers", "bocf", "mi"), seed=1, n_imputations=3
    )
    text = str(res)
    assert "Assumptions:" in text
    for m in ("completers", "bocf", "mi"):
        assert ASSUMPTIONS[m] in text
        assert (res.table.loc[res.table.method == m, "assumption"] == ASSUMPTIONS[m]).all()
    assert "Completers only" in text and "Multiple imputation" in text
    assert "Assumptions" in res._repr_html_()
    frame = res.to_frame()
    for col in ["estimate", "se", "ci_low", "ci_high", "n_used", "method", "assumption"]:
        assert col in frame.columns
    assert frame["estimate"].dtype.kind == "f"


def test_row_order_invariance(tiny):
    kw = dict(methods=("completers", "bocf", "mi"), seed=5, n_imputations=4)
    a = iop.missing_data_sensitivity(tiny, **kw).table
    b = iop.missing_data_sensitivity(tiny.sample(frac=1, random_state=3), **kw).table
    pd.testing.assert_frame_equal(a, b)


def test_headline_only_without_group(tiny):
    res = iop.missing_data_sensitivity(tiny, group=None, methods=("completers", "bocf"))
    assert list(res.table["estimand"]) == ["mean change", "mean change"]


def test_baseline_adjusted_difference_matches_statsmodels_ols(tiny):
    # ANCOVA: change ~ C(format) + baseline, fitted independently by statsmodels' OLS
    import statsmodels.formula.api as smf

    res = iop.missing_data_sensitivity(tiny, methods=("completers", "bocf"), adjust=True)
    cc = tiny.dropna().assign(change=lambda x: x.endpoint - x.baseline)
    ols = smf.ols("change ~ C(format) + baseline", cc).fit()
    term = "C(format)[T.virtual]"
    d = _row(res, "completers", "difference in mean change")
    assert d.estimate == pytest.approx(ols.params[term])
    assert d.se == pytest.approx(ols.bse[term])
    assert d.df == ols.df_resid
    lo, hi = ols.conf_int().loc[term]
    assert (d.ci_low, d.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    bocf = tiny.assign(change=(tiny.endpoint - tiny.baseline).fillna(0))
    ols_b = smf.ols("change ~ C(format) + baseline", bocf).fit()
    assert _row(res, "bocf", "difference in mean change").estimate == pytest.approx(
        ols_b.params[term]
    )
    # the headline change is not adjusted
    assert _row(res, "completers").estimate == pytest.approx(-7.0)
    assert "baseline-adjusted" in res.title


def test_mi_uses_covariates_and_shows_progress(capsys):
    df = _bivariate(n=120, seed=4)
    df["age"] = np.arange(120) % 50 + 18
    df["site"] = np.where(np.arange(120) % 3 == 0, "North", "South")
    res = iop.missing_data_sensitivity(
        df, methods=("mi",), covariates=("age", "site"), n_imputations=3, seed=1, progress=True
    )
    assert any("covariates (age, site_South)" in n for n in res.notes)
    assert "Multiple imputation" in capsys.readouterr().err
    missing_cov = df.assign(age=df["age"].where(df.index != 0))
    res2 = iop.missing_data_sensitivity(
        missing_cov, methods=("completers",), covariates=("age",), progress=False
    )
    assert _row(res2, "completers").n_excluded == 1
    assert any("1 missing covariate" in n for n in res2.notes)


# ----------------------------------------------------------------------------------------
# Assessment rows: LOCF, completed-status rule, episodes built with discharge_only
# ----------------------------------------------------------------------------------------
@pytest.fixture
def small_assessments():
    # E1 completes: 20, 15, 12, discharge 9; E2 drops out after week 2: 18, 17, 14;
    # E3 drops out after intake: 16; E4 completes: 22, 18, 15, discharge 12;
    # E5 drops out after week 1 (virtual): 15, 11; E6 completes (virtual): 19, 16, 13, 10.
    rows = [
        ("E1", "intake", 0, 20),
        ("E1", "week_1", 1, 15),
        ("E1", "week_2", 2, 12),
        ("E1", "discharge", 3, 9),
        ("E2", "intake", 0, 18),
        ("E2", "week_1", 1, 17),
        ("E2", "week_2", 2, 14),
        ("E3", "intake", 0, 16),
        ("E4", "intake", 0, 22),
        ("E4", "week_1", 1, 18),
        ("E4", "week_2", 2, 15),
        ("E4", "discharge", 3, 12),
        ("E5", "intake", 0, 15),
        ("E5", "week_1", 1, 11),
        ("E6", "intake", 0, 19),
        ("E6", "week_1", 1, 16),
        ("E6", "week_2", 2, 13),
        ("E6", "discharge", 3, 10),
    ]
    d = pd.DataFrame(rows, columns=["episode_id", "timepoint", "week", "total"])
    d["instrument"] = "PHQ-9"
    d["week"] = d["week"].astype(float)
    d["total"] = d["total"].astype(float)
    status = {
        "E1": "completed",
        "E2": "dropped_out",
        "E3": "dropped_out",
        "E4": "completed",
        "E5": "dropped_out",
        "E6": "completed",
    }
    d["discharge_status"] = d["episode_id"].map(status)
    d["format"] = np.where(d["episode_id"].isin(["E5", "E6"]), "virtual", "in_person")
    return d


def test_locf_by_hand(small_assessments):
    res = iop.missing_data_sensitivity(small_assessments, methods=("completers", "locf", "bocf"))
    # completers E1, E4, E6: -11, -10, -9 -> -10
    assert _row(res, "completers").estimate == pytest.approx(-10.0)
    assert _row(res, "completers").n_used == 3
    # LOCF: E2 14 - 18 = -4, E3 (intake only -> baseline) 0, E5 11 - 15 = -4
    # -> (-11 - 4 + 0 - 10 - 4 - 9) / 6 = -38 / 6
    assert _row(res, "locf").estimate == pytest.approx(-38 / 6)
    # BOCF: (-11 - 10 - 9) / 6 = -5
    assert _row(res, "bocf").estimate == pytest.approx(-5.0)
    # LOCF difference virtual - in_person: virtual (-4, -9) -> -6.5;
    # in_person (-11, -4, 0, -10) -> -6.25; difference -0.25
    d = _row(res, "locf", "difference in mean change")
    assert d.estimate == pytest.approx(-0.25)
    assert d.n_used == 6


def test_assessment_roles_built_once_and_shared(small_assessments, monkeypatch):
    # the episode table (discharge endpoint) and the weekly scores come from one roles pass;
    # the numbers equal those of an episode table passed in (roles then built for the weeks)
    import iop_outcomes._episodes as episodes_module

    calls = []
    real = episodes_module._roles  # the roles pass behind assessment_roles and episodes

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(episodes_module, "_roles", counted)
    methods = ("completers", "locf", "bocf")
    res = iop.missing_data_sensitivity(small_assessments, methods=methods)
    assert len(calls) == 1
    ep = iop.episodes(small_assessments, rules=iop.EpisodeRules(endpoint="discharge_only"))
    calls.clear()
    given = iop.missing_data_sensitivity(small_assessments, episodes=ep, methods=methods)
    assert len(calls) == 1  # the weekly scores' own pass
    pd.testing.assert_frame_equal(res.table, given.table)
    # LOCF by hand (test_locf_by_hand): E2 -4, E3 0, E5 -4 with completers -11, -10, -9
    assert _row(res, "locf").estimate == pytest.approx((-11 - 4 + 0 - 10 - 4 - 9) / 6)


def test_dropout_score_near_discharge_is_not_an_endpoint(small_assessments):
    d = small_assessments.copy()
    # E2's last score is labelled 'discharge' although the episode was a dropout
    d.loc[(d.episode_id == "E2") & (d.week == 2), "timepoint"] = "discharge"
    res = iop.missing_data_sensitivity(d, methods=("completers", "locf"))
    assert _row(res, "completers").n_used == 3
    assert _row(res, "locf").estimate == pytest.approx(-38 / 6)
    assert any("not discharged as ['completed']" in n for n in res.notes)
    kept = iop.missing_data_sensitivity(d, methods=("completers",), completed=None)
    # completed=None keeps E2's endpoint: (-11 - 4 - 10 - 9) / 4 = -8.5
    assert _row(kept, "completers").estimate == pytest.approx(-8.5)


def test_last_in_treatment_table_rejected(small_assessments):
    ep = iop.episodes(small_assessments, instrument="PHQ-9")
    assert ep.attrs["rules"]["endpoint"] == "last_in_treatment"
    with pytest.raises(DataError, match="last_in_treatment"):
        iop.missing_data_sensitivity(small_assessments, episodes=ep)


def test_input_errors(tiny, small_assessments):
    with pytest.raises(ConfigError, match="'methods' parameter"):
        iop.missing_data_sensitivity(tiny, methods=("completers", "worst_case"))
    with pytest.raises(ConfigError, match="'reference' parameter"):
        iop.missing_data_sensitivity(tiny, methods=("completers",), reference="hybrid")
    with pytest.raises(DataError, match=r"\['locf'\] need the weekly"):
        iop.missing_data_sensitivity(tiny, methods=("completers", "locf"))
    with pytest.raises(DataError, match=r"needs the column\(s\) \['age'\] in the episode table"):
        iop.missing_data_sensitivity(tiny, methods=("completers",), covariates=("age",))
    with pytest.raises(ConfigError, match="n_imputations"):
        iop.missing_data_sensitivity(tiny, methods=("mi",), n_imputations=1)
    with pytest.raises(ConfigError, match="must be a pandas DataFrame or an instance of"):
        iop.missing_data_sensitivity([1, 2, 3])


# ----------------------------------------------------------------------------------------
# Multiple imputation
# ----------------------------------------------------------------------------------------
def _bivariate(n=400, seed=11):
    """Baseline complete, endpoint missing at random given baseline (monotone)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(16, 5, n)
    end = 4 + 0.5 * base + rng.normal(0, 3, n)
    p = 1 / (1 + np.exp(-(-1.0 + 0.25 * (base - 16))))
    end[rng.random(n) < p] = np.nan
    fmt = np.where(rng.random(n) < 0.5, "in_person", "virtual")
    return pd.DataFrame({"episode_id": range(n), "baseline": base, "endpoint": end, "format": fmt})


def test_mi_deterministic_and_seeded(tiny):
    kw = dict(methods=("mi",), n_imputations=4)
    a = iop.missing_data_sensitivity(tiny, seed=7, **kw)
    b = iop.missing_data_sensitivity(tiny, seed=7, **kw)
    c = iop.missing_data_sensitivity(tiny, seed=8, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table.estimate, c.table.estimate)
    assert len(a.imputations) == 4 * 2
    # the pooled row is Rubin's rules over the stored completed-data estimates
    imp = a.imputations[a.imputations.parameter == "mean change"]
    pooled = rubin_pool(imp.estimate, imp.variance, dfcom=7)
    assert _row(a, "mi").estimate == pytest.approx(pooled.estimate[0])
    assert _row(a, "mi").se == pytest.approx(pooled.se[0])
    assert _row(a, "mi").df == pytest.approx(pooled.df[0])


def test_mi_without_missing_equals_completers(tiny):
    full = tiny.assign(endpoint=tiny["endpoint"].fillna(tiny["baseline"] - 7))
    res = iop.missing_data_sensitivity(full, methods=("completers", "mi"), seed=1, n_imputations=3)
    for est in ("mean change", "difference in mean change"):
        assert _row(res, "mi", est).estimate == pytest.approx(_row(res, "completers", est).estimate)
        assert _row(res, "mi", est).se == pytest.approx(_row(res, "completers", est).se)
    assert _row(res, "mi").fmi == pytest.approx(2 / (_row(res, "mi").df + 3))


def test_mi_matches_factored_likelihood_estimate():
    # Monotone bivariate normal, MAR given baseline: the ML estimate of the endpoint mean is
    # mu_E = ybar_E,cc + beta_hat * (ybar_0,all - ybar_0,cc) (Little & Rubin 2019, §7.2),
    # and MI with a proper Bayesian regression draw converges to it as m grows.
    df = _bivariate()
    obs = df["endpoint"].notna()
    beta = np.polyfit(df.loc[obs, "baseline"], df.loc[obs, "endpoint"], 1)[0]
    mu_e = df.loc[obs, "endpoint"].mean() + beta * (
        df["baseline"].mean() - df.loc[obs, "baseline"].mean()
    )
    ml_change = mu_e - df["baseline"].mean()
    res = iop.missing_data_sensitivity(df, methods=("completers", "mi"), n_imputations=40, seed=3)
    mi = _row(res, "mi")
    imp = res.imputations[res.imputations.parameter == "mean change"]
    mc_se = imp.estimate.std(ddof=1) / np.sqrt(len(imp))
    assert abs(mi.estimate - ml_change) < 4 * mc_se
    # completers are biased: change = 4 - 0.5 * baseline + e, so the high-baseline episodes
    # that are missing more often have the larger improvements; completers improve less
    assert _row(res, "completers").estimate > ml_change + 0.5
    assert 0 < mi.fmi < 1


def test_mi_non_monotone_pattern_runs_chained_sweeps(weekly_data):
    # completers only, with intermittent missed weeks: a non-monotone pattern, so the
    # chained-equation sweeps run; with every discharge score observed the pooled change
    # equals the completers' change exactly (imputed weeks do not enter the analysis)
    done = weekly_data[weekly_data.discharge_status == "completed"]
    holes = done[~((done.week == 2) & (done.episode_id.str[-1].isin(list("02468"))))]
    res = iop.missing_data_sensitivity(
        holes, methods=("completers", "mi"), n_imputations=3, n_iterations=3, seed=1
    )
    assert _row(res, "mi").estimate == pytest.approx(_row(res, "completers").estimate)
    assert _row(res, "completers").n_missing == 0


def test_mi_matches_r_mice_norm(weekly_data):
    # R mice (method "norm", monotone predictor matrix, m = 500; make_mice.R) on the same
    # data: pooled estimates agree within Monte Carlo error, within-imputation variances
    # closely, total variances within the noise of B.
    ref = pd.read_csv(REF / "mi_mice.csv", comment="#").set_index("quantity")
    m = 200
    res = iop.missing_data_sensitivity(
        weekly_data, methods=("mi",), n_imputations=m, seed=11, progress=False
    )
    imp = res.imputations
    for ours, theirs in [
        ("mean change", "mean change"),
        ("difference: virtual − in_person", "virtual - in_person"),
    ]:
        x = imp[imp.parameter == ours]
        r = ref.loc[theirs]
        mc = np.sqrt(r["mc_se"] ** 2 + x.estimate.var(ddof=1) / m)
        assert abs(x.estimate.mean() - r["estimate"]) < 4 * mc, ours
        assert x.variance.mean() == pytest.approx(r["ubar"], rel=0.03)
        t = x.variance.mean() + (1 + 1 / m) * x.estimate.var(ddof=1)
        assert t == pytest.approx(r["t"], rel=0.12)


# ----------------------------------------------------------------------------------------
# Mixed model against R lme4 (fixture) and the full pipeline on weekly data
# ----------------------------------------------------------------------------------------
def _lme4():
    return pd.read_csv(REF / "mixed_lme4.csv", comment="#").set_index(["model", "quantity"])


@pytest.fixture(scope="module")
def weekly_data():
    return pd.read_csv(REF / "sens_assessments.csv")


@pytest.mark.parametrize(
    "time,covariates,model",
    [
        ("categorical", (), "categorical"),
        ("quadratic", (), "quadratic"),
        ("categorical", ("age",), "categorical+age"),
    ],
)
def test_mixed_matches_lme4(weekly_data, time, covariates, model):
    ref = _lme4().loc[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iop.missing_data_sensitivity(
            weekly_data, methods=("mixed",), time=time, covariates=covariates
        )
    overall = _row(res, "mixed")
    diff = _row(res, "mixed", "difference in mean change")
    assert overall.estimate == pytest.approx(ref.loc["overall", "estimate"], abs=1e-4)
    assert overall.se == pytest.approx(ref.loc["overall", "se"], rel=1e-4)
    assert diff.estimate == pytest.approx(ref.loc["diff", "estimate"], abs=1e-4)
    assert diff.se == pytest.approx(ref.loc["diff", "se"], rel=1e-4)
    assert overall.n_used == 120
    if model == "categorical":
        # same model as iop.trajectories(time="categorical"): its change() must agree
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr = iop.trajectories(
                weekly_data, group="format", time="categorical", reference="in_person"
            )
        ch = tr.change(week=6).to_frame().set_index("group")
        assert diff.estimate == pytest.approx(ch.loc["virtual - in_person", "estimate"], abs=1e-4)
        assert diff.se == pytest.approx(ch.loc["virtual - in_person", "se"], rel=1e-3)


@pytest.mark.parametrize("time,covariates", [("quadratic", ()), ("categorical", ("age",))])
def test_mixed_vectorized_equals_statsmodels(weekly_data, time, covariates, monkeypatch):
    # the vectorized profiled REML (analytic gradient, vcov σ²(X'H⁻¹X)⁻¹ from its own sums)
    # against statsmodels MixedLM (BFGS to gradient 1e-8) with the Woodbury (X'V⁻¹X)⁻¹, the
    # path before issue 12, kept as engine="statsmodels" for this check
    import functools
    import sys

    mod = sys.modules["iop_outcomes._sensitivity.api"]
    kw = dict(methods=("mixed",), time=time, covariates=covariates)
    new = iop.missing_data_sensitivity(weekly_data, **kw).table
    monkeypatch.setattr(
        mod, "mixed_change", functools.partial(mod.mixed_change, engine="statsmodels")
    )
    old = iop.missing_data_sensitivity(weekly_data, **kw).table
    assert len(new) == len(old) == 2
    np.testing.assert_allclose(new["estimate"], old["estimate"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(new["se"], old["se"], rtol=1e-6)
    np.testing.assert_allclose(new["ci_low"], old["ci_low"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("time,covariates", [("categorical", ()), ("quadratic", ("age",))])
def test_mixed_design_by_blocks_equals_the_whole_design(weekly_data, time, covariates, monkeypatch):
    # the mixed model's design is built by blocks of whole episodes (never held whole at
    # scale), its REML algebra too; blocks of at most 50 rows (a few episodes each) and of 7
    # episodes give the same fit as one block
    from iop_outcomes._trajectories import mixed

    kw = dict(methods=("mixed",), time=time, covariates=covariates)
    whole = iop.missing_data_sensitivity(weekly_data, **kw).table
    used, blocks = [], mixed._blocks

    def counted(*args):
        for b in blocks(*args):
            used.append(b[1] - b[0])
            yield b

    monkeypatch.setattr(mixed, "BLOCK_ROWS", 50)
    monkeypatch.setattr(mixed, "EPISODE_BLOCK", 7)  # and the REML algebra by 7 episodes
    monkeypatch.setattr(mixed, "_blocks", counted)
    parts = iop.missing_data_sensitivity(weekly_data, **kw).table
    assert len(used) > 5 and max(used) <= 50
    for c in ("estimate", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(parts[c], whole[c], rtol=1e-10, atol=1e-10)


def test_full_pipeline_on_weekly_data(weekly_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iop.missing_data_sensitivity(
            weekly_data,
            methods=("completers", "locf", "bocf", "mi", "mixed"),
            n_imputations=5,
            seed=2,
        )
    t = res.table
    assert list(t["method"][:5]) == ["completers", "locf", "bocf", "mi", "mixed"]
    assert len(t) == 10
    n_complete = weekly_data.loc[weekly_data.timepoint == "discharge", "episode_id"].nunique()
    assert _row(res, "completers").n_used == n_complete
    assert (t["n_missing"] == 120 - n_complete).all()
    # MAR dropout of high scorers: completers look better than MI; BOCF is the most
    # conservative
    assert _row(res, "bocf").estimate > _row(res, "locf").estimate > _row(res, "mi").estimate
    assert (t["ci_low"] < t["estimate"]).all() and (t["estimate"] < t["ci_high"]).all()
    assert any("endpoint week W = 6" in n for n in res.notes)


# ----------------------------------------------------------------------------------------
# Plot
# ----------------------------------------------------------------------------------------
def test_plot_structure(tiny):
    import matplotlib.pyplot as plt

    from iop_outcomes.plots.sensitivity import plot_sensitivity

    res = iop.missing_data_sensitivity(
        tiny, methods=("completers", "bocf", "mi"), seed=1, n_imputations=3
    )
    ax = plot_sensitivity(res)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Completers only", "BOCF", "Multiple imputation"] * 2
    assert len(ax.lines) == 2 * 6 + 1  # CI segment + point per row, zero line
    fig, ax2 = plt.subplots()
    assert res.plot(estimand="mean change", ax=ax2) is ax2
    assert len(ax2.get_yticklabels()) == 3
    with pytest.raises(ConfigError, match="estimand"):
        plot_sensitivity(res, estimand="median")
    plt.close("all")


def test_load_result_and_other_instrument():
    # end-to-end on synthetic data through iop.load (LoadResult accepted as data)
    sim = iop.synth.generate(n_episodes=60, seed=5, planned_weeks=(6,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(sim.data)
    res = iop.missing_data_sensitivity(
        loaded,
        instrument="GAD-7",
        group=None,
        methods=("completers", "locf", "mi"),
        n_imputations=3,
        seed=1,
        progress=False,
    )
    assert res.title.startswith("Missing-data sensitivity: GAD-7")
    status = sim.truth.episodes.set_index("episode_id")["discharge_status"]
    assert _row(res, "completers").n_used <= int((status == "completed").sum())
    assert _row(res, "locf").n_used == _row(res, "mi").n_used


def test_label_endpoint_rules(small_assessments):
    # a label endpoint with a last_in_treatment fallback carries dropouts forward: rejected
    fallback = {"baseline": "label:intake", "endpoint": "label:discharge else last_in_treatment"}
    ep = iop.episodes(small_assessments, instrument="PHQ-9", rules=fallback)
    with pytest.raises(DataError, match="'label:discharge else last_in_treatment' endpoint"):
        iop.missing_data_sensitivity(small_assessments, episodes=ep)
    # the discharge label alone is a discharge score: completers are E1, E4, E6
    strict = {"baseline": "label:intake", "endpoint": "label:discharge"}
    ep = iop.episodes(small_assessments, instrument="PHQ-9", rules=strict)
    res = iop.missing_data_sensitivity(
        small_assessments, episodes=ep, methods=("completers", "locf")
    )
    assert _row(res, "completers").n_used == 3
    assert any("'label:discharge' endpoint rule" in n for n in res.notes)
    same = iop.missing_data_sensitivity(small_assessments, methods=("completers", "locf"))
    assert _row(res, "completers").estimate == pytest.approx(_row(same, "completers").estimate)
    assert _row(res, "locf").estimate == pytest.approx(_row(same, "locf").estimate)


# ----------------------------------------------------------------------------------------
# Issue 13: one vocabulary
# ----------------------------------------------------------------------------------------
def test_old_keyword_data_names_assessments(tiny):
    with pytest.raises(ConfigError, match="no parameter 'data'; it is now called 'assessments'"):
        iop.missing_data_sensitivity(data=tiny)


def test_instrument_rule_on_two_instruments(small_assessments):
    two = pd.concat(
        [small_assessments, small_assessments.assign(instrument="GAD-7")], ignore_index=True
    )
    kw = dict(methods=("completers", "locf"))
    with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
        iop.missing_data_sensitivity(two, **kw)
    a = iop.missing_data_sensitivity(two, instrument="PHQ-9", **kw)
    b = iop.missing_data_sensitivity(small_assessments, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.title == b.title and a.title.startswith("Missing-data sensitivity: PHQ-9 change")
    # an episode table of two instruments: the same rule
    eps = pd.DataFrame(
        {
            "episode_id": [1, 2, 3, 1, 2, 3],
            "instrument": ["PHQ-9"] * 3 + ["GAD-7"] * 3,
            "baseline": [18, 16, 20, 12, 11, 14],
            "endpoint": [10, np.nan, 12, 8, 9, np.nan],
        }
    )
    with pytest.raises(ConfigError, match="instrument=None asks for exactly one"):
        iop.missing_data_sensitivity(eps, group=None, methods=("completers",))
    one = iop.missing_data_sensitivity(eps, instrument="GAD-7", group=None, methods=("bocf",))
    assert _row(one, "bocf").estimate == pytest.approx((-4 - 2 + 0) / 3)


def test_bad_values_raise_the_template(tiny):
    for kw, match in [
        ({"ci_level": "0.9"}, r"'ci_level' parameter of iop.missing_data_sensitivity must be"),
        ({"completed": "completed"}, "'completed' parameter"),
        ({"time": "cubic"}, "'time' parameter"),
        ({"adjust": "yes"}, "'adjust' parameter"),
        ({"group": 3}, "'group' parameter"),
    ]:
        with pytest.raises(ConfigError, match=match):
            iop.missing_data_sensitivity(tiny, methods=("completers",), **kw)


def test_plot_reads_a_result_only(tiny):
    from iop_outcomes.plots.sensitivity import plot_sensitivity

    with pytest.raises(ConfigError, match="must be a SensitivityResult"):
        plot_sensitivity(tiny)


def test_without_admit_date_the_admission_is_the_first_assessment_of_any_instrument():
    # the rule of iop.episodes, which the report's one episode pass follows: a GAD-7 score on
    # day 0 admits the episode, so PHQ-9 scores from day 10 have no baseline in the window
    # (-14..7 days) and that episode is left out; found by a review (the function built its
    # episodes from the PHQ-9 rows alone, admitting it on day 10)
    from iop_outcomes._episodes import episodes_with_discharge
    from iop_outcomes._sensitivity.api import sensitivity_of

    day0 = pd.Timestamp("2025-01-06")
    rows = []
    for i in range(12):
        late = i == 0  # episode E0: GAD-7 first, PHQ-9 ten days later
        fmt = ["in_person", "virtual"][i % 2]
        for day, total in ((0, 18 - i % 5), (21, 12 - i % 3), (42, 8 + i % 4)):
            rows.append(
                dict(
                    episode_id=f"E{i}",
                    instrument="PHQ-9",
                    assessment_date=day0 + pd.Timedelta(days=day + (10 if late else 0)),
                    total=float(total),
                    discharge_date=day0 + pd.Timedelta(days=42 + (10 if late else 0)),
                    discharge_status="completed",
                    format=fmt,
                )
            )
        if late:
            rows.append({**rows[-1], "instrument": "GAD-7", "assessment_date": day0, "total": 9.0})
    d = pd.DataFrame(rows)
    kw = dict(instrument="PHQ-9", methods=("completers", "locf"), group="format")
    res = iop.missing_data_sensitivity(d, **kw)
    assert "Excluded 1 of 12 episodes: 1 no baseline score." in res.notes
    _, dis, roles = episodes_with_discharge(
        d, instrument=["PHQ-9", "GAD-7"], rules=None, discharge="PHQ-9"
    )
    shared = sensitivity_of(dis, roles, rules=None, **kw)
    pd.testing.assert_frame_equal(shared.table, res.table)
