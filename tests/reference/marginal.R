# Reference fits of the two marginal estimators for the cases marked "marginal" in cases.json:
# geepack geeglm (binomial, exchangeable, robust SE; iterated to convergence, epsilon 1e-12, as
# trustlib's GEE is) and glm with sandwich::vcovCL clustered by clinic with type = "HC1" (Stata's
# small-sample factor G/(G-1) * (n-1)/(n-k), as statsmodels).
# Writes marginal.json with R and package versions. Run by `make reference`.
suppressPackageStartupMessages({library(geepack); library(sandwich); library(jsonlite)})
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
cases <- Filter(function(x) isTRUE(x$marginal), fromJSON(file.path(here, "cases.json"), simplifyVector = FALSE))
fits <- list()
for (case in cases) {
  d <- read.csv(file.path(here, "cases", case$data))
  d <- d[order(d$g), ]                                   # geeglm needs clusters contiguous
  f <- reformulate(unlist(case$covariates), response = "y")
  gee <- geeglm(f, data = d, id = factor(d$g), family = binomial, corstr = "exchangeable",
                control = geese.control(epsilon = 1e-12, maxit = 500))
  fits[[length(fits) + 1]] <- list(case = case$name, model = "gee", terms = names(coef(gee)),
                                   coef = unname(coef(gee)), se = unname(summary(gee)$coefficients[, "Std.err"]))
  lg <- glm(f, data = d, family = binomial)
  fits[[length(fits) + 1]] <- list(case = case$name, model = "logit_cluster", terms = names(coef(lg)),
                                   coef = unname(coef(lg)), se = unname(sqrt(diag(vcovCL(lg, cluster = ~g, type = "HC1")))),
                                   loglik = as.numeric(logLik(lg)))
}
out <- list(software = list(R = R.version.string, geepack = as.character(packageVersion("geepack")),
                            sandwich = as.character(packageVersion("sandwich"))), fits = fits)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "marginal.json"))
cat(length(fits), "marginal fits written to", file.path(here, "marginal.json"), "\n")
