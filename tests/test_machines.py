"""The same tables on another machine: the computations with fits and floating-point sort orders
(Table 2 with every estimator, the GLMM coefficients, the leave-one-clinic-out influence with its
ranking of clinics and its figure's data, a part of the specification curve) rerun in a fresh
process (tests/cross_machine.py) under a second OpenBLAS kernel (``OPENBLAS_CORETYPE=Prescott``),
numpy's baseline SIMD paths instead of AVX2 (``NPY_DISABLE_CPU_FEATURES=X86_V3``, where the CPU
has them) and a random ``PYTHONHASHSEED``; their files must equal the canonical run's byte for
byte: everything is written at 6 significant digits, and sorted with explicit tie-breaks.

``PYTHONHASHSEED`` belongs nowhere: no output depends on the order of a set or a dict of
strings, which this test checks by running under another seed.

Acceptance: compared with ``results/``.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

import pandas as pd
import pytest

from trustlib import paths

pytestmark = pytest.mark.xdist_group("machines")


def _other_machine() -> dict[str, str]:
    env = {"OPENBLAS_CORETYPE": "Prescott", "PYTHONHASHSEED": str(random.randint(1, 2 ** 31)),
           "OPENBLAS_NUM_THREADS": "1"}
    from numpy._core._multiarray_umath import __cpu_features__

    if __cpu_features__.get("X86_V3"):
        env["NPY_DISABLE_CPU_FEATURES"] = "X86_V3"
    return env


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    if not paths.result("synthetic", "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    folder = tmp_path_factory.mktemp("machine")
    run = subprocess.run([sys.executable, str(paths.ROOT / "tests" / "cross_machine.py"), str(folder)],
                         env={**os.environ, **_other_machine()}, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    return folder


@pytest.mark.parametrize("output", ["tables/table2.csv", "tables/table2_glmm_coefficients.csv",
                                    "tables/influence.csv", "figures/influence_leave_one_clinic_out.csv",
                                    "private/leave_one_clinic_out.csv", "private/analysis_table.csv"])
def test_another_blas_kernel_and_cpu_path_give_identical_tables(elsewhere, output):
    assert (elsewhere / output).read_bytes() == paths.result("synthetic", output).read_bytes(), output


def test_the_specification_curve_is_identical_where_the_grids_overlap(elsewhere):
    """The smaller grid is a part of the canonical one: its rows are the same rows."""
    mine = pd.read_csv(elsewhere / "tables" / "specification_curve.csv", dtype=str, keep_default_na=False)
    canonical = pd.read_csv(paths.result("synthetic", "tables", "specification_curve.csv"), dtype=str,
                            keep_default_na=False)
    keys = ["measure", "org_trust_cutoff", "patient_trust_cutoff", "cutoff_rule", "min_patient_surveys", "adjusted",
            "model"]
    joined = mine.merge(canonical, on=keys, how="left", suffixes=("", "_canonical"), indicator=True)
    from cross_machine import GRID
    from trustlib.data import codebook
    from trustlib.run import config

    specs = math.prod(len(v) for v in GRID.values())   # measures x grid x (adjusted, unadjusted) x estimators
    n = len(codebook.scales_with_role("exposure")) * specs * 2 * len(config.RunConfig.load("synthetic").estimators)
    assert (joined["_merge"] == "both").all() and len(mine) == n
    for col in ("or", "ci_low", "ci_high", "p", "supports", "converged", "n", "n_events"):
        assert (joined[col] == joined[f"{col}_canonical"]).all(), col
