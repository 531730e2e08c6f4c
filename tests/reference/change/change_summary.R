# Reference values for iop_outcomes.change_summary (tests/test_change.py).
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), base R only (stats).
# Run from this directory:  Rscript change_summary.R
# Writes change_input.csv (the episodes) and change_summary_expected.csv.
# Definitions (PHQ-9): change = endpoint - baseline; response = (b - e)/b >= 0.5;
# remission = endpoint < 5; MCID improvement = b - e >= 5 (Lowe et al. 2004).
# Intervals: t.test(endpoint, baseline, paired = TRUE)$conf.int (mean change),
# prop.test(k, n, correct = FALSE)$conf.int (Wilson score interval), cor() (Pearson).

ep <- data.frame(
  episode_id = sprintf("E%02d", 1:20),
  instrument = "PHQ-9",
  format = rep(c("virtual", "in_person"), each = 10),
  baseline = c(18, 15, 20, 16, 12, 22, 10, 14, 19, 25,
               17, 13, 21, 11, 16, 24, 15, 12, 20, 18),
  endpoint = c(8, 9, 4, 12, 10, 11, NA, 9, 13, 6,
               12, 5, 15, 11, 4, 20, 10, 7, 9, NA)
)
write.csv(ep, "change_input.csv", row.names = FALSE, na = "")

summarise <- function(d, label) {
  p <- d[!is.na(d$baseline) & !is.na(d$endpoint), ]
  tt <- t.test(p$endpoint, p$baseline, paired = TRUE)
  resp <- (p$baseline - p$endpoint) / p$baseline >= 0.5
  rem <- p$endpoint < 5
  mcid <- (p$baseline - p$endpoint) >= 5
  w <- function(x) prop.test(sum(x), length(x), correct = FALSE)$conf.int
  data.frame(
    format = label, n_episodes = nrow(d), n_paired = nrow(p),
    baseline_mean = mean(p$baseline), baseline_sd = sd(p$baseline),
    endpoint_mean = mean(p$endpoint), endpoint_sd = sd(p$endpoint),
    mean_change = unname(tt$estimate), sd_change = sd(p$endpoint - p$baseline),
    change_ci_low = tt$conf.int[1], change_ci_high = tt$conf.int[2],
    statistic = unname(tt$statistic), df = unname(tt$parameter), pvalue = tt$p.value,
    r_pre_post = cor(p$baseline, p$endpoint),
    response_k = sum(resp), response_ci_low = w(resp)[1], response_ci_high = w(resp)[2],
    remission_k = sum(rem), remission_ci_low = w(rem)[1], remission_ci_high = w(rem)[2],
    mcid_k = sum(mcid), mcid_ci_low = w(mcid)[1], mcid_ci_high = w(mcid)[2]
  )
}
out <- rbind(summarise(ep, "Overall"),
             summarise(ep[ep$format == "in_person", ], "in_person"),
             summarise(ep[ep$format == "virtual", ], "virtual"))
write.csv(out, "change_summary_expected.csv", row.names = FALSE)
print(out)
