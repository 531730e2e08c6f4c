"""The summary: the at-a-glance table and the headline paragraphs, read from the suppressed
tables (so the text never quotes a number a table hides)."""

from __future__ import annotations

import html

import pandas as pd

from ..context import Ctx
from ..format import disclosure_sentence, fmt_n, n_of, percent_text
from ..render import Section


def period_text(spans: dict, period=None) -> str:
    """The reporting period: as given (a :class:`~iop_outcomes._report.period.Period`: its
    dates and which episodes it selects), else to the month (an exact first or last date can
    belong to one person) the admissions and the assessments of the data (``spans``: their
    first and last dates, :func:`~iop_outcomes._report.inputs.date_spans`)."""
    if period is not None:
        return period.describe()
    parts = []
    for col, what in (("admit_date", "admissions"), ("assessment_date", "questionnaires")):
        if col in spans:
            first, last = spans[col]
            parts.append(f"{what} {first:%B %Y} to {last:%B %Y}")
    return "; ".join(parts) or "not recorded in the data"


def _verdict(ctx: Ctx, r: pd.Series) -> str:
    """One contrast's non-inferiority conclusion in words: "Virtual vs In person: ..."."""
    return f"{str(ctx.label(r['contrast'])).replace(' − ', ' vs ')}: {r['conclusion']}"


def _at_a_glance(ctx: Ctx, period: str) -> str:
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
        what = (
            "discharged in the period"
            if cfg.period and cfg.period_by == "discharge"
            else ("admitted in the period" if cfg.period else "admitted")
        )
        text = f"{int(adm):,} {what}" if ctx.shown(adm) else f"number {what} not shown"
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
    prev, differ = _previous(ctx)
    if differ:
        rows.append(differ)

    def vs(measure: str) -> str:
        return f". {prev[measure]}" if measure in prev else ""

    rates = ctx.facts.get("rates", {}).get(inst)
    if rates is not None:
        from ... import instruments as _inst

        cut = _inst.get(inst).remission_below
        for measure, label, key in (
            ("response (≥50% reduction)", "Response (score at least halved)", "response"),
            ("remission", f"Remission (end score below {cut:g})", "remission"),
        ):
            r = rates[(rates["group"] == "Overall") & (rates["measure"] == measure)]
            if len(r):
                rows.append((label, pct(r.iloc[0], "rate") + vs(key)))
    cs = ctx.facts.get("clinsig", {}).get(inst)
    if cs is not None:
        r = cs[cs["outcome"] == "recovered"]
        if len(r):
            rows.append(
                (
                    "Recovered (reliable and clinically significant)",
                    pct(r.iloc[0]) + vs("recovered"),
                )
            )
    cmpr = ctx.facts.get("equivalence", {}).get(inst)
    if cmpr is not None and len(cmpr) and "conclusion" in cmpr:
        verdict = "; ".join(_verdict(ctx, r) for _, r in cmpr.iterrows())
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
            "margin); or that follow-up scores describe everyone (only those who answered)."
            + (
                " Nor that a change from the previous period is the program's doing (the "
                "periods treat different people) or real when its interval includes 0."
                if prev
                else ""
            ),
        )
    )
    body = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f'<table class="glance"><caption>At a glance</caption><tbody>{body}</tbody></table>'


def _previous(ctx: Ctx) -> tuple[dict[str, str], tuple[str, str] | None]:
    """The comparison with the previous report (``compare_to``): a sentence per headline
    measure, or one row saying why nothing is compared (different settings)."""
    from ..previous import comparisons, differing_settings, headline

    prev = ctx.facts.get("previous")
    if not prev:
        return {}, None
    cur = headline(ctx) or {}
    differ = differing_settings(cur, prev)
    label = f"previous period ({prev['period']})" if prev.get("period") else "previous report"
    if differ:
        return {}, (
            f"Compared with the {label}",
            f"not compared: the {label} was built with a different "
            + ", ".join(differ)
            + ", so its rates do not measure the same thing.",
        )
    return comparisons(cur, prev, ctx.cfg.ci_level), None


def section_summary(ctx: Ctx, sec: Section, eps: dict[str, pd.DataFrame], n_read: int) -> None:
    cfg, th = ctx.cfg, ctx.threshold
    items: list[str] = []
    inst = cfg.primary_instrument
    sec.html(_at_a_glance(ctx, ctx.facts.get("period", "")))
    if cfg.period:
        verb = "discharged" if cfg.period_by == "discharge" else "admitted"
        sec.p(
            f"This report covers the episodes {verb} in the reporting period {cfg.period}; the "
            "questionnaire rows counted below include the data's other episodes, which are "
            "counted in the Data quality section and not analysed."
        )
    ch = ctx.facts.get("change", {}).get(inst)
    if ch is not None and len(ch):
        row = ch[ch["group"] == "Overall"]
        row = row.iloc[0] if len(row) else ch.iloc[0]
        if ctx.shown(row["baseline_mean"]) and ctx.shown(row["mean_change"]):
            items.append(
                n_of(fmt_n(row["n_paired"], th), fmt_n(row["n_episodes"], th))
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
                parts.append(f"{percent_text(r.iloc[0]['estimate'])} {o}")
        if parts:
            items.append(
                "Judged by the Jacobson–Truax reliable change criteria: "
                + ", ".join(parts)
                + " (see the methods section for the reliability and cut-off used)."
            )
    cmpr = ctx.facts.get("equivalence", {}).get(inst)
    if cmpr is not None and len(cmpr) and "conclusion" in cmpr:
        conc = "; ".join(
            _verdict(ctx, r)
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
                f"{fmt_n(r['n'], th)} episodes ({percent_text(r['pct'])}) had at least one PHQ-9 "
                "answer above 0 on item 9 (thoughts of death or self-harm), each a positive "
                "screen that calls for the program's risk-assessment protocol."
            )
    fu = ctx.facts.get("followup")
    if fu is not None and len(fu):
        parts = []
        for _, r in fu[fu["group"] == "Overall"].iterrows():
            if ctx.shown(r["estimate"]) and ctx.shown(r["n_responded"]) and r["n_responded"]:
                parts.append(f"{percent_text(r['estimate'])} at the {ctx.label(r['window'])}")
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
        "was repaired or excluded. " + disclosure_sentence(ctx.policy, th)
    )
    sec.html(
        '<div class="summary">' + "".join(f"<p>{html.escape(t)}</p>" for t in items) + "</div>"
    )
