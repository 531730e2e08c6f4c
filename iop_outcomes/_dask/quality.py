"""``iop.quality_measures`` on a Dask table of assessments: the in-memory measure logic per
partition of whole patients, the counts summed.

1. Without ``as_of``, the end of the data is the latest assessment date of the whole table
   (one small pass, the maximum per partition).
2. The rows are shuffled by ``patient_id`` (not the ``data`` of a Dask load, already grouped
   by patient), so every patient's (and so every episode's) PHQ-9 rows are in one partition:
   the index event and the most recent score in its window are found there, by the in-memory
   functions.
3. Per partition: the PHQ-9 rows counted, and per group the index events, closed windows,
   follow-up scores, remissions, responses and pending windows; the client sums them and
   computes the rates and Wilson intervals once (the in-memory ``_rate_table``).

Every count is an integer sum, so the table and the notes are exactly the in-memory ones.
``detail`` is a Dask DataFrame of the index events (one row each, as in memory; computed when
asked, so persist the input when reading both).
"""

from __future__ import annotations

import pandas as pd

from . import by_patient, require

__all__ = ["quality_dask"]


def quality_dask(frame, name: str, ukeys: list, args: dict, steps: dict):
    """:func:`iop_outcomes.quality_measures` of a Dask table of assessments (``args``: its
    checked arguments; ``steps``: the in-memory pieces, handed over by it).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd, iop_outcomes as iop
    >>> a = pd.DataFrame({"patient_id": ["a", "a", "b", "b", "c"], "instrument": "PHQ-9",
    ...     "assessment_date": pd.to_datetime(
    ...         ["2025-01-01", "2025-06-01", "2025-01-10", "2025-03-01", "2025-02-01"]),
    ...     "total": [18, 4, 12, 6, 7]})
    >>> res = iop.quality_measures(dd.from_pandas(a, npartitions=2), as_of="2025-12-31")
    >>> res.to_frame()[["rate", "numerator", "denominator"]].head(2)
                rate  numerator  denominator
    0  followup_phq9          1            2
    1      remission          1            2
    """
    require("iop.quality_measures")
    from dask import compute, delayed

    keys = ("by", "age_bands", "intake_period", "unit", "ci_level", "as_of")
    a = {k: args[k] for k in keys}  # not the Dask frame: the tasks would compute it whole
    steps["groups"](frame._meta, a["by"], "iop.quality_measures", a["age_bands"])  # its errors
    latest = None
    if a["as_of"] is None:
        ends = compute(*[delayed(_latest)(p) for p in frame.to_delayed()])
        latest = max((e for e in ends if pd.notna(e)), default=pd.NaT)
    as_of_ts, as_of_src = steps["as_of"](a["as_of"], latest)
    whole = frame if by_patient(frame) else frame.shuffle(on="patient_id")
    work = (ukeys, name, as_of_ts, a, steps)
    parts = compute(*[delayed(_partition)(p, *work) for p in whole.to_delayed()])
    cols = parts[0]["cols"]
    counts = {k: sum(p["counts"][k] for p in parts) for k in ("n_phq9", "n_invalid")}
    closes = [p["first_close"] for p in parts if pd.notna(p["first_close"])]
    counts["first_close"] = min(closes, default=pd.NaT)
    sums = [p["sums"] for p in parts if len(p["sums"])] or [parts[0]["sums"]]
    sums = pd.concat(sums, ignore_index=True)
    if cols:
        sums = sums.groupby(cols, sort=True, dropna=False).sum().reset_index()
    else:
        sums = sums.sum().to_frame().T if len(sums) else sums
    meta = next((p["meta"] for p in parts if p["n"]), parts[0]["meta"])
    detail = [delayed(_detail)(p, *work) for p in whole.to_delayed()]
    import dask.dataframe as dd

    det = dd.from_delayed(detail, meta=meta, verify_meta=False)
    return steps["result"](
        det, sums, counts, name, {**a, "as_of_ts": as_of_ts, "as_of_src": as_of_src, "cols": cols}
    )


def _latest(part: pd.DataFrame):
    """The partition's latest assessment date (NaT when none)."""
    return pd.to_datetime(part["assessment_date"], errors="coerce").max()


def _index_events(part: pd.DataFrame, ukeys, name, as_of_ts, a: dict, steps) -> tuple:
    """The partition's PHQ-9 row counts, groupings and index events (every patient's rows are
    in it), by the in-memory steps."""
    dates = pd.to_datetime(part["assessment_date"], errors="coerce")
    rows, counts, cols = steps["rows"](part, dates, ukeys, a["by"], a["age_bands"])
    return counts, cols, steps["detail"](rows, ukeys, cols, name, a["intake_period"], as_of_ts)


def _detail(part: pd.DataFrame, *work) -> pd.DataFrame:
    """The partition's index events (the lazy ``detail``)."""
    return _index_events(part, *work)[2]


def _partition(part: pd.DataFrame, *work) -> dict:
    """The partition's PHQ-9 row counts, counts per group and earliest window end."""
    counts, cols, det = _index_events(part, *work)
    name, steps = work[1], work[4]
    return {
        "counts": counts,
        "cols": cols,
        "sums": steps["sums"](det, cols, name),
        "first_close": det["window_end"].min(),
        "meta": det.iloc[:0],
        "n": len(det),
    }
