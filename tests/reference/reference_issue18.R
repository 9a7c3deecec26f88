# Rubin's rules (issue 18): mice's pooling on fixed imputed data sets, so that the package and R pool the
# very same completed data.
#   imputed_change.csv: tests/reference/make_fixtures.py (imputation_fixture: 5 completed data sets of
#   the 12-month pain change of the bundled cohort's implanted patients, .imp = 1..5)
#   cd tests/reference && Rscript reference_issue18.R > reference_issue18.csv
suppressPackageStartupMessages(library(mice))
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
cat(sprintf("meta,mice.version,%s\n", as.character(packageVersion("mice"))))

d <- read.csv("imputed_change.csv", check.names = FALSE)
sets <- split(d, d$.imp)

# a linear model in each completed data set, pooled (dfcom = the complete-data residual df)
fits <- as.mira(lapply(sets, function(s) lm(change ~ baseline + age, data = s)))
pooled <- pool(fits)
s <- summary(pooled, conf.int = TRUE, conf.level = 0.95)
for (column in c("estimate", "std.error", "statistic", "df", "p.value")) out("lm", sub(".", "_", column, fixed = TRUE), s[[column]])
out("lm", "conf_low", s[["2.5 %"]])
out("lm", "conf_high", s[["97.5 %"]])
for (column in c("riv", "lambda", "fmi", "ubar", "b", "t", "dfcom")) out("lm", column, pooled$pooled[[column]])
s90 <- summary(pooled, conf.int = TRUE, conf.level = 0.90)
out("lm", "conf_low_90", s90[["5 %"]])
out("lm", "conf_high_90", s90[["95 %"]])

# a mean (the mean change), pooled as a scalar: U = variance of the mean, n = patients, k = 1
q <- sapply(sets, function(s) mean(s$change))
u <- sapply(sets, function(s) var(s$change) / nrow(s))
p <- pool.scalar(q, u, n = nrow(sets[[1]]), k = 1)
for (name in c("qbar", "ubar", "b", "t", "df", "r", "fmi")) out("mean", name, p[[name]])

# infinite complete-data df (dfcom = Inf: Rubin's 1987 df)
pinf <- pool.scalar(q, u)
out("mean_inf", "df", pinf$df)

# multiple imputation itself (agreement in distribution): mice's Bayesian linear regression ("norm") of
# the 12-month score on baseline and age, m = 200, then the mean change pooled as a scalar
first <- sets[[1]]
incomplete <- data.frame(baseline = first$baseline, age = first$age,
                         followup = ifelse(first$observed == 1, first$baseline + first$change, NA))
imp <- mice(incomplete, method = c("", "", "norm"), m = 200, seed = 20261201, printFlag = FALSE)
q <- sapply(1:200, function(k) { d <- complete(imp, k); mean(d$followup - d$baseline) })
u <- sapply(1:200, function(k) { d <- complete(imp, k); var(d$followup - d$baseline) / nrow(d) })
pn <- pool.scalar(q, u, n = nrow(incomplete), k = 1)
for (name in c("qbar", "ubar", "b", "t", "df")) out("mice_norm", name, pn[[name]])

# chained equations (agreement in distribution): mice's Bayesian linear regression ("norm") of every
# visit's score on the baseline, age and the other visits (mice's default predictor matrix), maxit = 10,
# m = 200; the mean change at each visit pooled as a scalar
#   imputation_visits.csv: tests/reference/make_fixtures.py (chained_fixture)
v <- read.csv("imputation_visits.csv")
visits <- grep("^month_", names(v), value = TRUE)
method <- ifelse(names(v) %in% visits, "norm", "")
chained <- mice(v, method = method, m = 200, maxit = 10, seed = 20261202, printFlag = FALSE)
for (visit in visits) {
  q <- sapply(1:200, function(k) { d <- complete(chained, k); mean(d[[visit]] - d$baseline) })
  u <- sapply(1:200, function(k) { d <- complete(chained, k); var(d[[visit]] - d$baseline) / nrow(d) })
  pc <- pool.scalar(q, u, n = nrow(v), k = 1)
  for (name in c("qbar", "ubar", "b", "t")) out(paste0("mice_chained_", visit), name, pc[[name]])
}

# the same with predictive mean matching (mice's default for numbers, 5 donors)
chained_pmm <- mice(v, method = ifelse(names(v) %in% visits, "pmm", ""), m = 200, maxit = 10,
                    seed = 20261203, printFlag = FALSE)
for (visit in visits) {
  q <- sapply(1:200, function(k) { d <- complete(chained_pmm, k); mean(d[[visit]] - d$baseline) })
  u <- sapply(1:200, function(k) { d <- complete(chained_pmm, k); var(d[[visit]] - d$baseline) / nrow(d) })
  r <- sapply(1:200, function(k) { d <- complete(chained_pmm, k); mean(d[[visit]] <= 0.7 * d$baseline & d$baseline > 0) })
  pc <- pool.scalar(q, u, n = nrow(v), k = 1)
  for (name in c("qbar", "ubar", "b", "t")) out(paste0("mice_pmm_", visit), name, pc[[name]])
  out(paste0("mice_pmm_", visit), "responder_30_mean", mean(r))
  out(paste0("mice_pmm_", visit), "responder_30_between", var(r))
}
