"""The pre–post effect-size formulas: variants, standardizers, variances, Hedges' J.

Vectorized over any array shape (groups, bootstrap replicates, jackknife rows); used by
:func:`~iop_outcomes.rm_d`, :func:`~iop_outcomes.rm_d_from_summary` and the moment
bootstrap. Sources are listed per variant in :data:`VARIANTS` (printed in every result).
"""

from __future__ import annotations

import numpy as np

from .._stats import hedges_j
from ..exceptions import ConfigError

__all__ = [
    "VARIANTS",
    "DEFAULT_METHOD",
    "norm_method",
    "effect_label",
    "effect",
    "standardizer",
    "variance",
    "variance_info",
    "sd_ratio_note",
    "features",
    "from_moments",
    "moment_statistic",
    "ncp_ci",
]


# --------------------------------------------------------------------------------------
# Variants: standardizer, variance formula and its source (printed in every result).
# --------------------------------------------------------------------------------------

VARIANTS: dict[str, dict[str, str]] = {
    "z": {
        "standardizer": "SD of the change scores",
        "formula": "M_d / S_d",
        "variance": "Var = 1/n + est^2/(2n)",
        "source": "Hedges & Olkin 1985; metafor SMCC (vtype LS)",
    },
    "rm": {
        "standardizer": "S_d / sqrt(2(1 - r))",
        "formula": "M_d * sqrt(2(1 - r)) / S_d",
        "variance": "Var = (1/n + est^2/(2n)) * 2(1 - r)",
        "source": "Morris & DeShon 2002; Borenstein et al. 2009 eq. 4.28; Lakens 2013",
    },
    "av": {
        "standardizer": "sqrt((S_pre^2 + S_post^2)/2)",
        "formula": "M_d / sqrt((S_pre^2 + S_post^2)/2)",
        "variance": (
            "Var = S_d^2/((n-1) S_av^2) + est^2 (S_pre^4 + S_post^4 + 2 r^2 S_pre^2 S_post^2)"
            "/(8 (n-1) S_av^4)"
        ),
        "source": "Algina & Keselman 2003 (index); Bonett 2008 eq. 10 (variance; metafor SMCRPH)",
    },
    "b": {
        "standardizer": "SD at baseline (pre)",
        "formula": "M_d / S_pre",
        "variance": "Var = 2(1 - r)/n + est^2/(2n)",
        "source": "Becker 1988; metafor SMCR (vtype LS)",
    },
}
# d_b with unequal pre/post SDs (heteroscedastic=True)
_B_HETERO = {
    "variance": "Var = S_d^2/(S_pre^2 (n-1)) + est^2/(2(n-1))",
    "source": "Bonett 2008 eq. 13; metafor SMCRH (vtype LS)",
}

_METHOD_ALIASES = {
    "z": "z",
    "dz": "z",
    "rm": "rm",
    "drm": "rm",
    "av": "av",
    "dav": "av",
    "b": "b",
    "db": "b",
    "becker": "b",
    "smcc": "z",
    "smcr": "b",
}

DEFAULT_METHOD = "av"


def norm_method(method: str) -> str:
    if not isinstance(method, str):
        raise ConfigError(
            "The 'method' parameter of rm_d must be one of 'z', 'rm', 'av', 'b'. "
            f"Got {method!r} instead."
        )
    key = method.strip().lower().replace("_", "").replace("-", "")
    if key.startswith("g") and key[1:] in _METHOD_ALIASES:
        key = key[1:]
    if key not in _METHOD_ALIASES:
        raise ConfigError(
            "The 'method' parameter of rm_d must be one of 'z', 'rm', 'av', 'b' "
            f"(also 'd_z', 'g_av', 'becker', ...). Got {method!r} instead."
        )
    return _METHOD_ALIASES[key]


def effect_label(method: str, adjust: bool) -> str:
    return f"{'g' if adjust else 'd'}_{method}"


def effect(method: str, n, md, vx, vy, cxy, adjust: bool):
    """Standardized mean change from summary moments.

    ``md`` is the oriented mean difference (improvement positive), ``vx``/``vy``
    the pre/post variances, ``cxy`` their covariance (all with denominator n − 1).
    Returns ``(estimate, d, J, r, var_d)``.
    """
    n = np.asarray(n, dtype=float)
    vx = np.maximum(np.asarray(vx, dtype=float), 0.0)
    vy = np.maximum(np.asarray(vy, dtype=float), 0.0)
    cxy = np.asarray(cxy, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        vd = np.maximum(vx + vy - 2.0 * cxy, 0.0)
        r = np.clip(cxy / np.sqrt(vx * vy), -1.0, 1.0)
        s = standardizer(method, vx, vy, vd, r)
        d = np.where(s > 0, md / s, np.nan)
        d = np.where(n >= 2, d, np.nan)
        if adjust:
            j = np.where(n >= 3, hedges_j(n - 1.0), np.nan)
        else:
            j = np.ones_like(d)
    return d * j, d, j, r, vd


def standardizer(method: str, vx, vy, vd, r):
    """The SD that divides the mean change: ``"z"`` S_diff, ``"rm"`` S_diff / sqrt(2(1 − r)),
    ``"av"`` sqrt((S_pre² + S_post²) / 2), ``"b"`` S_pre (from variances ``vx``, ``vy``,
    ``vd`` of pre, post and change)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "z":
            return np.sqrt(vd)
        if method == "rm":
            return np.sqrt(vd / (2.0 * (1.0 - r)))
        if method == "av":
            return np.sqrt((vx + vy) / 2.0)
        return np.sqrt(vx)  # "b"


def variance(method: str, est, n, r, vx, vy, vd, heteroscedastic: bool = False):
    """Large-sample sampling variance of the reported estimate (see ``VARIANTS``)."""
    est = np.asarray(est, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "z":
            v = 1.0 / n + est**2 / (2.0 * n)
        elif method == "rm":
            v = (1.0 / n + est**2 / (2.0 * n)) * 2.0 * (1.0 - r)
        elif method == "av":
            s2 = (vx + vy) / 2.0
            v = vd / ((n - 1.0) * s2) + est**2 * (vx**2 + vy**2 + 2.0 * r**2 * vx * vy) / (
                8.0 * (n - 1.0) * s2**2
            )
        elif heteroscedastic:  # "b", Bonett 2008 eq. 13
            v = vd / (vx * (n - 1.0)) + est**2 / (2.0 * (n - 1.0))
        else:  # "b", Becker 1988
            v = 2.0 * (1.0 - r) / n + est**2 / (2.0 * n)
    return v


def variance_info(method: str, heteroscedastic: bool) -> dict[str, str]:
    return _B_HETERO if (method == "b" and heteroscedastic) else VARIANTS[method]


def sd_ratio_note(method: str, heteroscedastic: bool, sd_pre, sd_post) -> str | None:
    """Becker's d_b variance assumes equal pre/post SDs; say so when they differ."""
    if method != "b" or heteroscedastic:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.asarray(sd_post, dtype=float) / np.asarray(sd_pre, dtype=float)
    off = np.isfinite(ratio) & ((ratio > 1.2) | (ratio < 1 / 1.2))
    if not off.any():
        return None
    return (
        f"SD_post/SD_pre is outside 0.83-1.2 in {int(off.sum())} row(s): Becker's variance "
        "assumes equal SDs and its CI then undercovers (about 90 % at a ratio of 1.4, see "
        "bench/VALIDATION.md); use heteroscedastic=True (Bonett 2008) or a bootstrap CI."
    )


# Moment vector of a sample of centred pairs: [n, Σx, Σy, Σx², Σy², Σxy].
_P = 6


def features(xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones_like(xc), xc, yc, xc * xc, yc * yc, xc * yc])


def from_moments(m: np.ndarray):
    """(..., 6) moment totals of centred data -> n, mean x, mean y, var x, var y, cov."""
    n, sx, sy, sxx, syy, sxy = (m[..., i] for i in range(_P))
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = sx / n
        my = sy / n
        vx = (sxx - sx * mx) / (n - 1.0)
        vy = (syy - sy * my) / (n - 1.0)
        cxy = (sxy - sx * my) / (n - 1.0)
    return n, mx, my, vx, vy, cxy


def moment_statistic(method: str, adjust: bool, sign: float, shift: float):
    """Return f(moments) -> effect size, for resampling; ``shift`` = mean_pre − mean_post
    removed by centring."""

    def f(m: np.ndarray) -> np.ndarray:
        n, mx, my, vx, vy, cxy = from_moments(m)
        md = sign * ((mx - my) + shift)
        return effect(method, n, md, vx, vy, cxy, adjust)[0]

    return f


def ncp_ci(t, df, ci_level: float):
    """Noncentrality limits (lo, hi) with P(T <= t | lo) = 1 − α/2 and P(T <= t | hi) = α/2
    for T ~ noncentral t(df, ncp); vectorized bisection (the cdf decreases in ncp)."""
    from scipy.stats import nct

    t = np.asarray(t, dtype=float)
    df = np.asarray(df, dtype=float)
    t, df = np.broadcast_arrays(t, df)
    alpha = 1.0 - ci_level
    ok = np.isfinite(t) & np.isfinite(df) & (df > 0)
    tt = np.where(ok, t, 0.0)
    dd = np.where(ok, df, 1.0)
    out = []
    for target in (1.0 - alpha / 2.0, alpha / 2.0):
        width = 10.0 + 2.0 * np.abs(tt)
        a, b = tt - width, tt + width
        for _ in range(90):
            mid = 0.5 * (a + b)
            above = nct.cdf(tt, dd, mid) > target  # ncp too small
            a = np.where(above, mid, a)
            b = np.where(above, b, mid)
        out.append(np.where(ok, 0.5 * (a + b), np.nan))
    return out[0], out[1]


# --------------------------------------------------------------------------------------
# rm_d
# --------------------------------------------------------------------------------------
