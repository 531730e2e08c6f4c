"""The result of :func:`iop_outcomes.trajectories`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._results import TableResult, format_table
from .._stats import z_crit
from .._validation import Interval, Options, check_param
from ..exceptions import ConfigError, IOPWarning
from .design import time_columns

__all__ = ["TrajectoryResult"]


@dataclass(frozen=True)
class TrajectoryResult(TableResult):
    """A fitted trajectory model (mixed-effects growth model or GEE).

    Attributes
    ----------
    fixed : DataFrame
        Fixed effects: ``term, estimate, se, statistic, pvalue, ci_low, ci_high``
        (Wald z; ``se`` from (X'V⁻¹X)⁻¹ for the mixed model, sandwich for GEE).
    means : DataFrame
        Model-based mean per week and group: ``week, group, estimate, se, ci_low, ci_high``.
    variance : DataFrame
        Variance components (mixed: ``level, term, variance, sd, corr``) or the GEE
        working-correlation parameter and scale.
    observed : DataFrame
        Observed mean per (rounded) week and group: ``week, group, n, mean, sd``.
    rows : DataFrame
        The in-treatment rows the model was fitted on: ``episode_id, week, total, group``
        (``group`` is ``"all"`` without a group); drawn by
        :func:`iop_outcomes.plots.plot_individual_trajectories`.
    model_info : dict
        ``method, time, formula, r_formula, n_obs, n_episodes, converged, fallback, ...``.
    """

    fixed: pd.DataFrame = field(default_factory=pd.DataFrame)
    means: pd.DataFrame = field(default_factory=pd.DataFrame)
    variance: pd.DataFrame = field(default_factory=pd.DataFrame)
    observed: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    model_info: dict = field(default_factory=dict)
    _design: Any = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        """Whether the final fit converged (see ``model_info['fallback']``)."""
        return bool(self.model_info.get("converged", False))

    def to_frame(self, part: str = "fixed") -> pd.DataFrame:
        """Return a copy of one table: ``"fixed"`` (default), ``"means"``, ``"variance"``
        or ``"observed"``."""
        check_param(
            part,
            "part",
            [Options("fixed", "means", "variance", "observed")],
            func="TrajectoryResult.to_frame",
        )
        return getattr(self, part).copy()

    def _x(self, weeks: np.ndarray, groups: list) -> np.ndarray:
        import patsy

        des = self._design
        grid = pd.DataFrame({"week": np.asarray(weeks, float)})
        if des["has_group"]:
            grid["grp"] = groups
        grid = time_columns(grid, des["time"], des["knot"])
        return np.asarray(patsy.build_design_matrices([des["design_info"]], grid)[0])

    def _linear_combination(self, L: np.ndarray, ci_level: float) -> tuple:
        b, V = self._design["params"], self._design["cov"]
        est = L @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        z = z_crit(ci_level)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * _dist.norm.sf(np.abs(est / se))
        return est, se, est - z * se, est + z * se, p

    def _check_week(self, week: float, name: str) -> None:
        check_param(week, name, [Interval(float, None, None)], func="TrajectoryResult.change")
        des = self._design
        if des["time"] == "categorical" and float(week) not in des["week_levels"]:
            raise ConfigError(
                f"The {name!r} parameter of iop.TrajectoryResult.change must be one of the "
                f"observed weeks {des['week_levels']} for time='categorical'. Got {week!r} "
                "instead."
            )
        if not des["week_min"] - 1e-9 <= week <= des["week_max"] + 1e-9:
            warnings.warn(
                f"Week {week:g} is outside the observed weeks {des['week_min']:g}-"
                f"{des['week_max']:g}: the model extrapolates.",
                IOPWarning,
                stacklevel=3,
            )

    def change(
        self, week: float, *, from_week: float = 0, ci_level: float | None = None
    ) -> TableResult:
        """Model-based mean change from ``from_week`` (default 0, admission) to ``week``.

        For each group, the change is the linear combination (x_week − x_from)·b of the fixed
        effects, with standard error √(L V L') from the fixed-effects covariance V and a Wald
        z interval. Under the mixed model this is the likelihood-based (MAR) estimate of mean
        change: episodes with missing later weeks contribute through their observed scores.
        Rows ``group, from_week, week, estimate, se, ci_low, ci_high, pvalue, ci_level``;
        negative = scores went down. A second block of rows (``contrast``) gives the difference
        in change of each group vs the reference group.

        Examples
        --------
        >>> import iop_outcomes as iop
        >>> from iop_outcomes._trajectories.prepare import example_data
        >>> res = iop.trajectories(example_data())
        >>> ch = res.change(week=6).to_frame()
        >>> list(ch.columns[:4])
        ['group', 'from_week', 'week', 'estimate']
        """
        ci_level = self.model_info["ci_level"] if ci_level is None else ci_level
        check_param(
            ci_level,
            "ci_level",
            [Interval(float, 0, 1, closed="neither")],
            func="TrajectoryResult.change",
        )
        self._check_week(week, "week")
        self._check_week(from_week, "from_week")
        des = self._design
        groups = des["levels"] if des["has_group"] else [None]
        g = list(groups)
        x1 = self._x(np.full(len(g), week), g)
        x0 = self._x(np.full(len(g), from_week), g)
        L = x1 - x0
        labels = [str(x) if x is not None else "all" for x in g]
        contrasts = []
        if des["has_group"] and len(g) > 1:
            Lc = L[1:] - L[0]
            L = np.vstack([L, Lc])
            contrasts = [f"{x} - {g[0]}" for x in g[1:]]
        est, se, lo, hi, p = self._linear_combination(L, ci_level)
        tab = pd.DataFrame(
            {
                "group": labels + contrasts,
                "contrast": [False] * len(labels) + [True] * len(contrasts),
                "from_week": float(from_week),
                "week": float(week),
                "estimate": est,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "pvalue": p,
                "ci_level": ci_level,
            }
        )
        tab = tab[
            [
                "group",
                "from_week",
                "week",
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "pvalue",
                "ci_level",
                "contrast",
            ]
        ]
        return TableResult(
            table=tab,
            title=f"Model-based mean change, week {from_week:g} to week {week:g}",
            method=self.method,
            params={"ci_level": ci_level},
            notes=(
                "Change = difference of model-based means (fixed effects only), Wald z CI; "
                "rows marked contrast=True are differences in change between groups.",
            ),
        )

    def plot(self, *, ax=None, **kwargs):
        """Model-based mean trajectories with CI bands (and observed means); returns the Axes.

        See :func:`iop_outcomes.plots.plot_trajectories` (imported here, when called).
        """
        from ..plots.trajectories import plot_trajectories

        return plot_trajectories(self, ax=ax, **kwargs)

    def summary(self) -> str:
        parts = [self.title, "", "Fixed effects:"]
        parts.append(format_table(self.fixed, self.digits).to_string(index=False))
        parts += [
            "",
            "Variance components:"
            if self.model_info["method"] == "mixed"
            else "Working correlation:",
        ]
        parts.append(format_table(self.variance, 4).to_string(index=False))
        parts += ["", "Model-based means:"]
        parts.append(format_table(self.means, self.digits).to_string(index=False))
        parts += ["", *self._footer()]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        import html as _html

        def t(df, digits):
            return format_table(df, digits).to_html(index=False, border=0, classes="iop-table")

        head = f"<p><strong>{_html.escape(self.title)}</strong></p>"
        foot = "".join(f"<br><small>{_html.escape(s)}</small>" for s in self._footer())
        return (
            f"<div>{head}<p>Fixed effects</p>{t(self.fixed, self.digits)}"
            f"<p>Random effects / correlation</p>{t(self.variance, 4)}"
            f"<p>Model-based means</p>{t(self.means, self.digits)}{foot}</div>"
        )
