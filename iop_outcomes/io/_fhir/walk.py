"""The walk over FHIR records: each QuestionnaireResponse and Observation found as an
administration (or an unusable record), the context (episodes, encounters) collected, all
packed as columns (:class:`Chunk`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import chain

import numpy as np

from ... import instruments as _inst
from .records import Bad

#: Statuses that quarantine a questionnaire resource.
QR_BAD_STATUS = frozenset({"in-progress", "stopped", "entered-in-error"})


OBS_BAD_STATUS = frozenset({"entered-in-error", "cancelled"})


#: Resource types read for context (episodes); they have no ledger row.
CONTEXT_TYPES = ("Patient", "EpisodeOfCare", "Encounter")


_ORDINAL_URLS = ("ordinalValue", "itemWeight", "iso21090-CO-value")


#: The fields of an administration, in the walk's columns (and, with its problem last, rows).
_FIELDS = ("rec", "label", "pid", "inst", "date", "enc", "ep", "values")


#: The fields of an item (or total) Observation.
_ITEM_FIELDS = ("rec", "label", "key", "pid", "inst", "n", "value", "date", "enc", "ep", "eff")


@dataclass
class Codes:
    """Code tables from the instrument registry."""

    items: dict  # code -> (instrument, item number; 0 = total)
    panels: dict  # code -> instrument
    answers: dict  # instrument -> {LA code: value}
    n_items: dict  # instrument -> number of items
    width: int = 1  # values per administration: the total (0) and items 1..k
    links: dict = field(default_factory=dict)  # item code -> (inst, n, {answer code: value})

    @classmethod
    def build(cls) -> Codes:
        items, panels, answers, n_items = {}, {}, {}, {}
        for name in _inst.names():
            ins = _inst.get(name)
            if not (ins.loinc_panel or ins.loinc_total or ins.loinc_items):
                continue
            # a code claimed twice (an instrument registered as a copy of another) stays with
            # the first registered, so the built-in PHQ-9 / GAD-7 keep their codes
            if ins.loinc_panel:
                panels.setdefault(ins.loinc_panel, name)
            if ins.loinc_total:
                items.setdefault(ins.loinc_total, (name, 0))
            for j, c in enumerate(ins.loinc_items, 1):
                items.setdefault(c, (name, j))
            answers[name] = dict(ins.loinc_answers)
            n_items[name] = ins.n_items
        links = {code: (inst, n, answers[inst]) for code, (inst, n) in items.items() if n}
        return cls(items, panels, answers, n_items, max(n_items.values(), default=0) + 1, links)


def _ref(x, alias=None) -> str | None:
    """A Reference's ``reference`` as ``Type/id`` (absolute URLs and history cut)."""
    ref = x.get("reference") if isinstance(x, dict) else None
    if not isinstance(ref, str) or not ref:
        return None
    if alias and ref in alias:
        return alias[ref]
    if ref.startswith("urn:uuid:"):
        return ref
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def _coding_value(c, table):
    if not isinstance(c, dict):
        return None
    code = c.get("code")
    v = table.get(code)
    if v is not None:
        return v
    for e in c.get("extension") or ():
        if isinstance(e, dict) and str(e.get("url", "")).endswith(_ORDINAL_URLS):
            for k in ("valueDecimal", "valueInteger"):
                if k in e:
                    return e[k]
    return c.get("display") or code


def _value(a, table):
    """The value of an answer / component / Observation (``value[x]``)."""
    if not isinstance(a, dict):
        return None
    v = a.get("valueCoding")
    if v is not None:
        return _coding_value(v, table)
    for k in ("valueInteger", "valueDecimal"):
        if k in a:
            return a[k]
    v = a.get("valueQuantity")
    if v is not None:
        return v.get("value") if isinstance(v, dict) else None
    v = a.get("valueCodeableConcept")
    if v is not None:
        if not isinstance(v, dict):
            return None
        for c in v.get("coding") or ():
            got = _coding_value(c, table)
            if got is not None:
                return got
        return v.get("text")
    return a.get("valueString")


def _day(v) -> str | None:
    """``YYYY-MM-DD`` of a FHIR date / dateTime as written; ``None`` if not a full day."""
    if isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-":
        return v[:10]
    return None


@lru_cache(maxsize=1 << 14)
def _real_day(day: str | None) -> str | None:
    """``day`` (a :func:`_day`) when it is a day of the calendar (not ``2025-02-30``)."""
    try:
        return day if day is not None and date.fromisoformat(day) else None
    except ValueError:
        return None


def _code_of(concept, codes: Codes):
    """``(kind, instrument, n, shown)`` of a CodeableConcept: ``panel``, ``item`` or ``None``."""
    shown = []
    for c in (concept.get("coding") or ()) if isinstance(concept, dict) else ():
        if not isinstance(c, dict):
            continue
        code = c.get("code")
        hit = codes.items.get(code)
        if hit is not None:
            return "item", hit[0], hit[1], code
        inst = codes.panels.get(code)
        if inst is not None:
            return "panel", inst, None, code
        shown.append(
            f"{c.get('system', '')}|{code}" + (f" ({c['display']})" if "display" in c else "")
        )
    if not shown and isinstance(concept, dict) and concept.get("text"):
        shown.append(repr(concept["text"]))
    return None, None, None, ", ".join(shown) or "no code"


class Walk:
    """One pass over the records, collecting administrations, items and context."""

    def __init__(self, codes: Codes) -> None:
        self.codes = codes
        # administrations, one list per field (appended as walked: the rows of a chunk are
        # never gathered into columns afterwards, which costs more than the appends)
        self.cols: tuple = tuple([] for _ in _FIELDS)
        self.add = tuple(c.append for c in self.cols)
        self.problems: list = []  # (row, (kind, detail)) of the rows that are not usable
        self.panels: list = []  # panel Observations: rows [*_FIELDS], completed by _combine
        self.members: list = []  # each panel's member references
        self.blank = [None] * codes.width  # values: [total, item_1, ..., item_k]
        self.items: list = []  # rows of _ITEM_FIELDS
        self.episodes: list = []  # (id, pid, start, end)
        self.encounters: dict = {}  # "Encounter/id" -> (eoc ref, pid, start, end)
        self.context: dict[str, int] = {}
        self.unused_episodes = 0
        self.alias: dict | None = None

    def bad(self, rec, label, kind, detail, pid=None, inst=None, date=None, values=None) -> None:
        self.row(rec, label, pid, inst, date, None, None, values, (kind, detail))

    def row(self, *fields) -> None:
        """Append an administration (``_FIELDS`` and its problem or ``None``)."""
        if fields[8] is not None:
            self.problems.append((len(self.cols[0]), fields[8]))
        for add, v in zip(self.add, fields[:8], strict=True):
            add(v)

    def subject(self, r, key="subject"):
        x = r.get(key)
        ref = x.get("reference") if type(x) is dict else None
        if type(ref) is str and ref.startswith("Patient/") and ref.count("/") == 1 and ref[8:]:
            return ref[8:], None  # the usual case, without _ref's general path
        ref = _ref(x, self.alias)
        if ref is None:
            return None, "no subject reference"
        if ref.startswith("urn:uuid:"):
            return ref[9:], None
        typ, _, pid = ref.rpartition("/")
        if typ != "Patient" or not pid:
            return None, f"subject {ref!r} is not a Patient"
        return pid, None

    def run(self, records) -> int:
        """Walk the records (numbered from 1); return how many there were."""
        rec = 0
        fast = self.fast_response
        for rec, (fname, line, r, alias) in enumerate(records, 1):
            self.alias = alias
            if type(r) is dict and r.get("resourceType") == "QuestionnaireResponse":
                label = f"{fname}:{line} QuestionnaireResponse/{r.get('id', '?')}"
                try:  # the usual response first, without the general walk
                    if fast(rec, label, r):
                        continue
                except (KeyError, TypeError, IndexError, AttributeError):
                    pass
                self.response(rec, label, r)
                continue
            if isinstance(r, Bad):
                self.bad(rec, f"{fname}:{line}", r.kind, r.detail)
                continue
            if not isinstance(r, dict) or not isinstance(r.get("resourceType"), str):
                what = (
                    "a JSON object without resourceType"
                    if isinstance(r, dict)
                    else f"a JSON {type(r).__name__}"
                )
                self.bad(rec, f"{fname}:{line}", "resource", what)
                continue
            rt = r["resourceType"]
            label = f"{fname}:{line} {rt}/{r.get('id', '?')}"
            if rt == "Observation":
                self.observation(rec, label, r)
            else:
                self.context[rt] = self.context.get(rt, 0) + 1
                if rt == "EpisodeOfCare":
                    self.episode_of_care(r)
                elif rt == "Encounter":
                    self.encounter(r)
        return rec

    def episode_of_care(self, r) -> None:
        pid, _ = self.subject(r, "patient")
        per = r.get("period") if isinstance(r.get("period"), dict) else {}
        start = _real_day(_day(per.get("start")))
        if pid is None or start is None or r.get("id") is None:
            self.unused_episodes += 1
            return
        self.episodes.append((str(r["id"]), pid, start, _day(per.get("end"))))

    def encounter(self, r) -> None:
        pid, _ = self.subject(r)
        per = r.get("period") if isinstance(r.get("period"), dict) else {}
        eoc = None
        for x in r.get("episodeOfCare") or ():
            eoc = _ref(x, self.alias)
            if eoc:
                break
        if r.get("id") is not None:
            self.encounters[f"Encounter/{r['id']}"] = (
                eoc,
                pid,
                _real_day(_day(per.get("start"))),
                _real_day(_day(per.get("end"))),
            )

    def common(self, r, rec, label, date_value, what, inst=None):
        """Subject and date checks; ``(pid, date, ok)``."""
        pid, why = self.subject(r)
        date = _day(date_value)
        if pid is None:
            self.bad(rec, label, "subject", why, inst=inst, date=date)
            return None, None, False
        if date is None:
            self.bad(rec, label, "date", f"{what} {date_value!r}", pid=pid, inst=inst)
            return None, None, False
        return pid, date, True

    def links(self, r):
        alias = self.alias
        enc = _ref(r.get("encounter"), alias)
        ep = None
        for x in r.get("basedOn") or ():
            ref = _ref(x, alias)
            if ref and ref.startswith("EpisodeOfCare/"):
                ep = ref[14:]
                break
        return enc, ep

    def item(self, it, stack, other):
        """An item of a QuestionnaireResponse, in general: ``(instrument, n, value)`` or None;
        its nested items are pushed on ``stack``, an unknown linkId appended to ``other``."""
        if type(it) is not dict:
            return None
        items = self.codes.items
        link = it.get("linkId")
        sub = it.get("item")
        if sub and type(sub) is list:
            stack.append(sub)
        ans = it.get("answer")
        a = ans[0] if ans and type(ans) is list else None
        if type(a) is not dict:
            a = None
        elif type(a.get("item")) is list:
            stack.append(a["item"])
        hit = items.get(link) if type(link) is str else None
        if hit is None and type(link) is str and "/" in link:
            hit = items.get(link.rpartition("/")[2])
        if hit is None:
            other.append(str(link))
            return None
        inst, n = hit
        return inst, n, (_value(a, self.codes.answers[inst]) if a is not None else None)

    def fast_response(self, rec, label, r) -> bool:
        """The usual response, handled without the general walk: flat items with LOINC linkIds
        and LOINC answer codes, one instrument, a completed status, ``Patient/<id>``, a full
        date. False (nothing recorded) when any of that does not hold."""
        links = self.codes.links
        d = self.blank.copy()
        inst = None
        for it in r["item"]:  # one loop, no intermediate list: the hottest code of the reader
            a = it["answer"][0]
            if "item" in it or "item" in a:
                return False
            i, n, table = links[it["linkId"]]
            d[n] = table[a["valueCoding"]["code"]]
            if i is not inst:
                if inst is not None:
                    return False
                inst = i
        if inst is None:
            return False
        ref = r["subject"]["reference"]
        day = r["authored"]
        if (
            r.get("status") in QR_BAD_STATUS
            or not ref.startswith("Patient/")
            or ref.count("/") != 1
            or len(ref) < 9
            or len(day) < 10
            or day[4] != "-"
            or day[7] != "-"
        ):
            return False
        enc = r.get("encounter")
        enc = _ref(enc, self.alias) if enc is not None else None
        ep = None
        if "basedOn" in r:
            ep = self.links(r)[1]
        add = self.add
        add[0](rec)
        add[1](label)
        add[2](ref[8:])
        add[3](inst)
        add[4](day[:10])
        add[5](enc)
        add[6](ep)
        add[7](d)
        return True

    def response(self, rec, label, r) -> None:
        """A QuestionnaireResponse, in general (:meth:`fast_response` did not take it)."""
        items, answers = self.codes.items, self.codes.answers
        found: dict = {}
        other = []
        top = r.get("item")
        stack = [top] if type(top) is list else []
        while stack:  # the hot loop; nested groups and answer items are pushed on the stack
            for it in stack.pop():
                try:  # the usual item: a LOINC linkId answered by a LOINC answer code
                    inst, n = items[it["linkId"]]
                    a = it["answer"][0]
                    val = answers[inst][a["valueCoding"]["code"]]
                    if "item" in it or "item" in a:
                        raise KeyError  # nested items: the general path below
                except (KeyError, TypeError, IndexError, AttributeError, ValueError):
                    got = self.item(it, stack, other)
                    if got is None:
                        continue
                    inst, n, val = got
                d = found.get(inst)
                if d is None:
                    d = found[inst] = self.blank.copy()
                d[n] = val
        status = r.get("status")
        if not found or status in QR_BAD_STATUS:
            pid, day = self.subject(r)[0], _day(r.get("authored"))
            if not found:
                shown = ", ".join(sorted(set(other))[:5]) or "no items"
                self.bad(rec, label, "code", f"no item or total linkId ({shown})", pid, None, day)
            for inst in sorted(found):
                self.bad(rec, label, "status", repr(status), pid, inst, day, found[inst])
            return
        pid, date, ok = self.common(r, rec, label, r.get("authored"), "authored", min(found))
        if not ok:
            return
        enc, ep = self.links(r)
        for inst in sorted(found):
            self.row(rec, label, pid, inst, date, enc, ep, found[inst], None)

    def observation(self, rec, label, r) -> None:
        kind, inst, n, shown = _code_of(r.get("code"), self.codes)
        eff = r.get("effectiveDateTime")
        if eff is None:
            per = r.get("effectivePeriod")
            eff = per.get("start") if isinstance(per, dict) else r.get("effectiveInstant")
        if kind is None:
            self.bad(rec, label, "code", shown, pid=self.subject(r)[0], date=_day(eff))
            return
        status = r.get("status")
        if status in OBS_BAD_STATUS:
            self.bad(rec, label, "status", repr(status), self.subject(r)[0], inst, _day(eff))
            return
        pid, date, ok = self.common(r, rec, label, eff, "effective", inst)
        if not ok:
            return
        enc, ep = self.links(r)
        table = self.codes.answers[inst]
        if kind == "item":
            key = f"Observation/{r['id']}" if r.get("id") is not None else None
            self.items.append([rec, label, key, pid, inst, n, _value(r, table), date, enc, ep, eff])
            return
        values = self.blank.copy()
        for comp in r.get("component") or ():
            if not isinstance(comp, dict):
                continue
            ckind, cinst, cn, _ = _code_of(comp.get("code"), self.codes)
            if ckind == "item" and cinst == inst:
                values[cn] = _value(comp, table)
        own = _value(r, table)
        if own is not None and values[0] is None:
            values[0] = own
        members = [m for m in (_ref(x, self.alias) for x in r.get("hasMember") or ()) if m]
        if members:  # completed by _combine, once every item Observation is known
            self.panels.append([rec, label, pid, inst, date, enc, ep, values, None])
            self.members.append(members)
        else:  # complete: a row now, in record order
            empty = all(v is None for v in values)
            problem = ("empty", f"panel {label.rpartition(' ')[2]}") if empty else None
            self.row(rec, label, pid, inst, date, enc, ep, values, problem)

    def pack(self, n: int) -> Chunk:
        """What the walk of ``n`` records found, as columns (:class:`Chunk`)."""
        cols = self.cols
        return Chunk(
            n=n,
            rec=np.array(cols[0], dtype=np.int64),
            cols=[objects(c) for c in cols[1:7]],
            values=_value_columns(cols[7], self.blank),
            problems=self.problems,
            panels=self.panels,
            members=self.members,
            items=_item_columns(self.items),
            episodes=self.episodes,
            encounters=self.encounters,
            context=self.context,
            unused_episodes=self.unused_episodes,
        )


@dataclass
class Chunk:
    """The walk of some records (a file, or a range of an NDJSON file's lines) in columns:
    ``rec`` (record numbers, counted from 1 in the chunk), ``cols`` (label, patient,
    instrument, date, encounter, episode; object arrays), ``values`` (total, item 1 ... as
    arrays), ``problems`` (``(row, (kind, detail))`` of the unusable rows); the panels with
    members, their member references and the item Observations as rows (for :func:`_combine`);
    the context found. What a worker process returns: compact to pickle."""

    n: int
    rec: np.ndarray
    cols: list
    values: list
    problems: list
    panels: list
    members: list
    items: dict
    episodes: list
    encounters: dict
    context: dict
    unused_episodes: int

    @classmethod
    def merge(cls, chunks: list[Chunk]) -> Chunk:
        """The chunks of consecutive records as one, record numbers counted across them."""
        if len(chunks) == 1:
            return chunks[0]
        out = cls(0, None, [[] for _ in range(6)], [], [], [], [], [], [], {}, {}, 0)
        recs, values, rows = [], [[] for _ in chunks[0].values], 0
        for c in chunks:
            off = out.n
            recs.append(c.rec + off)
            for col, got in zip(out.cols, c.cols, strict=True):
                col.append(got)
            for col, got in zip(values, c.values, strict=True):
                col.append(got)
            out.problems.extend((i + rows, p) for i, p in c.problems)
            rows += len(c.rec)
            for row in c.panels:  # rows: record number first
                row[0] += off
            out.panels.extend(c.panels)
            out.members.extend(c.members)
            out.items.append({**c.items, "rec": c.items["rec"] + off})
            out.episodes.extend(c.episodes)
            out.encounters.update(c.encounters)
            for k, v in c.context.items():
                out.context[k] = out.context.get(k, 0) + v
            out.unused_episodes += c.unused_episodes
            out.n += c.n
        out.rec = np.concatenate(recs)
        out.cols = [np.concatenate(c) for c in out.cols]
        out.values = [np.concatenate(v) for v in values]
        out.items = {k: np.concatenate([c[k] for c in out.items]) for k in _ITEM_FIELDS}
        return out


def _value_columns(values: list, blank: list) -> list[np.ndarray]:
    """The value lists of administrations (``None``: none) as one array per position (total,
    item 1, ...): floats when all are numbers (``None`` -> NaN), else objects (see
    :func:`as_numbers`)."""
    width = len(blank)
    flat = list(chain.from_iterable(v or blank for v in values))
    try:
        table = np.array(flat, dtype=float).reshape(-1, width)
    except (TypeError, ValueError):  # answer texts (or worse): column by column
        cols = list(zip(*[v or blank for v in values], strict=True)) or [()] * width
        return [as_numbers(c) for c in cols]
    return [table[:, j].copy() for j in range(width)]


def _item_columns(rows: list) -> dict:
    """Item Observation rows (``_ITEM_FIELDS``) as columns: arrays of objects, ``rec`` and
    ``n`` as integers."""
    cols = list(zip(*rows, strict=True)) or [()] * len(_ITEM_FIELDS)
    out = {k: objects(c) for k, c in zip(_ITEM_FIELDS, cols, strict=True)}
    out["rec"] = np.array(cols[0], dtype=np.int64)
    out["n"] = np.array(cols[5], dtype=np.int64)
    return out


def objects(values: list) -> np.ndarray:
    """A 1-d object array of the values (texts or ``None``)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def as_numbers(values) -> np.ndarray:
    """Item or total values as floats (``None`` -> NaN) when all are numbers, else as objects
    (answer texts and codes, checked and reported by :func:`iop_outcomes.load`)."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return np.array(values, dtype=object)
