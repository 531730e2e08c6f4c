"""Off-track alerts: expected recovery curves and the weekly caseload of patients not improving.

Measurement-based care asks every week *which patients in treatment are not improving*. This
module answers it in two steps:

1. :func:`recovery_curves` fits **expected recovery curves** on the program's own completed
   episodes: for a baseline score :math:`b` and week of treatment :math:`w`, the median
   (expected) score and an upper percentile (the band), by linear quantile regression
   (Koenker & Bassett 1978)

   .. math::
       Q_\\tau(y \\mid b, w) = \\beta_0 + \\beta_1 b + \\beta_2 \\log(1 + w) + \\beta_3\\, b \\log(1 + w)

   solved exactly as the linear programme :math:`\\min_\\beta \\sum_i \\rho_\\tau(y_i - x_i'\\beta)`,
   :math:`\\rho_\\tau(u) = u(\\tau - 1[u < 0])`, with HiGHS (``scipy.optimize.linprog``). This
   follows the idea of the OQ-45 "expected treatment response" tracks (Finch, Lambert &
   Schaalje 2001, *Clin Psychol Psychother* 8:231-242: expected recovery curves generated
   statistically from a program's own patients; the later OQ/YOQ curves are drawn by intake
   severity, Bybee, Lambert & Eggett 2007), with the percentiles estimated directly by
   quantile regression, so no normality or constant spread of the residuals is assumed. The
   log time term fits the fast early change of intensive programs (the negatively accelerating
   dose-response of Howard et al. 1986, *Am Psychol* 41:159-164).
   A user may instead supply a table of the curves (``baseline``, ``week``, ``expected``,
   ``upper``; ``curves_table=``), interpolated bilinearly.

2. :func:`monitor` lists every episode **open** on a date, with its latest score, week,
   expected score and band, and four flags, each with its reason and numbers:

   * ``not_on_track``: the latest score (at week >= ``min_week``) is above the chosen upper
     percentile of expected at that week;
   * ``reliable_deterioration``: latest - baseline >= the instrument's reliable-change
     threshold (the published fixed threshold, e.g. PHQ-9 6 points, NHS Talking Therapies; else
     the Jacobson-Truax 1.96 * SD * sqrt(2 (1 - r)) from the instrument's reliability and
     clinical SD);
   * ``no_reliable_improvement``: the latest score is at week >= ``by_week`` and baseline -
     latest is below that threshold;
   * ``safety_item``: the latest administration answers the instrument's safety item (PHQ-9
     item 9) above 0 (Simon et al. 2013, *Psychiatr Serv* 64:1195-1202).

The caseload holds identifiers: :meth:`MonitorResult.write` writes it as an internal file
(see :mod:`iop_outcomes._internal`), never into the shareable report.

Examples
--------
>>> import iop_outcomes as iop
>>> sim = iop.synth.generate(n_episodes=300, seed=3)
>>> res = iop.monitor(sim, as_of="2025-01-15", instrument="PHQ-9")
>>> res.table[["episode_id", "week", "latest", "expected", "upper", "n_flags"]].shape[1]
6
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _internal
from . import instruments as _instruments
from ._instrument_rule import select_instrument
from ._results import TableResult, format_table
from ._stats import z_crit
from ._validation import Interval, validate_params
from .exceptions import ConfigError, DataError

__all__ = ["RecoveryCurves", "MonitorResult", "recovery_curves", "monitor", "quantreg"]

#: terms of the curve model, in the order of the coefficients
TERMS = ("intercept", "baseline", "log1p_week", "baseline:log1p_week")
_TX_ROLES = ("baseline", "treatment", "endpoint")
FLAGS = ("not_on_track", "reliable_deterioration", "no_reliable_improvement", "safety_item")

METHOD = (
    "Expected recovery curves: linear quantile regression (Koenker & Bassett 1978) of the score "
    "on baseline, log(1 + week) and their product, fitted on completed episodes (after the "
    "expected treatment response of Finch, Lambert & Schaalje 2001)"
)


# --------------------------------------------------------------------------- quantile regression


def quantreg(X, y, q: float) -> tuple[np.ndarray, float]:
    """Linear quantile regression by exact linear programming (HiGHS).

    Minimises the check loss :math:`\\sum_i \\rho_q(y_i - x_i'\\beta)`,
    :math:`\\rho_q(u) = u(q - 1[u < 0])` (Koenker & Bassett 1978, *Econometrica* 46:33-50), through
    its dual linear programme (Koenker 2005, *Quantile Regression*, sec. 6.2):

    .. math::
        \\max_a\\; y'a \\quad \\text{s.t.}\\quad X'a = 0,\\quad q - 1 \\le a_i \\le q,

    whose constraint matrix has only ``p`` rows; the coefficients are the Lagrange multipliers
    of :math:`X'a = 0`. The same optimum as R ``quantreg::rq(method = "br")``; where the optimum
    is not unique (tied integer scores), another vertex of the same loss may be returned.

    Returns the coefficients and the minimised check loss.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(5), np.arange(5.0)])
    >>> beta, loss = quantreg(X, np.array([0.0, 1.0, 2.0, 3.0, 10.0]), 0.5)
    >>> np.round(beta, 6).tolist(), round(loss, 6)       # the median line through 4 points
    ([0.0, 1.0], 3.0)
    """
    from scipy.optimize import linprog

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    p = X.shape[1]
    res = linprog(-y, A_eq=X.T, b_eq=np.zeros(p), bounds=(q - 1.0, q), method="highs")
    if res.status != 0:  # pragma: no cover - a = 0 is feasible and the box bounds the optimum
        raise DataError(f"quantreg: the linear programme did not solve ({res.message}).")
    beta = -np.asarray(res.eqlin.marginals, dtype=float)
    r = y - X @ beta
    loss = float(np.sum(r * (q - (r < 0))))
    return beta, loss


def _design(baseline, week) -> np.ndarray:
    b = np.asarray(baseline, dtype=float)
    lw = np.log1p(np.clip(np.asarray(week, dtype=float), 0.0, None))
    return np.column_stack([np.ones_like(b), b, lw, b * lw])


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class RecoveryCurves:
    """Expected recovery curves: the median and an upper percentile of the score by week.

    Attributes
    ----------
    instrument : str
    upper_q : float
        The band's percentile (0.75 = the 75th).
    coef : DataFrame or None
        Fitted coefficients, index :data:`TERMS`, columns ``expected`` (median) and ``upper``;
        ``None`` for a supplied table of the curves.
    grid : DataFrame or None
        A supplied table of the curves (``baseline``, ``week``, ``expected``, ``upper``).
    max_week, baseline_range
        Weeks and baselines of the data behind the curves; predictions hold the curve flat
        beyond ``max_week`` and clip baselines into the range.
    n_episodes, n_scores : int
        Episodes and post-baseline scores fitted (0 for a supplied table).
    score_range : tuple
        The instrument's total range; predictions are clipped to it.
    """

    instrument: str
    upper_q: float
    coef: pd.DataFrame | None
    grid: pd.DataFrame | None
    max_week: float
    baseline_range: tuple[float, float]
    n_episodes: int
    n_scores: int
    score_range: tuple[float, float]
    loss: dict = field(default_factory=dict)
    source: str = "fitted"

    def predict(self, baseline, week) -> pd.DataFrame:
        """Expected score and upper band for each (baseline, week) pair.

        Examples
        --------
        >>> import pandas as pd
        >>> g = pd.DataFrame({"baseline": [10, 10, 20, 20], "week": [0, 4, 0, 4],
        ...                   "expected": [10, 6, 20, 12], "upper": [10, 8, 20, 15]})
        >>> c = recovery_curves(curves_table=g, instrument="PHQ-9")
        >>> c.predict([15], [2]).round(3).to_dict("records")   # bilinear
        [{'expected': 12.0, 'upper': 13.25}]
        """
        b = np.clip(np.asarray(baseline, dtype=float), *self.baseline_range)
        w = np.clip(np.asarray(week, dtype=float), 0.0, self.max_week)
        if self.coef is not None:
            X = _design(b, w)
            exp = X @ self.coef["expected"].to_numpy()
            up = X @ self.coef["upper"].to_numpy()
        else:
            exp, up = _bilinear(self.grid, b, w)
        lo, hi = self.score_range
        exp = np.clip(exp, lo, hi)
        up = np.clip(np.maximum(up, exp), lo, hi)  # no quantile crossing
        return pd.DataFrame({"expected": exp, "upper": up})

    def table(self, baselines=None, weeks=None) -> pd.DataFrame:
        """The curves on a grid (``baseline``, ``week``, ``expected``, ``upper``).

        The table can be saved and given back as ``recovery_curves(curves_table=...)`` or
        ``monitor(curves=...)`` (e.g. curves from one year's completed episodes applied to the
        next year's caseload).
        """
        lo, hi = self.baseline_range
        if baselines is None:
            baselines = np.arange(np.floor(lo), np.ceil(hi) + 1)
        if weeks is None:
            weeks = np.arange(0, int(np.ceil(self.max_week)) + 1)
        bb, ww = np.meshgrid(np.asarray(baselines, float), np.asarray(weeks, float), indexing="ij")
        pred = self.predict(bb.ravel(), ww.ravel())
        return pd.DataFrame({"baseline": bb.ravel(), "week": ww.ravel(), **pred})

    def plot(self, baseline: float | None = None, *, ax=None, **kwargs):
        """The expected curve and band for one baseline; see :func:`plots.plot_recovery_curve`."""
        if baseline is None:
            raise ConfigError(
                "RecoveryCurves.plot needs baseline=: the curve is drawn for one baseline "
                f"score, e.g. baseline={round(float(np.mean(self.baseline_range)))}."
            )
        from .plots.monitor import plot_recovery_curve

        return plot_recovery_curve(self, baseline=baseline, ax=ax, **kwargs)

    def summary(self) -> str:
        """What the curves are and, for three baselines, the expected score and band by week."""
        lo, hi = self.baseline_range
        if self.source == "fitted":
            origin = (
                f"fitted on {self.n_episodes:,} completed episodes ({self.n_scores:,} "
                "post-baseline scores)"
            )
        else:
            origin = "from a supplied table"
        head = (
            f"{self.instrument} expected recovery curves: median and {100 * self.upper_q:g}th "
            f"percentile by week, {origin}; weeks 0-{self.max_week:g}, baselines "
            f"{lo:g}-{hi:g}."
        )
        baselines = sorted({float(round(lo + (hi - lo) * f)) for f in (0.25, 0.5, 0.75)})
        weeks = [w for w in (0, 1, 2, 4, 8, 12) if w <= self.max_week]
        grid = self.table(baselines, weeks).round(1)
        wide = grid.pivot(index="week", columns="baseline", values=["expected", "upper"])
        wide.columns = [f"{v} (baseline {b:g})" for v, b in wide.columns]
        return f"{head}\n{wide.to_string()}"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        head, _, body = self.summary().partition("\n")
        return f"<div><p>{html.escape(head)}</p><pre>{html.escape(body)}</pre></div>"


def _bilinear(grid: pd.DataFrame, b: np.ndarray, w: np.ndarray):
    """Bilinear interpolation of ``expected`` and ``upper`` on the (baseline, week) grid."""
    bs = np.sort(grid["baseline"].unique())
    ws = np.sort(grid["week"].unique())
    i = np.clip(np.searchsorted(bs, b, side="right") - 1, 0, len(bs) - 2)
    j = np.clip(np.searchsorted(ws, w, side="right") - 1, 0, len(ws) - 2)
    t = (b - bs[i]) / (bs[i + 1] - bs[i])
    u = (w - ws[j]) / (ws[j + 1] - ws[j])
    out = []
    for col in ("expected", "upper"):
        v = grid.pivot_table(index="baseline", columns="week", values=col, aggfunc="mean")
        v = v.reindex(index=bs, columns=ws).to_numpy(float)
        out.append(
            (1 - t) * (1 - u) * v[i, j]
            + t * (1 - u) * v[i + 1, j]
            + (1 - t) * u * v[i, j + 1]
            + t * u * v[i + 1, j + 1]
        )
    return out[0], out[1]


def _rows_of(data: Any, func: str) -> pd.DataFrame:
    if hasattr(data, "ledger") and hasattr(data, "data"):  # LoadResult
        data = data.data
    elif hasattr(data, "truth") and hasattr(data, "data"):  # SynthData: validated and scored
        from .io import load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load(data.data).data
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"{func}: expected the assessments as a DataFrame (iop.load(...).data) or a "
            f"LoadResult. Got {type(data).__name__} instead."
        )
    missing = [c for c in ("episode_id", "instrument", "total") if c not in data.columns]
    if missing:
        raise DataError(
            f"{func}: the assessments lack column(s) {missing}. Columns found: "
            f"{list(data.columns)}. Pass iop.load(...).data."
        )
    return data


def _one_instrument(data: pd.DataFrame, instrument: Any, func: str):
    """The instrument analysed: the library's instrument rule (one named, else the table's only
    one; ConfigError naming those found when it holds several)."""
    try:
        rows, name = select_instrument(data, instrument, func=func)
    except ConfigError as exc:  # the command line chooses with --instrument
        raise ConfigError(f"{exc} On the command line: --instrument and one of them.") from None
    return rows, _instruments.get(name)


def _as_of(as_of: Any) -> pd.Timestamp | None:
    """The review date as a day (checked by the 'date' constraint of the public functions)."""
    return None if as_of is None else pd.Timestamp(as_of).normalize()


def _roles(rows: pd.DataFrame, inst_name: str) -> pd.DataFrame:
    from ._episodes import assessment_roles

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return assessment_roles(rows, instrument=inst_name)


#: The band's percentile: above the median, below 1.
_UPPER = [Interval(float, 0.5, 1, closed="neither")]


@validate_params(
    {
        "assessments": ["no_validation"],  # DataFrame, LoadResult or SynthData, checked when read
        "instrument": ["instrument", None],
        "upper": _UPPER,
        "as_of": ["date", None],
        "curves_table": [pd.DataFrame, None],
        "min_episodes": [Interval(int, 1, None, closed="left")],
    },
    renamed={"data": "assessments", "reference": "curves_table"},
)
def recovery_curves(
    assessments: Any = None,
    *,
    instrument: Any = None,
    upper: float = 0.75,
    as_of: Any = None,
    curves_table: pd.DataFrame | None = None,
    min_episodes: int = 30,
) -> RecoveryCurves:
    """Fit expected recovery curves on completed episodes, or read a table of the curves.

    Parameters
    ----------
    assessments : DataFrame or LoadResult
        Assessments (``iop.load(...).data``). The curves use episodes whose
        ``discharge_status`` is ``completed`` (without that column: episodes with a
        ``discharge_date``); with ``as_of``, only those discharged by then and only scores
        dated by then, so no later information enters. Post-baseline in-treatment scores are
        the responses, the episode's baseline and week since admission the predictors.
    instrument : str, optional
        ``None``: the assessments must hold exactly one instrument (else ConfigError naming
        those found).
    upper : float
        Percentile of the band (0.75 = 75th; 0.9 for fewer, surer alerts).
    as_of : date, optional
    curves_table : DataFrame, optional
        The curves as a table, columns ``baseline``, ``week``, ``expected``, ``upper`` on a
        full grid (as :meth:`RecoveryCurves.table` writes), used instead of fitting (then
        name its ``instrument``).
    min_episodes : int
        Fewest completed episodes to fit on (default 30).

    Returns
    -------
    RecoveryCurves

    References
    ----------
    Koenker R, Bassett G (1978). Regression quantiles. *Econometrica* 46:33-50.
    Finch AE, Lambert MJ, Schaalje BG (2001). Psychotherapy quality control: the statistical
    generation of expected recovery curves for integrating patient progress feedback.
    *Clinical Psychology & Psychotherapy* 8:231-242.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> sim = iop.synth.generate(n_episodes=200, seed=5)
    >>> c = iop.recovery_curves(sim, instrument="PHQ-9")
    >>> list(c.coef.index), c.upper_q
    (['intercept', 'baseline', 'log1p_week', 'baseline:log1p_week'], 0.75)
    >>> p = c.predict([18, 18], [0, 6])
    >>> bool(p.loc[1, "expected"] < p.loc[0, "expected"])      # scores fall over treatment
    True
    """
    func = "recovery_curves"
    q = float(upper)
    if curves_table is not None:
        return _from_table(curves_table, instrument, q)
    rows, inst = _one_instrument(_rows_of(assessments, func), instrument, func)
    cut = _as_of(as_of)
    if cut is not None and "assessment_date" in rows:
        rows = rows.loc[~(rows["assessment_date"] > cut).to_numpy()]
    if "discharge_status" in rows and rows["discharge_status"].notna().any():
        done = rows["discharge_status"].astype("object") == "completed"
    elif "discharge_date" in rows:
        done = rows["discharge_date"].notna()
    else:
        raise DataError(
            f"{func}: the assessments have neither 'discharge_status' nor 'discharge_date', so "
            "completed episodes cannot be told from open ones. Add one, or pass curves_table=."
        )
    if cut is not None and "discharge_date" in rows:
        done &= ~(rows["discharge_date"] > cut) & rows["discharge_date"].notna()
    rows = rows.loc[done.to_numpy()]
    n_ep = 0
    if len(rows):
        r = _roles(rows, inst.name)
        base = r.loc[r["role"] == "baseline"].drop_duplicates("episode_id")
        base = base.set_index("episode_id")
        post = r.loc[r["role"].isin(["treatment", "endpoint"]) & (r["days"] > 0)]
        post = post.loc[post["episode_id"].isin(base.index) & post["total"].notna()]
        n_ep = int(post["episode_id"].nunique())
    if n_ep < min_episodes:
        raise DataError(
            f"{func}: {n_ep} completed {inst.name} episode(s) with a baseline and a later score "
            f"{'by ' + cut.date().isoformat() + ' ' if cut is not None else ''}are too few to "
            f"fit expected recovery curves (min_episodes={min_episodes}). Pass curves_table= (a "
            "table of expected scores) or fit on a larger history."
        )
    b = post["episode_id"].map(base["total"]).to_numpy(float)
    w = (post["days"].to_numpy(float)) / 7.0
    y = post["total"].to_numpy(float)
    X = _design(b, w)
    coefs, losses = {}, {}
    for name, qq in (("expected", 0.5), ("upper", q)):
        coefs[name], losses[name] = quantreg(X, y, qq)
    coef = pd.DataFrame(coefs, index=list(TERMS))
    return RecoveryCurves(
        instrument=inst.name,
        upper_q=q,
        coef=coef,
        grid=None,
        max_week=float(np.max(w)),
        baseline_range=(float(np.min(b)), float(np.max(b))),
        n_episodes=n_ep,
        n_scores=len(y),
        score_range=(float(inst.total_min), float(inst.total_max)),
        loss=losses,
    )


def _from_table(ref: Any, instrument: Any, q: float) -> RecoveryCurves:
    """Curves given by the user: RecoveryCurves as they are, a table of the curves checked."""
    func = "recovery_curves"
    if isinstance(ref, RecoveryCurves):
        return ref
    need = ["baseline", "week", "expected", "upper"]
    missing = [c for c in need if c not in ref.columns]
    if missing:
        raise ConfigError(
            f"The table of the curves lacks column(s) {missing}; it needs {need}. "
            f"Columns found: {list(ref.columns)}."
        )
    g = ref[need].apply(pd.to_numeric, errors="coerce")
    nb, nw = g["baseline"].nunique(), g["week"].nunique()
    full = len(g.drop_duplicates(["baseline", "week"])) == nb * nw == len(g)
    if g.isna().any().any() or not full or nb < 2 or nw < 2:
        raise ConfigError(
            "The table of the curves must give a number in every column for each baseline x week of a "
            f"full grid, once each (at least 2 baselines and 2 weeks); found {len(g)} rows for {nb} "
            f"baselines x {nw} weeks, {int(g.isna().any(axis=1).sum())} with missing values."
        )
    if instrument is None:
        raise ConfigError(
            f"iop.{func}: with a table of the curves name the instrument it is for "
            "(instrument='PHQ-9')."
        )
    inst = _instruments.get(instrument)
    return RecoveryCurves(
        instrument=inst.name,
        upper_q=q,
        coef=None,
        grid=g,
        max_week=float(g["week"].max()),
        baseline_range=(float(g["baseline"].min()), float(g["baseline"].max())),
        n_episodes=0,
        n_scores=0,
        score_range=(float(inst.total_min), float(inst.total_max)),
        source="table of the curves",
    )


# --------------------------------------------------------------------------- monitor


@dataclass(frozen=True, repr=False)
class MonitorResult(TableResult):
    """The caseload as of a date: one row per open episode, with flags and their reasons.

    ``table`` columns: identifiers (``patient_id``, ``episode_id``, ``clinician`` when the data
    have it), ``admit_date``, ``baseline``, ``baseline_date``, ``latest``, ``latest_date``,
    ``week`` (of the latest score, days since admission / 7), ``change`` (latest - baseline),
    ``expected``, ``upper``, ``days_since_latest``, the flags :data:`FLAGS` (booleans; missing
    where a flag cannot apply), ``n_flags``, ``status`` and ``reasons`` (one sentence per raised
    flag, with the numbers). ``excluded``: the open episodes not listed and why.
    """

    as_of: pd.Timestamp | None = None
    curves: RecoveryCurves | None = None
    excluded: pd.DataFrame | None = None

    def flagged(self) -> pd.DataFrame:
        """The rows with at least one flag."""
        return self.table.loc[self.table["n_flags"] > 0].reset_index(drop=True)

    #: rows printed in a notebook or console (the whole caseload is in ``table``)
    max_rows = 20

    def _display(self) -> tuple[pd.DataFrame, list[str]]:
        """The flagged episodes first, the columns a reviewer reads, dates without times."""
        t = self.table
        order = np.argsort(-t["n_flags"].to_numpy(), kind="stable") if len(t) else []
        shown = t.iloc[order[: self.max_rows]][[c for c in _SHOW if c in t.columns]].copy()
        for c in shown.columns:
            if pd.api.types.is_datetime64_any_dtype(shown[c]):
                shown[c] = shown[c].dt.strftime("%Y-%m-%d")
        n_flagged = int((t["n_flags"] > 0).sum()) if len(t) else 0
        cut = [f"{len(t):,} open episodes, {n_flagged:,} with a flag."]
        if len(t) > self.max_rows:
            cut.append(
                f"Showing {self.max_rows} (flagged first); the whole caseload is in .table, "
                "the flagged rows in .flagged()."
            )
        return shown.reset_index(drop=True), cut

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write the internal caseload as CSV and HTML into the folder ``out``.

        File names are ``INTERNAL-identifiable-caseload-<as_of>-<instrument>``; the CSV's first
        column and the HTML page carry the internal marker (:mod:`iop_outcomes._internal`).
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        inst = self.params.get("instrument", "")
        stem = f"{_internal.FILE_PREFIX}caseload-{self.as_of.date().isoformat()}-{inst}"
        paths = {"csv": out / f"{stem}.csv", "html": out / f"{stem}.html"}
        from ._report.safety import neutralise_formulas

        frame = self.table.copy()
        frame.insert(0, _internal.MARKER_COLUMN, _internal.MARKER_TEXT)
        frame.pipe(neutralise_formulas).to_csv(
            paths["csv"], index=False, date_format="%Y-%m-%d", lineterminator="\n"
        )
        paths["html"].write_text(_caseload_html(self), encoding="utf-8")
        return paths


_SHOW = [
    "patient_id",
    "episode_id",
    "admit_date",
    "baseline",
    "latest",
    "latest_date",
    "week",
    "expected",
    "upper",
    "status",
    "reasons",
]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2.5rem 1rem 3rem;color:#111}
.internal{position:fixed;left:0;right:0;background:#b00020;color:#fff;font-weight:700;
padding:.3rem 1rem;text-align:center;z-index:9}
.internal.top{top:0}.internal.bottom{bottom:0}
table{border-collapse:collapse;font-size:.85rem;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}
tr.flagged td{background:#fff4e5}
@media print{.internal{position:fixed}}
"""


def _caseload_html(res: MonitorResult) -> str:
    t = res.table
    banner = html.escape(_internal.MARKER_TEXT)
    as_of = res.as_of.date().isoformat()
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta name='{_internal.MARKER_COLUMN}' content='{banner}'>",
        f"<title>INTERNAL identifiable caseload {as_of}</title><style>{_CSS}</style></head><body>",
        f"<div class='internal top'>{banner}</div>",
        f"<h1>Caseload alerts as of {as_of} ({html.escape(res.params.get('instrument', ''))})</h1>",
        f"<p>{len(t):,} open episodes, {int((t['n_flags'] > 0).sum()):,} with at least one flag. "
        "Flagged rows first within each group.</p>",
    ]
    groups = [(None, t)]
    if "clinician" in t.columns:
        key = t["clinician"].astype("object").fillna("(no clinician)")
        groups = [(k, t.loc[key == k]) for k in sorted(key.unique(), key=str)]
    cols = [c for c in ["clinician", *_SHOW] if c in t.columns]
    for name, g in groups:
        if name is not None:
            parts.append(f"<h2>Clinician: {html.escape(str(name))}</h2>")
        g = g.sort_values(["n_flags", "episode_id"], ascending=[False, True], kind="mergesort")
        view = g[cols].copy()
        for c in cols:
            if pd.api.types.is_datetime64_any_dtype(view[c]):
                view[c] = view[c].dt.strftime("%Y-%m-%d")
        shown = format_table(view, 1)
        rows = []
        for flagged, (_, r) in zip(g["n_flags"].to_numpy() > 0, shown.iterrows(), strict=True):
            cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in r.tolist())
            rows.append(f"<tr class='{'flagged' if flagged else ''}'>{cells}</tr>")
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    foot = [res.method, *res.notes]
    parts.append("".join(f"<p><small>{html.escape(s)}</small></p>" for s in foot))
    parts.append(f"<div class='internal bottom'>{banner}</div></body></html>\n")
    return "\n".join(parts)


def _threshold(inst, threshold: Any) -> tuple[float | None, str]:
    """Reliable-change threshold in points and where it came from."""
    if threshold is not None:
        return float(threshold), "user-supplied"
    if inst.reliable_change is not None:
        return float(inst.reliable_change), inst.reliable_change_source
    if inst.reliability is not None and inst.clinical_sd is not None:
        pts = z_crit(0.95) * inst.clinical_sd * np.sqrt(2 * (1 - inst.reliability))
        return float(pts), (
            f"Jacobson-Truax 1.96 x SD {inst.clinical_sd:g} x sqrt(2(1 - {inst.reliability:g}))"
        )
    return None, "none: the instrument has no reliable-change threshold"


@validate_params(
    {
        "assessments": ["no_validation"],  # DataFrame, LoadResult or SynthData, checked when read
        "as_of": ["date"],
        "curves": [RecoveryCurves, pd.DataFrame, None],
        "instrument": ["instrument", None],
        "upper": _UPPER,
        "by_week": [Interval(float, 0, None, closed="left")],
        "min_week": [Interval(float, 0, None, closed="left")],
        "threshold": [Interval(float, 0, None, closed="neither"), None],
    },
    renamed={"reference": "curves"},
)
def monitor(
    assessments: Any,
    *,
    as_of: Any,
    curves: Any = None,
    instrument: Any = None,
    upper: float = 0.75,
    by_week: float = 4,
    min_week: float = 1,
    threshold: float | None = None,
) -> MonitorResult:
    """Off-track alerts: every episode open on ``as_of``, with its flags and their reasons.

    Parameters
    ----------
    assessments : DataFrame or LoadResult
        ``iop.load(...).data``. Its ``clinician``, ``site`` and ``program`` columns, when
        present, are carried into the table (to group the caseload).
    as_of : date
        The day of the review. Assessments dated after it are ignored. An episode is **open**
        when admitted by then (``admit_date``, else its first score) and not discharged by then
        (no ``discharge_date``, or one after ``as_of``); episodes with a non-``ongoing``
        ``discharge_status`` but no ``discharge_date`` count as closed.
    curves : RecoveryCurves or DataFrame, optional
        Expected recovery curves (or a table of them, as ``recovery_curves(curves_table=)``
        takes); default: fitted by :func:`recovery_curves` on the episodes
        of ``assessments`` completed by ``as_of``.
    instrument : str, optional
        ``None``: the assessments must hold exactly one instrument (else ConfigError).
    upper : float
        The band's percentile (default 0.75, the 75th).
    by_week : float
        Week by which reliable improvement is expected (default 4).
    min_week : float
        The on-track check starts at this week (default 1): earlier scores are too close to
        the baseline to judge.
    threshold : float, optional
        Reliable-change threshold in points; default the instrument's (see module notes).

    Returns
    -------
    MonitorResult
        One row per open episode with a baseline; ``excluded`` lists the others.

    Examples
    --------
    >>> import pandas as pd
    >>> import iop_outcomes as iop
    >>> g = pd.DataFrame({"baseline": [0, 0, 27, 27], "week": [0, 8, 0, 8],
    ...                   "expected": [0, 0, 27, 11], "upper": [0, 0, 27, 15]})
    >>> d = pd.DataFrame({"patient_id": "P1", "episode_id": "E1", "instrument": "PHQ-9",
    ...     "assessment_date": pd.to_datetime(["2025-01-06", "2025-01-27", "2025-02-03"]),
    ...     "admit_date": pd.Timestamp("2025-01-06"), "total": [18.0, 17.0, 25.0],
    ...     "item_9": [0, 0, 1]})
    >>> r = iop.monitor(d, as_of="2025-02-05", curves=g)
    >>> r.table[["week", "latest", "expected", "upper"]].round(3).to_dict("records")
    [{'week': 4.0, 'latest': 25.0, 'expected': 12.667, 'upper': 14.0}]
    >>> r.table.loc[0, ["not_on_track", "reliable_deterioration", "safety_item"]].tolist()
    [True, True, True]
    """
    func = "monitor"
    cut = _as_of(as_of)
    q = float(upper)
    data = _rows_of(assessments, func)
    rows, inst = _scored_rows(data, instrument, func)
    if curves is None:
        curves = recovery_curves(data, instrument=inst.name, upper=q, as_of=cut)
    else:
        curves = _from_table(curves, inst.name, q)
    if curves.instrument != inst.name:
        raise ConfigError(
            f"iop.{func}: the curves are for {curves.instrument}, the assessments for {inst.name}."
        )
    n_later = int((rows["assessment_date"] > cut).sum())
    rows = rows.loc[~(rows["assessment_date"] > cut).to_numpy()]
    rows, admit, open_ids, n_closed_no_date = _open_episodes(rows, cut)
    base, tx, last = _baseline_and_latest(rows, inst.name)
    excluded = pd.DataFrame(
        {"episode_id": pd.Index(open_ids).difference(base.index)}, dtype="object"
    )
    excluded["reason"] = "no baseline score (within the baseline window) by as_of"
    out, carry = _caseload(last, base, admit, curves, cut)
    pts, pts_source = _threshold(inst, threshold)
    item_val = _flags(out, tx, inst, pts, by_week, min_week)
    out["status"] = np.where(out["n_flags"] > 0, "flagged", "on track")
    out["reasons"] = _reasons(out, inst, q, pts, by_week, min_week, item_val)
    out = out.reset_index()
    cols = ["patient_id", "episode_id", *[c for c in carry if c != "patient_id"]]
    out = out[[*cols, *[c for c in out.columns if c not in cols]]]
    notes = [
        f"{len(open_ids):,} episode(s) open on {cut.date().isoformat()}; {len(out):,} listed, "
        f"{len(excluded):,} without a baseline score are in .excluded.",
        f"Reliable-change threshold: {pts:g} points ({pts_source})."
        if pts is not None
        else f"No reliable-change threshold for {inst.name}: those flags are missing.",
    ]
    if n_later:
        notes.append(f"{n_later:,} assessment(s) dated after as_of were ignored.")
    if n_closed_no_date:
        notes.append(
            f"{n_closed_no_date:,} episode(s) with a discharge status but no discharge date "
            "were taken as closed."
        )
    if curves.source == "fitted":
        notes.append(
            f"Curves fitted on {curves.n_episodes:,} completed episodes ({curves.n_scores:,} "
            f"post-baseline scores, weeks up to {curves.max_week:.1f}; later weeks use the "
            "curve's last week)."
        )
    notes.append(
        "Internal: the table identifies patients. Share it only with the treating team; "
        "it never belongs in the shareable report."
    )
    return MonitorResult(
        table=out,
        title=f"Off-track alerts, {inst.name}, as of {cut.date().isoformat()}",
        method=METHOD
        if curves.source == "fitted"
        else "Expected scores from a table of the curves",
        params={
            "instrument": inst.name,
            "as_of": cut.date().isoformat(),
            "upper": q,
            "by_week": by_week,
            "min_week": min_week,
            "threshold_points": pts,
        },
        notes=tuple(notes),
        as_of=cut,
        curves=curves,
        excluded=excluded,
    )


def _scored_rows(data: pd.DataFrame, instrument: Any, func: str):
    """The instrument's rows (dated), with ``safety_flag`` from the safety item when absent."""
    rows, inst = _one_instrument(data, instrument, func)
    if "assessment_date" not in rows.columns or rows["assessment_date"].isna().all():
        raise DataError(
            f"{func}: the assessments need 'assessment_date' to be placed before or after "
            f"as_of. Columns found: {list(rows.columns)}."
        )
    rows = rows.copy()
    if "safety_flag" not in rows.columns and inst.safety_item is not None:
        col = f"item_{inst.safety_item}"
        if col in rows.columns:
            rows["safety_flag"] = pd.to_numeric(rows[col], errors="coerce").gt(0).astype("boolean")
            rows.loc[pd.to_numeric(rows[col], errors="coerce").isna(), "safety_flag"] = pd.NA
    return rows, inst


def _open_episodes(rows: pd.DataFrame, cut: pd.Timestamp):
    """The rows of episodes open on ``cut``, their admission dates and ids, and the count of
    episodes taken as closed for a status without a discharge date."""
    ep = rows.groupby("episode_id", sort=True, observed=True)
    first = ep["assessment_date"].min()
    admit = ep["admit_date"].first().fillna(first) if "admit_date" in rows.columns else first.copy()
    disch = (
        ep["discharge_date"].first()
        if "discharge_date" in rows.columns
        else pd.Series(pd.NaT, index=first.index)
    )
    status = (
        ep["discharge_status"].first().astype("object")
        if "discharge_status" in rows.columns
        else pd.Series(None, index=first.index, dtype="object")
    )
    closed_no_date = disch.isna() & status.notna() & (status != "ongoing")
    is_open = (admit <= cut) & ~(disch <= cut) & ~closed_no_date
    open_ids = is_open.index[is_open.to_numpy()]
    n_closed_no_date = int((closed_no_date & (admit <= cut)).sum())
    rows = rows.loc[is_open.to_numpy()[ep.ngroup().to_numpy()]]
    # roles see the episodes as open: a discharge after as_of is not known yet
    if "discharge_date" in rows.columns:
        rows = rows.assign(discharge_date=pd.NaT)
    return rows, admit, open_ids, n_closed_no_date


def _baseline_and_latest(rows: pd.DataFrame, inst_name: str):
    """Each open episode's baseline row, its in-treatment rows and its latest score."""
    r = _roles(rows, inst_name) if len(rows) else rows.assign(role=[], days=[])
    base = (
        r.loc[(r["role"] == "baseline") & r["total"].notna()]
        .drop_duplicates("episode_id")
        .set_index("episode_id")
    )
    codes, uniq = pd.factorize(r["episode_id"])
    has_base = np.zeros(len(uniq), dtype=bool)
    has_base[codes[((r["role"] == "baseline") & r["total"].notna()).to_numpy()]] = True
    tx = r.loc[r["role"].isin(_TX_ROLES).to_numpy() & has_base[codes] & r["total"].notna()]
    # latest score: the last date; on one day the higher score (an alert errs towards showing)
    tx = tx.sort_values(["episode_id", "assessment_date", "total"], kind="mergesort")
    last = tx.drop_duplicates("episode_id", keep="last").set_index("episode_id")
    return base, tx, last


def _caseload(last, base, admit, curves, cut):
    """One row per listed episode: identifiers, baseline, latest, week and expected scores."""
    out = pd.DataFrame(index=last.index)
    out.index.name = "episode_id"
    carry = [c for c in ("patient_id", "clinician", "site", "program") if c in last.columns]
    for c in carry:
        out[c] = last[c]
    out["admit_date"] = admit.reindex(out.index)
    out["baseline"] = base["total"].reindex(out.index).astype(float)
    out["baseline_date"] = base["assessment_date"].reindex(out.index)
    out["latest"] = last["total"].astype(float)
    out["latest_date"] = last["assessment_date"]
    out["week"] = (last["days"].astype(float) / 7.0).clip(lower=0.0)
    out["change"] = out["latest"] - out["baseline"]
    pred = curves.predict(out["baseline"].to_numpy(), out["week"].to_numpy())
    out["expected"] = pred["expected"].to_numpy()
    out["upper"] = pred["upper"].to_numpy()
    out["days_since_latest"] = (cut - out["latest_date"]).dt.days.astype("Int64")
    return out, carry


def _flags(out, tx, inst, pts, by_week, min_week) -> pd.Series:
    """Add the four flags and ``n_flags`` to ``out``; return the latest safety-item value."""
    late = out["week"] >= min_week
    out["not_on_track"] = late & (out["latest"] > out["upper"])
    d = 1.0 if inst.better_is == "lower" else -1.0
    worse = d * out["change"]  # positive = worse
    if pts is None:
        out["reliable_deterioration"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["no_reliable_improvement"] = pd.array([pd.NA] * len(out), dtype="boolean")
    else:
        out["reliable_deterioration"] = worse >= pts
        out["no_reliable_improvement"] = (out["week"] >= by_week) & (-worse < pts)
    if inst.safety_item is not None and "safety_flag" in tx.columns:
        latest_day = tx.groupby("episode_id", observed=True)["assessment_date"].transform("max")
        on_last = tx.loc[(tx["assessment_date"] == latest_day).to_numpy()]
        sf = on_last["safety_flag"].astype("boolean")
        any_pos = sf.fillna(False).groupby(on_last["episode_id"], observed=True).any()
        all_na = sf.isna().groupby(on_last["episode_id"], observed=True).all()
        safety = any_pos.astype("boolean").where(~all_na, pd.NA)
        out["safety_item"] = safety.reindex(out.index).astype("boolean")
        item_col = f"item_{inst.safety_item}"
        item_val = (
            pd.to_numeric(on_last[item_col], errors="coerce")
            .groupby(on_last["episode_id"], observed=True)
            .max()
            .reindex(out.index)
            if item_col in on_last.columns
            else pd.Series(np.nan, index=out.index)
        )
    else:
        out["safety_item"] = pd.array([pd.NA] * len(out), dtype="boolean")
        item_val = pd.Series(np.nan, index=out.index)
    for f in FLAGS:
        out[f] = out[f].astype("boolean")
    out["n_flags"] = sum(out[f].fillna(False).astype(int) for f in FLAGS).astype(int)
    return item_val


def _fmt(spec: str, values) -> np.ndarray:
    """``spec % value`` for each value (numpy's vectorized ``%`` formatting)."""
    return np.char.mod(spec, np.asarray(values, dtype=float)).astype(object)


def _reasons(out, inst, q, pts, by_week, min_week, item_val) -> pd.Series:
    """One sentence per raised flag, with its numbers.

    Strings are built with numpy's vectorized formatting, for the flagged rows only.
    """
    pct = f"{q * 100:g}th"
    text = np.full(len(out), "", dtype=object)

    def add(flag: pd.Series, build) -> None:
        m = flag.fillna(False).to_numpy(dtype=bool)
        if not m.any():
            return
        r = out.loc[m]
        msg = build(r)
        sep = np.where(text[m] == "", "", "; ").astype(object)
        text[m] = text[m] + sep + msg

    def nums(r):
        return _fmt("%g", r["baseline"]), _fmt("%g", r["latest"]), _fmt("%.1f", r["week"])

    def off(r):
        b, lat, wk = nums(r)
        return (
            f"not on track: {inst.name} " + lat + " at week " + wk + f" is above the {pct} "
            "percentile expected (" + _fmt("%.1f", r["upper"]) + "; median "
            + _fmt("%.1f", r["expected"]) + ") for baseline " + b
        )  # fmt: skip

    add(out["not_on_track"], off)
    if pts is not None:

        def det(r):
            b, lat, _ = nums(r)
            return (
                "reliable deterioration: " + b + " -> " + lat + " (change "
                + _fmt("%+g", r["change"]) + f", threshold {pts:g} points)"
            )  # fmt: skip

        def nri(r):
            b, lat, wk = nums(r)
            return (
                f"no reliable improvement by week {by_week:g}: " + b + " -> " + lat + " at week "
                + wk + " (change " + _fmt("%+g", r["change"])
                + f"; reliable improvement needs -{pts:g})"
            )  # fmt: skip

        add(out["reliable_deterioration"], det)
        add(out["no_reliable_improvement"], nri)
    if inst.safety_item is not None:

        def safety(r):
            v = item_val.reindex(r.index).to_numpy(dtype=float)
            shown = np.where(np.isnan(v), "", " = " + _fmt("%g", np.nan_to_num(v))).astype(object)
            return (
                f"safety: item {inst.safety_item}" + shown + f" (above 0) in the latest "
                f"{inst.name} of " + r["latest_date"].dt.strftime("%Y-%m-%d").to_numpy(object)
            )

        add(out["safety_item"], safety)
    return pd.Series(text, index=out.index, dtype="object")
