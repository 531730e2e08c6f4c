"""SQL databases: read a table or query into the loader, write tables back.

:func:`read_sql` gives :func:`iop_outcomes.load` the rows of a table or of a query, from a
database URL, as the other readers give a file's rows (``docs/data-format.md``, "SQL
databases"):

* ``postgresql://user@host:5432/db`` (also ``postgres://`` and ``postgresql+<driver>://``) is
  read with the ADBC PostgreSQL driver (``adbc-driver-postgresql``), which streams the result in
  PostgreSQL's binary COPY format straight into Arrow columns: no Python object per value;
* ``duckdb:///path/file.duckdb`` or ``duckdb:///:memory:`` (a path ending in ``.duckdb`` too) is
  read with DuckDB's own Python API, which hands over Arrow natively; DuckDB queries Parquet and
  CSV files in place (``query="SELECT * FROM 'scores.parquet'"``), so it is the embedded engine
  for SQL over local files. DuckDB's own API is used rather than a SQLAlchemy dialect
  (``duckdb-engine``) because the latter adds a dependency and converts the result to Python
  rows;
* any other SQLAlchemy URL (``sqlite:///clinic.db``, ``mysql+pymysql://...``,
  ``mssql+pyodbc://...``) is read with SQLAlchemy and :func:`pandas.read_sql` (the database's
  driver must be installed).

Rules, the same for every database:

* ``table="scores"`` (or ``"schema.scores"``) reads the whole table, **ordered by its primary
  key**, or by all its columns (left to right) when it has none, so that the rows, and the
  ledger's row numbers, come in the same order on every run (a server returns an unordered
  ``SELECT`` in whatever order its plan gives). ``query="SELECT ..."`` is run as written: put
  an ``ORDER BY`` in it for a stable order;
* the ledger has **one row per result row**; its ``row`` is the 1-based position in the result
  (``row`` 0 would be the header of a file);
* the ledger's ``source`` is the URL **without its password** (``user:***@host``; a
  ``password=`` parameter too) followed by ``table <name>`` or ``query <first 60 characters>``.
  No password is ever written into a ledger, message or report;
* ``sha256`` is the SHA-256 of the result as an Arrow IPC stream (schema and record batches as
  the driver delivered them): the same data read by the same driver give the same hash.

Writing: :func:`write_tables` replaces a set of tables in one transaction (PostgreSQL and
DuckDB run DDL in transactions, so readers see the old set or the new one, never half of
each); :func:`iop_outcomes.to_sql` uses it for the report's tables.

The drivers are optional: ``pip install "iop_outcomes[sql]"`` installs SQLAlchemy, DuckDB and
the ADBC PostgreSQL driver.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import numpy as np
import pandas as pd

from .._validation import validate_params
from ..exceptions import ConfigError, LoadError
from .readers import NULLABLE_INTS, RawSource, compact_labels, narrow_ints

__all__ = ["read_sql", "write_tables", "is_sql_url", "redact_url", "wanted"]

#: URL schemes (before any ``+driver``) read as databases without ``source="sql"``.
DIALECTS = frozenset(
    "postgresql postgres sqlite duckdb mysql mariadb mssql oracle snowflake redshift "
    "bigquery trino presto clickhouse databricks db2 ibm_db_sa hana teradata vertica "
    "cockroachdb awsathena firebird sybase".split()
)
_EXTRA = 'pip install "iop_outcomes[sql]"'
_SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "sslpassword", "token", "access_token"})


# ------------------------------------------------------------------------------ URLs
def is_sql_url(data) -> bool:
    """Whether ``data`` names a database: a URL with a database scheme, or a ``.duckdb`` file.

    Examples
    --------
    >>> is_sql_url("postgresql://iop@db.example.org/clinic"), is_sql_url("sqlite:///c.db")
    (True, True)
    >>> is_sql_url("scores.csv"), is_sql_url("https://fhir.example.org/Observation")
    (False, False)
    """
    if isinstance(data, Path):
        return data.suffix.lower() == ".duckdb"
    if not isinstance(data, str):
        return False
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*)://", data)
    if m:
        return m.group(1).split("+")[0].lower() in DIALECTS
    return data.lower().endswith(".duckdb")


def wanted(data, source, table, query) -> bool:
    """Whether :func:`iop_outcomes.load` reads ``data`` from a database (a database URL,
    ``source="sql"``, or ``table=`` / ``query=`` given); raises
    :class:`~iop_outcomes.ConfigError` when these disagree.

    Examples
    --------
    >>> wanted("scores.csv", None, None, None), wanted("sqlite:///c.db", None, "scores", None)
    (False, True)
    """
    explicit = isinstance(source, str) and source == "sql"
    if not (explicit or table is not None or query is not None or is_sql_url(data)):
        return False
    url = str(data) if isinstance(data, (str, Path)) else None
    if url is None or not (re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", url) or is_sql_url(data)):
        got = repr(url) if url is not None else f"a {type(data).__name__}"
        raise ConfigError(
            "Reading from a database (source='sql', table= or query=) needs a database URL as "
            "the first argument of iop.load, such as 'postgresql://user@host/db', "
            f"'duckdb:///file.duckdb' or 'sqlite:///file.db'. Got {got} instead."
        )
    if table is None and query is None:
        raise ConfigError(
            f"Reading the database {redact_url(url)!r} needs table='name' (command line: "
            "--table NAME) or query='SELECT ...' (--query SQL)."
        )
    return True


def _scheme(url: str) -> str:
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*)://", url)
    return m.group(1).split("+")[0].lower() if m else ("duckdb" if url.endswith(".duckdb") else "")


def _password(url: str) -> list[str]:
    """The secrets in a URL (the password and any password-like parameter), to scrub."""
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        found += [v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_PARAMS and v]
    except ValueError:
        return []
    return found


def redact_url(url: str) -> str:
    """``url`` without its password (``user:***@host``) or password-like parameters.

    Examples
    --------
    >>> redact_url("postgresql://iop:s3cret@db.example.org:5432/clinic")
    'postgresql://iop:***@db.example.org:5432/clinic'
    >>> redact_url("mssql+pyodbc://db/clinic?driver=ODBC+18&PWD=s3cret")
    'mssql+pyodbc://db/clinic?driver=ODBC+18&PWD=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<database URL>"
    out = url
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        out = out.replace(parts.netloc, f"{user.split(':', 1)[0]}:***@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                safe="*:/",
            )
            out = out.replace("?" + parts.query, "?" + query, 1)
    return out


def _scrub(text: str, url: str) -> str:
    for secret in _password(url):
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def _duckdb_path(url: str) -> str:
    """``duckdb:///rel.duckdb`` → ``rel.duckdb``, ``duckdb:////abs/x.duckdb`` → ``/abs/x.duckdb``
    (SQLAlchemy's convention for ``sqlite:///``); ``duckdb:///:memory:`` → ``:memory:``."""
    if "://" not in url:
        return url
    rest = url.split("://", 1)[1]
    path = rest[1:] if rest.startswith("/") else rest
    return path.split("?", 1)[0] or ":memory:"


# ------------------------------------------------------------------------------ drivers
def _need(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise LoadError(
            f"Reading {what} needs the Python package {module.split('.')[0]!r}, which is not "
            f"installed. Install the SQL extra: {_EXTRA}."
        ) from None


def _quote(name: str) -> str:
    """A (possibly schema-qualified) table name as quoted SQL identifiers: ``a.b`` → ``"a"."b"``;
    a part already in double quotes is kept as written."""
    parts = re.findall(r'"(?:[^"]|"")+"|[^.]+', name)
    return ".".join(p if p.startswith('"') else '"' + p.replace('"', '""') + '"' for p in parts)


def _bare(name: str) -> tuple[str | None, str]:
    """``(schema, table)`` of a table name, quotes removed."""
    parts = [
        p[1:-1].replace('""', '"') if p.startswith('"') else p
        for p in re.findall(r'"(?:[^"]|"")+"|[^.]+', name)
    ]
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


class _Arrow:
    """A connection that runs SQL and returns Arrow tables (ADBC PostgreSQL or DuckDB)."""

    def __init__(self, url: str, kind: str):
        self.kind = kind
        if kind == "postgresql":
            dbapi = _need("adbc_driver_postgresql.dbapi", "a PostgreSQL database")
            # libpq reads postgresql:// and postgres:// URIs; a SQLAlchemy driver suffix is dropped
            self.con = dbapi.connect(re.sub(r"^[^:]+://", "postgresql://", url, count=1))
        else:
            duckdb = _need("duckdb", "a DuckDB database")
            path = _duckdb_path(url)
            if path != ":memory:" and not Path(path).exists():
                raise LoadError(
                    f"DuckDB database file not found: {path!r} (from {redact_url(url)!r}). Check "
                    f"the path (working directory: {Path.cwd()}); duckdb:///relative.duckdb and "
                    "duckdb:////absolute/path.duckdb name files, duckdb:///:memory: an empty "
                    "in-memory database for querying Parquet or CSV files."
                )
            self.con = duckdb.connect(path, read_only=path != ":memory:")

    def arrow(self, sql: str, params: tuple = ()):
        if self.kind == "postgresql":
            cur = self.con.cursor()
            try:
                cur.execute(sql, parameters=params or None)
                return cur.fetch_arrow_table()
            finally:
                cur.close()
        out = self.con.sql(sql, params=list(params)) if params else self.con.sql(sql)
        if out is None:  # a statement without a result
            import pyarrow as pa

            return pa.table({})
        res = out.arrow()
        return res.read_all() if hasattr(res, "read_all") else res

    def tables(self) -> list[str]:
        t = self.arrow(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
            "NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).to_pydict()
        return [f"{s}.{n}" for s, n in zip(t["table_schema"], t["table_name"], strict=True)]

    def primary_key(self, name: str) -> list[str] | None:
        """The table's primary-key columns in key order; ``None`` when the table is not found."""
        schema, table = _bare(name)
        where = "table_schema = $2" if schema else "table_schema = current_schema()"
        params = (table, schema) if schema else (table,)
        found = self.arrow(
            f"SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1 AND {where}",
            params,
        ).column(0)[0]
        if not found.as_py():
            return None
        pk = self.arrow(
            "SELECT kcu.column_name FROM information_schema.table_constraints tc JOIN "
            "information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name "
            "AND tc.table_schema = kcu.table_schema AND tc.table_name = kcu.table_name "
            f"WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_name = $1 AND tc.{where} "
            "ORDER BY kcu.ordinal_position",
            params,
        )
        return [str(c) for c in pk.column(0).to_pylist()]

    def columns(self, name: str) -> list[str]:
        return self.arrow(f"SELECT * FROM {_quote(name)} LIMIT 0").column_names

    def close(self) -> None:
        self.con.close()


class _Alchemy:
    """A SQLAlchemy connection returning Arrow tables (through :func:`pandas.read_sql`)."""

    kind = "sqlalchemy"

    def __init__(self, url: str):
        sa = _need("sqlalchemy", "a database through SQLAlchemy")
        self.sa = sa
        try:
            self.engine = sa.create_engine(url)
            self.con = self.engine.connect()
        except ImportError as exc:  # the dialect's driver (pymysql, pyodbc ...) is missing
            raise LoadError(
                f"Reading {redact_url(url)!r} needs the database driver that SQLAlchemy names: "
                f"{exc}. Install it with pip (the URL's '+driver' part chooses which)."
            ) from None

    def arrow(self, sql: str, params: tuple = ()):
        import pyarrow as pa

        frame = pd.read_sql(self.sa.text(sql), self.con, dtype_backend="pyarrow")
        return pa.Table.from_pandas(frame, preserve_index=False)

    def tables(self) -> list[str]:
        insp = self.sa.inspect(self.con)
        return sorted(insp.get_table_names() + insp.get_view_names())

    def primary_key(self, name: str) -> list[str] | None:
        schema, table = _bare(name)
        insp = self.sa.inspect(self.con)
        if not insp.has_table(table, schema=schema):
            return None
        return list(insp.get_pk_constraint(table, schema=schema).get("constrained_columns") or [])

    def columns(self, name: str) -> list[str]:
        schema, table = _bare(name)
        return [c["name"] for c in self.sa.inspect(self.con).get_columns(table, schema=schema)]

    def quote(self, column: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(column)

    def table_sql(self, name: str) -> str:
        schema, table = _bare(name)
        prep = self.engine.dialect.identifier_preparer
        return (prep.quote_schema(schema) + "." if schema else "") + prep.quote(table)

    def close(self) -> None:
        self.con.close()
        self.engine.dispose()


def _connect(url: str):
    kind = _scheme(url)
    if kind in ("postgresql", "postgres"):
        return _Arrow(url, "postgresql")
    if kind == "duckdb":
        return _Arrow(url, "duckdb")
    return _Alchemy(url)


# ------------------------------------------------------------------------------ reading
def _table_query(con, table: str, display: str) -> str:
    """``SELECT *`` of a table in a stable order: its primary key, else all its columns."""
    pk = con.primary_key(table)
    if pk is None:
        known = con.tables()
        shown = ", ".join(known[:30]) + (f" ... ({len(known)} in all)" if len(known) > 30 else "")
        raise LoadError(
            f"{display}: no table or view {table!r} in the database. Tables found: "
            f"{shown or 'none'}. Give the name as listed (schema.table for another schema), or "
            "use query='SELECT ...'."
        )
    order = pk or con.columns(table)
    q = con.quote if isinstance(con, _Alchemy) else _quote
    source = con.table_sql(table) if isinstance(con, _Alchemy) else _quote(table)
    return f"SELECT * FROM {source} ORDER BY {', '.join(q(c) for c in order)}"


class _HashSink:
    """A write-only file that only hashes what is written to it."""

    closed = False

    def __init__(self):
        self.h = hashlib.sha256()

    def write(self, data) -> int:
        self.h.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _sha256_arrow(table) -> str:
    """SHA-256 of ``table`` as an Arrow IPC stream (streamed into the hash, never held)."""
    import pyarrow as pa

    sink = _HashSink()
    with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), table.schema) as w:
        w.write_table(table)
    return sink.h.hexdigest()


def _plain_types(table):
    """Columns pandas would hold as Python objects, converted: decimals and PostgreSQL
    ``numeric`` (which ADBC hands over as text) to float64, UUIDs to their text form, other
    extension types (JSON ...) to their storage, binary and all-null columns to text."""
    import pyarrow as pa

    cols = []
    for col, f in zip(table.columns, table.schema, strict=True):
        t = f.type
        if isinstance(t, pa.BaseExtensionType):
            kind = getattr(t, "type_name", "") or getattr(t, "extension_name", "")
            if "uuid" in kind:
                col = pa.array(
                    [None if u is None else str(u) for u in col.to_pylist()], pa.string()
                )
            else:
                col = pa.chunked_array([c.storage for c in col.chunks], t.storage_type)
                if kind == "numeric":
                    col = col.cast(pa.float64())
            t = col.type
        if pa.types.is_decimal(t):
            col = col.cast(pa.float64())
        elif pa.types.is_null(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            col = col.cast(pa.string())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


@validate_params(
    {
        "url": [str, Path],
        "table": [str, None],
        "query": [str, None],
        "name": [str, None],
        "text_columns": ["callable", None],
        "whole_numbers": ["callable", None],
        "sheet": ["no_validation"],  # ConfigError: sheet= applies to Excel and CSV files
        "skip_rows": ["no_validation"],
        "missing_columns": ["callable", None],
    }
)
def read_sql(
    url: str | Path,
    *,
    table: str | None = None,
    query: str | None = None,
    name: str | None = None,
    text_columns: Callable | None = None,
    whole_numbers: Callable | None = None,
    sheet=0,
    skip_rows: int = 0,
    missing_columns=None,
) -> RawSource:
    """Read a database table or query into a raw frame (no validation yet).

    Parameters
    ----------
    url : str or Path
        A database URL (``postgresql://user@host/db``, ``duckdb:///file.duckdb``,
        ``duckdb:///:memory:``, ``sqlite:///file.db`` or any SQLAlchemy URL), or the path of a
        ``.duckdb`` file. A password in it never reaches the ledger or a message.
    table : str, optional
        Table or view (``schema.table`` for another schema), read in primary-key order (all
        columns, left to right, without one).
    query : str, optional
        A ``SELECT`` to run as written (give it an ``ORDER BY`` for a stable row order).
        Exactly one of ``table`` and ``query``.
    name : str, optional
        Name shown in the ledger and messages (default: the URL without its password, then
        ``table <name>`` or ``query <text>``).
    text_columns, whole_numbers : callable, optional
        Given the column names, the identifier columns to keep as text (others with text are
        read as labels, i.e. categories) and the item columns whose whole-number floats are held
        as small integers.
    sheet, skip_rows, missing_columns
        File options of :func:`~iop_outcomes.io.readers.read_source`; a database has no sheets
        or title rows, so anything but the defaults is an error.

    Returns
    -------
    RawSource
        ``kind`` is ``"SQL"``; ``sha256`` hashes the result as an Arrow IPC stream.

    Examples
    --------
    >>> raw = read_sql("duckdb:///:memory:",
    ...                query="SELECT * FROM (VALUES ('a', 12), ('b', 7)) t(patient_id, total)")
    >>> raw.name, raw.kind, raw.frame["total"].tolist()
    ("duckdb:///:memory: query SELECT * FROM (VALUES ('a', 12), ('b', 7)) t(patient_id, tot…", 'SQL', [12, 7])
    """
    display_url = redact_url(str(url))
    if (table is None) == (query is None):
        raise ConfigError(
            "Reading a database needs exactly one of table='name' (a table or view) and "
            f"query='SELECT ...'. Got {'both' if table is not None else 'neither'} for "
            f"{display_url!r}."
        )
    for param, value in (("table", table), ("query", query)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(
                f"The '{param}' parameter of iop.load must be a non-empty str. Got {value!r} "
                "instead."
            )
    if sheet not in (0, None) or skip_rows:
        raise ConfigError(
            "The 'sheet' and 'skip_rows' parameters of iop.load apply to Excel and CSV files, "
            f"not to a database ({display_url!r})."
        )
    if table is not None:
        what = f"table {table}"
    else:
        one_line = " ".join(query.split())
        what = f"query {one_line[:60]}" + ("…" if len(one_line) > 60 else "")
    display = name or f"{display_url} {what}"
    url = str(url)
    con = None
    try:
        con = _connect(url)
        sql = _table_query(con, table, display) if table is not None else query
        result = con.arrow(sql)
    except (LoadError, ConfigError):
        raise
    except Exception as exc:  # the driver's own error, restated without the password
        msg = _scrub(f"{type(exc).__name__}: {exc}", url).strip()
        raise LoadError(
            f"Cannot read {display}: {msg}. Check the URL (user, host, port, database), that "
            "the server is running and accepts the connection, and the table name or query."
        ) from None
    finally:
        if con is not None:
            con.close()
    if result.num_columns == 0:
        raise LoadError(f"{display}: the query returned no columns; give a SELECT.")
    if result.num_rows == 0:
        raise LoadError(
            f"{display}: the result has the columns "
            f"{', '.join(map(repr, result.column_names[:12]))} but no rows. Check the table (or "
            "the query's WHERE clause)."
        )
    sha256 = _sha256_arrow(result)
    names = result.column_names
    ids = set(text_columns(names)) if text_columns else set()
    whole = set(whole_numbers(names)) if whole_numbers else set()
    result = compact_labels(narrow_ints(_plain_types(result), whole), keep_text=ids)
    frame = result.to_pandas(
        types_mapper=NULLABLE_INTS.get, date_as_object=False, self_destruct=True
    )
    del result
    return RawSource(frame, display, sha256, "SQL")


# ------------------------------------------------------------------------------ writing
def _arrow_for_sql(frame: pd.DataFrame):
    """A frame as an Arrow table with database-friendly types: datetimes that are all
    midnight become ``date32`` (SQL ``DATE``), categories become text, whole-number
    counts stay integers (SQL ``BIGINT``), and the index is dropped."""
    import pyarrow as pa

    cols, names = [], []
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object).where(s.notna(), None)
        if pd.api.types.is_datetime64_any_dtype(s) and getattr(s.dt, "tz", None) is None:
            v = s.dropna()
            if (v == v.dt.normalize()).all():
                arr = pa.array(s.dt.date.where(s.notna(), None), type=pa.date32())
                cols.append(arr)
                names.append(str(c))
                continue
        if s.dtype == object:
            v = s.dropna()
            kinds = {type(x) for x in v}
            if kinds <= {bool, np.bool_}:
                arr = pa.array(s.where(s.notna(), None).tolist(), type=pa.bool_())
            elif kinds <= {int, np.int64, np.int32, np.int16, np.int8}:
                arr = pa.array(s.where(s.notna(), None).tolist(), type=pa.int64())
            elif kinds <= {int, float, np.int64, np.float64}:
                arr = pa.array(s.where(s.notna(), None).tolist(), type=pa.float64())
            else:
                arr = pa.array([None if x is None else str(x) for x in s.where(s.notna(), None)])
                arr = arr.cast(pa.string())
        else:
            arr = pa.Array.from_pandas(s)
            if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
                arr = arr.cast(pa.string())
        cols.append(arr)
        names.append(str(c))
    return pa.table(cols, names=names)


def _in(schema: str | None, table: str) -> str:
    """``"schema"."table"`` (or ``"table"``), quoted as written (no dot splitting)."""
    q = [schema, table] if schema else [table]
    return ".".join('"' + p.replace('"', '""') + '"' for p in q)


@validate_params(
    {
        "url": [str],
        "tables": [Mapping],
        "schema": [str, None],
        "drop": [list, tuple],
    }
)
def write_tables(
    url: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    schema: str | None = None,
    drop: Sequence[str] = (),
) -> list[str]:
    """Replace tables in a database, all in one transaction.

    Parameters
    ----------
    url : str
        Database URL (as for :func:`read_sql`): PostgreSQL through ADBC (bulk ``COPY``),
        DuckDB through its own API, anything else through SQLAlchemy and
        :meth:`pandas.DataFrame.to_sql`.
    tables : mapping of str to DataFrame
        Table name → contents. Each table is dropped if it exists and created anew. Column
        types: dates (datetimes at midnight) ``DATE``, integers ``BIGINT``, numbers
        ``DOUBLE PRECISION``, flags ``BOOLEAN``, text and categories ``TEXT``.
    schema : str, optional
        Schema to write into, created when missing (default: the connection's current schema,
        ``public`` in PostgreSQL, ``main`` in DuckDB). SQLite has no schemas.

    drop : sequence of str
        Tables to drop in the same transaction (if they exist), e.g. those an earlier run
        wrote that this one does not.

    Returns
    -------
    list of str
        The tables written, schema-qualified when a schema was given.

    Nothing is changed when any table fails (the transaction is rolled back); the error names
    the table.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "out.duckdb")
    >>> write_tables(f"duckdb:///{db}", {"counts": pd.DataFrame({"n": [3, 4]})}, schema="iop")
    ['iop.counts']
    >>> read_sql(db, table="iop.counts").frame["n"].tolist()
    [3, 4]
    """
    url = str(url)
    kind = _scheme(url)
    shown = redact_url(url)
    done = [f"{schema}.{t}" if schema else t for t in tables]
    at = {"table": ""}  # the table being written, for the error message
    try:
        if kind in ("postgresql", "postgres", "duckdb"):
            _write_arrow(url, kind, tables, schema, drop, at)
        else:
            sa = _need("sqlalchemy", "a database through SQLAlchemy")
            engine = sa.create_engine(url)
            try:
                with engine.begin() as con:
                    if schema and engine.dialect.name != "sqlite":
                        con.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
                    elif schema:
                        raise ConfigError(
                            f"SQLite has no schemas: write to {shown!r} without a schema."
                        )
                    prep = engine.dialect.identifier_preparer
                    for current in drop:
                        at["table"] = current
                        target = (prep.quote_schema(schema) + "." if schema else "") + prep.quote(
                            current
                        )
                        con.execute(sa.text(f"DROP TABLE IF EXISTS {target}"))
                    for current, frame in tables.items():
                        at["table"] = current
                        arrow = _arrow_for_sql(frame)
                        dates = {
                            n: sa.Date
                            for n, f in zip(arrow.column_names, arrow.schema, strict=True)
                            if str(f.type) == "date32[day]"
                        }
                        out = arrow.to_pandas(date_as_object=True, types_mapper=NULLABLE_INTS.get)
                        out.to_sql(
                            current,
                            con,
                            schema=schema,
                            if_exists="replace",
                            index=False,
                            dtype=dates,
                        )
            finally:
                engine.dispose()
    except (LoadError, ConfigError):
        raise
    except Exception as exc:
        msg = _scrub(f"{type(exc).__name__}: {exc}", url).strip()
        where = f" (table {at['table']!r})" if at["table"] else ""
        raise LoadError(
            f"Cannot write to {shown}{where}: {msg}. Nothing was changed (the transaction was "
            "rolled back). Check the URL, that the user may create tables"
            + (f" in schema {schema!r}" if schema else "")
            + ", and that the server is running."
        ) from None
    return done


def _write_arrow(url: str, kind: str, tables, schema, drop, at: dict) -> None:
    """PostgreSQL (ADBC) and DuckDB: one transaction that creates the schema, drops ``drop``
    and writes each table from Arrow; only how a table is ingested differs (ADBC's bulk
    ingest; DuckDB's ``CREATE OR REPLACE TABLE ... AS SELECT`` from the registered Arrow table).
    ``at["table"]`` names the table being written (for the caller's error message)."""
    cur = None
    if kind == "duckdb":
        duckdb = _need("duckdb", "a DuckDB database")
        con = duckdb.connect(_duckdb_path(url))
        run = con.execute

        def ingest(name: str, arrow) -> None:
            con.register("_iop_outcomes_frame", arrow)
            con.execute(
                f"CREATE OR REPLACE TABLE {_in(schema, name)} AS SELECT * FROM _iop_outcomes_frame"
            )
            con.unregister("_iop_outcomes_frame")

    else:
        dbapi = _need("adbc_driver_postgresql.dbapi", "a PostgreSQL database")
        con = dbapi.connect(re.sub(r"^[^:]+://", "postgresql://", url, count=1))
        cur = con.cursor()
        run = cur.execute

        def ingest(name: str, arrow) -> None:
            cur.adbc_ingest(name, arrow, mode="replace", db_schema_name=schema)

    try:
        try:
            if kind == "duckdb":
                con.begin()  # (ADBC connections start a transaction themselves)
            if schema:
                run(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            for name in drop:
                at["table"] = name
                run(f"DROP TABLE IF EXISTS {_in(schema, name)}")
            for name, frame in tables.items():
                at["table"] = name
                ingest(name, _arrow_for_sql(frame))
        finally:
            if cur is not None:
                cur.close()
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()
