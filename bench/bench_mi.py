"""Benchmark of the multiple imputation in missing_data_sensitivity, old against new (not a test).

Usage::

    nice -n 10 python bench/bench_mi.py [--old-ref main] [--sizes 10000,100000]
        [--files /tmp/rb/s10000.csv,/tmp/rb/s100000.csv] [--blas-threads default]

Times, in fresh worker processes, ``missing_data_sensitivity(data, instrument="PHQ-9",
group="format", methods=("mi",), seed=4)`` (20 imputations, 10 sweeps: the defaults) on
``iop.load`` of the same file: a synthetic cohort per size (``iop.synth.generate(n_episodes=n,
seed=4)``, written once as CSV to the cache) or the CSV files given. The worker reports the wall
and CPU time of the call and of ``run_mi`` inside it (the imputations, the complete-data fits
and Rubin's rules; the rest of the call prepares the analysis set), after a warm-up call on 200
episodes, and the peak resident memory the call added.

"old" is the package exported by ``git archive <old-ref>`` (default ``main``; once this work is
merged, ``--old-ref 6811a9f``, the last commit that rebuilt the design matrix for every draw),
"new" the working tree this script lives in; for each file the old and new workers run one after
the other in the same run. The parent prints old/new ratios and the largest relative differences
of the pooled estimates, SEs and df (the same seed gives the same draws in both). Results are
recorded in bench/RESULTS.md ("Report timing").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import export_package

HERE = Path(__file__).resolve().parent
NEW = HERE.parent
KW = dict(instrument="PHQ-9", group="format", methods=("mi",), seed=4)


def _data_path(n: int, cache: Path) -> Path:
    path = cache / f"synth_{n}_seed4.csv"
    if not path.exists():
        import iop_outcomes as iop

        iop.synth.generate(n_episodes=n, seed=4).data.to_csv(path, index=False)
    return path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(path: str) -> None:
    """Run in a fresh process with PYTHONPATH set to the old or the new package."""
    import iop_outcomes as iop
    import iop_outcomes._sensitivity.api as api

    inner = {"wall": 0.0, "cpu": 0.0}
    orig = api.run_mi

    def timed(*a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return orig(*a, **k)
        finally:
            inner["wall"] += time.perf_counter() - w
            inner["cpu"] += time.process_time() - c

    api.run_mi = timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = iop.load(path)
        eps = data.data["episode_id"].drop_duplicates().iloc[:200]
        iop.missing_data_sensitivity(data.data[data.data["episode_id"].isin(eps)], **KW)
        inner.update(wall=0.0, cpu=0.0)
        rss0 = _rss_mb()
        w, c = time.perf_counter(), time.process_time()
        res = iop.missing_data_sensitivity(data, **KW)
        w, c = time.perf_counter() - w, time.process_time() - c
    t = res.table
    print(
        json.dumps(
            {
                "wall": w,
                "cpu": c,
                "mi_wall": inner["wall"],
                "mi_cpu": inner["cpu"],
                "rss_add_mb": _rss_mb() - rss0,
                "n_episodes": int(t["n_used"].iloc[0] + t["n_excluded"].iloc[0]),
                **{k: t[k].tolist() for k in ("estimate", "se", "df")},
            }
        )
    )


def _run(pkg: Path, path: Path, threads: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pkg))
    if threads != "default":
        env["OPENBLAS_NUM_THREADS"] = threads
    cmd = [sys.executable, __file__, "--worker", str(path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"worker failed ({pkg}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-ref", default="main")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--files", default="", help="CSV files to use instead of --sizes")
    ap.add_argument("--blas-threads", default="default", help="OPENBLAS_NUM_THREADS of workers")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "iop_bench_mi"))
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.files:
        paths = [Path(f) for f in args.files.split(",")]
    else:
        cache = Path(args.cache)
        cache.mkdir(parents=True, exist_ok=True)
        paths = [_data_path(int(n), cache) for n in args.sizes.split(",")]
    old_pkg, sha, head = export_package(NEW, args.old_ref)
    print(
        f"old: {args.old_ref} ({sha[:7]}); new: working tree {head}; BLAS threads: "
        f"{args.blas_threads}"
    )
    try:
        for path in paths:
            got = {
                v: _run(old_pkg if v == "old" else NEW, path, args.blas_threads)
                for v in ("old", "new")
            }
            o, r = got["old"], got["new"]
            rel = {
                k: float(np.max(np.abs(np.subtract(o[k], r[k])) / np.abs(o[k])))
                for k in ("estimate", "se", "df")
            }
            print(f"\n{path.name}: {r['n_episodes']:,} episodes")
            for v in ("old", "new"):
                x = got[v]
                print(
                    f"  {v}: call wall {x['wall']:7.2f} s cpu {x['cpu']:7.2f} s | run_mi wall "
                    f"{x['mi_wall']:7.2f} s cpu {x['mi_cpu']:7.2f} s | +RSS "
                    f"{x['rss_add_mb']:6.0f} MB"
                )
            print(
                f"  old/new: call wall {o['wall'] / r['wall']:5.1f}x, run_mi wall "
                f"{o['mi_wall'] / r['mi_wall']:5.1f}x cpu {o['mi_cpu'] / r['mi_cpu']:5.1f}x"
                f"\n  max relative difference: "
                + ", ".join(f"{k} {v:.1e}" for k, v in rel.items()),
                flush=True,
            )
    finally:
        shutil.rmtree(old_pkg, ignore_errors=True)


if __name__ == "__main__":
    main()
