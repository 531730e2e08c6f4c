"""Trajectory plots: mean trajectories with CI bands, individual curves, early-change share.

Every function takes ``ax=None`` (a new figure is made) and returns the matplotlib Axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_trajectories", "plot_individual_trajectories", "plot_early_change"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.2))
    return ax


def _colors(n: int) -> list:
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
    return [cycle[i % len(cycle)] for i in range(n)]


def plot_trajectories(
    obj: Any,
    *,
    ax=None,
    observed: bool = True,
    instrument: str | None = "PHQ-9",
    group: str | None = "format",
    ci_level: float = 0.95,
    **kwargs,
):
    """Mean trajectories by group with confidence bands.

    Parameters
    ----------
    obj : TrajectoryResult or DataFrame
        A fitted :func:`iop_outcomes.trajectories` result (model-based means with Wald CI
        bands; observed weekly means as points when ``observed=True``), or assessment rows
        (observed weekly means with t-based CIs, ``mean ± t·sd/√n``).
    ax : matplotlib Axes, optional
    observed : bool
        Overlay observed weekly means (model results only).
    instrument, group, ci_level
        Used when ``obj`` is a DataFrame (see :func:`iop_outcomes.trajectories`).
    **kwargs
        Passed to the line plot.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from iop_outcomes._trajectories.api import _example_data
    >>> from iop_outcomes.plots.trajectories import plot_trajectories
    >>> ax = plot_trajectories(_example_data())
    >>> len(ax.get_lines())
    2
    """
    from .._trajectories.api import TrajectoryResult, _prepare

    ax = _axes(ax)
    if isinstance(obj, TrajectoryResult):
        means = obj.means
        label = obj.model_info.get("instrument") or "score"
        groups = list(dict.fromkeys(means["group"]))
        for g, col in zip(groups, _colors(len(groups)), strict=True):
            m = means[means["group"] == g]
            ax.plot(m["week"], m["estimate"], color=col, label=g, **kwargs)
            ax.fill_between(m["week"], m["ci_low"], m["ci_high"], color=col, alpha=0.2, lw=0)
            if observed:
                o = obj.observed[obj.observed["group"] == g]
                ax.scatter(o["week"], o["mean"], color=col, s=14, zorder=3)
        kind = "mixed model" if obj.model_info.get("method") == "mixed" else "GEE"
        level = obj.model_info.get("ci_level", 0.95)
        ax.set_title(f"{label}: model-based means ({kind}, {obj.model_info.get('time')} time)")
        note = f"bands: {level:.0%} CI" + ("; points: observed means" if observed else "")
    else:
        from .._stats import mean_ci

        prep = _prepare(
            obj,
            func="plot_trajectories",
            instrument=instrument,
            group=group,
            site=None,
            max_week=None,
        )
        df = prep.df
        df = df.assign(group=df["grp"].astype(str) if prep.group else "all")
        obs = df.groupby(["weekr", "group"])["y"].agg(n="size", mean="mean", sd="std").reset_index()
        lo, hi = mean_ci(obs["mean"], obs["sd"], obs["n"], ci_level)
        obs["lo"], obs["hi"] = lo, hi
        groups = prep.levels if prep.group else ["all"]
        for g, col in zip(groups, _colors(len(groups)), strict=True):
            o = obs[obs["group"] == g]
            ax.plot(o["weekr"], o["mean"], marker="o", ms=3, color=col, label=g, **kwargs)
            ax.fill_between(o["weekr"], o["lo"], o["hi"], color=col, alpha=0.2, lw=0)
        label = prep.instrument or "score"
        ax.set_title(f"{label}: observed weekly means")
        note = f"bands: {ci_level:.0%} CI (t)"
    ax.set_xlabel("week since admission")
    ax.set_ylabel(f"{label} total")
    ax.legend(title=note, fontsize="small", title_fontsize="small")
    return ax


def plot_individual_trajectories(
    data: pd.DataFrame,
    *,
    instrument: str | None = "PHQ-9",
    group: str | None = "format",
    n: int = 30,
    seed: int = 0,
    mean: bool = True,
    ax=None,
):
    """A seeded random sample of ``n`` episodes' observed curves, coloured by group.

    Episodes are sampled with ``numpy.random.default_rng(seed)`` (same sample for the same
    data and seed). With ``mean=True`` the observed weekly mean of all episodes is drawn on
    top per group.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from iop_outcomes._trajectories.api import _example_data
    >>> ax = plot_individual_trajectories(_example_data(), n=10, mean=False)
    >>> len(ax.get_lines())
    10
    """
    from ..exceptions import ConfigError
    from .._trajectories.api import _prepare

    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(
            "The 'n' parameter of plot_individual_trajectories must be a positive integer. "
            f"Got {n!r} instead."
        )
    prep = _prepare(
        data,
        func="plot_individual_trajectories",
        instrument=instrument,
        group=group,
        site=None,
        max_week=None,
    )
    df = prep.df
    df = df.assign(group=df["grp"].astype(str) if prep.group else "all")
    ax = _axes(ax)
    eps = np.sort(df["ep"].unique())
    rng = np.random.default_rng(seed)
    chosen = rng.choice(eps, size=min(n, len(eps)), replace=False)
    sub = df[df["ep"].isin(chosen)]
    groups = prep.levels if prep.group else ["all"]
    colors = dict(zip(groups, _colors(len(groups)), strict=True))
    seen: set = set()
    for _ep, e in sub.groupby("ep", sort=True):  # n sampled curves only
        g = e["group"].iloc[0]
        ax.plot(
            e["week"],
            e["y"],
            color=colors[g],
            alpha=0.35,
            lw=0.8,
            label=g if g not in seen else None,
        )
        seen.add(g)
    if mean:
        for g in groups:
            m = df[df["group"] == g].groupby("weekr")["y"].mean()
            ax.plot(m.index, m.to_numpy(), color=colors[g], lw=2.5, label=f"{g} (mean)")
    ax.set_xlabel("week since admission")
    ax.set_ylabel(f"{prep.instrument or 'score'} total")
    ax.set_title(f"{len(chosen)} randomly sampled episodes (seed {seed})")
    ax.legend(fontsize="small")
    return ax


def plot_early_change(obj: Any, *, ax=None, **kwargs):
    """Early-change share by group: bars with Wilson CIs, share of mean change annotated.

    Parameters
    ----------
    obj : EarlyChangeResult or DataFrame
        An :func:`iop_outcomes.trajectories.early_change` result, or assessment rows (then
        ``early_change(obj, **kwargs)`` is computed).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from iop_outcomes._trajectories.api import _example_data
    >>> ax = plot_early_change(_example_data())
    >>> len(ax.patches)
    2
    """
    from .._trajectories.api import EarlyChangeResult, early_change

    res = obj if isinstance(obj, EarlyChangeResult) else early_change(obj, **kwargs)
    t = res.table
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
    week = res.params.get("week")
    thr = res.params.get("threshold")
    ax.set_xticks(x, t["group"].astype(str))
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"improved episodes with >= {thr:.0%} of change by week {week}")
    ax.set_title(f"Early change by week {week} ({res.params.get('ci_level', 0.95):.0%} Wilson CI)")
    return ax
