"""One shared check guards every estimator: each bad input, given to each registered estimator
(and to the fitting functions themselves), is a ValueError that names the problem, never a fit
that looks like a result (a GEE that silently dropped rows or pooled missing cluster IDs, an
all-zero outcome with params of -52 and SEs of 1e-20, a ZeroDivisionError)."""

from __future__ import annotations

import numpy as np
import pytest

from trustlib.stats import estimators, fit, gee, glmm


def _data():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(size=len(g))
    X = np.column_stack([np.ones(len(g)), x, rng.normal(size=len(g))])
    y = (rng.random(len(g)) < 1 / (1 + np.exp(-0.8 * x))).astype(float)
    return X, y, g


def _with(X, col, values):
    X = X.copy()
    X[:, col] = values
    return X


CASES = {   # name: (change, what the message says)
    "groups shorter than y": (lambda X, y, g: (X, y, g[:-5]), "one row per observation"),
    "X shorter than y": (lambda X, y, g: (X[:-2], y, g), "one row per observation"),
    "no observations": (lambda X, y, g: (X[:0], y[:0], g[:0]), "no observations"),
    "NaN cluster IDs": (lambda X, y, g: (X, y, np.where(np.arange(len(g)) < 3, np.nan, g.astype(float))),
                        "missing cluster ID"),
    "None cluster IDs": (lambda X, y, g: (X, y, np.where(np.arange(len(g)) < 3, None, g).astype(object)),
                         "missing cluster ID"),
    "one cluster": (lambda X, y, g: (X, y, np.zeros_like(g)), "at least two clusters"),
    "y all zero": (lambda X, y, g: (X, np.zeros_like(y), g), "y is 0 for every observation"),
    "y all one": (lambda X, y, g: (X, np.ones_like(y), g), "y is 1 for every observation"),
    "y of 0 and 0.5": (lambda X, y, g: (X, y / 2, g), "y must be 0 or 1"),
    "y missing": (lambda X, y, g: (X, np.where(np.arange(len(y)) == 0, np.nan, y), g), "y must be 0 or 1"),
    "NaN in X": (lambda X, y, g: (_with(X, 1, np.where(np.arange(len(y)) == 4, np.nan, X[:, 1])), y, g),
                 "missing or infinite"),
    "duplicated column": (lambda X, y, g: (_with(X, 2, X[:, 1]), y, g), "are identical"),
    "constant column": (lambda X, y, g: (_with(X, 2, 3.0), y, g), "is constant"),
    "X one-dimensional": (lambda X, y, g: (X[:, 1], y, g), "two-dimensional"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", sorted(estimators.REGISTRY))
def test_every_registered_estimator_refuses_each_bad_input_by_name(name, case):
    change, says = CASES[case]
    X, y, g = change(*_data())
    with pytest.raises(ValueError, match=says):
        estimators.get(name).fit(X, y, g, nagq=1)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fit", [lambda X, y, g: gee.fit_gee(X, y, g), lambda X, y, g: glmm.fit_glmm(X, y, g, nagq=1)],
                         ids=["fit_gee", "fit_glmm"])
def test_the_fitting_functions_refuse_them_too(fit, case):
    change, says = CASES[case]
    with pytest.raises(ValueError, match=says):
        fit(*change(*_data()))


def test_good_input_passes_and_names_columns_in_messages():
    X, y, g = _data()
    X2, y2, g2 = fit.check(X, y, g)
    assert X2.dtype == float and y2.dtype == float and len(g2) == len(y)
    with pytest.raises(fit.FitInputError, match="column 'z' is constant"):
        fit.check(_with(X, 2, 0.0), y, g, names=["intercept", "x", "z"])


def test_a_model_table_row_names_the_cause_where_a_cohort_cannot_be_fitted():
    """In a table of fits (the specification curve's cohorts), input one estimator refuses
    becomes a row without an estimate whose note names the cause, not a crash."""
    import pandas as pd

    from trustlib.stats import models

    rng = np.random.default_rng(3)
    n = 120
    df = pd.DataFrame({"clinician_id": [f"C{i}" for i in range(n)], "clinic_id": [f"K{i % 12}" for i in range(n)],
                       "quality": rng.uniform(1, 4, n), "age": rng.normal(47, 9, n), "female": 0.0,
                       "internal_medicine": rng.integers(0, 2, n).astype(float), "apc": rng.integers(0, 2, n).astype(float)})
    df["high_high"] = (rng.random(n) < 0.35).astype(float)
    row = models.fit_one(df, "quality", "gee", True,
                         models.ModelSpec(nagq=1, covariates=["age", "female", "internal_medicine", "apc"]))
    assert not row["converged"] and np.isnan(row["or"])
    assert row["note"].startswith("no fit:") and "column 'female' is constant" in row["note"]
