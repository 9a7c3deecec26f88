# Matched sets and weights of MatchIt's nearest-neighbour matching (issue 14), on MatchIt's lalonde and
# on the bundled cohort's comparison: implanted IDD patients against CMM patients, from
# bundled_comparison.csv (itoutcomes.comparative.outcome_table of data/synthetic, written by
# tests/test_comparative.py::test_bundled_comparison_table_is_the_reference_input).
#
# Debian's r-cran-matchit 4.5.1 has the nearest-neighbour caliper bug (MatchIt issue 163, fixed in
# 4.5.4), so MatchIt is built from its public source into a private library, with chk and a newer
# rlang than Debian's:
#
#   R CMD INSTALL -l /work/rlib rlang chk MatchIt     (sources from github r-lib/rlang,
#                                                      poissonconsulting/chk, kosukeimai/MatchIt)
#   cd tests/reference && R_LIBS=/work/rlib Rscript reference_issue14_matchit.R > reference_issue14_matchit.csv
#
# One line per value, "section,key,value" (17 significant digits); the package versions in "meta".
suppressPackageStartupMessages(library(MatchIt))
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
for (p in c("MatchIt", "chk", "rlang")) cat(sprintf("meta,%s.version,%s\n", p, as.character(packageVersion(p))))

lalonde <- read.csv("lalonde.csv")
patients <- read.csv("bundled_comparison.csv")
patients$treat <- patients$treated
datasets <- list(
  lalonde = list(data = lalonde, f = treat ~ age + educ + race + married + nodegree + re74 + re75,
                 exact = ~married),
  bundled = list(data = patients, f = treat ~ age + sex + indication + log1p(baseline_mme), exact = ~sex)
)
for (name in names(datasets)) {
  d <- datasets[[name]]$data
  f <- datasets[[name]]$f
  cases <- list(
    caliper = list(ratio = 1, replace = FALSE, caliper = 0.1),
    ratio2_replace = list(ratio = 2, replace = TRUE),
    exact = list(ratio = 1, replace = FALSE, exact = datasets[[name]]$exact),
    ratio2_logit_smallest = list(ratio = 2, replace = FALSE, link = "linear.logit", m.order = "smallest",
                                 caliper = 0.25),
    data_order = list(ratio = 1, replace = FALSE, m.order = "data")
  )
  for (case in names(cases)) {
    m <- do.call(matchit, c(list(formula = f, data = d, method = "nearest", distance = "glm"), cases[[case]]))
    key <- paste(name, case, sep = "_")
    out("matchit", paste0(key, "_weights"), unname(m$weights))
    sub <- if (is.null(m$subclass)) rep(NA, nrow(d)) else as.integer(as.character(m$subclass))
    out("matchit", paste0(key, "_subclass"), ifelse(is.na(sub), 0L, sub))
    out("matchit", paste0(key, "_distance"), unname(m$distance))
    if (case == "caliper") {
      s <- summary(m, standardize = TRUE)
      out("summary", paste0(name, "_smd_before"), unname(s$sum.all[, "Std. Mean Diff."]))
      out("summary", paste0(name, "_smd_after"), unname(s$sum.matched[, "Std. Mean Diff."]))
      out("summary", paste0(name, "_terms_n"), nrow(s$sum.all))
      cat(sprintf("terms,%s,%s\n", name, paste(rownames(s$sum.all), collapse = "|")))
    }
  }
}
