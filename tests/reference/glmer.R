# Reference fits from R lme4 for every case in cases.json, at nAGQ 1 (Laplace), 3 and 15.
# Writes glmer.json: fixed effects, their SEs, the clinic (cluster) variance, the
# log-likelihood, lme4's warnings, and the R and package versions. Run by `make reference`.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
cases <- fromJSON(file.path(here, "cases.json"), simplifyVector = FALSE)
# Tight tolerances: with lme4's default PIRLS tolerance (tolPwrss = 1e-7) the conditional modes
# are found only roughly, so the Laplace objective is noisy (on cbpp lme4 then reports a
# log-likelihood 2.8e-4 below the exact Laplace value at its own estimates, and Laplace SEs
# differ by 1%); at tolPwrss = 1e-12 lme4 and trustlib agree to about 1e-6.
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
fits <- list()
for (case in Filter(function(x) !identical(x$glmer, FALSE), cases)) {
  d <- read.csv(file.path(here, "cases", case$data))
  f <- reformulate(c(unlist(case$covariates), "(1 | g)"), response = "y")
  for (k in c(1, 3, 15)) {
    warn <- character(0)
    m <- withCallingHandlers(glmer(f, data = d, family = binomial, nAGQ = k, control = ctrl),
                             warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
    fits[[length(fits) + 1]] <- list(
      case = case$name, nagq = k, terms = names(fixef(m)), coef = unname(fixef(m)),
      se = unname(sqrt(diag(as.matrix(vcov(m))))), clinic_var = unname(VarCorr(m)$g[1]),
      loglik = as.numeric(logLik(m)), warnings = c(warn, m@optinfo$conv$lme4$messages))
  }
}
out <- list(software = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            Matrix = as.character(packageVersion("Matrix")),
                            control = "glmerControl(optimizer = 'bobyqa', tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-10, maxfun = 1e5))"),
            fits = fits)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "glmer.json"))
cat(length(fits), "glmer fits written to", file.path(here, "glmer.json"), "\n")
