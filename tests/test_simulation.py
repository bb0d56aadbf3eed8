"""The Monte Carlo machinery: marginal truth, seeding independent of workers, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special

from trustlib.data import cohort
from trustlib.stats import models, parallel, simulation


@pytest.fixture(scope="module")
def analysis(tables, rules):
    return cohort.build_cohort(tables, rules)[1]


def test_marginal_truth_equals_conditional_without_clinic_variance():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(300), rng.normal(size=300)])
    beta = np.array([-0.5, 1.0])
    assert np.allclose(simulation.marginal_truth(X, beta, 0.0), beta, atol=1e-8)


def test_marginal_truth_is_attenuated_and_matches_a_large_simulation():
    rng = np.random.default_rng(1)
    n = 200_000
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    beta, sigma = np.array([-0.5, 1.0]), 1.2
    marg = simulation.marginal_truth(X, beta, sigma)
    assert abs(marg[1]) < abs(beta[1])
    y = rng.random(n) < special.expit(X @ beta + sigma * rng.normal(size=n))
    fitted = sm.Logit(y.astype(float), X).fit(disp=0).params
    assert marg[1] == pytest.approx(fitted[1], abs=0.02)


@pytest.mark.xdist_group("processes")   # joblib worker processes: see test_parallel.py
def test_results_do_not_depend_on_the_number_of_workers(analysis, config):
    spec = models.ModelSpec(nagq=7, covariates=config.covariates, estimators=config.sim_estimators)
    a = simulation.run(analysis, 3, 11, ["alignment"], spec, parallel.Compute(n_jobs=1), progress=False)[1]
    b = simulation.run(analysis, 3, 11, ["alignment"], spec, parallel.Compute(n_jobs=2), progress=False)[1]
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 3 * len(config.sim_estimators)
    assert set(a["model"]) == {"glmm", "gee", "gee_md", "logit_cluster"}


def test_summary_coverage_and_verdicts():
    truth = pd.DataFrame({"measure": ["m"], "sigma": [0.5], "true_or": [np.e], "true_log_or": [1.0],
                          "true_marginal_log_or": [0.9]})
    fits = pd.DataFrame({"measure": "m", "replicate": range(4), "model": "glmm", "beta": [1.0, 1.1, 0.9, 3.0],
                         "se": 0.1, "converged": [True, True, True, True], "note": ""})
    summ = simulation.summarize(truth, fits)
    assert summ.loc[0, "coverage"] == 0.75 and summ.loc[0, "target"] == "conditional"
    assert summ.loc[0, "bias"] == pytest.approx(0.5)
    assert summ.loc[0, "coverage_ci_low"] < 0.75 < summ.loc[0, "coverage_ci_high"]
    assert simulation.verdicts(summ) == []            # 3 of 4 is compatible with 95% coverage


def test_verdicts_flag_only_coverage_whose_interval_excludes_95_percent():
    truth = pd.DataFrame({"measure": ["m"], "sigma": [0.5], "true_or": [np.e], "true_log_or": [1.0],
                          "true_marginal_log_or": [0.9]})

    def summary(hits, n, model="gee"):
        beta = np.where(np.arange(n) < hits, 0.9, 2.0)
        return simulation.summarize(truth, pd.DataFrame({"measure": "m", "replicate": range(n), "model": model,
                                                         "beta": beta, "se": 0.1, "converged": True, "note": ""}))

    assert simulation.verdicts(summary(36, 40)) == []          # 90% of 40: interval 76-97% holds 95%
    (under,) = simulation.verdicts(summary(170, 200))          # 85% of 200: interval 79-90%
    assert "gee under-covers for m: 85.0% (95% MC interval" in under
    (over,) = simulation.verdicts(summary(1000, 1000))
    assert "over-covers" in over
