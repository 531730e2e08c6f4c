"""Benchmark: the report's fixed costs at a small size (issue 12: under 5 s at 1k episodes).

For one CSV, each in a fresh Python process and taking turns between the source trees given
(``--trees before=/path/a after=/path/b``, each put first on ``PYTHONPATH``):

- ``import``: ``import iop_outcomes._report.build`` (what ``iop.report`` imports first);
- ``load``: ``import iop_outcomes`` + ``iop.load(csv)``;
- ``report``: ``import iop_outcomes`` + ``iop.report(csv, out=...)``, split into the build and
  ``Report.write``; the step also says whether ``scipy.stats`` was imported.

Best of ``--repeat`` per tree and step; ratios are taken within the same run.

    python bench/bench_report_fixed.py --csv data.csv --trees before=/tmp/base after=. --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

STEP = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
kind, path, out = sys.argv[1:4]
t0 = time.perf_counter()
res = {}
if kind == "import":
    import iop_outcomes._report.build
elif kind == "load":
    import iop_outcomes as iop
    iop.load(path)
else:
    import iop_outcomes as iop
    t1 = time.perf_counter()
    rep = iop.report(path)
    t2 = time.perf_counter()
    rep.write(out)
    res = {"build": t2 - t1, "write": time.perf_counter() - t2}
res["wall"] = time.perf_counter() - t0
res["scipy.stats"] = "scipy.stats" in sys.modules
print(json.dumps(res))
"""


def _run(tree: str, kind: str, csv: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run(
            [sys.executable, "-c", STEP, kind, csv, out],
            capture_output=True,
            text=True,
            env=env,
            cwd=out,  # not the current directory: it would come before PYTHONPATH
        )
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True, type=os.path.abspath)
    ap.add_argument("--trees", nargs="+", required=True, help="name=path ...")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    trees = {k: os.path.abspath(v) for k, v in (t.split("=", 1) for t in a.trees)}
    best: dict[tuple[str, str], dict] = {}
    for _ in range(a.repeat):
        for kind in ("import", "load", "report"):
            for name, tree in trees.items():
                r = _run(tree, kind, a.csv)
                key = (name, kind)
                if key not in best or r["wall"] < best[key]["wall"]:
                    best[key] = r
    print("| tree | import build (s) | load (s) | report (s) | build (s) | write (s) "
          "| report / load | scipy.stats |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in trees:
        i, ld, rp = (best[(name, k)] for k in ("import", "load", "report"))
        print(
            f"| {name} | {i['wall']:.2f} | {ld['wall']:.2f} | {rp['wall']:.2f} | "
            f"{rp['build']:.2f} | {rp['write']:.2f} | {rp['wall'] / ld['wall']:.1f} | "
            f"{'imported' if rp['scipy.stats'] else 'not imported'} |"
        )


if __name__ == "__main__":
    main()
