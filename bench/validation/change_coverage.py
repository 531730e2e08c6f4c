"""Coverage of change_summary's t interval for the mean PHQ-9 change per format.

Synthetic cohorts (iop.synth.generate) with MCAR dropout, no site effects and no
missing items; the episode table is built directly from the synthetic rows
(baseline = intake PHQ-9, endpoint = discharge PHQ-9, completers), so this checks
change_summary alone, not the episode builder. The truth is the expected change
among completers by format, estimated once from a 300,000-episode run of the same
model (its Monte Carlo SE is printed). Coverage is the share of seeds whose 95 %
interval contains that truth; its binomial SE at 95 % and 300 seeds is 1.3 points.

Run:  python bench/validation/change_coverage.py [n_seeds] [n_episodes]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import iop_outcomes as iop

PARAMS = dict(dropout="mcar", site_sd=0.0, item_missing_rate=0.0)


def episode_table(data: pd.DataFrame) -> pd.DataFrame:
    phq = data[(data["instrument"] == "PHQ-9") & data["timepoint"].isin(["intake", "discharge"])]
    items = [f"item_{i}" for i in range(1, 10)]
    phq = phq.assign(total=phq[items].astype(float).sum(axis=1, min_count=9))
    wide = phq.pivot_table(index=["episode_id", "format"], columns="timepoint", values="total")
    wide = wide.rename(columns={"intake": "baseline", "discharge": "endpoint"}).reset_index()
    return wide.assign(instrument="PHQ-9")


def main(n_seeds: int = 300, n_episodes: int = 900) -> None:
    t0 = time.time()
    big = iop.synth.generate(n_episodes=300_000, seed=123_456, **PARAMS).truth.episodes
    big = big[big["discharge_status"] == "completed"]
    d = big["true_phq_endpoint"] - big["true_phq_baseline"]
    truth = d.groupby(big["format"]).mean()
    mc_se = d.groupby(big["format"]).std() / np.sqrt(d.groupby(big["format"]).size())
    print("truth (completers):", truth.round(4).to_dict(), "MC SE:", mc_se.round(4).to_dict())
    hits = {f: 0 for f in truth.index}
    widths = {f: [] for f in truth.index}
    ns = {f: [] for f in truth.index}
    for seed in range(1, n_seeds + 1):
        sim = iop.synth.generate(n_episodes=n_episodes, seed=seed, **PARAMS)
        res = iop.change_summary(episode_table(sim.data), by="format").to_frame()
        res = res[res["format"] != "Overall"].set_index("format")
        for f in truth.index:
            lo, hi = res.loc[f, "change_ci_low"], res.loc[f, "change_ci_high"]
            hits[f] += int(lo <= truth[f] <= hi)
            widths[f].append(hi - lo)
            ns[f].append(res.loc[f, "n_paired"])
    print(f"seeds: {n_seeds}, episodes per seed: {n_episodes}, time {time.time() - t0:.0f} s")
    for f in truth.index:
        print(
            f"{f:10s} coverage {100 * hits[f] / n_seeds:5.1f}%  mean n_paired {np.mean(ns[f]):6.1f}"
            f"  mean CI width {np.mean(widths[f]):.3f}"
        )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
