"""The ledger and the problem list of :func:`iop_outcomes.load`.

Every problem found is an :class:`Issue` (a row mask, column, reason, fix and severity);
:func:`problems_frame` lists them one row per (row, problem) and :func:`build_ledger` gives each
input row its one disposition (``accepted``, ``repaired``, ``quarantined``) with its reasons.
Both are built from category codes, so an issue flagging every row of a large file costs
integer arrays, not millions of Python strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..readers import factorize

DISPOSITIONS = ["accepted", "repaired", "quarantined"]


MAX_LISTED = 50


@dataclass
class Issue:
    mask: np.ndarray  # positions in the frame
    column: str
    reason: str  # per-row text may use {value}
    fix: str
    severity: str  # "quarantine" | "repair" | "warning"
    values: pd.Series | None = None


class _Cats:
    """Accumulates a categorical column piece by piece (scalars or arrays) as integer codes."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.codes: list[np.ndarray] = []

    def _id(self, v: str) -> int:
        return self.index.setdefault(v, len(self.index))

    def scalar(self, v: str, n: int) -> None:
        self.codes.append(np.full(n, self._id(v), dtype=np.int32))

    def array(self, a: np.ndarray) -> None:
        c, uniq = pd.factorize(pd.Series(a, dtype=object), use_na_sentinel=False)
        ids = np.array([self._id(str(u)) for u in uniq], dtype=np.int32)
        self.codes.append(ids[c] if len(c) else np.zeros(0, dtype=np.int32))

    def build(self, order: np.ndarray) -> pd.Categorical:
        codes = np.concatenate(self.codes) if self.codes else np.zeros(0, dtype=np.int32)
        return pd.Categorical.from_codes(
            codes[order], categories=pd.Index(list(self.index), dtype="str")
        )


_PROBLEM_TEXT = ["source", "column", "value", "severity", "reason", "check", "fix"]


def problems_frame(issues: list[Issue], source: str, rows: np.ndarray, origin) -> pd.DataFrame:
    """One row per (row, problem), sorted by row then check order; text columns categorical.

    Built from codes: an issue flagging every row of a large file costs integer
    arrays, not millions of Python strings.
    """
    cats = {c: _Cats() for c in _PROBLEM_TEXT}
    pos_l, order_l, row_l = [], [], []
    source_column = None
    for order, iss in enumerate(issues):
        pos = np.nonzero(iss.mask)[0]
        n = len(pos)
        if n == 0:
            continue
        if iss.values is not None:
            v = iss.values  # one value per flagged row (add() subsets full-length columns)
            vals = (
                v.to_numpy(dtype=object) if len(v) == n else v.reindex(pos).to_numpy(dtype=object)
            )
            codes, uniq = factorize(pd.Series(vals, dtype=object))
            utxt = np.array([str(u) for u in uniq] + [""], dtype=object)
            vtxt = utxt[np.where(codes >= 0, codes, len(uniq))]
            cats["value"].array(vtxt)
            if "{value" in iss.reason:
                cats["reason"].array(
                    np.array([_fill(iss.reason, u) for u in utxt])[
                        np.where(codes >= 0, codes, len(uniq))
                    ]
                )
            else:
                cats["reason"].scalar(iss.reason, n)
        else:
            cats["value"].scalar("", n)
            cats["reason"].scalar(_fill(iss.reason, ""), n)
        if origin is not None and iss.column in ("total", "*"):
            if source_column is None:  # converted once, not per issue (10^6 texts each time)
                source_column = origin["source_column"].to_numpy(dtype=object)
            cats["column"].array(source_column[pos])
        else:
            cats["column"].scalar(iss.column, n)
        for c, val in (
            ("source", source),
            ("severity", iss.severity),
            ("check", _fill(iss.reason, "…")),
            ("fix", iss.fix),
        ):
            cats[c].scalar(val, n)
        pos_l.append(pos)
        order_l.append(np.full(n, order, dtype=np.int64))
        row_l.append(np.asarray(rows)[pos])
    for iss in issues:  # file-level warnings and notes have no rows
        if iss.severity in ("warning", "note") and not iss.mask.any():
            for c, val in (
                ("source", source),
                ("column", iss.column),
                ("value", ""),
                ("severity", iss.severity),
                ("reason", iss.reason),
                ("check", iss.reason),
                ("fix", iss.fix),
            ):
                cats[c].scalar(val, 1)
            pos_l.append(np.array([-1]))
            order_l.append(np.array([-1]))
            row_l.append(np.array([0]))
    cat = lambda a: np.concatenate(a).astype(np.int64) if a else np.zeros(0, np.int64)  # noqa: E731
    pos, order_, row = cat(pos_l), cat(order_l), cat(row_l)
    srt = np.lexsort((order_, pos))
    frame = {"_pos": pos[srt], "_order": order_[srt]}
    for c in ("source", "row", "column", "value", "severity", "reason", "check", "fix"):
        frame[c] = row[srt] if c == "row" else cats[c].build(srt)
    return pd.DataFrame(frame)


def _fill(template: str, value: str) -> str:
    return template.replace("{value!r}", repr(value)).replace("{value}", value)


def build_ledger(
    problems: pd.DataFrame, source: str, rows, disposition, quarantine
) -> pd.DataFrame:
    """One row per input row; built from the problems' category codes (no per-row strings)."""
    n = len(disposition)
    p = problems[problems["_pos"] >= 0]
    pos = p["_pos"].to_numpy()
    sev = p["severity"].astype("str").to_numpy(dtype=object) if len(p) else np.array([])
    # quarantined rows: their quarantine reasons; repaired rows: their repairs
    relevant = np.where(quarantine[pos], sev == "quarantine", sev == "repair") if len(p) else []
    p = p.loc[np.asarray(relevant, dtype=bool)] if len(p) else p
    pos = p["_pos"].to_numpy()
    first = np.ones(len(pos), dtype=bool)
    first[1:] = pos[1:] != pos[:-1]  # problems are sorted by row

    def per_row(col: str) -> pd.Categorical:
        c = p[col].cat if len(p) else None
        codes = np.full(n, -1, dtype=np.int32)
        if c is None:
            return pd.Categorical.from_codes(codes, categories=pd.Index([], dtype="str"))
        codes[pos[first]] = c.codes.to_numpy()[first]
        return pd.Categorical.from_codes(codes, categories=c.categories)

    reason = per_row("reason")
    if len(pos) and not first.all():  # rows with several reasons: "a; b", per distinct combination
        rc = p["reason"].cat.codes.to_numpy().astype(np.int64)
        rcats = np.asarray(p["reason"].cat.categories, dtype=object)
        grp = np.cumsum(first) - 1  # the row (group) of each problem
        starts = np.nonzero(first)[0]
        level = np.arange(len(pos)) - starts[grp]
        ng, width = len(starts), len(rcats) + 1
        key = rc[first].copy()
        for lev in range(1, int(level.max()) + 1):
            sel = level == lev
            ext = np.full(ng, width - 1, dtype=np.int64)
            ext[grp[sel]] = rc[sel]
            key = pd.factorize(key * width + ext)[0].astype(np.int64)
        ukey, rep = np.unique(key, return_index=True)
        ends = np.append(starts[1:], len(pos))
        texts = ["; ".join(rcats[rc[starts[g] : ends[g]]]) for g in rep]
        codes = np.full(n, -1, dtype=np.int32)
        codes[pos[first]] = np.searchsorted(ukey, key)
        tcodes, tcats = pd.factorize(pd.Series(texts, dtype=object))
        codes[pos[first]] = tcodes[codes[pos[first]]]
        reason = pd.Categorical.from_codes(codes, categories=pd.Index(tcats, dtype="str"))
    return pd.DataFrame(
        {
            "source": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[source]),
            "row": rows,
            "disposition": pd.Categorical.from_codes(disposition, categories=DISPOSITIONS),
            "reason": reason,
            "check": per_row("check"),
            "column": per_row("column"),
            "value": per_row("value"),
        }
    )


def strict_message(problems: pd.DataFrame, source: str, n: int, n_quarantined: int) -> str:
    p = problems[~problems["severity"].isin(["repair", "note"])]
    lines = [
        f"{source}: {len(p):,} problem(s) in {n:,} rows ({n_quarantined:,} rows would be quarantined). "
        "Fix them, or load with strict=False to keep the valid rows and see the rest in result.ledger:"
    ]
    for r in p.head(MAX_LISTED).itertuples(index=False):
        where = f"row {r.row}" if r.row else "file"
        fix = f" -> {r.fix}" if r.fix else ""
        lines.append(f"  {source}, {where}, column {r.column}: {r.reason}{fix}")
    if len(p) > MAX_LISTED:
        lines.append(
            f"  ... and {len(p) - MAX_LISTED:,} more (see the error's .problems DataFrame)."
        )
    return "\n".join(lines)
