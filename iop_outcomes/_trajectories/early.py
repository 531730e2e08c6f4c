"""Early change: how much of an episode's improvement happened by an early week."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import instruments as _instruments
from .._results import TableResult
from .._stats import wilson_ci
from .._validation import Interval, Options, validate_params
from .prepare import prepare

__all__ = ["early_change", "EarlyChangeResult"]


@dataclass(frozen=True)
class EarlyChangeResult(TableResult):
    """Early-change table (see :func:`early_change`); ``episodes`` holds per-episode values."""

    episodes: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    def plot(self, *, ax=None):
        """Bar chart of the early-change share by group; returns the Axes.

        See :func:`iop_outcomes.plots.plot_early_change` (imported here, when called).
        """
        from ..plots.trajectories import plot_early_change

        return plot_early_change(self, ax=ax)


@validate_params(
    {
        "assessments": ["frame"],
        "instrument": ["instrument", None],
        "group": [str, None],
        "reference": ["no_validation"],  # a level of group: checked against the data
        "week": [Interval(int, 1, None, closed="left")],
        "threshold": [Interval(float, 0, 1, closed="right")],
        "better_is": [Options("lower", "higher"), None],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
        "max_week": [Interval(float, 0, None, closed="neither"), None],
    },
    renamed={"data": "assessments"},
)
def early_change(
    assessments: pd.DataFrame,
    *,
    instrument: str | None = None,
    group: str | None = "format",
    reference: Any = None,
    week: int = 2,
    threshold: float = 0.5,
    better_is: str | None = None,
    ci_level: float = 0.95,
    max_week: float | None = None,
) -> EarlyChangeResult:
    r"""How much of the improvement happened by an early week (default week 2).

    Per episode, with baseline :math:`y_0` (score in week 0, i.e. week < 0.5), early score
    :math:`y_k` (last score whose week rounds to ``week``) and endpoint :math:`y_{end}` (last
    in-treatment score after week ``week``), improvement is signed so that positive = better
    (:math:`y_0 - y` when lower is better):

    .. math::
        s_i = \frac{y_{0} - y_{k}}{y_{0} - y_{end}}

    Two summaries per group:

    * ``estimate`` -- the share of *improved* episodes (:math:`y_0 - y_{end} > 0`) with
      :math:`s_i \ge` ``threshold`` (default 0.5: at least half of the episode's total
      improvement by week 2), with a Wilson CI; ``n_used`` is that denominator.
    * ``share_of_change`` -- the ratio of mean early improvement to mean total improvement,
      :math:`\bar{(y_0-y_k)}/\bar{(y_0-y_{end})}`, over all episodes with the three scores
      (``n_complete``): the fraction of the group's average change achieved by week ``week``.

    These are descriptive definitions chosen for this library (there is no single standard);
    they operationalise the "early rapid response" pattern in psychotherapy (Ilardi &
    Craighead 1994) and the week-2 window of early improvement used for antidepressants
    (Szegedi et al. 2009 use a ≥ 20 % reduction from baseline by week 2). Episodes without a
    week-0, week-``week`` or later score are not used (counted in ``n`` − ``n_complete``).

    Parameters
    ----------
    assessments : DataFrame
        Assessment rows, as for :func:`iop_outcomes.trajectories` (in-treatment scores only
        are used).
    instrument, group, reference, max_week
        As for :func:`iop_outcomes.trajectories`: ``instrument=None`` needs a table of one
        instrument; ``reference`` is the ``group`` level listed first.
    week : int
        The early week (default 2).
    threshold : float
        Share of an episode's own improvement that counts as "early" (default 0.5).
    better_is : {"lower", "higher"}, optional
        Default: the instrument's direction (PHQ-9, GAD-7: lower).
    ci_level : float
        Level of the Wilson interval.

    References
    ----------
    Ilardi SS, Craighead WE (1994). The role of nonspecific factors in cognitive-behavior
    therapy for depression. Clin Psychol Sci Pract 1:138-156.
    Szegedi A, Jansen WT, van Willigenburg AP, et al. (2009). Early improvement in the first
    2 weeks as a predictor of treatment outcome in patients with major depressive disorder:
    a meta-analysis including 6562 patients. J Clin Psychiatry 70:344-353.
    Wilson EB (1927). Probable inference... JASA 22:209 (interval).

    Examples
    --------
    >>> import pandas as pd
    >>> from iop_outcomes import early_change
    >>> d = pd.DataFrame({"episode_id": ["a"] * 3 + ["b"] * 3, "instrument": "PHQ-9",
    ...                   "week": [0, 2, 6] * 2, "total": [20, 12, 10, 18, 16, 8]})
    >>> t = early_change(d, group=None).to_frame()
    >>> t.loc[0, ["n_used", "n_early", "estimate", "share_of_change"]].astype(float).tolist()
    [2.0, 1.0, 0.5, 0.5]
    """
    prep = prepare(
        assessments,
        func="early_change",
        instrument=instrument,
        group=group,
        site=None,
        max_week=max_week,
        reference=reference,
    )
    if better_is is None:
        try:
            better_is = _instruments.get(prep.instrument).better_is
        except Exception:
            better_is = "lower"
    sign = 1.0 if better_is == "lower" else -1.0
    df = prep.df
    has_group = prep.group is not None
    ep = df.groupby("ep", sort=True)
    first = df[df["week"] < 0.5].groupby("ep")["y"].first()
    early = df[df["weekr"] == week].groupby("ep")["y"].last()
    end = df[df["week"] >= week + 0.5].groupby("ep")["y"].last()
    per = pd.DataFrame(index=ep.size().index)
    per["group"] = ep["grp"].first().astype(str) if has_group else "all"
    per["baseline"] = first
    per["early"] = early
    per["endpoint"] = end
    per["early_improvement"] = sign * (per["baseline"] - per["early"])
    per["total_improvement"] = sign * (per["baseline"] - per["endpoint"])
    complete = per[["baseline", "early", "endpoint"]].notna().all(axis=1)
    per["complete"] = complete
    improved = complete & (per["total_improvement"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per["share"] = np.where(
            improved, per["early_improvement"] / per["total_improvement"], np.nan
        )
    per["early_changer"] = improved & (per["share"] >= threshold)
    per["improved"] = improved
    g = per.groupby("group", sort=True)
    tab = pd.DataFrame(
        {
            "n": g.size(),
            "n_complete": g["complete"].sum().astype(int),
            "n_used": g["improved"].sum().astype(int),
            "n_early": g["early_changer"].sum().astype(int),
        }
    )
    tab["estimate"] = tab["n_early"] / tab["n_used"].where(tab["n_used"] > 0)
    lo, hi = wilson_ci(tab["n_early"].to_numpy(), tab["n_used"].to_numpy(), ci_level)
    tab["ci_low"], tab["ci_high"] = lo, hi
    tab["ci_level"] = ci_level
    tab["median_share"] = g["share"].median()
    cp = per[complete].groupby("group")
    tab["mean_early_improvement"] = cp["early_improvement"].mean()
    tab["mean_total_improvement"] = cp["total_improvement"].mean()
    tab["share_of_change"] = tab["mean_early_improvement"] / tab["mean_total_improvement"]
    tab = tab.reset_index()
    if has_group and prep.reference in list(tab["group"]):
        order = [prep.reference] + [x for x in tab["group"] if x != prep.reference]
        tab = tab.set_index("group").loc[order].reset_index()
    notes = list(prep.notes)
    notes.append(
        f"estimate = share of improved episodes with >= {threshold:.0%} of their own improvement "
        f"by week {week} (Wilson CI); share_of_change = mean improvement to week {week} / mean "
        "improvement to the last in-treatment score (episodes with all three scores)."
    )
    return EarlyChangeResult(
        table=tab,
        title=f"Early change by week {week} ({prep.instrument})",
        method=f"early change share, threshold={threshold:g}, better_is={better_is}",
        params={"week": week, "threshold": threshold, "ci_level": ci_level},
        notes=tuple(notes),
        episodes=per.reset_index().rename(columns={"ep": "episode_id"}),
    )
