"""Cohort comparisons (``iop.compare``, ``iop.equivalence``, ``iop.subgroups``,
``iop.pool_sites``, ``iop.dose_response``): a private package; the public names are
re-exported here and from :mod:`iop_outcomes`."""

from .api import compare, dose_response, subgroups
from .design import METHODS
from .equivalence import equivalence
from .meta import pool_sites
from .results import (
    ComparisonResult,
    DoseResponseResult,
    EquivalenceResult,
    PoolResult,
    SubgroupResult,
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
