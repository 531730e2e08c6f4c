"""Reading from and writing to SQL databases (iop_outcomes/io/sql.py).

PostgreSQL tests run against a real server started by the ``postgres_url`` fixture
(tests/conftest.py); DuckDB and SQLite run in-process. The fixture tests/fixtures/sql_scores.csv
is hand-made: 6 episodes, PHQ-9 and GAD-7 totals, with one out-of-range total (row 13), one
exact duplicate (rows 14-15) and one row without a patient (row 19).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iop_outcomes as iop
from iop_outcomes import ConfigError, LoadError
from iop_outcomes.io import sql as iosql

pa = pytest.importorskip("pyarrow")
pytest.importorskip("duckdb", reason="needs iop_outcomes[sql]")
pytest.importorskip("sqlalchemy", reason="needs iop_outcomes[sql]")

FIXTURE = Path(__file__).parent / "fixtures" / "sql_scores.csv"


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _fixture_arrow(order=None):
    """The fixture as an Arrow table with database types (dates as DATE, ids as integers)."""
    import pyarrow.csv as pcsv

    date = pa.date32()
    types = {"score_id": pa.int32(), "age": pa.int32(), "total": pa.int32()}
    types |= {c: date for c in ("assessment_date", "admit_date", "discharge_date")}
    t = pcsv.read_csv(FIXTURE, convert_options=pcsv.ConvertOptions(column_types=types))
    return t if order is None else t.take(order)


def _pg_execute(url, *statements):
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(url, autocommit=True) as con, con.cursor() as cur:
        for s in statements:
            cur.execute(s)


def _pg_table(url, name, table, primary_key=None):
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(url) as con:
        with con.cursor() as cur:
            cur.adbc_ingest(name, table, mode="replace")
            if primary_key:
                cur.execute(f'ALTER TABLE "{name}" ADD PRIMARY KEY ("{primary_key}")')
        con.commit()


# ------------------------------------------------------------------------------ PostgreSQL
def test_postgres_table_gives_the_same_episodes_as_the_long_file(pg_database):
    # rows stored in reverse order: table= reads them in primary-key order, the file's order
    n = _fixture_arrow().num_rows
    _pg_table(pg_database, "scores", _fixture_arrow(order=np.arange(n)[::-1]), "score_id")
    res = _quiet(iop.load, pg_database, table="scores")
    ref = _quiet(iop.load, FIXTURE)
    assert res.counts() == ref.counts() == {"accepted": 24, "repaired": 1, "quarantined": 3}
    cols = ["row", "disposition", "reason"]
    pd.testing.assert_frame_equal(res.ledger[cols], ref.ledger[cols], check_categorical=False)
    assert res.ledger.loc[12, "reason"] == "total 31 is outside the GAD-7 range 0-21"
    for inst in ("PHQ-9", "GAD-7"):
        got = iop.episodes(res.data, instrument=inst)
        want = iop.episodes(ref.data, instrument=inst)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_categorical=False)
    # read off the fixture by hand: intake and discharge PHQ-9 per episode (E103 dropped out
    # after week 2, so its last in-treatment score is its endpoint)
    phq = iop.episodes(res.data, instrument="PHQ-9").set_index("episode_id")
    assert phq["baseline"].to_dict() == {
        "E101": 18, "E102": 22, "E103": 11, "E104": 16, "E105": 20, "E106": 9
    }  # fmt: skip
    assert phq["endpoint"].to_dict() == {
        "E101": 7, "E102": 12, "E103": 13, "E104": 4, "E105": 15, "E106": 3
    }  # fmt: skip


def test_postgres_ledger_source_names_the_table_without_the_password(pg_database):
    _pg_table(pg_database, "scores", _fixture_arrow(), "score_id")
    url = pg_database.replace("iop@", "iop:Sup3rS3cret@")  # trust auth: any password works
    res = _quiet(iop.load, url, table="scores")
    assert res.source == pg_database.replace("iop@", "iop:***@") + " table scores"
    assert "Sup3rS3cret" not in res.ledger.to_csv() + str(res.summary())
    with pytest.raises(LoadError) as err:
        iop.load(url.rsplit("/", 1)[0] + "/no_such_db", table="scores")
    assert "Sup3rS3cret" not in str(err.value) and "no_such_db" in str(err.value)


def test_postgres_query_rows_in_the_query_order(pg_database):
    _pg_table(pg_database, "scores", _fixture_arrow(), "score_id")
    res = _quiet(
        iop.load,
        pg_database,
        query="SELECT * FROM scores WHERE instrument = 'PHQ-9' ORDER BY score_id DESC",
    )
    assert res.n_read == 17  # the PHQ-9 rows of the fixture, counted by hand
    assert res.source.endswith(
        "query SELECT * FROM scores WHERE instrument = 'PHQ-9' ORDER BY sco…"
    )
    # row 1 of the result is score 26 (the follow-up of E106), the last is score 1
    first = res.data.loc[res.data["source_row"] == 1].iloc[0]
    assert (first["episode_id"], first["total"]) == ("E106", 5)
    last = res.data.loc[res.data["source_row"] == 17].iloc[0]
    assert (last["episode_id"], last["total"]) == ("E101", 18)


def test_postgres_primary_key_order_is_not_column_order(pg_database):
    _pg_execute(
        pg_database,
        "CREATE TABLE k (patient_id text, instrument text, assessment_date date, total int, "
        "seq int, PRIMARY KEY (seq))",
        "INSERT INTO k VALUES ('a', 'PHQ-9', '2025-01-06', 15, 3), ('b', 'PHQ-9', '2025-01-07', "
        "9, 1), ('c', 'PHQ-9', '2025-01-08', 4, 2)",
    )
    res = _quiet(iop.load, pg_database, table="k")
    assert res.data["patient_id"].tolist() == ["b", "c", "a"]  # seq 1, 2, 3
    assert res.data["source_row"].tolist() == [1, 2, 3]


def test_postgres_table_without_primary_key_is_ordered_by_all_columns(pg_database):
    n = _fixture_arrow().num_rows
    _pg_table(pg_database, "nokey", _fixture_arrow(order=np.arange(n)[::-1]))
    res = _quiet(iop.load, pg_database, table="public.nokey")
    # score_id is the first column and unique: the order of all columns is its order
    assert res.data.sort_values("source_row")["score_id"].tolist() == [
        i for i in range(1, 29) if i not in (13, 15, 19)
    ]


def test_postgres_unknown_table_lists_the_tables(pg_database):
    _pg_table(pg_database, "scores", _fixture_arrow(), "score_id")
    with pytest.raises(LoadError, match=r"no table or view 'socres'.*Tables found: public.scores"):
        iop.load(pg_database, table="socres")


def test_postgres_empty_result_is_an_error(pg_database):
    _pg_table(pg_database, "scores", _fixture_arrow(), "score_id")
    with pytest.raises(LoadError, match="but no rows"):
        iop.load(pg_database, query="SELECT * FROM scores WHERE total > 100")


def test_postgres_numeric_and_timestamps_read_as_numbers_and_days(pg_database):
    _pg_execute(
        pg_database,
        "CREATE TABLE s (patient_id text, instrument text, assessment_date timestamptz, "
        "total numeric(4,1))",
        "INSERT INTO s VALUES ('a', 'PHQ-9', '2025-01-06 09:30+00', 12.0), "
        "('a', 'PHQ-9', '2025-02-03 10:00+00', 5)",
    )
    res = _quiet(iop.load, pg_database, table="s")
    assert res.counts()["accepted"] == 2
    assert res.data["total"].tolist() == [12.0, 5.0]
    assert res.data["assessment_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-06",
        "2025-02-03",
    ]


# the ledger invariant: one ledger row per result row of the query, whatever the rows hold
_row = st.fixed_dictionaries(
    {
        "patient_id": st.sampled_from(["P1", "P2", "P3", None]),
        "instrument": st.sampled_from(["PHQ-9", "GAD-7", "phq9", "XYZ"]),
        "day": st.integers(0, 90),
        "total": st.one_of(st.none(), st.integers(-3, 30)),
    }
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(_row, min_size=1, max_size=25), cut=st.integers(-3, 31))
def test_postgres_ledger_has_one_row_per_result_row(pg_database, rows, cut):
    df = pd.DataFrame(rows)
    df.insert(0, "id", np.arange(1, len(df) + 1, dtype="int32"))
    df["assessment_date"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(df.pop("day"), "D")
    df["total"] = df["total"].astype("Int32")
    _pg_table(pg_database, "prop", pa.Table.from_pandas(df, preserve_index=False), "id")
    query = f"SELECT * FROM prop WHERE total IS NULL OR total < {cut} ORDER BY id DESC"
    expected = df[df["total"].isna() | (df["total"] < cut)].sort_values("id", ascending=False)
    if expected.empty:
        with pytest.raises(LoadError, match="no rows"):
            iop.load(pg_database, query=query)
        return
    res = _quiet(iop.load, pg_database, query=query)
    led = res.ledger
    assert len(led) == len(expected)
    assert led["row"].tolist() == list(range(1, len(expected) + 1))
    assert sum(res.counts().values()) == len(expected)
    # each loaded row is the result row its ledger row names
    ids = expected["id"].to_numpy()
    assert (res.data["id"].to_numpy() == ids[res.data["source_row"].to_numpy() - 1]).all()
    kept = led.loc[led["disposition"] != "quarantined", "row"].to_numpy()
    assert np.array_equal(np.sort(res.data["source_row"].to_numpy()), kept)


# ------------------------------------------------------------------------------ DuckDB, SQLite
def test_duckdb_queries_a_parquet_file_in_memory(tmp_path):
    path = tmp_path / "scores.parquet"
    import pyarrow.parquet as pq

    pq.write_table(_fixture_arrow(), path)
    res = _quiet(iop.load, "duckdb:///:memory:", query=f"SELECT * FROM '{path}' ORDER BY score_id")
    ref = _quiet(iop.load, FIXTURE)
    assert res.counts() == ref.counts()
    pd.testing.assert_frame_equal(
        iop.episodes(res.data, instrument="PHQ-9"),
        iop.episodes(ref.data, instrument="PHQ-9"),
        check_dtype=False,
        check_categorical=False,
    )


def test_duckdb_file_table_in_primary_key_order(tmp_path):
    import duckdb

    db = tmp_path / "clinic.duckdb"
    n = _fixture_arrow().num_rows
    with duckdb.connect(str(db)) as con:
        con.register("f", _fixture_arrow(order=np.arange(n)[::-1]))
        con.execute("CREATE SCHEMA iop")
        con.execute("CREATE TABLE iop.scores AS SELECT * FROM f")
        # the key is the second column and runs against the first: key order is not column order
        con.execute("CREATE TABLE keyed (episode_id TEXT, rank INTEGER PRIMARY KEY)")
        con.execute("INSERT INTO keyed SELECT episode_id, 100 - score_id FROM f")
    by_columns = iosql.read_sql(db, table="iop.scores")  # no key: all columns
    assert by_columns.frame["score_id"].tolist() == list(range(1, 29))
    assert by_columns.name == f"{db} table iop.scores"
    keyed = iosql.read_sql(f"duckdb:///{db}", table="keyed")
    assert keyed.frame["rank"].tolist() == list(range(72, 100))
    assert keyed.frame["episode_id"].iloc[0] == "E106"
    res = _quiet(iop.load, f"duckdb:///{db}", table="iop.scores")
    assert res.counts() == {"accepted": 24, "repaired": 1, "quarantined": 3}


def test_sqlite_url_through_sqlalchemy(tmp_path):
    import sqlite3

    db = tmp_path / "clinic.db"
    frame = pd.read_csv(FIXTURE)
    with sqlite3.connect(db) as con:
        con.execute(
            "CREATE TABLE scores (score_id INTEGER PRIMARY KEY, patient_id TEXT, episode_id TEXT, "
            "instrument TEXT, assessment_date TEXT, timepoint TEXT, total INTEGER, "
            "admit_date TEXT, discharge_date TEXT, discharge_status TEXT, format TEXT, "
            "site TEXT, age INTEGER)"
        )
        rows = frame.iloc[::-1].astype(object).where(frame.notna(), None)
        con.executemany(f"INSERT INTO scores VALUES ({','.join('?' * 13)})", rows.values.tolist())
    res = _quiet(iop.load, f"sqlite:///{db}", table="scores")
    ref = _quiet(iop.load, FIXTURE)
    cols = ["row", "disposition", "reason"]
    pd.testing.assert_frame_equal(res.ledger[cols], ref.ledger[cols], check_categorical=False)
    pd.testing.assert_frame_equal(
        iop.episodes(res.data, instrument="PHQ-9"),
        iop.episodes(ref.data, instrument="PHQ-9"),
        check_dtype=False,
        check_categorical=False,
    )


def test_same_data_same_sha256_and_different_data_different(tmp_path):
    q = "SELECT * FROM (VALUES ('a', 'PHQ-9', DATE '2025-01-06', {t})) s(patient_id, "
    q += "instrument, assessment_date, total)"
    a = _quiet(iop.load, "duckdb:///:memory:", query=q.format(t=12))
    b = _quiet(iop.load, "duckdb:///:memory:", query=q.format(t=12))
    c = _quiet(iop.load, "duckdb:///:memory:", query=q.format(t=13))
    assert a.sha256 == b.sha256 != c.sha256
    assert len(a.sha256) == 64


# ------------------------------------------------------------------------------ usage errors
@pytest.mark.parametrize(
    ("data", "kw", "match"),
    [
        ("duckdb:///:memory:", {}, r"needs table='name'.*or query="),
        ("duckdb:///:memory:", {"table": "a", "query": "SELECT 1"}, "exactly one of"),
        (pd.DataFrame({"a": [1]}), {"table": "scores"}, "needs a database URL.*Got a DataFrame"),
        ("scores.csv", {"source": "sql"}, r"needs a database URL.*Got 'scores.csv'"),
        ("duckdb:///:memory:", {"table": "a", "sheet": 1}, "apply to Excel and CSV files"),
        ("duckdb:///:memory:", {"table": "  "}, "must be a non-empty str"),
    ],
)
def test_usage_errors(data, kw, match):
    with pytest.raises(ConfigError, match=match):
        iop.load(data, **kw)


def test_missing_duckdb_file_is_named(tmp_path):
    with pytest.raises(LoadError, match=r"DuckDB database file not found: .*nowhere.duckdb"):
        iop.load(f"duckdb:///{tmp_path}/nowhere.duckdb", table="scores")


def test_missing_driver_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)  # "not installed"
    with pytest.raises(LoadError, match=r'pip install "iop_outcomes\[sql\]"'):
        iop.load("postgresql://iop@127.0.0.1:1/x", table="scores")


def test_redact_url():
    assert iosql.redact_url("postgresql://u:p%40ss@h:5/d?sslmode=require") == (
        "postgresql://u:***@h:5/d?sslmode=require"
    )
    assert iosql.redact_url("postgresql://u@h/d?password=abc&x=1") == (
        "postgresql://u@h/d?password=***&x=1"
    )
    assert iosql.redact_url("duckdb:///:memory:") == "duckdb:///:memory:"


def test_redcap_export_and_wide_table_read_from_a_database(tmp_path):
    redcap = Path(__file__).parent / "redcap"
    kw = {"source": "redcap", "dictionary": redcap / "dictionary.csv"}
    ref = _quiet(iop.load, redcap / "export_raw.csv", **kw)
    query = f"SELECT * FROM read_csv('{redcap / 'export_raw.csv'}')"  # DuckDB types the columns
    res = _quiet(iop.load, "duckdb:///:memory:", query=query, **kw)
    assert res.counts() == ref.counts()
    pd.testing.assert_frame_equal(
        iop.episodes(res.data, instrument="PHQ-9"),
        iop.episodes(ref.data, instrument="PHQ-9"),
        check_dtype=False,
        check_categorical=False,
    )
    wide = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "phq9_intake": [15, 12],
            "phq9_discharge": [6, None],
            "phq9_intake_date": pd.to_datetime(["2025-01-06", "2025-01-07"]),
            "phq9_discharge_date": pd.to_datetime(["2025-02-20", None]),
        }
    )
    wide.to_parquet(tmp_path / "wide.parquet")
    q = f"SELECT * FROM '{tmp_path / 'wide.parquet'}' ORDER BY patient_id"
    res = _quiet(iop.load, "duckdb:///:memory:", query=q, wide=True)
    ref = _quiet(iop.load, wide, wide=True)
    cols = ["row", "column", "disposition"]
    pd.testing.assert_frame_equal(res.ledger[cols], ref.ledger[cols], check_categorical=False)
    assert len(res.ledger) == 3  # one ledger row per non-empty score cell, as for a file


def test_cli_summary_from_duckdb_over_a_csv_file(capsys):
    from iop_outcomes.cli import main

    query = f"SELECT * FROM read_csv('{FIXTURE}') ORDER BY score_id"
    assert main(["summary", "duckdb:///:memory:", "--query", query, "--json", "-q"]) == 0
    out = __import__("json").loads(capsys.readouterr().out)
    assert out["input"].startswith("duckdb:///:memory: query SELECT * FROM read_csv(")
    assert out["ledger"] == {"accepted": 24, "repaired": 1, "quarantined": 3, "rows_read": 28}
