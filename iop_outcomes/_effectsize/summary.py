"""Pre–post standardized mean change recomputed from published summaries:
:func:`rm_d_from_summary` (same variants, correction and variances as :func:`rm_d`).

Steps: broadcast and check the summaries → the pre–post correlation (reported, derived from
the SD of change, or assumed) → estimate and analytic CI → notes on what was missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._results import TableResult
from .._stats import hedges_j, z_crit
from .._validation import Options, validate_params
from ..exceptions import ConfigError
from .formulas import (
    DEFAULT_METHOD,
    VARIANTS,
    effect_label,
    norm_method,
    sd_ratio_note,
    standardizer,
    variance,
    variance_info,
)
from .repeated import CI_LEVEL

__all__ = ["rm_d_from_summary"]

_FUNC = "iop.rm_d_from_summary"

_ARRAYS = "no_validation"  # numbers or array-likes, broadcast and checked inside


@validate_params(
    {
        "mean_pre": [_ARRAYS],
        "sd_pre": [_ARRAYS],
        "mean_post": [_ARRAYS],
        "sd_post": [_ARRAYS],
        "n": [_ARRAYS],
        "r": [_ARRAYS],
        "mean_change": [_ARRAYS],
        "sd_change": [_ARRAYS],
        "method": [str],
        "better_is": [Options("lower", "higher")],
        "adjust": ["boolean"],
        "ci_level": CI_LEVEL,
        "assumed_r": [_ARRAYS],
        "heteroscedastic": ["boolean"],
    }
)
def rm_d_from_summary(
    mean_pre=None,
    sd_pre=None,
    mean_post=None,
    sd_post=None,
    n=None,
    *,
    r=None,
    mean_change=None,
    sd_change=None,
    method: str = DEFAULT_METHOD,
    better_is: str = "lower",
    adjust: bool = True,
    ci_level: float = 0.95,
    assumed_r=None,
    heteroscedastic: bool = False,
) -> TableResult:
    r"""Recompute a pre–post standardized mean change from published summaries.

    For reproducing a published report. Same variants, correction, orientation and
    variance formulas as :func:`rm_d` (see there). Arguments broadcast, so several rows
    (e.g. subgroups of a paper) can be given as arrays; one output row each.

    What each variant needs (besides ``n``):

    * ``"z"``: the mean change and ``sd_change`` — or both SDs and ``r``, from which
      :math:`S_d^2 = S_1^2 + S_2^2 - 2rS_1S_2`.
    * ``"rm"``: ``sd_change`` and ``r`` (either can be derived from the other with both SDs).
    * ``"av"``: both SDs for the estimate; ``r`` (or ``sd_change``) for its CI.
    * ``"b"``: ``sd_pre`` for the estimate; ``r`` (or ``sd_change``) for its CI.

    When ``r`` is neither reported nor derivable from ``sd_change``
    (:math:`r = (S_1^2 + S_2^2 - S_d^2)/(2S_1S_2)`), the quantities needing it are NaN and
    a note says so — unless ``assumed_r`` is given, in which case it is used and labelled
    (``r_source = "assumed"``): a sensitivity analysis, not a reproduction.

    Parameters
    ----------
    mean_pre, sd_pre, mean_post, sd_post : float or array-like, optional
        Published means and SDs at pre and post.
    n : int or array-like
        Number of pairs (episodes with both scores).
    r : float or array-like, optional
        Reported pre–post correlation.
    mean_change : float or array-like, optional
        Mean of post − pre (the sign convention of the episode table's ``change``: a fall
        in PHQ-9 is negative). Used instead of ``mean_post − mean_pre`` when given.
    sd_change : float or array-like, optional
        SD of the change scores.
    method, better_is, adjust, ci_level, heteroscedastic :
        As in :func:`rm_d`.
    assumed_r : float, optional
        Correlation to assume when none is reported (labelled in the output).

    Returns
    -------
    TableResult
        ``method``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``,
        ``ci_method`` ("analytic"), ``n``, ``r``, ``r_source`` ("reported",
        "derived from sd_change", "assumed", "unknown"), ``mean_change``, ``sd_change``.

    Examples
    --------
    Meru Health 2021 (DOMAIN.md): PHQ-9 change 8.30 (SD 5.03), n = 218, reported g = 1.64:

    >>> from iop_outcomes import rm_d_from_summary
    >>> res = rm_d_from_summary(n=218, mean_change=-8.30, sd_change=5.03, method="z")
    >>> round(float(res.to_frame()["estimate"][0]), 2)
    1.64

    Rogers PHP, QIDS-SR 16.3 (4.6) → 9.1 (5.1), n = 604 (r not reported):

    >>> res = rm_d_from_summary(16.3, 4.6, 9.1, 5.1, 604, method="av", adjust=False)
    >>> round(float(res.to_frame()["estimate"][0]), 2)
    1.48
    """
    key = norm_method(method)
    a = _summary_arrays(
        mean_pre, sd_pre, mean_post, sd_post, n, r, mean_change, sd_change, assumed_r
    )
    r_use, r_source = _correlation(a)
    s1, s2, nn = a["sd_pre"], a["sd_post"], a["n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(
            np.isfinite(a["mean_change"]), a["mean_change"], a["mean_post"] - a["mean_pre"]
        )  # post − pre
        vd = np.where(
            np.isfinite(a["sd_change"]), a["sd_change"] ** 2, s1**2 + s2**2 - 2 * r_use * s1 * s2
        )
        vx, vy = s1**2, s2**2
    sign = 1.0 if better_is == "lower" else -1.0
    md = -sign * change
    # Unlike rm_d, S_d and r come from the summaries here, not from a covariance.
    with np.errstate(invalid="ignore", divide="ignore"):
        s = standardizer(key, vx, vy, vd, r_use)
        d = np.where(s > 0, md / s, np.nan)
        j = np.where(nn >= 3, hedges_j(nn - 1.0), np.nan) if adjust else np.ones_like(d)
    est = d * j
    se = np.sqrt(variance(key, est, nn, r_use, vx, vy, vd, heteroscedastic))
    z = z_crit(ci_level)
    label = effect_label(key, adjust)
    table = pd.DataFrame(
        {
            "method": label,
            "estimate": est,
            "se": se,
            "ci_low": est - z * se,
            "ci_high": est + z * se,
            "ci_level": ci_level,
            "ci_method": "analytic",
            "n": nn.astype(np.int64) if np.all(np.isfinite(nn) & (nn == np.round(nn))) else nn,
            "r": r_use,
            "r_source": r_source,
            "mean_change": change,
            "sd_change": np.sqrt(vd),
        }
    )
    notes = _summary_notes(key, label, a, r_source, better_is, adjust, heteroscedastic)
    info = VARIANTS[key]
    vinfo = variance_info(key, heteroscedastic)
    method_text = (
        f"{label} = {'J·' if adjust else ''}{info['formula']} from published summaries; "
        f"{'Hedges J with df = n − 1; ' if adjust else ''}CI: normal, {vinfo['variance']} "
        f"({vinfo['source']})"
    )
    return TableResult(
        table=table,
        title=f"Pre–post standardized mean change from summaries ({label})",
        method=method_text,
        params={"better_is": better_is, "ci_level": ci_level},
        notes=tuple(notes),
    )


def _summary_arrays(
    mean_pre, sd_pre, mean_post, sd_post, n, r, mean_change, sd_change, assumed_r
) -> dict:
    """The summaries broadcast to 1-D float arrays (NaN where not given), with range checks."""
    if n is None:
        raise ConfigError(f"The 'n' parameter of {_FUNC} (number of pairs) is required.")
    given = {
        "mean_pre": mean_pre,
        "sd_pre": sd_pre,
        "mean_post": mean_post,
        "sd_post": sd_post,
        "n": n,
        "r": r,
        "mean_change": mean_change,
        "sd_change": sd_change,
        "assumed_r": assumed_r,
    }
    arrays = {}
    for name, v in given.items():
        try:
            arrays[name] = np.nan if v is None else np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(
                f"The {name!r} parameter of {_FUNC} must be a number or an array of numbers. "
                f"Got {v!r} instead."
            ) from None
    out = dict(zip(arrays, np.broadcast_arrays(*arrays.values()), strict=True))
    out = {k: np.array(v, dtype=float, ndmin=1).ravel() for k, v in out.items()}
    nn = out["n"]
    if np.any(nn[np.isfinite(nn)] < 2):
        raise ConfigError(f"The 'n' parameter of {_FUNC} must be >= 2. Got {n!r} instead.")
    for name in ("sd_pre", "sd_post", "sd_change"):
        v = out[name]
        if np.any(v[np.isfinite(v)] < 0):
            raise ConfigError(f"The '{name}' parameter of {_FUNC} must be >= 0.")
    rr, ar = out["r"], out["assumed_r"]
    if np.any(np.abs(rr[np.isfinite(rr)]) > 1) or np.any(np.abs(ar[np.isfinite(ar)]) > 1):
        raise ConfigError(f"Correlations passed to {_FUNC} must lie in [-1, 1].")
    return out


def _correlation(a: dict) -> tuple[np.ndarray, np.ndarray]:
    """r per row and where it came from: reported, derived from sd_change, assumed, unknown."""
    rr, s1, s2, sdc, ar = a["r"], a["sd_pre"], a["sd_post"], a["sd_change"], a["assumed_r"]
    with np.errstate(invalid="ignore", divide="ignore"):
        derived = (s1**2 + s2**2 - sdc**2) / (2 * s1 * s2)
    r_source = np.full(a["n"].shape, "unknown", dtype=object)
    r_use = np.full(a["n"].shape, np.nan)
    for mask, val, lab in (
        (np.isfinite(rr), rr, "reported"),
        (
            ~np.isfinite(rr) & np.isfinite(derived),
            np.clip(derived, -1, 1),
            "derived from sd_change",
        ),
        (~np.isfinite(rr) & ~np.isfinite(derived) & np.isfinite(ar), ar, "assumed"),
    ):
        r_use = np.where(mask, val, r_use)
        r_source[mask] = lab
    return r_use, r_source


def _summary_notes(key, label, a, r_source, better_is, adjust, heteroscedastic) -> list[str]:
    """Orientation, undefined J, assumed or unknown r, unequal SDs under Becker's variance."""
    nn, sdc = a["n"], a["sd_change"]
    notes = [
        f"Orientation: improvement positive; mean_change is post − pre (better_is={better_is!r})."
    ]
    if adjust and np.any(nn < 3):
        notes.append("n < 3: Hedges' correction J(n − 1) is undefined; no estimate.")
    if (r_source == "assumed").any():
        notes.append(
            "r was not reported: an ASSUMED correlation was used (r_source='assumed'); "
            "treat those rows as a sensitivity analysis, not a reproduction."
        )
    unknown = r_source == "unknown"
    if unknown.any():
        needs_r_for_est = key in ("z", "rm")
        what = "the estimate and its CI" if needs_r_for_est else "the CI (not the estimate)"
        if key == "z" and np.all(np.isfinite(sdc) | ~unknown):
            what = None
        if what:
            notes.append(
                f"r unknown for {int(unknown.sum())} row(s): {label} needs r (or sd_change) "
                f"for {what}; pass r=, sd_change= or an explicit assumed_r=."
            )
    sd_note = sd_ratio_note(key, heteroscedastic, a["sd_pre"], a["sd_post"])
    if sd_note:
        notes.append(sd_note)
    return notes
