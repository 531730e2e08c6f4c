"""iop_outcomes: outcome analytics for intensive outpatient mental-health programs.

The public API lives here. Analysis modules load lazily on first use (PEP 562),
so ``import iop_outcomes`` stays fast and a command that only validates data
never imports statsmodels.

>>> import iop_outcomes as iop
>>> iop.instruments.get("GAD-7").caseness_cutoff
8
"""

from __future__ import annotations

import importlib
from typing import Any

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

# public name -> submodule that defines it
_LAZY: dict[str, str] = {
    # loading, validation, ledger
    "load": "io._load",
    "LoadResult": "io._load",
    # episodes and time points
    "episodes": "_episodes",
    "EpisodeRules": "_episodes",
    "assessment_roles": "_episodes",
    # change and clinical significance
    "change_scores": "_change",
    "change_summary": "_change",
    "severity_shift": "_change",
    "quality_measures": "_change",
    "clinical_significance": "_clinsig",
    "benchmarks": "_clinsig",
    "national_series": "_clinsig",
    # effect sizes
    "rm_d": "_effectsize",
    "rm_d_from_summary": "_effectsize",
    "bootstrap_ci": "_effectsize",
    # cohort comparisons
    "compare": "_compare",
    "equivalence": "_compare",
    "subgroups": "_compare",
    "pool_sites": "_compare",
    "dose_response": "_compare",
    # trajectories
    "trajectories": "_trajectories",
    "early_change": "_trajectories",
    # retention and missing data
    "retention": "_retention",
    "dropout_survival": "_retention",
    "attrition": "_retention",
    "durability": "_retention",
    "missing_data_sensitivity": "_sensitivity",
    # monitoring: providers compared fairly, programs over time
    "funnel": "_funnel",
    "over_time": "_over_time",
    # measurement-based care: off-track alerts
    "monitor": "_monitor",
    "recovery_curves": "_monitor",
    # reports
    "report": "_report",
    "Report": "_report",
    "StudyConfig": "_report",
    "to_sql": "_report.sql",
}
_SUBMODULES = ("synth", "plots", "io")

__all__ = [
    "__version__",
    "instruments",
    "synth",
    "plots",
    "IOPError",
    "LoadError",
    "ConfigError",
    "InstrumentError",
    "DataError",
    "IOPWarning",
    "ConvergenceWarning",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'iop_outcomes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
