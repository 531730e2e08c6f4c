"""Population keys of published counts and how populations relate.

A published count is registered under a key ``(instrument, grouping column, group value,
population)``; :func:`_parents` and :data:`_OVERLAPS` say which populations hold or overlap
which, :func:`related_pairs` turns that into pairs of counts whose difference is a count of
people, and :func:`headline_keys` names the counts the summary quotes."""

from __future__ import annotations

from typing import Any

from .config import StudyConfig

#: A published count's population: (instrument, grouping column, group value, population).
#: The whole cohort (an "Overall" row or an "All" column) is grouping column and value "*".
PopKey = tuple[str, str, str, str]


ALL = "*"


_OVERALL_LABELS = ("Overall", "All", "(all)", ALL)


def pop_key(inst: str, gcol: str | None, value: Any, pop: str) -> PopKey:
    if gcol is None or str(value) in _OVERALL_LABELS:
        return (str(inst), ALL, ALL, pop)
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


def flow_pop(stage: str, status: str) -> str:
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
    if p[0] == "ot" and p[-1] == "n":  # over time: a period's episodes with the rate known
        return (f"rate_n|{p[1]}",)
    if p[0] == "ot":  # ... and the events among them
        return (f"ot|{p[1]}|{p[2]}|n", f"rate_k|{p[1]}")
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


def related_pairs(reg: dict[PopKey, float]) -> list[tuple[PopKey, tuple[PopKey, ...]]]:
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
    by_group: dict[tuple[str, str], dict[str, list[PopKey]]] = {}
    for k in sorted(reg):
        by_group.setdefault((k[1], k[2]), {}).setdefault(k[3], []).append(k)
    pairs: set[tuple[PopKey, PopKey]] = set()
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


def headline_keys(cfg: StudyConfig) -> frozenset:
    """The headline counts that complementary suppression leaves shown while any other
    count of the constraint can be hidden instead (issue 11: a program's overall paired n
    and rates are never hidden because 1–10 episodes lack an endpoint)."""
    return frozenset(pop_key(cfg.primary_instrument, None, None, p) for p in _HEADLINE_POPS)
