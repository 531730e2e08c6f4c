"""Writing a report to a SQL database (iop_outcomes/_report/sql.py) and ``report --to-sql``.

Round trips run against a real PostgreSQL server (the ``postgres_url`` fixture) and DuckDB.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes import LoadError
from iop_outcomes._report import sql as rsql
from iop_outcomes.cli import main
from iop_outcomes.io import sql as iosql

pytest.importorskip("duckdb", reason="needs iop_outcomes[sql]")

FIXTURE = Path(__file__).parent / "fixtures" / "sql_scores.csv"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The hand-made fixture loaded, its report built and written to a folder."""
    out = tmp_path_factory.mktemp("report")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iop.load(FIXTURE)
        light = {"trajectories": {"enabled": False}, "sensitivity": {"enabled": False}}
        rep = iop.report(res, out=out, config=light)
    return res, rep, out


def _pg(url, sql):
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(url) as con, con.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table().to_pandas()


def _as_csv_cells(db: pd.DataFrame) -> pd.DataFrame:
    """A written table back in the CSV's shape: ``<col>_suppressed`` marks put back in place."""
    out = db.copy()
    for c in [c for c in db.columns if c.endswith("_suppressed")]:
        base = c[: -len("_suppressed")]
        out[base] = out[base].astype(object).where(out[c].isna(), out[c])
        out = out.drop(columns=c)
    return out


def test_postgres_round_trip_matches_the_report_csv_files(built, pg_database):
    res, rep, out = built
    written = iop.to_sql(rep, pg_database, loaded=res, schema="outcomes")
    assert written[-1] == "outcomes.internal_episode_outcomes_identifiable"
    assert len(written) == len(rep.tables) + 3
    for t in rep.tables:
        db = _pg(pg_database, f'SELECT * FROM outcomes."{rsql._sql_name(t.key)}"')
        csv = pd.read_csv(out / "tables" / f"{t.key}.csv", dtype=object, keep_default_na=False)
        got = _as_csv_cells(db)
        assert list(got.columns) == list(csv.columns), t.key
        for c in csv.columns:  # cell by cell, as text (the CSV holds text)
            as_text = [
                "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                for v in got[c].astype(object).where(got[c].notna(), None)
            ]
            want = [v for v in csv[c]]
            # integers written as BIGINT read back as int; floats compare by value
            for a, b in zip(as_text, want, strict=True):
                if a != b:
                    assert float(a) == pytest.approx(float(b)), (t.key, c, a, b)
    index = _pg(pg_database, "SELECT * FROM outcomes.report_tables ORDER BY position")
    assert index["key"].tolist() == rep.keys


def test_postgres_column_types_and_episode_table(built, pg_database):
    res, rep, _ = built
    iop.to_sql(rep, pg_database, loaded=res)
    types = _pg(
        pg_database,
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
        "table_schema = 'public'",
    ).set_index(["table_name", "column_name"])["data_type"]
    ep = "internal_episode_outcomes_identifiable"
    assert types[(ep, "admit_date")] == "date"
    assert types[(ep, "baseline")] == "double precision"
    assert types[(ep, "n_scores")] == "bigint"
    assert types[(ep, "response")] == "boolean"
    assert types[(ep, "patient_id")] == "text"
    assert types[("report_ledger_dispositions", "rows")] == "bigint"
    eps = _pg(pg_database, f"SELECT * FROM {ep} ORDER BY instrument, episode_id")
    # the fixture's 6 episodes, each with a PHQ-9 and a GAD-7 row (E103's only GAD-7 score was
    # quarantined: total 31 > 21, so its GAD-7 row has no baseline)
    assert eps.groupby("instrument").size().to_dict() == {"GAD-7": 6, "PHQ-9": 6}
    gad = eps[eps["instrument"] == "GAD-7"].set_index("episode_id")
    assert pd.isna(gad.loc["E103", "baseline"]) and gad.loc["E102", "baseline"] == 17
    phq = eps[eps["instrument"] == "PHQ-9"].set_index("episode_id")
    assert phq.loc["E101", ["baseline", "endpoint", "change"]].tolist() == [18, 7, -11]
    assert str(phq.loc["E101", "admit_date"]) == "2025-01-06"
    # E101: change -11 with PHQ-9's published reliability is a reliable improvement, and the
    # endpoint 7 is below the cut-off 10 (from 18 above it): recovered
    assert phq.loc["E101", "clinsig_category"] == "recovered"


def test_write_is_atomic_and_drops_only_its_own_stale_tables(built, pg_database, monkeypatch):
    res, rep, _ = built
    iop.to_sql(rep, pg_database, schema="bi")
    before = _pg(pg_database, "SELECT count(*) AS n FROM bi.report_tables")["n"].iloc[0]
    # a failure on the third table: nothing changes
    real = iosql._arrow_for_sql
    calls = {"n": 0}

    def fail_third(frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(frame)

    monkeypatch.setattr(iosql, "_arrow_for_sql", fail_third)
    with pytest.raises(LoadError, match=r"rolled back.*|disk full"):
        iop.to_sql(rep, pg_database.replace("iop@", "iop:hunter2@"), schema="bi")
    monkeypatch.setattr(iosql, "_arrow_for_sql", real)
    assert _pg(pg_database, "SELECT count(*) AS n FROM bi.report_tables")["n"].iloc[0] == before
    # a report with fewer tables (PHQ-9 only): the GAD-7 tables of the first run go; a table
    # of someone else's in the schema stays
    _pg_exec(pg_database, "CREATE TABLE bi.mine (x int)")
    small = dataclasses.replace(rep, tables=[t for t in rep.tables if "gad_7" not in t.key])
    iop.to_sql(small, pg_database, schema="bi")
    names = set(
        _pg(
            pg_database,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bi'",
        )["table_name"]
    )
    assert names == {rsql._sql_name(k) for k in small.keys} | {
        "report_tables",
        "report_provenance",
        "mine",
    }
    assert not any("gad_7" in n for n in names)


def _pg_exec(url, sql):
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(url, autocommit=True) as con, con.cursor() as cur:
        cur.execute(sql)


def test_error_message_has_no_password(built):
    _, rep, _ = built
    with pytest.raises(LoadError) as err:
        iop.to_sql(rep, "postgresql://iop:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(err.value) and "iop:***@" in str(err.value)


def test_to_sql_parameters_are_checked(built, tmp_path):
    res, rep, _ = built
    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    with pytest.raises(iop.ConfigError, match=r"'report' parameter of iop.to_sql must be an inst"):
        iop.to_sql(res, url)
    with pytest.raises(iop.ConfigError, match=r"'loaded' parameter of iop.to_sql .* Got a Data"):
        iop.to_sql(rep, url, loaded=res.data)
    with pytest.raises(iop.ConfigError, match=r"'schema' parameter of iop.to_sql"):
        iop.to_sql(rep, url, schema=1)


def test_duckdb_and_sqlite_round_trip(built, tmp_path):
    res, rep, _ = built
    db = tmp_path / "bi.duckdb"
    iop.to_sql(rep, f"duckdb:///{db}", loaded=res, schema="outcomes")
    back = iosql.read_sql(db, table="outcomes.report_tables").frame
    assert back["key"].astype(str).tolist() == rep.keys
    lite = tmp_path / "bi.db"
    written = iop.to_sql(rep, f"sqlite:///{lite}", loaded=res)
    assert "internal_episode_outcomes_identifiable" in written
    import sqlite3

    with sqlite3.connect(lite) as con:
        n = con.execute("SELECT count(*) FROM internal_episode_outcomes_identifiable").fetchone()
    assert n == (12,)


# ------------------------------------------------------------------------------ command line
def test_cli_report_from_postgres_to_postgres(pg_database, tmp_path, capsys):
    import adbc_driver_postgresql.dbapi as dbapi
    import pyarrow.csv as pcsv

    with dbapi.connect(pg_database) as con:
        with con.cursor() as cur:
            cur.adbc_ingest("scores", pcsv.read_csv(FIXTURE), mode="create")
            cur.execute('ALTER TABLE scores ADD PRIMARY KEY ("score_id")')
        con.commit()
    url = pg_database.replace("iop@", "iop:hunter2@")
    assert main(["validate", url, "--table", "scores", "-q"]) == 0
    shown = capsys.readouterr().out
    assert "Rows read 28 = accepted 24 + repaired 1 + quarantined 3" in shown
    assert "hunter2" not in shown
    study = tmp_path / "study.toml"  # a lighter report: PHQ-9 only, no models
    study.write_text(
        'instruments = ["PHQ-9"]\ngroupings = ["format"]\n[trajectories]\nenabled = false\n'
        "[sensitivity]\nenabled = false\n"
    )
    code = main(
        ["report", url, "--table", "scores", "--out", str(tmp_path / "rep"), "-q"]
        + ["--config", str(study)]
        + ["--to-sql", url, "--schema", "outcomes"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "hunter2" not in captured.out + captured.err
    assert "internal_episode_outcomes_identifiable holds patient" in captured.err
    eps = _pg(
        pg_database, "SELECT count(*) AS n FROM outcomes.internal_episode_outcomes_identifiable"
    )
    assert eps["n"].iloc[0] == 6  # PHQ-9 only
    prov = (tmp_path / "rep" / "provenance.json").read_text()
    assert "hunter2" not in prov and "table scores" in prov


def test_cli_usage_errors(tmp_path, capsys):
    assert main(["validate", str(FIXTURE), "--table", "scores"]) == 3
    assert "needs a database URL" in capsys.readouterr().err
    code = main(["report", str(FIXTURE), "--out", str(tmp_path), "--schema", "x"])
    assert code == 3 and "give --to-sql too" in capsys.readouterr().err
