"""Symptom trajectories over weeks of treatment: growth models (mixed, GEE) and early change.

Modules: ``api`` (:func:`trajectories`), ``prepare`` (input rows), ``design`` (time terms and
formulas), ``mixed`` (REML fitters, shared with the missing-data sensitivity analysis), ``gee``,
``result`` (:class:`TrajectoryResult`) and ``early`` (:func:`early_change`).
"""

from .api import trajectories
from .early import EarlyChangeResult, early_change
from .result import TrajectoryResult

__all__ = ["trajectories", "early_change", "TrajectoryResult", "EarlyChangeResult"]
