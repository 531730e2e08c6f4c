"""iop.episodes on a Dask DataFrame equals the in-memory table (after compute and sorting),
on a 2-worker LocalCluster; hand-made data (tests/dask_data.py)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError

dd = pytest.importorskip("dask.dataframe")

from dask_data import assessments  # noqa: E402

from iop_outcomes._dask.episodes import _episodes_part  # noqa: E402


@pytest.fixture(scope="module")
def loaded() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(assessments()).data


def sorted_table(ep: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Rows in the in-memory order (instrument as listed, then episode); categories as text."""
    order = ep["instrument"].map({n: i for i, n in enumerate(names)})
    ep = ep.assign(_o=order.to_numpy()).sort_values(["_o", "episode_id"], kind="stable")
    ep = ep.drop(columns="_o").reset_index(drop=True)
    cats = [c for c in ep.columns if isinstance(ep[c].dtype, pd.CategoricalDtype)]
    return ep.astype({c: "object" for c in cats})


def assert_same(dask_ep: pd.DataFrame, mem_ep: pd.DataFrame, names: list[str]) -> None:
    a, b = sorted_table(dask_ep, names), sorted_table(mem_ep, names)
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


@pytest.mark.parametrize("instrument", ["PHQ-9", ["PHQ-9", "GAD-7"]])
def test_episodes_of_a_dask_frame_equal_memory(dask_client, loaded, instrument):
    mem = iop.episodes(loaded, instrument=instrument)
    ddf = dd.from_pandas(loaded, npartitions=3, sort=False)
    got = iop.episodes(ddf, instrument=instrument)
    assert isinstance(got, dd.DataFrame)
    names = instrument if isinstance(instrument, list) else [instrument]
    assert_same(got.compute(), mem, names)
    assert len(mem) == 40 * len(names)  # 40 patients, one episode each


def test_episodes_after_a_dask_load_equal_memory(dask_client, loaded):
    res = iop.load(dd.from_pandas(assessments(), npartitions=2, sort=False)).persist()
    got = iop.episodes(res.data, instrument="GAD-7").compute()
    assert_same(got, iop.episodes(loaded, instrument="GAD-7"), ["GAD-7"])


def test_instrument_rule_applies_to_the_whole_table(loaded):
    ddf = dd.from_pandas(loaded, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.episodes(ddf)


def test_a_partition_without_the_instrument_keeps_its_episodes(loaded):
    """Placeholder rows: a partition holding only GAD-7 rows still lists its episodes with
    no PHQ-9 score (pair_status no_scores), as the in-memory table does."""
    gad_only = loaded.loc[loaded["instrument"] == "GAD-7"]
    template = loaded.iloc[:1]
    got = _episodes_part(gad_only, ["PHQ-9", "GAD-7"], None, template, iop.episodes)
    mem = iop.episodes(
        pd.concat([gad_only, loaded.loc[loaded["instrument"] == "PHQ-9"].iloc[:0]]),
        instrument="GAD-7",
    )
    phq = got.loc[got["instrument"] == "PHQ-9"]
    assert set(phq["pair_status"].astype(str)) == {"no_scores"}
    assert sorted(phq["episode_id"]) == sorted(mem["episode_id"])
    assert_same(got.loc[got["instrument"] == "GAD-7"], mem, ["GAD-7"])
    empty = _episodes_part(loaded.iloc[:0], ["PHQ-9"], None, template, iop.episodes)
    assert len(empty) == 0 and list(empty.columns) == list(got.columns)
