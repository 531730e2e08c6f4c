"""The Jacobson–Truax plot of the shareable report, as a heat map that shows no individual.

The classic plot (:func:`iop_outcomes.plots.plot_jacobson_truax`) draws one point per episode:
sent outside the organisation, it shows every individual, and a lone point at a rare
baseline/end combination is a cell of one. Here the episodes are counted on a grid of score
cells (each axis cut into at most 9 equal bands of whole scores over the instrument's range),
and each cell is coloured by a **class** of counts (11–24, 25–49, 50–99, 100–199, 200 or more
with the default threshold 11): a cell of 1–10 episodes is left blank like an empty one, and no
exact count can be read off, so no small count follows by subtraction from the published
totals either. The line of no change, the band of change that is not reliable (the RCI
threshold, in points) and the clinical cut-off on both axes are drawn over it, from the same
:func:`iop_outcomes.clinical_significance` result as the report's table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..plots.clinsig import no_change_band
from .figures import drawn_when_writing, min_cell
from .render import subplots

if TYPE_CHECKING:
    import pandas as pd

    from .context import Ctx
    from .render import Section

_CLASS_COLORS = ("#e8f1f8", "#d6e6f2", "#9bc1dd", "#5a9bc9", "#2b6fa6", "#0d3f6b", "#061f38")


def _jt_grid(lo: int, hi: int, bands: int = 9) -> np.ndarray:
    """Cell edges for whole scores ``lo..hi``: at most ``bands`` equal bands, edges at
    half-points so that every score falls inside one band.

    >>> _jt_grid(0, 27).tolist()  # PHQ-9: 7 bands of 4 points (0-3, 4-7, ..., 24-27)
    [-0.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5]
    >>> _jt_grid(0, 21).tolist()[:3]  # GAD-7: bands of 3 points
    [-0.5, 2.5, 5.5]
    """
    w = int(np.ceil((hi - lo + 1) / bands))
    return lo - 0.5 + w * np.arange(int(np.ceil((hi - lo + 1) / w)) + 1)


def _count_classes(m: int) -> list[tuple[int, float, str]]:
    """Classes of cell counts drawn (lower, upper exclusive, label), the first from ``m``.

    >>> [c[2] for c in _count_classes(11)]
    ['11–24', '25–49', '50–99', '100–199', '200 or more']
    >>> [c[2] for c in _count_classes(1)][:3]  # without suppression
    ['1–4', '5–10', '11–24']
    """
    lows = [m, *[b for b in (5, 11, 25, 50, 100, 200) if b > m]]
    highs = [*lows[1:], np.inf]
    return [
        (lo, hi, f"{lo}–{int(hi) - 1}" if np.isfinite(hi) else f"{lo} or more")
        for lo, hi in zip(lows, highs, strict=True)
    ]


def _jt_cells(pre: Any, post: Any, edges: np.ndarray, m: int) -> np.ndarray:
    """Class index (0, 1, ...) of each grid cell's count, NaN for cells of fewer than ``m``
    episodes (empty or small); rows = end-score bands, columns = baseline bands.

    >>> e = np.array([-0.5, 9.5, 19.5])
    >>> _jt_cells([1] * 12 + [15] * 3, [2] * 12 + [1] * 3, e, 11)
    array([[ 0., nan],
           [nan, nan]])
    """
    counts, _, _ = np.histogram2d(
        np.asarray(post, dtype=float), np.asarray(pre, dtype=float), bins=[edges, edges]
    )
    cls = np.full(counts.shape, np.nan)
    for i, (lo, hi, _) in enumerate(_count_classes(m)):
        cls[(counts >= lo) & (counts < hi)] = i
    return cls


def plot_jt_heatmap(pre, post, params: dict, edges: np.ndarray, m: int, *, ax=None):
    """Draw the Jacobson–Truax heat map (see the module) on ``ax`` (a new figure when
    ``None``) and return the Axes.

    Parameters
    ----------
    pre, post : array-like
        Baseline and end scores of the episodes.
    params : dict
        ``ClinicalSignificanceResult.params`` (the reliable-change band and the cut-off).
    edges : array of float
        Cell edges (:func:`_jt_grid`).
    m : int
        Smallest count shown (:func:`.figures.min_cell`).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> p = {"method": "jacobson-truax", "threshold_points": 5.0, "cutoff_value": 10.0}
    >>> ax = plot_jt_heatmap([20] * 12, [5] * 12, p, _jt_grid(0, 27), 11)
    >>> ax.get_legend().get_texts()[0].get_text()
    '11–24 episodes'
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = subplots(figsize=(6.4, 4.6), dpi=100)
    classes = _count_classes(m)
    cmap = ListedColormap(list(_CLASS_COLORS[-len(classes) :]))
    cells = _jt_cells(pre, post, edges, m)
    norm = BoundaryNorm(np.arange(len(classes) + 1) - 0.5, len(classes))
    ax.pcolormesh(edges, edges, np.ma.masked_invalid(cells), cmap=cmap, norm=norm, lw=0)
    lo, hi = float(edges[0]), float(edges[-1])
    grid = np.array([lo, hi])
    handles = [Patch(color=cmap(i), label=f"{c[2]} episodes") for i, c in enumerate(classes)]
    blank = f"0–{m - 1} episodes" if m > 1 else "no episodes"
    handles.append(Patch(facecolor="white", edgecolor="#bbbbbb", label=blank))
    (ln,) = ax.plot(grid, grid, color="black", lw=1, label="no change")
    handles.append(ln)
    band = no_change_band(params, grid)
    if band is not None:
        lower, upper, label = band
        for line in (lower, upper):
            (bl,) = ax.plot(grid, line, color="#a23b2a", lw=1, ls="--", label=label)
        handles.append(bl)
    cut = params.get("cutoff_value")
    if cut is not None:
        ax.axvline(cut, color="#6a3d9a", lw=1, ls=":")
        cl = ax.axhline(cut, color="#6a3d9a", lw=1, ls=":", label=f"clinical cut-off {cut:.3g}")
        handles.append(cl)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("baseline score (points)")
    ax.set_ylabel("end score (points)")
    ax.spines[["top", "right"]].set_visible(False)
    # outside the axes, to the right: inside, it would cover cells or a line
    ax.legend(
        handles=handles, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1)
    )
    return ax


@drawn_when_writing
def fig_jt(ctx: Ctx, sec: Section, res: Any, table: pd.DataFrame, inst: str) -> None:
    """The heat map of the overall clinical-significance result ``res``, drawn when the
    table (``table``, as published) shows the overall n."""
    from .. import instruments

    if res is None or getattr(res, "episodes", None) is None:
        return
    p = res.params
    if p.get("method") != "jacobson-truax" or not {"pre", "post"} <= set(res.episodes.columns):
        return
    overall = table[table["group"].astype(str) == "Overall"]
    if overall.empty or not all(ctx.shown(v) for v in overall["n"]):
        return
    ep = res.episodes[res.episodes["category"].notna()]
    spec = instruments.get(inst)
    edges = _jt_grid(int(spec.total_min), int(spec.total_max))
    m = min_cell(ctx)
    ax = plot_jt_heatmap(ep["pre"], ep["post"], p, edges, m)
    w = int(edges[1] - edges[0])
    band = (
        f"the band of change that is not reliable (±{float(p['threshold_points']):.3g} points, "
        "the Jacobson–Truax reliable change threshold)"
        if np.isfinite(float(p.get("threshold_points", np.nan)))
        else "no reliable-change band"
    )
    cut = p.get("cutoff_value")
    ctx.add_figure(
        sec,
        f"jacobson_truax_{''.join(ch if ch.isalnum() else '_' for ch in inst.lower())}",
        f"{inst}: baseline and end score of every paired episode (Jacobson–Truax)",
        ax.figure,
        caption=f"{inst} baseline (x) against end score (y) of the paired episodes in the "
        f"clinical-significance table, counted in cells of {w} × {w} score points and "
        "shaded by how many episodes a cell holds, with the line of no change, "
        f"{band}"
        + (f" and the clinical cut-off ({cut:.3g} points) on both axes" if cut is not None else "")
        + ". Episodes below the line improved. Not a scatter of individual episodes: a report "
        "sent outside would show every person. "
        + (
            f"Cells of 1–{m - 1} episodes are left blank like empty cells, and counts are shown "
            "only as ranges, so no small count can be read off or worked out from the tables."
            if m > 1
            else "Counts are shown as ranges."
        ),
    )
