"""The shareable report: content, safety, determinism, the committed demo, a real browser."""

from __future__ import annotations

import dataclasses
import hashlib
import html as html_module
import json
import re
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

import iop_outcomes as iop
from iop_outcomes._report import find_identifiers
from iop_outcomes._report.safety import name_like_values
from iop_outcomes.cli import main

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
VERSIONS = re.compile(rb'<dt>Software</dt><dd>[^<]*</dd>|"versions": \{[^}]*\}')
STAMP = re.compile(r"(Data through|Generated \(UTC\)|Generated)(</dt><dd>| <time[^>]*>)[^<]*")
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
    "Outcomes over time",
    "Methods",
    "Provenance",
]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The same data and configuration built twice: stamped from the data (the default), and
    stamped with the clock, which SOURCE_DATE_EPOCH replaces."""
    sim = iop.synth.generate(n_episodes=240, seed=11)
    outs = []
    mp = pytest.MonkeyPatch()
    for i in range(2):
        if i == 1:
            mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        out = tmp_path_factory.mktemp(f"small{i}")
        rep = iop.report(sim, config=FAST, out=out, strict=True, timestamp=("data", "now")[i])
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


def _unstamped(d: Path) -> tuple:
    """A built report's files with its date stamp (label and value) taken out."""
    html = STAMP.sub("STAMP", (d / "report.html").read_text())
    prov = json.loads((d / "provenance.json").read_text())
    prov.pop("generated"), prov.pop("stamp")
    xlsx = [
        [c.value for c in r]
        for ws in load_workbook(d / "tables.xlsx")
        for r in ws.iter_rows()
        if str(r[0].value).lower() not in ("data through", "generated (utc)")
    ]
    return html, prov, xlsx


def test_deterministic_apart_from_timestamp(small):
    sim, [(ra, a), (rb, b)] = small
    # the default stamp is the quarter of the latest assessment date, read from the data
    last = pd.to_datetime(sim.data["assessment_date"]).max()
    quarter = f"{last.year}-Q{(last.month - 1) // 3 + 1}"
    assert (ra.generated, ra.stamp_label) == (quarter, "Data through")
    assert (
        f'Data through <time class="generated">{quarter}</time>' in (a / "report.html").read_text()
    )
    assert (ra.provenance["generated"], ra.provenance["stamp"]) == (quarter, "Data through")
    # timestamp="now" reads the clock, which SOURCE_DATE_EPOCH replaces
    assert (rb.generated, rb.stamp_label) == ("2023-11-14T22:13:20Z", "Generated (UTC)")
    assert "2023-11-14T22:13:20Z" in (b / "report.html").read_text()
    assert _csvs(a) == _csvs(b) and len(_csvs(a)) >= 20
    assert _unstamped(a) == _unstamped(b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"config": 3}, r"'config' parameter of iop.report must be an instance of 'str'"),
        ({"progress": "yes"}, r"'progress' parameter of iop.report must be True or False"),
        (
            {"period": 2025},
            r"'period' parameter of iop.report must be an instance of 'str' or None",
        ),
        ({"period_by": "referral"}, r"'period_by' .* one of 'discharge', 'admission' or None"),
        (
            {"pdf": "A5", "out": "x"},
            r"'pdf' parameter of iop.report must be True or False or one of 'a4', 'letter'",
        ),
        (
            {"timestamp": None},
            r"'timestamp' parameter of iop.report must be an instance of 'str'\. Got None",
        ),
    ],
)
def test_report_parameters_are_checked_before_the_build(kwargs, message):
    with pytest.raises(iop.ConfigError, match=message):
        iop.report(pd.DataFrame(), **kwargs)


def test_report_data_of_another_type_is_named():
    with pytest.raises(iop.ConfigError, match=r"'data' parameter of iop.report must be a file "):
        iop.report([1, 2, 3])


def test_timestamp_choices():
    from iop_outcomes._report.render import timestamp

    assert timestamp("data", ["2024-12-31", None]) == ("2024-Q4", "Data through")
    assert timestamp("data", []) == ("undated", "Data through")
    assert timestamp("  week 12 ") == ("week 12", "Generated")
    with pytest.raises(iop.ConfigError, match="'timestamp' parameter of report"):
        iop.report(pd.DataFrame(), timestamp="")


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
    # 240 episodes: some groups lack an endpoint for fewer than 11 episodes, a count that
    # would be the difference of two published counts; the report hides it and says how
    assert "difference or sum of counts in different tables" in meth
    assert "Review before sharing" not in meth
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
    assert "No control chart: the episodes have no admission dates" in html
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
        # `iop-outcomes demo` leaves git status clean: every file is rebuilt byte for byte
        # (package versions masked: a fresh environment may install newer releases)
        assert _csvs(demo_dir) == _csvs(COMMITTED)
        for f in ("report.html", "provenance.json", "tables.xlsx", "headline.json"):
            built, kept = ((d / f).read_bytes() for d in (demo_dir, COMMITTED))
            assert VERSIONS.sub(b"", built) == VERSIONS.sub(b"", kept), f
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


# ------------------------------------------------------------------ suppression across tables
def _num(v: str) -> float | None:
    """A CSV cell as a number, or None when it is hidden ('<11', '*') or empty."""
    try:
        return float(v)
    except ValueError:
        return None


def _episode_truth(sim, inst: str, col: str) -> pd.DataFrame:
    """Admitted and paired (baseline and endpoint both scored) episodes per group, computed
    here from the episode table, not by the report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(sim.data)
    ep = iop.episodes(loaded.data, instrument=inst)
    paired = ep["baseline"].notna() & ep["endpoint"].notna()
    g = ep[col].astype(str)
    return pd.DataFrame({"admitted": g.value_counts(), "paired": g[paired].value_counts()})


def _attacker(out: Path, inst: str, col: str, primary: bool) -> dict:
    """Everything a reader of the written CSV tables learns about each group of ``col``:
    ``{group: {"admitted": set, "paired": set, "in_paired": [...], "counts": [...]}}``.

    ``counts`` are all visible counts of the group (each counts a subset of the group's
    admitted episodes); ``in_paired`` the visible counts of subsets of its paired episodes.
    A hidden group count is filled in when the table's overall count and all the other groups'
    counts of the same population are visible somewhere (total minus the rest)."""
    slug = inst.lower().replace("-", "_")
    tabs = {
        p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((out / "tables").glob("*.csv"))
    }
    know: dict = {}

    def k(g):
        g = "Overall" if g in ("All", "Overall") else g
        return know.setdefault(
            g, {"admitted": set(), "paired": set(), "in_paired": [], "counts": []}
        )

    def add(g, v, *pops):
        x = _num(v)
        if x is None:
            return
        for p in pops:
            if p in ("admitted", "paired"):
                k(g)[p].add(x)
            else:
                k(g)[p].append(x)

    change = tabs[f"change_{slug}_{col}"]
    for _, r in change.iterrows():
        add(r["group"], r["n_episodes"], "admitted", "counts")
        add(r["group"], r["n_paired"], "paired", "counts")
        add(r["group"], r["n_unpaired"], "counts")
    for _, r in tabs[f"rates_{slug}_{col}"].iterrows():
        for c in ("k", "n"):
            add(r["group"], r[c], "in_paired", "counts")
    if col == "format":
        for _, r in tabs[f"clinsig_{slug}"].iterrows():
            add(r["group"], r["count"], "in_paired", "counts")
            add(r["group"], r["n"], "paired", "in_paired", "counts")
        for _, r in tabs[f"effect_sizes_{slug}"].iterrows():
            add(r["group"], r["n_used"], "paired", "in_paired", "counts")
        for _, r in tabs[f"compare_{slug}"].iterrows():
            a, b = r["contrast"].split(" - ")
            add(a, r["n_group"], "paired", "in_paired", "counts")
            add(b, r["n_reference"], "paired", "in_paired", "counts")
    if col == "format" and primary:
        flow = tabs["participant_flow"]
        for g in flow.columns[2:]:
            for _, r in flow.iterrows():
                add(g, r[g], *(["admitted"] if r["stage"] == "admitted" else []), "counts")
        for _, r in tabs["followup_response"].iterrows():
            add(r["group"], r["n_eligible"], "counts")
            add(r["group"], r["n_responded"], "counts")
        for _, r in tabs["dropout_survival"].iterrows():
            add(r["group"], r["n"], "admitted", "counts")
            for c in ("dropouts", "transfers", "censored"):
                add(r["group"], r[c], "counts")
        # a flow row's total minus the visible groups gives a single hidden group back
        groups = list(flow.columns[2:-1])
        for _, r in flow.iterrows():
            hidden = [g for g in groups if _num(r[g]) is None]
            if len(hidden) == 1 and _num(r["All"]) is not None:
                rest = sum(_num(r[g]) for g in groups if g != hidden[0])
                add(hidden[0], str(_num(r["All"]) - rest), "counts")
    # whole-cohort tables: every count is of admitted episodes; some are nested further
    o = k("Overall")
    o.setdefault("nested", [])
    if primary:
        for _, r in tabs.get("missing_data_sensitivity", pd.DataFrame()).iterrows():
            if not r["contrast"]:
                add("Overall", r["n_used"], "counts")
                add("Overall", r["n_missing"], "counts")
        for _, r in tabs["attrition"].iterrows():
            add("Overall", r["n_retained"], "counts")
            add("Overall", r["n_lost"], "counts")
        dur = tabs["durability"]
        flow = tabs["participant_flow"]
        for w in dur["window"].unique():
            d = dur[dur["window"] == w].set_index("measure")
            resp = flow[(flow["stage"] == f"followup_{w}") & (flow["status"] == "responded")]
            base = d.loc["change_from_endpoint", "n"]
            o["nested"].append((resp["All"].iloc[0], base))
            for m in ("kept_reliable_improvement", "relapse"):
                o["nested"] += [(base, d.loc[m, "n"]), (d.loc[m, "n"], d.loc[m, "count"])]
        nhs = tabs["nhs_benchmark"].set_index("outcome")
        for a in ("recovery", "reliable improvement"):
            o["nested"].append((nhs.loc[a, "count"], nhs.loc["reliable recovery", "count"]))
    # the whole cohort minus the other groups, population by population, across tables
    groups = [g for g in change["group"] if g != "Overall"]
    for pop in ("admitted", "paired"):
        for _ in groups:
            missing = [g for g in groups if not k(g)[pop]]
            if len(missing) == 1 and k("Overall")[pop]:
                tot = next(iter(k("Overall")[pop]))
                rest = sum(next(iter(k(g)[pop])) for g in groups if g != missing[0])
                k(missing[0])[pop].add(tot - rest)
    return know


def _leaks(know: dict, threshold: int = 11) -> list:
    """Differences of nested visible counts that are small counts of people."""
    out = []
    for g, kn in know.items():
        for a in kn["admitted"]:
            out += [(g, "admitted", a, x) for x in kn["counts"] if 1 <= a - x < threshold]
        for p in kn["paired"]:
            out += [(g, "paired", p, y) for y in kn["in_paired"] if 1 <= p - y < threshold]
        for a, x in kn.get("nested", []):
            a, x = _num(a), _num(x)
            if a is not None and x is not None and 1 <= a - x < threshold:
                out.append((g, "nested", a, x))
    return out


def _across_truth(sim, col: str) -> pd.DataFrame:
    """Per group of ``col``, from the episode tables (not the report): episodes admitted and
    paired under each instrument, and those paired (admitted) under one and not the other."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(sim.data)
    sets = {}
    for inst in ("PHQ-9", "GAD-7"):
        ep = iop.episodes(loaded.data, instrument=inst).set_index("episode_id")
        paired = ep["baseline"].notna() & ep["endpoint"].notna()
        g = ep[col].astype("object")
        sets[inst] = (g.where(g.notna(), "(missing)").astype(str), paired)
    (gp, pp), (gg, pg) = sets["PHQ-9"], sets["GAD-7"]
    both = gp.index.intersection(gg.index)
    rows = {
        "admitted_phq_only": gp[gp.index.difference(gg.index)],
        "admitted_gad_only": gg[gg.index.difference(gp.index)],
        "paired_phq_only": gp[pp & ~pg.reindex(gp.index, fill_value=False)],
        "paired_gad_only": gg[pg & ~pp.reindex(gg.index, fill_value=False)],
        "paired_both": gp[both][pp[both] & pg[both]],
    }
    out = pd.DataFrame({k: v.value_counts() for k, v in rows.items()}).fillna(0).astype(int)
    out.loc["Overall"] = out.sum()
    return out


def _cross_leaks(out: Path, col: str, threshold: int = 11) -> list:
    """Small differences between counts of one group in different instruments' tables, and
    between the whole-cohort tables that count the same episodes by other rules.

    * An episode of a group paired (admitted) on one instrument is nearly always paired
      (admitted) on the other, so ``paired_PHQ - paired_GAD`` is the net number of episodes
      paired on one only; any count of a group under one instrument counts (nearly) a subset
      of its episodes admitted under the other; the participant flow (the primary
      instrument's) is among these counts.
    * The NHS Talking Therapies n counts the episodes paired on either instrument (a
      finished course), so it is related to each instrument's paired episodes; the DRR-E
      denominators (PHQ-9 elevated at an index score) are related to the NHS denominators
      (at caseness on either instrument).

    Returns ``(group, relation, a, b)`` for every pair whose difference is from 1 to
    threshold - 1."""
    knows = {i: _attacker(out, i, col, primary=i == "PHQ-9") for i in ("PHQ-9", "GAD-7")}
    tabs = {
        p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((out / "tables").glob("*.csv"))
    }
    leaks = []

    def small(a, b):
        return 1 <= abs(a - b) < threshold

    for a_inst, a in knows.items():
        for b_inst, b in knows.items():
            if a_inst == b_inst:
                continue
            for g in sorted(set(a) & set(b)):
                ka, kb = a[g], b[g]
                leaks += [
                    (g, f"{a_inst} admitted - {b_inst} count", x, y)
                    for x in ka["admitted"]
                    for y in kb["counts"]
                    if 1 <= x - y < threshold
                ]
                leaks += [
                    (g, f"{a_inst} paired - {b_inst} paired subset", x, y)
                    for x in ka["paired"]
                    for y in [*kb["paired"], *kb["in_paired"]]
                    if 1 <= x - y < threshold
                ]
    if col == "format":  # the primary instrument's flow: measured and endpoint-scored episodes
        flow = tabs["participant_flow"]
        rows = flow[flow["status"].isin(["measured after baseline", "discharged, endpoint scored"])]
        for c in flow.columns[2:]:
            g = "Overall" if c == "All" else c
            kb = knows["GAD-7"][g]
            for x in filter(None, map(_num, rows[c])):
                leaks += [
                    (g, "PHQ-9 flow - GAD-7 paired subset", x, y)
                    for y in [*kb["paired"], *kb["in_paired"]]
                    if 1 <= x - y < threshold
                ]
    if col == "format":  # whole-cohort tables (the "Overall" rows of every by-format table)
        nhs = tabs.get("nhs_benchmark", pd.DataFrame(columns=["outcome", "n"]))
        qm = tabs.get("quality_measures", pd.DataFrame(columns=["denominator"]))
        nhs_n = {x for x in map(_num, nhs["n"]) if x is not None}
        qm_den = {x for x in map(_num, qm["denominator"]) if x is not None}
        nhs_all = {
            x
            for o, v in zip(nhs["outcome"], nhs["n"], strict=True)
            if "recover" not in o
            for x in [_num(v)]
            if x is not None
        }
        paired = {i: knows[i]["Overall"]["paired"] for i in knows}
        leaks += [
            ("Overall", "DRR-E denominator vs NHS n", x, y)
            for x in qm_den
            for y in nhs_n
            if small(x, y)
        ]
        leaks += [
            ("Overall", f"NHS n vs {i} paired", x, y)
            for i in paired
            for x in nhs_all
            for y in paired[i]
            if small(x, y)
        ]
    return sorted(set(leaks))


def _explained(leaks: list, truth: pd.DataFrame) -> list[str]:
    """Each leak with what the episode data say lies behind it (for failure messages)."""
    out = []
    for g, what, a, b in leaks:
        t = truth.loc[g].to_dict() if g in truth.index else {}
        out.append(f"{g}: {what}: {a:g} vs {b:g} (differ by {abs(a - b):g}; truth {t})")
    return out


@pytest.fixture(scope="module")
def policies(small, tmp_path_factory):
    """The 240-episode report of ``small`` under every disclosure-control policy:
    ``{policy: (sim, report, out)}``."""
    sim, [(rep, out), _] = small
    built = {"cms": (sim, rep, out)}
    for policy in ("round5", "none"):
        d = tmp_path_factory.mktemp(f"policy_{policy}")
        cfg = {**FAST, "suppression": {"policy": policy}}
        built[policy] = (sim, iop.report(sim, config=cfg, out=d, strict=True), d)
    return built


#: the smallest count each policy shows (counts below it are hidden)
_SHOWN_FROM = {"cms": 11, "round5": 5, "none": 11}


@pytest.mark.parametrize("policy", ["cms", "round5", "none"])
def test_no_small_count_is_the_difference_of_counts_in_different_tables(policies, policy):
    """An attacker's audit of the written tables, under every policy. 240 episodes:
    in_person has 116 admitted and 112 paired PHQ-9 episodes (truth from the episode table),
    so 4 are unpaired; each table alone hides that 4, but 116 in one table beside 112 in
    another gave it back. Under "cms" no published difference is a small count; under
    "round5" no published number is exact (every count a multiple of 5, every percentage and
    interval the one of the rounded counts, no mean singling out its n:
    :func:`_round5_leaks`); under "none" the audit finds the 4 (the audit can fail)."""
    sim, _, out = policies[policy]
    th = _SHOWN_FROM[policy]
    truth = _episode_truth(sim, "PHQ-9", "format")
    d = truth["admitted"] - truth["paired"]
    assert truth.loc["in_person", "paired"] >= 11 and 1 <= d["in_person"] <= 10
    found = []
    for inst in ("PHQ-9", "GAD-7"):
        for col in ("format", "site"):
            know = _attacker(out, inst, col, primary=inst == "PHQ-9")
            found += [(inst, col, *x) for x in _leaks(know, threshold=th)]
    for col in ("format", "site"):
        leaks = _cross_leaks(out, col, threshold=th)
        found += [(col, *x) for x in _explained(leaks, _across_truth(sim, col))]
    if policy == "round5":
        found += _round5_leaks(out, th)
        found += _interval_leaks(out, policies["none"][2], th)
    know = _attacker(out, "PHQ-9", "format", primary=True)
    if policy == "none":
        assert ("PHQ-9", "format", "in_person", "admitted", 116.0, 112.0) in found
        return
    assert found == []
    # the unpaired count itself is never published or derivable
    for a in know["in_person"]["admitted"]:
        assert a - d["in_person"] not in know["in_person"]["paired"]


#: proportion tables: (table name prefix, k column, n column, estimate column)
_PROPORTIONS = (
    ("rates_", "k", "n", "rate"),
    ("clinsig_", "count", "n", "estimate"),
    ("nhs_benchmark", "count", "n", "estimate"),
    ("quality_measures", "numerator", "denominator", "estimate"),
    ("followup_response", "n_responded", "n_eligible", "estimate"),
    ("durability", "count", "n", "estimate"),
)


def _wilson(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out (Wilson 1927)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return centre - half, centre + half


def _round5_candidates(shown: float, th: int) -> range:
    """The exact counts a count published under "round5" can stand for."""
    return range(max(int(shown) - 2, th), int(shown) + 3) if shown else range(0, 1)


def _proportion_leak(k, n, est, lo, hi, th: int) -> bool:
    """Whether a published proportion (with its Wilson interval) singles out exact counts
    other than the rounded ones shown beside it: the attacker tries every pair of exact
    counts that round to the published ``k`` and ``n``."""
    fits = {
        (a, b)
        for a in _round5_candidates(k, th)
        for b in _round5_candidates(n, th)
        if 0 <= a <= b
        and b > 0
        and abs(a / b - est) < 5e-7
        and all(abs(x - y) < 5e-7 for x, y in zip(_wilson(a, b), (lo, hi), strict=True))
    }
    return bool(fits) and (k, n) not in fits


def _mean_leak(means: list[str], n: float, th: int) -> bool:
    """Whether published means of whole-number scores single out their exact n: the sum
    ``mean * n`` must be a whole number, to the precision the CSV prints the mean."""
    fits = []
    for cand in _round5_candidates(n, th):
        ok = True
        for m in means:
            x = _num(m)
            if x is None:
                continue
            tol = 0.5 * 10 ** -(len(m.split(".")[1]) if "." in m else 0) * cand + 1e-9
            ok &= abs(x * cand - round(x * cand)) <= tol
        if ok:
            fits.append(cand)
    return len(fits) == 1


def _round5_leaks(out: Path, th: int = 5) -> list:
    """What an attacker who knows the "round5" rules gets exactly from the written CSVs:
    a count that is not a multiple of 5 (an unrounded count), a percentage or interval that
    is not the one of the rounded counts beside it (then the exact pair is found by trying
    the 25 pairs that round to them), and means that single out the exact n."""
    out_ = []
    for p in sorted((out / "tables").glob("*.csv")):
        f = pd.read_csv(p, dtype=str, keep_default_na=False)
        cols = [c for c in f.columns if c in COUNT_COLUMNS]
        if p.stem == "participant_flow":
            cols = [c for c in f.columns if c not in ("stage", "status")]
        if p.stem.startswith("severity_shift"):
            cols = [c for c in f.columns if c != "baseline band"]
        if p.stem == "ledger_reasons":
            cols = ["rows"]
        for c in cols:
            for v in f[c]:
                x = _num(v)
                if x is not None and x % 5:
                    out_.append((p.stem, c, v, "not rounded"))
        for prefix, k, n, e in _PROPORTIONS:
            if not p.stem.startswith(prefix) or k not in f:
                continue
            for _, r in f.iterrows():
                vals = [_num(r[c]) for c in (k, n, e, "ci_low", "ci_high")]
                if None in vals:
                    continue
                if _proportion_leak(*vals, th):
                    out_.append((p.stem, r.iloc[0], r.iloc[1], "exact counts behind the rate"))
        if p.stem.startswith("change_"):
            for _, r in f.iterrows():
                n = _num(r["n_paired"])
                if n is not None and _mean_leak([r["baseline_mean"], r["endpoint_mean"]], n, th):
                    out_.append((p.stem, r["group"], "exact n behind the means"))
    return out_


def _shown_bounds(v: str, th: int) -> tuple[int, int]:
    """The exact counts a cell published under "round5" can stand for: ``<5`` is 1 to 4, a
    shown 5 is 5 to 7 (3 and 4 would read ``<5``), 115 is 113 to 117, 0 is 0."""
    if v == f"<{th}":
        return (1, th - 1)
    x = _num(v)
    if x is None:
        return (0, 10**9)
    return (0, 0) if x == 0 else (max(int(x) - 2, th), int(x) + 2)


def _interval_leaks(out: Path, exact: Path, th: int = 5) -> list:
    """An attacker who reasons with bounds: every published count of the participant flow and
    the change tables is an interval of possible exact counts, and the sums that hold between
    them (groups add up to the whole cohort, a flow stage's statuses to the episodes admitted,
    paired + unpaired = episodes; learnt here from the same report built without disclosure
    control, ``exact``) narrow the intervals, repeated until nothing changes. Returns every
    count pinned to one exact value other than 0."""
    var: dict = {}
    cons: list = []

    def read(d: Path, name: str) -> pd.DataFrame:
        return pd.read_csv(d / "tables" / f"{name}.csv", dtype=str, keep_default_na=False)

    flow, flow_x = read(out, "participant_flow"), read(exact, "participant_flow")
    cols = list(flow.columns[2:])
    for i, r in flow.iterrows():
        for g in cols:
            var[("flow", i, g)] = _shown_bounds(r[g], th)
        cons.append((("flow", i, cols[-1]), [("flow", i, g) for g in cols[:-1]]))
    adm = flow.index[flow["stage"] == "admitted"][0]
    for stage, rows in flow.groupby("stage").groups.items():
        for g in cols:
            if stage != "admitted" and sum(float(flow_x.loc[r, g]) for r in rows) == float(
                flow_x.loc[adm, g]
            ):
                cons.append((("flow", adm, g), [("flow", r, g) for r in rows]))
    for p in sorted((out / "tables").glob("change_*.csv")):
        t, tx = read(out, p.stem), read(exact, p.stem)
        counts = ("n_episodes", "n_paired", "n_unpaired")
        for i, r in t.iterrows():
            for c in counts:
                var[(p.stem, i, c)] = _shown_bounds(r[c], th)
            cons.append(
                ((p.stem, i, "n_episodes"), [(p.stem, i, "n_paired"), (p.stem, i, "n_unpaired")])
            )
        tot = t.index[t["group"] == "Overall"][0]
        rest = [i for i in t.index if i != tot]
        for c in counts:
            if sum(float(tx.loc[i, c]) for i in rest) == float(tx.loc[tot, c]):
                cons.append(((p.stem, tot, c), [(p.stem, i, c) for i in rest]))
    changed = True
    while changed:
        changed = False
        for total, members in cons:
            lo = {k: var[k][0] for k in (total, *members)}
            hi = {k: var[k][1] for k in (total, *members)}
            new = {
                total: (
                    max(lo[total], sum(lo[m] for m in members)),
                    min(hi[total], sum(hi[m] for m in members)),
                )
            }
            for m in members:
                others_lo = sum(lo[o] for o in members if o != m)
                others_hi = sum(hi[o] for o in members if o != m)
                new[m] = (max(lo[m], lo[total] - others_hi), min(hi[m], hi[total] - others_lo))
            for k, b in new.items():
                if b != var[k]:
                    var[k], changed = b, True
    return sorted(k for k, (lo, hi) in var.items() if lo == hi and lo != 0)


def test_round5_attacker_finds_unrounded_numbers(tmp_path):
    """The audit above can fail: a rate computed from the exact 13 of 113 beside the rounded
    15 of 115, a mean printed to six decimals, or rounded counts whose sums leave one value
    (116 admitted shown as 115, with 110 + <5 endpoint-scored and 50 + 70 followed up) give
    exact counts back."""
    flow = [
        ("admitted", "admitted", 116),
        ("endpoint", "discharged, endpoint scored", 112),
        ("endpoint", "discharged, no endpoint score", 4),
        ("followup_1m", "responded", 48),
        ("followup_1m", "eligible, no response", 68),
    ]
    for d, shown in (
        (tmp_path / "x", str),
        (tmp_path / "r", lambda v: "<5" if v < 5 else str(5 * round(v / 5))),
    ):
        (d / "tables").mkdir(parents=True)
        pd.DataFrame(
            [(a, b, shown(v), shown(v)) for a, b, v in flow],
            columns=["stage", "status", "in_person", "All"],
        ).to_csv(d / "tables" / "participant_flow.csv", index=False)
        pd.DataFrame(
            [(g, shown(116), shown(112), shown(4)) for g in ("Overall", "in_person")],
            columns=["group", "n_episodes", "n_paired", "n_unpaired"],
        ).to_csv(d / "tables" / "change_x.csv", index=False)
    assert ("flow", 0, "in_person") in _interval_leaks(tmp_path / "r", tmp_path / "x")
    lo, hi = _wilson(13, 113)
    assert _proportion_leak(15, 115, 13 / 113, lo, hi, 5)
    lo, hi = _wilson(15, 115)
    assert not _proportion_leak(15, 115, 15 / 115, lo, hi, 5)
    assert _mean_leak([f"{1614 / 113:.6f}", f"{1001 / 113:.6f}"], 115, 5)  # n = 113
    assert not _mean_leak([f"{1614 / 113:.1f}", f"{1001 / 113:.1f}"], 115, 5)


@pytest.mark.parametrize("policy", ["cms", "round5", "none"])
def test_policy_is_stated_in_the_methods_and_on_the_first_page(policies, policy):
    _, rep, out = policies[policy]
    page = re.sub(r"\s+", " ", html_module.unescape((out / "report.html").read_text()))
    meth = page[page.index('id="methods"') : page.index('id="provenance"')]
    summary = page[page.index('id="summary"') : page.index('id="data-quality"')]
    banner = 'class="banner"' in page
    if policy == "cms":
        assert "Small-cell suppression: counts from 1 to 10 are shown as '<11'" in meth
        assert "Cell size suppression policy (minimum cell size 11)" in meth
        assert "Counts from 1 to 10 are hidden (shown as '<11')" in summary and not banner
        assert rep.provenance["suppression"] == "threshold 11 (counts 1-10 hidden)"
    elif policy == "round5":
        assert 'Disclosure control (policy "round5"' in meth
        assert "rounded to the nearest 5 (for example 7 is shown as 5 and 13 as 15)" in meth
        assert "NHS England" in meth and "Mental Health Services Data Set" in meth
        assert "every count is rounded to the nearest 5" in summary and not banner
        assert rep.provenance["suppression"].startswith("round5: counts rounded")
        assert rep.provenance["configuration"]["suppression_policy"] == "round5"
        assert ">&lt;5<" in (out / "report.html").read_text()
    else:
        assert 'policy "none"' in meth and "must not be shared outside" in meth
        assert "Small-cell suppression is OFF in this report" in page and banner
        assert rep.provenance["suppression"] == "OFF"
        assert "&lt;11" not in (out / "report.html").read_text()


@pytest.mark.parametrize("policy", ["cms", "round5"])
def test_suppression_settles_on_replays_as_full_passes_would(monkeypatch, policy):
    """The passes that settle the suppression replay what the first pass published instead
    of building the sections again (_settle_suppression); a replay must publish exactly what
    a full pass with the same hidden and protected populations does. 240 episodes, where the
    cross-table check hides more than the tables alone: two full passes, the last one's counts
    and sums equal to a replay of the first's."""
    from iop_outcomes._report import build
    from iop_outcomes._report.context import Ctx

    passes, settled = [], []
    full, settle = build._build_sections, build._settle_suppression

    def counting(ctx, **kw):
        passes.append(ctx)
        return full(ctx, **kw)

    def keep(*args):
        out = settle(*args)
        settled.append(out[0])
        return out

    monkeypatch.setattr(build, "_build_sections", counting)
    monkeypatch.setattr(build, "_settle_suppression", keep)
    sim = iop.synth.generate(n_episodes=240, seed=11)
    cfg = {**FAST, "suppression": {"policy": policy}}
    iop.report(sim, config=cfg, strict=True)
    final = settled[0]
    assert final.forced, "the check hid nothing: the test needs data where it does"
    assert len(passes) == 2 and passes[-1] is final
    replay = Ctx(
        final.cfg,
        True,
        forced=final.forced,
        protected=final.protected,
        suppressed=final.suppressed,
    )
    replay.replay(passes[0].published)
    assert replay.cells == final.cells
    assert replay.identities == final.identities


def test_cross_table_audit_sees_the_numbers_when_suppression_is_off(tmp_path):
    """With suppression turned off the same audit finds the small differences: the audit can
    fail, and the numbers are shown as they are."""
    sim = iop.synth.generate(n_episodes=240, seed=11)
    cfg = {**FAST, "sensitivity": {"enabled": False}, "suppression": {"enabled": False}}
    # five hybrid episodes without a format: every table labels their group "(missing)"
    hybrid = sim.data.loc[sim.data["format"] == "hybrid", "episode_id"].unique()[:5]
    sim.data.loc[sim.data["episode_id"].isin(hybrid), "format"] = None
    # three in_person episodes not given the GAD-7: still admitted (an episode is admitted
    # whatever its questionnaires), but paired on the PHQ-9 only
    no_gad = sim.data.loc[sim.data["format"] == "in_person", "episode_id"].unique()[:3]
    drop = sim.data["episode_id"].isin(no_gad) & (sim.data["instrument"] == "GAD-7")
    sim = dataclasses.replace(sim, data=sim.data[~drop])
    iop.report(sim, config=cfg, out=tmp_path, strict=True)
    truth = _episode_truth(sim, "PHQ-9", "format")
    know = _attacker(tmp_path, "PHQ-9", "format", primary=True)
    assert truth.loc["in_person", "admitted"] in know["in_person"]["admitted"]
    assert truth.loc["in_person", "paired"] in know["in_person"]["paired"]
    assert ("in_person", "admitted", 116.0, 112.0) in _leaks(know)
    assert know["(missing)"]["admitted"] == {5.0}
    assert set(pd.read_csv(next((tmp_path / "tables").glob("clinsig_phq_9.csv")))["group"]) == {
        "Overall",
        "in_person",
        "virtual",
        "hybrid",
        "(missing)",
    }
    html = (tmp_path / "report.html").read_text()
    assert "Small-cell suppression was turned OFF" in html and ">&lt;11<" not in html
    # across instruments: the paired counts of a group differ by the episodes paired on one
    # questionnaire and not the other (truth from the episode tables, not the report)
    across = _across_truth(sim, "format")
    leaks = set(_cross_leaks(tmp_path, "format"))
    net = across["paired_phq_only"] - across["paired_gad_only"]
    for g in ("Overall", "in_person"):
        phq = across.loc[g, "paired_both"] + across.loc[g, "paired_phq_only"]
        assert 1 <= net[g] <= 10
        assert (g, "PHQ-9 paired - GAD-7 paired subset", phq, phq - net[g]) in leaks, g


def test_grouping_column_missing_from_the_data_is_a_config_error(tmp_path, capsys):
    sim = iop.synth.generate(n_episodes=60, seed=3)
    data = tmp_path / "d.csv"
    sim.data.to_csv(data, index=False)
    study = tmp_path / "study.toml"
    study.write_text('groupings = ["format", "clinic"]\n')
    with pytest.raises(iop.ConfigError) as e:
        iop.report(data, config=study)
    msg = str(e.value)
    assert "'clinic'" in msg and str(study) in msg
    assert "Columns available for grouping: [" in msg and "'site'" in msg and "'payer'" in msg
    study.write_text('[comparison]\ngroup = "modality"\nreference = "in_person"\n')
    with pytest.raises(iop.ConfigError, match=r"\[comparison\] group names 'modality'"):
        iop.report(data, config=study)
    # the command line prints it as one paragraph, without a traceback
    code = main(["report", str(data), "--config", str(study), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err and "'modality'" in err
    assert len([ln for ln in err.strip().split("\n\n") if ln]) == 1
    # (the defaults, format and site, may be absent: test_minimal_file_... builds without them)


@pytest.fixture(scope="module")
def person_site(tmp_path_factory):
    """600 episodes at 3 sites, one named after a person, grouped by format and site: before
    the relations across instruments were modelled, the paired counts of the site named after
    a person differed by 1 between the PHQ-9 and GAD-7 tables (182 vs 181)."""
    sim = iop.synth.generate(n_episodes=600, seed=2, sites=("Dr Jane Smith", "North", "East"))
    out = tmp_path_factory.mktemp("person_site")
    cfg = {**FAST, "groupings": ["format", "site"]}
    rep = iop.report(sim, config=cfg, out=out, strict=True)
    return sim, rep, out


def test_site_named_after_a_person_no_small_count_recovered(person_site):
    sim, _, out = person_site
    for col in ("format", "site"):
        for inst in ("PHQ-9", "GAD-7"):
            assert _leaks(_attacker(out, inst, col, primary=inst == "PHQ-9")) == [], (inst, col)
        leaks = _cross_leaks(out, col)
        assert leaks == [], _explained(leaks, _across_truth(sim, col))


def test_site_named_after_a_person_is_asked_about_not_repeated(person_site):
    """The load summary (stays inside the organisation) names the value; the shareable
    report asks about it without repeating it."""
    sim, rep, out = person_site
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = str(iop.load(sim.data).summary())
    assert "site values look like people's names: 'Dr Jane Smith'" in summary
    html = (out / "report.html").read_text()
    quality = html[html.index('id="data-quality"') : html.index('id="participant-flow"')]
    assert "1 of the 3 site values look like people&#x27;s names" in quality
    assert "rename them in the data before sharing this report" in quality
    assert "Jane" not in quality and "Smith" not in quality
    assert any("look like people's names" in w and "Jane" not in w for w in rep.warnings)
    # the demo's sites (North, Central, South) are not names: no question asked
    assert not name_like_values(iop.synth.demo().data)


def test_files_do_not_depend_on_the_last_bits_of_a_number(tmp_path):
    # the same result computed along another summation order (another CPU's BLAS kernel)
    # differs in its last bits; tables, workbook and figures must not show it
    from matplotlib.figure import Figure

    from iop_outcomes._report.render import ReportTable, figure_to_svg, write_csv, write_xlsx

    def files(x: float, d: Path) -> list[bytes]:
        d.mkdir()
        t = ReportTable("t", "T", pd.DataFrame({"estimate": [x, 2.5]}))
        fig = Figure()
        ax = fig.subplots()
        ax.plot([0, 1], [0, x])
        ax.set_ylim(0, 1)  # the report draws rounded values; clip ids must not hash the rest
        return [
            write_csv(t, d / "t.csv").read_bytes(),
            write_xlsx([t], d / "t.xlsx", title="T").read_bytes(),
            figure_to_svg(fig).encode(),
        ]

    a = files(0.1 + 0.2, tmp_path / "a")  # 0.30000000000000004
    b = files(0.3, tmp_path / "b")
    assert a[0] == b[0] and a[1] == b[1]
    # clip paths numbered in order, not named by a hash of their full-precision geometry
    assert re.findall(rb'id="p[0-9a-f]{10}"', a[2]) == [] and re.findall(rb'id="p\d+"', a[2])


def _six_unpaired():
    """The 240-episode data with all but 6 of the episodes without a PHQ-9 pair left out."""
    sim = iop.synth.generate(n_episodes=240, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = iop.episodes(iop.load(sim.data).data, instrument="PHQ-9")
    unpaired = ep.loc[ep["baseline"].isna() | ep["endpoint"].isna(), "episode_id"]
    assert len(unpaired) > 6
    return dataclasses.replace(sim, data=sim.data[~sim.data["episode_id"].isin(unpaired.iloc[6:])])


def test_headline_stays_shown_when_a_few_episodes_lack_an_endpoint(tmp_path):
    """Issue 11: 6 of the admitted episodes lack a PHQ-9 score at one end. The overall paired
    n and the overall response, remission and recovery rates stay shown (complements are
    taken elsewhere: here the number admitted), and the attacker's audit of the written
    tables still recovers no small count."""
    sim = _six_unpaired()
    iop.report(sim, config=FAST, out=tmp_path, strict=True)
    truth = _episode_truth(sim, "PHQ-9", "format")
    admitted, paired = truth["admitted"].sum(), truth["paired"].sum()
    assert admitted - paired == 6 and paired >= 100

    def table(name):
        return pd.read_csv(next((tmp_path / "tables").glob(f"{name}.csv")), dtype=str)

    change = table("change_phq_9_format").set_index("group")
    assert float(change.loc["Overall", "n_paired"]) == paired
    assert change.loc["Overall", "n_unpaired"] == "<11"
    assert change.loc["Overall", "n_episodes"] == "*"  # the complement: not the headline
    rates = table("rates_phq_9_format")
    for measure in ("response (≥50% reduction)", "remission"):
        r = rates[(rates["group"] == "Overall") & (rates["measure"] == measure)].iloc[0]
        assert float(r["n"]) == paired  # response among all paired episodes
        assert float(r["rate"]) == pytest.approx(float(r["k"]) / paired, abs=1e-6)  # 6 decimals
    cs = table("clinsig_phq_9")
    rec = cs[(cs["group"] == "Overall") & (cs["outcome"] == "recovered")].iloc[0]
    assert float(rec["n"]) == paired and float(rec["estimate"]) > 0
    for inst in ("PHQ-9", "GAD-7"):
        for col in ("format", "site"):
            assert _leaks(_attacker(tmp_path, inst, col, primary=inst == "PHQ-9")) == []
    for col in ("format", "site"):
        leaks = _cross_leaks(tmp_path, col)
        assert leaks == [], _explained(leaks, _across_truth(sim, col))
    text = re.sub(r"<[^>]+>", " ", (tmp_path / "report.html").read_text())
    assert f"{int(paired):,} episodes had a PHQ-9 score at both" in re.sub(r"\s+", " ", text)
    assert "could not be protected" not in text
    glance = re.sub(r"\s+", " ", text.split("At a glance", 1)[1].split("Do not conclude")[0])
    r = rates[(rates["group"] == "Overall") & rates["measure"].str.startswith("response")]
    assert "with a PHQ-9 score at the start and the end" in glance
    assert f"{100 * float(r['rate'].iloc[0]):.1f}% (95% CI" in glance  # from the table
    assert "number admitted not shown" in glance
    # the ledger: a few rows quarantined (hidden), so a second disposition is hidden in
    # Table 1; its reasons in Table 2 must not add back up to it
    disp = table("ledger_dispositions").set_index("disposition")["rows"]
    reasons = table("ledger_reasons")
    assert disp["quarantined"] == "<11"
    for d in disp.index[disp == "*"]:
        shown = reasons.loc[reasons["disposition"] == d, "rows"]
        assert not shown.str.isdigit().all(), (d, shown.tolist())


def test_flow_without_comparison_groups_counts_every_episode():
    # without a format column the flow has one group, "(all)": its counts are the All column
    # (they were 0 in every row: the sum of no group columns)
    from iop_outcomes._report.sections.flow import _flow_wide

    ep = pd.DataFrame(
        {
            "episode_id": ["a", "b", "c", "d"],
            "baseline": [10.0, 12.0, None, 15.0],
            "endpoint": [5.0, None, None, 9.0],
            "discharge_status": ["completed", "dropped_out", "dropped_out", "completed"],
            "los_days": [40, 10, 3, 41],
        }
    )
    flow = iop.retention(ep, group=None, tests=False).flow
    wide, groups = _flow_wide(flow)
    assert groups == []
    got = dict(zip(wide["status"], wide["All"], strict=True))
    assert got["admitted"] == 4
    assert got["baseline measured"] == 3 and got["no baseline score"] == 1


@pytest.mark.parametrize("policy", ["round5", "none"])
def test_headline_stays_shown_under_every_policy(tmp_path, policy):
    """The same 6 episodes without an endpoint (the "cms" case is the test above): the overall
    paired n and the response, remission and recovery rates are shown, rounded under
    "round5" (rates worked out from the rounded counts), exact under "none"."""
    sim = _six_unpaired()
    cfg = {**FAST, "sensitivity": {"enabled": False}, "suppression": {"policy": policy}}
    iop.report(sim, config=cfg, out=tmp_path, strict=True)
    truth = _episode_truth(sim, "PHQ-9", "format")
    admitted, paired = truth["admitted"].sum(), truth["paired"].sum()
    assert admitted - paired == 6 and paired >= 100

    def shown(x):  # 7 -> 5, 13 -> 15 under round5; as it is under none
        return 5 * int(x / 5 + 0.5) if policy == "round5" else int(x)

    def table(name):
        return pd.read_csv(tmp_path / "tables" / f"{name}.csv", dtype=str)

    change = table("change_phq_9_format").set_index("group")
    assert float(change.loc["Overall", "n_paired"]) == shown(paired)
    assert float(change.loc["Overall", "n_episodes"]) == shown(admitted)
    assert float(change.loc["Overall", "n_unpaired"]) == shown(6)  # 6 -> 5: not exact
    rates = table("rates_phq_9_format")
    for measure in ("response (≥50% reduction)", "remission"):
        r = rates[(rates["group"] == "Overall") & (rates["measure"] == measure)].iloc[0]
        assert float(r["n"]) == shown(paired)
        assert float(r["rate"]) == pytest.approx(float(r["k"]) / float(r["n"]), abs=1e-6)
        assert (float(r["ci_low"]), float(r["ci_high"])) == pytest.approx(
            _wilson(float(r["k"]), float(r["n"])), abs=1e-6
        )
    cs = table("clinsig_phq_9")
    rec = cs[(cs["group"] == "Overall") & (cs["outcome"] == "recovered")].iloc[0]
    assert float(rec["n"]) == shown(paired)
    assert float(rec["estimate"]) == pytest.approx(float(rec["count"]) / shown(paired), abs=1e-6)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (tmp_path / "report.html").read_text()))
    assert f"{shown(paired):,} of {shown(admitted):,} episodes had a PHQ-9 score at both" in text
    glance = text.split("At a glance", 1)[1].split("Do not conclude")[0]
    r = rates[(rates["group"] == "Overall") & rates["measure"].str.startswith("response")]
    assert f"{100 * float(r['rate'].iloc[0]):.1f}% (95% CI" in glance
    if policy == "round5":
        assert _round5_leaks(tmp_path) == []


def test_round5_draws_no_kaplan_meier_figure(policies):
    # its steps and numbers at risk are exact counts; round5 publishes counts rounded to 5
    for policy in ("cms", "round5"):
        _, rep, out = policies[policy]
        page = re.sub(r"\s+", " ", html_module.unescape((out / "report.html").read_text()))
        said = "not drawn under the round5 policy" in page
        assert said == (policy == "round5")
        if policy == "round5":
            assert not any(f.key.startswith("dropout_km") for f in rep.figures)


def test_results_declare_what_their_columns_count():
    # the report reads the column roles from the results (TableResult.roles) instead of
    # restating them per table: every count column has a role, and every role names columns
    # of the table (a misspelt column would leave a rate unprotected)
    sim = iop.synth.generate(n_episodes=300, seed=5)
    data = iop.load(sim.data).data
    ep = iop.episodes(data, instrument="PHQ-9")
    tables = {
        "change_summary": (iop.change_summary(ep, by="format"), "table"),
        "clinical_significance": (iop.clinical_significance(ep, by="format"), "table"),
        "compare": (iop.compare(ep, group="format", reference="in_person"), "table"),
        "dropout_survival": (iop.dropout_survival(ep, group="format"), "table"),
        "retention": (iop.retention(ep, group="format", tests=False), "followup"),
        "durability": (iop.durability(ep, instrument="PHQ-9"), "table"),
        "quality_measures": (iop.quality_measures(data), "table"),
        "over_time": (iop.over_time(ep, outcome="response", instrument="PHQ-9"), "table"),
        "over_time_change": (iop.over_time(ep, outcome="change", instrument="PHQ-9"), "table"),
    }
    for name, (res, attr) in tables.items():
        t = getattr(res, attr)
        assert res.roles, name
        names = r"n|count|n_\w+|\w+_n|numerator|denominator|dropouts|censored|transfers"
        counted = [
            c
            for c in t.columns
            if re.fullmatch(names, str(c)) and pd.api.types.is_numeric_dtype(t[c])
        ]
        assert set(counted) <= set(res.roles), (name, set(counted) - set(res.roles))
        for col, role in res.roles.items():
            if role == "count":
                continue
            named = re.fullmatch(r"(?:count of|from|statistic of) (.+)", role)
            assert named, (name, col, role)
            for base in named.group(1).split(", "):
                assert base in res.roles, (name, col, role)


def test_an_analysis_error_naming_episodes_does_not_name_them_in_the_report(tmp_path):
    # the messy generator makes the format change within a few episodes: the trajectory model
    # refuses them by id; the report prints why, with the ids redacted (it used to refuse to
    # write the whole report, its final identifier check having caught them)
    sim = iop.synth.generate(n_episodes=200, seed=1, messy=True)
    cfg = {"sensitivity": {"enabled": False}}
    rep = iop.report(sim, config=cfg, out=tmp_path)
    page = html_module.unescape((tmp_path / "report.html").read_text())
    assert "Trajectories could not be computed" in page and "[identifier]" in page
    ids = set(iop.load(sim.data).data["episode_id"].astype(str))
    assert not set(re.findall(r"E\d{6}", page)) & ids
    assert rep.warnings and all("E0" not in w for w in rep.warnings)


def test_episodes_built_once_for_all_instruments_equal_one_call_per_instrument():
    # the report builds the episode tables in one pass (a list of instruments) and splits
    # them; each must be the table iop.episodes gives for that instrument alone
    from types import SimpleNamespace

    from iop_outcomes._report.build import _episodes_by_instrument

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(iop.synth.generate(n_episodes=80, seed=11).data)
    rules = iop.EpisodeRules(endpoint="last_in_treatment")
    for sensitivity in (True, False):  # with and without the sensitivity section's tables
        cfg = SimpleNamespace(
            instruments=["GAD-7", "PHQ-9", "PCL-5"],  # PCL-5: no rows
            primary_instrument="PHQ-9",
            sensitivity_enabled=sensitivity,
        )
        eps, sens = _episodes_by_instrument(loaded, cfg, rules)
        assert list(eps) == ["GAD-7", "PHQ-9"]
        for inst, ep in eps.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = iop.episodes(loaded.data, instrument=inst, rules=rules)
            pd.testing.assert_frame_equal(ep, want, check_exact=True)
            assert ep.attrs == want.attrs and len(ep) == 80
        assert (sens is None) != sensitivity
        if sens:  # the primary instrument's, with the discharge endpoint (test_episodes)
            assert sens[0].attrs["rules"]["endpoint"] == "discharge_only"
            assert set(sens[0]["instrument"]) == {"PHQ-9"}


def test_trajectory_contrasts_use_the_study_reference(demo_dir):
    """The trajectory model's group terms are contrasts with the study's reference group
    (``[comparison] reference``, in_person), as the comparisons are, not with the data's first
    level (hybrid, the first in sorted order)."""
    terms = pd.read_csv(demo_dir / "tables" / "trajectory_phq_9.csv")["term"].tolist()
    assert "format[hybrid]" in terms and "format[virtual]" in terms
    assert not any("in_person" in t for t in terms)
