"""The provenance block: input file, hash, ledger totals, configuration, seed and versions."""

from __future__ import annotations

import html
import platform
from importlib import metadata
from typing import Any

from ..context import Ctx
from ..format import disclosure_line
from ..inputs import on_dask, rows_read, sha256_of
from ..render import Section

_PACKAGES = ("iop_outcomes", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "openpyxl")


def section_provenance(
    ctx: Ctx, sec: Section, loaded: Any, generated: tuple[str, str], input_name: str
) -> dict:
    led = ctx.facts.get("ledger")

    def _c(name: str) -> Any:
        if led is None:
            return ""
        r = led[led["disposition"] == name]
        return r.iloc[0]["rows"] if len(r) else 0

    versions = {}
    for p in _PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = "not installed"
    versions["python"] = platform.python_version()
    th = ctx.cfg.suppression_threshold
    prov = {
        "generated": generated[0],
        "stamp": generated[1],
        "input": {
            "name": input_name,
            "sha256": sha256_of(loaded),
            "rows_read": rows_read(loaded),
            "accepted": _c("accepted"),
            "repaired": _c("repaired"),
            "quarantined": _c("quarantined"),
        },
        "configuration": ctx.cfg.to_dict(),
        "seed": ctx.cfg.seed,
        "suppression": disclosure_line(ctx.policy, th),
        "versions": versions,
    }
    if on_dask(loaded):
        s = loaded.sample  # the sample's size is the study's setting; the total is not given
        sampled = bool(s) and s["n"] < s["of"]
        prov["engine"] = {
            "name": "dask",
            "partitions": loaded.partitions,
            "model_sample": s["n"] if sampled else None,
            "stratified_by": s.get("by") if sampled else None,
        }
    rows = [
        ("Input", input_name),
        ("Input SHA-256", prov["input"]["sha256"] or "(in-memory data: not hashed)"),
        ("Rows read", f"{prov['input']['rows_read']:,}"),
        (
            "Accepted / repaired / quarantined",
            " / ".join(str(_c(k)) for k in ("accepted", "repaired", "quarantined")),
        ),
        *([("Computed on", f"Dask ({loaded.partitions:,} partitions)")] if on_dask(loaded) else []),
        ("Small-cell suppression", prov["suppression"]),
        ("Seed", str(ctx.cfg.seed)),
        (generated[1], generated[0]),
        ("Software", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
    sec.html(f'<dl class="prov">{dl}</dl>')
    sec.html("<h3>Configuration</h3>")
    sec.html(f"<pre>{html.escape(ctx.cfg.to_json())}</pre>")
    return prov
