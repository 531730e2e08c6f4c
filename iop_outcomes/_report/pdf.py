"""The report as PDF: the HTML printed by headless Chromium, offline.

Why Chromium and not a Python library: the report is read in browsers, and printing it with a
browser engine gives the PDF the reader would get from the Print dialog, with the same CSS
(``@page``, ``break-inside``/``break-after``) and the same SVG figures. WeasyPrint would add
Pango and its own CSS engine (a second rendering to keep right); Playwright would add a Node
driver and downloads a browser build of its own on install. Chromium is one system package
(``apt-get install chromium``) that this module drives with its command line:
``--headless --print-to-pdf --no-pdf-header-footer`` on a ``file://`` URL, with every host name
unresolvable (``--host-resolver-rules``), so nothing is fetched from the network (the report's
Content-Security-Policy forbids it too).

The PDF is not byte-identical from run to run (Chromium stamps its creation date); its text is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..exceptions import ConfigError

__all__ = ["PAPERS", "find_chromium", "html_to_pdf"]

#: paper sizes accepted by :func:`html_to_pdf` (CSS ``@page`` size keywords)
PAPERS = {"a4": "A4", "letter": "letter"}

#: environment variable naming the browser to use (a path or a command on PATH)
ENV = "IOP_OUTCOMES_CHROMIUM"

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: where the macOS and Windows installers put the browser (not on PATH there)
_APPS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
)

_INSTALL = (
    "Install Chromium (Debian/Ubuntu: 'apt-get install chromium'; macOS: "
    "'brew install --cask chromium'), or name the browser with browser= or the "
    f"{ENV} environment variable."
)

#: Headless Chromium, offline: what every use here starts it with (the PDF, the screenshot in
#: the docs, the browser tests); add ``--no-sandbox`` when running as root.
OFFLINE_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no host name resolves: nothing from the network
)
_FLAGS = (*OFFLINE_FLAGS, "--no-pdf-header-footer")


def find_chromium(browser: str | os.PathLike | None = None) -> str:
    """The Chromium (or Chrome) executable used to print the report.

    Looked up in this order: ``browser`` (a path or a command name), the
    ``IOP_OUTCOMES_CHROMIUM`` environment variable, then ``chromium``, ``chromium-browser``,
    ``google-chrome`` and ``google-chrome-stable`` on ``PATH``, then where the macOS and
    Windows installers put Chromium or Chrome.

    Raises
    ------
    ConfigError
        When no browser is found, saying how to install one.

    Examples
    --------
    >>> find_chromium("no-such-browser-here")
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: The browser 'no-such-browser-here' ...
    """
    given = browser if browser is not None else os.environ.get(ENV) or None
    if given is not None:
        path = shutil.which(str(given))
        if path is None:
            source = "browser=" if browser is not None else f"the {ENV} environment variable"
            raise ConfigError(
                f"The browser {str(given)!r} (from {source}) is not an executable file or a "
                f"command on PATH. {_INSTALL}"
            )
        return path
    for name in _NAMES:
        path = shutil.which(name)
        if path:
            return path
    for app in _APPS:
        if os.path.isfile(app) and os.access(app, os.X_OK):
            return app
    raise ConfigError(
        f"Writing the PDF needs headless Chromium, and none of {', '.join(_NAMES)} is on "
        f"PATH (nor in the usual macOS or Windows place). {_INSTALL}"
    )


def _paper(paper: str) -> str:
    key = str(paper).strip().lower()
    if key not in PAPERS:
        raise ConfigError(
            f"The 'paper' parameter of write_pdf must be one of {sorted(PAPERS)}. "
            f"Got {paper!r} instead."
        )
    return PAPERS[key]


def html_to_pdf(
    html: str,
    path: str | os.PathLike,
    *,
    paper: str = "a4",
    browser: str | os.PathLike | None = None,
    timeout: float = 180,
) -> Path:
    """Print a self-contained HTML document to a PDF file with headless Chromium.

    Parameters
    ----------
    html : str
        The document (the report's :meth:`~iop_outcomes._report.Report.html`). It is written to
        a temporary file with an ``@page { size: ... }`` rule for ``paper`` added, and opened
        by ``file://`` URL.
    path : path
        The PDF to write (its directory is created when missing).
    paper : {"a4", "letter"}
        Paper size. Margins and the break rules come from the report's print CSS.
    browser : path or command, optional
        The browser (see :func:`find_chromium`).
    timeout : float
        Seconds to wait for the browser.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> html_to_pdf("<p>x</p>", "out.pdf", paper="A5")
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: The 'paper' parameter of write_pdf must be ...
    """
    size = _paper(paper)
    exe = find_chromium(browser)
    out = Path(path).resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"Cannot create the directory of {str(out)!r}: {e}.") from None
    rule = f"<style>@page {{ size: {size}; }}</style>"
    doc = html.replace("</head>", rule + "\n</head>", 1) if "</head>" in html else rule + html
    with tempfile.TemporaryDirectory(prefix="iop-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(doc, encoding="utf-8")
        tmp_pdf = Path(tmp) / "report.pdf"
        cmd = [exe, *_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        cmd += [f"--print-to-pdf={tmp_pdf}", page.as_uri()]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"{exe} did not finish printing the PDF within {timeout:g} s; try again, or "
                "give a larger timeout."
            ) from None
        except OSError as e:
            raise ConfigError(f"Could not start {exe}: {e}. {_INSTALL}") from None
        if not tmp_pdf.exists() or tmp_pdf.read_bytes()[:5] != b"%PDF-":
            tail = "\n".join(run.stderr.strip().splitlines()[-5:])
            raise ConfigError(
                f"{exe} did not write the PDF (exit code {run.returncode}). Its last "
                f"messages:\n{tail}"
            )
        shutil.move(str(tmp_pdf), out)
    return out
