# Reference values from the R package clinicalsignificance (Claus et al. 2024, J Stat Softw
# 111(1), doi:10.18637/jss.v111.i01) for the methods added to iop_outcomes.clinsig in issue #16:
# the distribution approach's HLL, NK and HA RCIs (cs_distribution), the statistical approach
# (cs_statistical), the percentage-change approach (cs_percentage), the anchor-based approach
# for individuals and groups (cs_anchor, frequentist: bayesian = FALSE) and the combined approach
# (cs_combined with an RCI method or an MID).
#
# Produced with: R 4.2.2 Patched (2022-11-10 r83330), clinicalsignificance 2.1.0.9000 (GitHub
# pedscience/clinicalsignificance, commit 863dc77bddea89d14ff88ee332a334b305e2fe13, installed
# with R CMD INSTALL), dplyr 1.0.10, tidyr 1.3.0 (Debian bookworm r-cran-* packages).
# Debian's dplyr 1.0.10 lacks two dplyr 1.1.0 idioms the package uses only to build its summary
# tables, so it was installed from a copy with this mechanical compatibility edit (computations
# untouched):
#   sed -i 's/dplyr::join_by(c("id", "group"))/c("id", "group")/; s/dplyr::join_by("id")/"id"/g' R/*.R
#   sed -i 's/dplyr::summarise(/summarise_by(/g' R/create_summary_table.R R/prep_data.R
#   plus, appended to R/package-utils.R, summarise_by(.data, ..., .by) = group_by(.by) then
#   summarise(..., .groups = "drop") (plain summarise when .by selects nothing).
# Run from the project root:  Rscript tests/reference/clinsig/clinicalsignificance_r.R
#
# Input: the package's own datasets as CSV in ../shared/peer-data/clinicalsignificance (never
# copied into this repository). Output: clinicalsignificance_r.csv, counts and summary numbers only
# (no patient rows), long format: case, group ("" = whole sample), quantity, value.
# tests/test_clinsig.py compares iop_outcomes against it; R is not needed to run the tests.

suppressPackageStartupMessages(library(clinicalsignificance))
peer <- file.path("..", "shared", "peer-data", "clinicalsignificance")
anti <- read.csv(file.path(peer, "antidepressants.csv"))
claus <- read.csv(file.path(peer, "claus_2020.csv"))
jac <- read.csv(file.path(peer, "jacobson_1989.csv"))

rows <- list()
add <- function(case, quantity, value, group = "") {
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, group = as.character(group), quantity = quantity,
    value = format(value, digits = 15), stringsAsFactors = FALSE
  )
}
add_counts <- function(case, tab) {
  g <- if ("group" %in% names(tab)) as.character(tab$group) else rep("", nrow(tab))
  for (i in seq_len(nrow(tab))) add(case, tolower(as.character(tab$category[i])), tab$n[i], g[i])
}
quiet <- function(expr) suppressMessages(suppressWarnings(expr))

# ---- distribution approach: HLL, NK, HA -------------------------------------------------------
dist <- function(case, data, id, time, outcome, pre, post, rel, better, method, rel_post = NULL,
                 group = NULL) {
  args <- list(data, substitute(id), substitute(time), substitute(outcome))
  res <- quiet(do.call(cs_distribution, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, reliability = rel, better_is = better, rci_method = method),
    if (!is.null(rel_post)) list(reliability_post = rel_post),
    if (!is.null(group)) list(group = as.name(group))
  )))
  add_counts(case, res$summary_table)
  if (is.null(group)) {
    add(case, "n_used", res$n_obs$n_used)
    add(case, "sum_rci", sum(res$rci_results$data$rci))
    add(case, "sum_abs_rci", sum(abs(res$rci_results$data$rci)))
    add(case, "critical_value", res$critical_value)
    if (!is.null(res$rci_results$r_dd)) add(case, "r_dd", res$rci_results$r_dd)
    if (!is.null(res$rci_results$se_measurement)) add(case, "se_measurement", res$rci_results$se_measurement)
    if (!is.null(res$rci_results$se_prediction)) add(case, "se_prediction", res$rci_results$se_prediction)
  }
}
for (m in c("HLL", "NK", "HA")) {
  dist(paste0("antidepressants_", tolower(m)), anti, "patient", "measurement", "mom_di",
       "Before", "After", 0.80, "lower", m)
  dist(paste0("claus_2020_bdi_", tolower(m)), claus, "id", "time", "bdi", 1, 4, 0.80, "lower", m)
  dist(paste0("jacobson_1989_das_", tolower(m)), jac, "subject", "time", "das", "pre", "post",
       0.93, "higher", m)
}
dist("antidepressants_nk_post85", anti, "patient", "measurement", "mom_di", "Before", "After",
     0.80, "lower", "NK", rel_post = 0.85)
dist("claus_2020_hamd_ha_by_treatment", claus, "id", "time", "hamd", 1, 4, 0.80, "lower", "HA",
     group = "treatment")
dist("claus_2020_hamd_hll_by_treatment", claus, "id", "time", "hamd", 1, 4, 0.80, "lower", "HLL",
     group = "treatment")

# ---- combined approach with an RCI method (recovered/improved/unchanged/deteriorated/harmed) ----
comb <- function(case, data, id, time, outcome, pre, post, rel, better, method, type = "a",
                 m_f = NULL, sd_f = NULL, rel_post = NULL, group = NULL) {
  res <- quiet(do.call(cs_combined, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, reliability = rel, better_is = better, rci_method = method,
         cutoff_type = type),
    if (!is.null(m_f)) list(m_functional = m_f, sd_functional = sd_f),
    if (!is.null(rel_post)) list(reliability_post = rel_post),
    if (!is.null(group)) list(group = as.name(group))
  )))
  add_counts(case, res$summary_table$individual_level_summary)
  add(case, "cutoff_value", res$cutoff_results$info$value)
  if (method == "HA") {
    gl <- res$summary_table$group_level_summary
    g <- if ("group" %in% names(gl)) as.character(gl$group) else rep("", nrow(gl))
    for (i in seq_len(nrow(gl))) {
      add(case, paste0("group_", tolower(gl$category[i])), gl$percent[i], g[i])
    }
    if (is.null(group)) {
      add(case, "sum_cs_indiv", sum(res$cutoff_results$data$cs_indiv))
      add(case, "reliability_post", res$cutoff_results$reliability_post)
    }
  }
}
comb("antidepressants_ha_combined_a", anti, "patient", "measurement", "mom_di", "Before",
     "After", 0.80, "lower", "HA", "a")
comb("claus_2020_bdi_ha_combined_a", claus, "id", "time", "bdi", 1, 4, 0.80, "lower", "HA", "a")
comb("claus_2020_bdi_ha_combined_c", claus, "id", "time", "bdi", 1, 4, 0.80, "lower", "HA", "c",
     m_f = 8, sd_f = 7)
comb("jacobson_1989_das_ha_combined_c", jac, "subject", "time", "das", "pre", "post", 0.93,
     "higher", "HA", "c", m_f = 114.8, sd_f = 17.8)
comb("claus_2020_hamd_ha_combined_c_by_treatment", claus, "id", "time", "hamd", 1, 4, 0.80,
     "lower", "HA", "c", m_f = 7, sd_f = 5, group = "treatment")
comb("claus_2020_bdi_hll_combined_a", claus, "id", "time", "bdi", 1, 4, 0.80, "lower", "HLL", "a")
# cs_combined does not default reliability_post for NK (cs_distribution does): pass it
comb("antidepressants_nk_combined_a", anti, "patient", "measurement", "mom_di", "Before",
     "After", 0.80, "lower", "NK", "a", rel_post = 0.80)

# ---- statistical approach ---------------------------------------------------------------------
stat <- function(case, data, id, time, outcome, pre, post, better, type = "a", m_f = NULL,
                 sd_f = NULL, method = "JT", rel = NULL, group = NULL) {
  res <- quiet(do.call(cs_statistical, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, better_is = better, cutoff_type = type, cutoff_method = method),
    if (!is.null(m_f)) list(m_functional = m_f, sd_functional = sd_f),
    if (!is.null(rel)) list(reliability = rel),
    if (!is.null(group)) list(group = as.name(group))
  )))
  add_counts(case, res$summary_table)
  add(case, "cutoff_value", res$cutoff_results$info$value)
}
stat("antidepressants_statistical_a", anti, "patient", "measurement", "mom_di", "Before", "After",
     "lower", "a")
stat("claus_2020_bdi_statistical_c", claus, "id", "time", "bdi", 1, 4, "lower", "c", 8, 7)
stat("claus_2020_bdi_statistical_b", claus, "id", "time", "bdi", 1, 4, "lower", "b", 8, 7)
stat("jacobson_1989_das_statistical_c", jac, "subject", "time", "das", "pre", "post", "higher",
     "c", 114.8, 17.8)
stat("claus_2020_hamd_statistical_c_by_treatment", claus, "id", "time", "hamd", 1, 4, "lower",
     "c", 7, 5, group = "treatment")
stat("claus_2020_bdi_statistical_ha_c", claus, "id", "time", "bdi", 1, 4, "lower", "c", 8, 7,
     method = "HA", rel = 0.80)

# ---- percentage-change approach ---------------------------------------------------------------
pct <- function(case, data, id, time, outcome, pre, post, better, imp, det = NULL, group = NULL) {
  res <- quiet(do.call(cs_percentage, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, better_is = better, pct_improvement = imp),
    if (!is.null(det)) list(pct_deterioration = det),
    if (!is.null(group)) list(group = as.name(group))
  )))
  add_counts(case, res$summary_table)
  if (is.null(group)) {
    add(case, "sum_pct_change", sum(res$pct_results$pct_change))
    add(case, "n_pre_zero", sum(res$datasets$data$pre == 0))
  }
}
pct("antidepressants_pct_50", anti, "patient", "measurement", "mom_di", "Before", "After",
    "lower", 0.5)
pct("antidepressants_pct_30_20", anti, "patient", "measurement", "mom_di", "Before", "After",
    "lower", 0.3, 0.2)
pct("claus_2020_hamd_pct_50", claus, "id", "time", "hamd", 1, 4, "lower", 0.5)
pct("claus_2020_hamd_pct_50_30", claus, "id", "time", "hamd", 1, 4, "lower", 0.5, 0.3)
pct("jacobson_1989_das_pct_20", jac, "subject", "time", "das", "pre", "post", "higher", 0.2)
pct("claus_2020_bdi_pct_40_by_treatment", claus, "id", "time", "bdi", 1, 4, "lower", 0.4,
    group = "treatment")

# ---- anchor-based approach, individuals -------------------------------------------------------
anc <- function(case, data, id, time, outcome, pre, post, better, mid, mid_det = NULL,
                group = NULL) {
  res <- quiet(do.call(cs_anchor, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, better_is = better, mid_improvement = mid),
    if (!is.null(mid_det)) list(mid_deterioration = mid_det),
    if (!is.null(group)) list(group = as.name(group))
  )))
  add_counts(case, res$summary_table)
}
anc("antidepressants_anchor_8", anti, "patient", "measurement", "mom_di", "Before", "After",
    "lower", 8)
anc("antidepressants_anchor_8_5", anti, "patient", "measurement", "mom_di", "Before", "After",
    "lower", 8, 5)
anc("claus_2020_bdi_anchor_7", claus, "id", "time", "bdi", 1, 4, "lower", 7)
anc("jacobson_1989_das_anchor_10", jac, "subject", "time", "das", "pre", "post", "higher", 10)
anc("claus_2020_bdi_anchor_7_by_treatment", claus, "id", "time", "bdi", 1, 4, "lower", 7,
    group = "treatment")

# ---- combined approach with an MID (anchor + cut-off a from the sample) ----------------------
combm <- function(case, data, id, time, outcome, pre, post, better, mid, type = "a", m_f = NULL,
                  sd_f = NULL) {
  res <- quiet(do.call(cs_combined, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, better_is = better, mid_improvement = mid, cutoff_type = type),
    if (!is.null(m_f)) list(m_functional = m_f, sd_functional = sd_f)
  )))
  add_counts(case, res$summary_table$individual_level_summary)
  add(case, "cutoff_value", res$cutoff_results$info$value)
}
combm("antidepressants_combined_mid8_a", anti, "patient", "measurement", "mom_di", "Before",
      "After", "lower", 8, "a")
combm("claus_2020_bdi_combined_mid7_c", claus, "id", "time", "bdi", 1, 4, "lower", 7, "c", 8, 7)
combm("jacobson_1989_das_combined_mid10_c", jac, "subject", "time", "das", "pre", "post",
      "higher", 10, "c", 114.8, 17.8)

# ---- anchor-based approach, groups (frequentist t intervals) ---------------------------------
grp_within <- function(case, data, id, time, outcome, pre, post, better, mid, group = NULL,
                       ci = 0.95) {
  res <- quiet(do.call(cs_anchor, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         pre = pre, post = post, better_is = better, mid_improvement = mid, target = "group",
         bayesian = FALSE, ci_level = ci),
    if (!is.null(group)) list(group = as.name(group))
  )))
  r <- res$anchor_results
  g <- if ("group" %in% names(r)) as.character(r$group) else rep("", nrow(r))
  for (i in seq_len(nrow(r))) {
    add(case, "difference", r$difference[i], g[i])
    add(case, "lower", r$lower[i], g[i])
    add(case, "upper", r$upper[i], g[i])
    add(case, "n", r$n[i], g[i])
    add(case, paste0("category: ", r$category[i]), 1, g[i])
  }
}
grp_within("antidepressants_group_within_mid8", anti, "patient", "measurement", "mom_di",
           "Before", "After", "lower", 8)
grp_within("antidepressants_group_within_mid8_by_condition", anti, "patient", "measurement",
           "mom_di", "Before", "After", "lower", 8, group = "condition")
grp_within("claus_2020_bdi_group_within_mid7_by_treatment", claus, "id", "time", "bdi", 1, 4,
           "lower", 7, group = "treatment")
grp_within("claus_2020_bdi_group_within_mid2_by_treatment_90", claus, "id", "time", "bdi", 1, 4,
           "lower", 2, group = "treatment", ci = 0.90)
grp_within("jacobson_1989_das_group_within_mid10", jac, "subject", "time", "das", "pre", "post",
           "higher", 10)

grp_between <- function(case, data, id, time, outcome, post, better, mid, group, ref = NULL) {
  res <- quiet(do.call(cs_anchor, c(
    list(data = data, id = as.name(id), time = as.name(time), outcome = as.name(outcome),
         post = post, better_is = better, mid_improvement = mid, target = "group",
         effect = "between", bayesian = FALSE, group = as.name(group)),
    if (!is.null(ref)) list(reference_group = ref)
  )))
  r <- res$anchor_results
  for (i in seq_len(nrow(r))) {
    g <- paste0(r$reference[i], " vs ", r$comparison[i])
    add(case, "difference", r$difference[i], g)
    add(case, "lower", r$lower[i], g)
    add(case, "upper", r$upper[i], g)
    add(case, "n_reference", r$n_reference[i], g)
    add(case, "n_comparison", r$n_comparison[i], g)
    add(case, paste0("category: ", r$category[i]), 1, g)
  }
}
grp_between("antidepressants_group_between_mid8", anti, "patient", "measurement", "mom_di",
            "After", "lower", 8, "condition")
grp_between("claus_2020_bdi_group_between_mid3", claus, "id", "time", "bdi", 4, "lower", 3,
            "treatment")
grp_between("claus_2020_bdi_group_between_mid3_ref_pa", claus, "id", "time", "bdi", 4, "lower", 3,
            "treatment", ref = "PA")

out <- do.call(rbind, rows)
write.csv(out, file.path("tests", "reference", "clinsig", "clinicalsignificance_r.csv"),
          row.names = FALSE)
cat("wrote", nrow(out), "rows\n")
