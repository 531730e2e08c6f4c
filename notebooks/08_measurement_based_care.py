# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Measurement-based care: a quality lead's week and quarter
#
# Outcome measures are not only for the annual report. Every **week** a quality lead asks which
# patients in treatment are not improving; every **quarter**, whether a site or the whole
# program is drifting. This notebook does both on the bundled **synthetic** demo data (no real
# patients), with the methods of `docs/monitoring.md`.
#
# The weekly list names patients, so it is an **internal** document for the treating team. This
# notebook never prints it: it shows counts only. The quarterly views compare sites, which may be
# shared.

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
INSTRUMENT = "PHQ-9"
AS_OF = "2025-06-30"  # the day of the weekly review
UPPER = 0.75  # off track = above this percentile of the expected score
BY_WEEK = 4  # reliable improvement is expected by this week of treatment
BY = ["site", "format"]  # episode columns the caseload counts are broken down by
PLOT_BASELINE = 18  # the baseline score whose expected curve is drawn
UNIT = "site"  # the providers compared in the funnel plot
OUTCOME = "recovery"  # or "reliable improvement", "dropout", "change", ...
ADJUST = ["baseline", "format"]  # case mix: baseline severity and treatment format
PERIOD = "quarter"  # or "month"
TRUTH = "../data/demo/truth_episodes.csv"  # the synthetic truth (demo only); None for real data

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
rows = loaded.data
print(f"{len(rows):,} scored administrations")
print("admissions from", rows["admit_date"].min().date(), "to", rows["admit_date"].max().date())
rows.drop_duplicates("episode_id")["admit_date"].dt.to_period("Q").value_counts().sort_index()

# %% [markdown]
# ## The week: who is not improving?
#
# **Choosing the review date.** The demo admits patients steadily from January 2024 to June 2025
# and only a handful afterwards. We review the caseload as of **30 June 2025**, the end of the
# last full quarter of admissions: on that day many patients are in treatment, and a year and a
# half of episodes have already been completed, enough to learn what recovery normally looks
# like. Everything dated after the review date is ignored, so the review sees exactly what was
# known on that day.
#
# **Expected recovery curves.** A patient's progress is judged against patients of this program
# who started at the same severity, the idea of the OQ-45 "expected treatment response" (Finch,
# Lambert & Schaalje 2001, *Clin Psychol Psychother* 8:231–242). The curves are fitted on the
# episodes *completed by the review date*, by quantile regression of the score on baseline and
# log(1 + week): the median is the expected score, the 75th percentile the upper edge of the
# band. A patient above the band scores higher (worse) than three in four comparable patients
# did at that week of treatment.

# %%
curves = iop.recovery_curves(rows, instrument=INSTRUMENT, upper=UPPER, as_of=AS_OF)
print(
    f"fitted on {curves.n_episodes} completed episodes and {curves.n_scores:,} post-baseline"
    f" scores, weeks 0 to {curves.max_week:g}"
)
curves.predict([PLOT_BASELINE] * 5, [0, 1, 2, 4, 8]).assign(week=[0, 1, 2, 4, 8]).round(1)

# %%
curves.plot(baseline=PLOT_BASELINE)

# %% [markdown]
# The line is the expected (median) score by week for a patient who started at the baseline
# above; the shaded band reaches the 75th percentile. Intensive programs change fastest in the
# first weeks, which the log(1 + week) term captures; after the last fitted week the curve is
# held flat.
#
# **The caseload.** `iop.monitor` takes every episode open on the review date and raises four
# flags, each with its reason and numbers:
#
# - `not_on_track`: the latest score (from week 1) is above the band;
# - `reliable_deterioration`: the score has risen by at least the instrument's reliable-change
#   threshold since baseline (PHQ-9: 6 points, NHS Talking Therapies);
# - `no_reliable_improvement`: by week 4 the score has not fallen by that threshold;
# - `safety_item`: PHQ-9 item 9 (thoughts of death or self-harm) answered above 0 in the latest
#   administration, a prompt to follow the risk protocol, not a risk assessment.

# %%
res = iop.monitor(rows, as_of=AS_OF, curves=curves, instrument=INSTRUMENT, by_week=BY_WEEK)
print("\n".join(res.notes))

# %% [markdown]
# The table behind `res` has one row per open episode, **with patient and episode identifiers**
# and the reason for every flag. We do not print it here. For the treating team it is written by
#
# ```bash
# iop-outcomes monitor my_scores.csv --as-of 2025-06-30 --instrument PHQ-9 --out internal/
# ```
#
# as `internal/INTERNAL-identifiable-caseload-2025-06-30-PHQ-9.csv` and `.html` (grouped by
# clinician when the data have a `clinician` column), marked as identifiable in the file name
# and on every row and page; the shareable report refuses to read them. Here, only counts of
# open episodes and flags by site and by format (the caseload carries `site`; `format` is looked
# up from the episode's rows):

# %%
import pandas as pd

FLAGS = ["not_on_track", "reliable_deterioration", "no_reliable_improvement", "safety_item"]
caseload = res.to_frame()
episode_info = rows.drop_duplicates("episode_id").set_index("episode_id")
caseload = caseload.join(episode_info[[c for c in BY if c not in caseload]], on="episode_id")
counts = (
    caseload.assign(open_episodes=1, flagged=caseload["status"].eq("flagged"))[
        ["open_episodes", "flagged", *FLAGS]
    ]
    .fillna(False)
    .astype(int)
)
summary = pd.concat({b: counts.groupby(caseload[b]).sum() for b in BY}, names=["by", "group"])
summary.loc[("all", "all"), :] = counts.sum()
summary

# %%
caseload["n_flags"].value_counts().sort_index().rename_axis("flags raised").rename("episodes")

# %% [markdown]
# Counts this small can point to individuals in a small team: the summary is for the quality
# lead and the clinical team, not for publication (the shareable report applies its small-cell
# rule to every count it shows).
#
# **Reading it.** A flag is a reason to look, not a verdict: the week's list is for the
# clinical team to review in supervision, starting with safety flags and patients with several
# flags. With a 75th-percentile band about one score in four is above it even when all goes
# well, so "not on track" alone at week 1–2 is common; its value is in what it catches early
# (bench/VALIDATION.md: above the band at weeks 2–4 caught most episodes that ended reliably
# worse). Raise `UPPER` to 0.9 for a shorter, more specific list.

# %% [markdown]
# **Checking the flags against the truth (demo only).** The demo is synthetic, and its truth
# records which episodes were *drawn* as non-responders (`off_track`: 10 % of episodes, whose
# true change is about +1 point instead of about −7). So on the demo we can count how many of
# the open episodes that are truly off track the flag raised this week, and how many flags were
# right. With real data there is no such truth: set `TRUTH = None`.

# %%
if TRUTH is not None:
    from IPython.display import display

    truth = pd.read_csv(TRUTH, usecols=["episode_id", "off_track"]).set_index("episode_id")
    judged = caseload.join(truth, on="episode_id").dropna(subset=["not_on_track"])
    check = pd.crosstab(
        judged["off_track"].map({True: "drawn off track", False: "drawn on track"}),
        judged["not_on_track"].astype(bool).map({True: "flagged", False: "not flagged"}),
        margins=True,
    )
    hit = judged.loc[judged["off_track"], "not_on_track"].astype(bool).mean()
    right = judged.loc[judged["not_on_track"].astype(bool), "off_track"].mean()
    print(
        f"flagged {hit:.0%} of the open episodes drawn off track; {right:.0%} of flags fell on them"
    )
    display(check)

# %% [markdown]
# Most drawn non-responders are above the band by this week, and most flags fall on patients
# who were drawn on track: with about one patient in ten truly off track and a band that one
# score in four exceeds by chance, a flag is a prompt to look, as above. bench/VALIDATION.md
# gives the same figures, with intervals, on a time split of the demo and of larger synthetic
# cohorts.

# %% [markdown]
# ## The quarter: are sites and the program on course?
#
# The quarterly questions use finished episodes: one row per episode (`iop.episodes`), and one
# outcome from the library's own definitions. Here it is **recovery** (NHS Talking Therapies:
# a course that started at caseness and ended below it, among finished courses).

# %%
ep = iop.episodes(rows, instrument=INSTRUMENT)
f = iop.funnel(ep, unit=UNIT, outcome=OUTCOME, adjust=ADJUST)
print("\n".join(f.notes))
f.to_frame()[["unit", "n", "observed", "expected", "ratio", "standardised_rate", "flag"]].round(2)

# %%
f.plot()

# %% [markdown]
# **How to read a funnel plot** (Spiegelhalter 2005, *Stat Med* 24:1185–1202). Each site is a
# point at its volume. Sites see different patients, so each site's recoveries are compared
# with the number *expected* from its own case mix (a logistic model of recovery on baseline
# severity and format, fitted to all sites together): a ratio of 1 means as many recoveries as
# expected. The funnel lines are how far a site could stray from 1 by chance alone, narrowing as
# volume grows:
#
# - inside the **95 %** limits (about 2 SD): consistent with chance;
# - between 95 % and **99.8 %** (about 3 SD): a warning, worth a look at the data and the case
#   mix — about one site in 20 falls outside the 95 % limits by chance alone;
# - outside 99.8 %: an outlier, unlikely to be chance (about 1 in 500); ask why.
#
# Why not a league table? Ranking sites by their rates puts one at the bottom even when all
# differ only by chance, and small sites swing most. The funnel asks the fair question, "is this
# site different from what its patients would lead us to expect?", and names only the sites
# that are. Outliers, with their observed, expected and limits:

# %%
f.outliers

# %% [markdown]
# An empty table means that no site is outside its 95 % limits: on the demo, the three sites
# recover about as often as their patients' baseline severity and format predict. With only three
# sites the notes say that no overdispersion adjustment is made; with ten or more units (e.g.
# clinicians) the limits are widened when units differ more than chance allows (Spiegelhalter
# 2005, sec. 3.3). Clinician funnels work the same
# way (`unit="clinician"`), but they name staff, so they are internal unless you say otherwise;
# shared funnels hide units with 1–10 episodes under neutral labels.
#
# **Over time.** The same outcome by quarter of admission, as a p-chart: the centre line is the
# overall rate and the control limits (3 sigma) show the range common-cause variation produces
# for each quarter's number of episodes (NHS England / Improvement, *Making Data Count*, 2019).

# %%
r = iop.over_time(ep, period=PERIOD, outcome=OUTCOME)
print("\n".join(r.notes))
r.table[["period", "n", "estimate", "lcl", "ucl", "signal", "rules", "direction"]].round(3)

# %%
r.plot()

# %% [markdown]
# **What a signal means.** A *special-cause* signal is a pattern that chance alone rarely makes:
# a point outside the limits, 7 quarters in a row on one side of the centre, 7 rising or falling
# in a row, or 2 of 3 beyond 2 sigma on the same side (the *Making Data Count* rules). It says
# that something changed (a new protocol, a staffing gap, a different referral stream) and is
# worth investigating; `direction` says whether it is an improvement or a concern. Points
# without a signal are common-cause variation: reacting to each rise and fall quarter by quarter
# is tampering. The last quarters of the demo hold few admissions, so their limits are wide.
# When the notes report sigma_z well above 1, quarters vary more than sampling alone allows;
# `chart="laney"` (Laney's p′ chart) widens the limits for that.
