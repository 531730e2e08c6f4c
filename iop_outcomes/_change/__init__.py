"""Symptom change per episode, group summaries, severity shifts and US quality measures.

Four public functions, one submodule each:

- :func:`change_scores` (:mod:`.scores`) adds per-episode change, percent change,
  response, remission, minimal-clinically-important improvement and severity bands;
- :func:`change_summary` (:mod:`.summary`) summarises them by any stratification (means,
  SDs, mean change with a t interval, pre–post correlation, rates with Wilson intervals);
- :func:`severity_shift` (:mod:`.shift`) cross-tabulates baseline band × endpoint band;
- :func:`quality_measures` (:mod:`.quality`) computes NCQA HEDIS DRR-E and CMS159 from
  assessment-level PHQ-9 data.

Every threshold comes from the instrument registry (``iop.instruments``), where each number
carries its citation; reliable change and clinical significance (Jacobson–Truax, NHS Talking
Therapies) live in :func:`iop_outcomes.clinical_significance`.
"""

from .quality import QualityMeasureResult, quality_measures
from .scores import change_scores
from .shift import SeverityShiftResult, severity_shift
from .summary import ChangeSummaryResult, change_summary

__all__ = [
    "change_scores",
    "change_summary",
    "severity_shift",
    "quality_measures",
    "ChangeSummaryResult",
    "SeverityShiftResult",
    "QualityMeasureResult",
]
