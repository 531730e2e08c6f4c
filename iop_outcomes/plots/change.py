"""Plots of symptom change: severity-band transitions and mean change by group.

Both functions read a result (of :func:`iop_outcomes.severity_shift` /
:func:`iop_outcomes.change_summary`) and never refit; they take ``ax=None`` (a new figure
is made, keyword-only) and return the Axes; neither calls ``plt.show()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Options, validate_params
from ..exceptions import ConfigError
from ._common import axes_or_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _one_instrument(result, func: str, analysis: str) -> str:
    """The result's only instrument; a result of several cannot share one panel."""
    insts = list(dict.fromkeys(result.table["instrument"]))
    if len(insts) != 1:
        raise ConfigError(
            f"iop.plots.{func} draws one instrument; the result holds {insts}. Plot a result of "
            f"one instrument, e.g. iop.{analysis}(episodes, instrument={insts[0]!r})."
        )
    return insts[0]


def _require_result(result, func: str, kind: str, attrs: tuple[str, ...]) -> None:
    """ConfigError unless ``result`` is the result object the plot reads."""
    if not all(hasattr(result, a) for a in attrs):
        raise ConfigError(
            f"The 'result' parameter of iop.plots.{func} must be a {kind} (the result of "
            f"iop.{'severity_shift' if 'Shift' in kind else 'change_summary'}). Got "
            f"{type(result).__name__} instead."
        )


__all__ = ["plot_severity_shift", "plot_change_by_group"]


@validate_params(
    {
        "result": ["no_validation"],  # a SeverityShiftResult, checked inside
        "kind": [Options("bars", "heatmap")],
        "stratum": ["no_validation"],  # a level (or tuple of levels) of the result's by=
        "ax": ["axes", None],
        "cmap": [str],
    },
    renamed={"data": "result", "group": "stratum"},
)
def plot_severity_shift(
    result,
    *,
    kind: str = "bars",
    stratum=None,
    ax=None,
    cmap: str = "YlOrRd",
) -> Axes:
    """Severity bands at baseline and endpoint: stacked bars or a shift heat map.

    Parameters
    ----------
    result : SeverityShiftResult
        A result of :func:`iop_outcomes.severity_shift` of one instrument (the plot
        reads it and never refits).
    kind : {"bars", "heatmap"}
        ``"bars"``: two stacked 100 % bars (baseline, endpoint), one segment per
        band, labelled with its percentage. ``"heatmap"``: baseline band (rows)
        × endpoint band (columns), cells coloured by row percentage and labelled
        with the count; cells below the diagonal are improvements.
    stratum : value or tuple, optional
        One stratum of a result computed with ``by=`` (a value, or a tuple with one
        value per ``by`` column); by default the strata are summed.
    ax : matplotlib Axes, optional
    cmap : str
        Matplotlib colour map (mild → severe).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [22, 16, 12, 12], "endpoint": [9, 16, 3, 15]})
    >>> ax = iop.plots.plot_severity_shift(iop.severity_shift(ep, instrument="PHQ-9"))
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['Baseline', 'Endpoint']
    """
    import matplotlib.pyplot as plt

    _require_result(result, "plot_severity_shift", "SeverityShiftResult", ("matrix", "table"))
    inst = _one_instrument(result, "plot_severity_shift", "severity_shift")
    m = result.matrix(inst, stratum, normalize=False).drop(columns="Total")
    labels = list(m.index)
    n = int(m.to_numpy().sum())
    colors = plt.get_cmap(cmap)(np.linspace(0.15, 0.9, len(labels)))
    ax = axes_or_new(ax, (5.5, 4.5) if kind == "bars" else (6, 5))
    if kind == "bars":
        base = m.sum(axis=1).to_numpy(dtype=float)
        end = m.sum(axis=0).to_numpy(dtype=float)
        shares = np.vstack([base, end]) / max(n, 1) * 100.0
        bottom = np.zeros(2)
        for j, lab in enumerate(labels):
            ax.bar([0, 1], shares[:, j], bottom=bottom, color=colors[j], label=lab, width=0.6)
            for x in (0, 1):
                if shares[x, j] >= 5:
                    ax.text(
                        x,
                        bottom[x] + shares[x, j] / 2,
                        f"{shares[x, j]:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=9,
                    )
            bottom += shares[:, j]
        ax.set_xticks([0, 1], ["Baseline", "Endpoint"])
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of paired episodes")
        handles, labs = ax.get_legend_handles_labels()
        ax.legend(
            handles[::-1],
            labs[::-1],
            title="Severity",
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
        )
    else:
        counts = m.to_numpy(dtype=float)
        tot = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(tot > 0, 100.0 * counts / tot, np.nan)
        im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if tot[i, 0] > 0:
                    ax.text(
                        j,
                        i,
                        f"{int(counts[i, j])}",
                        ha="center",
                        va="center",
                        color="white" if pct[i, j] > 60 else "black",
                        fontsize=9,
                    )
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("Endpoint band")
        ax.set_ylabel("Baseline band")
        ax.figure.colorbar(im, ax=ax, label="row %", fraction=0.046, pad=0.04)
    ax.set_title(f"{inst}: severity at baseline and endpoint (n = {n:,})")
    return ax


@validate_params(
    {
        "result": ["no_validation"],  # a ChangeSummaryResult, checked inside
        "ax": ["axes", None],
        "overall": ["boolean"],
    },
    renamed={"data": "result"},
)
def plot_change_by_group(
    result,
    *,
    ax=None,
    overall: bool = True,
) -> Axes:
    """Mean change (endpoint − baseline) with its confidence interval, one row per group.

    Parameters
    ----------
    result : ChangeSummaryResult
        A result of :func:`iop_outcomes.change_summary` of one instrument (the plot reads
        it and never refits); one row per stratum of its ``by=``.
    ax : matplotlib Axes, optional
    overall : bool
        Draw the Overall row (as a diamond, at the top).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"instrument": "PHQ-9", "format": ["virtual"] * 3 + ["in_person"] * 3,
    ...                    "baseline": [18, 15, 20, 16, 12, 22], "endpoint": [8, 9, 4, 12, 10, 11]})
    >>> ax = iop.plots.plot_change_by_group(iop.change_summary(ep, by="format"))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['virtual (n=3)', 'in_person (n=3)', 'Overall (n=6)']
    """
    _require_result(result, "plot_change_by_group", "ChangeSummaryResult", ("group_cols", "table"))
    res = result
    instrument = _one_instrument(result, "plot_change_by_group", "change_summary")
    t = res.to_frame()
    cols = list(res.group_cols)
    if cols:
        is_overall = (t[cols] == "Overall").all(axis=1).to_numpy()
        names = t[cols].astype(str).agg(" / ".join, axis=1).to_numpy()
    else:
        is_overall = np.ones(len(t), dtype=bool)
        names = np.array(["Overall"] * len(t))
    if not overall:
        keep = ~is_overall
        t, names, is_overall = t[keep], names[keep], is_overall[keep]
    # Overall at the top: draw rows bottom-up in reverse table order
    t, names, is_overall = t.iloc[::-1], names[::-1], is_overall[::-1]
    y = np.arange(len(t))
    est = t["mean_change"].to_numpy(dtype=float)
    lo = t["change_ci_low"].to_numpy(dtype=float)
    hi = t["change_ci_high"].to_numpy(dtype=float)
    ax = axes_or_new(ax, (6, 0.5 * len(t) + 1.5))
    err = np.vstack([est - lo, hi - est])
    err = np.where(np.isnan(err), 0, err)
    for mask, marker, size in ((~is_overall, "o", 6), (is_overall, "D", 8)):
        if mask.any():
            ax.errorbar(
                est[mask],
                y[mask],
                xerr=err[:, mask],
                fmt=marker,
                color="black" if marker == "D" else "tab:blue",
                markersize=size,
                capsize=3,
                linestyle="none",
            )
    ax.axvline(0, color="grey", linewidth=0.8, linestyle="--")
    labels = [f"{nm} (n={int(k):,})" for nm, k in zip(names, t["n_paired"], strict=True)]
    ax.set_yticks(y, labels)
    pct = f"{100 * res.ci_level:g}%"
    ax.set_xlabel(f"Mean change, endpoint − baseline ({pct} CI)")
    ax.set_title(f"{instrument}: mean change by {', '.join(cols) if cols else 'episode set'}")
    ax.set_ylim(-0.7, len(t) - 0.3)
    return ax
