"""Validation of the off-track alerts (iop.monitor): does "not on track at week k" predict the
outcome at discharge?

    nice -n 10 python bench/validate_monitor.py [N_EPISODES] [--out bench/validate_monitor.csv]

Three cohorts, each on a **time split** (curves fitted only on episodes admitted before the
median admission date and discharged by then, as ``recovery_curves(as_of=split)`` sees them;
flags judged on episodes admitted after it):

* ``synth, off_track_share=0.2``: ``iop.synth.generate`` with a known 20 % of non-responders
  (their true change ~ N(+1, 2.5)); outcomes both observed and true;
* ``synth, default``: the default model (true change ~ N(-7, 5) for everyone);
* ``demo``: the bundled demo data (``iop.synth.demo()``), with its known 10 % of non-responders
  (``off_track_share=0.1``).

For each test episode with a PHQ-9 score near week k (k = 2, 3, 4: the in-treatment score whose
days since admission are nearest 7k, within +-3 days) and a later endpoint, the flag is
``score > upper(baseline, week)`` with the curves' 75th (and 90th) percentile, exactly
``monitor``'s ``not_on_track`` rule (checked against ``iop.monitor`` on sampled review dates
below). Outcomes, from ``iop.episodes`` (endpoint = last score in treatment, so dropouts count
at their last score):

* ``no reliable improvement``: endpoint - baseline > -6 (the PHQ-9 threshold, 6 points);
* ``reliable deterioration``: endpoint - baseline >= +6;
* ``true non-response`` (synthetic truth): true change at the last week > -6;
* ``drawn off-track`` (synthetic truth, off_track_share > 0): the episode was a non-responder.

Sensitivity, specificity and PPV with 95 % Wilson intervals (``iop_outcomes._stats.wilson_ci``).
Prints a Markdown table; ``--out`` also writes all numbers as CSV.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

import iop_outcomes as iop
from iop_outcomes._episodes import assessment_roles
from iop_outcomes._monitor import recovery_curves
from iop_outcomes._stats import wilson_ci

WEEKS = (2, 3, 4)
UPPERS = (0.75, 0.9)
RC = iop.instruments.get("PHQ-9").reliable_change  # 6 points
CALIBRATION: list[dict] = []  # held-out share above the band / at or below the median


def cohorts(n: int):
    yield "synth, off_track_share=0.2", iop.synth.generate(n, seed=14, off_track_share=0.2)
    yield "synth, default", iop.synth.generate(n, seed=15)
    yield "demo", iop.synth.demo()


def week_k_scores(roles: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per episode, the in-treatment score nearest day 7k (within 3 days), after the baseline."""
    tx = roles.loc[roles["role"].isin(["treatment", "endpoint"]) & roles["total"].notna()]
    tx = tx.assign(dist=(tx["days"] - 7 * k).abs())
    tx = tx.loc[tx["dist"] <= 3].sort_values(["episode_id", "dist", "days"], kind="mergesort")
    return tx.drop_duplicates("episode_id").set_index("episode_id")


def metrics(flag: np.ndarray, outcome: np.ndarray) -> dict:
    tp = int(np.sum(flag & outcome))
    fp = int(np.sum(flag & ~outcome))
    fn = int(np.sum(~flag & outcome))
    tn = int(np.sum(~flag & ~outcome))
    row = {"n": len(flag), "prevalence": (tp + fn) / max(len(flag), 1), "flagged": tp + fp}
    for name, k, m in (("sens", tp, tp + fn), ("spec", tn, tn + fp), ("ppv", tp, tp + fp)):
        lo, hi = wilson_ci(k, m)
        row[name] = k / m if m else np.nan
        row[f"{name}_lo"], row[f"{name}_hi"] = float(lo), float(hi)
    return row


def validate(name: str, sim, check_monitor: bool = True) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(sim.data).data
    rows = loaded.loc[loaded["instrument"] == "PHQ-9"]
    admit = rows.groupby("episode_id")["admit_date"].first()
    split = admit.sort_values().iloc[len(admit) // 2]
    test_ids = admit.index[admit > split]
    ep = iop.episodes(rows, instrument="PHQ-9").set_index("episode_id").loc[test_ids]
    roles = assessment_roles(rows.loc[rows["episode_id"].isin(test_ids)], instrument="PHQ-9")
    truth = sim.truth.episodes.set_index("episode_id").reindex(test_ids)
    true_change = truth["true_phq_last"] - truth["true_phq_baseline"]
    out = []
    for upper in UPPERS:
        curves = recovery_curves(rows, upper=upper, as_of=split)
        for k in WEEKS:
            s = week_k_scores(roles, k)
            s = s.loc[s.index.isin(ep.index)]
            e = ep.loc[s.index]
            keep = (e["endpoint_date"] > s["assessment_date"]) & e["baseline"].notna()
            s, e = s.loc[keep], e.loc[keep]
            pred = curves.predict(e["baseline"].to_numpy(), s["days"].to_numpy() / 7)
            flag = s["total"].to_numpy() > pred["upper"].to_numpy()
            done = (e["discharge_status"].astype("object") == "completed").to_numpy()
            below = s["total"].to_numpy() <= pred["expected"].to_numpy()
            CALIBRATION.append(
                {
                    "cohort": name,
                    "upper": upper,
                    "week": k,
                    "n": len(s),
                    "above_upper": flag.mean(),
                    "at_or_below_median": below.mean(),
                    "n_completed": int(done.sum()),
                    "above_upper_completed": flag[done].mean(),
                    "at_or_below_median_completed": below[done].mean(),
                }
            )
            outcomes = {
                "no reliable improvement": (e["change"] > -RC).to_numpy(),
                "reliable deterioration": (e["change"] >= RC).to_numpy(),
                "true non-response": (true_change.loc[s.index] > -RC).to_numpy(),
            }
            if "off_track" in truth:
                outcomes["drawn off-track"] = truth.loc[s.index, "off_track"].to_numpy(bool)
            for oname, y in outcomes.items():
                out.append(
                    {
                        "cohort": name,
                        "curves_on": curves.n_episodes,
                        "upper": upper,
                        "week": k,
                        "outcome": oname,
                        **metrics(flag, y),
                    }
                )
    if check_monitor:
        _check_against_monitor(rows, split, test_ids)
    return out


def _check_against_monitor(rows, split, test_ids, n_dates: int = 3) -> None:
    """iop.monitor's not_on_track equals score > upper(baseline, week) on sampled dates."""
    curves = recovery_curves(rows, upper=0.75, as_of=split)
    later = rows.loc[rows["episode_id"].isin(test_ids), "assessment_date"]
    for as_of in np.quantile(later.astype("int64"), np.linspace(0.2, 0.6, n_dates)):
        as_of = pd.Timestamp(int(as_of)).normalize()
        res = iop.monitor(rows, as_of=as_of, curves=curves).table
        ok = res["week"] >= 1
        expect = res["latest"] > curves.predict(res["baseline"], res["week"])["upper"]
        assert (res.loc[ok, "not_on_track"].astype(bool) == expect[ok]).all(), as_of


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_episodes", nargs="?", type=int, default=4000)
    ap.add_argument("--out", help="write every number as CSV")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for name, sim in cohorts(args.n_episodes):
        rows += validate(name, sim)
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    res = pd.DataFrame(rows)
    if args.out:
        res.to_csv(args.out, index=False, float_format="%.4f")

    def pct(r, m):
        if np.isnan(r[m]):
            return "–"
        return f"{100 * r[m]:.0f} ({100 * r[m + '_lo']:.0f}–{100 * r[m + '_hi']:.0f})"

    for upper in UPPERS:
        print(f"\n### Flag: above the {100 * upper:g}th percentile at week k\n")
        print(
            "| cohort | week | outcome at discharge | n | prevalence | flagged | sensitivity "
            "% (95 % CI) | specificity % | PPV % |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for _, r in res.loc[res["upper"] == upper].iterrows():
            print(
                f"| {r['cohort']} | {r['week']} | {r['outcome']} | {r['n']:,} | "
                f"{100 * r['prevalence']:.0f} % | {r['flagged']:,} | {pct(r, 'sens')} | "
                f"{pct(r, 'spec')} | {pct(r, 'ppv')} |"
            )
    cal = pd.DataFrame(CALIBRATION)
    print("\n### Calibration on the later admissions (share of week-k scores)\n")
    print(
        "| cohort | band | week | n | above band | at or below median | completers: above "
        "band | completers: at or below median |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for _, r in cal.iterrows():
        print(
            f"| {r['cohort']} | {100 * r['upper']:g}th | {r['week']} | {r['n']:,} | "
            f"{100 * r['above_upper']:.1f} % | {100 * r['at_or_below_median']:.1f} % | "
            f"{100 * r['above_upper_completed']:.1f} % | "
            f"{100 * r['at_or_below_median_completed']:.1f} % |"
        )
    print(f"\n{time.perf_counter() - t0:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
