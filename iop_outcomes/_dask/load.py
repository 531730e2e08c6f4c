"""``iop.load(..., engine="dask")``: the in-memory row pipeline run on each partition.

What is read
------------
* a directory (every ``.parquet`` / ``.csv`` / ``.tsv`` file under it, sorted; a Parquet
  dataset partitioned by a column, ``site=North/part-0.parquet``, gets the ``site`` column
  from the directory names) or a glob (``"exports/*.csv"``): one partition per file, each
  read by the library's own reader (encoding, delimiter, identifiers as text), so a ledger
  row is the file's name and its 1-based data row, as when the file is loaded alone;
* a Dask DataFrame: its partitions as they are; a ledger row is ``<name> partition <i>`` and
  the row's 1-based position in that partition.

How it runs
-----------
1. The raw rows are tagged with their source and row (``_iop_source``, ``_iop_row``).
2. **Shuffled by patient** (the column the mapping reads as ``patient_id``) when there is
   more than one partition, because the cross-row checks (duplicate administrations, episode
   ids shared by patients, one episode per admission) need all of a patient's rows in one
   partition. The tags travel with the rows, so the ledger still names file and row. Files
   that each hold whole patients are not shuffled: one small pass hashes each file's patient
   ids (a Parquet file's id column alone) and compares them (:func:`_shared_patients`).
3. Each partition goes through :func:`iop_outcomes.load` unchanged (``map_partitions`` of the
   in-memory pipeline: validation, scoring, ledger and its invariant per partition).
4. Client side, nothing is computed: :class:`~iop_outcomes.LoadResult` holds lazy Dask
   DataFrames. ``data`` (as in memory; ``source_row`` is the row in its file), ``ledger``
   (its text columns as strings, not categories, so every partition has one schema and the
   ledger can be written with ``ledger.to_parquet(path, partition_on=["source"])``),
   ``problems`` and ``partitions`` (one row per partition: rows in, accepted, repaired,
   quarantined). ``counts()`` and ``summary()`` compute; ``counts()`` checks the invariant
   (ledger rows = input rows) from the partition counts. ``sha256`` hashes the file listing
   (paths and sizes; each file's content hash is in ``partitions``); for a Dask DataFrame it
   hashes the graph's name.

What differs from one in-memory load of everything
--------------------------------------------------
Decisions a load makes from a whole column are made per partition: the day/month order of
non-ISO dates and decimal commas (give ``options.date_format`` and ``options.decimal`` in the
mapping to fix them); REDCap, FHIR, wide and visit-row inputs are not read this way
(ConfigError). Loading the same rows in memory gives the same rows, scores and dispositions
(``tests/test_dask_load.py``).
"""

from __future__ import annotations

import functools
import glob as _glob
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, IOPWarning, LoadError
from ..io._load.convert import ID_COLUMNS, as_text
from . import mark_by_patient, require

__all__ = ["load_dask", "dask_counts", "dask_summary"]

_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".txt")
_TAGS = ["_iop_source", "_iop_row"]
#: the patient id as the loader reads it, the shuffle's key (dropped before the load)
_KEY = "_iop_patient"
#: the ledger and problem columns held as strings in the Dask path (one schema per partition)
_TEXT = ["source", "reason", "check", "column", "value", "severity", "fix"]
_COUNTS = ["source", "rows_in", "accepted", "repaired", "quarantined", "episode_ids_paired"]
#: the repair of episode ids numbered within patient (a whole-table decision in memory)
_PAIRED = "episode_id numbered within patient"


def load_dask(data, *, options: dict[str, Any], unsupported: dict[str, Any], steps: dict):
    """The :class:`~iop_outcomes.LoadResult` of ``data`` loaded partition by partition.

    ``options`` are passed to :func:`iop_outcomes.load` for every partition (mapping, strict,
    missing_items, harmonize, skip_rows, sheet); ``unsupported`` are options the Dask path
    refuses when set (source, wide, dictionary, episodes, table, query). ``steps`` are the
    in-memory loader's own pieces, handed over by it (so this module imports none of it):
    ``load`` (run on each partition), ``read`` (its file reader), ``visit_rows`` (whether a
    mapping describes visit rows) and ``result`` (the LoadResult class).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> df = pd.DataFrame({"patient_id": ["a", "a", "b"], "instrument": "PHQ-9",
    ...                    "assessment_date": ["2025-01-06", "2025-02-03", "2025-01-07"],
    ...                    "total": [17, 9, 30]})
    >>> res = iop.load(dd.from_pandas(df, npartitions=1), engine="dask")
    >>> res.counts()
    {'accepted': 2, 'repaired': 0, 'quarantined': 1}
    >>> res.ledger.compute()[["source", "row", "disposition"]]
                      source  row  disposition
    0  dask-frame partition 0    1     accepted
    1  dask-frame partition 0    2     accepted
    2  dask-frame partition 0    3  quarantined
    """
    dd = require("iop.load")
    from dask import delayed

    from ..io.mapping import read_mapping

    load, read = steps["load"], steps["read"]

    given = [k for k, v in unsupported.items() if v not in (None, False)]
    mp = read_mapping(options.get("mapping"))
    if given or steps["visit_rows"](mp):
        what = ", ".join(f"{k}=" for k in given) or "the mapping's [instruments] (visit rows)"
        raise ConfigError(
            f"iop.load(engine='dask') reads tables in the data contract's long layout; {what} "
            "is not supported on Dask yet. Load such an input in memory (engine='pandas'), or "
            "convert it to long Parquet files first (docs/scale.md)."
        )
    name = options.pop("name", None)
    reader_opts = {k: options.get(k, d) for k, d in (("sheet", 0), ("skip_rows", 0))}
    files, root = None, None
    if _is_dask_frame(data):
        label = name or "dask-frame"
        parts = [
            delayed(_tag)(p, f"{label} partition {i}") for i, p in enumerate(data.to_delayed())
        ]
        sample = _tag(data.partitions[0].head(200, compute=True), f"{label} partition 0")
        sha = hashlib.sha256(str(data._name).encode()).hexdigest()
        source = label
    else:
        files, root = _files(data)
        parts = [delayed(_read_file)(f, root, mp, reader_opts, read) for f in files]
        sample = _read_file(files[0], root, mp, reader_opts, read).head(200)
        listing = "\n".join(f"{f}\t{os.path.getsize(f)}" for f in files)
        sha = hashlib.sha256(listing.encode()).hexdigest()
        source = name or str(data)

    raw = dd.from_delayed(parts, meta=sample.iloc[:0], verify_meta=False)
    patient = [c for c in sample.columns if c not in _TAGS and mp.target(c) == "patient_id"]
    # files that each hold whole patients need no shuffle (one cheap pass over the ids says
    # so); a Dask frame is shuffled (its partitions may cost more to compute twice)
    whole = functools.partial(_read_file, root=root, mp=mp, opts=reader_opts, read=read)
    if (
        raw.npartitions > 1
        and patient
        and (files is None or _shared_patients(files, patient[0], whole))
    ):
        # by the id as the loader reads it (text, stripped): ' P1' and 'P1' are one patient
        key = raw[patient[0]].map_partitions(as_text, meta=(patient[0], "str"))
        raw = raw.map_partitions(_typed_like, raw._meta, meta=raw._meta)  # one schema
        raw = raw.assign(**{_KEY: key}).shuffle(on=_KEY, npartitions=raw.npartitions)

    kw = {k: v for k, v in options.items() if k not in ("sheet", "skip_rows")}
    meta = _load_partition(sample, kw, None, load)
    empty = tuple(m.iloc[:0] for m in meta[:4])
    outs = [delayed(_load_partition)(p, kw, empty, load) for p in raw.to_delayed()]
    frames = []
    for i, m in enumerate(empty):
        pieces = [delayed(lambda o, i=i: o[i])(o) for o in outs]
        frames.append(dd.from_delayed(pieces, meta=_unknown(dd, m), verify_meta=False))
    data_, ledger, problems, partitions = frames
    if patient or raw.npartitions == 1:  # every patient's rows in one partition
        mark_by_patient(data_)
    settings = meta[4]
    return steps["result"](data_, ledger, problems, source, sha, settings, partitions=partitions)


def _shared_patients(files: list[str], column: str, read_whole) -> bool:
    """Whether any patient (the ids as the loader reads them: text, stripped) has rows in more
    than one of the ``files``: each file's distinct ids are hashed (64 bits: a collision can
    only ask for a shuffle that was not needed) and the hashes compared on the client. A
    Parquet file's text id column is read alone; anything else (CSV, numeric ids, ids from
    ``patient_id=.../`` directories) is read by the loader's reader (``read_whole(path)``).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"pid": ["p1", "p2"]}).to_parquet(os.path.join(d, "a.parquet"))
    >>> pd.DataFrame({"pid": [" p1 "]}).to_parquet(os.path.join(d, "b.parquet"))
    >>> pd.DataFrame({"pid": ["p3"]}).to_parquet(os.path.join(d, "c.parquet"))
    >>> [_shared_patients([os.path.join(d, f) for f in fs], "pid", None) for fs in
    ...  (["a.parquet", "b.parquet"], ["a.parquet", "c.parquet"])]
    [True, False]
    """
    from dask import compute, delayed

    hashes = compute(*[delayed(_patient_hashes)(f, column, read_whole) for f in files])
    every = np.concatenate(hashes)
    return len(np.unique(every)) < len(every)


def _patient_hashes(path: str, column: str, read_whole) -> np.ndarray:
    """One file's distinct patient ids, as the loader reads them, hashed."""
    col = None
    if Path(path).suffix in (".parquet", ".pq"):  # a text id column is read alone
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        if column in schema.names:
            kind = schema.field(column).type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                col = pq.read_table(path, columns=[column]).column(0).to_pandas()
    if col is None:  # other files, other id types, ids from directory names: as the loader
        col = read_whole(path)[column]
    ids = as_text(col).dropna().unique()
    return np.unique(pd.util.hash_array(np.asarray(ids, dtype=object)))


def _is_dask_frame(value) -> bool:
    from . import is_dask

    return is_dask(value)


def _files(data) -> tuple[list[str], str | None]:
    """The input files (sorted) and the root a partitioned dataset's directories start at."""
    if not isinstance(data, (str, Path)):
        raise ConfigError(
            "The 'data' parameter of iop.load with engine='dask' must be a directory, a glob "
            f"pattern (e.g. 'exports/*.parquet') or a Dask DataFrame. Got a "
            f"{type(data).__name__} instead (a pandas DataFrame: use engine='pandas', or "
            "dask.dataframe.from_pandas)."
        )
    p = Path(data)
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix in _SUFFIXES)
        root = str(p)
    elif p.is_file():
        files, root = [str(p)], None
    else:
        files = sorted(f for f in _glob.glob(str(data), recursive=True) if os.path.isfile(f))
        root = None
    if not files:
        raise LoadError(
            f"{data}: no Parquet or CSV files found (looked for {', '.join(_SUFFIXES)}). Give a "
            "directory of files, a glob such as 'exports/*.parquet', or a Dask DataFrame."
        )
    return files, root


def _read_file(path: str, root: str | None, mp, opts: dict, read) -> pd.DataFrame:
    """One file as read by :func:`iop_outcomes.load`'s reader, with its hive partition columns
    (``site=North/...``) and its source/row tags."""
    rel = os.path.relpath(path, root) if root else os.path.basename(path)
    raw = read(path, None, None, mp, False, opts["sheet"], rel, opts["skip_rows"])
    df = raw.frame
    for part in Path(rel).parts[:-1]:  # a partitioned dataset: key=value directories
        key, eq, value = part.partition("=")
        if eq and key not in df.columns:
            df[key] = pd.Series(value, index=df.index, dtype="str")
    df["_iop_source"] = pd.Series(raw.name, index=df.index, dtype="str")
    df["_iop_row"] = np.arange(1, len(df) + 1, dtype=np.int64)
    return df


def as_str(column: pd.Series) -> pd.Series:
    """A column as text (``str``); a categorical through its categories, not row by row (5x
    faster on a million rows).

    Examples
    --------
    >>> as_str(pd.Series(["b", None, "a"], dtype="category")).tolist()
    ['b', nan, 'a']
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        texts = column.cat.categories.astype("str")
        codes = column.cat.codes.to_numpy()
        return pd.Series(texts.take(codes, allow_fill=True, fill_value=np.nan), index=column.index)
    return column.astype("str")


def _typed_like(part: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """A file's empty columns (every cell missing: read as text) given the first file's type,
    so that the shuffle, which needs one schema, can move the rows.

    Examples
    --------
    >>> meta = pd.DataFrame({"total": pd.Series([], dtype=float)})
    >>> _typed_like(pd.DataFrame({"total": [None, None]}, dtype=object), meta).dtypes["total"]
    dtype('float64')
    """
    empty = [
        c
        for c in part.columns
        if c in meta.columns and part[c].dtype != meta[c].dtype and part[c].isna().all()
    ]
    if not empty:
        return part
    part = part.copy()
    for c in empty:
        part[c] = pd.Series(None, index=part.index, dtype=object).astype(meta[c].dtype)
    return part


def _tag(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """A partition of a Dask DataFrame tagged with its name and 1-based row positions."""
    df = df.reset_index(drop=True)
    df["_iop_source"] = pd.Series(source, index=df.index, dtype="str")
    df["_iop_row"] = np.arange(1, len(df) + 1, dtype=np.int64)
    return df


def _load_partition(part: pd.DataFrame, kw: dict, empty, load):
    """:func:`iop_outcomes.load` of one partition: ``(data, ledger, problems, counts,
    settings)``, rows and sources put back to the file's (or the Dask partition's) own."""
    src = part["_iop_source"].to_numpy(dtype=object)
    row = part["_iop_row"].to_numpy(dtype=np.int64)
    if len(part) == 0:  # a shuffle may leave a partition empty: a load needs rows
        return (*empty[:3], pd.DataFrame({c: [] for c in _COUNTS}).astype(empty[3].dtypes), {})
    body = part.drop(columns=[*_TAGS, _KEY], errors="ignore").reset_index(drop=True)
    single = len(pd.unique(src)) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the partition's problems are in its ledger
        res = load(body, name=str(src[0]) if single else "partition", **kw)
    data, ledger, problems = res.data, res.ledger.copy(), res.problems.copy()
    for c in ID_COLUMNS:  # as text: a partition's codes would mean nothing in another
        if c in data:
            data[c] = as_str(data[c])
    if len(ledger) != len(part):  # the invariant, per partition
        raise AssertionError(f"internal error: ledger has {len(ledger)} rows for {len(part)}")
    data["source_row"] = row[data["source_row"].to_numpy() - 1]
    ledger["source"] = src
    ledger["row"] = row
    pos = problems["row"].to_numpy()
    at = pos > 0
    psrc = np.full(len(problems), "*" if not single else str(src[0]), dtype=object)
    psrc[at] = src[pos[at] - 1]
    prow = pos.copy()
    prow[at] = row[pos[at] - 1]
    problems["source"], problems["row"] = psrc, prow
    problems = problems.drop(columns=["_pos", "_order"])
    _rows_named(problems, ledger, src, row, single)
    for f in (ledger, problems):
        for c in _TEXT:
            if c in f:
                f[c] = as_str(f[c])
    disp = ledger["disposition"].value_counts()
    counts = pd.DataFrame(
        {
            "source": [", ".join(sorted({str(s) for s in src}))[:200]],
            "rows_in": [len(part)],
            **{d: [int(disp.get(d, 0))] for d in ("accepted", "repaired", "quarantined")},
            "episode_ids_paired": [bool(problems["check"].str.startswith(_PAIRED).any())],
        }
    )
    return data, ledger, problems, counts, res.settings


def _rows_named(problems, ledger, src, row, single: bool) -> None:
    """The duplicate checks name other rows by their position in the partition (``exact
    duplicate of row 12``): put the file's own row (and file) in their place, in ``value``,
    ``reason`` and the ledger's joined reason. Only the (rare) duplicate rows are visited."""
    check = problems["check"].astype("str")
    hit = check.str.contains(r"\brows? …", regex=True).to_numpy() & (problems["row"] > 0).to_numpy()
    if not hit.any():
        return
    for c in ("value", "reason"):
        problems[c] = problems[c].astype("object")
    ledger["reason"], ledger["value"] = (ledger[c].astype("object") for c in ("reason", "value"))
    for i in np.flatnonzero(hit):
        old_value, old_reason = str(problems["value"].iat[i]), str(problems["reason"].iat[i])
        named = ", ".join(
            f"{row[int(k) - 1]}" + ("" if single else f" ({src[int(k) - 1]})")
            for k in old_value.split(", ")
        )
        new_reason = str(check.iat[i]).replace("…", named, 1)
        problems.iat[i, problems.columns.get_loc("value")] = named
        problems.iat[i, problems.columns.get_loc("reason")] = new_reason
        at = _position(src, row, problems, i)
        for c, old, new in (("reason", old_reason, new_reason), ("value", old_value, named)):
            cur = ledger[c].iat[at]
            if isinstance(cur, str):
                ledger.iat[at, ledger.columns.get_loc(c)] = cur.replace(old, new)


def _position(src, row, problems, i: int) -> int:
    """The partition position of problem ``i`` (its source and row)."""
    return int(
        np.flatnonzero((src == problems["source"].iat[i]) & (row == problems["row"].iat[i]))[0]
    )


def _unknown(dd, meta: pd.DataFrame) -> pd.DataFrame:
    """``meta`` with its categories marked unknown (they differ between partitions), except
    the fixed ones (disposition)."""
    from dask.dataframe.utils import clear_known_categories

    fixed = [c for c in ("disposition",) if c in meta]
    cats = [c for c in meta.columns if isinstance(meta[c].dtype, pd.CategoricalDtype)]
    return clear_known_categories(meta, cols=[c for c in cats if c not in fixed])


def dask_counts(result) -> dict[str, int]:
    """Rows per disposition from the partition counts, the ledger invariant checked."""
    return _checked(result.partitions.compute())


def _checked(parts: pd.DataFrame) -> dict[str, int]:
    """The disposition totals of the partition counts; AssertionError if a partition's ledger
    does not have one row per input row."""
    n_in = int(parts["rows_in"].sum())
    c = {d: int(parts[d].sum()) for d in ("accepted", "repaired", "quarantined")}
    bad = parts.loc[parts["rows_in"] != parts[["accepted", "repaired", "quarantined"]].sum(axis=1)]
    if len(bad) or sum(c.values()) != n_in:
        raise AssertionError(
            f"internal error: the ledger accounts for {sum(c.values()):,} of {n_in:,} rows "
            f"(partitions {list(bad.index)})"
        )
    paired = parts.loc[parts["rows_in"] > 0, "episode_ids_paired"].astype(bool)
    if paired.any() and not paired.all():
        warnings.warn(
            f"episode ids numbered within patient were read as 'patient_id|episode_id' in "
            f"{int(paired.sum()):,} of {len(paired):,} partitions (a decision made per partition "
            "on Dask): episodes of different patients may share an id. Give globally unique "
            "episode ids before a Dask load (e.g. prefix them with the patient id); see "
            "docs/scale.md.",
            IOPWarning,
            stacklevel=3,
        )
    return c


def dask_summary(result):
    """What :meth:`LoadResult.summary` shows, computed on the cluster in one pass: ``(rows per
    (disposition, check), counts (the invariant checked), notes (each once), PHQ-9 item 9
    count, the distinct labels of the columns checked for people's names)``."""
    import dask

    from .._report.safety import NAME_CHECK_COLUMNS

    led, p, data = result.ledger, result.problems, result.data
    tab = led.assign(check=led["check"].fillna("")).groupby(["disposition", "check"]).size()
    notes = p.loc[p["severity"] == "note", "reason"].drop_duplicates()
    flag = data["safety_flag"].fillna(False).astype(bool).sum() if "safety_flag" in data else 0
    cols = [c for c in NAME_CHECK_COLUMNS if c in data.columns]
    labels = {c: data[c].dropna().astype("str").drop_duplicates() for c in cols}
    tab, parts, notes, flag, labels = dask.compute(tab, result.partitions, notes, flag, labels)
    tab = tab.rename("rows").reset_index()
    tab["disposition"] = tab["disposition"].astype("str")
    n = max((len(v) for v in labels.values()), default=0)
    frame = pd.DataFrame(
        {c: pd.Series(v.to_numpy(), dtype="str").reindex(range(n)) for c, v in labels.items()}
    )
    return tab, _checked(parts), sorted(notes), int(flag), frame
