"""What :func:`iop_outcomes.load` returns: :class:`LoadResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..._dask import by_patient, mark_by_patient
from ..._results import TableResult
from .ledger import DISPOSITIONS


@dataclass(frozen=True)
class LoadResult:
    """Result of :func:`load`.

    Attributes
    ----------
    data : DataFrame
        Accepted and repaired rows, typed, in the contract's columns, with
        ``total``, ``n_answered``, ``scoring_rule``, ``severity``,
        ``safety_flag`` and ``source_row``.
    ledger : DataFrame
        One row per input row: ``source``, ``row`` (1-based data row; the
        header is row 0), ``disposition``, ``reason`` (with the row's values),
        ``check`` (the first reason without its values, for counting), ``column``, ``value``.
    problems : DataFrame
        One row per problem found (a row may have several), with ``fix``.
    source, sha256 : str
        Input name and SHA-256 (file bytes, a hash of a DataFrame, or of a database result
        as an Arrow IPC stream; a database URL's password is never part of the name).
    settings : dict
        Scoring settings used (missing-item policy per instrument).
    partitions : Dask DataFrame or None
        ``engine="dask"`` only: one row per partition (``source``, ``rows_in``, ``accepted``,
        ``repaired``, ``quarantined``), from which ``counts()`` checks the ledger invariant.
        In that mode ``data``, ``ledger`` and ``problems`` are lazy Dask DataFrames and
        ``counts()``, ``n_read`` and ``summary()`` compute (see :mod:`iop_outcomes._dask.load`).
    """

    data: pd.DataFrame
    ledger: pd.DataFrame
    problems: pd.DataFrame
    source: str
    sha256: str
    settings: dict = field(default_factory=dict)
    partitions: Any = field(default=None, repr=False)

    @property
    def n_read(self) -> int:
        if self.partitions is not None:  # Dask: from the partition counts
            return sum(self.counts().values())
        return len(self.ledger)

    def counts(self) -> dict[str, int]:
        """Rows per disposition (always all three keys)."""
        if self.partitions is not None:
            from ..._dask.load import dask_counts

            return dask_counts(self)
        vc = self.ledger["disposition"].value_counts()
        return {d: int(vc.get(d, 0)) for d in DISPOSITIONS}

    def summary(self) -> TableResult:
        """Ledger summary: rows by disposition and reason."""
        led = self.ledger
        if self.partitions is not None:  # Dask: everything below counted in one pass
            from ..._dask.load import dask_summary

            tab, c, more, n_safety, data = dask_summary(self)
            n_rows = sum(c.values())
        else:
            n_rows, c, data = len(led), self.counts(), self.data
            tab = (
                led.assign(check=led["check"].cat.add_categories([""]).fillna(""))
                .groupby(["disposition", "check"], observed=True, sort=False)
                .size()
                .rename("rows")
                .reset_index()
            )
        order = {d: i for i, d in enumerate(DISPOSITIONS)}
        tab = tab.sort_values(
            ["disposition", "rows", "check"],
            key=lambda s: s.map(order) if s.name == "disposition" else s,
            ascending=[True, False, True],
            kind="mergesort",
        ).reset_index(drop=True)
        tab["share"] = tab["rows"] / max(n_rows, 1)
        notes = [
            f"Rows read {n_rows:,} = accepted {c['accepted']:,} + repaired {c['repaired']:,} "
            f"+ quarantined {c['quarantined']:,}."
        ]
        if self.partitions is not None:
            notes += more
        else:
            p = self.problems
            notes += [r for r in p.loc[p["severity"] == "note", "reason"]] if len(p) else []
            n_safety = int(data["safety_flag"].fillna(False).sum()) if "safety_flag" in data else 0
        if n_safety:
            notes.append(
                f"PHQ-9 item 9 (thoughts of death or self-harm) > 0 on {n_safety:,} accepted "
                "administrations: follow the program's risk-assessment protocol (Simon et al. 2013)."
            )
        from ..._report.safety import name_like_values  # here: the report package imports load

        for col, names in name_like_values(data).items():
            notes.append(
                f"{col} values look like people's names: {', '.join(map(repr, names))}. If they "
                "are, rename them before sharing any output grouped by this column."
            )
        return TableResult(
            tab,
            title=f"Data quality: {self.source}",
            method="iop.load validation and scoring",
            params={k: v for k, v in self.settings.items() if k != "instruments"},
            notes=tuple(notes),
        )

    def persist(self) -> LoadResult:
        """Dask: the frames loaded once and kept in the cluster's memory (``dask.persist``), so
        the counts and the analyses that follow do not load again; in memory: ``self``."""
        if self.partitions is None:
            return self
        import dataclasses

        import dask

        data, ledger, problems, partitions = dask.persist(
            self.data, self.ledger, self.problems, self.partitions
        )
        if by_patient(self.data):  # still one partition per patient: no shuffle in episodes
            mark_by_patient(data)
        return dataclasses.replace(
            self, data=data, ledger=ledger, problems=problems, partitions=partitions
        )

    def __repr__(self) -> str:
        c = self.counts()
        return (
            f"LoadResult(source={self.source!r}, rows_read={self.n_read}, accepted={c['accepted']}, "
            f"repaired={c['repaired']}, quarantined={c['quarantined']})"
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
