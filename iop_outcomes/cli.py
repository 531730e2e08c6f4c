"""The ``iop-outcomes`` command line: parse arguments, call the public API, write files.

Exit codes
----------
0  success
1  ``validate --strict`` found problems in the data
2  command-line usage error (unknown option, missing argument)
3  the input or configuration could not be used (a clear message says why)
4  unexpected internal error (please report it; ``--debug`` shows the traceback)
130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INTERNAL = 4

EPILOG = """\
examples:
  iop-outcomes demo                         build the full report from the bundled demo data
                                            into reports/demo/ (open reports/demo/report.html)
  iop-outcomes validate visits.csv          check a file; print the row ledger summary
  iop-outcomes validate visits.csv --strict --ledger-out ledger.csv
                                            exit 1 if any row has a problem; save the ledger
  iop-outcomes validate visits.xlsx --sheet "PHQ scores" --skip-rows 2
                                            read one sheet, below two title rows
  iop-outcomes validate scores.csv --episodes episodes.csv
                                            join the episode table on episode_id
  iop-outcomes validate export.csv --source redcap --dictionary dictionary.csv
  iop-outcomes validate bulk_export/ --source fhir
                                            read a REDCap export (one row per administration)
  iop-outcomes summary scores.csv --harmonize PHQ-8
                                            PHQ-9 scored as PHQ-8, to pair with PHQ-8 scores
  iop-outcomes validate postgresql://analyst@db/clinic --table scores
                                            read a database table (also duckdb://, sqlite://)
  iop-outcomes summary visits.csv           key tables in the terminal
  iop-outcomes summary visits.csv --json    the same as JSON, for pipelines
  iop-outcomes report visits.csv --config study.toml --out reports/2025q1/
  iop-outcomes synth --n-episodes 500 --seed 1 --out synthetic.csv [--messy]
  iop-outcomes monitor visits.csv --as-of 2025-03-01 --instrument PHQ-9 --out internal/
                                            INTERNAL caseload of patients off track (identifiable)

exit codes: 0 success; 1 validate --strict found problems; 2 usage error;
3 input or configuration could not be used; 4 internal error (use --debug).
Documentation: docs/cli.md, docs/report.md, docs/data-format.md.
"""


def _non_negative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return n


def _reading_options(parser: argparse.ArgumentParser, config: bool) -> None:
    """The options of how DATA is read (``iop.load``'s keywords), on validate, summary, report."""
    over = " (overrides [data] in --config)" if config else ""
    g = parser.add_argument_group("reading the data file" + over)
    g.add_argument(
        "--mapping", help="column mapping TOML ([columns], [values], [instruments], [options])"
    )
    g.add_argument(
        "--sheet",
        metavar="NAME|INDEX",
        help="Excel sheet, by name or 0-based position (default: the first)",
    )
    g.add_argument(
        "--skip-rows",
        type=_non_negative,
        metavar="N",
        help="title rows above the header to skip (CSV, Excel; default 0)",
    )
    g.add_argument(
        "--wide",
        action="store_true",
        default=None,
        help="one row per episode with score columns such as phq9_intake (reshaped to long)",
    )
    g.add_argument(
        "--episodes",
        metavar="FILE",
        help="episode table (admit/discharge dates, status, ...) joined on episode_id "
        "(or patient_id)",
    )
    g.add_argument(
        "--source",
        dest="data_source",
        choices=["redcap", "fhir", "sql"],
        help="redcap: the file is a REDCap export (raw or label values; record_id, "
        "redcap_event_name); fhir: a FHIR R4 export (Bulk Data NDJSON file or directory, or a "
        "Bundle .json); sql: DATA is a database URL (implied by a postgresql://, "
        "duckdb://, sqlite:// ... URL), read with --table or --query",
    )
    g.add_argument(
        "--table",
        metavar="NAME",
        help="with a database URL as DATA: the table or view to read (schema.table), in "
        "primary-key order",
    )
    g.add_argument(
        "--query",
        metavar="SQL",
        help="with a database URL as DATA: the SELECT to run (give it an ORDER BY)",
    )
    g.add_argument(
        "--dictionary",
        metavar="FILE",
        help="the REDCap project's data dictionary (CSV), with --source redcap",
    )
    g.add_argument(
        "--harmonize",
        metavar="PHQ-8",
        help="score PHQ-9 administrations as PHQ-8 from items 1-8, so PHQ-9 and PHQ-8 scores "
        "pair (Kroenke et al. 2009)",
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: exit 2 with a one-line hint
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from . import __version__

    p = _Parser(
        prog="iop-outcomes",
        description="Outcome analytics for intensive outpatient (IOP/PHP) programs: validate "
        "assessment data, summarise symptom change, and build a report that is safe to share.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"iop-outcomes {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    _add_demo(sub, common)
    _add_validate(sub, common)
    _add_summary(sub, common)
    _add_report(sub, common)
    _add_synth(sub, common)
    _add_monitor(sub, common)
    return p


def _add_demo(sub, common) -> None:
    """The ``demo`` command: the full report from the bundled demo data."""
    d = sub.add_parser(
        "demo",
        parents=[common],
        help="build the full report from the bundled demo data",
        description="Generate the synthetic demo data (1,200 episodes, 3 sites, in-person/"
        "virtual/hybrid, PHQ-9 and GAD-7) in memory and build the full report.",
        epilog="example:\n  iop-outcomes demo --out reports/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--out", default="reports/demo", help="output directory (default: %(default)s)")
    d.add_argument("--config", help="study configuration TOML (default: built-in defaults)")
    d.add_argument(
        "--timestamp",
        default="data",
        metavar="WHEN",
        help="date stamp: 'data' (quarter of the latest assessment; reruns are byte-identical), "
        "'now' (UTC clock, or SOURCE_DATE_EPOCH when set) or a text to show (default: %(default)s)",
    )


def _add_validate(sub, common) -> None:
    """The ``validate`` command: a data file's row ledger."""
    v = sub.add_parser(
        "validate",
        parents=[common],
        help="check a data file and print the row ledger summary",
        description="Load DATA, check every row, and print how many rows were accepted, "
        "repaired and quarantined, and why.",
        epilog="example:\n  iop-outcomes validate visits.csv --strict --ledger-out ledger.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "data", help="assessment file (CSV, XLSX, Parquet, SAV, DTA) or database URL (--table)"
    )
    v.add_argument("--strict", action="store_true", help="exit with status 1 on any problem")
    v.add_argument("--ledger-out", help="write the full row ledger to this CSV file")
    _reading_options(v, config=False)


def _add_summary(sub, common) -> None:
    """The ``summary`` command: key tables (or JSON) for a data file."""
    s = sub.add_parser(
        "summary",
        parents=[common],
        help="print key tables (or JSON) for a data file",
        description="Load DATA and print the data-quality summary and the symptom-change "
        "table per instrument. Counts are small-cell suppressed as in reports.",
        epilog="example:\n  iop-outcomes summary visits.csv --by site --json > summary.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("data", help="assessment file or database URL (with --table or --query)")
    s.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    s.add_argument("--by", default="format", help="grouping column (default: %(default)s)")
    s.add_argument("--config", help="study configuration TOML (instruments, threshold, [data])")
    _reading_options(s, config=True)


def _add_report(sub, common) -> None:
    """The ``report`` command: the shareable report."""
    r = sub.add_parser(
        "report",
        parents=[common],
        help="build the shareable report for a data file",
        description="Build a self-contained HTML report with its tables as CSV and XLSX.",
        epilog="example:\n  iop-outcomes report visits.csv --config study.toml --out reports/q1/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("data", help="assessment file or database URL (with --table or --query)")
    r.add_argument("--config", help="study configuration TOML (see docs/report.md)")
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument(
        "--timestamp",
        default="data",
        metavar="WHEN",
        help="date stamp: 'data' (quarter of the latest assessment; reruns are byte-identical), "
        "'now' (UTC clock, or SOURCE_DATE_EPOCH when set) or a text to show (default: %(default)s)",
    )
    r.add_argument(
        "--period",
        metavar="PERIOD",
        help="reporting period: 2025 (a year), 2025-Q1, 2025-01, 2025-01-01 or a range "
        "2025-Q1..2025-Q4; only its episodes are analysed, the others are counted in Data "
        "quality (default: all the data; the study file's [report] period)",
    )
    r.add_argument(
        "--period-by",
        choices=("discharge", "admission"),
        help="the episode date that places an episode in the period (default: discharge, "
        "or the study file's [report] period_by)",
    )
    r.add_argument(
        "--compare-to",
        metavar="DIR",
        help="output folder of an earlier report run (its headline.json): the first page gives "
        "each headline rate's previous value and its change in percentage points with a 95%% CI",
    )
    r.add_argument(
        "--to-sql",
        metavar="URL",
        help="also write the report's tables (suppressed, as in tables/) and the internal, "
        "identifiable episode table internal_episode_outcomes_identifiable to this database "
        "(postgresql://, duckdb://, sqlite://, any SQLAlchemy URL), in one transaction",
    )
    r.add_argument(
        "--schema",
        metavar="NAME",
        help="with --to-sql: the schema to write into (created when missing)",
    )
    r.add_argument(
        "--no-episode-table",
        action="store_true",
        help="with --to-sql: write only the shareable tables, not the identifiable episode table",
    )
    r.add_argument(
        "--pdf",
        nargs="?",
        const="a4",
        choices=("a4", "letter"),
        metavar="PAPER",
        help="also write report.pdf, printed offline by headless Chromium (found on PATH as "
        "chromium, chromium-browser or google-chrome, or named by IOP_OUTCOMES_CHROMIUM); "
        "PAPER is a4 (the default) or letter",
    )
    r.add_argument(
        "--engine",
        choices=("pandas", "dask"),
        default="pandas",
        help="'dask': load and analyse on a Dask cluster (DATA may then be a directory or a "
        "glob of Parquet/CSV files); the models of every assessment are fitted on a sample "
        "of --model-sample episodes, stated in the report (docs/scale.md; default: "
        "%(default)s, in memory)",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: an existing Dask scheduler (tcp://host:8786); default: a "
        "local cluster of this machine for the run",
    )
    r.add_argument(
        "--model-sample",
        type=int,
        default=100_000,
        metavar="N",
        help="with --engine dask: at most N episodes for the trajectory and missing-data "
        "models, stratified by the comparison group (default: %(default)s)",
    )
    r.add_argument(
        "--suppression",
        metavar="POLICY",
        help="disclosure control: 'cms' (counts 1-10 hidden, with complementary suppression; "
        "the default), 'round5' (counts rounded to the nearest 5, 1-4 shown as <5) or 'none' "
        "(off, stated on the first page); overrides [suppression] policy in --config "
        "(see docs/report.md, Disclosure control)",
    )
    _reading_options(r, config=True)


def _add_synth(sub, common) -> None:
    """The ``synth`` command: a synthetic dataset with known truth."""
    y = sub.add_parser(
        "synth",
        parents=[common],
        help="write a synthetic dataset with known truth",
        description="Simulate assessments in the data contract's format and write them.",
        epilog="example:\n  iop-outcomes synth --n-episodes 2000 --seed 7 --out synth.csv --messy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    y.add_argument("--n-episodes", type=int, default=1500, help="episodes (default %(default)s)")
    y.add_argument("--seed", type=int, default=2026, help="random seed (default %(default)s)")
    y.add_argument("--out", required=True, help="output file (.csv, .parquet or .xlsx)")
    y.add_argument("--messy", action="store_true", help="inject realistic data-entry faults")


class _Renamed(argparse.Action):
    """A flag renamed in an earlier release: using it names the new one (no silent alias)."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.new}; pass {self.new} instead (docs/cli.md)")


def _add_monitor(sub, common) -> None:
    """The ``monitor`` command: the internal off-track caseload."""
    m = sub.add_parser(
        "monitor",
        parents=[common],
        help="INTERNAL caseload: patients in treatment who are off track (identifiable)",
        description="List every episode open on --as-of with its latest score, the expected "
        "score and band from the program's completed episodes, and the flags not on track, "
        "reliable deterioration, no reliable improvement by week N and a positive safety item. "
        "Writes INTERNAL-identifiable-caseload-<date>.csv and .html into --out: they identify "
        "patients, are for the treating team only, and the shareable report refuses to read them.",
        epilog="example:\n  iop-outcomes monitor visits.csv --as-of 2025-03-01 --instrument PHQ-9 "
        "--out internal/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("data", help="assessment file or database URL (with --table or --query)")
    m.add_argument("--as-of", required=True, metavar="DATE", help="review date (YYYY-MM-DD)")
    m.add_argument("--out", required=True, help="output directory (internal files only)")
    m.add_argument(
        "--instrument",
        help="instrument to monitor (required when the data hold several, e.g. PHQ-9)",
    )
    m.add_argument(
        "--curves",
        metavar="FILE",
        help="CSV of expected scores (baseline, week, expected, upper) to use instead of curves "
        "fitted on the data's completed episodes",
    )
    m.add_argument("--reference", action=_Renamed, new="--curves")
    m.add_argument(
        "--upper",
        type=float,
        default=0.75,
        help="percentile of the band, as a fraction (default %(default)s)",
    )
    m.add_argument(
        "--by-week",
        type=float,
        default=4,
        help="week by which reliable improvement is expected (default %(default)s)",
    )
    _reading_options(m, config=False)


# ------------------------------------------------------------------------------ commands
def _progress(args) -> bool:
    return not getattr(args, "quiet", False)


#: reading options given on the command line: StudyConfig fields ([data] in the study file)
READING = (
    "mapping",
    "sheet",
    "skip_rows",
    "wide",
    "episodes",
    "data_source",
    "dictionary",
    "harmonize",
)


def _config(args):
    """The study configuration (``--config``, else defaults), with the reading options given on
    the command line in place of its ``[data]`` keys."""
    from ._report.config import StudyConfig, load_config

    cfg = load_config(getattr(args, "config", None))
    given = {k: getattr(args, k) for k in READING if getattr(args, k, None) is not None}
    if given:
        cfg = StudyConfig(**{**cfg.__dict__, **given})
    if getattr(args, "suppression", None) is not None:  # report --suppression POLICY
        cfg = cfg.with_policy(args.suppression)
    return cfg


def _database(args) -> dict[str, str]:
    """``table=`` / ``query=`` when DATA is read from a database (``{}`` for a file)."""
    from .io.sql import wanted

    table, query = getattr(args, "table", None), getattr(args, "query", None)
    if not wanted(args.data, getattr(args, "data_source", None), table, query):
        return {}
    return {k: v for k, v in (("table", table), ("query", query)) if v is not None}


def _load(path: str, cfg, strict: bool = False, sql: dict | None = None):
    import iop_outcomes as iop

    if not sql and not Path(path).exists():
        raise FileNotFoundError(f"The data file {path!r} does not exist. Check the path.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return iop.load(path, strict=strict, **(sql or {}), **cfg.load_options())


def cmd_demo(args) -> int:
    import iop_outcomes as iop

    _say(args, "Generating the demo data (iop.synth.demo()) ...")
    sim = iop.synth.demo()
    rep = iop.report(
        sim,
        config=_config(args),
        out=args.out,
        name="iop.synth.demo()",
        progress=_progress(args),
        timestamp=args.timestamp,
    )
    _finish_report(args, rep, Path(args.out))
    return EXIT_OK


def cmd_report(args) -> int:
    import iop_outcomes as iop

    cfg = _config(args)
    if args.period is not None:  # checked now, the message naming the option
        from ._report.period import parse_period

        parse_period(args.period, source="option --period")
    sql = _database(args)
    if args.schema and not args.to_sql:
        from .exceptions import ConfigError

        raise ConfigError("--schema names the schema of --to-sql URL: give --to-sql too.")
    if args.pdf:  # before the build: a missing browser is said at once, not after it
        from ._report.pdf import find_chromium

        find_chromium()
    data, name = args.data, None
    dask = args.engine == "dask"
    if dask and (sql or (args.to_sql and not args.no_episode_table)):
        from .exceptions import ConfigError

        raise ConfigError(
            "--engine dask reads files (a directory or a glob of Parquet/CSV files), not a "
            "database table, and writes only the shareable tables to a database: add "
            "--no-episode-table to --to-sql, or leave out --engine dask."
        )
    if args.scheduler and not dask:
        from .exceptions import ConfigError

        raise ConfigError("--scheduler is the address of a Dask scheduler: add --engine dask.")
    if dask:
        name = Path(args.data.rstrip("/")).name
    elif sql or args.to_sql:  # loaded here: a database to read, or the episode table to write
        data = _load(args.data, cfg, sql=sql)
        name = data.source if sql else Path(args.data).name
    elif not Path(args.data).exists():
        raise FileNotFoundError(f"The data file {args.data!r} does not exist. Check the path.")
    rep = iop.report(
        data,
        config=cfg,
        out=args.out,
        name=name,
        progress=_progress(args),
        timestamp=args.timestamp,
        period=args.period,
        period_by=args.period_by,
        compare_to=args.compare_to,
        **({"engine": "dask", "scheduler": args.scheduler} if dask else {}),
        model_sample=args.model_sample,
    )
    _finish_report(args, rep, Path(args.out))
    if args.pdf:
        _say(args, "Printing the PDF with headless Chromium ...")
        rep.write_pdf(Path(args.out) / "report.pdf", paper=args.pdf)
        print(f"PDF written to {Path(args.out) / 'report.pdf'}")
    if args.to_sql:
        from .io.sql import redact_url

        written = iop.to_sql(
            rep,
            args.to_sql,
            loaded=None if args.no_episode_table else data,
            schema=args.schema,
        )
        print(f"Tables written to {redact_url(args.to_sql)}: {len(written)} ({written[0]} ...)")
        if not args.no_episode_table:
            print(
                f"note: {written[-1]} holds patient and episode identifiers (internal use): "
                "restrict who can read it.",
                file=sys.stderr,
            )
    return EXIT_OK


def _finish_report(args, rep, out: Path) -> None:
    from ._report.render import display_frame

    for w in rep.warnings:
        print(f"note: {w}", file=sys.stderr)
    shown = [t for t in rep.tables if t.key.endswith("ledger_dispositions")]
    shown += [t for t in rep.tables if "_change_" in t.key][:1]
    for t in shown:
        print(f"\n{t.title}")
        print(display_frame(t.frame, t.digits).to_string(index=False))
        for n in t.notes:
            print(f"  {n}")
    print()
    print(f"Report written to {out / 'report.html'}")
    print(f"Tables: {out / 'tables'}/ ({len(rep.tables)} CSV files) and {out / 'tables.xlsx'}")
    if rep.banner:
        print(f"WARNING: {rep.banner}", file=sys.stderr)


def cmd_validate(args) -> int:
    res = _load(args.data, _config(args), strict=False, sql=_database(args))
    print(res.summary())
    if args.ledger_out:
        from ._report.safety import neutralise_formulas

        res.ledger.pipe(neutralise_formulas).to_csv(args.ledger_out, index=False)
        print(f"Ledger written to {args.ledger_out} ({len(res.ledger):,} rows).")
    counts = res.ledger["disposition"].value_counts()
    n_bad = int(counts.get("quarantined", 0))
    if args.strict and n_bad:
        print(
            f"Strict mode: {n_bad:,} row(s) were quarantined; see the reasons above"
            + (
                f" and the ledger in {args.ledger_out}."
                if args.ledger_out
                else " (save them with --ledger-out ledger.csv)."
            ),
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_summary(args) -> int:
    import iop_outcomes as iop

    from ._report.suppress import suppress

    cfg = _config(args)
    sql = _database(args)
    res = _load(args.data, cfg, sql=sql)
    th = cfg.suppression_threshold
    counts = res.ledger["disposition"].value_counts()
    ledger = {k: int(counts.get(k, 0)) for k in ("accepted", "repaired", "quarantined")}
    ledger["rows_read"] = int(len(res.ledger))
    shown = res.source if sql else Path(args.data).name
    out: dict[str, Any] = {"input": shown, "ledger": ledger, "change": {}}
    present = set(res.data["instrument"].astype("object").unique()) if len(res.data) else set()
    tables = []
    for inst in cfg.instruments:
        if inst not in present:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = iop.episodes(res.data, instrument=inst)
            by = args.by if args.by in ep.columns else None
            cs = iop.change_summary(ep, by=by)
        tb = cs.table.copy()
        tb["n_unpaired"] = tb["n_episodes"] - tb["n_paired"]
        keep = [
            "instrument",
            *([by] if by else []),
            "n_episodes",
            "n_paired",
            "n_unpaired",
            "baseline_mean",
            "endpoint_mean",
            "mean_change",
            "change_ci_low",
            "change_ci_high",
        ]
        tb = tb[[c for c in keep if c in tb.columns]]
        st = suppress(
            tb,
            th,
            counts=["n_episodes", "n_paired", "n_unpaired"],
            total_col="n_episodes",
            total_row="Overall",
            complements={"n_paired": "n_episodes"},
            policy="round5" if cfg.suppression_policy == "round5" else "cms",
            small_n={
                c: "n_paired"
                for c in (
                    "baseline_mean",
                    "endpoint_mean",
                    "mean_change",
                    "change_ci_low",
                    "change_ci_high",
                )
                if c in tb.columns
            },
        )
        out["change"][inst] = json.loads(st.table.to_json(orient="records"))
        tables.append((inst, st))
    out["suppression_threshold"] = th
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True, default=str))
        return EXIT_OK
    print(
        f"{out['input']}: {ledger['rows_read']:,} rows read = {ledger['accepted']:,} accepted "
        f"+ {ledger['repaired']:,} repaired + {ledger['quarantined']:,} quarantined"
    )
    from ._report.render import display_frame

    for inst, st in tables:
        print(f"\n{inst} symptom change (change = endpoint - baseline; negative = improvement)")
        print(display_frame(st.table).to_string(index=False))
        for n in st.notes:
            print(f"  {n}")
    return EXIT_OK


def cmd_synth(args) -> int:
    import iop_outcomes as iop

    if args.n_episodes < 1:
        from .exceptions import ConfigError

        raise ConfigError(f"--n-episodes must be a positive integer. Got {args.n_episodes}.")
    sim = iop.synth.generate(n_episodes=args.n_episodes, seed=args.seed, messy=args.messy)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        sim.data.to_parquet(out, index=False)
    elif suffix == ".xlsx":
        sim.data.to_excel(out, index=False)
    else:
        sim.data.to_csv(out, index=False, date_format="%Y-%m-%d")
    print(
        f"Wrote {len(sim.data):,} assessment rows ({args.n_episodes:,} episodes, seed "
        f"{args.seed}{', messy' if args.messy else ''}) to {out}"
    )
    return EXIT_OK


def cmd_monitor(args) -> int:
    import pandas as pd

    import iop_outcomes as iop

    res = _load(args.data, _config(args), sql=_database(args))
    ref = None
    if args.curves:
        from ._internal import refuse_internal

        refuse_internal(args.curves, "monitor --curves")
        ref = pd.read_csv(args.curves)
    mon = iop.monitor(
        res,
        as_of=args.as_of,
        instrument=args.instrument,
        curves=ref,
        upper=args.upper,
        by_week=args.by_week,
    )
    paths = mon.write(args.out)
    t = mon.table
    print(
        f"{len(t):,} open episodes as of {mon.params['as_of']} ({mon.params['instrument']}); "
        f"{int((t['n_flags'] > 0).sum()):,} flagged: "
        + ", ".join(
            f"{f} {int(t[f].fillna(False).sum()):,}"
            for f in (
                "not_on_track",
                "reliable_deterioration",
                "no_reliable_improvement",
                "safety_item",
            )
        )
    )
    print(f"INTERNAL (identifies patients): {paths['html']} and {paths['csv']}")
    return EXIT_OK


COMMANDS = {
    "demo": cmd_demo,
    "validate": cmd_validate,
    "summary": cmd_summary,
    "report": cmd_report,
    "synth": cmd_synth,
    "monitor": cmd_monitor,
}


def _say(args, text: str) -> None:
    if _progress(args):
        print(text, file=sys.stderr)


def _paragraph(kind: str, err: BaseException) -> str:
    msg = str(err).strip() or type(err).__name__
    if isinstance(err, OSError) and getattr(err, "filename", None) and err.strerror:
        msg = f"{err.strerror}: {err.filename}"
    lines = msg.splitlines()
    first = textwrap.fill(f"iop-outcomes: {kind}: {lines[0]}", width=100, subsequent_indent="  ")
    return "\n".join([first, *lines[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iop-outcomes`` console script; returns the exit code."""
    from .exceptions import IOPError, LoadError

    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    debug = getattr(args, "debug", False)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("iop-outcomes: interrupted", file=sys.stderr)
        return 130
    except LoadError as e:
        if debug:
            traceback.print_exc()
        print(_paragraph("the data could not be loaded", e), file=sys.stderr)
        return EXIT_PROBLEMS if args.command == "validate" else EXIT_INPUT
    except (IOPError, OSError) as e:
        if debug:
            traceback.print_exc()
        print(_paragraph("error", e), file=sys.stderr)
        return EXIT_INPUT
    except Exception as e:
        if debug:
            traceback.print_exc()
        print(
            _paragraph(
                "internal error",
                RuntimeError(
                    f"{type(e).__name__}: {e}. This is a bug in iop_outcomes; please "
                    "report it with the output of --debug."
                ),
            ),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
