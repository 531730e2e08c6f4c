# Independent base-R implementation of the NHS Talking Therapies outcome definitions (joint
# PHQ-9 + GAD-7 rules, first vs last scores), applied to nhs_synthetic_episodes.csv (made by
# make_nhs_synthetic.py). Writes counts and denominators per format and overall to
# nhs_base_r.csv, which tests/test_clinsig.py compares against iop_outcomes.
#
# Produced with: R 4.2.2 (2022-11-10 r83330), base R only.
# Run from the project root:  Rscript tests/reference/clinsig/nhs_base_r.R
#
# Rules: caseness PHQ-9 first >= 10 or GAD-7 first >= 8; reliable deterioration PHQ-9 increase
# >= 6 or GAD-7 increase >= 4; reliable improvement PHQ-9 decrease >= 6 or GAD-7 decrease >= 4
# and no reliable deterioration; recovery = caseness and last PHQ-9 < 10 and last GAD-7 < 8;
# reliable recovery = recovery and reliable improvement. A measure counts only when both its
# first and last scores exist. Finished course: sessions_attended >= 2 where recorded, else
# n_in_treatment >= 2. Denominators: finished courses with a paired measure; recovery and
# reliable recovery: those minus the not-at-caseness.

d <- read.csv(file.path("tests", "reference", "clinsig", "nhs_synthetic_episodes.csv"))
ids <- unique(d$episode_id)
get <- function(inst, col) {
  s <- d[d$instrument == inst, ]
  s[[col]][match(ids, s$episode_id)]
}
pf <- get("PHQ-9", "baseline"); pl <- get("PHQ-9", "endpoint")
gf <- get("GAD-7", "baseline"); gl <- get("GAD-7", "endpoint")
first_row <- match(ids, d$episode_id)
sess <- d$sessions_attended[first_row]
ntr <- d$n_in_treatment[first_row]
fmt <- d$format[first_row]

pp <- !is.na(pf) & !is.na(pl)
gp <- !is.na(gf) & !is.na(gl)
finished <- ifelse(!is.na(sess), sess >= 2, ntr >= 2)
counted <- finished & (pp | gp)
case <- (pp & pf >= 10) | (gp & gf >= 8)
det <- (pp & (pl - pf) >= 6) | (gp & (gl - gf) >= 4)
imp <- ((pp & (pf - pl) >= 6) | (gp & (gf - gl) >= 4)) & !det
below <- (!pp | pl < 10) & (!gp | gl < 8)
rec <- case & below

tab <- function(sel, label) {
  k <- counted & sel
  nc <- sum(k & !case)
  data.frame(
    format = label,
    outcome = c("at caseness", "not at caseness", "reliable improvement", "no reliable change",
                "reliable deterioration", "recovery", "reliable recovery"),
    count = c(sum(k & case), nc, sum(k & imp), sum(k & !imp & !det), sum(k & det),
              sum(k & rec), sum(k & rec & imp)),
    n = c(rep(sum(k), 5), rep(sum(k) - nc, 2))
  )
}
out <- rbind(tab(rep(TRUE, length(ids)), "Overall"),
             tab(fmt == "in_person", "in_person"), tab(fmt == "virtual", "virtual"))
write.csv(out, file.path("tests", "reference", "clinsig", "nhs_base_r.csv"), row.names = FALSE)
