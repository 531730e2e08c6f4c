"""Marking of internal, identifiable outputs, and the check that keeps them out of reports.

Outputs that list patients (the off-track caseload of :func:`iop_outcomes.monitor`) are
*internal*: they carry patient and episode identifiers. Each such file is marked twice, so that
renaming it does not remove the mark:

* its **name** starts with :data:`FILE_PREFIX` (``INTERNAL-identifiable-…``);
* its **content** carries :data:`MARKER_COLUMN` (the first column of a CSV, a ``<meta>`` element
  of an HTML page, beside a banner on every printed page).

The shareable report (:func:`iop_outcomes.report`) calls :func:`refuse_internal` on its input and
refuses either mark.

Examples
--------
>>> is_internal("out/INTERNAL-identifiable-caseload-2025-03-01.csv")
True
>>> is_internal("visits.csv")
False
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .exceptions import ConfigError

__all__ = ["FILE_PREFIX", "MARKER_COLUMN", "MARKER_TEXT", "is_internal", "refuse_internal"]

#: every internal file name starts with this
FILE_PREFIX = "INTERNAL-identifiable-"
#: the first column of an internal CSV (and the name of the HTML ``<meta>`` marker)
MARKER_COLUMN = "INTERNAL_IDENTIFIABLE"
#: the marker's value, and the banner of an internal HTML page
MARKER_TEXT = "INTERNAL - contains patient identifiers - do not share or publish"


def _norm(name: str) -> str:
    return name.strip().upper().replace(" ", "_").replace("-", "_")


def _file_marked(path: Path) -> bool:
    """The first 64 KiB of a file name the marker (a CSV header column or the HTML meta)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return MARKER_COLUMN.encode() in head.upper().replace(b"-", b"_")


def is_internal(data: Any) -> bool:
    """Whether ``data`` (a path, a DataFrame or a loaded result) is an internal output.

    A path is internal when its file name starts with :data:`FILE_PREFIX` (case-insensitive) or
    the file's head holds :data:`MARKER_COLUMN`; a table when it has a column of that name.
    """
    if isinstance(data, (str, Path)):
        p = Path(data)
        if _norm(p.name).startswith(_norm(FILE_PREFIX)):
            return True
        return p.is_file() and _file_marked(p)
    frame = getattr(data, "data", data)
    columns = getattr(frame, "columns", None)
    if columns is None:
        return False
    return any(_norm(str(c)) == MARKER_COLUMN for c in columns)


def refuse_internal(data: Any, func: str = "report") -> None:
    """Raise :class:`~iop_outcomes.ConfigError` when ``data`` is an internal output.

    Examples
    --------
    >>> import pandas as pd
    >>> refuse_internal(pd.DataFrame({MARKER_COLUMN: [MARKER_TEXT], "patient_id": ["P1"]}))
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: report: the input is an internal, identifiable ...
    """
    if is_internal(data):
        shown = f"{str(data)!r} " if isinstance(data, (str, Path)) else ""
        raise ConfigError(
            f"{func}: the input {shown}is an internal, identifiable output (its name starts "
            f"with {FILE_PREFIX!r} or it carries the {MARKER_COLUMN!r} marker), such as the "
            "caseload list of iop-outcomes monitor. A shareable report never reads it: pass the "
            "assessment data instead."
        )
