"""The Monte Carlo check and the multiverse give identical results on local joblib workers and
on a Dask cluster (a LocalCluster with 2 worker processes on this machine)."""

from __future__ import annotations

import pandas as pd
import pytest

from trustlib.data import cohort
from trustlib.stats import models, parallel, robustness, simulation

# the tests that start worker processes run on one test worker (group "processes"), so that
# joblib starts its reusable pool of two worker processes once, not once per test worker
pytestmark = pytest.mark.xdist_group("processes")


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("dask.distributed", reason="the optional dask extra is not installed")
    # the scheduler's HTTP server on a free port: with dashboard_address=None it takes 8787, which a
    # second test run beside this one (another clone) already holds
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def analysis(tables, rules):
    return cohort.build_cohort(tables, rules)[1]


def test_monte_carlo_is_identical_on_dask(analysis, scheduler, config):
    spec = models.ModelSpec(nagq=7, covariates=config.covariates, estimators=config.sim_estimators)
    local = simulation.run(analysis, 3, 11, ["quality", "alignment"], spec, parallel.Compute(n_jobs=2), progress=False)
    dask = simulation.run(analysis, 3, 11, ["quality", "alignment"], spec,
                          parallel.Compute(backend="dask", scheduler=scheduler))
    pd.testing.assert_frame_equal(local[0], dask[0])
    pd.testing.assert_frame_equal(local[1], dask[1])


def test_multiverse_is_identical_on_dask(tables, scheduler, config, rules):
    grid = {"org_trust_cutoff": [3.0, "median"], "patient_trust_cutoff": ["median"],
            "cutoff_rule": ["at_or_above", "above"], "min_patient_surveys": [3]}
    spec = models.ModelSpec(nagq=7, covariates=config.covariates, estimators=config.estimators)
    local = robustness.specification_curve(tables, rules, grid, ["quality"], spec, parallel.Compute(n_jobs=2))
    dask = robustness.specification_curve(tables, rules, grid, ["quality"], spec,
                                          parallel.Compute(backend="dask", scheduler=scheduler))
    pd.testing.assert_frame_equal(local, dask)
    assert len(local) == 2 * 2 * 2 * len(config.estimators)     # cut-offs x rules x adjusted x estimators


def test_unknown_backend_or_missing_scheduler_is_a_clear_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        parallel.run([], parallel.Compute(backend="spark"))
    with pytest.raises(ValueError, match="needs the scheduler's address"):
        parallel.run([], parallel.Compute(backend="dask"))
