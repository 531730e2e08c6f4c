"""Bias and 95 % CI coverage of iop.trajectories over many seeds (slow; not a test).

Run from the repository root:
    python bench/validation/trajectories_coverage.py [n_reps] [n_episodes]
Results are recorded in bench/VALIDATION.md (section "Trajectories").

Truth (weeks 0..8, scores not rounded so the model is exactly right):
    y = 17 - 1.2 w + 0.6 v + 0.15 v w + b0 + b1 w + e,
    sd(b0) = 3.5, sd(b1) = 0.45, corr(b0, b1) = -0.3, sd(e) = 2.2, v = virtual (50 %).
Targets: the slope difference (week:format[virtual], truth 0.15) and the model-based change
from week 0 to week 6 in the virtual group (truth 6 * (-1.2 + 0.15) = -6.3) and its
difference between groups (truth 0.9).
Scenario "mixed / MAR": monotone dropout whose weekly hazard rises with the last observed
score (missing at random) -- the REML mixed model stays unbiased, completer means do not.
Scenario "gee / MCAR": dropout unrelated to scores; GEE (exchangeable) is unbiased under MCAR.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

import iop_outcomes as iop

TRUTH = {"slope_diff": 0.15, "change_virtual": 6 * (-1.2 + 0.15), "change_diff": 6 * 0.15}


def simulate(seed: int, n: int, mar: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v = (rng.random(n) < 0.5).astype(int)
    sd0, sd1, rho = 3.5, 0.45, -0.3
    cov = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    b = rng.multivariate_normal([0, 0], cov, n)
    w = np.arange(9)
    mu = 17 - 1.2 * w[None, :] + 0.6 * v[:, None] + 0.15 * v[:, None] * w[None, :]
    y = mu + b[:, [0]] + b[:, [1]] * w[None, :] + rng.normal(0, 2.2, (n, 9))
    observed = np.ones((n, 9), bool)
    alive = np.ones(n, bool)
    for k in range(1, 9):
        if mar:  # hazard depends on the previous (observed) score: MAR
            hz = 1 / (1 + np.exp(-(-3.0 + 0.12 * (y[:, k - 1] - 15))))
        else:
            hz = np.full(n, 0.07)
        alive &= rng.random(n) >= hz
        observed[:, k] = alive
    e, k = np.nonzero(observed)
    return pd.DataFrame(
        {
            "episode_id": e,
            "instrument": "PHQ-9",
            "week": k,
            "total": y[e, k],
            "format": np.where(v[e] == 1, "virtual", "in_person"),
        }
    )


def one(seed: int, n: int, method: str) -> dict:
    d = simulate(seed, n, mar=(method == "mixed"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = iop.trajectories(d, method=method)  # mixed: engine="auto" (vectorized REML)
    f = res.fixed.set_index("term").loc["week:format[virtual]"]
    ch = res.change(week=6).to_frame().set_index("group")
    out = {"converged": res.model_info["converged"], "fallback": res.model_info["fallback"]}
    for key, row in (
        ("slope_diff", f),
        ("change_virtual", ch.loc["virtual"]),
        ("change_diff", ch.loc["virtual - in_person"]),
    ):
        out[f"{key}_est"] = row["estimate"]
        out[f"{key}_cover"] = row["ci_low"] <= TRUTH[key] <= row["ci_high"]
    # naive completer estimate of the virtual change (observed week-6 mean - week-0 mean)
    m = d.groupby(["format", "week"])["total"].mean()
    out["naive_change_virtual"] = m[("virtual", 6)] - m[("virtual", 0)]
    return out


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    for method in ("mixed", "gee"):
        t0 = time.time()
        rows = pd.DataFrame([one(1000 + s, n, method) for s in range(reps)])
        print(
            f"\n{method} ({'MAR' if method == 'mixed' else 'MCAR'} dropout), {reps} reps x "
            f"{n} episodes, {time.time() - t0:.0f} s; converged {rows['converged'].mean():.3f}; "
            f"fallbacks {int((rows['fallback'] != 'none').sum())}"
        )
        for key, truth in TRUTH.items():
            est = rows[f"{key}_est"]
            cov = rows[f"{key}_cover"].mean()
            mc = np.sqrt(cov * (1 - cov) / reps)
            print(
                f"  {key:15s} truth {truth:+.3f}  mean est {est.mean():+.4f}  "
                f"bias {est.mean() - truth:+.4f} (MC se {est.std() / np.sqrt(reps):.4f})  "
                f"coverage {cov:.3f} (MC se {mc:.3f})"
            )
        print(f"  naive completer change (virtual) mean {rows['naive_change_virtual'].mean():+.4f}")


if __name__ == "__main__":
    main()
