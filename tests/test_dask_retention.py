"""iop.retention on a Dask episode table equals the in-memory result: the flow and follow-up
tables exactly, the response tests (chi-square; logistic, unadjusted and adjusted for
covariates) to 1e-9, the same printed text; on a 2-worker LocalCluster."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    """Synthetic episodes of two instruments, with a missing group and a missing status."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = iop.load(iop.synth.generate(n_episodes=400, seed=6).data).data
        ep = iop.episodes(data, instrument=["PHQ-9", "GAD-7"])
    ep["site"] = ep["site"].astype(object)
    ep.loc[ep.index[3], "site"] = None
    ep["discharge_status"] = ep["discharge_status"].astype(object)
    ep.loc[ep.index[5], "discharge_status"] = None
    return ep.sort_values(["episode_id", "instrument"], kind="stable").reset_index(drop=True)


def assert_same(a, b) -> None:
    for part in ("flow", "followup"):  # counts and closed forms of counts: exactly
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part), check_exact=True)
    # the logistic fit sums its rows in another order: to rounding
    pd.testing.assert_frame_equal(a.tests, b.tests, check_exact=False, rtol=1e-9, atol=1e-12)
    assert a.params == b.params and a.notes == b.notes and a.groups == b.groups
    assert a.summary() == b.summary()


@pytest.mark.parametrize(
    "kw",
    [
        {"group": "format"},  # default covariates: the baseline score
        {"group": "site", "reference": "South", "covariates": ("baseline", "age", "payer")},
        {"group": "format", "covariates": (), "as_of": "2025-03-31"},
        {"group": None, "windows": ("1m", "3m")},
    ],
    ids=["format", "site-covariates", "as_of", "overall"],
)
def test_retention_on_dask_equals_memory(dask_client, episodes, kw):
    ddf = dd.from_pandas(episodes, npartitions=4, sort=False)
    kw = {**kw, "instrument": "PHQ-9"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = iop.retention(episodes, **kw)
        got = iop.retention(ddf, **kw)
    assert_same(got, mem)
    if kw["group"]:
        assert len(mem.tests) > 0


def test_categorical_group_one_partition_and_other_instrument(dask_client, episodes):
    ep = episodes.assign(format=episodes["format"].astype("category"))
    for n in (1, 3):
        ddf = dd.from_pandas(ep, npartitions=n, sort=False)
        kw = {"group": "format", "instrument": "GAD-7"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_same(iop.retention(ddf, **kw), iop.retention(ep, **kw))


def test_errors_are_the_in_memory_ones(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.retention(ddf)
    rows = pd.DataFrame({"episode_id": ["e"], "total": [10.0], "instrument": ["PHQ-9"]})
    with pytest.raises(ConfigError, match="takes an episode table"):
        iop.retention(dd.from_pandas(rows, npartitions=1))
