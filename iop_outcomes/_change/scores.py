"""Per-episode change scores: change, percent change, response, remission, MCID
improvement and severity bands (:func:`change_scores`), and the scoring step the summaries
share.

Every threshold comes from the instrument registry (``iop.instruments``), where each number
carries its citation. Conventions: ``change = endpoint − baseline`` (negative = improvement on
lower-is-better scales such as PHQ-9 and GAD-7). Threshold comparisons allow a tolerance of
``1e-9`` so floating-point noise in prorated totals cannot flip a boundary (an integer score
exactly at a threshold is always treated exactly).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import instruments as _instruments
from .._instrument_rule import select_instrument
from .._results import MISSING_GROUP
from .._validation import (
    Interval,
    Options,
    check_columns,
    check_numeric,
    public_name,
    validate_params,
)
from ..exceptions import ConfigError, DataError, InstrumentError, IOPWarning

__all__ = [
    "change_scores",
    "score",
    "Scored",
    "instrument_param",
    "label_missing",
    "OVERALL",
    "ZERO_BASELINE",
    "OVERRIDE",
]

_TOL = 1e-9
OVERALL = "Overall"
#: constraint of the threshold overrides: one number for all instruments or one per instrument
OVERRIDE = [None, Interval(float, None, None, closed="neither"), dict]


def _resolve_instruments(
    df: pd.DataFrame, instrument, func: Callable | str, many: bool
) -> tuple[pd.DataFrame, np.ndarray, list[_instruments.Instrument]]:
    """The instrument rule, then per-row integer codes into the unique (canonical) instruments.

    Returns the rows kept (all of them unless ``instrument`` names a subset of the table's
    instruments), the codes and the instruments.
    """
    if "instrument" in df.columns and df["instrument"].isna().any():
        raise DataError(
            f"{public_name(func)}: {int(df['instrument'].isna().sum())} row(s) have no instrument. "
            "Fill the 'instrument' column."
        )
    df, _ = select_instrument(df, instrument, func=func, many=many)
    if "instrument" not in df.columns:
        if instrument is None:
            raise DataError(
                f"{public_name(func)} needs to know the instrument: the data have no 'instrument' "
                "column. Pass instrument='PHQ-9' (or another registered name)."
            )
        try:
            inst = _instruments.get(instrument)
        except InstrumentError as exc:
            raise ConfigError(f"The 'instrument' parameter of {public_name(func)}: {exc}") from None
        return df, np.zeros(len(df), dtype=np.intp), [inst]
    col = df["instrument"]
    codes, spellings = pd.factorize(col.astype(str))  # order of first appearance
    canon = [_instruments.canonical_name(name) for name in spellings]
    unknown = [name for name, c in zip(spellings, canon, strict=True) if c is None]
    if unknown:
        raise DataError(
            f"{public_name(func)}: unknown instrument(s) {unknown[:5]} in the 'instrument' column. "
            f"Known: {_instruments.names()}. Register your own with iop.instruments.register()."
        )
    uniq = list(dict.fromkeys(canon))  # several spellings may name one instrument
    if isinstance(instrument, (list, tuple)):  # the order asked for, not the rows' order
        asked = [_instruments.canonical_name(str(i)) or str(i) for i in instrument]
        uniq = sorted(uniq, key=lambda u: asked.index(u) if u in asked else len(asked))
    remap = np.array([uniq.index(c) for c in canon], dtype=np.intp)
    return df, remap[codes], [_instruments.get(u) for u in uniq]


def instrument_param(
    insts: list, codes: np.ndarray, attr: str, override, arg: str, fn: Callable | str
) -> np.ndarray:
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
                f"The '{arg}' parameter of {public_name(fn)} must be a number or a dict of numbers by "
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
class Scored:
    frame: pd.DataFrame  # input columns + the new per-episode columns
    inst_name: np.ndarray  # canonical instrument per row
    insts: list
    codes: np.ndarray
    lower: np.ndarray  # better_is == "lower" per row


ZERO_BASELINE = ("undefined", "not_responding")


def score(
    episodes,
    instrument,
    mid,
    remission_below,
    fn: Callable,
    zero_baseline: str = "undefined",
    *,
    many: bool = False,
) -> Scored:
    """The instrument rule, then every per-episode column (shared by the summaries)."""
    check_columns(episodes, ("baseline", "endpoint"), func=fn, what="episode table")
    df, codes, insts = _resolve_instruments(episodes, instrument, fn, many)
    check_numeric(df, ("baseline", "endpoint"), func=fn, what="episode table")
    b = df["baseline"].to_numpy(dtype=float, na_value=np.nan)
    e = df["endpoint"].to_numpy(dtype=float, na_value=np.nan)
    lower = np.array([i.better_is == "lower" for i in insts], dtype=bool)[codes]
    mid_v = instrument_param(insts, codes, "mid", mid, "mid", fn)
    rem_v = instrument_param(
        insts, codes, "remission_below", remission_below, "remission_below", fn
    )

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
                f"{public_name(fn)}: the input 'change' column disagrees with endpoint − baseline in "
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
            f"{public_name(fn)}: {higher} are higher-is-better instruments; 'response' (a 50 % reduction) "
            "and 'remission' (score below a cut-off) are not defined for them and are left NA. "
            "Change, percent change, MCID improvement (in the improving direction) and bands "
            "are computed.",
            IOPWarning,
            stacklevel=3,
        )
    names = np.array([i.name for i in insts], dtype=object)[codes]
    return Scored(out, names, insts, codes, lower)


@validate_params(
    {
        "episodes": ["frame"],
        "instrument": ["instruments", None],
        "mid": OVERRIDE,
        "remission_below": OVERRIDE,
        "zero_baseline": [Options(*ZERO_BASELINE)],
    }
)
def change_scores(
    episodes: pd.DataFrame,
    *,
    instrument=None,
    mid=None,
    remission_below=None,
    zero_baseline: str = "undefined",
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
    instrument : str, Instrument, list of them, or None
        The library's instrument rule. ``None`` (default): the table must hold exactly one
        instrument in its ``instrument`` column (several raise ConfigError naming them; a
        table without the column needs ``instrument=``). A name keeps that instrument's
        rows (or names the instrument of a table without the column). A list keeps the
        rows of each listed instrument, each row scored with its own instrument's
        thresholds (never pooled).
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
    return score(
        episodes, instrument, mid, remission_below, change_scores, zero_baseline, many=True
    ).frame


def label_missing(table: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        if c in table.columns and table[c].isna().any():
            table[c] = table[c].astype(object).where(table[c].notna(), MISSING_GROUP)
    return table
