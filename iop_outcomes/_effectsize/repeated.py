"""Within-group (pre–post) standardized mean change and bootstrap confidence intervals.

Three public functions:

* :func:`rm_d` — standardized mean change from episode-level data (one row per
  episode with a pre and a post score), in the four common variants
  (``d_z``, ``d_rm``, ``d_av``, ``d_b``), with Hedges' small-sample correction,
  an analytic CI by each variant's published variance formula or a bootstrap
  (BCa / percentile) CI, per group.
* :func:`rm_d_from_summary` — the same indices recomputed from published
  summaries (means, SDs, n, and r or the SD of change when reported).
* :func:`bootstrap_ci` — seeded percentile and BCa bootstrap intervals for any
  statistic of an episode table, optionally resampling clusters (sites).

All quantities follow ``/work/shared/DOMAIN.md`` ("Effect sizes for pre–post
designs") and are checked against metafor 3.8-1 and effectsize 0.8.3 in
``tests/reference/effectsize/``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ._results import TableResult
from ._stats import hedges_j, midrank_below, tie_tolerance, z_crit
from .exceptions import ConfigError, DataError, IOPWarning

__all__ = ["rm_d", "rm_d_from_summary", "bootstrap_ci"]

# --------------------------------------------------------------------------------------
# Variants: standardizer, variance formula and its source (printed in every result).
# --------------------------------------------------------------------------------------

_VARIANTS: dict[str, dict[str, str]] = {
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

_DEFAULT_METHOD = "av"
_CI_METHODS = ("analytic", "ncp", "bca", "percentile")
# Up to this many resampling units the BCa acceleration uses the exact
# delete-one jackknife for a generic (callable) statistic; above it a grouped
# (delete-a-group) jackknife with this many groups (Efron & Narasimhan 2020).
_JACK_MAX = 2000
# Elements per chunk of a resampling matrix (memory bound: ~130 MB of int64).
_CHUNK_ELEMS = 1 << 24
# Fewer clusters than this in a group: the cluster bootstrap is flagged as unreliable.
_MIN_CLUSTERS = 10
# Show a progress bar when the resampling work (replicates x units) exceeds this.
_PROGRESS_WORK = 50_000_000


def _norm_method(method: str) -> str:
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


def _label(method: str, adjust: bool) -> str:
    return f"{'g' if adjust else 'd'}_{method}"


def _check_choice(name: str, value: Any, choices: Sequence[str], func: str) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ConfigError(
            f"The '{name}' parameter of {func} must be one of {shown}. Got {value!r} instead."
        )


def _check_ci_level(ci_level: Any, func: str) -> float:
    try:
        level = float(ci_level)
    except (TypeError, ValueError):
        level = float("nan")
    if not 0 < level < 1:
        raise ConfigError(
            f"The 'ci_level' parameter of {func} must be a number strictly between 0 and 1 "
            f"(e.g. 0.95). Got {ci_level!r} instead."
        )
    return level


def _check_n_boot(n_boot: Any, func: str) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ConfigError(
            f"The 'n_boot' parameter of {func} must be an integer >= 100 (2000 or more is "
            f"advised for BCa). Got {n_boot!r} instead."
        )
    return int(n_boot)


def _as_list(spec: Any) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    return list(spec)


def _require_columns(data: pd.DataFrame, cols: Sequence[str], func: str) -> None:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(
            f"{func} needs the column(s) {missing} in data, which has {list(data.columns)}. "
            "Pass the right names (e.g. pre='baseline', post='endpoint') or rename the columns."
        )


def _numeric(data: pd.DataFrame, col: str, func: str) -> np.ndarray:
    s = data[col]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna() & s.notna()
        if bad.any():
            first = s[bad].iloc[0]
            raise DataError(
                f"Column {col!r} passed to {func} must be numeric; {int(bad.sum())} value(s) "
                f"are not (first: {first!r}). Score them or set them to missing."
            )
        s = conv
    return s.to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------------------------
# Core formulas, vectorized over any array shape (groups, replicates, jackknife rows).
# --------------------------------------------------------------------------------------


def _effect(method: str, n, md, vx, vy, cxy, adjust: bool):
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
        s = _standardizer(method, vx, vy, vd, r)
        d = np.where(s > 0, md / s, np.nan)
        d = np.where(n >= 2, d, np.nan)
        if adjust:
            j = np.where(n >= 3, hedges_j(n - 1.0), np.nan)
        else:
            j = np.ones_like(d)
    return d * j, d, j, r, vd


def _standardizer(method: str, vx, vy, vd, r):
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


def _variance(method: str, est, n, r, vx, vy, vd, heteroscedastic: bool = False):
    """Large-sample sampling variance of the reported estimate (see ``_VARIANTS``)."""
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


def _variance_info(method: str, heteroscedastic: bool) -> dict[str, str]:
    return _B_HETERO if (method == "b" and heteroscedastic) else _VARIANTS[method]


def _sd_ratio_note(method: str, heteroscedastic: bool, sd_pre, sd_post) -> str | None:
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


def _features(xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones_like(xc), xc, yc, xc * xc, yc * yc, xc * yc])


def _from_moments(m: np.ndarray):
    """(..., 6) moment totals of centred data -> n, mean x, mean y, var x, var y, cov."""
    n, sx, sy, sxx, syy, sxy = (m[..., i] for i in range(_P))
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = sx / n
        my = sy / n
        vx = (sxx - sx * mx) / (n - 1.0)
        vy = (syy - sy * my) / (n - 1.0)
        cxy = (sxy - sx * my) / (n - 1.0)
    return n, mx, my, vx, vy, cxy


def _moment_statistic(method: str, adjust: bool, sign: float, shift: float):
    """Return f(moments) -> effect size, for resampling; ``shift`` = mean_pre − mean_post
    removed by centring."""

    def f(m: np.ndarray) -> np.ndarray:
        n, mx, my, vx, vy, cxy = _from_moments(m)
        md = sign * ((mx - my) + shift)
        return _effect(method, n, md, vx, vy, cxy, adjust)[0]

    return f


# --------------------------------------------------------------------------------------
# Resampling engine
# --------------------------------------------------------------------------------------


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"The 'seed' parameter must be None, an integer or a numpy Generator. Got {seed!r}."
        ) from exc


def _progress(total: int, show: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not show, desc=desc, unit="rep", leave=False)


#: From this many resampling units on, bootstrap counts are Poisson draws (see _resample_counts).
POISSON_MIN_N = 10_000


def _resample_counts(mult: np.ndarray, b: int, rng: np.random.Generator, unit_of=None):
    """Bootstrap counts (b, K): how often each of K unit types is drawn when N = Σ mult
    sampling units are drawn with replacement.  With many ties (K ≪ N) the counts are drawn
    directly from Multinomial(N, mult/N) — the exact distribution of resampling N units — in
    O(b·K); otherwise N indices per replicate are drawn and tabulated."""
    k = mult.size
    n = int(mult.sum())
    if n >= POISSON_MIN_N:
        # Poisson bootstrap: each unit type drawn Poisson(multiplicity) times (Hanley &
        # MacGibbon 2006; Chamandy et al. 2012) -- at this size indistinguishable from the
        # multinomial bootstrap, and 10-20x faster to draw
        return rng.poisson(mult.astype(float), size=(b, k))
    if unit_of is None:
        return rng.multinomial(n, mult / n, size=b)
    codes = rng.integers(0, n, size=(b, n))
    if k != n:  # map drawn sampling units to their unit type (identity when no ties)
        codes = unit_of[codes]
    codes += (np.arange(b, dtype=codes.dtype) * k)[:, None]
    return np.bincount(codes.ravel(), minlength=b * k).reshape(b, k)


def _moment_bootstrap(
    feats: np.ndarray,
    mult: np.ndarray,
    stat: Callable[[np.ndarray], np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
    bar=None,
):
    """Bootstrap and jackknife of a smooth function of moment totals.

    ``feats`` (K, p): per-unit moment vectors of K distinct unit types; ``mult`` (K,): how
    many sampling units of each type.  Returns (theta_hat, boot (B,), jack (K,), jack_w (K,)).
    The jackknife deletes one sampling unit of each type (exact; identical units give
    identical delete-one values, hence the weights).
    """
    mult = np.asarray(mult, dtype=np.int64)
    k = mult.size
    n = int(mult.sum())
    total = mult.astype(float) @ feats
    theta_hat = float(stat(total[None, :])[0])
    use_multinomial = 4 * k <= n
    unit_of = None if use_multinomial else np.repeat(np.arange(k, dtype=np.int64), mult)
    per_rep = k if use_multinomial else n
    chunk = max(1, min(n_boot, _CHUNK_ELEMS // max(per_rep, 1)))
    boot = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = _resample_counts(mult, b, rng, unit_of)
        boot[start : start + b] = stat(counts.astype(float) @ feats)
        if bar is not None:
            bar.update(b)
    jack = stat(total[None, :] - feats)
    return theta_hat, boot, jack, mult.astype(float)


def _acceleration(jack: np.ndarray, w: np.ndarray) -> float:
    """Jackknife acceleration a = Σ w u³ / (6 (Σ w u²)^{3/2}), u = mean − θ_(i) (Efron 1987)."""
    ok = np.isfinite(jack)
    jack, w = jack[ok], w[ok]
    if jack.size < 2:
        return float("nan")
    tbar = np.sum(w * jack) / np.sum(w)
    u = tbar - jack
    den = np.sum(w * u**2)
    if den <= 0:
        return float("nan")
    return float(np.sum(w * u**3) / (6.0 * den**1.5))


def _interval(theta_hat, boot, jack, jack_w, ci_level: float, method: str) -> dict:
    """Percentile or BCa interval from a bootstrap distribution (NaN replicates dropped).

    BCa follows Efron (1987) / Efron & Tibshirani (1993, §14.3) exactly as
    ``scipy.stats.bootstrap``: z0 from the mid-rank proportion of replicates below the
    estimate, acceleration from the jackknife, linear-interpolation quantiles.
    """
    boot = np.asarray(boot, dtype=float)
    good = boot[np.isfinite(boot)]
    out = {
        "se": np.nan,
        "bias": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n_boot": int(good.size),
        "z0": np.nan,
        "acceleration": np.nan,
    }
    if good.size < 2 or not np.isfinite(theta_hat):
        return out
    out["se"] = float(np.std(good, ddof=1))
    out["bias"] = float(np.mean(good) - theta_hat)
    alpha = (1.0 - ci_level) / 2.0
    if method == "percentile":
        lo, hi = alpha, 1.0 - alpha
    else:
        # replicates equal to the estimate (a cluster bootstrap draws the original sample
        # itself now and then) count half, to a tolerance relative to the statistic's scale:
        # exact comparison let the last bit of rounding decide, which differs between CPUs
        prop = midrank_below(good, theta_hat, tie_tolerance(theta_hat, out["se"]))
        z0 = float(ndtri(prop))
        a = _acceleration(np.asarray(jack, dtype=float), np.asarray(jack_w, dtype=float))
        out["z0"], out["acceleration"] = z0, a
        if not (np.isfinite(z0) and np.isfinite(a)):
            return out
        za = float(ndtri(alpha))
        lo = float(ndtr(z0 + (z0 + za) / (1.0 - a * (z0 + za))))
        hi = float(ndtr(z0 + (z0 - za) / (1.0 - a * (z0 - za))))
    q = np.quantile(good, [lo, hi])
    out["ci_low"], out["ci_high"] = float(q[0]), float(q[1])
    return out


def _ncp_ci(t, df, ci_level: float):
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


def _group_codes(data: pd.DataFrame, by: list[str]):
    if not by:
        return np.zeros(len(data), dtype=np.int64), pd.DataFrame(index=[0])
    g = data.groupby(by, dropna=False, sort=True, observed=True)
    codes = g.ngroup().to_numpy(dtype=np.int64)
    keys = g.size().index.to_frame(index=False)
    return codes, keys


def _cluster_codes(data: pd.DataFrame, cluster: str, func: str) -> np.ndarray:
    _require_columns(data, [cluster], func)
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
        return _features(ux[ukey // len(uy)], uy[ukey % len(uy)]), counts.astype(np.int64)
    ucl, inv = np.unique(valid_cluster, return_inverse=True)
    inv = inv.ravel()
    f = (np.ones_like(xc), xc, yc, xc * xc, yc * yc, xc * yc)
    sums = np.column_stack([np.bincount(inv, weights=c, minlength=ucl.size) for c in f])
    return sums, np.ones(ucl.size, dtype=np.int64)


def rm_d(
    data: pd.DataFrame,
    *,
    method: str = _DEFAULT_METHOD,
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
    data : DataFrame
        One row per episode (e.g. ``iop.episodes(...)``), or any table with the two
        score columns.
    method : {"av", "b", "z", "rm"}
        The variant (``"d_av"``, ``"g_b"``, ``"becker"``... are accepted too).
    pre, post : str
        Columns with the pre (baseline) and post (endpoint) scores.
    by : str or list of str, optional
        Grouping column(s); one row per group (missing labels form their own group).
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
    func = "rm_d"
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"The 'data' parameter of {func} must be a pandas DataFrame (one row per episode). "
            f"Got {type(data).__name__} instead."
        )
    key = _norm_method(method)
    _check_choice("better_is", better_is, ("lower", "higher"), func)
    _check_choice("ci_method", ci_method, _CI_METHODS, func)
    level = _check_ci_level(ci_level, func)
    by_cols = _as_list(by)
    boot = ci_method in ("bca", "percentile")
    if ci_method == "ncp" and key != "z":
        raise ConfigError(
            f"ci_method='ncp' (noncentral t) of {func} is exact only for d_z (method='z'); "
            f"got method={method!r}. Use 'analytic' or a bootstrap for this variant."
        )
    if boot:
        n_boot = _check_n_boot(n_boot, func)
    if cluster is not None and not boot:
        raise ConfigError(
            f"The 'cluster' parameter of {func} needs a bootstrap interval: the analytic "
            "variances assume independent episodes. Use ci_method='bca' or 'percentile'."
        )
    _require_columns(data, [pre, post, *by_cols], func)
    x = _numeric(data, pre, func)
    y = _numeric(data, post, func)
    codes, keys = _group_codes(data, by_cols)
    n_groups = len(keys)
    ccodes = _cluster_codes(data, cluster, func) if cluster is not None else None

    notes: list[str] = []
    if "instrument" in data.columns and "instrument" not in by_cols:
        if data["instrument"].nunique(dropna=True) > 1:
            warnings.warn(
                "data holds several instruments but 'instrument' is not in 'by'; their "
                "scores are pooled. Pass by='instrument' (or filter) to keep them apart.",
                IOPWarning,
                stacklevel=2,
            )
            notes.append("Warning: several instruments pooled (instrument not in 'by').")

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
    xc = xv - cx[vc]
    yc = yv - cy[vc]
    moments = np.column_stack(
        [n_used.astype(float)]
        + [
            np.bincount(vc, weights=c, minlength=n_groups)
            for c in (xc, yc, xc * xc, yc * yc, xc * yc)
        ]
    )
    n, mx, my, vx, vy, cxy = _from_moments(moments)
    mean_pre, mean_post = mx + cx, my + cy
    sign = 1.0 if better_is == "lower" else -1.0
    md = sign * (mean_pre - mean_post)
    est, d, j, r, vd = _effect(key, n, md, vx, vy, cxy, adjust)
    label = _label(key, adjust)
    info = _VARIANTS[key]

    cols: dict[str, Any] = {"method": label, "estimate": est}
    if ci_method == "ncp":
        var = _variance(key, est, n, r, vx, vy, vd)
        lo, hi = _ncp_ci(d * np.sqrt(n), n - 1.0, level)
        cols.update(se=np.sqrt(var), ci_low=lo / np.sqrt(n) * j, ci_high=hi / np.sqrt(n) * j)
        ci_desc = (
            "exact noncentral-t interval for d_z (t = d_z·√n inverted over the noncentrality; "
            "Cumming & Finch 2001), limits multiplied by J when adjusted, as effectsize's "
            "cohens_d/hedges_g(paired=TRUE); se from Var = 1/n + est^2/(2n)"
        )
    elif not boot:
        var = _variance(key, est, n, r, vx, vy, vd, heteroscedastic)
        se = np.sqrt(var)
        z = z_crit(level)
        cols.update(se=se, ci_low=est - z * se, ci_high=est + z * se)
        vinfo = _variance_info(key, heteroscedastic)
        ci_desc = f"normal approximation, {vinfo['variance']} ({vinfo['source']})"
        sd_note = _sd_ratio_note(key, heteroscedastic, np.sqrt(vx), np.sqrt(vy))
        if sd_note:
            notes.append(sd_note)
    else:
        rng = _rng(seed)
        res_rows = []
        units = []
        order = np.argsort(vc, kind="stable")
        bounds = np.r_[0, np.cumsum(n_used)]
        ccv = ccodes[valid] if ccodes is not None else None
        for g in range(n_groups):
            if n_used[g] < 3:
                units.append(None)
                continue
            sel = order[bounds[g] : bounds[g + 1]]
            cl = ccv[sel] if ccv is not None else None
            units.append(_unit_features(xc[sel], yc[sel], cl))
        work = sum(
            n_boot * (u[1].size if 4 * u[1].size <= u[1].sum() else int(u[1].sum()))
            for u in units
            if u is not None
        )
        show = work >= _PROGRESS_WORK if progress is None else bool(progress)
        with _progress(n_boot * n_groups, show, f"{func} bootstrap") as bar:
            for g in range(n_groups):
                if units[g] is None or (cluster is not None and units[g][1].size < 2):
                    res_rows.append(_interval(np.nan, [], [], [], level, ci_method))
                    continue
                f_u, m_u = units[g]
                stat = _moment_statistic(key, adjust, sign, cx[g] - cy[g])
                th, bt, jk, jw = _moment_bootstrap(f_u, m_u, stat, n_boot, rng, bar)
                res_rows.append(_interval(th, bt, jk, jw, level, ci_method))
        rr = pd.DataFrame(res_rows)
        cols.update(
            se=rr["se"].to_numpy(),
            ci_low=rr["ci_low"].to_numpy(),
            ci_high=rr["ci_high"].to_numpy(),
        )
        what = "clusters" if cluster is not None else "episodes"
        ci_desc = (
            f"{ci_method} bootstrap, {n_boot} replicates resampling {what}"
            + (f" ({cluster})" if cluster is not None else "")
            + (", within each group" if by_cols else "")
            + f", seed={seed!r}; se = SD of replicates"
        )
    cols.update(ci_level=level, ci_method=ci_method, n_used=n_used, n_excluded=n_excl)
    if boot:
        cols["n_boot"] = rr["n_boot"].to_numpy()
        if cluster is not None:
            cols["n_clusters"] = np.array([0 if u is None else u[1].size for u in units])
            few = cols["n_clusters"][n_used >= 3]
            if few.size and few.min() < _MIN_CLUSTERS:
                notes.append(_few_clusters_note(int(few.min())))
    with np.errstate(invalid="ignore"):
        cols.update(
            mean_pre=np.where(n > 0, mean_pre, np.nan),
            sd_pre=np.sqrt(np.maximum(vx, 0)),
            mean_post=np.where(n > 0, mean_post, np.nan),
            sd_post=np.sqrt(np.maximum(vy, 0)),
            r=r,
            mean_change=np.where(n > 0, mean_post - mean_pre, np.nan),
            sd_change=np.sqrt(vd),
        )
    table = pd.DataFrame(cols, index=pd.RangeIndex(n_groups))
    if by_cols:
        table = pd.concat([keys.reset_index(drop=True), table], axis=1)

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
    title = f"Pre–post standardized mean change ({label})"
    params = {"pre": pre, "post": post, "better_is": better_is, "ci_level": level}
    if by_cols:
        params["by"] = ", ".join(by_cols)
    return TableResult(
        table=table, title=title, method=method_text, params=params, notes=tuple(notes)
    )


# --------------------------------------------------------------------------------------
# rm_d_from_summary
# --------------------------------------------------------------------------------------


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
    method: str = _DEFAULT_METHOD,
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

    >>> from iop_outcomes.effectsize import rm_d_from_summary
    >>> res = rm_d_from_summary(n=218, mean_change=-8.30, sd_change=5.03, method="z")
    >>> round(float(res.to_frame()["estimate"][0]), 2)
    1.64

    Rogers PHP, QIDS-SR 16.3 (4.6) → 9.1 (5.1), n = 604 (r not reported):

    >>> res = rm_d_from_summary(16.3, 4.6, 9.1, 5.1, 604, method="av", adjust=False)
    >>> round(float(res.to_frame()["estimate"][0]), 2)
    1.48
    """
    func = "rm_d_from_summary"
    key = _norm_method(method)
    _check_choice("better_is", better_is, ("lower", "higher"), func)
    level = _check_ci_level(ci_level, func)
    if n is None:
        raise ConfigError(f"The 'n' parameter of {func} (number of pairs) is required.")

    def arr(v):
        return np.nan if v is None else np.asarray(v, dtype=float)

    m1, s1, m2, s2, nn = arr(mean_pre), arr(sd_pre), arr(mean_post), arr(sd_post), arr(n)
    rr, mc, sdc, ar = arr(r), arr(mean_change), arr(sd_change), arr(assumed_r)
    m1, s1, m2, s2, nn, rr, mc, sdc, ar = np.broadcast_arrays(m1, s1, m2, s2, nn, rr, mc, sdc, ar)
    m1, s1, m2, s2, nn = (np.array(a, dtype=float, ndmin=1).ravel() for a in (m1, s1, m2, s2, nn))
    rr, mc, sdc, ar = (np.array(a, dtype=float, ndmin=1).ravel() for a in (rr, mc, sdc, ar))
    if np.any(nn[np.isfinite(nn)] < 2):
        raise ConfigError(f"The 'n' parameter of {func} must be >= 2. Got {n!r} instead.")
    for name, v in (("sd_pre", s1), ("sd_post", s2), ("sd_change", sdc)):
        if np.any(v[np.isfinite(v)] < 0):
            raise ConfigError(f"The '{name}' parameter of {func} must be >= 0.")
    if np.any(np.abs(rr[np.isfinite(rr)]) > 1) or np.any(np.abs(ar[np.isfinite(ar)]) > 1):
        raise ConfigError(f"Correlations passed to {func} must lie in [-1, 1].")

    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(np.isfinite(mc), mc, m2 - m1)  # post − pre
        derived = (s1**2 + s2**2 - sdc**2) / (2 * s1 * s2)
    r_source = np.full(nn.shape, "unknown", dtype=object)
    r_use = np.full(nn.shape, np.nan)
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
    with np.errstate(invalid="ignore", divide="ignore"):
        vd = np.where(np.isfinite(sdc), sdc**2, s1**2 + s2**2 - 2 * r_use * s1 * s2)
        vx, vy = s1**2, s2**2
    sign = 1.0 if better_is == "lower" else -1.0
    md = -sign * change
    # Unlike rm_d, S_d and r come from the summaries here, not from a covariance.
    with np.errstate(invalid="ignore", divide="ignore"):
        s = _standardizer(key, vx, vy, vd, r_use)
        d = np.where(s > 0, md / s, np.nan)
        j = np.where(nn >= 3, hedges_j(nn - 1.0), np.nan) if adjust else np.ones_like(d)
    est = d * j
    var = _variance(key, est, nn, r_use, vx, vy, vd, heteroscedastic)
    se = np.sqrt(var)
    z = z_crit(level)
    label = _label(key, adjust)
    table = pd.DataFrame(
        {
            "method": label,
            "estimate": est,
            "se": se,
            "ci_low": est - z * se,
            "ci_high": est + z * se,
            "ci_level": level,
            "ci_method": "analytic",
            "n": nn.astype(np.int64) if np.all(np.isfinite(nn) & (nn == np.round(nn))) else nn,
            "r": r_use,
            "r_source": r_source,
            "mean_change": change,
            "sd_change": np.sqrt(vd),
        }
    )
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
    info = _VARIANTS[key]
    vinfo = _variance_info(key, heteroscedastic)
    sd_note = _sd_ratio_note(key, heteroscedastic, s1, s2)
    if sd_note:
        notes.append(sd_note)
    method_text = (
        f"{label} = {'J·' if adjust else ''}{info['formula']} from published summaries; "
        f"{'Hedges J with df = n − 1; ' if adjust else ''}CI: normal, {vinfo['variance']} "
        f"({vinfo['source']})"
    )
    return TableResult(
        table=table,
        title=f"Pre–post standardized mean change from summaries ({label})",
        method=method_text,
        params={"better_is": better_is, "ci_level": level},
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------
# bootstrap_ci (generic)
# --------------------------------------------------------------------------------------


def _labels(data, spec, name: str, func: str):
    """Group / cluster labels from a column name (DataFrame) or an array of labels."""
    if spec is None:
        return None, []
    if isinstance(data, pd.DataFrame) and (
        isinstance(spec, str)
        or (isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec))
    ):
        cols = _as_list(spec)
        _require_columns(data, cols, func)
        return data[cols].reset_index(drop=True), cols
    lab = pd.Series(np.asarray(spec))
    if len(lab) != len(data):
        raise ConfigError(
            f"The '{name}' parameter of {func} must be column name(s) or an array with one "
            f"label per row ({len(data)}). Got length {len(lab)}."
        )
    return lab.to_frame(name), [name]


def _take(data, idx):
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data.iloc[idx]
    return np.asarray(data)[idx]


def _names_values(value, func: str) -> tuple[list[str], np.ndarray]:
    if isinstance(value, pd.Series):
        return [str(k) for k in value.index], value.to_numpy(dtype=float)
    if isinstance(value, Mapping):
        return [str(k) for k in value], np.array(list(value.values()), dtype=float)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return ["statistic"], arr.reshape(1)
    if arr.ndim == 1:
        return [f"statistic_{i}" for i in range(arr.size)], arr
    raise DataError(
        f"The statistic passed to {func} must return a number, a 1-D array, a dict or a "
        f"Series of numbers. Got an array of shape {arr.shape}."
    )


def _as_values(value) -> np.ndarray:
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=float)
    if isinstance(value, Mapping):
        return np.array(list(value.values()), dtype=float)
    return np.asarray(value, dtype=float).reshape(-1)


def bootstrap_ci(
    data,
    statistic: Callable,
    *,
    n_boot: int = 2000,
    method: str = "bca",
    seed=None,
    cluster=None,
    by=None,
    ci_level: float = 0.95,
    progress: bool | None = None,
) -> TableResult:
    r"""Bootstrap confidence interval (BCa or percentile) for any statistic of a table.

    Episodes (rows) are resampled with replacement — or, with ``cluster``, whole clusters
    (e.g. sites; Davison & Hinkley 1997, §3.8) — ``n_boot`` times from a seeded
    :class:`numpy.random.Generator`; with ``by``, separately within each group (one row of
    results per group and statistic).

    ``statistic`` is either

    * ``f(df) -> number | dict | Series | 1-D array``: called once per replicate on the
      resampled table (index matrices are drawn in vectorized chunks); or
    * *vectorized*: ``f(df, weights) -> array``, recognised by a parameter named
      ``weights``. It receives a ``(b, n)`` array of bootstrap counts (how often each row
      is drawn in each of ``b`` replicates) and returns ``b`` values (or ``(b, k)``).
      Weighted sums ``weights @ x`` make 2,000 replicates cost a few matrix products.

    The **BCa** interval (Efron 1987; Efron & Tibshirani 1993, §14.3) is

    .. math::
        \alpha_{1,2} = \Phi\!\left(\hat z_0 + \frac{\hat z_0 + z_{\alpha/2,\,1-\alpha/2}}
        {1 - \hat a(\hat z_0 + z_{\alpha/2,\,1-\alpha/2})}\right)

    with :math:`\hat z_0 = \Phi^{-1}(\#\{\theta^*_b < \hat\theta\} + \tfrac12\#\{\theta^*_b
    = \hat\theta\})/B` and the jackknife acceleration :math:`\hat a = \sum u_i^3 / (6(\sum
    u_i^2)^{3/2})`, :math:`u_i = \bar\theta_{(\cdot)} - \hat\theta_{(i)}`; the limits are
    the :math:`\alpha_1, \alpha_2` quantiles (linear interpolation) of the replicates — the
    conventions of ``scipy.stats.bootstrap``. The jackknife deletes one resampling unit
    (row or cluster); above 2,000 units it deletes one of 2,000 random groups of units
    (grouped jackknife, Efron & Narasimhan 2020). The percentile interval uses the
    :math:`\alpha/2` and :math:`1-\alpha/2` quantiles. Replicates where the statistic is
    not finite are dropped (``n_boot`` reports how many were kept).

    Parameters
    ----------
    data : DataFrame or array
        One row per resampling unit (episode).
    statistic : callable
        See above.
    n_boot : int
        Number of bootstrap replicates (>= 100; 2,000+ for BCa).
    method : {"bca", "percentile"}
    seed : int, numpy Generator or None
        Seed for reproducible intervals.
    cluster : str or array-like, optional
        Column (or labels) of clusters resampled whole, e.g. ``"site"``.
    by : str, list of str or array-like, optional
        Grouping; the bootstrap runs separately within each group.
    ci_level : float
        Confidence level.
    progress : bool, optional
        Show a tqdm progress bar (default: only for long runs).

    Returns
    -------
    TableResult
        Per group and statistic: ``statistic`` (name), ``estimate``, ``se`` (SD of
        replicates), ``bias`` (mean of replicates − estimate), ``ci_low``, ``ci_high``,
        ``ci_level``, ``method``, ``n_boot``, ``n_used`` (+ ``n_clusters``), and for BCa
        ``z0`` and ``acceleration``.

    References
    ----------
    .. [1] Efron B (1987). Better bootstrap confidence intervals. J Am Stat Assoc 82:171–185.
    .. [2] Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
    .. [3] Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. CUP.
    .. [4] Efron B, Narasimhan B (2020). The automatic construction of bootstrap confidence
       intervals. J Comput Graph Stat 29:608–619.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"change": np.arange(-10.0, 10.0)})
    >>> res = iop.bootstrap_ci(ep, lambda d: d["change"].mean(), n_boot=1000, seed=1)
    >>> row = res.to_frame().iloc[0]
    >>> row["method"], float(row["estimate"]), bool(row["ci_low"] < -0.5 < row["ci_high"])
    ('bca', -0.5, True)

    The vectorized form: the same statistic as weighted sums over a ``(b, n)`` array of
    bootstrap counts, cluster-resampled by site (use the table passed in, ``d``, not the
    outer one: with ``by`` it is the group's rows):

    >>> ep["site"] = ["A", "B", "C", "D"] * 5
    >>> def mean_change(d, weights):
    ...     return weights @ d["change"].to_numpy() / weights.sum(axis=1)
    >>> res = iop.bootstrap_ci(ep, mean_change, cluster="site", n_boot=1000, seed=1)
    >>> row = res.to_frame().iloc[0]
    >>> row["statistic"], int(row["n_clusters"])
    ('mean_change', 4)
    """
    func = "bootstrap_ci"
    if not callable(statistic):
        raise ConfigError(
            f"The 'statistic' parameter of {func} must be a callable f(data) or "
            f"f(data, weights). Got {type(statistic).__name__} instead."
        )
    if not isinstance(data, (pd.DataFrame, pd.Series, np.ndarray)):
        try:
            data = np.asarray(data, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"The 'data' parameter of {func} must be a DataFrame or an array."
            ) from exc
    _check_choice("method", method, ("bca", "percentile"), func)
    level = _check_ci_level(ci_level, func)
    n_boot = _check_n_boot(n_boot, func)
    n_rows = len(data)
    if n_rows < 2:
        raise DataError(f"{func} needs at least 2 rows; got {n_rows}.")
    try:
        params = inspect.signature(statistic).parameters
    except (TypeError, ValueError):
        params = {}
    weighted = "weights" in params

    by_frame, by_cols = _labels(data, by, "group", func)
    cl_frame, _ = _labels(data, cluster, "cluster", func)
    if by_frame is not None:
        g = by_frame.groupby(by_cols, dropna=False, sort=True, observed=True)
        gcodes = g.ngroup().to_numpy()
        keys = g.size().index.to_frame(index=False)
    else:
        gcodes = np.zeros(n_rows, dtype=np.int64)
        keys = None
    if cl_frame is not None:
        lab = cl_frame.iloc[:, 0]
        if lab.isna().any():
            raise DataError(
                f"The cluster labels passed to {func} have {int(lab.isna().sum())} missing "
                "value(s). Fill them or drop those rows."
            )
        ccodes = pd.factorize(lab, sort=True)[0]
    else:
        ccodes = None

    rng = _rng(seed)
    n_groups = int(gcodes.max()) + 1
    show = (
        (n_boot * n_rows >= _PROGRESS_WORK // (1 if weighted else 50))
        if progress is None
        else bool(progress)
    )
    rows = []
    notes: list[str] = []
    with _progress(n_boot * n_groups, show, f"{func}") as bar:
        for gi in range(n_groups):
            ridx = np.flatnonzero(gcodes == gi)
            sub = _take(data, ridx)
            if isinstance(sub, (pd.DataFrame, pd.Series)):
                sub = sub.reset_index(drop=True)
            # resampling units: rows, or clusters (row lists)
            if ccodes is not None:
                cu, cinv = np.unique(ccodes[ridx], return_inverse=True)
                n_units = cu.size
                order = np.argsort(cinv, kind="stable")
                starts = np.r_[0, np.cumsum(np.bincount(cinv, minlength=n_units))]
                unit_rows = [order[starts[k] : starts[k + 1]] for k in range(n_units)]
            else:
                n_units = ridx.size
                cinv = None
                unit_rows = None
            res = _generic_bootstrap(
                sub, statistic, weighted, n_units, cinv, unit_rows, n_boot, rng, bar, func
            )
            names, theta, boot, jack, jack_w = res
            for k, name in enumerate(names):
                iv = _interval(theta[k], boot[:, k], jack[:, k], jack_w, level, method)
                row = {} if keys is None else keys.iloc[gi].to_dict()
                row.update(
                    statistic=name,
                    estimate=theta[k],
                    se=iv["se"],
                    bias=iv["bias"],
                    ci_low=iv["ci_low"],
                    ci_high=iv["ci_high"],
                    ci_level=level,
                    method=method,
                    n_boot=iv["n_boot"],
                    n_used=int(ridx.size),
                )
                if ccodes is not None:
                    row["n_clusters"] = int(n_units)
                    if n_units < _MIN_CLUSTERS:
                        notes.append(_few_clusters_note(int(n_units)))
                if method == "bca":
                    row["z0"] = iv["z0"]
                    row["acceleration"] = iv["acceleration"]
                rows.append(row)
                if iv["n_boot"] < n_boot:
                    notes.append(
                        f"{name}: {n_boot - iv['n_boot']} replicate(s) gave a non-finite "
                        "value and were dropped."
                    )
            if n_units > _JACK_MAX and method == "bca":
                notes.append(
                    f"Acceleration from a grouped jackknife ({_JACK_MAX} groups of "
                    f"{n_units:,} units)."
                )
    table = pd.DataFrame(rows)
    unit = (
        f"clusters ({cluster if isinstance(cluster, str) else 'cluster'})"
        if ccodes is not None
        else "rows"
    )
    desc = (
        f"{'BCa' if method == 'bca' else 'percentile'} bootstrap (Efron 1987), {n_boot} "
        f"replicates resampling {unit}{' within each group' if keys is not None else ''}, "
        f"seed={seed!r}"
    )
    return TableResult(
        table=table,
        title="Bootstrap confidence intervals",
        method=desc,
        params={"n_boot": n_boot, "ci_level": level},
        notes=tuple(dict.fromkeys(notes)),
    )


def _generic_bootstrap(sub, statistic, weighted, n_units, cinv, unit_rows, n_boot, rng, bar, func):
    """Replicates and jackknife values of a user statistic on one group."""
    n = len(sub)
    if weighted:
        theta_raw = np.asarray(statistic(sub, weights=np.ones((1, n))), dtype=float)
        theta = theta_raw.reshape(1, -1)[0]
        names = ["statistic"] if theta.size == 1 else [f"statistic_{i}" for i in range(theta.size)]
    else:
        names, theta = _names_values(statistic(sub), func)
    fname = getattr(statistic, "__name__", "")
    if names == ["statistic"] and fname.isidentifier() and fname != "<lambda>":
        names = [fname]
    k = theta.size
    if n_units < 2:  # nothing to resample
        return names, theta, np.full((n_boot, k), np.nan), np.full((1, k), np.nan), np.ones(1)
    boot = np.empty((n_boot, k))

    def unit_weights(counts):  # (b, n_units) -> (b, n) row weights
        return counts if cinv is None else counts[:, cinv]

    per_rep = n_units
    chunk = max(1, min(n_boot, _CHUNK_ELEMS // max(per_rep, n)))
    mult = np.ones(n_units, dtype=np.int64)
    unit_of = np.arange(n_units, dtype=np.int64)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = _resample_counts(mult, b, rng, unit_of)  # (b, n_units)
        if weighted:
            vals = np.asarray(statistic(sub, weights=unit_weights(counts).astype(float)), float)
            boot[start : start + b] = vals.reshape(b, k)
        else:
            if unit_rows is None:
                idx_all = _indices_from_counts(counts)
                for i in range(b):
                    boot[start + i] = _as_values(statistic(_take(sub, idx_all[i])))
            else:
                for i in range(b):
                    idx = np.concatenate(
                        [unit_rows[u] for u in np.repeat(np.arange(n_units), counts[i])]
                    )
                    boot[start + i] = _as_values(statistic(_take(sub, idx)))
        if bar is not None:
            bar.update(b)

    # jackknife over units (grouped above _JACK_MAX units)
    if n_units > _JACK_MAX:
        grp = rng.permutation(np.arange(n_units) % _JACK_MAX)
        n_del = _JACK_MAX
    else:
        grp = np.arange(n_units)
        n_del = n_units
    jack = np.empty((n_del, k))
    if weighted:
        jchunk = max(1, _CHUNK_ELEMS // max(n, 1))
        for start in range(0, n_del, jchunk):
            e = min(n_del, start + jchunk)
            keep = (grp[None, :] != np.arange(start, e)[:, None]).astype(float)  # (m, units)
            w = unit_weights(keep)
            jack[start:e] = np.asarray(statistic(sub, weights=w), float).reshape(e - start, k)
    else:
        row_grp = grp if cinv is None else grp[cinv]
        for i in range(n_del):
            jack[i] = _as_values(statistic(_take(sub, np.flatnonzero(row_grp != i))))
    return names, theta, boot, jack, np.ones(n_del)


def _few_clusters_note(k: int) -> str:
    return (
        f"Only {k} cluster(s) in a group: a cluster bootstrap needs many more (>= {_MIN_CLUSTERS}, "
        "preferably 20+) to be trusted; these intervals are likely too narrow."
    )


def _indices_from_counts(counts: np.ndarray) -> list[np.ndarray]:
    """Row indices of each replicate from its count vector (sorted; order is irrelevant to a
    statistic of the resampled multiset)."""
    ar = np.arange(counts.shape[1])
    return [np.repeat(ar, c) for c in counts]
