"""Synthetic IOP cohorts with known ground truth.

:func:`generate` simulates repeated PHQ-9 and GAD-7 administrations for
intensive outpatient episodes, in the data contract's long format (see
``docs/data-format.md``), together with the truth that produced them, so every
analysis can be checked against known effects. :func:`demo` returns the bundled
demo dataset. Everything is vectorized over episodes and deterministic for a
seed.

Model
-----
For episode *i* in format *f* and site *s*:

* true baseline PHQ-9 ``B_i ~ N(mu_phq, sd_phq)`` and GAD-7 correlated with it
  (``rho``), both clipped to the scale range;
* true change by the planned end of treatment
  ``C_i = delta_f + u_s + e_i`` with site effects ``u_s ~ N(0, site_sd)`` and
  individual effects ``e_i ~ N(0, change_sd)``; the GAD-7 change is
  ``C_i * gad_change_ratio`` plus its own noise;
* weekly true score ``B_i + C_i * g(w)`` with the decelerating curve
  ``g(w) = (1 - exp(-w/tau)) / (1 - exp(-W_i/tau))`` (fast early change,
  as in blended-care trajectories, PHQ-9 ≈ b0 − 1.45·week + 0.07·week²);
* observed items from a graded-response model (Samejima 1969): each
  administration gets the latent trait whose expected total equals the true
  score, so items correlate realistically and the observed total is the sum of
  items, unbiased for the true score;
* dropout: weekly hazard, completely at random (``"mcar"``), depending on the
  last observed score (``"mar"``) or on the current unobserved true score
  (``"mnar"``); virtual care has its own hazard ratio;
* follow-up at 1/3/6(/12) months after discharge with response probabilities
  that fall over time and are lower after dropout; scores drift upward after
  discharge.

Calibration (defaults; every one is a parameter of :class:`SynthParams`),
from ``shared/DOMAIN.md``'s collection of published IOP/PHP studies:
baseline PHQ-9 16 (SD 5.5) and GAD-7 13 (SD 5) as in adult PHP/IOP reports
(Rogers Behavioral Health PHP outcomes; Zimmerman et al. 2021, J Clin
Psychiatry 82:20m13815); pre–post effect d ≈ 1 (IOP/PHP range 0.6–1.5);
completion 60–75 % with virtual not worse (Zimmerman et al. 2021: 72.9 % vs
62.3 %); decelerating weekly curves (Lyra blended care); follow-up response
about half at 1 month falling to under a third by 6 months in passive designs
(Hazelden virtual SUD IOP: 29.1 % at 3 months); post-discharge drift of about
+1.6 to +2.1 points over 12 months.

Examples
--------
>>> import iop_outcomes as iop
>>> sim = iop.synth.generate(n_episodes=200, seed=1)
>>> sorted(sim.data["instrument"].unique())
['GAD-7', 'PHQ-9']
>>> sim.truth.params.dropout
'mar'
>>> sim.data.equals(iop.synth.generate(n_episodes=200, seed=1).data)
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ._validation import Interval, validate_params
from .exceptions import ConfigError

__all__ = ["SynthParams", "SynthTruth", "SynthData", "generate", "demo", "DEMO_PARAMS"]

FORMATS = ("in_person", "virtual", "hybrid")


@dataclass(frozen=True)
class SynthParams:
    """Every parameter of the simulation (defaults calibrated as in the module notes)."""

    n_episodes: int = 1500
    seed: int = 2026
    sites: tuple[str, ...] = ("North", "Central", "South")
    format_mix: dict[str, float] = field(
        default_factory=lambda: {"in_person": 0.45, "virtual": 0.40, "hybrid": 0.15}
    )
    #: true mean PHQ-9 change by the planned end of treatment, per format (negative = better)
    true_change: dict[str, float] = field(
        default_factory=lambda: {"in_person": -7.0, "virtual": -7.0, "hybrid": -6.5}
    )
    site_sd: float = 1.0
    change_sd: float = 5.0
    #: share of episodes that do not respond (known off-track truth, for validating alerts):
    #: their true PHQ-9 change is drawn from N(off_track_change, off_track_sd) instead. 0 (the
    #: default) leaves the model above unchanged, draw for draw; the demo data use 0.1.
    off_track_share: float = 0.0
    off_track_change: float = 1.0
    off_track_sd: float = 2.5
    phq_mean: float = 16.0
    phq_sd: float = 5.5
    gad_mean: float = 13.0
    gad_sd: float = 5.0
    phq_gad_rho: float = 0.65
    gad_change_ratio: float = 0.8
    tau_weeks: float = 3.0
    planned_weeks: tuple[int, ...] = (6, 7, 8, 8, 8, 9, 10, 12)
    #: "mcar", "mar" (depends on the last observed PHQ-9) or "mnar" (on the unobserved current score)
    dropout: str = "mar"
    #: weekly dropout hazard at PHQ-9 15 (in-person)
    dropout_hazard: float = 0.055
    #: log-odds of weekly dropout per 5 PHQ-9 points (mar / mnar)
    dropout_slope: float = 0.5
    #: hazard ratio of weekly dropout, virtual and hybrid vs in-person
    dropout_hr: dict[str, float] = field(
        default_factory=lambda: {"in_person": 1.0, "virtual": 0.8, "hybrid": 0.9}
    )
    #: share of early exits that are transfers to another level of care
    transfer_share: float = 0.2
    followup_months: tuple[int, ...] = (1, 3, 6)
    #: probability of a follow-up response among completers, per month
    followup_response: dict[int, float] = field(
        default_factory=lambda: {1: 0.55, 3: 0.40, 6: 0.30, 12: 0.18}
    )
    #: follow-up response multiplier after dropout or transfer
    followup_dropout_factor: float = 0.5
    drift_per_month: float = 0.15
    followup_sd: float = 3.0
    item_missing_rate: float = 0.01
    readmission_share: float = 0.04
    start_date: str = "2024-01-01"
    enrolment_days: int = 540
    attendance_hours: bool = True
    messy: bool = False

    def __post_init__(self) -> None:
        if self.n_episodes < 1:
            raise ConfigError(f"n_episodes must be >= 1. Got {self.n_episodes} instead.")
        if self.dropout not in ("mcar", "mar", "mnar"):
            raise ConfigError(
                f"The 'dropout' parameter must be 'mcar', 'mar' or 'mnar'. Got {self.dropout!r} instead."
            )
        unknown = set(self.format_mix) - set(FORMATS)
        if unknown or abs(sum(self.format_mix.values()) - 1) > 1e-9:
            raise ConfigError(
                f"format_mix must give shares of {FORMATS} summing to 1. Got {self.format_mix}."
            )
        if not 0 <= self.off_track_share <= 1:
            raise ConfigError(
                f"off_track_share must be a share in [0, 1]. Got {self.off_track_share} instead."
            )
        missing = [m for m in self.followup_months if m not in self.followup_response]
        if missing:
            raise ConfigError(f"followup_response lacks a probability for month(s) {missing}.")


@dataclass(frozen=True)
class SynthTruth:
    """What generated the data.

    Attributes
    ----------
    params : SynthParams
    format_change : dict
        True mean PHQ-9 change per format by the planned end of treatment (the
        parameter; drawn site effects are centred to sum to zero, so this is the
        truth averaged over sites with equal weight, before clipping at the scale
        floor).
    site_effects : dict
        Drawn site effects on PHQ-9 change (points).
    episodes : DataFrame
        Per episode: format, site, true baseline and true endpoint (expected
        scores at the planned end of treatment, clipped to the scale), the
        realised dropout, planned and attended weeks; with ``off_track_share > 0`` also
        ``off_track`` (the episode was drawn as a non-responder). ``true_endpoint -
        true_baseline`` averaged by format is the finite-sample truth.
    messy : DataFrame or None
        With ``messy=True``: one row per injected fault (row, kind).
    """

    params: SynthParams
    format_change: dict[str, float]
    site_effects: dict[str, float]
    episodes: pd.DataFrame
    messy: pd.DataFrame | None = None

    def sample_format_change(self, instrument: str = "PHQ-9") -> pd.Series:
        """Finite-sample true mean change per format (planned end of treatment)."""
        p = "phq" if instrument == "PHQ-9" else "gad"
        e = self.episodes
        return (e[f"true_{p}_endpoint"] - e[f"true_{p}_baseline"]).groupby(e["format"]).mean()


@dataclass(frozen=True)
class SynthData:
    """Synthetic assessments (``data``, the contract's long format) and their ``truth``."""

    data: pd.DataFrame
    truth: SynthTruth

    def _repr_html_(self) -> str:
        return (
            f"<p>Synthetic IOP data: {self.data['episode_id'].nunique():,} episodes, "
            f"{len(self.data):,} assessment rows (seed {self.truth.params.seed}, "
            f"dropout {self.truth.params.dropout}).</p>" + self.data.head()._repr_html_()
        )


# ---------------------------------------------------------------------------
# graded-response item model


#: PHQ-9 item 9 (thoughts of death or self-harm) is the least endorsed item: its thresholds sit
#: higher, so about a third of intake administrations are positive (IOP intake range; the
#: general outpatient rate is far lower, Simon et al. 2013).
RARE_ITEM_SHIFT = {9: {9: 2.2}}


def _grm(n_items: int, seed: int = 20240101):
    """Fixed discriminations and thresholds for an ``n_items`` 0–3 scale."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(1.4, 2.4, n_items)
    base = np.array([-0.9, 0.3, 1.3])
    b = base[None, :] + rng.normal(0, 0.25, (n_items, 1))
    for item, shift in RARE_ITEM_SHIFT.get(n_items, {}).items():
        b[item - 1] += shift
    return a, b


def _expected_total(theta: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # P(X_j >= k) = logistic(a_j (theta - b_jk)); E[X_j] = sum_k P(X_j >= k)
    z = a[None, :, None] * (theta[:, None, None] - b[None, :, :])
    return (1 / (1 + np.exp(-z))).sum(axis=(1, 2))


def _items_for(target: np.ndarray, n_items: int, rng: np.random.Generator) -> np.ndarray:
    """Item responses (0–3) whose expected sum equals ``target`` (vectorized)."""
    a, b = _grm(n_items)
    grid = np.linspace(-6, 7, 1301)
    et = _expected_total(grid, a, b)
    tmax = 3 * n_items
    t = np.clip(target, 0.02, tmax - 0.02)
    theta = np.interp(t, et, grid)
    z = a[None, :, None] * (theta[:, None, None] - b[None, :, :])
    p_ge = 1 / (1 + np.exp(-z))  # (n, items, 3), decreasing in k
    u = rng.random((len(t), n_items))
    return (u[:, :, None] < p_ge).sum(axis=2).astype(np.int8)


# ---------------------------------------------------------------------------


@validate_params(
    {
        "n_episodes": [Interval(int, 1, None, closed="left")],
        "seed": [Interval(int, 0, None, closed="left")],
        "params": ["no_validation"],  # SynthParams' fields, checked by SynthParams
    }
)
def generate(n_episodes: int = 1500, seed: int = 2026, **params) -> SynthData:
    """Simulate IOP assessments with known truth.

    Parameters
    ----------
    n_episodes : int
        Treatment episodes to simulate.
    seed : int
        Random seed; the same seed and parameters give identical data.
    **params
        Any field of :class:`SynthParams` (e.g. ``dropout="mcar"``,
        ``true_change={"in_person": -7, "virtual": -6, "hybrid": -6.5}``,
        ``messy=True``).

    Returns
    -------
    SynthData
        ``data``: one row per administered questionnaire with item responses
        (``item_1`` … ``item_9``; GAD-7 rows leave ``item_8``/``item_9`` empty)
        and the episode and person columns of the contract; ``truth``: the
        generating parameters and per-episode true values.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> sim = iop.synth.generate(n_episodes=300, seed=7, dropout="mcar")
    >>> sim.data.columns[:6].tolist()
    ['patient_id', 'episode_id', 'instrument', 'assessment_date', 'timepoint', 'week']
    >>> sim.truth.format_change["virtual"]
    -7.0
    """
    p = SynthParams(n_episodes=n_episodes, seed=seed, **params)
    rng = np.random.default_rng(p.seed)
    # the steps draw from rng in this order (the data are identical for a seed)
    s = _episode_level(p, rng)
    _weekly_scores(p, rng, s)
    _episode_dates(p, rng, s)
    blocks = _in_treatment_rows(rng, s)
    blocks += _followup_rows(p, rng, s)
    out = _assessments(p, rng, s, blocks)
    truth_eps = _true_episodes(s)
    messy = None
    if p.messy:
        out, messy = _make_messy(out, rng)
    truth = SynthTruth(
        params=p,
        format_change={f: float(p.true_change[f]) for f in s.fmt_names},
        site_effects={k: float(e) for k, e in zip(p.sites, s.site_eff, strict=True)},
        episodes=truth_eps,
        messy=messy,
    )
    return SynthData(data=out, truth=truth)


def _episode_level(p: SynthParams, rng: np.random.Generator) -> SimpleNamespace:
    """Episode-level draws: format, site (centred effects), true baselines and changes, planned
    weeks, demographics."""
    n = p.n_episodes
    fmt_names = list(p.format_mix)
    fmt = rng.choice(fmt_names, size=n, p=[p.format_mix[f] for f in fmt_names])
    # site effects are centred (sum to zero), so the format effects are the truth averaged over sites
    site_eff = rng.normal(0, p.site_sd, len(p.sites))
    site_eff = site_eff - site_eff.mean() if len(p.sites) > 1 else np.zeros(1)
    site_idx = rng.integers(0, len(p.sites), n)
    site = np.asarray(p.sites, dtype=object)[site_idx]

    z1 = rng.standard_normal(n)
    z2 = p.phq_gad_rho * z1 + np.sqrt(1 - p.phq_gad_rho**2) * rng.standard_normal(n)
    phq0 = np.clip(p.phq_mean + p.phq_sd * z1, 0, 27)
    gad0 = np.clip(p.gad_mean + p.gad_sd * z2, 0, 21)
    delta = np.array([p.true_change[f] for f in fmt])
    c_phq = delta + site_eff[site_idx] + rng.normal(0, p.change_sd, n)
    off_track = None
    if p.off_track_share > 0:  # a generator of its own: the main stream is not shifted
        rng_off = np.random.default_rng([p.seed, 14])
        off_track = rng_off.random(n) < p.off_track_share
        c_phq = np.where(
            off_track, p.off_track_change + rng_off.normal(0, p.off_track_sd, n), c_phq
        )
    c_gad = c_phq * p.gad_change_ratio + rng.normal(0, p.change_sd * 0.5, n)
    planned = rng.choice(np.asarray(p.planned_weeks), size=n)

    age = np.clip(np.round(rng.gamma(6.0, 6.0, n) + 12), 18, 80).astype(int)
    gender = rng.choice(
        ["woman", "man", "nonbinary", "transgender man", "transgender woman"],
        size=n,
        p=[0.58, 0.36, 0.03, 0.015, 0.015],
    )
    race = rng.choice(
        ["White", "Black", "Hispanic or Latino", "Asian", "Multiracial", "Other"],
        size=n,
        p=[0.55, 0.15, 0.17, 0.06, 0.05, 0.02],
    )
    payer = rng.choice(
        ["commercial", "medicaid", "medicare", "self-pay"], size=n, p=[0.6, 0.25, 0.1, 0.05]
    )
    return SimpleNamespace(
        n=n,
        fmt_names=fmt_names,
        fmt=fmt,
        site_eff=site_eff,
        site=site,
        phq0=phq0,
        gad0=gad0,
        c_phq=c_phq,
        c_gad=c_gad,
        off_track=off_track,
        planned=planned,
        age=age,
        gender=gender,
        race=race,
        payer=payer,
    )


def _weekly_scores(p: SynthParams, rng: np.random.Generator, s: SimpleNamespace) -> None:
    """Weekly true scores on the decelerating curve, items from the graded-response model,
    dropout by the weekly hazard, discharge status."""
    n = s.n
    fmt = s.fmt
    phq0 = s.phq0
    gad0 = s.gad0
    c_phq = s.c_phq
    c_gad = s.c_gad
    planned = s.planned
    max_w = int(max(p.planned_weeks))
    weeks = np.arange(max_w + 1)
    norm = 1 - np.exp(-planned / p.tau_weeks)
    g = (1 - np.exp(-weeks[None, :] / p.tau_weeks)) / norm[:, None]
    g = np.minimum(g, 1.0)
    true_phq = np.clip(phq0[:, None] + c_phq[:, None] * g, 0, 27)
    true_gad = np.clip(gad0[:, None] + c_gad[:, None] * g, 0, 21)

    phq_items = _items_for(true_phq.ravel(), 9, rng).reshape(n, max_w + 1, 9)
    gad_items = _items_for(true_gad.ravel(), 7, rng).reshape(n, max_w + 1, 7)
    obs_phq = phq_items.sum(axis=2)

    hr = np.array([p.dropout_hr.get(f, 1.0) for f in fmt])
    base_logit = np.log(p.dropout_hazard / (1 - p.dropout_hazard))
    last_week = planned.copy()
    dropped = np.zeros(n, dtype=bool)
    u_drop = rng.random((n, max_w + 1))
    for w in range(1, max_w + 1):  # a loop over weeks (≤ 12), vectorized over episodes
        if p.dropout == "mcar":
            sev = np.zeros(n)
        elif p.dropout == "mar":
            sev = (obs_phq[:, w - 1] - 15) / 5
        else:
            sev = (true_phq[:, w] - 15) / 5
        h = 1 / (1 + np.exp(-(base_logit + np.log(hr) + p.dropout_slope * sev)))
        at_risk = ~dropped & (w <= planned)
        now = at_risk & (u_drop[:, w] < h)
        dropped |= now
        last_week = np.where(now, w - 1, last_week)
    transferred = dropped & (rng.random(n) < p.transfer_share)
    status = np.where(dropped, "dropped_out", "completed").astype(object)
    status[transferred] = "transferred"
    s.true_phq = true_phq
    s.true_gad = true_gad
    s.phq_items = phq_items
    s.gad_items = gad_items
    s.weeks = weeks
    s.last_week = last_week
    s.dropped = dropped
    s.status = status


def _episode_dates(p: SynthParams, rng: np.random.Generator, s: SimpleNamespace) -> None:
    """Admission and discharge dates (readmissions of earlier patients), ids, attendance."""
    n = s.n
    planned = s.planned
    last_week = s.last_week
    dropped = s.dropped
    start = np.datetime64(p.start_date, "D")
    admit = start + rng.integers(0, p.enrolment_days, n).astype("timedelta64[D]")
    los = np.where(dropped, last_week * 7 + rng.integers(1, 7, n), planned * 7)
    los = np.maximum(los, 1)
    # readmissions: a share of episodes belong to an earlier episode's patient
    patient_of = np.arange(n)
    n_re = int(round(p.readmission_share * n))
    if n_re and n > 10:
        child = rng.choice(np.arange(n // 2, n), size=n_re, replace=False)
        parent = rng.integers(0, n // 2, n_re)
        patient_of[child] = parent
        parent_discharge = admit[parent] + los[parent].astype("timedelta64[D]")
        admit[child] = parent_discharge + rng.integers(60, 200, n_re).astype("timedelta64[D]")
    discharge = admit + los.astype("timedelta64[D]")

    ep_ids = np.array([f"E{i + 1:06d}" for i in range(n)], dtype=object)
    pat_ids = np.array([f"P{i + 1:06d}" for i in range(n)], dtype=object)[patient_of]
    hours_per_week = rng.uniform(9, 15, n)
    sessions_sched = planned * 3
    attended_weeks = np.where(dropped, last_week + 0.5, planned)
    sessions_att = np.minimum(
        sessions_sched, np.round(attended_weeks * 3 * rng.uniform(0.75, 1.0, n))
    ).astype(int)
    s.admit = admit
    s.discharge = discharge
    s.ep_ids = ep_ids
    s.pat_ids = pat_ids
    s.hours_per_week = hours_per_week
    s.sessions_sched = sessions_sched
    s.attended_weeks = attended_weeks
    s.sessions_att = sessions_att


def _in_treatment_rows(rng: np.random.Generator, s: SimpleNamespace) -> list[pd.DataFrame]:
    """PHQ-9 and GAD-7 rows of the weeks in treatment (the last of a completer at discharge)."""
    weeks = s.weeks
    last_week = s.last_week
    admit = s.admit
    discharge = s.discharge
    status = s.status
    phq_items = s.phq_items
    gad_items = s.gad_items
    ep_w, wk = np.nonzero(weeks[None, :] <= last_week[:, None])
    jitter = np.where(wk == 0, rng.integers(-3, 2, len(wk)), rng.integers(0, 2, len(wk)))
    a_date = admit[ep_w] + (wk * 7 + jitter).astype("timedelta64[D]")
    is_last_completed = (wk == last_week[ep_w]) & (status[ep_w] == "completed")
    a_date = np.where(is_last_completed, discharge[ep_w], a_date)
    tp = np.where(wk == 0, "intake", np.char.add("week_", wk.astype(str))).astype(object)
    tp[is_last_completed] = "discharge"

    blocks = [
        _rows(ep_w, wk.astype(float), a_date, tp, "PHQ-9", phq_items[ep_w, wk]),
        _rows(ep_w, wk.astype(float), a_date, tp, "GAD-7", gad_items[ep_w, wk]),
    ]
    return blocks


def _followup_rows(p: SynthParams, rng: np.random.Generator, s: SimpleNamespace) -> list:
    """Follow-up rows: response falling with time (lower after dropout), upward drift."""
    n = s.n
    true_phq = s.true_phq
    true_gad = s.true_gad
    last_week = s.last_week
    status = s.status
    discharge = s.discharge
    admit = s.admit
    end_phq = true_phq[np.arange(n), last_week]
    end_gad = true_gad[np.arange(n), last_week]
    blocks = []
    for m in p.followup_months:
        prob = np.full(n, p.followup_response[m])
        prob = np.where(status == "completed", prob, prob * p.followup_dropout_factor)
        resp = rng.random(n) < prob
        idx = np.nonzero(resp)[0]
        drift = p.drift_per_month * m
        shock = rng.normal(0, p.followup_sd, len(idx))
        f_phq = np.clip(end_phq[idx] + drift + shock, 0, 27)
        f_gad = np.clip(end_gad[idx] + drift * 0.8 + shock * 0.8, 0, 21)
        d = discharge[idx] + (30 * m + rng.integers(-7, 8, len(idx))).astype("timedelta64[D]")
        wk_f = np.round((d - admit[idx]).astype(float) / 7, 1)
        tp_f = np.full(len(idx), f"followup_{m}m", dtype=object)
        blocks.append(_rows(idx, wk_f, d, tp_f, "PHQ-9", _items_for(f_phq, 9, rng)))
        blocks.append(_rows(idx, wk_f, d, tp_f, "GAD-7", _items_for(f_gad, 7, rng)))
    s.end_phq = end_phq
    s.end_gad = end_gad
    return blocks


def _assessments(p: SynthParams, rng: np.random.Generator, s: SimpleNamespace, blocks: list):
    """The rows in the data contract's columns, a few items missing, sorted."""
    pat_ids = s.pat_ids
    ep_ids = s.ep_ids
    admit = s.admit
    discharge = s.discharge
    status = s.status
    fmt = s.fmt
    site = s.site
    age = s.age
    gender = s.gender
    race = s.race
    payer = s.payer
    sessions_sched = s.sessions_sched
    sessions_att = s.sessions_att
    hours_per_week = s.hours_per_week
    attended_weeks = s.attended_weeks
    rows = pd.concat(blocks, ignore_index=True)
    # a few missing items (never item 9, the safety item, which is kept raw)
    item_cols = [f"item_{k}" for k in range(1, 10)]
    miss = rng.random((len(rows), 8)) < p.item_missing_rate
    for k in range(8):
        col = item_cols[k]
        rows.loc[miss[:, k] & rows[col].notna().to_numpy(), col] = pd.NA

    ep = rows.pop("_ep").to_numpy()
    cohort = pd.PeriodIndex(pd.DatetimeIndex(admit), freq="Q").astype(str)
    out = pd.DataFrame(
        {
            "patient_id": pat_ids[ep],
            "episode_id": ep_ids[ep],
            "instrument": rows["instrument"].to_numpy(),
            "assessment_date": rows["assessment_date"].to_numpy(),
            "timepoint": rows["timepoint"].to_numpy(),
            "week": rows["week"].to_numpy(),
            **{c: rows[c] for c in item_cols},
            "admit_date": admit[ep],
            "discharge_date": discharge[ep],
            "discharge_status": status[ep],
            "format": fmt[ep],
            "site": site[ep],
            "program": "Adult IOP",
            "cohort": np.asarray(cohort)[ep],
            "age": age[ep],
            "gender_identity": gender[ep],
            "race_ethnicity": race[ep],
            "payer": payer[ep],
        }
    )
    if p.attendance_hours:
        out["sessions_scheduled"] = sessions_sched[ep]
        out["sessions_attended"] = sessions_att[ep]
        out["attendance_hours"] = np.round(hours_per_week * attended_weeks, 1)[ep]
    out = out.sort_values(
        ["episode_id", "assessment_date", "instrument"], kind="mergesort"
    ).reset_index(drop=True)
    for c in ("assessment_date", "admit_date", "discharge_date"):
        out[c] = pd.to_datetime(out[c]).dt.normalize().astype("datetime64[ns]")
    return out


def _true_episodes(s: SimpleNamespace) -> pd.DataFrame:
    """The per-episode truth (``SynthTruth.episodes``)."""
    n, true_phq, true_gad, planned = s.n, s.true_phq, s.true_gad, s.planned
    truth_eps = pd.DataFrame(
        {
            "episode_id": s.ep_ids,
            "patient_id": s.pat_ids,
            "format": s.fmt,
            "site": s.site,
            "planned_weeks": planned,
            "last_week": s.last_week,
            "discharge_status": s.status,
            "true_phq_baseline": s.phq0,
            "true_phq_endpoint": true_phq[np.arange(n), planned],
            "true_phq_last": s.end_phq,
            "true_gad_baseline": s.gad0,
            "true_gad_endpoint": true_gad[np.arange(n), planned],
            "true_gad_last": s.end_gad,
        }
    )
    if s.off_track is not None:
        truth_eps["off_track"] = s.off_track
    return truth_eps


def _rows(ep, week, dates, tp, instrument, items) -> pd.DataFrame:
    k = items.shape[1]
    d = {
        "_ep": ep,
        "instrument": np.full(len(ep), instrument, dtype=object),
        "assessment_date": dates,
        "timepoint": tp,
        "week": week,
    }
    for j in range(9):
        d[f"item_{j + 1}"] = (
            pd.array(items[:, j], dtype="Int8")
            if j < k
            else pd.array([pd.NA] * len(ep), dtype="Int8")
        )
    return pd.DataFrame(d)


def _make_messy(df: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inject realistic faults; return the faulty frame and a log of what was injected.

    Faults (each on a few rows): PHQ-9 rows relabelled with a spelling that loads
    as is (``phq9``), a synonym that loads with a repair (the LOINC code
    ``44261-6``) and an unknown name (``PHQ-99``); format synonyms (``telehealth``)
    and typos (``virtaul``); exact and conflicting duplicates; out-of-range and
    non-numeric items; answer text instead of numbers; unparseable dates;
    admission and discharge dates swapped.
    """
    df = df.copy()
    for c in [f"item_{k}" for k in range(1, 10)]:
        df[c] = df[c].astype(object)
    for c in ("assessment_date", "admit_date", "discharge_date"):
        df[c] = df[c].dt.strftime("%Y-%m-%d").astype(object)
    n = len(df)
    k = max(1, n // 400)
    picks = rng.permutation(n)
    log = []

    def take(kind: str, m: int = k) -> np.ndarray:
        nonlocal picks
        sel, picks = picks[:m], picks[m:]
        log.extend((int(i), kind) for i in sel)
        return sel

    phq_rows = np.nonzero((df["instrument"] == "PHQ-9").to_numpy())[0]
    for kind, label in (("instrument_spelling", "phq9"), ("instrument_synonym", "44261-6")):
        sel = rng.choice(np.setdiff1d(phq_rows, [i for i, _ in log]), size=k, replace=False)
        picks = np.setdiff1d(picks, sel, assume_unique=True)
        log.extend((int(i), kind) for i in sel)
        df.loc[sel, "instrument"] = (
            label  # only on PHQ-9 rows: a spelling, not a different instrument
        )
    df.loc[take("instrument_unknown"), "instrument"] = "PHQ-99"
    df.loc[take("format_synonym"), "format"] = "telehealth"
    df.loc[take("format_typo"), "format"] = "virtaul"
    df.loc[take("item_out_of_range"), "item_2"] = 5
    df.loc[take("item_not_numeric"), "item_3"] = "n/a?"
    labels = np.array(["Not at all", "Several days", "More than half the days", "Nearly every day"])
    sel = take("item_answer_text")
    vals = pd.to_numeric(df.loc[sel, "item_1"], errors="coerce")
    ok = vals.notna().to_numpy()
    df.loc[sel[ok], "item_1"] = labels[vals[ok].astype(int).to_numpy()]
    df.loc[take("date_unparseable"), "assessment_date"] = "2024-13-45"
    # swapped admission/discharge dates for a few whole episodes
    eps = rng.choice(df["episode_id"].unique(), size=max(1, k // 4), replace=False)
    m = df["episode_id"].isin(eps).to_numpy()
    df.loc[m, ["admit_date", "discharge_date"]] = df.loc[
        m, ["discharge_date", "admit_date"]
    ].to_numpy()
    log.extend((int(i), "dates_swapped") for i in np.nonzero(m)[0])
    dup = take("duplicate_exact")
    conflict = take("duplicate_conflicting")
    extra_conf = df.loc[conflict].copy()
    v = pd.to_numeric(extra_conf["item_4"], errors="coerce").fillna(0)
    extra_conf["item_4"] = np.where(v >= 2, v - 2, v + 2).astype(int)
    out = pd.concat([df, df.loc[dup], extra_conf], ignore_index=True)
    log.extend((n + i, "duplicate_exact_copy") for i in range(len(dup)))
    log.extend((n + len(dup) + i, "duplicate_conflicting_copy") for i in range(len(conflict)))
    return out, pd.DataFrame(log, columns=["row", "kind"]).sort_values(
        "row", kind="mergesort"
    ).reset_index(drop=True)


#: Parameters of the bundled demo dataset (data/demo/assessments.csv).
DEMO_PARAMS: dict = {
    "n_episodes": 1200,
    "seed": 20261123,
    # a known 10 % of non-responders, so off-track alerts can be checked against the truth
    "off_track_share": 0.1,
}


@validate_params({})
def demo() -> SynthData:
    """The bundled demo dataset: 1,200 episodes, 3 sites, all formats, PHQ-9 and GAD-7.

    Identical to ``data/demo/assessments.csv`` (written by ``data/demo/make_demo.py``). A known
    10 % of episodes are drawn as non-responders (``off_track_share=0.1``; the truth's
    ``off_track`` column marks them), so off-track alerts can be checked on the demo.

    Examples
    --------
    >>> import iop_outcomes as iop
    >>> iop.synth.demo().data["episode_id"].nunique()
    1200
    """
    return generate(**DEMO_PARAMS)


@validate_params({"p": [SynthParams]})
def params_dict(p: SynthParams) -> dict:
    """The parameters as a plain dict (for provenance blocks and JSON)."""
    return asdict(p)
