"""Simulate the small weekly PHQ-9 dataset used by the trajectory fixtures (seeded).

Run from the repository root:  python tests/reference/trajectories/make_data.py
Writes sim_weekly.csv (one row per assessment) and sim_singular.csv (boundary fit). The R script fit_reference.R reads it.

Truth (per episode i, week w = 0..8):
  total = 17 - 1.45 w + 0.07 w^2 + 0.6*virtual + 0.15*virtual*w + site_j + b0_i + b1_i w + e
  b0 ~ N(0, 3.5^2), b1 ~ N(0, 0.45^2), corr(b0, b1) = -0.3, site_j ~ N(0, 1), e ~ N(0, 2.2^2)
Monotone dropout (hazard 8 %/week after week 1) plus 10 % intermittent missing weeks;
the week-0 score is always present. Totals are rounded to integers and clipped to 0..27.
"""

from pathlib import Path

import numpy as np
import pandas as pd


def simulate(n_episodes: int = 100, seed: int = 20261123) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weeks = np.arange(9)
    ep = np.arange(n_episodes)
    virtual = (rng.random(n_episodes) < 0.5).astype(int)
    site = rng.integers(0, 4, n_episodes)
    site_eff = rng.normal(0, 1.0, 4)
    sd0, sd1, rho = 3.5, 0.45, -0.3
    cov = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    b = rng.multivariate_normal([0, 0], cov, n_episodes)
    last = np.full(n_episodes, 8)
    for w in range(2, 9):
        drop = (rng.random(n_episodes) < 0.08) & (last == 8)
        last[drop] = w - 1
    e_idx, w_idx = np.meshgrid(ep, weeks, indexing="ij")
    e_idx, w_idx = e_idx.ravel(), w_idx.ravel()
    keep = w_idx <= last[e_idx]
    keep &= (w_idx == 0) | (rng.random(keep.size) >= 0.10)
    mu = (
        17
        - 1.45 * w_idx
        + 0.07 * w_idx**2
        + 0.6 * virtual[e_idx]
        + 0.15 * virtual[e_idx] * w_idx
        + site_eff[site[e_idx]]
        + b[e_idx, 0]
        + b[e_idx, 1] * w_idx
    )
    y = np.clip(np.rint(mu + rng.normal(0, 2.2, mu.size)), 0, 27)
    admit = pd.Timestamp("2025-01-06") + pd.to_timedelta(rng.integers(0, 200, n_episodes), "D")
    df = pd.DataFrame(
        {
            "episode_id": [f"E{i:04d}" for i in e_idx],
            "patient_id": [f"P{i:04d}" for i in e_idx],
            "instrument": "PHQ-9",
            "week": w_idx,
            "total": y.astype(int),
            "format": np.where(virtual[e_idx] == 1, "virtual", "in_person"),
            "site": [f"S{s}" for s in site[e_idx]],
            "admit_date": admit[e_idx].strftime("%Y-%m-%d"),
        }
    )
    df = df[keep].reset_index(drop=True)
    df["assessment_date"] = (
        pd.to_datetime(df["admit_date"]) + pd.to_timedelta(df["week"] * 7, "D")
    ).dt.strftime("%Y-%m-%d")
    return df


def simulate_singular(n_episodes: int = 60, seed: int = 3) -> pd.DataFrame:
    """Random intercept only (no slope variance), weeks 0..6, complete: the REML estimate of
    the slope variance sits on the boundary (lme4 reports a singular fit)."""
    rng = np.random.default_rng(seed)
    e = np.repeat(np.arange(n_episodes), 7)
    w = np.tile(np.arange(7), n_episodes)
    v = (np.arange(n_episodes) % 2)[e]
    b0 = rng.normal(0, 3.0, n_episodes)[e]
    y = 16 - 1.0 * w + 0.5 * v + b0 + rng.normal(0, 2.0, e.size)
    return pd.DataFrame(
        {
            "episode_id": [f"S{i:03d}" for i in e],
            "instrument": "PHQ-9",
            "week": w,
            "total": np.round(y, 3),
            "format": np.where(v == 1, "virtual", "in_person"),
        }
    )


if __name__ == "__main__":
    out = Path(__file__).with_name("sim_weekly.csv")
    d = simulate()
    d.to_csv(out, index=False)
    print(out, d.shape, d["episode_id"].nunique())
    simulate_singular().to_csv(out.with_name("sim_singular.csv"), index=False)
