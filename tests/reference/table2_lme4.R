# Table 2 in R lme4, from the pipeline's modelling table: one command for an R user,
#   Rscript tests/reference/table2_lme4.R [results/analysis_table.csv] [nAGQ]
# Adjusted two-level logistic regression of high-high trust on each culture measure (1-4 scale)
# with age, female, internal medicine and advanced practice clinician, random clinic intercept.
# Prints OR (95% Wald CI), P and the clinic variance, as notebook 03 and results/tables/table2.csv.
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
file <- if (length(args) >= 1) args[1] else "results/analysis_table.csv"
nagq <- if (length(args) >= 2) as.integer(args[2]) else 15L
d <- read.csv(file)
rows <- lapply(c("quality", "communication", "cohesiveness", "alignment"), function(m) {
  f <- reformulate(c(m, "age", "female", "internal_medicine", "apc", "(1 | clinic_id)"), response = "high_high")
  fit <- glmer(f, data = d, family = binomial, nAGQ = nagq,
               control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12))
  b <- fixef(fit)[[m]]; se <- sqrt(diag(as.matrix(vcov(fit))))[[m]]
  data.frame(measure = m, OR = exp(b), ci_low = exp(b - qnorm(0.975) * se), ci_high = exp(b + qnorm(0.975) * se),
             P = 2 * pnorm(-abs(b / se)), clinic_var = VarCorr(fit)$clinic_id[1])
})
cat(sprintf("Table 2 by lme4 %s (glmer, nAGQ = %d) from %s\n", packageVersion("lme4"), nagq, file))
print(format(do.call(rbind, rows), digits = 4), row.names = FALSE)
