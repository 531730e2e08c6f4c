"""Benchmark of the model fits of issue 12, old code against new side by side (not a test).

Usage::

    nice -n 10 python bench/bench_fits.py [--old-ref main] [--sizes 10000,30000,100000,300000]
        [--old-sizes 10000,100000]

Times, in fresh worker processes, on the same synthetic cohort per size
(``iop.synth.generate(n_episodes=n, seed=4)`` loaded by ``iop.load``, cached as Parquet):

* ``trajectories(data, instrument="PHQ-9")`` (linear time) and ``time="categorical"``: the
  vectorized profiled-REML mixed model;
* ``missing_data_sensitivity(data, instrument="PHQ-9", methods=("mixed",))``: the mixed
  model (categorical time, random intercept and slope).

"old" is the package exported by ``git archive <old-ref>`` (the code before this work: default
``main``; once this work is merged, pass ``--old-ref 3e22ae6``, the last main commit with the
Nelder-Mead fitter), "new" the working tree this script lives in; for each size the old and new workers run one after
the other in the same run. Each worker counts the profiled-deviance evaluations (calls of
``_reml_profile`` of the fitter), the wall and CPU time of each call (after a warm-up fit on
200 episodes, so imports are not timed) and the peak resident memory added by the call
(``ru_maxrss`` before/after). The parent prints the old/new ratios, the largest differences
between old and new estimates, and the scaling exponent b of wall time ~ n^b (least squares
on log-log over the sizes). Results are recorded in bench/RESULTS.md ("Model fits").
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
CALLS = ("trajectories linear", "trajectories categorical", "sensitivity mixed")


def _data_path(n: int, cache: Path) -> Path:
    path = cache / f"synth_{n}_seed4.parquet"
    if not path.exists():
        import iop_outcomes as iop

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = iop.load(iop.synth.generate(n_episodes=n, seed=4).data).data
        d.to_parquet(path)
    return path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(path: str, calls: list[str]) -> None:
    """Run in a fresh process with PYTHONPATH set to the old or the new package."""
    import importlib

    import pandas as pd

    import iop_outcomes as iop

    try:  # the REML fitter's module (issue 13); before: iop_outcomes.trajectories
        mod = importlib.import_module("iop_outcomes._trajectories.mixed")
    except ModuleNotFoundError:
        mod = importlib.import_module("iop_outcomes.trajectories")
    count = {"n": 0}
    orig = mod._reml_profile

    def counted(*a, **k):
        count["n"] += 1
        return orig(*a, **k)

    mod._reml_profile = counted
    d = pd.read_parquet(path)
    eps = d["episode_id"].drop_duplicates().iloc[:200]
    small = d[d["episode_id"].isin(eps)]
    run = {
        "trajectories linear": lambda x: iop.trajectories(x, instrument="PHQ-9"),
        "trajectories categorical": lambda x: iop.trajectories(
            x, instrument="PHQ-9", time="categorical"
        ),
        "sensitivity mixed": lambda x: iop.missing_data_sensitivity(
            x, instrument="PHQ-9", methods=("mixed",)
        ),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in calls:
            run[c](small)  # imports and first-use costs
        for c in calls:
            count["n"] = 0
            rss0 = _rss_mb()
            w, cpu = time.perf_counter(), time.process_time()
            res = run[c](d)
            w, cpu = time.perf_counter() - w, time.process_time() - cpu
            rec = {"wall": w, "cpu": cpu, "nfev": count["n"], "rss_add_mb": _rss_mb() - rss0}
            if c.startswith("trajectories"):
                rec["fixed"] = res.fixed["estimate"].tolist()
                rec["se"] = res.fixed["se"].tolist()
                rec["variance"] = res.variance["variance"].tolist()
                rec["loglik"] = res.model_info["loglik"]
                rec["optimizer"] = res.model_info["optimizer"]
            else:
                rec["fixed"] = res.table["estimate"].tolist()
                rec["se"] = res.table["se"].tolist()
            out[c] = rec
    out["n_episodes"] = int(d["episode_id"].nunique())
    out["n_rows"] = len(d)
    print(json.dumps(out))


def _run(pkg: Path, path: Path, calls) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pkg))
    cmd = [sys.executable, __file__, "--worker", str(path), "--calls", ",".join(calls)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"worker failed ({pkg}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _diff(old: dict, new: dict) -> str:
    parts = []
    for key in ("fixed", "se", "variance"):
        if key in old:
            a, b = np.asarray(old[key]), np.asarray(new[key])
            if key == "fixed":
                parts.append(f"fixed |d|={np.max(np.abs(a - b)):.1e}")
            elif key == "se":
                parts.append(f"se rel={np.max(np.abs(a - b) / np.abs(a)):.1e}")
            else:  # relative to the largest component (a covariance may be near 0)
                parts.append(f"variance |d|/max={np.max(np.abs(a - b)) / np.max(np.abs(a)):.1e}")
    if "loglik" in old:
        parts.append(f"loglik new-old={new['loglik'] - old['loglik']:+.1e}")
    return ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-ref", default="main")
    ap.add_argument("--sizes", default="10000,30000,100000,300000")
    ap.add_argument("--old-sizes", default="10000,100000")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "iop_bench_fits"))
    ap.add_argument("--worker")
    ap.add_argument("--calls", default=",".join(CALLS))
    args = ap.parse_args()
    calls = args.calls.split(",")
    if args.worker:
        worker(args.worker, calls)
        return
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    old_pkg, sha, head = export_package(NEW, args.old_ref)
    dirty = subprocess.run(
        ["git", "-C", str(NEW), "status", "--porcelain", "iop_outcomes"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"old: {args.old_ref} ({sha[:7]}); new: working tree {head}{' + changes' if dirty else ''}"
    )
    try:
        _compare(args, calls, cache, old_pkg)
    finally:
        shutil.rmtree(old_pkg, ignore_errors=True)


def _compare(args, calls, cache: Path, old_pkg: Path) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    old_sizes = {int(s) for s in args.old_sizes.split(",") if s}
    walls: dict[str, list] = {c: [] for c in calls}
    for n in sizes:
        path = _data_path(n, cache)
        versions = (["old"] if n in old_sizes else []) + ["new"]
        got = {v: _run(old_pkg if v == "old" else NEW, path, calls) for v in versions}
        new = got["new"]
        print(f"\n{new['n_episodes']:,} episodes, {new['n_rows']:,} rows")
        for c in calls:
            r = new[c]
            walls[c].append((new["n_episodes"], r["wall"], r["cpu"]))
            line = (
                f"  {c:26s} new wall {r['wall']:7.2f} s cpu {r['cpu']:7.2f} s "
                f"evals {r['nfev']:4d} +RSS {r['rss_add_mb']:6.0f} MB"
            )
            if "old" in got:
                o = got["old"][c]
                line += (
                    f" | old wall {o['wall']:7.2f} s cpu {o['cpu']:7.2f} s evals {o['nfev']:4d}"
                    f" +RSS {o['rss_add_mb']:6.0f} MB | old/new wall {o['wall'] / r['wall']:5.1f}x"
                    f" cpu {o['cpu'] / r['cpu']:5.1f}x evals {o['nfev'] / r['nfev']:5.1f}x"
                    f"\n  {'':26s} {_diff(o, r)}"
                )
            print(line, flush=True)
    if len(sizes) >= 2:
        print("\nscaling exponent b (time ~ n^b, least squares on log-log, new code):")
        for c in calls:
            x, yw, yc = np.log(np.array(walls[c], float)).T
            bw, bc = np.polyfit(x, yw, 1)[0], np.polyfit(x, yc, 1)[0]
            print(f"  {c:26s} wall b = {bw:.2f}, cpu b = {bc:.2f} over {len(x)} sizes")


if __name__ == "__main__":
    main()
