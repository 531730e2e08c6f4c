"""Hand-made assessment rows for the Dask tests (tests/test_dask_*.py); not from iop.synth.

Weekly PHQ-9 and GAD-7 totals of ``n_patients`` patients at three sites, each score a fixed
arithmetic function of the patient and week (improvement with patient-specific slopes), plus
deliberate problems: a GAD-7 total out of range, a row without patient, a repeated
administration (same patient, instrument and day) and PHQ-9 rows given as items with one item
missing (prorated). Rows are ordered by week, so every patient's rows spread over the files
that :func:`write_files` cuts the table into: the loader must shuffle by patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def assessments(n_patients: int = 40) -> pd.DataFrame:
    rows = []
    for p in range(n_patients):
        site = ("North", "South", "East")[p % 3]
        fmt = ("virtual", "in_person")[p % 2]
        admit = pd.Timestamp("2025-01-06") + pd.Timedelta(days=7 * (p % 9))
        weeks = 4 + p % 4  # 4-7 weekly scores; every 5th patient drops out after week 1
        last = 1 if p % 5 == 4 else weeks
        for w in range(last + 1):
            date = admit + pd.Timedelta(days=7 * w)
            phq = max(0, 12 + p % 13 - (1 + p % 3) * w)
            gad = max(0, 9 + p % 11 - (p % 4) * w)
            for inst, total in (("PHQ-9", phq), ("GAD-7", gad)):
                rows.append(
                    {
                        "patient_id": f"P{p:03d}",
                        "instrument": inst,
                        "assessment_date": date.strftime("%Y-%m-%d"),
                        "total": float(total),
                        "site": site,
                        "format": fmt,
                        "admit_date": admit.strftime("%Y-%m-%d"),
                        "age": 20 + p % 45,
                    }
                )
    df = pd.DataFrame(rows)
    # items for some PHQ-9 rows: one item missing, total prorated (mean x 9, rounded half up)
    items = {f"item_{k}": pd.array([pd.NA] * len(df), dtype="Int8") for k in range(1, 10)}
    df = pd.concat([df, pd.DataFrame(items)], axis=1)
    sel = np.flatnonzero((df["instrument"] == "PHQ-9").to_numpy())[::7]
    for k in range(1, 9):
        df.loc[sel, f"item_{k}"] = (np.arange(len(sel)) + k) % 4
    df.loc[sel, "total"] = np.nan
    df.loc[3, "total"] = 30.0  # a GAD-7 total out of range: quarantined
    df.loc[10, "patient_id"] = None  # no patient: quarantined
    dup = df.iloc[[5]].copy()  # the same administration twice (a copy at the end)
    df = pd.concat([df, dup], ignore_index=True)
    week = (pd.to_datetime(df["assessment_date"]) - pd.to_datetime(df["admit_date"])).dt.days
    return df.iloc[np.argsort(week.to_numpy(), kind="stable")].reset_index(drop=True)


def write_files(df: pd.DataFrame, directory, n_files: int = 3, fmt: str = "csv") -> list:
    """``df`` cut into ``n_files`` consecutive blocks of rows, one file each; the paths."""
    paths = []
    for i, block in enumerate(np.array_split(np.arange(len(df)), n_files)):
        path = directory / f"part-{i}.{fmt}"
        part = df.iloc[block]
        part.to_csv(path, index=False) if fmt == "csv" else part.to_parquet(path, index=False)
        paths.append(path)
    return paths


def episode_table(n_patients: int = 40) -> pd.DataFrame:
    """The episodes (PHQ-9 and GAD-7) of :func:`assessments`, loaded and built in memory: the
    table the Dask analyses are compared on."""
    import warnings

    import iop_outcomes as iop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = iop.load(assessments(n_patients)).data
    return iop.episodes(data, instrument=["PHQ-9", "GAD-7"])


def synthetic_episodes(n_episodes: int, seed: int) -> pd.DataFrame:
    """Episodes (PHQ-9 and GAD-7) of ``iop.synth`` data, loaded and built in memory, with one
    missing site (a group the Dask paths must carry as missing) and the rows in a random
    order (each partition then holds episodes from all over the table)."""
    import warnings

    import iop_outcomes as iop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = iop.load(iop.synth.generate(n_episodes=n_episodes, seed=seed).data).data
        ep = iop.episodes(data, instrument=["PHQ-9", "GAD-7"])
    ep["site"] = ep["site"].astype(object)
    ep.loc[ep.index[2], "site"] = None
    return ep.sample(frac=1.0, random_state=seed).reset_index(drop=True)
