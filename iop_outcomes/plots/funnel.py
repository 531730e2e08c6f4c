"""Funnel plot of a :class:`~iop_outcomes._funnel.FunnelResult` (reads the result, never refits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import validate_params
from ..exceptions import ConfigError
from ._common import axes_or_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_funnel"]

_STYLE = {0.95: ("--", "95 % limits"), 0.998: ("-", "99.8 % limits")}


@validate_params({"result": ["no_validation"], "ax": ["axes", None], "label_outliers": ["boolean"]})
def plot_funnel(result, *, ax=None, label_outliers: bool = True) -> Axes:
    """Funnel plot: each unit's estimate against its volume, the target and the limit curves.

    Units outside the limits are labelled when ``label_outliers`` and the unit is named (in a
    shareable view small units are never labelled). The x axis is the number of episodes, or
    the expected count for an indirectly standardised ratio.

    Parameters
    ----------
    result : FunnelResult
        A result of :func:`~iop_outcomes.funnel`; its ``table`` (units) and ``limits``
        (limit curves) are drawn (the plot reads it and never refits).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.
    label_outliers : bool
        Write the unit's name beside each unit outside the 95 % limits (default
        True); units the result does not name (``named`` False) stay unlabelled.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"site": ["A"] * 30 + ["B"] * 30,
    ...                    "discharge_status": ["dropped_out", "completed"] * 30})
    >>> ax = iop.plots.plot_funnel(iop.funnel(ep, outcome="dropout"))
    >>> len(ax.collections), len(ax.lines)   # the units; target + 2 x 2 limit curves
    (1, 5)
    """
    if not all(hasattr(result, a) for a in ("table", "limits", "target", "kind")):
        raise ConfigError(
            f"plot_funnel takes the result of iop.funnel. Got {type(result).__name__} instead."
        )
    t, lim = result.table, result.limits
    ax = axes_or_new(ax, (6.4, 4.4))
    for level, grp in lim.groupby("level", sort=True):
        ls, lab = _STYLE.get(float(level), (":", f"{100 * float(level):g} % limits"))
        ax.plot(grp["x"], grp["lower"], color="0.35", ls=ls, lw=0.9, label=lab)
        ax.plot(grp["x"], grp["upper"], color="0.35", ls=ls, lw=0.9)
    ax.axhline(result.target, color="tab:blue", lw=1.0, label="target")
    colours = np.where(
        t["signal"].to_numpy() == "worse",
        "tab:red",
        np.where(t["signal"].to_numpy() == "better", "tab:green", "0.2"),
    )
    ax.scatter(t["x"], t["estimate"], s=18, c=list(colours), zorder=3)
    if label_outliers:
        for r in t[(t["flag"].str.startswith(("above", "below"))) & t["named"]].itertuples():
            ax.annotate(
                str(r.unit),
                (r.x, r.estimate),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
            )
    xlabel = {"ratio": "Expected number (case-mix model)"}.get(result.kind, "Episodes (n)")
    ylabel = {
        "ratio": "Observed / expected",
        "proportion": result.outcome_label.capitalize(),
        "mean": result.outcome_label.capitalize(),
    }[result.kind]
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(result.title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return ax
