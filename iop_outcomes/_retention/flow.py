"""Participant flow (CONSORT-style) and follow-up response: :func:`retention`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._dask import is_dask
from .._results import TableResult, format_table
from .._stats import wilson_ci
from .._validation import Interval, check_columns, public_name, validate_params
from ..exceptions import ConfigError, DataError
from ..io import LoadResult
from .logistic import SeparationError, design, logit_or, perfect_fit
from .prepare import (
    ALL,
    STATUSES,
    WINDOW_DAYS,
    dates,
    episode_table,
    group_codes,
    numeric,
    status_codes,
)

#: Columns of ``RetentionResult.tests`` (follow-up response compared between groups).
_TEST_COLUMNS = [
    "window",
    "test",
    "term",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_level",
    "statistic",
    "df",
    "pvalue",
    "n_used",
    "method",
]


# --------------------------------------------------------------------------------------
# participant flow and follow-up response
# --------------------------------------------------------------------------------------
#: Flow stages and their boxes, in order; the first box of a stage continues the main path.
FLOW_BOXES = {
    "admitted": ("admitted",),
    "baseline": ("baseline measured", "no baseline score"),
    "in_treatment": ("measured after baseline", "not measured after baseline"),
    "discharge": (*STATUSES, "status unknown"),
    "endpoint": ("discharged, endpoint scored", "discharged, no endpoint score", "not discharged"),
}
_AFTER_RULE = {
    "n_in_treatment": "baseline present and n_in_treatment >= 2 (the baseline counts as the "
    "first in-treatment score).",
    "dates": "baseline present and an endpoint dated after the baseline.",
    "endpoint": "baseline and endpoint both present (no n_in_treatment or dates in the table).",
}
FOLLOWUP_BOXES = ("responded", "eligible, no response", "window still open", "not discharged")


@dataclass(frozen=True, repr=False)
class RetentionResult(TableResult):
    """Participant flow and follow-up response.

    Attributes
    ----------
    flow : DataFrame
        Tidy flow counts: ``group, stage, box, n, pct`` (pct of the group's admitted episodes);
        every episode is in exactly one box of each stage.
    followup : DataFrame
        Response per window and group: ``n_discharged, n_eligible, n_responded, estimate,
        ci_low, ci_high`` (Wilson), with the denominator stated in ``denominator``.
    tests : DataFrame
        Between-group comparisons per window (Pearson chi-square; logistic model odds ratios).
    """

    flow: pd.DataFrame = field(default_factory=pd.DataFrame)
    followup: pd.DataFrame = field(default_factory=pd.DataFrame)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: tuple[str, ...] = ()
    #: the roles of the ``followup`` table's columns
    roles: dict = field(
        default_factory=lambda: {
            "n_eligible": "count",
            "n_admitted": "count",
            "n_discharged": "count",
            "n_responded": "count of n_eligible",
            "estimate": "from n_responded, n_eligible",
            "ci_low": "from n_responded, n_eligible",
            "ci_high": "from n_responded, n_eligible",
        },
        repr=False,
    )

    def to_frame(self, which: str = "flow") -> pd.DataFrame:
        """Copy of one table: ``"flow"`` (default), ``"followup"`` or ``"tests"``."""
        tables = {"flow": self.flow, "followup": self.followup, "tests": self.tests}
        if which not in tables:
            raise ConfigError(
                f"The 'which' parameter of to_frame must be one of {list(tables)}. "
                f"Got {which!r} instead."
            )
        return tables[which].copy()

    def flow_wide(self, value: str = "n") -> pd.DataFrame:
        """Flow as a (stage, box) × group table of ``value`` ("n" or "pct"), CONSORT layout."""
        order = pd.MultiIndex.from_frame(self.flow[["stage", "box"]].drop_duplicates())
        wide = self.flow.set_index(["stage", "box", "group"])[value].unstack("group")
        return wide.reindex(index=order, columns=list(self.groups))

    def summary(self) -> str:
        wide = self.flow_wide("n")
        pct = self.flow_wide("pct")
        shown = wide.copy().astype(object)
        for g in wide.columns:
            shown[g] = [f"{int(n):,} ({p:.1f}%)" for n, p in zip(wide[g], pct[g], strict=True)]
        parts = [self.title, "Participant flow (n, % of admitted):", shown.to_string()]
        if len(self.followup):
            fu = self.followup[
                ["group", "window", "n_eligible", "n_responded", "estimate", "ci_low", "ci_high"]
            ]
            parts += [
                "",
                "Follow-up response (Wilson CI):",
                format_table(fu, 3).to_string(index=False),
            ]
        if len(self.tests):
            t = self.tests[[c for c in _TEST_COLUMNS if c not in ("ci_level", "method")]]
            parts += ["", "Comparisons between groups:", format_table(t, 3).to_string(index=False)]
        parts += [*self._footer()]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        import html as _html

        wide = self.flow_wide("n")
        parts = [
            f"<p><strong>{_html.escape(self.title)}</strong></p>",
            wide.to_html(border=0, classes="iop-table"),
        ]
        if len(self.followup):
            parts.append(format_table(self.followup, 3).to_html(index=False, border=0))
        if len(self.tests):
            parts.append(format_table(self.tests, 3).to_html(index=False, border=0))
        parts += [f"<br><small>{_html.escape(t)}</small>" for t in self._footer()]
        return "<div>" + "".join(parts) + "</div>"

    def plot_flow(self, *, ax=None, **kwargs):
        """Draw the flow diagram (see :func:`iop_outcomes.plots.retention.plot_flow`)."""
        from ..plots.retention import plot_flow

        return plot_flow(self, ax=ax, **kwargs)

    def plot_followup(self, *, ax=None, **kwargs):
        """Follow-up response bars with Wilson CIs
        (:func:`iop_outcomes.plots.retention.plot_followup_response`)."""
        from ..plots.retention import plot_followup_response

        return plot_followup_response(self, ax=ax, **kwargs)


def flow_codes(ep: pd.DataFrame, st_code: np.ndarray, windows, as_of) -> dict[str, np.ndarray]:
    """For each stage, the box index of every episode (a partition by construction)."""
    n = len(ep)
    base = ~np.isnan(numeric(ep, "baseline"))
    end = ~np.isnan(numeric(ep, "endpoint"))
    if "n_in_treatment" in ep.columns:
        # baseline is itself a score in treatment: a later one means n_in_treatment >= 2
        nit = np.nan_to_num(numeric(ep, "n_in_treatment"), nan=0.0)
        after = base & (nit >= 2)
    elif {"baseline_date", "endpoint_date"} <= set(ep.columns):  # an endpoint after baseline
        bd = dates(ep, "baseline_date").to_numpy()
        ed = dates(ep, "endpoint_date").to_numpy()
        after = base & end & (ed > bd)
    else:  # no counts or dates: an endpoint score besides the baseline
        after = base & end
    ddate = dates(ep, "discharge_date")
    closed = st_code < 4
    discharged = closed | ((st_code == len(STATUSES)) & ddate.notna().to_numpy())
    codes = {
        "admitted": np.zeros(n, dtype=np.int64),
        "baseline": np.where(base, 0, 1),
        "in_treatment": np.where(after, 0, 1),
        "discharge": st_code,
        "endpoint": np.where(discharged, np.where(end, 0, 1), 2),
    }
    for w in windows:
        resp = ~np.isnan(numeric(ep, f"followup_{w}"))
        out = discharged | resp  # a follow-up score shows the episode was discharged
        if as_of is None:
            still_open = np.zeros(n, dtype=bool)
        else:
            closes = (ddate + pd.Timedelta(days=WINDOW_DAYS[w])).to_numpy()
            # unknown discharge date with a closed status: counted as closed (stated)
            still_open = ddate.notna().to_numpy() & (closes > np.datetime64(as_of))
        codes[f"followup_{w}"] = np.select(
            [out & ~still_open & resp, out & ~still_open, out], [0, 1, 2], default=3
        ).astype(np.int64)
    return codes


@validate_params(
    {
        "episodes": ["frame", "dask_frame", LoadResult],
        "group": [str, None],
        "reference": [str, int, None],
        "windows": [tuple, list],
        "as_of": ["date", None],
        "covariates": ["columns"],
        "tests": ["boolean"],
        "instrument": ["instrument", None],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
    },
    renamed={"data": "episodes", "by": "group"},
)
def retention(
    episodes: pd.DataFrame,
    *,
    group: str | None = "format",
    reference: str | int | None = None,
    windows: tuple[str, ...] = ("1m", "3m", "6m", "12m"),
    as_of: Any = None,
    covariates: tuple[str, ...] = ("baseline", "age"),
    tests: bool = True,
    instrument: str | None = None,
    ci_level: float = 0.95,
) -> RetentionResult:
    r"""CONSORT-style participant flow and follow-up response per cohort.

    Flow stages (each a partition of the group's admitted episodes — every episode is in
    exactly one box of every stage):

    1. ``admitted``;
    2. ``baseline``: baseline score present or not;
    3. ``in_treatment``: measured after baseline in treatment (baseline present and
       ``n_in_treatment >= 2``, the baseline being the first in-treatment score; without
       ``n_in_treatment``: an ``endpoint_date`` later than ``baseline_date``) or not;
    4. ``discharge``: completed / dropped_out / transferred / administrative / ongoing /
       status unknown;
    5. ``endpoint``: discharged with an endpoint score, discharged without one, not
       discharged (ongoing, or unknown status without a discharge date);
    6. ``followup_<w>`` per window: responded / eligible, no response / window still open (only
       with ``as_of``: discharged less than the window's closing day ``WINDOW_DAYS[w]`` before
       it, early responders included) / not discharged (a follow-up score counts as discharged).

    Follow-up response rate per window and group = responded / (responded + eligible, no
    response): without ``as_of`` every discharged episode is in the denominator; with it only
    those whose window has closed, so neither early responders nor open windows bias the rate.
    Its interval is the Wilson score interval:

    .. math::
        \frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    Between groups, per window, among eligible episodes: Pearson's chi-square test of
    independence without continuity correction (R ``chisq.test(correct = FALSE)``) and a
    logistic regression of response on group plus ``covariates`` (complete cases; odds ratios
    of each level against ``reference`` with Wald intervals, as R ``glm(family = binomial)``
    with ``confint.default``).

    Parameters
    ----------
    episodes : DataFrame or LoadResult
        Episode table (``docs/data-format.md``). Assessment rows are accepted too: a table
        without a ``baseline`` column that holds ``total`` (or ``assessment_date``,
        ``timepoint``) is taken as assessments and its episode table built with
        :func:`iop_outcomes.episodes` for ``instrument``.
    group : str or None
        Column whose levels are compared (cohort, format, site); None for one group.
    reference : str, optional
        Level of ``group`` the others are compared with (odds ratios) and listed first;
        default the first level (categorical order, else sorted).
    windows : tuple of str
        Follow-up windows among ``"1m", "3m", "6m", "12m"`` (columns ``followup_<w>``;
        a window whose column is absent is left out, with a note).
    as_of : date-like, optional
        Data-end date; episodes whose window (``WINDOW_DAYS``, the default episode rules'
        window ends) had not closed by then are set aside.
    covariates : tuple of str
        Adjustment covariates of the logistic model (absent columns are skipped, with a note).
    tests : bool
        Compute the between-group comparisons.
    instrument : str, optional
        Instrument whose scores define the flow. ``None``: the table must hold exactly one
        (else a ConfigError names those found).
    ci_level : float
        Confidence level of the Wilson and Wald intervals.

    Returns
    -------
    RetentionResult
        ``.flow``, ``.followup``, ``.tests``; ``to_frame(which)``, ``plot_flow()``.

    References
    ----------
    Schulz, Altman & Moher (2010). CONSORT 2010 statement. BMJ 340:c332.
    Wilson (1927). J Am Stat Assoc 22:209-212.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [12, 15, None], "endpoint": [6, None, None],
    ...                    "n_in_treatment": [5, 1, 0],
    ...                    "discharge_status": ["completed", "dropped_out", "ongoing"],
    ...                    "followup_1m": [7, None, None]})
    >>> r = iop.retention(ep, group=None, windows=("1m",))
    >>> print(r.flow.loc[r.flow["stage"] == "endpoint", ["box", "n"]].to_string(index=False))
                              box  n
      discharged, endpoint scored  1
    discharged, no endpoint score  1
                   not discharged  1
    >>> round(float(r.followup["estimate"].iloc[0]), 3)
    0.5
    """
    func = "retention"
    windows = _check_windows(windows, func)
    as_of = None if as_of is None else pd.Timestamp(as_of)
    if is_dask(episodes):  # counts per group and flow boxes per partition (_dask/retention.py)
        return retention_dask(episodes, locals(), _RETENTION_STEPS)
    ep, inst = episode_table(episodes, instrument, func=func)
    _check_one_row_per_episode(ep, func)
    absent = [w for w in windows if f"followup_{w}" not in ep.columns]
    windows = tuple(w for w in windows if w not in absent)
    g, labels = group_codes(ep, group, reference, func=func)
    codes = flow_codes(ep, status_codes(ep, func), windows, as_of)
    return _retention(ep, ep.columns, g, labels, codes, windows, absent, inst, locals())


def _retention(ep, columns, g, labels, codes, windows, absent, inst, a: dict):
    """The :class:`RetentionResult` of the episodes' group codes and flow boxes (in memory,
    or rebuilt from a Dask table's counts). ``ep``: the rows with the columns the response
    tests read (the covariates); ``columns``: the table's, which say the flow's rule."""
    group, reference, as_of, ci_level = a["group"], a["reference"], a["as_of"], a["ci_level"]
    tests, covariates = a["tests"], a["covariates"]
    flow = _flow_table(g, labels, codes, windows, len(g))
    denom = (
        "discharged episodes whose window had closed by as_of"
        if as_of is not None
        else "all discharged episodes"
    )
    followup = _followup_table(g, labels, codes, windows, denom, ci_level)
    notes = _flow_notes(columns, denom, absent, as_of)
    test_tab = pd.DataFrame()
    if tests and len(labels) > 1:
        cov = (covariates,) if isinstance(covariates, str) else tuple(covariates)
        test_tab, tnotes = _response_tests(
            ep, g, labels, codes, windows, cov, ci_level, group, reference
        )
        notes += tnotes
    return RetentionResult(
        table=flow,
        title=f"Participant flow and follow-up response by {group}"
        if group
        else "Participant flow",
        method="CONSORT-style flow counts; follow-up response with Wilson score intervals",
        params={
            "group": group,
            "reference": labels[0] if group else None,
            "instrument": inst,
            "windows": windows,
            "as_of": None if as_of is None else str(as_of.date()),
            "ci_level": ci_level,
        },
        notes=tuple(notes),
        flow=flow,
        followup=followup,
        tests=test_tab,
        groups=tuple(labels),
    )


def retention_dask(episodes, args: dict, steps: dict):
    """:func:`retention` on Dask (:mod:`iop_outcomes._dask.retention`; Dask imported there)."""
    from .._dask.retention import retention_dask as run

    return run(episodes, args, steps)


def _check_windows(windows, func: str) -> tuple[str, ...]:
    """The windows as a tuple; each must be a key of :data:`WINDOW_DAYS`."""
    windows = tuple(windows)
    if any(w not in WINDOW_DAYS for w in windows):
        raise ConfigError(
            f"The 'windows' parameter of {public_name(func)} must hold values among "
            f"{list(WINDOW_DAYS)}. Got {windows!r} instead."
        )
    return windows


def _check_one_row_per_episode(ep: pd.DataFrame, func: str) -> None:
    """The flow counts episodes: the table must be non-empty with one row per episode."""
    if len(ep) == 0:
        raise DataError(f"{public_name(func)} got an empty episode table.")
    if "episode_id" in ep.columns and ep["episode_id"].duplicated().any():
        dup = ep.loc[ep["episode_id"].duplicated(), "episode_id"].iloc[:5].tolist()
        raise DataError(
            f"The episode table passed to {public_name(func)} has duplicated episode_id values "
            f"(e.g. {dup}); one row per episode is needed (choose an instrument)."
        )
    check_columns(ep, ["baseline"], func=func, what="episode table")


def _flow_table(g, labels, codes, windows, n_episodes: int) -> pd.DataFrame:
    """Tidy flow counts per group, stage and box; checks that every stage partitions."""
    k = len(labels)
    nadm = np.bincount(g, minlength=k)
    rows = []
    for stage, boxes in [
        *FLOW_BOXES.items(),
        *((f"followup_{w}", FOLLOWUP_BOXES) for w in windows),
    ]:
        nb = len(boxes)
        cnt = np.bincount(g * nb + codes[stage], minlength=k * nb).reshape(k, nb)
        if cnt.sum() != n_episodes or (cnt.sum(axis=1) != nadm).any():  # the flow invariant
            raise RuntimeError(f"flow stage {stage!r} does not partition the episodes")
        for gi, lab in enumerate(labels):
            for bi, box in enumerate(boxes):
                rows.append((lab, stage, box, bi, int(cnt[gi, bi])))
    flow = pd.DataFrame(rows, columns=["group", "stage", "box", "box_order", "n"])
    flow["pct"] = 100.0 * flow["n"] / flow["group"].map(dict(zip(labels, nadm, strict=True)))
    flow["n"] = flow["n"].astype(np.int64)
    return flow


def _followup_table(g, labels, codes, windows, denom: str, ci_level: float) -> pd.DataFrame:
    """Follow-up response per window and group (and all groups), Wilson intervals."""
    k = len(labels)
    fu_rows = []
    for w in windows:
        c = codes[f"followup_{w}"]
        cnt = np.bincount(g * 4 + c, minlength=k * 4).reshape(k, 4)
        tot = cnt.sum(axis=0, keepdims=True)
        allc = np.vstack([cnt, tot]) if k > 1 else cnt
        labs = [*labels, ALL] if k > 1 else labels
        resp = allc[:, 0]
        elig = allc[:, 0] + allc[:, 1]
        lo, hi = wilson_ci(resp, elig, ci_level)
        with np.errstate(invalid="ignore", divide="ignore"):
            est = np.where(elig > 0, resp / np.maximum(elig, 1), np.nan)
        for i, lab in enumerate(labs):
            fu_rows.append(
                dict(
                    group=lab,
                    window=w,
                    n_admitted=int(allc[i].sum()),
                    n_discharged=int(allc[i, :3].sum()),
                    n_eligible=int(elig[i]),
                    n_responded=int(resp[i]),
                    estimate=float(est[i]),
                    ci_low=float(lo[i]),
                    ci_high=float(hi[i]),
                    ci_level=ci_level,
                )
            )
    followup = pd.DataFrame(fu_rows)
    if len(followup):
        followup["denominator"] = denom
        followup["method"] = "Wilson score interval"
    return followup


def _flow_notes(columns, denom: str, absent, as_of) -> list[str]:
    """The flow's stated rules: the partition, 'measured after baseline', the denominator."""
    notes = [
        "Every episode is in exactly one box of each flow stage (checked).",
        "Measured after baseline: "
        + _AFTER_RULE[
            "n_in_treatment"
            if "n_in_treatment" in columns
            else "dates"
            if {"baseline_date", "endpoint_date"} <= set(columns)
            else "endpoint"
        ],
        f"Follow-up response denominator: {denom}.",
    ]
    if absent:
        notes.append(f"Window(s) {list(absent)} left out: no followup_<window> column.")
    if as_of is not None:
        notes.append(
            f"as_of = {as_of.date()}; windows close {WINDOW_DAYS} days after discharge; open "
            "windows (early responders included) are set aside; discharged episodes without a "
            "discharge date count as closed."
        )
    return notes


def _response_tests(ep, g, labels, codes, windows, covariates, ci_level, group, reference):
    """Per window, among eligible episodes: Pearson chi-square across the groups and the
    logistic model of response on group (against the reference level) and covariates."""
    rows, notes = [], []
    covs = [c for c in covariates if c in ep.columns and c != group]
    skipped = [c for c in covariates if c not in ep.columns]
    if skipped:
        notes.append(f"Logistic model: covariate(s) {skipped} not in the data, left out.")
    for w in windows:
        c = codes[f"followup_{w}"]
        elig = c <= 1
        y = (c[elig] == 0).astype(float)
        gg = g[elig]
        if len(np.unique(gg)) < 2:
            continue
        base = dict(window=w, ci_level=ci_level)
        rows += _chi_square_row(base, y, gg, labels, group, notes)
        rows += _logistic_rows(base, ep, elig, y, gg, labels, covs, group, reference, notes)
    return pd.DataFrame(rows).reindex(columns=_TEST_COLUMNS), notes


def _chi_square_row(base, y, gg, labels, group, notes) -> list[dict]:
    """Pearson chi-square of response by group (no continuity correction), if defined."""
    present = np.unique(gg)
    tab = np.vstack(
        [
            np.bincount(gg, weights=y, minlength=len(labels)),
            np.bincount(gg, weights=1 - y, minlength=len(labels)),
        ]
    )[:, present]
    tab = tab[:, tab.sum(axis=0) > 0]
    if not (tab.shape[1] >= 2 and (tab.sum(axis=1) > 0).all()):
        return []
    chi, p, dof, expected = _dist.pearson_chi2(tab)
    if (expected < 5).any():
        notes.append(
            f"Chi-square for {base['window']}: some expected counts < 5; the approximation "
            "may be poor."
        )
    return [
        dict(
            base,
            test="Pearson chi-square",
            term=f"{group} (all levels)",
            statistic=chi,
            df=float(dof),
            pvalue=p,
            n_used=int(tab.sum()),
            method="Pearson chi-square, no continuity correction",
        )
    ]


def _logistic_rows(base, ep, elig, y, gg, labels, covs, group, reference, notes) -> list[dict]:
    """Odds ratios of response, each group level against the reference, adjusted for
    ``covs`` (complete cases); a note instead when the model cannot be fitted."""
    w = base["window"]
    rows_e = np.flatnonzero(elig)
    cov = ep[covs].iloc[rows_e] if covs else pd.DataFrame(index=ep.index[rows_e])
    ok = cov.notna().all(axis=1).to_numpy() if covs else np.ones(len(rows_e), dtype=bool)
    gk, yy = gg[ok], y[ok]
    present_ok = np.unique(gk)
    if len(present_ok) < 2:
        return []
    if reference is not None and present_ok[0] != 0:  # labels[0] is the reference given
        notes.append(
            f"Logistic model for {w}: no eligible episode with complete covariates at the "
            f"reference level {labels[0]!r}; not fitted."
        )
        return []
    ref_level = labels[present_ok[0]]
    Xc, cnames, _ = design(cov.loc[ok], covs, intercept=False)
    X = np.column_stack([np.ones(len(yy)), *[(gk == j).astype(float) for j in present_ok[1:]], Xc])
    names = ["(intercept)", *[f"{group}[{labels[j]}]" for j in present_ok[1:]], *cnames]
    if perfect_fit(yy, X):
        notes.append(f"Logistic model for {w}: no variation or collinear design; not fitted.")
        return []
    try:
        otab = logit_or(yy, X, names, base["ci_level"])
    except SeparationError as e:
        notes.append(f"Logistic model for {w} not reported: {e}.")
        return []
    adj = f" adjusted for {', '.join(covs)}" if covs else " (unadjusted)"
    otab = otab.iloc[1:]
    is_group = otab["term"].str.startswith(f"{group}[").to_numpy()
    terms = np.where(is_group, otab["term"] + f" vs {ref_level}", otab["term"]).tolist()
    return [
        dict(
            base,
            test="logistic odds ratio",
            term=t,
            estimate=e,
            ci_low=lo,
            ci_high=hi,
            statistic=s,
            pvalue=p,
            n_used=len(yy),
            method=f"logistic regression of response{adj}; Wald CI",
        )
        for t, e, lo, hi, s, p in zip(
            terms,
            otab["estimate"],
            otab["ci_low"],
            otab["ci_high"],
            otab["statistic"],
            otab["pvalue"],
            strict=True,
        )
    ]


#: the in-memory pieces the Dask path runs (handed over: no import circle)
_RETENTION_STEPS = {
    "one_row": _check_one_row_per_episode,
    "codes": lambda ep, windows, as_of: flow_codes(
        ep, status_codes(ep, "retention"), windows, as_of
    ),
    "retention": _retention,
}
