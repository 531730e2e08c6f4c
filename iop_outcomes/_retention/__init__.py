"""Participant flow, retention in treatment, follow-up response, attrition bias, durability.

Four entry points, each taking the episode table of ``docs/data-format.md`` (one row per
episode and instrument) or the loaded assessment rows (then the episode table is built with
:func:`iop_outcomes.episodes`):

* :func:`retention` — CONSORT-style flow per cohort (admitted → baseline → measured in
  treatment → discharge status → discharge score → follow-up response) and follow-up response
  rates with Wilson intervals, compared between cohorts (Pearson chi-square, logistic model).
* :func:`dropout_survival` — Kaplan–Meier time to dropout by cohort (Greenwood variance,
  log-log intervals as R ``survfit(conf.type = "log-log")``), median time to dropout and
  median length of stay with R's confidence intervals, log-rank test (R ``survdiff``),
  numbers at risk, Aalen–Johansen cumulative incidence when transfers compete, attendance.
* :func:`attrition` — baseline characteristics of retained vs lost episodes (standardized mean
  differences, Welch / Pearson tests) and a logistic model of non-response.
* :func:`durability` — change from discharge to each follow-up, reliable improvement kept, and
  relapse into caseness.

Everything is vectorized over episodes (numpy / pandas group-bys); loops run only over groups,
windows and covariates.

Examples
--------
>>> import pandas as pd
>>> import iop_outcomes as iop
>>> ep = pd.DataFrame({
...     "episode_id": ["a", "b", "c", "d"],
...     "format": ["virtual", "virtual", "in_person", "in_person"],
...     "baseline": [15, 18, 12, None],
...     "endpoint": [7, None, 10, None],
...     "n_in_treatment": [4, 1, 3, 0],
...     "discharge_status": ["completed", "dropped_out", "completed", "ongoing"],
...     "los_days": [42, 9, 40, 20],
...     "followup_1m": [8, None, None, None],
... })
>>> r = iop.retention(ep, windows=("1m",), tests=False)
>>> r.followup[["group", "window", "n_eligible", "n_responded"]]
       group window  n_eligible  n_responded
0  in_person     1m           1            0
1    virtual     1m           2            1
2      (all)     1m           3            1
"""

from .bias import AttritionResult, attrition
from .flow import FLOW_BOXES, FOLLOWUP_BOXES, RetentionResult, retention
from .gains import durability
from .prepare import STATUSES, WINDOW_DAYS, as_episodes, one_row_per_episode, status_codes
from .survival import SurvivalResult, dropout_survival

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
    "FLOW_BOXES",
    "FOLLOWUP_BOXES",
    "as_episodes",
    "one_row_per_episode",
    "status_codes",
]
