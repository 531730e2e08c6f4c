"""Small, shared statistical building blocks (vectorized).

Each function states its formula and source; analyses import these rather than
re-deriving them.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "wilson_ci",
    "newcombe_diff_ci",
    "mean_ci",
    "z_crit",
    "hedges_j",
    "check_ci_level",
    "TIE_RTOL",
    "tie_tolerance",
    "midrank_below",
]

#: Relative tolerance within which two floating-point results count as tied. The same
#: quantity computed along two summation orders (or by two BLAS kernels) differs in the last
#: few bits, about 1e-16 relative per operation; 1e-9 relative leaves a wide margin for
#: accumulations over millions of terms while staying far below any difference that matters
#: for a bootstrap distribution or a decision threshold.
TIE_RTOL = 1e-9


def z_crit(ci_level: float = 0.95) -> float:
    """Two-sided standard-normal critical value, e.g. 1.959964 for 95 %."""
    return float(stats.norm.ppf(0.5 + ci_level / 2))


def wilson_ci(k, n, ci_level: float = 0.95):
    """Wilson score interval for a binomial proportion (vectorized).

    .. math::
        \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    Source: Wilson (1927), JASA 22:209; as ``statsmodels`` ``proportion_confint(method="wilson")``
    and R ``prop.test(correct=FALSE)``. Returns NaN where ``n == 0``.

    Examples
    --------
    >>> lo, hi = wilson_ci(274, 555)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.4523, 0.5352)
    >>> [round(float(x), 6) for x in wilson_ci(0, 20)]   # exact 0 at k = 0
    [0.0, 0.161125]
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_crit(ci_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        # exact bounds at the edges (k = 0 gives 0, k = n gives 1, not 1e-17 off)
        lo = np.where(n > 0, np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
        hi = np.where(n > 0, np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    return lo, hi


def newcombe_diff_ci(k1, n1, k2, n2, ci_level: float = 0.95):
    """Newcombe's hybrid score interval for the difference of two independent proportions
    ``k1/n1 − k2/n2`` (vectorized).

    With :math:`(l_i, u_i)` the Wilson score interval of :math:`\\hat p_i = k_i / n_i`
    (:func:`wilson_ci`) and :math:`D = \\hat p_1 - \\hat p_2`:

    .. math::
        L = D - \\sqrt{(\\hat p_1 - l_1)^2 + (u_2 - \\hat p_2)^2}, \\qquad
        U = D + \\sqrt{(u_1 - \\hat p_1)^2 + (\\hat p_2 - l_2)^2}

    Source: Newcombe RG (1998), "Interval estimation for the difference between independent
    proportions: comparison of eleven methods", Stat Med 17:873-890, method 10 (score
    interval without continuity correction, hybrid); as R ``DescTools::BinomDiffCI(method =
    "score")`` and statsmodels ``confint_proportions_2indep(method="newcomb")``. Returns NaN where ``n1`` or ``n2`` is 0.

    Returns
    -------
    (estimate, ci_low, ci_high) : tuple of arrays
        The difference and its interval, on the proportion scale (multiply by 100 for
        percentage points).

    Examples
    --------
    Newcombe (1998), Table II, example (a): 56/70 vs 48/80.

    >>> d, lo, hi = newcombe_diff_ci(56, 70, 48, 80)
    >>> round(float(d), 4), round(float(lo), 4), round(float(hi), 4)
    (0.2, 0.0524, 0.3339)
    """
    k1, n1, k2, n2 = (np.asarray(x, dtype=float) for x in (k1, n1, k2, n2))
    l1, u1 = wilson_ci(k1, n1, ci_level)
    l2, u2 = wilson_ci(k2, n2, ci_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        d = np.where((n1 > 0) & (n2 > 0), p1 - p2, np.nan)
        lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, lo, hi


def mean_ci(mean, sd, n, ci_level: float = 0.95):
    """t-based confidence interval for a mean: mean ± t(n−1)·sd/√n (vectorized).

    Examples
    --------
    >>> lo, hi = mean_ci(10.0, 2.0, 16)
    >>> round(float(lo), 4), round(float(hi), 4)
    (8.9343, 11.0657)
    """
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(n > 1, n - 1, np.nan)
        t = stats.t.ppf(0.5 + ci_level / 2, df)
        half = t * sd / np.sqrt(n)
    return mean - half, mean + half


def hedges_j(df):
    """Hedges' exact small-sample correction factor (vectorized).

    .. math:: J(\\nu) = \\frac{\\Gamma(\\nu/2)}{\\sqrt{\\nu/2}\\,\\Gamma((\\nu-1)/2)}

    Source: Hedges (1981), J Educ Stat 6:107; computed through log-gamma for
    stability. Use ``df = n - 1`` for paired (pre–post) designs and
    ``n1 + n2 - 2`` for two independent groups.

    Examples
    --------
    >>> round(float(hedges_j(9)), 6)   # metafor's worked example, n = 10 pairs
    0.913875
    """
    from scipy.special import gammaln

    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.exp(gammaln(df / 2) - 0.5 * np.log(df / 2) - gammaln((df - 1) / 2))


def check_ci_level(ci_level, func: str) -> float:
    """``float(ci_level)`` if it is an int or float in (0, 1), else ConfigError naming ``func``.

    Examples
    --------
    >>> check_ci_level(0.9, "retention")
    0.9
    """
    if not (isinstance(ci_level, (int, float)) and 0 < float(ci_level) < 1):
        from .exceptions import ConfigError

        raise ConfigError(
            f"The 'ci_level' parameter of {func} must be a number in (0, 1). "
            f"Got {ci_level!r} instead."
        )
    return float(ci_level)


def tie_tolerance(*scales) -> float:
    """Absolute tie tolerance: :data:`TIE_RTOL` times the largest finite ``|scale|`` given.

    Pass the quantities that set the statistic's scale (the estimate, the spread of its
    replicates). Returns 0 when every scale is 0 or missing, so exact ties still tie.

    Examples
    --------
    >>> tie_tolerance(-0.2, 1.5)
    1.5e-09
    >>> tie_tolerance(0.0, float("nan"))
    0.0
    """
    vals = np.abs(np.asarray(scales, dtype=float).ravel())
    vals = vals[np.isfinite(vals)]
    return float(TIE_RTOL * vals.max()) if vals.size else 0.0


def midrank_below(values, ref: float, tol: float = 0.0) -> float:
    """Mid-rank proportion of ``values`` below ``ref``: (#{v < ref} + #{v <= ref}) / (2n).

    Values within ``tol`` of ``ref`` count as ties, i.e. one half each, so the proportion does
    not depend on the last bits of floating-point rounding (which differ between CPUs and BLAS
    kernels). This is the bias-correction proportion of the BCa bootstrap interval: Efron &
    Tibshirani (1993), *An Introduction to the Bootstrap*, eq. 14.14, with ties counted half
    as ``scipy.stats.bootstrap`` does.

    Examples
    --------
    >>> midrank_below([1.0, 2.0, 3.0, 4.0], 2.0)            # (1 + 2) / 8
    0.375
    >>> midrank_below([1.0, 2.0 + 1e-15, 3.0, 4.0], 2.0, tol=1e-9)   # a rounding-level tie
    0.375
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan")
    below = np.count_nonzero(v < ref - tol)
    at_or_below = np.count_nonzero(v <= ref + tol)
    return float((below + at_or_below) / (2.0 * v.size))
