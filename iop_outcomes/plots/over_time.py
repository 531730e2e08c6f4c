"""Control chart of an :class:`~iop_outcomes._over_time.OverTimeResult` (reads it, never refits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import validate_params
from ..exceptions import ConfigError
from ._common import axes_or_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_over_time"]


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
    }
)
def plot_over_time(result, *, ax=None) -> Axes:
    """Control chart: the series by period, centre line, stepped 3-sigma limits, and the
    points in a special-cause signal marked (orange = concern, blue = improvement).

    Parameters
    ----------
    result : OverTimeResult
        A result of :func:`~iop_outcomes.over_time`; its ``table`` (one row per period) is
        drawn (the plot reads it and never refits).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> dates = pd.date_range("2024-01-01", periods=5, freq="QS").repeat(20)
    >>> ep = pd.DataFrame({"admit_date": dates,
    ...                    "discharge_status": ["dropped_out", "completed"] * 50})
    >>> ax = iop.plots.plot_over_time(iop.over_time(ep, outcome="dropout"))
    >>> [t.get_text() for t in ax.get_xticklabels()][:2]
    ['2024Q1', '2024Q2']
    """
    if not all(hasattr(result, a) for a in ("table", "chart", "outcome_label")):
        raise ConfigError(
            f"plot_over_time takes the result of iop.over_time. Got {type(result).__name__} "
            "instead."
        )
    t = result.table
    x = np.arange(len(t))
    ax = axes_or_new(ax, (7.0, 3.8))
    ax.plot(x, t["estimate"], color="0.2", marker="o", ms=4, lw=1.0)
    ax.axhline(float(t["centre"].iloc[0]), color="tab:blue", lw=1.0, label="centre")
    ax.step(x, t["ucl"], where="mid", color="0.45", ls="--", lw=0.9, label="3-sigma limits")
    ax.step(x, t["lcl"], where="mid", color="0.45", ls="--", lw=0.9)
    sig = t["signal"].to_numpy()
    for direction, colour in (("concern", "tab:orange"), ("improvement", "tab:blue")):
        m = sig & (t["direction"].to_numpy() == direction)
        if m.any():
            ax.scatter(
                x[m],
                t["estimate"].to_numpy()[m],
                s=40,
                color=colour,
                zorder=3,
                label=f"special cause ({direction})",
            )
    ax.set_xticks(x)
    ax.set_xticklabels(t["period"].tolist(), rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(result.outcome_label.capitalize())
    ax.set_title(f"{result.title} ({result.chart} chart)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return ax
