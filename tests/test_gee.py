"""The vectorised exchangeable GEE against statsmodels' GEE (an independent implementation,
iterated to the same fixed point): estimates, working correlation, robust and bias-reduced
sandwich, on the shipped analysis table and on random clusters of 1 to 9 members. geepack's
values are checked in test_reference.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsmodels.genmod import cov_struct, families
from statsmodels.genmod.generalized_estimating_equations import GEE

from trustlib.data import cohort
from trustlib.stats import gee, models


def _cases(analysis, covariates):
    rng = np.random.default_rng(3)
    X, _ = models.design(analysis, "quality", True, covariates)
    cases = [(X, analysis["high_high"].to_numpy(float), analysis["clinic_id"].to_numpy())]
    for _ in range(5):
        sizes = rng.integers(1, 10, size=25)
        g = np.repeat(np.arange(25), sizes)
        X = np.column_stack([np.ones(len(g)), rng.normal(size=(len(g), 2))])
        u = rng.normal(size=25)[g]
        y = (rng.random(len(g)) < 1 / (1 + np.exp(-(0.3 * X[:, 1] + u)))).astype(float)
        perm = rng.permutation(len(g))                      # clusters need not be contiguous
        cases.append((X[perm], y[perm], g[perm]))
    return cases


@pytest.fixture(scope="module")
def cases(tables, rules, model_args):
    return _cases(cohort.build_cohort(tables, rules)[1], model_args["covariates"])


@pytest.mark.parametrize("cov_type", ["robust", "bias_reduced"])
def test_gee_equals_statsmodels_at_its_fixed_point(cases, cov_type):
    for X, y, g in cases:
        ref = GEE(y, X, groups=g, family=families.Binomial(), cov_struct=cov_struct.Exchangeable()).fit(
            maxiter=200, ctol=1e-13, ddof_scale=0, cov_type=cov_type)
        fit = gee.fit_gee(X, y, g)
        assert fit.converged and not fit.notes
        assert fit.dep_params == pytest.approx(ref.cov_struct.dep_params, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(fit.params, ref.params, rtol=1e-9, atol=1e-11)
        cov = fit.cov_robust if cov_type == "robust" else fit.cov_robust_bc
        np.testing.assert_allclose(np.sqrt(np.diag(cov)), ref.bse, rtol=1e-8)
        np.testing.assert_allclose(fit.cov_naive, ref.cov_naive, rtol=1e-8, atol=1e-14)


def test_bias_reduced_sandwich_is_wider_with_few_clusters(cases):
    """Mancl-DeRouen inflates each cluster's residual by (I - H)^-1, so its SEs exceed the robust ones."""
    for X, y, g in cases:
        fit = gee.fit_gee(X, y, g)
        assert np.all(np.diag(fit.cov_robust_bc) >= np.diag(fit.cov_robust))


def test_bias_reduced_sandwich_is_computed_once_and_only_when_asked_for(cases, monkeypatch):
    X, y, g = cases[0]
    eager = gee.fit_gee(X, y, g).cov_robust_bc
    meat, calls = gee._bias_reduced_meat, []
    monkeypatch.setattr(gee, "_bias_reduced_meat", lambda *a: calls.append(1) or meat(*a))
    fit = gee.fit_gee(X, y, g)
    assert calls == []                                  # a `gee` fit never pays for it
    assert np.array_equal(fit.cov_robust_bc, eager) and np.array_equal(fit.cov_robust_bc, eager)
    assert calls == [1]


def test_a_bias_reduced_sandwich_that_cannot_be_solved_leaves_the_robust_fit(cases, monkeypatch):
    X, y, g = cases[0]
    robust = gee.fit_gee(X, y, g)

    def singular(*args):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(gee, "_bias_reduced_meat", singular)
    fit = gee.fit_gee(X, y, g)
    assert fit.converged and np.array_equal(fit.params, robust.params) and np.array_equal(fit.cov_robust, robust.cov_robust)
    assert np.all(np.isnan(fit.cov_robust_bc))


def test_independent_clusters_of_one_give_logistic_regression():
    """With every cluster a single clinician there are no pairs: rho = 0 and GEE is logistic
    regression with the (HC0) sandwich."""
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    X = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = (rng.random(200) < 1 / (1 + np.exp(-X @ [0.2, 0.8]))).astype(float)
    fit = gee.fit_gee(X, y, np.arange(200))
    ref = sm.Logit(y, X).fit(disp=0, cov_type="HC0")
    assert fit.dep_params == 0.0
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_robust)), ref.bse, rtol=1e-7)


def test_no_convergence_is_a_note_not_a_number():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(10), 5)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    y = (rng.random(50) < 0.5).astype(float)
    fit = gee.fit_gee(X, y, g, maxiter=1)
    assert not fit.converged and "did not converge" in fit.notes[0]


def test_a_separated_outcome_is_a_note_without_warnings():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(12), 5)
    X = np.column_stack([np.ones(60), rng.normal(size=60)])
    y = (X[:, 1] > 0).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # a RuntimeWarning would fail here
        fit = gee.fit_gee(X, y, g)
    assert not fit.converged and fit.notes and np.all(np.isnan(fit.params))
