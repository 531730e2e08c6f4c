# Reference values for the MI rows of iop_outcomes.missing_data_sensitivity: R mice with
# Bayesian linear regression imputation ("norm", the same draw as iop_outcomes) on the same
# data, many imputations so that Monte Carlo error is small.
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), mice 3.15.0
# Run: cd tests/reference/sensitivity && Rscript make_mice.R
# Input: sens_assessments.csv (make_data.py). Wide data y0 (intake) ... y6 (discharge) per
# episode; dropouts miss the later weeks (monotone). Imputation model: every other y and
# format, in monotone order: y_j is imputed from format and y_0 ... y_{j-1} (lower-triangular
# predictor matrix, columns visited left to right, maxit = 1), i.e. monotone data augmentation,
# which is what iop_outcomes does for a monotone pattern. Analyses: mean change y6 - y0 (lm(d ~ 1)) and
# difference in mean change virtual - in_person (lm(d ~ format)); pooled by mice::pool.
suppressPackageStartupMessages(library(mice))
d <- read.csv("sens_assessments.csv")
w <- reshape(d[, c("episode_id", "week", "total")], idvar = "episode_id", timevar = "week",
             direction = "wide")
names(w) <- sub("total.", "y", names(w), fixed = TRUE)
ep <- d[!duplicated(d$episode_id), c("episode_id", "format")]
w <- merge(ep, w, by = "episode_id")
w$format <- factor(w$format, levels = c("in_person", "virtual"))
w <- w[, c("format", paste0("y", 0:6))]
m <- 500
pred <- make.predictorMatrix(w)
pred[, ] <- 0
for (j in 1:6) pred[paste0("y", j), c("format", paste0("y", 0:(j - 1)))] <- 1
imp <- mice(w, m = m, method = "norm", predictorMatrix = pred, visitSequence = names(w),
            maxit = 1, seed = 20261123, printFlag = FALSE)
f1 <- with(imp, lm(I(y6 - y0) ~ 1))
f2 <- with(imp, lm(I(y6 - y0) ~ format))
p1 <- pool(f1)$pooled
p2 <- pool(f2)$pooled
out <- rbind(
  data.frame(quantity = "mean change", p1[1, c("m", "estimate", "ubar", "b", "t", "df")]),
  data.frame(quantity = "virtual - in_person", p2[2, c("m", "estimate", "ubar", "b", "t", "df")])
)
out$mc_se <- sqrt(out$b / m)
writeLines(sprintf("# %s; mice %s; method norm, m = %d, monotone predictor matrix, maxit 1",
                   R.version.string, as.character(packageVersion("mice")), m), "mi_mice.csv")
suppressWarnings(write.table(out, "mi_mice.csv", sep = ",", row.names = FALSE, append = TRUE))
print(out)
