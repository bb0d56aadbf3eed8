"""trustlib's estimators against reference values written by R (tests/reference/).

``make reference`` regenerates the case data (``make_cases.py``) and the JSON files
(``glmer.R``: lme4 ``glmer`` at nAGQ 1, 3 and 15; ``marginal.R``: geepack ``geeglm`` and
``sandwich::vcovCL``); these tests read the committed JSON and need no R.

Tolerances (relative to the R value): GLMM fixed effects, SEs and the clinic variance 1e-4,
log-likelihood 1e-6 absolute; GEE estimates and SEs 1e-8 (geepack iterated to convergence);
clustered logistic regression 1e-4. Two documented exceptions, each checked rather than skipped:

* where trustlib's log-likelihood exceeds lme4's by more than 1e-6 (one case: ``large_variance``
  at nAGQ 1, clinic variance 7), lme4 is the one off: the test evaluates the exact objective at
  lme4's estimates and requires it to be no higher than trustlib's maximum and within 1e-6 of
  either that maximum (lme4 reached it but reports an imprecise value) or lme4's reported value
  (lme4 stopped short); estimates are then compared at 1e-3;
* ``scaled_x1000`` (a covariate times 1000): lme4 warns that predictors are on very different
  scales and its finite-difference SEs are off by about 5e-4; trustlib's answer must equal the
  unscaled case's (estimates and SEs rescaled by 1000), which lme4 fits without complaint.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trustlib import paths
from trustlib.stats import estimators, glmm

REF = paths.ROOT / "tests" / "reference"
CASES = {c["name"]: c for c in json.loads((REF / "cases.json").read_text())}
GLMER = json.loads((REF / "glmer.json").read_text())
MARGINAL = json.loads((REF / "marginal.json").read_text())


def load(case: str):
    spec = CASES[case]
    d = pd.read_csv(REF / "cases" / spec["data"])
    X = np.column_stack([np.ones(len(d))] + [d[v].to_numpy(float) for v in spec["covariates"]])
    return X, d["y"].to_numpy(float), d["g"].to_numpy()


def lme4(case: str, nagq: int) -> dict:
    return next(f for f in GLMER["fits"] if f["case"] == case and f["nagq"] == nagq)


def rel(a, b) -> float:
    """Largest relative difference; an absolute one where the reference is exactly 0."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.where(b == 0, 1.0, np.abs(b))))


def test_reference_files_cover_what_the_issue_lists():
    assert GLMER["software"]["lme4"] and GLMER["software"]["R"].startswith("R version")
    assert {"R", "geepack", "sandwich"} <= set(MARGINAL["software"])
    assert {f["nagq"] for f in GLMER["fits"]} == {1, 3, 15}
    names = set(CASES)
    assert sum(n.startswith("shipped_") for n in names) == 8          # 4 measures x adjusted/unadjusted
    assert {"cbpp", "contraception", "few_clusters", "singletons", "large_variance", "scaled_x1000",
            "near_separation"} <= names
    assert len(GLMER["fits"]) == 3 * sum(c.get("glmer", True) for c in CASES.values())
    assert {(f["case"], f["model"]) for f in MARGINAL["fits"]} == {
        (n, m) for n in names if n.startswith("shipped_") or n in ("cbpp", "contraception", "verbagg")
        for m in ("gee", "logit_cluster")}


def test_shipped_case_is_the_current_analysis_table():
    """The committed reference data are today's shipped cohort (else rerun `make reference`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_cases", REF / "make_cases.py")
    make_cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_cases)
    fresh, _ = make_cases.shipped()
    committed = pd.read_csv(REF / "cases" / "shipped.csv")
    pd.testing.assert_frame_equal(fresh.reset_index(drop=True), committed, check_dtype=False, atol=1e-9)


@pytest.mark.parametrize("ref", GLMER["fits"], ids=lambda f: f"{f['case']}-nagq{f['nagq']}")
def test_glmm_agrees_with_lme4(ref):
    X, y, g = load(ref["case"])
    fit = glmm.fit_glmm(X, y, g, nagq=ref["nagq"])
    coef, se, var = np.array(ref["coef"]), np.array(ref["se"]), ref["clinic_var"]
    tol = 1e-4
    if fit.llf - ref["loglik"] > 1e-6:
        at_lme4 = glmm._Problem(X, y, g, ref["nagq"]).evaluate(np.append(coef, np.sqrt(var)), grad=False)
        assert at_lme4 <= fit.llf + 1e-9
        assert min(abs(at_lme4 - fit.llf), abs(at_lme4 - ref["loglik"])) < 1e-6
        tol = 1e-3
    else:
        assert fit.llf == pytest.approx(ref["loglik"], abs=1e-6)
    if ref["case"] == "scaled_x1000":
        unscaled = lme4("unscaled_x1000", ref["nagq"])
        se = np.array(unscaled["se"]) / np.array([1, 1000, 1])
        assert any("different scales" in w for w in ref["warnings"])
    assert rel(fit.params, coef) < tol
    assert rel(fit.bse, se) < tol
    assert rel(fit.clinic_var, var) < tol or abs(fit.clinic_var - var) < 1e-8     # both at the boundary, 0
    if ref["case"] == "near_separation":
        assert not fit.converged and any("near-separation" in n for n in fit.notes)
    else:
        assert fit.converged, fit.notes


@pytest.mark.parametrize("ref", MARGINAL["fits"], ids=lambda f: f"{f['case']}-{f['model']}")
def test_marginal_models_agree_with_geepack_and_sandwich(ref):
    """GEE (both iterated to convergence) agrees with geepack to 1e-8; the clustered logistic
    regression with sandwich::vcovCL to 1e-4 (statsmodels' Newton stops at its own tolerance)."""
    X, y, g = load(ref["case"])
    res = estimators.get(ref["model"]).fit(X, y, g, nagq=15)
    tol = 1e-8 if ref["model"] == "gee" else 1e-4
    assert np.allclose(res.params, ref["coef"], rtol=tol, atol=tol * 1e-3)
    assert rel(res.bse, ref["se"]) < tol


def test_scaled_covariate_gives_the_unscaled_answer():
    for nagq in (1, 3, 15):
        a = glmm.fit_glmm(*load("unscaled_x1000"), nagq=nagq)
        b = glmm.fit_glmm(*load("scaled_x1000"), nagq=nagq)
        scale = np.array([1, 1000, 1])
        assert rel(b.params * scale, a.params) < 1e-6
        assert rel(b.bse * scale, a.bse) < 1e-5
        assert b.llf == pytest.approx(a.llf, abs=1e-9)
