"""Build the shareable outcome report from a data file (or loaded data) and a study config.

:func:`report` loads the data (through :func:`iop_outcomes.load`, so every row has a ledger
disposition), builds the episode table per instrument (:func:`iop_outcomes.episodes`), runs the
library's analyses, passes every table through small-cell suppression and identifier scrubbing,
draws the figures **from the suppressed tables** (so a figure can never show what a table
hides), writes the methods section from the result objects' own ``method``/``params``/``notes``
and the instrument registry's citations, and adds a provenance block.

This module is the orchestration: the build passes (:func:`report`), the order of the sections
(:func:`_build_sections`) and the last identifier check. The parts live beside it:
:mod:`.context` (one build pass's state: tables, figures, the analysis cache),
:mod:`.populations` and :mod:`.disclosure` (cross-table disclosure control), :mod:`.sections`
(one module per report section), :mod:`.narrative` (summary, methods, provenance),
:mod:`.figures`, :mod:`.format` (text formatting), :mod:`.inputs` (loading and episodes) and
:mod:`.document` (the :class:`Report` object)."""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .._episodes import episodes, episodes_with_discharge
from .._validation import Interval, Options, validate_params
from ..exceptions import ConfigError, DataError, IOPError
from .config import StudyConfig, load_config
from .context import Ctx
from .disclosure import hidden_populations, protected_populations
from .document import Report
from .inputs import (
    assessment_dates,
    check_groupings,
    date_spans,
    episode_rules,
    ids_of,
    instruments_present,
    load_input,
    on_dask,
    rows_read,
)
from .narrative.methods import section_methods
from .narrative.provenance import section_provenance
from .narrative.summary import period_text, section_summary
from .on_dask import MODEL_SAMPLE, dask_input, is_dask_input
from .period import PERIOD_BY, PeriodSelection, parse_period, select_period
from .previous import headline, read_previous
from .render import Section
from .render import timestamp as _timestamp
from .safety import find_identifiers
from .sections.change import section_change
from .sections.clinsig import section_clinsig, section_quality_measures
from .sections.compare import section_compare
from .sections.effects import section_effects
from .sections.flow import section_flow
from .sections.over_time import section_over_time
from .sections.period import section_period
from .sections.quality import section_quality
from .sections.retention import section_retention
from .sections.sensitivity import section_sensitivity
from .sections.trajectories import section_trajectories

__all__ = ["Report", "report"]


def _build_sections(
    ctx: Ctx,
    *,
    loaded: Any,
    eps: dict[str, pd.DataFrame],
    sens: tuple | None,
    rules: Any,
    generated: tuple[str, str],
    input_name: str,
    selection: PeriodSelection | None = None,
    previous: dict | None = None,
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
    s_time = Section("over-time", "Outcomes over time")
    s_meth = Section("methods", "Methods")
    s_prov = Section("provenance", "Provenance")

    ctx.facts["period"] = period_text(date_spans(loaded), selection.period if selection else None)
    ctx.facts["model_sample"] = loaded.sample_text(ctx) if on_dask(loaded) else None
    ctx.facts["previous"] = previous
    section_quality(ctx, s_quality, loaded)
    if selection is not None:
        section_period(ctx, s_quality, s_flow, selection)
    ctx.step("quality")
    ret = section_flow(ctx, s_flow, eps[primary], primary)
    ctx.step("flow")
    section_change(ctx, s_change, eps)
    section_trajectories(ctx, s_change, loaded, primary)
    section_quality_measures(ctx, s_change, loaded)
    ctx.step("change")
    section_clinsig(ctx, s_clin, eps)
    ctx.step("clinsig")
    section_effects(ctx, s_eff, eps)
    ctx.step("effects")
    section_compare(ctx, s_cmp, eps)
    ctx.step("compare")
    section_retention(ctx, s_ret, eps[primary], primary, ret)
    ctx.step("retention")
    section_sensitivity(ctx, s_ret, eps[primary], primary, sens)
    ctx.step("sensitivity")
    if cfg.over_time_enabled:
        section_over_time(ctx, s_time, eps[primary], primary)
    ctx.step("over time")
    section_summary(ctx, s_summary, eps, rows_read(loaded))
    section_methods(ctx, s_meth, eps, rules)
    prov = section_provenance(ctx, s_prov, loaded, generated, input_name)
    sections = [
        s_summary,
        s_quality,
        s_flow,
        s_change,
        s_clin,
        s_eff,
        s_cmp,
        s_ret,
        *([s_time] if cfg.over_time_enabled else []),
        s_meth,
        s_prov,
    ]
    return sections, prov


@validate_params(
    {
        "data": ["no_validation"],  # a path, URL, DataFrame, LoadResult or SynthData: load_input
        "config": [str, os.PathLike, dict, StudyConfig, None],
        "out": [str, os.PathLike, None],
        "name": [str, None],
        "progress": ["boolean"],
        "strict": ["boolean"],
        "timestamp": [str],  # "data", "now" or a text: render.timestamp
        "period": [str, None],  # the period's syntax: parse_period
        "period_by": [Options(*PERIOD_BY), None],
        "compare_to": [str, os.PathLike, None],
        "pdf": ["boolean", Options("a4", "letter")],
        "engine": [Options("pandas", "dask"), None],
        "scheduler": [str, None],
        "model_sample": [Interval(int, 1, None, closed="left")],
    }
)
def report(
    data: Any,
    *,
    config: str | Path | dict | StudyConfig | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    progress: bool = False,
    strict: bool = False,
    timestamp: str = "data",
    period: str | None = None,
    period_by: str | None = None,
    compare_to: str | Path | None = None,
    pdf: bool | str = False,
    engine: str | None = None,
    scheduler: str | None = None,
    model_sample: int = MODEL_SAMPLE,
) -> Report:
    """Build the shareable outcome report.

    Parameters
    ----------
    data : path, DataFrame, LoadResult or SynthData
        Assessment rows in the data contract (``docs/data-format.md``). Paths and frames are
        loaded with :func:`iop_outcomes.load` (lenient mode; the ledger is reported) with the
        configuration's ``[data]`` options (mapping, sheet, skip_rows, wide, episodes).
    config : path to a TOML file, dict or StudyConfig, optional
        Study configuration (docs/report.md, "Study configuration"; :class:`StudyConfig`);
        defaults otherwise.
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
        set); any other text is shown as given (docs/report.md, "Deterministic output").
    period : str, optional
        The reporting period (``"2025-Q1..2025-Q4"``, ``"2025-01"``, ``"2025"``,
        ``"2025-01-01..2025-03-31"``), over the configuration's ``[report] period``. Only the
        episodes in the period are analysed; the others are counted in the Data quality
        section (docs/report.md, "Reporting period"). Default: all the data.
    period_by : {"discharge", "admission"}, optional
        The episode date that places an episode in the period, over ``[report] period_by``
        (default ``"discharge"``: episodes discharged in the period).
    compare_to : path, optional
        The output folder of an earlier report (its ``headline.json``): the first page then
        gives, for each headline rate, the previous value and the change in percentage points
        with its CI (docs/report.md, "Comparing with the previous period").
    pdf : bool or {"a4", "letter"}, default False
        With ``out``, also write ``report.pdf``, printed offline by headless Chromium
        (:meth:`Report.write_pdf`; ``True`` is A4).
    engine : {"pandas", "dask"}, optional
        ``"dask"`` loads and analyses the data on a Dask cluster (docs/scale.md): the load
        and every count over the rows run in the cluster, the episode-level sections run on
        the computed episode table (one row per episode), and the two models of every
        assessment (weekly trajectories, missing-data sensitivity) on a stratified random
        sample of ``model_sample`` episodes, which those sections state. Default: ``"dask"``
        for a Dask DataFrame or the result of a Dask load, else ``"pandas"`` (in memory).
    scheduler : str, optional
        With ``engine="dask"``: the address of an existing Dask scheduler
        (``"tcp://host:8786"``). Default: the current ``distributed`` client, else a
        LocalCluster of this machine started for the report and closed after.
    model_sample : int, default 100000
        With ``engine="dask"``: at most this many episodes of the primary instrument for the
        models of every assessment, allocated to the comparison groups in proportion. With
        no more episodes than this, every episode is used and the report equals the
        in-memory one.

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
    if pdf and out is None:
        raise ConfigError("pdf= writes report.pdf into out=: give out= too (a folder).")
    cfg = _settings(config, period, period_by)
    previous = read_previous(compare_to) if compare_to is not None else None
    _timestamp(timestamp)  # an unusable choice fails now, not after the build
    bar, step = _progress_bar(progress)
    try:
        input_name = name or (
            Path(data).name if isinstance(data, (str, Path)) else "<in-memory data>"
        )
        rules = episode_rules(cfg)
        selection = None
        if engine == "dask" or (engine is None and is_dask_input(data)):
            if cfg.period is not None:
                raise ConfigError(
                    "A reporting period is not available with engine='dask' yet: select the "
                    "period's rows before the load (for example one Parquet dataset per "
                    "period), or build the report in memory."
                )
            loaded = dask_input(data, cfg, rules, scheduler=scheduler, model_sample=model_sample)
        elif scheduler is not None:
            raise ConfigError("scheduler= is the address of a Dask scheduler: add engine='dask'.")
        else:
            loaded = load_input(data, cfg, progress)
            if cfg.period is not None:
                loaded, selection = select_period(
                    loaded, parse_period(cfg.period, by=cfg.period_by)
                )
        step("load")
        eps, sens = _episodes_by_instrument(loaded, cfg, rules)
        if cfg.primary_instrument not in eps:
            cfg = StudyConfig(**{**cfg.__dict__, "primary_instrument": next(iter(eps))})
        step("episodes")
        check_groupings(cfg, eps)
        ids = _identifiers(loaded)
        build = functools.partial(
            _build_sections,
            loaded=loaded,
            eps=eps,
            sens=sens,
            rules=rules,
            input_name=input_name,
            selection=selection,
            previous=previous,
        )
        generated = _timestamp(timestamp, assessment_dates(loaded))
        ctx, (sections, prov) = _settle_suppression(
            cfg, strict, ids, functools.partial(build, generated=generated), step
        )
        step("suppression")
        ctx.draw_deferred()
        step("figures")
        rep = _assemble(ctx, sections, prov, generated)
        _final_identifier_check(rep, ids)
        if out is not None:
            rep.write(out, pdf=bool(pdf), paper=pdf if isinstance(pdf, str) else "a4")
        step("write")
    finally:
        if bar is not None:
            bar.close()
    return rep


def _settings(config: Any, period: str | None, period_by: str | None) -> StudyConfig:
    """The study configuration, with ``period``/``period_by`` over its ``[report]`` table."""
    cfg = load_config(config)
    if period is not None or period_by is not None:  # over the study file's [report]
        text = period if period is not None else cfg.period
        by = period_by if period_by is not None else cfg.period_by
        p = parse_period(text if text is not None else "2025", by=by)  # checked here
        over = {"period": p.text if text is not None else None, "period_by": p.by}
        cfg = StudyConfig(**{**cfg.__dict__, **over})
    return cfg


#: the build's steps, as the progress bar counts them
_STEPS = (
    "load",
    "episodes",
    "quality",
    "flow",
    "change",
    "clinsig",
    "effects",
    "compare",
    "retention",
    "sensitivity",
    "over time",
    "suppression",
    "figures",
    "write",
)


def _progress_bar(progress: bool) -> tuple[Any, Callable[[str], None]]:
    """A progress bar on standard error (``None`` without ``progress``) and its step call."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(_STEPS), file=sys.stderr, desc="report", unit="step", leave=False)

    def step(label: str) -> None:
        if bar is not None:
            bar.set_postfix_str(label)
            bar.update(1)

    return bar, step


def _episodes_by_instrument(
    loaded: Any, cfg: StudyConfig, rules: Any
) -> tuple[dict[str, pd.DataFrame], tuple | None]:
    """The episodes of each configured instrument that has accepted rows (one at least), and
    the missing-data sensitivity section's inputs (or None when it is off).

    Built once for all of them (one pass over the rows, the episode attributes gathered
    once) and split by instrument: each table is the one ``episodes(data, instrument=inst)``
    gives (the rows of one instrument are picked by (episode, instrument), never pooled).
    The same pass gives the sensitivity section the primary instrument's episodes with the
    discharge endpoint and their roles (:func:`.._episodes.episodes_with_discharge`). Every
    section uses these tables.
    """
    eps: dict[str, pd.DataFrame] = {}
    sens = None
    present = instruments_present(loaded)
    wanted = [inst for inst in cfg.instruments if inst in present]
    if wanted and on_dask(loaded):  # built in the cluster before the build (on_dask.py)
        both, sens = loaded.both, loaded.sens
    elif wanted:
        primary = cfg.primary_instrument if cfg.primary_instrument in wanted else wanted[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if cfg.sensitivity_enabled:
                both, *sens = episodes_with_discharge(
                    loaded.data, instrument=wanted, rules=rules, discharge=primary
                )
                sens = tuple(sens)
            else:
                both = episodes(loaded.data, instrument=wanted, rules=rules)
    if wanted:
        which = both["instrument"].to_numpy()
        for inst in wanted:
            ep = both.loc[which == inst].reset_index(drop=True)
            if len(ep):
                eps[inst] = ep
    if not eps:
        raise DataError(
            f"None of the configured instruments {list(cfg.instruments)} has accepted rows in "
            f"the data (instruments found: {sorted(map(str, present))}). Check the "
            "'instruments' key of the study configuration or the data's instrument column."
        )
    return eps, sens


def _settle_suppression(
    cfg: StudyConfig, strict: bool, ids: frozenset, build: Callable, step: Callable
) -> tuple[Ctx, Any]:
    """The build passes: the first runs the analyses and builds every section; the
    populations hidden across tables are then settled on replays of what it published
    (:meth:`.context.Ctx.replay`: each table suppressed again with the populations hidden so
    far, until no table or cross-table sum hides anything new), and a last full pass builds
    the sections with them (the analyses replayed from the cache). Returns that pass (its
    tables are final; its figures are kept to be drawn, :meth:`.context.Ctx.draw_deferred`)
    and what it built. Should the full pass hide more than the replays did, settling goes
    on from it.

    The first pass also settles which populations the headline protects (its counts are
    known then); when that adds to the headline's own counts, the tables are suppressed
    again with them before any hidden population is counted."""
    cache: dict = {}
    suppressed: dict = {}

    def new_pass(forced: frozenset, protected: frozenset | None) -> Ctx:
        return Ctx(
            cfg,
            strict,
            cache,
            forced,
            draw=False,
            protected=protected,
            identifiers=ids,
            suppressed=suppressed,
        )

    ctx = new_pass(frozenset(), None)
    ctx.step = step  # the first pass runs the analyses
    built = build(ctx)
    forced: frozenset = frozenset()
    protected = protected_populations(ctx)
    state = ctx
    for _ in range(200):
        if state.protected != protected or state.forced != forced:
            state = new_pass(forced, protected)
            state.replay(ctx.published)
        more = forced | hidden_populations(state)
        if more != forced:
            forced = more
            continue
        if state is ctx:  # built with what it hides: final
            return ctx, built
        ctx = state = new_pass(forced, protected)
        built = build(ctx)
    raise IOPError(  # pragma: no cover - the hidden set only grows: this cannot happen
        "Small-cell suppression across tables did not settle."
    )


def _assemble(ctx: Ctx, sections: list[Section], prov: dict, generated: tuple[str, str]) -> Report:
    """The :class:`Report` of the written pass, with a banner when suppression is off."""
    cfg = ctx.cfg
    banner = (
        ""
        if cfg.suppression_threshold
        else (
            "Small-cell suppression is OFF in this report: it may identify individuals. "
            "Do not share it outside the organisation."
        )
    )
    return Report(
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
        headline=headline(ctx),
    )


def _identifiers(loaded: Any) -> frozenset:
    """The input's patient and episode ids that could be recognised in text. An identifier
    made of a few digits (REDCap's record ids 1, 2, 3 ...) cannot be told from a count;
    identifier columns never reach a table (scrub_identifiers), and longer or zero-padded
    numbers (MRNs such as 0012345) are still looked for."""
    ids = loaded.ids if on_dask(loaded) else ids_of(loaded.data)
    return frozenset(i for i in ids if not (i.isdigit() and len(i) < 7 and not i.startswith("0")))


def _final_identifier_check(rep: Report, ids: frozenset) -> None:
    """Refuse to produce a report in which an input identifier (:func:`_identifiers`) appears
    (defence in depth)."""
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
