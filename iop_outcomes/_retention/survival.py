"""Time to dropout: Kaplan–Meier, log-rank, Aalen–Johansen, median stay, attendance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._dask import is_dask
from .._results import TableResult, format_p, format_table
from .._stats import mean_ci, z_crit
from .._validation import Interval, Options, check_columns, public_name, validate_params
from ..exceptions import ConfigError, DataError
from ..io import LoadResult
from .prepare import (
    STATUSES,
    dates,
    episode_table,
    group_codes,
    numeric,
    one_row_per_episode,
    status_codes,
)


# --------------------------------------------------------------------------------------
# Kaplan–Meier, log-rank, Aalen–Johansen
# --------------------------------------------------------------------------------------
def _km(time: np.ndarray, event: np.ndarray, ci_level: float) -> pd.DataFrame:
    """Kaplan–Meier with Greenwood variance and log-log CI, one row per distinct time
    (event or censoring), matching R ``summary(survfit(..., conf.type="log-log"),
    censored=TRUE)``."""
    ut, inv = np.unique(time, return_inverse=True)
    m = len(ut)
    cnt = np.bincount(inv, minlength=m)
    d = np.bincount(inv, weights=event.astype(float), minlength=m)
    nrisk = cnt[::-1].cumsum()[::-1].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / nrisk)
        gw = np.where(d > 0, d / (nrisk * (nrisk - d)), 0.0)
        se_log = np.sqrt(np.cumsum(gw))
        se = surv * se_log
    lo, hi = _loglog_ci(surv, se_log, ci_level)
    return pd.DataFrame(
        {
            "time": ut,
            "n_risk": nrisk.astype(np.int64),
            "n_event": d.astype(np.int64),
            "n_censor": (cnt - d).astype(np.int64),
            "estimate": surv,
            "se": se,
            "se_log": se_log,
            "ci_low": lo,
            "ci_high": hi,
        }
    )


def _loglog_ci(surv, se_log, ci_level):
    """R survfit conf.type = "log-log": S^exp(∓ z·se/log S); NA where S is 0 or 1."""
    z = z_crit(ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        se2 = z * se_log / np.log(xx)
        lo = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
        hi = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
    return lo, hi


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = np.sqrt(np.finfo(float).eps)):
    """Port of R survival's internal ``findq`` (quantile.survfit): first time the cumulative
    distribution reaches ``p``, the midpoint of a flat stretch exactly at ``p``."""
    yy = y[~np.isnan(y)]
    if len(yy) == 0 or yy.max() < p:
        return np.nan
    xmax = x[-1]
    dups = pd.Series(y).duplicated().to_numpy()
    x, y = x[~dups], y[~dups]
    n = len(y)
    idx = np.arange(1, n + 1)

    def approx_const(xs):  # approx(xs, 1:n, p, method="constant", f=1), NAs removed
        ok = ~np.isnan(xs)
        xs, ids = xs[ok], idx[ok]
        o = np.argsort(xs, kind="stable")
        xs, ids = xs[o], ids[o]
        if len(xs) == 0 or p < xs[0] or p > xs[-1]:
            return None
        j = np.searchsorted(xs, p, side="left")
        return int(ids[j])

    i1 = approx_const(y + tol)
    i2 = approx_const(y - tol)
    q = np.nan
    if i1 is not None and i2 is not None:
        q = (x[i1 - 1] + x[i2 - 1]) / 2
    if not np.isnan(y[n - 1]) and abs(p - y[n - 1]) < tol and i1 is not None:
        q = (x[i1 - 1] + xmax) / 2
    return q


def _median(curve: pd.DataFrame) -> tuple[float, float, float]:
    """Median and its CI as R ``quantile.survfit`` (CI from where the CI curves cross 0.5)."""
    x = np.concatenate([[0.0], curve["time"].to_numpy(dtype=float)])

    def q(s):
        return _findq(x, np.concatenate([[0.0], 1 - s]), 0.5)

    return (
        q(curve["estimate"].to_numpy()),
        q(curve["ci_low"].to_numpy()),  # the lower curve reaches 0.5 first
        q(curve["ci_high"].to_numpy()),
    )


def _logrank(time: np.ndarray, event: np.ndarray, g: np.ndarray, k: int):
    """Log-rank test (R ``survdiff``, rho = 0): observed, expected, chi-square, df."""
    ut, inv = np.unique(time, return_inverse=True)
    m = len(ut)
    cnt = np.bincount(g * m + inv, minlength=k * m).reshape(k, m).astype(float)
    d = np.bincount(g * m + inv, weights=event.astype(float), minlength=k * m).reshape(k, m)
    nr = cnt[:, ::-1].cumsum(axis=1)[:, ::-1]
    keep = d.sum(axis=0) > 0
    nr, d = nr[:, keep], d[:, keep]
    N = nr.sum(axis=0)
    D = d.sum(axis=0)
    obs = d.sum(axis=1)
    exp_ = (nr * (D / N)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(N > 1, D * (N - D) / (N - 1) / N**2, 0.0)
    # V_jl = sum_t f_t (N_t n_jt δ_jl − n_jt n_lt)
    V = np.diag((f * N * nr).sum(axis=1)) - (nr * f) @ nr.T
    use = np.flatnonzero(exp_ > 0)
    dfree = len(use) - 1
    if dfree < 1:
        return obs, exp_, np.nan, 0, np.nan
    diff = (obs - exp_)[use[1:]]
    chi = float(diff @ np.linalg.solve(V[np.ix_(use[1:], use[1:])], diff))
    return obs, exp_, chi, dfree, float(_dist.chi2.sf(chi, dfree))


def _aalen_johansen(time: np.ndarray, cause: np.ndarray, ci_level: float) -> pd.DataFrame:
    """Cumulative incidence of cause 1 with competing cause 2 (0 = censored): Aalen–Johansen
    estimate with the infinitesimal-jackknife standard error and log CI, as R
    ``survfit(Surv(time, factor(state)) ~ 1)`` (survival >= 3)."""
    ut, inv = np.unique(time, return_inverse=True)
    m = len(ut)
    cnt = np.bincount(inv, minlength=m).astype(float)
    d1 = np.bincount(inv, weights=(cause == 1).astype(float), minlength=m)
    d2 = np.bincount(inv, weights=(cause == 2).astype(float), minlength=m)
    d = d1 + d2
    n = cnt[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        S = np.cumprod(1.0 - d / n)
        S_prev = np.concatenate([[1.0], S[:-1]])
        w = S_prev * d1 / n  # increments of the cumulative incidence
        F = np.cumsum(w)
        G = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
        G = np.where(np.isfinite(G), G, 0.0)
        G_prev = np.concatenate([[0.0], G[:-1]])
        P = np.cumsum(w * G_prev)
        Q = np.cumsum(w / n)
        # influence of one observation with time index a and cause c on F(t), t >= a:
        #   alpha_c(a) + beta_c(a) F(t);  for observations with a > t: P(t) - Q(t)
        inv_nd = np.where(n - d > 0, 1.0 / (n - d), 0.0)
        infl_late = P - Q
        ccum = np.zeros((3, m))
        for c in (0, 1, 2):
            cnt_c = np.bincount(inv, weights=(cause == c).astype(float), minlength=m)
            beta = G - (inv_nd if c != 0 else 0.0)
            alpha = P - Q - beta * F + (S_prev / n if c == 1 else 0.0)
            ccum[0] += np.cumsum(cnt_c * alpha * alpha)
            ccum[1] += np.cumsum(cnt_c * alpha * beta)
            ccum[2] += np.cumsum(cnt_c * beta * beta)
        n_after = n - cnt  # observations with time index > t
        var = ccum[0] + 2 * F * ccum[1] + F**2 * ccum[2] + n_after * infl_late**2
        se = np.sqrt(np.maximum(var, 0.0))
        z = z_crit(ci_level)
        xx = np.where(F == 0, np.nan, F)
        lo = np.exp(np.log(xx) - z * se / xx)
        hi = np.minimum(np.exp(np.log(xx) + z * se / xx), 1.0)
    return pd.DataFrame(
        {
            "time": ut,
            "n_risk": n.astype(np.int64),
            "n_event": d1.astype(np.int64),
            "n_competing": d2.astype(np.int64),
            "n_censor": (cnt - d).astype(np.int64),
            "estimate": F,
            "se": se,
            "ci_low": lo,
            "ci_high": hi,
        }
    )


@dataclass(frozen=True, repr=False)
class SurvivalResult(TableResult):
    """Time to dropout by group.

    Attributes
    ----------
    table : DataFrame
        One row per group: n, dropouts, censored, median time to dropout (CI), median length of
        stay (CI), attendance where given.
    curve : DataFrame
        Step function per group (one row per distinct time): ``n_risk, n_event, n_censor,
        estimate, se, ci_low, ci_high`` — Kaplan–Meier survival (no dropout yet) or, with
        competing transfers, the Aalen–Johansen cumulative incidence of dropout.
    logrank : DataFrame
        Log-rank test (``statistic, df, pvalue``) and observed / expected dropouts per group.
    at_risk : DataFrame
        Numbers at risk and the estimate at chosen times.
    los_curve : DataFrame
        Kaplan–Meier curve of time to discharge for any reason (ongoing episodes censored).
    """

    curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    logrank: pd.DataFrame = field(default_factory=pd.DataFrame)
    at_risk: pd.DataFrame = field(default_factory=pd.DataFrame)
    los_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    attendance: pd.DataFrame = field(default_factory=pd.DataFrame)
    transfers: str = "censor"
    groups: tuple[str, ...] = ()
    roles: dict = field(
        default_factory=lambda: {
            "dropouts": "count",
            "transfers": "count",
            "censored": "count",
            "n": "count",
            "median_los": "statistic of n",
            "los_ci_low": "statistic of n",
            "los_ci_high": "statistic of n",
            "median_dropout": "statistic of n",
            "median_dropout_ci_low": "statistic of n",
            "median_dropout_ci_high": "statistic of n",
        },
        repr=False,
    )

    def to_frame(self, which: str = "table") -> pd.DataFrame:
        """Copy of one table: ``"table"`` (per group, default), ``"curve"``, ``"los_curve"``,
        ``"logrank"``, ``"at_risk"`` or ``"attendance"``."""
        names = ("table", "curve", "los_curve", "logrank", "at_risk", "attendance")
        if which not in names:
            raise ConfigError(
                f"The 'which' parameter of to_frame must be one of {list(names)}. "
                f"Got {which!r} instead."
            )
        return getattr(self, which).copy()

    def summary(self) -> str:
        parts = [self.title, format_table(self.table, 2).to_string(index=False)]
        if len(self.logrank) and np.isfinite(self.logrank["statistic"].iloc[0]):
            r = self.logrank.iloc[0]
            parts.append(
                f"Log-rank test: chi-square = {r['statistic']:.3f}, df = {int(r['df'])}, "
                f"p = {format_p(r['pvalue'])}"
            )
        if len(self.at_risk):
            wide = self.at_risk.pivot(index="group", columns="time", values="n_risk")
            wide = wide.reindex(index=[g for g in self.groups if g in wide.index])
            parts += ["Numbers at risk (days):", wide.to_string()]
        if len(self.attendance):
            parts += ["Attendance:", format_table(self.attendance, 3).to_string(index=False)]
        parts += self._footer()
        return "\n".join(parts)

    def plot(self, *, ax=None, **kwargs):
        """Kaplan–Meier curves with CI bands and numbers at risk
        (:func:`iop_outcomes.plots.retention.plot_km`)."""
        from ..plots.retention import plot_km

        return plot_km(self, ax=ax, **kwargs)


def _auto_times(tmax: float) -> np.ndarray:
    """A round grid of at most about 9 times (days) from 0 to ``tmax``."""
    if not np.isfinite(tmax) or tmax <= 0:
        return np.array([0.0])
    for step in (1, 2, 7, 14, 28, 30, 60, 90, 180, 365, 730):
        if tmax / step <= 8:
            break
    return np.arange(0, tmax + 1e-9, step, dtype=float)


@validate_params(
    {
        "episodes": ["frame", "dask_frame", LoadResult],
        "group": [str, None],
        "reference": [str, int, None],
        "transfers": [Options("censor", "competing")],
        "times": ["no_validation"],
        "as_of": ["date", None],
        "instrument": ["instrument", None],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
    },
    renamed={"data": "episodes", "by": "group"},
)
def dropout_survival(
    episodes: pd.DataFrame,
    *,
    group: str | None = "format",
    reference: str | int | None = None,
    transfers: str = "censor",
    times: Any = None,
    as_of: Any = None,
    instrument: str | None = None,
    ci_level: float = 0.95,
) -> SurvivalResult:
    r"""Time in treatment until dropout: Kaplan–Meier by group, log-rank test, median stay.

    Time is ``los_days`` (or ``discharge_date − admit_date``; for ongoing episodes without a
    length of stay, ``as_of − admit_date`` when ``as_of`` is given). The event is
    ``discharge_status == "dropped_out"``; completers are censored at discharge,
    administrative discharges and ongoing episodes are censored, transfers are censored
    (``transfers="censor"``) or a competing event (``transfers="competing"``, then the curve is
    the Aalen–Johansen cumulative incidence of dropout).

    Kaplan–Meier with Greenwood's variance and the log-log interval (R ``survfit(...,
    conf.type = "log-log")``; R's default is ``"log"``):

    .. math::
        \hat S(t) = \prod_{t_j \le t}\Big(1 - \frac{d_j}{n_j}\Big),\quad
        \sigma^2(t) = \sum_{t_j \le t} \frac{d_j}{n_j(n_j - d_j)},\quad
        \hat S(t)^{\exp(\pm z\,\sigma(t) / \log \hat S(t))}

    ``se`` is the standard error of :math:`\hat S` (:math:`\hat S\sigma`, as
    ``summary.survfit``); ``se_log`` is :math:`\sigma` (``survfit$std.err``); intervals are
    missing where :math:`\hat S` is 0 or 1, as in R. Medians and their intervals follow R
    ``quantile.survfit`` (first time the curve, or its CI limits, reach 0.5; the midpoint of a
    stretch exactly at 0.5). The log-rank statistic is R ``survdiff`` (rho = 0), an omnibus
    test across all levels of ``group`` (it does not depend on ``reference``); with competing
    transfers it tests the cause-specific hazard of dropout. Aalen–Johansen standard errors are
    the infinitesimal jackknife with a log interval capped at 1, as R ``survfit`` for
    multi-state data.

    Parameters
    ----------
    episodes : DataFrame or LoadResult
        Episode table. Assessment rows are accepted too: a table without a ``baseline`` column
        that holds ``total`` (or ``assessment_date``, ``timepoint``) is taken as assessments
        and its episode table built with :func:`iop_outcomes.episodes` for ``instrument``.
        Only episode facts are used (status, length of stay, dates, attendance).
    group : str or None
        Column whose levels are compared; None for one group.
    reference : str, optional
        Level of ``group`` listed first (tables, curves, plots); default the first level
        (categorical order, else sorted).
    transfers : {"censor", "competing"}
        How transfers to another level of care are treated.
    times : sequence of float, optional
        Times (days) for the numbers-at-risk table; default a round grid over the range.
    as_of : date-like, optional
        Data-end date for ongoing episodes without ``los_days``.
    instrument : str, optional
        Instrument whose episode rows are used (episode tables hold one row per episode and
        instrument). ``None``: the table must hold exactly one (else a ConfigError names those
        found).
    ci_level : float
        Confidence level.

    Returns
    -------
    SurvivalResult

    References
    ----------
    Kaplan & Meier (1958). J Am Stat Assoc 53:457-481. Greenwood (1926). Reports on Public
    Health and Medical Subjects 33. Kalbfleisch & Prentice (2002), The Statistical Analysis of
    Failure Time Data, 2nd ed. (log-log interval). Brookmeyer & Crowley (1982). Biometrics
    38:29-41 (median CI). Mantel (1966); Peto & Peto (1972) (log-rank). Aalen & Johansen (1978).
    Therneau, survival package for R.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"los_days": [3, 5, 5, 8, 10, 12],
    ...                    "discharge_status": ["dropped_out", "completed", "dropped_out",
    ...                                         "completed", "dropped_out", "completed"]})
    >>> r = iop.dropout_survival(ep, group=None)
    >>> r.curve[["time", "n_risk", "n_event", "estimate"]].round(4)
       time  n_risk  n_event  estimate
    0   3.0       6        1    0.8333
    1   5.0       5        1    0.6667
    2   8.0       3        0    0.6667
    3  10.0       2        1    0.3333
    4  12.0       1        0    0.3333
    """
    func = "dropout_survival"
    tgrid = None if times is None else _check_times(times, func)
    if is_dask(episodes):  # counts per group, time and status per partition (_dask/survival.py)
        return dropout_survival_dask(episodes, locals(), _SURVIVAL_STEPS)
    ep, _ = episode_table(episodes, instrument, func=func)
    ep, time, status, ok = _episode_facts(ep, as_of, func)
    _check_times_observed(time, ok, func)
    g, labels = group_codes(ep, group, reference, func=func)
    parts = _attendance_parts(ep.loc[ok].reset_index(drop=True), g[ok])
    attendance = _attendance_table(parts, labels, ci_level)
    n_excluded = int((~ok).sum())
    return _survival(time[ok], status[ok], g[ok], labels, n_excluded, attendance, locals())


def _episode_facts(ep: pd.DataFrame, as_of, func: str) -> tuple:
    """One row per episode, its days in treatment, its status code (:data:`STATUSES`) and
    whether it has both (the episodes analysed)."""
    ep = one_row_per_episode(ep).reset_index(drop=True)
    check_columns(ep, ["discharge_status"], func=func, what="episode table")
    status = status_codes(ep, func)
    time = _time_in_treatment(ep, status, as_of)
    return ep, time, status, ~np.isnan(time) & (status < len(STATUSES))


def _survival(time, st, g, labels, n_excluded: int, attendance, a: dict) -> SurvivalResult:
    """The :class:`SurvivalResult` of the analysed episodes' days, status codes and group
    codes (``labels``; in memory, or gathered as counts from a Dask table's partitions)."""
    group, transfers, ci_level, tgrid = a["group"], a["transfers"], a["ci_level"], a["tgrid"]
    drop = st == 1  # STATUSES: completed, dropped_out, transferred, administrative, ongoing
    curve, los_curve, table = _curves_by_group(time, st, g, labels, transfers, ci_level)
    if tgrid is None:
        tgrid = _auto_times(float(time.max()) if len(time) else np.nan)
    at_risk = _at_risk(time, g, labels, curve, tgrid, transfers)
    present = [i for i in range(len(labels)) if (g == i).any()]
    logrank = _logrank_table(time, drop, g, labels, present)
    return SurvivalResult(
        table=table,
        title=f"Time to dropout by {group}" if group else "Time to dropout",
        method=(
            "Kaplan-Meier (Greenwood, log-log CI)"
            if transfers == "censor"
            else "Aalen-Johansen cumulative incidence (competing transfers)"
        ),
        params={
            "group": group,
            "reference": labels[0] if group else None,
            "transfers": transfers,
            "ci_level": ci_level,
        },
        notes=tuple(_survival_notes(transfers, n_excluded)),
        curve=curve,
        logrank=logrank,
        at_risk=at_risk,
        los_curve=los_curve,
        attendance=attendance,
        transfers=transfers,
        groups=tuple(labels[i] for i in present),
    )


def _check_times(times: Any, func: str) -> np.ndarray:
    """The numbers-at-risk times as floats; they must be non-negative numbers (days)."""
    tt = np.atleast_1d(np.asarray(times, dtype=object))
    try:
        tt = tt.astype(float)
    except (TypeError, ValueError):
        tt = np.array([np.nan])
    if np.isnan(tt).any() or (tt < 0).any():
        raise ConfigError(
            f"The 'times' parameter of {public_name(func)} must be non-negative numbers (days). "
            f"Got {times!r} instead."
        )
    return tt


def _time_in_treatment(ep: pd.DataFrame, status: np.ndarray, as_of: Any) -> np.ndarray:
    """Days in treatment: ``los_days``, else discharge (or ``as_of`` for ongoing episodes)
    minus admission date."""
    time = numeric(ep, "los_days")
    fill = np.isnan(time)
    if fill.any():
        adm = dates(ep, "admit_date")
        dis = dates(ep, "discharge_date")
        if as_of is not None:
            dis = dis.fillna(pd.Timestamp(as_of)).where(pd.Series(status == 4) | dis.notna(), dis)
        alt = ((dis - adm).dt.days).to_numpy(dtype=float, na_value=np.nan)
        time = np.where(fill, alt, time)
    return time


def _check_times_observed(time: np.ndarray, ok: np.ndarray, func: str) -> None:
    """No negative length of stay; at least one episode with a time and a status."""
    if (time[ok] < 0).any():
        raise DataError(
            f"{public_name(func)}: negative length of stay in {int((time[ok] < 0).sum())} "
            "episode(s)."
        )
    if not ok.any():
        raise DataError(
            f"{public_name(func)}: no episode has both a discharge status and a length of stay "
            "(los_days, or admit_date and discharge_date)."
        )


def _curves_by_group(time, st, g, labels, transfers: str, ci_level: float):
    """Per group: the dropout curve (KM, or Aalen–Johansen with competing transfers), the KM
    of length of stay, and the summary row (counts, medians with CIs)."""
    drop = st == 1
    disc = st != 4
    cause = np.where(drop, 1, np.where(st == 2, 2, 0)) if transfers == "competing" else None
    curves, los_curves, rows = [], [], []
    for gi, lab in enumerate(labels):
        sel = g == gi
        if not sel.any():
            continue
        km = _km(time[sel], drop[sel], ci_level)
        med = _median(km)
        los = _km(time[sel], disc[sel], ci_level)
        lmed = _median(los)
        if transfers == "competing":
            cur = _aalen_johansen(time[sel], cause[sel], ci_level)
        else:
            cur = km
        cur.insert(0, "group", lab)
        los.insert(0, "group", lab)
        curves.append(cur)
        los_curves.append(los)
        rows.append(
            dict(
                group=lab,
                n=int(sel.sum()),
                dropouts=int(drop[sel].sum()),
                transfers=int((st[sel] == 2).sum()),
                censored=int(sel.sum() - drop[sel].sum()),
                median_dropout=med[0],
                median_dropout_ci_low=med[1],
                median_dropout_ci_high=med[2],
                median_los=lmed[0],
                los_ci_low=lmed[1],
                los_ci_high=lmed[2],
                ci_level=ci_level,
            )
        )
    table = pd.DataFrame(rows)
    if transfers == "competing":
        table["censored"] = table["censored"] - table["transfers"]
    return pd.concat(curves, ignore_index=True), pd.concat(los_curves, ignore_index=True), table


def _at_risk(time, g, labels, curve: pd.DataFrame, tgrid, transfers: str) -> pd.DataFrame:
    """Numbers at risk and the curve's estimate at the times ``tgrid``, per group."""
    ar_rows = []
    for gi, lab in enumerate(labels):
        tt = np.sort(time[g == gi])
        if len(tt) == 0:
            continue
        nrisk = len(tt) - np.searchsorted(tt, tgrid, side="left")
        cg = curve.loc[curve["group"] == lab]
        j = np.searchsorted(cg["time"].to_numpy(), tgrid, side="right") - 1
        base = 0.0 if transfers == "competing" else 1.0
        est = np.where(j >= 0, cg["estimate"].to_numpy()[np.maximum(j, 0)], base)
        for t, nr, e in zip(tgrid, nrisk, est, strict=True):
            ar_rows.append(dict(group=lab, time=float(t), n_risk=int(nr), estimate=float(e)))
    return pd.DataFrame(ar_rows)


def _logrank_table(time, drop, g, labels, present) -> pd.DataFrame:
    """The log-rank test with observed and expected dropouts per group present."""
    obs, exp_, chi, dfree, p = _logrank(time, drop, g, len(labels))
    return pd.DataFrame(
        {
            "group": [labels[i] for i in present],
            "observed": obs[present],
            "expected": exp_[present],
            "statistic": chi,
            "df": dfree,
            "pvalue": p,
            "method": "log-rank (Mantel-Haenszel), R survdiff rho = 0",
        }
    )


def _survival_notes(transfers: str, n_excluded: int) -> list[str]:
    """What is an event, what is censored, which intervals; exclusions."""
    tr = (
        "transfers censored at discharge"
        if transfers == "censor"
        else "transfers a competing event (Aalen-Johansen cumulative incidence of dropout)"
    )
    notes = [
        f"Event = dropped out; completers censored at discharge; administrative and ongoing "
        f"censored; {tr}.",
        "KM CI: log-log (R survfit conf.type='log-log'), Greenwood variance; medians and CIs as "
        "R quantile.survfit. Length of stay: KM of time to discharge for any reason.",
    ]
    if transfers == "competing":
        notes.append(
            "Cumulative incidence SE: infinitesimal jackknife, log CI capped at 1 (R "
            "survfit multi-state). Log-rank compares cause-specific dropout hazards."
        )
    if n_excluded:
        notes.append(f"{n_excluded} episode(s) without a length of stay or status excluded.")
    return notes


#: the attendance sums per group (:func:`_attendance_parts`)
_ATTENDANCE_SUMS = (
    "n_rate",
    "mean_rate",
    "m2_rate",
    "attended",
    "scheduled",
    "n_hours",
    "sum_hours",
)


def _attendance_parts(ep: pd.DataFrame, g: np.ndarray) -> pd.DataFrame:
    """Attendance sums per group code ``g`` of the rows of ``ep``: the per-episode rates'
    count, mean and sum of squared deviations, attended and scheduled sessions where a rate
    exists, the hours' count and sum (the columns the table needs; ``has_rate`` and
    ``has_hours`` say which exist). Parts of the rows combine (:func:`_combine_attendance`).
    """
    has_rate = {"sessions_attended", "sessions_scheduled"} <= set(ep.columns)
    has_hours = "attendance_hours" in ep.columns
    att = numeric(ep, "sessions_attended")
    sch = numeric(ep, "sessions_scheduled")
    hrs = numeric(ep, "attendance_hours")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(sch > 0, att / sch, np.nan)
    rows = []
    for gi in np.unique(g):
        sel = g == gi
        r = rate[sel]
        r = r[~np.isnan(r)]
        m = float(r.mean()) if len(r) else np.nan
        ok = sel & ~np.isnan(rate)
        h = hrs[sel]
        h = h[~np.isnan(h)]
        rows.append(
            dict(
                g=int(gi),
                n_rate=len(r),
                mean_rate=m,
                m2_rate=float(((r - m) * (r - m)).sum()) if len(r) else 0.0,
                attended=float(att[ok].sum()),
                scheduled=float(sch[ok].sum()),
                n_hours=len(h),
                sum_hours=float(h.sum()),
            )
        )
    out = pd.DataFrame(rows, columns=["g", *_ATTENDANCE_SUMS])
    out.attrs.update(has_rate=has_rate, has_hours=has_hours)
    return out


def _attendance_table(parts: pd.DataFrame, labels: list[str], ci_level: float) -> pd.DataFrame:
    """Attendance per group: mean of per-episode attended / scheduled sessions (t CI) and
    the pooled rate; mean attended hours (from :func:`_attendance_parts`)."""
    has_rate, has_hours = parts.attrs.get("has_rate"), parts.attrs.get("has_hours")
    if not (has_rate or has_hours):
        return pd.DataFrame()
    out = []
    for p in parts.sort_values("g").itertuples(index=False):
        row = dict(group=labels[p.g])
        if has_rate:
            nr, m = int(p.n_rate), p.mean_rate if p.n_rate else np.nan
            sd = float(np.sqrt(p.m2_rate / (nr - 1))) if nr > 1 else np.nan
            lo, hi = mean_ci(m, sd, nr, ci_level)
            row.update(
                n_rate=nr,
                attendance_rate=m,
                ci_low=float(lo),
                ci_high=float(hi),
                pooled_rate=float(p.attended / p.scheduled) if nr else np.nan,
            )
        if has_hours:
            nh = int(p.n_hours)
            row.update(n_hours=nh, mean_hours=float(p.sum_hours / nh) if nh else np.nan)
        out.append(row)
    tab = pd.DataFrame(out)
    tab["ci_level"] = ci_level
    tab["method"] = "mean of per-episode attended/scheduled (t CI); pooled = sum/sum"
    return tab


def _combine_attendance(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The attendance sums of each group over parts of the rows (Chan, Golub & LeVeque 1983
    for the rates' mean and squared deviations; the rest add)."""
    allp = pd.concat(parts, ignore_index=True)
    rows = []
    for gi, q in allp.groupby("g", sort=True):
        n = q["n_rate"].to_numpy(float)
        tot = n.sum()
        has = n > 0
        mean = float((n[has] * q["mean_rate"].to_numpy(float)[has]).sum() / tot) if tot else np.nan
        dev = np.where(has, q["mean_rate"].to_numpy(float) - (mean if tot else 0.0), 0.0)
        rows.append(
            dict(
                g=int(gi),
                n_rate=int(tot),
                mean_rate=mean,
                m2_rate=float(q["m2_rate"].sum() + (n * dev * dev).sum()),
                attended=float(q["attended"].sum()),
                scheduled=float(q["scheduled"].sum()),
                n_hours=int(q["n_hours"].sum()),
                sum_hours=float(q["sum_hours"].sum()),
            )
        )
    out = pd.DataFrame(rows, columns=["g", *_ATTENDANCE_SUMS])
    out.attrs.update(parts[0].attrs)
    return out


def dropout_survival_dask(episodes, args: dict, steps: dict):
    """:func:`dropout_survival` on Dask (:mod:`iop_outcomes._dask.survival`; Dask imported
    there)."""
    from .._dask.survival import dropout_survival_dask as run

    return run(episodes, args, steps)


#: the in-memory pieces the Dask path runs (handed over: no import circle)
_SURVIVAL_STEPS = {
    "facts": _episode_facts,
    "check": _check_times_observed,
    "attendance_parts": _attendance_parts,
    "combine_attendance": _combine_attendance,
    "attendance_table": _attendance_table,
    "survival": _survival,
}
