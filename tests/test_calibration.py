"""Pass rates of unselected synthetic cohorts: fresh seeds only, the rates are counts over the
seeds drawn, 'all rows' is the joint rate, and the result does not depend on the workers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from trustlib import params
from trustlib.stats import calibration, models, parallel, scorecard

pytestmark = pytest.mark.xdist_group("processes")   # joblib worker processes: see test_parallel.py


@pytest.fixture(scope="module")
def rates(rules, config):
    return calibration.unselected_pass_rates(params.synthetic_params(), rules, range(1, 5),
                                             scorecard.load_published(), models.ModelSpec(7, config.covariates))


def test_seeds_the_calibration_searched_are_refused(rules, config):
    with pytest.raises(ValueError, match="searched by the calibration"):
        calibration.unselected_pass_rates(params.synthetic_params(), rules, [calibration.SEARCHED_SEEDS.start],
                                          scorecard.load_published(), models.ModelSpec(7, config.covariates))


def test_rates_are_counts_over_seeds_with_exact_intervals(rates):
    published = scorecard.load_published()
    assert list(rates["key"]) == list(published["key"]) + ["all rows"]
    assert (rates["seeds"] == 4).all() and rates["passes"].between(0, 4).all()
    assert (rates["pass_rate"] == rates["passes"] / 4).all()
    assert (rates["ci_low"] <= rates["pass_rate"]).all() and (rates["pass_rate"] <= rates["ci_high"]).all()
    joint = rates.set_index("key").loc["all rows", "passes"]
    assert joint <= rates.set_index("key").drop("all rows")["passes"].min()


def test_fixed_design_rows_always_pass(rates):
    """Sizes are fixed by the generator, so every draw meets them: a rate below 1 means the
    scoring changed, not the luck of the draw."""
    r = rates.set_index("key")["pass_rate"]
    assert r[["n_clinics", "n_clinicians", "n_patients"]].eq(1.0).all()


def test_workers_do_not_change_the_result(rates, rules, config):
    again = calibration.unselected_pass_rates(params.synthetic_params(), rules, range(1, 5),
                                              scorecard.load_published(), models.ModelSpec(7, config.covariates),
                                              parallel.Compute(n_jobs=2))
    assert again.equals(rates)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 333])
def test_exact_intervals_are_scipys_binomial_test(n):
    low, high = calibration.clopper_pearson(np.arange(n + 1), n)
    for k in range(n + 1):
        ci = stats.binomtest(k, n).proportion_ci(method="exact")
        assert low[k] == pytest.approx(ci.low, abs=1e-11) and high[k] == pytest.approx(ci.high, abs=1e-11)
    assert low[0] == 0.0 and high[n] == 1.0


def test_notebook_08s_library_does_not_import_scipy_stats():
    code = "import sys, trustlib.stats.calibration; print('scipy.stats' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
