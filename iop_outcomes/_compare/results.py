"""Result objects of the comparisons; ``.plot()`` imports :mod:`iop_outcomes.plots.compare`
lazily (plots read results and never import this package at run time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from .._results import TableResult, format_table
from ..exceptions import ConfigError


@dataclass(frozen=True, repr=False)
class _SectionedResult(TableResult):
    """A TableResult whose summary adds one titled table per entry of ``_SECTIONS``
    (title, attribute, digits; ``None`` digits = the result's own) and whose ``plot``
    calls ``iop_outcomes.plots.compare.<_PLOT>``."""

    _SECTIONS: ClassVar[tuple[tuple[str, str, int | None], ...]] = ()
    _PLOT: ClassVar[str] = "plot_forest"

    def summary(self) -> str:
        parts = [super().summary()]
        for title, attr, digits in self._SECTIONS:
            df = getattr(self, attr)
            if df is not None and len(df):
                shown = format_table(df, self.digits if digits is None else digits)
                parts += ["", title, shown.to_string(index=False)]
        return "\n".join(parts)

    def plot(self, ax=None, **kwargs):
        from ..plots import compare as _p

        return getattr(_p, self._PLOT)(self, ax=ax, **kwargs)


@dataclass(frozen=True, repr=False)
class ComparisonResult(_SectionedResult):
    """Result of :func:`compare`: one row per contrast (group − reference).

    Attributes
    ----------
    table : DataFrame
        ``contrast, group, reference, estimate, se, ci_low, ci_high, ci_level, statistic,
        df, pvalue, n_group, n_reference, method``.
    means : DataFrame
        Per-group means (``"welch"``), adjusted means (``"ancova"``) or weighted means.
    effect_sizes : DataFrame or None
        Standardized contrasts with the measure named in ``measure``.
    balance : DataFrame or None
        Covariate balance before/after weighting (weighted methods).
    diagnostics : DataFrame or None
        Propensity-score range, effective sample sizes, max |SMD| (weighted methods).
    """

    means: pd.DataFrame | None = None
    effect_sizes: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    diagnostics: pd.DataFrame | None = None
    roles: dict = field(
        default_factory=lambda: {
            "n_group": "count",
            "n_reference": "count",
            "estimate": "statistic of n_group, n_reference",
            "ci_low": "statistic of n_group, n_reference",
            "ci_high": "statistic of n_group, n_reference",
            "pvalue": "statistic of n_group, n_reference",
        },
        repr=False,
    )
    _SECTIONS = (
        ("Group means", "means", None),
        ("Standardized effect sizes", "effect_sizes", None),
        ("Covariate balance (standardized mean differences)", "balance", 3),
        ("Weighting diagnostics", "diagnostics", 3),
    )

    def plot(self, kind: str | None = None, ax=None, **kwargs):
        """``kind="forest"`` (default) for the contrasts, ``"love"`` for the balance."""
        from ..plots import compare as _p

        kind = kind or "forest"
        if kind == "love":
            return _p.plot_love(self, ax=ax, **kwargs)
        if kind == "forest":
            return _p.plot_forest(self, ax=ax, **kwargs)
        raise ConfigError(f"The 'kind' parameter must be 'forest' or 'love'. Got {kind!r}.")


@dataclass(frozen=True, repr=False)
class EquivalenceResult(_SectionedResult):
    """Result of :func:`equivalence`; ``verdicts`` holds one plain-language sentence per
    contrast."""

    verdicts: tuple[str, ...] = ()
    comparison: ComparisonResult | None = None
    _PLOT = "plot_equivalence"

    def summary(self) -> str:
        return "\n".join([super().summary(), "", *self.verdicts])


@dataclass(frozen=True, repr=False)
class SubgroupResult(_SectionedResult):
    """Result of :func:`subgroups`: one row per subgroup and contrast, plus
    ``interaction`` (tests of effect modification)."""

    interaction: pd.DataFrame | None = None
    effect_sizes: pd.DataFrame | None = None
    _SECTIONS = (
        ("Standardized effect sizes by subgroup", "effect_sizes", None),
        ("Effect modification", "interaction", 3),
    )


@dataclass(frozen=True, repr=False)
class PoolResult(_SectionedResult):
    """Result of :func:`pool_sites`: ``table`` holds the pooled estimates (one row per
    contrast and tau² estimator), ``sites`` the per-site effects."""

    sites: pd.DataFrame | None = None
    _SECTIONS = (("Per-site effects", "sites", None),)


@dataclass(frozen=True, repr=False)
class DoseResponseResult(_SectionedResult):
    """Result of :func:`dose_response`: the slope of change on dose (``table``) and binned
    means (``bins``)."""

    bins: pd.DataFrame | None = None
    _SECTIONS = (("Mean change by dose band", "bins", None),)
    _PLOT = "plot_dose_response"
