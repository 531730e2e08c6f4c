"""Cells read once per distinct value: identifiers and labels as text, numbers (with decimal
commas and answer texts), label classification; shared by the validation steps of
:func:`iop_outcomes.load`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...exceptions import ConfigError
from ..readers import NULL_VALUES, factorize, unique_map

#: Contract columns read as numbers (with the item columns ``item_N``).
NUMERIC_COLUMNS = (
    "total",
    "week",
    "age",
    "attendance_hours",
    "sessions_attended",
    "sessions_scheduled",
)


_COMMA_NUMBER = re.compile(r"\s*[+-]?\d+,\d+\s*", re.ASCII)


_WHOLE_NUMBER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)


def decimal_option(mp) -> str | None:
    """``options.decimal`` of the mapping: ``"."``, ``","`` or None (detect)."""
    decimal = mp.options.get("decimal")
    if decimal not in (None, ".", ","):
        raise ConfigError(
            "The 'decimal' option of the mapping must be '.' or ',' (TOML: [options] decimal = "
            f'","). Got {decimal!r} instead.'
        )
    return decimal


def decimal_commas(df: pd.DataFrame, decimal: str | None, delimiter: str | None):
    """Numbers written with a decimal comma (``12,5``) in the numeric contract columns.

    With ``decimal=","`` (``options.decimal`` in the mapping) every such value is read as a
    number. Without the option, a ``;``-delimited file's numeric column is read so when all
    its values are numbers with a decimal comma (whole numbers such as ``12`` may stand among
    them). A ``,``-delimited file has no decimal commas (``12,5`` is two fields), unless the
    option says so for quoted values. Returns the frame and the columns converted.
    """
    if decimal == "." or (decimal is None and delimiter != ";"):
        return df, []
    converted = []
    for c in df.columns:
        if not (c in NUMERIC_COLUMNS or re.fullmatch(r"item_\d+", str(c))):
            continue
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        codes, uniques = factorize(col)
        uniques = list(uniques)
        comma = [isinstance(u, str) and _COMMA_NUMBER.fullmatch(u) is not None for u in uniques]
        if not any(comma):
            continue
        numbers = all(
            k or (isinstance(u, str) and (_WHOLE_NUMBER.fullmatch(u) or u.strip() in NULL_TEXT))
            for u, k in zip(uniques, comma, strict=True)
        )
        if not numbers and decimal is None:
            continue  # detected only when the whole column reads so
        texts = [
            u.strip().replace(",", ".") if k else u for u, k in zip(uniques, comma, strict=True)
        ]
        if numbers:  # a numeric column
            val = np.array([read_number(t)[0] for t in texts] + [np.nan])
            new = pd.Series(val[codes], index=col.index)
        else:  # numbers and other text: as text, so the other values are reported as written
            new_codes, cats = pd.factorize(pd.Series(texts + [None], dtype=object))
            new = pd.Series(
                pd.Categorical.from_codes(
                    new_codes[codes], categories=pd.Index(cats, dtype=object)
                ),
                index=col.index,
            )
        df = df.assign(**{c: new})
        converted.append(str(c))
    return df, converted


def _text_id(x) -> str | None:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (float, np.floating)):
        return str(int(x)) if float(x).is_integer() else repr(float(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    t = str(x).strip()
    return t or None


def as_text(s: pd.Series) -> pd.Series:
    """Identifiers as text, converted once per distinct value.

    Integral floats (Excel's ``12.0``) become ``'12'``; text is stripped; empty
    text is missing. The same conversion is used for every key that is joined.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):  # converted per category, not per row
        return as_label(s).astype("str")
    if pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s):
        wide = "UInt64" if pd.api.types.is_unsigned_integer_dtype(s) else "Int64"  # ids >= 2^63
        return s.astype(wide).astype("str").where(s.notna(), None)
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        a = pa.array(s)  # no copy for pyarrow-backed text; checked by Arrow's regex engine
        if not pc.any(pc.or_(pc.match_substring_regex(a, r"^\s|\s$"), pc.equal(a, ""))).as_py():
            return s  # clean already: no copy of 10^7 strings
        out = s.str.strip()
        return out.where(out.notna() & (out != ""), None)
    return unique_map(s, _text_id).astype("str")


def as_label(s: pd.Series) -> pd.Series:
    """A label column as a categorical of texts (same conversion as :func:`as_text`).

    Categoricals (CSV labels arrive dictionary-encoded) are converted per category, never per row.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        texts = [_text_id(c) for c in s.cat.categories]
        # sorted, as astype("category") sorts: a CSV and a DataFrame of the same data load alike
        cats = pd.Index(sorted({t for t in texts if t is not None}), dtype="str")
        pos = {t: i for i, t in enumerate(cats)}
        remap = np.array([pos.get(t, -1) for t in texts] + [-1], dtype=np.int32)
        codes = s.cat.codes.to_numpy()
        new = remap[np.where(codes >= 0, codes, len(texts))]
        return pd.Series(pd.Categorical.from_codes(new, categories=cats), index=s.index)
    return as_text(s).astype("category")


#: A number written as text: decimal digits, optional point, optional exponent. Nothing else
#: is read as a number (not ``0x1``, ``1_000``, ``inf``, ``١``, which Python's float() takes).
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


NULL_TEXT = frozenset(NULL_VALUES)


def read_number(v, labels: dict | None = None) -> tuple[float, bool]:
    """One cell as (number, given). Not-a-number cells are (NaN, True); blanks and the
    readers' missing-value spellings (``NA``, ``nan``, ``NULL``, ...) are (NaN, False)."""
    if isinstance(v, (bool, np.bool_)):  # True/False are not answers or scores
        return np.nan, True
    if isinstance(v, (int, np.integer)):
        try:
            return float(v), True
        except OverflowError:  # an integer beyond the float range
            return np.nan, True
    if isinstance(v, (float, np.floating)):
        return (float(v) if np.isfinite(v) else np.nan), not np.isnan(v)
    if not isinstance(v, str):  # bytes, lists, dates ... in an object column
        return np.nan, True
    s = v.strip()
    if s in NULL_TEXT:
        return np.nan, False
    if labels:
        key = " ".join(s.lower().split())
        if key in labels:
            return float(labels[key]), True
    if _DECIMAL.fullmatch(s):
        return float(s), True
    return np.nan, True


def read_numbers(raw: pd.Series, labels: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A column as (numbers, given), converted once per distinct value (see :func:`read_number`).

    Numeric columns are taken as they are; text (and object) columns accept decimal numbers
    and, with ``labels``, the instrument's answer texts. The same rule holds for every input
    format, so a CSV and a DataFrame of the same values load alike.
    """
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        v = raw.to_numpy(dtype=float, na_value=np.nan, copy=True)
        given = ~np.isnan(v)
        v[np.isinf(v)] = np.nan  # 'inf' (which a CSV reader types as a float) is no score
        return v, given
    codes, uniques = factorize(raw)
    val = np.full(len(uniques) + 1, np.nan)  # the extra last slot serves code -1 (missing)
    given = np.zeros(len(uniques) + 1, dtype=bool)
    for i, u in enumerate(uniques):
        val[i], given[i] = read_number(u, labels)
    return val[codes], given[codes]


def nullable(x: np.ndarray, dtype) -> pd.arrays.IntegerArray:
    """Whole numbers held as floats (NaN = missing) as a pandas nullable integer array."""
    na = np.isnan(x)
    return pd.arrays.IntegerArray(np.where(na, 0, x).astype(dtype), na)


def classify(s: pd.Series, func):
    """Classify each distinct value once: ``func(v) -> (kind, canonical)``.

    Kinds: ``ok`` (as given), ``repair`` (a built-in synonym), ``mapped`` (the user's
    ``[values.<column>]``: declared, not a repair), ``bad``.

    Returns per-row ``kind`` ("na" for missing), the canonical values as a
    categorical, and ``texts(mask)``: the "'raw' read as 'canonical'" texts of
    the masked rows, all taken from the distinct values, so 10^7 rows cost no
    more than their few labels.
    """
    codes, uniques = factorize(s)
    res = [func(u) for u in uniques]
    kind_names = ["ok", "repair", "bad", "na", "mapped"]  # a categorical: one byte per row
    kinds_u = np.array([kind_names.index(r[0]) for r in res] + [3], dtype=np.int8)
    vals_u = [r[1] for r in res]
    # sorted, as as_label and astype("category") sort: the same rows in another order load
    # alike (the first level is the default reference group of every comparison)
    cats = pd.Index(sorted({v for v in vals_u if v is not None}), dtype="str")
    pos = {v: i for i, v in enumerate(cats)}
    vcode_u = np.array([pos.get(v, -1) for v in vals_u] + [-1], dtype=np.int32)
    text_u = np.array(
        [f"{u!r} read as {v!r}" for u, v in zip(uniques, vals_u, strict=True)] + [""], dtype=object
    )
    c = np.where(codes >= 0, codes, len(res))

    def texts(mask: np.ndarray) -> np.ndarray:
        return text_u[c[mask]]

    kind = pd.Categorical.from_codes(kinds_u[c], categories=kind_names)
    return kind, pd.Categorical.from_codes(vcode_u[c], categories=cats), texts


#: the identifier columns (stored as codes by :func:`id_codes`)
ID_COLUMNS = ("patient_id", "episode_id")


def id_codes(data: pd.DataFrame) -> None:
    """Store the patient and episode ids as integer codes into their sorted texts (pandas
    ``category``), once, here: every analysis groups and matches rows by them (a million
    episodes are ~18 million rows), and works on the codes rather than hashing the texts
    again; the ids read, compare, sort and print as the same texts, in less memory.

    >>> d = pd.DataFrame({"patient_id": ["b", "a", "b"]})
    >>> id_codes(d)
    >>> d["patient_id"].cat.codes.tolist(), d["patient_id"].tolist()
    ([1, 0, 1], ['b', 'a', 'b'])
    """
    for c in ID_COLUMNS:
        if c in data and not isinstance(data[c].dtype, pd.CategoricalDtype):
            data[c] = pd.Categorical(data[c])
