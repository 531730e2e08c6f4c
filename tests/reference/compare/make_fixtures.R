# Reference values for tests/test_compare.py, computed independently in R.
# R 4.2.2; emmeans 1.8.4-1; metafor 3.8-1; sandwich 3.0-2; jsonlite 1.8.4 (Debian r-cran-*).
# Run from the repository root:  Rscript tests/reference/compare/make_fixtures.R
# Input: tests/reference/compare/episodes.csv (made by make_episodes.py).
# Output: tests/reference/compare/fixtures.json (full precision).
suppressPackageStartupMessages({library(emmeans); library(metafor); library(jsonlite)})
here <- "tests/reference/compare"
ep <- read.csv(file.path(here, "episodes.csv"), stringsAsFactors = FALSE)
ep$change <- ep$endpoint - ep$baseline
ep$format <- factor(ep$format, levels = c("in_person", "hybrid", "virtual"))
ep$gender_identity <- factor(ep$gender_identity)
out <- list(versions = list(R = R.version.string,
                            emmeans = as.character(packageVersion("emmeans")),
                            metafor = as.character(packageVersion("metafor"))))
groups <- c("hybrid", "virtual")
ref <- "in_person"

## 1. Welch t.test on change, Hedges g (escalc SMD), Morris d_ppc2 by hand --------------
welch <- list()
for (g in groups) {
  x <- ep[ep$format == g, ]; y <- ep[ep$format == ref, ]
  tt <- t.test(x$change, y$change, var.equal = FALSE)
  es <- escalc("SMD", m1i = mean(x$change), sd1i = sd(x$change), n1i = nrow(x),
               m2i = mean(y$change), sd2i = sd(y$change), n2i = nrow(y))
  n1 <- nrow(x); n2 <- nrow(y); N <- n1 + n2
  J <- exp(lgamma((N - 2) / 2) - 0.5 * log((N - 2) / 2) - lgamma((N - 3) / 2))
  sp_pre <- sqrt(((n1 - 1) * var(x$baseline) + (n2 - 1) * var(y$baseline)) / (N - 2))
  sp_post <- sqrt(((n1 - 1) * var(x$endpoint) + (n2 - 1) * var(y$endpoint)) / (N - 2))
  rho <- ((n1 - 1) * cov(x$baseline, x$endpoint) + (n2 - 1) * cov(y$baseline, y$endpoint)) /
    (N - 2) / (sp_pre * sp_post)
  d <- J * (mean(x$change) - mean(y$change)) / sp_pre
  a <- (N / (n1 * n2)) * (1 - rho)
  v <- 2 * J^2 * a * ((N - 2) / (N - 4)) * (1 + d^2 / (2 * a)) - d^2   # Morris 2008 eq. 25
  welch[[g]] <- list(estimate = unname(tt$estimate[1] - tt$estimate[2]), se = tt$stderr,
                     df = unname(tt$parameter), statistic = unname(tt$statistic),
                     pvalue = tt$p.value, ci_low = tt$conf.int[1], ci_high = tt$conf.int[2],
                     g = es$yi[1], g_vi = es$vi[1], d_ppc2 = d, d_ppc2_var = v, rho = rho)
}
out$welch <- welch

## 2. ANCOVA with emmeans ---------------------------------------------------------------
anc <- function(fit) {
  emm <- emmeans(fit, "format")
  s <- as.data.frame(summary(emm))
  ct <- as.data.frame(summary(contrast(emm, "trt.vs.ctrl", ref = 1, adjust = "none"),
                              infer = c(TRUE, TRUE)))
  list(means = list(group = as.character(s$format), emmean = s$emmean, se = s$SE,
                    df = s$df, lower = s$lower.CL, upper = s$upper.CL),
       contrasts = list(contrast = as.character(ct$contrast), estimate = ct$estimate,
                        se = ct$SE, df = ct$df, lower = ct$lower.CL, upper = ct$upper.CL,
                        t = ct$t.ratio, p = ct$p.value))
}
out$ancova_plain <- anc(lm(endpoint ~ baseline + format, data = ep))
out$ancova_cov <- anc(lm(endpoint ~ baseline + format + age + gender_identity, data = ep))
# HC3 sandwich covariance (sandwich 3.0-2) passed to emmeans
anc_hc3 <- function(fit) {
  emm <- emmeans(fit, "format", vcov. = sandwich::vcovHC(fit, type = "HC3"))
  s <- as.data.frame(summary(emm))
  ct <- as.data.frame(summary(contrast(emm, "trt.vs.ctrl", ref = 1, adjust = "none"),
                              infer = c(TRUE, TRUE)))
  list(means = list(group = as.character(s$format), emmean = s$emmean, se = s$SE,
                    df = s$df, lower = s$lower.CL, upper = s$upper.CL),
       contrasts = list(contrast = as.character(ct$contrast), estimate = ct$estimate,
                        se = ct$SE, df = ct$df, lower = ct$lower.CL, upper = ct$upper.CL,
                        t = ct$t.ratio, p = ct$p.value))
}
out$ancova_cov_hc3 <- anc_hc3(lm(endpoint ~ baseline + format + age + gender_identity, data = ep))

## 3. Propensity scores (glm), weights, balance, M-estimation sandwich, AIPW by hand ------
ps_out <- list()
for (g in groups) {
  s <- ep[ep$format %in% c(g, ref), ]
  s$T <- as.numeric(s$format == g)
  fit <- glm(T ~ baseline + age + gender_identity, family = binomial, data = s,
             control = glm.control(epsilon = 1e-14, maxit = 100))
  e <- fitted(fit)
  Z <- model.matrix(fit)
  Tt <- s$T; Y <- s$change; n <- nrow(s); k <- ncol(Z)
  res <- list(coef = unname(coef(fit)), coef_names = names(coef(fit)))
  X <- Z[, -1, drop = FALSE]
  for (kind in c("iptw", "overlap")) {
    w <- if (kind == "iptw") ifelse(Tt == 1, 1 / e, 1 / (1 - e)) else ifelse(Tt == 1, 1 - e, e)
    mu1 <- sum(w * Tt * Y) / sum(w * Tt); mu0 <- sum(w * (1 - Tt) * Y) / sum(w * (1 - Tt))
    r1 <- Tt * (Y - mu1); r0 <- (1 - Tt) * (Y - mu0)
    psi <- cbind(Z * (Tt - e), w * r1, w * r0)
    B <- crossprod(psi) / n
    A <- matrix(0, k + 2, k + 2)
    A[1:k, 1:k] <- -crossprod(Z * (e * (1 - e)), Z) / n
    dw1 <- if (kind == "iptw") -(1 - e) / e else -e * (1 - e)
    dw0 <- if (kind == "iptw") e / (1 - e) else e * (1 - e)
    A[k + 1, 1:k] <- colSums(Z * (r1 * dw1)) / n
    A[k + 2, 1:k] <- colSums(Z * (r0 * dw0)) / n
    A[k + 1, k + 1] <- -sum(w * Tt) / n
    A[k + 2, k + 2] <- -sum(w * (1 - Tt)) / n
    V <- solve(A) %*% B %*% t(solve(A)) / n
    cc <- c(rep(0, k), 1, -1)
    sd_pool <- sqrt((apply(X[Tt == 1, , drop = FALSE], 2, var) +
                     apply(X[Tt == 0, , drop = FALSE], 2, var)) / 2)
    wm <- function(a) colSums(X[a, , drop = FALSE] * w[a]) / sum(w[a])
    res[[kind]] <- list(
      estimate = mu1 - mu0, se = sqrt(drop(t(cc) %*% V %*% cc)),
      smd_before = unname((colMeans(X[Tt == 1, , drop = FALSE]) -
                           colMeans(X[Tt == 0, , drop = FALSE])) / sd_pool),
      smd_after = unname((wm(Tt == 1) - wm(Tt == 0)) / sd_pool),
      ess_group = sum(w[Tt == 1])^2 / sum(w[Tt == 1]^2),
      ess_reference = sum(w[Tt == 0])^2 / sum(w[Tt == 0]^2))
  }
  # AIPW with per-arm OLS outcome models on the same covariates
  d1 <- s[Tt == 1, ]; d0 <- s[Tt == 0, ]
  m1 <- predict(lm(change ~ baseline + age + gender_identity, data = d1), newdata = s)
  m0 <- predict(lm(change ~ baseline + age + gender_identity, data = d0), newdata = s)
  phi1 <- m1 + Tt * (Y - m1) / e; phi0 <- m0 + (1 - Tt) * (Y - m0) / (1 - e)
  IF <- (phi1 - mean(phi1)) - (phi0 - mean(phi0))
  res$aipw <- list(estimate = mean(phi1) - mean(phi0), se = sqrt(sum(IF^2)) / n)
  ps_out[[g]] <- res
}
out$ps <- ps_out

## 4. Interaction tests (nested-model F, anova) ---------------------------------------
a1 <- anova(lm(change ~ format + age_band, data = ep), lm(change ~ format * age_band, data = ep))
a2 <- anova(lm(endpoint ~ baseline + format + age_band + age + gender_identity, data = ep),
            lm(endpoint ~ baseline + format * age_band + age + gender_identity, data = ep))
out$interaction <- list(welch = list(F = a1$F[2], df1 = a1$Df[2], df2 = a1$Res.Df[2], p = a1$`Pr(>F)`[2]),
                        ancova = list(F = a2$F[2], df1 = a2$Df[2], df2 = a2$Res.Df[2], p = a2$`Pr(>F)`[2]))
# per-subgroup Welch (virtual vs in_person) for Cochran's Q by hand
sg <- sapply(sort(unique(ep$age_band)), function(b) {
  x <- ep$change[ep$age_band == b & ep$format == "virtual"]
  y <- ep$change[ep$age_band == b & ep$format == ref]
  tt <- t.test(x, y); c(unname(tt$estimate[1] - tt$estimate[2]), tt$stderr)
})
w <- 1 / sg[2, ]^2; est <- sg[1, ]
out$subgroup_welch_virtual <- list(estimate = unname(est), se = unname(sg[2, ]),
  Q = sum(w * (est - sum(w * est) / sum(w))^2))

## 5. Random-effects pooling over sites (metafor rma) ----------------------------------
meta <- function(yi, vi) {
  r <- list()
  for (m in c("DL", "REML", "DL_knha", "REML_knha")) {
    tm <- sub("_knha", "", m)
    fit <- rma(yi, vi, method = tm, test = if (grepl("knha", m)) "knha" else "z",
               control = list(threshold = 1e-12, maxiter = 10000))
    pr <- predict(fit)
    k <- fit$k
    r[[m]] <- list(estimate = fit$b[1], se = fit$se, ci_low = fit$ci.lb, ci_high = fit$ci.ub,
                   pvalue = fit$pval, tau2 = fit$tau2, I2 = fit$I2, H2 = fit$H2, Q = fit$QE,
                   Q_pvalue = fit$QEp, pi_low_z = pr$pi.lb, pi_high_z = pr$pi.ub,
                   pi_low_t = fit$b[1] - qt(0.975, k - 2) * sqrt(fit$tau2 + fit$se^2),
                   pi_high_t = fit$b[1] + qt(0.975, k - 2) * sqrt(fit$tau2 + fit$se^2))
  }
  r$yi <- yi; r$vi <- vi
  r
}
sites <- sort(unique(ep$site))
mc <- sapply(sites, function(s) { x <- ep$change[ep$site == s]; c(mean(x), var(x) / length(x)) })
out$pool_mean_change <- meta(unname(mc[1, ]), unname(mc[2, ]))
md <- sapply(sites, function(s) {
  x <- ep$change[ep$site == s & ep$format == "virtual"]; y <- ep$change[ep$site == s & ep$format == ref]
  c(mean(x) - mean(y), var(x) / length(x) + var(y) / length(y))
})
out$pool_virtual <- meta(unname(md[1, ]), unname(md[2, ]))
# escalc check of the mean-change effect for site S1 (measure "MC")
x <- ep[ep$site == "S1", ]
mcS1 <- escalc("MC", m1i = mean(x$endpoint), m2i = mean(x$baseline), sd1i = sd(x$endpoint),
               sd2i = sd(x$baseline), ri = cor(x$endpoint, x$baseline), ni = nrow(x))
out$escalc_mc_S1 <- list(yi = mcS1$yi[1], vi = mcS1$vi[1])
# a heterogeneous toy set (tau2 > 0) for the pooling engine
toy_y <- c(-6.1, -4.2, -8.0, -5.5, -7.3, -3.9, -6.6)
toy_v <- c(0.40, 0.55, 0.30, 0.80, 0.35, 0.60, 0.25)
out$pool_toy <- meta(toy_y, toy_v)

## 6. Dose-response --------------------------------------------------------------------
fit <- lm(change ~ attendance_hours + baseline, data = ep)
cf <- summary(fit)$coefficients; ci <- confint(fit)
out$dose <- list(estimate = cf["attendance_hours", 1], se = cf["attendance_hours", 2],
                 t = cf["attendance_hours", 3], p = cf["attendance_hours", 4],
                 ci_low = ci["attendance_hours", 1], ci_high = ci["attendance_hours", 2],
                 df = fit$df.residual)
fit2 <- lm(change ~ attendance_hours + baseline + age + gender_identity, data = ep)
cf2 <- summary(fit2)$coefficients
out$dose_cov <- list(estimate = cf2["attendance_hours", 1], se = cf2["attendance_hours", 2])

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "fixtures.json"))
cat("wrote fixtures.json\n")
