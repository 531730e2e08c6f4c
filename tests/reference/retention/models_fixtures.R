# Reference values for follow-up response tests and attrition (tests/test_retention.py)
# Produced with: R version 4.2.2 Patched (2022-11-10 r83330), stats (base R)
# Run: cd tests/reference/retention && Rscript models_fixtures.R
# Writes: models_data.csv (episode table), resp_chisq.csv, resp_glm.csv, attr_welch.csv,
#         attr_chisq.csv, attr_glm.csv
set.seed(5)
n <- 240
format <- sample(c("in_person", "virtual", "hybrid"), n, replace = TRUE, prob = c(.45, .4, .15))
baseline <- round(rnorm(n, 16, 5))
age <- round(runif(n, 18, 70))
age[sample(n, 12)] <- NA                      # complete-case handling
gender <- sample(c("woman", "man", "nonbinary"), n, replace = TRUE, prob = c(.55, .38, .07))
status <- sample(c("completed", "dropped_out", "transferred", "administrative", "ongoing"), n,
                 replace = TRUE, prob = c(.6, .25, .05, .03, .07))
lp <- -0.3 + 0.5 * (format == "virtual") - 0.04 * (baseline - 16) + 0.01 * (age - 40)
lp[is.na(lp)] <- 0
resp <- rbinom(n, 1, plogis(lp)) == 1 & status != "ongoing"
fu3 <- ifelse(resp, pmax(0, baseline - 6 + round(rnorm(n, 0, 3))), NA)
d <- data.frame(episode_id = sprintf("m%03d", 1:n), format, baseline, age, gender_identity = gender,
                discharge_status = status, followup_3m = fu3)
write.csv(d, "models_data.csv", row.names = FALSE, na = "")

# follow-up response among discharged (eligible without an as_of date)
e <- d[d$discharge_status != "ongoing", ]
e$responded <- as.integer(!is.na(e$followup_3m))
e$format <- factor(e$format, levels = c("hybrid", "in_person", "virtual"))
ch <- chisq.test(table(e$format, e$responded), correct = FALSE)
write.csv(data.frame(statistic = unname(ch$statistic), df = unname(ch$parameter), pvalue = ch$p.value,
                     n = nrow(e)), "resp_chisq.csv", row.names = FALSE)
m <- glm(responded ~ format + baseline + age, family = binomial, data = e)
ci <- confint.default(m)
write.csv(data.frame(term = names(coef(m)), log_or = unname(coef(m)), se = sqrt(diag(vcov(m))),
                     estimate = exp(unname(coef(m))), ci_low = exp(ci[, 1]), ci_high = exp(ci[, 2]),
                     pvalue = summary(m)$coefficients[, 4], n_used = nobs(m)),
          "resp_glm.csv", row.names = FALSE)

# attrition on followup_3m among discharged: retained = follow-up present
r <- !is.na(e$followup_3m)
tt <- t.test(e$baseline[r], e$baseline[!r])      # Welch (var.equal = FALSE is the default)
ta <- t.test(e$age[r], e$age[!r])
write.csv(data.frame(variable = c("baseline", "age"),
                     statistic = c(tt$statistic, ta$statistic), df = c(tt$parameter, ta$parameter),
                     pvalue = c(tt$p.value, ta$p.value)), "attr_welch.csv", row.names = FALSE)
cg <- chisq.test(table(e$gender_identity, r), correct = FALSE)
cf <- chisq.test(table(e$format, r), correct = FALSE)
write.csv(data.frame(variable = c("gender_identity", "format"),
                     statistic = c(cg$statistic, cf$statistic), df = c(cg$parameter, cf$parameter),
                     pvalue = c(cg$p.value, cf$p.value)), "attr_chisq.csv", row.names = FALSE)
# model of being lost; categorical reference = most frequent level
mode_ref <- function(x) names(sort(table(x), decreasing = TRUE))[1]
e$gender_identity <- relevel(factor(e$gender_identity), ref = mode_ref(e$gender_identity))
e$format <- relevel(factor(as.character(e$format)), ref = mode_ref(as.character(e$format)))
e$lost <- as.integer(!r)
m2 <- glm(lost ~ baseline + age + gender_identity + format, family = binomial, data = e)
ci2 <- confint.default(m2)
write.csv(data.frame(term = names(coef(m2)), estimate = exp(unname(coef(m2))),
                     ci_low = exp(ci2[, 1]), ci_high = exp(ci2[, 2]),
                     pvalue = summary(m2)$coefficients[, 4], n_used = nobs(m2),
                     ref_gender = levels(e$gender_identity)[1], ref_format = levels(e$format)[1]),
          "attr_glm.csv", row.names = FALSE)
