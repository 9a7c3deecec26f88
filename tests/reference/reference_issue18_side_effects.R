# Side effects before and after implant (issue 18), from the bundled cohort's own files: the windows are
# built here, independently of the package.
#   cd tests/reference && Rscript reference_issue18_side_effects.R > reference_issue18_side_effects.csv
# Implanted IDD patients with follow-up after implant; before: [implant - 365, implant), after:
# [implant, implant + min(365, exit - implant)), exit = first of death, explant, last contact; years of
# 365.25 days. Rates: poisson.test(k, years); the paired ratio: the conditional Poisson likelihood as a
# binomial GLM with offset, checked against the patient fixed-effects Poisson GLM.
source("reference_out.R")
out <- reference_writer()
cat(sprintf("meta,R.version,%s\n", paste(R.version$major, R.version$minor, sep = ".")))

window <- 365
p <- read.csv("../../data/synthetic/patients.csv", stringsAsFactors = FALSE)
a <- read.csv("../../data/synthetic/adverse_effects.csv", stringsAsFactors = FALSE)
if ("arm" %in% names(p)) p <- p[p$arm == "idd", ]
p <- p[!is.na(p$implant_day), ]
exit <- pmin(p$death_day, p$explant_day, p$last_contact_day, na.rm = TRUE)
p$after_days <- pmin(pmax(exit - p$implant_day, 0), window)
p <- p[p$after_days > 0, ]
p$before_years <- window / 365.25
p$after_years <- p$after_days / 365.25
out("all", "n", nrow(p))
out("all", "before_years", sum(p$before_years))
out("all", "after_years", sum(p$after_years))

a <- merge(a, p[, c("patient_id", "implant_day", "after_days")], by = "patient_id")
a$relative <- a$day - a$implant_day
a$period <- ifelse(a$relative >= -window & a$relative < 0, "before",
                   ifelse(a$relative >= 0 & a$relative < a$after_days, "after", NA))
a <- a[!is.na(a$period), ]

effects <- c("any", "constipation", "nausea_vomiting", "sedation", "oedema", "respiratory_depression")
for (effect in effects) {
  rows <- if (effect == "any") a else a[a$effect == effect, ]
  for (period in c("before", "after")) {
    k <- sum(rows$period == period)
    years <- sum(p[[paste0(period, "_years")]])
    test <- poisson.test(k, years)
    out(effect, paste0(period, "_n_event"), k)
    out(effect, paste0(period, "_rate"), 100 * k / years)
    out(effect, paste0(period, "_ci_low"), 100 * test$conf.int[1])
    out(effect, paste0(period, "_ci_high"), 100 * test$conf.int[2])
  }
  d <- p
  d$before <- as.numeric(table(factor(rows$patient_id[rows$period == "before"], levels = p$patient_id)))
  d$after <- as.numeric(table(factor(rows$patient_id[rows$period == "after"], levels = p$patient_id)))
  d <- d[d$before + d$after > 0, ]
  fit <- glm(cbind(after, before) ~ 1, offset = log(after_years / before_years), family = binomial, data = d,
             control = glm.control(epsilon = 1e-14, maxit = 100))
  s <- summary(fit)$coefficients
  out(effect, "log_ratio", s[1, "Estimate"])
  out(effect, "log_ratio_se", s[1, "Std. Error"])
  out(effect, "z", s[1, "z value"])
  out(effect, "p_value", s[1, "Pr(>|z|)"])
  # glm's standard error comes from the weights of its last iteration's start; the information at the
  # estimate itself, to full precision:
  pr <- plogis(coef(fit)[[1]] + log(d$after_years / d$before_years))
  out(effect, "log_ratio_se_at_estimate", 1 / sqrt(sum((d$after + d$before) * pr * (1 - pr))))
  # the same ratio as the period effect of a Poisson model with one intercept per patient
  long <- rbind(data.frame(id = d$patient_id, k = d$before, t = d$before_years, after = 0),
                data.frame(id = d$patient_id, k = d$after, t = d$after_years, after = 1))
  fe <- glm(k ~ after + factor(id) + offset(log(t)), family = poisson, data = long,
            control = glm.control(epsilon = 1e-14, maxit = 100))
  out(effect, "log_ratio_fixed_effects", coef(fe)[["after"]])
}
