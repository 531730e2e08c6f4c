"""Plots of retention: participant flow diagram, Kaplan–Meier curves, follow-up response.

Every function reads a fitted result (never refits: no analysis is imported or run here), takes
``ax=None`` keyword-only (a new figure is made) and returns the Axes; none calls ``plt.show()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from .._validation import Interval, Options, public_name, validate_params
from ..exceptions import ConfigError
from ._common import axes_or_new

__all__ = ["plot_flow", "plot_km", "plot_followup_response"]

_LABELS = {
    "completed": "Completed",
    "dropped_out": "Dropped out",
    "transferred": "Transferred",
    "administrative": "Administrative",
    "ongoing": "Ongoing",
    "status unknown": "Status unknown",
}


def _check_result(result, func: str, needs: tuple[str, ...], what: str) -> None:
    """Raise the library's ConfigError unless ``result`` is the result this plot reads."""
    if not all(hasattr(result, a) for a in needs):
        raise ConfigError(
            f"The 'result' parameter of {public_name(func)} must be {what}. "
            f"Got {type(result).__name__} instead. Plots read fitted results and never refit."
        )


_FLOW = ("flow", "followup", "groups")
_SURV = ("curve", "los_curve", "at_risk", "transfers", "groups")


def _fmt(n: int, pct: float | None = None) -> str:
    return f"{n:,}" if pct is None or np.isnan(pct) else f"{n:,} ({pct:.0f}%)"


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
        "fontsize": [Interval(float, 0, None, closed="neither")],
    }
)
def plot_flow(result: Any, *, ax: Axes | None = None, fontsize: float = 8.0) -> Axes:
    """CONSORT-like participant flow diagram, one column per group, side by side.

    Main boxes follow the path admitted → baseline measured → measured after baseline →
    discharge status → discharged with an endpoint score → follow-up responders per window;
    side boxes give the episodes leaving the path at each stage.

    Parameters
    ----------
    result : RetentionResult
        A result of :func:`iop_outcomes.retention` (its ``flow`` and ``followup`` tables).
    ax : matplotlib Axes, optional
    fontsize : float
        Font size of the box text.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> from iop_outcomes.plots.retention import plot_flow
    >>> ep = pd.DataFrame({"baseline": [12, 15], "endpoint": [6, None], "n_in_treatment": [4, 1],
    ...                    "discharge_status": ["completed", "dropped_out"],
    ...                    "followup_1m": [7, None], "format": ["virtual", "in_person"]})
    >>> ax = plot_flow(iop.retention(ep, group="format", tests=False))
    >>> len(ax.texts) > 10
    True
    """
    _check_result(result, "plot_flow", _FLOW, "a RetentionResult (from iop.retention)")
    res = result
    flow = res.flow
    groups = list(res.groups)
    stages = list(pd.unique(flow["stage"]))
    k, ns = len(groups), len(stages)
    created = ax is None
    ax = axes_or_new(ax, (4.6 * k, 1.25 * ns + 0.6))
    cell = flow.set_index(["group", "stage", "box"])
    box_kw = dict(boxstyle="round,pad=0.4", facecolor="#eef3f8", edgecolor="#34495e", lw=0.8)
    side_kw = dict(boxstyle="round,pad=0.3", facecolor="#fbf5ea", edgecolor="#b7950b", lw=0.6)
    for gi, grp in enumerate(groups):
        x0 = gi * 1.0
        xm, xs = x0 + 0.3, x0 + 0.5
        adm = int(cell.loc[(grp, "admitted", "admitted"), "n"])
        ax.text(
            xm + 0.2,
            0.75,
            f"{grp}",
            ha="center",
            va="center",
            fontsize=fontsize + 2,
            fontweight="bold",
        )
        prev_y = None
        for si, stage in enumerate(stages):
            y = -si
            sub = flow.loc[(flow["group"] == grp) & (flow["stage"] == stage)].sort_values(
                "box_order"
            )
            n = sub["n"].to_numpy()
            pct = sub["pct"].to_numpy()
            boxes = sub["box"].tolist()
            side: list[str] = []
            if stage == "admitted":
                main = f"Admitted\nn = {adm:,}"
            elif stage == "discharge":
                main = "\n".join(
                    f"{_LABELS.get(b, b)}: {_fmt(int(c), p)}"
                    for b, c, p in zip(boxes, n, pct, strict=True)
                    if c > 0 or b in ("completed", "dropped_out")
                )
            elif stage.startswith("followup_"):
                w = stage.removeprefix("followup_")
                fu = res.followup.set_index(["group", "window"])
                rate = fu.loc[(grp, w), "estimate"] if (grp, w) in fu.index else np.nan
                elig = int(fu.loc[(grp, w), "n_eligible"]) if (grp, w) in fu.index else 0
                rtxt = "" if np.isnan(rate) else f" = {100 * rate:.0f}% of {elig:,} eligible"
                main = f"Follow-up {w}: responded\nn = {int(n[0]):,}{rtxt}"
                side = [f"{b}: {int(c):,}" for b, c in zip(boxes[1:], n[1:], strict=True) if c]
            else:
                main = f"{boxes[0][0].upper()}{boxes[0][1:]}\nn = {_fmt(int(n[0]), pct[0])}"
                side = [
                    f"{b}: {_fmt(int(c), p)}"
                    for b, c, p in zip(boxes[1:], n[1:], pct[1:], strict=True)
                    if c
                ]
            ax.text(xm, y, main, ha="center", va="center", fontsize=fontsize, bbox=box_kw, zorder=3)
            if side:
                ax.text(
                    xs,
                    y - 0.5,
                    "\n".join(side),
                    ha="left",
                    va="center",
                    fontsize=fontsize - 1,
                    bbox=side_kw,
                    zorder=3,
                )
                ax.annotate(
                    "",
                    xy=(xs - 0.01, y - 0.5),
                    xytext=(xm, y - 0.5),
                    arrowprops=dict(arrowstyle="->", lw=0.7, color="#7f8c8d"),
                    zorder=2,
                )
            if prev_y is not None:
                ax.annotate(
                    "",
                    xy=(xm, y + 0.28),
                    xytext=(xm, prev_y - 0.28),
                    arrowprops=dict(arrowstyle="->", lw=0.9, color="#34495e"),
                    zorder=2,
                )
            prev_y = y
    ax.set_xlim(-0.05, k)
    ax.set_ylim(-ns + 0.35, 1.05)
    ax.axis("off")
    ax.set_title(res.title or "Participant flow", fontsize=fontsize + 3)
    if created:
        ax.figure.tight_layout()
    return ax


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
        "ci": ["boolean"],
        "at_risk": ["boolean"],
        "curve": [Options("dropout", "los")],
    }
)
def plot_km(
    result: Any,
    *,
    ax: Axes | None = None,
    ci: bool = True,
    at_risk: bool = True,
    curve: str = "dropout",
) -> Axes:
    """Kaplan–Meier curves (or cumulative incidence) with CI bands and numbers at risk.

    Parameters
    ----------
    result : SurvivalResult
        A result of :func:`iop_outcomes.dropout_survival` (its curves and numbers at risk).
    ax : matplotlib Axes, optional
    ci : bool
        Shade the pointwise confidence band (log-log for Kaplan–Meier, log for cumulative
        incidence, as in the result).
    at_risk : bool
        Print the numbers at risk under the axis, aligned with the x ticks.
    curve : {"dropout", "los"}
        Time to dropout (the result's main curve) or length of stay (time to discharge for any
        reason).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> from iop_outcomes.plots.retention import plot_km
    >>> ep = pd.DataFrame({"los_days": [3, 5, 8, 10, 12, 20],
    ...                    "discharge_status": ["dropped_out", "completed"] * 3,
    ...                    "format": ["a", "b"] * 3})
    >>> ax = plot_km(iop.dropout_survival(ep, group="format"))
    >>> [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    ['a', 'b']
    """
    _check_result(result, "plot_km", _SURV, "a SurvivalResult (from iop.dropout_survival)")
    res = result
    cur = res.curve if curve == "dropout" else res.los_curve
    cif = curve == "dropout" and res.transfers == "competing"
    start = 0.0 if cif else 1.0
    groups = list(res.groups)
    created = ax is None
    ax = axes_or_new(ax, (7.5, 4.8 + 0.25 * len(groups)))
    colors = [f"C{i}" for i in range(len(groups))]
    for grp, col in zip(groups, colors, strict=True):
        c = cur.loc[cur["group"] == grp]
        t = np.concatenate([[0.0], c["time"].to_numpy(dtype=float)])
        s = np.concatenate([[start], c["estimate"].to_numpy(dtype=float)])
        ax.step(t, s, where="post", color=col, lw=1.6, label=str(grp))
        if ci:
            lo = np.concatenate([[start], c["ci_low"].to_numpy(dtype=float)])
            hi = np.concatenate([[start], c["ci_high"].to_numpy(dtype=float)])
            # R leaves the log-log limits undefined where S is 1 (or 0): draw no band there
            lo = np.where(np.isnan(lo), s, lo)
            hi = np.where(np.isnan(hi), s, hi)
            ax.fill_between(t, lo, hi, step="post", color=col, alpha=0.18, lw=0)
        cens = c.loc[c["n_censor"] > 0]
        ax.plot(cens["time"], cens["estimate"], "|", color=col, ms=5, mew=0.8, label="_censored")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Days since admission")
    if curve == "los":
        ax.set_ylabel("Still in treatment")
        ax.set_title("Length of stay (Kaplan–Meier, discharge for any reason)")
    elif cif:
        ax.set_ylabel("Cumulative incidence of dropout")
        ax.set_title("Dropout with transfers as a competing event (Aalen–Johansen)")
    else:
        ax.set_ylabel("Not dropped out")
        lvl = 100 * res.params.get("ci_level", 0.95)
        ax.set_title(f"Time to dropout (Kaplan–Meier, {lvl:g}% log-log CI)")
    ax.legend(frameon=False, loc="lower left" if not cif else "upper left")
    ax.grid(alpha=0.3)
    if at_risk and len(res.at_risk):
        from matplotlib.transforms import offset_copy

        ar = res.at_risk
        times = np.sort(ar["time"].unique())
        ax.set_xticks(times)
        ax.set_xlim(-0.02 * times.max(), times.max() * 1.04 if times.max() > 0 else 1)
        fig = ax.figure

        def below(transform, points):
            return offset_copy(transform, fig=fig, y=-points, units="points")

        head = 44
        ax.text(
            -0.05,
            0,
            "At risk",
            transform=below(ax.transAxes, head),
            ha="right",
            va="center",
            fontsize=8,
            fontweight="bold",
        )
        for i, (grp, col) in enumerate(zip(groups, colors, strict=True)):
            off = head + 12 * (i + 1)
            ax.text(
                -0.05,
                0,
                str(grp),
                transform=below(ax.transAxes, off),
                ha="right",
                va="center",
                fontsize=8,
                color=col,
            )
            row = ar.loc[ar["group"] == grp].set_index("time")["n_risk"]
            tr = below(ax.get_xaxis_transform(), off)
            for t in times:
                if t in row.index:
                    ax.text(
                        t,
                        0,
                        f"{int(row[t]):,}",
                        transform=tr,
                        ha="center",
                        va="center",
                        fontsize=8,
                        color=col,
                    )
        if created:
            need = (head + 12 * (len(groups) + 1) + 8) / 72  # inches below the axis
            fig.subplots_adjust(left=0.18, bottom=min(0.6, need / fig.get_figheight()))
    return ax


@validate_params({"result": ["no_validation"], "ax": ["axes", None], "include_all": ["boolean"]})
def plot_followup_response(
    result: Any, *, ax: Axes | None = None, include_all: bool = False
) -> Axes:
    """Follow-up response rate by window and group, with Wilson confidence intervals.

    Parameters
    ----------
    result : RetentionResult
        A result of :func:`iop_outcomes.retention` (its ``followup`` table).
    ax : matplotlib Axes, optional
    include_all : bool
        Also draw the all-groups bar.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> from iop_outcomes.plots.retention import plot_followup_response
    >>> ep = pd.DataFrame({"baseline": [12, 15, 9], "discharge_status": ["completed"] * 3,
    ...                    "followup_1m": [7, None, 5], "followup_3m": [None, None, 6],
    ...                    "format": ["a", "a", "b"]})
    >>> ax = plot_followup_response(iop.retention(ep, group="format", tests=False))
    >>> len(ax.patches)
    4
    """
    _check_result(result, "plot_followup_response", _FLOW, "a RetentionResult (from iop.retention)")
    res = result
    fu = res.followup
    if not include_all and len(res.groups) > 1:
        fu = fu.loc[fu["group"] != "(all)"]
    groups = list(pd.unique(fu["group"]))
    windows = list(pd.unique(fu["window"]))
    ax = axes_or_new(ax, (1.6 + 1.4 * len(windows) * max(1, len(groups)) / 2, 4.2))
    width = 0.8 / max(1, len(groups))
    x = np.arange(len(windows))
    for gi, grp in enumerate(groups):
        sub = fu.loc[fu["group"] == grp].set_index("window").reindex(windows)
        est = 100 * sub["estimate"].to_numpy(dtype=float)
        lo = 100 * sub["ci_low"].to_numpy(dtype=float)
        hi = 100 * sub["ci_high"].to_numpy(dtype=float)
        xs = x - 0.4 + width * (gi + 0.5)
        ax.bar(xs, np.nan_to_num(est), width * 0.92, color=f"C{gi}", label=str(grp))
        ax.errorbar(
            xs, est, yerr=[est - lo, hi - est], fmt="none", ecolor="black", lw=0.9, capsize=3
        )
        for xi, r, e, h in zip(xs, sub["n_responded"], sub["n_eligible"], hi, strict=True):
            if e > 0:
                ax.text(xi, h + 1.5, f"{int(r)}/{int(e)}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{w}" for w in windows])
    ax.set_xlabel("Follow-up window after discharge")
    ax.set_ylabel("Responded (% of eligible)")
    ax.set_ylim(0, 110)
    lvl = 100 * float(res.params.get("ci_level", 0.95)) if hasattr(res, "params") else 95.0
    ax.set_title(f"Follow-up response (Wilson {lvl:g}% CI)")
    if len(groups) > 1:
        ax.legend(frameon=False, ncols=min(4, len(groups)))
    ax.grid(axis="y", alpha=0.3)
    return ax
