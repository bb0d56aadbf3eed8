"""The same tables on another machine: the steps with fits and floating-point sort orders (Table 2,
the leave-one-clinic-out influence with its ranking of clinics, a part of the specification curve)
rerun under a second OpenBLAS kernel (``OPENBLAS_CORETYPE=Prescott``), numpy's baseline SIMD paths
instead of AVX2 (``NPY_DISABLE_CPU_FEATURES=X86_V3``, where the CPU has them) and a random
``PYTHONHASHSEED``, and their tables, numbers and figure data must equal the canonical run's byte
for byte: everything is written at 6 significant digits, and sorted with explicit tie-breaks.

``PYTHONHASHSEED`` belongs nowhere: no output depends on the order of a set or a dict of
strings, which this test checks by running under another seed.

Acceptance: runs the pipeline in a sandbox (:mod:`sandbox`), compared with ``results/``.
"""

from __future__ import annotations

import random
import re

import pandas as pd
import pytest

from sandbox import cli, copy_repository
from trustlib import paths

pytestmark = pytest.mark.xdist_group("machines")

STEPS = ["03_model_culture_and_trust", "06_robustness", "09_clinic_influence"]
GRID = {"robust_org_cutoffs": "[3.0, median]", "robust_patient_cutoffs": "[median, 80]",
        "robust_min_surveys": "[3]", "robust_cutoff_rules": "[at_or_above, above]"}


def _other_machine() -> dict[str, str]:
    env = {"OPENBLAS_CORETYPE": "Prescott", "PYTHONHASHSEED": str(random.randint(1, 2 ** 31))}
    from numpy._core._multiarray_umath import __cpu_features__

    if __cpu_features__.get("X86_V3"):
        env["NPY_DISABLE_CPU_FEATURES"] = "X86_V3"
    return env


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    if not paths.result("synthetic", "manifest.json").exists():
        pytest.fail("results/ missing: run `make all` before the tests")
    root = copy_repository(tmp_path_factory.mktemp("machine"))
    params = root / "params" / "pipeline.yml"
    text = params.read_text()
    for key, value in GRID.items():
        text = re.sub(rf"^{key}:(\s*)\S.*?(\s+#|$)", rf"{key}:\g<1>{value}\g<2>", text, count=1, flags=re.M)
    params.write_text(text)
    run = cli("run", "--only", *STEPS, root=root, env=_other_machine())
    assert run.returncode == 0, run.stderr
    return root / "results"


@pytest.mark.parametrize("output", ["tables/table2.csv", "tables/table2_paper.csv", "tables/table2_glmm_coefficients.csv",
                                    "tables/influence.csv", "figures/influence_leave_one_clinic_out.csv",
                                    "numbers/03_model_culture_and_trust.json", "numbers/09_clinic_influence.json",
                                    "private/leave_one_clinic_out.csv", "private/analysis_table.csv"])
def test_another_blas_kernel_and_cpu_path_give_identical_tables(elsewhere, output):
    assert (elsewhere / output).read_bytes() == paths.result("synthetic", output).read_bytes(), output


def test_the_specification_curve_is_identical_where_the_grids_overlap(elsewhere):
    """The sandbox's smaller grid is a part of the canonical one: its rows are the same rows."""
    mine = pd.read_csv(elsewhere / "tables" / "specification_curve.csv", dtype=str, keep_default_na=False)
    canonical = pd.read_csv(paths.result("synthetic", "tables", "specification_curve.csv"), dtype=str,
                            keep_default_na=False)
    keys = ["measure", "org_trust_cutoff", "patient_trust_cutoff", "cutoff_rule", "min_patient_surveys", "adjusted",
            "model"]
    joined = mine.merge(canonical, on=keys, how="left", suffixes=("", "_canonical"), indicator=True)
    assert (joined["_merge"] == "both").all() and len(mine) == 4 * 2 * 2 * 2 * 2 * 3
    for col in ("or", "ci_low", "ci_high", "p", "supports", "converged"):
        assert (joined[col] == joined[f"{col}_canonical"]).all(), col
