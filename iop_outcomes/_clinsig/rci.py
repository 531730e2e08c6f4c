"""Reliable change indices of the distribution approach (Jacobson-Truax and its successors).

:func:`reliable_change` is a short pipeline: where the threshold comes from, then either the
fixed threshold in points or the reliability and SD, then one index per method (each a step
named after its authors; formulas in :func:`iop_outcomes.clinical_significance`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _dist
from .._stats import z_crit
from ..exceptions import ConfigError, DataError
from .common import reliability_value
from .results import SAMPLE_ONLY

_FUNC = "clinical_significance"


def reliable_change(
    method,
    params,
    base,
    notes,
    *,
    inst,
    x,
    y,
    xu,
    yu,
    used,
    n_used,
    d,
    reliability,
    reliability_post,
    sd,
    threshold,
    clinical_mean,
):
    """Reliable change by one of the distribution approach's RCIs.

    Fills ``params`` and ``notes``; returns (improved, deteriorated, rci, threshold source).
    """
    source, fixed_points, points_source = _threshold_source(method, threshold, reliability_post)
    params.update(threshold_source=source, **base)
    if source == "fixed":
        return _fixed(
            method, params, notes, inst, x, y, used, d, reliability, sd, fixed_points, points_source
        )
    r, sd_used, m_pre = _reliability_and_sd(
        method, params, notes, inst, xu, n_used, source, reliability, sd, clinical_mean
    )
    crit = z_crit(0.95)
    change = y - x
    if method == "jacobson-truax":
        rci = _jacobson_truax(params, change, sd_used, r, crit)
    elif method in ("gulliksen-lord-novick", "hsu-linn-lord"):
        rci = _regression_rci(method, params, x, y, yu, sd_used, r, m_pre, crit)
    elif method == "edwards-nunnally":
        rci = _edwards_nunnally(params, x, y, sd_used, r, m_pre, crit)
    elif method == "nunnally-kotsch":
        rci = _nunnally_kotsch(params, notes, x, y, sd_used, r, m_pre, reliability_post, crit)
    else:  # hageman-arrindell
        crit = float(_dist.norm.ppf(0.95))  # one-sided, as Hageman & Arrindell (1999)
        rci = _hageman_arrindell(
            params, notes, change, xu, yu, n_used, sd_used, r, m_pre, reliability_post, crit
        )
    improved = used & (d * rci > crit)
    deteriorated = used & (d * rci < -crit)
    return improved, deteriorated, rci, source


def _threshold_source(method, threshold, reliability_post) -> tuple[str, Any, Any]:
    """(source, fixed points or None, where the points come from); checks the combination."""
    fixed_points = points_source = None
    if threshold is None:
        threshold = "sample"
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        if not threshold > 0:
            raise ConfigError(
                f"The 'threshold' parameter of {_FUNC} must be 'sample', 'reference', 'fixed' or "
                f"a positive number of points. Got {threshold!r} instead."
            )
        fixed_points, source = float(threshold), "fixed"
        points_source = "user-supplied fixed threshold"
    elif threshold in ("sample", "reference", "fixed"):
        source = threshold
    else:
        raise ConfigError(
            f"The 'threshold' parameter of {_FUNC} must be 'sample', 'reference', 'fixed' or a "
            f"positive number of points. Got {threshold!r} instead."
        )
    if method in SAMPLE_ONLY and source != "sample":
        raise ConfigError(
            f"{_FUNC}: {method} uses the sample's own pre and post means and SDs; it needs "
            f"threshold='sample'. Got threshold={threshold!r} instead."
        )
    if reliability_post is not None and method not in ("nunnally-kotsch", "hageman-arrindell"):
        raise ConfigError(
            f"{_FUNC}: reliability_post= applies to 'nunnally-kotsch' and 'hageman-arrindell' "
            f"only; {method} uses one reliability."
        )
    return source, fixed_points, points_source


def _fixed(method, params, notes, inst, x, y, used, d, reliability, sd, points, points_source):
    """A fixed threshold in points (the instrument's published one, or the user's)."""
    if method != "jacobson-truax":
        raise ConfigError(
            f"{_FUNC}: threshold='fixed' applies to method='jacobson-truax' only; "
            f"{method} needs a reliability and SD (threshold='sample' or 'reference')."
        )
    if reliability is not None or sd is not None:
        raise ConfigError(
            f"{_FUNC}: reliability= and sd= are not used with a fixed threshold; drop them or "
            "use threshold='reference'."
        )
    if points is None:
        if inst is None or inst.reliable_change is None:
            raise ConfigError(
                f"{_FUNC}: threshold='fixed' needs a published reliable-change threshold; "
                f"{'no instrument was given' if inst is None else inst.name + ' has none'}. "
                "Pass threshold=<points> or instrument='PHQ-9'."
            )
        points = float(inst.reliable_change)
        points_source = inst.reliable_change_source
    params.update(
        reliability=None,
        sd=None,
        threshold_points=points,
        threshold_rule=f"|change| >= {points:g} points",
    )
    notes.append(f"Fixed reliable-change threshold {points:g} points ({points_source}).")
    ben = d * (y - x)
    rci = pd.Series(np.nan, index=x.index)
    return used & (ben >= points), used & (ben <= -points), rci, "fixed"


def _reliability_and_sd(method, params, notes, inst, xu, n_used, source, reliability, sd, cm):
    """(reliability, SD, reference mean of the baselines or None), with their sources noted."""
    r_src = "user-supplied"
    if reliability is None:
        if inst is None or inst.reliability is None:
            raise ConfigError(
                f"{_FUNC}: no reliability. Pass reliability=<0..1> or an instrument with a "
                "published reliability (instrument='PHQ-9')."
            )
        reliability, r_src = inst.reliability, inst.reliability_source
    r = reliability_value(reliability, "reliability")
    if source == "sample":
        if sd is not None:
            raise ConfigError(
                f"{_FUNC}: sd= is a reference SD; it is used with threshold='reference' only "
                "(threshold='sample' takes the SD of the sample's own baselines)."
            )
        if n_used < 2:
            raise DataError(f"{_FUNC}: threshold='sample' needs >= 2 paired episodes.")
        sd_used = float(xu.std(ddof=1))
        sd_src = f"SD of the {n_used:,} paired baselines (ddof=1)"
        m_pre = float(xu.mean())
        if n_used < 30:
            notes.append(
                f"The threshold rests on the SD of only {n_used} baselines and will move with "
                "the sample; threshold='reference' or 'fixed' gives a stable threshold."
            )
    else:  # reference
        if sd is None:
            if inst is None or inst.clinical_sd is None:
                raise ConfigError(
                    f"{_FUNC}: threshold='reference' needs a reference SD. Pass sd=<points> or "
                    "an instrument with a published clinical SD (instrument='PHQ-9')."
                )
            sd, sd_src = inst.clinical_sd, f"clinical SD ({inst.clinical_source})"
        else:
            sd_src = "user-supplied"
        m_pre = None
        if method != "jacobson-truax":
            m_pre = cm if cm is not None else (inst.clinical_mean if inst is not None else None)
            if m_pre is None:
                raise ConfigError(
                    f"{_FUNC}: {method} with threshold='reference' needs a reference mean; "
                    "pass clinical_mean=."
                )
            m_pre = float(m_pre)
        sd_used = float(sd)
    if not sd_used > 0:
        raise DataError(f"{_FUNC}: the SD used for the threshold is {sd_used!r}; need > 0.")
    params.update(reliability=r, sd=sd_used)
    notes.append(f"Reliability {r:g} ({r_src}); SD {sd_used:.4g} ({sd_src}).")
    return r, sd_used, m_pre


def _jacobson_truax(params, change, sd_used, r, crit):
    """Jacobson & Truax (1991): change / (SD sqrt(2(1 - r)))."""
    s_diff = sd_used * np.sqrt(2.0 * (1.0 - r))
    params.update(
        s_diff=s_diff,
        rci_critical=crit,
        threshold_points=crit * s_diff,
        threshold_rule=f"|RCI| > {crit:.6g} (strict), i.e. |change| > {crit * s_diff:.4g} points",
    )
    return change / s_diff


def _regression_rci(method, params, x, y, yu, sd_used, r, m_pre, crit):
    """Gulliksen-Lord-Novick and Hsu-Linn-Lord (Hsu 1989): regression-adjusted change."""
    se_pred = sd_used * np.sqrt(1.0 - r**2)
    m_post = m_pre if method == "gulliksen-lord-novick" else float(yu.mean())
    rci = ((y - m_post) - r * (x - m_pre)) / se_pred
    params.update(mean_pre=m_pre)
    if method == "hsu-linn-lord":
        params.update(mean_post=m_post)
    params.update(
        se_prediction=se_pred,
        rci_critical=crit,
        threshold_points=crit * se_pred,
        threshold_rule=(
            f"|RCI| > {crit:.6g}; RCI = "
            + (
                "((post - M) - r(pre - M))"
                if method == "gulliksen-lord-novick"
                else "((post - M_post) - r(pre - M_pre))"
            )
            + f" / (SD sqrt(1 - r^2)), i.e. regression-adjusted change beyond "
            f"{crit * se_pred:.4g} points"
        ),
    )
    return rci


def _edwards_nunnally(params, x, y, sd_used, r, m_pre, crit):
    """Edwards-Nunnally (Speer 1992): post outside the estimated true pre score +/- z SEm."""
    se_meas = sd_used * np.sqrt(1.0 - r)
    rci = (y - (r * (x - m_pre) + m_pre)) / se_meas
    params.update(
        mean_pre=m_pre,
        se_measurement=se_meas,
        rci_critical=crit,
        threshold_points=crit * se_meas,
        threshold_rule=(
            f"post outside the estimated true pre score +/- {crit:.6g} SEm "
            f"(+/- {crit * se_meas:.4g} points)"
        ),
    )
    return rci


def _nunnally_kotsch(params, notes, x, y, sd_used, r, m_pre, reliability_post, crit):
    """Nunnally & Kotsch (1983): post against the estimated true pre score, both reliabilities."""
    if reliability_post is None:
        r2 = r
        notes.append(
            "reliability_post not given: the post reliability was set to the pre "
            "reliability (as clinicalsignificance does)."
        )
    else:
        r2 = reliability_value(reliability_post, "reliability_post")
    se_nk = np.sqrt(r**2 * sd_used**2 * (1.0 - r) + sd_used**2 * (1.0 - r2))
    rci = (y - (r * (x - m_pre) + m_pre)) / se_nk
    params.update(
        mean_pre=m_pre,
        reliability_post=r2,
        se_change=se_nk,
        rci_critical=crit,
        threshold_points=crit * se_nk,
        threshold_rule=(
            f"|RCI| > {crit:.6g}; RCI = (post - [r(pre - M) + M]) / "
            "sqrt(r^2 SD^2 (1 - r) + SD^2 (1 - r_post)), i.e. post beyond the estimated "
            f"true pre score by more than {crit * se_nk:.4g} points"
        ),
    )
    return rci


def _hageman_arrindell(
    params, notes, change, xu, yu, n_used, sd_used, r, m_pre, reliability_post, crit
):
    """Hageman & Arrindell (1999): RC_indiv with the reliability of the difference scores."""
    if n_used < 3:
        raise DataError(f"{_FUNC}: hageman-arrindell needs >= 3 paired episodes.")
    m_post = float(yu.mean())
    sd_post = float(yu.std(ddof=1))
    r12 = float(np.corrcoef(xu.to_numpy(float), yu.to_numpy(float))[0, 1])
    se = sd_used * np.sqrt(1.0 - r)
    if reliability_post is None:
        r2 = (sd_post**2 - se**2) / sd_post**2 if sd_post > 0 else np.nan
        r2_src = "derived as (SD_post^2 - SEm^2) / SD_post^2 (SEm constant over time)"
    else:
        r2 = reliability_value(reliability_post, "reliability_post")
        r2_src = "user-supplied"
    if not (np.isfinite(r2) and r2 > 0):
        raise DataError(
            f"{_FUNC}: the post reliability for hageman-arrindell is {r2!r} (the SD of the "
            "endpoints is not larger than the standard error of measurement); need > 0. "
            "Pass reliability_post=."
        )
    se2 = sd_post * np.sqrt(1.0 - r2)
    num = sd_used**2 * r + sd_post**2 * r2 - 2 * sd_used * sd_post * r12
    den = sd_used**2 + sd_post**2 - 2 * sd_used * sd_post * r12
    r_dd = num / den if den > 0 else np.nan
    if not (np.isfinite(r_dd) and r_dd > 0):
        raise DataError(
            f"{_FUNC}: the reliability of the difference scores (r_dd) is {r_dd!r}; "
            "hageman-arrindell needs r_dd > 0 (change must vary more than measurement error)."
        )
    denom = np.sqrt(r_dd) * np.sqrt(se**2 + se2**2)
    rci = (change * r_dd + (m_post - m_pre) * (1.0 - r_dd)) / denom
    centre = -(m_post - m_pre) * (1.0 - r_dd) / r_dd
    params.update(
        mean_pre=m_pre,
        mean_post=m_post,
        sd_post=sd_post,
        r_pre_post=r12,
        reliability_post=float(r2),
        se_measurement=float(se),
        se_post=float(se2),
        r_dd=float(r_dd),
        rci_critical=crit,
        change_centre=float(centre),
        threshold_points=float(crit * denom / r_dd),
        threshold_rule=(
            f"|RC_indiv| > {crit:.6g} (one-sided 5 % each way); RC_indiv = [(post - pre) r_dd "
            "+ (M_post - M_pre)(1 - r_dd)] / (sqrt(r_dd) sqrt(SEm_pre^2 + SEm_post^2)), i.e. "
            f"change beyond {centre:.4g} +/- {crit * denom / r_dd:.4g} points"
        ),
    )
    notes.append(
        f"Hageman-Arrindell: r_xx pre {r:g}, post {r2:.4g} ({r2_src}); pre-post r = "
        f"{r12:.4g}; r_dd = {r_dd:.4g}; critical value {crit:.6g} (one-sided 5 %)."
    )
    return rci
