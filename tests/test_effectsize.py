"""Tests for iop_outcomes.effectsize.

Reference values:
* DOMAIN.md worked example (metafor 3.8-1), to 1e-4 as printed there;
* tests/reference/effectsize/rm_d_reference.csv, made by make_fixtures.R beside it
  (metafor 3.8-1 escalc SMCC/SMCR, effectsize 0.8.3 cohens_d/hedges_g paired, and base-R
  transcriptions of the Borenstein 2009 / Bonett 2008 variances), to 1e-6;
* scipy.stats.bootstrap (BCa / percentile) on the same bootstrap distribution, to 1e-12;
* published summaries (Meru Health 2021, Rogers PHP) from DOMAIN.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from tolerance import SUMS

import iop_outcomes as iop
from iop_outcomes import bootstrap_ci, rm_d, rm_d_from_summary
from iop_outcomes._effectsize.formulas import features as _features
from iop_outcomes._effectsize.formulas import moment_statistic as _moment_statistic
from iop_outcomes._effectsize.resample import bootstrap_interval as _interval
from iop_outcomes._effectsize.resample import moment_bootstrap as _moment_bootstrap
from iop_outcomes._effectsize.resample import resample_counts as _resample_counts
from iop_outcomes.exceptions import ConfigError, DataError

REF = Path(__file__).parent / "reference" / "effectsize"

PRE = [20, 18, 15, 22, 17, 19, 14, 21, 16, 23]
POST = [12, 10, 11, 15, 9, 14, 10, 13, 12, 20]


@pytest.fixture
def example():
    return pd.DataFrame({"baseline": PRE, "endpoint": POST})


def _row(res):
    return res.to_frame().iloc[0]


# ----------------------------------------------------------------------------- worked example


def test_domain_worked_example(example):
    """DOMAIN.md: r = 0.778836, d_z = 2.8379, g_z = 2.5935 (vi 0.43631), d_rm = 1.8874,
    d_av = 1.8928, d_b = 1.9487, g_b = 1.7809 (vi 0.20281)."""
    z = _row(rm_d(example, method="z", adjust=False))
    assert z["r"] == pytest.approx(0.778836, abs=1e-6)
    assert z["estimate"] == pytest.approx(2.8379, abs=1e-4)
    gz = _row(rm_d(example, method="z"))
    assert gz["method"] == "g_z"
    assert gz["estimate"] == pytest.approx(2.5935, abs=1e-4)
    assert gz["se"] ** 2 == pytest.approx(0.43631, abs=1e-5)
    assert _row(rm_d(example, method="rm", adjust=False))["estimate"] == pytest.approx(
        1.8874, abs=1e-4
    )
    assert _row(rm_d(example, method="av", adjust=False))["estimate"] == pytest.approx(
        1.8928, abs=1e-4
    )
    assert _row(rm_d(example, method="b", adjust=False))["estimate"] == pytest.approx(
        1.9487, abs=1e-4
    )
    gb = _row(rm_d(example, method="b"))
    assert gb["estimate"] == pytest.approx(1.7809, abs=1e-4)
    assert gb["se"] ** 2 == pytest.approx(0.20281, abs=1e-5)


def test_hand_calculation_g_z(example):
    # M_d = 5.9, S_d = 2.078995 -> d_z = 2.837909; J(9) = 0.913875 -> g_z = 2.593494
    # vi = 1/10 + g^2/20 = 0.436311; CI = g ± 1.959964 * sqrt(vi)
    g = 5.9 / np.std(np.subtract(PRE, POST), ddof=1) * 0.9138748917925527
    se = np.sqrt(0.1 + g**2 / 20)
    row = _row(rm_d(example, method="z"))
    assert row["estimate"] == pytest.approx(g, abs=SUMS)
    assert row["ci_low"] == pytest.approx(g - 1.959963984540054 * se, abs=SUMS)
    assert row["ci_high"] == pytest.approx(g + 1.959963984540054 * se, abs=SUMS)
    assert row["n_used"] == 10 and row["n_excluded"] == 0
    assert row["mean_change"] == pytest.approx(-5.9)


# ----------------------------------------------------------------------------- R fixtures


def _reference():
    ref = pd.read_csv(REF / "rm_d_reference.csv")
    return {
        ds: dict(zip(g["quantity"], g["value"], strict=True)) for ds, g in ref.groupby("dataset")
    }


DATASETS = ["metafor_example", "phq_like_n200", "unequal_sd_n37", "continuous_n5000"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_against_r_fixtures(dataset):
    ref = _reference()[dataset]
    data = pd.read_csv(REF / f"data_{dataset}.csv")
    tol = 1e-6

    def get(method, adjust):
        return _row(rm_d(data, method=method, adjust=adjust, pre="pre", post="post"))

    dz = get("z", False)
    for col in ("mean_pre", "mean_post", "sd_pre", "sd_post", "r", "sd_change"):
        assert dz[col] == pytest.approx(ref[col], abs=tol), col
    assert dz["n_used"] == ref["n"]
    assert dz["estimate"] == pytest.approx(ref["d_z"], abs=tol)
    assert dz["se"] ** 2 == pytest.approx(ref["vi_d_z"], abs=tol)
    gz = get("z", True)
    assert gz["estimate"] == pytest.approx(ref["g_z"], abs=tol)  # effectsize hedges_g
    assert gz["estimate"] == pytest.approx(ref["g_z_metafor"], abs=tol)  # metafor SMCC
    assert gz["se"] ** 2 == pytest.approx(ref["vi_g_z"], abs=tol)
    gb = get("b", True)
    assert gb["estimate"] == pytest.approx(ref["g_b"], abs=tol)  # metafor SMCR
    assert gb["se"] ** 2 == pytest.approx(ref["vi_g_b"], abs=tol)
    # Bonett (2008) variance for d_b with unequal SDs (metafor 3.8-1 SMCRH carries an extra J^2)
    gh = _row(rm_d(data, method="b", pre="pre", post="post", heteroscedastic=True))
    assert gh["estimate"] == pytest.approx(ref["g_b_smcrh"], abs=tol)
    assert gh["se"] ** 2 == pytest.approx(ref["vi_g_b_smcrh"] / ref["J"] ** 2, abs=tol)
    dh = _row(rm_d(data, method="b", pre="pre", post="post", heteroscedastic=True, adjust=False))
    assert dh["se"] ** 2 == pytest.approx(ref["vi_d_b_bonett"], abs=tol)
    for key in ("b", "rm", "av"):
        d = get(key, False)
        g = get(key, True)
        assert d["estimate"] == pytest.approx(ref[f"d_{key}"], abs=tol), key
        assert d["se"] ** 2 == pytest.approx(ref[f"vi_d_{key}"], abs=tol), key
        if key != "b":
            assert g["estimate"] == pytest.approx(ref[f"g_{key}"], abs=tol), key
            assert g["se"] ** 2 == pytest.approx(ref[f"vi_g_{key}"], abs=tol), key


def _nct_cdf_by_quadrature(t, df, ncp):
    """P(T <= t), T = (Z + ncp)/sqrt(V/df), V ~ chi2(df), by numerical integration."""
    from scipy import integrate

    def f(v):
        return stats.norm.cdf(t * np.sqrt(v / df) - ncp) * stats.chi2.pdf(v, df)

    lo, hi = stats.chi2.ppf([1e-14, 1 - 1e-14], df)
    return integrate.quad(f, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=500)[0]


@pytest.mark.parametrize("dataset", DATASETS)
def test_ncp_ci_matches_r(dataset):
    """ci_method='ncp' reproduces the noncentral-t limits found in R by uniroot on pt() and
    effectsize 0.8.3 cohens_d / hedges_g(paired=TRUE). Documented divergence for the n = 5000
    data set (t = 64.8): R's pt() is inaccurate for ncp > 37.62 (see ?pt) and effectsize's
    optim() does not converge; there the limits are checked by quadrature instead."""
    ref = _reference()[dataset]
    data = pd.read_csv(REF / f"data_{dataset}.csv")
    d = _row(rm_d(data, method="z", adjust=False, ci_method="ncp", pre="pre", post="post"))
    g = _row(rm_d(data, method="z", ci_method="ncp", pre="pre", post="post"))
    assert g["ci_method"] == "ncp"
    if dataset == "continuous_n5000":
        n = len(data)
        t = d["estimate"] * np.sqrt(n)
        assert _nct_cdf_by_quadrature(t, n - 1, d["ci_low"] * np.sqrt(n)) == pytest.approx(
            0.975, abs=1e-9
        )
        assert _nct_cdf_by_quadrature(t, n - 1, d["ci_high"] * np.sqrt(n)) == pytest.approx(
            0.025, abs=1e-9
        )
        assert d["ci_low"] == pytest.approx(ref["d_z_ncp_ci_low_uniroot"], abs=5e-5)
        assert abs(d["ci_low"] - ref["d_z_ncp_ci_low"]) > 0.05  # effectsize 0.8.3: wrong
        return
    assert d["ci_low"] == pytest.approx(ref["d_z_ncp_ci_low_uniroot"], abs=1e-6)
    assert d["ci_high"] == pytest.approx(ref["d_z_ncp_ci_high_uniroot"], abs=1e-6)
    assert d["ci_low"] == pytest.approx(ref["d_z_ncp_ci_low"], abs=1e-6)
    assert d["ci_high"] == pytest.approx(ref["d_z_ncp_ci_high"], abs=1e-6)
    assert g["ci_low"] == pytest.approx(ref["g_z_ncp_ci_low"], abs=1e-6)
    assert g["ci_high"] == pytest.approx(ref["g_z_ncp_ci_high"], abs=1e-6)


def test_effectsize_ncp_ci_is_a_documented_divergence():
    """effectsize 0.8.3 gives d_z a noncentral-t CI; ours is the normal CI with the
    Hedges-Olkin variance. They agree closely for moderate n, not exactly."""
    ref = _reference()["phq_like_n200"]
    data = pd.read_csv(REF / "data_phq_like_n200.csv")
    row = _row(rm_d(data, method="z", adjust=False, pre="pre", post="post"))
    assert row["ci_low"] == pytest.approx(ref["d_z_ncp_ci_low"], abs=0.01)
    assert row["ci_high"] == pytest.approx(ref["d_z_ncp_ci_high"], abs=0.01)
    assert row["ci_low"] != pytest.approx(ref["d_z_ncp_ci_low"], abs=1e-6)


# ----------------------------------------------------------------------------- identities


def test_equal_sds_make_rm_av_b_identical():
    rng = np.random.default_rng(7)
    a = rng.normal(16, 5, size=60)
    data = pd.DataFrame({"baseline": a, "endpoint": rng.permutation(a) - 3.0})
    est = {m: _row(rm_d(data, method=m))["estimate"] for m in ("rm", "av", "b")}
    assert est["rm"] == pytest.approx(est["av"], rel=SUMS)
    assert est["b"] == pytest.approx(est["av"], rel=SUMS)


def test_d_z_times_root_two_one_minus_r_is_d_rm(example):
    z = _row(rm_d(example, method="z", adjust=False))
    rm = _row(rm_d(example, method="rm", adjust=False))
    assert rm["estimate"] == pytest.approx(z["estimate"] * np.sqrt(2 * (1 - z["r"])), rel=SUMS)


def test_row_order_and_column_names_do_not_matter():
    data = pd.read_csv(REF / "data_phq_like_n200.csv")
    shuffled = data.sample(frac=1.0, random_state=3).rename(columns={"pre": "t0", "post": "t1"})
    for ci in ("analytic", "bca"):
        a = rm_d(data, pre="pre", post="post", ci_method=ci, n_boot=500, seed=11).to_frame()
        b = rm_d(shuffled, pre="t0", post="t1", ci_method=ci, n_boot=500, seed=11).to_frame()
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=SUMS)


def test_better_is_higher_flips_sign(example):
    lo = _row(rm_d(example, method="b"))
    hi = _row(rm_d(example, method="b", better_is="higher"))
    assert hi["estimate"] == pytest.approx(-lo["estimate"])
    assert hi["ci_low"] == pytest.approx(-lo["ci_high"])
    assert "improvement" in str(rm_d(example))


def test_grouped_equals_separate_and_counts_exclusions():
    data = pd.read_csv(REF / "data_phq_like_n200.csv").rename(
        columns={"pre": "baseline", "post": "endpoint"}
    )
    data["format"] = np.where(np.arange(len(data)) % 3 == 0, "virtual", "in_person")
    data.loc[[1, 2, 5], "endpoint"] = np.nan
    data.loc[[3], "baseline"] = np.nan
    res = rm_d(data, method="av", by="format").to_frame()
    assert list(res["format"]) == ["in_person", "virtual"]
    for fmt, g in data.groupby("format"):
        sep = _row(rm_d(g, method="av"))
        got = res.set_index("format").loc[fmt]
        for col in ("estimate", "se", "ci_low", "ci_high", "sd_pre", "r"):
            assert got[col] == pytest.approx(sep[col], rel=SUMS)
        assert got["n_used"] == sep["n_used"]
        assert got["n_excluded"] == sep["n_excluded"]
    assert res["n_excluded"].sum() == 4
    assert res["n_used"].sum() == 196
    assert list(res.columns[:2]) == ["format", "method"]


def test_tiny_groups_have_no_estimate():
    data = pd.DataFrame({"baseline": [10, 12, 15, 9, 20], "endpoint": [8, 9, 10, 7, 11]})
    data["g"] = ["a", "a", "b", "b", "b"]
    res = rm_d(data, by="g")
    t = res.to_frame().set_index("g")
    assert np.isnan(t.loc["a", "estimate"]) and np.isfinite(t.loc["b", "estimate"])
    assert "fewer than 3" in str(res)


def test_instrument_rule_never_pools(example):
    # issue 13: rm_d pooled two instruments with only a warning; now instrument=None needs
    # exactly one, a name keeps its rows, a list reports each instrument on its own rows
    data = example.assign(instrument=["PHQ-9"] * 5 + ["GAD-7"] * 5)
    with pytest.raises(ConfigError, match=r"holds 2 instruments \('GAD-7', 'PHQ-9'\)"):
        rm_d(data)
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        rm_d(data, by="instrument")
    phq = _row(rm_d(data, instrument="PHQ-9"))
    assert phq["estimate"] == _row(rm_d(example.iloc[:5]))["estimate"]
    both = rm_d(data, instrument=["PHQ-9", "GAD-7"]).to_frame()
    assert both["instrument"].tolist() == ["GAD-7", "PHQ-9"]
    gad = _row(rm_d(example.iloc[5:]))
    assert both["estimate"].tolist() == [gad["estimate"], phq["estimate"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rm_d(data, instrument="GAD-7")


def test_old_keyword_names_raise(example):
    with pytest.raises(ConfigError, match="no parameter 'data'; it is now called 'episodes'"):
        rm_d(data=example)
    with pytest.raises(ConfigError, match="now called 'episodes'"):
        bootstrap_ci(data=example, statistic=np.mean)
    from iop_outcomes.plots.effectsize import plot_effect_sizes

    with pytest.raises(ConfigError, match="now called 'null_line'"):
        plot_effect_sizes(rm_d(example), reference=0.0)
    with pytest.raises(ConfigError, match=r"'ci_level' parameter of iop.rm_d must be a float"):
        rm_d(example, ci_level="0.9")  # was accepted as a string


# ----------------------------------------------------------------------------- from summary


def test_from_summary_meru_health():
    # Meru Health 2021: change 8.30 (SD 5.03), n = 218 -> g = 1.64 (d_z with Hedges' J)
    row = _row(rm_d_from_summary(n=218, mean_change=-8.30, sd_change=5.03, method="z"))
    assert row["method"] == "g_z"
    assert round(row["estimate"], 2) == 1.64
    assert row["estimate"] == pytest.approx(8.30 / 5.03 * stats_j(217), rel=SUMS)


def stats_j(df):
    from scipy.special import gamma

    return gamma(df / 2) / (np.sqrt(df / 2) * gamma((df - 1) / 2))


def test_from_summary_rogers_php_needs_r_for_ci():
    # QIDS-SR 16.3 (4.6) -> 9.1 (5.1), n = 604: d_av = 7.2 / sqrt((4.6^2 + 5.1^2)/2) = 1.4826
    res = rm_d_from_summary(16.3, 4.6, 9.1, 5.1, 604, method="av", adjust=False)
    row = _row(res)
    assert row["estimate"] == pytest.approx(7.2 / np.sqrt((4.6**2 + 5.1**2) / 2), rel=SUMS)
    assert round(row["estimate"], 2) == 1.48
    assert np.isnan(row["se"]) and row["r_source"] == "unknown"
    assert "r unknown" in str(res)
    # d_z cannot be computed without r
    assert np.isnan(_row(rm_d_from_summary(16.3, 4.6, 9.1, 5.1, 604, method="z"))["estimate"])
    # an assumed r is used and labelled
    assumed = rm_d_from_summary(16.3, 4.6, 9.1, 5.1, 604, method="z", assumed_r=0.4)
    arow = _row(assumed)
    assert arow["r_source"] == "assumed" and np.isfinite(arow["estimate"])
    assert "ASSUMED" in str(assumed)


def test_from_summary_reproduces_rm_d(example):
    x, y = np.array(PRE, float), np.array(POST, float)
    r = np.corrcoef(x, y)[0, 1]
    sd_change = np.std(x - y, ddof=1)
    for m in ("z", "rm", "av", "b"):
        full = _row(rm_d(example, method=m))
        s1 = _row(
            rm_d_from_summary(x.mean(), x.std(ddof=1), y.mean(), y.std(ddof=1), 10, r=r, method=m)
        )
        s2 = _row(
            rm_d_from_summary(
                x.mean(), x.std(ddof=1), y.mean(), y.std(ddof=1), 10, sd_change=sd_change, method=m
            )
        )
        for col in ("estimate", "se", "ci_low", "ci_high"):
            assert s1[col] == pytest.approx(full[col], rel=SUMS), (m, col)
            assert s2[col] == pytest.approx(full[col], rel=SUMS), (m, col)
        assert s2["r_source"] == "derived from sd_change"


def test_from_summary_broadcasts():
    res = rm_d_from_summary([16.3, 15.0], [4.6, 5.0], [9.1, 10.0], [5.1, 5.0], [604, 100], r=0.5)
    assert len(res.to_frame()) == 2


# ----------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_interval_matches_scipy_on_same_distribution(method):
    rng = np.random.default_rng(3)
    x = rng.gamma(2, 2, size=40)
    res = stats.bootstrap(
        (x,),
        np.mean,
        n_resamples=3000,
        method="BCa" if method == "bca" else "percentile",
        rng=np.random.default_rng(5),
        confidence_level=0.9,
    )
    jack = np.array([np.delete(x, i).mean() for i in range(x.size)])
    iv = _interval(x.mean(), res.bootstrap_distribution, jack, np.ones(x.size), 0.9, method)
    assert iv["ci_low"] == pytest.approx(res.confidence_interval.low, abs=SUMS)
    assert iv["ci_high"] == pytest.approx(res.confidence_interval.high, abs=SUMS)


def test_bootstrap_ci_close_to_scipy_end_to_end():
    """Different random streams: agreement within Monte Carlo error (stated tolerance 0.03 on
    a statistic with SE ~0.45, n_boot = 20,000)."""
    rng = np.random.default_rng(3)
    x = rng.gamma(2, 2, size=40)
    ours = _row(bootstrap_ci(x, np.mean, n_boot=20000, seed=1))  # plain ndarray path
    ref = stats.bootstrap(
        (x,), np.mean, n_resamples=20000, method="BCa", rng=np.random.default_rng(2)
    )
    assert ours["ci_low"] == pytest.approx(ref.confidence_interval.low, abs=0.03)
    assert ours["ci_high"] == pytest.approx(ref.confidence_interval.high, abs=0.03)
    assert ours["se"] == pytest.approx(ref.standard_error, rel=0.03)


def test_rm_d_bca_close_to_scipy_paired():
    data = pd.read_csv(REF / "data_unequal_sd_n37.csv")

    def g_av(pre, post, axis=-1):
        n = pre.shape[axis]
        md = np.mean(pre - post, axis=axis)
        s = np.sqrt((np.var(pre, ddof=1, axis=axis) + np.var(post, ddof=1, axis=axis)) / 2)
        return md / s * stats_j(n - 1)

    ref = stats.bootstrap(
        (data["pre"].to_numpy(), data["post"].to_numpy()),
        g_av,
        paired=True,
        n_resamples=20000,
        method="BCa",
        rng=np.random.default_rng(4),
    )
    ours = _row(rm_d(data, pre="pre", post="post", ci_method="bca", n_boot=20000, seed=9))
    assert ours["estimate"] == pytest.approx(g_av(data["pre"].to_numpy(), data["post"].to_numpy()))
    assert ours["ci_low"] == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert ours["ci_high"] == pytest.approx(ref.confidence_interval.high, abs=0.02)


def test_moment_engine_replicates_and_jackknife_are_exact():
    """Each bootstrap replicate (from counts over distinct pairs) equals rm_d recomputed on the
    expanded resample; the jackknife equals brute-force leave-one-out."""
    data = pd.read_csv(REF / "data_phq_like_n200.csv")
    x, y = data["pre"].to_numpy(float), data["post"].to_numpy(float)
    cx, cy = x.mean(), y.mean()
    pairs, counts = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)
    feats = _features(pairs[:, 0] - cx, pairs[:, 1] - cy)
    stat = _moment_statistic("av", True, 1.0, cx - cy)
    w = _resample_counts(counts, 5, np.random.default_rng(0))
    assert (w.sum(axis=1) == len(x)).all()
    reps = stat(w.astype(float) @ feats)
    for b in range(5):
        expanded = pd.DataFrame(np.repeat(pairs, w[b], axis=0), columns=["pre", "post"])
        direct = _row(rm_d(expanded, pre="pre", post="post"))["estimate"]
        assert reps[b] == pytest.approx(direct, rel=SUMS)
    theta, boot, jack, jw = _moment_bootstrap(feats, counts, stat, 200, np.random.default_rng(1))
    for k in (0, 7, len(pairs) - 1):
        i = np.flatnonzero((x == pairs[k, 0]) & (y == pairs[k, 1]))[0]
        loo = data.drop(index=i)
        assert jack[k] == pytest.approx(
            _row(rm_d(loo, pre="pre", post="post"))["estimate"], rel=SUMS
        )
    assert jw.sum() == len(x)


def test_bootstrap_is_seeded(example):
    a = rm_d(example, ci_method="percentile", n_boot=300, seed=42).to_frame()
    b = rm_d(example, ci_method="percentile", n_boot=300, seed=42).to_frame()
    pd.testing.assert_frame_equal(a, b)
    assert a.loc[0, "ci_method"] == "percentile" and a.loc[0, "n_boot"] == 300


def test_weighted_and_plain_statistics_agree():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=50), "site": rng.integers(0, 8, size=50)})
    xv = df["x"].to_numpy()

    def plain(d):
        return d["x"].mean()

    def weighted(d, weights):
        return weights @ xv / weights.sum(axis=1)

    for cl in (None, "site"):
        a = bootstrap_ci(df, plain, n_boot=400, seed=5, cluster=cl).to_frame()
        b = bootstrap_ci(df, weighted, n_boot=400, seed=5, cluster=cl).to_frame()
        for col in ("estimate", "se", "ci_low", "ci_high", "z0", "acceleration"):
            assert a.loc[0, col] == pytest.approx(b.loc[0, col], rel=SUMS), (cl, col)


def test_cluster_bootstrap_resamples_whole_clusters():
    # 10 sites x 30 episodes; the outcome is constant within site, so the cluster bootstrap
    # SE of the mean is that of 10 site means, sd/sqrt(10), not sd/sqrt(300).
    site = np.repeat(np.arange(10), 30)
    v = np.repeat(np.arange(10, dtype=float), 30)
    df = pd.DataFrame({"v": v, "site": site})

    def wmean(d, weights):
        return weights @ v / weights.sum(axis=1)

    res = bootstrap_ci(df, wmean, n_boot=2000, seed=3, cluster="site")
    row = _row(res)
    expected = np.std(np.arange(10.0), ddof=0) / np.sqrt(10)
    assert row["se"] == pytest.approx(expected, rel=0.08)
    assert row["n_clusters"] == 10
    flat = _row(bootstrap_ci(df, wmean, n_boot=2000, seed=3))
    assert flat["se"] < 0.5 * row["se"]


def test_rm_d_cluster_bootstrap_and_by():
    rng = np.random.default_rng(8)
    n = 600
    site = rng.integers(0, 12, size=n)
    base = rng.normal(16, 5, size=n).round()
    end = (0.5 * base + rng.normal(2, 4, size=n) + site * 0.4).round()
    df = pd.DataFrame(
        {"baseline": base, "endpoint": end, "site": site, "format": np.where(site < 6, "v", "p")}
    )
    res = rm_d(df, by="format", ci_method="bca", cluster="site", n_boot=500, seed=1)
    t = res.to_frame()
    assert list(t["n_clusters"]) == [6, 6]
    assert (t["ci_low"] < t["estimate"]).all() and (t["estimate"] < t["ci_high"]).all()
    assert "clusters (site)" in res.method
    assert "Only 6 cluster(s)" in str(res)


def test_bootstrap_ci_by_and_multiple_statistics():
    df = pd.DataFrame({"x": np.arange(40.0), "g": ["a", "b"] * 20})
    res = bootstrap_ci(
        df,
        lambda d: {"mean": d["x"].mean(), "median": d["x"].median()},
        n_boot=300,
        seed=0,
        by="g",
        method="percentile",
        progress=True,
    )
    t = res.to_frame()
    assert list(t["g"]) == ["a", "a", "b", "b"]
    assert list(t["statistic"]) == ["mean", "median"] * 2
    assert (t["n_used"] == 20).all()


def test_grouped_jackknife_for_many_units():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=3000)
    xv = x

    def wmean(d, weights):
        return weights @ xv / weights.sum(axis=1)

    res = bootstrap_ci(pd.DataFrame({"x": x}), wmean, n_boot=500, seed=2)
    row = _row(res)
    # exact jackknife acceleration of a mean: skewness / (6 sqrt(n))
    a_exact = stats.skew(x) / (6 * np.sqrt(len(x)))
    assert row["acceleration"] == pytest.approx(a_exact, rel=0.15)
    assert "grouped jackknife" in str(res)


# ----------------------------------------------------------------------------- errors, printing


def test_errors(example):
    with pytest.raises(DataError, match="needs the column"):
        rm_d(example, pre="intake")
    with pytest.raises(ConfigError, match="'method' parameter"):
        rm_d(example, method="glass")
    with pytest.raises(ConfigError, match="'better_is'"):
        rm_d(example, better_is="down")
    with pytest.raises(ConfigError, match="cluster"):
        rm_d(example.assign(site=1), cluster="site")
    with pytest.raises(ConfigError, match="ncp"):
        rm_d(example, method="av", ci_method="ncp")
    with pytest.raises(ConfigError, match="ci_level"):
        rm_d(example, ci_level=95)
    with pytest.raises(ConfigError, match="n_boot"):
        rm_d(example, ci_method="bca", n_boot=10)
    with pytest.raises(DataError, match="numeric"):
        rm_d(example.assign(endpoint=["x"] * 10))
    with pytest.raises(DataError, match="missing"):
        rm_d(example.assign(site=[1] * 9 + [None]), ci_method="bca", cluster="site")
    with pytest.raises(ConfigError, match="statistic"):
        bootstrap_ci(example, "mean")
    with pytest.raises(ConfigError, match="'method' parameter of iop.bootstrap_ci"):
        bootstrap_ci(example, np.mean, method="bc")


def test_becker_variance_note_when_sds_differ():
    data = pd.read_csv(REF / "data_unequal_sd_n37.csv")
    ratio = data["post"].std() / data["pre"].std()
    assert ratio > 1.2
    res = rm_d(data, method="b", pre="pre", post="post")
    assert "heteroscedastic=True" in str(res)
    hres = rm_d(data, method="b", pre="pre", post="post", heteroscedastic=True)
    assert "heteroscedastic=True" not in str(hres) and "Bonett 2008 eq. 13" in hres.method
    assert "heteroscedastic" not in str(rm_d(data, method="av", pre="pre", post="post"))


def test_method_aliases(example):
    for alias in ("av", "d_av", "g_av", "AV"):
        assert _row(rm_d(example, method=alias))["method"] == "g_av"
    assert _row(rm_d(example, method="becker", adjust=False))["method"] == "d_b"


def test_printing(example):
    res = rm_d(example, by=None)
    text = str(res)
    assert text.startswith("Pre–post standardized mean change (g_av)")
    assert "Method: g_av" in text and "Bonett 2008" in text
    assert "<table" in res._repr_html_()
    assert isinstance(res.to_frame(), pd.DataFrame)


def test_public_api_names():
    assert iop.rm_d is rm_d
    assert iop.bootstrap_ci is bootstrap_ci


def test_plot_effect_sizes_structure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from iop_outcomes.plots.effectsize import plot_effect_sizes

    data = pd.read_csv(REF / "data_phq_like_n200.csv").rename(
        columns={"pre": "baseline", "post": "endpoint"}
    )
    data["format"] = np.where(np.arange(len(data)) % 2 == 0, "virtual", "in_person")
    res = rm_d(data, method="b", by="format")
    fig, ax = plt.subplots()
    out = plot_effect_sizes(res, ax=ax)
    assert out is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "in_person (n = 100)",
        "virtual (n = 100)",
    ]
    assert "g_b (95% CI)" in ax.get_xlabel()
    segs = ax.collections[0].get_segments()
    t = res.to_frame()
    assert segs[0][0][0] == pytest.approx(t["ci_low"][0])
    assert segs[0][1][0] == pytest.approx(t["ci_high"][0])
    plt.close(fig)
    with pytest.raises(DataError):
        plot_effect_sizes(pd.DataFrame({"x": [1]}))


def test_poisson_bootstrap_for_large_samples_matches_the_multinomial_bootstrap(monkeypatch):
    # from POISSON_MIN_N resampling units on, counts are Poisson draws (Hanley & MacGibbon 2006);
    # at that size the interval is the multinomial bootstrap's to Monte Carlo precision
    import numpy as np
    import pandas as pd

    import iop_outcomes._effectsize.resample as resample
    from iop_outcomes import rm_d as es_rm_d

    rng = np.random.default_rng(3)
    n = 60_000
    b = np.clip(np.round(rng.normal(16, 5, n)), 0, 27)
    e = np.clip(np.round(0.5 * b + rng.normal(2.5, 4.5, n)), 0, 27)
    df = pd.DataFrame({"baseline": b, "endpoint": e})
    pois = es_rm_d(df, ci_method="percentile", n_boot=2000, seed=1).to_frame()
    monkeypatch.setattr(resample, "POISSON_MIN_N", 10**9)
    mult = es_rm_d(df, ci_method="percentile", n_boot=2000, seed=1).to_frame()
    assert pois["estimate"].iloc[0] == mult["estimate"].iloc[0]
    for col in ("ci_low", "ci_high"):
        assert abs(pois[col].iloc[0] - mult[col].iloc[0]) < 0.004


def test_bca_counts_replicates_tied_with_the_estimate_as_half_whatever_the_last_bit():
    # A cluster bootstrap sometimes redraws the original sample, so a replicate equals the
    # estimate; computed along another summation order it lands one ulp above or below it.
    # BCa's z0 must not depend on which: ties count half (as scipy.stats.bootstrap), within a
    # tolerance relative to the statistic's scale.

    rng = np.random.default_rng(0)
    theta = -0.2
    boot = np.concatenate([rng.normal(theta, 0.1, 400), np.full(25, theta)])
    jack = rng.normal(theta, 0.01, 50)
    w = np.ones(50)
    exact = _interval(theta, boot, jack, w, 0.95, "bca")
    for nudge in (np.nextafter(theta, 1.0), np.nextafter(theta, -1.0)):
        moved = np.where(boot == theta, nudge, boot)
        got = _interval(theta, moved, jack, w, 0.95, "bca")
        assert got["z0"] == exact["z0"]
        assert (got["ci_low"], got["ci_high"]) == pytest.approx(
            (exact["ci_low"], exact["ci_high"]), rel=SUMS
        )
    # hand count: 25 ties count half; below = #(normal draws < theta)
    below = np.count_nonzero(boot[:400] < theta)
    # the same fraction through the same ppf, no summation: equal to within an ulp or two
    assert exact["z0"] == pytest.approx(stats.norm.ppf((below + 12.5) / 425), rel=1e-12)
