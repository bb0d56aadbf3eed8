"""Per-measure model fits: estimators agree where they should, problems become notes or errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from trustlib.data import codebook, cohort
from trustlib.stats import glmm, models


MEASURES = codebook.scales_with_role("exposure")
ESTIMATORS = ["glmm", "gee", "logit_cluster"]


@pytest.fixture(scope="module")
def analysis(tables, rules):
    return cohort.build_cohort(tables, rules)[1]


@pytest.fixture(scope="module")
def fit(model_args):
    """``fit(df, measure, model, adjusted, **changes)``: one row with the canonical choices."""
    def one(df, m, model, adj=True, **kw):
        spec = models.ModelSpec(**{**model_args, **{k: kw.pop(k) for k in ("nagq", "covariates") if k in kw}})
        return models.fit_one(df, m, model, adj, spec, **kw)
    return one


def test_table_has_every_measure_model_and_adjustment(analysis, model_args):
    t = models.fit_table(analysis, MEASURES, models.ModelSpec(**model_args, estimators=ESTIMATORS), [True, False])
    assert len(t) == len(MEASURES) * len(ESTIMATORS) * 2
    assert list(t.columns[:7]) == ["measure", "model", "adjusted", "or", "ci_low", "ci_high", "p"]
    ok = t[t["converged"]]
    assert ((ok["ci_low"] < ok["or"]) & (ok["or"] < ok["ci_high"])).all()


def test_clustered_logit_matches_statsmodels_formula_api(analysis, fit):
    row = fit(analysis, "alignment", "logit_cluster")
    ref = smf.logit("high_high ~ alignment + age + female + internal_medicine + apc", data=analysis).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(analysis["clinic_id"])[0]})
    assert row["or"] == pytest.approx(np.exp(ref.params["alignment"]), rel=1e-6)
    assert row["se"] == pytest.approx(ref.bse["alignment"], rel=1e-6)


def test_glmm_is_further_from_one_than_marginal_estimators(analysis, model_args):
    """Conditional ORs exceed marginal ORs in size when clinics vary (attenuation)."""
    t = models.fit_table(analysis, ["quality"], models.ModelSpec(**model_args, estimators=ESTIMATORS), [True])
    by = t.set_index("model")["beta"]
    if t.set_index("model").loc["glmm", "clinic_var"] > 0.05:
        assert abs(by["glmm"]) >= abs(by["gee"]) * 0.95


def test_constant_exposure_is_a_clear_error_that_quotes_no_answer(analysis, fit):
    flat = analysis.assign(quality=3.0)
    with pytest.raises(models.ModelInputError, match="same for all 162 clinicians") as info:
        fit(flat, "quality", "glmm")
    assert "3.0" not in str(info.value)


def test_separation_is_reported_not_printed_as_a_number(analysis, fit):
    sep = analysis.assign(high_high=(analysis["quality"] > analysis["quality"].median()).astype(int))
    for model in ESTIMATORS + ["gee_md"]:
        row = fit(sep, "quality", model)
        assert "separation" in row["note"] and np.isnan(row["or"]) and not row["converged"]
    t = pd.DataFrame([fit(sep, "quality", "glmm")])
    assert models.primary_failures(t) and "separation" in models.primary_failures(t)[0]


def test_separation_detector_on_small_cases():
    X = np.column_stack([np.ones(6), [1, 2, 3, 4, 5, 6]])
    assert glmm.separation(X, np.array([0, 0, 0, 1, 1, 1]))
    assert glmm.separation(X, np.array([0, 0, 1, 1, 1, 1]))
    assert not glmm.separation(X, np.array([0, 1, 0, 1, 0, 1]))


def test_non_convergence_is_noted(analysis, fit, monkeypatch):
    from trustlib.stats import glmm

    real = glmm.fit_checked
    monkeypatch.setattr(glmm, "fit_checked", lambda *a, **k: real(*a, **{**k, "maxiter": 1}))
    row = fit(analysis, "quality", "glmm")
    assert not row["converged"] and "did not converge" in row["note"] and np.isnan(row["or"])
    assert models.primary_failures(pd.DataFrame([row]))


def test_formatting():
    assert models.format_p(0.0004) == "<.001" and models.format_p(0.0312) == ".031"
    assert models.format_or({"or": 4.951, "ci_low": 2.02, "ci_high": 12.149}) == "4.95 (2.02-12.15)"


def test_numbers_keys(analysis, model_args):
    t = models.fit_table(analysis, ["quality"], models.ModelSpec(**model_args), [True])
    keys = models.table_numbers(t, "table2")
    assert set(keys) == {f"table2.quality.glmm.adjusted.{s}" for s in ("or", "ci_low", "ci_high", "p", "clinic_var")}


def test_formula_is_what_is_fitted(analysis, model_args):
    covariates = model_args["covariates"]
    text = models.formula("quality", True, covariates)
    assert text == "high_high ~ quality + age + female + internal_medicine + apc + (1 | clinic_id)"
    outcome, cols, cluster = models.parse_formula(text)
    assert (outcome, cluster) == ("high_high", "clinic_id")
    X, names = models.design(analysis, "quality", True, covariates)
    assert names == cols == ["intercept", "quality", "age", "female", "internal_medicine", "apc"]
    assert np.array_equal(X[:, 1], analysis["quality"].to_numpy(float)) and np.all(X[:, 0] == 1)
    assert models.design(analysis, "quality", False, covariates)[1] == ["intercept", "quality"]
    for bad in ("high_high ~ quality", "y ~ a:b + (1 | g)"):
        with pytest.raises(ValueError):
            models.parse_formula(bad)


def test_coefficient_table_matches_table2_row(analysis, fit, model_args):
    coefs = models.coefficients(analysis, ["quality"], True, models.ModelSpec(7, model_args["covariates"]))
    row = fit(analysis, "quality", "glmm", nagq=7)
    q = coefs.set_index("term").loc["quality"]
    assert q["or"] == pytest.approx(row["or"], rel=1e-10) and q["p"] == pytest.approx(row["p"], rel=1e-10)
    assert set(coefs["term"]) == {"intercept", "quality", "age", "female", "internal_medicine", "apc"}


def test_covariate_coding_is_a_parameter_with_checked_names(analysis, fit):
    assert (analysis["np"] + analysis["pa"] == analysis["apc"]).all()
    assert ((analysis["age"] >= 55) == (analysis["age_55_plus"] == 1)).all()
    split = ["age_40_54", "age_55_plus", "female", "internal_medicine", "np", "pa"]
    assert models.formula("quality", True, split) == \
        "high_high ~ quality + age_40_54 + age_55_plus + female + internal_medicine + np + pa + (1 | clinic_id)"
    X, names = models.design(analysis, "quality", True, split)
    assert names == ["intercept", "quality"] + split and X.shape == (len(analysis), 8)
    row = fit(analysis, "quality", "glmm", covariates=split)
    default = fit(analysis, "quality", "glmm")
    assert row["converged"] and row["or"] != default["or"]
    with pytest.raises(ValueError, match="not coded in the analysis table"):
        models.formula("quality", True, ["age", "bmi"])


def test_the_normal_quantile_is_scipys_to_the_last_bit():
    from scipy import special

    assert models.Z_975 == special.ndtri(0.975)


def test_the_runner_writes_the_article_without_loading_scipy():
    """models imports scipy (and the GLMM) where a model is fitted: the runner, which reads only
    the model's formula from it (for the article), starts and finishes without that half second."""
    import subprocess
    import sys

    from trustlib import paths

    code = "import sys, trustlib.run.pipeline, trustlib.publish.report, trustlib.publish.article; print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.ROOT, check=True)
    assert done.stdout.strip() == "[]"
