"""Benchmark: the Dask path against the in-memory path on the same data (issue 15).

For each size, ``iop.synth.generate`` cohorts of at most ``--episodes-per-file`` episodes
(100,000 by default; seeds 0, 1, ...; ids prefixed per cohort so they never collide) are
written once as Parquet files of one cohort each into ``DIR/pool`` (each size links the first
ones: the Dask input, one partition per file) and, up to ``--pandas-max`` episodes, as one
Parquet file (the in-memory input; beyond it only the Dask path runs). Then,
each in a fresh Python process (imports included), the same three steps run:

* ``pandas``: ``iop.load(file)`` → ``iop.episodes(data, instrument="PHQ-9")`` →
  ``iop.change_summary(episodes, by="site")``;
* ``dask``: a ``distributed.LocalCluster`` (``--workers`` processes of one thread,
  ``--memory-limit`` each) → ``iop.load(directory, engine="dask").persist()`` → the same two
  calls on the Dask frames (the episode table persisted: the instrument rule and the moments
  each read it).

Reported: wall time of each, the ratio dask / pandas measured in the same run (the machine is
shared: ratios are steadier than times), the peak memory of the in-memory process and of the
largest Dask worker, and the exponent b of time ~ episodes^b (least squares on log-log over the
sizes of the run, at least two). Both paths' Overall rows must agree (n exactly, mean change to
1e-9) or the script stops.

    nice python bench/bench_dask.py --sizes 500000,1000000,2000000,5000000 [--workers 2]
        [--memory-limit 4GB] [--data-dir DIR] [--pandas-max 2000000]   # the issue's sizes
    nice python bench/bench_dask.py --sizes 20000,50000 --episodes-per-file 10000  # smoke
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from _common import run_step

MAKE = r"""
import json, os, sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
import iop_outcomes as iop
n, out, chunk, pool, whole = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
from pathlib import Path
d, pool = Path(out) / "parts", Path(pool)
d.mkdir(parents=True, exist_ok=True)
pool.mkdir(parents=True, exist_ok=True)
i, done = 0, 0
while done < n:  # cohort i: seed i, ids prefixed so they never collide; made once per pool
    k = min(chunk, n - done)
    src = pool / f"part-{i:04d}-{k}.parquet"
    if not src.exists():
        df = iop.synth.generate(n_episodes=k, seed=i).data
        for c in ("patient_id", "episode_id"):
            df[c] = f"c{i}-" + df[c].astype(str)
        df.to_parquet(src, index=False)
        del df
    link = d / f"part-{i:04d}.parquet"
    if not link.exists():
        os.symlink(src, link)
    done, i = done + k, i + 1
files = sorted(d.glob("*.parquet"))
rows = sum(__import__("pyarrow.parquet", fromlist=["x"]).ParquetFile(f).metadata.num_rows
           for f in files)
if whole:  # the in-memory input: one file
    pd.concat(pd.read_parquet(p) for p in files).to_parquet(Path(out) / "all.parquet",
                                                          index=False)
print(json.dumps({"rows": rows, "files": i}))
"""

STEP = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import iop_outcomes as iop
kind, data_dir, workers, memory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
worker_peak = None
if kind == "pandas":
    res = iop.load(f"{data_dir}/all.parquet")
    ep = iop.episodes(res.data, instrument="PHQ-9")
    cs = iop.change_summary(ep, by="site")
else:
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           memory_limit=memory, dashboard_address=None)
    client = Client(cluster)
    res = iop.load(f"{data_dir}/parts", engine="dask").persist()
    ep = iop.episodes(res.data, instrument="PHQ-9").persist()  # read by two passes below
    cs = iop.change_summary(ep, by="site")
    peaks = client.run(lambda: __import__("resource").getrusage(
        __import__("resource").RUSAGE_SELF).ru_maxrss / 2**20)
    worker_peak = max(peaks.values())
wall = time.perf_counter() - t0
row = cs.to_frame().iloc[0]
print(json.dumps({"wall": wall, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  / 2**20, "worker_peak_gb": worker_peak, "n_paired": int(row["n_paired"]),
                  "mean_change": float(row["mean_change"])}))
"""


def _exponent(sizes: list[int], times: list[float]) -> float | None:
    pts = [(math.log(n), math.log(t)) for n, t in zip(sizes, times, strict=True)]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,40000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--data-dir", default=None, help="keep (and reuse) the generated files here")
    ap.add_argument("--episodes-per-file", type=int, default=100_000)
    ap.add_argument(
        "--pandas-max",
        type=int,
        default=2_000_000,
        help="run the in-memory path up to this size only (5M episodes do not fit as pandas)",
    )
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    base = Path(a.data_dir) if a.data_dir else Path(tempfile.mkdtemp(prefix="bench_dask_"))
    print(
        "| episodes | rows | pandas s | dask s | dask / pandas | pandas peak GB | worker peak GB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    t_pd, t_dk, n_pd = [], [], []
    pool = base / "pool"
    for n in sizes:
        d = base / f"n{n}"
        in_memory = n <= a.pandas_max
        made = run_step(MAKE, n, d, a.episodes_per_file, pool, int(in_memory))
        k = run_step(STEP, "dask", d, a.workers, a.memory_limit)
        t_dk.append(k["wall"])
        if in_memory:
            p = run_step(STEP, "pandas", d, a.workers, a.memory_limit)
            if p["n_paired"] != k["n_paired"] or abs(p["mean_change"] - k["mean_change"]) > 1e-9:
                raise SystemExit(f"results differ at {n:,} episodes: pandas {p}, dask {k}")
            t_pd.append(p["wall"])
            n_pd.append(n)
            cells = f"{p['wall']:.1f} | {k['wall']:.1f} | {k['wall'] / p['wall']:.2f} | "
            cells += f"{p['peak_gb']:.2f}"
        else:
            cells = f"— | {k['wall']:.1f} | — | —"
        print(f"| {n:,} | {made['rows']:,} | {cells} | {k['worker_peak_gb']:.2f} |", flush=True)
    for name, ns, times in (("pandas", n_pd, t_pd), ("dask", sizes, t_dk)):
        b = _exponent(ns, times)
        if b is not None:
            print(f"\nexponent of time in episodes, {name}: {b:.2f}")


if __name__ == "__main__":
    main()
