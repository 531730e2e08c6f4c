# Reference values for iop_outcomes.monitor.quantreg / recovery_curves (tests/test_monitor.py).
# Produced with: R 4.2.2 Patched (2022-11-10 r83330), quantreg 5.94 (Debian r-cran-quantreg).
# Run from the repository root:  Rscript tests/reference/monitor/fit_reference.R
# The data are simulated here (base R, seeded): 150 episodes, baseline PHQ-9-like scores,
# weekly scores at weeks 1..8 falling on a log(1 + week) course whose slope depends on the
# baseline, with skewed (gamma) noise; `score` is continuous (the rq optimum is then unique),
# `score_int` is rounded and clipped to 0..27 like real totals (the optimum may be a set of
# coefficient vectors with one loss: compare the check loss).
# Output in the same folder:
#   curves_data.csv  episode, baseline, week, score, score_int
#   rq_coef.csv      response, tau, term, estimate, loss   (rq(method = "br"), loss = sum rho_tau)
suppressMessages(library(quantreg))
here <- "tests/reference/monitor"
set.seed(20261203)
n_ep <- 150
b <- pmin(27, pmax(5, round(rnorm(n_ep, 16, 5))))
d <- expand.grid(week = 1:8, episode = seq_len(n_ep))
d$baseline <- b[d$episode]
slope <- -0.35 * d$baseline + rnorm(n_ep, 0, 1.2)[d$episode]
d$score <- d$baseline + slope * log1p(d$week) + (rgamma(nrow(d), 2, 0.7) - 2 / 0.7)
d$score_int <- pmin(27, pmax(0, round(d$score)))
d <- d[, c("episode", "baseline", "week", "score", "score_int")]
write.csv(d, file.path(here, "curves_data.csv"), row.names = FALSE)

rho <- function(u, tau) sum(u * (tau - (u < 0)))
terms <- c("intercept", "baseline", "log1p_week", "baseline:log1p_week")
out <- NULL
for (resp in c("score", "score_int")) {
  for (tau in c(0.5, 0.75, 0.9)) {
    f <- as.formula(paste(resp, "~ baseline * log1p(week)"))
    m <- rq(f, tau = tau, data = d, method = "br")
    out <- rbind(out, data.frame(response = resp, tau = tau, term = terms,
                                 estimate = unname(coef(m)), loss = rho(resid(m), tau)))
  }
}
write.csv(out, file.path(here, "rq_coef.csv"), row.names = FALSE)
