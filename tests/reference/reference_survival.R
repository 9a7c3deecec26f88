# Reference values for itoutcomes.survival from R's survival and cmprsk.
#
#   cd tests/reference && Rscript reference_survival.R
#
# Writes lung.csv and mgus2.csv (the data, from the survival package) and reference_survival.csv:
# "section,key,value" lines, values with 17 significant digits. cif_synthetic.csv (time to first
# complication in the bundled cohort, written by make_fixtures.py) is read, not written.
suppressPackageStartupMessages({library(survival); library(cmprsk)})
options(stringsAsFactors = FALSE)
con <- file("reference_survival.csv", "w")
source("reference_out.R")
out <- reference_writer(con)
cat(sprintf("meta,survival.version,%s\n", as.character(packageVersion("survival"))), file = con)
cat(sprintf("meta,cmprsk.version,%s\n", as.character(packageVersion("cmprsk"))), file = con)

# ---- Kaplan-Meier on lung (status 1 = censored, 2 = dead), by sex, both interval types
lung2 <- data.frame(time = lung$time, status = as.integer(lung$status == 2), sex = lung$sex, age = lung$age,
                    ph_ecog = lung$ph.ecog)
write.csv(lung2, "lung.csv", row.names = FALSE)
for (ct in c("log-log", "log", "plain")) {
  fit <- survfit(Surv(time, status) ~ sex, data = lung2, conf.type = ct)
  s <- summary(fit, censored = TRUE)
  tag <- gsub("-", "", ct)
  out(paste0("km_", tag), "time", s$time)
  out(paste0("km_", tag), "n_risk", s$n.risk)
  out(paste0("km_", tag), "n_event", s$n.event)
  out(paste0("km_", tag), "n_censor", s$n.censor)
  out(paste0("km_", tag), "estimate", s$surv)
  out(paste0("km_", tag), "std_error", s$std.err)
  out(paste0("km_", tag), "ci_low", s$lower)
  out(paste0("km_", tag), "ci_high", s$upper)
  q <- quantile(fit, probs = 0.5)
  out(paste0("km_", tag), "median", q$quantile)
  out(paste0("km_", tag), "median_low", q$lower)
  out(paste0("km_", tag), "median_high", q$upper)
}
fit1 <- survfit(Surv(time, status) ~ 1, data = lung2, conf.type = "log-log")
q1 <- quantile(fit1, probs = 0.5)
out("km_overall", "median", c(q1$quantile, q1$lower, q1$upper))

# ---- competing risks with heavy ties: mgus2 (months), progression (1) vs death (2)
m <- data.frame(etime = with(mgus2, ifelse(pstat == 0, futime, ptime)),
                event = with(mgus2, ifelse(pstat == 0, 2 * death, 1)), sex = mgus2$sex, age = mgus2$age)
write.csv(m, "mgus2.csv", row.names = FALSE)
ms <- survfit(Surv(etime, factor(event)) ~ 1, data = m)
out("aj_mgus2", "time", ms$time)
out("aj_mgus2", "cif1", ms$pstate[, 2])
out("aj_mgus2", "cif2", ms$pstate[, 3])
for (cause in 1:2) {
  ci <- cuminc(m$etime, m$event, cencode = 0)
  est <- ci[[paste("1", cause)]]
  tp <- timepoints(ci, sort(unique(m$etime)))
  out("cuminc_mgus2", paste0("est", cause), tp$est[paste("1", cause), ])
  out("cuminc_mgus2", paste0("var", cause), tp$var[paste("1", cause), ])
  g <- cuminc(m$etime, m$event, group = m$sex, cencode = 0)
  out("gray_mgus2", paste0("cause", cause), g$Tests[as.character(cause), ])
}
out("cuminc_mgus2", "times", sort(unique(m$etime)))

# ---- bundled synthetic cohort: time from implant to first complication, death/explant competing
syn <- read.csv("cif_synthetic.csv")
for (cause in 1:2) {
  ci <- cuminc(syn$time, syn$status, cencode = 0)
  tp <- timepoints(ci, c(30, 90, 365, 730, 1825))
  out("cuminc_synthetic", paste0("est", cause), tp$est[paste("1", cause), ])
  out("cuminc_synthetic", paste0("var", cause), tp$var[paste("1", cause), ])
  g <- cuminc(syn$time, syn$status, group = syn$indication, cencode = 0)
  out("gray_synthetic", paste0("cause", cause), g$Tests[as.character(cause), ])
}
km <- summary(survfit(Surv(time, status > 0) ~ 1, data = syn, conf.type = "log-log"), times = c(30, 90, 365, 730, 1825))
out("km_synthetic", "estimate", km$surv)
out("km_synthetic", "std_error", km$std.err)
out("km_synthetic", "ci_low", km$lower)
out("km_synthetic", "ci_high", km$upper)
# ---- Cox proportional hazards
coxout <- function(tag, fit) {
  out(tag, "coef", unname(coef(fit)))
  out(tag, "se", unname(sqrt(diag(vcov(fit)))))
  out(tag, "loglik", fit$loglik)
  zph <- cox.zph(fit, transform = "km")$table
  out(tag, "zph_chisq", unname(zph[, "chisq"]))
  out(tag, "zph_df", unname(zph[, "df"]))
  out(tag, "zph_p", unname(zph[, "p"]))
}
coxout("cox_lung_efron", coxph(Surv(time, status) ~ age + sex, data = lung2))
for (ties in c("efron", "breslow")) {
  fit <- coxph(Surv(time, status) ~ age + sex, data = lung2, ties = ties, robust = TRUE)
  out(paste0("cox_lung_robust_", ties), "se", unname(sqrt(diag(vcov(fit)))))
}
fit <- coxph(Surv(time, status) ~ age + strata(sex), data = lung2, robust = TRUE)
out("cox_lung_robust_strata", "se", unname(sqrt(diag(vcov(fit)))))
coxout("cox_lung_breslow", coxph(Surv(time, status) ~ age + sex, data = lung2, ties = "breslow"))
coxout("cox_lung_strata", coxph(Surv(time, status) ~ age + strata(sex), data = lung2))
cc <- lung2[!is.na(lung2$ph_ecog), ]
coxout("cox_lung_factor", coxph(Surv(time, status) ~ age + factor(ph_ecog), data = cc))
# cause-specific hazard of the first complication in the bundled cohort (integer days: heavy ties)
syn$complication <- as.integer(syn$status == 1)
coxout("cox_synthetic", coxph(Surv(time, complication) ~ factor(indication), data = syn))
# ---- Fine-Gray (iterated to convergence: gtol 1e-12 instead of crr's default 1e-6)
fgout <- function(tag, fit) {
  out(tag, "coef", unname(fit$coef))
  out(tag, "se", unname(sqrt(diag(fit$var))))
}
for (cause in 1:2) {
  fgout(paste0("fg_mgus2_cause", cause),
        crr(m$etime, m$event, cov1 = cbind(male = as.integer(m$sex == "M"), age = m$age), failcode = cause,
            gtol = 1e-12, maxiter = 100))
}
fgout("fg_synthetic", crr(syn$time, syn$status, cov1 = model.matrix(~ factor(indication), syn)[, -1],
                          failcode = 1, gtol = 1e-12, maxiter = 100))
close(con)
