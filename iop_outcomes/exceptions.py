"""The library's own error and warning types.

Every problem a user can cause raises one of these, never a raw pandas or
pyarrow traceback. Messages follow one template (after scikit-learn): what was
wrong, where (file, row, column), what was found, and what to do.
"""

from __future__ import annotations

__all__ = [
    "IOPError",
    "LoadError",
    "ConfigError",
    "InstrumentError",
    "DataError",
    "IOPWarning",
    "ConvergenceWarning",
]


class IOPError(Exception):
    """Base class of every error raised by iop_outcomes."""


class LoadError(IOPError):
    """Input could not be loaded, or strict validation found problems.

    Attributes
    ----------
    problems : pandas.DataFrame or None
        One row per problem (source, row, column, value, reason, fix) when the
        error comes from validation; ``None`` for file-level failures.
    """

    def __init__(self, message: str, problems=None):
        super().__init__(message)
        self.problems = problems


class ConfigError(IOPError, ValueError):
    """A parameter, mapping or configuration value is invalid."""


class InstrumentError(IOPError, KeyError):
    """An instrument is unknown or its definition is invalid."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DataError(IOPError, ValueError):
    """Data passed to an analysis lack what the analysis needs (columns, rows)."""


class IOPWarning(UserWarning):
    """Base class of warnings raised by iop_outcomes."""


class ConvergenceWarning(IOPWarning):
    """An iterative fit did not converge cleanly; the result says what was done."""
