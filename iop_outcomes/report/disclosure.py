"""Cross-table disclosure control: which populations must be hidden in every table.

Every count a table or the text publishes is registered under its population key
(:mod:`.populations`); the sums between them (declared by the sections, implied by the
grouping columns and by related populations) are solved here, and a count that the published
numbers would give back is hidden everywhere (:func:`_hidden_populations`). The headline
counts are hidden last (:func:`_protected_populations`).

This is the ``"cms"`` policy's step (see :mod:`.suppress`); the ``"round5"`` policy needs no
cross-table step and ``"none"`` none at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .context import _Ctx
from .populations import _ALL, _Key, _related_pairs


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

    Only the ``"cms"`` policy needs this step: under ``"round5"`` every published count is
    rounded on its own, so a difference or sum of published counts is never an exact count
    (and ``"none"`` hides nothing).
    """
    th = ctx.threshold
    if th is None or ctx.policy != "cms":
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
