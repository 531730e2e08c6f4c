"""Plots for cohort comparisons: forest plots, Love plots, equivalence plots, dose–response.

Every function takes ``ax=None`` (a new figure is made when omitted) and returns the
matplotlib Axes; none calls ``plt.show()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._validation import Interval, validate_params
from ..exceptions import ConfigError
from ._common import axes_or_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_forest", "plot_love", "plot_equivalence", "plot_dose_response"]


def _forest_rows(obj) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """Rows (label, estimate, ci_low, ci_high) and optional pooled rows."""
    if isinstance(obj, pd.DataFrame):
        need = {"label", "estimate", "ci_low", "ci_high"}
        if not need <= set(obj.columns):
            raise ConfigError(
                f"plot_forest needs columns {sorted(need)} in a DataFrame. "
                f"Got {list(obj.columns)} instead."
            )
        return obj.copy(), None, "Estimate"
    # results are told apart by what they hold (pool_sites: sites; subgroups: interaction)
    if getattr(obj, "sites", None) is not None:
        s = obj.sites.copy()
        multi = s["contrast"].nunique() > 1
        s["label"] = s["site"].astype(str) + ((" | " + s["contrast"]) if multi else "")
        pooled = obj.table.copy()
        if len(pooled):
            pooled["label"] = (
                "Pooled ("
                + pooled["tau2_method"]
                + ")"
                + ((" | " + pooled["contrast"]) if multi else "")
            )
        xlabel = "Effect (per site)" if s["contrast"].iloc[0] != "mean change" else "Mean change"
        return s, pooled, xlabel
    if getattr(obj, "interaction", None) is not None:
        t = obj.table.copy()
        multi = t["contrast"].nunique() > 1
        by = obj.params.get("by", "subgroup")
        t["label"] = (
            f"{by}=" + t["subgroup"].astype(str) + ((" | " + t["contrast"]) if multi else "")
        )
        return t, None, "Difference in change (group - reference)"
    table = getattr(obj, "table", None)
    if isinstance(table, pd.DataFrame) and {"contrast", "estimate", "ci_low"} <= set(table):
        t = table.copy()
        t["label"] = t["contrast"]
        return t, None, "Difference in change (group - reference)"
    raise ConfigError(
        "plot_forest takes a compare/subgroups/pool_sites result or a DataFrame with "
        f"label, estimate, ci_low, ci_high. Got {type(obj).__name__} instead."
    )


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
        "null": [Interval(float, None, None)],
        "show_pi": ["boolean"],
    }
)
def plot_forest(result, *, ax=None, null: float = 0.0, show_pi: bool = True) -> Axes:
    """Forest plot: one point with its CI per contrast, subgroup or site.

    For :func:`~iop_outcomes.pool_sites` results the pooled estimates are drawn as
    diamonds below the sites, with the prediction interval as a thin line.

    Parameters
    ----------
    result : ComparisonResult, SubgroupResult, PoolResult or DataFrame
        A result of :func:`~iop_outcomes.compare` (one row per contrast),
        :func:`~iop_outcomes.subgroups` (one per subgroup and contrast) or
        :func:`~iop_outcomes.pool_sites` (one per site, marker size by weight, then the
        pooled rows), or a table with ``label``, ``estimate``, ``ci_low`` and ``ci_high``.
        The plot reads it and never refits.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.
    null : float
        Position of the dashed line of no difference (default 0).
    show_pi : bool
        For :func:`~iop_outcomes.pool_sites` results: draw each pooled row's prediction
        interval as a dotted line (default True; only where it is finite).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> df = pd.DataFrame({"label": ["A", "B"], "estimate": [-1.0, 0.5],
    ...                    "ci_low": [-2.0, -0.5], "ci_high": [0.0, 1.5]})
    >>> ax = plot_forest(df)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['A', 'B']
    """
    rows, pooled, xlabel = _forest_rows(result)
    n_rows = len(rows) + (0 if pooled is None else len(pooled))
    ax = axes_or_new(ax, (6.4, max(2.0, 0.35 * n_rows + 1.0)))
    y = np.arange(len(rows))[::-1] + (0 if pooled is None else len(pooled) + 1)
    est = rows["estimate"].to_numpy(float)
    lo, hi = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    ax.hlines(y, lo, hi, color="0.2", lw=1.2)
    sizes = 30.0
    if "weight_pct" in rows:
        sizes = 10 + 4 * rows["weight_pct"].to_numpy(float)
    ax.scatter(est, y, s=sizes, marker="s", color="0.2", zorder=3)
    labels, ticks = list(rows["label"].astype(str)), list(y)
    if pooled is not None and len(pooled):
        yp = np.arange(len(pooled))[::-1].astype(float)
        for yy, r in zip(yp, pooled.itertuples(index=False), strict=True):
            dx = [r.ci_low, r.estimate, r.ci_high, r.estimate]
            dy = [yy, yy + 0.3, yy, yy - 0.3]
            ax.fill(dx, dy, color="tab:blue", zorder=3)
            if show_pi and np.isfinite(r.pi_low):
                ax.hlines(yy, r.pi_low, r.pi_high, color="tab:blue", lw=0.8, linestyles=":")
        labels += list(pooled["label"].astype(str))
        ticks += list(yp)
    ax.axvline(null, color="0.5", lw=0.8, ls="--")
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_xlabel(xlabel)
    return ax


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
        "threshold": [Interval(float, 0, None, closed="neither")],
        "absolute": ["boolean"],
    }
)
def plot_love(result, *, ax=None, threshold: float = 0.1, absolute: bool = True) -> Axes:
    """Love plot: standardized mean differences of each covariate before (open circles) and
    after (filled) weighting, with the ``threshold`` line (Austin 2009: 0.1).

    Parameters
    ----------
    result : ComparisonResult or DataFrame
        A :func:`~iop_outcomes.compare` result of a weighted method (``"iptw"``,
        ``"overlap"`` or ``"doubly_robust"``) or its ``.balance`` table (columns
        ``covariate``, ``smd_before``, ``smd_after``, optionally ``contrast``).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.
    threshold : float
        Balance threshold drawn as a dashed line, greater than 0 (default 0.1, Austin 2009).
    absolute : bool
        Plot absolute SMDs with one threshold line (default True); False plots the signed
        SMDs with lines at ``-threshold`` and ``+threshold``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> bal = pd.DataFrame({"covariate": ["baseline", "age"], "smd_before": [0.3, -0.15],
    ...                     "smd_after": [0.02, -0.01]})
    >>> ax = plot_love(bal)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['baseline', 'age']
    """
    bal = getattr(result, "balance", result)
    if not isinstance(bal, pd.DataFrame) or not {"smd_before", "smd_after"} <= set(bal.columns):
        raise ConfigError(
            "plot_love needs a weighted compare() result (method 'iptw', 'overlap' or "
            "'doubly_robust') or its .balance table."
        )
    multi = bal["contrast"].nunique() > 1 if "contrast" in bal else False
    labels = bal["covariate"].astype(str) + ((" | " + bal["contrast"]) if multi else "")
    ax = axes_or_new(ax, (6.4, max(2.0, 0.3 * len(bal) + 1.0)))
    f = np.abs if absolute else (lambda v: v)
    y = np.arange(len(bal))[::-1]
    before = f(bal["smd_before"].to_numpy(float))
    after = f(bal["smd_after"].to_numpy(float))
    ax.hlines(y, np.minimum(before, after), np.maximum(before, after), color="0.8", lw=1)
    ax.scatter(before, y, facecolors="none", edgecolors="tab:red", label="before weighting")
    ax.scatter(after, y, color="tab:blue", label="after weighting", zorder=3)
    for t in (threshold,) if absolute else (-threshold, threshold):
        ax.axvline(t, color="0.4", lw=0.8, ls="--")
    ax.axvline(0, color="0.6", lw=0.6)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel("|Standardized mean difference|" if absolute else "Standardized mean difference")
    ax.legend(loc="best", fontsize="small")
    return ax


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
    }
)
def plot_equivalence(result, *, ax=None) -> Axes:
    """Each contrast's (1 − 2α) CI against the equivalence / non-inferiority margin.

    The shaded band is the region of clinically negligible difference; a CI entirely
    inside it (non-inferiority: entirely left of +margin on a lower-is-better scale)
    supports the claim. CIs are green where the claim holds, red where it does not.

    Parameters
    ----------
    result : EquivalenceResult
        A result of :func:`~iop_outcomes.equivalence` (the plot reads it and never refits).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "format": ["in_person"] * 4 + ["virtual"] * 4,
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12]})
    >>> ax = plot_equivalence(iop.equivalence(ep, method="welch", instrument="PHQ-9"))
    >>> ax.get_title()
    'Non-inferiority'
    """
    t = getattr(result, "table", None)
    if t is None or "margin" not in t:
        raise ConfigError("plot_equivalence needs an equivalence() result.")
    ax = axes_or_new(ax, (6.4, max(2.0, 0.45 * len(t) + 1.2)))
    kind = result.params.get("kind", "equivalence")
    lower_better = result.params.get("better_is", "lower") == "lower"
    m = float(t["margin"].iloc[0])
    y = np.arange(len(t))[::-1]
    lo = min(float(t["ci_low"].min()), -m)
    hi = max(float(t["ci_high"].max()), m)
    pad = 0.15 * (hi - lo)
    if kind == "equivalence":
        ax.axvspan(-m, m, color="tab:green", alpha=0.12)
        ax.axvline(-m, color="tab:green", lw=1, ls="--")
        ax.axvline(m, color="tab:green", lw=1, ls="--")
    elif lower_better:  # non-inferior region: difference below +margin
        ax.axvspan(lo - pad, m, color="tab:green", alpha=0.12)
        ax.axvline(m, color="tab:green", lw=1, ls="--")
    else:
        ax.axvspan(-m, hi + pad, color="tab:green", alpha=0.12)
        ax.axvline(-m, color="tab:green", lw=1, ls="--")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.7, len(t) - 0.3)
    ax.axvline(0, color="0.5", lw=0.8)
    colors = np.where(t["conclusion"].to_numpy(bool), "tab:green", "tab:red")
    ax.hlines(y, t["ci_low"], t["ci_high"], colors=colors, lw=2)
    ax.scatter(t["estimate"], y, color=colors, zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels(t["contrast"].astype(str))
    level = float(t["ci_level"].iloc[0])
    sign = "±" if kind == "equivalence" else ("+" if lower_better else "-")
    ax.set_xlabel(f"Difference in change (group - reference), {level:.0%} CI; margin {sign}{m:g}")
    ax.set_title(kind.capitalize())
    return ax


@validate_params(
    {
        "result": ["no_validation"],
        "ax": ["axes", None],
    }
)
def plot_dose_response(result, *, ax=None) -> Axes:
    """Mean change (with CI) per dose band from :func:`~iop_outcomes.dose_response`.

    Parameters
    ----------
    result : DoseResponseResult
        A result of :func:`~iop_outcomes.dose_response`; its ``.bins`` are drawn (the plot
        reads it and never refits).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "attendance_hours": [20, 40, 60, 80, 30, 50, 70, 90],
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [14, 9, 11, 6, 13, 12, 6, 9]})
    >>> ax = plot_dose_response(iop.dose_response(ep, bins=2))
    >>> len(ax.lines[0].get_xdata())   # one point per dose band
    2
    """
    b = getattr(result, "bins", None)
    if b is None:
        raise ConfigError("plot_dose_response needs a dose_response() result.")
    ax = axes_or_new(ax, (6.4, 3.0))
    ax.errorbar(
        b["mean_dose"],
        b["mean_change"],
        yerr=[b["mean_change"] - b["ci_low"], b["ci_high"] - b["mean_change"]],
        fmt="o-",
        color="tab:blue",
        capsize=3,
    )
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel(f"Mean {result.params.get('dose', 'dose')} in band")
    ax.set_ylabel("Mean change (endpoint - baseline)")
    return ax
