"""The methods section, written from the result objects' own ``method``, ``params`` and
``notes`` and the instrument registry's citations."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from ..context import Ctx
from ..format import is_count_key, month_text, safe_count
from ..populations import pop_key
from ..render import Section


def section_methods(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame], rules: Any) -> None:
    from ... import instruments as _inst

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
        f"{inst}: {ctx.text_count(pop_key(inst, None, None, 'admitted'), len(ep))} episodes in "
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
            f"{k} = {_param_count(ctx, v) if is_count_key(k) and k not in _NOT_PEOPLE else month_text(v)}"
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
        _ROUND5_TEXT.format(lo=th - 1, th=th)
        if th and ctx.policy == "round5"
        else (
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
        else 'Small-cell suppression was turned OFF (disclosure-control policy "none": '
        '[suppression] policy = "none" or enabled = false in the study file). Every count is '
        "shown as it is, however small. This report may allow individuals to be identified "
        "and must not be shared outside the organisation."
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
            *([_ROUND5_SOURCE] if th and ctx.policy == "round5" else []),
            "Further sources are cited in each instrument entry and method text above.",
        ]
    )


#: The methods text of the "round5" policy (iop_outcomes._report.suppress, docs/report.md).
_ROUND5_TEXT = (
    'Disclosure control (policy "round5", in the style of NHS England\'s published mental '
    "health statistics): every count of people in this report, totals included, is rounded "
    "to the nearest 5 (for example 7 is shown as 5 and 13 as 15), and counts from 1 to {lo} "
    "are shown as '<{th}'. A zero is shown as 0. Because each number is rounded on its own, "
    "a total can differ by a few from the sum of its parts, and the same group counted in two "
    "tables shows the same rounded number. Percentages and their confidence intervals are "
    "worked out from the rounded counts shown beside them (so 15 of 115 reads 13.0%), never "
    "from the exact ones, so that no percentage can give an exact count back. Where the "
    "rounded numbers, added up across tables, would still leave only one possible value for "
    "a count (each rounded number stands for a few possible ones), one more number is "
    "hidden ('*'). Averages, "
    "standard deviations, changes, effect sizes and their intervals are computed from the "
    "exact data and shown to one decimal place (p-values to two, or three below 0.01), and "
    "are hidden ('*') when "
    "the group is shown as '<{th}'. Figures are drawn from these tables. No identifiers, "
    "dates of birth or individual dates appear in this report or its tables."
)
_ROUND5_SOURCE = (
    "NHS England (formerly NHS Digital). NHS Talking Therapies for anxiety and depression, "
    "Monthly Statistics; Mental Health Services Monthly Statistics (Mental Health Services "
    "Data Set): rounding and suppression of small numbers (counts rounded to the nearest 5, "
    "small counts suppressed)."
)


#: count-like parameters that do not count people
_NOT_PEOPLE = frozenset({"n_imputations", "n_boot", "n_bootstrap", "n_iter", "n_draws"})


def _param_count(ctx: Ctx, v: Any) -> str:
    """A count among a result's parameters, for the methods text: shown only when small-cell
    suppression is off or a table shows the same number (so the text adds nothing a table
    does not already publish); otherwise suppressed."""
    if ctx.threshold is None or not isinstance(v, (int, float, np.integer, np.floating)):
        return safe_count(v, ctx.threshold)
    if isinstance(v, bool) or 0 <= float(v) < ctx.threshold:
        return safe_count(v, ctx.threshold)
    if ctx.policy == "round5":  # every count is rounded on its own
        return safe_count(v, ctx.threshold, rounded=True)
    shown = {
        cells[0][0]
        for k, cells in ctx.cells.items()
        if k not in ctx.forced and not any(h for _, h in cells)
    }
    return safe_count(v, ctx.threshold) if float(v) in shown else "(suppressed)"
