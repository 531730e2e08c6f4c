"""Plot of within-group (pre–post) effect sizes: one row per group, estimate and CI.

Takes ``ax=None`` (a new figure is made) and returns the Axes; never calls ``plt.show()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._validation import Interval, check_columns, validate_params
from ._common import axes_or_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_effect_sizes"]

_NON_LABEL = {
    "method",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "ci_level",
    "ci_method",
    "n_used",
    "n_excluded",
    "n_boot",
    "n_clusters",
    "mean_pre",
    "sd_pre",
    "mean_post",
    "sd_post",
    "r",
    "mean_change",
    "sd_change",
    "n",
    "r_source",
}


@validate_params(
    {
        "result": ["no_validation"],  # a TableResult or a DataFrame, columns checked inside
        "ax": ["axes", None],
        "show_n": ["boolean"],
        "null_line": [Interval(float, None, None, closed="neither"), None],
    },
    renamed={"reference": "null_line"},
)
def plot_effect_sizes(
    result, *, ax=None, show_n: bool = True, null_line: float | None = 0.0
) -> Axes:
    """Forest-style plot of pre–post effect sizes with their confidence intervals.

    Parameters
    ----------
    result : TableResult or DataFrame
        A result of :func:`iop_outcomes.rm_d` (or :func:`rm_d_from_summary`), or any table
        with ``estimate``, ``ci_low`` and ``ci_high``; grouping columns label the rows.
    ax : matplotlib Axes, optional
    show_n : bool
        Append ``n = ...`` (``n_used``) to each row label.
    null_line : float or None
        Draw a vertical line at this value of no effect (0 = no change); ``None`` for none.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> from iop_outcomes.plots.effectsize import plot_effect_sizes
    >>> ep = pd.DataFrame({"baseline": [20, 18, 15, 22, 17, 19, 14, 21, 16, 23],
    ...                    "endpoint": [12, 10, 11, 15, 9, 14, 10, 13, 12, 20],
    ...                    "format": ["virtual", "in_person"] * 5})
    >>> ax = plot_effect_sizes(iop.rm_d(ep, by="format"))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['in_person (n = 5)', 'virtual (n = 5)']
    """
    table = result.to_frame() if hasattr(result, "to_frame") else pd.DataFrame(result)
    check_columns(
        table,
        ("estimate", "ci_low", "ci_high"),
        func="plots.plot_effect_sizes",
        what="result",
        hint="Pass a result of iop.rm_d(...).",
    )
    ax = axes_or_new(ax, (6.0, 0.5 * len(table) + 1.5))
    label_cols = [c for c in table.columns if c not in _NON_LABEL]
    labels = []
    for i, row in table.reset_index(drop=True).iterrows():
        parts = [str(row[c]) for c in label_cols]
        lab = ", ".join(parts) if parts else ("all" if len(table) == 1 else f"row {i + 1}")
        if show_n and "n_used" in table.columns:
            lab += f" (n = {int(row['n_used']):,})"
        labels.append(lab)
    y = np.arange(len(table))[::-1]
    est = table["estimate"].to_numpy(dtype=float)
    lo = table["ci_low"].to_numpy(dtype=float)
    hi = table["ci_high"].to_numpy(dtype=float)
    ax.hlines(y, lo, hi, color="0.3", linewidth=1.5)
    ax.plot(est, y, "o", color="C0", markersize=6, zorder=3)
    if null_line is not None:
        ax.axvline(null_line, color="0.6", linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    method = str(table["method"].iloc[0]) if "method" in table.columns and len(table) else "d"
    level = float(table["ci_level"].iloc[0]) if "ci_level" in table.columns and len(table) else 0.95
    ax.set_xlabel(f"{method} ({level:.0%} CI); positive = improvement")
    ax.set_ylim(-0.7, len(table) - 0.3)
    return ax
