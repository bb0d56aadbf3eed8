"""Robustness to the paper's unreported choices: a specification curve and clinic influence.

A *specification* is one choice of: clinician-trust cut-off (1-4 scale, or the sample
median), patient-trust cut-off (0-100, or median / upper tertile), whether a score equal to the
cut-off counts as high (``at_or_above``) or not (``above``), minimum patient surveys per
clinician, adjusted or unadjusted, and estimator (GLMM, GEE, clustered logistic). Each is refitted with the pipeline's own cohort rules and models (:mod:`trustlib.data.cohort`,
:mod:`trustlib.stats.models`). Choices that select the same clinicians with the same outcomes (for
example a minimum of 1 or 2 surveys when every clinician has at least 3) share one set of fits.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd
from joblib import delayed

from .. import store
from ..data import cohort
from . import models, parallel
from .glmm import fit_glmm, separation
from .fit import FitInputError

CHOICES = ["org_trust_cutoff", "patient_trust_cutoff", "cutoff_rule", "min_patient_surveys", "adjusted", "model"]
GRID = CHOICES[:4]     # the cohort choices a grid varies (the others: adjusted or not, and the estimators)


def _fits(analysis: pd.DataFrame, measures, spec: models.ModelSpec) -> list[dict]:
    """Every measure x adjusted x estimator on one analysis table."""
    y = analysis["high_high"].to_numpy(dtype=float)
    rows = []
    for m in measures:
        separated = True
        for adj in (True, False):
            try:
                # the unadjusted design's columns are a subset of the adjusted one's: data the
                # adjusted model does not separate, the unadjusted cannot (no new LP needed)
                if separated:
                    separated = separation(models.design(analysis, m, adj, spec.covariates)[0], y)
                rows += [models.fit_one(analysis, m, model, adj, spec, separated=separated)
                         for model in spec.estimators]
            except models.ModelInputError as err:
                rows += [{"measure": m, "model": model, "adjusted": adj, "note": str(err)}
                         for model in spec.estimators]
    return rows


def _cohorts(scored, grid, measures, min_clinicians_per_clinic: int) -> tuple[list, dict]:
    """The analysis table of every grid cell, keyed by content: cells whose choices select the
    same clinicians with the same outcome share one key (and one set of fits).

    A cell's analysis table is fixed by the clinicians it includes and their two trust
    dichotomies (every other column is theirs, whatever the cell), so the key is the digest of
    those, and the table is built once per key."""
    keys, tables = [], {}
    eligible = {n: cohort.apply_sufficient_data(scored, n, measures, min_clinicians_per_clinic)
                for n in dict.fromkeys(cell[3] for cell in grid)}      # the rule depends on the minimum alone
    included = {n: e[e["included"]] for n, e in eligible.items()}
    for org_cut, pat_cut, rule, min_surveys in grid:
        chosen = included[min_surveys]
        try:
            if chosen.empty:   # dichotomize says why
                cohort.dichotomize(eligible[min_surveys], org_cut, pat_cut, rule, min_surveys,
                                   min_clinicians_per_clinic)
            hi_org, hi_pat, _ = cohort.high_trust(chosen, org_cut, pat_cut, rule)
        except cohort.CohortError as err:
            keys.append(("error", str(err)))
            continue
        key = hashlib.sha256("\x1f".join(chosen["clinician_id"]).encode() + b"|"
                             + hi_org.to_numpy(bool).tobytes() + hi_pat.to_numpy(bool).tobytes()).hexdigest()
        keys.append(key)
        if key not in tables:
            tables[key] = cohort.dichotomize(eligible[min_surveys], org_cut, pat_cut, rule, min_surveys,
                                             min_clinicians_per_clinic)[0]
    return keys, tables


def specification_curve(tables: dict, main: cohort.Rules, grid: dict, measures: list[str], spec: models.ModelSpec,
                        compute: parallel.Compute = parallel.Compute()) -> pd.DataFrame:
    """Every specification for every measure: one row each with OR, CI, P and the choices.

    ``main``: the main analysis's rules (its adjusted GLMM rows get ``main = True``; its other
    rules, such as the minimum clinicians per clinic, hold in every cell). ``grid`` maps each of
    :data:`GRID` to the values to try. Each cohort is fitted with every estimator of ``spec``,
    where ``compute`` says (:mod:`trustlib.stats.parallel`). ``supports`` (OR > 1 and
    P < .05) is judged on the values as written (6 significant digits), the same on every machine.
    """
    scored = cohort.score_cohort(tables, main.on_all_missing_scale, main.min_answered_items)
    cells = list(itertools.product(*(grid[c] for c in GRID)))
    keys, unique = _cohorts(scored, cells, measures, main.min_clinicians_per_clinic)
    tasks = (delayed(_fits)(a, measures, spec) for a in unique.values())
    fitted = dict(zip(unique, parallel.run(tasks, compute)))
    rows = []
    for (org_cut, pat_cut, rule, min_surveys), key in zip(cells, keys):
        if isinstance(key, tuple):
            cell = [{"measure": m, "note": key[1]} for m in measures]
        else:
            cell = [dict(r, pct_high_high=100 * unique[key]["high_high"].mean()) for r in fitted[key]]
        rows += [dict(r, org_trust_cutoff=str(org_cut), patient_trust_cutoff=str(pat_cut), cutoff_rule=rule,
                      min_patient_surveys=min_surveys) for r in cell]
    spec = store.written(pd.DataFrame(rows))
    spec["main"] = ((spec["org_trust_cutoff"] == str(main.org_trust_cutoff))
                    & (spec["patient_trust_cutoff"] == str(main.patient_trust_cutoff))
                    & (spec["min_patient_surveys"] == main.min_patient_surveys)
                    & (spec["cutoff_rule"] == main.cutoff_rule)
                    & (spec["model"] == "glmm") & (spec["adjusted"] == True))  # noqa: E712
    spec["supports"] = (spec["or"] > 1) & (spec["p"] < 0.05)
    cols = ["measure"] + CHOICES + ["main", "or", "ci_low", "ci_high", "p", "supports", "n", "n_events",
                                    "pct_high_high", "converged", "note"]
    return spec[cols].sort_values(["measure"] + CHOICES, kind="mergesort").reset_index(drop=True)


def support_summary(spec: pd.DataFrame) -> pd.DataFrame:
    """Per measure: specifications, share with OR > 1, share with OR > 1 and P < .05, OR range."""
    ok = spec[np.isfinite(spec["or"])]
    g = ok.groupby("measure", sort=False)
    out = pd.DataFrame({"specifications": spec.groupby("measure", sort=False).size(),
                        "estimable": g.size(),
                        "share_or_above_1": g.apply(lambda d: (d["or"] > 1).mean(), include_groups=False),
                        "share_or_above_1_p_below_05": g["supports"].mean(),
                        "or_min": g["or"].min(), "or_median": g["or"].median(), "or_max": g["or"].max()})
    return out.reset_index()


def leave_one_clinic_out(analysis: pd.DataFrame, measures: list[str], spec: models.ModelSpec) -> pd.DataFrame:
    """Adjusted GLMM refitted without each clinic in turn: measure, dropped clinic, OR, CI, change.

    ``delta_log_or`` is the change in log OR against the full-sample fit. Each refit starts from
    the full fit's estimates (``fit_glmm(start=...)``): a few Newton steps instead of a search
    from scratch, to the same tolerance.
    """
    rows = []
    for m in measures:
        full = models.fit_one(analysis, m, "glmm", True, spec)
        X, names = models.design(analysis, m, True, spec.covariates)
        start = fit_glmm(X, analysis["high_high"].to_numpy(float), analysis["clinic_id"].to_numpy(), names,
                         nagq=spec.nagq)
        for clinic in sorted(analysis["clinic_id"].unique()):
            sub = analysis[analysis["clinic_id"] != clinic]
            X, names = models.design(sub, m, True, spec.covariates)
            try:
                r = fit_glmm(X, sub["high_high"].to_numpy(float), sub["clinic_id"].to_numpy(), names, nagq=spec.nagq,
                             start=start)
            except FitInputError:           # without this clinic the model cannot be fitted (a constant covariate)
                rows.append({"measure": m, "dropped_clinic": clinic, "n": len(sub), "or": np.nan, "ci_low": np.nan,
                             "ci_high": np.nan, "p": np.nan, "full_or": full["or"], "delta_log_or": np.nan,
                             "converged": False})
                continue
            t = r.summary_frame().iloc[1]
            rows.append({"measure": m, "dropped_clinic": clinic, "n": len(sub), "or": t["or"],
                         "ci_low": t["ci_low"], "ci_high": t["ci_high"], "p": t["p"], "full_or": full["or"],
                         "delta_log_or": np.log(t["or"]) - np.log(full["or"]), "converged": r.converged})
    return pd.DataFrame(rows)


def influence_summary(loo: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Per measure: full OR, range of leave-one-out ORs, and the most influential clinics (the
    largest changes in log OR as written, ties broken by clinic ID: the same on every machine)."""
    rows = []
    for m, d in store.written(loo).groupby("measure", sort=False):
        d = d.assign(abs_delta=d["delta_log_or"].abs()).sort_values(["abs_delta", "dropped_clinic"],
                                                                     ascending=[False, True])
        rows.append({"measure": m, "full_or": d["full_or"].iloc[0], "loo_or_min": d["or"].min(),
                     "loo_or_max": d["or"].max(), "share_p_below_05": (d["p"] < 0.05).mean(),
                     "most_influential": ", ".join(d["dropped_clinic"].head(top))})
    return pd.DataFrame(rows)


def shareable_spec(spec: pd.DataFrame, k: int | None) -> pd.DataFrame:
    """The specification curve as it may leave ``private/``: on real data (``k`` set) without the
    per-specification counts (``n``, ``n_events``, ``pct_high_high``), whose differences
    between neighbouring specifications count a handful of clinicians."""
    return spec if k is None else spec.drop(columns=["n", "n_events", "pct_high_high"])


def shareable_influence(influence: pd.DataFrame, k: int | None) -> pd.DataFrame:
    """The influence summary as it may leave ``private/``: on real data without the most
    influential clinics' IDs."""
    return influence if k is None else influence.drop(columns=["most_influential"])
