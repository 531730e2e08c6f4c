"""The distribution functions the library uses, on :mod:`scipy.special` alone.

``import scipy.stats`` takes about 1 s (it builds ~200 distribution objects and imports
scipy.optimize, scipy.sparse, scipy.spatial and scipy.interpolate); the library needs only a
handful of tail probabilities and quantiles. This module gives them with scipy.stats' call
shapes (``_dist.t.ppf(q, df)``, ``_dist.norm.sf(x)``, ``_dist.chi2.sf(x, df)``) and the same
results bit for bit: each method is the special function scipy.stats' distribution calls
(scipy 1.17, ``scipy/stats/_continuous_distns.py`` and ``_discrete_distns.py``), wrapped in
the argument checks of ``rv_continuous.cdf/sf/ppf`` and ``rv_discrete.cdf/ppf``
(``_distn_infrastructure.py``): NaN for an invalid parameter (``df <= 0``, NaN) or argument,
the support's end points at ``q = 0`` and ``q = 1``, 0 and 1 outside the support. Scalars give
NumPy scalars and arrays give arrays, as scipy.stats does. ``tests/test_dist.py`` compares
every method with scipy.stats on grids including ``df = inf``, NaN, 0 and 1 and the support's
end points.

=================  =====================================================
function           scipy.special (``sc``)
=================  =====================================================
``norm.cdf(x)``    ``sc.ndtr(x)``
``norm.sf(x)``     ``sc.ndtr(-x)``
``norm.ppf(q)``    ``sc.ndtri(q)``
``t.cdf(x, df)``   ``sc.stdtr(df, x)``
``t.sf(x, df)``    ``sc.stdtr(df, -x)``
``t.ppf(q, df)``   ``sc.stdtrit(df, q)``
``chi2.sf(x, df)`` ``sc.chdtrc(df, x)``
``f.sf(x, d1, d2)`` ``sc.fdtrc(d1, d2, x)``
``poisson.cdf``    ``sc.pdtr(floor(k), mu)``
``poisson.ppf``    ``ceil(sc.pdtrik(q, mu))``, stepped down when ``pdtr`` allows
``binom.cdf``      ``sc._ufuncs._binom_cdf(floor(k), n, p)``
``binom.ppf``      ``sc._ufuncs._binom_ppf(q, n, p)``
=================  =====================================================

:func:`pearson_chi2` is ``scipy.stats.chi2_contingency(table, correction=False)`` by the same
operations.

Examples
--------
>>> from iop_outcomes import _dist
>>> round(float(_dist.t.ppf(0.975, 10)), 6)
2.228139
>>> round(float(_dist.norm.sf(1.959963984540054)), 6)
0.025
>>> float(_dist.t.ppf(1.0, 5)), float(_dist.chi2.sf(-1.0, 3))
(inf, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special as sc
from scipy.special import _ufuncs as scu

__all__ = ["norm", "t", "chi2", "f", "binom", "poisson", "pearson_chi2", "welch_t"]


def _positive(*args):
    """scipy's default ``_argcheck``: every shape parameter > 0 (NaN fails)."""
    cond = True
    for a in args:
        cond = np.logical_and(cond, np.asarray(a) > 0)
    return cond


def _evaluate(fn, cond, x, args):
    """``fn(x, *args)`` where ``cond`` holds, elementwise, on the broadcast arrays."""
    *vals, cond = np.broadcast_arrays(x, *args, cond)
    return fn(*(v[cond] for v in vals))


def _scalar(out: np.ndarray):
    return out[()] if out.ndim == 0 else out


class _Continuous:
    """cdf / sf / ppf with ``rv_continuous``'s checks (loc = 0, scale = 1)."""

    def __init__(self, a, b, cdf, sf, ppf, argcheck=_positive):
        self._a, self._b = a, b
        self._cdf, self._sf, self._ppf, self._argcheck = cdf, sf, ppf, argcheck

    def _tail(self, fn: Callable, x, args, at_or_below_a: bool):
        x = np.asarray(x)
        args = tuple(map(np.asarray, args))
        x = np.asarray(x, dtype=np.promote_types(x.dtype, np.float64))
        cond0 = np.asarray(self._argcheck(*args))
        with np.errstate(invalid="ignore"):
            cond1 = (self._a < x) & (x < self._b)
            cond2 = cond0 & ((x <= self._a) if at_or_below_a else (x >= self._b))
        cond = cond0 & cond1
        out = np.zeros(np.shape(cond), x.dtype)
        out[np.broadcast_to(~cond0 | np.isnan(x), out.shape)] = np.nan
        out[cond2] = 1.0
        if cond.any():
            out[cond] = _evaluate(fn, cond, x, args)
        return _scalar(out)

    def __call__(self, *args):
        """The distribution with its shape parameters fixed (scipy's "frozen" form)."""
        return _Frozen(self, args)

    def cdf(self, x, *args):
        """Distribution function at ``x``."""
        return self._tail(self._cdf, x, args, at_or_below_a=False)

    def sf(self, x, *args):
        """Survival function 1 - F(x) at ``x``."""
        return self._tail(self._sf, x, args, at_or_below_a=True)

    def ppf(self, q, *args):
        """Quantile function at lower-tail probability ``q``."""
        q = np.asarray(q)
        args = tuple(map(np.asarray, args))
        cond0 = np.asarray(self._argcheck(*args))
        with np.errstate(invalid="ignore"):
            cond1 = (q > 0) & (q < 1)
            cond2 = cond0 & (q == 0)
            cond3 = cond0 & (q == 1)
        cond = cond0 & cond1
        out = np.full(np.shape(cond), np.nan)
        out[cond2] = self._a
        out[cond3] = self._b
        if cond.any():
            out[cond] = _evaluate(self._ppf, cond, q, args) * 1.0 + 0.0  # ``* scale + loc``
        return _scalar(out)


class _Frozen:
    """A distribution with fixed shape parameters: ``_dist.t(df).ppf(q)``."""

    def __init__(self, dist: _Continuous, args: tuple):
        self._dist, self._args = dist, args

    def cdf(self, x):
        return self._dist.cdf(x, *self._args)

    def sf(self, x):
        return self._dist.sf(x, *self._args)

    def ppf(self, q):
        return self._dist.ppf(q, *self._args)


class _Discrete:
    """cdf / ppf with ``rv_discrete``'s checks (loc = 0); support ``[0, upper(*args)]``."""

    def __init__(self, upper, cdf, ppf, argcheck):
        self._upper, self._cdf_fn, self._ppf_fn, self._argcheck = upper, cdf, ppf, argcheck

    def cdf(self, k, *args):
        """Distribution function P(X <= k)."""
        k = np.asarray(k)
        args = tuple(map(np.asarray, args))
        b = self._upper(*args)
        k = np.asarray(k - 0)
        cond0 = np.asarray(self._argcheck(*args))
        with np.errstate(invalid="ignore"):
            cond1 = (k >= 0) & (k < b)
            cond2 = k >= b
        cond3 = np.isneginf(k)
        cond = cond0 & cond1 & np.isfinite(k)
        out = np.zeros(np.shape(cond), "d")
        out[np.broadcast_to(cond2 * (cond0 == cond0), out.shape)] = 1.0
        out[np.broadcast_to(cond3 * (cond0 == cond0), out.shape)] = 0.0
        out[np.broadcast_to(~cond0 | np.isnan(k), out.shape)] = np.nan
        if cond.any():
            out[cond] = np.clip(_evaluate(self._cdf_fn, cond, k, args), 0, 1)
        return _scalar(out)

    def ppf(self, q, *args):
        """The smallest ``k`` with P(X <= k) >= q (``-1`` at ``q = 0``)."""
        q = np.asarray(q)
        args = tuple(map(np.asarray, args))
        b = self._upper(*args)
        cond0 = np.asarray(self._argcheck(*args))
        with np.errstate(invalid="ignore"):
            cond1 = (q > 0) & (q < 1)
            cond2 = (q == 0) & cond0
            cond3 = (q == 1) & cond0
        cond = cond0 & cond1
        out = np.full(np.shape(cond), np.nan, dtype="d")
        out[cond2] = -1.0
        if cond3.any():
            out[cond3] = np.broadcast_to(np.asarray(b, dtype="d"), cond3.shape)[cond3]
        if cond.any():
            out[cond] = _evaluate(self._ppf_fn, cond, q, args) + 0
        return _scalar(out)


def _poisson_ppf(q, mu):
    vals = np.ceil(sc.pdtrik(q, mu))
    vals1 = np.maximum(vals - 1, 0)
    temp = sc.pdtr(vals1, mu)
    return np.where(temp >= q, vals1, vals)


def _binom_ok(n, p):
    return (n >= 0) & (n == np.round(n)) & (p >= 0) & (p <= 1)


#: The standard normal distribution (support the real line).
norm = _Continuous(
    -np.inf,
    np.inf,
    cdf=sc.ndtr,
    sf=lambda x: sc.ndtr(-x),
    ppf=sc.ndtri,
    argcheck=lambda: np.True_,
)
#: Student's t with ``df`` degrees of freedom (``df = inf`` is the normal).
t = _Continuous(
    -np.inf,
    np.inf,
    cdf=lambda x, df: sc.stdtr(df, x),
    sf=lambda x, df: sc.stdtr(df, -x),
    ppf=lambda q, df: sc.stdtrit(df, q),
)
#: The chi-square distribution with ``df`` degrees of freedom (only ``sf`` is used).
chi2 = _Continuous(
    0.0,
    np.inf,
    cdf=lambda x, df: sc.chdtr(df, x),
    sf=lambda x, df: sc.chdtrc(df, x),
    ppf=lambda q, df: 2 * sc.gammaincinv(df / 2, q),
)
#: The F distribution with ``(dfn, dfd)`` degrees of freedom (only ``sf`` is used).
f = _Continuous(
    0.0,
    np.inf,
    cdf=lambda x, dfn, dfd: sc.fdtr(dfn, dfd, x),
    sf=lambda x, dfn, dfd: sc.fdtrc(dfn, dfd, x),
    ppf=lambda q, dfn, dfd: sc.fdtri(dfn, dfd, q),
)
#: The binomial distribution of ``n`` trials with success probability ``p``.
binom = _Discrete(
    upper=lambda n, p: n,
    cdf=lambda k, n, p: scu._binom_cdf(np.floor(k), n, p),
    ppf=scu._binom_ppf,
    argcheck=_binom_ok,
)
#: The Poisson distribution with mean ``mu``.
poisson = _Discrete(
    upper=lambda mu: np.inf,
    cdf=lambda k, mu: sc.pdtr(np.floor(k), mu),
    ppf=_poisson_ppf,
    argcheck=lambda mu: mu >= 0,
)


def pearson_chi2(observed):
    """Pearson's chi-square test of independence in a contingency table (no continuity
    correction): ``scipy.stats.chi2_contingency(observed, correction=False)`` by the same
    operations.

    .. math::
        E_{ij} = \\frac{r_i c_j}{N}, \\qquad
        X^2 = \\sum_{ij} \\frac{(O_{ij} - E_{ij})^2}{E_{ij}}, \\qquad
        p = P(\\chi^2_{(R-1)(C-1)} > X^2).

    Returns ``(statistic, pvalue, dof, expected)``; a table with one row or column gives
    ``(0.0, 1.0, 0, expected)``. Raises ``ValueError`` for negative counts, an empty table or
    a zero expected count, as scipy does.

    Examples
    --------
    >>> stat, p, dof, _ = pearson_chi2([[10, 20], [20, 10]])
    >>> round(float(stat), 4), round(float(p), 4), dof    # 4 * 5**2 / 15
    (6.6667, 0.0098, 1)
    """
    observed = np.asarray(observed)
    if np.any(observed < 0):
        raise ValueError("All values in `observed` must be nonnegative.")
    if observed.size == 0:
        raise ValueError("No data; `observed` has size 0.")
    obs = np.asarray(observed, dtype=np.float64)
    margsums = [
        np.apply_over_axes(np.sum, obs, [j for j in range(obs.ndim) if j != k])
        for k in range(obs.ndim)
    ]
    expected = margsums[0]
    for m in margsums[1:]:
        expected = np.multiply(expected, m)
    expected = expected / obs.sum()
    if np.any(expected == 0):
        raise ValueError("The table of expected frequencies has a zero element.")
    dof = expected.size - sum(expected.shape) + expected.ndim - 1
    if dof == 0:
        return 0.0, 1.0, dof, expected
    f_obs = np.asarray(observed, dtype=np.float64).ravel()
    f_exp = expected.ravel()
    terms = (f_obs - f_exp) ** 2 / f_exp
    stat = np.sum(terms, axis=-1)
    df = np.float64(terms.shape[-1]) - 1 - np.float64(observed.size - 1 - dof)
    pvalue = sc.chdtrc(df, stat)
    return stat[()], pvalue[()], dof, expected


def welch_t(a, b):
    """Welch's two-sample t-test, two-sided: ``scipy.stats.ttest_ind(a, b, equal_var=False)``
    by the same operations, for 1-D samples without NaN.

    .. math::
        t = \\frac{\\bar a - \\bar b}{\\sqrt{s_a^2/n_a + s_b^2/n_b}}, \\qquad
        \\nu = \\frac{(s_a^2/n_a + s_b^2/n_b)^2}{\\frac{(s_a^2/n_a)^2}{n_a - 1}
        + \\frac{(s_b^2/n_b)^2}{n_b - 1}}, \\qquad p = 2\\,P(T_\\nu > |t|)

    (Welch 1947, Biometrika 34:28; ``nu = 1`` where it is undefined, as scipy). Returns
    ``(statistic, pvalue, df)``.

    Examples
    --------
    By hand: means 2.5 and 4, variances 5/3 and 4, so t = -1.5 / sqrt(5/12 + 4/3) and
    nu = 1.75**2 / ((5/12)**2 / 3 + (4/3)**2 / 2):

    >>> t_, p, df = welch_t([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0])
    >>> round(float(t_), 4), round(float(p), 4), round(float(df), 4)
    (-1.1339, 0.3338, 3.2347)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n1, n2 = a.size, b.size
    with np.errstate(divide="ignore", invalid="ignore"):
        v1 = np.mean((a - np.mean(a, axis=0, keepdims=True)) ** 2, axis=0)
        v1 *= np.float64(n1) / (np.float64(n1) - 1)
        v2 = np.mean((b - np.mean(b, axis=0, keepdims=True)) ** 2, axis=0)
        v2 *= np.float64(n2) / (np.float64(n2) - 1)
    m1, m2 = np.mean(a, axis=0), np.mean(b, axis=0)
    vn1, vn2 = v1 / n1, v2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        df = np.where(np.isnan(df), 1.0, df)
        t_ = np.divide(m1 - m2, np.sqrt(vn1 + vn2))
    p = 2 * sc.stdtr(df, -np.abs(t_))
    return t_[()], p[()], df[()]
