"""Small weekly PHQ-9 data set with MAR dropout for the sensitivity tests (run once; output
committed as sens_assessments.csv and read by make_mixed.R and tests/test_sensitivity.py).

python tests/reference/sensitivity/make_data.py   (numpy 1.26/2.x, seed 20261123)
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261123)
n, W = 120, 6
fmt = np.where(np.arange(n) % 2 == 0, "in_person", "virtual")
age = rng.integers(18, 65, n)
b0 = rng.normal(17, 4, n)
slope = rng.normal(-1.0, 0.4, n) + np.where(fmt == "virtual", -0.15, 0.0)
weeks = np.arange(W + 1)
y = b0[:, None] + slope[:, None] * weeks[None, :] + rng.normal(0, 2.0, (n, W + 1))
y = np.clip(np.round(y), 0, 27)
# MAR dropout: after each week, leave with probability rising with the score just observed
obs = np.ones((n, W + 1), bool)
for w in range(1, W + 1):
    p = 1 / (1 + np.exp(-(-3.0 + 0.15 * (y[:, w - 1] - 15))))
    leave = obs[:, w - 1] & (rng.random(n) < p)
    obs[:, w] = obs[:, w - 1] & ~leave
completed = obs[:, W]
rows = []
for i in range(n):
    for w in weeks[obs[i]]:
        tp = "intake" if w == 0 else ("discharge" if w == W else f"week_{w}")
        rows.append((f"E{i:03d}", "PHQ-9", tp, float(w), float(y[i, w])))
d = pd.DataFrame(rows, columns=["episode_id", "instrument", "timepoint", "week", "total"])
info = pd.DataFrame(
    {
        "episode_id": [f"E{i:03d}" for i in range(n)],
        "format": fmt,
        "age": age,
        "discharge_status": np.where(completed, "completed", "dropped_out"),
    }
)
d = d.merge(info, on="episode_id")
d.to_csv(Path(__file__).with_name("sens_assessments.csv"), index=False)
print(d.shape, completed.mean())
