"""Shareable reports: build, suppress small cells, scrub identifiers, render.

>>> import iop_outcomes as iop
>>> rep = iop.report(iop.synth.demo())            # doctest: +SKIP
>>> rep.write("reports/demo")                     # doctest: +SKIP

A private package: the public entry points are :func:`iop_outcomes.report` (builds a
:class:`iop_outcomes.Report`, configured by a TOML file, a dict or an
:class:`iop_outcomes.StudyConfig`) and :func:`iop_outcomes.to_sql`.
"""

from .build import report
from .config import StudyConfig, load_config
from .document import Report
from .safety import find_identifiers, neutralise_formulas, scrub_identifiers
from .suppress import SuppressedTable, suppress

__all__ = [
    "report",
    "Report",
    "suppress",
    "SuppressedTable",
    "StudyConfig",
    "load_config",
    "scrub_identifiers",
    "neutralise_formulas",
    "find_identifiers",
]
