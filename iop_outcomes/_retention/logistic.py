"""Logistic models of response and non-response: design matrix, fit
(:func:`iop_outcomes._stats.logit_fit`, the library's one logistic fit), odds-ratio table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._stats import logit_fit, z_crit


# --------------------------------------------------------------------------------------
# logistic model (numpy design matrix; _stats.logit_fit, Newton-Raphson as R glm)
# --------------------------------------------------------------------------------------
def design(
    df: pd.DataFrame,
    covariates: list[str],
    ref: dict[str, Any] | None = None,
    intercept: bool = True,
):
    """Design matrix: an intercept, numeric covariates as is, categorical ones as treatment
    dummies against the level in ``ref`` or else the most frequent level (vectorized)."""
    cols = [np.ones(len(df))] if intercept else []
    names = ["(intercept)"] if intercept else []
    refs: dict[str, Any] = {}
    for c in covariates:
        s = df[c]
        if is_continuous(s):
            cols.append(pd.to_numeric(s).to_numpy(dtype=float))
            names.append(c)
        else:
            codes, uniq = pd.factorize(s)
            levels = [str(u) for u in uniq]
            counts = np.bincount(codes[codes >= 0], minlength=len(levels))
            r = (ref or {}).get(c, levels[int(np.argmax(counts))] if len(levels) else None)
            refs[c] = r
            for lev in sorted(set(levels) - {r}):
                cols.append((codes == levels.index(lev)).astype(float))
                names.append(f"{c}[{lev}]")
    X = np.column_stack(cols) if cols else np.empty((len(df), 0))
    return X, names, refs


def is_continuous(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return False
    return s.dropna().nunique() > 2


def _binomial_patterns(y: np.ndarray, X: np.ndarray):
    """Collapse rows with identical covariates to binomial counts (events, trials). The
    likelihood — hence estimates and standard errors — is unchanged; with discrete covariates a
    million rows become a few thousand patterns."""
    codes = pd.DataFrame(X).groupby(list(range(X.shape[1])), sort=False).ngroup().to_numpy()
    npat = int(codes.max()) + 1 if len(codes) else 0
    if npat > len(y) // 2:
        return y, np.ones(len(y)), X
    first = np.empty(npat, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    trials = np.bincount(codes, minlength=npat).astype(float)
    events = np.bincount(codes, weights=y, minlength=npat)
    return events, trials, X[first]


def _logit_fit(y: np.ndarray, X: np.ndarray):
    """Maximum-likelihood logistic regression (:func:`iop_outcomes._stats.logit_fit`, as R
    ``glm(family = binomial)``); returns coefficients and their standard errors from the
    inverse information at the estimate. Rows with identical covariates are collapsed to
    binomial counts first when that saves work."""
    m = None
    if len(y) > 5000:
        y, m, X = _binomial_patterns(y, X)
    try:
        b, info, converged = logit_fit(y, X, trials=m, stop_at=30)
    except np.linalg.LinAlgError as e:
        raise SeparationError("singular information matrix") from e
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(np.linalg.pinv(info)))
    if not converged or not np.isfinite(se).all() or np.abs(b).max() > 20:
        raise SeparationError("no convergence or (quasi-)complete separation")
    return b, se


def logit_or(y: np.ndarray, X: np.ndarray, names: list[str], ci_level: float) -> pd.DataFrame:
    """Logistic regression as a table of odds ratios with Wald CIs and z-test p-values."""
    b, se = _logit_fit(y, X)
    z = z_crit(ci_level)
    return pd.DataFrame(
        {
            "term": names,
            "estimate": np.exp(b),
            "ci_low": np.exp(b - z * se),
            "ci_high": np.exp(b + z * se),
            "log_or": b,
            "se": se,
            "statistic": b / se,
            "pvalue": 2 * _dist.norm.sf(np.abs(b / se)),
        }
    )


class SeparationError(RuntimeError):
    pass


def perfect_fit(y: np.ndarray, X: np.ndarray) -> bool:
    """No variation in the outcome, or a rank-deficient design (checked on X'X: cheap)."""
    return y.min() == y.max() or np.linalg.matrix_rank(X.T @ X) < X.shape[1]
