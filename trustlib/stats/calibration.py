"""How often the synthetic generator, unselected, meets the scorecard's calibration targets.

The shipped cohort is a selected draw: ``scripts/calibrate_synthetic.py`` kept the first seed
(of those tried, :data:`SEARCHED_SEEDS`) whose cohort met every row of the scorecard. That it
meets them shows that the selection holds, not that the pipeline reproduces the paper. This module draws
fresh cohorts from the same generator with seeds outside that search and runs the pipeline's
own cohort rules and adjusted GLMM on each, so the pass rate of every scorecard row, and of
all rows together, can stand beside the shipped cohort's result.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
from joblib import delayed
from scipy import special

from ..data import codebook, cohort, scales, synth
from . import models, parallel, scorecard

SEARCHED_SEEDS = range(20211108, 20211118)  # the seeds the calibration tried (data/synthetic/CALIBRATION.md)


def analyse(tables: dict, rules: cohort.Rules, spec: models.ModelSpec
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The pipeline's cohort rules and adjusted GLMMs (``spec``'s quadrature and covariates; the
    paper's model alone, whatever its estimators) on raw tables."""
    clin, analysis, _ = cohort.build_cohort(tables, rules)
    fits = models.fit_table(analysis, codebook.scales_with_role("exposure"),
                            dataclasses.replace(spec, estimators=("glmm",)), [True])
    return clin, analysis, fits


def scorecard_numbers(tables: dict, clin: pd.DataFrame, analysis: pd.DataFrame, fits: pd.DataFrame) -> dict:
    """The numbers the scorecard reads, from one cohort (keys as in ``numbers.json``)."""
    c = tables["clinicians"]
    n = {"flow.n_clinics": len(tables["clinics"]), "flow.n_clinicians": len(c),
         "flow.n_patients": len(tables["patients"]), "flow.n_modelled": len(analysis),
         "outcome.n_high_high": int(analysis["high_high"].sum()),
         "outcome.pct_high_high": 100 * analysis["high_high"].mean(),
         "sample.age_mean": clin["age"].mean(), "sample.age_sd": clin["age"].std(ddof=1),
         "sample.n_women": int((c["sex"] == "female").sum()),
         "sample.n_physicians": int((c["clinician_type"] == "physician").sum()),
         "sample.n_family": int((c["specialty"] == "family").sum()),
         "reliability.org_trust.alpha": scales.cronbach_alpha(scales.reversed_items(c, "org_trust"))}
    n.update(models.table_numbers(fits, "table2"))
    return n


def score_seed(gen: dict, rules: cohort.Rules, seed: int, published: pd.DataFrame, spec: models.ModelSpec
               ) -> pd.DataFrame:
    """The scorecard (:func:`trustlib.stats.scorecard.build`) of the cohort the generator draws with
    ``seed``, analysed under ``rules``; every row fails when the cohort cannot be modelled."""
    g = copy.deepcopy(gen)
    g["seed"] = int(seed)
    tables = synth.generate(g)
    try:
        clin, analysis, fits = analyse(tables, rules, spec)
        numbers = scorecard_numbers(tables, clin, analysis, fits)
    except (cohort.CohortError, models.ModelInputError):
        numbers = {}
    return scorecard.build(published, numbers)


def _one_seed(gen: dict, rules: cohort.Rules, seed: int, published: pd.DataFrame, spec: models.ModelSpec) -> pd.Series:
    card = score_seed(gen, rules, seed, published, spec)
    return card.set_index("key")["verdict"] == scorecard.PASS


def unselected_pass_rates(gen: dict, rules: cohort.Rules, seeds, published: pd.DataFrame, spec: models.ModelSpec,
                          compute: parallel.Compute = parallel.Compute()) -> pd.DataFrame:
    """Per scorecard row, and for all rows together (``key = "all rows"``): how many of the
    cohorts drawn with ``seeds`` pass, the pass rate (0-1) and its exact 95% binomial interval.

    Raises ``ValueError`` if a seed was part of the calibration's search (it would not be fresh).
    """
    seeds = list(seeds)
    reused = sorted(set(seeds) & set(SEARCHED_SEEDS))
    if reused:
        raise ValueError(f"seeds {reused[:5]} were searched by the calibration; choose fresh seeds")
    passed = pd.DataFrame(parallel.run((delayed(_one_seed)(gen, rules, s, published, spec) for s in seeds), compute))
    counts = pd.concat([passed.sum(), pd.Series({"all rows": int(passed.all(axis=1).sum())})])
    out = pd.DataFrame({"key": counts.index, "passes": counts.to_numpy(dtype=int), "seeds": len(seeds)})
    out["pass_rate"] = out["passes"] / out["seeds"]
    out["ci_low"], out["ci_high"] = clopper_pearson(out["passes"].to_numpy(), len(seeds))
    return out


def clopper_pearson(k, n: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval of a proportion, ``k`` successes of ``n``, at ``level``:
    the quantiles of the beta distributions that bound it (0 below ``k = 0``, 1 above ``k = n``),
    as ``scipy.stats.binomtest(k, n).proportion_ci(method="exact")`` gives them (tested), without
    importing scipy.stats, which took notebook 08 a second."""
    k = np.asarray(k, dtype=float)
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k == 0, 0.0, special.betaincinv(np.maximum(k, 1), n - k + 1, tail))
        high = np.where(k == n, 1.0, special.betaincinv(k + 1, np.maximum(n - k, 1), 1 - tail))
    return low, high
