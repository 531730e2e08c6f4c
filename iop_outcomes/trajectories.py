"""Symptom trajectories over weeks of treatment: mixed-effects growth models and GEE.

:func:`trajectories` fits a growth model to assessment-level (long) data, one row per
administered questionnaire (``iop.load(...).data``, see ``docs/data-format.md``):

* ``method="mixed"`` (default): linear mixed model fitted by REML -- ``total ~ time * group``
  with a random intercept and a random slope on ``week`` per episode (correlated), optionally
  a random intercept per site. Fitted either by statsmodels ``MixedLM`` or by a vectorized
  profiled-REML fitter (lme4's criterion computed from per-episode sufficient statistics;
  default, scales to 10⁵-10⁶ episodes); both agree with lme4 to ~1e-6. The same model
  in R is ``lme4::lmer(total ~ week * format + (1 + week | episode_id), REML = TRUE)``.
* ``method="gee"``: population-averaged model by generalized estimating equations
  (Liang & Zeger 1986), identity link, exchangeable or AR(1) working correlation within
  episode and robust (sandwich) standard errors.

Time enters as ``"linear"`` (week), ``"quadratic"`` (week + week²), ``"piecewise"`` (two
linear pieces joined at ``knot`` weeks) or ``"categorical"`` (one mean per integer week).

:func:`early_change` describes how much of an episode's improvement happened in the first
weeks.

Only in-treatment scores are modelled: rows dated before admission or after discharge and rows
whose ``timepoint`` is a follow-up (``followup_*``) are excluded and counted; follow-up
durability is a separate question (``iop.durability``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import instruments as _instruments
from ._results import TableResult, format_table
from ._stats import wilson_ci, z_crit
from .exceptions import ConfigError, ConvergenceWarning, DataError, IOPWarning

__all__ = ["trajectories", "early_change", "TrajectoryResult", "EarlyChangeResult"]

_TIME_FORMS = ("linear", "quadratic", "piecewise", "categorical")
_METHODS = ("mixed", "gee")
_RANDOM = ("slope", "uncorrelated", "intercept")
_CORR = ("exchangeable", "ar1", "independence")
_ENGINES = ("auto", "statsmodels", "vectorized")


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower()


def _check_choice(func: str, name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ConfigError(
            f"The {name!r} parameter of {func} must be one of {shown}. Got {value!r} instead."
        )


def _check_ci_level(func: str, ci_level: Any) -> None:
    if not isinstance(ci_level, (int, float)) or not 0 < ci_level < 1:
        raise ConfigError(
            f"The 'ci_level' parameter of {func} must be a number strictly between 0 and 1. "
            f"Got {ci_level!r} instead."
        )


@dataclass
class _Prepared:
    df: pd.DataFrame  # columns: ep, y, week, weekr, grp?, site?
    instrument: str
    group: str | None
    site: str | None
    levels: list
    reference: Any
    n_rows: int
    excluded: dict
    notes: list


def _prepare(
    data: Any,
    *,
    func: str,
    instrument: str | None,
    group: str | None,
    site: str | None,
    max_week: float | None,
    reference: Any = None,
) -> _Prepared:
    """Validate the long data once and return the in-treatment rows of one instrument."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"The 'data' parameter of {func} must be a pandas DataFrame of assessment rows "
            f"(e.g. iop.load(...).data). Got {type(data).__name__} instead."
        )
    if max_week is not None and (not isinstance(max_week, (int, float)) or max_week <= 0):
        raise ConfigError(
            f"The 'max_week' parameter of {func} must be a positive number or None. "
            f"Got {max_week!r} instead."
        )
    cols = {}
    for c in data.columns:
        cols.setdefault(_norm(c), c)
    problems = []
    id_col = cols.get("episode_id", cols.get("patient_id"))
    if id_col is None:
        problems.append("'episode_id' (or 'patient_id')")
    if "total" not in cols:
        problems.append("'total'")
    has_week = "week" in cols
    has_dates = "assessment_date" in cols and "admit_date" in cols
    if not has_week and not has_dates:
        problems.append("'week' (or both 'assessment_date' and 'admit_date')")
    gcol = scol = None
    if group is not None:
        gcol = cols.get(_norm(group))
        if gcol is None:
            problems.append(f"{group!r} (the 'group' parameter; pass group=None for one group)")
    if site is not None:
        scol = cols.get(_norm(site))
        if scol is None:
            problems.append(f"{site!r} (the 'site' parameter)")
    if problems:
        raise DataError(
            f"{func} needs column(s) {', '.join(problems)}. "
            f"Columns found: {sorted(map(str, data.columns))}."
        )
    notes: list[str] = []
    excluded: dict[str, int] = {}
    d = data
    n_rows = len(d)

    # one instrument
    canon = None
    if instrument is not None:
        canon = _instruments.canonical_name(instrument) or str(instrument)
    if "instrument" in cols and canon is not None:
        raw = d[cols["instrument"]].astype("string")
        uniq = raw.dropna().unique()
        mapping = {u: (_instruments.canonical_name(u) or str(u)) for u in uniq}
        keep = raw.map(mapping).eq(canon).fillna(False).to_numpy(bool)
        if not keep.any():
            raise DataError(
                f"No rows of instrument {canon!r} in the data. "
                f"Instruments found: {sorted(set(mapping.values()))}."
            )
        excluded["other_instrument"] = int((~keep).sum())
        d = d.loc[keep]
    elif "instrument" in cols:
        found = d[cols["instrument"]].dropna().unique()
        if len(found) > 1:
            raise DataError(
                f"The data hold several instruments {sorted(map(str, found))}; "
                f"pass instrument=... to {func}."
            )
        canon = str(found[0]) if len(found) else None

    y = pd.to_numeric(d[cols["total"]], errors="coerce").to_numpy(float)
    n = len(d)
    # weeks since admission
    week = np.full(n, np.nan)
    if has_week:
        week = pd.to_numeric(d[cols["week"]], errors="coerce").to_numpy(float)
    adate = sdate = ddate = None
    if has_dates:
        adate = pd.to_datetime(d[cols["assessment_date"]], errors="coerce")
        sdate = pd.to_datetime(d[cols["admit_date"]], errors="coerce")
        from_dates = ((adate - sdate).dt.days / 7.0).to_numpy(float)
        week = np.where(np.isnan(week), from_dates, week)
        if "discharge_date" in cols:
            ddate = pd.to_datetime(d[cols["discharge_date"]], errors="coerce")

    keep = np.ones(n, bool)
    if "timepoint" in cols:
        tp = d[cols["timepoint"]].astype("string").str.lower().str.startswith("followup")
        fu = tp.fillna(False).to_numpy(bool)
        excluded["follow_up"] = int(fu.sum())
        keep &= ~fu
    if ddate is not None:
        after = (adate > ddate).fillna(False).to_numpy(bool) & keep
        excluded["after_discharge"] = int(after.sum())
        keep &= ~after
    # intake scores taken shortly before admission (within the baseline window of
    # iop.EpisodeRules, 14 days by default) are the week-0 score, not pre-admission data
    from ._episodes import EpisodeRules

    lead_weeks = EpisodeRules().baseline_window[0] / 7.0
    week = np.where((week < 0) & (week >= lead_weeks), 0.0, week)
    before = (week < 0) & keep
    excluded["before_admission"] = int(before.sum())
    keep &= ~before
    miss = (np.isnan(y) | np.isnan(week)) & keep
    excluded["missing_score_or_week"] = int(miss.sum())
    keep &= ~miss
    idmiss = d[id_col].isna().to_numpy(bool) & keep
    excluded["missing_episode_id"] = int(idmiss.sum())
    keep &= ~idmiss

    out = pd.DataFrame(
        {
            "ep": d[id_col].astype("string").to_numpy(object),
            "y": y,
            "week": week,
        }
    )
    if id_col != cols.get("episode_id"):
        notes.append("No 'episode_id' column: each patient_id is treated as one episode.")
    if gcol is not None:
        out["grp"] = d[gcol].to_numpy(object)
        gmiss = pd.isna(out["grp"]).to_numpy(bool) & keep
        excluded["missing_group"] = int(gmiss.sum())
        keep &= ~gmiss
    if scol is not None:
        out["site"] = d[scol].astype("string").to_numpy(object)
        smiss = pd.isna(out["site"]).to_numpy(bool) & keep
        excluded["missing_site"] = int(smiss.sum())
        keep &= ~smiss
    if max_week is not None:
        late = (week > max_week) & keep
        excluded["after_max_week"] = int(late.sum())
        keep &= ~late
    out = out.loc[keep].reset_index(drop=True)
    if out.empty:
        raise DataError(f"No usable in-treatment rows left for {func} (exclusions: {excluded}).")
    out["ep"] = out["ep"].astype(str)
    out["weekr"] = np.rint(out["week"].to_numpy()).astype(int)
    out = out.sort_values(["ep", "week"], kind="mergesort").reset_index(drop=True)

    levels: list = []
    ref = None
    if gcol is not None:
        out["grp"] = out["grp"].astype(str)
        levels = sorted(out["grp"].unique())
        if reference is None:
            ref = "in_person" if "in_person" in levels else levels[0]
        else:
            ref = str(reference)
            if ref not in levels:
                raise ConfigError(
                    f"The 'reference' parameter of {func} must be one of the {group!r} levels "
                    f"{levels}. Got {reference!r} instead."
                )
        levels = [ref] + [g for g in levels if g != ref]
        ep_groups = out.groupby("ep", sort=False)["grp"].nunique()
        if (ep_groups > 1).any():
            raise DataError(
                f"The group column {group!r} changes within episode(s) "
                f"{list(ep_groups.index[ep_groups > 1][:5])}; it must be constant per episode."
            )
    if scol is not None:
        ep_sites = out.groupby("ep", sort=False)["site"].nunique()
        if (ep_sites > 1).any():
            raise DataError(
                f"The site column {site!r} changes within episode(s) "
                f"{list(ep_sites.index[ep_sites > 1][:5])}; episodes must be nested in sites."
            )
    text = []
    if excluded.get("follow_up") or excluded.get("after_discharge"):
        text.append(
            f"{excluded.get('follow_up', 0) + excluded.get('after_discharge', 0)} follow-up "
            "(post-discharge) score(s) excluded: only in-treatment scores are modelled"
        )
    if excluded.get("before_admission"):
        text.append(
            f"{excluded['before_admission']} score(s) dated more than 14 days before admission "
            "excluded (scores up to 14 days before count as week 0)"
        )
    if excluded.get("missing_score_or_week"):
        text.append(f"{excluded['missing_score_or_week']} row(s) without a score or week excluded")
    for k in ("missing_episode_id", "missing_group", "missing_site"):
        if excluded.get(k):
            text.append(f"{excluded[k]} row(s) with {k.replace('_', ' ')} excluded")
    if excluded.get("after_max_week"):
        text.append(f"{excluded['after_max_week']} score(s) after week {max_week:g} excluded")
    if text:
        notes.append("; ".join(text) + ".")
    return _Prepared(
        df=out,
        instrument=canon or "",
        group=group if gcol is not None else None,
        site=site if scol is not None else None,
        levels=levels,
        reference=ref,
        n_rows=n_rows,
        excluded=excluded,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# design
# --------------------------------------------------------------------------------------------


def _time_columns(df: pd.DataFrame, time: str, knot: float) -> pd.DataFrame:
    w = df["week"].to_numpy(float)
    if time == "quadratic":
        df["week_sq"] = w**2
    elif time == "piecewise":
        df["wk_a"] = np.minimum(w, knot)
        df["wk_b"] = np.maximum(w - knot, 0.0)
    elif time == "categorical":
        df["week_c"] = np.rint(w).astype(int)
    return df


def _formula(time: str, has_group: bool, reference: Any, week_ref: int) -> str:
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


def _pretty_term(term: str, group: str | None, knot: float) -> str:
    term = re.sub(r"(?:C\(grp\)|grp)\[T\.(.*?)\]", rf"{group}[\1]", term)
    term = re.sub(r"(?:C\(week_c\)|week_c)\[T\.(.*?)\]", r"week[\1]", term)
    term = term.replace("week_sq", "week^2")
    term = term.replace("wk_a", f"week_to_{knot:g}").replace("wk_b", f"week_after_{knot:g}")
    return term


def _r_formula(time: str, group: str | None, site: str | None, random: str, knot: float) -> str:
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


# --------------------------------------------------------------------------------------------
# fixed-effects covariance (lme4's vcov): (X' V^-1 X)^-1, vectorized over episodes
# --------------------------------------------------------------------------------------------


def _cross_blocks(A: np.ndarray, B: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per-episode cross products A_e'B_e, shape (E, a, b), for rows sorted by episode.

    One column pair at a time (memory O(rows), not O(rows·a·b)).
    """
    out = np.empty((len(starts), A.shape[1], B.shape[1]))
    for i in range(A.shape[1]):
        for j in range(B.shape[1]):
            out[:, i, j] = np.add.reduceat(A[:, i] * B[:, j], starts)
    return out


def _gls_cov(
    X: np.ndarray,
    Z: np.ndarray,
    ep_starts: np.ndarray,
    D: np.ndarray,
    scale: float,
    site_of_ep: np.ndarray | None = None,
    tau2: float = 0.0,
) -> np.ndarray:
    """Return (X' V^-1 X)^-1 for V = blockdiag(scale I + Z_e D Z_e') (+ tau2 11' per site).

    Rows must be sorted by episode; ``ep_starts`` are the first row of each episode.
    Woodbury per episode, written so that a singular ``D`` (boundary fit) is fine:
    (sI + Z D Z')^-1 = (I - Z (sI + D Z'Z)^-1 D Z') / s.
    A site random intercept adds tau2·11' per site, removed by Sherman-Morrison.
    """
    n, p = X.shape
    q = Z.shape[1]
    Xa = np.column_stack([X, np.ones(n)]) if site_of_ep is not None else X
    pa = Xa.shape[1]
    ztz = _cross_blocks(Z, Z, ep_starts)
    xtz = _cross_blocks(Xa, Z, ep_starts)
    m = scale * np.eye(q)[None] + np.einsum("ij,ejk->eik", D, ztz)
    rhs = np.einsum("ij,epj->eip", D, xtz)  # D Z'X, (E, q, pa)
    k = np.linalg.solve(m, rhs)  # stacked (E, q, q) solves
    corr = np.einsum("epq,eqr->epr", xtz, k)  # X'Z (sI + DZ'Z)^-1 D Z'X per episode
    if site_of_ep is None:
        a = (Xa.T @ Xa - corr.sum(axis=0)) / scale
    else:
        codes, inv = np.unique(site_of_ep, return_inverse=True)
        row_site = np.repeat(inv, np.diff(np.append(ep_starts, n)))
        gs = np.zeros((len(codes), pa, pa))
        np.add.at(gs, inv, corr)
        for s in range(len(codes)):  # loop over sites only (few)
            rows = Xa[row_site == s]
            gs[s] = (rows.T @ rows - gs[s]) / scale
        a = np.zeros((p, p))
        for s in range(len(codes)):  # loop over sites only (few)
            gv = gs[s, :p, p]
            c = gs[s, p, p]
            a += gs[s, :p, :p] - tau2 * np.outer(gv, gv) / (1 + tau2 * c)
    return np.linalg.inv(a)


# --------------------------------------------------------------------------------------------
# vectorized profiled REML (lme4's formulation) for large data
# --------------------------------------------------------------------------------------------


def _lambda(theta: np.ndarray, structure: str) -> np.ndarray:
    if structure == "slope":
        return np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    if structure == "uncorrelated":
        return np.array([[theta[0], 0.0], [0.0, theta[1]]])
    return np.array([[theta[0]]])


def _reml_suff(y, X, Z, starts) -> dict:
    """Per-episode sufficient statistics Z'Z (``ZtZ``, shape (E, q, q)) and Z'[X y] (``R``:
    one contiguous (E, p + 1) array per column of Z), and the global [X y]'[X y] (``G``).

    Built column by column (no copy of X; memory O(rows + E·q·p)); sums by einsum's C loop
    and reduceat (threaded BLAS crawls on a busy machine).
    """
    n, p = X.shape
    q = Z.shape[1]
    R = [np.empty((len(starts), p + 1)) for _ in range(q)]
    for i in range(q):
        for j in range(p):
            R[i][:, j] = np.add.reduceat(Z[:, i] * X[:, j], starts)
        R[i][:, p] = np.add.reduceat(Z[:, i] * y, starts)
    G = np.empty((p + 1, p + 1))
    G[:p, :p] = np.einsum("np,nq->pq", X, X)
    G[:p, p] = G[p, :p] = np.einsum("np,n->p", X, y)
    G[p, p] = np.einsum("n,n->", y, y)
    return {"ZtZ": _cross_blocks(Z, Z, starts), "R": R, "G": G, "n": n, "p": p, "q": q}


def _reml_profile(theta, S, structure, full=False, grad=False):
    r"""REML deviance profiled over beta and sigma (Bates et al. 2015, eqs. 34 and 41).

    With relative covariance factor Λ(θ) (D = σ²ΛΛ') and per-episode
    M_e = I + Λ'Z_e'Z_eΛ, the Woodbury identity gives [X y]'H⁻¹[X y] =
    G − Σ_e U_e'M_e⁻¹U_e with U_e = Λ'Z_e'[X y] (H = I + ZΛΛ'Z', V = σ²H); then
    d(θ) = Σ log|M_e| + log|X'H⁻¹X| + (n − p)(1 + log(2π r²/(n − p))).

    ``grad=True`` returns ``(d, ∂d/∂θ)``. With P = H⁻¹ − H⁻¹X(X'H⁻¹X)⁻¹X'H⁻¹ and
    ∂H/∂θ_k = Z C_k Z', C_k = Λ_kΛ' + ΛΛ_k' (Λ_k = ∂Λ/∂θ_k), the standard REML score
    (Harville 1977; Lindstrom & Bates 1988; here profiled, r² = y'Py) is

    .. math::
        \partial d/\partial\theta_k = \operatorname{tr}(P\,ZC_kZ')
        - \frac{n-p}{r^2}\,(Py)'ZC_kZ'(Py) = \operatorname{tr}(Q C_k)
        = 2\,(Q\Lambda)_{[k]},

    Q = Σ_e [Z_e'H_e⁻¹Z_e − B_e(X'H⁻¹X)⁻¹B_e'] − (n − p)/r² Σ_e v_e v_e', where
    B_e = Z_e'H_e⁻¹X_e and v_e = Z_e'H_e⁻¹(y_e − X_eβ̂) = Z_e'P y: only the diagonal
    (per-episode) blocks of P enter the trace, so the gradient is a sum over episodes of
    q×q and q×p terms from the same sufficient statistics (a few times one deviance).

    ``full=True`` returns β̂, σ̂², D, the REML log-likelihood and the fixed-effects covariance
    σ̂²(X'H⁻¹X)⁻¹ = (X'V⁻¹X)⁻¹ (lme4's ``vcov``, σ²(R_X'R_X)⁻¹; Laird & Ware 1982).
    """
    L = _lambda(theta, structure)
    p, q, n = S["p"], S["q"], S["n"]
    zz, zxy = S["ZtZ"], S["R"]
    bad = (np.inf, np.full(len(theta), np.nan)) if grad else np.inf
    # closed-form 2x2 algebra on contiguous per-episode columns (stacked matmul of tiny
    # matrices is slow); einsum's C loop for the sums (multithreaded BLAS on a busy machine
    # can be far slower)
    if q == 1:
        a = L[0, 0]
        det = 1.0 + a * a * zz[:, 0, 0]
        u0 = a * zxy[0]
        w0 = u0 / det[:, None]
        h = S["G"] - np.einsum("ep,eq->pq", u0, w0)
    else:
        a, b, c = L[0, 0], L[1, 0], L[1, 1]
        s00, s01, s11 = zz[:, 0, 0], zz[:, 0, 1], zz[:, 1, 1]
        m00 = 1.0 + a * a * s00 + 2 * a * b * s01 + b * b * s11
        m01 = c * (a * s01 + b * s11)
        m11 = 1.0 + c * c * s11
        det = m00 * m11 - m01 * m01
        u0 = a * zxy[0] + b * zxy[1]
        u1 = c * zxy[1]
        w0 = (m11[:, None] * u0 - m01[:, None] * u1) / det[:, None]
        w1 = (m00[:, None] * u1 - m01[:, None] * u0) / det[:, None]
        h = S["G"] - np.einsum("ep,eq->pq", u0, w0) - np.einsum("ep,eq->pq", u1, w1)
    xhx, xhy, yhy = h[:p, :p], h[:p, p], h[p, p]
    try:
        cf = np.linalg.cholesky(xhx)
    except np.linalg.LinAlgError:
        return bad if not full else None
    beta = np.linalg.solve(xhx, xhy)
    r2 = yhy - beta @ xhy
    if not np.all(det > 0) or r2 <= 0:
        return bad if not full else None
    dev = (
        np.sum(np.log(det))
        + 2 * np.sum(np.log(np.diag(cf)))
        + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
    )
    if grad:
        return float(dev), _reml_gradient(
            L, S, structure, det, w0, w1 if q == 2 else None, xhx, beta, r2
        )
    if not full:
        return float(dev)
    s2 = r2 / (n - p)
    return {
        "beta": beta,
        "scale": float(s2),
        "D": s2 * L @ L.T,
        "llf": float(-dev / 2),
        "vcov": s2 * np.linalg.inv(xhx),
    }


def _reml_gradient(L, S, structure, det, w0, w1, xhx, beta, r2):
    """∂d/∂θ of :func:`_reml_profile` from its per-episode pieces (formula there)."""
    p, q, n = S["p"], S["q"], S["n"]
    zz, zxy = S["ZtZ"], S["R"]
    coef = np.append(-beta, 1.0)  # [X y] @ coef = y - X beta
    xinv = np.linalg.inv(xhx)
    if q == 1:
        a = L[0, 0]
        s00 = zz[:, 0, 0]
        # Z'H^-1 [X y] = Z'[X y] - Z'Z Λ M^-1 Λ'Z'[X y]; Z'H^-1 Z = s - s² a² / m
        bf = [zxy[0] - (s00 * a)[:, None] * w0]
        tsum = np.array([[np.sum(s00 - s00 * s00 * a * a / det)]])
    else:
        a, b, c = L[0, 0], L[1, 0], L[1, 1]
        s00, s01, s11 = zz[:, 0, 0], zz[:, 0, 1], zz[:, 1, 1]
        lw0 = a * w0  # Λ W, W = M^-1 U
        lw1 = b * w0 + c * w1
        bf = [
            zxy[0] - s00[:, None] * lw0 - s01[:, None] * lw1,
            zxy[1] - s01[:, None] * lw0 - s11[:, None] * lw1,
        ]
        # N = Λ M^-1 Λ' per episode (symmetric), Z'H^-1 Z = S - S N S
        m00 = 1.0 + a * a * s00 + 2 * a * b * s01 + b * b * s11
        m01 = c * (a * s01 + b * s11)
        m11 = 1.0 + c * c * s11
        i00, i01, i11 = m11 / det, -m01 / det, m00 / det  # M^-1
        n00 = a * a * i00
        n01 = a * (b * i00 + c * i01)
        n11 = b * b * i00 + 2 * b * c * i01 + c * c * i11
        sn00 = s00 * n00 + s01 * n01
        sn01 = s00 * n01 + s01 * n11
        sn10 = s01 * n00 + s11 * n01
        sn11 = s01 * n01 + s11 * n11
        t00 = s00 - (sn00 * s00 + sn01 * s01)
        t01 = s01 - (sn00 * s01 + sn01 * s11)
        t11 = s11 - (sn10 * s01 + sn11 * s11)
        tsum = np.array([[t00.sum(), t01.sum()], [t01.sum(), t11.sum()]])
    v = [np.einsum("ep,p->e", bi, coef) for bi in bf]  # Z_e'P y per episode
    ci = [np.einsum("ep,pq->eq", bi[:, :p], xinv) for bi in bf]
    Q = np.empty((q, q))
    for i in range(q):
        for j in range(i, q):
            g_ij = np.einsum("ep,ep->", ci[i], bf[j][:, :p])
            vv = np.einsum("e,e->", v[i], v[j])  # not np.dot: threaded BLAS above 10^4
            Q[i, j] = Q[j, i] = tsum[i, j] - g_ij - (n - p) / r2 * vv
    gl = 2.0 * Q @ L
    if structure == "slope":
        return np.array([gl[0, 0], gl[1, 0], gl[1, 1]])
    if structure == "uncorrelated":
        return np.array([gl[0, 0], gl[1, 1]])
    return np.array([gl[0, 0]])


def _coordinate_probe(x, f, S, structure, bounds):
    """Deviance at x ± h·e_k (h = 1e-4·max(1, |x_k|)) within bounds; return the best point."""
    best_x, best_f = x, f
    for k in range(len(x)):
        h = 1e-4 * max(1.0, abs(x[k]))
        for step in (-h, h):
            z = np.array(x, float)
            z[k] += step
            lo = bounds[k][0]
            if lo is not None and z[k] < lo:
                continue
            fz = _reml_profile(z, S, structure)
            if fz < best_f:
                best_x, best_f = z, fz
    return best_x, best_f


def _canonical_theta(theta: np.ndarray, structure: str) -> np.ndarray:
    """θ with non-negative diagonal of Λ: ΛΛ' is unchanged by flipping the sign of a column
    of Λ, so the deviance is even in each column and the optimum can be sought unbounded."""
    t = np.array(theta, float)
    if structure == "slope":
        if t[0] < 0:
            t[:2] = -t[:2]
        t[2] = abs(t[2])
    else:
        t = np.abs(t)
    return t


def _nelder_mead(x0, S, structure, bounds, fatol):
    """Derivative-free simplex (simplex size 1e-8 in θ, function tolerance ``fatol``)."""
    from scipy import optimize

    opts = {"xatol": 1e-8, "fatol": fatol, "maxiter": 5000, "maxfev": 5000}
    return optimize.minimize(
        _reml_profile, x0, args=(S, structure), method="Nelder-Mead", bounds=bounds, options=opts
    )


def _quasi_newton(x0, S, structure, fatol):
    """L-BFGS-B on the analytic gradient, then Newton steps; returns (θ, dev, ok, nfev, msg).

    θ is unbounded here: ΛΛ' does not change when a column of Λ changes sign, so the
    deviance is even in each column and a boundary optimum (a variance of 0) is an interior
    minimum in θ (a bound would stop L-BFGS-B at θ_k = 0, where ∂d/∂θ_k = 0 by that
    symmetry); the diagonal is made non-negative at the end. L-BFGS-B stops at a projected
    gradient of 1e-6·|d|; its line search works on deviance differences, which rounding
    blurs near the optimum, so Newton steps on the gradient (Hessian by central differences
    of the analytic gradient, step 1e-5) finish the job until max|∂d/∂θ| ≤ 1e-10·|d|
    (``fatol``). A positive-definite Hessian there shows the point is a local minimum.
    """
    from scipy import optimize

    res = optimize.minimize(
        _reml_profile,
        x0,
        args=(S, structure, False, True),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 0.0, "gtol": 1e4 * fatol, "maxiter": 500, "maxfun": 1000},
    )
    nfev = int(res.nfev)
    x = np.asarray(res.x, float)
    f, g = _reml_profile(x, S, structure, grad=True)
    nfev += 1
    if not np.isfinite(f) or not np.all(np.isfinite(g)):
        return x, f, False, nfev, f"L-BFGS-B: {res.message}"
    k = len(x)
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(k)
        e[j] = h
        hess[:, j] = (
            _reml_profile(x + e, S, structure, grad=True)[1]
            - _reml_profile(x - e, S, structure, grad=True)[1]
        ) / (2 * h)
    nfev += 2 * k
    hess = (hess + hess.T) / 2
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return x, f, False, nfev, "the Hessian of the REML deviance is not positive definite"
    for _ in range(6):
        if np.max(np.abs(g)) <= fatol:
            break
        xn = x - np.linalg.solve(hess, g)
        fn, gn = _reml_profile(xn, S, structure, grad=True)
        nfev += 1
        if not (np.isfinite(fn) and np.max(np.abs(gn)) < np.max(np.abs(g))):
            break
        x, f, g = xn, fn, gn
    if np.max(np.abs(g)) > fatol:
        return x, f, False, nfev, f"gradient {np.max(np.abs(g)):.3g} after Newton steps"
    return _canonical_theta(x, structure), float(f), True, nfev, ""


def _fit_vectorized(df, y, X, random, starts, optimizer="l-bfgs-b"):
    """Profiled REML over the relative covariance factor Λ(θ) (as lme4; Bates et al. 2015).

    ``optimizer="l-bfgs-b"`` (default): quasi-Newton with the analytic gradient, finished
    by Newton steps (:func:`_quasi_newton`; about 30 deviance evaluations). If that fails,
    Nelder-Mead is tried from its end point. ``"nelder-mead"``: the derivative-free simplex
    alone (about 250-350 evaluations; the fitter before issue 12, kept to check one against
    the other). A Nelder-Mead solution is checked by probing each coordinate (a step must not
    lower the deviance; if one does, it restarts from there). Then the fallback chain as for
    MixedLM (correlated → independent intercept and slope → intercept only).

    Returns (fit, random structure used, optimizer label, attempt history); ``fit["nfev"]``
    counts deviance evaluations (with or without gradient) for the structure used.
    """
    week = df["week"].to_numpy(float)
    history = []
    for r in _RANDOM[_RANDOM.index(random) :]:
        Z = np.ones((len(df), 1)) if r == "intercept" else np.column_stack([np.ones(len(df)), week])
        S = _reml_suff(y, X, Z, starts)
        x0 = {"slope": [1.0, 0.0, 1.0], "uncorrelated": [1.0, 1.0], "intercept": [1.0]}[r]
        bounds = {
            "slope": [(0, None), (None, None), (0, None)],
            "uncorrelated": [(0, None)] * 2,
            "intercept": [(0, None)],
        }[r]
        # function (and gradient) tolerance relative to the deviance's size (the deviance is
        # a sum over all rows, so its rounding noise grows with n)
        f0 = _reml_profile(np.asarray(x0), S, r)
        nfev = 1
        fatol = 1e-10 * max(1.0, abs(f0)) if np.isfinite(f0) else 1e-6
        label = "nelder-mead (vectorized REML)"
        ok = False
        if optimizer == "l-bfgs-b":
            x, fx, ok, n_qn, msg = _quasi_newton(np.asarray(x0), S, r, fatol)
            nfev += n_qn
            if ok:
                label = "l-bfgs-b + newton (vectorized REML)"
            else:  # Nelder-Mead from where it stopped (or the default start)
                x0 = _canonical_theta(x, r) if np.isfinite(fx) else x0
        if not ok:
            res = _nelder_mead(x0, S, r, bounds, fatol)
            nfev += res.nfev
            ok = bool(res.success) and np.isfinite(res.fun)
            msg = "" if ok else str(res.message)
            x = res.x
            if ok:  # local check: no coordinate step of 1e-4 may lower the deviance
                for _ in range(2):
                    x_best, f_best = _coordinate_probe(res.x, res.fun, S, r, bounds)
                    nfev += 2 * len(x0)
                    if f_best >= res.fun - 10 * fatol:
                        break
                    res = _nelder_mead(x_best, S, r, bounds, fatol)
                    nfev += res.nfev
                else:
                    ok, msg = False, "Nelder-Mead solution is not a local minimum"
                x = res.x
        history.append((r, label, ok, msg))
        if ok:
            out = _reml_profile(x, S, r, full=True)
            out["Z"] = Z
            out["theta"] = np.asarray(x, float)
            out["nfev"] = nfev + 1
            return out, r, label, history
    raise DataError(
        "The mixed model did not converge with any random-effects structure: "
        + " | ".join(f"{r}: {m}" for r, _, _, m in history)
    )


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectoryResult(TableResult):
    """A fitted trajectory model (mixed-effects growth model or GEE).

    Attributes
    ----------
    fixed : DataFrame
        Fixed effects: ``term, estimate, se, statistic, pvalue, ci_low, ci_high``
        (Wald z; ``se`` from (X'V⁻¹X)⁻¹ for the mixed model, sandwich for GEE).
    means : DataFrame
        Model-based mean per week and group: ``week, group, estimate, se, ci_low, ci_high``.
    variance : DataFrame
        Variance components (mixed: ``level, term, variance, sd, corr``) or the GEE
        working-correlation parameter and scale.
    observed : DataFrame
        Observed mean per (rounded) week and group: ``week, group, n, mean, sd``.
    model_info : dict
        ``method, time, formula, r_formula, n_obs, n_episodes, converged, fallback, ...``.
    """

    fixed: pd.DataFrame = field(default_factory=pd.DataFrame)
    means: pd.DataFrame = field(default_factory=pd.DataFrame)
    variance: pd.DataFrame = field(default_factory=pd.DataFrame)
    observed: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_info: dict = field(default_factory=dict)
    _design: Any = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        """Whether the final fit converged (see ``model_info['fallback']``)."""
        return bool(self.model_info.get("converged", False))

    def to_frame(self, part: str = "fixed") -> pd.DataFrame:
        """Return a copy of one table: ``"fixed"`` (default), ``"means"``, ``"variance"``
        or ``"observed"``."""
        _check_choice("to_frame", "part", part, ("fixed", "means", "variance", "observed"))
        return getattr(self, part).copy()

    def _x(self, weeks: np.ndarray, groups: list) -> np.ndarray:
        import patsy

        des = self._design
        grid = pd.DataFrame({"week": np.asarray(weeks, float)})
        if des["has_group"]:
            grid["grp"] = groups
        grid = _time_columns(grid, des["time"], des["knot"])
        return np.asarray(patsy.build_design_matrices([des["design_info"]], grid)[0])

    def _linear_combination(self, L: np.ndarray, ci_level: float) -> tuple:
        b, V = self._design["params"], self._design["cov"]
        est = L @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        z = z_crit(ci_level)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.norm.sf(np.abs(est / se))
        return est, se, est - z * se, est + z * se, p

    def _check_week(self, week: float, name: str) -> None:
        des = self._design
        if des["time"] == "categorical" and float(week) not in des["week_levels"]:
            raise ConfigError(
                f"The {name!r} parameter of change must be one of the observed weeks "
                f"{des['week_levels']} for time='categorical'. Got {week!r} instead."
            )
        if not des["week_min"] - 1e-9 <= week <= des["week_max"] + 1e-9:
            warnings.warn(
                f"Week {week:g} is outside the observed weeks {des['week_min']:g}-"
                f"{des['week_max']:g}: the model extrapolates.",
                IOPWarning,
                stacklevel=3,
            )

    def change(
        self, week: float, *, from_week: float = 0, ci_level: float | None = None
    ) -> TableResult:
        """Model-based mean change from ``from_week`` (default 0, admission) to ``week``.

        For each group, the change is the linear combination (x_week − x_from)·b of the fixed
        effects, with standard error √(L V L') from the fixed-effects covariance V and a Wald
        z interval. Under the mixed model this is the likelihood-based (MAR) estimate of mean
        change: episodes with missing later weeks contribute through their observed scores.
        Rows ``group, from_week, week, estimate, se, ci_low, ci_high, pvalue, ci_level``;
        negative = scores went down. A second block of rows (``contrast``) gives the difference
        in change of each group vs the reference group.

        Examples
        --------
        >>> import iop_outcomes as iop
        >>> from iop_outcomes.trajectories import _example_data
        >>> res = iop.trajectories(_example_data(), group="format")
        >>> ch = res.change(week=6).to_frame()
        >>> list(ch.columns[:4])
        ['group', 'from_week', 'week', 'estimate']
        """
        ci_level = self.model_info["ci_level"] if ci_level is None else ci_level
        _check_ci_level("change", ci_level)
        self._check_week(week, "week")
        self._check_week(from_week, "from_week")
        des = self._design
        groups = des["levels"] if des["has_group"] else [None]
        g = list(groups)
        x1 = self._x(np.full(len(g), week), g)
        x0 = self._x(np.full(len(g), from_week), g)
        L = x1 - x0
        labels = [str(x) if x is not None else "all" for x in g]
        contrasts = []
        if des["has_group"] and len(g) > 1:
            Lc = L[1:] - L[0]
            L = np.vstack([L, Lc])
            contrasts = [f"{x} - {g[0]}" for x in g[1:]]
        est, se, lo, hi, p = self._linear_combination(L, ci_level)
        tab = pd.DataFrame(
            {
                "group": labels + contrasts,
                "contrast": [False] * len(labels) + [True] * len(contrasts),
                "from_week": float(from_week),
                "week": float(week),
                "estimate": est,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "pvalue": p,
                "ci_level": ci_level,
            }
        )
        tab = tab[
            [
                "group",
                "from_week",
                "week",
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "pvalue",
                "ci_level",
                "contrast",
            ]
        ]
        return TableResult(
            table=tab,
            title=f"Model-based mean change, week {from_week:g} to week {week:g}",
            method=self.method,
            params={"ci_level": ci_level},
            notes=(
                "Change = difference of model-based means (fixed effects only), Wald z CI; "
                "rows marked contrast=True are differences in change between groups.",
            ),
        )

    def plot(self, ax=None, **kwargs):
        """Model-based mean trajectories with CI bands (and observed means); returns the Axes."""
        from .plots.trajectories import plot_trajectories

        return plot_trajectories(self, ax=ax, **kwargs)

    def summary(self) -> str:
        parts = [self.title, "", "Fixed effects:"]
        parts.append(format_table(self.fixed, self.digits).to_string(index=False))
        parts += [
            "",
            "Variance components:"
            if self.model_info["method"] == "mixed"
            else "Working correlation:",
        ]
        parts.append(format_table(self.variance, 4).to_string(index=False))
        parts += ["", "Model-based means:"]
        parts.append(format_table(self.means, self.digits).to_string(index=False))
        parts += ["", *self._footer()]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        import html as _html

        def t(df, digits):
            return format_table(df, digits).to_html(index=False, border=0, classes="iop-table")

        head = f"<p><strong>{_html.escape(self.title)}</strong></p>"
        foot = "".join(f"<br><small>{_html.escape(s)}</small>" for s in self._footer())
        return (
            f"<div>{head}<p>Fixed effects</p>{t(self.fixed, self.digits)}"
            f"<p>Random effects / correlation</p>{t(self.variance, 4)}"
            f"<p>Model-based means</p>{t(self.means, self.digits)}{foot}</div>"
        )


# --------------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------------


def _fit_mixed(df, y, X, random, site, notes):
    """Fit MixedLM by REML with a fallback chain.

    Returns (result, random structure used, optimizer used, attempt history).
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

    chain_random = list(_RANDOM[_RANDOM.index(random) :])
    if site is not None and chain_random[0] == "slope":
        chain_random = chain_random[1:]
        notes.append(
            "With a site level, the episode random intercept and slope are independent "
            "variance components nested in site (statsmodels MixedLM), as R "
            "(1 + week || episode_id) + (1 | site)."
        )
    week = df["week"].to_numpy(float)
    ones = np.ones(len(df))
    site_mats: dict[str, list] = {}
    if site is not None:
        # per site (sorted, the order MixedLM uses): indicator matrix of its episodes and
        # indicator x week, as independent variance components within site
        sites = df["site"].to_numpy()
        eps = df["ep"].to_numpy()
        site_mats = {"ep": [], "ep_week": [], "names": []}
        for s in np.unique(sites):
            rows = np.flatnonzero(sites == s)
            codes, inv = np.unique(eps[rows], return_inverse=True)
            ind = np.zeros((len(rows), len(codes)))
            ind[np.arange(len(rows)), inv] = 1.0
            site_mats["ep"].append(ind)
            site_mats["ep_week"].append(ind * week[rows, None])
            site_mats["names"].append([str(c) for c in codes])
    history = []
    for r in chain_random:
        tried: list = []
        for opt in ("bfgs", "lbfgs", "powell"):
            free = None
            if site is None:
                exog_re = ones[:, None] if r == "intercept" else np.column_stack([ones, week])
                model = MixedLM(y, X, groups=df["ep"].to_numpy(), exog_re=exog_re)
                if r == "uncorrelated":
                    free = MixedLMParams.from_components(
                        fe_params=np.ones(X.shape[1]), cov_re=np.eye(2)
                    )
            else:
                comps = ["ep"] if r == "intercept" else ["ep", "ep_week"]
                spec = VCSpec(
                    comps,
                    [site_mats["names"]] * len(comps),
                    [site_mats[c] for c in comps],
                )
                model = MixedLM(
                    y, X, groups=df["site"].to_numpy(), exog_re=ones[:, None], exog_vc=spec
                )
                if list(map(str, model.group_labels)) != list(map(str, np.unique(sites))):
                    raise RuntimeError("internal: site order differs from MixedLM's groups")
            kw = {"gtol": 1e-8} if opt == "bfgs" else {}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    res = model.fit(reml=True, method=[opt], free=free, **kw)
                    ok = bool(res.converged) and bool(np.all(np.isfinite(res.fe_params)))
                    err = None
                except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - rare
                    res, ok, err = None, False, str(exc)
            msgs = sorted(
                {
                    str(w.message).split("\n")[0]
                    for w in caught
                    if issubclass(w.category, (SMConvergenceWarning, RuntimeWarning))
                }
            )
            history.append((r, opt, ok, err or "; ".join(msgs)))
            if res is not None and np.isfinite(res.llf) and np.all(np.isfinite(res.fe_params)):
                tried.append((float(res.llf), opt, res))
            if ok:
                # the strict-tolerance BFGS run often stops with "precision loss" at the
                # optimum: once any optimizer converges, report the attempt (same random
                # structure) with the highest REML log-likelihood
                best_llf, best_opt, best = max(tried, key=lambda t: t[0])
                if best_llf < float(res.llf) - 1e-8:  # pragma: no cover - defensive
                    best_opt, best = opt, res
                return best, r, best_opt, history
    raise DataError(
        "The mixed model did not converge with any random-effects structure or optimizer: "
        + " | ".join(f"{r}/{o}: {m}" for r, o, _, m in history)
    )


def _fit_gee(df, y, X, corr):
    from statsmodels.genmod import cov_struct as cs
    from statsmodels.genmod.generalized_estimating_equations import GEE
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

    history = []
    chain = [(corr, 60), (corr, 500)]
    if corr != "independence":
        chain.append(("independence", 60))
    for c, maxiter in chain:
        if c == "exchangeable":
            struct = cs.Exchangeable()
        elif c == "ar1":
            struct = cs.Autoregressive(grid=True)
        else:
            struct = cs.Independence()
        # rows are sorted by episode and week: AR(1) is over the order of observed scores
        model = GEE(y, X, groups=df["ep"].to_numpy(), cov_struct=struct)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = model.fit(maxiter=maxiter)
        bad = [
            str(w.message).split("\n")[0]
            for w in caught
            if issubclass(w.category, SMConvergenceWarning)
        ]
        ok = not bad and bool(np.all(np.isfinite(res.params)))
        history.append((c, f"maxiter={maxiter}", ok, "; ".join(bad)))
        if ok:
            return res, c, history
    raise DataError(
        "GEE did not converge: " + " | ".join(f"{c}/{o}: {m}" for c, o, _, m in history)
    )


def trajectories(
    data: pd.DataFrame,
    *,
    instrument: str | None = "PHQ-9",
    group: str | None = "format",
    time: str = "linear",
    method: str = "mixed",
    site: str | None = None,
    knot: float = 2,
    random: str = "slope",
    corr: str = "exchangeable",
    reference: Any = None,
    ci_level: float = 0.95,
    max_week: float | None = None,
    engine: str = "auto",
) -> TrajectoryResult:
    r"""Growth model of weekly scores by group: mixed-effects (REML) or GEE.

    Mixed model (``method="mixed"``), for score :math:`y_{ij}` of episode *i* at week
    :math:`t_{ij}`:

    .. math::
        y_{ij} = x_{ij}'\beta + b_{0i} + b_{1i} t_{ij} + \varepsilon_{ij},\quad
        (b_{0i}, b_{1i})' \sim N(0, D),\ \varepsilon_{ij} \sim N(0, \sigma^2)

    where :math:`x_{ij}` holds time (per ``time``), group and their interaction. Fitted by
    REML (Laird & Ware 1982; see ``engine``); the fixed-effects covariance is
    :math:`(X'V^{-1}X)^{-1}` at the REML estimates (as ``lme4::vcov``), and model-based means
    are :math:`\hat\mu = X_0\hat\beta` with Wald CI
    :math:`\hat\mu \pm z\sqrt{\operatorname{diag}(X_0 V_\beta X_0')}` (as ``emmeans`` with
    ``lmer.df = "asymptotic"``). GEE (``method="gee"``) solves
    :math:`\sum_i X_i' R_i(\alpha)^{-1}(y_i - X_i\beta) = 0` with a working correlation
    :math:`R(\alpha)` and reports sandwich standard errors (Liang & Zeger 1986).

    Parameters
    ----------
    data : DataFrame
        Assessment rows (``iop.load(...).data``): ``episode_id``, ``instrument``, ``total`` and
        ``week`` or ``assessment_date`` + ``admit_date`` (week = days / 7). With
        ``discharge_date`` or a ``timepoint`` column, only in-treatment scores are kept
        (admission ≤ date ≤ discharge; follow-ups are excluded and counted in the notes).
    instrument : str or None
        Instrument to model (any accepted spelling). ``None`` if the data hold one instrument.
    group : str or None
        Episode-level group column (``"format"``); ``None`` fits one overall trajectory.
    time : {"linear", "quadratic", "piecewise", "categorical"}
        Shape of the mean trajectory: week; week + week²; two linear pieces joined at
        ``knot`` (terms ``week_to_K`` = min(week, K) and ``week_after_K`` = max(week − K, 0));
        or a separate mean per integer week (week rounded to the nearest integer).
        The random slope is always on (linear) week.
    method : {"mixed", "gee"}
        Subject-specific mixed model (default) or population-averaged GEE.
    site : str or None
        Column for a site (program) random intercept, mixed model only. The episode random
        intercept and slope then become independent variance components nested in site.
    knot : float
        Knot (weeks) for ``time="piecewise"``.
    random : {"slope", "uncorrelated", "intercept"}
        Episode random effects: correlated intercept and slope (default), independent
        intercept and slope, or intercept only. If a fit fails, later options are tried
        (see Notes).
    corr : {"exchangeable", "ar1", "independence"}
        GEE working correlation. AR(1) is statsmodels' ``Autoregressive``: corr = α^|j−k|
        between an episode's j-th and k-th observed scores (in week order; gaps between
        weeks are ignored), α = mean lag-1 residual product / mean squared residual (averaged
        within episode). geepack's ``corstr = "ar1"`` estimates α differently (0.853 vs
        0.695 on the test data), so its coefficients differ slightly; GEE coefficients are
        consistent under any working correlation, which affects efficiency only.
    reference : str, optional
        Reference group for the contrasts (default ``"in_person"`` if present, else the first
        level in sorted order).
    ci_level : float
        Confidence level of all intervals.
    max_week : float, optional
        Drop scores after this week (e.g. sparse late weeks).
    engine : {"auto", "statsmodels", "vectorized"}
        Mixed-model fitter. ``"statsmodels"``: ``MixedLM`` (loops over episodes; about
        1-4 s per 1,000 episodes). ``"vectorized"``: the same REML criterion profiled over
        β and σ as in lme4 (Bates et al. 2015), computed from per-episode sufficient
        statistics with numpy and minimised over the relative covariance factor by L-BFGS-B
        with the analytic gradient, finished by Newton steps (about 25 deviance evaluations;
        Nelder-Mead if that fails, then checked by probing each coordinate); the
        fixed-effects covariance σ²(X'H⁻¹X)⁻¹ comes from the same sums (no site level).
        ``"auto"`` (default) uses the vectorized fitter, or statsmodels with a site level.
        Both match lme4 to ~1e-6 on the reference data (including a boundary fit) and each
        other to ~1e-7; the vectorized fitter is 50-100 times faster (100,000 episodes in
        seconds).

    Returns
    -------
    TrajectoryResult
        ``.fixed``, ``.means``, ``.variance``, ``.observed``, ``.model_info``, ``.change(week)``,
        ``.plot()``, ``to_frame(part)``.

    Notes
    -----
    Convergence: each fit is checked (statsmodels' ``converged`` flag and convergence
    warnings). If BFGS (gradient tolerance 1e-8, tight enough to match lme4 to ~1e-7) does not
    report convergence, L-BFGS then Powell are tried; once one converges, the attempt with the
    highest REML log-likelihood is reported (``model_info["optimizer"]``, ``["attempts"]``
    and a note). If no optimizer converges, the random part is simplified (correlated →
    independent intercept and slope → intercept only): ``model_info["fallback"]`` says what was
    used and a :class:`~iop_outcomes.ConvergenceWarning` is issued. A converged fit on the boundary (slope variance 0 or correlation ±1, lme4's
    "singular fit") is kept and flagged (``model_info["singular"]``), as lme4 does.
    p-values and CIs are Wald z (asymptotic); lmerTest's Satterthwaite df give practically the
    same values with hundreds of episodes.

    References
    ----------
    Laird NM, Ware JH (1982). Random-effects models for longitudinal data. Biometrics 38:963.
    Liang KY, Zeger SL (1986). Longitudinal data analysis using generalized linear models.
    Biometrika 73:13.
    Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models using
    lme4. J Stat Softw 67(1).
    Singer JD, Willett JB (2003). Applied Longitudinal Data Analysis. Oxford UP (piecewise and
    discontinuous growth models, ch. 6).

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> from iop_outcomes.trajectories import _example_data
    >>> res = iop.trajectories(_example_data(), group="format")
    >>> res.model_info["converged"], res.model_info["n_episodes"]
    (True, 40)
    >>> list(res.means.columns)
    ['week', 'group', 'estimate', 'se', 'ci_low', 'ci_high', 'ci_level']
    """
    func = "trajectories"
    _check_choice(func, "time", time, _TIME_FORMS)
    _check_choice(func, "method", method, _METHODS)
    _check_choice(func, "random", random, _RANDOM)
    _check_choice(func, "corr", corr, _CORR)
    _check_choice(func, "engine", engine, _ENGINES)
    if engine == "vectorized" and site is not None:
        raise ConfigError(
            "The 'engine' parameter of trajectories must be 'statsmodels' or 'auto' with a "
            "site level. Got 'vectorized' instead."
        )
    _check_ci_level(func, ci_level)
    if not isinstance(knot, (int, float)) or knot <= 0:
        raise ConfigError(
            f"The 'knot' parameter of {func} must be a positive number. Got {knot!r} instead."
        )
    if method == "gee" and site is not None:
        raise ConfigError(
            "The 'site' parameter of trajectories is available with method='mixed' only "
            "(a site random intercept); for GEE add site as a covariate upstream or use the "
            "mixed model."
        )
    prep = _prepare(
        data,
        func=func,
        instrument=instrument,
        group=group,
        site=site,
        max_week=max_week,
        reference=reference,
    )
    df = prep.df
    notes = list(prep.notes)
    has_group = prep.group is not None and len(prep.levels) > 1
    if prep.group is not None and not has_group:
        notes.append(f"Only one {prep.group!r} level ({prep.levels[0]!r}): one trajectory fitted.")
    n_ep = df["ep"].nunique()
    if n_ep < 3:
        raise DataError(f"{func} needs at least 3 episodes with scores; got {n_ep}.")
    if df["week"].nunique() < 2:
        raise DataError(f"{func} needs scores at 2 or more different weeks.")
    if time == "piecewise" and not (df["week"].min() < knot < df["week"].max()):
        raise ConfigError(
            f"The 'knot' parameter of {func} must lie inside the observed weeks "
            f"({df['week'].min():g}-{df['week'].max():g}). Got {knot!r} instead."
        )
    if time == "categorical" and not np.allclose(df["week"], df["weekr"]):
        notes.append("time='categorical': weeks rounded to the nearest integer week.")
    df = _time_columns(df, time, knot)
    week_levels = sorted(df["weekr"].unique().tolist())
    formula = _formula(time, has_group, prep.reference, week_levels[0])
    ep_codes, ep_starts = np.unique(df["ep"].to_numpy(), return_index=True)
    gname = prep.group or "group"
    import patsy

    if has_group:
        df["grp"] = pd.Categorical(df["grp"], categories=prep.levels)
    if time == "categorical":
        df["week_c"] = pd.Categorical(df["week_c"], categories=week_levels)
    # the Categorical columns go in bare: patsy's C(...) wrapper skips its pandas.Categorical
    # fast path and converts value by value in Python (seconds per 100,000 rows)
    bare = formula.replace("C(grp)", "grp").replace("C(week_c)", "week_c")
    yd, Xd = patsy.dmatrices(bare, df, NA_action="raise")
    design_info = Xd.design_info
    names = list(design_info.column_names)
    y = np.asarray(yd, float).ravel()
    X = np.asarray(Xd, float)

    info: dict[str, Any] = {"method": method, "time": time}
    if method == "mixed":
        if engine == "auto":
            engine = "vectorized" if prep.site is None else "statsmodels"
        if engine == "vectorized":
            res, used_random, opt, history = _fit_vectorized(df, y, X, random, ep_starts)
            fe, scale, D, llf = res["beta"], res["scale"], res["D"], res["llf"]
        else:
            res, used_random, opt, history = _fit_mixed(df, y, X, random, prep.site, notes)
            fe = np.asarray(res.fe_params, float)
            scale = float(res.scale)
            llf = float(res.llf)
        if used_random == "intercept":
            Z = np.ones((len(df), 1))
        else:
            Z = np.column_stack([np.ones(len(df)), df["week"].to_numpy(float)])
        if prep.site is None:
            if engine != "vectorized":
                D = np.atleast_2d(np.asarray(res.cov_re, float))
            tau2 = 0.0
            site_of_ep = None
        else:
            vcomp = np.asarray(res.vcomp, float) * 1.0
            D = np.diag(vcomp)  # order: ep, ep_week (alphabetical names in vc_formula)
            tau2 = float(np.asarray(res.cov_re)[0, 0])
            site_of_ep = df["site"].to_numpy()[ep_starts]
        if engine == "vectorized":  # σ²(X'H⁻¹X)⁻¹ from the profiled fit itself
            cov = np.asarray(res["vcov"], float)
        else:
            cov = _gls_cov(X, Z, ep_starts, D, scale, site_of_ep, tau2)
        # variance components
        rows = [{"level": "episode", "term": "Intercept", "variance": D[0, 0]}]
        if D.shape[0] == 2:
            rows.append({"level": "episode", "term": "week", "variance": D[1, 1]})
            if used_random == "slope":
                rows.append({"level": "episode", "term": "Intercept:week", "variance": D[0, 1]})
        if prep.site is not None:
            rows.append({"level": prep.site, "term": "Intercept", "variance": tau2})
        rows.append({"level": "residual", "term": "", "variance": scale})
        var = pd.DataFrame(rows)
        var["sd"] = np.where(
            var["term"].str.contains(":"), np.nan, np.sqrt(np.clip(var["variance"], 0, None))
        )
        var["corr"] = np.nan
        if used_random == "slope" and D.shape[0] == 2:
            denom = np.sqrt(D[0, 0] * D[1, 1])
            var.loc[var["term"] == "Intercept:week", "corr"] = (
                D[0, 1] / denom if denom > 0 else np.nan
            )
        singular = bool(
            np.any(np.diag(D) < 1e-6 * scale)
            or (
                used_random == "slope"
                and D.shape[0] == 2
                and abs(var["corr"].dropna().iloc[0] if var["corr"].notna().any() else 0) > 0.999
            )
            or (prep.site is not None and tau2 < 1e-6 * scale)
        )
        fallback = "none"
        if used_random == history[0][0] and not history[0][2]:
            conv = next(o for rr, o, ok, _ in history if ok and rr == used_random)
            notes.append(
                f"BFGS did not report convergence ({history[0][3] or 'not converged'}); "
                f"{conv} converged. Estimates are from the attempt with the highest REML "
                f"log-likelihood ({opt})."
            )
        if used_random != history[0][0]:
            fallback = f"random={used_random!r}, optimizer={opt!r}"
            failed = "; ".join(
                f"{r}/{o}: {m or 'not converged'}" for r, o, ok, m in history if not ok
            )
            msg = f"The requested mixed model did not converge ({failed}). Used {fallback} instead."
            notes.append(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        if singular:
            msg = (
                "Boundary (singular) fit: a random-effect variance is estimated at 0 or the "
                "intercept-slope correlation at ±1 (lme4 reports the same). Fixed effects and "
                "means are valid; consider random='intercept' or 'uncorrelated'."
            )
            notes.append(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        info.update(
            converged=True,
            fallback=fallback,
            optimizer=opt,
            random=used_random,
            singular=singular,
            reml=True,
            loglik=llf,
            engine=engine,
        )
        re_label = {
            "slope": "intercept + slope (correlated)",
            "uncorrelated": "intercept + slope (independent)",
            "intercept": "intercept",
        }[used_random]
        fitter = "statsmodels MixedLM" if engine == "statsmodels" else "vectorized profiled REML"
        method_label = (
            f"Linear mixed model (REML, {fitter}), random {re_label} per episode"
            + (f" + random intercept per {prep.site}" if prep.site else "")
            + f"; time={time}; Wald z CIs"
        )
    else:
        res, used_corr, history = _fit_gee(df, y, X, corr)
        fe = np.asarray(res.params, float)
        cov = np.asarray(res.cov_params(), float)  # robust (sandwich)
        dep = (
            np.atleast_1d(np.asarray(res.cov_struct.dep_params, float))
            if used_corr != "independence"
            else np.array([0.0])
        )
        var = pd.DataFrame(
            {
                "level": ["episode", "residual"],
                "term": [f"{used_corr} correlation (alpha)", "scale"],
                "variance": [float(dep[0]), float(res.scale)],
            }
        )
        fallback = "none"
        if used_corr == corr and len(history) > 1:
            notes.append(f"GEE needed {history[-1][1]} iterations ({history[0][3]}).")
        if used_corr != corr:
            fallback = f"corr={used_corr!r}, {history[-1][1]}"
            msg = (
                "GEE did not converge as requested ("
                + "; ".join(f"{c}/{o}: {m}" for c, o, ok, m in history if not ok)
                + f"). Used {fallback} instead."
            )
            notes.append(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        info.update(converged=True, fallback=fallback, corr=used_corr, singular=False)
        method_label = (
            f"GEE (identity link, {used_corr} working correlation within episode, "
            f"robust sandwich SE); time={time}; Wald z CIs"
        )

    se = np.sqrt(np.diag(cov))
    z = z_crit(ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        zstat = fe / se
    fixed = pd.DataFrame(
        {
            "term": [_pretty_term(t, gname, knot) for t in names],
            "estimate": fe,
            "se": se,
            "statistic": zstat,
            "pvalue": 2 * stats.norm.sf(np.abs(zstat)),
            "ci_low": fe - z * se,
            "ci_high": fe + z * se,
        }
    )

    wmin, wmax = float(df["week"].min()), float(df["week"].max())
    design = {
        "design_info": design_info,
        "params": fe,
        "cov": cov,
        "time": time,
        "knot": knot,
        "has_group": has_group,
        "levels": prep.levels if has_group else [],
        "week_levels": week_levels,
        "week_min": wmin,
        "week_max": wmax,
    }
    if time == "categorical":
        grid_weeks = np.array(week_levels, float)
    else:
        grid_weeks = np.arange(np.floor(wmin + 0.5) if wmin > 0.5 else 0.0, np.floor(wmax) + 1)
    glist = prep.levels if has_group else [None]
    gw = np.repeat(grid_weeks, len(glist))
    gg = list(glist) * len(grid_weeks)
    result_stub = TrajectoryResult(table=fixed, _design=design, model_info={"ci_level": ci_level})
    X0 = result_stub._x(gw, gg)
    est, mse, lo, hi, _ = result_stub._linear_combination(X0, ci_level)
    means = pd.DataFrame(
        {
            "week": gw,
            "group": [str(x) if x is not None else "all" for x in gg],
            "estimate": est,
            "se": mse,
            "ci_low": lo,
            "ci_high": hi,
            "ci_level": ci_level,
        }
    )
    gcol_obs = df["grp"] if has_group else pd.Series("all", index=df.index)
    observed = (
        df.assign(group=gcol_obs.astype(str))
        .groupby(["weekr", "group"], sort=True)["y"]
        .agg(n="size", mean="mean", sd="std")
        .reset_index()
        .rename(columns={"weekr": "week"})
    )
    r_formula = _r_formula(
        time, prep.group if has_group else None, prep.site, info.get("random", random), knot
    )
    if method == "gee":
        r_formula = (
            r_formula.split(" + (")[0]
            + f"  [geepack::geeglm, id = episode_id, corstr = {info['corr']!r}]"
        )
    info.update(
        formula=formula,
        r_formula=r_formula,
        n_obs=int(len(df)),
        n_episodes=int(n_ep),
        n_rows_input=int(prep.n_rows),
        n_excluded=int(prep.n_rows - len(df)),
        excluded=prep.excluded,
        instrument=prep.instrument,
        group=prep.group,
        reference=prep.reference if has_group else None,
        site=prep.site,
        knot=knot if time == "piecewise" else None,
        ci_level=ci_level,
        attempts=[{"structure": a, "option": b, "ok": c, "messages": m} for a, b, c, m in history],
    )
    if prep.site is not None:
        info["n_sites"] = int(df["site"].nunique())
    title = (
        f"{prep.instrument or 'Score'} trajectories"
        + (f" by {prep.group}" if has_group else "")
        + f" ({'mixed model' if method == 'mixed' else 'GEE'}, {time} time): "
        f"{n_ep:,} episodes, {len(df):,} scores"
    )
    return TrajectoryResult(
        table=fixed,
        title=title,
        method=method_label,
        params={"ci_level": ci_level, "formula (R)": r_formula},
        notes=tuple(notes),
        fixed=fixed,
        means=means,
        variance=var,
        observed=observed,
        model_info=info,
        _design=design,
    )


# --------------------------------------------------------------------------------------------
# early change
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlyChangeResult(TableResult):
    """Early-change table (see :func:`early_change`); ``episodes`` holds per-episode values."""

    episodes: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    def plot(self, ax=None, **kwargs):
        """Bar chart of the early-change share by group; returns the Axes."""
        from .plots.trajectories import plot_early_change

        return plot_early_change(self, ax=ax, **kwargs)


def early_change(
    data: pd.DataFrame,
    *,
    instrument: str | None = "PHQ-9",
    group: str | None = "format",
    week: int = 2,
    threshold: float = 0.5,
    better_is: str | None = None,
    ci_level: float = 0.95,
    max_week: float | None = None,
) -> EarlyChangeResult:
    r"""How much of the improvement happened by an early week (default week 2).

    Per episode, with baseline :math:`y_0` (score in week 0, i.e. week < 0.5), early score
    :math:`y_k` (last score whose week rounds to ``week``) and endpoint :math:`y_{end}` (last
    in-treatment score after week ``week``), improvement is signed so that positive = better
    (:math:`y_0 - y` when lower is better):

    .. math::
        s_i = \frac{y_{0} - y_{k}}{y_{0} - y_{end}}

    Two summaries per group:

    * ``estimate`` -- the share of *improved* episodes (:math:`y_0 - y_{end} > 0`) with
      :math:`s_i \ge` ``threshold`` (default 0.5: at least half of the episode's total
      improvement by week 2), with a Wilson CI; ``n_used`` is that denominator.
    * ``share_of_change`` -- the ratio of mean early improvement to mean total improvement,
      :math:`\bar{(y_0-y_k)}/\bar{(y_0-y_{end})}`, over all episodes with the three scores
      (``n_complete``): the fraction of the group's average change achieved by week ``week``.

    These are descriptive definitions chosen for this library (there is no single standard);
    they operationalise the "early rapid response" pattern in psychotherapy (Ilardi &
    Craighead 1994) and the week-2 window of early improvement used for antidepressants
    (Szegedi et al. 2009 use a ≥ 20 % reduction from baseline by week 2). Episodes without a
    week-0, week-``week`` or later score are not used (counted in ``n`` − ``n_complete``).

    Parameters
    ----------
    data : DataFrame
        Assessment rows, as for :func:`trajectories` (in-treatment scores only are used).
    instrument, group, max_week
        As for :func:`trajectories`.
    week : int
        The early week (default 2).
    threshold : float
        Share of an episode's own improvement that counts as "early" (default 0.5).
    better_is : {"lower", "higher"}, optional
        Default: the instrument's direction (PHQ-9, GAD-7: lower).
    ci_level : float
        Level of the Wilson interval.

    References
    ----------
    Ilardi SS, Craighead WE (1994). The role of nonspecific factors in cognitive-behavior
    therapy for depression. Clin Psychol Sci Pract 1:138-156.
    Szegedi A, Jansen WT, van Willigenburg AP, et al. (2009). Early improvement in the first
    2 weeks as a predictor of treatment outcome in patients with major depressive disorder:
    a meta-analysis including 6562 patients. J Clin Psychiatry 70:344-353.
    Wilson EB (1927). Probable inference... JASA 22:209 (interval).

    Examples
    --------
    >>> import pandas as pd
    >>> from iop_outcomes.trajectories import early_change
    >>> d = pd.DataFrame({"episode_id": ["a"] * 3 + ["b"] * 3, "instrument": "PHQ-9",
    ...                   "week": [0, 2, 6] * 2, "total": [20, 12, 10, 18, 16, 8]})
    >>> t = early_change(d, group=None).to_frame()
    >>> t.loc[0, ["n_used", "n_early", "estimate", "share_of_change"]].astype(float).tolist()
    [2.0, 1.0, 0.5, 0.5]
    """
    func = "early_change"
    _check_ci_level(func, ci_level)
    if not isinstance(week, (int, np.integer)) or week < 1:
        raise ConfigError(
            f"The 'week' parameter of {func} must be a positive integer. Got {week!r} instead."
        )
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ConfigError(
            f"The 'threshold' parameter of {func} must be in (0, 1]. Got {threshold!r} instead."
        )
    prep = _prepare(
        data, func=func, instrument=instrument, group=group, site=None, max_week=max_week
    )
    if better_is is None:
        try:
            better_is = _instruments.get(prep.instrument).better_is
        except Exception:
            better_is = "lower"
    _check_choice(func, "better_is", better_is, ("lower", "higher"))
    sign = 1.0 if better_is == "lower" else -1.0
    df = prep.df
    has_group = prep.group is not None
    ep = df.groupby("ep", sort=True)
    first = df[df["week"] < 0.5].groupby("ep")["y"].first()
    early = df[df["weekr"] == week].groupby("ep")["y"].last()
    end = df[df["week"] >= week + 0.5].groupby("ep")["y"].last()
    per = pd.DataFrame(index=ep.size().index)
    per["group"] = ep["grp"].first().astype(str) if has_group else "all"
    per["baseline"] = first
    per["early"] = early
    per["endpoint"] = end
    per["early_improvement"] = sign * (per["baseline"] - per["early"])
    per["total_improvement"] = sign * (per["baseline"] - per["endpoint"])
    complete = per[["baseline", "early", "endpoint"]].notna().all(axis=1)
    per["complete"] = complete
    improved = complete & (per["total_improvement"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per["share"] = np.where(
            improved, per["early_improvement"] / per["total_improvement"], np.nan
        )
    per["early_changer"] = improved & (per["share"] >= threshold)
    per["improved"] = improved
    g = per.groupby("group", sort=True)
    tab = pd.DataFrame(
        {
            "n": g.size(),
            "n_complete": g["complete"].sum().astype(int),
            "n_used": g["improved"].sum().astype(int),
            "n_early": g["early_changer"].sum().astype(int),
        }
    )
    tab["estimate"] = tab["n_early"] / tab["n_used"].where(tab["n_used"] > 0)
    lo, hi = wilson_ci(tab["n_early"].to_numpy(), tab["n_used"].to_numpy(), ci_level)
    tab["ci_low"], tab["ci_high"] = lo, hi
    tab["ci_level"] = ci_level
    tab["median_share"] = g["share"].median()
    cp = per[complete].groupby("group")
    tab["mean_early_improvement"] = cp["early_improvement"].mean()
    tab["mean_total_improvement"] = cp["total_improvement"].mean()
    tab["share_of_change"] = tab["mean_early_improvement"] / tab["mean_total_improvement"]
    tab = tab.reset_index()
    if has_group and prep.reference in list(tab["group"]):
        order = [prep.reference] + [x for x in tab["group"] if x != prep.reference]
        tab = tab.set_index("group").loc[order].reset_index()
    notes = list(prep.notes)
    notes.append(
        f"estimate = share of improved episodes with >= {threshold:.0%} of their own improvement "
        f"by week {week} (Wilson CI); share_of_change = mean improvement to week {week} / mean "
        "improvement to the last in-treatment score (episodes with all three scores)."
    )
    return EarlyChangeResult(
        table=tab,
        title=f"Early change by week {week} ({prep.instrument})",
        method=f"early change share, threshold={threshold:g}, better_is={better_is}",
        params={"week": week, "threshold": threshold, "ci_level": ci_level},
        notes=tuple(notes),
        episodes=per.reset_index().rename(columns={"ep": "episode_id"}),
    )


def _example_data(n_episodes: int = 40, seed: int = 1) -> pd.DataFrame:
    """Small deterministic weekly PHQ-9 data set for examples (two formats, weeks 0-6)."""
    rng = np.random.default_rng(seed)
    e = np.repeat(np.arange(n_episodes), 7)
    w = np.tile(np.arange(7), n_episodes)
    virtual = (np.arange(n_episodes) % 2).astype(int)
    b0 = rng.normal(0, 3, n_episodes)
    b1 = rng.normal(0, 0.4, n_episodes)
    y = 17 - 1.2 * w + 0.05 * w**2 + 0.5 * virtual[e] + b0[e] + b1[e] * w + rng.normal(0, 2, e.size)
    keep = (w == 0) | (rng.random(e.size) > 0.15)
    return pd.DataFrame(
        {
            "episode_id": [f"E{i:03d}" for i in e[keep]],
            "instrument": "PHQ-9",
            "week": w[keep],
            "total": np.clip(np.rint(y[keep]), 0, 27),
            "format": np.where(virtual[e[keep]] == 1, "virtual", "in_person"),
        }
    )
