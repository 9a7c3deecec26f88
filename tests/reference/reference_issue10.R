# Reference values for the correctness items of issue 10, from R (lme4 and survival), on data that the
# rest of the suite does not use: lme4's sleepstudy (whole, and unbalanced with 27 rows removed) and
# survival's rotterdam.
#
#   cd tests/reference && Rscript reference_issue10.R > reference_issue10.csv
#
# Writes sleepstudy.csv and rotterdam.csv beside it (the data the tests read), then one line per value,
# "section,key,value", with 17 significant digits.
suppressPackageStartupMessages({library(lme4); library(survival)})
options(stringsAsFactors = FALSE)
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
cat(sprintf("meta,lme4.version,%s\n", as.character(packageVersion("lme4"))))
cat(sprintf("meta,survival.version,%s\n", as.character(packageVersion("survival"))))

# ---- lmer (REML), random intercept, at its optimum (lmer_optimum in reference_out.R); lmer's default
# fit is written too, for comparison.
sleep <- lme4::sleepstudy
sleep$Subject <- as.character(sleep$Subject)
write.csv(sleep, "sleepstudy.csv", row.names = FALSE)
drop <- seq(1, 157, by = 6)  # 27 rows: every subject keeps 8 or 9 of its 10 days
datasets <- list(full = sleep, unbalanced = sleep[-drop, ])
formulas <- list(days = Reaction ~ Days + (1 | Subject), visit = Reaction ~ factor(Days) + (1 | Subject))
for (d in names(datasets)) for (f in names(formulas)) {
  key <- paste(d, f, sep = "_")
  fit <- lmer_optimum(formulas[[f]], datasets[[d]])
  default <- lmer(formulas[[f]], datasets[[d]], REML = TRUE)
  vc <- as.data.frame(VarCorr(fit))
  out("lmer", paste0(key, "_fixef"), unname(fixef(fit)))
  out("lmer", paste0(key, "_se"), unname(sqrt(diag(as.matrix(vcov(fit))))))
  out("lmer", paste0(key, "_var_subject"), vc$vcov[1])
  out("lmer", paste0(key, "_var_residual"), vc$vcov[2])
  out("lmer", paste0(key, "_theta"), unname(getME(fit, "theta")))
  out("lmer", paste0(key, "_reml"), lme4::REMLcrit(fit))
  out("lmer", paste0(key, "_n"), nrow(datasets[[d]]))
  out("lmer_default", paste0(key, "_fixef"), unname(fixef(default)))
  out("lmer_default", paste0(key, "_theta"), unname(getME(default, "theta")))
}

# ---- coxph with Breslow (and Efron) ties on rotterdam, iterated to full precision
rot <- survival::rotterdam[, c("pid", "age", "nodes", "pgr", "er", "hormon", "chemo", "rtime", "recur")]
write.csv(rot, "rotterdam.csv", row.names = FALSE)
for (ties in c("breslow", "efron")) {
  fit <- coxph(Surv(rtime, recur) ~ age + nodes + pgr + er + hormon + chemo, data = rot, ties = ties,
               control = coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15))
  default <- coxph(Surv(rtime, recur) ~ age + nodes + pgr + er + hormon + chemo, data = rot, ties = ties)
  out("coxph", paste0(ties, "_coef"), unname(coef(fit)))
  out("coxph", paste0(ties, "_se"), unname(sqrt(diag(vcov(fit)))))
  out("coxph", paste0(ties, "_loglik"), fit$loglik)
  out("coxph", paste0(ties, "_max_abs_score"), max(abs(colSums(residuals(fit, "score")))))
  out("coxph_default", paste0(ties, "_coef"), unname(coef(default)))
  out("coxph_default", paste0(ties, "_max_abs_score"),
      max(abs(colSums(residuals(default, "score")))))
}
