"""Cohort comparisons (``iop.compare``, ``iop.equivalence``, ``iop.subgroups``,
``iop.pool_sites``, ``iop.dose_response``): a private package; the public names are
re-exported here and from :mod:`iop_outcomes`."""

from .api import (
    METHODS,
    ComparisonResult,
    DoseResponseResult,
    EquivalenceResult,
    PoolResult,
    SubgroupResult,
    compare,
    dose_response,
    equivalence,
    pool_sites,
    subgroups,
)

__all__ = [
    "METHODS",
    "compare",
    "equivalence",
    "subgroups",
    "pool_sites",
    "dose_response",
    "ComparisonResult",
    "EquivalenceResult",
    "SubgroupResult",
    "PoolResult",
    "DoseResponseResult",
]
