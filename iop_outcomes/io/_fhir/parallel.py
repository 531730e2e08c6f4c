"""The parallel read of a large FHIR export (see :mod:`iop_outcomes.io.fhir`, "In parallel"):
the files cut into jobs of equal estimated work, walked by worker processes (``fork``),
the chunks merged in record order.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from itertools import chain
from pathlib import Path

from .records import Records, file_records
from .walk import Chunk, Codes, Walk

#: An export of fewer bytes (about 20,000 NDJSON lines) is read in this process: starting
#: worker processes would cost more than they save.
PARALLEL_MIN_BYTES = 16 << 20


#: The largest piece of an NDJSON file a worker reads (bytes).
_MAX_PIECE = 64 << 20


#: A line costs about as much to walk as this many bytes cost to parse (fitted to the
#: benchmark export's job times: a byte of Patient lines of 65 bytes weighs 4.7, of
#: responses of 1,300 bytes 1.2).
_LINE_BYTES = 240


#: Splittable files: NDJSON, not compressed (a gzip stream is read from its start).
_SPLITTABLE = (".ndjson", ".jsonl")


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _tasks(files: list[Path], workers: int) -> list[list[tuple[str, int, int | None]]]:
    """Jobs for the worker processes: lists of ``(path, start, end)`` byte ranges, in record
    order, about ``2 * workers`` of them of equal estimated work. A file's bytes weigh
    ``1 + _LINE_BYTES / (its mean line length)`` (from its first 64 KiB): a line costs about as
    much to walk as ``_LINE_BYTES`` bytes to parse, so a file of short lines (Patient) weighs
    more per byte than one of long responses. Uncompressed NDJSON files are cut at line ends
    (a job weighs at most ``_MAX_PIECE``: a worker holds its cut ranges in memory); other
    files go whole. Consecutive small files share a job: each job costs a round trip."""
    sizes = [p.stat().st_size for p in files]
    weights = [_weight(p) for p in files]
    total = sum(s * w for s, w in zip(sizes, weights, strict=True))
    target = max(1.0, min(total / (2 * workers), float(_MAX_PIECE)))
    jobs: list[list] = [[]]
    room = target
    for p, size, w in zip(files, sizes, weights, strict=True):
        splittable = p.name.lower().endswith(_SPLITTABLE)
        with open(p, "rb") as fh:
            start = 0
            while True:
                if jobs[-1] and room <= 0:
                    jobs.append([])
                    room = target
                cut = None
                if splittable and (size - start) * w > room:
                    cut = _line_end(fh, start + max(1, min(int(room / w), _MAX_PIECE)), size)
                jobs[-1].append((str(p), start, cut))
                room -= ((size if cut is None else cut) - start) * w
                if cut is None:
                    break
                start, room = cut, 0.0  # the job is full: the rest of the file starts the next
    return [job for job in jobs if job]


def _weight(path: Path) -> float:
    """Work per byte of a file, relative to parsing (see :func:`_tasks`)."""
    if not path.name.lower().endswith(_SPLITTABLE):
        return 1.5  # compressed or one JSON value: not sampled
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = head.count(b"\n")
    return 1.0 + _LINE_BYTES * lines / len(head) if lines else 1.0


def _line_end(fh, target: int, size: int) -> int | None:
    """The offset just after the first newline at or after ``target`` (``None``: none before
    the end of the file, or it is the end)."""
    fh.seek(target)
    while True:
        window = fh.read(1 << 16)
        at = window.find(b"\n")
        if at >= 0:
            cut = fh.tell() - len(window) + at + 1
            return cut if cut < size else None
        if not window:
            return None


#: A worker process's view of the line counts of the pieces (-1: not counted yet), shared
#: memory set by :func:`read_parallel` through the pool's initializer.
_PIECE_LINES = None


#: How long a piece waits for the line counts of the pieces before it before counting them
#: itself (seconds): they are counted first thing, so only a lost worker makes it wait.
_COUNT_WAIT = 30.0


def _share_counts(counts) -> None:
    global _PIECE_LINES
    _PIECE_LINES = counts


def _walk_ranges(job: list, codes: Codes) -> Chunk:
    """A worker process's job: walk the records of consecutive ranges of the export's files
    (``(path, start, end, k, earlier)``: range ``k``, after the ``earlier`` ranges of its
    file) as one chunk. A range that other ranges of its file follow is read and its lines
    counted first, and the count shared (before any walking, so no other worker waits on this
    one's walk); the lines before a range are the counts of the ``earlier`` ranges of its
    file, so no worker reads the bytes before its range."""
    gc.disable()
    data = {}
    for path, start, end, k, _ in job:
        if end is not None:
            with open(path, "rb") as fh:
                fh.seek(start)
                data[k] = fh.read(end - start)
            _PIECE_LINES[k] = data[k].count(b"\n")
    w = Walk(codes)
    parts = (_range_records(*r, data.pop(r[3], None)) for r in job)
    return w.pack(w.run(chain.from_iterable(parts)))


def _range_records(path: str, start: int, end: int | None, k: int, earlier: list, data):
    """The records of range ``k`` of a file (``data``: its bytes, when read already)."""
    before = None if start else 0
    deadline = time.monotonic() + _COUNT_WAIT
    while before is None and earlier and time.monotonic() < deadline:
        got = [_PIECE_LINES[j] for j in earlier]
        if min(got) >= 0:
            before = sum(got)
        else:
            time.sleep(0.0005)
    yield from file_records(Path(path), None, start, end, before, data)


def read_parallel(records: Records, codes: Codes, min_bytes: int | None = None):
    """The chunks of an export walked by worker processes (each parses and walks its ranges
    of lines with orjson; the chunks are merged in record order, so the result is the one
    process's; the files are not hashed); ``None`` when it reads in one process:
    parsed resources, an export smaller than ``PARALLEL_MIN_BYTES``, one CPU, no ``fork``
    (the workers inherit the instrument registry), or a daemon process."""
    if min_bytes is None:
        min_bytes = PARALLEL_MIN_BYTES
    files = records.files
    workers = _workers()
    if (
        not files
        or workers < 2
        or "fork" not in mp.get_all_start_methods()
        or mp.current_process().daemon
        or sum(p.stat().st_size for p in files) < min_bytes
    ):
        return None
    jobs, ranges = [], []  # each range numbered across the jobs, with its file's earlier ones
    for job in _tasks(files, workers):
        jobs.append([])
        for path, start, end in job:
            earlier = [j for j, r in enumerate(ranges) if r[0] == path]
            jobs[-1].append((path, start, end, len(ranges), earlier))
            ranges.append((path, start, end))
    ctx = mp.get_context("fork")
    counts = ctx.Array("q", [-1] * len(ranges), lock=False)
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork in threaded processes
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = ProcessPoolExecutor(
            min(workers, len(jobs)), ctx, initializer=_share_counts, initargs=(counts,)
        )
        try:
            futures = [pool.submit(_walk_ranges, job, codes) for job in jobs]
        except Exception:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    try:
        chunks = [f.result() for f in futures]  # in record order, whichever finished first
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    records.n = sum(c.n for c in chunks)
    return chunks
