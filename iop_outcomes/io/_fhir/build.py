"""From the walked records to the long frame and its origin: panels joined to their item
Observations, episodes assigned, dates typed, problems as quarantine masks, the ledger's
accounting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...exceptions import LoadError
from .records import Records
from .walk import Chunk, Codes, as_numbers, objects

#: The assessment may precede admission by this much and still belong to the episode (the
#: default baseline window of iop.EpisodeRules starts 14 days before admission).
DAYS_BEFORE_EPISODE = 14


# problem kinds: (reason template, fix); {value} is the record's own detail
_PROBLEMS = {
    "json": (
        "not valid JSON: {value}",
        "Repair or export the line again: each line of an NDJSON file must be one JSON resource.",
    ),
    "resource": (
        "not a FHIR resource: {value}",
        "Each line (Bundle entry) must be a JSON object with a resourceType.",
    ),
    "code": (
        "not a PHQ-9 / GAD-7 LOINC code: {value}",
        "Export only the questionnaire Observations (e.g. $export?_typeFilter=Observation?code="
        "44249-1,44261-6,69737-5,70274-6), or register the instrument with its LOINC codes "
        "(iop.instruments.register, loinc_panel / loinc_total / loinc_items).",
    ),
    "subject": (
        "no Patient subject: {value}",
        "Export the resource with its subject reference (Patient/<id>).",
    ),
    "date": (
        "no full assessment date: {value}",
        "Export the resource with its date (QuestionnaireResponse.authored, "
        "Observation.effectiveDateTime) as a full day (YYYY-MM-DD...).",
    ),
    "status": (
        "status {value}",
        "Only finished responses and observations are scored: complete or correct the "
        "resource in the source system and export it again.",
    ),
    "empty": (
        "no item or total value: {value}",
        "Export the panel with its components or the Observations its hasMember references.",
    ),
}


def _combine(panels: list, members: list, items: dict, blank: list) -> tuple[int, list, dict]:
    """Attach item Observations to their panels (``members``), group the others;
    ``(members consumed, the administrations the groups make)``, the latter as columns
    (``rec``, ``label`` ... ``ep`` as in :class:`Chunk` ``cols``, and ``values``)."""
    n_items = len(items["rec"])
    used = np.zeros(n_items, dtype=bool)
    n_used = 0
    if panels:
        key, pid, inst, n, value = (items[k] for k in ("key", "pid", "inst", "n", "value"))
        by_key = {k: i for i, k in enumerate(key.tolist()) if k is not None}
        for a, refs in zip(panels, members, strict=True):
            for ref in refs:
                i = by_key.get(ref)
                if i is None or used[i]:
                    continue
                if inst[i] != a[3] or pid[i] != a[2]:
                    continue  # another instrument or patient: not this panel's
                used[i] = True
                n_used += 1
                if a[7][n[i]] is None:
                    a[7][n[i]] = value[i]
        for a in panels:
            if all(v is None for v in a[7]):
                a[8] = ("empty", f"panel {a[1].rpartition(' ')[2]}")
    # The others, grouped by (patient, instrument, effective time, encounter); in a group, an
    # item goes to the first administration without a value for it, so the one whose
    # position is the number of earlier items of the group with a value for that item
    free = np.flatnonzero(~used)
    it = {k: v[free] for k, v in items.items()}
    group = _group_codes([it["pid"], it["inst"], it["eff"], it["enc"]])
    has = pd.notna(it["value"])
    per_item = pd.Series(has, dtype=np.int64).groupby([group, it["n"]], sort=False)
    rank = per_item.cumsum().to_numpy() - has
    admin = _group_codes([group, rank])
    n_admin = int(admin.max()) + 1 if len(admin) else 0
    first = np.zeros(n_admin, dtype=np.int64)  # the item that starts each administration
    first[admin[::-1]] = np.arange(len(admin))[::-1]
    made = {k: it[k][first] for k in ("rec", "label", "pid", "inst", "date", "enc", "ep")}
    made["values"] = []
    for j in range(len(blank)):
        col = np.full(n_admin, None, dtype=object)
        at = has & (it["n"] == j)
        col[admin[at]] = it["value"][at]
        made["values"].append(col)
    return n_used + len(free) - n_admin, made


def _group_codes(keys: list) -> np.ndarray:
    """Codes of the distinct combinations of the key arrays (``None`` a value like any other),
    numbered in order of first appearance."""
    code = np.zeros(len(keys[0]) if keys else 0, dtype=np.int64)
    for k in keys:
        c, u = pd.factorize(k, use_na_sentinel=False)
        code = pd.factorize(code * (len(u) + 1) + c)[0]
    return code


def build_long(m: Chunk, records: Records, codes: Codes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long frame and origin of a walked export (:func:`fhir_to_long`)."""
    source = records.name
    if not records.n:
        raise LoadError(f"{source}: the FHIR export has no resources.")
    blank = [None] * codes.width
    n_members, made = _combine(m.panels, m.members, m.items, blank)
    extra = m.panels  # rows, appended with the groups' columns, then all in record order
    n_made = len(made["rec"])
    if not len(m.rec) and not extra and not n_made:
        found = ", ".join(f"{k} {v:,}" for k, v in sorted(m.context.items()))
        raise LoadError(
            f"{source}: the FHIR export has no QuestionnaireResponse or Observation resources "
            f"(found: {found}). Export them too (Bulk Data: $export?_type=QuestionnaireResponse,"
            "Observation,EpisodeOfCare,Patient)."
        )
    rec, cols, values, problems = m.rec, m.cols, m.values, m.problems
    if extra or n_made:
        n0 = len(rec)
        names = ("label", "pid", "inst", "date", "enc", "ep")
        rec = np.concatenate([rec, np.array([a[0] for a in extra], dtype=np.int64), made["rec"]])
        cols = [
            np.concatenate([c, objects([a[j] for a in extra]), made[k]])
            for j, (k, c) in enumerate(zip(names, cols, strict=True), 1)
        ]
        more = list(zip(*[a[7] or blank for a in extra], strict=True)) or [()] * len(blank)
        values = [
            np.concatenate([v, as_numbers(np.concatenate([objects(x), y]))])
            for v, x, y in zip(values, more, made["values"], strict=True)
        ]
        problems = problems + [(n0 + k, a[8]) for k, a in enumerate(extra) if a[8] is not None]
        order = np.argsort(rec, kind="stable")  # stable: a form's instruments stay in order
        rec, cols, values = rec[order], [c[order] for c in cols], [v[order] for v in values]
        moved = np.empty(len(order), dtype=np.int64)
        moved[order] = np.arange(len(order))
        problems = sorted((int(moved[i]), p) for i, p in problems)
    label, pid, inst, date, enc, direct = cols
    n = len(rec)
    present = set(inst.tolist()) - {None}
    k_max = max((codes.n_items[i] for i in present), default=0)
    days = _days(date)
    long = pd.DataFrame(
        {
            "patient_id": pd.Series(pid, dtype="str"),
            "instrument": pd.Series(inst, dtype=object),
            "assessment_date": _dates(date, days),
        }
    )
    for j in range(1, k_max + 1):
        long[f"item_{j}"] = as_numbers(values[j])
    long["total"] = as_numbers(values[0])
    _episodes(long, m, enc, direct, days)
    origin = pd.DataFrame(
        {
            "source_row": rec,
            "source_column": pd.Series(label, dtype=object),
            "instrument": pd.Series(inst, dtype=object),
        }
    )
    quarantine = []
    for kind, (reason, fix) in _PROBLEMS.items():
        pos = [i for i, p in problems if p[0] == kind]
        if pos:
            mask = np.zeros(n, dtype=bool)
            mask[pos] = True
            detail = pd.Series([p[1] for _, p in problems if p[0] == kind], index=pos, dtype=object)
            quarantine.append((mask, "*", reason, fix, detail))
    origin.attrs["quarantine"] = quarantine
    n_context = sum(m.context.values())
    notes = []
    if n_members:
        notes.append(
            f"{n_members:,} item / total Observation(s) were combined into the administration "
            "of their panel (hasMember) or of their patient, date and instrument; they have no "
            "ledger row of their own (the administration's row stands for them)"
        )
    if n_context:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(m.context.items()))
        notes.append(
            f"{n_context:,} FHIR resource(s) carry context, not scores, and have no ledger row "
            f"({kinds}); EpisodeOfCare and multi-day Encounter periods give the episodes"
        )
    if m.unused_episodes:
        notes.append(
            f"{m.unused_episodes:,} EpisodeOfCare resource(s) lack an id, a Patient or a "
            "period.start that is a date (YYYY-MM-DD, a day of the calendar) and give no episode"
        )
    origin.attrs["notes"] = notes
    origin.attrs["rows_without_scores"] = 0
    origin.attrs["accounting"] = {
        "records": records.n,
        "ledgered": int(n and 1 + np.count_nonzero(np.diff(rec))),
        "members": n_members,
        "context": dict(sorted(m.context.items())),
    }
    origin.attrs["source"] = source
    if n != len(origin):  # pragma: no cover - internal
        raise AssertionError("internal error: FHIR rows and origin differ")
    return long, origin


def _episodes(long: pd.DataFrame, w: Chunk, enc, direct, days: np.ndarray) -> None:
    """``episode_id``, ``admit_date``, ``discharge_date`` (module docstring, "Episodes");
    ``days``: the assessment dates (:func:`_days`)."""
    eps = {e[0]: e for e in w.episodes}  # id -> (id, pid, start, end)
    enc_ep: dict = {}
    for ref, (eoc, pid, start, end) in w.encounters.items():
        if eoc and eoc.startswith("EpisodeOfCare/") and eoc[14:] in eps:
            enc_ep[ref] = eoc[14:]
        elif pid and start and end and end > start and ref[10:] not in eps:
            eps.setdefault(ref[10:], (ref[10:], pid, start, end))
            enc_ep[ref] = ref[10:]
    if not eps:
        return
    # episodes sorted by (patient, start), as positions; the last position (n_e) is "none"
    table = sorted(eps.values(), key=lambda e: (e[1], e[2], e[0]))
    n_e = len(table)
    e_ids, _, e_start, e_end = (objects([*x, None]) for x in zip(*table, strict=True))
    where = {e_id: k for k, e_id in enumerate(e_ids[:n_e])}
    e_day = e_start[:n_e].astype("datetime64[D]").astype(np.int64)
    # patients as codes: the episodes' patients first (0, 1, ... in table order, as sorted)
    pid = long["patient_id"].to_numpy(dtype=object)
    code = pd.factorize(np.concatenate([objects([e[1] for e in table]), pid]))[0]
    e_pat, a_pat = code[:n_e], code[n_e:].astype(np.int64)
    a_pat[a_pat > e_pat[-1]] = -1  # a patient without episodes
    a_ok = ~np.isnat(days)
    a_day = days.astype(np.int64)
    # the latest episode starting no later than DAYS_BEFORE_EPISODE after the assessment ...
    span = 1 << 32
    e_key = e_pat * span + (e_day - e_day.min())
    key = a_pat * span + (a_day - e_day.min() + DAYS_BEFORE_EPISODE)
    at = np.searchsorted(e_key, key, side="right") - 1
    hit = a_ok & (a_pat >= 0) & (at >= 0) & (e_pat[np.maximum(at, 0)] == a_pat)
    # ... else the patient's first episode
    first = np.searchsorted(e_pat, a_pat, side="left")
    pos = np.where(hit, at, np.where(a_pat >= 0, first, n_e))
    if enc_ep:  # encounter -> episode
        linked = _positions(enc, {ref: where[e] for ref, e in enc_ep.items()}, n_e)
        pos = np.where(linked < n_e, linked, pos)
    linked = _positions(direct, where, n_e)  # basedOn EpisodeOfCare
    pos = np.where(linked < n_e, linked, pos)
    has_pid = pd.notna(pid)
    pos[~has_pid] = n_e
    ep = e_ids[pos]
    none = (pos == n_e) & has_pid  # patients without episodes: one each
    if none.any():
        ep[none] = np.array([f"Patient/{p}" for p in pid[none]], dtype=object)
    long["episode_id"] = pd.Series(ep, dtype="str", index=long.index)
    long["admit_date"] = _dates(e_start, _days(e_start), pos)
    long["discharge_date"] = _dates(e_end, _days(e_end), pos)


def _positions(keys: np.ndarray, where: dict, missing: int) -> np.ndarray:
    """The position ``where`` gives each key (texts or ``None``; ``missing`` when absent)."""
    out = np.full(len(keys), missing, dtype=np.int64)
    given = np.flatnonzero(pd.notna(keys))
    if len(given):
        codes, uniques = pd.factorize(keys[given])
        out[given] = np.array([where.get(u, missing) for u in uniques], dtype=np.int64)[codes]
    return out


def _dates(texts: np.ndarray, days: np.ndarray, at: np.ndarray | None = None) -> pd.Series:
    """A date column (of ``texts[at]``): typed when every text is a day (``days``, their
    :func:`_days`), so that :func:`iop_outcomes.load` need not read them again; else the
    texts, for it to name the ones that are not."""
    typed = np.isnat(days).sum() == pd.isna(texts).sum()
    out = days.astype("datetime64[ns]") if typed else texts
    return pd.Series(out if at is None else out[at], dtype=None if typed else object)


def _days(dates: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` texts (or ``None``) as ``datetime64[D]`` (NaT: none, or no such day)."""
    codes, uniques = pd.factorize(dates)
    got = pd.to_datetime(uniques, format="%Y-%m-%d", errors="coerce").to_numpy()
    return np.append(got.astype("datetime64[D]"), np.datetime64("NaT"))[codes]
