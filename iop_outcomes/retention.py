"""Participant flow, retention in treatment, follow-up response, attrition bias, durability.

Four entry points, each taking the episode table of ``docs/data-format.md`` (one row per
episode and instrument) or the loaded assessment rows (then the episode table is built with
:func:`iop_outcomes.episodes`):

* :func:`retention` — CONSORT-style flow per cohort (admitted → baseline → measured in
  treatment → discharge status → discharge score → follow-up response) and follow-up response
  rates with Wilson intervals, compared between cohorts (Pearson chi-square, logistic model).
* :func:`dropout_survival` — Kaplan–Meier time to dropout by cohort (Greenwood variance,
  log-log intervals as R ``survfit(conf.type = "log-log")``), median time to dropout and
  median length of stay with R's confidence intervals, log-rank test (R ``survdiff``),
  numbers at risk, Aalen–Johansen cumulative incidence when transfers compete, attendance.
* :func:`attrition` — baseline characteristics of retained vs lost episodes (standardized mean
  differences, Welch / Pearson tests) and a logistic model of non-response.
* :func:`durability` — change from discharge to each follow-up, reliable improvement kept, and
  relapse into caseness.

Everything is vectorized over episodes (numpy / pandas group-bys); loops run only over groups,
windows and covariates.

Examples
--------
>>> import pandas as pd
>>> import iop_outcomes as iop
>>> ep = pd.DataFrame({
...     "episode_id": ["a", "b", "c", "d"],
...     "format": ["virtual", "virtual", "in_person", "in_person"],
...     "baseline": [15, 18, 12, None],
...     "endpoint": [7, None, 10, None],
...     "n_in_treatment": [4, 1, 3, 0],
...     "discharge_status": ["completed", "dropped_out", "completed", "ongoing"],
...     "los_days": [42, 9, 40, 20],
...     "followup_1m": [8, None, None, None],
... })
>>> r = iop.retention(ep, windows=("1m",), tests=False)
>>> r.followup[["group", "window", "n_eligible", "n_responded"]]
       group window  n_eligible  n_responded
0  in_person     1m           1            0
1    virtual     1m           2            1
2      (all)     1m           3            1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._results import MISSING_GROUP, TableResult, format_p, format_table
from ._stats import check_ci_level, logit_fit, mean_ci, wilson_ci, z_crit
from .exceptions import ConfigError, DataError

__all__ = [
    "retention",
    "dropout_survival",
    "attrition",
    "durability",
    "RetentionResult",
    "SurvivalResult",
    "AttritionResult",
    "STATUSES",
    "WINDOW_DAYS",
]

#: Discharge statuses of the data contract, in flow order.
STATUSES = ("completed", "dropped_out", "transferred", "administrative", "ongoing")
_CLOSED = ("completed", "dropped_out", "transferred", "administrative")
#: Days after discharge at which each follow-up window closes (the upper ends of the default
#: ``EpisodeRules.followup_windows``: 1 m 14–60 d, 3 m 61–135 d, 6 m 136–270 d, 12 m 271–500 d).
#: With ``as_of``, an episode counts toward a window's response rate only once it has closed.
WINDOW_DAYS = {"1m": 60, "3m": 135, "6m": 270, "12m": 500}
_ALL = "(all)"
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
# input handling
# --------------------------------------------------------------------------------------
def _frame(data: Any, fname: str) -> pd.DataFrame:
    if hasattr(data, "data") and isinstance(data.data, pd.DataFrame):  # LoadResult
        data = data.data
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"The 'data' parameter of {fname} must be a pandas DataFrame (episode table or "
            f"loaded assessments). Got {type(data).__name__} instead."
        )
    return data


def _as_episodes(
    data: Any, fname: str, instrument: str | None = None, any_instrument: bool = False
) -> pd.DataFrame:
    """Return an episode table; build it from assessment rows when needed (with
    ``any_instrument``, every instrument, for analyses of episode facts only)."""
    df = _frame(data, fname)
    cols = set(df.columns)
    if "baseline" not in cols and cols & {"total", "assessment_date", "timepoint", "item_1"}:
        from ._episodes import episodes as _episodes  # lazy: written alongside this module

        if instrument is not None:
            kw = {"instrument": instrument}
        elif any_instrument:  # every instrument, side by side (episodes' instrument rule)
            present = list(pd.unique(df["instrument"].dropna())) if "instrument" in cols else []
            kw = {"instrument": present or None}
        else:
            kw = {"instrument": "PHQ-9"}  # was the episodes default; now explicit (issue 13)
        built = _episodes(df, **kw)
        df = built.to_frame() if hasattr(built, "to_frame") else built
        if not isinstance(df, pd.DataFrame) and hasattr(built, "table"):
            df = built.table
    return df


def _select_instrument(ep: pd.DataFrame, instrument: str | None, fname: str) -> pd.DataFrame:
    """Keep one instrument's rows (episode tables hold one row per episode and instrument)."""
    if "instrument" not in ep.columns:
        return ep
    present = pd.unique(ep["instrument"].dropna())
    if instrument is None:
        if len(present) > 1:
            raise ConfigError(
                f"The episode table passed to {fname} holds several instruments "
                f"({', '.join(map(str, present))}); pass instrument=... to choose one."
            )
        return ep
    from . import instruments as _inst

    name = _inst.canonical_name(instrument) if hasattr(_inst, "canonical_name") else instrument
    keep = ep["instrument"].astype(str).map(_canon_or_self) == name
    if not keep.any():
        raise DataError(
            f"No rows for instrument {instrument!r} in the episode table. "
            f"Present: {', '.join(map(str, present))}."
        )
    return ep.loc[keep.to_numpy()]


def _canon_or_self(name: str) -> str:
    from . import instruments as _inst

    try:
        return _inst.canonical_name(name)
    except Exception:  # unknown instrument names stay as given
        return name


def _instrument_of(ep: pd.DataFrame) -> str | None:
    if "instrument" not in ep.columns:
        return None
    vals = pd.unique(ep["instrument"].dropna())
    return str(vals[0]) if len(vals) == 1 else None


def _one_row_per_episode(ep: pd.DataFrame) -> pd.DataFrame:
    """Episode facts (status, dates, length of stay) do not depend on the instrument."""
    if "episode_id" in ep.columns and ep["episode_id"].duplicated().any():
        return ep.drop_duplicates("episode_id")
    return ep


def _require(ep: pd.DataFrame, needed: list[str], fname: str) -> None:
    missing = [c for c in needed if c not in ep.columns]
    if missing:
        raise DataError(
            f"{fname} needs column(s) {missing} in the episode table. "
            f"Columns present: {sorted(map(str, ep.columns))}."
        )


def _status_codes(ep: pd.DataFrame, fname: str) -> np.ndarray:
    """Discharge status as integer codes: index into :data:`STATUSES`, ``len(STATUSES)`` for
    unknown (missing). Spelling is normalised (case, spaces); other values raise."""
    unknown = len(STATUSES)
    if "discharge_status" not in ep.columns:
        return np.full(len(ep), unknown, dtype=np.int64)
    codes, uniq = pd.factorize(ep["discharge_status"])  # missing -> -1; vectorized over rows
    norm = [str(v).strip().lower().replace(" ", "_").replace("-", "_") for v in uniq]
    bad = sorted(set(norm) - set(STATUSES))
    if bad:
        raise DataError(
            f"The 'discharge_status' column passed to {fname} has value(s) {bad}; "
            f"allowed: {list(STATUSES)} (or missing)."
        )
    lut = np.array([STATUSES.index(v) for v in norm] + [unknown], dtype=np.int64)
    return lut[codes]  # code -1 picks the trailing 'unknown'


def _groups(ep: pd.DataFrame, by: str | None, fname: str) -> tuple[np.ndarray, list[str]]:
    """Integer group codes and their labels; missing labels become '(missing)'."""
    if by is None:
        return np.zeros(len(ep), dtype=np.int64), [_ALL]
    if not isinstance(by, str):
        raise ConfigError(
            f"The 'by' parameter of {fname} must be a column name or None. Got {by!r} instead."
        )
    if by not in ep.columns:
        raise DataError(
            f"The 'by' column {by!r} passed to {fname} is not in the episode table. "
            f"Columns present: {sorted(map(str, ep.columns))}."
        )
    col = ep[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        labels = [str(c) for c in col.cat.categories]
    else:
        try:
            codes, uniq = pd.factorize(col, sort=True)
        except TypeError:  # mixed label types cannot be sorted: keep order of appearance
            codes, uniq = pd.factorize(col, sort=False)
        codes = codes.astype(np.int64)
        labels = [str(u) for u in uniq]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels = [*labels, MISSING_GROUP]
    return codes, labels


def _numeric(ep: pd.DataFrame, col: str) -> np.ndarray:
    if col not in ep.columns:
        return np.full(len(ep), np.nan)
    return pd.to_numeric(ep[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _dates(ep: pd.DataFrame, col: str) -> pd.Series:
    if col not in ep.columns:
        return pd.Series(pd.NaT, index=ep.index, dtype="datetime64[ns]")
    return pd.to_datetime(ep[col], errors="coerce")


# --------------------------------------------------------------------------------------
# logistic model (numpy design matrix; statsmodels Logit)
# --------------------------------------------------------------------------------------
def _design(
    df: pd.DataFrame,
    covariates: list[str],
    ref: dict[str, Any] | None = None,
    intercept: bool = True,
):
    """Design matrix: an intercept, numeric covariates as is, categorical ones as treatment
    dummies against the level in ``ref`` or else the most frequent level (vectorized)."""
    cols = [np.ones(len(df))] if intercept else []
    names = ["(intercept)"] if intercept else []
    refs: dict[str, Any] = {}
    for c in covariates:
        s = df[c]
        if _is_continuous(s):
            cols.append(pd.to_numeric(s).to_numpy(dtype=float))
            names.append(c)
        else:
            codes, uniq = pd.factorize(s)
            levels = [str(u) for u in uniq]
            counts = np.bincount(codes[codes >= 0], minlength=len(levels))
            r = (ref or {}).get(c, levels[int(np.argmax(counts))] if len(levels) else None)
            refs[c] = r
            for lev in sorted(set(levels) - {r}):
                cols.append((codes == levels.index(lev)).astype(float))
                names.append(f"{c}[{lev}]")
    X = np.column_stack(cols) if cols else np.empty((len(df), 0))
    return X, names, refs


def _is_continuous(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return False
    return s.dropna().nunique() > 2


def _binomial_patterns(y: np.ndarray, X: np.ndarray):
    """Collapse rows with identical covariates to binomial counts (events, trials). The
    likelihood — hence estimates and standard errors — is unchanged; with discrete covariates a
    million rows become a few thousand patterns."""
    codes = pd.DataFrame(X).groupby(list(range(X.shape[1])), sort=False).ngroup().to_numpy()
    npat = int(codes.max()) + 1 if len(codes) else 0
    if npat > len(y) // 2:
        return y, np.ones(len(y)), X
    first = np.empty(npat, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    trials = np.bincount(codes, minlength=npat).astype(float)
    events = np.bincount(codes, weights=y, minlength=npat)
    return events, trials, X[first]


def _logit_fit(y: np.ndarray, X: np.ndarray):
    """Maximum-likelihood logistic regression (:func:`iop_outcomes._stats.logit_fit`, as R
    ``glm(family = binomial)``); returns coefficients and their standard errors from the
    inverse information at the estimate. Rows with identical covariates are collapsed to
    binomial counts first when that saves work."""
    m = None
    if len(y) > 5000:
        y, m, X = _binomial_patterns(y, X)
    try:
        b, info, converged = logit_fit(y, X, trials=m, stop_at=30)
    except np.linalg.LinAlgError as e:
        raise _SeparationError("singular information matrix") from e
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(np.linalg.pinv(info)))
    if not converged or not np.isfinite(se).all() or np.abs(b).max() > 20:
        raise _SeparationError("no convergence or (quasi-)complete separation")
    return b, se


def _logit_or(y: np.ndarray, X: np.ndarray, names: list[str], ci_level: float) -> pd.DataFrame:
    """Logistic regression as a table of odds ratios with Wald CIs and z-test p-values."""
    b, se = _logit_fit(y, X)
    z = z_crit(ci_level)
    return pd.DataFrame(
        {
            "term": names,
            "estimate": np.exp(b),
            "ci_low": np.exp(b - z * se),
            "ci_high": np.exp(b + z * se),
            "log_or": b,
            "se": se,
            "statistic": b / se,
            "pvalue": 2 * stats.norm.sf(np.abs(b / se)),
        }
    )


class _SeparationError(RuntimeError):
    pass


def _perfect_fit(y: np.ndarray, X: np.ndarray) -> bool:
    """No variation in the outcome, or a rank-deficient design (checked on X'X: cheap)."""
    return y.min() == y.max() or np.linalg.matrix_rank(X.T @ X) < X.shape[1]


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

    def plot_flow(self, ax=None, **kwargs):
        """Draw the flow diagram (see :func:`iop_outcomes.plots.retention.plot_flow`)."""
        from .plots.retention import plot_flow

        return plot_flow(self, ax=ax, **kwargs)

    def plot_followup(self, ax=None, **kwargs):
        """Follow-up response bars with Wilson CIs."""
        from .plots.retention import plot_followup_response

        return plot_followup_response(self, ax=ax, **kwargs)


def _flow_codes(ep: pd.DataFrame, st_code: np.ndarray, windows, as_of) -> dict[str, np.ndarray]:
    """For each stage, the box index of every episode (a partition by construction)."""
    n = len(ep)
    base = ~np.isnan(_numeric(ep, "baseline"))
    end = ~np.isnan(_numeric(ep, "endpoint"))
    if "n_in_treatment" in ep.columns:
        # baseline is itself a score in treatment: a later one means n_in_treatment >= 2
        nit = np.nan_to_num(_numeric(ep, "n_in_treatment"), nan=0.0)
        after = base & (nit >= 2)
    elif {"baseline_date", "endpoint_date"} <= set(ep.columns):  # an endpoint after baseline
        bd = _dates(ep, "baseline_date").to_numpy()
        ed = _dates(ep, "endpoint_date").to_numpy()
        after = base & end & (ed > bd)
    else:  # no counts or dates: an endpoint score besides the baseline
        after = base & end
    ddate = _dates(ep, "discharge_date")
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
        resp = ~np.isnan(_numeric(ep, f"followup_{w}"))
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


def retention(
    data: Any,
    *,
    by: str | None = "format",
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
    with Wald intervals, as R ``glm(family = binomial)`` with ``confint.default``).

    Parameters
    ----------
    data : DataFrame
        Episode table (``docs/data-format.md``) or loaded assessment rows.
    by : str or None
        Grouping column (cohort, format, site); None for one group.
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
        Instrument whose scores define the flow, when the table holds several.
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
    >>> r = iop.retention(ep, by=None, windows=("1m",))
    >>> print(r.flow.loc[r.flow["stage"] == "endpoint", ["box", "n"]].to_string(index=False))
                              box  n
      discharged, endpoint scored  1
    discharged, no endpoint score  1
                   not discharged  1
    >>> round(float(r.followup["estimate"].iloc[0]), 3)
    0.5
    """
    fname = "retention"
    ci_level = check_ci_level(ci_level, fname)
    windows = tuple(windows)
    bad = [w for w in windows if w not in WINDOW_DAYS]
    if bad:
        raise ConfigError(
            f"The 'windows' parameter of {fname} must hold values among {list(WINDOW_DAYS)}. "
            f"Got {bad} instead."
        )
    if as_of is not None:
        try:
            as_of = pd.Timestamp(as_of)
        except (ValueError, TypeError) as e:
            raise ConfigError(
                f"The 'as_of' parameter of {fname} must be a date. Got {as_of!r} instead."
            ) from e
    ep = _select_instrument(_as_episodes(data, fname, instrument), instrument, fname)
    ep = ep.reset_index(drop=True)
    if len(ep) == 0:
        raise DataError(f"{fname} got an empty episode table.")
    if "episode_id" in ep.columns and ep["episode_id"].duplicated().any():
        dup = ep.loc[ep["episode_id"].duplicated(), "episode_id"].iloc[:5].tolist()
        raise DataError(
            f"The episode table passed to {fname} has duplicated episode_id values (e.g. {dup}); "
            "one row per episode is needed (choose an instrument)."
        )
    _require(ep, ["baseline"], fname)
    absent = [w for w in windows if f"followup_{w}" not in ep.columns]
    windows = tuple(w for w in windows if w not in absent)
    status = _status_codes(ep, fname)
    g, labels = _groups(ep, by, fname)
    k = len(labels)
    codes = _flow_codes(ep, status, windows, as_of)
    nadm = np.bincount(g, minlength=k)

    rows = []
    for stage, boxes in [
        *FLOW_BOXES.items(),
        *((f"followup_{w}", FOLLOWUP_BOXES) for w in windows),
    ]:
        nb = len(boxes)
        cnt = np.bincount(g * nb + codes[stage], minlength=k * nb).reshape(k, nb)
        if cnt.sum() != len(ep) or (cnt.sum(axis=1) != nadm).any():  # the flow invariant
            raise RuntimeError(f"flow stage {stage!r} does not partition the episodes")
        for gi, lab in enumerate(labels):
            for bi, box in enumerate(boxes):
                rows.append((lab, stage, box, bi, int(cnt[gi, bi])))
    flow = pd.DataFrame(rows, columns=["group", "stage", "box", "box_order", "n"])
    flow["pct"] = 100.0 * flow["n"] / flow["group"].map(dict(zip(labels, nadm, strict=True)))
    flow["n"] = flow["n"].astype(np.int64)

    # follow-up response (per group and overall)
    fu_rows = []
    denom = (
        "discharged episodes whose window had closed by as_of"
        if as_of is not None
        else "all discharged episodes"
    )
    for w in windows:
        c = codes[f"followup_{w}"]
        cnt = np.bincount(g * 4 + c, minlength=k * 4).reshape(k, 4)
        tot = cnt.sum(axis=0, keepdims=True)
        allc = np.vstack([cnt, tot]) if k > 1 else cnt
        labs = [*labels, _ALL] if k > 1 else labels
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

    notes = [
        "Every episode is in exactly one box of each flow stage (checked).",
        "Measured after baseline: "
        + _AFTER_RULE[
            "n_in_treatment"
            if "n_in_treatment" in ep.columns
            else "dates"
            if {"baseline_date", "endpoint_date"} <= set(ep.columns)
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
    test_tab = pd.DataFrame()
    if tests and k > 1:
        test_tab, tnotes = _response_tests(ep, g, labels, codes, windows, covariates, ci_level, by)
        notes += tnotes
    return RetentionResult(
        table=flow,
        title=f"Participant flow and follow-up response by {by}" if by else "Participant flow",
        method="CONSORT-style flow counts; follow-up response with Wilson score intervals",
        params={
            "by": by,
            "instrument": _instrument_of(ep),
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


def _response_tests(ep, g, labels, codes, windows, covariates, ci_level, by):
    rows, notes = [], []
    covs = [c for c in covariates if c in ep.columns and c != by]
    skipped = [c for c in covariates if c not in ep.columns]
    if skipped:
        notes.append(f"Logistic model: covariate(s) {skipped} not in the data, left out.")
    for w in windows:
        c = codes[f"followup_{w}"]
        elig = c <= 1
        y = (c[elig] == 0).astype(float)
        gg = g[elig]
        present = np.unique(gg)
        if len(present) < 2:
            continue
        tab = np.vstack(
            [
                np.bincount(gg, weights=y, minlength=len(labels)),
                np.bincount(gg, weights=1 - y, minlength=len(labels)),
            ]
        )[:, present]
        tab = tab[:, tab.sum(axis=0) > 0]
        base = dict(window=w, ci_level=ci_level)
        if tab.shape[1] >= 2 and (tab.sum(axis=1) > 0).all():
            chi, p, dof, expected = stats.chi2_contingency(tab, correction=False)
            if (expected < 5).any():
                notes.append(
                    f"Chi-square for {w}: some expected counts < 5; the approximation may be poor."
                )
            rows.append(
                dict(
                    base,
                    test="Pearson chi-square",
                    term=f"{by} (all levels)",
                    statistic=chi,
                    df=float(dof),
                    pvalue=p,
                    n_used=int(tab.sum()),
                    method="Pearson chi-square, no continuity correction",
                )
            )
        # logistic: response ~ group + covariates (complete cases)
        rows_e = np.flatnonzero(elig)
        cov = ep[covs].iloc[rows_e] if covs else pd.DataFrame(index=ep.index[rows_e])
        ok = cov.notna().all(axis=1).to_numpy() if covs else np.ones(len(rows_e), dtype=bool)
        gk, yy = gg[ok], y[ok]
        present_ok = np.unique(gk)
        if len(present_ok) < 2:
            continue
        ref_level = labels[present_ok[0]]
        Xc, cnames, _ = _design(cov.loc[ok], covs, intercept=False)
        X = np.column_stack(
            [np.ones(len(yy)), *[(gk == j).astype(float) for j in present_ok[1:]], Xc]
        )
        names = ["(intercept)", *[f"{by}[{labels[j]}]" for j in present_ok[1:]], *cnames]
        n_used = len(yy)
        if _perfect_fit(yy, X):
            notes.append(f"Logistic model for {w}: no variation or collinear design; not fitted.")
            continue
        try:
            otab = _logit_or(yy, X, names, ci_level)
        except _SeparationError as e:
            notes.append(f"Logistic model for {w} not reported: {e}.")
            continue
        adj = f" adjusted for {', '.join(covs)}" if covs else " (unadjusted)"
        for _, r in otab.iloc[1:].iterrows():
            rows.append(
                dict(
                    base,
                    test="logistic odds ratio",
                    term=f"{r['term']} vs {ref_level}"
                    if r["term"].startswith(f"{by}[")
                    else r["term"],
                    estimate=r["estimate"],
                    ci_low=r["ci_low"],
                    ci_high=r["ci_high"],
                    statistic=r["statistic"],
                    pvalue=r["pvalue"],
                    n_used=int(n_used),
                    method=f"logistic regression of response{adj}; Wald CI",
                )
            )
    return pd.DataFrame(rows).reindex(columns=_TEST_COLUMNS), notes


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
    return obs, exp_, chi, dfree, float(stats.chi2.sf(chi, dfree))


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

    def plot(self, ax=None, **kwargs):
        """Kaplan–Meier curves with CI bands and numbers at risk
        (:func:`iop_outcomes.plots.retention.plot_km`)."""
        from .plots.retention import plot_km

        return plot_km(self, ax=ax, **kwargs)


def _auto_times(tmax: float) -> np.ndarray:
    if not np.isfinite(tmax) or tmax <= 0:
        return np.array([0.0])
    for step in (1, 2, 7, 14, 28, 30, 60, 90, 180, 365, 730):
        if tmax / step <= 8:
            break
    return np.arange(0, tmax + 1e-9, step, dtype=float)


def dropout_survival(
    data: Any,
    *,
    by: str | None = "format",
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
    stretch exactly at 0.5). The log-rank statistic is R ``survdiff`` (rho = 0); with competing
    transfers it tests the cause-specific hazard of dropout. Aalen–Johansen standard errors are
    the infinitesimal jackknife with a log interval capped at 1, as R ``survfit`` for
    multi-state data.

    Parameters
    ----------
    data : DataFrame
        Episode table or loaded assessments.
    by : str or None
        Grouping column.
    transfers : {"censor", "competing"}
        How transfers to another level of care are treated.
    times : sequence of float, optional
        Times (days) for the numbers-at-risk table; default a round grid over the range.
    as_of : date-like, optional
        Data-end date for ongoing episodes without ``los_days``.
    instrument : str, optional
        Ignored for the survival itself (episode facts); used to pick rows when the table holds
        several instruments.
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
    >>> r = iop.dropout_survival(ep, by=None)
    >>> r.curve[["time", "n_risk", "n_event", "estimate"]].round(4)
       time  n_risk  n_event  estimate
    0   3.0       6        1    0.8333
    1   5.0       5        1    0.6667
    2   8.0       3        0    0.6667
    3  10.0       2        1    0.3333
    4  12.0       1        0    0.3333
    """
    fname = "dropout_survival"
    ci_level = check_ci_level(ci_level, fname)
    if transfers not in ("censor", "competing"):
        raise ConfigError(
            f"The 'transfers' parameter of {fname} must be 'censor' or 'competing'. "
            f"Got {transfers!r} instead."
        )
    ep = _as_episodes(data, fname, instrument, any_instrument=True)
    if instrument is not None:
        ep = _select_instrument(ep, instrument, fname)
    ep = _one_row_per_episode(ep).reset_index(drop=True)
    _require(ep, ["discharge_status"], fname)
    status = _status_codes(ep, fname)
    time = _numeric(ep, "los_days")
    fill = np.isnan(time)
    if fill.any():
        adm = _dates(ep, "admit_date")
        dis = _dates(ep, "discharge_date")
        if as_of is not None:
            dis = dis.fillna(pd.Timestamp(as_of)).where(pd.Series(status == 4) | dis.notna(), dis)
        alt = ((dis - adm).dt.days).to_numpy(dtype=float, na_value=np.nan)
        time = np.where(fill, alt, time)
    g, labels = _groups(ep, by, fname)
    ok = ~np.isnan(time) & (status < len(STATUSES))
    if (time[ok] < 0).any():
        raise DataError(
            f"{fname}: negative length of stay in {int((time[ok] < 0).sum())} episode(s)."
        )
    n_excl = int((~ok).sum())
    if not ok.any():
        raise DataError(
            f"{fname}: no episode has both a discharge status and a length of stay "
            "(los_days, or admit_date and discharge_date)."
        )
    time, st, g = time[ok], status[ok], g[ok]
    drop = st == 1  # STATUSES: completed, dropped_out, transferred, administrative, ongoing
    disc = st != 4
    cause = np.where(drop, 1, np.where(st == 2, 2, 0)) if transfers == "competing" else None
    k = len(labels)

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
    curve = pd.concat(curves, ignore_index=True)
    los_curve = pd.concat(los_curves, ignore_index=True)
    table = pd.DataFrame(rows)
    if transfers == "competing":
        table["censored"] = table["censored"] - table["transfers"]

    if times is not None:
        tt = np.atleast_1d(np.asarray(times, dtype=object))
        try:
            tt = tt.astype(float)
        except (TypeError, ValueError):
            tt = np.array([np.nan])
        if np.isnan(tt).any() or (tt < 0).any():
            raise ConfigError(
                f"The 'times' parameter of {fname} must be non-negative numbers (days). "
                f"Got {times!r} instead."
            )
    # numbers at risk
    tgrid = (
        _auto_times(float(time.max()) if len(time) else np.nan)
        if times is None
        else (np.asarray(times, dtype=float))
    )
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
    at_risk = pd.DataFrame(ar_rows)

    obs, exp_, chi, dfree, p = _logrank(time, drop, g, k)
    present = [i for i in range(k) if (g == i).any()]
    logrank = pd.DataFrame(
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
    attendance = _attendance(ep.loc[ok].reset_index(drop=True), g, labels, ci_level)

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
    if n_excl:
        notes.append(f"{n_excl} episode(s) without a length of stay or status excluded.")
    return SurvivalResult(
        table=table,
        title=f"Time to dropout by {by}" if by else "Time to dropout",
        method=(
            "Kaplan-Meier (Greenwood, log-log CI)"
            if transfers == "censor"
            else "Aalen-Johansen cumulative incidence (competing transfers)"
        ),
        params={"by": by, "transfers": transfers, "ci_level": ci_level},
        notes=tuple(notes),
        curve=curve,
        logrank=logrank,
        at_risk=at_risk,
        los_curve=los_curve,
        attendance=attendance,
        transfers=transfers,
        groups=tuple(labels[i] for i in present),
    )


def _attendance(ep: pd.DataFrame, g: np.ndarray, labels: list[str], ci_level: float):
    """Attendance per group: mean of per-episode attended / scheduled sessions (t CI) and
    the pooled rate; mean attended hours."""
    out = []
    has_rate = {"sessions_attended", "sessions_scheduled"} <= set(ep.columns)
    has_hours = "attendance_hours" in ep.columns
    if not (has_rate or has_hours):
        return pd.DataFrame()
    att = _numeric(ep, "sessions_attended")
    sch = _numeric(ep, "sessions_scheduled")
    hrs = _numeric(ep, "attendance_hours")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(sch > 0, att / sch, np.nan)
    for gi, lab in enumerate(labels):
        sel = g == gi
        if not sel.any():
            continue
        row = dict(group=lab)
        if has_rate:
            r = rate[sel]
            r = r[~np.isnan(r)]
            nr = len(r)
            m = float(r.mean()) if nr else np.nan
            sd = float(r.std(ddof=1)) if nr > 1 else np.nan
            lo, hi = mean_ci(m, sd, nr, ci_level)
            ok = sel & ~np.isnan(rate)
            row.update(
                n_rate=nr,
                attendance_rate=m,
                ci_low=float(lo),
                ci_high=float(hi),
                pooled_rate=float(att[ok].sum() / sch[ok].sum()) if nr else np.nan,
            )
        if has_hours:
            h = hrs[sel]
            h = h[~np.isnan(h)]
            row.update(n_hours=len(h), mean_hours=float(h.mean()) if len(h) else np.nan)
        out.append(row)
    tab = pd.DataFrame(out)
    tab["ci_level"] = ci_level
    tab["method"] = "mean of per-episode attended/scheduled (t CI); pooled = sum/sum"
    return tab


# --------------------------------------------------------------------------------------
# attrition bias
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AttritionResult(TableResult):
    """Retained vs lost: ``table`` (SMDs and tests per covariate / level) and ``model``
    (logistic model of non-response, odds ratios)."""

    model: pd.DataFrame = field(default_factory=pd.DataFrame)
    roles: dict = field(
        default_factory=lambda: {
            "n_retained": "count",
            "n_lost": "count",
            "mean_retained": "statistic of n_retained",
            "sd_retained": "statistic of n_retained",
            "mean_lost": "statistic of n_lost",
            "sd_lost": "statistic of n_lost",
        },
        repr=False,
    )

    def to_frame(self, which: str = "table") -> pd.DataFrame:
        """Copy of ``"table"`` (default) or ``"model"``."""
        if which == "model":
            return self.model.copy()
        if which != "table":
            raise ConfigError(
                f"The 'which' parameter of to_frame must be 'table' or 'model'. Got {which!r}."
            )
        return self.table.copy()

    def summary(self) -> str:
        parts = [super().summary()]
        if len(self.model):
            parts += [
                "",
                "Logistic model of non-response (odds ratio of being lost):",
                format_table(
                    self.model[["term", "estimate", "ci_low", "ci_high", "pvalue"]], 3
                ).to_string(index=False),
            ]
        return "\n".join(parts)


_DEFAULT_ATTRITION = (
    "baseline",
    "age",
    "gender_identity",
    "race_ethnicity",
    "payer",
    "format",
    "site",
)


def attrition(
    data: Any,
    *,
    retained: str = "followup_3m",
    covariates: tuple[str, ...] | None = None,
    instrument: str | None = None,
    model: bool = True,
    ci_level: float = 0.95,
) -> AttritionResult:
    r"""Baseline characteristics of retained vs lost episodes, and a model of non-response.

    An episode is retained when column ``retained`` is observed (``"endpoint"``, or a follow-up
    window such as ``"followup_3m"``). For a follow-up window only discharged episodes (status
    not ``ongoing``) are compared.

    Standardized mean differences (retained − lost; Austin 2009, as R ``tableone``):

    .. math::
        \text{continuous: } \frac{\bar x_r - \bar x_l}{\sqrt{(s_r^2 + s_l^2)/2}},\qquad
        \text{each level: } \frac{p_r - p_l}{\sqrt{(p_r(1-p_r) + p_l(1-p_l))/2}}

    Tests: Welch's t-test (continuous; R ``t.test``), Pearson chi-square without continuity
    correction across all levels (categorical; R ``chisq.test(correct = FALSE)``). The model is
    a logistic regression of being lost on all covariates (complete cases; categorical
    covariates as dummies against their most frequent level), odds ratios with Wald intervals.
    Numeric columns with at most two distinct values are treated as categorical.

    Parameters
    ----------
    data : DataFrame
        Episode table or loaded assessments.
    retained : str
        Column whose presence means retained.
    covariates : tuple of str, optional
        Baseline characteristics; default those present among ``baseline, age,
        gender_identity, race_ethnicity, payer, format, site``.
    instrument : str, optional
        Instrument, when the table holds several.
    model : bool
        Fit the logistic model of non-response.
    ci_level : float
        Confidence level of the odds-ratio intervals.

    References
    ----------
    Austin (2009). Commun Stat Simul Comput 38:1228-1234. Welch (1947). Biometrika 34:28-35.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [10, 14, 12, 20, 18, 16],
    ...                    "discharge_status": ["completed"] * 6,
    ...                    "followup_3m": [5, 6, 7, None, None, None]})
    >>> a = iop.attrition(ep, covariates=("baseline",), model=False)
    >>> round(float(a.table["smd"].iloc[0]), 4)   # (12 - 18) / sqrt((4 + 4) / 2)
    -3.0
    """
    fname = "attrition"
    ci_level = check_ci_level(ci_level, fname)
    ep = _select_instrument(_as_episodes(data, fname, instrument), instrument, fname)
    ep = ep.reset_index(drop=True)
    _require(ep, [retained], fname)
    if retained.startswith("followup_") and "discharge_status" in ep.columns:
        st = _status_codes(ep, fname)
        ep = ep.loc[st != STATUSES.index("ongoing")].reset_index(drop=True)
    if covariates is None:
        covariates = tuple(c for c in _DEFAULT_ATTRITION if c in ep.columns)
    else:
        covariates = tuple(covariates)
        _require(ep, list(covariates), fname)
    if not covariates:
        raise DataError(
            f"{fname}: no covariates to compare (none of {_DEFAULT_ATTRITION} present)."
        )
    kept = ep[retained].notna().to_numpy()
    if kept.all() or not kept.any():
        raise DataError(
            f"{fname}: all {len(ep)} episodes are {'retained' if kept.all() else 'lost'} on "
            f"{retained!r}; nothing to compare."
        )
    rows = []
    for c in covariates:
        s = ep[c]
        if _is_continuous(s):
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            a, b = x[kept], x[~kept]
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            ma, mb = a.mean() if len(a) else np.nan, b.mean() if len(b) else np.nan
            sa = a.std(ddof=1) if len(a) > 1 else np.nan
            sb = b.std(ddof=1) if len(b) > 1 else np.nan
            smd = (ma - mb) / np.sqrt((sa**2 + sb**2) / 2)
            if len(a) > 1 and len(b) > 1:
                tt = stats.ttest_ind(a, b, equal_var=False)
                se = np.sqrt(sa**2 / len(a) + sb**2 / len(b))
                dfw = se**4 / (
                    (sa**2 / len(a)) ** 2 / (len(a) - 1) + (sb**2 / len(b)) ** 2 / (len(b) - 1)
                )
                stat, df_, p = float(tt.statistic), float(dfw), float(tt.pvalue)
            else:
                stat = df_ = p = np.nan
            rows.append(
                dict(
                    variable=c,
                    level="",
                    kind="continuous",
                    n_retained=len(a),
                    mean_retained=ma,
                    sd_retained=sa,
                    n_lost=len(b),
                    mean_lost=mb,
                    sd_lost=sb,
                    smd=smd,
                    test="Welch t",
                    statistic=stat,
                    df=df_,
                    pvalue=p,
                )
            )
        else:
            v = s.astype("object").where(s.notna(), None)
            ok = v.notna().to_numpy()
            lv = v[ok].astype(str).to_numpy()
            kk = kept[ok]
            levels = sorted(set(lv))
            ct = pd.crosstab(pd.Categorical(lv, categories=levels), kk).reindex(
                columns=[True, False], fill_value=0
            )
            ctab = ct.to_numpy().astype(float)  # levels × (retained, lost)
            nr, nl = ctab[:, 0].sum(), ctab[:, 1].sum()
            if len(levels) >= 2 and nr > 0 and nl > 0:
                chi, p, dof, _ = stats.chi2_contingency(ctab, correction=False)
            else:
                chi = p = dof = np.nan
            for i, lev in enumerate(levels):
                pr = ctab[i, 0] / nr if nr else np.nan
                pl = ctab[i, 1] / nl if nl else np.nan
                with np.errstate(invalid="ignore", divide="ignore"):
                    smd = (pr - pl) / np.sqrt((pr * (1 - pr) + pl * (1 - pl)) / 2)
                first = i == 0
                rows.append(
                    dict(
                        variable=c,
                        level=lev,
                        kind="categorical",
                        n_retained=int(ctab[i, 0]),
                        mean_retained=pr,
                        sd_retained=np.sqrt(pr * (1 - pr)),
                        n_lost=int(ctab[i, 1]),
                        mean_lost=pl,
                        sd_lost=np.sqrt(pl * (1 - pl)),
                        smd=smd,
                        test="Pearson chi-square" if first else "",
                        statistic=float(chi) if first else np.nan,
                        df=float(dof) if first else np.nan,
                        pvalue=float(p) if first else np.nan,
                    )
                )
    table = pd.DataFrame(rows)
    notes = [
        "Population: "
        + (
            "discharged episodes (status not ongoing)."
            if retained.startswith("followup_") and "discharge_status" in ep.columns
            else "all episodes in the table."
        ),
        "SMD = retained minus lost over sqrt((s_r^2 + s_l^2)/2) (Austin 2009); categorical: "
        "per level, proportions. |SMD| > 0.1 is a common flag of imbalance.",
        "Categorical rows: n = count, mean = proportion, sd = sqrt(p(1-p)); chi-square on the "
        "first level's row tests the whole variable (no continuity correction).",
    ]
    mtab = pd.DataFrame()
    if model:
        sub = ep.loc[:, list(covariates)]
        ok = sub.notna().all(axis=1).to_numpy()
        y = (~kept[ok]).astype(float)
        X, names, refs = _design(sub.loc[ok], list(covariates))
        if ok.sum() > X.shape[1] and not _perfect_fit(y, X):
            try:
                mtab = _logit_or(y, X, names, ci_level)
                mtab["n_used"] = int(ok.sum())
                mtab["method"] = "logistic regression of being lost; Wald CI"
                mtab["ci_level"] = ci_level
            except _SeparationError as e:
                notes.append(f"Logistic model of non-response not reported: {e}.")
        else:
            notes.append(
                "Logistic model of non-response not fitted (too few complete cases or "
                "no variation)."
            )
        if refs:
            notes.append(
                "Model reference levels: " + ", ".join(f"{k}={v}" for k, v in refs.items())
            )
        notes.append(f"Model: complete cases, n = {int(ok.sum())} of {len(ep)}.")
    return AttritionResult(
        table=table,
        title=f"Attrition: retained vs lost on {retained!r}",
        method="standardized mean differences; Welch t / Pearson chi-square; logistic model",
        params={
            "retained": retained,
            "n_retained": int(kept.sum()),
            "n_lost": int((~kept).sum()),
            "ci_level": ci_level,
        },
        notes=tuple(notes),
        digits=3,
        model=mtab,
    )


# --------------------------------------------------------------------------------------
# durability of gains
# --------------------------------------------------------------------------------------
def durability(
    data: Any,
    *,
    instrument: str | None = None,
    by: str | None = None,
    ci_level: float = 0.95,
) -> TableResult:
    r"""Do gains hold after discharge? Change from discharge to each follow-up, reliable
    improvement kept, relapse into caseness.

    Per follow-up window (columns ``followup_<w>`` present) and group, among episodes with both
    an endpoint and a follow-up score:

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
    data : DataFrame
        Episode table (``baseline``, ``endpoint``, ``followup_<w>``) or loaded assessments.
    instrument : str, optional
        Instrument name; default the table's single ``instrument`` value.
    by : str, optional
        Grouping column.
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
    fname = "durability"
    ci_level = check_ci_level(ci_level, fname)
    from . import instruments as _inst

    ep = _select_instrument(_as_episodes(data, fname, instrument), instrument, fname)
    ep = ep.reset_index(drop=True)
    if instrument is None:
        if "instrument" not in ep.columns or ep["instrument"].dropna().nunique() != 1:
            raise ConfigError(
                f"The 'instrument' parameter of {fname} is needed (the reliable-change threshold "
                "and caseness cut-off depend on it); the table has no single instrument column."
            )
        instrument = str(ep["instrument"].dropna().iloc[0])
    inst = _inst.get(instrument)
    rc, cut = inst.reliable_change, inst.caseness_cutoff
    if rc is None or cut is None:
        raise ConfigError(
            f"Instrument {inst.name!r} has no reliable_change / caseness_cutoff; register them."
        )
    _require(ep, ["baseline", "endpoint"], fname)
    fcols = [c for c in (f"followup_{w}" for w in WINDOW_DAYS) if c in ep.columns]
    if not fcols:
        raise DataError(f"{fname} needs at least one followup_<window> column; none present.")
    empty = [c for c in fcols if ep[c].isna().all()]
    fcols = [c for c in fcols if c not in empty]
    if not fcols:
        raise DataError(f"{fname}: the follow-up columns {empty} hold no scores.")
    sign = 1.0 if inst.better_is == "lower" else -1.0
    g, labels = _groups(ep, by, fname)
    base = _numeric(ep, "baseline")
    end = _numeric(ep, "endpoint")
    rows = []
    for col in fcols:
        fu = _numeric(ep, col)
        both = ~np.isnan(end) & ~np.isnan(fu)
        ri_end = both & ~np.isnan(base) & (sign * (base - end) >= rc)
        kept = ri_end & (sign * (base - fu) >= rc)
        noncase = both & (sign * (end - cut) < 0)  # better than the cut-off at endpoint
        relapse = noncase & (sign * (fu - cut) >= 0)
        diff = fu - end
        for gi, lab in enumerate(labels):
            sel = g == gi
            dd = diff[sel & both]
            n = len(dd)
            m = float(dd.mean()) if n else np.nan
            sd = float(dd.std(ddof=1)) if n > 1 else np.nan
            lo, hi = mean_ci(m, sd, n, ci_level)
            w = col.removeprefix("followup_")
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
    table = pd.DataFrame(rows)
    table["count"] = table["count"].astype("Int64")
    table.insert(table.columns.get_loc("method"), "ci_level", ci_level)
    if by is None:
        table = table.drop(columns="group")
    direction = "lower" if sign > 0 else "higher"
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
