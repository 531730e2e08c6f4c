# Reference values for iop_outcomes._stats.newcombe_diff_ci (tests/test_stats.py).
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), base R only (stats).
# Run from this directory:  Rscript newcombe_diff_ci.R
# Writes newcombe_diff_ci_expected.csv.
# Method: Newcombe (1998) Stat Med 17:873-890, method 10 (hybrid score interval): the
# Wilson interval of each proportion, from prop.test(k, n, correct = FALSE)$conf.int, combined
#   L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2),  U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
# (DescTools::BinomDiffCI(method = "score") and PropCIs are not packaged by Debian; this
# script rebuilds the method from its definition on R's own Wilson interval.)
# Rows a-f are the examples of the paper's Table II; g-h are report-sized counts.

wilson <- function(k, n, level) {
  if (k == 0) return(c(0, prop.test(k, n, correct = FALSE, conf.level = level)$conf.int[2]))
  if (k == n) return(c(prop.test(k, n, correct = FALSE, conf.level = level)$conf.int[1], 1))
  prop.test(k, n, correct = FALSE, conf.level = level)$conf.int[1:2]
}
newcombe <- function(k1, n1, k2, n2, level) {
  p1 <- k1 / n1; p2 <- k2 / n2; d <- p1 - p2
  w1 <- wilson(k1, n1, level); w2 <- wilson(k2, n2, level)
  c(d, d - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2), d + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2))
}
cases <- data.frame(
  example = c("a", "b", "c", "d", "e", "f", "g", "h"),
  k1 = c(56, 9, 6, 5, 0, 10, 440, 284),
  n1 = c(70, 10, 7, 56, 10, 10, 1126, 1126),
  k2 = c(48, 3, 2, 0, 0, 0, 401, 300),
  n2 = c(80, 10, 7, 29, 20, 20, 1090, 1090),
  ci_level = c(0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.90)
)
res <- t(mapply(newcombe, cases$k1, cases$n1, cases$k2, cases$n2, cases$ci_level))
out <- cbind(cases, estimate = res[, 1], ci_low = res[, 2], ci_high = res[, 3])
write.csv(out, "newcombe_diff_ci_expected.csv", row.names = FALSE)
