# Kaplan-Meier / log-rank / Aalen-Johansen reference values for tests/test_retention.py
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), survival 3.5.3
# Run: cd tests/reference/retention && Rscript km_fixtures.R
# Writes: km_data.csv (input), km_curve.csv, km_median.csv, km_logrank.csv, km_atrisk.csv,
#         los_curve.csv, los_median.csv, aj_curve.csv, km_tie.csv, km_curve90.csv
suppressPackageStartupMessages(library(survival))
set.seed(20261123)
mk <- function(n, fmt, p) {
  data.frame(
    format = fmt,
    los_days = sample(1:40, n, replace = TRUE),  # integers -> many tied times
    discharge_status = sample(c("completed", "dropped_out", "transferred", "administrative", "ongoing"),
                              n, replace = TRUE, prob = p)
  )
}
d <- rbind(mk(60, "in_person", c(.55, .25, .08, .05, .07)),
           mk(50, "virtual",   c(.45, .35, .08, .05, .07)),
           mk(12, "hybrid",    c(.20, .60, .10, .05, .05)))
# make the hybrid curve reach 0: its longest stay is a dropout
d$los_days[d$format == "hybrid"][1] <- 45
d$discharge_status[d$format == "hybrid"][1] <- "dropped_out"
d$episode_id <- sprintf("e%03d", seq_len(nrow(d)))
write.csv(d[, c("episode_id", "format", "los_days", "discharge_status")], "km_data.csv", row.names = FALSE)

d$drop <- as.integer(d$discharge_status == "dropped_out")
d$disc <- as.integer(d$discharge_status != "ongoing")
d$format <- factor(d$format, levels = c("hybrid", "in_person", "virtual"))

curve <- function(fit) {
  s <- summary(fit, censored = TRUE)
  data.frame(group = sub("format=", "", as.character(s$strata)), time = s$time,
             n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
             estimate = s$surv, se = s$std.err, se_log = fit$std.err,
             ci_low = s$lower, ci_high = s$upper)
}
med <- function(fit) {
  tb <- summary(fit)$table
  data.frame(group = sub("format=", "", rownames(tb)), n = tb[, "records"], events = tb[, "events"],
             median = tb[, "median"], ci_low = tb[, "0.95LCL"], ci_high = tb[, "0.95UCL"])
}

# 1. time to dropout, transfers (and everything else) censored; log-log CI
fit <- survfit(Surv(los_days, drop) ~ format, data = d, conf.type = "log-log")
write.csv(curve(fit), "km_curve.csv", row.names = FALSE)
write.csv(med(fit), "km_median.csv", row.names = FALSE)
sd <- survdiff(Surv(los_days, drop) ~ format, data = d)
df <- sum(sd$exp > 0) - 1
write.csv(data.frame(statistic = sd$chisq, df = df, pvalue = pchisq(sd$chisq, df, lower.tail = FALSE),
                     group = c("hybrid", "in_person", "virtual"), observed = sd$obs, expected = sd$exp),
          "km_logrank.csv", row.names = FALSE)
s <- summary(fit, times = c(0, 7, 14, 21, 28, 35), extend = TRUE)
write.csv(data.frame(group = sub("format=", "", as.character(s$strata)), time = s$time,
                     n_risk = s$n.risk, estimate = s$surv), "km_atrisk.csv", row.names = FALSE)

# 2. length of stay: event = discharged for any reason, ongoing censored
fit2 <- survfit(Surv(los_days, disc) ~ format, data = d, conf.type = "log-log")
write.csv(curve(fit2), "los_curve.csv", row.names = FALSE)
write.csv(med(fit2), "los_median.csv", row.names = FALSE)

# 3. competing risks: transfers compete with dropout; Aalen-Johansen cumulative incidence
st <- ifelse(d$discharge_status == "dropped_out", "dropout",
             ifelse(d$discharge_status == "transferred", "transfer", "censor"))
d$state <- factor(st, levels = c("censor", "dropout", "transfer"))
fit3 <- survfit(Surv(los_days, state) ~ format, data = d)
s3 <- summary(fit3, censored = TRUE)
j <- which(s3$states == "dropout")
write.csv(data.frame(group = sub("format=", "", as.character(s3$strata)), time = s3$time,
                     n_risk = s3$n.risk[, 1], estimate = s3$pstate[, j], se = s3$std.err[, j],
                     ci_low = s3$lower[, j], ci_high = s3$upper[, j]),
          "aj_curve.csv", row.names = FALSE)

# 4. exact 0.5 plateau: median is the midpoint rule of quantile.survfit
t4 <- data.frame(time = c(1, 2, 3, 4, 5, 6), status = c(1, 1, 1, 0, 0, 0))
f4 <- survfit(Surv(time, status) ~ 1, data = t4, conf.type = "log-log")
q <- quantile(f4, 0.5)
write.csv(data.frame(median = q$quantile, ci_low = q$lower, ci_high = q$upper), "km_tie.csv",
          row.names = FALSE)

# 5. another confidence level: 90 % log-log band and median limits
f5 <- survfit(Surv(los_days, drop) ~ format, data = d, conf.type = "log-log", conf.int = 0.90)
c5 <- curve(f5)
q5 <- quantile(f5, 0.5)
c5$median_low <- q5$lower[match(paste0("format=", c5$group), rownames(q5$lower))]
c5$median_high <- q5$upper[match(paste0("format=", c5$group), rownames(q5$upper))]
write.csv(c5, "km_curve90.csv", row.names = FALSE)
