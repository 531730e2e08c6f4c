"""iop_outcomes: outcome analytics for intensive outpatient mental-health programs.

>>> import iop_outcomes as iop
>>> iop.instruments.get("GAD-7").caseness_cutoff
8
"""

from __future__ import annotations

from . import instruments
from .exceptions import (
    ConfigError,
    ConvergenceWarning,
    DataError,
    InstrumentError,
    IOPError,
    IOPWarning,
    LoadError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "instruments",
    "IOPError",
    "LoadError",
    "ConfigError",
    "InstrumentError",
    "DataError",
    "IOPWarning",
    "ConvergenceWarning",
]
