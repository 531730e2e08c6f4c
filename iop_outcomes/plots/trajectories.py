"""Trajectory plots: mean trajectories with CI bands, individual curves, early-change share.

Every function reads a result (of :func:`iop_outcomes.trajectories` or
:func:`iop_outcomes.early_change`), never refits, takes ``ax=None`` (keyword-only; a new
figure is made when omitted) and returns the matplotlib Axes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, validate_params
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_trajectories", "plot_individual_trajectories", "plot_early_change"]

_ANALYSIS_OPTIONS = ("instrument", "group", "reference", "ci_level", "by")


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.2))
    return ax


def _colors(n: int) -> list:
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
    return [cycle[i % len(cycle)] for i in range(n)]


def _check_result(result: Any, kind: str, attrs: tuple[str, ...], func: str, made_by: str) -> None:
    """ConfigError unless ``result`` is the result object this plot reads (duck-typed: the plots
    never import the analysis modules)."""
    if type(result).__name__ != kind or not all(hasattr(result, a) for a in attrs):
        shown = (
            f"a DataFrame of shape {result.shape}"
            if hasattr(result, "shape") and hasattr(result, "columns")
            else repr(type(result).__name__)
        )
        article = "an" if kind[0] in "AEIOU" else "a"
        raise ConfigError(
            f"The 'result' parameter of iop.plots.{func} must be {article} {kind} (the result of "
            f"{made_by}). Got {shown} instead. Plots draw fitted results and never refit: "
            f"call {made_by} first and pass its result."
        )


def _no_analysis_options(kwargs: dict, func: str, made_by: str) -> None:
    """Analysis options belong to the analysis, not the plot."""
    bad = [k for k in _ANALYSIS_OPTIONS if k in kwargs]
    if bad:
        raise ConfigError(
            f"iop.plots.{func} has no parameter {bad[0]!r}: it draws a fitted result. Pass "
            f"{bad[0]}=... to {made_by} and plot its result."
        )


@validate_params(
    {
        "result": ["no_validation"],  # a TrajectoryResult, checked inside (duck-typed)
        "ax": ["axes", None],
        "observed": ["boolean"],
        "kwargs": ["no_validation"],  # passed to matplotlib
    }
)
def plot_trajectories(result: Any, *, ax=None, observed: bool = True, **kwargs) -> Axes:
    """Model-based mean trajectories by group with confidence bands.

    Parameters
    ----------
    result : TrajectoryResult
        A fitted :func:`iop_outcomes.trajectories` result: its model-based means
        (``result.means``, Wald CI bands) and, with ``observed=True``, the observed weekly
        means (``result.observed``) as points.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.
    observed : bool
        Overlay the observed weekly means.
    **kwargs
        Passed to the line plot.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import iop_outcomes as iop
    >>> from iop_outcomes._trajectories.prepare import example_data
    >>> ax = plot_trajectories(iop.trajectories(example_data()))
    >>> len(ax.get_lines())
    2
    """
    _check_result(
        result, "TrajectoryResult", ("means", "observed"), "plot_trajectories", "iop.trajectories"
    )
    _no_analysis_options(kwargs, "plot_trajectories", "iop.trajectories")
    ax = _axes(ax)
    means = result.means
    label = result.model_info.get("instrument") or "score"
    groups = list(dict.fromkeys(means["group"]))
    for g, col in zip(groups, _colors(len(groups)), strict=True):
        m = means[means["group"] == g]
        ax.plot(m["week"], m["estimate"], color=col, label=g, **kwargs)
        ax.fill_between(m["week"], m["ci_low"], m["ci_high"], color=col, alpha=0.2, lw=0)
        if observed:
            o = result.observed[result.observed["group"] == g]
            ax.scatter(o["week"], o["mean"], color=col, s=14, zorder=3)
    kind = "mixed model" if result.model_info.get("method") == "mixed" else "GEE"
    level = result.model_info.get("ci_level", 0.95)
    ax.set_title(f"{label}: model-based means ({kind}, {result.model_info.get('time')} time)")
    note = f"bands: {level:.0%} CI" + ("; points: observed means" if observed else "")
    ax.set_xlabel("week since admission")
    ax.set_ylabel(f"{label} total")
    ax.legend(title=note, fontsize="small", title_fontsize="small")
    return ax


@validate_params(
    {
        "result": ["no_validation"],  # a TrajectoryResult, checked inside (duck-typed)
        "ax": ["axes", None],
        "n": [Interval(int, 1, None, closed="left")],
        "seed": [Interval(int, 0, None, closed="left")],
        "mean": ["boolean"],
    }
)
def plot_individual_trajectories(
    result: Any, *, ax=None, n: int = 30, seed: int = 0, mean: bool = True
) -> Axes:
    """A seeded random sample of ``n`` episodes' observed curves, coloured by group.

    Draws the rows the model was fitted on (``result.rows``: in-treatment scores of the
    instrument modelled). Episodes are sampled with ``numpy.random.default_rng(seed)`` (same
    sample for the same result and seed). With ``mean=True`` the observed weekly mean of all
    episodes (``result.observed``) is drawn on top per group.

    Parameters
    ----------
    result : TrajectoryResult
        A fitted :func:`iop_outcomes.trajectories` result.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.
    n : int
        Number of episodes drawn (all when fewer).
    seed : int
        Seed of the sample.
    mean : bool
        Draw the observed weekly means per group.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import iop_outcomes as iop
    >>> from iop_outcomes._trajectories.prepare import example_data
    >>> res = iop.trajectories(example_data())
    >>> ax = plot_individual_trajectories(res, n=10, mean=False)
    >>> len(ax.get_lines())
    10
    """
    _check_result(
        result,
        "TrajectoryResult",
        ("rows", "observed"),
        "plot_individual_trajectories",
        "iop.trajectories",
    )
    df = result.rows
    ax = _axes(ax)
    eps = np.sort(df["episode_id"].unique())
    rng = np.random.default_rng(seed)
    chosen = rng.choice(eps, size=min(n, len(eps)), replace=False)
    sub = df[df["episode_id"].isin(chosen)]
    groups = list(dict.fromkeys(result.means["group"]))
    colors = dict(zip(groups, _colors(len(groups)), strict=True))
    seen: set = set()
    for _ep, e in sub.groupby("episode_id", sort=True):  # n sampled curves only
        g = e["group"].iloc[0]
        ax.plot(
            e["week"],
            e["total"],
            color=colors[g],
            alpha=0.35,
            lw=0.8,
            label=g if g not in seen else None,
        )
        seen.add(g)
    if mean:
        obs = result.observed
        for g in groups:
            m = obs[obs["group"] == g]
            ax.plot(m["week"], m["mean"].to_numpy(), color=colors[g], lw=2.5, label=f"{g} (mean)")
    ax.set_xlabel("week since admission")
    ax.set_ylabel(f"{result.model_info.get('instrument') or 'score'} total")
    ax.set_title(f"{len(chosen)} randomly sampled episodes (seed {seed})")
    ax.legend(fontsize="small")
    return ax


@validate_params(
    {
        "result": ["no_validation"],  # an EarlyChangeResult, checked inside (duck-typed)
        "ax": ["axes", None],
    }
)
def plot_early_change(result: Any, *, ax=None) -> Axes:
    """Early-change share by group: bars with Wilson CIs, share of mean change annotated.

    Parameters
    ----------
    result : EarlyChangeResult
        An :func:`iop_outcomes.early_change` result.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import iop_outcomes as iop
    >>> from iop_outcomes._trajectories.prepare import example_data
    >>> ax = plot_early_change(iop.early_change(example_data()))
    >>> len(ax.patches)
    2
    """
    _check_result(
        result, "EarlyChangeResult", ("table", "params"), "plot_early_change", "iop.early_change"
    )
    t = result.table
    ax = _axes(ax)
    x = np.arange(len(t))
    est = t["estimate"].to_numpy(float)
    err = np.vstack([est - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - est])
    ax.bar(x, est, color=_colors(len(t)), alpha=0.8)
    ax.errorbar(x, est, yerr=err, fmt="none", ecolor="black", capsize=4)
    for i, row in enumerate(t.itertuples()):
        ax.annotate(
            f"n={row.n_used}\nshare of mean change {row.share_of_change:.0%}",
            (i, 0.02),
            ha="center",
            va="bottom",
            fontsize="small",
        )
    week = result.params.get("week")
    thr = result.params.get("threshold")
    ax.set_xticks(x, t["group"].astype(str))
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"improved episodes with >= {thr:.0%} of change by week {week}")
    level = result.params.get("ci_level", 0.95)
    ax.set_title(f"Early change by week {week} ({level:.0%} Wilson CI)")
    return ax
