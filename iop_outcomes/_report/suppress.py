"""Small-cell suppression for shareable tables.

Two disclosure-control policies (``policy=``; a report names one in its study file, see
:mod:`iop_outcomes._report.config` and docs/report.md, "Disclosure control"):

* ``"cms"`` (the default): small counts hidden, with complementary suppression (below).
* ``"round5"``: every count rounded to the nearest 5, small counts hidden (below).

``threshold=None`` turns disclosure control off (the ``"none"`` policy of a report).

Policy ``"cms"`` (after the CMS cell-size suppression policy and the NCHS/HHS practice of
"complementary suppression"):

1. **Primary suppression.** A count ``1 <= n < threshold`` (default 11, so counts 1–10) is
   replaced by ``"<11"``. Zero is shown: a zero identifies nobody.
2. **Complementary suppression.** Every published total is a linear constraint
   ``sum(cells) = total``. If exactly one quantity in a constraint is hidden, it can be recovered
   by subtraction, so a second cell is hidden too: the smallest positive visible cell of the
   same constraint (then the total itself, then a zero cell). This repeats until no constraint
   has exactly one hidden quantity. Column totals are treated as known even when the table does
   not print them (they are usually published elsewhere in the report), which is the
   conservative choice.
3. **Derived values.** Percentages, rates, confidence limits and other statistics computed from
   a hidden count are hidden as well (``derived=``), whether the count was hidden for being
   small or as a complement, because ``pct × total`` would give the count back.

Suppression is on by default. Turning it off is explicit (``threshold=None``) and the result
says so (:attr:`SuppressedTable.enabled`), so a report can print a warning banner.

Across tables. :func:`suppress` protects one table. A report publishes the same groups of
people in many tables (episodes admitted in the participant flow, episodes with paired scores
in the change, clinical-significance and effect-size tables, ...), where a small count can
come back as the difference of two counts in different tables (150 admitted in one, 145
paired in another: 5 unpaired). :func:`iop_outcomes.report` therefore ties every published
count to the population it counts and passes the populations that must stay hidden to
:func:`suppress` as ``force=`` cells, rebuilding the tables until nothing new is hidden: a
population hidden in one table is hidden in all, and a small difference of nested counts (or
of related ones: the same group's paired episodes under two instruments, the DRR-E and NHS
denominators), a whole-cohort count minus the other groups, or a sum declared between tables
(every flow stage adds up to the episodes admitted) never gives a hidden count back (see
``iop_outcomes._report.disclosure.hidden_populations``).

Limits: within a table the rule is "no constraint with exactly one hidden quantity", which
stops subtraction within a constraint; the report's cross-table step also solves its known
sums together as one linear system. Neither reasons about bounds (non-negativity), and
statistics other than counts and proportions (means, SDs, effect sizes) are hidden only for
small counts, as they do not give a count back.

Policy ``"round5"`` (the style of NHS England's published mental-health statistics: the NHS
Talking Therapies for anxiety and depression monthly statistics and the Mental Health
Services Monthly Statistics from the Mental Health Services Data Set, whose "rounding and
suppression" notes hide small counts and round the others to the nearest 5):

1. **Small counts.** A count ``1 <= n < threshold`` (default 5 in a report) is shown as
   ``"<5"``; zero is shown.
2. **Rounding.** Every other count is rounded to the nearest multiple of 5 (7 -> 5, 8 -> 10,
   13 -> 15), totals included, each on its own: a total need not equal the sum of its rounded
   parts. The same count is rounded the same way in every table, and the difference of two
   rounded counts is never an exact count, so no complementary suppression is done here.
   Rounding alone is not enough across sums, though: each rounded count stands for a range
   (115: 113 to 117; ``"<5"``: 1 to 4), and sums narrow the ranges (two ``"<5"`` beside a
   total of 10 are 4 and 4). A report therefore runs a cross-table step that hides (``"*"``,
   through ``force=``) one more count wherever the ranges pin an exact count
   (:func:`iop_outcomes._report.disclosure._round5_pins`).
3. **Proportions from the rounded counts.** A proportion of ``k`` of ``n`` in the same row
   (``proportions=``) is recomputed as ``round5(k) / round5(n)`` and its Wilson interval
   (``intervals=``) from the same rounded counts; a share of the group's total row
   (``shares=``) as ``round5(count) / round5(total)``. A reader can redo every percentage from
   the table, and no percentage gives an unrounded count back (a rate of 13 / 113 printed to
   six decimals would identify 13 and 113 among the counts that round to 15 and 115).
   Where a publication computes its percentages from unrounded counts, this policy does not.
4. **Other statistics** computed with an exact count (means, SDs, changes and their t
   intervals, p-values, effect sizes: the other ``derived=`` and ``small_n=`` columns) are
   hidden when their count is small and otherwise rounded to one decimal place (p-values to
   two decimals, three below 0.01, and "< .001" below 0.001), so that their formulas (a mean times n is a whole number; a t interval's half-width
   is t(n-1) SD / sqrt(n)) cannot be solved for the exact n in a group of usual size. Every
   other number of the table is kept to the precision the report shows (``digits=``; a
   report shows one decimal under this policy), not the six decimals of a CSV. This blurs, it does not prove: for groups of a few dozen
   episodes a determined reader may still narrow the rounded n; choose ``"cms"`` when that
   matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._stats import wilson_ci
from ..exceptions import ConfigError
from .config import round5_threshold

__all__ = [
    "suppress",
    "round5",
    "SuppressedTable",
    "DEFAULT_THRESHOLD",
    "COMPLEMENT_LABEL",
    "TABLE_POLICIES",
]

#: Default minimum cell size: counts 1–10 are shown as "<11".
DEFAULT_THRESHOLD = 11
#: Label of a cell hidden as a complement of a small cell, or derived from a hidden count.
COMPLEMENT_LABEL = "*"
#: The policies :func:`suppress` applies (a report's ``"none"`` is ``threshold=None``).
TABLE_POLICIES = ("cms", "round5")
#: Decimal places of the statistics other than counts and proportions under ``"round5"``
#: (p-values: :func:`_round_p`); a report shows every other number to this precision too.
ROUND5_DIGITS = 1
_P_NAMES = ("pvalue", "p_value", "p")


def _round_p(p: np.ndarray) -> np.ndarray:
    """P-values under ``"round5"``: one significant digit's worth of precision, never a
    false "< .001": two decimals from 0.01, three from 0.001 to 0.01, and 0 (printed
    "< .001") below 0.001.

    Examples
    --------
    >>> _round_p(np.array([0.012345, 0.0042, 0.0004, 0.75017])).tolist()
    [0.01, 0.004, 0.0, 0.75]
    """
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(p >= 0.01, np.round(p, 2), np.where(p >= 0.001, np.round(p, 3), 0.0 * p))


def round5(x: Any) -> Any:
    """Round counts to the nearest multiple of 5 (halves up; vectorized).

    Examples
    --------
    >>> round5([7, 8, 13, 12, 115, 0])
    array([  5.,  10.,  15.,  10., 115.,   0.])
    >>> float(round5(2.5))
    5.0
    """
    return np.floor(np.asarray(x, dtype=float) / 5.0 + 0.5) * 5.0


@dataclass(frozen=True)
class SuppressedTable:
    """A table after small-cell suppression.

    Attributes
    ----------
    table : DataFrame
        Display table (object dtype where cells were hidden): primary cells read ``"<11"``,
        complementary and derived cells read ``"*"``; every other value is unchanged and numeric.
    primary, complementary, derived : DataFrame of bool
        Which cells were hidden for being small, as complements, or as derived values.
    threshold : int or None
        Minimum cell size; ``None`` when suppression was turned off.
    notes : tuple of str
        What was done, for printing under the table.
    policy : {"cms", "round5"}
        The policy applied (``"round5"``: the shown counts are rounded to the nearest 5).
    """

    table: pd.DataFrame
    primary: pd.DataFrame
    complementary: pd.DataFrame
    derived: pd.DataFrame
    threshold: int | None
    notes: tuple[str, ...] = field(default=())
    policy: str = "cms"

    @property
    def enabled(self) -> bool:
        """Whether suppression was applied (``False`` only when explicitly turned off)."""
        return self.threshold is not None

    @property
    def hidden(self) -> pd.DataFrame:
        """Boolean mask of every hidden cell."""
        return self.primary | self.complementary | self.derived

    @property
    def n_hidden(self) -> int:
        """Number of hidden cells."""
        return int(self.hidden.to_numpy().sum())

    def __str__(self) -> str:
        return "\n".join([self.table.to_string(), *self.notes])


def _default_counts(df: pd.DataFrame) -> list[str]:
    out = []
    for c in df.columns:
        name = str(c).lower()
        if name in ("n", "count", "total_n") or name.startswith("n_") or name.endswith("_n"):
            if pd.api.types.is_numeric_dtype(df[c]):
                out.append(c)
    return out


def _total_row_mask(df: pd.DataFrame, total_row: Any, counts: Sequence[str]) -> np.ndarray:
    n = len(df)
    if total_row is None:
        return np.zeros(n, dtype=bool)
    if isinstance(total_row, (np.ndarray, pd.Series, list)) and len(total_row) == n:
        return np.asarray(total_row, dtype=bool)
    mask = np.asarray(df.index == total_row, dtype=bool)
    for c in df.columns:
        if c in counts or pd.api.types.is_numeric_dtype(df[c]):
            continue
        mask |= (df[c].astype("object") == total_row).to_numpy(dtype=bool, na_value=False)
    return mask


def _count_mask(mask: pd.DataFrame, counts: Sequence[str], n_rows: int, name: str) -> np.ndarray:
    """A boolean DataFrame aligned on the count columns (absent ones False), as an array."""
    if mask.shape[0] != n_rows:
        raise ConfigError(f"suppress: {name!r} has {mask.shape[0]} rows; the table has {n_rows}.")
    cols = [
        mask[c].to_numpy(dtype=bool) if c in mask.columns else np.zeros(n_rows, bool)
        for c in counts
    ]
    return np.column_stack(cols) if cols else np.zeros((n_rows, 0), dtype=bool)


def _suppressed(index, out, primary, complementary, derived, threshold, notes, policy="cms"):
    """The :class:`SuppressedTable`, its frames on the caller's index."""
    for m in (out, primary, complementary, derived):
        m.index = index
    return SuppressedTable(
        table=out,
        primary=primary,
        complementary=complementary,
        derived=derived,
        threshold=int(threshold),
        notes=tuple(notes),
        policy=policy,
    )


def suppress(
    table: pd.DataFrame,
    threshold: int | None = DEFAULT_THRESHOLD,
    *,
    counts: Sequence[str] | None = None,
    derived: Mapping[str, str | Sequence[str]] | None = None,
    small_n: Mapping[str, str | Sequence[str]] | None = None,
    by: str | Sequence[str] | None = None,
    total_row: Any = None,
    total_col: str | bool | None = None,
    complements: Mapping[str, str] | None = None,
    within: str | Sequence[str] | None = None,
    column_totals: bool = True,
    force: pd.DataFrame | np.ndarray | None = None,
    shares: Mapping[str, str] | None = None,
    complement_label: str = COMPLEMENT_LABEL,
    protect: pd.DataFrame | None = None,
    policy: str = "cms",
    proportions: Mapping[str, tuple[str, str]] | None = None,
    intervals: Mapping[tuple[str, str], tuple[str, str]] | None = None,
    proportion_rows: np.ndarray | None = None,
    ci_level: float = 0.95,
    digits: int | Mapping[str, int] | None = None,
) -> SuppressedTable:
    """Hide small counts, their complements and the values derived from them.

    Parameters
    ----------
    table : DataFrame
        Any table with count columns (one row per group or category).
    threshold : int or None, default 11
        Counts ``1 <= n < threshold`` are hidden and shown as ``"<threshold"``. ``None`` turns
        suppression off (explicitly; the result records it).
    counts : list of str, optional
        Count columns. Default: numeric columns named ``n``, ``count``, ``n_*`` or ``*_n``.
    derived : dict, optional
        ``{column: count_column}`` (or a list of count columns): a cell of ``column`` is hidden
        when the count it was computed from, in the same row, is hidden. Use it for
        percentages, rates, means, SDs and confidence limits.
    small_n : dict, optional
        ``{column: count_column}`` for statistics that do not reveal their count (means, SDs,
        effect sizes and their intervals): hidden only when the count is itself small, not
        when it was hidden as a complement.
    by : str or list of str, optional
        Label columns whose groups each sum to a (published) total; the rows of one group form
        one constraint per count column. Default: the whole table is one group.
    total_row : label or boolean mask, optional
        Rows holding totals (rows whose index, or any label column, equals this value). A total
        row is the total of its group's constraint.
    total_col : str or True, optional
        A column holding each row's total over the other count columns, or ``True`` when row
        totals are published elsewhere; adds one constraint per row.
    within : str or list of str, optional
        Label columns whose groups are partitions with a published total (e.g. the outcome
        categories of one format add up to that format's n): all rows of a group, total rows
        included, form one more constraint per count column, with an implicit total. Use it
        with ``by`` for two-way tables in long form (``by="outcome", within="group"``).
    column_totals : bool, default True
        Whether each count column (within ``by`` groups) adds up to a total. Set it to
        ``False`` when rows overlap (e.g. recovery and reliable improvement, which are not a
        partition); row-wise rules (``complements``, ``total_col``, ``within``) still apply.
    complements : dict, optional
        ``{k_column: n_column}`` for "k of n" counts: the unshown remainder ``n - k`` is a cell
        too (e.g. non-responders), so ``k`` is hidden when ``1 <= n - k < threshold``.
    force : DataFrame or array of bool, optional
        Cells to hide whatever their value, shaped like ``table`` (a DataFrame is aligned on
        the count columns; other columns are ignored). A report uses it to hide a count that
        must stay hidden because of *other* tables (the same population hidden elsewhere, or a
        difference of two published counts that is small). Forced cells are labelled and
        counted as complementary, protected like any hidden cell (their totals get
        complements) and hide their derived values.
    shares : dict, optional
        ``{column: count_column}`` for shares of the group's total row (``count / total``):
        hidden when the row's count is hidden, and in every row of the group when the total
        row's count is hidden (``count / share`` would give the total back).
    complement_label : str, default ``"*"``
        Text of complementary and derived hidden cells.
    protect : DataFrame of bool, optional
        Cells (aligned on the count columns, like ``force``) never chosen as complements
        while another cell of the constraint can be: a report's headline counts (the paired
        n, the responders) stay shown and a total or another group's count is hidden
        instead. A protected cell is still hidden when it is small, forced, or the only
        cell left that can protect a constraint (safety first).
    policy : {"cms", "round5"}, default "cms"
        ``"cms"``: the rules above. ``"round5"``: small counts hidden, every other count
        rounded to the nearest 5, no complementary suppression, proportions recomputed from
        the rounded counts and other statistics of a count rounded (module docstring).
        ``complements``, ``by``, ``within``, ``total_row`` (except for ``shares``),
        ``total_col``, ``column_totals`` and ``protect`` only matter under ``"cms"``.
    proportions : dict, optional
        Under ``"round5"``: ``{column: (k_column, n_column)}`` for a proportion ``k / n`` of
        the same row, recomputed from the rounded counts.
    intervals : dict, optional
        Under ``"round5"``: ``{(low_column, high_column): (k_column, n_column)}`` for the
        Wilson score interval of ``k / n`` at ``ci_level``, recomputed from the rounded counts.
    proportion_rows : array of bool, optional
        The rows where ``proportions`` and ``intervals`` hold (default: all); in the other
        rows those columns are other statistics.
    ci_level : float, default 0.95
        Level of the recomputed Wilson intervals.
    digits : int or dict, optional
        Under ``"round5"``: decimals kept in every other numeric column (the precision the
        report shows; a dict gives them per column; p-values as the other statistics): the written files then carry no more precision
        than the page, which a model's p-value and interval together could otherwise be
        solved with for its degrees of freedom, i.e. its exact n. ``None``: unchanged.

    Returns
    -------
    SuppressedTable

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"category": ["recovered", "improved", "unchanged", "deteriorated"],
    ...                   "n": [120, 64, 30, 4], "pct": [55.0, 29.4, 13.8, 1.8]})
    >>> s = suppress(t, derived={"pct": "n"})
    >>> s.table["n"].tolist(), s.table["pct"].tolist()
    ([120, 64, '*', '<11'], [55.0, 29.4, '*', '*'])

    Rounded to the nearest 5, with the shares recomputed from the rounded counts
    (64 -> 65 of 218 -> 220: 65 / 220 = 0.295455):

    >>> t = t.assign(pct=t["n"] / 218)
    >>> t.loc[4] = ["total", 218, 1.0]
    >>> r = suppress(t, 5, policy="round5", shares={"pct": "n"}, total_row="total")
    >>> r.table["n"].tolist()
    [120, 65, 30, '<5', 220]
    >>> [round(x, 6) if not isinstance(x, str) else x for x in r.table["pct"]]
    [0.545455, 0.295455, 0.136364, '*', 1.0]
    """
    _check_arguments(table, threshold, policy)
    df = table.reset_index(drop=True) if not table.index.is_unique else table
    counts = list(counts) if counts is not None else _default_counts(df)
    derived = dict(derived or {})
    shares = dict(shares or {})
    small_n = dict(small_n or {})
    by_cols = [by] if isinstance(by, str) else list(by or [])
    within_cols = [within] if isinstance(within, str) else list(within or [])
    complements = dict(complements or {})
    proportions = dict(proportions or {})
    intervals = dict(intervals or {})
    _check_named_columns(
        df,
        counts,
        [*derived, *small_n, *shares, *by_cols, *within_cols],
        total_col=total_col,
        shares=shares,
        complements=complements,
        bases=[*derived.values(), *small_n.values()],
        proportions=proportions,
        intervals=intervals,
    )
    if threshold is None:
        return _not_suppressed(table)

    values = _count_values(df, counts)
    finite = np.isfinite(values)
    primary = finite & (values >= 1) & (values < threshold)
    hidden = primary.copy()
    if force is not None:
        hidden |= _force_mask(force, df, counts) & finite
    if policy == "round5":
        return _round5_table(
            table,
            df,
            threshold=int(threshold),
            counts=counts,
            values=values,
            primary=primary,
            hidden=hidden,
            derived=derived,
            small_n=small_n,
            shares=shares,
            total_row=_total_row_mask(df, total_row, counts),
            by_cols=by_cols,
            proportions=proportions,
            intervals=intervals,
            proportion_rows=proportion_rows,
            ci_level=ci_level,
            complement_label=complement_label,
            digits=digits,
        )
    n_forced = int((hidden & ~primary).sum())
    guarded = (
        np.zeros_like(hidden)
        if protect is None
        else _count_mask(protect, counts, len(df), "protect")
    )
    col_pos = {c: i for i, c in enumerate(counts)}
    _hide_small_remainders(hidden, values, guarded, complements, col_pos, threshold)
    is_total = _total_row_mask(df, total_row, counts)
    groups = _row_groups(df, by_cols)
    constraints = _constraints(
        df, groups, is_total, finite, counts, within_cols, total_col, column_totals
    )
    unprotected = _complementary_suppression(constraints, hidden, values, guarded)
    prim_df, comp_df, der_df = _cms_masks(
        df, primary, hidden, col_pos, derived, shares, small_n, groups, is_total
    )
    out = _labelled(df, prim_df, comp_df, der_df, f"<{threshold}", complement_label)
    notes = _cms_notes(
        threshold, primary, hidden & ~primary, der_df, n_forced, unprotected, complement_label
    )
    return _suppressed(table.index, out, prim_df, comp_df, der_df, threshold, notes)


def _check_arguments(table: Any, threshold: Any, policy: Any) -> None:
    """The table, threshold and policy of :func:`suppress`, checked."""
    if not isinstance(table, pd.DataFrame):
        raise ConfigError(
            f"The 'table' parameter of suppress must be a pandas DataFrame. "
            f"Got {type(table).__name__} instead."
        )
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1
    ):
        raise ConfigError(
            "The 'threshold' parameter of suppress must be a positive integer (counts below it "
            f"are hidden) or None to turn suppression off explicitly. Got {threshold!r} instead."
        )
    if policy not in TABLE_POLICIES:
        raise ConfigError(
            f"The 'policy' parameter of suppress must be one of {TABLE_POLICIES} (turn "
            f"suppression off with threshold=None). Got {policy!r} instead."
        )
    if policy == "round5" and threshold is not None:
        round5_threshold(threshold, "The 'threshold' parameter of suppress")


def _check_named_columns(
    df: pd.DataFrame,
    counts: list,
    named: list,
    *,
    total_col: Any,
    shares: dict,
    complements: dict,
    bases: list,
    proportions: dict,
    intervals: dict,
) -> None:
    """Every column the arguments of :func:`suppress` name exists (counts among the counts)."""
    missing = [c for c in [*counts, *named] if c not in df.columns]
    missing += [c for c in shares.values() if c not in counts]
    missing += [c for kv in complements.items() for c in kv if c not in counts]
    missing += [c for v in bases for c in ([v] if isinstance(v, str) else v) if c not in counts]
    if isinstance(total_col, str) and total_col not in counts:
        missing.append(total_col)
    missing += [c for c in [*proportions, *(c for lh in intervals for c in lh)] if c not in df]
    missing += [
        c for kn in [*proportions.values(), *intervals.values()] for c in kn if c not in counts
    ]
    if missing:
        raise ConfigError(
            f"suppress: column(s) {sorted(set(map(str, missing)))} not found among the count "
            f"columns or table columns. Table columns: {[str(c) for c in df.columns]}; "
            f"count columns: {counts}."
        )


def _not_suppressed(table: pd.DataFrame) -> SuppressedTable:
    """The table as given, recorded as not suppressed (``threshold=None``)."""
    shape_false = pd.DataFrame(False, index=table.index, columns=table.columns)
    return SuppressedTable(
        table=table.copy(),
        primary=shape_false,
        complementary=shape_false.copy(),
        derived=shape_false.copy(),
        threshold=None,
        notes=("Small-cell suppression was turned OFF for this table.",),
    )


def _count_values(df: pd.DataFrame, counts: list) -> np.ndarray:
    """The count columns as a float matrix (rows x counts; not a number: NaN)."""
    if not counts:
        return np.zeros((len(df), 0))
    return np.column_stack(
        [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) for c in counts]
    )


def _force_mask(force: Any, df: pd.DataFrame, counts: list) -> np.ndarray:
    """The ``force=`` cells on the count columns (a DataFrame aligned by name, else by shape)."""
    if isinstance(force, pd.DataFrame):
        return _count_mask(force, counts, len(df), "force")
    arr = np.asarray(force, dtype=bool)
    if arr.shape != df.shape:
        raise ConfigError(
            f"suppress: 'force' must have the table's shape {df.shape}; got {arr.shape}."
        )
    return arr[:, [list(df.columns).index(c) for c in counts]] if counts else arr[:, :0]


def _hide_small_remainders(
    hidden: np.ndarray,
    values: np.ndarray,
    guarded: np.ndarray,
    complements: dict,
    col_pos: dict,
    threshold: int,
) -> None:
    """Hide ``k`` (in place) where the unshown remainder ``n - k`` of a "k of n" is small."""
    for k_col, n_col in complements.items():
        kj, nj = col_pos[k_col], col_pos[n_col]
        rest = values[:, nj] - values[:, kj]
        with np.errstate(invalid="ignore"):
            small_rest = (rest >= 1) & (rest < threshold)
        # hide k (or n, when k is a protected headline count and n is not)
        take_n = small_rest & guarded[:, kj] & ~guarded[:, nj]
        hidden[:, kj] |= small_rest & ~take_n
        hidden[:, nj] |= take_n


def _row_groups(df: pd.DataFrame, by_cols: list) -> list:
    """The row positions of each ``by`` group (the whole table without ``by``)."""
    if not by_cols:
        return [np.arange(len(df))]
    return list(df.groupby(by_cols, sort=False, dropna=False).indices.values())


#: a cell of the count matrix: (row, count-column index)
_Cell = tuple[int, int]


def _constraints(
    df: pd.DataFrame,
    groups: list,
    is_total: np.ndarray,
    finite: np.ndarray,
    counts: list,
    within_cols: list,
    total_col: Any,
    column_totals: bool,
) -> list[tuple[list[_Cell], _Cell | None]]:
    """The published sums: (member cells, total cell or None) per column of each ``by``
    group, per count column of each ``within`` group, and per row with ``total_col``."""
    col_pos = {c: i for i, c in enumerate(counts)}
    row_cols = [c for c in counts if c != total_col] if total_col is not None else counts
    constraints: list[tuple[list[_Cell], _Cell | None]] = []
    for rows in groups:
        rows = np.sort(np.asarray(rows))
        members = [r for r in rows if not is_total[r]]
        totals = [r for r in rows if is_total[r]]
        if not column_totals:
            continue
        for c in counts:
            j = col_pos[c]
            cells = [(r, j) for r in members if finite[r, j]]
            total = (totals[0], j) if totals and finite[totals[0], j] else None
            constraints.append((cells, total))
    if within_cols:
        for rows in df.groupby(within_cols, sort=False, dropna=False).indices.values():
            rows = np.sort(np.asarray(rows))
            for c in counts:
                j = col_pos[c]
                constraints.append(([(r, j) for r in rows if finite[r, j]], None))
    if total_col is not None:
        for r in range(len(df)):
            cells = [(r, col_pos[c]) for c in row_cols if finite[r, col_pos[c]]]
            total = (
                (r, col_pos[total_col])
                if isinstance(total_col, str) and finite[r, col_pos[total_col]]
                else None
            )
            constraints.append((cells, total))
    return constraints


def _complementary_suppression(
    constraints: list[tuple[list[_Cell], _Cell | None]],
    hidden: np.ndarray,
    values: np.ndarray,
    guarded: np.ndarray,
) -> int:
    """Hide (in place) a second cell of every constraint with exactly one hidden quantity,
    until none is left; the number of constraints that could not be protected."""
    # cell -> constraints it belongs to (to prefer complements that protect several at once)
    member_of: dict[_Cell, list[int]] = {}
    for ci, (cells, total) in enumerate(constraints):
        for q in cells + ([total] if total is not None else []):
            member_of.setdefault(q, []).append(ci)

    def n_hidden_in(ci: int) -> int:
        cells, total = constraints[ci]
        return sum(hidden[q] for q in cells) + (int(hidden[total]) if total is not None else 0)

    def cost(q: _Cell, this: int) -> tuple[int, float, _Cell]:
        # new exposed constraints it creates minus exposed ones it repairs; then its size
        k = [n_hidden_in(ci) for ci in member_of.get(q, []) if ci != this]
        return (sum(x == 0 for x in k) - sum(x == 1 for x in k), float(values[q]), q)

    changed = True
    while changed:
        changed = False
        for ci, (cells, total) in enumerate(constraints):
            if n_hidden_in(ci) != 1:
                continue
            visible = [q for q in cells if not hidden[q]]
            pick = None
            for allowed in (False, True):  # protected cells only when nothing else protects
                positive = [q for q in visible if values[q] > 0 and guarded[q] <= allowed]
                zeros = [q for q in visible if values[q] == 0 and guarded[q] <= allowed]
                if positive:
                    pick = min(positive, key=lambda q: cost(q, ci))
                elif total is not None and not hidden[total] and guarded[total] <= allowed:
                    pick = total
                elif zeros:
                    pick = min(zeros, key=lambda q: cost(q, ci))
                if pick is not None:
                    break
            if pick is None:
                continue
            hidden[pick] = True
            changed = True
    return sum(n_hidden_in(ci) == 1 for ci in range(len(constraints)))


def _cms_masks(
    df: pd.DataFrame,
    primary: np.ndarray,
    hidden: np.ndarray,
    col_pos: dict,
    derived: dict,
    shares: dict,
    small_n: dict,
    groups: list,
    is_total: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The primary, complementary and derived cells of the table, as boolean frames."""
    n_rows = len(df)
    complementary = hidden & ~primary
    prim_df = pd.DataFrame(False, index=df.index, columns=df.columns)
    comp_df = prim_df.copy()
    der_df = prim_df.copy()
    for c, j in col_pos.items():
        prim_df[c] = primary[:, j]
        comp_df[c] = complementary[:, j]
    for d, bases in derived.items():
        bases = [bases] if isinstance(bases, str) else list(bases)
        mask = np.zeros(n_rows, dtype=bool)
        for b in bases:
            mask |= hidden[:, col_pos[b]]
        der_df[d] = mask & ~(prim_df[d].to_numpy() | comp_df[d].to_numpy())
    for d, base in shares.items():
        mask = hidden[:, col_pos[base]].copy()
        for rows in groups:
            rows = np.asarray(rows)
            if (is_total[rows] & hidden[rows, col_pos[base]]).any():
                mask[rows] = True
        der_df[d] = der_df[d].to_numpy() | (mask & ~(prim_df[d].to_numpy() | comp_df[d].to_numpy()))
    for d, bases in small_n.items():
        bases = [bases] if isinstance(bases, str) else list(bases)
        mask = np.zeros(n_rows, dtype=bool)
        for b in bases:
            mask |= primary[:, col_pos[b]]
        der_df[d] = der_df[d].to_numpy() | (mask & ~(prim_df[d].to_numpy() | comp_df[d].to_numpy()))
    return prim_df, comp_df, der_df


def _labelled(
    df: pd.DataFrame,
    prim_df: pd.DataFrame,
    comp_df: pd.DataFrame,
    der_df: pd.DataFrame,
    label_primary: str,
    complement_label: str,
) -> pd.DataFrame:
    """The display table: hidden cells replaced by their labels."""
    out = df.copy()
    for c in df.columns:
        p, q, d = prim_df[c].to_numpy(), comp_df[c].to_numpy(), der_df[c].to_numpy()
        if p.any() or q.any() or d.any():
            col = out[c].astype("object").to_numpy(copy=True)
            col[p] = label_primary
            col[q | d] = complement_label
            out[c] = col
    return out


def _cms_notes(
    threshold: int,
    primary: np.ndarray,
    complementary: np.ndarray,
    der_df: pd.DataFrame,
    n_forced: int,
    unprotected: int,
    complement_label: str,
) -> list[str]:
    """What policy ``"cms"`` did to the table, for printing under it."""
    label_primary = f"<{threshold}"
    notes = []
    n_p, n_c, n_d = int(primary.sum()), int(complementary.sum()), int(der_df.to_numpy().sum())
    if n_p:
        notes.append(
            f"Counts from 1 to {threshold - 1} are shown as '{label_primary}' "
            f"({n_p} cell{'s' if n_p != 1 else ''})."
        )
    if n_c or n_d:
        notes.append(
            f"'{complement_label}': hidden so that a small count cannot be recovered from totals"
            f"{', percentages or other tables' if n_forced else ' or percentages'} "
            f"(complementary suppression; {n_c + n_d} cell{'s' if n_c + n_d != 1 else ''})."
        )
    if unprotected:
        notes.append(
            f"Warning: {unprotected} hidden count(s) could not be protected within this table: "
            "each is the only count of its row or column, so that row's or column's total, "
            "wherever it is published, gives it away. Hide that total too (iop.report does so "
            "across its tables)."
        )
    return notes


def _round5_table(
    table: pd.DataFrame,
    df: pd.DataFrame,
    *,
    threshold: int,
    counts: list[str],
    values: np.ndarray,
    primary: np.ndarray,
    hidden: np.ndarray,
    derived: dict,
    small_n: dict,
    shares: dict,
    total_row: np.ndarray,
    by_cols: list[str],
    proportions: dict,
    intervals: dict,
    proportion_rows: np.ndarray | None,
    ci_level: float,
    complement_label: str,
    digits: int | Mapping[str, int] | None = None,
) -> SuppressedTable:
    """Policy ``"round5"`` of :func:`suppress` (rules in the module docstring)."""
    n_rows = len(df)
    col_pos = {c: i for i, c in enumerate(counts)}
    shown = np.isfinite(values) & ~hidden
    rounded = np.where(shown, round5(values), np.nan)
    prow = (
        np.ones(n_rows, dtype=bool)
        if proportion_rows is None
        else np.asarray(proportion_rows, dtype=bool)
    )
    new: dict[str, np.ndarray] = {
        c: np.where(shown[:, j], rounded[:, j], values[:, j]) for c, j in col_pos.items()
    }
    hide: dict[str, np.ndarray] = {}
    recomputed: dict[str, np.ndarray] = {}  # column -> rows recomputed from rounded counts
    with np.errstate(invalid="ignore", divide="ignore"):
        for d, (k, n) in proportions.items():
            rk, rn = rounded[:, col_pos[k]], rounded[:, col_pos[n]]
            new[d] = np.where(prow, np.where(rn > 0, rk / rn, np.nan), _numeric(df, d))
            hide[d] = hide.get(d, False) | (prow & _any_of(hidden, [k, n], col_pos))
            recomputed[d] = prow
        for (lo_c, hi_c), (k, n) in intervals.items():
            rk, rn = rounded[:, col_pos[k]], rounded[:, col_pos[n]]
            ok = prow & (rn > 0)
            lo, hi = wilson_ci(np.where(ok, rk, 0.0), np.where(ok, rn, 1.0), ci_level)
            for c, v in ((lo_c, lo), (hi_c, hi)):
                new[c] = np.where(ok, v, np.where(prow, np.nan, _numeric(df, c)))
                hide[c] = hide.get(c, False) | (prow & _any_of(hidden, [k, n], col_pos))
                recomputed[c] = prow
        _round5_shares(
            df, new, hide, recomputed, rounded, hidden, col_pos, shares, total_row, by_cols
        )
    for d, bases in derived.items():
        hide[d] = hide.get(d, False) | _any_of(hidden, bases, col_pos)
    for d, bases in small_n.items():
        hide[d] = hide.get(d, False) | _any_of(primary, bases, col_pos)
    _round_statistics(df, new, recomputed, col_pos, {*derived, *small_n}, digits)
    prim_df, comp_df, der_df = _round5_masks(df, primary, hidden, hide, col_pos)
    out = _round5_labelled(
        df, new, prim_df, comp_df, der_df, col_pos, f"<{threshold}", complement_label
    )
    notes = _round5_notes(
        threshold,
        primary,
        comp_df,
        der_df,
        bool(counts),
        bool(proportions or intervals or shares),
        complement_label,
    )
    return _suppressed(table.index, out, prim_df, comp_df, der_df, threshold, notes, "round5")


def _numeric(df: pd.DataFrame, c: str) -> np.ndarray:
    """Column ``c`` as floats (not a number: NaN), a copy."""
    return pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, copy=True)


def _any_of(mask: np.ndarray, bases: Any, col_pos: dict) -> np.ndarray:
    """Rows where ``mask`` holds for any of the count columns ``bases``."""
    bases = [bases] if isinstance(bases, str) else list(bases)
    out = np.zeros(mask.shape[0], dtype=bool)
    for b in bases:
        out |= mask[:, col_pos[b]]
    return out


def _round5_shares(
    df: pd.DataFrame,
    new: dict,
    hide: dict,
    recomputed: dict,
    rounded: np.ndarray,
    hidden: np.ndarray,
    col_pos: dict,
    shares: dict,
    total_row: np.ndarray,
    by_cols: list,
) -> None:
    """Shares of the group's total row recomputed from the rounded counts (in place)."""
    groups = _row_groups(df, by_cols)
    for d, base in shares.items():
        j = col_pos[base]
        est, mask = _numeric(df, d), hidden[:, j].copy()
        for rows in groups:
            rows = np.sort(np.asarray(rows))
            tot = rows[total_row[rows]]
            if len(tot):
                est[rows] = rounded[rows, j] / rounded[tot[0], j]
                mask[rows] |= hidden[tot[0], j]
            else:  # a share of a total the table does not show: not recomputable
                mask[rows] = True
        new[d] = est
        hide[d] = hide.get(d, False) | mask
        recomputed[d] = np.ones(len(df), dtype=bool)


def _round_statistics(
    df: pd.DataFrame,
    new: dict,
    recomputed: dict,
    col_pos: dict,
    of_counts: set,
    digits: int | Mapping[str, int] | None,
) -> None:
    """Other statistics of a count rounded, so that their formulas do not give the exact n
    back, and every other number to the precision the report shows (in place)."""
    for d in of_counts:
        if d in col_pos:
            continue
        v = new.get(d, _numeric(df, d))
        keep = recomputed.get(d, np.zeros(len(df), dtype=bool))
        r = _round_p(v) if str(d).lower() in _P_NAMES else np.round(v, ROUND5_DIGITS)
        new[d] = np.where(keep, v, r)
    if digits is None:
        return
    for c in df.columns:
        if c in col_pos or c in new or not pd.api.types.is_float_dtype(df[c]):
            continue
        dg = digits.get(c) if isinstance(digits, Mapping) else digits
        if dg is None:
            continue
        num = _numeric(df, c)
        new[c] = _round_p(num) if str(c).lower() in _P_NAMES else np.round(num, dg)


def _round5_masks(
    df: pd.DataFrame, primary: np.ndarray, hidden: np.ndarray, hide: dict, col_pos: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The primary, forced and derived cells under ``"round5"``, as boolean frames."""
    n_rows = len(df)
    prim_df = pd.DataFrame(False, index=df.index, columns=df.columns)
    comp_df, der_df = prim_df.copy(), prim_df.copy()
    for c, j in col_pos.items():
        prim_df[c] = primary[:, j]
        comp_df[c] = hidden[:, j] & ~primary[:, j]
    for d, m in hide.items():
        if d not in col_pos:
            der_df[d] = np.asarray(m, dtype=bool) & np.ones(n_rows, dtype=bool)
    return prim_df, comp_df, der_df


def _round5_labelled(
    df: pd.DataFrame,
    new: dict,
    prim_df: pd.DataFrame,
    comp_df: pd.DataFrame,
    der_df: pd.DataFrame,
    col_pos: dict,
    label_primary: str,
    complement_label: str,
) -> pd.DataFrame:
    """The display table: rounded and recomputed values, hidden cells replaced by labels."""
    out = df.copy()
    for c in df.columns:
        if c not in new:
            continue
        v = new[c]
        integer = pd.api.types.is_integer_dtype(df[c]) or c in col_pos
        col = np.array(
            [
                int(x) if integer and np.isfinite(x) and float(x).is_integer() else float(x)
                for x in v
            ],
            dtype=object,
        )
        if not (prim_df[c].any() or comp_df[c].any() or der_df[c].any()):
            col = pd.Series(list(col), index=df.index).infer_objects().to_numpy()
        out[c] = col
    return _labelled(out, prim_df, comp_df, der_df, label_primary, complement_label)


def _round5_notes(
    threshold: int,
    primary: np.ndarray,
    comp_df: pd.DataFrame,
    der_df: pd.DataFrame,
    has_counts: bool,
    has_proportions: bool,
    complement_label: str,
) -> list[str]:
    """What policy ``"round5"`` did to the table, for printing under it."""
    label_primary = f"<{threshold}"
    notes = []
    n_p, n_hid = int(primary.sum()), int(der_df.to_numpy().sum() + comp_df.to_numpy().sum())
    if has_counts:
        notes.append(
            "Counts are rounded to the nearest 5"
            + (
                f"; counts from 1 to {threshold - 1} are shown as '{label_primary}' "
                f"({n_p} cell{'s' if n_p != 1 else ''})"
                if n_p
                else ""
            )
            + ". A total may differ from the sum of its rounded parts."
        )
    if has_proportions:
        notes.append("Percentages and their intervals are computed from the rounded counts.")
    if n_hid:
        notes.append(
            f"'{complement_label}': computed from a count shown as '{label_primary}' "
            f"({n_hid} cell{'s' if n_hid != 1 else ''})."
        )
    return notes


def proportion_columns(
    derived: Mapping[str, str | Sequence[str]] | None,
    complements: Mapping[str, str] | None,
    percent: Sequence[str],
    percent_rows: np.ndarray | None,
    ci_level: float,
) -> dict[str, Any]:
    """The ``proportions=``, ``intervals=`` and ``proportion_rows=`` of a report table, read
    from how it declares its columns: a percentage column derived from two counts is ``k / n``
    (``k`` the count that ``complements`` pairs with ``n``, else the first), named
    ``ci_low``/``ci_high`` its Wilson interval (every proportion of the report has a Wilson
    interval: :func:`iop_outcomes.change.rates`, :func:`iop_outcomes.clinical_significance`,
    :func:`iop_outcomes.retention.followup_response`, :func:`iop_outcomes.retention.durability`,
    the quality measures).

    Examples
    --------
    >>> cols = ("rate", "ci_low", "ci_high")
    >>> proportion_columns({c: ["k", "n"] for c in cols}, {"k": "n"}, cols, None, 0.95)
    {'proportions': {'rate': ('k', 'n')}, 'intervals': {('ci_low', 'ci_high'): ('k', 'n')}, 'proportion_rows': None, 'ci_level': 0.95}
    """
    props: dict[str, tuple[str, str]] = {}
    ivals: dict[tuple[str, str], tuple[str, str]] = {}
    comp = dict(complements or {})
    pairs = {}
    for d, bases in (derived or {}).items():
        bs = [bases] if isinstance(bases, str) else list(bases)
        if d not in percent or len(bs) != 2:
            continue
        k = next((b for b in bs if b in comp), bs[0])
        n = comp.get(k, next(b for b in bs if b != k))
        pairs[d] = (k, n)
    for d, kn in pairs.items():
        if d == "ci_low" and pairs.get("ci_high") == kn:
            ivals[("ci_low", "ci_high")] = kn
        elif d not in ("ci_low", "ci_high"):
            props[d] = kn
    return {
        "proportions": props,
        "intervals": ivals,
        "proportion_rows": percent_rows,
        "ci_level": ci_level,
    }
