"""Benchmark: the full shareable report against ``iop.load`` of the same file (issues 11, 12).

For each size, ``iop.synth.generate(n_episodes=N, seed=4)`` is written as one CSV; then, each in
a fresh Python process (imports included, peak = the process's maximum resident memory), the
steps take turns: ``iop.load(csv)`` and ``iop.report(csv, out=...)`` with every section on and
the default settings. The ratio is the report's wall time over the load's, measured in the same
run (this machine is shared: absolute times swing, ratios are steadier).

The report's time is split by the build's own progress steps (``report(progress=...)``'s
labels): "imports" until ``report`` is called, then load, episodes, each section's analyses
(the first build pass), "suppression" (the passes that settle the suppression), "figures" and
"write". The exponent b of time ~ episodes^b is fitted by least squares on log–log over the
sizes of the run from 10,000 episodes up (at least two sizes).

    python bench/bench_report.py --sizes 1000,10000 [--repeat 2] [--csv-dir DIR]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from _common import run_step

STEP = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import iop_outcomes as iop
kind, path, out = sys.argv[1:4]
steps = {}
if kind == "load":
    iop.load(path)
else:
    import iop_outcomes._report.build as build
    last = [time.perf_counter()]
    steps["imports"] = last[0] - t0

    def bar(progress):
        def step(label):
            now = time.perf_counter()
            steps[label] = steps.get(label, 0.0) + now - last[0]
            last[0] = now
        return None, step

    build._progress_bar = bar
    iop.report(path, out=out)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"wall": wall, "peak_gb": peak, "steps": steps}))
"""


def _exponent(sizes: list[int], times: list[float]) -> float | None:
    """Least-squares slope of log(time) on log(size) over the sizes >= 10,000."""
    pts = [(math.log(n), math.log(t)) for n, t in zip(sizes, times, strict=True) if n >= 10_000]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=2, help="runs per step; the fastest is kept")
    ap.add_argument(
        "--csv-dir", default=None, help="reuse/keep the synthetic CSVs here (synth_<N>.csv)"
    )
    args = ap.parse_args()
    import iop_outcomes as iop

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.csv_dir) if args.csv_dir else Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            csv = where / f"synth_{n}.csv"
            if not csv.exists():
                iop.synth.generate(n_episodes=n, seed=4).data.to_csv(csv, index=False)
            best = {"load": None, "report": None}
            for _ in range(args.repeat):
                for kind in best:
                    r = run_step(STEP, kind, csv, Path(tmp) / f"report_{n}")
                    if best[kind] is None or r["wall"] < best[kind]["wall"]:
                        best[kind] = r
            rows.append((n, best["load"], best["report"]))
            print(
                f"{n:,}: load {best['load']['wall']:.1f} s, report {best['report']['wall']:.1f} s",
                flush=True,
            )
    print("| episodes | load s | report s | report / load | load peak GB | report peak GB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, ld, rp in rows:
        print(
            f"| {n:,} | {ld['wall']:.1f} | {rp['wall']:.1f} | {rp['wall'] / ld['wall']:.1f}× "
            f"| {ld['peak_gb']:.2f} | {rp['peak_gb']:.2f} |"
        )
    labels = list(dict.fromkeys(k for _, _, rp in rows for k in rp["steps"]))
    print()
    print("Share of the report's time by step (%):")
    print("| step | " + " | ".join(f"{n:,}" for n, _, _ in rows) + " | b |")
    print("|---|" + "---:|" * (len(rows) + 1))
    sizes = [n for n, _, _ in rows]
    for lab in [*labels, "total"]:
        secs = [rp["steps"].get(lab, 0.0) if lab != "total" else rp["wall"] for _, _, rp in rows]
        shares = [100 * s / rp["wall"] for s, (_, _, rp) in zip(secs, rows, strict=True)]
        b = _exponent(sizes, [max(s, 1e-3) for s in secs])
        cells = " | ".join(f"{p:.0f} ({s:.1f} s)" for p, s in zip(shares, secs, strict=True))
        print(f"| {lab} | {cells} | {'' if b is None else f'{b:.2f}'} |")


if __name__ == "__main__":
    main()
