"""Clinical-significance plots: the Jacobson-Truax scatter and the distribution of change.

Both take a result of :func:`iop_outcomes.clinical_significance` (they read its ``episodes``
and ``params`` and never refit), draw on ``ax`` (a new figure when ``None``) and return the
Axes; neither calls ``plt.show()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import instruments
from .._validation import Interval, validate_params
from ..exceptions import ConfigError
from ._common import axes_or_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .._clinsig import ClinicalSignificanceResult

__all__ = ["plot_jacobson_truax", "plot_change_distribution"]

_COLORS = {
    "recovered": "#1b7837",
    "improved": "#7fbf7b",
    "unchanged": "#9e9e9e",
    "deteriorated": "#c51b7d",
    "harmed": "#67001f",
}


def _result(result: Any, func: str):
    """The result itself, checked to be one of :func:`iop_outcomes.clinical_significance`."""
    if not isinstance(getattr(result, "params", None), dict) or not hasattr(result, "table"):
        raise ConfigError(
            f"The 'result' parameter of iop.plots.{func} must be a result of "
            "iop.clinical_significance(...) (plots read results and never refit). "
            f"Got {type(result).__name__} instead."
        )
    if getattr(result, "episodes", None) is None or "method" not in result.params:
        raise ConfigError(
            f"iop.plots.{func} draws per-episode results; a group-level result "
            "(target='group') has no episodes to draw."
        )
    return result


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
        "point_size": [Interval(float, 0, None, closed="neither")],
        "alpha": [Interval(float, 0, 1, closed="both")],
    }
)
def plot_jacobson_truax(
    result: ClinicalSignificanceResult,
    *,
    ax: Axes | None = None,
    point_size: float = 18,
    alpha: float = 0.7,
) -> Axes:
    """The classic Jacobson-Truax plot: each episode's baseline (x) against its endpoint (y).

    Draws the line of no change, the band of change that is not counted (for Jacobson-Truax,
    :math:`|y - x|` within the threshold in points; for Gulliksen-Lord-Novick, Edwards-Nunnally,
    Nunnally-Kotsch and Hsu-Linn-Lord, around the regression-adjusted line; for
    Hageman-Arrindell, around the shrunken change; for the anchor-based and combined approaches,
    within the MID; for the percentage approach, the cone of relative change; none for the
    statistical approach), the clinical cut-off on both axes when one was used, and the points
    coloured by category (legend with counts).

    Parameters
    ----------
    result : ClinicalSignificanceResult
        A per-episode result of :func:`iop_outcomes.clinical_significance` (``method`` other
        than ``"nhs-talking-therapies"``).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.
    point_size, alpha : float
        Marker size and transparency.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [18, 15, 12, 20], "endpoint": [6, 13, 19, 14]})
    >>> res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed")
    >>> ax = iop.plots.plot_jacobson_truax(res)
    >>> ax.get_xlabel()
    'Baseline score (pre)'
    """
    res = _result(result, "plot_jacobson_truax")
    p = res.params
    method = p.get("method")
    if method == "nhs-talking-therapies":
        raise ConfigError(
            "plot_jacobson_truax draws distribution-based results (e.g. method='jacobson-truax'); "
            "use plot_change_distribution for NHS Talking Therapies results."
        )
    ep = res.episodes
    used = ep["category"].notna()
    x = ep.loc[used, "pre"].to_numpy(float)
    y = ep.loc[used, "post"].to_numpy(float)
    ax = axes_or_new(ax, (6, 6))

    lo = float(np.nanmin(np.r_[x, y])) if len(x) else 0.0
    hi = float(np.nanmax(np.r_[x, y])) if len(x) else 1.0
    if "instrument" in p:
        inst = instruments.get(p["instrument"])
        lo, hi = min(lo, inst.total_min), max(hi, inst.total_max)
    pad = 0.04 * (hi - lo if hi > lo else 1.0)
    lo, hi = lo - pad, hi + pad
    grid = np.array([lo, hi])

    # the band of change that is not counted as improvement or deterioration
    ax.plot(grid, grid, color="black", lw=1, label="no change")
    band = no_change_band(p, grid)
    if band is not None:
        lower, upper, label = band
        ax.fill_between(grid, lower, upper, color="#d9d9d9", alpha=0.6, lw=0, label=label)
        for line in (lower, upper):
            ax.plot(grid, line, color="#737373", lw=0.8, ls="--")
    cut = p.get("cutoff_value")
    if cut is not None:
        ax.axvline(cut, color="#2166ac", lw=1, ls=":")
        ax.axhline(
            cut, color="#2166ac", lw=1, ls=":", label=f"cut-off {p.get('cutoff')} = {cut:.3g}"
        )
    cats = ep.loc[used, "category"].astype(str).to_numpy()
    for c, col in _COLORS.items():
        sel = cats == c
        if sel.any():
            ax.scatter(
                x[sel],
                y[sel],
                s=point_size,
                color=col,
                alpha=alpha,
                edgecolor="none",
                label=f"{c} (n = {int(sel.sum()):,})",
                zorder=3,
            )
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Baseline score (pre)")
    ax.set_ylabel("Endpoint score (post)")
    better = p.get("better_is", "lower")
    src = p.get("threshold_source")
    extra = "" if p.get("reliability") is None else f", r = {p['reliability']:.3g}"
    thr = "" if src is None else f"; threshold: {src}"
    ax.set_title(f"{method}{thr}{extra}; {better} is better", fontsize=9)
    ax.legend(fontsize=7, loc="best", frameon=False)
    return ax


def no_change_band(p: dict, grid: np.ndarray):
    """(lower line, upper line, legend label) of the 'no change counted' band, or None.

    Lines are endpoint scores over the baseline ``grid``, one rule per method (the method's
    threshold rule stated in ``params``).
    """
    method = p.get("method")
    lower_better = p.get("better_is", "lower") == "lower"
    if method in ("anchor", "combined"):
        mi, md = float(p["mid_improvement"]), float(p["mid_deterioration"])
        below, above = (mi, md) if lower_better else (md, mi)
        label = f"change within the MID ({mi:g} points)" + (f" / {md:g}" if md != mi else "")
        return grid - below, grid + above, label
    if method == "percentage":
        pi, pd_ = float(p["pct_improvement"]), float(p["pct_deterioration"])
        below, above = (pi, pd_) if lower_better else (pd_, pi)
        g = np.clip(grid, 0, None)
        return g * (1 - below), g * (1 + above), f"change within {pi:.0%} / {pd_:.0%} of baseline"
    half = float(p.get("threshold_points", np.nan))
    if not np.isfinite(half):
        return None  # e.g. the statistical approach: cut-off crossing only
    if method == "jacobson-truax":
        centre = grid
    elif method == "hageman-arrindell":
        centre = grid + float(p["change_centre"])
    elif method == "hsu-linn-lord":
        r = float(p["reliability"])
        centre = float(p["mean_post"]) + r * (grid - float(p["mean_pre"]))
    else:  # gulliksen-lord-novick, edwards-nunnally, nunnally-kotsch
        r, m = float(p["reliability"]), float(p["mean_pre"])
        centre = m + r * (grid - m)
    return centre - half, centre + half, f"no reliable change (±{half:.3g} points)"


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
        "measure": ["instrument", None],
        "bins": [Interval(int, 1, None), list, tuple, np.ndarray, str, None],
    },
    renamed={"instrument": "measure"},
)
def plot_change_distribution(
    result: ClinicalSignificanceResult,
    *,
    ax: Axes | None = None,
    measure: str | None = None,
    bins: int | Any | None = None,
) -> Axes:
    """Histogram of change (endpoint − baseline) with the reliable-change thresholds marked.

    Parameters
    ----------
    result : ClinicalSignificanceResult
        A ``"jacobson-truax"`` result (threshold from the sample, a reference or fixed), an
        ``"anchor"`` or ``"combined"`` result (the MID for improvement is marked on both
        sides) or an ``"nhs-talking-therapies"`` result of
        :func:`iop_outcomes.clinical_significance`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.
    measure : str, optional
        For NHS joint results: which of the result's measures to show (default: the first,
        PHQ-9). Not an analysis choice: the result holds both measures' scores.
    bins : int or sequence, optional
        Histogram bins (default: one per integer point when the changes are whole numbers).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [18, 15, 12, 20], "endpoint": [6, 13, 19, 14]})
    >>> res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed")
    >>> ax = iop.plots.plot_change_distribution(res)
    >>> sorted(round(line.get_xdata()[0], 1) for line in ax.lines)
    [-6.0, 6.0]
    """
    res = _result(result, "plot_change_distribution")
    p = res.params
    method = p.get("method")
    ep = res.episodes
    marks = None
    if method in ("jacobson-truax", "anchor", "combined"):
        used = ep["category"].notna()
        change = ep.loc[used, "change"].to_numpy(float)
        half = float(p["threshold_points"])
        inclusive = p.get("threshold_source") in ("fixed", "anchor")
        if "mid_deterioration" in p:  # the MID for deterioration may differ
            md = float(p["mid_deterioration"])
            marks = (-half, md) if p.get("better_is", "lower") == "lower" else (-md, half)
        name = p.get("instrument", "score")
    elif method == "nhs-talking-therapies":
        cols = [c for c in ep.columns if c.endswith("_first")]
        if measure is None:
            col = "phq9_first" if "phq9_first" in cols else cols[0]
        else:
            inst = instruments.get(measure)
            col = f"{''.join(ch for ch in inst.name.lower() if ch.isalnum())}_first"
            if col not in cols:
                raise ConfigError(
                    f"{inst.name} is not in this result; measures: {[c[:-6] for c in cols]}."
                )
        s = col[:-6]
        name = {"phq9": "PHQ-9", "gad7": "GAD-7"}.get(s, s)
        counted = ep["counted"].to_numpy(bool)
        change = (ep[f"{s}_last"] - ep[f"{s}_first"]).to_numpy(float)[counted]
        change = change[np.isfinite(change)]
        half = float(instruments.get(name).reliable_change)
        inclusive = True
    else:
        raise ConfigError(
            "plot_change_distribution marks thresholds in points of raw change, which exist for "
            "'jacobson-truax', 'anchor', 'combined' and 'nhs-talking-therapies' results; got "
            f"{method!r} (whose rule is not a fixed number of points of raw change)."
        )
    if marks is None:
        marks = (-half, half)
    ax = axes_or_new(ax, (6, 6))
    if bins is None:
        if len(change) and np.allclose(change, np.round(change)):
            bins = np.arange(np.floor(change.min()) - 0.5, np.ceil(change.max()) + 1.5)
        else:
            bins = "auto"
    ax.hist(change, bins=bins, color="#bdbdbd", edgecolor="white")
    rel = "≥" if inclusive else ">"
    for sgn, xv in zip((-1, 1), marks, strict=True):
        ax.axvline(xv, color="#c51b7d" if sgn > 0 else "#1b7837", lw=1.2, ls="--")
    better = p.get("better_is", "lower")
    imp, det = ("decrease", "increase") if better == "lower" else ("increase", "decrease")
    ax.set_xlabel(f"Change in {name} (endpoint − baseline)")
    ax.set_ylabel("Episodes")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(
        f"{'Change beyond the MID' if method in ('anchor', 'combined') else 'Reliable change'}: "
        f"{imp} {rel} {abs(marks[0] if better == 'lower' else marks[1]):.3g} or {det} {rel} "
        f"{abs(marks[1] if better == 'lower' else marks[0]):.3g} points\n"
        f"({p.get('threshold_source')} threshold, {method})",
        fontsize=9,
    )
    return ax
