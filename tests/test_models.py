"""Per-measure model fits: estimators agree where they should, problems become notes or errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from trustlib import cohort, glmm, models


@pytest.fixture(scope="module")
def analysis(tables):
    return cohort.build_cohort(tables)[1]


def test_table_has_every_measure_model_and_adjustment(analysis):
    t = models.fit_table(analysis)
    assert len(t) == 4 * 3 * 2
    assert list(t.columns[:7]) == ["measure", "model", "adjusted", "or", "ci_low", "ci_high", "p"]
    ok = t[t["converged"]]
    assert ((ok["ci_low"] < ok["or"]) & (ok["or"] < ok["ci_high"])).all()


def test_clustered_logit_matches_statsmodels_formula_api(analysis):
    row = models.fit_one(analysis, "alignment", "logit_cluster", True)
    ref = smf.logit("high_high ~ alignment + age + female + internal_medicine + apc", data=analysis).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(analysis["clinic_id"])[0]})
    assert row["or"] == pytest.approx(np.exp(ref.params["alignment"]), rel=1e-6)
    assert row["se"] == pytest.approx(ref.bse["alignment"], rel=1e-6)


def test_glmm_is_further_from_one_than_marginal_estimators(analysis):
    """Conditional ORs exceed marginal ORs in size when clinics vary (attenuation)."""
    t = models.fit_table(analysis, ["quality"], adjusted=(True,))
    by = t.set_index("model")["beta"]
    if t.set_index("model").loc["glmm", "clinic_var"] > 0.05:
        assert abs(by["glmm"]) >= abs(by["gee"]) * 0.95


def test_constant_exposure_is_a_clear_error(analysis):
    flat = analysis.assign(quality=3.0)
    with pytest.raises(models.ModelInputError, match="constant .* across all 162 clinicians"):
        models.fit_one(flat, "quality", "glmm", True)


def test_separation_is_reported_not_printed_as_a_number(analysis):
    sep = analysis.assign(high_high=(analysis["quality"] > analysis["quality"].median()).astype(int))
    for model in models.ESTIMATORS:
        row = models.fit_one(sep, "quality", model, True)
        assert "separation" in row["note"] and np.isnan(row["or"]) and not row["converged"]
    t = pd.DataFrame([models.fit_one(sep, "quality", "glmm", True)])
    assert models.primary_failures(t) and "separation" in models.primary_failures(t)[0]


def test_separation_detector_on_small_cases():
    X = np.column_stack([np.ones(6), [1, 2, 3, 4, 5, 6]])
    assert glmm.separation(X, np.array([0, 0, 0, 1, 1, 1]))
    assert glmm.separation(X, np.array([0, 0, 1, 1, 1, 1]))
    assert not glmm.separation(X, np.array([0, 1, 0, 1, 0, 1]))


def test_non_convergence_is_noted(analysis, monkeypatch):
    from trustlib import glmm

    real = glmm.fit_glmm
    monkeypatch.setattr(models, "fit_glmm", lambda *a, **k: real(*a, **{**k, "maxiter": 1}))
    row = models.fit_one(analysis, "quality", "glmm", True)
    assert not row["converged"] and "did not converge" in row["note"] and np.isnan(row["or"])
    assert models.primary_failures(pd.DataFrame([row]))


def test_formatting():
    assert models.format_p(0.0004) == "<.001" and models.format_p(0.0312) == ".031"
    assert models.format_or({"or": 4.951, "ci_low": 2.02, "ci_high": 12.149}) == "4.95 (2.02-12.15)"


def test_numbers_keys(analysis):
    t = models.fit_table(analysis, ["quality"], models=("glmm",), adjusted=(True,))
    keys = models.table_numbers(t, "table2")
    assert set(keys) == {f"table2.quality.glmm.adjusted.{s}" for s in ("or", "ci_low", "ci_high", "p", "clinic_var")}


def test_formula_is_what_is_fitted(analysis):
    text = models.formula("quality", adjusted=True)
    assert text == "high_high ~ quality + age + female + internal_medicine + apc + (1 | clinic_id)"
    outcome, cols, cluster = models.parse_formula(text)
    assert (outcome, cluster) == ("high_high", "clinic_id")
    X, names = models.design(analysis, "quality", True)
    assert names == cols == ["intercept", "quality", "age", "female", "internal_medicine", "apc"]
    assert np.array_equal(X[:, 1], analysis["quality"].to_numpy(float)) and np.all(X[:, 0] == 1)
    assert models.design(analysis, "quality", False)[1] == ["intercept", "quality"]
    for bad in ("high_high ~ quality", "y ~ a:b + (1 | g)"):
        with pytest.raises(ValueError):
            models.parse_formula(bad)


def test_coefficient_table_matches_table2_row(analysis):
    coefs = models.coefficients(analysis, ["quality"], nagq=7)
    row = models.fit_one(analysis, "quality", "glmm", True, nagq=7)
    q = coefs.set_index("term").loc["quality"]
    assert q["or"] == pytest.approx(row["or"], rel=1e-10) and q["p"] == pytest.approx(row["p"], rel=1e-10)
    assert set(coefs["term"]) == {"intercept", "quality", "age", "female", "internal_medicine", "apc"}


def test_covariate_coding_is_a_parameter_with_checked_names(tables):
    from trustlib import cohort

    _, analysis, _ = cohort.build_cohort(tables)
    assert (analysis["np"] + analysis["pa"] == analysis["apc"]).all()
    assert ((analysis["age"] >= 55) == (analysis["age_55_plus"] == 1)).all()
    split = ["age_40_54", "age_55_plus", "female", "internal_medicine", "np", "pa"]
    assert models.formula("quality", True, covariates=split) == \
        "high_high ~ quality + age_40_54 + age_55_plus + female + internal_medicine + np + pa + (1 | clinic_id)"
    X, names = models.design(analysis, "quality", True, split)
    assert names == ["intercept", "quality"] + split and X.shape == (len(analysis), 8)
    row = models.fit_one(analysis, "quality", "glmm", True, covariates=split)
    default = models.fit_one(analysis, "quality", "glmm", True)
    assert row["converged"] and row["or"] != default["or"]
    with pytest.raises(ValueError, match="not coded in the analysis table"):
        models.formula("quality", True, covariates=["age", "bmi"])


def _gee_pair(X, y, groups, cov_type):
    from statsmodels.genmod import cov_struct, families
    from statsmodels.genmod.generalized_estimating_equations import GEE

    fits = [GEE(y, X, groups=groups, family=families.Binomial(), cov_struct=cs).fit(
        maxiter=100, ddof_scale=0, cov_type=cov_type) for cs in (cov_struct.Exchangeable(), models.Exchangeable())]
    return fits


@pytest.mark.parametrize("cov_type", ["robust", "bias_reduced"])
def test_vectorized_exchangeable_is_statsmodels_own(analysis, cov_type):
    """The GEE's working correlation (models.Exchangeable, its moment estimator vectorized) gives
    statsmodels' own Exchangeable fit: on the analysis table, and on random clusters of 1 to 9
    members (single-member clusters have no pairs)."""
    rng = np.random.default_rng(3)
    cases = [(*models.design(analysis, "quality", True)[:1], analysis["high_high"].to_numpy(float),
              analysis["clinic_id"].to_numpy())]
    for _ in range(5):
        sizes = rng.integers(1, 10, size=25)
        g = np.repeat(np.arange(25), sizes)
        X = np.column_stack([np.ones(len(g)), rng.normal(size=(len(g), 2))])
        u = rng.normal(size=25)[g]
        y = (rng.random(len(g)) < 1 / (1 + np.exp(-(0.3 * X[:, 1] + u)))).astype(float)
        cases.append((X, y, g))
    for X, y, g in cases:
        ref, fast = _gee_pair(X, y, g, cov_type)
        assert fast.cov_struct.dep_params == pytest.approx(ref.cov_struct.dep_params, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(fast.params, ref.params, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(fast.bse, ref.bse, rtol=1e-10)
