"""The library's one instrument rule (docs/api.md): which instrument's rows an analysis uses.

Kept apart from :mod:`iop_outcomes._validation` (parameter checks), which the instrument
registry itself uses: the rule looks names up in the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import instruments
from ._validation import public_name
from .exceptions import ConfigError, DataError

__all__ = ["select_instrument", "canonical_names"]


def canonical_names(s: pd.Series) -> pd.Series:
    """Canonical instrument names for a column, looked up once per distinct value; ``None``
    for a missing or unregistered spelling.

    Examples
    --------
    >>> canonical_names(pd.Series(["phq9", "GAD 7", None, "BDI"])).tolist()
    ['PHQ-9', 'GAD-7', None, None]
    """
    codes, uniques = pd.factorize(s)
    names = np.array([instruments.canonical_name(str(u)) for u in uniques] + [None], dtype=object)
    return pd.Series(names[codes], index=s.index, dtype=object)


def _canonical(value: Any) -> str:
    if isinstance(value, instruments.Instrument):
        return value.name
    return instruments.canonical_name(str(value)) or str(value)


def select_instrument(
    frame: pd.DataFrame,
    instrument: Any,
    *,
    func: Callable | str,
    many: bool = False,
    column: str = "instrument",
) -> tuple[pd.DataFrame, Any]:
    """The library's one instrument rule: keep the rows of the chosen instrument(s).

    - ``instrument=None``: the table must hold exactly one instrument (or have no
      ``instrument`` column); several raise ConfigError naming those found and how to choose.
      No silent pooling, no silent choice.
    - ``instrument="PHQ-9"`` (any registered spelling): keep that instrument's rows; none
      found raises DataError naming the instruments present.
    - ``many=True`` also accepts a list of instruments (rows of each kept, stacked).

    Returns the rows kept (the frame itself when nothing is dropped) and the canonical name
    (``None`` when the table has no instrument column and none was given; a tuple of names
    for a list).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"instrument": ["PHQ-9", "GAD-7"], "total": [12, 9]})
    >>> select_instrument(t, "phq9", func="compare")[1]
    'PHQ-9'
    >>> select_instrument(t, None, func="compare")
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: iop.compare: the table holds 2 instruments ('GAD-7', \
'PHQ-9') and instrument=None asks for exactly one. Choose one with instrument='GAD-7'.
    """
    has_column = column in frame.columns
    if has_column:
        values = pd.unique(frame[column].dropna())
        lookup = {v: _canonical(v) for v in values}
        present = sorted(set(lookup.values()))
    else:
        lookup, present = {}, []
    if instrument is None:
        if len(present) > 1:
            shown = ", ".join(repr(p) for p in present)
            several = " (or a list of them)" if many else ""
            raise ConfigError(
                f"{public_name(func)}: the table holds {len(present)} instruments ({shown}) and "
                f"instrument=None asks for exactly one. Choose one with "
                f"instrument={present[0]!r}{several}."
            )
        return frame, (present[0] if present else None)
    wanted_list = list(instrument) if isinstance(instrument, (list, tuple)) else [instrument]
    if len(wanted_list) > 1 and not many:
        raise ConfigError(
            f"The 'instrument' parameter of {public_name(func)} must be one instrument name. "
            f"Got {instrument!r} instead."
        )
    wanted = [_canonical(w) for w in wanted_list]
    if not has_column:
        if len(wanted) > 1:
            raise DataError(
                f"{public_name(func)}: instrument={instrument!r} names several instruments but "
                f"the table has no {column!r} column to tell their rows apart."
            )
        return frame, wanted[0]
    missing = [w for w in wanted if w not in present]
    unknown = [w for w in missing if instruments.canonical_name(str(w)) is None]
    if unknown:
        import difflib

        known = instruments.names()
        close = difflib.get_close_matches(str(unknown[0]), known, n=1, cutoff=0.5)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"The 'instrument' parameter of {public_name(func)} names {unknown[0]!r}, which is "
            f"not a registered instrument and not in the table.{guess} Registered: {known}; in "
            f"the table: {present}. Register your own with iop.instruments.register(...)."
        )
    if missing:
        raise DataError(
            f"{public_name(func)}: no rows for instrument(s) {missing}. Instruments present: "
            f"{present}."
        )
    keep = [v for v, c in lookup.items() if c in wanted]
    out = (
        frame
        if len(keep) == len(lookup) and not frame[column].isna().any()
        else (frame[frame[column].isin(keep).to_numpy()])
    )
    name = tuple(wanted) if isinstance(instrument, (list, tuple)) else wanted[0]
    return out, name
