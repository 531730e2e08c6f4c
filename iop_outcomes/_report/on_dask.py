"""The report's input on Dask (``iop.report(..., engine="dask")``, ``iop-outcomes report
--engine dask``): everything the report reads of the data, computed in the cluster once, before
the build; the build itself then runs as in memory.

What is computed where
----------------------
* In the cluster, over every row: the load (validation, scoring, ledger; :mod:`.._dask.load`),
  the dispositions and the ledger summary, the instruments present, the date spans, the
  PHQ-9 item 9 screen (each episode is in one partition of a Dask load), the group labels
  checked for names, the identifiers the last check looks for, the quality measures
  (:mod:`.._dask.quality`) and the episode table of every instrument (:mod:`.._dask.episodes`).
* On the client: the episode table (one row per episode and instrument, about 0.45 GB per
  million episodes with two instruments), so every episode-level section (flow, change, clinical significance,
  effect sizes, comparison, retention, survival, over time) is the in-memory analysis of
  every episode, and gives the in-memory numbers.
* The two models of every assessment, the weekly trajectories (a linear mixed model) and the
  missing-data sensitivity analysis (multiple imputation, mixed model), do not distribute by
  sums (docs/scale.md). They are fitted on the assessment rows of a **stratified random
  sample of episodes**: at most ``model_sample`` episodes of the primary instrument (default
  100,000), allocated to the comparison groups in proportion (largest remainders), drawn
  with the study's seed; both sections say so, with the sample size. With no more episodes
  than that, the sample is every episode and the report is the in-memory one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._dask import is_dask, require
from .._dask.tables import texts_of
from .._episodes import coerce_rules, episodes, episodes_with_discharge
from .._internal import refuse_internal
from ..io import load
from ..io._load.convert import id_codes
from .config import StudyConfig
from .inputs import DaskInput, ids_of, name_columns, safety_counts, spans_of

__all__ = ["dask_input", "MODEL_SAMPLE"]

#: default number of episodes the assessment-level models are fitted on
MODEL_SAMPLE = 100_000


@contextlib.contextmanager
def _client(scheduler: str | None):
    """The cluster to compute on: ``scheduler`` (an address), else the current default
    ``distributed`` client, else a LocalCluster started here and closed after."""
    require("iop.report")
    try:
        from distributed import Client, default_client
    except ImportError:  # pragma: no cover - the dask extra brings distributed
        from .._dask import INSTALL
        from ..exceptions import ConfigError

        raise ConfigError(f"iop.report on Dask needs distributed: {INSTALL}") from None
    if scheduler is None:
        try:
            current = default_client()
        except ValueError:  # no client yet: a local cluster of this machine's cores
            current = None
        if current is not None:
            yield current
            return
    with Client(scheduler) if scheduler else Client(dashboard_address=None) as client:
        yield client


def dask_input(
    data: Any,
    cfg: StudyConfig,
    rules: Any,
    *,
    scheduler: str | None = None,
    model_sample: int = MODEL_SAMPLE,
) -> DaskInput:
    """Load ``data`` on Dask and compute what the report reads (:class:`DaskInput`).

    ``data``: a path (a directory or glob of Parquet/CSV files, or one file), a Dask
    DataFrame, or the :class:`~iop_outcomes.LoadResult` of a Dask load.
    """
    _refuse_internal(data)
    with _client(scheduler):
        loaded = data
        if not _dask_load(data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = load(data, engine="dask", **cfg.load_options())
        loaded = loaded.persist()
        rows = loaded.data
        tallies = loaded.counts()
        summary = loaded.summary()
        cols = name_columns(cfg)
        facts = _facts(rows, cols)
        quality = None
        if "PHQ-9" in facts["instruments"]:
            from .._change.quality import quality_measures

            try:
                # the report reads the rates; the lazy detail would outlive the cluster
                quality = dataclasses.replace(quality_measures(rows), detail=pd.DataFrame())
            except Exception as exc:  # the section notes it, as ctx.run does in memory
                quality = exc
        wanted = [i for i in cfg.instruments if i in facts["instruments"]]
        both, sample_rows, sens, sample = _episodes_and_sample(
            rows, wanted, cfg, rules, model_sample, facts["categories"]
        )
    return DaskInput(
        data=sample_rows,
        both=both,
        sens=sens,
        tallies=tallies,
        ledger_summary=summary,
        instruments=frozenset(facts["instruments"]),
        spans=facts["spans"],
        safety=facts["safety"],
        labels=facts["labels"],
        ids=facts["ids"],
        quality=quality,
        sha256=loaded.sha256,
        partitions=int(rows.npartitions),
        sample=sample,
    )


def _refuse_internal(data: Any) -> None:
    """The in-memory report's guard on every input file: an internal, identifiable output
    (monitor's caseload) is refused, also among a directory's or a glob's files."""
    refuse_internal(data)
    if isinstance(data, (str, os.PathLike)):
        p = Path(data)
        found = p.rglob("*") if p.is_dir() else map(Path, glob.glob(str(data), recursive=True))
        for f in found:
            if f.is_file():
                refuse_internal(f)


def _facts(rows, cols: list[str]) -> dict:
    """One pass over the partitions: instruments, date spans, the item 9 screen, the labels
    of ``cols`` and the identifiers, combined on the client."""
    from dask import compute, delayed

    parts = compute(*[delayed(_partition_facts)(p, cols) for p in rows.to_delayed()])
    spans = {}
    for c in dict.fromkeys(c for p in parts for c in p["spans"]):
        found = [p["spans"][c] for p in parts if c in p["spans"]]
        if found:
            spans[c] = (min(f[0] for f in found), max(f[1] for f in found))
    safety = None
    if parts and parts[0]["safety"] is not None:
        safety = tuple(int(sum(p["safety"][i] for p in parts)) for i in range(3))
    orders = _category_orders([p["cats"] for p in parts])
    labels = {}
    for c in cols:  # the distinct labels (categorical as in memory: the check reads categories)
        found = [p["labels"][c] for p in parts if c in p["labels"]]
        if found:
            seen = pd.unique(np.concatenate(found))
            labels[c] = pd.Series(
                pd.Categorical(seen, categories=orders[c]) if c in orders else seen
            )
    return {
        "categories": orders,
        "instruments": set().union(*(p["instruments"] for p in parts)),
        "spans": spans,
        "safety": safety,
        "labels": labels,
        "ids": frozenset().union(*(p["ids"] for p in parts)),
    }


def _category_orders(per_part: list[dict]) -> dict:
    """The in-memory load's category order of each categorical column: a list every partition
    shares (a fixed design, such as the severity bands) as it is; else (each partition sorted
    its own labels, as a load does) the sorted union.

    Examples
    --------
    >>> _category_orders([{"f": ["b", "c"], "s": ["z", "a"]}, {"f": ["a", "b"], "s": ["z", "a"]}])
    {'f': ['a', 'b', 'c'], 's': ['z', 'a']}
    """
    out = {}
    for c in dict.fromkeys(k for p in per_part for k in p):
        lists = [p[c] for p in per_part if c in p]
        same = all(x == lists[0] for x in lists)
        out[c] = lists[0] if same else sorted(set().union(*lists), key=str)
    return out


def _partition_facts(part: pd.DataFrame, cols: list[str]) -> dict:
    """One partition's share of :func:`_facts` (every episode's rows are in it)."""
    labels = {
        c: part[c].dropna().astype(object).unique()
        for c in cols
        if c in part.columns and not pd.api.types.is_numeric_dtype(part[c])
    }
    cats = {
        c: list(part[c].cat.categories)
        for c in part.columns
        if isinstance(part[c].dtype, pd.CategoricalDtype)
    }
    return {
        "cats": cats,
        "instruments": set(texts_of(part["instrument"])),
        "spans": spans_of(part),
        "safety": safety_counts(part),
        "labels": labels,
        "ids": ids_of(part),
    }


def _episodes_and_sample(rows, wanted: list, cfg: StudyConfig, rules, cap: int, orders: dict):
    """The episodes of every wanted instrument (computed, ordered and typed as in memory), the
    assessment rows of the model sample, the sensitivity inputs from them, and the sample's
    description."""
    if not wanted:
        return pd.DataFrame(), rows._meta, None, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both = episodes(rows, instrument=wanted, rules=rules).compute()
    both = in_memory_order(both, wanted, orders)
    r = coerce_rules(rules)  # what episodes() records in memory (Dask carries no attrs)
    both.attrs.update({"rules": r.to_dict(), "rules_text": r.describe()})
    primary = cfg.primary_instrument if cfg.primary_instrument in wanted else wanted[0]
    prim = both.loc[both["instrument"].to_numpy() == primary]
    by = cfg.comparison_group if cfg.comparison_group in prim.columns else None
    chosen = sample_episodes(prim, by, cap, cfg.seed)
    kept = rows if chosen is None else rows[rows["episode_id"].isin(list(chosen))]
    sample_rows = kept.compute()
    if "source_row" in sample_rows.columns:  # the input's order, as an in-memory load keeps it
        sample_rows = sample_rows.sort_values("source_row", kind="stable")
    sample_rows = sample_rows.reset_index(drop=True)
    sample_rows = as_in_memory(sample_rows, orders)
    sens = None
    if cfg.sensitivity_enabled:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, *sens = episodes_with_discharge(
                sample_rows, instrument=wanted, rules=rules, discharge=primary
            )
        sens = tuple(sens)
    n = len(prim) if chosen is None else len(chosen)
    return both, sample_rows, sens, {"n": n, "of": len(prim), "by": by, "instrument": primary}


def as_in_memory(frame: pd.DataFrame, orders: dict) -> pd.DataFrame:
    """A computed Dask frame typed as in memory: ids as categories of their sorted texts (as a
    load stores them), other text as objects, and each categorical column's categories in
    the in-memory load's order (``orders``, :func:`_category_orders`; a union of partitions'
    categories follows the partitions otherwise)."""
    frame = frame.copy()
    for c in frame.columns[frame.dtypes == "string"]:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    for c, order in orders.items():
        if c in frame.columns and isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].cat.set_categories(order)
    id_codes(frame)
    return frame


def in_memory_order(both: pd.DataFrame, wanted: list, orders: dict) -> pd.DataFrame:
    """A computed Dask episode table as :func:`iop_outcomes.episodes` gives it in memory: the
    instruments in the order asked, each sorted by ``episode_id``, typed by
    :func:`as_in_memory`.

    Examples
    --------
    >>> t = pd.DataFrame({"episode_id": ["b", "a", "a"], "instrument": ["X", "X", "Y"]})
    >>> in_memory_order(t, ["Y", "X"], {})[["episode_id", "instrument"]].values.tolist()
    [['a', 'Y'], ['a', 'X'], ['b', 'X']]
    """
    rank = pd.Series(range(len(wanted)), index=wanted)
    order = both["instrument"].astype(object).map(rank).to_numpy()
    both = both.assign(_order=order).sort_values(["_order", "episode_id"], kind="stable")
    return as_in_memory(both.drop(columns="_order").reset_index(drop=True), orders)


def sample_episodes(ep: pd.DataFrame, by: str | None, cap: int, seed: int):
    """The ids of at most ``cap`` episodes drawn without replacement, allocated to the levels
    of ``by`` in proportion (Hamilton's largest remainders, a tie to the level first in sorted
    order; a missing level is a level), with ``seed``; ``None`` when there are no more than
    ``cap`` episodes (all of them).

    Examples
    --------
    >>> ep = pd.DataFrame({"episode_id": [f"e{i}" for i in range(10)],
    ...                    "format": ["virtual"] * 7 + ["in_person"] * 3})
    >>> got = sample_episodes(ep, "format", 5, seed=1)
    >>> len(got), sorted(ep.set_index("episode_id").loc[got, "format"].value_counts().items())
    (5, [('in_person', 2), ('virtual', 3)])
    >>> sample_episodes(ep, "format", 10, seed=1) is None
    True
    """
    if len(ep) <= cap:
        return None
    ids = ep["episode_id"].astype(object).to_numpy()
    levels = (
        ep[by].astype(object).where(ep[by].notna(), "\x00missing").to_numpy()
        if by
        else np.zeros(len(ep))
    )
    keys, codes = np.unique(levels.astype(str), return_inverse=True)
    sizes = np.bincount(codes, minlength=len(keys))
    quota = sizes * cap / len(ep)
    take = np.floor(quota).astype(int)
    short = cap - take.sum()
    take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(len(keys)):  # a handful of levels, not episodes
        members = np.sort(ids[codes == k])
        chosen.append(rng.choice(members, size=take[k], replace=False))
    return np.sort(np.concatenate(chosen))


def is_dask_input(data: Any) -> bool:
    """Whether ``data`` asks for the Dask path by itself (a Dask DataFrame, or a Dask load)."""
    return is_dask(data) or _dask_load(data)


def _dask_load(data: Any) -> bool:
    """Whether ``data`` is the :class:`~iop_outcomes.LoadResult` of a Dask load."""
    return hasattr(data, "ledger") and getattr(data, "partitions", None) is not None
