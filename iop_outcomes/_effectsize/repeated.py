"""Pre–post standardized mean change from episode-level data: :func:`rm_d`.

A short pipeline: check the options → pick the instrument → grouped moments in one pass →
the estimate of the chosen variant → its CI (analytic, noncentral t or bootstrap) → the
result table with its method text. Formulas in :mod:`.formulas`, resampling in
:mod:`.resample`; all checked against metafor 3.8-1 and effectsize 0.8.3 in
``tests/reference/effectsize/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._dask import is_dask
from .._instrument_rule import select_instrument
from .._results import TableResult
from .._stats import z_crit
from .._validation import Interval, Options, check_columns, check_numeric, validate_params
from ..exceptions import ConfigError, DataError
from .formulas import (
    DEFAULT_METHOD,
    VARIANTS,
    effect,
    effect_label,
    features,
    from_moments,
    moment_statistic,
    ncp_ci,
    norm_method,
    sd_ratio_note,
    variance,
    variance_info,
)
from .resample import (
    MIN_CLUSTERS,
    PROGRESS_WORK,
    bootstrap_interval,
    few_clusters_note,
    make_rng,
    moment_bootstrap,
    progress_bar,
)

__all__ = ["rm_d", "as_list", "CI_LEVEL", "N_BOOT", "SEED"]

#: the constraints every effect-size function shares
CI_LEVEL = [Interval(float, 0, 1, closed="neither")]
N_BOOT = [Interval(int, 100, None, closed="left")]
SEED = [None, Interval(int, 0, None, closed="left"), np.random.Generator]
_CI_METHODS = ("analytic", "ncp", "bca", "percentile")


def as_list(spec: Any) -> list[str]:
    """A column spec (None, one name or several) as a list of names."""
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    return list(spec)


def _group_codes(data: pd.DataFrame, by: list[str]):
    if not by:
        return np.zeros(len(data), dtype=np.int64), pd.DataFrame(index=[0])
    g = data.groupby(by, dropna=False, sort=True, observed=True)
    codes = g.ngroup().to_numpy(dtype=np.int64)
    keys = g.size().index.to_frame(index=False)
    return codes, keys


def _cluster_codes(data: pd.DataFrame, cluster: str, func: str) -> np.ndarray:
    check_columns(data, [cluster], func=func, what="episode table")
    lab = data[cluster]
    if lab.isna().any():
        raise DataError(
            f"The cluster column {cluster!r} passed to {func} has {int(lab.isna().sum())} "
            "missing value(s). Fill them (e.g. 'unknown') or drop those rows."
        )
    codes, _ = pd.factorize(lab, sort=True)
    return codes.astype(np.int64)


def _unit_features(xc, yc, valid_cluster=None):
    """Per-unit features and multiplicities of one group.

    Episodes: distinct (pre, post) pairs with their counts. Clusters: the cluster's moment
    totals, multiplicity 1. Units are sorted, so results do not depend on row order.
    """
    if valid_cluster is None:
        fx, ux = pd.factorize(xc, sort=True)
        fy, uy = pd.factorize(yc, sort=True)
        key = fx.astype(np.int64) * len(uy) + fy
        ukey, counts = np.unique(key, return_counts=True)
        return features(ux[ukey // len(uy)], uy[ukey % len(uy)]), counts.astype(np.int64)
    ucl, inv = np.unique(valid_cluster, return_inverse=True)
    inv = inv.ravel()
    f = (np.ones_like(xc), xc, yc, xc * xc, yc * yc, xc * yc)
    sums = np.column_stack([np.bincount(inv, weights=c, minlength=ucl.size) for c in f])
    return sums, np.ones(ucl.size, dtype=np.int64)


@validate_params(
    {
        "episodes": ["frame", "dask_frame"],
        "instrument": ["instruments", None],
        "method": [str],
        "pre": [str],
        "post": [str],
        "by": ["columns", None],
        "better_is": [Options("lower", "higher")],
        "adjust": ["boolean"],
        "ci_level": CI_LEVEL,
        "ci_method": [Options(*_CI_METHODS)],
        "n_boot": N_BOOT,
        "seed": SEED,
        "cluster": [str, None],
        "progress": ["boolean", None],
        "heteroscedastic": ["boolean"],
    },
    renamed={"data": "episodes"},
)
def rm_d(
    episodes: pd.DataFrame,
    *,
    instrument: str | Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    pre: str = "baseline",
    post: str = "endpoint",
    by: str | Sequence[str] | None = None,
    better_is: str = "lower",
    adjust: bool = True,
    ci_level: float = 0.95,
    ci_method: str = "analytic",
    n_boot: int = 2000,
    seed=None,
    cluster: str | None = None,
    progress: bool | None = None,
    heteroscedastic: bool = False,
) -> TableResult:
    r"""Pre–post standardized mean change (repeated-measures Cohen's d / Hedges' g).

    One row per episode with a pre and a post score (the episode table's ``baseline`` and
    ``endpoint``). Rows with either score missing are excluded and counted
    (``n_excluded``). With ``by``, one row per group (vectorized: one pass of grouped sums).

    **Orientation.** With ``better_is="lower"`` (PHQ-9, GAD-7, PCL-5) the numerator is
    :math:`M_d = \overline{pre - post}`, so *improvement is positive*; with
    ``better_is="higher"`` it is :math:`\overline{post - pre}`. (The episode table's
    ``change`` column is ``endpoint − baseline``, so a negative mean change gives a positive
    effect size here.)

    The variants differ only in the standardizer :math:`S`:

    .. math::
        d_z = \frac{M_d}{S_d},\quad
        d_{rm} = \frac{M_d}{S_d}\sqrt{2(1-r)},\quad
        d_{av} = \frac{M_d}{\sqrt{(S_1^2+S_2^2)/2}},\quad
        d_b = \frac{M_d}{S_1}

    with :math:`S_d` the SD of the change scores, :math:`S_1, S_2` the pre and post SDs and
    :math:`r` the pre–post correlation. Hedges' correction (``adjust=True``, reported as
    ``g_*``) multiplies by :math:`J(n-1)=\Gamma(\tfrac{n-1}{2})/(\sqrt{\tfrac{n-1}{2}}\,
    \Gamma(\tfrac{n-2}{2}))` — Hedges (1981) with the paired degrees of freedom n − 1.

    Analytic CIs are ``estimate ± z·se`` with the published large-sample variance of each
    variant, evaluated at the reported estimate (metafor's ``vtype="LS"`` convention):

    .. math::
        V(d_z) &= \tfrac1n + \tfrac{d^2}{2n} \quad\text{(Hedges \& Olkin 1985)}\\
        V(d_{rm}) &= \left(\tfrac1n + \tfrac{d^2}{2n}\right) 2(1-r)
            \quad\text{(Borenstein et al. 2009, eq. 4.28; Morris \& DeShon 2002)}\\
        V(d_{av}) &= \frac{S_d^2}{(n-1)S_{av}^2}
            + \frac{d^2 (S_1^4 + S_2^4 + 2r^2S_1^2S_2^2)}{8(n-1)S_{av}^4}
            \quad\text{(Bonett 2008, eq. 10)}\\
        V(d_b) &= \tfrac{2(1-r)}{n} + \tfrac{d^2}{2n} \quad\text{(Becker 1988)}\\
        V_H(d_b) &= \frac{S_d^2}{S_1^2(n-1)} + \frac{d^2}{2(n-1)}
            \quad\text{(Bonett 2008, eq. 13; heteroscedastic=True)}

    Becker's variance (metafor ``SMCR``, the default so that numbers match it) assumes equal
    pre and post SDs; when they differ its CI undercovers and a note says so — pass
    ``heteroscedastic=True`` (metafor ``SMCRH``). The d_rm variance treats r as known: its
    CI undercovers (90–94 % at r = 0.7) and overcovers at low r; prefer a bootstrap CI
    for d_rm. With the paired df n − 1 (the project convention), J slightly over-corrects
    g_av and g_rm, whose standardizers carry more df (about −2 % at n = 20, < 0.5 % at
    n = 200). Coverage and bias of every variant are recorded in ``bench/VALIDATION.md``.

    ``ci_method="bca"`` or ``"percentile"`` resamples episodes (or whole clusters, with
    ``cluster="site"``) instead; see :func:`bootstrap_ci`. Its ``se`` is then the SD of the
    bootstrap replicates.

    **Which variant?**

    * ``"av"`` (default, ``g_av``): for reporting a program's pre–post effect. It is on the
      scale of a between-groups d (average of the pre and post SDs), needs no r, and can be
      recomputed from published means and SDs, so it compares with published benchmarks
      (Lakens 2013; Cumming 2012).
    * ``"b"`` (``g_b``, Becker's d): when treatment changes the spread of scores (common
      in IOP/PHP, where discharge SDs differ from intake SDs); standardizes by the untreated
      (baseline) population SD; the usual index for meta-analysis of pre–post designs (metafor
      ``SMCR``) and the within-group part of Morris (2008) d_ppc2.
    * ``"z"`` (``g_z``): the paired t statistic divided by √n — for power analysis of a
      paired test. It grows with the pre–post correlation and is *not* comparable with
      between-groups d; do not put it next to published d_av/d_b values.
    * ``"rm"`` (``g_rm``): d_z rescaled to the raw-score metric; equals d_av when pre and
      post SDs are equal.

    Parameters
    ----------
    episodes : DataFrame
        One row per episode (e.g. ``iop.episodes(...)``), or any table with the two
        score columns.
    instrument : str, list of str or None
        The library's instrument rule: ``None`` (default) needs a table of exactly one
        instrument (or without an ``instrument`` column) and raises ConfigError naming
        those found otherwise; a name keeps that instrument's rows; a list reports each
        instrument on its own rows (``instrument`` is then the first grouping column).
        Scores of different instruments are never pooled.
    method : {"av", "b", "z", "rm"}
        The variant (``"d_av"``, ``"g_b"``, ``"becker"``... are accepted too).
    pre, post : str
        Columns with the pre (baseline) and post (endpoint) scores.
    by : str or list of str, optional
        Stratifying column(s); one row per level (missing labels form their own group).
    better_is : {"lower", "higher"}
        Direction of improvement on the instrument; sets the sign (see above).
    adjust : bool
        Apply Hedges' correction with df = n − 1 (label ``g_*``) or not (``d_*``).
    ci_level : float
        Confidence level.
    ci_method : {"analytic", "ncp", "bca", "percentile"}
        Analytic (normal, published variance), exact noncentral-t (``"ncp"``, d_z only —
        the interval of effectsize's ``cohens_d(paired=TRUE)``; Cumming & Finch 2001), or
        bootstrap interval.
    n_boot, seed, cluster, progress :
        Bootstrap options (used only when ``ci_method`` is ``"bca"`` or ``"percentile"``);
        ``cluster`` names a column (e.g. ``"site"``) whose clusters are resampled whole. From
        ``POISSON_MIN_N`` (10,000) resampling units on, replicate counts are Poisson draws
        (the Poisson bootstrap; Hanley & MacGibbon 2006, Comput Methods Programs Biomed
        83:57) instead of multinomial ones: indistinguishable at that size, 10–20× faster.
    heteroscedastic : bool
        For ``method="b"``: Bonett's (2008) variance, valid with unequal pre/post SDs,
        instead of Becker's. No effect on other variants (d_av's and d_z's variances already
        allow unequal SDs).

    Returns
    -------
    TableResult
        One row per group: grouping columns, ``method`` (e.g. ``"g_av"``), ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``ci_method``, ``n_used``,
        ``n_excluded``, ``mean_pre``, ``sd_pre``, ``mean_post``, ``sd_post``, ``r``,
        ``mean_change`` (post − pre), ``sd_change``; bootstrap runs add ``n_boot``.

    References
    ----------
    .. [1] Becker BJ (1988). Synthesizing standardized mean-change measures. Br J Math Stat
       Psychol 41:257–278.
    .. [2] Morris SB, DeShon RP (2002). Combining effect size estimates in meta-analysis with
       repeated measures and independent-groups designs. Psychol Methods 7:105–125.
    .. [3] Algina J, Keselman HJ (2003). Approximate confidence intervals for effect sizes.
       Educ Psychol Meas 63:537–553.
    .. [4] Bonett DG (2008). Confidence intervals for standardized linear contrasts of means.
       Psychol Methods 13:99–109.
    .. [5] Lakens D (2013). Calculating and reporting effect sizes to facilitate cumulative
       science. Front Psychol 4:863.
    .. [6] Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to
       Meta-Analysis. Wiley. Chapter 4.
    .. [7] Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis. Academic Press.
    .. [8] Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
       J Stat Softw 36(3). (``escalc`` measures SMCC, SMCR.)
    .. [9] Cumming G, Finch S (2001). A primer on the understanding, use, and calculation
       of confidence intervals that are based on central and noncentral distributions.
       Educ Psychol Meas 61:532–574.
    .. [10] Cumming G (2012). Understanding the New Statistics. Routledge.
    .. [11] Morris SB (2008). Estimating effect sizes from pretest-posttest-control group
       designs. Organ Res Methods 11:364–386.
    .. [12] Hedges LV (1981). Distribution theory for Glass's estimator of effect size and
       related estimators. J Educ Stat 6:107–128.

    Examples
    --------
    The worked example of DOMAIN.md (metafor 3.8-1):

    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"baseline": [20, 18, 15, 22, 17, 19, 14, 21, 16, 23],
    ...                    "endpoint": [12, 10, 11, 15, 9, 14, 10, 13, 12, 20]})
    >>> res = iop.rm_d(ep, method="b")
    >>> row = res.to_frame().iloc[0]
    >>> row["method"], round(float(row["estimate"]), 4), round(float(row["se"]) ** 2, 5)
    ('g_b', 1.7809, 0.20281)
    >>> round(float(iop.rm_d(ep, method="z", adjust=False).to_frame()["estimate"][0]), 4)
    2.8379
    """
    if is_dask(episodes):  # a Dask table: moments per partition, combined (_dask/effectsize.py)
        return rm_d_dask(episodes, locals())
    key = norm_method(method)
    _check_options(key, method, ci_method, cluster)
    data, by_cols = _instrument_rows(episodes, instrument, by)
    check_columns(
        data,
        [pre, post, *by_cols],
        func=rm_d,
        what="episode table",
        hint="Pass the right names (e.g. pre='baseline', post='endpoint').",
    )
    check_numeric(data, [pre, post], func=rm_d, what="episode table")
    x = data[pre].to_numpy(dtype=float, na_value=np.nan)
    y = data[post].to_numpy(dtype=float, na_value=np.nan)
    codes, keys = _group_codes(data, by_cols)
    ccodes = _cluster_codes(data, cluster, "rm_d") if cluster is not None else None
    m = _grouped_moments(x, y, codes, len(keys))
    return fit_result(key, m, keys, by_cols, ccodes, locals())


def rm_d_dask(episodes, args: dict):
    """:func:`rm_d` on Dask (:mod:`iop_outcomes._dask.effectsize`; Dask imported there)."""
    from .._dask.effectsize import rm_d_dask as run

    steps = {"rows": _instrument_rows, "codes": _group_codes, "sums": centred_sums}
    steps |= {"moments": moments_fit, "result": fit_result, "options": _check_options}
    return run(episodes, {k: v for k, v in args.items() if k != "episodes"}, rm_d, steps)


def fit_result(key: str, m: dict, keys, by_cols, ccodes, args: dict) -> TableResult:
    """The effect sizes, their intervals and the result from the groups' moments ``m``
    (:func:`moments_fit`), shared by the in-memory and Dask paths."""
    ci_method, ci_level = args["ci_method"], args["ci_level"]
    sign = 1.0 if args["better_is"] == "lower" else -1.0
    est, d, j, r, vd = effect(
        key,
        m["n"],
        sign * (m["mean_pre"] - m["mean_post"]),
        m["vx"],
        m["vy"],
        m["cxy"],
        args["adjust"],
    )
    fit = {
        "key": key,
        "label": effect_label(key, args["adjust"]),
        "est": est,
        "d": d,
        "j": j,
        "r": r,
        "vd": vd,
        "sign": sign,
        **m,
    }
    notes: list[str] = []
    if ci_method == "ncp":
        cols, ci_desc = _ci_ncp(fit, ci_level)
    elif ci_method == "analytic":
        cols, ci_desc = _ci_analytic(fit, ci_level, args["heteroscedastic"], notes)
    else:
        opts = {
            "ci_method": ci_method,
            "n_boot": args["n_boot"],
            "seed": args["seed"],
            "cluster": args["cluster"],
            "progress": args["progress"],
            "adjust": args["adjust"],
            "by_cols": by_cols,
        }
        cols, ci_desc = _ci_bootstrap(fit, ccodes, ci_level, opts, notes)
    table = _table(fit, cols, ci_level, ci_method, keys, by_cols)
    return _result(
        table,
        fit,
        notes,
        ci_desc,
        pre=args["pre"],
        post=args["post"],
        better_is=args["better_is"],
        adjust=args["adjust"],
        ci_level=ci_level,
        by_cols=by_cols,
    )


def _check_options(key: str, method: str, ci_method: str, cluster) -> None:
    """Combinations of options that make no sense raise ConfigError."""
    if ci_method == "ncp" and key != "z":
        raise ConfigError(
            f"ci_method='ncp' (noncentral t) of iop.rm_d is exact only for d_z (method='z'); "
            f"got method={method!r}. Use 'analytic' or a bootstrap for this variant."
        )
    if cluster is not None and ci_method not in ("bca", "percentile"):
        raise ConfigError(
            "The 'cluster' parameter of iop.rm_d needs a bootstrap interval: the analytic "
            "variances assume independent episodes. Use ci_method='bca' or 'percentile'."
        )


def _instrument_rows(episodes: pd.DataFrame, instrument, by) -> tuple[pd.DataFrame, list[str]]:
    """The instrument rule; a list of instruments stratifies by ``instrument`` first."""
    data, name = select_instrument(episodes, instrument, func=rm_d, many=True)
    by_cols = as_list(by)
    if isinstance(name, tuple) and "instrument" not in by_cols:
        by_cols = ["instrument", *by_cols]
    return data, by_cols


def _grouped_moments(x: np.ndarray, y: np.ndarray, codes: np.ndarray, n_groups: int) -> dict:
    """Complete pairs per group, centred moment totals and the pre/post moments (one pass)."""
    valid = np.isfinite(x) & np.isfinite(y)
    vc = codes[valid]
    xv, yv = x[valid], y[valid]
    n_used = np.bincount(vc, minlength=n_groups).astype(np.int64)
    n_excl = np.bincount(codes[~valid], minlength=n_groups).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.bincount(vc, weights=xv, minlength=n_groups) / n_used
        cy = np.bincount(vc, weights=yv, minlength=n_groups) / n_used
    cx = np.nan_to_num(cx)
    cy = np.nan_to_num(cy)
    moments, xc, yc = centred_sums(xv, yv, vc, n_groups, cx, cy)
    return {
        "valid": valid,
        "vc": vc,
        "xc": xc,
        "yc": yc,
        **moments_fit(moments, cx, cy, n_used, n_excl),
    }


def centred_sums(xv, yv, vc, n_groups: int, cx, cy):
    """``(moments, xc, yc)``: per group the totals n, Σxc, Σyc, Σxc², Σyc², Σxc·yc of the
    complete pairs ``xv``, ``yv`` (group codes ``vc``) centred at ``cx``, ``cy`` (the groups'
    means; totals about the same centres add across partitions)."""
    xc = xv - cx[vc]
    yc = yv - cy[vc]
    moments = np.column_stack(
        [np.bincount(vc, minlength=n_groups).astype(float)]
        + [
            np.bincount(vc, weights=c, minlength=n_groups)
            for c in (xc, yc, xc * xc, yc * yc, xc * yc)
        ]
    )
    return moments, xc, yc


def moments_fit(moments, cx, cy, n_used, n_excl) -> dict:
    """The groups' n, variances, covariance and means from their centred totals."""
    n, mx, my, vx, vy, cxy = from_moments(moments)
    return {
        "n_used": n_used,
        "n_excl": n_excl,
        "cx": cx,
        "cy": cy,
        "n": n,
        "vx": vx,
        "vy": vy,
        "cxy": cxy,
        "mean_pre": mx + cx,
        "mean_post": my + cy,
        "n_groups": len(n_used),
    }


def _ci_ncp(fit: dict, level: float) -> tuple[dict, str]:
    """The exact noncentral-t interval of d_z (Cumming & Finch 2001)."""
    n, est, j = fit["n"], fit["est"], fit["j"]
    var = variance(fit["key"], est, n, fit["r"], fit["vx"], fit["vy"], fit["vd"])
    lo, hi = ncp_ci(fit["d"] * np.sqrt(n), n - 1.0, level)
    cols = {"se": np.sqrt(var), "ci_low": lo / np.sqrt(n) * j, "ci_high": hi / np.sqrt(n) * j}
    return cols, (
        "exact noncentral-t interval for d_z (t = d_z·√n inverted over the noncentrality; "
        "Cumming & Finch 2001), limits multiplied by J when adjusted, as effectsize's "
        "cohens_d/hedges_g(paired=TRUE); se from Var = 1/n + est^2/(2n)"
    )


def _ci_analytic(fit: dict, level: float, heteroscedastic: bool, notes: list) -> tuple[dict, str]:
    """estimate ± z·se with the variant's published large-sample variance."""
    key, est = fit["key"], fit["est"]
    var = variance(key, est, fit["n"], fit["r"], fit["vx"], fit["vy"], fit["vd"], heteroscedastic)
    se = np.sqrt(var)
    z = z_crit(level)
    vinfo = variance_info(key, heteroscedastic)
    sd_note = sd_ratio_note(key, heteroscedastic, np.sqrt(fit["vx"]), np.sqrt(fit["vy"]))
    if sd_note:
        notes.append(sd_note)
    cols = {"se": se, "ci_low": est - z * se, "ci_high": est + z * se}
    return cols, f"normal approximation, {vinfo['variance']} ({vinfo['source']})"


def _bootstrap_units(fit: dict, ccodes) -> list:
    """Per group, its resampling units (distinct pairs or clusters); None below 3 pairs."""
    n_used, vc = fit["n_used"], fit["vc"]
    order = np.argsort(vc, kind="stable")
    bounds = np.r_[0, np.cumsum(n_used)]
    ccv = ccodes[fit["valid"]] if ccodes is not None else None
    units = []
    for g in range(fit["n_groups"]):
        if n_used[g] < 3:
            units.append(None)
            continue
        sel = order[bounds[g] : bounds[g + 1]]
        cl = ccv[sel] if ccv is not None else None
        units.append(_unit_features(fit["xc"][sel], fit["yc"][sel], cl))
    return units


def _ci_bootstrap(fit: dict, ccodes, level: float, opts: dict, notes: list) -> tuple[dict, str]:
    """Moment bootstrap (BCa or percentile) per group, resampling episodes or clusters."""
    ci_method, n_boot, cluster = opts["ci_method"], opts["n_boot"], opts["cluster"]
    rng = make_rng(opts["seed"])
    units = _bootstrap_units(fit, ccodes)
    work = sum(
        n_boot * (u[1].size if 4 * u[1].size <= u[1].sum() else int(u[1].sum()))
        for u in units
        if u is not None
    )
    progress = opts["progress"]
    show = work >= PROGRESS_WORK if progress is None else bool(progress)
    res_rows = []
    with progress_bar(n_boot * fit["n_groups"], show, "rm_d bootstrap") as bar:
        for g in range(fit["n_groups"]):
            if units[g] is None or (cluster is not None and units[g][1].size < 2):
                res_rows.append(bootstrap_interval(np.nan, [], [], [], level, ci_method))
                continue
            f_u, m_u = units[g]
            stat = moment_statistic(
                fit["key"], opts["adjust"], fit["sign"], fit["cx"][g] - fit["cy"][g]
            )
            th, bt, jk, jw = moment_bootstrap(f_u, m_u, stat, n_boot, rng, bar)
            res_rows.append(bootstrap_interval(th, bt, jk, jw, level, ci_method))
    rr = pd.DataFrame(res_rows)
    cols = {
        "se": rr["se"].to_numpy(),
        "ci_low": rr["ci_low"].to_numpy(),
        "ci_high": rr["ci_high"].to_numpy(),
        "n_boot": rr["n_boot"].to_numpy(),
    }
    if cluster is not None:
        cols["n_clusters"] = np.array([0 if u is None else u[1].size for u in units])
        few = cols["n_clusters"][fit["n_used"] >= 3]
        if few.size and few.min() < MIN_CLUSTERS:
            notes.append(few_clusters_note(int(few.min())))
    what = "clusters" if cluster is not None else "episodes"
    ci_desc = (
        f"{ci_method} bootstrap, {n_boot} replicates resampling {what}"
        + (f" ({cluster})" if cluster is not None else "")
        + (", within each group" if opts["by_cols"] else "")
        + f", seed={opts['seed']!r}; se = SD of replicates"
    )
    return cols, ci_desc


def _table(fit: dict, ci: dict, level: float, ci_method: str, keys, by_cols) -> pd.DataFrame:
    """One row per group: estimate, CI, counts and the descriptive moments."""
    n, vx, vy = fit["n"], fit["vx"], fit["vy"]
    mean_pre, mean_post = fit["mean_pre"], fit["mean_post"]
    cols: dict[str, Any] = {"method": fit["label"], "estimate": fit["est"]}
    boot_extra = {k: ci[k] for k in ("n_boot", "n_clusters") if k in ci}
    cols.update(se=ci["se"], ci_low=ci["ci_low"], ci_high=ci["ci_high"])
    cols.update(
        ci_level=level,
        ci_method=ci_method,
        n_used=fit["n_used"],
        n_excluded=fit["n_excl"],
        **boot_extra,
    )
    with np.errstate(invalid="ignore"):
        cols.update(
            mean_pre=np.where(n > 0, mean_pre, np.nan),
            sd_pre=np.sqrt(np.maximum(vx, 0)),
            mean_post=np.where(n > 0, mean_post, np.nan),
            sd_post=np.sqrt(np.maximum(vy, 0)),
            r=fit["r"],
            mean_change=np.where(n > 0, mean_post - mean_pre, np.nan),
            sd_change=np.sqrt(fit["vd"]),
        )
    table = pd.DataFrame(cols, index=pd.RangeIndex(fit["n_groups"]))
    if by_cols:
        table = pd.concat([keys.reset_index(drop=True), table], axis=1)
    return table


def _result(table, fit, notes, ci_desc, *, pre, post, better_is, adjust, ci_level, by_cols):
    """The TableResult with its orientation, exclusion notes and method text."""
    label, info = fit["label"], VARIANTS[fit["key"]]
    n_excl, n_used = fit["n_excl"], fit["n_used"]
    direction = "pre − post" if better_is == "lower" else "post − pre"
    notes.append(
        f"Orientation: M_d = mean({direction}) (better_is={better_is!r}); "
        "a positive estimate means improvement."
    )
    if int(n_excl.sum()):
        notes.append(f"{int(n_excl.sum())} row(s) without both {pre!r} and {post!r} excluded.")
    if (n_used < 3).any():
        notes.append("Groups with fewer than 3 complete pairs have no estimate.")
    hedges = "Hedges' J with df = n − 1" if adjust else "no small-sample correction"
    method_text = (
        f"{label} = {'J·' if adjust else ''}{info['formula']} (standardizer: "
        f"{info['standardizer']}); {hedges}; CI: {ci_desc}"
    )
    params = {"pre": pre, "post": post, "better_is": better_is, "ci_level": ci_level}
    if by_cols:
        params["by"] = ", ".join(by_cols)
    return TableResult(
        table=table,
        title=f"Pre–post standardized mean change ({label})",
        method=method_text,
        params=params,
        notes=tuple(notes),
    )
