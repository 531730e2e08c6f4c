"""The shareable report in a real browser (headless Chromium): layout at 1280 and 768 px and
in print, checked with the DOM (tests/browser_probe.js); screenshots; the PDF (``--pdf``,
:meth:`Report.write_pdf`) read back with pypdf.

Each test launches Chromium once or twice (about 1-3 s each) on the committed demo report
(reports/demo/report.html, which tests/test_report.py keeps equal to a fresh build).
"""

from __future__ import annotations

import html as _html
import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

import iop_outcomes as iop
from iop_outcomes._report.config import StudyConfig
from iop_outcomes._report.document import Report
from iop_outcomes._report.pdf import OFFLINE_FLAGS, find_chromium, html_to_pdf
from iop_outcomes._report.render import Section
from iop_outcomes.cli import EXIT_INPUT, main
from iop_outcomes.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "reports" / "demo" / "report.html"
PROBE = Path(__file__).with_name("browser_probe.js")
FLAGS = [*OFFLINE_FLAGS, "--no-sandbox"]
#: printable width in CSS px (96 px per inch) of the narrower paper, A4 (210 mm) less the
#: print CSS's 12 mm side margins: 186 mm; Letter's is 8.5 in - 24 mm = 725 px
A4_PRINT_WIDTH = round(186 / 25.4 * 96)


@pytest.fixture(scope="module")
def demo_html() -> str:
    if not DEMO.exists():
        pytest.skip("reports/demo/ has not been generated (iop-outcomes demo)")
    return DEMO.read_text(encoding="utf-8")


def _probe(chromium: str, page: str, width: int, tmp: Path, *, print_css: bool = False) -> dict:
    """Open a copy of ``page`` with the probe script at ``width`` CSS px and return its
    findings. ``print_css`` applies the ``@media print`` rules on screen (the print layout
    at the paper's printable width)."""
    js = PROBE.read_text(encoding="utf-8")
    copy = page.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    assert copy != page, "the report's Content-Security-Policy changed: update the probe"
    if print_css:
        assert "@media print {" in copy
        copy = copy.replace("@media print {", "@media all {")
    copy = copy.replace("</body>", f"<script>{js}</script></body>")
    path = tmp / f"probe-{width}{'-print' if print_css else ''}.html"
    path.write_text(copy, encoding="utf-8")
    run = subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp / f'ud-{path.stem}'}",
            f"--window-size={width},2000",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'<pre id="iop-result">(.*?)</pre>', run.stdout, re.S)
    assert m, f"the probe wrote no result: {run.stderr[-800:]}"
    return json.loads(_html.unescape(m.group(1)))


def _assert_layout(res: dict, width: int) -> None:
    assert res["innerWidth"] == width  # the window size took effect
    assert res["textBoxes"] > 1000  # the whole report was measured
    # the page never scrolls sideways; nothing reaches past its edge
    assert res["scrollWidth"] <= res["innerWidth"], res
    assert res["nCut"] == 0, res["cut"]
    assert res["nOverlaps"] == 0, res["overlaps"]
    figs = res["figures"]
    assert len(figs) >= 3
    for f in figs:
        assert f["decoded"] and f["visible"], f
        assert f["width"] > 100 and f["height"] > 100, f
        assert f["left"] >= 0 and f["right"] <= width, f


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _assert_not_blank(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as im:
        gray = im.convert("L")
        hist = gray.histogram()
    dark = sum(hist[:200]) / sum(hist)  # share of pixels clearly darker than the background
    assert 0.01 < dark < 0.9, (path, dark)
    assert sum(1 for n in hist if n) > 20, path  # text anti-aliasing gives many grey levels


@pytest.mark.parametrize("width", [1280, 768])
def test_layout_and_screenshot_at_width(chromium, demo_html, tmp_path, width):
    """At 1280 px (a laptop) and 768 px (a tablet held upright): no sideways scrolling of
    the page, no text cut off or overlapping, every figure drawn and inside the page; at
    768 px the widest tables scroll inside their own box. A screenshot is taken and is not
    blank."""
    res = _probe(chromium, demo_html, width, tmp_path)
    _assert_layout(res, width)
    if width == 768:
        # the 13-column change table cannot fit 768 px: it scrolls inside its own box
        assert "table-change_phq_9_format" in res["wide"], res["wide"]
    shot = tmp_path / f"report-{width}.png"
    subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'ud-shot'}",
            f"--window-size={width},2000",
            f"--screenshot={shot}",
            DEMO.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists(), "Chromium wrote no screenshot"
    assert _png_size(shot) == (width, 2000)
    _assert_not_blank(shot)


def test_print_layout_fits_the_paper(chromium, demo_html, tmp_path):
    """With the print rules applied at A4's printable width (the narrower of A4 and Letter),
    nothing is cut off: on paper a table cannot scroll, so none may be wider than the page."""
    res = _probe(chromium, demo_html, A4_PRINT_WIDTH, tmp_path, print_css=True)
    _assert_layout(res, A4_PRINT_WIDTH)
    assert res["wide"] == []


def test_probe_finds_overflow_overlap_and_missing_figures(chromium, tmp_path):
    """The checks can fail: a page with a wide table outside any scroll box, two overlapping
    lines of text and a figure that does not decode is reported on each count."""
    wide = "".join(f"<td>column{i:02d}-value</td>" for i in range(30))
    page = (
        "<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\"></head><body>"
        f"<table><tr>{wide}</tr></table>"
        "<p style='position:absolute;top:300px;left:10px'>first line of text</p>"
        "<p style='position:absolute;top:305px;left:20px'>second line of text</p>"
        "<img class='report-figure' alt='broken' src='data:image/png;base64,AAAA'>"
        "</body></html>"
    )
    res = _probe(chromium, page, 768, tmp_path)
    assert res["scrollWidth"] > 768
    assert res["nCut"] > 0
    assert res["nOverlaps"] >= 1
    assert ["first line of text", "second line of text"] in [o[:2] for o in res["overlaps"]]
    assert res["figures"][0]["decoded"] is False


# ------------------------------------------------------------------------------------- PDF
def _pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    # NFKC: Chromium writes ligatures (fi, fl) as single glyphs
    return [unicodedata.normalize("NFKC", p.extract_text()) for p in PdfReader(path).pages]


def _drawn(path: Path) -> list[tuple]:
    """Each page's decompressed content stream and its fonts (name, base font, ToUnicode)."""
    from pypdf import PdfReader

    out = []
    for page in PdfReader(path).pages:
        fonts = []
        for name, ref in sorted(page["/Resources"].get("/Font", {}).items()):
            font = ref.get_object()
            cmap = font.get("/ToUnicode")
            fonts.append((name, str(font.get("/BaseFont")), cmap and cmap.get_object().get_data()))
        out.append((page.get_contents().get_data(), fonts))
    return out


def _paper_points(path: Path) -> list[int]:
    from pypdf import PdfReader

    return [round(float(x)) for x in PdfReader(path).pages[0].mediabox[2:]]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_pdf_pages_text_and_first_page(chromium, demo_html, tmp_path, monkeypatch):
    """The demo printed to A4 twice: the same text both times; A4 paper; the first page has
    the title and the whole 'At a glance' table; no section heading or table caption is the
    last thing on a page (orphaned)."""
    monkeypatch.setenv("IOP_OUTCOMES_CHROMIUM", chromium)
    a4 = html_to_pdf(demo_html, tmp_path / "a4.pdf")
    again = html_to_pdf(demo_html, tmp_path / "again.pdf", paper="A4")
    assert _paper_points(a4) == [595, 842]  # 210 x 297 mm in points
    pages = _pages(a4)
    # deterministic text: the pages draw the same (content streams and fonts byte for byte;
    # the file differs in its dates and the order of its tagged-PDF structure); should
    # Chromium ever vary the drawing, the extracted text must still be the same
    if _drawn(a4) != _drawn(again):
        assert pages == _pages(again)
    # 1,200 episodes, 32 tables, 5 figures: about 20 pages; a broken print CSS (tables cut
    # into one column a page, or everything on one page) falls outside this range
    assert 12 <= len(pages) <= 35, len(pages)
    first = _flat(pages[0])
    assert first.startswith("Program outcomes report")
    glance = re.search(r'<table class="glance">.*?</table>', demo_html, re.S).group(0)
    assert "At a glance" in first
    for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", glance):
        assert _flat(_html.unescape(cell)) in first, cell
    assert "Contents" not in first  # the table of contents is for the screen only
    # every heading and caption is followed, on its page, by what it heads
    heads = re.findall(r"<h[23]>(.*?)</h[23]>", demo_html)
    heads += re.findall(r'<p class="caption"[^>]*>(.*?)</p>', demo_html)
    assert len(heads) > 30
    ends = [_flat(p) for p in pages[:-1]]
    for h in heads:
        h = _flat(unicodedata.normalize("NFKC", _html.unescape(h)))
        assert not any(e.endswith(h) for e in ends), f"orphaned at a page foot: {h}"
    full = _flat(" ".join(pages))
    for h in heads[:12]:  # nothing lost: the sections and first tables are all printed
        assert _flat(unicodedata.normalize("NFKC", _html.unescape(h))) in full


def _tiny_report() -> Report:
    sec = Section("summary", "Summary")
    sec.p("Seventeen of twenty episodes improved.")
    return Report(
        title="Tiny report",
        subtitle="",
        sections=[sec],
        tables=[],
        figures=[],
        provenance={},
        config=StudyConfig(),
        generated="2025-Q1",
    )


def test_report_write_pdf_and_errors(chromium, tmp_path, monkeypatch):
    """Report.write(pdf=True) writes report.pdf beside report.html; a missing browser or an
    unknown paper size is a ConfigError saying what to do."""
    rep = _tiny_report()
    paths = rep.write(tmp_path / "out", pdf=True, paper="letter", browser=chromium)
    assert _paper_points(paths["report.pdf"]) == [612, 792]  # 8.5 x 11 in in points
    text = _flat(" ".join(_pages(paths["report.pdf"])))
    assert text.startswith("Tiny report") and "Seventeen of twenty episodes improved." in text
    monkeypatch.setenv("IOP_OUTCOMES_CHROMIUM", str(tmp_path / "no-browser"))
    with pytest.raises(ConfigError, match="IOP_OUTCOMES_CHROMIUM environment variable.*apt-get"):
        rep.write_pdf(tmp_path / "x.pdf")
    monkeypatch.delenv("IOP_OUTCOMES_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on PATH
    pdf_module = sys.modules["iop_outcomes._report.pdf"]  # iop.report is also a function
    monkeypatch.setattr(pdf_module, "_APPS", ())
    with pytest.raises(ConfigError, match="none of chromium, chromium-browser.*is on PATH"):
        find_chromium()
    # an installed app bundle (macOS) or program (Windows) off PATH is found
    monkeypatch.setattr(pdf_module, "_APPS", (str(tmp_path / "nothing"), chromium))
    assert find_chromium() == chromium
    with pytest.raises(ConfigError, match="'paper' parameter .* Got 'A5'"):
        rep.write_pdf(tmp_path / "x.pdf", paper="A5", browser=chromium)


def test_cli_pdf_without_a_browser_fails_before_the_build(tmp_path, monkeypatch, capsys):
    """``iop-outcomes report --pdf`` looks for the browser first: without one it stops at
    once with the install hint (exit 3), before spending time on the report."""
    monkeypatch.setenv("IOP_OUTCOMES_CHROMIUM", "/nonexistent/chromium")
    data = tmp_path / "visits.csv"
    data.write_text("not read\n")
    argv = ["report", str(data), "--out", str(tmp_path / "rep"), "--pdf", "-q"]
    assert main(argv) == EXIT_INPUT
    err = _flat(capsys.readouterr().err)
    assert "/nonexistent/chromium" in err and "install chromium" in err
    assert not (tmp_path / "rep").exists()


def test_cli_pdf_writes_report_pdf(chromium, tmp_path, monkeypatch, capsys):
    """``iop-outcomes report DATA --out DIR --pdf letter`` writes DIR/report.pdf on Letter
    paper next to report.html (the build itself is replaced by a tiny report: the build is
    tested elsewhere; this checks the wiring)."""
    import iop_outcomes as iop

    def fake_report(data, *, out, **kwargs):
        rep = _tiny_report()
        rep.write(out)
        return rep

    monkeypatch.setattr(iop, "report", fake_report)
    monkeypatch.setenv("IOP_OUTCOMES_CHROMIUM", chromium)
    data = tmp_path / "visits.csv"
    data.write_text("not read\n")
    out = tmp_path / "rep"
    assert main(["report", str(data), "--out", str(out), "--pdf", "letter", "-q"]) == 0
    assert f"PDF written to {out / 'report.pdf'}" in capsys.readouterr().out
    assert _paper_points(out / "report.pdf") == [612, 792]
    assert "Seventeen of twenty episodes improved." in _flat(" ".join(_pages(out / "report.pdf")))


def test_docs_screenshot_is_small_png():
    """docs/img/report-first-page.png (docs/make_screenshot.py) is a PNG of the report's
    column, small enough to commit."""
    shot = ROOT / "docs" / "img" / "report-first-page.png"
    assert shot.stat().st_size < 300_000
    assert _png_size(shot)[0] == 960
    _assert_not_blank(shot)


def test_report_pdf_needs_an_output_folder():
    with pytest.raises(ConfigError, match="give out= too"):
        iop.report(iop.synth.demo(), pdf=True)
