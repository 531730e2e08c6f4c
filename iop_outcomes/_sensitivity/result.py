"""The methods, their assumptions in plain words, and the result object."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .._results import TableResult, format_table

__all__ = ["METHODS", "ASSUMPTIONS", "LABELS", "SensitivityResult"]

METHODS = ("completers", "locf", "bocf", "mi", "mixed")

#: Plain-words assumption of each method (printed with every result).
ASSUMPTIONS = {
    "completers": "assumes those lost are like those retained (missing completely at random, MCAR)",
    "locf": "assumes no change after the last score — biased when people drop out while "
    "still improving or worsening",
    "bocf": "assumes lost patients returned to baseline (conservative: no change for anyone lost)",
    "mi": "assumes missing at random (MAR) given the variables in the imputation model",
    "mixed": "valid under missing at random (MAR); uses all observed weekly scores",
}

LABELS = {
    "completers": "Completers only",
    "locf": "LOCF",
    "bocf": "BOCF",
    "mi": "Multiple imputation",
    "mixed": "Mixed model",
}


@dataclass(frozen=True)
class SensitivityResult(TableResult):
    """Side-by-side estimates under each missing-data method.

    ``table`` has one row per estimand × method with ``estimand``, ``contrast``, ``method``,
    ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``df``, ``n_used``,
    ``n_missing`` (episodes whose discharge score was missing), ``fmi`` (MI only) and
    ``assumption``. ``imputations`` holds the completed-data estimates of every imputation.
    """

    imputations: pd.DataFrame | None = None
    roles: dict = field(
        default_factory=lambda: {
            "n_used": "count",
            "n_missing": "count",
            "estimate": "statistic of n_used",
            "ci_low": "statistic of n_used",
            "ci_high": "statistic of n_used",
        },
        repr=False,
    )

    def summary(self) -> str:
        shown = self.table.drop(
            columns=["assumption", "ci_level", "n_missing", "n_excluded"], errors="ignore"
        )
        if "fmi" in shown and shown["fmi"].isna().all():
            shown = shown.drop(columns="fmi")
        parts = [self.title] if self.title else []
        for (est, con), block in shown.groupby(["estimand", "contrast"], sort=False):
            label = est if not con else f"{est}: {con}"
            parts.append("")
            parts.append(label)
            body = block.drop(columns=["estimand", "contrast"]).reset_index(drop=True)
            body["method"] = body["method"].map(lambda m: LABELS.get(m, m))
            parts.append(format_table(body, self.digits).to_string(index=False))
        parts.append("")
        parts.append("Assumptions:")
        for m in dict.fromkeys(self.table["method"]):
            parts.append(f"  {LABELS.get(m, m)}: {ASSUMPTIONS.get(m, '')}")
        parts.extend(self._footer())
        return "\n".join(parts)

    def plot(self, *, estimand: str | None = None, ax=None):
        """Forest plot (:func:`iop_outcomes.plots.sensitivity.plot_sensitivity`)."""
        from ..plots.sensitivity import plot_sensitivity

        return plot_sensitivity(self, estimand=estimand, ax=ax)

    def _repr_html_(self) -> str:
        import html

        shown = self.table.drop(columns=["assumption"], errors="ignore")
        body = format_table(shown, self.digits).to_html(index=False, border=0)
        head = f"<p><strong>{html.escape(self.title)}</strong></p>" if self.title else ""
        ass = "".join(
            f"<br><small>{html.escape(LABELS.get(m, m))}: {html.escape(ASSUMPTIONS[m])}</small>"
            for m in dict.fromkeys(self.table["method"])
            if m in ASSUMPTIONS
        )
        foot = "".join(f"<br><small>{html.escape(s)}</small>" for s in self._footer())
        return f"<div>{head}{body}<small>Assumptions:</small>{ass}{foot}</div>"
