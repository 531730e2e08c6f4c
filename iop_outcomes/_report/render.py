"""Rendering: a self-contained HTML document, CSV and XLSX tables, deterministic figures.

- HTML: one file, inline CSS, figures as base64 SVG ``<img>`` data URIs, no scripts, and a
  Content-Security-Policy that forbids loading anything from the network, so the file opens
  offline. It reads at 1280 and 768 px (a table wider than the screen scrolls inside its own
  box) and has print rules (no heading left at a page foot, tables and figures kept whole,
  tables that fit A4) for the browser's Print dialog and for :mod:`.pdf` (``--pdf``).
  ``tests/test_report_browser.py`` checks all of this in headless Chromium.
- Determinism: figures are written with a fixed ``svg.hashsalt`` and no date/creator metadata;
  tables with a fixed float format; the XLSX archive with fixed member timestamps and document
  properties; the date stamp comes from the data by default (:func:`timestamp`). The same data,
  configuration and seed therefore give byte-identical files.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
import re
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._results import fmt_value
from ..exceptions import ConfigError
from .safety import (
    neutralise_formulas,
    neutralise_text,
    neutralised_values,
    scrub_identifiers,
)

__all__ = [
    "ReportTable",
    "ReportFigure",
    "Section",
    "figure_to_svg",
    "svg_data_uri",
    "file_cells",
    "write_csv",
    "write_xlsx",
    "render_html",
    "timestamp",
]

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def timestamp(when: str = "data", dates: Any = None) -> tuple[str, str]:
    """The report's date stamp and its label, reproducible by default.

    ``when="data"`` (the default) stamps the report with the calendar quarter of the latest
    assessment date among ``dates`` (e.g. ``"2025-Q2"``, labelled "Data through"): the same data
    always give the same stamp, so rebuilding a report changes no byte, and a quarter names no
    individual's visit. ``when="now"`` stamps the generation time in UTC (ISO 8601, seconds),
    labelled "Generated (UTC)"; as the reproducible-builds convention asks, ``SOURCE_DATE_EPOCH``
    (seconds since 1970) replaces the clock when set. Any other string is used as given
    (labelled "Generated").

    Examples
    --------
    >>> import pandas as pd
    >>> timestamp("data", pd.to_datetime(["2025-01-31", "2025-05-02"]))
    ('2025-Q2', 'Data through')
    >>> timestamp("2026-01-15")
    ('2026-01-15', 'Generated')
    """
    if when == "data":
        s = dates if isinstance(dates, pd.Series) else pd.Series(dates, dtype=object)
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):  # dated rows are datetimes
            s = pd.to_datetime(s.astype(object), errors="coerce")
        d = s.max()
        if pd.isna(d):
            return "undated", "Data through"
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}", "Data through"
    if when == "now":
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch and epoch.strip().isdigit():
            t = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC)
        else:
            t = _dt.datetime.now(tz=_dt.UTC)
        return t.replace(microsecond=0).isoformat().replace("+00:00", "Z"), "Generated (UTC)"
    if not isinstance(when, str) or not when.strip():
        raise ConfigError(
            "The 'timestamp' parameter of report must be 'data', 'now' or a date text. "
            f"Got {when!r} instead."
        )
    return when.strip(), "Generated"


# --------------------------------------------------------------------------- content blocks
@dataclass
class ReportTable:
    """A shareable table: already suppressed and scrubbed (``frame``), with its caption."""

    key: str
    title: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()
    method: str = ""
    digits: int = 2
    index: bool = False
    #: columns of proportions, shown in the HTML as percentages with one decimal (only in
    #: the rows of ``percent_rows`` when given)
    percent: tuple[str, ...] = ()
    percent_rows: Any = None
    #: the study file's ``[labels]`` (codes -> the program's words), over :data:`LABELS`
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ReportFigure:
    """A figure as deterministic SVG text."""

    key: str
    title: str
    svg: str
    alt: str = ""
    caption: str = ""


@dataclass
class Section:
    """A report section: id, heading and blocks (HTML strings, tables, figures)."""

    id: str
    title: str
    blocks: list[Any] = field(default_factory=list)

    def p(self, text: str) -> None:
        """Add a paragraph of plain text (escaped)."""
        self.blocks.append(f"<p>{html.escape(text)}</p>")

    def html(self, markup: str) -> None:
        """Add trusted markup built by this package (callers escape their values)."""
        self.blocks.append(markup)

    def bullets(self, items: Sequence[str]) -> None:
        """Add a bulleted list of plain-text items."""
        lis = "".join(f"<li>{html.escape(t)}</li>" for t in items)
        self.blocks.append(f"<ul>{lis}</ul>")


# --------------------------------------------------------------------------- figures
def subplots(*args: Any, figsize: Any = None, dpi: Any = None, **kwargs: Any) -> tuple:
    """A new figure and its axes, as ``matplotlib.pyplot.subplots`` gives them, made without
    pyplot (``matplotlib.figure.Figure``): the report draws into files only, so it needs no
    pyplot state, backend or figure manager (imported when a figure is drawn, so a report
    without figures never imports matplotlib).

    >>> fig, ax = subplots(figsize=(2, 1), dpi=100)
    >>> type(fig).__name__, fig.get_size_inches().tolist()
    ('Figure', [2.0, 1.0])
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(*args, **kwargs)


def figure_to_svg(fig) -> str:
    """Serialise a matplotlib figure to deterministic SVG text and close it."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "iop-outcomes", "svg.fonttype": "path"}):
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    if "matplotlib.pyplot" in sys.modules:  # a figure pyplot made is released there
        sys.modules["matplotlib.pyplot"].close(fig)
    text = buf.getvalue().decode("utf-8")
    # drop the comment carrying the matplotlib version so outputs match across versions
    text = re.sub(r"<!-- Created with matplotlib.*?-->\n?", "", text)
    # matplotlib names clip paths, markers and hatches by a hash of their full-precision
    # geometry, whose last bits differ between CPUs (BLAS kernels) even when every drawn
    # coordinate (written to 6 decimals) is the same: number them in order of appearance
    ids: dict[str, str] = {}
    for m in re.finditer(r'id="([pmh][0-9a-f]{10})"', text):
        ids.setdefault(m.group(1), f"{m.group(1)[0]}{len(ids)}")
    if ids:
        text = re.sub(r"\b[pmh][0-9a-f]{10}\b", lambda m: ids.get(m.group(0), m.group(0)), text)
    return text


def svg_data_uri(svg: str) -> str:
    """``data:image/svg+xml;base64,...`` URI of SVG text."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# --------------------------------------------------------------------------- tables
#: Decimal places of numbers in the CSV/XLSX tables: enough to check any published figure
#: (scores, rates, effect sizes, p-values), few enough that optimizer tolerances (mixed models)
#: and floating-point summation order do not change the files.
FILE_DECIMALS = 6


def cell_for_file(v: Any, col: str = "") -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return None
        if math.isinf(x):
            return x
        return round(x, FILE_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(v, (pd.Timestamp, _dt.date)):
        return str(v)
    return str(v)


def shareable_frame(frame: pd.DataFrame, index: bool) -> pd.DataFrame:
    df = frame.reset_index() if index else frame.reset_index(drop=True)
    df = scrub_identifiers(df)
    df = neutralise_formulas(df)
    df.columns = [str(c) for c in df.columns]
    return df


def file_cells(table: ReportTable) -> tuple[list[str], list[list]]:
    """A table's column names and its cells as written to files, column by column: the
    :func:`shareable_frame` passed through :func:`cell_for_file`. The CSV and the workbook
    are written from the same cells, computed once."""
    frame = table.frame
    df = scrub_identifiers(frame.reset_index() if table.index else frame.reset_index(drop=True))
    # shareable_frame's cells without building its frame: neutralise_formulas, column by column
    cols = [str(neutralise_text(c) if isinstance(c, str) else c) for c in df.columns]
    values = []
    for j, c in enumerate(cols):
        s = df.iloc[:, j]
        vals = neutralised_values(s)
        values.append([cell_for_file(v, c) for v in (s if vals is None else vals).tolist()])
    return cols, values


def write_csv(
    table: ReportTable, path: Path, cells: tuple[list[str], list[list]] | None = None
) -> Path:
    """Write a table as UTF-8 CSV (floats to 6 decimal places; formulas neutralised).

    ``cells``: the table's :func:`file_cells`, when already computed."""
    cols, values = cells if cells is not None else file_cells(table)
    out = pd.DataFrame(dict(zip(cols, values, strict=True)))
    out = out.reindex(columns=cols)
    text = out.to_csv(index=False, lineterminator="\n")
    path.write_text(text, encoding="utf-8")
    return path


def _sheet_name(key: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]\*\?/\\:]", "_", key)[:31] or "table"
    name, i = base, 2
    while name.lower() in used:
        suffix = f"_{i}"
        name = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(name.lower())
    return name


def write_xlsx(
    tables: Sequence[ReportTable],
    path: Path,
    *,
    title: str,
    about: Sequence[tuple[str, str]] = (),
    cells: Sequence[tuple[list[str], list[list]]] | None = None,
) -> Path:
    """Write every table to one workbook (a sheet each, plus an ``about`` sheet), then
    normalise the archive so that identical content gives identical bytes.

    ``cells``: the tables' :func:`file_cells`, in order, when already computed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "about"
    ws.append([neutralise_text(title)])
    ws["A1"].font = Font(bold=True)
    for k, v in about:
        ws.append([neutralise_text(str(k)), neutralise_text(str(v))])
    ws.append([])
    ws.append(["sheet", "table"])
    used = {"about"}
    names = []
    for t in tables:
        names.append(_sheet_name(t.key, used))
        ws.append([names[-1], neutralise_text(t.title)])
    if cells is None:
        cells = [file_cells(t) for t in tables]
    for t, name, (cols, values) in zip(tables, names, cells, strict=True):
        sh = wb.create_sheet(name)
        sh.append([neutralise_text(c) for c in cols])
        for cell in sh[1]:
            cell.font = Font(bold=True)
        for row in zip(*values, strict=True):
            sh.append(list(row))
        # openpyxl treats any string starting with "=" as a formula: force text type
        for row in sh.iter_rows(min_row=1):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        sh.freeze_panes = "A2"
        for j, (col, shown) in enumerate(zip(cols, values, strict=True), start=1):
            # from the values as written (a float's full repr differs in its last digits
            # between CPUs, which made the column widths, and the bytes, differ)
            width = max([len(str(col)), *(len(str(v)) for v in shown[:200])])
            sh.column_dimensions[sh.cell(row=1, column=j).column_letter].width = min(
                max(8, width + 2), 60
            )
        r = sh.max_row + 2
        for note in t.notes:
            sh.cell(row=r, column=1, value=neutralise_text(note)).data_type = "s"
            r += 1
    fixed = _dt.datetime(2000, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "iop_outcomes"
    wb.properties.lastModifiedBy = "iop_outcomes"
    buf = io.BytesIO()
    wb.save(buf)
    _normalise_zip(buf.getvalue(), path)
    return path


def _normalise_zip(data: bytes, path: Path) -> None:
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                payload = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2000-01-01T00:00:00Z\g<2>",
                    payload,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, payload)


# --------------------------------------------------------------------------- HTML
CSS = """
:root { --ink:#1b1f24; --muted:#5b6470; --rule:#d6dbe1; --accent:#1f5f8b; --warn:#8a1c1c; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 60rem; padding: 1.5rem 1.25rem 4rem;
  overflow-wrap: break-word; }
header h1 { font-size: 1.7rem; margin: 0 0 .2rem; }
header .subtitle { color: var(--muted); margin: 0 0 .6rem; font-size: 1.05rem; }
.meta { color: var(--muted); font-size: .85rem; }
nav.toc { border: 1px solid var(--rule); border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0;
  font-size: .9rem; }
nav.toc ol { margin: .2rem 0 0 1.2rem; padding: 0; columns: 2; }
h2 { font-size: 1.3rem; border-bottom: 2px solid var(--accent); padding-bottom: .15rem;
  margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
table.iop-table { border-collapse: collapse; margin: .4rem 0 .3rem; font-size: .8rem;
  font-variant-numeric: tabular-nums; }
table.iop-table th, table.iop-table td { border-bottom: 1px solid var(--rule);
  padding: .2rem .45rem; text-align: left; vertical-align: top; }
table.iop-table td.num { text-align: right; white-space: nowrap; }
table.iop-table th { border-bottom: 1.5px solid var(--ink); background: #f4f6f8; }
.table-block { margin: 0 0 1.2rem; }
.table-scroll { overflow-x: auto; max-width: 100%;
  /* a shadow at an edge where more of the table lies (scrolled out of view); none when the
     table fits: the white covers move with the content, the shadows stay with the box */
  background: linear-gradient(to right, #fff 40%, rgba(255,255,255,0)) left / 1.5rem 100%,
    linear-gradient(to left, #fff 40%, rgba(255,255,255,0)) right / 1.5rem 100%,
    radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.16), transparent) left / .6rem 100%,
    radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.16), transparent) right / .6rem 100%;
  background-repeat: no-repeat; background-attachment: local, local, scroll, scroll; }
.table-scroll:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
figure { margin: 0 0 1.2rem; overflow-x: auto; }
.caption { font-weight: 600; margin: .8rem 0 .2rem; }
.notes { color: var(--muted); font-size: .8rem; margin: .1rem 0 0; padding-left: 1.1rem; }
.method { color: var(--muted); font-size: .8rem; margin: .1rem 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .85rem; }
table.glance { border-collapse: collapse; margin: .4rem 0 1rem; width: 100%; font-size: .95rem; }
table.glance caption { text-align: left; font-weight: 700; font-size: 1.1rem; padding: .2rem 0; }
table.glance th { text-align: left; vertical-align: top; width: 16rem; padding: .3rem .6rem .3rem 0;
  border-bottom: 1px solid var(--rule); font-weight: 600; }
table.glance td { padding: .3rem 0; border-bottom: 1px solid var(--rule); }
@media (max-width: 800px) {
  body { padding: 1rem .9rem 3rem; }
  table.glance th { width: 38%; }
}
.summary { background: #f3f7fa; border-left: 4px solid var(--accent); padding: .6rem 1rem; }
.banner { border: 2px solid var(--warn); color: var(--warn); padding: .5rem .8rem;
  font-weight: 600; margin: .8rem 0; }
.unavailable { color: var(--muted); font-style: italic; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
  font-size: .85rem; }
dl.prov dt { font-weight: 600; }
dl.prov dd { margin: 0; word-break: break-all; }
pre { font-size: .75rem; background: #f4f6f8; padding: .5rem; overflow-x: auto; }
@media print {
  @page { margin: 14mm 12mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc { display: none; }
  h1, h2, h3, .caption, table.glance caption { break-after: avoid; page-break-after: avoid; }
  .table-block, figure, .summary, dl.prov, table.glance, tr {
    break-inside: avoid; page-break-inside: avoid; }
  p, li { orphans: 3; widows: 3; }
  thead { display: table-header-group; }
  table.iop-table th { background: none; }
  table.iop-table { font-size: 7.5pt; }
  table.iop-table th, table.iop-table td { padding: 1pt 3pt; }
  table.iop-table th { overflow-wrap: anywhere; }
  .table-scroll, figure { overflow: visible; }
  .table-scroll { background: none; }
  figure img { max-height: 22cm; width: auto; }
  a { color: inherit; text-decoration: none; }
}
""".strip()


#: Column headers shown in the HTML, in plain words with units (CSV/XLSX keep the
#: machine-readable names). A column shown as a percentage gets " (%)".
HEADERS = {
    "group": "Group",
    "measure": "Measure",
    "outcome": "Outcome",
    "window": "Follow-up",
    "stage": "Stage",
    "status": "Status",
    "contrast": "Contrast",
    "method": "Method",
    "disposition": "Disposition",
    "reason": "Reason",
    "rows": "Rows",
    "share": "Share",
    "episodes": "Episodes",
    "pct": "Share",
    "term": "Term",
    "variable": "Variable",
    "estimand": "Estimand",
    "assumption": "Assumption",
    "baseline band": "Band at start",
    "total": "Total",
    "n_episodes": "Episodes",
    "n_paired": "Scored at start and end",
    "n_unpaired": "Missing a score",
    "baseline_mean": "Start mean (points)",
    "baseline_sd": "Start SD",
    "endpoint_mean": "End mean (points)",
    "endpoint_sd": "End SD",
    "mean_change": "Mean change (points)",
    "change_ci_low": "CI low (points)",
    "change_ci_high": "CI high (points)",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "pvalue": "p",
    "r_pre_post": "Start–end correlation",
    "r": "Start–end correlation",
    "k": "Met",
    "n": "Of",
    "period": "Period",
    "lcl": "Lower limit",
    "ucl": "Upper limit",
    "signal": "Special cause",
    "count": "Count",
    "rate": "Rate",
    "estimate": "Estimate",
    "n_used": "Episodes used",
    "n_group": "Episodes (group)",
    "n_reference": "Episodes (reference)",
    "n_eligible": "Eligible",
    "n_responded": "Responded",
    "n_excluded": "Excluded",
    "n_missing": "Missing",
    "ci_method": "CI method",
    "ci_level": "CI level",
    "margin": "Margin (points)",
    "conclusion": "Conclusion",
    "numerator": "Numerator",
    "denominator": "Denominator",
    "year": "Year",
    "national_estimate": "National",
    "dropouts": "Dropped out",
    "transfers": "Transferred",
    "censored": "Censored",
    "median_los": "Median stay (days)",
    "los_ci_low": "CI low (days)",
    "los_ci_high": "CI high (days)",
    "tau2_method": "Between-site variance method",
    "sites": "Sites",
    "I2": "I² (%)",
    "tau2": "Between-site variance τ²",
    "pi_low": "Prediction interval low",
    "pi_high": "Prediction interval high",
    "n_retained": "Retained",
    "mean_retained": "Retained mean",
    "sd_retained": "Retained SD",
    "n_lost": "Lost",
    "mean_lost": "Lost mean",
    "sd_lost": "Lost SD",
    "smd": "Standardised difference",
}

#: Codes of the data and of the analyses in the words a reader sees; a study file's
#: ``[labels]`` adds to and overrides these (``virtual = "Telehealth"``).
LABELS = {
    "in_person": "In person",
    "virtual": "Virtual",
    "hybrid": "Hybrid",
    "completed": "Completed",
    "dropped_out": "Dropped out",
    "transferred": "Transferred",
    "administrative": "Administrative discharge",
    "ongoing": "Still in treatment",
    "admitted": "Admitted",
    "baseline": "Baseline",
    "in_treatment": "In treatment",
    "discharge": "Discharge",
    "endpoint": "Endpoint",
    "accepted": "Accepted",
    "repaired": "Repaired",
    "quarantined": "Quarantined",
    "recovered": "Recovered",
    "improved": "Improved",
    "unchanged": "Unchanged",
    "deteriorated": "Deteriorated",
    "response": "Response",
    "remission": "Remission",
    "followup_phq9": "PHQ-9 at follow-up",
    "response_among_measured": "Response, among those measured",
    "remission_among_measured": "Remission, among those measured",
    "change_from_endpoint": "Change from endpoint (points)",
    "kept_reliable_improvement": "Kept reliable improvement",
    "relapse": "Relapse",
    "completers": "Completers",
    "locf": "Last observation carried forward",
    "bocf": "Baseline observation carried forward",
    "mi": "Multiple imputation",
    "mixed": "Mixed model",
    # participant-flow boxes
    "baseline measured": "Baseline measured",
    "no baseline score": "No baseline score",
    "measured after baseline": "Measured after baseline",
    "not measured after baseline": "Not measured after baseline",
    "status unknown": "Status unknown",
    "discharged, endpoint scored": "Discharged, endpoint scored",
    "discharged, no endpoint score": "Discharged, no endpoint score",
    "not discharged": "Not discharged",
    "responded": "Responded",
    "eligible, no response": "Eligible, no response",
    "window still open": "Window still open",
}
_WINDOW = re.compile(r"^(?:followup_)?(\d+)([mw])$")
_CONTRAST = re.compile(r"^(.+?) [-−] (.+)$")


def plain_label(v: Any, labels: dict[str, str] | None = None) -> Any:
    """A code as a reader sees it: ``[labels]`` first, then :data:`LABELS`, follow-up windows
    (``1m``, ``followup_3m`` -> ``1-month follow-up``) and contrasts (``virtual - in_person``
    -> ``Virtual − In person``); anything else (numbers, ``<11``, ``*``) is returned as is.

    Examples
    --------
    >>> plain_label("dropped_out"), plain_label("followup_1m"), plain_label("12w")
    ('Dropped out', '1-month follow-up', '12-week follow-up')
    >>> plain_label("virtual - in_person", {"virtual": "Telehealth"})
    'Telehealth − In person'
    """
    if not isinstance(v, str):
        return v
    if labels and v in labels:
        return labels[v]
    if v in LABELS:
        return LABELS[v]
    m = _WINDOW.match(v)
    if m:
        return f"{m[1]}-{'month' if m[2] == 'm' else 'week'} follow-up"
    m = _CONTRAST.match(v)
    if m:
        return f"{plain_label(m[1], labels)} − {plain_label(m[2], labels)}"
    return v


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _display_column(c: Any, values: Any, digits: int) -> list[str]:
    return [v if isinstance(v, str) else fmt_value(str(c), v, digits) for v in values]


def display_frame(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Strings for display: suppressed cells as they are, numbers formatted as in results."""
    return pd.DataFrame(
        {c: _display_column(c, df[c], digits) for c in df.columns},
        index=df.index,
    )


def _header(c: Any, t: ReportTable) -> str:
    name = HEADERS.get(str(c), None)
    if name is None:  # a group (participant flow) or band column: its label
        name = str(plain_label(str(c), t.labels))
    if str(c) in t.percent:
        name += " (%)" if t.percent_rows is None else " (% for rates)"
    return name


def _table_html(t: ReportTable) -> str:
    df = t.frame.reset_index() if t.index else t.frame
    # display_frame's strings, column by column (without building its frame of strings)
    disp = {c: _display_column(c, df[c], t.digits) for c in df.columns}
    rows_ = np.ones(len(df), bool) if t.percent_rows is None else t.percent_rows
    for c in t.percent:  # proportions as percentages with one decimal
        if c in df.columns:
            disp[c] = [
                f"{100 * float(v):.1f}" if _is_num(v) and on else d
                for v, d, on in zip(df[c], disp[c], rows_, strict=True)
            ]
    head = "".join(f"<th>{html.escape(_header(c, t))}</th>" for c in df.columns)
    rows = []
    raw = df.to_numpy(dtype=object)
    shown = [disp[c] for c in df.columns]
    for i in range(len(df)):
        cells = []
        for j in range(df.shape[1]):
            v = raw[i, j]
            num = _is_num(v) or (isinstance(v, str) and (v.startswith("<") or v == "*"))
            cls = ' class="num"' if num else ""
            text = shown[j][i] if num else plain_label(shown[j][i], t.labels)
            cells.append(f"<td{cls}>{html.escape(str(text))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    key = html.escape(t.key)
    # the table scrolls sideways inside its own box when wider than the page (a focusable,
    # labelled region, so keyboard users can scroll it too); caption and notes stay put
    body = (
        f'<div class="table-scroll" role="region" tabindex="0" aria-labelledby="cap-{key}">'
        f'<table class="iop-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in t.notes)
    parts = [
        f'<div class="table-block" id="table-{key}">',
        f'<p class="caption" id="cap-{key}">{html.escape(t.title)}</p>',
        body,
    ]
    if t.method:
        parts.append(f'<p class="method">Method: {html.escape(t.method)}</p>')
    if notes:
        parts.append(f'<ul class="notes">{notes}</ul>')
    parts.append("</div>")
    return "\n".join(parts)


def _figure_html(f: ReportFigure) -> str:
    cap = html.escape(f.caption or f.title)
    return (
        f'<figure id="figure-{html.escape(f.key)}">'
        f'<img class="report-figure" alt="{html.escape(f.alt or f.title)}" '
        f'src="{svg_data_uri(f.svg)}">'
        f"<figcaption>{cap}</figcaption></figure>"
    )


def render_html(
    *,
    title: str,
    subtitle: str,
    generated: str,
    sections: Sequence[Section],
    banner: str = "",
    stamp_label: str = "Generated",
) -> str:
    """Assemble the self-contained HTML document."""
    toc = "".join(
        f'<li><a href="#{html.escape(s.id)}">{html.escape(s.title)}</a></li>' for s in sections
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="generator" content="iop_outcomes">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if subtitle:
        out.append(f'<p class="subtitle">{html.escape(subtitle)}</p>')
    out.append(
        f'<p class="meta">{html.escape(stamp_label)} '
        f'<time class="generated">{html.escape(generated)}</time>. Built '
        "by iop_outcomes. Aggregate figures only; no individual-level data.</p>"
    )
    if banner:
        out.append(f'<div class="banner" role="alert">{html.escape(banner)}</div>')
    out += [
        "</header>",
        f'<nav class="toc"><strong>Contents</strong><ol>{toc}</ol></nav>',
        "<main>",
    ]
    for s in sections:
        out.append(f'<section id="{html.escape(s.id)}">')
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, ReportTable):
                out.append(_table_html(b))
            elif isinstance(b, ReportFigure):
                out.append(_figure_html(b))
            else:
                out.append(str(b))
        out.append("</section>")
    out += ["</main>", "</body>", "</html>", ""]
    return "\n".join(out)
