"""Off-track alert plots: a patient's scores against the expected recovery curve and band.

Every function takes ``ax=None`` (a new figure is made) and returns the matplotlib Axes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._validation import Interval, validate_params
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_recovery_curve"]


@validate_params(
    {
        "result": ["no_validation"],
        "baseline": [Interval(float, None, None)],
        "scores": [pd.DataFrame, None],
        "ax": ["axes", None],
        "weeks": ["no_validation"],
    },
    renamed={"curves": "result"},
)
def plot_recovery_curve(
    result: Any,
    *,
    baseline: float,
    scores: Any = None,
    ax=None,
    weeks: Any = None,
) -> Axes:
    """Expected score (median) and the upper band by week for one baseline score.

    Parameters
    ----------
    result : RecoveryCurves
        From :func:`iop_outcomes.recovery_curves` (or ``monitor(...).curves``).
    baseline : float
        The patient's baseline score.
    scores : DataFrame, optional
        The patient's scores (columns ``week`` and ``total``), drawn as points; those above
        the band are filled.
    ax : matplotlib Axes, optional
    weeks : array-like, optional
        Weeks to draw (default 0 .. the curves' last week, in tenths).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd, iop_outcomes as iop
    >>> g = pd.DataFrame({"baseline": [0, 0, 27, 27], "week": [0, 8, 0, 8],
    ...                   "expected": [0, 0, 27, 11], "upper": [0, 0, 27, 15]})
    >>> c = iop.recovery_curves(curves_table=g, instrument="PHQ-9")
    >>> ax = plot_recovery_curve(c, baseline=18, scores=pd.DataFrame({"week": [0, 2, 4],
    ...                          "total": [18, 16, 17]}))
    >>> [line.get_label() for line in ax.get_lines()][:2]
    ['expected (median)', '75th percentile']
    """
    if not all(hasattr(result, a) for a in ("predict", "max_week", "upper_q", "instrument")):
        raise ConfigError(
            "plot_recovery_curve takes the curves of iop.recovery_curves (or monitor(...).curves). "
            f"Got {type(result).__name__} instead."
        )
    curves = result
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.2))
    w = np.linspace(0, curves.max_week, 10 * int(np.ceil(curves.max_week)) + 1)
    if weeks is not None:
        w = np.asarray(weeks, dtype=float)
    pred = curves.predict(np.full(len(w), float(baseline)), w)
    ax.plot(w, pred["expected"], color="C0", label="expected (median)")
    ax.plot(w, pred["upper"], color="C3", ls="--", label=f"{curves.upper_q * 100:g}th percentile")
    ax.fill_between(w, pred["expected"], pred["upper"], color="C0", alpha=0.12, lw=0)
    if scores is not None and len(scores):
        sw = np.asarray(scores["week"], dtype=float)
        st = np.asarray(scores["total"], dtype=float)
        up = curves.predict(np.full(len(sw), float(baseline)), sw)["upper"].to_numpy()
        off = (st > up) & (sw > 0)
        ax.plot(sw, st, color="k", lw=1, marker="o", mfc="white", label="scores")
        if off.any():
            ax.plot(sw[off], st[off], ls="none", marker="o", color="C3", label="above the band")
    ax.set_xlabel("week of treatment")
    ax.set_ylabel(f"{curves.instrument} total")
    ax.set_title(f"Expected recovery, baseline {baseline:g}")
    ax.legend(frameon=False, fontsize="small")
    return ax
