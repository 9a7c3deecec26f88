# Reference values for itoutcomes.stats, conversion and pain, from R (base stats and lme4).
#
#   cd tests/reference && Rscript reference_issue4.R > reference_issue4.csv
#
# Output: one line per value, "section,key,value", values printed with 17 significant digits.
# Data: the bundled synthetic cohort (../../data/synthetic) and the fixtures written by make_fixtures.py.
suppressPackageStartupMessages(library(lme4))
options(stringsAsFactors = FALSE)
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
cat(sprintf("meta,lme4.version,%s\n", as.character(packageVersion("lme4"))))

# ---- proportions: Wilson = prop.test(correct = FALSE), Clopper-Pearson = binom.test
cases <- list(c(136, 166, 0.95), c(0, 10, 0.95), c(10, 10, 0.95), c(1, 3, 0.90), c(57, 1000, 0.99),
              c(7, 23, 0.95))
for (cs in cases) {
  key <- sprintf("x%d_n%d_c%g", cs[1], cs[2], cs[3])
  w <- suppressWarnings(prop.test(cs[1], cs[2], correct = FALSE, conf.level = cs[3]))$conf.int
  b <- binom.test(cs[1], cs[2], conf.level = cs[3])$conf.int
  out("wilson", key, c(w[1], w[2]))
  out("clopper_pearson", key, c(b[1], b[2]))
}

# ---- paired t and Wilcoxon signed-rank (differences after - before)
paired_cases <- list(
  no_ties = list(before = c(7.1, 8.3, 6.2, 9.9, 7.4, 5.8, 6.6, 8.05, 7.7, 9.2),
                 after = c(3.0, 5.5, 6.9, 4.1, 2.3, 6.35, 1.2, 2.6, 3.3, 4.45)),
  ties_zeros = list(before = c(7, 8, 6, 9, 7, 5, 6, 8, 7, 7, 6, 8),
                    after = c(3, 5, 6, 4, 2, 6, 1, 2, 7, 5, 4, 4))
)
pairs12 <- read.csv("pain_pairs_12.csv")
paired_cases$cohort_12 <- list(before = pairs12$baseline, after = pairs12$followup)
for (name in names(paired_cases)) {
  d <- paired_cases[[name]]
  t <- t.test(d$after, d$before, paired = TRUE)
  w <- suppressWarnings(wilcox.test(d$after, d$before, paired = TRUE))
  out("paired_t", paste0(name, "_estimate"), unname(t$estimate))
  out("paired_t", paste0(name, "_ci"), t$conf.int[1:2])
  out("paired_t", paste0(name, "_statistic"), unname(t$statistic))
  out("paired_t", paste0(name, "_p"), t$p.value)
  out("wilcoxon", paste0(name, "_V"), unname(w$statistic))
  out("wilcoxon", paste0(name, "_p"), w$p.value)
}

# ---- logistic regression of conversion on the bundled cohort
p <- read.csv("../../data/synthetic/patients.csv", na.strings = "")
trialed <- p[p$trial_type != "none", ]
trialed$converted <- as.integer(!is.na(trialed$implant_day) & trialed$implant_day <= 90)
# IRLS run to full convergence (the default epsilon = 1e-8 stops about 1e-5 short of the maximum)
tight <- glm.control(epsilon = 1e-15, maxit = 100)
fit <- glm(converted ~ age + sex + indication + trial_type, family = binomial, data = trialed, control = tight)
co <- summary(fit)$coefficients
ci <- exp(confint.default(fit))
for (term in rownames(co)) {
  out("glm_cohort", paste0(term, "_coef"), co[term, 1])
  out("glm_cohort", paste0(term, "_se"), co[term, 2])
  out("glm_cohort", paste0(term, "_p"), co[term, 4])
  out("glm_cohort", paste0(term, "_ci"), ci[term, ])
}
out("glm_cohort", "conversion_count", sum(trialed$converted))
out("glm_cohort", "conversion_n", nrow(trialed))

# ---- a hand-checkable logistic regression: a 2x2 table (odds ratio = ad / bc = (30*40)/(10*20) = 6)
small <- data.frame(exposed = c(rep(1, 40), rep(0, 60)),
                    converted = c(rep(1, 30), rep(0, 10), rep(1, 20), rep(0, 40)))
fit2 <- glm(converted ~ exposed, family = binomial, data = small, control = tight)
co2 <- summary(fit2)$coefficients
out("glm_small", "coef", co2[, 1])
out("glm_small", "se", co2[, 2])
out("glm_small", "p", co2[, 4])

# ---- linear mixed model on all available scores (REML)
long <- read.csv("pain_long.csv")
mm <- lmer_optimum(nrs ~ factor(visit) + (1 | patient_id), long)
fe <- fixef(mm)
se <- sqrt(diag(as.matrix(vcov(mm))))
for (i in seq_along(fe)) {
  out("lmer", paste0(names(fe)[i], "_estimate"), unname(fe[i]))
  out("lmer", paste0(names(fe)[i], "_se"), unname(se[i]))
}
vc <- as.data.frame(VarCorr(mm))
out("lmer", "var_patient", vc$vcov[vc$grp == "patient_id"])
out("lmer", "var_residual", vc$vcov[vc$grp == "Residual"])
