"""Symptom change per episode, group summaries, severity shifts and US quality measures.

Four public functions:

- :func:`change_scores` adds per-episode change, percent change, response,
  remission, minimal-clinically-important improvement and severity bands;
- :func:`change_summary` summarises them by any grouping (means, SDs, mean
  change with a t interval, pre–post correlation, rates with Wilson intervals);
- :func:`severity_shift` cross-tabulates baseline band × endpoint band;
- :func:`quality_measures` computes NCQA HEDIS DRR-E and CMS159 from
  assessment-level PHQ-9 data.

Every threshold comes from the instrument registry (``iop.instruments``), where
each number carries its citation; reliable change and clinical significance
(Jacobson–Truax, NHS Talking Therapies) live in :mod:`iop_outcomes.clinsig`.

Conventions: ``change = endpoint − baseline`` (negative = improvement on
lower-is-better scales such as PHQ-9 and GAD-7). Threshold comparisons allow a
tolerance of ``1e-9`` so floating-point noise in prorated totals cannot flip a
boundary (an integer score exactly at a threshold is always treated exactly).
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import instruments as _instruments
from ._grouping import DEFAULT_AGE_BANDS, group_columns
from ._results import MISSING_GROUP, TableResult, format_p
from ._stats import mean_ci, wilson_ci
from .exceptions import ConfigError, DataError, InstrumentError, IOPWarning

__all__ = [
    "change_scores",
    "change_summary",
    "severity_shift",
    "quality_measures",
    "ChangeSummaryResult",
    "SeverityShiftResult",
    "QualityMeasureResult",
    "DEFAULT_AGE_BANDS",
]

#: Lower bounds of the default age bands: <18, 18-25, 26-35, 36-50, 51-64, 65+.

_TOL = 1e-9
_OVERALL = "Overall"
#: Groupings derived when the data lack them: name -> the column they are computed from.


# --------------------------------------------------------------------------- input checks
def _check_frame(df, fn: str, required: Sequence[str], param: str = "episodes") -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"The '{param}' parameter of {fn} must be a pandas DataFrame. "
            f"Got {type(df).__name__} instead."
        )
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{fn} needs column(s) {missing}, which the data lack. "
            f"Columns present: {[str(c) for c in df.columns]}."
        )
    return df


def _numeric(df: pd.DataFrame, col: str, fn: str) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        raise DataError(f"{fn}: column {col!r} must hold scores (numbers). Got booleans instead.")
    if not pd.api.types.is_numeric_dtype(s):
        conv = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & conv.isna()
        if bad.any():
            examples = s[bad].astype(str).unique()[:5].tolist()
            raise DataError(
                f"{fn}: column {col!r} must hold scores (numbers). "
                f"{int(bad.sum())} value(s) are not numeric, e.g. {examples}."
            )
        s = conv
    return s.to_numpy(dtype=float, na_value=np.nan)


def _resolve_instruments(
    df: pd.DataFrame, instrument, fn: str
) -> tuple[np.ndarray, list[_instruments.Instrument]]:
    """Per-row integer codes into a list of unique (canonical) instruments."""
    n = len(df)
    if instrument is not None:
        try:
            inst = _instruments.get(instrument)
        except InstrumentError as exc:
            raise ConfigError(f"The 'instrument' parameter of {fn}: {exc}") from None
        if "instrument" in df.columns:
            vals = pd.unique(df["instrument"].dropna().astype(str))
            other = [v for v in vals if _instruments.canonical_name(v) != inst.name]
            if other:
                raise DataError(
                    f"{fn}: instrument={inst.name!r} was given, but the 'instrument' column also "
                    f"holds {other[:5]}. Filter the rows to one instrument, or omit instrument= "
                    "to use the column."
                )
        return np.zeros(n, dtype=np.intp), [inst]
    if "instrument" not in df.columns:
        raise DataError(
            f"{fn} needs to know the instrument: the data have no 'instrument' column. "
            "Pass instrument='PHQ-9' (or another registered name)."
        )
    col = df["instrument"]
    if col.isna().any():
        raise DataError(
            f"{fn}: {int(col.isna().sum())} row(s) have no instrument. "
            "Fill the 'instrument' column or pass instrument=."
        )
    codes, spellings = pd.factorize(col.astype(str))  # order of first appearance
    canon = [_instruments.canonical_name(name) for name in spellings]
    unknown = [name for name, c in zip(spellings, canon, strict=True) if c is None]
    if unknown:
        raise DataError(
            f"{fn}: unknown instrument(s) {unknown[:5]} in the 'instrument' column. "
            f"Known: {_instruments.names()}. Register your own with iop.instruments.register()."
        )
    uniq = list(dict.fromkeys(canon))  # several spellings may name one instrument
    remap = np.array([uniq.index(c) for c in canon], dtype=np.intp)
    return remap[codes], [_instruments.get(u) for u in uniq]


def _param(insts: list, codes: np.ndarray, attr: str, override, arg: str, fn: str) -> np.ndarray:
    """Per-row float parameter (NaN where the instrument has none)."""
    vals = []
    for inst in insts:
        v = getattr(inst, attr)
        if override is not None:
            if isinstance(override, dict):
                keyed = {
                    _instruments.canonical_name(str(k)) or str(k): x for k, x in override.items()
                }
                v = keyed.get(inst.name, v)
            else:
                v = override
        try:
            vals.append(np.nan if v is None else float(v))
        except (TypeError, ValueError):
            raise ConfigError(
                f"The '{arg}' parameter of {fn} must be a number or a dict of numbers by "
                f"instrument. Got {override!r} instead."
            ) from None
    return np.asarray(vals, dtype=float)[codes]


def _merged_band_order(insts: list) -> tuple[list[str], bool]:
    """Union of band labels in severity order (Kahn's algorithm, ties by first appearance)."""
    labels: list[str] = []
    for inst in insts:
        for lab in inst.band_labels:
            if lab not in labels:
                labels.append(lab)
    succ: dict[str, set[str]] = {lab: set() for lab in labels}
    indeg = dict.fromkeys(labels, 0)
    for inst in insts:
        bl = inst.band_labels
        for a, b in zip(bl[:-1], bl[1:], strict=True):
            if b not in succ[a]:
                succ[a].add(b)
                indeg[b] += 1
    order, ready = [], [lab for lab in labels if indeg[lab] == 0]
    while ready:
        ready.sort(key=labels.index)
        cur = ready.pop(0)
        order.append(cur)
        for b in succ[cur]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    if len(order) < len(labels):  # conflicting orders: keep the labels, drop the ordering
        return labels, False
    return order, True


def _bands(values: np.ndarray, codes: np.ndarray, insts: list, index) -> pd.Series:
    """Severity band per row as an (ordered) categorical, built from integer codes."""
    order, ordered = _merged_band_order(insts)
    pos = {lab: i for i, lab in enumerate(order)}
    out = np.full(len(values), -1, dtype=np.int64)
    for k, inst in enumerate(insts):
        m = codes == k
        if not m.any():
            continue
        edges = np.asarray(inst.band_edges(), dtype=float)  # right-closed: (e_j, e_j+1]
        lut = np.array([pos[lab] for lab in inst.band_labels], dtype=np.int64)
        v = values[m]
        j = np.clip(np.searchsorted(edges, v, side="left") - 1, 0, len(lut) - 1)
        ok = (v > edges[0]) & (v <= edges[-1])  # False for NaN
        out[m] = np.where(ok, lut[j], -1)
    cat = pd.Categorical.from_codes(out, categories=order, ordered=ordered)
    return pd.Series(cat, index=index)


# --------------------------------------------------------------------------- change scores
@dataclass
class _Scored:
    frame: pd.DataFrame  # input columns + the new per-episode columns
    inst_name: np.ndarray  # canonical instrument per row
    insts: list
    codes: np.ndarray
    lower: np.ndarray  # better_is == "lower" per row


ZERO_BASELINE = ("undefined", "not_responding")


def _score(
    episodes, instrument, mid, remission_below, fn: str, zero_baseline: str = "undefined"
) -> _Scored:
    if zero_baseline not in ZERO_BASELINE:
        raise ConfigError(
            f"The 'zero_baseline' parameter of {fn} must be one of {list(ZERO_BASELINE)}. "
            f"Got {zero_baseline!r} instead."
        )
    df = _check_frame(episodes, fn, ("baseline", "endpoint"))
    codes, insts = _resolve_instruments(df, instrument, fn)
    b = _numeric(df, "baseline", fn)
    e = _numeric(df, "endpoint", fn)
    lower = np.array([i.better_is == "lower" for i in insts], dtype=bool)[codes]
    mid_v = _param(insts, codes, "mid", mid, "mid", fn)
    rem_v = _param(insts, codes, "remission_below", remission_below, "remission_below", fn)

    change = e - b
    paired = ~np.isnan(b) & ~np.isnan(e)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(paired & (b != 0), 100.0 * change / b, np.nan)
        improvement = np.where(lower, b - e, e - b)
        # (b - e) / b >= 0.5 without dividing; a baseline of 0 has nothing to halve
        response = (2.0 * (b - e) - b >= -_TOL) & (b > 0)
        remission = e < rem_v - _TOL
        mcid = improvement >= mid_v - _TOL
    resp_def = paired & lower & ((b > 0) | (zero_baseline == "not_responding"))
    rem_def = ~np.isnan(e) & lower & ~np.isnan(rem_v)
    mcid_def = paired & ~np.isnan(mid_v)

    out = df.copy()
    if "change" in df.columns:
        old = pd.to_numeric(df["change"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        both = ~np.isnan(old) & paired
        if np.any(np.abs(old[both] - change[both]) > 1e-6):
            warnings.warn(
                f"{fn}: the input 'change' column disagrees with endpoint − baseline in "
                f"{int(np.sum(np.abs(old[both] - change[both]) > 1e-6))} row(s); it was "
                "recomputed as endpoint − baseline.",
                IOPWarning,
                stacklevel=3,
            )
    out["change"] = change
    out["pct_change"] = pct
    out["response"] = pd.array(np.where(resp_def, response, False), dtype="boolean")
    out.loc[~resp_def, "response"] = pd.NA
    out["remission"] = pd.array(np.where(rem_def, remission, False), dtype="boolean")
    out.loc[~rem_def, "remission"] = pd.NA
    out["mcid_improved"] = pd.array(np.where(mcid_def, mcid, False), dtype="boolean")
    out.loc[~mcid_def, "mcid_improved"] = pd.NA
    out["baseline_band"] = _bands(b, codes, insts, df.index)
    out["endpoint_band"] = _bands(e, codes, insts, df.index)

    higher = [i.name for i in insts if i.better_is != "lower"]
    if higher:
        warnings.warn(
            f"{fn}: {higher} are higher-is-better instruments; 'response' (a 50 % reduction) "
            "and 'remission' (score below a cut-off) are not defined for them and are left NA. "
            "Change, percent change, MCID improvement (in the improving direction) and bands "
            "are computed.",
            IOPWarning,
            stacklevel=3,
        )
    names = np.array([i.name for i in insts], dtype=object)[codes]
    return _Scored(out, names, insts, codes, lower)


def change_scores(
    episodes, *, instrument=None, mid=None, remission_below=None, zero_baseline="undefined"
) -> pd.DataFrame:
    r"""Per-episode change, percent change, response, remission, MCID improvement and bands.

    Returns a new DataFrame with the same rows in the same order as
    ``episodes`` and these columns added (``change`` is recomputed if present):

    ``change``
        :math:`\text{endpoint} - \text{baseline}` (negative = improvement on
        PHQ-9 / GAD-7).
    ``pct_change``
        :math:`100\,(\text{endpoint} - \text{baseline})/\text{baseline}`; NaN when
        the baseline is 0 (undefined) or a score is missing.
    ``response``
        At least a 50 % reduction:
        :math:`(\text{baseline} - \text{endpoint})/\text{baseline} \ge 0.5`, defined
        only when ``baseline > 0`` (computed without division, as
        :math:`2(b - e) \ge b`, so exactly 50 % counts). The response definition
        of NCQA HEDIS DRR-E and MN Community Measurement. With
        ``zero_baseline="not_responding"`` a paired episode with baseline 0 is
        ``False`` instead of NA (see below).
    ``remission``
        :math:`\text{endpoint} < c`, with :math:`c` = the instrument's
        ``remission_below`` (PHQ-9: 5, as HEDIS DRR-E and CMS159; GAD-7: 5).
        Needs only the endpoint; it does not require the baseline to be above
        the cut-off (filter on ``baseline`` for that).
    ``mcid_improved``
        Improvement of at least the minimal clinically important difference:
        :math:`\text{baseline} - \text{endpoint} \ge \text{MID}` (PHQ-9: 5 points,
        Löwe et al. 2004; GAD-7: 4 points, Toussaint et al. 2020 — the
        instrument's ``mid`` and ``mid_source``).
    ``baseline_band``, ``endpoint_band``
        Severity band of each score (the instrument's published bands), as an
        ordered categorical (ordered mildest first); with several instruments the
        categories are the union of their labels in severity order.

    The flags are nullable booleans: NA where a score (or the instrument's
    threshold) is missing. Works for several instruments in one table: each
    row's thresholds come from its own instrument.

    Parameters
    ----------
    episodes : DataFrame
        The episode table (``iop.episodes``) or any DataFrame with ``baseline``
        and ``endpoint`` columns.
    instrument : str or Instrument, optional
        Needed when there is no ``instrument`` column; if both are given they
        must agree.
    mid, remission_below : float or dict, optional
        Override the registry's MID / remission cut-off (one number for all
        instruments, or ``{"PHQ-9": 5, ...}``).
    zero_baseline : {"undefined", "not_responding"}
        Response of a paired episode whose baseline is 0, where a 50 % reduction
        is undefined (:math:`0/0`). ``"undefined"`` (default): NA, so rates of
        response are among episodes with a baseline above 0 (HEDIS DRR-E avoids
        the case by requiring an index score above 9). ``"not_responding"``:
        ``False`` — such an episode had no symptoms to halve and is counted as
        not responding, so response shares its denominator (the paired
        episodes) with remission and MCID improvement; the shareable report
        uses this, so that the response rate's n never differs from the paired
        n by the (possibly small) number of zero baselines.

    Notes
    -----
    Higher-is-better instruments (``better_is="higher"``): ``mcid_improved``
    uses :math:`\text{endpoint} - \text{baseline} \ge \text{MID}`; ``response``
    and ``remission`` are undefined (NA) and an :class:`IOPWarning` says so.
    Comparisons allow a ``1e-9`` tolerance for floating-point noise.

    References
    ----------
    Löwe B, Unützer J, Callahan CM, Perkins AJ, Kroenke K (2004). Monitoring
    depression treatment outcomes with the Patient Health Questionnaire-9.
    Med Care 42:1194–1201.
    Toussaint A et al. (2020). Sensitivity to change and minimal clinically
    important difference of the GAD-7. J Affect Disord 265:395–401.
    Kroenke K, Spitzer RL, Williams JBW (2001). The PHQ-9. J Gen Intern Med
    16:606–613.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [20, 10, 12], "endpoint": [10, 4, 9]})
    >>> out = iop.change_scores(ep, instrument="PHQ-9")
    >>> out[["change", "pct_change", "response", "remission", "mcid_improved"]]
       change  pct_change  response  remission  mcid_improved
    0   -10.0       -50.0      True      False           True
    1    -6.0       -60.0      True       True           True
    2    -3.0       -25.0     False      False          False
    >>> out["endpoint_band"].tolist()
    ['moderate', 'minimal', 'mild']
    """
    return _score(episodes, instrument, mid, remission_below, "change_scores", zero_baseline).frame


def _label_missing(table: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        if c in table.columns and table[c].isna().any():
            table[c] = table[c].astype(object).where(table[c].notna(), MISSING_GROUP)
    return table


# --------------------------------------------------------------------------- change summary
def _group_stats(w: pd.DataFrame, keys: list[str], ci_level: float) -> pd.DataFrame:
    g = w.groupby(keys, dropna=False, observed=True, sort=True)
    res = pd.DataFrame(
        {
            "n_episodes": g.size(),
            "n_paired": g["paired"].sum().astype(int),
            "baseline_mean": g["b"].mean(),
            "baseline_sd": g["b"].std(ddof=1),
            "endpoint_mean": g["e"].mean(),
            "endpoint_sd": g["e"].std(ddof=1),
            "mean_change": g["d"].mean(),
            "sd_change": g["d"].std(ddof=1),
        }
    )
    n = res["n_paired"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = res["sd_change"].to_numpy() / np.sqrt(n)
        lo, hi = mean_ci(res["mean_change"].to_numpy(), res["sd_change"].to_numpy(), n, ci_level)
        df_ = np.where(n > 1, n - 1, np.nan)
        t = res["mean_change"].to_numpy() / se
        p = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(t), df_), np.nan)
    res["se_change"] = se
    res["change_ci_low"] = lo
    res["change_ci_high"] = hi
    res["df"] = df_
    res["statistic"] = t
    res["pvalue"] = p
    # Pearson pre-post correlation from within-group deviations (numerically stable).
    bc = w["b"] - g["b"].transform("mean")
    ec = w["e"] - g["e"].transform("mean")
    tmp = pd.DataFrame({"xy": bc * ec, "xx": bc * bc, "yy": ec * ec})
    for k in keys:
        tmp[k] = w[k]
    sums = tmp.groupby(keys, dropna=False, observed=True, sort=True)[["xy", "xx", "yy"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])
    res["r_pre_post"] = r.where(res["n_paired"] >= 2)
    for flag in ("response", "remission", "mcid"):
        k = g[flag].sum()
        nn = g[flag].count()
        lo, hi = wilson_ci(k.to_numpy(), nn.to_numpy(), ci_level)
        with np.errstate(invalid="ignore", divide="ignore"):
            res[f"{flag}_k"] = k.astype(int)
            res[f"{flag}_n"] = nn.astype(int)
            res[f"{flag}_rate"] = np.where(nn > 0, k / nn, np.nan)
        res[f"{flag}_ci_low"] = lo
        res[f"{flag}_ci_high"] = hi
    return res


@dataclass(frozen=True, repr=False)
class ChangeSummaryResult(TableResult):
    """Change summary: one row per group (numeric, unrounded) plus a compact printout.

    ``to_frame()`` returns the wide numeric table; ``to_long()`` one row per
    group and statistic in the shared vocabulary (``estimate``, ``se``,
    ``ci_low``, ``ci_high``, ``n``, ``method``).
    """

    group_cols: tuple[str, ...] = ()
    ci_level: float = 0.95
    #: what each column counts (``TableResult.roles``); the interval and p-value give n back
    #: (a t interval's width, with the SDs and r), the means and SDs only when n is small
    roles: dict = field(
        default_factory=lambda: {
            "n_episodes": "count",
            "n_paired": "count of n_episodes",
            "baseline_mean": "statistic of n_paired",
            "baseline_sd": "statistic of n_paired",
            "endpoint_mean": "statistic of n_paired",
            "endpoint_sd": "statistic of n_paired",
            "mean_change": "statistic of n_paired",
            "r_pre_post": "statistic of n_paired",
            "change_ci_low": "from n_paired",
            "change_ci_high": "from n_paired",
            "pvalue": "from n_paired",
            "sd_change": "statistic of n_paired",
            "se_change": "from n_paired",
            "df": "from n_paired",
            "statistic": "from n_paired",
            **{
                f"{m}_{c}": role
                for m in ("response", "remission", "mcid")
                for c, role in (
                    ("n", "count"),
                    ("k", f"count of {m}_n"),
                    ("rate", f"from {m}_k, {m}_n"),
                    ("ci_low", f"from {m}_k, {m}_n"),
                    ("ci_high", f"from {m}_k, {m}_n"),
                )
            },
        },
        repr=False,
    )

    def to_long(self) -> pd.DataFrame:
        t = self.table
        keys = ["instrument", *self.group_cols]
        pct = f"{100 * self.ci_level:g}%"
        parts = []
        spec = [
            ("baseline_mean", "baseline_mean", None, None, None, "n_paired", "mean of paired"),
            ("endpoint_mean", "endpoint_mean", None, None, None, "n_paired", "mean of paired"),
            (
                "mean_change",
                "mean_change",
                "se_change",
                "change_ci_low",
                "change_ci_high",
                "n_paired",
                f"paired mean change, t interval (df = n - 1), {pct}",
            ),
            ("r_pre_post", "r_pre_post", None, None, None, "n_paired", "Pearson r"),
        ]
        for flag in ("response", "remission", "mcid"):
            spec.append(
                (
                    f"{flag}_rate",
                    f"{flag}_rate",
                    None,
                    f"{flag}_ci_low",
                    f"{flag}_ci_high",
                    f"{flag}_n",
                    f"proportion, Wilson score interval, {pct}",
                )
            )
        for name, est, se, lo, hi, n, method in spec:
            d = t[keys].copy()
            d["statistic"] = name
            d["estimate"] = t[est]
            d["se"] = t[se] if se else np.nan
            d["ci_low"] = t[lo] if lo else np.nan
            d["ci_high"] = t[hi] if hi else np.nan
            d["ci_level"] = self.ci_level if lo else np.nan
            d["n"] = t[n]
            d["method"] = method
            parts.append(d)
        return pd.concat(parts, ignore_index=True)

    def _display(self) -> pd.DataFrame:
        t = self.table

        def msd(m, s):
            return [
                "" if np.isnan(a) else (f"{a:.2f} ({b:.2f})" if not np.isnan(b) else f"{a:.2f}")
                for a, b in zip(t[m], t[s], strict=True)
            ]

        def est_ci(e, lo, hi, scale=1.0, digits=2):
            return [
                ""
                if np.isnan(a)
                else (
                    f"{scale * a:.{digits}f}"
                    if np.isnan(b)
                    else f"{scale * a:.{digits}f} [{scale * b:.{digits}f}, {scale * c:.{digits}f}]"
                )
                for a, b, c in zip(t[e], t[lo], t[hi], strict=True)
            ]

        d = pd.DataFrame(index=t.index)
        for k in ["instrument", *self.group_cols]:
            d[k] = t[k].astype(str)
        d["n"] = [f"{x:,}" for x in t["n_episodes"]]
        d["paired"] = [f"{x:,}" for x in t["n_paired"]]
        d["baseline M (SD)"] = msd("baseline_mean", "baseline_sd")
        d["endpoint M (SD)"] = msd("endpoint_mean", "endpoint_sd")
        ci = f"{100 * self.ci_level:g}% CI"
        d[f"change [{ci}]"] = est_ci("mean_change", "change_ci_low", "change_ci_high")
        d["p"] = [format_p(x) for x in t["pvalue"]]
        d["r"] = ["" if np.isnan(x) else f"{x:.2f}" for x in t["r_pre_post"]]
        for flag, lab in (("response", "response"), ("remission", "remission"), ("mcid", "MCID")):
            d[f"{lab} % [{ci}]"] = est_ci(
                f"{flag}_rate", f"{flag}_ci_low", f"{flag}_ci_high", scale=100.0, digits=1
            )
        return d

    def summary(self) -> str:
        body = self._display().to_string(index=False)
        return "\n".join([self.title, body, *self._footer()])

    def _repr_html_(self) -> str:
        table = self._display().to_html(index=False, border=0, classes="iop-table")
        head = f"<p><strong>{html.escape(self.title)}</strong></p>"
        foot = "".join(f"<br><small>{html.escape(s)}</small>" for s in self._footer())
        return f"<div>{head}{table}{foot}</div>"


def _definition_notes(insts: list, mid, remission_below, zero_baseline="undefined") -> list[str]:
    notes = []
    zero = (
        "baseline > 0"
        if zero_baseline == "undefined"
        else "a baseline of 0 counts as not responding"
    )
    for inst in insts:
        if inst.better_is != "lower":
            notes.append(f"{inst.name}: higher is better; response and remission undefined (NA).")
            continue
        rem = _param(
            [inst], np.zeros(1, dtype=np.intp), "remission_below", remission_below, "", ""
        )[0]
        md = _param([inst], np.zeros(1, dtype=np.intp), "mid", mid, "", "")[0]
        rem_txt = "undefined" if np.isnan(rem) else f"endpoint < {rem:g}"
        mid_txt = "undefined" if np.isnan(md) else f"baseline - endpoint >= {md:g}"
        src = inst.mid_source if mid is None else "user-supplied"
        notes.append(
            f"{inst.name}: response = (baseline - endpoint)/baseline >= 0.5 ({zero}); "
            f"remission = {rem_txt}; MCID improvement = {mid_txt} ({src})."
        )
    return notes


def change_summary(
    episodes,
    *,
    by=None,
    instrument=None,
    ci_level: float = 0.95,
    age_bands: Sequence[float] | None = None,
    mid=None,
    remission_below=None,
    zero_baseline: str = "undefined",
) -> ChangeSummaryResult:
    r"""Change summary per group: means, SDs, mean change with CI, pre–post r, rates with CIs.

    For each instrument and group (plus an ``Overall`` row per instrument):
    ``n_episodes`` (rows), ``n_paired`` (episodes with both baseline and
    endpoint), baseline and endpoint mean and SD, mean change with its
    t interval, SD and SE of change, the paired t statistic and p-value,
    the pre–post Pearson correlation, and the rates of response, remission
    and MCID improvement (definitions in :func:`change_scores`) with Wilson
    score intervals.

    .. math::
        \bar d \pm t_{1-\alpha/2,\,n-1}\, s_d/\sqrt{n}, \qquad
        r = \frac{\sum (b_i-\bar b)(e_i-\bar e)}{\sqrt{\sum (b_i-\bar b)^2 \sum (e_i-\bar e)^2}}

    Every statistic uses the **paired** episodes only (baseline and endpoint
    both present), so the baseline mean, endpoint mean and mean change
    describe the same people; ``n_episodes - n_paired`` lack a score.

    Parameters
    ----------
    episodes : DataFrame
        Episode table or any DataFrame with ``baseline`` and ``endpoint``.
    by : str or list of str, optional
        Grouping column(s), e.g. ``"format"``, ``"site"``, ``"cohort"``,
        ``"gender_identity"``. Two groupings are derived when the column is
        absent: ``"admit_quarter"`` from ``admit_date`` (``"2025Q1"``) and
        ``"age_band"`` from ``age`` (see ``age_bands``). Missing group values
        form their own group, labelled ``"(missing)"``.
    instrument : str, optional
        Needed when there is no ``instrument`` column.
    ci_level : float
        Confidence level of every interval (default 0.95).
    age_bands : sequence of numbers, optional
        Lower bounds of the age bands, left-closed: the default
        ``(18, 26, 36, 51, 65)`` gives ``<18``, ``18-25``, ``26-35``,
        ``36-50``, ``51-64``, ``65+`` (an age of 25.9 is in ``18-25``).
    mid, remission_below, zero_baseline : optional
        Passed to :func:`change_scores`. ``zero_baseline="not_responding"`` counts
        paired episodes with baseline 0 as not responding, so ``response_n``
        equals ``n_paired``.

    Returns
    -------
    ChangeSummaryResult
        ``to_frame()``: one row per group (``instrument``, group columns,
        counts, ``baseline_mean`` … ``mean_change``, ``change_ci_low``,
        ``change_ci_high``, ``statistic``, ``df``, ``pvalue``, ``r_pre_post``,
        ``response_k``/``_n``/``_rate``/``_ci_low``/``_ci_high`` and the same
        for ``remission`` and ``mcid``); ``to_long()``: tidy rows.

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and
    statistical inference. JASA 22:209–212 (as R ``prop.test(correct=FALSE)``).

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"instrument": "PHQ-9", "format": ["virtual"] * 3 + ["in_person"] * 3,
    ...                    "baseline": [18, 15, 20, 16, 12, 22], "endpoint": [8, 9, 4, 12, 10, 11]})
    >>> res = iop.change_summary(ep, by="format")
    >>> res.to_frame()[["format", "n_paired", "mean_change", "response_k"]]
          format  n_paired  mean_change  response_k
    0    Overall         6    -8.166667           3
    1  in_person         3    -5.666667           1
    2    virtual         3   -10.666667           2
    """
    fn = "change_summary"
    if not (isinstance(ci_level, float | int) and 0 < ci_level < 1):
        raise ConfigError(
            f"The 'ci_level' parameter of {fn} must be a number in (0, 1). Got {ci_level!r} instead."
        )
    sc = _score(episodes, instrument, mid, remission_below, fn, zero_baseline)
    f = sc.frame
    groups, cols = group_columns(f, by, fn, age_bands)
    paired = f["baseline"].notna().to_numpy() & f["endpoint"].notna().to_numpy()
    b = _numeric(f, "baseline", fn)
    e = _numeric(f, "endpoint", fn)
    w = pd.DataFrame(
        {
            "instrument": sc.inst_name,
            "paired": paired,
            "b": np.where(paired, b, np.nan),
            "e": np.where(paired, e, np.nan),
            "d": np.where(paired, e - b, np.nan),
            "response": f["response"].astype("Float64").where(paired).astype(float).to_numpy(),
            "remission": f["remission"].astype("Float64").where(paired).astype(float).to_numpy(),
            "mcid": f["mcid_improved"].astype("Float64").where(paired).astype(float).to_numpy(),
        },
        index=f.index,
    )
    for c in cols:
        w[c] = groups[c]
    overall = _group_stats(w, ["instrument"], ci_level).reset_index()
    for c in cols:
        overall[c] = _OVERALL
    parts = [overall]
    if cols:
        parts.append(_group_stats(w, ["instrument", *cols], ci_level).reset_index())
        for c in cols:
            parts[-1][c] = parts[-1][c].astype(object)
    table = pd.concat(parts, ignore_index=True)
    # keep each instrument's Overall row first, then its groups in sorted order
    order = {name: i for i, name in enumerate(pd.unique(sc.inst_name))}
    table["_o"] = table["instrument"].map(order)
    table["_p"] = np.r_[np.zeros(len(overall)), np.ones(len(table) - len(overall))]
    table = table.sort_values(["_o", "_p"], kind="stable").drop(columns=["_o", "_p"])
    table = _label_missing(table.reset_index(drop=True), cols)
    table["ci_level"] = ci_level
    lead = ["instrument", *cols]
    table = table[lead + [c for c in table.columns if c not in lead]]

    n_unpaired = int(len(f) - paired.sum())
    notes = [
        "All statistics use paired episodes (baseline and endpoint both present); "
        f"{n_unpaired:,} of {len(f):,} episode(s) lack one or both scores.",
        "Change = endpoint - baseline (negative = improvement on lower-is-better scales).",
        *_definition_notes(sc.insts, mid, remission_below, zero_baseline),
    ]
    if cols and "age_band" in cols and "age_band" not in f.columns:
        bounds = DEFAULT_AGE_BANDS if age_bands is None else age_bands
        notes.append(f"age_band: left-closed bands with lower bounds {list(bounds)}.")
    pct = f"{100 * ci_level:g}%"
    return ChangeSummaryResult(
        table=table,
        title="Symptom change by group" if cols else "Symptom change",
        method=(
            f"Paired mean change with t interval ({pct}, df = n - 1); rates with Wilson score "
            f"intervals ({pct}); Pearson pre-post correlation"
        ),
        params={"by": cols or None, "ci_level": ci_level, "zero_baseline": zero_baseline},
        notes=tuple(notes),
        group_cols=tuple(cols),
        ci_level=ci_level,
    )


# --------------------------------------------------------------------------- severity shift
@dataclass(frozen=True, repr=False)
class SeverityShiftResult(TableResult):
    """Band-to-band transition table.

    ``to_frame()`` is tidy: one row per instrument, group, baseline band and
    endpoint band, with ``n`` and ``row_pct`` (percent of the baseline band's
    paired episodes). ``matrix()`` gives the square table for one group.
    """

    group_cols: tuple[str, ...] = ()
    band_orders: dict = field(default_factory=dict)
    normalize: bool = False

    def groups(self) -> list[tuple]:
        keys = ["instrument", *self.group_cols]
        return list(self.table[keys].drop_duplicates().itertuples(index=False, name=None))

    def matrix(self, instrument=None, group=None, *, normalize=None) -> pd.DataFrame:
        """Square table (rows: baseline band, columns: endpoint band) for one instrument.

        ``group`` selects a group (a value, or a tuple with one value per ``by``
        column); by default the counts are summed over groups. ``normalize=True``
        gives row percentages.
        """
        instrument, sub = _instrument_rows(self.table, instrument, "table")
        if group is not None:
            gv = group if isinstance(group, tuple) else (group,)
            if len(gv) != len(self.group_cols):
                raise ConfigError(
                    f"group= needs one value per grouping column {list(self.group_cols)}."
                )
            for c, v in zip(self.group_cols, gv, strict=True):
                sub = sub[sub[c].astype(str) == str(v)]
            if sub.empty:
                raise ConfigError(f"No group {group!r} in the table.")
        labels = self.band_orders[instrument]
        m = sub.pivot_table(
            index="baseline_band",
            columns="endpoint_band",
            values="n",
            aggfunc="sum",
            observed=False,
        ).reindex(index=labels, columns=labels, fill_value=0)
        m = m.fillna(0).astype(int)
        m.index.name = "baseline band"
        m.columns.name = "endpoint band"
        norm = self.normalize if normalize is None else normalize
        if norm:
            tot = m.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return m.div(tot.where(tot > 0), axis=0) * 100.0
        m["Total"] = m.sum(axis=1)
        return m

    def _panels(self):
        """(heading, matrix) per instrument and group; row % rounded to 0.1 when normalized."""
        for key in self.groups():
            inst, gv = key[0], key[1:]
            head = (
                inst
                if not gv
                else f"{inst} — "
                + ", ".join(f"{c} = {v}" for c, v in zip(self.group_cols, gv, strict=True))
            )
            m = self.matrix(inst, gv if gv else None)
            yield head, (m.round(1) if self.normalize else m)

    def summary(self) -> str:
        parts = [self.title]
        for head, m in self._panels():
            parts += ["", head + (" (row %)" if self.normalize else " (counts)"), m.to_string()]
        parts.append("")
        parts += self._footer()
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        out = [f"<div><p><strong>{html.escape(self.title)}</strong></p>"]
        for head, m in self._panels():
            out.append(f"<p>{html.escape(head)}</p>" + m.to_html(border=0, classes="iop-table"))
        out.append("".join(f"<br><small>{html.escape(s)}</small>" for s in self._footer()))
        return "".join(out) + "</div>"


def _instrument_rows(t: pd.DataFrame, instrument, where: str) -> tuple[str, pd.DataFrame]:
    """The rows of result table ``t`` for ``instrument`` (any spelling), or for its only
    instrument when ``instrument`` is None; ConfigError otherwise."""
    insts = list(dict.fromkeys(t["instrument"]))
    if instrument is None:
        if len(insts) != 1:
            raise ConfigError(f"The {where} holds several instruments {insts}; pass instrument=.")
        instrument = insts[0]
    else:
        instrument = _instruments.canonical_name(str(instrument)) or str(instrument)
    sub = t[t["instrument"] == instrument]
    if sub.empty:
        raise ConfigError(f"No instrument {instrument!r} in the {where}; it has {insts}.")
    return instrument, sub


def severity_shift(
    episodes,
    *,
    instrument=None,
    by=None,
    normalize: bool = False,
    age_bands: Sequence[float] | None = None,
) -> SeverityShiftResult:
    """Baseline band × endpoint band counts (and row percentages) per instrument and group.

    Uses paired episodes whose two scores both fall in a band. ``row_pct`` is
    the percentage of a baseline band's episodes ending in each endpoint band
    (rows sum to 100). The notes give, per group, the share that moved to a
    less severe band, stayed, or moved to a more severe band.

    Parameters
    ----------
    episodes : DataFrame
        Episode table or any DataFrame with ``baseline`` and ``endpoint``.
    instrument : str, optional
        Needed when there is no ``instrument`` column.
    by : str or list of str, optional
        Grouping column(s), as in :func:`change_summary` (``admit_quarter``
        and ``age_band`` are derived when absent).
    normalize : bool
        Print row percentages instead of counts (the table holds both).
    age_bands : sequence of numbers, optional
        Age-band lower bounds for ``by="age_band"``.

    Returns
    -------
    SeverityShiftResult
        Tidy ``to_frame()`` (``instrument``, group columns, ``baseline_band``,
        ``endpoint_band``, ``n``, ``row_pct``) and ``matrix()``.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [22, 16, 12, 12], "endpoint": [9, 16, 3, 15]})
    >>> res = iop.severity_shift(ep, instrument="PHQ-9")
    >>> res.matrix().loc["moderate", ["minimal", "moderately severe", "Total"]].tolist()
    [1, 1, 2]
    """
    fn = "severity_shift"
    sc = _score(episodes, instrument, None, None, fn)
    f = sc.frame
    groups, cols = group_columns(f, by, fn, age_bands)
    ok = f["baseline_band"].notna().to_numpy() & f["endpoint_band"].notna().to_numpy()
    w = pd.DataFrame(
        {
            "instrument": sc.inst_name,
            "baseline_band": f["baseline_band"].astype(object),
            "endpoint_band": f["endpoint_band"].astype(object),
        },
        index=f.index,
    )
    for c in cols:
        w[c] = groups[c].astype(object)
    w = _label_missing(w, cols)[ok]
    keys = ["instrument", *cols]
    counts = w.groupby([*keys, "baseline_band", "endpoint_band"], sort=False).size()
    orders = {inst.name: inst.band_labels for inst in sc.insts}
    parts, notes = [], []
    for inst in sc.insts:
        labels = orders[inst.name]
        present = w.loc[w["instrument"] == inst.name, keys].drop_duplicates()
        if present.empty:
            continue
        present = present.sort_values(keys, key=lambda s: s.astype(str))
        grid = present.merge(pd.DataFrame({"baseline_band": labels}), how="cross").merge(
            pd.DataFrame({"endpoint_band": labels}), how="cross"
        )
        idx = pd.MultiIndex.from_frame(grid)
        n = counts.reindex(idx, fill_value=0).to_numpy()
        grid["n"] = n.astype(int)
        row_tot = grid.groupby([*keys, "baseline_band"], sort=False)["n"].transform("sum")
        with np.errstate(invalid="ignore", divide="ignore"):
            grid["row_pct"] = np.where(row_tot > 0, 100.0 * grid["n"] / row_tot, np.nan)
        rank = {lab: i for i, lab in enumerate(labels)}
        step = grid["endpoint_band"].map(rank) - grid["baseline_band"].map(rank)
        if inst.better_is != "lower":
            step = -step
        grid["_dir"] = np.sign(step)
        for gkey, gdf in grid.groupby(keys, sort=False):
            tot = int(gdf["n"].sum())
            if tot == 0:
                continue
            better = int(gdf.loc[gdf["_dir"] < 0, "n"].sum())
            same = int(gdf.loc[gdf["_dir"] == 0, "n"].sum())
            worse = int(gdf.loc[gdf["_dir"] > 0, "n"].sum())
            label = ", ".join(str(x) for x in (gkey if isinstance(gkey, tuple) else (gkey,)))
            notes.append(
                f"{label}: n = {tot:,}; less severe band {better:,} ({100 * better / tot:.1f}%), "
                f"same band {same:,} ({100 * same / tot:.1f}%), "
                f"more severe band {worse:,} ({100 * worse / tot:.1f}%)."
            )
        parts.append(grid.drop(columns="_dir"))
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame(columns=[*keys, "baseline_band", "endpoint_band", "n", "row_pct"])
    n_dropped = int(len(f) - ok.sum())
    notes.insert(
        0,
        f"Paired episodes with a band at both time points: {int(ok.sum()):,}; "
        f"{n_dropped:,} episode(s) lack a score (or have one outside the instrument's range).",
    )
    sources = "; ".join(f"{i.name}: {i.bands_source}" for i in sc.insts if i.bands_source)
    return SeverityShiftResult(
        table=table,
        title="Severity band at baseline × endpoint",
        method="Cross-tabulation of instrument-defined severity bands (paired episodes)",
        params={"by": cols or None, "bands": sources},
        notes=tuple(notes),
        group_cols=tuple(cols),
        band_orders=orders,
        normalize=normalize,
    )


# --------------------------------------------------------------------------- quality measures
_MEASURES = {
    "DRR-E": {
        "title": "NCQA HEDIS DRR-E: Depression Remission or Response for Adolescents and Adults",
        "window": "120-240 days after the index date (inclusive)",
    },
    "CMS159": {
        "title": "CMS159 (NQF 0710e): Depression Remission at Twelve Months",
        "window": "12 months +/- 60 days after the index date (inclusive)",
    },
}


def _measure_name(measure) -> str:
    key = str(measure).upper().replace("_", "-").replace(" ", "")
    if key in ("DRR-E", "DRRE", "DRR"):
        return "DRR-E"
    if key.startswith("CMS159") or key in ("NQF0710", "0710", "0710E"):
        return "CMS159"
    raise ConfigError(
        f"The 'measure' parameter of quality_measures must be 'DRR-E' or 'CMS159'. "
        f"Got {measure!r} instead."
    )


@dataclass(frozen=True, repr=False)
class QualityMeasureResult(TableResult):
    """Quality-measure rates (``to_frame()``) plus one row per index event (``detail``)."""

    detail: pd.DataFrame = field(default_factory=pd.DataFrame)
    roles: dict = field(
        default_factory=lambda: {
            "n_index": "count",
            "n_pending": "count",
            "numerator": "count of denominator",
            "denominator": "count",
            "estimate": "from numerator, denominator",
            "ci_low": "from numerator, denominator",
            "ci_high": "from numerator, denominator",
        },
        repr=False,
    )


def quality_measures(
    assessments,
    *,
    measure: str = "DRR-E",
    by=None,
    unit: str = "patient",
    as_of=None,
    intake_period=None,
    ci_level: float = 0.95,
    age_bands: Sequence[float] | None = None,
) -> QualityMeasureResult:
    r"""US depression quality measures from PHQ-9 scores: NCQA HEDIS DRR-E and CMS159.

    **DRR-E** (NCQA HEDIS, Depression Remission or Response for Adolescents and
    Adults; wording of NCQA's public measure page and of a HEDIS MY 2023
    health-plan summary, see References; the licensed NCQA technical
    specification was not consulted): the
    percentage of members with an elevated PHQ-9 score (total > 9) "who had
    evidence of response or remission within 120–240 days (4–8 months) of the
    elevated score". Three rates share one denominator (members with an index
    episode start date, IESD = the earliest elevated PHQ-9):

    - *Follow-up PHQ-9*: a PHQ-9 total score in the depression follow-up
      period (120–240 days after the IESD);
    - *Depression remission*: "the most recent PHQ-9 score of < 5 during the
      depression follow-up period";
    - *Depression response*: "the most recent PHQ-9 total score being at least
      50 percent lower than the PHQ-9 score associated with the IESD".

    **CMS159** (eCQM CMS159v12–v14, NQF/CBE 0710e, MN Community Measurement;
    logic as in the CQL of ``CMS159FHIRDepressionRemissionatTwelveMonths``
    0.3.000, 2025): index = the first PHQ-9 > 9; measure assessment period =
    ``[index date + 12 months − 60 days, index date + 12 months + 60 days]``
    (calendar months, both ends inclusive, day precision); numerator = the
    last PHQ-9 in that period is < 5.

    What is implemented here is the score-and-date logic only:

    - index: per ``unit`` the earliest PHQ-9 with total > 9 (within
      ``intake_period`` when given); on a tie the highest score that day;
    - follow-up score: the most recent PHQ-9 in the window (on a same-day tie
      the highest score, which is conservative);
    - response: :math:`\text{follow-up} \le 0.5 \times \text{index}`
      (exactly 50 % counts); remission: follow-up :math:`< 5`;
    - denominator: index events whose window has closed by ``as_of``. Index
      events whose window ends after ``as_of`` are *pending*: counted and
      reported, never scored 0. When no window has closed the rates are NaN
      and a note says the data do not reach the window.

    Not applied (the data contract has no such fields; filter beforehand):
    the depression/dysthymia diagnosis and encounter requirements,
    age ≥ 12, continuous enrolment, and the denominator exclusions (bipolar
    disorder, personality disorder, psychotic disorder, pervasive
    developmental disorder, hospice/palliative care, death). PHQ-9M is not
    in the instrument registry; only rows whose instrument is PHQ-9 are used.
    The rates "among measured" (response and remission among those with a
    follow-up score) are extra rows, not part of either measure.

    Parameters
    ----------
    assessments : DataFrame
        Assessment-level data: ``patient_id``, ``instrument``,
        ``assessment_date``, ``total`` (and ``episode_id`` for
        ``unit="episode"``). Non-PHQ-9 rows are ignored.
    measure : {"DRR-E", "CMS159"}
    by : str or list of str, optional
        Grouping columns (values taken from the index assessment's row;
        ``admit_quarter``/``age_band`` derived when absent).
    unit : {"patient", "episode"}
        One index event per patient (as the measures define it) or per episode.
    as_of : date-like, optional
        End of the data. Default: the latest ``assessment_date`` in the input.
    intake_period : (start, end), optional
        Restrict index events to this inclusive date range (HEDIS uses May 1 of
        the prior year to April 30 of the measurement year; CMS159 the 12
        months ending two months before the measurement period).
    ci_level : float
        Level of the Wilson score intervals.

    Returns
    -------
    QualityMeasureResult
        ``to_frame()``: one row per rate (and group) with ``numerator``,
        ``denominator``, ``estimate``, ``ci_low``, ``ci_high``, ``n_index``,
        ``n_pending``; ``detail``: one row per index event.

    References
    ----------
    NCQA. Depression Remission or Response for Adolescents and Adults
    (DRR-E). State of Health Care Quality measures list,
    https://www.ncqa.org/report-cards/health-plans/state-of-health-care-quality-report/measures-list/depression-remission-or-response-for-adolescents-and-adults-drr-e
    (120–240 days; the three rates).
    Horizon Blue Cross Blue Shield of New Jersey. HEDIS MY 2023 provider tips:
    DRR-E (numerator wording: "most recent PHQ-9 score", "at least 50 percent
    lower than the PHQ-9 score associated with the IESD").
    CMS / MN Community Measurement. CMS159v12 (2024), CMS159v14 (2026
    performance period): Depression Remission at Twelve Months, eCQI Resource
    Center; CQL library CMS159FHIRDepressionRemissionatTwelveMonths 0.3.000
    (github.com/cqframework/ecqm-content-qicore-2025, input/cql).

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> a = pd.DataFrame({
    ...     "patient_id": ["a", "a", "b", "b", "c"],
    ...     "instrument": "PHQ-9",
    ...     "assessment_date": pd.to_datetime(
    ...         ["2025-01-01", "2025-06-01", "2025-01-10", "2025-03-01", "2025-02-01"]),
    ...     "total": [18, 4, 12, 6, 7]})
    >>> res = iop.quality_measures(a, measure="DRR-E", as_of="2025-12-31")
    >>> res.to_frame()[["rate", "numerator", "denominator"]].head(3)
                  rate  numerator  denominator
    0  followup_phq9           1            2
    1        remission           1            2
    2         response           1            2
    """
    fn = "quality_measures"
    name = _measure_name(measure)
    if unit not in ("patient", "episode"):
        raise ConfigError(
            f"The 'unit' parameter of {fn} must be 'patient' or 'episode'. Got {unit!r} instead."
        )
    if not (isinstance(ci_level, float | int) and 0 < ci_level < 1):
        raise ConfigError(
            f"The 'ci_level' parameter of {fn} must be a number in (0, 1). Got {ci_level!r} instead."
        )
    req = ["patient_id", "instrument", "assessment_date", "total"]
    if unit == "episode":
        req.append("episode_id")
    df = _check_frame(assessments, fn, req, param="assessments")
    ukeys = ["patient_id"] if unit == "patient" else ["patient_id", "episode_id"]

    dates = pd.to_datetime(df["assessment_date"], errors="coerce")
    if as_of is None:
        as_of_ts = dates.max()
        as_of_src = "latest assessment date in the data"
    else:
        as_of_ts = pd.Timestamp(as_of)
        as_of_src = "as_of"
    as_of_ts = as_of_ts.normalize() if pd.notna(as_of_ts) else as_of_ts

    canon = (
        df["instrument"]
        .astype(str)
        .map({v: _instruments.canonical_name(v) for v in pd.unique(df["instrument"].astype(str))})
    )
    is_phq9 = (canon == "PHQ-9") & df["instrument"].notna()
    total = pd.to_numeric(df["total"], errors="coerce")
    valid = is_phq9 & dates.notna() & total.notna()
    n_phq9 = int(is_phq9.sum())
    n_invalid = int((is_phq9 & ~valid).sum())

    groups, cols = group_columns(df, by, fn, age_bands)
    a = pd.DataFrame({k: df[k] for k in ukeys})
    a["date"] = dates.dt.normalize()
    a["total"] = total
    for c in cols:
        a[c] = groups[c].astype(object)
    a = a[valid.to_numpy()]

    # ---- index events
    elev = a[a["total"] > 9]
    if intake_period is not None:
        try:
            start, end = (pd.Timestamp(x).normalize() for x in intake_period)
        except (TypeError, ValueError):
            raise ConfigError(
                f"The 'intake_period' parameter of {fn} must be a (start, end) pair of dates. "
                f"Got {intake_period!r} instead."
            ) from None
        elev = elev[(elev["date"] >= start) & (elev["date"] <= end)]
    idx = (
        elev.sort_values([*ukeys, "date", "total"], ascending=[*([True] * len(ukeys)), True, False])
        .drop_duplicates(ukeys, keep="first")
        .rename(columns={"date": "index_date", "total": "index_score"})
        .reset_index(drop=True)
    )
    if name == "DRR-E":
        idx["window_start"] = idx["index_date"] + pd.Timedelta(days=120)
        idx["window_end"] = idx["index_date"] + pd.Timedelta(days=240)
    else:
        year = idx["index_date"] + pd.DateOffset(months=12)
        idx["window_start"] = year - pd.Timedelta(days=60)
        idx["window_end"] = year + pd.Timedelta(days=60)
    idx["window_complete"] = (idx["window_end"] <= as_of_ts).astype(bool)

    # ---- most recent PHQ-9 in the window
    m = a[[*ukeys, "date", "total"]].merge(idx[[*ukeys, "window_start", "window_end"]], on=ukeys)
    m = m[(m["date"] >= m["window_start"]) & (m["date"] <= m["window_end"])]
    fu = (
        m.sort_values([*ukeys, "date", "total"])
        .drop_duplicates(ukeys, keep="last")[[*ukeys, "date", "total"]]
        .rename(columns={"date": "followup_date", "total": "followup_score"})
    )
    det = idx.merge(fu, on=ukeys, how="left")
    measured = det["followup_score"].notna()
    det["followup_measured"] = measured
    rem = pd.array(det["followup_score"] < 5, dtype="boolean")
    rem[~measured.to_numpy()] = pd.NA
    det["remission"] = rem
    if name == "DRR-E":
        resp = pd.array(2 * det["followup_score"] <= det["index_score"], dtype="boolean")
        resp[~measured.to_numpy()] = pd.NA
        det["response"] = resp
    det["status"] = np.where(det["window_complete"], "scored", "pending")
    lead = [*ukeys, *cols]
    det = det[lead + [c for c in det.columns if c not in lead]]

    # ---- rates
    rates = ["followup_phq9", "remission"] + (["response"] if name == "DRR-E" else [])
    extra = ["remission_among_measured"] + (["response_among_measured"] if name == "DRR-E" else [])
    d = det.copy()
    d["_ok"] = d["window_complete"]
    d["_meas"] = d["_ok"] & d["followup_measured"]
    d["_rem"] = d["_ok"] & d["remission"].fillna(False).astype(bool)
    if name == "DRR-E":
        d["_resp"] = d["_ok"] & d["response"].fillna(False).astype(bool)
    d["_pending"] = ~d["window_complete"]
    d["_one"] = 1
    for c in cols:
        d[c] = _label_missing(d[[c]].copy(), [c])[c]

    def agg(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        if keys:
            g = frame.groupby(keys, sort=True, dropna=False)
        else:
            g = frame.assign(_k=0).groupby("_k")
        s = g[[c for c in ("_one", "_ok", "_meas", "_rem", "_resp", "_pending") if c in frame]]
        s = s.sum().reset_index()
        return s.drop(columns=["_k"], errors="ignore")

    summ = [agg(d, [])]
    for c in cols:
        summ[0][c] = _OVERALL
    if cols:
        summ.append(agg(d, cols))
    s = pd.concat(summ, ignore_index=True)
    if s.empty:
        s = pd.DataFrame(
            [
                {
                    **dict.fromkeys(cols, _OVERALL),
                    "_one": 0,
                    "_ok": 0,
                    "_meas": 0,
                    "_rem": 0,
                    "_resp": 0,
                    "_pending": 0,
                }
            ]
        )
    rows = []
    num_col = {"followup_phq9": "_meas", "remission": "_rem", "response": "_resp"}
    for rd in s.to_dict("records"):
        for rate in rates + extra:
            if rate.endswith("_among_measured"):
                num = int(rd[num_col[rate.split("_among")[0]]])
                den = int(rd["_meas"])
            else:
                num = int(rd[num_col[rate]])
                den = int(rd["_ok"])
            rows.append(
                {
                    **{c: rd[c] for c in cols},
                    "measure": name,
                    "rate": rate,
                    "numerator": num,
                    "denominator": den,
                    "n_index": int(rd["_one"]),
                    "n_pending": int(rd["_pending"]),
                }
            )
    table = pd.DataFrame(rows)
    lo, hi = wilson_ci(table["numerator"], table["denominator"], ci_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["estimate"] = np.where(
            table["denominator"] > 0, table["numerator"] / table["denominator"], np.nan
        )
    table["ci_low"] = lo
    table["ci_high"] = hi
    table["ci_level"] = ci_level
    table["method"] = np.where(
        table["rate"].str.endswith("_among_measured"),
        "not part of the measure; Wilson score interval",
        f"{name}; Wilson score interval",
    )
    table = table[
        ["measure", "rate", *cols]
        + [c for c in table.columns if c not in ("measure", "rate", *cols)]
    ]

    n_index = len(det)
    n_pending = int((~det["window_complete"]).sum())
    notes = [
        f"Follow-up window: {_MEASURES[name]['window']}; the most recent PHQ-9 in the window "
        "is used.",
        f"Index = first PHQ-9 > 9 per {unit}"
        + (
            f" within intake period {intake_period[0]} to {intake_period[1]}"
            if intake_period
            else ""
        )
        + f"; {n_index:,} index event(s); {n_pending:,} pending (window ends after "
        f"{as_of_ts.date() if pd.notna(as_of_ts) else 'NA'}, {as_of_src}): excluded from "
        "the denominator, not counted as failures.",
        f"PHQ-9 rows used: {n_phq9 - n_invalid:,}; {n_invalid:,} PHQ-9 row(s) without a valid "
        "date or total were ignored.",
        "Not applied: diagnosis/encounter requirements, age >= 12, enrolment, denominator "
        "exclusions (bipolar, psychotic, personality or pervasive developmental disorder, "
        "hospice/palliative care, death).",
    ]
    if n_index > 0 and n_pending == n_index:
        first_close = det["window_end"].min()
        notes.insert(
            0,
            f"Data do not reach the end of any follow-up window (data end "
            f"{as_of_ts.date()}; the first window closes {first_close.date()}): "
            f"{name} cannot be computed yet. Rates are NaN, not 0.",
        )
    elif n_index == 0:
        notes.insert(0, "No elevated PHQ-9 (> 9) index score found: the denominator is empty.")
    return QualityMeasureResult(
        table=table,
        title=_MEASURES[name]["title"],
        method=f"{name} score-and-date logic; Wilson score intervals ({100 * ci_level:g}%)",
        params={"unit": unit, "as_of": as_of_ts.date() if pd.notna(as_of_ts) else None},
        notes=tuple(notes),
        detail=det.reset_index(drop=True),
    )
