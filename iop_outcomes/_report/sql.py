"""Write a report's tables, and the episode-level outcomes, to a SQL database for BI tools.

:func:`to_sql` writes, in one transaction (all tables replaced together, or none):

``report_<key>`` (one per table of the report, e.g. ``report_change_phq_9_format``)
    The shareable tables **as the report's CSV files hold them**: small-cell suppressed,
    identifiers scrubbed, numbers rounded to 6 decimals. A column whose numbers have
    suppressed cells is written as numbers with ``NULL`` in those cells, and a text column
    ``<column>_suppressed`` beside it holds the mark the CSV shows there (``"<11"`` for a count
    below the threshold, ``"*"`` for a complementary or derived cell), so a BI tool can sum the
    column and still say why a cell is empty.
``report_tables``
    One row per report table: ``table_name``, ``key``, ``title``, ``method``, ``notes`` (the
    table's footnotes, one per line) and ``position`` (report order).
``report_provenance``
    ``item`` / ``value`` (JSON text): the report's provenance block (input name and SHA-256,
    package versions, suppression threshold, configuration) and ``generated``.
``internal_episode_outcomes_identifiable`` (only with ``loaded=``)
    **Internal, identifiable**: one row per episode and instrument with ``patient_id``,
    ``episode_id``, dates, baseline, endpoint, change, percent change, response, remission,
    severity bands (:func:`iop_outcomes.change_scores`) and the Jacobson–Truax reliable change
    index and category (:func:`iop_outcomes.clinical_significance`, the instrument's published
    reliability and norms). It is not suppressed: keep it in a schema that only the program's
    own analysts can read.

Tables of an earlier run that this report no longer has (listed in the earlier
``report_tables``) are dropped in the same transaction, so the schema always holds one report.
Column types: dates ``DATE``, counts ``BIGINT``, other numbers ``DOUBLE PRECISION``, flags
``BOOLEAN``, labels ``TEXT``.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pandas as pd

from .._change import change_scores
from .._clinsig import clinical_significance
from .._episodes import episodes
from .._validation import validate_params
from ..io import LoadResult
from ..io.sql import read_sql, write_tables
from .document import Report
from .render import cell_for_file, shareable_frame

__all__ = ["to_sql", "episode_outcomes", "EPISODE_TABLE"]

#: Name of the identifiable episode-level table (internal use only).
EPISODE_TABLE = "internal_episode_outcomes_identifiable"


def _sql_name(key: str) -> str:
    return "report_" + re.sub(r"\W+", "_", key.lower()).strip("_")


def _typed(frame: pd.DataFrame, marks: frozenset[str] = frozenset({"*", "<11"})) -> pd.DataFrame:
    """A shareable table's cells as the CSV writes them, then typed per column: numbers
    (with ``NULL`` where suppressed, and the marks in ``<column>_suppressed``), flags, text.

    ``marks`` are the suppression labels of the report (``"*"`` and ``"<threshold"``). A
    column whose cells are numbers and marks is numeric, also when every cell is suppressed,
    so its type does not change from one report to the next.

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "b", "c"], "n": [12, "<11", "*"],
    ...                   "k": ["<11", "<11", "*"], "rate": [0.5, None, 0.25]})
    >>> out = _typed(t)
    >>> out.dtypes.astype(str).to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'group': 'str', 'n': 'Int64', 'n_suppressed': 'str', 'k': 'Int64', 'k_suppressed': 'str',
     'rate': 'Float64'}
    >>> out["n"].tolist(), out["n_suppressed"].tolist()
    ([12, <NA>, <NA>], [nan, '<11', '*'])
    """
    out: dict[str, Any] = {}
    for c in frame.columns:
        cells = [cell_for_file(v, c) for v in frame[c].tolist()]
        values = [v for v in cells if v is not None]
        hidden = [isinstance(v, str) and v in marks for v in cells]
        numbers = [v for v in values if not isinstance(v, str)]
        text = [v for v in values if isinstance(v, str) and v not in marks]
        if values and all(isinstance(v, bool) for v in values):
            out[c] = pd.array(cells, dtype="boolean")
        elif (
            (numbers or any(hidden)) and not text and not any(isinstance(v, bool) for v in numbers)
        ):
            kept = [None if h else v for v, h in zip(cells, hidden, strict=True)]
            whole = all(isinstance(v, int) for v in numbers)
            out[c] = pd.array(kept, dtype="Int64" if whole else "Float64")
            if any(hidden):
                out[f"{c}_suppressed"] = pd.array(
                    [v if h else None for v, h in zip(cells, hidden, strict=True)], dtype="str"
                )
        else:
            out[c] = pd.array([None if v is None else str(v) for v in cells], dtype="str")
    return pd.DataFrame(out, index=range(len(frame)))


def episode_outcomes(loaded, *, config=None) -> pd.DataFrame:
    """One row per episode and instrument: episodes, change scores and reliable change.

    Parameters
    ----------
    loaded : LoadResult
        The loaded data (:func:`iop_outcomes.load`).
    config : StudyConfig, dict or path, optional
        Study configuration: its ``instruments`` and ``[episodes]`` rules are used (the
        report's own), defaults otherwise.

    Returns
    -------
    DataFrame
        :func:`iop_outcomes.episodes` columns, then :func:`iop_outcomes.change_scores`'s
        (``pct_change``, ``response``, ``remission``, ``mcid_improved``, ``baseline_band``,
        ``endpoint_band``) and :func:`iop_outcomes.clinical_significance`'s per-episode
        Jacobson–Truax classification (``rci``, ``reliable_improvement``,
        ``reliable_deterioration``, ``clinical_pre``, ``functional_post``, ``clinsig_category``,
        ``harmed``; missing for episodes without a baseline and endpoint). **Identifiable.**

    Examples
    --------
    >>> import warnings, iop_outcomes as iop
    >>> from iop_outcomes._report.sql import episode_outcomes
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = iop.load(iop.synth.generate(n_episodes=30, seed=3).data)
    ...     out = episode_outcomes(res)
    >>> sorted(out["instrument"].unique()), out.groupby("instrument").size().tolist()
    (['GAD-7', 'PHQ-9'], [30, 30])
    >>> paired = out.dropna(subset=["change"])
    >>> bool((paired["change"] == paired["endpoint"] - paired["baseline"]).all())
    True
    """
    from .config import load_config
    from .inputs import episode_rules

    cfg = load_config(config)
    rules = episode_rules(cfg)
    data = loaded.data
    present = set(data["instrument"].astype("object").unique()) if len(data) else set()
    parts = []
    for inst in cfg.instruments:
        if inst not in present:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = episodes(data, instrument=inst, rules=rules)
            if not len(ep):
                continue
            ch = change_scores(ep)
            cs = clinical_significance(ep, instrument=inst).episodes
        add = [c for c in cs.columns if c not in ch.columns and c not in ("pre", "post")]
        cs = cs[add].rename(columns={"category": "clinsig_category"})
        parts.append(ch.join(cs, how="left"))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    for c in out.columns:  # categories as text (a database column has one type)
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("str").where(out[c].notna(), None)
    return out


def _earlier_tables(url: str, schema: str | None) -> list[str]:
    """Tables listed in an earlier run's ``report_tables`` (none when there is none)."""
    index = f"{schema}.report_tables" if schema else "report_tables"
    try:
        raw = read_sql(url, query=f"SELECT table_name FROM {_qualified(index)}")
    except Exception:  # no earlier report (or no such schema): nothing to drop
        return []
    return [str(t) for t in raw.frame["table_name"].astype("object") if isinstance(t, str)]


def _qualified(name: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in name.split("."))


@validate_params(
    {"report": [Report], "url": [str], "loaded": [LoadResult, None], "schema": [str, None]}
)
def to_sql(
    report: Report,
    url: str,
    *,
    loaded: LoadResult | None = None,
    schema: str | None = None,
) -> list[str]:
    """Write a report's tables (and, given ``loaded``, the identifiable episode table) to a
    database, replacing them in one transaction.

    Parameters
    ----------
    report : Report
        A built report (:func:`iop_outcomes.report`).
    url : str
        Database URL: ``postgresql://user@host/db`` (ADBC, bulk ``COPY``),
        ``duckdb:///file.duckdb``, ``sqlite:///file.db`` or any SQLAlchemy URL.
    loaded : LoadResult, optional
        The loaded data the report was built from: adds
        ``internal_episode_outcomes_identifiable`` (see :func:`episode_outcomes`), which is
        **identifiable**: write it only to a schema restricted to the program's analysts.
    schema : str, optional
        Schema to write into (created when missing); default: the connection's current one.

    Returns
    -------
    list of str
        The tables written (schema-qualified when a schema is given).

    See the module documentation for the tables and their column types. A password in ``url``
    is never shown.

    Examples
    --------
    >>> import os, tempfile, warnings, iop_outcomes as iop
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = iop.load(iop.synth.generate(n_episodes=60, seed=4).data)
    ...     light = {"instruments": ["PHQ-9"], "sensitivity": {"enabled": False}}
    ...     rep = iop.report(res, config=light)
    >>> db = os.path.join(tempfile.mkdtemp(), "bi.duckdb")
    >>> written = iop.to_sql(rep, f"duckdb:///{db}", loaded=res, schema="outcomes")
    >>> written[-1], "outcomes.report_tables" in written
    ('outcomes.internal_episode_outcomes_identifiable', True)
    """
    from .suppress import COMPLEMENT_LABEL

    th = report.config.suppression_threshold
    marks = frozenset({COMPLEMENT_LABEL} | ({f"<{th}"} if th else set()))
    tables: dict[str, pd.DataFrame] = {}
    index = []
    for i, t in enumerate(report.tables, start=1):
        name = _sql_name(t.key)
        tables[name] = _typed(shareable_frame(t.frame, t.index), marks)
        index.append(
            {
                "position": i,
                "table_name": name,
                "key": t.key,
                "title": t.title,
                "method": t.method or None,
                "notes": "\n".join(t.notes) or None,
            }
        )
    tables["report_tables"] = pd.DataFrame(index).astype(
        {"position": "Int64", "table_name": "str", "key": "str", "title": "str"}
    )
    prov = {"generated": report.generated, **report.provenance}
    tables["report_provenance"] = pd.DataFrame(
        {
            "item": pd.array(list(prov), dtype="str"),
            "value": pd.array(
                [json.dumps(v, sort_keys=True, default=str) for v in prov.values()], dtype="str"
            ),
        }
    )
    if loaded is not None:
        ep = episode_outcomes(loaded, config=report.config)
        tables[EPISODE_TABLE] = ep
    stale = [t for t in _earlier_tables(url, schema) if t not in tables]
    if any(not re.fullmatch(r"report_\w+", t) for t in stale):  # only ever drop our own
        stale = [t for t in stale if re.fullmatch(r"report_\w+", t)]
    return write_tables(url, tables, schema=schema, drop=stale)
