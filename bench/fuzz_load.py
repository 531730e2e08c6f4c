"""Fuzz ``iop.load`` with seeded mutations of valid files (issue 17), long form.

Runs N cases (default 10,000) from ``tests/fuzzing.py``, each in a worker process under a time
limit (a worker stuck in C code is killed and replaced), and prints the outcome counts and every
distinct failure signature. Target: 0 unexpected, 0 hangs, 0 wrongly accepted rows, 0 ledger
violations. Record the counts in bench/RESULTS.md.

    python bench/fuzz_load.py [--cases 10000] [--seed 2026] [--limit 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fuzzing

_BASE = None


def _init():
    global _BASE
    _BASE = fuzzing.base_frame()


def _one(case):
    seed, fmt, mutation = case
    with tempfile.TemporaryDirectory() as d:
        src, bad = fuzzing.make_case(seed, fmt, mutation, Path(d), _BASE)
        t = time.perf_counter()
        verdict, detail = fuzzing.run_case(src, bad)
        return verdict, detail, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--limit", type=float, default=5.0, help="seconds per case")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    todo = list(fuzzing.cases(args.cases, args.seed))
    counts: Counter = Counter()
    sigs: dict = defaultdict(list)
    slowest = 0.0
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(args.workers, initializer=_init, maxtasksperchild=200)
    t0 = time.perf_counter()
    i = 0
    while i < len(todo):
        batch = todo[i : i + 50 * args.workers]
        jobs = [(c, pool.apply_async(_one, (c,))) for c in batch]
        for case, job in jobs:
            try:
                verdict, detail, secs = job.get(timeout=args.limit + 30)
            except mp.TimeoutError:
                verdict, detail, secs = "hang", f"over {args.limit + 30:.0f} s", args.limit + 30
                pool.terminate()
                pool = ctx.Pool(args.workers, initializer=_init, maxtasksperchild=200)
                # the rest of this batch is resubmitted after the hang
                rest = [c for c, _ in jobs[jobs.index((case, job)) + 1 :]]
                todo[i + len(batch) : i + len(batch)] = rest
                counts[verdict] += 1
                sigs[(verdict, case[2], case[1], detail)].append(case[0])
                break
            if secs > args.limit and verdict in ("loaded", "clean_error"):
                verdict, detail = "hang", f"{secs:.1f} s (limit {args.limit:g} s)"
            slowest = max(slowest, secs)
            counts[verdict] += 1
            if verdict not in ("loaded", "clean_error"):
                sigs[(verdict, case[2], case[1], detail[:160])].append(case[0])
                print(f"\n{verdict} {case}: {detail[:300]}", file=sys.stderr)
        i += len(batch)
        print(f"\r{sum(counts.values()):,} cases: {dict(counts)}", end="", file=sys.stderr)
    pool.terminate()
    print(file=sys.stderr)
    print(f"{sum(counts.values()):,} cases in {time.perf_counter() - t0:.0f} s (seed {args.seed})")
    for k in ("loaded", "clean_error", "unexpected", "hang", "accepted", "ledger"):
        print(f"  {k}: {counts.get(k, 0):,}")
    print(f"  slowest case: {slowest:.2f} s")
    for (verdict, mutation, fmt, detail), seeds in sorted(sigs.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(seeds):>5}  {verdict} {mutation}/{fmt}: {detail}  seeds {seeds[:3]}")
    bad = sum(counts.get(k, 0) for k in ("unexpected", "hang", "accepted", "ledger"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
