"""Random-effects pooling of per-site effects (:func:`iop_outcomes.pool_sites`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._stats import z_crit
from .._validation import Interval, Options, check_param, validate_params
from ..exceptions import DataError
from .api import compare_within
from .design import as_tuple, contrast_label, group_moments, level_order, prepare
from .results import PoolResult


def _tau2_dl(y, v):
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    Q = float((w * (y - mu) ** 2).sum())
    C = w.sum() - (w**2).sum() / w.sum()
    return max(0.0, (Q - (len(y) - 1)) / C), True, 0


def _tau2_reml(y, v, tol=1e-12, max_iter=1000):
    """REML by Fisher scoring with step halving at the boundary (as metafor ``rma.uni``)."""
    tau2 = _tau2_dl(y, v)[0]
    for it in range(max_iter):
        w = 1 / (v + tau2)
        sw = w.sum()
        mu = (w * y).sum() / sw
        Py = w * (y - mu)
        trP = sw - (w**2).sum() / sw
        trPP = (w**2).sum() - 2 * (w**3).sum() / sw + ((w**2).sum() / sw) ** 2
        adj = (float(Py @ Py) - trP) / trPP
        while tau2 + adj < 0:
            adj /= 2
            if abs(adj) < tol:
                adj = -tau2
                break
        tau2 += adj
        if abs(adj) < tol:
            return max(tau2, 0.0), True, it + 1
    return max(tau2, 0.0), False, max_iter


def _meta(y, v, tau2_method, ci_level, pi_method, test="z"):
    y, v = np.asarray(y, float), np.asarray(v, float)
    k = len(y)
    tau2, conv, iters = (_tau2_dl if tau2_method == "DL" else _tau2_reml)(y, v)
    w = 1 / (v + tau2)
    mu = float((w * y).sum() / w.sum())
    if test == "knha":  # Hartung-Knapp(-Sidik-Jonkman): scaled SE, t(k-1)
        df = float(k - 1)
        se = float(np.sqrt((w * (y - mu) ** 2).sum() / ((k - 1) * w.sum())))
        z = float(_dist.t.ppf(0.5 + ci_level / 2, df))
        pval = float(2 * _dist.t.sf(abs(mu / se), df))
    else:
        df = np.inf
        se = float(1 / np.sqrt(w.sum()))
        z = z_crit(ci_level)
        pval = float(2 * _dist.norm.sf(abs(mu / se)))
    wf = 1 / v
    mu_fe = (wf * y).sum() / wf.sum()
    Q = float((wf * (y - mu_fe) ** 2).sum())
    vt = (k - 1) * wf.sum() / (wf.sum() ** 2 - (wf**2).sum())
    I2 = 100 * tau2 / (tau2 + vt)
    H2 = (tau2 + vt) / vt
    if pi_method == "higgins2009":
        crit = _dist.t.ppf(0.5 + ci_level / 2, k - 2) if k >= 3 else np.nan
    else:  # as metafor's predict(): the CI's critical value
        crit = z
    half = crit * np.sqrt(tau2 + se**2)
    return dict(
        tau2_method=tau2_method,
        k=k,
        estimate=mu,
        se=se,
        ci_low=mu - z * se,
        ci_high=mu + z * se,
        ci_level=ci_level,
        statistic=mu / se,
        df=df,
        pvalue=pval,
        test=test,
        tau2=tau2,
        tau=float(np.sqrt(tau2)),
        I2=I2,
        H2=H2,
        Q=Q,
        Q_df=float(k - 1),
        Q_pvalue=float(_dist.chi2.sf(Q, k - 1)) if k > 1 else np.nan,
        pi_low=mu - half,
        pi_high=mu + half,
        pi_method=pi_method,
        converged=conv,
    )


_TAU2 = Options("REML", "DL")


@validate_params(
    {
        "episodes": ["frame"],
        "site": [str],
        "group": [str, None],
        "reference": ["no_validation"],
        "method": [Options("welch", "ancova")],
        "covariates": ["columns"],
        "tau2_methods": [_TAU2, list, tuple],
        "test": [Options("z", "knha")],
        "pi_method": [Options("higgins2009", "metafor")],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
        "instrument": ["instrument", None],
    }
)
def pool_sites(
    episodes: pd.DataFrame,
    *,
    site: str = "site",
    group: str | None = None,
    reference: Any = "in_person",
    method: str = "welch",
    covariates: Sequence[str] | str = (),
    tau2_methods: Sequence[str] = ("REML", "DL"),
    test: str = "z",
    pi_method: str = "higgins2009",
    ci_level: float = 0.95,
    instrument: str | None = None,
) -> PoolResult:
    r"""Random-effects pooling of per-site effects, with tau², I², Q and a prediction
    interval.

    Per-site effect :math:`y_i` with sampling variance :math:`v_i`:

    * ``group=None``: mean pre–post change, :math:`v_i = s^2_{change}/n_i`
      (metafor ``escalc("MC")``);
    * ``group`` given: the :func:`compare` contrast within each site (``method`` "welch":
      difference in mean change, :math:`v_i = s_1^2/n_1 + s_0^2/n_0`; or "ancova").

    Pooling: :math:`\hat\mu = \sum w_i y_i / \sum w_i`, :math:`w_i = 1/(v_i + \hat\tau^2)`,
    :math:`SE = (\sum w_i)^{-1/2}`, Wald z interval (``test="z"``, metafor's default) or,
    with ``test="knha"``, the Hartung–Knapp–Sidik–Jonkman SE
    :math:`\sqrt{\sum w_i (y_i - \hat\mu)^2 / ((k-1)\sum w_i)}` with :math:`t_{k-1}`
    (recommended with few sites; metafor ``test="knha"``). :math:`\hat\tau^2` by
    DerSimonian–Laird
    :math:`\max(0, (Q-(k-1))/(\sum w - \sum w^2/\sum w))` and/or REML (Fisher scoring, as
    metafor ``rma(method="REML")``). :math:`I^2 = \hat\tau^2/(\hat\tau^2 + \tilde v)` with
    :math:`\tilde v = (k-1)\sum w/((\sum w)^2 - \sum w^2)` (Higgins & Thompson 2002;
    metafor's definition). Prediction interval (``pi_method="higgins2009"``):
    :math:`\hat\mu \pm t_{k-2}\sqrt{\hat\tau^2 + SE^2}` (Higgins, Thompson & Spiegelhalter
    2009); ``"metafor"`` uses the CI's critical value (z, or :math:`t_{k-1}` with knha) as
    metafor's ``predict()``.

    Sites with fewer than 2 episodes (in any arm) are excluded and listed in ``notes``.

    Parameters
    ----------
    episodes : DataFrame
        Episode table with ``baseline``, ``endpoint`` and the ``site`` column (and the
        ``group`` column and ``covariates`` when given); episodes missing one of them are
        excluded (counted in ``params``).
    site : str
        Column holding the site (default ``"site"``); one effect per site. A contrast with
        fewer than 2 usable sites is not pooled (a note says so).
    group : str, optional
        ``None`` (default): pool each site's mean pre-post change. A column name: pool each
        site's contrast of every other level of ``group`` with ``reference`` (one pooled
        row per contrast).
    reference : scalar or None
        With ``group``: the level the others are compared with (default ``"in_person"``);
        ``None``: the first level of ``group`` (categorical order, else sorted). Not used
        when ``group=None``.
    method : {"welch", "ancova"}
        With ``group``: the per-site contrast, the Welch difference in mean change
        (default) or the ANCOVA adjusted difference of :func:`compare`. Not used when
        ``group=None``.
    covariates : str or sequence of str
        With ``group`` and ``method="ancova"``: adjustment covariates of each site's
        :func:`compare` (default none). Not used when ``group=None``; with
        ``method="welch"`` they enter no estimate (only episodes missing them are
        excluded).
    tau2_methods : {"REML", "DL"} or list of them
        Estimator(s) of :math:`\tau^2`, REML and/or DerSimonian-Laird (default both,
        ``("REML", "DL")``): one pooled row per contrast and estimator; the first sets the
        sites' ``weight_pct``.
    test : {"z", "knha"}
        Wald z interval and test (default, as metafor) or the Hartung-Knapp-Sidik-Jonkman
        SE with :math:`t_{k-1}` (``"knha"``; recommended with few sites).
    pi_method : {"higgins2009", "metafor"}
        Prediction interval with :math:`t_{k-2}` (default; needs at least 3 sites) or with
        the CI's critical value, as metafor's ``predict()``.
    ci_level : float
        Level of the site, pooled and prediction intervals, strictly between 0 and 1
        (default 0.95).
    instrument : str, optional
        ``None`` (default): the table must hold exactly one instrument (else a ConfigError
        names those found); a name keeps that instrument's rows.

    Returns
    -------
    PoolResult
        ``.table``: one row per contrast and :math:`\tau^2` estimator (``estimate``, ``se``,
        ``ci_low``, ``ci_high``, ``pvalue``, ``tau2``, ``I2``, ``H2``, ``Q``, ``pi_low``,
        ``pi_high``, ...); ``.sites``: the per-site effects with their intervals and
        weights.

    References
    ----------
    DerSimonian & Laird (1986), Control Clin Trials 7:177. Viechtbauer (2005), J Educ
    Behav Stat 30:261. Hartung & Knapp (2001), Stat Med 20:3875. Higgins & Thompson (2002), Stat Med 21:1539. Higgins, Thompson &
    Spiegelhalter (2009), J R Stat Soc A 172:137.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({
    ...     "site": list("AAAABBBBCCCC"),
    ...     "baseline": [18, 15, 20, 16, 17, 19, 14, 21, 16, 18, 15, 17],
    ...     "endpoint": [10, 9, 13, 10, 9, 12, 9, 12, 11, 9, 10, 8]})
    >>> res = iop.pool_sites(ep, tau2_methods=["DL"])
    >>> round(float(res.table["estimate"].iloc[0]), 4), float(res.table["tau2"].iloc[0])
    (-6.8847, 0.0)
    """
    func = "pool_sites"
    ci_level = float(ci_level)
    tau2_methods = as_tuple(tau2_methods)
    for m in tau2_methods:
        check_param(m, "tau2_methods", [_TAU2], func=func)
    p = prepare(
        episodes,
        group=group,
        reference=reference,
        covariates=covariates if group is not None else (),
        extra=(site,),
        func=func,
        instrument=instrument,
    )
    d = p.data
    reference = p.reference
    notes: list[str] = []
    if group is None:
        sites, effect = _site_means(d, site, notes)
    elif method == "welch":
        sites, effect = _site_welch(d, site, group, reference, p.others, notes, func)
    else:
        sites, effect = _site_contrasts(
            d, site, group, reference, method, p.covariates, ci_level, notes, func
        )
    pooled = _pool(sites, tau2_methods, ci_level, pi_method, test, notes)
    params = dict(
        site=site,
        group=group,
        ci_level=ci_level,
        n_used=len(d),
        n_excluded=p.n_excluded,
        k_sites=int(sites["site"].nunique()),
    )
    if group is not None:
        params["reference"] = reference
    return PoolResult(
        table=pd.DataFrame(pooled),
        title=f"Random-effects pooling over {site}",
        method=(
            f"Per-site effect: {effect}; inverse-variance random-effects pooling, tau^2 by "
            f"{' and '.join(tau2_methods)}; "
            + ("Wald z CI" if test == "z" else "Hartung-Knapp SE with t(k-1) CI")
            + "; prediction interval "
            + ("t(k-2) (Higgins 2009)" if pi_method == "higgins2009" else "as metafor predict()")
        ),
        params=params,
        notes=tuple(dict.fromkeys(notes)),
        sites=sites,
    )


def _site_means(d, site, notes):
    """Per-site mean change and its SE (metafor escalc("MC"))."""
    g = d.groupby(site, observed=True)["change"]
    s = pd.DataFrame({"n": g.size(), "estimate": g.mean(), "sd": g.std(ddof=1)})
    small = s.index[s["n"] < 2].tolist()
    s = s[s["n"] >= 2]
    s["se"] = s["sd"] / np.sqrt(s["n"])
    sites = pd.DataFrame(
        {
            "site": s.index,
            "contrast": "mean change",
            "estimate": s["estimate"].to_numpy(),
            "se": s["se"].to_numpy(),
            "n": s["n"].astype(int).to_numpy(),
        }
    )
    if small:
        notes.append(f"Sites with < 2 episodes excluded: {small}.")
    effect = "mean pre-post change (endpoint - baseline), v = s^2/n"
    return sites, effect


def _site_welch(d, site, group, reference, others, notes, func):
    """Per-site Welch contrasts of change, from the per-site, per-group moments."""
    m = group_moments(d, [site, group])
    ref_m = m.xs(reference, level=1) if reference in m.index.get_level_values(1) else None
    parts = []
    for g in others:
        if ref_m is None or g not in m.index.get_level_values(1):
            continue
        j = m.xs(g, level=1).merge(
            ref_m, left_index=True, right_index=True, how="outer", suffixes=("_g", "_r")
        )
        ok = (j["n_g"] >= 2) & (j["n_r"] >= 2)
        bad = sorted(map(str, j.index[~ok]))
        if bad:
            notes.append(
                f"{contrast_label(g, reference)}: sites without >= 2 episodes in both "
                f"groups excluded: {bad}."
            )
        j = j[ok].sort_index()
        parts.append(
            pd.DataFrame(
                {
                    "site": j.index,
                    "contrast": contrast_label(g, reference),
                    "estimate": (j["mean_change_g"] - j["mean_change_r"]).to_numpy(),
                    "se": np.sqrt(
                        j["var_change_g"] / j["n_g"] + j["var_change_r"] / j["n_r"]
                    ).to_numpy(),
                    "n_group": j["n_g"].astype(int).to_numpy(),
                    "n_reference": j["n_r"].astype(int).to_numpy(),
                    "n": (j["n_g"] + j["n_r"]).astype(int).to_numpy(),
                }
            )
        )
    if not parts or sum(len(x) for x in parts) == 0:
        raise DataError(f"{func}: no site has enough episodes in both groups.")
    sites = pd.concat(parts, ignore_index=True)
    effect = "welch contrast of change (group - reference) within site, v = s1^2/n1 + s0^2/n0"
    return sites, effect


def _site_contrasts(d, site, group, reference, method, covariates, ci_level, notes, func):
    """Per-site contrasts by :func:`compare` (ANCOVA)."""
    parts = []
    for lv, res in compare_within(
        d,
        site,
        level_order(d[site]),
        "Site ",
        "excluded",
        notes,
        group=group,
        reference=reference,
        method=method,
        covariates=covariates,
        ci_level=ci_level,
    ):
        t = res.table[["contrast", "estimate", "se", "n_group", "n_reference"]].copy()
        t.insert(0, "site", lv)
        t["n"] = t["n_group"] + t["n_reference"]
        parts.append(t)
    if not parts:
        raise DataError(f"{func}: no site has enough episodes in both groups.")
    sites = pd.concat(parts, ignore_index=True)
    effect = f"{method} contrast of change (group - reference) within site"
    return sites, effect


def _pool(sites, tau2_methods, ci_level, pi_method, test, notes) -> list[dict]:
    """Site CIs, the pooled rows per contrast and tau² method, and each site's weight (%)."""
    z = z_crit(ci_level)
    sites["ci_low"] = sites["estimate"] - z * sites["se"]
    sites["ci_high"] = sites["estimate"] + z * sites["se"]
    pooled = []
    for contrast, t in sites.groupby("contrast", sort=False):
        t = t[np.isfinite(t["se"]) & (t["se"] > 0)]
        if len(t) < 2:
            notes.append(f"{contrast}: fewer than 2 sites; nothing to pool.")
            continue
        for m in tau2_methods:
            row = _meta(
                t["estimate"].to_numpy(), t["se"].to_numpy() ** 2, m, ci_level, pi_method, test
            )
            if not row["converged"]:
                notes.append(f"{contrast}: REML did not converge; tau2 is the last iterate.")
            pooled.append({"contrast": contrast, **row})
            if len(t) < 3 and pi_method == "higgins2009":
                notes.append(f"{contrast}: prediction interval needs >= 3 sites (t with k-2 df).")
    # weights (%) under the first tau2 method, for the forest plot
    if pooled:
        first = {r["contrast"]: r["tau2"] for r in pooled if r["tau2_method"] == tau2_methods[0]}
        wts = 1 / (sites["se"] ** 2 + sites["contrast"].map(first))
        sites["weight_pct"] = 100 * wts / wts.groupby(sites["contrast"]).transform("sum")
    return pooled
