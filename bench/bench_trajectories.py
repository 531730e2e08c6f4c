"""Benchmark of iop_outcomes.trajectories (not a timed test).

Usage: python bench/bench_trajectories.py [--sizes 1000,10000,100000] [--statsmodels-max 3000]
Weekly PHQ-9 data, weeks 0..8 with dropout (about 6.5 scores per episode), two formats.
Prints wall and CPU (process) time per call; CPU time is the meaningful number on a shared
machine. Results are recorded in bench/RESULTS.md (section "Trajectories").
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from iop_outcomes import early_change, trajectories


def make(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v = (rng.random(n) < 0.5).astype(np.int8)
    b0 = rng.normal(0, 3.5, n)
    b1 = rng.normal(0, 0.45, n)
    last = np.minimum(rng.geometric(0.08, n), 8)
    ep = np.repeat(np.arange(n), last + 1)
    week = np.arange(len(ep)) - np.repeat(np.cumsum(last + 1) - (last + 1), last + 1)
    y = 17 - 1.2 * week + 0.05 * week**2 + 0.6 * v[ep] + b0[ep] + b1[ep] * week
    y = np.clip(np.rint(y + rng.normal(0, 2.2, len(ep))), 0, 27)
    return pd.DataFrame(
        {
            "episode_id": ep,
            "instrument": "PHQ-9",
            "week": week,
            "total": y,
            "format": np.where(v[ep] == 1, "virtual", "in_person"),
        }
    )


def timed(f, *a, **k):
    w, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = f(*a, **k)
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--statsmodels-max", type=int, default=3000)
    args = ap.parse_args()
    for n in map(int, args.sizes.split(",")):
        d = make(n)
        print(f"\n{n:,} episodes, {len(d):,} scores")
        calls = [
            ("mixed linear, vectorized", dict(engine="vectorized")),
            ("mixed quadratic, vectorized", dict(engine="vectorized", time="quadratic")),
            ("mixed categorical, vectorized", dict(engine="vectorized", time="categorical")),
            ("GEE exchangeable", dict(method="gee")),
        ]
        if n <= args.statsmodels_max:
            calls.insert(0, ("mixed linear, statsmodels", dict(engine="statsmodels")))
        for label, kw in calls:
            res, wall, cpu = timed(trajectories, d, **kw)
            print(
                f"  trajectories {label:32s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
                f"optimizer={res.model_info.get('optimizer', res.model_info.get('corr'))}"
            )
        _, wall, cpu = timed(early_change, d)
        print(f"  early_change {'':32s} wall {wall:7.2f} s  cpu {cpu:7.2f} s")


if __name__ == "__main__":
    main()
