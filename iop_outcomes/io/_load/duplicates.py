"""Duplicate administrations in :func:`iop_outcomes.load`: same patient, episode, instrument
and day (else timepoint, else week); the first of identical copies kept, conflicts quarantined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..readers import factorize


class DuplicateChecks:
    """The duplicate steps of :class:`~iop_outcomes.io._load.validate.Validator`."""

    def _duplicates(self, out: pd.DataFrame) -> None:
        """Duplicate administrations: same patient, episode, instrument and day.

        Rows are keyed on the assessment date when they have one, else on the
        timepoint, else on the week. A dated row's key includes its timepoint label
        when the file has one: ``week_4`` and ``discharge`` on the discharge day are
        two administrations. Rows of a day with the same label, or without one, are
        compared as before; a row without a label on a day with two or more
        different labels cannot be matched to either and is quarantined. Only
        totals are compared: an item-level row and a total-only row with the same
        total are one administration (the first is kept, as a repair; the others
        are quarantined); different totals are a conflict (all quarantined).
        """
        q = np.zeros(self.n, dtype=bool)
        for iss in self.issues:
            if iss.severity == "quarantine":
                q |= iss.mask
        live = ~q
        keyed = np.zeros(self.n, dtype=bool)
        for when, word in (
            ("assessment_date", "date"),
            ("timepoint", "timepoint"),
            ("week", "week"),
        ):
            if when not in out:
                continue
            m = live & ~keyed & out[when].notna().to_numpy()
            keyed |= m
            m &= self.dup_candidates  # the others have no twin
            if m.sum() > 1:
                if when == "assessment_date" and "timepoint" in out:
                    label = self._day_labels(out, m)
                    m &= label > -2  # unlabelled rows of a day with several labels: quarantined
                    self._duplicates_on(out, m, when, "date, timepoint", label)
                else:
                    self._duplicates_on(out, m, when, word)

    def _day_labels(self, out: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """Timepoint label codes (``-1`` none) of dated ``rows`` for the duplicate key.

        A row without a label takes its day's label when the day's other rows (same episode,
        instrument and date) agree on one, so it is compared with them as before; on a day with
        two or more different labels it could repeat either and is quarantined here (code -2).
        """
        label = np.full(self.n, -1, dtype=np.int64)
        pos = np.nonzero(rows)[0]
        lab = out["timepoint"].cat.codes.to_numpy()[pos].astype(np.int64)
        _, day = self._repeated(out, rows, "assessment_date")
        g = pd.DataFrame({"day": day, "lab": lab})
        known = g[g["lab"] >= 0].groupby("day")["lab"]
        n_lab = g["day"].map(known.nunique()).fillna(0).to_numpy()
        only = g["day"].map(known.min()).fillna(-1).to_numpy().astype(np.int64)
        blank = lab < 0
        lab = np.where(blank & (n_lab == 1), only, lab)
        ambiguous = blank & (n_lab > 1)
        label[pos] = np.where(ambiguous, -2, lab)
        if ambiguous.any():
            cats = np.asarray(out["timepoint"].cat.categories, dtype=object)
            day_labels = known.unique().map(lambda c: ", ".join(sorted(cats[list(c)])))
            m = np.zeros(self.n, dtype=bool)
            m[pos[ambiguous]] = True
            self.add(
                m,
                "timepoint",
                "no timepoint on a day with differently labelled administrations of the same "
                "patient, episode and instrument ({value}): it cannot be told which it repeats",
                "Give the row its timepoint label, or delete it if it repeats one of them.",
                values=pd.Series(
                    g["day"].map(day_labels).to_numpy()[ambiguous],
                    index=out.index[pos[ambiguous]],
                ),
            )
        return label

    def _repeated(self, out: pd.DataFrame, rows: np.ndarray, when: str, label=None):
        """For ``rows``: whether its (episode, instrument, ``when``) key occurs more than once
        among them, and the integer keys. ``label`` (codes for every row, -1 none) adds the
        timepoint label to the key.

        Episode ids are unique across patients by now (:meth:`_episode_ids`), so the episode
        stands for (patient, episode). The column codes are combined arithmetically into one
        integer (cheaper than hashing rows of text) and repeats found by sorting (files are
        usually grouped by episode, so the stable sort meets long sorted runs; a hash table of
        10^7 keys is slower).
        """
        rowkey, size = np.zeros(int(rows.sum()), dtype=np.int64), 1
        for c in ("episode_id", "instrument", when, *(() if label is None else ("label",))):
            if c == "episode_id" and self.episode_codes is not None:  # known from _episode_ids
                codes, n_c = self.episode_codes[rows].astype(np.int64), self.episode_codes.max() + 1
            elif c == "label":
                codes, n_c = label[rows], int(label.max()) + 1
            else:
                codes, n_c = _key_codes(out[c], rows)
            if size * (n_c + 1) >= 2**62:  # renumber densely before the product overflows
                rowkey, uniq = pd.factorize(rowkey)
                size = len(uniq)
            rowkey = rowkey * (n_c + 1) + (codes + 1)
            size *= n_c + 1
        order = np.argsort(rowkey, kind="stable")
        same = rowkey[order[1:]] == rowkey[order[:-1]]
        repeated = np.zeros(len(rowkey), dtype=bool)
        repeated[order[1:][same]] = True
        repeated[order[:-1][same]] = True
        return repeated, rowkey

    def _keep_duplicate_candidates(self, out: pd.DataFrame) -> None:
        """Keep the source values of the rows that may be duplicate administrations.

        A row is a candidate when another row shares its episode, instrument and day (else
        timepoint, else week), whatever else is wrong with either: a superset of the rows
        :meth:`_duplicates` compares later. Only their source values are kept, so the input
        columns can be released as they are converted (peak memory on large files).
        """
        cand = np.zeros(self.n, dtype=bool)
        unkeyed = np.ones(self.n, dtype=bool)
        keys = out
        if self.harmonize is not None:  # a PHQ-9 may become a PHQ-8: compare them as one
            keys = {
                c: out[c]
                for c in ("episode_id", "assessment_date", "timepoint", "week")
                if c in out
            } | {"instrument": _merged_forms(out["instrument"], self.harmonize)}
        for when in ("assessment_date", "timepoint", "week"):
            if when not in out:
                continue
            m = unkeyed & out[when].notna().to_numpy()
            unkeyed &= ~m
            if m.sum() > 1:
                cand[np.nonzero(m)[0][self._repeated(keys, m, when)[0]]] = True
        self.dup_candidates = cand
        self.dup_source = self.df.iloc[np.nonzero(cand)[0]].copy()

    def _duplicates_on(
        self, out: pd.DataFrame, live: np.ndarray, when: str, word: str, label=None
    ) -> None:
        dup_any, rowkey = self._repeated(out, live, when, label)
        *head, last = ["patient", "episode", "instrument", *word.split(", ")]
        same_key = f"{', '.join(head)} and {last}"  # e.g. "..., instrument, date and timepoint"
        if not dup_any.any():
            return
        pos = np.nonzero(live)[0][dup_any]
        gid = pd.factorize(rowkey[dup_any])[0]
        tot = out["total"].to_numpy(dtype=float, na_value=np.nan)[pos]
        frame = pd.DataFrame({"gid": gid, "tot": np.where(np.isnan(tot), -1.0, tot)})
        conflicting = (frame.groupby("gid")["tot"].transform("nunique") > 1).to_numpy()
        first_row = frame.groupby("gid").cumcount().to_numpy() == 0
        firsts = pd.Series(pos[first_row], index=gid[first_row])
        ref = firsts.reindex(gid).to_numpy().astype(np.int64)  # position of each group's first
        # identical in every source column (not just the total)?
        raw = self.dup_source.loc[pos].astype("str").fillna("\x00")
        sig = pd.util.hash_pandas_object(raw, index=False).to_numpy()
        sig_first = pd.Series(sig[first_row], index=gid[first_row]).reindex(gid).to_numpy()
        identical = sig == sig_first
        others = _joined_by_group(pos + 1, gid)
        m = np.zeros(self.n, dtype=bool)
        m[pos[conflicting]] = True
        self.add(
            m,
            "total",
            f"conflicting duplicate administrations: same {same_key} with different totals "
            "(rows {value})",
            "Keep the correct administration and delete the other(s).",
            values=pd.Series(others[conflicting], index=out.index[pos[conflicting]]),
        )
        copy = ~conflicting & ~first_row
        for same, reason, fix in (
            (identical, "exact duplicate of row {value}", "Delete the repeated row."),
            (
                ~identical,
                f"duplicate administration (same patient, episode, instrument, {word} and total) "
                "of row {value}",
                "Delete the repeated administration (or correct its date if it is another one).",
            ),
        ):
            sel = copy & same
            m2 = np.zeros(self.n, dtype=bool)
            m2[pos[sel]] = True
            self.add(
                m2,
                "*",
                reason,
                fix,
                values=pd.Series((ref[sel] + 1).astype(str), index=out.index[pos[sel]]),
            )
        m3 = np.zeros(self.n, dtype=bool)
        m3[pos[~conflicting & first_row]] = True
        self.add(m3, "*", "kept the first of duplicate administrations", "", "repair")


def _merged_forms(inst: pd.Series, short) -> pd.Series:
    """The instrument column with the longer form read as the short form (duplicate keys)."""
    cats = list(inst.cat.categories)
    if short.subset_of not in cats:
        return inst
    if short.name not in cats:
        cats.append(short.name)
    remap = np.arange(len(cats) + 1, dtype=np.int32)
    remap[cats.index(short.subset_of)] = cats.index(short.name)
    remap[-1] = -1
    codes = inst.cat.codes.to_numpy()
    return pd.Series(
        pd.Categorical.from_codes(remap[codes], categories=pd.Index(cats, dtype="str")),
        index=inst.index,
    )


def _joined_by_group(values: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """For each element, ``", ".join`` of the values of its group (``gid`` = 0..k-1), in the
    order they appear. Vectorized per group size (a file of duplicated rows has millions of
    groups; a Python call per group took minutes)."""
    order = np.argsort(gid, kind="stable")
    g = gid[order]
    text = np.asarray(values).astype(str)[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    joined = np.empty(int(g.max()) + 1 if len(g) else 0, dtype=object)
    for k in np.unique(sizes):
        first = starts[sizes == k]
        acc = text[first]
        for i in range(1, k):
            acc = np.char.add(np.char.add(acc, ", "), text[first + i])
        joined[g[first]] = acc
    return joined[gid]


def _key_codes(s: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes ``0 .. n-1`` of ``s[rows]`` (-1 missing) and ``n``, equal codes for equal
    values: day numbers for dates, category codes for labels, factorized otherwise."""
    if pd.api.types.is_datetime64_any_dtype(s):
        days = s.to_numpy()[rows].astype("datetime64[D]").view(np.int64)
        nat = np.isnat(s.to_numpy()[rows])
        if nat.all():
            return np.full(len(days), -1, dtype=np.int64), 0
        lo, hi = days[~nat].min(), days[~nat].max()
        return np.where(nat, -1, days - lo), int(hi - lo + 1)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy()[rows].astype(np.int64), len(s.cat.categories)
    codes, uniq = factorize(s.iloc[np.nonzero(rows)[0]] if not rows.all() else s)
    return codes.astype(np.int64), len(uniq)
