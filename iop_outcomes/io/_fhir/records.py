"""The records of a FHIR export, read as they are iterated: NDJSON lines (also in ranges of
bytes, for the worker processes), Bundle entries, parsed resources; the bytes hashed as read.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from ...exceptions import ConfigError, LoadError

try:  # orjson: several times faster than json on NDJSON lines
    import orjson as _json

    _dumps = _json.dumps
except ImportError:  # pragma: no cover - the standard library is the fallback
    import json as _json

    def _dumps(obj) -> bytes:
        return _json.dumps(obj, sort_keys=True, default=str).encode()


_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz", ".jsonl", ".jsonl.gz")


class Bad:
    """A record that is not a resource: why."""

    __slots__ = ("kind", "detail")

    def __init__(self, kind: str, detail: str) -> None:
        self.kind, self.detail = kind, detail


class Records:
    """The records of an input, read as they are iterated (an NDJSON file is never held
    whole); a record is ``(file, where, resource or Bad, alias)`` (``where``: the line, or a
    Bundle entry; ``alias``: a Bundle's fullUrl -> ``Type/id``). ``sha256`` (of the bytes read)
    is complete once iterated."""

    def __init__(self, data, name: str | None) -> None:
        self._hash = hashlib.sha256()
        self.n = 0
        if isinstance(data, dict):
            data = [data]
        if isinstance(data, (list, tuple)):
            self._hash.update(_dumps(list(data)))
            self.name, self._files, self._values = name or "<FHIR resources>", [], data
            return
        if not isinstance(data, (str, Path)):
            raise ConfigError(
                "With source='fhir', the data must be a path (an NDJSON or Bundle JSON file, or "
                "a directory of Bulk Data NDJSON files) or a list of resources. Got a "
                f"{type(data).__name__} instead."
            )
        path, self._values = Path(data), None
        if path.is_dir():
            self._files = sorted(p for p in path.iterdir() if p.name.lower().endswith(_SUFFIXES))
            if not self._files:
                raise LoadError(
                    f"{str(path)!r} has no FHIR files (.ndjson, .ndjson.gz, .json): give the "
                    "directory a Bulk Data $export wrote, or one of its files."
                )
        elif path.is_file():
            if not path.name.lower().endswith(_SUFFIXES):
                raise LoadError(
                    f"{path.name!r} is not a FHIR export: source='fhir' reads NDJSON (.ndjson, "
                    ".ndjson.gz; one resource per line), a Bundle or resource .json file, or the "
                    "directory of a Bulk Data export. For a table of scores, leave source out."
                )
            self._files = [path]
        else:
            raise LoadError(
                f"The FHIR export {str(path)!r} does not exist. Check the path (a .ndjson or "
                "Bundle .json file, or the directory of a Bulk Data export)."
            )
        self.name = name or path.name
        self._dir = path.is_dir()

    @property
    def files(self) -> list[Path]:
        """The files read (none for parsed resources)."""
        return list(self._files)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def hash_files(self) -> None:
        """Hash the files as iterating would (for the parallel read, which does not)."""
        for p in self._files:
            h = hashlib.sha256() if self._dir else self._hash
            with open(p, "rb") as fh:
                while block := fh.read(1 << 24):
                    h.update(block)
            if self._dir:
                self._hash.update(p.name.encode() + b"\0" + h.digest())

    def __iter__(self):
        if self._values is not None:
            for i, r in enumerate(self._values, 1):
                for rec in _entries(r, "<resources>", str(i)):
                    self.n += 1
                    yield rec
            return
        for p in self._files:
            h = hashlib.sha256() if self._dir else self._hash
            for rec in file_records(p, h):
                self.n += 1
                yield rec
            if self._dir:  # a directory's hash: each file's name and hash, in name order
                self._hash.update(p.name.encode() + b"\0" + h.digest())


class _Hashing:
    """A binary file wrapper that hashes what is read."""

    def __init__(self, fh, h) -> None:
        self.fh, self.h = fh, h

    def read(self, n: int = -1) -> bytes:
        b = self.fh.read(n)
        self.h.update(b)
        return b


def file_records(
    path: Path,
    h,
    start: int = 0,
    end: int | None = None,
    before: int | None = None,
    data: bytes | None = None,
):
    """The records of a file; of an NDJSON file, those of the lines in bytes ``[start, end)``
    (``start`` just after a newline; lines are numbered from the file's start: ``before``
    lines precede ``start``, counted here when not given). ``h``: the hash to update with the
    bytes read (``None``: none). ``data``: the bytes of the range, when already read."""
    fname = path.name
    loads = _json.loads
    gz = fname.lower().endswith(".gz")
    stem = fname.lower().removesuffix(".gz")
    with open(path, "rb") as raw_fh:
        fh = gzip.GzipFile(fileobj=_Hashing(raw_fh, h) if h is not None else raw_fh) if gz else None
        try:
            if stem.endswith(".json"):  # one JSON value: a Bundle, a resource or a list
                data = fh.read() if gz else raw_fh.read()
                if not gz and h is not None:
                    h.update(data)
                try:
                    value = loads(data)
                except ValueError as exc:
                    raise LoadError(
                        f"{fname} is not valid JSON ({exc}). A Bulk Data export (one resource "
                        "per line) must be named .ndjson."
                    ) from None
                for i, v in enumerate(value if isinstance(value, list) else [value], 1):
                    yield from _entries(v, fname, str(i))
                return
            src = fh if gz else raw_fh
            i, rest = before or 0, b""
            if before is not None:
                raw_fh.seek(start)
            while before is None and start and raw_fh.tell() < start:  # the lines before: counted
                skipped = raw_fh.read(min(1 << 24, start - raw_fh.tell()))
                if not skipped:
                    break
                i += skipped.count(b"\n")
            left = -1 if end is None else end - start
            given = [data, b""] if data is not None else None
            while True:  # blocks of lines: one hash update per block, not per line
                if given is not None:
                    block = given.pop(0)
                else:
                    block = src.read(1 << 24 if left < 0 else min(1 << 24, left))
                if left > 0:
                    left -= len(block)
                if not gz and h is not None:
                    h.update(block)
                lines = (rest + block).split(b"\n") if block else [rest]
                rest = lines.pop() if block else b""
                for line in lines:
                    i += 1
                    if not line or line.isspace():
                        continue
                    try:
                        r = loads(line)
                    except ValueError as exc:
                        yield fname, i, Bad("json", f"line {i} of {fname} ({exc})"), None
                        continue
                    if type(r) is dict and r.get("resourceType") == "Bundle":
                        yield from _entries(r, fname, str(i))
                    else:
                        yield fname, i, r, None
                if not block:
                    break
        except (OSError, EOFError) as exc:  # a damaged gzip file
            raise LoadError(f"{fname}: not a readable gzip file ({exc}).") from None


def _entries(r, fname: str, where: str) -> list:
    """A Bundle's entries as records (``where`` ``entry k``, or ``<line> entry k`` for a
    Bundle on an NDJSON line); any other value as one record."""
    if not (isinstance(r, dict) and r.get("resourceType") == "Bundle"):
        return [(fname, where, r, None)]
    out, alias = [], {}
    at = "" if fname.lower().removesuffix(".gz").endswith(".json") else f"{where} "
    for k, e in enumerate(r.get("entry") or (), 1):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            out.append(
                (fname, f"{at}entry {k}", Bad("resource", f"entry {k} has no resource"), None)
            )
            continue
        if isinstance(e.get("fullUrl"), str) and res.get("id") is not None:
            alias[e["fullUrl"]] = f"{res.get('resourceType')}/{res['id']}"
        out.append((fname, f"{at}entry {k}", res, alias))  # urn:uuid references: this Bundle
    return out
