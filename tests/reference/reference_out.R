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
