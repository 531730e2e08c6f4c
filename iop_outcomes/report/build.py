"""Build the shareable outcome report from a data file (or loaded data) and a study config.

:func:`report` loads the data (through :func:`iop_outcomes.load`, so every row has a ledger
disposition), builds the episode table per instrument (:func:`iop_outcomes.episodes`), runs the
library's analyses, passes every table through small-cell suppression and identifier scrubbing,
draws the figures **from the suppressed tables** (so a figure can never show what a table
hides), writes the methods section from the result objects' own ``method``/``params``/``notes``
and the instrument registry's citations, and adds a provenance block.
"""

from __future__ import annotations

import html
import json
import platform
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._results import MISSING_GROUP
from ..change import _DERIVED
from ..exceptions import ConfigError, DataError, IOPError
from .config import StudyConfig, load_config
from .render import (
    FILE_DECIMALS,
    ReportFigure,
    ReportTable,
    Section,
    figure_to_svg,
    plain_label,
    render_html,
    write_csv,
    write_xlsx,
)
from .render import timestamp as _timestamp
from .safety import find_identifiers, name_like_values, scrub_identifiers
from .suppress import suppress

__all__ = ["Report", "report"]

_PACKAGES = ("iop_outcomes", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "openpyxl")
_GROUP_LABEL_ALL = "All"


# ============================================================================ the Report object
@dataclass
class Report:
    """A built report: sections, shareable tables and figures, provenance.

    Use :meth:`write` to produce ``report.html``, ``tables/*.csv``, ``tables.xlsx`` and
    ``provenance.json`` in a directory; :meth:`html` gives the HTML text; :meth:`table` one
    table as a DataFrame (after suppression).
    """

    title: str
    subtitle: str
    sections: list[Section]
    tables: list[ReportTable]
    figures: list[ReportFigure]
    provenance: dict[str, Any]
    config: StudyConfig
    generated: str
    banner: str = ""
    stamp_label: str = "Generated"
    warnings: list[str] = field(default_factory=list)

    def html(self) -> str:
        """The self-contained HTML document."""
        return render_html(
            title=self.title,
            subtitle=self.subtitle,
            generated=self.generated,
            sections=self.sections,
            banner=self.banner,
            stamp_label=self.stamp_label,
        )

    def table(self, key: str) -> pd.DataFrame:
        """One shareable table by key (see :attr:`keys`)."""
        for t in self.tables:
            if t.key == key:
                return t.frame.copy()
        raise ConfigError(f"No table {key!r} in this report. Tables: {self.keys}.")

    @property
    def keys(self) -> list[str]:
        """Keys of the tables, in report order (also the CSV file names)."""
        return [t.key for t in self.tables]

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write ``report.html``, ``tables/<key>.csv``, ``tables.xlsx`` and ``provenance.json``.

        Returns the paths written. Files are byte-identical for the same data, configuration
        and seed (with the default data-derived date stamp).
        """
        out = Path(out)
        try:
            (out / "tables").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"Cannot create the output directory {str(out)!r}: {e}.") from None
        paths: dict[str, Path] = {}
        for old in (out / "tables").glob("*.csv"):
            old.unlink()
        for t in self.tables:
            paths[f"tables/{t.key}.csv"] = write_csv(t, out / "tables" / f"{t.key}.csv")
        about = [
            (self.stamp_label.lower(), self.generated),
            ("input sha256", self.provenance.get("input", {}).get("sha256", "")),
            ("small-cell suppression", self.provenance.get("suppression", "")),
        ]
        paths["tables.xlsx"] = write_xlsx(
            self.tables, out / "tables.xlsx", title=self.title, about=about
        )
        text = self.html()
        (out / "report.html").write_text(text, encoding="utf-8")
        paths["report.html"] = out / "report.html"
        (out / "provenance.json").write_text(
            json.dumps(self.provenance, sort_keys=True, indent=2, default=str) + "\n",
            encoding="utf-8",
        )
        paths["provenance.json"] = out / "provenance.json"
        return paths

    def __str__(self) -> str:
        lines = [
            self.title,
            f"{len(self.sections)} sections, {len(self.tables)} tables, "
            f"{len(self.figures)} figures; {self.stamp_label.lower()} {self.generated}",
        ]
        lines += [f"  {t.key}: {t.title}" for t in self.tables]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(t.title)}</li>" for t in self.tables)
        return (
            f"<div><strong>{html.escape(self.title)}</strong> — {len(self.tables)} tables, "
            f"{len(self.figures)} figures. Use <code>.write(dir)</code> to save."
            f"<ul>{items}</ul></div>"
        )


# ============================================================================ cross-table keys
#: A published count's population: (instrument, grouping column, group value, population).
#: The whole cohort (an "Overall" row or an "All" column) is grouping column and value "*".
_Key = tuple[str, str, str, str]
_ALL = "*"
_OVERALL_LABELS = ("Overall", "All", "(all)", _ALL)


def _key(inst: str, gcol: str | None, value: Any, pop: str) -> _Key:
    if gcol is None or str(value) in _OVERALL_LABELS:
        return (str(inst), _ALL, _ALL, pop)
    return (str(inst), str(gcol), str(value), pop)


# flow boxes that other tables also publish, under one population name
_FLOW_POPS = {
    ("admitted", "admitted"): "admitted",
    ("baseline", "baseline measured"): "baseline",
    ("in_treatment", "measured after baseline"): "measured",
    ("endpoint", "discharged, endpoint scored"): "endpoint_scored",
    ("discharge", "completed"): "completed",
    ("discharge", "dropped_out"): "dropped_out",
    ("discharge", "transferred"): "transferred",
}


def _flow_pop(stage: str, status: str) -> str:
    stage, status = str(stage), str(status)
    if (stage, status) in _FLOW_POPS:
        return _FLOW_POPS[(stage, status)]
    if stage.startswith("followup_") and status == "responded":
        return f"fu_{stage.removeprefix('followup_')}_responded"
    return f"flow|{stage}|{status}"


def _parents(pop: str) -> tuple[str, ...]:
    """Populations that contain ``pop`` (subsets of episodes of the same instrument and group),
    declared generously: a pair declared nested that is not only makes the check stricter."""
    p = pop.split("|")
    if pop == "admitted":
        return ()
    if pop == "qm|den":  # DRR-E denominator: PHQ-9 episodes with an elevated index score
        return ("admitted",)
    if pop in ("baseline", "measured", "endpoint_scored", "unpaired", "censored"):
        return ("admitted",)
    if pop == "paired":
        return ("baseline", "measured", "endpoint_scored")
    if pop in ("cs_n", "nhs_n_all", "cmp_n") or p[0] in ("rate_n", "es_n", "shift_total"):
        return ("paired",)
    if pop == "nhs_n_caseness":
        return ("nhs_n_all",)
    if p[0] == "rate_k":
        return (f"rate_n|{p[1]}",)
    if p[0] == "cs":
        return ("cs_n",)
    if pop == "nhs|reliable recovery":  # recovered and reliably improved
        return ("nhs|recovery", "nhs|reliable improvement")
    if p[0] == "nhs":
        return ("nhs_n_caseness",) if "recover" in p[1] else ("nhs_n_all",)
    if p[0] == "shift":
        return (f"shift_total|{p[1]}",)
    if pop.startswith("fu_") and pop.endswith("_responded"):
        return (pop.removesuffix("_responded") + "_eligible",)
    if pop.startswith("fu_") and pop.endswith("_eligible"):
        return ("admitted",)
    if p[0] == "attr_ret":
        return (f"fu_{p[1]}_responded",)
    if p[0] == "dur_n" and p[2] != "change_from_endpoint":  # endpoint and follow-up scored
        return (f"dur_n|{p[1]}|change_from_endpoint",)
    if p[0] == "dur_n":
        return (f"fu_{p[1]}_responded",)
    if p[0] == "dur_k":
        return (f"dur_n|{p[1]}|{p[2]}",)
    if pop == "sens_n|completers":
        return ("completed",)
    if p[0] == "safety":
        return ("safety_known",)
    if pop == "qm|followup_phq9":
        return ("qm|den",)
    if p[0] == "qm" and len(p) == 2:
        return ("qm|followup_phq9",)
    if p[0] == "qm":
        return (f"qm|{p[1]}|{p[2]}|den",) if p[-1] == "num" else ()
    return ("admitted",)


def _ancestors(pop: str) -> list[str]:
    out: list[str] = []
    todo = list(_parents(pop))
    while todo:
        a = todo.pop(0)
        if a not in out:
            out.append(a)
            todo.extend(_parents(a))
    return out


#: Populations of one group that overlap without either holding the other, counted by rules
#: that mostly pick the same episodes: the DRR-E denominator (PHQ-9 above 9 at an index score)
#: and the NHS Talking Therapies denominators (finished courses paired on either instrument;
#: at caseness on either).
_OVERLAPS = {
    "qm|den": ("nhs_n_all", "nhs_n_caseness"),
    "nhs_n_all": ("qm|den",),
    "nhs_n_caseness": ("qm|den",),
}


def _related(pop: str) -> list[str]:
    """Populations whose count, beside the count of ``pop`` in the same group, could give a
    small number of people away by subtraction: those holding it (declared generously, see
    :func:`_parents`) and those it overlaps (:data:`_OVERLAPS`). Used in both directions."""
    return [*_ancestors(pop), *_OVERLAPS.get(pop, ())]


def _hidden_populations(ctx: _Ctx) -> frozenset:
    """Populations that must be hidden in every table and in the text (see :func:`report`).

    Starts from every population hidden in some table (primary, complementary or forced) and
    applies three kinds of sums, each a constraint ``total = sum(members) + remainder``:

    * related populations of one group (:func:`_related_pairs`): ``a = b + (a - b)`` for
      every pair where one contains the other or the two overlap, within an instrument and
      across instruments, in both directions (the direction with a negative remainder says
      nothing and is skipped), so a difference from 1 to threshold - 1 hides the smaller;
    * the whole cohort: ``overall = sum over the groups`` of each grouping column;
    * sums the sections declared (:meth:`_Ctx.identity`), e.g. every flow stage adds up to the
      episodes admitted, censored = completed + transferred + ..., clinical-significance
      categories add up to their n.

    The remainder is an unpublished count: zero when the sum is exact (an attacker can assume
    it), unknown otherwise. A constraint with exactly one unknown quantity gives it away; when
    that quantity is a hidden count, or a remainder from 1 to threshold - 1 (a small count of
    people shown by no table, such as "admitted but not analysed"), one more published count of
    the constraint is hidden: its smallest positive visible member, else its total. Then all
    constraints are solved together (:func:`_linear_leak`), and while they determine a small
    count, one more count is hidden. Repeated until nothing changes; :func:`report` then
    rebuilds the tables with the result, whose own complementary suppression may hide more,
    until a pass hides nothing new.
    """
    th = ctx.threshold
    if th is None:
        return frozenset()
    reg: dict[_Key, float] = {}
    hidden: set[_Key] = set()
    for k, cells in ctx.cells.items():
        reg[k] = cells[0][0]
        # hidden somewhere, or two tables disagree on the count (then it is not one
        # population after all, and hiding it everywhere is the safe reading)
        if any(h for _, h in cells) or len({v for v, _ in cells}) > 1:
            hidden.add(k)
    cons: list[tuple[_Key, tuple[_Key, ...]]] = list(ctx.identities)
    cons += _related_pairs(reg)
    # overall = sum over the groups of each grouping column
    values: dict[tuple[str, str], set[str]] = {}
    for inst, gcol, val, _ in reg:
        if gcol != _ALL and not gcol.endswith("(contrast)"):
            values.setdefault((inst, gcol), set()).add(val)
    pops = sorted({(k[0], k[3]) for k in reg})
    for (inst, gcol), vals in sorted(values.items()):
        for i2, pop in pops:
            if i2 != inst:
                continue
            members = tuple((inst, gcol, v, pop) for v in sorted(vals))
            if any(m in reg for m in members):
                cons.append(((inst, _ALL, _ALL, pop), members))

    def peel() -> None:
        changed = True
        while changed:
            changed = False
            for total, members in cons:
                q = (total, *members)
                unreg = [k for k in q if k not in reg]
                if len(unreg) > 1:
                    continue
                hid = [k for k in q if k in hidden]
                if unreg:
                    u = unreg[0]
                    rest = sum(reg[m] for m in members if m != u)
                    val = rest if u == total else reg[total] - rest
                    unknown = [val]
                else:
                    r = reg[total] - sum(reg[m] for m in members)
                    if r < 0:  # not a sum after all
                        continue
                    unknown = [r] if r > 0 else []
                if len(hid) + len(unknown) != 1 or (not hid and not 1 <= unknown[0] < th):
                    continue
                pick = _complement_for(total, members, reg, hidden, ctx.protected)
                if pick is not None:
                    hidden.add(pick)
                    changed = True

    # then the constraints as one linear system: hide until no small count is determined
    for _ in range(10 * len(reg) + 10):
        peel()
        pick = _linear_leak(cons, reg, hidden, th, ctx.protected)
        if pick is None:
            break
        hidden.add(pick)
    return frozenset(hidden)


def _related_pairs(reg: dict[_Key, float]) -> list[tuple[_Key, tuple[_Key, ...]]]:
    """``(a, (b,))`` for every two published counts ``a``, ``b`` of one group (same grouping
    column and value) whose populations are related: the same population or one
    :func:`_related` to the other, under the same or another instrument.

    A pair is not strict nesting in general: the episodes of a group paired on the GAD-7 are
    nearly all, not all, among those paired on the PHQ-9 (or the reverse), so their counts
    differ by the episodes paired on one and not the other; the NHS n counts episodes paired
    on either instrument; the DRR-E and NHS denominators pick mostly the same episodes by
    different rules. The safe reading treats every such pair like a nested one, in both
    directions: a difference from 1 to threshold - 1 hides the smaller count (it is the
    member of the constraint with the small positive remainder), equal counts are shown or
    hidden together (the constraint is exact), and the direction with a negative remainder
    is skipped. Every constraint holds for the published numbers, so an extra one can only
    make the check stricter.
    """
    by_group: dict[tuple[str, str], dict[str, list[_Key]]] = {}
    for k in sorted(reg):
        by_group.setdefault((k[1], k[2]), {}).setdefault(k[3], []).append(k)
    pairs: set[tuple[_Key, _Key]] = set()
    for pops in by_group.values():
        for pop, ks in pops.items():
            across = _is_membership(pop)
            for rel in [pop, *_related(pop)]:
                for b in pops.get(rel, ()):
                    for a in ks:
                        if a != b and (a[0] == b[0] or (across and _is_membership(rel))):
                            pairs.update(((a, b), (b, a)))
    return [(a, (b,)) for a, b in sorted(pairs)]


#: Populations that say which episodes a group has (admitted, measured, paired, completed,
#: followed up, and the denominators drawn from them), as opposed to outcomes counted among
#: them (responders, clinical categories, severity bands). The same group's membership counts
#: under two instruments are related; its outcome counts under two instruments are not (a
#: PHQ-9 responder and a GAD-7 responder are different events). The rest of a partition
#: (unpaired, not measured, dropped out, ...) is left out: it follows from the counts here
#: through the sums the sections declare, and relating it too would hide the smaller rest
#: (and with it the larger population) instead of the smaller population.
_MEMBERSHIP = frozenset(
    {
        "admitted",
        "baseline",
        "measured",
        "endpoint_scored",
        "paired",
        "completed",
        "cs_n",
        "cmp_n",
        "nhs_n_all",
        "nhs_n_caseness",
        "qm|den",
    }
)


def _is_membership(pop: str) -> bool:
    return pop in _MEMBERSHIP or pop.startswith(("es_n|", "rate_n|", "fu_"))


def _complement_for(
    total: _Key, members: Sequence[_Key], reg: dict, hidden: set, protected: frozenset = frozenset()
) -> _Key | None:
    """The published count of a constraint to hide next: its smallest positive visible
    member, else its total; a headline count (``protected``, :func:`_headline_keys`) only
    when nothing else of the constraint can be hidden."""
    for allowed in (False, True):
        cand = sorted(
            (reg[m], m)
            for m in members
            if m in reg and m not in hidden and reg[m] and (allowed or m not in protected)
        )
        if cand:
            return cand[0][1]
        if total in reg and total not in hidden and (allowed or total not in protected):
            return total
    return None


#: Populations of the primary instrument's whole cohort that the summary quotes (the paired
#: n, the response, remission and recovery rates): complements are taken elsewhere first.
_HEADLINE_POPS = (
    "paired",
    "rate_n|response",
    "rate_k|response",
    "rate_n|remission",
    "rate_k|remission",
    "cs_n",
    "cs|recovered",
)


def _protected_populations(ctx: _Ctx) -> frozenset:
    """The headline counts (:func:`_headline_keys`) and every related count of the same group
    equal to one of them (e.g. the episodes with an endpoint score when all of them are
    paired): hiding such a count while the headline shows its value would protect nothing,
    and the cross-table check would then hide the headline to protect it."""
    reg = {k: cells[0][0] for k, cells in ctx.cells.items()}
    heads = {k for k in ctx.protected if k in reg}
    out = set(ctx.protected)
    for a, (b,) in _related_pairs(reg):
        if a in heads and b not in out and reg[b] == reg[a]:
            out.add(b)
    return frozenset(out)


def _headline_keys(cfg: StudyConfig) -> frozenset:
    """The headline counts that complementary suppression leaves shown while any other
    count of the constraint can be hidden instead (issue 11: a program's overall paired n
    and rates are never hidden because 1–10 episodes lack an endpoint)."""
    return frozenset(_key(cfg.primary_instrument, None, None, p) for p in _HEADLINE_POPS)


def _linear_leak(
    cons: Sequence[tuple[_Key, tuple[_Key, ...]]],
    reg: dict,
    hidden: set,
    th: int,
    protected: frozenset = frozenset(),
) -> _Key | None:
    """A count to hide because the constraints, solved together, determine a small count.

    Solving all constraints at once can give back what no single constraint does (e.g.
    admitted = paired + unpaired, admitted = measured + not measured and measured = paired + r
    give r = unpaired - not measured). Unknowns are the hidden counts and the counts published
    nowhere. A constraint whose remainder is zero (or that holds an unpublished count) is an
    exact equation; one with a positive remainder constrains nothing (the remainder absorbs
    any value) but its remainder is a quantity of its own. A combination ``c . x`` of the
    unknowns is determined by the exact equations ``A x = b`` when ``c`` lies in the row space
    of ``A``, i.e. is orthogonal to its null space (eigenvectors of ``A'A`` with eigenvalue 0).
    Checked for each small hidden count (``c`` a unit vector) and each small remainder
    (``c`` the unknowns' coefficients in its constraint). Returns the smallest visible count of
    a constraint holding the first such determined small count, or None.
    """
    exact: list[dict[Any, float]] = []
    rem: list[tuple[int, dict[Any, float]]] = []  # constraints with a small remainder
    unknown_set: set[Any] = set()
    small = {k for k in hidden if k in reg and 1 <= reg[k] < th}
    for i, (total, members) in enumerate(cons):
        row: dict[Any, float] = {total: 1.0}
        for m in members:
            row[m] = row.get(m, 0.0) - 1.0
        unk = {k: v for k, v in row.items() if v and (k not in reg or k in hidden)}
        if all(k in reg for k in row):
            r = reg[total] - sum(reg[m] for m in members)
            if r < 0:
                continue
            if r > 0:
                if r < th:
                    rem.append((i, unk))
                    unknown_set.update(unk)
                continue
        if unk:
            exact.append(unk)
            unknown_set.update(unk)
    unknown = sorted(unknown_set, key=str)
    targets: list[tuple[Any, dict[Any, float]]] = [(k, {k: 1.0}) for k in unknown if k in small]
    targets += [(("remainder", i), c) for i, c in rem]
    if not targets:
        return None
    # connected sets of unknowns (through exact equations and the targets)
    parent = {k: k for k in unknown}

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for ks in [list(e) for e in exact] + [list(c) for _, c in targets]:
        for k in ks[1:]:
            parent[find(k)] = find(ks[0])
    eqs: dict[Any, list[dict[Any, float]]] = {}
    for e in exact:
        eqs.setdefault(find(next(iter(e))), []).append(e)
    cols_of: dict[Any, list[Any]] = {}
    for k in unknown:
        cols_of.setdefault(find(k), []).append(k)
    nulls: dict[Any, tuple[dict[Any, int], np.ndarray]] = {}
    determined: list[Any] = []
    for name, c in targets:
        if not c:  # nothing unknown left in it: given away directly
            determined.append(name)
            continue
        root = find(next(iter(c)))
        if root not in nulls:
            cols = cols_of[root]
            col = {k: j for j, k in enumerate(cols)}
            a = np.zeros((len(eqs.get(root, [])), len(cols)))
            for i, e in enumerate(eqs.get(root, [])):
                for k, v in e.items():
                    a[i, col[k]] = v
            if len(a):
                ev, vec = np.linalg.eigh(a.T @ a)
                null = vec[:, ev < 1e-9 * max(1.0, float(ev.max()))]
            else:
                null = np.eye(len(cols))
            nulls[root] = (col, null)
        col, null = nulls[root]
        v = np.zeros(len(col))
        for k, x in c.items():
            v[col[k]] = x
        if not null.size or np.abs(null.T @ v).max() < 1e-6:
            determined.append(name)
    for name in determined:
        best = None
        for i, (total, members) in enumerate(cons):
            if name not in (total, *members) and name != ("remainder", i):
                continue
            pick = _complement_for(total, members, reg, hidden, protected)
            if pick is not None and (
                best is None
                or (pick in protected, reg[pick], pick) < (best in protected, reg[best], best)
            ):
                best = pick
        if best is not None:
            return best
    return None


#: Columns of proportions per table (a key, or a key prefix ending in "_"), shown in the HTML
#: as percentages with one decimal; the CSV and XLSX keep proportions.
_PERCENT = {
    "ledger_dispositions": ("share",),
    "safety_item": ("pct",),
    "rates_": ("rate", "ci_low", "ci_high"),
    "clinsig_": ("estimate", "ci_low", "ci_high"),
    "nhs_benchmark": ("estimate", "ci_low", "ci_high", "national_estimate"),
    "quality_measures": ("estimate", "ci_low", "ci_high"),
    "followup_response": ("estimate", "ci_low", "ci_high"),
    "durability": ("estimate", "ci_low", "ci_high"),
}


# ============================================================================ build context
class _Ctx:
    """State of one build pass.

    The report is built in passes (:func:`report`): analyses run once (``cache``), tables are
    rebuilt each pass with the populations hidden so far (``forced``) until the set of hidden
    populations stops growing; the last pass also draws the figures (``draw``).
    """

    def __init__(
        self,
        cfg: StudyConfig,
        strict: bool,
        cache: list | None = None,
        forced: frozenset = frozenset(),
        draw: bool = True,
        protected: frozenset | None = None,
    ):
        self.cfg = cfg
        self.threshold = cfg.suppression_threshold
        self.protected = _headline_keys(cfg) if protected is None else protected
        self.strict = strict
        self.tables: list[ReportTable] = []
        self.figures: list[ReportFigure] = []
        self.methods: list[tuple[str, str, dict, tuple[str, ...]]] = []
        self.facts: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.counter = 0
        self.cache: list = cache if cache is not None else []
        self.n_run = 0
        self.forced = forced
        self.draw = draw
        self.step: Callable[[str], None] = lambda label: None
        #: every published count: population key -> list of (value, hidden)
        self.cells: dict[_Key, list[tuple[float, bool]]] = {}
        #: exact or approximate sums between populations: (total key, member keys)
        self.identities: list[tuple[_Key, tuple[_Key, ...]]] = []

    def identity(self, total: _Key, members: Sequence[_Key]) -> None:
        """Record that population ``total`` is the sum of ``members`` (up to an unpublished
        remainder, which counts as a cell of its own)."""
        self.identities.append((total, tuple(members)))

    def text_count(self, key: _Key | None, v: Any) -> str:
        """A count quoted in running text: registered like a table cell, hidden like one."""
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            return _fmt_param(v)
        th = self.threshold
        small = th is not None and 1 <= float(v) < th
        hidden = th is not None and (small or key in self.forced)
        if key is not None:
            self.cells.setdefault(key, []).append((float(v), hidden))
        if small:
            return f"<{th}"
        if hidden:
            return "a suppressed number of"
        return f"{int(v):,}" if float(v).is_integer() else _fmt_param(v)

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
        keys: dict[str, Callable[[pd.Series], _Key | None]] | None = None,
        result: Any = None,
        method: str = "",
        notes: Sequence[str] = (),
        digits: int = 2,
    ) -> ReportTable:
        df = scrub_identifiers(df.reset_index(drop=True))
        cell_keys = {
            c: [fn(row) for _, row in df.iterrows()] for c, fn in (keys or {}).items() if c in df
        }
        force = pd.DataFrame(False, index=df.index, columns=df.columns)
        protect = force.copy()
        for c, ks in cell_keys.items():
            force[c] = [k in self.forced for k in ks]
            protect[c] = [k in self.protected for k in ks]
        st = suppress(
            df,
            self.threshold,
            counts=list(counts),
            derived=derived,
            small_n=small_n,
            by=by,
            total_row=total_row,
            total_col=total_col,
            complements=complements,
            within=within,
            column_totals=column_totals,
            force=force,
            shares=shares,
            protect=protect,
        )
        hidden = st.hidden
        for c, ks in cell_keys.items():
            vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            for i, k in enumerate(ks):
                if k is not None and np.isfinite(vals[i]):
                    self.cells.setdefault(k, []).append((vals[i], bool(hidden[c].iloc[i])))
        self.counter += 1
        method = method or (getattr(result, "method", "") or "")
        all_notes = [*notes, *st.notes]
        pct = _PERCENT.get(key) or next(
            (cols for k, cols in _PERCENT.items() if k.endswith("_") and key.startswith(k)), ()
        )
        rows = None
        if key == "durability" and "measure" in df.columns:  # rates, and one mean change
            rows = (df["measure"].astype(str) != "change_from_endpoint").to_numpy()
        t = ReportTable(
            key=self._unique(key, [x.key for x in self.tables]),
            title=f"Table {self.counter}. {title}",
            frame=st.table,
            notes=tuple(all_notes),
            method=method,
            digits=digits,
            percent=tuple(c for c in pct if c in df.columns),
            percent_rows=rows,
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

    def add_figure(self, section: Section, key: str, title: str, fig, caption: str = "") -> None:
        if not self.draw:  # a pass that only settles the suppression
            _mpl().close(fig)
            return
        n = len(self.figures) + 1
        f = ReportFigure(
            key=self._unique(key, [x.key for x in self.figures]),
            title=f"Figure {n}. {title}",
            svg=figure_to_svg(fig),
            caption=f"Figure {n}. {caption or title}",
        )
        self.figures.append(f)
        section.blocks.append(f)

    def run(self, section: Section, what: str, fn: Callable[[], Any]) -> Any:
        """Run one analysis (once per report: later passes replay the cached outcome); on
        failure put a visible note in the section."""
        i = self.n_run
        self.n_run += 1
        if i < len(self.cache) and self.cache[i][0] == what:
            _, out, msgs, note = self.cache[i]
            for m in msgs:
                if m not in self.warnings:
                    self.warnings.append(m)
            if note:
                section.html(note)
            return out
        blocks, n_warn = len(section.blocks), len(self.warnings)
        out = self._run(section, what, fn)
        note = "".join(section.blocks[blocks:])
        entry = (what, out, list(self.warnings[n_warn:]), note)
        if i < len(self.cache):
            self.cache[i] = entry
        else:
            self.cache.append(entry)
        return out

    def _run(self, section: Section, what: str, fn: Callable[[], Any]) -> Any:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = fn()
            for w in caught:
                msg = f"{what}: {w.message}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
            return out
        except (ModuleNotFoundError, ImportError, AttributeError) as e:
            if self.strict and not isinstance(e, ModuleNotFoundError | ImportError):
                raise
            section.html(
                f'<p class="unavailable">{html.escape(what)}: not available in this '
                f"installation ({html.escape(type(e).__name__)}: {html.escape(str(e))}).</p>"
            )
            self.warnings.append(f"{what}: not available ({e})")
        except Exception as e:
            if self.strict:
                raise
            section.html(
                f'<p class="unavailable">{html.escape(what)} could not be computed: '
                f"{html.escape(str(e))}</p>"
            )
            self.warnings.append(f"{what} could not be computed: {e}")
        return None

    def label(self, v: Any) -> Any:
        """A code as the reader sees it (the study file's ``[labels]``, then plain words)."""
        return plain_label(v, self.cfg.labels)

    def shown(self, v: Any) -> bool:
        """Whether a (suppressed) table value is a number that may be quoted."""
        return isinstance(v, (int, float, np.integer, np.floating)) and not (
            isinstance(v, float) and np.isnan(v)
        )


def _fmt_n(v: Any, threshold: int | None) -> str:
    if isinstance(v, str):
        return "fewer than " + v[1:] if v.startswith("<") else "a suppressed number"
    return f"{int(v):,}"


def _n_of(k: str, n: str) -> str:
    """'1,126 of 1,200 episodes', 'Of 240 episodes, fewer than 11', ... (counts as _fmt_n
    gives them, hidden ones in words)."""
    k_hidden, n_hidden = not k[:1].isdigit(), not n[:1].isdigit()
    if n_hidden and k_hidden:
        return "A suppressed number of episodes"
    if n_hidden:
        return f"{k} episodes"
    if k_hidden:
        return f"Of {n} episodes, {k}"
    return f"{k} of {n} episodes"


def _pct(v: Any) -> str:
    return f"{100 * float(v):.0f}%"


# ============================================================================ input handling
def _load(data: Any, cfg: StudyConfig, progress) -> Any:
    import iop_outcomes as iop

    if hasattr(data, "ledger") and hasattr(data, "data"):
        return data
    if hasattr(data, "truth") and hasattr(data, "data"):  # SynthData
        data = data.data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(data, **cfg.load_options())


def _episode_rules(cfg: StudyConfig):
    if not cfg.episode_rules:
        return None
    import iop_outcomes as iop

    try:
        return iop.EpisodeRules(**cfg.episode_rules)
    except TypeError as e:
        raise ConfigError(
            f"Invalid key in the [episodes] table of the study configuration: {e}."
        ) from None


_NOT_GROUPINGS = frozenset({"instrument"})


def _grouping_columns(ep: pd.DataFrame) -> list[str]:
    """Columns of an episode table a study configuration can group by."""
    from .safety import is_identifier_column

    out = [
        str(c)
        for c in ep.columns
        if str(c) not in _NOT_GROUPINGS
        and not is_identifier_column(str(c))
        and not str(c).endswith("_date")
        and not pd.api.types.is_numeric_dtype(ep[c])
        and not pd.api.types.is_datetime64_any_dtype(ep[c])
    ]
    out += [d for d, src in _DERIVED.items() if src in ep.columns and d not in out]
    return out


def _has_grouping(ep: pd.DataFrame, g: str | None) -> bool:
    return g is not None and (g in ep.columns or _DERIVED.get(g, g) in ep.columns)


def _check_groupings(cfg: StudyConfig, eps: dict[str, pd.DataFrame]) -> None:
    """A grouping column the study configuration names must be in the data (the defaults,
    ``format`` and ``site``, may be absent: their sections then say so)."""
    ep = eps.get(cfg.primary_instrument, next(iter(eps.values())))
    named = []
    if "groupings" in cfg.given or cfg.groupings != StudyConfig.groupings:
        named += [("groupings", g) for g in cfg.groupings]
    if "comparison.group" in cfg.given or cfg.comparison_group != StudyConfig.comparison_group:
        named.append(("[comparison] group", cfg.comparison_group))
    missing = [
        (k, g)
        for k, g in named
        if not (_has_grouping(ep, g) if k == "groupings" else g in ep.columns)
    ]
    if not missing:
        return
    where = (
        f"the study configuration file {cfg.source!r}"
        if cfg.source
        else ("the study configuration")
    )
    what = "; ".join(f"{k} names {g!r}" for k, g in missing)
    raise ConfigError(
        f"{where[0].upper()}{where[1:]} groups by a column the data do not have ({what}). "
        f"Columns available for grouping: {_grouping_columns(ep)}. Correct the name in {where} "
        "or add the column to the data (docs/data-format.md lists the episode columns)."
    )


def _sha256_of(data: Any) -> str:
    for attr in ("sha256", "source_sha256"):
        v = getattr(data, attr, None)
        if isinstance(v, str) and v:
            return v
    return ""


# ============================================================================ sections
def _section_quality(ctx: _Ctx, sec: Section, loaded: Any) -> None:
    ledger = loaded.ledger
    counts = ledger["disposition"].value_counts()
    n_read = int(len(ledger))
    disp = pd.DataFrame(
        {
            "disposition": ["accepted", "repaired", "quarantined", "rows read"],
            "rows": [int(counts.get(k, 0)) for k in ("accepted", "repaired", "quarantined")]
            + [n_read],
        }
    )
    disp["share"] = disp["rows"] / max(n_read, 1)
    sec.p(
        "Every row of the input file ends with exactly one disposition: accepted as it was, "
        "accepted with a recorded repair (for example a total prorated from answered items or "
        "a synonym mapped to the standard label), or quarantined with a reason. Quarantined "
        "rows are excluded from every analysis below. Counts here are questionnaire "
        "administrations (rows), not people."
    )
    t = ctx.add_table(
        sec,
        "ledger_dispositions",
        "Input rows by disposition",
        disp,
        counts=["rows"],
        shares={"share": "rows"},
        total_row="rows read",
        keys={"rows": lambda r: _key("rows", None, None, f"ledger|{r['disposition']}")},
        method="iop.load validation and scoring (row ledger)",
    )
    ctx.facts["ledger"] = t.frame
    _name_like_groups(ctx, sec, loaded.data)
    summ = loaded.summary().to_frame() if hasattr(loaded, "summary") else pd.DataFrame()
    label = next((c for c in ("check", "reason") if c in summ.columns), None)
    if label is not None and "rows" in summ.columns:
        tab = summ[summ["disposition"].astype("object") != "accepted"][
            ["disposition", label, "rows"]
        ].copy()
        tab[label] = tab[label].astype("object").fillna("(none)").astype(str)
        if len(tab):
            ctx.add_table(
                sec,
                "ledger_reasons",
                "Repairs and quarantine reasons",
                tab.rename(columns={label: "reason"}),
                counts=["rows"],
                by="disposition",
                # each disposition's reasons add up to its rows in Table 1 (unless a row has
                # several): declared below with that count itself, hidden or not, rather than
                # assumed known within this table
                column_totals=False,
                keys={
                    "rows": lambda r: _key(
                        "rows", None, None, f"ledger|{r['disposition']}|{r['reason']}"
                    )
                },
                method="iop.load validation and scoring (row ledger)",
            )
            for d, sub in tab.groupby("disposition", sort=False, observed=True):
                ctx.identity(
                    _key("rows", None, None, f"ledger|{d}"),
                    [_key("rows", None, None, f"ledger|{d}|{r}") for r in sub[label]],
                )
    data = loaded.data
    if "safety_flag" in data.columns and "instrument" in data.columns:
        phq = data[data["instrument"].astype("object") == "PHQ-9"]
        flag = phq["safety_flag"].astype("boolean")
        known = flag.notna()
        if len(phq) and not known.any():
            sec.p(
                "PHQ-9 item 9 (thoughts of death or self-harm) could not be counted: the data "
                "give totals without item responses."
            )
        elif len(phq):
            key = "episode_id" if "episode_id" in phq.columns else "patient_id"
            by_ep = flag[known].groupby(phq.loc[known, key].astype("object")).any()
            n_ep = int(len(by_ep))
            k_ep = int(by_ep.sum())
            st = pd.DataFrame(
                {
                    "episodes": ["item 9 > 0 at least once", "item 9 always 0", "total"],
                    "n": [k_ep, n_ep - k_ep, n_ep],
                }
            )
            st["pct"] = st["n"] / max(n_ep, 1)
            sec.p(
                "PHQ-9 item 9 asks about thoughts of death or self-harm. Any answer above 0 is "
                "a positive screen that calls for the program's risk-assessment protocol; it is "
                "counted here and never imputed or dropped."
            )
            ctx.facts["safety"] = ctx.add_table(
                sec,
                "safety_item",
                "Episodes with a positive PHQ-9 item 9 response",
                st,
                counts=["n"],
                shares={"pct": "n"},
                total_row="total",
                keys={
                    "n": lambda r: _key(
                        "PHQ-9",
                        None,
                        None,
                        {"total": "safety_known", "item 9 always 0": "safety|neg"}.get(
                            r["episodes"], "safety|pos"
                        ),
                    )
                },
                method="safety_flag from iop.load: PHQ-9 item 9 > 0 (Simon et al. 2013)",
                digits=3,
            )


#: Grouping columns whose labels are fixed categories, not names (see safety.NAME_CHECK_COLUMNS)
_CATEGORY_COLUMNS = frozenset({"format", "gender_identity", "race_ethnicity", "payer"})


def _name_like_groups(ctx: _Ctx, sec: Section, data: pd.DataFrame) -> None:
    """Ask about group labels that look like people's names, without repeating them (the
    shared report must not print a possible name a second time; ``LoadResult.summary()``,
    which stays inside the organisation, lists them)."""
    cols = [
        c
        for c in dict.fromkeys([*ctx.cfg.groupings, ctx.cfg.comparison_group])
        if c not in _DERIVED and c not in _CATEGORY_COLUMNS
    ]
    for col, names in name_like_values(data, cols).items():
        n_all = int(data[col].nunique())
        msg = (
            f"{len(names)} of the {n_all} {col} values look like people's names (a title such "
            "as Dr or Mrs, or a first and last name). The report cannot know whether they are; "
            "if they are, rename them in the data before sharing this report: the tables show "
            f"{col} labels as given. iop.load(...).summary() lists the values."
        )
        sec.p(msg)
        if msg not in ctx.warnings:
            ctx.warnings.append(msg)


def _labels(s: pd.Series) -> pd.Series:
    """Group labels as text, a missing group value as "(missing)" (as change_summary and
    retention label it), so that every table names a group the same way."""
    o = s.astype("object")
    return o.where(o.notna(), MISSING_GROUP).astype(str)


def _flow_wide(flow: pd.DataFrame) -> pd.DataFrame:
    f = flow.copy()
    f["group"] = _labels(f["group"])
    wide = f.pivot_table(
        index=["stage", "box_order", "box"],
        columns="group",
        values="n",
        aggfunc="sum",
        sort=False,
        observed=True,
    )
    groups = [g for g in wide.columns if g not in ("(all)",)]
    wide = wide[groups]
    wide[_GROUP_LABEL_ALL] = wide.sum(axis=1)
    stage_order = {s: i for i, s in enumerate(dict.fromkeys(f["stage"]))}
    wide = wide.reset_index()
    wide["_o"] = wide["stage"].map(stage_order)
    wide = wide.sort_values(["_o", "box_order"]).drop(columns=["_o", "box_order"])
    wide = wide.rename(columns={"box": "status"})
    for g in [*groups, _GROUP_LABEL_ALL]:
        wide[g] = wide[g].fillna(0).astype(int)
    return wide.reset_index(drop=True), groups


def _section_flow(ctx: _Ctx, sec: Section, ep: pd.DataFrame, inst: str) -> Any:
    import iop_outcomes as iop

    group = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    windows = tuple(
        w
        for w in ("1m", "3m", "6m", "12m")
        if f"followup_{w}" in ep.columns and ep[f"followup_{w}"].notna().any()
    )
    res = ctx.run(
        sec,
        "Participant flow",
        lambda: iop.retention(ep, by=group, tests=False, windows=windows or ("1m",)),
    )
    if res is None:
        return None
    full, groups = _flow_wide(res.flow)
    cols = [*groups, _GROUP_LABEL_ALL]
    # boxes that are 0 in every group say nothing to a reader: left out of the table, but
    # still counted (as the zeros they are) in the sums the cross-table check solves
    empty = (full[cols] == 0).all(axis=1).to_numpy() & (full["stage"] != "admitted").to_numpy()
    for _, r in full[empty].iterrows():
        for c in cols:
            ctx.cells.setdefault(
                _key(inst, group, c, _flow_pop(r["stage"], r["status"])), []
            ).append((0.0, False))
    wide = full[~empty].reset_index(drop=True)
    left_out = [str(ctx.label(v)).lower() for v in full.loc[empty, "status"]]
    sec.p(
        f"Flow of {inst} episodes from admission to follow-up. Within each stage every episode "
        "is counted in exactly one row, so each stage's rows add up to the episodes admitted."
        + (
            f" Rows that are 0 in every group are left out ({', '.join(dict.fromkeys(left_out))})."
            if left_out
            else ""
        )
    )
    t = ctx.add_table(
        sec,
        "participant_flow",
        f"Participant flow ({inst})",
        wide,
        counts=[*groups, _GROUP_LABEL_ALL],
        by="stage",
        total_col=_GROUP_LABEL_ALL,
        # a stage's statuses add up to the episodes admitted: the identities declared below
        # say so with the admitted count itself (hidden or not), where the table alone would
        # assume an implicit total is known and hide a status beside every small one
        column_totals=False,
        keys={
            c: (lambda r, c=c: _key(inst, group, c, _flow_pop(r["stage"], r["status"])))
            for c in [*groups, _GROUP_LABEL_ALL]
        },
        result=res,
    )
    # every stage adds up to the episodes admitted; responders + non-responders = eligible
    for c in [*groups, _GROUP_LABEL_ALL]:
        for stage, sub in full.groupby("stage", sort=False):
            if stage == "admitted":
                continue
            ctx.identity(
                _key(inst, group, c, "admitted"),
                [_key(inst, group, c, _flow_pop(stage, b)) for b in sub["status"]],
            )
            if str(stage).startswith("followup_"):
                w = str(stage).removeprefix("followup_")
                ctx.identity(
                    _key(inst, group, c, f"fu_{w}_eligible"),
                    [
                        _key(inst, group, c, _flow_pop(stage, b))
                        for b in ("responded", "eligible, no response")
                    ],
                )
    ctx.facts["flow"] = t.frame
    return res


def _section_change(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    import iop_outcomes as iop

    for inst, ep in eps.items():
        groupings = [g for g in ctx.cfg.groupings if _has_grouping(ep, g)]
        by = groupings[0] if groupings else None
        for g in groupings or [None]:
            res = ctx.run(
                sec,
                f"Change summary ({inst})",
                lambda g=g, ep=ep: iop.change_summary(
                    ep, by=g, ci_level=ctx.cfg.ci_level, zero_baseline="not_responding"
                ),
            )
            if res is None:
                continue
            tb = res.table.copy()
            gcol = g or "group"
            if g is None:
                tb[gcol] = "Overall"
            tb = tb.rename(columns={g: "group"} if g else {gcol: "group"})
            tb["group"] = _labels(tb["group"])
            tb["n_unpaired"] = tb["n_episodes"] - tb["n_paired"]
            cols = [
                "group",
                "n_episodes",
                "n_paired",
                "n_unpaired",
                "baseline_mean",
                "baseline_sd",
                "endpoint_mean",
                "endpoint_sd",
                "mean_change",
                "change_ci_low",
                "change_ci_high",
                "pvalue",
                "r_pre_post",
            ]
            stats_cols = cols[4:]
            title = f"{inst} symptom change" + (f" by {g}" if g else "")
            t = ctx.add_table(
                sec,
                f"change_{_slug(inst)}_{g or 'overall'}",
                title,
                tb[cols],
                counts=["n_episodes", "n_paired", "n_unpaired"],
                # a t interval's width (with the SDs and r) and its p-value give n back
                derived={c: "n_paired" for c in ("change_ci_low", "change_ci_high", "pvalue")},
                small_n={c: "n_paired" for c in stats_cols},
                total_row="Overall",
                total_col="n_episodes",
                complements={"n_paired": "n_episodes"},
                keys={
                    c: (lambda r, g=g, inst=inst, pop=pop: _key(inst, g, r["group"], pop))
                    for c, pop in (
                        ("n_episodes", "admitted"),
                        ("n_paired", "paired"),
                        ("n_unpaired", "unpaired"),
                    )
                },
                result=res,
                notes=("Change = endpoint − baseline; negative values are improvement.",),
            )
            for gv in tb["group"]:
                ctx.identity(
                    _key(inst, g, gv, "admitted"),
                    [_key(inst, g, gv, "paired"), _key(inst, g, gv, "unpaired")],
                )
            if g == by:
                ctx.facts.setdefault("change", {})[inst] = t.frame
                if inst == ctx.cfg.primary_instrument:
                    _fig_change(ctx, sec, t.frame, inst, g)
            # rates
            rows = []
            for flag, label in (
                ("response", "response (≥50% reduction)"),
                ("remission", "remission"),
                ("mcid", "MCID improvement"),
            ):
                if f"{flag}_k" not in res.table.columns:
                    continue
                d = pd.DataFrame(
                    {
                        "group": tb["group"],
                        "measure": label,
                        "k": res.table[f"{flag}_k"].to_numpy(),
                        "n": res.table[f"{flag}_n"].to_numpy(),
                        "rate": res.table[f"{flag}_rate"].to_numpy(),
                        "ci_low": res.table[f"{flag}_ci_low"].to_numpy(),
                        "ci_high": res.table[f"{flag}_ci_high"].to_numpy(),
                    }
                )
                d["_flag"] = flag
                rows.append(d)
            if rows:
                rt = pd.concat(rows, ignore_index=True)
                flags = dict(zip(rt["measure"], rt["_flag"], strict=False))
                rt = rt[["measure", "group", "k", "n", "rate", "ci_low", "ci_high"]]
                t2 = ctx.add_table(
                    sec,
                    f"rates_{_slug(inst)}_{g or 'overall'}",
                    f"{inst} response, remission and MCID improvement" + (f" by {g}" if g else ""),
                    rt,
                    counts=["k", "n"],
                    by="measure",
                    total_row="Overall",
                    complements={"k": "n"},
                    # rate = k / n gives either count back from the other
                    derived={c: ["k", "n"] for c in ("rate", "ci_low", "ci_high")},
                    keys={
                        c: (
                            lambda r, c=c, g=g, inst=inst, flags=flags: _key(
                                inst, g, r["group"], f"rate_{c}|{flags[r['measure']]}"
                            )
                        )
                        for c in ("k", "n")
                    },
                    digits=3,
                    method="proportions with Wilson score intervals "
                    f"({100 * ctx.cfg.ci_level:g}%); definitions in the methods section",
                )
                if g == by:
                    ctx.facts.setdefault("rates", {})[inst] = t2.frame
        # severity shift (overall)
        res = ctx.run(sec, f"Severity shift ({inst})", lambda ep=ep: iop.severity_shift(ep))
        if res is not None:
            tb = res.table.copy()
            wide = tb.pivot_table(
                index="baseline_band",
                columns="endpoint_band",
                values="n",
                aggfunc="sum",
                sort=False,
                observed=True,
            )
            order = list(dict.fromkeys(tb["endpoint_band"].astype("object")))
            wide = (
                wide.reindex(
                    index=list(dict.fromkeys(tb["baseline_band"].astype("object"))), columns=order
                )
                .fillna(0)
                .astype(int)
            )
            wide["total"] = wide.sum(axis=1)
            wide = wide.reset_index().rename(columns={"baseline_band": "baseline band"})
            wide.columns = [str(c) for c in wide.columns]
            cols = [*order, "total"]
            ctx.add_table(
                sec,
                f"severity_shift_{_slug(inst)}",
                f"{inst} severity band at baseline (rows) and endpoint (columns)",
                wide,
                counts=[str(c) for c in cols],
                total_col="total",
                keys={
                    str(c): (
                        lambda r, c=c, inst=inst: _key(
                            inst,
                            None,
                            None,
                            f"shift_total|{r['baseline band']}"
                            if c == "total"
                            else f"shift|{r['baseline band']}|{c}",
                        )
                    )
                    for c in cols
                },
                result=res,
            )
            ctx.identity(
                _key(inst, None, None, "paired"),
                [_key(inst, None, None, f"shift_total|{b}") for b in wide["baseline band"]],
            )
            for _, r in wide.iterrows():  # rows add up to their total
                b = r["baseline band"]
                ctx.identity(
                    _key(inst, None, None, f"shift_total|{b}"),
                    [_key(inst, None, None, f"shift|{b}|{e}") for e in order],
                )
            for e in order:  # endpoint bands: column totals published nowhere, but sums
                ctx.identity(
                    _key(inst, None, None, f"shift_col|{e}"),
                    [_key(inst, None, None, f"shift|{b}|{e}") for b in wide["baseline band"]],
                )


def _section_trajectories(ctx: _Ctx, sec: Section, loaded: Any, inst: str) -> None:
    import iop_outcomes as iop

    if not ctx.cfg.trajectories_enabled:
        return
    g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in loaded.data.columns else None
    sec.html(f"<h3>Weekly trajectories ({html.escape(inst)})</h3>")
    sec.p(
        "All in-treatment scores, not only the first and last, modelled with a linear mixed "
        "model (random intercept and slope per episode). The lines are model-based mean scores "
        "by week; the table gives the fixed effects (the weekly slope and how it differs by "
        "group)."
    )
    res = ctx.run(
        sec,
        "Trajectories",
        lambda: iop.trajectories(loaded.data, instrument=inst, group=g, ci_level=ctx.cfg.ci_level),
    )
    if res is None:
        return
    tb = res.to_frame()
    keep = [c for c in ["term", "estimate", "ci_low", "ci_high", "pvalue"] if c in tb.columns]
    ctx.add_table(
        sec,
        f"trajectory_{_slug(inst)}",
        f"{inst} weekly trajectory model: fixed effects",
        tb[keep],
        result=res,
    )
    means = getattr(res, "means", None)
    if isinstance(means, pd.DataFrame) and len(means) and {"week", "estimate"} <= set(means):
        means = _as_drawn(means, ["week", "estimate", "ci_low", "ci_high"])
        plt = _mpl()
        fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
        groups = means["group"] if "group" in means else pd.Series("All", index=means.index)
        for gname, sub in means.groupby(groups.astype("object"), sort=True):
            sub = sub.sort_values("week")
            x = sub["week"].to_numpy(dtype=float)
            ax.plot(x, sub["estimate"].to_numpy(dtype=float), marker="o", ms=3, label=str(gname))
            if {"ci_low", "ci_high"} <= set(sub):
                ax.fill_between(
                    x,
                    sub["ci_low"].to_numpy(dtype=float),
                    sub["ci_high"].to_numpy(dtype=float),
                    alpha=0.15,
                )
        ax.set_xlabel("week since admission")
        ax.set_ylabel(f"model-based mean {inst}")
        ax.legend(frameon=False, fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ctx.add_figure(
            sec,
            f"trajectory_{_slug(inst)}",
            f"{inst} weekly trajectories",
            fig,
            caption=f"Model-based mean {inst} by week with {100 * ctx.cfg.ci_level:g}% "
            "confidence bands (linear mixed model).",
        )


def _overall_and_by(ctx: _Ctx, sec: Section, what: str, fn: Callable[[Any], Any], g):
    """Run ``fn(by)`` overall and, when ``g`` is given, by ``g``.

    Returns the results that ran and one table of them with a text ``group`` column
    (``"Overall"`` or the level of ``g``), or ``None`` when none ran.
    """
    results, parts = [], []
    for by in [None, g] if g else [None]:
        res = ctx.run(sec, what, lambda by=by: fn(by))
        if res is None:
            continue
        tb = res.to_frame().copy()
        if by is None:
            tb.insert(0, "group", "Overall")
        else:
            tb = tb.rename(columns={by: "group"})
        results.append(res)
        parts.append(tb)
    if not parts:
        return results, None
    tb = pd.concat(parts, ignore_index=True)
    tb["group"] = _labels(tb["group"])
    return results, tb


def _section_clinsig(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    import iop_outcomes as iop

    sec.p(
        "Reliable change asks whether an episode's change is larger than measurement error "
        "alone would produce (the reliable change index); clinically significant change asks "
        "whether the endpoint score also crossed into the range of a non-clinical population. "
        "Recovered = reliable improvement and crossed the cut-off; improved = reliable "
        "improvement only; deteriorated = reliable worsening. The reliability, SD and cut-off "
        "used are listed in the methods section."
    )
    for inst, ep in eps.items():
        g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
        results, tb = _overall_and_by(
            ctx,
            sec,
            f"Clinical significance ({inst})",
            lambda by, ep=ep, inst=inst: iop.clinical_significance(
                ep, instrument=inst, by=by, ci_level=ctx.cfg.ci_level
            ),
            g,
        )
        if tb is None:
            continue
        res0 = results[0]
        keep = [
            c
            for c in ["group", "outcome", "count", "n", "estimate", "ci_low", "ci_high"]
            if c in tb.columns
        ]
        t = ctx.add_table(
            sec,
            f"clinsig_{_slug(inst)}",
            f"{inst} reliable and clinically significant change"
            + (f", overall and by {g}" if g else "")
            + " (Jacobson–Truax)",
            tb[keep],
            counts=[c for c in ("count", "n") if c in keep],
            by="outcome",
            within="group",
            total_row="Overall",
            derived={c: ["count", "n"] for c in ("estimate", "ci_low", "ci_high") if c in keep},
            keys={
                "count": lambda r, g=g, inst=inst: _key(inst, g, r["group"], f"cs|{r['outcome']}"),
                "n": lambda r, g=g, inst=inst: _key(inst, g, r["group"], "cs_n"),
            },
            result=res0,
            digits=3,
        )
        if "outcome" in tb.columns:
            for gv, sub in tb.groupby("group", sort=False):
                ctx.identity(
                    _key(inst, g, gv, "cs_n"),
                    [_key(inst, g, gv, f"cs|{o}") for o in sub["outcome"]],
                )
        ctx.facts.setdefault("clinsig", {})[inst] = t.frame[t.frame["group"] == "Overall"]
        if g and inst == ctx.cfg.primary_instrument:
            _fig_clinsig(ctx, sec, t.frame, inst, g)
    _nhs_benchmarks(ctx, sec, eps)


def _nhs_benchmarks(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    import iop_outcomes as iop

    if {"PHQ-9", "GAD-7"} <= set(eps):
        data, inst, label = pd.concat([eps["PHQ-9"], eps["GAD-7"]]), None, "PHQ-9 + GAD-7"
    elif "PHQ-9" in eps:
        data, inst, label = eps["PHQ-9"], "PHQ-9", "PHQ-9"
    else:
        return
    sec.html("<h3>NHS Talking Therapies definitions and England's national rates</h3>")
    sec.p(
        "The same episodes scored with the outcome definitions of NHS Talking Therapies "
        "(England), beside the latest national rates. Populations, settings and treatments "
        "differ, so the national figure is context, not a target."
    )
    res = ctx.run(
        sec,
        "NHS Talking Therapies benchmark",
        lambda: iop.benchmarks(
            iop.clinical_significance(
                data, method="nhs-talking-therapies", instrument=inst, ci_level=ctx.cfg.ci_level
            )
        ),
    )
    if res is None:
        return
    tb = res.to_frame()
    keep = [
        c
        for c in [
            "outcome",
            "count",
            "n",
            "estimate",
            "ci_low",
            "ci_high",
            "year",
            "national_estimate",
        ]
        if c in tb.columns
    ]
    ctx.add_table(
        sec,
        "nhs_benchmark",
        f"NHS Talking Therapies outcomes ({label}) and national rates",
        tb[keep],
        counts=["count", "n"],
        complements={"count": "n"},
        column_totals=False,
        derived={c: ["count", "n"] for c in ("estimate", "ci_low", "ci_high") if c in keep},
        keys={
            "count": lambda r: _key("PHQ-9", None, None, f"nhs|{r['outcome']}"),
            "n": lambda r: _key(
                "PHQ-9",
                None,
                None,
                "nhs_n_caseness" if "recover" in str(r["outcome"]) else "nhs_n_all",
            ),
        },
        result=res,
        digits=3,
    )


def _quality_measures(ctx: _Ctx, sec: Section, loaded: Any) -> None:
    import iop_outcomes as iop

    if "PHQ-9" not in set(loaded.data["instrument"].astype("object").unique()):
        return
    sec.html("<h3>US quality measures (PHQ-9)</h3>")
    res = ctx.run(sec, "Quality measures", lambda: iop.quality_measures(loaded.data))
    if res is None:
        return
    tb = res.to_frame()
    keep = [
        c
        for c in ["measure", "rate", "numerator", "denominator", "estimate", "ci_low", "ci_high"]
        if c in tb.columns
    ]
    ctx.add_table(
        sec,
        "quality_measures",
        "US depression quality measures computable from these data (HEDIS DRR-E, CMS159; PHQ-9)",
        tb[keep],
        counts=["numerator", "denominator"],
        complements={"numerator": "denominator"},
        column_totals=False,
        keys={
            "numerator": lambda r: _key("PHQ-9", None, None, _qm_pop(r, "num")),
            "denominator": lambda r: _key("PHQ-9", None, None, _qm_pop(r, "den")),
        },
        derived={
            c: ["numerator", "denominator"] for c in ("estimate", "ci_low", "ci_high") if c in keep
        },
        result=res,
        digits=3,
    )


def _qm_pop(r: pd.Series, part: str) -> str:
    """Population of a quality-measure numerator or denominator (DRR-E: the denominator,
    follow-up PHQ-9 within it, and response and remission within those)."""
    measure, rate = str(r.get("measure", "")), str(r.get("rate", ""))
    if measure == "DRR-E":
        base = rate.removesuffix("_among_measured")
        if part == "den":
            return "qm|followup_phq9" if rate.endswith("_among_measured") else "qm|den"
        return f"qm|{base}"
    return f"qm|{measure}|{rate}|{part}"


def _section_effects(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    import iop_outcomes as iop

    sec.p(
        "Standardised pre–post effect sizes. Several variants exist and give different numbers "
        "for the same data; each row names its variant. d_av divides the mean change by the "
        "average of the baseline and endpoint SDs; d_z by the SD of the change scores; "
        "g applies Hedges' small-sample correction."
    )
    for inst, ep in eps.items():
        g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
        parts = []
        for method in ("g_av", "d_z", "d_rm"):
            results, tb = _overall_and_by(
                ctx,
                sec,
                f"Effect size {method} ({inst})",
                lambda by, method=method, ep=ep: iop.rm_d(
                    ep, method=method, by=by, ci_level=ctx.cfg.ci_level
                ),
                g,
            )
            for res in results:
                ctx.methods.append(
                    (f"{inst} effect size {method}", res.method, dict(res.params), tuple(res.notes))
                )
            if tb is not None:
                parts.append(tb)
        if not parts:
            continue
        tb = pd.concat(parts, ignore_index=True)
        keep = [
            c
            for c in [
                "method",
                "group",
                "n_used",
                "estimate",
                "ci_low",
                "ci_high",
                "ci_method",
                "r",
            ]
            if c in tb.columns
        ]
        t = ctx.add_table(
            sec,
            f"effect_sizes_{_slug(inst)}",
            f"{inst} pre–post effect sizes",
            tb[keep],
            counts=["n_used"],
            by="method",
            total_row="Overall",
            small_n={c: "n_used" for c in ("estimate", "ci_low", "ci_high", "r") if c in keep},
            keys={
                "n_used": lambda r, g=g, inst=inst: _key(inst, g, r["group"], f"es_n|{r['method']}")
            },
            method="iop.rm_d; variant per row (see methods)",
            digits=2,
        )
        ctx.facts.setdefault("effects", {})[inst] = t.frame


def _section_compare(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame]) -> None:
    import iop_outcomes as iop

    g, ref = ctx.cfg.comparison_group, ctx.cfg.comparison_reference
    for inst, ep in eps.items():
        if g not in ep.columns:
            sec.p(f"{inst}: the data have no '{g}' column, so no comparison is possible.")
            continue
        res = ctx.run(
            sec,
            f"Adjusted comparison ({inst})",
            lambda ep=ep: iop.compare(ep, group=g, reference=ref, ci_level=ctx.cfg.ci_level),
        )
        if res is not None:
            tb = res.to_frame()
            keep = [
                c
                for c in [
                    "contrast",
                    "n_group",
                    "n_reference",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "pvalue",
                ]
                if c in tb.columns
            ]
            t = ctx.add_table(
                sec,
                f"compare_{_slug(inst)}",
                f"{inst}: adjusted difference in change, each {g} vs {ref}",
                tb[keep],
                counts=[c for c in ("n_group", "n_reference") if c in keep],
                # rows are contrasts, not parts of a total: a column adds up to nothing any
                # table publishes (sums over the groups are checked across tables)
                column_totals=False,
                small_n={
                    c: ["n_group", "n_reference"]
                    for c in ("estimate", "ci_low", "ci_high", "pvalue")
                    if c in keep
                },
                keys={
                    "n_group": lambda r, inst=inst: _key(
                        inst, g, _contrast_sides(r["contrast"])[0], "cmp_n"
                    ),
                    "n_reference": lambda r, inst=inst: _key(
                        inst, g, _contrast_sides(r["contrast"])[1], "cmp_n"
                    ),
                },
                result=res,
                notes=(
                    "Positive difference = less improvement than the "
                    "reference on lower-is-better scales.",
                ),
            )
            ctx.facts.setdefault("compare", {})[inst] = t.frame
        margin = ctx.cfg.margin_for(inst)
        res = ctx.run(
            sec,
            f"Non-inferiority test ({inst})",
            lambda ep=ep, margin=margin: iop.equivalence(
                ep, group=g, reference=ref, margin=margin, kind="non-inferiority"
            ),
        )
        if res is not None:
            tb = res.to_frame()
            keep = [
                c
                for c in [
                    "contrast",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "ci_level",
                    "margin",
                    "pvalue",
                    "conclusion",
                ]
                if c in tb.columns
            ]
            tb = tb[keep].copy()
            if "conclusion" in tb:
                tb["conclusion"] = np.where(
                    tb["conclusion"].astype(bool), "non-inferior", "not shown"
                )
            t = ctx.add_table(
                sec,
                f"noninferiority_{_slug(inst)}",
                f"{inst}: non-inferiority of each {g} vs {ref}",
                tb,
                result=res,
                notes=(
                    f"Margin {res.params.get('margin', margin)} points"
                    + (
                        " (configured)."
                        if margin
                        else " (library default; set [comparison] margin in the study file)."
                    ),
                ),
            )
            ctx.facts.setdefault("equivalence", {})[inst] = t.frame
            if inst == ctx.cfg.primary_instrument:
                _fig_noninferiority(ctx, sec, t.frame, inst, g, ref)
        if "site" in ep.columns and ep["site"].nunique() > 1:
            res = ctx.run(
                sec,
                f"Site-level pooling ({inst})",
                lambda ep=ep: iop.pool_sites(
                    ep, site="site", group=g, reference=ref, ci_level=ctx.cfg.ci_level
                ),
            )
            if res is not None:
                tb = res.to_frame()
                keep = [
                    c
                    for c in [
                        "contrast",
                        "tau2_method",
                        "k",
                        "estimate",
                        "ci_low",
                        "ci_high",
                        "I2",
                        "tau2",
                        "pi_low",
                        "pi_high",
                    ]
                    if c in tb.columns
                ]
                tb = tb.rename(columns={"k": "sites"})
                keep = ["sites" if c == "k" else c for c in keep]
                ctx.add_table(
                    sec,
                    f"pool_sites_{_slug(inst)}",
                    f"{inst}: the {g} difference estimated within each site and pooled "
                    "(random effects)",
                    tb[keep],
                    result=res,
                    notes=(
                        "k = number of sites; I2 and tau2 describe how much the difference "
                        "varies between sites; pi = prediction interval for a new site.",
                    ),
                )


def _contrast_sides(label: Any) -> tuple[str, str]:
    """``"virtual - in_person"`` (or with a minus sign) -> ``("virtual", "in_person")``."""
    for sep in (" − ", " - "):
        if sep in str(label):
            a, b = str(label).split(sep, 1)
            return a.strip(), b.strip()
    return str(label), ""


def _section_retention(
    ctx: _Ctx, sec: Section, ep: pd.DataFrame, inst: str, ret: Any, loaded: Any
) -> None:
    import iop_outcomes as iop

    fgroup = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    if ret is not None and len(getattr(ret, "followup", [])):
        fu = ret.followup.copy()
        fu["group"] = _labels(fu["group"]).replace({"(all)": "Overall"})
        keep = ["window", "group", "n_eligible", "n_responded", "estimate", "ci_low", "ci_high"]
        fu = fu[[c for c in keep if c in fu.columns]]
        t = ctx.add_table(
            sec,
            "followup_response",
            f"Follow-up response ({inst})",
            fu,
            counts=["n_eligible", "n_responded"],
            by="window",
            total_row="Overall",
            complements={"n_responded": "n_eligible"},
            derived={c: ["n_responded", "n_eligible"] for c in ("estimate", "ci_low", "ci_high")},
            keys={
                "n_eligible": lambda r: _key(
                    inst, fgroup, r["group"], f"fu_{r['window']}_eligible"
                ),
                "n_responded": lambda r: _key(
                    inst, fgroup, r["group"], f"fu_{r['window']}_responded"
                ),
            },
            result=ret,
            digits=3,
            notes=tuple(str(d) for d in ret.followup.get("denominator", pd.Series()).unique()[:1]),
        )
        ctx.facts["followup"] = t.frame
        _fig_followup(ctx, sec, t.frame, inst)
    g = ctx.cfg.comparison_group if ctx.cfg.comparison_group in ep.columns else None
    res = ctx.run(sec, "Dropout (Kaplan–Meier)", lambda: iop.dropout_survival(ep, by=g))
    if res is not None:
        tb = res.to_frame()
        tb["group"] = _labels(tb["group"])
        keep = [
            c
            for c in [
                "group",
                "n",
                "dropouts",
                "transfers",
                "censored",
                "median_los",
                "los_ci_low",
                "los_ci_high",
            ]
            if c in tb.columns
        ]
        ctx.add_table(
            sec,
            "dropout_survival",
            f"Dropout during treatment ({inst} episodes)",
            tb[keep],
            # n = dropouts + censored; transfers are among the censored (or compete): these
            # row sums are checked with the other tables' counts (see _hidden_populations)
            counts=[c for c in ("dropouts", "transfers", "censored", "n") if c in keep],
            small_n={c: "n" for c in ("median_los", "los_ci_low", "los_ci_high") if c in keep},
            keys={
                c: (lambda r, pop=pop: _key(inst, g, r["group"], pop))
                for c, pop in (
                    ("n", "admitted"),
                    ("dropouts", "dropped_out"),
                    ("transfers", "transferred"),
                    ("censored", "censored"),
                )
            },
            result=res,
        )
        for gv in tb["group"]:
            ctx.identity(
                _key(inst, g, gv, "admitted"),
                [_key(inst, g, gv, "dropped_out"), _key(inst, g, gv, "censored")],
            )
            ctx.identity(
                _key(inst, g, gv, "censored"),
                [
                    _key(inst, g, gv, p)
                    for p in (
                        "completed",
                        "transferred",
                        "flow|discharge|administrative",
                        "flow|discharge|ongoing",
                        "flow|discharge|status unknown",
                    )
                ],
            )
    fu_cols = [w for w in ("followup_3m", "followup_1m") if w in ep.columns and ep[w].notna().any()]
    if fu_cols:
        res = ctx.run(
            sec, "Attrition", lambda: iop.attrition(ep, retained=fu_cols[0], instrument=inst)
        )
        if res is not None:
            tb = res.to_frame()
            if "kind" in tb.columns:
                tb = tb[tb["kind"].astype("object") == "continuous"]
            keep = [
                c
                for c in [
                    "variable",
                    "n_retained",
                    "mean_retained",
                    "sd_retained",
                    "n_lost",
                    "mean_lost",
                    "sd_lost",
                    "smd",
                    "pvalue",
                ]
                if c in tb.columns
            ]
            w = fu_cols[0].removeprefix("followup_")
            for v in tb.get("variable", pd.Series(dtype=object)):
                ctx.identity(
                    _key(inst, None, None, "admitted"),
                    [
                        _key(inst, None, None, f"attr_ret|{w}|{v}"),
                        _key(inst, None, None, f"attr_lost|{w}|{v}"),
                    ],
                )
            if len(tb):
                ctx.add_table(
                    sec,
                    "attrition",
                    f"Who answered the {fu_cols[0].removeprefix('followup_')} follow-up "
                    f"({inst}): responders vs non-responders",
                    tb[keep],
                    counts=[c for c in ("n_retained", "n_lost") if c in keep],
                    total_col=True,
                    column_totals=False,
                    keys={
                        "n_retained": lambda r: _key(
                            inst, None, None, f"attr_ret|{w}|{r['variable']}"
                        ),
                        "n_lost": lambda r: _key(
                            inst, None, None, f"attr_lost|{w}|{r['variable']}"
                        ),
                    },
                    small_n={
                        c: ("n_retained" if c.endswith("retained") else "n_lost")
                        for c in ("mean_retained", "sd_retained", "mean_lost", "sd_lost")
                        if c in keep
                    },
                    result=res,
                    notes=(
                        "smd = standardised mean difference (retained − lost); |smd| > 0.1 "
                        "suggests follow-up responders differ from non-responders.",
                    ),
                )
    res = ctx.run(sec, "Durability of gains", lambda: iop.durability(ep, instrument=inst))
    if res is not None:
        tb = res.to_frame()
        keep = [
            c
            for c in ["window", "measure", "n", "count", "estimate", "ci_low", "ci_high"]
            if c in tb.columns
        ]
        ctx.add_table(
            sec,
            "durability",
            f"Durability after discharge ({inst})",
            tb[keep],
            counts=["n", "count"],
            by="measure",
            complements={"count": "n"},
            derived={
                "estimate": ["n", "count"],
                "ci_low": ["n", "count"],
                "ci_high": ["n", "count"],
            },
            keys={
                c: (
                    lambda r, pop=pop: _key(inst, None, None, f"{pop}|{r['window']}|{r['measure']}")
                )
                for c, pop in (("n", "dur_n"), ("count", "dur_k"))
            },
            result=res,
            digits=3,
        )
    if not ctx.cfg.sensitivity_enabled:
        sec.p("Missing-data sensitivity analysis was turned off in the study configuration.")
        return
    sec.p(
        "Episodes without an end-of-treatment score are handled differently by different "
        "methods, and each rests on an assumption about why scores are missing. If the rows "
        "below agree, the headline result does not depend on that choice."
    )
    res = ctx.run(
        sec,
        "Missing-data sensitivity",
        lambda: iop.missing_data_sensitivity(
            loaded,
            rules=ep.attrs.get("rules"),  # the study's [episodes] rules, discharge endpoint
            instrument=inst,
            group=g,
            reference=ctx.cfg.comparison_reference,
            methods=ctx.cfg.sensitivity_methods,
            n_imputations=ctx.cfg.n_imputations,
            seed=ctx.cfg.seed,
            ci_level=ctx.cfg.ci_level,
            progress=False,
        ),
    )
    if res is not None:
        tb = res.to_frame()
        keep = [
            c
            for c in [
                "estimand",
                "contrast",
                "method",
                "n_used",
                "n_missing",
                "estimate",
                "ci_low",
                "ci_high",
                "assumption",
            ]
            if c in tb.columns
        ]
        ctx.add_table(
            sec,
            "missing_data_sensitivity",
            f"Missing-data sensitivity ({inst})",
            tb[keep],
            counts=[c for c in ("n_used", "n_missing") if c in keep],
            # each row's n_used + n_missing is the (published) number of episodes: a hidden
            # n_missing hides its n_used too; rows are methods, not parts of a total
            total_col=True,
            column_totals=False,
            small_n={c: "n_used" for c in ("estimate", "ci_low", "ci_high") if c in keep},
            keys={
                "n_used": lambda r: _sens_key(inst, g, r, "sens_n"),
                "n_missing": lambda r: _sens_key(inst, g, r, "sens_missing"),
            },
            result=res,
        )
        # each contrast's n_used is (at most) the union of its two groups; whole-cohort
        # counts repeated in contrast rows are tied to the whole-cohort ones
        for _, r in tb.iterrows():
            for pop in ("sens_n", "sens_missing"):
                k = _sens_key(inst, g, r, pop)
                if k[1] != _ALL:
                    ctx.identity(_key(inst, None, None, f"{pop}|{r['method']}"), [k])
            k = _sens_key(inst, g, r, "sens_n")
            if k[1] != _ALL:
                a, b = _contrast_sides(r["contrast"])
                ctx.identity(k, [_key(inst, g, a, "admitted"), _key(inst, g, b, "admitted")])
            elif r["method"] == "completers":
                ctx.identity(
                    _key(inst, None, None, "admitted"), [k, _sens_key(inst, g, r, "sens_missing")]
                )
        ctx.facts["sensitivity"] = res


def _sens_key(inst: str, g: str | None, r: pd.Series, pop: str) -> _Key:
    c = r.get("contrast", "")
    if g is None or not isinstance(c, str) or not c.strip():
        return _key(inst, None, None, f"{pop}|{r['method']}")
    return _key(inst, f"{g}(contrast)", c, f"{pop}|{r['method']}")


# ============================================================================ figures
def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _numeric_rows(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """The rows whose ``cols`` are all numbers (not suppressed), with those numbers as drawn:
    see :func:`_as_drawn`."""
    ok = np.ones(len(df), dtype=bool)
    for c in cols:
        ok &= np.array([isinstance(v, (int, float, np.integer, np.floating)) for v in df[c]])
    return _as_drawn(df[ok], cols)


def _as_drawn(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """``df`` with ``cols`` rounded to the tables' FILE_DECIMALS: a figure draws the numbers its
    table publishes, so the same data give the same SVG bytes on every CPU (model fits differ
    in the last bits between BLAS kernels, which moved axis limits and hence the layout)."""
    out = df.copy()
    for c in cols:
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float).round(FILE_DECIMALS)
    return out


def _fig_change(ctx: _Ctx, sec: Section, t: pd.DataFrame, inst: str, g: str | None) -> None:
    d = _numeric_rows(t, ["baseline_mean", "endpoint_mean"])
    if d.empty:
        return
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
    x = np.arange(len(d))
    ax.bar(x - 0.2, d["baseline_mean"].astype(float), 0.4, label="baseline", color="#9bb7d4")
    ax.bar(x + 0.2, d["endpoint_mean"].astype(float), 0.4, label="endpoint", color="#1f5f8b")
    ax.set_xticks(x, [str(ctx.label(v)) for v in d["group"]])
    ax.set_ylabel(f"mean {inst} total (points)")
    ax.legend(frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"change_{_slug(inst)}",
        f"Mean {inst} at baseline and endpoint" + (f" by {g}" if g else ""),
        fig,
        caption=f"Mean {inst} at baseline and endpoint (paired episodes). A group whose means "
        "are hidden in the table (too few paired episodes) is not drawn.",
    )


def _fig_clinsig(ctx: _Ctx, sec: Section, t: pd.DataFrame, inst: str, by: str) -> None:
    d = _numeric_rows(t, ["estimate"])
    if d.empty:
        return
    plt = _mpl()
    groups = list(dict.fromkeys(d["group"]))
    outcomes = list(dict.fromkeys(t["outcome"]))
    colors = ["#1f5f8b", "#6fa3c7", "#c9d3dc", "#e3a35f", "#a23b2a", "#777777"]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.55 * len(groups)), dpi=100)
    left = np.zeros(len(groups))
    for i, o in enumerate(outcomes):
        vals = np.array(
            [
                float(d[(d["group"] == gname) & (d["outcome"] == o)]["estimate"].sum())
                for gname in groups
            ]
        )
        ax.barh(
            [str(ctx.label(v)) for v in groups],
            100 * vals,
            left=left,
            color=colors[i % len(colors)],
            label=str(ctx.label(o)),
        )
        left += 100 * vals
    ax.set_xlabel("% of paired episodes")
    ax.set_xlim(0, 100)
    ax.legend(
        ncols=min(len(outcomes), 5),
        frameon=False,
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35 if len(groups) < 4 else -0.2),
    )
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"clinsig_{_slug(inst)}",
        f"{inst} reliable change categories by {by}",
        fig,
        caption=f"{inst} Jacobson–Truax categories by {by}. Suppressed categories are left "
        "out, so a bar may not reach 100%.",
    )


def _fig_noninferiority(
    ctx: _Ctx, sec: Section, t: pd.DataFrame, inst: str, g: str, ref: str
) -> None:
    if not {"estimate", "ci_low", "ci_high", "margin"} <= set(t.columns):
        return
    d = _numeric_rows(t, ["estimate", "ci_low", "ci_high", "margin"])
    if d.empty:
        return
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.5 * len(d)), dpi=100)
    y = np.arange(len(d))[::-1]
    est = d["estimate"].astype(float).to_numpy()
    lo = d["ci_low"].astype(float).to_numpy()
    hi = d["ci_high"].astype(float).to_numpy()
    ax.errorbar(
        est,
        y,
        xerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)],
        fmt="o",
        color="#1f5f8b",
        capsize=3,
    )
    ax.set_yticks(y, [str(ctx.label(c)) for c in d["contrast"]])
    ax.axvline(0, color="#777777", lw=0.8)
    margin = float(d["margin"].astype(float).iloc[0])
    ax.axvline(margin, color="#a23b2a", lw=1, ls="--", label=f"margin {margin:g}")
    lvl = d["ci_level"].astype(float).iloc[0] if "ci_level" in d else np.nan
    ax.set_xlabel(
        f"difference in adjusted mean change, {inst} points"
        + (f" ({100 * lvl:g}% CI)" if np.isfinite(lvl) else "")
    )
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        f"noninferiority_{_slug(inst)}",
        f"{inst}: non-inferiority of each {g} vs {ref}",
        fig,
        caption=f"Difference in adjusted mean {inst} change (each {g} minus {ref}; positive = "
        "less improvement) with the interval used for the one-sided test. Non-inferiority is "
        "shown when the whole interval lies left of the dashed margin.",
    )


def _fig_followup(ctx: _Ctx, sec: Section, t: pd.DataFrame, inst: str) -> None:
    d = _numeric_rows(t, ["estimate", "ci_low", "ci_high"])
    if d.empty:
        return
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    windows = list(dict.fromkeys(t["window"]))
    pos = {w: i for i, w in enumerate(windows)}
    for gname, sub in d.groupby("group", sort=False):
        x = sub["window"].map(pos).to_numpy(dtype=float)
        y = 100 * sub["estimate"].astype(float).to_numpy()
        lo = 100 * sub["ci_low"].astype(float).to_numpy()
        hi = 100 * sub["ci_high"].astype(float).to_numpy()
        err = [np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=str(ctx.label(gname)))
    ax.set_xticks(range(len(windows)), [str(ctx.label(w)) for w in windows])
    ax.set_xlabel("follow-up window after discharge")
    ax.set_ylabel("% responded")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ctx.add_figure(
        sec,
        "followup_response",
        "Follow-up response by window",
        fig,
        caption="Share of discharged episodes with a follow-up score in each window "
        f"({inst}), with Wilson 95% intervals.",
    )


# ============================================================================ text sections
def _period(data: pd.DataFrame) -> str:
    """The reporting period to the month (an exact first or last date can belong to one
    person): admissions, and the assessments."""

    def span(col: str) -> tuple[str, str] | None:
        if col not in data.columns:
            return None
        d = pd.to_datetime(data[col], errors="coerce").dropna()
        if d.empty:
            return None
        return f"{d.min():%B %Y}", f"{d.max():%B %Y}"

    parts = []
    adm, ass = span("admit_date"), span("assessment_date")
    if adm:
        parts.append(f"admissions {adm[0]} to {adm[1]}")
    if ass:
        parts.append(f"questionnaires {ass[0]} to {ass[1]}")
    return "; ".join(parts) or "not recorded in the data"


def _at_a_glance(ctx: _Ctx, period: str) -> str:
    """The first thing a reader sees: period, completeness, the headline numbers with their
    intervals (from the suppressed tables, so a hidden number reads "not shown"), the format
    verdict and what not to conclude. HTML."""
    cfg, inst = ctx.cfg, ctx.cfg.primary_instrument
    lvl = f"{100 * cfg.ci_level:g}% CI"
    rows: list[tuple[str, str]] = [("Reporting period", period)]

    def pct(r, est="estimate", lo="ci_low", hi="ci_high") -> str:
        if not all(ctx.shown(r.get(c)) for c in (est, lo, hi)):
            return "not shown (small numbers)"
        return f"{100 * r[est]:.1f}% ({lvl} {100 * r[lo]:.1f} to {100 * r[hi]:.1f})"

    ch = ctx.facts.get("change", {}).get(inst)
    if ch is not None and len(ch[ch["group"] == "Overall"]):
        r = ch[ch["group"] == "Overall"].iloc[0]
        adm, pair = r["n_episodes"], r["n_paired"]
        text = f"{int(adm):,} admitted" if ctx.shown(adm) else "number admitted not shown"
        if ctx.shown(pair):
            text += f"; {int(pair):,} with a {inst} score at the start and the end"
            if ctx.shown(adm) and adm:
                text += f" ({100 * pair / adm:.1f}%)"
        rows.append(("Episodes", text))
        if ctx.shown(r["mean_change"]):
            ci = (
                f" ({lvl} {r['change_ci_low']:.1f} to {r['change_ci_high']:.1f})"
                if ctx.shown(r["change_ci_low"]) and ctx.shown(r["change_ci_high"])
                else ""
            )
            rows.append(
                (
                    f"Mean change in {inst}",
                    f"{r['mean_change']:+.1f} points{ci}; from {r['baseline_mean']:.1f} to "
                    f"{r['endpoint_mean']:.1f} (negative = fewer symptoms)",
                )
            )
    rates = ctx.facts.get("rates", {}).get(inst)
    if rates is not None:
        from .. import instruments as _inst

        cut = _inst.get(inst).remission_below
        for measure, label in (
            ("response (≥50% reduction)", "Response (score at least halved)"),
            ("remission", f"Remission (end score below {cut:g})"),
        ):
            r = rates[(rates["group"] == "Overall") & (rates["measure"] == measure)]
            if len(r):
                rows.append((label, pct(r.iloc[0], "rate")))
    cs = ctx.facts.get("clinsig", {}).get(inst)
    if cs is not None:
        r = cs[cs["outcome"] == "recovered"]
        if len(r):
            rows.append(("Recovered (reliable and clinically significant)", pct(r.iloc[0])))
    cmpr = ctx.facts.get("equivalence", {}).get(inst)
    if cmpr is not None and len(cmpr) and "conclusion" in cmpr:
        verdict = "; ".join(
            f"{str(ctx.label(r['contrast'])).replace(' − ', ' vs ')}: {r['conclusion']}"
            for _, r in cmpr.iterrows()
        )
        margin = cmpr["margin"].iloc[0] if "margin" in cmpr else None
        rows.append(
            (
                f"{str(ctx.label(cfg.comparison_group)).capitalize()} comparison",
                verdict
                + (f" (margin {float(margin):g} points, adjusted)" if ctx.shown(margin) else ""),
            )
        )
    rows.append(
        (
            "Do not conclude",
            "that treatment alone caused the change (there is no control group); that the "
            "formats are equal (non-inferior only rules out a difference larger than the "
            "margin); or that follow-up scores describe everyone (only those who answered).",
        )
    )
    body = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f'<table class="glance"><caption>At a glance</caption><tbody>{body}</tbody></table>'


def _summary(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame], n_read: int) -> None:
    cfg, th = ctx.cfg, ctx.threshold
    items: list[str] = []
    inst = cfg.primary_instrument
    sec.html(_at_a_glance(ctx, ctx.facts.get("period", "")))
    ch = ctx.facts.get("change", {}).get(inst)
    if ch is not None and len(ch):
        row = ch[ch["group"] == "Overall"]
        row = row.iloc[0] if len(row) else ch.iloc[0]
        if ctx.shown(row["baseline_mean"]) and ctx.shown(row["mean_change"]):
            items.append(
                _n_of(_fmt_n(row["n_paired"], th), _fmt_n(row["n_episodes"], th))
                + f" had a {inst} score at both the start and the end of treatment. "
                f"Their average {inst} score fell from {row['baseline_mean']:.1f} to "
                f"{row['endpoint_mean']:.1f}, a change of {row['mean_change']:.1f} points ("
                + (
                    f"{100 * cfg.ci_level:g}% CI {row['change_ci_low']:.1f} to "
                    f"{row['change_ci_high']:.1f}; "
                    if ctx.shown(row["change_ci_low"]) and ctx.shown(row["change_ci_high"])
                    else ""
                )
                + "negative means fewer symptoms)."
            )
    eff = ctx.facts.get("effects", {}).get(inst)
    if eff is not None and len(eff):
        r = eff[(eff["group"] == "Overall")]
        r = r[r["method"].astype(str).str.contains("av")] if len(r) else r
        if len(r) and ctx.shown(r.iloc[0]["estimate"]):
            r = r.iloc[0]
            items.append(
                f"The standardised size of this change ({r['method']}) is {r['estimate']:.2f} "
                f"({r['ci_low']:.2f} to {r['ci_high']:.2f}); by Cohen's conventions 0.8 or more "
                "is a large effect, but pre–post designs without a control group overstate "
                "what treatment itself caused."
            )
    cs = ctx.facts.get("clinsig", {}).get(inst)
    if cs is not None and len(cs):
        parts = []
        for o in ("recovered", "improved", "deteriorated"):
            r = cs[cs["outcome"] == o]
            if len(r) and ctx.shown(r.iloc[0]["estimate"]):
                parts.append(f"{_pct(r.iloc[0]['estimate'])} {o}")
        if parts:
            items.append(
                "Judged by the Jacobson–Truax reliable change criteria: "
                + ", ".join(parts)
                + " (see the methods section for the reliability and cut-off used)."
            )
    cmpr = ctx.facts.get("equivalence", {}).get(inst)
    if cmpr is not None and len(cmpr) and "conclusion" in cmpr:
        conc = "; ".join(
            f"{str(ctx.label(r['contrast'])).replace(' − ', ' vs ')}: {r['conclusion']}"
            + (f" (margin {float(r['margin']):g} points)" if ctx.shown(r.get("margin")) else "")
            for _, r in cmpr.iterrows()
        )
        items.append(
            f"Comparing {ctx.cfg.comparison_group} groups after adjusting for baseline severity "
            f"({inst}): {conc}. 'Not shown' means the data cannot rule out a difference as "
            "large as the margin; it is not evidence that one format is worse."
        )
    saf = ctx.facts.get("safety")
    if saf is not None:
        r = saf.frame.iloc[0]
        if ctx.shown(r["n"]) and ctx.shown(r["pct"]):
            items.append(
                f"{_fmt_n(r['n'], th)} episodes ({_pct(r['pct'])}) had at least one PHQ-9 "
                "answer above 0 on item 9 (thoughts of death or self-harm), each a positive "
                "screen that calls for the program's risk-assessment protocol."
            )
    fu = ctx.facts.get("followup")
    if fu is not None and len(fu):
        parts = []
        for _, r in fu[fu["group"] == "Overall"].iterrows():
            if ctx.shown(r["estimate"]) and ctx.shown(r["n_responded"]) and r["n_responded"]:
                parts.append(f"{_pct(r['estimate'])} at the {ctx.label(r['window'])}")
        if parts:
            items.append(
                "Follow-up questionnaires were returned for "
                + ", ".join(parts)
                + " after discharge; people who answer follow-up may be doing better than "
                "those who do not, so follow-up scores describe responders only."
            )
    if not items:
        items.append("Key results are not available for these data; see the sections below.")
    items.append(
        f"The report was built from {n_read:,} questionnaire rows; see Data quality for what "
        "was repaired or excluded. "
        + (
            f"Counts from 1 to {th - 1} are hidden (shown as '<{th}') to protect privacy."
            if th
            else "Small-cell suppression was turned OFF for this report."
        )
    )
    sec.html(
        '<div class="summary">' + "".join(f"<p>{html.escape(t)}</p>" for t in items) + "</div>"
    )


def _methods(ctx: _Ctx, sec: Section, eps: dict[str, pd.DataFrame], rules: Any) -> None:
    from .. import instruments as _inst

    cfg = ctx.cfg
    sec.p(
        "This section is written automatically from the analysis results themselves: each "
        "table's method text and parameters below are the ones the library recorded when it "
        "computed the numbers."
    )
    sec.html("<h3>Episodes, baseline and endpoint</h3>")
    rule_txt = repr(rules) if rules is not None else "library defaults (iop.EpisodeRules())"
    texts = {str(ep.attrs.get("rules_text")) for ep in eps.values() if ep.attrs.get("rules_text")}
    if texts:
        rule_txt = " ".join(sorted(texts))
    ep_meta = [
        f"{inst}: {ctx.text_count(_key(inst, None, None, 'admitted'), len(ep))} episodes in "
        "the episode table."
        for inst, ep in eps.items()
    ]
    sec.bullets([f"Episode rules: {rule_txt}", *ep_meta])
    sec.html("<h3>Instruments</h3>")
    items = []
    for name in eps:
        try:
            ins = _inst.get(name)
        except Exception:
            continue
        items.append(
            f"{ins.name}: severity bands {', '.join(f'{lo}-{hi} {lab}' for lo, hi, lab in ins.bands)} ({ins.bands_source})"
        )
        for attr in ("reliability", "reliable_change", "mid", "caseness_cutoff", "remission_below"):
            v = getattr(ins, attr)
            src = getattr(ins, f"{attr}_source", "") or getattr(
                ins,
                {"caseness_cutoff": "caseness_source", "remission_below": "remission_source"}.get(
                    attr, ""
                ),
                "",
            )
            if v is not None:
                items.append(f"{ins.name} {attr.replace('_', ' ')} = {v}: {src}")
        if ins.missing_source:
            items.append(f"{ins.name} missing items: {ins.missing_source}")
    sec.bullets(items)
    sec.html("<h3>How each table was computed</h3>")
    seen = set()
    blocks = []
    for title, method, params, _notes in ctx.methods:
        key = (title, method)
        if key in seen:
            continue
        seen.add(key)
        p = ", ".join(
            f"{k} = {_param_count(ctx, v) if _is_count_key(k) and k not in _NOT_PEOPLE else _month(v)}"
            for k, v in params.items()
        )
        s = f"<li><strong>{html.escape(title)}</strong>: {html.escape(method or 'see table')}"
        if p:
            s += f"<br><small>Parameters: {html.escape(p)}</small>"
        s += "</li>"
        blocks.append(s)
    sec.html("<ul>" + "".join(blocks) + "</ul>")
    sec.html("<h3>Confidentiality</h3>")
    th = cfg.suppression_threshold
    sec.p(
        (
            f"Small-cell suppression: counts from 1 to {th - 1} are shown as '<{th}'. "
            "Where a hidden count could be recovered from a total, a percentage or the rest of "
            "its row or column, further cells are hidden ('*'), as are percentages, rates and "
            "statistics computed from hidden counts (complementary suppression). The same is "
            "done across tables: every count is tied to the group of episodes it counts (for "
            "example the virtual-format episodes admitted, or those with scores at both ends), "
            "a count hidden in one table is hidden in every table and sentence that repeats "
            "it, and counts that could be recovered as the difference or sum of counts in "
            "different tables (such as episodes admitted minus episodes analysed, or the whole "
            "cohort minus the other groups) were also hidden. Counts that are related without "
            "one group of episodes holding the other are read the same safe way: the same "
            "group's episodes admitted, measured or analysed under two questionnaires (nearly "
            "but not always the same people), the participant flow beside each "
            "questionnaire's tables, and the HEDIS DRR-E and NHS Talking Therapies "
            f"denominators; where two such counts differ by 1 to {th - 1}, the smaller is "
            "hidden. Figures are drawn from the suppressed tables. No identifiers, dates of "
            "birth or individual dates appear in this report or its tables."
        )
        if th
        else "Small-cell suppression was turned OFF (suppression.enabled = false). This "
        "report may allow individuals to be identified and must not be shared outside the "
        "organisation."
    )
    sec.html("<h3>References</h3>")
    sec.bullets(
        [
            "Jacobson NS, Truax P (1991). Clinical significance: a statistical approach to "
            "defining meaningful change in psychotherapy research. J Consult Clin Psychol 59:12-19.",
            "Lakens D (2013). Calculating and reporting effect sizes to facilitate cumulative "
            "science. Front Psychol 4:863.",
            "Wilson EB (1927). Probable inference, the law of succession, and statistical "
            "inference. J Am Stat Assoc 22:209-212.",
            "Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations. "
            "J Am Stat Assoc 53:457-481.",
            "Centers for Medicare & Medicaid Services. Cell size suppression policy (minimum "
            "cell size 11).",
            "Further sources are cited in each instrument entry and method text above.",
        ]
    )


_DATE_RE = re.compile(r"\b(\d{4}-\d{2})-\d{2}(?:[ T][0-9:.]+)?\b")


def _month(v: Any) -> str:
    """Parameter text with exact dates cut to the month (an exact date such as the last
    assessment in the data can belong to one person)."""
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        v = str(pd.Timestamp(v).date())
    return _DATE_RE.sub(r"\1", _fmt_param(v))


def _is_count_key(k: str) -> bool:
    k = str(k).lower()
    return k in ("n", "count", "k") or k.startswith("n_") or k.endswith("_n")


def _safe_count(v: Any, threshold: int | None) -> str:
    """A count for running text, small-cell suppressed like the tables."""
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        return _fmt_param(v)
    if threshold is not None and 1 <= float(v) < threshold:
        return f"<{threshold}"
    return f"{int(v):,}" if float(v).is_integer() else _fmt_param(v)


#: count-like parameters that do not count people
_NOT_PEOPLE = frozenset({"n_imputations", "n_boot", "n_bootstrap", "n_iter", "n_draws"})


def _param_count(ctx: _Ctx, v: Any) -> str:
    """A count among a result's parameters, for the methods text: shown only when small-cell
    suppression is off or a table shows the same number (so the text adds nothing a table
    does not already publish); otherwise suppressed."""
    if ctx.threshold is None or not isinstance(v, (int, float, np.integer, np.floating)):
        return _safe_count(v, ctx.threshold)
    if isinstance(v, bool) or 0 <= float(v) < ctx.threshold:
        return _safe_count(v, ctx.threshold)
    shown = {
        cells[0][0]
        for k, cells in ctx.cells.items()
        if k not in ctx.forced and not any(h for _, h in cells)
    }
    return _safe_count(v, ctx.threshold) if float(v) in shown else "(suppressed)"


def _fmt_param(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt_param(x) for x in v) + "]"
    return str(v)


def _provenance(
    ctx: _Ctx, sec: Section, loaded: Any, generated: tuple[str, str], input_name: str
) -> dict:
    ledger = loaded.ledger
    led = ctx.facts.get("ledger")

    def _c(name: str) -> Any:
        if led is None:
            return ""
        r = led[led["disposition"] == name]
        return r.iloc[0]["rows"] if len(r) else 0

    versions = {}
    for p in _PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = "not installed"
    versions["python"] = platform.python_version()
    th = ctx.cfg.suppression_threshold
    prov = {
        "generated": generated[0],
        "stamp": generated[1],
        "input": {
            "name": input_name,
            "sha256": _sha256_of(loaded),
            "rows_read": int(len(ledger)),
            "accepted": _c("accepted"),
            "repaired": _c("repaired"),
            "quarantined": _c("quarantined"),
        },
        "configuration": ctx.cfg.to_dict(),
        "seed": ctx.cfg.seed,
        "suppression": f"threshold {th} (counts 1-{th - 1} hidden)" if th else "OFF",
        "versions": versions,
    }
    rows = [
        ("Input", input_name),
        ("Input SHA-256", prov["input"]["sha256"] or "(in-memory data: not hashed)"),
        ("Rows read", f"{prov['input']['rows_read']:,}"),
        (
            "Accepted / repaired / quarantined",
            " / ".join(str(_c(k)) for k in ("accepted", "repaired", "quarantined")),
        ),
        ("Small-cell suppression", prov["suppression"]),
        ("Seed", str(ctx.cfg.seed)),
        (generated[1], generated[0]),
        ("Software", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
    sec.html(f'<dl class="prov">{dl}</dl>')
    sec.html("<h3>Configuration</h3>")
    sec.html(f"<pre>{html.escape(ctx.cfg.to_json())}</pre>")
    return prov


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(s).lower()).strip("_")


def _build_sections(
    ctx: _Ctx,
    loaded: Any,
    eps: dict[str, pd.DataFrame],
    rules: Any,
    generated: tuple[str, str],
    input_name: str,
) -> tuple[list[Section], dict]:
    """One build pass: every section, its tables (suppressed with ``ctx.forced``) and text."""
    cfg = ctx.cfg
    primary = cfg.primary_instrument

    s_summary = Section("summary", "Summary")
    s_quality = Section("data-quality", "Data quality")
    s_flow = Section("participant-flow", "Participant flow")
    s_change = Section("change", "Symptom change")
    s_clin = Section("clinical-significance", "Reliable and clinically significant change")
    s_eff = Section("effect-sizes", "Effect sizes")
    s_cmp = Section("format-comparison", f"Comparison by {cfg.comparison_group}")
    s_ret = Section("retention", "Retention and follow-up")
    s_meth = Section("methods", "Methods")
    s_prov = Section("provenance", "Provenance")

    ctx.facts["period"] = _period(loaded.data)
    _section_quality(ctx, s_quality, loaded)
    ctx.step("quality")
    ret = _section_flow(ctx, s_flow, eps[primary], primary)
    ctx.step("flow")
    _section_change(ctx, s_change, eps)
    _section_trajectories(ctx, s_change, loaded, primary)
    _quality_measures(ctx, s_change, loaded)
    ctx.step("change")
    _section_clinsig(ctx, s_clin, eps)
    ctx.step("clinsig")
    _section_effects(ctx, s_eff, eps)
    ctx.step("effects")
    _section_compare(ctx, s_cmp, eps)
    ctx.step("compare")
    _section_retention(ctx, s_ret, eps[primary], primary, ret, loaded)
    ctx.step("retention")
    _summary(ctx, s_summary, eps, int(len(loaded.ledger)))
    _methods(ctx, s_meth, eps, rules)
    prov = _provenance(ctx, s_prov, loaded, generated, input_name)
    sections = [
        s_summary,
        s_quality,
        s_flow,
        s_change,
        s_clin,
        s_eff,
        s_cmp,
        s_ret,
        s_meth,
        s_prov,
    ]
    return sections, prov


# ============================================================================ public entry
def report(
    data: Any,
    *,
    config: str | Path | dict | StudyConfig | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    progress: bool = False,
    strict: bool = False,
    timestamp: str = "data",
) -> Report:
    """Build the shareable outcome report.

    Parameters
    ----------
    data : path, DataFrame, LoadResult or SynthData
        Assessment rows in the data contract (``docs/data-format.md``). Paths and frames are
        loaded with :func:`iop_outcomes.load` (lenient mode; the ledger is reported) with the
        configuration's ``[data]`` options (mapping, sheet, skip_rows, wide, episodes).
    config : path to a TOML file, dict or StudyConfig, optional
        Study configuration (see :mod:`iop_outcomes.report.config`); defaults otherwise.
    out : path, optional
        Directory to write the report into (``report.html``, ``tables/``, ``tables.xlsx``,
        ``provenance.json``).
    name : str, optional
        Input name shown in the provenance block (default: the file name).
    progress : bool
        Show a progress bar on standard error.
    strict : bool
        Re-raise analysis errors instead of noting them in the report (for tests).
    timestamp : {"data", "now"} or str, default "data"
        The report's date stamp. ``"data"``: the quarter of the latest assessment date
        ("Data through 2025-Q2"), so the same data always give byte-identical files;
        ``"now"``: the generation time in UTC (``SOURCE_DATE_EPOCH`` replaces the clock when
        set); any other text is shown as given. See :func:`iop_outcomes.report.render.timestamp`.

    Returns
    -------
    Report

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> rep = iop.report(iop.synth.demo(), out="reports/demo")  # doctest: +SKIP
    >>> rep.keys[:2]  # doctest: +SKIP
    ['ledger_dispositions', 'ledger_reasons']
    """
    cfg = load_config(config)
    _timestamp(timestamp)  # an unusable choice fails now, not after the build
    steps = [
        "load",
        "episodes",
        "quality",
        "flow",
        "change",
        "clinsig",
        "effects",
        "compare",
        "retention",
        "suppression",
        "write",
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), file=sys.stderr, desc="report", unit="step", leave=False)

    def step(label: str) -> None:
        if bar is not None:
            bar.set_postfix_str(label)
            bar.update(1)

    try:
        input_name = name or (
            Path(data).name if isinstance(data, (str, Path)) else "<in-memory data>"
        )
        loaded = _load(data, cfg, progress)
        step("load")
        import iop_outcomes as iop

        rules = _episode_rules(cfg)
        eps: dict[str, pd.DataFrame] = {}
        present = (
            set(loaded.data["instrument"].astype("object").unique()) if len(loaded.data) else set()
        )
        for inst in cfg.instruments:
            if inst not in present:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = iop.episodes(loaded.data, instrument=inst, rules=rules)
            if len(ep):
                eps[inst] = ep
        if not eps:
            raise DataError(
                f"None of the configured instruments {list(cfg.instruments)} has accepted rows in "
                f"the data (instruments found: {sorted(map(str, present))}). Check the "
                "'instruments' key of the study configuration or the data's instrument column."
            )
        if cfg.primary_instrument not in eps:
            cfg = StudyConfig(**{**cfg.__dict__, "primary_instrument": next(iter(eps))})
        step("episodes")
        _check_groupings(cfg, eps)
        # Build passes: the analyses run once (cached); the tables are rebuilt with the
        # populations hidden so far until no table or cross-table sum hides anything new.
        cache: list = []
        forced: frozenset = frozenset()
        protected: frozenset | None = None
        for n_pass in range(200):
            ctx = _Ctx(cfg, strict, cache=cache, forced=forced, draw=False, protected=protected)
            if n_pass == 0:  # the first pass runs the analyses
                ctx.step = step
            _build_sections(ctx, loaded, eps, rules, ("", ""), input_name)
            if protected is None:  # the counts are known now: settle what the headline holds
                protected = _protected_populations(ctx)
                continue
            more = forced | _hidden_populations(ctx)
            if more == forced:
                break
            forced = more
        else:  # pragma: no cover - the hidden set only grows, so this cannot happen
            raise IOPError("Small-cell suppression across tables did not settle.")
        generated = _timestamp(timestamp, _assessment_dates(loaded.data))
        ctx = _Ctx(cfg, strict, cache=cache, forced=forced, draw=True, protected=protected)
        sections, prov = _build_sections(ctx, loaded, eps, rules, generated, input_name)
        step("suppression")

        banner = (
            ""
            if cfg.suppression_threshold
            else (
                "Small-cell suppression is OFF in this report: it may identify individuals. "
                "Do not share it outside the organisation."
            )
        )
        rep = Report(
            title=cfg.title,
            subtitle=cfg.subtitle,
            sections=sections,
            tables=ctx.tables,
            figures=ctx.figures,
            provenance=prov,
            config=cfg,
            generated=generated[0],
            stamp_label=generated[1],
            banner=banner,
            warnings=ctx.warnings,
        )
        _final_identifier_check(rep, loaded)
        if out is not None:
            rep.write(out)
        step("write")
    finally:
        if bar is not None:
            bar.close()
    return rep


def _assessment_dates(data: pd.DataFrame) -> Any:
    """Assessment dates of the accepted rows (empty when the column is absent)."""
    return data["assessment_date"] if "assessment_date" in data.columns else []


def _final_identifier_check(rep: Report, loaded: Any) -> None:
    """Refuse to produce a report in which an input identifier appears (defence in depth)."""
    data = loaded.data
    ids: set[str] = set()
    for col in ("patient_id", "episode_id"):
        if col in data.columns:
            ids |= set(data[col].astype("object").dropna().astype(str).unique())
    # an identifier made of a few digits (REDCap's record ids 1, 2, 3 ...) cannot be told from
    # a count in text; identifier columns never reach a table (scrub_identifiers), and longer
    # or zero-padded numbers (MRNs such as 0012345) are still looked for
    ids = {i for i in ids if not (i.isdigit() and len(i) < 7 and not i.startswith("0"))}
    if not ids:
        return
    text = rep.html() + "\n".join(t.frame.to_csv() for t in rep.tables)
    # labels that happen to equal an identifier (e.g. a site called "1") are ignored when the
    # identifier is also a group label used by the analyses
    labels = set()
    for t in rep.tables:
        for c in t.frame.columns:
            if t.frame[c].dtype == object:
                labels |= set(map(str, t.frame[c].dropna().unique()))
    found = [i for i in find_identifiers(text, ids) if i not in labels or len(i) > 4]
    if found:
        raise IOPError(
            f"The report would contain {len(found)} patient or episode identifier(s) "
            f"(e.g. {found[0]!r}); nothing was written. Please report this as a bug."
        )
