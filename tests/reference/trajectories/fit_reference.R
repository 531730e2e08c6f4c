# Reference values for iop_outcomes.trajectories (tests/test_trajectories.py).
# Produced with: R 4.2.2 Patched (2022-11-10 r83330), lme4 1.1.31, emmeans 1.8.4.1,
# geepack 1.3.9 (Debian r-cran-* packages).
# Run from the repository root:  Rscript tests/reference/trajectories/fit_reference.R
# Input: sim_weekly.csv and sim_singular.csv (written by make_data.py, seeded numpy simulation).
# Output CSVs in the same folder:
#   lme4_fixed.csv    model, term, estimate, se          (lmer REML, vcov(m))
#   lme4_varcorr.csv  model, grp, var1, var2, vcov, sdcor  (as.data.frame(VarCorr(m)))
#   lme4_loglik.csv   model, reml_loglik
#   emmeans.csv       model, week, format, emmean, SE, lower, upper  (lmer.df = "asymptotic")
#   emmeans_change.csv model, contrast, estimate, SE, lower, upper, p.value (week 6 - week 0)
#   geepack.csv       model, term, estimate, se, alpha, scale (geeglm, robust "san.se")
# Term names are rewritten to the library's labels (format[virtual], week^2, week[3], ...).
suppressMessages({library(lme4); library(emmeans); library(geepack)})
here <- "tests/reference/trajectories"
d <- read.csv(file.path(here, "sim_weekly.csv"))
d$format <- factor(d$format, levels = c("in_person", "virtual"))
d <- d[order(d$episode_id, d$week), ]
d$week_c <- factor(d$week)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5),
                    check.conv.singular = "ignore")

rename <- function(x) {
  x <- gsub("(Intercept)", "Intercept", x, fixed = TRUE)
  x <- gsub("formatvirtual", "format[virtual]", x, fixed = TRUE)
  x <- gsub("I(week^2)", "week^2", x, fixed = TRUE)
  x <- gsub("pmin(week, 2)", "week_to_2", x, fixed = TRUE)
  x <- gsub("pmax(week - 2, 0)", "week_after_2", x, fixed = TRUE)
  x <- gsub("week_c([0-9]+)", "week[\\1]", x)
  x
}

models <- list(
  linear = total ~ week * format + (1 + week | episode_id),
  quadratic = total ~ (week + I(week^2)) * format + (1 + week | episode_id),
  piecewise = total ~ (pmin(week, 2) + pmax(week - 2, 0)) * format + (1 + week | episode_id),
  categorical = total ~ week_c * format + (1 + week | episode_id),
  uncorrelated = total ~ week * format + (1 + week || episode_id),
  intercept = total ~ week * format + (1 | episode_id),
  site = total ~ week * format + (1 | episode_id) + (0 + week | episode_id) + (1 | site)
)
# the site model is fitted on the first 60 episodes (sorted ids) to keep the Python test fast
d_site <- d[d$episode_id %in% sort(unique(d$episode_id))[1:60], ]
fx <- list(); vc <- list(); ll <- list(); em <- list(); ch <- list()
for (nm in names(models)) {
  m <- lmer(models[[nm]], data = if (nm == "site") d_site else d, REML = TRUE, control = ctrl)
  b <- fixef(m); se <- sqrt(diag(as.matrix(vcov(m))))
  fx[[nm]] <- data.frame(model = nm, term = rename(names(b)), estimate = unname(b), se = unname(se))
  v <- as.data.frame(VarCorr(m)); v$model <- nm
  vc[[nm]] <- v[, c("model", "grp", "var1", "var2", "vcov", "sdcor")]
  ll[[nm]] <- data.frame(model = nm, reml_loglik = as.numeric(logLik(m)))
  if (nm == "categorical") {
    e <- emmeans(m, ~ week_c * format, lmer.df = "asymptotic")
    s <- as.data.frame(summary(e))
    s$week <- as.numeric(as.character(s$week_c))
    e2 <- emmeans(m, ~ week_c * format, at = list(week_c = c("0", "6")), lmer.df = "asymptotic")
  } else {
    e <- emmeans(m, ~ week * format, at = list(week = 0:8), lmer.df = "asymptotic")
    s <- as.data.frame(summary(e))
    e2 <- emmeans(m, ~ week * format, at = list(week = c(0, 6)), lmer.df = "asymptotic")
  }
  em[[nm]] <- data.frame(model = nm, week = s$week, format = s$format, emmean = s$emmean,
                         SE = s$SE, lower = s$asymp.LCL, upper = s$asymp.UCL)
  # grid order: week fastest -> (0,in), (6,in), (0,vir), (6,vir)
  cc <- contrast(e2, method = list(in_person = c(-1, 1, 0, 0), virtual = c(0, 0, -1, 1),
                                   `virtual - in_person` = c(1, -1, -1, 1)))
  cs <- as.data.frame(summary(cc, infer = TRUE))
  ch[[nm]] <- data.frame(model = nm, contrast = cs$contrast, estimate = cs$estimate, SE = cs$SE,
                         lower = cs$asymp.LCL, upper = cs$asymp.UCL, p.value = cs$p.value)
}
# boundary (singular) fit: sim_singular.csv has no slope variance; lme4 reports corr = -1
ds <- read.csv(file.path(here, "sim_singular.csv"))
ds$format <- factor(ds$format, levels = c("in_person", "virtual"))
m <- lmer(total ~ week * format + (1 + week | episode_id), data = ds, REML = TRUE,
          control = ctrl)
stopifnot(isSingular(m))
b <- fixef(m)
fx$singular <- data.frame(model = "singular", term = rename(names(b)), estimate = unname(b),
                          se = unname(sqrt(diag(as.matrix(vcov(m))))))
v <- as.data.frame(VarCorr(m)); v$model <- "singular"
vc$singular <- v[, c("model", "grp", "var1", "var2", "vcov", "sdcor")]
ll$singular <- data.frame(model = "singular", reml_loglik = as.numeric(logLik(m)))

w <- function(x, f) write.csv(do.call(rbind, x), file.path(here, f), row.names = FALSE)
w(fx, "lme4_fixed.csv"); w(vc, "lme4_varcorr.csv"); w(ll, "lme4_loglik.csv")
w(em, "emmeans.csv"); w(ch, "emmeans_change.csv")

gee <- list()
for (cs in c("independence", "exchangeable", "ar1")) {
  g <- geeglm(total ~ week * format, id = factor(episode_id), waves = week, data = d,
              corstr = cs, std.err = "san.se")
  co <- summary(g)$coefficients
  alpha <- if (cs == "independence") 0 else unname(g$geese$alpha[1])
  gee[[cs]] <- data.frame(model = cs, term = rename(rownames(co)), estimate = co[, "Estimate"],
                          se = co[, "Std.err"], alpha = alpha, scale = unname(g$geese$gamma[1]))
}
w(gee, "geepack.csv")
cat("done\n")
