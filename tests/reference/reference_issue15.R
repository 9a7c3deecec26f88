# The pump's course (issue 15) on the bundled cohort: the dose mixed model with a random intercept and
# slope (lme4), device survival with delayed entry (survival), exact Poisson intervals (stats).
#   bundled_dose.csv:    itoutcomes.pump.dose_data(cohort)[patient_id, years, log_dose]
#   bundled_devices.csv: itoutcomes.pump.device_episodes(cohort, component) with duration > entry
#   bundled_episodes.csv: itoutcomes.pump.dose_episodes(cohort)
# (written by tests/reference/make_fixtures.py; tests/test_pump.py checks the package still gives them).
#   cd tests/reference && Rscript reference_issue15.R > reference_issue15.csv
suppressPackageStartupMessages({library(lme4); library(survival)})
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
for (p in c("lme4", "survival", "minqa")) cat(sprintf("meta,%s.version,%s\n", p, as.character(packageVersion(p))))

# lmer at its optimum to full precision: bobyqa on lme4's own profiled REML deviance, run to a
# tolerance lmer's defaults stop short of, then the model built from it (lme4's modular functions)
dose <- read.csv("bundled_dose.csv")
lf <- lFormula(log_dose ~ years + (1 + years | patient_id), dose, REML = TRUE)
devfun <- do.call(mkLmerDevfun, lf)
opt <- minqa::bobyqa(c(1, 0, 1), devfun, lower = c(0, -Inf, 0),
                     control = list(rhobeg = 0.5, rhoend = 1e-13, maxfun = 1e6))
fit <- mkMerMod(environment(devfun), list(par = opt$par, fval = opt$fval, conv = 0, message = ""),
                lf$reTrms, fr = lf$fr)
out("lmer", "fixef", unname(fixef(fit)))
out("lmer", "se", unname(sqrt(diag(as.matrix(vcov(fit))))))
out("lmer", "theta", unname(getME(fit, "theta")))
out("lmer", "sigma", sigma(fit))
out("lmer", "reml", REMLcrit(fit))
vc <- as.data.frame(VarCorr(fit))
out("lmer", "var_intercept", vc$vcov[1])
out("lmer", "var_slope", vc$vcov[2])

devices <- read.csv("bundled_devices.csv")
years <- 365.25 * 1:5
for (component in c("pump", "catheter")) {
  d <- devices[devices$component == component, ]
  late <- survfit(Surv(entry, duration, event) ~ 1, data = d)
  s <- summary(late, times = years, extend = TRUE)
  out("survfit", paste0(component, "_surv"), s$surv)
  out("survfit", paste0(component, "_se"), s$std.err)
  out("survfit", paste0(component, "_n_risk"), s$n.risk)
  naive <- summary(survfit(Surv(duration, event) ~ 1, data = d), times = years, extend = TRUE)
  out("survfit", paste0(component, "_naive_surv"), naive$surv)
}
pumps <- devices[devices$component == "pump", ]
battery <- summary(survfit(Surv(entry, duration, replaced) ~ 1, data = pumps), times = years, extend = TRUE)
out("survfit", "battery_surv", battery$surv)

# exact Poisson intervals of k events in n refills, per 1,000
for (k in c(0, 3, 382)) {
  ci <- poisson.test(k, 20297)$conf.int * 1000
  out("poisson", paste0("k", k), as.numeric(ci))
}

# granuloma against the time-varying dose: (start, stop] rows split at every refill
#   bundled_episodes.csv: itoutcomes.pump.dose_episodes(cohort)
episodes <- read.csv("bundled_episodes.csv")
tv <- coxph(Surv(start, stop, event) ~ log2_dose + strata(drug), data = episodes, id = patient_id,
            ties = "efron")
out("coxph", "coef", unname(coef(tv)))
out("coxph", "se", unname(sqrt(diag(vcov(tv)))))
out("coxph", "loglik", tv$loglik)
tv2 <- coxph(Surv(start, stop, event) ~ log2_dose + log2_concentration + strata(drug), data = episodes,
             id = patient_id)
pooled <- coxph(Surv(start, stop, event) ~ log2_dose, data = episodes, id = patient_id)
out("coxph", "pooled_coef", unname(coef(pooled)))
out("coxph", "pooled_se", unname(sqrt(diag(vcov(pooled)))))
out("coxph", "coef2", unname(coef(tv2)))
out("coxph", "se2", unname(sqrt(diag(vcov(tv2)))))
