"""Tests for iop_outcomes.compare.

Reference values: tests/reference/compare/fixtures.json, produced by make_fixtures.R
(R 4.2.2, emmeans 1.8.4-1, metafor 3.8-1) from episodes.csv (make_episodes.py). Closed
forms are compared to 1e-6 relative; iterative fits (glm, REML) to the stated tolerance.
Weights, SMDs and TOST are also checked by hand calculations written out below.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tolerance import SUMS

from iop_outcomes import instruments
from iop_outcomes._compare import compare, dose_response, equivalence, pool_sites, subgroups
from iop_outcomes._compare.estimators import _logit_fit, _msandwich_var, _weights
from iop_outcomes.exceptions import ConfigError, DataError, IOPWarning

HERE = Path(__file__).parent / "reference" / "compare"
EP = pd.read_csv(HERE / "episodes.csv")
REF = json.loads((HERE / "fixtures.json").read_text())
COV = ["age", "gender_identity"]
TOL = dict(rtol=1e-6, atol=1e-9)


def row(res, contrast):
    t = res.table
    return t[t["contrast"] == contrast].iloc[0]


# ----------------------------------------------------------------------------- welch
@pytest.mark.parametrize("g", ["hybrid", "virtual"])
def test_welch_matches_r_t_test(g):
    r = row(compare(EP, method="welch"), f"{g} - in_person")
    ref = REF["welch"][g]
    for k in ("estimate", "se", "df", "statistic", "pvalue", "ci_low", "ci_high"):
        np.testing.assert_allclose(r[k], ref[k], **TOL, err_msg=k)


@pytest.mark.parametrize("g", ["hybrid", "virtual"])
def test_welch_effect_sizes_match_escalc_and_morris(g):
    es = compare(EP, method="welch").effect_sizes
    es = es[es["contrast"] == f"{g} - in_person"].set_index("measure")
    ref = REF["welch"][g]
    np.testing.assert_allclose(es.loc["hedges_g_change", "estimate"], ref["g"], **TOL)
    np.testing.assert_allclose(es.loc["hedges_g_change", "se"] ** 2, ref["g_vi"], **TOL)
    np.testing.assert_allclose(es.loc["d_ppc2", "estimate"], ref["d_ppc2"], **TOL)
    np.testing.assert_allclose(es.loc["d_ppc2", "se"] ** 2, ref["d_ppc2_var"], **TOL)
    np.testing.assert_allclose(es.loc["d_ppc2", "rho"], ref["rho"], **TOL)
    z = stats.norm.ppf(0.975)
    lo = ref["d_ppc2"] - z * np.sqrt(ref["d_ppc2_var"])
    np.testing.assert_allclose(es.loc["d_ppc2", "ci_low"], lo, **TOL)


def test_d_ppc2_hand_calculation():
    # two groups of 4; written out by hand
    ep = pd.DataFrame(
        {
            "format": ["in_person"] * 4 + ["virtual"] * 4,
            "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
            "endpoint": [10, 9, 13, 10, 9, 12, 9, 12],
        }
    )
    es = compare(ep, method="welch").effect_sizes.set_index("measure")
    # changes: in_person -8,-6,-7,-6 (mean -6.75); virtual -8,-7,-5,-9 (mean -7.25)
    # baseline SDs: var(18,15,20,16) = 14.75/3; var(17,19,14,21) = 26.75/3
    sp_pre = np.sqrt((14.75 + 26.75) / 6)
    # J(6) = Gamma(3) / (sqrt(3) Gamma(2.5)); Gamma(3) = 2, Gamma(2.5) = 1.5 * 0.5 * sqrt(pi)
    J = 2 / (np.sqrt(3) * 0.75 * np.sqrt(np.pi))
    np.testing.assert_allclose(es.loc["d_ppc2", "estimate"], J * (-0.5) / sp_pre, rtol=SUMS)


def test_morris_variance_reduces_to_large_sample_form():
    """Morris (2008) eq. 25 tends to the large-sample form used on the metafor project's
    morris2008 page, 2(1 - rho)(1/nT + 1/nC) + d^2 / (2(nT + nC))."""
    from iop_outcomes._compare.estimators import _morris_var
    from iop_outcomes._stats import hedges_j

    n1, n2, rho, d = 4000, 6000, 0.45, 0.6
    exact = _morris_var(d, float(hedges_j(n1 + n2 - 2)), rho, n1, n2)
    approx = 2 * (1 - rho) * (1 / n1 + 1 / n2) + d**2 / (2 * (n1 + n2))
    np.testing.assert_allclose(exact, approx, rtol=1e-3)


# ----------------------------------------------------------------------------- ancova
@pytest.mark.parametrize(("key", "cov"), [("ancova_plain", ()), ("ancova_cov", COV)])
def test_ancova_matches_emmeans(key, cov):
    res = compare(EP, method="ancova", covariates=cov)
    ref = REF[key]
    m = res.means.set_index("group").loc[ref["means"]["group"]]
    np.testing.assert_allclose(m["adjusted_mean_endpoint"], ref["means"]["emmean"], **TOL)
    np.testing.assert_allclose(m["se"], ref["means"]["se"], **TOL)
    np.testing.assert_allclose(m["ci_low"], ref["means"]["lower"], **TOL)
    np.testing.assert_allclose(m["ci_high"], ref["means"]["upper"], **TOL)
    c = res.table.set_index("contrast").loc[ref["contrasts"]["contrast"]]
    for k, rk in (
        ("estimate", "estimate"),
        ("se", "se"),
        ("df", "df"),
        ("ci_low", "lower"),
        ("ci_high", "upper"),
        ("statistic", "t"),
        ("pvalue", "p"),
    ):
        np.testing.assert_allclose(c[k], ref["contrasts"][rk], **TOL, err_msg=k)


def test_ancova_hc3_matches_emmeans_with_sandwich():
    res = compare(EP, method="ancova", covariates=COV, vcov="HC3")
    ref = REF["ancova_cov_hc3"]
    m = res.means.set_index("group").loc[ref["means"]["group"]]
    np.testing.assert_allclose(m["se"], ref["means"]["se"], **TOL)
    c = res.table.set_index("contrast").loc[ref["contrasts"]["contrast"]]
    for k, rk in (("estimate", "estimate"), ("se", "se"), ("ci_low", "lower"), ("pvalue", "p")):
        np.testing.assert_allclose(c[k], ref["contrasts"][rk], **TOL, err_msg=k)
    with pytest.raises(ConfigError, match="applies to method='ancova' only"):
        compare(EP, method="welch", vcov="HC3")


def test_ancova_standardized_by_unadjusted_pooled_endpoint_sd():
    res = compare(EP, method="ancova")
    es = res.effect_sizes.set_index("contrast").loc["virtual - in_person"]
    x = EP.loc[EP["format"] == "virtual", "endpoint"]
    y = EP.loc[EP["format"] == "in_person", "endpoint"]
    n1, n2 = len(x), len(y)
    sp = np.sqrt(((n1 - 1) * x.var() + (n2 - 1) * y.var()) / (n1 + n2 - 2))
    from iop_outcomes._stats import hedges_j

    est = row(res, "virtual - in_person")["estimate"]
    np.testing.assert_allclose(es["estimate"], hedges_j(n1 + n2 - 2) * est / sp, rtol=SUMS)
    np.testing.assert_allclose(es["sd_used"], sp, rtol=SUMS)


# ----------------------------------------------------------------------------- weighting
@pytest.mark.parametrize("g", ["hybrid", "virtual"])
@pytest.mark.parametrize("kind", ["iptw", "overlap"])
def test_weighted_estimates_match_r(g, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = compare(EP, method=kind, covariates=COV)
    ref = REF["ps"][g][kind]
    r = row(res, f"{g} - in_person")
    # glm converged to 1e-14 in R; agreement of weighted means to 1e-6
    np.testing.assert_allclose(r["estimate"], ref["estimate"], rtol=1e-6)
    np.testing.assert_allclose(r["se"], ref["se"], rtol=1e-6)
    bal = res.balance[res.balance["contrast"] == f"{g} - in_person"]
    np.testing.assert_allclose(bal["smd_before"], ref["smd_before"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(bal["smd_after"], ref["smd_after"], rtol=1e-5, atol=1e-9)
    d = res.diagnostics.set_index("contrast").loc[f"{g} - in_person"]
    np.testing.assert_allclose(d["ess_group"], ref["ess_group"], rtol=1e-6)
    np.testing.assert_allclose(d["ess_reference"], ref["ess_reference"], rtol=1e-6)


def test_propensity_model_matches_glm():
    s = EP[EP["format"].isin(["virtual", "in_person"])]
    T = (s["format"] == "virtual").to_numpy(float)
    g = s["gender_identity"]
    Z = np.column_stack(
        [
            np.ones(len(s)),
            s["baseline"],
            s["age"],
            (g == "nonbinary").astype(float),
            (g == "woman").astype(float),
        ]
    )
    beta, _, conv = _logit_fit(T, Z, "test")
    assert conv
    np.testing.assert_allclose(beta, REF["ps"]["virtual"]["coef"], rtol=1e-7)


@pytest.mark.parametrize("g", ["hybrid", "virtual"])
def test_aipw_matches_r(g):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        r = row(compare(EP, method="doubly_robust", covariates=COV), f"{g} - in_person")
    ref = REF["ps"][g]["aipw"]
    np.testing.assert_allclose(r["estimate"], ref["estimate"], rtol=1e-6)
    np.testing.assert_allclose(r["se"], ref["se"], rtol=1e-6)


def _toy_strata():
    # one binary covariate x: the logistic PS is saturated, so e(x) = share treated in x
    #   x=0: T: change -6, -8          C: -4, -5, -6, -3
    #   x=1: T: -7, -9, -8, -10, -6, -8  C: -5, -7
    return pd.DataFrame(
        {
            "format": ["virtual"] * 2 + ["in_person"] * 4 + ["virtual"] * 6 + ["in_person"] * 2,
            "x": [0] * 6 + [1] * 8,
            "baseline": [15.0] * 14,
            "endpoint": 15.0 + np.array([-6, -8, -4, -5, -6, -3, -7, -9, -8, -10, -6, -8, -5, -7]),
        }
    )


def test_iptw_and_overlap_by_hand_standardization():
    ep = _toy_strata()
    kw = dict(method="iptw", covariates=["x"], include_baseline=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        iptw = row(compare(ep, **kw), "virtual - in_person")["estimate"]
        kw["method"] = "overlap"
        ovl = row(compare(ep, **kw), "virtual - in_person")["estimate"]
    # stratum differences: x=0: -7 - (-4.5) = -2.5 ; x=1: -8 - (-6) = -2.0
    # ATE = weighted by stratum size: (6*-2.5 + 8*-2.0)/14
    np.testing.assert_allclose(iptw, (6 * -2.5 + 8 * -2.0) / 14, rtol=1e-9)
    # overlap: weights n_x e_x (1 - e_x): x=0: 6*(2/6)*(4/6) = 4/3 ; x=1: 8*(6/8)*(2/8) = 1.5
    np.testing.assert_allclose(ovl, (4 / 3 * -2.5 + 1.5 * -2.0) / (4 / 3 + 1.5), rtol=1e-9)


def test_weights_and_weighted_smd_by_hand():
    e = np.array([0.2, 0.5, 0.8, 0.25])
    T = np.array([1, 0, 1, 0])
    np.testing.assert_allclose(_weights(e, T, "iptw"), [5.0, 2.0, 1.25, 4 / 3])
    np.testing.assert_allclose(_weights(e, T, "overlap"), [0.8, 0.5, 0.2, 0.25])
    from iop_outcomes._compare.estimators import _smd_table

    X = np.array([[1.0], [2.0], [4.0], [3.0]])
    w = _weights(e, T, "iptw")
    t = _smd_table(X, ["x"], T, w, "c").iloc[0]
    # unweighted: mean T (1+4)/2 = 2.5, C (2+3)/2 = 2.5; var T = 4.5, var C = 0.5 -> sd = sqrt(2.5)
    # weighted: T (5*1 + 1.25*4)/6.25 = 1.6 ; C (2*2 + 4/3*3)/(10/3) = 2.4
    assert t["smd_before"] == pytest.approx(0.0)
    assert t["smd_after"] == pytest.approx((1.6 - 2.4) / np.sqrt(2.5), rel=SUMS)


def test_overlap_weights_balance_exactly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = compare(EP, method="overlap", covariates=COV)
    np.testing.assert_allclose(res.balance["smd_after"], 0, atol=1e-8)


@pytest.mark.parametrize("kind", ["iptw", "overlap"])
def test_msandwich_against_numerical_jacobian(kind):
    """The analytic A matrix of the stacked estimating equations equals a finite-difference
    Jacobian; both give the same sandwich variance."""
    s = EP[EP["format"].isin(["virtual", "in_person"])].reset_index(drop=True)
    T = (s["format"] == "virtual").to_numpy(float)
    Y = s["change"].to_numpy(float) if "change" in s else (s["endpoint"] - s["baseline"]).to_numpy()
    Z = np.column_stack([np.ones(len(s)), s["baseline"], s["age"]])
    beta, e, _ = _logit_fit(T, Z, "test")
    w = _weights(e, T, kind)
    mu1 = (w * T * Y).sum() / (w * T).sum()
    mu0 = (w * (1 - T) * Y).sum() / (w * (1 - T)).sum()
    analytic = _msandwich_var(Z, T, Y, e, w, mu1, mu0, kind)
    theta0 = np.concatenate([beta, [mu1, mu0]])
    k, n = Z.shape[1], len(Y)

    def psibar(theta):
        b, m1, m0 = theta[:k], theta[k], theta[k + 1]
        ee = 1 / (1 + np.exp(-(Z @ b)))
        ww = _weights(ee, T, kind)
        psi = np.column_stack([Z * (T - ee)[:, None], ww * T * (Y - m1), ww * (1 - T) * (Y - m0)])
        return psi

    A = np.zeros((k + 2, k + 2))
    for j in range(k + 2):
        h = 1e-6 * max(1.0, abs(theta0[j]))
        tp, tm = theta0.copy(), theta0.copy()
        tp[j] += h
        tm[j] -= h
        A[:, j] = (psibar(tp).mean(0) - psibar(tm).mean(0)) / (2 * h)
    psi = psibar(theta0)
    B = psi.T @ psi / n
    Ai = np.linalg.inv(A)
    V = Ai @ B @ Ai.T / n
    c = np.zeros(k + 2)
    c[k], c[k + 1] = 1, -1
    np.testing.assert_allclose(analytic, c @ V @ c, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:.*(effective sample size|imbalance remains)")
def test_poor_overlap_warns():
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(0, 1, n)
    T = rng.random(n) < 1 / (1 + np.exp(-4 * x))
    ep = pd.DataFrame(
        {
            "format": np.where(T, "virtual", "in_person"),
            "x": x,
            "baseline": 15.0,
            "endpoint": 10 + x + rng.normal(0, 1, n),
        }
    )
    with pytest.warns(IOPWarning, match="propensity scores outside"):
        res = compare(ep, method="iptw", covariates=["x"], include_baseline=False)
    assert res.diagnostics["n_extreme_ps"].iloc[0] > 0
    assert any("outside" in s for s in res.notes)


# ----------------------------------------------------------------------------- equivalence
def test_tost_non_inferiority_by_hand():
    res = equivalence(EP, method="welch", instrument="PHQ-9")
    ref = REF["welch"]["virtual"]
    r = res.table.set_index("contrast").loc["virtual - in_person"]
    D, se, df = ref["estimate"], ref["se"], ref["df"]
    assert r["margin"] == 2.5  # half the PHQ-9 MID of 5
    t_ni = (D - 2.5) / se
    np.testing.assert_allclose(r["statistic"], t_ni, rtol=1e-6)
    np.testing.assert_allclose(r["pvalue"], stats.t.cdf(t_ni, df), rtol=1e-6)
    upper = D + stats.t.ppf(0.95, df) * se
    np.testing.assert_allclose(r["ci_high"], upper, rtol=1e-6)
    assert bool(r["conclusion"]) == bool(upper < 2.5)
    v = [s for s in res.verdicts if s.startswith("virtual")][0]
    assert v.startswith("virtual is non-inferior to in-person within 2.5 PHQ-9 points")
    assert f"{upper:.2f}".rstrip("0") in v


def test_tost_equivalence_by_hand():
    res = equivalence(EP, method="ancova", kind="equivalence", margin=1.0, instrument="PHQ-9")
    ref = REF["ancova_plain"]["contrasts"]
    i = ref["contrast"].index("virtual - in_person")
    D, se, df = ref["estimate"][i], ref["se"][i], ref["df"][i]
    r = res.table.set_index("contrast").loc["virtual - in_person"]
    p_lo = stats.t.sf((D + 1.0) / se, df)
    p_hi = stats.t.cdf((D - 1.0) / se, df)
    np.testing.assert_allclose(r["lower_pvalue"], p_lo, rtol=1e-6)
    np.testing.assert_allclose(r["upper_pvalue"], p_hi, rtol=1e-6)
    np.testing.assert_allclose(r["pvalue"], max(p_lo, p_hi), rtol=1e-6)
    assert bool(r["conclusion"]) == bool(max(p_lo, p_hi) < 0.05)
    lo, hi = D - stats.t.ppf(0.95, df) * se, D + stats.t.ppf(0.95, df) * se
    assert bool(r["conclusion"]) == bool(-1 < lo and hi < 1)
    assert "±1 PHQ-9 points" in " ".join(res.verdicts)
    assert "p = <" not in " ".join(res.verdicts)


def _two_groups(shift):
    rng = np.random.default_rng(7)
    n = 200
    base = rng.normal(16, 4, 2 * n)
    grp = np.repeat(["in_person", "virtual"], n)
    end = base - 6 + np.where(grp == "virtual", shift, 0) + rng.normal(0, 3, 2 * n)
    return pd.DataFrame({"format": grp, "baseline": base, "endpoint": end})


def test_direction_lower_is_better():
    # virtual improves 3 points LESS -> must not be non-inferior at margin 2.5
    worse = equivalence(_two_groups(+3.0), method="welch", instrument="PHQ-9")
    assert not worse.table["conclusion"].iloc[0]
    assert worse.verdicts[0].startswith("Non-inferiority of virtual to in-person")
    # virtual improves 3 points MORE -> non-inferior
    better = equivalence(_two_groups(-3.0), method="welch", instrument="PHQ-9")
    assert better.table["conclusion"].iloc[0]


def test_direction_higher_is_better():
    d = instruments.get("PHQ-9").__dict__.copy()
    d.update(name="TEST-WELLBEING", aliases=(), better_is="higher", mid=4.0)
    d.update(loinc_panel=None, loinc_total=None, loinc_items=(), loinc_answers={})
    d["bands"] = [list(b) for b in d["bands"]]
    instruments.register({k: v for k, v in d.items() if v is not None}, replace=True)
    ep = _two_groups(+3.0)  # virtual rises 3 more: better on a higher-is-better scale
    res = equivalence(ep, method="welch", instrument="TEST-WELLBEING")
    assert res.table["margin"].iloc[0] == 2.0
    assert res.table["conclusion"].iloc[0]
    assert "lower bound" in res.verdicts[0]
    res2 = equivalence(_two_groups(-3.0), method="welch", instrument="TEST-WELLBEING")
    assert not res2.table["conclusion"].iloc[0]


def test_equivalence_needs_margin_or_instrument():
    ep = _two_groups(0.0)
    with pytest.raises(ConfigError, match="margin"):
        equivalence(ep, method="welch")
    assert equivalence(ep, method="welch", margin=2.0).table["margin"].iloc[0] == 2.0


# ----------------------------------------------------------------------------- subgroups
def test_subgroup_interaction_f_matches_r_anova():
    res = subgroups(EP, by="age_band", method="welch")
    f = res.interaction.set_index("test").loc["F test (format x age_band)"]
    ref = REF["interaction"]["welch"]
    np.testing.assert_allclose(
        [f["statistic"], f["df1"], f["df2"], f["pvalue"]],
        [ref["F"], ref["df1"], ref["df2"], ref["p"]],
        **TOL,
    )
    res = subgroups(EP, by="age_band", method="ancova", covariates=COV)
    f = res.interaction.set_index("test").loc["F test (format x age_band)"]
    ref = REF["interaction"]["ancova"]
    np.testing.assert_allclose(
        [f["statistic"], f["df1"], f["df2"], f["pvalue"]],
        [ref["F"], ref["df1"], ref["df2"], ref["p"]],
        **TOL,
    )


def test_subgroup_estimates_and_cochran_q():
    res = subgroups(EP, by="age_band", method="welch")
    t = res.table[res.table["contrast"] == "virtual - in_person"]
    ref = REF["subgroup_welch_virtual"]
    np.testing.assert_allclose(t["estimate"], ref["estimate"], **TOL)
    np.testing.assert_allclose(t["se"], ref["se"], **TOL)
    q = res.interaction
    q = q[(q["test"] == "Cochran Q") & (q["contrast"] == "virtual - in_person")].iloc[0]
    np.testing.assert_allclose(q["statistic"], ref["Q"], **TOL)


def test_subgroup_skips_empty_cells():
    ep = EP.copy()
    ep.loc[(ep["age_band"] == "18-25") & (ep["format"] == "in_person"), "format"] = "hybrid"
    res = subgroups(ep, by="age_band", method="welch")
    assert "18-25" not in set(res.table["subgroup"])
    assert any("18-25" in s for s in res.notes)


# ----------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("key", ["pool_mean_change", "pool_virtual", "pool_toy"])
@pytest.mark.parametrize("variant", ["DL", "REML", "DL_knha", "REML_knha"])
def test_pooling_matches_metafor(key, variant):
    ref = REF[key]
    tau2_method = variant.split("_")[0]
    test = "knha" if variant.endswith("knha") else "z"
    if key == "pool_toy":
        from iop_outcomes._compare.meta import _meta

        out = _meta(ref["yi"], ref["vi"], tau2_method, 0.95, "higgins2009", test)
        out_m = _meta(ref["yi"], ref["vi"], tau2_method, 0.95, "metafor", test)
    else:
        kw = {"group": "format", "reference": "in_person"} if key == "pool_virtual" else {}

        def pick(res):
            t = res.table
            return t[(t["tau2_method"] == tau2_method) & (t["contrast"] != "hybrid - in_person")]

        res = pool_sites(EP, site="site", test=test, **kw)
        sites = res.sites[res.sites["contrast"] != "hybrid - in_person"]
        np.testing.assert_allclose(sites["estimate"], ref["yi"], **TOL)
        np.testing.assert_allclose(sites["se"] ** 2, ref["vi"], **TOL)
        (out,) = [r for _, r in pick(res).iterrows()]
        (out_m,) = [
            r for _, r in pick(pool_sites(EP, test=test, pi_method="metafor", **kw)).iterrows()
        ]
    r = ref[variant]
    # REML: metafor run with threshold 1e-12, ours to 1e-12 -> compared to 1e-6
    tol = TOL if tau2_method == "DL" else dict(rtol=1e-6, atol=1e-8)
    for k in ("estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "I2", "H2", "Q"):
        np.testing.assert_allclose(out[k], r[k], **tol, err_msg=k)
    np.testing.assert_allclose(out["Q_pvalue"], r["Q_pvalue"], **TOL)
    np.testing.assert_allclose(
        [out["pi_low"], out["pi_high"]], [r["pi_low_t"], r["pi_high_t"]], **tol
    )
    np.testing.assert_allclose(
        [out_m["pi_low"], out_m["pi_high"]], [r["pi_low_z"], r["pi_high_z"]], **tol
    )


def test_toy_pool_is_heterogeneous():
    assert REF["pool_toy"]["REML"]["tau2"] > 0.5  # the fixture exercises tau2 > 0


def test_site_mean_change_variance_is_escalc_mc():
    res = pool_sites(EP, site="site")
    s1 = res.sites.set_index("site").loc["S1"]
    np.testing.assert_allclose(s1["estimate"], REF["escalc_mc_S1"]["yi"], **TOL)
    np.testing.assert_allclose(s1["se"] ** 2, REF["escalc_mc_S1"]["vi"], **TOL)


# ----------------------------------------------------------------------------- dose
def test_dose_response_matches_lm():
    res = dose_response(EP, dose="attendance_hours")
    r = res.table.iloc[0]
    ref = REF["dose"]
    for k, rk in (
        ("estimate", "estimate"),
        ("se", "se"),
        ("statistic", "t"),
        ("pvalue", "p"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("df", "df"),
    ):
        np.testing.assert_allclose(r[k], ref[rk], **TOL, err_msg=k)
    r10 = dose_response(EP, per=10).table.iloc[0]
    np.testing.assert_allclose(r10["estimate"], 10 * ref["estimate"], **TOL)
    rc = dose_response(EP, covariates=COV).table.iloc[0]
    np.testing.assert_allclose(
        [rc["estimate"], rc["se"]], [REF["dose_cov"]["estimate"], REF["dose_cov"]["se"]], **TOL
    )
    assert res.bins["n"].sum() == len(EP)


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize("method", ["welch", "ancova", "iptw", "overlap", "doubly_robust"])
def test_row_order_and_column_names_invariance(method):
    cov = () if method == "welch" else COV
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        a = compare(EP, method=method, covariates=cov).table
        shuffled = EP.sample(frac=1, random_state=3).rename(columns={"format": "mode"})
        b = compare(shuffled, group="mode", method=method, covariates=cov).table
    cols = ["estimate", "se", "ci_low", "ci_high", "pvalue"]
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-9)
    assert list(a["contrast"]) == ["hybrid - in_person", "virtual - in_person"]


def test_missing_rows_excluded_and_counted():
    ep = EP.copy()
    ep.loc[:9, "endpoint"] = np.nan
    res = compare(ep, method="welch")
    assert res.params["n_excluded"] == 10
    assert res.params["n_used"] == len(EP) - 10


def test_error_messages():
    with pytest.raises(DataError, match=r"needs the column\(s\) \['format'\]"):
        compare(EP.drop(columns="format"))
    with pytest.raises(ConfigError, match="'reference' parameter of iop.compare"):
        compare(EP, reference="telehealth")
    with pytest.raises(ConfigError, match="'method' parameter of iop.compare must be one of"):
        compare(EP, method="t-test")
    with pytest.raises(ConfigError, match="'ci_level' parameter"):
        compare(EP, ci_level=95)
    with pytest.raises(ConfigError, match="takes no covariates"):
        compare(EP, method="welch", covariates=["age"])
    mixed = pd.concat([EP, EP.assign(instrument="GAD-7")])
    with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
        compare(mixed)
    a = compare(mixed, instrument="phq9", method="welch").table
    b = compare(EP, method="welch").table
    np.testing.assert_allclose(a["estimate"], b["estimate"])
    with pytest.raises(DataError, match="rank deficient"):
        compare(EP.assign(age2=EP["age"] * 2), covariates=["age", "age2"])


@pytest.mark.parametrize("func", [compare, equivalence, subgroups, pool_sites, dose_response])
def test_instrument_rule_on_two_instruments(func):
    """instrument=None on a PHQ-9 + GAD-7 table: ConfigError naming both and how to choose."""
    mixed = pd.concat([EP, EP.assign(instrument="GAD-7")])
    kw = {"group": "format"} if func is pool_sites else {}
    with pytest.raises(ConfigError, match=r"holds 2 instruments .*instrument='GAD-7'"):
        func(mixed, **kw)


@pytest.mark.parametrize(
    "func, kw, name",
    [
        (compare, {"ci_level": "0.95"}, "ci_level"),
        (compare, {"vcov": "HC1"}, "vcov"),
        (equivalence, {"alpha": 0.5}, "alpha"),
        (equivalence, {"margin": -1}, "margin"),
        (subgroups, {"by": 3}, "by"),
        (pool_sites, {"tau2_methods": ["REML", "PM"]}, "tau2_methods"),
        (pool_sites, {"test": "t"}, "test"),
        (dose_response, {"per": 0}, "per"),
        (dose_response, {"bins": 2.5}, "bins"),
    ],
)
def test_bad_parameters_raise_the_template(func, kw, name):
    with pytest.raises(ConfigError, match=rf"The '{name}' parameter of iop.{func.__name__} must"):
        func(EP, **kw)


def test_reference_none_is_the_first_level():
    a = compare(EP, reference=None, method="welch")
    assert set(a.table["reference"]) == {sorted(EP["format"].unique())[0]}


def test_results_print_and_frame():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = compare(EP, method="iptw", covariates=COV)
    s = str(res)
    assert "Covariate balance" in s and "M-estimation sandwich" in s
    assert "<table" in res._repr_html_()
    assert set(
        [
            "contrast",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "pvalue",
            "n_group",
            "n_reference",
            "method",
        ]
    ) <= set(res.to_frame().columns)
    assert "Per-site effects" in str(pool_sites(EP))
    sg = subgroups(EP, by="age_band", method="welch")
    assert "Effect modification" in str(sg)
    assert set(sg.effect_sizes["measure"]) == {"hedges_g_change", "d_ppc2"}
    assert len(sg.effect_sizes) == 2 * len(sg.table)
    m = compare(EP).means
    np.testing.assert_allclose(m["change_ci_low"], m["ci_low"] - EP["baseline"].mean(), rtol=SUMS)


# ----------------------------------------------------------------------------- plots
def test_plots_structure():
    import matplotlib.pyplot as plt

    from iop_outcomes.plots.compare import plot_equivalence, plot_love

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = compare(EP, method="iptw", covariates=COV)
    ax = plot_love(res)
    assert len(ax.get_yticklabels()) == len(res.balance)
    ax = res.plot()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(res.table["contrast"])
    pr = pool_sites(EP)
    ax = pr.plot()
    assert len(ax.get_yticks()) == len(pr.sites) + len(pr.table)
    ax = subgroups(EP, by="age_band", method="welch").plot()
    assert len(ax.get_yticklabels()) == 6
    eq = equivalence(EP, instrument="PHQ-9")
    ax = plot_equivalence(eq)
    assert len(ax.collections) >= 2
    ax = dose_response(EP).plot()
    assert ax.get_xlabel().startswith("Mean attendance_hours")
    plt.close("all")


def test_pool_sites_ancova_uses_per_site_ancova():
    res = pool_sites(EP, group="format", method="ancova")
    s3 = EP[EP["site"] == "S3"]
    one = compare(s3, method="ancova").table.set_index("contrast")
    got = res.sites[res.sites["site"] == "S3"].set_index("contrast")
    np.testing.assert_allclose(got["estimate"], one.loc[got.index, "estimate"], rtol=SUMS)
    np.testing.assert_allclose(got["se"], one.loc[got.index, "se"], rtol=SUMS)


def test_small_group_in_one_site_drops_only_that_contrast():
    ep = EP.copy()
    drop = ep.index[(ep["site"] == "S2") & (ep["format"] == "hybrid")][1:]
    ep = ep.drop(drop)  # one hybrid episode left in S2
    res = pool_sites(ep, group="format", method="ancova")
    s2 = res.sites[res.sites["site"] == "S2"]
    assert list(s2["contrast"]) == ["virtual - in_person"]
    assert any("S2" in n for n in res.notes)
    res_w = pool_sites(ep, group="format")
    assert list(res_w.sites.loc[res_w.sites["site"] == "S2", "contrast"]) == ["virtual - in_person"]


def test_degenerate_data_give_nan_not_warnings():
    z = pd.DataFrame(
        {"format": ["in_person"] * 3 + ["virtual"] * 3, "baseline": 10.0, "endpoint": 5.0}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = compare(z, method="welch").table
    assert t["estimate"].iloc[0] == 0 and np.isnan(t["pvalue"].iloc[0])
    with pytest.raises(ConfigError, match="needs covariates"):
        compare(z, method="iptw", include_baseline=False)


def test_subgroups_derive_age_bands_like_change_summary():
    import numpy as np
    import pandas as pd

    import iop_outcomes as iop

    rng = np.random.default_rng(4)
    n = 240
    ep = pd.DataFrame(
        {
            "format": rng.choice(["in_person", "virtual"], n),
            "age": rng.integers(18, 70, n),
            "baseline": rng.integers(10, 25, n).astype(float),
        }
    )
    ep["endpoint"] = (ep["baseline"] - rng.integers(0, 10, n)).astype(float)
    res = iop.subgroups(ep, group="format", reference="in_person", method="welch")
    bands = set(
        iop.change_summary(ep, by="age_band", instrument="PHQ-9").to_frame()["age_band"].astype(str)
    )
    assert set(res.table["subgroup"].astype(str)) <= bands


def test_welch_means_list_the_reference_first_whatever_the_category_order():
    # the means table lists the reference, then the other levels; with a categorical group
    # whose categories put the reference last it followed the categories instead
    ep = pd.DataFrame(
        {
            "format": pd.Categorical(
                ["in_person"] * 3 + ["virtual"] * 3, categories=["virtual", "in_person"]
            ),
            "baseline": [18.0, 15, 20, 16, 17, 19],
            "endpoint": [10.0, 9, 13, 10, 9, 12],
        }
    )
    res = compare(ep, method="welch", reference="in_person")
    assert res.means["group"].astype(str).tolist() == ["in_person", "virtual"]
    assert res.means["n"].tolist() == [3, 3]
    assert res.means["mean_change"].tolist() == pytest.approx([-7.0, -7.0])
