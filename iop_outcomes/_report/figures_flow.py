"""The participant-flow diagram (CONSORT style), drawn from the flow table **as published**.

One row per stage of the flow table, in its order. The main column follows the episodes that
stay in the analysis — admitted → baseline measured → measured after baseline → discharged
with an endpoint score (the paired episodes) — joined by arrows; each stage's other boxes (no
baseline score, not measured after baseline, no endpoint score) sit in a side box to its
right. How treatment ended (completed, dropped out, transferred, ...) is a side box of its own
between them: those statuses split every admitted episode, they are not a step of the chain.
The follow-up windows follow below without arrows (each counts every admitted episode):
responded on the main column, eligible without response beside it.

Every count is the table's cell as printed — a number, "<11" or "*" — so the diagram never
prints a number the table hides, and it computes none (no sums or differences). Boxes the
table leaves out (0 in every group) are not drawn either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import drawn_when_writing
from .render import subplots

if TYPE_CHECKING:
    import pandas as pd

    from .context import Ctx
    from .render import Section

_LINE = 0.16  # inches per text line at 7.5 pt, with leading
_MAIN_X, _SIDE_X = 1.55, 3.35  # centre of the main column, left edge of the side boxes


def _cell(v: Any) -> str:
    """A published cell as printed: a count with thousands separators, a marker as is.

    >>> _cell(1200), _cell("<11"), _cell("*"), _cell(7.0)
    ('1,200', '<11', '*', '7')
    """
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return f"{int(v):,}"
    return str(v)


def _box_lines(ctx: Any, row: pd.Series, groups: list[str], total: str, head: str) -> list[str]:
    """``head: <total>`` then the groups' counts, three to a line."""
    lines = [f"{head}: {_cell(row[total])}"]
    parts = [f"{ctx.label(gname)} {_cell(row[gname])}" for gname in groups]
    lines += [" · ".join(parts[i : i + 3]) for i in range(0, len(parts), 3)]
    return lines


def plot_flow_boxes(stages: list[tuple[list[str] | None, list[list[str]], bool]], *, ax=None):
    """Draw the flow: for each stage ``(main box lines or None, [side box lines, ...], arrow
    in)`` top to bottom, the main box on the main column (an arrow from the main box above
    when ``arrow in``) and the side boxes merged into one box at its right. Returns the Axes
    (its unit is the inch).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = plot_flow_boxes([(["Admitted: 40"], [], False),
    ...                       (["Paired: 30"], [["No end score: <11"]], True)])
    >>> [t.get_text() for t in ax.texts if t.get_text()]  # (arrows are empty texts)
    ['Admitted: 40', 'Paired: 30', 'No end score: <11']
    """
    heights = [
        max(len(main or ()), sum(len(s) for s in sides) + max(len(sides) - 1, 0)) * _LINE + 0.3
        for main, sides, _ in stages
    ]
    total = sum(heights)
    if ax is None:
        _, ax = subplots(figsize=(6.6, total), dpi=100)
    ax.set_xlim(0, 6.6)
    ax.set_ylim(-total, 0)
    ax.set_axis_off()
    box = dict(boxstyle="round,pad=0.35", fc="#f4f7fa", ec="#1f5f8b", lw=0.8)
    side_box = dict(boxstyle="round,pad=0.35", fc="white", ec="#777777", lw=0.8)
    y, prev = 0.0, None
    for (main, sides, arrow), h in zip(stages, heights, strict=True):
        yc = y - h / 2
        if main:
            t = ax.text(
                _MAIN_X, yc, "\n".join(main), ha="center", va="center", fontsize=7.5, bbox=box
            )
            t.set_linespacing(1.3)
            if prev is not None and arrow:  # from the box above to the top of this one
                ax.annotate(
                    "",
                    xy=(_MAIN_X, yc + len(main) * _LINE / 2 + 0.08),
                    xytext=(_MAIN_X, prev),
                    arrowprops=dict(arrowstyle="->", color="#1f5f8b", lw=0.8),
                )
            prev = yc - len(main) * _LINE / 2 - 0.08
        if sides:
            text = "\n\n".join("\n".join(s) for s in sides)
            st = ax.text(_SIDE_X, yc, text, ha="left", va="center", fontsize=7.5, bbox=side_box)
            st.set_linespacing(1.3)
            ax.plot([_MAIN_X, _SIDE_X - 0.1], [yc, yc], color="#777777", lw=0.6, zorder=0)
        y -= h
    return ax


@drawn_when_writing
def fig_flow(ctx: Ctx, sec: Section, table: pd.DataFrame, inst: str, groups: list[str]) -> None:
    """The flow diagram of the published flow table ``table`` (columns ``stage, status``, the
    groups and ``All``)."""
    if table.empty:
        return
    stages = []
    for stage, sub in table.groupby("stage", sort=False):
        name = str(ctx.label(stage))
        window = str(stage).startswith("followup_")
        heads = [
            (f"{name}: {str(ctx.label(s)).lower()}" if window else str(ctx.label(s)))
            for s in sub["status"]
        ]
        rows = [r for _, r in sub.iterrows()]
        boxes = [_box_lines(ctx, r, groups, "All", h) for r, h in zip(rows, heads, strict=True)]
        if stage == "discharge":  # how treatment ended: every status beside the main column
            boxes[0].insert(0, "How treatment ended")
            stages.append((None, boxes, False))
        else:  # the follow-up windows count every admitted episode: no arrow into them
            stages.append((boxes[0], boxes[1:], not window))
    ax = plot_flow_boxes(stages)
    by = " and " + ", ".join(str(ctx.label(gname)) for gname in groups) if groups else ""
    ctx.add_figure(
        sec,
        "participant_flow",
        f"Participant flow ({inst})",
        ax.figure,
        caption=f"Flow of {inst} episodes, from the participant-flow table. Arrows follow the "
        "episodes that stay in the analysis, from admission to a score at baseline and at "
        "discharge (the paired episodes); the boxes at the right hold the others at each "
        "stage, and how treatment ended (completed, dropped out, transferred). Each row's boxes "
        "add up to the episodes admitted (the follow-up rows' too, so no arrow leads into "
        f"them). Counts are the table's, all episodes{by}"
        + (f"; <{ctx.threshold} and * mark counts the table hides" if ctx.threshold else "")
        + ", and boxes the table leaves out (0 in every group) are not drawn.",
    )
