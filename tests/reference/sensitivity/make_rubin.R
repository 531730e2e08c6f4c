# Reference values for Rubin's rules (iop_outcomes.sensitivity.rubin_pool).
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), mice 3.15.0
# Run: cd tests/reference/sensitivity && Rscript make_rubin.R
# Writes:
#   rubin_scalar.csv  - fixed completed-data estimates Q (m rows) and variances U per case,
#                       pooled by mice::pool.scalar (Rubin 1987; Barnard & Rubin 1999 df)
#   rubin_lm_fits.csv - per-imputation lm() coefficients and squared SEs from mice on nhanes
#   rubin_lm_pool.csv - mice::pool() of those fits (Barnard-Rubin df with dfcom = n - p)
suppressPackageStartupMessages(library(mice))
cases <- list(
  list(case = "A", Q = c(-5.10, -4.85, -5.32, -4.97, -5.21), U = c(0.090, 0.084, 0.095, 0.088, 0.091), n = 200, k = 1),
  list(case = "B", Q = c(0.42, 0.95, 0.13, 0.71, 0.55, 0.31, 0.80, 0.26, 0.66, 0.49),
       U = c(0.30, 0.28, 0.33, 0.29, 0.31, 0.30, 0.32, 0.27, 0.30, 0.29), n = 60, k = 2),
  list(case = "C", Q = c(1.2, 1.6, 0.9), U = c(0.5, 0.6, 0.55), n = Inf, k = 1)
)
rows <- list(); est <- list()
for (cs in cases) {
  p <- pool.scalar(cs$Q, cs$U, n = cs$n, k = cs$k, rule = "rubin1987")
  # fmi as reported by mice::pool() (mice >= 3.13): (riv + 2/(df + 3)) / (riv + 1)
  fmi <- (p$r + 2 / (p$df + 3)) / (p$r + 1)
  rows[[cs$case]] <- data.frame(case = cs$case, m = p$m, dfcom = cs$n - cs$k, qbar = p$qbar,
                                ubar = p$ubar, b = p$b, t = p$t, df = p$df, riv = p$r,
                                lambda = (1 + 1 / p$m) * p$b / p$t, fmi = fmi)
  est[[cs$case]] <- data.frame(case = cs$case, imputation = seq_along(cs$Q), Q = cs$Q, U = cs$U)
}
write.csv(do.call(rbind, rows), "rubin_scalar.csv", row.names = FALSE)
write.csv(do.call(rbind, est), "rubin_scalar_inputs.csv", row.names = FALSE)

imp <- mice(nhanes, m = 7, method = "norm", seed = 20261123, printFlag = FALSE)
fit <- with(imp, lm(chl ~ age + bmi))
fits <- do.call(rbind, lapply(seq_along(fit$analyses), function(i) {
  s <- summary(fit$analyses[[i]])$coefficients
  data.frame(imputation = i, term = rownames(s), estimate = s[, 1], variance = s[, 2]^2)
}))
write.csv(fits, "rubin_lm_fits.csv", row.names = FALSE)
pl <- pool(fit)$pooled
sm <- summary(pool(fit), conf.int = TRUE)
out <- data.frame(term = as.character(pl$term), m = pl$m, estimate = pl$estimate, ubar = pl$ubar,
                  b = pl$b, t = pl$t, dfcom = pl$dfcom, df = pl$df, riv = pl$riv,
                  lambda = pl$lambda, fmi = pl$fmi, se = sm$std.error,
                  ci_low = sm[["2.5 %"]], ci_high = sm[["97.5 %"]], pvalue = sm$p.value)
write.csv(out, "rubin_lm_pool.csv", row.names = FALSE)
