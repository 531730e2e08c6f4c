"""Participant flow, retention in treatment, follow-up response, attrition bias, durability.

The public functions are re-exported here (and as ``iop.retention`` … in the package).
"""

from .flow import (
    STATUSES,
    WINDOW_DAYS,
    AttritionResult,
    RetentionResult,
    SurvivalResult,
    attrition,
    dropout_survival,
    durability,
    retention,
)

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
