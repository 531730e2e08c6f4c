# Reference values for iop_outcomes.effectsize (tests/test_effectsize.py).
# Produced by: Rscript tests/reference/effectsize/make_fixtures.R  (run from the repo root)
# R 4.2.2 (Debian bookworm), metafor 3.8-1, effectsize 0.8.3 (Debian r-cran-* packages).
#
# effectsize 0.8.3 predates repeated_measures_d()/rm_d() (added in 0.8.4), so:
#   * d_z / g_z come from effectsize::cohens_d / hedges_g(paired = TRUE) (estimate and its
#     noncentral-t CI, = rm_d(method="z", ci_method="ncp"); the default analytic CI is normal);
#   * g_z and g_b with their sampling variances come from metafor::escalc("SMCC"/"SMCR");
#   * d_rm and d_av (and their variances) are written out below in base R from the published
#     formulas (Borenstein et al. 2009 eq. 4.28; Bonett 2008), independently of the Python code.
# Orientation: pre - post (improvement positive for lower-is-better scales).
suppressPackageStartupMessages({
  library(metafor)
  library(effectsize)
})
out_dir <- "tests/reference/effectsize"

datasets <- list()
datasets$metafor_example <- data.frame(
  pre  = c(20, 18, 15, 22, 17, 19, 14, 21, 16, 23),
  post = c(12, 10, 11, 15, 9, 14, 10, 13, 12, 20)
)
set.seed(20261123)
n <- 200
pre <- pmin(pmax(round(rnorm(n, 16, 5)), 0), 27)
post <- pmin(pmax(round(0.45 * pre + rnorm(n, 2, 4.5)), 0), 27)
datasets$phq_like_n200 <- data.frame(pre = pre, post = post)
n <- 37
pre <- round(rnorm(n, 20, 3), 3)
post <- round(0.2 * pre + rnorm(n, 5, 7), 3)
datasets$unequal_sd_n37 <- data.frame(pre = pre, post = post)
n <- 5000
pre <- round(rnorm(n, 15, 5), 4)
post <- round(0.6 * pre + rnorm(n, 1, 5), 4)
datasets$continuous_n5000 <- data.frame(pre = pre, post = post)

J <- function(df) exp(lgamma(df / 2) - log(sqrt(df / 2)) - lgamma((df - 1) / 2))

rows <- list()
add <- function(ds, q, v, src) {
  rows[[length(rows) + 1]] <<- data.frame(dataset = ds, quantity = q, value = v, source = src)
}
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  write.csv(d, file.path(out_dir, paste0("data_", nm, ".csv")), row.names = FALSE)
  x <- d$pre; y <- d$post
  n <- length(x); m1 <- mean(x); m2 <- mean(y); s1 <- sd(x); s2 <- sd(y)
  r <- cor(x, y); sdd <- sd(x - y); md <- mean(x - y); j <- J(n - 1)
  add(nm, "n", n, "base R"); add(nm, "mean_pre", m1, "base R"); add(nm, "mean_post", m2, "base R")
  add(nm, "sd_pre", s1, "base R"); add(nm, "sd_post", s2, "base R"); add(nm, "r", r, "base R")
  add(nm, "sd_change", sdd, "base R"); add(nm, "J", j, "base R")

  # d_z, g_z: effectsize (estimate + noncentral-t CI)
  ez <- cohens_d(x, y, paired = TRUE, ci = 0.95)
  add(nm, "d_z", ez$Cohens_d, "effectsize::cohens_d(paired=TRUE)")
  add(nm, "d_z_ncp_ci_low", ez$CI_low, "effectsize::cohens_d(paired=TRUE)")
  add(nm, "d_z_ncp_ci_high", ez$CI_high, "effectsize::cohens_d(paired=TRUE)")
  eg <- hedges_g(x, y, paired = TRUE, ci = 0.95)
  add(nm, "g_z", eg$Hedges_g, "effectsize::hedges_g(paired=TRUE)")
  add(nm, "g_z_ncp_ci_low", eg$CI_low, "effectsize::hedges_g(paired=TRUE)")
  add(nm, "g_z_ncp_ci_high", eg$CI_high, "effectsize::hedges_g(paired=TRUE)")
  # the same noncentral-t limits by root finding on pt() (effectsize 0.8.3 uses optim(), which
  # does not converge for large t: see README.md)
  tobs <- mean(x - y) / sd(x - y) * sqrt(n)
  root <- function(p) uniroot(function(ncp) pt(tobs, n - 1, ncp) - p,
                              c(tobs - 10 - 2 * abs(tobs), tobs + 10 + 2 * abs(tobs)),
                              tol = 1e-12)$root
  add(nm, "d_z_ncp_ci_low_uniroot", root(0.975) / sqrt(n), "stats::pt + uniroot")
  add(nm, "d_z_ncp_ci_high_uniroot", root(0.025) / sqrt(n), "stats::pt + uniroot")

  # metafor: SMCC (g_z) and SMCR (g_b), vtype = "LS"
  cc <- escalc(measure = "SMCC", m1i = m1, m2i = m2, sd1i = s1, sd2i = s2, ni = n, ri = r)
  add(nm, "g_z_metafor", cc$yi, "metafor::escalc(SMCC)")
  add(nm, "vi_g_z", cc$vi, "metafor::escalc(SMCC)")
  cr <- escalc(measure = "SMCR", m1i = m1, m2i = m2, sd1i = s1, ni = n, ri = r)
  add(nm, "g_b", cr$yi, "metafor::escalc(SMCR)")
  add(nm, "vi_g_b", cr$vi, "metafor::escalc(SMCR)")

  # metafor 3.8-1 SMCRH (Bonett 2008 eq. 13, unequal SDs): vi = J^2 * (S_d^2/(S_1^2 (n-1)) +
  # g^2/(2(n-1))). Later metafor versions dropped the J^2 factor (plug-in g only), which is
  # what iop_outcomes reports, so the test compares with vi / J^2.
  ch <- escalc(measure = "SMCRH", m1i = m1, m2i = m2, sd1i = s1, sd2i = s2, ni = n, ri = r)
  add(nm, "g_b_smcrh", ch$yi, "metafor::escalc(SMCRH)")
  add(nm, "vi_g_b_smcrh", ch$vi, "metafor::escalc(SMCRH)")

  # hand formulas (base R)
  dz <- md / sdd
  add(nm, "vi_d_z", 1 / n + dz^2 / (2 * n), "Hedges & Olkin 1985 (hand)")
  db <- md / s1
  add(nm, "d_b", db, "Becker 1988 (hand)")
  add(nm, "vi_d_b", 2 * (1 - r) / n + db^2 / (2 * n), "Becker 1988 (hand)")
  add(nm, "vi_d_b_bonett", sdd^2 / (s1^2 * (n - 1)) + db^2 / (2 * (n - 1)), "Bonett 2008 eq 13 (hand)")
  drm <- md / (sdd / sqrt(2 * (1 - r)))
  add(nm, "d_rm", drm, "Morris & DeShon 2002 (hand)")
  add(nm, "vi_d_rm", (1 / n + drm^2 / (2 * n)) * 2 * (1 - r), "Borenstein 2009 eq 4.28 (hand)")
  add(nm, "g_rm", j * drm, "hand")
  add(nm, "vi_g_rm", (1 / n + (j * drm)^2 / (2 * n)) * 2 * (1 - r), "Borenstein 2009 eq 4.28 (hand)")
  sav2 <- (s1^2 + s2^2) / 2
  dav <- md / sqrt(sav2)
  bon <- function(e) sdd^2 / ((n - 1) * sav2) + e^2 * (s1^4 + s2^4 + 2 * r^2 * s1^2 * s2^2) / (8 * (n - 1) * sav2^2)
  add(nm, "d_av", dav, "Algina & Keselman 2003 (hand)")
  add(nm, "vi_d_av", bon(dav), "Bonett 2008 (hand)")
  add(nm, "g_av", j * dav, "hand")
  add(nm, "vi_g_av", bon(j * dav), "Bonett 2008 (hand)")
}
res <- do.call(rbind, rows)
write.csv(res, file.path(out_dir, "rm_d_reference.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("metafor", packageVersion("metafor")),
             paste("effectsize", packageVersion("effectsize"))),
           file.path(out_dir, "versions.txt"))
