"""The estimator registry: every estimator answers to one interface, and adding one is a
registry line (a toy estimator here goes through the models' tables and the pipeline's check
of the `estimators` parameter)."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from trustlib.data import cohort
from trustlib.stats import estimators, models
from trustlib.run import config


@pytest.fixture(scope="module")
def analysis(tables, rules):
    return cohort.build_cohort(tables, rules)[1]


@pytest.mark.parametrize("name", list(estimators.REGISTRY))
def test_every_estimator_returns_one_fit_type_with_statsmodels_names(analysis, model_args, name):
    e = estimators.get(name)
    assert e.target in ("conditional", "marginal") and e.label
    X, _ = models.design(analysis, "alignment", True, model_args["covariates"])
    fit = e.fit(X, analysis["high_high"].to_numpy(float), analysis["clinic_id"].to_numpy(), nagq=model_args["nagq"])
    assert isinstance(fit, estimators.Fit) and fit.converged
    assert fit.params.shape == fit.bse.shape == (X.shape[1],) and fit.cov_params().shape == (X.shape[1],) * 2
    assert np.isfinite(fit.llf) == e.likelihood
    assert np.isfinite(fit.clinic_var) == (e.target == "conditional")
    assert fit.nobs == len(analysis) and fit.n_groups == analysis["clinic_id"].nunique()


def test_an_unknown_estimator_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown estimator 'bayes'"):
        estimators.get("bayes")


@pytest.fixture
def toy():
    """A toy estimator (ordinary least squares on the 0/1 outcome, 'marginal'), registered for one test."""
    def fit(X, y, groups, nagq):
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        cov = np.linalg.inv(X.T @ X) * resid.var(ddof=X.shape[1])
        return estimators.Fit(beta, cov, float("nan"), True, len(y), len(set(groups)))

    added = estimators.Estimator("toy_ols", "least squares (toy)", "marginal", False, fit)
    patch = pytest.MonkeyPatch()         # this process only: the recipe test adds one as CONTRIBUTING says
    patch.setattr(estimators, "REGISTRY", MappingProxyType({**estimators.REGISTRY, added.name: added}))
    yield added
    patch.undo()


def test_a_registered_estimator_runs_through_the_tables_and_the_parameter_check(analysis, model_args, toy):
    t = models.fit_table(analysis, ["quality"], models.ModelSpec(**model_args, estimators=["glmm", "toy_ols"]), [True])
    row = t.set_index("model").loc["toy_ols"]
    assert row["converged"] and np.isfinite(row["or"]) and np.isnan(row["loglik"]) and np.isnan(row["clinic_var"])
    assert models.comparison_table(t)["model"].tolist() == ["two-level logistic (GLMM)", "least squares (toy)"]
    cfg = config.RunConfig.load("synthetic", overrides={"estimators": ["glmm", "toy_ols"]})
    assert cfg.estimators == ["glmm", "toy_ols"]
    with pytest.raises(config.ParameterError, match="estimators must be"):
        config.RunConfig.load("synthetic", overrides={"estimators": ["glmm", "nope"]})


def test_the_paper_model_cannot_be_left_out():
    with pytest.raises(config.ParameterError, match="includes glmm"):
        config.RunConfig.load("synthetic", overrides={"estimators": ["gee"]})


def test_gee_and_its_bias_reduced_sandwich_come_from_one_fit_per_data_set(monkeypatch):
    from trustlib.stats import gee

    calls = []
    real = gee.fit_checked
    monkeypatch.setattr(gee, "fit_checked", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(estimators, "GEE_FITS", {})
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(20), 6)
    X = np.column_stack([np.ones(120), rng.normal(size=120)])
    y = (rng.random(120) < 0.4).astype(float)
    plain, reduced = (estimators.get(n).fit(X, y, g, nagq=1) for n in ("gee", "gee_md"))
    assert len(calls) == 1
    np.testing.assert_array_equal(plain.params, reduced.params)
    assert np.all(reduced.bse > plain.bse)                     # the bias-reduced sandwich is wider
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    estimators.get("gee").fit(X, y2, g, nagq=1)                 # other data: fitted anew
    estimators.get("gee").fit(X, y, g.astype(str), nagq=1)      # other cluster labels: fitted anew
    assert len(calls) == 3


def test_the_registry_is_declared_not_changed_at_run_time():
    """Every process that imports the registry sees the same estimators: it cannot be changed."""
    with pytest.raises(TypeError):
        estimators.REGISTRY["toy"] = estimators.REGISTRY["glmm"]
    assert not hasattr(estimators, "register")
    with pytest.raises(ValueError, match="target must be"):
        estimators.Estimator("toy", "toy", "sideways", False, lambda *a, **k: None)
