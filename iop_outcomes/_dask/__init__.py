"""The Dask path: the same public functions on a Dask DataFrame (issue 15).

Nothing here imports Dask at import time: :func:`is_dask` recognises a Dask DataFrame by its
class, and :func:`require` imports Dask only when a user asks for it (``engine="dask"`` or a
Dask DataFrame passed in), with an error naming the extra to install when it is missing.

One module per concept: :mod:`.load` (``iop.load(..., engine="dask")``), :mod:`.episodes`
(``iop.episodes`` on a Dask table of assessments), :mod:`.change` (``iop.change_summary`` from
per-partition sufficient statistics). See ``docs/scale.md``.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ConfigError

__all__ = ["is_dask", "require", "mark_by_patient", "by_patient"]

INSTALL = 'pip install "iop-outcomes[dask]"'

#: the graph names of Dask frames known to hold each patient's rows in one partition (the
#: rows of a Dask load, shuffled by patient): iop.episodes needs no second shuffle for them
_BY_PATIENT: set[str] = set()


def mark_by_patient(frame) -> None:
    """Record that every patient's rows of ``frame`` are in one partition."""
    _BY_PATIENT.add(frame._name)


def by_patient(frame) -> bool:
    """Whether ``frame`` is known to hold every patient's rows in one partition (a Dask load's
    ``data``, persisted or not by :meth:`LoadResult.persist`); ``False`` when unsure.

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd
    >>> by_patient(dd.from_pandas(pd.DataFrame({"patient_id": ["a"]}), npartitions=1))
    False
    """
    return getattr(frame, "_name", None) in _BY_PATIENT


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask DataFrame (checked by class, without importing Dask).

    Examples
    --------
    >>> import pandas as pd
    >>> is_dask(pd.DataFrame())
    False
    """
    return any(
        c.__name__ == "DataFrame" and c.__module__.startswith("dask") for c in type(value).__mro__
    )


def require(func: str):
    """``dask.dataframe``, imported now; a :class:`ConfigError` naming the extra if missing.

    Examples
    --------
    >>> require("iop.load").__name__
    'dask.dataframe'
    """
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - the test environment has the extra
        raise ConfigError(
            f"{func} was asked to run on Dask (engine='dask' or a Dask DataFrame), which is not "
            f"installed. Install the optional extra: {INSTALL}"
        ) from None
    return dd
