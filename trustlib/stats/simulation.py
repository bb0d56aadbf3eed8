"""Monte Carlo check of the estimators: a parametric bootstrap with a known truth.

The modelled clinicians' covariates and clinics are kept as observed. For each culture
measure the fitted adjusted GLMM (fixed effects ``beta`` and clinic SD ``sigma``) is the
truth: every replicate draws new clinic intercepts ``sigma * b_j`` and outcomes, and refits
every estimator with the pipeline's own model code.

GEE and clustered logistic regression estimate a *marginal* odds ratio, so they are compared
with the marginal truth implied by the same model: the logistic projection of the
population-averaged probabilities ``E_b[expit(x'beta + sigma b)]`` onto the covariates.

Each replicate seeds its own generator from ``(seed, measure index, replicate)``, so results do
not depend on the number of workers or on the joblib backend (local processes, or a Dask
cluster through ``joblib.parallel_backend("dask")``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import special, stats
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from . import estimators as registry
from . import models, parallel
from .glmm import fit_glmm, separation


def marginal_truth(X: np.ndarray, beta: np.ndarray, sigma: float, nodes: int = 40) -> np.ndarray:
    """Population-averaged logistic coefficients implied by a random-intercept model.

    Marginal probabilities by Gauss-Hermite integration over the clinic effect, then the
    binomial-GLM projection of those probabilities on ``X`` (fractional response).
    """
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    m = special.expit((X @ beta)[:, None] + sigma * z[None, :]) @ w
    with warnings.catch_warnings():
        # with sigma = 0 the probabilities are fitted exactly, which statsmodels reads as separation
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        return GLM(m, X, family=families.Binomial()).fit(tol=1e-12).params


def _replicate(df: pd.DataFrame, measure: str, truth: dict, seed: tuple, spec: models.ModelSpec) -> list[dict]:
    rng = np.random.default_rng(seed)
    X, names = models.design(df, measure, True, spec.covariates)
    clinics, g = np.unique(df["clinic_id"].to_numpy(), return_inverse=True)
    b = rng.normal(size=len(clinics))
    y = (rng.random(len(df)) < special.expit(X @ truth["beta"] + truth["sigma"] * b[g])).astype(int)
    sim = df.assign(high_high=y)
    separated = separation(X, y)                   # one check serves every estimator
    rows = []
    for model in spec.estimators:
        r = models.fit_one(sim, measure, model, True, spec, separated=separated)
        rows.append({"measure": measure, "replicate": seed[-1], "model": model, "beta": r["beta"], "se": r["se"],
                     "converged": r["converged"] and np.isfinite(r["beta"]), "note": r["note"]})
    return rows


def truths(analysis: pd.DataFrame, measures: list[str], spec: models.ModelSpec) -> pd.DataFrame:
    """Per measure: the fitted adjusted GLMM used as truth, with conditional and marginal slopes."""
    rows = []
    for m in measures:
        X, names = models.design(analysis, m, True, spec.covariates)
        r = fit_glmm(X, analysis["high_high"].to_numpy(float), analysis["clinic_id"].to_numpy(), names,
                     nagq=spec.nagq)
        marg = marginal_truth(X, r.params, r.sigma)
        rows.append({"measure": m, "beta": r.params, "sigma": r.sigma, "true_or": np.exp(r.params[1]),
                     "true_log_or": r.params[1], "true_marginal_log_or": marg[1]})
    return pd.DataFrame(rows)


def run(analysis: pd.DataFrame, replicates: int, seed: int, measures: list[str], spec: models.ModelSpec,
        compute: parallel.Compute = parallel.Compute(), progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate and refit each of ``spec.estimators`` (names in :mod:`trustlib.stats.estimators`).
    Returns ``(truth, fits)``: one row per measure, one per replicate fit.

    Replicates run where ``compute`` says (:mod:`trustlib.stats.parallel`: local joblib workers,
    or a Dask cluster); results do not depend on the backend or the number of workers.
    With joblib, a progress bar goes to the terminal running the pipeline (``/dev/tty``), not
    into the notebook's outputs; without a terminal (CI) there is no bar.
    """
    from tqdm import tqdm

    truth = truths(analysis, measures, spec)
    tasks = [(m, (seed, k, r)) for k, m in enumerate(measures) for r in range(replicates)]
    by_measure = truth.set_index("measure")
    jobs = (delayed(_replicate)(analysis, m, {"beta": by_measure.loc[m, "beta"], "sigma": by_measure.loc[m, "sigma"]},
                                s, spec) for m, s in tasks)
    if compute.backend != "joblib":
        fits = pd.DataFrame([row for rows in parallel.run(jobs, compute) for row in rows])
        return truth.drop(columns=["beta"]), fits
    results = Parallel(n_jobs=compute.n_jobs, return_as="generator")(jobs)
    tty = _terminal() if progress else None
    bar = tqdm(results, total=len(tasks), desc="Monte Carlo replicates", file=tty, disable=tty is None,
               mininterval=0.5, leave=False)
    try:
        fits = pd.DataFrame([row for rows in bar for row in rows])
    finally:
        bar.close()
        if tty is not None:
            tty.close()
    return truth.drop(columns=["beta"]), fits


def _terminal():
    """The controlling terminal, for progress bars that must not enter notebook outputs."""
    try:
        return open("/dev/tty", "w")
    except OSError:
        return None


def summarize(truth: pd.DataFrame, fits: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per measure and estimator: truth, mean estimate, bias, empirical SE, mean model SE,
    their ratio, CI coverage of the truth (conditional for the GLMM, marginal otherwise)."""
    z = stats.norm.ppf(0.5 + level / 2)
    t = truth.set_index("measure")
    rows = []
    for (m, model), d in fits.groupby(["measure", "model"], sort=False):
        conditional = registry.get(model).target == "conditional"
        target = t.loc[m, "true_log_or" if conditional else "true_marginal_log_or"]
        ok = d[d["converged"]]
        hits = int((np.abs(ok["beta"] - target) <= z * ok["se"]).sum())
        cover = hits / len(ok) if len(ok) else np.nan
        ci = stats.binomtest(hits, len(ok)).proportion_ci(0.95, method="exact") if len(ok) else None
        emp, mod = ok["beta"].std(ddof=1), ok["se"].mean()
        rows.append({"measure": m, "model": model, "target": registry.get(model).target,
                     "true_log_or": target, "replicates": len(d), "converged": len(ok),
                     "mean_log_or": ok["beta"].mean(), "bias": ok["beta"].mean() - target,
                     "empirical_se": emp, "mean_model_se": mod, "se_ratio": mod / emp, "coverage": cover,
                     "coverage_mc_se": np.sqrt(cover * (1 - cover) / max(len(ok), 1)),
                     "coverage_ci_low": ci.low if ci else np.nan, "coverage_ci_high": ci.high if ci else np.nan})
    return pd.DataFrame(rows)


def verdicts(summary: pd.DataFrame, nominal: float = 0.95) -> list[str]:
    """Plain-language statements about estimators whose coverage differs from ``nominal``.

    Only where the exact (Clopper-Pearson) 95% interval of the coverage excludes the nominal
    level: with a few dozen replicates, a coverage of 90% is often Monte Carlo noise.
    """
    out = []
    for r in summary.itertuples():
        band = f"{100 * r.coverage:.1f}% (95% MC interval {100 * r.coverage_ci_low:.1f}-{100 * r.coverage_ci_high:.1f}%)"
        if r.coverage_ci_high < nominal:
            out.append(f"{r.model} under-covers for {r.measure}: {band} of 95% CIs contain the {r.target} truth "
                       f"(model SE / empirical SE = {r.se_ratio:.2f}).")
        elif r.coverage_ci_low > nominal:
            out.append(f"{r.model} over-covers for {r.measure}: {band} of 95% CIs contain the {r.target} truth "
                       f"(model SE / empirical SE = {r.se_ratio:.2f}).")
    return out
