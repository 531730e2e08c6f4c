"""Outcomes over time: a headline rate by admission quarter (or month) on a control chart."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from ..._over_time import RULE_SETS, over_time
from ..context import Ctx
from ..figures_over_time import fig_over_time
from ..populations import pop_key
from ..render import Section

#: fewest periods with admissions for a chart (as :func:`iop_outcomes.over_time`'s default)
MIN_PERIODS = 4
_FREQ = {"quarter": "Q", "month": "M"}


def _choose_period(admit: pd.Series) -> tuple[str | None, dict[str, int]]:
    """``"quarter"`` when the admissions fall in at least :data:`MIN_PERIODS` quarters, else
    ``"month"`` when they fall in at least that many months, else ``None``; with the number of
    periods of each kind that hold admissions.

    >>> d = pd.Series(pd.to_datetime(["2025-01-05", "2025-02-10", "2025-03-01", "2025-04-02"]))
    >>> _choose_period(d)
    ('month', {'quarter': 2, 'month': 4})
    """
    when = pd.to_datetime(admit, errors="coerce").dropna()
    counts = {p: int(when.dt.to_period(f).nunique()) for p, f in _FREQ.items()}
    for p in ("quarter", "month"):
        if counts[p] >= MIN_PERIODS:
            return p, counts
    return None, counts


def _renamed_roles(roles: dict, names: dict) -> dict:
    """Column roles (:class:`iop_outcomes._results.TableResult`) with the columns renamed.

    >>> _renamed_roles({"n": "count", "observed": "count of n", "estimate": "from n, observed"},
    ...                {"n": "episodes", "observed": "count"})
    {'episodes': 'count', 'count': 'count of episodes', 'estimate': 'from episodes, count'}
    """
    kind = re.compile(r"^(count of |from |statistic of )")

    def columns(role: str) -> str:
        head = kind.match(role)
        if head is None:
            return role
        bases = role[head.end() :].split(", ")
        return head.group(0) + ", ".join(names.get(b, b) for b in bases)

    return {names.get(c, c): columns(r) for c, r in roles.items()}


def section_over_time(ctx: Ctx, sec: Section, ep: pd.DataFrame, inst: str) -> None:
    """The chart of ``[over_time] outcome`` of the primary instrument's episodes by admission
    period (:func:`iop_outcomes.over_time`, its statistics as they come), when admissions
    span at least four quarters or months; else one sentence saying why it is absent."""
    outcome = ctx.cfg.over_time_outcome
    admit = ep["admit_date"] if "admit_date" in ep.columns else pd.Series(dtype=object)
    period, counts = _choose_period(admit)
    if "admit_date" not in ep.columns or not admit.notna().any():
        sec.p("No control chart: the episodes have no admission dates (admit_date).")
        return
    if period is None:
        sec.p(
            f"No control chart: it needs admissions in at least {MIN_PERIODS} months or "
            f"quarters, and these data have admission dates in {counts['month']} month(s)."
        )
        return
    res = ctx.run(
        sec,
        f"{outcome.capitalize()} by {period} of admission ({inst})",
        lambda: over_time(ep, period=period, outcome=outcome, instrument=inst),
    )
    if res is None:
        return
    rules = res.params["rules"]
    sec.p(
        f"The {res.outcome_label} of {inst} episodes by {period} of admission, on a control "
        f"chart ({res.chart} chart): the centre line is the rate over all the {period}s, the "
        f"control limits lie 3 standard errors either side of it and are wider for {period}s "
        "with fewer episodes. A rate inside the limits differs from the centre by no more than "
        "chance variation would produce. A special-cause signal marks a pattern chance rarely "
        f"produces, by the rules of {RULE_SETS[rules]['source']}: worth looking into (what "
        "changed in that period: staff, referrals, the program), not proof of a change in "
        "quality. An episode counts in the period it was admitted once its outcome is known, "
        "so the latest periods rest on fewer episodes."
    )
    # the result's columns in the report's words; their roles (OverTimeResult.roles) with them
    names = {"n": "episodes", "observed": "count", "estimate": "rate"}
    tb = res.table.rename(columns=names)
    tb["count"] = tb["count"].round().astype("Int64")  # events: a count of episodes
    tb["signal"] = [
        f"{d} ({r})" if s else ""
        for s, d, r in zip(
            res.table["signal"], res.table["direction"], res.table["rules"], strict=True
        )
    ]
    cols = ["period", "episodes", "count", "rate", "lcl", "ucl", "signal"]
    pop = {"episodes": "n", "count": "k"}
    t = ctx.add_table(
        sec,
        f"over_time_{outcome}",
        f"{res.title} ({inst}), {res.chart} chart with 3-sigma limits",
        tb[cols],
        # a signal says on which side of the centre line, or beyond which limit, the rate is
        derived={"signal": ["episodes", "count"]},
        percent=("rate", "lcl", "ucl"),
        column_totals=False,
        keys={
            c: (lambda r, c=c: pop_key(inst, None, None, f"ot|{outcome}|{r['period']}|{pop[c]}"))
            for c in ("episodes", "count")
        },
        result=dataclasses.replace(res, roles=_renamed_roles(res.roles, names)),
        digits=3,
    )
    # the periods add up to the report's rate denominator and events (the rates table): a
    # small period must not come back by subtraction from those totals
    shown = tb["episodes"].notna().to_numpy()
    periods = tb.loc[shown, "period"].tolist()
    for c in ("n", "k"):
        ctx.identity(
            pop_key(inst, None, None, f"rate_{c}|{outcome}"),
            [pop_key(inst, None, None, f"ot|{outcome}|{p}|{c}") for p in periods],
        )
    fig_over_time(ctx, sec, t.frame, res, inst)
