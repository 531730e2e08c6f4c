"""iop.quality_measures on a Dask table of assessments equals the in-memory result: the rates
table, the notes and the printed text exactly (every count is an integer sum), the detail
table after ``compute()`` and sorting; on a 2-worker LocalCluster."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from dask_data import assessments

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, DataError

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Loaded synthetic assessments in a random row order (every patient's rows spread over
    the partitions, so the Dask path must shuffle them by patient), with a missing site."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = iop.load(iop.synth.generate(n_episodes=500, seed=11).data).data
    data["site"] = data["site"].astype(object)
    data.loc[data["patient_id"] == data["patient_id"].iloc[0], "site"] = None
    order = np.random.default_rng(1).permutation(len(data))
    return data.iloc[order].reset_index(drop=True)


def assert_same(got, mem) -> None:
    pd.testing.assert_frame_equal(got.table, mem.table, check_exact=True)
    assert got.notes == mem.notes and got.params == mem.params and got.title == mem.title
    assert got.summary() == mem.summary()
    keys = ["patient_id", *(["episode_id"] if "episode_id" in mem.detail else [])]
    det = got.detail.compute().sort_values(keys).reset_index(drop=True)
    want = mem.detail
    for c in det.columns[det.dtypes == "string"]:  # Dask stores text as strings, not objects
        det[c], want = det[c].astype(object).where(det[c].notna(), None), want.copy()
        want[c] = want[c].astype(object).where(want[c].notna(), None)
    pd.testing.assert_frame_equal(det, want, check_exact=True, check_categorical=False)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"by": "site"},
        {"by": ["format", "age_band"], "unit": "episode"},
        {"measure": "CMS159", "by": "format"},
        {"intake_period": ("2025-01-01", "2025-03-31"), "by": "site"},
        {"as_of": "2025-02-01"},  # no window closed: NaN rates and the note that says so
    ],
    ids=["drr-e", "site", "episode-two-groupings", "cms159", "intake", "no-window-closed"],
)
def test_quality_measures_on_dask_equals_memory(dask_client, rows, kw):
    mem = iop.quality_measures(rows, **kw)
    got = iop.quality_measures(dd.from_pandas(rows, npartitions=4, sort=False), **kw)
    assert_same(got, mem)
    assert mem.table["n_index"].iloc[0] > 100


def test_after_a_dask_load_no_second_shuffle(dask_client, tmp_path):
    """The rows of a Dask load are grouped by patient already; the result equals the in-memory
    load's."""
    table = assessments(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(dd.from_pandas(table, npartitions=3, sort=False)).persist()
        mem_rows = iop.load(table).data
    kw = {"as_of": "2025-12-31", "by": "site"}
    got = iop.quality_measures(loaded.data, **kw)
    mem = iop.quality_measures(mem_rows, **kw)
    pd.testing.assert_frame_equal(got.table, mem.table, check_exact=True)
    assert got.notes == mem.notes
    # 60 patients of 4-7 weekly PHQ-9s from 2025-01-06 onwards: none within 120-240 days
    assert int(mem.table["denominator"].iloc[0]) == int(mem.table["n_index"].iloc[0]) > 0
    assert int(mem.table["numerator"].iloc[0]) == 0


def test_errors_are_the_in_memory_ones(rows):
    ddf = dd.from_pandas(rows.drop(columns="admit_date"), npartitions=2, sort=False)
    with pytest.raises(DataError, match="derived from 'admit_date'"):
        iop.quality_measures(ddf, by="admit_quarter")
    with pytest.raises(DataError, match="episode_id"):
        iop.quality_measures(ddf.drop(columns="episode_id"), unit="episode")
    with pytest.raises(ConfigError, match="'measure' parameter"):
        iop.quality_measures(ddf, measure="HbA1c")
