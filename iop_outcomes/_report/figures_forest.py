"""Forest plot of the comparison section's differences: each group vs the reference, adjusted
(the comparison table) and, when the data hold several sites, estimated within each site and
pooled (the site-pooling table's REML rows). Points and intervals are the published (suppressed,
rounded) table values: a row the table hides is not drawn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .figures import drawn_when_writing, numeric_rows
from .render import subplots

if TYPE_CHECKING:
    from .context import Ctx
    from .render import Section

_SERIES = (
    ("adjusted difference, all episodes", "#1f5f8b", "o"),
    ("within-site differences pooled (random effects, REML)", "#e3a35f", "D"),
)


def plot_forest_rows(
    rows: pd.DataFrame, *, margin: float | None = None, margin_label: str = "", ax=None
):
    """Draw ``rows`` (``label, series, estimate, ci_low, ci_high``; top to bottom) on ``ax``
    with a reference line at 0 and, when given, the non-inferiority ``margin``; returns the
    Axes.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> r = pd.DataFrame({"label": ["B − A"], "series": [0], "estimate": [0.5],
    ...                   "ci_low": [-0.2], "ci_high": [1.2]})
    >>> ax = plot_forest_rows(r, margin=2.5, margin_label="margin 2.5")
    >>> ax.get_lines()[0].get_xydata().tolist()  # the point drawn
    [[0.5, 0.0]]
    """
    if ax is None:
        _, ax = subplots(figsize=(6.4, 1.0 + 0.45 * len(rows)), dpi=100)
    y = -np.arange(len(rows), dtype=float)
    est, lo, hi = (rows[c].to_numpy(dtype=float) for c in ("estimate", "ci_low", "ci_high"))
    for s, (label, color, marker) in enumerate(_SERIES):
        sel = rows["series"].to_numpy() == s
        if sel.any():
            ax.errorbar(
                est[sel],
                y[sel],
                xerr=[np.clip(est - lo, 0, None)[sel], np.clip(hi - est, 0, None)[sel]],
                fmt=marker,
                color=color,
                capsize=3,
                label=label,
            )
    ax.set_yticks(y, list(rows["label"]))
    ax.set_ylim(y.min() - 0.6, 0.6)
    ax.axvline(0, color="#777777", lw=0.8)
    if margin is not None:
        ax.axvline(margin, color="#a23b2a", lw=1, ls="--", label=margin_label)
    ax.spines[["top", "right"]].set_visible(False)
    # outside the axes, above: inside, it may cover an interval or the margin line
    ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=1)
    return ax


def _forest_frame(ctx: Ctx, compare: pd.DataFrame, pooled: pd.DataFrame | None) -> pd.DataFrame:
    """The rows to draw: the comparison table's, then the pooled (REML) rows, as published."""
    cols = ["estimate", "ci_low", "ci_high"]

    def label(c) -> str:
        return str(ctx.label(c))  # "virtual - in_person" -> "Virtual − In person"

    parts = []
    d = numeric_rows(compare, cols)
    parts.append(d.assign(label=[label(c) for c in d["contrast"]], series=0))
    if pooled is not None and "tau2_method" in pooled:
        p = numeric_rows(pooled[pooled["tau2_method"].astype(str) == "REML"], cols)
        parts.append(p.assign(label=[f"{label(c)}, sites pooled" for c in p["contrast"]], series=1))
    out = pd.concat(parts, ignore_index=True)
    return out[["label", "series", "contrast", *cols]]


@drawn_when_writing
def fig_forest(
    ctx: Ctx,
    sec: Section,
    compare: pd.DataFrame,
    pooled: pd.DataFrame | None,
    noninf: pd.DataFrame | None,
    inst: str,
    g: str,
    ref: str,
) -> None:
    """The forest plot of the comparison (and site-pooling) tables as published; the margin
    is the one the non-inferiority table used."""
    rows = _forest_frame(ctx, compare, pooled)
    if rows.empty:
        return
    margin = None
    if noninf is not None and "margin" in noninf:
        mg = numeric_rows(noninf, ["margin"])["margin"]
        margin = float(mg.iloc[0]) if len(mg) else None
    how = "configured" if ctx.cfg.margin_for(inst) else "library default"
    ax = plot_forest_rows(
        rows,
        margin=margin,
        margin_label=f"non-inferiority margin {margin:g} ({how})" if margin is not None else "",
    )
    lvl = 100 * float(ctx.cfg.ci_level)
    ax.set_xlabel(f"difference in mean {inst} change, points ({lvl:g}% CI)")
    n_hidden = len(compare) - int((rows["series"] == 0).sum())
    ctx.add_figure(
        sec,
        f"forest_{''.join(ch if ch.isalnum() else '_' for ch in inst.lower())}",
        f"{inst}: differences in change, each {g} vs {ctx.label(ref)}",
        ax.figure,
        caption=f"Difference in mean {inst} change, each {g} minus {ctx.label(ref)} "
        f"(positive = less improvement), with {lvl:g}% confidence intervals: the adjusted "
        "comparison of all episodes"
        + (
            " and, below, the differences estimated within each site and pooled (random "
            "effects, REML)"
            if (rows["series"] == 1).any()
            else ""
        )
        + ", as in the tables"
        + (
            " (each site's own estimate is not drawn: the report does not publish it, as a "
            "site's groups can be small)"
            if (rows["series"] == 1).any()
            else ""
        )
        + ". Solid line: no difference"
        + (
            f"; dashed: the non-inferiority margin ({margin:g} points, {how})."
            if margin is not None
            else "."
        )
        + (f" {n_hidden} comparison(s) hidden in the table are not drawn." if n_hidden else ""),
    )
