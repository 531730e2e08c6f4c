"""Shareable reports: small-cell suppression, identifier scrubbing, rendering."""

from .config import StudyConfig, load_config
from .safety import find_identifiers, neutralise_formulas, scrub_identifiers
from .suppress import SuppressedTable, suppress

__all__ = [
    "suppress",
    "SuppressedTable",
    "StudyConfig",
    "load_config",
    "scrub_identifiers",
    "neutralise_formulas",
    "find_identifiers",
]
