"""Funnel plots (iop.funnel): limits, O/E, overdispersion and disclosure, against hand
calculations written out here (scipy.stats distributions summed term by term, not the ppf the
module uses) and against the library's own outcome counts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import iop_outcomes as iop
from iop_outcomes._stats import additive_tau2, binomial_limit, poisson_limit, winsorised_phi
from iop_outcomes.exceptions import ConfigError, DataError


def _units(spec: dict[str, tuple[int, int]], **cols) -> pd.DataFrame:
    """Episodes with dropout outcome: unit -> (n closed episodes, n dropped out)."""
    rows = []
    for u, (n, k) in spec.items():
        rows += [(u, "dropped_out")] * k + [(u, "completed")] * (n - k)
    return pd.DataFrame(rows, columns=["site", "discharge_status"]).assign(**cols)


def _interp_limit(cdf_terms: np.ndarray, p: float, scale: float) -> float:
    """Spiegelhalter (2005) appendix: r_p the smallest r with F(r) >= p, alpha =
    (F(r_p) - p) / (F(r_p) - F(r_p - 1)), limit (r_p - alpha) / scale; F from summed pmf."""
    F = np.cumsum(cdf_terms)
    r = int(np.argmax(F >= p - 1e-15))
    f_prev = F[r - 1] if r > 0 else 0.0
    alpha = (F[r] - p) / (F[r] - f_prev)
    return max((r - alpha) / scale, 0.0)


# ----------------------------------------------------------------------------- shared helpers
@pytest.mark.parametrize("n,p0", [(40, 0.3), (20, 0.3), (7, 0.45), (250, 0.12)])
@pytest.mark.parametrize("prob", [0.001, 0.025, 0.975, 0.999])
def test_binomial_limit_matches_summed_pmf(n, p0, prob):
    pmf = stats.binom.pmf(np.arange(n + 1), n, p0)
    ref = min(_interp_limit(pmf, prob, n), 1.0)
    assert float(binomial_limit(p0, n, prob)) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("e", [0.8, 3.5, 10.0, 57.3])
@pytest.mark.parametrize("prob", [0.001, 0.025, 0.975, 0.999])
def test_poisson_limit_matches_summed_pmf(e, prob):
    pmf = stats.poisson.pmf(np.arange(400), e)
    assert float(poisson_limit(e, prob)) == pytest.approx(_interp_limit(pmf, prob, e), abs=1e-12)


def test_poisson_limit_hand_value():
    # E = 10, p = 0.975: F(16) = 0.972958, F(17) = 0.985722 -> r_p = 17,
    # alpha = (0.985722 - 0.975) / (0.985722 - 0.972958) = 0.840049 -> (17 - 0.840049) / 10
    assert float(poisson_limit(10.0, 0.975)) == pytest.approx(1.6159951, abs=1e-6)


def test_winsorised_phi_hand_worked():
    z = [2.5, -0.3, 0.1, -1.2, 0.7, 3.1, -0.6, 0.0]
    # sorted: -1.2 -0.6 -0.3 0.0 0.1 0.7 2.5 3.1; type-7 quantile at h = 7 * 0.1 = 0.7:
    # -1.2 + 0.7 * 0.6 = -0.78; at h = 6.3: 2.5 + 0.3 * 0.6 = 2.68
    clipped = [2.5, -0.3, 0.1, -0.78, 0.7, 2.68, -0.6, 0.0]
    ref = sum(v * v for v in clipped) / 8  # = 14.9908 / 8 = 1.87385
    assert ref == pytest.approx(1.87385, abs=1e-9)
    assert winsorised_phi(z) == pytest.approx(ref, abs=1e-12)


def test_additive_tau2_hand_worked():
    # s = 0.1, 0.2, 0.1, 0.05 -> w = 100, 25, 100, 400; sum 625, sum w^2 = 180625
    # tau2 = (4 * 2 - 3) / (625 - 180625 / 625) = 5 / 336
    assert additive_tau2(2.0, [0.1, 0.2, 0.1, 0.05]) == pytest.approx(5 / 336, abs=1e-15)
    assert additive_tau2(0.5, [0.1, 0.2, 0.1, 0.05]) == 0.0


# ----------------------------------------------------------------------------- crude rates
SPEC = {"A": (40, 4), "B": (40, 20), "C": (20, 6), "D": (60, 18), "E": (30, 9), "F": (10, 3)}


def test_crude_proportion_funnel_hand_values():
    f = iop.funnel(_units(SPEC), unit="site", outcome="dropout", overdispersion="none")
    t = f.table.set_index("unit")
    p0 = 60 / 200
    assert f.target == pytest.approx(p0)
    assert f.kind == "proportion"
    for u, (n, k) in SPEC.items():
        row = t.loc[u] if u != "F" else t.loc["(small unit 1)"]
        assert row["n"] == n and row["observed"] == k
        assert row["expected"] == pytest.approx(n * p0)
        assert row["ratio"] == pytest.approx(k / (n * p0))
        assert row["z"] == pytest.approx((k / n - p0) / np.sqrt(p0 * (1 - p0) / n))
        pmf = stats.binom.pmf(np.arange(n + 1), n, p0)
        for col, prob in [
            ("lower_95", 0.025),
            ("upper_95", 0.975),
            ("lower_99_8", 0.001),
            ("upper_99_8", 0.999),
        ]:
            assert row[col] == pytest.approx(min(_interp_limit(pmf, prob, n), 1.0), abs=1e-12)
    # A: 4/40 = 0.10 vs lower 95 % limit at n = 40 (about 0.163) and 99.8 % (about 0.125)
    assert (
        t.loc["A", "flag"] == "below 99.8 % limit"
        or t.loc["A", "estimate"] >= t.loc["A", "lower_99_8"]
    )
    assert t.loc["A", "signal"] == "better"  # less dropout is better
    assert t.loc["B", "flag"].startswith("above") and t.loc["B", "signal"] == "worse"
    assert set(f.outliers["unit"]) == {"A", "B"}


def test_flags_follow_the_limits():
    f = iop.funnel(_units(SPEC), unit="site", outcome="dropout", overdispersion="none")
    t = f.table
    for r in t.itertuples():
        if r.estimate > r.upper_99_8:
            assert r.flag == "above 99.8 % limit"
        elif r.estimate > r.upper_95:
            assert r.flag == "above 95 % limit"
        elif r.estimate < r.lower_99_8:
            assert r.flag == "below 99.8 % limit"
        elif r.estimate < r.lower_95:
            assert r.flag == "below 95 % limit"
        else:
            assert r.flag == "within 95 % limits"


def test_limit_curves_match_the_helper():
    f = iop.funnel(_units(SPEC), unit="site", outcome="dropout", overdispersion="none")
    lim = f.limits[f.limits["level"] == 0.998]
    x = lim["x"].to_numpy()
    assert np.allclose(lim["upper"], binomial_limit(0.3, x, 0.999))
    assert np.allclose(lim["lower"], binomial_limit(0.3, x, 0.001))


def test_overdispersion_multiplicative_and_additive():
    over = {"A": (100, 10), "B": (100, 45), "C": (100, 20), "D": (100, 38), "E": (100, 30)}
    over |= {"F": (100, 15), "G": (100, 25), "H": (100, 40), "I": (100, 33), "J": (100, 12)}
    ep = _units(over)
    none = iop.funnel(ep, unit="site", outcome="dropout", overdispersion="none")
    z = none.table["z"].to_numpy()
    assert none.phi == pytest.approx(winsorised_phi(z))
    mult = iop.funnel(ep, unit="site", outcome="dropout", overdispersion="multiplicative")
    phi, p0 = mult.phi, mult.target
    assert phi > 1
    t0, t1 = none.table, mult.table
    assert np.allclose(t1["z_adjusted"], t0["z"] / np.sqrt(phi))
    assert np.allclose(t1["upper_95"], np.clip(p0 + np.sqrt(phi) * (t0["upper_95"] - p0), 0, 1))
    lower = np.clip(p0 - np.sqrt(phi) * (p0 - t0["lower_99_8"]), 0, 1)  # phi = 5.96: floored
    assert np.allclose(t1["lower_99_8"], lower)
    assert np.allclose(t1["lower_95"], p0 - np.sqrt(phi) * (p0 - t0["lower_95"]))
    auto = iop.funnel(ep, unit="site", outcome="dropout")  # chi-square test rejects: applied
    assert auto.overdispersion == "multiplicative"
    assert auto.params["overdispersion_pvalue"] == pytest.approx(stats.chi2.sf(10 * phi, 9))
    add = iop.funnel(ep, unit="site", outcome="dropout", overdispersion="additive")
    s = np.sqrt(p0 * (1 - p0) / 100)
    tau2 = additive_tau2(phi, np.full(10, s))
    assert add.tau2 == pytest.approx(tau2)
    half = 1.959963984540054 * np.sqrt(s**2 + tau2)
    assert np.allclose(add.table["upper_95"], p0 + half)
    assert np.allclose(add.table["z_adjusted"], (t0["estimate"] - p0) / np.sqrt(s**2 + tau2))


def test_auto_needs_ten_units():
    few = _units({"A": (40, 4), "B": (40, 20), "C": (40, 12)})  # phi = 3.6, but 3 units
    f = iop.funnel(few, unit="site", outcome="dropout")
    assert f.phi > 1 and f.overdispersion == "none"
    assert any("fewer than 10 units" in n for n in f.notes)
    forced = iop.funnel(few, unit="site", outcome="dropout", overdispersion="multiplicative")
    assert forced.overdispersion == "multiplicative"


def test_multiplicative_never_narrows_the_limits():
    ep = _units({"A": (50, 15), "B": (50, 16), "C": (50, 14), "D": (50, 15), "E": (50, 15)})
    none = iop.funnel(ep, unit="site", outcome="dropout", overdispersion="none")
    mult = iop.funnel(ep, unit="site", outcome="dropout", overdispersion="multiplicative")
    assert mult.phi < 1
    cols = ["lower_95", "upper_95", "lower_99_8", "upper_99_8", "z_adjusted"]
    pd.testing.assert_frame_equal(mult.table[cols], none.table[cols])
    assert iop.funnel(ep, unit="site", outcome="dropout").overdispersion == "none"


# ----------------------------------------------------------------------------- case mix
def test_indirect_standardisation_oe_hand_values():
    # one binary covariate: the logistic model is saturated, so each episode's expected
    # probability is its covariate level's overall rate: virtual 30/100, in_person 20/100
    spec = {
        ("A", "virtual"): (60, 24),
        ("A", "in_person"): (20, 2),
        ("B", "virtual"): (40, 6),
        ("B", "in_person"): (80, 18),
    }
    rows = []
    for (u, fmt), (n, k) in spec.items():
        rows += [(u, fmt, "dropped_out")] * k + [(u, fmt, "completed")] * (n - k)
    ep = pd.DataFrame(rows, columns=["site", "format", "discharge_status"])
    f = iop.funnel(
        ep, unit="site", outcome="dropout", adjust=["format"], overdispersion="none",
        ratio_limits="poisson",
    )  # fmt: skip
    t = f.table.set_index("unit")
    e_a = 60 * 0.30 + 20 * 0.20  # 22
    e_b = 40 * 0.30 + 80 * 0.20  # 28
    assert f.kind == "ratio" and f.target == 1.0
    assert t.loc["A", "expected"] == pytest.approx(e_a, rel=1e-8)
    assert t.loc["B", "expected"] == pytest.approx(e_b, rel=1e-8)
    assert t.loc["A", "estimate"] == pytest.approx(26 / e_a, rel=1e-8)
    assert t.loc["A", "ratio"] == t.loc["A", "estimate"]
    assert t.loc["A", "z"] == pytest.approx((26 - e_a) / np.sqrt(e_a), rel=1e-7)
    assert t.loc["A", "standardised_rate"] == pytest.approx(26 / e_a * 50 / 200, rel=1e-8)
    pmf = stats.poisson.pmf(np.arange(200), e_b)
    assert t.loc["B", "upper_95"] == pytest.approx(_interp_limit(pmf, 0.975, e_b), abs=1e-6)
    assert t.loc["B", "lower_99_8"] == pytest.approx(_interp_limit(pmf, 0.001, e_b), abs=1e-6)
    assert list(f.model["term"]) == ["(intercept)", "format[virtual]"]
    assert any("Poisson limits treat the expected events as rare" in n for n in f.notes)
    # the default picks the binomial limits for a common outcome (a 25 % dropout rate)
    auto = iop.funnel(ep, unit="site", outcome="dropout", adjust=["format"], overdispersion="none")
    assert any(n.startswith("Limits of O/E: binomial (overall rate 25%") for n in auto.notes)
    # binomial variance of O: V = sum p (1 - p) = 60*.3*.7 + 20*.2*.8 (A), 40*.3*.7 + 80*.2*.8 (B)
    fb = iop.funnel(
        ep,
        unit="site",
        outcome="dropout",
        adjust=["format"],
        overdispersion="none",
        ratio_limits="binomial",
    )
    tb = fb.table.set_index("unit")
    v_a, v_b = 60 * 0.21 + 20 * 0.16, 40 * 0.21 + 80 * 0.16  # 15.8, 21.2
    assert tb.loc["A", "z"] == pytest.approx((26 - e_a) / np.sqrt(v_a), rel=1e-7)
    assert tb.loc["B", "upper_99_8"] == pytest.approx(
        1 + 3.090232306167813 * np.sqrt(v_b) / e_b, rel=1e-7
    )
    assert tb.loc["B", "lower_95"] == pytest.approx(1 - 1.959963984540054 * np.sqrt(v_b) / e_b)
    assert (tb["upper_95"] < t["upper_95"]).all()  # narrower than the Poisson limits here
    with pytest.raises(ConfigError, match="'ratio_limits' parameter"):
        iop.funnel(ep, unit="site", outcome="dropout", adjust=["format"], ratio_limits="exact")


def test_mean_change_funnel():
    rng = np.random.default_rng(3)
    n = {"A": 30, "B": 50, "C": 80, "D": 15}
    site = np.repeat(list(n), list(n.values()))
    base = rng.integers(10, 25, site.size).astype(float)
    end = np.clip(base - rng.normal(6, 4, site.size).round(), 0, 27)
    ep = pd.DataFrame({"site": site, "baseline": base, "endpoint": end})
    f = iop.funnel(ep, unit="site", outcome="change", instrument="PHQ-9", overdispersion="none")
    change = end - base
    mu, sd = change.mean(), change.std(ddof=1)
    t = f.table.set_index("unit")
    assert f.target == pytest.approx(mu)
    for u, k in n.items():
        assert t.loc[u, "estimate"] == pytest.approx(change[site == u].mean())
        assert t.loc[u, "upper_99_8"] == pytest.approx(mu + 3.090232306167813 * sd / np.sqrt(k))
        assert t.loc[u, "lower_95"] == pytest.approx(mu - 1.959963984540054 * sd / np.sqrt(k))
    # adjusted: estimate = target + observed mean - mean of OLS fitted values in the unit
    fa = iop.funnel(ep, unit="site", outcome="change", adjust=["baseline"], instrument="PHQ-9")
    X = np.column_stack([np.ones(site.size), base])
    beta, *_ = np.linalg.lstsq(X, change, rcond=None)
    fit = X @ beta
    ta = fa.table.set_index("unit")
    for u in n:
        m = site == u
        assert ta.loc[u, "estimate"] == pytest.approx(mu + change[m].mean() - fit[m].mean())
    resid_sd = np.sqrt(((change - fit) ** 2).sum() / (site.size - 2))
    assert fa.params["sigma"] == pytest.approx(resid_sd)


# ----------------------------------------------------------------------------- outcomes
@pytest.fixture(scope="module")
def demo_episodes():
    import warnings

    from iop_outcomes.exceptions import IOPWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = iop.load("data/demo/assessments.csv")
    return iop.episodes(res.data, instrument="PHQ-9")


@pytest.mark.parametrize("outcome", ["recovery", "reliable improvement"])
def test_rates_are_clinical_significance_counts(demo_episodes, outcome):
    f = iop.funnel(demo_episodes, unit="site", outcome=outcome)
    cs = iop.clinical_significance(demo_episodes, method="nhs-talking-therapies", by="site")
    ref = cs.table[cs.table["outcome"] == outcome].set_index("site")
    t = f.table.set_index("unit")
    for site in ref.index:
        assert t.loc[site, "observed"] == ref.loc[site, "count"]
        assert t.loc[site, "n"] == ref.loc[site, "n"]


def test_joint_phq9_gad7_recovery(demo_episodes):
    import warnings

    from iop_outcomes.exceptions import IOPWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IOPWarning)
        res = iop.load("data/demo/assessments.csv")
    both = iop.episodes(res.data, instrument=["PHQ-9", "GAD-7"])
    # a LoadResult is accepted: the episode table of the instrument named is built from it
    from_load = iop.funnel(res, unit="site", outcome="recovery", instrument="PHQ-9")
    from_ep = iop.funnel(demo_episodes, unit="site", outcome="recovery")
    pd.testing.assert_frame_equal(from_load.table, from_ep.table)
    # the joint rules only when asked for: no silent joint choice
    with pytest.raises(ConfigError, match=r"holds 2 instruments.*or a list of them"):
        iop.funnel(both, unit="site", outcome="recovery")
    f = iop.funnel(
        both,
        unit="site",
        outcome="recovery",
        adjust=["baseline", "age"],
        instrument=["PHQ-9", "GAD-7"],
    )
    cs = iop.clinical_significance(
        both, method="nhs-talking-therapies", instrument=["PHQ-9", "GAD-7"], by="site"
    )
    ref = cs.table[cs.table["outcome"] == "recovery"].set_index("site")
    t = f.table.set_index("unit")
    assert "PHQ-9+GAD-7" in set(cs.episodes["measures_used"])  # the joint rules were used
    # logistic MLE with an intercept: expected events sum to the observed events overall
    assert t["expected"].sum() == pytest.approx(t["observed"].sum(), rel=1e-8)
    for site in ref.index:
        assert t.loc[site, "observed"] == ref.loc[site, "count"]
        assert t.loc[site, "n"] == ref.loc[site, "n"]


def test_response_and_dropout_match_their_definitions(demo_episodes):
    cs = iop.change_scores(demo_episodes, zero_baseline="not_responding")
    f = iop.funnel(demo_episodes, unit="format", outcome="response")
    t = f.table.set_index("unit")
    for fmt, grp in cs.groupby("format"):
        r = grp["response"].dropna()
        assert t.loc[fmt, "n"] == len(r) and t.loc[fmt, "observed"] == r.sum()
    d = iop.funnel(demo_episodes, unit="site", outcome="dropout").table.set_index("unit")
    for site, grp in demo_episodes.groupby("site"):
        closed = grp["discharge_status"] != "ongoing"
        assert d.loc[site, "n"] == closed.sum()
        assert d.loc[site, "observed"] == (grp["discharge_status"] == "dropped_out").sum()


def test_row_order_invariance(demo_episodes):
    a = iop.funnel(demo_episodes, unit="site", outcome="recovery", adjust=["baseline", "age"])
    b = iop.funnel(
        demo_episodes.sample(frac=1, random_state=1),
        unit="site",
        outcome="recovery",
        adjust=["baseline", "age"],
    )
    pd.testing.assert_frame_equal(a.table, b.table, rtol=1e-8)


# ----------------------------------------------------------------------------- disclosure
def test_clinician_units_are_internal_by_default():
    ep = _units({"dr_a": (30, 5), "dr_b": (5, 1), "dr_c": (40, 12)})
    ep = ep.rename(columns={"site": "clinician"})
    f = iop.funnel(ep, unit="clinician", outcome="dropout")
    assert f.shareable is False
    assert f.title.startswith("INTERNAL")
    assert "dr_b" in set(f.table["unit"])  # internal: every unit named
    assert any("INTERNAL" in n for n in f.notes)
    s = iop.funnel(ep, unit="clinician", outcome="dropout", shareable=True)
    assert "dr_b" not in set(s.table["unit"])
    assert "(small unit 1)" in set(s.table["unit"])
    assert not s.table.loc[s.table["unit"] == "(small unit 1)", "named"].iloc[0]


def test_site_units_shareable_by_default_and_empty_units_noted():
    ep = _units({"North": (30, 5), "South": (8, 2), "East": (40, 12)})
    ep["site"] = pd.Categorical(ep["site"], categories=["East", "North", "South", "West"])
    f = iop.funnel(ep, unit="site", outcome="dropout")
    assert f.shareable is True
    assert "South" not in set(f.table["unit"])
    assert any("0 episodes" in n and "West" in n for n in f.notes)
    assert len(f.table) == 3


# ----------------------------------------------------------------------------- errors, plot
def test_errors():
    ep = _units(SPEC)
    with pytest.raises(ConfigError, match="'outcome' parameter of iop.funnel"):
        iop.funnel(ep, outcome="happiness")
    with pytest.raises(DataError, match=r"needs column\(s\) \['clinician'\]"):
        iop.funnel(ep, unit="clinician", outcome="dropout")
    with pytest.raises(ConfigError, match="'overdispersion' parameter"):
        iop.funnel(ep, outcome="dropout", overdispersion="yes")
    none = _units({"A": (10, 0), "B": (10, 0)})
    with pytest.raises(DataError, match="some episodes with and some without"):
        iop.funnel(none, outcome="dropout")


def test_plot_structure():
    import matplotlib.pyplot as plt

    f = iop.funnel(_units(SPEC), unit="site", outcome="dropout", overdispersion="none")
    ax = f.plot()
    assert len(ax.lines) == 5  # target + lower/upper at two levels
    texts = {t.get_text() for t in ax.texts}
    assert texts == set(f.outliers["unit"])
    offsets = ax.collections[0].get_offsets()
    assert np.allclose(offsets[:, 0], f.table["x"]) and np.allclose(
        offsets[:, 1], f.table["estimate"]
    )
    plt.close("all")


def test_plot_every_kind(demo_episodes):
    import matplotlib.pyplot as plt

    for kw in (
        {"outcome": "recovery", "adjust": ["baseline"]},
        {"outcome": "change", "adjust": ["baseline"]},
    ):
        f = iop.funnel(demo_episodes, unit="cohort", **kw)
        ax = iop.plots.plot_funnel(f)
        assert len(ax.lines) == 5
        assert ax.get_xlabel() == (
            "Expected number (case-mix model)" if f.kind == "ratio" else "Episodes (n)"
        )
    plt.close("all")


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"min_named": 0}, "min_named"),
        ({"trim": 0.5}, "trim"),
        ({"shareable": "yes"}, "shareable"),
        ({"unit": ["site"]}, "unit"),
        ({"instrument": 9}, "instrument"),
    ],
)
def test_bad_parameters_raise_the_template(kw, name):
    ep = pd.DataFrame({"site": ["A", "B"] * 10, "discharge_status": ["completed"] * 20})
    with pytest.raises(ConfigError, match=rf"The '{name}' parameter of iop.funnel must be"):
        iop.funnel(ep, outcome="dropout", **kw)


def test_instrument_rule_on_two_instruments():
    one = pd.DataFrame({"episode_id": ["a", "b"], "site": "A", "baseline": 15.0, "endpoint": 8.0})
    both = pd.concat([one.assign(instrument="PHQ-9"), one.assign(instrument="GAD-7")])
    with pytest.raises(ConfigError, match=r"holds 2 instruments .*instrument='GAD-7'"):
        iop.funnel(both, outcome="change")
    with pytest.raises(
        ConfigError, match=r"The 'instrument' parameter of iop.funnel must be one instrument name"
    ):
        iop.funnel(both, outcome="response", instrument=["PHQ-9", "GAD-7"])
