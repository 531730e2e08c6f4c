"""Design of the trajectory models: time terms, the patsy formula, labels and the R formula."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["time_columns", "patsy_formula", "pretty_term", "lme4_formula"]


def time_columns(df: pd.DataFrame, time: str, knot: float) -> pd.DataFrame:
    w = df["week"].to_numpy(float)
    if time == "quadratic":
        df["week_sq"] = w**2
    elif time == "piecewise":
        df["wk_a"] = np.minimum(w, knot)
        df["wk_b"] = np.maximum(w - knot, 0.0)
    elif time == "categorical":
        df["week_c"] = np.rint(w).astype(int)
    return df


def patsy_formula(time: str, has_group: bool, reference: Any, week_ref: int) -> str:
    tterm = {
        "linear": "week",
        "quadratic": "week + week_sq",
        "piecewise": "wk_a + wk_b",
        "categorical": "C(week_c)",
    }[time]
    if not has_group:
        return f"y ~ {tterm}"
    gterm = "C(grp)"  # grp is a Categorical whose first category is the reference
    if time == "linear":
        return f"y ~ week * {gterm}"
    return f"y ~ ({tterm}) * {gterm}"


def pretty_term(term: str, group: str | None, knot: float) -> str:
    term = re.sub(r"(?:C\(grp\)|grp)\[T\.(.*?)\]", rf"{group}[\1]", term)
    term = re.sub(r"(?:C\(week_c\)|week_c)\[T\.(.*?)\]", r"week[\1]", term)
    term = term.replace("week_sq", "week^2")
    term = term.replace("wk_a", f"week_to_{knot:g}").replace("wk_b", f"week_after_{knot:g}")
    return term


def lme4_formula(time: str, group: str | None, site: str | None, random: str, knot: float) -> str:
    tterm = {
        "linear": "week",
        "quadratic": "week + I(week^2)",
        "piecewise": f"pmin(week, {knot:g}) + pmax(week - {knot:g}, 0)",
        "categorical": "factor(round(week))",
    }[time]
    fixed = (
        tterm
        if group is None
        else f"({tterm}) * {group}"
        if time != "linear"
        else (f"week * {group}")
    )
    re_part = {
        "slope": "(1 + week | episode_id)",
        "uncorrelated": "(1 + week || episode_id)",
        "intercept": "(1 | episode_id)",
    }[random]
    if site is not None:
        re_part += f" + (1 | {site})"
    return f"total ~ {fixed} + {re_part}"
