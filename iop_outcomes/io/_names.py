"""Names compared loosely, and suggestions for mistyped ones: shared by the mapping, visit-row
and REDCap readers and :func:`iop_outcomes.load` (a private module with public names, so that
:mod:`~iop_outcomes.io.mapping` and :mod:`~iop_outcomes.io.visits` need not import each other).
"""

from __future__ import annotations

import difflib
import json
import re

__all__ = ["name_key", "normalize_name", "entry_text", "nearest", "did_you_mean", "ARM_SUFFIX"]

#: A REDCap event name's ``_arm_N`` suffix (``exit_arm_1``), dropped before a label is compared.
ARM_SUFFIX = re.compile(r"[_\s]*arm[_\s]*\d+$")


def name_key(s: str) -> str:
    """A name compared loosely: case, spaces, '_', '-', '.' and '/' ignored ('Intake_Date' -> 'intakedate')."""
    return re.sub(r"[\s_\-./]+", "", str(s)).lower()


def normalize_name(col: str) -> str:
    """Contract form of a column name: lower case, separators as ``_``.

    Examples
    --------
    >>> normalize_name(" Patient ID "), normalize_name("Item-3"), normalize_name("item3")
    ('patient_id', 'item_3', 'item_3')
    """
    s = re.sub(r"[\s\-./]+", "_", str(col).strip().lstrip("\ufeff")).lower().strip("_")
    m = re.fullmatch(r"item_?(\d+)", s)
    return f"item_{int(m.group(1))}" if m else s


def entry_text(section: str, key, value) -> str:
    """A mapping entry as TOML (``[columns] "Client ID" = "patient_id"``), for messages.

    Examples
    --------
    >>> entry_text("columns", "Client ID", "patient_id")
    '[columns] "Client ID" = "patient_id"'
    """
    q = lambda x: json.dumps(x if isinstance(x, str) else str(x), ensure_ascii=False)  # noqa: E731
    return f"[{section}] {q(key)} = {q(value)}"


def nearest(word, names, cutoff: float = 0.6) -> list[str]:
    """Up to three of ``names`` closest to ``word`` (difflib, case ignored), as written.

    Examples
    --------
    >>> nearest("patient_di", ["patient_id", "episode_id", "total"])
    ['patient_id']
    """
    keyed: dict[str, str] = {}
    for n in names:
        keyed.setdefault(str(n).lower(), str(n))
    near = difflib.get_close_matches(str(word).lower(), list(keyed), n=3, cutoff=cutoff)
    return [keyed[m] for m in near]


def did_you_mean(word, names, fmt: str = "{!r}", cutoff: float = 0.6, aside=False) -> str:
    """`` Did you mean 'x'?`` (``aside``: `` (did you mean 'x'?)``), or ``''`` when none is near.

    Examples
    --------
    >>> did_you_mean("totl", ["total", "week"])
    " Did you mean 'total'?"
    """
    near = nearest(word, names, cutoff)
    if not near:
        return ""
    names = " or ".join(fmt.format(n) for n in near)
    return f" (did you mean {names}?)" if aside else f" Did you mean {names}?"
