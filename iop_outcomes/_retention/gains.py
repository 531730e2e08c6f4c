"""Durability of gains after discharge: change to follow-up, reliable improvement kept, relapse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import instruments
from .._dask import is_dask
from .._results import TableResult
from .._stats import mean_ci, wilson_ci
from .._validation import Interval, check_columns, public_name, validate_params
from ..exceptions import ConfigError, DataError
from ..io import LoadResult
from .prepare import WINDOW_DAYS, episode_table, group_codes, numeric


# --------------------------------------------------------------------------------------
# durability of gains
# --------------------------------------------------------------------------------------
@validate_params(
    {
        "episodes": ["frame", "dask_frame", LoadResult],
        "instrument": ["instrument", None],
        "by": [str, None],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
    },
    renamed={"data": "episodes"},
)
def durability(
    episodes: pd.DataFrame,
    *,
    instrument: str | None = None,
    by: str | None = None,
    ci_level: float = 0.95,
) -> TableResult:
    r"""Do gains hold after discharge? Change from discharge to each follow-up, reliable
    improvement kept, relapse into caseness.

    Per follow-up window (columns ``followup_<w>`` present) and level of ``by``, among
    episodes with both an endpoint and a follow-up score:

    * ``change_from_endpoint``: mean of follow-up − endpoint with a t interval
      (positive = scores rose after discharge);
    * ``kept_reliable_improvement``: among episodes reliably improved at endpoint
      (:math:`\text{baseline} - \text{endpoint} \ge RC` for lower-is-better instruments, RC the
      instrument's fixed reliable-change threshold, e.g. 6 for the PHQ-9), the share still
      reliably improved at follow-up (:math:`\text{baseline} - \text{follow-up} \ge RC`),
      Wilson interval;
    * ``relapse``: among episodes below the caseness cut-off at endpoint, the share at or above
      it at follow-up (Wilson interval).

    Parameters
    ----------
    episodes : DataFrame or LoadResult
        Episode table (``baseline``, ``endpoint``, ``followup_<w>``). Assessment rows are
        accepted too: a table without a ``baseline`` column that holds ``total`` (or
        ``assessment_date``, ``timepoint``) is taken as assessments and its episode table built
        with :func:`iop_outcomes.episodes` for ``instrument``.
    instrument : str, optional
        Instrument (its reliable-change threshold and caseness cut-off are used). ``None``: the
        table must hold exactly one, named in its ``instrument`` column (else a ConfigError).
    by : str, optional
        Stratifying column: one set of rows per level (no test between levels).
    ci_level : float
        Confidence level.

    References
    ----------
    Jacobson & Truax (1991). J Consult Clin Psychol 59:12-19. NHS England, NHS Talking
    Therapies metadata (reliable change PHQ-9 >= 6, GAD-7 >= 4; caseness PHQ-9 >= 10, GAD-7 >= 8).

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [18, 16, 20, 15], "endpoint": [8, 12, 6, 14],
    ...                    "followup_3m": [9, 11, 12, 13]})
    >>> d = iop.durability(ep, instrument="PHQ-9").to_frame()
    >>> d[["measure", "n", "count", "estimate"]].round(3)
                         measure  n  count  estimate
    0       change_from_endpoint  4   <NA>      1.25
    1  kept_reliable_improvement  2      2      1.00
    2                    relapse  2      1      0.50
    """
    func = "durability"
    if is_dask(episodes):  # counts per group and scores per partition (_dask/durability.py)
        from .._dask.durability import durability_dask

        return durability_dask(episodes, locals(), durability)
    ep, name = episode_table(episodes, instrument, func=func)
    inst = _instrument_thresholds(name, func)
    check_columns(ep, ["baseline", "endpoint"], func=func, what="episode table")
    fcols, empty = _followup_columns(ep, func)
    g, labels = group_codes(ep, by, None, func=func, param="by")
    rows = []
    for col in fcols:
        rows += _window_rows(ep, col, g, labels, inst, ci_level)
    table = pd.DataFrame(rows)
    table["count"] = table["count"].astype("Int64")
    table.insert(table.columns.get_loc("method"), "ci_level", ci_level)
    if by is None:
        table = table.drop(columns="group")
    rc, cut = inst.reliable_change, inst.caseness_cutoff
    direction = "lower" if inst.better_is == "lower" else "higher"
    notes = (
        *([f"Left out (no follow-up scores): {', '.join(empty)}."] if empty else []),
        f"Reliable improvement: baseline-to-score change >= {rc:g} points toward better "
        f"({direction} is better), the fixed threshold of {inst.name} "
        f"({inst.reliable_change_source.rstrip('.')}).",
        f"Relapse: endpoint better than the caseness cut-off {cut:g} and follow-up at or past it "
        f"({inst.caseness_source.rstrip('.')}).",
        "Denominators: change — endpoint and follow-up observed; kept — reliably improved at "
        "endpoint with follow-up observed; relapse — not a case at endpoint with follow-up "
        "observed. Positive change = scores rose after discharge.",
    )
    return TableResult(
        table=table,
        title=f"Durability of gains after discharge ({inst.name})",
        method="follow-up minus endpoint (t CI); kept reliable improvement and relapse (Wilson)",
        params={
            "instrument": inst.name,
            "reliable_change": rc,
            "caseness_cutoff": cut,
            "ci_level": ci_level,
        },
        notes=notes,
        digits=3,
        roles={
            "n": "count",
            "count": "count of n",
            **{c: "from n, count" for c in ("estimate", "ci_low", "ci_high")},
            **{c: "statistic of n" for c in ("sd", "se")},
        },
    )


def _instrument_thresholds(name: Any, func: str):
    """The registered instrument with its reliable-change threshold and caseness cut-off."""
    if name is None:
        raise ConfigError(
            f"The 'instrument' parameter of {public_name(func)} is needed (the reliable-change "
            "threshold and caseness cut-off depend on it); the table has no instrument column."
        )
    inst = instruments.get(name)
    if inst.reliable_change is None or inst.caseness_cutoff is None:
        raise ConfigError(
            f"Instrument {inst.name!r} has no reliable_change / caseness_cutoff; register them."
        )
    return inst


def _followup_columns(ep: pd.DataFrame, func: str) -> tuple[list[str], list[str]]:
    """The ``followup_<w>`` columns holding scores, and those left out as empty."""
    fcols = [c for c in (f"followup_{w}" for w in WINDOW_DAYS) if c in ep.columns]
    if not fcols:
        raise DataError(
            f"{public_name(func)} needs at least one followup_<window> column; none present."
        )
    empty = [c for c in fcols if ep[c].isna().all()]
    fcols = [c for c in fcols if c not in empty]
    if not fcols:
        raise DataError(f"{public_name(func)}: the follow-up columns {empty} hold no scores.")
    return fcols, empty


def _window_rows(ep, col: str, g, labels, inst, ci_level: float) -> list[dict]:
    """The three measures of one follow-up window, per group."""
    sign = 1.0 if inst.better_is == "lower" else -1.0
    rc, cut = inst.reliable_change, inst.caseness_cutoff
    base = numeric(ep, "baseline")
    end = numeric(ep, "endpoint")
    fu = numeric(ep, col)
    both = ~np.isnan(end) & ~np.isnan(fu)
    ri_end = both & ~np.isnan(base) & (sign * (base - end) >= rc)
    kept = ri_end & (sign * (base - fu) >= rc)
    noncase = both & (sign * (end - cut) < 0)  # better than the cut-off at endpoint
    relapse = noncase & (sign * (fu - cut) >= 0)
    diff = fu - end
    w = col.removeprefix("followup_")
    rows = []
    for gi, lab in enumerate(labels):
        sel = g == gi
        dd = diff[sel & both]
        n = len(dd)
        m = float(dd.mean()) if n else np.nan
        sd = float(dd.std(ddof=1)) if n > 1 else np.nan
        lo, hi = mean_ci(m, sd, n, ci_level)
        rows.append(
            dict(
                group=lab,
                window=w,
                measure="change_from_endpoint",
                n=n,
                count=np.nan,
                estimate=m,
                sd=sd,
                se=sd / np.sqrt(n) if n > 1 else np.nan,
                ci_low=float(lo),
                ci_high=float(hi),
                method="mean difference, t interval",
            )
        )
        for meas, den, num in (
            ("kept_reliable_improvement", ri_end, kept),
            ("relapse", noncase, relapse),
        ):
            nd, nn = int((sel & den).sum()), int((sel & num).sum())
            lo, hi = wilson_ci(nn, nd, ci_level)
            rows.append(
                dict(
                    group=lab,
                    window=w,
                    measure=meas,
                    n=nd,
                    count=float(nn),
                    estimate=nn / nd if nd else np.nan,
                    sd=np.nan,
                    se=np.nan,
                    ci_low=float(lo),
                    ci_high=float(hi),
                    method="proportion, Wilson score interval",
                )
            )
    return rows
