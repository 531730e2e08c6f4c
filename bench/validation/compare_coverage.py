"""Bias and 95 % CI coverage of iop_outcomes.compare on data with a known format effect.

Scenarios
---------
A  "randomised": format independent of covariates; endpoint = 4 + 0.5 baseline
   + 0.05 (age - 40) + DELTA * virtual + N(0, 4^2); n = 600 per seed.
B  "confounded": as A, but P(virtual) = logistic(-0.3 - 0.04 (age - 40) + 0.12 (baseline - 16))
   (younger and more severe patients choose virtual). The effect is homogeneous, so the ATE,
   the overlap-weighted effect (ATO) and the ANCOVA coefficient all equal DELTA; the propensity
   and outcome models are correctly specified. Welch (unadjusted) is confounded here — shown
   to document the bias it should have.
C  "synth pipeline": iop.synth.generate (no dropout; true_change in_person -7, virtual -6,
   so DELTA = +1 before floor clipping) -> iop.load -> iop.episodes -> compare. Truth: the
   mean over seeds of the finite-sample true difference (truth.sample_format_change), which
   includes the small floor-clipping effect.

Usage: python bench/validation/compare_coverage.py [--seeds 500] [--synth-seeds 100]
Results are recorded in bench/VALIDATION.md (section "Comparisons").
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import iop_outcomes as iop
from iop_outcomes._compare import compare
from iop_outcomes.exceptions import IOPWarning

DELTA = 1.0
METHODS = ("welch", "ancova", "iptw", "overlap", "doubly_robust")


def simulate(seed: int, confounded: bool, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 70, n)
    baseline = rng.normal(16, 5, n)
    if confounded:
        lin = -0.3 - 0.04 * (age - 40) + 0.12 * (baseline - 16)
    else:
        lin = np.full(n, -0.3)
    virtual = rng.random(n) < 1 / (1 + np.exp(-lin))
    endpoint = 4 + 0.5 * baseline + 0.05 * (age - 40) + DELTA * virtual + rng.normal(0, 4, n)
    return pd.DataFrame(
        {
            "format": np.where(virtual, "virtual", "in_person"),
            "age": age,
            "baseline": baseline,
            "endpoint": endpoint,
        }
    )


def run_scenario(name, frames, truth, contrast="virtual - in_person", covariates=("age",)):
    rows = []
    for method in METHODS:
        est, lo, hi, se = [], [], [], []
        t0 = time.perf_counter()
        for df in frames:
            cov = () if method == "welch" else covariates
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IOPWarning)
                t = compare(df, method=method, covariates=cov, instrument=None).table
            r = t[t["contrast"] == contrast].iloc[0]
            est.append(r["estimate"])
            lo.append(r["ci_low"])
            hi.append(r["ci_high"])
            se.append(r["se"])
        est, lo, hi, se = map(np.asarray, (est, lo, hi, se))
        k = len(est)
        cover = float(np.mean((lo <= truth) & (truth <= hi)))
        rows.append(
            dict(
                scenario=name,
                method=method,
                seeds=k,
                truth=truth,
                mean_estimate=est.mean(),
                bias=est.mean() - truth,
                mc_se_bias=est.std(ddof=1) / np.sqrt(k),
                empirical_sd=est.std(ddof=1),
                mean_se=se.mean(),
                coverage=cover,
                mc_se_coverage=np.sqrt(cover * (1 - cover) / k),
                seconds=time.perf_counter() - t0,
            )
        )
    return pd.DataFrame(rows)


def synth_frames(seeds: int, n_episodes: int, seed0: int = 1000):
    frames, truths = [], []
    for s in range(seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = iop.synth.generate(
                n_episodes=n_episodes,
                seed=seed0 + s,
                dropout_hazard=1e-9,
                true_change={"in_person": -7.0, "virtual": -6.0, "hybrid": -6.5},
            )
            ep = iop.episodes(iop.load(sim.data).data, instrument="PHQ-9")
        ep = ep[(ep["instrument"] == "PHQ-9") & ep["format"].isin(["virtual", "in_person"])]
        frames.append(ep[["format", "age", "baseline", "endpoint"]].dropna())
        tc = sim.truth.sample_format_change("PHQ-9")
        truths.append(tc["virtual"] - tc["in_person"])
    return frames, float(np.mean(truths))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--synth-seeds", type=int, default=100)
    ap.add_argument("--synth-n", type=int, default=1500)
    ap.add_argument("--synth-seed0", type=int, default=1000)
    a = ap.parse_args()
    out = []
    for name, conf in (("A randomised", False), ("B confounded", True)):
        if not a.seeds:
            break
        frames = [simulate(s, conf) for s in range(a.seeds)]
        out.append(run_scenario(name, frames, DELTA))
    if a.synth_seeds:
        frames, truth = synth_frames(a.synth_seeds, a.synth_n, a.synth_seed0)
        out.append(run_scenario("C synth pipeline", frames, truth))
    res = pd.concat(out, ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.round(4).to_string(index=False))
    print()
    print(_markdown(res))


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    fmt = [
        "|".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r)
        for r in df.itertuples(index=False)
    ]
    lines = ["|" + "|".join(cols) + "|", "|" + "|".join("---" for _ in cols) + "|"]
    return "\n".join(lines + ["|" + r + "|" for r in fmt])


if __name__ == "__main__":
    main()
