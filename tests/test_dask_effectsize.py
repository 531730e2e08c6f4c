"""iop.rm_d on a Dask episode table equals the in-memory result (the same table and printed
text; closed forms to 1e-9), on a 2-worker LocalCluster; hand-made data and metafor's example."""

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
    return episode_table()


def assert_same(dask_res, mem_res) -> None:
    a, b = dask_res.to_frame(), mem_res.to_frame()
    num = [c for c in b.columns if pd.api.types.is_float_dtype(b[c])]
    other = [c for c in b.columns if c not in num]
    pd.testing.assert_frame_equal(a[other], b[other])  # keys, methods and counts exactly
    x, y = a[num].to_numpy(float), b[num].to_numpy(float)
    assert np.array_equal(np.isnan(x), np.isnan(y))
    assert np.nanmax(np.abs(x - y)) < 1e-9
    assert dask_res.summary() == mem_res.summary()


@pytest.mark.parametrize(
    "kw",
    [
        {"instrument": "PHQ-9"},
        {"instrument": ["PHQ-9", "GAD-7"], "by": "site"},
        {"instrument": "GAD-7", "method": "z", "ci_method": "ncp"},
        {"instrument": "PHQ-9", "method": "av", "by": ["format", "site"]},
    ],
)
def test_rm_d_on_dask_equals_memory(dask_client, episodes, kw):
    ddf = dd.from_pandas(episodes, npartitions=3, sort=False)
    assert_same(iop.rm_d(ddf, **kw), iop.rm_d(episodes, **kw))


def test_metafor_example_on_dask():
    """DOMAIN.md's worked example (metafor 3.8-1: g_b = 1.7809, var 0.20281), split in 3."""
    ep = pd.DataFrame(
        {
            "baseline": [20, 18, 15, 22, 17, 19, 14, 21, 16, 23],
            "endpoint": [12, 10, 11, 15, 9, 14, 10, 13, 12, 20],
        }
    )
    row = iop.rm_d(dd.from_pandas(ep, npartitions=3), method="b").to_frame().iloc[0]
    assert round(float(row["estimate"]), 4) == 1.7809
    assert round(float(row["se"]) ** 2, 5) == 0.20281


def test_bootstrap_does_not_distribute_and_says_so(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="does not distribute by sums"):
        iop.rm_d(ddf, instrument="PHQ-9", ci_method="bca")
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.rm_d(ddf)
