"""Benchmark: the full shareable report against ``iop.load`` of the same file (issues 11, 12).

For each size, ``iop.synth.generate(n_episodes=N, seed=4)`` is written as one CSV; then, each in
a fresh Python process (imports included, peak = the process's maximum resident memory), the
steps take turns: ``iop.load(csv)`` and ``iop.report(csv, out=...)`` with every section on and
the default settings. The ratio is the report's wall time over the load's, measured in the same
run (this machine is shared: absolute times swing, ratios are steadier).

    python bench/bench_report.py --sizes 1000,10000 [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import run_step

STEP = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import iop_outcomes as iop
kind, path, out = sys.argv[1:4]
if kind == "load":
    iop.load(path)
else:
    iop.report(path, out=out)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"wall": wall, "peak_gb": peak}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=2, help="runs per step; the fastest is kept")
    args = ap.parse_args()
    import iop_outcomes as iop

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            csv = Path(tmp) / f"synth_{n}.csv"
            iop.synth.generate(n_episodes=n, seed=4).data.to_csv(csv, index=False)
            best = {"load": None, "report": None}
            for _ in range(args.repeat):
                for kind in best:
                    r = run_step(STEP, kind, csv, Path(tmp) / f"report_{n}")
                    if best[kind] is None or r["wall"] < best[kind]["wall"]:
                        best[kind] = r
            rows.append((n, best["load"], best["report"]))
    print("| episodes | load s | report s | report / load | report peak GB |")
    print("|---:|---:|---:|---:|---:|")
    for n, ld, rp in rows:
        print(
            f"| {n:,} | {ld['wall']:.1f} | {rp['wall']:.1f} | {rp['wall'] / ld['wall']:.1f}× "
            f"| {rp['peak_gb']:.2f} |"
        )


if __name__ == "__main__":
    main()
