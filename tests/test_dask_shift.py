"""iop.severity_shift on a Dask episode table equals the in-memory result exactly (table,
notes, matrices, printed text); on a 2-worker LocalCluster."""

from __future__ import annotations

import pandas as pd
import pytest

import iop_outcomes as iop

dd = pytest.importorskip("dask.dataframe")

from dask_data import synthetic_episodes  # noqa: E402


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    """Synthetic episodes of two instruments, with a missing site and a missing endpoint."""
    ep = synthetic_episodes(300, seed=8)
    ep.loc[ep.index[4], "endpoint"] = None
    return ep


def assert_same(got, mem) -> None:
    pd.testing.assert_frame_equal(got.table, mem.table, check_exact=True)
    assert got.notes == mem.notes and got.params == mem.params
    assert got.summary() == mem.summary()
    for inst in dict.fromkeys(mem.table["instrument"]):
        pd.testing.assert_frame_equal(got.matrix(inst), mem.matrix(inst))


@pytest.mark.parametrize(
    "kw",
    [
        {"instrument": "PHQ-9"},
        {"instrument": ["PHQ-9", "GAD-7"], "by": "site"},
        {"instrument": "GAD-7", "by": ["format", "age_band"], "normalize": True},
        {"instrument": "PHQ-9", "by": "admit_quarter"},
    ],
    ids=["phq9", "both-site", "gad7-two-groupings", "derived-quarter"],
)
def test_severity_shift_on_dask_equals_memory(dask_client, episodes, kw):
    ddf = dd.from_pandas(episodes, npartitions=4, sort=False)
    mem = iop.severity_shift(episodes, **kw)
    assert_same(iop.severity_shift(ddf, **kw), mem)
    assert mem.table["n"].sum() > 100


def test_errors_are_the_in_memory_ones(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(iop.ConfigError, match="2 instruments"):
        iop.severity_shift(ddf)
    with pytest.raises(iop.DataError, match="derived from 'age'"):
        iop.severity_shift(ddf.drop(columns="age"), instrument="PHQ-9", by="age_band")
