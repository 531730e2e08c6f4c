"""iop.durability on a Dask episode table equals the in-memory result: counts exactly, the
mean change and its interval to 1e-9, the same notes and printed text; on a 2-worker
LocalCluster."""

from __future__ import annotations

import pandas as pd
import pytest

import iop_outcomes as iop

dd = pytest.importorskip("dask.dataframe")

from dask_data import synthetic_episodes  # noqa: E402


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    """Synthetic episodes of two instruments, with a missing site."""
    return synthetic_episodes(400, seed=12)


@pytest.mark.parametrize(
    "kw",
    [
        {"instrument": "PHQ-9"},
        {"instrument": "GAD-7", "by": "site"},
        {"instrument": "PHQ-9", "by": "format"},
    ],
    ids=["phq9", "gad7-site", "phq9-format"],
)
def test_durability_on_dask_equals_memory(dask_client, episodes, kw):
    ddf = dd.from_pandas(episodes, npartitions=4, sort=False)
    mem = iop.durability(episodes, **kw)
    got = iop.durability(ddf, **kw)
    for c in ("n", "count"):  # counts exactly
        pd.testing.assert_series_equal(got.table[c], mem.table[c])
    pd.testing.assert_frame_equal(got.table, mem.table, check_exact=False, rtol=1e-9, atol=1e-12)
    assert got.notes == mem.notes and got.params == mem.params
    assert got.summary() == mem.summary()
    assert mem.table["n"].max() > 50


def test_errors_are_the_in_memory_ones(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(iop.ConfigError, match="holds 2 instruments"):
        iop.durability(ddf)
    with pytest.raises(iop.DataError, match=r"needs the column\(s\) \['nope'\]"):
        iop.durability(ddf, instrument="PHQ-9", by="nope")
