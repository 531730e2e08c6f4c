"""Symptom trajectories over weeks of treatment: mixed-effects growth models and GEE.

:func:`trajectories` fits a growth model to assessment-level (long) data, one row per
administered questionnaire (``iop.load(...).data``, see ``docs/data-format.md``):

* ``method="mixed"`` (default): linear mixed model fitted by REML -- ``total ~ time * group``
  with a random intercept and a random slope on ``week`` per episode (correlated), optionally
  a random intercept per site. Fitted either by statsmodels ``MixedLM`` or by a vectorized
  profiled-REML fitter (lme4's criterion computed from per-episode sufficient statistics;
  default, scales to 10⁵-10⁶ episodes); both agree with lme4 to ~1e-6. The same model
  in R is ``lme4::lmer(total ~ week * format + (1 + week | episode_id), REML = TRUE)``.
* ``method="gee"``: population-averaged model by generalized estimating equations
  (Liang & Zeger 1986), identity link, exchangeable or AR(1) working correlation within
  episode and robust (sandwich) standard errors.

Time enters as ``"linear"`` (week), ``"quadratic"`` (week + week²), ``"piecewise"`` (two
linear pieces joined at ``knot`` weeks) or ``"categorical"`` (one mean per integer week).

The early-change summary is :func:`iop_outcomes.early_change` (``early.py``).

Only in-treatment scores are modelled: rows dated before admission or after discharge and rows
whose ``timepoint`` is a follow-up (``followup_*``) are excluded and counted; follow-up
durability is a separate question (``iop.durability``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._stats import z_crit
from .._validation import Interval, Options, validate_params
from ..exceptions import ConfigError, ConvergenceWarning, DataError
from .design import lme4_formula, patsy_formula, pretty_term, time_columns
from .gee import fit_gee
from .mixed import RANDOM, fit_statsmodels, fit_vectorized, gls_cov
from .prepare import Prepared, prepare
from .result import TrajectoryResult

__all__ = ["trajectories"]

_TIME_FORMS = ("linear", "quadratic", "piecewise", "categorical")
_METHODS = ("mixed", "gee")
_CORR = ("exchangeable", "ar1", "independence")
_ENGINES = ("auto", "statsmodels", "vectorized")


@validate_params(
    {
        "assessments": ["frame"],
        "instrument": ["instrument", None],
        "group": [str, None],
        "reference": ["no_validation"],  # a level of group: checked against the data
        "time": [Options(*_TIME_FORMS)],
        "method": [Options(*_METHODS)],
        "site": [str, None],
        "knot": [Interval(float, 0, None, closed="neither")],
        "random": [Options(*RANDOM)],
        "corr": [Options(*_CORR)],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
        "max_week": [Interval(float, 0, None, closed="neither"), None],
        "engine": [Options(*_ENGINES)],
    },
    renamed={"data": "assessments"},
)
def trajectories(
    assessments: pd.DataFrame,
    *,
    instrument: str | None = None,
    group: str | None = "format",
    reference: Any = None,
    time: str = "linear",
    method: str = "mixed",
    site: str | None = None,
    knot: float = 2,
    random: str = "slope",
    corr: str = "exchangeable",
    ci_level: float = 0.95,
    max_week: float | None = None,
    engine: str = "auto",
) -> TrajectoryResult:
    r"""Growth model of weekly scores by group: mixed-effects (REML) or GEE.

    Mixed model (``method="mixed"``), for score :math:`y_{ij}` of episode *i* at week
    :math:`t_{ij}`:

    .. math::
        y_{ij} = x_{ij}'\beta + b_{0i} + b_{1i} t_{ij} + \varepsilon_{ij},\quad
        (b_{0i}, b_{1i})' \sim N(0, D),\ \varepsilon_{ij} \sim N(0, \sigma^2)

    where :math:`x_{ij}` holds time (per ``time``), group and their interaction. Fitted by
    REML (Laird & Ware 1982; see ``engine``); the fixed-effects covariance is
    :math:`(X'V^{-1}X)^{-1}` at the REML estimates (as ``lme4::vcov``), and model-based means
    are :math:`\hat\mu = X_0\hat\beta` with Wald CI
    :math:`\hat\mu \pm z\sqrt{\operatorname{diag}(X_0 V_\beta X_0')}` (as ``emmeans`` with
    ``lmer.df = "asymptotic"``). GEE (``method="gee"``) solves
    :math:`\sum_i X_i' R_i(\alpha)^{-1}(y_i - X_i\beta) = 0` with a working correlation
    :math:`R(\alpha)` and reports sandwich standard errors (Liang & Zeger 1986).

    Parameters
    ----------
    assessments : DataFrame
        Assessment rows (``iop.load(...).data``): ``episode_id``, ``instrument``, ``total`` and
        ``week`` or ``assessment_date`` + ``admit_date`` (week = days / 7). With
        ``discharge_date`` or a ``timepoint`` column, only in-treatment scores are kept
        (admission ≤ date ≤ discharge; follow-ups are excluded and counted in the notes).
    instrument : str or None
        Instrument to model (any accepted spelling). ``None`` (default): the table must hold
        exactly one instrument, else a ConfigError names those found (the library's instrument
        rule, ``docs/api.md``).
    group : str or None
        Episode-level group column whose levels are compared (default ``"format"``); ``None``
        fits one overall trajectory.
    reference : str, optional
        Level of ``group`` the others are compared with (default: the first level in
        categorical order when the column is categorical, else in sorted order).
    time : {"linear", "quadratic", "piecewise", "categorical"}
        Shape of the mean trajectory: week; week + week²; two linear pieces joined at
        ``knot`` (terms ``week_to_K`` = min(week, K) and ``week_after_K`` = max(week − K, 0));
        or a separate mean per integer week (week rounded to the nearest integer).
        The random slope is always on (linear) week.
    method : {"mixed", "gee"}
        Subject-specific mixed model (default) or population-averaged GEE.
    site : str or None
        Column for a site (program) random intercept, mixed model only. The episode random
        intercept and slope then become independent variance components nested in site.
    knot : float
        Knot (weeks) for ``time="piecewise"``.
    random : {"slope", "uncorrelated", "intercept"}
        Episode random effects: correlated intercept and slope (default), independent
        intercept and slope, or intercept only. If a fit fails, later options are tried
        (see Notes).
    corr : {"exchangeable", "ar1", "independence"}
        GEE working correlation. AR(1) is statsmodels' ``Autoregressive``: corr = α^|j−k|
        between an episode's j-th and k-th observed scores (in week order; gaps between
        weeks are ignored), α = mean lag-1 residual product / mean squared residual (averaged
        within episode). geepack's ``corstr = "ar1"`` estimates α differently (0.853 vs
        0.695 on the test data), so its coefficients differ slightly; GEE coefficients are
        consistent under any working correlation, which affects efficiency only.
    ci_level : float
        Confidence level of all intervals.
    max_week : float, optional
        Drop scores after this week (e.g. sparse late weeks).
    engine : {"auto", "statsmodels", "vectorized"}
        Mixed-model fitter. ``"statsmodels"``: ``MixedLM`` (loops over episodes; about
        1-4 s per 1,000 episodes). ``"vectorized"``: the same REML criterion profiled over
        β and σ as in lme4 (Bates et al. 2015), computed from per-episode sufficient
        statistics with numpy and minimised over the relative covariance factor by L-BFGS-B
        with the analytic gradient, finished by Newton steps (about 25 deviance evaluations;
        Nelder-Mead if that fails, then checked by probing each coordinate); the
        fixed-effects covariance σ²(X'H⁻¹X)⁻¹ comes from the same sums (no site level).
        ``"auto"`` (default) uses the vectorized fitter, or statsmodels with a site level.
        Both match lme4 to ~1e-6 on the reference data (including a boundary fit) and each
        other to ~1e-7; the vectorized fitter is 50-100 times faster (100,000 episodes in
        seconds).

    Returns
    -------
    TrajectoryResult
        ``.fixed``, ``.means``, ``.variance``, ``.observed``, ``.model_info``, ``.change(week)``,
        ``.plot()``, ``to_frame(part)``.

    Notes
    -----
    Convergence: each fit is checked (statsmodels' ``converged`` flag and convergence
    warnings). If BFGS (gradient tolerance 1e-8, tight enough to match lme4 to ~1e-7) does not
    report convergence, L-BFGS then Powell are tried; once one converges, the attempt with the
    highest REML log-likelihood is reported (``model_info["optimizer"]``, ``["attempts"]``
    and a note). If no optimizer converges, the random part is simplified (correlated →
    independent intercept and slope → intercept only): ``model_info["fallback"]`` says what was
    used and a :class:`~iop_outcomes.ConvergenceWarning` is issued. A converged fit on the boundary (slope variance 0 or correlation ±1, lme4's
    "singular fit") is kept and flagged (``model_info["singular"]``), as lme4 does.
    p-values and CIs are Wald z (asymptotic); lmerTest's Satterthwaite df give practically the
    same values with hundreds of episodes.

    References
    ----------
    Laird NM, Ware JH (1982). Random-effects models for longitudinal data. Biometrics 38:963.
    Liang KY, Zeger SL (1986). Longitudinal data analysis using generalized linear models.
    Biometrika 73:13.
    Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models using
    lme4. J Stat Softw 67(1).
    Singer JD, Willett JB (2003). Applied Longitudinal Data Analysis. Oxford UP (piecewise and
    discontinuous growth models, ch. 6).

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> from iop_outcomes._trajectories.prepare import example_data
    >>> res = iop.trajectories(example_data())
    >>> res.model_info["converged"], res.model_info["n_episodes"]
    (True, 40)
    >>> list(res.means.columns)
    ['week', 'group', 'estimate', 'se', 'ci_low', 'ci_high', 'ci_level']
    """
    _check_combinations(method, site, engine)
    prep = prepare(
        assessments,
        func="trajectories",
        instrument=instrument,
        group=group,
        site=site,
        max_week=max_week,
        reference=reference,
    )
    notes = list(prep.notes)
    has_group = _check_rows(prep, time, knot, notes)
    d = _design(prep, has_group, time, knot)
    if method == "mixed":
        fe, cov, var, info, label = _fit_mixed_model(d, prep, random, engine, time, notes)
    else:
        fe, cov, var, info, label = _fit_gee_model(d, corr, time, notes)
    info = {"method": method, "time": time, **info}
    fixed = _fixed_table(fe, cov, d["names"], prep.group or "group", knot, ci_level)
    design = _result_design(d, prep, fe, cov, time, knot, has_group)
    stub = TrajectoryResult(table=fixed, _design=design, model_info={"ci_level": ci_level})
    means = _means(stub, d["df"], design, has_group, ci_level)
    observed = _observed(d["df"], has_group)
    _describe(info, d, prep, method, time, random, knot, ci_level, has_group)
    n_ep, n_obs = info["n_episodes"], info["n_obs"]
    title = (
        f"{prep.instrument or 'Score'} trajectories"
        + (f" by {prep.group}" if has_group else "")
        + f" ({'mixed model' if method == 'mixed' else 'GEE'}, {time} time): "
        f"{n_ep:,} episodes, {n_obs:,} scores"
    )
    return TrajectoryResult(
        table=fixed,
        title=title,
        method=label,
        params={"ci_level": ci_level, "formula (R)": info["r_formula"]},
        notes=tuple(notes),
        fixed=fixed,
        means=means,
        variance=var,
        observed=observed,
        rows=_fitted_rows(d["df"], has_group),
        model_info=info,
        _design=design,
    )


def _check_combinations(method: str, site: str | None, engine: str) -> None:
    """Options that exclude each other (each one alone is checked by the decorator)."""
    if engine == "vectorized" and site is not None:
        raise ConfigError(
            "The 'engine' parameter of iop.trajectories must be 'statsmodels' or 'auto' with a "
            "site level. Got 'vectorized' instead."
        )
    if method == "gee" and site is not None:
        raise ConfigError(
            "The 'site' parameter of iop.trajectories is available with method='mixed' only "
            "(a site random intercept); for GEE add site as a covariate upstream or use the "
            "mixed model."
        )


def _check_rows(prep: Prepared, time: str, knot: float, notes: list) -> bool:
    """Enough episodes and weeks for the model; returns whether groups are compared."""
    df = prep.df
    has_group = prep.group is not None and len(prep.levels) > 1
    if prep.group is not None and not has_group:
        notes.append(f"Only one {prep.group!r} level ({prep.levels[0]!r}): one trajectory fitted.")
    n_ep = df["ep"].nunique()
    if n_ep < 3:
        raise DataError(f"iop.trajectories needs at least 3 episodes with scores; got {n_ep}.")
    if df["week"].nunique() < 2:
        raise DataError("iop.trajectories needs scores at 2 or more different weeks.")
    if time == "piecewise" and not (df["week"].min() < knot < df["week"].max()):
        raise ConfigError(
            f"The 'knot' parameter of iop.trajectories must lie inside the observed weeks "
            f"({df['week'].min():g}-{df['week'].max():g}). Got {knot!r} instead."
        )
    if time == "categorical" and not np.allclose(df["week"], df["weekr"]):
        notes.append("time='categorical': weeks rounded to the nearest integer week.")
    return has_group


def _design(prep: Prepared, has_group: bool, time: str, knot: float) -> dict:
    """The response and fixed-effects design matrix (patsy), rows sorted by episode and week."""
    import patsy

    df = time_columns(prep.df, time, knot)
    week_levels = sorted(df["weekr"].unique().tolist())
    formula = patsy_formula(time, has_group, prep.reference, week_levels[0])
    _, ep_starts = np.unique(df["ep"].to_numpy(), return_index=True)
    if has_group:
        df["grp"] = pd.Categorical(df["grp"], categories=prep.levels)
    if time == "categorical":
        df["week_c"] = pd.Categorical(df["week_c"], categories=week_levels)
    # the Categorical columns go in bare: patsy's C(...) wrapper skips its pandas.Categorical
    # fast path and converts value by value in Python (seconds per 100,000 rows)
    bare = formula.replace("C(grp)", "grp").replace("C(week_c)", "week_c")
    yd, Xd = patsy.dmatrices(bare, df, NA_action="raise")
    return {
        "df": df,
        "y": np.asarray(yd, float).ravel(),
        "X": np.asarray(Xd, float),
        "design_info": Xd.design_info,
        "names": list(Xd.design_info.column_names),
        "formula": formula,
        "week_levels": week_levels,
        "ep_starts": ep_starts,
    }


def _fit_mixed_model(
    d: dict, prep: Prepared, random: str, engine: str, time: str, notes: list
) -> tuple:
    """REML fit with its fallback chain; returns (β, cov(β), variance table, info, label)."""
    df, y, X, ep_starts = d["df"], d["y"], d["X"], d["ep_starts"]
    if engine == "auto":
        engine = "vectorized" if prep.site is None else "statsmodels"
    if engine == "vectorized":
        res, used_random, opt, history = fit_vectorized(df, y, X, random, ep_starts)
        fe, scale, D, llf = res["beta"], res["scale"], res["D"], res["llf"]
    else:
        res, used_random, opt, history = fit_statsmodels(df, y, X, random, prep.site, notes)
        fe = np.asarray(res.fe_params, float)
        scale = float(res.scale)
        llf = float(res.llf)
    if used_random == "intercept":
        Z = np.ones((len(df), 1))
    else:
        Z = np.column_stack([np.ones(len(df)), df["week"].to_numpy(float)])
    if prep.site is None:
        if engine != "vectorized":
            D = np.atleast_2d(np.asarray(res.cov_re, float))
        tau2 = 0.0
        site_of_ep = None
    else:
        vcomp = np.asarray(res.vcomp, float) * 1.0
        D = np.diag(vcomp)  # order: ep, ep_week (alphabetical names in vc_formula)
        tau2 = float(np.asarray(res.cov_re)[0, 0])
        site_of_ep = df["site"].to_numpy()[ep_starts]
    if engine == "vectorized":  # σ²(X'H⁻¹X)⁻¹ from the profiled fit itself
        cov = np.asarray(res["vcov"], float)
    else:
        cov = gls_cov(X, Z, ep_starts, D, scale, site_of_ep, tau2)
    var = _variance_table(D, scale, tau2, used_random, prep.site)
    singular = bool(
        np.any(np.diag(D) < 1e-6 * scale)
        or (
            used_random == "slope"
            and D.shape[0] == 2
            and abs(var["corr"].dropna().iloc[0] if var["corr"].notna().any() else 0) > 0.999
        )
        or (prep.site is not None and tau2 < 1e-6 * scale)
    )
    fallback = _convergence_notes(history, used_random, opt, singular, notes)
    info = {
        "converged": True,
        "fallback": fallback,
        "optimizer": opt,
        "random": used_random,
        "singular": singular,
        "reml": True,
        "loglik": llf,
        "engine": engine,
        "history": history,
    }
    re_label = {
        "slope": "intercept + slope (correlated)",
        "uncorrelated": "intercept + slope (independent)",
        "intercept": "intercept",
    }[used_random]
    fitter = "statsmodels MixedLM" if engine == "statsmodels" else "vectorized profiled REML"
    label = (
        f"Linear mixed model (REML, {fitter}), random {re_label} per episode"
        + (f" + random intercept per {prep.site}" if prep.site else "")
        + f"; time={time}; Wald z CIs"
    )
    return fe, cov, var, info, label


def _variance_table(
    D: np.ndarray, scale: float, tau2: float, used_random: str, site: str | None
) -> pd.DataFrame:
    """Variance components (lme4's VarCorr layout): variance, SD and the correlation."""
    rows = [{"level": "episode", "term": "Intercept", "variance": D[0, 0]}]
    if D.shape[0] == 2:
        rows.append({"level": "episode", "term": "week", "variance": D[1, 1]})
        if used_random == "slope":
            rows.append({"level": "episode", "term": "Intercept:week", "variance": D[0, 1]})
    if site is not None:
        rows.append({"level": site, "term": "Intercept", "variance": tau2})
    rows.append({"level": "residual", "term": "", "variance": scale})
    var = pd.DataFrame(rows)
    var["sd"] = np.where(
        var["term"].str.contains(":"), np.nan, np.sqrt(np.clip(var["variance"], 0, None))
    )
    var["corr"] = np.nan
    if used_random == "slope" and D.shape[0] == 2:
        denom = np.sqrt(D[0, 0] * D[1, 1])
        var.loc[var["term"] == "Intercept:week", "corr"] = D[0, 1] / denom if denom > 0 else np.nan
    return var


def _convergence_notes(history, used_random, opt, singular, notes) -> str:
    """Notes and warnings on optimizer retries, fallbacks and boundary fits; the fallback."""
    fallback = "none"
    if used_random == history[0][0] and not history[0][2]:
        conv = next(o for rr, o, ok, _ in history if ok and rr == used_random)
        notes.append(
            f"BFGS did not report convergence ({history[0][3] or 'not converged'}); "
            f"{conv} converged. Estimates are from the attempt with the highest REML "
            f"log-likelihood ({opt})."
        )
    if used_random != history[0][0]:
        fallback = f"random={used_random!r}, optimizer={opt!r}"
        failed = "; ".join(f"{r}/{o}: {m or 'not converged'}" for r, o, ok, m in history if not ok)
        msg = f"The requested mixed model did not converge ({failed}). Used {fallback} instead."
        notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=5)
    if singular:
        msg = (
            "Boundary (singular) fit: a random-effect variance is estimated at 0 or the "
            "intercept-slope correlation at ±1 (lme4 reports the same). Fixed effects and "
            "means are valid; consider random='intercept' or 'uncorrelated'."
        )
        notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=5)
    return fallback


def _fit_gee_model(d: dict, corr: str, time: str, notes: list) -> tuple:
    """GEE fit (sandwich covariance); returns (β, cov(β), correlation table, info, label)."""
    res, used_corr, history = fit_gee(d["df"], d["y"], d["X"], corr)
    fe = np.asarray(res.params, float)
    cov = np.asarray(res.cov_params(), float)  # robust (sandwich)
    dep = (
        np.atleast_1d(np.asarray(res.cov_struct.dep_params, float))
        if used_corr != "independence"
        else np.array([0.0])
    )
    var = pd.DataFrame(
        {
            "level": ["episode", "residual"],
            "term": [f"{used_corr} correlation (alpha)", "scale"],
            "variance": [float(dep[0]), float(res.scale)],
        }
    )
    fallback = "none"
    if used_corr == corr and len(history) > 1:
        notes.append(f"GEE needed {history[-1][1]} iterations ({history[0][3]}).")
    if used_corr != corr:
        fallback = f"corr={used_corr!r}, {history[-1][1]}"
        msg = (
            "GEE did not converge as requested ("
            + "; ".join(f"{c}/{o}: {m}" for c, o, ok, m in history if not ok)
            + f"). Used {fallback} instead."
        )
        notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)
    info = {
        "converged": True,
        "fallback": fallback,
        "corr": used_corr,
        "singular": False,
        "history": history,
    }
    label = (
        f"GEE (identity link, {used_corr} working correlation within episode, "
        f"robust sandwich SE); time={time}; Wald z CIs"
    )
    return fe, cov, var, info, label


def _fixed_table(fe, cov, names, gname, knot, ci_level) -> pd.DataFrame:
    """Fixed effects with Wald z statistics and intervals."""
    se = np.sqrt(np.diag(cov))
    z = z_crit(ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        zstat = fe / se
    return pd.DataFrame(
        {
            "term": [pretty_term(t, gname, knot) for t in names],
            "estimate": fe,
            "se": se,
            "statistic": zstat,
            "pvalue": 2 * _dist.norm.sf(np.abs(zstat)),
            "ci_low": fe - z * se,
            "ci_high": fe + z * se,
        }
    )


def _result_design(d, prep, fe, cov, time, knot, has_group) -> dict:
    """What the result keeps to predict means and changes (design, β, cov(β), week range)."""
    df = d["df"]
    return {
        "design_info": d["design_info"],
        "params": fe,
        "cov": cov,
        "time": time,
        "knot": knot,
        "has_group": has_group,
        "levels": prep.levels if has_group else [],
        "week_levels": d["week_levels"],
        "week_min": float(df["week"].min()),
        "week_max": float(df["week"].max()),
    }


def _means(stub: TrajectoryResult, df, design, has_group, ci_level) -> pd.DataFrame:
    """Model-based mean per week (integer grid over the observed range) and group."""
    wmin, wmax = design["week_min"], design["week_max"]
    if design["time"] == "categorical":
        grid_weeks = np.array(design["week_levels"], float)
    else:
        grid_weeks = np.arange(np.floor(wmin + 0.5) if wmin > 0.5 else 0.0, np.floor(wmax) + 1)
    glist = design["levels"] if has_group else [None]
    gw = np.repeat(grid_weeks, len(glist))
    gg = list(glist) * len(grid_weeks)
    est, mse, lo, hi, _ = stub._linear_combination(stub._x(gw, gg), ci_level)
    return pd.DataFrame(
        {
            "week": gw,
            "group": [str(x) if x is not None else "all" for x in gg],
            "estimate": est,
            "se": mse,
            "ci_low": lo,
            "ci_high": hi,
            "ci_level": ci_level,
        }
    )


def _observed(df: pd.DataFrame, has_group: bool) -> pd.DataFrame:
    """Observed mean and SD per rounded week and group."""
    gcol_obs = df["grp"] if has_group else pd.Series("all", index=df.index)
    return (
        df.assign(group=gcol_obs.astype(str))
        .groupby(["weekr", "group"], sort=True)["y"]
        .agg(n="size", mean="mean", sd="std")
        .reset_index()
        .rename(columns={"weekr": "week"})
    )


def _fitted_rows(df: pd.DataFrame, has_group: bool) -> pd.DataFrame:
    """The rows the model was fitted on (``episode_id, week, total, group``)."""
    return pd.DataFrame(
        {
            "episode_id": df["ep"].to_numpy(),
            "week": df["week"].to_numpy(float),
            "total": df["y"].to_numpy(float),
            "group": pd.Categorical(df["grp"]) if has_group else "all",
        }
    )


def _describe(info, d, prep, method, time, random, knot, ci_level, has_group) -> None:
    """Fill ``model_info``: formulas (patsy and R), counts, exclusions, attempts."""
    df = d["df"]
    r_formula = lme4_formula(
        time, prep.group if has_group else None, prep.site, info.get("random", random), knot
    )
    if method == "gee":
        r_formula = (
            r_formula.split(" + (")[0]
            + f"  [geepack::geeglm, id = episode_id, corstr = {info['corr']!r}]"
        )
    history = info.pop("history")
    info.update(
        formula=d["formula"],
        r_formula=r_formula,
        n_obs=int(len(df)),
        n_episodes=int(df["ep"].nunique()),
        n_rows_input=int(prep.n_rows),
        n_excluded=int(prep.n_rows - len(df)),
        excluded=prep.excluded,
        instrument=prep.instrument,
        group=prep.group,
        reference=prep.reference if has_group else None,
        site=prep.site,
        knot=knot if time == "piecewise" else None,
        ci_level=ci_level,
        attempts=[{"structure": a, "option": b, "ok": c, "messages": m} for a, b, c, m in history],
    )
    if prep.site is not None:
        info["n_sites"] = int(df["site"].nunique())
