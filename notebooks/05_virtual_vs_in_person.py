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
# # 5. Virtual vs in-person care
#
# Is virtual (or hybrid) care as effective as in-person care? Formats are not randomised, so
# the comparison adjusts for baseline severity (ANCOVA) and, optionally, other covariates; a
# non-inferiority test asks whether virtual care is *no worse* than in-person care by more than
# a margin chosen in advance.

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
INSTRUMENT = "PHQ-9"
GROUP = "format"
REFERENCE = "in_person"
MARGIN = 2.5  # non-inferiority margin in PHQ-9 points (half the 5-point MID); decide it first
COVARIATES = ["age"]
SUBGROUP = "gender_identity"  # subgroup column for the exploratory breakdown

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
ep = iop.episodes(loaded.data, instrument=INSTRUMENT)
cmp = iop.compare(ep, group=GROUP, reference=REFERENCE, method="ancova", covariates=COVARIATES)
cmp

# %% [markdown]
# The estimate is the difference in adjusted mean change (group − reference). On PHQ-9 a
# negative difference means *more* improvement than in-person care.

# %%
eq = iop.equivalence(ep, group=GROUP, reference=REFERENCE, margin=MARGIN, kind="non-inferiority")
eq

# %%
iop.plots.plot_equivalence(eq)

# %% [markdown]
# **Reading the verdict.** Non-inferiority is shown when the upper end of the one-sided
# interval stays below the margin. Failing to show it is *not* evidence of inferiority — it may
# mean the sample is too small. The margin must be justified clinically (here: half the
# PHQ-9 minimal important difference of 5 points, Löwe et al. 2004) and fixed before looking.
#
# ## Subgroups and sites

# %%
iop.subgroups(ep, group=GROUP, reference=REFERENCE, by=SUBGROUP)

# %%
pooled = iop.pool_sites(ep, site="site", group=GROUP, reference=REFERENCE)
pooled

# %%
iop.plots.plot_forest(pooled)

# %% [markdown]
# **Caveats.** Subgroup differences are exploratory: with three formats, several subgroups and
# several sites, some intervals will exclude zero by chance. Unmeasured differences between
# people who choose virtual care and those who do not cannot be adjusted away.
