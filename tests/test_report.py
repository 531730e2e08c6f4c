"""The shareable report: content, safety, determinism, the committed demo, a real browser."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

import iop_outcomes as iop
from iop_outcomes.cli import main
from iop_outcomes.report import find_identifiers

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "reports" / "demo"
ARTIFACTS = ROOT / "test-artifacts"
# the committed demo (regenerated below with the full default configuration) covers the
# mixed-model trajectories and multiple imputation; the small builds skip the slow parts
FAST = {
    "sensitivity": {"methods": ["completers", "locf", "bocf"]},
    "trajectories": {"enabled": False},
}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
COUNT_COLUMNS = {
    "n",
    "k",
    "rows",
    "count",
    "n_episodes",
    "n_paired",
    "n_unpaired",
    "n_used",
    "n_group",
    "n_reference",
    "numerator",
    "denominator",
    "n_retained",
    "n_lost",
    "n_eligible",
    "n_responded",
    "dropouts",
    "transfers",
    "censored",
    "n_missing",
}
SECTIONS = [
    "Summary",
    "Data quality",
    "Participant flow",
    "Symptom change",
    "Reliable and clinically significant change",
    "Effect sizes",
    "Comparison by format",
    "Retention and follow-up",
    "Methods",
    "Provenance",
]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The same data and configuration built twice: with the clock, and with
    SOURCE_DATE_EPOCH fixing the timestamp."""
    sim = iop.synth.generate(n_episodes=240, seed=11)
    outs = []
    mp = pytest.MonkeyPatch()
    for i in range(2):
        if i == 1:
            mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        out = tmp_path_factory.mktemp(f"small{i}")
        rep = iop.report(sim, config=FAST, out=out, strict=True)
        outs.append((rep, out))
    mp.undo()
    return sim, outs


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    return out


def _csvs(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "tables").glob("*.csv"))}


def _shared_text(d: Path) -> str:
    parts = [(d / "report.html").read_text(), (d / "provenance.json").read_text()]
    parts += [b.decode() for b in _csvs(d).values()]
    wb = load_workbook(d / "tables.xlsx")
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            parts.append(" ".join("" if v is None else str(v) for v in row))
    return "\n".join(parts)


def test_sections_in_order_summary_first(small):
    _, [(rep, out), _] = small
    html = (out / "report.html").read_text()
    heads = re.findall(r"<h2>(.*?)</h2>", html)
    assert heads == SECTIONS
    assert "not available" not in html and "could not be computed" not in html
    assert rep.warnings == [] or all("could not" not in w for w in rep.warnings)


def test_deterministic_apart_from_timestamp(small):
    _, [(_, a), (_, b)] = small
    assert _csvs(a) == _csvs(b) and len(_csvs(a)) >= 20
    ha = TIMESTAMP.sub("T", (a / "report.html").read_text())
    hb = TIMESTAMP.sub("T", (b / "report.html").read_text())
    assert ha == hb
    pa = TIMESTAMP.sub("T", (a / "provenance.json").read_text())
    assert pa == TIMESTAMP.sub("T", (b / "provenance.json").read_text())
    va = [[c.value for c in r] for ws in load_workbook(a / "tables.xlsx") for r in ws.iter_rows()]
    vb = [[c.value for c in r] for ws in load_workbook(b / "tables.xlsx") for r in ws.iter_rows()]
    strip = [[TIMESTAMP.sub("T", str(v)) for v in r] for r in va]
    assert strip == [[TIMESTAMP.sub("T", str(v)) for v in r] for r in vb]
    assert "2023-11-14T22:13:20Z" in (b / "report.html").read_text()  # SOURCE_DATE_EPOCH


def test_no_identifiers_or_individual_dates(small):
    sim, [(_, out), _] = small
    text = _shared_text(out)
    ids = set(sim.data["patient_id"]) | set(sim.data["episode_id"])
    assert find_identifiers(text, ids) == []
    dates = set(re.findall(r"\b\d{4}-\d{2}-\d{2}\b", TIMESTAMP.sub("", text)))
    assert dates == set()


def test_every_count_is_suppressed(small):
    _, [(rep, out), _] = small
    n_small = 0
    for t in rep.tables:
        f = pd.read_csv(out / "tables" / f"{t.key}.csv", dtype=str, keep_default_na=False)
        cols = [c for c in f.columns if c in COUNT_COLUMNS]
        if "participant_flow" in t.key:
            cols = [c for c in f.columns if c not in ("stage", "status")]
        if "severity_shift" in t.key:
            cols = [c for c in f.columns if c != "baseline band"]
        for c in cols:
            for v in f[c]:
                if v in ("<11", "*", ""):
                    n_small += v == "<11"
                    continue
                assert not 1 <= float(v) <= 10, (t.key, c, v)
    assert n_small > 0  # 240 episodes: some cells are small, and they are hidden


def test_figures_embedded_and_offline(small):
    _, [(rep, out), _] = small
    html = (out / "report.html").read_text()
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(imgs) == len(rep.figures) >= 3
    assert all(s.startswith("data:image/svg+xml;base64,") for s in imgs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "default-src 'none'" in html and "@media print" in html


def test_methods_from_results_and_provenance(small):
    _, [(rep, out), _] = small
    html = (out / "report.html").read_text()
    meth = html[html.index('id="methods"') : html.index('id="provenance"')]
    assert "Jacobson-Truax (1991)" in meth  # from the clinsig result's own method text
    assert "Kroenke" in meth  # instrument registry citation
    assert "Baseline: the score nearest admission" in meth  # episode rules text
    # 240 episodes: some groups lack an endpoint for fewer than 11 episodes, a count that is
    # the difference of two published counts; the report says so instead of staying silent
    assert "Review before sharing" in meth
    assert any(w.startswith("cross-table check") for w in rep.warnings)
    prov = rep.provenance
    assert prov["input"]["rows_read"] == int(prov["input"]["rows_read"]) > 0
    assert set(prov["versions"]) >= {"iop_outcomes", "numpy", "pandas", "python"}
    assert prov["configuration"]["sensitivity_methods"] == ["completers", "locf", "bocf"]


def test_minimal_file_suppression_off_and_sha256(tmp_path):
    """Only the required columns (totals, no items, no episode facts), suppression off."""
    d = iop.synth.generate(n_episodes=120, seed=6).data
    d = d[d["instrument"] == "PHQ-9"]
    items = [c for c in d.columns if c.startswith("item_")]
    d = d.assign(total=d[items].sum(axis=1))[
        ["patient_id", "instrument", "assessment_date", "total"]
    ]
    path = tmp_path / "in.csv"
    d.to_csv(path, index=False, date_format="%Y-%m-%d")
    cfg = {"suppression": {"enabled": False}, "sensitivity": {"enabled": False}}
    rep = iop.report(path, config=cfg, out=tmp_path / "r")
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Small-cell suppression is OFF" in html and 'class="banner"' in html
    assert ">&lt;11<" not in html
    assert rep.provenance["input"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rep.provenance["suppression"] == "OFF"
    # sections that need absent columns say so instead of failing
    assert "no &#x27;format&#x27; column" in html
    assert "could not be computed" in html and any("Kaplan" in w for w in rep.warnings)
    assert "could not be counted: the data give totals without item responses" in html
    assert re.findall(r"<h2>(.*?)</h2>", html) == SECTIONS


def test_committed_demo_has_no_patient_ids():
    if not COMMITTED.exists():
        pytest.skip("reports/demo/ has not been generated")
    demo = iop.synth.demo().data
    ids = set(demo["patient_id"]) | set(demo["episode_id"])
    text = _shared_text(COMMITTED)
    assert find_identifiers(text, ids) == []
    assert "P000001" not in text


def test_demo_regenerates_identically_and_renders_in_chromium(request, demo_dir, tmp_path):
    """One test (so that parallel workers build the demo report once): the regenerated demo
    tables equal the committed ones, and the report renders in headless Chromium."""
    if COMMITTED.exists():
        assert _csvs(demo_dir) == _csvs(COMMITTED)
    chromium = request.getfixturevalue("chromium")
    html = (demo_dir / "report.html").read_text()
    n_fig = html.count('class="report-figure"')
    assert n_fig >= 3
    # 1) the report as shipped: console must stay silent (CSP violations, load errors)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'ud1'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,4000",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            (demo_dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    assert shot.exists() and shot.stat().st_size > 10_000
    # 2) a copy with a probe script: every <img> decoded with a positive natural width
    probe = (
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.body.dataset.figs=i.map(x=>x.complete&&x.naturalWidth>0?'1':'0').join('');"
        "});</script></body>"
    )
    copy = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    copy = copy.replace("</body>", probe)
    (tmp_path / "probe.html").write_text(copy)
    run = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'ud2'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (tmp_path / "probe.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'data-figs="([01]*)"', run.stdout)
    assert m, run.stdout[-500:]
    assert m.group(1) == "1" * n_fig
    assert [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln] == []
    # 3) printing to PDF works (kept as an artifact)
    pdf = ARTIFACTS / "report.pdf"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'ud3'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            (demo_dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pdf.exists() and pdf.read_bytes()[:4] == b"%PDF"
