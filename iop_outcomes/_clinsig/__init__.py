"""Clinical significance: reliable change, cut-offs, NHS Talking Therapies outcomes, benchmarks.

Two public functions:

* :func:`clinical_significance` classifies each episode and counts the categories (with Wilson
  confidence intervals) overall or per group. Methods: the distribution approach's reliable
  change indices ``"jacobson-truax"`` (Jacobson & Truax 1991), ``"gulliksen-lord-novick"`` (Hsu
  1989), ``"edwards-nunnally"`` (Speer 1992), ``"hsu-linn-lord"`` (Hsu 1989),
  ``"nunnally-kotsch"`` (Nunnally & Kotsch 1983), ``"hageman-arrindell"`` (Hageman & Arrindell
  1999); ``"statistical"`` (cut-off crossing), ``"percentage"`` (percentage change),
  ``"anchor"`` (minimal important difference; ``target="group"`` for group means) and
  ``"combined"`` (MID and cut-off), as the R package clinicalsignificance (Claus et al. 2024);
  and ``"nhs-talking-therapies"`` (NHS England's published outcome definitions, single-measure
  or the joint PHQ-9 + GAD-7 rules).
* :func:`benchmarks` sets a program's NHS Talking Therapies rates beside the national figures
  shipped in ``iop_outcomes/data/nhs_talking_therapies_national.csv``.

Every result states the method, where the reliable-change threshold came from (``"sample"``,
``"reference"`` or ``"fixed"``), the reliability and SD used and the resulting threshold in
points.
"""

from .api import clinical_significance
from .national import benchmarks, national_series
from .results import ClinicalSignificanceResult, GroupAnchorResult

__all__ = [
    "clinical_significance",
    "benchmarks",
    "national_series",
    "ClinicalSignificanceResult",
    "GroupAnchorResult",
]
