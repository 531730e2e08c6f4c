"""Non-inferiority and equivalence of cohorts (:func:`iop_outcomes.equivalence`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .. import instruments as _instruments
from .._instrument_rule import select_instrument
from .._results import format_p
from .._validation import Interval, Options, check_columns, validate_params
from ..exceptions import ConfigError
from .api import compare
from .design import METHODS, level_label
from .results import EquivalenceResult

#: Default equivalence / non-inferiority margin as a share of the instrument's MID.
MARGIN_SHARE_OF_MID = 0.5


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:.0f}"


@validate_params(
    {
        "episodes": ["frame"],
        "group": [str],
        "reference": ["no_validation"],
        "margin": [Interval(float, 0, None, closed="neither"), None],
        "method": [Options(*METHODS)],
        "kind": [Options("non-inferiority", "equivalence")],
        "instrument": ["instrument", None],
        "covariates": ["columns"],
        "alpha": [Interval(float, 0, 0.5, closed="neither")],
        "vcov": [Options("classical", "HC3")],
    }
)
def equivalence(
    episodes: pd.DataFrame,
    *,
    group: str = "format",
    reference: Any = "in_person",
    margin: float | None = None,
    method: str = "ancova",
    kind: str = "non-inferiority",
    instrument: str | None = None,
    covariates: Sequence[str] | str = (),
    alpha: float = 0.05,
    vcov: str = "classical",
) -> EquivalenceResult:
    r"""Non-inferiority or equivalence of each group to the reference by one-sided tests.

    The difference :math:`D` (group − reference in mean change; adjusted for baseline when
    ``method="ancova"``) is tested against the margin :math:`\delta > 0`. With lower scores
    better, a *positive* D means the group improved less (is worse).

    * Non-inferiority: :math:`H_0: D \ge \delta` vs :math:`H_1: D < \delta`,
      :math:`t = (D - \delta)/SE`, p = lower-tail probability. Non-inferior when the
      upper bound of the one-sided :math:`1-\alpha` interval (= upper limit of the
      two-sided :math:`1-2\alpha` CI) is below :math:`\delta`.
    * Equivalence (TOST, Schuirmann 1987): both :math:`H_{01}: D \le -\delta` and
      :math:`H_{02}: D \ge \delta` rejected at :math:`\alpha`; p = max of the two; the
      :math:`1-2\alpha` CI lies inside :math:`(-\delta, \delta)`.

    For higher-is-better instruments the direction of "worse" flips (``better_is``).

    Parameters
    ----------
    episodes : DataFrame
        Episode table with ``baseline``, ``endpoint`` and the ``group`` column (and any
        ``covariates``); episodes missing one of them are excluded, as in :func:`compare`.
    group : str
        Column holding the cohort (default ``"format"``).
    reference : scalar or None
        The level the others are tested against (default ``"in_person"``); ``None``: the
        first level of ``group`` (categorical order, else sorted).
    margin : float, optional
        Margin in score points. Default: half the instrument's minimal important
        difference (``MARGIN_SHARE_OF_MID`` × ``instrument.mid``; PHQ-9 MID 5 → 2.5
        points, GAD-7 MID 4 → 2.0). Rationale: the MID is the smallest change an
        *individual* notices (Löwe et al. 2004); a difference between group means must be
        smaller than that to call the formats clinically interchangeable. Set your own
        margin before seeing the data and report it.
    method : {"ancova", "welch", "iptw", "overlap", "doubly_robust"}
        How D and its SE are estimated (see :func:`compare`).
    kind : {"non-inferiority", "equivalence"}
        One one-sided test against ``+margin`` in the "worse" direction
        (``"non-inferiority"``, the default) or two one-sided tests against ``-margin`` and
        ``+margin`` (``"equivalence"``, TOST).
    instrument : str, optional
        Instrument whose MID sets the default margin and whose ``better_is`` sets the
        direction. ``None`` (default): the instrument rule, the table must hold exactly one
        instrument (else a ConfigError names those found) and that one is used; a name also
        keeps that instrument's rows. Without an ``instrument`` column, give ``instrument=``
        or ``margin=`` (the direction is then lower-is-better).
    covariates : str or sequence of str
        Adjustment covariates, passed to :func:`compare` (default none).
    alpha : float
        One-sided level of each test, strictly between 0 and 0.5 (default 0.05, the TOST
        convention; CONSORT-style non-inferiority with a two-sided 95 % CI is
        ``alpha=0.025``). The reported interval is the two-sided :math:`1-2\alpha` CI.
    vcov : {"classical", "HC3"}
        ANCOVA covariance, passed to :func:`compare` (default ``"classical"``; ``"HC3"``
        for sandwich SEs; ``method="ancova"`` only).

    Returns
    -------
    EquivalenceResult
        ``.table`` (estimate, se, df, ci_low/ci_high at 1 − 2α, margin, statistic, pvalue,
        conclusion) and ``.verdicts`` (plain-language sentences).

    References
    ----------
    Schuirmann (1987), J Pharmacokinet Biopharm 15:657. Lakens (2017), Soc Psychol
    Personal Sci 8:355. Piaggio et al. (2012), CONSORT non-inferiority extension, JAMA
    308:2594. Löwe et al. (2004), Med Care 42:1194.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "format": ["in_person"] * 4 + ["virtual"] * 4,
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12]})
    >>> res = iop.equivalence(ep, method="welch", instrument="PHQ-9")
    >>> float(res.table["margin"].iloc[0])
    2.5
    >>> print(res.verdicts[0])
    virtual is non-inferior to in-person within 2.5 PHQ-9 points (upper bound of the one-sided 95% CI 1.5 < 2.5; p = .015).
    """
    func = "equivalence"
    check_columns(episodes, ["baseline", "endpoint", group], func=func, what="episode table")
    _, inst_name = select_instrument(episodes, instrument, func=func)
    inst = _instrument_or_none(inst_name)
    margin, margin_src = _margin(margin, inst, inst_name, func)
    better = inst.better_is if inst is not None else "lower"
    s = 1.0 if better == "lower" else -1.0
    unit = f"{inst.name} points" if inst is not None else "points"
    comp = compare(
        episodes,
        group=group,
        reference=reference,
        method=method,
        covariates=covariates,
        ci_level=1 - 2 * alpha,
        instrument=inst_name if "instrument" in episodes.columns else None,
        vcov=vcov,
    )
    rows, verdicts = [], []
    for r in comp.table.itertuples(index=False):
        D, se, df = float(r.estimate), float(r.se), float(r.df)
        dist = _dist.norm if not np.isfinite(df) else _dist.t(df)
        gl, rl = level_label(r.group).replace("_", "-"), level_label(r.reference).replace("_", "-")
        if kind == "non-inferiority":
            ok, v, tests = _non_inferiority(D, se, dist, s, margin, alpha, gl, rl, unit)
        else:
            ci = f"{1 - 2 * alpha:.0%} CI {_fmt(r.ci_low)} to {_fmt(r.ci_high)}"
            ok, v, tests = _tost(D, se, dist, margin, alpha, gl, rl, unit, ci)
        rows.append(
            dict(
                contrast=r.contrast,
                group=r.group,
                reference=r.reference,
                estimate=D,
                se=se,
                df=df,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                ci_level=1 - 2 * alpha,
                margin=margin,
                **tests,
                conclusion=ok,
                kind=kind,
                method=method,
            )
        )
        verdicts.append(v)
    notes = [
        margin_src,
        f"Direction: {better} scores are better ({'positive' if s > 0 else 'negative'} "
        "difference = group worse).",
        *comp.notes,
    ]
    test = "one-sided test" if kind == "non-inferiority" else "two one-sided tests (TOST)"
    return EquivalenceResult(
        table=pd.DataFrame(rows),
        title=f"{kind.capitalize()} of change by {group} (margin {_fmt(margin)} {unit})",
        method=f"{test} at alpha = {alpha:g} on the {method} difference; {comp.method}",
        params=dict(comp.params, margin=margin, alpha=alpha, kind=kind, better_is=better),
        notes=tuple(dict.fromkeys(notes)),
        verdicts=tuple(verdicts),
        comparison=comp,
    )


def _instrument_or_none(inst_name):
    """The registered instrument of that name, or None (fine when a margin is given)."""
    if inst_name is None:
        return None
    try:
        return _instruments.get(str(inst_name))
    except Exception:  # unknown instrument: fine if a margin is given
        return None


def _margin(margin, inst, inst_name, func) -> tuple[float, str]:
    """The margin in score points and where it came from (default: a share of the MID)."""
    if margin is not None:
        return float(margin), "margin set by the user"
    if inst is None or inst.mid is None:
        raise ConfigError(
            f"{func}: no margin given and no instrument with a minimal important "
            f"difference to derive one (instrument: {inst_name!r}). Pass margin= in score "
            "points or instrument='PHQ-9'."
        )
    return MARGIN_SHARE_OF_MID * float(inst.mid), (
        f"default margin = {MARGIN_SHARE_OF_MID} x MID ({inst.mid:g}) of {inst.name}; "
        f"MID source: {inst.mid_source}"
    )


def _non_inferiority(D, se, dist, s, margin, alpha, gl, rl, unit):
    """One-sided test against the margin in the worse direction, and its verdict."""
    conf = f"{1 - alpha:.0%}"
    crit = dist.ppf(1 - alpha)
    stat = (s * D - margin) / se
    pval = float(dist.cdf(stat))
    bound = s * D + crit * se  # worse-direction bound on the "s" scale
    ok = bool(bound < margin)
    shown = s * bound  # back on the D scale
    side = "upper" if s > 0 else "lower"
    rel = ("<" if s > 0 else ">") if ok else ("≥" if s > 0 else "≤")
    mshown = s * margin
    if ok:
        v = (
            f"{gl} is non-inferior to {rl} within {_fmt(margin)} {unit} ({side} bound "
            f"of the one-sided {conf} CI {_fmt(shown)} {rel} {_fmt(mshown)}; "
            f"{_p(pval)})."
        )
    else:
        v = (
            f"Non-inferiority of {gl} to {rl} within {_fmt(margin)} {unit} is not "
            f"shown ({side} bound of the one-sided {conf} CI {_fmt(shown)} {rel} "
            f"{_fmt(mshown)}; {_p(pval)})."
        )
    return ok, v, dict(statistic=stat, pvalue=pval)


def _tost(D, se, dist, margin, alpha, gl, rl, unit, ci):
    """Two one-sided tests (Schuirmann 1987) against +/- margin, and the verdict."""
    t_lo = (D + margin) / se
    t_hi = (D - margin) / se
    p_lo = float(dist.sf(t_lo))
    p_hi = float(dist.cdf(t_hi))
    pval = max(p_lo, p_hi)
    ok = bool(pval < alpha)
    if ok:
        v = (
            f"{gl} is equivalent to {rl} within ±{_fmt(margin)} {unit} ({ci}, inside "
            f"±{_fmt(margin)}; TOST {_p(pval)})."
        )
    else:
        v = (
            f"Equivalence of {gl} and {rl} within ±{_fmt(margin)} {unit} is not shown "
            f"({ci}, not inside ±{_fmt(margin)}; TOST {_p(pval)})."
        )
    tests = dict(
        lower_statistic=t_lo,
        lower_pvalue=p_lo,
        upper_statistic=t_hi,
        upper_pvalue=p_hi,
        pvalue=pval,
    )
    return ok, v, tests


def _p(p: float) -> str:
    """'p = .015' or 'p < .001'."""
    f = format_p(p)
    return f"p {f}" if f.startswith("<") else f"p = {f}"
