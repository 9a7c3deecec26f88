# Reference values for issue 14 (comparative effectiveness: propensity scores, weights, balance,
# weighted differences, E-values), from R on MatchIt's lalonde data (614 rows: 185 treated).
#
#   cd tests/reference && Rscript reference_issue14.R /path/to/MatchIt/data/lalonde.tab > reference_issue14.csv
#
# Writes lalonde.csv beside it (the data the tests read), then "section,key,value" lines with 17
# significant digits. The propensity model is glm; the weights, balance statistics and E-values are
# written out here from their definitions (WeightIt's and cobalt's formulas, VanderWeele and Ding
# 2017), independently of the package; the weighted differences are survey::svyglm's.
suppressPackageStartupMessages(library(survey))
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
cat(sprintf("meta,survey.version,%s\n", as.character(packageVersion("survey"))))
args <- commandArgs(trailingOnly = TRUE)
if (length(args)) {
  lalonde <- read.table(args[1], header = TRUE)
  lalonde <- data.frame(id = rownames(lalonde), lalonde, row.names = NULL)
  lalonde$pair <- (seq_len(nrow(lalonde)) + 1) %/% 2
  lalonde$employed78 <- as.integer(lalonde$re78 > 0)
  write.csv(lalonde, "lalonde.csv", row.names = FALSE)
}
d <- read.csv("lalonde.csv")

# ---- propensity model
fit <- glm(treat ~ age + educ + race + married + nodegree + re74 + re75, binomial, d,
           control = glm.control(epsilon = 1e-15, maxit = 100))
ps <- unname(fitted(fit))
out("ps", "score", ps)
out("ps", "coef", unname(coef(fit)))
out("ps", "se", unname(sqrt(diag(vcov(fit)))))

# ---- weights (WeightIt's get_w_from_ps formulas)
t <- d$treat
w <- list(
  ATE = ifelse(t == 1, 1 / ps, 1 / (1 - ps)),
  ATT = ifelse(t == 1, 1, ps / (1 - ps)),
  ATO = ifelse(t == 1, 1 - ps, ps)
)
w$ATE_stable <- w$ATE * ifelse(t == 1, mean(t), 1 - mean(t))
q <- quantile(w$ATE, 0.95, type = 7)
w$ATE_trim <- pmin(w$ATE, q)
for (k in names(w)) {
  out("weights", k, w[[k]])
  for (a in 1:0) out("ess", paste0(k, "_arm", a), sum(w[[k]][t == a])^2 / sum(w[[k]][t == a]^2))
}

# ---- balance (MatchIt/cobalt conventions), after ATT weights; SMD over the treated SD
X <- model.matrix(~ age + educ + race + married + nodegree + re74 + re75, d)[, -1]
wvar <- function(x, w) { m <- sum(w * x) / sum(w); sum(w) / (sum(w)^2 - sum(w^2)) * sum(w * (x - m)^2) }
wks <- function(x1, w1, x0, w0) {
  g <- sort(unique(c(x1, x0)))
  F1 <- sapply(g, function(v) sum(w1[x1 <= v]) / sum(w1))
  F0 <- sapply(g, function(v) sum(w0[x0 <= v]) / sum(w0))
  max(abs(F1 - F0))
}
for (j in colnames(X)) {
  x <- X[, j]
  binary <- all(x %in% c(0, 1))
  spread <- function(v) if (binary) mean(v) * (1 - mean(v)) else var(v)
  for (denom in c("treated", "pooled")) {
    s <- if (denom == "treated") sqrt(spread(x[t == 1])) else sqrt((spread(x[t == 1]) + spread(x[t == 0])) / 2)
    for (when in c("before", "after")) {
      ww <- if (when == "before") rep(1, length(x)) else w$ATT
      m1 <- sum(ww[t == 1] * x[t == 1]) / sum(ww[t == 1])
      m0 <- sum(ww[t == 0] * x[t == 0]) / sum(ww[t == 0])
      out("balance", paste(j, denom, when, "smd", sep = "_"), (m1 - m0) / s)
    }
  }
  for (when in c("before", "after")) {
    ww <- if (when == "before") rep(1, length(x)) else w$ATT
    if (!binary) out("balance", paste(j, when, "variance_ratio", sep = "_"),
                     wvar(x[t == 1], ww[t == 1]) / wvar(x[t == 0], ww[t == 0]))
    out("balance", paste(j, when, "ks", sep = "_"), wks(x[t == 1], ww[t == 1], x[t == 0], ww[t == 0]))
  }
}

# ---- weighted differences: survey::svyglm with the linearization variance
d$w_ate <- w$ATE
d$w_att <- w$ATT
for (design in c("ate", "att", "att_pair")) {
  dd <- switch(design,
               ate = svydesign(ids = ~1, weights = ~w_ate, data = d),
               att = svydesign(ids = ~1, weights = ~w_att, data = d),
               att_pair = svydesign(ids = ~pair, weights = ~w_att, data = d))
  for (y in c("re78", "employed78")) {
    f <- svyglm(as.formula(paste(y, "~ treat")), design = dd)
    b <- coef(f); V <- vcov(f)
    out("svyglm", paste(design, y, "coef", sep = "_"), unname(b))
    out("svyglm", paste(design, y, "se", sep = "_"), unname(sqrt(diag(V))))
    m0 <- b[1]; m1 <- b[1] + b[2]
    g <- c(1 / m1 - 1 / m0, 1 / m1)
    out("svyglm", paste(design, y, "log_ratio_se", sep = "_"), sqrt(drop(t(g) %*% V %*% g)))
  }
}

# ---- E-values (VanderWeele and Ding 2017), from the formulas
ev <- function(rr) { rr <- ifelse(rr < 1, 1 / rr, rr); rr + sqrt(rr * (rr - 1)) }
out("evalue", "rr_3.9", ev(3.9)); out("evalue", "rr_1.8", ev(1.8)); out("evalue", "rr_0.8", ev(0.8))
out("evalue", "or_common_2.5", ev(sqrt(2.5)))
hr <- function(h) (1 - 0.5^sqrt(h)) / (1 - 0.5^sqrt(1 / h))
out("evalue", "hr_common_0.6", ev(hr(0.6)))
out("evalue", "smd_0.4_se0.1", ev(exp(0.91 * 0.4)))
out("evalue", "smd_0.4_se0.1_ci", ev(exp(0.91 * 0.4 - 1.78 * 0.1)))
