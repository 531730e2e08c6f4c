"""Benchmark: participant flow + follow-up response + Kaplan–Meier for 1,000,000 episodes.

Builds a synthetic episode table with numpy (docs/data-format.md columns), then times
``iop.retention`` (with and without the between-format tests) and ``iop.dropout_survival``
(transfers censored, and competing). Run::

    python bench/bench_retention.py [n_episodes] [repeats]

Results are recorded in bench/RESULTS.md (section "Retention").
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time

import numpy as np
import pandas as pd

R = importlib.import_module("iop_outcomes._retention")


def synthetic_episodes(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fmt = rng.choice(np.array(["in_person", "virtual", "hybrid"]), n, p=[0.45, 0.4, 0.15])
    status = rng.choice(
        np.array(["completed", "dropped_out", "transferred", "administrative", "ongoing"]),
        n,
        p=[0.6, 0.25, 0.06, 0.03, 0.06],
    )
    los = np.where(status == "completed", rng.integers(28, 85, n), rng.integers(1, 60, n))
    admit = np.datetime64("2023-01-01") + rng.integers(0, 900, n).astype("timedelta64[D]")
    discharge = admit + los.astype("timedelta64[D]")
    discharge = np.where(status == "ongoing", np.datetime64("NaT"), discharge)
    baseline = np.where(
        rng.random(n) < 0.97, np.clip(rng.normal(16, 5.5, n).round(), 0, 27), np.nan
    )
    nit = rng.poisson(5, n)
    endpoint = np.where(nit >= 2, np.clip(baseline - rng.normal(6, 5, n).round(), 0, 27), np.nan)
    out = status != "ongoing"
    df = pd.DataFrame(
        {
            "episode_id": np.arange(n),
            "format": fmt,
            "baseline": baseline,
            "endpoint": endpoint,
            "n_in_treatment": nit,
            "admit_date": admit,
            "discharge_date": discharge,
            "discharge_status": status,
            "los_days": los,
            "age": rng.integers(18, 75, n),
        }
    )
    for w, p in (("1m", 0.5), ("3m", 0.35), ("6m", 0.25), ("12m", 0.12)):
        df[f"followup_{w}"] = np.where(out & (rng.random(n) < p), endpoint + 1, np.nan)
    return df


def timed(fn, repeats: int):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    t0 = time.perf_counter()
    ep = synthetic_episodes(n)
    print(f"built {n:,} episodes in {time.perf_counter() - t0:.2f} s")
    as_of = ep["discharge_date"].max()
    R.retention(ep.head(1000), tests=True)  # warm imports (statsmodels, scipy)
    cases = [
        (
            "retention (flow + follow-up, no tests)",
            lambda: R.retention(ep, as_of=as_of, tests=False),
        ),
        ("retention (+ chi-square & logistic per window)", lambda: R.retention(ep, as_of=as_of)),
        ("dropout_survival (KM, log-rank, LOS, at risk)", lambda: R.dropout_survival(ep)),
        (
            "dropout_survival (transfers competing)",
            lambda: R.dropout_survival(ep, transfers="competing"),
        ),
    ]
    total = 0.0
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs (shared)"
    )
    for name, fn in cases:
        t, _ = timed(fn, repeats)
        print(f"{name:50s} {t:7.2f} s (best of {repeats})")
        if "no tests" in name or "(KM" in name:
            total += t
    print(f"{'flow + follow-up response + KM (sum)':50s} {total:7.2f} s")


if __name__ == "__main__":
    main()
