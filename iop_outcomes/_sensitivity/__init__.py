"""Missing-data sensitivity: the headline change and the group comparison under five ways of
handling missing discharge scores (:func:`iop_outcomes.missing_data_sensitivity`).

Modules: ``api`` (the entry point and its steps), ``estimates`` (the analysis set and the
complete-data estimates), ``mi`` (multiple imputation, Rubin's rules), ``mixed`` (the mixed
model) and ``result`` (the methods, their assumptions and :class:`SensitivityResult`).
"""

from .api import missing_data_sensitivity
from .mi import rubin_pool
from .result import ASSUMPTIONS, METHODS, SensitivityResult

__all__ = ["missing_data_sensitivity", "rubin_pool", "SensitivityResult", "ASSUMPTIONS", "METHODS"]
