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
# # 3. Symptom change and clinical significance
#
# How much did scores change, and for how many people was the change both *reliable* (larger
# than measurement error) and *clinically significant* (ending in the range of a non-clinical
# population)?

# %% tags=["parameters"]
DATA = "../data/demo/assessments.csv"
MAPPING = None  # or a mapping TOML for your own column names (docs/mapping.toml)
INSTRUMENT = "PHQ-9"
GROUP = "format"

# %%
import iop_outcomes as iop

loaded = iop.load(DATA, mapping=MAPPING)
ep = iop.episodes(loaded.data, instrument=INSTRUMENT)
summary = iop.change_summary(ep, by=GROUP)
summary

# %%
iop.plots.plot_change_by_group(summary)

# %% [markdown]
# ## Severity bands
#
# The cross-table shows where episodes started and ended on the instrument's severity bands
# (PHQ-9: minimal 0–4, mild 5–9, moderate 10–14, moderately severe 15–19, severe 20–27;
# Kroenke et al. 2001). Rows are baseline bands, columns endpoint bands.

# %%
shift = iop.severity_shift(ep)
shift

# %% [markdown]
# ## Reliable and clinically significant change (Jacobson & Truax 1991)
#
# The reliable change index divides each episode's change by the standard error of a
# difference, $S_{diff} = SD_{pre}\sqrt{2(1-r_{xx})}$; |RCI| > 1.96 is reliable. The result
# prints the reliability, the SD (here taken from the sample's baseline scores) and the cut-off
# used — different tools make different choices, so always report them.

# %%
cs = iop.clinical_significance(ep, method="jacobson-truax", instrument=INSTRUMENT, by=GROUP)
cs

# %%
iop.plots.plot_jacobson_truax(cs)

# %% [markdown]
# **Caveats.** The categories depend on the reliability coefficient and the cut-off; the
# result's parameters line shows both. The NHS Talking Therapies definitions (fixed thresholds
# of 6 PHQ-9 and 4 GAD-7 points, caseness 10 and 8) are available with
# `method="nhs-talking-therapies"` and can be compared with England's national rates through
# `iop.benchmarks`.

# %%
iop.benchmarks(iop.clinical_significance(ep, method="nhs", instrument=INSTRUMENT))
