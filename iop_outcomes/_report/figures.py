"""The report's figures, drawn from the **suppressed** tables (a figure never shows what its
table hides), with the numbers rounded as the tables publish them (:func:`as_drawn`).

Figures that draw counts the tables do not list (numbers at risk, the Kaplan–Meier steps, the
Jacobson–Truax heat map) read the small-cell rule through two functions only,
:func:`min_cell` (the smallest count a figure may let a reader read off) and
:func:`fig_count` (a count as printed), so that a suppression policy plugs in at one place.
More figures: :mod:`.figures_km`, :mod:`.figures_jt`, :mod:`.figures_forest`,
:mod:`.figures_flow`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .format import safe_count, slug
from .render import FILE_DECIMALS, Section, subplots

if TYPE_CHECKING:
    from .context import Ctx


def min_cell(ctx: Ctx) -> int:
    """The smallest number of episodes a figure may let a reader read off (a cell, a step, a
    difference of two printed counts): the report's suppression threshold, 1 without one.

    >>> from types import SimpleNamespace as NS
    >>> min_cell(NS(threshold=11)), min_cell(NS(threshold=None))
    (11, 1)
    """
    th = ctx.threshold
    return int(th) if th else 1


def drawn_when_writing(fn):
    """A figure function ``fn(ctx, sec, ...)`` that draws when the report is written.

    On a build pass that only settles the suppression (``ctx.draw`` false) the call is kept
    (:meth:`.context.Ctx.defer`) with a place held in ``sec``; the pass whose tables are final
    draws its kept figures (:meth:`.context.Ctx.draw_deferred`), from the same suppressed
    tables, into those places. A figure publishes nothing a table does not."""

    @functools.wraps(fn)
    def draw_if_writing(ctx: Ctx, sec: Section, *args: Any, **kwargs: Any) -> Any:
        if ctx.draw:
            return fn(ctx, sec, *args, **kwargs)
        ctx.defer(sec, functools.partial(fn, ctx), args, kwargs)
        return None

    return draw_if_writing


def fig_count(ctx: Ctx, n: int) -> str:
    """A count printed in a figure, as the report prints counts in its text (1–10 as "<11").

    >>> from types import SimpleNamespace as NS
    >>> ctx = NS(threshold=11)
    >>> fig_count(ctx, 7), fig_count(ctx, 1200), fig_count(ctx, 0)
    ('<11', '1,200', '0')
    """
    return safe_count(int(n), ctx.threshold)


def numeric_rows(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """The rows whose ``cols`` are all numbers (not suppressed), with those numbers as drawn:
    see :func:`as_drawn`."""
    ok = np.ones(len(df), dtype=bool)
    for c in cols:
        ok &= np.array([isinstance(v, (int, float, np.integer, np.floating)) for v in df[c]])
    return as_drawn(df[ok], cols)


def as_drawn(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """``df`` with ``cols`` rounded to the tables' FILE_DECIMALS: a figure draws the numbers its
    table publishes, so the same data give the same SVG bytes on every CPU (model fits differ
    in the last bits between BLAS kernels, which moved axis limits and hence the layout)."""
    out = df.copy()
    for c in cols:
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float).round(FILE_DECIMALS)
    return out


@drawn_when_writing
def fig_change(ctx: Ctx, sec: Section, t: pd.DataFrame, inst: str, g: str | None) -> None:
    d = numeric_rows(t, ["baseline_mean", "endpoint_mean"])
    if d.empty:
        return
    fig, ax = subplots(figsize=(6.4, 3.4), dpi=100)
    x = np.arange(len(d))
    ax.bar(x - 0.2, d["baseline_mean"].astype(float), 0.4, label="baseline", color="#9bb7d4")
    ax.bar(x + 0.2, d["endpoint_mean"].astype(float), 0.4, label="endpoint", color="#1f5f8b")
    ax.set_xticks(x, [str(ctx.label(v)) for v in d["group"]])
    ax.set_ylabel(f"mean {inst} total (points)")
    ax.legend(frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"change_{slug(inst)}",
        f"Mean {inst} at baseline and endpoint" + (f" by {g}" if g else ""),
        fig,
        caption=f"Mean {inst} at baseline and endpoint (paired episodes). A group whose means "
        "are hidden in the table (too few paired episodes) is not drawn.",
    )


@drawn_when_writing
def fig_clinsig(ctx: Ctx, sec: Section, t: pd.DataFrame, inst: str, by: str) -> None:
    d = numeric_rows(t, ["estimate"])
    if d.empty:
        return
    groups = list(dict.fromkeys(d["group"]))
    outcomes = list(dict.fromkeys(t["outcome"]))
    colors = ["#1f5f8b", "#6fa3c7", "#c9d3dc", "#e3a35f", "#a23b2a", "#777777"]
    fig, ax = subplots(figsize=(6.4, 0.6 + 0.55 * len(groups)), dpi=100)
    left = np.zeros(len(groups))
    for i, o in enumerate(outcomes):
        vals = np.array(
            [
                float(d[(d["group"] == gname) & (d["outcome"] == o)]["estimate"].sum())
                for gname in groups
            ]
        )
        ax.barh(
            [str(ctx.label(v)) for v in groups],
            100 * vals,
            left=left,
            color=colors[i % len(colors)],
            label=str(ctx.label(o)),
        )
        left += 100 * vals
    ax.set_xlabel("% of paired episodes")
    ax.set_xlim(0, 100)
    ax.legend(
        ncols=min(len(outcomes), 5),
        frameon=False,
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35 if len(groups) < 4 else -0.2),
    )
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"clinsig_{slug(inst)}",
        f"{inst} reliable change categories by {by}",
        fig,
        caption=f"{inst} Jacobson–Truax categories by {by}. Suppressed categories are left "
        "out, so a bar may not reach 100%.",
    )


@drawn_when_writing
def fig_noninferiority(
    ctx: Ctx, sec: Section, t: pd.DataFrame, inst: str, g: str, ref: str
) -> None:
    if not {"estimate", "ci_low", "ci_high", "margin"} <= set(t.columns):
        return
    d = numeric_rows(t, ["estimate", "ci_low", "ci_high", "margin"])
    if d.empty:
        return
    fig, ax = subplots(figsize=(6.4, 0.9 + 0.5 * len(d)), dpi=100)
    y = np.arange(len(d))[::-1]
    est = d["estimate"].astype(float).to_numpy()
    lo = d["ci_low"].astype(float).to_numpy()
    hi = d["ci_high"].astype(float).to_numpy()
    ax.errorbar(
        est,
        y,
        xerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)],
        fmt="o",
        color="#1f5f8b",
        capsize=3,
    )
    ax.set_yticks(y, [str(ctx.label(c)) for c in d["contrast"]])
    ax.axvline(0, color="#777777", lw=0.8)
    margin = float(d["margin"].astype(float).iloc[0])
    ax.axvline(margin, color="#a23b2a", lw=1, ls="--", label=f"margin {margin:g}")
    lvl = d["ci_level"].astype(float).iloc[0] if "ci_level" in d else np.nan
    ax.set_xlabel(
        f"difference in adjusted mean change, {inst} points"
        + (f" ({100 * lvl:g}% CI)" if np.isfinite(lvl) else "")
    )
    # outside the axes: a legend inside may cover an interval or the margin line
    ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"noninferiority_{slug(inst)}",
        f"{inst}: non-inferiority of each {g} vs {ctx.label(ref)}",
        fig,
        caption=f"Difference in adjusted mean {inst} change (each {g} minus {ctx.label(ref)}; "
        "positive = "
        "less improvement) with the interval used for the one-sided test. Non-inferiority is "
        "shown when the whole interval lies left of the dashed margin.",
    )


@drawn_when_writing
def fig_followup(ctx: Ctx, sec: Section, t: pd.DataFrame, inst: str) -> None:
    d = numeric_rows(t, ["estimate", "ci_low", "ci_high"])
    if d.empty:
        return
    fig, ax = subplots(figsize=(6.4, 3.2), dpi=100)
    windows = list(dict.fromkeys(t["window"]))
    pos = {w: i for i, w in enumerate(windows)}
    for gname, sub in d.groupby("group", sort=False):
        x = sub["window"].map(pos).to_numpy(dtype=float)
        y = 100 * sub["estimate"].astype(float).to_numpy()
        lo = 100 * sub["ci_low"].astype(float).to_numpy()
        hi = 100 * sub["ci_high"].astype(float).to_numpy()
        err = [np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=str(ctx.label(gname)))
    ax.set_xticks(range(len(windows)), [str(ctx.label(w)) for w in windows])
    ax.set_xlabel("follow-up window after discharge")
    ax.set_ylabel("% responded")
    ax.set_ylim(0, 100)
    # outside the axes, to the right: inside, it may cover a point or an interval
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        "followup_response",
        "Follow-up response by window",
        fig,
        caption="Share of discharged episodes with a follow-up score in each window "
        f"({inst}), with Wilson 95% intervals. A rate the table hides (too few episodes) is "
        "not drawn.",
    )


@drawn_when_writing
def fig_trajectories(ctx: Ctx, sec: Section, means: pd.DataFrame, inst: str) -> None:
    """Model-based mean scores by week and group with their confidence bands (the trajectory
    model's ``means``, rounded as drawn)."""
    fig, ax = subplots(figsize=(6.4, 3.4), dpi=100)
    groups = means["group"] if "group" in means else pd.Series("All", index=means.index)
    for gname, sub in means.groupby(groups.astype("object"), sort=True):
        sub = sub.sort_values("week")
        x = sub["week"].to_numpy(dtype=float)
        ax.plot(x, sub["estimate"].to_numpy(dtype=float), marker="o", ms=3, label=str(gname))
        if {"ci_low", "ci_high"} <= set(sub):
            ax.fill_between(
                x,
                sub["ci_low"].to_numpy(dtype=float),
                sub["ci_high"].to_numpy(dtype=float),
                alpha=0.15,
            )
    ax.set_xlabel("week since admission")
    ax.set_ylabel(f"model-based mean {inst}")
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"trajectory_{slug(inst)}",
        f"{inst} weekly trajectories",
        fig,
        caption=f"Model-based mean {inst} by week with {100 * ctx.cfg.ci_level:g}% "
        "confidence bands (linear mixed model).",
    )
