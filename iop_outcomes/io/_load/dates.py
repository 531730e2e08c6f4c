"""Dates and episodes in :func:`iop_outcomes.load`: dates parsed with one day/month order per
column, ``episode_id`` made unique per patient (or derived from ``admit_date``), impossible dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..readers import factorize
from .convert import as_text

#: assessments more than this far before admission / after discharge are impossible
DAYS_BEFORE_ADMIT = 180
DAYS_AFTER_DISCHARGE = 500


class DateChecks:
    """The date and episode steps of :class:`~iop_outcomes.io._load.validate.Validator`."""

    def _dates(self, col: str) -> pd.Series:
        """Parse a date column to days (times dropped; tz-aware values keep their local date).

        ISO values (``2025-03-14``, with or without a time or UTC offset) are read
        as such. The other values are read with ONE day/month order for the whole
        column: the first of ``options.date_format`` (alone, when given) or
        :data:`DATE_FORMATS` that reads every distinct value; failing that, the
        one that reads most, and the rest are quarantined.
        """
        s = self.df[col]
        if pd.api.types.is_datetime64_any_dtype(s):  # typed dates (Parquet, CSV, Excel, ...)
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_localize(None)  # local wall-clock time
            days = _to_days(s)
            bad = s.notna().to_numpy() & np.isnat(days)
            self.add(
                bad,
                col,
                f"{col} {{value!r}} is not a valid date (outside 1677-09-22 .. 2262-04-11)",
                "Correct the date, or leave it empty when it is not known.",
                values=pd.Series(
                    np.datetime_as_string(s.to_numpy()[bad], unit="D"), index=s.index[bad]
                ),
            )
            return pd.Series(days, index=s.index)
        user_fmt = self.mp.options.get("date_format")
        codes, uniques = factorize(s)
        u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
        parsed = np.full(len(u), np.datetime64("NaT"), dtype="datetime64[ns]")
        is_str = np.fromiter((isinstance(v, str) for v in u), dtype=bool, count=len(u))
        for i in np.nonzero(~is_str)[0]:  # datetime objects in a mixed column (Excel)
            parsed[i] = _day_of(u.iloc[i])
        misfit = np.zeros(len(u), dtype=bool)
        iso_shaped = np.zeros(len(u), dtype=bool)
        chosen = None
        if is_str.any():
            txt = u[is_str].astype("str").str.strip()
            pos = np.nonzero(is_str)[0]
            iso = txt.str.extract(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ].*)?$")
            basic = txt.str.extract(r"^(\d{4})(\d{2})(\d{2})$")
            iso = iso.where(iso[0].notna(), basic)
            is_iso = iso[0].notna().to_numpy()
            iso_shaped[pos[is_iso]] = True
            if is_iso.any():
                ymd = (iso[0] + "-" + iso[1] + "-" + iso[2])[is_iso]
                parsed[pos[is_iso]] = _to_days(
                    pd.to_datetime(ymd, format="%Y-%m-%d", errors="coerce")
                )
            rest = txt[~is_iso]
            rpos = pos[~is_iso]
            if len(rest):
                timed = user_fmt and any(d in user_fmt for d in ("%H", "%I", "%M", "%S"))
                tok = rest if timed else rest.str.replace(r"\s.*$", "", regex=True)
                cands = [user_fmt] if user_fmt else DATE_FORMATS
                results = [_parse_with(tok, f, guard=not user_fmt) for f in cands]
                n_ok = [int(r.notna().sum()) for r in results]
                full = [i for i, k in enumerate(n_ok) if k == len(rest)]
                best = full[0] if full else int(np.argmax(n_ok))
                chosen = cands[best]
                got = results[best]
                parsed[rpos] = _to_days(got)
                if not user_fmt:
                    other = np.logical_or.reduce([r.notna().to_numpy() for r in results])
                    misfit[rpos] = got.isna().to_numpy() & other
                    alt = _SWAPPED.get(chosen)
                    if n_ok[best] and alt is not None:
                        alt_got = _parse_with(tok, alt, guard=True)
                        differs = (alt_got != got).to_numpy() & got.notna().to_numpy()
                        if alt_got[got.notna()].notna().all() and differs.any():
                            ex = tok[differs].iloc[0]
                            self.warn_file(
                                col,
                                f"{col}: the day/month order cannot be told from the values (every "
                                f"day number is 12 or less, e.g. {ex!r}); read as "
                                f"{_FMT_WORDS[chosen]} ({chosen})",
                                f"If the dates are {_FMT_WORDS[alt]}, set options.date_format = "
                                f"'{alt}' in the mapping (TOML: [options] date_format = '{alt}').",
                            )
        vals = np.append(parsed, np.datetime64("NaT", "ns"))  # code -1 -> NaT
        out = pd.Series(vals[np.where(codes >= 0, codes, len(vals) - 1)], index=s.index)
        out = out.astype("datetime64[ns]")
        bad_u = np.append(np.isnat(parsed), False)
        misfit_u = np.append(misfit, False)
        c = np.where(codes >= 0, codes, len(vals) - 1)
        bad = bad_u[c] & ~misfit_u[c]
        mis = misfit_u[c]
        # written as YYYY-MM-DD but no such day (2025-02-30) or out of pandas' range (0001-01-01)
        impossible = bad & np.append(iso_shaped, False)[c]
        bad &= ~impossible
        self.add(
            impossible,
            col,
            f"{col} {{value!r}} is not a valid date (no such day, or outside 1677-09-22 .. "
            "2262-04-11)",
            "Correct the date, or leave it empty when it is not known.",
            values=s,
        )
        if user_fmt:
            hint = f" (expected format {user_fmt})"
        elif chosen:
            hint = f" (expected YYYY-MM-DD or {_FMT_EXAMPLE[chosen]})"
        else:
            hint = " (expected YYYY-MM-DD or MM/DD/YYYY)"
        self.add(
            bad,
            col,
            f"{col} {{value!r}} is not a valid date{hint}",
            "Correct the date, or set options.date_format in the mapping (e.g. '%d/%m/%Y').",
            values=s,
        )
        if mis.any():
            n_other, n_read = int(len(rest)), int(n_ok[best])
            self.add(
                mis,
                col,
                f"{col} {{value!r}} does not fit the date order used for this column: "
                f"{_FMT_WORDS[chosen]} ({chosen}), which reads {n_read} of "
                f"{n_other} distinct non-ISO values",
                "Correct the date (one order per column), or set options.date_format in the mapping.",
                values=s,
            )
        return out

    def _episode_ids(self, out: pd.DataFrame) -> None:
        """``episode_id``: as given, made unique per patient when numbered within patient.

        Without an ``episode_id`` column, episodes are one per patient, or one per
        (patient, ``admit_date``) when a patient has several admission dates.
        """
        df = self.df
        pid = out["patient_id"]
        pc, pu = pd.factorize(pid, use_na_sentinel=True)
        pu = np.asarray(pu, dtype=object)
        if "episode_id" in df.columns:
            eid = as_text(df["episode_id"])
            self.add(
                eid.isna().to_numpy() & (pc >= 0),
                "episode_id",
                "episode_id is missing",
                "Fill in the episode, or drop the episode_id column to use one episode per patient.",
            )
            ec, eu = pd.factorize(eid, use_na_sentinel=True)
            both = (pc >= 0) & (ec >= 0)
            first = np.full(len(eu) + 1, -1, dtype=np.int64)
            idx = np.nonzero(both)[0][::-1]
            first[ec[idx]] = pc[idx]  # the last write wins: each episode's first patient
            shared = both & (first[ec] != pc)
            if shared.any():
                n_shared = len(np.unique(ec[shared]))
                ex = str(eu[ec[np.nonzero(shared)[0][0]]])
                out["episode_id"] = _pair_text(pc, pu, ec, np.asarray(eu, dtype=object), both)
                self.add(
                    both,
                    "episode_id",
                    f"episode_id numbered within patient ({n_shared:,} episode_id value(s) are used "
                    f"by more than one patient, e.g. {ex!r}); read as 'patient_id|episode_id'",
                    "",
                    "repair",
                )
            else:
                out["episode_id"] = eid
                self.episode_codes = ec
            return
        out["episode_id"] = pid
        self.episode_codes = pc
        if "admit_date" not in out:
            return
        ad = out["admit_date"].to_numpy()
        ok = (pc >= 0) & ~np.isnat(ad)
        if not ok.any():
            return
        adi = ad.view("int64")
        first = np.zeros(len(pu) + 1, dtype=np.int64)
        idx = np.nonzero(ok)[0][::-1]
        first[pc[idx]] = adi[idx]
        several = np.zeros(len(pu) + 1, dtype=bool)
        several[pc[ok & (first[pc] != adi)]] = True
        if not several.any():
            return
        # a row without admit_date of such a patient: the admission on or before its assessment
        adi_ep = np.where(ok, adi, np.iinfo(np.int64).min)
        has_a = "assessment_date" in out
        a = out["assessment_date"].to_numpy() if has_a else np.full(self.n, np.datetime64("NaT"))
        need = (pc >= 0) & np.isnat(ad) & several[np.where(pc >= 0, pc, len(pu))] & ~np.isnat(a)
        if need.any():
            adm = pd.DataFrame({"p": pc[ok], "t": adi[ok]}).drop_duplicates().sort_values("t")
            q = pd.DataFrame({"p": pc[need], "t": a[need].view("int64"), "i": np.nonzero(need)[0]})
            q = q.sort_values("t")
            back = pd.merge_asof(q, adm.assign(adm=adm["t"]), on="t", by="p", direction="backward")
            fwd = pd.merge_asof(q, adm.assign(adm=adm["t"]), on="t", by="p", direction="forward")
            got = back["adm"].fillna(fwd["adm"]).to_numpy()
            adi_ep[q["i"].to_numpy()] = got.astype(np.int64)
        use = adi_ep != np.iinfo(np.int64).min
        dc, du = pd.factorize(adi_ep[use])
        days = pd.DatetimeIndex(du.astype("datetime64[ns]")).strftime("%Y-%m-%d")
        dcode = np.full(self.n, -1, dtype=np.int64)
        dcode[use] = dc
        new = _pair_text(pc, pu, dcode, np.asarray(days, dtype=object), use)
        out["episode_id"] = new.where(use, pid)
        self.episode_codes = None
        n_p = int(several.sum())
        self.add(
            ok & several[pc],
            "episode_id",
            f"no episode_id column and {n_p:,} patient(s) have several admit_date values: "
            "episode_id derived as 'patient_id|admit_date'",
            "Give an episode_id column to define episodes yourself.",
            "repair",
        )
        self.add(
            need,
            "episode_id",
            "admit_date missing for a patient with several admissions: assigned to the admission "
            "on or before its assessment_date (else the next one)",
            "Fill in admit_date, or give an episode_id column.",
            "repair",
        )

    def _episode_dates(self, out: pd.DataFrame) -> None:
        first, last = pd.Timestamp("1990-01-01"), pd.Timestamp.now().normalize()
        for col, ahead in (("admit_date", 1), ("discharge_date", 366)):
            if col in out:  # a 1678 admission made a 584-year episode
                d = out[col]
                bad = ((d < first) | (d > last + pd.Timedelta(days=ahead))).to_numpy()
                self.add(
                    bad,
                    col,
                    f"{col} {{value}} is impossible (before 1990 or "
                    + ("in the future)" if ahead == 1 else "more than a year ahead)"),
                    "Correct the date, or leave it empty when it is not known.",
                    values=_day_text(d, bad),
                )
        if "admit_date" in out and "discharge_date" in out:
            bad = (out["discharge_date"] < out["admit_date"]).to_numpy()
            self.add(
                bad,
                "discharge_date",
                "discharge_date {value} is before admit_date",
                "Check the episode's dates (admission and discharge may be swapped).",
                values=_day_text(out["discharge_date"], bad),
            )
        if "assessment_date" in out:
            a = out["assessment_date"]
            too_old = (a < pd.Timestamp("1990-01-01")) | (
                a > pd.Timestamp.now().normalize() + pd.Timedelta(days=1)
            )
            self.add(
                too_old.to_numpy(),
                "assessment_date",
                "assessment_date {value} is impossible (before 1990 or in the future)",
                "Correct the date.",
                values=_day_text(a, too_old.to_numpy()),
            )
            if "admit_date" in out:
                end = (
                    out["discharge_date"].fillna(out["admit_date"])
                    if "discharge_date" in out
                    else out["admit_date"]
                )
                # in whole days (floats, NaN for no date): a Timestamp shifted past pandas' range
                # (an admission in 1678 minus 180 days) overflowed
                ad, adm, ed = (_day_numbers(x) for x in (a, out["admit_date"], end))
                with np.errstate(invalid="ignore"):
                    early = ad < adm - DAYS_BEFORE_ADMIT
                    late = ad > ed + DAYS_AFTER_DISCHARGE
                self.add(
                    (early | late) & ~too_old.to_numpy(),
                    "assessment_date",
                    f"assessment_date {{value}} is far from its episode (allowed: {DAYS_BEFORE_ADMIT} days "
                    f"before admission to {DAYS_AFTER_DISCHARGE} days after discharge)",
                    "Check the date and the episode it belongs to.",
                    values=_day_text(a, (early | late) & ~too_old.to_numpy()),
                )


#: Day/month orders tried for non-ISO dates, in this order (one per column).
DATE_FORMATS = ["%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%d.%m.%Y"]


_SWAPPED = {
    "%m/%d/%Y": "%d/%m/%Y",
    "%d/%m/%Y": "%m/%d/%Y",
    "%m/%d/%y": "%d/%m/%y",
    "%d/%m/%y": "%m/%d/%y",
}


_FMT_WORDS = {
    "%m/%d/%Y": "month/day/year",
    "%d/%m/%Y": "day/month/year",
    "%m/%d/%y": "month/day/two-digit year",
    "%d/%m/%y": "day/month/two-digit year",
    "%d.%m.%Y": "day.month.year",
}


_FMT_EXAMPLE = {
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%y": "MM/DD/YY",
    "%d/%m/%y": "DD/MM/YY",
    "%d.%m.%Y": "DD.MM.YYYY",
}


def _parse_with(tok: pd.Series, fmt: str, guard: bool) -> pd.Series:
    """Parse text with one format (NaT where it does not fit); ``guard`` checks the year width."""
    got = pd.to_datetime(tok, format=fmt, errors="coerce")
    if getattr(got.dt, "tz", None) is not None:
        got = got.dt.tz_localize(None)
    if guard:
        width = tok.str.extract(r"[/.\-](\d+)$", expand=False).str.len()
        want = 4 if "%Y" in fmt else 2
        got = got.where((width == want).to_numpy())
    return got


def _to_days(x: pd.Series) -> np.ndarray:
    """Datetimes (tz-naive) as days (``datetime64[ns]``); days outside 1677-09-22 ..
    2262-04-11, the range the analyses can hold (e.g. a ``9999-12-31`` "open" sentinel), are
    NaT."""
    days = x.to_numpy().astype("datetime64[D]")  # floors to the day
    ok = (days >= _FIRST_DAY) & (days <= _LAST_DAY)
    return np.where(ok, days, np.datetime64("NaT", "D")).astype("datetime64[ns]")


_FIRST_DAY, _LAST_DAY = np.datetime64("1677-09-22"), np.datetime64("2262-04-11")


def _day_of(v) -> np.datetime64:
    """A date/datetime/Timestamp object as its (local) day; anything else NaT."""
    import datetime as _dt

    if isinstance(v, (_dt.date, np.datetime64, pd.Timestamp)) and not _isna(v):
        t = pd.Timestamp(v)
        if t.tzinfo is not None:
            t = t.tz_localize(None)
        if pd.Timestamp.min <= t <= pd.Timestamp.max:
            return np.datetime64(t.normalize().as_unit("ns"))
    return np.datetime64("NaT", "ns")


def _pair_text(ac, au, bc, bu, ok) -> pd.Series:
    """``f"{a}|{b}"`` for factorized codes, built once per distinct pair (NA where not ``ok``)."""
    nb = max(len(bu), 1)
    pair = ac.astype(np.int64) * nb + bc.astype(np.int64)
    codes, uniq = pd.factorize(pair[ok])
    texts = np.array([f"{au[v // nb]}|{bu[v % nb]}" for v in uniq], dtype=object)
    full = np.full(len(ac), -1, dtype=np.int64)
    full[ok] = codes
    vals = np.append(texts, None)[np.where(full >= 0, full, len(texts))]
    return pd.Series(vals, dtype="str")


def _day_text(dates: pd.Series, mask) -> pd.Series:
    return dates[np.asarray(mask, dtype=bool)].dt.strftime("%Y-%m-%d")


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _day_numbers(dates: pd.Series) -> np.ndarray:
    """Dates as days since 1970 (float; NaN where there is no date)."""
    d = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return np.where(np.isnat(d), np.nan, d.astype(np.int64).astype(float))
