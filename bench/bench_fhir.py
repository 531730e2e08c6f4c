"""Benchmark: reading a FHIR R4 Bulk Data export with iop.load(source="fhir").

The export is generated here (numpy random numbers, no patient data): per patient one Patient
and one EpisodeOfCare; per administration a QuestionnaireResponse (PHQ-9 or GAD-7, each item a
LOINC answer coding) or, for one administration in four, a total-only Observation. Written as
Bulk Data NDJSON files (one per resource type) in a temporary directory.

Compared side by side in one run, on the same files:

* ``orjson``: the bare read — every line of every file parsed with ``orjson.loads`` (the
  baseline of the 3x budget, ``docs/data-format.md``, "FHIR exports");
* ``json``: the same with the standard library;
* ``fhir_to_long``: the FHIR reader alone (iop_outcomes.io.fhir), as it runs (in worker
  processes for an export this size) and kept in one process (``PARALLEL_MIN_BYTES``
  switched off);
* ``iop.load``: the whole load (reading, validation, scoring, ledger), the same two ways;
* ``fhir.resources``: parsing each line into the pydantic R4 models
  (``Resource.model_validate_json``), when the package is installed, on the first
  ``--fhir-resources-lines`` lines (the ratio is per line, to the bare orjson read of the same
  lines).

Each is timed as wall-clock seconds and as CPU seconds (this process and its worker
processes), each the best of ``--repeat`` runs. ``--export-dir DIR`` keeps the export in DIR
and reuses it, so that two versions of the library can be timed on the same files, turn by
turn (``PYTHONPATH=<checkout> python bench/bench_fhir.py --export-dir DIR``).

Run with nice on a shared machine::

    nice -n 10 python bench/bench_fhir.py                  # 100k resources
    nice -n 10 python bench/bench_fhir.py --administrations 1000000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def _cpu() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def best(fn, repeat: int) -> tuple[float, float]:
    """The best wall-clock and the best CPU seconds (this process and its workers)."""
    return best_of({"": fn}, repeat)[""]


def best_of(steps: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """:func:`best` of each step, the steps taking turns (each repeat runs every step once),
    so that a change in the machine's load falls on all of them alike."""
    walls: dict = {k: [] for k in steps}
    cpus: dict = {k: [] for k in steps}
    for _ in range(repeat):
        for k, fn in steps.items():
            c, t = _cpu(), time.perf_counter()
            fn()
            walls[k].append(time.perf_counter() - t)
            cpus[k].append(_cpu() - c)
    return {k: (min(walls[k]), min(cpus[k])) for k in steps}


def one_process(fn, fhir_module):
    """``fn`` with the FHIR reader kept in one process (the parallel read switched off)."""

    def run():
        saved = fhir_module.PARALLEL_MIN_BYTES
        fhir_module.PARALLEL_MIN_BYTES = float("inf")
        try:
            fn()
        finally:
            fhir_module.PARALLEL_MIN_BYTES = saved

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=100_000, help="approximate resource count")
    ap.add_argument("--administrations", type=int, default=None, help="instead of --resources")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--export-dir",
        type=Path,
        default=None,
        help="write the export here (kept), or reuse the one already there",
    )
    ap.add_argument(
        "--fhir-resources-lines", type=int, default=20_000, help="0: skip fhir.resources"
    )
    args = ap.parse_args()

    import orjson

    import iop_outcomes as iop
    from iop_outcomes.io import fhir as fhir_module
    from iop_outcomes.io.fhir import fhir_to_long

    try:  # the parallel read's settings live in their own module since issue 13
        from iop_outcomes.io._fhir import parallel as fhir_module
    except ImportError:
        pass

    parallel = hasattr(fhir_module, "PARALLEL_MIN_BYTES")  # older versions: one process only

    # resources per administration: 1 + 2 / PER_PATIENT (Patient and EpisodeOfCare)
    n_admin = args.administrations or int(args.resources * PER_PATIENT / (PER_PATIENT + 2))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.export_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.export_dir and (folder / "counts.txt").exists():
            counts = json.loads((folder / "counts.txt").read_text())
        else:
            counts = write_export(folder, n_admin)
            (folder / "counts.txt").write_text(json.dumps(counts))
        size = sum(p.stat().st_size for p in folder.glob("*.ndjson"))
        n_res = sum(counts.values())
        print(f"export: {n_res:,} resources ({counts}), {size / 1e6:,.0f} MB")
        for p in folder.glob("*.ndjson"):  # into the page cache before any timing
            with open(p, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        steps = {}
        steps["orjson (bare read)"] = lambda: bare_read(folder, orjson.loads)
        steps["json (bare read)"] = lambda: bare_read(folder, json.loads)

        def reader():
            fhir_to_long(folder)

        def full():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = iop.load(folder, source="fhir")
            full.result = res

        if parallel:
            steps["fhir_to_long, 1 process"] = one_process(reader, fhir_module)
        steps["fhir_to_long"] = reader
        if parallel:
            steps["iop.load(source='fhir'), 1 process"] = one_process(full, fhir_module)
        steps["iop.load(source='fhir')"] = full
        rows = best_of(steps, args.repeat)
        res = full.result
        print(f"loaded: {res}; load average {os.getloadavg()}")
        base, base_cpu = rows["orjson (bare read)"]
        print(
            "\n| step | seconds | × orjson | CPU seconds | CPU × orjson |\n|---|---:|---:|---:|---:|"
        )
        for k, (v, c) in rows.items():
            print(f"| {k} | {v:.2f} | {v / base:.2f} | {c:.2f} | {c / base_cpu:.2f} |")
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

        t_o = best(orjson_sample, args.repeat)[0]
        t_p = best(pydantic_read, 1)[0]
        print(
            f"\nfhir.resources on {len(sample):,} lines (every {step}th): {t_p:.2f} s vs bare "
            f"orjson {t_o:.3f} s: ratio {t_p / t_o:.1f} (to the same lines)"
        )


if __name__ == "__main__":
    main()
