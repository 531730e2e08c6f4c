"""Plots: every function takes ``ax=None`` and returns the matplotlib Axes; none calls ``plt.show()``.

One file per analysis area (``change``, ``clinsig``, ``compare``, ``trajectories``, ``retention``);
the public ``plot_*`` functions are re-exported here lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_AREAS = (
    "change",
    "clinsig",
    "compare",
    "effectsize",
    "trajectories",
    "retention",
    "sensitivity",
    "funnel",
    "over_time",
    "monitor",
)


#: every public plot function, by area (listed so that ``dir`` and tab completion show them)
__all__ = [
    "plot_severity_shift",
    "plot_change_by_group",
    "plot_jacobson_truax",
    "plot_change_distribution",
    "plot_forest",
    "plot_love",
    "plot_equivalence",
    "plot_dose_response",
    "plot_effect_sizes",
    "plot_trajectories",
    "plot_individual_trajectories",
    "plot_early_change",
    "plot_flow",
    "plot_km",
    "plot_followup_response",
    "plot_sensitivity",
    "plot_funnel",
    "plot_over_time",
    "plot_recovery_curve",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name.startswith("plot_"):
        for area in _AREAS:
            try:
                module = importlib.import_module(f".{area}", __name__)
            except ModuleNotFoundError:
                continue
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"module 'iop_outcomes.plots' has no attribute {name!r}")
