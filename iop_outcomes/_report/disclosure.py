"""Cross-table disclosure control: which populations must be hidden in every table.

Every count a table or the text publishes is registered under its population key
(:mod:`.populations`); the sums between them (declared by the sections, implied by the
grouping columns and by related populations) are solved here, and a count that the published
numbers would give back is hidden everywhere (:func:`hidden_populations`). The headline
counts are hidden last (:func:`protected_populations`).

Under the ``"round5"`` policy (see :mod:`.suppress`) the same sums are used differently:
every published count stands for the range of exact counts that round to it, and a count is
hidden wherever the sums would narrow a range to one value (:func:`_round5_pins`). ``"none"``
hides nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .context import Ctx
from .populations import ALL, PopKey, related_pairs


def hidden_populations(ctx: Ctx) -> frozenset:
    """Populations that must be hidden in every table and in the text (see :func:`report`).

    Starts from every population hidden in some table (primary, complementary or forced) and
    applies three kinds of sums, each a constraint ``total = sum(members) + remainder``:

    * related populations of one group (:func:`related_pairs`): ``a = b + (a - b)`` for
      every pair where one contains the other or the two overlap, within an instrument and
      across instruments, in both directions (the direction with a negative remainder says
      nothing and is skipped), so a difference from 1 to threshold - 1 hides the smaller;
    * the whole cohort: ``overall = sum over the groups`` of each grouping column;
    * sums the sections declared (:meth:`Ctx.identity`), e.g. every flow stage adds up to the
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

    This is the ``"cms"`` policy's step. Under ``"round5"`` every published count is rounded on
    its own, so a difference of published counts is never an exact count; what the sums can
    still do there is narrow the range each rounded count stands for until one is exact
    (:func:`_round5_pins`). ``"none"`` hides nothing.
    """
    th = ctx.threshold
    if th is None:
        return frozenset()
    reg, hidden, cons = _constraints(ctx)
    if ctx.policy == "round5":
        return _round5_pins(reg, hidden, cons, th, ctx.protected)

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
                    if (
                        r == 0
                        and total not in hidden
                        and _small_sum_pinned([reg[m] for m in members if m in hidden], th)
                    ):
                        pick = _complement_for(total, members, reg, hidden, ctx.protected)
                        if pick is not None:
                            hidden.add(pick)
                            changed = True
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


def _small_sum_pinned(values: Sequence[float], th: int) -> bool:
    """Whether hidden counts that each read ``"<th"`` (so lie in 1 .. th - 1) and whose sum an
    exact constraint gives away are each pinned by that sum: all 1 (sum = their number) or all
    th - 1. Two periods shown "<11" whose sum is known to be 2 are both 1.

    >>> _small_sum_pinned([1, 1], 11), _small_sum_pinned([1, 2], 11), _small_sum_pinned([3], 11)
    (True, False, False)
    >>> _small_sum_pinned([10, 10, 10], 11), _small_sum_pinned([1, 12], 11)
    (True, False)
    """
    m = len(values)
    if m < 2 or not all(1 <= v < th for v in values):
        return False  # one hidden count alone is the linear check's case
    return sum(values) in (m, m * (th - 1))


def _constraints(ctx: Ctx) -> tuple[dict, set, list]:
    """The published counts (``reg``: population -> count), those hidden somewhere, and the
    sums between them ``(total, members)`` (see :func:`hidden_populations`)."""
    reg: dict[PopKey, float] = {}
    hidden: set[PopKey] = set()
    for k, cells in ctx.cells.items():
        reg[k] = cells[0][0]
        # hidden somewhere, or two tables disagree on the count (then it is not one
        # population after all, and hiding it everywhere is the safe reading)
        if any(h for _, h in cells) or len({v for v, _ in cells}) > 1:
            hidden.add(k)
    cons: list[tuple[PopKey, tuple[PopKey, ...]]] = list(ctx.identities)
    cons += related_pairs(reg)
    # overall = sum over the groups of each grouping column
    values: dict[tuple[str, str], set[str]] = {}
    for inst, gcol, val, _ in reg:
        if gcol != ALL and not gcol.endswith("(contrast)"):
            values.setdefault((inst, gcol), set()).add(val)
    pops = sorted({(k[0], k[3]) for k in reg})
    for (inst, gcol), vals in sorted(values.items()):
        for i2, pop in pops:
            if i2 != inst:
                continue
            members = tuple((inst, gcol, v, pop) for v in sorted(vals))
            if any(m in reg for m in members):
                cons.append(((inst, ALL, ALL, pop), members))
    return reg, hidden, cons


def _complement_for(
    total: PopKey,
    members: Sequence[PopKey],
    reg: dict,
    hidden: set,
    protected: frozenset = frozenset(),
) -> PopKey | None:
    """The published count of a constraint to hide next: its smallest positive visible
    member, else its total; a headline count (``protected``, :func:`.populations.headline_keys`) only
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


def protected_populations(ctx: Ctx) -> frozenset:
    """The headline counts (:func:`.populations.headline_keys`) and every related count of the same group
    equal to one of them (e.g. the episodes with an endpoint score when all of them are
    paired): hiding such a count while the headline shows its value would protect nothing,
    and the cross-table check would then hide the headline to protect it."""
    reg = {k: cells[0][0] for k, cells in ctx.cells.items()}
    heads = {k for k in ctx.protected if k in reg}
    out = set(ctx.protected)
    for a, (b,) in related_pairs(reg):
        if a in heads and b not in out and reg[b] == reg[a]:
            out.add(b)
    return frozenset(out)


def _linear_leak(
    cons: Sequence[tuple[PopKey, tuple[PopKey, ...]]],
    reg: dict,
    hidden: set,
    th: int,
    protected: frozenset = frozenset(),
) -> PopKey | None:
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


def _round5_pins(
    reg: dict,
    hidden: set,
    cons: Sequence[tuple[PopKey, tuple[PopKey, ...]]],
    th: int,
    protected: frozenset = frozenset(),
) -> frozenset:
    """The ``"round5"`` policy's cross-table step: counts to hide (``"*"``) so that no count
    is pinned to its exact value by the ranges the rounded counts stand for.

    A published count stands for a range of exact counts: ``"<5"`` for 1 to 4, a shown 5 for
    5 to 7 (3 and 4 would read ``"<5"``), 115 for 113 to 117, 0 for 0 and ``"*"`` for any.
    The sums between populations (:func:`_constraints`; an exact sum is an equation, one with
    a positive remainder says ``total >= sum(members)``) narrow these ranges, repeated until
    nothing changes (interval constraint propagation). Two counts shown as ``"<5"`` that add
    up to a total shown as 10 are both 4 (1 to 4 each, 8 to 12 together); a count narrowed
    to one value other than 0 is given away. Then one more count of a constraint holding it
    is hidden (:func:`_complement_for`, headline counts last) and the ranges are worked out
    again, until no count is pinned.

    Examples
    --------
    >>> a, b, t = (("x", "g", "a", "n"), ("x", "g", "b", "n"), ("x", "*", "*", "n"))
    >>> reg = {a: 4, b: 4, t: 8}
    >>> sorted(_round5_pins(reg, {a, b}, [(t, (a, b))], 5))  # 8 shows as 10: hide it
    [('x', '*', '*', 'n'), ('x', 'g', 'a', 'n'), ('x', 'g', 'b', 'n')]
    >>> sorted(_round5_pins({**reg, t: 9}, {a, b}, [(t, (a, b))], 5))  # 9 -> 10: 7 to 8
    [('x', 'g', 'a', 'n'), ('x', 'g', 'b', 'n')]
    """
    inf = float("inf")
    hidden = set(hidden)
    cons = [
        (t, ms, reg[t] - sum(reg[m] for m in ms) == 0)
        for t, ms in cons
        if t in reg and all(m in reg for m in ms) and reg[t] - sum(reg[m] for m in ms) >= 0
    ]
    holding: dict[PopKey, list[int]] = {}
    for i, (t, ms, _) in enumerate(cons):
        for k in (t, *ms):
            holding.setdefault(k, []).append(i)

    def ranges() -> dict[PopKey, tuple[float, float]]:
        bnd = {}
        for k, v in reg.items():
            if k in hidden:
                bnd[k] = (1.0, th - 1.0) if 1 <= v < th else (0.0, inf)
            elif v == 0:
                bnd[k] = (0.0, 0.0)
            else:
                r = float(np.floor(v / 5 + 0.5) * 5)
                bnd[k] = (max(r - 2, float(th)), r + 2)
        todo = set(range(len(cons)))
        while todo:
            i = min(todo)
            todo.discard(i)
            t, ms, exact = cons[i]
            lo = [bnd[m][0] for m in ms]
            hi = [bnd[m][1] for m in ms]
            new = {t: (max(bnd[t][0], sum(lo)), min(bnd[t][1], sum(hi)) if exact else bnd[t][1])}
            for j, m in enumerate(ms):
                o_lo = sum(lo[:j]) + sum(lo[j + 1 :])
                o_hi = sum(hi[:j]) + sum(hi[j + 1 :])
                m_lo = max(bnd[m][0], bnd[t][0] - o_hi) if exact else bnd[m][0]
                new[m] = (m_lo, min(bnd[m][1], bnd[t][1] - o_lo))
            for k, b in new.items():
                if b != bnd[k] and b[0] <= b[1]:
                    bnd[k] = b
                    todo.update(holding.get(k, ()))
        return bnd

    for _ in range(len(reg) + 1):
        bnd = ranges()
        pinned = sorted(k for k, (lo, hi) in bnd.items() if lo == hi and reg[k] != 0)
        if not pinned:
            break
        pick = None
        for k in pinned:
            for i in holding.get(k, ()):
                t, ms, _ = cons[i]
                c = _complement_for(t, ms, reg, hidden, protected)
                if c is not None and (
                    pick is None
                    or (c in protected, reg[c], c) < (pick in protected, reg[pick], pick)
                ):
                    pick = c
            if pick is None and k not in hidden:
                pick = k  # in no sum that could be broken: hide the count itself
            if pick is not None:
                break
        if pick is None:
            break
        hidden.add(pick)
    return frozenset(hidden)
