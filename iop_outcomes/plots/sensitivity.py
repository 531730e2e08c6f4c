"""Forest plot of a missing-data sensitivity analysis (:func:`iop.missing_data_sensitivity`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import validate_params
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_sensitivity"]

_LABELS = {
    "completers": "Completers only",
    "locf": "LOCF",
    "bocf": "BOCF",
    "mi": "Multiple imputation",
    "mixed": "Mixed model",
}
_MARKERS = {"completers": "o", "locf": "s", "bocf": "D", "mi": "^", "mixed": "v"}


@validate_params(
    {
        "result": ["no_validation"],  # a SensitivityResult, checked inside (duck-typed)
        "estimand": [str, None],  # one of the result's estimands: checked inside
        "ax": ["axes", None],
    }
)
def plot_sensitivity(result: Any, *, estimand: str | None = None, ax=None) -> Axes:
    """Forest plot: one row per method and estimand, point estimate with its CI.

    Parameters
    ----------
    result : SensitivityResult
        The result of :func:`iop_outcomes.missing_data_sensitivity`.
    estimand : {"mean change", "difference in mean change"}, optional
        Plot one estimand only; default both, in labelled blocks (same units: score points).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, pandas as pd, iop_outcomes as iop
    >>> from iop_outcomes.plots.sensitivity import plot_sensitivity
    >>> ep = pd.DataFrame({"episode_id": range(8), "baseline": [18, 16, 20, 15, 17, 19, 14, 21],
    ...                    "endpoint": [10, np.nan, 12, 9, np.nan, 11, 8, 15],
    ...                    "format": ["in_person", "virtual"] * 4})
    >>> res = iop.missing_data_sensitivity(ep, methods=("completers", "bocf"))
    >>> ax = plot_sensitivity(res)
    >>> len(ax.get_yticklabels())
    4
    """
    import matplotlib.pyplot as plt

    if type(result).__name__ != "SensitivityResult" or not hasattr(result, "table"):
        raise ConfigError(
            "The 'result' parameter of iop.plots.plot_sensitivity must be a SensitivityResult "
            f"(the result of iop.missing_data_sensitivity). Got {type(result).__name__!r} "
            "instead. Plots draw fitted results and never refit."
        )
    table = result.table
    if estimand is not None:
        if estimand not in set(table["estimand"]):
            raise ConfigError(
                "The 'estimand' parameter of iop.plots.plot_sensitivity must be one of "
                f"{sorted(set(table['estimand']))}. Got {estimand!r} instead."
            )
        table = table[table["estimand"] == estimand]
    blocks = list(table.groupby(["estimand", "contrast"], sort=False))
    if ax is None:
        n_rows = len(table) + len(blocks)
        _, ax = plt.subplots(figsize=(7, 0.9 + 0.32 * n_rows))
    y = 0.0
    ticks, labels = [], []
    for (est, con), block in blocks:
        head = est if not con else f"{est}: {con}"
        ax.text(
            0.0,
            y,
            head,
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontweight="bold",
            fontsize=9,
        )
        y -= 1
        for row in block.itertuples(index=False):
            lo, hi = row.ci_low, row.ci_high
            ok = np.isfinite(row.estimate)
            if ok:
                ax.plot([lo, hi], [y, y], color="0.25", lw=1.4, solid_capstyle="butt")
                ax.plot(
                    row.estimate,
                    y,
                    marker=_MARKERS.get(row.method, "o"),
                    color="C0" if row.method in ("mi", "mixed") else "C1",
                    ms=6,
                    zorder=3,
                )
            ticks.append(y)
            labels.append(_LABELS.get(row.method, row.method) + ("" if ok else " (n/a)"))
            y -= 1
        y -= 0.4
    ax.axvline(0, color="0.5", lw=0.8, ls="--")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="C0", marker="o", ls="", label="valid under MAR (MI, mixed model)"),
        Line2D([], [], color="C1", marker="o", ls="", label="completers / carried forward"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_ylim(y + 0.4, 0.6)
    level = float(table["ci_level"].iloc[0]) if len(table) else 0.95
    ax.set_xlabel(f"Estimate (score points) with {level:.0%} CI; negative = scores went down")
    ax.set_title("Missing-data sensitivity", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax
