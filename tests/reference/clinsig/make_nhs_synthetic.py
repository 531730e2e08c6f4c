"""Make nhs_synthetic_episodes.csv: synthetic PHQ-9 + GAD-7 episode rows for the base-R check
of the NHS Talking Therapies rules (nhs_base_r.R). Scores cluster around the thresholds (changes
of 3-7 points, first scores across the caseness cut-offs); some GAD-7 rows, last scores and
attendance values are missing on purpose. Run from the project root:
    python tests/reference/clinsig/make_nhs_synthetic.py
"""

import numpy as np
import pandas as pd


def main() -> None:
    rng = np.random.default_rng(20261123)
    n = 400
    phq_f = rng.integers(3, 27, n)
    gad_f = rng.integers(2, 21, n)
    phq_d = rng.choice([-9, -7, -6, -5, -4, 0, 4, 5, 6, 7], n)
    gad_d = rng.choice([-6, -5, -4, -3, -2, 0, 2, 3, 4, 5], n)
    phq_l = np.clip(phq_f + phq_d, 0, 27)
    gad_l = np.clip(gad_f + gad_d, 0, 21)
    sess = rng.choice([0, 1, 2, 3, 8, np.nan], n, p=[0.05, 0.1, 0.15, 0.3, 0.3, 0.1])
    ntreat = rng.integers(1, 10, n)
    fmt = rng.choice(["in_person", "virtual"], n)
    rows = []
    for i in range(n):
        eid = f"ep{i:03d}"
        phq_last = np.nan if rng.random() < 0.05 else phq_l[i]
        rows.append((eid, "PHQ-9", phq_f[i], phq_last, sess[i], ntreat[i], fmt[i]))
        if rng.random() < 0.93:
            gad_last = np.nan if rng.random() < 0.05 else gad_l[i]
            rows.append((eid, "GAD-7", gad_f[i], gad_last, sess[i], ntreat[i], fmt[i]))
    cols = ["episode_id", "instrument", "baseline", "endpoint", "sessions_attended"]
    df = pd.DataFrame(rows, columns=[*cols, "n_in_treatment", "format"])
    df.to_csv("tests/reference/clinsig/nhs_synthetic_episodes.csv", index=False)


if __name__ == "__main__":
    main()
