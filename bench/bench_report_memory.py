"""Benchmark: the full report's memory by step (issue 12: peak under 8 GB at 1M episodes).

One report (every section on, default settings) per size, each in a fresh Python process.
Each step of the build — the load, the episodes, every section's first call (the one that runs
the analyses), the later suppression passes, the drawn pass and the writing — is wrapped; for
each the script records the resident memory at its start, the peak while it ran (Linux's
high-water mark ``VmHWM``, reset at the step's start through ``/proc/self/clear_refs``) and the
memory still resident at its end. "added peak" is the step's peak over its start, "retained"
its end over its start. Steps nest (the sections run inside the suppression passes): the
outer step's figures include the inner ones.

    python bench/bench_report_memory.py /tmp/rb/s100000.csv [more.csv ...]

Needs Linux (``/proc``). Prints one markdown table per file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

STEP = r"""
import json, sys, tempfile, time, warnings
warnings.simplefilter("ignore")

def rss():
    with open("/proc/self/status") as f:
        d = dict(line.split(":", 1) for line in f)
    return int(d["VmRSS"].split()[0]) / 2**20, int(d["VmHWM"].split()[0]) / 2**20

def reset():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

import iop_outcomes as iop
from iop_outcomes._report import build

rows = []
stack = []  # [label, start GB, peak GB so far] of the steps running now
seen = set()
calls = {}
import itertools
counter = itertools.count()


def wrap(mod, name, label=None, first_only=False, count=False):
    fn = getattr(mod, name)
    label = label or name

    def inner(*a, **k):
        if first_only and label in seen:
            return fn(*a, **k)
        seen.add(label)
        lab = label
        if count:
            calls[label] = calls.get(label, 0) + 1
            lab = f"{label} {calls[label]}"
        start, hwm = rss()
        for fr in stack:  # the outer steps' peaks so far survive the reset
            fr[2] = max(fr[2], hwm)
        reset()
        order = next(counter)
        stack.append([lab, start, start])
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            end, hwm = rss()
            _, start, peak = stack.pop()
            peak = max(peak, hwm)
            for fr in stack:
                fr[2] = max(fr[2], peak)
            rows.append(dict(order=order, step=lab, depth=len(stack), start=start, peak=peak, end=end,
                             wall=time.perf_counter() - t0))
    return inner


for name in dir(build):
    if name.startswith("section_"):
        setattr(build, name, wrap(build, name, first_only=True))
build.load_input = wrap(build, "load_input", "load")
build._episodes_by_instrument = wrap(build, "_episodes_by_instrument", "episodes (all instruments)")
build._settle_suppression = wrap(build, "_settle_suppression", "suppression passes")
build._build_sections = wrap(build, "_build_sections", "build pass", count=True)
build._assemble = wrap(build, "_assemble", "assemble")
from iop_outcomes._report import document
document.Report.write = wrap(document.Report, "write", "write")
path = sys.argv[1]
reset()
base, _ = rss()
t0 = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    iop.report(path, out=out)
total = time.perf_counter() - t0
# the high-water mark was reset at every step: the process's peak is the steps' largest
peak = max([base] + [r["peak"] for r in rows])
print(json.dumps({"base": base, "peak": peak, "wall": total, "rows": rows}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    for path in args.files:
        out = subprocess.run([sys.executable, "-c", STEP, path], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"\n{path}: wall {r['wall']:.1f} s, process peak {r['peak']:.2f} GB, "
            f"after imports {r['base']:.2f} GB\n"
        )
        print("| step | wall s | start GB | added peak GB | retained GB |")
        print("|---|---:|---:|---:|---:|")
        for row in sorted(r["rows"], key=lambda x: x["order"]):
            name = "&nbsp;&nbsp;" * row["depth"] + row["step"]
            print(
                f"| {name} | {row['wall']:.1f} | {row['start']:.2f} | "
                f"{row['peak'] - row['start']:.2f} | {row['end'] - row['start']:.2f} |"
            )


if __name__ == "__main__":
    main()
