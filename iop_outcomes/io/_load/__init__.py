"""``iop.load``: read, map, validate and score assessments, with a ledger of every input row.

A private package (the public names are re-exported by :mod:`iop_outcomes.io` and
:mod:`iop_outcomes`).
"""

from .api import LoadResult, load

__all__ = ["load", "LoadResult"]
