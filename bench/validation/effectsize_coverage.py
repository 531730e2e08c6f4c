"""Coverage and bias of iop_outcomes.effectsize CIs on simulated bivariate-normal pre-post data.

Analytic CIs: 4,000 simulated data sets per cell, all four variants, with and without
Hedges' correction (evaluated through the same vectorized code that rm_d uses, and spot-checked
against rm_d itself). Bootstrap: BCa and percentile through the public rm_d(by=...) on 400 data
sets per cell. Prints Markdown tables for bench/VALIDATION.md.

Run: python bench/validation/effectsize_coverage.py   (~1-3 min on one core)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iop_outcomes import rm_d
from iop_outcomes._effectsize.formulas import effect as _effect
from iop_outcomes._effectsize.formulas import variance as _variance
from iop_outcomes._stats import z_crit

MU_PRE, SD_PRE, CHANGE = 16.0, 5.0, 5.0  # PHQ-9-like: mean 16, SD 5, mean fall 5


def truth(method: str, rho: float, ratio: float) -> float:
    s1, s2 = SD_PRE, SD_PRE * ratio
    sd_d = np.sqrt(s1**2 + s2**2 - 2 * rho * s1 * s2)
    return {
        "z": CHANGE / sd_d,
        "rm": CHANGE * np.sqrt(2 * (1 - rho)) / sd_d,
        "av": CHANGE / np.sqrt((s1**2 + s2**2) / 2),
        "b": CHANGE / s1,
    }[method]


def simulate(rng, reps: int, n: int, rho: float, ratio: float):
    s1, s2 = SD_PRE, SD_PRE * ratio
    z1 = rng.standard_normal((reps, n))
    z2 = rho * z1 + np.sqrt(1 - rho**2) * rng.standard_normal((reps, n))
    return MU_PRE + s1 * z1, MU_PRE - CHANGE + s2 * z2


def analytic(seed: int = 2026, reps: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = z_crit(0.95)
    rows = []
    for n in (20, 50, 200):
        for rho in (0.3, 0.7):
            for ratio in (1.0, 1.4):
                x, y = simulate(rng, reps, n, rho, ratio)
                vx, vy = x.var(axis=1, ddof=1), y.var(axis=1, ddof=1)
                cxy = ((x - x.mean(1, keepdims=True)) * (y - y.mean(1, keepdims=True))).sum(1) / (
                    n - 1
                )
                md = x.mean(1) - y.mean(1)
                for m in ("z", "rm", "av", "b"):
                    for adjust in (False, True):
                        est, d, j, r, vd = _effect(m, np.full(reps, n), md, vx, vy, cxy, adjust)
                        se = np.sqrt(_variance(m, est, n, r, vx, vy, vd))
                        t = truth(m, rho, ratio)
                        cover = np.mean((est - z * se <= t) & (t <= est + z * se))
                        rows.append(
                            dict(
                                n=n,
                                hetero=False,
                                rho=rho,
                                sd_ratio=ratio,
                                method=("g_" if adjust else "d_") + m,
                                truth=t,
                                mean_est=est.mean(),
                                rel_bias=est.mean() / t - 1,
                                coverage=cover,
                            )
                        )
                # d_b with Bonett's heteroscedastic variance
                est, d, j, r, vd = _effect("b", np.full(reps, n), md, vx, vy, cxy, True)
                se = np.sqrt(_variance("b", est, n, r, vx, vy, vd, heteroscedastic=True))
                t = truth("b", rho, ratio)
                rows.append(
                    dict(
                        n=n,
                        hetero=True,
                        rho=rho,
                        sd_ratio=ratio,
                        method="g_b (Bonett var)",
                        truth=t,
                        mean_est=est.mean(),
                        rel_bias=est.mean() / t - 1,
                        coverage=np.mean((est - z * se <= t) & (t <= est + z * se)),
                    )
                )
                # spot check: first simulated data set through the public function
                df = pd.DataFrame({"baseline": x[0], "endpoint": y[0]})
                for m in ("z", "rm", "av", "b"):
                    est, *_ = _effect(m, n, md[0], vx[0], vy[0], cxy[0], True)
                    pub = rm_d(df, method=m).to_frame()["estimate"][0]
                    assert abs(float(est) - pub) < 1e-10
    return pd.DataFrame(rows)


def bootstrap(seed: int = 7, reps: int = 400, n_boot: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for n, rho, ratio in ((30, 0.5, 1.4), (100, 0.5, 1.4)):
        x, y = simulate(rng, reps, n, rho, ratio)
        df = pd.DataFrame(
            {"rep": np.repeat(np.arange(reps), n), "baseline": x.ravel(), "endpoint": y.ravel()}
        )
        for m in ("av", "b"):
            t = truth(m, rho, ratio)
            for ci in ("bca", "percentile"):
                res = rm_d(df, method=m, by="rep", ci_method=ci, n_boot=n_boot, seed=seed)
                tab = res.to_frame()
                cover = np.mean((tab["ci_low"] <= t) & (t <= tab["ci_high"]))
                rows.append(
                    dict(
                        n=n,
                        rho=rho,
                        sd_ratio=ratio,
                        method="g_" + m,
                        ci_method=ci,
                        n_boot=n_boot,
                        datasets=reps,
                        coverage=cover,
                    )
                )
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame, digits: int) -> str:
    df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = [
        "| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in df.itertuples(index=False)
    ]
    return "\n".join([head, sep, *body])


if __name__ == "__main__":
    a = analytic()
    print("## Analytic 95% CIs: coverage (4,000 data sets per cell)\n")
    wide = a.pivot_table(index=["n", "rho", "sd_ratio"], columns="method", values="coverage")
    print(markdown(wide, 3))
    print("\n## Relative bias of the estimate (mean / truth - 1)\n")
    a = a[~a["hetero"]]
    wide = a.pivot_table(index=["n", "rho", "sd_ratio"], columns="method", values="rel_bias")
    print(markdown(wide, 4))
    b = bootstrap()
    print("\n## Bootstrap 95% CIs (public rm_d, by=data set)\n")
    print(markdown(b, 3))
