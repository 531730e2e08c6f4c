"""iop.load(engine="dask"): the in-memory pipeline per partition, on a 2-worker LocalCluster.

Every comparison is with the in-memory load of the same rows (``iop.load`` of the whole
table): the same loaded rows and scores, the same disposition and reason for every input row
(file and row mapped back), the same counts; hand-made data (tests/dask_data.py).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import ConfigError

dd = pytest.importorskip("dask.dataframe")

from dask_data import assessments, write_files  # noqa: E402

SORT = ["patient_id", "instrument", "assessment_date", "total"]


def _memory(df: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(df)


def _same_rows(dask_data: pd.DataFrame, mem_data: pd.DataFrame) -> None:
    def order(d: pd.DataFrame) -> pd.DataFrame:
        d = d.drop(columns="source_row").reset_index(drop=True)
        key = d[SORT].astype({"patient_id": str, "instrument": str})
        return d.iloc[key.sort_values(SORT).index].reset_index(drop=True)

    a, b = order(dask_data), order(mem_data)
    assert list(a.columns) == list(b.columns)
    for c in b.columns:  # values equal; categories may be listed in another order
        same = (a[c].astype(object) == b[c].astype(object)) | (a[c].isna() & b[c].isna())
        assert same.all(), c


def test_files_are_shuffled_by_patient_and_match_memory(dask_client, tmp_path):
    df = assessments()
    paths = write_files(df, tmp_path, n_files=3)
    res = iop.load(str(tmp_path / "*.csv"), engine="dask").persist()  # loaded once
    mem = _memory(df)
    assert res.counts() == mem.counts() == {"accepted": 413, "repaired": 33, "quarantined": 3}
    assert res.n_read == len(df)
    _same_rows(res.data.compute(), mem.data)
    # every input row: the same disposition and reason, named by file and row
    led = res.ledger.compute()
    sizes = [len(pd.read_csv(p)) for p in paths]
    where = pd.DataFrame(
        {
            "source": [p.name for p, n in zip(paths, sizes, strict=True) for _ in range(n)],
            "row": [r for n in sizes for r in range(1, n + 1)],
        }
    )
    mem_led = pd.concat([where, mem.ledger[["disposition", "reason"]].astype(object)], axis=1)
    got = led.merge(where, on=["source", "row"], how="right")
    assert len(led) == len(df) and got["disposition"].notna().all()
    pd.testing.assert_series_equal(
        got["disposition"].astype(str), mem_led["disposition"].astype(str)
    )
    # the repeated administration (its copy in another file) is found after the shuffle, and
    # named by its file and row rather than by its position in the partition
    dup = led.loc[led["reason"].fillna("").str.startswith("exact duplicate")]
    assert len(dup) == 1
    first = mem.ledger.loc[mem.ledger["reason"].astype(str).str.startswith("kept the first")]
    pos = int(first.index[0])  # 0-based position in the whole table
    file_i = next(i for i in range(3) if pos < sum(sizes[: i + 1]))
    row = pos - sum(sizes[:file_i]) + 1
    assert dup["reason"].iloc[0] == f"exact duplicate of row {row} (part-{file_i}.csv)"
    ok = got["reason"].isna() == mem_led["reason"].isna()
    assert ok.all()
    plain = ~got["reason"].fillna("").str.contains("duplicate")
    assert (got.loc[plain, "reason"].fillna("") == mem_led.loc[plain, "reason"].fillna("")).all()


def _shuffles(frame) -> bool:
    return any("shuffle" in str(k) for k in frame.__dask_graph__())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_files_of_whole_patients_are_not_shuffled(dask_client, tmp_path, fmt):
    """Files that each hold whole patients load as they are (one pass over the ids says so)
    and give the in-memory rows; a patient in two files (even written ' P001 ') asks for the
    shuffle."""
    df = assessments()
    pid = df["patient_id"].fillna("")
    whole = [df[pid < "P014"], df[(pid >= "P014") & (pid < "P028")], df[pid >= "P028"]]
    for i, part in enumerate(whole):
        path = tmp_path / f"part-{i}.{fmt}"
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path, index=False)
    res = iop.load(str(tmp_path), engine="dask")
    assert not _shuffles(res.data)
    mem = _memory(pd.concat(whole, ignore_index=True))
    assert res.counts() == mem.counts()
    _same_rows(res.data.compute(), mem.data)
    last = whole[2][whole[2]["patient_id"] == "P030"].iloc[[-1]]  # P030 is in the third file
    later = (pd.to_datetime(last["assessment_date"]) + pd.Timedelta(days=7)).dt.strftime("%Y-%m-%d")
    extra = last.assign(patient_id=" P030 ", assessment_date=later)  # a week later, spaced
    name = tmp_path / f"part-3.{fmt}"
    extra.to_csv(name, index=False) if fmt == "csv" else extra.to_parquet(name, index=False)
    again = iop.load(str(tmp_path), engine="dask")
    assert _shuffles(again.data)
    # shuffled by the id as the loader reads it: ' P030 ' joins P030's rows (its episode and
    # duplicate checks see them), as in memory
    mem = _memory(pd.concat([*whole, extra], ignore_index=True))
    assert again.counts() == mem.counts()
    _same_rows(again.data.compute(), mem.data)
    q = {"as_of": "2025-12-31"}
    got = iop.quality_measures(again.persist().data, **q).table
    pd.testing.assert_frame_equal(got, iop.quality_measures(mem.data, **q).table)


def test_patient_ids_from_directory_names(dask_client, tmp_path):
    """A dataset partitioned by patient (``patient_id=P1/``): the ids come from the directory
    names, read by the loader's reader for the shuffle check too."""
    df = assessments(6)
    for pid, rows in df.dropna(subset=["patient_id"]).groupby("patient_id"):
        d = tmp_path / f"patient_id={pid}"
        d.mkdir()
        rows.drop(columns="patient_id").to_parquet(d / "part-0.parquet", index=False)
    res = iop.load(str(tmp_path), engine="dask")
    assert not _shuffles(res.data)
    assert res.counts() == _memory(df.dropna(subset=["patient_id"])).counts()


def test_sql_table_read_in_chunks(dask_client, tmp_path):
    """A database table read in chunks by Dask (``dask.dataframe.read_sql_table``, one
    partition per range of a numeric column) loads as the same table in memory."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    df = assessments()
    url = f"sqlite:///{tmp_path / 'iop.db'}"
    engine = sqlalchemy.create_engine(url)
    df.assign(row_id=range(len(df))).to_sql("assessments", engine, index=False)
    engine.dispose()
    chunks = dd.read_sql_table("assessments", url, index_col="row_id", npartitions=3)
    res = iop.load(chunks)
    mem = _memory(df)
    assert chunks.npartitions == 3
    assert res.counts() == mem.counts() == {"accepted": 413, "repaired": 33, "quarantined": 3}
    _same_rows(res.data.compute(), mem.data)


def test_partitioned_parquet_dataset_gets_its_partition_column(dask_client, tmp_path):
    df = assessments()
    for site, part in df.groupby("site"):
        (tmp_path / f"site={site}").mkdir()
        part.drop(columns="site").to_parquet(tmp_path / f"site={site}" / "a.parquet", index=False)
    res = iop.load(tmp_path, engine="dask")
    mem = _memory(df)
    assert res.counts() == mem.counts()
    got = res.data.compute()
    assert got["site"].astype(str).value_counts().to_dict() == (
        mem.data["site"].astype(str).value_counts().to_dict()
    )
    assert set(res.ledger["source"].unique().compute()) == {
        f"site={s}/a.parquet" for s in ("East", "North", "South")
    }


def test_dask_dataframe_in_and_ledger_written_as_parquet_dataset(dask_client, tmp_path):
    df = assessments()
    ddf = dd.from_pandas(df, npartitions=4, sort=False)
    res = iop.load(ddf).persist()  # a Dask DataFrame implies engine="dask"
    mem = _memory(df)
    assert res.counts() == mem.counts()
    _same_rows(res.data.compute(), mem.data)
    res.ledger.to_parquet(tmp_path / "ledger", partition_on=["disposition"])
    back = pd.read_parquet(tmp_path / "ledger")
    assert len(back) == len(df)
    assert back["disposition"].astype(str).value_counts().to_dict() == {
        k: v for k, v in mem.counts().items() if v
    }
    assert "Rows read 449 = accepted 413 + repaired 33 + quarantined 3." in str(res.summary())
    parts = res.partitions.compute()
    assert parts["rows_in"].sum() == len(df) and len(parts) == 4


def test_invariant_is_checked_from_partition_counts(monkeypatch):
    df = assessments(6)
    res = iop.load(dd.from_pandas(df, npartitions=2, sort=False), engine="dask")
    bad = res.partitions.compute()
    bad.loc[bad.index[0], "accepted"] -= 1  # a partition whose ledger lost a row
    fake = type(res)(
        *(getattr(res, f) for f in ("data", "ledger", "problems", "source")),
        res.sha256,
        res.settings,
        partitions=dd.from_pandas(bad, npartitions=1),
    )
    with pytest.raises(AssertionError, match="accounts for"):
        fake.counts()


def test_unsupported_inputs_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="wide= is not supported on Dask"):
        iop.load(tmp_path, engine="dask", wide=True)
    with pytest.raises(ConfigError, match="must be a directory, a glob"):
        iop.load(pd.DataFrame({"a": [1]}), engine="dask")
    with pytest.raises(iop.LoadError, match="no Parquet or CSV files"):
        iop.load(tmp_path / "nothing-*.csv", engine="dask")
    with pytest.raises(ConfigError, match="'engine' parameter of iop.load"):
        iop.load(tmp_path, engine="spark")


def test_pandas_path_never_imports_dask_and_missing_dask_names_the_extra():
    code = (
        "import sys, warnings; warnings.simplefilter('ignore'); import pandas as pd; "
        "import iop_outcomes as iop; "
        "iop.load(pd.DataFrame({'patient_id': ['a'], 'instrument': ['PHQ-9'], "
        "'assessment_date': ['2025-01-06'], 'total': [5]})); "
        "print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules)); "
        "sys.modules['dask'] = None; sys.modules['dask.dataframe'] = None\n"
        "try:\n    iop.load('x', engine='dask')\nexcept iop.ConfigError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.splitlines()[:2]
    assert first == "False"
    assert 'pip install "iop-outcomes[dask]"' in second


def test_episode_ids_numbered_within_patient_in_some_partitions_only_warn():
    """Ids '1' per patient: a partition holding several such patients pairs them with the
    patient id (flagged in .partitions), one holding a single patient cannot know; when the
    partitions disagree, counts() warns (docs/scale.md)."""
    rows = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "b", "c", "c"],
            "episode_id": "1",
            "instrument": "PHQ-9",
            "assessment_date": ["2025-01-06", "2025-02-03"] * 3,
            "total": [17, 9, 15, 8, 20, 11],
        }
    )
    res = iop.load(dd.from_pandas(rows, npartitions=1))
    parts = res.partitions.compute()
    assert parts["episode_ids_paired"].tolist() == [True]
    assert set(res.data["episode_id"].compute()) == {"a|1", "b|1", "c|1"}
    mixed = pd.concat([parts, parts.assign(episode_ids_paired=False)], ignore_index=True)
    fake = type(res)(
        *(getattr(res, f) for f in ("data", "ledger", "problems", "source")),
        res.sha256,
        res.settings,
        partitions=dd.from_pandas(mixed, npartitions=1),
    )
    with pytest.warns(iop.IOPWarning, match=r"patient_id\|episode_id' in 1 of 2 partitions"):
        fake.counts()
