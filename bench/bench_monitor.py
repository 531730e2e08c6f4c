"""Benchmark: off-track alerts (``iop.monitor``) on 100,000 open episodes, as a ratio to
``iop.load`` of the same file.

Writes a synthetic PHQ-9 file (numpy, items 1-9, no totals: the loader scores them) of
``n_episodes`` episodes all open on the review date, admitted 0-11 weeks before it with one
score per week since admission, plus ``n_completed`` completed 8-week episodes for the curves.
Each step runs in a fresh Python process (bench/_common.py):

* ``load``: ``iop.load(file)``;
* ``monitor``: ``iop.monitor(rows, as_of=..., curves=grid)`` on the loaded rows (the curves
  from a reference table of the generating curve with a band 4 points above it, so this times
  the caseload alone);
* ``monitor + curves``: the same with the curves fitted on the completed episodes
  (``recovery_curves`` inside ``monitor``).

Run::

    nice -n 10 python bench/bench_monitor.py [n_episodes] [n_completed] [repeats]

Results are recorded in bench/RESULTS.md (section "Off-track alerts").
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import run_step

AS_OF = "2025-06-30"

STEP = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import iop_outcomes as iop
import pandas as pd
kind, path, as_of = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "load":
    t = time.perf_counter()
    res = iop.load(path)
    print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(res.data)}))
else:
    rows = iop.load(path).data
    import numpy as np
    # the generating curve: b - 7 (1 - exp(-w/3)) / (1 - exp(-8/3)), band +4 points
    b, w = np.meshgrid(np.arange(28.0), np.arange(13.0), indexing="ij")
    e = np.clip(b - 7 * (1 - np.exp(-w / 3)) / (1 - np.exp(-8 / 3)), 0, 27)
    grid = pd.DataFrame({"baseline": b.ravel(), "week": w.ravel(), "expected": e.ravel(),
                         "upper": np.clip(e + 4, 0, 27).ravel()})
    t = time.perf_counter()
    res = iop.monitor(rows, as_of=as_of, curves=grid if kind == "monitor" else None)
    print(json.dumps({"seconds": time.perf_counter() - t, "open": len(res.table),
                      "flagged": int((res.table["n_flags"] > 0).sum())}))
"""


def synthetic_file(path: Path, n_open: int, n_done: int, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    as_of = np.datetime64(AS_OF)
    weeks_in = rng.integers(0, 12, n_open)
    admit_open = as_of - (weeks_in * 7 + rng.integers(0, 7, n_open)).astype("timedelta64[D]")
    admit_done = as_of - rng.integers(70, 400, n_done).astype("timedelta64[D]")
    n_scores = np.concatenate([weeks_in + 1, np.full(n_done, 9)])
    admit = np.concatenate([admit_open, admit_done])
    ep = np.repeat(np.arange(n_open + n_done), n_scores)
    wk = np.concatenate([np.arange(k) for k in n_scores])
    base = np.clip(rng.normal(16, 5.5, len(admit)), 3, 27)
    change = rng.normal(-7, 5, len(admit))
    true = np.clip(base[ep] + change[ep] * (1 - np.exp(-wk / 3)) / (1 - np.exp(-8 / 3)), 0, 27)
    # nine items whose expected sum is the true score (binomial 0-3 per item)
    items = rng.binomial(3, np.clip(true / 27, 0, 1)[:, None], (len(ep), 9))
    items[:, 8] = rng.binomial(3, np.clip(true / 27, 0, 1) / 6)  # item 9: rarely endorsed
    done = ep >= n_open
    df = pd.DataFrame(
        {
            "patient_id": np.char.add("P", ep.astype(str)),
            "episode_id": np.char.add("E", ep.astype(str)),
            "instrument": "PHQ-9",
            "assessment_date": admit[ep] + (wk * 7).astype("timedelta64[D]"),
            **{f"item_{j + 1}": items[:, j] for j in range(9)},
            "admit_date": admit[ep],
            "discharge_date": np.where(
                done, admit[ep] + np.timedelta64(56, "D"), np.datetime64("NaT")
            ),
            "discharge_status": np.where(done, "completed", "ongoing"),
            "clinician": np.char.add("C", (ep % 400).astype(str)),
        }
    )
    df.to_csv(path, index=False, date_format="%Y-%m-%d")
    return len(df)


def main() -> None:
    n_open = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_done = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "open_episodes.csv"
        n_rows = synthetic_file(path, n_open, n_done)
        print(
            f"{n_open:,} open + {n_done:,} completed episodes, {n_rows:,} rows "
            f"({path.stat().st_size / 1e6:.0f} MB); python {platform.python_version()}, "
            f"{os.cpu_count()} cores; best of {repeats}"
        )
        best: dict[str, dict] = {}
        for _ in range(repeats):  # interleaved, so load and monitor share the machine's state
            for kind in ("load", "monitor", "monitor_curves"):
                r = run_step(STEP, kind, path, AS_OF)
                if kind not in best or r["seconds"] < best[kind]["seconds"]:
                    best[kind] = r
        load = best["load"]["seconds"]
        print("| step | seconds | ratio to iop.load |")
        print("|---|---|---|")
        for kind, label in (
            ("load", "`iop.load` (validate, score, ledger)"),
            ("monitor", "`iop.monitor`, reference table"),
            ("monitor_curves", "`iop.monitor`, curves fitted on the completed episodes"),
        ):
            s = best[kind]["seconds"]
            print(f"| {label} | {s:.2f} | {s / load:.2f} |")
        print(
            f"open episodes listed: {best['monitor']['open']:,}; flagged {best['monitor']['flagged']:,}"
        )


if __name__ == "__main__":
    main()
