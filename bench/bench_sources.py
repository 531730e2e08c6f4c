"""Benchmark: loading the source shapes of issue 10 against the bare read of the same file.

    nice -n 10 python bench/bench_sources.py --administrations 1000000 [--out bench/out]

Builds ``--administrations`` PHQ-9 / GAD-7 administrations with ``iop.synth`` (every synthetic
visit has both questionnaires, so half as many visits) and writes the same administrations
three ways:

* a **REDCap raw export** (``record_id``, ``redcap_event_name`` = ``baseline_arm_1``,
  ``week_N_arm_1``, ``discharge_arm_1``, ``N_month_followup_arm_1``; enrollment fields on the
  baseline event only, discharge fields on the discharge event only, so the reader fills them
  down; ``phq9_*`` and ``gad7_*`` forms with ``*_complete`` = 2) with its data dictionary;
* a **visit-rows CSV** (``MRN``, ``Visit Date``, ``PHQ9 Q1`` ... ``PHQ9 Total``, ``GAD7 Q1``
  ... ``GAD7 Total``) with its ``[instruments]`` mapping;
* the **tidy long CSV** of the data contract (the reference of issue 2).

Each step runs in a fresh subprocess (wall time and peak RSS, as in ``bench_load.py``), the
fastest of ``--repeat`` runs: ``pyarrow.csv.read_csv`` of each file (the bare read) and
``iop.load`` of it. Run it a second time once the files exist: the peak memory of a step
includes its parent's (Linux keeps ``ru_maxrss`` across ``exec``), which is small only when the
files were not just generated. Results go to ``bench/RESULTS.md`` ("Sources (issue 10)") by
hand from the printed table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import run_step

STEP = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
kind, path, extra = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if kind == "bare":
    from pyarrow import csv
    n = csv.read_csv(path).num_rows
elif kind == "import":  # what iop.load pays before reading: pandas, the io package
    import iop_outcomes as iop
    iop.load
    n = 0
else:
    import iop_outcomes as iop
    if kind == "redcap":
        res = iop.load(path, source="redcap", dictionary=extra)
    elif kind == "visits":
        res = iop.load(path, mapping=extra)
    else:
        res = iop.load(path)
    n = res.n_read
dt = time.perf_counter() - t0
print(json.dumps({"kind": kind, "rows": int(n), "seconds": dt,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""

ITEMS9 = [f"item_{k}" for k in range(1, 10)]
ITEMS7 = ITEMS9[:7]
CHOICES = "0, Not at all | 1, Several days | 2, More than half the days | 3, Nearly every day"
SITES = ["Central", "East", "North", "South", "West"]
FORMATS = ["in_person", "virtual", "hybrid"]
STATUSES = ["completed", "dropped_out", "transferred", "administrative", "ongoing"]

VISITS_TOML = """\
[columns]
MRN = "patient_id"
"Visit Date" = "assessment_date"
"Admit Date" = "admit_date"
"Discharge Date" = "discharge_date"

[instruments."PHQ-9"]
items = "PHQ9 Q{n}"
total = "PHQ9 Total"

[instruments."GAD-7"]
items = "GAD7 Q{n}"
total = "GAD7 Total"
"""


def _dictionary() -> str:
    def choices(labels):
        return " | ".join(f"{i + 1}, {lab}" for i, lab in enumerate(labels))

    rows = [
        ("record_id", "enrollment", "text", "Record ID", ""),
        ("age", "enrollment", "text", "Age at admission", ""),
        ("site", "enrollment", "dropdown", "Program site", choices(SITES)),
        ("format", "enrollment", "radio", "Treatment format", choices(FORMATS)),
        ("admit_date", "enrollment", "text", "Admission date", ""),
        ("phq9_date", "phq9", "text", "Date completed", ""),
        *((f"phq9_{k}", "phq9", "radio", f"PHQ-9 item {k}", CHOICES) for k in range(1, 10)),
        ("phq9_total", "phq9", "calc", "PHQ-9 total score", "sum([phq9_1])"),
        ("gad7_date", "gad7", "text", "Date completed", ""),
        *((f"gad7_{k}", "gad7", "radio", f"GAD-7 item {k}", CHOICES) for k in range(1, 8)),
        ("discharge_date", "discharge", "text", "Discharge date", ""),
        ("discharge_status", "discharge", "dropdown", "Discharge status", choices(STATUSES)),
    ]
    head = '"Variable / Field Name","Form Name","Field Type","Field Label",'
    head += '"Choices, Calculations, OR Slider Labels"\n'
    return head + "".join(",".join(f'"{x}"' for x in r) + "\n" for r in rows)


def _shapes(d, i: int):
    """One synth chunk as (REDCap export rows, visit rows, tidy long rows) DataFrames."""
    import numpy as np
    import pandas as pd

    d = d.copy()
    for c in ("patient_id", "episode_id"):
        d[c] = f"C{i:03d}" + d[c].astype(str)
    # the total as an EHR writes it: only when every item of the questionnaire was answered
    n_items = d["instrument"].map({"PHQ-9": 9, "GAD-7": 7}).to_numpy()
    answered = d[ITEMS9].notna().sum(axis=1).to_numpy()
    d["total"] = d[ITEMS9].sum(axis=1).where(answered == n_items)
    for c in ("assessment_date", "admit_date", "discharge_date"):
        d[c] = d[c].dt.strftime("%Y-%m-%d")
    long = d[
        ["episode_id", "instrument", "assessment_date", "timepoint", *ITEMS9, "total"]
        + ["admit_date", "discharge_date", "discharge_status", "format", "site", "age"]
    ].rename(columns={"episode_id": "patient_id"})
    key = ["episode_id", "assessment_date", "timepoint"]
    phq = d[d["instrument"] == "PHQ-9"].set_index(key)
    gad = d[d["instrument"] == "GAD-7"].set_index(key)
    visit_keys = phq.index.union(gad.index)  # every synthetic visit has both
    phq, gad = phq.reindex(visit_keys), gad.reindex(visit_keys)
    ep = d.groupby("episode_id").first()
    keys = visit_keys.to_frame(index=False)
    e = ep.reindex(keys["episode_id"])
    visits = pd.DataFrame(
        {
            "MRN": keys["episode_id"],
            "Admit Date": e["admit_date"].to_numpy(),
            "Discharge Date": e["discharge_date"].to_numpy(),
            "Visit Date": keys["assessment_date"],
            **{f"PHQ9 Q{k}": phq[f"item_{k}"].to_numpy() for k in range(1, 10)},
            "PHQ9 Total": phq["total"].to_numpy(),
            **{f"GAD7 Q{k}": gad[f"item_{k}"].to_numpy() for k in range(1, 8)},
            "GAD7 Total": gad["total"].to_numpy(),
            "Clinician Notes": "",
        }
    )
    tp = keys["timepoint"]
    event = tp.map({"intake": "baseline", "discharge": "discharge"}).fillna(
        tp.str.replace(r"^followup_(\d+)m$", r"\1_month_followup", regex=True)
    )
    baseline = (tp == "intake").to_numpy()
    discharge = (tp == "discharge").to_numpy()

    def on(mask, values):
        return pd.Series(values, dtype=object).where(mask, "").to_numpy()

    code = {
        name: {v: str(j + 1) for j, v in enumerate(vals)}
        for name, vals in (("site", SITES), ("format", FORMATS), ("discharge_status", STATUSES))
    }
    redcap = pd.DataFrame(
        {
            "record_id": keys["episode_id"],
            "redcap_event_name": event + "_arm_1",
            "age": on(baseline, e["age"].astype(str).to_numpy()),
            "site": on(baseline, e["site"].map(code["site"]).to_numpy()),
            "format": on(baseline, e["format"].map(code["format"]).to_numpy()),
            "admit_date": on(baseline, e["admit_date"].to_numpy()),
            "enrollment_complete": on(baseline, np.full(len(keys), "2")),
            "phq9_date": keys["assessment_date"],
            **{f"phq9_{k}": phq[f"item_{k}"].to_numpy() for k in range(1, 10)},
            "phq9_total": phq["total"].to_numpy(),
            "phq9_complete": "2",
            "gad7_date": keys["assessment_date"],
            **{f"gad7_{k}": gad[f"item_{k}"].to_numpy() for k in range(1, 8)},
            "gad7_complete": "2",
            "discharge_date": on(discharge, e["discharge_date"].to_numpy()),
            "discharge_status": on(
                discharge, e["discharge_status"].map(code["discharge_status"]).to_numpy()
            ),
            "discharge_complete": on(discharge, np.full(len(keys), "2")),
        }
    )
    return redcap, visits, long


def make(n_admin: int, out: Path, chunk_episodes: int = 20_000) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    import iop_outcomes as iop

    out.mkdir(parents=True, exist_ok=True)
    tag = f"sources_{n_admin}"
    paths = {
        "redcap": out / f"{tag}_redcap.csv",
        "dictionary": out / f"{tag}_dictionary.csv",
        "visits": out / f"{tag}_visits.csv",
        "mapping": out / f"{tag}_visits.toml",
        "long": out / f"{tag}_long.csv",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    paths["dictionary"].write_text(_dictionary())
    paths["mapping"].write_text(VISITS_TOML)
    writers: dict = {}
    done, i = 0, 0
    while done < n_admin:
        d = iop.synth.generate(n_episodes=chunk_episodes, seed=5000 + i).data
        # whole visits only (PHQ-9 and GAD-7), up to the administrations asked for
        d = d.sort_values(["episode_id", "assessment_date", "instrument"], kind="mergesort")
        d = d.iloc[: min(len(d), n_admin - done)]
        for name, frame in zip(("redcap", "visits", "long"), _shapes(d, i), strict=True):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in writers:
                writers[name] = (pacsv.CSVWriter(paths[name], table.schema), table.schema)
            writers[name][0].write_table(table.cast(writers[name][1]))
        done += len(d)
        i += 1
        print(f"  chunk {i}: {done:,} administrations", file=sys.stderr, flush=True)
    for w, _schema in writers.values():
        w.close()
    return paths


def run(kind: str, path: Path, extra: Path | str = "") -> dict:
    return run_step(STEP, kind, path, extra)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--administrations", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per step; the fastest is shown (shared machine)"
    )
    a = ap.parse_args()
    t = time.perf_counter()
    p = make(a.administrations, a.out)
    print(f"files ready in {time.perf_counter() - t:.0f} s", flush=True)
    imp = min((run("import", p["long"]) for _ in range(a.repeat)), key=lambda r: r["seconds"])
    print(f"import iop_outcomes (+ pandas, io), included in each iop.load: {imp['seconds']:.2f} s")
    print(
        "| source | file rows | administrations (ledger rows) | bare read s | iop.load s | x bare "
        "read | peak GB bare | peak GB load |\n|---|---|---|---|---|---|---|---|"
    )
    for kind, path, extra in (
        ("redcap", p["redcap"], p["dictionary"]),
        ("visits", p["visits"], p["mapping"]),
        ("long", p["long"], ""),
    ):
        bare = min((run("bare", path) for _ in range(a.repeat)), key=lambda r: r["seconds"])
        got = min((run(kind, path, extra) for _ in range(a.repeat)), key=lambda r: r["seconds"])
        print(
            f"| {kind} | {bare['rows']:,} | {got['rows']:,} | {bare['seconds']:.1f} | "
            f"{got['seconds']:.1f} | {got['seconds'] / bare['seconds']:.1f} | "
            f"{bare['peak_gb']:.2f} | {got['peak_gb']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
