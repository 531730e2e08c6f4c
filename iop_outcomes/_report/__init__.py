"""Shareable reports: build, suppress small cells, scrub identifiers, render.

>>> import iop_outcomes as iop
>>> rep = iop.report(iop.synth.demo())            # doctest: +SKIP
>>> rep.write("reports/demo")                     # doctest: +SKIP

``iop_outcomes.report`` is both this package and callable: ``iop.report(data, ...)`` builds a
report (see :func:`iop_outcomes._report.build.report`).
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
