"""The row checks of :func:`iop_outcomes.load`: :class:`Validator` checks every row once
(lazily, pandera-style: all problems are collected as :class:`~.ledger.Issue`, none stops the
check) and builds the typed output. Its steps live beside it: dates and episodes
(:mod:`.dates`), scoring (:mod:`.score`), duplicates (:mod:`.duplicates`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ... import instruments as _inst
from .._names import ARM_SUFFIX, did_you_mean, entry_text, name_key
from ..mapping import (
    CONTRACT_COLUMNS,
    FORMAT_LABELS,
    FORMAT_SYNONYMS,
    GROUP_COLUMNS,
    MAX_WEEK,
    STATUS_LABELS,
    STATUS_SYNONYMS,
    normalize_timepoint,
)
from .convert import as_label, as_text, classify, read_numbers
from .dates import DateChecks
from .duplicates import DuplicateChecks
from .ledger import Issue
from .score import ScoreChecks


class Validator(ScoreChecks, DuplicateChecks, DateChecks):
    def __init__(
        self, df: pd.DataFrame, source: str, mp, missing_items, renamed=None, harmonize=None
    ) -> None:
        self.renamed: dict[str, str] = renamed or {}  # contract name -> the user's column
        self.harmonize = harmonize  # the short form (Instrument) to score longer forms as
        #: harmonize: positions that stay the longer form, and how many by each cause
        self.unharmonised: tuple[np.ndarray, int, int] | None = None
        self.episode_codes: np.ndarray | None = None  # factorized episode_id, set by _episode_ids
        self.dup_candidates = np.ones(len(df), dtype=bool)  # narrowed before columns are released
        self.dup_source = df
        self.df = df
        self.n = len(df)
        self.source = source
        self.mp = mp
        self.missing_items = missing_items
        self.issues: list[Issue] = []
        self.settings: dict = {}
        self.columns = set(df.columns)  # the input's columns (they are released during checks)
        self.values_seen: dict[str, list] = {}  # distinct values of each [values.X] column
        self.values_used: dict[str, set] = {}  # the [values.X] keys that matched a value

    def _yours(self, column: str, reason: str) -> tuple[str, str]:
        """Name the user's own column when the mapping renamed it (in the text and ``column``)."""
        orig = self.renamed.get(column)
        if not orig:
            return column, reason
        label = f"{column} (your column {orig!r})"
        reason = re.sub(
            rf"(?<![\w']){re.escape(column)}(?![\w'])", lambda _m: label, reason, count=1
        )
        return orig, reason

    def add(self, mask, column, reason, fix, severity="quarantine", values=None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            if values is not None and len(values) == len(mask):
                values = values[mask]  # keep only what the problem list needs
            column, reason = self._yours(column, reason)
            self.issues.append(Issue(mask, column, reason, fix, severity, values))

    # -- helpers -------------------------------------------------------------
    def _user_label(self, col: str, v, key: str | None = None, seen: bool = True):
        """The label your ``[values.<col>]`` gives ``v`` (the match recorded), else ``None``.

        Called once per distinct value, which is also recorded (for the unused-entry check).
        """
        user = self.mp.values.get(col)
        if not user:
            return None
        if seen:
            self.values_seen.setdefault(col, []).append(v)
        key = name_key(v) if key is None else key
        if key in user:
            self.values_used.setdefault(col, set()).add(key)
            return user[key]
        return None

    def _mapped_note(self, col: str, n_rows: int) -> None:
        if n_rows:
            self.warn_file(
                col,
                f"{col}: {n_rows:,} row(s) relabelled by [values.{col}] in the {self.mp.where} "
                "(declared, so not counted as repairs)",
                "",
                "note",
            )

    def _labels(self, col: str, synonyms: dict[str, str], allowed: list[str]) -> pd.Series:
        """A labelled optional column: canonical labels; an unknown label is set to missing."""
        s = self.df[col]
        canon_keys = {name_key(a): a for a in allowed}

        def f(v):
            key = name_key(v)
            mine = self._user_label(col, v, key)
            if mine is not None:
                return ("mapped", mine)
            if key in canon_keys:
                return ("ok", canon_keys[key])
            if key in synonyms:
                return ("repair", synonyms[key])
            return ("bad", None)

        kind, val, repaired_text = classify(s, f)
        present = s.notna().to_numpy()
        bad = present & (kind == "bad")
        where = f"[values.{col}] in the mapping"
        self.add(
            bad,
            col,
            f"{col} {{value!r}} is not a known label; set to missing (to keep it, add it under "
            f"{where})",
            f"Use {', '.join(allowed[:-1])} or {allowed[-1]}, or add the label under {where} "
            f'(e.g. "your label" = "{allowed[0]}").',
            "repair",
            values=s,
        )
        if bad.any():
            labels = pd.unique(s[bad].map(str))  # str() per cell: bytes, lists as written
            shown = ", ".join(repr(x) for x in labels[:5]) + (", ..." if len(labels) > 5 else "")
            self.warn_file(
                col,
                f"{col}: {int(bad.sum()):,} row(s) with a label that is not known ({shown}) loaded "
                f"with {col} missing; add the label(s) under {where}",
                "",
                "note",
            )
        rep = present & (kind == "repair")
        if rep.any():
            texts = pd.Series(repaired_text(rep), index=s.index[rep])
            self.add(rep, col, f"{col} {{value}}", "", "repair", values=texts)
        self._mapped_note(col, int((kind == "mapped").sum()))
        return pd.Series(val, index=s.index)

    def _relabel(self, col: str, s: pd.Series) -> pd.Series:
        """A grouping label column (categorical) relabelled by ``[values.<col>]``."""
        cats = list(s.cat.categories)
        mine = [self._user_label(col, c) for c in cats]
        new = [c if m is None else m for c, m in zip(cats, mine, strict=True)]
        if new == cats:
            return s
        final = pd.Index(sorted(set(new)), dtype="str")
        pos = {t: i for i, t in enumerate(final)}
        remap = np.array([pos[t] for t in new] + [-1], dtype=np.int32)
        codes = s.cat.codes.to_numpy()
        changed = np.array([m is not None for m in mine] + [False])
        c = np.where(codes >= 0, codes, len(cats))
        self._mapped_note(col, int(changed[c].sum()))
        return pd.Series(pd.Categorical.from_codes(remap[c], categories=final), index=s.index)

    def _unused_values(self) -> None:
        """A warning for each ``[values.X]`` entry that matched no value of the data."""
        for col, table in self.mp.values.items():
            written = self.mp.value_keys.get(col, {})
            seen = [str(x) for x in self.values_seen.get(col, [])]
            for key, label in table.items():
                if key in self.values_used.get(col, set()):
                    continue
                entry = (
                    f"{self.mp.where}: {entry_text('values.' + col, written.get(key, key), label)}"
                )
                if col not in self.columns:
                    reason = f"{entry} matched no value: the data have no {col} column"
                else:
                    reason = f"{entry} matched no value of {col}" + did_you_mean(
                        written.get(key, key), seen, aside=True
                    )
                self.warn_file(
                    self.renamed.get(col, col),
                    reason,
                    f"Correct the label in the mapping to the value as written in the data, or "
                    f"remove the entry when the data have no such {col}.",
                    yours=False,
                )

    def warn_file(
        self, column: str, reason: str, fix: str, severity: str = "warning", yours: bool = True
    ) -> None:
        """A file-level problem (no rows flagged): a warning, or a ``note`` that never fails strict.

        ``yours`` names the user's own column in the text (not for mapping entries, which do).
        """
        if yours:
            column, reason = self._yours(column, reason)
        self.issues.append(Issue(np.zeros(self.n, dtype=bool), column, reason, fix, severity))

    # -- the checks ------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Every check, in order; the typed output (contract columns, items, scores, the rest)."""
        out = pd.DataFrame(index=self.df.index)
        self._identifiers(out)
        self._instrument(out)
        self._time(out)
        self._labels_and_counts(out)
        first_scoring_issue = len(self.issues)
        self._score(out)
        if self.harmonize is not None:
            self._harmonize(out, first_scoring_issue)
        else:
            self._short_and_long_forms_note(out)
        self._duplicates(out)
        return self._output(out)

    def _identifiers(self, out: pd.DataFrame) -> None:
        """``patient_id`` as text (missing: quarantined); mixed id schemes: a warning."""
        df = self.df
        pid = as_text(df["patient_id"])
        self.add(
            pid.isna().to_numpy(),
            "patient_id",
            "patient_id is missing",
            "Fill in the patient identifier.",
        )
        out["patient_id"] = pid
        ids = pd.Series(pd.unique(pid.dropna()), dtype="str")
        numeric_ids = pd.Series(  # Arrow's regex engine: pandas' may fall back to Python per id
            pc.match_substring_regex(pa.array(ids), r"^\d+$").to_numpy(zero_copy_only=False)
        )
        if numeric_ids.any() and not numeric_ids.all() and len(ids) > 1:
            ex_num, ex_txt = ids[numeric_ids].iloc[0], ids[~numeric_ids].iloc[0]
            self.add(
                np.zeros(self.n, dtype=bool) | True,
                "patient_id",
                f"patient_id mixes numeric and text identifiers (e.g. {ex_num!r} and {ex_txt!r})",
                "Check that one id scheme is used; a person recorded under two schemes counts twice.",
                "warning",
            )
            self.issues[-1].mask = np.zeros(self.n, dtype=bool)

    def _instrument(self, out: pd.DataFrame) -> None:
        """``instrument`` as the registry's name (a built-in spelling: a repair; unknown or
        missing: quarantined)."""
        df = self.df
        inst_raw = df["instrument"]

        def canon(v):
            mine = self._user_label("instrument", v)
            if mine is not None:
                c = _inst.canonical_name(str(mine))
                return ("mapped", c) if c else ("bad", None)
            c = _inst.canonical_name(str(v))
            if c is None:
                return ("bad", None)
            return ("ok" if name_key(v) == name_key(c) else "repair", c)

        kind, inst_cat, repaired_text = classify(inst_raw, canon)
        inst = pd.Series(inst_cat, index=df.index)
        self.add(
            kind == "na", "instrument", "instrument is missing", "Fill in the instrument name."
        )
        self.add(
            kind == "bad",
            "instrument",
            "unknown instrument {value!r}",
            f"Use one of {_inst.names()} (or a common spelling such as 'phq9'), or register it with "
            "iop.instruments.register().",
            values=inst_raw,
        )
        rep = kind == "repair"
        if rep.any():
            vals = pd.Series(repaired_text(rep), index=df.index[rep])
            self.add(rep, "instrument", "instrument {value}", "", "repair", values=vals)
        self._mapped_note("instrument", int((kind == "mapped").sum()))
        out["instrument"] = inst

    def _time(self, out: pd.DataFrame) -> None:
        """Dates, week and timepoint read and checked; episodes; duplicate candidates kept."""
        df = self.df
        for col in ("assessment_date", "admit_date", "discharge_date"):
            if col in df.columns:
                out[col] = self._dates(col)
        dated = (
            out["assessment_date"].notna().to_numpy()
            if "assessment_date" in out
            else np.zeros(self.n, dtype=bool)
        )
        if "week" in df.columns:
            wk, given = read_numbers(df["week"])
            with np.errstate(invalid="ignore"):
                bad = given & ~((wk >= 0) & (wk <= MAX_WEEK))
            self.add(
                bad & ~dated,
                "week",
                f"week {{value!r}} is not a number from 0 to {MAX_WEEK}",
                "Give weeks since admission.",
                values=df["week"],
            )
            self.add(
                bad & dated,
                "week",
                f"week {{value!r}} is not a number from 0 to {MAX_WEEK}; set to missing (the "
                "assessment_date is used)",
                "",
                "repair",
                values=df["week"],
            )
            out["week"] = np.where(bad, np.nan, wk)
        if "timepoint" in df.columns:
            out["timepoint"] = self._timepoints(dated)
            if "week" not in out:
                w = out["timepoint"].str.extract(r"^week_(\d+)$", expand=False).astype("float64")
                out["week"] = w.where(out["timepoint"] != "intake", 0.0)
        time_cols = [c for c in ("assessment_date", "week", "timepoint") if c in out]
        no_time = np.logical_and.reduce([out[c].isna().to_numpy() for c in time_cols])
        self.add(
            no_time
            & ~np.logical_or.reduce([df[c].notna().to_numpy() for c in time_cols if c in df]),
            time_cols[0],
            f"no {' / '.join(time_cols)} given",
            "Give the assessment date (or week / timepoint).",
        )
        self._episode_ids(out)
        self._episode_dates(out)
        self._keep_duplicate_candidates(out)
        self._release("assessment_date", "admit_date", "discharge_date", "week", "timepoint")

    def _labels_and_counts(self, out: pd.DataFrame) -> None:
        """``format`` and ``discharge_status`` labels, ``age`` and attendance counts checked."""
        df = self.df
        if "format" in df.columns:
            out["format"] = self._labels("format", FORMAT_SYNONYMS, FORMAT_LABELS)
            self._release("format")
        if "discharge_status" in df.columns:
            out["discharge_status"] = self._labels(
                "discharge_status", STATUS_SYNONYMS, STATUS_LABELS
            )
            self._release("discharge_status")
        if "age" in df.columns:
            age, given = read_numbers(df["age"])
            with np.errstate(invalid="ignore"):
                bad = given & ~((age >= 0) & (age <= 120))
            self.add(
                bad,
                "age",
                "age {value!r} is not a number from 0 to 120; set to missing",
                "",
                "repair",
                values=df["age"],
            )
            numeric = pd.api.types.is_numeric_dtype(df["age"])
            # an integer column stays one (a DataFrame's int64, a CSV's small nullable int)
            out["age"] = df["age"].where(~bad) if numeric else np.where(bad, np.nan, age)
            self._release("age")
        for col in ("attendance_hours", "sessions_attended", "sessions_scheduled"):
            if col in df.columns:
                x, given = read_numbers(df[col])
                with np.errstate(invalid="ignore"):
                    bad = given & ~(x >= 0)
                self.add(
                    bad,
                    col,
                    f"{col} {{value!r}} is not a number >= 0; set to missing",
                    "",
                    "repair",
                    values=df[col],
                )
                out[col] = np.where(bad, np.nan, x)
                self._release(col)

    def _output(self, out: pd.DataFrame) -> pd.DataFrame:
        """The rest carried through, grouping labels relabelled, columns in the output order."""
        df = self.df
        for c in df.columns:
            if c not in out.columns:
                out[c] = df[c]
        for c in GROUP_COLUMNS:
            if c in out.columns:
                out[c] = as_label(out[c])
                if c in self.mp.values:
                    out[c] = self._relabel(c, out[c])
        self._unused_values()
        out["instrument"] = out["instrument"].astype("category")
        items = sorted((c for c in out.columns if c.startswith("item_")), key=lambda c: int(c[5:]))
        lead = [c for c in CONTRACT_COLUMNS if c in out.columns]
        scored = ["n_answered", "scoring_rule", "severity", "safety_flag"]
        rest = [c for c in out.columns if c not in lead + items + scored]
        return out[lead + items + scored + rest]

    def _timepoints(self, dated: np.ndarray) -> pd.Series:
        """Canonical timepoint labels; ``[values.timepoint]`` in the mapping first.

        An unrecognised label is set to missing (a repair) when the row has a
        valid assessment date, and quarantined otherwise.
        """
        raw = self.df["timepoint"]

        def f(v):
            mine = self._user_label("timepoint", v)
            if mine is None:  # 'exit_arm_1' matches your 'exit'
                key = name_key(ARM_SUFFIX.sub("", str(v).strip().lower()))
                mine = self._user_label("timepoint", v, key, seen=False)
            if mine is not None:
                c = normalize_timepoint(mine)
                return ("mapped", c) if c else ("bad", None)
            c = normalize_timepoint(v)
            return ("ok", c) if c else ("bad", None)

        kind, cat, repaired_text = classify(raw, f)
        bad = kind == "bad"
        labels = "intake, week_N, discharge, followup_1m / 3m / 6m / 12m"
        self.add(
            bad & ~dated,
            "timepoint",
            "unknown timepoint {value!r}",
            f"Use {labels}, or map your label under [values.timepoint] in the mapping "
            '(e.g. "fu_visit_1" = "followup_1m").',
            values=raw,
        )
        self.add(
            bad & dated,
            "timepoint",
            "timepoint {value!r} is not a recognised label; set to missing (the assessment_date "
            "is used). To keep it, map it under [values.timepoint] in the mapping",
            "",
            "repair",
            values=raw,
        )
        rep = kind == "repair"
        if rep.any():
            texts = pd.Series(repaired_text(rep), index=raw.index[rep])
            self.add(rep, "timepoint", "timepoint {value}", "", "repair", values=texts)
        self._mapped_note("timepoint", int((kind == "mapped").sum()))
        # categories sorted, so that sorting by timepoint orders as text does
        return pd.Series(cat.reorder_categories(sorted(cat.categories)), index=raw.index)

    def _release(self, *columns: str) -> None:
        """Drop converted input columns (their values live on in the output and the issues)."""
        for c in columns:
            if c in self.df.columns:
                del self.df[c]
