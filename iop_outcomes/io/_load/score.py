"""Scoring in :func:`iop_outcomes.load`: items checked, totals from items or as given, severity
bands, the safety item, and the PHQ-9 -> PHQ-8 harmonisation; all rows at once.

For an administration of an instrument with ``k`` items, ``a`` of them answered (each a whole
number in the instrument's item range), answered-item sum ``S`` and given total ``T``:

* all items answered: ``total = S`` (a given ``T != S`` is quarantined);
* ``k - a <= max_missing`` and no ``T``: prorated, ``total = floor(S / a * k + 0.5)`` (the mean
  of the answered items times ``k``, rounded half up; Arrieta et al. 2017; PHQ-9
  ``max_missing`` 2); a repair;
* some items missing and ``T`` given: ``T`` is used when ``S <= T <= S + (k - a) * item_max``
  (a repair), else quarantined;
* no items: ``total = T``.

The PHQ-8 from a PHQ-9 (``harmonize="PHQ-8"``) is the sum of items 1-8 (Kroenke et al. 2009),
prorated the same way with the PHQ-8's ``max_missing``. PHQ-9 item 9 (the safety item) is never
imputed: ``safety_flag`` is missing when the item is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import instruments as _inst
from ...exceptions import ConfigError
from .convert import nullable, read_numbers

#: Rows per block where large arrays are processed blockwise (temporaries stay small, so no
#: fresh memory pages are touched for each of them on 10^7-row files).
_BLOCK_ROWS = 1 << 20


#: How a total was produced (``scoring_rule``), in category order.
RULES = ["items_complete", "prorated", "total_given"]


class _PerRow:
    """The instruments of the rows and their parameters, one value per row, each looked up
    from the row's instrument code (so checks and scoring are array operations over all rows)."""

    def __init__(self, inst, specs, policy, index, extra_items, item_cols, k_max) -> None:
        self.codes = inst.cat.codes.to_numpy()
        self.n_categories = len(inst.cat.categories)
        self.specs, self.policy, self.index = specs, policy, index
        self.extra_items, self.item_cols, self.k_max = extra_items, item_cols, k_max
        self.has_inst = self.codes >= 0
        self.n_items = self.per_row(lambda i: i.n_items)
        self.item_min = self.per_row(lambda i: i.item_min)
        self.item_max = self.per_row(lambda i: i.item_max)
        self.max_miss = self.per_row(lambda i: policy[i.name])

    def per_row(self, value, fill=0) -> np.ndarray:
        """An instrument parameter for every row (``fill`` where there is no instrument)."""
        lut = np.full(self.n_categories + 1, fill, dtype=np.int32)  # not float: memory
        for k, ins in self.specs.items():
            lut[k] = value(ins)
        return lut[np.where(self.has_inst, self.codes, len(lut) - 1)]

    def by_instrument(self, mask, make) -> None:
        """``make(ins, sub_mask)`` for each instrument among the flagged rows."""
        if mask.any():
            for k in np.unique(self.codes[mask]):
                make(self.specs[int(k)], mask & (self.codes == k))

    def texts(self, mask, fmt, *arrays) -> pd.Series:
        """Value texts for the flagged rows, formatted once per distinct combination."""
        cols = [x[mask] for x in arrays]
        key = np.zeros(len(cols[0]), dtype=np.int64)
        for col in cols:  # one code per distinct combination (hash factorize, no sort)
            c, u = pd.factorize(col, use_na_sentinel=False)
            key = key * len(u) + c
        inv = pd.factorize(key)[0]
        first = np.unique(inv, return_index=True)[1]  # a row of each combination
        utxt = np.array([fmt.format(*(col[i] for col in cols)) for i in first], dtype=object)
        return pd.Series(utxt[inv], index=self.index[mask])


class ScoreChecks:
    """The scoring steps of :class:`~iop_outcomes.io._load.validate.Validator`."""

    def _score(self, out: pd.DataFrame) -> None:
        """Totals from items (or given), checked; all rows at once.

        Every instrument parameter (number of items, item range, missing items allowed) is
        looked up per row from the row's instrument code, so the checks and the scoring are
        array operations over all rows; messages that name an instrument are split by
        instrument only for the flagged rows.
        """
        rows = self._instrument_rows(out)
        given, total_missing = self._given_total()
        answered, raw_sum, safety_pos, safety_na = self._score_items(out, rows)
        self._totals(
            out, rows, (given, total_missing), (answered, raw_sum), (safety_pos, safety_na)
        )

    def _instrument_rows(self, out: pd.DataFrame) -> _PerRow:
        """The rows' instruments and their parameters (:class:`_PerRow`); item columns no
        instrument has set aside; whole-number float items held as one byte."""
        df = self.df
        inst = out["instrument"]
        codes = inst.cat.codes.to_numpy()
        present_codes = np.unique(codes[codes >= 0])
        specs = {int(k): _inst.get(inst.cat.categories[k]) for k in present_codes}
        extra_items = self._foreign_items(specs, codes)  # item columns no instrument has
        item_cols = sorted(
            (c for c in df.columns if c.startswith("item_")), key=lambda c: int(c[5:])
        )
        k_max = max((int(c[5:]) for c in item_cols), default=0)
        for c in item_cols:  # whole-number float items (Parquet, Excel) as one byte (memory)
            x = df[c]
            if pd.api.types.is_float_dtype(x) and len(x):
                v = x.to_numpy(dtype=float, na_value=np.nan)
                ok = np.isnan(v) | ((v == np.round(v)) & (np.abs(v) <= 127))
                if ok.all():
                    df[c] = nullable(v, np.int8)
                del v, ok
        policy = {ins.name: self._max_missing(ins) for ins in specs.values()}
        return _PerRow(inst, specs, policy, df.index, extra_items, item_cols, k_max)

    def _given_total(self) -> tuple[np.ndarray, np.ndarray | bool]:
        """The given totals as numbers (NaN: none) and where none was given; a total that is
        not a number is quarantined."""
        df = self.df
        has_total = "total" in df.columns
        given, total_given = (
            read_numbers(df["total"]) if has_total else (np.full(self.n, np.nan), None)
        )
        total_missing = ~total_given if has_total else True
        if has_total:
            bad = total_given & np.isnan(given)
            self.add(
                bad,
                "total",
                "total {value!r} is not a number",
                "Correct the total or give items.",
                values=df["total"],
            )
            self._release("total")
        return given, total_missing

    def _score_items(self, out: pd.DataFrame, rows: _PerRow):
        """Each item column checked and written to ``out`` as small integers; returns the
        per-row count of answered items, their sum and the safety item's flag and missingness."""
        df, codes, specs, has_inst = self.df, rows.codes, rows.specs, rows.has_inst
        n_items, item_min, item_max = rows.n_items, rows.item_min, rows.item_max
        by_instrument = rows.by_instrument
        per_row, extra_items, item_cols, k_max = (
            rows.per_row,
            rows.extra_items,
            rows.item_cols,
            rows.k_max,
        )
        # ---- items: each column checked, written to the output as small integers and added to
        # the per-row count of answered items and their sum; item columns missing from the file
        # (a gap in item_1..item_k) are all missing
        fits_int8 = all(-128 < i.item_min and i.item_max < 128 for i in specs.values())
        item_dtype = np.int8 if fits_int8 else np.int32
        answered = np.zeros(self.n, dtype=np.int16)
        raw_sum = np.zeros(self.n)
        # the safety item (PHQ-9 item 9) is never imputed: missing stays missing
        safety_item = per_row(lambda i: i.safety_item or 0)
        safety_item[safety_item > n_items] = 0
        safety_pos = np.zeros(self.n, dtype=bool)
        safety_na = np.ones(self.n, dtype=bool)
        for j in set(range(k_max)) - {int(c[5:]) - 1 for c in item_cols}:
            out[f"item_{j + 1}"] = pd.arrays.IntegerArray(
                np.zeros(self.n, dtype=item_dtype), np.ones(self.n, dtype=bool)
            )
        for c in item_cols:
            j = int(c[5:]) - 1
            raw = df[c]
            numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
            if not numeric:  # answer texts are the instrument's own: read per instrument
                text_num = np.full(self.n, np.nan)
                text_present = np.zeros(self.n, dtype=bool)
                for k, ins in specs.items():
                    sel = codes == k
                    text_num[sel], text_present[sel] = read_numbers(raw[sel], ins.answer_labels)
                other = ~np.isin(codes, list(specs))  # rows without a known instrument
                text_present[other] = read_numbers(raw[other])[1]
            extra, bad_nan, bad_rng = (np.zeros(self.n, dtype=bool) for _ in range(3))
            vals, na = np.zeros(self.n, dtype=item_dtype), np.ones(self.n, dtype=bool)
            for lo in range(0, self.n, _BLOCK_ROWS):
                sl = slice(lo, lo + _BLOCK_ROWS)
                if numeric:
                    num = raw.array[sl].to_numpy(dtype=float, na_value=np.nan)
                    present = ~np.isnan(num)
                    # 'inf' is no answer (as in read_numbers)
                    num = np.where(np.isinf(num), np.nan, num)
                else:
                    num, present = text_num[sl], text_present[sl]
                in_inst = j < n_items[sl]  # the row's instrument has this item
                extra[sl] = present & has_inst[sl] & ~in_inst
                bad_nan[sl] = present & in_inst & np.isnan(num)
                bad_rng[sl] = (
                    in_inst
                    & ~np.isnan(num)
                    & ((num < item_min[sl]) | (num > item_max[sl]) | (num != np.round(num)))
                )
                ok = in_inst & ~bad_rng[sl] & ~np.isnan(num)
                vals[sl] = np.where(ok, num, 0)
                na[sl] = ~ok
                answered[sl] += ok
                raw_sum[sl] += np.where(ok, num, 0.0)
            out[f"item_{j + 1}"] = pd.arrays.IntegerArray(vals, na)
            is_safety = safety_item == j + 1
            safety_pos[is_safety] = vals[is_safety] > 0
            safety_na[is_safety] = na[is_safety]
            del vals, na, is_safety
            if extra.any():
                extra_items.append((c, extra, df[c][extra]))
            by_instrument(
                bad_nan,
                lambda ins, m, c=c: self.add(
                    m,
                    c,
                    f"{c} {{value!r}} is not a number or an answer text of {ins.name}",
                    "Correct the response or leave it empty (missing).",
                    values=df[c],
                ),
            )
            by_instrument(
                bad_rng,
                lambda ins, m, c=c: self.add(
                    m,
                    c,
                    f"{c} {{value!r}} is outside the {ins.name} item range "
                    f"{ins.item_min}-{ins.item_max}",
                    "Correct the response or leave it empty (missing).",
                    values=df[c],
                ),
            )
            del raw
            self._release(c)

        self._extra_items(extra_items, codes, specs)
        return answered, raw_sum, safety_pos, safety_na

    def _totals(self, out: pd.DataFrame, rows: _PerRow, given_total, items, safety) -> None:
        """Totals from the items (complete, prorated) or as given, checked; the scoring
        outputs (``total``, ``n_answered``, ``scoring_rule``, ``severity``, ``safety_flag``)."""
        has_inst = rows.has_inst
        n_items, item_min, item_max = rows.n_items, rows.item_min, rows.item_max
        by_instrument = rows.by_instrument
        max_miss, policy, texts = rows.max_miss, rows.policy, rows.texts
        (given, total_missing), (answered, raw_sum), (safety_pos, safety_na) = (
            given_total,
            items,
            safety,
        )
        # ---- totals (formulas in the module docstring: sum; Arrieta et al. 2017 proration)
        g = given
        total = np.full(self.n, np.nan)
        rule = np.full(self.n, -1, dtype=np.int8)  # codes of RULES
        complete = has_inst & (answered == n_items)
        none = has_inst & (answered == 0)
        partial = has_inst & ~complete & ~none
        total[complete] = raw_sum[complete]
        rule[complete] = RULES.index("items_complete")
        prorate_ok = partial & (n_items - answered <= max_miss) & np.isnan(g)
        p = prorate_ok  # mean of the answered items x number of items, rounded half up
        total[p] = np.floor(raw_sum[p] / answered[p] * n_items[p] + 0.5)
        rule[prorate_ok] = RULES.index("prorated")
        # a total given beside incomplete items: accept when it is consistent with them
        gp = partial & ~np.isnan(g)
        consistent = np.zeros(self.n, dtype=bool)
        consistent[gp] = (g[gp] >= raw_sum[gp]) & (
            g[gp] <= raw_sum[gp] + (n_items[gp] - answered[gp]) * item_max[gp]
        )
        total[consistent] = g[consistent]
        rule[consistent] = RULES.index("total_given")
        total[none] = g[none]
        rule[none & ~np.isnan(g)] = RULES.index("total_given")

        mism = complete & ~np.isnan(g) & (g != raw_sum)
        self.add(
            mism,
            "total",
            "total {value} does not match the sum of items",
            "Correct the total or the items (or drop the total column to score from items).",
            values=texts(mism, "{:g} (items sum to {:g})", g, raw_sum),
        )
        bad_given = gp & ~consistent
        self.add(
            bad_given,
            "total",
            "total {value} cannot come from the answered items",
            "Correct the total or the items.",
            values=texts(bad_given, "{:g} (answered items sum to {:g})", g, raw_sum),
        )
        by_instrument(
            partial & ~prorate_ok & np.isnan(g),
            lambda ins, m: self.add(
                m,
                "item_*",
                f"too many missing {ins.name} items ({{value}}; the rule allows "
                f"{policy[ins.name]} missing)",
                "Complete the items, give a total, or change missing_items= (e.g. 'prorate' or "
                "an int).",
                values=texts(m, f"{{:.0f}} of {ins.n_items} answered", answered),
            ),
        )
        self.add(
            none & np.isnan(g) & total_missing,
            "total",
            "no items and no total",
            "Give the item responses or the total.",
        )
        total_min, total_max = n_items * item_min, n_items * item_max
        by_instrument(
            ~np.isnan(total) & ((total < total_min) | (total > total_max)),
            lambda ins, m: self.add(
                m,
                "total",
                f"total {{value}} is outside the {ins.name} range {ins.total_min}-{ins.total_max}",
                "Correct the total.",
                values=texts(m, "{:g}", total),
            ),
        )
        frac = ~np.isnan(total) & (total != np.round(total))
        self.add(
            frac,
            "total",
            "total {value} is not a whole number",
            "Give whole-number totals or the item responses.",
            values=texts(frac, "{:g}", total),
        )
        by_instrument(
            prorate_ok,
            lambda ins, m: self.add(
                m,
                "total",
                f"total prorated from {{value}} (mean of answered items x {ins.n_items}, rounded "
                "half up)",
                "",
                "repair",
                values=texts(m, f"{{:.0f}} of {ins.n_items} items", answered),
            ),
        )
        self.add(
            consistent,
            "total",
            "given total used; items incomplete ({value})",
            "",
            "repair",
            values=texts(consistent, "{:.0f} missing", n_items - answered),
        )

        # ---- outputs
        out["total"] = total
        out["n_answered"] = nullable(np.where(has_inst & ~none, answered, np.nan), np.int16)
        out["scoring_rule"] = pd.Categorical.from_codes(rule, categories=RULES)
        out["severity"] = _severity(out["instrument"], out["total"])
        out["safety_flag"] = pd.arrays.BooleanArray(safety_pos & ~safety_na, safety_na)
        self.settings = {
            "missing_items": self.missing_items
            if not isinstance(self.missing_items, dict)
            else dict(self.missing_items),
            "max_missing": policy,
        }

    def _short_and_long_forms_note(self, out: pd.DataFrame) -> None:
        """A note when the data hold a short form and the longer form it is scored from
        (PHQ-8 and PHQ-9): they do not pair unless ``harmonize`` says so."""
        inst = out["instrument"]
        counts = inst.value_counts()
        for name in counts.index[counts > 0]:
            short = _inst.get(name)
            if short.subset_of is None or counts.get(short.subset_of, 0) == 0:
                continue
            self.warn_file(
                "instrument",
                f"the data hold both {short.name} ({int(counts[short.name]):,} administration(s)) "
                f"and {short.subset_of} ({int(counts[short.subset_of]):,}): different "
                f"instruments, which do not pair in episodes. To compare them, load with "
                f"harmonize={short.name!r} ({short.subset_of} scored as {short.name} from items "
                f"{span(short.subset_items)}; command line --harmonize {short.name})",
                "",
                "note",
                yours=False,
            )

    def _harmonize(self, out: pd.DataFrame, first_scoring_issue: int) -> None:
        """Score the longer form's administrations as the short form (PHQ-9 as PHQ-8).

        The short form's total is the sum of its items within the longer form (PHQ-8 = PHQ-9
        items 1-8, Kroenke et al. 2009), with the short form's missing-item rule: prorated as
        mean of the answered items x number of items, rounded half up, when no more than its
        ``max_missing`` items are missing. Rows already quarantined, given as a total only, or
        with more items missing stay the longer form (:attr:`unharmonised`). The longer form's
        scoring repairs (a prorated or given total) no longer describe the row and are
        replaced by the harmonisation repair; its quarantines stand.
        """
        short = self.harmonize
        long_name = short.subset_of
        inst = out["instrument"]
        cats = list(inst.cat.categories)
        max_miss = self._max_missing(short)
        self.settings["harmonize"] = short.name
        self.settings["max_missing"][short.name] = max_miss
        if long_name not in cats:
            self.unharmonised = (np.zeros(0, dtype=np.int64), 0, 0)
            return
        q = np.zeros(self.n, dtype=bool)
        for iss in self.issues:
            if iss.severity == "quarantine":
                q |= iss.mask
        codes = inst.cat.codes.to_numpy()
        longer = (codes == cats.index(long_name)) & ~q
        answered = np.zeros(self.n, dtype=np.int16)
        item_sum = np.zeros(self.n)
        for j in short.subset_items:
            c = f"item_{j}"
            if c not in out:
                continue
            v = out[c].to_numpy(dtype=float, na_value=np.nan)
            ok = ~np.isnan(v)
            answered += ok
            item_sum += np.where(ok, v, 0.0)
        k = short.n_items
        can = longer & (k - answered <= max_miss)
        complete = can & (answered == k)
        prorated = can & ~complete
        new_total = np.where(
            complete, item_sum, np.floor(item_sum / np.maximum(answered, 1) * k + 0.5)
        )
        stay = longer & ~can
        no_items = stay & (answered == 0)
        self.unharmonised = (
            np.flatnonzero(stay),
            int(no_items.sum()),
            int((stay & ~no_items).sum()),
        )
        if not can.any():
            return
        for iss in self.issues[first_scoring_issue:]:  # the longer form's total repairs
            if iss.severity == "repair" and iss.column == "total" and (iss.mask & can).any():
                iss.mask = iss.mask & ~can
                if iss.values is not None:
                    iss.values = iss.values.reindex(np.flatnonzero(iss.mask))
        old_total = out["total"].to_numpy(dtype=float, na_value=np.nan)
        how = np.where(prorated, answered, -1)
        self.add(
            can,
            "instrument",
            f"{long_name} scored as {short.name} from items {span(short.subset_items)}: "
            f"{{value}} (harmonize={short.name!r}; item {_missing_item(short)} kept for the "
            "safety flag)",
            "",
            "repair",
            values=_combination_texts(
                can,
                lambda t0, t1, a: (
                    f"{long_name} total {t0:g} -> {short.name} total {t1:g}"
                    + (f", prorated from {a:.0f} of {k} items" if a >= 0 else "")
                ),
                old_total,
                new_total,
                how,
            ),
        )
        if short.name not in cats:
            cats.append(short.name)
        codes = codes.copy()
        codes[can] = cats.index(short.name)
        out["instrument"] = pd.Series(
            pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype="str")),
            index=out.index,
        )
        out["total"] = np.where(can, new_total, old_total)
        n_ans = out["n_answered"].to_numpy(dtype=float, na_value=np.nan)
        out["n_answered"] = nullable(np.where(can, answered, n_ans), np.int16)
        rule = out["scoring_rule"].cat.codes.to_numpy().copy()
        rule[complete] = RULES.index("items_complete")
        rule[prorated] = RULES.index("prorated")
        out["scoring_rule"] = pd.Categorical.from_codes(rule, categories=RULES)
        out["severity"] = _severity(out["instrument"], out["total"])
        n = int(can.sum())
        self.warn_file(
            "instrument",
            f"harmonize={short.name!r}: {n:,} {long_name} administration(s) scored as "
            f"{short.name} from items {span(short.subset_items)} (repairs in the ledger; "
            f"{short.name} = {long_name} without item {_missing_item(short)}, Kroenke et al. "
            "2009)",
            "",
            "note",
            yours=False,
        )

    def _foreign_items(self, specs: dict, codes: np.ndarray) -> list:
        """Item columns that no instrument in the data has (``item_0``, ``item_10`` when the
        longest instrument has 9 items, ``item_100000``, ``item_x``), released before scoring so
        an absurd item number never sizes the item matrix. Returns ``(column, rows with a
        value, values)`` for :meth:`_extra_items`; an empty such column is ignored with a
        note."""
        longest = max((ins.n_items for ins in specs.values()), default=0)
        found = []
        for c in [c for c in self.df.columns if c.startswith("item_")]:
            k = c[5:]
            if k.isascii() and k.isdigit() and str(int(k)) == k and 1 <= int(k) <= longest:
                continue
            col = self.df[c]
            given = col.notna().to_numpy()
            if col.dtype == object or pd.api.types.is_string_dtype(col):
                given = given & col.astype("str").str.strip().ne("").to_numpy()
            if given.any():
                found.append((c, given, col[given]))
            else:
                names = ", ".join(f"{i.name} items 1-{i.n_items}" for i in specs.values())
                self.warn_file(
                    c,
                    f"column {c} ignored: it is empty, and no instrument in the data has that "
                    f"item ({names or 'no instrument'})",
                    "Remove the column, or map it to the right item.",
                    "note",
                )
            self._release(c)
        return found

    def _extra_items(self, extra: list, codes, specs) -> None:
        """Quarantine rows with a value in an item column their instrument does not have.

        Which total was meant is then ambiguous: a GAD-7 row with nine answers may be a PHQ-9
        under the wrong label, and an export numbered ``item_0`` ... ``item_8`` would be scored
        from the wrong items. (The PHQ-9's unscored difficulty question, when exported as
        ``item_10``, is best removed or left unmapped.)
        """
        for c, m, values in extra:
            vals = pd.Series(values.to_numpy(), index=np.flatnonzero(m))
            for code in np.unique(codes[m]):
                if code < 0:  # no known instrument: quarantined for that already
                    continue
                ins = specs[int(code)]
                sel = m & (codes == code)
                self.add(
                    sel,
                    c,
                    f"{c} given, but {ins.name} has {ins.n_items} items (item_1-item_{ins.n_items}), "
                    "so the total is ambiguous",
                    "Check the instrument, and map the item columns to item_1 ... item_n of the "
                    "instrument (or remove the extra column).",
                    values=vals.loc[np.flatnonzero(sel)],
                )

    def _max_missing(self, ins) -> int:
        mi = self.missing_items
        if isinstance(mi, dict):
            mi = mi.get(ins.name, "prorate")
        if mi == "prorate":
            return ins.max_missing
        if mi == "complete":
            return 0
        if isinstance(mi, (int, np.integer)) and not isinstance(mi, bool) and 0 <= mi < ins.n_items:
            return int(mi)
        raise ConfigError(
            "The 'missing_items' parameter of iop.load must be 'prorate', 'complete', an int in "
            f"0..{ins.n_items - 1} or a dict of those per instrument. Got {mi!r} instead."
        )


def _severity(inst: pd.Series, total: pd.Series) -> pd.Series:
    labels: list[str] = []
    for name in _inst.names():
        for lab in _inst.get(name).band_labels:
            if lab not in labels:
                labels.append(lab)
    codes = np.full(len(total), -1, dtype=np.int16)
    t = total.to_numpy(dtype=float, na_value=np.nan)
    inst = inst.astype("category")
    inst_codes = inst.cat.codes.to_numpy()
    for code, name in enumerate(inst.cat.categories):
        ins = _inst.get(name)
        rows = (inst_codes == code) & ~np.isnan(t)
        if rows.any():
            his = np.array([hi for _, hi, _ in ins.bands], dtype=float)
            band = np.searchsorted(
                his, t[rows], side="left"
            )  # first band whose upper bound >= total
            gl = np.array([labels.index(b) for b in ins.band_labels] + [-1], dtype=np.int16)
            codes[np.nonzero(rows)[0]] = gl[np.minimum(band, len(his))]
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels), index=total.index)


def harmonize_option(value):
    """The short form named by ``harmonize=`` (an Instrument with ``subset_of``), or None."""
    if value is None:
        return None
    name = _inst.canonical_name(value) if isinstance(value, str) else None
    if name is None or _inst.get(name).subset_of is None:
        forms = [n for n in _inst.names() if _inst.get(n).subset_of]
        raise ConfigError(
            f"The 'harmonize' parameter of iop.load must be {' or '.join(map(repr, forms))} (a "
            "short form scored from the items of a longer instrument) or None. Got "
            f"{value!r} instead."
        )
    return _inst.get(name)


def span(items) -> str:
    """``(1, 2, ..., 8)`` as ``'1-8'``; other item lists as ``'1, 3, 5'``."""
    items = list(items)
    if items == list(range(items[0], items[-1] + 1)):
        return f"{items[0]}-{items[-1]}"
    return ", ".join(map(str, items))


def _missing_item(short) -> str:
    """The longer form's items that the short form leaves out (``'9'`` for the PHQ-8)."""
    n_long = _inst.get(short.subset_of).n_items
    return ", ".join(str(i) for i in range(1, n_long + 1) if i not in short.subset_items)


def _combination_texts(mask: np.ndarray, fmt, *arrays) -> pd.Series:
    """``fmt(*values)`` for the masked rows, called once per distinct combination of values."""
    cols = [np.asarray(x)[mask] for x in arrays]
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for col in cols:
        c, u = pd.factorize(col, use_na_sentinel=False)
        key = key * len(u) + c
    inv = pd.factorize(key)[0]
    first = np.unique(inv, return_index=True)[1]
    utxt = np.array([fmt(*(col[i] for col in cols)) for i in first], dtype=object)
    return pd.Series(utxt[inv], index=np.flatnonzero(mask))
