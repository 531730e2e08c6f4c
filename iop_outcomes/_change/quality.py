"""US depression quality measures from PHQ-9 scores: NCQA HEDIS DRR-E and CMS159
(:func:`quality_measures`).

Steps: the PHQ-9 rows → index events → the most recent PHQ-9 in each follow-up window →
rates with Wilson intervals → notes on what was and was not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._dask import is_dask
from .._grouping import group_columns
from .._instrument_rule import canonical_names
from .._results import TableResult
from .._stats import wilson_ci
from .._validation import Interval, Options, check_columns, validate_params
from ..exceptions import ConfigError
from .scores import OVERALL, label_missing
from .summary import AGE_BANDS

__all__ = ["quality_measures", "QualityMeasureResult"]


_MEASURES = {
    "DRR-E": {
        "title": "NCQA HEDIS DRR-E: Depression Remission or Response for Adolescents and Adults",
        "window": "120-240 days after the index date (inclusive)",
    },
    "CMS159": {
        "title": "CMS159 (NQF 0710e): Depression Remission at Twelve Months",
        "window": "12 months +/- 60 days after the index date (inclusive)",
    },
}


def _measure_name(measure) -> str:
    key = str(measure).upper().replace("_", "-").replace(" ", "")
    if key in ("DRR-E", "DRRE", "DRR"):
        return "DRR-E"
    if key.startswith("CMS159") or key in ("NQF0710", "0710", "0710E"):
        return "CMS159"
    raise ConfigError(
        f"The 'measure' parameter of quality_measures must be 'DRR-E' or 'CMS159'. "
        f"Got {measure!r} instead."
    )


@dataclass(frozen=True, repr=False)
class QualityMeasureResult(TableResult):
    """Quality-measure rates (``to_frame()``) plus one row per index event (``detail``)."""

    detail: pd.DataFrame = field(default_factory=pd.DataFrame)
    roles: dict = field(
        default_factory=lambda: {
            "n_index": "count",
            "n_pending": "count",
            "numerator": "count of denominator",
            "denominator": "count",
            "estimate": "from numerator, denominator",
            "ci_low": "from numerator, denominator",
            "ci_high": "from numerator, denominator",
        },
        repr=False,
    )


@validate_params(
    {
        "assessments": ["frame", "dask_frame"],
        "measure": [str],
        "by": ["columns", None],
        "unit": [Options("patient", "episode")],
        "as_of": ["date", None],
        "intake_period": [list, tuple, None],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
        "age_bands": AGE_BANDS,
    }
)
def quality_measures(
    assessments: pd.DataFrame,
    *,
    measure: str = "DRR-E",
    by=None,
    unit: str = "patient",
    as_of=None,
    intake_period=None,
    ci_level: float = 0.95,
    age_bands: Sequence[float] | None = None,
) -> QualityMeasureResult:
    r"""US depression quality measures from PHQ-9 scores: NCQA HEDIS DRR-E and CMS159.

    **DRR-E** (NCQA HEDIS, Depression Remission or Response for Adolescents and
    Adults; wording of NCQA's public measure page and of a HEDIS MY 2023
    health-plan summary, see References; the licensed NCQA technical
    specification was not consulted): the
    percentage of members with an elevated PHQ-9 score (total > 9) "who had
    evidence of response or remission within 120–240 days (4–8 months) of the
    elevated score". Three rates share one denominator (members with an index
    episode start date, IESD = the earliest elevated PHQ-9):

    - *Follow-up PHQ-9*: a PHQ-9 total score in the depression follow-up
      period (120–240 days after the IESD);
    - *Depression remission*: "the most recent PHQ-9 score of < 5 during the
      depression follow-up period";
    - *Depression response*: "the most recent PHQ-9 total score being at least
      50 percent lower than the PHQ-9 score associated with the IESD".

    **CMS159** (eCQM CMS159v12–v14, NQF/CBE 0710e, MN Community Measurement;
    logic as in the CQL of ``CMS159FHIRDepressionRemissionatTwelveMonths``
    0.3.000, 2025): index = the first PHQ-9 > 9; measure assessment period =
    ``[index date + 12 months − 60 days, index date + 12 months + 60 days]``
    (calendar months, both ends inclusive, day precision); numerator = the
    last PHQ-9 in that period is < 5.

    What is implemented here is the score-and-date logic only:

    - index: per ``unit`` the earliest PHQ-9 with total > 9 (within
      ``intake_period`` when given); on a tie the highest score that day;
    - follow-up score: the most recent PHQ-9 in the window (on a same-day tie
      the highest score, which is conservative);
    - response: :math:`\text{follow-up} \le 0.5 \times \text{index}`
      (exactly 50 % counts); remission: follow-up :math:`< 5`;
    - denominator: index events whose window has closed by ``as_of``. Index
      events whose window ends after ``as_of`` are *pending*: counted and
      reported, never scored 0. When no window has closed the rates are NaN
      and a note says the data do not reach the window.

    Not applied (the data contract has no such fields; filter beforehand):
    the depression/dysthymia diagnosis and encounter requirements,
    age ≥ 12, continuous enrolment, and the denominator exclusions (bipolar
    disorder, personality disorder, psychotic disorder, pervasive
    developmental disorder, hospice/palliative care, death). PHQ-9M is not
    in the instrument registry; only rows whose instrument is PHQ-9 are used.
    The rates "among measured" (response and remission among those with a
    follow-up score) are extra rows, not part of either measure.

    Parameters
    ----------
    assessments : DataFrame
        Assessment-level data: ``patient_id``, ``instrument``,
        ``assessment_date``, ``total`` (and ``episode_id`` for
        ``unit="episode"``). Non-PHQ-9 rows are ignored: both measures are defined on the
        PHQ-9 (NCQA DRR-E; CMS159v12-v14, see References), so the measure fixes the
        instrument and no ``instrument=`` is taken.
    measure : {"DRR-E", "CMS159"}
        The measure (default ``"DRR-E"``); case, ``_`` and spaces are ignored, and ``"DRR"``,
        ``"NQF0710"`` / ``"0710e"`` and ``"CMS159v12"``-style names are accepted.
    by : str or list of str, optional
        Grouping columns (values taken from the index assessment's row;
        ``admit_quarter``/``age_band`` derived when absent).
    unit : {"patient", "episode"}
        One index event per patient (as the measures define it) or per episode.
    as_of : date-like, optional
        End of the data. Default: the latest ``assessment_date`` in the input.
    intake_period : (start, end), optional
        Restrict index events to this inclusive date range (HEDIS uses May 1 of
        the prior year to April 30 of the measurement year; CMS159 the 12
        months ending two months before the measurement period).
    ci_level : float
        Level of the Wilson score intervals, strictly between 0 and 1 (default 0.95).
    age_bands : list, tuple or array of numbers, optional
        Lower bounds of the age bands for ``by="age_band"`` (derived from ``age`` when the
        data have no ``age_band`` column), strictly increasing and left-closed; the default
        ``(18, 26, 36, 51, 65)`` gives ``<18``, ``18-25``, ``26-35``, ``36-50``, ``51-64``,
        ``65+``.

    Returns
    -------
    QualityMeasureResult
        ``to_frame()``: one row per rate (and group) with ``numerator``,
        ``denominator``, ``estimate``, ``ci_low``, ``ci_high``, ``n_index``,
        ``n_pending``; ``detail``: one row per index event.

    References
    ----------
    NCQA. Depression Remission or Response for Adolescents and Adults
    (DRR-E). State of Health Care Quality measures list,
    https://www.ncqa.org/report-cards/health-plans/state-of-health-care-quality-report/measures-list/depression-remission-or-response-for-adolescents-and-adults-drr-e
    (120–240 days; the three rates).
    Horizon Blue Cross Blue Shield of New Jersey. HEDIS MY 2023 provider tips:
    DRR-E (numerator wording: "most recent PHQ-9 score", "at least 50 percent
    lower than the PHQ-9 score associated with the IESD").
    CMS / MN Community Measurement. CMS159v12 (2024), CMS159v14 (2026
    performance period): Depression Remission at Twelve Months, eCQI Resource
    Center; CQL library CMS159FHIRDepressionRemissionatTwelveMonths 0.3.000
    (github.com/cqframework/ecqm-content-qicore-2025, input/cql).

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> a = pd.DataFrame({
    ...     "patient_id": ["a", "a", "b", "b", "c"],
    ...     "instrument": "PHQ-9",
    ...     "assessment_date": pd.to_datetime(
    ...         ["2025-01-01", "2025-06-01", "2025-01-10", "2025-03-01", "2025-02-01"]),
    ...     "total": [18, 4, 12, 6, 7]})
    >>> res = iop.quality_measures(a, measure="DRR-E", as_of="2025-12-31")
    >>> res.to_frame()[["rate", "numerator", "denominator"]].head(3)
                  rate  numerator  denominator
    0  followup_phq9           1            2
    1        remission           1            2
    2         response           1            2
    """
    name = _measure_name(measure)
    req = ["patient_id", "instrument", "assessment_date", "total"]
    if unit == "episode":
        req.append("episode_id")
    check_columns(
        assessments._meta if is_dask(assessments) else assessments,
        req,
        func=quality_measures,
        what="assessments",
    )
    ukeys = ["patient_id"] if unit == "patient" else ["patient_id", "episode_id"]
    if is_dask(assessments):  # per partition of whole patients, counts summed (_dask/quality.py)
        return quality_dask(assessments, name, ukeys, locals(), _QUALITY_STEPS)
    dates = pd.to_datetime(assessments["assessment_date"], errors="coerce")
    as_of_ts, as_of_src = _as_of(as_of, dates.max())
    a, counts, cols = _phq9_rows(assessments, dates, ukeys, by, age_bands)
    det = _detail(a, ukeys, cols, name, intake_period, as_of_ts)
    counts["first_close"] = det["window_end"].min()
    return _result(det, _group_sums(det, cols, name), counts, name, locals())


def quality_dask(assessments, name: str, ukeys: list, args: dict, steps: dict):
    """:func:`quality_measures` on Dask (:mod:`iop_outcomes._dask.quality`; Dask imported
    there)."""
    from .._dask.quality import quality_dask as run

    return run(assessments, name, ukeys, args, steps)


def _as_of(as_of, latest) -> tuple[pd.Timestamp, str]:
    """The end of the data (``as_of``, else the latest assessment date), normalized, and its
    source for the notes."""
    if as_of is None:
        ts, src = latest, "latest assessment date in the data"
    else:
        ts, src = pd.Timestamp(as_of), "as_of"
    return (ts.normalize() if pd.notna(ts) else ts), src


def _detail(a: pd.DataFrame, ukeys, cols, name: str, intake_period, as_of_ts) -> pd.DataFrame:
    """One row per index event (in memory, or of one partition of whole patients on Dask)."""
    return _followup(a, _index_events(a, ukeys, name, intake_period, as_of_ts), ukeys, cols, name)


def _result(det, sums: pd.DataFrame, counts: dict, name: str, a: dict) -> QualityMeasureResult:
    """The :class:`QualityMeasureResult` of the counts per group (``sums``), the PHQ-9 rows'
    counts and the first window's end (``counts``), in memory or summed over a Dask table's
    partitions; ``det``: the detail table."""
    cols, ci_level, as_of_ts = a["cols"], a["ci_level"], a["as_of_ts"]
    counts = {
        **counts,
        "n_index": int(sums["_one"].sum()),
        "n_pending": int(sums["_pending"].sum()),
    }
    table = _rate_table(_counts(sums, cols), cols, name, ci_level)
    notes = _notes(name, a["unit"], a["intake_period"], as_of_ts, a["as_of_src"], counts)
    return QualityMeasureResult(
        table=table,
        title=_MEASURES[name]["title"],
        method=f"{name} score-and-date logic; Wilson score intervals ({100 * ci_level:g}%)",
        params={"unit": a["unit"], "as_of": as_of_ts.date() if pd.notna(as_of_ts) else None},
        notes=tuple(notes),
        detail=det.reset_index(drop=True),
    )


def _phq9_rows(df: pd.DataFrame, dates: pd.Series, ukeys: list[str], by, age_bands):
    """The valid PHQ-9 rows (unit keys, date, total, groups) and their counts."""
    is_phq9 = canonical_names(df["instrument"]).eq("PHQ-9")
    total = pd.to_numeric(df["total"], errors="coerce")
    valid = is_phq9 & dates.notna() & total.notna()
    counts = {"n_phq9": int(is_phq9.sum()), "n_invalid": int((is_phq9 & ~valid).sum())}

    groups, cols = group_columns(df, by, "iop.quality_measures", age_bands)
    a = pd.DataFrame({k: df[k] for k in ukeys})
    a["date"] = dates.dt.normalize()
    a["total"] = total
    for c in cols:
        a[c] = groups[c].astype(object)
    return a[valid.to_numpy()], counts, cols


def _index_events(a: pd.DataFrame, ukeys, name: str, intake_period, as_of_ts) -> pd.DataFrame:
    """Per unit the earliest PHQ-9 > 9 (highest that day) and its follow-up window."""
    elev = a[a["total"] > 9]
    if intake_period is not None:
        try:
            start, end = (pd.Timestamp(x).normalize() for x in intake_period)
        except (TypeError, ValueError):
            raise ConfigError(
                "The 'intake_period' parameter of iop.quality_measures must be a (start, end) "
                f"pair of dates. Got {intake_period!r} instead."
            ) from None
        elev = elev[(elev["date"] >= start) & (elev["date"] <= end)]
    idx = (
        elev.sort_values([*ukeys, "date", "total"], ascending=[*([True] * len(ukeys)), True, False])
        .drop_duplicates(ukeys, keep="first")
        .rename(columns={"date": "index_date", "total": "index_score"})
        .reset_index(drop=True)
    )
    if name == "DRR-E":
        idx["window_start"] = idx["index_date"] + pd.Timedelta(days=120)
        idx["window_end"] = idx["index_date"] + pd.Timedelta(days=240)
    else:
        year = idx["index_date"] + pd.DateOffset(months=12)
        idx["window_start"] = year - pd.Timedelta(days=60)
        idx["window_end"] = year + pd.Timedelta(days=60)
    idx["window_complete"] = (idx["window_end"] <= as_of_ts).astype(bool)
    return idx


def _followup(a: pd.DataFrame, idx: pd.DataFrame, ukeys, cols, name: str) -> pd.DataFrame:
    """One row per index event with the most recent PHQ-9 in its window and its outcome."""
    m = a[[*ukeys, "date", "total"]].merge(idx[[*ukeys, "window_start", "window_end"]], on=ukeys)
    m = m[(m["date"] >= m["window_start"]) & (m["date"] <= m["window_end"])]
    fu = (
        m.sort_values([*ukeys, "date", "total"])
        .drop_duplicates(ukeys, keep="last")[[*ukeys, "date", "total"]]
        .rename(columns={"date": "followup_date", "total": "followup_score"})
    )
    det = idx.merge(fu, on=ukeys, how="left")
    measured = det["followup_score"].notna()
    det["followup_measured"] = measured
    rem = pd.array(det["followup_score"] < 5, dtype="boolean")
    rem[~measured.to_numpy()] = pd.NA
    det["remission"] = rem
    if name == "DRR-E":
        resp = pd.array(2 * det["followup_score"] <= det["index_score"], dtype="boolean")
        resp[~measured.to_numpy()] = pd.NA
        det["response"] = resp
    det["status"] = np.where(det["window_complete"], "scored", "pending")
    lead = [*ukeys, *cols]
    return det[lead + [c for c in det.columns if c not in lead]]


_SUMS = ("_one", "_ok", "_meas", "_rem", "_resp", "_pending")


def _group_sums(det: pd.DataFrame, cols, name: str) -> pd.DataFrame:
    """Index events, closed windows, measured, remitted, responded, pending per group (one
    row without groups)."""
    d = det.copy()
    d["_ok"] = d["window_complete"]
    d["_meas"] = d["_ok"] & d["followup_measured"]
    d["_rem"] = d["_ok"] & d["remission"].fillna(False).astype(bool)
    if name == "DRR-E":
        d["_resp"] = d["_ok"] & d["response"].fillna(False).astype(bool)
    d["_pending"] = ~d["window_complete"]
    d["_one"] = 1
    for c in cols:
        d[c] = label_missing(d[[c]].copy(), [c])[c]
    g = d.groupby(cols, sort=True, dropna=False) if cols else d.assign(_k=0).groupby("_k")
    return g[[c for c in _SUMS if c in d]].sum().reset_index().drop(columns=["_k"], errors="ignore")


def _counts(sums: pd.DataFrame, cols) -> pd.DataFrame:
    """The counts overall (first row; groups ``"Overall"``) and per group."""
    overall = sums[[c for c in _SUMS if c in sums]].sum().to_frame().T.astype(np.int64)
    for c in cols:
        overall[c] = OVERALL
    s = pd.concat([overall, sums] if cols else [overall], ignore_index=True)
    if sums.empty:
        zero = dict.fromkeys(_SUMS, 0)
        s = pd.DataFrame([{**dict.fromkeys(cols, OVERALL), **zero}])
    return s


def _rate_table(s: pd.DataFrame, cols, name: str, ci_level: float) -> pd.DataFrame:
    """One row per rate (and group): numerator, denominator, estimate, Wilson interval."""
    rates = ["followup_phq9", "remission"] + (["response"] if name == "DRR-E" else [])
    extra = ["remission_among_measured"] + (["response_among_measured"] if name == "DRR-E" else [])
    rows = []
    num_col = {"followup_phq9": "_meas", "remission": "_rem", "response": "_resp"}
    for rd in s.to_dict("records"):
        for rate in rates + extra:
            if rate.endswith("_among_measured"):
                num = int(rd[num_col[rate.split("_among")[0]]])
                den = int(rd["_meas"])
            else:
                num = int(rd[num_col[rate]])
                den = int(rd["_ok"])
            rows.append(
                {
                    **{c: rd[c] for c in cols},
                    "measure": name,
                    "rate": rate,
                    "numerator": num,
                    "denominator": den,
                    "n_index": int(rd["_one"]),
                    "n_pending": int(rd["_pending"]),
                }
            )
    table = pd.DataFrame(rows)
    lo, hi = wilson_ci(table["numerator"], table["denominator"], ci_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["estimate"] = np.where(
            table["denominator"] > 0, table["numerator"] / table["denominator"], np.nan
        )
    table["ci_low"] = lo
    table["ci_high"] = hi
    table["ci_level"] = ci_level
    table["method"] = np.where(
        table["rate"].str.endswith("_among_measured"),
        "not part of the measure; Wilson score interval",
        f"{name}; Wilson score interval",
    )
    return table[
        ["measure", "rate", *cols]
        + [c for c in table.columns if c not in ("measure", "rate", *cols)]
    ]


def _notes(name, unit, intake_period, as_of_ts, as_of_src, counts) -> list[str]:
    """The window, the index rule, rows used and what the measure's definition adds."""
    n_phq9, n_invalid = counts["n_phq9"], counts["n_invalid"]
    n_index, n_pending = counts["n_index"], counts["n_pending"]
    notes = [
        f"Follow-up window: {_MEASURES[name]['window']}; the most recent PHQ-9 in the window "
        "is used.",
        f"Index = first PHQ-9 > 9 per {unit}"
        + (
            f" within intake period {intake_period[0]} to {intake_period[1]}"
            if intake_period
            else ""
        )
        + f"; {n_index:,} index event(s); {n_pending:,} pending (window ends after "
        f"{as_of_ts.date() if pd.notna(as_of_ts) else 'NA'}, {as_of_src}): excluded from "
        "the denominator, not counted as failures.",
        f"PHQ-9 rows used: {n_phq9 - n_invalid:,}; {n_invalid:,} PHQ-9 row(s) without a valid "
        "date or total were ignored.",
        "Not applied: diagnosis/encounter requirements, age >= 12, enrolment, denominator "
        "exclusions (bipolar, psychotic, personality or pervasive developmental disorder, "
        "hospice/palliative care, death).",
    ]
    if n_index > 0 and n_pending == n_index:
        first_close = counts["first_close"]
        notes.insert(
            0,
            f"Data do not reach the end of any follow-up window (data end "
            f"{as_of_ts.date()}; the first window closes {first_close.date()}): "
            f"{name} cannot be computed yet. Rates are NaN, not 0.",
        )
    elif n_index == 0:
        notes.insert(0, "No elevated PHQ-9 (> 9) index score found: the denominator is empty.")
    return notes


#: the in-memory pieces the Dask path runs per partition and on the client
_QUALITY_STEPS = {
    "groups": group_columns,
    "as_of": _as_of,
    "rows": _phq9_rows,
    "detail": _detail,
    "sums": _group_sums,
    "result": _result,
}
