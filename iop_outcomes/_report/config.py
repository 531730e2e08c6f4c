"""Study configuration for reports: defaults, TOML reading and validation.

A study file (``study.toml``) names what the report analyses. Every key is optional::

    title = "Adult IOP outcomes, 2025"
    subtitle = "Quarterly report to the board"
    instruments = ["PHQ-9", "GAD-7"]      # analysed when present in the data
    primary_instrument = "PHQ-9"          # headline numbers and effect sizes
    groupings = ["format", "site"]        # tables broken down by these columns
    seed = 20240601                       # bootstrap and any other randomness
    ci_level = 0.95

    [comparison]                           # the format comparison
    group = "format"
    reference = "in_person"
    margin = { "PHQ-9" = 2.5, "GAD-7" = 2.0 }   # equivalence margins, in points

    [episodes]                             # passed to iop.EpisodeRules (windows, rules)
    baseline = "label:intake"              # or "window" (default: nearest admission)
    endpoint = "label:discharge else last_in_treatment"
    followup = "label"                     # or "window" (default)

    [suppression]                          # disclosure control (docs/report.md)
    policy = "cms"                         # "cms" (default), "round5" or "none"
    threshold = 11                         # cms: counts 1-10 shown as "<11" (round5: 5)

    [report]                               # which episodes the report covers
    period = "2025-Q1..2025-Q4"            # a year, quarter, month, day or a range A..B
    period_by = "discharge"                # or "admission" (docs/report.md, Reporting period)

    [labels]                               # codes as your program says them (tables, text)
    virtual = "Telehealth"
    in_person = "On site"

    [sensitivity]                          # missing-data sensitivity analysis
    enabled = true
    methods = ["completers", "locf", "bocf", "mi", "mixed"]
    n_imputations = 20

    [trajectories]                         # weekly mixed-model trajectories (primary instrument)
    enabled = true

    [over_time]                            # control chart by admission quarter (or month)
    enabled = true
    outcome = "response"                   # or "remission" (primary instrument)

    [data]                                 # how iop.load reads the data file
    mapping = "mapping.toml"               # column mapping (relative to this file)
    sheet = "PHQ scores"                   # Excel sheet, by name or 0-based position
    skip_rows = 2                          # title rows above the header (CSV, Excel)
    wide = false                           # one row per episode (phq9_intake, ...)
    episodes = "episodes.csv"              # episode table joined on episode_id (relative)
    source = "redcap"                      # a REDCap export, or "fhir" (see docs/data-format.md)
    dictionary = "dictionary.csv"          # its REDCap data dictionary (relative)
    harmonize = "PHQ-8"                    # PHQ-9 scored as PHQ-8 from items 1-8

The command line's ``--period`` and ``--period-by`` override ``[report]``; its ``--mapping``, ``--sheet``, ``--skip-rows``, ``--wide``, ``--episodes``,
``--source``, ``--dictionary`` and ``--harmonize`` override these keys. With ``harmonize``, the
short form stands in for the instrument it is scored from in ``instruments`` and
``primary_instrument`` (``"PHQ-8"`` for ``"PHQ-9"``).

``[suppression] policy`` names the disclosure-control policy (:data:`POLICIES`; the command
line's ``--suppression`` overrides it): ``"cms"`` hides counts 1-10 with complementary
suppression, ``"round5"`` rounds every count to the nearest 5 and shows counts 1-4 as ``"<5"``,
``"none"`` turns disclosure control off (explicitly: the report then says so on its first
page). The older ``enabled = false`` means ``policy = "none"``; ``threshold`` sets the smallest
count shown (default 11 under ``cms``, 5 under ``round5``).
"""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

__all__ = ["StudyConfig", "load_config", "POLICIES", "DEFAULT_POLICY"]

#: Disclosure-control policies (``[suppression] policy``), each explained in docs/report.md
#: and stated in the report's methods text; see :mod:`iop_outcomes._report.suppress`.
POLICIES = ("cms", "round5", "none")
#: The default policy: the CMS cell-size rule a US program's payers and accreditors expect,
#: with exact counts a board can add up (docs/report.md, "Disclosure control").
DEFAULT_POLICY = "cms"
#: ``[over_time] outcome``: the headline rates of the primary instrument that the report's
#: rates table also publishes (so the periods' counts add up to a published total)
OVER_TIME_OUTCOMES = ("response", "remission")
#: The smallest count shown under each policy when ``threshold`` is not set.
DEFAULT_THRESHOLDS = {"cms": 11, "round5": 5, "none": 11}


@dataclass(frozen=True)
class StudyConfig:
    """What a report analyses and how it is made safe to share (see module docstring).

    Examples
    --------
    >>> cfg = StudyConfig.from_dict({"title": "Pilot", "suppression": {"threshold": 5}})
    >>> cfg.title, cfg.suppression_threshold, cfg.primary_instrument
    ('Pilot', 5, 'PHQ-9')
    >>> StudyConfig.from_dict({"suppression": {"enabled": False}}).suppression_threshold is None
    True
    >>> cfg = StudyConfig.from_dict({"suppression": {"policy": "round5"}})
    >>> cfg.suppression_policy, cfg.suppression_threshold
    ('round5', 5)
    """

    title: str = "Program outcomes report"
    subtitle: str = ""
    instruments: tuple[str, ...] = ("PHQ-9", "GAD-7")
    primary_instrument: str = "PHQ-9"
    groupings: tuple[str, ...] = ("format", "site")
    seed: int = 20240601
    ci_level: float = 0.95
    comparison_group: str = "format"
    comparison_reference: str = "in_person"
    margins: dict[str, float] = field(default_factory=dict)
    episode_rules: dict[str, Any] = field(default_factory=dict)
    suppression_enabled: bool = True
    #: the smallest count shown; ``None``: the policy's default (:data:`DEFAULT_THRESHOLDS`)
    threshold: int | None = None
    #: ``[suppression] policy``: one of :data:`POLICIES` (``enabled = false`` means ``"none"``)
    suppression_policy: str = DEFAULT_POLICY
    trajectories_enabled: bool = True
    #: ``[over_time]``: the control-chart section (``enabled``) and its outcome
    over_time_enabled: bool = True
    over_time_outcome: str = "response"
    sensitivity_enabled: bool = True
    sensitivity_methods: tuple[str, ...] = ("completers", "locf", "bocf", "mi", "mixed")
    n_imputations: int = 20
    mapping: str | None = None
    sheet: str | int = 0
    skip_rows: int = 0
    wide: bool = False
    episodes: str | None = None
    #: ``[data] source`` (``"redcap"``) and ``dictionary``: iop.load's ``source=`` / ``dictionary=``
    data_source: str | None = None
    dictionary: str | None = None
    #: ``[data] harmonize`` (``"PHQ-8"``): iop.load's ``harmonize=``
    harmonize: str | None = None
    source: str | None = None
    #: ``[labels]``: a code of the data (``virtual``, ``dropped_out``, ``1m``) -> the words a
    #: reader sees (``"Telehealth"``), over the report's plain defaults
    labels: dict[str, str] = field(default_factory=dict)
    #: ``[report] period``: the reporting period as written (``"2025-Q1..2025-Q4"``; checked by
    #: :func:`iop_outcomes._report.period.parse_period`), ``None`` for all the data
    period: str | None = None
    #: ``[report] period_by``: the episode date that places an episode in the period
    period_by: str = "discharge"
    #: keys the configuration set explicitly ("groupings", "comparison.group", ...): a
    #: grouping column the user named must exist in the data; a default may be absent
    given: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        policy = _policy(self.suppression_policy, "")
        if not self.suppression_enabled:
            policy = "none"
        object.__setattr__(self, "suppression_policy", policy)
        object.__setattr__(self, "suppression_enabled", policy != "none")
        if self.threshold is None:
            object.__setattr__(self, "threshold", DEFAULT_THRESHOLDS[policy])
        if policy == "round5":
            round5_threshold(self.threshold, "The 'threshold' key in [suppression]")
        if self.period is not None or self.period_by != "discharge":
            from .period import parse_period

            where = f" of {self.source}" if self.source else ""
            text = self.period if self.period is not None else "2025"  # period_by alone
            p = parse_period(text, by=self.period_by, source=f"key in [report]{where}")
            if self.period is not None:
                object.__setattr__(self, "period", p.text)
        if self.harmonize is None:
            return
        from .. import instruments as _inst

        name = _inst.canonical_name(str(self.harmonize))
        short = _inst.get(name) if name else None
        if short is None or short.subset_of is None:
            raise ConfigError(
                "The 'harmonize' key in [data] must be 'PHQ-8' (PHQ-9 scored as PHQ-8 from "
                f"items 1-8). Got {self.harmonize!r} instead."
            )
        swap = {short.subset_of: short.name}  # the analyses read the harmonised instrument
        insts = tuple(dict.fromkeys(swap.get(i, i) for i in self.instruments))
        object.__setattr__(self, "harmonize", short.name)
        object.__setattr__(self, "instruments", insts)
        primary = swap.get(self.primary_instrument, self.primary_instrument)
        object.__setattr__(self, "primary_instrument", primary)

    @property
    def suppression_threshold(self) -> int | None:
        """Threshold passed to :func:`suppress` (``None`` when turned off)."""
        return self.threshold if self.suppression_policy != "none" else None

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str | None = None) -> StudyConfig:
        """Build a configuration from the TOML structure, validating every key.

        Examples
        --------
        >>> cfg = StudyConfig.from_dict({"suppression": {"threshold": 5}, "seed": 7})
        >>> cfg.threshold, cfg.seed, cfg.given
        (5, 7, ('suppression', 'seed', 'suppression.threshold'))
        """
        where = f" in {source}" if source else ""
        if not isinstance(d, dict):
            raise ConfigError(f"The study configuration{where} must be a table of keys.")
        _check_keys(d, _TOP_KEYS, "the top level", where)
        given = [k for k in d if k in _TOP_KEYS]
        for sec in ("comparison", "suppression"):
            if isinstance(d.get(sec), dict):
                given += [f"{sec}.{k}" for k in d[sec]]
        kw: dict[str, Any] = {"source": source, "given": tuple(given)}
        kw |= _top_level(d, where)
        kw |= _comparison(d.get("comparison", {}), where)
        if "episodes" in d:
            kw["episode_rules"] = _episode_rules(d["episodes"], where)
        kw |= _suppression(d.get("suppression", {}), where)
        kw |= _report_keys(d.get("report", {}), where)
        kw |= _labels(d.get("labels", {}), where)
        kw |= _sensitivity(d.get("sensitivity", {}), where)
        kw |= _trajectories(d.get("trajectories", {}), where)
        kw |= _over_time(d.get("over_time", {}), where)
        kw |= _data(d.get("data", {}), source, where)
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | Path) -> StudyConfig:
        """Read a study configuration file."""
        p = Path(path)
        try:
            with open(p, "rb") as fh:
                d = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(
                f"The study configuration file {str(p)!r} does not exist. Check the path given "
                "to --config."
            ) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(
                f"The study configuration file {str(p)!r} is not valid TOML: {e}. "
                "See docs/report.md for an example."
            ) from None
        return cls.from_dict(d, source=str(p))

    # ----------------------------------------------------------------- writing
    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`iop_outcomes.load` set by ``[data]``.

        Examples
        --------
        >>> StudyConfig.from_dict({"data": {"sheet": "PHQ", "skip_rows": 1}}).load_options()
        {'mapping': None, 'sheet': 'PHQ', 'skip_rows': 1, 'wide': False, 'episodes': None, 'source': None, 'dictionary': None, 'harmonize': None}
        """
        return {
            "mapping": self.mapping,
            "sheet": self.sheet,
            "skip_rows": self.skip_rows,
            "wide": self.wide,
            "episodes": self.episodes,
            "source": self.data_source,
            "dictionary": self.dictionary,
            "harmonize": self.harmonize,
        }

    def with_policy(self, policy: str) -> StudyConfig:
        """The same configuration under another disclosure-control policy (the command line's
        ``--suppression``); a ``threshold`` the study file set is kept, else the policy's own.

        Examples
        --------
        >>> StudyConfig().with_policy("round5").suppression_threshold
        5
        >>> StudyConfig.from_dict({"suppression": {"threshold": 11}}).with_policy("round5").threshold
        11
        """
        policy = _policy(policy, "", what="The --suppression option")
        keep = "suppression.threshold" in self.given
        return replace(
            self,
            suppression_policy=policy,
            suppression_enabled=policy != "none",
            threshold=self.threshold if keep else None,
        )

    def margin_for(self, instrument: str) -> float | None:
        """Equivalence margin for an instrument (``None`` when not configured)."""
        return self.margins.get(instrument, self.margins.get("*"))

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (for the provenance block), without the file path."""
        d = asdict(self)
        d.pop("source", None)
        d.pop("given", None)
        if d["suppression_policy"] == DEFAULT_POLICY:
            del d["suppression_policy"]  # recorded when another policy is chosen
        if d.get("mapping"):
            d["mapping"] = Path(d["mapping"]).name
        if d.get("episodes"):
            d["episodes"] = Path(d["episodes"]).name
        if d.get("dictionary"):
            d["dictionary"] = Path(d["dictionary"]).name
        for k, default in (
            ("sheet", 0),
            ("skip_rows", 0),
            ("wide", False),
            ("episodes", None),
            ("data_source", None),
            ("dictionary", None),
            ("harmonize", None),
            ("period", None),
            ("period_by", "discharge"),
        ):
            if type(d[k]) is type(default) and d[k] == default:
                del d[k]  # reading options are recorded when set
        d["instruments"] = list(d["instruments"])
        d["groupings"] = list(d["groupings"])
        d["sensitivity_methods"] = list(d["sensitivity_methods"])
        return d

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, default=str)


#: the top-level keys of a study file and their types
_TOP_KEYS = {
    "title": str,
    "subtitle": str,
    "instruments": list,
    "primary_instrument": str,
    "groupings": list,
    "seed": int,
    "ci_level": float,
    "comparison": dict,
    "episodes": dict,
    "suppression": dict,
    "sensitivity": dict,
    "trajectories": dict,
    "over_time": dict,
    "data": dict,
    "labels": dict,
    "report": dict,
}


def _top_level(d: dict, where: str) -> dict[str, Any]:
    """The top-level keys: title, instruments, seed, ci_level ..."""
    kw: dict[str, Any] = {}
    for k in ("title", "subtitle", "primary_instrument"):
        if k in d:
            kw[k] = d[k]
    if "seed" in d:
        kw["seed"] = d["seed"]
    if "ci_level" in d:
        lvl = float(d["ci_level"])
        if not 0.5 < lvl < 1:
            raise ConfigError(
                f"The 'ci_level' key{where} must be between 0.5 and 1 (e.g. 0.95). "
                f"Got {d['ci_level']!r} instead."
            )
        kw["ci_level"] = lvl
    for k in ("instruments", "groupings"):
        if k in d:
            if not all(isinstance(v, str) for v in d[k]):
                raise ConfigError(
                    f"The '{k}' key{where} must be a list of names, e.g. "
                    f'{k} = ["PHQ-9", "GAD-7"]. Got {d[k]!r} instead.'
                )
            kw[k] = tuple(d[k])
    if "instruments" in d:
        from .. import instruments as _inst

        kw["instruments"] = tuple(_inst.canonical_name(v) for v in d["instruments"])
    if "primary_instrument" in d:
        from .. import instruments as _inst

        kw["primary_instrument"] = _inst.canonical_name(d["primary_instrument"])
    return kw


def _comparison(comp: dict, where: str) -> dict[str, Any]:
    """The ``[comparison]`` table: group, reference, margin(s)."""
    kw: dict[str, Any] = {}
    _check_keys(
        comp,
        {"group": str, "reference": str, "margin": (int, float, dict)},
        "[comparison]",
        where,
    )
    if "group" in comp:
        kw["comparison_group"] = comp["group"]
    if "reference" in comp:
        ref = comp["reference"]
        if comp.get("group", "format") == "format":
            # the same label rules as the data ("In Person", "telehealth" -> in_person, virtual)
            from ..io.mapping import FORMAT_SYNONYMS, name_key

            ref = FORMAT_SYNONYMS.get(name_key(ref), ref)
        kw["comparison_reference"] = ref
    if "margin" in comp:
        m = comp["margin"]
        if isinstance(m, dict):
            margins = {}
            for name, v in m.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                    raise ConfigError(
                        f"The margin for {name!r} in [comparison]{where} must be a positive "
                        f"number of scale points. Got {v!r} instead."
                    )
                from .. import instruments as _inst

                margins[_inst.canonical_name(name)] = float(v)
        else:
            if isinstance(m, bool) or m <= 0:
                raise ConfigError(
                    f"The 'margin' key in [comparison]{where} must be a positive number of "
                    f"scale points. Got {m!r} instead."
                )
            margins = {"*": float(m)}
        kw["margins"] = margins
    return kw


def _suppression(sup: dict, where: str) -> dict[str, Any]:
    """The ``[suppression]`` table: policy, threshold, enabled."""
    kw: dict[str, Any] = {}
    _check_keys(sup, {"policy": str, "threshold": int, "enabled": bool}, "[suppression]", where)
    if "threshold" in sup:
        if sup["threshold"] < 1:
            raise ConfigError(
                f"The 'threshold' key in [suppression]{where} must be a positive integer "
                f"(counts below it are hidden; default 11). Got {sup['threshold']!r} "
                'instead. To turn suppression off, write policy = "none".'
            )
        kw["threshold"] = sup["threshold"]
    if "policy" in sup:
        kw["suppression_policy"] = _policy(sup["policy"], f" in [suppression]{where}")
        if sup.get("enabled") is False and kw["suppression_policy"] != "none":
            raise ConfigError(
                f"[suppression]{where} says enabled = false and policy = "
                f'{sup["policy"]!r}. Write only policy = "none" to turn disclosure '
                "control off, or leave out enabled."
            )
    if "enabled" in sup:
        kw["suppression_enabled"] = sup["enabled"]
    return kw


def _report_keys(rep: dict, where: str) -> dict[str, Any]:
    """The ``[report]`` table: period, period_by."""
    kw: dict[str, Any] = {}
    _check_keys(rep, {"period": str, "period_by": str}, "[report]", where)
    for k in ("period", "period_by"):
        if k in rep:
            kw[k] = rep[k]
    return kw


def _labels(labels: dict, where: str) -> dict[str, Any]:
    """The ``[labels]`` table: codes of the data -> the words a reader sees."""
    kw: dict[str, Any] = {}
    bad = {k: v for k, v in labels.items() if not isinstance(v, str) or not v.strip()}
    if bad:
        raise ConfigError(
            f"Each entry of [labels]{where} maps a code of the data to the words a reader "
            f'sees, e.g. virtual = "Telehealth". Not text: {bad!r}.'
        )
    if labels:
        kw["labels"] = {str(k): v.strip() for k, v in labels.items()}
    return kw


def _sensitivity(sens: dict, where: str) -> dict[str, Any]:
    """The ``[sensitivity]`` table."""
    kw: dict[str, Any] = {}
    _check_keys(
        sens, {"enabled": bool, "methods": list, "n_imputations": int}, "[sensitivity]", where
    )
    if "enabled" in sens:
        kw["sensitivity_enabled"] = sens["enabled"]
    if "methods" in sens:
        kw["sensitivity_methods"] = tuple(str(m) for m in sens["methods"])
    if "n_imputations" in sens:
        if sens["n_imputations"] < 2:
            raise ConfigError(
                f"The 'n_imputations' key in [sensitivity]{where} must be at least 2. "
                f"Got {sens['n_imputations']!r} instead."
            )
        kw["n_imputations"] = sens["n_imputations"]
    return kw


def _trajectories(traj: dict, where: str) -> dict[str, Any]:
    """The ``[trajectories]`` table."""
    kw: dict[str, Any] = {}
    _check_keys(traj, {"enabled": bool}, "[trajectories]", where)
    if "enabled" in traj:
        kw["trajectories_enabled"] = traj["enabled"]
    return kw


def _over_time(ot: dict, where: str) -> dict[str, Any]:
    """The ``[over_time]`` table."""
    kw: dict[str, Any] = {}
    _check_keys(ot, {"enabled": bool, "outcome": str}, "[over_time]", where)
    if "enabled" in ot:
        kw["over_time_enabled"] = ot["enabled"]
    if "outcome" in ot:
        if ot["outcome"] not in OVER_TIME_OUTCOMES:
            raise ConfigError(
                f"The 'outcome' key in [over_time]{where} must be one of "
                f"{list(OVER_TIME_OUTCOMES)}. Got {ot['outcome']!r} instead."
            )
        kw["over_time_outcome"] = ot["outcome"]
    return kw


def _data(data: dict, source: str | None, where: str) -> dict[str, Any]:
    """The ``[data]`` table: how the data file is read (files relative to the study file)."""
    kw: dict[str, Any] = {}
    _check_keys(
        data,
        {
            "mapping": str,
            "sheet": (str, int),
            "skip_rows": int,
            "wide": bool,
            "episodes": str,
            "source": str,
            "dictionary": str,
            "harmonize": str,
        },
        "[data]",
        where,
    )
    for k in ("mapping", "episodes", "dictionary"):  # files named relative to the study file
        if k in data:
            mp = Path(data[k])
            if source and not mp.is_absolute():
                mp = Path(source).parent / mp
            kw[k] = str(mp)
    if "sheet" in data and (
        isinstance(data["sheet"], bool) or (isinstance(data["sheet"], int) and data["sheet"] < 0)
    ):
        raise ConfigError(
            f"The 'sheet' key in [data]{where} must be a sheet name or a 0-based position "
            f"(an integer >= 0). Got {data['sheet']!r} instead."
        )
    if "skip_rows" in data and data["skip_rows"] < 0:
        raise ConfigError(
            f"The 'skip_rows' key in [data]{where} must be an integer >= 0 (the title rows "
            f"above the header). Got {data['skip_rows']!r} instead."
        )
    for k in ("sheet", "skip_rows", "wide", "harmonize"):
        if k in data:
            kw[k] = data[k]
    if "source" in data:
        if data["source"] not in ("redcap", "fhir"):
            raise ConfigError(
                f"The 'source' key in [data]{where} must be \"redcap\" (a REDCap export) or "
                '"fhir" (a FHIR R4 export); leave it out for the data contract\'s own '
                f"layout. Got {data['source']!r} instead."
            )
        kw["data_source"] = data["source"]
    return kw


def load_config(config: str | Path | dict | StudyConfig | None = None) -> StudyConfig:
    """Return a :class:`StudyConfig` from a path, a dict, an existing config or ``None``
    (defaults).

    Examples
    --------
    >>> load_config().threshold
    11
    """
    if config is None:
        return StudyConfig()
    if isinstance(config, StudyConfig):
        return config
    if isinstance(config, dict):
        return StudyConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return StudyConfig.from_toml(config)
    raise ConfigError(
        "The 'config' parameter must be a path to a TOML file, a dict, a StudyConfig or None. "
        f"Got {type(config).__name__} instead."
    )


def round5_threshold(th: int, what: str) -> None:
    """A threshold the ``"round5"`` policy can use: at least 3 (1 and 2 would round to 0) and
    not 7, 12, 17, ... (then the counts shown as ``threshold - 2`` could only be ``threshold``:
    with 7, the counts that round to 5 are 3 to 7, and 3 to 6 are hidden).

    Examples
    --------
    >>> round5_threshold(11, "t")
    >>> round5_threshold(7, "t")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ConfigError: t must be at least 3 and not 7, 12, 17, ... under policy "round5"
    """
    if th < 3 or th % 5 == 2:
        raise ConfigError(
            f'{what} must be at least 3 and not 7, 12, 17, ... under policy "round5" (a count '
            "of 1 or 2 would round to 0; with 7, a count shown as 5 could only be 7). Got "
            f"{th!r} instead; 5 (the default) and 11 work."
        )


def _policy(name: Any, where: str, what: str = "The 'policy' key") -> str:
    """A disclosure-control policy name checked against :data:`POLICIES` (case and spaces
    ignored); an unknown one is reported with the nearest valid name.

    Examples
    --------
    >>> _policy(" Round5", "")
    'round5'
    >>> _policy("round10", "")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ConfigError: The 'policy' key must be one of 'cms', 'round5', 'none' (see docs/report.md, Disclosure control). Got 'round10' instead; did you mean 'round5'?
    """
    key = str(name).strip().lower() if isinstance(name, str) else name
    if key in POLICIES:
        return key
    near = difflib.get_close_matches(str(key), POLICIES, n=1, cutoff=0.5)
    hint = f"; did you mean {near[0]!r}?" if near else "."
    raise ConfigError(
        f"{what}{where} must be one of {', '.join(map(repr, POLICIES))} (see "
        f"docs/report.md, Disclosure control). Got {name!r} instead{hint}"
    )


def _episode_rules(table: dict, where: str) -> dict[str, Any]:
    """The ``[episodes]`` table, checked now by building the :class:`~iop_outcomes.EpisodeRules`
    it describes (so a misspelt rule is reported with the file, not when the report is built)."""
    from .._episodes import EpisodeRules

    _check_keys(table, {f.name: object for f in fields(EpisodeRules)}, "[episodes]", where)
    try:
        EpisodeRules(**table)
    except ConfigError as e:
        raise ConfigError(f"{e} (In [episodes]{where}.)") from None
    return dict(table)


def _check_keys(d: dict, spec: dict[str, Any], section: str, where: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{section}{where} must be a table of keys. Got {d!r} instead.")
    unknown = sorted(set(d) - set(spec))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {unknown} in {section}{where}. Known keys: {sorted(spec)}."
        )
    for k, typ in spec.items():
        if k not in d:
            continue
        v = d[k]
        ok = isinstance(v, typ) and not (isinstance(v, bool) and typ in (int, float))
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise ConfigError(
                f"The '{k}' key in {section}{where} must be of type {names}. Got {v!r} instead."
            )
