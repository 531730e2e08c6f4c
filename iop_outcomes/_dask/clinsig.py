"""``iop.clinical_significance`` on a Dask episode table: the whole sample's statistics in a
first pass, then the in-memory classification per partition, the counts summed.

1. Per partition, the in-memory ``prepare`` (instrument rule, groups, paired scores): the
   paired baselines' and endpoints' n, mean and sum of squared deviations, combined on the
   client (Chan, Golub & LeVeque 1983) into the whole sample's mean and SD — the ``sample``
   threshold ("SD of the paired baselines"), the sample means of the regression RCIs and a
   sample-based cut-off are the whole table's, as in memory.
2. Per partition, the in-memory method with that summary (``sample=``): each episode's
   category; the partitions' counts per group and outcome are summed and the rates and Wilson
   intervals computed once (``finish_rates``, the in-memory function). A partition without
   any pair (where the in-memory code would stop) still counts its rows: excluded per group,
   or left out as another instrument's; its episodes are classified with a placeholder pair
   that is dropped again.

The result is the same :class:`~iop_outcomes.ClinicalSignificanceResult`: the same table,
title, method text, parameters and notes (counts in the notes are the whole table's);
``.episodes`` is a Dask DataFrame of the per-episode categories. The distribution methods
(Jacobson-Truax, Gulliksen-Lord-Novick, Edwards-Nunnally, Hsu-Linn-Lord, Nunnally-Kotsch) and
the individual anchor-based and combined approaches run so; the others (Hageman-Arrindell's
group level, NHS Talking Therapies' joint PHQ-9/GAD-7 rules, statistical, percentage, the group
anchor) raise a ConfigError naming the route.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError
from . import require
from .tables import distinct_texts

__all__ = ["clinsig_dask"]

_ON_DASK = (
    "jacobson-truax",
    "gulliksen-lord-novick",
    "edwards-nunnally",
    "hsu-linn-lord",
    "nunnally-kotsch",
    "anchor",
    "combined",
)
_EXCLUDED = re.compile(r"^[\d,]+ row\(s\) without both .* were excluded\.$")
_HARMED = re.compile(r"^Of the deteriorated, [\d,]+ moved")
_ANALYSED = re.compile(r"^Analysed the [\d,]+ .* rows; [\d,]+ rows of other instruments were")


@dataclass(frozen=True)
class _Scores:
    """What the in-memory code reads of the paired scores of the whole table."""

    n: int
    centre: float
    m2: float

    def mean(self) -> float:
        return self.centre

    def std(self, ddof: int = 0) -> float:
        return float(np.sqrt(self.m2 / (self.n - ddof))) if self.n > ddof else float("nan")


@dataclass(frozen=True)
class _Sample:
    x: _Scores
    y: _Scores
    n: int


def clinsig_dask(episodes, m: str, args: dict, steps: dict):
    """:func:`iop_outcomes.clinical_significance` of a Dask episode table.

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> ep = pd.DataFrame({"instrument": "PHQ-9", "baseline": [20, 18, 15, 22, 17, 19, 14, 21],
    ...                    "endpoint": [6, 16, 15, 9, 17, 5, 14, 22]})
    >>> res = iop.clinical_significance(dd.from_pandas(ep, npartitions=3))
    >>> res.table[["outcome", "count", "n"]].values.tolist() == (
    ...     iop.clinical_significance(ep).table[["outcome", "count", "n"]].values.tolist())
    True
    """
    require("iop.clinical_significance")
    from dask import compute, delayed

    if m not in _ON_DASK or args["target"] != "individual":
        raise ConfigError(
            f"iop.clinical_significance(method={m!r}"
            + (", target='group'" if args["target"] != "individual" else "")
            + ") does not run on Dask yet (the distribution, anchor and combined methods do). "
            "The episode table has one row per episode: compute it "
            "(iop.episodes(dask_frame).compute()) and pass the pandas table."
        )
    steps["check"](m, args)
    if "instrument" in episodes.columns:  # the instrument rule on the whole table's instruments
        found = distinct_texts(episodes, "instrument")
        tiny = pd.DataFrame({"instrument": found, args["pre"]: 1.0, args["post"]: 1.0})
        keys = ("instrument", "pre", "post", "better_is")
        steps["prepare"](tiny, **{k: args[k] for k in keys}, by=None)
    parts = episodes.to_delayed()
    first = compute(*[delayed(_moments)(p, args, steps["prepare"]) for p in parts])
    kept = [f for f in first if isinstance(f, dict)]
    if not kept:
        raise next(f for f in first if isinstance(f, Exception))
    sample = _Sample(_combine(kept, "x"), _combine(kept, "y"), sum(k["x"][0] for k in kept))
    rules = (steps["resolve"], steps["by_columns"])
    run = [delayed(_classify)(p, m, args, sample, steps["run"], rules) for p in parts]
    every = compute(*run)
    results = [r for r in every if "table" in r]
    unpaired = [r for r in every if "unpaired" in r]
    if not results:
        raise DataError(
            f"clinical_significance: no row has both {args['pre']!r} and {args['post']!r} scores."
        )
    by = list(results[0]["by"])
    outcomes = list(dict.fromkeys(results[0]["table"]["outcome"]))
    table = pd.concat(
        [r["table"] for r in results] + [_unpaired_rows(r, outcomes) for r in unpaired],
        ignore_index=True,
    )
    summed = (
        table.groupby([*by, "outcome"], dropna=False, observed=True, sort=False)[
            ["count", "n", "n_excluded"]
        ]
        .sum()
        .reset_index()
    )
    table = steps["finish"](summed, outcomes, by, args["ci_level"])
    first_result = results[0]["result"]
    notes = _notes(first_result.notes, results + unpaired, args, sum(r["n_part"] for r in every))
    meta = results[0]["episodes"]
    eps = dd_from(
        [delayed(_episodes)(p, m, args, sample, steps["run"], meta, rules[0]) for p in parts],
        meta,
    )
    return replace(first_result, table=table, notes=tuple(notes), episodes=eps)


def dd_from(pieces, meta):
    import dask.dataframe as dd

    return dd.from_delayed(pieces, meta=meta, verify_meta=False)


def _moments(part: pd.DataFrame, a: dict, prepare):
    """Pass 1: n, mean and sum of squared deviations of the paired pre and post scores, and
    the partition's counts for the notes (an exception when the partition has no pairs)."""
    try:
        df, inst, notes, by_cols, x, y, used, better_is, base = prepare(
            part,
            instrument=a["instrument"],
            by=a["by"],
            pre=a["pre"],
            post=a["post"],
            better_is=a["better_is"],
        )
    except DataError as exc:
        return exc
    out = {}
    for name, s in (("x", x), ("y", y)):
        v = s[used].to_numpy(dtype=float)
        mean = float(v.mean()) if len(v) else 0.0
        out[name] = (len(v), mean, float(((v - mean) ** 2).sum()))
    return out


def _combine(parts: list, name: str) -> _Scores:
    """Chan, Golub & LeVeque (1983): n, mean and M2 of the whole from the parts'."""
    n_i = np.array([p[name][0] for p in parts], dtype=float)
    m_i = np.array([p[name][1] for p in parts])
    m2_i = np.array([p[name][2] for p in parts])
    n = n_i.sum()
    mean = float((n_i * m_i).sum() / n)
    return _Scores(int(n), mean, float(m2_i.sum() + (n_i * (m_i - mean) ** 2).sum()))


def _run_part(part, m, a, sample, run):
    try:
        return run(m, part, a, sample=sample)
    except DataError:  # no pairs (or no rows of the instrument) in this partition
        return None


def _classify(part, m, a, sample, run, rules):
    """Pass 2: the in-memory method on the partition with the whole sample's statistics:
    its counts per group and outcome and its notes. A partition without any pair still counts
    its rows (excluded, or of another instrument)."""
    res = _run_part(part, m, a, sample, run)
    if res is None:
        resolve, by_columns = rules
        try:
            kept = resolve(part, a["instrument"])[0]
        except DataError:  # no rows of the instrument: they count among the rows left out
            return {"n_part": len(part)}
        by = by_columns(a["by"], kept)
        return {
            "n_part": len(part),
            "n_rows": len(kept),
            "n_excluded": len(kept),
            "n_harmed": 0,
            "unpaired": kept[by].reset_index(drop=True),
            "by": by,
        }
    by = [c for c in res.table.columns if c not in _TABLE_COLUMNS]
    ep = res.episodes
    return {
        "table": res.table[[*by, "outcome", "count", "n", "n_excluded"]],
        "by": by,
        "n_excluded": int(res.episodes[["pre", "post"]].isna().any(axis=1).sum()),
        "n_harmed": int(ep["harmed"].fillna(False).sum()) if "harmed" in ep else 0,
        "n_rows": len(ep),
        "n_part": len(part),
        "result": replace(res, episodes=None),
        "episodes": ep.iloc[:0],
    }


_TABLE_COLUMNS = {
    "outcome",
    "count",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_level",
    "n_excluded",
}


def _unpaired_rows(r: dict, outcomes: list) -> pd.DataFrame:
    """The table rows of a partition without pairs: each group's rows excluded, nothing counted
    (as rates_table counts them in memory)."""
    by = r["by"]
    if by:
        sizes = r["unpaired"].groupby(by, dropna=False, sort=False).size().rename("n_excluded")
        groups = sizes.reset_index()
    else:
        groups = pd.DataFrame({"n_excluded": [len(r["unpaired"])]})
    rows = [groups.assign(outcome=o, count=0, n=0) for o in outcomes]
    return pd.concat(rows, ignore_index=True)[[*by, "outcome", "count", "n", "n_excluded"]]


def _episodes(part, m, a, sample, run, meta, resolve):
    """The partition's per-episode table; a partition without pairs gets one placeholder pair
    (an index label of its own, dropped after) so that its rows are classified as in memory."""
    res = _run_part(part, m, a, sample, run)
    if res is not None:
        return res.episodes
    try:
        kept = resolve(part, a["instrument"])[0]
    except DataError:
        return meta
    fake = kept.iloc[:1].copy()
    fake[a["pre"]], fake[a["post"]] = 1.0, 1.0
    fake.index = pd.Index(["\x00iop-placeholder"], dtype=object)
    res = run(m, pd.concat([part, fake]), a, sample=sample)
    return res.episodes.drop(index=fake.index)


def _notes(notes: tuple, results: list, a: dict, n_part: int) -> list[str]:
    """The first partition's notes with the counts that are the whole table's put back."""
    n_excl = sum(r["n_excluded"] for r in results)
    n_rows = sum(r["n_rows"] for r in results)
    n_harmed = sum(r["n_harmed"] for r in results)
    out = [n for n in notes if not _EXCLUDED.match(n) and not _ANALYSED.match(n)]
    out = [_HARMED.sub(f"Of the deteriorated, {n_harmed:,} moved", n) for n in out]
    name = results[0]["result"].params.get("instrument")
    if a["instrument"] is not None and name is not None and n_part > n_rows:
        out.insert(
            0,
            f"Analysed the {n_rows:,} {name} rows; {n_part - n_rows:,} rows of other "
            "instruments were left out.",
        )
    if n_excl:
        at = next(i for i, n in enumerate(out) if n.startswith("Rates: "))
        out.insert(
            at, f"{n_excl:,} row(s) without both {a['pre']!r} and {a['post']!r} were excluded."
        )
    return out
