# The writer shared by the reference scripts: a "section,key,value" header, then one line per value
# with 17 significant digits (vectors get keys key[1], key[2], ...). Use: out <- reference_writer(con).
reference_writer <- function(con = stdout()) {
  cat("section,key,value\n", file = con)
  function(section, key, value) {
    for (i in seq_along(value)) {
      k <- if (length(value) > 1) paste0(key, "[", i, "]") else key
      cat(sprintf("%s,%s,%.17g\n", section, k, value[i]), file = con)
    }
  }
}

# lmer (REML) at its optimum to full precision. lmer's default optimiser stops when the criterion
# changes little (theta about 1e-7 relative from the optimum); here theta is found by optimize() on
# lme4's own profiled REML deviance and the model is built from it with lme4's modular functions
# (?modular). One random-effects term with one parameter (a random intercept) only.
lmer_optimum <- function(formula, data) {
  lf <- lme4::lFormula(formula, data, REML = TRUE)
  devfun <- do.call(lme4::mkLmerDevfun, lf)
  opt <- optimize(devfun, c(0, 20), tol = 1e-14)
  lme4::mkMerMod(environment(devfun), list(par = opt$minimum, fval = opt$objective, conv = 0, message = ""),
                 lf$reTrms, fr = lf$fr)
}
