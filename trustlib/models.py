"""Outcome models: one model per culture measure, odds ratio per 1-point increase (1-4 scale).

Estimators (``model`` column):

* ``glmm``  two-level logistic regression, random clinic intercept, maximum likelihood with
  adaptive Gauss-Hermite quadrature (:mod:`trustlib.glmm`): the paper's model; a
  *conditional* (clinic-specific) odds ratio.
* ``gee``   statsmodels GEE, binomial, exchangeable correlation within clinic, robust SEs:
  a *marginal* (population-averaged) odds ratio. Scale and correlation use the moment
  estimators without degrees-of-freedom correction, as R ``geepack::geeglm`` does.
* ``logit_cluster``  ordinary logistic regression with clinic-clustered (sandwich) SEs, with
  Stata's small-sample factor ``G/(G-1) * (n-1)/(n-k)`` (R ``sandwich::vcovCL(type = "HC1")``):
  also a marginal odds ratio.
* ``gee_md``  the same GEE with the Mancl-DeRouen bias-reduced sandwich (statsmodels
  ``cov_type="bias_reduced"``), which corrects the robust SE's downward bias with few
  clusters; offered as an option and checked by the Monte Carlo study (notebook 07).

Every estimator shares one code path: each returns a statsmodels-style result (``params``, ``bse``,
``llf``) whose exposure coefficient becomes one row of the tidy table.

Adjusted models add age (years), female, internal medicine and advanced practice clinician.
Problems are never printed as numbers: a constant exposure raises :class:`ModelInputError`;
separation, non-convergence and a boundary clinic variance are written in ``note`` and, for
separation and non-convergence, the estimate is left blank.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.discrete.discrete_model import Logit
from statsmodels.genmod import cov_struct, families
from statsmodels.genmod.generalized_estimating_equations import GEE

from . import TrustlibError, codebook
from .cohort import COVARIATE_CODINGS, COVARIATES
from .glmm import fit_glmm, separation

ESTIMATORS = ("glmm", "gee", "logit_cluster")
OPTIONAL_ESTIMATORS = ("gee_md",)
TABLE_COLUMNS = ["measure", "model", "adjusted", "or", "ci_low", "ci_high", "p", "beta", "se",
                 "clinic_var", "loglik", "n", "n_clinics", "n_events", "converged", "note"]


class ModelInputError(TrustlibError):
    """The analysis table cannot support a model (message names the measure and reason)."""


def formula(exposure: str, adjusted: bool, outcome: str = "high_high", cluster: str = "clinic_id",
            covariates: list[str] | None = None) -> str:
    """The model in lme4's notation, e.g. ``high_high ~ quality + age + female + ... + (1 | clinic_id)``.

    :func:`design` builds the design matrix from this string, so what a notebook prints is what
    is fitted.
    """
    covariates = check_covariates(covariates)
    return f"{outcome} ~ {' + '.join([exposure] + (covariates if adjusted else []))} + (1 | {cluster})"


def check_covariates(covariates: list[str] | None) -> list[str]:
    """The adjustment set: :data:`trustlib.cohort.COVARIATES` by default, or a list of the
    analysis table's coded columns (:data:`trustlib.cohort.COVARIATE_CODINGS`)."""
    if covariates is None:
        return list(COVARIATES)
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


def design(df: pd.DataFrame, exposure: str, adjusted: bool,
           covariates: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Design matrix of :func:`formula` (intercept, exposure in scale points, then covariates)."""
    _, cols, _ = parse_formula(formula(exposure, adjusted, covariates=covariates))
    X = np.column_stack([np.ones(len(df)) if c == "intercept" else df[c].to_numpy(dtype=float) for c in cols])
    return X, list(cols)


def coefficients(df: pd.DataFrame, measures: list[str], adjusted: bool = True, nagq: int = 15,
                 covariates: list[str] | None = None) -> pd.DataFrame:
    """Every coefficient of each measure's GLMM: measure, formula, term, log-odds coefficient,
    SE, OR with 95% Wald CI, P, clinic variance and log-likelihood (the fitted model in full)."""
    parts = []
    for m in measures:
        X, names = design(df, m, adjusted, covariates)
        fit = fit_glmm(X, df["high_high"].to_numpy(float), df["clinic_id"].to_numpy(), names=names, nagq=nagq)
        parts.append(fit.summary_frame().assign(measure=m, formula=formula(m, adjusted, covariates=covariates)))
    out = pd.concat(parts, ignore_index=True)
    return out[["measure", "formula"] + [c for c in out.columns if c not in ("measure", "formula")]]


def check_exposure(df: pd.DataFrame, exposure: str) -> None:
    x = df[exposure]
    if x.isna().any():
        raise ModelInputError(f"analysis table, column '{exposure}': missing for clinicians "
                              f"{df.loc[x.isna(), 'clinician_id'].tolist()}")
    if x.nunique() < 2:
        raise ModelInputError(f"analysis table, column '{exposure}': the culture score is constant "
                              f"({x.iloc[0]:.2f}) across all {len(df)} clinicians, so its odds ratio "
                              "cannot be estimated")


def _row(measure, model, adjusted, beta, se, n, n_clinics, n_events, clinic_var=np.nan,
         loglik=np.nan, converged=True, note=""):
    z = stats.norm.ppf(0.975)
    blank = not converged or "separation" in note
    if blank:
        beta = se = np.nan
    return {"measure": measure, "model": model, "adjusted": adjusted,
            "or": np.exp(beta), "ci_low": np.exp(beta - z * se), "ci_high": np.exp(beta + z * se),
            "p": 2 * stats.norm.sf(abs(beta / se)) if np.isfinite(se) else np.nan,
            "beta": beta, "se": se, "clinic_var": clinic_var, "loglik": loglik, "n": n,
            "n_clinics": n_clinics, "n_events": n_events, "converged": bool(converged), "note": note}


def fit_one(df: pd.DataFrame, exposure: str, model: str, adjusted: bool, outcome: str = "high_high",
            cluster: str = "clinic_id", nagq: int = 15, separated: bool | None = None,
            covariates: list[str] | None = None) -> dict:
    """Fit one estimator for one exposure; returns a row of the tidy model table.

    ``separated`` may pass a separation check already made for the same data and design.
    """
    check_exposure(df, exposure)
    X, names = design(df, exposure, adjusted, covariates)
    y = df[outcome].to_numpy(dtype=float)
    groups = df[cluster].to_numpy()
    common = dict(measure=exposure, model=model, adjusted=adjusted, n=len(df),
                  n_clinics=int(pd.Series(groups).nunique()), n_events=int(y.sum()))
    if separation(X, y) if separated is None else separated:
        return _row(beta=np.nan, se=np.nan, converged=False,
                    note="separation: the outcome is (quasi-)perfectly predicted; no finite estimate", **common)
    k = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _fit(model, X, y, groups, names, nagq)
    if model == "glmm":
        converged, notes, clinic_var = res.converged, list(res.notes), res.clinic_var
    else:
        retvals = getattr(res, "mle_retvals", None) or {}
        converged = bool(getattr(res, "converged", retvals.get("converged", True)))
        notes = [str(w.message).splitlines()[0] for w in caught if "converge" in str(w.message).lower()]
        converged, clinic_var = converged and not notes, np.nan
    se = res.bse[k]
    if not np.isfinite(se) and not notes:
        notes.append("standard error not finite")
    loglik = res.llf if model in ("glmm", "logit_cluster") else np.nan      # GEE has no likelihood
    return _row(beta=res.params[k], se=se, loglik=loglik, clinic_var=clinic_var,
                converged=converged and np.isfinite(se), note="; ".join(notes), **common)


_LAST_LOGIT: dict = {}


def _data_key(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple:
    """The data of a fit, exactly (bytes, not a hash): a kept fit is reused only for these data."""
    return X.tobytes(), X.shape, y.tobytes(), pd.factorize(groups)[0].tobytes()


def _logit(X: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """Logistic regression of ``y`` on ``X`` with cluster-robust SEs (the clustered logistic
    estimator). The last fit is kept: GEE starts from its coefficients."""
    key = _data_key(X, y, groups)
    if key not in _LAST_LOGIT:
        _LAST_LOGIT.clear()
        _LAST_LOGIT[key] = Logit(y, X).fit(disp=0, cov_type="cluster",
                                           cov_kwds={"groups": pd.factorize(groups)[0]}, maxiter=100)
    return _LAST_LOGIT[key]


class Exchangeable(cov_struct.Exchangeable):
    """statsmodels' exchangeable working correlation, with its moment estimator computed for all
    clusters at once instead of one cluster at a time (GEE calls it every iteration; a fit is
    about a fifth faster). The same moment estimator as the parent, summed in a different order:
    the tests check the fits equal to 1e-12. Unweighted data only (weighted data use the parent's
    method)."""

    def initialize(self, model):
        super().initialize(model)
        sizes = np.array([len(e) for e in model.endog_li], dtype=float)
        self._starts = np.r_[0, np.cumsum(sizes)[:-1]].astype(int)
        self._pairs = 0.5 * sizes * (sizes - 1)
        self._endog = np.concatenate(model.endog_li)

    def update(self, params):
        m = self.model
        if m.weights is not None:
            return super().update(params)
        expval = np.concatenate([mean for mean, _ in m.cached_means])
        resid = (self._endog - expval) / np.sqrt(m.family.variance(expval))
        ssr = np.add.reduceat(resid * resid, self._starts)
        total = np.add.reduceat(resid, self._starts)
        nobs, ddof, n_pairs = m.nobs, m.ddof_scale, self._pairs.sum()
        scale = ssr.sum() / (len(self._endog) * (nobs - ddof) / float(nobs))
        self.dep_params = (((total ** 2 - ssr) / 2).sum() / scale) / (n_pairs * (n_pairs - ddof) / float(n_pairs))


_LAST_GEE: dict = {}


def forget_fits() -> None:
    """Drop the kept logistic and GEE fits (:func:`_logit`, :func:`_gee`), e.g. before timing one."""
    _LAST_LOGIT.clear()
    _LAST_GEE.clear()


def _gee(X: np.ndarray, y: np.ndarray, groups: np.ndarray, bias_reduced: bool):
    """GEE (exchangeable) with the robust or the Mancl-DeRouen bias-reduced sandwich. The two
    share one fit: a fit made for the bias-reduced sandwich also carries the robust one, so the
    last fit is kept (with its warnings, replayed for the caller) and serves both."""
    key = _data_key(X, y, groups)
    hit = _LAST_GEE.get(key)
    if hit is None or (bias_reduced and not hit[0]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = GEE(y, X, groups=groups, family=families.Binomial(), cov_struct=Exchangeable()).fit(
                maxiter=100, start_params=_logit(X, y, groups).params,   # fewer GEE iterations
                ddof_scale=0,                                            # moment estimators as R geepack
                cov_type="bias_reduced" if bias_reduced else "robust")
        _LAST_GEE.clear()
        _LAST_GEE[key] = hit = (bias_reduced, res, list(caught))
    for w in hit[2]:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    res = hit[1]
    if hit[0] and not bias_reduced:                  # the robust sandwich of a bias-reduced fit
        return SimpleNamespace(params=res.params, bse=np.sqrt(np.diag(res.cov_robust)), converged=res.converged)
    return res


def _fit(model: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list[str], nagq: int):
    """One estimator's statsmodels-style result (``params``, ``bse``, ``llf`` where defined)."""
    if model == "glmm":
        return fit_glmm(X, y, groups, names=names, nagq=nagq, separated=False)
    if model in ("gee", "gee_md"):
        return _gee(X, y, groups, bias_reduced=model == "gee_md")
    if model == "logit_cluster":
        return _logit(X, y, groups)
    raise ValueError(f"unknown model {model!r}; choose from {ESTIMATORS + OPTIONAL_ESTIMATORS}")


def fit_table(df: pd.DataFrame, measures: list[str] | None = None, models=ESTIMATORS,
              adjusted=(True, False), nagq: int = 15, outcome: str = "high_high",
              covariates: list[str] | None = None) -> pd.DataFrame:
    """Every (measure x model x adjusted) fit as one tidy table (:data:`TABLE_COLUMNS`)."""
    measures = measures or codebook.scales_with_role("exposure")
    rows = [fit_one(df, m, model, adj, outcome=outcome, nagq=nagq, covariates=covariates)
            for m in measures for model in models for adj in adjusted]
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


MODEL_LABELS = {"glmm": "two-level logistic (GLMM)", "gee": "GEE, exchangeable", "logit_cluster": "logistic, clustered SE",
                "gee_md": "GEE, exchangeable, bias-reduced SE"}


def comparison_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Every estimator, adjusted and unadjusted: formatted OR (95% CI), P and notes."""
    return pd.DataFrame({"measure": fits["measure"].map(codebook.scale_label),
                         "model": fits["model"].map(MODEL_LABELS),
                         "adjusted": fits["adjusted"].map({True: "adjusted", False: "unadjusted"}),
                         "OR (95% CI)": fits.apply(format_or, axis=1), "P": fits["p"].map(format_p),
                         "note": fits["note"].fillna("")}).reset_index(drop=True)


def table_numbers(fits: pd.DataFrame, prefix: str) -> dict:
    """Flat numbers ``prefix.measure.model.adjusted|unadjusted.stat`` for numbers.json."""
    out = {}
    for r in fits.to_dict("records"):
        base = f"{prefix}.{r['measure']}.{r['model']}.{'adjusted' if r['adjusted'] else 'unadjusted'}"
        for stat in ("or", "ci_low", "ci_high", "p", "clinic_var"):
            if stat == "clinic_var" and r["model"] != "glmm":
                continue
            out[f"{base}.{stat}"] = r[stat]
    return out
