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
# # 2. Data quality and the row ledger
#
# Before any number is computed, every row of the input is accounted for. This notebook shows
# the ledger on the clean demo file and on a deliberately messy synthetic file, and how strict
# mode turns problems into one error that lists them all.

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
MESSY_EPISODES = 200  # size of the messy synthetic example
SEED = 7

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
loaded.summary()

# %% [markdown]
# `accepted + repaired + quarantined = rows read` always holds (the loader checks it). A
# *repair* is a change the loader made and recorded: a total prorated from answered items
# under the instrument's missing-item rule, or a synonym mapped to a standard label. Repairs
# are kept in the analysis; the reason column says what was done.

# %%
counts = loaded.ledger["disposition"].value_counts()
counts

# %% [markdown]
# ## A messy file
#
# The synthetic generator can inject realistic faults: typos in labels, duplicates,
# out-of-range items, swapped dates, answers as text.

# %%
messy = iop.synth.generate(n_episodes=MESSY_EPISODES, seed=SEED, messy=True).data
messy_loaded = iop.load(messy)
messy_loaded.summary()

# %% [markdown]
# Each quarantined row says why and what to do. The ledger is a DataFrame, so it can be
# filtered, counted and exported (`ledger.to_csv(...)`, or `iop-outcomes validate DATA
# --ledger-out ledger.csv`). It contains the offending *values* and row numbers: keep it
# inside the organisation.

# %%
(
    messy_loaded.ledger.query("disposition == 'quarantined'")
    .groupby("column", observed=True)
    .size()
    .sort_values(ascending=False)
)

# %% [markdown]
# ## Strict mode
#
# In strict mode the same problems raise one `LoadError` listing every problem (capped with a
# count when there are thousands). Use it in pipelines that must stop on bad input.

# %%
try:
    iop.load(messy, strict=True)
except iop.LoadError as err:
    print(str(err)[:600])

# %% [markdown]
# ## Safety item
#
# PHQ-9 item 9 (thoughts of death or self-harm) above 0 is flagged on every scored row and
# never imputed. Counting flags is part of data quality: a program should be able to show that
# each positive screen was followed up.

# %%
phq = loaded.data[loaded.data["instrument"] == "PHQ-9"]
print(f"{int(phq['safety_flag'].sum()):,} of {len(phq):,} PHQ-9 administrations flagged")
