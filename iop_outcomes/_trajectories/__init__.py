"""Symptom trajectories over weeks of treatment: growth models (mixed, GEE) and early change.

The public names are re-exported here; ``iop.trajectories`` and ``iop.early_change`` are the
entry points.
"""

from .api import EarlyChangeResult, TrajectoryResult, early_change, trajectories

__all__ = ["trajectories", "early_change", "TrajectoryResult", "EarlyChangeResult"]
