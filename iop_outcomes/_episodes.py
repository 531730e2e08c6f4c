"""Episodes and time points: baseline, endpoint and follow-up scores per episode.

:func:`episodes` turns validated assessment rows (``iop.load(...).data``) into
one row per treatment episode and instrument, by documented window rules
(:class:`EpisodeRules`); :func:`assessment_roles` labels every assessment row
with the role it played (baseline, in treatment, endpoint, follow-up, or why
it was not used), so nothing is lost silently.

Rules (defaults)
----------------
* **Admission** is ``admit_date``; without it, the episode's first assessment
  (any instrument). **Discharge** is ``discharge_date``; without it, in-treatment
  rows are those not labelled ``followup_*``.
* **Baseline**: the score nearest admission within 14 days before to 7 days
  after it (ties: the earlier; scores on the same day: the lower).
* **Endpoint**: ``"last_in_treatment"`` (default) — the last score after the
  baseline and no later than 7 days after discharge (scores on that same last day:
  the one labelled ``discharge``, else the lower score, whatever the row order); or ``"discharge_only"`` —
  the score labelled ``discharge`` where the episode has timepoint labels,
  otherwise the score nearest discharge from 3 days before to 7 days after it
  (an episode without one has no endpoint, so dropouts without a discharge
  score stay missing).
* **Follow-ups**: the score nearest 30 / 91 / 182 / 365 days after discharge
  within non-overlapping windows 14–60, 61–135, 136–270 and 271–500 days.
* Episodes without any dated score use their ``timepoint`` labels: baseline ``intake`` (or week
  0), endpoint the latest of ``intake`` / ``week_N`` / ``discharge``
  (``discharge`` only under ``"discharge_only"``), follow-ups ``followup_Nm``.

Rules by label
--------------
A published definition written in labels ("baseline = the intake assessment;
endpoint = the discharge assessment, else the last in treatment; follow-ups =
the follow-up visits") is ``EpisodeRules(baseline="label:intake",
endpoint="label:discharge else last_in_treatment", followup="label")``: the
labelled score whatever its date, a fallback only where the rule says ``else``
(see :class:`EpisodeRules` and ``docs/data-format.md``).

Change is ``endpoint − baseline``: negative is improvement on PHQ-9 and GAD-7.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ._dask import is_dask
from ._instrument_rule import select_instrument
from ._validation import check_columns, validate_params
from .exceptions import ConfigError, DataError
from .io.mapping import normalize_timepoint as _normalize_timepoint

__all__ = ["EpisodeRules", "episodes", "assessment_roles", "FOLLOWUPS"]

FOLLOWUPS = ("1m", "3m", "6m", "12m")

_ASSESSMENT_COLS = {
    "instrument",
    "assessment_date",
    "timepoint",
    "week",
    "total",
    "n_answered",
    "scoring_rule",
    "severity",
    "safety_flag",
    "source_row",
}


#: the date rules each choice accepts; a choice may also be ``label:<timepoint>``
#: (``followup``: the bare word ``label``), and alternatives are joined by ``" else "``
_DATE_RULES = {
    "baseline": ("window",),
    "endpoint": ("last_in_treatment", "discharge_only"),
    "followup": ("window",),
}
_ELSE = re.compile(r"\s+else\s+", flags=re.IGNORECASE)


def _parse_choice(value, name: str) -> tuple[tuple[str, str], ...]:
    """``"label:discharge else last_in_treatment"`` → ``(("label", "discharge"), ("date", ...))``.

    Labels are read as the loader reads the ``timepoint`` column (case, spaces and
    synonyms: ``"Baseline"`` → ``intake``), so the rule and the data agree.
    """
    dates = _DATE_RULES[name]
    example = {
        "baseline": "'label:intake' or 'label:intake else window'",
        "endpoint": "'label:discharge' or 'label:discharge else last_in_treatment'",
        "followup": "'label' or 'label else window'",
    }[name]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"The '{name}' parameter of EpisodeRules must be a rule name "
            f"({', '.join(repr(x) for x in dates)}) or a label rule such as {example}. "
            f"Got {value!r} instead."
        )
    out = []
    for alt in _ELSE.split(value.strip()):
        a = alt.strip()
        if a.lower() in dates:
            out.append(("date", a.lower()))
            continue
        if name == "followup" and a.lower() == "label":
            out.append(("label", "followup"))
            continue
        m = re.fullmatch(r"label\s*:\s*(.+)", a, flags=re.IGNORECASE)
        if not m or name == "followup":
            raise ConfigError(
                f"The '{name}' parameter of EpisodeRules must be "
                f"{' or '.join(repr(x) for x in dates)}, or a label rule such as {example}. "
                f"Got {value!r} instead."
            )
        label = _normalize_timepoint(m.group(1))
        if label is None or label.startswith("followup"):
            raise ConfigError(
                f"The '{name}' parameter of EpisodeRules must name an in-treatment timepoint "
                "label (intake, week_N or discharge, or a synonym the loader reads, such as "
                f"'baseline' or 'post'). Got {value!r} instead."
            )
        out.append(("label", label))
    return tuple(out)


def _spell(choice: tuple[tuple[str, str], ...]) -> str:
    """The canonical spelling of a parsed choice (what :class:`EpisodeRules` stores)."""
    return " else ".join(
        v if k == "date" else ("label" if v == "followup" else f"label:{v}") for k, v in choice
    )


@dataclass(frozen=True)
class EpisodeRules:
    """Rules for picking baseline, endpoint and follow-up scores: date windows or labels.

    Parameters
    ----------
    baseline : str
        ``"window"`` (default): the score nearest admission within
        ``baseline_window``. ``"label:intake"``: the score labelled ``intake``
        (any in-treatment label may be named: ``intake``, ``week_N``,
        ``discharge``), whatever its date.
    endpoint : str
        ``"last_in_treatment"`` (default), ``"discharge_only"`` (see the module
        notes) or ``"label:discharge"``: the score labelled ``discharge``, dated
        after the baseline, whatever its distance from the discharge date.
    followup : str
        ``"window"`` (default): the score nearest each target day within its
        window after discharge. ``"label"``: the score labelled
        ``followup_1m`` … ``followup_12m``, whatever its date.
    baseline_window, discharge_grace, discharge_window, followup_targets, followup_windows
        The date windows, in days (see the module notes).

    Notes
    -----
    A choice may list alternatives joined by ``" else "``, tried in order per
    episode: ``endpoint="label:discharge else last_in_treatment"`` takes the
    discharge-labelled score and, only for an episode without one, the last
    in-treatment score. Without ``else`` a missing label leaves the score
    missing (an episode without an intake has no baseline; no week-1 score
    stands in for it).

    Labels match as the loader reads the ``timepoint`` column
    (``iop.io.mapping.normalize_timepoint``): case, spaces and hyphens do not
    matter and synonyms are read (``baseline``, ``admission``, ``pre``,
    ``week 0`` → ``intake``; ``post``, ``end``, ``dc`` → ``discharge``;
    ``FU 3m``, ``3 month follow-up`` → ``followup_3m``). The stored rule is the
    canonical spelling (``"label:Baseline"`` is kept as ``"label:intake"``).

    When several scores of an episode carry the label, the baseline and each
    follow-up take the earliest, the endpoint the latest (the scores nearest the
    start and the end of treatment); same-day ties go to the lower score. A
    label pick ignores the date windows; in an episode with dated scores, an
    undated row is never picked, and the endpoint must be dated after the
    baseline. A ``label`` follow-up never takes the baseline or endpoint row,
    and a ``window`` fallback never takes a row labelled for another follow-up.

    Examples
    --------
    >>> EpisodeRules(endpoint="discharge_only").endpoint
    'discharge_only'
    >>> r = EpisodeRules(baseline="label:Baseline", endpoint="label:discharge else last_in_treatment")
    >>> r.baseline, r.endpoint
    ('label:intake', 'label:discharge else last_in_treatment')
    >>> print(r.describe().split(". Follow-ups")[0])  # doctest: +NORMALIZE_WHITESPACE
    Baseline: the score labelled 'intake' (the earliest if several), whatever its date; none
    when the episode has no such score. Endpoint (label:discharge else last_in_treatment): the
    score labelled 'discharge' and dated after the baseline (the latest if several), whatever
    its date; for an episode without one, the last score after baseline and no later than 7
    days after discharge
    """

    baseline_window: tuple[int, int] = (-14, 7)
    endpoint: str = "last_in_treatment"
    discharge_grace: int = 7
    discharge_window: tuple[int, int] = (-3, 7)
    followup_targets: dict[str, int] = field(
        default_factory=lambda: {"1m": 30, "3m": 91, "6m": 182, "12m": 365}
    )
    followup_windows: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {
            "1m": (14, 60),
            "3m": (61, 135),
            "6m": (136, 270),
            "12m": (271, 500),
        }
    )
    baseline: str = "window"
    followup: str = "window"

    def __post_init__(self) -> None:
        for name in ("baseline", "endpoint", "followup"):
            object.__setattr__(self, name, _spell(_parse_choice(getattr(self, name), name)))
        lo, hi = self.baseline_window
        if lo > hi:
            raise ConfigError(
                f"baseline_window must be (before, after) with before <= after. Got {self.baseline_window}."
            )
        if set(self.followup_windows) != set(self.followup_targets):
            raise ConfigError(
                "followup_windows and followup_targets must name the same follow-ups."
            )
        if "label" in self.followup.split(" else "):
            odd = [
                k for k in self.followup_windows if _normalize_timepoint(f"followup_{k}") is None
            ]
            if odd:
                raise ConfigError(
                    "The 'followup' parameter of EpisodeRules must be 'window' when follow-ups "
                    "have names no timepoint label carries (labels exist for 1m, 3m, 6m and "
                    f"12m). Got followup={self.followup!r} with follow-ups {odd} instead."
                )

    def choices(self, name: str) -> tuple[tuple[str, str], ...]:
        """The alternatives of one choice (``"baseline"``, ``"endpoint"``, ``"followup"``).

        Examples
        --------
        >>> EpisodeRules(endpoint="label:discharge else last_in_treatment").choices("endpoint")
        (('label', 'discharge'), ('date', 'last_in_treatment'))
        """
        return _parse_choice(getattr(self, name), name)

    @property
    def uses_labels(self) -> bool:
        """Whether any choice picks scores by their ``timepoint`` label."""
        return any(k == "label" for n in _DATE_RULES for k, _ in self.choices(n))

    def describe(self) -> str:
        """One sentence per rule, for methods sections (the definition, stated exactly)."""
        lo, hi = self.baseline_window
        date_text = {
            "window": f"the score nearest admission from {-lo} days before to {hi} days after it",
            "last_in_treatment": (
                "the last score after baseline and no later than "
                f"{self.discharge_grace} days after discharge"
            ),
            "discharge_only": (
                "the score labelled 'discharge' when the episode has timepoint labels, otherwise "
                f"the score nearest discharge from {-self.discharge_window[0]} days before to "
                f"{self.discharge_window[1]} days after it"
            ),
        }

        fu_window = "; ".join(
            f"{k}: nearest to day {self.followup_targets[k]} within days {a}-{b} after discharge"
            for k, (a, b) in self.followup_windows.items()
        )
        labels = ", ".join(f"'followup_{k}'" for k in self.followup_windows)
        label_text = {
            "baseline": "the score labelled '{}' (the earliest if several), whatever its date",
            "endpoint": (
                "the score labelled '{}' and dated after the baseline (the latest if several), "
                "whatever its date"
            ),
            "followup": (
                f"the scores labelled {labels} (the earliest of each if several), whatever "
                "their dates, other than the baseline and endpoint scores"
            ),
        }

        def text(name: str) -> str:
            alts = self.choices(name)
            if name == "followup" and alts == (("date", "window"),):
                return fu_window  # the default, worded as before
            dates = dict(date_text)
            if name == "followup":
                dates["window"] = f"the score by date ({fu_window})"
            parts = [label_text[name].format(v) if k == "label" else dates[v] for k, v in alts]
            joiner = (
                "; for an episode without one, "
                if name != "followup"
                else "; for a follow-up without a labelled score, "
            )
            out = joiner.join(parts)
            if alts[-1][0] == "label":
                out += "; none when the episode has no such score"
            return out

        return (
            f"Baseline: {text('baseline')}. Endpoint ({self.endpoint}): {text('endpoint')}. "
            f"Follow-ups: {text('followup')}."
        )

    def to_dict(self) -> dict:
        return asdict(self)


def coerce_rules(rules) -> EpisodeRules:
    if rules is None:
        return EpisodeRules()
    if isinstance(rules, EpisodeRules):
        return rules
    if isinstance(rules, dict):
        return EpisodeRules(**rules)
    raise ConfigError(
        f"The 'rules' parameter must be an EpisodeRules, a dict or None. Got {type(rules).__name__} instead."
    )


def episodes_dask(*args):
    """:func:`episodes` on Dask (:mod:`iop_outcomes._dask.episodes`; Dask imported there)."""
    from ._dask.episodes import episodes_dask as run

    return run(*args)


def _instrument_rows(assessments: pd.DataFrame, instrument, func) -> tuple[pd.DataFrame, list]:
    """The library's instrument rule (a list accepted): the rows kept and the names, in order."""
    check_columns(
        assessments,
        ["episode_id", "instrument", "total"],
        func=func,
        what="assessments",
        hint="Pass iop.load(...).data.",
    )
    rows, name = select_instrument(assessments, instrument, func=func, many=True)
    names = [] if name is None else list(name) if isinstance(name, tuple) else [name]
    return rows, names


@validate_params(
    {
        "assessments": ["frame"],
        "instrument": ["instruments", None],
        "rules": ["no_validation"],  # EpisodeRules, dict or None: coerce_rules checks it
    },
    renamed={"data": "assessments"},
)
def assessment_roles(assessments: pd.DataFrame, *, instrument=None, rules=None) -> pd.DataFrame:
    """Label each assessment with the role it plays in its episode.

    Returns the rows of ``assessments`` for the instrument(s) with added columns
    ``days`` (days since admission), ``week`` (``days / 7`` when dates are
    given), ``in_treatment`` (bool) and ``role``: ``baseline``, ``endpoint``,
    ``treatment`` (in treatment, neither baseline nor endpoint),
    ``followup_1m`` … ``followup_12m``, ``before_baseline_window`` (too early
    for the baseline window), ``undated`` (no date in an episode whose other
    scores are dated), ``outside_windows`` (after discharge but in no
    follow-up window, or a second score in a window) or ``no_baseline``
    (in-treatment scores of an episode without a baseline).

    Parameters
    ----------
    assessments : DataFrame
        Validated assessments, ``iop.load(...).data``.
    instrument : str, list of str or None
        The library's instrument rule: ``None`` (default) needs assessments of exactly
        one instrument (a ConfigError names those found otherwise); a name keeps that
        instrument's rows; a list keeps each listed instrument (never pooled).
    rules : EpisodeRules or dict, optional
        As in :func:`episodes`.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"patient_id": "p", "episode_id": "e", "instrument": "PHQ-9",
    ...     "assessment_date": pd.to_datetime(["2025-01-02", "2025-01-20", "2025-02-10", "2025-05-01"]),
    ...     "admit_date": pd.Timestamp("2025-01-01"), "discharge_date": pd.Timestamp("2025-02-12"),
    ...     "total": [18.0, 14.0, 9.0, 11.0]})
    >>> import iop_outcomes as iop
    >>> iop.assessment_roles(d)["role"].tolist()
    ['baseline', 'treatment', 'endpoint', 'followup_3m']
    """
    return _roles(assessments, instrument, coerce_rules(rules))


def _roles(
    data: pd.DataFrame, instrument, r: EpisodeRules, ep_code=None, also: EpisodeRules | None = None
) -> pd.DataFrame:
    """:func:`assessment_roles` (``ep_code``: the episode ids of ``data`` factorised, when the
    caller has them). ``also``: rules that differ from ``r`` in the endpoint only; the roles
    under them are added as ``role_also`` (:func:`_also_roles`)."""
    rows, _ = _instrument_rows(data, instrument, assessment_roles)
    _check_label_rules(data, r)
    d = rows.copy()
    if "patient_id" not in d:
        d["patient_id"] = d["episode_id"]
    gk = _group_codes(d, _rows_of(data, d, ep_code))
    has_dates = "assessment_date" in d and d["assessment_date"].notna().any()
    if not has_dates:
        _by_labels(d, r, gk, also)
        return d
    # episodes with no dated score at all fall back to their timepoint labels
    is_dated = d["assessment_date"].notna().to_numpy()
    dated_ep = (np.bincount(gk, weights=is_dated, minlength=_n_groups(gk)) > 0)[gk]
    if dated_ep.all():
        _by_dates(d, data, r, gk, also)
        return d
    a, b = d.loc[dated_ep].copy(), d.loc[~dated_ep].copy()
    _by_dates(a, data, r, gk[dated_ep], also)
    role_cols = ["role", *(["role_also"] if also is not None else [])]
    if "timepoint" in b or "week" in b:
        _by_labels(b, r, gk[~dated_ep], also)
    else:
        b["days"] = b["week"] = np.nan
        b["in_treatment"] = False
        for c in role_cols:
            b[c] = "undated"
    a.loc[a["assessment_date"].isna().to_numpy(), role_cols] = "undated"
    return pd.concat([a, b]).loc[d.index]


def _check_label_rules(data: pd.DataFrame, r: EpisodeRules) -> None:
    if r.uses_labels and "timepoint" not in data:
        raise DataError(
            "The episode rules pick scores by their timepoint label "
            f"(baseline={r.baseline!r}, endpoint={r.endpoint!r}, followup={r.followup!r}), "
            f"but the assessments have no 'timepoint' column. Columns found: {list(data.columns)}."
        )


#: the columns the roles are computed from (the others are only carried along)
_ROLE_INPUT = (
    "patient_id",
    "episode_id",
    "instrument",
    "assessment_date",
    "admit_date",
    "discharge_date",
    "timepoint",
    "week",
    "total",
)


def _rows_of(data: pd.DataFrame, sub: pd.DataFrame, codes: np.ndarray | None):
    """``codes`` (one per row of ``data``) for the rows of ``sub``, a row subset of ``data``
    keeping its index; None when ``data``'s index is not its positions (0 … n−1)."""
    ix = data.index
    plain = isinstance(ix, pd.RangeIndex) and ix.start == 0 and ix.step == 1
    return codes[sub.index.to_numpy()] if codes is not None and plain else None


def _group_codes(d: pd.DataFrame, ec: np.ndarray | None = None) -> np.ndarray:
    """One int64 code per (episode, instrument) pair: the pick key, factorised once.

    Missing ids are a group of their own (as a string key would make them); the codes are
    below ``n_episodes * n_instruments``, so per-group arrays are indexed by them directly.
    ``ec``: the episode ids already factorised (missing: -1).
    """
    if ec is None:
        ec, _ = pd.factorize(d["episode_id"], use_na_sentinel=False)
    elif len(ec) and ec.min() < 0:
        ec = np.where(ec < 0, ec.max() + 1, ec)
    ic, iu = pd.factorize(d["instrument"], use_na_sentinel=False)
    return ec.astype(np.int64) * max(len(iu), 1) + ic


def _n_groups(gk: np.ndarray) -> int:
    return int(gk.max()) + 1 if len(gk) else 0


def _first_per_group(pos: np.ndarray, key: np.ndarray, order: np.ndarray, *, last=False):
    """``pos[order]`` reduced to the first (``last``: the last) row of each run of ``key``."""
    k = key[order]
    if last:
        edge = np.r_[k[1:] != k[:-1], True] if len(k) else np.zeros(0, dtype=bool)
    else:
        edge = np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, dtype=bool)
    return pos[order[edge]]


def _at_group_extreme(k: np.ndarray, v: np.ndarray, *, largest: bool) -> np.ndarray | None:
    """The rows whose ``v`` equals their group's (``k``) minimum (``largest``: maximum): the
    only rows a stable sort on ``(k, v, ...)`` can put first (last) in their group. None when
    ``v`` has NaN (which sorts last, so every row must be sorted)."""
    if v.dtype.kind == "M":
        v = v.view(np.int64)
    if v.dtype.kind == "f":
        if np.isnan(v).any():
            return None
        start = -np.inf if largest else np.inf
    else:
        v = v.astype(np.int64, copy=False)
        start = np.iinfo(np.int64).min if largest else np.iinfo(np.int64).max
    ext = np.full(_n_groups(k), start, dtype=v.dtype)
    (np.maximum if largest else np.minimum).at(ext, k, v)
    return np.nonzero(v == ext[k])[0]


def _pick_nearest(
    mask: np.ndarray, gk: np.ndarray, dist: np.ndarray, t: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Positions of the row nearest 0 in ``dist`` per group ``gk`` among ``mask`` rows;
    ties → the earlier date ``t``, then (scores on the same day) the lower score ``y``, then
    the earlier row: the pick does not depend on row order beyond exact duplicates.
    (A stable lexicographic sort; NaN sorts last, as in pandas.)"""
    pos = np.nonzero(mask)[0]
    d = np.abs(dist[pos])
    near = _at_group_extreme(gk[pos], d, largest=False)
    if near is not None:  # only the rows at their group's least distance can win
        pos, d = pos[near], d[near]
    k = gk[pos]
    order = np.lexsort((y[pos], t[pos], d, k))
    return _first_per_group(pos, k, order)


def _pick_last(
    mask: np.ndarray, key: np.ndarray, t: np.ndarray, y: np.ndarray, discharge: np.ndarray
) -> np.ndarray:
    """Positions of the latest ``t`` per ``key`` among ``mask`` rows.

    Same-``t`` ties (a weekly and a discharge assessment on the discharge day) go to the row
    labelled ``discharge``, then to the lower score ``y``: the pick does not depend on row order.
    """
    pos = np.nonzero(mask)[0]
    late = _at_group_extreme(key[pos], t[pos], largest=True)
    if late is not None:  # only the rows at their group's latest time can win
        pos = pos[late]
    k = key[pos]
    order = np.lexsort((-y[pos], discharge[pos], t[pos], k))
    return _first_per_group(pos, k, order, last=True)


def _pick_labelled(
    mask: np.ndarray, key: np.ndarray, t: np.ndarray, y: np.ndarray, w: np.ndarray, *, latest: bool
) -> np.ndarray:
    """Positions of the earliest (``latest``: the latest) ``t`` per ``key`` among ``mask`` rows.

    Same-``t`` ties go to the lower score, then the lower week: the pick does not depend on
    row order.
    """
    pos = np.nonzero(mask)[0]
    tt = t[pos]
    k = key[pos]
    order = np.lexsort((w[pos], y[pos], -tt if latest else tt, k))
    return _first_per_group(pos, k, order)


def _first_alternative(key: np.ndarray, picks: list[np.ndarray]) -> np.ndarray:
    """Per ``key``, the pick of the first alternative that has one (``a else b``)."""
    if len(picks) == 1:
        return picks[0]
    pos = np.concatenate(picks)
    alt = np.repeat(np.arange(len(picks)), [len(p) for p in picks])
    k = key[pos]
    return _first_per_group(pos, k, np.lexsort((alt, k)))


def _canonical_labels(d: pd.DataFrame) -> pd.Categorical:
    """The ``timepoint`` labels read as the loader reads them (one look-up per distinct label)."""
    if "timepoint" not in d:
        return pd.Categorical([None] * len(d), categories=[])
    codes, uniques = pd.factorize(d["timepoint"])
    canon = [_normalize_timepoint(u) for u in uniques]
    cats = sorted({c for c in canon if c is not None})
    lut = np.array([cats.index(c) if c is not None else -1 for c in canon] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(lut[codes], categories=cats)


def _is(labels: pd.Categorical, value: str) -> np.ndarray:
    return (
        np.asarray(labels == value, dtype=bool)
        if value in labels.categories
        else np.zeros(len(labels), dtype=bool)
    )


def _role_names(r: EpisodeRules) -> list[str]:
    """The roles a row can get, in code order (code 0, the default: ``outside_windows``)."""
    fixed = ["outside_windows", "baseline", "treatment", "endpoint", "no_baseline"]
    return [*fixed, "before_baseline_window", *(f"followup_{k}" for k in r.followup_windows)]


def _role_codes(r: EpisodeRules) -> dict[str, int]:
    return {name: i for i, name in enumerate(_role_names(r))}


def _role_column(codes: np.ndarray, r: EpisodeRules) -> pd.api.extensions.ExtensionArray:
    """The ``role`` column (dtype ``str``) from the int8 role codes, built by Arrow from the
    small dictionary of names (no Python string per row)."""
    import pyarrow as pa

    names = pa.array(_role_names(r), type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), names)
    return pd.array(arr.cast(pa.large_string()), dtype="str")


def _tp_is(d: pd.DataFrame, value: str) -> np.ndarray:
    """Rows whose ``timepoint`` equals ``value`` (none without the column)."""
    if "timepoint" not in d:
        return np.zeros(len(d), dtype=bool)
    return (d["timepoint"] == value).fillna(False).to_numpy(dtype=bool)


def _tp_startswith(d: pd.DataFrame, prefix: str) -> np.ndarray:
    """Rows whose ``timepoint`` starts with ``prefix``: on a categorical column, one test per
    category (the loader's ``timepoint`` is categorical), never a string per row."""
    if "timepoint" not in d:
        return np.zeros(len(d), dtype=bool)
    col = d["timepoint"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories.astype("str")
        hit = np.append(np.asarray(cats.str.startswith(prefix), dtype=bool), False)
        return hit[col.cat.codes.to_numpy()]  # code -1 (missing) → the appended False
    return col.astype("str").str.startswith(prefix).fillna(False).to_numpy(dtype=bool)


def _by_dates(
    d: pd.DataFrame, all_rows: pd.DataFrame, r: EpisodeRules, gk: np.ndarray, also=None
) -> None:
    """Roles by date windows (labels where the rules say so); adds days, week, role to ``d``
    (and ``role_also``, the roles under the rules ``also``: :func:`_also_roles`)."""
    c = _date_context(d, all_rows, r, gk)
    role = np.zeros(len(d), dtype=np.int8)  # codes into _role_names(r)
    _baseline_by_date(d, c, r, role)
    other = role.copy() if also is not None else None
    if other is not None:
        _endpoint_by_date(d, {**c, "taken": c["taken"].copy()}, also, other)
    _endpoint_by_date(d, c, r, role)
    _followups_by_date(d, c, r, role)
    d["role"] = _role_column(role, r)
    if other is not None:
        d["role_also"] = _role_column(_also_roles(role, other, r), r)


def _also_roles(role: np.ndarray, other: np.ndarray, r: EpisodeRules) -> np.ndarray:
    """The roles under rules that differ from ``r`` in the endpoint only, from the same pass
    (``missing_data_sensitivity``'s discharge endpoint beside the study's endpoint): ``other``
    holds the baseline and treatment roles and its own endpoint; the follow-ups are the
    ones ``role`` picked under ``r`` (the same under both but where a label endpoint rule
    set a follow-up-labelled row aside; the sensitivity analysis does not use them).
    """
    R = _role_codes(r)
    fu = role >= R["before_baseline_window"]  # before_baseline_window and the follow-ups
    out = other.copy()
    out[fu & (out != R["endpoint"])] = role[fu & (out != R["endpoint"])]
    return out


def _date_context(d: pd.DataFrame, all_rows: pd.DataFrame, r: EpisodeRules, gk) -> dict:
    """Days since admission and since discharge, follow-up labels and the pick keys."""
    admit = (
        d["admit_date"]
        if "admit_date" in d
        else pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns]")
    )
    if admit.isna().any():  # the episode's first assessment (any instrument) stands in
        first_any = all_rows.groupby("episode_id", observed=True)["assessment_date"].min()
        admit = admit.fillna(d["episode_id"].map(first_any))
    disch = (
        d["discharge_date"]
        if "discharge_date" in d
        else pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns]")
    )
    t = d["assessment_date"]
    days = (t - admit).dt.days.to_numpy(dtype=float)
    d["days"] = days
    d["week"] = days / 7.0
    return {
        "days": days,
        "after_dc": (t - disch).dt.days.to_numpy(dtype=float),  # NaN without a discharge date
        "fu_label": _tp_startswith(d, "followup"),
        "valid": d["total"].notna().to_numpy() & ~np.isnan(days),
        "gk": gk,
        "tn": t.to_numpy(),
        "t_int": t.to_numpy(dtype="datetime64[ns]").view("int64"),  # orders label picks
        "y": d["total"].to_numpy(dtype=float, na_value=np.nan),
        "labels": _canonical_labels(d) if r.uses_labels else None,
        "taken": np.zeros(len(d), dtype=bool),  # rows a label rule made baseline or endpoint
    }


def _baseline_by_date(d: pd.DataFrame, c: dict, r: EpisodeRules, role: np.ndarray) -> None:
    """The baseline pick; then which rows are in treatment and after the baseline."""
    R = _role_codes(r)
    valid, days, gk, labels = c["valid"], c["days"], c["gk"], c["labels"]
    lo, hi = r.baseline_window
    picks = []
    for kind, v in r.choices("baseline"):
        if kind == "label":
            m = valid & _is(labels, v)
            picks.append(_pick_labelled(m, gk, c["t_int"], c["y"], days, latest=False))
        else:
            in_bw = valid & (days >= lo) & (days <= hi) & ~c["fu_label"]
            picks.append(_pick_nearest(in_bw, gk, days, c["tn"], c["y"]))
    base_pos = _first_alternative(gk, picks)
    role[base_pos] = R["baseline"]
    if labels is not None:
        c["taken"][base_pos] = True
    tn = c["tn"]
    bd = np.full(_n_groups(gk), np.datetime64("NaT"), dtype=tn.dtype)
    bd[gk[base_pos]] = tn[base_pos]
    b_for_row = bd[gk]
    has_base = ~np.isnat(b_for_row)
    c["after_base"] = has_base & (tn > np.where(has_base, b_for_row, tn))
    after_dc = c["after_dc"]
    with np.errstate(invalid="ignore"):
        in_tx = (
            valid
            & ~c["fu_label"]
            & np.where(np.isnan(after_dc), True, after_dc <= r.discharge_grace)
            & (days >= lo)
        )
    c["in_tx"] = in_tx
    c["later"] = in_tx & c["after_base"]
    d["in_treatment"] = in_tx
    role[in_tx & ~has_base & (role != R["baseline"])] = R["no_baseline"]
    role[c["later"]] = R["treatment"]
    role[valid & (days < lo) & ~c["taken"]] = R["before_baseline_window"]


def _endpoint_by_date(d: pd.DataFrame, c: dict, r: EpisodeRules, role: np.ndarray) -> None:
    """The endpoint pick: by label, the last in treatment, or the discharge assessment."""
    R = _role_codes(r)
    gk, labels, later = c["gk"], c["labels"], c["later"]
    picks = []
    for kind, v in r.choices("endpoint"):
        if kind == "label":
            m = c["valid"] & c["after_base"] & _is(labels, v)
            picks.append(_pick_labelled(m, gk, c["t_int"], c["y"], c["days"], latest=True))
        elif v == "last_in_treatment":
            dc = _is(labels if labels is not None else _canonical_labels(d), "discharge")
            picks.append(_pick_last(later, gk, c["t_int"], c["y"], dc))
        else:
            # the discharge assessment: by its label where the episode has labels, else by date
            lo_dc, hi_dc = r.discharge_window
            has_tp = d["timepoint"].notna().to_numpy() if "timepoint" in d else None
            labelled = (
                (np.bincount(gk, weights=has_tp, minlength=_n_groups(gk)) > 0)[gk]
                if has_tp is not None
                else np.zeros(len(d), dtype=bool)
            )
            by_label = later & _tp_is(d, "discharge")
            a_dc = np.nan_to_num(c["after_dc"], nan=1e9)
            by_date = later & ~labelled & (a_dc >= lo_dc) & (a_dc <= hi_dc)
            dist = np.where(by_label, 0.0, a_dc)
            picks.append(_pick_nearest(by_label | by_date, gk, dist, c["tn"], c["y"]))
    end_pos = _first_alternative(gk, picks)
    role[end_pos] = R["endpoint"]
    if labels is not None:
        c["taken"][end_pos] = True


def _followups_by_date(d: pd.DataFrame, c: dict, r: EpisodeRules, role: np.ndarray) -> None:
    """Each follow-up: by label, or the score nearest its target day within its window."""
    R = _role_codes(r)
    valid, gk, labels, taken, after_dc = c["valid"], c["gk"], c["labels"], c["taken"], c["after_dc"]
    no_dc = np.all(np.isnan(after_dc))
    post = (valid & ~c["in_tx"] if not no_dc else valid & c["fu_label"]) & ~taken
    since_dc = np.where(np.isnan(after_dc), np.nan, after_dc)
    fu_choices = r.choices("followup")
    fu_labelled = {}
    if labels is not None and ("label", "followup") in fu_choices:
        for name in r.followup_windows:
            m = valid & ~taken & _is(labels, f"followup_{name}")
            pos = _pick_labelled(m, gk, c["t_int"], c["y"], c["days"], latest=False)
            fu_labelled[name] = (m, pos)
    for name, (a, b) in r.followup_windows.items():
        picks = []
        for kind, _ in fu_choices:
            if kind == "label":
                picks.append(fu_labelled[name][1])
                continue
            target = r.followup_targets[name]
            with np.errstate(invalid="ignore"):
                in_w = post & (since_dc >= a) & (since_dc <= b)
            if no_dc:
                # no discharge dates: follow-ups only by their labels
                in_w = post & _tp_is(d, f"followup_{name}")
                dist = np.zeros(len(d))
            else:
                dist = since_dc - target
            for other, (m, _) in fu_labelled.items():
                if other != name:  # a row labelled for another follow-up is never this one
                    in_w &= ~m
            picks.append(_pick_nearest(in_w, gk, np.nan_to_num(dist), c["tn"], c["y"]))
        pos = _first_alternative(gk, picks)
        role[pos] = R[f"followup_{name}"]


def _by_labels(d: pd.DataFrame, r: EpisodeRules, gk: np.ndarray, also=None) -> None:
    if "timepoint" not in d and "week" not in d:
        raise DataError(
            "Without assessment dates, episodes need 'timepoint' labels or 'week' numbers."
        )
    tp = (
        d["timepoint"].astype("str")
        if "timepoint" in d
        else pd.Series(None, index=d.index, dtype="str")
    )
    week = d["week"].astype("float64") if "week" in d else pd.Series(np.nan, index=d.index)
    week = week.fillna(tp.str.extract(r"^week_(\d+)$", expand=False).astype("float64"))
    week = week.mask(tp == "intake", 0.0)
    fu = tp.str.startswith("followup").fillna(False).to_numpy(dtype=bool)
    disc = (tp == "discharge").fillna(False).to_numpy(dtype=bool)
    valid = d["total"].notna().to_numpy()
    d["week"] = week.to_numpy()
    d["days"] = week.to_numpy() * 7
    t = np.where(disc, np.inf, week.to_numpy())
    in_tx = valid & ~fu & (disc | week.notna().to_numpy())
    d["in_treatment"] = in_tx
    role = np.zeros(len(d), dtype=np.int8)  # codes into _role_names(r)
    R = _role_codes(r)
    y = d["total"].to_numpy(dtype=float, na_value=np.nan)
    w = week.to_numpy()
    labels = _canonical_labels(d) if r.uses_labels else None
    taken = np.zeros(len(d), dtype=bool)
    picks = []
    for kind, v in r.choices("baseline"):
        if kind == "label":
            picks.append(_pick_labelled(valid & _is(labels, v), gk, t, y, w, latest=False))
        else:
            is_intake = (tp == "intake").fillna(False).to_numpy(dtype=bool)
            base_ok = in_tx & (is_intake | (week.to_numpy() == 0))
            picks.append(_pick_nearest(base_ok, gk, np.zeros(len(d)), t, y))
    base_pos = _first_alternative(gk, picks)
    role[base_pos] = R["baseline"]
    taken[base_pos] = labels is not None
    with_base = np.zeros(_n_groups(gk), dtype=bool)
    with_base[gk[base_pos]] = True
    has_base = with_base[gk]
    later = in_tx & has_base & (role != R["baseline"])
    role[later] = R["treatment"]
    role[in_tx & ~has_base] = R["no_baseline"]

    def endpoint(rules: EpisodeRules) -> np.ndarray:
        picks = []
        for kind, v in rules.choices("endpoint"):
            if kind == "label":
                # without dates, "after the baseline" is any other row of the episode
                m = valid & has_base & ~taken & _is(labels, v)
                picks.append(_pick_labelled(m, gk, t, y, w, latest=True))
            else:
                endpoint_ok = later & disc if v == "discharge_only" else later
                picks.append(_pick_last(endpoint_ok, gk, t, y, disc))
        return _first_alternative(gk, picks)

    other = None
    if also is not None:
        other = role.copy()
        other[endpoint(also)] = R["endpoint"]
    end_pos = endpoint(r)
    role[end_pos] = R["endpoint"]
    taken[end_pos] = labels is not None
    for name in r.followup_windows:
        picks = []
        for kind, _ in r.choices("followup"):
            if kind == "label":
                m = valid & ~taken & _is(labels, f"followup_{name}")
                picks.append(_pick_labelled(m, gk, t, y, w, latest=False))
            else:
                m = valid & (tp == f"followup_{name}").fillna(False).to_numpy(dtype=bool)
                picks.append(_pick_nearest(m, gk, np.zeros(len(d)), t, y))
        role[_first_alternative(gk, picks)] = R[f"followup_{name}"]
    d["role"] = _role_column(role, r)
    if other is not None:
        d["role_also"] = _role_column(_also_roles(role, other, r), r)


@validate_params(
    {
        "assessments": ["frame", "dask_frame"],
        "instrument": ["instruments", None],
        "rules": ["no_validation"],  # EpisodeRules, dict or None: coerce_rules checks it
    },
    renamed={"data": "assessments"},
)
def episodes(assessments: pd.DataFrame, *, instrument=None, rules=None) -> pd.DataFrame:
    """One row per treatment episode and instrument: baseline, endpoint, change, follow-ups.

    Parameters
    ----------
    assessments : DataFrame
        Validated assessments, ``iop.load(...).data`` (or any frame with the
        contract's columns ``episode_id``, ``instrument``, ``total`` and
        ``assessment_date`` or ``timepoint``/``week``).
    instrument : str, list of str or None
        The library's instrument rule: ``None`` (default) needs assessments of
        exactly one instrument (a ConfigError names those found and how to
        choose); a name keeps that instrument; a list, e.g.
        ``["PHQ-9", "GAD-7"]``, gives one row per episode and instrument (rows
        stacked, told apart by the ``instrument`` column; never pooled).
    rules : EpisodeRules or dict, optional
        Date-window rules (the defaults, see the module notes) or label rules
        (``{"baseline": "label:intake", ...}``, see :class:`EpisodeRules`).

    Returns
    -------
    DataFrame
        One row per episode (every episode in ``assessments``, also those without a
        score on the instrument) with ``episode_id``, ``patient_id``,
        ``instrument``, ``baseline``, ``baseline_date``, ``endpoint``,
        ``endpoint_date``, ``change`` (endpoint − baseline), ``endpoint_week``,
        ``followup_1m`` … ``followup_12m`` with ``_date`` columns,
        ``n_scores``, ``n_in_treatment`` (scores from baseline to endpoint),
        ``pair_status`` (``paired``, ``no_baseline``, ``no_endpoint``,
        ``no_scores``), episode facts (``admit_date``, ``discharge_date``,
        ``discharge_status``, ``los_days``) and the cohort columns carried
        through. ``df.attrs["rules"]`` records the rules used.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> sim = iop.synth.generate(n_episodes=100, seed=3)
    >>> ep = iop.episodes(iop.load(sim.data).data, instrument="PHQ-9")  # doctest: +SKIP
    >>> ep = iop.episodes(sim.data.assign(total=sim.data.filter(like="item_").sum(axis=1)),
    ...                   instrument="PHQ-9")
    >>> len(ep), ep["pair_status"].value_counts().to_dict()
    (100, {'paired': 92, 'no_endpoint': 8, 'no_baseline': 0, 'no_scores': 0})
    >>> bool((ep["change"] == ep["endpoint"] - ep["baseline"]).where(ep["change"].notna(), True).all())
    True
    """
    if is_dask(assessments):  # a Dask DataFrame: shuffled by episode, this per partition
        return episodes_dask(
            assessments, coerce_rules(rules), instrument, episodes, _instrument_rows
        )
    return episodes_and_roles(assessments, instrument=instrument, rules=rules)[0]


def episodes_and_roles(data: pd.DataFrame, *, instrument=None, rules=None) -> tuple:
    """:func:`episodes` and the :func:`assessment_roles` it was built from, from one pass.

    For callers that need both (``missing_data_sensitivity`` reads the weekly in-treatment
    scores by their roles): the roles are computed once. The parameters are checked as in
    :func:`episodes`. The roles frame has the columns the roles are computed from
    (``episode_id``, ``instrument``, ``total``, the dates, ``timepoint``, ``week``, and
    ``patient_id``), not the cohort or item columns, plus ``days``, ``in_treatment`` and
    ``role``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"episode_id": "e", "instrument": "PHQ-9", "total": [18.0, 9.0],
    ...     "assessment_date": pd.to_datetime(["2025-01-02", "2025-02-10"])})
    >>> ep, roles = episodes_and_roles(d)
    >>> ep["change"].tolist(), roles["role"].tolist()
    ([-9.0], ['baseline', 'endpoint'])
    """
    r = coerce_rules(rules)
    names = _instrument_rows(data, instrument, episodes)[1]
    # the episode ids are factorised once: the picks, the grid and the attributes use the codes
    ep_code, ep_uniques = pd.factorize(data["episode_id"])
    _check_label_rules(data, r)
    # the roles from the columns they are computed from: the other columns (items, cohort
    # columns) are not copied for every assessment row
    roles = _roles(data[[c for c in data.columns if c in _ROLE_INPUT]], instrument, r, ep_code)
    return _episode_table(data, names, roles, r, ep_code, ep_uniques), roles


def discharge_rules(rules) -> EpisodeRules:
    """The episode rules with the endpoint rule set to ``discharge_only`` (the endpoint
    ``missing_data_sensitivity`` needs: the discharge score, missing for episodes without
    one); a label endpoint without a ``last_in_treatment`` fallback (``"label:discharge"``)
    is kept.

    >>> discharge_rules(None).endpoint, discharge_rules({"endpoint": "label:discharge"}).endpoint
    ('discharge_only', 'label:discharge')
    """
    r = coerce_rules(rules)
    if r.endpoint != "discharge_only" and (
        "last_in_treatment" in r.endpoint.split(" else ") or not r.endpoint.startswith("label:")
    ):
        r = EpisodeRules(**{**r.to_dict(), "endpoint": "discharge_only"})
    return r


def episodes_with_discharge(data: pd.DataFrame, *, instrument, rules, discharge: str) -> tuple:
    """:func:`episodes` of ``instrument`` (one name or a list) and, from the same pass, the
    episode table and assessment roles of the instrument ``discharge`` under
    :func:`discharge_rules`: what ``missing_data_sensitivity`` builds for itself, for a caller
    that needs both (the report: every section then uses episodes of this one pass).

    Returns ``(episodes, discharge episodes, discharge roles)``; the roles frame has the
    columns the sensitivity analysis reads (``episode_id``, ``week``, ``total``, ``role``).
    When both rules read the timepoint labels alike, the discharge endpoint is picked in the
    same pass and the discharge table's follow-ups are those of the study's rules (a label
    endpoint rule can set a row aside from them that the discharge rule would not; the
    sensitivity analysis does not use follow-ups); when only the study's rule reads labels
    (``"label:discharge else last_in_treatment"``, whose discharge rule is by date), the
    discharge roles take a pass of their own, as ``assessment_roles`` would.

    >>> d = pd.DataFrame({"episode_id": "e", "instrument": "PHQ-9", "total": [18.0, 12.0, 9.0],
    ...     "assessment_date": pd.to_datetime(["2025-01-02", "2025-02-01", "2025-02-10"]),
    ...     "discharge_date": pd.Timestamp("2025-02-20")})
    >>> ep, dis, roles = episodes_with_discharge(d, instrument="PHQ-9", rules=None,
    ...                                          discharge="PHQ-9")
    >>> ep["endpoint"].tolist(), dis["endpoint"].tolist(), roles["role"].tolist()
    ([9.0], [nan], ['baseline', 'treatment', 'treatment'])
    """
    r = coerce_rules(rules)
    r_dis = discharge_rules(r)
    names = _instrument_rows(data, instrument, episodes)[1]
    ep_code, ep_uniques = pd.factorize(data["episode_id"])
    _check_label_rules(data, r)
    cols = [c for c in data.columns if c in _ROLE_INPUT]
    # one pass picks both endpoints when the two rules read the labels alike (a rule that
    # reads labels sets the labelled baseline and endpoint aside from the follow-ups);
    # otherwise the discharge rule's roles are a pass of their own over that instrument
    both = r_dis != r and r_dis.uses_labels == r.uses_labels
    roles = _roles(data[cols], instrument, r, ep_code, also=r_dis if both else None)
    table = _episode_table(data, names, roles, r, ep_code, ep_uniques)
    if r_dis == r or both:
        is_dis = (roles["instrument"] == discharge).to_numpy(dtype=bool)
        also = "role_also" if both else "role"
        dis_roles = roles.loc[is_dis].drop(columns=["role"] if both else [])
        del roles
        dis_roles = dis_roles.rename(columns={also: "role"})
    else:
        del roles
        dis_roles = _roles(data[cols], discharge, r_dis, ep_code)
    dis_table = _episode_table(data, [discharge], dis_roles, r_dis, ep_code, ep_uniques)
    return table, dis_table, dis_roles[["episode_id", "week", "total", "role"]]


def _episode_table(data, names: list, roles, r, ep_code, ep_uniques) -> pd.DataFrame:
    """The episode table of :func:`episodes` from the assessment roles."""
    date_col = "assessment_date" if "assessment_date" in roles else None

    # the output grid, in its final order (instrument as named, then episode_id): one row per
    # instrument and episode, addressed by integer codes
    ep_ids, by_id = pd.Index(ep_uniques, name="episode_id").sort_values(return_indexer=True)
    n_ep = len(ep_ids)
    ep_rank = np.empty(n_ep + 1, dtype=np.int64)
    ep_rank[by_id] = np.arange(n_ep)
    ep_rank[n_ep] = -1  # a missing episode_id (code -1) belongs to no row
    out = pd.DataFrame(
        {
            "episode_id": ep_ids[np.tile(np.arange(n_ep), len(names))],
            "instrument": np.repeat(np.array(names, dtype=object), n_ep),
        }
    )
    n_out = len(out)
    # each role row's output row: instrument position * n_episodes + episode rank
    r_rank = _rows_of(data, roles, ep_code)
    if r_rank is not None:
        r_rank = ep_rank[r_rank]  # code -1 → ep_rank[-1] = -1
    else:
        r_code, r_uniques = pd.factorize(roles["episode_id"])
        r_rank = np.append(ep_ids.get_indexer(r_uniques), -1)[r_code]
    i_code, i_uniques = pd.factorize(roles["instrument"])
    inst_pos = {n: i for i, n in enumerate(names)}
    i_pos = np.array([inst_pos.get(u, -1) for u in i_uniques] + [-1], dtype=np.int64)[i_code]
    row = np.where((r_rank >= 0) & (i_pos >= 0), i_pos * n_ep + r_rank, -1)
    role_code, role_names = pd.factorize(roles["role"])
    role_of = {str(v): k for k, v in enumerate(role_names)}

    def rows_with(role: str) -> tuple[np.ndarray, np.ndarray]:
        """The role's rows (positions in roles) and their output rows."""
        hit = (role_code == role_of.get(role, -2)) & (row >= 0)
        return np.nonzero(hit)[0], row[hit]

    def take(values: pd.Series, pos: np.ndarray, at: np.ndarray) -> np.ndarray:
        """``values[pos]`` placed at output rows ``at``; missing elsewhere (dtype as reindex)."""
        src = np.full(n_out, -1, dtype=np.int64)
        src[at] = pos
        return values.reset_index(drop=True).reindex(src).to_numpy()

    def pick(role: str, prefix: str) -> None:
        pos, at = rows_with(role)
        out[prefix] = take(roles["total"], pos, at)
        if date_col:
            out[f"{prefix}_date"] = take(roles[date_col], pos, at)
        if prefix == "endpoint":
            out["endpoint_week"] = take(roles["week"], pos, at)

    pick("baseline", "baseline")
    pick("endpoint", "endpoint")
    out["change"] = out["endpoint"] - out["baseline"]
    for name in r.followup_windows:
        pick(f"followup_{name}", f"followup_{name}")
    counted = row >= 0
    out["n_scores"] = np.bincount(row[counted], minlength=n_out).astype(np.int64)
    # scores from baseline through endpoint (the endpoint is the last one counted)
    tx = np.isin(
        role_code, [role_of[x] for x in ("baseline", "treatment", "endpoint") if x in role_of]
    )
    tx &= counted
    end_week = out["endpoint_week"].to_numpy(dtype=float)[row[tx]]
    week = roles["week"].to_numpy(dtype=float, na_value=np.nan)[tx]
    kept = np.isnan(end_week) | (week <= end_week)
    out["n_in_treatment"] = np.bincount(row[tx][kept], minlength=n_out).astype(np.int64)
    status = np.where(
        out["n_scores"] == 0,
        "no_scores",
        np.where(
            out["baseline"].isna(),
            "no_baseline",
            np.where(out["endpoint"].isna(), "no_endpoint", "paired"),
        ),
    )
    out["pair_status"] = pd.Categorical(
        status, categories=["paired", "no_endpoint", "no_baseline", "no_scores"]
    )

    # episode attributes: first non-missing value per episode, across all instruments
    carry = [
        c
        for c in data.columns
        if c not in _ASSESSMENT_COLS and not c.startswith("item_") and c != "episode_id"
    ]
    if carry:
        rank = ep_rank[ep_code]
        known = rank >= 0
        src = data[carry] if known.all() else data.loc[known, carry]
        attrs = src.groupby(rank[known], sort=True).first()  # row k: the episode ranked k
        clash = set(carry) & set(out.columns)
        if clash:  # a carried column named like an output column: the merge's suffixes
            attrs.index = ep_ids
            out = out.merge(attrs, left_on="episode_id", right_index=True, how="left")
        else:
            at = np.tile(np.arange(n_ep), len(names))
            out = pd.concat([out, attrs.take(at).reset_index(drop=True)], axis=1)
    if "admit_date" in out and "discharge_date" in out:
        out["los_days"] = (out["discharge_date"] - out["admit_date"]).dt.days
    lead = ["episode_id", "patient_id", "instrument"]
    rest = [c for c in out.columns if c not in lead]
    out = out[[c for c in lead if c in out.columns] + rest]
    out["instrument"] = out["instrument"].astype("str")
    out = out.reset_index(drop=True)
    out.attrs["rules"] = r.to_dict()
    out.attrs["rules_text"] = r.describe()
    return out
