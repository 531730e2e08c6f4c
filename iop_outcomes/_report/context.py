"""The state of one build pass: tables, figures, published counts and the analysis cache.

:class:`Ctx` is what every section writes into: :meth:`Ctx.add_table` suppresses, scrubs
and registers a table (its counts keyed by population, see :mod:`.populations`),
:meth:`Ctx.add_figure` adds a figure, :meth:`Ctx.run` runs an analysis once per report
(later passes replay it from the cache, by name) and turns a failure into a visible note."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import pickle
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import IOPError
from .config import StudyConfig
from .format import fmt_param
from .populations import PopKey, headline_keys
from .render import ReportFigure, ReportTable, Section, figure_to_svg, plain_label
from .safety import scrub_identifiers
from .suppress import ROUND5_DIGITS, SuppressedTable, proportion_columns, round5, suppress


def _role_args(roles: dict, columns: Sequence) -> dict:
    """``counts``, ``complements``, ``derived`` and ``small_n`` of :func:`.suppress.suppress`
    from a result's column roles (:class:`iop_outcomes._results.TableResult`), for the
    columns of a table.

    >>> roles = {"count": "count of n", "n": "count", "estimate": "from count, n",
    ...          "mean": "statistic of n"}
    >>> args = _role_args(roles, ["group", "count", "n", "estimate"])
    >>> args["counts"], args["complements"], args["derived"], args["small_n"]
    (['count', 'n'], {'count': 'n'}, {'estimate': ['count', 'n']}, {})
    """
    cols = {str(c) for c in columns}
    out: dict = {"counts": [], "complements": {}, "derived": {}, "small_n": {}}
    for c, role in roles.items():
        if c not in cols:
            continue
        if role == "count" or role.startswith("count of "):
            out["counts"].append(c)
            total = role.removeprefix("count of ") if role != "count" else None
            if total in cols:
                out["complements"][c] = total
            continue
        kind, _, bases = role.partition(" of " if role.startswith("statistic") else " ")
        found = [b for b in bases.split(", ") if b in cols]
        if not found:
            continue
        if kind == "from":
            out["derived"][c] = found
        elif kind == "statistic":
            out["small_n"][c] = found if len(found) > 1 else found[0]
        else:  # pragma: no cover - a role the vocabulary does not have
            raise ValueError(f"unknown column role {role!r} of {c!r}")
    return out


class _FigureSlot:
    """The place of a figure in a section until it is drawn (:meth:`Ctx.draw_deferred`)."""


class Ctx:
    """State of one build pass.

    The report is built in passes (:func:`report`): analyses run once (``cache``), tables are
    rebuilt each pass with the populations hidden so far (``forced``) until the set of hidden
    populations stops growing. Figures are drawn at once when ``draw`` is true; otherwise
    their calls are kept and the last pass, whose tables are final, draws them
    (:meth:`draw_deferred`).
    """

    def __init__(
        self,
        cfg: StudyConfig,
        strict: bool,
        cache: dict | None = None,
        forced: frozenset = frozenset(),
        draw: bool = True,
        protected: frozenset | None = None,
        identifiers: frozenset = frozenset(),
        suppressed: dict | None = None,
    ):
        self.cfg = cfg
        #: the input's patient and episode ids, redacted from analysis messages the report
        #: prints (an error naming the episodes it concerns must not name them outside)
        self.identifiers = identifiers
        self.threshold = cfg.suppression_threshold
        #: the disclosure-control policy ("cms", "round5" or "none"; see .suppress)
        self.policy = cfg.suppression_policy
        self.protected = headline_keys(cfg) if protected is None else protected
        self.strict = strict
        self.tables: list[ReportTable] = []
        self.figures: list[ReportFigure] = []
        self.methods: list[tuple[str, str, dict, tuple[str, ...]]] = []
        self.facts: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.counter = 0
        #: analysis outcomes by name, shared by the passes: (what, by) -> (result, warnings,
        #: note shown in the section)
        self.cache: dict[tuple[str, str | None], tuple[Any, list[str], str]] = (
            cache if cache is not None else {}
        )
        self.ran: set[tuple[str, str | None]] = set()  # names run in this pass
        self.forced = forced
        #: suppressed tables by their input, shared by the passes (:meth:`_suppress`)
        self.suppressed: dict[bytes, SuppressedTable] = suppressed if suppressed is not None else {}
        self.draw = draw
        #: figure calls kept while ``draw`` is false: (section, slot, call, args, kwargs)
        self.deferred: list[tuple[Section, _FigureSlot, Callable, tuple, dict]] = []
        self.step: Callable[[str], None] = lambda label: None
        #: every published count: population key -> list of (value, hidden)
        self.cells: dict[PopKey, list[tuple[float, bool]]] = {}
        #: exact or approximate sums between populations: (total key, member keys)
        self.identities: list[tuple[PopKey, tuple[PopKey, ...]]] = []
        #: what this pass published for the cross-table check, in order (:meth:`replay`):
        #: ("table", frame, suppression arguments, cell keys), ("text", key, value),
        #: ("cell", key, value, hidden) and ("sum", total, members)
        self.published: list[tuple] = []

    def identity(self, total: PopKey, members: Sequence[PopKey]) -> None:
        """Record that population ``total`` is the sum of ``members`` (up to an unpublished
        remainder, which counts as a cell of its own)."""
        self.published.append(("sum", total, tuple(members)))
        self.identities.append((total, tuple(members)))

    def register(self, key: PopKey, value: float, hidden: bool) -> None:
        """Record a published count of population ``key`` (a table cell, a count quoted in
        the text, or a known zero left out of a table) for the cross-table check."""
        self.published.append(("cell", key, value, hidden))
        self._register(key, value, hidden)

    def _register(self, key: PopKey, value: float, hidden: bool) -> None:
        self.cells.setdefault(key, []).append((float(value), bool(hidden)))

    def text_count(self, key: PopKey | None, v: Any) -> str:
        """A count quoted in running text: registered like a table cell, hidden like one."""
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            return fmt_param(v)
        th = self.threshold
        small = th is not None and 1 <= float(v) < th
        hidden = self._text_hidden(key, v)
        if key is not None:
            self.published.append(("text", key, v))
            self._register(key, v, hidden)
        if small:
            return f"<{th}"
        if hidden:
            return "a suppressed number of"
        if self.policy == "round5":
            return f"{int(round5(v)):,}"
        return f"{int(v):,}" if float(v).is_integer() else fmt_param(v)

    def add_table(
        self,
        section: Section,
        key: str,
        title: str,
        df: pd.DataFrame,
        *,
        counts: Sequence[str] = (),
        derived: dict | None = None,
        small_n: dict | None = None,
        by=None,
        total_row=None,
        total_col=None,
        complements: dict | None = None,
        within=None,
        column_totals: bool = True,
        shares: dict | None = None,
        keys: dict[str, Callable[[pd.Series], PopKey | None]] | None = None,
        result: Any = None,
        method: str = "",
        notes: Sequence[str] = (),
        digits: int = 2,
        percent: Sequence[str] = (),
        percent_rows: np.ndarray | None = None,
    ) -> ReportTable:
        df = scrub_identifiers(df.reset_index(drop=True))
        # what the columns count, as the analysis result declares it (TableResult.roles), with
        # what this table adds (columns the report made, rows that are not a partition)
        declared = _role_args(getattr(result, "roles", None) or {}, df.columns)
        counts = [*declared["counts"], *(c for c in counts if c not in declared["counts"])]
        derived = {**declared["derived"], **(derived or {})}
        small_n = {**declared["small_n"], **(small_n or {})}
        complements = {**declared["complements"], **(complements or {})}
        if self.policy == "round5":  # statistics to one decimal (percentages to 0.1 %)
            digits = min(digits, ROUND5_DIGITS)
        cell_keys = {
            c: [fn(row) for _, row in df.iterrows()] for c, fn in (keys or {}).items() if c in df
        }
        args = dict(
            counts=list(counts),
            derived=derived,
            small_n=small_n,
            by=by,
            total_row=total_row,
            total_col=total_col,
            complements=complements,
            within=within,
            column_totals=column_totals,
            shares=shares,
            policy="round5" if self.policy == "round5" else "cms",
            **(
                {
                    **proportion_columns(
                        derived, complements, percent, percent_rows, self.cfg.ci_level
                    ),
                    # the precision the page shows: percentages to 0.1 %
                    "digits": {c: 3 if c in percent else digits for c in df.columns},
                }
                if self.policy == "round5"
                else {}
            ),
        )
        self.published.append(("table", df, args, cell_keys))
        st = self._publish_table(df, args, cell_keys)
        self.counter += 1
        method = method or (getattr(result, "method", "") or "")
        all_notes = [*notes, *st.notes]
        t = ReportTable(
            key=self._unique(key, [x.key for x in self.tables]),
            title=f"Table {self.counter}. {title}",
            frame=st.table,
            notes=tuple(all_notes),
            method=method,
            digits=digits,
            # proportions shown in the HTML as percentages (CSV and XLSX keep proportions)
            percent=tuple(c for c in percent if c in df.columns),
            percent_rows=percent_rows,
            labels=dict(self.cfg.labels),
        )
        self.tables.append(t)
        section.blocks.append(t)
        if result is not None or method:
            self.methods.append(
                (
                    t.title,
                    method,
                    dict(getattr(result, "params", {}) or {}),
                    tuple(getattr(result, "notes", ()) or ()),
                )
            )
        return t

    def _publish_table(self, df: pd.DataFrame, args: dict, cell_keys: dict) -> SuppressedTable:
        """Suppress a table with the cells of the populations forced and protected in this
        pass, and register its counts."""
        force = pd.DataFrame(False, index=df.index, columns=df.columns)
        protect = force.copy()
        for c, ks in cell_keys.items():
            force[c] = [k in self.forced for k in ks]
            protect[c] = [k in self.protected for k in ks]
        st = self._suppress(df, {**args, "force": force, "protect": protect})
        hidden = st.hidden
        for c, ks in cell_keys.items():
            vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            for i, k in enumerate(ks):
                if k is not None and np.isfinite(vals[i]):
                    self._register(k, vals[i], hidden[c].iloc[i])
        return st

    def _text_hidden(self, key: PopKey | None, v: Any) -> bool:
        th = self.threshold
        return th is not None and (1 <= float(v) < th or key in self.forced)

    def replay(self, published: list[tuple]) -> None:
        """Publish again, with this pass's forced and protected populations, what an earlier
        pass published (its :attr:`published`), without building the sections: the counts
        and sums the cross-table check needs (:func:`.disclosure.hidden_populations`), each
        table suppressed again (most are unchanged: :meth:`_suppress` remembers them).

        The passes that only settle the suppression replay the first pass; the sections'
        tables do not depend on which populations are hidden, so the settled set is the one
        full passes would reach, and a last full pass (:func:`..build._settle_suppression`)
        checks it."""
        for event in published:
            kind = event[0]
            if kind == "table":
                self._publish_table(*event[1:])
            elif kind == "text":
                _, key, v = event
                self._register(key, v, self._text_hidden(key, v))
            elif kind == "cell":
                self._register(*event[1:])
            else:
                self.identities.append(event[1:])
        self.published = list(published)

    def _suppress(self, df: pd.DataFrame, args: dict) -> SuppressedTable:
        """:func:`.suppress.suppress` of ``df`` with ``args``, once per report: the passes
        that settle the suppression rebuild every table, and most come out as before (same
        values, same cells forced and protected); those reuse the earlier outcome (a copy)."""
        try:  # the table and every argument, the forced and protected cells among them
            key = hashlib.sha256(pickle.dumps((df, args), protocol=5)).digest()
        except (pickle.PicklingError, TypeError, AttributeError):  # pragma: no cover
            return suppress(df, self.threshold, **args)
        st = self.suppressed.get(key)
        if st is None:
            st = self.suppressed[key] = suppress(df, self.threshold, **args)
        frames = ("table", "primary", "complementary", "derived")
        return dataclasses.replace(st, **{f: getattr(st, f).copy() for f in frames})

    @staticmethod
    def _unique(key: str, taken: list[str]) -> str:
        """A table's or figure's name, stable whatever else the data hold (its file name):
        the same table is ``change_phq_9_format.csv`` with or without a safety-item table
        before it; a second table of the same name gets ``_2``."""
        out, i = key, 1
        while out in taken:
            i += 1
            out = f"{key}_{i}"
        return out

    def defer(self, section: Section, call: Callable, args: tuple, kwargs: dict) -> None:
        """Keep a figure call of a pass that only settles the suppression, with its place in
        ``section`` (:func:`.figures.drawn_when_writing`)."""
        slot = _FigureSlot()
        section.blocks.append(slot)
        self.deferred.append((section, slot, call, args, kwargs))

    def draw_deferred(self) -> None:
        """Draw the figures this pass kept, in the order they were called, each into its
        place: what a call writes into its section (the figure, a note why it is not drawn)
        replaces the place held for it. Called on the pass whose tables are final."""
        self.draw = True
        deferred, self.deferred = self.deferred, []
        for section, slot, call, args, kwargs in deferred:
            into = Section(section.id, section.title)
            call(into, *args, **kwargs)
            i = next(i for i, b in enumerate(section.blocks) if b is slot)
            section.blocks[i : i + 1] = into.blocks

    def add_figure(self, section: Section, key: str, title: str, fig, caption: str = "") -> None:
        n = len(self.figures) + 1
        f = ReportFigure(
            key=self._unique(key, [x.key for x in self.figures]),
            title=f"Figure {n}. {title}",
            svg=figure_to_svg(fig),
            caption=f"Figure {n}. {caption or title}",
        )
        self.figures.append(f)
        section.blocks.append(f)

    def run(
        self, section: Section, what: str, fn: Callable[[], Any], *, by: str | None = None
    ) -> Any:
        """Run one analysis (once per report: later passes replay the cached outcome); on
        failure put a visible note in the section.

        The cache is keyed by name: ``what`` (which names the instrument where there are
        several) and ``by``, the grouping the analysis was run with, so an analysis that runs
        in one pass and not another cannot shift the others' cached outcomes. A name used
        twice in one pass is a programming error.

        Examples
        --------
        >>> from iop_outcomes._report.config import StudyConfig
        >>> from iop_outcomes._report.render import Section
        >>> cache, sec = {}, Section("s", "S")
        >>> first = Ctx(StudyConfig(), strict=True, cache=cache)
        >>> first.run(sec, "A", lambda: 1), first.run(sec, "B", lambda: 2, by="site")
        (1, 2)
        >>> later = Ctx(StudyConfig(), strict=True, cache=cache)  # a pass without "A"
        >>> later.run(sec, "B", lambda: 99, by="site")  # replayed by name, not run again
        2
        >>> later.run(sec, "B", lambda: 2, by="site")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        IOPError: Analysis ('B', 'site') run twice in one report pass: give it a `by`.
        """
        name = (what, by)
        if name in self.ran:
            raise IOPError(f"Analysis {name!r} run twice in one report pass: give it a `by`.")
        self.ran.add(name)
        if name in self.cache:
            out, msgs, note = self.cache[name]
            for m in msgs:
                if m not in self.warnings:
                    self.warnings.append(m)
            if note:
                section.html(note)
            return out
        blocks, n_warn = len(section.blocks), len(self.warnings)
        out = self._run(section, what, fn)
        note = "".join(section.blocks[blocks:])
        self.cache[name] = (out, list(self.warnings[n_warn:]), note)
        return out

    def _run(self, section: Section, what: str, fn: Callable[[], Any]) -> Any:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = fn()
            for w in caught:
                msg = f"{what}: {self.redact(str(w.message))}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
            return out
        except (ModuleNotFoundError, ImportError, AttributeError) as e:
            if self.strict and not isinstance(e, ModuleNotFoundError | ImportError):
                raise
            why = self.redact(str(e))
            section.html(
                f'<p class="unavailable">{html.escape(what)}: not available in this '
                f"installation ({html.escape(type(e).__name__)}: {html.escape(why)}).</p>"
            )
            self.warnings.append(f"{what}: not available ({why})")
        except Exception as e:
            if self.strict:
                raise
            why = self.redact(str(e))
            section.html(
                f'<p class="unavailable">{html.escape(what)} could not be computed: '
                f"{html.escape(why)}</p>"
            )
            self.warnings.append(f"{what} could not be computed: {why}")
        return None

    def redact(self, text: str) -> str:
        """``text`` with every input identifier in it replaced by ``[identifier]``.

        >>> from iop_outcomes._report.config import StudyConfig
        >>> ctx = Ctx(StudyConfig(), strict=False, identifiers=frozenset({"E000076"}))
        >>> ctx.redact("'format' changes within episode(s) ['E000076', 'E000174']")
        "'format' changes within episode(s) ['[identifier]', 'E000174']"
        """
        if not self.identifiers:
            return text
        return re.sub(
            r"[A-Za-z0-9_\-]+",
            lambda m: "[identifier]" if m.group(0) in self.identifiers else m.group(0),
            text,
        )

    def label(self, v: Any) -> Any:
        """A code as the reader sees it (the study file's ``[labels]``, then plain words)."""
        return plain_label(v, self.cfg.labels)

    def shown(self, v: Any) -> bool:
        """Whether a (suppressed) table value is a number that may be quoted."""
        return isinstance(v, (int, float, np.integer, np.floating)) and not (
            isinstance(v, float) and np.isnan(v)
        )
