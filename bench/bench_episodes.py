"""Benchmark: ``iop.episodes`` and ``iop.assessment_roles`` against ``iop.load`` (issue 12).

For each size, ``iop.synth.generate(n_episodes=N, seed=4)`` is written as one CSV (or the CSVs
given with ``--csv``); then, each in a fresh Python process, the steps take turns:
``iop.load(csv)`` alone, and ``iop.load(csv)`` followed by the timed calls the report makes:
``episodes`` of PHQ-9 and GAD-7 in one call (a list of instruments, as the report builds them)
and ``assessment_roles`` of PHQ-9. The ratio is the episodes time over the load's, measured in
the same run (this machine is shared: absolute times swing, ratios are steadier). Run it with
``PYTHONPATH`` set to each code version to compare them side by side.

    python bench/bench_episodes.py --sizes 10000,100000 [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import run_step

STEP = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import iop_outcomes as iop
kind, path = sys.argv[1:3]
t0 = time.perf_counter()
d = iop.load(path).data
res = {"load": time.perf_counter() - t0}
if kind == "episodes":
    t = time.perf_counter()
    iop.episodes(d, instrument=["PHQ-9", "GAD-7"])
    res["episodes"] = time.perf_counter() - t
    t = time.perf_counter()
    iop.assessment_roles(d, instrument="PHQ-9")
    res["roles"] = time.perf_counter() - t
print(json.dumps(res))
"""


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeat", type=int, default=2, help="runs per step; the fastest is kept")
    args = ap.parse_args()
    import iop_outcomes as iop

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            csv = Path(tmp) / f"synth_{n}.csv"
            iop.synth.generate(n_episodes=n, seed=4).data.to_csv(csv, index=False)
            load = ep = None
            for _ in range(args.repeat):
                r = run_step(STEP, "load", csv)
                load = r["load"] if load is None else min(load, r["load"])
                r = run_step(STEP, "episodes", csv)
                ep = r if ep is None or r["episodes"] < ep["episodes"] else ep
            rows.append((n, load, ep))
    print("| episodes | load s | episodes (PHQ-9 + GAD-7) s | roles (PHQ-9) s | episodes / load |")
    print("|---:|---:|---:|---:|---:|")
    for n, load, ep in rows:
        print(
            f"| {n:,} | {load:.2f} | {ep['episodes']:.2f} | {ep['roles']:.2f} "
            f"| {ep['episodes'] / load:.2f}× |"
        )


if __name__ == "__main__":
    main()
