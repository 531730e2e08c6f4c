"""iop.clinical_significance on a Dask episode table equals the in-memory result: the same
table (counts exactly, rates and intervals to 1e-9), parameters, printed text and per-episode
categories; the sample SD from the whole table; on a 2-worker LocalCluster, hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError

dd = pytest.importorskip("dask.dataframe")

from dask_data import episode_table  # noqa: E402


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    return episode_table(60)


def assert_same(dask_res, mem_res) -> None:
    a, b = dask_res.table, mem_res.table
    num = ["estimate", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(a.drop(columns=num), b.drop(columns=num))
    assert np.nanmax(np.abs(a[num].to_numpy(float) - b[num].to_numpy(float))) < 1e-9
    assert dask_res.params.keys() == mem_res.params.keys()
    for k, v in mem_res.params.items():
        got = dask_res.params[k]
        assert abs(got - v) < 1e-9 if isinstance(v, float) else got == v, k
    assert dask_res.summary() == mem_res.summary()
    e1 = mem_res.episodes.sort_values("episode_id").reset_index(drop=True)
    e2 = dask_res.episodes.compute().sort_values("episode_id").reset_index(drop=True)
    assert e1["category"].astype(object).fillna("-").tolist() == (
        e2["category"].astype(object).fillna("-").tolist()
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"instrument": "PHQ-9"},
        {"instrument": "PHQ-9", "by": "site"},
        {"instrument": "GAD-7", "method": "gulliksen-lord-novick", "by": "format"},
        {"instrument": "PHQ-9", "method": "hsu-linn-lord"},
        {"instrument": "PHQ-9", "method": "combined", "by": "site"},
        {"instrument": "PHQ-9", "threshold": "fixed"},
    ],
)
def test_clinical_significance_on_dask_equals_memory(dask_client, episodes, kw):
    # sorted by instrument: two of the four partitions hold GAD-7 rows only
    ddf = dd.from_pandas(episodes, npartitions=4, sort=False)
    assert_same(iop.clinical_significance(ddf, **kw), iop.clinical_significance(episodes, **kw))


def test_the_sample_sd_is_the_whole_tables(episodes):
    """threshold='sample': the SD of all paired baselines (not of one partition's)."""
    phq = episodes.loc[episodes["instrument"] == "PHQ-9"]
    ddf = dd.from_pandas(phq, npartitions=3, sort=False)
    res = iop.clinical_significance(ddf, instrument="PHQ-9")
    paired = phq.loc[phq["baseline"].notna() & phq["endpoint"].notna(), "baseline"]
    assert res.params["sd"] == pytest.approx(float(np.std(paired.to_numpy(), ddof=1)), rel=1e-12)
    assert f"SD of the {len(paired):,} paired baselines" in res.summary()


def test_what_does_not_distribute_says_so(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.clinical_significance(ddf)
    with pytest.raises(ConfigError, match=r"method='hageman-arrindell'\) does not run on Dask"):
        iop.clinical_significance(ddf, instrument="PHQ-9", method="ha")
    with pytest.raises(ConfigError, match="compute it"):
        iop.clinical_significance(ddf, instrument="PHQ-9", method="anchor", target="group")


def test_a_partition_without_pairs_still_counts_its_rows(dask_client, episodes):
    """Rows of a partition where no episode has both scores are excluded, as in memory."""
    phq = episodes.loc[episodes["instrument"] == "PHQ-9"].reset_index(drop=True)
    phq.loc[phq.index[-10:], "endpoint"] = np.nan  # the last 10 episodes without an endpoint
    ddf = dd.from_pandas(phq, npartitions=1).repartition(divisions=[0, len(phq) - 10, len(phq) - 1])
    assert ddf.npartitions == 2
    kw = {"instrument": "PHQ-9", "by": "site"}
    assert_same(iop.clinical_significance(ddf, **kw), iop.clinical_significance(phq, **kw))
