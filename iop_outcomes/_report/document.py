"""The built report: :class:`Report` (sections, tables, figures, provenance) and how it is
written to disk (``report.html``, ``tables/*.csv``, ``tables.xlsx``, ``provenance.json``)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import ConfigError
from .config import StudyConfig
from .render import (
    ReportFigure,
    ReportTable,
    Section,
    file_cells,
    render_html,
    write_csv,
    write_xlsx,
)


@dataclass
class Report:
    """A built report: sections, shareable tables and figures, provenance.

    Use :meth:`write` to produce ``report.html``, ``tables/*.csv``, ``tables.xlsx`` and
    ``provenance.json`` in a directory (and ``report.pdf`` with ``pdf=True``); :meth:`html`
    gives the HTML text; :meth:`write_pdf` prints it to PDF with headless Chromium;
    :meth:`table` one table as a DataFrame (after suppression).
    """

    title: str
    subtitle: str
    sections: list[Section]
    tables: list[ReportTable]
    figures: list[ReportFigure]
    provenance: dict[str, Any]
    config: StudyConfig
    generated: str
    banner: str = ""
    stamp_label: str = "Generated"
    warnings: list[str] = field(default_factory=list)
    #: the headline rates as published, with their settings (``headline.json``; read by
    #: ``compare_to``, see :mod:`iop_outcomes._report.previous`)
    headline: dict | None = None

    def html(self) -> str:
        """The self-contained HTML document."""
        return render_html(
            title=self.title,
            subtitle=self.subtitle,
            generated=self.generated,
            sections=self.sections,
            banner=self.banner,
            stamp_label=self.stamp_label,
        )

    def table(self, key: str) -> pd.DataFrame:
        """One shareable table by key (see :attr:`keys`)."""
        for t in self.tables:
            if t.key == key:
                return t.frame.copy()
        raise ConfigError(f"No table {key!r} in this report. Tables: {self.keys}.")

    @property
    def keys(self) -> list[str]:
        """Keys of the tables, in report order (also the CSV file names)."""
        return [t.key for t in self.tables]

    def write(
        self,
        out: str | Path,
        *,
        pdf: bool = False,
        paper: str = "a4",
        browser: str | Path | None = None,
    ) -> dict[str, Path]:
        """Write ``report.html``, ``tables/<key>.csv``, ``tables.xlsx``, ``provenance.json``
        and ``headline.json`` (the headline rates as published, for ``compare_to``), and
        ``report.pdf`` with ``pdf=True`` (see :meth:`write_pdf`).

        Returns the paths written. Files are byte-identical for the same data, configuration
        and seed (with the default data-derived date stamp); the PDF's text is too.
        """
        out = Path(out)
        try:
            (out / "tables").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"Cannot create the output directory {str(out)!r}: {e}.") from None
        paths: dict[str, Path] = {}
        for old in (out / "tables").glob("*.csv"):
            old.unlink()
        cells = [file_cells(t) for t in self.tables]  # shared by the CSVs and the workbook
        for t, c in zip(self.tables, cells, strict=True):
            paths[f"tables/{t.key}.csv"] = write_csv(t, out / "tables" / f"{t.key}.csv", c)
        about = [
            (self.stamp_label.lower(), self.generated),
            ("input sha256", self.provenance.get("input", {}).get("sha256", "")),
            ("small-cell suppression", self.provenance.get("suppression", "")),
        ]
        paths["tables.xlsx"] = write_xlsx(
            self.tables, out / "tables.xlsx", title=self.title, about=about, cells=cells
        )
        text = self.html()
        (out / "report.html").write_text(text, encoding="utf-8")
        paths["report.html"] = out / "report.html"
        (out / "provenance.json").write_text(
            json.dumps(self.provenance, sort_keys=True, indent=2, default=str) + "\n",
            encoding="utf-8",
        )
        paths["provenance.json"] = out / "provenance.json"
        if self.headline is not None:
            (out / "headline.json").write_text(
                json.dumps(self.headline, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
            paths["headline.json"] = out / "headline.json"
        else:  # a stale file from an earlier run must not be compared with
            (out / "headline.json").unlink(missing_ok=True)
        if pdf:
            paths["report.pdf"] = self.write_pdf(out / "report.pdf", paper=paper, browser=browser)
        return paths

    def write_pdf(
        self,
        path: str | Path,
        *,
        paper: str = "a4",
        browser: str | Path | None = None,
    ) -> Path:
        """Print the report to a PDF file with headless Chromium (offline).

        Parameters
        ----------
        path : path
            The PDF to write.
        paper : {"a4", "letter"}
            Paper size; margins, repeated table headers and the page-break rules (no heading
            left alone at the foot of a page, tables and figures kept whole where they fit)
            come from the report's print CSS.
        browser : path or command, optional
            Chromium or Chrome; by default the ``IOP_OUTCOMES_CHROMIUM`` environment variable,
            else ``chromium``, ``chromium-browser`` or ``google-chrome`` on ``PATH``. A clear
            :class:`~iop_outcomes.exceptions.ConfigError` says how to install one when none
            is found.

        Returns
        -------
        Path
            The PDF written. Its text is the same on every run; its bytes are not (Chromium
            stamps the creation date).

        Examples
        --------
        >>> import iop_outcomes as iop
        >>> rep = iop.report(iop.synth.demo())          # doctest: +SKIP
        >>> rep.write_pdf("reports/demo/report.pdf")    # doctest: +SKIP
        """
        from .pdf import html_to_pdf

        return html_to_pdf(self.html(), path, paper=paper, browser=browser)

    def __str__(self) -> str:
        lines = [
            self.title,
            f"{len(self.sections)} sections, {len(self.tables)} tables, "
            f"{len(self.figures)} figures; {self.stamp_label.lower()} {self.generated}",
        ]
        lines += [f"  {t.key}: {t.title}" for t in self.tables]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(t.title)}</li>" for t in self.tables)
        return (
            f"<div><strong>{html.escape(self.title)}</strong> — {len(self.tables)} tables, "
            f"{len(self.figures)} figures. Use <code>.write(dir)</code> to save."
            f"<ul>{items}</ul></div>"
        )
