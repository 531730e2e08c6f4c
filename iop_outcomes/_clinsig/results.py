"""Result objects of :func:`iop_outcomes.clinical_significance` and the names of its methods."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .._results import TableResult, format_table

METHODS = {
    "jacobsontruax": "jacobson-truax",
    "jt": "jacobson-truax",
    "gulliksenlordnovick": "gulliksen-lord-novick",
    "gln": "gulliksen-lord-novick",
    "edwardsnunnally": "edwards-nunnally",
    "en": "edwards-nunnally",
    "nhstalkingtherapies": "nhs-talking-therapies",
    "nhstt": "nhs-talking-therapies",
    "nhs": "nhs-talking-therapies",
    "iapt": "nhs-talking-therapies",
    "hagemanarrindell": "hageman-arrindell",
    "ha": "hageman-arrindell",
    "hsulinnlord": "hsu-linn-lord",
    "hll": "hsu-linn-lord",
    "nunnallykotsch": "nunnally-kotsch",
    "nk": "nunnally-kotsch",
    "statistical": "statistical",
    "percentage": "percentage",
    "percentagechange": "percentage",
    "pct": "percentage",
    "anchor": "anchor",
    "anchorbased": "anchor",
    "combined": "combined",
}
SAMPLE_ONLY = {"hsu-linn-lord", "hageman-arrindell"}
METHOD_LABEL = {
    "jacobson-truax": "Jacobson-Truax (1991) reliable change index",
    "gulliksen-lord-novick": "Gulliksen-Lord-Novick reliable change index (Hsu 1989)",
    "edwards-nunnally": "Edwards-Nunnally reliable change (Speer 1992 formulation)",
    "nhs-talking-therapies": "NHS Talking Therapies outcome definitions (NHS England)",
    "hsu-linn-lord": "Hsu-Linn-Lord reliable change index (Hsu 1989)",
    "nunnally-kotsch": "Nunnally-Kotsch reliable change index (Nunnally & Kotsch 1983)",
    "hageman-arrindell": (
        "Hageman-Arrindell RC_indiv and CS_indiv (Hageman & Arrindell 1999), one-sided 5 %"
    ),
    "statistical": "Statistical approach: cut-off crossing alone (no reliable change index)",
    "percentage": "Percentage-change approach",
    "anchor": "Anchor-based approach: minimal important difference",
    "combined": "Combined approach: minimal important difference and cut-off",
}
JT_CATEGORIES = ["recovered", "improved", "unchanged", "deteriorated"]
NHS_OUTCOMES = [
    "at caseness",
    "not at caseness",
    "reliable improvement",
    "no reliable change",
    "reliable deterioration",
    "recovery",
    "reliable recovery",
]
ID_COLUMNS = ("episode_id", "patient_id", "instrument")


@dataclass(frozen=True, repr=False, eq=False)
class ClinicalSignificanceResult(TableResult):
    """Result of :func:`clinical_significance`.

    Attributes
    ----------
    table : DataFrame
        Counts and rates per outcome (and group): ``outcome``, ``count``, ``n`` (the
        denominator), ``estimate`` (= count / n), ``ci_low``, ``ci_high`` (Wilson), ``ci_level``,
        ``n_excluded``.
    episodes : DataFrame
        Per-episode classification. Single-measure methods: one row per analysed input row, with
        the input's index. NHS joint rules (PHQ-9 + GAD-7 rows paired by ``episode_id``): one row
        per episode, indexed by ``episode_id``.
    method, params, notes
        What produced the numbers: method, threshold source, reliability, SD, thresholds in
        points, cut-off; caveats.
    group_level : DataFrame or None
        ``"hageman-arrindell"`` with a cut-off: Hageman & Arrindell's group-level shares per
        group (or overall): ``n``, ``mean_change``, ``sd_change``, ``mean_post``, ``sd_post``,
        ``changed`` (share with a true improvement), ``functional`` (share with a true endpoint
        beyond the cut-off). ``None`` otherwise.
    """

    episodes: pd.DataFrame | None = None
    group_level: pd.DataFrame | None = None
    roles: dict = field(
        default_factory=lambda: {
            "count": "count",
            "n": "count",
            "n_excluded": "count",
            "estimate": "from count, n",
            "ci_low": "from count, n",
            "ci_high": "from count, n",
        },
        repr=False,
    )

    def summary(self) -> str:
        text = super().summary()
        if self.group_level is not None:
            text += "\n\nGroup level (Hageman & Arrindell 1999)\n" + format_table(
                self.group_level, 3
            ).to_string(index=False)
        return text

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if self.group_level is None:
            return html
        table = format_table(self.group_level, 3).to_html(
            index=False, border=0, classes="iop-table"
        )
        return (
            html
            + f"<div><p><strong>Group level (Hageman &amp; Arrindell 1999)</strong></p>{table}</div>"
        )


@dataclass(frozen=True, repr=False, eq=False)
class GroupAnchorResult(TableResult):
    """Result of ``clinical_significance(..., method="anchor", target="group")``.

    Attributes
    ----------
    table : DataFrame
        Within groups (one row per level of ``group=``, or one row): mean change ``estimate`` (endpoint −
        baseline, points), ``se``, ``ci_low``, ``ci_high`` (paired t interval), ``ci_level``,
        ``statistic`` (t), ``df``, ``pvalue``, ``n``, ``mid``, ``beneficial`` (estimate in the
        better direction) and ``category``.
    between : DataFrame or None
        Between groups (with ``group=``): each level against the ``reference`` level on the
        endpoint score: ``reference``, ``comparison``, ``estimate`` (comparison
        mean − reference mean), ``se``, ``ci_low``, ``ci_high`` (Welch t interval),
        ``ci_level``, ``statistic``, ``df``, ``pvalue``, ``n_reference``, ``n_comparison``,
        ``mid``, ``beneficial`` (the comparison group scores better), ``category``.
    method, params, notes
        What produced the numbers.
    """

    between: pd.DataFrame | None = None

    def summary(self) -> str:
        text = super().summary()
        if self.between is not None:
            text += "\n\nBetween groups (endpoint scores)\n" + format_table(
                self.between, self.digits
            ).to_string(index=False)
        return text

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if self.between is None:
            return html
        table = format_table(self.between, self.digits).to_html(
            index=False, border=0, classes="iop-table"
        )
        return html + f"<div><p><strong>Between groups (endpoint scores)</strong></p>{table}</div>"
