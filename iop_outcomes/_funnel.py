"""Funnel plots for comparing providers (sites, clinicians, cohorts) fairly.

:func:`funnel` sets each unit's outcome against its volume with control limits around a
target (Spiegelhalter 2005): a rate (recovery, reliable improvement, response, dropout ...) or a
mean change, crude or indirectly standardised for case mix, with 95 % and 99.8 % limits, an
overdispersion adjustment when the units vary more than chance allows, and the outlying units
named with their observed and expected values. Units are a new data role, ``unit=``: they are
neither compared with a reference (``group=``) nor strata (``by=``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import _dist
from ._episode_outcomes import episode_outcome
from ._results import TableResult
from ._stats import additive_tau2, binomial_limit, poisson_limit, winsorised_phi, z_crit
from ._validation import Interval, Options, validate_params
from .exceptions import ConfigError, DataError

__all__ = ["funnel", "FunnelResult", "LEVELS", "MIN_UNITS_OVERDISPERSION"]

#: Control-limit levels (two-sided) and the column suffix of each: 95 % ("about 2 SD") and
#: 99.8 % ("about 3 SD"), as Spiegelhalter (2005) recommends.
LEVELS: dict[str, float] = {"95": 0.95, "99_8": 0.998}
_OVERDISPERSION = ("auto", "multiplicative", "additive", "none")
#: Fewest units for ``overdispersion="auto"`` to estimate phi (10 % Winsorising of fewer units
#: trims nothing at all and a chi-square test on a handful of z-scores has no power to speak of).
MIN_UNITS_OVERDISPERSION = 10
#: Unit columns whose units are people: a funnel of them is internal unless the user says so.
_PERSON_UNIT = re.compile(
    r"clinician|therapist|provider|practitioner|counsel|psychiatrist|psychologist|doctor|"
    r"physician|nurse|staff|worker|prescriber",
    re.IGNORECASE,
)
_FLAG_ORDER = [
    "above 99.8 % limit",
    "above 95 % limit",
    "within 95 % limits",
    "below 95 % limit",
    "below 99.8 % limit",
]


@dataclass(frozen=True, repr=False)
class FunnelResult(TableResult):
    """Funnel-plot data: one row per unit (``table``), the limit curves (``limits``).

    Attributes
    ----------
    table : DataFrame
        Per unit: ``unit``, ``n`` (episodes in the denominator), ``observed`` (events, or the
        mean), ``expected`` (events or mean expected under the target / case-mix model),
        ``ratio`` (O/E, rates only), ``estimate`` (the plotted value: rate, O/E ratio or
        mean), ``standardised_rate`` (adjusted rates: overall rate x O/E), ``x`` (the plotted
        precision: ``n``, or ``expected`` for ratios), ``target``, ``z`` (sampling z-score),
        ``z_adjusted`` (after the overdispersion adjustment applied), ``lower_95``,
        ``upper_95``, ``lower_99_8``, ``upper_99_8``, ``flag`` (which limit the unit crosses),
        ``signal`` (``"better"``/``"worse"``/``""``), ``small`` (1 to ``min_named`` - 1
        episodes), ``named``.
    limits : DataFrame
        The limit curves over a grid of ``x`` (columns ``x``, ``level``, ``lower``, ``upper``)
        for plotting; ``plot_funnel`` draws these and never refits.
    outliers : DataFrame
        The rows of ``table`` outside the 95 % limits.
    kind : {"proportion", "ratio", "mean"}
    target, phi, tau2 : float
        Target; Winsorised overdispersion factor; additive between-unit variance.
    overdispersion : {"none", "multiplicative", "additive"}
        The adjustment applied to the limits and ``z_adjusted``.
    shareable : bool
        Whether this view may leave the team: units with 1 to ``min_named`` - 1 episodes are
        then unnamed. ``False``: an internal view naming every unit.
    model : DataFrame
        Coefficients of the case-mix model (empty without ``adjust``).
    """

    limits: pd.DataFrame = field(default_factory=pd.DataFrame)
    outliers: pd.DataFrame = field(default_factory=pd.DataFrame)
    model: pd.DataFrame = field(default_factory=pd.DataFrame)
    kind: str = "proportion"
    target: float = float("nan")
    phi: float = float("nan")
    tau2: float = float("nan")
    overdispersion: str = "none"
    shareable: bool = False
    outcome_label: str = ""

    def plot(self, ax=None, **kwargs):
        """Draw the funnel (:func:`iop_outcomes.plots.plot_funnel`)."""
        from .plots.funnel import plot_funnel

        return plot_funnel(self, ax=ax, **kwargs)


def _adjust_columns(unit: str, adjust: Any) -> tuple[str, ...]:
    """The case-mix columns as a tuple; the unit column cannot be one of them."""
    adjust = (adjust,) if isinstance(adjust, str) else tuple(adjust or ())
    if unit in adjust:
        raise ConfigError(
            "The 'adjust' parameter of iop.funnel must be a list of covariate column names other "
            f"than the unit column. Got {list(adjust)!r} instead."
        )
    return adjust


def _casemix(d: pd.DataFrame, adjust: tuple[str, ...], kind: str):
    """Expected value per episode from a model of the outcome on ``adjust`` (no unit term)."""
    import statsmodels.api as sm

    from ._compare.design import covariate_design, full_rank

    X, names, _, notes = covariate_design(d, adjust)
    X = np.column_stack([np.ones(len(d)), X])
    names = ["(intercept)", *names]
    if not full_rank(X):
        raise DataError(
            f"funnel: the case-mix covariates {list(adjust)} are collinear in the episodes used "
            "(a column is a combination of others); drop one."
        )
    y = d["y"].to_numpy(dtype=float)
    if kind == "mean":
        fit = sm.OLS(y, X).fit()
        sigma = float(np.sqrt(fit.scale))
        what = "OLS of change on"
    else:
        fit = sm.GLM(y, X, family=sm.families.Binomial()).fit()
        sigma = float("nan")
        what = "logistic GLM (binomial, logit link) of the outcome on"
    model = pd.DataFrame(
        {"term": names, "estimate": fit.params, "se": fit.bse, "pvalue": fit.pvalues}
    )
    return np.asarray(fit.fittedvalues, dtype=float), sigma, model, notes, what


def _limit_curves(kind, target, x, sigma, applied, phi, tau2, var=None):
    """Limits at precision ``x`` for every level: dict level -> (lower, upper). ``var``: the
    binomial variance of the observed count of a ratio (``ratio_limits="binomial"``)."""
    x = np.asarray(x, dtype=float)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "proportion":
            s = np.sqrt(target * (1 - target) / x)
        elif kind == "ratio":
            s = 1.0 / np.sqrt(x) if var is None else np.sqrt(np.asarray(var, dtype=float)) / x
        else:
            s = sigma / np.sqrt(x)
    for name, level in LEVELS.items():
        lo_p, hi_p = (1 - level) / 2, 1 - (1 - level) / 2
        zc = z_crit(level)
        if applied == "additive":
            half = zc * np.sqrt(s**2 + tau2)
            lo, hi = target - half, target + half
        else:
            if kind == "proportion":
                lo, hi = binomial_limit(target, x, lo_p), binomial_limit(target, x, hi_p)
            elif kind == "ratio" and var is None:
                lo, hi = poisson_limit(x, lo_p), poisson_limit(x, hi_p)
            else:
                lo, hi = target - zc * s, target + zc * s
            if applied == "multiplicative":
                r = np.sqrt(max(phi, 1.0))  # an adjustment never narrows the limits
                lo, hi = target - r * (target - lo), target + r * (hi - target)
        if kind == "proportion":
            lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        elif kind == "ratio":
            lo = np.maximum(lo, 0.0)
        out[name] = (lo, hi)
    return out, s


def _grid(kind: str, x: np.ndarray) -> np.ndarray:
    hi = float(np.nanmax(x)) * 1.1
    if kind == "ratio":
        lo = max(float(np.nanmin(x)) * 0.5, 1e-3)
        return np.geomspace(lo, hi, 200)
    top = int(np.ceil(hi))
    if top <= 400:
        return np.arange(1, top + 1, dtype=float)
    return np.unique(np.round(np.geomspace(1, top, 400)))


@validate_params(
    {
        "episodes": ["no_validation"],  # a DataFrame or LoadResult, checked when read
        "unit": [str],
        "outcome": [str],
        "adjust": ["columns"],
        "instrument": ["instruments", None],
        "overdispersion": [Options(*_OVERDISPERSION)],
        "shareable": ["boolean", None],
        "min_named": [Interval(int, 1, None, closed="left")],
        "trim": [Interval(float, 0, 0.5, closed="left")],
        "ratio_limits": [Options("auto", "poisson", "binomial")],
    }
)
def funnel(
    episodes: Any,
    *,
    unit: str = "site",
    outcome: str = "recovery",
    adjust: str | list[str] | tuple[str, ...] = (),
    instrument: str | None = None,
    overdispersion: str = "auto",
    shareable: bool | None = None,
    min_named: int = 11,
    trim: float = 0.1,
    ratio_limits: str = "auto",
) -> FunnelResult:
    r"""Funnel plot of an outcome per unit (site, clinician, cohort) against its volume.

    Each unit's outcome is set against a target with control limits that narrow as the
    unit's volume grows (Spiegelhalter 2005): a unit outside the 99.8 % limits differs from
    the target by more than chance (about 3 SD), outside the 95 % limits is a warning.

    **Rates** (``outcome`` = ``"recovery"``, ``"reliable improvement"``, ``"reliable
    recovery"``, ``"reliable deterioration"``, ``"response"``, ``"remission"``,
    ``"dropout"``; each episode's outcome and denominator come from the library's own
    definitions, see below). Crude (no ``adjust``): the estimate is the unit's rate
    :math:`y_i = O_i/n_i` against :math:`n_i`; the target is the overall rate
    :math:`\theta_0 = \sum O_i / \sum n_i`; limits are exact binomial quantiles with
    Spiegelhalter's interpolation (2005, Appendix):

    .. math::
        r_p:\ F(r_p) \ge p > F(r_p - 1), \quad
        \alpha = \frac{F(r_p) - p}{F(r_p) - F(r_p - 1)}, \quad
        \text{limit}_p(n) = \frac{r_p - \alpha}{n},

    with :math:`F` the Binomial(:math:`n, \theta_0`) distribution function and
    :math:`p` = 0.025/0.975 (95 %), 0.001/0.999 (99.8 %); the sampling z-score is
    :math:`z_i = (y_i - \theta_0)/\sqrt{\theta_0(1-\theta_0)/n_i}`.

    Case-mix adjusted (``adjust=[...]``, indirect standardisation): a logistic model of the
    outcome on the ``adjust`` covariates (numeric as they are, text as treatment dummies; no
    unit term; statsmodels GLM, binomial family) fitted to every unit's episodes gives each
    episode's expected probability; a unit's expected count is their sum :math:`E_i`, the
    estimate is the ratio :math:`O_i/E_i` against :math:`E_i`, the target 1, and the limits
    are the interpolated quantiles of Poisson(:math:`E_i`) divided by :math:`E_i`
    (Spiegelhalter 2005, Appendix; :math:`z_i = (O_i - E_i)/\sqrt{E_i}`). ``standardised_rate``
    :math:`= \theta_0 O_i/E_i` restates the ratio on the rate scale.

    **Mean change** (``outcome="change"``): the unit's mean change against :math:`n_i`;
    target the overall mean :math:`\mu_0`; limits :math:`\mu_0 \pm z_p\sigma/\sqrt{n_i}` with
    :math:`\sigma` the residual SD of the case-mix model (OLS on ``adjust``; intercept only
    when crude, i.e. the SD of all episodes' change). Adjusted, the estimate is
    :math:`\mu_0 + (\bar y_i - \bar{\hat y}_i)`: the unit's excess over its expected mean,
    on the scale of points.

    **Overdispersion** (Spiegelhalter 2005 sec. 3.3; Spiegelhalter, Sherlaw-Johnson et al.
    2012): :math:`\hat\phi = \frac1I\sum z_{i,W}^2` from the z-scores Winsorised at their
    ``trim`` and ``1 - trim`` quantiles (10 %/90 %). ``"multiplicative"`` widens each limit's
    distance from the target by :math:`\sqrt{\hat\phi}` (never narrows it: :math:`\hat\phi
    < 1` is taken as 1; Winsorising shrinks :math:`\hat\phi` below 1 when units do not
    vary beyond chance) (:math:`\theta_0 \pm
    z_p\sqrt{\hat\phi\,\theta_0(1-\theta_0)/n}` where the normal approximation holds) and
    divides z by :math:`\sqrt{\hat\phi}`; ``"additive"`` (random effects) adds
    :math:`\hat\tau^2 = \max(0, (I\hat\phi - (I-1))/(\sum w_i - \sum w_i^2/\sum w_i))`,
    :math:`w_i = 1/s_i^2`, to each unit's sampling variance (normal limits
    :math:`\theta_0 \pm z_p\sqrt{s^2 + \hat\tau^2}`); ``"auto"`` (default) applies the
    multiplicative adjustment only when :math:`I\hat\phi` exceeds the 95th percentile of
    :math:`\chi^2_{I-1}` (the target is estimated from the same units: one degree of
    freedom fewer than the paper's :math:`\chi^2_I` for a known target) and there are at
    least 10 units (:data:`MIN_UNITS_OVERDISPERSION`); ``"none"`` never.

    Parameters
    ----------
    episodes : DataFrame or LoadResult
        Episode table (``iop.episodes``), or loaded assessments, told apart by their columns
        (an assessment table has ``total`` and no ``baseline``); from assessments the episode
        table is built with ``iop.episodes(..., instrument=instrument)``.
    unit : str, default "site"
        Column naming the provider unit (site, clinician, cohort, program).
    outcome : str, default "recovery"
        One of ``"recovery"``, ``"reliable improvement"``, ``"reliable recovery"``,
        ``"reliable deterioration"``, ``"response"``, ``"remission"``, ``"dropout"``,
        ``"change"``.
    adjust : list of str, optional
        Case-mix covariates for indirect standardisation (e.g. ``["baseline", "age",
        "format"]``). Episodes missing any are left out, with a note.
    instrument : str or list of str, optional
        ``None``: the table must hold one instrument (else ConfigError naming those found).
        The NHS outcomes use the joint PHQ-9 + GAD-7 rules only when asked with
        ``instrument=["PHQ-9", "GAD-7"]``; dropout, an episode fact, reads every row.
    overdispersion : {"auto", "multiplicative", "additive", "none"}
        Adjustment of the limits for overdispersion (above).
    shareable : bool, optional
        ``True``: a view fit to share: units with 1 to ``min_named`` - 1 episodes are plotted
        but not named (``"(small unit 1)"``, ...). ``False``: an internal view naming every
        unit, marked as such in its title and notes. Default: ``False`` when ``unit`` names
        people (clinician, therapist, provider, ...), else ``True``.
    min_named : int, default 11
        Smallest number of episodes of a unit named in a shareable view (the report's
        small-cell rule: counts 1-10 are not shown).
    trim : float, default 0.1
        Winsorisation fraction at each end for :math:`\hat\phi`.
    ratio_limits : {"auto", "poisson", "binomial"}, default "auto"
        Limits of an adjusted rate's O/E. ``"auto"``: binomial when the overall rate is above
        10 % (recovery, response, dropout), else Poisson (rare events). ``"poisson"``: Spiegelhalter's interpolated Poisson
        limits, exact for rare events. ``"binomial"``: normal limits
        :math:`1 \pm z_p\sqrt{V_i}/E_i` with the binomial variance of the observed count,
        :math:`V_i = \sum_j \hat p_j(1 - \hat p_j)`, and :math:`z_i = (O_i - E_i)/\sqrt{V_i}`
        — for common outcomes (recovery about 40 %) the Poisson variance :math:`E_i`
        overstates :math:`V_i` by about :math:`1/(1-\bar p)` and the Poisson limits are too
        wide; the curves are drawn for a unit of average risk, :math:`V = E(1-\bar p)`.

    Returns
    -------
    FunnelResult
        ``.table`` per unit, ``.outliers``, ``.limits`` (curves for plotting), ``.phi``,
        ``.tau2``, ``.model`` (case-mix coefficients), ``.shareable``; ``.plot()``.

    Notes
    -----
    Outcome definitions: recovery, reliable improvement, reliable recovery and reliable
    deterioration are the NHS Talking Therapies definitions of
    :func:`~iop_outcomes.clinical_significance` (``method="nhs-talking-therapies"``, its
    denominators: finished courses, at caseness for recovery); response and remission those of
    :func:`~iop_outcomes.change_scores` (a baseline of 0 counts as not responding); dropout is
    ``discharge_status == "dropped_out"`` among closed episodes. Units with no episode in the
    denominator, and episodes without a unit, are left out with a note.

    References
    ----------
    Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Stat Med
    24:1185-1202, doi:10.1002/sim.1970.
    Spiegelhalter DJ, Sherlaw-Johnson C, Bardsley M, Blunt I, Wood C, Grigg O (2012).
    Statistical methods for healthcare regulation: rating, screening and surveillance. J R Stat
    Soc A 175:1-47, doi:10.1111/j.1467-985X.2011.01010.x.
    DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials
    7:177-188.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "site": ["A"] * 40 + ["B"] * 40 + ["C"] * 20,
    ...     "discharge_status": ["dropped_out"] * 4 + ["completed"] * 36
    ...     + ["dropped_out"] * 20 + ["completed"] * 20
    ...     + ["dropped_out"] * 6 + ["completed"] * 14,
    ... })
    >>> f = iop.funnel(ep, unit="site", outcome="dropout", overdispersion="none")
    >>> round(f.target, 2)
    0.3
    >>> f.table[["unit", "n", "observed", "flag", "signal"]]
      unit   n  observed                flag  signal
    0    A  40       4.0    below 95 % limit  better
    1    B  40      20.0    above 95 % limit   worse
    2    C  20       6.0  within 95 % limits
    """
    adjust = _adjust_columns(unit, adjust)
    if shareable is None:
        shareable = not bool(_PERSON_UNIT.search(unit))
    eo, d, notes = _episode_rows(episodes, unit, outcome, adjust, instrument)
    kind = "mean" if eo.kind == "mean" else ("ratio" if adjust else "proportion")
    g, y, sigma, model = _unit_totals(d, adjust, eo.kind, kind, notes)
    target, observed, expected, estimate, x, var, grid_var, ratio_limits = _estimates(
        kind, g, y, ratio_limits, notes
    )
    _check_spread(kind, y, sigma, eo.label)
    base, s = _limit_curves(kind, target, x, sigma, "none", 1.0, 0.0, var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (estimate - target) / s
    od = _overdispersion(z, s, float(trim), overdispersion, notes)
    lim, _ = _limit_curves(kind, target, x, sigma, od["applied"], od["phi"], od["tau2_used"], var)
    table = _unit_table(g, observed, expected, estimate, x, target, z, s, od, kind, y, lim)
    table = _flag(table, eo.better_is)
    table = _name_units(table, shareable, min_named, notes)
    _empty_unit_notes(eo.frame[unit], g.index, notes)
    limits = _limit_frame(kind, target, x, sigma, od, grid_var)
    limits_text = _describe(kind, od, float(trim), overdispersion, var, notes)
    outliers = table[table["flag"] != _FLAG_ORDER[2]].reset_index(drop=True)
    title = f"Funnel plot: {eo.label} by {unit}"
    if adjust:
        title += f", adjusted for {', '.join(adjust)}"
    if not shareable:
        title = "INTERNAL - " + title
    return FunnelResult(
        table=table,
        title=title,
        method=f"Spiegelhalter (2005) funnel plot: {limits_text}; 95 % and 99.8 % limits. "
        f"Outcome: {eo.definition}.",
        params={
            "unit": unit,
            "outcome": eo.name,
            "adjust": list(adjust),
            "instrument": eo.instrument,
            "kind": kind,
            "target": target,
            **({"sigma": sigma} if kind == "mean" else {}),
            "phi": od["phi"],
            "overdispersion_statistic": od["statistic"],
            "overdispersion_pvalue": od["pvalue"],
            "overdispersion": od["applied"],
            "tau2": od["tau2"],
            "trim": float(trim),
            **({"ratio_limits": ratio_limits} if kind == "ratio" else {}),
            "shareable": shareable,
            "min_named": min_named,
            "better_is": eo.better_is,
        },
        notes=tuple(notes),
        limits=limits,
        outliers=outliers,
        model=model,
        kind=kind,
        target=target,
        phi=od["phi"],
        tau2=od["tau2"],
        overdispersion=od["applied"],
        shareable=shareable,
        outcome_label=eo.label,
    )


def _episode_rows(episodes, unit, outcome, adjust, instrument):
    """The outcome per episode with a unit (and every case-mix covariate), and the notes."""
    eo = episode_outcome(
        episodes, outcome, keep=[unit, *adjust], instrument=instrument, func="funnel"
    )
    d = eo.frame
    notes = list(eo.notes)
    no_unit = d[unit].isna().to_numpy()
    if no_unit.any():
        notes.append(f"{int(no_unit.sum()):,} episode(s) without a {unit!r} value left out.")
    d = d.loc[~no_unit & d["y"].notna().to_numpy()]
    if adjust:
        incomplete = d[list(adjust)].isna().any(axis=1).to_numpy()
        if incomplete.any():
            notes.append(
                f"{int(incomplete.sum()):,} episode(s) missing a case-mix covariate "
                f"{list(adjust)} left out."
            )
        d = d.loc[~incomplete]
    d = d.reset_index(drop=True)
    if len(d) == 0:
        raise DataError(f"funnel: no episode has both a {unit!r} value and the {eo.label}.")
    return eo, d.assign(_unit=d[unit].astype(str)), notes


def _unit_totals(d, adjust, outcome_kind, kind, notes):
    """Per unit: episodes, observed total, expected total and binomial variance (case mix)."""
    model = pd.DataFrame()
    y = d["y"].to_numpy(dtype=float)
    sigma = float("nan")
    if adjust:
        fitted, sigma, model, mnotes, what = _casemix(d, adjust, outcome_kind)
        notes += mnotes
        notes.append(
            f"Case mix: {what} {list(adjust)} over all units' {len(d):,} episodes (no unit "
            "term); expected = the sum (mean, for change) of each episode's fitted value."
        )
    else:
        fitted = np.full(len(d), float(np.mean(y)))
        if kind == "mean":
            sigma = float(np.std(y, ddof=1)) if len(y) > 1 else float("nan")
    g = (
        d.assign(_fit=fitted, _var=fitted * (1 - fitted))
        .groupby("_unit", sort=True)
        .agg(
            n=("y", "size"),
            total=("y", "sum"),
            exp_total=("_fit", "sum"),
            var_total=("_var", "sum"),
        )
    )
    return g, y, sigma, model


def _estimates(kind, g, y, ratio_limits, notes):
    """Target, observed, expected, the plotted estimate and precision ``x`` of each unit."""
    var = grid_var = None  # binomial variance of O for ratio_limits="binomial"
    n = g["n"].to_numpy(dtype=float)
    if kind == "mean":
        target = float(np.mean(y))
        observed = g["total"].to_numpy() / n
        expected = g["exp_total"].to_numpy() / n
        return target, observed, expected, target + observed - expected, n, var, grid_var, None
    if kind == "proportion":
        target = float(np.sum(y) / len(y))
        observed = g["total"].to_numpy()
        return target, observed, n * target, observed / n, n, var, grid_var, None
    observed = g["total"].to_numpy()
    expected = g["exp_total"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = observed / expected
    rate = float(np.mean(y))
    if ratio_limits == "auto":  # on synthetic data without real differences (499 units,
        # a 40 % rate) the Poisson limits flagged 6 units at 95 %, the binomial ones 27
        # of the 25 expected: Poisson limits are for rare events
        ratio_limits = "binomial" if rate > 0.1 else "poisson"
        notes.append(
            f"Limits of O/E: {ratio_limits} (overall rate {rate:.0%}; "
            "binomial above 10 %, Poisson for rarer events)."
        )
    if ratio_limits == "binomial":
        var = g["var_total"].to_numpy()
        grid_var = 1 - rate  # curves: var = E (1 - rate), average risk
    elif rate > 0.1:
        notes.append(
            f"Poisson limits treat the expected events as rare; with an overall rate of "
            f"{rate:.0%} the binomial variance of O (sum of p(1 - p)) is about "
            f"{1 - rate:.0%} of E, so these limits are wider (more conservative) "
            "and phi smaller than with ratio_limits='binomial'."
        )
    return 1.0, observed, expected, estimate, expected, var, grid_var, ratio_limits


def _check_spread(kind, y, sigma, label):
    """A rate needs events and non-events; a mean needs spread."""
    if kind in ("proportion", "ratio") and not 0 < float(np.mean(y)) < 1:
        raise DataError(
            f"funnel: the {label} is {float(np.mean(y)):.0%} in every unit together; "
            "a funnel needs some episodes with and some without the outcome."
        )
    if kind == "mean" and not sigma > 0:
        raise DataError("funnel: the change has no spread (SD 0 or one episode); no limits.")


def _overdispersion(z, s, trim, overdispersion, notes) -> dict:
    """Winsorised phi, its chi-square test, tau^2 and the adjustment applied."""
    k = len(z)
    phi = winsorised_phi(z, trim)
    od_stat = k * phi
    od_p = float(_dist.chi2.sf(od_stat, k - 1)) if k > 1 else float("nan")
    tau2 = additive_tau2(phi, s) if k > 1 else float("nan")
    if overdispersion == "auto":
        enough = k >= MIN_UNITS_OVERDISPERSION
        applied = "multiplicative" if (enough and phi > 1 and od_p < 0.05) else "none"
        if not enough:
            notes.append(
                f"overdispersion='auto' with {k} unit(s): phi is not estimable with fewer than "
                f"{MIN_UNITS_OVERDISPERSION} units, so no adjustment was made (pass "
                "overdispersion='multiplicative' to force one)."
            )
    else:
        applied = overdispersion
    if applied != "none" and not np.isfinite(phi):
        applied = "none"
    return {
        "k": k,
        "phi": phi,
        "statistic": od_stat,
        "pvalue": od_p,
        "tau2": tau2,
        "tau2_used": tau2 if np.isfinite(tau2) else 0.0,
        "applied": applied,
    }


def _unit_table(g, observed, expected, estimate, x, target, z, s, od, kind, y, lim):
    """One row per unit: counts, estimate, z-scores and the limits at its precision."""
    if od["applied"] == "multiplicative":
        z_adj = z / np.sqrt(max(od["phi"], 1.0))
    elif od["applied"] == "additive":
        z_adj = (estimate - target) / np.sqrt(s**2 + od["tau2"])
    else:
        z_adj = z
    table = pd.DataFrame(
        {
            "unit": g.index.to_numpy(dtype=object),
            "n": g["n"].to_numpy(dtype=np.int64),
            "observed": observed.astype(float),
            "expected": expected.astype(float),
            "estimate": estimate.astype(float),
            "x": x.astype(float),
            "target": target,
            "z": z,
            "z_adjusted": z_adj,
        }
    )
    if kind != "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            table.insert(4, "ratio", observed / expected)  # O/E (the estimate, when adjusted)
    if kind == "ratio":
        table.insert(6, "standardised_rate", estimate * float(np.mean(y)))
    for name in LEVELS:
        table[f"lower_{name}"], table[f"upper_{name}"] = lim[name]
    return table


def _flag(table: pd.DataFrame, better_is: str) -> pd.DataFrame:
    """Which limit each unit crosses, and whether that is better or worse."""
    est = table["estimate"].to_numpy()
    flag = np.select(
        [
            est > table["upper_99_8"].to_numpy(),
            est > table["upper_95"].to_numpy(),
            est < table["lower_99_8"].to_numpy(),
            est < table["lower_95"].to_numpy(),
        ],
        [_FLAG_ORDER[0], _FLAG_ORDER[1], _FLAG_ORDER[4], _FLAG_ORDER[3]],
        default=_FLAG_ORDER[2],
    )
    table["flag"] = flag
    above = np.char.startswith(flag.astype(str), "above")
    below = np.char.startswith(flag.astype(str), "below")
    good_up = better_is == "higher"
    table["signal"] = np.where(
        above,
        "better" if good_up else "worse",
        np.where(below, "worse" if good_up else "better", ""),
    )
    return table


def _name_units(table, shareable, min_named, notes) -> pd.DataFrame:
    """Small units unnamed (and listed last) in a shareable view; an internal view names all."""
    table["small"] = (table["n"] >= 1) & (table["n"] < min_named)
    table["named"] = ~table["small"] | (not shareable)
    if shareable and table["small"].any():
        small_idx = np.flatnonzero(table["small"].to_numpy())
        labels = table["unit"].to_numpy(dtype=object).copy()
        for j, i in enumerate(small_idx, start=1):
            labels[i] = f"(small unit {j})"
        table["unit"] = labels
        table = pd.concat([table[~table["small"]], table[table["small"]]], ignore_index=True)
        notes.append(
            f"Shareable view: {len(small_idx)} unit(s) with 1-{min_named - 1} episodes are "
            "plotted but not named."
        )
    elif not shareable:
        notes.append(
            "INTERNAL view: names every unit, including units with fewer than "
            f"{min_named} episodes; not for sharing (pass shareable=True for a view that is)."
        )
    return table


def _empty_unit_notes(col: pd.Series, kept: pd.Index, notes: list[str]) -> None:
    """Note the units with no episode in the denominator."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        empty = [str(c) for c in col.cat.categories if str(c) not in set(kept)]
    else:
        empty = sorted(set(col.dropna().astype(str)) - set(kept))
    if empty:
        notes.append(
            f"{len(empty)} unit(s) with 0 episodes in the denominator left out: {', '.join(empty)}."
        )


def _limit_frame(kind, target, x, sigma, od, grid_var) -> pd.DataFrame:
    """The limit curves over a grid of precision, for plotting."""
    grid = _grid(kind, x)
    gvar = None if grid_var is None else grid * grid_var
    glim, _ = _limit_curves(
        kind, target, grid, sigma, od["applied"], od["phi"], od["tau2_used"], gvar
    )
    return pd.concat(
        [
            pd.DataFrame({"x": grid, "level": LEVELS[name], "lower": lo, "upper": hi})
            for name, (lo, hi) in glim.items()
        ],
        ignore_index=True,
    )


def _describe(kind, od, trim, overdispersion, var, notes) -> str:
    """The overdispersion note, and the limits in words for the method line."""
    phi, tau2, applied, k = od["phi"], od["tau2"], od["applied"], od["k"]
    od_text = {
        "none": "no overdispersion adjustment",
        "multiplicative": (
            f"limits widened by sqrt(phi) = {np.sqrt(phi):.3f} (multiplicative)"
            if phi > 1
            else "multiplicative asked for, but phi <= 1: limits not narrowed (phi taken as 1)"
        ),
        "additive": f"additive random effects, tau^2 = {tau2:.4g}",
    }[applied]
    notes.append(
        f"Overdispersion: phi = {phi:.3f} from z-scores Winsorised at {trim:.0%}/{1 - trim:.0%}; "
        f"I*phi = {od['statistic']:.2f} on chi-square({k - 1}) p = {od['pvalue']:.3g}; "
        f"{od_text}."
    )
    if k < MIN_UNITS_OVERDISPERSION and overdispersion != "auto":
        notes.append(f"Only {k} unit(s): phi is imprecise with fewer than about 10 units.")
    if applied == "additive":
        return "normal limits target +/- z * sqrt(s^2 + tau^2) (additive random effects)"
    return {
        "proportion": "exact binomial limits with Spiegelhalter's interpolation around the "
        "overall rate",
        "ratio": "indirectly standardised ratio O/E with interpolated Poisson limits around 1"
        if var is None
        else "indirectly standardised ratio O/E with normal limits 1 +/- z sqrt(sum p(1-p)) / E",
        "mean": "normal limits target +/- z * sigma / sqrt(n) around the overall mean",
    }[kind]
