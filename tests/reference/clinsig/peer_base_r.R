# Independent base-R implementation of the distribution-based clinical-significance methods
# (Jacobson & Truax 1991; Gulliksen-Lord-Novick per Hsu 1989; Edwards-Nunnally per Speer 1992),
# applied to the datasets shipped with the R package clinicalsignificance (converted to CSV in
# ../shared/peer-data/clinicalsignificance). Writes counts and thresholds only (no patient rows)
# to peer_base_r.json, which tests/test_clinsig.py compares against iop_outcomes.
#
# Produced with: R 4.2.2 (2022-11-10 r83330), base R only (jsonlite not needed).
# Run from the project root:  Rscript tests/reference/clinsig/peer_base_r.R
#
# Conventions (the same as clinicalsignificance): SD_pre and M_pre from the paired cases (ddof 1),
# critical value qnorm(0.975), strict |RCI| > crit, strict cut-off sides. 'deteriorated' counts every
# reliable deterioration (harmed included); 'harmed' as clinicalsignificance's combined approach.

peer <- file.path("..", "shared", "peer-data", "clinicalsignificance")
crit <- qnorm(0.975)

classify <- function(pre, post, rel, better, method = "JT", cutoff = NA) {
  ok <- !is.na(pre) & !is.na(post)
  pre <- pre[ok]; post <- post[ok]
  d <- if (better == "lower") -1 else 1
  m <- mean(pre); s <- sd(pre)
  if (method == "JT") {
    se <- s * sqrt(2 * (1 - rel)); rci <- (post - pre) / se
  } else if (method == "GLN") {
    se <- s * sqrt(1 - rel^2); rci <- ((post - m) - rel * (pre - m)) / se
  } else if (method == "EN") {
    se <- s * sqrt(1 - rel); rci <- (post - (rel * (pre - m) + m)) / se
  }
  imp <- d * rci > crit
  det <- d * rci < -crit
  if (!is.na(cutoff)) {
    clin_pre <- d * pre < d * cutoff
    func_post <- d * post > d * cutoff
    rec <- imp & clin_pre & func_post
    # clinicalsignificance's combined approach: harmed = !clinical_pre & !functional_post & det
    harmed <- det & !clin_pre & !func_post
  } else {
    rec <- rep(FALSE, length(pre)); harmed <- rep(FALSE, length(pre))
  }
  list(n = length(pre), sd_pre = s, mean_pre = m, se = se, threshold_points = crit * se,
       recovered = sum(rec), improved = sum(imp & !rec), unchanged = sum(!imp & !det),
       deteriorated = sum(det), harmed = sum(harmed), sum_rci = sum(rci))
}

wide <- function(df, id, time, value, t_pre, t_post) {
  a <- df[df[[time]] == t_pre, c(id, value)]
  b <- df[df[[time]] == t_post, c(id, value)]
  names(a) <- c("id", "pre"); names(b) <- c("id", "post")
  merge(a, b, by = "id", all = TRUE)
}

to_json <- function(x, indent = "  ") {
  items <- vapply(names(x), function(k) {
    v <- x[[k]]
    if (is.list(v)) sprintf('%s"%s": %s', indent, k, to_json(v, paste0(indent, "  ")))
    else if (is.character(v)) sprintf('%s"%s": "%s"', indent, k, v)
    else sprintf('%s"%s": %s', indent, k, format(v, digits = 15))
  }, "")
  paste0("{\n", paste(items, collapse = ",\n"), "\n", substr(indent, 3, 100), "}")
}

out <- list()

ad <- read.csv(file.path(peer, "antidepressants.csv"))
w <- wide(ad, "patient", "measurement", "mom_di", "Before", "After")
out$antidepressants_jt <- classify(w$pre, w$post, 0.80, "lower", "JT")
# cut-off a from the sample's own baseline mean and SD (lower is better: a = M - 2 SD)
cut_a <- mean(w$pre) - 2 * sd(w$pre)
out$antidepressants_jt_cut_a <- c(classify(w$pre, w$post, 0.80, "lower", "JT", cut_a),
                                  list(cutoff_value = cut_a))
out$antidepressants_gln <- classify(w$pre, w$post, 0.80, "lower", "GLN")
out$antidepressants_en <- classify(w$pre, w$post, 0.80, "lower", "EN")

jc <- read.csv(file.path(peer, "jacobson_1989.csv"))
w <- wide(jc, "subject", "time", "das", "pre", "post")
# illustrative norms (inputs to both implementations): clinical M 70.7 SD 23.8, functional M 114.8 SD 17.8
cm <- 70.7; csd <- 23.8; fm <- 114.8; fsd <- 17.8
cut_c <- (csd * fm + fsd * cm) / (csd + fsd)
out$jacobson_1989_jt_cut_c <- c(classify(w$pre, w$post, 0.93, "higher", "JT", cut_c),
                                list(cutoff_value = cut_c))
cut_b <- fm - 2 * fsd
out$jacobson_1989_jt_cut_b <- c(classify(w$pre, w$post, 0.93, "higher", "JT", cut_b),
                                list(cutoff_value = cut_b))

cl <- read.csv(file.path(peer, "claus_2020.csv"))
w <- wide(cl, "id", "time", "bdi", 1, 4)
out$claus_2020_bdi_jt <- classify(w$pre, w$post, 0.80, "lower", "JT")
out$claus_2020_bdi_gln <- classify(w$pre, w$post, 0.80, "lower", "GLN")
out$claus_2020_bdi_en <- classify(w$pre, w$post, 0.80, "lower", "EN")

writeLines(to_json(out), file.path("tests", "reference", "clinsig", "peer_base_r.json"))
