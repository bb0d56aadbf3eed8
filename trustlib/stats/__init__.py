"""The models and the studies built on them (layer 2: imports the shared modules and ``data``).

- ``fit``        what an estimator accepts and returns, and the one check of its input
- ``glmm``       maximum-likelihood random-intercept logistic regression (adaptive Gauss-Hermite)
- ``gee``        exchangeable logistic GEE, vectorised across clusters
- ``estimators`` the estimator registry (GLMM, GEE, bias-reduced GEE, clustered logistic)
- ``models``     per-measure model fits as tidy tables
- ``parallel``   running independent tasks on joblib workers or a Dask cluster
- ``robustness`` specification curve and leave-one-clinic-out influence
- ``simulation`` parametric-bootstrap check of the estimators
- ``scorecard``  published versus reproduced numbers: the rules and their verdicts
- ``calibration`` how often unselected synthetic cohorts meet the scorecard's targets
"""
