"""Benchmark: a funnel over 500 clinicians and the quarterly control chart, as ratios to
``iop.load`` of the same file (issue 14). Not a timed test.

Writes a synthetic CSV (``iop.synth.generate``, a ``clinician`` column added: 500 clinicians
with caseloads from about 10 to 200 episodes), then in one fresh process (imports included)
times ``iop.load`` of it, ``iop.episodes`` (PHQ-9 and GAD-7), ``iop.funnel`` (recovery, crude and
adjusted for baseline, age and format; mean change adjusted) and ``iop.over_time`` (recovery by
quarter). Run::

    nice -n 10 python bench/bench_funnel.py [--episodes 50000] [--repeat 3]

Results are recorded in bench/RESULTS.md (section "Monitoring: funnel and over_time").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import run_step

STEP = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import iop_outcomes as iop
from iop_outcomes.exceptions import IOPWarning
path, repeat = sys.argv[1], int(sys.argv[2])
def best(f):
    out, ts = None, []
    for _ in range(repeat):
        t = time.perf_counter(); out = f(); ts.append(time.perf_counter() - t)
    return min(ts), out
with warnings.catch_warnings():
    warnings.simplefilter("ignore", IOPWarning)
    t_load, res = best(lambda: iop.load(path))
t_ep, ep = best(lambda: iop.episodes(res.data, instrument=["PHQ-9", "GAD-7"]))
phq = ep[ep["instrument"] == "PHQ-9"]
JOINT = ["PHQ-9", "GAD-7"]  # the NHS joint rules, asked for by name
t_crude, f = best(lambda: iop.funnel(ep, unit="clinician", outcome="recovery", instrument=JOINT))
t_adj, fa = best(lambda: iop.funnel(ep, unit="clinician", outcome="recovery",
                                    adjust=["baseline", "age", "format"], instrument=JOINT))
t_mean, fm = best(lambda: iop.funnel(phq, unit="clinician", outcome="change",
                                     adjust=["baseline", "age", "format"]))
t_ot, ot = best(lambda: iop.over_time(ep, outcome="recovery", instrument=JOINT))
print(json.dumps({
    "rows": len(res.data), "episodes": int(ep["episode_id"].nunique()),
    "units": len(f.table), "load": t_load, "episodes_s": t_ep, "funnel_crude": t_crude,
    "funnel_adjusted": t_adj, "funnel_change_adjusted": t_mean, "over_time": t_ot,
    "phi": fa.phi, "outliers_adjusted": len(fa.outliers),
}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=50_000)
    ap.add_argument("--clinicians", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import iop_outcomes as iop

    sim = iop.synth.generate(n_episodes=a.episodes, seed=14)
    df = sim.data
    rng = np.random.default_rng(14)
    ids = df["episode_id"].unique()
    # unequal caseloads: gamma-distributed weights so volumes span a funnel's width
    w = rng.gamma(2.0, 1.0, a.clinicians)
    who = rng.choice(a.clinicians, size=len(ids), p=w / w.sum())
    lut = dict(zip(ids, (f"clin_{i:03d}" for i in who), strict=True))
    df = df.assign(clinician=df["episode_id"].map(lut))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "funnel_bench.csv")
        df.to_csv(path, index=False)
        size = os.path.getsize(path) / 1e6
        r = run_step(STEP, path, a.repeat)
    print(
        f"{r['rows']:,} rows ({size:.0f} MB CSV), {r['episodes']:,} episodes, {r['units']} "
        f"clinicians; python {platform.python_version()}, best of {a.repeat}"
    )
    print("| step | s | x iop.load |")
    print("|---|---:|---:|")
    for k, label in [
        ("load", "`iop.load(csv)`"),
        ("episodes_s", "`iop.episodes` (PHQ-9 + GAD-7)"),
        ("funnel_crude", "`iop.funnel(unit='clinician', outcome='recovery')`"),
        ("funnel_adjusted", "same, `adjust=['baseline', 'age', 'format']`"),
        ("funnel_change_adjusted", "`outcome='change'`, adjusted (PHQ-9)"),
        ("over_time", "`iop.over_time(outcome='recovery')` by quarter"),
    ]:
        print(f"| {label} | {r[k]:.3f} | {r[k] / r['load']:.3f} |")
    print(f"phi (adjusted) = {r['phi']:.3f}; outliers = {r['outliers_adjusted']}")


if __name__ == "__main__":
    main()
