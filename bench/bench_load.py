"""Benchmark: load + validate + score, and episodes + change + clinical significance, at registry scale.

    python bench/bench_load.py --episodes 1000000 [--out bench/out]

Generates synthetic episodes in chunks (iop.synth, distinct ids per chunk), writes one CSV and one
Parquet file, then measures each step in a fresh subprocess (wall time and peak RSS):

* ``pyarrow.csv.read_csv`` of the CSV (the bare-read baseline);
* ``iop.load`` of the CSV and of the Parquet file (read + validate + score + ledger);
* ``iop.episodes`` + ``iop.change_scores`` + ``iop.clinical_significance`` (PHQ-9) on the loaded data.

Targets (issue 2 / issue 3): load within 3x the bare read, peak memory under 8 GB; episodes +
change + clinical significance within 2x the load time. Results are appended to bench/RESULTS.md
by hand from the printed table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import run_step

STEP = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
kind, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if kind == "bare":
    from pyarrow import csv
    n = csv.read_csv(path).num_rows
elif kind == "load":
    import iop_outcomes as iop
    n = iop.load(path).n_read
elif kind == "episodes":
    import pandas as pd, iop_outcomes as iop
    res = iop.load(path)
    t0 = time.perf_counter()
    ep = iop.episodes(res.data, instrument="PHQ-9")
    ch = iop.change_scores(ep)
    cs = iop.clinical_significance(ep, method="jacobson-truax")
    n = len(ep)
dt = time.perf_counter() - t0
print(json.dumps({"kind": kind, "rows": int(n), "seconds": dt,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def make(
    n_episodes: int, out: Path, chunk: int = 100_000, planned_weeks: tuple[int, ...] | None = None
) -> tuple[Path, Path, int]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    import iop_outcomes as iop

    out.mkdir(parents=True, exist_ok=True)
    tag = f"bench_{n_episodes}" + (
        "_w" + "-".join(map(str, planned_weeks)) if planned_weeks else ""
    )
    csv_path, pq_path = out / f"{tag}.csv", out / f"{tag}.parquet"
    params = {"planned_weeks": planned_weeks} if planned_weeks else {}
    if csv_path.exists() and pq_path.exists():
        return csv_path, pq_path, -1
    rows = 0
    writer = pq_writer = None
    for i, start in enumerate(range(0, n_episodes, chunk)):
        n = min(chunk, n_episodes - start)
        d = iop.synth.generate(n_episodes=n, seed=1000 + i, **params).data
        for c in ("patient_id", "episode_id"):
            d[c] = f"C{i:03d}" + d[c].astype(str)
        for c in ("assessment_date", "admit_date", "discharge_date"):
            d[c] = d[c].dt.strftime("%Y-%m-%d")
        for c in [f"item_{k}" for k in range(1, 10)]:
            d[c] = d[c].astype("float64")
        table = pa.Table.from_pandas(d, preserve_index=False)
        if writer is None:
            writer = pacsv.CSVWriter(csv_path, table.schema)
            pq_writer = pq.ParquetWriter(pq_path, table.schema)
        writer.write_table(table)
        pq_writer.write_table(table)
        rows += len(d)
        print(f"  chunk {i}: {rows:,} rows", file=sys.stderr, flush=True)
        del d, table
        np.random.default_rng(0)
    writer.close()
    pq_writer.close()
    return csv_path, pq_path, rows


def run(kind: str, path: Path) -> dict:
    return run_step(STEP, kind, path)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--episodes", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument(
        "--planned-weeks",
        type=lambda s: tuple(int(w) for w in s.split(",")),
        default=None,
        help="synth planned programme lengths, e.g. 10,12,12,14,16,16 for about 25 assessment "
        "rows per episode (default: the calibrated IOP lengths, about 17.7 rows per episode)",
    )
    a = ap.parse_args()
    t = time.perf_counter()
    csv_path, pq_path, rows = make(a.episodes, a.out, planned_weeks=a.planned_weeks)
    print(
        f"generated {rows:,} rows in {time.perf_counter() - t:.0f} s "
        f"(CSV {csv_path.stat().st_size / 1e9:.2f} GB)",
        flush=True,
    )
    res = [
        run("bare", csv_path),
        run("load", csv_path),
        run("load", pq_path),
        run("episodes", pq_path),
    ]
    res[2]["kind"] = "load (parquet)"
    bare = res[0]["seconds"]
    print("| step | rows | wall s | peak GB | x bare read |\n|---|---|---|---|---|")
    for r in res:
        print(
            f"| {r['kind']} | {r['rows']:,} | {r['seconds']:.1f} | {r['peak_gb']:.2f} | {r['seconds'] / bare:.1f} |"
        )


if __name__ == "__main__":
    main()
