"""The resampling engine shared by :func:`~iop_outcomes.rm_d` and
:func:`~iop_outcomes.bootstrap_ci`: seeded generators, bootstrap counts (multinomial or
Poisson), the moment bootstrap, and percentile / BCa intervals (Efron 1987).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import ndtr, ndtri

from .._stats import midrank_below, tie_tolerance
from ..exceptions import ConfigError

__all__ = [
    "JACK_MAX",
    "CHUNK_ELEMS",
    "MIN_CLUSTERS",
    "PROGRESS_WORK",
    "POISSON_MIN_N",
    "make_rng",
    "progress_bar",
    "resample_counts",
    "moment_bootstrap",
    "bootstrap_interval",
    "few_clusters_note",
    "indices_from_counts",
]

# Up to this many resampling units the BCa acceleration uses the exact
# delete-one jackknife for a generic (callable) statistic; above it a grouped
# (delete-a-group) jackknife with this many groups (Efron & Narasimhan 2020).
JACK_MAX = 2000
# Elements per chunk of a resampling matrix (memory bound: ~130 MB of int64).
CHUNK_ELEMS = 1 << 24
# Fewer clusters than this in a group: the cluster bootstrap is flagged as unreliable.
MIN_CLUSTERS = 10
# Show a progress bar when the resampling work (replicates x units) exceeds this.
PROGRESS_WORK = 50_000_000


# --------------------------------------------------------------------------------------
# Resampling engine
# --------------------------------------------------------------------------------------


def make_rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"The 'seed' parameter must be None, an integer or a numpy Generator. Got {seed!r}."
        ) from exc


def progress_bar(total: int, show: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not show, desc=desc, unit="rep", leave=False)


#: From this many resampling units on, bootstrap counts are Poisson draws (see resample_counts).
POISSON_MIN_N = 10_000


def resample_counts(mult: np.ndarray, b: int, rng: np.random.Generator, unit_of=None):
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


def moment_bootstrap(
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
    chunk = max(1, min(n_boot, CHUNK_ELEMS // max(per_rep, 1)))
    boot = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = resample_counts(mult, b, rng, unit_of)
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


def bootstrap_interval(theta_hat, boot, jack, jack_w, ci_level: float, method: str) -> dict:
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


def few_clusters_note(k: int) -> str:
    return (
        f"Only {k} cluster(s) in a group: a cluster bootstrap needs many more (>= {MIN_CLUSTERS}, "
        "preferably 20+) to be trusted; these intervals are likely too narrow."
    )


def indices_from_counts(counts: np.ndarray) -> list[np.ndarray]:
    """Row indices of each replicate from its count vector (sorted; order is irrelevant to a
    statistic of the resampled multiset)."""
    ar = np.arange(counts.shape[1])
    return [np.repeat(ar, c) for c in counts]
