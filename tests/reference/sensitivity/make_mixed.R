# Reference values for the mixed-model rows of iop_outcomes.missing_data_sensitivity.
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), lme4 1.1-31 (see output header)
# Run: cd tests/reference/sensitivity && Rscript make_mixed.R
# Input: sens_assessments.csv (made by make_data.py). All rows are in treatment (weeks 0-6);
# endpoint week W = 6. Model: REML, random intercept and slope in week per episode
# (correlated), fixed effects time x format (+ centred age x time). Estimands: model-based
# change week 0 -> 6 per format, the difference virtual - in_person, and the overall change
# (formats weighted by their share of episodes, covariates at the overall mean).
suppressPackageStartupMessages(library(lme4))
d <- read.csv("sens_assessments.csv")
d$format <- factor(d$format, levels = c("in_person", "virtual"))
ep <- d[!duplicated(d$episode_id), ]
share_v <- mean(ep$format == "virtual")
d$age_c <- d$age - mean(ep$age)
ep$age_c <- ep$age - mean(ep$age)
abar <- tapply(ep$age_c, ep$format, mean)
W <- 6
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
out <- list()
comb <- function(model, L, label) {
  b <- fixef(model); V <- as.matrix(vcov(model))
  est <- sapply(L, function(l) sum(l[names(b)] * b))
  se <- sapply(L, function(l) sqrt(drop(t(l[names(b)]) %*% V %*% l[names(b)])))
  data.frame(model = label, quantity = names(L), estimate = est, se = se)
}
zero <- function(b) setNames(rep(0, length(b)), names(b))

# 1. categorical time (a mean per week)
m1 <- lmer(total ~ factor(week) * format + (1 + week | episode_id), data = d, REML = TRUE,
           control = ctl)
b <- fixef(m1)
l_ip <- zero(b); l_ip["factor(week)6"] <- 1
l_v <- l_ip; l_v["factor(week)6:formatvirtual"] <- 1
l_d <- zero(b); l_d["factor(week)6:formatvirtual"] <- 1
l_all <- l_ip; l_all["factor(week)6:formatvirtual"] <- share_v
out[[1]] <- comb(m1, list(overall = l_all, in_person = l_ip, virtual = l_v, diff = l_d),
                 "categorical")

# 2. quadratic time
m2 <- lmer(total ~ (week + I(week^2)) * format + (1 + week | episode_id), data = d, REML = TRUE,
           control = ctl)
b <- fixef(m2)
l_ip <- zero(b); l_ip[c("week", "I(week^2)")] <- c(W, W^2)
l_d <- zero(b); l_d[c("week:formatvirtual", "I(week^2):formatvirtual")] <- c(W, W^2)
l_v <- l_ip + l_d
l_all <- l_ip + share_v * l_d
out[[2]] <- comb(m2, list(overall = l_all, in_person = l_ip, virtual = l_v, diff = l_d),
                 "quadratic")

# 3. categorical time with centred age (and age x week) as covariate; group changes at each
#    group's own mean age (unadjusted estimand), overall at the overall mean (0)
m3 <- lmer(total ~ factor(week) * format + factor(week) * age_c + (1 + week | episode_id),
           data = d, REML = TRUE, control = ctl)
b <- fixef(m3)
l_ip <- zero(b); l_ip["factor(week)6"] <- 1; l_ip["factor(week)6:age_c"] <- abar["in_person"]
l_v <- zero(b); l_v["factor(week)6"] <- 1; l_v["factor(week)6:formatvirtual"] <- 1
l_v["factor(week)6:age_c"] <- abar["virtual"]
l_all <- zero(b); l_all["factor(week)6"] <- 1; l_all["factor(week)6:formatvirtual"] <- share_v
out[[3]] <- comb(m3, list(overall = l_all, in_person = l_ip, virtual = l_v, diff = l_v - l_ip),
                 "categorical+age")
res <- do.call(rbind, out)
hdr <- sprintf("# %s; lme4 %s; REML; Wald SE from vcov()", R.version.string,
               as.character(packageVersion("lme4")))
writeLines(hdr, "mixed_lme4.csv")
suppressWarnings(write.table(res, "mixed_lme4.csv", sep = ",", row.names = FALSE,
                             append = TRUE))
print(res)
