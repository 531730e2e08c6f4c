"""Programs over time: an outcome by admission period with statistical process control limits.

:func:`over_time` gives the series of a headline outcome (recovery, reliable improvement,
response, dropout, mean change ...) by month or quarter of admission, with control limits
(p-chart or Laney p' chart for rates, X-bar or individuals chart for mean change) and the
special-cause rules of a named rule set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._episode_outcomes import episode_outcome
from ._results import TableResult
from ._stats import moving_range_sigma
from ._validation import Interval, Options, check_param, validate_params
from .exceptions import ConfigError, DataError

__all__ = ["over_time", "OverTimeResult", "RULE_SETS", "special_causes"]

#: Special-cause rule sets, as data with their source. ``outside``: a point beyond the 3-sigma
#: limits; ``shift``: at least this many consecutive points on one side of the centre line;
#: ``trend``: at least this many consecutive points each higher (or each lower) than the one
#: before; ``two_of_three``: 2 of 3 consecutive points beyond 2 sigma on the same side;
#: ``four_of_five``: 4 of 5 consecutive points beyond 1 sigma on the same side.
RULE_SETS: dict[str, dict[str, Any]] = {
    "nhs": {
        "outside": True,
        "shift": 7,
        "trend": 7,
        "two_of_three": True,
        "four_of_five": False,
        "source": "NHS England / NHS Improvement, Making Data Count (2019), as implemented in "
        "the NHS-R package NHSRplotthedots: a point outside the limits; 7 points in a row on "
        "one side of the mean; 7 points in a row increasing or decreasing; 2 of 3 points beyond "
        "2 sigma on the same side",
    },
    "western-electric": {
        "outside": True,
        "shift": 8,
        "trend": None,
        "two_of_three": True,
        "four_of_five": True,
        "source": "Western Electric Statistical Quality Control Handbook (1956), as Montgomery, "
        "Introduction to Statistical Quality Control (sensitizing rules): one point beyond 3 sigma; 2 of "
        "3 beyond 2 sigma; 4 of 5 beyond 1 sigma (same side); 8 in a row on one side",
    },
}
_CHARTS = {"proportion": ("p", "laney"), "mean": ("xbar", "individuals")}
_FREQ = {"quarter": "Q", "month": "M"}


@dataclass(frozen=True, repr=False)
class OverTimeResult(TableResult):
    """Control chart of an outcome by admission period.

    Attributes
    ----------
    table : DataFrame
        One row per period from the first to the last with episodes: ``period``,
        ``period_start``, ``n``, ``observed`` (events, or the sum of change), ``estimate``
        (rate or mean), ``centre``, ``sigma`` (the period's sigma on the chart), ``lcl``,
        ``ucl``, ``z``, ``signal`` (any rule), ``rules`` (which), ``direction``
        (``"improvement"``/``"concern"`` for signals).
    chart : str
        ``"p"``, ``"laney"``, ``"xbar"`` or ``"individuals"``.
    sigma_z : float
        Laney's :math:`\\sigma_z` (rates; 1 would make p' the p-chart).
    """

    chart: str = "p"
    sigma_z: float = float("nan")
    rule_set: str = "nhs"
    outcome_label: str = ""

    def plot(self, ax=None, **kwargs):
        """Draw the chart (:func:`iop_outcomes.plots.plot_over_time`)."""
        from .plots.over_time import plot_over_time

        return plot_over_time(self, ax=ax, **kwargs)


def _runs(flag: np.ndarray, length: int) -> np.ndarray:
    """Points inside a run of at least ``length`` consecutive True values."""
    out = np.zeros(len(flag), dtype=bool)
    start = None
    for i, f in enumerate([*flag.tolist(), False]):  # loops over periods, not episodes
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start >= length:
                out[start:i] = True
            start = None
    return out


def _k_of_m(beyond: np.ndarray, k: int, m: int) -> np.ndarray:
    """Points beyond the line that belong to a window of ``m`` consecutive points with at
    least ``k`` beyond it."""
    out = np.zeros(len(beyond), dtype=bool)
    for s in range(0, len(beyond) - m + 1):
        w = beyond[s : s + m]
        if w.sum() >= k:
            out[s : s + m] |= w
    return out


def special_causes(values, centre, sigma, *, rules: str = "nhs") -> pd.DataFrame:
    """Special-cause signals of a series on a control chart, point by point.

    Each rule of :data:`RULE_SETS` ``[rules]`` marks every point that is part of the pattern
    (e.g. all 7 points of a shift, as NHSRplotthedots does). Points exactly on the centre line
    break a shift; equal successive values break a trend. Missing values are skipped.

    Parameters
    ----------
    values, centre, sigma : array-like
        The plotted values, the centre line and the sigma of each point (limits are
        ``centre +/- 3 sigma``).
    rules : {"nhs", "western-electric"}

    Returns
    -------
    DataFrame
        Boolean columns ``outside``, ``shift``, ``trend``, ``two_of_three``, ``four_of_five``
        and ``signal`` (any).

    Examples
    --------
    >>> s = special_causes([1, 2, 3, 4, 5, 6, 8, 4], 4.0, 1.0)
    >>> s["trend"].tolist()
    [True, True, True, True, True, True, True, False]
    >>> s["outside"].tolist()[-2:]
    [True, False]
    """
    check_param(rules, "rules", [Options(*RULE_SETS)], func="special_causes")
    rs = RULE_SETS[rules]
    v = np.asarray(values, dtype=float)
    c = np.broadcast_to(np.asarray(centre, dtype=float), v.shape)
    sg = np.broadcast_to(np.asarray(sigma, dtype=float), v.shape)
    ok = np.isfinite(v) & np.isfinite(c) & np.isfinite(sg)
    idx = np.flatnonzero(ok)
    vv, cc, ss = v[idx], c[idx], sg[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(ss > 0, (vv - cc) / ss, 0.0)
    res = {name: np.zeros(len(vv), dtype=bool) for name in ("outside", "shift", "trend")}
    res["two_of_three"] = np.zeros(len(vv), dtype=bool)
    res["four_of_five"] = np.zeros(len(vv), dtype=bool)
    if rs["outside"]:
        res["outside"] = np.abs(z) > 3
    if rs["shift"]:
        res["shift"] = _runs(z > 0, rs["shift"]) | _runs(z < 0, rs["shift"])
    if rs["trend"] and len(vv) >= 2:
        d = np.diff(vv)
        up = _runs(d > 0, rs["trend"] - 1)
        down = _runs(d < 0, rs["trend"] - 1)
        pts = np.zeros(len(vv), dtype=bool)
        for steps in (up, down):  # a run of k-1 rising steps covers k points
            pts[:-1] |= steps
            pts[1:] |= steps
        res["trend"] = pts
    if rs["two_of_three"]:
        res["two_of_three"] = _k_of_m(z > 2, 2, 3) | _k_of_m(z < -2, 2, 3)
    if rs["four_of_five"]:
        res["four_of_five"] = _k_of_m(z > 1, 4, 5) | _k_of_m(z < -1, 4, 5)
    out = pd.DataFrame({k: np.zeros(len(v), dtype=bool) for k in res})
    for k, arr in res.items():
        out.loc[idx, k] = arr
    out["signal"] = out.any(axis=1)
    return out


def _still_open(data) -> bool:
    """Whether the input holds episodes still in treatment (status ``ongoing``, or no
    discharge date); ``True`` when it cannot tell."""
    df = getattr(data, "data", data)
    if not isinstance(df, pd.DataFrame):
        return True
    if "discharge_status" in df.columns:
        status = df["discharge_status"].astype("object")
        return bool((status.isna() | (status == "ongoing")).any())
    if "discharge_date" in df.columns:
        return bool(df["discharge_date"].isna().any())
    return True


@validate_params(
    {
        "episodes": ["no_validation"],  # a DataFrame or LoadResult, checked when read
        "period": [Options(*_FREQ)],
        "outcome": [str],
        "date": [str],
        "chart": [Options("p", "laney", "xbar", "individuals"), None],
        "rules": [Options(*RULE_SETS)],
        "instrument": ["instruments", None],
        "min_periods": [Interval(int, 2, None, closed="left")],
    }
)
def over_time(
    episodes: Any,
    *,
    period: str = "quarter",
    outcome: str = "recovery",
    date: str = "admit_date",
    chart: str | None = None,
    rules: str = "nhs",
    instrument: str | None = None,
    min_periods: int = 4,
) -> OverTimeResult:
    r"""An outcome by admission period, with control limits and special-cause signals.

    Episodes are grouped by the month or quarter of ``date`` (admission); every period from
    the first to the last with episodes is a row (a period without episodes has no point and
    is skipped by the rules).

    **Rates** (``outcome`` as in :func:`~iop_outcomes.funnel`: recovery, reliable
    improvement, reliable recovery, reliable deterioration, response, remission, dropout).
    p-chart (``chart="p"``, default; Montgomery, *Introduction to Statistical Quality
    Control*, the fraction-nonconforming chart with variable sample size): centre :math:`\bar p = \sum O_t/\sum n_t`,
    :math:`\sigma_t = \sqrt{\bar p(1-\bar p)/n_t}`, limits :math:`\bar p \pm 3\sigma_t`
    clipped to [0, 1]. Laney p' chart (``chart="laney"``; Laney 2002): with
    :math:`z_t = (p_t - \bar p)/\sigma_t` and :math:`\sigma_z = \overline{MR}(z)/d_2`
    (average moving range of successive z-scores, :math:`d_2 = 2/\sqrt\pi \approx 1.128`),
    :math:`\sigma'_t = \sigma_t\sigma_z` and limits :math:`\bar p \pm 3\sigma'_t` — wider than
    the p-chart's when the periods vary more than binomially (large n), narrower when less.

    **Mean change** (``outcome="change"``). X-bar chart (``chart="xbar"``, default):
    centre the grand mean :math:`\bar{\bar x} = \sum n_t\bar x_t / \sum n_t`,
    :math:`\sigma_t = s_p/\sqrt{n_t}` with the pooled within-period SD
    :math:`s_p = \sqrt{\sum (n_t - 1)s_t^2 / \sum (n_t - 1)}` (Montgomery, the x-bar and s chart with
    variable sample size; :math:`c_4` omitted: periods hold dozens of episodes). Individuals chart of
    the period means (``chart="individuals"``, XmR): centre the mean of the period means,
    :math:`\sigma = \overline{MR}/d_2`.

    **Special causes** (``rules``, :data:`RULE_SETS`): ``"nhs"`` (default; NHS England's
    *Making Data Count*): a point outside the limits, 7 points in a row on one side of the
    centre line, 7 points in a row increasing or decreasing, 2 of 3 points beyond 2 sigma on
    the same side; ``"western-electric"``: beyond 3 sigma, 2 of 3 beyond 2 sigma, 4 of 5 beyond
    1 sigma, 8 in a row on one side. ``direction`` says whether a signal is an improvement or a
    concern given the outcome's better direction.

    Parameters
    ----------
    episodes : DataFrame or LoadResult
        Episode table (``iop.episodes``) or loaded assessments, told apart as
        :func:`~iop_outcomes.funnel` does (an assessment table has ``total`` and no
        ``baseline``).
    period : {"quarter", "month"}
    outcome : str, default "recovery"
    date : str, default "admit_date"
        Date column that places an episode in a period.
    chart : {"p", "laney", "xbar", "individuals"}, optional
        Default ``"p"`` for rates, ``"xbar"`` for mean change.
    rules : {"nhs", "western-electric"}
    instrument : str or list of str, optional
        The instrument rule, as :func:`~iop_outcomes.funnel` (the joint NHS rules only with
        ``instrument=["PHQ-9", "GAD-7"]``).
    min_periods : int, default 4
        Fewest periods with episodes for a chart (limits from fewer are not meaningful).

    Returns
    -------
    OverTimeResult
        ``.table`` per period, ``.chart``, ``.sigma_z``; ``.plot()``.

    References
    ----------
    Laney DB (2002). Improved control charts for attributes. Qual Eng 14:531-537.
    Montgomery DC (2013). Introduction to Statistical Quality Control, 7th ed. Wiley.
    NHS England and NHS Improvement (2019). Making Data Count: getting started.
    Western Electric (1956). Statistical Quality Control Handbook.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> dates = pd.date_range("2024-01-01", periods=6, freq="QS").repeat(50)
    >>> dropped = ([1] * 10 + [0] * 40) * 5 + [1] * 30 + [0] * 20
    >>> ep = pd.DataFrame({"admit_date": dates, "discharge_status": [
    ...     "dropped_out" if d else "completed" for d in dropped]})
    >>> r = iop.over_time(ep, outcome="dropout")
    >>> r.table[["period", "n", "estimate", "signal", "rules"]]
       period   n  estimate  signal    rules
    0  2024Q1  50       0.2   False
    1  2024Q2  50       0.2   False
    2  2024Q3  50       0.2   False
    3  2024Q4  50       0.2   False
    4  2025Q1  50       0.2   False
    5  2025Q2  50       0.6    True  outside
    """
    eo = episode_outcome(episodes, outcome, keep=[date], instrument=instrument, func="over_time")
    allowed = _CHARTS[eo.kind]
    chart = allowed[0] if chart is None else chart
    if chart not in allowed:
        raise ConfigError(
            f"The 'chart' parameter of iop.over_time must be one of {list(allowed)} for the "
            f"{eo.label}. Got {chart!r} instead."
        )
    notes = list(eo.notes)
    full, g = _period_counts(eo.frame, date, period, min_periods, notes)
    n = g["n"].to_numpy(dtype=float)
    obs = g["observed"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = obs / n
    centre, sig, sigma_z, method = _chart_lines(eo.kind, chart, n, obs, est, g["var"])
    lcl, ucl = centre - 3 * sig, centre + 3 * sig
    if eo.kind == "proportion":
        lcl, ucl = np.clip(lcl, 0, 1), np.clip(ucl, 0, 1)
    sc = special_causes(est, centre, sig, rules=rules)
    names = ["outside", "shift", "trend", "two_of_three", "four_of_five"]
    rule_txt = [
        ", ".join(k for k in names if sc.at[i, k]) for i in range(len(sc))
    ]  # per period, not per episode
    good_up = eo.better_is == "higher"
    direction = np.where(
        sc["signal"].to_numpy(),
        np.where((est > centre) == good_up, "improvement", "concern"),
        "",
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (est - centre) / sig
    table = pd.DataFrame(
        {
            "period": [str(p) for p in full],
            "period_start": full.start_time,
            "n": pd.array(g["n"].to_numpy(), dtype="Int64"),
            "observed": obs,
            "estimate": est,
            "centre": centre,
            "sigma": sig,
            "lcl": lcl,
            "ucl": ucl,
            "z": z,
            "signal": sc["signal"].to_numpy(),
            "rules": rule_txt,
            "direction": direction,
        }
    )
    if eo.kind == "proportion" and chart == "p" and np.isfinite(sigma_z) and sigma_z > 1.5:
        notes.append(
            f"sigma_z = {sigma_z:.2f}: the periods vary more than binomial sampling allows "
            "(overdispersion); chart='laney' gives limits that allow for it."
        )
    notes.append(f"Special-cause rules ({rules}): {RULE_SETS[rules]['source']}.")
    if _still_open(episodes):
        notes.append(
            "The last period(s) may hold episodes still in treatment: their outcome is counted "
            "only once known, so recent points rest on fewer, quicker episodes."
        )
    return OverTimeResult(
        table=table,
        roles=_column_roles(eo.kind),
        title=f"{eo.label[0].upper()}{eo.label[1:]} by {period} of admission",
        method=f"{method}. Outcome: {eo.definition}.",
        params={
            "period": period,
            "outcome": eo.name,
            "date": date,
            "chart": chart,
            "rules": rules,
            "instrument": eo.instrument,
            "centre": centre,
            "sigma_z": sigma_z,
            "better_is": eo.better_is,
        },
        notes=tuple(notes),
        chart=chart,
        sigma_z=sigma_z,
        rule_set=rules,
        outcome_label=eo.label,
    )


def _period_counts(d: pd.DataFrame, date: str, period: str, min_periods: int, notes: list):
    """Episodes, events (or sums) and variance per period, every period first to last."""
    when = pd.to_datetime(d[date], errors="coerce")
    bad = when.isna() & d[date].notna()
    if bad.any():
        raise DataError(
            f"over_time: column {date!r} holds value(s) that are not dates, such as "
            f"{d.loc[bad, date].iloc[0]!r}."
        )
    keep = when.notna().to_numpy() & d["y"].notna().to_numpy()
    n_nodate = int((when.isna().to_numpy() & d["y"].notna().to_numpy()).sum())
    if n_nodate:
        notes.append(f"{n_nodate:,} episode(s) without a {date!r} left out.")
    per = when[keep].dt.to_period(_FREQ[period])
    y = d.loc[keep, "y"].to_numpy(dtype=float)
    g = (
        pd.DataFrame({"per": per.to_numpy(), "y": y})
        .groupby("per", sort=True)
        .agg(n=("y", "size"), observed=("y", "sum"), var=("y", "var"))
    )
    if len(g) < min_periods:
        raise DataError(
            f"over_time needs at least {min_periods} {period}s with episodes to draw control "
            f"limits; the data have {len(g)} ({', '.join(map(str, g.index))}). Use "
            f"period='month' or wait for more data."
        )
    full = pd.period_range(g.index.min(), g.index.max(), freq=_FREQ[period])
    gaps = [str(p) for p in full if p not in g.index]
    if gaps:
        notes.append(f"{len(gaps)} {period}(s) without episodes (no point): {', '.join(gaps)}.")
    return full, g.reindex(full)


def _chart_lines(kind: str, chart: str, n, obs, est, var: pd.Series):
    """Centre line, each period's sigma, Laney's sigma_z and the chart in words."""
    sigma_z = float("nan")
    if kind == "proportion":
        centre = float(np.nansum(obs) / np.nansum(n))
        with np.errstate(invalid="ignore", divide="ignore"):
            sig = np.sqrt(centre * (1 - centre) / n)
            zt = (est - centre) / sig
        sigma_z = moving_range_sigma(zt)
        if chart == "laney":
            sig = sig * sigma_z
        method = (
            "Laney (2002) p' chart: p-bar +/- 3 sigma_t sigma_z"
            if chart == "laney"
            else "p-chart: p-bar +/- 3 sqrt(p-bar (1 - p-bar) / n_t)"
        )
    elif chart == "xbar":
        centre = float(np.nansum(obs) / np.nansum(n))
        dfw = np.nansum(n - 1)
        sp = float(np.sqrt(np.nansum((n - 1) * var.to_numpy(dtype=float)) / dfw))
        with np.errstate(invalid="ignore", divide="ignore"):
            sig = sp / np.sqrt(n)
        method = "X-bar chart: grand mean +/- 3 s_pooled / sqrt(n_t)"
    else:
        centre = float(np.nanmean(est))
        sig = np.where(np.isfinite(est), moving_range_sigma(est), np.nan)
        method = "individuals (XmR) chart of the period means: mean +/- 3 MR-bar / d2"
    return centre, sig, sigma_z, method


def _column_roles(kind: str) -> dict:
    """What the columns count (iop.report's small-cell rules read them): a rate and its
    limits give the period's counts back; a mean change is a statistic of the n episodes."""
    if kind == "proportion":
        return {
            "n": "count",
            "observed": "count of n",
            **{c: "from n, observed" for c in ("estimate", "z")},
            **{c: "from n" for c in ("sigma", "lcl", "ucl")},
        }
    return {
        "n": "count",
        **{c: "statistic of n" for c in ("observed", "estimate", "z")},
        **{c: "from n" for c in ("sigma", "lcl", "ucl")},
    }
