"""Change summary by group: means, SDs, mean change with a t interval, pre–post r, and the
rates of response, remission and MCID improvement with Wilson intervals
(:func:`change_summary`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import _dist
from .._dask import is_dask
from .._grouping import DEFAULT_AGE_BANDS, group_columns
from .._results import TableResult, format_p
from .._stats import mean_ci, wilson_ci
from .._validation import Interval, Options, validate_params
from .scores import OVERALL, OVERRIDE, ZERO_BASELINE, instrument_param, label_missing, score

__all__ = ["change_summary", "ChangeSummaryResult", "AGE_BANDS"]

#: constraint of ``age_bands`` (lower bounds of the bands)
AGE_BANDS = [None, list, tuple, np.ndarray]


_FLAGS = ("response", "remission", "mcid")


def group_moments(w: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sufficient statistics of the change summary per group of ``w`` (one row per group).

    ``w`` has the paired scores ``b``, ``e``, ``d`` (NaN where unpaired), ``paired`` and the
    0/1 flags; per group: ``n_episodes``, ``n_paired``, the means and sample variances of
    ``b``, ``e``, ``d``, the sums of squared and crossed deviations from the group means
    (``xx``, ``yy``, ``xy``) and the flags' counts (``<flag>_k`` of ``<flag>_n``). Groups of
    several partitions combine with :func:`combine_moments`; :func:`stats_from_moments` gives
    the table (the in-memory path is the one-partition case).
    """
    g = w.groupby(keys, dropna=False, observed=True, sort=True)
    res = pd.DataFrame(
        {
            "n_episodes": g.size(),
            "n_paired": g["paired"].sum().astype(int),
            "b_mean": g["b"].mean(),
            "b_var": g["b"].var(ddof=1),
            "e_mean": g["e"].mean(),
            "e_var": g["e"].var(ddof=1),
            "d_mean": g["d"].mean(),
            "d_var": g["d"].var(ddof=1),
        }
    )
    # Pearson pre-post correlation from within-group deviations (numerically stable).
    bc = w["b"] - g["b"].transform("mean")
    ec = w["e"] - g["e"].transform("mean")
    tmp = pd.DataFrame({"xy": bc * ec, "xx": bc * bc, "yy": ec * ec})
    for k in keys:
        tmp[k] = w[k]
    sums = tmp.groupby(keys, dropna=False, observed=True, sort=True)[["xy", "xx", "yy"]].sum()
    res = res.join(sums)
    for flag in _FLAGS:
        res[f"{flag}_k"] = g[flag].sum()
        res[f"{flag}_n"] = g[flag].count()
    return res


def combine_moments(parts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The moments of each group over all partitions from the partitions' own (``parts``: the
    :func:`group_moments` frames stacked, their keys as columns; groups in first-seen order).

    Chan, Golub & LeVeque (1983): with :math:`n = \\sum n_i` and :math:`\\bar x = \\sum n_i
    \\bar x_i / n`, :math:`M_2 = \\sum M_{2,i} + \\sum n_i (\\bar x_i - \\bar x)^2` (each
    :math:`M_{2,i} = (n_i - 1) s_i^2`) and the co-moment
    :math:`C = \\sum C_i + \\sum n_i (\\bar b_i - \\bar b)(\\bar e_i - \\bar e)`; counts add.

    Examples
    --------
    >>> w = pd.DataFrame({"k": ["a"] * 4, "paired": True, "b": [10.0, 12, 15, 20],
    ...                   "e": [5.0, 9, 8, 14], "response": 1.0, "remission": 0.0, "mcid": 1.0})
    >>> w["d"] = w["e"] - w["b"]
    >>> whole = group_moments(w, ["k"])
    >>> halves = pd.concat([group_moments(w.iloc[:1], ["k"]), group_moments(w.iloc[1:], ["k"])])
    >>> both = combine_moments(halves.reset_index(), ["k"])
    >>> bool(np.allclose(both[whole.columns].to_numpy(float), whole.to_numpy(float)))
    True
    """
    g = parts.groupby(keys, dropna=False, observed=True, sort=False)
    n_i = parts["n_paired"].to_numpy(dtype=float)
    n = g["n_paired"].transform("sum").to_numpy(dtype=float)
    out = g[["n_episodes", "n_paired", *[f"{f}_{c}" for f in _FLAGS for c in "kn"]]].sum()
    dev = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for v in ("b", "e", "d"):
            m_i = np.where(n_i > 0, parts[f"{v}_mean"].to_numpy(dtype=float), 0.0)
            mean = (
                pd.Series(n_i * m_i, index=parts.index)
                .groupby([parts[k] for k in keys], dropna=False, observed=True, sort=False)
                .transform("sum")
                .to_numpy()
                / n
            )
            dev[v] = np.where(n_i > 0, m_i - mean, 0.0)
            var_i = parts[f"{v}_var"].to_numpy(dtype=float)
            m2_i = np.where(n_i > 1, (n_i - 1) * var_i, 0.0)
            parts = parts.assign(**{f"_{v}_m2": m2_i + n_i * dev[v] ** 2, f"_{v}_sum": n_i * m_i})
        parts = parts.assign(
            _xx=parts["xx"] + n_i * dev["b"] ** 2,
            _yy=parts["yy"] + n_i * dev["e"] ** 2,
            _xy=parts["xy"] + n_i * dev["b"] * dev["e"],
        )
        g = parts.groupby(keys, dropna=False, observed=True, sort=False)
        sums = g[[c for c in parts.columns if c.startswith("_")]].sum()
        n_tot = out["n_paired"].to_numpy(dtype=float)
        for v in ("b", "e", "d"):
            out[f"{v}_mean"] = np.where(n_tot > 0, sums[f"_{v}_sum"] / n_tot, np.nan)
            out[f"{v}_var"] = np.where(n_tot > 1, sums[f"_{v}_m2"] / (n_tot - 1), np.nan)
        for c in ("xy", "xx", "yy"):
            out[c] = sums[f"_{c}"]
    return out


def stats_from_moments(mom: pd.DataFrame, ci_level: float) -> pd.DataFrame:
    """The change summary's statistics per group from its moments (:func:`group_moments`)."""
    res = pd.DataFrame(
        {
            "n_episodes": mom["n_episodes"],
            "n_paired": mom["n_paired"].astype(int),
            "baseline_mean": mom["b_mean"],
            "baseline_sd": np.sqrt(mom["b_var"]),
            "endpoint_mean": mom["e_mean"],
            "endpoint_sd": np.sqrt(mom["e_var"]),
            "mean_change": mom["d_mean"],
            "sd_change": np.sqrt(mom["d_var"]),
        },
        index=mom.index,
    )
    n = res["n_paired"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = res["sd_change"].to_numpy() / np.sqrt(n)
        lo, hi = mean_ci(res["mean_change"].to_numpy(), res["sd_change"].to_numpy(), n, ci_level)
        df_ = np.where(n > 1, n - 1, np.nan)
        t = res["mean_change"].to_numpy() / se
        p = np.where(np.isfinite(t), 2 * _dist.t.sf(np.abs(t), df_), np.nan)
    res["se_change"] = se
    res["change_ci_low"] = lo
    res["change_ci_high"] = hi
    res["df"] = df_
    res["statistic"] = t
    res["pvalue"] = p
    with np.errstate(invalid="ignore", divide="ignore"):
        r = mom["xy"] / np.sqrt(mom["xx"] * mom["yy"])
    res["r_pre_post"] = r.where(res["n_paired"] >= 2)
    for flag in _FLAGS:
        k, nn = mom[f"{flag}_k"], mom[f"{flag}_n"]
        lo, hi = wilson_ci(k.to_numpy(), nn.to_numpy(), ci_level)
        with np.errstate(invalid="ignore", divide="ignore"):
            res[f"{flag}_k"] = k.astype(int)
            res[f"{flag}_n"] = nn.astype(int)
            res[f"{flag}_rate"] = np.where(nn > 0, k / nn, np.nan)
        res[f"{flag}_ci_low"] = lo
        res[f"{flag}_ci_high"] = hi
    return res


@dataclass(frozen=True, repr=False)
class ChangeSummaryResult(TableResult):
    """Change summary: one row per group (numeric, unrounded) plus a compact printout.

    ``to_frame()`` returns the wide numeric table; ``to_long()`` one row per
    group and statistic in the shared vocabulary (``estimate``, ``se``,
    ``ci_low``, ``ci_high``, ``n``, ``method``).
    """

    group_cols: tuple[str, ...] = ()
    ci_level: float = 0.95
    #: what each column counts (``TableResult.roles``); the interval and p-value give n back
    #: (a t interval's width, with the SDs and r), the means and SDs only when n is small
    roles: dict = field(
        default_factory=lambda: {
            "n_episodes": "count",
            "n_paired": "count of n_episodes",
            "baseline_mean": "statistic of n_paired",
            "baseline_sd": "statistic of n_paired",
            "endpoint_mean": "statistic of n_paired",
            "endpoint_sd": "statistic of n_paired",
            "mean_change": "statistic of n_paired",
            "r_pre_post": "statistic of n_paired",
            "change_ci_low": "from n_paired",
            "change_ci_high": "from n_paired",
            "pvalue": "from n_paired",
            "sd_change": "statistic of n_paired",
            "se_change": "from n_paired",
            "df": "from n_paired",
            "statistic": "from n_paired",
            **{
                f"{m}_{c}": role
                for m in ("response", "remission", "mcid")
                for c, role in (
                    ("n", "count"),
                    ("k", f"count of {m}_n"),
                    ("rate", f"from {m}_k, {m}_n"),
                    ("ci_low", f"from {m}_k, {m}_n"),
                    ("ci_high", f"from {m}_k, {m}_n"),
                )
            },
        },
        repr=False,
    )

    def to_long(self) -> pd.DataFrame:
        t = self.table
        keys = ["instrument", *self.group_cols]
        pct = f"{100 * self.ci_level:g}%"
        parts = []
        spec = [
            ("baseline_mean", "baseline_mean", None, None, None, "n_paired", "mean of paired"),
            ("endpoint_mean", "endpoint_mean", None, None, None, "n_paired", "mean of paired"),
            (
                "mean_change",
                "mean_change",
                "se_change",
                "change_ci_low",
                "change_ci_high",
                "n_paired",
                f"paired mean change, t interval (df = n - 1), {pct}",
            ),
            ("r_pre_post", "r_pre_post", None, None, None, "n_paired", "Pearson r"),
        ]
        for flag in ("response", "remission", "mcid"):
            spec.append(
                (
                    f"{flag}_rate",
                    f"{flag}_rate",
                    None,
                    f"{flag}_ci_low",
                    f"{flag}_ci_high",
                    f"{flag}_n",
                    f"proportion, Wilson score interval, {pct}",
                )
            )
        for name, est, se, lo, hi, n, method in spec:
            d = t[keys].copy()
            d["statistic"] = name
            d["estimate"] = t[est]
            d["se"] = t[se] if se else np.nan
            d["ci_low"] = t[lo] if lo else np.nan
            d["ci_high"] = t[hi] if hi else np.nan
            d["ci_level"] = self.ci_level if lo else np.nan
            d["n"] = t[n]
            d["method"] = method
            parts.append(d)
        return pd.concat(parts, ignore_index=True)

    def _display(self) -> pd.DataFrame:
        t = self.table

        def msd(m, s):
            return [
                "" if np.isnan(a) else (f"{a:.2f} ({b:.2f})" if not np.isnan(b) else f"{a:.2f}")
                for a, b in zip(t[m], t[s], strict=True)
            ]

        def est_ci(e, lo, hi, scale=1.0, digits=2):
            return [
                ""
                if np.isnan(a)
                else (
                    f"{scale * a:.{digits}f}"
                    if np.isnan(b)
                    else f"{scale * a:.{digits}f} [{scale * b:.{digits}f}, {scale * c:.{digits}f}]"
                )
                for a, b, c in zip(t[e], t[lo], t[hi], strict=True)
            ]

        d = pd.DataFrame(index=t.index)
        for k in ["instrument", *self.group_cols]:
            d[k] = t[k].astype(str)
        d["n"] = [f"{x:,}" for x in t["n_episodes"]]
        d["paired"] = [f"{x:,}" for x in t["n_paired"]]
        d["baseline M (SD)"] = msd("baseline_mean", "baseline_sd")
        d["endpoint M (SD)"] = msd("endpoint_mean", "endpoint_sd")
        ci = f"{100 * self.ci_level:g}% CI"
        d[f"change [{ci}]"] = est_ci("mean_change", "change_ci_low", "change_ci_high")
        d["p"] = [format_p(x) for x in t["pvalue"]]
        d["r"] = ["" if np.isnan(x) else f"{x:.2f}" for x in t["r_pre_post"]]
        for flag, lab in (("response", "response"), ("remission", "remission"), ("mcid", "MCID")):
            d[f"{lab} % [{ci}]"] = est_ci(
                f"{flag}_rate", f"{flag}_ci_low", f"{flag}_ci_high", scale=100.0, digits=1
            )
        return d

    def plot(self, **kwargs):
        """Draw this result with :func:`iop_outcomes.plots.plot_change_by_group` (keywords passed on)."""
        from ..plots.change import plot_change_by_group

        return plot_change_by_group(self, **kwargs)

    def summary(self) -> str:
        body = self._display().to_string(index=False)
        return "\n".join([self.title, body, *self._footer()])

    def _repr_html_(self) -> str:
        table = self._display().to_html(index=False, border=0, classes="iop-table")
        head = f"<p><strong>{html.escape(self.title)}</strong></p>"
        foot = "".join(f"<br><small>{html.escape(s)}</small>" for s in self._footer())
        return f"<div>{head}{table}{foot}</div>"


def _definition_notes(insts: list, mid, remission_below, zero_baseline="undefined") -> list[str]:
    notes = []
    zero = (
        "baseline > 0"
        if zero_baseline == "undefined"
        else "a baseline of 0 counts as not responding"
    )
    for inst in insts:
        if inst.better_is != "lower":
            notes.append(f"{inst.name}: higher is better; response and remission undefined (NA).")
            continue
        rem = instrument_param(
            [inst], np.zeros(1, dtype=np.intp), "remission_below", remission_below, "", ""
        )[0]
        md = instrument_param([inst], np.zeros(1, dtype=np.intp), "mid", mid, "", "")[0]
        rem_txt = "undefined" if np.isnan(rem) else f"endpoint < {rem:g}"
        mid_txt = "undefined" if np.isnan(md) else f"baseline - endpoint >= {md:g}"
        src = inst.mid_source if mid is None else "user-supplied"
        notes.append(
            f"{inst.name}: response = (baseline - endpoint)/baseline >= 0.5 ({zero}); "
            f"remission = {rem_txt}; MCID improvement = {mid_txt} ({src})."
        )
    return notes


@validate_params(
    {
        "episodes": ["frame", "dask_frame"],
        "by": ["columns", None],
        "instrument": ["instruments", None],
        "ci_level": [Interval(float, 0, 1, closed="neither")],
        "age_bands": AGE_BANDS,
        "mid": OVERRIDE,
        "remission_below": OVERRIDE,
        "zero_baseline": [Options(*ZERO_BASELINE)],
    }
)
def change_summary(
    episodes: pd.DataFrame,
    *,
    by=None,
    instrument=None,
    ci_level: float = 0.95,
    age_bands: Sequence[float] | None = None,
    mid=None,
    remission_below=None,
    zero_baseline: str = "undefined",
) -> ChangeSummaryResult:
    r"""Change summary per group: means, SDs, mean change with CI, pre–post r, rates with CIs.

    For each instrument and group (plus an ``Overall`` row per instrument):
    ``n_episodes`` (rows), ``n_paired`` (episodes with both baseline and
    endpoint), baseline and endpoint mean and SD, mean change with its
    t interval, SD and SE of change, the paired t statistic and p-value,
    the pre–post Pearson correlation, and the rates of response, remission
    and MCID improvement (definitions in :func:`change_scores`) with Wilson
    score intervals.

    .. math::
        \bar d \pm t_{1-\alpha/2,\,n-1}\, s_d/\sqrt{n}, \qquad
        r = \frac{\sum (b_i-\bar b)(e_i-\bar e)}{\sqrt{\sum (b_i-\bar b)^2 \sum (e_i-\bar e)^2}}

    Every statistic uses the **paired** episodes only (baseline and endpoint
    both present), so the baseline mean, endpoint mean and mean change
    describe the same people; ``n_episodes - n_paired`` lack a score.

    Parameters
    ----------
    episodes : DataFrame
        Episode table or any DataFrame with ``baseline`` and ``endpoint``.
    by : str or list of str, optional
        Grouping column(s), e.g. ``"format"``, ``"site"``, ``"cohort"``,
        ``"gender_identity"``. Two groupings are derived when the column is
        absent: ``"admit_quarter"`` from ``admit_date`` (``"2025Q1"``) and
        ``"age_band"`` from ``age`` (see ``age_bands``). Missing group values
        form their own group, labelled ``"(missing)"``.
    instrument : str, list of str or None
        The library's instrument rule: ``None`` (default) needs a table of exactly one
        instrument (ConfigError naming those found otherwise); a name keeps that
        instrument's rows; a list summarises each listed instrument on its own rows (an
        ``Overall`` row per instrument; never pooled). A table without an ``instrument``
        column needs a name.
    ci_level : float
        Confidence level of every interval (default 0.95).
    age_bands : sequence of numbers, optional
        Lower bounds of the age bands, left-closed: the default
        ``(18, 26, 36, 51, 65)`` gives ``<18``, ``18-25``, ``26-35``,
        ``36-50``, ``51-64``, ``65+`` (an age of 25.9 is in ``18-25``).
    mid, remission_below, zero_baseline : optional
        Passed to :func:`change_scores`. ``zero_baseline="not_responding"`` counts
        paired episodes with baseline 0 as not responding, so ``response_n``
        equals ``n_paired``.

    Returns
    -------
    ChangeSummaryResult
        ``to_frame()``: one row per group (``instrument``, group columns,
        counts, ``baseline_mean`` … ``mean_change``, ``change_ci_low``,
        ``change_ci_high``, ``statistic``, ``df``, ``pvalue``, ``r_pre_post``,
        ``response_k``/``_n``/``_rate``/``_ci_low``/``_ci_high`` and the same
        for ``remission`` and ``mcid``); ``to_long()``: tidy rows.

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and
    statistical inference. JASA 22:209–212 (as R ``prop.test(correct=FALSE)``).

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"instrument": "PHQ-9", "format": ["virtual"] * 3 + ["in_person"] * 3,
    ...                    "baseline": [18, 15, 20, 16, 12, 22], "endpoint": [8, 9, 4, 12, 10, 11]})
    >>> res = iop.change_summary(ep, by="format")
    >>> res.to_frame()[["format", "n_paired", "mean_change", "response_k"]]
          format  n_paired  mean_change  response_k
    0    Overall         6    -8.166667           3
    1  in_person         3    -5.666667           1
    2    virtual         3   -10.666667           2
    """
    if is_dask(episodes):  # a Dask table: moments per partition, combined (_dask/change.py)
        return change_summary_dask(episodes, locals(), change_summary)
    sc = score(episodes, instrument, mid, remission_below, change_summary, zero_baseline, many=True)
    w, cols = work_frame(sc, by, age_bands)
    overall = group_moments(w, ["instrument"])
    groups = group_moments(w, ["instrument", *cols]) if cols else None
    order = list(pd.unique(sc.inst_name))
    n_unpaired = int(len(w) - w["paired"].sum())
    derived_age = "age_band" in cols and "age_band" not in sc.frame.columns
    return summary_result(
        overall, groups, cols, order, sc.insts, n_unpaired, len(w), derived_age, locals()
    )


def change_summary_dask(episodes, args: dict, fn):
    """:func:`change_summary` on Dask (:mod:`iop_outcomes._dask.change`; Dask imported there)."""
    from .._dask.change import change_summary_dask as run

    steps = {"score": score, "work_frame": work_frame, "moments": group_moments}
    steps |= {"combine": combine_moments, "result": summary_result}
    return run(episodes, {k: v for k, v in args.items() if k != "episodes"}, fn, steps)


def work_frame(sc, by, age_bands) -> tuple[pd.DataFrame, list[str]]:
    """One row per episode: ``instrument``, ``paired``, the paired scores ``b``, ``e``, ``d``
    (NaN where unpaired), the 0/1 flags and the group columns; and the group columns' names."""
    f = sc.frame
    groups, cols = group_columns(f, by, "iop.change_summary", age_bands)
    paired = f["baseline"].notna().to_numpy() & f["endpoint"].notna().to_numpy()
    b = f["baseline"].to_numpy(dtype=float, na_value=np.nan)
    e = f["endpoint"].to_numpy(dtype=float, na_value=np.nan)
    w = pd.DataFrame(
        {
            "instrument": sc.inst_name,
            "paired": paired,
            "b": np.where(paired, b, np.nan),
            "e": np.where(paired, e, np.nan),
            "d": np.where(paired, e - b, np.nan),
            "response": f["response"].astype("Float64").where(paired).astype(float).to_numpy(),
            "remission": f["remission"].astype("Float64").where(paired).astype(float).to_numpy(),
            "mcid": f["mcid_improved"].astype("Float64").where(paired).astype(float).to_numpy(),
        },
        index=f.index,
    )
    for c in cols:
        w[c] = groups[c]
    return w, cols


def summary_result(
    overall_moments: pd.DataFrame,
    group_moments_: pd.DataFrame | None,
    cols: list[str],
    order: list[str],
    insts: list,
    n_unpaired: int,
    n_total: int,
    derived_age: bool,
    args: dict,
) -> ChangeSummaryResult:
    """The :class:`ChangeSummaryResult` from the moments of the instruments (``Overall`` rows)
    and of the groups (in their sorted order), shared by the in-memory and Dask paths."""
    ci_level, age_bands = args["ci_level"], args["age_bands"]
    mid, remission_below, zero_baseline = (
        args["mid"],
        args["remission_below"],
        args["zero_baseline"],
    )
    overall = stats_from_moments(overall_moments, ci_level).reset_index()
    for c in cols:
        overall[c] = OVERALL
    parts = [overall]
    if cols:
        parts.append(stats_from_moments(group_moments_, ci_level).reset_index())
        for c in cols:
            parts[-1][c] = parts[-1][c].astype(object)
    table = pd.concat(parts, ignore_index=True)
    # keep each instrument's Overall row first, then its groups in sorted order
    table["_o"] = table["instrument"].map({name: i for i, name in enumerate(order)})
    table["_p"] = np.r_[np.zeros(len(overall)), np.ones(len(table) - len(overall))]
    table = table.sort_values(["_o", "_p"], kind="stable").drop(columns=["_o", "_p"])
    table = label_missing(table.reset_index(drop=True), cols)
    table["ci_level"] = ci_level
    lead = ["instrument", *cols]
    table = table[lead + [c for c in table.columns if c not in lead]]

    notes = [
        "All statistics use paired episodes (baseline and endpoint both present); "
        f"{n_unpaired:,} of {n_total:,} episode(s) lack one or both scores.",
        "Change = endpoint - baseline (negative = improvement on lower-is-better scales).",
        *_definition_notes(insts, mid, remission_below, zero_baseline),
    ]
    if derived_age:
        bounds = DEFAULT_AGE_BANDS if age_bands is None else age_bands
        notes.append(f"age_band: left-closed bands with lower bounds {list(bounds)}.")
    pct = f"{100 * ci_level:g}%"
    return ChangeSummaryResult(
        table=table,
        title="Symptom change by group" if cols else "Symptom change",
        method=(
            f"Paired mean change with t interval ({pct}, df = n - 1); rates with Wilson score "
            f"intervals ({pct}); Pearson pre-post correlation"
        ),
        params={"by": cols or None, "ci_level": ci_level, "zero_baseline": zero_baseline},
        notes=tuple(notes),
        group_cols=tuple(cols),
        ci_level=ci_level,
    )
