"""Seeded mutations of valid input files, and the verdict of ``iop.load`` on each (issue 17).

Shared by ``tests/test_fuzz.py`` (a few hundred cases, in the suite) and ``bench/fuzz_load.py``
(10,000 cases, each in its own process with a time limit; outcome counts in bench/RESULTS.md).

A case is ``(seed, format, mutation)``. :func:`make_case` writes the mutated input into a folder
and returns it with an *oracle*: the rows that must not be accepted (a planted ``"0x1"``,
``True`` or out-of-instrument item column that makes a total ambiguous), when the mutation
plants one. :func:`run_case` loads it and classifies the outcome:

``loaded``       a LoadResult whose ledger accounts for every row and whose planted rows were
                 not accepted;
``clean_error``  an :class:`~iop_outcomes.IOPError` whose message names the input;
``unexpected``   any other exception, or a clean error that does not name the input;
``ledger``       the ledger invariant failed (one row per input row, dispositions add up);
``accepted``     a planted row was accepted.
"""

from __future__ import annotations

import random
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import iop_outcomes as iop

FORMATS = ["csv", "tsv", "xlsx", "parquet", "sav", "dta", "frame"]
TEXT_MUTATIONS = [
    "byte_flip",
    "truncate",
    "bom",
    "cr_only",
    "quoted_newlines",
    "nul",
    "long_field",
    "unicode",
]
CELL_MUTATIONS = [
    "hex_item",
    "bool_item",
    "nan_text_item",
    "huge_number",
    "huge_id",
    "impossible_date",
    "far_dates",
    "blank_int",
    "item_out_of_instrument",
    "item_huge_header",
    "rename_column",
    "duplicate_column",
    "delete_column",
    "object_cells",
    "nul_in_number",
    "negative_zero_id",
    "categorical_text",
    "long_cell",
    "repeated_rows",
    "far_typed_dates",
    "span_dates",
]
MUTATIONS = TEXT_MUTATIONS + CELL_MUTATIONS
TEXT_FORMATS = ("csv", "tsv")


def base_frame(seed: int = 3, n_episodes: int = 6) -> pd.DataFrame:
    """A small valid assessment table (synthetic, PHQ-9 and GAD-7 items, episode columns)."""
    return iop.synth.generate(n_episodes=n_episodes, seed=seed).data.reset_index(drop=True)


def _items(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("item_")]


def _plant(df: pd.DataFrame, rng: random.Random, mutation: str) -> tuple[pd.DataFrame, set]:
    """Apply a cell/column mutation to a copy of ``df``; returns it and the 0-based rows that
    must not be accepted."""
    df = df.copy()
    bad: set[int] = set()
    n = len(df)
    row = rng.randrange(n)
    phq = df.index[df["instrument"] == "PHQ-9"].tolist() or [row]
    if mutation in ("hex_item", "bool_item", "nul_in_number"):
        r = rng.choice(phq)
        col = f"item_{rng.randint(1, 9)}"
        value = {"hex_item": "0x1", "bool_item": True, "nul_in_number": "2\x00"}[mutation]
        df[col] = df[col].astype(object)
        df.at[r, col] = value
        if mutation != "nul_in_number":
            bad.add(r)
    elif mutation == "nan_text_item":
        col = f"item_{rng.randint(1, 9)}"
        df[col] = df[col].astype(object)
        df.at[rng.choice(phq), col] = rng.choice(["nan", "NaN", "NA"])
    elif mutation == "huge_number":
        col = rng.choice([*_items(df), "age", "week", "sessions_attended"])
        df[col] = df[col].astype(object)
        df.at[row, col] = rng.choice(["1e308", "99999999999999999999999", "-1e400", "inf"])
        if col.startswith("item_") and df.loc[row, "instrument"] in ("PHQ-9", "GAD-7"):
            bad.add(row)
    elif mutation == "huge_id":
        col = rng.choice(["patient_id", "episode_id"])
        ids = {v: 2**63 + 7 + i for i, v in enumerate(pd.unique(df[col]))}
        df[col] = df[col].map(ids).astype("uint64")
    elif mutation == "negative_zero_id":
        df["patient_id"] = df["patient_id"].astype(object)
        df.at[row, "patient_id"] = rng.choice([-0.0, float("nan"), -1, 0])
    elif mutation == "impossible_date":
        col = rng.choice(["assessment_date", "admit_date", "discharge_date"])
        df[col] = df[col].astype(object)
        df.at[row, col] = rng.choice(["2025-02-30", "0000-00-00", "31/31/2025", "2025-13-01"])
    elif mutation == "far_dates":
        df["admit_date"] = df["admit_date"].astype(object)
        df["discharge_date"] = df["discharge_date"].astype(object)
        df.at[row, "admit_date"] = rng.choice(["0001-01-01", "1", 2])
        df.at[row, "discharge_date"] = rng.choice(["9999-12-31", "2958465", 2958465])
    elif mutation == "blank_int":
        col = rng.choice(["age", "sessions_scheduled", "sessions_attended"])
        df[col] = df[col].astype(object)
        df.at[row, col] = None
    elif mutation == "item_out_of_instrument":
        col = rng.choice(["item_0", "item_10", "item_12"])
        df[col] = pd.NA
        r = rng.choice(phq)
        df[col] = df[col].astype(object)
        df.at[r, col] = 2
        bad.add(r)  # a PHQ-9 row with a tenth answer: which total did the clinic mean?
    elif mutation == "long_cell":  # a 10,000-60,000 character value in any column
        col = rng.choice(list(df.columns))
        df[col] = df[col].astype(object)
        char = rng.choice(["x", "1", "0", " ", "é"])
        df.at[row, col] = char * rng.randint(10_000, 60_000)
        own_item = col in {f"item_{i}" for i in range(1, 8)}  # PHQ-9 and GAD-7 both have 1-7
        if own_item and char in ("x", "1", "é"):  # not a number, or far out of range
            bad.add(row)
    elif mutation == "repeated_rows":  # every row many times: the duplicate check's worst case
        df = pd.concat([df] * rng.randint(5, 40), ignore_index=True)
    elif mutation == "far_typed_dates":  # typed dates that pandas' nanoseconds cannot hold
        for col in ("admit_date", "discharge_date", "assessment_date"):
            df[col] = df[col].astype("datetime64[s]")
        df.at[row, "admit_date"] = np.datetime64("0001-01-01", "s")
        df.at[row, "discharge_date"] = np.datetime64("9999-12-31", "s")
    elif mutation == "span_dates":  # inside pandas' range, but centuries apart
        df.at[row, "admit_date"] = pd.Timestamp(rng.choice(["1678-01-01", "1700-06-30"]))
        df.at[row, "discharge_date"] = pd.Timestamp(rng.choice(["2262-01-01", "2200-01-01"]))
    elif mutation == "categorical_text":  # dictionary-encoded text (Parquet, pandas category)
        for col in ("patient_id", "episode_id", "site", "instrument", "format"):
            df[col] = df[col].astype("category")
    elif mutation == "item_huge_header":
        df[rng.choice(["item_100000", "item_99999999"])] = 1
    elif mutation == "rename_column":
        col = rng.choice(list(df.columns))
        df = df.rename(columns={col: rng.choice(["", " ", "Patient ID", col.upper(), "ïtem_1"])})
    elif mutation == "duplicate_column":
        col = rng.choice(list(df.columns))
        df.insert(rng.randrange(len(df.columns)), f"{col}__dup", df[col])
        df = df.rename(columns={f"{col}__dup": col})
    elif mutation == "delete_column":
        df = df.drop(columns=rng.choice(list(df.columns)))
    elif mutation == "object_cells":
        col = rng.choice(["site", "patient_id", "item_1", "format"])
        df[col] = df[col].astype(object)
        df.at[row, col] = rng.choice([[1, 2], b"\xff\xfe", {"a": 1}, (3,)])
        if col == "item_1" and df.loc[row, "instrument"] in ("PHQ-9", "GAD-7"):
            bad.add(row)
    return df, bad


def _text_mutate(data: bytes, rng: random.Random, mutation: str) -> bytes:
    b = bytearray(data)
    if mutation == "byte_flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif mutation == "truncate":
        b = b[: rng.randrange(1, len(b))]
    elif mutation == "bom":
        b = bytearray(rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + b
    elif mutation == "cr_only":
        b = bytearray(bytes(b).replace(b"\r\n", b"\n").replace(b"\n", b"\r"))
    elif mutation == "quoted_newlines":
        lines = bytes(b).split(b"\n")
        out = [lines[0]]
        for ln in lines[1:]:
            out.append(ln + b',"a\nb\n' + b"x\n" * rng.randint(0, 50) + b'"' if ln else ln)
        b = bytearray(b"\n".join(out))
    elif mutation == "nul":
        for _ in range(rng.randint(1, 5)):
            b.insert(rng.randrange(len(b)), 0)
    elif mutation == "long_field":
        lines = bytes(b).split(b"\n")
        i = rng.randrange(1, max(2, len(lines) - 1))
        lines[i] = lines[i] + b"," + b"x" * rng.randint(10_000, 60_000)
        b = bytearray(b"\n".join(lines))
    elif mutation == "unicode":
        text = bytes(b).decode("utf-8", errors="replace")
        odd = ["\u200b", "\u202e", "\ufeff", "é", "\U0001f600", "\u00a0", "ß", "\u2028"]
        chars = list(text)
        for _ in range(rng.randint(1, 20)):
            chars.insert(rng.randrange(len(chars)), rng.choice(odd))
        b = bytearray("".join(chars).encode("utf-8"))
    return bytes(b)


def make_case(seed: int, fmt: str, mutation: str, folder: Path, base: pd.DataFrame):
    """Write case ``seed`` into ``folder``; returns (source, planted rows)."""
    rng = random.Random(seed)
    if mutation in TEXT_MUTATIONS and fmt not in TEXT_FORMATS:
        fmt = rng.choice(TEXT_FORMATS)
    df, bad = (base, set()) if mutation in TEXT_MUTATIONS else _plant(base, rng, mutation)
    if fmt == "frame":
        return df, bad
    path = folder / f"case{seed}.{fmt}"
    try:
        _write(df, path, fmt, rng, mutation)
    except Exception:  # the format cannot hold this value (NUL in XLSX)
        path = path.with_suffix(".csv")
        _write(df, path, "csv", rng, mutation)
    return path, bad


def _write(df: pd.DataFrame, path: Path, fmt: str, rng: random.Random, mutation: str) -> None:
    if fmt in TEXT_FORMATS:
        text = df.to_csv(index=False, sep="," if fmt == "csv" else "\t").encode("utf-8")
        if mutation in TEXT_MUTATIONS:
            text = _text_mutate(text, rng, mutation)
        path.write_bytes(text)
    elif fmt == "xlsx":
        df.to_excel(path, index=False)
    elif fmt == "parquet":
        out = df.copy()
        for i in range(out.shape[1]):  # mixed object columns as text, as an export writes them
            col = out.iloc[:, i]
            if col.dtype == object:
                out.isetitem(i, col.map(lambda v: None if _missing(v) else str(v)))
        out.to_parquet(path, index=False)
    else:
        import pyreadstat

        out = df.copy()
        names: list[str] = []
        for i, c in enumerate(out.columns):  # SPSS/Stata need unique, simple names
            nm = _stat_name(c, i)
            names.append(nm if nm not in names else f"{nm}_{i}")
        out.columns = names
        for c in out.columns:  # these writers take text, numbers and dates only
            if out[c].dtype == object or str(out[c].dtype) in ("str", "string"):
                out[c] = out[c].map(lambda v: None if _missing(v) else str(v)).astype(object)
            elif str(out[c].dtype) in ("Int8", "Int64", "uint64", "boolean"):
                out[c] = out[c].astype("float64")
        write = pyreadstat.write_sav if fmt == "sav" else pyreadstat.write_dta
        write(out, str(path))


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _stat_name(c: str, i: int) -> str:
    """SPSS/Stata need unique, simple variable names."""
    import re

    name = re.sub(r"\W", "_", str(c)).strip("_") or f"v{i}"
    return name if name[0].isalpha() else f"v{i}_{name}"


def run_case(source, bad: set) -> tuple[str, str]:
    """Load ``source``; return (verdict, detail)."""
    name = source.name if isinstance(source, Path) else "<DataFrame>"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = iop.load(source)
    except iop.IOPError as exc:
        msg = str(exc)
        if name not in msg:
            return "unexpected", f"IOPError without the input name: {msg[:200]}"
        return "clean_error", msg[:200]
    except Exception as exc:  # the point is to catch anything
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.name}" for f in reversed(tb)), "?")
        return "unexpected", f"{type(exc).__name__} in {where}: {str(exc)[:160]}"
    led = res.ledger
    counts = res.counts()
    if sum(counts.values()) != len(led) or len(res.data) != counts["accepted"] + counts["repaired"]:
        return "ledger", f"counts {counts} vs ledger {len(led)} / data {len(res.data)}"
    if bad:
        disp = led["disposition"].astype(str).to_numpy()
        rows = led["row"].to_numpy()
        ok_rows = set((rows[disp != "quarantined"] - 1).tolist())
        wrongly = sorted(bad & ok_rows)
        if wrongly:
            return "accepted", f"planted row(s) {wrongly} accepted"
    return "loaded", f"{counts}"


def cases(n: int, seed: int = 2026):
    """``n`` seeded (case seed, format, mutation) triples, every mutation and format in turn."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield (
            int(rng.integers(2**31)),
            FORMATS[i % len(FORMATS)],
            MUTATIONS[(i // len(FORMATS)) % len(MUTATIONS)],
        )
