"""The public entry point :func:`clinical_significance`: checks the options, picks the method."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .._dask import is_dask
from .._validation import Interval, Options, validate_params
from ..exceptions import ConfigError
from .anchor import anchor_group
from .common import method_key
from .distribution import distribution_based
from .nhs import nhs_outcomes
from .results import METHODS, ClinicalSignificanceResult, GroupAnchorResult
from .statistical import percentage, statistical

_LEVEL = Interval(float, 0, 1, closed="neither")
_RELIABILITY = Interval(float, 0, 1, closed="left")
_POSITIVE = Interval(float, 0, None, closed="neither")
_NON_NEGATIVE = Interval(float, 0, None, closed="left")
_NUMBER = Interval(float, None, None)


@validate_params(
    {
        "episodes": ["frame", "dask_frame"],
        "method": [str],
        "instrument": ["instruments", None],
        "reliability": [_RELIABILITY, None],
        "sd": [_NUMBER, None],
        "threshold": [Options("sample", "reference", "fixed"), _NUMBER, None],
        "cutoff": [str, _NUMBER, None],
        "by": ["columns", None],
        "ci_level": [_LEVEL],
        "pre": [str],
        "post": [str],
        "better_is": [Options("lower", "higher"), None],
        "clinical_mean": [_NUMBER, None],
        "clinical_sd": [_NON_NEGATIVE, None],
        "functional_mean": [_NUMBER, None],
        "functional_sd": [_NON_NEGATIVE, None],
        "harmed": ["boolean"],
        "cutoff_inclusive": ["boolean", None],
        "reliability_post": [_RELIABILITY, None],
        "mid": [_NUMBER, None],
        "mid_deterioration": [_NUMBER, None],
        "pct_improvement": [_POSITIVE, None],
        "pct_deterioration": [_POSITIVE, None],
        "target": [Options("individual", "group")],
        "group": [str, None],
        "reference": ["no_validation"],
    },
    renamed={"reference_group": "reference"},
)
def clinical_significance(
    episodes: pd.DataFrame,
    *,
    method: str = "jacobson-truax",
    instrument: str | list[str] | None = None,
    reliability: float | None = None,
    sd: float | None = None,
    threshold: str | float | None = None,
    cutoff: str | float | None = None,
    by: str | list[str] | None = None,
    ci_level: float = 0.95,
    pre: str = "baseline",
    post: str = "endpoint",
    better_is: str | None = None,
    clinical_mean: float | None = None,
    clinical_sd: float | None = None,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    harmed: bool = False,
    cutoff_inclusive: bool | None = None,
    reliability_post: float | None = None,
    mid: float | None = None,
    mid_deterioration: float | None = None,
    pct_improvement: float | None = None,
    pct_deterioration: float | None = None,
    target: str = "individual",
    group: str | None = None,
    reference: Any = None,
) -> ClinicalSignificanceResult | GroupAnchorResult:
    r"""Classify each episode's change and count the categories, overall or per group.

    Works on an episode table from :func:`iop_outcomes.episodes` or on any DataFrame with
    ``baseline`` and ``endpoint`` columns (rename with ``pre=``/``post=``).

    Parameters
    ----------
    episodes : DataFrame
        One row per episode (and instrument). For the joint NHS rules, PHQ-9 and GAD-7 rows with
        an ``instrument`` column, paired by ``episode_id``.
    method : str, default "jacobson-truax"
        Definition to apply (named in every output). Distribution approach (reliable change
        index): ``"jacobson-truax"``, ``"gulliksen-lord-novick"``, ``"edwards-nunnally"``,
        ``"hsu-linn-lord"``, ``"nunnally-kotsch"``, ``"hageman-arrindell"``. Without an RCI:
        ``"statistical"`` (cut-off crossing alone), ``"percentage"`` (percentage change),
        ``"anchor"`` (minimal important difference), ``"combined"`` (MID and cut-off, with
        *harmed*). Published service definitions: ``"nhs-talking-therapies"``. Short names
        ``"jt"``, ``"gln"``, ``"en"``, ``"hll"``, ``"nk"``, ``"ha"``, ``"nhs"`` work too.
    instrument : str or list of str, optional
        Instrument whose cited parameters (reliability, norms, thresholds, direction) to use; also
        selects that instrument's rows when the table holds several. ``None`` (default): the
        table must hold one instrument (a ConfigError names those found otherwise). Needed, or
        explicit ``reliability``/``better_is``/norms, when the data carry no ``instrument``
        column. ``["PHQ-9", "GAD-7"]`` asks for the joint NHS Talking Therapies rules (with
        ``method="nhs-talking-therapies"`` only; they never start on their own).
    reliability : float, optional
        Reliability :math:`r_{xx}` for the RCI (default: the instrument's, cited).
    sd : float, optional
        Reference SD for ``threshold="reference"`` (default: the instrument's clinical SD).
    threshold : {"sample", "reference", "fixed"} or float, default "sample"
        Where the reliable-change threshold comes from. ``"sample"``: SD of the sample's own
        paired baselines (as the R packages do); ``"reference"``: the reference SD and
        reliability (``sd=``/``reliability=`` or the instrument's clinical SD and reliability);
        ``"fixed"``: the instrument's published fixed threshold (PHQ-9 6, GAD-7 4 points), or a
        number of points. The output states the source, reliability, SD and points.
        ``"hsu-linn-lord"`` and ``"hageman-arrindell"`` use the sample's pre and post means and
        SDs and accept ``"sample"`` only; ``"fixed"`` is for ``"jacobson-truax"``. With
        ``"anchor"``/``"combined"`` a number here is the MID (same as ``mid=``).
    cutoff : {"a", "b", "c", "none"} or float, optional
        Clinical cut-off (Jacobson & Truax 1991). Default: ``"c"`` when clinical and functional
        norms are known, ``"a"`` when only clinical norms are, otherwise none. A number is a
        cut-off in points, read as a caseness threshold (see ``cutoff_inclusive``).
    by : str or list of str, optional
        Columns to stratify the counts by (one result per level, no test between levels).
        Not with ``target="group"``: there the compared column is ``group=``.
    ci_level : float, default 0.95
        Level of the Wilson score intervals.
    pre, post : str
        Columns holding the first (baseline) and last (endpoint) scores.
    better_is : {"lower", "higher"}, optional
        Direction of improvement (default: the instrument's).
    clinical_mean, clinical_sd, functional_mean, functional_sd : float, optional
        Norms for the cut-offs (default: the instrument's clinical and general-population norms).
    harmed : bool, default False
        Report *harmed* as a fifth category, taken out of *deteriorated*, as the R package
        clinicalsignificance's combined approach does. Needs a cut-off.
    cutoff_inclusive : bool, optional
        Which side a score exactly at the cut-off is on. ``True``: it is clinical (caseness
        "10 or more": lower-is-better baseline :math:`\ge` cut-off is clinical, endpoint
        :math:`<` cut-off is functional; mirrored when higher is better). ``False``: strict, on
        neither side (baseline :math:`>` and endpoint :math:`<` the cut-off), as
        clinicalsignificance treats its computed cut-offs. Default ``None``: inclusive for a
        user-supplied number (a caseness threshold such as PHQ-9 10), strict for the computed
        cut-offs a, b, c. The rule used is stated in ``params["cutoff_rule"]`` and the notes.
    reliability_post : float, optional
        Reliability at the endpoint, for ``"nunnally-kotsch"`` (default: ``reliability``, as
        clinicalsignificance) and ``"hageman-arrindell"`` (default: derived from a constant
        standard error of measurement, :math:`1 - SE^2/SD_{post}^2`, as clinicalsignificance).
    mid, mid_deterioration : float, optional
        Minimal important difference in points for ``"anchor"`` and ``"combined"`` (default:
        the instrument's cited MID, e.g. PHQ-9 5 points); ``mid_deterioration`` defaults to
        ``mid``.
    pct_improvement, pct_deterioration : float, optional
        For ``"percentage"``: the fraction of the baseline score a change must reach to count
        as improvement (default 0.5 = 50 %) or deterioration (default: ``pct_improvement``).
    target : {"individual", "group"}, default "individual"
        ``"group"`` (with ``method="anchor"``): does the mean change, with its ``ci_level`` t
        interval, exceed the MID (overall, or per level of ``group=``, whose levels' endpoint
        scores are also compared with the ``reference`` level's). Returns a
        :class:`GroupAnchorResult`.
    group : str, optional
        With ``method="anchor", target="group"`` only: the compared column (within-group results
        per level, and each level against ``reference`` between groups).
    reference : optional
        With ``group=``: the level the others are compared with (default ``None``: the first
        level in categorical order when the column is categorical, else in sorted order; for
        text labels that is clinicalsignificance's default, the first in sorted order).

    Returns
    -------
    ClinicalSignificanceResult or GroupAnchorResult
        ``.table`` (counts, rates, Wilson CIs per outcome and group), ``.episodes`` (per-episode
        classification), ``.params``, ``.notes``; ``to_frame()`` returns the table. With
        ``target="group"`` a :class:`GroupAnchorResult` (``.table`` within groups, ``.between``).

    Notes
    -----
    **Jacobson-Truax** (1991):

    .. math::
        RCI = \frac{x_{post} - x_{pre}}{S_{diff}}, \qquad
        S_{diff} = SD_{pre}\sqrt{2(1 - r_{xx})}

    A change is reliable when :math:`|RCI| > z_{0.975} = 1.959964` (strict, as the R package
    clinicalsignificance; the paper rounds to 1.96). With a fixed threshold a change is reliable
    when :math:`|x_{post} - x_{pre}| \ge` the threshold (inclusive, as the published "change of
    6 or more"). Cut-offs for lower-is-better scales (signs flip when higher is better):
    :math:`a = M_{clin} - 2SD_{clin}`, :math:`b = M_{func} + 2SD_{func}`,
    :math:`c = (SD_{clin}M_{func} + SD_{func}M_{clin})/(SD_{clin} + SD_{func})` (``b`` with the
    functional SD, as the paper and the clinicalsignificance source read for this module).
    Categories: *recovered* = reliable improvement, baseline on the clinical side and endpoint
    on the functional side of the cut-off; *improved* = other reliable improvement;
    *deteriorated* = reliable deterioration; *unchanged* = the rest. *harmed* (the R package
    clinicalsignificance's fifth category) = reliable deterioration with the baseline not on the
    clinical side and the endpoint not on the functional side; always a column of
    ``.episodes``, a category (taken out of *deteriorated*) only with ``harmed=True``.

    **Gulliksen-Lord-Novick** (Hsu 1989): :math:`RCI = ((x_{post} - M) - r(x_{pre} - M)) /
    (SD\sqrt{1 - r^2})`. **Edwards-Nunnally** (Speer 1992): :math:`RCI = (x_{post} - [r(x_{pre}
    - M) + M]) / (SD\sqrt{1 - r})`. ``M`` and ``SD`` are the sample's baseline mean and SD
    (``threshold="sample"``) or the reference values. **Hsu-Linn-Lord** (Hsu 1989):
    :math:`RCI = ((x_{post} - M_{post}) - r(x_{pre} - M_{pre})) / (SD\sqrt{1 - r^2})`.
    **Nunnally-Kotsch** (Nunnally & Kotsch 1983): :math:`RCI = (x_{post} - [r(x_{pre} - M) +
    M]) / \sqrt{r^2 SD^2 (1 - r) + SD^2 (1 - r_{post})}`. All reliable when
    :math:`|RCI| > 1.959964` (strict).

    **Hageman-Arrindell** (Hageman & Arrindell 1999), with :math:`SE = SD_{pre}\sqrt{1 - r}`,
    :math:`r_{post} = 1 - SE^2/SD_{post}^2` (or ``reliability_post``),
    :math:`SE_{post} = SD_{post}\sqrt{1 - r_{post}}` and :math:`r_{12}` the pre-post
    correlation:

    .. math::
        r_{dd} = \frac{SD_{pre}^2 r + SD_{post}^2 r_{post} - 2 SD_{pre} SD_{post} r_{12}}
                      {SD_{pre}^2 + SD_{post}^2 - 2 SD_{pre} SD_{post} r_{12}}, \qquad
        RC_{indiv} = \frac{(x_{post} - x_{pre}) r_{dd} + (M_{post} - M_{pre})(1 - r_{dd})}
                          {\sqrt{r_{dd}}\sqrt{SE^2 + SE_{post}^2}}

    (:math:`\sqrt{SE^2 + SE_{post}^2} = \sqrt{2SE^2}` with the default :math:`r_{post}`, as in
    the paper and clinicalsignificance). Reliable when :math:`|RC_{indiv}| > 1.644854`
    (one-sided 5 %, as the paper). Its cut-offs are between true-score distributions:
    :math:`a = M_{clin} - 2SD_{clin}\sqrt{r_{clin}}`, :math:`b = M_{func} +
    2SD_{func}\sqrt{r_{func}}`, :math:`c = (SD_{clin}\sqrt{r_{clin}}M_{func} +
    SD_{func}\sqrt{r_{func}}M_{clin}) / (SD_{clin}\sqrt{r_{clin}} + SD_{func}\sqrt{r_{func}})`,
    :math:`r_{pop} = 1 - SE^2/SD_{pop}^2`; an endpoint is functional when
    :math:`CS_{indiv} = (M_{post} + (x_{post} - M_{post})r_{post} - c) / (\sqrt{r_{post}}SE_{post})`
    lies beyond 1.644854 towards the functional side (``cs_indiv``, ``functional_post`` and
    ``clinical_post`` in ``.episodes``). *Recovered* = reliable improvement, clinical baseline and
    functional endpoint. The group-level proportions (``params["group_changed"]``: share with
    true improvement, :math:`\Phi(\bar d / (SD_d\sqrt{r_{dd}}))`; ``params["group_functional"]``:
    share with a true endpoint beyond the cut-off; per group in ``.group_level``) are given as
    clinicalsignificance does.

    **Statistical approach** (Jacobson & Truax 1991 cut-offs alone; clinicalsignificance
    ``cs_statistical``): *improved* = clinical at baseline and functional at endpoint;
    *deteriorated* = not clinical at baseline and not functional at endpoint; *unchanged* = the
    rest. No RCI: the size of the change is not tested. Default cut-off as above, else cut-off a
    from the sample's baselines (clinicalsignificance's default).

    **Percentage change** (clinicalsignificance ``cs_percentage``):
    :math:`(x_{post} - x_{pre}) / x_{pre}`; *improved* when it reaches ``pct_improvement`` in
    the better direction, *deteriorated* when it reaches ``pct_deterioration`` in the worse
    direction (inclusive; e.g. the HEDIS/CMS "response" is a 50 % reduction). A baseline of 0
    has no percentage change (``pct_change`` missing): any worsening from 0 counts as
    deteriorated, any improvement as improved, no change as unchanged (clinicalsignificance
    counts a rise from 0 as both improved and deteriorated when lower is better). Negative
    baselines are an error.

    **Anchor-based** (clinicalsignificance ``cs_anchor``): *improved* when the change in the
    better direction is :math:`\ge` the MID, *deteriorated* when the change in the worse
    direction is :math:`\ge` ``mid_deterioration`` (inclusive). **Combined** (``cs_combined``
    with an MID): the same with the cut-off: *recovered* = improved, clinical baseline and
    functional endpoint; *harmed* = deteriorated, baseline not clinical and endpoint not
    functional (always a category); default cut-off as above, else a from the sample.
    With ``target="group"``: the mean change with a paired t interval (between groups: the
    difference in endpoint means, comparison − reference, with a Welch interval, every row
    with an endpoint) judged against the MID in the better direction: interval covering 0 →
    *statistically not significant*; upper bound below the MID → *statistically significant but
    not clinically relevant* (also for a significant change in the worse direction;
    ``beneficial`` says which); lower bound above the MID → *large clinically significant
    effect*; estimate above the MID → *probably clinically significant effect*; otherwise *not
    significantly less* (lower is better) / *greater* (higher is better) *than the threshold*.
    These are clinicalsignificance's categories with ``bayesian = FALSE`` (it omits the first
    rule when higher is better).

    **NHS Talking Therapies** (NHS England, Talking Therapies annual-report metadata, as packaged
    in bennettoxford/nhstt): "referrals that finished a course of treatment (end date in the
    year and a minimum of two attended treatment appointments during the referral) ... that
    showed reliable improvement"; "... where the service user has moved to recovery"; "...
    showed reliable recovery (has moved to recovery and showed reliable improvement)". The
    construction implemented (first vs last scores):

    * caseness: PHQ-9 :math:`\ge` 10 or GAD-7 :math:`\ge` 8 at the first score;
    * reliable improvement: PHQ-9 decrease :math:`\ge` 6 or GAD-7 decrease :math:`\ge` 4, *and
      no reliable deterioration on either measure*;
    * reliable deterioration: PHQ-9 increase :math:`\ge` 6 or GAD-7 increase :math:`\ge` 4 on
      either measure. A course that improves on one measure and deteriorates on the other is
      therefore counted as reliable deterioration: the metadata text found does not spell this
      case out, but it follows from the two definitions and keeps improvement, no reliable
      change and deterioration mutually exclusive, as the published counts are;
    * recovery: at caseness at the start and last PHQ-9 < 10 and last GAD-7 < 8; reliable
      recovery: recovery and reliable improvement. Denominator for both: finished courses minus
      those not at caseness; for the rest: finished courses.
    * finished course: ``sessions_attended`` :math:`\ge` 2 where recorded, else
      ``n_in_treatment`` :math:`\ge` 2 (first and last scores from different contacts), else
      every episode with paired scores; ``discharge_status == "ongoing"`` is never finished.
    * Joint rules with ``instrument=["PHQ-9", "GAD-7"]``; single measure with
      ``instrument="PHQ-9"`` (say), or ``None`` on a table of one measure: the same rules on
      that measure alone (stated in the notes; not strictly comparable with national figures).
      In a joint table, an episode with only one paired measure is classified on that measure
      (counted in the notes).

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). J Consult Clin Psychol 59:12-19.
    Hsu, L. M. (1989). Behav Assess 11:459-467. Speer, D. C. (1992). J Consult Clin Psychol
    60:402-408. Nunnally, J. C., & Kotsch, W. E. (1983). Br J Clin Psychol 22:83-93.
    Hageman, W. J., & Arrindell, W. A. (1999). Establishing clinically significant change:
    increment of precision and the distinction between individual and group level analysis.
    Behav Res Ther 37:1169-1193, doi:10.1016/S0005-7967(99)00032-7.
    Claus, B. B. et al. (2024). clinicalsignificance, J Stat Softw 111(1),
    doi:10.18637/jss.v111.i01. NHS England, NHS Talking Therapies for anxiety and depression
    annual reports, metadata.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [18, 15, 12, 20, 9], "endpoint": [6, 13, 19, 14, 2]})
    >>> res = iop.clinical_significance(ep, instrument="PHQ-9", threshold="fixed")
    >>> res.episodes["category"].tolist()
    ['recovered', 'unchanged', 'deteriorated', 'improved', 'recovered']
    >>> res.params["threshold_points"]
    6.0
    >>> nhs = iop.clinical_significance(ep, method="nhs-talking-therapies", instrument="PHQ-9")
    >>> nhs.table.set_index("outcome").loc["recovery", ["count", "n"]].tolist()
    [1, 4]

    A caseness threshold (PHQ-9 "10 or more"): a baseline of exactly 10 is clinical.

    >>> cut = iop.clinical_significance(
    ...     pd.DataFrame({"baseline": [10], "endpoint": [3]}),
    ...     instrument="PHQ-9",
    ...     threshold="fixed",
    ...     cutoff=10,
    ... )
    >>> cut.episodes["category"].tolist(), cut.params["cutoff_rule"]
    (['recovered'], 'clinical: score >= 10; functional: score < 10')

    Other approaches (each named in ``params["method"]``):

    >>> iop.clinical_significance(ep, method="anchor", instrument="PHQ-9").episodes[
    ...     "category"
    ... ].tolist()  # PHQ-9 MID 5 points
    ['improved', 'unchanged', 'deteriorated', 'improved', 'improved']
    >>> iop.clinical_significance(ep, method="percentage", instrument="PHQ-9").episodes[
    ...     "pct_change"
    ... ].round(2).tolist()
    [-0.67, -0.13, 0.58, -0.3, -0.78]
    >>> iop.clinical_significance(
    ...     ep, method="statistical", instrument="PHQ-9", cutoff=10
    ... ).episodes["category"].tolist()  # only 18 -> 6 crosses 10 from the clinical side
    ['improved', 'unchanged', 'unchanged', 'unchanged', 'unchanged']
    >>> grp = iop.clinical_significance(ep, method="anchor", target="group", instrument="PHQ-9")
    >>> grp.table[["estimate", "n", "category"]].round(2).to_dict("records")
    [{'estimate': -4.0, 'n': 5, 'category': 'statistically not significant'}]

    Compared groups (``group=`` with ``reference=``): each format's mean change, and its
    endpoint mean against the in-person format's (Welch).

    >>> ep["format"] = ["virtual", "in_person", "in_person", "virtual", "in_person"]
    >>> cmp = iop.clinical_significance(
    ...     ep, method="anchor", target="group", instrument="PHQ-9",
    ...     group="format", reference="in_person",
    ... )
    >>> cmp.table[["format", "estimate", "n"]].round(2).values.tolist()  # mean of post - pre
    [['in_person', -0.67, 3], ['virtual', -9.0, 2]]
    >>> cmp.between[["reference", "comparison", "estimate"]].round(2).values.tolist()
    [['in_person', 'virtual', -1.33]]
    >>> cmp.params["group"], cmp.params["reference"]
    ('format', 'in_person')

    (In person: changes -2, +7, -7, mean -0.67; virtual: -12, -6, mean -9. Endpoint means:
    virtual 10, in person 34/3 = 11.33, difference -1.33.)
    """
    m = _method_name(method)
    _check_target_and_instrument(m, target, instrument)
    if is_dask(episodes):  # thresholds from the whole table, then per partition (_dask/clinsig)
        from .._dask.clinsig import clinsig_dask
        from .common import by_columns, finish_rates, prepare, resolve_instrument

        steps = {"run": _run, "prepare": prepare, "finish": finish_rates, "check": _checks}
        steps |= {"resolve": resolve_instrument, "by_columns": by_columns}
        args = {k: v for k, v in locals().items() if k not in ("episodes", "steps")}
        return clinsig_dask(episodes, m, args, steps)
    _checks(m, locals())
    return _run(m, episodes, locals())


def _checks(m: str, a: dict) -> None:
    """The combinations of options the method accepts."""
    options = {k: a[k] for k in _OPTIONS}
    options["harmed"] = a["harmed"] or None
    _check_applicable(m, a["target"], options)
    _check_group(a["target"], a["by"], a["group"], a["reference"])


_OPTIONS = (
    "reliability",
    "sd",
    "threshold",
    "cutoff",
    "better_is",
    "clinical_mean",
    "clinical_sd",
    "functional_mean",
    "functional_sd",
    "harmed",
    "cutoff_inclusive",
    "reliability_post",
    "mid",
    "mid_deterioration",
    "pct_improvement",
    "pct_deterioration",
    "group",
    "reference",
)


def _run(m: str, episodes, a: dict, sample=None):
    """The method ``m`` on ``episodes`` with the arguments ``a`` (``sample``: Dask's whole-table
    summary of the paired scores, for the distribution approach)."""
    common = {k: a[k] for k in ("instrument", "by", "ci_level", "pre", "post")}
    if m == "nhs-talking-therapies":
        return nhs_outcomes(episodes, **common)
    common["better_is"] = a["better_is"]
    norms = {k: a[k] for k in ("clinical_mean", "clinical_sd", "functional_mean", "functional_sd")}
    if m == "statistical":
        return statistical(
            episodes, **common, **norms, cutoff=a["cutoff"], cutoff_inclusive=a["cutoff_inclusive"]
        )
    if m == "percentage":
        return percentage(
            episodes,
            **common,
            pct_improvement=a["pct_improvement"],
            pct_deterioration=a["pct_deterioration"],
        )
    if m == "anchor" and a["target"] == "group":
        common.pop("by")
        return anchor_group(
            episodes,
            **common,
            group=a["group"],
            reference=a["reference"],
            mid=a["mid"],
            mid_deterioration=a["mid_deterioration"],
            threshold=a["threshold"],
        )
    return distribution_based(
        episodes,
        **common,
        **norms,
        method=m,
        reliability=a["reliability"],
        sd=a["sd"],
        threshold=a["threshold"],
        cutoff="none" if m == "anchor" else a["cutoff"],
        harmed_category=bool(a["harmed"]) or m == "combined",
        cutoff_inclusive=a["cutoff_inclusive"],
        reliability_post=a["reliability_post"],
        mid=a["mid"],
        mid_deterioration=a["mid_deterioration"],
        sample=sample,
    )


def _method_name(method: str) -> str:
    """The canonical method name for a name or short name (case, spaces, '-', '_' ignored)."""
    m = METHODS.get(method_key(method))
    if m is None:
        raise ConfigError(
            "The 'method' parameter of iop.clinical_significance must be one of "
            f"{sorted(set(METHODS.values()))}. Got {method!r} instead."
        )
    return m


def _check_target_and_instrument(m: str, target: str, instrument: Any) -> None:
    """target='group' is for the anchor approach; a list of instruments for the joint NHS rules."""
    if target == "group" and m != "anchor":
        raise ConfigError(
            "clinical_significance: target='group' applies to method='anchor' (the group-level "
            f"anchor-based approach). Got method={m!r}."
        )
    if isinstance(instrument, (list, tuple)) and m != "nhs-talking-therapies":
        raise ConfigError(
            f"The 'instrument' parameter of iop.clinical_significance(method={m!r}) must be one "
            "instrument name; a list (['PHQ-9', 'GAD-7']) asks for the joint rules of "
            f"method='nhs-talking-therapies'. Got {instrument!r} instead."
        )


_CUT_KEYS = {
    "cutoff",
    "clinical_mean",
    "clinical_sd",
    "functional_mean",
    "functional_sd",
    "cutoff_inclusive",
}
_RCI_KEYS = {"reliability", "sd", "threshold", "harmed", *_CUT_KEYS}


def _check_applicable(m: str, target: str, options: dict[str, Any]) -> None:
    """Refuse options the method does not use (no silently ignored argument)."""
    if m == "nhs-talking-therapies":
        given = [k for k, v in options.items() if v is not None and k != "threshold"]
        if options["threshold"] not in (None, "fixed"):
            given.append("threshold")
        if given:
            raise ConfigError(
                f"clinical_significance(method='nhs-talking-therapies') uses the published fixed "
                f"definitions; {given} do not apply. Use method='jacobson-truax' for other "
                "thresholds."
            )
        return
    allowed = {
        "statistical": _CUT_KEYS,
        "percentage": {"pct_improvement", "pct_deterioration"},
        "anchor": (
            {"threshold", "mid", "group", "reference"}
            if target == "group"
            else {"threshold", "mid", "mid_deterioration"}
        ),
        "combined": {"threshold", "mid", "mid_deterioration", "harmed", *_CUT_KEYS},
        "nunnally-kotsch": {*_RCI_KEYS, "reliability_post"},
        "hageman-arrindell": {*_RCI_KEYS, "reliability_post"},
    }.get(m, _RCI_KEYS)
    given = [
        k for k, v in options.items() if v is not None and k != "better_is" and k not in allowed
    ]
    if given:
        hint = {"anchor": " Use method='combined' for a cut-off with the MID."}.get(m, "")
        if {"group", "reference"} & set(given):
            hint += (
                " group= and reference= (a compared column and its reference level) apply to "
                "method='anchor', target='group'; use by= to stratify."
            )
        raise ConfigError(
            f"clinical_significance(method={m!r}"
            + (", target='group'" if target == "group" else "")
            + f"): {given} do not apply.{hint}"
        )


def _check_group(target: str, by: Any, group: Any, reference: Any) -> None:
    """With target='group' the compared column is group= (by= would compare, not stratify)."""
    func = "clinical_significance"
    if target == "group" and by is not None:
        raise ConfigError(
            f"{func}(method='anchor', target='group'): by= does not apply; name the compared "
            f"column with group= (and its reference level with reference=), e.g. group={by!r}."
        )
    if reference is not None and group is None:
        raise ConfigError(
            f"{func}: reference={reference!r} needs group= (the column whose levels are "
            "compared with it)."
        )
