"""Missing-data sensitivity: the headline change and the group comparison under five ways of
handling missing discharge scores (:func:`iop_outcomes.missing_data_sensitivity`)."""

from .api import ASSUMPTIONS, METHODS, SensitivityResult, missing_data_sensitivity, rubin_pool

__all__ = ["missing_data_sensitivity", "rubin_pool", "SensitivityResult", "ASSUMPTIONS", "METHODS"]
