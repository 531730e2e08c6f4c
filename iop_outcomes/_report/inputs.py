"""The report's input: loading the data, the study's episode rules and grouping columns."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._change.quality import quality_measures
from .._episodes import EpisodeRules
from .._grouping import DERIVED_GROUPINGS
from ..exceptions import ConfigError
from ..io import load
from .config import StudyConfig
from .populations import pop_key


def load_input(data: Any, cfg: StudyConfig, progress) -> Any:
    """The report's input as a :class:`~iop_outcomes.LoadResult`: a LoadResult as given, else
    loaded (a SynthData's rows, a path, URL or DataFrame) with the study's ``[data]`` options.

    Examples
    --------
    >>> load_input(42, StudyConfig(), False)
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: The 'data' parameter of iop.report must be a file \
path, a database URL, a DataFrame, a LoadResult (iop.load) or a SynthData. Got int instead.
    """
    from .._internal import refuse_internal

    refuse_internal(data)  # an internal, identifiable output (monitor's caseload) never enters
    if hasattr(data, "ledger") and hasattr(data, "data"):
        return data
    if hasattr(data, "truth") and hasattr(data, "data"):  # SynthData
        data = data.data
    if not isinstance(data, (str, os.PathLike, pd.DataFrame)):
        raise ConfigError(
            "The 'data' parameter of iop.report must be a file path, a database URL, a "
            "DataFrame, a LoadResult (iop.load) or a SynthData. Got "
            f"{type(data).__name__} instead."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(data, **cfg.load_options())


def episode_rules(cfg: StudyConfig):
    if not cfg.episode_rules:
        return None

    try:
        return EpisodeRules(**cfg.episode_rules)
    except TypeError as e:
        raise ConfigError(
            f"Invalid key in the [episodes] table of the study configuration: {e}."
        ) from None


_NOT_GROUPINGS = frozenset({"instrument"})


def _grouping_columns(ep: pd.DataFrame) -> list[str]:
    """Columns of an episode table a study configuration can group by."""
    from .safety import is_identifier_column

    out = [
        str(c)
        for c in ep.columns
        if str(c) not in _NOT_GROUPINGS
        and not is_identifier_column(str(c))
        and not str(c).endswith("_date")
        and not pd.api.types.is_numeric_dtype(ep[c])
        and not pd.api.types.is_datetime64_any_dtype(ep[c])
    ]
    out += [d for d, src in DERIVED_GROUPINGS.items() if src in ep.columns and d not in out]
    return out


def has_grouping(ep: pd.DataFrame, g: str | None) -> bool:
    return g is not None and (g in ep.columns or DERIVED_GROUPINGS.get(g, g) in ep.columns)


def check_groupings(cfg: StudyConfig, eps: dict[str, pd.DataFrame]) -> None:
    """A grouping column the study configuration names must be in the data (the defaults,
    ``format`` and ``site``, may be absent: their sections then say so)."""
    ep = eps.get(cfg.primary_instrument, next(iter(eps.values())))
    named = []
    if "groupings" in cfg.given or cfg.groupings != StudyConfig.groupings:
        named += [("groupings", g) for g in cfg.groupings]
    if "comparison.group" in cfg.given or cfg.comparison_group != StudyConfig.comparison_group:
        named.append(("[comparison] group", cfg.comparison_group))
    missing = [
        (k, g)
        for k, g in named
        if not (has_grouping(ep, g) if k == "groupings" else g in ep.columns)
    ]
    if not missing:
        return
    where = (
        f"the study configuration file {cfg.source!r}"
        if cfg.source
        else ("the study configuration")
    )
    what = "; ".join(f"{k} names {g!r}" for k, g in missing)
    raise ConfigError(
        f"{where[0].upper()}{where[1:]} groups by a column the data do not have ({what}). "
        f"Columns available for grouping: {_grouping_columns(ep)}. Correct the name in {where} "
        "or add the column to the data (docs/data-format.md lists the episode columns)."
    )


#: Grouping columns whose labels are fixed categories, not names (see safety.NAME_CHECK_COLUMNS)
CATEGORY_COLUMNS = frozenset({"format", "gender_identity", "race_ethnicity", "payer"})


@dataclass(frozen=True, repr=False)
class DaskInput:
    """What the report reads of a Dask load, computed once (see the module's text).

    ``data`` holds the assessment rows of the model sample (pandas; every episode's rows when
    there are no more than the sample size), the only rows the report reads directly.
    """

    data: pd.DataFrame
    both: pd.DataFrame  # every wanted instrument's episodes, as episodes() builds them
    sens: tuple | None  # the sensitivity section's inputs, from the sample
    tallies: dict  # rows per disposition
    ledger_summary: Any  # LoadResult.summary()
    instruments: frozenset
    spans: dict  # column -> (first, last) date
    safety: tuple | None
    labels: dict  # grouping column -> its distinct labels
    ids: frozenset  # the input's identifiers (as strings)
    quality: Any  # the quality measures' result, the exception they raised, or None
    sha256: str
    partitions: int
    sample: dict = field(default_factory=dict)  # n (episodes fitted), of (episodes), by

    def counts(self) -> dict:
        return dict(self.tallies)

    def summary(self):
        return self.ledger_summary

    def sample_text(self, ctx) -> str | None:
        """The sentence the model sections add when they are fitted on a sample (the total a
        count in text, under the report's disclosure control; the sample size is the
        study's setting)."""
        s = self.sample
        if not s or s["n"] >= s["of"]:
            return None
        of = ctx.text_count(pop_key(s["instrument"], None, None, "admitted"), s["of"])
        strata = f", stratified by {s['by']} (proportional allocation)" if s["by"] else ""
        return (
            f"Fitted on a random sample of {s['n']:,} of the {of} episodes{strata}, drawn "
            f"with the study's seed: a mixed model of every assessment does not distribute "
            f"over a Dask cluster (docs/scale.md)."
        )


def name_columns(cfg: StudyConfig) -> list[str]:
    """The grouping columns whose labels are checked for people's names."""
    return [
        c
        for c in dict.fromkeys([*cfg.groupings, cfg.comparison_group])
        if c not in DERIVED_GROUPINGS and c not in CATEGORY_COLUMNS
    ]


def on_dask(loaded: Any) -> bool:
    """Whether the report's input was computed on Dask (:class:`DaskInput`)."""
    return isinstance(loaded, DaskInput)


def rows_read(loaded: Any) -> int:
    """The input rows: one ledger row each, so the sum of the dispositions."""
    return int(sum(loaded.counts().values()))


def instruments_present(loaded: Any) -> set:
    """The instruments of the accepted rows."""
    if on_dask(loaded):
        return set(loaded.instruments)
    data = loaded.data
    return set(data["instrument"].astype("object").unique()) if len(data) else set()


def date_spans(loaded: Any) -> dict:
    """``{column: (first, last)}`` of the admission and assessment dates that parse."""
    return dict(loaded.spans) if on_dask(loaded) else spans_of(loaded.data)


def spans_of(rows: pd.DataFrame) -> dict:
    """:func:`date_spans` of a table of rows (the whole data, or one Dask partition).

    >>> spans_of(pd.DataFrame({"admit_date": ["2025-02-01", None, "2025-01-15"]}))
    {'admit_date': (Timestamp('2025-01-15 00:00:00'), Timestamp('2025-02-01 00:00:00'))}
    """
    out = {}
    for col in ("admit_date", "assessment_date"):
        if col in rows.columns:
            d = pd.to_datetime(rows[col], errors="coerce").dropna()
            if len(d):
                out[col] = (d.min(), d.max())
    return out


def ids_of(rows: pd.DataFrame) -> set[str]:
    """The patient and episode ids of a table of rows, as texts.

    >>> sorted(ids_of(pd.DataFrame({"patient_id": ["P1", None], "episode_id": ["E1", "E2"]})))
    ['E1', 'E2', 'P1']
    """
    ids: set[str] = set()
    for col in ("patient_id", "episode_id"):
        if col in rows.columns:
            ids |= set(rows[col].astype("object").dropna().astype(str).unique())
    return ids


def assessment_dates(loaded: Any) -> Any:
    """Assessment dates of the accepted rows (empty when the column is absent; on Dask the
    first and the last)."""
    if on_dask(loaded):
        return pd.Series(list(loaded.spans.get("assessment_date", ())), dtype="datetime64[ns]")
    data = loaded.data
    return data["assessment_date"] if "assessment_date" in data.columns else []


def group_labels(loaded: Any, cols: list[str]) -> dict:
    """``{column: its values}`` (on Dask its distinct labels) for the name check."""
    if on_dask(loaded):
        return {c: loaded.labels[c] for c in cols if c in loaded.labels}
    return {c: loaded.data[c] for c in cols if c in loaded.data.columns}


def safety_of(loaded: Any) -> tuple[int, int, int] | None:
    """:func:`safety_counts` of the accepted rows."""
    return loaded.safety if on_dask(loaded) else safety_counts(loaded.data)


def quality_of(loaded: Any):
    """:func:`iop_outcomes.quality_measures` of the accepted rows (on Dask, computed before
    the build: its result, or its error raised again here)."""
    if on_dask(loaded):
        if isinstance(loaded.quality, Exception):
            raise loaded.quality
        return loaded.quality
    return quality_measures(loaded.data)


def safety_counts(data: pd.DataFrame) -> tuple[int, int, int] | None:
    """The PHQ-9 rows, the episodes (patients without episode ids) with a known item 9
    answer, and those with item 9 > 0 at least once; None without the columns.

    >>> d = pd.DataFrame({"instrument": ["PHQ-9", "PHQ-9", "PHQ-9", "PHQ-9", "GAD-7"],
    ...                   "episode_id": ["a", "a", "b", None, "b"],
    ...                   "safety_flag": [False, True, None, True, True]})
    >>> safety_counts(d)
    (4, 1, 1)
    """
    if "safety_flag" not in data.columns or "instrument" not in data.columns:
        return None
    phq = data[(data["instrument"] == "PHQ-9").fillna(False).to_numpy(dtype=bool)]
    flag = phq["safety_flag"].astype("boolean")
    known = flag.notna().to_numpy(dtype=bool)
    key = "episode_id" if "episode_id" in phq.columns else "patient_id"
    codes, _ = pd.factorize(phq[key][known])  # a missing id: -1, not counted
    pos = flag.to_numpy(dtype=bool, na_value=False)[known][codes >= 0]
    codes = codes[codes >= 0]
    n_ep = int(codes.max()) + 1 if len(codes) else 0
    k_ep = int(np.bincount(codes[pos], minlength=n_ep).astype(bool).sum())
    return len(phq), n_ep, k_ep


def sha256_of(data: Any) -> str:
    for attr in ("sha256", "source_sha256"):
        v = getattr(data, attr, None)
        if isinstance(v, str) and v:
            return v
    return ""
