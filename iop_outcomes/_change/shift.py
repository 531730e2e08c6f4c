"""Severity band at baseline × endpoint: the transition table (:func:`severity_shift`)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import instruments as _instruments
from .._dask import is_dask
from .._grouping import group_columns
from .._results import TableResult
from .._validation import validate_params
from ..exceptions import ConfigError
from .scores import label_missing, score
from .summary import AGE_BANDS

__all__ = ["severity_shift", "SeverityShiftResult"]


@dataclass(frozen=True, repr=False)
class SeverityShiftResult(TableResult):
    """Band-to-band transition table.

    ``to_frame()`` is tidy: one row per instrument, group, baseline band and
    endpoint band, with ``n`` and ``row_pct`` (percent of the baseline band's
    paired episodes). ``matrix()`` gives the square table for one group.
    """

    group_cols: tuple[str, ...] = ()
    band_orders: dict = field(default_factory=dict)
    normalize: bool = False

    def groups(self) -> list[tuple]:
        keys = ["instrument", *self.group_cols]
        return list(self.table[keys].drop_duplicates().itertuples(index=False, name=None))

    def matrix(self, instrument=None, stratum=None, *, normalize=None, **renamed) -> pd.DataFrame:
        """Square table (rows: baseline band, columns: endpoint band) for one instrument.

        ``stratum`` selects one stratum of a result computed with ``by=`` (a value, or a
        tuple with one value per ``by`` column); by default the counts are summed over
        strata. ``normalize=True`` gives row percentages. ``instrument`` is needed when the
        result holds several.
        """
        if renamed:
            k = next(iter(renamed))
            hint = " it is now called 'stratum'." if k == "group" else ""
            raise ConfigError(f"SeverityShiftResult.matrix has no parameter {k!r};{hint}")
        instrument, sub = _instrument_rows(self.table, instrument, "table")
        if stratum is not None:
            gv = stratum if isinstance(stratum, tuple) else (stratum,)
            if len(gv) != len(self.group_cols):
                raise ConfigError(
                    f"stratum= needs one value per by= column {list(self.group_cols)}."
                )
            for c, v in zip(self.group_cols, gv, strict=True):
                sub = sub[sub[c].astype(str) == str(v)]
            if sub.empty:
                raise ConfigError(f"No stratum {stratum!r} in the table.")
        labels = self.band_orders[instrument]
        m = sub.pivot_table(
            index="baseline_band",
            columns="endpoint_band",
            values="n",
            aggfunc="sum",
            observed=False,
        ).reindex(index=labels, columns=labels, fill_value=0)
        m = m.fillna(0).astype(int)
        m.index.name = "baseline band"
        m.columns.name = "endpoint band"
        norm = self.normalize if normalize is None else normalize
        if norm:
            tot = m.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return m.div(tot.where(tot > 0), axis=0) * 100.0
        m["Total"] = m.sum(axis=1)
        return m

    def _panels(self):
        """(heading, matrix) per instrument and group; row % rounded to 0.1 when normalized."""
        for key in self.groups():
            inst, gv = key[0], key[1:]
            head = (
                inst
                if not gv
                else f"{inst} — "
                + ", ".join(f"{c} = {v}" for c, v in zip(self.group_cols, gv, strict=True))
            )
            m = self.matrix(inst, gv if gv else None)
            yield head, (m.round(1) if self.normalize else m)

    def plot(self, **kwargs):
        """Draw this result with :func:`iop_outcomes.plots.plot_severity_shift` (keywords passed on)."""
        from ..plots.change import plot_severity_shift

        return plot_severity_shift(self, **kwargs)

    def summary(self) -> str:
        parts = [self.title]
        for head, m in self._panels():
            parts += ["", head + (" (row %)" if self.normalize else " (counts)"), m.to_string()]
        parts.append("")
        parts += self._footer()
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        out = [f"<div><p><strong>{html.escape(self.title)}</strong></p>"]
        for head, m in self._panels():
            out.append(f"<p>{html.escape(head)}</p>" + m.to_html(border=0, classes="iop-table"))
        out.append("".join(f"<br><small>{html.escape(s)}</small>" for s in self._footer()))
        return "".join(out) + "</div>"


def _instrument_rows(t: pd.DataFrame, instrument, where: str) -> tuple[str, pd.DataFrame]:
    """The rows of result table ``t`` for ``instrument`` (any spelling), or for its only
    instrument when ``instrument`` is None; ConfigError otherwise."""
    insts = list(dict.fromkeys(t["instrument"]))
    if instrument is None:
        if len(insts) != 1:
            raise ConfigError(f"The {where} holds several instruments {insts}; pass instrument=.")
        instrument = insts[0]
    else:
        instrument = _instruments.canonical_name(str(instrument)) or str(instrument)
    sub = t[t["instrument"] == instrument]
    if sub.empty:
        raise ConfigError(f"No instrument {instrument!r} in the {where}; it has {insts}.")
    return instrument, sub


@validate_params(
    {
        "episodes": ["frame", "dask_frame"],
        "instrument": ["instruments", None],
        "by": ["columns", None],
        "normalize": ["boolean"],
        "age_bands": AGE_BANDS,
    }
)
def severity_shift(
    episodes: pd.DataFrame,
    *,
    instrument=None,
    by=None,
    normalize: bool = False,
    age_bands: Sequence[float] | None = None,
) -> SeverityShiftResult:
    """Baseline band × endpoint band counts (and row percentages) per instrument and group.

    Uses paired episodes whose two scores both fall in a band. ``row_pct`` is
    the percentage of a baseline band's episodes ending in each endpoint band
    (rows sum to 100). The notes give, per group, the share that moved to a
    less severe band, stayed, or moved to a more severe band.

    Parameters
    ----------
    episodes : DataFrame
        Episode table or any DataFrame with ``baseline`` and ``endpoint``.
    instrument : str, list of str or None
        The library's instrument rule: ``None`` (default) needs a table of exactly one
        instrument (ConfigError naming those found otherwise); a name keeps that
        instrument's rows; a list tabulates each listed instrument on its own (its own
        bands; never pooled). A table without an ``instrument`` column needs a name.
    by : str or list of str, optional
        Grouping column(s), as in :func:`change_summary` (``admit_quarter``
        and ``age_band`` are derived when absent).
    normalize : bool
        Print row percentages instead of counts (the table holds both).
    age_bands : sequence of numbers, optional
        Age-band lower bounds for ``by="age_band"``.

    Returns
    -------
    SeverityShiftResult
        Tidy ``to_frame()`` (``instrument``, group columns, ``baseline_band``,
        ``endpoint_band``, ``n``, ``row_pct``) and ``matrix()``.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [22, 16, 12, 12], "endpoint": [9, 16, 3, 15]})
    >>> res = iop.severity_shift(ep, instrument="PHQ-9")
    >>> res.matrix().loc["moderate", ["minimal", "moderately severe", "Total"]].tolist()
    [1, 1, 2]
    """
    if is_dask(episodes):  # counts per group and score pair per partition (_dask/shift.py)
        from .._dask.shift import severity_shift_dask

        return severity_shift_dask(episodes, locals(), severity_shift, group_columns)
    sc = score(episodes, instrument, None, None, severity_shift, many=True)
    f = sc.frame
    groups, cols = group_columns(f, by, "iop.severity_shift", age_bands)
    ok = f["baseline_band"].notna().to_numpy() & f["endpoint_band"].notna().to_numpy()
    w = pd.DataFrame(
        {
            "instrument": sc.inst_name,
            "baseline_band": f["baseline_band"].astype(object),
            "endpoint_band": f["endpoint_band"].astype(object),
        },
        index=f.index,
    )
    for c in cols:
        w[c] = groups[c].astype(object)
    w = label_missing(w, cols)[ok]
    keys = ["instrument", *cols]
    counts = w.groupby([*keys, "baseline_band", "endpoint_band"], sort=False).size()
    orders = {inst.name: inst.band_labels for inst in sc.insts}
    parts, notes = [], []
    for inst in sc.insts:
        labels = orders[inst.name]
        present = w.loc[w["instrument"] == inst.name, keys].drop_duplicates()
        if present.empty:
            continue
        present = present.sort_values(keys, key=lambda s: s.astype(str))
        grid = present.merge(pd.DataFrame({"baseline_band": labels}), how="cross").merge(
            pd.DataFrame({"endpoint_band": labels}), how="cross"
        )
        idx = pd.MultiIndex.from_frame(grid)
        n = counts.reindex(idx, fill_value=0).to_numpy()
        grid["n"] = n.astype(int)
        row_tot = grid.groupby([*keys, "baseline_band"], sort=False)["n"].transform("sum")
        with np.errstate(invalid="ignore", divide="ignore"):
            grid["row_pct"] = np.where(row_tot > 0, 100.0 * grid["n"] / row_tot, np.nan)
        rank = {lab: i for i, lab in enumerate(labels)}
        step = grid["endpoint_band"].map(rank) - grid["baseline_band"].map(rank)
        if inst.better_is != "lower":
            step = -step
        grid["_dir"] = np.sign(step)
        for gkey, gdf in grid.groupby(keys, sort=False):
            tot = int(gdf["n"].sum())
            if tot == 0:
                continue
            better = int(gdf.loc[gdf["_dir"] < 0, "n"].sum())
            same = int(gdf.loc[gdf["_dir"] == 0, "n"].sum())
            worse = int(gdf.loc[gdf["_dir"] > 0, "n"].sum())
            label = ", ".join(str(x) for x in (gkey if isinstance(gkey, tuple) else (gkey,)))
            notes.append(
                f"{label}: n = {tot:,}; less severe band {better:,} ({100 * better / tot:.1f}%), "
                f"same band {same:,} ({100 * same / tot:.1f}%), "
                f"more severe band {worse:,} ({100 * worse / tot:.1f}%)."
            )
        parts.append(grid.drop(columns="_dir"))
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame(columns=[*keys, "baseline_band", "endpoint_band", "n", "row_pct"])
    n_dropped = int(len(f) - ok.sum())
    notes.insert(
        0,
        f"Paired episodes with a band at both time points: {int(ok.sum()):,}; "
        f"{n_dropped:,} episode(s) lack a score (or have one outside the instrument's range).",
    )
    sources = "; ".join(f"{i.name}: {i.bands_source}" for i in sc.insts if i.bands_source)
    return SeverityShiftResult(
        table=table,
        title="Severity band at baseline × endpoint",
        method="Cross-tabulation of instrument-defined severity bands (paired episodes)",
        params={"by": cols or None, "bands": sources},
        notes=tuple(notes),
        group_cols=tuple(cols),
        band_orders=orders,
        normalize=normalize,
    )
