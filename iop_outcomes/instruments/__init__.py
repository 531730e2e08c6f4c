"""Instrument definitions as data, a registry, and scoring.

Built-in instruments (PHQ-9, GAD-7, PHQ-8, PHQ-2, GAD-2, PCL-5) are declared in
``builtin.toml`` beside this file, each number with its source. Users add their
own with :func:`register` (a dict or a TOML file) and look any of them up with
:func:`get`.

Examples
--------
>>> import iop_outcomes as iop
>>> phq = iop.instruments.get("phq9")
>>> phq.name, phq.n_items, phq.total_max, phq.band(12)
('PHQ-9', 9, 27, 'moderate')
>>> iop.instruments.names()[:2]
['PHQ-9', 'GAD-7']
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .._validation import validate_params
from ..exceptions import InstrumentError

__all__ = ["Instrument", "get", "register", "names", "canonical_name", "DEFAULT_ANSWER_LABELS"]

#: Response text of the PHQ/GAD family (Kroenke et al. 2001; Spitzer et al. 2006).
DEFAULT_ANSWER_LABELS = {
    "not at all": 0,
    "several days": 1,
    "more than half the days": 2,
    "nearly every day": 3,
}


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: items, ranges, bands and the parameters outcome rules need.

    Every numeric parameter has a ``*_source`` citation. ``None`` means the
    instrument has no published value; analyses that need it then ask the
    user for one.
    """

    name: str
    n_items: int
    item_min: int
    item_max: int
    bands: tuple[tuple[int, int, str], ...]
    title: str = ""
    aliases: tuple[str, ...] = ()
    answer_labels: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_ANSWER_LABELS))
    better_is: str = "lower"
    caseness_cutoff: float | None = None
    remission_below: float | None = None
    mid: float | None = None
    reliable_change: float | None = None
    reliability: float | None = None
    norm_mean: float | None = None
    norm_sd: float | None = None
    clinical_mean: float | None = None
    clinical_sd: float | None = None
    max_missing: int = 0
    safety_item: int | None = None
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_items: tuple[str, ...] = ()
    loinc_answers: dict[str, int] = field(default_factory=dict)
    loinc_source: str = ""
    #: a short form scored from some items of a longer instrument (PHQ-8 = PHQ-9 items 1-8):
    #: ``iop.load(..., harmonize=<this instrument>)`` re-scores the longer one's administrations
    subset_of: str | None = None
    subset_items: tuple[int, ...] = ()
    subset_source: str = ""
    bands_source: str = ""
    caseness_source: str = ""
    remission_source: str = ""
    mid_source: str = ""
    reliable_change_source: str = ""
    reliability_source: str = ""
    norm_source: str = ""
    clinical_source: str = ""
    missing_source: str = ""
    safety_source: str = ""

    @property
    def total_min(self) -> int:
        return self.n_items * self.item_min

    @property
    def total_max(self) -> int:
        return self.n_items * self.item_max

    @property
    def items(self) -> list[str]:
        """Item column names in the data contract: ``item_1`` ... ``item_k``."""
        return [f"item_{i}" for i in range(1, self.n_items + 1)]

    @property
    def band_labels(self) -> list[str]:
        return [b[2] for b in self.bands]

    def band(self, total: float) -> str | None:
        """Severity band of one total (``None`` outside the range or missing)."""
        for lo, hi, label in self.bands:
            if lo <= total <= hi:
                return label
        return None

    def band_edges(self) -> list[float]:
        """Right-closed bin edges for :func:`pandas.cut` matching :attr:`bands`."""
        return [self.bands[0][0] - 0.5] + [hi + 0.5 for _, hi, _ in self.bands]


_REGISTRY: dict[str, Instrument] = {}
_ALIASES: dict[str, str] = {}


def _key(s: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(s)).lower()


def _from_dict(d: dict[str, Any]) -> Instrument:
    known = {f.name for f in fields(Instrument)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise InstrumentError(
            f"Instrument definition {d.get('name', '?')!r} has unknown field(s) {unknown}. "
            f"Known fields: {sorted(known)}."
        )
    missing = [k for k in ("name", "n_items", "item_min", "item_max", "bands") if k not in d]
    if missing:
        raise InstrumentError(
            f"Instrument definition {d.get('name', '?')!r} lacks required field(s) {missing}."
        )
    d = dict(d)
    d["bands"] = tuple((int(lo), int(hi), str(lab)) for lo, hi, lab in d["bands"])
    d["aliases"] = tuple(d.get("aliases", ()))
    d["loinc_items"] = tuple(str(c) for c in d.get("loinc_items", ()))
    d["loinc_answers"] = {str(k): int(v) for k, v in d.get("loinc_answers", {}).items()}
    d["subset_items"] = tuple(int(i) for i in d.get("subset_items", ()))
    if "answer_labels" in d:
        d["answer_labels"] = {str(k).strip().lower(): int(v) for k, v in d["answer_labels"].items()}
    inst = Instrument(**d)
    _check(inst)
    return inst


def _check(inst: Instrument) -> None:
    if inst.n_items < 1 or inst.item_max <= inst.item_min:
        raise InstrumentError(
            f"Instrument {inst.name!r}: need n_items >= 1 and item_max > item_min."
        )
    if inst.better_is not in ("lower", "higher"):
        raise InstrumentError(f"Instrument {inst.name!r}: better_is must be 'lower' or 'higher'.")
    expected = inst.total_min
    for lo, hi, label in inst.bands:
        if lo != expected or hi < lo:
            raise InstrumentError(
                f"Instrument {inst.name!r}: band {label!r} ({lo}-{hi}) leaves a gap or overlap; "
                f"bands must tile {inst.total_min}-{inst.total_max} without gaps."
            )
        expected = hi + 1
    if expected - 1 != inst.total_max:
        raise InstrumentError(
            f"Instrument {inst.name!r}: bands end at {expected - 1}, total range ends at {inst.total_max}."
        )
    if inst.loinc_items and len(inst.loinc_items) != inst.n_items:
        raise InstrumentError(
            f"Instrument {inst.name!r}: loinc_items must list one LOINC code per item "
            f"({inst.n_items}), in item order. Got {len(inst.loinc_items)} instead."
        )
    if not 0 <= inst.max_missing < inst.n_items:
        raise InstrumentError(f"Instrument {inst.name!r}: max_missing must be in 0..n_items-1.")
    if (inst.subset_of is None) != (not inst.subset_items) or (
        inst.subset_items and len(inst.subset_items) != inst.n_items
    ):
        raise InstrumentError(
            f"Instrument {inst.name!r}: subset_of and subset_items go together, with one item "
            f"number of {inst.subset_of or 'the longer instrument'} per item ({inst.n_items})."
        )


@validate_params({"definition": [dict, str, Path], "replace": ["boolean"]})
def register(definition: dict[str, Any] | str | Path, *, replace: bool = False) -> Instrument:
    """Register an instrument from a dict or a TOML file and return it.

    A TOML file holds one instrument as top-level keys, or several as
    ``[[instrument]]`` tables (the format of the built-in ``builtin.toml``).

    Parameters
    ----------
    definition : dict, str or Path
        The instrument's fields as a dict (the fields of :class:`Instrument`: ``name``,
        ``n_items``, ``item_min``, ``item_max`` and ``bands`` required, the rest optional,
        e.g. ``aliases``, ``better_is``, ``mid``, ``reliability`` with their ``*_source``
        citations), or the path of a TOML file holding one or several such definitions.
        Unknown fields, missing required fields and inconsistent values (bands that do not
        tile the total range without gaps, ``item_max <= item_min``, ...) raise
        :class:`~iop_outcomes.exceptions.InstrumentError`.
    replace : bool
        If False (default), a name or alias already registered raises
        :class:`~iop_outcomes.exceptions.InstrumentError`; if True, the new definition
        replaces the registered one.

    Returns
    -------
    Instrument
        The registered instrument (from a file of several: the last one).

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> clinic = iop.instruments.register({
    ...     "name": "CLINIC-5", "n_items": 5, "item_min": 0, "item_max": 4,
    ...     "bands": [[0, 9, "low"], [10, 20, "high"]], "caseness_cutoff": 10,
    ...     "answer_labels": {"never": 0, "rarely": 1, "sometimes": 2, "often": 3, "always": 4},
    ... }, replace=True)
    >>> iop.instruments.get("clinic 5").total_max
    20
    """
    if isinstance(definition, (str, Path)):
        path = Path(definition)
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InstrumentError(f"Cannot read instrument file {str(path)!r}: {exc}") from None
        defs = raw.get("instrument", [raw])
        out = [register(d, replace=replace) for d in defs]
        return out[-1]
    inst = _from_dict(definition)
    keys = {_key(inst.name), *(_key(a) for a in inst.aliases)}
    clash = [k for k in keys if k in _ALIASES and _ALIASES[k] != inst.name]
    if (inst.name in _REGISTRY or clash) and not replace:
        raise InstrumentError(
            f"Instrument {inst.name!r} (or an alias) is already registered; pass replace=True to override."
        )
    _REGISTRY[inst.name] = inst
    for k in keys:
        _ALIASES[k] = inst.name
    return inst


@validate_params({"name": [str]})
def canonical_name(name: str) -> str | None:
    """Canonical instrument name for a spelling (``'phq9'`` -> ``'PHQ-9'``), else ``None``.

    Parameters
    ----------
    name : str
        A registered name or alias in any spelling: case, spaces, ``-`` and ``_`` are
        ignored.

    Returns
    -------
    str or None
        The registered name, or ``None`` when no instrument has that name or alias.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> iop.instruments.canonical_name("gad 7"), iop.instruments.canonical_name("BDI-II")
    ('GAD-7', None)
    """
    return _ALIASES.get(_key(name))


@validate_params({"name": ["instrument"]})
def get(name: str | Instrument) -> Instrument:
    """Look up an instrument by name or alias (case, spaces, '-' and '_' ignored).

    Parameters
    ----------
    name : str or Instrument
        A registered name or alias in any spelling (see :func:`canonical_name`); an
        :class:`Instrument` is returned as it is.

    Returns
    -------
    Instrument

    Raises
    ------
    InstrumentError
        When no instrument has that name or alias (the message lists the registered ones).

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> iop.instruments.get("phq_9").name
    'PHQ-9'
    """
    if isinstance(name, Instrument):
        return name
    canon = canonical_name(name)
    if canon is None:
        raise InstrumentError(
            f"Unknown instrument {name!r}. Known: {names()}. "
            "Register your own with iop.instruments.register(dict_or_toml)."
        )
    return _REGISTRY[canon]


@validate_params({})
def names() -> list[str]:
    """Names of all registered instruments, built-ins first."""
    return list(_REGISTRY)


def _load_builtin() -> None:
    text = resources.files(__package__).joinpath("builtin.toml").read_text(encoding="utf-8")
    for d in tomllib.loads(text)["instrument"]:
        register(d)


_load_builtin()
