"""Make the small synthetic episode table used by make_fixtures.R and tests/test_compare.py.

Run once: ``python tests/reference/compare/make_episodes.py`` (numpy seed 20261123).
Format is self-selected (depends on age and baseline) so adjustment matters.
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261123)
n = 360
age = rng.integers(18, 70, n)
gender = rng.choice(["woman", "man", "nonbinary"], n, p=[0.55, 0.38, 0.07])
site = rng.choice([f"S{i}" for i in range(1, 7)], n)
baseline = np.clip(np.round(rng.normal(16, 5, n)), 0, 27)
lin_v = -0.5 - 0.03 * (age - 40) + 0.08 * (baseline - 16)
lin_h = -1.2 + 0.02 * (age - 40)
pr = np.column_stack([np.ones(n), np.exp(lin_v), np.exp(lin_h)])
pr /= pr.sum(1, keepdims=True)
u = rng.random(n)
fmt = np.where(u < pr[:, 0], "in_person", np.where(u < pr[:, 0] + pr[:, 1], "virtual", "hybrid"))
site_eff = {f"S{i}": e for i, e in zip(range(1, 7), rng.normal(0, 1.2, 6), strict=True)}
hours = np.round(rng.uniform(20, 110, n), 1)
endpoint = (
    3
    + 0.55 * baseline
    - 0.02 * (hours - 60)
    + 0.04 * (age - 40)
    + np.where(fmt == "virtual", 0.6, 0.0)
    + np.where(fmt == "hybrid", -0.4, 0.0)
    + np.array([site_eff[s] for s in site])
    + rng.normal(0, 4, n)
)
endpoint = np.clip(np.round(endpoint), 0, 27)
age_band = pd.cut(age, [17, 25, 45, 70], labels=["18-25", "26-45", "46-69"]).astype(str)
df = pd.DataFrame(
    {
        "episode_id": [f"E{i:04d}" for i in range(n)],
        "instrument": "PHQ-9",
        "format": fmt,
        "site": site,
        "age": age,
        "age_band": age_band,
        "gender_identity": gender,
        "baseline": baseline,
        "endpoint": endpoint,
        "attendance_hours": hours,
    }
)
df.to_csv(Path(__file__).with_name("episodes.csv"), index=False)
print(df["format"].value_counts(), df.groupby("site")["format"].value_counts().unstack())
