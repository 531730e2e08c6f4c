"""Benchmark: ``iop.load`` from PostgreSQL and DuckDB against the bare reads of the same table.

    nice python bench/bench_sql.py [--rows 1000000] [--out bench/out] [--repeat 3]

Generates about ``--rows`` synthetic administrations (iop.synth, distinct ids per chunk; PHQ-9
and GAD-7 with items, 29 columns plus an ``id`` primary key), starts a throw-away PostgreSQL
server the way the test suite does (tests/conftest.py ``start_postgres``), loads the rows into
a table ``scores`` (primary key ``id``) there, into a DuckDB file and into a Parquet file, then
times, each in a fresh process (imports done before the clock starts), ``--repeat`` times
(the median is reported):

* ``adbc``: ``cursor.execute("SELECT * FROM scores ORDER BY id"); fetch_arrow_table()`` with
  the ADBC PostgreSQL driver — the bare read, the baseline;
* ``pandas.read_sql (ADBC)``: :func:`pandas.read_sql` of the same query on an ADBC connection;
* ``pandas.read_sql (SQLAlchemy + psycopg)``: the same through SQLAlchemy and psycopg 3 (the
  common row-by-row path; skipped when psycopg is not installed: ``pip install
  "iop_outcomes[bench]"``);
* ``adbc`` without ``ORDER BY``: what reading the table in primary-key order costs;
* ``iop_outcomes.io.sql.read_sql``: the reader alone (key lookup, read, Arrow IPC hash, integer
  narrowing, labels as categories, conversion to pandas);
* ``iop.load(postgresql://..., table="scores")``: read (primary-key order) + validate + score +
  ledger;
* ``duckdb`` bare read of the DuckDB file's table and ``iop.load(duckdb:///..., table=)``;
* ``iop.load(parquet)`` for reference.

Results are copied into bench/RESULTS.md ("## SQL") by hand from the printed table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _common import run_step

STEP = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
kind, url, path = sys.argv[1], sys.argv[2], sys.argv[3]
Q = "SELECT * FROM scores ORDER BY id"
import pandas as pd, pyarrow as pa
import iop_outcomes as iop
if kind in ("adbc", "adbc_unordered", "read_sql_adbc"):
    import adbc_driver_postgresql.dbapi as dbapi
    con = dbapi.connect(url)
if kind == "read_sql_psycopg":
    import sqlalchemy as sa
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
if kind.startswith("duckdb") or kind == "load_duckdb":
    import duckdb
t0 = time.perf_counter()
if kind == "adbc":
    cur = con.cursor(); cur.execute(Q); n = cur.fetch_arrow_table().num_rows
elif kind == "adbc_unordered":
    cur = con.cursor(); cur.execute("SELECT * FROM scores"); n = cur.fetch_arrow_table().num_rows
elif kind == "iop_read":
    from iop_outcomes.io.sql import read_sql
    n = len(read_sql(url, table="scores").frame)
elif kind == "read_sql_adbc":
    n = len(pd.read_sql(Q, con))
elif kind == "read_sql_psycopg":
    with engine.connect() as c:
        n = len(pd.read_sql(sa.text(Q), c))
elif kind == "load_pg":
    n = iop.load(url, table="scores").n_read
elif kind == "duckdb":
    res = duckdb.connect(path, read_only=True).sql(Q).arrow()
    n = (res.read_all() if hasattr(res, "read_all") else res).num_rows
elif kind == "load_duckdb":
    n = iop.load("duckdb:///" + path, table="scores").n_read
elif kind == "load_parquet":
    n = iop.load(path).n_read
print(json.dumps({"kind": kind, "rows": int(n), "seconds": time.perf_counter() - t0}))
"""

LABELS = {
    "adbc": "ADBC `fetch_arrow_table` (bare read, the baseline)",
    "adbc_unordered": "ADBC `fetch_arrow_table` without `ORDER BY` (server order)",
    "read_sql_adbc": "`pandas.read_sql` on an ADBC connection",
    "read_sql_psycopg": "`pandas.read_sql` through SQLAlchemy + psycopg 3",
    "iop_read": '`iop_outcomes.io.sql.read_sql(url, table="scores")` — the reader alone',
    "load_pg": '`iop.load("postgresql://…", table="scores")` — read + validate + score + ledger',
    "duckdb": "DuckDB `.sql(...).arrow()` of the .duckdb table (bare read)",
    "load_duckdb": '`iop.load("duckdb:///….duckdb", table="scores")`',
    "load_parquet": "`iop.load(parquet)` (same rows, for reference)",
}


def make(rows: int, out: Path, url: str, chunk: int = 20_000) -> tuple[Path, Path, int]:
    import adbc_driver_postgresql.dbapi as dbapi
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    import iop_outcomes as iop

    out.mkdir(parents=True, exist_ok=True)
    pq_path, db_path = out / f"sql_{rows}.parquet", out / f"sql_{rows}.duckdb"
    for p in (pq_path, db_path):
        p.unlink(missing_ok=True)
    n, i, writer = 0, 0, None
    con = dbapi.connect(url)
    cur = con.cursor()
    while n < rows:
        d = iop.synth.generate(n_episodes=chunk, seed=2000 + i).data
        d = d.iloc[: rows - n].reset_index(drop=True)
        for c in ("patient_id", "episode_id"):
            d[c] = f"S{i:03d}" + d[c].astype(str)
        for c in ("assessment_date", "admit_date", "discharge_date"):
            d[c] = d[c].dt.date
        d.insert(0, "id", range(n + 1, n + len(d) + 1))
        table = pa.Table.from_pandas(d, preserve_index=False)
        table = table.cast(
            pa.schema(
                [
                    pa.field(f.name, pa.string())
                    if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)
                    else f
                    for f in table.schema
                ]
            )
        )
        cur.adbc_ingest("scores", table, mode="create" if i == 0 else "append")
        if writer is None:
            writer = pq.ParquetWriter(pq_path, table.schema)
        writer.write_table(table)
        n += len(d)
        i += 1
        print(f"  chunk {i}: {n:,} rows", file=sys.stderr, flush=True)
    writer.close()
    cur.execute("ALTER TABLE scores ADD PRIMARY KEY (id)")
    cur.execute("ANALYZE scores")
    con.commit()
    cur.close()
    con.close()
    with duckdb.connect(str(db_path)) as dcon:
        dcon.execute(f"CREATE TABLE scores AS SELECT * FROM '{pq_path}' ORDER BY id")
        dcon.execute("ALTER TABLE scores ADD PRIMARY KEY (id)")
    return pq_path, db_path, n


def run(kind: str, url: str, path: Path) -> dict:
    return run_step(STEP, kind, url, path)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import start_postgres

    url, stop = start_postgres(give_up=lambda msg: sys.exit(msg))
    try:
        t = time.perf_counter()
        pq_path, db_path, rows = make(a.rows, a.out, url)
        print(f"generated and stored {rows:,} rows in {time.perf_counter() - t:.0f} s", flush=True)
        kinds = ["adbc", "adbc_unordered", "read_sql_adbc", "read_sql_psycopg", "iop_read"]
        kinds += ["load_pg", "duckdb", "load_duckdb"]
        kinds.append("load_parquet")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            kinds.remove("read_sql_psycopg")
        where = {"duckdb": db_path, "load_duckdb": db_path, "load_parquet": pq_path}
        res = {}
        for _ in range(a.repeat):  # interleaved, so a busy spell hits every step alike
            for k in kinds:
                res.setdefault(k, []).append(run(k, url, where.get(k, pq_path)))
    finally:
        stop()
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in res.items()}
    print(f"\n{rows:,} rows; median of {a.repeat} runs, each in a fresh process")
    print("| read | rows | wall s (median) | × ADBC bare read | × pandas.read_sql (ADBC) |")
    print("|---|---:|---:|---:|---:|")
    for k in kinds:
        print(
            f"| {LABELS[k]} | {res[k][0]['rows']:,} | {med[k]:.2f} | {med[k] / med['adbc']:.2f} "
            f"| {med[k] / med['read_sql_adbc']:.2f} |"
        )
    print(
        "\nall runs (s):",
        json.dumps({k: [round(r["seconds"], 2) for r in v] for k, v in res.items()}),
    )


if __name__ == "__main__":
    main()
