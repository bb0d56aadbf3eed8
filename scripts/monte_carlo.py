"""The README's Monte Carlo table: notebook 07's check with more replicates (default 200).

    .venv/bin/python scripts/monte_carlo.py [replicates] [n_jobs]

Runs :func:`trustlib.stats.simulation.run` on the shipped analysis table with the pipeline's seed,
nodes and covariates, and prints the summary as the Markdown table the README shows, with each
coverage's exact binomial 95% interval and the estimators notebook 07 would flag.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustlib import paths, store  # noqa: E402
from trustlib.data import codebook  # noqa: E402
from trustlib.stats import models, parallel, simulation  # noqa: E402
from trustlib.run import config  # noqa: E402


def main(replicates: int = 200, n_jobs: int = 2) -> None:
    cfg = config.RunConfig.load("synthetic")
    analysis = store.read_table(paths.analysis_table("synthetic"))
    t0 = time.perf_counter()
    truth, fits = simulation.run(analysis, replicates, cfg.sim_seed, codebook.scales_with_role("exposure"),
                                 models.ModelSpec.of(cfg.parameters(), estimators="sim_estimators"),
                                 parallel.Compute(n_jobs=n_jobs), progress=False)
    summary = simulation.summarize(truth, fits)
    print(f"{replicates} replicates per measure, seed {cfg.sim_seed}, {n_jobs} workers, "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| measure | estimator (target) | bias (log OR) | empirical SE | mean model SE | 95% CI coverage (exact 95% interval) |")
    print("|---|---|---|---|---|---|")
    for r in summary.itertuples():
        print(f"| {r.measure} | {r.model} ({r.target}) | {r.bias:+.3f} | {r.empirical_se:.3f} | {r.mean_model_se:.3f} "
              f"| {100 * r.coverage:.1f}% ({100 * r.coverage_ci_low:.1f}-{100 * r.coverage_ci_high:.1f}) |")
    print()
    print("\n".join(simulation.verdicts(summary)) or "no coverage differs from 95% beyond Monte Carlo error")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
