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
# # 6. Retention, follow-up and missing data
#
# Who stays in treatment, who answers follow-up questionnaires, and does the answer to "how
# much did people improve" depend on how missing scores are handled?

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
INSTRUMENT = "PHQ-9"
GROUP = "format"
REFERENCE = "in_person"
N_IMPUTATIONS = 5  # multiple imputations (use 20 or more for a final report)
SEED = 20240601

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
ep = iop.episodes(loaded.data, instrument=INSTRUMENT)
ret = iop.retention(ep, group=GROUP, reference=REFERENCE)
ret

# %%
iop.plots.plot_followup_response(ret)

# %% [markdown]
# **Follow-up response** is the share of discharged episodes with a score in each window after
# discharge (Wilson intervals). Routine programs often reach only a third by 3 months; people
# who answer tend to be doing better, so follow-up means describe responders, not everyone.

# %%
surv = iop.dropout_survival(ep, group=GROUP, reference=REFERENCE)
surv

# %%
iop.plots.plot_km(surv)

# %% [markdown]
# Kaplan–Meier curves of time to dropout, with transfers censored. Who drops out?

# %%
iop.attrition(ep, retained="followup_3m")

# %%
iop.durability(ep, instrument=INSTRUMENT)

# %% [markdown]
# ## Sensitivity to missing data
#
# Each method rests on an assumption about the missing end-of-treatment scores: completers
# only (missing completely at random), last observation carried forward (no change after the
# last score), baseline carried forward (return to baseline), multiple imputation (missing at
# random given the observed scores). If they agree, the headline does not hinge on that choice.

# %%
sens = iop.missing_data_sensitivity(
    loaded,
    instrument=INSTRUMENT,
    group=GROUP,
    reference=REFERENCE,
    methods=("completers", "locf", "bocf", "mi"),
    n_imputations=N_IMPUTATIONS,
    seed=SEED,
)
sens

# %%
from iop_outcomes.plots.sensitivity import plot_sensitivity

plot_sensitivity(sens)
