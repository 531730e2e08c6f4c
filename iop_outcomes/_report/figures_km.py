"""Kaplan–Meier curve of time to dropout with the numbers at risk under it, disclosure-safe.

The curve is the one the report's dropout table summarises (the same
:func:`iop_outcomes.dropout_survival` result, not refitted). What a shareable report may not
show, a figure may not show either; three rules, all through :func:`.figures.min_cell`
(``m``, the suppression threshold, 11 by default):

1. **Enough at risk.** A group's curve is drawn only while at least ``m`` episodes remain at
   risk; after that the curve stops (its tail would be steps of 1–10 episodes).
2. **Enough events per step.** Consecutive drops are merged so that each drawn drop holds at
   least ``m`` dropouts: the curve is drawn as steps at the times when ``m`` more dropouts
   have accumulated since the last drawn step, at the Kaplan–Meier estimate (and interval) of
   that time, and ends at the last such time. The drawn values are the fitted ones; only the
   steps in between are left out. Censoring ticks are not drawn: each marks one episode.
   (OpenSAFELY's ``kaplan-meier-function`` action meets the same risk differently: it rounds
   the cumulative counts of events and censorings to blocks of ``count_min`` and re-estimates
   the curve from them; here the curve drawn stays the one the dropout table reports.)
3. **Numbers at risk.** Printed as the tables print counts (:func:`.figures.fig_count`: 1–10
   as "<11"); an exact count is printed only when it differs from the row's previous exact
   count (or the group's n in the dropout table) by 0 or at least ``m`` — otherwise it reads
   "*" — so no two printed counts differ by a small number of episodes leaving treatment.
   Groups whose n or dropouts the dropout table hides are not drawn.

Under the ``round5`` policy the figure is not drawn (a sentence says why): every count it
would show, and every step, is exact, and that policy publishes counts only rounded to 5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .figures import drawn_when_writing, fig_count, min_cell
from .render import subplots

if TYPE_CHECKING:
    from .context import Ctx
    from .render import Section

_COLORS = ("#1f5f8b", "#e3a35f", "#6a9f58", "#a23b2a", "#7b5ea7", "#777777")


def _km_steps(curve: pd.DataFrame, m: int) -> pd.DataFrame:
    """The drawable steps of one group's Kaplan–Meier curve (rules 1 and 2 of the module).

    Parameters
    ----------
    curve : DataFrame
        One group's rows of ``SurvivalResult.curve`` (``time, n_risk, n_event, estimate,
        ci_low, ci_high``), by time.
    m : int
        The smallest count a reader may read off (1 = draw every step).

    Returns
    -------
    DataFrame
        ``time, estimate, ci_low, ci_high``: the start (time 0, estimate 1) and one row per
        drawn step; the curve ends at the last row.

    Examples
    --------
    >>> c = pd.DataFrame({"time": [1.0, 2, 3, 4, 5], "n_risk": [30, 25, 20, 12, 7],
    ...                   "n_event": [5, 4, 3, 1, 6], "estimate": [.83, .7, .6, .55, .14],
    ...                   "ci_low": [.7, .5, .4, .3, .01], "ci_high": [.9, .8, .7, .6, .3]})
    >>> _km_steps(c, 8)  # 5+4 >= 8 at day 2; 3+1 < 8 by day 4; day 5 has < 8 at risk
       time  estimate  ci_low  ci_high
    0   0.0       1.0     1.0      1.0
    1   2.0       0.7     0.5      0.8
    >>> len(_km_steps(c, 1))  # no threshold: every event time
    6
    """
    c = curve.sort_values("time")
    c = c[c["n_risk"].to_numpy() >= m]  # n_risk never grows: a prefix of the curve
    ev = c[c["n_event"].to_numpy() > 0]
    keep = np.zeros(len(ev), dtype=bool)
    since = 0
    for i, d in enumerate(ev["n_event"].to_numpy(dtype=int)):  # event times, not rows of data
        since += d
        if since >= m:
            keep[i], since = True, 0
    cols = ["time", "estimate", "ci_low", "ci_high"]
    start = pd.DataFrame([[0.0, 1.0, 1.0, 1.0]], columns=cols)
    steps = ev.loc[keep, cols].astype(float)
    # R leaves the log-log interval undefined where S is 1: no band there
    for b in ("ci_low", "ci_high"):
        steps[b] = steps[b].fillna(steps["estimate"])
    return pd.concat([start, steps], ignore_index=True)


def _at_risk_labels(n_risk: Any, ctx: Any, n: int | None = None) -> list[str]:
    """The numbers at risk of one group as printed (rule 3 of the module).

    Parameters
    ----------
    n_risk : sequence of int
        Numbers at risk at the grid times, in time order (never increasing).
    ctx : the build context (its suppression threshold)
    n : int, optional
        The group's n as the dropout table prints it (a printed count the row is checked
        against).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> _at_risk_labels([533, 530, 490, 300, 8, 0], NS(threshold=11), n=533)
    ['533', '*', '490', '300', '<11', '0']
    """
    m = min_cell(ctx)
    out, last = [], n
    for v in np.asarray(n_risk, dtype=int):
        text = fig_count(ctx, v)
        if text[:1].isdigit():
            if last is not None and 0 < last - v < m:
                text = "*"
            else:
                last = int(v)
        out.append(text)
    return out


def plot_km_at_risk(
    steps: dict[str, pd.DataFrame],
    at_risk: dict[str, list[str]],
    times: np.ndarray,
    *,
    ax=None,
    ax_table=None,
    ci_level: float = 0.95,
):
    """Draw the Kaplan–Meier steps of each group on ``ax`` and the numbers at risk on
    ``ax_table`` (under it, same x axis; a new figure when either is ``None``).

    Parameters
    ----------
    steps : dict of name -> DataFrame
        Each group's drawable steps (:func:`_km_steps`).
    at_risk : dict of name -> list of str
        Each group's numbers at risk as printed (:func:`_at_risk_labels`), at ``times``.
    times : array of float
        The days of the numbers at risk (also the x ticks).
    ax, ax_table : matplotlib Axes, optional
    ci_level : float
        Level of the shaded intervals (for the legend's title).

    Returns
    -------
    (Axes, Axes)

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> s = pd.DataFrame({"time": [0.0, 7], "estimate": [1, .8], "ci_low": [1, .7],
    ...                   "ci_high": [1, .9]})
    >>> ax, tab = plot_km_at_risk({"A": s}, {"A": ["40", "25"]}, np.array([0.0, 7]))
    >>> [t.get_text() for t in tab.texts]
    ['40', '25']
    """
    if ax is None or ax_table is None:
        _, (ax, ax_table) = subplots(
            2,
            1,
            sharex=True,
            figsize=(6.4, 3.6 + 0.22 * len(steps)),
            dpi=100,
            gridspec_kw={"height_ratios": [3.2, 0.35 + 0.22 * len(steps)], "hspace": 0.45},
        )
    names = list(steps)
    for i, gname in enumerate(names):
        s = steps[gname]
        col = _COLORS[i % len(_COLORS)]
        t = s["time"].to_numpy()
        ax.step(t, 100 * s["estimate"], where="post", color=col, lw=1.6, label=gname)
        ax.fill_between(
            t, 100 * s["ci_low"], 100 * s["ci_high"], step="post", color=col, alpha=0.15, lw=0
        )
        ax.plot(t[-1:], 100 * s["estimate"].to_numpy()[-1:], "|", color=col, ms=7, mew=1.2)
    ax.set_ylim(0, 101)
    ax.set_ylabel("% not dropped out")
    ax.set_xticks(times)
    ax.set_xlim(-0.02 * times.max(), 1.03 * times.max())
    ax.tick_params(labelbottom=True)
    ax.set_xlabel("days since admission")
    ax.grid(alpha=0.3, lw=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    # outside the axes, to the right: inside, it may cover a curve or a band
    ax.legend(
        frameon=False,
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title=f"{100 * ci_level:g}% CI shaded",
        title_fontsize=7,
    )
    for i, gname in enumerate(names):
        col = _COLORS[i % len(_COLORS)]
        for t, text in zip(times, at_risk[gname], strict=True):
            ax_table.text(t, i, text, ha="center", va="center", fontsize=8, color=col)
    ax_table.set_ylim(len(names) - 0.5, -0.5)
    ax_table.set_yticks(range(len(names)), names, fontsize=8)
    ax_table.tick_params(left=False, bottom=False, labelbottom=False)
    for sp in ax_table.spines.values():
        sp.set_visible(False)
    ax_table.set_title("Number at risk", fontsize=8, loc="left")
    return ax, ax_table


@drawn_when_writing
def fig_km(ctx: Ctx, sec: Section, res: Any, table: pd.DataFrame, inst: str, g: str | None):
    """The Kaplan–Meier figure of the dropout table's result ``res`` (``table`` is that
    table as published, suppressed)."""
    if res is None or res.transfers != "censor" or not len(res.at_risk):
        return
    if ctx.policy == "round5":
        sec.p(
            "The Kaplan–Meier figure of time to dropout is not drawn under the round5 policy: "
            "its steps and numbers at risk would give exact counts, which this report "
            "publishes only rounded to 5."
        )
        return
    m = min_cell(ctx)
    shown = {
        str(r["group"]): int(r["n"])
        for _, r in table.iterrows()
        if ctx.shown(r.get("n")) and ctx.shown(r.get("dropouts"))
    }
    times = np.sort(res.at_risk["time"].unique().astype(float))
    steps, rows, dropped = {}, {}, []
    for gname in res.groups:
        lab = str(gname)
        if lab not in shown:
            dropped.append(str(ctx.label(lab)))
            continue
        cur = res.curve[res.curve["group"].astype(str) == lab]
        ar = res.at_risk[res.at_risk["group"].astype(str) == lab].sort_values("time")
        shown_lab = str(ctx.label(lab)) if g else "All episodes"
        steps[shown_lab] = _km_steps(cur, m)
        rows[shown_lab] = _at_risk_labels(ar["n_risk"].to_numpy(), ctx, n=shown[lab])
    if not steps:
        sec.p(
            "The Kaplan–Meier figure of time to dropout is not drawn: the dropout table "
            "hides the number of episodes or of dropouts of every group."
        )
        return
    ax, _ = plot_km_at_risk(steps, rows, times, ci_level=float(res.params.get("ci_level", 0.95)))
    by = f" by {g}" if g else ""
    rule = (
        f"Each group's curve is drawn only while at least {m} episodes remain at risk, and as "
        f"steps at the times when {m} more dropouts had accumulated (at the Kaplan–Meier "
        "estimate of that time), so that no step shows fewer than "
        f"{m} episodes; it ends at the bar. Censoring marks are not drawn (each marks one "
        f"episode). Numbers at risk of 1–{m - 1} read <{m}; a number that would differ from "
        f"the one before it by 1–{m - 1} episodes reads *."
        if m > 1
        else "Every step is drawn; censoring marks are not."
    )
    ctx.add_figure(
        sec,
        "dropout_km",
        f"Time to dropout{by} (Kaplan–Meier)",
        ax.figure,
        caption=f"Share of {inst} episodes not yet dropped out, by days since admission{by} "
        "(the Kaplan–Meier estimate of the dropout table: completers, transfers and ongoing "
        "episodes censored), with pointwise log-log intervals shaded and the numbers at risk "
        f"under the axis. {rule}"
        + (f" Not drawn (counts hidden in the table): {', '.join(dropped)}." if dropped else ""),
    )
