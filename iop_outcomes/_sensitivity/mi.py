"""Multiple imputation by chained equations (Bayesian linear regression draws) and Rubin's
rules."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .. import _dist
from ..exceptions import ConfigError
from .estimates import Design, estimates, group_dummies

__all__ = ["rubin_pool", "run_mi"]


# --------------------------------------------------------------------------------------
# Rubin's rules
# --------------------------------------------------------------------------------------
def rubin_pool(estimates, variances, *, dfcom=np.inf, ci_level: float = 0.95) -> pd.DataFrame:
    """Pool completed-data estimates with Rubin's rules (Barnard–Rubin degrees of freedom).

    Parameters
    ----------
    estimates, variances : array-like, shape (m,) or (m, k)
        Completed-data estimates :math:`\\hat Q_\\ell` and their squared standard errors
        :math:`U_\\ell` from each of the ``m`` imputed data sets (columns = parameters).
    dfcom : float or array-like, default inf
        Complete-data degrees of freedom (``n − p`` for a regression with ``p`` coefficients;
        ``n − 1`` for a mean). ``inf`` gives Rubin's (1987) large-sample df.
    ci_level : float
        Confidence level of the t interval.

    Returns
    -------
    DataFrame
        One row per parameter: ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``,
        ``statistic`` (t for H0: Q = 0), ``pvalue``, ``ubar``, ``b``, ``t``, ``riv``,
        ``lambda``, ``fmi``, ``m``.

    Notes
    -----
    .. math::
        \\bar Q = \\frac1m\\sum_\\ell \\hat Q_\\ell,\\quad
        \\bar U = \\frac1m\\sum_\\ell U_\\ell,\\quad
        B = \\frac1{m-1}\\sum_\\ell(\\hat Q_\\ell-\\bar Q)^2,\\quad
        T = \\bar U + (1 + 1/m)B

    with :math:`r = (1+1/m)B/\\bar U` (relative increase in variance),
    :math:`\\lambda = (1+1/m)B/T`, :math:`\\nu_{old} = (m-1)/\\lambda^2`,
    :math:`\\nu_{obs} = \\frac{\\nu_{com}+1}{\\nu_{com}+3}\\nu_{com}(1-\\lambda)` and
    :math:`\\nu = \\nu_{old}\\nu_{obs}/(\\nu_{old}+\\nu_{obs})` (Barnard & Rubin 1999;
    :math:`\\nu = \\nu_{old}` when :math:`\\nu_{com} = \\infty`). As R ``mice::pool``,
    :math:`\\lambda` is floored at 1e-4 in the df formula, and the fraction of missing
    information is :math:`\\gamma = (r + 2/(\\nu+3))/(r+1)`. Interval:
    :math:`\\bar Q \\pm t_{\\nu}\\sqrt{T}`.

    References
    ----------
    Rubin DB (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley, pp. 76–77.
    Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation.
    *Biometrika* 86:948–955. van Buuren S (2018). *Flexible Imputation of Missing Data*, 2nd
    ed., §2.3–2.4. Verified against ``mice::pool`` and ``mice::pool.scalar`` (mice 3.15.0).

    Examples
    --------
    >>> r = rubin_pool([-5.10, -4.85, -5.32, -4.97, -5.21],
    ...                [0.090, 0.084, 0.095, 0.088, 0.091], dfcom=199)
    >>> round(float(r.estimate[0]), 3), round(float(r.t[0]), 5), round(float(r.df[0]), 3)
    (-5.09, 0.13142, 30.525)
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim == 1:
        q = q[:, None]
        u = u[:, None]
    if q.shape != u.shape:
        raise ConfigError(
            "The 'variances' parameter of rubin_pool must have the shape of 'estimates'. "
            f"Got {u.shape} and {q.shape} instead."
        )
    m = q.shape[0]
    if m < 2:
        raise ConfigError(f"rubin_pool needs at least 2 imputations. Got m={m} instead.")
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=float), (q.shape[1],))
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        lam_df = np.maximum(lam, 1e-4)
        dfold = (m - 1) / lam_df**2
        dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam_df)
        df = np.where(np.isfinite(dfcom), dfold * dfobs / (dfold + dfobs), dfold)
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
        se = np.sqrt(t)
        crit = _dist.t.ppf(0.5 + ci_level / 2, df)
        stat = qbar / se
        p = 2 * _dist.t.sf(np.abs(stat), df)
    return pd.DataFrame(
        {
            "estimate": qbar,
            "se": se,
            "ci_low": qbar - crit * se,
            "ci_high": qbar + crit * se,
            "df": df,
            "statistic": stat,
            "pvalue": p,
            "ubar": ubar,
            "b": b,
            "t": t,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
            "m": m,
        }
    )


# --------------------------------------------------------------------------------------
# Multiple imputation by chained equations (Bayesian linear regression, "norm")
# --------------------------------------------------------------------------------------
def _gram_draw(G, keep, a, n, rng, ridge=1e-5):
    """One posterior draw (beta*, sigma*) of a normal linear regression, from a Gram matrix.

    ``G`` is the Gram matrix :math:`M_o'M_o` of the rows where the outcome (column ``a``)
    is observed; the predictors are the columns ``keep``, in that order, and ``n`` is the
    number of those rows. Algorithm 3.1 of van Buuren (2018) / ``mice.impute.norm``, with
    :math:`A = X'X + \\text{ridge}\\cdot\\text{diag}(X'X)`: :math:`\\hat\\beta = A^{-1}X'y`,
    :math:`\\sigma^{*2} = SSR/\\chi^2_{n-q}` and :math:`\\beta^* = \\hat\\beta + \\sigma^* L z`
    with :math:`LL' = A^{-1}` (lower Cholesky factor); the residual sum of squares is read
    from the Gram blocks, :math:`SSR = y'y - 2\\hat\\beta'X'y + \\hat\\beta'X'X\\hat\\beta`.
    Random stream: one ``chisquare(n - q)``, then ``standard_normal(q)``.
    """
    xtx = G[np.ix_(keep, keep)]
    xty = G[keep, a]
    a_mat = xtx + np.diag(np.diag(xtx)) * ridge
    beta = np.linalg.solve(a_mat, xty)
    ssr = max(float(G[a, a] - 2 * (beta @ xty) + beta @ xtx @ beta), 0.0)
    sigma = np.sqrt(ssr / rng.chisquare(max(n - keep.size, 1)))
    v = np.linalg.inv(a_mat)
    chol = np.linalg.cholesky((v + v.T) / 2)
    return beta + sigma * (chol @ rng.standard_normal(keep.size)), sigma


class _Start(NamedTuple):
    """What every imputation of the same data starts from (see :func:`_mice_start`)."""

    M: np.ndarray  # (n, Q) [1, predictors, Y], the missing values of Y set to 0
    a0: int  # column of Y[:, 0] in M
    todo: list  # the columns of Y with missing values
    mis: list  # mis[i]: rows where Y[:, todo[i]] is missing
    seen: list  # seen[i]: (J, len(mis[i])), 1.0 where Y[:, todo[l]] is observed in those rows
    grams: np.ndarray  # (J, Q, Q): grams[i] = M'M over the rows where todo[i] is observed
    monotone: bool


def _mice_start(Y: np.ndarray, predictors: np.ndarray) -> _Start:
    """Set up the chains of :func:`_mice_impute` for one data set (shared by all imputations)."""
    n, p = Y.shape
    miss = np.isnan(Y)
    a0 = 1 + predictors.shape[1]
    M = np.empty((n, a0 + p))  # row-major: a row gather reads one contiguous run
    M[:, 0] = 1.0
    M[:, 1:a0] = predictors
    M[:, a0:] = np.where(miss, 0.0, Y)
    todo = [j for j in range(p) if miss[:, j].any()]
    mis = [np.flatnonzero(miss[:, j]) for j in todo]
    seen = [(~miss[np.ix_(m, todo)]).T.astype(float) for m in mis]
    grams = np.empty((len(todo), a0 + p, a0 + p))
    for i, j in enumerate(todo):
        Mo = np.take(M, np.flatnonzero(~miss[:, j]), axis=0)
        grams[i] = Mo.T @ Mo
    monotone = bool((np.diff(miss.astype(np.int8), axis=1) >= 0).all())
    return _Start(M, a0, todo, mis, seen, grams, monotone)


def _mice_impute(
    Y: np.ndarray,
    predictors: np.ndarray,
    n_iter: int,
    rng: np.random.Generator,
    start: _Start | None = None,
) -> np.ndarray:
    """Impute the NaNs of ``Y`` (n × p outcome columns, ordered by time) by chained equations.

    ``predictors`` (n × c) are complete. Initialisation is a monotone pass (column j on the
    complete predictors and columns < j); then ``n_iter`` sweeps of full conditionals
    (column j on everything else). When the missingness is monotone in column order the
    initial pass is already a proper draw and no sweeps are run. ``start`` is
    ``_mice_start(Y, predictors)``, computed here when not given.

    Each draw of column j needs only the Gram matrix ``G_j = M'M`` over the rows where j is
    observed, ``M = [1, predictors, Y]`` (not yet imputed values are 0): the draw takes its
    blocks (:func:`_gram_draw`). When column k is imputed on its missing rows (values ``old``
    → ``new``, ``d = new - old``), every ``G_j`` is updated in place through row and column k:
    ``G_j[k, :] += sum_r d_r M_r`` over the rows r where k is missing and j observed (with
    ``sum_r d_r (new_r + old_r)`` on the diagonal). A draw thus costs O(rows missing in k)
    instead of rebuilding and multiplying the n-row design matrix.
    """
    st = _mice_start(Y, predictors) if start is None else start
    M = st.M.copy()
    grams = st.grams.copy()
    q = M.shape[1]

    def draw(i, keep):
        a = st.a0 + st.todo[i]
        m = st.mis[i]
        beta, sigma = _gram_draw(grams[i], keep, a, M.shape[0] - m.size, rng)
        b = np.zeros(q)
        b[keep] = beta
        rows = np.take(M, m, axis=0)
        new = rows @ b + sigma * rng.standard_normal(m.size)
        d = new - rows[:, a]
        rows[:, a] += new  # new + old: d * (new + old) = new² - old² on the diagonal
        dg = (st.seen[i] * d) @ rows
        grams[:, a, :] += dg
        grams[:, :, a] += dg
        grams[:, a, a] -= dg[:, a]
        M[m, a] = new

    cols = [st.a0 + j for j in st.todo]
    for i, a in enumerate(cols):  # monotone initial pass: on [1, predictors, Y[:, :j]]
        draw(i, np.arange(a))
    if not st.monotone and n_iter:
        others = [np.r_[0:a, a + 1 : q] for a in cols]  # [1, predictors, Y without j]
        for _ in range(n_iter):
            for i in range(len(cols)):
                draw(i, others[i])
    return M[:, st.a0 :]


def _steps(n: int, progress: bool | None):
    """``range(n)``, with a progress bar unless ``progress`` is False (None: tqdm decides by
    the terminal). tqdm is imported only for a bar."""
    if progress is False:
        return range(n)
    from tqdm.auto import tqdm

    return tqdm(
        range(n),
        desc="Multiple imputation",
        unit="imp",
        disable=(None if progress is None else not progress),
    )


def run_mi(d: Design, adjust, n_imputations, n_iterations, seed, progress):
    from threadpoolctl import threadpool_limits

    k = len(d.levels)
    preds = [d.cov]
    if k >= 2:
        # episodes without a group level get their own indicator column
        gd = group_dummies(d.group, k)
        if (d.group < 0).any():
            gd = np.column_stack([gd, (d.group < 0).astype(float)])
        preds.insert(0, gd)
    P = np.column_stack(preds) if preds else np.zeros((d.baseline.size, 0))
    weekly = d.weekly if d.weekly is not None else np.zeros((d.baseline.size, 0))
    Y = np.column_stack([d.baseline, weekly, d.endpoint])
    ss = seed if isinstance(seed, np.random.SeedSequence) else None
    if isinstance(seed, np.random.Generator):
        ss = np.random.SeedSequence(int(seed.integers(2**63)))
    elif ss is None:
        ss = np.random.SeedSequence(seed)
    children = ss.spawn(n_imputations)
    ests, vars_, dfc = [], [], None
    # One BLAS thread: the products here are thin (rows × a dozen columns) and gain nothing
    # from threads, while idle OpenBLAS workers spin and slow the loop around them (at 100k
    # episodes on 2 busy cores the imputations took 2.2x as long with the default threads).
    with threadpool_limits(limits=1, user_api="blas"):
        start = _mice_start(Y, P)
        for i in _steps(n_imputations, progress):
            rng = np.random.default_rng(children[i])
            Yc = _mice_impute(Y, P, n_iterations, rng, start)
            e, v, dfc, _ = estimates(Yc[:, -1] - Yc[:, 0], d, adjust, baseline=Yc[:, 0])
            ests.append(e)
            vars_.append(v)
    ests, vars_ = np.vstack(ests), np.vstack(vars_)
    pooled = rubin_pool(ests, vars_, dfcom=dfc)
    names = ["mean change"] + [f"difference: {lv} − {d.levels[0]}" for lv in d.levels[1:]]
    imp = pd.DataFrame(
        {
            "imputation": np.repeat(np.arange(1, n_imputations + 1), len(names)),
            "parameter": np.tile(names, n_imputations),
            "estimate": ests.ravel(),
            "variance": vars_.ravel(),
        }
    )
    inputs = ["baseline", f"{weekly.shape[1]} weekly scores", "discharge score"]
    if k >= 2:
        inputs.append("group")
    if d.cov_names:
        inputs.append("covariates (" + ", ".join(d.cov_names) + ")")
    note = (
        f"MI: {n_imputations} imputations by chained equations (Bayesian linear regression "
        f"draws) on {', '.join(inputs)}; Rubin's rules with Barnard–Rubin df."
    )
    return pooled, imp, note
