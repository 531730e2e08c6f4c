"""Visit rows with several questionnaires side by side (one row per visit).

An EHR export often has one row per visit: identifiers, the visit date, then ``PHQ9 Q1`` ..
``PHQ9 Q9``, ``PHQ9 Total``, ``GAD7 Q1`` .. ``GAD7 Q7``, ``GAD7 Total``. The mapping's
``[instruments.<name>]`` tables say which columns belong to which questionnaire::

    [instruments."PHQ-9"]
    items = "PHQ9 Q{n}"          # or a list of the 9 column names, in item order
    total = "PHQ9 Total"         # optional
    date = "PHQ9 Date"           # optional; else the row's assessment_date
    [instruments."GAD-7"]
    items = ["GAD7 Q1", "GAD7 Q2", "GAD7 Q3", "GAD7 Q4", "GAD7 Q5", "GAD7 Q6", "GAD7 Q7"]
    total = "GAD7 Total"

:func:`visits_to_long` turns each visit row into one administration per instrument that has
any item or total on that row (see ``docs/data-format.md``, "Visit rows"). A file of one
questionnaire without an instrument column needs only ``[options] instrument = "PHQ-9"``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._names import did_you_mean, nearest, normalize_name
from .readers import given_cells

__all__ = ["read_instruments", "visits_to_long", "applies", "name_item_columns"]

#: The keys of an ``[instruments.<name>]`` table.
KEYS = ("items", "total", "date")


def _registered(name, where: str, entry: str) -> str:
    """The canonical name of a registered instrument; ConfigError naming the nearest ones."""
    from .. import instruments as _inst

    c = _inst.canonical_name(str(name))
    if c is None:
        known = _inst.names()
        raise ConfigError(
            f"{where}: {entry}: {str(name)!r} is not a registered instrument."
            f"{did_you_mean(name, known)} Use one of {known}, or register it first with "
            "iop.instruments.register()."
        )
    return c


def read_instruments(table: dict, options: dict, where: str) -> dict[str, dict]:
    """Check the ``[instruments]`` section and ``options.instrument`` of a mapping.

    Returns ``{canonical name: {"items": [columns], "total": column or None, "date": column
    or None}}`` in the mapping's order. Raises :class:`~iop_outcomes.ConfigError` for an
    unknown instrument (with the nearest names), an unknown key, an item list whose length is
    not the instrument's number of items, a table with neither items nor total, the same
    instrument twice, or ``options.instrument`` together with ``[instruments]``.

    Examples
    --------
    >>> read_instruments({"phq9": {"items": "PHQ9 Q{n}", "total": "PHQ9 Total"}}, {}, "Mapping")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'PHQ-9': {'items': ['PHQ9 Q1', 'PHQ9 Q2', 'PHQ9 Q3', 'PHQ9 Q4', 'PHQ9 Q5', 'PHQ9 Q6',
     'PHQ9 Q7', 'PHQ9 Q8', 'PHQ9 Q9'], 'total': 'PHQ9 Total', 'date': None}}
    """
    from .. import instruments as _inst

    fixed = options.get("instrument")
    if fixed is not None:
        if not isinstance(fixed, str):
            raise ConfigError(
                f"{where}: [options] instrument must be an instrument name such as 'PHQ-9'. "
                f"Got {fixed!r} instead."
            )
        _registered(fixed, where, f'[options] instrument = "{fixed}"')
        if table:
            raise ConfigError(
                f"{where}: [options] instrument = {fixed!r} and [instruments] both say which "
                "questionnaire a row holds. Use [options] instrument for a file of one "
                "questionnaire, [instruments.<name>] for visit rows with their columns."
            )
    out: dict[str, dict] = {}
    for name, spec in table.items():
        head = f"[instruments.{name!r}]".replace("'", '"')
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{where}: {head} must be a table with items, total and date. Got "
                f"{type(spec).__name__} instead."
            )
        canon = _registered(name, where, head)
        if canon in out:
            raise ConfigError(f"{where}: {head}: {canon} is given twice in [instruments].")
        for k in spec:
            if k not in KEYS:
                raise ConfigError(
                    f"{where}: {head}: unknown key {k!r}.{did_you_mean(k, KEYS)} Known keys: "
                    f"{', '.join(KEYS)}."
                )
        for k in ("total", "date"):
            if spec.get(k) is not None and not isinstance(spec[k], str):
                raise ConfigError(
                    f"{where}: {head} {k} must be a column name. Got {spec[k]!r} instead."
                )
        n_items = _inst.get(canon).n_items
        items = spec.get("items", [])
        if isinstance(items, str):
            if "{n}" not in items:
                raise ConfigError(
                    f"{where}: {head} items = {items!r}: a pattern needs {{n}} where the item "
                    'number goes (e.g. "PHQ9 Q{n}"), or give the list of item columns.'
                )
            items = [items.replace("{n}", str(i)) for i in range(1, n_items + 1)]
        if not isinstance(items, list) or not all(isinstance(c, str) for c in items):
            raise ConfigError(
                f"{where}: {head} items must be a list of column names or a pattern such as "
                f'"PHQ9 Q{{n}}". Got {items!r} instead.'
            )
        if items and len(items) != n_items:
            raise ConfigError(
                f"{where}: {head} lists {len(items)} item column(s); {canon} has {n_items} "
                "items. List them all, in item order (a column missing from your file cannot "
                "stand for an item; leave items out when the file has totals only)."
            )
        if not items and spec.get("total") is None:
            raise ConfigError(f"{where}: {head} needs items, a total, or both.")
        out[canon] = {"items": list(items), "total": spec.get("total"), "date": spec.get("date")}
    return out


def applies(mp) -> bool:
    """Whether the mapping describes visit rows (``[instruments]`` or ``options.instrument``)."""
    return bool(mp.instruments) or mp.options.get("instrument") is not None


#: Cells that hold something (not empty, not a missing-value spelling).
_given = given_cells


def visits_to_long(df: pd.DataFrame, mp, yours: list, source: str):
    """Visit rows (contract column names, after ``mp.apply``) to one row per administration.

    ``yours`` are the file's own column names (in the order of ``df``'s columns), for messages
    and the ledger. Returns ``(long, origin, notes)``: ``origin`` (``source_row``,
    ``source_column``) as :func:`~iop_outcomes.io.mapping.wide_to_long` gives it, or ``None``
    when there is no reshape (``options.instrument`` alone); ``notes`` are ``(column, text)``
    file-level notes.
    """
    df = df.reset_index(drop=True)
    where = mp.where[0].upper() + mp.where[1:]  # "Mapping file 'm.toml'", as read_mapping says
    own = dict(zip(df.columns, (str(c) for c in yours), strict=True))  # contract -> yours
    fixed = mp.options.get("instrument")
    if fixed is not None:
        from ..instruments import canonical_name

        if "instrument" in df.columns:
            return (
                df,
                None,
                [
                    (
                        own["instrument"],
                        f"{where}: [options] instrument = {fixed!r} not used: the file has an "
                        f"instrument column ({own['instrument']!r})",
                    )
                ],
            )
        return df.assign(instrument=canonical_name(fixed)), None, []

    # every listed column must be in the file
    listed = []  # (instrument, key, your column as listed, contract name)
    for inst, spec in mp.instruments.items():
        cols = [("items", c) for c in spec["items"]]
        cols += [(k, spec[k]) for k in ("total", "date") if spec[k] is not None]
        for key, c in cols:
            listed.append((inst, key, c, mp.target(c)))
    missing = [c for _i, _k, c, t in listed if t not in own]
    if missing:
        names = [str(c) for c in yours]
        near = {c: nearest(c, names) for c in missing}
        shown = "; ".join(
            f"{c!r}" + (f" (nearest: {', '.join(map(repr, near[c]))})" if near[c] else "")
            for c in missing
        )
        raise ConfigError(
            f"{where}: [instruments] names column(s) not in {source}: {shown}. Correct the "
            "names in the mapping to the columns as written in the file."
        )
    used = {t for *_x, t in listed}
    clash = [c for c in df.columns if c not in used and _filled_by_us(c)]
    if clash:
        raise ConfigError(
            f"{where}: [instruments] fills instrument, total and item_N for each "
            f"administration, but {source} also has the column(s) "
            f"{', '.join(repr(own[c]) for c in clash)} read as {', '.join(clash)}. Leave them "
            "out of [columns], or list them under [instruments]."
        )
    base = [c for c in df.columns if c not in used or c == "assessment_date"]  # the row date stays
    parts, origins = [], []
    for order, (inst, spec) in enumerate(mp.instruments.items()):
        score = [mp.target(c) for c in spec["items"]]
        if spec["total"] is not None:
            score.append(mp.target(spec["total"]))
        given = np.logical_or.reduce([_given(df[c]) for c in score])
        keep = np.flatnonzero(given)
        part = df.iloc[keep][base].reset_index(drop=True)
        part["instrument"] = inst
        for i, c in enumerate(spec["items"], start=1):
            part[f"item_{i}"] = df[mp.target(c)].to_numpy()[keep]
        if spec["total"] is not None:
            part["total"] = df[mp.target(spec["total"])].to_numpy()[keep]
        if spec["date"] is not None:
            d = df[mp.target(spec["date"])].iloc[keep].astype(object)
            if "assessment_date" in df.columns:  # the instrument's own date, else the row's
                row_date = df["assessment_date"].iloc[keep].astype(object)
                d = d.where(_given(d), row_date)
            part["assessment_date"] = d.to_numpy()
        parts.append(part)
        shown = [own[mp.target(c)] for c in spec["items"]]
        text = f"{shown[0]} … {shown[-1]}" if len(shown) > 1 else ", ".join(shown)
        extra = [own[mp.target(spec[k])] for k in ("total", "date") if spec[k] is not None]
        origins.append(
            pd.DataFrame(
                {
                    "source_row": keep + 1,
                    "source_column": ", ".join([t for t in [text] if t] + extra),
                    "instrument": inst,
                    "_order": order,
                }
            )
        )
    long = pd.concat(parts, ignore_index=True)
    origin = pd.concat(origins, ignore_index=True)
    srt = np.lexsort((origin["_order"].to_numpy(), origin["source_row"].to_numpy()))
    long = long.iloc[srt].reset_index(drop=True)
    origin = origin.iloc[srt].drop(columns="_order").reset_index(drop=True)
    origin.attrs["item_columns"] = {
        inst: {f"item_{i}": own[mp.target(c)] for i, c in enumerate(spec["items"], start=1)}
        for inst, spec in mp.instruments.items()
    }
    notes = []
    n_empty = len(df) - origin["source_row"].nunique()
    if n_empty:
        notes.append(
            (
                "*",
                f"{n_empty:,} visit row(s) have no item or total of any instrument in "
                "[instruments] and produce no administration (the ledger has one row per "
                "administration)",
            )
        )
    return long, origin, notes


def name_item_columns(problems: pd.DataFrame, origin) -> pd.DataFrame:
    """Problems of ``item_N`` on visit rows name your column (``item_2 (your column 'PHQ9
    Q2')``), as messages do for a column renamed by ``[columns]``; ``column`` is your column."""
    items = origin.attrs.get("item_columns") if origin is not None else None
    if not items or not len(problems):
        return problems
    pos = problems["_pos"].to_numpy()
    col = problems["column"].astype(object).to_numpy()
    flagged = np.flatnonzero(
        (pos >= 0) & np.array([str(c).startswith("item_") for c in col], dtype=bool)
    )
    if not len(flagged):
        return problems
    inst = origin["instrument"].to_numpy()[pos[flagged]]
    out = {k: problems[k].astype(object).to_numpy().copy() for k in ("column", "reason", "check")}
    named: dict[tuple[str, str], str] = {}  # (text, item) -> text naming your column, per distinct

    def name(text: str, c: str, yours: str) -> str:
        if (text, yours) not in named:
            label = f"{c} (your column {yours!r})"
            pat = rf"(?<![\w']){re.escape(c)}(?![\w'])"
            named[text, yours] = re.sub(pat, lambda _m: label, text, count=1)
        return named[text, yours]

    for j, i in zip(flagged, inst, strict=True):
        c = str(col[j])
        yours = items[i].get(c)
        if yours is None or normalize_name(yours) == c:
            continue
        out["reason"][j] = name(str(out["reason"][j]), c, yours)
        out["check"][j] = name(str(out["check"][j]), c, yours)
        out["column"][j] = yours
    return problems.assign(
        **{k: pd.Categorical(v, categories=pd.unique(v[pd.notna(v)])) for k, v in out.items()}
    )


def _filled_by_us(column: str) -> bool:
    n = normalize_name(column)
    return n in ("instrument", "total") or (n.startswith("item_") and n[5:].isdigit())
