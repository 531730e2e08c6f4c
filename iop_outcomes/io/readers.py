"""Readers: files (CSV, Excel, Parquet, SPSS, Stata) and in-memory DataFrames.

Well-kept readers do the parsing — pyarrow for CSV and Parquet, openpyxl for
Excel, pyreadstat for SPSS/Stata (value labels applied) — and every failure is
turned into a :class:`~iop_outcomes.exceptions.LoadError` naming the file and
what to do.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._validation import Interval, validate_params
from ..exceptions import LoadError

__all__ = ["read_source", "RawSource", "SUPPORTED"]

SUPPORTED = {
    ".csv": "CSV",
    ".txt": "CSV",
    ".tsv": "CSV",
    ".xlsx": "Excel",
    ".xlsm": "Excel",
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".sav": "SPSS",
    ".zsav": "SPSS",
    ".dta": "Stata",
}

NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "."]


def given_cells(s: pd.Series) -> np.ndarray:
    """Cells that hold something: not missing, not blank, not a missing-value spelling
    (:data:`NULL_VALUES`, surrounding spaces ignored), judged once per distinct value. The same
    answer for a CSV (where the reader made such cells missing) and a DataFrame or Excel sheet
    of the same values.

    Examples
    --------
    >>> given_cells(pd.Series(["3", "", " NA ", None, 0], dtype=object)).tolist()
    [True, False, False, False, True]
    """
    present = s.notna().to_numpy().copy()
    if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_datetime64_any_dtype(s):
        codes, uniq = pd.factorize(s.astype(object))
        blank = np.array(
            [isinstance(u, str) and u.strip() in NULL_VALUES for u in uniq] + [True], dtype=bool
        )
        present &= ~blank[np.where(codes >= 0, codes, len(uniq))]
    return present


@dataclass(frozen=True)
class RawSource:
    """What a reader returns: the frame, a display name and the input's SHA-256 (and, for a
    CSV file, its delimiter)."""

    frame: pd.DataFrame
    name: str
    sha256: str
    kind: str
    delimiter: str | None = None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha256_frame(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    try:
        rows = pd.util.hash_pandas_object(df, index=False)
    except (TypeError, ValueError, UnicodeError):
        # cells pandas cannot hash (lists, dicts, undecodable bytes in an object column):
        # those columns hashed by each cell's type and repr instead
        safe = df.copy(deep=False)
        for i in range(safe.shape[1]):
            col = safe.iloc[:, i]
            try:
                pd.util.hash_pandas_object(col, index=False)
            except (TypeError, ValueError, UnicodeError):
                safe.isetitem(i, col.map(lambda v: f"{type(v).__name__}:{v!r}"))
        rows = pd.util.hash_pandas_object(safe, index=False)
    h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


@validate_params(
    {
        "source": ["no_validation"],  # a path or DataFrame: LoadError naming what was given
        "sheet": [str, Interval(int, 0, None, closed="left"), None],
        "name": [str, None],
        "text_columns": ["callable", None],
        "whole_numbers": ["callable", None],
        "skip_rows": ["no_validation"],  # LoadError naming title rows (_check_skip_rows)
        "missing_columns": ["callable", None],
    }
)
def read_source(
    source,
    *,
    sheet: str | int | None = 0,
    name: str | None = None,
    text_columns=None,
    whole_numbers=None,
    skip_rows: int = 0,
    missing_columns=None,
) -> RawSource:
    """Read a file path or DataFrame into a raw frame (no validation yet).

    Parameters
    ----------
    source : str, Path or DataFrame
        A file (``.csv``, ``.tsv``, ``.txt``, ``.xlsx``, ``.parquet``, ``.sav``,
        ``.dta``) or a DataFrame.
    sheet : str or int
        Excel sheet to read, by name or 0-based position (default: the first).
    name : str, optional
        Name shown in the ledger and messages (default: the file name).
    text_columns : callable, optional
        CSV only: given the header, returns the columns to read as text
        (identifiers, so that ``0012`` keeps its leading zeros).
    whole_numbers : callable, optional
        Parquet only: given the column names, returns the columns (item responses) whose
        floating-point values are held as small integers when all are whole numbers.
    skip_rows : int
        CSV and Excel: lines (rows) above the header to skip, such as a report title.
    missing_columns : callable, optional
        Excel only: given the header, returns the required columns it lacks (an empty list
        when none). When the chosen sheet lacks them, or is empty, the error names the sheets
        of the workbook and those that have them.

    Returns
    -------
    RawSource
        The frame as read, its display name, the SHA-256 of its content, its kind and, for a
        CSV file, its delimiter.

    Raises
    ------
    LoadError
        When the input cannot be read, including a file with a header and no rows.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = read_source(pd.DataFrame({"a": [1, 2]}))
    >>> raw.name, raw.kind, len(raw.sha256)
    ('<DataFrame>', 'DataFrame', 64)
    """
    if isinstance(source, pd.DataFrame):
        # a shallow copy is safe under pandas' copy-on-write and costs no memory
        return RawSource(
            source.copy(deep=False), name or "<DataFrame>", _sha256_frame(source), "DataFrame"
        )
    if not isinstance(source, (str, Path)):
        raise LoadError(
            f"The 'source' parameter of iop.load must be a file path or a pandas DataFrame. "
            f"Got {type(source).__name__} instead."
        )
    path = Path(source)
    if not path.exists():
        raise LoadError(
            f"File not found: {str(path)!r}. Check the path (working directory: {Path.cwd()})."
        )
    if path.is_dir():
        raise LoadError(f"{str(path)!r} is a folder; give the data file inside it.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        kinds = ", ".join(sorted(set(SUPPORTED)))
        raise LoadError(
            f"Cannot read {path.name!r}: unsupported file type {suffix!r}. Supported: {kinds}. "
            "Save the data in one of these formats, or read it yourself and pass a DataFrame."
        )
    kind = SUPPORTED[suffix]
    display = name or path.name
    skip_rows = _check_skip_rows(skip_rows)
    if sheet not in (0, None) and kind != "Excel":
        raise LoadError(
            f"The 'sheet' parameter of iop.load (--sheet) applies to Excel files. Got "
            f"sheet={sheet!r} for {display!r}, a {kind} file, instead."
        )
    if skip_rows and kind not in ("CSV", "Excel"):
        raise LoadError(
            f"The 'skip_rows' parameter of iop.load (--skip-rows) applies to CSV and Excel files. Got "
            f"skip_rows={skip_rows} for {display!r}, a {kind} file, instead."
        )
    if path.stat().st_size == 0:
        raise LoadError(f"{display!r} is empty (0 bytes). Check that the export finished.")
    first = sheet is None or (isinstance(sheet, (int, np.integer)) and sheet == 0)
    try:
        if kind == "Excel":
            sheet = _resolve_sheet(path, display, sheet)
        with _returning_pool():
            frame, sha256 = _read_file(
                path, kind, display, sheet, text_columns, whole_numbers, skip_rows
            )
    except LoadError:
        raise
    except Exception as exc:  # the reader's own error, restated for the user
        raise LoadError(
            f"Cannot read {display!r} as {kind}: {type(exc).__name__}: {exc}. "
            f"Check that the file is a valid {kind} file (open it in the program that wrote it and "
            "re-export it)."
        ) from exc
    delimiter = frame.attrs.pop("delimiter", None)
    if kind == "Excel":
        _check_sheet(path, display, sheet, first, frame, skip_rows, missing_columns)
    elif len(frame) == 0:
        raise LoadError(
            f"{display!r} has a header but no rows: the columns {_shown(frame.columns)} and no "
            "data below them. Check that the export finished (and that its filter matched any "
            "rows)."
        )
    return RawSource(frame, display, sha256 or _sha256_file(path), kind, delimiter)


def _check_skip_rows(skip_rows) -> int:
    if isinstance(skip_rows, (bool, np.bool_)) or not isinstance(skip_rows, (int, np.integer)):
        ok = False
    else:
        ok = skip_rows >= 0
    if not ok:
        raise LoadError(
            "The 'skip_rows' parameter of iop.load must be an int >= 0 (the number of title "
            f"rows above the header). Got {skip_rows!r} instead."
        )
    return int(skip_rows)


def _shown(columns, limit: int = 12) -> str:
    names = [str(c) for c in columns]
    more = f" ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(map(repr, names[:limit])) + more


def _sheet_names(path: Path) -> list[str]:
    with pd.ExcelFile(path, engine="openpyxl") as xf:
        return [str(n) for n in xf.sheet_names]


def _how_to_choose(sheet: str) -> str:
    return f"sheet={sheet!r} (iop.load) or --sheet {shlex.quote(sheet)} (command line)"


def _resolve_sheet(path: Path, display: str, sheet) -> str:
    """The name of the sheet chosen by name or 0-based position (text digits that name no sheet
    are a position, as ``--sheet 1`` gives them)."""
    sheets = _sheet_names(path)
    if sheet is None:
        sheet = 0
    if isinstance(sheet, str) and sheet not in sheets and sheet.strip().isdigit():
        sheet = int(sheet)
    if isinstance(sheet, (int, np.integer)) and not isinstance(sheet, (bool, np.bool_)):
        if 0 <= sheet < len(sheets):
            return sheets[int(sheet)]
    elif str(sheet) in sheets:
        return str(sheet)
    raise LoadError(
        f"{display!r} has no sheet {sheet!r}. Sheets found: {', '.join(map(repr, sheets))}. "
        f"Choose one by name or 0-based position, e.g. {_how_to_choose(sheets[0])}, or "
        "sheet=0 / --sheet 0 for the first."
    )


def _check_sheet(
    path: Path, display: str, sheet: str, first: bool, frame, skip_rows, missing_columns
) -> None:
    """Raise a :class:`LoadError` naming the workbook's sheets when the chosen sheet is empty,
    has a header but no rows, or lacks the required columns (``missing_columns``), and say
    which sheet has them and how to choose it."""
    if frame.shape[1] == 0:
        problem = "is empty"
    elif len(frame) == 0:
        problem = f"has a header but no rows (columns {_shown(frame.columns)})"
    elif missing_columns is not None and (lack := missing_columns(list(frame.columns))):
        problem = (
            f"lacks the required column(s) {', '.join(lack)} (columns found: "
            f"{_shown(frame.columns)})"
        )
    else:
        return
    sheets = _sheet_names(path)
    chosen = sheet
    which = f"sheet {chosen!r}" + (" (the first, read by default)" if first else "")
    good = []
    for other in sheets:
        if other == chosen:
            continue
        try:
            head = pd.read_excel(
                path, sheet_name=other, engine="openpyxl", dtype=object, skiprows=skip_rows, nrows=1
            )
        except Exception:  # a sheet the reader cannot read (a chart sheet) holds no data
            continue
        if len(head) and not (missing_columns and missing_columns(list(head.columns))):
            good.append(other)
    msg = f"{display!r}: {which} {problem}. Sheets found: {', '.join(map(repr, sheets))}."
    if good:
        has = "has" if len(good) == 1 else "have"
        msg += (
            f" {', '.join(map(repr, good))} {has} the required columns and rows: choose it with "
            f"{_how_to_choose(good[0])}."
        )
    elif len(sheets) > 1:
        msg += (
            " None of the other sheets has the required columns and rows either. Choose the "
            "sheet with the data with sheet= (iop.load) or --sheet (command line), skip title "
            "rows above the header with skip_rows= / --skip-rows, or rename your columns with "
            "a mapping (see docs/data-format.md)."
        )
    elif frame.shape[1] == 0 or len(frame) == 0:
        msg += " Check that the export finished."
    else:
        msg += (
            " Skip title rows above the header with skip_rows= / --skip-rows, or rename your "
            "columns with a mapping (see docs/data-format.md)."
        )
    raise LoadError(msg)


def _read_file(
    path: Path, kind: str, display: str, sheet, text_columns, whole_numbers=None, skip_rows=0
):
    """The file as a DataFrame, and the SHA-256 of its bytes when the reader computed it."""
    if kind == "CSV":
        return _read_csv(path, display, text_columns, skip_rows)
    if kind == "Excel":
        # cells as they are (pandas' own typing turns a TRUE among numbers into 1), then
        # each column typed when all its cells agree
        frame = pd.read_excel(
            path, sheet_name=sheet, engine="openpyxl", dtype=object, skiprows=skip_rows
        )
        return frame.infer_objects(), None
    if kind == "Parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        ids = set(text_columns(schema.names)) if text_columns else set()
        # label columns read straight into dictionaries (never one string per row)
        labels = [
            f.name
            for f in schema
            if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            and f.name not in ids
        ]
        # row groups streamed in batches and compacted as they arrive (peak memory)
        pf = pq.ParquetFile(path, read_dictionary=labels)
        whole = set(whole_numbers(schema.names)) if whole_numbers else set()
        pieces = [
            narrow_ints(pa.Table.from_batches([b]), whole)
            for b in pf.iter_batches(batch_size=1 << 20, use_threads=True)
        ]
        table = (
            _join_pieces(pieces)
            if len(pieces) > 1
            else pieces[0]
            if pieces
            else pf.schema_arrow.empty_table()
        )
        del pieces
        frame = compact_labels(table, keep_text=ids).to_pandas(
            types_mapper=NULLABLE_INTS.get,
            date_as_object=False,
            self_destruct=True,
            split_blocks=True,
        )
        del table
        return frame, None
    import pyreadstat

    reader = pyreadstat.read_sav if kind == "SPSS" else pyreadstat.read_dta
    frame, _meta = reader(str(path), apply_value_formats=True, formats_as_category=False)
    return frame, None


@contextlib.contextmanager
def _returning_pool():
    """Allocate Arrow memory from jemalloc while reading, where pyarrow has it.

    The default pool (mimalloc) keeps memory freed during a large read (parse buffers, blocks
    compacted away) for reuse, so the process stays ~1 GB larger per 10^7 rows after the read;
    jemalloc returns it to the system. Buffers stay valid after the pool is switched back.
    """
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, AttributeError):  # e.g. Windows wheels: keep the default
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _sniff(path: Path, skip_rows: int = 0) -> tuple[str, str]:
    """Return (encoding, delimiter) from the first 64 KiB (the delimiter from the lines below
    the ``skip_rows`` title lines)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            # a multi-byte character cut at the 64 KiB boundary is still UTF-8
            encoding = "utf-8" if exc.start >= len(head) - 3 else "cp1252"
    if encoding == "utf-16":
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
    else:
        text = head.decode("utf-8-sig" if encoding != "cp1252" else "cp1252", errors="replace")
    lines = text.splitlines()[skip_rows:]
    sample = "\n".join(lines[:50]) if len(lines) > 1 else "".join(lines)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in ",;\t|"}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    return encoding, delimiter


def _header(path: Path, encoding: str, delimiter: str, skip_rows: int = 0) -> list[str]:
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        for _ in range(skip_rows):
            fh.readline()
        line = fh.readline()
    try:
        names = next(csv.reader(io.StringIO(line), delimiter=delimiter))
    except StopIteration:
        return []
    return [n.lstrip("\ufeff") for n in names]


#: Size of the line-aligned pieces a large CSV is parsed in (each piece multi-threaded).
CSV_PIECE_BYTES = 64 << 20


def _read_csv(
    path: Path, display: str, text_columns=None, skip_rows: int = 0
) -> tuple[pd.DataFrame, str | None]:
    """The file as a compact DataFrame, and the SHA-256 of its bytes (None if not hashed).
    The delimiter is left in ``frame.attrs["delimiter"]``."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    encoding, delimiter = _sniff(path, skip_rows)
    header = _header(path, encoding, delimiter, skip_rows)
    if not any(h.strip() for h in header):
        if skip_rows:
            raise LoadError(
                f"{display!r} has no header row after skipping {skip_rows} row(s). Check "
                "skip_rows / --skip-rows: it counts the title rows above the header."
            )
        raise LoadError(f"{display!r} is empty (no header row). Check that the export finished.")
    as_text = set(text_columns(header)) if text_columns else set()
    with open(path, "rb") as fh:
        start = fh.read(1 << 16)
    cr_only = b"\r" in start and b"\n" not in start
    parse_opts = pacsv.ParseOptions(delimiter=delimiter)
    quoted_opts = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    digest: list[str | None] = [None]

    def read(enc: str, all_text: bool = False):
        arrow_enc = "utf8" if enc.startswith("utf-8") else enc
        types = {c: pa.string() for c in (header if all_text else as_text)}

        def convert(column_types):
            return pacsv.ConvertOptions(
                null_values=NULL_VALUES,
                strings_can_be_null=True,
                column_types=column_types,
                # labels arrive dictionary-encoded (never materialised as one string per row)
                auto_dict_encode=True,
                auto_dict_max_cardinality=65536,
            )

        if enc == "utf-16" or (skip_rows and cr_only):
            # UTF-16 is not ASCII-compatible, and old Mac line ends (CR only) are no lines to
            # cut pieces at (nor to skip title lines by): one read
            return narrow_ints(
                pacsv.read_csv(
                    path,
                    read_options=pacsv.ReadOptions(encoding=arrow_enc, skip_rows=skip_rows),
                    parse_options=parse_opts,
                    convert_options=convert(types),
                )
            )
        # Large files are parsed in line-aligned pieces of CSV_PIECE_BYTES, each by pyarrow's
        # multi-threaded reader and compacted before the next is read, so that neither the
        # whole file nor an uncompacted copy of it is held in memory. A piece boundary is a
        # line end, exactly as pyarrow's own block splitting assumes (newlines_in_values=False).
        # The column types of the first piece are kept for the others (null-typed columns
        # are inferred per piece and promoted when the pieces are joined).
        pieces, names, sha = [], None, hashlib.sha256()

        def parse(data: bytes) -> None:
            nonlocal names, types
            if not all_text and _hex_number(data, delimiter):
                # Arrow reads 0x1 as the integer 1; read as text, where only decimals count
                raise pa.ArrowInvalid("a hexadecimal number (0x...) in a field")
            read_opts = pacsv.ReadOptions(
                encoding=arrow_enc, column_names=names, autogenerate_column_names=False
            )
            t = pacsv.read_csv(
                pa.py_buffer(data),
                read_options=read_opts,
                # quoted fields may hold line breaks: Arrow must then split its blocks with
                # the quotes in mind (else 'straddling object straddles two block boundaries')
                parse_options=parse_opts if b'"' not in data else quoted_opts,
                convert_options=convert(types),
            )
            if names is None:
                names = t.column_names
                types = {
                    **{f.name: f.type for f in t.schema if not pa.types.is_null(f.type)},
                    **types,
                }
            pieces.append(narrow_ints(t))

        lines = _line_pieces(path, CSV_PIECE_BYTES, sha, skip_rows)
        head = next(lines)
        for buf in lines:
            parse(head + buf if names is None else buf)
            del buf
        if not pieces:  # a header and no rows
            parse(head)
        digest[0] = sha.hexdigest()
        return pieces[0] if len(pieces) == 1 else _join_pieces(pieces)

    def read_any(enc: str):
        try:
            return read(enc)
        except pa.ArrowInvalid as exc:
            if "CSV parse error" in str(exc):
                raise LoadError(
                    f"Cannot parse {display!r} as a {delimiter!r}-delimited file: {exc}. "
                    "Check for unbalanced quotes or rows with extra separators."
                ) from exc
            if "UTF8" in str(exc) or "utf-8" in str(exc).lower():
                raise
            # type inference met a late surprise (e.g. text in a numeric column): all text
            return read(enc, all_text=True)

    try:
        table = read_any(encoding)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        if encoding != "utf-8":
            raise
        table = None

    def is_binary(t) -> bool:  # also inside a dictionary (auto_dict_encode covers binary too)
        t = t.value_type if pa.types.is_dictionary(t) else t
        return pa.types.is_binary(t) or pa.types.is_large_binary(t)

    binary = table is not None and any(is_binary(t) for t in table.schema.types)
    if table is None or binary:
        # a Windows-1252 byte after the sniffed 64 KiB: read the whole file as Windows-1252
        table = read_any("cp1252")
    table = compact_labels(table, keep_text=as_text)
    # convert column by column, releasing Arrow memory as it goes (peak memory on large files)
    frame = table.to_pandas(
        types_mapper=NULLABLE_INTS.get,
        date_as_object=False,
        self_destruct=True,
        split_blocks=True,
    )
    del table
    # pyarrow strips a UTF-8 BOM; make sure no stray BOM survives in the first name
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]
    frame.attrs["delimiter"] = delimiter
    return frame, digest[0]


def _hex_number(data: bytes, delimiter: str) -> bool:
    """Whether a field of the CSV text ``data`` holds a hexadecimal number such as ``0x1``,
    which Arrow's type inference would read as an integer. A fast substring test first, so
    files without ``0x`` cost one scan at memory speed."""
    if b"0x" not in data and b"0X" not in data:
        return False
    d = re.escape(delimiter.encode())
    field = rb"(?:^|" + d + rb')[ \t"]*[+-]?0[xX][0-9a-fA-F]+[ \t"]*(?:$|\r|' + d + rb")"
    return re.search(field, data, re.M) is not None


def _line_pieces(path: Path, size: int, sha, skip_rows: int = 0):
    """The header line, then line-aligned pieces of about ``size`` bytes of a file.

    The ``skip_rows`` lines above the header (titles) are hashed and dropped.

    Each piece is read and added to the hash ``sha`` in a background thread while the caller
    parses the previous one (file reads and hashing release the GIL). A file with old Mac line
    ends (CR only) yields an empty header and the whole file as one piece. A piece never ends
    inside a quoted field (which may hold line breaks).
    """
    from concurrent.futures import ThreadPoolExecutor

    with open(path, "rb") as fh, ThreadPoolExecutor(1) as pool:

        def to_line_end(buf: bytes) -> bytes:
            """``buf`` extended to the end of its line, and past quoted line breaks: an odd
            number of quote characters means a quoted field is still open (an escaped quote
            counts two), so the piece would end inside it."""
            buf += fh.readline()
            while buf.count(b'"') % 2 and (line := fh.readline()):
                buf += line
            return buf

        def piece() -> bytes:
            buf = fh.read(size)
            if buf:
                buf = to_line_end(buf)
            sha.update(buf)
            return buf

        for _ in range(skip_rows):
            sha.update(to_line_end(b""))
        head = to_line_end(b"")
        if b"\r" in head.rstrip(b"\r\n") and not skip_rows:
            fh.seek(0)
            head = b""
        sha.update(head)
        yield head
        nxt = pool.submit(piece)
        while buf := nxt.result():
            nxt = pool.submit(piece)
            yield buf


def _narrow(col):
    """An integer column cast to the smallest integer type holding its range (memory)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(col.type) and len(col) and col.null_count < len(col):
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        for small in (pa.int8(), pa.int16(), pa.int32()):
            info = np.iinfo(small.to_pandas_dtype())
            if info.min <= lo and hi <= info.max:
                return col.cast(small)
    return col


def narrow_ints(table, whole=()):
    """Every integer column of a table narrowed (see :func:`_narrow`); the floating-point
    columns named in ``whole`` too when every value is a whole number in the int16 range
    (a safe cast refuses anything else, and the column stays as it is)."""
    import pyarrow as pa

    def narrow(name, col):
        if name in whole and pa.types.is_floating(col.type):
            try:
                col = col.cast(pa.int16())
            except pa.ArrowInvalid:
                return col
        return _narrow(col)

    return pa.table(
        [narrow(n, c) for n, c in zip(table.column_names, table.columns, strict=True)],
        names=table.column_names,
    )


def _join_pieces(pieces):
    """One table from the pieces of a CSV: integers widened to the widest piece's type, label
    dictionaries unified; a column typed differently in different pieces (a null-typed column
    inferred per piece) is promoted, or read as text when the types cannot be reconciled."""
    import pyarrow as pa

    names = pieces[0].column_names
    out = []
    for j in range(len(names)):
        cols = [p.column(j) for p in pieces]
        kinds = {c.type for c in cols if not pa.types.is_null(c.type)}
        if len(kinds) > 1 and all(pa.types.is_integer(k) for k in kinds):
            # the widest type a piece with values needed (an all-missing piece kept int64)
            filled = {c.type for c in cols if c.null_count < len(c)} - {pa.null()}
            wide = max(filled or kinds, key=lambda k: k.bit_width)
            cols = [c.cast(wide) for c in cols]
        elif len(kinds) > 1 and all(
            pa.types.is_integer(k) or pa.types.is_floating(k) for k in kinds
        ):
            cols = [c.cast(pa.float64()) for c in cols]
        elif len(kinds) > 1:  # e.g. numbers in one piece, text in another: text throughout
            cols = [
                c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in cols
            ]
            cols = [c.cast(pa.string()) for c in cols]
        if len(kinds) == 1:
            (kind,) = kinds
            cols = [c.cast(kind) if pa.types.is_null(c.type) else c for c in cols]
        out.append(pa.chunked_array([ch for c in cols for ch in c.chunks], type=cols[0].type))
    return pa.table(out, names=names).unify_dictionaries()


def compact_labels(table, keep_text=()):
    """Label columns (text other than identifiers) as dictionaries, in Arrow before pandas
    sees the data (pandas categoricals: a small code per row instead of a string).
    Identifiers stay text. Integer columns were narrowed piece by piece
    (:func:`narrow_ints`) and arrive in pandas as nullable integers, not float64.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if (pa.types.is_string(t) or pa.types.is_large_string(t)) and name not in keep_text:
            col = pc.dictionary_encode(col)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _nullable_ints():
    import pyarrow as pa

    return {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
    }


#: Arrow integer types -> pandas nullable integer dtypes (``to_pandas(types_mapper=NULLABLE_INTS.get)``).
NULLABLE_INTS = _nullable_ints()


def unique_map(series: pd.Series, func) -> pd.Series:
    """Apply ``func`` to each distinct value of ``series`` and broadcast back (fast on 10^7 rows)."""
    codes, uniques = factorize(series)
    mapped = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques):
        mapped[i] = func(u)
    out = np.empty(len(series), dtype=object)
    ok = codes >= 0
    out[ok] = mapped[codes[ok]]
    out[~ok] = None
    return pd.Series(out, index=series.index)


def _hashable(v):
    """``v`` when it can be hashed, else None."""
    try:
        hash(v)
    except TypeError:
        return None
    return v


#: ``infer_dtype`` kinds of an object column that hold no booleans and no unhashable cells.
_PLAIN = frozenset(
    {"string", "bytes", "empty", "integer", "floating", "mixed-integer-float", "decimal"}
    | {"datetime", "datetime64", "date", "timedelta", "time", "period"}
)


def factorize(series: pd.Series) -> tuple[np.ndarray, Any]:
    """``pd.factorize`` (missing as -1) for cells of any kind.

    In an object column, ``True`` would share a code with ``1`` (they are equal in Python) and
    a list or dict cannot be hashed: both are replaced by their text first (``'True'``,
    ``"['a', 'b']"``), so they reach the caller as text, never as a number, and messages show
    them as written.
    """
    # the per-cell look is needed only where such cells can be: pandas' C-level type inference
    # rules it out for the usual homogeneous columns (text, numbers, dates)
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in _PLAIN:
        odd = series.map(lambda v: isinstance(v, (bool, np.bool_)) or _hashable(v) is not v)
        if odd.any():
            series = series.where(~odd, series[odd].map(str))
    return pd.factorize(series, use_na_sentinel=True)
