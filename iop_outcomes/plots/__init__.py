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
