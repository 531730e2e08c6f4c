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
# # 4. Effect sizes for pre–post change
#
# A standardised effect size puts change on a scale that can be compared across instruments
# and programs — but there are several pre–post variants, and they give different numbers for
# the same data. Always say which one you report.

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
INSTRUMENT = "PHQ-9"
GROUP = "format"
SEED = 20240601  # bootstrap seed
N_BOOT = 500  # bootstrap resamples (2,000+ for a final report)

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
ep = iop.episodes(loaded.data, instrument=INSTRUMENT)

# %% [markdown]
# * **d_av** divides the mean change by the average of the baseline and endpoint SDs (Algina &
#   Keselman 2003); it is close to a between-groups d and is what most program reports quote.
# * **d_z** divides by the SD of the change scores; it grows as the pre–post correlation rises.
# * **d_rm** corrects d_z for that correlation (Lakens 2013; Morris & DeShon 2002).
# * **g** applies Hedges' small-sample correction with df = n − 1.

# %%
for method in ("av", "z", "rm", "b"):
    print(iop.rm_d(ep, method=method), end="\n\n")

# %%
iop.rm_d(ep, method="av", by=GROUP)

# %% [markdown]
# ## A bootstrap interval
#
# The analytic intervals above use normal approximations. A bootstrap (BCa) interval resamples
# episodes; with a fixed seed it is reproducible.

# %%
iop.rm_d(ep, method="av", ci_method="bca", n_boot=N_BOOT, seed=SEED)

# %% [markdown]
# **Caveats.** Benchmarks such as Cohen's 0.2 / 0.5 / 0.8 were proposed for between-group
# comparisons; uncontrolled pre–post effects in IOP/PHP programs are typically 0.6–1.5 and
# include regression to the mean. Compare like with like: the same variant, the same
# instrument, and similar baseline severity.
