"""Benchmark: within-group effect size on 100,000 episodes, single estimate vs 2,000 bootstrap
replicates (target: bootstrap <= 20x the single estimate; issue 4).

Run: python bench/bench_effectsize.py   (prints a Markdown table for bench/RESULTS.md)
"""

from __future__ import annotations

import platform
import time

import numpy as np
import pandas as pd

from iop_outcomes import bootstrap_ci, rm_d

N = 100_000
N_BOOT = 2000


def make(n: int, integer: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(16, 5, n)
    end = 0.5 * base + rng.normal(2.5, 4.5, n)
    if integer:  # PHQ-9 totals 0-27: many tied (baseline, endpoint) pairs
        base = np.clip(np.round(base), 0, 27)
        end = np.clip(np.round(end), 0, 27)
    return pd.DataFrame(
        {
            "baseline": base,
            "endpoint": end,
            "format": rng.choice(["in_person", "virtual"], n),
            "site": rng.integers(0, 40, n),
        }
    )


def best(f, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rows = []
    for integer in (True, False):
        df = make(N, integer)
        kind = "integer scores (PHQ-9 0-27)" if integer else "continuous scores (no ties)"
        single = best(lambda df=df: rm_d(df, method="av"))
        single_by = best(lambda df=df: rm_d(df, method="av", by="format"))
        for ci in ("bca", "percentile"):
            t = best(lambda df=df, ci=ci: rm_d(df, ci_method=ci, n_boot=N_BOOT, seed=1), 2)
            rows.append((kind, f"rm_d g_av, {ci}, {N_BOOT} reps", single, t))
        t = best(lambda df=df: rm_d(df, by="format", ci_method="bca", n_boot=N_BOOT, seed=1), 2)
        rows.append((kind, f"rm_d g_av by format (2 groups), bca, {N_BOOT} reps", single_by, t))
        t = best(lambda df=df: rm_d(df, ci_method="bca", n_boot=N_BOOT, seed=1, cluster="site"), 2)
        rows.append((kind, f"rm_d g_av, bca clustered by 40 sites, {N_BOOT} reps", single, t))
    # the floor of the exact tie-compressed bootstrap: drawing the multinomial counts alone
    df = make(N, True)
    k = df.groupby(["baseline", "endpoint"]).size().to_numpy()
    rng = np.random.default_rng(0)
    single = best(lambda: rm_d(df, method="av"))
    t = best(lambda: rng.multinomial(N, k / k.sum(), size=N_BOOT), 2)
    rows.append(
        ("integer scores", f"floor: numpy multinomial counts alone (K = {k.size} pairs)", single, t)
    )
    # generic statistic (vectorized 'weights' form): mean change
    df = make(N, True)
    change = (df["endpoint"] - df["baseline"]).to_numpy()

    def mean_change(d, weights):
        return weights @ change / weights.sum(axis=1)

    single = best(lambda: float(np.mean(change)))
    t = best(lambda: bootstrap_ci(df, mean_change, n_boot=N_BOOT, seed=1), 1)
    rows.append(("integer scores", f"bootstrap_ci(weights=) mean change, bca, {N_BOOT}", single, t))
    print(
        f"Machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(f"n = {N:,} episodes; times are best of repeated runs (seconds)\n")
    print("| data | bootstrap run | single estimate (s) | bootstrap (s) | ratio |")
    print("|---|---|---:|---:|---:|")
    for kind, what, s, b in rows:
        print(f"| {kind} | {what} | {s:.4f} | {b:.3f} | {b / s:.0f}x |")


if __name__ == "__main__":
    main()
