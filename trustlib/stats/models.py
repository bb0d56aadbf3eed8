"""Outcome models: one model per culture measure, odds ratio per 1-point increase (1-4 scale).

Every estimator comes from the registry (:mod:`trustlib.stats.estimators`: the paper's two-level
``glmm``, and ``gee``, ``gee_md``, ``logit_cluster`` beside it) and shares one code path: its
:class:`~trustlib.stats.estimators.Fit` becomes one row of the tidy model table, the exposure's
coefficient with its Wald CI and P.

The model is written once, as a formula in lme4's notation (:func:`formula`); :func:`design`
builds the design matrix from that string, so what a notebook prints is what is fitted.
Problems are never printed as numbers: a constant exposure raises :class:`ModelInputError`;
separation, non-convergence and a boundary clinic variance are written in ``note`` and, for
separation and non-convergence, the estimate is left blank.

scipy (and the GLMM) are imported where a model is fitted or a P value computed, not with the
module: the runner, which only writes the model's formula into the article, never loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .. import InputError
from ..data import codebook
from . import estimators
from .fit import FitInputError
from ..data.cohort import COVARIATE_CODINGS

TABLE_COLUMNS = ["measure", "model", "adjusted", "or", "ci_low", "ci_high", "p", "beta", "se",
                 "clinic_var", "loglik", "n", "n_clinics", "n_events", "converged", "note"]


class ModelInputError(InputError):
    """The analysis table cannot support a model (message names the measure and reason)."""


@dataclass(frozen=True)
class ModelSpec:
    """How a run fits its models, built once from its parameters (:meth:`of`).

    ``nagq``: quadrature nodes per clinic for the GLMM (1 = Laplace); ``covariates``: the
    adjustment set (columns of the analysis table, :data:`trustlib.data.cohort.COVARIATE_CODINGS`);
    ``estimators``: the registry's names (:mod:`trustlib.stats.estimators`) a table fits, the
    paper's model alone unless given.
    """

    nagq: int
    covariates: tuple[str, ...]
    estimators: tuple[str, ...] = ("glmm",)

    def __post_init__(self):
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "estimators", tuple(self.estimators))

    @classmethod
    def of(cls, values: Mapping, estimators: str = "estimators") -> "ModelSpec":
        """The model settings among ``values`` (a run's parameters, or a notebook's): ``nagq``,
        ``covariates`` and the estimator list under the key ``estimators`` (``sim_estimators``
        for the Monte Carlo check; without it, the paper's model alone)."""
        return cls(nagq=values["nagq"], covariates=values["covariates"],
                   estimators=values.get(estimators, cls.estimators))


def formula(exposure: str, adjusted: bool, covariates: list[str], outcome: str = "high_high",
            cluster: str = "clinic_id") -> str:
    """The model in lme4's notation, e.g. ``high_high ~ quality + age + female + ... + (1 | clinic_id)``;
    ``covariates`` (columns of the analysis table, :data:`trustlib.data.cohort.COVARIATE_CODINGS`)
    enter when ``adjusted``.

    :func:`design` builds the design matrix from this string, so what a notebook prints is what
    is fitted.
    """
    covariates = check_covariates(covariates)
    return f"{outcome} ~ {' + '.join([exposure] + (covariates if adjusted else []))} + (1 | {cluster})"


def check_covariates(covariates: list[str]) -> list[str]:
    """The adjustment set, checked: columns coded in the analysis table."""
    unknown = [c for c in covariates if c not in COVARIATE_CODINGS]
    if unknown:
        raise ValueError(f"covariates {unknown} are not coded in the analysis table; choose from {COVARIATE_CODINGS}")
    return list(covariates)


def parse_formula(text: str) -> tuple[str, list[str], str]:
    """Outcome, fixed-effect columns (intercept first, as ``"intercept"``) and cluster of a
    random-intercept formula ``y ~ a + b + (1 | g)``; numeric main effects only (parsed once per
    formula: the specification curve builds the same few designs thousands of times)."""
    outcome, cols, cluster = _parse_formula(text)
    return outcome, list(cols), cluster


@lru_cache(maxsize=256)
def _parse_formula(text: str) -> tuple[str, tuple[str, ...], str]:
    import re

    import patsy

    match = re.fullmatch(r"\s*(.+?)\s*~\s*(.+?)\s*\+\s*\(\s*1\s*\|\s*(\w+)\s*\)\s*", text)
    if not match:
        raise ValueError(f"not a random-intercept formula 'y ~ x + (1 | cluster)': {text!r}")
    outcome, fixed, cluster = match.groups()
    desc = patsy.ModelDesc.from_formula(fixed)
    cols = []
    for term in desc.rhs_termlist:
        names = [f.name() for f in term.factors]
        if len(names) > 1:
            raise ValueError(f"interaction terms are not supported: {':'.join(names)}")
        cols.append(names[0] if names else "intercept")
    return outcome, tuple(cols), cluster


def design(df: pd.DataFrame, exposure: str, adjusted: bool, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Design matrix of :func:`formula` (intercept, exposure in scale points, then covariates)."""
    _, cols, _ = parse_formula(formula(exposure, adjusted, covariates))
    X = np.column_stack([np.ones(len(df)) if c == "intercept" else df[c].to_numpy(dtype=float) for c in cols])
    return X, list(cols)


def coefficients(df: pd.DataFrame, measures: list[str], adjusted: bool, spec: ModelSpec) -> pd.DataFrame:
    """Every coefficient of each measure's GLMM: measure, formula, term, log-odds coefficient,
    SE, OR with 95% Wald CI, P, clinic variance and log-likelihood (the fitted model in full)."""
    from .glmm import fit_glmm

    parts = []
    for m in measures:
        X, names = design(df, m, adjusted, spec.covariates)
        fit = fit_glmm(X, df["high_high"].to_numpy(float), df["clinic_id"].to_numpy(), names=names, nagq=spec.nagq)
        parts.append(fit.summary_frame().assign(measure=m, formula=formula(m, adjusted, spec.covariates)))
    out = pd.concat(parts, ignore_index=True)
    return out[["measure", "formula"] + [c for c in out.columns if c not in ("measure", "formula")]]


def check_exposure(df: pd.DataFrame, exposure: str) -> None:
    x = df[exposure].to_numpy(dtype=float)
    missing = np.isnan(x)
    if missing.any():
        raise ModelInputError(f"analysis table, column '{exposure}': missing for clinicians "
                              f"{df.loc[missing, 'clinician_id'].tolist()}")
    if len(x) == 0 or not np.any(x != x[0]):
        raise ModelInputError(f"analysis table, column '{exposure}': the culture score is the same for all "
                              f"{len(df)} clinicians, so its odds ratio cannot be estimated")


Z_975 = 1.959963984540054       # the standard normal's 97.5th percentile: scipy.special.ndtri(0.975), every bit (tested)


def _row(common: dict, beta, se, clinic_var=np.nan, loglik=np.nan, converged=True, note=""):
    """One row of the tidy model table: ``common`` (measure, model, adjusted, n, n_clinics,
    n_events) and the exposure's coefficient; blank where the fit is not usable."""
    from scipy.special import ndtr      # scipy where models are fitted (see the module docstring)

    z = Z_975
    blank = not converged or "separation" in note
    if blank:
        beta = se = np.nan
    return {"measure": common["measure"], "model": common["model"], "adjusted": common["adjusted"],
            "or": np.exp(beta), "ci_low": np.exp(beta - z * se), "ci_high": np.exp(beta + z * se),
            "p": 2 * ndtr(-abs(beta / se)) if np.isfinite(se) else np.nan,
            "beta": beta, "se": se, "clinic_var": clinic_var, "loglik": loglik, "n": common["n"],
            "n_clinics": common["n_clinics"], "n_events": common["n_events"], "converged": bool(converged),
            "note": note}


def fit_one(df: pd.DataFrame, exposure: str, model: str, adjusted: bool, spec: ModelSpec, *,
            outcome: str = "high_high", cluster: str = "clinic_id", separated: bool | None = None) -> dict:
    """Fit one registered estimator (:mod:`trustlib.stats.estimators`) for one exposure; returns a row
    of the tidy model table. ``separated`` may pass a separation check already made for the same
    data and design."""
    from .glmm import separation

    estimator = estimators.get(model)
    check_exposure(df, exposure)
    X, names = design(df, exposure, adjusted, spec.covariates)
    y = df[outcome].to_numpy(dtype=float)
    groups = df[cluster].to_numpy()
    common = dict(measure=exposure, model=model, adjusted=adjusted, n=len(df),
                  n_clinics=len(pd.unique(groups[pd.notna(groups)])), n_events=int(y.sum()))
    if separation(X, y) if separated is None else separated:
        return _row(common, np.nan, np.nan, converged=False,
                    note="separation: the outcome is (quasi-)perfectly predicted; no finite estimate")
    try:
        res = estimator.fit(X, y, groups, nagq=spec.nagq, names=names)
    except FitInputError as err:            # e.g. a covariate constant in this cohort: a row with the cause
        return _row(common, np.nan, np.nan, converged=False, note=f"no fit: {err}")
    col = 1                                # the exposure's column (after the intercept)
    notes, se = list(res.notes), res.bse[col]
    if not np.isfinite(se) and not notes:
        notes.append("standard error not finite")
    return _row(common, res.params[col], se, loglik=res.llf if estimator.likelihood else np.nan,
                clinic_var=res.clinic_var, converged=res.converged and np.isfinite(se), note="; ".join(notes))


def fit_table(df: pd.DataFrame, measures: list[str], spec: ModelSpec, adjusted, *,
              outcome: str = "high_high") -> pd.DataFrame:
    """Every (measure x ``spec.estimators`` x adjusted) fit as one tidy table (:data:`TABLE_COLUMNS`)."""
    rows = [fit_one(df, m, model, adj, spec, outcome=outcome)
            for m in measures for model in spec.estimators for adj in adjusted]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def primary_failures(table: pd.DataFrame) -> list[str]:
    """Messages for primary-model (adjusted GLMM) rows without a usable estimate."""
    prim = table[(table["model"] == "glmm") & table["adjusted"]]
    return [f"adjusted GLMM for '{r.measure}': {r.note or 'did not converge'}"
            for r in prim.itertuples() if not r.converged or not np.isfinite(r.beta)]


def format_p(p: float) -> str:
    """P value as papers print it: '<.001', else 3 decimals without the leading zero."""
    if not np.isfinite(p):
        return "--"
    return "<.001" if p < 0.001 else f"{p:.3f}".lstrip("0")


def format_or(r) -> str:
    if not np.isfinite(r["or"]):
        return "--"
    return f"{r['or']:.2f} ({r['ci_low']:.2f}-{r['ci_high']:.2f})"


def paper_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as in the paper: adjusted GLMM OR (95% CI) and P per culture measure."""
    prim = fits[(fits["model"] == "glmm") & fits["adjusted"]]
    return pd.DataFrame({"Perceived organizational culture": prim["measure"].map(lambda m: codebook.scale_label(m, False)),
                         "OR (95% CI)": prim.apply(format_or, axis=1), "P": prim["p"].map(format_p),
                         "Clinic variance": prim["clinic_var"].round(2), "Note": prim["note"]}).reset_index(drop=True)


def comparison_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Every estimator, adjusted and unadjusted: formatted OR (95% CI), P and notes."""
    return pd.DataFrame({"measure": fits["measure"].map(codebook.scale_label),
                         "model": fits["model"].map(estimators.label),
                         "adjusted": fits["adjusted"].map({True: "adjusted", False: "unadjusted"}),
                         "OR (95% CI)": fits.apply(format_or, axis=1), "P": fits["p"].map(format_p),
                         "note": fits["note"].fillna("")}).reset_index(drop=True)


def table_numbers(fits: pd.DataFrame, prefix: str) -> dict:
    """Flat numbers ``prefix.measure.model.adjusted|unadjusted.stat`` for numbers.json."""
    out = {}
    for r in fits.to_dict("records"):
        base = f"{prefix}.{r['measure']}.{r['model']}.{'adjusted' if r['adjusted'] else 'unadjusted'}"
        for stat in ("or", "ci_low", "ci_high", "p", "clinic_var"):
            if stat == "clinic_var" and estimators.get(r["model"]).target != "conditional":
                continue
            out[f"{base}.{stat}"] = r[stat]
    return out
