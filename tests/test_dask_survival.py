"""iop.dropout_survival on a Dask episode table equals the in-memory result: the curves,
medians, log-rank test and numbers at risk exactly (they are functions of the counts per
group, day and status), attendance to 1e-9, the same printed text; on a 2-worker
LocalCluster."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, DataError

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    """Synthetic episodes of two instruments, with a missing group, a missing status and a
    missing length of stay among them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = iop.load(iop.synth.generate(n_episodes=300, seed=5).data).data
        ep = iop.episodes(data, instrument=["PHQ-9", "GAD-7"])
    ep["format"] = ep["format"].astype(object)
    ep.loc[ep.index[3], "format"] = None
    ep["discharge_status"] = ep["discharge_status"].astype(object)
    ep.loc[ep.index[5], "discharge_status"] = None
    ep.loc[ep.index[8], "los_days"] = np.nan
    ep.loc[ep.index[8], "discharge_date"] = pd.NaT
    return ep.sort_values(["episode_id", "instrument"], kind="stable").reset_index(drop=True)


def assert_same(a, b) -> None:
    for part in ("table", "curve", "logrank", "at_risk", "los_curve"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part), check_exact=True)
    x, y = a.attendance, b.attendance
    assert list(x.columns) == list(y.columns) and x["group"].tolist() == y["group"].tolist()
    num = [c for c in y.columns if pd.api.types.is_float_dtype(y[c])]
    np.testing.assert_allclose(x[num].to_numpy(float), y[num].to_numpy(float), rtol=1e-9)
    ints = [c for c in y.columns if pd.api.types.is_integer_dtype(y[c])]
    pd.testing.assert_frame_equal(x[ints], y[ints])
    assert a.params == b.params and a.notes == b.notes and a.groups == b.groups
    assert a.summary() == b.summary()


@pytest.mark.parametrize(
    "kw",
    [
        {"group": "format"},
        {"group": "site", "reference": "South", "transfers": "competing"},
        {"group": None, "times": [0, 30, 60]},
        {"group": "format", "as_of": "2025-06-30"},
    ],
    ids=["format", "site-competing", "overall", "as_of"],
)
def test_dropout_survival_on_dask_equals_memory(dask_client, episodes, kw):
    ddf = dd.from_pandas(episodes, npartitions=4, sort=False)
    kw = {**kw, "instrument": "PHQ-9"}
    mem = iop.dropout_survival(episodes, **kw)
    assert "episode(s) without a length of stay" in mem.notes[-1]  # the missing status, stay
    assert_same(iop.dropout_survival(ddf, **kw), mem)


def test_categorical_group_and_one_partition(dask_client, episodes):
    ep = episodes.assign(format=episodes["format"].astype("category"))
    for n in (1, 3):
        ddf = dd.from_pandas(ep, npartitions=n, sort=False)
        kw = {"group": "format", "instrument": "GAD-7"}
        assert_same(iop.dropout_survival(ddf, **kw), iop.dropout_survival(ep, **kw))


def test_errors_are_the_in_memory_ones(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.dropout_survival(ddf)
    with pytest.raises(ConfigError, match="needs group=") as e:
        iop.dropout_survival(ddf, group=None, reference="virtual", instrument="PHQ-9")
    with pytest.raises(ConfigError) as m:
        iop.dropout_survival(episodes, group=None, reference="virtual", instrument="PHQ-9")
    assert str(e.value) == str(m.value)
    bad = episodes.assign(los_days=-episodes["los_days"])
    with pytest.raises(DataError, match="negative length of stay") as e:
        iop.dropout_survival(dd.from_pandas(bad, npartitions=2), instrument="PHQ-9")
    with pytest.raises(DataError) as m:
        iop.dropout_survival(bad, instrument="PHQ-9")
    assert str(e.value) == str(m.value)
    rows = pd.DataFrame({"episode_id": ["e"], "total": [10.0], "instrument": ["PHQ-9"]})
    with pytest.raises(ConfigError, match="takes an episode table"):
        iop.dropout_survival(dd.from_pandas(rows, npartitions=1))
