# Reference values for recurrent complications (mean cumulative function) and exact Poisson rates.
#
#   cd tests/reference && Rscript reference_complications.R
#
# Reads recurrent.csv (written by make_fixtures.py from the bundled cohort: one row per complication,
# or per patient without one) and writes reference_complications.csv ("section,key,value", 17 digits).
suppressPackageStartupMessages(library(survival))
con <- file("reference_complications.csv", "w")
source("reference_out.R")
out <- reference_writer(con)
rec <- read.csv("recurrent.csv")
# counting-process form: intervals between a patient's event times from -1 (events on day 0 allowed);
# several events on one day are spread 0.01 day apart (R merges closer times); the comparison times
# (30, 90, 365, 730, 1825) are whole days, so no split event crosses one
rows <- lapply(split(rec, rec$patient_id), function(d) {
  ev <- sort(d$time[d$event == 1])
  if (length(ev)) ev <- ev + (seq_along(ev) - match(ev, ev)) * 0.01
  end <- d$end[1]
  stops <- c(ev, if (length(ev) == 0 || end > max(ev)) end)
  data.frame(id = d$patient_id[1], tstart = c(-1, head(stops, -1)), tstop = stops,
             status = c(rep(1, length(ev)), if (length(stops) > length(ev)) 0))
})
cp <- do.call(rbind, rows)
fit <- survfit(Surv(tstart, tstop, status) ~ 1, data = cp, id = id)
times <- c(30, 90, 365, 730, 1825)
s <- summary(fit, times = times)
out("mcf", "estimate", s$cumhaz)
out("mcf", "std_error", s$std.chaz)
out("mcf", "ci_from_survival_low", -log(s$upper))
out("mcf", "ci_from_survival_high", -log(s$lower))
# exact Poisson intervals per 100 patient-years, by complication type
years <- sum(rec$end[!duplicated(rec$patient_id)]) / 365.25
out("rates", "patient_years", years)
for (type in c("infection", "catheter", "granuloma", "overdose")) {
  k <- sum(rec$event == 1 & rec$type == type, na.rm = TRUE)
  ci <- poisson.test(k, years)$conf.int * 100
  out("rates", paste0(type, "_n"), k)
  out("rates", paste0(type, "_ci"), c(ci[1], ci[2]))
}
close(con)
