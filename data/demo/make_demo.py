"""Write the bundled demo dataset (synthetic; no real patients).

    python data/demo/make_demo.py

Writes ``data/demo/assessments.csv`` (long format, one row per administered
PHQ-9 or GAD-7) and ``data/demo/truth_episodes.csv`` (the generating truth per
episode) from ``iop.synth.demo()`` — 1,200 episodes, 3 sites, in-person /
virtual / hybrid, weekly scores in treatment and 1/3/6-month follow-ups; a known
10 % of episodes are drawn as non-responders (the truth's ``off_track`` column).
A test regenerates both and checks they are byte-identical.
"""

from __future__ import annotations

import sys
from pathlib import Path

import iop_outcomes as iop

HERE = Path(__file__).resolve().parent


def write(folder: Path = HERE) -> list[Path]:
    sim = iop.synth.demo()
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / "assessments.csv", folder / "truth_episodes.csv"]
    sim.data.to_csv(out[0], index=False, date_format="%Y-%m-%d", lineterminator="\n")
    sim.truth.episodes.to_csv(out[1], index=False, float_format="%.6f", lineterminator="\n")
    return out


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
