"""The analysis set as arrays, and the complete-data estimates every method shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._stats import ols

__all__ = ["Design", "estimates", "group_dummies", "mean_se", "nused_all"]


def mean_se(y: np.ndarray):
    n = y.size
    if n < 2:
        return np.nan, np.nan, n - 1
    return float(y.mean()), float(y.std(ddof=1) / np.sqrt(n)), n - 1


@dataclass
class Design:
    """The analysis set: one row per episode, arrays aligned."""

    baseline: np.ndarray  # (n,)
    endpoint: np.ndarray  # (n,) NaN when no discharge score
    last: np.ndarray | None  # last in-treatment score (LOCF), NaN -> baseline
    group: np.ndarray  # (n,) int codes, -1 = not in a compared level / missing
    levels: list  # group labels; levels[0] is the reference
    cov: np.ndarray  # (n, c) covariate design (dummies), centred
    cov_names: list
    weekly: np.ndarray | None  # (n, W-1) intermediate weekly scores on the grid
    episode_id: np.ndarray


def group_dummies(group: np.ndarray, n_levels: int) -> np.ndarray:
    return (group[:, None] == np.arange(1, n_levels)[None, :]).astype(float)


def estimates(
    change: np.ndarray, d: Design, adjust: bool, baseline: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Complete-data estimates for a vector of changes (NaN rows are dropped).

    Returns (estimates, variances, dfcom, n_used) over the parameters
    [mean change, diff level 1 vs ref, diff level 2 vs ref, ...].
    """
    base = d.baseline if baseline is None else baseline
    ok = ~np.isnan(change)
    est, var, dfc, nused = [], [], [], []
    mu, se, df = mean_se(change[ok])
    est.append(mu)
    var.append(se**2)
    dfc.append(df)
    nused.append(int(ok.sum()))
    k = len(d.levels)
    if k >= 2:
        ing = ok & (d.group >= 0)
        y = change[ing]
        X = [np.ones(y.size), *group_dummies(d.group[ing], k).T]
        if adjust:
            X.append(base[ing] - base[ing].mean())
            X.extend(d.cov[ing].T)
        X = np.column_stack(X)
        counts = np.bincount(d.group[ing], minlength=k)
        if (counts < 1).any() or y.size <= X.shape[1]:
            b = np.full(k - 1, np.nan)
            v = np.full(k - 1, np.nan)
            dfr = y.size - X.shape[1]
        else:
            try:
                beta, cov, dfr, _ = ols(y, X)
                b, v = beta[1:k], np.diag(cov)[1:k]
            except np.linalg.LinAlgError:
                b = v = np.full(k - 1, np.nan)
                dfr = y.size - X.shape[1]
        est.extend(b)
        var.extend(v)
        dfc.extend([dfr] * (k - 1))
        nused.extend([int(ing.sum())] * (k - 1))
    return np.array(est), np.array(var), np.array(dfc, dtype=float), np.array(nused)


def nused_all(d: Design) -> np.ndarray:
    k = len(d.levels)
    return np.array([d.baseline.size] + [int((d.group >= 0).sum())] * max(k - 1, 0))
