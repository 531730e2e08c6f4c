"""Coverage of clinical_significance's Wilson intervals on data with a known truth.

Each seed draws two groups of episodes (baseline PHQ-9 uniform on 5..24, change from a fixed
discrete distribution), runs the Jacobson-Truax rule with the fixed PHQ-9 threshold (6 points)
and the NHS single-measure rules, and checks whether each group's 95 % interval covers the exact
rate computed by enumeration: reliable improvement P(change <= -6), reliable deterioration
P(change >= 6) and NHS recovery P(baseline + change < 10 | baseline >= 10).

    python bench/validation/clinsig_coverage.py [seeds] [n_per_group]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import iop_outcomes as iop

CHANGES = np.arange(-14, 9)
_w = np.exp(-0.5 * ((CHANGES + 4.0) / 4.5) ** 2)
PROBS = _w / _w.sum()
BASE = np.arange(5, 25)


def truth() -> dict[str, float]:
    improve = PROBS[CHANGES <= -6].sum()
    deteriorate = PROBS[CHANGES >= 6].sum()
    case = BASE[BASE >= 10]
    rec = np.mean([PROBS[(b + CHANGES) < 10].sum() for b in case])
    return {"improved": improve, "deteriorated": deteriorate, "recovery": rec}


def one(seed: int, n: int, t: dict[str, float]) -> dict[tuple[str, str], bool]:
    rng = np.random.default_rng(seed)
    g = np.repeat(["a", "b"], n)
    b = rng.choice(BASE, 2 * n)
    c = rng.choice(CHANGES, 2 * n, p=PROBS)
    ep = pd.DataFrame({"baseline": b, "endpoint": b + c, "group": g})
    jt = iop.clinical_significance(
        ep, instrument="PHQ-9", threshold="fixed", cutoff="none", by="group"
    ).table
    nhs = iop.clinical_significance(
        ep, method="nhs-talking-therapies", instrument="PHQ-9", by="group"
    ).table
    out = {}
    for tab, outcome, key in [
        (jt, "improved", "improved"),
        (jt, "deteriorated", "deteriorated"),
        (nhs, "recovery", "recovery"),
    ]:
        for _, r in tab[tab["outcome"] == outcome].iterrows():
            out[(key, r["group"])] = bool(r["ci_low"] <= t[key] <= r["ci_high"])
    return out


def main(seeds: int = 500, n: int = 60) -> None:
    t = truth()
    start = time.perf_counter()
    hits: dict[tuple[str, str], list[bool]] = {}
    for s in range(1, seeds + 1):
        for k, v in one(s, n, t).items():
            hits.setdefault(k, []).append(v)
    print(f"truth: { ({k: round(float(v), 4) for k, v in t.items()}) }")
    for (outcome, group), v in sorted(hits.items()):
        print(f"{outcome:13s} group {group}: coverage {100 * np.mean(v):.1f} % over {len(v)} seeds")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
