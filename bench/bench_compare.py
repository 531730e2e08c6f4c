"""Benchmark of iop_outcomes.compare on 100,000 episodes (not a timed test).

Usage: python bench/bench_compare.py [--n 100000] [--repeat 3]
Prints the best-of-``repeat`` wall and CPU (process) time per call; CPU time is the
meaningful number on a shared machine; results are recorded in bench/RESULTS.md
(section "Comparisons").
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd

from iop_outcomes._compare import compare, dose_response, equivalence, pool_sites, subgroups
from iop_outcomes.exceptions import IOPWarning


def make(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, n)
    baseline = np.clip(np.round(rng.normal(16, 5, n)), 0, 27)
    lin_v = -0.4 - 0.03 * (age - 40) + 0.08 * (baseline - 16)
    lin_h = -1.2 + 0.02 * (age - 40)
    pr = np.column_stack([np.ones(n), np.exp(lin_v), np.exp(lin_h)])
    pr /= pr.sum(1, keepdims=True)
    u = rng.random(n)
    fmt = np.where(
        u < pr[:, 0], "in_person", np.where(u < pr[:, 0] + pr[:, 1], "virtual", "hybrid")
    )
    site = rng.integers(1, 21, n)
    hours = rng.uniform(20, 110, n)
    endpoint = np.clip(
        np.round(3 + 0.55 * baseline - 0.02 * (hours - 60) + rng.normal(0, 4, n) + site * 0.05),
        0,
        27,
    )
    return pd.DataFrame(
        {
            "format": fmt,
            "site": [f"S{s:02d}" for s in site],
            "age": age,
            "age_band": pd.cut(age, [17, 25, 45, 70], labels=["18-25", "26-45", "46-69"]),
            "gender_identity": rng.choice(["woman", "man", "nonbinary"], n, p=[0.55, 0.38, 0.07]),
            "baseline": baseline,
            "endpoint": endpoint,
            "attendance_hours": hours,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    ep = make(a.n)
    cov = ["age", "gender_identity"]
    calls = {
        "compare welch": lambda: compare(ep, method="welch"),
        "compare ancova (+age, gender)": lambda: compare(ep, method="ancova", covariates=cov),
        "compare iptw (+age, gender)": lambda: compare(ep, method="iptw", covariates=cov),
        "compare overlap (+age, gender)": lambda: compare(ep, method="overlap", covariates=cov),
        "compare doubly_robust": lambda: compare(ep, method="doubly_robust", covariates=cov),
        "equivalence ancova": lambda: equivalence(ep, margin=2.5, instrument="PHQ-9"),
        "subgroups ancova by age_band": lambda: subgroups(ep, by="age_band", covariates=cov),
        "pool_sites mean change (20 sites)": lambda: pool_sites(ep),
        "pool_sites welch contrast (20 sites)": lambda: pool_sites(ep, group="format"),
        "dose_response": lambda: dose_response(ep),
    }
    print(f"n = {a.n:,} episodes; python {platform.python_version()}; best of {a.repeat}")
    print(f"{'call':40s} {'wall s':>8s} {'cpu s':>8s}")
    tot_w = tot_c = 0.0
    for name, f in calls.items():
        best_w = best_c = np.inf
        for _ in range(a.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IOPWarning)
                f()
            best_w = min(best_w, time.perf_counter() - t0)
            best_c = min(best_c, time.process_time() - c0)
        tot_w += best_w
        tot_c += best_c
        print(f"{name:40s} {best_w:8.3f} {best_c:8.3f}")
    print(f"{'total':40s} {tot_w:8.3f} {tot_c:8.3f}")


if __name__ == "__main__":
    main()
