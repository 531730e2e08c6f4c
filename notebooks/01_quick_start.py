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
# # 1. Quick start: from a data file to a shareable report
#
# This notebook walks through the whole path once: load a file of questionnaire scores, see what
# was accepted, build one row per treatment episode, summarise symptom change, and write the
# report that is safe to send outside the program. Later notebooks go deeper into each step.
#
# It runs on the bundled **synthetic** demo data (no real patients). To run it on your own file,
# change the parameters cell below (or run it with papermill: `papermill 01_quick_start.ipynb
# out.ipynb -p DATA my_scores.csv`).

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"  # one row per administered questionnaire
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
INSTRUMENT = "PHQ-9"  # headline instrument
GROUP = "format"  # grouping column for the tables
OUT = "../reports/_scratch/quick_start"  # where the report goes (gitignored)

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
loaded.summary()

# %% [markdown]
# **What this means.** Every input row gets exactly one disposition: *accepted*, *repaired* (for
# example a total prorated from answered items — the rule used is printed in the parameters
# line) or *quarantined* with a reason. The three always add up to the rows read. Quarantined
# rows are left out of every analysis, so check the reasons before trusting any result.

# %%
ep = iop.episodes(loaded.data, instrument=INSTRUMENT)
print(f"{len(ep):,} episodes; {ep['endpoint'].notna().sum():,} have an end-of-treatment score")

# %% [markdown]
# The episode table has one row per treatment episode: the *baseline* (the score nearest
# admission) and the *endpoint* (the last score in treatment), plus follow-up scores. The rules
# that choose these scores are stored with the table:

# %%
print(ep.attrs["rules_text"])

# %%
iop.change_summary(ep, by=GROUP)

# %% [markdown]
# **Reading the table.** `change` is endpoint − baseline, so a negative number means fewer
# symptoms. Every statistic uses only the *paired* episodes (both scores present); the episodes
# without an endpoint are counted but not analysed here — notebook 6 shows how much that choice
# matters. Response is a fall of at least 50 %, remission an endpoint below the instrument's
# cut-off (PHQ-9 < 5), each with a Wilson 95 % interval.
#
# **Caveat.** A pre–post change in a program without a control group mixes the effect of
# treatment with regression to the mean and natural recovery.

# %%
report = iop.report(loaded, out=OUT, config={"sensitivity": {"enabled": False}})
print(report)

# %% [markdown]
# The report folder holds `report.html` (self-contained: open it offline or print it to PDF),
# every table as CSV and one XLSX workbook, and `provenance.json`. Counts from 1 to 10 are
# shown as `<11`, and further cells are hidden where a small count could be worked out from
# totals. From the command line the same report is `iop-outcomes report DATA --out DIR`.
