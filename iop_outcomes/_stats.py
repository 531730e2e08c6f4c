"""Small, shared statistical building blocks (vectorized).

Each function states its formula and source; analyses import these rather than
re-deriving them.
"""

from __future__ import annotations

import numpy as np

from . import _dist

__all__ = [
    "hc3_meat",
    "ols_gram",
    "wilson_ci",
    "newcombe_diff_ci",
    "mean_ci",
    "z_crit",
    "hedges_j",
    "TIE_RTOL",
    "tie_tolerance",
    "midrank_below",
    "binomial_limit",
    "poisson_limit",
    "winsorised_phi",
    "additive_tau2",
    "moving_range_sigma",
    "ols",
    "logit_fit",
]

#: Relative tolerance within which two floating-point results count as tied. The same
#: quantity computed along two summation orders (or by two BLAS kernels) differs in the last
#: few bits, about 1e-16 relative per operation; 1e-9 relative leaves a wide margin for
#: accumulations over millions of terms while staying far below any difference that matters
#: for a bootstrap distribution or a decision threshold.
TIE_RTOL = 1e-9


def z_crit(ci_level: float = 0.95) -> float:
    """Two-sided standard-normal critical value, e.g. 1.959964 for 95 %."""
    return float(_dist.norm.ppf(0.5 + ci_level / 2))


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
        t = _dist.t.ppf(0.5 + ci_level / 2, df)
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


def _interpolated_quantile(cdf, p: float, upper: int | np.ndarray):
    """Interpolated ``p``-quantile of a discrete count distribution (vectorized over its
    parameters): the smallest count :math:`r_p` with :math:`F(r_p) \\ge p`, less
    :math:`\\alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1))`."""
    r = np.asarray(upper, dtype=float)  # callers pass ppf(p), the smallest r with F(r) >= p
    f_r = cdf(r)
    f_rm1 = np.where(r > 0, cdf(r - 1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where(f_r > f_rm1, (f_r - p) / (f_r - f_rm1), 0.0)
    return r - alpha


def binomial_limit(p0, n, prob: float):
    """Funnel-plot control limit of a proportion: exact binomial, interpolated (vectorized).

    With :math:`r_p` the smallest count whose binomial :math:`(n, \\theta_0)` distribution
    function reaches ``prob`` (the ``prob`` quantile) and

    .. math::
        \\alpha = \\frac{F(r_p) - p}{F(r_p) - F(r_p - 1)}, \\qquad
        \\text{limit} = \\frac{r_p - \\alpha}{n},

    clipped to [0, 1]. Source: Spiegelhalter DJ (2005), Funnel plots for comparing
    institutional performance, Stat Med 24:1185-1202, Appendix (the interpolation makes
    the limits smooth in ``n`` instead of steps). ``prob`` = 0.025 / 0.975 gives the 95 %
    limits, 0.001 / 0.999 the 99.8 % limits. NaN where ``n <= 0``.

    Examples
    --------
    >>> round(float(binomial_limit(0.5, 20, 0.975)), 6)   # r_p = 14, alpha = 0.116471
    0.694176
    >>> float(binomial_limit(0.1, 5, 0.001))               # clipped at 0
    0.0
    """
    p0 = np.asarray(p0, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = n > 0
    nn = np.where(ok, n, 1.0)
    r = _dist.binom.ppf(prob, nn, p0)
    q = _interpolated_quantile(lambda k: _dist.binom.cdf(k, nn, p0), prob, r)
    return np.where(ok, np.clip(q / nn, 0.0, 1.0), np.nan)


def poisson_limit(expected, prob: float):
    """Funnel-plot control limit of an indirectly standardised ratio O/E (vectorized).

    Under the null the observed count is Poisson with mean ``expected`` (E); the limit is the
    interpolated ``prob`` quantile :math:`(r_p - \\alpha)/E` as in :func:`binomial_limit`,
    floored at 0. Source: Spiegelhalter (2005), Stat Med 24:1185-1202, Appendix (the
    standardised-ratio funnel, plotted against E). NaN where ``expected <= 0``.

    Examples
    --------
    >>> round(float(poisson_limit(10.0, 0.975)), 6)   # r_p = 17, alpha = 0.840049
    1.615995
    """
    e = np.asarray(expected, dtype=float)
    ok = e > 0
    ee = np.where(ok, e, 1.0)
    r = _dist.poisson.ppf(prob, ee)
    q = _interpolated_quantile(lambda k: _dist.poisson.cdf(k, ee), prob, r)
    return np.where(ok, np.maximum(q / ee, 0.0), np.nan)


def winsorised_phi(z, trim: float = 0.1) -> float:
    """Multiplicative overdispersion factor from Winsorised z-scores.

    The z-scores below their ``trim`` quantile are set to it and those above the ``1 - trim``
    quantile to that (quantiles by linear interpolation, R ``quantile`` type 7), then

    .. math:: \\hat\\phi = \\frac{1}{I}\\sum_{i=1}^{I} z_{i,W}^2 .

    Source: Spiegelhalter (2005), Stat Med 24:1185-1202, sec. 3.3; Spiegelhalter, Sherlaw-Johnson
    et al. (2012), Statistical methods for healthcare regulation, J R Stat Soc A 175:1-47
    (10 % Winsorisation at each end). Missing z-scores are ignored.

    Examples
    --------
    >>> z = [-3.0, -1.0, -0.5, 0.0, 0.2, 0.4, 0.8, 1.0, 1.5, 4.0]
    >>> round(winsorised_phi(z), 6)   # limits -1.2 and 1.75 (type-7 quantiles)
    0.984250
    """
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if z.size == 0:
        return float("nan")
    lo, hi = np.quantile(z, [trim, 1.0 - trim])
    return float(np.mean(np.clip(z, lo, hi) ** 2))


def additive_tau2(phi: float, se) -> float:
    """Between-unit variance of the additive random-effects funnel (DerSimonian-Laird form).

    .. math::
        \\hat\\tau^2 = \\max\\left(0, \\frac{I\\hat\\phi - (I - 1)}
        {\\sum_i w_i - \\sum_i w_i^2 / \\sum_i w_i}\\right), \\qquad w_i = 1/s_i^2,

    with :math:`\\hat\\phi` the Winsorised overdispersion factor and :math:`s_i` each unit's
    standard error under the null. Source: Spiegelhalter (2005), Stat Med 24:1185-1202,
    sec. 3.3; DerSimonian & Laird (1986), Control Clin Trials 7:177-188.

    Examples
    --------
    >>> round(additive_tau2(2.0, [0.1, 0.2, 0.1, 0.05]), 6)   # (8 - 3) / (625 - 180625/625)
    0.014881
    """
    s = np.asarray(se, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    k = s.size
    if k < 2 or not np.isfinite(phi):
        return float("nan")
    w = 1.0 / s**2
    denom = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (k * phi - (k - 1)) / denom)) if denom > 0 else 0.0


#: d2 for moving ranges of two successive points: the mean range of two independent standard
#: normal values, 2/sqrt(pi) (Montgomery, Introduction to Statistical Quality Control, Table VI).
D2_MR2 = 2.0 / np.sqrt(np.pi)


def moving_range_sigma(x) -> float:
    """Process sigma from the average moving range: :math:`\\overline{MR}/d_2`, d2 = 1.128.

    :math:`\\overline{MR}` is the mean of :math:`|x_t - x_{t-1}|` over successive values
    (missing values skipped). Used for the individuals (XmR) chart and, on the z-scores of a
    p-chart, for Laney's :math:`\\sigma_z` (Laney 2002, Improved control charts for attributes,
    Qual Eng 14:531-537). d2 = 2/sqrt(pi) = 1.1284 (published rounded to 1.128).

    Examples
    --------
    >>> round(moving_range_sigma([1.0, 3.0, 2.0, 5.0]), 6)   # MR = 2, 1, 3; mean 2
    1.772454
    """
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    return float(np.mean(np.abs(np.diff(v))) / D2_MR2)


def ols(y, X, *, vcov: str = "classical"):
    r"""Ordinary least squares by QR: coefficients, their covariance, residual df, residuals.

    ``vcov="classical"`` gives :math:`\hat\sigma^2 (X'X)^{-1}` with
    :math:`\hat\sigma^2 = e'e/(n-k)` (R ``vcov(lm(...))``); ``vcov="HC3"`` gives the sandwich
    :math:`(X'X)^{-1} X' \mathrm{diag}(e_i^2/(1-h_i)^2) X (X'X)^{-1}` (MacKinnon & White
    1985; R ``sandwich::vcovHC(type="HC3")``). Raises :class:`numpy.linalg.LinAlgError` when
    there are no residual degrees of freedom or ``X`` is rank deficient (a column's QR
    diagonal below 1e-9 of its norm), so callers can say which model and which columns.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> beta, cov, df, resid = ols(np.array([1.0, 3.0, 2.0, 5.0]), X)
    >>> [round(float(b), 6) for b in beta], df        # R 4.x: coef(lm(y ~ x))
    ([1.1, 1.1], 2)
    >>> [round(float(se), 6) for se in np.sqrt(np.diag(cov))]   # R: sqrt(diag(vcov(fit)))
    [0.972111, 0.519615]
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    if n - k < 1:
        raise np.linalg.LinAlgError(f"{n} observations are too few for {k} parameters")
    q, rr = np.linalg.qr(X)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(np.diag(rr)) / np.linalg.norm(X, axis=0)
    if not np.all(rel > 1e-9):
        raise np.linalg.LinAlgError("the model matrix is rank deficient")
    beta = np.linalg.solve(rr, q.T @ y)
    resid = y - X @ beta
    df_resid = n - k
    rinv = np.linalg.inv(rr)
    if vcov == "HC3":
        h = np.einsum("ij,ij->i", q, q)
        qu = q * (resid / (1 - h))[:, None]
        cov = rinv @ (qu.T @ qu) @ rinv.T
    else:
        cov = float(resid @ resid) / df_resid * (rinv @ rinv.T)
    return beta, cov, df_resid, resid


def ols_gram(G: np.ndarray, n: int):
    r"""Ordinary least squares from the cross-products ``G = [X y]'[X y]`` of ``n`` rows (sums
    over the parts of data split by rows, e.g. a Dask table's partitions): coefficients, the
    classical covariance :math:`\hat\sigma^2 (X'X)^{-1}`, the residual df and the factor
    ``rinv`` (:math:`R^{-1}` with :math:`R'R = X'X`) from which a second pass gets the
    leverages :math:`h_i = \lVert x_i' R^{-1} \rVert^2` (HC3: :func:`hc3_meat`).

    The upper Cholesky factor R of X'X is the R of the QR of X (up to signs), so this is
    :func:`ols`'s computation on sums: :math:`r = R^{-T} X'y = Q'y`,
    :math:`\hat\beta = R^{-1} r`, :math:`e'e = y'y - r'r` (0, not an error, when y lies in
    the span of X). A diagonal of R below 1e-7 of its
    column's norm raises :class:`numpy.linalg.LinAlgError` (rank deficient): the Cholesky
    of a Gram matrix resolves a column's independent part only to about the square root of
    the machine epsilon (1.5e-8) of its norm, where :func:`ols`'s QR resolves 1e-9.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> y = np.array([1.0, 3.0, 2.0, 5.0])
    >>> Xy = np.column_stack([X, y])
    >>> beta, cov, df, _ = ols_gram(Xy.T @ Xy, 4)
    >>> [round(float(b), 6) for b in beta], df        # R 4.x: coef(lm(y ~ x)), as ols()
    ([1.1, 1.1], 2)
    >>> [round(float(se), 6) for se in np.sqrt(np.diag(cov))]   # R: sqrt(diag(vcov(fit)))
    [0.972111, 0.519615]
    >>> Xy = np.column_stack([X, 2 + 3 * X[:, 1]])   # an exact fit: no error, SEs ~0
    >>> beta, cov, _, _ = ols_gram(Xy.T @ Xy, 4)
    >>> [round(float(b), 9) for b in beta], float(np.abs(cov).max()) < 1e-10
    ([2.0, 3.0], True)
    """
    G = np.asarray(G, dtype=float)
    k = G.shape[0] - 1
    if n - k < 1:
        raise np.linalg.LinAlgError(f"{n} observations are too few for {k} parameters")
    try:
        R = np.linalg.cholesky(G[:k, :k]).T  # upper: R'R = X'X (y may lie in X's span)
    except np.linalg.LinAlgError:
        R = None
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(np.diag(R)) / np.sqrt(np.diag(G)[:k]) if R is not None else np.zeros(k)
    if not np.all(rel > 1e-7):
        raise np.linalg.LinAlgError("the model matrix is rank deficient")
    r = np.linalg.solve(R.T, G[:k, k])  # Q'y
    beta = np.linalg.solve(R, r)
    rinv = np.linalg.inv(R)
    df_resid = n - k
    ssr = max(float(G[k, k] - r @ r), 0.0)  # e'e = y'y - |Q'y|^2 (0 for an exact fit)
    cov = ssr / df_resid * (rinv @ rinv.T)
    return beta, cov, df_resid, rinv


def hc3_meat(X: np.ndarray, y: np.ndarray, beta: np.ndarray, rinv: np.ndarray) -> np.ndarray:
    r"""The HC3 sandwich's middle for some rows, in the factor's coordinates:
    :math:`\sum_i a_i a_i' e_i^2/(1-h_i)^2` with :math:`a_i = R^{-T} x_i`, :math:`h_i =
    \lVert a_i\rVert^2`; summed over all the rows' parts it gives the covariance
    :math:`R^{-1}\,\mathrm{meat}\,R^{-T}` (:func:`ols`'s HC3, MacKinnon & White 1985).

    >>> X = np.column_stack([np.ones(5), [0.0, 1.0, 2.0, 3.0, 5.0]])
    >>> y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    >>> Xy = np.column_stack([X, y])
    >>> beta, _, _, rinv = ols_gram(Xy.T @ Xy, 5)
    >>> meat = hc3_meat(X[:2], y[:2], beta, rinv) + hc3_meat(X[2:], y[2:], beta, rinv)
    >>> bool(np.allclose(rinv @ meat @ rinv.T, ols(y, X, vcov="HC3")[1], rtol=1e-12))
    True
    """
    a = X @ rinv
    h = np.einsum("ij,ij->i", a, a)
    au = a * ((y - X @ beta) / (1 - h))[:, None]
    return au.T @ au


def logit_fit(y, X, *, trials=None, max_iter: int = 50, tol: float = 1e-10, stop_at=None):
    r"""Logistic regression by Newton–Raphson (Fisher scoring for the canonical logit link, as
    R ``glm(family = binomial)``'s IRLS).

    ``y`` counts events out of ``trials`` (default 1 per row). Iterates
    :math:`\beta \leftarrow \beta + I(\beta)^{-1} X'(y - m\,\mu)` with
    :math:`I(\beta) = X'\mathrm{diag}(m\mu(1-\mu))X` from :math:`\beta = 0` until the largest
    step is below ``tol·(1 + max|β|)``; ``stop_at`` ends the search early once some
    :math:`|\beta_j|` exceeds it (separation). Returns ``(beta, information, converged)``; the
    covariance is the inverse information. A singular information matrix raises
    :class:`numpy.linalg.LinAlgError`.

    Examples
    --------
    >>> X = np.column_stack([np.ones(8), [0.0, 0, 1, 1, 2, 2, 3, 3]])
    >>> beta, info, ok = logit_fit(np.array([0.0, 1, 0, 0, 1, 0, 1, 1]), X)
    >>> ok, [round(float(b), 6) for b in beta]   # R 4.x: coef(glm(y ~ x, family = binomial))
    (True, [-1.362276, 0.908184])
    >>> [round(float(se), 5) for se in np.sqrt(np.diag(np.linalg.inv(info)))]   # R: vcov(fit)
    [1.39645, 0.76735]
    """
    from scipy.special import expit

    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    m = np.ones(len(y)) if trials is None else np.asarray(trials, dtype=float)
    beta = np.zeros(X.shape[1])
    converged = False
    for _ in range(max_iter):
        mu = expit(np.clip(X @ beta, -35, 35))
        info = (X * (m * mu * (1 - mu))[:, None]).T @ X
        step = np.linalg.solve(info, X.T @ (y - m * mu))
        beta = beta + step
        if stop_at is not None and np.abs(beta).max() > stop_at:
            break
        if np.abs(step).max() < tol * (1 + np.abs(beta).max()):
            converged = True
            break
    mu = expit(X @ beta)
    info = (X * (m * mu * (1 - mu))[:, None]).T @ X
    return beta, info, converged
