"""iop.change_summary on a Dask episode table equals the in-memory result: counts exactly,
closed forms to 1e-9, the same printed text; on a 2-worker LocalCluster, hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._change.summary import combine_moments, group_moments
from iop_outcomes.exceptions import ConfigError

dd = pytest.importorskip("dask.dataframe")

from dask_data import assessments, episode_table  # noqa: E402

COUNTS = [
    "n_episodes",
    "n_paired",
    *[f"{f}_{c}" for f in ("response", "remission", "mcid") for c in ("k", "n")],
]


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    return episode_table()


def assert_same(dask_res, mem_res) -> None:
    a, b = dask_res.to_frame(), mem_res.to_frame()
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a[COUNTS], b[COUNTS])  # counts exactly
    keys = [c for c in b.columns if b[c].dtype == object or str(b[c].dtype) == "str"]
    pd.testing.assert_frame_equal(a[keys].astype(str), b[keys].astype(str))
    num = [c for c in b.columns if c not in COUNTS and c not in keys]
    diff = np.abs(a[num].to_numpy(float) - b[num].to_numpy(float))
    assert np.all(np.isnan(diff) == np.isnan(b[num].to_numpy(float)))
    assert np.nanmax(diff) < 1e-9
    assert dask_res.summary() == mem_res.summary()  # the same printed text


@pytest.mark.parametrize("by", [None, "site", ["format", "age_band"]])
def test_change_summary_on_dask_equals_memory(dask_client, episodes, by):
    ddf = dd.from_pandas(episodes, npartitions=3, sort=False)
    kw = {"by": by, "instrument": ["PHQ-9", "GAD-7"]}
    assert_same(iop.change_summary(ddf, **kw), iop.change_summary(episodes, **kw))


def test_after_dask_load_and_episodes(dask_client, episodes):
    res = iop.load(dd.from_pandas(assessments(), npartitions=2, sort=False)).persist()
    ep = iop.episodes(res.data, instrument="PHQ-9")
    mem = iop.change_summary(episodes, by="site", instrument="PHQ-9")
    assert_same(iop.change_summary(ep, by="site"), mem)
    assert mem.to_frame()["n_episodes"].iloc[0] == 40


def test_instrument_rule_on_the_whole_table(episodes):
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.change_summary(dd.from_pandas(episodes, npartitions=2, sort=False))


def test_combined_moments_equal_the_whole_including_tiny_parts():
    """Parts of 0, 1 and several paired episodes combine to the moments of the whole
    (Chan et al. 1983); the whole is the in-memory computation."""
    b = np.array([20.0, 15, 18, np.nan, 22, 9, 14])
    e = np.array([10.0, 14, 6, 8, np.nan, 4, 13])
    paired = ~np.isnan(b) & ~np.isnan(e)
    w = pd.DataFrame(
        {
            "k": "g",
            "paired": paired,
            "b": np.where(paired, b, np.nan),
            "e": np.where(paired, e, np.nan),
        }
    )
    w["d"] = w["e"] - w["b"]
    for f in ("response", "remission", "mcid"):
        w[f] = np.where(paired, (np.arange(7) % 2).astype(float), np.nan)
    whole = group_moments(w, ["k"])
    cuts = [w.iloc[:1], w.iloc[1:1], w.iloc[1:4], w.iloc[4:5], w.iloc[5:]]
    stacked = pd.concat([group_moments(c, ["k"]).reset_index() for c in cuts if len(c)])
    got = combine_moments(stacked, ["k"])[whole.columns]
    np.testing.assert_allclose(got.to_numpy(float), whole.to_numpy(float), rtol=1e-12)
    # by hand: paired b = 20, 15, 18, 9, 14 (mean 15.2), e = 10, 14, 6, 4, 13 (mean 9.4)
    assert whole["b_mean"].iloc[0] == pytest.approx(15.2)
    assert whole["xy"].iloc[0] == pytest.approx(
        float(np.sum((np.array([20, 15, 18, 9, 14]) - 15.2) * (np.array([10, 14, 6, 4, 13]) - 9.4)))
    )


def test_an_analysis_not_yet_distributed_names_the_route(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError) as err:
        iop.equivalence(ddf, instrument="PHQ-9")
    assert str(err.value) == (
        "The 'episodes' parameter of iop.equivalence must be a pandas DataFrame. Got a Dask "
        "DataFrame of 2 partition(s) instead. iop.equivalence does not run on Dask yet (docs/scale.md lists what "
        "does). An episode table has one row per episode: compute it "
        "(iop.episodes(dask_frame).compute()) and pass the pandas table; for models of every "
        "assessment (mixed models, multiple imputation, bootstrap), fit on a stratified sample "
        "or per site and pool the estimates (iop.pool_sites), stating the sample size."
    )
