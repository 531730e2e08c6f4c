"""NHS Talking Therapies national figures and the benchmark of a program's rates against them."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from .._results import TableResult
from .._stats import wilson_ci
from .._validation import Interval, check_columns, validate_params
from ..exceptions import ConfigError, DataError
from .results import NHS_OUTCOMES, ClinicalSignificanceResult

_POPULATION_CAVEAT = (
    "Populations differ: NHS Talking Therapies is England's primary-care psychological therapy "
    "service for common mental-health problems (stepped care; mean first PHQ-9 14.2 in CBT "
    "courses, 2024-25), not intensive outpatient or partial hospitalization care. National "
    "rates are context, not a like-for-like comparison."
)
_BENCH_OUTCOMES = [
    "recovery",
    "reliable improvement",
    "reliable recovery",
    "reliable deterioration",
]


@validate_params({})
def national_series() -> pd.DataFrame:
    """The NHS Talking Therapies national figures shipped with the package (long format).

    Columns: ``year``, ``outcome``, ``value`` (as published), ``unit`` (``"percent"`` for the
    outcome rates, ``"points"`` for the pre-post score means and SDs of finished CBT courses),
    ``numerator``, ``denominator`` (where published), ``finished_courses``, ``scope``,
    ``source``.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> s = iop.national_series()
    >>> s.query("year == '2024-25' and outcome == 'recovery'")["value"].item()
    50.5
    >>> s.query("outcome == 'PHQ-9 first score mean'")["value"].item()
    14.2
    """
    path = resources.files(__name__.split(".")[0]).joinpath(
        "data/nhs_talking_therapies_national.csv"
    )
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, comment="#", dtype={"year": str})
    return df


@validate_params(
    {
        "result_or_rates": [ClinicalSignificanceResult, pd.DataFrame, dict],
        "year": [str, None],
        "ci_level": [Interval(float, 0, 1, closed="neither"), None],
    }
)
def benchmarks(result_or_rates, *, year: str | None = "2024-25", ci_level: float | None = None):
    """Set a program's NHS Talking Therapies rates (with Wilson CIs) beside the national rates.

    Parameters
    ----------
    result_or_rates : ClinicalSignificanceResult, DataFrame or dict
        A result of ``clinical_significance(method="nhs-talking-therapies")`` (per group when it
        was grouped), a DataFrame with ``outcome``, ``count``, ``n`` (and optional group
        columns), or a dict ``{outcome: (count, n)}``. Outcomes compared: recovery, reliable
        improvement, reliable recovery, reliable deterioration.
    year : str or None, default "2024-25"
        Financial year of the national figures (``"2017-18"`` ... ``"2024-25"``); ``None`` for
        every year in the series.
    ci_level : float, optional
        Level of the program's Wilson intervals (default: the result's, else 0.95).

    Returns
    -------
    TableResult
        One row per (group,) outcome and year: the program's ``count``, ``n``, ``estimate``,
        ``ci_low``, ``ci_high``, the ``national_estimate`` (published percentage / 100) and
        ``national_finished_courses``; ``national_within_ci`` says whether the national rate
        lies inside the program's interval. The caveat that populations differ is printed.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> b = iop.benchmarks({"recovery": (30, 50)}, year="2024-25")
    >>> row = b.table.iloc[0]
    >>> row["outcome"], round(float(row["estimate"]), 2), float(row["national_estimate"])
    ('recovery', 0.6, 0.505)
    """
    allnat = national_series()
    nat = allnat[allnat["unit"] == "percent"]
    if year is not None:
        years = nat["year"].unique().tolist()
        if year not in years:
            raise ConfigError(
                f"The 'year' parameter of iop.benchmarks must be one of {years} or None. "
                f"Got {year!r} instead."
            )
        nat = nat[nat["year"] == year]
    prog, group_cols, level, notes = _program_counts(result_or_rates)
    if ci_level is not None:
        level = float(ci_level)
    prog = prog.assign(outcome=prog["outcome"].astype(str).str.lower().str.strip())
    unknown = sorted(set(prog["outcome"]) - set(_BENCH_OUTCOMES) - set(NHS_OUTCOMES))
    if unknown:
        raise DataError(
            f"benchmarks: unknown outcome(s) {unknown}; national figures exist for {_BENCH_OUTCOMES}."
        )
    prog = prog[prog["outcome"].isin(_BENCH_OUTCOMES)]
    if (prog["count"] > prog["n"]).any() or (prog["count"] < 0).any():
        raise DataError("benchmarks: every count must lie between 0 and n.")
    prog = prog.assign(
        count=prog["count"].astype(np.int64),
        n=prog["n"].astype(np.int64),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        prog["estimate"] = np.where(prog["n"] > 0, prog["count"] / prog["n"], np.nan)
    lo, hi = wilson_ci(prog["count"].to_numpy(), prog["n"].to_numpy(), level)
    prog["ci_low"], prog["ci_high"], prog["ci_level"] = lo, hi, level
    nat_small = nat[["year", "outcome", "value", "finished_courses"]].rename(
        columns={"finished_courses": "national_finished_courses"}
    )
    out = prog.merge(nat_small, on="outcome", how="left")
    out["national_estimate"] = out["value"] / 100.0
    out["national_within_ci"] = (out["national_estimate"] >= out["ci_low"]) & (
        out["national_estimate"] <= out["ci_high"]
    )
    out = out.drop(columns="value")
    order = {o: i for i, o in enumerate(_BENCH_OUTCOMES)}
    out = (
        out.assign(__o=out["outcome"].map(order))
        .sort_values([*group_cols, "__o", "year"], kind="stable")
        .drop(columns="__o")
        .reset_index(drop=True)
    )
    cols = [
        *group_cols,
        "outcome",
        "count",
        "n",
        "estimate",
        "ci_low",
        "ci_high",
        "ci_level",
        "year",
        "national_estimate",
        "national_finished_courses",
        "national_within_ci",
    ]
    src = nat["source"].iloc[0] if len(nat) else ""
    notes = [
        _POPULATION_CAVEAT,
        *notes,
        "National rates: England, NHS Talking Therapies annual reports, finished courses "
        f"(published percentages, rounded to 0.1 %). Source: {src}",
        f"Program rates: count / n with {level:.0%} Wilson score intervals; national rates are "
        "population figures (no interval shown).",
    ]
    notes.extend(_pre_post_notes(allnat, year))
    return TableResult(
        table=out[cols],
        title="NHS Talking Therapies outcomes: program vs England",
        method="NHS Talking Therapies outcome definitions; national benchmark",
        params={"year": year if year is not None else "all"},
        notes=tuple(notes),
        digits=3,
        roles={
            "count": "count of n",
            "n": "count",
            **{c: "from count, n" for c in ("estimate", "ci_low", "ci_high")},
        },
    )


_FIXED = {"outcome", "count", "n", "estimate", "ci_low", "ci_high", "ci_level", "n_excluded"}


def _program_counts(result_or_rates) -> tuple[pd.DataFrame, list[str], float, list[str]]:
    """The program's (group,) outcome, count, n; its group columns, CI level and notes."""
    notes: list[str] = []
    group_cols: list[str] = []
    level = 0.95
    if isinstance(result_or_rates, ClinicalSignificanceResult):
        if result_or_rates.params.get("method") != "nhs-talking-therapies":
            raise ConfigError(
                "benchmarks compares NHS Talking Therapies outcomes; pass a result of "
                "clinical_significance(..., method='nhs-talking-therapies'). "
                f"Got a {result_or_rates.params.get('method')!r} result instead."
            )
        prog = result_or_rates.table
        level = float(prog["ci_level"].iloc[0]) if len(prog) else 0.95
        group_cols = [c for c in prog.columns if c not in _FIXED]
        if "single measure" in str(result_or_rates.params.get("rules", "")):
            notes.append(
                "The program's rates use one measure only; national rates use PHQ-9 and an "
                "anxiety measure together (single-measure recovery is easier to reach)."
            )
        prog = prog[[*group_cols, "outcome", "count", "n"]]
    elif isinstance(result_or_rates, dict):
        try:
            prog = pd.DataFrame(
                [(k, int(v[0]), int(v[1])) for k, v in result_or_rates.items()],
                columns=["outcome", "count", "n"],
            )
        except (TypeError, ValueError, IndexError):
            raise DataError(
                "benchmarks: a dict must map outcome -> (count, n), e.g. {'recovery': (30, 50)}."
            ) from None
    elif isinstance(result_or_rates, pd.DataFrame):
        check_columns(
            result_or_rates, ["outcome", "count", "n"], func="benchmarks", what="rates table"
        )
        prog = result_or_rates.copy()
        group_cols = [c for c in prog.columns if c not in _FIXED]
        prog = prog[[*group_cols, "outcome", "count", "n"]]
    return prog, group_cols, level, notes


def _pre_post_notes(allnat: pd.DataFrame, year: str | None) -> list[str]:
    """The national pre-post means (SD) of finished CBT courses, one note per year and scope."""
    notes: list[str] = []
    pp = allnat[(allnat["unit"] == "points") & ((allnat["year"] == year) | (year is None))]
    for (yr, scope), part in pp.groupby(["year", "scope"], sort=True):
        v = dict(zip(part["outcome"], part["value"], strict=True))
        bits = [
            f"{m} {v[f'{m} first score mean']:g} ({v[f'{m} first score SD']:g}) -> "
            f"{v[f'{m} last score mean']:g} ({v[f'{m} last score SD']:g})"
            for m in ("PHQ-9", "GAD-7")
            if f"{m} first score mean" in v
        ]
        notes.append(f"National pre-post mean (SD), {scope}, {yr}: " + "; ".join(bits) + ".")
    return notes
