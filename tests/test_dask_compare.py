"""iop.compare(method="welch" or "ancova") on a Dask episode table equals the in-memory result:
counts exactly, estimates, SEs, df, intervals, adjusted means and effect sizes to 1e-9, the
same printed text; on a 2-worker LocalCluster. The propensity-score methods say they do not
run on Dask and name the route."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError, DataError

dd = pytest.importorskip("dask.dataframe")

from dask_data import episode_table  # noqa: E402


@pytest.fixture(scope="module")
def episodes() -> pd.DataFrame:
    ep = episode_table(n_patients=60)
    ep.loc[ep.index[::7], "endpoint"] = np.nan  # some episodes without an endpoint
    return ep


def assert_same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in b.columns:
        if pd.api.types.is_float_dtype(b[c]):
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), c
            assert np.nanmax(np.abs(x - y), initial=0.0) < 1e-9, c
        else:
            assert a[c].astype(str).tolist() == b[c].astype(str).tolist(), c


def assert_same(dask_res, mem_res) -> None:
    for part in ("table", "means", "effect_sizes"):
        assert_same_frame(getattr(dask_res, part), getattr(mem_res, part))
    assert dask_res.params == mem_res.params  # n_used and n_excluded exactly
    assert dask_res.notes == mem_res.notes and dask_res.method == mem_res.method
    assert dask_res.summary() == mem_res.summary()  # the same printed text


@pytest.mark.parametrize(
    "group,reference,npartitions",
    [("format", "in_person", 3), ("site", None, 4), ("format", "virtual", 1)],
)
def test_welch_on_dask_equals_memory(dask_client, episodes, group, reference, npartitions):
    ddf = dd.from_pandas(episodes, npartitions=npartitions, sort=False)
    kw = {"method": "welch", "group": group, "reference": reference, "instrument": "PHQ-9"}
    mem = iop.compare(episodes, **kw)
    assert_same(iop.compare(ddf, **kw), mem)
    assert mem.params["n_excluded"] > 0 and len(mem.table) >= 1


@pytest.mark.parametrize(
    "covariates,vcov",
    [((), "classical"), (("age", "site"), "classical"), (("age", "site"), "HC3")],
)
def test_ancova_on_dask_equals_memory(dask_client, episodes, covariates, vcov):
    # the fit from the partitions' cross-products (and, for HC3, a pass for the sandwich)
    ddf = dd.from_pandas(episodes, npartitions=4, sort=False)
    kw = {"method": "ancova", "instrument": "PHQ-9", "covariates": covariates, "vcov": vcov}
    mem = iop.compare(episodes, **kw)
    assert_same(iop.compare(ddf, **kw), mem)
    assert len(mem.means) == 2 and mem.params["covariates"] == list(covariates)


def test_ancova_constant_and_collinear_covariates_as_in_memory(dask_client, episodes):
    ep = episodes.assign(clinic="A", twice=2 * episodes["baseline"])
    ddf = dd.from_pandas(ep, npartitions=3, sort=False)
    kw = {"method": "ancova", "instrument": "PHQ-9", "covariates": ["clinic", "age"]}
    mem = iop.compare(ep, **kw)  # a constant covariate is dropped, with a note
    assert any("'clinic' is constant" in n for n in mem.notes)
    assert_same(iop.compare(ddf, **kw), mem)
    kw["covariates"] = ["twice"]
    with pytest.raises(DataError, match="rank deficient") as e:
        iop.compare(ddf, **kw)
    with pytest.raises(DataError) as m:
        iop.compare(ep, **kw)
    assert str(e.value) == str(m.value)


def test_ancova_exact_fit_as_in_memory(dask_client):
    # an endpoint exactly linear in baseline and group: the fit, not a rank error (found by
    # a review: the Cholesky of the whole [X y] Gram matrix is singular then)
    ep = pd.DataFrame({"format": ["in_person", "virtual"] * 6, "baseline": np.arange(12.0) + 5})
    ep["endpoint"] = ep["baseline"] - 3 + 2 * (ep["format"] == "virtual")
    mem = iop.compare(ep, method="ancova")
    got = iop.compare(dd.from_pandas(ep, npartitions=4), method="ancova")
    assert got.table["estimate"].iloc[0] == pytest.approx(2.0, abs=1e-9)
    assert mem.table["estimate"].iloc[0] == pytest.approx(2.0, abs=1e-9)
    assert got.table["se"].iloc[0] == pytest.approx(0.0, abs=1e-6)


def test_a_partition_without_the_instrument_or_a_group(dask_client, episodes):
    # partitions holding only GAD-7 rows, or only one format, still combine to the whole
    ordered = episodes.sort_values(["instrument", "format"], kind="stable").reset_index(drop=True)
    ddf = dd.from_pandas(ordered, npartitions=5, sort=False)
    for method in ("welch", "ancova"):
        kw = {"method": method, "instrument": "PHQ-9"}
        assert_same(iop.compare(ddf, **kw), iop.compare(ordered, **kw))


def test_errors_are_the_in_memory_ones(episodes):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="holds 2 instruments"):
        iop.compare(ddf, method="welch")
    with pytest.raises(ConfigError, match="must be a level of 'format'") as e:
        iop.compare(ddf, method="welch", instrument="PHQ-9", reference="telehealth")
    with pytest.raises(ConfigError) as m:
        iop.compare(episodes, method="welch", instrument="PHQ-9", reference="telehealth")
    assert str(e.value) == str(m.value)
    with pytest.raises(DataError, match="no episode has a baseline"):
        none = episodes.assign(endpoint=np.nan)
        iop.compare(dd.from_pandas(none, npartitions=2), method="welch", instrument="PHQ-9")


@pytest.mark.parametrize("method", ["iptw", "overlap", "doubly_robust"])
def test_methods_not_distributed_say_so_and_name_the_route(episodes, method):
    ddf = dd.from_pandas(episodes, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match=r"does not run on a Dask table yet.*compute\(\)"):
        iop.compare(ddf, method=method, instrument="PHQ-9")
