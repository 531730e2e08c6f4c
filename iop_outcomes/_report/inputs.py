"""The report's input: loading the data, the study's episode rules and grouping columns."""

from __future__ import annotations

import os
import warnings
from typing import Any

import pandas as pd

from .._episodes import EpisodeRules
from .._grouping import DERIVED_GROUPINGS
from ..exceptions import ConfigError
from ..io import load
from .config import StudyConfig


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


def sha256_of(data: Any) -> str:
    for attr in ("sha256", "source_sha256"):
        v = getattr(data, attr, None)
        if isinstance(v, str) and v:
            return v
    return ""


def assessment_dates(data: pd.DataFrame) -> Any:
    """Assessment dates of the accepted rows (empty when the column is absent)."""
    return data["assessment_date"] if "assessment_date" in data.columns else []
