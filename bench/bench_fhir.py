"""Benchmark: reading a FHIR R4 Bulk Data export with iop.load(source="fhir").

The export is generated here (numpy random numbers, no patient data): per patient one Patient
and one EpisodeOfCare; per administration a QuestionnaireResponse (PHQ-9 or GAD-7, each item a
LOINC answer coding) or, for one administration in four, a total-only Observation. Written as
Bulk Data NDJSON files (one per resource type) in a temporary directory.

Compared side by side in one run, on the same files:

* ``orjson``: the bare read — every line of every file parsed with ``orjson.loads`` (the
  baseline of the 3x budget, ``docs/data-format.md``, "FHIR exports");
* ``json``: the same with the standard library;
* ``fhir_to_long``: the FHIR reader alone (iop_outcomes.io.fhir);
* ``iop.load``: the whole load (reading, validation, scoring, ledger);
* ``fhir.resources``: parsing each line into the pydantic R4 models
  (``Resource.model_validate_json``), when the package is installed, on the first
  ``--fhir-resources-lines`` lines (the ratio is per line, to the bare orjson read of the same
  lines).

Run with nice on a shared machine::

    nice -n 10 python bench/bench_fhir.py                  # 100k resources
    nice -n 10 python bench/bench_fhir.py --administrations 1000000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

PHQ = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
       "44260-8"]  # fmt: skip
GAD = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
LA = [("LA6568-5", "Not at all"), ("LA6569-3", "Several days"),
      ("LA6570-1", "More than half the days"), ("LA6571-9", "Nearly every day")]  # fmt: skip
L = "http://loinc.org"
PER_PATIENT = 8  # administrations per patient (episode)


def write_export(folder: Path, n_admin: int, seed: int = 1) -> dict[str, int]:
    """Write the NDJSON files; return resources per type."""
    rng = np.random.default_rng(seed)
    n_pat = max(1, n_admin // PER_PATIENT)
    admit = np.datetime64("2023-01-02") + rng.integers(0, 700, n_pat)
    counts = {"Patient": 0, "EpisodeOfCare": 0, "QuestionnaireResponse": 0, "Observation": 0}
    files = {k: open(folder / f"{k}.ndjson", "w") for k in counts}
    try:
        for p in range(n_pat):
            pid, day0 = f"{100000 + p}", admit[p]
            files["Patient"].write(
                json.dumps({"resourceType": "Patient", "id": pid, "gender": "unknown"}) + "\n"
            )
            end = str(day0 + 42)
            eoc = {"resourceType": "EpisodeOfCare", "id": f"eoc-{pid}", "status": "finished",
                   "patient": {"reference": f"Patient/{pid}"},
                   "period": {"start": str(day0), "end": end}}  # fmt: skip
            files["EpisodeOfCare"].write(json.dumps(eoc) + "\n")
            counts["Patient"] += 1
            counts["EpisodeOfCare"] += 1
            level = rng.integers(0, 4, size=9)
            for k in range(PER_PATIENT):
                day = str(day0 + 6 * (k // 2))
                gad = k % 2 == 1
                codes = GAD if gad else PHQ
                vals = np.clip(level[: len(codes)] - k // 3 + rng.integers(-1, 2, len(codes)), 0, 3)
                if k % 4 == 3:  # a total-only Observation
                    obs = {"resourceType": "Observation", "id": f"o-{pid}-{k}", "status": "final",
                           "code": {"coding": [{"system": L,
                                                "code": "70274-6" if gad else "44261-6"}]},
                           "subject": {"reference": f"Patient/{pid}"},
                           "effectiveDateTime": f"{day}T10:00:00-05:00",
                           "valueQuantity": {"value": int(vals.sum()), "unit": "{score}"}}  # fmt: skip
                    files["Observation"].write(json.dumps(obs) + "\n")
                    counts["Observation"] += 1
                    continue
                qr = {"resourceType": "QuestionnaireResponse", "id": f"q-{pid}-{k}",
                      "status": "completed", "questionnaire": f"http://loinc.org/q/{'GAD' if gad else 'PHQ'}",
                      "subject": {"reference": f"Patient/{pid}"},
                      "authored": f"{day}T10:00:00-05:00",
                      "item": [{"linkId": c, "answer": [{"valueCoding": {
                          "system": L, "code": LA[v][0], "display": LA[v][1]}}]}
                          for c, v in zip(codes, vals, strict=True)]}  # fmt: skip
                files["QuestionnaireResponse"].write(json.dumps(qr) + "\n")
                counts["QuestionnaireResponse"] += 1
    finally:
        for f in files.values():
            f.close()
    return counts


def bare_read(folder: Path, loads) -> int:
    n = 0
    for p in sorted(folder.glob("*.ndjson")):
        with open(p, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
    return n


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=100_000, help="approximate resource count")
    ap.add_argument("--administrations", type=int, default=None, help="instead of --resources")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--fhir-resources-lines", type=int, default=20_000, help="0: skip fhir.resources"
    )
    args = ap.parse_args()

    import orjson

    import iop_outcomes as iop
    from iop_outcomes.io.fhir import fhir_to_long

    # resources per administration: 1 + 2 / PER_PATIENT (Patient and EpisodeOfCare)
    n_admin = args.administrations or int(args.resources * PER_PATIENT / (PER_PATIENT + 2))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        counts = write_export(folder, n_admin)
        size = sum(p.stat().st_size for p in folder.glob("*.ndjson"))
        n_res = sum(counts.values())
        print(f"export: {n_res:,} resources ({counts}), {size / 1e6:,.0f} MB")
        rows = {}
        rows["orjson (bare read)"] = best(lambda: bare_read(folder, orjson.loads), args.repeat)
        rows["json (bare read)"] = best(lambda: bare_read(folder, json.loads), args.repeat)
        rows["fhir_to_long"] = best(lambda: fhir_to_long(folder), args.repeat)

        def full():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = iop.load(folder, source="fhir")
            full.result = res

        rows["iop.load(source='fhir')"] = best(full, args.repeat)
        res = full.result
        print(f"loaded: {res}")
        base = rows["orjson (bare read)"]
        print("\n| step | seconds | ratio to orjson |\n|---|---:|---:|")
        for k, v in rows.items():
            print(f"| {k} | {v:.2f} | {v / base:.2f} |")
        if not args.fhir_resources_lines:
            return
        try:
            from fhir.resources.R4B import get_fhir_model_class
        except ImportError:
            print("\nfhir.resources: not installed (pip install fhir.resources) - skipped")
            return
        step = max(1, n_res // args.fhir_resources_lines)
        sample = []  # every step-th line of the export, in file order
        k = 0
        for p in sorted(folder.glob("*.ndjson")):
            with open(p, "rb") as fh:
                for line in fh:
                    if k % step == 0 and len(sample) < args.fhir_resources_lines:
                        sample.append(line)
                    k += 1
        models = {}

        def pydantic_read():
            for line in sample:
                rt = orjson.loads(line)["resourceType"]  # the model is chosen by resourceType
                cls = models.get(rt) or models.setdefault(rt, get_fhir_model_class(rt))
                cls.model_validate_json(line)

        def orjson_sample():
            for line in sample:
                orjson.loads(line)

        t_o = best(orjson_sample, args.repeat)
        t_p = best(pydantic_read, 1)
        print(
            f"\nfhir.resources on {len(sample):,} lines (every {step}th): {t_p:.2f} s vs bare "
            f"orjson {t_o:.3f} s: ratio {t_p / t_o:.1f} (to the same lines)"
        )


if __name__ == "__main__":
    main()
