# Reference values for issue 13 (survival options: delayed entry, (start, stop] rows, case weights,
# clusters, restricted mean), from R's survival on its own data sets.
#
#   cd tests/reference && Rscript reference_issue13.R > reference_issue13.csv
#
# Writes heart.csv, cgd.csv and veteran.csv beside it (the data the tests read), then one line per value,
# "section,key,value", with 17 significant digits. Weights are deterministic functions of the row number
# (w_frac non-integer, w_int whole), written into the CSVs.
suppressPackageStartupMessages(library(survival))
options(stringsAsFactors = FALSE)
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))
cat(sprintf("meta,survival.version,%s\n", as.character(packageVersion("survival"))))

vet <- survival::veteran
vet$w_frac <- 0.5 + (seq_len(nrow(vet)) %% 5) / 4
vet$w_int <- 1 + seq_len(nrow(vet)) %% 3
vet$pair <- (seq_len(nrow(vet)) + 1) %/% 2
vet$entry <- pmin(vet$time - 1, (seq_len(nrow(vet)) %% 7) * 3)
vet$entry[vet$entry < 0] <- 0
write.csv(vet, "veteran.csv", row.names = FALSE)
heart <- survival::heart
write.csv(heart, "heart.csv", row.names = FALSE)
mgus <- read.csv("mgus2.csv")  # written by reference_complications.R: etime, event (1 pcm, 2 death)
mgus$id <- seq_len(nrow(mgus))
mgus$w_frac <- 0.5 + (mgus$id %% 5) / 4
mgus$entry <- pmax(pmin(mgus$etime - 1, (mgus$id %% 7) * 2), 0)
mgus$pair <- (mgus$id + 1) %/% 2
write.csv(mgus, "mgus2_options.csv", row.names = FALSE)
cgd <- survival::cgd[, c("id", "tstart", "tstop", "status", "treat", "sex", "age", "inherit", "enum")]
cgd$treat <- as.character(cgd$treat); cgd$sex <- as.character(cgd$sex); cgd$inherit <- as.character(cgd$inherit)
write.csv(cgd, "cgd.csv", row.names = FALSE)

km_out <- function(key, fit) {
  s <- summary(fit, censored = TRUE)
  out("km", paste0(key, "_time"), s$time)
  out("km", paste0(key, "_n_risk"), s$n.risk)
  out("km", paste0(key, "_n_event"), s$n.event)
  out("km", paste0(key, "_surv"), s$surv)
  out("km", paste0(key, "_std_err"), s$std.err)
  out("km", paste0(key, "_lower"), s$lower)
  out("km", paste0(key, "_upper"), s$upper)
  if (!is.null(fit$strata)) out("km", paste0(key, "_strata"), as.integer(s$strata))
}
# ---- Kaplan-Meier
km_out("weights_frac", survfit(Surv(time, status) ~ trt, vet, weights = w_frac, conf.type = "log-log"))
km_out("weights_frac_greenwood",
       survfit(Surv(time, status) ~ trt, vet, weights = w_frac, robust = FALSE, conf.type = "log-log"))
km_out("weights_int", survfit(Surv(time, status) ~ trt, vet, weights = w_int, conf.type = "log-log"))
km_out("weights_int_replicated",
       survfit(Surv(time, status) ~ trt, vet[rep(seq_len(nrow(vet)), vet$w_int), ], conf.type = "log-log"))
km_out("cluster_pair", survfit(Surv(time, status) ~ 1, vet, cluster = pair, conf.type = "log-log"))
km_out("entry", survfit(Surv(entry, time, status) ~ 1, vet, conf.type = "log-log"))
km_out("entry_weights", survfit(Surv(entry, time, status) ~ trt, vet, weights = w_frac, conf.type = "log"))
km_out("heart", survfit(Surv(start, stop, event) ~ 1, heart, conf.type = "log-log"))
km_out("heart_id", survfit(Surv(start, stop, event) ~ 1, heart, id = id, conf.type = "log-log"))
km_out("heart_id_robust",
       survfit(Surv(start, stop, event) ~ 1, heart, id = id, robust = TRUE, conf.type = "log-log"))

# ---- Cox: counting process, weights, clusters (iterated to full precision)
ctl <- coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15)
cox_out <- function(key, fit) {
  out("cox", paste0(key, "_coef"), unname(coef(fit)))
  out("cox", paste0(key, "_se"), unname(sqrt(diag(vcov(fit)))))
  if (!is.null(fit$naive.var)) out("cox", paste0(key, "_naive_se"), unname(sqrt(diag(fit$naive.var))))
  out("cox", paste0(key, "_loglik"), fit$loglik)
}
for (ties in c("efron", "breslow")) {
  cox_out(paste0("cgd_", ties), coxph(Surv(tstart, tstop, status) ~ treat + age + inherit, cgd,
                                      cluster = id, ties = ties, control = ctl))
  cox_out(paste0("heart_", ties), coxph(Surv(start, stop, event) ~ age + year + surgery + transplant,
                                        heart, ties = ties, control = ctl))
  cox_out(paste0("weights_", ties), coxph(Surv(time, status) ~ trt + karno + age, vet, weights = w_frac,
                                          ties = ties, control = ctl))
  cox_out(paste0("weights_int_", ties), coxph(Surv(time, status) ~ trt + karno + age, vet, weights = w_int,
                                              ties = ties, control = ctl))
  cox_out(paste0("cluster_", ties), coxph(Surv(time, status) ~ trt + karno, vet, cluster = pair,
                                          ties = ties, control = ctl))
  cox_out(paste0("entry_weights_strata_", ties),
          coxph(Surv(entry, time, status) ~ trt + karno + strata(celltype), vet, weights = w_frac,
                ties = ties, control = ctl))
}
cox_out("cgd_naive", coxph(Surv(tstart, tstop, status) ~ treat + age + inherit, cgd, control = ctl))

# ---- restricted mean survival time, as print.survfit(fit, rmean = tau)
for (tau in c(100, 365)) {
  s <- summary(survfit(Surv(time, status) ~ trt, vet), rmean = tau)$table
  out("rmst", paste0("trt_", tau, "_rmean"), unname(s[, "rmean"]))
  out("rmst", paste0("trt_", tau, "_se"), unname(s[, "se(rmean)"]))
  s <- summary(survfit(Surv(time, status) ~ 1, vet, weights = w_int), rmean = tau)$table
  out("rmst", paste0("weights_int_", tau, "_rmean"), unname(s["rmean"]))
  out("rmst", paste0("weights_int_", tau, "_se"), unname(s["se(rmean)"]))
  s <- summary(survfit(Surv(entry, time, status) ~ 1, vet), rmean = tau)$table
  out("rmst", paste0("entry_", tau, "_rmean"), unname(s["rmean"]))
  out("rmst", paste0("entry_", tau, "_se"), unname(s["se(rmean)"]))
}

# ---- Aalen-Johansen with options: survfit multi-state (infinitesimal-jackknife std.err). survival 3.5
# ignores cluster= here, so the clustered value is R's own influence collapsed by cluster.
aj_out <- function(key, fit, cluster = NULL) {
  out("aj", paste0(key, "_time"), fit$time)
  out("aj", paste0(key, "_n_risk"), fit$n.risk[, 1])
  out("aj", paste0(key, "_pstate"), fit$pstate[, 2])
  if (is.null(cluster)) out("aj", paste0(key, "_std_err"), fit$std.err[, 2])
  else {
    inf <- fit$influence.pstate[, , 2]
    if (ncol(inf) == length(fit$time) + 1) inf <- inf[, -1]  # the first column is the start, time 0
    out("aj", paste0(key, "_std_err"), sqrt(colSums(rowsum(inf, cluster)^2)))
  }
}
aj_out("plain", survfit(Surv(etime, factor(event)) ~ 1, mgus))
aj_out("weights", survfit(Surv(etime, factor(event)) ~ 1, mgus, weights = w_frac))
aj_out("entry", survfit(Surv(entry, etime, factor(event)) ~ 1, mgus, id = id))
aj_out("entry_weights", survfit(Surv(entry, etime, factor(event)) ~ 1, mgus, id = id, weights = w_frac))
aj_out("cluster", survfit(Surv(etime, factor(event)) ~ 1, mgus, influence = TRUE), cluster = mgus$pair)
for (s in c("F", "M")) {
  aj_out(paste0("weights_sex_", s),
         survfit(Surv(etime, factor(event)) ~ 1, mgus[mgus$sex == s, ], weights = w_frac))
}

# ---- Fine-Gray with case weights: finegray() data and a weighted coxph (cmprsk::crr has no weights)
fg_out <- function(key, fg) {
  fit <- coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex, data = fg, weights = fgwt, cluster = id,
               ties = "breslow", control = ctl)
  out("finegray", paste0(key, "_coef"), unname(coef(fit)))
  out("finegray", paste0(key, "_se"), unname(sqrt(diag(vcov(fit)))))
  out("finegray", paste0(key, "_rows"), nrow(fg))
  out("finegray", paste0(key, "_weight_sum"), sum(fg$fgwt))
}
mgus$status_f <- factor(mgus$event, 0:2, c("censor", "pcm", "death"))
fg_out("unweighted", finegray(Surv(etime, status_f) ~ ., data = mgus, etype = "pcm"))
fg_out("weights", finegray(Surv(etime, status_f) ~ ., data = mgus, etype = "pcm", weights = w_frac))

# ---- mean cumulative function of (start, stop] rows: Nelson-Aalen with the robust std.chaz by id
f <- survfit(Surv(tstart, tstop, status) ~ 1, cgd, id = id)
ev <- f$n.event > 0
out("mcf", "cgd_time", f$time[ev])
out("mcf", "cgd_cumhaz", f$cumhaz[ev])
out("mcf", "cgd_std_chaz", f$std.chaz[ev])
out("mcf", "cgd_n_risk", f$n.risk[ev])

# ---- Gray's test with strata (cmprsk::cuminc(strata =))
suppressPackageStartupMessages(library(cmprsk))
cat(sprintf("meta,cmprsk.version,%s\n", as.character(packageVersion("cmprsk"))))
for (cause in 1:2) {
  ci <- cuminc(mgus$etime, mgus$event, mgus$sex, strata = mgus$age >= 70)
  out("gray", paste0("strata_cause", cause, "_stat"), ci$Tests[cause, "stat"])
  out("gray", paste0("strata_cause", cause, "_pv"), ci$Tests[cause, "pv"])
  ci <- cuminc(mgus$etime, mgus$event, mgus$sex)
  out("gray", paste0("plain_cause", cause, "_stat"), ci$Tests[cause, "stat"])
}

# ---- cox.zph on counting-process, weighted and stratified fits
zph_out <- function(key, fit) {
  z <- cox.zph(fit, transform = "km")
  out("zph", paste0(key, "_chisq"), unname(z$table[, "chisq"]))
}
zph_out("cgd", coxph(Surv(tstart, tstop, status) ~ treat + age, cgd, cluster = id, control = ctl))
zph_out("heart", coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, heart, control = ctl))
zph_out("weights", coxph(Surv(time, status) ~ trt + karno + age, vet, weights = w_frac, control = ctl))
zph_out("weights_breslow", coxph(Surv(time, status) ~ trt + karno + age, vet, weights = w_frac,
                                 ties = "breslow", control = ctl))
zph_out("entry_weights_strata", coxph(Surv(entry, time, status) ~ trt + karno + strata(celltype), vet,
                                      weights = w_frac, control = ctl))

# ---- restricted mean time lost to each cause: summary(survfit multi-state, influence = TRUE, rmean = tau)
for (tau in c(365, 3650)) {
  s <- summary(survfit(Surv(etime, factor(event)) ~ 1, mgus, influence = TRUE), rmean = tau)$table
  out("rmtl", paste0("plain_", tau, "_rmean"), unname(s[2:3, "rmean"]))
  out("rmtl", paste0("plain_", tau, "_se"), unname(s[2:3, "se(rmean)"]))
  # with case weights, survival 3.5's influence.pstate is per unit of weight: std.err is
  # sqrt(sum((w * influence)^2)), but summary()'s se(rmean) leaves the weights out. The reference is
  # the integral of R's influence weighted as its std.err is.
  fit <- survfit(Surv(etime, factor(event)) ~ 1, mgus, weights = w_frac, influence = TRUE)
  s <- summary(fit, rmean = tau)$table
  out("rmtl", paste0("weights_", tau, "_rmean"), unname(s[2:3, "rmean"]))
  tt <- fit$time
  delta <- diff(c(tt[tt < tau], tau))
  delta <- c(delta, rep(0, length(tt) - length(delta)))
  nt <- length(tt)
  se <- sapply(2:3, function(k) {
    inf <- fit$influence.pstate[, , k]
    if (ncol(inf) == nt + 1) inf <- inf[, -1]
    sqrt(sum((mgus$w_frac * (inf %*% delta))^2))
  })
  out("rmtl", paste0("weights_", tau, "_se"), se)
  out("rmtl", paste0("weights_", tau, "_se_summary"), unname(s[2:3, "se(rmean)"]))
}
