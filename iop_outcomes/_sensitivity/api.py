"""Missing-data sensitivity: the headline change and the format comparison under five
ways of handling patients whose discharge score is missing.

Programs lose a third or more of patients before discharge; whether those losses bias the
headline numbers depends on *why* they left. No single method settles that, so
:func:`missing_data_sensitivity` reports the same two estimands side by side under
five methods, each with its assumption stated in plain words:

==========  ===========================================================================
completers  episodes with an observed discharge score only (valid if missing completely
            at random, MCAR)
locf        last observation carried forward: a missing discharge score is replaced by
            the last in-treatment score (baseline if there is none)
bocf        baseline observation carried forward: a missing discharge score is replaced
            by the baseline score (no change)
mi          multiple imputation by chained equations (Bayesian linear regression draws)
            over baseline, the weekly in-treatment scores, the discharge score, the group
            and the covariates; pooled with Rubin's rules (valid under MAR)
mixed       linear mixed model of all in-treatment weekly scores (valid under MAR)
==========  ===========================================================================

The two estimands are (1) the mean change ``endpoint − baseline`` over all analysed
episodes and (2) the difference in mean change between each ``group`` level and the
``reference`` level (optionally baseline-adjusted, ANCOVA).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import _dist
from .._episodes import discharge_rules, episodes_and_roles
from .._instrument_rule import select_instrument
from .._validation import Interval, Options, check_columns, validate_params
from ..exceptions import ConfigError, DataError
from ..io import LoadResult
from .estimates import Design, estimates, nused_all
from .mi import run_mi
from .mixed import mixed_change
from .result import ASSUMPTIONS, LABELS, METHODS, SensitivityResult

__all__ = ["missing_data_sensitivity"]

_WEEKLY_METHODS = ("locf", "mixed")


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------
@validate_params(
    {
        "assessments": ["frame", LoadResult],
        "episodes": ["frame", None],
        "instrument": ["instrument", None],
        "group": [str, None],
        "reference": ["no_validation"],  # a level of group: checked against the data
        "methods": ["no_validation"],  # a non-empty subset of METHODS: checked inside
        "covariates": ["columns"],
        "adjust": ["boolean"],
        "rules": ["no_validation"],  # EpisodeRules or dict: checked by iop.episodes
        "completed": [list, tuple, None],
        "endpoint_week": [Interval(float, 1, None, closed="left"), None],
        "time": [Options("categorical", "linear", "quadratic")],
        "n_imputations": [Interval(int, 2, None, closed="left")],
        "n_iterations": [Interval(int, 0, None, closed="left")],
        "seed": [
            Interval(int, 0, None, closed="left"),
            np.random.Generator,
            np.random.SeedSequence,
            None,
        ],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
        "progress": ["boolean", None],
    },
    renamed={"data": "assessments"},
)
def missing_data_sensitivity(
    assessments: pd.DataFrame | LoadResult,
    *,
    episodes: pd.DataFrame | None = None,
    instrument: str | None = None,
    group: str | None = "format",
    reference: str | None = None,
    methods: Sequence[str] = METHODS,
    covariates: str | Sequence[str] = (),
    adjust: bool = False,
    rules=None,
    completed: Sequence[str] | None = ("completed",),
    endpoint_week: float | None = None,
    time: str = "categorical",
    n_imputations: int = 20,
    n_iterations: int = 10,
    seed: int | np.random.Generator | None = None,
    ci_level: float = 0.95,
    progress: bool | None = None,
) -> SensitivityResult:
    r"""Headline change and format comparison under five missing-data methods, side by side.

    Parameters
    ----------
    assessments : DataFrame or LoadResult
        The loaded assessment rows (``episode_id``, ``instrument``, ``total`` and ``week`` or
        ``assessment_date`` + ``admit_date``) — needed for LOCF and the mixed model and used
        by MI as auxiliary information. May instead be an episode table, told apart by its
        columns (it has ``baseline`` and ``endpoint`` and no ``total``): then only
        ``completers``, ``bocf`` and ``mi`` (without weekly scores) can run.
    episodes : DataFrame, optional
        Episode table (docs/data-format.md) whose ``endpoint`` is the **discharge score**
        (``iop.episodes(..., rules=EpisodeRules(endpoint="discharge_only"))``): missing for
        episodes without an observed discharge score. Built from ``assessments`` with that rule
        when
        omitted. Do not pass a table built with the ``last_in_treatment`` rule: its endpoint is
        already LOCF.
    instrument : str, optional
        Instrument analysed (rows of other instruments are set aside). ``None`` (default): the
        table must hold exactly one instrument, else a ConfigError names those found (the
        library's instrument rule, ``docs/api.md``).
    rules : EpisodeRules or dict, optional
        Episode window rules (``iop.episodes``); the endpoint rule is always
        ``"discharge_only"``, except that a label endpoint without a ``last_in_treatment``
        fallback (``"label:discharge"``) is kept. Default: the rules recorded on ``episodes``
        (``attrs``), else the library defaults.
    completed : sequence of str or None, default ("completed",)
        ``discharge_status`` values that count as finishing treatment. The discharge-only
        rule takes any score near the discharge date, which for a dropout is usually the
        last score before leaving, not an end-of-treatment score; for episodes with another
        status the endpoint is therefore treated as missing (and that score as their last
        in-treatment score). Episodes with an unknown status keep their endpoint. ``None``:
        take the episode table's endpoint as is.
    group, reference : str
        Column compared (default ``"format"``) and the level the others are compared with
        (default: the first level in categorical order when the column is categorical, else
        in sorted order); the difference is ``level − reference`` for every other level.
        ``group=None`` gives the headline change only.
    methods : sequence of str
        Any of ``"completers"``, ``"locf"``, ``"bocf"``, ``"mi"``, ``"mixed"``.
    covariates : str or sequence of str
        Episode-level columns (numeric or categorical) added to the imputation model and to
        the mixed model (centred, with time interactions) to make MAR more plausible; with
        ``adjust=True`` they also adjust the comparison. Episodes missing a covariate are
        excluded from every method (``n_excluded``).
    adjust : bool, default False
        Baseline-adjust the format comparison (ANCOVA: change on group + baseline +
        covariates) in completers/LOCF/BOCF/MI; in the mixed model the difference is then
        taken at the overall covariate means. Default: unadjusted difference in mean change.
    endpoint_week : float, optional
        Week of the end of treatment, the time point of the mixed model's change and the
        width of MI's weekly grid. Default: the median week of the observed discharge scores.
    time : {"categorical", "quadratic", "linear"}
        Mean trajectory in the mixed model: a free mean per rounded week and group
        (``"categorical"``, default, as in MMRM analyses) or a polynomial in weeks; random
        intercept and slope either way.
    n_imputations, n_iterations : int
        Number of imputed data sets and chained-equation sweeps (sweeps are skipped when the
        missingness is monotone).
    seed : int or numpy Generator, optional
        Seed for MI; the same seed gives the same numbers.
    ci_level : float
        Confidence level.
    progress : bool, optional
        Show a tqdm bar over imputations (``None``: only on an interactive terminal).

    Returns
    -------
    SensitivityResult
        ``.table``: one row per estimand × method (see :class:`SensitivityResult`).

    Notes
    -----
    The analysis set is every finished episode (``discharge_status`` not ``ongoing``) with a
    baseline score and, when used, a group and covariates. Let :math:`Y_0` be the baseline
    and :math:`Y_E` the end-of-treatment score: the episode's ``endpoint`` under the
    ``discharge_only`` rule, kept only when ``discharge_status`` is in ``completed`` (or
    unknown). "Completers" are the episodes with an observed :math:`Y_E`.

    - completers: episodes with observed :math:`Y_E`;

      .. math::
          \bar\Delta = \frac1n\sum_i (Y_{E,i} - Y_{0,i}),\quad
          SE = s_\Delta/\sqrt n,\quad \bar\Delta \pm t_{n-1}\,SE

      The difference is the OLS coefficient of the group indicator in
      :math:`\Delta_i = \beta_0 + \beta_g G_i\,[+\,\gamma Y_{0,i} + \ldots]` (classical
      SE, :math:`n - p` df); unadjusted it is the difference in mean change with the pooled
      variance.
    - LOCF: a missing :math:`Y_E` is replaced by the last in-treatment score (the baseline
      if there is none); BOCF: by :math:`Y_0`. Then as completers over all episodes. Their
      SEs treat filled-in values as observed, so they are too small.
    - MI: the wide matrix [:math:`Y_0`, weekly scores of weeks 1 … W−1 (rounded weeks, mean
      within a week), :math:`Y_E`] is imputed by chained equations given group dummies and
      covariates. Each incomplete column :math:`y` is drawn from its regression on the
      others :math:`X` (van Buuren 2018, Algorithm 3.1, as ``mice.impute.norm``):
      :math:`\dot\sigma^2 = SSR/\chi^2_{n_{obs}-q}`,
      :math:`\dot\beta = \hat\beta + \dot\sigma L z` with :math:`LL' = (X'X)^{-1}`,
      :math:`y_{mis} = X_{mis}\dot\beta + \dot\sigma\varepsilon`. Each completed set is
      analysed as above and pooled by :func:`rubin_pool` (Barnard–Rubin df with the
      complete-data df). Only scores in the ``treatment`` role of
      ``iop.episodes.assessment_roles`` (neither baseline nor discharge score) enter the
      weekly grid.
    - mixed: REML linear mixed model (lme4's profiled formulation, vectorized) of the baseline, treatment and
      discharge scores up to week W + 0.5, with random intercept and slope in weeks and
      fixed effects time × group (+ centred covariates × time), time being a mean per
      rounded week by default; model-based mean change from week 0 to W =
      ``endpoint_week``; Wald (normal) intervals from the fixed-effects covariance
      :math:`(X'V^{-1}X)^{-1}` at the REML estimates (as ``lme4::vcov``). Its estimand is the
      change to week W, the others' the change to discharge (the same when treatment has a
      fixed length). The fit is vectorized over episodes (profiled REML, as
      :func:`iop_outcomes.trajectories`), like the other methods (1,000,000 episodes × 20
      imputations in well under a minute).

    References
    ----------
    Little RJA, Rubin DB (2019). *Statistical Analysis with Missing Data*, 3rd ed. Wiley.
    van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd ed. CRC Press.
    National Research Council (2010). *The Prevention and Treatment of Missing Data in
    Clinical Trials*. National Academies Press (on LOCF/BOCF).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"episode_id": range(8), "baseline": [18, 16, 20, 15, 17, 19, 14, 21],
    ...                    "endpoint": [10, np.nan, 12, 9, np.nan, 11, 8, 15],
    ...                    "format": ["in_person", "virtual"] * 4})
    >>> res = iop.missing_data_sensitivity(ep, methods=("completers", "bocf"))
    >>> res.table[["estimand", "method", "estimate", "n_used"]].round(3)
                        estimand      method  estimate  n_used
    0                mean change  completers    -7.000       6
    1                mean change        bocf    -5.250       8
    2  difference in mean change  completers     0.667       6
    3  difference in mean change        bocf     0.500       8
    """
    methods = _check_methods(methods)
    covariates = _as_list(covariates)
    notes: list[str] = []
    ep, long, name, rules, roles = _inputs(assessments, episodes, instrument, rules, methods, notes)
    return _analyse(
        ep,
        long,
        name,
        rules,
        roles,
        notes,
        group=group,
        reference=reference,
        methods=methods,
        covariates=covariates,
        adjust=adjust,
        completed=completed,
        endpoint_week=endpoint_week,
        time=time,
        n_imputations=n_imputations,
        n_iterations=n_iterations,
        seed=seed,
        ci_level=ci_level,
        progress=progress,
    )


def sensitivity_of(
    episodes: pd.DataFrame, roles: pd.DataFrame, *, instrument: str, rules, **options
) -> SensitivityResult:
    """:func:`missing_data_sensitivity` of an episode table with the discharge endpoint and
    its assessment roles built by the caller in its own pass over the rows
    (:func:`iop_outcomes._episodes.episodes_with_discharge`: the report, whose sections all
    use the episodes of that pass). ``options``: the keywords of
    :func:`missing_data_sensitivity` from ``group`` on (defaults as there)."""
    # the public function's defaults for the options the analysis takes (its keywords)
    options_of = inspect.signature(_analyse).parameters.values()
    taken = {p.name for p in options_of if p.kind is inspect.Parameter.KEYWORD_ONLY}
    public = inspect.signature(missing_data_sensitivity).parameters.items()
    defaults = {k: v.default for k, v in public if k in taken}
    kw = {**defaults, **options}
    kw["methods"] = _check_methods(kw["methods"])
    kw["covariates"] = _as_list(kw["covariates"])
    return _analyse(episodes, roles, instrument, discharge_rules(rules), roles, [], **kw)


def _as_list(covariates) -> list:
    return [covariates] if isinstance(covariates, str) else list(covariates)


def _analyse(
    ep,
    long,
    name,
    rules,
    roles,
    notes: list,
    *,
    group,
    reference,
    methods,
    covariates,
    adjust,
    completed,
    endpoint_week,
    time,
    n_imputations,
    n_iterations,
    seed,
    ci_level,
    progress,
) -> SensitivityResult:
    """The analysis of :func:`missing_data_sensitivity` once its inputs are in hand: the
    episode table (discharge endpoint), the weekly rows (``long``: assessment rows or their
    roles; None without), the instrument's name, the rules and the roles (or None)."""
    _describe_completers(ep, completed, notes)
    ep, n_excluded = _analysis_set(ep, group, covariates, notes)
    baseline, endpoint, voided = _endpoints(ep, completed, notes)
    levels, gcode = _groups(ep, group, reference, notes)
    cov, cov_names = _covariate_matrix(ep, covariates)
    last = weekly = None
    W = endpoint_week
    if long is not None:
        long, last, weekly, W = _weekly_scores(
            long, ep, name, rules, voided, W, 2 + len(levels) + cov.shape[1], notes, roles
        )
    del roles  # only the weekly rows are used from here (peak memory: MI, the mixed model)
    d = Design(
        baseline=baseline,
        endpoint=endpoint,
        last=last,
        group=gcode,
        levels=levels,
        cov=cov,
        cov_names=cov_names,
        weekly=weekly,
        episode_id=ep["episode_id"].to_numpy(),
    )
    n_missing = int(np.isnan(endpoint).sum())
    if n_missing == len(ep):
        raise DataError(
            "No analysed episode has an observed discharge score (endpoint); nothing to "
            "compare the methods on."
        )
    common = {"ci_level": ci_level, "n_missing": n_missing, "n_excluded": n_excluded}
    rows, imputations = [], None
    for method in methods:
        if method == "mi":
            pooled, imputations, mi_note = run_mi(
                d, adjust, n_imputations, n_iterations, seed, progress
            )
            notes.append(mi_note)
            est = [pooled[c].to_numpy() for c in ("estimate", "se", "ci_low", "ci_high", "df")]
            rows += _rows(method, *est, nused_all(d), d, common, fmi=pooled["fmi"].to_numpy())
        elif method == "mixed":
            est, se, lo, hi, nused = mixed_change(long, d, W, adjust, ci_level, time)
            rows += _rows(method, est, se, lo, hi, np.full(len(est), np.inf), nused, d, common)
        else:
            rows += _t_rows(method, _filled_change(method, d), d, adjust, common)
    table = _sorted_table(rows, methods)
    params = _finish_notes(notes, name, methods, levels, adjust, n_missing, len(ep))
    diff = "baseline-adjusted difference" if adjust else "difference"
    title = f"Missing-data sensitivity: {name or 'score'} change (endpoint − baseline)"
    if levels:
        title += f" and {diff} by {group} (vs {levels[0]})"
    params.update(ci_level=ci_level, adjust=adjust)
    if group:
        params.update(group=group, reference=levels[0])
    if covariates:
        params["covariates"] = ",".join(covariates)
    if "mi" in methods:
        params.update(n_imputations=n_imputations, seed=seed)
    return SensitivityResult(
        table=table,
        title=title,
        method="missing-data sensitivity: " + ", ".join(LABELS[m] for m in methods),
        params=params,
        notes=tuple(notes),
        imputations=imputations,
    )


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------
def _check_methods(methods) -> tuple:
    """A non-empty subset of :data:`METHODS`."""
    ok = isinstance(methods, (list, tuple)) and all(isinstance(m, str) for m in methods)
    bad = [m for m in methods if m not in METHODS] if ok else [methods]
    if bad or not methods:
        raise ConfigError(
            "The 'methods' parameter of iop.missing_data_sensitivity must be a non-empty "
            f"subset of {METHODS}. Got {methods!r} instead."
        )
    return tuple(methods)


def _inputs(assessments, episodes, instrument, rules, methods, notes) -> tuple:
    """The episode table (discharge endpoint), the assessment rows (or None), the instrument
    (the library's rule, applied once), the episode rules and the assessment roles when the
    episode table was built here (from the same rows and rules as the weekly scores; else
    None)."""
    frame = assessments.data if isinstance(assessments, LoadResult) else assessments
    if episodes is not None:
        ep, long = episodes, frame
    elif "baseline" in frame.columns and "endpoint" in frame.columns and "total" not in frame:
        ep, long = frame, None
    else:
        ep, long = None, frame
    if long is not None and "total" not in long.columns:
        long = None
    name = None
    if long is not None and ep is None:  # the rows are read through the roles built below:
        # the rule on the distinct instruments gives the name (and its errors), no copy
        names = long[["instrument"]].drop_duplicates() if "instrument" in long else long[:0]
        name = select_instrument(names, instrument, func=missing_data_sensitivity)[1]
    elif long is not None:
        long, name = select_instrument(long, instrument, func=missing_data_sensitivity)
    if ep is not None and "instrument" in ep.columns:
        ep, ep_name = select_instrument(ep, name or instrument, func=missing_data_sensitivity)
        name = name or ep_name
    roles = None
    if ep is None:
        rules = discharge_rules(rules)
        # from every instrument's rows: an episode without admit_date is admitted at its
        # first assessment of any instrument (iop.episodes' rule, as in the report)
        ep, roles = episodes_and_roles(frame, instrument=name, rules=rules)
        if long is not None:  # the roles frame has the weekly scores: the rows' copy is freed
            long = roles
    if name is None and instrument is not None:
        name = _canonical(instrument)
    need = [m for m in methods if m in _WEEKLY_METHODS]
    if long is None and need:
        raise DataError(
            f"Methods {need} need the weekly in-treatment scores, but only an episode table was "
            "given. Pass the assessment rows as assessments (and the episode table as "
            "episodes=), or choose methods=('completers', 'bocf', 'mi')."
        )
    if long is not None:
        rules = discharge_rules(rules if rules is not None else ep.attrs.get("rules"))
    return ep, long, name, rules, roles


def _canonical(instrument) -> str:
    from ..instruments import canonical_name

    return canonical_name(str(instrument)) or str(instrument)


def _describe_completers(ep: pd.DataFrame, completed, notes: list) -> None:
    """Reject an endpoint that is already carried forward; say who counts as a completer."""
    ep_rule = (ep.attrs.get("rules") or {}).get("endpoint")
    if "last_in_treatment" in str(ep_rule).split(" else "):
        raise DataError(
            f"The episode table was built with the {ep_rule!r} endpoint rule, whose "
            "endpoint is already carried forward for dropouts; missing_data_sensitivity needs "
            "the discharge score: build it with rules=EpisodeRules(endpoint='discharge_only') "
            "or pass the assessment rows only."
        )
    status = f" and discharge_status in {list(completed)} (or unknown)." if completed else "."
    if ep_rule is None:
        notes.append(
            "Completers = episodes whose 'endpoint' is present in the episode table given "
            "(assumed to be a discharge score)."
        )
    elif str(ep_rule).startswith("label:"):
        notes.append(
            f"Completers = episodes with an endpoint under the {ep_rule!r} endpoint rule of "
            "iop.episodes (the score with that timepoint label)" + status
        )
    else:
        notes.append(
            "Completers = episodes with a discharge score under the 'discharge_only' endpoint "
            "rule of iop.episodes (dated rows: the score nearest the discharge date within the "
            "discharge window; undated rows: the score labelled 'discharge')" + status
        )


def _analysis_set(ep: pd.DataFrame, group, covariates: list, notes: list) -> tuple:
    """Finished episodes with a baseline (and group, covariates), in episode-id order."""
    required = ["episode_id", "baseline", "endpoint", *([group] if group else []), *covariates]
    check_columns(ep, required, func=missing_data_sensitivity, what="episode table")
    if ep["episode_id"].duplicated().any():
        raise DataError(
            "The episode table has more than one row per episode_id for this instrument; pass "
            "one row per episode."
        )
    n_total = len(ep)
    keep = pd.to_numeric(ep["baseline"], errors="coerce").notna()
    reasons = {"no baseline score": int((~keep).sum())}
    if "discharge_status" in ep.columns:
        ongoing = ep["discharge_status"].astype("string").str.lower().eq("ongoing").fillna(False)
        reasons["episode ongoing"] = int((keep & ongoing).sum())
        keep &= ~ongoing
    if covariates:
        cov_ok = ep[covariates].notna().all(axis=1)
        reasons["missing covariate"] = int((keep & ~cov_ok).sum())
        keep &= cov_ok
    ep = ep[keep.to_numpy()]
    # a fixed episode order makes MI draws independent of the input's row order
    ep = ep.iloc[np.argsort(ep["episode_id"].astype(str).to_numpy(), kind="stable")]
    ep = ep.reset_index(drop=True)
    n_excluded = n_total - len(ep)
    if len(ep) < 3:
        raise DataError(
            f"missing_data_sensitivity needs at least 3 analysable episodes; got {len(ep)} "
            f"(excluded: {reasons})."
        )
    excl = ", ".join(f"{v} {k}" for k, v in reasons.items() if v)
    if excl:
        notes.append(f"Excluded {n_excluded} of {n_total} episodes: {excl}.")
    return ep, n_excluded


def _endpoints(ep: pd.DataFrame, completed, notes: list) -> tuple:
    """Baseline and end-of-treatment scores; a score near discharge of an episode not
    discharged as completed is voided (it is that episode's last in-treatment score)."""
    baseline = pd.to_numeric(ep["baseline"], errors="coerce").to_numpy(dtype=float)
    endpoint = pd.to_numeric(ep["endpoint"], errors="coerce").to_numpy(dtype=float)
    voided = np.zeros(len(ep), bool)
    if completed is not None and "discharge_status" in ep.columns:
        status = ep["discharge_status"].astype("string").str.lower()
        ok_status = status.isin([str(c).lower() for c in completed]) | status.isna()
        voided = ~np.isnan(endpoint) & ~ok_status.to_numpy(dtype=bool)
        if voided.any():
            endpoint = np.where(voided, np.nan, endpoint)
            notes.append(
                f"{int(voided.sum())} episodes not discharged as {list(completed)} had a score "
                "near discharge; it is treated as their last in-treatment score, not as an "
                "end-of-treatment score (set completed=None to keep it)."
            )
    return baseline, endpoint, voided


def _groups(ep: pd.DataFrame, group, reference, notes: list) -> tuple:
    """Group levels (the reference, then the others sorted) and each episode's level code
    (-1: none)."""
    if not group:
        return [], np.full(len(ep), -1)
    gv = ep[group].astype("string")
    present = set(gv.dropna().unique().tolist())
    if isinstance(ep[group].dtype, pd.CategoricalDtype):
        observed = [str(c) for c in ep[group].cat.categories if str(c) in present]
    else:
        observed = sorted(present)
    if reference is None:
        reference = observed[0] if observed else None
    if reference not in observed:
        raise ConfigError(
            f"The 'reference' parameter of iop.missing_data_sensitivity must be a level of "
            f"{group!r} present in the data {observed}. Got {reference!r} instead."
        )
    levels = [reference, *[lv for lv in sorted(observed) if lv != reference]]
    codes = {lv: i for i, lv in enumerate(levels)}
    gcode = gv.map(codes).fillna(-1).to_numpy(dtype=int)
    if (gcode < 0).any():
        notes.append(
            f"{int((gcode < 0).sum())} episodes without a {group!r} value enter the "
            "headline change only."
        )
    return levels, gcode


def _covariate_matrix(ep: pd.DataFrame, covariates: list) -> tuple:
    """Centred covariate design (dummies for categorical columns; constant columns dropped)."""
    if not covariates:
        return np.zeros((len(ep), 0)), []
    cdf = pd.get_dummies(ep[covariates], drop_first=True, dtype=float)
    cov = cdf.to_numpy(dtype=float)
    cov = cov - cov.mean(axis=0)
    keepc = cov.std(axis=0) > 0
    return cov[:, keepc], [c for c, k in zip(cdf.columns, keepc, strict=True) if k]


def _weekly(assessments: pd.DataFrame, instrument, rules, ep_ids, roles=None) -> pd.DataFrame:
    """In-treatment scores with their role (``iop.assessment_roles``; ``roles`` when given).

    Columns ``episode_id``, ``_t`` (weeks since admission), ``_y`` (total), ``_role``
    (``baseline``, ``treatment`` or ``endpoint``) and ``_row`` (the episode's position in
    ``ep_ids``; rows of other episodes are left out), sorted by episode id and time (stable).
    The ids are factorised once; sorting and matching work on their integer codes.
    """
    if roles is None:
        from .. import assessment_roles

        roles = assessment_roles(assessments, instrument=instrument, rules=rules)
    role_code, role_names = pd.factorize(roles["role"])
    wanted = [i for i, v in enumerate(role_names) if v in ("baseline", "treatment", "endpoint")]
    code, uniques = pd.factorize(roles["episode_id"])
    # rank of each id in sorted order (the order a sort on the ids gives) and its row in ep
    rank = np.empty(len(uniques) + 1, dtype=np.int64)
    rank[np.asarray(pd.Index(uniques).argsort())] = np.arange(len(uniques))
    rank[-1] = len(uniques)  # a missing id sorts last (and has no row in ep)
    row = np.append(pd.Index(ep_ids).get_indexer(uniques), -1)[code]
    t = pd.to_numeric(roles["week"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(roles["total"], errors="coerce").to_numpy(dtype=float)
    keep = np.isin(role_code, wanted) & ~np.isnan(t) & ~np.isnan(y) & (row >= 0)
    pos = np.nonzero(keep)[0]
    pos = pos[np.lexsort((t[pos], rank[code[pos]]))]
    return pd.DataFrame(
        {
            "episode_id": roles["episode_id"].array.take(pos),
            "_t": t[pos],
            "_y": y[pos],
            "_role": np.asarray(role_names, dtype=object)[role_code[pos]],
            "_row": row[pos],
        }
    )


def _weekly_scores(long, ep, name, rules, voided, W, min_obs: int, notes: list, roles) -> tuple:
    """Weekly rows (for the mixed model), last in-treatment scores (LOCF), MI's weekly grid
    and the endpoint week W."""
    wk = _weekly(long, name, rules, ep["episode_id"], roles)
    wk.loc[(wk["_role"] == "endpoint") & voided[wk["_row"].to_numpy()], "_role"] = "treatment"
    before_end = wk[wk["_role"] != "endpoint"]
    lastrow = before_end.groupby("_row", sort=False).tail(1)
    last = np.full(len(ep), np.nan)
    last[lastrow["_row"].to_numpy()] = lastrow["_y"].to_numpy()
    if W is None:
        end_weeks = wk.loc[wk["_role"] == "endpoint", "_t"]
        if end_weeks.empty:
            raise DataError(
                "No episode has an observed discharge score; the endpoint week cannot be "
                "set. Pass endpoint_week=."
            )
        W = float(np.round(end_weeks.median()))
    if W < 1:
        raise ConfigError(
            "The 'endpoint_week' parameter of iop.missing_data_sensitivity must be >= 1. "
            f"Got {W!r} instead (the median week of the discharge scores)."
        )
    # intermediate grid for MI: 'treatment' rows (neither baseline nor discharge score)
    grid = wk[wk["_role"] == "treatment"].copy()
    grid["_w"] = np.round(grid["_t"]).astype(np.int64)
    grid = grid[(grid["_w"] >= 1) & (grid["_w"] <= int(W) - 1)]
    n_w = max(int(W) - 1, 0)
    weekly = np.full((len(ep), n_w), np.nan)
    if n_w and len(grid):
        agg = grid.groupby(["_row", "_w"], sort=False)["_y"].mean()
        r = agg.index.get_level_values(0).to_numpy()
        c = agg.index.get_level_values(1).to_numpy() - 1
        weekly[r, c] = agg.to_numpy()
    # drop grid weeks with too few observations to regress on
    okw = (~np.isnan(weekly)).sum(axis=0) >= max(10, min_obs)
    if (~okw).any():
        notes.append(
            f"MI weekly grid: weeks {list(np.flatnonzero(~okw) + 1)} dropped (too few scores)."
        )
    notes.append(
        f"Weekly scores: roles from iop.episodes.assessment_roles; endpoint week W = {W:g} "
        "(mixed model change 0 → W; MI grid weeks 1 … W−1)."
    )
    return wk, last, weekly[:, okw], W


def _filled_change(method: str, d: Design) -> np.ndarray:
    """Change per episode under completers (NaN if missing), BOCF or LOCF."""
    if method == "completers":
        return d.endpoint - d.baseline
    if method == "bocf":
        return np.where(np.isnan(d.endpoint), d.baseline, d.endpoint) - d.baseline
    carried = np.where(np.isnan(d.last), d.baseline, d.last)
    return np.where(np.isnan(d.endpoint), carried, d.endpoint) - d.baseline


def _rows(method, est, se, lo, hi, df, nused, d: Design, common: dict, fmi=None) -> list:
    """Table rows of one method: the mean change, then each difference vs the reference."""
    contrasts = [f"{lv} − {d.levels[0]}" for lv in d.levels[1:]]
    return [
        {
            "estimand": "mean change" if i == 0 else "difference in mean change",
            "contrast": "" if i == 0 else contrasts[i - 1],
            "method": method,
            "estimate": float(est[i]),
            "se": float(se[i]),
            "ci_low": float(lo[i]),
            "ci_high": float(hi[i]),
            "ci_level": common["ci_level"],
            "df": float(df[i]),
            "n_used": int(nused[i]),
            "n_missing": common["n_missing"],
            "n_excluded": common["n_excluded"],
            "fmi": np.nan if fmi is None else float(fmi[i]),
            "assumption": ASSUMPTIONS[method],
        }
        for i in range(len(est))
    ]


def _t_rows(method, change, d: Design, adjust: bool, common: dict) -> list:
    """Rows of a complete-data method: estimates with t intervals on their own df."""
    est, var, dfc, nused = estimates(change, d, adjust)
    se = np.sqrt(var)
    with np.errstate(invalid="ignore"):
        crit = _dist.t.ppf(0.5 + common["ci_level"] / 2, np.where(dfc > 0, dfc, np.nan))
    return _rows(method, est, se, est - crit * se, est + crit * se, dfc, nused, d, common)


def _sorted_table(rows: list, methods: tuple) -> pd.DataFrame:
    """Mean change first, then each contrast; methods in the order asked."""
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(methods)}
    table["_o"] = table["method"].map(order)
    table["_e"] = (table["estimand"] != "mean change").astype(int)
    return (
        table.sort_values(["_e", "contrast", "_o"], kind="stable")
        .drop(columns=["_o", "_e"])
        .reset_index(drop=True)
    )


def _finish_notes(notes, name, methods, levels, adjust, n_missing, n_analysed) -> dict:
    """Direction, caveats and counts; returns the first result parameters."""
    better = None
    if name:
        try:
            from ..instruments import get as _get

            better = _get(name).better_is
        except Exception:  # unknown instrument: no direction note
            better = None
    if better == "lower":
        notes.append("Negative change = improvement (lower scores are better).")
    elif better == "higher":
        notes.append("Positive change = improvement (higher scores are better).")
    if adjust and "mixed" in methods and levels:
        notes.append(
            "adjust=True: the mixed model's difference is taken at the overall covariate "
            "means; it is not baseline-adjusted (baseline is one of the modelled scores)."
        )
    notes.append(
        f"{n_missing} of {n_analysed} analysed episodes have no discharge score. "
        "LOCF/BOCF standard errors treat filled-in scores as observed (too small). "
        "Mixed-model intervals are Wald (normal)."
    )
    return {"instrument": name}
