"""The computations with fits and floating-point sort orders, as notebooks 01, 03, 06 and 09 make
them, written the way they write them: run by test_machines.py in a fresh process under another
BLAS kernel and CPU path, and compared with the canonical run's files.

    python tests/cross_machine.py OUTPUT_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

from trustlib import paths, store
from trustlib.data import codebook, cohort, contract
from trustlib.stats import models, robustness
from trustlib.publish import figures, outputs
from trustlib.run import config

GRID = {"org_trust_cutoff": [3.0, "median"], "patient_trust_cutoff": ["median", 80],
        "cutoff_rule": ["at_or_above", "above"], "min_patient_surveys": [3]}


def main(folder: Path) -> None:
    cfg = config.RunConfig.load("synthetic")
    spec = cfg.model_spec
    tables = contract.load_folder(paths.data_dir("synthetic"))
    clinicians, analysis, _ = cohort.build_cohort(tables, cfg.rules)
    measures = codebook.scales_with_role("exposure")
    out = outputs.Writer(folder, "cross_machine")
    analysis = store.read_table(out.private(analysis, "analysis_table"))      # read back, as notebooks 02-09 do
    fits = models.fit_table(analysis, measures, spec, [True, False])                     # notebook 03
    out.csv(fits, "tables", "table2.csv")
    out.csv(models.coefficients(analysis, measures, True, spec), "tables", "table2_glmm_coefficients.csv")
    loo = robustness.leave_one_clinic_out(analysis, measures, spec)                       # notebook 09
    out.private(loo, "leave_one_clinic_out")
    out.table(robustness.influence_summary(loo), "influence")
    out.csv(figures.influence(loo).plotted, "figures", "influence_leave_one_clinic_out.csv")
    curve = robustness.specification_curve(tables, cfg.rules, GRID, measures, spec)
    out.csv(robustness.shareable_spec(curve, None), "tables", "specification_curve.csv")  # notebook 06, a part


if __name__ == "__main__":
    main(Path(sys.argv[1]))
