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

__all__ = ["is_dask", "require"]

INSTALL = 'pip install "iop-outcomes[dask]"'


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
